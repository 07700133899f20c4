//! End to end through the binary: a Mastodon env file with `LOCAL_DOMAIN` and a domain
//! whose preset probes are served by a local HTTPS server (`[mastodon] connect_to` and
//! `ca_file`, docs/probes.md). The three preset probe components of docs/sli.md — "Website
//! & API" (probes `web`, `api`), "Streaming" and "Media" (with `media_canary_url`) — appear
//! on `/api/status.json` and `/`, go to `major_outage` on `/api/status.json` when the
//! server stops — while `/`, seeing every probe fail at once (which fedimeter cannot tell
//! from losing its own network), says "Monitoring degraded" and shows each component as
//! not checked with its last known state (docs/status-page.md) — and back to
//! `operational` when it listens again. With only `LOCAL_DOMAIN` (no `media_canary_url`)
//! the three components are there too: the media probe fetches `thumbnail.url` of
//! `/api/v2/instance`. Every wait is bounded; no fixed sleeps.

mod binary;
#[path = "support/http_server.rs"]
mod http_server;

use std::time::{Duration, Instant};

use binary::{Workdir, get};
use http_server::{NOT_BEFORE_2020, Reply, TestCa, TestServer, VALID_UNTIL_2040};

/// The preset probe components of docs/sli.md, by public name, in page order.
const PRESET_PROBE_COMPONENTS: [&str; 3] = ["Website & API", "Streaming", "Media"];

/// The status of every component on `/api/status.json`, as (name, status).
async fn statuses(base: &binary::Server) -> Vec<(String, String)> {
    let (status, content_type, body, _) = get(&base.url("/api/status.json"), None).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        content_type.starts_with("application/json"),
        "{content_type}"
    );
    let json: serde_json::Value = serde_json::from_str(&body).expect("status.json is json");
    json["components"]
        .as_array()
        .unwrap_or_else(|| panic!("no components in {body}"))
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap_or_default().to_string(),
                c["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

/// Waits (at most `limit`) until each of the preset probe components has `want`.
async fn wait_for(server: &binary::Server, want: &str, limit: Duration) -> Vec<(String, String)> {
    let started = Instant::now();
    loop {
        let all = statuses(server).await;
        let done = PRESET_PROBE_COMPONENTS
            .iter()
            .all(|name| all.iter().any(|(n, status)| n == name && status == want));
        if done {
            return all;
        }
        assert!(
            started.elapsed() < limit,
            "components not {want} within {limit:?}: {all:?}\nlog:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn serve_mastodon(server: &TestServer) {
    server.set("/health", Reply::ok("OK"));
    server.set("/api/v1/streaming/health", Reply::ok("OK"));
    server.set("/api/v1/timelines/public", Reply::json("[]"));
    server.set("/system/canary.png", Reply::ok("PNG"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn preset_components_follow_the_mastodon_server_down_and_back() {
    let ca = TestCa::new();
    let server = TestServer::https(&ca.leaf(NOT_BEFORE_2020, VALID_UNTIL_2040)).await;
    serve_mastodon(&server);

    // The env file names the instance; the test CA's leaf is for `localhost`.
    let config = format!(
        r#"
listen = "127.0.0.1:0"

[store]
url = "sqlite://history.db"

[mastodon]
env_file = "mastodon.env"
media_canary_url = "https://localhost/system/canary.png"
connect_to = "{addr}"
ca_file = "{ca}"
probe_interval = "1s"
probe_timeout = "800ms"

[sli]
evaluate_every = "1s"
"#,
        addr = server.addr(),
        ca = ca.ca_file.display()
    );
    let work = Workdir::new(&config);
    std::fs::write(work.path("mastodon.env"), "LOCAL_DOMAIN=localhost\n").expect("env file");

    // check-config lists the expanded preset.
    let out = work.run(&["check-config"], &[]);
    let rendered = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{rendered}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "#   web https://localhost/health every 1s (timeout 800ms)",
        "#   media https://localhost/system/canary.png every 1s (timeout 800ms)",
        "#   website \"Website & API\": probes web, api",
        "#   media \"Media\": probes media",
    ] {
        assert!(rendered.contains(want), "missing {want:?} in\n{rendered}");
    }

    let mut fedimeter = work.serve(&[]);

    // Up: all three operational (the first success decides at once, docs/sli.md).
    let up = wait_for(&fedimeter, "operational", Duration::from_secs(30)).await;
    let names: Vec<&str> = up.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(&names[..3], PRESET_PROBE_COMPONENTS, "page order: {up:?}");
    // The page is re-rendered within a second of a state change (docs/status-page.md).
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let page = loop {
        let (status, _, page, _) = get(&fedimeter.url("/"), None).await;
        assert_eq!(status, 200);
        if page.contains("status operational") {
            break page;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page never showed an operational component:\n{page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    for name in ["Website &amp; API", "Streaming", "Media"] {
        assert!(page.contains(name), "{name} missing from the page:\n{page}");
    }
    // The requests reached the local server under the domain's name.
    let request = server.last_request().expect("a probe request");
    assert_eq!(request.header("host"), Some("localhost"));

    // Down: the server stops listening; after failures_to_down (3) failed attempts of each
    // probe every component whose probes are all down is major_outage.
    // Every probe failing at once is also what fedimeter's own network failing looks like:
    // the page says monitoring is degraded, never paints the components red.
    server.stop().await;
    wait_for(&fedimeter, "major_outage", Duration::from_secs(30)).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let page = loop {
        let (_, _, page, _) = get(&fedimeter.url("/"), None).await;
        if page.contains("class=\"banner degraded\"") {
            break page;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the page never said monitoring is degraded:\n{page}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        page.contains("Monitoring degraded: every check fails at once"),
        "{page}"
    );
    assert!(!page.contains("status major_outage"), "{page}");
    assert_eq!(
        page.matches("Not checked right now<span class=\"last-known\"> · last known: Operational")
            .count(),
        3,
        "the three probe components, with the state they had: {page}"
    );

    // Back: successes_to_up (2) good attempts later, operational again.
    server.start_again().await;
    wait_for(&fedimeter, "operational", Duration::from_secs(30)).await;

    fedimeter.sigterm_and_wait(Duration::from_secs(10));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_local_domain_gives_the_three_probe_components_media_by_the_instance_thumbnail() {
    let ca = TestCa::new();
    let server = TestServer::https(&ca.leaf(NOT_BEFORE_2020, VALID_UNTIL_2040)).await;
    serve_mastodon(&server);
    server.set(
        "/api/v2/instance",
        Reply::json(r#"{"domain":"localhost","thumbnail":{"url":"https://localhost/site_uploads/thumbnail.png"}}"#),
    );
    server.set("/site_uploads/thumbnail.png", Reply::ok("PNG"));

    // Nothing about media in the config: only how to reach the local server.
    let config = format!(
        r#"
listen = "127.0.0.1:0"

[store]
url = "sqlite://history.db"

[mastodon]
env_file = "mastodon.env"
connect_to = "{addr}"
ca_file = "{ca}"
probe_interval = "1s"
probe_timeout = "800ms"

[sli]
evaluate_every = "1s"
"#,
        addr = server.addr(),
        ca = ca.ca_file.display()
    );
    let work = Workdir::new(&config);
    std::fs::write(work.path("mastodon.env"), "LOCAL_DOMAIN=localhost\n").expect("env file");

    let out = work.run(&["check-config"], &[]);
    let rendered = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{rendered}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for want in [
        "#   media https://localhost (fetches /thumbnail/url of /api/v2/instance, found again every 1h) every 1s (timeout 800ms)",
        "#   media \"Media\": probes media",
    ] {
        assert!(rendered.contains(want), "missing {want:?} in\n{rendered}");
    }

    let mut fedimeter = work.serve(&[]);
    let up = wait_for(&fedimeter, "operational", Duration::from_secs(30)).await;
    let names: Vec<&str> = up.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(&names[..3], PRESET_PROBE_COMPONENTS, "page order: {up:?}");
    // The thumbnail was discovered once and is fetched on every attempt.
    let targets: Vec<String> = server.requests().into_iter().map(|r| r.target).collect();
    let discoveries = targets
        .iter()
        .filter(|t| t.starts_with("/api/v2/instance?_fedimeter="))
        .count();
    assert_eq!(discoveries, 1, "{targets:?}");
    assert!(
        targets.iter().any(|t| t == "/site_uploads/thumbnail.png"),
        "{targets:?}"
    );

    // The file is gone: Media goes down, the other components stay operational.
    server.set("/site_uploads/thumbnail.png", Reply::status(404, "gone"));
    server.set(
        "/api/v2/instance",
        Reply::json(r#"{"thumbnail":{"url":"/gone.png"}}"#),
    );
    let started = Instant::now();
    loop {
        let all = statuses(&fedimeter).await;
        let status = |name: &str| {
            all.iter()
                .find(|(n, _)| n == name)
                .map(|(_, s)| s.clone())
                .unwrap_or_default()
        };
        if status("Media") == "major_outage" {
            assert_eq!(status("Website & API"), "operational", "{all:?}");
            assert_eq!(status("Streaming"), "operational", "{all:?}");
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "Media not major_outage within 30 s: {all:?}\nlog:\n{}",
            fedimeter.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // After the 404 the URL was discovered again.
    let discoveries = server
        .requests()
        .iter()
        .filter(|r| r.target.starts_with("/api/v2/instance?_fedimeter="))
        .count();
    assert!(discoveries >= 2, "discovered again after the 404");

    fedimeter.sigterm_and_wait(Duration::from_secs(10));
}
