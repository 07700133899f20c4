//! OTLP request cost on the same 10,000-series store as `benches/exposition.rs` (4
//! PostgreSQL targets × 2 table families × 1,000 tables, 2 Redis targets × 500 queues + 500
//! commands), side by side with the `/metrics` text rendering of that store in the same run:
//! building the `ExportMetricsServiceRequest` (incl. counter start-time tracking), and
//! building + protobuf-encoding it (what a push does before the network).

use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use prost::Message;

use fedimeter::export::exposition::{Format, render_store};
use fedimeter::export::otlp::{CounterStarts, build_request, count_points, resource_attributes};
use fedimeter::model::{
    Family, Kind, MetricDesc, Outcome, Sample, Snapshot, SnapshotStore, TargetId,
};

static TABLE_TUP: MetricDesc = MetricDesc::gauge(
    "pg_stat_user_tables_n_live_tup",
    "Estimated number of live rows",
    &["datname", "schemaname", "relname"],
);
static TABLE_SEQ: MetricDesc = MetricDesc::counter(
    "pg_stat_user_tables_seq_scan",
    "Number of sequential scans initiated on this table",
    &["datname", "schemaname", "relname"],
);
static QUEUE_LATENCY: MetricDesc = MetricDesc::gauge(
    "sidekiq_queue_latency_seconds",
    "Seconds the oldest job of the queue has waited",
    &["name"],
);
static CMD: MetricDesc = MetricDesc::counter("redis_commands_total", "Calls per command", &["cmd"]);

fn family(desc: &'static MetricDesc, n: usize, label: impl Fn(usize) -> Vec<String>) -> Family {
    Family {
        desc,
        samples: (0..n)
            .map(|i| Sample {
                labels: label(i).into_iter().map(Into::into).collect(),
                value: i as f64 * 1.5 + 0.25,
            })
            .collect(),
    }
}

fn store_with_10k_series() -> SnapshotStore {
    let pg: Vec<TargetId> = (0..4)
        .map(|i| TargetId::new(Kind::Postgres, &format!("pg{i}")))
        .collect();
    let redis: Vec<TargetId> = (0..2)
        .map(|i| TargetId::new(Kind::Redis, &format!("redis{i}")))
        .collect();
    let store = SnapshotStore::new(pg.iter().chain(redis.iter()).cloned());
    let snapshot = |target: TargetId, families: Vec<Family>| Snapshot {
        target,
        finished_at: SystemTime::now(),
        duration: Duration::from_millis(12),
        outcome: Outcome::Success,
        families,
    };
    let table = |i: usize| {
        vec![
            "mastodon_production".to_string(),
            "public".to_string(),
            format!("table_{i}"),
        ]
    };
    for id in pg {
        store.publish(Arc::new(snapshot(
            id,
            vec![
                family(&TABLE_TUP, 1000, table),
                family(&TABLE_SEQ, 1000, table),
            ],
        )));
    }
    for id in redis {
        store.publish(Arc::new(snapshot(
            id,
            vec![
                family(&QUEUE_LATENCY, 500, |i| vec![format!("queue_{i}")]),
                family(&CMD, 500, |i| vec![format!("cmd_{i}")]),
            ],
        )));
    }
    fedimeter::export::self_metrics::publish_build_info(&store);
    store
}

fn bench(c: &mut Criterion) {
    let store = store_with_10k_series();
    let resource = resource_attributes("bench", "bench-host", None, None);
    let mut starts = CounterStarts::new();
    let request = build_request(&store, &resource, &mut starts, SystemTime::now());
    let points = count_points(&request);
    assert!(points >= 10_000, "{points} points");
    let text = render_store(&store, Format::Text);
    eprintln!(
        "otlp bench: {points} data points, protobuf {} bytes; /metrics text {} bytes; {} counter series tracked",
        request.encoded_len(),
        text.len(),
        starts.len()
    );

    interleaved_medians(&store, &resource);

    let mut group = c.benchmark_group("otlp_10k_series");
    group.sample_size(30);
    group.measurement_time(Duration::from_secs(5));
    group.bench_function("metrics_text_render (baseline)", |b| {
        b.iter(|| black_box(render_store(&store, Format::Text)))
    });
    group.bench_function("otlp_build_request", |b| {
        b.iter(|| {
            black_box(build_request(
                &store,
                &resource,
                &mut starts,
                SystemTime::now(),
            ))
        })
    });
    group.bench_function("otlp_build_and_encode", |b| {
        b.iter(|| {
            let request = build_request(&store, &resource, &mut starts, SystemTime::now());
            black_box(request.encode_to_vec())
        })
    });
    group.finish();
}

/// On a shared, loaded machine criterion's back-to-back groups see different load. This runs
/// the three operations round-robin (A, B, C, A, B, C, …) for 60 rounds so that each sees the
/// same load, and prints each one's median and minimum wall time.
fn interleaved_medians(store: &SnapshotStore, resource: &[(String, String)]) {
    let mut starts = CounterStarts::new();
    let mut times: [Vec<Duration>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for _ in 0..60 {
        let t = Instant::now();
        black_box(render_store(store, Format::Text));
        times[0].push(t.elapsed());
        let t = Instant::now();
        black_box(build_request(
            store,
            resource,
            &mut starts,
            SystemTime::now(),
        ));
        times[1].push(t.elapsed());
        let t = Instant::now();
        let request = build_request(store, resource, &mut starts, SystemTime::now());
        black_box(request.encode_to_vec());
        times[2].push(t.elapsed());
    }
    for (name, t) in [
        "metrics_text_render",
        "otlp_build_request",
        "otlp_build_and_encode",
    ]
    .iter()
    .zip(times.iter_mut())
    {
        t.sort();
        eprintln!(
            "interleaved x60: {name}: median {:.2} ms, min {:.2} ms",
            t[t.len() / 2].as_secs_f64() * 1e3,
            t[0].as_secs_f64() * 1e3
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
