//! The runner contains collector faults: an error, a hang or a panic only marks that
//! target down, never the process, `/metrics` or the other targets.
//!
//! Everything about time runs on paused tokio time (`start_paused`): the runner measures on
//! `tokio::time::Instant`, so intervals, jitter, timeouts and run durations are exact here.
//! The one wall-clock latency check of the suite (`/metrics` under 100 ms with every
//! monitored process stopped) is in `tests/faults.rs`, against the real binary.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use fedimeter::collect::runner::{Job, run_job};
use fedimeter::collect::{Collector, Sink};
use fedimeter::model::{Kind, MetricDesc, Outcome, Snapshot, SnapshotStore, TargetId};
use fedimeter::web::{self, SiteInfo, Surface, WebState};

static CONNECTED: MetricDesc = MetricDesc::gauge("redis_connected_clients", "Clients", &[]);

/// What a test collector does on each run.
#[derive(Clone, Copy)]
enum Behaviour {
    Works,
    Errors,
    Hangs,
    Panics,
    /// Hangs on the first run, works afterwards.
    HangsOnce,
    /// Panics on the first run, works afterwards.
    PanicsOnce,
    /// Takes this long (paused time), then works.
    Takes(Duration),
}

/// What the test sees of a collector's runs.
#[derive(Clone, Default)]
struct Record {
    runs: Arc<AtomicU32>,
    /// When each run started (paused time).
    starts: Arc<Mutex<Vec<Instant>>>,
    /// Runs in progress now, and the most ever seen at once.
    active: Arc<AtomicU32>,
    max_active: Arc<AtomicU32>,
}

impl Record {
    fn runs(&self) -> u32 {
        self.runs.load(Ordering::SeqCst)
    }

    fn starts(&self) -> Vec<Instant> {
        self.starts.lock().expect("lock").clone()
    }
}

struct TestCollector {
    behaviour: Behaviour,
    record: Record,
}

/// Decrements the active count however the run ends (also when it is aborted).
struct ActiveGuard(Arc<AtomicU32>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl Collector for TestCollector {
    async fn collect(&mut self, sink: &mut Sink) -> anyhow::Result<()> {
        let run = self.record.runs.fetch_add(1, Ordering::SeqCst);
        self.record
            .starts
            .lock()
            .expect("lock")
            .push(Instant::now());
        let now_active = self.record.active.fetch_add(1, Ordering::SeqCst) + 1;
        self.record
            .max_active
            .fetch_max(now_active, Ordering::SeqCst);
        let _guard = ActiveGuard(self.record.active.clone());
        match self.behaviour {
            Behaviour::Works => {}
            Behaviour::Errors => anyhow::bail!("connection refused"),
            Behaviour::Hangs => std::future::pending::<()>().await,
            Behaviour::Panics => panic!("collector bug"),
            Behaviour::HangsOnce if run == 0 => std::future::pending::<()>().await,
            Behaviour::PanicsOnce if run == 0 => panic!("collector bug"),
            Behaviour::HangsOnce | Behaviour::PanicsOnce => {}
            Behaviour::Takes(d) => tokio::time::sleep(d).await,
        }
        sink.value(&CONNECTED, 7.0);
        Ok(())
    }
}

const INTERVAL: Duration = Duration::from_millis(400);
const TIMEOUT: Duration = Duration::from_millis(200);

fn job(name: &str, behaviour: Behaviour, record: &Record) -> Job {
    Job {
        id: TargetId::new(Kind::Redis, name),
        interval: INTERVAL,
        timeout: TIMEOUT,
        collector: Box::new(TestCollector {
            behaviour,
            record: record.clone(),
        }),
    }
}

fn web_state(store: &Arc<SnapshotStore>) -> WebState {
    WebState {
        snapshots: store.clone(),
        site: Arc::new(SiteInfo {
            title: "t".into(),
            components: Vec::new(),
        }),
        components: fedimeter::sli::recorder::states_channel().1,
        history: Default::default(),
    }
}

async fn get_metrics(state: &WebState) -> String {
    let response = web::router(state.clone(), Surface::All)
        .oneshot(
            Request::get("/metrics")
                .body(Body::empty())
                .expect("request"),
        )
        .await
        .expect("response");
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    String::from_utf8(body.to_vec()).expect("utf-8")
}

fn self_metric(snapshot: &Snapshot, name: &str) -> Option<f64> {
    snapshot.value(name, &["redis", &snapshot.target.name])
}

#[tokio::test(start_paused = true)]
async fn error_hang_and_panic_only_mark_their_own_target_down() {
    let cases = [
        ("works", Behaviour::Works),
        ("errors", Behaviour::Errors),
        ("hangs", Behaviour::Hangs),
        ("panics", Behaviour::Panics),
    ];
    let store = Arc::new(SnapshotStore::new(
        cases.iter().map(|(n, _)| TargetId::new(Kind::Redis, n)),
    ));
    let shutdown = CancellationToken::new();
    let t0 = Instant::now();
    let mut records = Vec::new();
    let mut rx = store.subscribe();
    for (name, behaviour) in cases {
        let record = Record::default();
        records.push(record.clone());
        tokio::spawn(run_job(
            job(name, behaviour, &record),
            store.clone(),
            shutdown.clone(),
        ));
    }
    // Every target's first run ends within jitter (≤ 40 ms, a tenth of the interval) plus
    // the timeout (200 ms): paused time makes that bound exact.
    while store.latest().iter().any(|(_, s)| s.is_none()) {
        rx.recv().await.expect("a snapshot");
    }
    assert!(
        t0.elapsed() <= Duration::from_millis(240),
        "{:?}",
        t0.elapsed()
    );
    // 450 ms in, the hanging target's second run (started at jitter + 400 ms) is in
    // progress. Serving /metrics takes no time at all on the paused clock: had it waited
    // on that run, the clock would have moved to the run's timeout.
    tokio::time::sleep_until(t0 + Duration::from_millis(450)).await;
    assert_eq!(
        records[2].runs(),
        2,
        "the hanging target is in its second run"
    );
    let before = Instant::now();
    let text = get_metrics(&web_state(&store)).await;
    assert_eq!(before.elapsed(), Duration::ZERO, "/metrics waited on a run");
    for (line, why) in [
        ("redis_up{target=\"works\"} 1\n", "a working target is up"),
        (
            "redis_up{target=\"errors\"} 0\n",
            "an erroring target is down",
        ),
        (
            "redis_up{target=\"hangs\"} 0\n",
            "a hanging target is down at its timeout",
        ),
        (
            "redis_up{target=\"panics\"} 0\n",
            "a panicking target is down",
        ),
        (
            "redis_connected_clients{target=\"works\"} 7\n",
            "the working target's samples are there",
        ),
        (
            "fedimeter_collector_success{collector=\"redis\",target=\"works\"} 1\n",
            "self-metric success",
        ),
        (
            "fedimeter_collector_success{collector=\"redis\",target=\"panics\"} 0\n",
            "self-metric failure",
        ),
        (
            "fedimeter_collector_timeouts_total{collector=\"redis\",target=\"hangs\"} 1\n",
            "one run timed out so far",
        ),
        (
            "fedimeter_collector_duration_seconds{collector=\"redis\",target=\"hangs\"} 0.2\n",
            "a timed-out run lasted exactly its timeout",
        ),
    ] {
        assert!(text.contains(line), "{why}: missing {line:?} in\n{text}");
    }
    assert!(
        !text.contains("redis_connected_clients{target=\"hangs\"}"),
        "{text}"
    );
    let hangs = store
        .get(&TargetId::new(Kind::Redis, "hangs"))
        .expect("published");
    assert_eq!(hangs.outcome, Outcome::TimedOut);
    assert_eq!(hangs.duration, TIMEOUT, "cancelled exactly at its timeout");
    let panics = store
        .get(&TargetId::new(Kind::Redis, "panics"))
        .expect("published");
    assert_eq!(panics.outcome, Outcome::Panicked);

    // The process and the other runners keep going: by 1 s every target, the panicking
    // one included, has started exactly three runs (at jitter, +400 ms, +800 ms).
    tokio::time::sleep_until(t0 + Duration::from_millis(1000)).await;
    for (record, (name, _)) in records.iter().zip(cases) {
        assert_eq!(record.runs(), 3, "{name}: runs by 1 s");
    }
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_hung_run_is_cancelled_at_its_timeout_and_the_next_run_recovers() {
    let id = TargetId::new(Kind::Redis, "flaky");
    let store = Arc::new(SnapshotStore::new([id.clone()]));
    let shutdown = CancellationToken::new();
    let record = Record::default();
    let mut rx = store.subscribe();
    tokio::spawn(run_job(
        job("flaky", Behaviour::HangsOnce, &record),
        store.clone(),
        shutdown.clone(),
    ));
    let first = rx.recv().await.expect("first snapshot");
    let first_at = Instant::now();
    assert_eq!(first.outcome, Outcome::TimedOut);
    assert_eq!(first.duration, TIMEOUT);
    assert_eq!(first.value("redis_up", &[]), Some(0.0));
    assert_eq!(
        self_metric(&first, "fedimeter_collector_timeouts_total"),
        Some(1.0)
    );
    assert_eq!(
        self_metric(&first, "fedimeter_collector_last_success_timestamp_seconds"),
        Some(0.0),
        "never succeeded yet"
    );
    let second = rx.recv().await.expect("second snapshot");
    // The hung run was cancelled at 200 ms; the next tick is one interval after the first.
    assert_eq!(first_at.elapsed(), INTERVAL - TIMEOUT);
    assert_eq!(second.outcome, Outcome::Success);
    assert_eq!(second.duration, Duration::ZERO);
    assert_eq!(second.value("redis_up", &[]), Some(1.0));
    assert_eq!(
        self_metric(&second, "fedimeter_collector_runs_total"),
        Some(2.0)
    );
    assert_eq!(
        self_metric(&second, "fedimeter_collector_timeouts_total"),
        Some(1.0)
    );
    assert_eq!(
        self_metric(&second, "fedimeter_collector_success"),
        Some(1.0)
    );
    assert!(
        self_metric(
            &second,
            "fedimeter_collector_last_success_timestamp_seconds"
        )
        .is_some_and(|t| t > 0.0),
        "recovery records a success time"
    );
    assert_eq!(record.runs(), 2, "exactly one run per tick");
    let starts = record.starts();
    assert_eq!(starts[1] - starts[0], INTERVAL);
    assert_eq!(
        record.max_active.load(Ordering::SeqCst),
        1,
        "the cancelled run ended before the next began"
    );
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn a_panic_is_contained_and_the_same_collector_runs_again() {
    let id = TargetId::new(Kind::Redis, "buggy");
    let store = Arc::new(SnapshotStore::new([id.clone()]));
    let shutdown = CancellationToken::new();
    let record = Record::default();
    let mut rx = store.subscribe();
    let task = tokio::spawn(run_job(
        job("buggy", Behaviour::PanicsOnce, &record),
        store.clone(),
        shutdown.clone(),
    ));
    let first = rx.recv().await.expect("first snapshot");
    assert_eq!(first.outcome, Outcome::Panicked);
    assert_eq!(first.duration, Duration::ZERO);
    assert_eq!(first.value("redis_up", &[]), Some(0.0));
    assert_eq!(first.value("redis_connected_clients", &[]), None);
    let second = rx.recv().await.expect("second snapshot");
    assert_eq!(second.outcome, Outcome::Success);
    assert_eq!(second.value("redis_connected_clients", &[]), Some(7.0));
    assert_eq!(
        self_metric(&second, "fedimeter_collector_runs_total"),
        Some(2.0)
    );
    assert_eq!(
        self_metric(&second, "fedimeter_collector_timeouts_total"),
        Some(0.0)
    );
    assert_eq!(record.starts()[1] - record.starts()[0], INTERVAL);
    shutdown.cancel();
    task.await.expect("the runner task itself never panicked");
}

#[tokio::test(start_paused = true)]
async fn runs_follow_the_interval_with_the_first_run_within_the_jitter() {
    // The first run waits a random jitter below a tenth of the interval, at most 1 s;
    // every later run follows exactly one interval after the previous one.
    for (interval, max_jitter) in [
        (Duration::from_secs(15), Duration::from_secs(1)),
        (Duration::from_secs(60), Duration::from_secs(1)),
        (Duration::from_secs(5), Duration::from_millis(500)),
        (Duration::from_millis(400), Duration::from_millis(40)),
    ] {
        let ids: Vec<_> = (0..8)
            .map(|i| TargetId::new(Kind::Redis, &format!("t{i}")))
            .collect();
        let store = Arc::new(SnapshotStore::new(ids.iter().cloned()));
        let shutdown = CancellationToken::new();
        let t0 = Instant::now();
        let mut records = Vec::new();
        let mut tasks = Vec::new();
        for id in &ids {
            let record = Record::default();
            records.push(record.clone());
            tasks.push(tokio::spawn(run_job(
                Job {
                    id: id.clone(),
                    interval,
                    timeout: Duration::from_secs(5).min(interval),
                    collector: Box::new(TestCollector {
                        behaviour: Behaviour::Works,
                        record,
                    }),
                },
                store.clone(),
                shutdown.clone(),
            )));
        }
        // + 2 ms: the timer wheel rounds a deadline up to the millisecond, and a run whose
        // jitter was just under `max_jitter` must have started when we look.
        tokio::time::sleep(interval * 4 + max_jitter + Duration::from_millis(2)).await;
        let mut firsts = Vec::new();
        for record in &records {
            let starts = record.starts();
            assert_eq!(
                starts.len(),
                5,
                "{interval:?}: runs in 4 intervals + jitter"
            );
            let first = starts[0] - t0;
            // The timer wheel rounds the first deadline up to the millisecond.
            assert!(
                first <= max_jitter,
                "{interval:?}: first run after {first:?}"
            );
            for pair in starts.windows(2) {
                assert_eq!(pair[1] - pair[0], interval, "{interval:?}: no drift");
            }
            firsts.push(first);
        }
        firsts.sort();
        firsts.dedup();
        // Eight draws from at least 40 one-millisecond slots: all equal would mean the
        // jitter is not applied (chance 40^-7 otherwise).
        assert!(firsts.len() > 1, "{interval:?}: targets spread: {firsts:?}");
        shutdown.cancel();
        for task in tasks {
            task.await.expect("runner exits on shutdown");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_run_longer_than_the_interval_delays_the_next_without_overlap() {
    // Runs take 1 s with a 400 ms interval (timeout 2 s): single-flight means the missed
    // ticks are skipped, so runs start exactly 1 s apart and never two at once.
    let id = TargetId::new(Kind::Redis, "slow");
    let store = Arc::new(SnapshotStore::new([id.clone()]));
    let shutdown = CancellationToken::new();
    let record = Record::default();
    let mut rx = store.subscribe();
    let task = tokio::spawn(run_job(
        Job {
            id,
            interval: INTERVAL,
            timeout: Duration::from_secs(2),
            collector: Box::new(TestCollector {
                behaviour: Behaviour::Takes(Duration::from_secs(1)),
                record: record.clone(),
            }),
        },
        store.clone(),
        shutdown.clone(),
    ));
    for _ in 0..4 {
        let snapshot = rx.recv().await.expect("snapshot");
        assert_eq!(snapshot.outcome, Outcome::Success);
        assert_eq!(
            snapshot.duration,
            Duration::from_secs(1),
            "exact run duration"
        );
    }
    // The fifth run began the moment the fourth ended (its tick was long due).
    let starts = record.starts();
    assert_eq!(starts.len(), 5);
    for pair in starts.windows(2) {
        assert_eq!(pair[1] - pair[0], Duration::from_secs(1));
    }
    assert_eq!(
        record.max_active.load(Ordering::SeqCst),
        1,
        "runs overlapped"
    );
    shutdown.cancel();
    task.await.expect("runner exits on shutdown");
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_the_runner_in_the_middle_of_a_run() {
    let id = TargetId::new(Kind::Redis, "stuck");
    let store = Arc::new(SnapshotStore::new([id.clone()]));
    let shutdown = CancellationToken::new();
    let record = Record::default();
    let task = tokio::spawn(run_job(
        Job {
            id: id.clone(),
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(10),
            collector: Box::new(TestCollector {
                behaviour: Behaviour::Hangs,
                record: record.clone(),
            }),
        },
        store.clone(),
        shutdown.clone(),
    ));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(record.runs(), 1, "the run is in progress");
    let cancelled_at = Instant::now();
    shutdown.cancel();
    task.await.expect("runner exits on shutdown");
    assert_eq!(
        cancelled_at.elapsed(),
        Duration::ZERO,
        "did not wait for the timeout"
    );
    assert!(
        store.get(&id).is_none(),
        "a cancelled run publishes nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn probe_endpoint_returns_one_target_without_the_target_label() {
    let ids = [
        TargetId::new(Kind::Redis, "a"),
        TargetId::new(Kind::Redis, "b"),
    ];
    let store = Arc::new(SnapshotStore::new(ids.iter().cloned()));
    for id in &ids {
        let snapshot = fedimeter::collect::runner::collect_once(
            id,
            Duration::from_secs(1),
            Box::new(TestCollector {
                behaviour: Behaviour::Works,
                record: Record::default(),
            }),
        )
        .await;
        store.publish(Arc::new(snapshot));
    }
    let state = WebState {
        snapshots: store,
        site: Arc::new(SiteInfo {
            title: "t".into(),
            components: Vec::new(),
        }),
        components: fedimeter::sli::recorder::states_channel().1,
        history: Default::default(),
    };
    let fetch = |uri: &'static str| {
        let router = web::router(state.clone(), Surface::All);
        async move {
            let response = router
                .oneshot(Request::get(uri).body(Body::empty()).expect("request"))
                .await
                .expect("response");
            let status = response.status().as_u16();
            let body = response
                .into_body()
                .collect()
                .await
                .expect("body")
                .to_bytes();
            (status, String::from_utf8(body.to_vec()).expect("utf-8"))
        }
    };
    let (status, body) = fetch("/probe?target=b").await;
    assert_eq!(status, 200);
    assert!(
        body.contains("\nredis_up 1\n") && body.contains("\nredis_connected_clients 7\n"),
        "{body}"
    );
    assert!(
        !body.contains("target="),
        "no target label and no self-metrics: {body}"
    );
    assert_eq!(fetch("/probe?target=zzz").await.0, 404);
    assert_eq!(fetch("/probe").await.0, 400);
    assert_eq!(fetch("/probe?target=b&kind=nope").await.0, 400);
    assert_eq!(fetch("/probe?target=b&kind=redis").await.0, 200);
    let (_, all) = fetch("/metrics").await;
    assert!(
        all.contains("redis_up{target=\"a\"} 1") && all.contains("redis_up{target=\"b\"} 1"),
        "{all}"
    );
}
