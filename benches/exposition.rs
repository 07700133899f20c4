//! `/metrics` encoding cost: 10,000 series spread over realistic families and targets,
//! rendered from the snapshot store in both formats. Target: under 5 ms per render.

#[path = "support/ten_thousand_series.rs"]
mod ten_thousand_series;

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};

use fedimeter::export::exposition::{Format, render_store};
use ten_thousand_series::store_with_10k_series;

fn bench(c: &mut Criterion) {
    let store = store_with_10k_series();
    let text = render_store(&store, Format::Text);
    let series = text.lines().filter(|l| !l.starts_with('#')).count();
    assert!(series >= 10_000, "{series} series");
    let mut group = c.benchmark_group("metrics_10k_series");
    group.bench_function("text_0.0.4", |b| {
        b.iter(|| black_box(render_store(&store, Format::Text)))
    });
    group.bench_function("openmetrics", |b| {
        b.iter(|| black_box(render_store(&store, Format::OpenMetrics)))
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
