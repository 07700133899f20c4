//! `[mastodon]`, the Mastodon env file it names, and the merge of the targets the env
//! file derives with the config entries of the same name.

use std::ops::Range;
use std::path::{Path, PathBuf};

use toml::Spanned;

use crate::config::mastodon_env::{self, Derived, DerivedTarget, EnvFileError};
use crate::config::preset::PRESET_NAMES;
use crate::config::raw::{self, RawMastodon};
use crate::config::{MastodonConfig, Origin, TargetCommon};
use crate::secret::Secret;

use super::ctx::*;
use super::values::*;

/// `[mastodon]`, and what the env file (from `--mastodon-env` or `mastodon.env_file`)
/// derives.
pub(super) fn mastodon(ctx: &mut Ctx<'_>, raw: &RawMastodon) -> (MastodonConfig, Derived) {
    let mut config = MastodonConfig::default();
    let derived = match env_file_path(ctx, raw) {
        Some((path, span)) => {
            let derived = read_env_file(ctx, &path, span);
            config.env_file = Some(path);
            derived
        }
        None => Derived::default(),
    };

    config.local_domain = mastodon_value(
        ctx,
        raw.domain.as_ref(),
        "mastodon.domain",
        derived.local_domain.as_ref(),
        check_domain,
    );
    config.web_domain = mastodon_value(
        ctx,
        raw.web_domain.as_ref(),
        "mastodon.web_domain",
        derived.web_domain.as_ref(),
        check_domain,
    );
    config.streaming_base_url = mastodon_value(
        ctx,
        raw.streaming_base_url.as_ref(),
        "mastodon.streaming_base_url",
        derived.streaming_base_url.as_ref(),
        check_streaming_url,
    );
    if let Some(v) = &raw.api_token {
        if let Some(token) = ctx.interpolate(v, "mastodon.api_token") {
            let secret = Secret::registered(token.trim().to_string());
            if secret.expose().is_empty() {
                ctx.error(
                    v.span(),
                    "mastodon.api_token",
                    "api_token must not be empty",
                );
            } else if !secret.expose().chars().all(|c| c.is_ascii_graphic()) {
                ctx.error(
                    v.span(),
                    "mastodon.api_token",
                    "api_token must be printable ascii without spaces",
                );
            } else {
                config.api_token = Some(secret);
            }
        }
    }
    if let Some(v) = &raw.media_canary_url {
        if let Some(url) = ctx.interpolate(v, "mastodon.media_canary_url") {
            match public_url(&url, &["http", "https"]) {
                Ok(_) => config.media_canary_url = Some(url.trim().to_string()),
                Err(message) => ctx.error(v.span(), "mastodon.media_canary_url", message),
            }
        }
    }
    if let Some(v) = &raw.connect_to {
        if let Some(addr) = ctx.socket_addr(v, "mastodon.connect_to") {
            config.connect_to = Some(addr);
        }
    }
    if let Some(v) = &raw.ca_file {
        if let Some(path) = ctx.interpolate(v, "mastodon.ca_file") {
            if path.trim().is_empty() {
                ctx.error(v.span(), "mastodon.ca_file", "ca_file must not be empty");
            } else {
                // Relative to the config file's directory, like the other files it names.
                let path = PathBuf::from(path.trim());
                config.ca_file = Some(match ctx.input.path.and_then(Path::parent) {
                    Some(dir) if path.is_relative() => dir.join(path),
                    _ => path,
                });
            }
        }
    }
    preset_timing(ctx, raw, &mut config);
    for (i, v) in raw.disable_probes.iter().enumerate() {
        let k = format!("mastodon.disable_probes[{i}]");
        if let Some(name) = ctx.interpolate(v, &k) {
            if PRESET_NAMES.contains(&name.as_str()) {
                config.disable_probes.push(name);
            } else {
                ctx.error(
                    v.span(),
                    &k,
                    format!(
                        "unknown preset probe {name:?}: expected one of {}",
                        PRESET_NAMES.join(", ")
                    ),
                );
            }
        }
    }
    (config, derived)
}

/// `[mastodon] probe_interval` and `probe_timeout`: the interval at least 1s, the timeout
/// more than 0 and shorter than the interval.
pub(super) fn preset_timing(ctx: &mut Ctx<'_>, raw: &RawMastodon, config: &mut MastodonConfig) {
    let interval = raw
        .probe_interval
        .as_ref()
        .map(|v| (v, ctx.duration(v, "mastodon.probe_interval")));
    let timeout = raw
        .probe_timeout
        .as_ref()
        .map(|v| (v, ctx.duration(v, "mastodon.probe_timeout")));
    let (i, t) = match (interval, timeout) {
        (Some((_, None)), _) | (_, Some((_, None))) => return,
        (i, t) => (
            i.and_then(|(v, d)| Some((v, d?))),
            t.and_then(|(v, d)| Some((v, d?))),
        ),
    };
    let interval = i.map_or(config.probe_interval, |(_, d)| d);
    let timeout = t.map_or(config.probe_timeout, |(_, d)| d);
    if let Some((v, _)) = i.filter(|_| interval < MIN_INTERVAL) {
        ctx.error(
            v.span(),
            "mastodon.probe_interval",
            format!("probe_interval ({}) must be at least 1s", show(interval)),
        );
        return;
    }
    if let Some((v, _)) = t.filter(|_| timeout.is_zero()) {
        ctx.error(
            v.span(),
            "mastodon.probe_timeout",
            "probe_timeout must be greater than zero",
        );
        return;
    }
    if timeout >= interval {
        let (span, key) = match (t, i) {
            (Some((v, _)), _) => (v.span(), "mastodon.probe_timeout"),
            (None, Some((v, _))) => (v.span(), "mastodon.probe_interval"),
            (None, None) => return,
        };
        ctx.error(
            span,
            key,
            format!(
                "probe_timeout ({}) must be shorter than probe_interval ({})",
                show(timeout),
                show(interval)
            ),
        );
        return;
    }
    config.probe_interval = interval;
    config.probe_timeout = timeout;
}

/// The env file to read: `--mastodon-env` as given, or `mastodon.env_file` relative to the
/// config file's directory (with the span of the key, for errors).
pub(super) fn env_file_path(
    ctx: &mut Ctx<'_>,
    raw: &RawMastodon,
) -> Option<(PathBuf, Option<Range<usize>>)> {
    if let Some(path) = ctx.input.mastodon_env {
        return Some((path.to_path_buf(), None));
    }
    let value = raw.env_file.as_ref()?;
    let text = ctx.interpolate(value, "mastodon.env_file")?;
    if text.trim().is_empty() {
        ctx.error(
            value.span(),
            "mastodon.env_file",
            "env_file must not be empty",
        );
        return None;
    }
    let path = PathBuf::from(text);
    let path = match ctx.input.path.and_then(Path::parent) {
        Some(dir) if path.is_relative() => dir.join(path),
        _ => path,
    };
    Some((path, Some(value.span())))
}

pub(super) fn read_env_file(ctx: &mut Ctx<'_>, path: &Path, span: Option<Range<usize>>) -> Derived {
    let text = match (ctx.input.read_file)(path) {
        Ok(text) => text,
        Err(e) => {
            let message = format!("cannot read mastodon env file {}: {e}", path.display());
            match span {
                Some(span) => ctx.error(span, "mastodon.env_file", message),
                None => ctx.file_error(path, format!("cannot read mastodon env file: {e}")),
            }
            return Derived::default();
        }
    };
    ctx.env_file = Some(path.to_path_buf());
    match mastodon_env::parse(&text) {
        Ok(file) => mastodon_env::derive(&file),
        Err(errors) => {
            for error in &errors {
                ctx.env_error(error);
            }
            Derived::default()
        }
    }
}

/// A `[mastodon]` value: the config's key wins over the env file's variable.
pub(super) fn mastodon_value(
    ctx: &mut Ctx<'_>,
    configured: Option<&Spanned<String>>,
    key: &str,
    derived: Option<&mastodon_env::EnvValue>,
    check: fn(&str) -> Result<(), String>,
) -> Option<String> {
    if let Some(v) = configured {
        let text = ctx.interpolate(v, key)?;
        return match check(&text) {
            Ok(()) => Some(text),
            Err(message) => {
                ctx.error(v.span(), key, message);
                None
            }
        };
    }
    let d = derived?;
    match check(&d.value) {
        Ok(()) => Some(d.value.clone()),
        Err(message) => {
            ctx.env_error(&EnvFileError {
                line: d.origin.line,
                column: d.origin.column,
                key: Some(d.origin.key.clone()),
                message,
            });
            None
        }
    }
}

/// Which config entry (by index) and which derived target make up each resulting target:
/// derived targets first, in derivation order, each merged with the config entry of the
/// same name if there is one; then the other config entries in file order.
pub(super) fn merge_plan<'d>(
    names: &[Option<String>],
    derived: &'d [DerivedTarget],
) -> Vec<(Option<usize>, Option<&'d DerivedTarget>)> {
    let mut plan = Vec::new();
    let mut used = vec![false; names.len()];
    for d in derived {
        let entry = names.iter().position(|n| n.as_deref() == Some(&d.name));
        if let Some(i) = entry {
            used[i] = true;
        }
        plan.push((entry, Some(d)));
    }
    for (i, used) in used.into_iter().enumerate() {
        if !used {
            plan.push((Some(i), None));
        }
    }
    plan
}

pub(super) fn derived_common(d: &DerivedTarget) -> TargetCommon {
    TargetCommon {
        name: d.name.clone(),
        interval: raw::default_interval(),
        timeout: raw::default_timeout(),
        origin: Origin::EnvFile,
    }
}
