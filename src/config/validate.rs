//! `RawConfig` → [`Config`]: interpolation, defaults, checks, and the merge with the targets
//! derived from a Mastodon env file.
//!
//! Every problem is collected (nothing stops at the first) as a [`ConfigError`] with
//! `file:line:col`, the key path (`postgres[0].timeout`) and a message. The only I/O is
//! reading the Mastodon env file, through the `read_file` function the caller passes in.
//!
//! Secrets: a value that lands in a secret field (store, PostgreSQL, PgBouncer and Redis
//! URLs, Discord webhooks, OTLP header values) is wrapped in [`SecretUrl`]/[`Secret`] as soon
//! as it is interpolated, which registers it with the redactor; when such a value is
//! invalid it is registered as a whole. Messages about secret fields never quote the value,
//! nor any part of it.

mod sli;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use toml::Spanned;

use super::env::{self, Source};
use super::error::{ConfigError, ConfigErrors, Position};
use super::mastodon_env::{self, Derived, DerivedTarget, EnvFileError};
use super::raw::{self, RawConfig, RawMastodon, RawOtlp, RawSite, RawStore};
use super::secret::{self, Secret, SecretUrl};
use crate::collect::pgbouncer::PgbouncerOptions;

use super::{
    Config, DiscordChannel, MastodonConfig, OtlpConfig, OtlpProtocol, PgbouncerTarget,
    PostgresTarget, ProbeTarget, RedisTarget, SiteConfig, StoreConfig, TargetCommon,
};
use crate::collect::postgres::PostgresOptions;
use crate::collect::probe::ProbeOptions;
use crate::collect::probe::preset::PRESET_NAMES;
use crate::collect::redis::RedisOptions;

/// What validation needs besides the TOML text.
pub struct Input<'a> {
    /// The config file, for messages and to resolve a relative `mastodon.env_file`; `None`
    /// when there is no config file.
    pub path: Option<&'a Path>,
    /// The config file's text (empty without a file).
    pub text: &'a str,
    /// Values for `${VAR}`.
    pub env: &'a dyn Source,
    /// `--mastodon-env`: replaces `mastodon.env_file`.
    pub mastodon_env: Option<&'a Path>,
    /// Reads the Mastodon env file (`std::fs::read_to_string` outside tests).
    pub read_file: &'a dyn Fn(&Path) -> std::io::Result<String>,
}

/// Parses and validates `input.text`; every error, or the config.
pub fn load(input: &Input<'_>) -> Result<Config, ConfigErrors> {
    let parsed = raw::from_toml(input.text);
    let mut ctx = Ctx::new(input);
    for error in &parsed.errors {
        let span = error.span.clone().unwrap_or(0..0);
        ctx.push_config_error(span, error.key.clone(), error.message.clone());
    }
    let structural = ctx.errors.len();
    let config = parsed.raw.as_ref().map(|raw| validate(raw, &mut ctx));

    // A key that serde rejected was set aside (raw.rs), and checks of the keys that depend
    // on it may have used a default in its place: drop those errors rather than confuse.
    let mut semantic = ctx.errors.split_off(structural);
    semantic.retain(|e| {
        !parsed
            .errors
            .iter()
            .any(|s| shadowed_by(e.error.key.as_deref(), s))
    });
    ctx.errors.extend(semantic);

    match config {
        Some(config) if ctx.errors.is_empty() => Ok(config),
        _ => {
            let mut errors = ctx.errors;
            errors.sort_by_key(|e| e.rank);
            Err(ConfigErrors::new(
                errors.into_iter().map(|e| e.error).collect(),
            ))
        }
    }
}

/// Whether a validation error about `key` may be a consequence of the structural error
/// `structural` (whose key was set aside): an error about the same key or about its table
/// as a whole; a timing error next to a bad `interval`/`timeout` or next to an unknown key
/// (perhaps a misspelt `interval`); `metrics_listen` compared with a bad `listen`.
fn shadowed_by(key: Option<&str>, structural: &raw::TomlError) -> bool {
    let (Some(key), Some(bad)) = (key, structural.key.as_deref()) else {
        return false;
    };
    if key == bad || (bad == "listen" && key == "metrics_listen") {
        return true;
    }
    let Some((table, field)) = bad.rsplit_once('.') else {
        return false;
    };
    let unknown = structural.message.starts_with("unknown field");
    let timing = |k: &str| k == format!("{table}.interval") || k == format!("{table}.timeout");
    key == table || (timing(key) && (unknown || field == "interval" || field == "timeout"))
}

struct Ranked {
    /// (0: the config file, 1: the env file; line; column) for sorting.
    rank: (u8, usize, usize),
    error: ConfigError,
}

struct Ctx<'a> {
    input: &'a Input<'a>,
    /// The Mastodon env file, once known, for the position of its errors.
    env_file: Option<PathBuf>,
    errors: Vec<Ranked>,
}

impl<'a> Ctx<'a> {
    fn new(input: &'a Input<'a>) -> Self {
        Ctx {
            input,
            env_file: None,
            errors: Vec::new(),
        }
    }

    fn push_config_error(&mut self, span: Range<usize>, key: Option<String>, message: String) {
        let error = ConfigError::at(self.input.path, self.input.text, span, key, message);
        let p = error.position.unwrap_or(Position { line: 0, column: 0 });
        self.errors.push(Ranked {
            rank: (0, p.line, p.column),
            error,
        });
    }

    /// An error at a span of the config file.
    fn error(&mut self, span: Range<usize>, key: &str, message: impl Into<String>) {
        self.push_config_error(span, Some(key.to_string()), message.into());
    }

    /// An error in the Mastodon env file.
    fn env_error(&mut self, error: &EnvFileError) {
        let position = (error.line > 0).then_some(Position {
            line: error.line,
            column: error.column,
        });
        self.errors.push(Ranked {
            rank: (1, error.line, error.column),
            error: ConfigError {
                file: self.env_file.clone(),
                position,
                key: error.key.clone(),
                message: error.message.clone(),
            },
        });
    }

    /// An error about a whole file.
    fn file_error(&mut self, path: &Path, message: String) {
        self.errors.push(Ranked {
            rank: (0, 0, 0),
            error: ConfigError::file(path, message),
        });
    }

    /// `value` with `${VAR}` replaced; `None` (errors reported) when a variable is missing.
    fn interpolate(&mut self, value: &Spanned<String>, key: &str) -> Option<String> {
        match env::interpolate(value.get_ref(), self.input.env) {
            Ok(done) => Some(done.value),
            Err(errors) => {
                for error in errors {
                    let span = self.offset_in_source(value, error.offset);
                    self.error(span, key, error.to_string());
                }
                None
            }
        }
    }

    /// The source span of byte `offset` of a decoded string value: exact when the value
    /// appears verbatim between its quotes, else the start of the value.
    fn offset_in_source(&self, value: &Spanned<String>, offset: usize) -> Range<usize> {
        let span = value.span();
        let source = self.input.text.get(span.clone()).unwrap_or("");
        match source.find(value.get_ref().as_str()) {
            Some(i) if !value.get_ref().is_empty() => {
                let start = span.start + i + offset;
                start..start + 1
            }
            _ => span,
        }
    }

    fn duration(&mut self, value: &Spanned<String>, key: &str) -> Option<Duration> {
        let text = self.interpolate(value, key)?;
        match humantime::parse_duration(text.trim()) {
            Ok(d) => Some(d),
            Err(_) => {
                self.error(
                    value.span(),
                    key,
                    format!(
                        "invalid duration {:?}: expected a number and a unit, like \"30s\" or \"5m\"",
                        value.get_ref()
                    ),
                );
                None
            }
        }
    }

    fn socket_addr(&mut self, value: &Spanned<String>, key: &str) -> Option<SocketAddr> {
        let text = self.interpolate(value, key)?;
        match text.trim().parse::<SocketAddr>() {
            Ok(addr) => Some(addr),
            Err(_) => {
                self.error(
                    value.span(),
                    key,
                    format!(
                        "invalid address {:?}: expected ip:port, like \"127.0.0.1:9480\" or \"[::1]:9480\"",
                        value.get_ref()
                    ),
                );
                None
            }
        }
    }

    /// A label value: a target name or the site location.
    fn label(&mut self, value: &Spanned<String>, key: &str, what: &str) -> Option<String> {
        let text = self.interpolate(value, key)?;
        match check_label(&text, what) {
            Ok(()) => Some(text),
            Err(message) => {
                self.error(value.span(), key, message);
                None
            }
        }
    }

    /// A URL that is secret (or holds a password): checked by `check`, then wrapped.
    fn secret_url(
        &mut self,
        value: &Spanned<String>,
        key: &str,
        check: fn(&str) -> Result<(), String>,
    ) -> Option<SecretUrl> {
        let text = self.interpolate(value, key)?;
        match check(&text) {
            Ok(()) => Some(SecretUrl::new(text)),
            Err(message) => {
                secret::register(&text);
                self.error(value.span(), key, message);
                None
            }
        }
    }

    /// The URL of a target derived from the env file, checked by `check`.
    /// The URL of a `[[postgres]]`/`[[redis]]` entry: its own `url`, else the one derived
    /// from the Mastodon env file for a target of the same name; neither is an error.
    fn entry_url(
        &mut self,
        own: Option<&Spanned<String>>,
        derived: Option<&DerivedTarget>,
        key: &str,
        span: Range<usize>,
        kind: &str,
        check: fn(&str) -> Result<(), String>,
    ) -> Option<SecretUrl> {
        match (own, derived) {
            (Some(v), _) => self.secret_url(v, &format!("{key}.url"), check),
            (None, Some(d)) => self.derived_url(d, kind, check),
            (None, None) => {
                self.error(span, key, MISSING_URL);
                None
            }
        }
    }

    fn derived_url(
        &mut self,
        target: &DerivedTarget,
        kind: &str,
        check: fn(&str) -> Result<(), String>,
    ) -> Option<SecretUrl> {
        if !target.problems.is_empty() {
            for problem in &target.problems {
                self.env_error(problem);
            }
            return None;
        }
        match check(&target.url) {
            Ok(()) => Some(SecretUrl::new(target.url.clone())),
            Err(message) => {
                secret::register(&target.url);
                let (line, column, key) = match &target.origin {
                    Some(o) => (o.line, o.column, Some(o.key.clone())),
                    None => (0, 0, None),
                };
                self.env_error(&EnvFileError {
                    line,
                    column,
                    key,
                    message: format!(
                        "{message} (or override it with a [[{kind}]] entry named {:?})",
                        target.name
                    ),
                });
                None
            }
        }
    }

    /// A count option: `default` when unset, else a value within `range`.
    fn count_in_range(
        &mut self,
        value: Option<&Spanned<i64>>,
        key: &str,
        range: std::ops::RangeInclusive<i64>,
        default: usize,
    ) -> Option<usize> {
        let Some(value) = value else {
            return Some(default);
        };
        let n = *value.get_ref();
        match usize::try_from(n) {
            Ok(count) if range.contains(&n) => Some(count),
            _ => {
                self.error(
                    value.span(),
                    key,
                    format!(
                        "{n} is out of range: expected {} to {}",
                        range.start(),
                        range.end()
                    ),
                );
                None
            }
        }
    }

    /// Interval and timeout of a target: defaults, timeout > 0, interval ≥ 1 s,
    /// timeout < interval.
    fn timing(
        &mut self,
        key: &str,
        interval: Option<&Spanned<String>>,
        timeout: Option<&Spanned<String>>,
        defaults: (Duration, Duration),
    ) -> Option<(Duration, Duration)> {
        let interval_key = format!("{key}.interval");
        let timeout_key = format!("{key}.timeout");
        // Both are parsed (and their errors reported) before either can end the checks.
        let interval_value = interval.map(|v| self.duration(v, &interval_key));
        let timeout_value = timeout.map(|v| self.duration(v, &timeout_key));
        let i = match interval_value {
            Some(None) => return None,
            Some(Some(d)) => d,
            None => defaults.0,
        };
        let t = match timeout_value {
            Some(None) => return None,
            Some(Some(d)) => d,
            None => defaults.1,
        };
        let mut ok = true;
        if let Some(v) = interval.filter(|_| i < MIN_INTERVAL) {
            self.error(
                v.span(),
                &interval_key,
                format!("interval ({}) must be at least 1s", show(i)),
            );
            ok = false;
        }
        if let Some(v) = timeout.filter(|_| t.is_zero()) {
            self.error(v.span(), &timeout_key, "timeout must be greater than zero");
            ok = false;
        }
        if ok && t >= i {
            match (timeout, interval) {
                (Some(v), _) => self.error(
                    v.span(),
                    &timeout_key,
                    format!(
                        "timeout ({}) must be shorter than interval ({})",
                        show(t),
                        show(i)
                    ),
                ),
                (None, Some(v)) => self.error(
                    v.span(),
                    &interval_key,
                    format!(
                        "interval ({}) must be longer than the default timeout ({})",
                        show(i),
                        show(t)
                    ),
                ),
                (None, None) => {}
            }
            ok = false;
        }
        ok.then_some((i, t))
    }

    /// Validates the names of one kind's entries, including uniqueness; `None` for an
    /// invalid or duplicate name.
    fn names<'r>(
        &mut self,
        kind: &str,
        names: impl Iterator<Item = &'r Spanned<String>>,
    ) -> Vec<Option<String>> {
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut out = Vec::new();
        for (i, name) in names.enumerate() {
            let key = format!("{kind}[{i}].name");
            let valid = self.label(name, &key, "name");
            let valid = match valid {
                Some(n) => match seen.get(&n) {
                    Some(first) => {
                        self.error(
                            name.span(),
                            &key,
                            format!("duplicate name {n:?} (already used by {kind}[{first}])"),
                        );
                        None
                    }
                    None => {
                        seen.insert(n.clone(), i);
                        Some(n)
                    }
                },
                None => None,
            };
            out.push(valid);
        }
        out
    }
}

/// The shortest interval a target or an OTLP push may have.
const MIN_INTERVAL: Duration = Duration::from_secs(1);

/// A duration as humantime writes it (`15s`, `1m 30s`).
fn show(d: Duration) -> String {
    humantime::format_duration(d).to_string()
}

fn check_label(value: &str, what: &str) -> Result<(), String> {
    if value.is_empty() {
        return Err(format!("{what} must not be empty"));
    }
    if value.chars().count() > 64 {
        return Err(format!("{what} must be at most 64 characters long"));
    }
    if !value
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return Err(format!(
            "invalid {what} {value:?}: use only letters, digits, \"_\", \".\" and \"-\""
        ));
    }
    Ok(())
}

/// Parses a URL and checks its scheme. Never quotes the URL or its scheme: it may be a
/// secret.
fn parse_url(value: &str, schemes: &[&str]) -> Result<url::Url, String> {
    let url = url::Url::parse(value.trim()).map_err(|e| format!("invalid url: {e}"))?;
    if !schemes.contains(&url.scheme()) {
        let expected = match schemes {
            [one] => one.to_string(),
            [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
            [] => String::new(),
        };
        return Err(format!("unsupported url scheme: expected {expected}"));
    }
    Ok(url)
}

fn check_postgres_url(value: &str) -> Result<(), String> {
    parse_url(value, &["postgres", "postgresql"]).map(drop)
}

fn check_redis_url(value: &str) -> Result<(), String> {
    let url = parse_url(value, &["redis", "rediss"])?;
    if url.host_str().is_none_or(str::is_empty) {
        return Err("url has no host".to_string());
    }
    let db = url.path().trim_start_matches('/');
    if !db.is_empty() && db.parse::<u32>().is_err() {
        return Err("the database in the url path must be a number".to_string());
    }
    Ok(())
}

fn check_store_url(value: &str) -> Result<(), String> {
    parse_url(value, &["sqlite", "postgres", "postgresql"]).map(drop)
}

fn check_webhook_url(value: &str) -> Result<(), String> {
    let url = parse_url(value, &["https", "http"])?;
    let loopback = match url.host() {
        Some(url::Host::Domain(d)) => d == "localhost",
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        None => false,
    };
    if url.scheme() == "http" && !loopback {
        return Err("webhook url must use https".to_string());
    }
    Ok(())
}

/// A URL that is shown as written (probes, the OTLP endpoint): it must hold no password.
fn public_url(value: &str, schemes: &[&str]) -> Result<url::Url, String> {
    let url = url::Url::parse(value.trim()).map_err(|e| format!("invalid url: {e}"))?;
    if url.password().is_some() {
        return Err("url must not contain a password (it would be shown unmasked)".to_string());
    }
    if !schemes.contains(&url.scheme()) {
        return Err(format!(
            "unsupported url scheme {:?}: expected {}",
            url.scheme(),
            schemes.join(", ")
        ));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("url has no host".to_string());
    }
    Ok(url)
}

fn check_probe_url(value: &str) -> Result<(), String> {
    let url = public_url(value, &["http", "https", "tcp"])?;
    if url.scheme() == "tcp" && url.port().is_none() {
        return Err("a tcp probe needs a port, like tcp://example.social:443".to_string());
    }
    Ok(())
}

fn check_domain(value: &str) -> Result<(), String> {
    let plain = !value.is_empty() && !value.contains(['/', ':', '@', ' ', '\t']);
    if !plain || url::Host::parse(value).is_err() {
        return Err(format!(
            "invalid domain {value:?}: expected a host name like example.social, without scheme or path"
        ));
    }
    Ok(())
}

fn check_streaming_url(value: &str) -> Result<(), String> {
    public_url(value, &["wss", "ws", "https", "http"]).map(drop)
}

/// HTTP header names are tokens (RFC 9110).
fn check_header_name(name: &str) -> Result<(), String> {
    let token = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
    if token {
        Ok(())
    } else {
        Err(format!("invalid header name {name:?}"))
    }
}

fn validate(raw: &RawConfig, ctx: &mut Ctx<'_>) -> Config {
    let listen = raw
        .listen
        .as_ref()
        .and_then(|v| ctx.socket_addr(v, "listen"))
        .unwrap_or_else(raw::default_listen);
    let metrics_listen = raw
        .metrics_listen
        .as_ref()
        .and_then(|v| Some((v, ctx.socket_addr(v, "metrics_listen")?)));
    if let Some((v, addr)) = metrics_listen.filter(|(_, addr)| *addr == listen && addr.port() != 0)
    {
        ctx.error(
            v.span(),
            "metrics_listen",
            format!("metrics_listen must differ from listen ({addr})"),
        );
    }

    let site = site(ctx, &raw.site);
    let store = store(ctx, &raw.store);
    let (mut mastodon, derived) = mastodon(ctx, &raw.mastodon);

    let postgres = postgres_targets(ctx, raw, &derived.postgres, &mut mastodon);
    let pgbouncer = pgbouncer_targets(ctx, raw);
    let redis = redis_targets(ctx, raw, &derived.redis, &mut mastodon);
    let probes = probe_targets(ctx, raw);
    let discord = discord_channels(ctx, raw);
    let otlp = raw.otlp.as_ref().and_then(|o| otlp(ctx, o));
    let sli = sli::sli_options(ctx, &raw.sli);
    let components = sli::components(ctx, raw, &probes);
    let maintenance = sli::maintenance_windows(ctx, raw, &components, &mastodon, &probes);

    Config {
        source: ctx.input.path.map(Path::to_path_buf),
        listen,
        metrics_listen: metrics_listen.map(|(_, addr)| addr),
        site,
        store,
        mastodon,
        postgres,
        pgbouncer,
        redis,
        probes,
        discord,
        otlp,
        components,
        maintenance,
        sli,
    }
}

fn site(ctx: &mut Ctx<'_>, raw: &RawSite) -> SiteConfig {
    let mut site = SiteConfig::default();
    if let Some(v) = &raw.title {
        if let Some(title) = ctx.interpolate(v, "site.title") {
            if title.trim().is_empty() {
                ctx.error(v.span(), "site.title", "title must not be empty");
            }
            site.title = title;
        }
    }
    if let Some(v) = &raw.location {
        if let Some(location) = ctx.label(v, "site.location", "location") {
            site.location = location;
        }
    }
    let web_url = |s: &str| s.starts_with("https://") || s.starts_with("http://");
    for (value, key, data_ok, slot) in [
        (&raw.url, "site.url", false, &mut site.url),
        (&raw.logo, "site.logo", true, &mut site.logo),
        (&raw.about, "site.about", false, &mut site.about),
    ] {
        let Some(v) = value else { continue };
        let Some(text) = ctx.interpolate(v, key) else {
            continue;
        };
        let text = text.trim().trim_end_matches('/').to_string();
        let web = web_url(&text) && !text.contains(char::is_whitespace);
        if web || (data_ok && text.starts_with("data:image/")) {
            *slot = Some(text);
        } else {
            ctx.error(
                v.span(),
                key,
                if data_ok {
                    "expected an http(s):// URL or a data:image/ URI"
                } else {
                    "expected an http(s):// URL"
                },
            );
        }
    }
    site
}

fn store(ctx: &mut Ctx<'_>, raw: &RawStore) -> StoreConfig {
    match &raw.url {
        Some(v) => match ctx.secret_url(v, "store.url", check_store_url) {
            Some(url) => StoreConfig { url },
            None => StoreConfig::default(),
        },
        None => StoreConfig::default(),
    }
}

/// `[mastodon]`, and what the env file (from `--mastodon-env` or `mastodon.env_file`)
/// derives.
fn mastodon(ctx: &mut Ctx<'_>, raw: &RawMastodon) -> (MastodonConfig, Derived) {
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

/// The env file to read: `--mastodon-env` as given, or `mastodon.env_file` relative to the
/// config file's directory (with the span of the key, for errors).
fn env_file_path(ctx: &mut Ctx<'_>, raw: &RawMastodon) -> Option<(PathBuf, Option<Range<usize>>)> {
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

fn read_env_file(ctx: &mut Ctx<'_>, path: &Path, span: Option<Range<usize>>) -> Derived {
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
fn mastodon_value(
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
fn merge_plan<'d>(
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

fn derived_common(d: &DerivedTarget) -> TargetCommon {
    TargetCommon {
        name: d.name.clone(),
        interval: raw::default_interval(),
        timeout: raw::default_timeout(),
    }
}

fn postgres_targets(
    ctx: &mut Ctx<'_>,
    raw: &RawConfig,
    derived: &[DerivedTarget],
    mastodon: &mut MastodonConfig,
) -> Vec<PostgresTarget> {
    let names = ctx.names("postgres", raw.postgres.iter().map(|e| &e.get_ref().name));
    let mut targets = Vec::new();
    for (entry, d) in merge_plan(&names, derived) {
        if let Some(d) = d {
            mastodon.derived_targets.push(("postgres", d.name.clone()));
        }
        let target = match entry {
            Some(i) => postgres_entry(ctx, i, &raw.postgres[i], names[i].clone(), d),
            None => d.and_then(|d| {
                Some(PostgresTarget {
                    common: derived_common(d),
                    url: ctx.derived_url(d, "postgres", check_postgres_url)?,
                    options: PostgresOptions::default(),
                })
            }),
        };
        targets.extend(target);
    }
    targets
}

fn postgres_entry(
    ctx: &mut Ctx<'_>,
    i: usize,
    entry: &Spanned<raw::RawPostgres>,
    name: Option<String>,
    derived: Option<&DerivedTarget>,
) -> Option<PostgresTarget> {
    let key = format!("postgres[{i}]");
    let raw = entry.get_ref();
    let timing = ctx.timing(
        &key,
        raw.interval.as_ref(),
        raw.timeout.as_ref(),
        (raw::default_interval(), raw::default_timeout()),
    );
    let url = ctx.entry_url(
        raw.url.as_ref(),
        derived,
        &key,
        entry.span(),
        "postgres",
        check_postgres_url,
    );
    let options = postgres_options(ctx, &key, raw);
    let (interval, timeout) = timing?;
    Some(PostgresTarget {
        common: TargetCommon {
            name: name?,
            interval,
            timeout,
        },
        url: url?,
        options: options?,
    })
}

/// The collector options of `[[postgres]]` entry `key`; every error reported.
fn postgres_options(
    ctx: &mut Ctx<'_>,
    key: &str,
    raw: &raw::RawPostgres,
) -> Option<PostgresOptions> {
    let defaults = PostgresOptions::default();
    let mut ok = true;
    let mut duration = |ctx: &mut Ctx<'_>,
                        value: &Option<Spanned<String>>,
                        name: &str,
                        default: Duration,
                        positive: bool| {
        let Some(value) = value else {
            return default;
        };
        let key = format!("{key}.{name}");
        match ctx.duration(value, &key) {
            Some(d) if positive && d.is_zero() => {
                // 0 would turn the server-side timeout off.
                ctx.error(
                    value.span(),
                    &key,
                    format!("{name} must be greater than zero"),
                );
                ok = false;
                default
            }
            Some(d) => d,
            None => {
                ok = false;
                default
            }
        }
    };
    let statement_timeout = duration(
        ctx,
        &raw.statement_timeout,
        "statement_timeout",
        defaults.statement_timeout,
        true,
    );
    let lock_timeout = duration(
        ctx,
        &raw.lock_timeout,
        "lock_timeout",
        defaults.lock_timeout,
        true,
    );
    let size_interval = duration(
        ctx,
        &raw.size_interval,
        "size_interval",
        defaults.size_interval,
        false,
    );
    let settings_interval = duration(
        ctx,
        &raw.settings_interval,
        "settings_interval",
        defaults.settings_interval,
        false,
    );
    let mastodon_fast_interval = duration(
        ctx,
        &raw.mastodon_fast_interval,
        "mastodon_fast_interval",
        defaults.mastodon_fast_interval,
        false,
    );
    let mastodon_interval = duration(
        ctx,
        &raw.mastodon_interval,
        "mastodon_interval",
        defaults.mastodon_interval,
        false,
    );
    let mastodon_slow_interval = duration(
        ctx,
        &raw.mastodon_slow_interval,
        "mastodon_slow_interval",
        defaults.mastodon_slow_interval,
        false,
    );
    let table_limit = match &raw.table_limit {
        None => defaults.table_limit,
        Some(value) => match usize::try_from(*value.get_ref()) {
            Ok(n) => n,
            Err(_) => {
                ctx.error(
                    value.span(),
                    &format!("{key}.table_limit"),
                    "table_limit must be 0 or more",
                );
                ok = false;
                defaults.table_limit
            }
        },
    };
    ok.then_some(PostgresOptions {
        statement_timeout,
        lock_timeout,
        size_interval,
        settings_interval,
        table_limit,
        mastodon: raw.mastodon_gauges.unwrap_or(defaults.mastodon),
        mastodon_fast_interval,
        mastodon_interval,
        mastodon_slow_interval,
    })
}

const MISSING_URL: &str =
    "missing field `url` (needed unless the name is that of a target from the mastodon env file)";

fn pgbouncer_targets(ctx: &mut Ctx<'_>, raw: &RawConfig) -> Vec<PgbouncerTarget> {
    let names = ctx.names("pgbouncer", raw.pgbouncer.iter().map(|e| &e.get_ref().name));
    let mut targets = Vec::new();
    for (i, (entry, name)) in raw.pgbouncer.iter().zip(names).enumerate() {
        targets.extend(pgbouncer_entry(ctx, i, entry.get_ref(), name));
    }
    targets
}

fn pgbouncer_entry(
    ctx: &mut Ctx<'_>,
    i: usize,
    raw: &raw::RawPgbouncer,
    name: Option<String>,
) -> Option<PgbouncerTarget> {
    let key = format!("pgbouncer[{i}]");
    let timing = ctx.timing(
        &key,
        raw.interval.as_ref(),
        raw.timeout.as_ref(),
        (raw::default_interval(), raw::default_timeout()),
    );
    let url = ctx.secret_url(&raw.url, &format!("{key}.url"), check_postgres_url);
    let defaults = PgbouncerOptions::default();
    let max_application_names = ctx.count_in_range(
        raw.client_connections_max_application_names.as_ref(),
        &format!("{key}.client_connections_max_application_names"),
        1..=raw::MAX_PGBOUNCER_APPLICATION_NAMES,
        defaults.client_connections_max_application_names,
    );
    let max_pools = ctx.count_in_range(
        raw.max_pools.as_ref(),
        &format!("{key}.max_pools"),
        1..=raw::MAX_PGBOUNCER_POOLS,
        defaults.max_pools,
    );
    let (interval, timeout) = timing?;
    Some(PgbouncerTarget {
        common: TargetCommon {
            name: name?,
            interval,
            timeout,
        },
        url: url?,
        options: PgbouncerOptions {
            client_connections: raw
                .client_connections
                .unwrap_or(defaults.client_connections),
            client_connections_max_application_names: max_application_names?,
            max_pools: max_pools?,
        },
    })
}

fn redis_targets(
    ctx: &mut Ctx<'_>,
    raw: &RawConfig,
    derived: &[DerivedTarget],
    mastodon: &mut MastodonConfig,
) -> Vec<RedisTarget> {
    let names = ctx.names("redis", raw.redis.iter().map(|e| &e.get_ref().name));
    let mut targets = Vec::new();
    for (entry, d) in merge_plan(&names, derived) {
        if let Some(d) = d {
            mastodon.derived_targets.push(("redis", d.name.clone()));
        }
        let target = match entry {
            Some(i) => redis_entry(ctx, i, &raw.redis[i], names[i].clone(), d),
            None => d.and_then(|d| {
                Some(RedisTarget {
                    common: derived_common(d),
                    url: ctx.derived_url(d, "redis", check_redis_url)?,
                    sidekiq: d.sidekiq,
                    namespace: d.namespace.clone(),
                    options: RedisOptions::default(),
                })
            }),
        };
        targets.extend(target);
    }
    targets
}

fn redis_entry(
    ctx: &mut Ctx<'_>,
    i: usize,
    entry: &Spanned<raw::RawRedis>,
    name: Option<String>,
    derived: Option<&DerivedTarget>,
) -> Option<RedisTarget> {
    let key = format!("redis[{i}]");
    let raw = entry.get_ref();
    let timing = ctx.timing(
        &key,
        raw.interval.as_ref(),
        raw.timeout.as_ref(),
        (raw::default_interval(), raw::default_timeout()),
    );
    let url = ctx.entry_url(
        raw.url.as_ref(),
        derived,
        &key,
        entry.span(),
        "redis",
        check_redis_url,
    );
    let namespace = match &raw.namespace {
        Some(v) => Some(redis_namespace(ctx, v, &format!("{key}.namespace"))?),
        None => derived.and_then(|d| d.namespace.clone()),
    };
    let sidekiq = raw
        .sidekiq
        .unwrap_or_else(|| derived.is_some_and(|d| d.sidekiq));
    let options = redis_options(ctx, raw, &key);
    let (interval, timeout) = timing?;
    Some(RedisTarget {
        common: TargetCommon {
            name: name?,
            interval,
            timeout,
        },
        url: url?,
        sidekiq,
        namespace,
        options: options?,
    })
}

/// The tuning keys of one `[[redis]]` entry (see `RedisOptions` for the meaning).
fn redis_options(ctx: &mut Ctx<'_>, raw: &raw::RawRedis, key: &str) -> Option<RedisOptions> {
    let mut options = RedisOptions::default();
    let mut ok = true;
    let mut positive = |ctx: &mut Ctx<'_>, value: &Option<Spanned<i64>>, name: &str, max: i64| {
        let value = value.as_ref()?;
        let n = *value.get_ref();
        if (1..=max).contains(&n) {
            Some(n)
        } else {
            ctx.error(
                value.span(),
                &format!("{key}.{name}"),
                format!("{name} must be between 1 and {max}"),
            );
            ok = false;
            None
        }
    };
    if let Some(n) = positive(ctx, &raw.sidekiq_queue_limit, "sidekiq_queue_limit", 10_000) {
        options.sidekiq_queue_limit = usize::try_from(n).unwrap_or(usize::MAX);
    }
    if let Some(n) = positive(
        ctx,
        &raw.delivery_scan_count,
        "delivery_scan_count",
        100_000,
    ) {
        options.delivery_scan_count = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(n) = positive(
        ctx,
        &raw.delivery_scan_steps_per_run,
        "delivery_scan_steps_per_run",
        100_000,
    ) {
        options.delivery_scan_steps_per_run = u32::try_from(n).unwrap_or(u32::MAX);
    }
    if let Some(queues) = &raw.mastodon_queues {
        if queues.get_ref().iter().any(|q| q.trim().is_empty()) {
            ctx.error(
                queues.span(),
                &format!("{key}.mastodon_queues"),
                "queue names must not be empty",
            );
            ok = false;
        }
        options.mastodon_queues = queues.get_ref().clone();
    }
    options.mastodon_gauges = raw.mastodon_gauges;
    if let Some(value) = &raw.mastodon_gauges_interval {
        let name = format!("{key}.mastodon_gauges_interval");
        match ctx.duration(value, &name) {
            Some(d) if d >= Duration::from_secs(1) => options.mastodon_gauges_interval = d,
            Some(_) => {
                ctx.error(
                    value.span(),
                    &name,
                    "mastodon_gauges_interval must be at least 1s",
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    options.sidekiq_heartbeat_series = raw.sidekiq_heartbeat_series.unwrap_or(false);
    options.sidekiq_yabeda_aliases = raw.sidekiq_yabeda_aliases.unwrap_or(false);
    if let Some(value) = &raw.tls_ca_file {
        let name = format!("{key}.tls_ca_file");
        match ctx.interpolate(value, &name) {
            Some(text) if !text.trim().is_empty() => {
                let path = PathBuf::from(text);
                options.tls_ca_file = Some(match ctx.input.path.and_then(Path::parent) {
                    Some(dir) if path.is_relative() => dir.join(path),
                    _ => path,
                });
            }
            Some(_) => {
                ctx.error(value.span(), &name, "tls_ca_file must not be empty");
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(options)
}

fn redis_namespace(ctx: &mut Ctx<'_>, value: &Spanned<String>, key: &str) -> Option<String> {
    let namespace = ctx.interpolate(value, key)?;
    let problem = if namespace.is_empty() {
        Some("namespace must not be empty (leave it out instead)")
    } else if namespace
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        Some("namespace must not contain spaces or control characters")
    } else {
        None
    };
    match problem {
        Some(message) => {
            ctx.error(value.span(), key, message);
            None
        }
        None => Some(namespace),
    }
}

fn probe_targets(ctx: &mut Ctx<'_>, raw: &RawConfig) -> Vec<ProbeTarget> {
    let names = ctx.names("probe", raw.probe.iter().map(|e| &e.get_ref().name));
    let mut targets = Vec::new();
    for (i, (entry, name)) in raw.probe.iter().zip(names).enumerate() {
        targets.extend(probe_entry(ctx, i, entry.get_ref(), name));
    }
    targets
}

fn probe_entry(
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
            "a tcp probe takes no http options (method, expect_status, body_*, json_*, headers, body, redirects, tls, cache_bust)",
        );
        return None;
    }
    Some(ProbeTarget {
        common: TargetCommon {
            name: name?,
            interval,
            timeout,
        },
        url,
        options,
    })
}

/// Whether `raw` sets a key that only an http(s) probe uses.
fn options_need_http(raw: &raw::RawProbe) -> bool {
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
}

/// The options of `[[probe]]` number `key`; `None` (errors reported) when any is invalid.
/// `timeout` is the probe's timeout when valid, to check `degraded_after` against.
fn probe_options(
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
    ok.then_some(options)
}

/// Request headers (`otlp.headers`, `probe[i].headers`): valid, unique names; printable
/// values, which are secrets (registered with the redactor, never quoted). `None` when any
/// is invalid (errors reported).
fn request_headers(
    ctx: &mut Ctx<'_>,
    raw: &BTreeMap<Spanned<String>, Spanned<String>>,
    prefix: &str,
) -> Option<Vec<(String, Secret<String>)>> {
    let mut headers = Vec::new();
    let mut headers_ok = true;
    let mut seen: HashMap<String, &str> = HashMap::new();
    // In file order, so that a duplicate is reported at its second occurrence.
    let mut entries: Vec<_> = raw.iter().collect();
    entries.sort_by_key(|(name, _)| name.span().start);
    for (name, value) in entries {
        let key = format!("{prefix}.{}", raw::key_segment(name.get_ref()));
        if let Err(message) = check_header_name(name.get_ref()) {
            ctx.error(name.span(), &key, message);
            headers_ok = false;
            continue;
        }
        if let Some(first) = seen.insert(name.get_ref().to_ascii_lowercase(), name.get_ref()) {
            ctx.error(
                name.span(),
                &key,
                format!("duplicate header (same as {first:?}: names are case-insensitive)"),
            );
            headers_ok = false;
        }
        let Some(text) = ctx.interpolate(value, &key) else {
            headers_ok = false;
            continue;
        };
        let value_ok = text
            .chars()
            .all(|c| c == ' ' || c == '\t' || c.is_ascii_graphic());
        let secret = Secret::registered(text);
        if value_ok {
            headers.push((name.get_ref().clone(), secret));
        } else {
            ctx.error(value.span(), &key, "header value must be printable ascii");
            headers_ok = false;
        }
    }
    headers_ok.then_some(headers)
}

fn discord_channels(ctx: &mut Ctx<'_>, raw: &RawConfig) -> Vec<DiscordChannel> {
    let names = ctx.names("discord", raw.discord.iter().map(|e| &e.get_ref().name));
    let mut channels = Vec::new();
    for (i, (entry, name)) in raw.discord.iter().zip(names).enumerate() {
        let key = format!("discord[{i}].webhook_url");
        let webhook = entry.get_ref().webhook_url.clone();
        let url = ctx
            .secret_url(&webhook, &key, check_webhook_url)
            .map(|url| SecretUrl::opaque(url.expose().to_string()));
        if let (Some(name), Some(webhook_url)) = (name, url) {
            channels.push(DiscordChannel { name, webhook_url });
        }
    }
    channels
}

fn otlp(ctx: &mut Ctx<'_>, entry: &Spanned<RawOtlp>) -> Option<OtlpConfig> {
    let raw = entry.get_ref();
    let endpoint = ctx
        .interpolate(&raw.endpoint, "otlp.endpoint")
        .and_then(|e| match public_url(&e, &["http", "https"]) {
            Ok(_) => Some(e.trim().to_string()),
            Err(message) => {
                ctx.error(raw.endpoint.span(), "otlp.endpoint", message);
                None
            }
        });
    let protocol = match &raw.protocol {
        None => Some(OtlpProtocol::Grpc),
        Some(v) => match ctx.interpolate(v, "otlp.protocol").as_deref() {
            Some("grpc") => Some(OtlpProtocol::Grpc),
            Some("http/protobuf") => Some(OtlpProtocol::HttpProtobuf),
            Some(other) => {
                ctx.error(
                    v.span(),
                    "otlp.protocol",
                    format!("unknown protocol {other:?}: expected \"grpc\" or \"http/protobuf\""),
                );
                None
            }
            None => None,
        },
    };
    let interval = match &raw.interval {
        None => Some(raw::default_otlp_interval()),
        Some(v) => ctx.duration(v, "otlp.interval").and_then(|d| {
            if d < MIN_INTERVAL {
                ctx.error(
                    v.span(),
                    "otlp.interval",
                    format!("interval ({}) must be at least 1s", show(d)),
                );
                None
            } else {
                Some(d)
            }
        }),
    };
    let headers = request_headers(ctx, &raw.headers, "otlp.headers");
    Some(OtlpConfig {
        endpoint: endpoint?,
        protocol: protocol?,
        interval: interval?,
        headers: headers?,
    })
}
