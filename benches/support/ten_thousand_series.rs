//! The 10,000-series snapshot store shared by the `/metrics` and OTLP benchmarks: 4
//! PostgreSQL targets × 2 table families × 1,000 tables and 2 Redis targets × (500 queues +
//! 500 commands), every series with a `target` label.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

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

/// 4 postgres targets × 2 families × 1,000 tables + 2 redis targets × (500 queues + 500
/// commands) = 10,000 series (plus a few dozen self-metrics).
pub fn store_with_10k_series() -> SnapshotStore {
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
        health: Some(fedimeter::model::Health::Up),
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
    store
}
