//! The OTLP push against receivers started inside the test: a tonic `MetricsService` server
//! (gRPC) and an axum handler for `POST /v1/metrics` (HTTP/protobuf), both on 127.0.0.1:0.
//! They record every request with its headers, and the tests check what arrived: metric
//! names, values, kinds, attributes (including `target`), resource attributes and headers;
//! plus failure handling (unreachable, unresponsive and failing receivers).
//!
//! The run loop's schedule (retry backoff with its cap and jitter bounds, request timeout,
//! shutdown mid-request, split pushes after a failed part) is tested on paused tokio time
//! through a scripted [`otlp::Transport`] at the end of this file: exact instants instead
//! of wall-clock sleeps.

#[path = "support/log_capture.rs"]
mod log_capture;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsPartialSuccess, ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Metric, NumberDataPoint, metric, number_data_point,
};
use prost::Message;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use log_capture::CapturedLog;

use fedimeter::config::{OtlpConfig, OtlpProtocol, Secret};
use fedimeter::export::otlp;
use fedimeter::model::{
    Family, Kind, MetricDesc, Outcome, PG_UP, REDIS_UP, Sample, Snapshot, SnapshotStore, TargetId,
};

static XACT: MetricDesc = MetricDesc::counter(
    "pg_stat_database_xact_commit",
    "Transactions committed",
    &["datid", "datname"],
);
static QUEUE_SIZE: MetricDesc =
    MetricDesc::gauge("sidekiq_queue_size", "Jobs waiting in a queue", &["queue"]);

const API_KEY: &str = "otlp-test-api-key-4f1c2b";
const LOCATION: &str = "test-location";

/// One request as a receiver saw it: header names (lowercase) with values, and the body.
#[derive(Debug, Clone)]
struct Received {
    headers: Vec<(String, String)>,
    request: ExportMetricsServiceRequest,
}

impl Received {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

// ---------------------------------------------------------------------------------------
// Receivers

struct GrpcReceiver {
    tx: mpsc::UnboundedSender<Received>,
    partial: bool,
}

#[tonic::async_trait]
impl MetricsService for GrpcReceiver {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let headers = request
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .map(|(k, v)| {
                (
                    k.as_str().to_string(),
                    v.to_str().unwrap_or("<binary>").to_string(),
                )
            })
            .collect();
        let _ = self.tx.send(Received {
            headers,
            request: request.into_inner(),
        });
        let partial_success = self.partial.then(|| ExportMetricsPartialSuccess {
            rejected_data_points: 2,
            error_message: "two points too old".into(),
        });
        Ok(tonic::Response::new(ExportMetricsServiceResponse {
            partial_success,
        }))
    }
}

/// Starts a gRPC receiver; returns its `http://127.0.0.1:port` endpoint.
async fn start_grpc_receiver(
    partial: bool,
    stop: CancellationToken,
) -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let incoming =
        tonic::transport::server::TcpIncoming::bind("127.0.0.1:0".parse().expect("addr"))
            .expect("bind grpc receiver");
    let addr = incoming.local_addr().expect("local addr");
    tokio::spawn(async move {
        tonic::transport::Server::builder()
            .add_service(MetricsServiceServer::new(GrpcReceiver { tx, partial }))
            .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
            .await
            .expect("grpc receiver runs");
    });
    (format!("http://{addr}"), rx)
}

/// Starts an HTTP/protobuf receiver whose first `fail_first` requests get a 503; returns
/// its `http://127.0.0.1:port` endpoint (without path).
async fn start_http_receiver(
    fail_first: usize,
    stop: CancellationToken,
) -> (String, mpsc::UnboundedReceiver<Received>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let seen = Arc::new(AtomicUsize::new(0));
    let handler = move |headers: HeaderMap, body: Bytes| {
        let tx = tx.clone();
        let seen = seen.clone();
        async move {
            if seen.fetch_add(1, Ordering::SeqCst) < fail_first {
                return (StatusCode::SERVICE_UNAVAILABLE, Vec::new());
            }
            let Ok(request) = ExportMetricsServiceRequest::decode(body) else {
                return (StatusCode::BAD_REQUEST, Vec::new());
            };
            let headers = headers
                .iter()
                .map(|(k, v)| {
                    (
                        k.as_str().to_string(),
                        v.to_str().unwrap_or("<binary>").to_string(),
                    )
                })
                .collect();
            let _ = tx.send(Received { headers, request });
            (
                StatusCode::OK,
                ExportMetricsServiceResponse::default().encode_to_vec(),
            )
        }
    };
    let app = axum::Router::new().route("/v1/metrics", axum::routing::post(handler));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind http receiver");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        axum::serve(listener, app)
            .with_graceful_shutdown(stop.cancelled_owned())
            .await
            .expect("http receiver runs");
    });
    (format!("http://{addr}"), rx)
}

// ---------------------------------------------------------------------------------------
// Data and helpers

fn sample(labels: &[&str], value: f64) -> Sample {
    Sample {
        labels: labels.iter().map(|s| Box::<str>::from(*s)).collect(),
        value,
    }
}

fn family(desc: &'static MetricDesc, samples: Vec<Sample>) -> Family {
    Family { desc, samples }
}

fn snapshot(id: &TargetId, families: Vec<Family>) -> Arc<Snapshot> {
    Arc::new(Snapshot {
        target: id.clone(),
        finished_at: SystemTime::now(),
        duration: Duration::from_millis(2),
        outcome: Outcome::Success,
        health: Some(fedimeter::model::Health::Up),
        families,
    })
}

/// A store with one PostgreSQL target and two Redis targets, all published, plus build info.
fn store_with_known_data(xact_commit: f64) -> Arc<SnapshotStore> {
    let pg = TargetId::new(Kind::Postgres, "primary");
    let cache = TargetId::new(Kind::Redis, "cache");
    let sidekiq = TargetId::new(Kind::Redis, "sidekiq");
    let store = Arc::new(SnapshotStore::new([
        pg.clone(),
        cache.clone(),
        sidekiq.clone(),
    ]));
    publish_pg(&store, xact_commit);
    store.publish(snapshot(&cache, vec![Family::single(&REDIS_UP, 0.0)]));
    store.publish(snapshot(
        &sidekiq,
        vec![
            Family::single(&REDIS_UP, 1.0),
            family(
                &QUEUE_SIZE,
                vec![sample(&["default"], 12.0), sample(&["push"], 3.0)],
            ),
        ],
    ));
    fedimeter::export::self_metrics::publish_build_info(&store);
    store
}

fn publish_pg(store: &SnapshotStore, xact_commit: f64) {
    let pg = TargetId::new(Kind::Postgres, "primary");
    store.publish(snapshot(
        &pg,
        vec![
            Family::single(&PG_UP, 1.0),
            family(&XACT, vec![sample(&["16384", "mastodon"], xact_commit)]),
        ],
    ));
}

fn config(endpoint: String, protocol: OtlpProtocol, interval: Duration) -> OtlpConfig {
    OtlpConfig {
        endpoint,
        protocol,
        interval,
        headers: vec![
            ("X-Api-Key".to_string(), Secret::new(API_KEY.to_string())),
            (
                "x-scope-orgid".to_string(),
                Secret::new("tenant-1".to_string()),
            ),
        ],
    }
}

fn string_attributes(attributes: &[KeyValue]) -> Vec<(String, String)> {
    attributes
        .iter()
        .map(|a| {
            let v = match a.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                other => panic!("attribute {} is not a string: {other:?}", a.key),
            };
            (a.key.clone(), v)
        })
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn metrics(request: &ExportMetricsServiceRequest) -> Vec<&Metric> {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .collect()
}

fn find<'a>(request: &'a ExportMetricsServiceRequest, name: &str) -> &'a Metric {
    metrics(request)
        .into_iter()
        .find(|m| m.name == name)
        .unwrap_or_else(|| panic!("metric {name} missing"))
}

fn gauge_points<'a>(request: &'a ExportMetricsServiceRequest, name: &str) -> &'a [NumberDataPoint] {
    match &find(request, name).data {
        Some(metric::Data::Gauge(g)) => &g.data_points,
        other => panic!("{name} is not a gauge: {other:?}"),
    }
}

fn points_by_attributes(points: &[NumberDataPoint]) -> Vec<(Vec<(String, String)>, f64)> {
    points
        .iter()
        .map(|p| {
            let v = match p.value {
                Some(number_data_point::Value::AsDouble(v)) => v,
                other => panic!("value is not a double: {other:?}"),
            };
            (string_attributes(&p.attributes), v)
        })
        .collect()
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Received>) -> Received {
    tokio::time::timeout(Duration::from_secs(10), rx.recv())
        .await
        .expect("a request arrives within 10 s")
        .expect("receiver alive")
}

/// Checks everything the known data must produce.
fn assert_known_data_arrived(received: &Received, xact_commit: f64) {
    // Headers from the config, values intact.
    assert_eq!(received.header("x-api-key"), Some(API_KEY));
    assert_eq!(received.header("x-scope-orgid"), Some("tenant-1"));

    let request = &received.request;
    assert_eq!(request.resource_metrics.len(), 1);
    let resource = string_attributes(
        &request.resource_metrics[0]
            .resource
            .as_ref()
            .expect("resource")
            .attributes,
    );
    let get = |k: &str| {
        resource
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    // The standard OTEL_* variables may override the defaults; without them (CI, a
    // developer's shell) the defaults are checked one by one.
    let env_name = std::env::var("OTEL_SERVICE_NAME").ok();
    let env_attributes = std::env::var("OTEL_RESOURCE_ATTRIBUTES").ok();
    assert_eq!(
        resource,
        otlp::resource_attributes(
            LOCATION,
            &otlp::default_instance_id(),
            env_name.as_deref(),
            env_attributes.as_deref()
        )
    );
    if env_name.is_none() && env_attributes.is_none() {
        assert_eq!(get("service.name"), Some("fedimeter"));
        assert_eq!(
            get("service.instance.id"),
            Some(otlp::default_instance_id().as_str())
        );
        assert_eq!(get("fedimeter.location"), Some(LOCATION));
        assert_eq!(
            get("service.version"),
            Some(fedimeter::export::self_metrics::VERSION)
        );
    }
    let scope = request.resource_metrics[0].scope_metrics[0]
        .scope
        .as_ref()
        .expect("scope");
    assert_eq!(scope.name, "fedimeter");

    // Names exactly as on /metrics, sorted.
    let names: Vec<&str> = metrics(request).iter().map(|m| m.name.as_str()).collect();
    for name in [
        "fedimeter_build_info",
        "pg_stat_database_xact_commit",
        "pg_up",
        "redis_up",
        "sidekiq_queue_size",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted);

    // Counter: cumulative monotonic sum, with its labels and the target.
    let xact = find(request, "pg_stat_database_xact_commit");
    assert_eq!(xact.description, "Transactions committed");
    let Some(metric::Data::Sum(sum)) = &xact.data else {
        panic!("counter must arrive as a Sum: {:?}", xact.data);
    };
    assert!(sum.is_monotonic);
    assert_eq!(
        sum.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    assert_eq!(
        points_by_attributes(&sum.data_points),
        vec![(
            pairs(&[
                ("datid", "16384"),
                ("datname", "mastodon"),
                ("target", "primary")
            ]),
            xact_commit
        )]
    );
    let point = &sum.data_points[0];
    assert!(point.start_time_unix_nano > 0);
    assert!(point.start_time_unix_nano <= point.time_unix_nano);

    // Gauges: target is always an attribute, even for the only PostgreSQL target.
    assert_eq!(
        points_by_attributes(gauge_points(request, "pg_up")),
        vec![(pairs(&[("target", "primary")]), 1.0)]
    );
    assert_eq!(
        points_by_attributes(gauge_points(request, "redis_up")),
        vec![
            (pairs(&[("target", "cache")]), 0.0),
            (pairs(&[("target", "sidekiq")]), 1.0)
        ]
    );
    assert_eq!(
        points_by_attributes(gauge_points(request, "sidekiq_queue_size")),
        vec![
            (pairs(&[("queue", "default"), ("target", "sidekiq")]), 12.0),
            (pairs(&[("queue", "push"), ("target", "sidekiq")]), 3.0)
        ]
    );
    // Internal families: no target.
    let build = points_by_attributes(gauge_points(request, "fedimeter_build_info"));
    assert_eq!(build.len(), 1);
    assert!(build[0].0.iter().all(|(k, _)| k != "target"));
}

fn export_count(store: &SnapshotStore, result: &str) -> f64 {
    store
        .internal()
        .iter()
        .flat_map(|families| families.iter())
        .find(|f| f.desc.name == "fedimeter_otlp_exports_total")
        .and_then(|f| f.value(&[result]))
        .unwrap_or(0.0)
}

async fn wait_for_count(store: &SnapshotStore, result: &str, at_least: f64) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while export_count(store, result) < at_least {
        assert!(
            Instant::now() < deadline,
            "fedimeter_otlp_exports_total{{result={result:?}}} stayed below {at_least}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Cancels the exporter and checks that it ends promptly.
async fn stop_exporter(shutdown: &CancellationToken, task: tokio::task::JoinHandle<()>) {
    shutdown.cancel();
    // A bound, not a latency measurement: that shutdown does not wait for a request is
    // shown exactly on paused time.
    tokio::time::timeout(Duration::from_secs(10), task)
        .await
        .expect("exporter stops after shutdown")
        .expect("exporter did not panic");
}

// ---------------------------------------------------------------------------------------
// Tests

async fn round_trip(protocol: OtlpProtocol) {
    let stop = CancellationToken::new();
    let (endpoint, mut rx) = match protocol {
        OtlpProtocol::Grpc => start_grpc_receiver(false, stop.clone()).await,
        OtlpProtocol::HttpProtobuf => start_http_receiver(0, stop.clone()).await,
    };
    let store = store_with_known_data(42.0);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(otlp::run(
        config(endpoint, protocol, Duration::from_millis(100)),
        LOCATION.to_string(),
        store.clone(),
        shutdown.clone(),
    ));

    let first = next(&mut rx).await;
    assert_known_data_arrived(&first, 42.0);

    // A newer snapshot is what the next exports carry; the exporter counts its successes.
    publish_pg(&store, 50.0);
    let later = loop {
        let r = next(&mut rx).await;
        let xact = find(&r.request, "pg_stat_database_xact_commit");
        let Some(metric::Data::Sum(sum)) = &xact.data else {
            panic!("sum")
        };
        if sum.data_points[0].value == Some(number_data_point::Value::AsDouble(50.0)) {
            break r;
        }
    };
    assert_known_data_arrived(&later, 50.0);
    // The counter's stream: the first point has an unknown start (start = time), the later
    // one keeps that start.
    let xact_point = |r: &Received| match &find(&r.request, "pg_stat_database_xact_commit").data {
        Some(metric::Data::Sum(s)) => s.data_points[0].clone(),
        other => panic!("sum expected: {other:?}"),
    };
    let (p1, p2) = (xact_point(&first), xact_point(&later));
    assert_eq!(p1.start_time_unix_nano, p1.time_unix_nano);
    assert!(p2.time_unix_nano > p1.time_unix_nano);
    assert_eq!(p2.start_time_unix_nano, p1.start_time_unix_nano);
    wait_for_count(&store, "success", 2.0).await;
    assert_eq!(export_count(&store, "failure"), 0.0);
    // The exporter's own self-metrics are exported too, once published.
    let with_self = next(&mut rx).await;
    let exports = find(&with_self.request, "fedimeter_otlp_exports_total");
    assert!(matches!(&exports.data, Some(metric::Data::Sum(s)) if s.is_monotonic));

    stop_exporter(&shutdown, task).await;
    stop.cancel();
}

#[tokio::test]
async fn grpc_export_delivers_names_values_attributes_resource_and_headers() {
    round_trip(OtlpProtocol::Grpc).await;
}

#[tokio::test]
async fn http_protobuf_export_delivers_names_values_attributes_resource_and_headers() {
    round_trip(OtlpProtocol::HttpProtobuf).await;
}

#[tokio::test]
async fn http_endpoint_with_a_path_is_used_as_given() {
    let stop = CancellationToken::new();
    let (endpoint, mut rx) = start_http_receiver(0, stop.clone()).await;
    let store = store_with_known_data(1.0);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(otlp::run(
        config(
            format!("{endpoint}/v1/metrics"),
            OtlpProtocol::HttpProtobuf,
            Duration::from_millis(100),
        ),
        LOCATION.to_string(),
        store,
        shutdown.clone(),
    ));
    assert_known_data_arrived(&next(&mut rx).await, 1.0);
    stop_exporter(&shutdown, task).await;
    stop.cancel();
}

#[tokio::test]
async fn grpc_partial_success_is_counted_as_partial() {
    let stop = CancellationToken::new();
    let (endpoint, mut rx) = start_grpc_receiver(true, stop.clone()).await;
    let store = store_with_known_data(1.0);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(otlp::run(
        config(endpoint, OtlpProtocol::Grpc, Duration::from_millis(100)),
        LOCATION.to_string(),
        store.clone(),
        shutdown.clone(),
    ));
    next(&mut rx).await;
    wait_for_count(&store, "partial", 1.0).await;
    assert_eq!(export_count(&store, "failure"), 0.0);
    stop_exporter(&shutdown, task).await;
    stop.cancel();
}

#[tokio::test]
async fn http_errors_are_retried_with_backoff_and_recovery_is_counted() {
    let stop = CancellationToken::new();
    let (endpoint, mut rx) = start_http_receiver(2, stop.clone()).await;
    let store = store_with_known_data(7.0);
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(otlp::run(
        config(
            endpoint,
            OtlpProtocol::HttpProtobuf,
            Duration::from_millis(100),
        ),
        LOCATION.to_string(),
        store.clone(),
        shutdown.clone(),
    ));
    // Two 503s, then accepted. The exact retry schedule is checked on paused time
    // (`backoff_follows_the_documented_schedule_on_paused_time`); here the real HTTP
    // transport's errors must count as failures and the third attempt must get through.
    let received = next(&mut rx).await;
    assert_known_data_arrived(&received, 7.0);
    wait_for_count(&store, "success", 1.0).await;
    assert_eq!(export_count(&store, "failure"), 2.0);
    stop_exporter(&shutdown, task).await;
    stop.cancel();
}

/// A port nobody listens on: connection refused.
async fn closed_port_endpoint() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    format!("http://{addr}")
}

#[tokio::test]
async fn unreachable_endpoint_is_counted_as_failed_without_panic_or_blocking() {
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
        let store = store_with_known_data(1.0);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(otlp::run(
            config(
                closed_port_endpoint().await,
                protocol,
                Duration::from_millis(50),
            ),
            LOCATION.to_string(),
            store.clone(),
            shutdown.clone(),
        ));
        wait_for_count(&store, "failure", 2.0).await;
        assert_eq!(export_count(&store, "success"), 0.0, "{protocol:?}");
        // /metrics still renders meanwhile, with the failure count.
        let text = fedimeter::export::exposition::render_store(
            &store,
            fedimeter::export::exposition::Format::Text,
        );
        assert!(
            text.contains("fedimeter_otlp_last_success_timestamp_seconds 0\n"),
            "{text}"
        );
        assert!(!task.is_finished(), "exporter keeps retrying");
        stop_exporter(&shutdown, task).await;
    }
}

/// A receiver that accepts connections and never answers: every export times out (after
/// `export_timeout`, here 2 s) and is counted as failed; shutdown does not wait for it.
#[tokio::test]
async fn unresponsive_endpoint_times_out_and_shutdown_does_not_wait() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let held = Arc::new(Mutex::new(Vec::new()));
    let keep = held.clone();
    let accept = tokio::spawn(async move {
        while let Ok((socket, _)) = listener.accept().await {
            keep.lock().expect("lock").push(socket);
        }
    });
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
        let store = store_with_known_data(1.0);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(otlp::run(
            config(
                format!("http://{addr}"),
                protocol,
                Duration::from_millis(300),
            ),
            LOCATION.to_string(),
            store.clone(),
            shutdown.clone(),
        ));
        // The request timeout's exact length, and shutdown in the middle of a hanging
        // request, are checked on paused time (`a_hung_request_…`); here the real
        // transports must give up on a silent receiver and count it.
        wait_for_count(&store, "failure", 1.0).await;
        assert_eq!(export_count(&store, "success"), 0.0, "{protocol:?}");
        stop_exporter(&shutdown, task).await;
    }
    accept.abort();
}

/// Failures are logged with the endpoint, but neither header values nor a password in the
/// endpoint appear in the log. The subscriber is the process-wide default, not a
/// thread-scoped one: with a scoped subscriber, another test hitting the same `warn!`
/// callsite at the same moment from a thread without one could cache "not interested" for
/// it and the line would be lost. So the log also holds the other tests' lines (none of
/// which may contain a secret either).
#[tokio::test]
async fn failure_logs_show_the_endpoint_but_no_secrets() {
    let captured = CapturedLog::install_global();

    let endpoint = closed_port_endpoint().await;
    let port = endpoint.rsplit(':').next().expect("port").to_string();
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
        let with_password = endpoint.replace("http://", "http://otlp:endpoint-pass-9x7@");
        let store = store_with_known_data(1.0);
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(otlp::run(
            config(with_password, protocol, Duration::from_millis(50)),
            LOCATION.to_string(),
            store.clone(),
            shutdown.clone(),
        ));
        wait_for_count(&store, "failure", 1.0).await;
        stop_exporter(&shutdown, task).await;
    }
    let log = captured.text();
    assert!(log.contains("otlp export failed"), "{log}");
    assert!(log.contains(&format!("127.0.0.1:{port}")), "{log}");
    assert!(log.contains("otlp:***@"), "{log}");
    for secret in [API_KEY, "tenant-1", "endpoint-pass-9x7"] {
        assert!(!log.contains(secret), "{secret} leaked:\n{log}");
    }
}

/// An export larger than `MAX_POINTS_PER_REQUEST` arrives as several requests that
/// together hold every point exactly once.
#[tokio::test]
async fn large_export_is_split_into_several_requests() {
    let stop = CancellationToken::new();
    let (endpoint, mut rx) = start_grpc_receiver(false, stop.clone()).await;
    let store = store_with_known_data(1.0);
    let sidekiq = TargetId::new(Kind::Redis, "sidekiq");
    let queues = otlp::MAX_POINTS_PER_REQUEST + 1000;
    let names: Vec<String> = (0..queues).map(|i| format!("queue-{i:05}")).collect();
    store.publish(snapshot(
        &sidekiq,
        vec![family(
            &QUEUE_SIZE,
            names.iter().map(|n| sample(&[n], 1.0)).collect(),
        )],
    ));
    let shutdown = CancellationToken::new();
    let task = tokio::spawn(otlp::run(
        config(endpoint, OtlpProtocol::Grpc, Duration::from_millis(300)),
        LOCATION.to_string(),
        store.clone(),
        shutdown.clone(),
    ));
    let first = next(&mut rx).await;
    let second = next(&mut rx).await;
    // Both parts belong to the first export, which succeeded.
    wait_for_count(&store, "success", 1.0).await;
    assert_eq!(export_count(&store, "failure"), 0.0);
    stop_exporter(&shutdown, task).await;
    stop.cancel();
    let points = |r: &Received| otlp::count_points(&r.request);
    assert_eq!(points(&first), otlp::MAX_POINTS_PER_REQUEST);
    let mut seen: Vec<String> = [&first, &second]
        .iter()
        .flat_map(|r| metrics(&r.request))
        .filter(|m| m.name == "sidekiq_queue_size")
        .flat_map(|m| match &m.data {
            Some(metric::Data::Gauge(g)) => g.data_points.clone(),
            _ => Vec::new(),
        })
        .map(|p| string_attributes(&p.attributes)[0].1.clone())
        .collect();
    seen.sort();
    assert!(
        seen == names,
        "{} points seen, {} expected",
        seen.len(),
        names.len()
    );
    // Both parts carry the resource and the headers.
    for r in [&first, &second] {
        assert_eq!(r.header("x-api-key"), Some(API_KEY));
        assert!(r.request.resource_metrics[0].resource.is_some());
    }
}

/// A header that cannot be sent (validation refuses it; `run` copes anyway): the exporter
/// logs, counts one failure and ends at once instead of panicking.
#[tokio::test]
async fn unsendable_header_ends_the_exporter_with_one_failure() {
    for protocol in [OtlpProtocol::Grpc, OtlpProtocol::HttpProtobuf] {
        let store = store_with_known_data(1.0);
        let mut config = config(
            "http://127.0.0.1:4317".to_string(),
            protocol,
            Duration::from_millis(50),
        );
        config
            .headers
            .push(("bad header".to_string(), Secret::new("x".to_string())));
        tokio::time::timeout(
            Duration::from_secs(2),
            otlp::run(
                config,
                LOCATION.to_string(),
                store.clone(),
                CancellationToken::new(),
            ),
        )
        .await
        .expect("run returns at once");
        assert_eq!(export_count(&store, "failure"), 1.0, "{protocol:?}");
    }
}

// ---------------------------------------------------------------------------------------
// The run loop on paused time, through a scripted transport

/// What the scripted transport answers to one request.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Reply {
    Accept,
    Fail,
    /// Never answers (the loop's request timeout must end it).
    Hang,
    /// Accepts, reporting this many rejected points.
    Reject(i64),
}

/// One request the scripted transport was given, when (paused time) and what it answered.
struct Sent {
    at: tokio::time::Instant,
    request: ExportMetricsServiceRequest,
}

/// Answers requests from a script, then accepts everything.
struct Scripted {
    script: std::collections::VecDeque<Reply>,
    tx: mpsc::UnboundedSender<Sent>,
}

#[async_trait::async_trait]
impl otlp::Transport for Scripted {
    async fn send(
        &mut self,
        request: ExportMetricsServiceRequest,
    ) -> anyhow::Result<Option<otlp::PartialSuccess>> {
        let reply = self.script.pop_front().unwrap_or(Reply::Accept);
        let _ = self.tx.send(Sent {
            at: tokio::time::Instant::now(),
            request,
        });
        match reply {
            Reply::Accept => Ok(None),
            Reply::Fail => anyhow::bail!("scripted receiver: http status 503"),
            Reply::Hang => std::future::pending().await,
            Reply::Reject(n) => Ok(Some(otlp::PartialSuccess {
                rejected_points: n,
                message: "scripted rejection".into(),
            })),
        }
    }
}

struct ScriptedRun {
    t0: tokio::time::Instant,
    rx: mpsc::UnboundedReceiver<Sent>,
    shutdown: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

impl ScriptedRun {
    fn start(store: &Arc<SnapshotStore>, interval: Duration, script: &[Reply]) -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        let shutdown = CancellationToken::new();
        let t0 = tokio::time::Instant::now();
        let task = tokio::spawn(otlp::run_with_transport(
            Box::new(Scripted {
                script: script.iter().copied().collect(),
                tx,
            }),
            otlp::Push {
                interval,
                resource: pairs(&[("service.name", "fedimeter")]),
                endpoint: "scripted".into(),
            },
            store.clone(),
            shutdown.clone(),
        ));
        ScriptedRun {
            t0,
            rx,
            shutdown,
            task,
        }
    }

    async fn sent(&mut self) -> Sent {
        self.rx.recv().await.expect("the exporter is running")
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("exporter did not panic");
    }
}

/// The value of `fedimeter_otlp_exports_total{result}` carried inside a request.
fn exports_in(request: &ExportMetricsServiceRequest, result: &str) -> f64 {
    let points = match &find(request, "fedimeter_otlp_exports_total").data {
        Some(metric::Data::Sum(s)) => &s.data_points,
        other => panic!("not a sum: {other:?}"),
    };
    points_by_attributes(points)
        .into_iter()
        .find(|(attributes, _)| attributes == &pairs(&[("result", result)]))
        .map(|(_, v)| v)
        .unwrap_or_else(|| panic!("no result={result} point"))
}

fn last_success(store: &SnapshotStore) -> f64 {
    store
        .internal()
        .iter()
        .flat_map(|families| families.iter())
        .find(|f| f.desc.name == "fedimeter_otlp_last_success_timestamp_seconds")
        .and_then(|f| f.value(&[]))
        .expect("last-success gauge published")
}

/// Upper bound of one retry wait: the base delay plus a fifth of it (docs/otlp.md), plus
/// the millisecond the timer wheel may round up.
fn max_wait(base: Duration) -> Duration {
    base + base / 5 + Duration::from_millis(1)
}

/// A receiver that fails six times, then accepts: the attempts follow docs/otlp.md's
/// schedule for a 30 s interval (30 s, 60 s, 120 s, 240 s, 300 s, 300 s, each plus at most
/// a fifth), the first success returns to the interval, and every attempt is counted once,
/// both in the store and in the self-metrics the next request carries.
#[tokio::test(start_paused = true)]
async fn backoff_follows_the_documented_schedule_on_paused_time() {
    let store = store_with_known_data(5.0);
    let interval = Duration::from_secs(30);
    let mut run = ScriptedRun::start(&store, interval, &[Reply::Fail; 6]);
    let mut sent = Vec::new();
    for _ in 0..8 {
        sent.push(run.sent().await);
    }
    assert_eq!(
        sent[0].at - run.t0,
        interval,
        "first push one interval after start"
    );
    let s = Duration::from_secs;
    let bases = [s(30), s(60), s(120), s(240), s(300), s(300)];
    let mut jittered = 0;
    for (k, base) in bases.iter().enumerate() {
        let wait = sent[k + 1].at - sent[k].at;
        assert!(
            wait >= *base && wait <= max_wait(*base),
            "wait after failure {}: {wait:?}, want {base:?} + at most a fifth",
            k + 1
        );
        if wait > *base + Duration::from_millis(1) {
            jittered += 1;
        }
    }
    assert!(
        jittered > 0,
        "no retry wait was stretched: jitter not applied"
    );
    assert_eq!(
        sent[7].at - sent[6].at,
        interval,
        "back to the interval after success"
    );
    for (k, s) in sent.iter().enumerate() {
        // Each request carries the counts published after the attempts before it.
        let failures = k.min(6) as f64;
        let successes = k.saturating_sub(6) as f64;
        assert_eq!(exports_in(&s.request, "failure"), failures, "request {k}");
        assert_eq!(exports_in(&s.request, "success"), successes, "request {k}");
        assert_eq!(exports_in(&s.request, "partial"), 0.0, "request {k}");
        // Every attempt sends the whole current data, once: nothing lost, nothing doubled.
        assert_eq!(
            points_by_attributes(gauge_points(&s.request, "sidekiq_queue_size")),
            vec![
                (pairs(&[("queue", "default"), ("target", "sidekiq")]), 12.0),
                (pairs(&[("queue", "push"), ("target", "sidekiq")]), 3.0),
            ],
            "request {k}"
        );
    }
    // The counts of the last attempt are published as soon as it returns.
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(export_count(&store, "failure"), 6.0);
    assert_eq!(export_count(&store, "success"), 2.0);
    assert_eq!(export_count(&store, "partial"), 0.0);
    assert!(last_success(&store) > 0.0);
    run.stop().await;
}

/// Many failures: the wait stays at the 5-minute cap (plus at most a fifth) and never grows
/// beyond it.
#[tokio::test(start_paused = true)]
async fn backoff_stays_at_the_five_minute_cap() {
    let store = store_with_known_data(1.0);
    let interval = Duration::from_secs(10);
    let mut run = ScriptedRun::start(&store, interval, &[Reply::Fail; 14]);
    let mut sent = Vec::new();
    for _ in 0..15 {
        sent.push(run.sent().await);
    }
    // 10 s × 2^(n−1): 10, 20, 40, 80, 160, then 300 (the cap) from the sixth failure on.
    let s = Duration::from_secs;
    for k in 0..14 {
        let base = [s(10), s(20), s(40), s(80), s(160)]
            .get(k)
            .copied()
            .unwrap_or(s(300));
        let wait = sent[k + 1].at - sent[k].at;
        assert!(
            wait >= base && wait <= max_wait(base),
            "wait after failure {}: {wait:?}, want {base:?}",
            k + 1
        );
    }
    assert_eq!(exports_in(&sent[14].request, "failure"), 14.0);
    run.stop().await;
}

/// A request that never answers fails at exactly the request timeout (5 s for a 5 s
/// interval), is counted once, and is retried after the backoff.
#[tokio::test(start_paused = true)]
async fn a_hung_request_fails_at_its_timeout_and_is_retried() {
    let store = store_with_known_data(1.0);
    let interval = Duration::from_secs(5);
    let timeout = otlp::export_timeout(interval);
    assert_eq!(
        timeout,
        Duration::from_secs(5),
        "docs: the interval, within 2–10 s"
    );
    let mut run = ScriptedRun::start(&store, interval, &[Reply::Hang]);
    let first = run.sent().await;
    assert_eq!(first.at - run.t0, interval);
    tokio::time::sleep_until(first.at + timeout - Duration::from_millis(1)).await;
    assert_eq!(
        export_count(&store, "failure"),
        0.0,
        "still waiting for an answer"
    );
    tokio::time::sleep_until(first.at + timeout + Duration::from_millis(1)).await;
    assert_eq!(
        export_count(&store, "failure"),
        1.0,
        "failed at its timeout"
    );
    let second = run.sent().await;
    let wait = second.at - (first.at + timeout);
    let base = otlp::retry_delay(interval, 1);
    assert_eq!(base, interval);
    assert!(
        wait >= base && wait <= max_wait(base),
        "retried after {wait:?}"
    );
    assert_eq!(exports_in(&second.request, "failure"), 1.0);
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(export_count(&store, "success"), 1.0);
    run.stop().await;
}

/// Shutdown in the middle of a request that never answers ends the loop at once: no paused
/// time passes, and nothing more is sent.
#[tokio::test(start_paused = true)]
async fn shutdown_during_a_hung_request_does_not_wait_for_it() {
    let store = store_with_known_data(1.0);
    let mut run = ScriptedRun::start(&store, Duration::from_secs(30), &[Reply::Hang]);
    let first = run.sent().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let cancelled_at = tokio::time::Instant::now();
    run.shutdown.cancel();
    (&mut run.task).await.expect("exporter did not panic");
    assert_eq!(cancelled_at.elapsed(), Duration::ZERO);
    assert_eq!(first.at - run.t0, Duration::from_secs(30));
    assert!(run.rx.try_recv().is_err(), "nothing sent after shutdown");
    assert_eq!(
        export_count(&store, "failure"),
        0.0,
        "a cancelled push is not a failure"
    );
}

/// A receiver that accepts only part of a request: counted as `partial`, which is a success
/// for the schedule (next push one interval later) and for the last-success gauge.
#[tokio::test(start_paused = true)]
async fn a_partial_success_is_counted_and_keeps_the_interval() {
    let store = store_with_known_data(1.0);
    let interval = Duration::from_secs(30);
    let mut run = ScriptedRun::start(&store, interval, &[Reply::Reject(3)]);
    let first = run.sent().await;
    let second = run.sent().await;
    assert_eq!(second.at - first.at, interval);
    assert_eq!(exports_in(&second.request, "partial"), 1.0);
    assert_eq!(exports_in(&second.request, "failure"), 0.0);
    assert_eq!(exports_in(&second.request, "success"), 0.0);
    assert!(last_success(&store) > 0.0);
    run.stop().await;
}

/// A push split into two requests whose second part fails: the push counts as one failure,
/// and the retry sends the whole push again, both parts, built from the same snapshots, so
/// every point arrives in each attempt exactly once and the first part's points are sent a
/// second time with their timestamps unchanged (docs/otlp.md, "all or nothing").
#[tokio::test(start_paused = true)]
async fn a_split_push_with_a_failed_part_is_resent_whole() {
    let store = store_with_known_data(1.0);
    let sidekiq = TargetId::new(Kind::Redis, "sidekiq");
    let queues = otlp::MAX_POINTS_PER_REQUEST + 1000;
    let names: Vec<String> = (0..queues).map(|i| format!("queue-{i:05}")).collect();
    store.publish(snapshot(
        &sidekiq,
        vec![family(
            &QUEUE_SIZE,
            names
                .iter()
                .enumerate()
                .map(|(i, n)| sample(&[n], i as f64))
                .collect(),
        )],
    ));
    let interval = Duration::from_secs(30);
    let mut run = ScriptedRun::start(&store, interval, &[Reply::Accept, Reply::Fail]);
    let mut sent = Vec::new();
    for _ in 0..4 {
        sent.push(run.sent().await);
    }
    tokio::time::sleep(Duration::from_millis(1)).await;
    assert_eq!(
        sent[0].at, sent[1].at,
        "both parts of the first push at once"
    );
    assert_eq!(sent[2].at, sent[3].at, "both parts of the retry at once");
    let wait = sent[2].at - sent[1].at;
    assert!(wait >= interval && wait <= max_wait(interval), "{wait:?}");
    assert_eq!(
        export_count(&store, "failure"),
        1.0,
        "one push, one failure"
    );
    assert_eq!(export_count(&store, "success"), 1.0);
    assert_eq!(
        otlp::count_points(&sent[0].request),
        otlp::MAX_POINTS_PER_REQUEST
    );
    // (queue, time, value) of every sidekiq_queue_size point in some requests.
    let queue_points = |requests: &[&Sent]| {
        let mut out: Vec<(String, u64, f64)> = requests
            .iter()
            .flat_map(|s| metrics(&s.request))
            .filter(|m| m.name == "sidekiq_queue_size")
            .flat_map(|m| match &m.data {
                Some(metric::Data::Gauge(g)) => g.data_points.clone(),
                _ => Vec::new(),
            })
            .map(|p| {
                let value = match p.value {
                    Some(number_data_point::Value::AsDouble(v)) => v,
                    other => panic!("{other:?}"),
                };
                (
                    string_attributes(&p.attributes)[0].1.clone(),
                    p.time_unix_nano,
                    value,
                )
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    };
    let failed_push = queue_points(&[&sent[0], &sent[1]]);
    let retry = queue_points(&[&sent[2], &sent[3]]);
    let want: Vec<String> = names.clone();
    assert_eq!(
        failed_push.iter().map(|p| p.0.clone()).collect::<Vec<_>>(),
        want,
        "every point once in the failed push"
    );
    assert_eq!(
        retry, failed_push,
        "the retry resends every point, unchanged"
    );
    for (i, (_, _, value)) in retry.iter().enumerate() {
        assert_eq!(*value, i as f64);
    }
    let first_part = queue_points(&[&sent[0]]);
    assert!(!first_part.is_empty());
    assert!(
        first_part.iter().all(|p| retry.contains(p)),
        "the accepted first part is sent again"
    );
    run.stop().await;
}
