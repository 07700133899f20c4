//! The option types of every section and their defaults: one place for each default.
//!
//! `validate` fills these from the raw TOML (an absent key keeps the value of the type's
//! `Default`), the collectors and the SLI engine consume them, and `fedimeter.example.toml`
//! states the same defaults in its `# Default: …` comments (checked by a test in
//! `tests/config.rs`). The collector modules re-export their own option type
//! (`collect::postgres::PostgresOptions`, …) for convenience.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use super::Secret;

// ---------------------------------------------------------------------------------------
// [[postgres]]
// ---------------------------------------------------------------------------------------

/// Tuning of one PostgreSQL target (`[[postgres]]` keys of the same names).
#[derive(Debug, Clone, PartialEq)]
pub struct PostgresOptions {
    /// `statement_timeout` of fedimeter's session: no query runs longer. Default 2 s.
    pub statement_timeout: Duration,
    /// `lock_timeout` of fedimeter's session: no query waits longer for a lock (e.g.
    /// behind a migration's `ACCESS EXCLUSIVE`). Default 1 s.
    pub lock_timeout: Duration,
    /// How often database sizes (`pg_database_size`) and table sizes are measured; cached
    /// in between. Default 5 min.
    pub size_interval: Duration,
    /// How often `pg_settings` is read; cached in between. Default 5 min.
    pub settings_interval: Duration,
    /// Per-table series (`pg_stat_user_tables_*`) only for this many tables, the largest
    /// first. Default 50; 0 turns per-table series off.
    pub table_limit: usize,
    /// Collect the `mastodon_*` gauges when the database holds Mastodon's schema. Default on.
    pub mastodon: bool,
    /// Cadence of open reports, pending sign-ups and status freshness. Default 1 min.
    pub mastodon_fast_interval: Duration,
    /// Cadence of user counts, unavailable domains and row estimates. Default 5 min.
    pub mastodon_interval: Duration,
    /// Cadence of pending software updates. Default 15 min.
    pub mastodon_slow_interval: Duration,
    /// Export the top statements of `pg_stat_statements` (`pg_stat_statements_*_total`, as
    /// postgres_exporter's `stat_statements` collector). Off by default.
    pub stat_statements: bool,
    /// With `stat_statements`: this many statements, by total execution time. Default 100.
    pub stat_statements_limit: usize,
    /// With `stat_statements`: how often `pg_stat_statements` is read; cached in between.
    /// Default 1 min.
    pub stat_statements_interval: Duration,
    /// Export `pg_statio_user_indexes_idx_blks_{read,hit}_total` per index. Off by default.
    pub statio_user_indexes: bool,
}

/// Upper bound of [`PostgresOptions::stat_statements_limit`].
pub const MAX_STAT_STATEMENTS_LIMIT: usize = 1000;

impl Default for PostgresOptions {
    fn default() -> Self {
        PostgresOptions {
            statement_timeout: Duration::from_secs(2),
            lock_timeout: Duration::from_secs(1),
            size_interval: Duration::from_secs(300),
            settings_interval: Duration::from_secs(300),
            table_limit: 50,
            mastodon: true,
            mastodon_fast_interval: Duration::from_secs(60),
            mastodon_interval: Duration::from_secs(300),
            mastodon_slow_interval: Duration::from_secs(900),
            stat_statements: false,
            stat_statements_limit: 100,
            stat_statements_interval: Duration::from_secs(60),
            statio_user_indexes: false,
        }
    }
}

// ---------------------------------------------------------------------------------------
// [[pgbouncer]]
// ---------------------------------------------------------------------------------------

/// Per-target options of the PgBouncer collector (`[[pgbouncer]]` keys besides `url`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PgbouncerOptions {
    /// Export `pgbouncer_client_connections{database,user,application_name,state}`, the
    /// number of client connections from `SHOW CLIENTS`. Off by default: `SHOW CLIENTS` lists
    /// every client (its cost grows with the number of clients), and `application_name` is
    /// chosen by the clients, so it can add many series.
    pub client_connections: bool,
    /// With `client_connections`: at most this many distinct `application_name` values are
    /// exported (those with the most connections, ties by name); the connections of all
    /// other applications are counted under `application_name="other"`.
    pub client_connections_max_application_names: usize,
    /// At most this many rows of `SHOW POOLS`, `SHOW DATABASES` and `SHOW STATS_TOTALS` each
    /// are exported; further rows are dropped (and a warning is logged once). Protects the
    /// time-series database when `auto-database` (`*`) lets clients create pools at will.
    pub max_pools: usize,
    /// Also export the `SHOW STATS_TOTALS` counters under pgbouncer_exporter's pre-0.11
    /// names (`pgbouncer_stats_queries_pooled_total`, …), which widely used dashboards
    /// still query. Off by default, so that series are not doubled silently.
    pub legacy_names: bool,
}

/// Default of [`PgbouncerOptions::client_connections`].
pub const DEFAULT_CLIENT_CONNECTIONS: bool = false;
/// Default of [`PgbouncerOptions::client_connections_max_application_names`].
pub const DEFAULT_CLIENT_CONNECTIONS_MAX_APPLICATION_NAMES: usize = 20;
/// Default of [`PgbouncerOptions::max_pools`].
pub const DEFAULT_MAX_POOLS: usize = 1000;
/// Default of [`PgbouncerOptions::legacy_names`].
pub const DEFAULT_LEGACY_NAMES: bool = false;

impl Default for PgbouncerOptions {
    fn default() -> Self {
        PgbouncerOptions {
            client_connections: DEFAULT_CLIENT_CONNECTIONS,
            client_connections_max_application_names:
                DEFAULT_CLIENT_CONNECTIONS_MAX_APPLICATION_NAMES,
            max_pools: DEFAULT_MAX_POOLS,
            legacy_names: DEFAULT_LEGACY_NAMES,
        }
    }
}

// ---------------------------------------------------------------------------------------
// [[redis]]
// ---------------------------------------------------------------------------------------

/// Tuning of a `[[redis]]` target; every field has a default.
#[derive(Debug, Clone, PartialEq)]
pub struct RedisOptions {
    /// Most Sidekiq queues that are read and get per-queue series (`sidekiq_queue_*{name}`,
    /// `redis_key_size{key="queue:…"}`). Mastodon's own queues come first, the rest in name
    /// order; queues beyond the cap are left out of every family, including the
    /// `sidekiq_enqueued_jobs` total, and a warning is logged. Default 100.
    pub sidekiq_queue_limit: usize,
    /// Queues that must be served by at least one live Sidekiq process
    /// (`sidekiq_queue_uncovered{name}`); Mastodon's admin check. Default: `default, push,
    /// ingress, mailers, pull, scheduler, fasp` (drop `fasp` before Mastodon 4.4; an empty
    /// list turns the family off).
    pub mastodon_queues: Vec<String>,
    /// Export `mastodon_monthly_active_users` and `mastodon_delivery_failing_domains` from
    /// this Redis (Mastodon's base Redis). Default (`None`): when `sidekiq = true`.
    pub mastodon_gauges: Option<bool>,
    /// How often the Mastodon gauges are recomputed; between, the last values are exported.
    /// Default 10 minutes.
    pub mastodon_gauges_interval: Duration,
    /// `COUNT` hint of each `SCAN MATCH exhausted_deliveries:*` step. Default 1000.
    pub delivery_scan_count: u32,
    /// Most `SCAN` steps per collection run; a longer walk resumes in the next run and
    /// the gauge keeps its previous value until a walk completes. Default 50.
    pub delivery_scan_steps_per_run: u32,
    /// Export `sidekiq_process_last_heartbeat_age_seconds{host,identity}` (one series per
    /// process, so off by default).
    pub sidekiq_heartbeat_series: bool,
    /// Also export yabeda-sidekiq's `sidekiq_jobs_waiting_count{queue}` and
    /// `sidekiq_queue_latency{queue}`. Default off.
    pub sidekiq_yabeda_aliases: bool,
    /// Export `sidekiq_job_{processed,failed,execution_time_seconds}{class}` over the last
    /// hour from the metrics Sidekiq keeps in Redis (120 small `HGETALL`s per run, at most
    /// 100 classes + `other`). Default off.
    pub sidekiq_job_metrics: bool,
    /// PEM file with the CA certificate(s) that signed the server certificate of a
    /// `rediss://` target, instead of the system trust store. Default: none (system roots).
    pub tls_ca_file: Option<PathBuf>,
}

/// Mastodon's queues (`config/sidekiq.yml`, 4.4+).
pub const DEFAULT_MASTODON_QUEUES: [&str; 7] = [
    "default",
    "push",
    "ingress",
    "mailers",
    "pull",
    "scheduler",
    "fasp",
];

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            sidekiq_queue_limit: 100,
            mastodon_queues: DEFAULT_MASTODON_QUEUES
                .iter()
                .map(|q| q.to_string())
                .collect(),
            mastodon_gauges: None,
            mastodon_gauges_interval: Duration::from_secs(600),
            delivery_scan_count: 1000,
            delivery_scan_steps_per_run: 50,
            sidekiq_heartbeat_series: false,
            sidekiq_yabeda_aliases: false,
            sidekiq_job_metrics: false,
            tls_ca_file: None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// [[probe]]
// ---------------------------------------------------------------------------------------

/// Options of one `[[probe]]` beyond name, url, interval and timeout.
#[derive(Debug, Clone)]
pub struct ProbeOptions {
    /// HTTP method (`method`, default `GET`).
    pub method: ::http::Method,
    /// Expected status codes (`expect_status`); empty (the default) means any 2xx.
    pub expect_status: Vec<u16>,
    /// The body must contain this text (`body_contains`).
    pub body_contains: Option<String>,
    /// The body must match this regular expression (`body_regex`).
    pub body_regex: Option<regex::Regex>,
    /// The body must be JSON with a value at this RFC 6901 pointer (`json_pointer`, e.g.
    /// `/status`).
    pub json_pointer: Option<String>,
    /// … and that value must equal this (`json_equals`; strings compare by text, other
    /// values by their JSON form such as `true` or `42`).
    pub json_equals: Option<String>,
    /// Request headers (`headers = { Authorization = "Bearer ${TOKEN}" }`); values are
    /// secrets and never logged.
    pub headers: Vec<(String, Secret<String>)>,
    /// Request body (`body`), sent with the method (e.g. POST).
    pub body: Option<String>,
    /// Follow redirects (`follow_redirects`, default true); when false a 3xx is the final
    /// answer (expect it with `expect_status = [301]`).
    pub follow_redirects: bool,
    /// At most this many redirects (`max_redirects`, default 10); more fail the attempt.
    pub max_redirects: u32,
    /// Extra trusted CA certificates, PEM (`ca_file`), added to the system roots.
    pub ca_file: Option<PathBuf>,
    /// Connect to this address instead of resolving the URL's host (set on the preset
    /// probes by `[mastodon] connect_to`); the URL, `Host` header and TLS name are unchanged.
    pub connect_to: Option<SocketAddr>,
    /// Do not verify the server certificate (`insecure_skip_verify`, default false).
    /// Certificate facts are still exported.
    pub insecure_skip_verify: bool,
    /// A successful attempt slower than this counts as degraded (`degraded_after`).
    pub degraded_after: Option<Duration>,
    /// Bodies larger than this fail the attempt (`max_body_bytes`, default 10 MiB).
    pub max_body_bytes: usize,
    /// Append `_fedimeter=<unique>` to the query of every attempt so no cache answers
    /// (`cache_bust`, default false).
    pub cache_bust: bool,
    /// Fetch a URL discovered from a JSON document instead of `url` (`discover_url`);
    /// `url` is then the base that [`DiscoverUrl::from`] is resolved against.
    pub discover_url: Option<DiscoverUrl>,
}

/// `discover_url = { from = "/api/v2/instance", pointer = "/thumbnail/url", every = "1h" }`
/// of a probe: one uncached GET of `from` (relative to the probe's `url`), whose JSON holds
/// the URL to fetch at `pointer`. Discovered again after `every`, after the fetched URL
/// answered 404, and on every attempt while no discovery has succeeded yet; while discovery
/// fails the last discovered URL is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverUrl {
    /// Path (or absolute http(s) URL) of the JSON document.
    pub from: String,
    /// RFC 6901 pointer to a string: the URL to fetch (absolute, or relative to `from`).
    pub pointer: String,
    /// How long a discovered URL is used before it is discovered again.
    pub every: Duration,
}

/// Default of [`DiscoverUrl::every`]: one hour.
pub const DEFAULT_DISCOVER_EVERY: Duration = Duration::from_secs(3600);

/// Default of [`ProbeOptions::max_redirects`].
pub const DEFAULT_MAX_REDIRECTS: u32 = 10;
/// Default of [`ProbeOptions::max_body_bytes`].
pub const DEFAULT_MAX_BODY_BYTES: usize = 10 * 1024 * 1024;

impl Default for ProbeOptions {
    fn default() -> Self {
        ProbeOptions {
            method: ::http::Method::GET,
            expect_status: Vec::new(),
            body_contains: None,
            body_regex: None,
            json_pointer: None,
            json_equals: None,
            headers: Vec::new(),
            body: None,
            follow_redirects: true,
            max_redirects: DEFAULT_MAX_REDIRECTS,
            ca_file: None,
            connect_to: None,
            insecure_skip_verify: false,
            degraded_after: None,
            max_body_bytes: DEFAULT_MAX_BODY_BYTES,
            cache_bust: false,
            discover_url: None,
        }
    }
}

// ---------------------------------------------------------------------------------------
// [[component]] and [sli]
// ---------------------------------------------------------------------------------------

/// Per-component settings (`[[component]]` keys besides the signals).
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentOptions {
    /// Availability objective for the error budget and burn rates (default 0.995 = 99.5 %).
    pub objective: f64,
    /// Consecutive failed attempts before a probe counts as down (default 3).
    pub failures_to_down: u32,
    /// Consecutive successful attempts before a down probe counts as up again (default 2).
    pub successes_to_up: u32,
    /// Threshold signals whose series are older than this are ignored (no data), e.g. when
    /// the collector behind them stopped (default 5 min).
    pub stale_after: Duration,
}

impl Default for ComponentOptions {
    fn default() -> Self {
        ComponentOptions {
            objective: 0.995,
            failures_to_down: 3,
            successes_to_up: 2,
            stale_after: Duration::from_secs(300),
        }
    }
}

/// Process-wide SLI settings (`[sli]`).
#[derive(Debug, Clone, PartialEq)]
pub struct SliOptions {
    /// How often components are evaluated (default 15 s); a minute's state is the worst
    /// state evaluated in it.
    pub evaluate_every: Duration,
    /// How often batches are written to the store (default 60 s).
    pub flush_every: Duration,
    /// How often the SLI windows are recomputed and published (default 60 s).
    pub recompute_every: Duration,
    /// How long raw probe attempts are kept (default 14 days).
    pub raw_retention: Duration,
    /// How long per-minute and per-hour buckets are kept (default 400 days).
    pub bucket_retention: Duration,
    /// How long daily rollups and component state intervals are kept (default 400 days).
    pub history_retention: Duration,
    /// How often old rows are pruned (default 1 h).
    pub prune_every: Duration,
}

impl Default for SliOptions {
    fn default() -> Self {
        const DAY: u64 = 86_400;
        SliOptions {
            evaluate_every: Duration::from_secs(15),
            flush_every: Duration::from_secs(60),
            recompute_every: Duration::from_secs(60),
            raw_retention: Duration::from_secs(14 * DAY),
            bucket_retention: Duration::from_secs(400 * DAY),
            history_retention: Duration::from_secs(400 * DAY),
            prune_every: Duration::from_secs(3600),
        }
    }
}
