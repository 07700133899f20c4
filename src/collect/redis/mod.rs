//! The `[[redis]]` collector: Redis' own health from `INFO`, and — when the target says
//! `sidekiq = true` — Sidekiq's queues and processes ([`sidekiq`]) and Mastodon's
//! Redis gauges ([`mastodon`]), all over one connection kept across runs.
//!
//! What Redis sees per run: `INFO` (`INFO ALL` at first; on Redis ≥ 7 then only the needed
//! sections) and Sidekiq's fixed reads in one pipeline, then one
//! more pipeline with the per-queue and per-process reads. Nothing else, and in particular
//! never `KEYS`, `CONFIG` or `CLIENT …` (managed Redis forbids them): the client is built
//! with `CLIENT SETINFO` switched off, and `maxmemory` comes from `INFO memory`. Mastodon's
//! delivery-failure count walks the keyspace with a bounded `SCAN` on a slow cadence.
//!
//! Names, types and labels follow redis_exporter (oliver006), see `METRICS.md`. Layout: this file is
//! the collector (connection, pipelines, errors); `info.rs` parses `INFO` (pure, with the
//! `redis_*` descriptors); `sidekiq/` reads Sidekiq's keys; `mastodon.rs` the `mastodon_*`
//! gauges from Mastodon's Redis keys.

pub mod info;
pub mod mastodon;
pub mod sidekiq;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use async_trait::async_trait;
use redis::aio::MultiplexedConnection;
use redis::{AsyncConnectionConfig, IntoConnectionInfo, Pipeline, Value};

use self::mastodon::MastodonGauges;
use self::sidekiq::SidekiqKeys;
use crate::collect::health::{Classified, classify_redis};
use crate::collect::runner::Job;
use crate::collect::{Collector, Sink};
use crate::config::{RedisTarget, SecretUrl};
use crate::model::{Kind, Reason, TargetId};

pub use crate::config::options::{DEFAULT_MASTODON_QUEUES, RedisOptions};
pub use info::*;

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
        let first_round_len = match &self.sidekiq {
            Some(keys) => keys.first_round(&mut pipe, now),
            None => 0,
        };
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
            let first: Vec<Value> = values.by_ref().take(first_round_len).collect();
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
            let second_round_len = 2 * (plan.queues.len() + plan.processes.len());
            let job_buckets = if self.options.sidekiq_job_metrics {
                sidekiq::jobs::bucket_names(now)
            } else {
                Vec::new()
            };
            for bucket in &job_buckets {
                second.cmd("HGETALL").arg(keys.key(bucket));
            }
            let second_values = if second.is_empty() {
                Ok(Vec::new())
            } else {
                self.query(&second, deadline, "reading sidekiq queues and processes")
                    .await
            };
            match second_values {
                Ok(mut second_values) => {
                    let now = unix_now();
                    let bucket_values =
                        second_values.split_off(second_round_len.min(second_values.len()));
                    if self.options.sidekiq_job_metrics {
                        match sidekiq::jobs::sum_buckets(&bucket_values) {
                            Ok(classes) => sidekiq::jobs::emit_jobs(&classes, sink),
                            Err(error) => sink.partial_error("sidekiq job metrics", &error),
                        }
                    }
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

#[cfg(test)]
mod tests {
    use super::*;

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
