//! The PostgreSQL collector against every supported major, live: 13, 14, 16, 17 and 18 from
//! the builds `scripts/fetch-postgres` caches (listed in `$FEDIMETER_PG_MATRIX`, which
//! `scripts/test` sets) and Debian's 15 from the main test install.
//!
//! For each major, one focused test starts a server, seeds a database with a subset of
//! Mastodon's schema and runs every query group of the collector once, then checks the exact
//! set of families and their label names against expectations written from the PostgreSQL
//! docs and docs/postgres.md (`active_time` from 14, `pg_stat_checkpointer` and the
//! checkpoint-less `pg_stat_bgwriter` from 17, …), every setting exported with its unit
//! suffix, every group succeeding (`pg_scrape_collector_success 1`, no partial error,
//! `pg_exporter_last_scrape_error 0`), `pg_up 1`, and the Mastodon gauges' values.
//!
//! A major listed in `$FEDIMETER_PG_MATRIX` that cannot start fails its test. Without the
//! variable (a plain `cargo test`), the majors it would have listed are not tested, and one
//! line on stderr says so.

mod support;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::sync::Once;
use std::time::Duration;

use fedimeter::collect::postgres::{PostgresCollector, PostgresOptions};
use fedimeter::collect::runner;
use fedimeter::collect::{Collector, Sink};
use fedimeter::config::SecretUrl;
use fedimeter::model::{Family, Kind, MetricType, TargetId};
use support::postgres::{MASTODON_SCHEMA, PgInstall, PgServer, version_matrix};

/// The majors fedimeter supports; docs/postgres.md says which ran live.
const MAJORS: [u32; 6] = [13, 14, 15, 16, 17, 18];

/// The installation for `major`: its `$FEDIMETER_PG_MATRIX` entry, else the main install
/// when that is this major. `None` when it is not available (noted once on stderr).
fn install_for(major: u32) -> Option<&'static PgInstall> {
    let matrix = version_matrix().unwrap_or_default();
    let main = PgInstall::get();
    let find = |major: u32| -> Option<&'static PgInstall> {
        match matrix.iter().find(|(m, _)| *m == major) {
            Some((_, bin_dir)) => Some(PgInstall::server_only(bin_dir)),
            None => (main.major_version == major).then_some(main),
        }
    };
    static NOTE: Once = Once::new();
    NOTE.call_once(|| {
        let missing: Vec<String> = MAJORS
            .iter()
            .filter(|m| !matrix.iter().any(|(listed, _)| listed == *m) && main.major_version != **m)
            .map(u32::to_string)
            .collect();
        if !missing.is_empty() {
            // Written to the real stderr, past the test harness' capture, so it shows
            // with a plain `cargo test`.
            let _ = writeln!(
                std::io::stderr(),
                "postgres_versions: PostgreSQL {} NOT tested (not in FEDIMETER_PG_MATRIX; \
                 scripts/test sets it from scripts/fetch-postgres)",
                missing.join(", ")
            );
        }
    });
    let install = find(major)?;
    assert_eq!(
        install.major_version,
        major,
        "FEDIMETER_PG_MATRIX lists {} for {major}, but it is PostgreSQL {}",
        install.bin_dir.display(),
        install.version
    );
    Some(install)
}

/// Known rows; the expected gauges in [`check_major`] are counted from them by hand.
/// Status ids are Snowflake ids (`ms since the epoch << 16`) of 1 minute and 30 s ago.
const MASTODON_ROWS: &str = "
INSERT INTO accounts (id, username, domain) VALUES (1, 'admin', NULL), (2, 'alice', NULL),
  (3, 'bob', 'remote.example');
INSERT INTO users (account_id, email, created_at, current_sign_in_at, approved) VALUES
  (1, 'a@x', now() - interval '400 days', now() - interval '1 hour', true),
  (2, 'b@x', now() - interval '100 days', now() - interval '3 days', true),
  (NULL, 'c@x', now() - interval '2 hours', NULL, false);
INSERT INTO reports (created_at, updated_at, account_id, target_account_id, action_taken_at, assigned_account_id) VALUES
  (now() - interval '2 hours', now(), 1, 3, NULL, NULL),
  (now() - interval '1 hour', now(), 2, 3, NULL, 1),
  (now() - interval '5 days', now(), 2, 3, now() - interval '4 days', 1);
INSERT INTO unavailable_domains (domain, created_at, updated_at) VALUES ('gone.example', now(), now());
INSERT INTO software_updates (version, urgent, type) VALUES ('4.5.1', true, 0), ('4.6.0', false, 1);
INSERT INTO statuses (id, uri, created_at, account_id, local) VALUES
  (((extract(epoch FROM now() - interval '1 minute') * 1000)::int8 << 16), NULL, now(), 1, true),
  (((extract(epoch FROM now() - interval '30 seconds') * 1000)::int8 << 16), 'https://remote.example/1', now(), 3, false);
INSERT INTO media_attachments (id, created_at) VALUES (1, now());
";

const DATABASE: &[&str] = &["datid", "datname"];
const ACTIVITY: &[&str] = &[
    "datname",
    "state",
    "usename",
    "application_name",
    "backend_type",
    "wait_event_type",
    "wait_event",
];
const TABLE: &[&str] = &["datname", "schemaname", "relname"];

/// Every family one run on a seeded primary (no replica, no slot, archiving off) exports,
/// with its label names, except the `pg_settings_*` ones: docs/postgres.md's tables, gated
/// as the PostgreSQL docs say the views changed.
fn expected_families(major: u32) -> BTreeMap<String, Vec<&'static str>> {
    let mut families: Vec<(String, &[&str])> = vec![
        ("pg_static".into(), &["version", "short_version"]),
        ("pg_stat_database_numbackends".into(), DATABASE),
    ];
    for column in [
        "xact_commit",
        "xact_rollback",
        "blks_read",
        "blks_hit",
        "tup_returned",
        "tup_fetched",
        "tup_inserted",
        "tup_updated",
        "tup_deleted",
        "conflicts",
        "temp_files",
        "temp_bytes",
        "deadlocks",
        "blk_read_time",
        "blk_write_time",
        // Set by the pg_stat_reset() the test runs (NULL, and omitted, before a reset).
        "stats_reset",
    ] {
        families.push((format!("pg_stat_database_{column}"), DATABASE));
    }
    // pg_stat_database.active_time: new in 14 (docs, "pg_stat_database View", 14).
    if major >= 14 {
        families.push((
            "pg_stat_database_active_time_seconds_total".into(),
            DATABASE,
        ));
    }
    for column in [
        "confl_tablespace",
        "confl_lock",
        "confl_snapshot",
        "confl_bufferpin",
        "confl_deadlock",
    ] {
        families.push((format!("pg_stat_database_conflicts_{column}"), DATABASE));
    }
    families.push(("pg_stat_activity_count".into(), ACTIVITY));
    families.push(("pg_stat_activity_max_tx_duration".into(), ACTIVITY));
    families.push(("pg_locks_count".into(), &["datname", "mode"]));
    // A primary: lag and role, no last replay (replica only); no replica, no slot, so no
    // pg_stat_replication_* and no pg_replication_slots_* samples.
    families.push(("pg_replication_lag_seconds".into(), &[]));
    // postgres_exporter's name before 0.13, which its mixin still queries.
    families.push(("pg_replication_lag".into(), &[]));
    families.push(("pg_replication_is_replica".into(), &[]));
    let mut bgwriter = vec![
        "buffers_clean",
        "maxwritten_clean",
        "buffers_alloc",
        "stats_reset",
    ];
    if major < 17 {
        // 17 moved the checkpoint columns to pg_stat_checkpointer and buffers_backend* to
        // pg_stat_io (release notes of 17, "Monitoring").
        bgwriter.extend([
            "checkpoints_timed",
            "checkpoints_req",
            "checkpoint_write_time",
            "checkpoint_sync_time",
            "buffers_checkpoint",
            "buffers_backend",
            "buffers_backend_fsync",
        ]);
    }
    for column in bgwriter {
        families.push((format!("pg_stat_bgwriter_{column}_total"), &[]));
    }
    if major >= 17 {
        for column in [
            "num_timed",
            "num_requested",
            "restartpoints_timed",
            "restartpoints_req",
            "restartpoints_done",
            "write_time",
            "sync_time",
            "buffers_written",
            "stats_reset",
        ] {
            families.push((format!("pg_stat_checkpointer_{column}_total"), &[]));
        }
    }
    // Archiving off: counts, no age.
    families.push(("pg_stat_archiver_archived_count".into(), &[]));
    families.push(("pg_stat_archiver_failed_count".into(), &[]));
    families.push(("pg_postmaster_start_time_seconds".into(), &[]));
    families.push(("pg_long_running_transactions".into(), &[]));
    families.push((
        "pg_long_running_transactions_oldest_timestamp_seconds".into(),
        &[],
    ));
    families.push((
        "pg_database_wraparound_age_datfrozenxid_seconds".into(),
        &["datname"],
    ));
    families.push((
        "pg_database_wraparound_age_datminmxid_seconds".into(),
        &["datname"],
    ));
    // The opt-in groups this test turns on: stat_statements (`total_exec_time` on 13+,
    // `shared_blk_*_time` from 17) and statio_user_indexes.
    for column in [
        "calls",
        "seconds",
        "rows",
        "block_read_seconds",
        "block_write_seconds",
    ] {
        families.push((
            format!("pg_stat_statements_{column}_total"),
            &["user", "datname", "queryid"],
        ));
    }
    for column in ["read", "hit"] {
        families.push((
            format!("pg_statio_user_indexes_idx_blks_{column}_total"),
            &["datname", "schemaname", "relname", "indexrelname"],
        ));
    }
    families.push(("pg_database_size_bytes".into(), &["datname"]));
    families.push(("pg_database_connection_limit".into(), &["datname"]));
    for column in [
        "seq_scan",
        "seq_tup_read",
        "idx_scan",
        "idx_tup_fetch",
        "n_tup_ins",
        "n_tup_upd",
        "n_tup_del",
        "n_tup_hot_upd",
        "vacuum_count",
        "autovacuum_count",
        "analyze_count",
        "autoanalyze_count",
        "n_live_tup",
        "n_dead_tup",
        "n_mod_since_analyze",
        "last_vacuum",
        "last_autovacuum",
        "last_analyze",
        "last_autoanalyze",
        "table_size_bytes",
        "index_size_bytes",
    ] {
        families.push((format!("pg_stat_user_tables_{column}"), TABLE));
    }
    for (name, labels) in [
        ("mastodon_reports_open", &[][..]),
        ("mastodon_reports_unassigned", &[]),
        ("mastodon_oldest_open_report_age_seconds", &[]),
        ("mastodon_pending_signups", &[]),
        ("mastodon_oldest_pending_signup_age_seconds", &[]),
        ("mastodon_newest_status_age_seconds", &["origin"]),
        ("mastodon_statuses_created", &["origin"]),
        ("mastodon_users", &[]),
        ("mastodon_active_users", &["window"]),
        ("mastodon_unavailable_domains", &[]),
        ("mastodon_table_rows_estimate", &["table"]),
        ("mastodon_software_updates_pending", &["urgent"]),
        ("pg_scrape_collector_duration_seconds", &["collector"]),
        ("pg_scrape_collector_success", &["collector"]),
        ("pg_exporter_scrapes_total", &[]),
        ("pg_exporter_last_scrape_error", &[]),
        ("pg_exporter_last_scrape_duration_seconds", &[]),
    ] {
        families.push((name.into(), labels));
    }
    // Issue 11 (docs/postgres.md): postgres_exporter's `server` label comes last on every
    // `pg_*` family except the exporter's own `pg_exporter_*` and `pg_scrape_*`.
    families
        .into_iter()
        .map(|(name, labels)| {
            let mut labels = labels.to_vec();
            if name.starts_with("pg_")
                && !name.starts_with("pg_exporter_")
                && !name.starts_with("pg_scrape_")
            {
                labels.push("server");
            }
            (name, labels)
        })
        .collect()
}

/// The query groups (`collector` label) of one run on `major`, all due on a first run.
fn expected_groups(major: u32) -> BTreeSet<&'static str> {
    let mut groups = BTreeSet::from([
        "stat_database",
        "stat_database_conflicts",
        "stat_activity",
        "locks",
        "replication",
        "stat_replication",
        "replication_slots",
        "stat_bgwriter",
        "stat_archiver",
        "postmaster",
        "long_running_transactions",
        "database_wraparound",
        "database",
        "settings",
        "table_sizes",
        "stat_user_tables",
        "stat_statements",
        "statio_user_indexes",
        "mastodon_reports",
        "mastodon_signups",
        "mastodon_statuses",
        "mastodon_users",
        "mastodon_unavailable_domains",
        "mastodon_row_estimates",
        "mastodon_software_updates",
    ]);
    if major >= 17 {
        groups.insert("stat_checkpointer");
    }
    groups
}

/// The family a setting is exported as (docs/postgres.md: postgres_exporter's naming):
/// `.` and `-` become `_`; time units get `_seconds`, memory units `_bytes`.
fn setting_family(name: &str, unit: &str) -> Result<String, String> {
    let base = format!("pg_settings_{}", name.replace(['.', '-'], "_"));
    // The units PostgreSQL's docs list for pg_settings.unit ("Parameter Names and Values").
    let suffix = match unit {
        "" => "",
        "us" | "ms" | "s" | "min" | "h" | "d" => "_seconds",
        _ if unit.ends_with('B') => "_bytes",
        _ => return Err(format!("setting {name} has the unit {unit:?}")),
    };
    Ok(format!("{base}{suffix}"))
}

fn value_of(families: &[Family], name: &str, labels: &[&str]) -> Option<f64> {
    families
        .iter()
        .find(|f| f.desc.name == name)
        .and_then(|f| f.value(labels))
}

/// Seeds, collects once and checks everything the module docs list, for `major`.
async fn check_major(major: u32) {
    let Some(install) = install_for(major) else {
        return;
    };
    let server = PgServer::start_from(install, &[]);
    let version_num: u32 = server
        .exec("SHOW server_version_num")
        .parse()
        .expect("a version number");
    assert_eq!(
        version_num / 10000,
        major,
        "server_version_num {version_num}"
    );
    let db = "mastodon_production";
    server.create_database(db);
    // stats_reset is NULL (and its family omitted) until a reset: reset once, before the
    // rows go in (a reset also zeroes the tables' counters), so the families are exact.
    server.exec_in(db, "SELECT pg_stat_reset()");
    server.exec("SELECT pg_stat_reset_shared('bgwriter')");
    if major >= 17 {
        server.exec("SELECT pg_stat_reset_shared('checkpointer')");
    }
    server.exec_in(db, MASTODON_SCHEMA);
    server.exec_in(db, MASTODON_ROWS);
    server.exec_in(db, "ANALYZE");
    // A table only this test touches (autovacuum off, so its statistics stay put): 100
    // inserts, 10 updates, 5 deletes, one index scan.
    server.exec_in(
        db,
        "CREATE TABLE plain (id int PRIMARY KEY, v text) WITH (autovacuum_enabled = false); \
         INSERT INTO plain SELECT i, 'x' FROM generate_series(1, 100) i; \
         SET enable_indexscan = off; SET enable_bitmapscan = off; \
         UPDATE plain SET v = 'y' WHERE id <= 10; \
         DELETE FROM plain WHERE id > 95; \
         RESET ALL; SET enable_seqscan = off; SELECT v FROM plain WHERE id = 7;",
    );
    // shared_preload_libraries works on this build (the opt-in stat_statements group
    // relies on it).
    assert_eq!(
        server.exec("SHOW shared_preload_libraries"),
        "pg_stat_statements"
    );
    server.exec_in(db, "CREATE EXTENSION pg_stat_statements");
    // 13 and 14 hand statistics to the stats collector asynchronously (about 0.5 s); 15+
    // flush them when a session ends.
    support::eventually(
        "the reset and the seeded rows are in the statistics",
        Duration::from_secs(10),
        || {
            server.exec_in(
                db,
                "SELECT (SELECT stats_reset IS NOT NULL FROM pg_stat_database WHERE datname = current_database()) \
                 AND (SELECT stats_reset IS NOT NULL FROM pg_stat_bgwriter) \
                 AND (SELECT n_live_tup = 3 FROM pg_stat_user_tables WHERE relname = 'users') \
                 AND (SELECT idx_scan = 1 FROM pg_stat_user_tables WHERE relname = 'plain')",
            ) == "t"
        },
    );

    let url = SecretUrl::new(server.url(db));
    let options = PostgresOptions {
        stat_statements: true,
        statio_user_indexes: true,
        ..PostgresOptions::default()
    };
    let mut collector = PostgresCollector::new(&url, options.clone());
    let mut sink = Sink::new();
    collector
        .collect(&mut sink)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL {}: collection failed: {e:#}", install.version));
    let (families, errors) = sink.into_parts();
    assert_eq!(
        errors,
        Vec::<String>::new(),
        "PostgreSQL {}: partial errors",
        install.version
    );

    // Exact families and label names (settings apart).
    let actual: BTreeMap<String, Vec<&str>> = families
        .iter()
        .filter(|f| !f.desc.name.starts_with("pg_settings_"))
        .map(|f| (f.desc.name.to_owned(), f.desc.labels.to_vec()))
        .collect();
    let expected = expected_families(major);
    let missing: Vec<&String> = expected
        .keys()
        .filter(|k| !actual.contains_key(*k))
        .collect();
    let unexpected: Vec<&String> = actual
        .keys()
        .filter(|k| !expected.contains_key(*k))
        .collect();
    assert!(
        missing.is_empty() && unexpected.is_empty(),
        "PostgreSQL {}: missing families {missing:?}, unexpected families {unexpected:?}",
        install.version
    );
    assert_eq!(
        actual, expected,
        "PostgreSQL {}: label names",
        install.version
    );
    for family in &families {
        assert!(
            !family.samples.is_empty(),
            "{} has no samples",
            family.desc.name
        );
        if family.desc.metric_type == MetricType::Counter {
            for sample in &family.samples {
                assert!(
                    sample.value.is_finite() && sample.value >= 0.0,
                    "PostgreSQL {}: counter {}{:?} = {}",
                    install.version,
                    family.desc.name,
                    sample.labels,
                    sample.value
                );
            }
        }
    }

    // The `server` label's value: the test servers listen on 127.0.0.1.
    let srv = format!("127.0.0.1:{}", server.port());
    // Every numeric and boolean setting, under its unit's name, labelled `server` only.
    let settings = server.exec(
        "SELECT name || '|' || coalesce(unit, '') FROM pg_settings \
         WHERE vartype IN ('bool', 'integer', 'real') AND name != 'sync_commit_cancel_wait'",
    );
    let expected_settings: BTreeSet<String> = settings
        .lines()
        .map(|line| {
            let (name, unit) = line.split_once('|').expect("name|unit");
            setting_family(name, unit)
                .unwrap_or_else(|e| panic!("PostgreSQL {}: {e}", install.version))
        })
        .collect();
    let actual_settings: BTreeSet<String> = families
        .iter()
        .filter(|f| f.desc.name.starts_with("pg_settings_"))
        .inspect(|f| assert_eq!(f.desc.labels, ["server"], "{}", f.desc.name))
        .map(|f| f.desc.name.to_owned())
        .collect();
    assert_eq!(
        actual_settings, expected_settings,
        "PostgreSQL {}: settings",
        install.version
    );
    // The test kit's postgresql.conf, normalised: 16MB of shared buffers, 50 connections.
    assert_eq!(
        value_of(&families, "pg_settings_shared_buffers_bytes", &[&srv]),
        Some(16.0 * 1024.0 * 1024.0)
    );
    assert_eq!(
        value_of(&families, "pg_settings_max_connections", &[&srv]),
        Some(50.0)
    );
    // Removed in 16 (release notes of 16), added in 17 (default 128kB, in 8kB blocks).
    assert_eq!(
        actual_settings.contains("pg_settings_vacuum_defer_cleanup_age"),
        major < 16
    );
    assert_eq!(
        value_of(&families, "pg_settings_io_combine_limit_bytes", &[&srv]),
        (major >= 17).then_some(131072.0)
    );

    // Every group ran and succeeded.
    let success = families
        .iter()
        .find(|f| f.desc.name == "pg_scrape_collector_success")
        .expect("pg_scrape_collector_success");
    let groups: BTreeMap<String, f64> = success
        .samples
        .iter()
        .map(|s| (s.labels[0].to_string(), s.value))
        .collect();
    assert_eq!(
        groups.keys().map(String::as_str).collect::<BTreeSet<_>>(),
        expected_groups(major),
        "PostgreSQL {}: query groups",
        install.version
    );
    assert!(
        groups.values().all(|v| *v == 1.0),
        "PostgreSQL {}: failed groups in {groups:?}",
        install.version
    );
    assert_eq!(
        value_of(&families, "pg_exporter_last_scrape_error", &[]),
        Some(0.0)
    );

    // Values that pin the version-specific sources to their rows.
    let short = format!("{}.{}.0", version_num / 10000, version_num % 10000);
    let static_family = families
        .iter()
        .find(|f| f.desc.name == "pg_static")
        .expect("pg_static");
    assert_eq!(&*static_family.samples[0].labels[1], short.as_str());
    assert!(
        static_family.samples[0].labels[0].starts_with(&format!("PostgreSQL {}", install.version)),
        "{:?}",
        static_family.samples[0].labels
    );
    let datid = server.exec(&format!(
        "SELECT oid FROM pg_database WHERE datname = '{db}'"
    ));
    assert_eq!(
        value_of(
            &families,
            "pg_stat_database_numbackends",
            &[&datid, db, &srv]
        ),
        Some(1.0),
        "our own session is the only backend in {db}"
    );
    assert_eq!(
        value_of(&families, "pg_replication_is_replica", &[&srv]),
        Some(0.0)
    );
    assert_eq!(
        value_of(&families, "pg_locks_count", &[db, "accesssharelock", &srv]).map(|v| v >= 0.0),
        Some(true)
    );
    assert_eq!(
        value_of(
            &families,
            "pg_stat_user_tables_n_live_tup",
            &[db, "public", "users", &srv]
        ),
        Some(3.0)
    );
    // pg_stat_user_tables rebuilt from the statistics functions equals the view itself on
    // every version, and the counts done above.
    let view = server.exec_in(
        db,
        "SELECT seq_scan, seq_tup_read, coalesce(idx_scan, 0), coalesce(idx_tup_fetch, 0), \
         n_tup_ins, n_tup_upd, n_tup_del, n_tup_hot_upd, n_live_tup, n_dead_tup, \
         n_mod_since_analyze, vacuum_count, autovacuum_count, analyze_count, autoanalyze_count \
         FROM pg_stat_user_tables WHERE relname = 'plain'",
    );
    let plain = [db, "public", "plain", &srv];
    for (column, from_view) in [
        "seq_scan",
        "seq_tup_read",
        "idx_scan",
        "idx_tup_fetch",
        "n_tup_ins",
        "n_tup_upd",
        "n_tup_del",
        "n_tup_hot_upd",
        "n_live_tup",
        "n_dead_tup",
        "n_mod_since_analyze",
        "vacuum_count",
        "autovacuum_count",
        "analyze_count",
        "autoanalyze_count",
    ]
    .into_iter()
    .zip(view.split('|'))
    {
        let from_view: f64 = from_view.parse().expect("a number");
        assert_eq!(
            value_of(&families, &format!("pg_stat_user_tables_{column}"), &plain),
            Some(from_view),
            "PostgreSQL {}: pg_stat_user_tables.{column} of plain",
            install.version
        );
    }
    for (column, expected) in [
        ("n_tup_ins", 100.0),
        ("n_tup_upd", 10.0),
        ("n_tup_del", 5.0),
        ("idx_scan", 1.0),
        ("n_live_tup", 95.0),
        // Never vacuumed nor analyzed: NULL timestamps are exported as 0.
        ("last_vacuum", 0.0),
        ("last_autovacuum", 0.0),
        ("last_analyze", 0.0),
        ("last_autoanalyze", 0.0),
    ] {
        assert_eq!(
            value_of(&families, &format!("pg_stat_user_tables_{column}"), &plain),
            Some(expected),
            "PostgreSQL {}: pg_stat_user_tables_{column} of plain",
            install.version
        );
    }
    for (name, labels, expected) in [
        ("mastodon_reports_open", &[][..], 2.0),
        ("mastodon_reports_unassigned", &[], 1.0),
        ("mastodon_pending_signups", &[], 1.0),
        ("mastodon_users", &[], 3.0),
        ("mastodon_active_users", &["1d"], 1.0),
        ("mastodon_active_users", &["7d"], 2.0),
        ("mastodon_active_users", &["30d"], 2.0),
        ("mastodon_statuses_created", &["local"], 1.0),
        ("mastodon_statuses_created", &["remote"], 1.0),
        ("mastodon_unavailable_domains", &[], 1.0),
        ("mastodon_software_updates_pending", &["true"], 1.0),
        ("mastodon_software_updates_pending", &["false"], 1.0),
        ("mastodon_table_rows_estimate", &["accounts"], 3.0),
        ("mastodon_table_rows_estimate", &["statuses"], 2.0),
        ("mastodon_table_rows_estimate", &["media_attachments"], 1.0),
    ] {
        assert_eq!(
            value_of(&families, name, labels),
            Some(expected),
            "PostgreSQL {}: {name}{labels:?}",
            install.version
        );
    }
    let report_age = value_of(&families, "mastodon_oldest_open_report_age_seconds", &[])
        .expect("oldest report age");
    assert!(
        (report_age - 7200.0).abs() < 60.0,
        "oldest report {report_age}"
    );

    // The role docs/postgres.md recommends (pg_monitor, SELECT on Mastodon's tables) sees
    // the same families, with every group succeeding.
    server.exec_in(
        db,
        "CREATE ROLE monitor LOGIN PASSWORD 'monitor-pw' IN ROLE pg_monitor; \
         GRANT SELECT ON ALL TABLES IN SCHEMA public TO monitor;",
    );
    let monitor_url = SecretUrl::new(server.url_for("monitor", "monitor-pw", db));
    let mut as_monitor = PostgresCollector::new(&monitor_url, options.clone());
    let mut sink = Sink::new();
    as_monitor
        .collect(&mut sink)
        .await
        .unwrap_or_else(|e| panic!("PostgreSQL {}: as pg_monitor: {e:#}", install.version));
    let (monitor_families, errors) = sink.into_parts();
    assert_eq!(
        errors,
        Vec::<String>::new(),
        "PostgreSQL {}: partial errors as pg_monitor",
        install.version
    );
    let names = |families: &[Family]| -> BTreeSet<String> {
        families.iter().map(|f| f.desc.name.to_owned()).collect()
    };
    assert_eq!(
        names(&monitor_families),
        names(&families),
        "PostgreSQL {}: families as pg_monitor",
        install.version
    );
    assert_eq!(
        value_of(&monitor_families, "pg_exporter_last_scrape_error", &[]),
        Some(0.0)
    );

    // Through the runner: pg_up 1 and no scrape error.
    let snapshot = runner::collect_once(
        &TargetId::new(Kind::Postgres, "versions"),
        Duration::from_secs(10),
        Box::new(PostgresCollector::new(&url, PostgresOptions::default())),
    )
    .await;
    assert_eq!(snapshot.value("pg_up", &[]), Some(1.0));
    assert_eq!(
        snapshot.value("pg_exporter_last_scrape_error", &[]),
        Some(0.0),
        "PostgreSQL {}",
        install.version
    );
}

#[tokio::test]
async fn postgres_13_every_query_group_live() {
    check_major(13).await;
}

#[tokio::test]
async fn postgres_14_every_query_group_live() {
    check_major(14).await;
}

#[tokio::test]
async fn postgres_15_every_query_group_live() {
    check_major(15).await;
}

#[tokio::test]
async fn postgres_16_every_query_group_live() {
    check_major(16).await;
}

#[tokio::test]
async fn postgres_17_every_query_group_live() {
    check_major(17).await;
}

#[tokio::test]
async fn postgres_18_every_query_group_live() {
    check_major(18).await;
}
