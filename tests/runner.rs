//! The runner contains collector faults: an error, a hang or a panic only marks that
//! target down, never the process, `/metrics` or the other targets.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use fedimeter::collect::runner::{Job, run_job};
use fedimeter::collect::{Collector, Sink};
use fedimeter::model::{Kind, MetricDesc, Outcome, SnapshotStore, TargetId};
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
}

struct TestCollector {
    behaviour: Behaviour,
    runs: Arc<AtomicU32>,
}

#[async_trait]
impl Collector for TestCollector {
    async fn collect(&mut self, sink: &mut Sink) -> anyhow::Result<()> {
        let run = self.runs.fetch_add(1, Ordering::SeqCst);
        match self.behaviour {
            Behaviour::Works => {}
            Behaviour::Errors => anyhow::bail!("connection refused"),
            Behaviour::Hangs => std::future::pending::<()>().await,
            Behaviour::Panics => panic!("collector bug"),
            Behaviour::HangsOnce if run == 0 => std::future::pending::<()>().await,
            Behaviour::HangsOnce => {}
        }
        sink.value(&CONNECTED, 7.0);
        Ok(())
    }
}

fn job(name: &str, behaviour: Behaviour, runs: Arc<AtomicU32>) -> Job {
    Job {
        id: TargetId::new(Kind::Redis, name),
        interval: Duration::from_millis(400),
        timeout: Duration::from_millis(200),
        collector: Box::new(TestCollector { behaviour, runs }),
    }
}

async fn get_metrics(state: &WebState) -> (Duration, String) {
    let started = std::time::Instant::now();
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
    (
        started.elapsed(),
        String::from_utf8(body.to_vec()).expect("utf-8"),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
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
    let mut counters = Vec::new();
    for (name, behaviour) in cases {
        let runs = Arc::new(AtomicU32::new(0));
        counters.push(runs.clone());
        tokio::spawn(run_job(
            job(name, behaviour, runs),
            store.clone(),
            shutdown.clone(),
        ));
    }
    // Every target's first run ends within jitter (≤ 40 ms) + timeout (200 ms); wait for
    // all four snapshots (bounded, so a loaded machine does not make this flaky).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.latest().iter().any(|(_, s)| s.is_none()) {
        assert!(
            std::time::Instant::now() < deadline,
            "every target publishes a snapshot"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let state = WebState {
        snapshots: store.clone(),
        site: Arc::new(SiteInfo {
            title: "t".into(),
            components: Vec::new(),
        }),
        history: Default::default(),
    };
    let (took, text) = get_metrics(&state).await;
    // The strict 100 ms bound is checked against the real binary in tests/faults.rs; here
    // the point is that a hanging collector does not hold /metrics for its timeout.
    assert!(took < Duration::from_millis(150), "/metrics took {took:?}");
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
    ] {
        assert!(text.contains(line), "{why}: missing {line:?} in\n{text}");
    }
    assert!(
        !text.contains("redis_connected_clients{target=\"hangs\"}"),
        "{text}"
    );
    let timeouts = text
        .lines()
        .find(|l| {
            l.starts_with(
                "fedimeter_collector_timeouts_total{collector=\"redis\",target=\"hangs\"}",
            )
        })
        .expect("timeouts counter");
    let count: u64 = timeouts
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("a count");
    assert!(count >= 1, "{timeouts}");
    let hangs = store
        .get(&TargetId::new(Kind::Redis, "hangs"))
        .expect("published");
    assert_eq!(hangs.outcome, Outcome::TimedOut);
    assert!(
        hangs.duration >= Duration::from_millis(200) && hangs.duration < Duration::from_secs(1),
        "{:?}",
        hangs.duration
    );
    let panics = store
        .get(&TargetId::new(Kind::Redis, "panics"))
        .expect("published");
    assert_eq!(panics.outcome, Outcome::Panicked);

    // The process and the other runners keep going: the panicking target is retried.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(
        counters[3].load(Ordering::SeqCst) >= 2,
        "panicking collector was run again"
    );
    assert!(
        counters[0].load(Ordering::SeqCst) >= 2,
        "working collector keeps running"
    );
    shutdown.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hung_run_is_cancelled_and_the_next_run_recovers() {
    let id = TargetId::new(Kind::Redis, "flaky");
    let store = Arc::new(SnapshotStore::new([id.clone()]));
    let shutdown = CancellationToken::new();
    let runs = Arc::new(AtomicU32::new(0));
    let mut rx = store.subscribe();
    tokio::spawn(run_job(
        job("flaky", Behaviour::HangsOnce, runs.clone()),
        store.clone(),
        shutdown.clone(),
    ));
    let first = rx.recv().await.expect("first snapshot");
    assert_eq!(first.outcome, Outcome::TimedOut);
    let second = rx.recv().await.expect("second snapshot");
    assert_eq!(second.outcome, Outcome::Success);
    assert_eq!(second.value("redis_up", &[]), Some(1.0));
    assert_eq!(
        runs.load(Ordering::SeqCst),
        2,
        "runs never overlap: exactly one run per tick"
    );
    shutdown.cancel();
}

#[tokio::test(start_paused = true)]
async fn runs_follow_the_interval_without_overlap() {
    let id = TargetId::new(Kind::Redis, "steady");
    let store = Arc::new(SnapshotStore::new([id.clone()]));
    let shutdown = CancellationToken::new();
    let runs = Arc::new(AtomicU32::new(0));
    let handle = tokio::spawn(run_job(
        Job {
            id,
            interval: Duration::from_secs(15),
            timeout: Duration::from_secs(5),
            collector: Box::new(TestCollector {
                behaviour: Behaviour::Works,
                runs: runs.clone(),
            }),
        },
        store.clone(),
        shutdown.clone(),
    ));
    // First run within the jitter (≤ 1 s), then one every 15 s.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(runs.load(Ordering::SeqCst), 5);
    shutdown.cancel();
    handle.await.expect("runner exits on shutdown");
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
                runs: Arc::new(AtomicU32::new(0)),
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
