//! The SLI task (`sli::recorder::run_with_clock`) on paused tokio time: its timers,
//! the consecutive-attempt thresholds and the minute buckets it writes, against a real
//! SQLite store, with exact instants.
//!
//! The task's clock is the paused tokio clock mapped onto a fixed wall-clock start, so a
//! four-minute scenario runs in milliseconds. The store is the real one, run on a helper
//! runtime on the wall clock: [`OnWallClock`] completes each store call before the paused
//! clock may move again (it blocks the paused runtime's only thread while the call runs),
//! otherwise the paused clock would auto-advance through the task's timers while SQLite
//! works on its own thread.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use fedimeter::config::{ComponentConfig, Origin, SecretUrl, SignalConfig};
use fedimeter::export::exposition::{Format, render_store};
use fedimeter::model::{
    Family, Health, Kind, MetricDesc, Outcome, Reason, Snapshot, SnapshotStore, TargetId,
};
use fedimeter::sli::history::{SliHistory, WindowCounts};
use fedimeter::sli::math::Window;
use fedimeter::sli::recorder::{self, SliRecorder};
use fedimeter::sli::store::SliBatch;
use fedimeter::sli::{ComponentOptions, ComponentStatus, SliOptions, components};
use fedimeter::store::Store;

use ComponentStatus::*;

static PROBE_SUCCESS: MetricDesc = MetricDesc::gauge("probe_success", "test", &[]);
static PROBE_DURATION: MetricDesc = MetricDesc::gauge("probe_duration_seconds", "test", &[]);
static PROBE_DEGRADED: MetricDesc = MetricDesc::gauge("probe_degraded", "test", &[]);

/// The real store, driven on a helper runtime with the wall clock.
struct OnWallClock {
    store: Store,
    rt: Option<tokio::runtime::Runtime>,
    _dir: tempfile::TempDir,
}

impl OnWallClock {
    fn open() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .expect("helper runtime");
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("fedimeter.db").display());
        let store = std::thread::scope(|s| {
            s.spawn(|| rt.block_on(Store::open(&SecretUrl::new(url))))
                .join()
                .expect("store thread")
        })
        .expect("opening the sqlite store");
        OnWallClock {
            store,
            rt: Some(rt),
            _dir: dir,
        }
    }

    /// Runs `fut` to completion on the helper runtime, on another thread, while this
    /// thread waits: no paused time passes meanwhile.
    fn block<F>(&self, fut: F) -> F::Output
    where
        F: Future + Send,
        F::Output: Send,
    {
        let rt = self.rt.as_ref().expect("runtime until drop");
        std::thread::scope(|s| s.spawn(|| rt.block_on(fut)).join().expect("store thread"))
    }

    fn minutes(&self, from: i64, to: i64) -> Vec<(i64, ComponentStatus)> {
        self.block(self.store.sli_minutes("website", from, to))
            .expect("reading minutes")
    }
}

impl Drop for OnWallClock {
    fn drop(&mut self) {
        if let Some(rt) = self.rt.take() {
            rt.shutdown_background();
        }
    }
}

#[async_trait]
impl SliHistory for OnWallClock {
    async fn close_stale_component_intervals(&self) -> anyhow::Result<u64> {
        self.block(self.store.close_stale_component_intervals())
    }

    async fn write_sli_batch(&self, batch: &SliBatch, _last: bool) -> anyhow::Result<()> {
        self.block(self.store.write_sli_batch(batch))
    }

    async fn sli_window_counts(
        &self,
        now_minute: i64,
        windows: &[Window],
    ) -> anyhow::Result<WindowCounts> {
        self.block(self.store.sli_window_counts(now_minute, windows))
    }

    async fn prune_sli(
        &self,
        now: SystemTime,
        raw_retention: Duration,
        bucket_retention: Duration,
        history_retention: Duration,
    ) -> anyhow::Result<u64> {
        self.block(
            self.store
                .prune_sli(now, raw_retention, bucket_retention, history_retention),
        )
    }
}

fn probe_snapshot(finished_at: SystemTime, success: bool) -> Snapshot {
    Snapshot {
        target: TargetId::new(Kind::Probe, "web"),
        finished_at,
        duration: Duration::from_millis(120),
        outcome: Outcome::Success,
        health: Some(if success {
            Health::Up
        } else {
            Health::Down {
                reason: Reason::HttpStatus,
            }
        }),
        families: vec![
            Family::single(&PROBE_SUCCESS, f64::from(u8::from(success))),
            Family::single(&PROBE_DURATION, 0.12),
            Family::single(&PROBE_DEGRADED, 0.0),
        ],
    }
}

fn status_line(state: ComponentStatus) -> String {
    format!(
        "fedimeter_component_status{{component=\"website\",status=\"{}\"}} 1\n",
        state.as_str()
    )
}

/// Probe attempts every 10 s at 2 s, 12 s, 22 s, …: attempts 6 to 13 (62 s to 132 s) fail,
/// the others succeed. The component needs 4 consecutive failures to go down and 3
/// consecutive successes to come back (not the defaults, 3 and 2). Evaluations every 5 s
/// from 0 s; batches flushed every 50 s from 0 s. (Attempts never fall on an evaluation
/// instant, and the flushes never on the first evaluation of a minute, so the order of
/// timers firing together cannot change what is checked.) Hand-computed:
/// - down at the evaluation at 95 s (the 4th failure was at 92 s; at 90 s only 3 had
///   happened), up again at 165 s (3rd success at 162 s; at 160 s only 2);
/// - minute 0 (evaluations 5–55 s) operational, minute 1 (60–115 s) and minute 2
///   (120–175 s) major outage as their worst state, minutes 3 and 4 operational;
/// - a minute is written by the first flush after the minute has ended: minute 0 at 100 s,
///   minute 1 at 150 s, minute 2 at 200 s, minute 3 at 250 s, minute 4 (in progress) at
///   shutdown.
#[tokio::test(start_paused = true)]
async fn minute_buckets_and_state_changes_follow_the_timers_and_thresholds() {
    let t0 = humantime::parse_rfc3339("2026-11-22T00:00:00Z").expect("valid time");
    let m0 = fedimeter::store::unix_ms(t0).div_euclid(60_000);
    let start = Instant::now();
    let clock: Arc<dyn Fn() -> SystemTime + Send + Sync> =
        Arc::new(move || t0 + (Instant::now() - start));
    let secs = Duration::from_secs;

    let history = Arc::new(OnWallClock::open());
    let snapshots = Arc::new(SnapshotStore::new([TargetId::new(Kind::Probe, "web")]));
    let website = ComponentConfig {
        id: "website".into(),
        name: "Website & API".into(),
        description: String::new(),
        signals: vec![SignalConfig::Probe {
            probe: "web".into(),
        }],
        options: ComponentOptions {
            failures_to_down: 4,
            successes_to_up: 3,
            ..ComponentOptions::default()
        },
        origin: Origin::Written,
    };
    let components = components::from_configs(vec![website]);
    let options = SliOptions {
        evaluate_every: secs(5),
        flush_every: secs(50),
        recompute_every: secs(60),
        ..SliOptions::default()
    };
    let shutdown = CancellationToken::new();
    let (states_tx, _states_rx) = recorder::states_channel();
    let task = tokio::spawn(recorder::run_with_clock(
        history.clone(),
        snapshots.clone(),
        SliRecorder::new(components, Vec::new()),
        options,
        states_tx,
        clock.clone(),
        shutdown.clone(),
    ));
    let attempts = 26; // 2 s … 252 s
    let success = |i: u64| !(6..=13).contains(&i);
    let feeder = {
        let snapshots = snapshots.clone();
        let clock = clock.clone();
        tokio::spawn(async move {
            for i in 0..attempts {
                tokio::time::sleep_until(start + secs(2 + 10 * i)).await;
                snapshots.publish(Arc::new(probe_snapshot(clock(), success(i))));
            }
        })
    };
    let at = |s: u64| tokio::time::sleep_until(start + secs(s));
    let page = || render_store(&snapshots, Format::Text);

    at(91).await;
    assert!(
        page().contains(&status_line(Operational)),
        "3 failures: still up\n{}",
        page()
    );
    at(96).await;
    assert!(
        page().contains(&status_line(MajorOutage)),
        "4 failures: down\n{}",
        page()
    );
    at(99).await;
    assert_eq!(
        history.minutes(m0, m0 + 10),
        vec![],
        "no flush since minute 0 ended"
    );
    at(101).await;
    assert_eq!(history.minutes(m0, m0 + 10), vec![(m0, Operational)]);
    at(149).await;
    assert_eq!(history.minutes(m0, m0 + 10), vec![(m0, Operational)]);
    at(151).await;
    assert_eq!(
        history.minutes(m0, m0 + 10),
        vec![(m0, Operational), (m0 + 1, MajorOutage)]
    );
    at(161).await;
    assert!(
        page().contains(&status_line(MajorOutage)),
        "2 successes: still down\n{}",
        page()
    );
    at(166).await;
    assert!(
        page().contains(&status_line(Operational)),
        "3 successes: up\n{}",
        page()
    );
    at(201).await;
    assert_eq!(
        history.minutes(m0, m0 + 10),
        vec![
            (m0, Operational),
            (m0 + 1, MajorOutage),
            (m0 + 2, MajorOutage)
        ]
    );
    at(251).await;
    assert_eq!(history.minutes(m0, m0 + 10).len(), 4, "minute 3 at 250 s");
    at(253).await;
    feeder.await.expect("feeder");
    shutdown.cancel();
    task.await.expect("the sli task ends on shutdown");
    assert_eq!(
        history.minutes(m0, m0 + 10),
        vec![
            (m0, Operational),
            (m0 + 1, MajorOutage),
            (m0 + 2, MajorOutage),
            (m0 + 3, Operational),
            (m0 + 4, Operational),
        ],
        "the minute in progress is written at shutdown"
    );

    // State intervals start at the evaluation that decided them; the open one stays open.
    let intervals = history
        .block(
            history
                .store
                .component_intervals("website", t0, t0 + secs(3600)),
        )
        .expect("intervals");
    let shape: Vec<(ComponentStatus, u64, Option<u64>)> = intervals
        .iter()
        .map(|i| {
            let off = |t: SystemTime| t.duration_since(t0).expect("after start").as_secs();
            (i.state, off(i.started_at), i.ended_at.map(off))
        })
        .collect();
    assert_eq!(
        shape,
        vec![
            (Operational, 5, Some(95)),
            (MajorOutage, 95, Some(165)),
            (Operational, 165, None),
        ]
    );

    // Every attempt was stored once, with its result.
    let results = history
        .block(history.store.probe_results("web", t0, t0 + secs(3600)))
        .expect("probe results");
    let got: Vec<(u64, bool)> = results
        .iter()
        .map(|r| {
            (
                r.at.duration_since(t0).expect("after start").as_secs(),
                r.success,
            )
        })
        .collect();
    let want: Vec<(u64, bool)> = (0..attempts).map(|i| (2 + 10 * i, success(i))).collect();
    assert_eq!(got, want);
}
