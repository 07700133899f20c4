//! `[[probe]]` targets and their options.

use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use crate::config::options::{DiscoverUrl, ProbeOptions};
use crate::config::raw::{self, RawConfig};
use crate::config::{Origin, ProbeTarget, TargetCommon};

use super::ctx::*;
use super::values::*;

pub(super) fn probe_targets(ctx: &mut Ctx<'_>, raw: &RawConfig) -> Vec<ProbeTarget> {
    let names = ctx.names("probe", raw.probe.iter().map(|e| &e.get_ref().name));
    let mut targets = Vec::new();
    for (i, (entry, name)) in raw.probe.iter().zip(names).enumerate() {
        targets.extend(probe_entry(ctx, i, entry.get_ref(), name));
    }
    targets
}

pub(super) fn probe_entry(
    ctx: &mut Ctx<'_>,
    i: usize,
    raw: &raw::RawProbe,
    name: Option<String>,
) -> Option<ProbeTarget> {
    let key = format!("probe[{i}]");
    let timing = ctx.timing(
        &key,
        raw.interval.as_ref(),
        raw.timeout.as_ref(),
        (raw::default_probe_interval(), raw::default_probe_timeout()),
    );
    let url_key = format!("{key}.url");
    let url = ctx
        .interpolate(&raw.url, &url_key)
        .and_then(|url| match check_probe_url(&url) {
            Ok(()) => Some(url.trim().to_string()),
            Err(message) => {
                ctx.error(raw.url.span(), &url_key, message);
                None
            }
        });
    let options = probe_options(ctx, &key, raw, timing.map(|(_, t)| t));
    let (interval, timeout) = timing?;
    let url = url?;
    let options = options?;
    if url.starts_with("tcp:") && options_need_http(raw) {
        ctx.error(
            raw.url.span(),
            &url_key,
            "a tcp probe takes no http options (method, expect_status, body_*, json_*, headers, body, redirects, tls, cache_bust, discover_url)",
        );
        return None;
    }
    Some(ProbeTarget {
        common: TargetCommon {
            name: name?,
            interval,
            timeout,
            origin: Origin::Written,
        },
        url,
        options,
    })
}

/// Whether `raw` sets a key that only an http(s) probe uses.
pub(super) fn options_need_http(raw: &raw::RawProbe) -> bool {
    raw.method.is_some()
        || raw.expect_status.is_some()
        || raw.body_contains.is_some()
        || raw.body_regex.is_some()
        || raw.json_pointer.is_some()
        || raw.json_equals.is_some()
        || !raw.headers.is_empty()
        || raw.body.is_some()
        || raw.follow_redirects.is_some()
        || raw.max_redirects.is_some()
        || raw.ca_file.is_some()
        || raw.insecure_skip_verify.is_some()
        || raw.max_body_bytes.is_some()
        || raw.cache_bust.is_some()
        || raw.discover_url.is_some()
}

/// The options of `[[probe]]` number `key`; `None` (errors reported) when any is invalid.
/// `timeout` is the probe's timeout when valid, to check `degraded_after` against.
pub(super) fn probe_options(
    ctx: &mut Ctx<'_>,
    key: &str,
    raw: &raw::RawProbe,
    timeout: Option<Duration>,
) -> Option<ProbeOptions> {
    let mut options = ProbeOptions::default();
    let mut ok = true;
    if let Some(v) = &raw.degraded_after {
        let k = format!("{key}.degraded_after");
        match ctx.duration(v, &k) {
            Some(d) if d.is_zero() => {
                ctx.error(v.span(), &k, "degraded_after must be greater than zero");
                ok = false;
            }
            Some(d) if timeout.is_some_and(|t| d >= t) => {
                ctx.error(
                    v.span(),
                    &k,
                    format!(
                        "degraded_after ({}) must be shorter than timeout ({})",
                        show(d),
                        show(timeout.unwrap_or_default())
                    ),
                );
                ok = false;
            }
            Some(d) => options.degraded_after = Some(d),
            None => ok = false,
        }
    }
    if let Some(v) = &raw.method {
        let k = format!("{key}.method");
        match ctx.interpolate(v, &k) {
            Some(text) => {
                let upper = text.trim().to_ascii_uppercase();
                let token = !upper.is_empty() && upper.chars().all(|c| c.is_ascii_uppercase());
                match http::Method::from_bytes(upper.as_bytes()) {
                    Ok(method) if token => options.method = method,
                    _ => {
                        ctx.error(
                            v.span(),
                            &k,
                            format!(
                                "invalid method {text:?}: expected a word like \"GET\" or \"HEAD\""
                            ),
                        );
                        ok = false;
                    }
                }
            }
            None => ok = false,
        }
    }
    if let Some(list) = &raw.expect_status {
        let k = format!("{key}.expect_status");
        if list.get_ref().is_empty() {
            ctx.error(
                list.span(),
                &k,
                "expect_status must not be empty (leave it out for any 2xx)",
            );
            ok = false;
        }
        for code in list.get_ref() {
            match u16::try_from(*code.get_ref()) {
                Ok(c) if (100..=599).contains(&c) => options.expect_status.push(c),
                _ => {
                    ctx.error(
                        code.span(),
                        &k,
                        format!(
                            "invalid status code {}: expected 100 to 599",
                            code.get_ref()
                        ),
                    );
                    ok = false;
                }
            }
        }
    }
    let mut text = |ctx: &mut Ctx<'_>, v: &Option<Spanned<String>>, name: &str| -> Option<String> {
        let v = v.as_ref()?;
        let value = ctx.interpolate(v, &format!("{key}.{name}"));
        if value.is_none() {
            ok = false;
        }
        value
    };
    options.body_contains = text(ctx, &raw.body_contains, "body_contains");
    let body_regex = text(ctx, &raw.body_regex, "body_regex");
    options.json_pointer = text(ctx, &raw.json_pointer, "json_pointer");
    options.json_equals = text(ctx, &raw.json_equals, "json_equals");
    options.body = text(ctx, &raw.body, "body");
    let ca_file = text(ctx, &raw.ca_file, "ca_file");
    if let (Some(pattern), Some(v)) = (body_regex, &raw.body_regex) {
        match regex::Regex::new(&pattern) {
            Ok(regex) => options.body_regex = Some(regex),
            Err(error) => {
                let reason = match error {
                    regex::Error::Syntax(s) => {
                        let last = s.lines().last().unwrap_or("").trim();
                        last.strip_prefix("error: ").unwrap_or(last).to_string()
                    }
                    other => other.to_string(),
                };
                ctx.error(
                    v.span(),
                    &format!("{key}.body_regex"),
                    format!("invalid regular expression: {reason}"),
                );
                ok = false;
            }
        }
    }
    if let (Some(pointer), Some(v)) = (&options.json_pointer, &raw.json_pointer) {
        if !pointer.is_empty() && !pointer.starts_with('/') {
            ctx.error(
                v.span(),
                &format!("{key}.json_pointer"),
                format!("invalid json pointer {pointer:?}: it starts with \"/\", like \"/status\""),
            );
            ok = false;
        }
    }
    if let (Some(v), None) = (&raw.json_equals, &raw.json_pointer) {
        ctx.error(
            v.span(),
            &format!("{key}.json_equals"),
            "json_equals needs json_pointer",
        );
        ok = false;
    }
    match request_headers(ctx, &raw.headers, &format!("{key}.headers")) {
        Some(headers) => options.headers = headers,
        None => ok = false,
    }
    if let Some(follow) = raw.follow_redirects {
        options.follow_redirects = follow;
    }
    if let Some(v) = &raw.max_redirects {
        match u32::try_from(*v.get_ref()) {
            Ok(n) if n <= 100 => options.max_redirects = n,
            _ => {
                ctx.error(
                    v.span(),
                    &format!("{key}.max_redirects"),
                    format!("invalid max_redirects {}: expected 0 to 100", v.get_ref()),
                );
                ok = false;
            }
        }
    }
    if let Some(v) = &raw.max_body_bytes {
        match usize::try_from(*v.get_ref()) {
            Ok(n) if n > 0 => options.max_body_bytes = n,
            _ => {
                ctx.error(
                    v.span(),
                    &format!("{key}.max_body_bytes"),
                    format!(
                        "invalid max_body_bytes {}: expected a positive number",
                        v.get_ref()
                    ),
                );
                ok = false;
            }
        }
    }
    if let (Some(path), Some(v)) = (ca_file, &raw.ca_file) {
        let path = PathBuf::from(path.trim());
        let path = match ctx.input.path.and_then(Path::parent) {
            Some(dir) if path.is_relative() => dir.join(path),
            _ => path,
        };
        let k = format!("{key}.ca_file");
        match (ctx.input.read_file)(&path) {
            Ok(pem) if pem.contains("-----BEGIN CERTIFICATE-----") => {
                options.ca_file = Some(path);
            }
            Ok(_) => {
                ctx.error(
                    v.span(),
                    &k,
                    format!("{} holds no PEM certificate", path.display()),
                );
                ok = false;
            }
            Err(e) => {
                ctx.error(v.span(), &k, format!("cannot read {}: {e}", path.display()));
                ok = false;
            }
        }
    }
    if let Some(insecure) = raw.insecure_skip_verify {
        options.insecure_skip_verify = insecure;
    }
    if let Some(bust) = raw.cache_bust {
        options.cache_bust = bust;
    }
    if let Some(v) = &raw.discover_url {
        match discover_url(ctx, &format!("{key}.discover_url"), v.get_ref()) {
            Some(discover) => options.discover_url = Some(discover),
            None => ok = false,
        }
    }
    ok.then_some(options)
}

/// A probe's `discover_url` table; `None` (errors reported) when a value is invalid.
fn discover_url(ctx: &mut Ctx<'_>, key: &str, raw: &raw::RawDiscoverUrl) -> Option<DiscoverUrl> {
    let from_key = format!("{key}.from");
    let from = ctx.interpolate(&raw.from, &from_key).and_then(|from| {
        let from = from.trim().to_string();
        let absolute = url::Url::parse(&from)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https") && u.password().is_none());
        if from.starts_with('/') || absolute {
            Some(from)
        } else {
            ctx.error(
                raw.from.span(),
                &from_key,
                format!(
                    "invalid from {from:?}: a path like \"/api/v2/instance\" or an http(s) URL"
                ),
            );
            None
        }
    });
    let pointer_key = format!("{key}.pointer");
    let pointer = ctx.interpolate(&raw.pointer, &pointer_key).and_then(|p| {
        if p.starts_with('/') {
            Some(p)
        } else {
            ctx.error(
                raw.pointer.span(),
                &pointer_key,
                format!(
                    "invalid json pointer {p:?}: it starts with \"/\", like \"/thumbnail/url\""
                ),
            );
            None
        }
    });
    let every = match &raw.every {
        None => Some(raw::default_discover_every()),
        Some(v) => {
            let every_key = format!("{key}.every");
            match ctx.duration(v, &every_key) {
                Some(d) if d.is_zero() => {
                    ctx.error(v.span(), &every_key, "every must be greater than zero");
                    None
                }
                other => other,
            }
        }
    };
    Some(DiscoverUrl {
        from: from?,
        pointer: pointer?,
        every: every?,
    })
}
