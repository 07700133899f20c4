//! A maintenance window written with `fedimeter maintenance add` while `serve` runs counts
//! as maintenance everywhere, through the real binary: within the refresh period its
//! component shows `under_maintenance` in `/api/v2/components.json` and on `/`, the stored
//! `sli_minutes` rows of those minutes have the maintenance state (read from the SQLite
//! file), and its component's alerts are muted while a control component outside the
//! window pages the fake Discord.

mod binary;
#[path = "support/discord.rs"]
mod discord;
#[path = "support/http_server.rs"]
mod http_server;

use std::time::{Duration, Instant, SystemTime};

use binary::Workdir;
use discord::FakeDiscord;
use fedimeter::config::SecretUrl;
use fedimeter::sli::ComponentStatus;
use fedimeter::sli::maintenance_watch::REFRESH_EVERY;
use fedimeter::store::{Store, unix_ms};
use http_server::{Reply, TestServer};

/// Long enough that the window (added a few seconds after the start, applied within
/// [`REFRESH_EVERY`]) mutes the site's alerts before they would fire.
const FOR_SECS: u64 = 30;

fn config(web: &TestServer, webhook: &str) -> String {
    let mut text = format!(
        "listen = \"127.0.0.1:0\"\n\
         [sli]\nevaluate_every = \"1s\"\n\
         [alerting]\nevaluate_every = \"1s\"\nbuiltin = false\n\
         [[alert]]\nname = \"SiteProbeFailing\"\nseverity = \"critical\"\n\
         metric = \"probe_success\"\nlabels = {{ target = \"p1\" }}\nop = \"==\"\nvalue = 0\n\
         for = \"{FOR_SECS}s\"\ncomponent = \"site\"\n\
         [[alert]]\nname = \"SiteOutage\"\nseverity = \"critical\"\n\
         component = \"site\"\nstate_at_least = \"partial_outage\"\nfor = \"{FOR_SECS}s\"\n\
         [[alert]]\nname = \"ControlProbeFailing\"\nseverity = \"critical\"\n\
         metric = \"probe_success\"\nlabels = {{ target = \"p2\" }}\nop = \"==\"\nvalue = 0\n\
         for = \"{FOR_SECS}s\"\ncomponent = \"control\"\n\
         [[component]]\nid = \"site\"\nname = \"Site\"\nprobes = [\"p1\"]\n\
         [[component]]\nid = \"control\"\nname = \"Control\"\nprobes = [\"p2\"]\n\
         [[discord]]\nname = \"ops\"\nwebhook_url = \"{webhook}\"\n"
    );
    // A third probe stays up: not every probe fails, so fedimeter trusts what it sees.
    for p in ["p1", "p2", "ok"] {
        text.push_str(&format!(
            "[[probe]]\nname = \"{p}\"\nurl = \"{}\"\ninterval = \"1s\"\ntimeout = \"500ms\"\n",
            web.url(&format!("/{p}"))
        ));
    }
    text
}

/// The `status` of component `id` in `/api/v2/components.json` (`None`: not listed).
fn status_of(json: &str, id: &str) -> Option<String> {
    let doc: serde_json::Value = serde_json::from_str(json).expect("components.json");
    doc["components"]
        .as_array()?
        .iter()
        .find(|c| c["id"] == id)?["status"]
        .as_str()
        .map(String::from)
}

/// The HTML of component `id`'s list item on `/`.
fn component_html<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("id=\"component-{id}\""))
        .unwrap_or_else(|| panic!("component {id} on the page:\n{html}"));
    let rest = &html[start..];
    let end = rest[1..]
        .find("id=\"component-")
        .map_or(rest.len(), |e| e + 1);
    &rest[..end]
}

async fn components_json(server: &binary::Server) -> String {
    let (status, _, json, _) = binary::get(&server.url("/api/v2/components.json"), None).await;
    assert_eq!(status, 200, "{json}");
    json
}

async fn wait_for_status(server: &binary::Server, id: &str, status: &str, limit: Duration) {
    let started = Instant::now();
    loop {
        let json = components_json(server).await;
        if status_of(&json, id).as_deref() == Some(status) {
            return;
        }
        assert!(
            started.elapsed() < limit,
            "{id} not {status} within {limit:?}: {json}\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn titles(fake: &FakeDiscord) -> Vec<String> {
    fake.accepted()
        .iter()
        .filter(|r| r.method == "POST")
        .filter_map(|r| r.body["embeds"][0]["title"].as_str().map(String::from))
        .collect()
}

fn minute(t: SystemTime) -> i64 {
    unix_ms(t).div_euclid(60_000)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_window_added_with_the_cli_is_maintenance_on_the_page_in_history_and_for_alerts() {
    let fake = FakeDiscord::start().await;
    let webhook = fake.webhook("1", "tok", "ops");
    let web = TestServer::http().await;
    web.set("/p1", Reply::status(500, "down"));
    web.set("/p2", Reply::status(500, "down"));
    web.set("/ok", Reply::ok("ok"));
    let work = std::sync::Arc::new(Workdir::new(&config(&web, &webhook)));
    let mut server = work.serve(&[]);
    let started = Instant::now();

    // Both probes fail: after three attempts both components are a major outage.
    wait_for_status(&server, "site", "major_outage", Duration::from_secs(20)).await;
    wait_for_status(&server, "control", "major_outage", Duration::from_secs(20)).await;

    // A maintenance of the site from now (RFC 3339 seconds: at most now) for an hour.
    let now = SystemTime::now();
    let start = humantime::format_rfc3339_seconds(now).to_string();
    let end = humantime::format_rfc3339_seconds(now + Duration::from_secs(3600)).to_string();
    let w = work.clone();
    let out = tokio::task::spawn_blocking(move || {
        w.run(
            &[
                "maintenance",
                "add",
                "--title",
                "Upgrade",
                "--start",
                &start,
                "--end",
                &end,
                "--component",
                "site",
            ],
            &[],
        )
    })
    .await
    .expect("run");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "scheduled maintenance 1\n"
    );
    let added = SystemTime::now();
    let added_at = Instant::now();

    // Within the refresh period (plus an SLI evaluation and a page render, 1 s each).
    wait_for_status(
        &server,
        "site",
        "under_maintenance",
        REFRESH_EVERY + Duration::from_secs(5),
    )
    .await;
    let seen = SystemTime::now();
    let picked_up = added_at.elapsed();
    let json = components_json(&server).await;
    assert_eq!(
        status_of(&json, "control").as_deref(),
        Some("major_outage"),
        "outside the window: {json}"
    );
    let (_, _, html, _) = binary::get(&server.url("/"), None).await;
    assert!(
        component_html(&html, "site")
            .contains("<span class=\"status under_maintenance\">Under maintenance</span>"),
        "{html}"
    );
    assert!(
        component_html(&html, "control")
            .contains("<span class=\"status major_outage\">Major outage</span>"),
        "{html}"
    );
    assert!(html.contains("Upgrade"), "the window is listed: {html}");

    // The control's alert fires once its `for` has passed since the start; the site's two
    // rules were pending as long but are muted by the window.
    let limit = Duration::from_secs(FOR_SECS + 30);
    while titles(&fake).is_empty() {
        assert!(
            started.elapsed() < limit,
            "no alert within {limit:?}:\n{}",
            server.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The site's rules went pending no later than the control's: give them 3 evaluations.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        titles(&fake),
        ["🔴 FIRING: ControlProbeFailing"],
        "{}",
        server.log()
    );
    // The site's probe alert is tracked (firing, muted), not forgotten.
    let firing =
        "fedimeter_alerts{alertname=\"SiteProbeFailing\",severity=\"critical\",state=\"firing\"} 1";
    let polled = Instant::now();
    loop {
        let (_, _, metrics, _) = binary::get(&server.url("/metrics"), None).await;
        if metrics.lines().any(|l| l == firing) {
            break;
        }
        assert!(polled.elapsed() < Duration::from_secs(10), "{metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(titles(&fake), ["🔴 FIRING: ControlProbeFailing"]);

    // SIGTERM writes the minute in progress; then read the history from the SQLite file.
    let stopped = SystemTime::now();
    server.sigterm_and_wait(Duration::from_secs(10));
    let url = format!("sqlite://{}", work.path("fedimeter.db").display());
    let store = Store::open(&SecretUrl::new(url)).await.expect("store");
    let from = minute(now) - 10;
    let to = minute(stopped) + 1;
    let site = store.sli_minutes("site", from, to).await.expect("site");
    let control = store
        .sli_minutes("control", from, to)
        .await
        .expect("control");
    store.close().await;
    // Every minute from the one in which the page showed the window is maintenance (the
    // worst state of a minute wins and maintenance ranks above every outage) ...
    let under: Vec<i64> = site
        .iter()
        .filter(|(m, _)| *m >= minute(seen))
        .map(|(m, _)| *m)
        .collect();
    let expected: Vec<i64> = (minute(seen)..=minute(stopped)).collect();
    assert_eq!(under, expected, "{site:?}");
    assert!(
        site.iter()
            .filter(|(m, _)| *m >= minute(seen))
            .all(|(_, s)| *s == ComponentStatus::UnderMaintenance),
        "{site:?}"
    );
    // ... no minute before the window started is ...
    assert!(
        site.iter()
            .filter(|(m, _)| *m < minute(now))
            .all(|(_, s)| *s != ComponentStatus::UnderMaintenance),
        "{site:?}"
    );
    // ... and the control, outside the window, stayed a major outage (from the first
    // minute that began after it went down) and never maintenance.
    let control_after: Vec<(i64, ComponentStatus)> = control
        .iter()
        .copied()
        .filter(|(m, _)| *m >= minute(now))
        .collect();
    let expected: Vec<(i64, ComponentStatus)> = (minute(now)..=minute(stopped))
        .map(|m| (m, ComponentStatus::MajorOutage))
        .collect();
    assert_eq!(control_after, expected);
    assert!(
        control
            .iter()
            .all(|(_, s)| *s != ComponentStatus::UnderMaintenance),
        "{control:?}"
    );
    assert_eq!(fake.rate_limit_violations(), 0);
    eprintln!(
        "picked up {picked_up:?} after `maintenance add` (refresh every {REFRESH_EVERY:?}); \
         added at {}",
        humantime::format_rfc3339_seconds(added)
    );
}

#[test]
fn maintenance_add_refuses_unknown_components_naming_the_known_ones() {
    let work = Workdir::new(
        "listen = \"127.0.0.1:0\"\n\
         [[probe]]\nname = \"p1\"\nurl = \"http://127.0.0.1:1/\"\n\
         [[component]]\nid = \"site\"\nname = \"Site\"\nprobes = [\"p1\"]\n\
         [[component]]\nid = \"control\"\nname = \"Control\"\nprobes = [\"p1\"]\n",
    );
    let out = work.run(
        &[
            "maintenance",
            "add",
            "--title",
            "Upgrade",
            "--start",
            "2099-01-01T02:00:00Z",
            "--end",
            "2099-01-01T03:00:00Z",
            "--component",
            "stie",
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown component \"stie\"; the configured components are: site, control"),
        "{err}"
    );
    // Nothing was written.
    let list = work.run(&["maintenance", "list", "--all"], &[]);
    assert_eq!(
        String::from_utf8_lossy(&list.stdout),
        "no maintenance scheduled\n"
    );
}
