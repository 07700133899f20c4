//! Sidekiq, read straight from its Redis keys (part of the `[[redis]]` collector when the
//! target says `sidekiq = true`), for Sidekiq 6.5 (Mastodon ≤ 4.3), 7 (4.4) and 8 (4.5+).
//!
//! Constant cost, whatever the number of jobs: two pipelined round trips per run.
//! 1. [`SidekiqKeys::first_round`] (sent together with `INFO`): `SMEMBERS queues`,
//!    `SMEMBERS processes`, `SMEMBERS paused`, `GET stat:processed|failed`,
//!    `ZCARD schedule|retry|dead`, `ZCOUNT schedule|retry -inf <now>`,
//!    `GET stat:processed:<UTC date>`.
//! 2. [`SidekiqKeys::second_round`]: per queue (at most `sidekiq_queue_limit`) `LLEN` and
//!    `LINDEX -1` (the oldest job), per process `HMGET <identity> info busy beat quiet rss
//!    concurrency` and `HGETALL <identity>:work` (bounded by the process' concurrency).
//!
//! Queue latency is computed as Sidekiq does: the oldest job is the list's last element;
//! now − `enqueued_at` (fallback `created_at`), where a JSON float is epoch seconds
//! (Sidekiq ≤ 7) and a JSON integer epoch milliseconds (Sidekiq 8), decided per value since
//! a queue holds both kinds after an upgrade; an empty queue has latency 0. A job that is
//! not valid JSON sets `sidekiq_queue_unparsable_jobs{name}` and leaves that queue's latency
//! out; it never fails the run.
//!
//! A process is live when its hash still exists (`info` readable): members of `processes`
//! whose hash expired (TTL 60 s, a crashed process) are ignored, as Sidekiq's `ProcessSet`
//! does. With a namespace (Mastodon 4.2/4.3 `REDIS_NAMESPACE`) every key gets `<ns>:`; the
//! identities stored in `processes` stay bare.

use std::collections::{BTreeMap, BTreeSet};

use redis::{Pipeline, Value};
use serde_json::Value as Json;

use super::Sink;
use super::redis::{RedisOptions, value_text};
use crate::model::MetricDesc;

/// Sidekiq's key names under an optional namespace.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SidekiqKeys {
    prefix: String,
}

impl SidekiqKeys {
    pub fn new(namespace: Option<&str>) -> Self {
        SidekiqKeys {
            prefix: namespace_prefix(namespace),
        }
    }

    /// The full key of `name` (`<ns>:name` with a namespace).
    pub fn key(&self, name: &str) -> String {
        format!("{}{name}", self.prefix)
    }

    /// Adds the [`FIRST_ROUND_LEN`] fixed reads to `pipe`.
    pub fn first_round(&self, pipe: &mut Pipeline, now: f64) {
        let now_arg = format!("{now:.3}");
        pipe.cmd("SMEMBERS").arg(self.key("queues"));
        pipe.cmd("SMEMBERS").arg(self.key("processes"));
        pipe.cmd("SMEMBERS").arg(self.key("paused"));
        pipe.cmd("GET").arg(self.key("stat:processed"));
        pipe.cmd("GET").arg(self.key("stat:failed"));
        pipe.cmd("ZCARD").arg(self.key("schedule"));
        pipe.cmd("ZCARD").arg(self.key("retry"));
        pipe.cmd("ZCARD").arg(self.key("dead"));
        pipe.cmd("ZCOUNT")
            .arg(self.key("schedule"))
            .arg("-inf")
            .arg(&now_arg);
        pipe.cmd("ZCOUNT")
            .arg(self.key("retry"))
            .arg("-inf")
            .arg(&now_arg);
        pipe.cmd("GET")
            .arg(self.key(&format!("stat:processed:{}", utc_date(now))));
    }

    /// Adds the per-queue and per-process reads of `plan` to `pipe`, in the order
    /// [`parse_second_round`] reads them.
    pub fn second_round(&self, pipe: &mut Pipeline, plan: &SecondRoundPlan) {
        for queue in &plan.queues {
            let key = self.key(&format!("queue:{queue}"));
            pipe.cmd("LLEN").arg(&key);
            pipe.cmd("LINDEX").arg(&key).arg(-1);
        }
        for identity in &plan.processes {
            pipe.cmd("HMGET")
                .arg(self.key(identity))
                .arg(&PROCESS_FIELDS[..]);
            pipe.cmd("HGETALL")
                .arg(self.key(&format!("{identity}:work")));
        }
    }
}

/// `Some("ns")` → `"ns:"`; no or empty namespace → `""`.
pub fn namespace_prefix(namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !ns.is_empty() => format!("{ns}:"),
        _ => String::new(),
    }
}

/// Number of replies [`SidekiqKeys::first_round`] adds.
pub const FIRST_ROUND_LEN: usize = 11;

const PROCESS_FIELDS: [&str; 6] = ["info", "busy", "beat", "quiet", "rss", "concurrency"];

/// What the first round trip told.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FirstRound {
    pub queues: Vec<String>,
    /// Whether `SMEMBERS queues` succeeded (else the queue totals are left out).
    pub queues_read: bool,
    pub processes: Vec<String>,
    /// Whether `SMEMBERS processes` succeeded (else every process-derived family is left
    /// out, rather than reporting no live process and every queue uncovered).
    pub processes_read: bool,
    pub paused: BTreeSet<String>,
    pub paused_read: bool,
    pub processed: Option<f64>,
    pub failed: Option<f64>,
    pub scheduled: Option<f64>,
    pub retries: Option<f64>,
    pub dead: Option<f64>,
    pub schedule_overdue: Option<f64>,
    pub retry_overdue: Option<f64>,
    pub processed_today: Option<f64>,
    /// The UTC date of `stat:processed:<date>`.
    pub date: String,
}

/// Reads the [`FIRST_ROUND_LEN`] replies; a failed single read is a partial error.
pub fn parse_first_round(values: &[Value], now: f64, sink: &mut Sink) -> FirstRound {
    let get = |i: usize| values.get(i).unwrap_or(&Value::Nil);
    let strings = |i: usize, what: &str, sink: &mut Sink| match string_list(get(i)) {
        Ok(list) => Some(list),
        Err(error) => {
            sink.partial_error(what, &error);
            None
        }
    };
    let queues = strings(0, "sidekiq queues set", sink);
    let processes = strings(1, "sidekiq processes set", sink);
    let paused = strings(2, "sidekiq paused set", sink);
    // A failed read leaves the family out; a missing key is a real 0 for counters.
    let number = |i: usize, what: &str, sink: &mut Sink| match optional_number(get(i)) {
        Ok(n) => Some(n),
        Err(error) => {
            sink.partial_error(what, &error);
            None
        }
    };
    let counter =
        |i: usize, what: &str, sink: &mut Sink| number(i, what, sink).map(|n| n.unwrap_or(0.0));
    FirstRound {
        queues_read: queues.is_some(),
        queues: queues.unwrap_or_default(),
        processes_read: processes.is_some(),
        processes: processes.unwrap_or_default(),
        paused_read: paused.is_some(),
        paused: paused.unwrap_or_default().into_iter().collect(),
        processed: counter(3, "sidekiq stat:processed", sink),
        failed: counter(4, "sidekiq stat:failed", sink),
        scheduled: counter(5, "sidekiq schedule set size", sink),
        retries: counter(6, "sidekiq retry set size", sink),
        dead: counter(7, "sidekiq dead set size", sink),
        schedule_overdue: counter(8, "sidekiq overdue scheduled jobs", sink),
        retry_overdue: counter(9, "sidekiq overdue retries", sink),
        processed_today: counter(10, "sidekiq daily processed counter", sink),
        date: utc_date(now),
    }
}

/// Which queues and processes the second round reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecondRoundPlan {
    /// Queues from the `queues` set, Mastodon's first, then by name, at most the cap.
    pub queues: Vec<String>,
    /// Every member of `processes` (the set is small: one per Sidekiq process).
    pub processes: Vec<String>,
    /// Queues in the `queues` set beyond the cap.
    pub queues_left_out: usize,
}

/// Orders and caps the queues (pure).
pub fn plan_second_round(first: &FirstRound, options: &RedisOptions) -> SecondRoundPlan {
    let discovered: BTreeSet<&str> = first.queues.iter().map(String::as_str).collect();
    let mut queues: Vec<String> = options
        .mastodon_queues
        .iter()
        .filter(|q| discovered.contains(q.as_str()))
        .cloned()
        .collect();
    let mastodon: BTreeSet<&str> = options.mastodon_queues.iter().map(String::as_str).collect();
    queues.extend(
        discovered
            .iter()
            .filter(|q| !mastodon.contains(*q))
            .map(|q| q.to_string()),
    );
    let total = queues.len();
    queues.truncate(options.sidekiq_queue_limit);
    let mut processes = first.processes.clone();
    processes.sort();
    processes.dedup();
    SecondRoundPlan {
        queues_left_out: total - queues.len(),
        queues,
        processes,
    }
}

/// The oldest job of a queue, as far as latency is concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OldestJob {
    /// The queue is empty (latency 0).
    Empty,
    /// Enqueued at this epoch time in seconds.
    EnqueuedAt(f64),
    /// A job without `enqueued_at`/`created_at` (Sidekiq reports latency 0).
    NoTimestamp,
    /// Not a JSON object.
    Unparsable,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueueState {
    pub name: String,
    pub size: Option<f64>,
    pub oldest: OldestJob,
}

/// One live Sidekiq process.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ProcessState {
    pub identity: String,
    pub info: ProcessInfo,
    pub busy: f64,
    /// Last heartbeat, epoch seconds.
    pub beat: Option<f64>,
    pub quiet: bool,
    pub rss_kb: Option<f64>,
    /// Jobs in progress: (queue, started at in epoch seconds).
    pub work: Vec<(String, Option<f64>)>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct SecondRound {
    pub queues: Vec<QueueState>,
    /// Live processes only.
    pub processes: Vec<ProcessState>,
}

/// Reads the second round's replies in [`SidekiqKeys::second_round`]'s order.
pub fn parse_second_round(
    plan: &SecondRoundPlan,
    values: &[Value],
    sink: &mut Sink,
) -> SecondRound {
    let mut replies = values.iter();
    let mut next = || replies.next().unwrap_or(&Value::Nil);
    let mut state = SecondRound::default();
    for queue in &plan.queues {
        let size = match optional_number(next()) {
            Ok(size) => Some(size.unwrap_or(0.0)),
            Err(error) => {
                sink.partial_error(&format!("sidekiq queue {queue} length"), &error);
                None
            }
        };
        let oldest = match next() {
            Value::Nil => OldestJob::Empty,
            Value::ServerError(error) => {
                sink.partial_error(
                    &format!("sidekiq queue {queue} oldest job"),
                    &anyhow::anyhow!("redis error: {error}"),
                );
                OldestJob::Unparsable
            }
            value => match value_text(value) {
                Ok(text) => oldest_job(&text),
                Err(_) => OldestJob::Unparsable,
            },
        };
        state.queues.push(QueueState {
            name: queue.clone(),
            size,
            oldest,
        });
    }
    for identity in &plan.processes {
        let fields = next();
        let work = next();
        let fields: Vec<Option<String>> = match fields {
            Value::Array(items) => items
                .iter()
                .map(|v| match v {
                    Value::Nil => None,
                    v => value_text(v).ok(),
                })
                .collect(),
            Value::ServerError(error) => {
                sink.partial_error(
                    &format!("sidekiq process {identity}"),
                    &anyhow::anyhow!("redis error: {error}"),
                );
                continue;
            }
            _ => continue,
        };
        let field = |i: usize| fields.get(i).cloned().flatten();
        // No `info`: the hash has expired, the process is gone.
        let Some(info_json) = field(0) else {
            continue;
        };
        let mut info = parse_process_info(&info_json);
        if let Some(c) = field(5).and_then(|c| c.trim().parse::<f64>().ok())
            && info.concurrency.is_none()
        {
            info.concurrency = Some(c);
        }
        let work = match work {
            Value::Array(_) | Value::Map(_) => hash_pairs(work)
                .into_iter()
                .filter_map(|(_, v)| parse_work(&v))
                .collect(),
            _ => Vec::new(),
        };
        state.processes.push(ProcessState {
            identity: identity.clone(),
            info,
            busy: field(1)
                .and_then(|b| b.trim().parse::<f64>().ok())
                .unwrap_or(0.0),
            beat: field(2).and_then(|b| epoch_seconds_from_text(&b)),
            quiet: field(3).is_some_and(|q| q == "true"),
            rss_kb: field(4).and_then(|r| r.trim().parse::<f64>().ok()),
            work,
        });
    }
    state
}

/// `HGETALL` reply (RESP2 flat array or RESP3 map) → (field, value) pairs.
fn hash_pairs(value: &Value) -> Vec<(String, String)> {
    match value {
        Value::Array(items) => items
            .chunks(2)
            .filter_map(|pair| match pair {
                [k, v] => Some((value_text(k).ok()?, value_text(v).ok()?)),
                _ => None,
            })
            .collect(),
        Value::Map(pairs) => pairs
            .iter()
            .filter_map(|(k, v)| Some((value_text(k).ok()?, value_text(v).ok()?)))
            .collect(),
        _ => Vec::new(),
    }
}

/// The oldest job's JSON → [`OldestJob`] (pure).
pub fn oldest_job(json: &str) -> OldestJob {
    let Ok(Json::Object(job)) = serde_json::from_str::<Json>(json) else {
        return OldestJob::Unparsable;
    };
    let enqueued = job
        .get("enqueued_at")
        .and_then(job_timestamp_seconds)
        .or_else(|| job.get("created_at").and_then(job_timestamp_seconds));
    match enqueued {
        Some(t) => OldestJob::EnqueuedAt(t),
        None => OldestJob::NoTimestamp,
    }
}

/// A job timestamp → epoch seconds, decided per value as Sidekiq 8 does: a JSON float is
/// seconds (Sidekiq ≤ 7), a JSON integer milliseconds (Sidekiq 8). A string (Sidekiq Pro's
/// Lua scheduler) is read as a number: with a fraction or exponent seconds, an integer by
/// magnitude (above 1e11 milliseconds).
pub fn job_timestamp_seconds(value: &Json) -> Option<f64> {
    match value {
        Json::Number(n) if n.is_f64() => n.as_f64(),
        Json::Number(n) => n.as_f64().map(|ms| ms / 1000.0),
        Json::String(s) => epoch_seconds_from_text(s),
        _ => None,
    }
}

/// Epoch time written as text: a number with a fraction or exponent is seconds, an
/// integer above 1e11 is milliseconds, below seconds.
pub fn epoch_seconds_from_text(text: &str) -> Option<f64> {
    let text = text.trim();
    let value = text.parse::<f64>().ok()?;
    if !value.is_finite() {
        return None;
    }
    let integer = !text.contains(['.', 'e', 'E']);
    Some(if integer && value.abs() > 1e11 {
        value / 1000.0
    } else {
        value
    })
}

/// A number that may be seconds or milliseconds by magnitude (work `run_at`, `beat`).
fn epoch_seconds_by_magnitude(value: f64) -> f64 {
    if value.abs() > 1e11 {
        value / 1000.0
    } else {
        value
    }
}

/// What fedimeter uses from a process' `info` JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessInfo {
    pub hostname: String,
    pub concurrency: Option<f64>,
    /// Queues this process serves: `queues`, plus every capsule's queues (Sidekiq 7+
    /// `capsules` / `weights`).
    pub queues: BTreeSet<String>,
    pub version: Option<String>,
}

/// Parses a process' `info` JSON (pure). Tolerates every Sidekiq version's shape; missing
/// or odd fields are left empty.
pub fn parse_process_info(json: &str) -> ProcessInfo {
    let Ok(Json::Object(info)) = serde_json::from_str::<Json>(json) else {
        return ProcessInfo::default();
    };
    let mut queues = BTreeSet::new();
    if let Some(Json::Array(list)) = info.get("queues") {
        queues.extend(list.iter().filter_map(queue_name));
    }
    // Sidekiq 7.1+: `weights` is one {queue: weight} object per capsule.
    if let Some(Json::Array(weights)) = info.get("weights") {
        for capsule in weights {
            if let Json::Object(w) = capsule {
                queues.extend(w.keys().cloned());
            }
        }
    }
    // Sidekiq 7.3+: `capsules` is {name: {concurrency, mode, weights: {queue: weight}}}.
    let mut capsule_concurrency = None;
    if let Some(Json::Object(capsules)) = info.get("capsules") {
        let mut sum = 0.0;
        for capsule in capsules.values() {
            match capsule.get("weights") {
                Some(Json::Object(w)) => queues.extend(w.keys().cloned()),
                Some(Json::Array(list)) => queues.extend(list.iter().filter_map(queue_name)),
                _ => {}
            }
            if let Some(Json::Array(list)) = capsule.get("queues") {
                queues.extend(list.iter().filter_map(queue_name));
            }
            sum += capsule
                .get("concurrency")
                .and_then(Json::as_f64)
                .unwrap_or(0.0);
        }
        if sum > 0.0 {
            capsule_concurrency = Some(sum);
        }
    }
    ProcessInfo {
        hostname: info
            .get("hostname")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string(),
        concurrency: info
            .get("concurrency")
            .and_then(Json::as_f64)
            .or(capsule_concurrency),
        queues,
        version: info
            .get("version")
            .and_then(Json::as_str)
            .map(str::to_string),
    }
}

/// A queue entry: `"default"`, or `["default", 8]` in some weighted layouts.
fn queue_name(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Array(items) => items.first().and_then(Json::as_str).map(str::to_string),
        _ => None,
    }
}

/// A `<identity>:work` value → (queue, started at in epoch seconds) (pure).
pub fn parse_work(json: &str) -> Option<(String, Option<f64>)> {
    let Ok(Json::Object(work)) = serde_json::from_str::<Json>(json) else {
        return None;
    };
    let queue = work.get("queue").and_then(Json::as_str)?.to_string();
    let run_at = match work.get("run_at") {
        Some(Json::Number(n)) => n.as_f64().map(epoch_seconds_by_magnitude),
        Some(Json::String(s)) => epoch_seconds_from_text(s),
        _ => None,
    };
    Some((queue, run_at))
}

/// Queues of `required` that no live process serves (Mastodon's admin check), in order.
pub fn uncovered_queues<'a>(required: &'a [String], processes: &[ProcessState]) -> Vec<&'a str> {
    required
        .iter()
        .filter(|q| !processes.iter().any(|p| p.info.queues.contains(*q)))
        .map(String::as_str)
        .collect()
}

/// Queue latency in seconds as Sidekiq computes it (`None` for an unparsable job).
pub fn queue_latency(oldest: OldestJob, now: f64) -> Option<f64> {
    match oldest {
        OldestJob::Empty | OldestJob::NoTimestamp => Some(0.0),
        OldestJob::EnqueuedAt(t) => Some(now - t),
        OldestJob::Unparsable => None,
    }
}

/// `SCAN` reply → (next cursor, keys).
pub fn parse_scan_reply(value: &Value) -> anyhow::Result<(u64, Vec<String>)> {
    let Value::Array(parts) = value else {
        if let Value::ServerError(error) = value {
            anyhow::bail!("redis error: {error}");
        }
        anyhow::bail!("unexpected SCAN reply {value:?}");
    };
    let [cursor, keys] = parts.as_slice() else {
        anyhow::bail!("unexpected SCAN reply with {} parts", parts.len());
    };
    let cursor = value_text(cursor)?
        .parse::<u64>()
        .map_err(|e| anyhow::anyhow!("bad SCAN cursor: {e}"))?;
    Ok((cursor, string_list(keys)?))
}

fn string_list(value: &Value) -> anyhow::Result<Vec<String>> {
    match value {
        Value::Nil => Ok(Vec::new()),
        Value::Array(items) | Value::Set(items) => items.iter().map(value_text).collect(),
        Value::ServerError(error) => anyhow::bail!("redis error: {error}"),
        other => anyhow::bail!("unexpected reply {other:?}"),
    }
}

fn optional_number(value: &Value) -> anyhow::Result<Option<f64>> {
    match value {
        Value::Nil => Ok(None),
        Value::Int(i) => Ok(Some(*i as f64)),
        Value::Double(d) => Ok(Some(*d)),
        Value::ServerError(error) => anyhow::bail!("redis error: {error}"),
        other => {
            let text = value_text(other)?;
            text.trim()
                .parse::<f64>()
                .map(Some)
                .map_err(|e| anyhow::anyhow!("not a number {text:?}: {e}"))
        }
    }
}

/// The UTC calendar date `YYYY-MM-DD` of an epoch time (Sidekiq's daily stat keys).
pub fn utc_date(epoch_seconds: f64) -> String {
    let days = (epoch_seconds / 86_400.0).floor() as i64;
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

/// Days since 1970-01-01 → (year, month, day) (Howard Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

pub static PROCESSED: MetricDesc = MetricDesc::counter(
    "sidekiq_processed_jobs_total",
    "The total number of processed jobs",
    &[],
);
pub static FAILED: MetricDesc = MetricDesc::counter(
    "sidekiq_failed_jobs_total",
    "The total number of failed jobs",
    &[],
);
pub static ENQUEUED: MetricDesc = MetricDesc::gauge(
    "sidekiq_enqueued_jobs",
    "The total number of enqueued jobs",
    &[],
);
pub static SCHEDULED: MetricDesc = MetricDesc::gauge(
    "sidekiq_scheduled_jobs",
    "The number of jobs scheduled for a future execution",
    &[],
);
pub static RETRY: MetricDesc = MetricDesc::gauge(
    "sidekiq_retry_jobs",
    "The number of failed jobs waiting to be retried",
    &[],
);
pub static DEAD: MetricDesc = MetricDesc::gauge(
    "sidekiq_dead_jobs",
    "The number of jobs exceeded their retry count",
    &[],
);
pub static PROCESSES: MetricDesc = MetricDesc::gauge(
    "sidekiq_processes",
    "The number of live Sidekiq processes (whose heartbeat hash exists)",
    &[],
);
pub static WORKERS: MetricDesc = MetricDesc::gauge(
    "sidekiq_workers",
    "The total number of worker threads of live processes (concurrency)",
    &[],
);
pub static BUSY_WORKERS: MetricDesc = MetricDesc::gauge(
    "sidekiq_busy_workers",
    "The number of workers performing a job",
    &[],
);
pub static HOST_PROCESSES: MetricDesc = MetricDesc::gauge(
    "sidekiq_host_processes",
    "The number of live Sidekiq processes by host",
    &["host", "quiet"],
);
pub static HOST_MEMORY: MetricDesc = MetricDesc::gauge(
    "sidekiq_host_processes_memory_usage_bytes",
    "The resident memory of the live Sidekiq processes by host",
    &["host"],
);
pub static QUEUE_ENQUEUED: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_enqueued_jobs",
    "The number of enqueued jobs in the queue",
    &["name"],
);
pub static QUEUE_LATENCY: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_latency_seconds",
    "The age of the oldest job in the queue (0 when empty)",
    &["name"],
);
pub static QUEUE_MAX_PROCESSING_TIME: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_max_processing_time_seconds",
    "How long the longest-running job of the queue has been running",
    &["name"],
);
pub static QUEUE_WORKERS: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_workers",
    "The number of worker threads of the live processes serving the queue",
    &["name"],
);
pub static QUEUE_PROCESSES: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_processes",
    "The number of live processes serving the queue",
    &["name"],
);
pub static QUEUE_BUSY_WORKERS: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_busy_workers",
    "The number of workers performing a job of the queue",
    &["name"],
);
pub static QUEUE_PAUSED: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_paused",
    "Whether the queue is paused (member of the paused set)",
    &["name"],
);
pub static QUEUE_UNPARSABLE: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_unparsable_jobs",
    "Whether the oldest job of the queue is not valid job JSON (its latency is then left out)",
    &["name"],
);
pub static QUEUE_UNCOVERED: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_uncovered",
    "A Mastodon queue that no live Sidekiq process serves (1) or that is served (0)",
    &["name"],
);
pub static SCHEDULER_PROCESSES: MetricDesc = MetricDesc::gauge(
    "sidekiq_scheduler_processes",
    "The number of live processes serving the scheduler queue (Mastodon wants exactly one)",
    &[],
);
pub static SCHEDULE_OVERDUE: MetricDesc = MetricDesc::gauge(
    "sidekiq_schedule_overdue_jobs",
    "Scheduled jobs whose time has passed but are not enqueued yet (a stuck poller)",
    &[],
);
pub static RETRY_OVERDUE: MetricDesc = MetricDesc::gauge(
    "sidekiq_retry_overdue_jobs",
    "Retries whose time has passed but are not enqueued yet (a stuck poller)",
    &[],
);
pub static PROCESSED_DAILY: MetricDesc = MetricDesc::gauge(
    "sidekiq_jobs_processed_daily",
    "Jobs processed on this UTC date (Sidekiq's daily counter)",
    &["date"],
);
pub static HEARTBEAT_AGE: MetricDesc = MetricDesc::gauge(
    "sidekiq_process_last_heartbeat_age_seconds",
    "Seconds since the live process' last heartbeat",
    &["host", "identity"],
);
pub static YABEDA_WAITING: MetricDesc = MetricDesc::gauge(
    "sidekiq_jobs_waiting_count",
    "The number of enqueued jobs in the queue (yabeda-sidekiq name)",
    &["queue"],
);
pub static YABEDA_LATENCY: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_latency",
    "The age of the oldest job in the queue in seconds (yabeda-sidekiq name)",
    &["queue"],
);
pub static KEY_SIZE: MetricDesc = MetricDesc::gauge(
    "redis_key_size",
    "The length or size of a Sidekiq key (redis_exporter check-keys name)",
    &["db", "key"],
);

/// Every family this module can export, in declaration order (`crate::metrics`
/// collects them; `tests/docs_tables.rs` checks them against the docs).
pub static DESCRIPTORS: &[&MetricDesc] = &[
    &PROCESSED,
    &FAILED,
    &ENQUEUED,
    &SCHEDULED,
    &RETRY,
    &DEAD,
    &PROCESSES,
    &WORKERS,
    &BUSY_WORKERS,
    &HOST_PROCESSES,
    &HOST_MEMORY,
    &QUEUE_ENQUEUED,
    &QUEUE_LATENCY,
    &QUEUE_MAX_PROCESSING_TIME,
    &QUEUE_WORKERS,
    &QUEUE_PROCESSES,
    &QUEUE_BUSY_WORKERS,
    &QUEUE_PAUSED,
    &QUEUE_UNPARSABLE,
    &QUEUE_UNCOVERED,
    &SCHEDULER_PROCESSES,
    &SCHEDULE_OVERDUE,
    &RETRY_OVERDUE,
    &PROCESSED_DAILY,
    &HEARTBEAT_AGE,
    &YABEDA_WAITING,
    &YABEDA_LATENCY,
    &KEY_SIZE,
];

fn bool_value(b: bool) -> f64 {
    if b { 1.0 } else { 0.0 }
}

/// Writes every Sidekiq family from the two rounds (pure).
pub fn emit(
    keys: &SidekiqKeys,
    first: &FirstRound,
    state: &SecondRound,
    options: &RedisOptions,
    db: i64,
    now: f64,
    sink: &mut Sink,
) {
    let optional = [
        (&PROCESSED, first.processed),
        (&FAILED, first.failed),
        (&SCHEDULED, first.scheduled),
        (&RETRY, first.retries),
        (&DEAD, first.dead),
        (&SCHEDULE_OVERDUE, first.schedule_overdue),
        (&RETRY_OVERDUE, first.retry_overdue),
    ];
    for (desc, value) in optional {
        if let Some(v) = value {
            sink.value(desc, v);
        }
    }
    if let Some(today) = first.processed_today {
        sink.sample(&PROCESSED_DAILY, [first.date.as_str()], today);
    }
    if first.queues_read {
        let enqueued: f64 = state.queues.iter().filter_map(|q| q.size).sum();
        sink.value(&ENQUEUED, enqueued);
    }
    let processes = &state.processes;
    if first.processes_read {
        emit_processes(processes, options, now, sink);
    }
    let db_label = format!("db{db}");
    for desc in [
        &QUEUE_ENQUEUED,
        &QUEUE_LATENCY,
        &QUEUE_MAX_PROCESSING_TIME,
        &QUEUE_WORKERS,
        &QUEUE_PROCESSES,
        &QUEUE_BUSY_WORKERS,
        &QUEUE_PAUSED,
        &QUEUE_UNPARSABLE,
    ] {
        sink.declare(desc);
    }
    for queue in &state.queues {
        let name = queue.name.as_str();
        if let Some(size) = queue.size {
            sink.sample(&QUEUE_ENQUEUED, [name], size);
            sink.sample(
                &KEY_SIZE,
                [db_label.clone(), keys.key(&format!("queue:{name}"))],
                size,
            );
            if options.sidekiq_yabeda_aliases {
                sink.sample(&YABEDA_WAITING, [name], size);
            }
        }
        let latency = queue_latency(queue.oldest, now);
        if let Some(latency) = latency {
            sink.sample(&QUEUE_LATENCY, [name], latency);
            if options.sidekiq_yabeda_aliases {
                sink.sample(&YABEDA_LATENCY, [name], latency);
            }
        }
        sink.sample(
            &QUEUE_UNPARSABLE,
            [name],
            bool_value(queue.oldest == OldestJob::Unparsable),
        );
        if first.paused_read {
            sink.sample(
                &QUEUE_PAUSED,
                [name],
                bool_value(first.paused.contains(name)),
            );
        }
        if !first.processes_read {
            continue;
        }
        let serving: Vec<&ProcessState> = processes
            .iter()
            .filter(|p| p.info.queues.contains(name))
            .collect();
        sink.sample(&QUEUE_PROCESSES, [name], serving.len() as f64);
        sink.sample(
            &QUEUE_WORKERS,
            [name],
            serving
                .iter()
                .map(|p| p.info.concurrency.unwrap_or(0.0))
                .sum(),
        );
        let running: Vec<Option<f64>> = processes
            .iter()
            .flat_map(|p| p.work.iter())
            .filter(|(q, _)| q == name)
            .map(|(_, run_at)| *run_at)
            .collect();
        sink.sample(&QUEUE_BUSY_WORKERS, [name], running.len() as f64);
        let oldest_run = running.iter().flatten().copied().reduce(f64::min);
        sink.sample(
            &QUEUE_MAX_PROCESSING_TIME,
            [name],
            oldest_run.map_or(0.0, |t| (now - t).max(0.0)),
        );
    }
    for (name, size) in [
        ("schedule", first.scheduled),
        ("retry", first.retries),
        ("dead", first.dead),
    ] {
        if let Some(size) = size {
            sink.sample(&KEY_SIZE, [db_label.clone(), keys.key(name)], size);
        }
    }
    if first.processes_read && !options.mastodon_queues.is_empty() {
        let uncovered = uncovered_queues(&options.mastodon_queues, processes);
        for queue in &options.mastodon_queues {
            sink.sample(
                &QUEUE_UNCOVERED,
                [queue.as_str()],
                bool_value(uncovered.contains(&queue.as_str())),
            );
        }
        sink.value(
            &SCHEDULER_PROCESSES,
            processes
                .iter()
                .filter(|p| p.info.queues.contains("scheduler"))
                .count() as f64,
        );
    }
}

/// The families derived from the live processes alone.
fn emit_processes(processes: &[ProcessState], options: &RedisOptions, now: f64, sink: &mut Sink) {
    sink.value(&PROCESSES, processes.len() as f64);
    sink.value(
        &WORKERS,
        processes
            .iter()
            .map(|p| p.info.concurrency.unwrap_or(0.0))
            .sum(),
    );
    sink.value(&BUSY_WORKERS, processes.iter().map(|p| p.busy).sum());
    let mut per_host: BTreeMap<(&str, bool), f64> = BTreeMap::new();
    let mut memory: BTreeMap<&str, f64> = BTreeMap::new();
    for p in processes {
        *per_host
            .entry((p.info.hostname.as_str(), p.quiet))
            .or_default() += 1.0;
        *memory.entry(p.info.hostname.as_str()).or_default() += p.rss_kb.unwrap_or(0.0) * 1024.0;
    }
    sink.declare(&HOST_PROCESSES);
    for ((host, quiet), n) in per_host {
        sink.sample(
            &HOST_PROCESSES,
            [host, if quiet { "true" } else { "false" }],
            n,
        );
    }
    sink.declare(&HOST_MEMORY);
    for (host, bytes) in memory {
        sink.sample(&HOST_MEMORY, [host], bytes);
    }
    if options.sidekiq_heartbeat_series {
        sink.declare(&HEARTBEAT_AGE);
        for p in processes {
            if let Some(beat) = p.beat {
                let beat = epoch_seconds_by_magnitude(beat);
                sink.sample(
                    &HEARTBEAT_AGE,
                    [p.info.hostname.as_str(), p.identity.as_str()],
                    now - beat,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_json_gives_the_enqueued_time_per_value() {
        let cases: &[(&str, OldestJob)] = &[
            // Sidekiq 6.5/7: float seconds.
            (
                r#"{"class":"A","enqueued_at":1700000000.5,"created_at":1699999999.0}"#,
                OldestJob::EnqueuedAt(1700000000.5),
            ),
            // Sidekiq 8: integer milliseconds.
            (
                r#"{"class":"A","enqueued_at":1700000000500,"created_at":1700000000000}"#,
                OldestJob::EnqueuedAt(1700000000.5),
            ),
            // Whole-second float is still seconds.
            (
                r#"{"enqueued_at":1700000000.0}"#,
                OldestJob::EnqueuedAt(1700000000.0),
            ),
            // Fallback to created_at, in either unit.
            (
                r#"{"created_at":1700000001.25}"#,
                OldestJob::EnqueuedAt(1700000001.25),
            ),
            (
                r#"{"enqueued_at":null,"created_at":1700000001250}"#,
                OldestJob::EnqueuedAt(1700000001.25),
            ),
            // Sidekiq Pro's Lua scheduler writes a string.
            (
                r#"{"enqueued_at":"1700000002.5"}"#,
                OldestJob::EnqueuedAt(1700000002.5),
            ),
            (
                r#"{"enqueued_at":"1700000002500"}"#,
                OldestJob::EnqueuedAt(1700000002.5),
            ),
            (r#"{"class":"A","args":[]}"#, OldestJob::NoTimestamp),
            (r#"{"enqueued_at":"soon"}"#, OldestJob::NoTimestamp),
            ("not json at all", OldestJob::Unparsable),
            (r#"{"enqueued_at":17"#, OldestJob::Unparsable),
            ("[1,2,3]", OldestJob::Unparsable),
            ("", OldestJob::Unparsable),
        ];
        for (json, expected) in cases {
            assert_eq!(oldest_job(json), *expected, "{json}");
        }
    }

    #[test]
    fn latency_is_zero_for_empty_and_absent_for_unparsable() {
        let now = 1_700_000_100.0;
        let cases: &[(OldestJob, Option<f64>)] = &[
            (OldestJob::Empty, Some(0.0)),
            (OldestJob::NoTimestamp, Some(0.0)),
            (OldestJob::EnqueuedAt(1_700_000_000.0), Some(100.0)),
            (OldestJob::Unparsable, None),
        ];
        for (oldest, expected) in cases {
            assert_eq!(queue_latency(*oldest, now), *expected, "{oldest:?}");
        }
    }

    #[test]
    fn process_info_of_every_sidekiq_version() {
        /// (info JSON, hostname, concurrency, queues, version)
        type Case<'a> = (
            &'a str,
            &'a str,
            Option<f64>,
            &'a [&'a str],
            Option<&'a str>,
        );
        let cases: &[Case] = &[
            // 6.5: queues list, no version.
            (
                r#"{"hostname":"web1","started_at":1.0,"pid":12,"tag":"mastodon","concurrency":25,"queues":["default","push","pull"],"labels":[],"identity":"web1:12:abc"}"#,
                "web1",
                Some(25.0),
                &["default", "pull", "push"],
                None,
            ),
            // 7.1: weights per capsule.
            (
                r#"{"hostname":"w2","concurrency":10,"queues":["default"],"weights":[{"default":8,"ingress":4}],"version":"7.1.0"}"#,
                "w2",
                Some(10.0),
                &["default", "ingress"],
                Some("7.1.0"),
            ),
            // 7.3+/8: capsules.
            (
                r#"{"hostname":"w3","capsules":{"default":{"concurrency":5,"mode":"weighted","weights":{"scheduler":0}},"mail":{"concurrency":2,"weights":{"mailers":1}}},"version":"8.0.9"}"#,
                "w3",
                Some(7.0),
                &["mailers", "scheduler"],
                Some("8.0.9"),
            ),
            ("garbage", "", None, &[], None),
        ];
        for (json, host, concurrency, queues, version) in cases {
            let info = parse_process_info(json);
            assert_eq!(info.hostname, *host, "{json}");
            assert_eq!(info.concurrency, *concurrency, "{json}");
            let got: Vec<&str> = info.queues.iter().map(String::as_str).collect();
            assert_eq!(got, *queues, "{json}");
            assert_eq!(info.version.as_deref(), *version, "{json}");
        }
    }

    #[test]
    fn work_entries_give_queue_and_start_time() {
        type Case<'a> = (&'a str, Option<(&'a str, Option<f64>)>);
        let cases: &[Case] = &[
            (
                r#"{"queue":"push","payload":"{}","run_at":1700000000}"#,
                Some(("push", Some(1_700_000_000.0))),
            ),
            (
                r#"{"queue":"push","payload":{},"run_at":1700000000123}"#,
                Some(("push", Some(1_700_000_000.123))),
            ),
            (r#"{"queue":"pull"}"#, Some(("pull", None))),
            (r#"{"payload":"{}"}"#, None),
            ("nope", None),
        ];
        for (json, expected) in cases {
            let got = parse_work(json);
            assert_eq!(
                got.as_ref().map(|(q, t)| (q.as_str(), *t)),
                *expected,
                "{json}"
            );
        }
    }

    #[test]
    fn utc_dates() {
        let cases: &[(f64, &str)] = &[
            (0.0, "1970-01-01"),
            (86_399.9, "1970-01-01"),
            (951_782_400.0, "2000-02-29"),
            (1_700_000_000.0, "2023-11-14"),
            (1_795_306_503.0, "2026-11-22"),
        ];
        for (t, expected) in cases {
            assert_eq!(utc_date(*t), *expected, "{t}");
        }
    }

    #[test]
    fn queue_plan_puts_mastodon_first_and_caps() {
        let first = FirstRound {
            queues: ["zeta", "default", "alpha", "push", "pull"]
                .map(String::from)
                .to_vec(),
            processes: ["b", "a", "a"].map(String::from).to_vec(),
            ..FirstRound::default()
        };
        let options = RedisOptions {
            sidekiq_queue_limit: 4,
            ..RedisOptions::default()
        };
        let plan = plan_second_round(&first, &options);
        assert_eq!(plan.queues, ["default", "push", "pull", "alpha"]);
        assert_eq!(plan.queues_left_out, 1);
        assert_eq!(plan.processes, ["a", "b"]);
    }

    #[test]
    fn uncovered_queues_are_those_no_process_serves() {
        let process = |queues: &[&str]| ProcessState {
            info: ProcessInfo {
                queues: queues.iter().map(|q| q.to_string()).collect(),
                ..ProcessInfo::default()
            },
            ..ProcessState::default()
        };
        let required: Vec<String> = DEFAULT_REQUIRED.iter().map(|q| q.to_string()).collect();
        let cases: &[(&[&[&str]], &[&str])] = &[
            (&[], &DEFAULT_REQUIRED),
            (
                &[
                    &["default", "push", "ingress", "mailers", "pull"],
                    &["scheduler"],
                ],
                &["fasp"],
            ),
            (&[&DEFAULT_REQUIRED], &[]),
        ];
        for (processes, expected) in cases {
            let processes: Vec<ProcessState> = processes.iter().map(|q| process(q)).collect();
            assert_eq!(uncovered_queues(&required, &processes), *expected);
        }
    }

    const DEFAULT_REQUIRED: [&str; 7] = super::super::redis::DEFAULT_MASTODON_QUEUES;

    #[test]
    fn scan_reply_parsing() {
        let reply = Value::Array(vec![
            Value::BulkString(b"17".to_vec()),
            Value::Array(vec![Value::BulkString(
                b"exhausted_deliveries:a.example".to_vec(),
            )]),
        ]);
        let (cursor, keys) = parse_scan_reply(&reply).expect("valid reply");
        assert_eq!(cursor, 17);
        assert_eq!(keys, ["exhausted_deliveries:a.example"]);
        assert!(parse_scan_reply(&Value::Nil).is_err());
    }

    #[test]
    fn first_round_counts_missing_keys_as_zero_and_drops_failed_reads() {
        let error = || {
            redis::parse_redis_value(b"-WRONGTYPE Operation against a key\r\n")
                .expect("a RESP error reply")
        };
        let values = vec![
            Value::Array(vec![Value::BulkString(b"default".to_vec())]),
            Value::Array(vec![]),
            error(),
            Value::Nil,
            Value::BulkString(b"56".to_vec()),
            Value::Int(4),
            error(),
            Value::Int(0),
            Value::Int(2),
            Value::Int(1),
            Value::Nil,
        ];
        let mut sink = Sink::new();
        let first = parse_first_round(&values, 1_700_000_000.0, &mut sink);
        assert_eq!(first.queues, ["default"]);
        assert!(first.paused.is_empty());
        assert_eq!(first.processed, Some(0.0));
        assert_eq!(first.failed, Some(56.0));
        assert_eq!(first.scheduled, Some(4.0));
        assert_eq!(first.retries, None);
        assert_eq!(first.schedule_overdue, Some(2.0));
        assert_eq!(first.processed_today, Some(0.0));
        assert_eq!(first.date, "2023-11-14");
        assert_eq!(sink.partial_errors().len(), 2);
    }

    #[test]
    fn namespaced_keys() {
        assert_eq!(
            SidekiqKeys::new(Some("mastodon")).key("queue:default"),
            "mastodon:queue:default"
        );
        assert_eq!(SidekiqKeys::new(None).key("retry"), "retry");
        assert_eq!(SidekiqKeys::new(Some("")).key("retry"), "retry");
    }
}
