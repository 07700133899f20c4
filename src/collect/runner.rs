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

use super::health::{RunEnd, classify, run_health};
use super::{Collector, Sink};
use crate::config::secret::redact;
use crate::model::{
    Family, Health, MetricDesc, Outcome, Reason, Snapshot, SnapshotStore, TargetId,
};

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
    /// The last health of a target that reports its own (probes), for logging changes.
    last_health: Option<Health>,
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
    let joined = tokio::time::timeout(timeout, handle).await;
    let duration = started.elapsed();
    let (end, reported, failed_parts, families) = match &joined {
        Ok(Ok((result, sink))) => {
            for p in sink.partial_errors() {
                tracing::warn!(target: "fedimeter::collect", %id, "part of the collection failed: {}", redact(p));
            }
            let failed_parts = u32::try_from(sink.partial_errors().len()).unwrap_or(u32::MAX);
            let end = match result {
                Ok(()) => RunEnd::Collected,
                Err(error) => RunEnd::Failed(error),
            };
            (end, sink.health(), failed_parts, None)
        }
        Ok(Err(join_error)) if join_error.is_panic() => {
            (RunEnd::Panicked, None, 0, Some(Vec::new()))
        }
        // Cancelled without a panic: only `abort` below does that, so treat it as a timeout.
        Ok(Err(_)) => (RunEnd::TimedOut, None, 0, Some(Vec::new())),
        Err(_elapsed) => {
            abort.abort();
            (RunEnd::TimedOut, None, 0, Some(Vec::new()))
        }
    };
    let outcome = end.outcome(failed_parts);
    let health = run_health(id.kind, &end, reported);
    match &end {
        RunEnd::Collected => {}
        RunEnd::Failed(error) => {
            let message = format!("collection failed: {}", redact(&format!("{error:#}")));
            log_failure(id, totals, classify(error), message);
        }
        RunEnd::Panicked => {
            let message = "collector panicked; the panic was contained and the target marked down";
            log_failure(id, totals, Reason::Other, message.to_string());
        }
        RunEnd::TimedOut => {
            totals.timeouts += 1;
            let message = format!(
                "collection timed out after {} and was cancelled",
                humantime::format_duration(timeout)
            );
            log_failure(id, totals, Reason::Timeout, message);
        }
    }
    if id.kind.reports_own_health() {
        log_health_change(id, totals, health);
    }
    // Whatever the collector recorded before failing is kept: partial data is data.
    let families = match (families, joined) {
        (Some(families), _) => families,
        (None, Ok(Ok((_, sink)))) => sink.into_parts().0,
        (None, _) => Vec::new(),
    };
    totals.partial_errors += u64::from(failed_parts);
    let finished_at = SystemTime::now();
    totals.runs += 1;
    if outcome.collected() {
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
        health,
        families: with_runner_families(id, families, outcome, health, duration, totals),
    }
}

/// Logs a failure when it differs from the previous one (a target that stays down with the
/// same error logs once, at debug level afterwards).
fn log_failure(id: &TargetId, totals: &mut Totals, reason: Reason, message: String) {
    if totals.last_failure.as_deref() == Some(message.as_str()) {
        tracing::debug!(target: "fedimeter::collect", %id, %reason, "{message}");
    } else {
        tracing::warn!(target: "fedimeter::collect", %id, %reason, "{message}");
        totals.last_failure = Some(message);
    }
}

/// For targets that report their own health (probes): logs once when the target goes down
/// (or down for another reason class) and once when it is up again. Only the reason class
/// is logged, never the URL or the error text (the probe logs those at debug level).
fn log_health_change(id: &TargetId, totals: &mut Totals, health: Option<Health>) {
    let Some(health) = health else { return };
    let previous = totals.last_health.replace(health);
    match (previous, health) {
        (Some(Health::Down { reason: before }), Health::Down { reason }) if before == reason => {}
        (_, Health::Down { reason }) => {
            tracing::warn!(target: "fedimeter::collect", %id, %reason, "target is down");
        }
        (Some(Health::Down { .. }), _) => {
            tracing::info!(target: "fedimeter::collect", %id, health = health.as_str(), "target recovered");
        }
        _ => {}
    }
}

fn with_runner_families(
    id: &TargetId,
    mut families: Vec<Family>,
    outcome: Outcome,
    health: Option<Health>,
    duration: Duration,
    totals: &Totals,
) -> Vec<Family> {
    let bool_value = |b: bool| if b { 1.0 } else { 0.0 };
    if let Some(up_desc) = id.kind.up_desc() {
        families.retain(|f| f.desc.name != up_desc.name);
        let up = health.is_some_and(Health::is_up);
        families.insert(0, Family::single(up_desc, bool_value(up)));
    }
    let up = bool_value(outcome.collected());
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;
    use async_trait::async_trait;
    use std::collections::VecDeque;

    /// A probe-like collector that reports the next scripted health on every run.
    struct Scripted(VecDeque<Health>);

    #[async_trait]
    impl Collector for Scripted {
        async fn collect(&mut self, sink: &mut Sink) -> anyhow::Result<()> {
            if let Some(health) = self.0.pop_front() {
                sink.set_health(health);
            }
            Ok(())
        }
    }

    #[derive(Clone, Default)]
    struct Captured(Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().expect("log lock").extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[tokio::test]
    async fn a_failing_probe_is_logged_once_per_reason_and_once_on_recovery() {
        let log = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(log.clone())
            .with_ansi(false)
            .with_max_level(tracing::Level::INFO)
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let refused = Health::Down {
            reason: Reason::Refused,
        };
        let timeout = Health::Down {
            reason: Reason::Timeout,
        };
        let slow = Health::Degraded {
            reason: Reason::Slow,
        };
        let script = [
            Health::Up,
            refused,
            refused,
            refused,
            timeout,
            slow,
            Health::Up,
        ];
        let id = TargetId::new(Kind::Probe, "web");
        let collector: Box<dyn Collector> = Box::new(Scripted(script.into_iter().collect()));
        let collector = Arc::new(Mutex::new(collector));
        let mut totals = Totals::default();
        let mut healths = Vec::new();
        for _ in script {
            let snapshot = run_once(&id, Duration::from_secs(5), &collector, &mut totals).await;
            // The run itself always succeeded: fedimeter's view, not the target's.
            assert_eq!(snapshot.outcome, Outcome::Success);
            healths.push(snapshot.health);
        }
        assert_eq!(healths, script.map(Some));
        let bytes = log.0.lock().expect("log lock").clone();
        let text = String::from_utf8(bytes).expect("utf-8");
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines.len(),
            3,
            "down, down for another reason, recovered:\n{text}"
        );
        assert!(
            lines[0].contains("WARN") && lines[0].contains("reason=refused"),
            "{text}"
        );
        assert!(lines[0].contains("target is down") && lines[0].contains("probe/web"));
        assert!(lines[1].contains("WARN") && lines[1].contains("reason=timeout"));
        assert!(
            lines[2].contains("INFO") && lines[2].contains("target recovered"),
            "{text}"
        );
        assert!(lines[2].contains("health=\"degraded\"") || lines[2].contains("health=degraded"));
    }

    #[tokio::test]
    async fn a_probe_run_without_an_attempt_has_no_health_and_other_kinds_follow_the_run() {
        let empty = || -> Arc<Mutex<Box<dyn Collector>>> {
            Arc::new(Mutex::new(Box::new(Scripted(VecDeque::new()))))
        };
        let mut totals = Totals::default();
        let probe = TargetId::new(Kind::Probe, "web");
        let snapshot = run_once(&probe, Duration::from_secs(5), &empty(), &mut totals).await;
        assert_eq!(snapshot.health, None, "no attempt: no data");
        let redis = TargetId::new(Kind::Redis, "cache");
        let snapshot = run_once(&redis, Duration::from_secs(5), &empty(), &mut totals).await;
        assert_eq!(snapshot.health, Some(Health::Up));
        assert_eq!(snapshot.value("redis_up", &[]), Some(1.0));
    }
}
