//! Probes, components and SLIs end to end through the real binary: a local HTTP server that
//! can be switched between healthy and failing drives a probe; the component follows with
//! the consecutive thresholds (3 failures to go down, 2 successes to come back); the page,
//! the JSON API and `/metrics` show it; a Sidekiq-style metric threshold drives a second
//! component from real Redis data.

mod binary;
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;

use binary::{Server, Workdir, get as http_get};

/// A local web server whose `/health` answers with the status in `status`.
async fn health_server(status: Arc<AtomicU16>) -> String {
    let app = Router::new()
        .route(
            "/health",
            get(|State(s): State<Arc<AtomicU16>>| async move {
                let code = StatusCode::from_u16(s.load(Ordering::SeqCst)).unwrap_or(StatusCode::OK);
                (code, "OK")
            }),
        )
        .with_state(status);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/health")
}

async fn wait_for_metric(server: &Server, line: &str, limit: Duration) -> Duration {
    let started = Instant::now();
    loop {
        let (_, _, text, _) = http_get(&server.url("/metrics"), None).await;
        if text.contains(line) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < limit,
            "no {line:?} within {limit:?}:\n{text}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn components_follow_probes_with_thresholds_and_metric_thresholds() {
    let status = Arc::new(AtomicU16::new(200));
    let url = health_server(status.clone()).await;
    let redis = support::RedisServer::start();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    redis.cmd(&["SADD", "queues", "ingress"]);
    // The oldest ingress job has waited 120 s: over the 60 s "degraded" threshold.
    let job = format!(
        r#"{{"class":"X","queue":"ingress","jid":"j","created_at":{t},"enqueued_at":{t}}}"#,
        t = now - 120.0
    );
    redis.cmd(&["LPUSH", "queue:ingress", job.as_str()]);
    let config = format!(
        r#"listen = "127.0.0.1:0"
[sli]
evaluate_every = "1s"
flush_every = "2s"
recompute_every = "2s"
[[redis]]
name = "sidekiq"
url = "{redis}"
sidekiq = true
interval = "1s"
timeout = "500ms"
[[probe]]
name = "web"
url = "{url}"
interval = "1s"
timeout = "500ms"
[[component]]
name = "Website <b>& API</b>"
id = "website"
probes = ["web"]
[[component]]
name = "Incoming federation"
id = "federation_incoming"
[[component.threshold]]
metric = "sidekiq_queue_latency_seconds"
labels = {{ name = "ingress" }}
degraded_above = 60
major_outage_above = 900
"#,
        redis = redis.url(),
    );
    let work = Workdir::new(&config);
    let server = work.serve(&[]);
    wait_for_metric(
        &server,
        "fedimeter_component_status{component=\"website\",status=\"operational\"} 1",
        Duration::from_secs(15),
    )
    .await;
    wait_for_metric(
        &server,
        "fedimeter_component_status{component=\"federation_incoming\",status=\"degraded_performance\"} 1",
        Duration::from_secs(15),
    )
    .await;
    // The page is re-rendered within a second of a state change (docs/status-page.md).
    let mut page = String::new();
    for _ in 0..30 {
        page = http_get(&server.url("/"), None).await.2;
        if page.contains("Degraded performance") {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        page.contains("Website &lt;b&gt;&amp; API&lt;/b&gt;"),
        "component names are escaped: {page}"
    );
    assert!(page.contains("Degraded performance"), "{page}");
    assert!(
        !page.contains("127.0.0.1"),
        "no internal addresses on the page: {page}"
    );
    let (_, _, json, _) = http_get(&server.url("/api/status.json"), None).await;
    assert!(json.contains("\"indicator\":\"minor\""), "{json}");

    // The site starts failing: one failed attempt is not enough, three are.
    status.store(500, Ordering::SeqCst);
    let down_after = wait_for_metric(
        &server,
        "fedimeter_component_status{component=\"website\",status=\"major_outage\"} 1",
        Duration::from_secs(15),
    )
    .await;
    assert!(
        down_after >= Duration::from_millis(1500),
        "three consecutive failures are needed: {down_after:?}"
    );
    let (_, _, metrics, _) = http_get(&server.url("/metrics"), None).await;
    assert!(
        metrics.contains("probe_success{module=\"http\",target=\"web\"} 0"),
        "{metrics}"
    );
    let (_, _, json, _) = http_get(&server.url("/api/status.json"), None).await;
    assert!(json.contains("\"indicator\":\"critical\""), "{json}");

    status.store(200, Ordering::SeqCst);
    wait_for_metric(
        &server,
        "fedimeter_component_status{component=\"website\",status=\"operational\"} 1",
        Duration::from_secs(15),
    )
    .await;
}
