//! `RawConfig`: the TOML file exactly as written, before validation.
//!
//! Every struct rejects unknown keys; every string the validator checks is a
//! [`Spanned`] so that its errors carry `line:col`. String values are kept as written:
//! `${VAR}` interpolation happens during validation, so an interpolated secret never passes
//! through serde and cannot appear in a serde error. Optional keys are `Option`s and their
//! defaults are the named `default_*` functions below, applied by `validate` (an absent key
//! has no position to report, so the validator must know it was absent). No
//! `#[serde(flatten)]`: it would lose spans and unknown-key detection, so the keys every
//! target has are repeated in each target struct.
//!
//! The user-facing reference for these keys is `fedimeter.example.toml` at the repository
//! root (a test loads it).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;
use toml::de::{DeTable, DeValue};

/// The whole config file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawConfig {
    /// Address for the status page, the JSON API, and `/metrics` unless `metrics_listen`
    /// is set (`ip:port`). Default: [`default_listen`].
    pub listen: Option<Spanned<String>>,
    /// Address for `/metrics` only, to keep it private; unset: `/metrics` is on `listen`.
    pub metrics_listen: Option<Spanned<String>>,
    /// The public status page.
    #[serde(default)]
    pub site: RawSite,
    /// Where history, incidents and the alert outbox are kept.
    #[serde(default)]
    pub store: RawStore,
    /// The Mastodon instance being monitored.
    #[serde(default)]
    pub mastodon: RawMastodon,
    /// `[[postgres]]`: PostgreSQL servers.
    #[serde(default)]
    pub postgres: Vec<Spanned<RawPostgres>>,
    /// `[[pgbouncer]]`: PgBouncer admin consoles.
    #[serde(default)]
    pub pgbouncer: Vec<Spanned<RawPgbouncer>>,
    /// `[[redis]]`: Redis servers, with or without Sidekiq.
    #[serde(default)]
    pub redis: Vec<Spanned<RawRedis>>,
    /// `[[probe]]`: HTTP(S) and TCP probes.
    #[serde(default)]
    pub probe: Vec<Spanned<RawProbe>>,
    /// `[[discord]]`: Discord channels (webhooks) that receive alerts.
    #[serde(default)]
    pub discord: Vec<Spanned<RawDiscord>>,
    /// `[otlp]`: push metrics to an OpenTelemetry collector; unset: no push.
    pub otlp: Option<Spanned<RawOtlp>>,
    /// `[sli]`: how often components are evaluated, and how long history is kept.
    #[serde(default)]
    pub sli: RawSli,
    /// `[[component]]`: what the status page shows; none and `[mastodon]` set: the
    /// Mastodon preset (see `docs/sli.md`).
    #[serde(default)]
    pub component: Vec<Spanned<RawComponent>>,
    /// `[[maintenance]]`: maintenance windows, one-off or recurring.
    #[serde(default)]
    pub maintenance: Vec<Spanned<RawMaintenance>>,
    /// `[alerting]`: evaluation cadence, repeats, the built-in rules (`docs/alerts.md`).
    pub alerting: Option<Spanned<super::alert::RawAlerting>>,
    /// `[[alert]]`: alert rules, or overrides of built-in ones.
    #[serde(default)]
    pub alert: Vec<Spanned<super::alert::RawAlert>>,
}

/// `[site]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawSite {
    /// Title of the public status page. Default: [`default_site_title`].
    pub title: Option<Spanned<String>>,
    /// Where this fedimeter instance runs (a label value: `[A-Za-z0-9_.-]{1,64}`), for
    /// OTLP and multi-location pages. Default: [`default_site_location`].
    pub location: Option<Spanned<String>>,
    /// The status page's public address (`https://status.example.social`): feed ids,
    /// incident links, the API's `page.url`, and the link in alert messages. Default: not
    /// set (no link).
    pub public_url: Option<Spanned<String>>,
    /// A logo shown beside the title: an `https://` URL or a `data:image/…` URI.
    pub logo: Option<Spanned<String>>,
    /// An "About" link (e.g. the instance's about page).
    pub about: Option<Spanned<String>>,
}

/// `[store]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawStore {
    /// `sqlite://<path>` or `postgres://…` (a password in it is a secret). Default:
    /// [`default_store_url`].
    pub url: Option<Spanned<String>>,
}

/// `[mastodon]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawMastodon {
    /// Mastodon's `.env.production`, from which PostgreSQL and Redis targets are derived.
    /// A relative path is relative to the config file's directory. The CLI's
    /// `--mastodon-env` replaces it.
    pub env_file: Option<Spanned<String>>,
    /// The instance's domain; unset: `LOCAL_DOMAIN` from `env_file`.
    pub domain: Option<Spanned<String>>,
    /// The host serving the web app when it differs from `domain`; unset: `WEB_DOMAIN`
    /// from `env_file`.
    pub web_domain: Option<Spanned<String>>,
    /// The streaming API's base URL when it has its own host; unset:
    /// `STREAMING_API_BASE_URL` from `env_file`.
    pub streaming_base_url: Option<Spanned<String>>,
    /// An access token of a probe account (a secret): the `api` preset probe then calls
    /// the uncached `/api/v1/accounts/verify_credentials`. Default: not set (the anonymous
    /// local timeline with a cache-busting parameter).
    pub api_token: Option<Spanned<String>>,
    /// A media file URL to fetch as the `media` preset probe. Default: not set.
    pub media_canary_url: Option<Spanned<String>>,
    /// Preset probes not to define (`web`, `streaming`, `api`, `media`). Default: none.
    #[serde(default)]
    pub disable_probes: Vec<Spanned<String>>,
    /// `ip:port` that every preset probe connects to instead of resolving the domain (the
    /// URL, `Host` header and TLS name stay the domain's), like curl's `--connect-to`: to
    /// probe one backend behind a load balancer, or a test server. Default: not set (DNS).
    pub connect_to: Option<Spanned<String>>,
    /// PEM file with extra trusted CA certificates for the preset probes (added to the
    /// system roots). Default: not set.
    pub ca_file: Option<Spanned<String>>,
    /// Time between two attempts of each preset probe, at least 1s. Default: 15s.
    pub probe_interval: Option<Spanned<String>>,
    /// Time an attempt of a preset probe may take, shorter than `probe_interval`.
    /// Default: 10s.
    pub probe_timeout: Option<Spanned<String>>,
}

/// `[[postgres]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawPostgres {
    /// Unique among `[[postgres]]` targets, `[A-Za-z0-9_.-]{1,64}`; `mastodon` (and
    /// `mastodon-replica`) override the targets derived from the Mastodon env file.
    pub name: Spanned<String>,
    /// `postgres://` or `postgresql://` URL (a password in it is a secret). Required unless
    /// the name matches a target derived from the Mastodon env file.
    pub url: Option<Spanned<String>>,
    /// Time between two collections. Default: [`default_interval`].
    pub interval: Option<Spanned<String>>,
    /// Time a collection may take; shorter than `interval`. Default: [`default_timeout`].
    pub timeout: Option<Spanned<String>>,
    /// `statement_timeout` of fedimeter's session: no query runs longer; more than 0.
    /// Default: 2s (`PostgresOptions::default`).
    pub statement_timeout: Option<Spanned<String>>,
    /// `lock_timeout` of fedimeter's session: no query waits longer for a lock (behind a
    /// migration's `ACCESS EXCLUSIVE`); more than 0. Default: 1s.
    pub lock_timeout: Option<Spanned<String>>,
    /// How often database and table sizes are measured (cached in between). Default: 5m.
    pub size_interval: Option<Spanned<String>>,
    /// How often `pg_settings` is read (cached in between). Default: 5m.
    pub settings_interval: Option<Spanned<String>>,
    /// Per-table series only for this many tables, the largest first; 0 turns them off.
    /// Default: 50.
    pub table_limit: Option<Spanned<i64>>,
    /// Collect the `mastodon_*` gauges when the database holds Mastodon's schema.
    /// Default: true.
    pub mastodon_gauges: Option<bool>,
    /// Cadence of open reports, pending sign-ups and status freshness. Default: 1m.
    pub mastodon_fast_interval: Option<Spanned<String>>,
    /// Cadence of user counts, unavailable domains and row estimates. Default: 5m.
    pub mastodon_interval: Option<Spanned<String>>,
    /// Cadence of pending software updates. Default: 15m.
    pub mastodon_slow_interval: Option<Spanned<String>>,
    /// Export the top statements of `pg_stat_statements`. Default: false.
    pub stat_statements: Option<bool>,
    /// With `stat_statements`: how many statements, 1 to
    /// [`crate::config::options::MAX_STAT_STATEMENTS_LIMIT`]. Default: 100.
    pub stat_statements_limit: Option<Spanned<i64>>,
    /// With `stat_statements`: how often it is read (cached in between). Default: 1m.
    pub stat_statements_interval: Option<Spanned<String>>,
    /// Export `pg_statio_user_indexes_*` per index. Default: false.
    pub statio_user_indexes: Option<bool>,
}

/// `[[pgbouncer]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawPgbouncer {
    /// Unique among `[[pgbouncer]]` targets, `[A-Za-z0-9_.-]{1,64}`.
    pub name: Spanned<String>,
    /// `postgres://` URL of the admin console (database `pgbouncer`); a password in it is a
    /// secret.
    pub url: Spanned<String>,
    /// Time between two collections. Default: [`default_interval`].
    pub interval: Option<Spanned<String>>,
    /// Time a collection may take; shorter than `interval`. Default: [`default_timeout`].
    pub timeout: Option<Spanned<String>>,
    /// Export `pgbouncer_client_connections` from `SHOW CLIENTS`. Default:
    /// [`crate::config::options::DEFAULT_CLIENT_CONNECTIONS`] (off).
    pub client_connections: Option<bool>,
    /// With `client_connections`: how many distinct `application_name` values are
    /// exported (the rest count as `other`), 1 to [`MAX_PGBOUNCER_APPLICATION_NAMES`].
    /// Default: [`crate::config::options::DEFAULT_CLIENT_CONNECTIONS_MAX_APPLICATION_NAMES`].
    pub client_connections_max_application_names: Option<Spanned<i64>>,
    /// How many rows of `SHOW POOLS`, `SHOW DATABASES` and `SHOW STATS_TOTALS` each are
    /// exported, 1 to [`MAX_PGBOUNCER_POOLS`]. Default:
    /// [`crate::config::options::DEFAULT_MAX_POOLS`].
    pub max_pools: Option<Spanned<i64>>,
    /// Also export the `SHOW STATS_TOTALS` counters under pgbouncer_exporter's pre-0.11
    /// names. Default: [`crate::config::options::DEFAULT_LEGACY_NAMES`] (off).
    pub legacy_names: Option<bool>,
}

/// Upper bound of `[[pgbouncer]] client_connections_max_application_names`.
pub const MAX_PGBOUNCER_APPLICATION_NAMES: i64 = 1000;
/// Upper bound of `[[pgbouncer]] max_pools`.
pub const MAX_PGBOUNCER_POOLS: i64 = 100_000;

/// `[[redis]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawRedis {
    /// Unique among `[[redis]]` targets, `[A-Za-z0-9_.-]{1,64}`; `mastodon`, `sidekiq` and
    /// `cache` override the targets derived from the Mastodon env file.
    pub name: Spanned<String>,
    /// `redis://` or `rediss://` URL (a password in it is a secret). Required unless the
    /// name matches a target derived from the Mastodon env file.
    pub url: Option<Spanned<String>>,
    /// Read Sidekiq's queues, sets and processes in this Redis. Default: false (or what the
    /// Mastodon env file says, for a derived target).
    pub sidekiq: Option<bool>,
    /// Mastodon 4.2/4.3 `REDIS_NAMESPACE`: Sidekiq keys are prefixed `<namespace>:`.
    pub namespace: Option<Spanned<String>>,
    /// Time between two collections. Default: [`default_interval`].
    pub interval: Option<Spanned<String>>,
    /// Time a collection may take; shorter than `interval`. Default: [`default_timeout`].
    pub timeout: Option<Spanned<String>>,
    /// Most Sidekiq queues read and given per-queue series, Mastodon's first. Default: 100
    /// (`RedisOptions::default`).
    pub sidekiq_queue_limit: Option<Spanned<i64>>,
    /// Queues that must be served by a live Sidekiq process (`sidekiq_queue_uncovered`);
    /// `[]` turns the check off. Default: Mastodon 4.4+'s seven queues.
    pub mastodon_queues: Option<Spanned<Vec<String>>>,
    /// Export `mastodon_monthly_active_users` and `mastodon_delivery_failing_domains` from
    /// this Redis. Default: the value of `sidekiq`.
    pub mastodon_gauges: Option<bool>,
    /// How often the Mastodon gauges are recomputed. Default: 10 minutes.
    pub mastodon_gauges_interval: Option<Spanned<String>>,
    /// `COUNT` of each `SCAN MATCH exhausted_deliveries:*` step. Default: 1000.
    pub delivery_scan_count: Option<Spanned<i64>>,
    /// Most `SCAN` steps per collection run (a longer walk resumes next run). Default: 50.
    pub delivery_scan_steps_per_run: Option<Spanned<i64>>,
    /// Export `sidekiq_process_last_heartbeat_age_seconds{host,identity}`. Default: false.
    pub sidekiq_heartbeat_series: Option<bool>,
    /// Also export yabeda-sidekiq's `sidekiq_jobs_waiting_count` and `sidekiq_queue_latency`.
    /// Default: false.
    pub sidekiq_yabeda_aliases: Option<bool>,
    /// Export the per-job-class `sidekiq_job_*{class}` gauges. Default: false.
    pub sidekiq_job_metrics: Option<bool>,
    /// PEM file of the CA that signed a `rediss://` server's certificate (relative to this
    /// file); default: the system trust store.
    pub tls_ca_file: Option<Spanned<String>>,
}

/// `[[probe]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawProbe {
    /// Unique among `[[probe]]` targets, `[A-Za-z0-9_.-]{1,64}`.
    pub name: Spanned<String>,
    /// `http://`, `https://` or `tcp://host:port`; must not contain a password (it would
    /// be shown unmasked).
    pub url: Spanned<String>,
    /// Time between two probes. Default: [`default_probe_interval`].
    pub interval: Option<Spanned<String>>,
    /// Time a probe may take; shorter than `interval`. Default: [`default_probe_timeout`].
    pub timeout: Option<Spanned<String>>,
    /// A successful attempt slower than this is degraded; shorter than `timeout`. Default:
    /// not set.
    pub degraded_after: Option<Spanned<String>>,
    /// HTTP method. Default: `GET`.
    pub method: Option<Spanned<String>>,
    /// Accepted status codes (100–599). Default: any 2xx.
    pub expect_status: Option<Spanned<Vec<Spanned<i64>>>>,
    /// The body must contain this text.
    pub body_contains: Option<Spanned<String>>,
    /// The body must match this regular expression (regex crate syntax).
    pub body_regex: Option<Spanned<String>>,
    /// The body must be JSON with a value at this RFC 6901 pointer (`""`: any JSON).
    pub json_pointer: Option<Spanned<String>>,
    /// The value at `json_pointer` must equal this (strings by text, other values by their
    /// JSON form such as `true` or `42`).
    pub json_equals: Option<Spanned<String>>,
    /// Request headers; the values are secrets.
    #[serde(default)]
    pub headers: BTreeMap<Spanned<String>, Spanned<String>>,
    /// Request body.
    pub body: Option<Spanned<String>>,
    /// Follow redirects. Default: true.
    pub follow_redirects: Option<bool>,
    /// At most this many redirects. Default: [`default_max_redirects`].
    pub max_redirects: Option<Spanned<i64>>,
    /// Extra trusted CA certificates (PEM), added to the system roots. A relative path is
    /// relative to the config file's directory.
    pub ca_file: Option<Spanned<String>>,
    /// Do not verify the server certificate. Default: false.
    pub insecure_skip_verify: Option<bool>,
    /// Larger response bodies fail the attempt. Default: [`default_max_body_bytes`].
    pub max_body_bytes: Option<Spanned<i64>>,
    /// Append `_fedimeter=<unique>` to the query of every attempt. Default: false.
    pub cache_bust: Option<bool>,
    /// Fetch the URL found in a JSON document instead of `url` (the media preset without
    /// `media_canary_url`). Default: not set.
    pub discover_url: Option<Spanned<RawDiscoverUrl>>,
}

/// `discover_url = { from = "/api/v2/instance", pointer = "/thumbnail/url" }` of a probe.
#[derive(Debug, Deserialize)]
#[serde(
    deny_unknown_fields,
    expecting = "a table with from, pointer and every"
)]
pub struct RawDiscoverUrl {
    /// Path or absolute http(s) URL of the JSON document, relative to the probe's `url`.
    pub from: Spanned<String>,
    /// RFC 6901 pointer to the URL string in that document.
    pub pointer: Spanned<String>,
    /// Discover again after this long. Default: [`default_discover_every`].
    pub every: Option<Spanned<String>>,
}

/// `every` of a probe's `discover_url`: one hour.
pub fn default_discover_every() -> std::time::Duration {
    super::options::DEFAULT_DISCOVER_EVERY
}

/// `max_redirects` of `[[probe]]` targets.
pub fn default_max_redirects() -> u32 {
    super::options::DEFAULT_MAX_REDIRECTS
}

/// `max_body_bytes` of `[[probe]]` targets: 10 MiB.
pub fn default_max_body_bytes() -> usize {
    super::options::DEFAULT_MAX_BODY_BYTES
}

/// `[[discord]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawDiscord {
    /// Unique among `[[discord]]` channels, `[A-Za-z0-9_.-]{1,64}`.
    pub name: Spanned<String>,
    /// The channel's webhook URL (`https://`; `http://` only to a loopback address, for
    /// tests). A secret as a whole: it carries the webhook token.
    pub webhook_url: Spanned<String>,
    /// Routes into one Discord channel share its rate limit. Default: the route's name.
    pub channel: Option<Spanned<String>>,
    /// Alerts of this severity and above. Default `info` (all).
    pub min_severity: Option<Spanned<String>>,
    /// Only alerts of these components. Default: all.
    pub components: Option<Spanned<Vec<Spanned<String>>>>,
    /// A role id mentioned (in `content`) for critical alerts that fire.
    pub mention_role: Option<Spanned<String>>,
    /// Post a short notice after editing the original message on resolve. Default true.
    pub resolved_notice: Option<Spanned<bool>>,
}

/// `[otlp]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawOtlp {
    /// The collector's `http://` or `https://` URL.
    pub endpoint: Spanned<String>,
    /// `grpc` or `http/protobuf`. Default: [`default_otlp_protocol`].
    pub protocol: Option<Spanned<String>>,
    /// Time between two pushes. Default: [`default_otlp_interval`].
    pub interval: Option<Spanned<String>>,
    /// Extra request headers (an API key, …); the values are secrets.
    #[serde(default)]
    pub headers: BTreeMap<Spanned<String>, Spanned<String>>,
}

/// `[sli]`; every key is a duration, defaults in `sli::SliOptions::default()`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawSli {
    /// How often components are evaluated. Default 15s.
    pub evaluate_every: Option<Spanned<String>>,
    /// How often history is written to the store. Default 60s.
    pub flush_every: Option<Spanned<String>>,
    /// How often availability, budgets and burn rates are recomputed. Default 60s.
    pub recompute_every: Option<Spanned<String>>,
    /// How long every probe attempt is kept. Default 14d.
    pub raw_retention: Option<Spanned<String>>,
    /// How long per-minute and per-hour buckets are kept. Default 400d.
    pub bucket_retention: Option<Spanned<String>>,
    /// How long daily figures and component state intervals are kept. Default 400d.
    pub history_retention: Option<Spanned<String>>,
}

/// `[[component]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawComponent {
    /// Shown on the page, e.g. "Website & API".
    pub name: Spanned<String>,
    /// The `component`/`sli` label value and store key; default: a slug of `name`.
    pub id: Option<Spanned<String>>,
    /// One line under the name on the page. Default: empty.
    pub description: Option<Spanned<String>>,
    /// `[[probe]]` names whose state defines the component.
    #[serde(default)]
    pub probes: Vec<Spanned<String>>,
    /// `[[component.threshold]]`: limits on collected gauges.
    #[serde(default)]
    pub threshold: Vec<Spanned<RawThreshold>>,
    /// Availability objective, between 0 and 1. Default 0.995.
    pub objective: Option<Spanned<f64>>,
    /// Consecutive failed probe attempts before a probe counts as down. Default 3.
    pub failures_to_down: Option<Spanned<i64>>,
    /// Consecutive good attempts before a down probe counts as up again. Default 2.
    pub successes_to_up: Option<Spanned<i64>>,
    /// Threshold series older than this are ignored (no data). Default 5m.
    pub stale_after: Option<Spanned<String>>,
}

/// `[[component.threshold]]`
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawThreshold {
    /// Metric family name as on `/metrics`, e.g. `sidekiq_queue_latency_seconds`.
    pub metric: Spanned<String>,
    /// Label equality matchers, e.g. `{ name = "ingress" }`.
    #[serde(default)]
    pub labels: BTreeMap<Spanned<String>, Spanned<String>>,
    /// Only series of targets of this kind (`postgres`, `pgbouncer`, `redis`, `probe`).
    pub target_kind: Option<Spanned<String>>,
    /// Only series of the target with this name.
    pub target: Option<Spanned<String>>,
    /// Above this value: `degraded_performance`.
    pub degraded_above: Option<Spanned<f64>>,
    /// Above this value: `partial_outage`.
    pub partial_outage_above: Option<Spanned<f64>>,
    /// Above this value: `major_outage`.
    pub major_outage_above: Option<Spanned<f64>>,
}

/// `[[maintenance]]`: either `start` + `end`, or `at` + `duration` (+ `weekdays`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawMaintenance {
    /// Shown on the page.
    pub title: Spanned<String>,
    /// Component ids; default: every component.
    #[serde(default)]
    pub components: Vec<Spanned<String>>,
    /// One-off: RFC 3339 start, e.g. "2026-11-29T02:00:00Z".
    pub start: Option<Spanned<String>>,
    /// One-off: RFC 3339 end.
    pub end: Option<Spanned<String>>,
    /// Recurring: `mon` … `sun`; default: every day.
    #[serde(default)]
    pub weekdays: Vec<Spanned<String>>,
    /// Recurring: UTC time of day, `HH:MM`.
    pub at: Option<Spanned<String>>,
    /// Recurring: how long, e.g. "30m".
    pub duration: Option<Spanned<String>>,
}

/// `listen`: loopback only, port 9480.
pub fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 9480))
}

/// `site.title`.
pub fn default_site_title() -> &'static str {
    "Service status"
}

/// `site.location`.
pub fn default_site_location() -> &'static str {
    "default"
}

/// `store.url`: an SQLite file in the working directory.
pub fn default_store_url() -> &'static str {
    "sqlite://fedimeter.db"
}

/// `interval` of `[[postgres]]`, `[[pgbouncer]]` and `[[redis]]` targets.
pub fn default_interval() -> Duration {
    Duration::from_secs(15)
}

/// `timeout` of `[[postgres]]`, `[[pgbouncer]]` and `[[redis]]` targets.
pub fn default_timeout() -> Duration {
    Duration::from_secs(5)
}

/// `interval` of `[[probe]]` targets.
pub fn default_probe_interval() -> Duration {
    Duration::from_secs(30)
}

/// `timeout` of `[[probe]]` targets.
pub fn default_probe_timeout() -> Duration {
    Duration::from_secs(10)
}

/// `otlp.protocol`.
pub fn default_otlp_protocol() -> &'static str {
    "grpc"
}

/// `otlp.interval`.
pub fn default_otlp_interval() -> Duration {
    Duration::from_secs(30)
}

/// A syntax or structure error from the TOML parser or serde, at a byte span of the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TomlError {
    pub span: Option<std::ops::Range<usize>>,
    /// Path of the key the error is about (`postgres[0].nmae`), when it could be found.
    pub key: Option<String>,
    pub message: String,
}

/// The outcome of [`from_toml`]: the raw config when the text could be deserialized (after
/// setting aside the entries that had errors), and every error found.
#[derive(Debug, Default)]
pub struct ParsedToml {
    pub raw: Option<RawConfig>,
    pub errors: Vec<TomlError>,
}

/// Parses `text` into a [`RawConfig`].
///
/// All syntax errors are reported at once (the parser recovers). serde stops at the first
/// structural error, so when that error is about one removable entry (an unknown key, a value
/// of the wrong type) the entry is set aside and deserialization is tried again, up to a
/// bound: the user sees every unknown key and wrong type of the file in one run, and the
/// rest of the file is still validated. An error that is about a whole array element (a
/// missing required key) ends the process: removing the element would renumber the others.
pub fn from_toml(text: &str) -> ParsedToml {
    let (mut root, syntax) = DeTable::parse_recoverable(text);
    if !syntax.is_empty() {
        let mut errors: Vec<TomlError> = syntax
            .iter()
            .map(|e| TomlError {
                span: e.span(),
                key: None,
                message: e.message().to_string(),
            })
            .collect();
        errors.sort_by_key(|e| e.span.as_ref().map(|s| s.start));
        return ParsedToml { raw: None, errors };
    }
    let mut errors: Vec<TomlError> = Vec::new();
    // (path of the removed entry) — to recognise serde's follow-up `missing field` error.
    let mut removed: Vec<Vec<Segment>> = Vec::new();
    for _ in 0..MAX_SET_ASIDE {
        let error = match RawConfig::deserialize(toml::de::Deserializer::from(root.clone())) {
            Ok(raw) => {
                return ParsedToml {
                    raw: Some(raw),
                    errors,
                };
            }
            Err(error) => error,
        };
        let located = error.span().and_then(|span| {
            let mut path = Vec::new();
            locate_in_table(root.get_ref(), &span, &mut path)
        });
        if is_follow_up(error.message(), located.as_ref(), &removed) {
            break;
        }
        let (key, message) = match located.as_ref() {
            Some(l) => explain(&l.path, error.message()),
            None => (None, error.message().to_string()),
        };
        errors.push(TomlError {
            span: error.span(),
            key,
            message,
        });
        match located {
            Some(l) if l.removable && remove(root.get_mut(), &l.path) => removed.push(l.path),
            _ => break,
        }
    }
    ParsedToml { raw: None, errors }
}

/// How many entries [`from_toml`] sets aside before it gives up.
const MAX_SET_ASIDE: usize = 100;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

struct Located {
    path: Vec<Segment>,
    /// The path ends with a table key, which can be removed without renumbering anything.
    removable: bool,
}

/// The deepest key or value of `table` whose span is exactly `span`.
fn locate_in_table(
    table: &DeTable<'_>,
    span: &std::ops::Range<usize>,
    path: &mut Vec<Segment>,
) -> Option<Located> {
    for (key, value) in table.iter() {
        path.push(Segment::Key(key.get_ref().to_string()));
        if key.span() == *span {
            return Some(Located {
                path: path.clone(),
                removable: true,
            });
        }
        if let Some(found) = locate_in_value(value, span, path) {
            return Some(found);
        }
        if value.span() == *span {
            return Some(Located {
                path: path.clone(),
                removable: true,
            });
        }
        path.pop();
    }
    None
}

fn locate_in_value(
    value: &Spanned<DeValue<'_>>,
    span: &std::ops::Range<usize>,
    path: &mut Vec<Segment>,
) -> Option<Located> {
    match value.get_ref() {
        DeValue::Table(table) => locate_in_table(table, span, path),
        DeValue::Array(array) => {
            for (i, element) in array.iter().enumerate() {
                path.push(Segment::Index(i));
                if let Some(found) = locate_in_value(element, span, path) {
                    return Some(found);
                }
                if element.span() == *span {
                    return Some(Located {
                        path: path.clone(),
                        removable: false,
                    });
                }
                path.pop();
            }
            None
        }
        _ => None,
    }
}

/// Removes the entry at `path` (which ends with a key); false when it is not there.
fn remove(table: &mut DeTable<'_>, path: &[Segment]) -> bool {
    match path {
        [Segment::Key(last)] => table.remove(last.as_str()).is_some(),
        [Segment::Key(first), rest @ ..] => match table.get_mut(first.as_str()) {
            Some(value) => remove_in_value(value.get_mut(), rest),
            None => false,
        },
        _ => false,
    }
}

fn remove_in_value(value: &mut DeValue<'_>, path: &[Segment]) -> bool {
    match (value, path) {
        (DeValue::Table(table), _) => remove(table, path),
        (DeValue::Array(array), [Segment::Index(i), rest @ ..]) => match array.get_mut(*i) {
            Some(element) => remove_in_value(element.get_mut(), rest),
            None => false,
        },
        _ => false,
    }
}

/// serde's `missing field `x`` on the table from which `x` was just set aside: the
/// consequence of an error already reported, not a new one.
fn is_follow_up(message: &str, located: Option<&Located>, removed: &[Vec<Segment>]) -> bool {
    let Some(field) = message
        .strip_prefix("missing field `")
        .and_then(|m| m.strip_suffix('`'))
    else {
        return false;
    };
    let table_path = located.map_or(&[][..], |l| l.path.as_slice());
    removed.iter().any(|r| {
        r.len() == table_path.len() + 1
            && r.starts_with(table_path)
            && r.last() == Some(&Segment::Key(field.to_string()))
    })
}

/// The key path of an error, and its message, made clearer where serde's would confuse:
/// `[[site]]` for `[site]` and `[postgres]` for `[[postgres]]`.
fn explain(path: &[Segment], message: &str) -> (Option<String>, String) {
    const TABLES: [&str; 4] = ["site", "store", "mastodon", "otlp"];
    const ARRAYS: [&str; 6] = [
        "postgres",
        "pgbouncer",
        "redis",
        "probe",
        "discord",
        "alert",
    ];
    match path {
        [Segment::Key(k), Segment::Index(_)] if TABLES.contains(&k.as_str()) => (
            Some(k.clone()),
            format!("expected a table [{k}], found an array of tables [[{k}]]"),
        ),
        [Segment::Key(k)]
            if ARRAYS.contains(&k.as_str())
                && message == "invalid type: map, expected a sequence" =>
        {
            (
                Some(k.clone()),
                format!("expected an array of tables [[{k}]], found a table [{k}]"),
            )
        }
        _ => (Some(render_path(path)), message.to_string()),
    }
}

/// A key as it appears in an error's key path: bare when TOML allows it, else quoted
/// (`x-api-key`, `"x api"`).
pub fn key_segment(key: &str) -> String {
    let bare = !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare {
        key.to_string()
    } else {
        format!("{key:?}")
    }
}

/// `postgres[0].timeout`, `otlp.headers."x api"`.
fn render_path(path: &[Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Key(key) => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(&key_segment(key));
            }
            Segment::Index(i) => out.push_str(&format!("[{i}]")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// (text, expected errors as `start: key: message`, whether a RawConfig came out)
    fn check(text: &str, want: &[&str], raw_expected: bool) {
        let parsed = from_toml(text);
        let got: Vec<String> = parsed
            .errors
            .iter()
            .map(|e| {
                format!(
                    "{}: {}: {}",
                    e.span.as_ref().map_or(0, |s| s.start),
                    e.key.as_deref().unwrap_or("-"),
                    e.message
                )
            })
            .collect();
        assert_eq!(got, want, "{text:?}");
        assert_eq!(parsed.raw.is_some(), raw_expected, "{text:?}");
    }

    #[test]
    fn structural_errors_table() {
        check("listen = \"127.0.0.1:1\"\n", &[], true);
        check(
            "foo = 1\n[site]\ntitel = \"x\"\n",
            &[
                "0: foo: unknown field `foo`, expected one of `listen`, `metrics_listen`, `site`, `store`, `mastodon`, `postgres`, `pgbouncer`, `redis`, `probe`, `discord`, `otlp`, `sli`, `component`, `maintenance`, `alerting`, `alert`",
                "15: site.titel: unknown field `titel`, expected one of `title`, `location`, `public_url`, `logo`, `about`",
            ],
            true,
        );
        check(
            "[[redis]]\nname = \"a\"\nsidekiq = \"yes\"\n",
            &["31: redis[0].sidekiq: invalid type: string \"yes\", expected a boolean"],
            true,
        );
        check(
            "[[probe]]\nname = 5\nurl = \"http://x\"\n",
            &["17: probe[0].name: invalid type: integer `5`, expected a string"],
            false,
        );
        check(
            "[[probe]]\nurl = \"http://x\"\n",
            &["0: probe[0]: missing field `name`"],
            false,
        );
        check(
            "[postgres]\nname = \"a\"\n",
            &["0: postgres: expected an array of tables [[postgres]], found a table [postgres]"],
            true,
        );
        check(
            "[[site]]\ntitle = \"a\"\n",
            &["0: site: expected a table [site], found an array of tables [[site]]"],
            false,
        );
        check(
            "[otlp]\nendpoint = \"http://x\"\nheaders = { \"x y\" = 1 }\n",
            &["49: otlp.headers.\"x y\": invalid type: integer `1`, expected a string"],
            true,
        );
    }

    #[test]
    fn every_syntax_error_is_reported_in_order() {
        check(
            "listen = \"x\nfoo = = 1\n[[a]\n",
            &[
                "11: -: invalid basic string, expected `\"`",
                "18: -: extra `=`, expected nothing",
                "20: -: unexpected key or value, expected newline, `#`",
                "26: -: unclosed array table, expected `]`",
            ],
            false,
        );
    }
}
