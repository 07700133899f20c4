//! The embedded store on both backends: migrations apply (twice is a no-op), state
//! intervals follow transitions, and intervals a crashed process left open are closed at
//! their last-seen time so the downtime of fedimeter itself is a gap, not up or down.

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
        4,
        "pg up, redis up, pg down, pg up"
    );
    store.write_state_batch(&batch).await.expect("write batch");

    let intervals = store
        .state_intervals(&pg, at(0), at(1000))
        .await
        .expect("read");
    let summary: Vec<_> = intervals
        .iter()
        .map(|i| (i.state, i.started_at, i.ended_at, i.last_seen_at))
        .collect();
    assert_eq!(
        summary,
        vec![
            (TargetState::Up, at(0), Some(at(30)), at(30)),
            (TargetState::Down, at(30), Some(at(60)), at(60)),
            (TargetState::Up, at(60), None, at(75)),
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
        .state_intervals(&pg, at(40), at(50))
        .await
        .expect("read");
    assert_eq!(window.len(), 1);
    assert_eq!(window[0].state, TargetState::Down);

    // A probe: its health, not its run outcome, is the state. A run that succeeded with
    // `probe_success 0` is down; a run without an attempt (no health) is a gap; slower than
    // `degraded_after` is degraded.
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
    let mut tracker = StateTracker::default();
    let mut batch = StateBatch::default();
    for snapshot in [
        probe(200, Outcome::Success, Some(Health::Up)),
        probe(215, Outcome::Success, Some(http_status)),
        probe(230, Outcome::Success, Some(http_status)),
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
        .map(|i| (i.state, i.started_at, i.ended_at, i.last_seen_at))
        .collect();
    assert_eq!(
        summary,
        vec![
            (TargetState::Up, at(200), Some(at(215)), at(215)),
            (TargetState::Down, at(215), Some(at(245)), at(245)),
            (TargetState::Degraded, at(260), None, at(275)),
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

#[tokio::test]
async fn a_bad_store_url_is_a_clear_error_without_the_password() {
    let url = SecretUrl::new("postgres://u:Store-Secret-993@127.0.0.1:1/x".to_string());
    let error = Store::open(&url)
        .await
        .expect_err("nothing listens on port 1");
    let text = format!("{error:#}");
    assert!(!text.contains("Store-Secret-993"), "{text}");
    assert!(text.contains("postgres://u:***@127.0.0.1:1/x"), "{text}");
}
