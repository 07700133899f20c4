//! "Monitoring degraded" when the store is away, through the real binary with a real
//! PostgreSQL 15 as the store and the fake Discord: the store stopped for longer than
//! `STORE_AWAY_AFTER` (60 s) is one MonitoringDegraded message naming the store, posted
//! directly (the outbox is in the store) through the same client and its 429 handling; a
//! probe alert that fires meanwhile is kept in memory; the store started again → the
//! MonitoringDegraded message is edited to resolved, a resolved notice is posted, then the
//! kept probe alert is delivered, once.

mod binary;
#[path = "support/discord.rs"]
mod discord;
#[path = "support/http_server.rs"]
mod http_server;
mod support;

use std::time::{Duration, Instant};

use binary::Workdir;
use discord::{FakeDiscord, Fault};
use http_server::{Reply, TestServer};

/// The documented threshold (`alert::STORE_AWAY_AFTER`, docs/alerts.md).
const STORE_AWAY_AFTER: Duration = Duration::from_secs(60);

fn config(store_url: &str, web: &TestServer, webhook: &str) -> String {
    let mut text = format!(
        "listen = \"127.0.0.1:0\"\n\
         [store]\n\
         url = \"{store_url}\"\n\
         [alerting]\n\
         evaluate_every = \"1s\"\n\
         builtin = false\n\
         [[alert]]\n\
         name = \"ProbeFailing\"\n\
         severity = \"warning\"\n\
         metric = \"probe_success\"\n\
         op = \"==\"\n\
         value = 0\n\
         summary = \"probe {{{{target}}}} fails\"\n\
         [[discord]]\n\
         name = \"ops\"\n\
         webhook_url = \"{webhook}\"\n"
    );
    // Two probes, one of which stays up: a failing one alone is not "every probe fails".
    for p in ["web", "api"] {
        text.push_str(&format!(
            "[[probe]]\nname = \"{p}\"\nurl = \"{}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n",
            web.url(&format!("/{p}"))
        ));
    }
    text
}

async fn wait_until(
    what: &str,
    limit: Duration,
    log: impl Fn() -> String,
    mut cond: impl FnMut() -> bool,
) {
    let started = Instant::now();
    while !cond() {
        assert!(
            started.elapsed() < limit,
            "timed out waiting for {what}\nlog:\n{}",
            log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `(method, first embed's title)` of every accepted request, in order.
fn accepted(fake: &FakeDiscord) -> Vec<(String, String)> {
    fake.accepted()
        .iter()
        .map(|r| {
            (
                r.method.clone(),
                r.body["embeds"][0]["title"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_away_is_one_direct_monitoring_degraded_resolved_when_it_is_back() {
    let mut pg = support::PgServer::start();
    pg.create_database("history");
    let fake = FakeDiscord::start().await;
    let webhook = fake.webhook("1", "tok", "ops");
    let web = TestServer::http().await;
    web.set("/web", Reply::ok("ok"));
    web.set("/api", Reply::ok("ok"));
    let work = Workdir::new(&config(&pg.url("history"), &web, &webhook));
    let server = work.serve(&[]);
    let log = || server.log();
    wait_until(
        "the alert states read from the store",
        Duration::from_secs(30),
        log,
        || server.log().contains("store ready"),
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        fake.requests().is_empty(),
        "no alert while everything is up"
    );

    pg.stop();
    let stopped = Instant::now();
    // The first direct post is answered 429: the client waits `retry_after` and sends the
    // same message again.
    fake.push_fault(Fault::RateLimited(0.5));
    // A real alert while the store is away: kept in memory, not sent.
    web.set("/web", Reply::status(503, "down"));
    wait_until(
        "the monitoring degraded message",
        STORE_AWAY_AFTER + Duration::from_secs(25),
        log,
        || !fake.accepted().is_empty(),
    )
    .await;
    let after = stopped.elapsed();
    eprintln!("monitoring degraded {after:?} after the store stopped");
    assert!(after >= STORE_AWAY_AFTER, "degraded after only {after:?}");
    let requests = fake.requests();
    assert_eq!(requests[0].status, 429, "{requests:?}");
    let degraded = fake.accepted()[0].clone();
    assert!(
        degraded.at.duration_since(requests[0].at) >= Duration::from_millis(500),
        "sent again before retry_after"
    );
    assert_eq!(degraded.method, "POST");
    assert!(degraded.wait, "posted with ?wait=true");
    assert_eq!(
        degraded.body["embeds"][0]["title"],
        "🔴 FIRING: MonitoringDegraded"
    );
    let description = degraded.body["embeds"][0]["description"]
        .as_str()
        .unwrap_or("");
    assert!(
        description.contains("the store is away since"),
        "{description}"
    );
    assert!(
        description.contains("notifications are queued in memory"),
        "{description}"
    );
    let id = degraded.created_id.clone().expect("message id");
    // Exactly one: not one per evaluation, and the probe alert waits for the store.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        accepted(&fake),
        [(
            "POST".to_string(),
            "🔴 FIRING: MonitoringDegraded".to_string()
        )],
        "{}",
        server.log()
    );

    pg.start_again();
    wait_until(
        "the resolve and the kept alert",
        Duration::from_secs(60),
        log,
        || fake.accepted().len() >= 4,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let reqs = fake.accepted();
    assert_eq!(
        accepted(&fake),
        [
            (
                "POST".to_string(),
                "🔴 FIRING: MonitoringDegraded".to_string()
            ),
            (
                "PATCH".to_string(),
                "✅ RESOLVED: MonitoringDegraded".to_string()
            ),
            (
                "POST".to_string(),
                "✅ Resolved: MonitoringDegraded".to_string()
            ),
            ("POST".to_string(), "🟠 FIRING: ProbeFailing".to_string()),
        ],
        "{}",
        server.log()
    );
    assert_eq!(reqs[1].message_id.as_deref(), Some(id.as_str()));
    let edited = fake.message(&id).expect("the degraded message");
    assert_eq!(
        edited["embeds"][0]["title"],
        "✅ RESOLVED: MonitoringDegraded"
    );
    assert_eq!(reqs[3].body["embeds"][0]["description"], "probe web fails");
    assert!(!server.log().contains("/api/webhooks/1/tok"));
}
