//! The durable outbox on both store backends, delivered to the fake Discord: nothing is lost
//! while Discord is down, order per route holds, a crashed sender duplicates at most its one
//! in-flight row, two instances sharing PostgreSQL never send a row twice, resolves edit the
//! original message, a deleted webhook disables its route and is reported on another, and a
//! message Discord refuses (other 4xx) is logged, counted and dropped, never retried.
//! What alerting must not forget across a restart (held alerts, MonitoringDegraded, disabled
//! routes) round-trips through both backends.

#[path = "support/discord.rs"]
mod discord;
#[path = "support/log_capture.rs"]
mod log_capture;
mod support;

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use discord::{FakeDiscord, Fault};
use fedimeter::config::SecretUrl;
use fedimeter::notify::discord::client::{ClientOptions, DiscordClient, Route};
use fedimeter::notify::discord::{Embed, Message};
use fedimeter::notify::dispatch::Dispatcher;
use fedimeter::notify::dispatch::webhook_fingerprint;
use fedimeter::notify::outbox::{DisabledRoute, NewRow, Outbox, RowKind, StoredAlert};
use fedimeter::store::Store;
use log_capture::CapturedLog;

fn client() -> Arc<DiscordClient> {
    client_with(ClientOptions::default())
}

fn client_with(base: ClientOptions) -> Arc<DiscordClient> {
    Arc::new(
        DiscordClient::new(ClientOptions {
            timeout: Duration::from_millis(500),
            max_attempts: 2,
            backoff_base: Duration::from_millis(20),
            backoff_max: Duration::from_millis(50),
            ..base
        })
        .expect("client"),
    )
}

fn route(name: &str, url: String) -> Route {
    Route {
        name: name.to_string(),
        channel: name.to_string(),
        url: SecretUrl::opaque(url),
    }
}

fn text(title: &str) -> Message {
    Message {
        embeds: vec![Embed {
            title: title.to_string(),
            ..Embed::default()
        }],
        ..Message::default()
    }
}

fn row(route: &str, title: &str) -> NewRow {
    NewRow {
        route: route.to_string(),
        kind: RowKind::Post,
        alert_key: None,
        message: text(title),
    }
}

fn titles(fake: &FakeDiscord, webhook: &str) -> Vec<String> {
    fake.accepted()
        .iter()
        .filter(|r| r.webhook_id == webhook)
        .filter_map(|r| r.body["embeds"][0]["title"].as_str().map(String::from))
        .collect()
}

/// Makes rows due again (a retry sets `not_before` seconds ahead).
async fn make_due(store: &Store) {
    let sql = "UPDATE alert_outbox SET not_before = 0";
    fedimeter::on_pool!(store, |pool| sqlx::query(sql)
        .execute(pool)
        .await
        .map(|r| r.rows_affected())
        .expect("reset not_before"));
}

async fn scenario(url: String) {
    let store = Store::open(&SecretUrl::new(url.clone()))
        .await
        .expect("store");
    let fake = FakeDiscord::start().await;
    let a = route("a", fake.webhook("1", "tok-a", "a"));
    let b = route("b", fake.webhook("2", "tok-b", "b"));
    let outbox = Outbox::new(store.clone(), "host-1", Duration::from_secs(600));
    let dispatcher = Dispatcher::new(outbox.clone(), client(), vec![a.clone(), b.clone()]);

    // Discord down: nothing is lost, nothing marked.
    fake.set_down(Some(Fault::ServerError));
    let rows: Vec<NewRow> = (0..4).map(|i| row("a", &format!("a{i}"))).collect();
    outbox
        .enqueue(&rows, SystemTime::now())
        .await
        .expect("enqueue");
    assert_eq!(dispatcher.drain_route(&a).await.expect("drain"), 0);
    assert_eq!(
        outbox.pending().await.expect("pending"),
        vec![("a".to_string(), 4)]
    );
    assert!(fake.accepted().is_empty());
    // Discord back: everything, in order, once.
    fake.set_down(None);
    make_due(&store).await;
    assert_eq!(dispatcher.drain_route(&a).await.expect("drain"), 4);
    assert_eq!(titles(&fake, "1"), ["a0", "a1", "a2", "a3"]);
    assert!(outbox.pending().await.expect("pending").is_empty());
    assert_eq!(
        dispatcher.counters().get(&("a".to_string(), "sent")),
        Some(&4)
    );

    // A crash with a row in flight: the restarted instance releases its own claim and sends
    // that row (the one possible duplicate) before the next.
    outbox
        .enqueue(&[row("a", "a4"), row("a", "a5")], SystemTime::now())
        .await
        .expect("enqueue");
    let inflight = outbox
        .claim("a", SystemTime::now())
        .await
        .expect("claim")
        .expect("a row");
    assert_eq!(inflight.message, text("a4"));
    // While the claim is live, nobody (this name or another) can take the head of route a.
    let other = Outbox::new(store.clone(), "host-2", Duration::from_secs(600));
    assert!(
        other
            .claim("a", SystemTime::now())
            .await
            .expect("claim")
            .is_none()
    );
    assert!(
        outbox
            .claim("a", SystemTime::now())
            .await
            .expect("claim")
            .is_none()
    );
    let restarted = Outbox::new(store.clone(), "host-1", Duration::from_secs(600));
    assert_eq!(restarted.release_own_claims().await.expect("release"), 1);
    let dispatcher2 = Dispatcher::new(restarted.clone(), client(), vec![a.clone(), b.clone()]);
    assert_eq!(dispatcher2.drain_route(&a).await.expect("drain"), 2);
    assert_eq!(titles(&fake, "1"), ["a0", "a1", "a2", "a3", "a4", "a5"]);
    // Another instance takes over a claim only after its lease ran out.
    restarted
        .enqueue(&[row("a", "a6")], SystemTime::now())
        .await
        .expect("enqueue");
    let stale = restarted
        .claim("a", SystemTime::now())
        .await
        .expect("claim")
        .expect("row");
    assert!(
        other
            .claim("a", SystemTime::now())
            .await
            .expect("claim")
            .is_none()
    );
    let later = SystemTime::now() + Duration::from_secs(601);
    let taken = other
        .claim("a", later)
        .await
        .expect("claim")
        .expect("lease expired");
    assert_eq!(taken.id, stale.id);
    // The old holder can no longer mark it.
    restarted
        .complete(
            &stale,
            fedimeter::notify::outbox::Done::Sent,
            None,
            SystemTime::now(),
        )
        .await
        .expect("complete");
    assert_eq!(
        restarted.pending().await.expect("pending"),
        vec![("a".to_string(), 1)]
    );
    other
        .complete(
            &taken,
            fedimeter::notify::outbox::Done::Sent,
            None,
            SystemTime::now(),
        )
        .await
        .expect("complete");

    // A resolve edits the original message in place.
    let firing = NewRow {
        route: "b".into(),
        kind: RowKind::Post,
        alert_key: Some("PostgresDown{target=\"main\"}".into()),
        message: text("🔴 FIRING: PostgresDown"),
    };
    let resolved = NewRow {
        kind: RowKind::Edit,
        message: text("✅ RESOLVED: PostgresDown"),
        ..firing.clone()
    };
    outbox
        .enqueue(&[firing, resolved, row("b", "notice")], SystemTime::now())
        .await
        .expect("enqueue");
    assert_eq!(dispatcher.drain_route(&b).await.expect("drain"), 3);
    let reqs: Vec<_> = fake
        .accepted()
        .into_iter()
        .filter(|r| r.webhook_id == "2")
        .collect();
    assert_eq!(reqs.len(), 3);
    assert_eq!((reqs[0].method.as_str(), reqs[0].wait), ("POST", true));
    assert_eq!(reqs[1].method, "PATCH");
    assert_eq!(reqs[1].message_id, reqs[0].created_id);
    let id = reqs[0].created_id.clone().expect("id");
    assert_eq!(
        fake.message(&id).expect("message")["embeds"][0]["title"],
        "✅ RESOLVED: PostgresDown"
    );
    assert_eq!(reqs[2].method, "POST");

    // A deleted webhook: the route stops, its rows are dropped, route b hears about it.
    fake.delete_webhook("1");
    outbox
        .enqueue(&[row("a", "a7"), row("a", "a8")], SystemTime::now())
        .await
        .expect("enqueue");
    dispatcher.drain_route(&a).await.expect("drain");
    assert!(dispatcher.is_disabled("a"));
    let calls_to_a = fake
        .requests()
        .iter()
        .filter(|r| r.webhook_id == "1")
        .count();
    dispatcher.drain_route(&a).await.expect("drain");
    assert_eq!(
        fake.requests()
            .iter()
            .filter(|r| r.webhook_id == "1")
            .count(),
        calls_to_a,
        "a deleted webhook is not called again"
    );
    dispatcher.drain_route(&b).await.expect("drain");
    let last = fake.accepted().last().cloned().expect("report");
    assert_eq!(last.webhook_id, "2");
    let report = last.body["embeds"][0]["description"]
        .as_str()
        .unwrap_or("")
        .to_string();
    assert!(report.contains("**a**"), "{report}");
    assert!(report.contains("1 pending"), "{report}");
    assert!(!report.contains("tok-a"));
    assert!(outbox.pending().await.expect("pending").is_empty());
    store.close().await;
}

#[tokio::test]
async fn sqlite_outbox_delivers_everything_in_order_once() {
    let dir = tempfile::tempdir().expect("temp dir");
    scenario(format!(
        "sqlite://{}",
        dir.path().join("fedimeter.db").display()
    ))
    .await;
}

#[tokio::test]
async fn postgres_outbox_delivers_everything_in_order_once() {
    let pg = support::PgServer::start();
    pg.create_database("fedimeter_outbox");
    scenario(pg.url("fedimeter_outbox")).await;
}

#[tokio::test]
async fn two_instances_sharing_postgres_never_send_a_row_twice() {
    let pg = support::PgServer::start();
    pg.create_database("fedimeter_shared");
    let url = SecretUrl::new(pg.url("fedimeter_shared"));
    let store1 = Store::open(&url).await.expect("store");
    let store2 = Store::open(&url).await.expect("store");
    let fake = FakeDiscord::with_limits(
        (1000, Duration::from_secs(1)),
        (1000, Duration::from_secs(1)),
    )
    .await;
    let r = route("ops", fake.webhook("1", "tok", "ops"));
    let rows: Vec<NewRow> = (0..60).map(|i| row("ops", &format!("m{i:02}"))).collect();
    Outbox::new(store1.clone(), "x", Duration::from_secs(600))
        .enqueue(&rows, SystemTime::now())
        .await
        .expect("enqueue");
    // The fake's buckets are roomy here; so are the clients'.
    let roomy = || {
        client_with(ClientOptions {
            webhook_limit: (1000, Duration::from_secs(1)),
            channel_limit: (1000, Duration::from_secs(1)),
            ..ClientOptions::default()
        })
    };
    let d1 = Dispatcher::new(
        Outbox::new(store1, "host-1", Duration::from_secs(600)),
        roomy(),
        vec![r.clone()],
    );
    let d2 = Dispatcher::new(
        Outbox::new(store2, "host-2", Duration::from_secs(600)),
        roomy(),
        vec![r.clone()],
    );
    let mut tasks = Vec::new();
    for d in [d1.clone(), d2.clone()] {
        let r = r.clone();
        tasks.push(tokio::spawn(async move {
            let mut total = 0;
            let deadline = std::time::Instant::now() + Duration::from_secs(30);
            while std::time::Instant::now() < deadline {
                total += d.drain_route(&r).await.expect("drain");
                if d.outbox().pending().await.expect("pending").is_empty() {
                    break;
                }
                tokio::task::yield_now().await;
            }
            total
        }));
    }
    let mut sent = 0;
    for t in tasks {
        sent += t.await.expect("task");
    }
    assert_eq!(sent, 60);
    let got = titles(&fake, "1");
    let expected: Vec<String> = (0..60).map(|i| format!("m{i:02}")).collect();
    assert_eq!(got, expected, "every row once, in order");
    // Between them, the two instances sent each row exactly once.
    let by = |d: &Dispatcher| {
        d.counters()
            .get(&("ops".to_string(), "sent"))
            .copied()
            .unwrap_or(0)
    };
    assert_eq!(by(&d1) + by(&d2), 60);
}

/// Discord refuses one message with a 400 and its error body (code 50006, as it answers an
/// empty message): the dispatcher logs Discord's message without the webhook URL, counts
/// `result="rejected"` once, marks the row done without retrying it (the fake sees it
/// exactly once), and the rows behind it on the route still go out, in order.
#[tokio::test]
async fn a_message_discord_refuses_is_logged_counted_and_dropped_and_the_rest_go_out() {
    let captured = CapturedLog::install_global();

    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("fedimeter.db").display());
    let store = Store::open(&SecretUrl::new(url)).await.expect("store");
    let fake = FakeDiscord::start().await;
    let token = "tok-refused-Qx71";
    let webhook = fake.webhook("7", token, "ops");
    let ops = route("ops", webhook.clone());
    let outbox = Outbox::new(store.clone(), "host-1", Duration::from_secs(600));
    let dispatcher = Dispatcher::new(outbox.clone(), client(), vec![ops.clone()]);
    fake.reject_titled("r1", 50006, "Cannot send an empty message");
    let rows: Vec<NewRow> = (0..4).map(|i| row("ops", &format!("r{i}"))).collect();
    outbox
        .enqueue(&rows, SystemTime::now())
        .await
        .expect("enqueue");

    // Every row is finished in one drain: three sent, the refused one dropped.
    assert_eq!(dispatcher.drain_route(&ops).await.expect("drain"), 4);
    let seen: Vec<(String, u16)> = fake
        .requests()
        .iter()
        .map(|r| {
            (
                r.body["embeds"][0]["title"]
                    .as_str()
                    .unwrap_or("")
                    .to_string(),
                r.status,
            )
        })
        .collect();
    let expected: Vec<(String, u16)> = [("r0", 200), ("r1", 400), ("r2", 200), ("r3", 200)]
        .iter()
        .map(|(t, s)| (t.to_string(), *s))
        .collect();
    assert_eq!(seen, expected, "one request per row, in order");
    assert_eq!(titles(&fake, "7"), ["r0", "r2", "r3"]);
    assert!(outbox.pending().await.expect("pending").is_empty());

    // Never retried: a later drain, even with every retry delay over, sends nothing.
    make_due(&store).await;
    assert_eq!(dispatcher.drain_route(&ops).await.expect("drain"), 0);
    assert_eq!(fake.requests().len(), 4);

    // Counted: fedimeter_notifications_total{route,result}.
    let families = fedimeter::notify::metrics::dispatcher_families(&dispatcher, &[]);
    let text = fedimeter::export::exposition::render_families(
        families.iter().map(|f| (f, None)),
        fedimeter::export::exposition::Format::Text,
    );
    for line in [
        "fedimeter_notifications_total{route=\"ops\",result=\"rejected\"} 1",
        "fedimeter_notifications_total{route=\"ops\",result=\"sent\"} 3",
        "fedimeter_notifications_total{route=\"ops\",result=\"retried\"} 0",
        "fedimeter_outbox_pending{route=\"ops\"} 0",
    ] {
        assert!(text.lines().any(|l| l == line), "no {line:?} in\n{text}");
    }

    // Logged with Discord's message and code, never with the webhook's URL or token.
    let log = captured.text();
    let refused: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("discord rejected a notification"))
        .collect();
    assert_eq!(refused.len(), 1, "{log}");
    for part in [
        "route=ops",
        "status=400",
        "code=50006",
        "Cannot send an empty message",
    ] {
        assert!(
            refused[0].contains(part),
            "{part:?} missing: {}",
            refused[0]
        );
    }
    assert!(!log.contains(token), "the webhook token leaked:\n{log}");
    assert!(!log.contains(&webhook), "the webhook URL leaked:\n{log}");
    store.close().await;
}
fn stored(key: &str, alertname: &str, rule_index: i64, held: bool, labels: &str) -> StoredAlert {
    StoredAlert {
        key: key.to_string(),
        alertname: alertname.to_string(),
        rule_index,
        state: "firing".to_string(),
        active_since: 1_800_000_000_000,
        firing_since: Some(1_800_000_015_000),
        last_true_at: 1_800_000_030_000,
        last_sent_at: Some(1_800_000_015_000),
        announced: !held,
        held,
        target: "web".to_string(),
        labels: labels.to_string(),
        value: Some(0.0),
    }
}

/// Held alerts, MonitoringDegraded (rule_index -1) and disabled routes come back from the
/// store as they were written; a disabled route stays disabled for a dispatcher with the
/// same webhook URL and is enabled again (and forgotten) for one with a new URL.
async fn restart_state_round_trip(url: String) {
    let store = Store::open(&SecretUrl::new(url)).await.expect("store");
    let outbox = Outbox::new(store.clone(), "host-1", Duration::from_secs(600));
    let states = vec![
        stored(
            "MonitoringDegraded{}",
            "MonitoringDegraded",
            -1,
            false,
            r#"{"reason":"every probe fails at once (web, api)"}"#,
        ),
        stored(
            "ProbeDown{module=\"http\",target=\"web\"}",
            "ProbeDown",
            0,
            true,
            r#"{"module":"http","target":"web"}"#,
        ),
    ];
    outbox
        .commit(&[row("a", "firing")], Some(&states), SystemTime::now())
        .await
        .expect("commit");
    assert_eq!(outbox.load_states().await.expect("load"), states);
    // The next evaluation's set replaces it whole: the held alert was announced.
    let mut announced = states[1].clone();
    (announced.held, announced.announced) = (false, true);
    outbox
        .commit(
            &[],
            Some(std::slice::from_ref(&announced)),
            SystemTime::now(),
        )
        .await
        .expect("commit");
    assert_eq!(outbox.load_states().await.expect("load"), vec![announced]);

    let fake = FakeDiscord::start().await;
    let deleted = fake.webhook("1", "tok-old", "a");
    let fresh = fake.webhook("2", "tok-new", "a");
    let gone = DisabledRoute {
        route: "a".to_string(),
        since: 1_800_000_000_000,
        code: Some(10015),
        fingerprint: webhook_fingerprint(&deleted),
    };
    // Disabling drops the route's unsent rows (the one written above) in the same transaction.
    assert_eq!(
        outbox
            .disable_route(&gone, SystemTime::now())
            .await
            .expect("disable"),
        1
    );
    assert!(outbox.pending().await.expect("pending").is_empty());
    // Disabled again later: one entry, the newer one.
    let again = DisabledRoute {
        since: 1_800_000_060_000,
        code: None,
        ..gone.clone()
    };
    outbox
        .disable_route(&again, SystemTime::now())
        .await
        .expect("disable");
    assert_eq!(
        outbox.disabled_routes().await.expect("read"),
        vec![again.clone()]
    );
    let stored_text = format!("{:?}", outbox.disabled_routes().await.expect("read"));
    assert!(!stored_text.contains("tok-old"), "{stored_text}");

    // "Restarted" with the same URL: stays disabled, the row written for it is dropped, and
    // the deleted webhook is not called.
    let same = Dispatcher::new(outbox.clone(), client(), vec![route("a", deleted.clone())]);
    outbox
        .enqueue(&[row("a", "while disabled")], SystemTime::now())
        .await
        .expect("enqueue");
    assert_eq!(same.drain_route(&same.routes()[0]).await.expect("drain"), 0);
    assert!(same.is_disabled("a"));
    assert!(fake.requests().is_empty());
    assert!(outbox.pending().await.expect("pending").is_empty());
    assert_eq!(
        outbox.disabled_routes().await.expect("read"),
        vec![again.clone()]
    );

    // "Restarted" with a new URL: enabled again, forgotten in the store, and used.
    let renewed = Dispatcher::new(outbox.clone(), client(), vec![route("a", fresh)]);
    outbox
        .enqueue(&[row("a", "after the new url")], SystemTime::now())
        .await
        .expect("enqueue");
    assert_eq!(
        renewed
            .drain_route(&renewed.routes()[0])
            .await
            .expect("drain"),
        1
    );
    assert!(!renewed.is_disabled("a"));
    assert!(outbox.disabled_routes().await.expect("read").is_empty());
    assert_eq!(titles(&fake, "2"), ["after the new url"]);
    assert!(titles(&fake, "1").is_empty());
    assert!(!outbox.enable_route("a").await.expect("enable"));
    store.close().await;
}

#[tokio::test]
async fn sqlite_keeps_held_alerts_degraded_and_disabled_routes() {
    let dir = tempfile::tempdir().expect("temp dir");
    restart_state_round_trip(format!(
        "sqlite://{}",
        dir.path().join("fedimeter.db").display()
    ))
    .await;
}

#[tokio::test]
async fn postgres_keeps_held_alerts_degraded_and_disabled_routes() {
    let pg = support::PgServer::start();
    pg.create_database("fedimeter_restart");
    restart_state_round_trip(pg.url("fedimeter_restart")).await;
}

/// MonitoringDegraded while the store is away is posted without the outbox
/// (`Dispatcher::send_direct`): when the client gives up (5xx on each of its attempts), the
/// message is retried in memory until Discord takes it, once; its id, handed to the store
/// once it is back (`Outbox::remember_message`), makes the outbox's resolve an edit of it.
#[tokio::test]
async fn a_direct_post_is_retried_in_memory_and_its_resolve_edits_it_through_the_outbox() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("fedimeter.db").display());
    let store = Store::open(&SecretUrl::new(url)).await.expect("store");
    let fake = FakeDiscord::start().await;
    let ops = route("ops", fake.webhook("1", "tok", "ops"));
    let outbox = Outbox::new(store.clone(), "host-1", Duration::from_secs(600));
    let dispatcher = Dispatcher::new(outbox.clone(), client(), vec![ops.clone()]);

    // The client makes 2 attempts per try (`client()`): three 500s exhaust the first try
    // and fail the first attempt of the second.
    for _ in 0..3 {
        fake.push_fault(Fault::ServerError);
    }
    let started = std::time::Instant::now();
    let id = dispatcher
        .send_direct("ops", &text("🔴 FIRING: MonitoringDegraded"))
        .await
        .expect("a message id");
    // The in-memory retry waited backoff(0, 2 s) = between 1 s and 2 s.
    assert!(
        started.elapsed() >= Duration::from_secs(1),
        "{:?}",
        started.elapsed()
    );
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 500, 500, 200]);
    assert_eq!(
        titles(&fake, "1"),
        ["🔴 FIRING: MonitoringDegraded".to_string()]
    );
    assert!(fake.accepted()[0].wait, "posted with ?wait=true");
    let counters = dispatcher.counters();
    assert_eq!(counters.get(&("ops".to_string(), "sent")), Some(&1));
    assert_eq!(counters.get(&("ops".to_string(), "retried")), Some(&1));
    // Nothing went through the outbox.
    assert!(outbox.pending().await.expect("pending").is_empty());

    // The store is back: the id is remembered, the resolve is an outbox edit of it.
    outbox
        .remember_message("ops", "MonitoringDegraded{}", &id, SystemTime::now())
        .await
        .expect("remember");
    let resolve = NewRow {
        route: "ops".to_string(),
        kind: RowKind::Edit,
        alert_key: Some("MonitoringDegraded{}".to_string()),
        message: text("✅ RESOLVED: MonitoringDegraded"),
    };
    outbox
        .enqueue(&[resolve], SystemTime::now())
        .await
        .expect("enqueue");
    assert_eq!(dispatcher.drain_route(&ops).await.expect("drain"), 1);
    let last = fake.accepted().last().cloned().expect("the edit");
    assert_eq!(last.method, "PATCH");
    assert_eq!(last.message_id.as_deref(), Some(id.as_str()));
    assert_eq!(
        fake.message(&id).expect("the message")["embeds"][0]["title"],
        "✅ RESOLVED: MonitoringDegraded"
    );
    // The edit resolved it: the id is forgotten.
    assert_eq!(
        outbox
            .message_id("ops", "MonitoringDegraded{}")
            .await
            .expect("read"),
        None
    );
    // A route that is not configured is not posted to.
    assert_eq!(dispatcher.send_direct("other", &text("x")).await, None);
    store.close().await;
}
