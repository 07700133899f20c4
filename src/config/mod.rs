//! Configuration: the validated [`Config`] that everyone consumes, and [`load_file`].
//!
//! Loading happens in two phases (STYLE.md lesson 5): `raw` deserializes the TOML into
//! `RawConfig` (serde, unknown keys rejected, spans kept), then `validate` turns it into a
//! [`Config`], collecting *every* error as `file:line:col: key: message` ([`ConfigErrors`]).
//! `${VAR}` in string values is replaced from an [`env::Source`] during validation. Secrets
//! are wrapped in [`Secret`]/[`SecretUrl`] as soon as they are read. A Mastodon
//! `.env.production` can supply the PostgreSQL and Redis targets (`mastodon_env`); keys
//! written in fedimeter's own config win.
//!
//! The result is the single, fully resolved input: the env-file targets and the Mastodon
//! preset probes and components ([`preset`]) are expanded during validation, each entry
//! tagged with its [`Origin`], so [`Config::probes`] and [`Config::components`] are the
//! effective lists. Nothing downstream validates or expands again. This module imports only
//! `model` and `secret` (see ARCHITECTURE.md, "Module layers").
//!
//! Code map: `raw` (serde structs, named defaults, TOML → `RawConfig`), `env` (`${VAR}`),
//! `validate` (`RawConfig` → `Config`: `ctx`, `values`, one file per section),
//! `mastodon_env` (dotenv parser and derived targets), `preset` (the Mastodon preset),
//! `error` (`ConfigError(s)`), `render` ([`Config::render_resolved`]), `options` (the option
//! types of every section and their defaults). [`crate::secret`] is re-exported as `secret`.

pub mod alert;
pub mod env;
pub mod error;
pub mod mastodon_env;
pub mod options;
pub mod preset;
pub mod raw;
mod render;
mod validate;

/// The top-level [`crate::secret`] module, re-exported: config is where secrets are read.
pub use crate::secret;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::secret::{Secret, SecretUrl};
pub use error::{ConfigError, ConfigErrors, Position};
pub use options::{
    ComponentOptions, PgbouncerOptions, PostgresOptions, ProbeOptions, RedisOptions, SliOptions,
};
pub use validate::values::{parse_time_of_day, parse_weekday, slug};

/// Loads and validates the config file at `path`. `mastodon_env` (the `--mastodon-env`
/// option) replaces `[mastodon] env_file`; `env` supplies `${VAR}` values
/// ([`env::Env`] for the process environment).
pub fn load_file(
    path: &Path,
    mastodon_env: Option<&Path>,
    env: &dyn env::Source,
) -> Result<Config, ConfigErrors> {
    let bytes = std::fs::read(path)
        .map_err(|e| ConfigError::file(path, format!("cannot read config file: {e}")))?;
    let text = String::from_utf8(bytes)
        .map_err(|_| ConfigError::file(path, "config file is not valid utf-8"))?;
    load_str(&text, Some(path), mastodon_env, env)
}

/// Validates config `text`, as if read from `path` (used in messages and to resolve a
/// relative `[mastodon] env_file`). For tests and for callers that already hold the text.
pub fn load_str(
    text: &str,
    path: Option<&Path>,
    mastodon_env: Option<&Path>,
    env: &dyn env::Source,
) -> Result<Config, ConfigErrors> {
    validate::load(&validate::Input {
        path,
        text,
        env,
        mastodon_env,
        read_file: &|p: &Path| std::fs::read_to_string(p),
    })
}

/// The configuration without a config file: defaults, plus the targets derived from
/// `mastodon_env` when given. `env` is the same as for [`load_file`] (the defaults contain
/// no `${VAR}`, so it is not consulted today).
pub fn defaults_with(
    mastodon_env: Option<&Path>,
    env: &dyn env::Source,
) -> Result<Config, ConfigErrors> {
    load_str("", None, mastodon_env, env)
}

/// The whole validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    /// The file this came from (`None`: built-in defaults).
    pub source: Option<PathBuf>,
    /// Status page, JSON API, and `/metrics` unless `metrics_listen` is set.
    pub listen: SocketAddr,
    /// `/metrics` (and later admin endpoints) on a private address only.
    pub metrics_listen: Option<SocketAddr>,
    pub site: SiteConfig,
    pub store: StoreConfig,
    pub mastodon: MastodonConfig,
    pub postgres: Vec<PostgresTarget>,
    pub pgbouncer: Vec<PgbouncerTarget>,
    pub redis: Vec<RedisTarget>,
    /// The effective probes: the `[[probe]]`s as written, then the Mastodon preset probes
    /// that none of them replaces (by name) and `disable_probes` does not remove.
    pub probes: Vec<ProbeTarget>,
    pub discord: Vec<DiscordChannel>,
    pub otlp: Option<OtlpConfig>,
    /// The effective components, what the status page shows: the `[[component]]`s as
    /// written, or, when there is none and `[mastodon]` knows the domain, the Mastodon
    /// preset ([`preset::mastodon_components`], [`Origin::Preset`]).
    pub components: Vec<ComponentConfig>,
    /// `[[maintenance]]` windows.
    pub maintenance: Vec<MaintenanceWindow>,
    /// `[sli]`: evaluation cadence and retention.
    pub sli: SliOptions,
    /// `[alerting]` and `[[alert]]`: the rules (built-in set included).
    pub alerting: alert::AlertingConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            source: None,
            listen: raw::default_listen(),
            metrics_listen: None,
            site: SiteConfig::default(),
            store: StoreConfig::default(),
            mastodon: MastodonConfig::default(),
            postgres: Vec::new(),
            pgbouncer: Vec::new(),
            redis: Vec::new(),
            probes: Vec::new(),
            discord: Vec::new(),
            otlp: None,
            components: Vec::new(),
            maintenance: Vec::new(),
            sli: SliOptions::default(),
            alerting: alert::AlertingConfig::default(),
        }
    }
}

impl Config {
    /// Number of monitored targets of every kind.
    pub fn target_count(&self) -> usize {
        self.postgres.len() + self.pgbouncer.len() + self.redis.len() + self.probes.len()
    }
}

/// Where a target, probe or component of the resolved [`Config`] came from; `check-config`
/// prints it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Origin {
    /// Written in the config file.
    #[default]
    Written,
    /// Defined by the Mastodon preset from `[mastodon]` ([`preset`]).
    Preset,
    /// Derived from the Mastodon env file (a config entry of the same name may override
    /// some of its keys).
    EnvFile,
}

impl Origin {
    /// `written`, `preset` or `env file`, as `check-config` prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            Origin::Written => "written",
            Origin::Preset => "preset",
            Origin::EnvFile => "env file",
        }
    }
}

/// What every target has: a name unique within its kind, an interval and a timeout
/// (timeout < interval, checked by validation), and where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct TargetCommon {
    pub name: String,
    pub interval: Duration,
    pub timeout: Duration,
    pub origin: Origin,
}

impl TargetCommon {
    /// A target written in the config file.
    pub fn written(name: impl Into<String>, interval: Duration, timeout: Duration) -> Self {
        TargetCommon {
            name: name.into(),
            interval,
            timeout,
            origin: Origin::Written,
        }
    }
}

#[derive(Debug, Clone)]
pub struct SiteConfig {
    /// Title of the public status page.
    pub title: String,
    /// Location label of this fedimeter instance (OTLP resource attribute, multi-location pages).
    pub location: String,
    /// The status page's public address without a trailing slash (`[site] public_url`):
    /// feed ids, incident links, the API's `page.url`, and the link in alert messages.
    pub public_url: Option<String>,
    /// Logo: an `http(s)://` URL or a `data:image/` URI (`[site] logo`).
    pub logo: Option<String>,
    /// "About" link (`[site] about`).
    pub about: Option<String>,
}

impl Default for SiteConfig {
    fn default() -> Self {
        SiteConfig {
            title: raw::default_site_title().to_string(),
            location: raw::default_site_location().to_string(),
            public_url: None,
            logo: None,
            about: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    /// `sqlite://fedimeter.db` (default) or `postgres://…`.
    pub url: SecretUrl,
}

impl Default for StoreConfig {
    fn default() -> Self {
        StoreConfig {
            url: SecretUrl::new(raw::default_store_url().to_string()),
        }
    }
}

#[derive(Debug, Clone)]
pub struct MastodonConfig {
    /// A Mastodon `.env.production` from which PostgreSQL and Redis targets are derived.
    pub env_file: Option<PathBuf>,
    /// The instance's domain (`LOCAL_DOMAIN`), for the probe preset.
    pub local_domain: Option<String>,
    /// `WEB_DOMAIN` when it differs from `LOCAL_DOMAIN`.
    pub web_domain: Option<String>,
    /// `STREAMING_API_BASE_URL`, when streaming runs on its own host.
    pub streaming_base_url: Option<String>,
    /// An access token of a probe account (`[mastodon] api_token`): the `api` preset probe
    /// then calls the uncached `/api/v1/accounts/verify_credentials`.
    pub api_token: Option<Secret<String>>,
    /// A media file to fetch as the `media` preset probe (`[mastodon] media_canary_url`).
    pub media_canary_url: Option<String>,
    /// Preset probes not to define (`[mastodon] disable_probes = ["api"]`).
    pub disable_probes: Vec<String>,
    /// Every preset probe connects to this address instead of resolving its host
    /// (`[mastodon] connect_to`); URL, `Host` header and TLS name stay the domain's.
    pub connect_to: Option<SocketAddr>,
    /// Extra trusted CA certificates (PEM) for the preset probes (`[mastodon] ca_file`).
    pub ca_file: Option<PathBuf>,
    /// Interval of the preset probes (`[mastodon] probe_interval`).
    pub probe_interval: Duration,
    /// Timeout of the preset probes (`[mastodon] probe_timeout`), shorter than the interval.
    pub probe_timeout: Duration,
}

impl Default for MastodonConfig {
    fn default() -> Self {
        MastodonConfig {
            env_file: None,
            local_domain: None,
            web_domain: None,
            streaming_base_url: None,
            api_token: None,
            media_canary_url: None,
            disable_probes: Vec::new(),
            connect_to: None,
            ca_file: None,
            probe_interval: preset::PRESET_INTERVAL,
            probe_timeout: preset::PRESET_TIMEOUT,
        }
    }
}

impl MastodonConfig {
    /// The host of the web app (`web_domain`, else `local_domain`), when known: the
    /// Mastodon preset applies then.
    pub fn domain(&self) -> Option<&str> {
        self.web_domain
            .as_deref()
            .or(self.local_domain.as_deref())
            .map(|d| d.trim().trim_end_matches('/'))
            .filter(|d| !d.is_empty())
    }
}

#[derive(Debug, Clone)]
pub struct PostgresTarget {
    pub common: TargetCommon,
    pub url: SecretUrl,
    /// Timeouts, cadences and caps of the collector (see `docs/postgres.md`).
    pub options: PostgresOptions,
}

#[derive(Debug, Clone)]
pub struct PgbouncerTarget {
    pub common: TargetCommon,
    /// The admin console: `postgres://user:password@host:6432/pgbouncer` (the user must be in
    /// `stats_users` or `admin_users`).
    pub url: SecretUrl,
    pub options: PgbouncerOptions,
}

#[derive(Debug, Clone)]
pub struct RedisTarget {
    pub common: TargetCommon,
    pub url: SecretUrl,
    /// Read Sidekiq's keys in this Redis.
    pub sidekiq: bool,
    /// Mastodon 4.2/4.3 `REDIS_NAMESPACE`: every Sidekiq key is prefixed `<namespace>:`.
    pub namespace: Option<String>,
    /// Queue cap, Mastodon queue list, slow-cadence scan budget (see the type's fields).
    pub options: RedisOptions,
}

#[derive(Debug, Clone)]
pub struct ProbeTarget {
    pub common: TargetCommon,
    /// `http(s)://…` or `tcp://host:port`.
    pub url: String,
    pub options: ProbeOptions,
}

#[derive(Debug, Clone)]
pub struct DiscordChannel {
    pub name: String,
    pub webhook_url: SecretUrl,
    /// Routes naming one channel share its rate limit (default: the route's name).
    pub channel: String,
    pub min_severity: crate::model::Severity,
    /// Empty: every component.
    pub components: Vec<String>,
    pub mention_role: Option<String>,
    pub resolved_notice: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OtlpProtocol {
    Grpc,
    HttpProtobuf,
}

#[derive(Debug, Clone)]
pub struct OtlpConfig {
    pub endpoint: String,
    pub protocol: OtlpProtocol,
    pub interval: Duration,
    /// Extra request headers (e.g. an API key): values are secrets.
    pub headers: Vec<(String, Secret<String>)>,
}

// ---------------------------------------------------------------------------------------
// Components, maintenance windows and SLI settings (`[[component]]`, `[[maintenance]]`,
// `[sli]`). The semantics live in the `sli` module; these are the validated config shapes.
// ---------------------------------------------------------------------------------------

/// One component of the public status page (`[[component]]`): what the public understands
/// ("Website & API", "Incoming federation"), and the signals that define its state.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentConfig {
    /// Stable key: the `component` and `sli` label values and the store key. Lowercase
    /// letters, digits, `-` and `_`. Defaults to a slug of `name`.
    pub id: String,
    /// Shown on the page, e.g. "Website & API".
    pub name: String,
    /// One line under the name on the page.
    pub description: String,
    /// The signals whose worst state is the component's state (see `docs/sli.md`).
    pub signals: Vec<SignalConfig>,
    pub options: ComponentOptions,
    /// Written in the config file or from the Mastodon preset.
    pub origin: Origin,
}

/// One signal of a component.
#[derive(Debug, Clone, PartialEq)]
pub enum SignalConfig {
    /// A probe of [`Config::probes`] by name (written or preset): down after `ComponentOptions::failures_to_down` consecutive
    /// failed attempts, degraded after as many consecutive attempts over its latency
    /// threshold (`probe_degraded 1`).
    Probe { probe: String },
    /// A threshold on a collected gauge.
    Threshold(ThresholdSignal),
}

/// A threshold on a collected gauge, e.g. `sidekiq_queue_latency_seconds{name="ingress"}`:
/// above `degraded_above` the component is `degraded_performance`, above
/// `partial_outage_above` `partial_outage`, above `major_outage_above` `major_outage`.
/// When several series match, the largest value counts.
#[derive(Debug, Clone, PartialEq)]
pub struct ThresholdSignal {
    /// Metric family name as exposed on `/metrics`.
    pub metric: String,
    /// Label equality matchers (`name = "ingress"`); a series matches when all match.
    pub labels: Vec<(String, String)>,
    /// Only series from targets of this kind (`postgres`, `redis`, …); `None` = any.
    pub target_kind: Option<crate::model::Kind>,
    /// Only series from the target of this name; `None` = any.
    pub target_name: Option<String>,
    pub degraded_above: Option<f64>,
    pub partial_outage_above: Option<f64>,
    pub major_outage_above: Option<f64>,
}

/// A maintenance window (`[[maintenance]]`): during it the listed components (all when
/// empty) show `under_maintenance` and its minutes are excluded from availability.
#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceWindow {
    /// Shown on the page, e.g. "PostgreSQL 17 upgrade".
    pub title: String,
    /// Component ids; empty = every component.
    pub components: Vec<String>,
    pub schedule: MaintenanceSchedule,
}

/// When a maintenance window applies. Times are UTC.
#[derive(Debug, Clone, PartialEq)]
pub enum MaintenanceSchedule {
    /// `start`/`end` as RFC 3339 timestamps; `[start, end)`.
    Once {
        start: std::time::SystemTime,
        end: std::time::SystemTime,
    },
    /// Every week on each of `weekdays` (0 = Monday … 6 = Sunday; empty = every day) at
    /// `start_minute_of_day` (UTC, 0..1440) for `duration`.
    Recurring {
        weekdays: Vec<u8>,
        start_minute_of_day: u32,
        duration: Duration,
    },
}
