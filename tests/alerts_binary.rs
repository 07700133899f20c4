//! Alerts through the real binary, to the fake Discord: fedimeter killed with SIGKILL while
//! Discord is down, restarted, Discord back → every notification delivered, in order, none
//! twice; and a probe going down and back → one firing message, edited in place on resolve,
//! plus a resolved notice. Across a SIGKILL nothing alerting knows is forgotten: fedimeter's
//! own MonitoringDegraded and the alerts it holds, and a route whose webhook was deleted
//! (until the config names a new webhook).

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

fn config(web: &TestServer, webhook: &str, probes: &[&str]) -> String {
    let mut text = format!(
        "listen = \"127.0.0.1:0\"\n\
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
    for p in probes {
        text.push_str(&format!(
            "[[probe]]\nname = \"{p}\"\nurl = \"{}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n",
            web.url(&format!("/{p}"))
        ));
    }
    text
}

async fn wait_until(what: &str, limit: Duration, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < limit, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn titles(fake: &FakeDiscord) -> Vec<String> {
    fake.accepted()
        .iter()
        .filter(|r| r.method == "POST")
        .filter_map(|r| r.body["embeds"][0]["title"].as_str().map(String::from))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_discord_is_down_loses_nothing_and_sends_nothing_twice() {
    let fake = FakeDiscord::start().await;
    let webhook = fake.webhook("1", "tok", "ops");
    let web = TestServer::http().await;
    for p in ["p1", "p2", "p3"] {
        web.set(&format!("/{p}"), Reply::status(500, "down"));
    }
    // One probe stays up: not every probe fails, so fedimeter trusts what it sees.
    web.set("/ok", Reply::ok("ok"));
    fake.set_down(Some(Fault::ServerError));
    let work = Workdir::new(&config(&web, &webhook, &["p1", "p2", "p3", "ok"]));

    let mut first = work.serve(&[]);
    // All three alerts fired and were written; Discord refused the first attempts.
    wait_until("three alerts", Duration::from_secs(20), || {
        first.log().matches("alert changed").count() >= 3
    })
    .await;
    wait_until("a delivery attempt", Duration::from_secs(20), || {
        !fake.requests().is_empty()
    })
    .await;
    let fired_order: Vec<String> = first
        .log()
        .lines()
        .filter(|l| l.contains("alert changed"))
        .filter_map(|l| {
            ["p1", "p2", "p3"]
                .iter()
                .find(|p| {
                    l.contains(&format!("target=\"{p}\""))
                        || l.contains(&format!("target=\\\"{p}\\\""))
                })
                .map(|p| p.to_string())
        })
        .collect();
    assert_eq!(fired_order.len(), 3, "{}", first.log());
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reaped");
    assert!(fake.accepted().is_empty());

    // Restarted while Discord is still down, then Discord comes back.
    let second = work.serve(&[]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    fake.set_down(None);
    wait_until("three deliveries", Duration::from_secs(60), || {
        titles(&fake).len() >= 3
    })
    .await;
    // Nothing more arrives: the restored states do not fire again.
    tokio::time::sleep(Duration::from_secs(4)).await;
    let got = titles(&fake);
    assert_eq!(got.len(), 3, "none twice: {got:?}\n{}", second.log());
    let expected: Vec<String> = fired_order
        .iter()
        .map(|_| "🟠 FIRING: ProbeFailing".to_string())
        .collect();
    assert_eq!(got, expected);
    let targets: Vec<String> = fake
        .accepted()
        .iter()
        .filter_map(|r| {
            r.body["embeds"][0]["fields"]
                .as_array()
                .and_then(|f| f.iter().find(|f| f["name"] == "Target"))
                .and_then(|f| f["value"].as_str().map(String::from))
        })
        .collect();
    assert_eq!(targets, fired_order, "in the order they fired");
    assert_eq!(fake.rate_limit_violations(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_probe_down_then_back_is_one_message_edited_in_place_and_a_notice() {
    let fake = FakeDiscord::start().await;
    let webhook = fake.webhook("1", "tok", "ops");
    let web = TestServer::http().await;
    web.set("/web", Reply::ok("ok"));
    let work = Workdir::new(&config(&web, &webhook, &["web"]));
    let server = work.serve(&[]);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(fake.requests().is_empty(), "no alert while up");

    web.set("/web", Reply::status(503, "down"));
    wait_until("the firing message", Duration::from_secs(20), || {
        !fake.accepted().is_empty()
    })
    .await;
    let firing = fake.accepted()[0].clone();
    assert!(firing.wait, "posted with ?wait=true");
    let id = firing.created_id.clone().expect("message id");
    assert_eq!(firing.body["embeds"][0]["title"], "🟠 FIRING: ProbeFailing");
    assert_eq!(firing.body["embeds"][0]["description"], "probe web fails");
    assert_eq!(
        firing.body["allowed_mentions"]["parse"],
        serde_json::json!([])
    );

    web.set("/web", Reply::ok("ok"));
    wait_until("the edit and the notice", Duration::from_secs(20), || {
        fake.accepted().len() >= 3
    })
    .await;
    let reqs = fake.accepted();
    assert_eq!(reqs[1].method, "PATCH");
    assert_eq!(reqs[1].message_id.as_deref(), Some(id.as_str()));
    let edited = fake.message(&id).expect("message");
    assert_eq!(edited["embeds"][0]["title"], "✅ RESOLVED: ProbeFailing");
    assert_eq!(reqs[2].method, "POST");
    assert_eq!(
        reqs[2].body["embeds"][0]["title"],
        "✅ Resolved: ProbeFailing"
    );
    assert_eq!(reqs[2].body["flags"], 4096);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(fake.accepted().len(), 3, "{}", server.log());
    // The webhook URL is a secret: never in the log.
    assert!(!server.log().contains("/api/webhooks/1/tok"));

    // Self-metrics: three rows sent, none pending, no 429, the alert no longer firing.
    let expected = [
        "fedimeter_notifications_total{route=\"ops\",result=\"sent\"} 3",
        "fedimeter_notifications_total{route=\"ops\",result=\"rejected\"} 0",
        "fedimeter_outbox_pending{route=\"ops\"} 0",
        "fedimeter_discord_rate_limited_total{route=\"ops\"} 0",
        "fedimeter_discord_route_disabled{route=\"ops\"} 0",
        "fedimeter_alerts{alertname=\"ProbeFailing\",severity=\"warning\",state=\"firing\"} 0",
    ];
    let started = Instant::now();
    loop {
        let (_, _, body, _) = binary::get(&server.url("/metrics"), None).await;
        let missing: Vec<&str> = expected
            .iter()
            .copied()
            .filter(|l| !body.lines().any(|b| b == *l))
            .collect();
        if missing.is_empty() {
            assert!(!body.contains("/api/webhooks/1/tok"));
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "missing {missing:?} in\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_test_and_list_print_what_discord_and_the_store_say() {
    let fake = FakeDiscord::start().await;
    let ok = fake.webhook("1", "tok-ok", "ops");
    let dead = fake.webhook("2", "tok-dead", "ops");
    fake.delete_webhook("2");
    let web = TestServer::http().await;
    let mut text = config(&web, &ok, &[]);
    text.push_str(&format!(
        "[[discord]]\nname = \"old\"\nwebhook_url = \"{dead}\"\n"
    ));
    let work = std::sync::Arc::new(Workdir::new(&text));
    let w = work.clone();
    let out = tokio::task::spawn_blocking(move || w.run(&["alert", "test"], &[]))
        .await
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(!out.status.success(), "one route is dead: {stdout}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{stdout}");
    assert!(lines[0].starts_with("ops: sent (message id "), "{stdout}");
    assert_eq!(
        lines[1],
        "old: the webhook does not exist (404 Unknown Webhook): create a new one"
    );
    assert!(!stdout.contains("tok-"));
    let posted = &fake.accepted()[0];
    assert_eq!(posted.body["flags"], 4096);
    assert_eq!(
        posted.body["embeds"][0]["title"],
        "🔵 fedimeter test message"
    );

    let w = work.clone();
    let out =
        tokio::task::spawn_blocking(move || w.run(&["alert", "test", "--route", "nope"], &[]))
            .await
            .expect("run");
    assert_eq!(out.status.code(), Some(2));

    let w = work.clone();
    let out = tokio::task::spawn_blocking(move || w.run(&["alert", "list"], &[]))
        .await
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}");
    assert_eq!(
        stdout.lines().take(2).collect::<Vec<_>>(),
        [
            "RULE\tSEVERITY\tFOR\tCONDITION",
            "ProbeFailing\twarning\t0s\tprobe_success == 0"
        ]
    );
    assert!(stdout.contains("no alert is pending or firing"), "{stdout}");
}

/// While `serve` runs: `alert list` prints the live pending and firing alerts from the store
/// (state, since, value, target, key), a degraded probe's `target_degraded` alert reaches
/// Discord with its reason; then `alert test --route infra` calls only that route's webhook
/// and prints Discord's answer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_list_shows_live_states_and_alert_test_calls_only_the_named_route() {
    let fake = FakeDiscord::start().await;
    let ops = fake.webhook("1", "tok-ops", "ops");
    let infra = fake.webhook("2", "tok-infra", "infra");
    let web = TestServer::http().await;
    web.set("/broken", Reply::status(503, "down"));
    // Answers correctly, slower than its degraded_after.
    web.set("/slow", Reply::ok("ok").delayed(Duration::from_millis(400)));
    let text = format!(
        "listen = \"127.0.0.1:0\"\n\
         [alerting]\nevaluate_every = \"1s\"\nbuiltin = false\n\
         [[alert]]\nname = \"ProbeFailing\"\nseverity = \"warning\"\n\
         metric = \"probe_success\"\nop = \"==\"\nvalue = 0\n\
         [[alert]]\nname = \"ProbeFailingLong\"\nseverity = \"warning\"\n\
         metric = \"probe_success\"\nop = \"==\"\nvalue = 0\nfor = \"1h\"\n\
         [[alert]]\nname = \"ProbeSlow\"\nseverity = \"info\"\ntarget_degraded = \"probe\"\n\
         [[discord]]\nname = \"ops\"\nwebhook_url = \"{ops}\"\n\
         [[discord]]\nname = \"infra\"\nwebhook_url = \"{infra}\"\n\
         [[probe]]\nname = \"broken\"\nurl = \"{}\"\ninterval = \"1s\"\ntimeout = \"900ms\"\n\
         [[probe]]\nname = \"slow\"\nurl = \"{}\"\ninterval = \"1s\"\ntimeout = \"900ms\"\n\
         degraded_after = \"200ms\"\n",
        web.url("/broken"),
        web.url("/slow"),
    );
    let work = std::sync::Arc::new(Workdir::new(&text));
    let started = std::time::SystemTime::now();
    let mut server = work.serve(&[]);

    // The degraded probe's alert, on both routes, with its reason.
    wait_until("the ProbeSlow messages", Duration::from_secs(30), || {
        fake.accepted()
            .iter()
            .filter(|r| {
                r.body["embeds"][0]["title"]
                    .as_str()
                    .is_some_and(|t| t.contains("ProbeSlow"))
            })
            .count()
            >= 2
    })
    .await;
    let slow = fake
        .accepted()
        .into_iter()
        .find(|r| {
            r.webhook_id == "1"
                && r.body["embeds"][0]["title"]
                    .as_str()
                    .is_some_and(|t| t.contains("ProbeSlow"))
        })
        .expect("ProbeSlow on ops");
    // The default summary, markdown-escaped like all alert text (Discord shows "(slow)").
    assert_eq!(
        slow.body["embeds"][0]["description"],
        "slow is degraded \\(slow\\)"
    );
    assert_eq!(field(&slow.body, "reason").as_deref(), Some("slow"));
    assert_eq!(field(&slow.body, "Target").as_deref(), Some("slow"));
    assert_eq!(slow.body["flags"], 4096, "info is sent silently");

    // `alert list` against the live store: two firing alerts and one pending (for 1h).
    let mut expected: std::collections::BTreeMap<String, (&str, &str, &str)> = [
        (
            "ProbeFailing{module=\"http\",target=\"broken\"}",
            ("firing", "0", "broken"),
        ),
        (
            "ProbeFailingLong{module=\"http\",target=\"broken\"}",
            ("pending", "0", "broken"),
        ),
        ("ProbeSlow{target=\"slow\"}", ("firing", "-", "slow")),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let wait_started = Instant::now();
    let rows = loop {
        let w = work.clone();
        let out = tokio::task::spawn_blocking(move || w.run(&["alert", "list"], &[]))
            .await
            .expect("run");
        let stdout = String::from_utf8_lossy(&out.stdout).to_string();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let rows: Vec<Vec<String>> = stdout
            .lines()
            .skip_while(|l| *l != "STATE\tSINCE\tVALUE\tTARGET\tALERT")
            .skip(1)
            .take_while(|l| !l.is_empty() && !l.starts_with("outbox:"))
            .map(|l| l.split('\t').map(String::from).collect())
            .collect();
        // Until every alert is there in its state (a new alert may be seen mid-way).
        let states: Vec<(&str, &str)> = rows
            .iter()
            .filter(|r| r.len() == 5)
            .map(|r| (r[4].as_str(), r[0].as_str()))
            .collect();
        let want: Vec<(&str, &str)> = expected.iter().map(|(k, v)| (k.as_str(), v.0)).collect();
        if states == want {
            break rows;
        }
        assert!(
            wait_started.elapsed() < Duration::from_secs(30),
            "alert list never showed the three alerts:\n{stdout}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    };
    let now = std::time::SystemTime::now();
    for row in &rows {
        let (state, value, target) = expected
            .remove(&row[4])
            .unwrap_or_else(|| panic!("unexpected row {row:?}"));
        assert_eq!(
            (row[0].as_str(), row[2].as_str(), row[3].as_str()),
            (state, value, target),
            "{row:?}"
        );
        let since = humantime::parse_rfc3339(&row[1]).expect("an RFC 3339 time");
        assert!(
            since + Duration::from_secs(1) >= started && since <= now,
            "{row:?}"
        );
    }
    assert!(expected.is_empty(), "missing rows: {expected:?}");
    server.sigterm_and_wait(Duration::from_secs(10));

    // `alert test --route infra`: only infra's webhook is called, and its answer printed.
    let before = fake.requests();
    let w = work.clone();
    let out =
        tokio::task::spawn_blocking(move || w.run(&["alert", "test", "--route", "infra"], &[]))
            .await
            .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "{stdout}");
    let new: Vec<_> = fake.requests().into_iter().skip(before.len()).collect();
    assert_eq!(new.len(), 1, "one request: {new:?}");
    assert_eq!(new[0].webhook_id, "2");
    assert_eq!(
        new[0].body["embeds"][0]["title"],
        "🔵 fedimeter test message"
    );
    let id = new[0]
        .created_id
        .clone()
        .expect("a message id (?wait=true)");
    assert_eq!(stdout, format!("infra: sent (message id {id})\n"));
    assert!(!stdout.contains("tok-"));
}

/// Alertmanager's webhook payload, version 4 (anchors-status-alerting.md §4.2).
fn am_payload(status: &str, ends_at: &str) -> String {
    format!(
        r#"{{"version":"4","groupKey":"{{}}:{{alertname=\"HighLatency\"}}","truncatedAlerts":0,
        "status":"{status}","receiver":"fedimeter","groupLabels":{{"alertname":"HighLatency"}},
        "commonLabels":{{"alertname":"HighLatency","severity":"critical"}},"commonAnnotations":{{}},
        "externalURL":"http://am:9093","alerts":[{{"status":"{status}",
        "labels":{{"alertname":"HighLatency","severity":"critical","instance":"web-1"}},
        "annotations":{{"summary":"p99 over 2 s @everyone"}},
        "startsAt":"2026-12-06T20:00:00Z","endsAt":"{ends_at}",
        "generatorURL":"http://prom:9090/graph","fingerprint":"c0ffee"}}]}}"#
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alertmanager_webhooks_go_through_the_same_routes_and_outbox() {
    let fake = FakeDiscord::start().await;
    let webhook = fake.webhook("1", "tok", "ops");
    let web = TestServer::http().await;
    let mut text = config(&web, &webhook, &[]);
    text = text.replacen(
        "builtin = false\n",
        "builtin = false\nalertmanager_token = \"${AM_TOKEN}\"\n",
        1,
    );
    text.push_str("mention_role = \"42\"\n");
    let work = Workdir::new(&text);
    let server = work.serve(&[("AM_TOKEN", "am-token-0123456789")]);
    let url = server.url("/api/alertmanager");
    // A fresh connection per request: after the 413 the server closes the connection whose
    // body it did not read, and a pooled client may race that close (IncompleteMessage).
    let http = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client");
    let post = |body: String, token: Option<&str>| {
        let mut req = http
            .post(&url)
            .header("content-type", "application/json")
            .body(body);
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        req.send()
    };
    let firing = am_payload("firing", "0001-01-01T00:00:00Z");
    assert_eq!(
        post(firing.clone(), None).await.expect("post").status(),
        401
    );
    assert_eq!(
        post(firing.clone(), Some("wrong-token-0123456"))
            .await
            .expect("post")
            .status(),
        401
    );
    // Over the 1 MiB limit: 413 (or the connection is closed before the upload ends).
    let huge = " ".repeat(2 * 1024 * 1024);
    match post(huge, Some("am-token-0123456789")).await {
        Ok(resp) => assert_eq!(resp.status(), 413),
        Err(e) => assert!(e.is_request(), "{e}"),
    }
    let v3 = firing.replacen("\"version\":\"4\"", "\"version\":\"3\"", 1);
    assert_eq!(
        post(v3, Some("am-token-0123456789"))
            .await
            .expect("post")
            .status(),
        400
    );
    assert!(fake.requests().is_empty());

    let resp = post(firing, Some("am-token-0123456789"))
        .await
        .expect("post");
    assert_eq!(resp.status(), 200);
    wait_until("the firing message", Duration::from_secs(10), || {
        !fake.accepted().is_empty()
    })
    .await;
    let msg = fake.accepted()[0].clone();
    assert_eq!(msg.body["embeds"][0]["title"], "🔴 FIRING: HighLatency");
    assert_eq!(msg.body["content"], "<@&42>");
    assert_eq!(
        msg.body["allowed_mentions"],
        serde_json::json!({"parse": [], "roles": ["42"]})
    );
    assert!(!msg.body.to_string().contains("@everyone"));
    let id = msg.created_id.clone().expect("id");

    let resolved = am_payload("resolved", "2026-12-06T20:12:00Z");
    assert_eq!(
        post(resolved, Some("am-token-0123456789"))
            .await
            .expect("post")
            .status(),
        200
    );
    wait_until("the edit", Duration::from_secs(10), || {
        fake.accepted().len() >= 3
    })
    .await;
    let reqs = fake.accepted();
    assert_eq!(reqs[1].method, "PATCH");
    assert_eq!(reqs[1].message_id.as_deref(), Some(id.as_str()));
    let edited = fake.message(&id).expect("message");
    assert_eq!(edited["embeds"][0]["title"], "✅ RESOLVED: HighLatency");
    assert!(
        edited["embeds"][0]["description"]
            .as_str()
            .unwrap_or("")
            .starts_with("**Resolved** after 12m."),
        "{edited}"
    );
    assert!(!server.log().contains("am-token-0123456789"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_probe_failing_at_once_is_one_monitoring_degraded_message() {
    let fake = FakeDiscord::start().await;
    let webhook = fake.webhook("1", "tok", "ops");
    let web = TestServer::http().await;
    for p in ["web", "api", "streaming"] {
        web.set(&format!("/{p}"), Reply::status(502, "bad gateway"));
    }
    let work = Workdir::new(&config(&web, &webhook, &["web", "api", "streaming"]));
    let server = work.serve(&[]);
    wait_until("the degraded message", Duration::from_secs(20), || {
        !fake.accepted().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let got = titles(&fake);
    assert_eq!(got, ["🔴 FIRING: MonitoringDegraded"], "{}", server.log());
    let body = fake.accepted()[0].body.clone();
    let description = body["embeds"][0]["description"].as_str().unwrap_or("");
    // Alert text is markdown-escaped in the message.
    assert!(
        description.contains("every probe fails at once \\(web, api, streaming\\)"),
        "{description}"
    );
    assert!(
        description.contains("3 per-target alert condition\\(s\\)"),
        "{description}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sidekiq_queue_over_its_threshold_in_real_redis_is_a_warning_naming_it() {
    let fake = FakeDiscord::start().await;
    let webhook = fake.webhook("1", "tok", "ops");
    let redis = support::RedisServer::start();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs_f64();
    // ingress waits 400 s (threshold 300 s): fires. push waits 400 s (threshold 600 s): not.
    for (queue, age) in [("ingress", 400.0), ("push", 400.0)] {
        let job = format!(
            r#"{{"class":"ActivityPub::ProcessingWorker","args":[],"queue":"{queue}","jid":"j-{queue}","created_at":{c:.6},"enqueued_at":{e:.6}}}"#,
            c = now - age - 1.0,
            e = now - age
        );
        redis.cmd(&["SADD", "queues", queue]);
        redis.cmd(&["LPUSH", &format!("queue:{queue}"), &job]);
    }
    let text = format!(
        "listen = \"127.0.0.1:0\"\n\
         [alerting]\nevaluate_every = \"1s\"\n\
         [[alert]]\nname = \"SidekiqQueueLatencyHigh\"\nfor = \"0s\"\n\
         [[redis]]\nname = \"sidekiq\"\nurl = \"{}\"\nsidekiq = true\ninterval = \"1s\"\ntimeout = \"800ms\"\n\
         [[discord]]\nname = \"ops\"\nwebhook_url = \"{webhook}\"\n",
        redis.url()
    );
    let work = Workdir::new(&text);
    let server = work.serve(&[]);
    wait_until("the warning", Duration::from_secs(20), || {
        !fake.accepted().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let accepted = fake.accepted();
    assert_eq!(
        accepted.len(),
        1,
        "only ingress is over its threshold: {}",
        server.log()
    );
    let embed = &accepted[0].body["embeds"][0];
    assert_eq!(embed["title"], "🟠 FIRING: SidekiqQueueLatencyHigh");
    let description = embed["description"].as_str().unwrap_or("");
    assert!(
        description.starts_with("Sidekiq queue ingress is 40"),
        "{description}"
    );
    let field = |name: &str| {
        embed["fields"]
            .as_array()
            .and_then(|f| f.iter().find(|f| f["name"] == name))
            .and_then(|f| f["value"].as_str())
            .map(String::from)
    };
    assert_eq!(field("name").as_deref(), Some("ingress"));
    assert_eq!(field("Threshold").as_deref(), Some("\\> 300"));
    assert_eq!(field("Target").as_deref(), Some("sidekiq"));
    let value: f64 = field("Value")
        .and_then(|v| v.parse().ok())
        .expect("a numeric value");
    assert!((400.0..430.0).contains(&value), "{value}");
    assert_eq!(
        accepted[0].body["flags"],
        serde_json::Value::Null,
        "a warning is not silent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_alerts_at_once_are_digests_within_the_limits_and_none_is_lost() {
    let fake = FakeDiscord::start().await;
    let webhook = fake.webhook("1", "tok", "ops");
    let web = TestServer::http().await;
    let names: Vec<String> = (0..30).map(|i| format!("p{i:02}")).collect();
    web.set("/ok", Reply::ok("ok"));
    for n in &names {
        web.set(&format!("/{n}"), Reply::status(500, "down"));
    }
    let mut probes: Vec<&str> = names.iter().map(String::as_str).collect();
    probes.push("ok");
    let work = Workdir::new(&config(&web, &webhook, &probes));
    let server = work.serve(&[]);
    // Every one of the 30 is named in what Discord accepted.
    let named = |fake: &FakeDiscord| {
        let text: String = fake.accepted().iter().map(|r| r.body.to_string()).collect();
        names
            .iter()
            .filter(|n| text.contains(&format!("probe {n} fails")))
            .count()
    };
    wait_until("all 30 named", Duration::from_secs(30), || {
        named(&fake) == 30
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let requests = fake.requests();
    assert!(
        requests.iter().all(|r| r.status == 200),
        "no 400, no 429: {:?}\n{}",
        requests.iter().map(|r| r.status).collect::<Vec<_>>(),
        server.log()
    );
    assert_eq!(fake.rate_limit_violations(), 0);
    // Coalesced: far fewer messages than alerts.
    assert!(requests.len() <= 10, "{} messages", requests.len());
    assert!(
        requests.iter().any(|r| r.body["embeds"][0]["title"]
            .as_str()
            .is_some_and(|t| t.contains("alerts changed state"))),
        "a digest"
    );
}

fn field(body: &serde_json::Value, name: &str) -> Option<String> {
    body["embeds"][0]["fields"]
        .as_array()?
        .iter()
        .find(|f| f["name"] == name)?["value"]
        .as_str()
        .map(String::from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_component_going_down_fires_its_component_state_rule_linking_the_status_page() {
    let fake = FakeDiscord::start().await;
    let webhook = fake.webhook("1", "tok", "ops");
    let web = TestServer::http().await;
    web.set("/web", Reply::ok("ok"));
    web.set("/ok", Reply::ok("ok"));
    let mut text = format!(
        "listen = \"127.0.0.1:0\"\n\
         [site]\npublic_url = \"https://status.example.social/\"\n\
         [sli]\nevaluate_every = \"1s\"\n\
         [alerting]\nevaluate_every = \"1s\"\nbuiltin = false\n\
         [[alert]]\nname = \"WebsiteOutage\"\nseverity = \"critical\"\n\
         component = \"website\"\nstate_at_least = \"partial_outage\"\n\
         [[component]]\nid = \"website\"\nname = \"Website\"\nprobes = [\"web\"]\n\
         [[discord]]\nname = \"ops\"\nwebhook_url = \"{webhook}\"\n"
    );
    // A second probe stays up: not every probe fails, so fedimeter trusts what it sees.
    for p in ["web", "ok"] {
        text.push_str(&format!(
            "[[probe]]\nname = \"{p}\"\nurl = \"{}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n",
            web.url(&format!("/{p}"))
        ));
    }
    let work = Workdir::new(&text);
    let server = work.serve(&[]);
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(fake.requests().is_empty(), "no alert while operational");

    // The site answers 500: after three failed attempts the component is a major outage.
    web.set("/web", Reply::status(500, "down"));
    wait_until("the firing message", Duration::from_secs(20), || {
        !fake.accepted().is_empty()
    })
    .await;
    let firing = fake.accepted()[0].body.clone();
    assert_eq!(firing["embeds"][0]["title"], "🔴 FIRING: WebsiteOutage");
    assert_eq!(
        firing["embeds"][0]["description"],
        "Component website is major\\_outage"
    );
    assert_eq!(field(&firing, "Value").as_deref(), Some("major\\_outage"));
    assert_eq!(
        field(&firing, "Threshold").as_deref(),
        Some("\\>= partial\\_outage")
    );
    assert_eq!(field(&firing, "Component").as_deref(), Some("website"));
    // `[site] public_url` is linked from the message.
    assert_eq!(
        field(&firing, "Links").as_deref(),
        // `[site] public_url` is kept without its trailing slash.
        Some("[Status page](https://status.example.social)")
    );

    web.set("/web", Reply::ok("ok"));
    wait_until("the edit and the notice", Duration::from_secs(20), || {
        fake.accepted().len() >= 3
    })
    .await;
    let reqs = fake.accepted();
    assert_eq!(reqs[1].method, "PATCH", "{}", server.log());
    assert_eq!(
        reqs[2].body["embeds"][0]["title"],
        "✅ Resolved: WebsiteOutage"
    );
    assert_eq!(fake.rate_limit_violations(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_maintenance_window_mutes_its_components_alerts() {
    let fake = FakeDiscord::start().await;
    let webhook = fake.webhook("1", "tok", "ops");
    let web = TestServer::http().await;
    web.set("/p1", Reply::status(500, "down"));
    web.set("/ok", Reply::ok("ok"));
    let now = std::time::SystemTime::now();
    let start = humantime::format_rfc3339_seconds(now - Duration::from_secs(3600));
    let end = humantime::format_rfc3339_seconds(now + Duration::from_secs(3600));
    let mut text = format!(
        "listen = \"127.0.0.1:0\"\n\
         [alerting]\nevaluate_every = \"1s\"\nbuiltin = false\n\
         [[alert]]\nname = \"SiteProbeFailing\"\nseverity = \"critical\"\n\
         metric = \"probe_success\"\nop = \"==\"\nvalue = 0\ncomponent = \"site\"\n\
         [[alert]]\nname = \"AnyProbeFailing\"\nseverity = \"warning\"\n\
         metric = \"probe_success\"\nop = \"==\"\nvalue = 0\n\
         [[component]]\nid = \"site\"\nname = \"Site\"\nprobes = [\"p1\", \"ok\"]\n\
         [[maintenance]]\ntitle = \"Upgrade\"\ncomponents = [\"site\"]\n\
         start = \"{start}\"\nend = \"{end}\"\n\
         [[discord]]\nname = \"ops\"\nwebhook_url = \"{webhook}\"\n"
    );
    for p in ["p1", "ok"] {
        text.push_str(&format!(
            "[[probe]]\nname = \"{p}\"\nurl = \"{}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n",
            web.url(&format!("/{p}"))
        ));
    }
    let work = Workdir::new(&text);
    let server = work.serve(&[]);
    wait_until("the unmuted alert", Duration::from_secs(20), || {
        !fake.accepted().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    // Only the rule outside the maintenance window spoke.
    assert_eq!(
        titles(&fake),
        ["🟠 FIRING: AnyProbeFailing"],
        "{}",
        server.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_webhook_stops_being_called_and_is_reported_on_the_other_route() {
    let fake = FakeDiscord::start().await;
    let a = fake.webhook("1", "tok-a", "alerts");
    let b = fake.webhook("2", "tok-b", "ops");
    fake.delete_webhook("1");
    let web = TestServer::http().await;
    web.set("/p1", Reply::status(500, "down"));
    web.set("/ok", Reply::ok("ok"));
    let mut text = config(&web, &a, &["p1", "ok"]);
    text.push_str(&format!(
        "[[discord]]\nname = \"ops\"\nwebhook_url = \"{b}\"\n"
    ));
    let text = text.replacen(
        "name = \"ops\"\nwebhook_url = \"http",
        "name = \"alerts\"\nwebhook_url = \"http",
        1,
    );
    let work = Workdir::new(&text);
    let server = work.serve(&[]);
    wait_until("the report", Duration::from_secs(20), || {
        fake.accepted()
            .iter()
            .any(|r| r.body["embeds"][0]["title"] == "⚠ fedimeter: a Discord route stopped working")
    })
    .await;
    // The alert itself still reached the other route.
    wait_until("the alert on ops", Duration::from_secs(10), || {
        titles(&fake).iter().any(|t| t == "🟠 FIRING: ProbeFailing")
    })
    .await;
    let calls_to_a = || {
        fake.requests()
            .iter()
            .filter(|r| r.webhook_id == "1")
            .count()
    };
    assert_eq!(calls_to_a(), 1, "one 404, then never again");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(calls_to_a(), 1);
    let log = server.log();
    assert!(log.contains("route=alerts"), "{log}");
    assert!(!log.contains("tok-a"));
    let started = Instant::now();
    loop {
        let (_, _, body, _) = binary::get(&server.url("/metrics"), None).await;
        if body
            .lines()
            .any(|l| l == "fedimeter_discord_route_disabled{route=\"alerts\"} 1")
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn discord_answering_429_then_200_gets_the_message_once_after_retry_after() {
    let fake = FakeDiscord::start().await;
    let webhook = fake.webhook("1", "tok", "ops");
    fake.push_fault(Fault::RateLimited(0.35));
    let web = TestServer::http().await;
    web.set("/p1", Reply::status(500, "down"));
    web.set("/ok", Reply::ok("ok"));
    let work = Workdir::new(&config(&web, &webhook, &["p1", "ok"]));
    let server = work.serve(&[]);
    wait_until("the message", Duration::from_secs(20), || {
        !fake.accepted().is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let reqs = fake.requests();
    let statuses: Vec<u16> = reqs.iter().map(|r| r.status).collect();
    assert_eq!(statuses, [429, 200], "{}", server.log());
    assert_eq!(reqs[0].body, reqs[1].body, "the same message again");
    assert!(reqs[1].at - reqs[0].at >= Duration::from_millis(350));
    let started = Instant::now();
    loop {
        let (_, _, body, _) = binary::get(&server.url("/metrics"), None).await;
        if body
            .lines()
            .any(|l| l == "fedimeter_discord_rate_limited_total{route=\"ops\"} 1")
        {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(15), "{body}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls `/metrics` until every line of `expected` is there.
async fn wait_for_metrics(server: &binary::Server, expected: &[&str]) {
    let started = Instant::now();
    loop {
        let (_, _, body, _) = binary::get(&server.url("/metrics"), None).await;
        let missing: Vec<&str> = expected
            .iter()
            .copied()
            .filter(|l| !body.lines().any(|b| b == *l))
            .collect();
        if missing.is_empty() {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "missing {missing:?} in\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn alert_list(work: &Workdir) -> String {
    let out = work.run(&["alert", "list"], &[]);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blind_across_a_sigkill_is_one_monitoring_degraded_resolved_in_place_and_held_alerts_follow()
 {
    let fake = FakeDiscord::start().await;
    let webhook = fake.webhook("1", "tok", "ops");
    let web = TestServer::http().await;
    for p in ["web", "api", "streaming"] {
        web.set(&format!("/{p}"), Reply::status(502, "bad gateway"));
    }
    let work = Workdir::new(&config(&web, &webhook, &["web", "api", "streaming"]));
    let mut first = work.serve(&[]);
    wait_until("the degraded message", Duration::from_secs(20), || {
        !fake.accepted().is_empty()
    })
    .await;
    // Marked sent (its message id stored) before the kill: no message is in flight.
    wait_for_metrics(
        &first,
        &["fedimeter_notifications_total{route=\"ops\",result=\"sent\"} 1"],
    )
    .await;
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reaped");
    assert_eq!(titles(&fake), ["🔴 FIRING: MonitoringDegraded"]);
    let id = fake.accepted()[0].created_id.clone().expect("message id");

    // The store says what fedimeter knew: degraded, and three alerts held.
    let list = alert_list(&work);
    let states: Vec<(&str, &str)> = list
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split('\t').collect();
            (cols.len() == 5 && cols[0] != "STATE").then(|| (cols[0], cols[4]))
        })
        .collect();
    assert_eq!(
        states,
        [
            ("firing", "MonitoringDegraded{}"),
            (
                "firing (held)",
                "ProbeFailing{module=\"http\",target=\"api\"}"
            ),
            (
                "firing (held)",
                "ProbeFailing{module=\"http\",target=\"streaming\"}"
            ),
            (
                "firing (held)",
                "ProbeFailing{module=\"http\",target=\"web\"}"
            ),
        ],
        "{list}"
    );

    // Restarted, still blind: no second MonitoringDegraded, nothing else either.
    let second = work.serve(&[]);
    wait_until("the restored states", Duration::from_secs(20), || {
        second.log().contains("restored alert states")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(fake.requests().len(), 1, "{}", second.log());

    // api back, web and streaming still failing: fedimeter sees again. The original message
    // is edited, the notice posted, and the held alerts that still fire announced, once.
    web.set("/api", Reply::ok("ok"));
    wait_until(
        "the edit, the notice and the alerts",
        Duration::from_secs(20),
        || fake.accepted().len() >= 5,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let reqs = fake.accepted();
    assert_eq!(reqs.len(), 5, "{}", second.log());
    assert_eq!(reqs[1].method, "PATCH");
    assert_eq!(reqs[1].message_id.as_deref(), Some(id.as_str()));
    let edited = fake.message(&id).expect("message");
    assert_eq!(
        edited["embeds"][0]["title"],
        "✅ RESOLVED: MonitoringDegraded"
    );
    assert_eq!(reqs[2].method, "POST");
    assert_eq!(
        reqs[2].body["embeds"][0]["title"],
        "✅ Resolved: MonitoringDegraded"
    );
    let announced: Vec<(&str, &str, &str)> = reqs[3..]
        .iter()
        .map(|r| {
            (
                r.method.as_str(),
                r.body["embeds"][0]["title"].as_str().unwrap_or(""),
                r.body["embeds"][0]["description"].as_str().unwrap_or(""),
            )
        })
        .collect();
    assert_eq!(
        announced,
        [
            ("POST", "🟠 FIRING: ProbeFailing", "probe streaming fails"),
            ("POST", "🟠 FIRING: ProbeFailing", "probe web fails"),
        ]
    );
    assert_eq!(fake.rate_limit_violations(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deleted_webhook_stays_unused_across_a_restart_until_the_config_has_a_new_one() {
    let fake = FakeDiscord::start().await;
    let deleted = fake.webhook("1", "tok-a", "alerts");
    let ops = fake.webhook("2", "tok-b", "ops");
    fake.delete_webhook("1");
    let web = TestServer::http().await;
    web.set("/p1", Reply::status(500, "down"));
    web.set("/p2", Reply::ok("ok"));
    web.set("/ok", Reply::ok("ok"));
    let text = |alerts_url: &str| {
        let mut text = config(&web, alerts_url, &["p1", "p2", "ok"]).replacen(
            "name = \"ops\"\nwebhook_url",
            "name = \"alerts\"\nwebhook_url",
            1,
        );
        text.push_str(&format!(
            "[[discord]]\nname = \"ops\"\nwebhook_url = \"{ops}\"\n"
        ));
        text
    };
    let calls_to = |id: &str| {
        fake.requests()
            .iter()
            .filter(|r| r.webhook_id == id)
            .count()
    };
    let work = Workdir::new(&text(&deleted));
    let mut first = work.serve(&[]);
    wait_for_metrics(
        &first,
        &["fedimeter_discord_route_disabled{route=\"alerts\"} 1"],
    )
    .await;
    wait_until(
        "the report and the alert on ops",
        Duration::from_secs(20),
        || calls_to("2") >= 2,
    )
    .await;
    first.child.kill().expect("SIGKILL");
    first.child.wait().expect("reaped");
    assert_eq!(calls_to("1"), 1, "one 404");
    let list = alert_list(&work);
    let disabled: Vec<&str> = list.lines().filter(|l| l.starts_with("route ")).collect();
    assert_eq!(disabled.len(), 1, "{list}");
    assert!(
        disabled[0].starts_with("route alerts: disabled since "),
        "{list}"
    );
    assert!(
        disabled[0].ends_with(
            ": the webhook was deleted in Discord (404, code 10015); put a new webhook_url in the config"
        ),
        "{list}"
    );
    assert!(!list.contains("tok-a"));

    // Restarted with the same config, and a new alert for both routes: the deleted webhook
    // is not called again; ops gets the alert.
    web.set("/p2", Reply::status(500, "down"));
    let mut second = work.serve(&[]);
    wait_until("the p2 alert on ops", Duration::from_secs(20), || {
        fake.accepted()
            .iter()
            .any(|r| r.webhook_id == "2" && r.body["embeds"][0]["description"] == "probe p2 fails")
    })
    .await;
    wait_for_metrics(
        &second,
        &["fedimeter_discord_route_disabled{route=\"alerts\"} 1"],
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(calls_to("1"), 1, "{}", second.log());
    assert!(!second.log().contains("tok-a"));
    second.sigterm_and_wait(Duration::from_secs(10));

    // A new webhook URL in the config: the route is used again (the resolve of p2, which it
    // never saw, is posted there), and that is logged once.
    let renewed = fake.webhook("3", "tok-c", "alerts");
    std::fs::write(work.path("fedimeter.toml"), text(&renewed)).expect("config");
    assert!(
        alert_list(&work)
            .contains("the config has a new webhook_url: used again at the next start")
    );
    web.set("/p2", Reply::ok("ok"));
    let third = work.serve(&[]);
    wait_until(
        "a message on the new webhook",
        Duration::from_secs(20),
        || fake.accepted().iter().any(|r| r.webhook_id == "3"),
    )
    .await;
    wait_for_metrics(
        &third,
        &["fedimeter_discord_route_disabled{route=\"alerts\"} 0"],
    )
    .await;
    let on_new: Vec<String> = fake
        .accepted()
        .iter()
        .filter(|r| r.webhook_id == "3")
        .filter_map(|r| r.body["embeds"][0]["title"].as_str().map(String::from))
        .collect();
    assert_eq!(on_new[0], "✅ RESOLVED: ProbeFailing", "{on_new:?}");
    assert_eq!(calls_to("1"), 1);
    let log = third.log();
    assert_eq!(log.matches("using the route again").count(), 1, "{log}");
    assert!(!log.contains("tok-c"));
    assert!(alert_list(&work).lines().all(|l| !l.starts_with("route ")));
}
