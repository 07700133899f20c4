//! Probes against a real local HTTP/HTTPS server: every condition, TLS with a private CA,
//! an expired certificate, timeouts and hangs, a stopped server, TCP connects, and the exact
//! exposition lines.

#[path = "support/http_server.rs"]
mod http_server;

use std::time::{Duration, Instant};

use fedimeter::collect::probe::{self, ProbeCollector, ProbeOptions};
use fedimeter::collect::{Collector, Sink, runner};
use fedimeter::config::{ProbeTarget, Secret, TargetCommon};
use fedimeter::export::exposition::{Format, render_families};
use fedimeter::model::{Family, Health, Outcome, Reason};
use http_server::{EXPIRED_2021, NOT_BEFORE_2020, Reply, TestCa, TestServer, VALID_UNTIL_2040};

fn target(name: &str, url: &str, options: ProbeOptions) -> ProbeTarget {
    ProbeTarget {
        common: TargetCommon::written(
            name.to_string(),
            Duration::from_secs(15),
            Duration::from_secs(2),
        ),
        url: url.to_string(),
        options,
    }
}

/// One attempt of `collector`; the families it produced.
async fn attempt(collector: &mut ProbeCollector) -> Vec<Family> {
    attempt_with_health(collector).await.0
}

/// One attempt of `collector`; the families and the health it decided.
async fn attempt_with_health(collector: &mut ProbeCollector) -> (Vec<Family>, Option<Health>) {
    let mut sink = Sink::new();
    collector
        .collect(&mut sink)
        .await
        .unwrap_or_else(|e| panic!("a probe attempt is never a collector error: {e:#}"));
    assert!(sink.partial_errors().is_empty());
    let health = sink.health();
    (sink.into_parts().0, health)
}

fn down(reason: Reason) -> Option<Health> {
    Some(Health::Down { reason })
}

fn value(families: &[Family], name: &str, labels: &[&str]) -> Option<f64> {
    families
        .iter()
        .find(|f| f.desc.name == name)
        .and_then(|f| f.value(labels))
}

fn success(families: &[Family]) -> f64 {
    let module = if value(families, "probe_http_status_code", &["http"]).is_some() {
        "http"
    } else {
        "tcp"
    };
    value(families, "probe_success", &[module]).unwrap_or(-1.0)
}

/// The exposition of `families` as `/metrics` shows them for probe `name`.
fn render(families: &[Family], name: &str) -> String {
    render_families(
        families
            .iter()
            .map(|f| (f, (!f.desc.has_target_label()).then_some(name))),
        Format::Text,
    )
}

/// The sample lines of `text` whose metric name is one of `names`.
fn lines(text: &str, names: &[&str]) -> String {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| names.iter().any(|n| l.split(['{', ' ']).next() == Some(*n)))
        .map(|l| format!("{l}\n"))
        .collect()
}

const STABLE: &[&str] = &[
    "probe_success",
    "probe_degraded",
    "probe_attempts_total",
    "probe_http_status_code",
    "probe_http_version",
    "probe_http_ssl",
    "probe_http_redirects",
    "probe_http_content_length",
    "probe_http_uncompressed_body_length",
    "probe_ip_protocol",
    "probe_ssl_earliest_cert_expiry",
    "probe_ssl_last_chain_expiry_timestamp_seconds",
    "probe_ssl_cert_not_before_timestamp_seconds",
    "probe_tls_version_info",
];

#[tokio::test]
async fn http_ok_exposition_is_exact() {
    let server = TestServer::http().await;
    server.set("/health", Reply::ok("OK"));
    let options = ProbeOptions {
        body_contains: Some("OK".to_string()),
        ..ProbeOptions::default()
    };
    let mut collector = ProbeCollector::new(&target("web", &server.url("/health"), options));
    let families = attempt(&mut collector).await;
    let text = render(&families, "web");
    assert_eq!(
        lines(&text, STABLE),
        "\
probe_attempts_total{target=\"web\",module=\"http\",result=\"success\"} 1
probe_attempts_total{target=\"web\",module=\"http\",result=\"degraded\"} 0
probe_attempts_total{target=\"web\",module=\"http\",result=\"failure\"} 0
probe_degraded{module=\"http\",target=\"web\"} 0
probe_http_content_length{module=\"http\",target=\"web\"} 2
probe_http_redirects{module=\"http\",target=\"web\"} 0
probe_http_ssl{module=\"http\",target=\"web\"} 0
probe_http_status_code{module=\"http\",target=\"web\"} 200
probe_http_uncompressed_body_length{module=\"http\",target=\"web\"} 2
probe_http_version{module=\"http\",target=\"web\"} 1.1
probe_ip_protocol{module=\"http\",target=\"web\"} 4
probe_success{module=\"http\",target=\"web\"} 1
",
        "\n{text}"
    );
    // Every phase is present; plain http has no tls time, the others were measured.
    for phase in ["resolve", "connect", "tls", "processing", "transfer"] {
        let v = value(&families, "probe_http_duration_seconds", &[phase, "http"])
            .unwrap_or_else(|| panic!("phase {phase} missing"));
        assert!((0.0..2.0).contains(&v), "{phase} = {v}");
    }
    assert_eq!(
        value(&families, "probe_http_duration_seconds", &["tls", "http"]),
        Some(0.0)
    );
    assert!(
        value(
            &families,
            "probe_http_duration_seconds",
            &["connect", "http"]
        )
        .unwrap_or(0.0)
            > 0.0
    );
    assert!(
        value(
            &families,
            "probe_http_duration_seconds",
            &["processing", "http"]
        )
        .unwrap_or(0.0)
            > 0.0
    );
    let duration = value(&families, "probe_duration_seconds", &["http"]).unwrap_or(-1.0);
    assert!(duration > 0.0 && duration < 2.0, "{duration}");
    // The request: one GET per connection with fedimeter's user agent.
    let request = server
        .last_request()
        .unwrap_or_else(|| panic!("no request"));
    assert_eq!(request.method, "GET");
    assert_eq!(request.target, "/health");
    assert_eq!(request.header("connection"), Some("close"));
    assert!(
        request
            .header("user-agent")
            .unwrap_or("")
            .starts_with("fedimeter/")
    );
}

#[tokio::test]
async fn status_and_body_conditions() {
    let server = TestServer::http().await;
    server.set("/ok", Reply::ok("OK"));
    server.set("/err", Reply::status(500, "OK"));
    server.set("/wrong", Reply::ok("<html>Bad gateway</html>"));
    server.set("/created", Reply::status(201, ""));
    server.set("/unauthorized", Reply::status(401, "{}"));
    server.set("/count", Reply::ok("42 users online"));
    server.set(
        "/json",
        Reply::json(r#"{"status":"ok","checks":{"db":true}}"#),
    );
    let ok_body = || ProbeOptions {
        body_contains: Some("OK".to_string()),
        ..ProbeOptions::default()
    };
    let regex = |r: &str| ProbeOptions {
        body_regex: Some(regex::Regex::new(r).unwrap_or_else(|e| panic!("{e}"))),
        ..ProbeOptions::default()
    };
    let json = |pointer: &str, equals: Option<&str>| ProbeOptions {
        json_pointer: Some(pointer.to_string()),
        json_equals: equals.map(str::to_string),
        ..ProbeOptions::default()
    };
    let cases: Vec<(&str, ProbeOptions, f64, f64)> = vec![
        // (path, options, probe_success, probe_http_status_code)
        ("/ok", ok_body(), 1.0, 200.0),
        ("/err", ok_body(), 0.0, 500.0),
        ("/wrong", ok_body(), 0.0, 200.0),
        ("/created", ProbeOptions::default(), 1.0, 201.0),
        ("/missing", ProbeOptions::default(), 0.0, 404.0),
        ("/unauthorized", ProbeOptions::default(), 0.0, 401.0),
        (
            "/unauthorized",
            ProbeOptions {
                expect_status: vec![200, 401],
                ..ProbeOptions::default()
            },
            1.0,
            401.0,
        ),
        (
            "/ok",
            ProbeOptions {
                expect_status: vec![204],
                ..ProbeOptions::default()
            },
            0.0,
            200.0,
        ),
        ("/count", regex(r"^\d+ users"), 1.0, 200.0),
        ("/count", regex(r"^\d+ servers"), 0.0, 200.0),
        ("/json", json("/status", Some("ok")), 1.0, 200.0),
        ("/json", json("/status", Some("down")), 0.0, 200.0),
        ("/json", json("/checks/db", Some("true")), 1.0, 200.0),
        ("/json", json("/checks/redis", None), 0.0, 200.0),
        ("/ok", json("/status", None), 0.0, 200.0),
    ];
    // The health of each case, in order: a status that is not expected is http_status, a
    // body or JSON condition that does not hold is check_failed.
    let up = Some(Health::Up);
    let status = down(Reason::HttpStatus);
    let check = down(Reason::CheckFailed);
    let healths = [
        up, status, check, up, status, status, up, status, up, check, up, check, up, check, check,
    ];
    assert_eq!(healths.len(), cases.len());
    for ((path, options, expect_success, expect_status), health) in cases.into_iter().zip(healths) {
        let described = format!("{path} {options:?}");
        let mut collector = ProbeCollector::new(&target("t", &server.url(path), options));
        let (families, got) = attempt_with_health(&mut collector).await;
        assert_eq!(got, health, "{described}");
        assert_eq!(success(&families), expect_success, "{described}");
        assert_eq!(
            value(&families, "probe_http_status_code", &["http"]),
            Some(expect_status),
            "{described}"
        );
    }
}

#[tokio::test]
async fn headers_method_and_body_are_sent_and_header_values_never_shown() {
    let server = TestServer::http().await;
    server.set("/api", Reply::json(r#"{"id":"1"}"#));
    let options = ProbeOptions {
        method: http::Method::POST,
        body: Some("ping".to_string()),
        headers: vec![(
            "Authorization".to_string(),
            Secret::new("Bearer s3cret-token-xyz".to_string()),
        )],
        json_pointer: Some("/id".to_string()),
        ..ProbeOptions::default()
    };
    assert!(!format!("{options:?}").contains("s3cret"));
    let mut collector = ProbeCollector::new(&target("api", &server.url("/api"), options));
    let families = attempt(&mut collector).await;
    assert_eq!(success(&families), 1.0);
    let request = server
        .last_request()
        .unwrap_or_else(|| panic!("no request"));
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.header("authorization"),
        Some("Bearer s3cret-token-xyz")
    );
    assert_eq!(request.header("content-length"), Some("4"));
}

#[tokio::test]
async fn cache_busting_changes_the_query_every_attempt() {
    let server = TestServer::http().await;
    server.set("/api/v1/timelines/public", Reply::json("[]"));
    let options = ProbeOptions {
        cache_bust: true,
        ..ProbeOptions::default()
    };
    let url = server.url("/api/v1/timelines/public?local=true&limit=1");
    let mut collector = ProbeCollector::new(&target("api", &url, options));
    attempt(&mut collector).await;
    attempt(&mut collector).await;
    let targets: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    assert_eq!(targets.len(), 2);
    for t in &targets {
        assert!(
            t.starts_with("/api/v1/timelines/public?local=true&limit=1&_fedimeter="),
            "{t}"
        );
    }
    assert_ne!(targets[0], targets[1]);
}

#[tokio::test]
async fn redirect_policy() {
    let server = TestServer::http().await;
    server.set("/health", Reply::ok("OK"));
    server.set("/old", Reply::redirect(301, "/health"));
    server.set("/twice", Reply::redirect(302, "/old"));
    server.set("/loop", Reply::redirect(302, "/loop"));
    let follow = |max| ProbeOptions {
        max_redirects: max,
        ..ProbeOptions::default()
    };
    let no_follow = |expect: Vec<u16>| ProbeOptions {
        follow_redirects: false,
        expect_status: expect,
        ..ProbeOptions::default()
    };
    // (path, options, success, status, redirects)
    for (path, options, ok, status, redirects) in [
        ("/old", follow(10), 1.0, 200.0, 1.0),
        ("/twice", follow(10), 1.0, 200.0, 2.0),
        ("/twice", follow(1), 0.0, 301.0, 1.0),
        ("/loop", follow(5), 0.0, 302.0, 5.0),
        ("/old", no_follow(vec![]), 0.0, 301.0, 0.0),
        ("/old", no_follow(vec![301]), 1.0, 301.0, 0.0),
    ] {
        let described = format!("{path} {options:?}");
        let mut collector = ProbeCollector::new(&target("r", &server.url(path), options));
        let families = attempt(&mut collector).await;
        assert_eq!(success(&families), ok, "{described}");
        assert_eq!(
            value(&families, "probe_http_status_code", &["http"]),
            Some(status),
            "{described}"
        );
        assert_eq!(
            value(&families, "probe_http_redirects", &["http"]),
            Some(redirects),
            "{described}"
        );
    }
}

#[tokio::test]
async fn slow_answers_are_degraded_and_counted() {
    let server = TestServer::http().await;
    server.set("/health", Reply::ok("OK"));
    let options = ProbeOptions {
        degraded_after: Some(Duration::from_millis(200)),
        ..ProbeOptions::default()
    };
    let mut collector = ProbeCollector::new(&target("web", &server.url("/health"), options));
    let families = attempt(&mut collector).await;
    assert_eq!(value(&families, "probe_degraded", &["http"]), Some(0.0));
    server.set(
        "/health",
        Reply::ok("OK").delayed(Duration::from_millis(400)),
    );
    let (families, health) = attempt_with_health(&mut collector).await;
    assert_eq!(
        health,
        Some(Health::Degraded {
            reason: Reason::Slow
        })
    );
    assert_eq!(success(&families), 1.0);
    assert_eq!(value(&families, "probe_degraded", &["http"]), Some(1.0));
    let processing = value(
        &families,
        "probe_http_duration_seconds",
        &["processing", "http"],
    )
    .unwrap_or(0.0);
    assert!(processing >= 0.4, "processing {processing}");
    server.set("/health", Reply::status(503, ""));
    let (families, health) = attempt_with_health(&mut collector).await;
    assert_eq!(health, down(Reason::HttpStatus));
    assert_eq!(success(&families), 0.0);
    assert_eq!(value(&families, "probe_degraded", &["http"]), Some(0.0));
    assert_eq!(
        lines(&render(&families, "web"), &["probe_attempts_total"]),
        "\
probe_attempts_total{target=\"web\",module=\"http\",result=\"success\"} 1
probe_attempts_total{target=\"web\",module=\"http\",result=\"degraded\"} 1
probe_attempts_total{target=\"web\",module=\"http\",result=\"failure\"} 1
"
    );
}

#[tokio::test]
async fn slow_beyond_timeout_and_hang_fail_within_the_timeout() {
    let server = TestServer::http().await;
    server.set("/slow", Reply::ok("OK").delayed(Duration::from_secs(5)));
    server.set("/hang", Reply::hang());
    for path in ["/slow", "/hang"] {
        let mut t = target("web", &server.url(path), ProbeOptions::default());
        t.common.timeout = Duration::from_millis(500);
        // Through the runner, as in production: the probe ends its own attempt, the run is
        // a success of fedimeter, and the probe says 0.
        let job = probe::job(&t);
        let started = Instant::now();
        let snapshot = runner::collect_once(&job.id, job.timeout, job.collector).await;
        let took = started.elapsed();
        // Only a lower wall-clock bound (load can only lengthen it): the attempt waited for
        // its timeout. That it ended itself there, before the runner's timeout one second
        // later, is the outcome below (success, not timeout), no upper clock bound needed.
        assert!(took >= Duration::from_millis(500), "{path}: {took:?}");
        assert_eq!(snapshot.outcome, Outcome::Success, "{path}");
        // The run succeeded, the target did not: its health says so.
        assert_eq!(snapshot.health, down(Reason::Timeout), "{path}");
        assert_eq!(
            snapshot.value("probe_success", &["http"]),
            Some(0.0),
            "{path}"
        );
        assert_eq!(
            snapshot.value("probe_http_status_code", &["http"]),
            Some(0.0),
            "{path}"
        );
        assert_eq!(
            snapshot.value("fedimeter_collector_success", &["probe", "web"]),
            Some(1.0),
            "{path}"
        );
        let duration = snapshot
            .value("probe_duration_seconds", &["http"])
            .unwrap_or(0.0);
        assert!(duration >= 0.5, "{path}: {duration}");
    }
}

#[tokio::test]
async fn stopped_server_fails_to_connect_and_recovers_after_restart() {
    let server = TestServer::http().await;
    server.set("/health", Reply::ok("OK"));
    let mut collector = ProbeCollector::new(&target(
        "web",
        &server.url("/health"),
        ProbeOptions::default(),
    ));
    assert_eq!(success(&attempt(&mut collector).await), 1.0);
    server.stop().await;
    // Refused at once, not at the timeout: the reason says so (a timeout would be `timeout`).
    let (families, health) = attempt_with_health(&mut collector).await;
    assert_eq!(health, down(Reason::Refused));
    assert_eq!(success(&families), 0.0);
    assert_eq!(
        value(&families, "probe_http_status_code", &["http"]),
        Some(0.0)
    );
    // Resolution worked, the connect did not.
    assert_eq!(value(&families, "probe_ip_protocol", &["http"]), Some(4.0));
    assert_eq!(
        value(
            &families,
            "probe_http_duration_seconds",
            &["connect", "http"]
        ),
        Some(0.0)
    );
    server.start_again().await;
    assert_eq!(success(&attempt(&mut collector).await), 1.0);
}

/// A name that does not resolve (`.invalid`, RFC 6761) is down with reason dns, for HTTP
/// and TCP probes alike.
#[tokio::test]
async fn an_unresolvable_host_is_down_with_reason_dns() {
    for url in [
        "http://fedimeter-probe-test.invalid/health",
        "tcp://fedimeter-probe-test.invalid:443",
    ] {
        let mut collector = ProbeCollector::new(&target("web", url, ProbeOptions::default()));
        let (families, health) = attempt_with_health(&mut collector).await;
        assert_eq!(health, down(Reason::Dns), "{url}");
        assert_eq!(success(&families), 0.0, "{url}");
    }
}

#[tokio::test]
async fn https_with_a_private_ca() {
    let ca = TestCa::new();
    let server = TestServer::https(&ca.leaf(NOT_BEFORE_2020, VALID_UNTIL_2040)).await;
    server.set("/health", Reply::ok("OK"));
    let trusted = ProbeOptions {
        ca_file: Some(ca.ca_file.clone()),
        ..ProbeOptions::default()
    };
    let mut collector = ProbeCollector::new(&target("web", &server.url("/health"), trusted));
    let families = attempt(&mut collector).await;
    assert_eq!(
        lines(&render(&families, "web"), STABLE),
        format!(
            "\
probe_attempts_total{{target=\"web\",module=\"http\",result=\"success\"}} 1
probe_attempts_total{{target=\"web\",module=\"http\",result=\"degraded\"}} 0
probe_attempts_total{{target=\"web\",module=\"http\",result=\"failure\"}} 0
probe_degraded{{module=\"http\",target=\"web\"}} 0
probe_http_content_length{{module=\"http\",target=\"web\"}} 2
probe_http_redirects{{module=\"http\",target=\"web\"}} 0
probe_http_ssl{{module=\"http\",target=\"web\"}} 1
probe_http_status_code{{module=\"http\",target=\"web\"}} 200
probe_http_uncompressed_body_length{{module=\"http\",target=\"web\"}} 2
probe_http_version{{module=\"http\",target=\"web\"}} 1.1
probe_ip_protocol{{module=\"http\",target=\"web\"}} 4
probe_ssl_cert_not_before_timestamp_seconds{{module=\"http\",target=\"web\"}} {NOT_BEFORE_2020}
probe_ssl_earliest_cert_expiry{{module=\"http\",target=\"web\"}} {VALID_UNTIL_2040}
probe_ssl_last_chain_expiry_timestamp_seconds{{module=\"http\",target=\"web\"}} {VALID_UNTIL_2040}
probe_success{{module=\"http\",target=\"web\"}} 1
probe_tls_version_info{{version=\"TLS 1.3\",module=\"http\",target=\"web\"}} 1
"
        )
    );
    assert!(value(&families, "probe_http_duration_seconds", &["tls", "http"]).unwrap_or(0.0) > 0.0);

    // Without the CA the chain is untrusted: the probe fails, the certificate is still seen.
    let mut untrusted = ProbeCollector::new(&target(
        "web",
        &server.url("/health"),
        ProbeOptions::default(),
    ));
    let families = attempt(&mut untrusted).await;
    assert_eq!(success(&families), 0.0);
    assert_eq!(
        value(&families, "probe_ssl_earliest_cert_expiry", &["http"]),
        Some(VALID_UNTIL_2040 as f64)
    );
    assert_eq!(
        value(
            &families,
            "probe_ssl_last_chain_expiry_timestamp_seconds",
            &["http"]
        ),
        None
    );

    // Verification off: success, and the facts are the same.
    let insecure = ProbeOptions {
        insecure_skip_verify: true,
        ..ProbeOptions::default()
    };
    let mut insecure = ProbeCollector::new(&target("web", &server.url("/health"), insecure));
    let families = attempt(&mut insecure).await;
    assert_eq!(success(&families), 1.0);
    assert_eq!(
        value(&families, "probe_ssl_earliest_cert_expiry", &["http"]),
        Some(VALID_UNTIL_2040 as f64)
    );
}

#[tokio::test]
async fn expired_certificate_fails_but_its_expiry_is_kept() {
    let ca = TestCa::new();
    let server = TestServer::https(&ca.leaf(NOT_BEFORE_2020, EXPIRED_2021)).await;
    server.set("/health", Reply::ok("OK"));
    let options = ProbeOptions {
        ca_file: Some(ca.ca_file.clone()),
        ..ProbeOptions::default()
    };
    let mut collector = ProbeCollector::new(&target("web", &server.url("/health"), options));
    let (families, health) = attempt_with_health(&mut collector).await;
    assert_eq!(
        health,
        down(Reason::Tls),
        "an expired certificate is a tls failure"
    );
    assert_eq!(success(&families), 0.0);
    assert_eq!(
        value(&families, "probe_http_status_code", &["http"]),
        Some(0.0)
    );
    assert_eq!(
        value(&families, "probe_ssl_earliest_cert_expiry", &["http"]),
        Some(EXPIRED_2021 as f64)
    );
    assert_eq!(
        value(
            &families,
            "probe_ssl_cert_not_before_timestamp_seconds",
            &["http"]
        ),
        Some(NOT_BEFORE_2020 as f64)
    );
    // The handshake failed: no TLS version, no verified chain.
    assert!(
        !families
            .iter()
            .any(|f| f.desc.name == "probe_tls_version_info")
    );
    assert_eq!(
        value(
            &families,
            "probe_ssl_last_chain_expiry_timestamp_seconds",
            &["http"]
        ),
        None
    );
    // The server goes away: the last known expiry stays exported.
    server.stop().await;
    let families = attempt(&mut collector).await;
    assert_eq!(success(&families), 0.0);
    assert_eq!(
        lines(
            &render(&families, "web"),
            &["probe_ssl_earliest_cert_expiry"]
        ),
        format!(
            "probe_ssl_earliest_cert_expiry{{module=\"http\",target=\"web\"}} {EXPIRED_2021}\n"
        )
    );
}

#[tokio::test]
async fn tcp_probe_up_and_down() {
    let server = TestServer::http().await;
    let url = format!("tcp://127.0.0.1:{}", server.port());
    let mut collector = ProbeCollector::new(&target("db", &url, ProbeOptions::default()));
    let families = attempt(&mut collector).await;
    assert_eq!(success(&families), 1.0);
    server.stop().await;
    let (families, health) = attempt_with_health(&mut collector).await;
    assert_eq!(health, down(Reason::Refused));
    assert_eq!(success(&families), 0.0);
    assert_eq!(
        lines(
            &render(&families, "db"),
            &[
                "probe_success",
                "probe_attempts_total",
                "probe_ip_protocol",
                "probe_degraded"
            ]
        ),
        "\
probe_attempts_total{target=\"db\",module=\"tcp\",result=\"success\"} 1
probe_attempts_total{target=\"db\",module=\"tcp\",result=\"degraded\"} 0
probe_attempts_total{target=\"db\",module=\"tcp\",result=\"failure\"} 1
probe_degraded{module=\"tcp\",target=\"db\"} 0
probe_ip_protocol{module=\"tcp\",target=\"db\"} 4
probe_success{module=\"tcp\",target=\"db\"} 0
"
    );
    server.start_again().await;
    assert_eq!(success(&attempt(&mut collector).await), 1.0);
}

#[tokio::test]
async fn registry_builds_configured_and_preset_probes() {
    // A [[probe]] named like a preset replaces it; the other presets follow the written
    // probes in `config.probes`, which the registry runs as they are.
    let text = r#"
        [mastodon]
        domain = "example.social"
        [[probe]]
        name = "web"
        url = "http://127.0.0.1:1/health"
        interval = "15s"
        timeout = "2s"
        [[probe]]
        name = "db"
        url = "tcp://127.0.0.1:5432"
        interval = "15s"
        timeout = "2s"
    "#;
    let env = std::collections::HashMap::<&str, &str>::new();
    let config = fedimeter::config::load_str(text, None, None, &env)
        .unwrap_or_else(|e| panic!("config errors:\n{e}"));
    let ids: Vec<String> = fedimeter::collect::registry::target_ids(&config)
        .iter()
        .map(|id| id.to_string())
        .collect();
    assert_eq!(
        ids,
        [
            "probe/web",
            "probe/db",
            "probe/streaming",
            "probe/api",
            "probe/media"
        ]
    );
    let jobs: Vec<String> = fedimeter::collect::registry::build(&config)
        .iter()
        .map(|j| format!("{} {:?} {:?}", j.id, j.interval, j.timeout))
        .collect();
    assert_eq!(
        jobs,
        [
            "probe/web 15s 3s",
            "probe/db 15s 3s",
            "probe/streaming 15s 11s",
            "probe/api 15s 11s",
            "probe/media 15s 11s"
        ]
    );
}

#[tokio::test]
async fn probe_options_from_toml_reach_the_server() {
    let ca = TestCa::new();
    let server = TestServer::https(&ca.leaf(NOT_BEFORE_2020, VALID_UNTIL_2040)).await;
    server.set("/api", Reply::json(r#"{"status":"ok"}"#));
    let text = format!(
        r#"
        [mastodon]
        domain = "example.social"
        api_token = "${{TOKEN}}"
        disable_probes = ["streaming"]

        [[probe]]
        name = "api-local"
        url = "{url}"
        interval = "15s"
        timeout = "3s"
        degraded_after = "1s"
        method = "post"
        expect_status = [200, 204]
        json_pointer = "/status"
        json_equals = "ok"
        headers = {{ Authorization = "Bearer ${{TOKEN}}" }}
        body = "{{}}"
        follow_redirects = false
        max_redirects = 3
        ca_file = "{ca}"
        max_body_bytes = 4096
        "#,
        url = server.url("/api"),
        ca = ca.ca_file.display()
    );
    let env = std::collections::HashMap::from([("TOKEN", "tok-from-env-123")]);
    let config = fedimeter::config::load_str(&text, None, None, &env)
        .unwrap_or_else(|e| panic!("config errors:\n{e}"));
    let t = &config.probes[0];
    assert_eq!(t.options.method, http::Method::POST);
    assert_eq!(t.options.expect_status, vec![200, 204]);
    assert_eq!(t.options.degraded_after, Some(Duration::from_secs(1)));
    assert!(!t.options.follow_redirects);
    assert_eq!(t.options.max_redirects, 3);
    assert_eq!(t.options.max_body_bytes, 4096);
    // check-config shows the options, masks the header and token, lists the presets.
    let rendered = config.render_resolved();
    assert!(!rendered.contains("tok-from-env-123"), "{rendered}");
    for expected in [
        "method = \"POST\"",
        "expect_status = [200, 204]",
        "headers = { \"Authorization\" = \"***\" }",
        "api_token = \"***\"",
        "disable_probes = [\"streaming\"]",
        "#   web https://example.social/health every 15s (timeout 10s)",
        "#   api https://example.social/api/v1/accounts/verify_credentials every 15s (timeout 10s)",
    ] {
        assert!(rendered.contains(expected), "{expected}\n{rendered}");
    }
    // The registry runs configured and preset probes.
    let ids: Vec<String> = fedimeter::collect::registry::target_ids(&config)
        .iter()
        .map(|id| id.to_string())
        .collect();
    assert_eq!(
        ids,
        ["probe/api-local", "probe/web", "probe/api", "probe/media"]
    );
    let mut collector = ProbeCollector::new(t);
    let families = attempt(&mut collector).await;
    assert_eq!(success(&families), 1.0);
    let request = server
        .last_request()
        .unwrap_or_else(|| panic!("no request"));
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.header("authorization"),
        Some("Bearer tok-from-env-123")
    );
}

#[test]
fn the_preset_comes_from_a_mastodon_env_file() {
    let env = std::collections::HashMap::<&str, &str>::new();
    let config = fedimeter::config::load_str(
        "",
        None,
        Some(std::path::Path::new("tests/fixtures/mastodon/quoted.env")),
        &env,
    )
    .unwrap_or_else(|e| panic!("config errors:\n{e}"));
    let probes: Vec<(String, String)> = config
        .probes
        .into_iter()
        .map(|p| (p.common.name, p.url))
        .collect();
    assert_eq!(
        probes,
        [
            ("web", "https://www.example.social/health"),
            (
                "streaming",
                "https://streaming.example.social/api/v1/streaming/health"
            ),
            (
                "api",
                "https://www.example.social/api/v1/timelines/public?local=true&limit=1"
            ),
            // The base the instance thumbnail is discovered from (`discover_url`).
            ("media", "https://www.example.social"),
        ]
        .map(|(n, u)| (n.to_string(), u.to_string()))
    );
}

/// `discover_url` (the media preset without `media_canary_url`): the URL at `pointer` of the
/// JSON at `from` is fetched; it is kept (one discovery for many attempts), found again after
/// the file answered 404, kept while a re-discovery fails, and without any URL the attempt
/// is down with the discovery's reason.
#[tokio::test]
async fn discovered_url_is_fetched_kept_and_found_again_after_a_404() {
    use fedimeter::collect::probe::DiscoverUrl;

    let ca = TestCa::new();
    let server = TestServer::https(&ca.leaf(NOT_BEFORE_2020, VALID_UNTIL_2040)).await;
    let instance = |file: &str| {
        Reply::json(&format!(
            r#"{{"domain":"localhost","thumbnail":{{"url":"{}"}}}}"#,
            server.url(file)
        ))
    };
    server.set("/api/v2/instance", instance("/files/a.png"));
    server.set("/files/a.png", Reply::ok("PNG-a"));
    let options = |every: Duration| ProbeOptions {
        ca_file: Some(ca.ca_file.clone()),
        discover_url: Some(DiscoverUrl {
            from: "/api/v2/instance".to_string(),
            pointer: "/thumbnail/url".to_string(),
            every,
        }),
        ..ProbeOptions::default()
    };
    let fetched = |server: &TestServer| -> Vec<String> {
        server
            .requests()
            .into_iter()
            .map(|r| r.target.split('?').next().unwrap_or_default().to_string())
            .collect()
    };
    let mut collector = ProbeCollector::new(&target(
        "media",
        &server.url("/"),
        options(Duration::from_secs(3600)),
    ));
    for _ in 0..2 {
        let (families, health) = attempt_with_health(&mut collector).await;
        assert_eq!(health, Some(Health::Up));
        assert_eq!(success(&families), 1.0);
        assert_eq!(
            value(&families, "probe_http_uncompressed_body_length", &["http"]),
            Some(5.0)
        );
    }
    assert_eq!(
        fetched(&server),
        ["/api/v2/instance", "/files/a.png", "/files/a.png"],
        "one discovery, then the file twice"
    );
    // The discovery is uncached: a unique _fedimeter= parameter.
    let discovery = server.requests()[0].target.clone();
    assert!(
        discovery.starts_with("/api/v2/instance?_fedimeter="),
        "{discovery}"
    );

    // The file moves: the kept URL answers 404 (down), the next attempt finds the new one.
    server.set("/api/v2/instance", instance("/files/b.png"));
    server.set("/files/a.png", Reply::status(404, "gone"));
    server.set("/files/b.png", Reply::ok("PNG-b"));
    let (_, health) = attempt_with_health(&mut collector).await;
    assert_eq!(health, down(Reason::HttpStatus));
    let (families, health) = attempt_with_health(&mut collector).await;
    assert_eq!(health, Some(Health::Up));
    assert_eq!(success(&families), 1.0);
    assert_eq!(
        fetched(&server)[3..],
        ["/files/a.png", "/api/v2/instance", "/files/b.png"]
    );

    // Discovered again on every attempt (every = 1 ns); a failing discovery keeps the URL.
    let mut eager = ProbeCollector::new(&target(
        "media",
        &server.url("/"),
        options(Duration::from_nanos(1)),
    ));
    assert_eq!(attempt_with_health(&mut eager).await.1, Some(Health::Up));
    server.set("/api/v2/instance", Reply::status(503, "down"));
    let before = server.requests().len();
    assert_eq!(attempt_with_health(&mut eager).await.1, Some(Health::Up));
    assert_eq!(
        fetched(&server)[before..],
        ["/api/v2/instance", "/files/b.png"]
    );

    // Nothing discovered yet and the document fails: down with the discovery's reason.
    let mut fresh = ProbeCollector::new(&target(
        "media",
        &server.url("/"),
        options(Duration::from_secs(3600)),
    ));
    let (families, health) = attempt_with_health(&mut fresh).await;
    assert_eq!(health, down(Reason::HttpStatus));
    assert_eq!(success(&families), 0.0);
    server.set("/api/v2/instance", Reply::json(r#"{"thumbnail":{}}"#));
    let (_, health) = attempt_with_health(&mut fresh).await;
    assert_eq!(health, down(Reason::CheckFailed));
}

/// A TLS probe of a real HTTPS server has the families blackbox_exporter has for one
/// (captured from Debian's blackbox_exporter 0.23 in `tests/fixtures/exporters/`), with its
/// label names once fedimeter's `module` (and, on `/metrics`, `target`) are set aside; among
/// them `probe_tls_version_info`, `probe_http_version` and `probe_ssl_earliest_cert_expiry`.
#[tokio::test]
async fn a_tls_probe_has_blackbox_exporters_families_and_labels() {
    let ca = TestCa::new();
    let server = TestServer::https(&ca.leaf(NOT_BEFORE_2020, VALID_UNTIL_2040)).await;
    server.set("/health", Reply::ok("OK"));
    let options = ProbeOptions {
        ca_file: Some(ca.ca_file.clone()),
        ..ProbeOptions::default()
    };
    let mut collector = ProbeCollector::new(&target("web", &server.url("/health"), options));
    let families = attempt(&mut collector).await;
    let path = format!(
        "{}/tests/fixtures/exporters/blackbox_exporter-0.23-https.txt",
        env!("CARGO_MANIFEST_DIR")
    );
    let fixture = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let mut shared = Vec::new();
    for line in fixture
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let name = line.split(['{', ' ']).next().unwrap_or("");
        let Some(family) = families.iter().find(|f| f.desc.name == name) else {
            continue;
        };
        assert!(!family.samples.is_empty(), "{name} has no sample");
        let theirs: std::collections::BTreeSet<&str> = line
            .split_once('{')
            .map(|(_, rest)| {
                rest.split("\",")
                    .filter_map(|pair| pair.split_once('=').map(|(k, _)| k))
                    .collect()
            })
            .unwrap_or_default();
        let ours: std::collections::BTreeSet<&str> = family
            .desc
            .labels
            .iter()
            .copied()
            .filter(|l| *l != "module" && *l != "target")
            .collect();
        assert_eq!(ours, theirs, "{name}: labels differ from blackbox_exporter");
        shared.push(name);
    }
    for name in [
        "probe_tls_version_info",
        "probe_http_version",
        "probe_ssl_earliest_cert_expiry",
        "probe_ssl_last_chain_expiry_timestamp_seconds",
        "probe_http_duration_seconds",
        "probe_success",
    ] {
        assert!(shared.contains(&name), "{name} missing: {shared:?}");
    }
}
