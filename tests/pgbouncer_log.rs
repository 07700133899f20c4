//! The PgBouncer collector's log line for a wrong password: one clear line, without the
//! password. In its own test binary because it captures the log with a thread-local
//! subscriber: tracing caches each call site's interest process-wide, and a test running
//! concurrently in the same binary (with no subscriber) can make the line disappear.

#[path = "support/log_capture.rs"]
mod log_capture;
mod support;

use std::time::Duration;

use fedimeter::collect::pgbouncer::{self, PgbouncerOptions};
use fedimeter::collect::runner;
use fedimeter::config::{PgbouncerTarget, SecretUrl, TargetCommon};
use fedimeter::model::{Health, Reason, Snapshot};
use support::pgbouncer::{PgBouncer, PgBouncerOptions, STATS_PASSWORD};
use support::postgres::PgServer;

use log_capture::CapturedLog;

const INTERVAL: Duration = Duration::from_secs(1);
const TIMEOUT: Duration = Duration::from_millis(500);

fn target(url: String, options: PgbouncerOptions) -> PgbouncerTarget {
    PgbouncerTarget {
        common: TargetCommon::written("main".to_owned(), INTERVAL, TIMEOUT),
        url: SecretUrl::new(url),
        options,
    }
}

fn up(snapshot: &Snapshot) -> Option<f64> {
    snapshot.value("pgbouncer_up", &[])
}

#[tokio::test(flavor = "current_thread")]
async fn wrong_password_is_down_with_one_clear_log_line_without_the_password() {
    let pg = PgServer::start();
    let bouncer = PgBouncer::start(&pg, PgBouncerOptions::default());
    let wrong_password = "Wr0ng-Secret-9417";
    assert_ne!(wrong_password, STATS_PASSWORD);
    let url = format!(
        "postgres://stats:{wrong_password}@127.0.0.1:{}/pgbouncer",
        bouncer.port()
    );
    let log = CapturedLog::default();
    let _guard = tracing::subscriber::set_default(log.subscriber());

    let job = pgbouncer::job(&target(url, PgbouncerOptions::default()));
    let snapshot = runner::collect_once(&job.id, job.timeout, job.collector).await;

    assert_eq!(up(&snapshot), Some(0.0));
    assert_eq!(snapshot.outcome.as_str(), "failed");
    assert_eq!(
        snapshot.health,
        Some(Health::Down {
            reason: Reason::Auth
        })
    );
    let text = log.text();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 1, "expected one log line, got:\n{text}");
    assert!(
        lines[0].contains(
            "cannot connect to the pgbouncer admin console postgres://stats:***@127.0.0.1:"
        ) && lines[0].contains("authentication failed")
            && lines[0].contains("check the user and password"),
        "unclear log line: {text}"
    );
    assert!(!text.contains(wrong_password), "password leaked: {text}");
}
