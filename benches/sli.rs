//! Computing every SLI window (5m … 90d) for 10 components over 90 days of per-minute
//! history (1,296,000 minute buckets) from the store, as the SLI task does every minute.
//! SQLite always; PostgreSQL too when `FEDIMETER_BENCH_PG_URL` is set (see
//! `scripts/bench/sli.sh`, which starts a throw-away PostgreSQL).

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, criterion_group, criterion_main};
use fedimeter::config::{ComponentConfig, Origin, SecretUrl, SignalConfig};
use fedimeter::sli::components::{self, Component};
use fedimeter::sli::recorder::compute_sli_families;
use fedimeter::sli::store::SliBatch;
use fedimeter::sli::{ComponentOptions, ComponentStatus};
use fedimeter::store::Store;

const COMPONENTS: usize = 10;
const DAYS: i64 = 90;

fn components() -> Vec<Component> {
    let configs = (0..COMPONENTS)
        .map(|i| ComponentConfig {
            id: format!("component_{i}"),
            name: format!("Component {i}"),
            description: String::new(),
            signals: vec![SignalConfig::Probe {
                probe: "web".into(),
            }],
            options: ComponentOptions::default(),
            origin: Origin::Written,
        })
        .collect();
    components::from_configs(configs)
}

/// 90 days of minutes ending at `now` for every component: mostly operational, a few
/// degraded / outage / maintenance minutes, and an hour without data every day.
async fn fill(store: &Store, ids: &[Arc<str>], now_minute: i64) {
    let start = now_minute - DAYS * 1440;
    let mut batch = SliBatch::default();
    for m in start..now_minute {
        if m.rem_euclid(1440) / 60 == 5 {
            continue;
        }
        for (i, id) in ids.iter().enumerate() {
            let state = match (m + i as i64 * 7).rem_euclid(997) {
                0..=3 => ComponentStatus::MajorOutage,
                4..=9 => ComponentStatus::DegradedPerformance,
                10..=12 => ComponentStatus::UnderMaintenance,
                _ => ComponentStatus::Operational,
            };
            batch.minutes.push((id.clone(), m, state));
        }
        if m.rem_euclid(1440) == 1439 {
            store.write_sli_batch(&batch).await.expect("writing a day");
            batch = SliBatch::default();
        }
    }
    store
        .write_sli_batch(&batch)
        .await
        .expect("writing the last day");
}

fn bench_backend(c: &mut Criterion, name: &str, url: String) {
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let components = components();
    let ids: Vec<Arc<str>> = components.iter().map(|c| Arc::from(c.id())).collect();
    let now = SystemTime::now();
    let now_minute = fedimeter::store::unix_ms(now).div_euclid(60_000);
    let store = rt.block_on(async {
        let store = Store::open(&SecretUrl::new(url))
            .await
            .expect("opening the store");
        let started = std::time::Instant::now();
        fill(&store, &ids, now_minute).await;
        eprintln!(
            "{name}: wrote {} minute buckets in {:?}",
            DAYS * 1440 * COMPONENTS as i64,
            started.elapsed()
        );
        store
    });
    let mut group = c.benchmark_group(format!("sli_{name}"));
    group.measurement_time(Duration::from_secs(10));
    group.bench_function("all_windows_10_components_90_days", |b| {
        b.iter(|| {
            rt.block_on(compute_sli_families(&store, &components, now))
                .expect("computing")
        })
    });
    // One flush of the SLI task: 10 minute buckets with their hour and day rollups.
    let mut minute = now_minute;
    group.bench_function("flush_one_minute_10_components", |b| {
        b.iter(|| {
            let batch = SliBatch {
                minutes: ids
                    .iter()
                    .map(|id| (id.clone(), minute, ComponentStatus::Operational))
                    .collect(),
                ..SliBatch::default()
            };
            minute += 1;
            rt.block_on(store.write_sli_batch(&batch))
                .expect("flushing")
        })
    });
    group.finish();
    rt.block_on(store.close());
}

fn sli(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("tempdir");
    bench_backend(
        c,
        "sqlite",
        format!("sqlite://{}", dir.path().join("bench.db").display()),
    );
    if let Ok(url) = std::env::var("FEDIMETER_BENCH_PG_URL") {
        bench_backend(c, "postgres", url);
    }
}

criterion_group!(benches, sli);
criterion_main!(benches);
