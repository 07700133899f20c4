//! The embedded store on both backends: migrations apply (twice is a no-op), state
//! intervals follow transitions, and intervals a crashed process left open are closed at
//! their last-seen time so the downtime of fedimeter itself is a gap, not up or down. The
//! `StoreHandle` retries a store that cannot be opened yet (tests/store_outage.rs has the
//! PostgreSQL outages). A store migrated by an older fedimeter (up to 0005) is upgraded with
//! its alert states kept.

mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fedimeter::config::SecretUrl;
use fedimeter::model::{Health, Kind, Outcome, Reason, Snapshot, TargetId};
use fedimeter::store::Store;
use fedimeter::store::state::{StateBatch, StateTracker, TargetState};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_790_000_000 + secs)
}

/// A PostgreSQL or Redis snapshot: its health by the rule of those kinds (collected → up,
/// timed out → down/timeout, failed → down/refused here).
fn snapshot(target: &TargetId, secs: u64, outcome: Outcome) -> Arc<Snapshot> {
    let health = match outcome {
        Outcome::Success | Outcome::Partial { .. } => Health::Up,
        Outcome::TimedOut => Health::Down {
            reason: Reason::Timeout,
        },
        Outcome::Failed | Outcome::Panicked => Health::Down {
            reason: Reason::Refused,
        },
    };
    Arc::new(Snapshot {
        target: target.clone(),
        finished_at: at(secs),
        duration: Duration::from_millis(5),
        outcome,
        health: Some(health),
        families: Vec::new(),
    })
}

async fn check_backend(url: String) {
    let url = SecretUrl::new(url);
    let store = Store::open(&url).await.expect("open store");
    // Opening again runs the migrations again: a no-op.
    let store2 = Store::open(&url).await.expect("open store again");
    store2.close().await;

    let pg = TargetId::new(Kind::Postgres, "primary");
    let redis = TargetId::new(Kind::Redis, "sidekiq");
    let mut tracker = StateTracker::default();
    let mut batch = StateBatch::default();
    for (target, secs, outcome) in [
        (&pg, 0, Outcome::Success),
        (&redis, 1, Outcome::Success),
        (&pg, 15, Outcome::Success),
        (&pg, 30, Outcome::TimedOut),
        (&pg, 45, Outcome::Failed),
        (&pg, 60, Outcome::Partial { failed_parts: 1 }),
        (&pg, 75, Outcome::Success),
    ] {
        tracker.observe(&snapshot(target, secs, outcome), &mut batch);
    }
    assert_eq!(
        batch.transitions.len(),
        5,
        "pg up, redis up, pg down (timeout), pg down (refused), pg up"
    );
    store.write_state_batch(&batch).await.expect("write batch");

    let intervals = store
        .state_intervals(&pg, at(0), at(1000))
        .await
        .expect("read");
    let summary: Vec<_> = intervals
        .iter()
        .map(|i| (i.state, i.reason, i.started_at, i.ended_at, i.last_seen_at))
        .collect();
    assert_eq!(
        summary,
        vec![
            (TargetState::Up, None, at(0), Some(at(30)), at(30)),
            (
                TargetState::Down,
                Some(Reason::Timeout),
                at(30),
                Some(at(45)),
                at(45)
            ),
            (
                TargetState::Down,
                Some(Reason::Refused),
                at(45),
                Some(at(60)),
                at(60)
            ),
            (TargetState::Up, None, at(60), None, at(75)),
        ]
    );

    // A later batch only moves last_seen forward.
    let mut batch = StateBatch::default();
    tracker.observe(&snapshot(&pg, 90, Outcome::Success), &mut batch);
    assert!(batch.transitions.is_empty());
    store.write_state_batch(&batch).await.expect("write batch");

    // "Crash": a new process closes what was left open at its last-seen time.
    let closed = store.close_stale_intervals().await.expect("close stale");
    assert_eq!(closed, 2, "pg and redis were open");
    let last = store
        .state_intervals(&pg, at(0), at(1000))
        .await
        .expect("read");
    assert_eq!(
        last.last().map(|i| (i.ended_at, i.last_seen_at)),
        Some((Some(at(90)), at(90)))
    );
    // Windows select by overlap.
    let window = store
        .state_intervals(&pg, at(35), at(44))
        .await
        .expect("read");
    assert_eq!(window.len(), 1);
    assert_eq!(window[0].state, TargetState::Down);

    // A probe: its health, not its run outcome, is the state. A run that succeeded with
    // `probe_success 0` is down; a run without an attempt (no health) is a gap; slower than
    // `degraded_after` is degraded. Each interval has one reason: down for another reason
    // (http_status → refused) is a new interval.
    let web = TargetId::new(Kind::Probe, "web");
    let probe = |secs, outcome, health| {
        Arc::new(Snapshot {
            target: web.clone(),
            finished_at: at(secs),
            duration: Duration::from_millis(5),
            outcome,
            health,
            families: Vec::new(),
        })
    };
    let http_status = Health::Down {
        reason: Reason::HttpStatus,
    };
    let slow = Health::Degraded {
        reason: Reason::Slow,
    };
    let refused = Health::Down {
        reason: Reason::Refused,
    };
    let mut tracker = StateTracker::default();
    let mut batch = StateBatch::default();
    for snapshot in [
        probe(200, Outcome::Success, Some(Health::Up)),
        probe(215, Outcome::Success, Some(http_status)),
        probe(230, Outcome::Success, Some(http_status)),
        probe(238, Outcome::Success, Some(refused)),
        probe(245, Outcome::TimedOut, None),
        probe(260, Outcome::Success, Some(slow)),
        probe(275, Outcome::Success, Some(slow)),
    ] {
        tracker.observe(&snapshot, &mut batch);
    }
    store.write_state_batch(&batch).await.expect("write batch");
    let intervals = store
        .state_intervals(&web, at(0), at(1000))
        .await
        .expect("read");
    let summary: Vec<_> = intervals
        .iter()
        .map(|i| (i.state, i.reason, i.started_at, i.ended_at, i.last_seen_at))
        .collect();
    assert_eq!(
        summary,
        vec![
            (TargetState::Up, None, at(200), Some(at(215)), at(215)),
            (
                TargetState::Down,
                Some(Reason::HttpStatus),
                at(215),
                Some(at(238)),
                at(238)
            ),
            (
                TargetState::Down,
                Some(Reason::Refused),
                at(238),
                Some(at(245)),
                at(245)
            ),
            (
                TargetState::Degraded,
                Some(Reason::Slow),
                at(260),
                None,
                at(275)
            ),
        ]
    );
    store.close().await;
}

#[tokio::test]
async fn sqlite_store_records_state_intervals() {
    let dir = tempfile::tempdir().expect("temp dir");
    check_backend(format!(
        "sqlite://{}",
        dir.path().join("fedimeter.db").display()
    ))
    .await;
}

#[tokio::test]
async fn postgres_store_records_state_intervals() {
    let pg = support::PgServer::start();
    pg.create_database("fedimeter_store");
    check_backend(pg.url("fedimeter_store")).await;
}

/// A store an older fedimeter migrated up to 0005, with an alert firing: opening it applies
/// 0006 (held alerts, disabled routes) and the alert comes back, not held.
async fn check_upgrade_to_0006(url: String, migrations: &str) {
    use fedimeter::notify::outbox::{Outbox, StoredAlert};
    let old = sqlx::migrate::Migrator::new(std::path::Path::new(migrations))
        .await
        .expect("migrations");
    let insert = "INSERT INTO alert_state (alert_key, alertname, rule_index, state, active_since, \
                  firing_since, last_true_at, last_sent_at, announced, target, labels, value) \
                  VALUES ('PostgresDown{target=\"main\"}', 'PostgresDown', 3, 'firing', 1000, \
                  2000, 3000, 2000, 1, 'main', '{\"target\":\"main\"}', 0)";
    if url.starts_with("sqlite:") {
        use std::str::FromStr;
        let opts = sqlx::sqlite::SqliteConnectOptions::from_str(&url)
            .expect("url")
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(opts).await.expect("pool");
        old.run_to(5, &pool).await.expect("migrate to 0005");
        sqlx::query(insert).execute(&pool).await.expect("insert");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&url).await.expect("pool");
        old.run_to(5, &pool).await.expect("migrate to 0005");
        sqlx::query(insert).execute(&pool).await.expect("insert");
        pool.close().await;
    }
    let store = Store::open(&SecretUrl::new(url))
        .await
        .expect("open and upgrade");
    let outbox = Outbox::new(store.clone(), "host-1", Duration::from_secs(600));
    assert_eq!(
        outbox.load_states().await.expect("states"),
        vec![StoredAlert {
            key: "PostgresDown{target=\"main\"}".to_string(),
            alertname: "PostgresDown".to_string(),
            rule_index: 3,
            state: "firing".to_string(),
            active_since: 1000,
            firing_since: Some(2000),
            last_true_at: 3000,
            last_sent_at: Some(2000),
            announced: true,
            held: false,
            target: "main".to_string(),
            labels: "{\"target\":\"main\"}".to_string(),
            value: Some(0.0),
        }]
    );
    assert!(outbox.disabled_routes().await.expect("table").is_empty());
    store.close().await;
}

#[tokio::test]
async fn sqlite_store_upgrades_to_0006_keeping_alert_states() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("fedimeter.db").display());
    check_upgrade_to_0006(url, "migrations/sqlite").await;
}

#[tokio::test]
async fn postgres_store_upgrades_to_0006_keeping_alert_states() {
    let pg = support::PgServer::start();
    pg.create_database("fedimeter_upgrade");
    check_upgrade_to_0006(pg.url("fedimeter_upgrade"), "migrations/postgres").await;
}

#[tokio::test]
async fn a_bad_store_url_is_a_clear_error_without_the_password() {
    let url = SecretUrl::new("postgres://u:Store-Secret-993@127.0.0.1:1/x".to_string());
    let error = Store::open_with(&url, Duration::from_secs(1))
        .await
        .expect_err("nothing listens on port 1");
    let text = format!("{error:#}");
    assert!(!text.contains("Store-Secret-993"), "{text}");
    assert!(text.contains("postgres://u:***@127.0.0.1:1/x"), "{text}");
}

/// The production connector with a SQLite file whose directory appears later: the handle
/// is down (operations fail at once), retries with backoff, and is up with the migrations
/// applied once the file can be created.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handle_retries_until_the_store_can_be_opened() {
    use fedimeter::export::exposition::{Format, render_store};
    use fedimeter::model::SnapshotStore;
    use fedimeter::store::handle::{self, StoreError, StoreHandle, StoreOptions, Writer};

    let dir = tempfile::tempdir().expect("temp dir");
    let later = dir.path().join("later");
    let url = SecretUrl::new(format!("sqlite://{}", later.join("fedimeter.db").display()));
    let options = StoreOptions {
        backoff_initial: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        ..StoreOptions::default()
    };
    let snapshots = Arc::new(SnapshotStore::new([]));
    let store = StoreHandle::new(options, Some(snapshots.clone()));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let task = tokio::spawn(
        store
            .clone()
            .run(handle::connector(url, options), shutdown.clone()),
    );
    support::eventually("two failed attempts", Duration::from_secs(5), || {
        render_store(&snapshots, Format::Text)
            .contains("fedimeter_store_connects_total{result=\"failure\"} 2\n")
    });
    let text = render_store(&snapshots, Format::Text);
    assert!(text.contains("fedimeter_store_up 0\n"), "{text}");
    // "At once": the call is ready on its first poll, without waiting for anything.
    let unavailable =
        futures::FutureExt::now_or_never(store.call(Some(Writer::State), |s: Store| async move {
            s.close_stale_intervals().await
        }));
    assert!(
        matches!(unavailable, Some(Err(StoreError::Unavailable))),
        "{unavailable:?}"
    );

    std::fs::create_dir(&later).expect("mkdir");
    support::eventually("the store is up", Duration::from_secs(5), || store.is_up());
    let text = render_store(&snapshots, Format::Text);
    assert!(text.contains("fedimeter_store_up 1\n"), "{text}");
    assert!(
        text.contains("fedimeter_store_connects_total{result=\"success\"} 1\n"),
        "{text}"
    );
    // The migrations ran: the tables are there.
    let pg = TargetId::new(Kind::Postgres, "primary");
    let mut batch = StateBatch::default();
    StateTracker::default().observe(&snapshot(&pg, 0, Outcome::Success), &mut batch);
    store
        .call(Some(Writer::State), |s: Store| async move {
            s.write_state_batch(&batch).await
        })
        .await
        .expect("write");
    let intervals = store
        .call(None, |s: Store| async move {
            s.state_intervals(&pg, at(0), at(10)).await
        })
        .await
        .expect("read");
    assert_eq!(intervals.len(), 1);
    shutdown.cancel();
    task.await.expect("task ends");
    store.close().await;
}

/// Two processes opening a new SQLite file at once (`serve` starting while the CLI writes an
/// incident) both migrate it; neither may fail with "table … already exists". Each round
/// races four opens of a fresh file; every open must succeed and leave one complete schema.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_opens_of_a_new_sqlite_file_all_migrate_it() {
    for round in 0..10 {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("fedimeter.db").display());
        let opens: Vec<_> = (0..4)
            .map(|_| {
                let url = SecretUrl::new(url.clone());
                tokio::spawn(async move { Store::open(&url).await })
            })
            .collect();
        for open in opens {
            let store = open
                .await
                .expect("task")
                .unwrap_or_else(|e| panic!("round {round}: {e:#}"));
            store.close().await;
        }
        let store = Store::open(&SecretUrl::new(url)).await.expect("reopen");
        let Store::Sqlite(pool) = &store else {
            panic!("sqlite")
        };
        let applied: i64 = sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations")
            .fetch_one(pool)
            .await
            .expect("migrations table");
        let files = std::fs::read_dir("migrations/sqlite").expect("dir").count();
        assert_eq!(
            applied,
            i64::try_from(files).expect("count"),
            "round {round}"
        );
        store.close().await;
    }
}
