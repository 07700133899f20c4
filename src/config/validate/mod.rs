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
//!
//! Code map: this file holds [`load`] and the order of the sections; `ctx` is the toolkit
//! (`Ctx`: errors with positions, interpolation, durations, timing, URLs, secrets, names,
//! headers), `values` the pure value checks and parsers, and one file per section:
//! `site` (`[site]`, `[store]`), `mastodon` (`[mastodon]`, the env file and the merge of
//! derived targets), `postgres`, `pgbouncer`, `redis`, `probe`, `discord`, `otlp`, `sli`
//! (`[sli]`, `[[component]]`, `[[maintenance]]`).

mod alert;
mod ctx;
mod discord;
mod mastodon;
mod otlp;
mod pgbouncer;
mod postgres;
mod probe;
mod redis;
mod site;
mod sli;
pub mod values;

use std::path::Path;

use crate::config::Config;
use crate::config::env::Source;
use crate::config::error::ConfigErrors;
use crate::config::preset;
use crate::config::raw::{self, RawConfig};

use self::ctx::*;
use self::discord::*;
use self::mastodon::*;
use self::otlp::*;
use self::pgbouncer::*;
use self::postgres::*;
use self::probe::*;
use self::redis::*;
use self::site::*;

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
    let (mastodon, derived) = mastodon(ctx, &raw.mastodon);

    let postgres = postgres_targets(ctx, raw, &derived.postgres);
    let pgbouncer = pgbouncer_targets(ctx, raw);
    let redis = redis_targets(ctx, raw, &derived.redis);
    // The effective probes: as written, then the Mastodon preset (config::preset).
    let mut probes = probe_targets(ctx, raw);
    let presets = preset::preset_probes(&mastodon, &probes);
    probes.extend(presets);
    let otlp = raw.otlp.as_ref().and_then(|o| otlp(ctx, o));
    let sli = sli::sli_options(ctx, &raw.sli);
    // The effective components: as written, else the preset; both may name preset probes.
    let components = sli::components(ctx, raw, &probes, &mastodon);
    let maintenance = sli::maintenance_windows(ctx, raw, &components);
    // Rules and routes may name only those components (errors are sorted by position).
    let known = alert::KnownComponents::new(raw, &components);
    let discord = discord_channels(ctx, raw, &known);
    let alerting = alert::alerting(ctx, raw.alerting.as_ref(), &raw.alert, &known);

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
        alerting,
    }
}
