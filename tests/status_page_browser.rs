//! The page in a real browser: headless Chromium (Debian's `chromium`) loads `/`,
//! `/history` and an incident page from a running `fedimeter serve` (the real binary) whose
//! SQLite store holds 90 days of generated history with an outage, a maintenance and a
//! resolved incident. The history is generated into the store file through the library's
//! store API before `serve` starts (minute buckets with their hour and day rollups,
//! component state intervals, and the last 24 h of probe results for the sparklines); the
//! incident and one maintenance window are written with `fedimeter incident …` and
//! `fedimeter maintenance add` while `serve` runs, another window comes from the config's
//! `[[maintenance]]`. The probes hit local HTTP servers (`tests/support/http_server.rs`).
//!
//! Screenshots at 1280 px and 375 px, light and dark, go to `target/screenshots/`; the test
//! asserts no console errors (CSP violations are console errors), no horizontal overflow at
//! 375 px, every component's 90 bars, a bar's accessible text, the outage day's bar (its
//! class and its minutes), the maintenance day, the response-time sparkline of each probe
//! component, the scheduled maintenance, `/history` and the incident page. One Chromium is
//! driven over the DevTools protocol (tungstenite) for every screenshot.

mod binary;
#[path = "support/http_server.rs"]
mod http_server;

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use fedimeter::config::SecretUrl;
use fedimeter::sli::ComponentStatus;
use fedimeter::sli::eval::ProbeResult;
use fedimeter::sli::store::{ComponentTransition, SliBatch};
use fedimeter::store::Store;
use http_server::{Reply, TestServer};

const DAY_MIN: i64 = 1440;

/// The first day with history, relative to today: days −89…−85 have no data.
const FIRST_DAY: i64 = -84;
/// The outage: day −10, 10:00–11:17 UTC, major outage of `website` only: 77 minutes.
const OUTAGE_DAY: i64 = -10;
const OUTAGE_MINUTES: std::ops::Range<i64> = 600..677;
/// Day −20, 05:00–05:30: a partial outage of both components.
const PARTIAL_DAY: i64 = -20;
const PARTIAL_MINUTES: std::ops::Range<i64> = 300..330;
/// The maintenance: day −5, 02:00–03:30 UTC, both components (the config's first
/// `[[maintenance]]` names the same window): 90 minutes.
const MAINTENANCE_DAY: i64 = -5;
const MAINTENANCE_MINUTES: std::ops::Range<i64> = 120..210;

/// The generated state of `component` in `minute_of_day` of `day` (relative to today).
fn generated_state(component: &str, day: i64, minute_of_day: i64) -> ComponentStatus {
    if day == OUTAGE_DAY && OUTAGE_MINUTES.contains(&minute_of_day) && component == "website" {
        ComponentStatus::MajorOutage
    } else if day == PARTIAL_DAY && PARTIAL_MINUTES.contains(&minute_of_day) {
        ComponentStatus::PartialOutage
    } else if day == MAINTENANCE_DAY && MAINTENANCE_MINUTES.contains(&minute_of_day) {
        ComponentStatus::UnderMaintenance
    } else {
        ComponentStatus::Operational
    }
}

/// Writes the history of `website` (probe `web`) and `streaming` (probe `streaming`) into
/// the store: every minute from day −84 up to `now`, the component intervals those minutes
/// make, and a probe result every 5 minutes over the last 24 h (a daily wave, 40…120 ms).
async fn generate_history(store: &Store, now: SystemTime) {
    let now_ms = fedimeter::store::unix_ms(now);
    let now_minute = now_ms.div_euclid(60_000);
    let today = now_minute.div_euclid(DAY_MIN);
    for (component, probe) in [("website", "web"), ("streaming", "streaming")] {
        let sli: Arc<str> = component.into();
        let mut batch = SliBatch::default();
        let mut previous = None;
        for minute in (today + FIRST_DAY) * DAY_MIN..now_minute {
            let day = minute.div_euclid(DAY_MIN) - today;
            let state = generated_state(component, day, minute.rem_euclid(DAY_MIN));
            batch.minutes.push((sli.clone(), minute, state));
            if previous != Some(state) {
                batch.transitions.push(ComponentTransition {
                    component: sli.clone(),
                    state: Some(state),
                    at: UNIX_EPOCH + Duration::from_secs(u64::try_from(minute * 60).expect("t")),
                });
                previous = Some(state);
            }
        }
        batch.seen.insert(sli.clone(), now);
        let probe: Arc<str> = probe.into();
        for k in 0..288_u32 {
            let at =
                now - Duration::from_secs(86_400) + Duration::from_secs(u64::from(k) * 300 + 30);
            batch.probe_results.push(ProbeResult {
                probe: probe.clone(),
                at,
                success: true,
                degraded: false,
                duration_seconds: 0.080
                    + 0.040 * (std::f64::consts::TAU * f64::from(k) / 288.0).sin(),
            });
        }
        store
            .write_sli_batch(&batch)
            .await
            .expect("writing history");
    }
}

/// `20 Nov 2026` for the UTC day `day` days from `now`'s (written out here, not by the page
/// code).
fn date_of_day(now: SystemTime, day: i64) -> String {
    let iso = rfc3339(at_minute(now, day, 0));
    let months = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let month: usize = iso[5..7].parse().expect("month");
    let day_of_month: u32 = iso[8..10].parse().expect("day");
    format!("{day_of_month} {} {}", months[month - 1], &iso[..4])
}

fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

/// The day `day` (relative to `now`'s UTC day) at `minute_of_day`.
fn at_minute(now: SystemTime, day: i64, minute_of_day: i64) -> SystemTime {
    let today = fedimeter::store::unix_ms(now).div_euclid(86_400_000);
    UNIX_EPOCH
        + Duration::from_secs(
            u64::try_from((today + day) * 86_400 + minute_of_day * 60).expect("t"),
        )
}

fn config(db: &std::path::Path, web: &TestServer, now: SystemTime) -> String {
    let upcoming = now + Duration::from_secs(3 * 86_400);
    format!(
        r#"listen = "127.0.0.1:0"

[site]
title = "example.social status"
about = "https://example.social/about"

[store]
url = "sqlite://{db}"

[sli]
# Components are evaluated every second, so the page shows their states at once.
evaluate_every = "1s"

[[probe]]
name = "web"
url = "{health}"
interval = "1s"
timeout = "800ms"

[[probe]]
name = "streaming"
url = "{streaming}"
interval = "1s"
timeout = "800ms"

[[component]]
id = "website"
name = "Website & API"
description = "Posts, timelines and the apps"
probes = ["web"]

[[component]]
id = "streaming"
name = "Streaming — a deliberately long component name"
description = "Live updates in the apps"
probes = ["streaming"]

[[maintenance]]
title = "PostgreSQL upgrade"
start = "{m_start}"
end = "{m_end}"

[[maintenance]]
title = "Object storage migration"
components = ["website"]
start = "{u_start}"
end = "{u_end}"
"#,
        db = db.display(),
        health = web.url("/health"),
        streaming = web.url("/api/v1/streaming/health"),
        m_start = rfc3339(at_minute(now, MAINTENANCE_DAY, MAINTENANCE_MINUTES.start)),
        m_end = rfc3339(at_minute(now, MAINTENANCE_DAY, MAINTENANCE_MINUTES.end)),
        u_start = rfc3339(upcoming),
        u_end = rfc3339(upcoming + Duration::from_secs(3600)),
    )
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

struct Browser {
    child: Child,
    ws: WebSocket<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    session: String,
    events: Vec<Value>,
    _profile: tempfile::TempDir,
}

impl Browser {
    fn start() -> Browser {
        let profile = tempfile::tempdir().expect("profile dir");
        let mut child = Command::new("chromium")
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--no-first-run",
                "--hide-scrollbars",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("chromium is installed (scripts/test installs Debian's chromium)");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let url = loop {
            let line = lines
                .next()
                .expect("chromium printed its DevTools address")
                .expect("read");
            if let Some(rest) = line.strip_prefix("DevTools listening on ") {
                break rest.trim().to_string();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        let (ws, _) = tungstenite::connect(url.as_str()).expect("devtools websocket");
        let mut browser = Browser {
            child,
            ws,
            next_id: 0,
            session: String::new(),
            events: Vec::new(),
            _profile: profile,
        };
        let target = browser.call("Target.createTarget", json!({ "url": "about:blank" }));
        let target_id = target["targetId"].as_str().expect("target").to_string();
        let attached = browser.call(
            "Target.attachToTarget",
            json!({ "targetId": target_id, "flatten": true }),
        );
        browser.session = attached["sessionId"].as_str().expect("session").to_string();
        for domain in ["Runtime.enable", "Log.enable", "Page.enable"] {
            browser.call(domain, json!({}));
        }
        browser
    }

    fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if !self.session.is_empty() {
            msg["sessionId"] = json!(self.session);
        }
        self.ws.send(Message::text(msg.to_string())).expect("send");
        loop {
            let Message::Text(text) = self.ws.read().expect("read") else {
                continue;
            };
            let v: Value = serde_json::from_str(&text).expect("json");
            if v["id"] == json!(id) {
                assert!(v.get("error").is_none(), "{method}: {v}");
                return v["result"].clone();
            }
            self.events.push(v);
        }
    }

    fn wait_for_event(&mut self, method: &str) {
        if let Some(i) = self.events.iter().position(|e| e["method"] == method) {
            self.events.drain(..=i);
            return;
        }
        loop {
            let Message::Text(text) = self.ws.read().expect("read") else {
                continue;
            };
            let v: Value = serde_json::from_str(&text).expect("json");
            let done = v["method"] == method;
            self.events.push(v);
            if done {
                return;
            }
        }
    }

    fn eval(&mut self, expression: &str) -> Value {
        let r = self.call(
            "Runtime.evaluate",
            json!({ "expression": expression, "returnByValue": true }),
        );
        r["result"]["value"].clone()
    }

    /// Loads `url` at `width` px in `scheme`, saves a full-page screenshot, and returns
    /// the console errors seen while loading.
    fn load(&mut self, url: &str, width: u32, scheme: &str, shot: &str) -> Vec<String> {
        self.events.clear();
        self.call(
            "Emulation.setDeviceMetricsOverride",
            json!({ "width": width, "height": 900, "deviceScaleFactor": 1, "mobile": width < 600 }),
        );
        self.call(
            "Emulation.setEmulatedMedia",
            json!({ "features": [{ "name": "prefers-color-scheme", "value": scheme }] }),
        );
        self.call("Page.navigate", json!({ "url": url }));
        self.wait_for_event("Page.loadEventFired");
        let png = self.call(
            "Page.captureScreenshot",
            json!({ "format": "png", "captureBeyondViewport": true }),
        );
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png["data"].as_str().expect("png"))
            .expect("base64");
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
        std::fs::create_dir_all(&dir).expect("screenshot dir");
        std::fs::write(dir.join(shot), bytes).expect("write screenshot");
        self.events
            .iter()
            .filter_map(|e| match e["method"].as_str() {
                Some("Runtime.exceptionThrown") => Some(e["params"].to_string()),
                Some("Runtime.consoleAPICalled") if e["params"]["type"] == "error" => {
                    Some(e["params"].to_string())
                }
                Some("Log.entryAdded") if e["params"]["entry"]["level"] == "error" => {
                    Some(e["params"]["entry"].to_string())
                }
                _ => None,
            })
            .collect()
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `url` until `done(body)`, for at most `limit`; returns the last body.
async fn wait_for(url: &str, limit: Duration, done: impl Fn(&str) -> bool) -> String {
    let started = Instant::now();
    loop {
        let (status, _, body, _) = binary::get(url, None).await;
        if status == 200 && done(&body) {
            return body;
        }
        assert!(
            started.elapsed() < limit,
            "{url} not as expected within {limit:?}:\n{body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[test]
fn the_page_of_a_running_fedimeter_renders_in_chromium_light_and_dark_at_1280_and_375_px() {
    let started = Instant::now();
    // The bars are UTC days: keep generation and the page on the same day.
    let of_day = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs()
        % 86_400;
    if of_day > 86_400 - 180 {
        std::thread::sleep(Duration::from_secs(86_400 - of_day + 2));
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let now = SystemTime::now();
    let web = runtime.block_on(async {
        let web = TestServer::http().await;
        web.set("/health", Reply::ok("OK"));
        web.set("/api/v1/streaming/health", Reply::ok("OK"));
        web
    });
    let work = binary::Workdir::new("");
    let db = work.path("fedimeter.db");
    std::fs::write(work.path("fedimeter.toml"), config(&db, &web, now)).expect("config");
    runtime.block_on(async {
        let url = SecretUrl::new(format!("sqlite://{}", db.display()));
        let store = Store::open(&url).await.expect("store");
        generate_history(&store, now).await;
        store.close().await;
    });
    let generated = started.elapsed();

    let server = work.serve(&[]);
    let base = server.base.clone();
    // People write the incident and a maintenance window while serve runs.
    assert_eq!(
        stdout(&work.run(
            &[
                "incident",
                "open",
                "--title",
                "Website unreachable",
                "--component",
                "website=major_outage",
                "-m",
                "The website does not answer. Details: https://example.social/@admin/1",
            ],
            &[],
        )),
        "opened incident 1\n"
    );
    for (status, message) in [
        ("identified", "The database disk is full."),
        ("monitoring", "Space freed; watching the disk."),
    ] {
        assert_eq!(
            stdout(&work.run(
                &["incident", "update", "1", "--status", status, "-m", message],
                &[],
            )),
            format!("updated incident 1: {status}\n")
        );
    }
    assert_eq!(
        stdout(&work.run(
            &[
                "incident",
                "resolve",
                "1",
                "-m",
                "Space freed, WAL archiving fixed."
            ],
            &[]
        )),
        "resolved incident 1\n"
    );
    let cli_start = now + Duration::from_secs(86_400);
    assert_eq!(
        stdout(&work.run(
            &[
                "maintenance",
                "add",
                "--title",
                "Media proxy restart",
                "--start",
                &rfc3339(cli_start),
                "--end",
                &rfc3339(cli_start + Duration::from_secs(1800)),
                "--component",
                "streaming",
            ],
            &[],
        )),
        "scheduled maintenance 1\n"
    );
    runtime.block_on(async {
        let limit = Duration::from_secs(30);
        wait_for(&format!("{base}/api/v2/components.json"), limit, |b| {
            b.matches("\"status\":\"operational\"").count() == 2
        })
        .await;
        wait_for(&format!("{base}/"), limit, |b| {
            b.contains("Media proxy restart") && b.contains("Website unreachable")
        })
        .await;
        wait_for(&format!("{base}/incidents/1"), limit, |b| {
            b.contains("Space freed, WAL archiving fixed.")
        })
        .await;
    });
    let served = started.elapsed();

    let outage_text = format!("{}: ", date_of_day(now, OUTAGE_DAY));
    let maintenance_text = format!("{}: ", date_of_day(now, MAINTENANCE_DAY));
    let mut browser = Browser::start();
    for (width, scheme) in [
        (1280, "light"),
        (1280, "dark"),
        (375, "light"),
        (375, "dark"),
    ] {
        let errors = browser.load(
            &format!("{base}/"),
            width,
            scheme,
            &format!("status-{width}-{scheme}.png"),
        );
        assert!(errors.is_empty(), "{width}px {scheme}: {errors:?}");
        let components = browser.eval("document.querySelectorAll('li.component').length");
        assert_eq!(components, json!(2));
        for id in ["website", "streaming"] {
            let bars = browser.eval(&format!(
                "document.querySelectorAll('#component-{id} .bar').length"
            ));
            assert_eq!(bars, json!(90), "{id}: 90 daily bars");
            // The sparkline: an SVG path with at least one line segment (the 48 half-hour
            // slots of the last 24 h all hold generated results).
            let path = browser.eval(&format!(
                "document.querySelector('#component-{id} svg path')?.getAttribute('d') || ''"
            ));
            let path = path.as_str().unwrap_or("");
            assert!(
                path.starts_with('M') && path.contains('L'),
                "{id}: sparkline path {path:?}"
            );
        }
        let bars = browser.eval("document.querySelectorAll('.bar').length");
        assert_eq!(bars, json!(180), "90 bars for each of 2 components");
        let overflow = browser
            .eval("document.documentElement.scrollWidth - document.documentElement.clientWidth");
        assert_eq!(
            overflow,
            json!(0),
            "{width}px {scheme}: horizontal overflow"
        );
        // The outage day of `website`: 77 bad minutes of 1440 recorded, all good otherwise:
        // 1363 / 1440 = 0.946527… → floored to 94.65 %.
        let outage = browser.eval(&format!(
            "(() => {{ const bar = [...document.querySelectorAll('#component-website .bar')]
                 .find(b => b.querySelector('.tip').textContent.startsWith({outage_text:?}));
               return bar ? [bar.className, bar.querySelector('.tip').textContent] : null; }})()"
        ));
        let class = outage[0].as_str().unwrap_or("");
        let text = outage[1].as_str().unwrap_or("");
        assert!(
            class.split(' ').any(|c| c == "critical"),
            "the outage day's bar has the major-outage class: {outage}"
        );
        assert!(
            text.contains("94.65 %") && text.contains("77 min major outage"),
            "a bar's accessible text names the outage minutes: {outage}"
        );
        // The maintenance day: 90 maintenance minutes left out, the other 1350 good.
        for id in ["website", "streaming"] {
            let text = browser.eval(&format!(
                "[...document.querySelectorAll('#component-{id} .bar .tip')].map(t => t.textContent)
                 .find(t => t.startsWith({maintenance_text:?})) || ''"
            ));
            let text = text.as_str().unwrap_or("");
            assert!(
                text.contains("100.00 %") && text.contains("90 min maintenance"),
                "{id}: the maintenance day says maintenance: {text:?}"
            );
        }
        // Availability over 30 and 90 days of `website`: 77 + 30 bad minutes, 90
        // maintenance minutes left out. 30 d: 1 − 107 / 43,110 = 0.997517… → 99.75 %;
        // 90 d: the history starts 84 days ago, 1 − 107 / (120,870 … 122,310) = 0.99911…
        // → 99.91 % whatever the time of day.
        let windows = browser.eval(
            "[...document.querySelectorAll('#component-website dl.windows > div')]
               .map(d => d.querySelector('dt').textContent + ': ' + d.querySelector('dd').textContent)",
        );
        let windows: Vec<&str> = windows
            .as_array()
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        // The 90 d window also shows its no-data minutes: the 90 × 1440 minutes before now,
        // less the two latest that may not be written yet (docs/status-page.md), minus the
        // recorded ones: (90 − 84) × 1440 − 2 minus the minutes of today already generated,
        // less the one to three minutes serve itself recorded (or the window slid by)
        // before the page was read. The shorter windows have no minute without data.
        let generated_today = fedimeter::store::unix_ms(now)
            .div_euclid(60_000)
            .rem_euclid(DAY_MIN);
        let most = (90 + FIRST_DAY) * DAY_MIN - 2 - generated_today;
        let ninety = windows
            .iter()
            .find_map(|w| w.strip_prefix("90 d: 99.91 % (90 min maintenance, "))
            .and_then(|w| w.strip_suffix(" min no data)"))
            .and_then(|n| n.parse::<i64>().ok());
        assert!(
            windows.contains(&"30 d: 99.75 % (90 min maintenance)")
                && ninety.is_some_and(|n| (most - 3..=most).contains(&n)),
            "{windows:?}: 90 d should show {} to {most} min no data",
            most - 3
        );
        let no_data = browser.eval("document.querySelectorAll('.bar.nodata').length");
        assert_eq!(no_data, json!(10), "5 days without data × 2 components");
        let scheduled = browser.eval(
            "[...document.querySelectorAll('ul.maintenances li')].map(l => l.textContent).join('\\n')",
        );
        let scheduled = scheduled.as_str().unwrap_or("");
        assert!(
            scheduled.contains("Object storage migration")
                && scheduled.contains("Media proxy restart")
                && !scheduled.contains("PostgreSQL upgrade"),
            "upcoming maintenance from the config and from the command, not the past one: {scheduled}"
        );
        let past = browser.eval(
            "[...document.querySelectorAll('ul.past li a')].map(a => a.textContent).join('\\n')",
        );
        assert_eq!(past, json!("Website unreachable"), "the resolved incident");
        let dark_bg = browser.eval("getComputedStyle(document.body).backgroundColor");
        let expected = if scheme == "dark" {
            "rgb(13, 17, 23)"
        } else {
            "rgb(255, 255, 255)"
        };
        assert_eq!(dark_bg, json!(expected), "{scheme} theme");
    }
    for (path, shot, heading) in [
        ("/history", "history-375-light.png", "Incident history"),
        (
            "/incidents/1",
            "incident-375-light.png",
            "Website unreachable",
        ),
    ] {
        let errors = browser.load(&format!("{base}{path}"), 375, "light", shot);
        assert!(errors.is_empty(), "{path}: {errors:?}");
        assert_eq!(
            browser.eval("document.querySelector('h1').textContent"),
            json!(heading)
        );
        let overflow = browser
            .eval("document.documentElement.scrollWidth - document.documentElement.clientWidth");
        assert_eq!(overflow, json!(0), "{path}: horizontal overflow");
        // Open, two updates, resolve: four entries in the timeline, newest first.
        let timeline = browser.eval(
            "[...document.querySelectorAll('ol.timeline li .update-head strong')].map(s => s.textContent)",
        );
        assert_eq!(
            timeline,
            json!(["Resolved", "Monitoring", "Identified", "Investigating"]),
            "{path}"
        );
    }
    let link = browser.eval("document.querySelector('ol.timeline a')?.getAttribute('href') || ''");
    assert_eq!(
        link,
        json!("https://example.social/@admin/1"),
        "links are clickable"
    );
    drop(browser);
    drop(server);
    eprintln!(
        "timings: history generated in {generated:?}, serve ready at {served:?}, all done at {:?}",
        started.elapsed()
    );
    runtime.shutdown_timeout(Duration::from_secs(1));
}
