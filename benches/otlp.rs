//! OTLP request cost on the same 10,000-series store as `benches/exposition.rs` (4
//! PostgreSQL targets × 2 table families × 1,000 tables, 2 Redis targets × 500 queues + 500
//! commands), side by side with the `/metrics` text rendering of that store in the same run:
//! building the `ExportMetricsServiceRequest` (incl. counter start-time tracking), and
//! building + protobuf-encoding it (what a push does before the network).

#[path = "support/ten_thousand_series.rs"]
mod ten_thousand_series;

use std::hint::black_box;
use std::time::{Duration, Instant, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use prost::Message;

use fedimeter::export::exposition::{Format, render_store};
use fedimeter::export::otlp::{CounterStarts, build_request, count_points, resource_attributes};
use fedimeter::model::SnapshotStore;
use ten_thousand_series::store_with_10k_series;

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
