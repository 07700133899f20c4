//! The periodic OTLP push: the same data as `/metrics`, sent to an OpenTelemetry collector
//! over gRPC or HTTP/protobuf on its own task and interval.
//!
//! Design: the OTLP `ExportMetricsServiceRequest` is built directly from the published
//! snapshots ([`build_request`], a pure function of the store) and sent with the generated
//! tonic `MetricsServiceClient` (gRPC) or a reqwest `POST …/v1/metrics` with
//! `application/x-protobuf` (HTTP). We do not use the OpenTelemetry SDK's `MeterProvider`
//! with observable instruments because:
//! - families appear dynamically (one per collector, per database, per queue…), while SDK
//!   instruments must be created up-front per name, and an observable callback cannot
//!   declare new instruments;
//! - our values are already aggregated (Prometheus gauges and cumulative counters read from
//!   the monitored systems); the SDK would re-aggregate them, attach its own timestamps and
//!   cardinality limits (2000 series per instrument by default, excess folded into an
//!   `otel.metric.overflow` series), and could not keep a counter's exact value or the
//!   sample's collection time;
//! - exporting is then one pass over `Arc` snapshots into a protobuf message: no extra
//!   copies of the data, no SDK runtime, and the builder is testable without a network.
//!
//! The mapping (see `docs/otlp.md`): one OTLP metric per family, named exactly as on
//! `/metrics`; gauges become `Gauge`, counters cumulative monotonic `Sum`; labels become
//! string attributes, and series of a target always carry `target="<name>"`. Data points
//! carry the time their snapshot was taken. A counter's start time is unknown, so its first
//! point has start = time and later points keep that start; after a decrease (a reset) a
//! new stream starts just after the previous observation ([`CounterStarts`]).
//!
//! Invariants: an export never triggers a collection and never waits on a monitored system;
//! a slow or unreachable collector only delays this task (each request has a timeout) and is
//! retried with exponential backoff. Failures are logged redacted (header values are
//! secrets) and counted in `fedimeter_otlp_exports_total{result}`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::Message;
use tokio_util::sync::CancellationToken;

use crate::config::secret::{self, redact};
use crate::config::{OtlpConfig, OtlpProtocol, SecretUrl};
use crate::export::self_metrics::VERSION;
use crate::model::{Family, MetricDesc, MetricType, Sample, SnapshotStore};

pub static OTLP_EXPORTS: MetricDesc = MetricDesc::counter(
    "fedimeter_otlp_exports_total",
    "OTLP export attempts, by result (success, partial: some points rejected, failure)",
    &["result"],
);
pub static OTLP_LAST_SUCCESS: MetricDesc = MetricDesc::gauge(
    "fedimeter_otlp_last_success_timestamp_seconds",
    "Unix time of the last OTLP export the receiver accepted (0: never)",
    &[],
);

/// The resource attribute that carries `site.location`.
pub const LOCATION_ATTRIBUTE: &str = "fedimeter.location";

/// The instrumentation scope name of every exported metric.
pub const SCOPE_NAME: &str = "fedimeter";

/// The longest a single export request may take (the OTel SDK default,
/// `OTEL_EXPORTER_OTLP_TIMEOUT`).
const MAX_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The shortest request timeout, even with a shorter interval: a request that needs more
/// than the interval only delays the next export (exports never overlap).
const MIN_EXPORT_TIMEOUT: Duration = Duration::from_secs(2);

/// Data points per request at most; larger exports are split into several requests (the
/// OpenTelemetry collector's batch processor uses the same size, and it keeps a request well
/// under the common 4 MiB gRPC message limit).
pub const MAX_POINTS_PER_REQUEST: usize = 8192;

/// The longest wait between two attempts while the receiver keeps failing.
const MAX_BACKOFF: Duration = Duration::from_secs(300);

/// Runs the OTLP push until `shutdown` is cancelled: every `config.interval` (longer while
/// exports fail), the latest snapshots and internal families are sent to `config.endpoint`.
/// The first export happens one interval after start, when the first collections are in.
pub async fn run(
    config: OtlpConfig,
    location: String,
    store: Arc<SnapshotStore>,
    shutdown: CancellationToken,
) {
    for (_, value) in &config.headers {
        secret::register(value.expose());
    }
    // Registers a password in the endpoint (if any) and masks it when shown.
    let shown_endpoint = SecretUrl::new(config.endpoint.clone());
    let resource = resource_attributes(
        &location,
        &default_instance_id(),
        std::env::var("OTEL_SERVICE_NAME").ok().as_deref(),
        std::env::var("OTEL_RESOURCE_ATTRIBUTES").ok().as_deref(),
    );
    let mut counts = ExportCounts::default();
    store.publish_internal("otlp", counts.families());
    // Validation asks for at least 1 s; a zero interval must not spin.
    let interval = config.interval.max(Duration::from_millis(1));
    let timeout = export_timeout(interval);
    let mut transport = match Transport::new(&config, timeout) {
        Ok(t) => t,
        Err(error) => {
            // Only a config that validation should have refused gets here.
            counts.failure += 1;
            store.publish_internal("otlp", counts.families());
            tracing::error!(target: "fedimeter::otlp", "otlp export disabled: {}", redact(&format!("{error:#}")));
            return;
        }
    };
    tracing::info!(
        target: "fedimeter::otlp",
        endpoint = %shown_endpoint,
        protocol = ?config.protocol,
        interval = %humantime::format_duration(interval),
        "otlp export started"
    );
    let mut starts = CounterStarts::new();
    let mut failures: u32 = 0;
    let mut next = tokio::time::Instant::now() + interval;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep_until(next) => {}
        }
        let request = build_request(&store, &resource, &mut starts, SystemTime::now());
        let points = count_points(&request);
        let batches = split_request(request, MAX_POINTS_PER_REQUEST);
        let result = tokio::select! {
            _ = shutdown.cancelled() => return,
            r = send_batches(&mut transport, batches, timeout) => r,
        };
        match result {
            Ok(rejected) => {
                if failures > 0 {
                    tracing::info!(target: "fedimeter::otlp", "otlp export recovered after {failures} failed attempts");
                }
                failures = 0;
                counts.last_success = Some(SystemTime::now());
                match rejected {
                    None => counts.success += 1,
                    Some(partial) => {
                        counts.partial += 1;
                        tracing::warn!(
                            target: "fedimeter::otlp",
                            rejected = partial.rejected_points,
                            points,
                            "otlp receiver rejected some data points: {}",
                            redact(&partial.message)
                        );
                    }
                }
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                counts.failure += 1;
                let delay = retry_delay(interval, failures);
                tracing::warn!(
                    target: "fedimeter::otlp",
                    endpoint = %shown_endpoint,
                    failures,
                    retry_in = %humantime::format_duration(delay),
                    "otlp export failed: {}",
                    redact(&format!("{error:#}"))
                );
            }
        }
        store.publish_internal("otlp", counts.families());
        // Keep the phase on success (no drift, ticks missed by a slow export are skipped);
        // after a failure wait the backoff delay.
        let now = tokio::time::Instant::now();
        if failures == 0 {
            next += interval;
            while next <= now {
                next += interval;
            }
        } else {
            next = now + retry_delay(interval, failures);
        }
    }
}

/// The timeout of one export request: the interval, but at least 2 s and at most 10 s.
pub fn export_timeout(interval: Duration) -> Duration {
    interval.clamp(MIN_EXPORT_TIMEOUT, MAX_EXPORT_TIMEOUT)
}

/// How long to wait before the next attempt after `failures` consecutive failures: the
/// interval doubled per failure (1×, 2×, 4×, …), at most 5 minutes, never less than the
/// interval.
pub fn retry_delay(interval: Duration, failures: u32) -> Duration {
    if failures == 0 {
        return interval;
    }
    let factor = 1u32 << (failures - 1).min(16);
    interval
        .checked_mul(factor)
        .unwrap_or(MAX_BACKOFF)
        .min(MAX_BACKOFF)
        .max(interval)
}

/// Totals behind `fedimeter_otlp_exports_total` and the last-success gauge.
#[derive(Debug, Default, Clone, Copy)]
struct ExportCounts {
    success: u64,
    partial: u64,
    failure: u64,
    last_success: Option<SystemTime>,
}

impl ExportCounts {
    fn families(&self) -> Vec<Family> {
        let mut exports = Family::new(&OTLP_EXPORTS);
        for (result, n) in [
            ("success", self.success),
            ("partial", self.partial),
            ("failure", self.failure),
        ] {
            exports.samples.push(Sample {
                labels: Box::new([result.into()]),
                value: n as f64,
            });
        }
        let last = self
            .last_success
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0.0, |d| d.as_secs_f64());
        vec![exports, Family::single(&OTLP_LAST_SUCCESS, last)]
    }
}

// ---------------------------------------------------------------------------------------
// Resource

/// The resource attributes, in order: `service.name` (`fedimeter`, or `OTEL_SERVICE_NAME`),
/// `service.instance.id`, `service.version`, `fedimeter.location`, then any others from
/// `OTEL_RESOURCE_ATTRIBUTES`, which may also override the first four (as in the OTel SDKs,
/// `OTEL_SERVICE_NAME` wins over a `service.name` there). A malformed
/// `OTEL_RESOURCE_ATTRIBUTES` is ignored as a whole, with a warning, as the spec asks.
pub fn resource_attributes(
    location: &str,
    instance_id: &str,
    otel_service_name: Option<&str>,
    otel_resource_attributes: Option<&str>,
) -> Vec<(String, String)> {
    let mut attributes: Vec<(String, String)> = vec![
        ("service.name".into(), "fedimeter".into()),
        ("service.instance.id".into(), instance_id.into()),
        ("service.version".into(), VERSION.into()),
        (LOCATION_ATTRIBUTE.into(), location.into()),
    ];
    let mut set = |key: &str, value: &str| match attributes.iter_mut().find(|(k, _)| k == key) {
        Some(slot) => slot.1 = value.to_string(),
        None => attributes.push((key.to_string(), value.to_string())),
    };
    if let Some(raw) = otel_resource_attributes {
        match parse_otel_resource_attributes(raw) {
            Ok(pairs) => {
                for (k, v) in pairs {
                    set(&k, &v);
                }
            }
            Err(error) => {
                tracing::warn!(target: "fedimeter::otlp", "OTEL_RESOURCE_ATTRIBUTES ignored: {error}");
            }
        }
    }
    if let Some(name) = otel_service_name.filter(|n| !n.is_empty()) {
        set("service.name", name);
    }
    attributes
}

/// Parses `OTEL_RESOURCE_ATTRIBUTES`: `key1=value1,key2=value2`, values percent-encoded.
/// Empty entries are skipped; any malformed entry makes the whole value invalid.
pub fn parse_otel_resource_attributes(raw: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    for entry in raw.split(',') {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let Some((key, value)) = entry.split_once('=') else {
            return Err(format!("entry {entry:?} has no '='"));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!("entry {entry:?} has an empty key"));
        }
        let value = percent_decode(value.trim())
            .ok_or_else(|| format!("value of {key:?} is not valid percent-encoded UTF-8"))?;
        out.push((key.to_string(), value));
    }
    Ok(out)
}

fn percent_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3)?;
            let hex = std::str::from_utf8(hex).ok()?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// The default `service.instance.id`: the host name (`/proc/sys/kernel/hostname`, else
/// `$HOSTNAME`), which is stable across restarts; `fedimeter` if neither is known.
/// Override it with `OTEL_RESOURCE_ATTRIBUTES=service.instance.id=…`.
pub fn default_instance_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "fedimeter".to_string())
}

// ---------------------------------------------------------------------------------------
// Building the request

/// Start times of cumulative counters, per series, following the OTel data model's
/// "handling unknown start time": when a counter began counting is unknown (PostgreSQL's,
/// Redis's and PgBouncer's counters start at the server's start or last statistics reset),
/// so the first point of a series is a zero-duration point (start = its own time) and later
/// points keep that start. When a counter goes down — the monitored system restarted or its
/// statistics were reset — a new stream starts just after the previous observation (a true
/// reset: everything counted since then happened after it). Series not seen in an export
/// are forgotten, and start afresh if they come back.
#[derive(Debug, Default)]
pub struct CounterStarts {
    generation: u64,
    series: HashMap<String, SeriesState>,
}

#[derive(Debug, Clone, Copy)]
struct SeriesState {
    start_ns: u64,
    last_ns: u64,
    last_value: f64,
    seen: u64,
}

impl CounterStarts {
    pub fn new() -> Self {
        CounterStarts::default()
    }

    /// Starts a new export: series not observed until [`CounterStarts::end_export`] are
    /// dropped then.
    fn begin_export(&mut self) {
        self.generation += 1;
    }

    fn end_export(&mut self) {
        let generation = self.generation;
        self.series.retain(|_, s| s.seen == generation);
    }

    /// The start time for a counter point of series `key` observed at `time_ns` with `value`.
    pub fn observe(&mut self, key: &str, time_ns: u64, value: f64) -> u64 {
        let generation = self.generation;
        match self.series.get_mut(key) {
            None => {
                let start_ns = time_ns;
                self.series.insert(
                    key.to_string(),
                    SeriesState {
                        start_ns,
                        last_ns: time_ns,
                        last_value: value,
                        seen: generation,
                    },
                );
                start_ns
            }
            Some(state) => {
                if value < state.last_value && time_ns > state.last_ns {
                    state.start_ns = state.last_ns + 1;
                }
                state.last_ns = state.last_ns.max(time_ns);
                state.last_value = value;
                state.seen = generation;
                state.start_ns
            }
        }
    }

    /// Number of counter series remembered.
    pub fn len(&self) -> usize {
        self.series.len()
    }

    pub fn is_empty(&self) -> bool {
        self.series.is_empty()
    }
}

/// Nanoseconds since the Unix epoch (0 before it).
pub fn unix_nanos(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX))
}

/// One family being assembled from every source that has it.
struct MetricParts {
    desc: &'static MetricDesc,
    points: Vec<NumberDataPoint>,
}

/// Builds the export request for the store's current content: every target's latest
/// snapshot (series labelled `target`) and the internal families, one metric per family
/// name (sorted), under one resource with `resource` attributes and scope `fedimeter`.
/// `now` is the time of the internal families' points; target points carry their
/// snapshot's `finished_at`.
pub fn build_request(
    store: &SnapshotStore,
    resource: &[(String, String)],
    starts: &mut CounterStarts,
    now: SystemTime,
) -> ExportMetricsServiceRequest {
    starts.begin_export();
    let mut metrics: BTreeMap<&'static str, MetricParts> = BTreeMap::new();
    let mut key = String::new();
    for (id, snapshot) in store.latest() {
        let Some(snapshot) = snapshot else { continue };
        let time_ns = unix_nanos(snapshot.finished_at);
        for family in &snapshot.families {
            let target = (!family.desc.has_target_label()).then_some(&*id.name);
            add_family(&mut metrics, starts, &mut key, family, target, time_ns);
        }
    }
    let now_ns = unix_nanos(now);
    for families in store.internal() {
        for family in families.iter() {
            add_family(&mut metrics, starts, &mut key, family, None, now_ns);
        }
    }
    starts.end_export();
    let metrics = metrics
        .into_values()
        .filter(|m| !m.points.is_empty())
        .map(into_metric)
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes: resource
                    .iter()
                    .map(|(k, v)| string_attribute(k, v))
                    .collect(),
                ..Default::default()
            }),
            scope_metrics: vec![ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name: SCOPE_NAME.into(),
                    version: VERSION.into(),
                    ..Default::default()
                }),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn add_family(
    metrics: &mut BTreeMap<&'static str, MetricParts>,
    starts: &mut CounterStarts,
    key: &mut String,
    family: &Family,
    target: Option<&str>,
    time_ns: u64,
) {
    let desc = family.desc;
    let parts = metrics.entry(desc.name).or_insert_with(|| MetricParts {
        desc,
        points: Vec::new(),
    });
    for sample in &family.samples {
        let attributes = sample_attributes(desc, sample, target);
        let start_time_unix_nano = match desc.metric_type {
            MetricType::Gauge => 0,
            MetricType::Counter => {
                series_key(key, desc.name, &attributes);
                starts.observe(key, time_ns, sample.value)
            }
        };
        parts.points.push(NumberDataPoint {
            attributes,
            start_time_unix_nano,
            time_unix_nano: time_ns,
            exemplars: Vec::new(),
            flags: 0,
            value: Some(number_data_point::Value::AsDouble(sample.value)),
        });
    }
}

/// The sample's labels as string attributes, in declaration order, then `target`. Labels
/// with an empty value are left out: Prometheus treats `name=""` as no label, and so the
/// series identity is the same on both paths.
fn sample_attributes(desc: &MetricDesc, sample: &Sample, target: Option<&str>) -> Vec<KeyValue> {
    let mut attributes = Vec::with_capacity(desc.labels.len() + usize::from(target.is_some()));
    for (name, value) in desc.labels.iter().zip(sample.labels.iter()) {
        if !value.is_empty() {
            attributes.push(string_attribute(name, value));
        }
    }
    if let Some(target) = target {
        attributes.push(string_attribute("target", target));
    }
    attributes
}

fn series_key(key: &mut String, name: &str, attributes: &[KeyValue]) {
    key.clear();
    key.push_str(name);
    for attribute in attributes {
        key.push('\0');
        key.push_str(&attribute.key);
        key.push('\u{1}');
        if let Some(AnyValue {
            value: Some(any_value::Value::StringValue(v)),
        }) = &attribute.value
        {
            key.push_str(v);
        }
    }
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_string(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_string())),
        }),
        ..Default::default()
    }
}

fn into_metric(parts: MetricParts) -> Metric {
    let data = match parts.desc.metric_type {
        MetricType::Gauge => metric::Data::Gauge(Gauge {
            data_points: parts.points,
        }),
        MetricType::Counter => metric::Data::Sum(Sum {
            data_points: parts.points,
            aggregation_temporality: AggregationTemporality::Cumulative as i32,
            is_monotonic: true,
        }),
    };
    Metric {
        name: parts.desc.name.to_string(),
        description: parts.desc.help.to_string(),
        unit: String::new(),
        metadata: Vec::new(),
        data: Some(data),
    }
}

/// Number of data points in a request (for logs and tests).
pub fn count_points(request: &ExportMetricsServiceRequest) -> usize {
    request
        .resource_metrics
        .iter()
        .flat_map(|r| &r.scope_metrics)
        .flat_map(|s| &s.metrics)
        .map(|m| match &m.data {
            Some(metric::Data::Gauge(g)) => g.data_points.len(),
            Some(metric::Data::Sum(s)) => s.data_points.len(),
            _ => 0,
        })
        .sum()
}

/// Splits a request into requests of at most `max_points` data points each (at least one
/// point each), in order; a metric with more points than fit is split across requests.
/// Every part carries the same resource and scope.
pub fn split_request(
    request: ExportMetricsServiceRequest,
    max_points: usize,
) -> Vec<ExportMetricsServiceRequest> {
    let max_points = max_points.max(1);
    if count_points(&request) <= max_points {
        return vec![request];
    }
    let mut out = Vec::new();
    for resource_metrics in request.resource_metrics {
        for scope_metrics in resource_metrics.scope_metrics {
            let flush = |out: &mut Vec<ExportMetricsServiceRequest>, metrics: Vec<Metric>| {
                out.push(ExportMetricsServiceRequest {
                    resource_metrics: vec![ResourceMetrics {
                        resource: resource_metrics.resource.clone(),
                        scope_metrics: vec![ScopeMetrics {
                            scope: scope_metrics.scope.clone(),
                            metrics,
                            schema_url: scope_metrics.schema_url.clone(),
                        }],
                        schema_url: resource_metrics.schema_url.clone(),
                    }],
                });
            };
            let mut batch: Vec<Metric> = Vec::new();
            let mut room = max_points;
            for mut metric in scope_metrics.metrics {
                loop {
                    let n = metric_points(&metric);
                    if n <= room {
                        room -= n;
                        batch.push(metric);
                        break;
                    }
                    if room > 0 {
                        batch.push(take_points(&mut metric, room));
                    }
                    flush(&mut out, std::mem::take(&mut batch));
                    room = max_points;
                }
            }
            if !batch.is_empty() {
                flush(&mut out, batch);
            }
        }
    }
    out
}

fn metric_points(metric: &Metric) -> usize {
    match &metric.data {
        Some(metric::Data::Gauge(g)) => g.data_points.len(),
        Some(metric::Data::Sum(s)) => s.data_points.len(),
        _ => 0,
    }
}

/// A copy of `metric` with its first `n` points, which are removed from `metric`.
fn take_points(metric: &mut Metric, n: usize) -> Metric {
    let data = match &mut metric.data {
        Some(metric::Data::Gauge(g)) => Some(metric::Data::Gauge(Gauge {
            data_points: g.data_points.drain(..n.min(g.data_points.len())).collect(),
        })),
        Some(metric::Data::Sum(s)) => Some(metric::Data::Sum(Sum {
            data_points: s.data_points.drain(..n.min(s.data_points.len())).collect(),
            aggregation_temporality: s.aggregation_temporality,
            is_monotonic: s.is_monotonic,
        })),
        other => other.take(),
    };
    Metric {
        name: metric.name.clone(),
        description: metric.description.clone(),
        unit: metric.unit.clone(),
        metadata: metric.metadata.clone(),
        data,
    }
}

// ---------------------------------------------------------------------------------------
// Sending

/// Sends the parts of one export in order, each within `timeout`; stops at the first
/// failure. Rejections reported by the receiver are summed.
async fn send_batches(
    transport: &mut Transport,
    batches: Vec<ExportMetricsServiceRequest>,
    timeout: Duration,
) -> anyhow::Result<Option<PartialSuccess>> {
    let total = batches.len();
    let mut rejected: Option<PartialSuccess> = None;
    for (i, batch) in batches.into_iter().enumerate() {
        let part = match tokio::time::timeout(timeout, transport.send(batch)).await {
            Ok(Ok(part)) => part,
            Ok(Err(error)) if total > 1 => {
                return Err(error.context(format!("request {} of {total}", i + 1)));
            }
            Ok(Err(error)) => return Err(error),
            Err(_elapsed) => anyhow::bail!(
                "no answer within {}{}",
                humantime::format_duration(timeout),
                if total > 1 {
                    format!(" (request {} of {total})", i + 1)
                } else {
                    String::new()
                }
            ),
        };
        if let Some(part) = part {
            let sum = rejected.get_or_insert(PartialSuccess {
                rejected_points: 0,
                message: String::new(),
            });
            sum.rejected_points += part.rejected_points;
            if sum.message.is_empty() {
                sum.message = part.message;
            }
        }
    }
    Ok(rejected)
}

/// The URL an HTTP/protobuf export is posted to: an endpoint without a path (or `/`) gets
/// `/v1/metrics` appended, like `OTEL_EXPORTER_OTLP_ENDPOINT`; an endpoint with a path is
/// used as it is, like `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`.
pub fn http_metrics_url(endpoint: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(endpoint)
        .with_context(|| format!("otlp endpoint {:?} is not a url", redact(endpoint)))?;
    if !matches!(url.scheme(), "http" | "https") {
        anyhow::bail!("otlp endpoint must be http:// or https://");
    }
    if url.path().is_empty() || url.path() == "/" {
        url.set_path("/v1/metrics");
    }
    Ok(url.to_string())
}

/// What the receiver said about a request it accepted only in part.
#[derive(Debug, Clone, PartialEq)]
pub struct PartialSuccess {
    pub rejected_points: i64,
    pub message: String,
}

fn partial_success(response: &ExportMetricsServiceResponse) -> Option<PartialSuccess> {
    response
        .partial_success
        .as_ref()
        .filter(|p| p.rejected_data_points > 0 || !p.error_message.is_empty())
        .map(|p| PartialSuccess {
            rejected_points: p.rejected_data_points,
            message: p.error_message.clone(),
        })
}

/// `google.rpc.Status`, the body of a failed OTLP/HTTP response (only the fields we show).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

enum Transport {
    Grpc {
        client: MetricsServiceClient<tonic::transport::Channel>,
        metadata: tonic::metadata::MetadataMap,
    },
    Http {
        client: reqwest::Client,
        url: String,
        headers: reqwest::header::HeaderMap,
    },
}

impl Transport {
    fn new(config: &OtlpConfig, timeout: Duration) -> anyhow::Result<Self> {
        match config.protocol {
            OtlpProtocol::Grpc => {
                let mut endpoint = tonic::transport::Endpoint::from_shared(config.endpoint.clone())
                    .with_context(|| {
                        format!("otlp endpoint {:?} is not a uri", redact(&config.endpoint))
                    })?
                    .connect_timeout(timeout)
                    .timeout(timeout)
                    .user_agent(format!("fedimeter/{VERSION}"))
                    .context("user agent")?;
                if config.endpoint.starts_with("https://") {
                    endpoint = endpoint
                        .tls_config(tonic::transport::ClientTlsConfig::new().with_enabled_roots())
                        .context("otlp tls configuration")?;
                }
                let mut metadata = tonic::metadata::MetadataMap::new();
                for (name, value) in &config.headers {
                    let key = tonic::metadata::MetadataKey::from_bytes(
                        name.to_ascii_lowercase().as_bytes(),
                    )
                    .with_context(|| format!("otlp header name {name:?} is not valid"))?;
                    let mut value = tonic::metadata::MetadataValue::try_from(value.expose())
                        .map_err(|_| {
                            anyhow::anyhow!("otlp header {name:?} has an invalid value")
                        })?;
                    value.set_sensitive(true);
                    metadata.insert(key, value);
                }
                Ok(Transport::Grpc {
                    client: MetricsServiceClient::new(endpoint.connect_lazy()),
                    metadata,
                })
            }
            OtlpProtocol::HttpProtobuf => {
                let url = http_metrics_url(&config.endpoint)?;
                let mut headers = reqwest::header::HeaderMap::new();
                for (name, value) in &config.headers {
                    let key = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                        .with_context(|| format!("otlp header name {name:?} is not valid"))?;
                    let mut value = reqwest::header::HeaderValue::from_str(value.expose())
                        .map_err(|_| {
                            anyhow::anyhow!("otlp header {name:?} has an invalid value")
                        })?;
                    value.set_sensitive(true);
                    headers.insert(key, value);
                }
                let client = reqwest::Client::builder()
                    .timeout(timeout)
                    .connect_timeout(timeout)
                    .user_agent(format!("fedimeter/{VERSION}"))
                    .build()
                    .context("building the otlp http client")?;
                Ok(Transport::Http {
                    client,
                    url,
                    headers,
                })
            }
        }
    }

    /// Sends one request; `Ok(Some(..))` when the receiver rejected part of it.
    async fn send(
        &mut self,
        request: ExportMetricsServiceRequest,
    ) -> anyhow::Result<Option<PartialSuccess>> {
        match self {
            Transport::Grpc { client, metadata } => {
                let mut request = tonic::Request::new(request);
                *request.metadata_mut() = metadata.clone();
                let response = client
                    .export(request)
                    .await
                    .map_err(|status| {
                        anyhow::anyhow!("grpc status {:?}: {}", status.code(), status.message())
                    })?
                    .into_inner();
                Ok(partial_success(&response))
            }
            Transport::Http {
                client,
                url,
                headers,
            } => {
                let response = client
                    .post(url.as_str())
                    .headers(headers.clone())
                    .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
                    .body(request.encode_to_vec())
                    .send()
                    .await
                    .context("sending the otlp request")?;
                let status = response.status();
                let body = response
                    .bytes()
                    .await
                    .context("reading the otlp response")?;
                if !status.is_success() {
                    let detail = RpcStatus::decode(&*body)
                        .map(|s| s.message)
                        .unwrap_or_default();
                    anyhow::bail!("http status {status}: {detail}");
                }
                let response = ExportMetricsServiceResponse::decode(&*body).unwrap_or_default();
                Ok(partial_success(&response))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Kind, Outcome, Snapshot, TargetId};

    static XACT: MetricDesc = MetricDesc::counter(
        "pg_stat_database_xact_commit",
        "Transactions committed",
        &["datid", "datname"],
    );
    static RUNS: MetricDesc = MetricDesc::counter(
        "fedimeter_collector_runs_total",
        "Runs",
        &["collector", "target"],
    );
    static QUEUE: MetricDesc =
        MetricDesc::gauge("sidekiq_queue_latency_seconds", "Latency", &["queue"]);

    fn sample(labels: &[&str], value: f64) -> Sample {
        Sample {
            labels: labels.iter().map(|s| Box::<str>::from(*s)).collect(),
            value,
        }
    }

    fn snapshot(id: &TargetId, at_secs: u64, families: Vec<Family>) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            target: id.clone(),
            finished_at: UNIX_EPOCH + Duration::from_secs(at_secs),
            duration: Duration::from_millis(3),
            outcome: Outcome::Success,
            health: Some(crate::model::Health::Up),
            families,
        })
    }

    fn attrs(kv: &[KeyValue]) -> Vec<(String, String)> {
        kv.iter()
            .map(|a| {
                let v = match a.value.as_ref().and_then(|v| v.value.as_ref()) {
                    Some(any_value::Value::StringValue(s)) => s.clone(),
                    other => format!("{other:?}"),
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

    #[test]
    fn request_maps_families_to_gauges_and_cumulative_sums_with_target_attributes() {
        let pg = TargetId::new(Kind::Postgres, "primary");
        let redis = TargetId::new(Kind::Redis, "sidekiq");
        let store = SnapshotStore::new([pg.clone(), redis.clone()]);
        let mut xact = Family::new(&XACT);
        xact.samples.push(sample(&["16384", "mastodon"], 42.0));
        let mut runs = Family::new(&RUNS);
        runs.samples.push(sample(&["postgres", "primary"], 7.0));
        store.publish(snapshot(
            &pg,
            1_000,
            vec![Family::single(&crate::model::PG_UP, 1.0), xact, runs],
        ));
        let mut queue = Family::new(&QUEUE);
        queue.samples.push(sample(&["default"], 0.25));
        queue.samples.push(sample(&[""], 1.5));
        store.publish(snapshot(&redis, 1_001, vec![queue]));
        crate::export::self_metrics::publish_build_info(&store);

        let resource = pairs(&[("service.name", "fedimeter")]);
        let mut starts = CounterStarts::new();
        let now = UNIX_EPOCH + Duration::from_secs(1_002);
        let request = build_request(&store, &resource, &mut starts, now);

        assert_eq!(request.resource_metrics.len(), 1);
        let rm = &request.resource_metrics[0];
        assert_eq!(
            attrs(&rm.resource.as_ref().expect("resource").attributes),
            resource
        );
        let scope = &rm.scope_metrics[0];
        assert_eq!(
            scope.scope.as_ref().map(|s| s.name.as_str()),
            Some("fedimeter")
        );
        let names: Vec<&str> = scope.metrics.iter().map(|m| m.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "fedimeter_build_info",
                "fedimeter_collector_runs_total",
                "pg_stat_database_xact_commit",
                "pg_up",
                "sidekiq_queue_latency_seconds"
            ]
        );
        let by_name = |n: &str| {
            scope
                .metrics
                .iter()
                .find(|m| m.name == n)
                .expect("metric present")
        };

        let Some(metric::Data::Sum(sum)) = &by_name("pg_stat_database_xact_commit").data else {
            panic!("counter must be a sum");
        };
        assert!(sum.is_monotonic);
        assert_eq!(
            sum.aggregation_temporality,
            AggregationTemporality::Cumulative as i32
        );
        let p = &sum.data_points[0];
        assert_eq!(
            attrs(&p.attributes),
            pairs(&[
                ("datid", "16384"),
                ("datname", "mastodon"),
                ("target", "primary")
            ])
        );
        assert_eq!(p.value, Some(number_data_point::Value::AsDouble(42.0)));
        assert_eq!(p.time_unix_nano, 1_000_000_000_000);
        // First observation, unknown start: a zero-duration point.
        assert_eq!(p.start_time_unix_nano, 1_000_000_000_000);

        // The runner's own `target` label is not duplicated.
        let Some(metric::Data::Sum(runs)) = &by_name("fedimeter_collector_runs_total").data else {
            panic!("counter must be a sum");
        };
        assert_eq!(
            attrs(&runs.data_points[0].attributes),
            pairs(&[("collector", "postgres"), ("target", "primary")])
        );

        // A single-target kind carries `target`, as on /metrics.
        let Some(metric::Data::Gauge(up)) = &by_name("pg_up").data else {
            panic!("gauge");
        };
        assert_eq!(
            attrs(&up.data_points[0].attributes),
            pairs(&[("target", "primary")])
        );
        assert_eq!(up.data_points[0].start_time_unix_nano, 0);

        let Some(metric::Data::Gauge(q)) = &by_name("sidekiq_queue_latency_seconds").data else {
            panic!("gauge");
        };
        assert_eq!(
            q.data_points
                .iter()
                .map(|p| (attrs(&p.attributes), p.value))
                .collect::<Vec<_>>(),
            vec![
                (
                    pairs(&[("queue", "default"), ("target", "sidekiq")]),
                    Some(number_data_point::Value::AsDouble(0.25))
                ),
                // An empty label value is no attribute, as in Prometheus.
                (
                    pairs(&[("target", "sidekiq")]),
                    Some(number_data_point::Value::AsDouble(1.5))
                ),
            ]
        );
        assert_eq!(q.data_points[0].time_unix_nano, 1_001_000_000_000);
        assert_eq!(
            by_name("sidekiq_queue_latency_seconds").description,
            "Latency"
        );

        // Internal families: no target, stamped `now`.
        let Some(metric::Data::Gauge(build)) = &by_name("fedimeter_build_info").data else {
            panic!("gauge");
        };
        let build_attrs = attrs(&build.data_points[0].attributes);
        assert_eq!(build_attrs[0].0, "version");
        assert_eq!(build_attrs.len(), 2);
        assert_eq!(build.data_points[0].time_unix_nano, 1_002_000_000_000);
        assert_eq!(count_points(&request), 6);
        assert_eq!(starts.len(), 2);
    }

    #[test]
    fn targets_without_a_snapshot_and_empty_families_are_left_out() {
        let pg = TargetId::new(Kind::Postgres, "primary");
        let redis = TargetId::new(Kind::Redis, "cache");
        let store = SnapshotStore::new([pg.clone(), redis]);
        store.publish(snapshot(&pg, 10, vec![Family::new(&QUEUE)]));
        let mut starts = CounterStarts::new();
        let request = build_request(&store, &[], &mut starts, UNIX_EPOCH);
        assert!(
            request.resource_metrics[0].scope_metrics[0]
                .metrics
                .is_empty()
        );
        assert_eq!(count_points(&request), 0);
    }

    #[test]
    fn large_requests_are_split_by_points_keeping_order_resource_and_scope() {
        let pg = TargetId::new(Kind::Postgres, "primary");
        let store = SnapshotStore::new([pg.clone()]);
        let mut queue = Family::new(&QUEUE);
        for q in ["a", "b", "c"] {
            queue.samples.push(sample(&[q], 1.0));
        }
        let mut xact = Family::new(&XACT);
        for d in 0..5 {
            xact.samples
                .push(sample(&[&d.to_string(), "db"], f64::from(d)));
        }
        store.publish(snapshot(&pg, 5, vec![xact, queue]));
        let resource = pairs(&[("service.name", "fedimeter")]);
        let mut starts = CounterStarts::new();
        let request = build_request(&store, &resource, &mut starts, UNIX_EPOCH);
        assert_eq!(count_points(&request), 8);

        // (name, points) per part, for several sizes.
        let shape = |parts: &[ExportMetricsServiceRequest]| -> Vec<Vec<(String, usize)>> {
            parts
                .iter()
                .map(|r| {
                    r.resource_metrics[0].scope_metrics[0]
                        .metrics
                        .iter()
                        .map(|m| (m.name.clone(), metric_points(m)))
                        .collect()
                })
                .collect()
        };
        let x = "pg_stat_database_xact_commit".to_string();
        let q = "sidekiq_queue_latency_seconds".to_string();
        for (max, want) in [
            (8, vec![vec![(x.clone(), 5), (q.clone(), 3)]]),
            (100, vec![vec![(x.clone(), 5), (q.clone(), 3)]]),
            (
                4,
                vec![vec![(x.clone(), 4)], vec![(x.clone(), 1), (q.clone(), 3)]],
            ),
            (5, vec![vec![(x.clone(), 5)], vec![(q.clone(), 3)]]),
            (
                3,
                vec![
                    vec![(x.clone(), 3)],
                    vec![(x.clone(), 2), (q.clone(), 1)],
                    vec![(q.clone(), 2)],
                ],
            ),
            (
                0,
                (0..8)
                    .map(|i| vec![(if i < 5 { x.clone() } else { q.clone() }, 1)])
                    .collect(),
            ),
        ] {
            let parts = split_request(request.clone(), max);
            assert_eq!(shape(&parts), want, "max {max}");
            for part in &parts {
                assert_eq!(
                    part.resource_metrics[0].resource,
                    request.resource_metrics[0].resource
                );
                assert_eq!(
                    part.resource_metrics[0].scope_metrics[0].scope,
                    request.resource_metrics[0].scope_metrics[0].scope
                );
                for m in &part.resource_metrics[0].scope_metrics[0].metrics {
                    if let Some(metric::Data::Sum(s)) = &m.data {
                        assert!(s.is_monotonic);
                        assert_eq!(
                            s.aggregation_temporality,
                            AggregationTemporality::Cumulative as i32
                        );
                    }
                }
            }
            // Concatenated, the parts' points are the original points in order.
            let flatten = |rs: &[ExportMetricsServiceRequest]| -> Vec<NumberDataPoint> {
                rs.iter()
                    .flat_map(|r| r.resource_metrics[0].scope_metrics[0].metrics.clone())
                    .flat_map(|m| match m.data {
                        Some(metric::Data::Gauge(g)) => g.data_points,
                        Some(metric::Data::Sum(s)) => s.data_points,
                        _ => Vec::new(),
                    })
                    .collect()
            };
            assert_eq!(
                flatten(&parts),
                flatten(std::slice::from_ref(&request)),
                "max {max}"
            );
        }
    }

    #[test]
    fn counter_start_time_moves_after_a_reset_and_unseen_series_are_forgotten() {
        let s = |secs: u64| secs * 1_000_000_000;
        let mut starts = CounterStarts::new();
        // (key, time, value, expected start)
        let steps: &[&[(&str, u64, f64, u64)]] = &[
            // First observations: zero-duration points (unknown start).
            &[("a", s(110), 5.0, s(110)), ("b", s(50), 1.0, s(50))],
            &[("a", s(120), 9.0, s(110)), ("b", s(120), 2.0, s(50))],
            // Same snapshot exported twice: nothing changes.
            &[("a", s(120), 9.0, s(110)), ("b", s(120), 2.0, s(50))],
            // `a` reset: starts just after its previous observation.
            &[("a", s(130), 1.0, s(120) + 1), ("b", s(130), 2.0, s(50))],
            &[("a", s(140), 4.0, s(120) + 1)],
            // `b` was not seen in the previous export: it starts afresh.
            &[("a", s(150), 4.0, s(120) + 1), ("b", s(150), 0.0, s(150))],
        ];
        for (i, step) in steps.iter().enumerate() {
            starts.begin_export();
            for (key, time, value, want) in step.iter() {
                assert_eq!(starts.observe(key, *time, *value), *want, "step {i} {key}");
            }
            starts.end_export();
            assert_eq!(starts.len(), step.len(), "step {i}");
        }
    }

    #[test]
    fn resource_attributes_defaults_and_environment_overrides() {
        let base =
            |env_name, env_attrs| resource_attributes("eu-home", "host-1", env_name, env_attrs);
        let v = VERSION;
        assert_eq!(
            base(None, None),
            pairs(&[
                ("service.name", "fedimeter"),
                ("service.instance.id", "host-1"),
                ("service.version", v),
                ("fedimeter.location", "eu-home"),
            ])
        );
        assert_eq!(
            base(
                Some("fm-probe"),
                Some("service.name=x,service.instance.id=probe%2Deu%201, cloud.region=eu-west-1,,")
            ),
            pairs(&[
                ("service.name", "fm-probe"),
                ("service.instance.id", "probe-eu 1"),
                ("service.version", v),
                ("fedimeter.location", "eu-home"),
                ("cloud.region", "eu-west-1"),
            ])
        );
        // Malformed: ignored as a whole.
        assert_eq!(base(None, Some("a=1,broken")), base(None, None));
        assert_eq!(base(Some(""), Some("")), base(None, None));
    }

    #[test]
    fn otel_resource_attributes_parsing() {
        for (raw, want) in [
            ("", Ok(vec![])),
            ("a=1", Ok(pairs(&[("a", "1")]))),
            (" a = 1 , b=x%3Dy ", Ok(pairs(&[("a", "1"), ("b", "x=y")]))),
            ("k=caf%C3%A9", Ok(pairs(&[("k", "café")]))),
            ("a=", Ok(pairs(&[("a", "")]))),
            ("a", Err("entry \"a\" has no '='".to_string())),
            ("=1", Err("entry \"=1\" has an empty key".to_string())),
            (
                "a=%zz",
                Err("value of \"a\" is not valid percent-encoded UTF-8".to_string()),
            ),
            (
                "a=%F",
                Err("value of \"a\" is not valid percent-encoded UTF-8".to_string()),
            ),
        ] {
            assert_eq!(parse_otel_resource_attributes(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn http_url_gets_the_signal_path_only_when_the_endpoint_has_none() {
        for (endpoint, want) in [
            ("http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/metrics"),
            ("http://127.0.0.1:4318/", "http://127.0.0.1:4318/v1/metrics"),
            (
                "https://otlp.example.net/otlp/v1/metrics",
                "https://otlp.example.net/otlp/v1/metrics",
            ),
            (
                "https://collector:4318/custom",
                "https://collector:4318/custom",
            ),
        ] {
            assert_eq!(
                http_metrics_url(endpoint).expect("valid"),
                want,
                "{endpoint}"
            );
        }
        for bad in ["collector:4318", "ftp://x/", "not a url"] {
            assert!(http_metrics_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn retry_delay_doubles_up_to_five_minutes_but_never_below_the_interval() {
        let s = Duration::from_secs;
        for (interval, failures, want) in [
            (s(60), 0, s(60)),
            (s(60), 1, s(60)),
            (s(60), 2, s(120)),
            (s(60), 3, s(240)),
            (s(60), 4, s(300)),
            (s(60), 40, s(300)),
            (s(10), 3, s(40)),
            (s(600), 5, s(600)),
            (Duration::from_millis(100), u32::MAX, s(300)),
        ] {
            assert_eq!(
                retry_delay(interval, failures),
                want,
                "{interval:?} {failures}"
            );
        }
    }

    #[test]
    fn export_timeout_follows_the_interval_between_two_and_ten_seconds() {
        let ms = Duration::from_millis;
        for (interval, want) in [
            (ms(100), ms(2_000)),
            (ms(5_000), ms(5_000)),
            (ms(60_000), ms(10_000)),
        ] {
            assert_eq!(export_timeout(interval), want, "{interval:?}");
        }
    }

    #[test]
    fn export_counts_publish_every_result_from_zero() {
        let counts = ExportCounts {
            success: 3,
            partial: 0,
            failure: 2,
            last_success: Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000)),
        };
        let families = counts.families();
        let text = crate::export::exposition::render_families(
            families.iter().map(|f| (f, None)),
            crate::export::exposition::Format::Text,
        );
        assert_eq!(
            text,
            "# HELP fedimeter_otlp_exports_total OTLP export attempts, by result (success, partial: some points rejected, failure)\n\
             # TYPE fedimeter_otlp_exports_total counter\n\
             fedimeter_otlp_exports_total{result=\"success\"} 3\n\
             fedimeter_otlp_exports_total{result=\"partial\"} 0\n\
             fedimeter_otlp_exports_total{result=\"failure\"} 2\n\
             # HELP fedimeter_otlp_last_success_timestamp_seconds Unix time of the last OTLP export the receiver accepted (0: never)\n\
             # TYPE fedimeter_otlp_last_success_timestamp_seconds gauge\n\
             fedimeter_otlp_last_success_timestamp_seconds 1700000000\n"
        );
    }
}
