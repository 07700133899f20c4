//! What the public listener must never show, tested against a running `fedimeter serve`
//! whose targets fail in every way the real servers of `tests/support` can make them fail:
//! wrong passwords (PostgreSQL, PgBouncer, Redis with `WRONGPASS` and `NOAUTH`), closed
//! ports (connection refused) and a hanging HTTP endpoint (timed out), with `metrics_listen`
//! set. Every public route — the page, `/history`, an incident page, every `/api/v2/*.json`,
//! `/api/status.json`, the feeds, the badges (SVG and JSON), `/static/*`, the health
//! endpoints and the 404s — is fetched, and none may contain the password, an internal
//! address the config names (`127.0.0.1:<port>`, `localhost`), a DSN scheme or a raw error
//! string; `/metrics` and `/probe` are 404 there. Hostile component names, incident and
//! maintenance text, and Sidekiq queue names (HTML, quotes, `javascript:`) come out escaped:
//! no `<script`, no `<img`, no `javascript:` link. Target names cannot carry markup at all:
//! the config refuses them.

mod binary;
#[path = "support/http_server.rs"]
mod http_server;
mod support;

use std::time::{Duration, Instant};

use binary::{Server, Workdir};
use http_server::{Reply, TestServer};

const SECRET: &str = "Zebra-7781-distinctive-Secret";

const HOSTILE_NAME: &str =
    r#"<script>alert("name")</script> 'single' "double" javascript:alert(1)"#;
const HOSTILE_TEXT: &str = r#"<img src=x onerror=alert(1)> <a href="javascript:alert(2)">x</a> javascript:alert(3) https://example.social/ok"#;
const HOSTILE_QUEUES: [&str; 3] = [
    "<script>alert(1)</script>",
    "javascript:alert(1)",
    r#""><img src=x onerror=alert(1)>"#,
];

/// Raw error text of the clients and servers involved, compared case-insensitively.
const ERROR_TEXT: [&str; 8] = [
    "connection refused",
    "password authentication failed",
    "os error",
    "timed out",
    "noauth",
    "wrongpass",
    "error returned from database",
    "authentication",
];

/// A GET that returns (status, headers and body as one text, body).
async fn fetch(url: &str) -> (u16, String, String) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .expect("client");
    let response = client
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    let mut text = String::new();
    for (name, value) in response.headers() {
        text.push_str(&format!("{name}: {}\n", value.to_str().unwrap_or("")));
    }
    let body = response.text().await.expect("body");
    text.push_str(&body);
    (status, text, body)
}

/// Fails when `text` (a response of `route`) holds any of `forbidden` or raw error text.
fn assert_no_leak(route: &str, text: &str, forbidden: &[String]) {
    let lower = text.to_lowercase();
    for f in forbidden {
        assert!(
            !lower.contains(&f.to_lowercase()),
            "{route} shows {f:?}:\n{text}"
        );
    }
    for e in ERROR_TEXT {
        assert!(
            !lower.contains(e),
            "{route} shows raw error text {e:?}:\n{text}"
        );
    }
}

/// Fails when markup could run: a `<script` or `<img` element, or an attribute whose URL
/// is `javascript:`.
fn assert_inert(route: &str, body: &str) {
    let lower = body.to_lowercase();
    assert!(
        !lower.contains("<script"),
        "{route}: unescaped <script:\n{body}"
    );
    assert!(!lower.contains("<img"), "{route}: unescaped <img:\n{body}");
    for attr in ["href=", "src=", "action=", "xlink:href="] {
        for (i, _) in lower.match_indices(attr) {
            let value = lower[i + attr.len()..].trim_start_matches(['"', '\'', ' ']);
            assert!(
                !value.starts_with("javascript:"),
                "{route}: a javascript: URL in {attr}:\n{body}"
            );
        }
    }
}

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits (bounded) until every one of `targets` targets has finished at least two runs, read
/// from `/metrics` on the private listener.
async fn wait_for_runs(server: &Server, targets: usize) -> String {
    let started = Instant::now();
    loop {
        let (_, _, metrics) = fetch(&server.metrics_url("/metrics")).await;
        let ran_twice = |line: &&str| {
            line.starts_with("fedimeter_collector_runs_total{")
                && line
                    .rsplit(' ')
                    .next()
                    .and_then(|v| v.parse::<f64>().ok())
                    .is_some_and(|v| v >= 2.0)
        };
        if metrics.lines().filter(ran_twice).count() == targets {
            return metrics;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "not every target ran twice within 30 s:\n{metrics}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Polls a public route until `done(body)` (bounded).
async fn wait_for(url: &str, done: impl Fn(&str) -> bool) {
    let started = Instant::now();
    loop {
        let (status, _, body) = fetch(url).await;
        if status == 200 && done(&body) {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{url} not as expected within 30 s:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Every public route, with the status it must answer.
fn public_routes(components: &[&str]) -> Vec<(String, u16)> {
    let mut routes: Vec<(String, u16)> = [
        "/",
        "/history",
        "/api/v2/summary.json",
        "/api/v2/status.json",
        "/api/v2/components.json",
        "/api/v2/incidents.json",
        "/api/v2/incidents/unresolved.json",
        "/api/v2/scheduled-maintenances.json",
        "/api/v2/scheduled-maintenances/upcoming.json",
        "/api/v2/scheduled-maintenances/active.json",
        "/api/status.json",
        "/history.atom",
        "/history.rss",
        "/static/style.css",
        "/healthz",
    ]
    .iter()
    .map(|p| (p.to_string(), 200))
    .collect();
    for c in components {
        for file in ["svg", "svg?type=uptime", "json", "json?type=uptime"] {
            routes.push((format!("/badge/{c}.{file}"), 200));
        }
    }
    for missing in [
        "/metrics",
        "/probe?target=closed",
        "/probe?target=wrongpass&kind=postgres",
        "/incidents/999",
        "/badge/nope.svg",
        "/static/nope.css",
        "/nope",
    ] {
        routes.push((missing.to_string(), 404));
    }
    routes
}

/// Fetches every route, checks its status, and that it leaks nothing; HTML, SVG and feeds
/// must also be inert.
async fn check_every_route(server: &Server, routes: &[(String, u16)], forbidden: &[String]) {
    for (route, expected) in routes {
        let (status, text, body) = fetch(&server.url(route)).await;
        assert_eq!(status, *expected, "{route}:\n{text}");
        assert_no_leak(route, &text, forbidden);
        let json = route.contains(".json");
        if !json {
            assert_inert(route, &body);
        }
    }
    // /readyz lists how many targets wait for a first run, nothing more.
    let (_, text, _) = fetch(&server.url("/readyz")).await;
    assert_no_leak("/readyz", &text, forbidden);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_public_route_shows_a_password_an_internal_address_or_an_error() {
    let pg = support::PgServer::start();
    let pgb = support::PgBouncer::start(&pg, support::PgBouncerOptions::default());
    let redis = support::RedisServer::start_with(support::RedisOptions {
        password: Some("the-right-password".into()),
        ..Default::default()
    });
    let hang = TestServer::http().await;
    hang.set("/health", Reply::hang());
    let closed = support::free_port();
    let metrics_port = support::free_port();
    let work = Workdir::new("");
    let config = format!(
        r#"listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:{metrics_port}"

[store]
url = "sqlite://{db}"

[sli]
evaluate_every = "1s"

[[postgres]]
name = "wrongpass"
url = "postgres://postgres:${{SECRET}}@127.0.0.1:{pg}/postgres"
interval = "1s"
timeout = "500ms"

[[postgres]]
name = "closed"
url = "postgres://postgres:${{SECRET}}@localhost:{closed}/postgres"
interval = "1s"
timeout = "500ms"

[[pgbouncer]]
name = "wrongpass"
url = "postgres://stats:${{SECRET}}@127.0.0.1:{pgb}/pgbouncer"
interval = "1s"
timeout = "500ms"

[[redis]]
name = "wrongpass"
url = "redis://:${{SECRET}}@127.0.0.1:{redis}/0"
sidekiq = true
interval = "1s"
timeout = "500ms"

[[redis]]
name = "nopass"
url = "redis://127.0.0.1:{redis}/0"
interval = "1s"
timeout = "500ms"

[[redis]]
name = "closed"
url = "redis://user:${{SECRET}}@localhost:{closed}/0"
interval = "1s"
timeout = "500ms"

[[probe]]
name = "closed"
url = "http://127.0.0.1:{closed}/health"
interval = "1s"
timeout = "500ms"

[[probe]]
name = "hang"
url = "{hang_url}"
interval = "1s"
timeout = "500ms"

[[probe]]
name = "tcp"
url = "tcp://localhost:{closed}"
interval = "1s"
timeout = "500ms"

[[component]]
id = "website"
name = '''{HOSTILE_NAME}'''
description = '''{HOSTILE_TEXT}'''
probes = ["closed", "hang", "tcp"]

[[component]]
id = "queues"
name = "Queues <b>bold</b>"
[[component.threshold]]
metric = "sidekiq_queue_latency_seconds"
labels = {{ name = "<script>alert(1)</script>" }}
degraded_above = 60
"#,
        db = work.path("fedimeter.db").display(),
        pg = pg.port(),
        pgb = pgb.port(),
        redis = redis.port(),
        hang_url = hang.url("/health"),
    );
    std::fs::write(work.path("fedimeter.toml"), &config).expect("config");
    let env = [("SECRET", SECRET)];
    let server = work.serve(&env);
    // The commands below open the same SQLite file: let serve create and migrate it first
    // (two processes migrating one new SQLite file at once collide).
    wait_for(&server.url("/api/status.json"), |b| {
        b.contains("\"history_available\":true")
    })
    .await;

    // People's text, hostile too.
    assert_eq!(
        stdout(&work.run(
            &[
                "incident",
                "open",
                "--title",
                HOSTILE_NAME,
                "--component",
                "website=major_outage",
                "-m",
                HOSTILE_TEXT,
            ],
            &env,
        )),
        "opened incident 1\n"
    );
    assert_eq!(
        stdout(&work.run(
            &[
                "maintenance",
                "add",
                "--title",
                HOSTILE_NAME,
                "--start",
                "2099-01-01T02:00:00Z",
                "--end",
                "2099-01-01T03:00:00Z",
                "-m",
                HOSTILE_TEXT,
            ],
            &env,
        )),
        "scheduled maintenance 1\n"
    );

    // 9 targets, each failed at least twice; then the page shows the outage, the incident
    // and the maintenance.
    let metrics = wait_for_runs(&server, 9).await;
    for line in [
        "pg_up{target=\"wrongpass\"} 0",
        "pg_up{target=\"closed\"} 0",
        "pgbouncer_up{target=\"wrongpass\"} 0",
        "redis_up{target=\"wrongpass\"} 0",
        "redis_up{target=\"nopass\"} 0",
        "redis_up{target=\"closed\"} 0",
        "probe_success{module=\"http\",target=\"hang\"} 0",
    ] {
        assert!(metrics.contains(line), "{line}:\n{metrics}");
    }
    // Every probe fails at once, so fedimeter says that it cannot see (and why) instead of
    // painting the site red; the reason must not leak anything either.
    wait_for(&server.url("/"), |b| b.contains("Monitoring degraded: ")).await;
    wait_for(&server.url("/api/v2/status.json"), |b| {
        b.contains("Monitoring Degraded")
    })
    .await;
    wait_for(&server.url("/"), |b| {
        b.contains("/incidents/1") && b.contains("2099")
    })
    .await;

    let mut forbidden = vec![
        SECRET.to_string(),
        "127.0.0.1".to_string(),
        "localhost".to_string(),
        "postgres://".to_string(),
        "redis://".to_string(),
        "tcp://".to_string(),
        "the-right-password".to_string(),
    ];
    for port in [
        pg.port(),
        pgb.port(),
        redis.port(),
        closed,
        metrics_port,
        hang.port(),
    ] {
        forbidden.push(format!("127.0.0.1:{port}"));
        forbidden.push(format!("localhost:{port}"));
    }
    let mut routes = public_routes(&["website", "queues"]);
    routes.push(("/incidents/1".into(), 200));
    check_every_route(&server, &routes, &forbidden).await;

    // The hostile text is there, escaped (so the checks above looked at it).
    let (_, _, page) = fetch(&server.url("/")).await;
    assert!(
        page.contains("&lt;script&gt;alert(&quot;name&quot;)&lt;/script&gt;"),
        "{page}"
    );
    assert!(page.contains("Queues &lt;b&gt;bold&lt;/b&gt;"), "{page}");
    let (_, _, incident) = fetch(&server.url("/incidents/1")).await;
    assert!(
        incident.contains("&lt;img src=x onerror=alert(1)&gt;")
            && incident.contains("<a href=\"https://example.social/ok\""),
        "{incident}"
    );
    let (_, _, badge) = fetch(&server.url("/badge/website.svg")).await;
    assert!(badge.contains("&lt;script&gt;"), "{badge}");

    // /metrics lives on the private listener only.
    let (status, _, _) = fetch(&server.metrics_url("/metrics")).await;
    assert_eq!(status, 200);
    assert_ne!(server.metrics_url("/metrics"), server.url("/metrics"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_view_without_components_shows_targets_and_no_hostile_queue_names() {
    // Target names cannot carry markup: the config refuses them, naming file:line:col.
    let refused =
        Workdir::new("[[probe]]\nname = \"<script>x</script>\"\nurl = \"http://127.0.0.1:9/\"\n");
    let out = refused.run(&["check-config"], &[]);
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("fedimeter.toml:2:8: probe[0].name: invalid name"),
        "{err}"
    );

    let redis = support::RedisServer::start();
    for (i, queue) in HOSTILE_QUEUES.iter().enumerate() {
        let job = format!(
            r#"{{"class":"ActivityPub::DeliveryWorker","args":[],"queue":{q},"jid":"j{i}","created_at":1700000000.0,"enqueued_at":1700000000.0}}"#,
            q = serde_json::to_string(queue).expect("json")
        );
        for args in [
            vec!["SADD".to_string(), "queues".into(), queue.to_string()],
            vec!["LPUSH".into(), format!("queue:{queue}"), job],
        ] {
            let reply = redis.cmd(&args);
            assert!(
                !matches!(reply, support::Reply::Error(_)),
                "{args:?}: {reply:?}"
            );
        }
    }
    let closed = support::free_port();
    let metrics_port = support::free_port();
    let work = Workdir::new("");
    let config = format!(
        r#"listen = "127.0.0.1:0"
metrics_listen = "127.0.0.1:{metrics_port}"

[store]
url = "sqlite://{db}"

[[redis]]
name = "sidekiq"
url = "redis://127.0.0.1:{redis}/0"
sidekiq = true
interval = "1s"
timeout = "500ms"

[[postgres]]
name = "closed"
url = "postgres://postgres:${{SECRET}}@localhost:{closed}/postgres"
interval = "1s"
timeout = "500ms"

[[probe]]
name = "web.closed"
url = "http://127.0.0.1:{closed}/health"
interval = "1s"
timeout = "500ms"
"#,
        db = work.path("fedimeter.db").display(),
        redis = redis.port(),
    );
    std::fs::write(work.path("fedimeter.toml"), &config).expect("config");
    let env = [("SECRET", SECRET)];
    let server = work.serve(&env);
    let metrics = wait_for_runs(&server, 3).await;
    // The hostile queues were collected (label values escaped as the text format says).
    for queue in HOSTILE_QUEUES {
        let label = queue.replace('"', "\\\"");
        assert!(
            metrics.contains(&format!(
                "sidekiq_queue_enqueued_jobs{{name=\"{label}\",target=\"sidekiq\"}} 1"
            )),
            "{queue}:\n{metrics}"
        );
    }
    // The view lists the targets by kind and name, with their states.
    wait_for(&server.url("/"), |b| {
        b.contains("Redis sidekiq")
            && b.contains("Database closed")
            && b.contains("Endpoint web.closed")
            && b.contains("Major outage")
    })
    .await;

    let mut forbidden: Vec<String> = vec![
        SECRET.into(),
        "127.0.0.1".into(),
        "localhost".into(),
        "postgres://".into(),
        "redis://".into(),
        "alert(1)".into(),
        "onerror".into(),
    ];
    for port in [redis.port(), closed, metrics_port] {
        forbidden.push(format!("127.0.0.1:{port}"));
    }
    check_every_route(&server, &public_routes(&[]), &forbidden).await;
}
