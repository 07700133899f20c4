//! The page in a real browser: headless Chromium (Debian's `chromium`) loads `/`,
//! `/history` and an incident page from a fedimeter whose store holds 90 days of generated
//! history with an outage, a maintenance and a resolved incident. Screenshots at 1280 px and
//! 375 px, light and dark, go to `target/screenshots/`; the test asserts no console errors
//! (CSP violations are console errors), no horizontal overflow at 375 px, every component's
//! 90 bars, and a bar's accessible text. Driven over the DevTools protocol (tungstenite).

use std::io::{BufRead, BufReader};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde_json::{Value, json};
use tungstenite::stream::MaybeTlsStream;
use tungstenite::{Message, WebSocket};

use fedimeter::config::{ComponentConfig, SecretUrl, SignalConfig};
use fedimeter::model::{Family, Sample, SnapshotStore};
use fedimeter::sli::store::SliBatch;
use fedimeter::sli::{COMPONENT_STATUS, ComponentOptions, ComponentStatus};
use fedimeter::store::Store;
use fedimeter::store::incidents::{
    AffectedComponent, IncidentSource, IncidentStatus, NewIncident, NewUpdate,
};
use fedimeter::web::page::adapter::{self, PageSources};
use fedimeter::web::page::http_cache::csp_for;
use fedimeter::web::page::published::Published;
use fedimeter::web::{self, SiteInfo, Surface, WebState};

const DAY_MIN: i64 = 1440;

fn sources() -> PageSources {
    let component = |id: &str, name: &str| ComponentConfig {
        id: id.into(),
        name: name.into(),
        description: "Posts, timelines and the apps".into(),
        signals: vec![SignalConfig::Probe {
            probe: "web".into(),
        }],
        options: ComponentOptions::default(),
        origin: fedimeter::config::Origin::Written,
    };
    PageSources {
        states: states(&[
            ("website", ComponentStatus::Operational),
            ("streaming", ComponentStatus::Operational),
        ]),
        title: "example.social status".into(),
        logo_url: None,
        about_url: Some("https://example.social/about".into()),
        components: fedimeter::sli::components::from_configs(vec![
            component("website", "Website & API"),
            component(
                "streaming",
                "Streaming — a deliberately long component name",
            ),
        ]),
        maintenance: fedimeter::sli::maintenance_watch::channel(Vec::new()).1,
    }
}

/// 90 days up to now: day −10 has an hour of major outage (10:00–11:00), day −20 half an
/// hour of partial outage, day −5 an hour of maintenance, days −89…−85 no data.
async fn seed(store: &Store, now: SystemTime) {
    let now_minute = fedimeter::store::unix_ms(now).div_euclid(60_000);
    let today = now_minute.div_euclid(DAY_MIN);
    for sli in ["website", "streaming"] {
        let sli: Arc<str> = sli.into();
        let mut batch = SliBatch::default();
        for minute in (today - 84) * DAY_MIN..now_minute {
            let day = minute.div_euclid(DAY_MIN) - today;
            let of_day = minute.rem_euclid(DAY_MIN);
            let state = match (day, of_day) {
                (-10, 600..660) if &*sli == "website" => ComponentStatus::MajorOutage,
                (-20, 300..330) => ComponentStatus::PartialOutage,
                (-5, 0..60) => ComponentStatus::UnderMaintenance,
                _ => ComponentStatus::Operational,
            };
            batch.minutes.push((sli.clone(), minute, state));
        }
        store.write_sli_batch(&batch).await.expect("history");
    }
    let opened = now - Duration::from_secs(10 * 86_400 - 36_000);
    let id = store
        .open_incident(&NewIncident {
            title: "Website unreachable".into(),
            status: IncidentStatus::Investigating,
            impact: None,
            components: vec![AffectedComponent {
                component: "website".into(),
                state: ComponentStatus::MajorOutage,
            }],
            body: "The database disk is full. Details: https://example.social/@admin/1".into(),
            source: IncidentSource::Human,
            draft: false,
            alert_key: None,
            at: opened,
        })
        .await
        .expect("incident");
    store
        .update_incident(
            id,
            &NewUpdate {
                status: IncidentStatus::Resolved,
                body: "Space freed, WAL archiving fixed.".into(),
                components: None,
                impact: None,
                at: opened + Duration::from_secs(3600),
            },
        )
        .await
        .expect("resolve");
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

#[test]
fn the_page_renders_in_chromium_light_and_dark_at_1280_and_375_px() {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("temp dir");
    let now = SystemTime::now();
    let base = runtime.block_on(async {
        let url = format!("sqlite://{}", dir.path().join("fedimeter.db").display());
        let store = Store::open(&SecretUrl::new(url)).await.expect("store");
        seed(&store, now).await;
        let snapshots = Arc::new(SnapshotStore::new([]));
        let mut family = Family::new(&COMPONENT_STATUS);
        for (component, status) in [("website", "operational"), ("streaming", "operational")] {
            family.samples.push(Sample {
                labels: Box::new([component.into(), status.into()]),
                value: 1.0,
            });
        }
        snapshots.publish_internal("sli", vec![family]);
        let model = adapter::build(&sources(), &snapshots, Some(&store), now).await;
        assert!(model.history_available);
        let published = Published::new("");
        published.update(model, now);
        let state = WebState {
            snapshots,
            site: Arc::new(SiteInfo {
                title: "example.social status".into(),
                components: Vec::new(),
            }),
            components: fedimeter::sli::recorder::states_channel().1,
            history: Default::default(),
        };
        let csp = axum::http::HeaderValue::from_str(&csp_for(None)).expect("csp");
        let router = web::router_with(state, Surface::Public, Some((published, csp)));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move { axum::serve(listener, router).await });
        format!("http://{addr}")
    });
    let _ = UNIX_EPOCH;

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
        let bars = browser.eval("document.querySelectorAll('.bar').length");
        assert_eq!(bars, json!(180), "90 bars for each of 2 components");
        let components = browser.eval("document.querySelectorAll('li.component').length");
        assert_eq!(components, json!(2));
        let overflow = browser
            .eval("document.documentElement.scrollWidth - document.documentElement.clientWidth");
        assert_eq!(
            overflow,
            json!(0),
            "{width}px {scheme}: horizontal overflow"
        );
        let outage = browser.eval(
            "[...document.querySelectorAll('#component-website .bar .tip')].map(t => t.textContent).find(t => t.includes('major outage')) || ''",
        );
        assert!(
            outage
                .as_str()
                .is_some_and(|t| t.ends_with("60 min major outage")),
            "a bar's accessible text: {outage}"
        );
        let no_data = browser.eval("document.querySelectorAll('.bar.nodata').length");
        assert_eq!(no_data, json!(10), "5 days without data × 2 components");
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
    }
    drop(browser);
    runtime.shutdown_timeout(Duration::from_secs(1));
}

/// A states channel holding these component states, as the SLI task would publish them.
fn states(pairs: &[(&str, ComponentStatus)]) -> fedimeter::sli::recorder::StatesReceiver {
    let (tx, rx) = fedimeter::sli::recorder::states_channel();
    tx.send_replace(Arc::new(fedimeter::sli::recorder::ComponentStates {
        evaluated_at: Some(SystemTime::now()),
        states: pairs
            .iter()
            .map(|(id, s)| (Arc::from(*id), Some(*s)))
            .collect(),
    }));
    rx
}
