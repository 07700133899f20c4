//! The `[[redis]]` collector: Redis' own health from `INFO`, and — when the target says
//! `sidekiq = true` — Sidekiq's queues and processes ([`super::sidekiq`]) and Mastodon's
//! Redis gauges ([`super::mastodon_redis`]), all over one connection kept across runs.
//!
//! What Redis sees per run: `INFO` (`INFO ALL` at first; on Redis ≥ 7 then only the needed
//! sections) and Sidekiq's fixed reads in one pipeline, then one
//! more pipeline with the per-queue and per-process reads. Nothing else, and in particular
//! never `KEYS`, `CONFIG` or `CLIENT …` (managed Redis forbids them): the client is built
//! with `CLIENT SETINFO` switched off, and `maxmemory` comes from `INFO memory`. Mastodon's
//! delivery-failure count walks the keyspace with a bounded `SCAN` on a slow cadence.
//!
//! Names, types and labels follow redis_exporter (oliver006), see `METRICS.md`. The pure part,
//! [`parse_info`] and [`info_samples`], is tested on captured `INFO ALL` outputs in
//! `tests/fixtures/redis/`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, IntoConnectionInfo, Pipeline, Value};

use super::health::{Classified, classify_redis};
use super::mastodon_redis::MastodonGauges;
use super::runner::Job;
use super::sidekiq::{self, SidekiqKeys};
use super::{Collector, Sink};
use crate::config::{RedisTarget, SecretUrl};
use crate::model::{Kind, MetricDesc, Reason, TargetId};

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
            tls_ca_file: None,
        }
    }
}

/// The job for one `[[redis]]` target.
pub fn job(target: &RedisTarget) -> Job {
    Job {
        id: TargetId::new(Kind::Redis, &target.common.name),
        interval: target.common.interval,
        timeout: target.common.timeout,
        collector: Box::new(RedisCollector::new(target)),
    }
}

/// Collects one Redis (and its Sidekiq). Keeps its connection across runs and drops it on
/// any transport error, so the next run reconnects (a restarted Redis is picked up without
/// restarting fedimeter).
pub struct RedisCollector {
    url: SecretUrl,
    /// Requests of one run must finish within this (a bit less than the runner's timeout,
    /// so a hung Redis gives our own clear error rather than a cancellation).
    budget: Duration,
    sidekiq: Option<SidekiqKeys>,
    options: RedisOptions,
    connection: Option<Connected>,
    mastodon: Option<MastodonGauges>,
    /// The number of queues left out by the cap at the last warning (log only on change).
    queues_left_out: usize,
    /// Whether the server takes several INFO sections in one call (Redis ≥ 7), learnt from
    /// the previous run's `redis_version`; until then `INFO ALL`.
    multi_section_info: bool,
}

struct Connected {
    connection: MultiplexedConnection,
    /// Database number from the URL, for `redis_key_size{db="db<N>"}`.
    db: i64,
}

impl RedisCollector {
    pub fn new(target: &RedisTarget) -> Self {
        let sidekiq = target
            .sidekiq
            .then(|| SidekiqKeys::new(target.namespace.as_deref()));
        let mastodon_on = target.options.mastodon_gauges.unwrap_or(target.sidekiq);
        let mastodon =
            mastodon_on.then(|| MastodonGauges::new(target.namespace.as_deref(), &target.options));
        RedisCollector {
            url: target.url.clone(),
            budget: request_budget(target.common.timeout),
            sidekiq,
            options: target.options.clone(),
            connection: None,
            mastodon,
            queues_left_out: 0,
            multi_section_info: false,
        }
    }

    async fn connect(&self) -> anyhow::Result<Connected> {
        let info = self
            .url
            .expose()
            .into_connection_info()
            .map_err(RedisFailure::from)
            .with_context(|| format!("parsing the redis url {}", self.url.redacted()))?;
        // No `CLIENT SETINFO` after connecting: managed Redis may reject `CLIENT`.
        let settings = info.redis_settings().clone().set_skip_set_lib_name();
        let db = settings.db();
        let info = info.set_redis_settings(settings);
        let client = match &self.options.tls_ca_file {
            None => redis::Client::open(info),
            Some(path) => {
                let root_cert = tokio::fs::read(path)
                    .await
                    .with_context(|| format!("reading tls_ca_file {}", path.display()))?;
                redis::Client::build_with_tls(
                    info,
                    redis::TlsCertificates {
                        client_tls: None,
                        root_cert: Some(root_cert),
                    },
                )
            }
        }
        .map_err(RedisFailure::from)
        .with_context(|| format!("setting up the redis client for {}", self.url.redacted()))?;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(Some(self.budget))
            .set_response_timeout(Some(self.budget));
        let connection = tokio::time::timeout(
            self.budget,
            client.get_multiplexed_async_connection_with_config(&config),
        )
        .await
        .map_err(|elapsed| {
            anyhow::Error::new(elapsed).context(format!(
                "redis at {} did not complete the connection within {}",
                self.url.redacted(),
                humantime::format_duration(self.budget)
            ))
        })?
        .map_err(RedisFailure::from)
        .with_context(|| format!("connecting to redis at {}", self.url.redacted()))?;
        Ok(Connected { connection, db })
    }

    /// Runs `pipe` on the kept connection (connecting first if needed). When a kept
    /// connection turns out to be broken (Redis restarted since the last run), reconnects
    /// once and retries. Any transport error drops the connection.
    async fn query(
        &mut self,
        pipe: &Pipeline,
        deadline: Instant,
        what: &str,
    ) -> anyhow::Result<Vec<Value>> {
        let reused = self.connection.is_some();
        match self.query_once(pipe, deadline, what).await {
            Ok(values) => Ok(values),
            Err(error) if reused && Instant::now() < deadline => {
                tracing::debug!(target: "fedimeter::collect", "redis connection lost, reconnecting: {error:#}");
                self.query_once(pipe, deadline, what).await
            }
            Err(error) => Err(error),
        }
    }

    async fn query_once(
        &mut self,
        pipe: &Pipeline,
        deadline: Instant,
        what: &str,
    ) -> anyhow::Result<Vec<Value>> {
        if self.connection.is_none() {
            self.connection = Some(self.connect().await?);
        }
        let Some(connected) = self.connection.as_mut() else {
            anyhow::bail!("no redis connection");
        };
        let remaining = deadline.saturating_duration_since(Instant::now());
        let result = tokio::time::timeout(
            remaining,
            pipe.query_async::<Vec<Value>>(&mut connected.connection),
        )
        .await;
        match result {
            Ok(Ok(values)) => Ok(values),
            Ok(Err(error)) => {
                self.connection = None;
                Err(anyhow::Error::new(RedisFailure::from(error))
                    .context(format!("{what} from redis at {}", self.url.redacted())))
            }
            Err(elapsed) => {
                self.connection = None;
                Err(anyhow::Error::new(elapsed).context(format!(
                    "redis at {} did not answer {what} within {}",
                    self.url.redacted(),
                    humantime::format_duration(self.budget)
                )))
            }
        }
    }

    async fn collect_inner(&mut self, sink: &mut Sink, started: Instant) -> anyhow::Result<()> {
        let deadline = started + self.budget;
        let now = unix_now();

        // Round trip 1: INFO + Sidekiq's fixed reads (+ the Mastodon MAU count when due).
        let mut pipe = redis::pipe();
        pipe.ignore_errors();
        if self.multi_section_info {
            // Only the sections the families need (no latencystats, errorstats, cpu, …).
            pipe.cmd("INFO").arg(&INFO_SECTIONS[..]);
        } else {
            pipe.cmd("INFO").arg("ALL");
        }
        if let Some(keys) = &self.sidekiq {
            keys.first_round(&mut pipe, now);
        }
        let mau_due = self
            .mastodon
            .as_mut()
            .and_then(|m| m.monthly_active_users_command(&mut pipe, now));
        let values = match self.query(&pipe, deadline, "reading INFO").await {
            Ok(values) => values,
            Err(error) => {
                if mau_due.is_some()
                    && let Some(mastodon) = self.mastodon.as_mut()
                {
                    mastodon.monthly_active_users_not_read();
                }
                return Err(error);
            }
        };
        let mut values = values.into_iter();
        let info_text = match values.next() {
            Some(Value::ServerError(error)) => {
                anyhow::bail!("redis at {} refused INFO: {error}", self.url.redacted())
            }
            Some(value) => value_text(&value)
                .with_context(|| format!("INFO from redis at {}", self.url.redacted()))?,
            None => anyhow::bail!("redis at {} sent no answer to INFO", self.url.redacted()),
        };
        let info = parse_info(&info_text);
        info_samples(&info, sink);
        self.multi_section_info = info.get("redis_version").is_some_and(takes_info_sections);

        let db = self.connection.as_ref().map_or(0, |c| c.db);
        if let Some(keys) = self.sidekiq.clone() {
            let first: Vec<Value> = values.by_ref().take(sidekiq::FIRST_ROUND_LEN).collect();
            let first = sidekiq::parse_first_round(&first, now, sink);
            let plan = sidekiq::plan_second_round(&first, &self.options);
            if plan.queues_left_out != self.queues_left_out {
                if plan.queues_left_out > 0 {
                    tracing::warn!(target: "fedimeter::collect", url = %self.url.redacted(),
                        "sidekiq has more queues than sidekiq_queue_limit ({}); {} left out of the metrics",
                        self.options.sidekiq_queue_limit, plan.queues_left_out);
                }
                self.queues_left_out = plan.queues_left_out;
            }
            let mut second = redis::pipe();
            second.ignore_errors();
            keys.second_round(&mut second, &plan);
            let second_values = if second.is_empty() {
                Ok(Vec::new())
            } else {
                self.query(&second, deadline, "reading sidekiq queues and processes")
                    .await
            };
            match second_values {
                Ok(second_values) => {
                    let now = unix_now();
                    let state = sidekiq::parse_second_round(&plan, &second_values, sink);
                    sidekiq::emit(&keys, &first, &state, &self.options, db, now, sink);
                }
                Err(error) => sink.partial_error("sidekiq queues and processes", &error),
            }
        }
        let mau_value = mau_due.map(|_| values.next().unwrap_or(Value::Nil));
        if let Some(mut mastodon) = self.mastodon.take() {
            if let Some(value) = mau_value {
                mastodon.monthly_active_users_result(&value, sink);
            }
            // Leave a quarter of the budget: the scan is the first thing to give way.
            let stop_by = started + self.budget * 3 / 4;
            let scan = mastodon
                .advance_delivery_scan(self, stop_by, deadline)
                .await;
            if let Err(error) = scan {
                sink.partial_error("mastodon delivery failure scan", &error);
            }
            mastodon.emit(sink);
            self.mastodon = Some(mastodon);
        }
        Ok(())
    }

    /// One `SCAN` step for [`MastodonGauges`]: returns the next cursor and the keys.
    pub(crate) async fn scan_step(
        &mut self,
        cursor: u64,
        pattern: &str,
        count: u32,
        deadline: Instant,
    ) -> anyhow::Result<(u64, Vec<String>)> {
        let mut pipe = redis::pipe();
        pipe.cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(count);
        let values = self.query(&pipe, deadline, "scanning keys").await?;
        sidekiq::parse_scan_reply(values.first().unwrap_or(&Value::Nil))
    }
}

#[async_trait]
impl Collector for RedisCollector {
    async fn collect(&mut self, sink: &mut Sink) -> anyhow::Result<()> {
        let started = Instant::now();
        let result = self.collect_inner(sink, started).await;
        let error_text = match &result {
            Ok(()) => String::new(),
            Err(error) => error_category(error).to_string(),
        };
        sink.sample(
            &EXPORTER_LAST_SCRAPE_ERROR,
            [error_text.as_str()],
            if result.is_ok() { 0.0 } else { 1.0 },
        );
        sink.value(
            &EXPORTER_LAST_SCRAPE_DURATION,
            started.elapsed().as_secs_f64(),
        );
        result
    }
}

/// The INFO sections the families come from.
const INFO_SECTIONS: [&str; 8] = [
    "server",
    "clients",
    "memory",
    "persistence",
    "stats",
    "replication",
    "commandstats",
    "keyspace",
];

/// Whether a `redis_version` takes several sections in one `INFO` (7.0 and later; Valkey
/// reports a 7.2 compatible `redis_version`).
fn takes_info_sections(version: &str) -> bool {
    version
        .split('.')
        .next()
        .and_then(|major| major.trim().parse::<u32>().ok())
        .is_some_and(|major| major >= 7)
}

/// 90 % of the target's timeout: our requests give up (with a clear error) before the runner
/// cancels the run.
fn request_budget(timeout: Duration) -> Duration {
    (timeout * 9 / 10).max(Duration::from_millis(10))
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

/// A redis client error, shown once: `RedisError`'s own text already includes its I/O
/// cause, which `{:#}` would otherwise print a second time.
type RedisFailure = Classified;

impl From<redis::RedisError> for RedisFailure {
    fn from(error: redis::RedisError) -> Self {
        let category = if error.is_connection_refusal() {
            "connection refused"
        } else if error.is_timeout() {
            "timeout"
        } else {
            match error.kind() {
                redis::ErrorKind::AuthenticationFailed => "authentication failed",
                redis::ErrorKind::InvalidClientConfig => "invalid url",
                redis::ErrorKind::Io => "i/o error",
                _ => "redis error",
            }
        };
        RedisFailure {
            reason: classify_redis(&error).unwrap_or(Reason::Other),
            category,
            message: error.to_string(),
        }
    }
}

/// A short, secret-free description of why a run failed, for
/// `redis_exporter_last_scrape_error{err}` (the full chain goes to the log).
fn error_category(error: &anyhow::Error) -> &'static str {
    for cause in error.chain() {
        if let Some(failure) = cause.downcast_ref::<RedisFailure>() {
            return failure.category;
        }
    }
    let text = format!("{error:#}");
    if text.contains("did not answer") || text.contains("did not complete") {
        "timeout"
    } else {
        "error"
    }
}

/// The text of a bulk/simple/verbatim string reply.
pub(crate) fn value_text(value: &Value) -> anyhow::Result<String> {
    match value {
        Value::BulkString(bytes) => Ok(String::from_utf8_lossy(bytes).into_owned()),
        Value::SimpleString(s) => Ok(s.clone()),
        Value::VerbatimString { text, .. } => Ok(text.clone()),
        Value::ServerError(error) => anyhow::bail!("redis error: {error}"),
        other => anyhow::bail!("unexpected reply {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------
// INFO parsing (pure)
// ---------------------------------------------------------------------------------------

/// `INFO` output split into its plain `field:value` lines and the structured sections.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Info<'a> {
    /// Every `field:value` line outside `# Commandstats` and `# Keyspace`.
    pub fields: BTreeMap<&'a str, &'a str>,
    /// `cmdstat_<cmd>:calls=…,usec=…`: command → (calls, usec).
    pub commands: BTreeMap<&'a str, (f64, f64)>,
    /// `db<N>:keys=…,expires=…`: db → (keys, expires).
    pub keyspace: BTreeMap<&'a str, (f64, f64)>,
}

impl<'a> Info<'a> {
    pub fn get(&self, field: &str) -> Option<&'a str> {
        self.fields.get(field).copied()
    }

    pub fn number(&self, field: &str) -> Option<f64> {
        self.get(field).and_then(|v| v.trim().parse::<f64>().ok())
    }
}

/// Parses the text of `INFO` / `INFO ALL`. Unknown lines are kept as plain fields; lines
/// without a colon and `#` section headers are skipped; CRLF or LF line ends.
pub fn parse_info(text: &str) -> Info<'_> {
    let mut info = Info::default();
    for line in text.lines() {
        let line = line.trim_end_matches('\r');
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some((field, value)) = line.split_once(':') else {
            continue;
        };
        if let Some(command) = field.strip_prefix("cmdstat_") {
            let stats = parse_key_values(value);
            if let (Some(calls), Some(usec)) = (stats.get("calls"), stats.get("usec")) {
                info.commands.insert(command, (*calls, *usec));
            }
        } else if is_keyspace_db(field) && value.contains("keys=") {
            let stats = parse_key_values(value);
            info.keyspace.insert(
                field,
                (
                    stats.get("keys").copied().unwrap_or(0.0),
                    stats.get("expires").copied().unwrap_or(0.0),
                ),
            );
        } else {
            info.fields.insert(field, value);
        }
    }
    info
}

fn is_keyspace_db(field: &str) -> bool {
    field
        .strip_prefix("db")
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// `a=1,b=2.5` → {a: 1, b: 2.5}; non-numeric values are skipped.
fn parse_key_values(text: &str) -> BTreeMap<&str, f64> {
    text.split(',')
        .filter_map(|pair| pair.split_once('='))
        .filter_map(|(k, v)| v.trim().parse::<f64>().ok().map(|v| (k.trim(), v)))
        .collect()
}

pub static INSTANCE_INFO: MetricDesc = MetricDesc::gauge(
    "redis_instance_info",
    "Information about the Redis instance",
    &[
        "role",
        "redis_version",
        "redis_build_id",
        "redis_mode",
        "os",
        "maxmemory_policy",
        "tcp_port",
        "run_id",
        "process_id",
        "master_replid",
    ],
);
pub static UPTIME: MetricDesc =
    MetricDesc::gauge("redis_uptime_in_seconds", "uptime_in_seconds metric", &[]);
pub static CONNECTED_CLIENTS: MetricDesc =
    MetricDesc::gauge("redis_connected_clients", "connected_clients metric", &[]);
pub static BLOCKED_CLIENTS: MetricDesc =
    MetricDesc::gauge("redis_blocked_clients", "blocked_clients metric", &[]);
pub static MAX_CLIENTS: MetricDesc =
    MetricDesc::gauge("redis_max_clients", "maxclients metric", &[]);
pub static MEMORY_USED: MetricDesc =
    MetricDesc::gauge("redis_memory_used_bytes", "used_memory metric", &[]);
pub static MEMORY_USED_RSS: MetricDesc =
    MetricDesc::gauge("redis_memory_used_rss_bytes", "used_memory_rss metric", &[]);
pub static MEMORY_MAX: MetricDesc =
    MetricDesc::gauge("redis_memory_max_bytes", "maxmemory metric", &[]);
pub static MEM_FRAGMENTATION_RATIO: MetricDesc = MetricDesc::gauge(
    "redis_mem_fragmentation_ratio",
    "mem_fragmentation_ratio metric",
    &[],
);
pub static COMMANDS_PROCESSED: MetricDesc = MetricDesc::counter(
    "redis_commands_processed_total",
    "total_commands_processed metric",
    &[],
);
pub static CONNECTIONS_RECEIVED: MetricDesc = MetricDesc::counter(
    "redis_connections_received_total",
    "total_connections_received metric",
    &[],
);
pub static REJECTED_CONNECTIONS: MetricDesc = MetricDesc::counter(
    "redis_rejected_connections_total",
    "rejected_connections metric",
    &[],
);
pub static KEYSPACE_HITS: MetricDesc =
    MetricDesc::counter("redis_keyspace_hits_total", "keyspace_hits metric", &[]);
pub static KEYSPACE_MISSES: MetricDesc =
    MetricDesc::counter("redis_keyspace_misses_total", "keyspace_misses metric", &[]);
pub static EVICTED_KEYS: MetricDesc =
    MetricDesc::counter("redis_evicted_keys_total", "evicted_keys metric", &[]);
pub static EXPIRED_KEYS: MetricDesc =
    MetricDesc::counter("redis_expired_keys_total", "expired_keys metric", &[]);
pub static NET_INPUT: MetricDesc = MetricDesc::counter(
    "redis_net_input_bytes_total",
    "total_net_input_bytes metric",
    &[],
);
pub static NET_OUTPUT: MetricDesc = MetricDesc::counter(
    "redis_net_output_bytes_total",
    "total_net_output_bytes metric",
    &[],
);
pub static COMMANDS: MetricDesc = MetricDesc::counter(
    "redis_commands_total",
    "Total number of calls per command",
    &["cmd"],
);
pub static COMMANDS_DURATION: MetricDesc = MetricDesc::counter(
    "redis_commands_duration_seconds_total",
    "Total amount of time in seconds spent per command",
    &["cmd"],
);
pub static DB_KEYS: MetricDesc =
    MetricDesc::gauge("redis_db_keys", "Total number of keys by DB", &["db"]);
pub static DB_KEYS_EXPIRING: MetricDesc = MetricDesc::gauge(
    "redis_db_keys_expiring",
    "Total number of expiring keys by DB",
    &["db"],
);
pub static RDB_LAST_SAVE: MetricDesc = MetricDesc::gauge(
    "redis_rdb_last_save_timestamp_seconds",
    "rdb_last_save_time metric",
    &[],
);
pub static RDB_CHANGES_SINCE_LAST_SAVE: MetricDesc = MetricDesc::gauge(
    "redis_rdb_changes_since_last_save",
    "rdb_changes_since_last_save metric",
    &[],
);
pub static RDB_LAST_BGSAVE_STATUS: MetricDesc = MetricDesc::gauge(
    "redis_rdb_last_bgsave_status",
    "Whether the last background save succeeded (1) or failed (0); a failure makes Redis refuse writes (MISCONF)",
    &[],
);
pub static CONNECTED_SLAVES: MetricDesc =
    MetricDesc::gauge("redis_connected_slaves", "connected_slaves metric", &[]);
pub static MASTER_LINK_UP: MetricDesc = MetricDesc::gauge(
    "redis_master_link_up",
    "Whether this replica's link to its master is up (only on replicas)",
    &["master_host", "master_port"],
);
pub static EXPORTER_LAST_SCRAPE_ERROR: MetricDesc = MetricDesc::gauge(
    "redis_exporter_last_scrape_error",
    "Whether the last collection failed (1, with the reason in err) or not (0, err empty)",
    &["err"],
);
pub static EXPORTER_LAST_SCRAPE_DURATION: MetricDesc = MetricDesc::gauge(
    "redis_exporter_last_scrape_duration_seconds",
    "Duration of the last collection from this Redis",
    &[],
);

/// Plain numeric INFO fields and the families they fill.
const NUMERIC_FIELDS: &[(&str, &MetricDesc)] = &[
    ("uptime_in_seconds", &UPTIME),
    ("connected_clients", &CONNECTED_CLIENTS),
    ("blocked_clients", &BLOCKED_CLIENTS),
    ("maxclients", &MAX_CLIENTS),
    ("used_memory", &MEMORY_USED),
    ("used_memory_rss", &MEMORY_USED_RSS),
    ("maxmemory", &MEMORY_MAX),
    ("mem_fragmentation_ratio", &MEM_FRAGMENTATION_RATIO),
    ("total_commands_processed", &COMMANDS_PROCESSED),
    ("total_connections_received", &CONNECTIONS_RECEIVED),
    ("rejected_connections", &REJECTED_CONNECTIONS),
    ("keyspace_hits", &KEYSPACE_HITS),
    ("keyspace_misses", &KEYSPACE_MISSES),
    ("evicted_keys", &EVICTED_KEYS),
    ("expired_keys", &EXPIRED_KEYS),
    ("total_net_input_bytes", &NET_INPUT),
    ("total_net_output_bytes", &NET_OUTPUT),
    ("rdb_last_save_time", &RDB_LAST_SAVE),
    ("rdb_changes_since_last_save", &RDB_CHANGES_SINCE_LAST_SAVE),
    ("connected_slaves", &CONNECTED_SLAVES),
];

/// Turns parsed INFO into the redis_exporter-compatible families. A field the server does
/// not report (older versions, other forks) leaves its family out.
pub fn info_samples(info: &Info<'_>, sink: &mut Sink) {
    let label = |field: &str| info.get(field).unwrap_or("");
    sink.sample(
        &INSTANCE_INFO,
        [
            label("role"),
            label("redis_version"),
            label("redis_build_id"),
            label("redis_mode"),
            label("os"),
            label("maxmemory_policy"),
            label("tcp_port"),
            label("run_id"),
            label("process_id"),
            label("master_replid"),
        ],
        1.0,
    );
    for (field, desc) in NUMERIC_FIELDS {
        if let Some(value) = info.number(field) {
            sink.value(desc, value);
        }
    }
    for (command, (calls, usec)) in &info.commands {
        sink.sample(&COMMANDS, [*command], *calls);
        sink.sample(&COMMANDS_DURATION, [*command], *usec / 1e6);
    }
    for (db, (keys, expires)) in &info.keyspace {
        sink.sample(&DB_KEYS, [*db], *keys);
        sink.sample(&DB_KEYS_EXPIRING, [*db], *expires);
    }
    if let Some(status) = info.get("rdb_last_bgsave_status") {
        sink.value(&RDB_LAST_BGSAVE_STATUS, bool_value(status == "ok"));
    }
    if let Some(link) = info.get("master_link_status") {
        sink.sample(
            &MASTER_LINK_UP,
            [label("master_host"), label("master_port")],
            bool_value(link == "up"),
        );
    }
}

fn bool_value(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Family;

    fn fixture(name: &str) -> String {
        let path = format!("{}/tests/fixtures/redis/{name}", env!("CARGO_MANIFEST_DIR"));
        std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {path}: {e}"))
    }

    fn families(info: &Info<'_>) -> Vec<Family> {
        let mut sink = Sink::new();
        info_samples(info, &mut sink);
        sink.into_parts().0
    }

    fn value(families: &[Family], name: &str, labels: &[&str]) -> Option<f64> {
        families
            .iter()
            .find(|f| f.desc.name == name)
            .and_then(|f| f.value(labels))
    }

    #[test]
    fn parse_info_handles_sections_commandstats_keyspace_and_crlf() {
        let info = parse_info(
            "# Server\r\nredis_version:7.0.15\r\nos:Linux 6.1 x86_64\r\n\r\n# Commandstats\r\n\
             cmdstat_get:calls=2,usec=10,usec_per_call=5.00,rejected_calls=0,failed_calls=0\r\n\
             cmdstat_client|list:calls=1,usec=3,usec_per_call=3.00\r\n\
             # Keyspace\r\ndb0:keys=2,expires=1,avg_ttl=98980\r\ndb12:keys=7,expires=0,avg_ttl=0\r\n\
             garbage line\r\n",
        );
        assert_eq!(info.get("redis_version"), Some("7.0.15"));
        assert_eq!(info.get("os"), Some("Linux 6.1 x86_64"));
        assert_eq!(info.commands.get("get"), Some(&(2.0, 10.0)));
        assert_eq!(info.commands.get("client|list"), Some(&(1.0, 3.0)));
        assert_eq!(info.keyspace.get("db0"), Some(&(2.0, 1.0)));
        assert_eq!(info.keyspace.get("db12"), Some(&(7.0, 0.0)));
        assert!(!info.fields.contains_key("garbage line"));
    }

    #[test]
    fn master_fixture_gives_the_exporter_families() {
        let text = fixture("info-all-7.0-master.txt");
        let info = parse_info(&text);
        let f = families(&info);
        let cases: &[(&str, &[&str], f64)] = &[
            ("redis_uptime_in_seconds", &[], 8.0),
            ("redis_connected_clients", &[], 1.0),
            ("redis_blocked_clients", &[], 0.0),
            ("redis_max_clients", &[], 10000.0),
            ("redis_memory_max_bytes", &[], 0.0),
            ("redis_rdb_last_bgsave_status", &[], 1.0),
            ("redis_connected_slaves", &[], 1.0),
            ("redis_db_keys", &["db0"], 2.0),
            ("redis_db_keys_expiring", &["db0"], 1.0),
            ("redis_db_keys", &["db2"], 1.0),
            ("redis_keyspace_misses_total", &[], 1.0),
        ];
        for (name, labels, expected) in cases {
            assert_eq!(value(&f, name, labels), Some(*expected), "{name}{labels:?}");
        }
        assert!(value(&f, "redis_memory_used_bytes", &[]).is_some_and(|v| v > 0.0));
        assert!(value(&f, "redis_mem_fragmentation_ratio", &[]).is_some());
        assert!(value(&f, "redis_commands_total", &["get"]).is_some_and(|v| v >= 1.0));
        assert!(value(&f, "redis_commands_duration_seconds_total", &["get"]).is_some());
        // A master has no link to a master.
        assert!(f.iter().all(|f| f.desc.name != "redis_master_link_up"));
        let instance = f
            .iter()
            .find(|f| f.desc.name == "redis_instance_info")
            .expect("instance info");
        assert_eq!(&*instance.samples[0].labels[0], "master");
        assert_eq!(&*instance.samples[0].labels[1], "7.0.15");
        assert_eq!(&*instance.samples[0].labels[3], "standalone");
        assert_eq!(&*instance.samples[0].labels[5], "noeviction");
    }

    #[test]
    fn replica_fixture_reports_its_master_link() {
        let text = fixture("info-all-7.0-replica.txt");
        let info = parse_info(&text);
        let f = families(&info);
        assert_eq!(
            value(&f, "redis_master_link_up", &["127.0.0.1", "16401"]),
            Some(1.0)
        );
        assert_eq!(value(&f, "redis_connected_slaves", &[]), Some(0.0));
    }

    #[test]
    fn failed_bgsave_down_link_and_maxmemory_are_reported() {
        let cases: &[(&str, &str, &[&str], f64)] = &[
            (
                "rdb_last_bgsave_status:err\n",
                "redis_rdb_last_bgsave_status",
                &[],
                0.0,
            ),
            (
                "rdb_last_bgsave_status:ok\n",
                "redis_rdb_last_bgsave_status",
                &[],
                1.0,
            ),
            (
                "role:slave\nmaster_host:10.0.0.1\nmaster_port:6379\nmaster_link_status:down\n",
                "redis_master_link_up",
                &["10.0.0.1", "6379"],
                0.0,
            ),
            (
                "maxmemory:2147483648\n",
                "redis_memory_max_bytes",
                &[],
                2147483648.0,
            ),
            (
                "# Commandstats\ncmdstat_lpush:calls=4,usec=2000000,usec_per_call=500000.00\n",
                "redis_commands_duration_seconds_total",
                &["lpush"],
                2.0,
            ),
        ];
        for (text, name, labels, expected) in cases {
            let f = families(&parse_info(text));
            assert_eq!(value(&f, name, labels), Some(*expected), "{text}");
        }
    }

    #[test]
    fn missing_fields_leave_their_families_out() {
        let f = families(&parse_info("redis_version:3.2.0\n"));
        assert!(f.iter().all(|f| f.desc.name != "redis_max_clients"));
        assert!(
            f.iter()
                .all(|f| f.desc.name != "redis_rdb_last_bgsave_status")
        );
        assert!(f.iter().any(|f| f.desc.name == "redis_instance_info"));
    }

    #[test]
    fn info_sections_from_redis_7() {
        let cases: &[(&str, bool)] = &[
            ("7.0.15", true),
            ("7.2.4", true),
            ("8.0.0", true),
            ("6.2.14", false),
            ("5.0.7", false),
            ("", false),
            ("garbage", false),
        ];
        for (version, expected) in cases {
            assert_eq!(takes_info_sections(version), *expected, "{version}");
        }
    }

    #[test]
    fn request_budget_stays_under_the_timeout() {
        assert_eq!(
            request_budget(Duration::from_secs(10)),
            Duration::from_secs(9)
        );
        assert!(request_budget(Duration::from_millis(500)) < Duration::from_millis(500));
    }
}
