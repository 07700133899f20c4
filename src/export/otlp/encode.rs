//! Snapshots → OTLP: [`build_request`] turns the store's latest snapshots and internal
//! families into one `ExportMetricsServiceRequest` (a pure function of the store), with
//! counter start times kept by [`CounterStarts`]; [`split_request`] cuts it into requests of
//! at most [`MAX_POINTS_PER_REQUEST`] points. The mapping is in `docs/otlp.md`.
//!
//! Which series get a `target` attribute is not decided here: a family whose descriptor
//! already has a `target` label keeps it ([`MetricDesc::has_target_label`]), every other
//! series of a target gets one.

use std::collections::{BTreeMap, HashMap};
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::common::v1::{AnyValue, InstrumentationScope, KeyValue, any_value};
use opentelemetry_proto::tonic::metrics::v1::{
    AggregationTemporality, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics, Sum,
    metric, number_data_point,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use crate::export::self_metrics::VERSION;
use crate::model::{Family, MetricDesc, MetricType, Sample, SnapshotStore};

/// The instrumentation scope name of every exported metric.
pub const SCOPE_NAME: &str = "fedimeter";
/// Data points per request at most; larger exports are split into several requests (the
/// OpenTelemetry collector's batch processor uses the same size, and it keeps a request well
/// under the common 4 MiB gRPC message limit).
pub const MAX_POINTS_PER_REQUEST: usize = 8192;

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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::time::Duration;

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
}
