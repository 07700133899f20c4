//! SLI history against the real stores (SQLite in a temp dir; PostgreSQL from the test
//! kit): batched writes and rollups, window counts, daily figures, restart and gaps, and a
//! six-hour simulation checked against hand-computed availability and burn rates.

mod support;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use fedimeter::config::{
    ComponentConfig, MaintenanceSchedule, MaintenanceWindow, Origin, SecretUrl, SignalConfig,
    ThresholdSignal,
};
use fedimeter::model::{
    Family, Health, Kind, MetricDesc, Outcome, Reason, Sample, Snapshot, SnapshotStore, TargetId,
};
use fedimeter::sli::components::{self, Component};
use fedimeter::sli::eval::ProbeResult;
use fedimeter::sli::math::{self, MinuteCounts};
use fedimeter::sli::recorder::{self, SliRecorder};
use fedimeter::sli::store::{ComponentTransition, SliBatch};
use fedimeter::sli::{ComponentOptions, ComponentStatus, SliOptions};
use fedimeter::store::Store;

use ComponentStatus::*;

static PROBE_SUCCESS: MetricDesc = MetricDesc::gauge("probe_success", "test", &[]);
static PROBE_DURATION: MetricDesc = MetricDesc::gauge("probe_duration_seconds", "test", &[]);
static PROBE_DEGRADED: MetricDesc = MetricDesc::gauge("probe_degraded", "test", &[]);
static QUEUE_LATENCY: MetricDesc =
    MetricDesc::gauge("sidekiq_queue_latency_seconds", "test", &["name"]);

fn at(rfc3339: &str) -> SystemTime {
    humantime::parse_rfc3339(rfc3339).expect("valid timestamp")
}

fn minute_of(t: SystemTime) -> i64 {
    fedimeter::store::unix_ms(t).div_euclid(60_000)
}

async fn sqlite(dir: &tempfile::TempDir) -> Store {
    let url = format!("sqlite://{}", dir.path().join("fedimeter.db").display());
    Store::open(&SecretUrl::new(url))
        .await
        .expect("opening sqlite store")
}

fn probe_snapshot(name: &str, finished_at: SystemTime, success: bool, degraded: bool) -> Snapshot {
    Snapshot {
        target: TargetId::new(Kind::Probe, name),
        finished_at,
        duration: Duration::from_millis(120),
        outcome: Outcome::Success,
        health: Some(match (success, degraded) {
            (false, _) => Health::Down {
                reason: Reason::CheckFailed,
            },
            (true, true) => Health::Degraded {
                reason: Reason::Slow,
            },
            (true, false) => Health::Up,
        }),
        families: vec![
            Family::single(&PROBE_SUCCESS, f64::from(u8::from(success))),
            Family::single(&PROBE_DURATION, 0.12),
            Family::single(&PROBE_DEGRADED, f64::from(u8::from(degraded))),
        ],
    }
}

fn redis_snapshot(
    finished_at: SystemTime,
    default_latency: f64,
) -> (TargetId, Option<Arc<Snapshot>>) {
    let id = TargetId::new(Kind::Redis, "sidekiq");
    let family = Family {
        desc: &QUEUE_LATENCY,
        samples: vec![Sample {
            labels: vec![Box::<str>::from("default")].into_boxed_slice(),
            value: default_latency,
        }],
    };
    let snapshot = Snapshot {
        target: id.clone(),
        finished_at,
        duration: Duration::from_millis(3),
        outcome: Outcome::Success,
        health: Some(Health::Up),
        families: vec![family],
    };
    (id, Some(Arc::new(snapshot)))
}

fn test_components() -> Vec<Component> {
    let website = ComponentConfig {
        id: "website".into(),
        name: "Website & API".into(),
        description: String::new(),
        signals: vec![
            SignalConfig::Probe {
                probe: "web".into(),
            },
            SignalConfig::Probe {
                probe: "api".into(),
            },
        ],
        options: ComponentOptions::default(),
        origin: Origin::Written,
    };
    let timelines = ComponentConfig {
        id: "timelines".into(),
        name: "Posting & home timelines".into(),
        description: String::new(),
        signals: vec![SignalConfig::Threshold(ThresholdSignal {
            metric: "sidekiq_queue_latency_seconds".into(),
            labels: vec![("name".into(), "default".into())],
            target_kind: Some(Kind::Redis),
            target_name: None,
            degraded_above: Some(30.0),
            partial_outage_above: None,
            major_outage_above: Some(300.0),
        })],
        options: ComponentOptions::default(),
        origin: Origin::Written,
    };
    components::from_configs(vec![website, timelines])
}

// ---------------------------------------------------------------------------------------
// Backend-independent test bodies
// ---------------------------------------------------------------------------------------

/// Writes a known pattern of minutes across hour and day boundaries, in several batches
/// (one minute written twice), and compares every window with the in-memory count.
async fn check_windows_match_minutes(store: &Store) {
    let start = minute_of(at("2026-08-20T21:17:00Z"));
    let end = minute_of(at("2026-11-22T03:41:00Z"));
    let states = [
        Operational,
        Operational,
        Operational,
        DegradedPerformance,
        Operational,
        MajorOutage,
        UnderMaintenance,
        PartialOutage,
    ];
    let mut all = Vec::new();
    let sli: Arc<str> = Arc::from("website");
    let mut batch = SliBatch::default();
    for m in start..end {
        // Every 7th hour has no data; otherwise a repeating pattern.
        if m.div_euclid(60) % 7 == 3 {
            continue;
        }
        let state = states[(m.rem_euclid(11) as usize) % states.len()];
        all.push((m, state));
        batch.minutes.push((sli.clone(), m, state));
        batch.minutes.push((Arc::from("other"), m, Operational));
        if batch.minutes.len() >= 20_000 {
            store
                .write_sli_batch(&batch)
                .await
                .expect("writing minutes");
            batch = SliBatch::default();
        }
    }
    store
        .write_sli_batch(&batch)
        .await
        .expect("writing minutes");
    // Writing a minute again keeps its worst state.
    let again = SliBatch {
        minutes: vec![(sli.clone(), end - 2, Operational)],
        ..SliBatch::default()
    };
    store
        .write_sli_batch(&again)
        .await
        .expect("rewriting a minute");
    let last = all
        .iter()
        .rev()
        .find(|(m, _)| *m == end - 2)
        .copied()
        .expect("written");

    for (from, to) in [
        (end - 5, end),
        (end - 60, end),
        (end - 61, end - 1),
        (end - 1440, end),
        (end - 3 * 1440, end),
        (end - 7 * 1440, end),
        (end - 30 * 1440, end),
        (end - 90 * 1440, end),
        (start - 100, start + 10),
    ] {
        let counts = store.sli_counts(from, to).await.expect("counts");
        let expected = math::count_minutes(&all, from, to);
        assert_eq!(
            counts.get("website").copied().unwrap_or_default(),
            expected,
            "window [{from}, {to})"
        );
    }
    // All windows in one statement give the same counts as one window at a time.
    let windows = fedimeter::sli::recorder::COMPUTED_WINDOWS;
    let together = store
        .sli_window_counts(end, &windows)
        .await
        .expect("window counts");
    for w in windows {
        let alone = store
            .sli_counts(end - w.minutes, end)
            .await
            .expect("counts");
        assert_eq!(together[w.label], alone, "window {}", w.label);
    }
    assert_eq!(
        store
            .sli_minutes("website", end - 2, end - 1)
            .await
            .expect("minutes"),
        vec![last]
    );

    // Daily figures: the last day is today (03:41 of 2026-11-22).
    let figures = store
        .sli_daily_figures("website", at("2026-11-22T03:41:30Z"), 96)
        .await
        .expect("figures");
    assert_eq!(figures.len(), 96);
    assert_eq!(figures.last().map(|f| f.date.as_str()), Some("2026-11-22"));
    for f in &figures {
        let day_start = f.day * 1440;
        let expected = math::count_minutes(&all, day_start, day_start + 1440);
        assert_eq!(f.counts, expected, "{}", f.date);
        assert_eq!(f.availability, expected.availability(), "{}", f.date);
        let worst_bad = all
            .iter()
            .filter(|(m, s)| {
                *m >= day_start && *m < day_start + 1440 && !s.is_good() && *s != UnderMaintenance
            })
            .map(|(_, s)| *s)
            .max();
        assert_eq!(
            f.worst,
            worst_bad.or(expected.availability().map(|_| Operational)),
            "{}",
            f.date
        );
    }
    // The first day (2026-08-19) is before the data: no data.
    assert_eq!(figures[0].availability, None);
    assert_eq!(figures[0].worst, None);
}

async fn check_intervals_results_and_pruning(store: &Store) {
    let t0 = at("2026-11-01T00:00:00Z");
    let web: Arc<str> = Arc::from("web");
    let results: Vec<ProbeResult> = (0..500)
        .map(|i| ProbeResult {
            probe: web.clone(),
            at: t0 + Duration::from_secs(15 * i),
            success: i % 10 != 0,
            degraded: i % 7 == 0,
            duration_seconds: 0.25,
        })
        .collect();
    let component: Arc<str> = Arc::from("website");
    let batch = SliBatch {
        probe_results: results.clone(),
        minutes: vec![(component.clone(), minute_of(t0), Operational)],
        transitions: vec![
            ComponentTransition {
                component: component.clone(),
                state: Some(Operational),
                at: t0,
            },
            ComponentTransition {
                component: component.clone(),
                state: Some(MajorOutage),
                at: t0 + Duration::from_secs(600),
            },
        ],
        seen: HashMap::from([(component.clone(), t0 + Duration::from_secs(900))]),
    };
    store
        .write_sli_batch(&batch)
        .await
        .expect("writing a batch");
    let stored = store
        .probe_results("web", t0, t0 + Duration::from_secs(86_400))
        .await
        .expect("results");
    assert_eq!(stored, results);
    let intervals = store
        .component_intervals("website", t0, t0 + Duration::from_secs(3600))
        .await
        .expect("intervals");
    assert_eq!(intervals.len(), 2);
    assert_eq!(
        (intervals[0].state, intervals[0].ended_at),
        (Operational, Some(t0 + Duration::from_secs(600)))
    );
    assert_eq!(
        (intervals[1].state, intervals[1].ended_at),
        (MajorOutage, None)
    );
    assert_eq!(intervals[1].last_seen_at, t0 + Duration::from_secs(900));
    // A restart closes the open interval where it was last seen.
    assert_eq!(
        store
            .close_stale_component_intervals()
            .await
            .expect("closing"),
        1
    );
    let intervals = store
        .component_intervals("website", t0, t0 + Duration::from_secs(3600))
        .await
        .expect("intervals");
    assert_eq!(intervals[1].ended_at, Some(t0 + Duration::from_secs(900)));

    // Pruning 14 days of raw results, 400 days of the rest.
    let now = t0 + Duration::from_secs(15 * 86_400);
    let day = Duration::from_secs(86_400);
    let deleted = store
        .prune_sli(now, 14 * day, 400 * day, 400 * day)
        .await
        .expect("pruning");
    assert_eq!(deleted, 500);
    assert!(
        store
            .probe_results("web", t0, now)
            .await
            .expect("results")
            .is_empty()
    );
    assert_eq!(
        store
            .sli_minutes("website", minute_of(t0), minute_of(t0) + 1)
            .await
            .expect("minutes")
            .len(),
        1
    );
    let deleted = store
        .prune_sli(t0 + 401 * day, 14 * day, 400 * day, 400 * day)
        .await
        .expect("pruning");
    assert_eq!(deleted, 1 + 1 + 1 + 2); // minute, hour, day, two closed intervals
}

/// Six simulated hours from 22:00 UTC (crossing midnight), probes and evaluations every
/// 15 s, store writes every minute, a restart with a 45-minute gap. Scenario (hh:mm after
/// the start):
/// - 01:00–01:30 the `default` queue latency is 45 s → timelines degraded (30 bad minutes).
/// - 02:00–02:20 probe `web` fails (api fine): down at the 3rd failure (02:00:30), up at the
///   2nd success (02:20:15) → website partial outage, minutes 120..=140 bad (21).
/// - 03:00–03:30 maintenance of every component (30 minutes); both probes fail
///   03:05–03:25 inside it.
/// - 04:00–04:45 fedimeter is not running: 45 minutes of no data, then a restart.
/// - 05:00–05:10 both probes fail → major outage, minutes 300..=310 bad (11).
///
/// Website over the 6 h: bad 32, maintenance 30, no data 45, good 360−32−30−45 = 253.
/// Timelines: bad 30, maintenance 30, no data 45, good 255.
async fn check_simulated_hours(store: Store, reopen: impl AsyncFn(Store) -> Store) {
    let t0 = at("2026-11-21T22:00:00Z");
    let secs = |s: u64| t0 + Duration::from_secs(s);
    let maintenance = vec![MaintenanceWindow {
        title: "database upgrade".into(),
        components: vec![],
        schedule: MaintenanceSchedule::Once {
            start: secs(3 * 3600),
            end: secs(3 * 3600 + 1800),
        },
    }];
    let mut store = store;
    store
        .close_stale_component_intervals()
        .await
        .expect("closing");
    let mut recorder = SliRecorder::new(test_components(), maintenance.clone());
    let mut restarted = false;
    for tick in 0..(6 * 3600 / 15) {
        let s = tick * 15;
        let now = secs(s);
        if (4 * 3600..4 * 3600 + 45 * 60).contains(&s) {
            if !restarted {
                // fedimeter stops at 04:00: the minute in progress is written, then nothing.
                recorder.finish_minute();
                store
                    .write_sli_batch(recorder.batch())
                    .await
                    .expect("final flush");
                recorder.written();
                store.close().await;
                store = reopen(store).await;
                store
                    .close_stale_component_intervals()
                    .await
                    .expect("closing");
                recorder = SliRecorder::new(test_components(), maintenance.clone());
                restarted = true;
            }
            continue;
        }
        let web_ok = !(2 * 3600..2 * 3600 + 1200).contains(&s)
            && !(3 * 3600 + 300..3 * 3600 + 1500).contains(&s)
            && !(5 * 3600..5 * 3600 + 600).contains(&s);
        let api_ok = !(3 * 3600 + 300..3 * 3600 + 1500).contains(&s)
            && !(5 * 3600..5 * 3600 + 600).contains(&s);
        recorder.observe(&probe_snapshot("web", now, web_ok, false));
        recorder.observe(&probe_snapshot("api", now, api_ok, false));
        let latency = if (3600..5400).contains(&s) { 45.0 } else { 2.0 };
        let snapshots = vec![redis_snapshot(now, latency)];
        recorder.evaluate(&snapshots, now);
        if s % 60 == 45 {
            store
                .write_sli_batch(recorder.batch())
                .await
                .expect("flush");
            recorder.written();
        }
    }
    // The last minute (05:59) is finished by the next evaluation at 06:00; do it by hand.
    recorder.finish_minute();
    store
        .write_sli_batch(recorder.batch())
        .await
        .expect("flush");
    recorder.written();

    let end = secs(6 * 3600);
    let end_minute = minute_of(end);
    let whole = store
        .sli_counts(end_minute - 360, end_minute)
        .await
        .expect("counts");
    assert_eq!(whole["website"], MinuteCounts::new(253, 32, 30));
    assert_eq!(whole["website"].no_data(360), 45);
    assert_eq!(whole["timelines"], MinuteCounts::new(255, 30, 30));

    // The exact bad minutes of the website.
    let minutes = store
        .sli_minutes("website", end_minute - 360, end_minute)
        .await
        .expect("minutes");
    let bad: Vec<i64> = minutes
        .iter()
        .filter(|(_, s)| !s.is_good() && *s != UnderMaintenance)
        .map(|(m, _)| m - minute_of(t0))
        .collect();
    let expected_bad: Vec<i64> = (120..=140).chain(300..=310).collect();
    assert_eq!(bad, expected_bad);
    assert!(
        minutes
            .iter()
            .filter(|(m, _)| (120..=140).contains(&(m - minute_of(t0))))
            .all(|(_, s)| *s == PartialOutage)
    );
    assert!(
        minutes
            .iter()
            .filter(|(m, _)| (300..=310).contains(&(m - minute_of(t0))))
            .all(|(_, s)| *s == MajorOutage)
    );

    // The families, against hand-computed values (objective 99.5 % → budget 0.005):
    let families = recorder::compute_sli_families(&store, recorder.components(), end)
        .await
        .expect("families");
    let value = |name: &str, labels: &[&str]| {
        families
            .iter()
            .find(|f| f.desc.name == name)
            .and_then(|f| f.value(labels))
    };
    let close = |a: Option<f64>, b: f64| a.is_some_and(|a| (a - b).abs() < 1e-9);
    // 1d / 7d / 30d / 90d all cover the same six hours: 253 / 285
    for w in ["1d", "7d", "30d", "90d"] {
        assert!(
            close(value("fedimeter_sli_ratio", &["website", w]), 253.0 / 285.0),
            "{w}"
        );
        assert!(
            close(
                value("fedimeter_sli_ratio", &["timelines", w]),
                255.0 / 285.0
            ),
            "{w}"
        );
    }
    // last hour (05:00–06:00): 11 bad of 60
    assert!(close(
        value("fedimeter_sli_ratio", &["website", "1h"]),
        49.0 / 60.0
    ));
    assert!(close(
        value("fedimeter_burn_rate", &["website", "1h"]),
        (11.0 / 60.0) / 0.005
    ));
    assert!(close(value("fedimeter_burn_rate", &["website", "5m"]), 0.0));
    assert!(close(
        value("fedimeter_burn_rate", &["website", "30m"]),
        0.0
    ));
    // 2h (04:00–06:00): 45 no data, 15 good, 11 bad, 49 good → 11 / 75
    assert!(close(
        value("fedimeter_burn_rate", &["website", "2h"]),
        (11.0 / 75.0) / 0.005
    ));
    // 6h / 1d / 3d: 32 / 285
    for w in ["6h", "1d", "3d"] {
        assert!(
            close(
                value("fedimeter_burn_rate", &["website", w]),
                (32.0 / 285.0) / 0.005
            ),
            "{w}"
        );
    }
    // budget over 30 d: 1 − (32/285)/0.005
    assert!(close(
        value("fedimeter_error_budget_remaining_ratio", &["website"]),
        1.0 - (32.0 / 285.0) / 0.005
    ));
    // timelines: nothing bad in the last 2 h → 0 burn on short windows
    assert!(close(
        value("fedimeter_burn_rate", &["timelines", "1h"]),
        0.0
    ));

    // Burn-rate alert conditions: 1h (36.7) and 5m (0) → not firing; 1d (22.5) and 2h
    // (29.3) → firing; 3d (22.5) and 6h (22.5) → firing; 6h/30m → 30m is 0, not firing.
    let rate = |w: &str| value("fedimeter_burn_rate", &["website", w]);
    let firing: Vec<bool> = math::burn_rate_conditions(rate)
        .iter()
        .map(|c| c.firing)
        .collect();
    assert_eq!(firing, vec![false, false, true, true]);

    // Daily bars: 22:00–24:00 on the 21st (120 good minutes), the rest on the 22nd.
    let figures = store
        .sli_daily_figures("website", end, 2)
        .await
        .expect("figures");
    assert_eq!(figures[0].date, "2026-11-21");
    assert_eq!(figures[0].counts, MinuteCounts::new(120, 0, 0));
    assert_eq!(figures[0].worst, Some(Operational));
    assert_eq!(figures[1].counts, MinuteCounts::new(133, 32, 30));
    assert_eq!(figures[1].worst, Some(MajorOutage));
    // 240 minutes of the 22nd have passed; 133 + 32 + 30 = 195 are recorded; the 2 latest
    // are taken as pending, not missing (`math::UNWRITTEN_MINUTES`): 240 − 2 − 195 = 43.
    assert_eq!(figures[1].no_data_minutes, 43);

    // Component intervals: the restart closed the open interval at its last evaluation
    // (03:59:45), and the gap until 04:45 belongs to no interval.
    let intervals = store
        .component_intervals("website", t0, end)
        .await
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
            (Operational, 0, Some(7230)),
            (PartialOutage, 7230, Some(8415)),
            (Operational, 8415, Some(10_800)),
            (UnderMaintenance, 10_800, Some(12_600)),
            (Operational, 12_600, Some(14_385)),
            (Operational, 17_100, Some(18_030)),
            (MajorOutage, 18_030, Some(18_615)),
            (Operational, 18_615, None),
        ]
    );
}

/// The task itself with the real store behind the real `StoreHandle` (SQLite and
/// PostgreSQL; its timers and thresholds on paused time are `tests/sli_task.rs`): it
/// evaluates, writes every probe result once and publishes the families. Its clock is
/// stepped by the test (6 s per probe round, three minutes in all); every wait is bounded.
async fn check_run_task(store: Store) {
    let t0 = at("2026-11-22T00:00:00Z");
    let now = Arc::new(std::sync::Mutex::new(t0));
    let clock: Arc<dyn Fn() -> SystemTime + Send + Sync> = {
        let now = now.clone();
        Arc::new(move || *now.lock().expect("clock"))
    };
    let step = |by: Duration| *now.lock().expect("clock") += by;
    let snapshots = Arc::new(SnapshotStore::new([
        TargetId::new(Kind::Probe, "web"),
        TargetId::new(Kind::Probe, "api"),
    ]));
    let options = SliOptions {
        evaluate_every: Duration::from_millis(100),
        flush_every: Duration::from_millis(200),
        recompute_every: Duration::from_millis(300),
        ..SliOptions::default()
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let (states_tx, states_rx) = recorder::states_channel();
    let task = tokio::spawn(recorder::run_with_clock(
        fedimeter::store::handle::StoreHandle::connected(store.clone(), None),
        snapshots.clone(),
        SliRecorder::new(test_components(), vec![]),
        options,
        states_tx,
        clock.clone(),
        shutdown.clone(),
    ));
    // The task subscribes to the snapshots when it starts: wait for its first evaluation.
    let mut evaluations = states_rx.clone();
    tokio::time::timeout(Duration::from_secs(10), evaluations.changed())
        .await
        .expect("the task starts within 10 s")
        .expect("the task is running");
    for round in 0..30 {
        step(Duration::from_secs(6));
        snapshots.publish(Arc::new(probe_snapshot("web", clock(), true, false)));
        snapshots.publish(Arc::new(probe_snapshot("api", clock(), true, false)));
        // One evaluation at this instant before the clock moves on.
        evaluations.borrow_and_update();
        tokio::time::timeout(Duration::from_secs(10), evaluations.changed())
            .await
            .unwrap_or_else(|_| panic!("no evaluation within 10 s in round {round}"))
            .expect("the task is running");
    }
    // Bounded waits for what the slower timers do: flushing every result, then a recompute.
    let waited = std::time::Instant::now();
    while store
        .probe_results("web", t0, clock() + Duration::from_secs(1))
        .await
        .expect("results")
        .len()
        < 30
    {
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "the 30 web results were not flushed within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let ratio = "fedimeter_sli_ratio{sli=\"website\",window=\"1h\"} 1\n";
    let waited = std::time::Instant::now();
    loop {
        let text = fedimeter::export::exposition::render_store(
            &snapshots,
            fedimeter::export::exposition::Format::Text,
        );
        if text.contains(ratio) {
            break;
        }
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "no {ratio:?} within 20 s:\n{text}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // The page's typed channel carries the same states as the exported family.
    let states = states_rx.borrow().clone();
    assert!(states.evaluated_at.is_some());
    let statuses: Vec<(&str, Option<ComponentStatus>)> =
        states.states.iter().map(|(id, s)| (&**id, *s)).collect();
    assert_eq!(
        statuses,
        vec![("website", Some(Operational)), ("timelines", None)]
    );
    let text = fedimeter::export::exposition::render_store(
        &snapshots,
        fedimeter::export::exposition::Format::Text,
    );
    assert!(
        text.contains(
            "fedimeter_component_status{component=\"website\",status=\"operational\"} 1\n"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "fedimeter_component_status{component=\"website\",status=\"major_outage\"} 0\n"
        ),
        "{text}"
    );
    assert!(
        text.contains("fedimeter_sli_ratio{sli=\"website\",window=\"1h\"} 1\n"),
        "{text}"
    );
    assert!(
        text.contains("fedimeter_burn_rate{sli=\"website\",window=\"5m\"} 0\n"),
        "{text}"
    );
    assert!(
        !text.contains("sli=\"timelines\""),
        "no data, no sample: {text}"
    );
    shutdown.cancel();
    task.await.expect("task ends");
    let stored = store
        .probe_results("web", t0, clock() + Duration::from_secs(1))
        .await
        .expect("results");
    assert_eq!(stored.len(), 30);
    let minutes = store
        .sli_minutes("website", minute_of(t0), minute_of(clock()) + 1)
        .await
        .expect("minutes");
    assert!(
        minutes.len() >= 2 && minutes.iter().all(|(_, s)| *s == Operational),
        "{minutes:?}"
    );
}

// ---------------------------------------------------------------------------------------
// SQLite
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn sqlite_windows_match_minutes() {
    let dir = tempfile::tempdir().expect("tempdir");
    check_windows_match_minutes(&sqlite(&dir).await).await;
}

#[tokio::test]
async fn sqlite_intervals_results_and_pruning() {
    let dir = tempfile::tempdir().expect("tempdir");
    check_intervals_results_and_pruning(&sqlite(&dir).await).await;
}

#[tokio::test]
async fn sqlite_simulated_hours_with_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sqlite(&dir).await;
    check_simulated_hours(store, async |_old| sqlite(&dir).await).await;
}

#[tokio::test]
async fn sqlite_run_task_publishes_families() {
    let dir = tempfile::tempdir().expect("tempdir");
    check_run_task(sqlite(&dir).await).await;
}

// ---------------------------------------------------------------------------------------
// PostgreSQL (the same bodies)
// ---------------------------------------------------------------------------------------

/// A fresh PostgreSQL with an empty `fedimeter` database, and the store's URL.
fn postgres() -> (support::postgres::PgServer, String) {
    let server = support::postgres::PgServer::start();
    server.create_database("fedimeter");
    let url = server.url("fedimeter");
    (server, url)
}

async fn pg_store(url: &str) -> Store {
    Store::open(&SecretUrl::new(url.to_string()))
        .await
        .expect("opening postgres store")
}

#[tokio::test]
async fn postgres_windows_match_minutes() {
    let (_server, url) = postgres();
    check_windows_match_minutes(&pg_store(&url).await).await;
}

#[tokio::test]
async fn postgres_intervals_results_and_pruning() {
    let (_server, url) = postgres();
    check_intervals_results_and_pruning(&pg_store(&url).await).await;
}

#[tokio::test]
async fn postgres_simulated_hours_with_restart() {
    let (_server, url) = postgres();
    let store = pg_store(&url).await;
    check_simulated_hours(store, async |_old| pg_store(&url).await).await;
}

#[tokio::test]
async fn postgres_run_task_publishes_families() {
    let (_server, url) = postgres();
    check_run_task(pg_store(&url).await).await;
}
