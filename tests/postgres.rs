//! The PostgreSQL collector against real PostgreSQL servers (the test kit's `PgServer`):
//! exact exposition lines for a seeded database, a streaming replica (idle and with replay
//! paused), a migration's `ACCESS EXCLUSIVE` lock, faults (stop, SIGSTOP, wrong password,
//! restart) and the Mastodon gauges on a subset of Mastodon's schema with known rows.

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use fedimeter::collect::postgres::{PostgresCollector, PostgresOptions};
use fedimeter::collect::runner::{self, Job};
use fedimeter::collect::{Collector, Sink};
use fedimeter::config::SecretUrl;
use fedimeter::export::exposition::{Format, render_families};
use fedimeter::model::{Health, Kind, Outcome, Reason, SnapshotStore, TargetId};
use sqlx::Connection;
use support::postgres::{MASTODON_SCHEMA, PgServer};
use tokio_util::sync::CancellationToken;

/// One collection run on a kept collector: the exposition text and the partial errors.
async fn collect(collector: &mut PostgresCollector) -> (anyhow::Result<()>, String, Vec<String>) {
    let mut sink = Sink::new();
    let result = collector.collect(&mut sink).await;
    let (families, errors) = sink.into_parts();
    let text = render_families(families.iter().map(|f| (f, None)), Format::Text);
    (result, text, errors)
}

fn collector(url: String, options: PostgresOptions) -> PostgresCollector {
    PostgresCollector::new(&SecretUrl::new(url), options)
}

/// The value of the series written exactly as `series` (`name{labels}` or `name`).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|l| l.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

/// Lines of the family `name` (samples only).
fn samples<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.lines()
        .filter(|l| {
            l.strip_prefix(name)
                .is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' '))
        })
        .collect()
}

fn assert_line(text: &str, line: &str) {
    assert!(
        text.lines().any(|l| l == line),
        "missing line {line:?} in:\n{text}"
    );
}

fn assert_near(actual: Option<f64>, expected: f64, tolerance: f64, what: &str) {
    let actual = actual.unwrap_or_else(|| panic!("{what}: no sample"));
    assert!(
        (actual - expected).abs() <= tolerance,
        "{what}: {actual} is not within {tolerance} of {expected}"
    );
}

/// `series` with postgres_exporter's `server` label (issue 11, docs/postgres.md) added
/// last: the test servers listen on 127.0.0.1, so it is `127.0.0.1:<port>`.
/// `name{a="x"} 1` → `name{a="x",server="…"} 1`; `name 1` → `name{server="…"} 1`;
/// a label set alone (`{a="x"}`) gets it too.
fn on(server: &PgServer, series: &str) -> String {
    let label = format!("server=\"127.0.0.1:{}\"", server.port());
    match series.rfind('}') {
        Some(close) if &series[..close] == "{" || series[..close].ends_with('{') => {
            format!("{}{label}{}", &series[..close], &series[close..])
        }
        Some(close) => format!("{},{label}{}", &series[..close], &series[close..]),
        None => match series.split_once(' ') {
            Some((name, rest)) => format!("{name}{{{label}}} {rest}"),
            None => format!("{series}{{{label}}}"),
        },
    }
}

/// Connections fedimeter holds to `server` right now.
fn fedimeter_connections(server: &PgServer) -> u32 {
    server
        .exec("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'fedimeter'")
        .parse()
        .expect("a count")
}

#[tokio::test]
async fn seeded_database_gives_exporter_lines_and_caps_tables() {
    let server = PgServer::start();
    server.create_database("app");
    // Five tables of clearly different sizes; only the three largest get per-table series.
    for (i, rows) in [(1, 10), (2, 20_000), (3, 5_000), (4, 40_000), (5, 100)] {
        server.exec_in(
            "app",
            &format!(
                "CREATE TABLE t{i} (id bigserial PRIMARY KEY, body text); \
                 INSERT INTO t{i} (body) SELECT repeat('x', 100) FROM generate_series(1, {rows});"
            ),
        );
    }
    // Tables are ranked by the catalog's page counts, which ANALYZE (or autovacuum) keeps.
    server.exec_in("app", "ANALYZE");
    server.exec_in("app", "SELECT count(*) FROM t4; SELECT count(*) FROM t4;");
    let datid = server.exec("SELECT oid FROM pg_database WHERE datname = 'app'");
    let options = PostgresOptions {
        table_limit: 3,
        ..PostgresOptions::default()
    };
    let mut collector = collector(server.url("app"), options);
    let (result, text, errors) = collect(&mut collector).await;
    result.expect("collection succeeds");
    assert_eq!(errors, Vec::<String>::new());

    let version_num: u32 = server.exec("SHOW server_version_num").parse().unwrap();
    let short = format!("{}.{}.0", version_num / 10000, version_num % 10000);
    let version = server.exec("SELECT version()");
    assert_line(
        &text,
        &on(
            &server,
            &format!("pg_static{{version=\"{version}\",short_version=\"{short}\"}} 1"),
        ),
    );
    // Our own session is the only backend in "app".
    assert_line(
        &text,
        &on(
            &server,
            &format!("pg_stat_database_numbackends{{datid=\"{datid}\",datname=\"app\"}} 1"),
        ),
    );
    let commits = value(
        &text,
        &on(
            &server,
            &format!("pg_stat_database_xact_commit{{datid=\"{datid}\",datname=\"app\"}}"),
        ),
    );
    assert!(
        commits.is_some_and(|c| c >= 5.0),
        "xact_commit: {commits:?}"
    );
    assert_line(&text, "# TYPE pg_stat_database_xact_commit counter");
    assert_line(
        &text,
        "# TYPE pg_stat_database_active_time_seconds_total counter",
    );
    // The test kit's settings.
    for (setting, factor, series) in [
        ("max_connections", "1", "pg_settings_max_connections"),
        (
            "max_locks_per_transaction",
            "1",
            "pg_settings_max_locks_per_transaction",
        ),
        ("shared_buffers", "8192", "pg_settings_shared_buffers_bytes"),
        ("max_wal_size", "1048576", "pg_settings_max_wal_size_bytes"),
    ] {
        let expected = server.exec(&format!(
            "SELECT setting::int8 * {factor} FROM pg_settings WHERE name = '{setting}'"
        ));
        assert_line(&text, &on(&server, &format!("{series} {expected}")));
    }
    assert_line(&text, &on(&server, "pg_settings_max_connections 50"));
    assert_line(&text, &on(&server, "pg_settings_fsync 0"));
    assert_line(
        &text,
        &on(&server, "pg_settings_statement_timeout_seconds 2"),
    );
    assert_line(&text, &on(&server, "pg_settings_lock_timeout_seconds 1"));
    assert_line(
        &text,
        &on(
            &server,
            "pg_locks_count{datname=\"app\",mode=\"accessexclusivelock\"} 0",
        ),
    );
    assert_line(&text, &on(&server, "pg_replication_is_replica 0"));
    assert_line(&text, &on(&server, "pg_replication_lag_seconds 0"));
    assert_line(&text, &on(&server, "pg_stat_archiver_archived_count 0"));
    assert_line(&text, &on(&server, "pg_stat_archiver_failed_count 0"));
    assert!(samples(&text, "pg_stat_archiver_last_archive_age").is_empty());
    assert_line(
        &text,
        &on(&server, "pg_database_connection_limit{datname=\"app\"} -1"),
    );
    let size = value(
        &text,
        &on(&server, "pg_database_size_bytes{datname=\"app\"}"),
    );
    assert!(
        size.is_some_and(|s| s > 4_000_000.0),
        "database size {size:?}"
    );
    assert!(
        value(
            &text,
            &on(
                &server,
                "pg_database_wraparound_age_datfrozenxid_seconds{datname=\"app\"}"
            )
        )
        .is_some()
    );
    assert!(value(&text, &on(&server, "pg_postmaster_start_time_seconds")).is_some());
    assert!(value(&text, &on(&server, "pg_long_running_transactions")).is_some());
    assert!(value(&text, &on(&server, "pg_stat_bgwriter_buffers_alloc_total")).is_some());
    assert!(
        value(
            &text,
            &on(&server, "pg_stat_bgwriter_checkpoints_timed_total")
        )
        .is_some()
    );
    assert!(samples(&text, "pg_stat_checkpointer_num_timed_total").is_empty());
    assert_line(
        &text,
        &on(
            &server,
            "pg_stat_activity_count{datname=\"app\",state=\"active\",usename=\"postgres\",application_name=\"fedimeter\",backend_type=\"client backend\",wait_event_type=\"\",wait_event=\"\"} 1",
        ),
    );
    assert_line(
        &text,
        &on(
            &server,
            "pg_stat_activity_count{datname=\"app\",state=\"disabled\",usename=\"\",application_name=\"\",backend_type=\"\",wait_event_type=\"\",wait_event=\"\"} 0",
        ),
    );

    // Top 3 tables by size: t4, t2, t3.
    let seq_scans = samples(&text, "pg_stat_user_tables_seq_scan");
    let relnames: Vec<&str> = seq_scans
        .iter()
        .map(|l| {
            l.split("relname=\"")
                .nth(1)
                .unwrap()
                .split('"')
                .next()
                .unwrap()
        })
        .collect();
    assert_eq!(relnames, ["t2", "t3", "t4"], "{seq_scans:?}");
    let t4_scans = value(
        &text,
        &on(
            &server,
            "pg_stat_user_tables_seq_scan{datname=\"app\",schemaname=\"public\",relname=\"t4\"}",
        ),
    );
    let t2_scans = value(
        &text,
        &on(
            &server,
            "pg_stat_user_tables_seq_scan{datname=\"app\",schemaname=\"public\",relname=\"t2\"}",
        ),
    );
    // Our two count(*) on t4 (plus whatever the set-up did to every table).
    assert_eq!(t4_scans.unwrap() - t2_scans.unwrap(), 2.0);
    let t4_size: f64 = server
        .exec_in("app", "SELECT pg_table_size('t4')")
        .parse()
        .unwrap();
    let t4_indexes: f64 = server
        .exec_in("app", "SELECT pg_indexes_size('t4')")
        .parse()
        .unwrap();
    assert_eq!(
        value(
            &text,
            &on(
                &server,
                "pg_stat_user_tables_table_size_bytes{datname=\"app\",schemaname=\"public\",relname=\"t4\"}"
            )
        ),
        Some(t4_size)
    );
    assert_eq!(
        value(
            &text,
            &on(
                &server,
                "pg_stat_user_tables_index_size_bytes{datname=\"app\",schemaname=\"public\",relname=\"t4\"}"
            )
        ),
        Some(t4_indexes)
    );
    assert_line(
        &text,
        &on(
            &server,
            "pg_stat_user_tables_n_tup_ins{datname=\"app\",schemaname=\"public\",relname=\"t4\"} 40000",
        ),
    );
    assert_line(
        &text,
        &on(
            &server,
            "pg_stat_user_tables_last_vacuum{datname=\"app\",schemaname=\"public\",relname=\"t4\"} 0",
        ),
    );
    assert_eq!(samples(&text, "pg_stat_user_tables_n_live_tup").len(), 3);

    // Exporter meta-metrics; no Mastodon schema here, so no mastodon_* and no error.
    assert_line(&text, "pg_exporter_scrapes_total 1");
    assert_line(&text, "pg_exporter_last_scrape_error 0");
    assert_line(
        &text,
        "pg_scrape_collector_success{collector=\"stat_database\"} 1",
    );
    assert_line(
        &text,
        "pg_scrape_collector_success{collector=\"table_sizes\"} 1",
    );
    assert!(!text.contains("mastodon_"), "{text}");
    assert!(!text.contains("collector=\"mastodon"), "{text}");
    assert_eq!(fedimeter_connections(&server), 1);

    // The second run reuses the connection and the cached sizes.
    let (result, text, _) = collect(&mut collector).await;
    result.expect("second collection succeeds");
    assert_line(&text, "pg_exporter_scrapes_total 2");
    assert_eq!(
        samples(&text, "pg_stat_user_tables_table_size_bytes").len(),
        3
    );
    assert_eq!(fedimeter_connections(&server), 1);
}

/// Waits until the replica has replayed everything it received.
fn wait_caught_up(primary: &PgServer, replica: &PgServer) {
    let target = primary.exec("SELECT pg_current_wal_lsn()");
    support::eventually("the replica catches up", Duration::from_secs(20), || {
        replica.exec(&format!(
            "SELECT pg_last_wal_replay_lsn() >= '{target}' AND pg_last_wal_receive_lsn() = pg_last_wal_replay_lsn()"
        )) == "t"
    });
}

#[tokio::test]
async fn replication_both_sides_and_lag_only_when_replay_falls_behind() {
    let primary = PgServer::start();
    let replica = PgServer::start_replica_of(&primary);
    primary.exec("SELECT pg_create_physical_replication_slot('spare', true)");
    primary.exec(
        "CREATE TABLE ticks (at timestamptz DEFAULT now()); INSERT INTO ticks DEFAULT VALUES;",
    );
    wait_caught_up(&primary, &replica);

    // Primary: one replica streaming, one inactive slot retaining WAL.
    let mut on_primary = collector(primary.superuser_url(), PostgresOptions::default());
    let (result, text, errors) = collect(&mut on_primary).await;
    result.expect("primary collection");
    assert_eq!(errors, Vec::<String>::new());
    assert_line(&text, &on(&primary, "pg_replication_is_replica 0"));
    let walsender_pid = primary.exec("SELECT pid FROM pg_stat_replication");
    let replication = samples(&text, "pg_stat_replication_pg_wal_lsn_diff");
    assert_eq!(replication.len(), 1, "{text}");
    assert!(
        replication[0].starts_with(&format!(
            "pg_stat_replication_pg_wal_lsn_diff{{application_name=\"walreceiver\",client_addr=\"127.0.0.1\",state=\"streaming\",slot_name=\"\",pid=\"{walsender_pid}\",server=\"127.0.0.1:{}\"}} ",
            primary.port()
        )),
        "{}",
        replication[0]
    );
    assert_eq!(
        samples(&text, "pg_stat_replication_pg_current_wal_lsn_bytes").len(),
        1
    );
    assert_line(
        &text,
        &on(
            &primary,
            "pg_replication_slots_active{slot_name=\"spare\",database=\"\"} 0",
        ),
    );
    let retained = value(
        &text,
        &on(
            &primary,
            "pg_replication_slots_pg_wal_lsn_diff{slot_name=\"spare\",database=\"\"}",
        ),
    );
    assert!(
        retained.is_some_and(|r| r > 0.0),
        "retained WAL {retained:?}"
    );

    // Idle replica: the last replay ages, but everything received is replayed, so no lag.
    // Bounded wait (not a fixed sleep) until the replica's own clock says the last
    // replayed transaction is 2 s old.
    support::eventually(
        "the replica's last replay is 2 s old",
        Duration::from_secs(20),
        || {
            replica.exec("SELECT now() - pg_last_xact_replay_timestamp() >= interval '2 seconds'")
                == "t"
        },
    );
    let mut on_replica = collector(replica.superuser_url(), PostgresOptions::default());
    let (result, text, errors) = collect(&mut on_replica).await;
    result.expect("replica collection");
    assert_eq!(errors, Vec::<String>::new());
    assert_line(&text, &on(&replica, "pg_replication_is_replica 1"));
    assert_line(&text, &on(&replica, "pg_replication_lag_seconds 0"));
    let last_replay = value(&text, &on(&replica, "pg_replication_last_replay_seconds"));
    assert!(
        last_replay.is_some_and(|s| s >= 2.0),
        "last replay {last_replay:?}"
    );
    assert!(samples(&text, "pg_stat_replication_pg_wal_lsn_diff").is_empty());

    // Replay paused while the primary writes: the replica lags and says so. The pause takes
    // effect at a WAL record boundary, so write (at most twice a second) until the replica
    // has received WAL it does not replay; then the lag grows with the clock: a bounded
    // wait (not a fixed sleep) until it reaches 2 s.
    replica.exec("SELECT pg_wal_replay_pause()");
    support::eventually(
        "the replica receives WAL it does not replay",
        Duration::from_secs(20),
        || {
            primary.exec("INSERT INTO ticks DEFAULT VALUES");
            std::thread::sleep(Duration::from_millis(400));
            replica.exec("SELECT pg_last_wal_receive_lsn() > pg_last_wal_replay_lsn()") == "t"
        },
    );
    let waited = Instant::now();
    loop {
        let (result, text, _) = collect(&mut on_replica).await;
        result.expect("paused replica collection");
        let lag = value(&text, &on(&replica, "pg_replication_lag_seconds"));
        if lag.is_some_and(|l| l >= 2.0) {
            break;
        }
        // Received but not replayed: never 0, only not yet 2 s.
        assert!(
            lag.is_some_and(|l| l > 0.0),
            "no lag while paused: {lag:?}\n{text}"
        );
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "lag while paused {lag:?} did not reach 2 s within 20 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (_, text, _) = collect(&mut on_primary).await;
    let behind = samples(&text, "pg_stat_replication_pg_wal_lsn_diff");
    let behind: f64 = behind[0].rsplit(' ').next().unwrap().parse().unwrap();
    assert!(
        behind > 0.0,
        "the primary sees the replica behind: {behind}"
    );

    // Resumed: caught up again, lag back to 0.
    replica.exec("SELECT pg_wal_replay_resume()");
    wait_caught_up(&primary, &replica);
    let (_, text, _) = collect(&mut on_replica).await;
    assert_line(&text, &on(&replica, "pg_replication_lag_seconds 0"));
    assert_eq!(fedimeter_connections(&replica), 1);
}

/// Snowflake id of `now() - <interval>` in SQL, as Mastodon's `timestamp_id` makes them.
fn id_ago(interval: &str) -> String {
    format!("((extract(epoch FROM now() - interval '{interval}') * 1000)::int8 << 16)")
}

const MASTODON_ROWS: &str = "
INSERT INTO accounts (id, username, domain) VALUES (1, 'admin', NULL), (2, 'alice', NULL),
  (3, 'bob', 'remote.example');
INSERT INTO users (account_id, email, created_at, current_sign_in_at, approved) VALUES
  (1, 'a@x', now() - interval '400 days', now() - interval '1 hour', true),
  (2, 'b@x', now() - interval '100 days', now() - interval '3 days', true),
  (NULL, 'c@x', now() - interval '50 days', now() - interval '10 days', true),
  (NULL, 'd@x', now() - interval '90 days', now() - interval '60 days', true),
  (NULL, 'e@x', now() - interval '1 day', NULL, false),
  (NULL, 'f@x', now() - interval '3 hours', NULL, false);
INSERT INTO reports (created_at, updated_at, account_id, target_account_id, action_taken_at, assigned_account_id) VALUES
  (now() - interval '2 hours', now(), 1, 3, NULL, NULL),
  (now() - interval '1 hour', now(), 2, 3, NULL, 1),
  (now() - interval '10 minutes', now(), 2, 3, NULL, NULL),
  (now() - interval '5 days', now(), 2, 3, now() - interval '4 days', 1);
INSERT INTO unavailable_domains (domain, created_at, updated_at) VALUES
  ('gone.example', now(), now()), ('dead.example', now(), now());
INSERT INTO software_updates (version, urgent, type) VALUES ('4.5.1', true, 0), ('4.6.0', false, 1), ('4.6.1', false, 0);
";

fn mastodon_statuses() -> String {
    format!(
        "INSERT INTO statuses (id, uri, created_at, account_id, local) VALUES
          ({} + 1, NULL, now(), 1, true),
          ({} + 2, 'https://remote.example/1', now(), 3, false),
          ({} + 3, NULL, now(), 2, NULL),
          ({} + 4, 'https://remote.example/2', now(), 3, false);
         INSERT INTO media_attachments (id, created_at) VALUES ({} + 5, now());",
        id_ago("2 minutes"),
        id_ago("30 seconds"),
        id_ago("10 minutes"),
        id_ago("2 hours"),
        id_ago("1 minute"),
    )
}

#[tokio::test]
async fn mastodon_gauges_have_exact_values_and_their_own_cadence() {
    let server = PgServer::start();
    server.create_database("mastodon_production");
    server.exec_in("mastodon_production", MASTODON_SCHEMA);
    server.exec_in("mastodon_production", MASTODON_ROWS);
    server.exec_in("mastodon_production", &mastodon_statuses());
    server.exec_in("mastodon_production", "ANALYZE");
    let mut collector = collector(
        server.url("mastodon_production"),
        PostgresOptions::default(),
    );
    let (result, text, errors) = collect(&mut collector).await;
    result.expect("collection");
    assert_eq!(errors, Vec::<String>::new());
    for line in [
        "mastodon_reports_open 3",
        "mastodon_reports_unassigned 2",
        "mastodon_pending_signups 2",
        "mastodon_users 6",
        "mastodon_active_users{window=\"1d\"} 1",
        "mastodon_active_users{window=\"7d\"} 2",
        "mastodon_active_users{window=\"30d\"} 3",
        "mastodon_statuses_created{origin=\"local\"} 1",
        "mastodon_statuses_created{origin=\"remote\"} 1",
        "mastodon_unavailable_domains 2",
        "mastodon_software_updates_pending{urgent=\"true\"} 1",
        "mastodon_software_updates_pending{urgent=\"false\"} 2",
        "mastodon_table_rows_estimate{table=\"accounts\"} 3",
        "mastodon_table_rows_estimate{table=\"media_attachments\"} 1",
        "mastodon_table_rows_estimate{table=\"statuses\"} 4",
        "pg_scrape_collector_success{collector=\"mastodon_statuses\"} 1",
    ] {
        assert_line(&text, line);
    }
    assert_near(
        value(&text, "mastodon_oldest_open_report_age_seconds"),
        7200.0,
        30.0,
        "oldest report",
    );
    assert_near(
        value(&text, "mastodon_oldest_pending_signup_age_seconds"),
        86400.0,
        30.0,
        "oldest sign-up",
    );
    assert_near(
        value(
            &text,
            "mastodon_newest_status_age_seconds{origin=\"local\"}",
        ),
        120.0,
        30.0,
        "newest local",
    );
    assert_near(
        value(
            &text,
            "mastodon_newest_status_age_seconds{origin=\"remote\"}",
        ),
        30.0,
        30.0,
        "newest remote",
    );

    // Cached between runs: a new unavailable domain shows only after the 5-minute cadence.
    server.exec_in(
        "mastodon_production",
        "INSERT INTO unavailable_domains (domain, created_at, updated_at) VALUES ('third.example', now(), now())",
    );
    let (_, text, _) = collect(&mut collector).await;
    assert_line(&text, "mastodon_unavailable_domains 2");
    let mut eager = self::collector(
        server.url("mastodon_production"),
        PostgresOptions {
            mastodon_interval: Duration::ZERO,
            ..PostgresOptions::default()
        },
    );
    let (_, text, _) = collect(&mut eager).await;
    assert_line(&text, "mastodon_unavailable_domains 3");
}

#[tokio::test]
async fn newest_status_falls_back_to_the_last_day_and_is_absent_beyond() {
    let server = PgServer::start();
    server.create_database("m");
    server.exec_in("m", MASTODON_SCHEMA);
    server.exec_in(
        "m",
        &format!(
            "INSERT INTO statuses (id, uri, created_at, account_id, local) VALUES
               ({} , NULL, now(), 1, true), ({}, 'https://r.example/1', now(), 3, false)",
            id_ago("3 hours"),
            id_ago("3 days"),
        ),
    );
    let mut collector = collector(server.url("m"), PostgresOptions::default());
    let (result, text, errors) = collect(&mut collector).await;
    result.expect("collection");
    assert_eq!(errors, Vec::<String>::new());
    assert_near(
        value(
            &text,
            "mastodon_newest_status_age_seconds{origin=\"local\"}",
        ),
        10800.0,
        30.0,
        "local",
    );
    assert_eq!(
        value(
            &text,
            "mastodon_newest_status_age_seconds{origin=\"remote\"}"
        ),
        None
    );
    assert_line(&text, "mastodon_statuses_created{origin=\"remote\"} 0");
    // Tables of newer Mastodon versions that are missing are skipped, never an error.
    server.exec_in("m", "DROP TABLE software_updates");
    let mut fresh = self::collector(server.url("m"), PostgresOptions::default());
    let (result, text, errors) = collect(&mut fresh).await;
    result.expect("collection without software_updates");
    assert_eq!(errors, Vec::<String>::new());
    assert!(samples(&text, "mastodon_software_updates_pending").is_empty());
    assert_line(&text, "mastodon_users 0");
}

#[tokio::test]
async fn migration_lock_neither_blocks_the_run_nor_piles_up_connections() {
    let server = PgServer::start();
    server.create_database("mastodon_production");
    server.exec_in("mastodon_production", MASTODON_SCHEMA);
    server.exec_in("mastodon_production", MASTODON_ROWS);
    server.exec_in(
        "mastodon_production",
        "INSERT INTO statuses (id, created_at, account_id, local, text)
           SELECT g, now(), 1, true, repeat('toot ', 20) FROM generate_series(1, 200000) g; ANALYZE statuses;",
    );
    // A migration: ACCESS EXCLUSIVE on the biggest table, held in an open transaction.
    let mut migration = sqlx::PgConnection::connect(&server.url("mastodon_production"))
        .await
        .expect("migration connection");
    sqlx::raw_sql("BEGIN; LOCK TABLE statuses IN ACCESS EXCLUSIVE MODE; ALTER TABLE statuses ADD COLUMN edited_at timestamp;")
        .execute(&mut migration)
        .await
        .expect("taking the lock");

    // Watch fedimeter's sessions while the runs go on: how many, and how long any waits on a lock.
    let watching = CancellationToken::new();
    let watcher = {
        let url = server.url("postgres");
        let watching = watching.clone();
        tokio::spawn(async move {
            let mut watch = sqlx::PgConnection::connect(&url)
                .await
                .expect("watch connection");
            let (mut max_sessions, mut max_lock_wait) = (0_i64, 0_f64);
            while !watching.is_cancelled() {
                let (sessions, wait): (i64, f64) = sqlx::query_as(
                    "SELECT count(*), coalesce(max(extract(epoch FROM clock_timestamp() - state_change)) \
                       FILTER (WHERE wait_event_type = 'Lock'), 0)::float8 \
                     FROM pg_stat_activity WHERE application_name = 'fedimeter'",
                )
                .fetch_one(&mut watch)
                .await
                .expect("watch query");
                max_sessions = max_sessions.max(sessions);
                max_lock_wait = max_lock_wait.max(wait);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            (max_sessions, max_lock_wait)
        })
    };

    let options = PostgresOptions::default();
    let lock_timeout = options.lock_timeout;
    let timeout = Duration::from_secs(5);
    let mut collector = collector(server.url("mastodon_production"), options);
    for run in 0..3 {
        // The generous timeout only bounds a hang; that the run does not wait on the lock is
        // shown by the server-side lock-wait measurement below, not by wall-clock time.
        let (result, text, errors) = tokio::time::timeout(timeout, collect(&mut collector))
            .await
            .expect("the run finishes within its timeout");
        result.expect("the target is up");
        // Everything but the locked table's gauges is there.
        assert_line(&text, "mastodon_reports_open 3");
        assert!(
            value(
                &text,
                &on(
                    &server,
                    "pg_database_size_bytes{datname=\"mastodon_production\"}"
                )
            )
            .is_some()
        );
        assert!(
            samples(&text, "pg_stat_user_tables_seq_scan")
                .iter()
                .any(|l| l.contains("relname=\"statuses\""))
        );
        assert_eq!(errors.len(), 1, "run {run}: {errors:?}");
        assert!(errors[0].contains("statuses is locked"), "{errors:?}");
        assert_line(
            &text,
            "pg_scrape_collector_success{collector=\"mastodon_statuses\"} 0",
        );
        assert_line(&text, "pg_exporter_last_scrape_error 1");
    }
    watching.cancel();
    let (max_sessions, max_lock_wait) = watcher.await.expect("watcher");
    assert!(max_sessions <= 1, "fedimeter held {max_sessions} sessions");
    assert!(
        max_lock_wait <= lock_timeout.as_secs_f64() + 0.2,
        "a fedimeter query waited {max_lock_wait}s on a lock"
    );
    sqlx::raw_sql("ROLLBACK")
        .execute(&mut migration)
        .await
        .expect("rollback");

    // Lock gone: the statuses gauges come back on the next run.
    let (result, text, errors) = collect(&mut collector).await;
    result.expect("after the migration");
    assert_eq!(errors, Vec::<String>::new());
    assert_line(
        &text,
        "pg_scrape_collector_success{collector=\"mastodon_statuses\"} 1",
    );
    assert_eq!(fedimeter_connections(&server), 1);
}

#[tokio::test]
async fn a_query_that_waits_on_a_lock_gives_up_at_lock_timeout() {
    // The pre-check cannot see a lock taken between it and the query; lock_timeout bounds that
    // race. Reproduce it directly: our session's own `lock_timeout` on a locked table.
    let server = PgServer::start();
    server.exec("CREATE TABLE big (id int)");
    let mut migration = sqlx::PgConnection::connect(&server.superuser_url())
        .await
        .unwrap();
    sqlx::raw_sql("BEGIN; LOCK TABLE big IN ACCESS EXCLUSIVE MODE;")
        .execute(&mut migration)
        .await
        .unwrap();
    let options = PostgresOptions::default();
    let connect =
        fedimeter::collect::postgres::connect_options(&server.superuser_url(), &options).unwrap();
    let mut ours = sqlx::ConnectOptions::connect(&connect).await.unwrap();
    let started = Instant::now();
    let error = sqlx::query("SELECT pg_table_size('big')")
        .execute(&mut ours)
        .await
        .expect_err("times out on the lock");
    let waited = started.elapsed();
    // PostgreSQL itself says it gave up on the lock, at the session's lock_timeout.
    assert!(error.to_string().contains("lock timeout"), "{error}");
    let setting: (i64,) = sqlx::query_as(
        "SELECT (extract(epoch FROM current_setting('lock_timeout')::interval) * 1000)::int8",
    )
    .fetch_one(&mut ours)
    .await
    .unwrap();
    assert_eq!(
        u128::try_from(setting.0).unwrap(),
        options.lock_timeout.as_millis(),
        "the session's lock_timeout is the option"
    );
    // Only a lower bound on wall-clock time (a loaded machine can only make it longer): the
    // query waited for the lock instead of failing at once.
    assert!(
        waited >= options.lock_timeout - Duration::from_millis(100),
        "{waited:?}"
    );
}

/// A runner loop on one target: the store and the shutdown token.
fn spawn_job(
    url: String,
    interval: Duration,
    timeout: Duration,
) -> (Arc<SnapshotStore>, TargetId, CancellationToken) {
    let id = TargetId::new(Kind::Postgres, "main");
    let store = Arc::new(SnapshotStore::new([id.clone()]));
    let shutdown = CancellationToken::new();
    let job = Job {
        id: id.clone(),
        interval,
        timeout,
        collector: Box::new(collector(url, PostgresOptions::default())),
    };
    tokio::spawn(runner::run_job(job, store.clone(), shutdown.clone()));
    (store, id, shutdown)
}

/// Waits (up to `within`) for the first snapshot finished after `since`: the next run.
async fn next_snapshot(
    store: &SnapshotStore,
    id: &TargetId,
    since: std::time::SystemTime,
    within: Duration,
) -> Arc<fedimeter::model::Snapshot> {
    let deadline = Instant::now() + within;
    loop {
        if let Some(snapshot) = store.get(id) {
            if snapshot.finished_at > since {
                return snapshot;
            }
        }
        assert!(
            Instant::now() < deadline,
            "no run finished within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits (up to `within`) for a snapshot finished after `since` whose `pg_up` is `up`.
async fn wait_for_up(
    store: &SnapshotStore,
    id: &TargetId,
    up: f64,
    since: std::time::SystemTime,
    within: Duration,
) -> (Outcome, Option<Health>) {
    let deadline = Instant::now() + within;
    loop {
        if let Some(snapshot) = store.get(id) {
            if snapshot.finished_at > since && snapshot.value("pg_up", &[]) == Some(up) {
                return (snapshot.outcome, snapshot.health);
            }
        }
        assert!(
            Instant::now() < deadline,
            "pg_up did not become {up} within {within:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn stopped_then_restarted_server_goes_down_and_recovers_without_leaks() {
    let mut server = PgServer::start();
    let interval = Duration::from_secs(1);
    let timeout = Duration::from_millis(800);
    let (store, id, shutdown) = spawn_job(server.superuser_url(), interval, timeout);
    let now = std::time::SystemTime::now;
    wait_for_up(
        &store,
        &id,
        1.0,
        now() - Duration::from_secs(60),
        Duration::from_secs(5),
    )
    .await;

    server.stop();
    let stopped = now();
    let outcome = wait_for_up(
        &store,
        &id,
        0.0,
        stopped,
        interval + timeout + Duration::from_millis(500),
    )
    .await;
    // Nothing listens on the port any more: down, connection refused.
    let refused = Health::Down {
        reason: Reason::Refused,
    };
    assert_eq!(outcome, (Outcome::Failed, Some(refused)));

    server.start_again();
    let restarted = now();
    wait_for_up(
        &store,
        &id,
        1.0,
        restarted,
        2 * interval + Duration::from_millis(500),
    )
    .await;
    // Two more runs after recovery (bounded waits, not a sleep), then still one session.
    let mut since = now();
    for _ in 0..2 {
        let run = next_snapshot(&store, &id, since, 2 * (interval + timeout)).await;
        assert_eq!(run.value("pg_up", &[]), Some(1.0));
        since = run.finished_at;
    }
    assert_eq!(fedimeter_connections(&server), 1);
    shutdown.cancel();
}

#[tokio::test]
async fn sigstopped_server_goes_down_within_the_timeout_and_recovers() {
    let server = PgServer::start();
    let interval = Duration::from_secs(1);
    let timeout = Duration::from_millis(800);
    let (store, id, shutdown) = spawn_job(server.superuser_url(), interval, timeout);
    let now = std::time::SystemTime::now;
    wait_for_up(
        &store,
        &id,
        1.0,
        now() - Duration::from_secs(60),
        Duration::from_secs(5),
    )
    .await;

    server.sigstop();
    let stopped = now();
    let outcome = wait_for_up(
        &store,
        &id,
        0.0,
        stopped,
        interval + timeout + Duration::from_millis(500),
    )
    .await;
    let timed_out = Health::Down {
        reason: Reason::Timeout,
    };
    assert_eq!(outcome, (Outcome::TimedOut, Some(timed_out)));
    // Several runs time out while it hangs: wait for two more (bounded, not a fixed sleep).
    let mut since = now();
    for _ in 0..2 {
        let run = next_snapshot(&store, &id, since, 2 * (interval + timeout)).await;
        assert_eq!(run.outcome, Outcome::TimedOut);
        since = run.finished_at;
    }
    server.sigcont();
    let resumed = now();
    wait_for_up(&store, &id, 1.0, resumed, 2 * interval + timeout).await;
    support::eventually("abandoned sessions end", Duration::from_secs(10), || {
        fedimeter_connections(&server) == 1
    });
    shutdown.cancel();
}

#[tokio::test]
async fn wrong_password_is_down_with_a_clear_message_without_the_password() {
    let server = PgServer::start();
    let url = server.url_for("postgres", "not-the-Password-42", "postgres");
    let id = TargetId::new(Kind::Postgres, "main");
    let snapshot = runner::collect_once(
        &id,
        Duration::from_secs(5),
        Box::new(collector(url.clone(), PostgresOptions::default())),
    )
    .await;
    assert_eq!(snapshot.outcome, Outcome::Failed);
    // SQLSTATE 28P01 (invalid_password): down, reason auth.
    assert_eq!(
        snapshot.health,
        Some(Health::Down {
            reason: Reason::Auth
        })
    );
    assert_eq!(snapshot.value("pg_up", &[]), Some(0.0));
    assert_eq!(
        snapshot.value("pg_exporter_last_scrape_error", &[]),
        Some(1.0)
    );

    let mut direct = collector(url, PostgresOptions::default());
    let mut sink = Sink::new();
    let error = direct
        .collect(&mut sink)
        .await
        .expect_err("authentication fails");
    let message = format!("{error:#}");
    assert!(
        message.contains("password authentication failed for user \"postgres\""),
        "{message}"
    );
    assert!(
        message.contains(&format!("127.0.0.1:{}/postgres as postgres", server.port())),
        "{message}"
    );
    assert!(!message.contains("not-the-Password-42"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
}

#[tokio::test]
async fn wal_archiving_counts_and_last_archive_age() {
    let server = PgServer::start_with(&["archive_mode = on", "archive_command = 'true'"]);
    server.exec("CREATE TABLE t (id int); INSERT INTO t VALUES (1); SELECT pg_switch_wal();");
    support::eventually("a segment is archived", Duration::from_secs(20), || {
        server.exec("SELECT archived_count FROM pg_stat_archiver") != "0"
    });
    // Then archiving breaks: failed attempts are counted.
    server.exec("ALTER SYSTEM SET archive_command = 'false'; SELECT pg_reload_conf();");
    support::eventually("the reload is seen", Duration::from_secs(20), || {
        server.exec("SHOW archive_command") == "false"
    });
    // The archiver reloads on its own; until it has, a new segment may still be archived by
    // the old command. Switch segments (at most one a second) until an attempt fails.
    let deadline = Instant::now() + Duration::from_secs(30);
    'failing: loop {
        server.exec("INSERT INTO t VALUES (2); SELECT pg_switch_wal();");
        let poll_until = Instant::now() + Duration::from_secs(1);
        while Instant::now() < poll_until {
            if server.exec("SELECT failed_count FROM pg_stat_archiver") != "0" {
                break 'failing;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            Instant::now() < deadline,
            "no archive attempt failed within 30 s"
        );
    }
    let mut collector = collector(server.superuser_url(), PostgresOptions::default());
    let (result, text, errors) = collect(&mut collector).await;
    result.expect("collection");
    assert_eq!(errors, Vec::<String>::new());
    let archived: f64 = server
        .exec("SELECT archived_count FROM pg_stat_archiver")
        .parse()
        .unwrap();
    let age: f64 = server
        .exec("SELECT extract(epoch FROM now() - last_archived_time) FROM pg_stat_archiver")
        .parse()
        .unwrap();
    assert_eq!(
        value(&text, &on(&server, "pg_stat_archiver_archived_count")),
        Some(archived)
    );
    let failed = value(&text, &on(&server, "pg_stat_archiver_failed_count"));
    assert!(failed.is_some_and(|f| f >= 1.0), "failed {failed:?}");
    assert_near(
        value(&text, &on(&server, "pg_stat_archiver_last_archive_age")),
        age,
        2.0,
        "last archive age",
    );
    assert_line(&text, "# TYPE pg_stat_archiver_archived_count counter");
}

/// The opt-in `stat_statements` and `statio_user_indexes` groups on a real server with
/// `pg_stat_statements` preloaded: values equal what the views say, the statement count is
/// capped at `stat_statements_limit`, and `pg_stat_statements` is read on its own cadence.
#[tokio::test]
async fn stat_statements_and_statio_user_indexes_when_opted_in() {
    let server = PgServer::start();
    assert!(
        server.install().has_pg_stat_statements,
        "the test kit's PostgreSQL has pg_stat_statements"
    );
    server.create_database("app");
    server.exec_in(
        "app",
        "CREATE EXTENSION pg_stat_statements; \
         CREATE TABLE marked (id int PRIMARY KEY, body text); \
         INSERT INTO marked SELECT g, 'x' FROM generate_series(1, 1000) g;",
    );
    server.exec_in("app", "SELECT pg_stat_statements_reset()");
    // 7 calls returning 3 rows each, through the primary key index; 30 ms each (pg_sleep), so
    // it is the slowest statement by far.
    for _ in 0..7 {
        server.exec_in(
            "app",
            "SELECT id, pg_sleep(0.01) FROM marked /* dropin-marker */ WHERE id IN (1, 2, 3)",
        );
    }
    for i in 0..5 {
        server.exec_in("app", &format!("SELECT {i} AS other_{i}"));
    }
    let queryid = server.exec_in(
        "app",
        "SELECT queryid FROM pg_stat_statements WHERE query LIKE '%dropin-marker%'",
    );
    assert!(!queryid.is_empty(), "the marked statement is tracked");
    let options = PostgresOptions {
        stat_statements: true,
        stat_statements_limit: 3,
        stat_statements_interval: Duration::from_secs(3600),
        statio_user_indexes: true,
        mastodon: false,
        ..PostgresOptions::default()
    };
    let mut opted_in = collector(server.url("app"), options);
    let (result, text, errors) = collect(&mut opted_in).await;
    result.expect("collection succeeds");
    assert_eq!(errors, Vec::<String>::new());

    let marked = on(
        &server,
        &format!("{{user=\"postgres\",datname=\"app\",queryid=\"{queryid}\"}}"),
    );
    assert_eq!(
        value(&text, &format!("pg_stat_statements_calls_total{marked}")),
        Some(7.0),
        "{text}"
    );
    assert_eq!(
        value(&text, &format!("pg_stat_statements_rows_total{marked}")),
        Some(21.0)
    );
    let exec_seconds: f64 = server
        .exec_in(
            "app",
            &format!(
                "SELECT total_exec_time / 1000 FROM pg_stat_statements WHERE queryid = {queryid}"
            ),
        )
        .parse()
        .expect("a number");
    assert_near(
        value(&text, &format!("pg_stat_statements_seconds_total{marked}")),
        exec_seconds,
        1e-9,
        "seconds_total",
    );
    for family in [
        "pg_stat_statements_calls_total",
        "pg_stat_statements_seconds_total",
        "pg_stat_statements_rows_total",
        "pg_stat_statements_block_read_seconds_total",
        "pg_stat_statements_block_write_seconds_total",
    ] {
        assert_eq!(samples(&text, family).len(), 3, "{family} capped:\n{text}");
    }

    let index = on(
        &server,
        "{datname=\"app\",schemaname=\"public\",relname=\"marked\",indexrelname=\"marked_pkey\"}",
    );
    let (read, hit) = server
        .exec_in(
            "app",
            "SELECT idx_blks_read || ' ' || idx_blks_hit FROM pg_statio_user_indexes \
             WHERE indexrelname = 'marked_pkey'",
        )
        .split_once(' ')
        .map(|(r, h)| {
            (
                r.parse::<f64>().expect("read"),
                h.parse::<f64>().expect("hit"),
            )
        })
        .expect("two numbers");
    assert!(read + hit >= 7.0, "seven index scans: {read} + {hit}");
    assert_eq!(
        value(
            &text,
            &format!("pg_statio_user_indexes_idx_blks_read_total{index}")
        ),
        Some(read)
    );
    assert_eq!(
        value(
            &text,
            &format!("pg_statio_user_indexes_idx_blks_hit_total{index}")
        ),
        Some(hit)
    );

    // Three more calls: the next run keeps the cached statements (1 h cadence).
    for _ in 0..3 {
        server.exec_in(
            "app",
            "SELECT id, pg_sleep(0.01) FROM marked /* dropin-marker */ WHERE id IN (1, 2, 3)",
        );
    }
    let (result, text, _) = collect(&mut opted_in).await;
    result.expect("second collection succeeds");
    assert_eq!(
        value(&text, &format!("pg_stat_statements_calls_total{marked}")),
        Some(7.0)
    );
    // Off by default: no such families.
    let mut plain = collector(server.url("app"), PostgresOptions::default());
    let (result, text, _) = collect(&mut plain).await;
    result.expect("default collection succeeds");
    // (`pg_settings_pg_stat_statements_*` are settings, not these families.)
    for prefix in ["pg_stat_statements_", "pg_statio_user_indexes_"] {
        assert!(
            !text.lines().any(|l| l.starts_with(prefix)),
            "{prefix}:\n{text}"
        );
    }
}

/// The families fedimeter shares with a captured postgres_exporter 0.11.1 scrape (primary
/// and replica, `tests/fixtures/exporters/`) carry at least its label names, `server`
/// included where the scrape has it (issue 11), and `server` nowhere else. Newer
/// exporters added labels (`pid`, `usename`, …) that fedimeter has too.
#[test]
fn label_sets_cover_those_of_a_captured_postgres_exporter_scrape() {
    let mut compared = 0;
    for fixture in [
        "postgres_exporter-0.11-primary.txt",
        "postgres_exporter-0.11-replica.txt",
    ] {
        let path = format!(
            "{}/tests/fixtures/exporters/{fixture}",
            env!("CARGO_MANIFEST_DIR")
        );
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
        for line in text
            .lines()
            .filter(|l| !l.starts_with('#') && !l.is_empty())
        {
            let name = line.split(['{', ' ']).next().unwrap_or("");
            let Some(desc) = fedimeter::metrics::descriptor(name) else {
                continue;
            };
            let theirs: Vec<&str> = line
                .split_once('{')
                .map(|(_, rest)| {
                    rest.split("\",")
                        .filter_map(|pair| pair.split_once('=').map(|(k, _)| k))
                        .collect()
                })
                .unwrap_or_default();
            for label in &theirs {
                assert!(
                    desc.labels.contains(label),
                    "{fixture}: {name} has label {label}, fedimeter's {:?}",
                    desc.labels
                );
            }
            assert_eq!(
                desc.labels.contains(&"server"),
                theirs.contains(&"server"),
                "{fixture}: {name}: server in fedimeter's {:?}, theirs {theirs:?}",
                desc.labels
            );
            compared += 1;
        }
    }
    // pg_static, pg_stat_database_*, pg_stat_activity_*, pg_locks_count, replication, …
    assert!(compared >= 60, "only {compared} families compared");
}
