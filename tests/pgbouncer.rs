//! The PgBouncer collector against a real PgBouncer in front of a real PostgreSQL (test kit):
//! pool exhaustion seen within one interval, and the faults (stopped, frozen, wrong password,
//! restart) turning into `pgbouncer_up 0` and back without restarting anything; and the
//! names, types and label names served, current and `legacy_names`, against pgbouncer_exporter's
//! (`tests/fixtures/exporters/pgbouncer_exporter-*-from-source.txt`, derived from its source).

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use fedimeter::collect::pgbouncer::{self, PgbouncerOptions};
use fedimeter::collect::runner;
use fedimeter::config::{PgbouncerTarget, SecretUrl, TargetCommon};
use fedimeter::export::exposition::{Format, render_families};
use fedimeter::model::{Health, Kind, MetricType, Reason, Snapshot, SnapshotStore, TargetId};
use support::pgbouncer::{PgBouncer, PgBouncerOptions};
use support::postgres::PgServer;
use tokio_util::sync::CancellationToken;

const INTERVAL: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_millis(500);
/// Scheduling slack on a busy 2-core machine, on top of what the contract allows.
const SLACK: Duration = Duration::from_millis(500);

fn target(url: String, options: PgbouncerOptions) -> PgbouncerTarget {
    PgbouncerTarget {
        common: TargetCommon::written("main".to_owned(), INTERVAL, TIMEOUT),
        url: SecretUrl::new(url),
        options,
    }
}

/// A running collector job publishing into its own store; stops when dropped.
struct RunningJob {
    store: Arc<SnapshotStore>,
    id: TargetId,
    shutdown: CancellationToken,
}

impl RunningJob {
    fn start(target: &PgbouncerTarget) -> RunningJob {
        let job = pgbouncer::job(target);
        let id = job.id.clone();
        let store = Arc::new(SnapshotStore::new([id.clone()]));
        let shutdown = CancellationToken::new();
        tokio::spawn(runner::run_job(job, store.clone(), shutdown.clone()));
        RunningJob {
            store,
            id,
            shutdown,
        }
    }

    fn latest(&self) -> Option<Arc<Snapshot>> {
        self.store.get(&self.id)
    }

    /// Waits until the latest snapshot satisfies `condition`; panics after `within`.
    async fn wait_for(
        &self,
        what: &str,
        within: Duration,
        condition: impl Fn(&Snapshot) -> bool,
    ) -> Arc<Snapshot> {
        let started = Instant::now();
        loop {
            if let Some(snapshot) = self.latest() {
                if condition(&snapshot) {
                    return snapshot;
                }
            }
            assert!(
                started.elapsed() < within,
                "no snapshot with {what} within {within:?}; latest:\n{}",
                self.latest().map(|s| render(&s)).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

impl Drop for RunningJob {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

fn render(snapshot: &Snapshot) -> String {
    render_families(snapshot.families.iter().map(|f| (f, None)), Format::Text)
}

fn up(snapshot: &Snapshot) -> Option<f64> {
    snapshot.value("pgbouncer_up", &[])
}

const POOL: [&str; 2] = ["postgres", "postgres"];

/// An admin console connection of the test itself (not the collector's).
async fn admin_client(bouncer: &PgBouncer) -> tokio_postgres::Client {
    let (client, connection) = tokio_postgres::connect(&bouncer.admin_url(), tokio_postgres::NoTls)
        .await
        .expect("test's own admin connection");
    tokio::spawn(connection);
    client
}

/// `column` of the `postgres/postgres` row of SHOW POOLS, read by name.
async fn pool_column(admin: &tokio_postgres::Client, column: &str) -> u32 {
    admin
        .simple_query("SHOW POOLS")
        .await
        .expect("SHOW POOLS")
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) if r.get("database") == Some("postgres") => {
                r.get(column).and_then(|v| v.parse().ok())
            }
            _ => None,
        })
        .unwrap_or(0)
}

/// A client through PgBouncer that opens a transaction (and so holds a server connection in
/// transaction mode) until `release` is cancelled.
async fn hold_transaction(url: String, release: CancellationToken) {
    let (client, connection) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
        .await
        .expect("client connects through pgbouncer");
    tokio::spawn(connection);
    client
        .simple_query("BEGIN; SELECT 1")
        .await
        .expect("begin through pgbouncer");
    release.cancelled().await;
    client.simple_query("COMMIT").await.expect("commit");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_waiting_for_an_exhausted_pool_show_within_one_interval_and_clear_after() {
    let pg = PgServer::start();
    let bouncer = PgBouncer::start(
        &pg,
        PgBouncerOptions {
            pool_size: 2,
            ..PgBouncerOptions::default()
        },
    );
    let job = RunningJob::start(&target(bouncer.admin_url(), PgbouncerOptions::default()));
    job.wait_for("pgbouncer_up 1", INTERVAL + TIMEOUT + SLACK, |s| {
        up(s) == Some(1.0)
    })
    .await;

    let release = CancellationToken::new();
    let holders: Vec<_> = (0..5)
        .map(|_| tokio::spawn(hold_transaction(bouncer.url("postgres"), release.clone())))
        .collect();
    // An observer independent of fedimeter: from the first waiting client on, the collector
    // has one interval (plus its own run time) to show it.
    let observer = admin_client(&bouncer).await;
    while pool_column(&observer, "cl_waiting").await == 0 {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    job.wait_for(
        "waiting clients and a non-zero maxwait",
        INTERVAL + TIMEOUT + SLACK,
        |s| {
            s.value("pgbouncer_pools_client_waiting_connections", &POOL)
                .is_some_and(|v| v > 0.0)
                && s.value("pgbouncer_pools_client_maxwait_seconds", &POOL)
                    .is_some_and(|v| v > 0.0)
        },
    )
    .await;
    // `wait_for`'s bound (one interval plus the run's timeout and scheduling slack, counted
    // from when the observer saw the first waiting client) is the claim; no separate
    // wall-clock assertion.
    // PgBouncer opens the two server connections one after the other; once both are busy,
    // three clients wait and the pool is saturated.
    let steady = job
        .wait_for(
            "two active servers and three waiting clients",
            5 * INTERVAL,
            |s| {
                s.value("pgbouncer_pools_server_active_connections", &POOL) == Some(2.0)
                    && s.value("pgbouncer_pools_client_waiting_connections", &POOL) == Some(3.0)
            },
        )
        .await;
    assert_eq!(
        steady.value("pgbouncer_pools_saturation_ratio", &POOL),
        Some(1.0)
    );
    // Sub-second precision: pgbouncer_exporter shows 0 for waits under a second.
    let maxwait = steady
        .value("pgbouncer_pools_client_maxwait_seconds", &POOL)
        .unwrap_or_default();
    assert!(maxwait > 0.0 && maxwait < 10.0, "maxwait {maxwait}");

    release.cancel();
    for holder in holders {
        if holder.await.is_err() {
            panic!("a holder failed; pgbouncer log:\n{}", bouncer.log_tail(40));
        }
    }
    // As above, the claim is `wait_for`'s bound from the release on.
    job.wait_for(
        "no waiting clients and maxwait 0",
        INTERVAL + TIMEOUT + SLACK,
        |s| {
            s.value("pgbouncer_pools_client_waiting_connections", &POOL) == Some(0.0)
                && s.value("pgbouncer_pools_client_maxwait_seconds", &POOL) == Some(0.0)
        },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_pgbouncer_gives_its_families_over_one_connection() {
    let pg = PgServer::start();
    let bouncer = PgBouncer::start(&pg, PgBouncerOptions::default());
    let options = PgbouncerOptions {
        client_connections: true,
        ..PgbouncerOptions::default()
    };
    // The timeout is not under test here: a generous one, so that a run on a loaded machine
    // does not time out (and legitimately log in again) and hide what is checked.
    let (interval, timeout) = (Duration::from_secs(2), Duration::from_millis(1900));
    let mut generous = target(bouncer.admin_url(), options);
    generous.common = TargetCommon::written("main".to_owned(), interval, timeout);
    let job = RunningJob::start(&generous);
    // Three runs.
    let snapshot = job
        .wait_for("three runs", 3 * interval + timeout + SLACK, |s| {
            s.value("fedimeter_collector_runs_total", &["pgbouncer", "main"]) >= Some(3.0)
        })
        .await;
    assert_eq!(
        snapshot.value("fedimeter_collector_timeouts_total", &["pgbouncer", "main"]),
        Some(0.0),
        "a run timed out even with a {timeout:?} timeout"
    );
    let text = render(&snapshot);
    assert_eq!(up(&snapshot), Some(1.0), "{text}");
    assert_eq!(snapshot.outcome.as_str(), "success", "{text}");
    let version_line = text
        .lines()
        .find(|l| l.starts_with("pgbouncer_version_info{version=\"PgBouncer "))
        .unwrap_or_else(|| panic!("no version line in\n{text}"));
    for expected in [
        "pgbouncer_config_max_client_connections 100\n",
        "pgbouncer_databases_pool_size{name=\"postgres\",host=\"127.0.0.1\",",
        // The console's own pool is `pgbouncer/pgbouncer`, whoever logs in.
        "pgbouncer_pools_client_active_connections{database=\"pgbouncer\",user=\"pgbouncer\"} 1\n",
        // No client used the `postgres` database yet, so only the console has a pool.
        "pgbouncer_pools_saturation_ratio{database=\"pgbouncer\",user=\"pgbouncer\"} 0\n",
        "pgbouncer_stats_totals_queries_pooled_total{database=\"pgbouncer\"}",
        "pgbouncer_used_clients 1\n",
        // Our own admin connection, named so operators can tell it apart.
        "pgbouncer_client_connections{database=\"pgbouncer\",user=\"stats\",application_name=\"fedimeter\",state=\"active\"} 1\n",
    ] {
        assert!(text.contains(expected), "missing {expected:?} in\n{text}");
    }
    if version_line.contains("PgBouncer 1.18.") {
        // 1.18 has no prepared-statement or assignment columns: omitted, not 0.
        for absent in ["_parses_total", "_binds_total", "_server_assignments_total"] {
            assert!(!text.contains(absent), "{absent} present in\n{text}");
        }
    }
    // One long-lived connection: a single admin login for all runs.
    let logins = std::fs::read_to_string(bouncer.log_path())
        .expect("pgbouncer log")
        .lines()
        .filter(|l| l.contains("login attempt: db=pgbouncer user=stats"))
        .count();
    assert_eq!(logins, 1, "{}", bouncer.log_tail(30));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_pgbouncer_is_down_within_the_timeout_and_recovers_after_restart() {
    let pg = PgServer::start();
    let mut bouncer = PgBouncer::start(&pg, PgBouncerOptions::default());
    let job = RunningJob::start(&target(bouncer.admin_url(), PgbouncerOptions::default()));
    job.wait_for("pgbouncer_up 1", INTERVAL + TIMEOUT + SLACK, |s| {
        up(s) == Some(1.0)
    })
    .await;

    bouncer.stop();
    let stopped_at = std::time::SystemTime::now();
    let down = job
        .wait_for("pgbouncer_up 0", INTERVAL + TIMEOUT + SLACK, |s| {
            s.finished_at > stopped_at && up(s) == Some(0.0)
        })
        .await;
    assert!(
        down.duration <= TIMEOUT + SLACK,
        "run took {:?}",
        down.duration
    );
    assert!(
        down.family("pgbouncer_pools_client_active_connections")
            .is_none(),
        "no stale pool series when down:\n{}",
        render(&down)
    );

    bouncer.start_again();
    let restarted_at = std::time::SystemTime::now();
    job.wait_for(
        "pgbouncer_up 1 after restart",
        INTERVAL + TIMEOUT + SLACK,
        |s| s.finished_at > restarted_at && up(s) == Some(1.0),
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_after_a_restart_between_runs_is_up() {
    let pg = PgServer::start();
    let mut bouncer = PgBouncer::start(&pg, PgBouncerOptions::default());
    let job = RunningJob::start(&target(bouncer.admin_url(), PgbouncerOptions::default()));
    let first = job
        .wait_for("pgbouncer_up 1", INTERVAL + TIMEOUT + SLACK, |s| {
            up(s) == Some(1.0)
        })
        .await;
    // Restart right after a run, so the next run finds its kept connection dead.
    bouncer.stop();
    bouncer.start_again();
    let restarted_at = std::time::SystemTime::now();
    let next = job
        .wait_for("a run after the restart", 2 * INTERVAL + SLACK, |s| {
            s.finished_at > restarted_at
        })
        .await;
    assert_eq!(up(&next), Some(1.0), "{}", render(&next));
    assert!(next.finished_at > first.finished_at);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_pgbouncer_is_down_within_the_timeout_and_recovers_after_sigcont() {
    let pg = PgServer::start();
    let bouncer = PgBouncer::start(&pg, PgBouncerOptions::default());
    let job = RunningJob::start(&target(bouncer.admin_url(), PgbouncerOptions::default()));
    job.wait_for("pgbouncer_up 1", INTERVAL + TIMEOUT + SLACK, |s| {
        up(s) == Some(1.0)
    })
    .await;

    bouncer.sigstop();
    let stopped_at = std::time::SystemTime::now();
    let down = job
        .wait_for("pgbouncer_up 0", INTERVAL + TIMEOUT + SLACK, |s| {
            s.finished_at > stopped_at && up(s) == Some(0.0)
        })
        .await;
    assert_eq!(down.outcome.as_str(), "timeout");
    assert_eq!(
        down.health,
        Some(Health::Down {
            reason: Reason::Timeout
        })
    );
    assert!(down.value("fedimeter_collector_timeouts_total", &["pgbouncer", "main"]) >= Some(1.0));
    // A second frozen run: the collector starts over on a new connection and times out again.
    job.wait_for("a second timed-out run", INTERVAL + TIMEOUT + SLACK, |s| {
        s.value("fedimeter_collector_timeouts_total", &["pgbouncer", "main"]) >= Some(2.0)
    })
    .await;

    bouncer.sigcont();
    let resumed_at = std::time::SystemTime::now();
    job.wait_for(
        "pgbouncer_up 1 after SIGCONT",
        INTERVAL + TIMEOUT + SLACK,
        |s| s.finished_at > resumed_at && up(s) == Some(1.0),
    )
    .await;
}

/// A `tracing` writer that keeps everything written, for asserting on log lines.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn id_and_kind_are_those_of_the_target() {
    let job = pgbouncer::job(&target(
        "postgres://stats@127.0.0.1:1/pgbouncer".to_owned(),
        PgbouncerOptions::default(),
    ));
    assert_eq!(job.id, TargetId::new(Kind::Pgbouncer, "main"));
    assert_eq!((job.interval, job.timeout), (INTERVAL, TIMEOUT));
    // Nothing listens on port 1: down, quickly, with the port in the message.
    let snapshot = runner::collect_once(&job.id, job.timeout, job.collector).await;
    assert_eq!(up(&snapshot), Some(0.0));
    assert_eq!(snapshot.outcome.as_str(), "failed");
    assert_eq!(
        snapshot.health,
        Some(Health::Down {
            reason: Reason::Refused
        })
    );
}

/// `legacy_names = true` against a real PgBouncer: the seven pre-0.11 names are present for
/// every database, with exactly the values of their `stats_totals_` forms in the same run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_names_mirror_the_stats_totals_of_a_real_pgbouncer() {
    let pg = PgServer::start();
    let bouncer = PgBouncer::start(&pg, PgBouncerOptions::default());
    let options = PgbouncerOptions {
        legacy_names: true,
        ..PgbouncerOptions::default()
    };
    let job = RunningJob::start(&target(bouncer.admin_url(), options));
    let snapshot = job
        .wait_for("two runs", 2 * INTERVAL + TIMEOUT + SLACK, |s| {
            s.value("fedimeter_collector_runs_total", &["pgbouncer", "main"]) >= Some(2.0)
        })
        .await;
    let text = render(&snapshot);
    assert_eq!(up(&snapshot), Some(1.0), "{text}");
    let mut compared = 0;
    for stem in [
        "queries_pooled",
        "queries_duration_seconds",
        "received_bytes",
        "sent_bytes",
        "client_wait_seconds",
        "server_in_transaction_seconds",
        "sql_transactions_pooled",
    ] {
        let legacy = format!("pgbouncer_stats_{stem}_total");
        let current = format!("pgbouncer_stats_totals_{stem}_total");
        let legacy_family = snapshot
            .family(&legacy)
            .unwrap_or_else(|| panic!("{legacy} missing in\n{text}"));
        assert!(!legacy_family.samples.is_empty(), "{legacy} empty");
        for sample in &legacy_family.samples {
            let labels: Vec<&str> = sample.labels.iter().map(|v| &**v).collect();
            assert_eq!(
                Some(sample.value),
                snapshot.value(&current, &labels),
                "{legacy}{labels:?}"
            );
            compared += 1;
        }
    }
    // The admin console's own database at least.
    assert!(compared >= 7, "{text}");
}

/// Family name → (type, label names) of one of pgbouncer_exporter's fixtures in
/// `tests/fixtures/exporters/` (derived from its source: the exporter cannot be run here):
/// `# TYPE` lines give the type, the sample line under each gives the label names.
fn exporter_families(fixture: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let path = format!(
        "{}/tests/fixtures/exporters/{fixture}",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let families = exposition_families(&text);
    assert!(
        families.len() >= 40,
        "{path}: only {} families",
        families.len()
    );
    families
}

/// Family name → (type, label names) of a Prometheus text exposition. Label values are
/// skipped by their quoting rules (`\\` and `\"` escapes), so any value is fine; a sample
/// without a `# TYPE` line, or a family whose samples disagree on label names, fails.
fn exposition_families(text: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut types = BTreeMap::new();
    let mut labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, metric_type) = rest.split_once(' ').expect("# TYPE name type");
            types.insert(name.to_owned(), metric_type.to_owned());
            continue;
        }
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        let name_end = line.find(['{', ' ']).unwrap_or(line.len());
        let name = &line[..name_end];
        let names = sample_label_names(&line[name_end..]);
        if let Some(seen) = labels.get(name) {
            assert_eq!(seen, &names, "{name}: samples with different label names");
        }
        labels.insert(name.to_owned(), names);
    }
    labels
        .into_iter()
        .map(|(name, names)| {
            let metric_type = types
                .get(&name)
                .unwrap_or_else(|| panic!("{name}: sample without # TYPE"))
                .clone();
            (name, (metric_type, names))
        })
        .collect()
}

/// The label names of `{a="x",b="y"} 1` (or of ` 1`: none).
fn sample_label_names(after_name: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    let Some(body) = after_name.strip_prefix('{') else {
        return names;
    };
    let mut chars = body.chars();
    loop {
        let name: String = chars.by_ref().take_while(|c| *c != '=').collect();
        assert_eq!(chars.next(), Some('"'), "label {name}: value not quoted");
        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    chars.next();
                }
                '"' => break,
                _ => {}
            }
        }
        names.insert(name.trim_start_matches(',').to_owned());
        match chars.next() {
            Some(',') if chars.clone().next() != Some('}') => continue,
            Some(',') | Some('}') => return names,
            other => panic!("after a label value: {other:?}"),
        }
    }
}

/// What fedimeter serves on `/metrics` for one snapshot of target `main` (the encoder adds
/// `target="main"`, fedimeter's one documented extra label), as family → (type, label
/// names without `target`), `pgbouncer_*` families only. Every family must carry `target`.
fn served_pgbouncer_families(snapshot: &Snapshot) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let text = render_families(
        snapshot.families.iter().map(|f| (f, Some("main"))),
        Format::Text,
    );
    exposition_families(&text)
        .into_iter()
        .filter(|(name, _)| name.starts_with("pgbouncer_"))
        .map(|(name, (metric_type, mut labels))| {
            assert!(labels.remove("target"), "{name} without target:\n{text}");
            (name, (metric_type, labels))
        })
        .collect()
}

/// The column names of `show` on the real admin console (from its first row).
async fn show_columns(admin: &tokio_postgres::Client, show: &str) -> BTreeSet<String> {
    admin
        .simple_query(show)
        .await
        .unwrap_or_else(|e| panic!("{show}: {e}"))
        .iter()
        .find_map(|m| match m {
            tokio_postgres::SimpleQueryMessage::Row(r) => Some(
                r.columns()
                    .iter()
                    .map(|c| c.name().to_owned())
                    .collect::<BTreeSet<_>>(),
            ),
            _ => None,
        })
        .unwrap_or_else(|| panic!("{show}: no row"))
}

/// A collector for `options` against a real PgBouncer, after its second run.
async fn second_run(bouncer: &PgBouncer, options: PgbouncerOptions) -> Arc<Snapshot> {
    let job = RunningJob::start(&target(bouncer.admin_url(), options));
    let snapshot = job
        .wait_for("two runs", 2 * INTERVAL + TIMEOUT + SLACK, |s| {
            s.value("fedimeter_collector_runs_total", &["pgbouncer", "main"]) >= Some(2.0)
        })
        .await;
    assert_eq!(up(&snapshot), Some(1.0), "{}", render(&snapshot));
    snapshot
}

/// The `pgbouncer_stats_*` families that are not `pgbouncer_stats_totals_*`: the pre-0.11 names.
fn pre_0_11_stats<V>(families: &BTreeMap<String, V>) -> BTreeSet<&str> {
    families
        .keys()
        .map(String::as_str)
        .filter(|n| n.starts_with("pgbouncer_stats_") && !n.starts_with("pgbouncer_stats_totals_"))
        .collect()
}

/// `legacy_names = true` against a real PgBouncer, compared with pgbouncer_exporter before
/// 0.11 (`pgbouncer_exporter-0.10-from-source.txt`, derived from its collector.go before PR
/// #194): every family that exporter has is served with its type and label names (plus
/// `target`), and the pre-0.11 `pgbouncer_stats_*` names are exactly the exporter's, no more
/// and no fewer. The exporter's `pgbouncer_stats_queries_total` needs SHOW STATS'
/// `total_requests`, which this PgBouncer (as every one since 1.8) does not have.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn legacy_names_match_pgbouncer_exporter_before_0_11_from_source() {
    let pg = PgServer::start();
    let bouncer = PgBouncer::start(&pg, PgBouncerOptions::default());
    let options = PgbouncerOptions {
        legacy_names: true,
        ..PgbouncerOptions::default()
    };
    let served = served_pgbouncer_families(&*second_run(&bouncer, options).await);
    let exporter = exporter_families("pgbouncer_exporter-0.10-from-source.txt");

    for (name, theirs) in &exporter {
        let ours = served.get(name).unwrap_or_else(|| {
            panic!(
                "{name} (pgbouncer_exporter <0.11) not served: {:?}",
                served.keys()
            )
        });
        assert_eq!(
            ours, theirs,
            "{name}: (type, labels) served vs pgbouncer_exporter <0.11"
        );
    }
    let legacy = pre_0_11_stats(&exporter);
    assert_eq!(pre_0_11_stats(&served), legacy, "pre-0.11 stats families");
    assert_eq!(legacy.len(), 7, "{legacy:?}");

    // The exporter read these from SHOW STATS: the columns its map names are there, and
    // `total_requests` (its pgbouncer_stats_queries_total) is not.
    let columns = show_columns(&admin_client(&bouncer).await, "SHOW STATS").await;
    for column in [
        "database",
        "total_query_count",
        "total_query_time",
        "total_received",
        "total_sent",
        "total_wait_time",
        "total_xact_count",
        "total_xact_time",
    ] {
        assert!(
            columns.contains(column),
            "SHOW STATS lacks {column}: {columns:?}"
        );
    }
    assert!(!columns.contains("total_requests"), "{columns:?}");
    assert!(!exporter.contains_key("pgbouncer_stats_queries_total"));
}

/// pgbouncer_exporter 0.11 families fedimeter does not serve, each documented in
/// docs/pgbouncer.md ("Differences from pgbouncer_exporter").
const NOT_SERVED_FROM_0_11: &[&str] = &["pgbouncer_config_authorization_type"];

/// fedimeter's own PgBouncer families that pgbouncer_exporter 0.11 does not have (documented).
const FEDIMETER_ONLY: &[&str] = &["pgbouncer_pools_saturation_ratio"];

/// Families of the 0.11 exporter that need a `SHOW STATS_TOTALS` column of a later PgBouncer.
const NEWER_STATS_TOTALS_COLUMNS: &[(&str, &str)] = &[
    (
        "pgbouncer_stats_totals_client_parses_total",
        "client_parse_count",
    ),
    (
        "pgbouncer_stats_totals_server_parses_total",
        "server_parse_count",
    ),
    ("pgbouncer_stats_totals_binds_total", "bind_count"),
    (
        "pgbouncer_stats_totals_server_assignments_total",
        "server_assignment_count",
    ),
];

/// The current names (default options) against a real PgBouncer, compared with
/// pgbouncer_exporter 0.11 (`pgbouncer_exporter-0.11-from-source.txt`, derived from its
/// collector.go after PR #194): every exporter family is declared by fedimeter with its type
/// and label names and served the same way (plus `target`), except a family whose column
/// this PgBouncer lacks (checked on its SHOW STATS_TOTALS) and the documented
/// `NOT_SERVED_FROM_0_11`; and fedimeter serves no `pgbouncer_*` family the exporter lacks
/// beyond the documented `FEDIMETER_ONLY`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn current_names_match_pgbouncer_exporter_0_11_from_source() {
    let pg = PgServer::start();
    let bouncer = PgBouncer::start(&pg, PgBouncerOptions::default());
    let served =
        served_pgbouncer_families(&*second_run(&bouncer, PgbouncerOptions::default()).await);
    let exporter = exporter_families("pgbouncer_exporter-0.11-from-source.txt");
    let columns = show_columns(&admin_client(&bouncer).await, "SHOW STATS_TOTALS").await;

    let mut compared_live = 0;
    for (name, theirs) in &exporter {
        if NOT_SERVED_FROM_0_11.contains(&name.as_str()) {
            assert!(
                !served.contains_key(name),
                "{name} is served: update the list and docs"
            );
            assert!(fedimeter::metrics::descriptor(name).is_none(), "{name}");
            continue;
        }
        let desc = fedimeter::metrics::descriptor(name)
            .unwrap_or_else(|| panic!("{name} (pgbouncer_exporter 0.11) not declared"));
        let declared_type = match desc.metric_type {
            MetricType::Gauge => "gauge",
            MetricType::Counter => "counter",
        };
        let declared_labels: BTreeSet<String> =
            desc.labels.iter().map(|l| (*l).to_owned()).collect();
        assert_eq!(
            &(declared_type.to_owned(), declared_labels),
            theirs,
            "{name}: (type, labels) declared vs pgbouncer_exporter 0.11"
        );
        match served.get(name) {
            Some(ours) => {
                assert_eq!(
                    ours, theirs,
                    "{name}: (type, labels) served vs pgbouncer_exporter 0.11"
                );
                compared_live += 1;
            }
            None => {
                let (_, column) = NEWER_STATS_TOTALS_COLUMNS
                    .iter()
                    .find(|(family, _)| family == name)
                    .unwrap_or_else(|| panic!("{name} not served: {:?}", served.keys()));
                assert!(
                    !columns.contains(*column),
                    "{name} not served though SHOW STATS_TOTALS has {column}"
                );
            }
        }
    }
    assert!(
        compared_live >= 40,
        "only {compared_live} families compared live"
    );
    for name in served.keys() {
        assert!(
            exporter.contains_key(name) || FEDIMETER_ONLY.contains(&name.as_str()),
            "{name} is served but pgbouncer_exporter 0.11 has no such family"
        );
    }
}
