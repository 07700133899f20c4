//! One evaluation of 1,000 alert rules (the built-in Mastodon set plus generated threshold
//! rules with label matchers) over a realistic Mastodon snapshot set: a primary and a
//! replica PostgreSQL with 60 tables each, PgBouncer with 10 pools, Redis with Sidekiq's
//! 20 queues, four preset probes (≈1,600 series). Measured through `Evaluator::step`, so
//! the state machine and notice rendering are included; a few percent of the rules fire.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use criterion::{Criterion, criterion_group, criterion_main};
use fedimeter::alert::rule::{Cmp, Condition, Derive, Rule, builtin};
use fedimeter::alert::{AlertInputs, Evaluator};
use fedimeter::model::{Family, Kind, MetricDesc, Outcome, Sample, Snapshot, TargetId};
use fedimeter::notify::Severity;

const T: &[&str] = &["datname", "schemaname", "relname"];
static PG_UP: MetricDesc = MetricDesc::gauge("pg_up", "", &[]);
static LIVE: MetricDesc = MetricDesc::gauge("pg_stat_user_tables_n_live_tup", "", T);
static DEAD: MetricDesc = MetricDesc::gauge("pg_stat_user_tables_n_dead_tup", "", T);
static SEQ: MetricDesc = MetricDesc::counter("pg_stat_user_tables_seq_scan", "", T);
static IDX: MetricDesc = MetricDesc::counter("pg_stat_user_tables_idx_scan", "", T);
static SIZE: MetricDesc = MetricDesc::gauge("pg_stat_user_tables_table_size_bytes", "", T);
static VACUUM: MetricDesc = MetricDesc::gauge("pg_stat_user_tables_last_autovacuum", "", T);
static WRAP: MetricDesc = MetricDesc::gauge(
    "pg_database_wraparound_age_datfrozenxid_seconds",
    "",
    &["datname"],
);
static LAG: MetricDesc = MetricDesc::gauge("pg_replication_lag_seconds", "", &[]);
static PGB_UP: MetricDesc = MetricDesc::gauge("pgbouncer_up", "", &[]);
const P: &[&str] = &["database", "user"];
static MAXWAIT: MetricDesc = MetricDesc::gauge("pgbouncer_pools_client_maxwait_seconds", "", P);
static SAT: MetricDesc = MetricDesc::gauge("pgbouncer_pools_saturation_ratio", "", P);
static WAITING: MetricDesc = MetricDesc::gauge("pgbouncer_pools_client_waiting_connections", "", P);
static ACTIVE: MetricDesc = MetricDesc::gauge("pgbouncer_pools_client_active_connections", "", P);
static REDIS_UP: MetricDesc = MetricDesc::gauge("redis_up", "", &[]);
static USED: MetricDesc = MetricDesc::gauge("redis_memory_used_bytes", "", &[]);
static MAX: MetricDesc = MetricDesc::gauge("redis_memory_max_bytes", "", &[]);
static BGSAVE: MetricDesc = MetricDesc::gauge("redis_rdb_last_bgsave_status", "", &[]);
static LATENCY: MetricDesc = MetricDesc::gauge("sidekiq_queue_latency_seconds", "", &["name"]);
static ENQUEUED: MetricDesc = MetricDesc::gauge("sidekiq_queue_enqueued_jobs", "", &["name"]);
static UNCOVERED: MetricDesc = MetricDesc::gauge("sidekiq_queue_uncovered", "", &["name"]);
static PROCESSES: MetricDesc = MetricDesc::gauge("sidekiq_processes", "", &[]);
static SUCCESS: MetricDesc = MetricDesc::gauge("probe_success", "", &["module"]);
static CERT: MetricDesc = MetricDesc::gauge("probe_ssl_earliest_cert_expiry", "", &["module"]);
static DURATION: MetricDesc = MetricDesc::gauge("probe_duration_seconds", "", &["module"]);

const QUEUES: [&str; 20] = [
    "default",
    "ingress",
    "push",
    "pull",
    "mailers",
    "scheduler",
    "fasp",
    "q7",
    "q8",
    "q9",
    "q10",
    "q11",
    "q12",
    "q13",
    "q14",
    "q15",
    "q16",
    "q17",
    "q18",
    "q19",
];

fn fam(desc: &'static MetricDesc, rows: Vec<(Vec<String>, f64)>) -> Family {
    Family {
        desc,
        samples: rows
            .into_iter()
            .map(|(l, v)| Sample {
                labels: l.into_iter().map(Into::into).collect(),
                value: v,
            })
            .collect(),
    }
}

fn tables(v: impl Fn(usize) -> f64) -> Vec<(Vec<String>, f64)> {
    (0..60)
        .map(|i| {
            (
                vec![
                    "mastodon_production".into(),
                    "public".into(),
                    format!("table_{i}"),
                ],
                v(i),
            )
        })
        .collect()
}

fn snap(kind: Kind, name: &str, families: Vec<Family>) -> Arc<Snapshot> {
    Arc::new(Snapshot {
        target: TargetId::new(kind, name),
        finished_at: SystemTime::now(),
        duration: Duration::from_millis(10),
        outcome: Outcome::Success,
        health: Some(fedimeter::model::Health::Up),
        families,
    })
}

fn snapshots(now: f64) -> Vec<Arc<Snapshot>> {
    let mut out = Vec::new();
    for name in ["main", "replica"] {
        out.push(snap(
            Kind::Postgres,
            name,
            vec![
                fam(&PG_UP, vec![(vec![], 1.0)]),
                fam(&LIVE, tables(|i| (i * 10_000) as f64)),
                fam(&DEAD, tables(|i| (i * 100) as f64)),
                fam(&SEQ, tables(|i| i as f64)),
                fam(&IDX, tables(|i| (i * 7) as f64)),
                fam(&SIZE, tables(|i| (i * 1_000_000) as f64)),
                fam(&VACUUM, tables(|_| now - 3600.0)),
                fam(
                    &WRAP,
                    ["mastodon_production", "postgres", "template1"]
                        .iter()
                        .map(|d| (vec![d.to_string()], 2e8))
                        .collect(),
                ),
                fam(
                    &LAG,
                    vec![(vec![], if name == "replica" { 90.0 } else { 0.0 })],
                ),
            ],
        ));
    }
    let pools = || {
        (0..10)
            .map(|i| vec![format!("db{i}"), "mastodon".to_string()])
            .collect::<Vec<_>>()
    };
    out.push(snap(
        Kind::Pgbouncer,
        "pgbouncer",
        vec![
            fam(&PGB_UP, vec![(vec![], 1.0)]),
            fam(&MAXWAIT, pools().into_iter().map(|l| (l, 0.5)).collect()),
            fam(
                &SAT,
                pools()
                    .into_iter()
                    .enumerate()
                    .map(|(i, l)| (l, i as f64 / 10.0))
                    .collect(),
            ),
            fam(&WAITING, pools().into_iter().map(|l| (l, 0.0)).collect()),
            fam(&ACTIVE, pools().into_iter().map(|l| (l, 12.0)).collect()),
        ],
    ));
    let queues = |v: &dyn Fn(usize) -> f64| {
        QUEUES
            .iter()
            .enumerate()
            .map(|(i, q)| (vec![q.to_string()], v(i)))
            .collect::<Vec<_>>()
    };
    out.push(snap(
        Kind::Redis,
        "sidekiq",
        vec![
            fam(&REDIS_UP, vec![(vec![], 1.0)]),
            fam(&USED, vec![(vec![], 9.5e8)]),
            fam(&MAX, vec![(vec![], 1e9)]),
            fam(&BGSAVE, vec![(vec![], 1.0)]),
            fam(&LATENCY, queues(&|i| (i * 20) as f64)),
            fam(&ENQUEUED, queues(&|i| (i * 100) as f64)),
            fam(&UNCOVERED, queues(&|_| 0.0)),
            fam(&PROCESSES, vec![(vec![], 4.0)]),
        ],
    ));
    for name in ["web", "api", "streaming", "media"] {
        out.push(snap(
            Kind::Probe,
            name,
            vec![
                fam(&SUCCESS, vec![(vec!["http".into()], 1.0)]),
                fam(&CERT, vec![(vec!["http".into()], now + 40.0 * 86_400.0)]),
                fam(&DURATION, vec![(vec!["http".into()], 0.12)]),
            ],
        ));
    }
    out
}

/// The built-in set plus generated rules up to `n`.
fn rules(n: usize) -> Vec<Rule> {
    let mut rules = builtin();
    let table_families = [
        "pg_stat_user_tables_n_live_tup",
        "pg_stat_user_tables_n_dead_tup",
        "pg_stat_user_tables_seq_scan",
        "pg_stat_user_tables_table_size_bytes",
    ];
    let mut i = 0;
    while rules.len() < n {
        let (family, matchers, value) = match i % 4 {
            0 | 1 => (
                table_families[i % table_families.len()].to_string(),
                vec![("relname".to_string(), format!("table_{}", i % 60))],
                // Over 500,000 rows fires (n_live_tup of tables 51..59).
                500_000.0,
            ),
            2 => (
                "sidekiq_queue_enqueued_jobs".to_string(),
                vec![("name".to_string(), QUEUES[i % 20].to_string())],
                5_000.0,
            ),
            _ => (
                "pgbouncer_pools_client_waiting_connections".to_string(),
                vec![("database".to_string(), format!("db{}", i % 10))],
                10.0,
            ),
        };
        rules.push(Rule {
            name: format!("Generated{i}"),
            severity: Severity::Warning,
            condition: Condition::Threshold {
                family,
                matchers,
                derive: Derive::Value,
                cmp: Cmp::Gt,
                value,
            },
            for_: Duration::from_secs(60),
            keep_firing_for: Duration::ZERO,
            summary: "{{labels.relname}} {{value}} over {{threshold}}".into(),
            description: String::new(),
            runbook: None,
            component: None,
        });
        i += 1;
    }
    rules
}

fn bench(c: &mut Criterion) {
    let rules = rules(1000);
    assert_eq!(rules.len(), 1000);
    let t0 = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let set = snapshots(1_800_000_000.0);
    let series: usize = set
        .iter()
        .flat_map(|s| &s.families)
        .map(|f| f.samples.len())
        .sum();
    eprintln!(
        "{} rules over {} series in {} snapshots",
        rules.len(),
        series,
        set.len()
    );
    let mut evaluator = Evaluator::new(rules, Duration::from_secs(4 * 3600));
    let mut step = 0u64;
    c.bench_function("alerts/evaluate_1000_rules", |b| {
        b.iter(|| {
            step += 1;
            let inputs = AlertInputs {
                probes_awaiting_first_run: 0,
                store_away_since: None,
                snapshots: set.clone(),
                muted_components: Default::default(),
                internal: Vec::new(),
                components: Default::default(),
                now: t0 + Duration::from_secs(15 * step),
            };
            evaluator.step(&inputs)
        })
    });
    eprintln!(
        "{} alert instances pending or firing",
        evaluator.states().len()
    );
}

criterion_group!(benches, bench);
criterion_main!(benches);
