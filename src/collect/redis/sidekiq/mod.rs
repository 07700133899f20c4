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

mod descriptors;
pub mod jobs;
mod parse;

use std::collections::{BTreeMap, BTreeSet};

use redis::{Pipeline, Value};

use super::{RedisOptions, value_text};
use crate::collect::Sink;

pub use descriptors::*;
use parse::epoch_seconds_by_magnitude;
pub use parse::*;

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

    /// Adds the fixed reads to `pipe` and returns how many: [`FIRST_ROUND_LEN`], one less
    /// when no UTC date can be made of `now` (then `stat:processed:<date>` is not read).
    pub fn first_round(&self, pipe: &mut Pipeline, now: f64) -> usize {
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
        match utc_date(now) {
            Some(date) => {
                pipe.cmd("GET")
                    .arg(self.key(&format!("stat:processed:{date}")));
                FIRST_ROUND_LEN
            }
            None => FIRST_ROUND_LEN - 1,
        }
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

/// Number of replies [`SidekiqKeys::first_round`] adds (with the daily counter).
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
    /// The UTC date of `stat:processed:<date>` (`None`: not read, see [`utc_date`]).
    pub date: Option<String>,
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
    let date = utc_date(now);
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
        processed_today: date
            .is_some()
            .then(|| counter(10, "sidekiq daily processed counter", sink))
            .flatten(),
        date,
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
    if let (Some(today), Some(date)) = (first.processed_today, &first.date) {
        sink.sample(&PROCESSED_DAILY, [date.as_str()], today);
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

    const DEFAULT_REQUIRED: [&str; 7] = crate::collect::redis::DEFAULT_MASTODON_QUEUES;

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
        assert_eq!(first.date.as_deref(), Some("2023-11-14"));
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
