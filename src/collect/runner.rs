//! The runner: one task per [`Job`], owning interval, jitter, timeout, single-flight, panic
//! isolation and the per-collector self-metrics.
//!
//! Each run is spawned as its own task, so a panicking collector is caught as a
//! `JoinError` and a hung one is aborted at its timeout; either way only that target's
//! snapshot says so (`<system>_up 0`). Runs of one target never overlap: the next tick
//! waits for the previous run to end (or be cancelled).
//!
//! Time: intervals, timeouts and run durations are all measured on `tokio::time`
//! ([`tokio::time::Instant`]), never on `std::time::Instant`, so a test on paused time
//! (`#[tokio::test(start_paused = true)]`) sees exact durations. Only the wall-clock
//! timestamps of a snapshot (`finished_at`, the last-success time) use `SystemTime`.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::Rng;
use tokio::sync::Mutex;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::{Collector, Sink};
use crate::config::secret::redact;
use crate::model::{Family, MetricDesc, Outcome, Snapshot, SnapshotStore, TargetId};

/// One target to collect: what, how often, and how long a run may take.
pub struct Job {
    pub id: TargetId,
    pub interval: Duration,
    pub timeout: Duration,
    pub collector: Box<dyn Collector>,
}

const SELF_LABELS: &[&str] = &["collector", "target"];

pub static COLLECTOR_DURATION: MetricDesc = MetricDesc::gauge(
    "fedimeter_collector_duration_seconds",
    "Duration of the last collection run of a target",
    SELF_LABELS,
);
pub static COLLECTOR_SUCCESS: MetricDesc = MetricDesc::gauge(
    "fedimeter_collector_success",
    "Whether the last collection run of a target succeeded (1) or not (0)",
    SELF_LABELS,
);
pub static COLLECTOR_LAST_SUCCESS: MetricDesc = MetricDesc::gauge(
    "fedimeter_collector_last_success_timestamp_seconds",
    "Unix time of the last successful collection run of a target (0: never)",
    SELF_LABELS,
);
pub static COLLECTOR_RUNS: MetricDesc = MetricDesc::counter(
    "fedimeter_collector_runs_total",
    "Collection runs of a target, by any outcome",
    SELF_LABELS,
);
pub static COLLECTOR_TIMEOUTS: MetricDesc = MetricDesc::counter(
    "fedimeter_collector_timeouts_total",
    "Collection runs of a target cancelled at their timeout",
    SELF_LABELS,
);
pub static COLLECTOR_PARTIAL_ERRORS: MetricDesc = MetricDesc::counter(
    "fedimeter_collector_partial_errors_total",
    "Parts of collection runs (single queries or sections) that failed while the rest succeeded",
    SELF_LABELS,
);

/// Running totals the runner keeps for one target.
#[derive(Debug, Default, Clone)]
struct Totals {
    runs: u64,
    timeouts: u64,
    partial_errors: u64,
    last_success: Option<SystemTime>,
    /// The last failure logged, so a target that stays down logs once per new error and
    /// once when it recovers, not on every run.
    last_failure: Option<String>,
}

/// Runs `job` until `shutdown` is cancelled, publishing a snapshot after every run.
pub async fn run_job(job: Job, store: Arc<SnapshotStore>, shutdown: CancellationToken) {
    let Job {
        id,
        interval,
        timeout,
        collector,
    } = job;
    let collector = Arc::new(Mutex::new(collector));
    let mut totals = Totals::default();
    // Spread the targets' first runs over up to a tenth of the interval (at most 1 s) so
    // they do not all start on the same millisecond, and keep that phase afterwards.
    let max_jitter = (interval / 10).min(Duration::from_secs(1));
    let jitter = if max_jitter.is_zero() {
        Duration::ZERO
    } else {
        rand::rng().random_range(Duration::ZERO..max_jitter)
    };
    let mut ticker = tokio::time::interval_at(Instant::now() + jitter, interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        let snapshot = tokio::select! {
            _ = shutdown.cancelled() => return,
            s = run_once(&id, timeout, &collector, &mut totals) => s,
        };
        store.publish(Arc::new(snapshot));
    }
}

/// Runs the collector once with `timeout`, containing panics, and builds the snapshot.
/// Used by [`run_job`] and by `fedimeter once`.
pub async fn collect_once(
    id: &TargetId,
    timeout: Duration,
    collector: Box<dyn Collector>,
) -> Snapshot {
    let collector = Arc::new(Mutex::new(collector));
    let mut totals = Totals::default();
    run_once(id, timeout, &collector, &mut totals).await
}

async fn run_once(
    id: &TargetId,
    timeout: Duration,
    collector: &Arc<Mutex<Box<dyn Collector>>>,
    totals: &mut Totals,
) -> Snapshot {
    let started = Instant::now();
    let task_collector = collector.clone();
    let handle = tokio::spawn(async move {
        let mut collector = task_collector.lock().await;
        let mut sink = Sink::new();
        let result = collector.collect(&mut sink).await;
        (result, sink)
    });
    let abort = handle.abort_handle();
    let (outcome, families) = match tokio::time::timeout(timeout, handle).await {
        Ok(Ok((Ok(()), sink))) => {
            let (families, partial) = sink.into_parts();
            for p in &partial {
                tracing::warn!(target: "fedimeter::collect", %id, "part of the collection failed: {}", redact(p));
            }
            totals.partial_errors += partial.len() as u64;
            let outcome = if partial.is_empty() {
                Outcome::Success
            } else {
                Outcome::Partial {
                    failed_parts: u32::try_from(partial.len()).unwrap_or(u32::MAX),
                }
            };
            (outcome, families)
        }
        Ok(Ok((Err(error), sink))) => {
            let message = format!("collection failed: {}", redact(&format!("{error:#}")));
            log_failure(id, totals, message);
            // Whatever the collector recorded before failing is kept: partial data is data.
            (Outcome::Failed, sink.into_parts().0)
        }
        Ok(Err(join_error)) => {
            if join_error.is_panic() {
                let message =
                    "collector panicked; the panic was contained and the target marked down";
                log_failure(id, totals, message.to_string());
            }
            (Outcome::Panicked, Vec::new())
        }
        Err(_elapsed) => {
            abort.abort();
            totals.timeouts += 1;
            let message = format!(
                "collection timed out after {} and was cancelled",
                humantime::format_duration(timeout)
            );
            log_failure(id, totals, message);
            (Outcome::TimedOut, Vec::new())
        }
    };
    let duration = started.elapsed();
    let finished_at = SystemTime::now();
    totals.runs += 1;
    if outcome.is_up() {
        totals.last_success = Some(finished_at);
        if totals.last_failure.take().is_some() {
            tracing::info!(target: "fedimeter::collect", %id, "collection recovered");
        }
    }
    Snapshot {
        target: id.clone(),
        finished_at,
        duration,
        outcome,
        families: with_runner_families(id, families, outcome, duration, totals),
    }
}

/// Logs a failure when it differs from the previous one (a target that stays down with the
/// same error logs once, at debug level afterwards).
fn log_failure(id: &TargetId, totals: &mut Totals, message: String) {
    if totals.last_failure.as_deref() == Some(message.as_str()) {
        tracing::debug!(target: "fedimeter::collect", %id, "{message}");
    } else {
        tracing::warn!(target: "fedimeter::collect", %id, "{message}");
        totals.last_failure = Some(message);
    }
}

fn with_runner_families(
    id: &TargetId,
    mut families: Vec<Family>,
    outcome: Outcome,
    duration: Duration,
    totals: &Totals,
) -> Vec<Family> {
    let up = if outcome.is_up() { 1.0 } else { 0.0 };
    if let Some(up_desc) = id.kind.up_desc() {
        families.retain(|f| f.desc.name != up_desc.name);
        families.insert(0, Family::single(up_desc, up));
    }
    let labels = [id.kind.name(), &*id.name];
    let last_success = totals
        .last_success
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0.0, |d| d.as_secs_f64());
    for (desc, value) in [
        (&COLLECTOR_DURATION, duration.as_secs_f64()),
        (&COLLECTOR_SUCCESS, up),
        (&COLLECTOR_LAST_SUCCESS, last_success),
        (&COLLECTOR_RUNS, totals.runs as f64),
        (&COLLECTOR_TIMEOUTS, totals.timeouts as f64),
        (&COLLECTOR_PARTIAL_ERRORS, totals.partial_errors as f64),
    ] {
        let mut family = Family::new(desc);
        family.samples.push(crate::model::Sample {
            labels: labels.iter().map(|s| Box::<str>::from(*s)).collect(),
            value,
        });
        families.push(family);
    }
    families
}
