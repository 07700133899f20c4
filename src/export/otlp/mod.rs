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
//! retried with exponential backoff (capped, with bounded jitter). Failures are logged
//! redacted (header values are secrets) and counted in `fedimeter_otlp_exports_total{result}`.
//!
//! Layout: this file is the run loop (schedule, backoff, self-metrics); `resource.rs` the
//! resource attributes; `encode.rs` snapshots → request and splitting; `transport.rs` the
//! [`Transport`] trait with its gRPC and HTTP/protobuf implementations. The loop only sees
//! the trait, so [`run_with_transport`] is tested on paused time with a scripted transport.

mod encode;
mod resource;
mod transport;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::config::secret::{self, redact};
use crate::config::{OtlpConfig, SecretUrl};
use crate::model::{Family, MetricDesc, Sample, SnapshotStore};

pub use encode::{
    CounterStarts, MAX_POINTS_PER_REQUEST, SCOPE_NAME, build_request, count_points, split_request,
    unix_nanos,
};
pub use resource::{
    LOCATION_ATTRIBUTE, default_instance_id, parse_otel_resource_attributes, resource_attributes,
};
pub use transport::{
    GrpcTransport, HttpTransport, PartialSuccess, Transport, connect, http_metrics_url,
};

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
/// The longest a single export request may take (the OTel SDK default,
/// `OTEL_EXPORTER_OTLP_TIMEOUT`).
const MAX_EXPORT_TIMEOUT: Duration = Duration::from_secs(10);

/// The shortest request timeout, even with a shorter interval: a request that needs more
/// than the interval only delays the next export (exports never overlap).
const MIN_EXPORT_TIMEOUT: Duration = Duration::from_secs(2);

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
    let shown_endpoint = SecretUrl::new(config.endpoint.clone()).to_string();
    let resource = resource_attributes(
        &location,
        &default_instance_id(),
        std::env::var("OTEL_SERVICE_NAME").ok().as_deref(),
        std::env::var("OTEL_RESOURCE_ATTRIBUTES").ok().as_deref(),
    );
    let interval = config.interval.max(Duration::from_millis(1));
    let transport = match connect(&config, export_timeout(interval)) {
        Ok(t) => t,
        Err(error) => {
            // Only a config that validation should have refused gets here.
            let counts = ExportCounts {
                failure: 1,
                ..ExportCounts::default()
            };
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
    let push = Push {
        interval,
        resource,
        endpoint: shown_endpoint,
    };
    run_with_transport(transport, push, store, shutdown).await;
}

/// What [`run_with_transport`] pushes, how often, and how it names the receiver in logs.
#[derive(Debug, Clone)]
pub struct Push {
    /// Time between two pushes while they succeed (a zero interval is taken as 1 ms).
    pub interval: Duration,
    /// The resource attributes ([`resource_attributes`]).
    pub resource: Vec<(String, String)>,
    /// The endpoint as it may be logged (passwords masked).
    pub endpoint: String,
}

/// The run loop behind [`run`], over any [`Transport`]: the first push one interval after
/// start; on success the next one interval later (keeping the phase, skipping ticks a slow
/// push missed); after a failure the [`retry_delay`] plus up to a fifth of it at random
/// ([`retry_jitter_max`]). Each request is cut off at [`export_timeout`]. A failed push is
/// dropped whole (nothing is spooled): the next attempt is built afresh from the current
/// snapshots. `fedimeter_otlp_*` are published as internal families after every attempt.
pub async fn run_with_transport(
    mut transport: Box<dyn Transport>,
    push: Push,
    store: Arc<SnapshotStore>,
    shutdown: CancellationToken,
) {
    let Push {
        interval,
        resource,
        endpoint,
    } = push;
    let mut counts = ExportCounts::default();
    store.publish_internal("otlp", counts.families());
    // Validation asks for at least 1 s; a zero interval must not spin.
    let interval = interval.max(Duration::from_millis(1));
    let timeout = export_timeout(interval);
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
            r = send_batches(transport.as_mut(), batches, timeout) => r,
        };
        let now = tokio::time::Instant::now();
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
                // Keep the phase (no drift); ticks missed by a slow export are skipped.
                next += interval;
                while next <= now {
                    next += interval;
                }
            }
            Err(error) => {
                failures = failures.saturating_add(1);
                counts.failure += 1;
                let delay = retry_delay(interval, failures);
                let wait =
                    delay + rand::rng().random_range(Duration::ZERO..=retry_jitter_max(delay));
                tracing::warn!(
                    target: "fedimeter::otlp",
                    endpoint = %endpoint,
                    failures,
                    retry_in = %humantime::format_duration(round_to_millis(wait)),
                    "otlp export failed: {}",
                    redact(&format!("{error:#}"))
                );
                next = now + wait;
            }
        }
        store.publish_internal("otlp", counts.families());
    }
}

/// The timeout of one export request: the interval, but at least 2 s and at most 10 s.
///
/// ```
/// use std::time::Duration;
/// use fedimeter::export::otlp::export_timeout;
///
/// let s = Duration::from_secs;
/// assert_eq!([s(1), s(5), s(30)].map(export_timeout), [s(2), s(5), s(10)]);
/// ```
pub fn export_timeout(interval: Duration) -> Duration {
    interval.clamp(MIN_EXPORT_TIMEOUT, MAX_EXPORT_TIMEOUT)
}

/// The base wait before the next attempt after `failures` consecutive failures: the
/// interval doubled per failure (1×, 2×, 4×, …), at most 5 minutes, never less than the
/// interval. The loop adds a random jitter of up to [`retry_jitter_max`] of it.
///
/// ```
/// use std::time::Duration;
/// use fedimeter::export::otlp::{retry_delay, retry_jitter_max};
///
/// let s = Duration::from_secs;
/// let delays: Vec<_> = (1..=6).map(|n| retry_delay(s(30), n)).collect();
/// assert_eq!(delays, [s(30), s(60), s(120), s(240), s(300), s(300)]);
/// assert_eq!(retry_jitter_max(s(300)), s(60));
/// ```
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

/// The most a retry delay is stretched at random: a fifth of it, so instances that failed
/// together (a receiver restart) do not all retry on the same second.
pub fn retry_jitter_max(delay: Duration) -> Duration {
    delay / 5
}

fn round_to_millis(d: Duration) -> Duration {
    Duration::from_millis(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
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

/// Sends the parts of one export in order, each within `timeout`; stops at the first
/// failure. Rejections reported by the receiver are summed.
async fn send_batches(
    transport: &mut dyn Transport,
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

#[cfg(test)]
mod tests {
    use super::*;

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
