//! Discord delivery against the fake Discord (`tests/support/discord.rs`): the fake itself
//! answers as Discord documents, built messages are always accepted, and the client honours
//! rate limits, `retry_after`, backoff, hangs, deleted webhooks and rejections.

#[path = "support/discord.rs"]
mod discord;

use std::time::{Duration, Instant};

use discord::{FakeDiscord, Fault};
use fedimeter::config::SecretUrl;
use fedimeter::notify::discord::client::{
    ClientOptions, DeliveryError, DiscordClient, Outcome, Route,
};
use fedimeter::notify::discord::message::{Style, alert_message, digest_message, plan};
use fedimeter::notify::discord::{Embed, Message};
use fedimeter::notify::{Notice, Severity, Transition};
use serde_json::{Value, json};

fn route(name: &str, channel: &str, url: String) -> Route {
    Route {
        name: name.to_string(),
        channel: channel.to_string(),
        url: SecretUrl::opaque(url),
    }
}

fn fast() -> ClientOptions {
    ClientOptions {
        timeout: Duration::from_millis(500),
        max_attempts: 4,
        max_rate_limited: 5,
        backoff_base: Duration::from_millis(50),
        backoff_max: Duration::from_millis(200),
        ..ClientOptions::default()
    }
}

fn simple(text: &str) -> Message {
    Message {
        embeds: vec![Embed {
            title: text.to_string(),
            ..Embed::default()
        }],
        ..Message::default()
    }
}

fn notice(i: usize, severity: Severity) -> Notice {
    Notice {
        alertname: format!("SidekiqQueueLatencyHigh{i}"),
        severity,
        transition: Transition::Firing,
        summary: format!("queue q{i} is 412 s behind"),
        description: String::new(),
        value: Some("412 s".into()),
        threshold: Some("> 300 s".into()),
        since_unix: 1_800_000_000,
        component: Some("federation".into()),
        target: Some("redis".into()),
        runbook: None,
        labels: vec![("queue".into(), format!("q{i}"))],
    }
}

async fn raw_post(url: &str, body: Value) -> (u16, reqwest::header::HeaderMap, Value) {
    let resp = reqwest::Client::new()
        .post(url)
        .json(&body)
        .send()
        .await
        .expect("posting to the fake");
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp.json::<Value>().await.unwrap_or(Value::Null);
    (status, headers, body)
}

#[tokio::test]
async fn the_fake_answers_as_discord_documents() {
    let fake = FakeDiscord::start().await;
    let url = fake.webhook("1", "tok", "alerts");

    // wait=true: 200 and a message object with a snowflake id.
    let (status, headers, body) =
        raw_post(&format!("{url}?wait=true"), json!({"content": "hi"})).await;
    assert_eq!(status, 200);
    let id = body["id"].as_str().expect("an id").to_string();
    assert!(id.parse::<u64>().expect("numeric snowflake") > 1 << 22);
    assert_eq!(headers["x-ratelimit-limit"], "5");
    assert_eq!(headers["x-ratelimit-remaining"], "4");
    assert_eq!(headers["x-ratelimit-bucket"], "webhook-1");
    assert!(headers.contains_key("x-ratelimit-reset-after"));
    assert!(headers.contains_key("x-ratelimit-reset"));

    // Without wait: 204.
    let resp = reqwest::Client::new()
        .post(&url)
        .json(&json!({"content": "hi"}))
        .send()
        .await
        .expect("post");
    assert_eq!(resp.status().as_u16(), 204);

    // Each documented limit, one character over: 400 Invalid Form Body naming the field.
    let x = |n: usize| "x".repeat(n);
    let cases = [
        (json!({"content": x(2001)}), "/content"),
        (json!({"embeds": [{"title": x(257)}]}), "/embeds/0/title"),
        (
            json!({"embeds": [{"description": x(4097)}]}),
            "/embeds/0/description",
        ),
        (
            json!({"embeds": [{"footer": {"text": x(2049)}}]}),
            "/embeds/0/footer/text",
        ),
        (
            json!({"embeds": [{"author": {"name": x(257)}}]}),
            "/embeds/0/author/name",
        ),
        (
            json!({"embeds": [{"fields": [{"name": x(257), "value": "v"}]}]}),
            "/embeds/0/fields/0/name",
        ),
        (
            json!({"embeds": [{"fields": [{"name": "n", "value": x(1025)}]}]}),
            "/embeds/0/fields/0/value",
        ),
        (
            json!({"embeds": [{"fields": [{"name": "n", "value": ""}]}]}),
            "/embeds/0/fields/0/value",
        ),
        (
            json!({"embeds": [{"fields": vec![json!({"name": "n", "value": "v"}); 26]}]}),
            "/embeds/0/fields",
        ),
        (
            json!({"embeds": vec![json!({"title": "t"}); 11]}),
            "/embeds",
        ),
        (
            json!({"embeds": [{"description": x(4096)}, {"description": x(1905)}]}),
            "/embeds",
        ),
    ];
    // A fake with roomy buckets so the limits are the only thing tested here.
    let roomy =
        FakeDiscord::with_limits((100, Duration::from_secs(1)), (100, Duration::from_secs(1)))
            .await;
    let roomy_url = roomy.webhook("2", "tok", "c");
    for (body, pointer) in cases {
        let (status, _, answer) = raw_post(&roomy_url, body).await;
        assert_eq!(status, 400, "{pointer}");
        assert_eq!(answer["code"], 50035, "{pointer}");
        assert_eq!(answer["message"], "Invalid Form Body");
        let errors = answer["errors"].pointer(pointer).unwrap_or(&Value::Null);
        assert!(errors.get("_errors").is_some(), "{pointer}: {answer}");
    }
    // Characters, not bytes: 2000 emoji are fine; surrounding whitespace does not count.
    let (status, _, _) = raw_post(&roomy_url, json!({"content": "🔥".repeat(2000)})).await;
    assert_eq!(status, 204);
    let (status, _, _) = raw_post(&roomy_url, json!({"content": format!("  {}  ", x(2000))})).await;
    assert_eq!(status, 204);
    // Exactly 6000 across embeds is fine.
    let (status, _, _) = raw_post(
        &roomy_url,
        json!({"embeds": [{"description": x(4096)}, {"description": x(1904)}]}),
    )
    .await;
    assert_eq!(status, 204);
    let (status, _, answer) = raw_post(&roomy_url, json!({"content": "  "})).await;
    assert_eq!((status, answer["code"].clone()), (400, json!(50006)));
    let (status, _, _) = raw_post(
        &roomy_url,
        json!({"content": "x", "allowed_mentions": {"parse": ["roles"], "roles": ["1"]}}),
    )
    .await;
    assert_eq!(status, 400);

    // PATCH edits a message of this webhook; another id is Unknown Message.
    let patched = reqwest::Client::new()
        .patch(format!("{url}/messages/{id}"))
        .json(&json!({"content": "edited"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(patched.status().as_u16(), 200);
    assert_eq!(fake.message(&id).expect("stored")["content"], "edited");
    let resp = reqwest::Client::new()
        .patch(format!("{url}/messages/999"))
        .json(&json!({"content": "edited"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(resp.status().as_u16(), 404);

    // The bucket: five requests per two seconds; the sixth is a real 429.
    let fresh = fake.webhook("3", "tok", "other");
    for i in 0..5 {
        let (status, headers, _) = raw_post(&fresh, json!({"content": "x"})).await;
        assert_eq!(status, 204);
        assert_eq!(
            headers["x-ratelimit-remaining"],
            (4 - i).to_string().as_str()
        );
    }
    let (status, headers, body) = raw_post(&fresh, json!({"content": "x"})).await;
    assert_eq!(status, 429);
    assert_eq!(body["message"], "You are being rate limited.");
    assert!(body["retry_after"].as_f64().expect("retry_after") > 0.0);
    assert_eq!(body["global"], false);
    assert!(headers.contains_key("retry-after"));
    assert_eq!(fake.rate_limit_violations(), 1);

    // Scripted and permanent faults.
    fake.push_fault(Fault::RateLimited(0.35));
    let (status, headers, body) = raw_post(&url, json!({"content": "x"})).await;
    assert_eq!((status, body["retry_after"].as_f64()), (429, Some(0.35)));
    assert_eq!(headers["retry-after"], "1");
    fake.push_fault(Fault::ServerError);
    assert_eq!(raw_post(&url, json!({"content": "x"})).await.0, 500);
    fake.delete_webhook("1");
    let (status, _, body) = raw_post(&url, json!({"content": "x"})).await;
    assert_eq!(
        (status, body),
        (404, json!({"message": "Unknown Webhook", "code": 10015}))
    );
}

#[tokio::test]
async fn every_built_message_is_accepted() {
    let fake = FakeDiscord::with_limits(
        (1000, Duration::from_secs(1)),
        (1000, Duration::from_secs(1)),
    )
    .await;
    let url = fake.webhook("1", "tok", "c");
    let client = DiscordClient::new(fast()).expect("client");
    let r = route("ops", "c", url);
    let style = Style {
        mention_role: Some("987654321".into()),
        status_page: Some("https://status.example.social".into()),
    };
    let hostile = "@everyone <@&1> **x** `y` ||z|| ".repeat(500);
    let mut messages = Vec::new();
    for severity in [Severity::Critical, Severity::Warning, Severity::Info] {
        let mut n = notice(1, severity);
        n.summary = hostile.clone();
        n.description = hostile.clone();
        n.alertname = hostile.clone();
        n.target = Some(hostile.clone());
        n.labels = (0..40)
            .map(|i| (format!("l{i}{hostile}"), hostile.clone()))
            .collect();
        messages.push(alert_message(&n, &style));
    }
    let many: Vec<Notice> = (0..300).map(|i| notice(i, Severity::Critical)).collect();
    messages.push(digest_message(&many, &style));
    for m in &messages {
        let outcome = client.post(&r, m, true).await.expect("delivered");
        assert!(
            matches!(
                outcome,
                Outcome::Sent {
                    message_id: Some(_)
                }
            ),
            "{outcome:?}"
        );
    }
    for rec in fake.requests() {
        assert_eq!(rec.status, 200);
        // Nothing can ping but the whitelisted role.
        assert_eq!(rec.body["allowed_mentions"]["parse"], json!([]));
        let roles = rec.body["allowed_mentions"]["roles"].clone();
        assert!(roles.is_null() || roles == json!(["987654321"]), "{roles}");
        assert!(!rec.body.to_string().contains("@everyone"));
        assert_eq!(
            rec.header("user-agent")
                .map(|u| u.starts_with("DiscordBot (")),
            Some(true)
        );
    }
    // Info goes out silently.
    assert_eq!(fake.requests()[2].body["flags"], 4096);
}

#[tokio::test]
async fn a_429_is_waited_out_and_the_same_message_sent_once() {
    let fake = FakeDiscord::start().await;
    let r = route("ops", "c", fake.webhook("1", "tok", "c"));
    let client = DiscordClient::new(fast()).expect("client");
    fake.push_fault(Fault::RateLimited(0.35));
    let started = Instant::now();
    let outcome = client
        .post(&r, &simple("one"), true)
        .await
        .expect("delivered");
    let elapsed = started.elapsed();
    assert!(matches!(
        outcome,
        Outcome::Sent {
            message_id: Some(_)
        }
    ));
    let reqs = fake.requests();
    assert_eq!(reqs.len(), 2);
    assert_eq!(reqs[0].status, 429);
    assert_eq!(reqs[1].status, 200);
    assert_eq!(reqs[0].body, reqs[1].body);
    assert!(
        reqs[1].at - reqs[0].at >= Duration::from_millis(350),
        "{:?}",
        reqs[1].at - reqs[0].at
    );
    assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
    assert_eq!(fake.accepted().len(), 1);
    assert_eq!(client.stats().rate_limited.get("ops"), Some(&1));
}

#[tokio::test]
async fn server_errors_and_hangs_are_retried_with_backoff() {
    let fake = FakeDiscord::start().await;
    let r = route("ops", "c", fake.webhook("1", "tok", "c"));
    let client = DiscordClient::new(fast()).expect("client");
    fake.push_fault(Fault::ServerError);
    fake.push_fault(Fault::Hang);
    fake.push_fault(Fault::ServerError);
    let outcome = client
        .post(&r, &simple("x"), false)
        .await
        .expect("delivered");
    assert_eq!(outcome, Outcome::Sent { message_id: None });
    let statuses: Vec<u16> = fake.requests().iter().map(|r| r.status).collect();
    assert_eq!(statuses, [500, 0, 500, 204]);
    let at: Vec<Instant> = fake.requests().iter().map(|r| r.at).collect();
    // First backoff ≥ base/2 (25 ms); the hang costs the 500 ms timeout.
    assert!(at[1] - at[0] >= Duration::from_millis(25));
    assert!(at[2] - at[1] >= Duration::from_millis(500));

    // Down for good: gives up after max_attempts with an error that names no secret.
    fake.set_down(Some(Fault::ServerError));
    let err = client
        .post(&r, &simple("x"), false)
        .await
        .expect_err("unavailable");
    let DeliveryError::Unavailable { attempts, .. } = &err;
    assert_eq!(*attempts, 4);
    assert!(!format!("{err:#} {err:?}").contains("tok"));

    // Nothing listening: a connection error, also without the URL.
    let gone = route(
        "dead",
        "d",
        "http://127.0.0.1:9/api/webhooks/5/secret-token-xyz".into(),
    );
    let err = client
        .post(&gone, &simple("x"), false)
        .await
        .expect_err("unavailable");
    let text = format!("{err:#} {err:?}");
    assert!(!text.contains("secret-token-xyz"), "{text}");
}

#[tokio::test]
async fn a_deleted_webhook_is_gone_and_a_bad_message_is_rejected_once() {
    let fake = FakeDiscord::start().await;
    let r = route("ops", "c", fake.webhook("1", "tok", "c"));
    let client = DiscordClient::new(fast()).expect("client");
    // A message that skipped enforce_limits: Discord's reason comes back, no retry.
    let bad = simple(&"x".repeat(300));
    let outcome = client.post(&r, &bad, false).await.expect("answered");
    assert_eq!(
        outcome,
        Outcome::Rejected {
            status: 400,
            code: Some(50035),
            message: "Invalid Form Body".into()
        }
    );
    assert_eq!(fake.requests().len(), 1);
    fake.delete_webhook("1");
    assert_eq!(
        client
            .post(&r, &simple("x"), false)
            .await
            .expect("answered"),
        // The fake answers a deleted webhook as Discord does: 404 with code 10015.
        Outcome::Gone { code: Some(10015) }
    );
    assert_eq!(fake.requests().len(), 2);
    // A PATCH of an unknown message is a rejection, not a dead webhook.
    let r2 = route("ops2", "c2", fake.webhook("2", "tok", "c2"));
    let outcome = client
        .edit(&r2, "42", &simple("x"))
        .await
        .expect("answered");
    assert!(matches!(
        outcome,
        Outcome::Rejected {
            status: 404,
            code: Some(10008),
            ..
        }
    ));
}

#[tokio::test]
async fn bursts_stay_within_the_webhook_and_channel_limits() {
    // Small windows keep the test short; client and fake agree on them.
    let webhook = (5, Duration::from_millis(600));
    let channel = (8, Duration::from_millis(1500));
    let fake = FakeDiscord::with_limits(webhook, channel).await;
    let a = route("a", "shared", fake.webhook("1", "tok", "shared"));
    let b = route("b", "shared", fake.webhook("2", "tok", "shared"));
    let client = std::sync::Arc::new(
        DiscordClient::new(ClientOptions {
            webhook_limit: webhook,
            channel_limit: channel,
            ..fast()
        })
        .expect("client"),
    );
    let mut tasks = Vec::new();
    for r in [a, b] {
        let client = client.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..10 {
                let outcome = client
                    .post(&r, &simple(&format!("{} {i}", r.name)), false)
                    .await;
                assert!(matches!(outcome, Ok(Outcome::Sent { .. })), "{outcome:?}");
            }
        }));
    }
    for t in tasks {
        t.await.expect("task");
    }
    assert_eq!(fake.rate_limit_violations(), 0);
    assert_eq!(fake.accepted().len(), 20);
    // In order per route.
    for name in ["a", "b"] {
        let titles: Vec<String> = fake
            .accepted()
            .iter()
            .filter_map(|r| r.body["embeds"][0]["title"].as_str().map(String::from))
            .filter(|t| t.starts_with(&format!("{name} ")))
            .collect();
        let expected: Vec<String> = (0..10).map(|i| format!("{name} {i}")).collect();
        assert_eq!(titles, expected);
    }
}

#[tokio::test]
async fn remaining_zero_and_reset_after_hold_the_next_request() {
    // The fake allows 2 per second; the client is told 50 per second, so only the headers
    // can keep it from a 429.
    let fake =
        FakeDiscord::with_limits((2, Duration::from_secs(1)), (100, Duration::from_secs(1))).await;
    let r = route("ops", "c", fake.webhook("1", "tok", "c"));
    let client = DiscordClient::new(ClientOptions {
        webhook_limit: (50, Duration::from_secs(1)),
        channel_limit: (50, Duration::from_secs(1)),
        ..fast()
    })
    .expect("client");
    for i in 0..5 {
        let outcome = client
            .post(&r, &simple(&i.to_string()), false)
            .await
            .expect("sent");
        assert!(matches!(outcome, Outcome::Sent { .. }));
    }
    assert_eq!(fake.rate_limit_violations(), 0);
    let at: Vec<Instant> = fake.accepted().iter().map(|r| r.at).collect();
    assert!(
        at[2] - at[0] >= Duration::from_millis(990),
        "{:?}",
        at[2] - at[0]
    );
    assert!(at[4] - at[2] >= Duration::from_millis(990));
}

#[tokio::test]
async fn thirty_alerts_at_once_make_one_digest() {
    let fake = FakeDiscord::start().await;
    let r = route("ops", "c", fake.webhook("1", "tok", "c"));
    let client = DiscordClient::new(fast()).expect("client");
    let notices: Vec<Notice> = (0..30).map(|i| notice(i, Severity::Warning)).collect();
    for m in plan(&notices, &Style::default()) {
        client.post(&r, &m, true).await.expect("sent");
    }
    let accepted = fake.accepted();
    assert_eq!(fake.requests().len(), 1);
    let description = accepted[0].body["embeds"][0]["description"]
        .as_str()
        .unwrap_or("");
    for i in 0..30 {
        assert!(
            description.contains(&format!("SidekiqQueueLatencyHigh{i} ")),
            "{i}"
        );
    }
}
