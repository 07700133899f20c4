//! The public status page, its Statuspage v2 API, feeds and badges, served from a real
//! store (SQLite, and PostgreSQL for the same model) holding generated history: a day with
//! one minute of partial outage, a day with an hour of maintenance, no data before that; a
//! hostile component name and incident text; a stored and a configured maintenance.
//! Expected figures are computed by hand in the comments.

mod support;

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::Value;
use tower::ServiceExt;

use fedimeter::config::{
    ComponentConfig, MaintenanceSchedule, MaintenanceWindow, SecretUrl, SignalConfig,
};
use fedimeter::model::{Family, Kind, Outcome, Sample, Snapshot, SnapshotStore, TargetId};
use fedimeter::sli::eval::ProbeResult;
use fedimeter::sli::store::SliBatch;
use fedimeter::sli::{COMPONENT_STATUS, ComponentOptions, ComponentStatus};
use fedimeter::store::Store;
use fedimeter::store::incidents::{
    AffectedComponent, IncidentSource, IncidentStatus, NewIncident, NewMaintenance, NewUpdate,
};
use fedimeter::web::page::adapter::{self, PageSources};
use fedimeter::web::page::http_cache::csp_for;
use fedimeter::web::page::model::PageModel;
use fedimeter::web::page::published::Published;
use fedimeter::web::{self, SiteInfo, Surface, WebState};

const EVIL: &str = "<img src=x onerror=alert(1)>\"'";
const DAY_MIN: i64 = 1440;
/// Unix day 20_777 = 2026-11-20 (20_777 × 86_400 = 1_795_132_800).
const D0: i64 = 20_777;

/// Noon UTC of day D0 (2026-11-20).
fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs((D0 as u64) * 86_400 + 12 * 3600)
}

fn component(id: &str, name: &str, probe: &str) -> ComponentConfig {
    ComponentConfig {
        id: id.into(),
        name: name.into(),
        description: format!("{name} <b>desc</b>"),
        signals: vec![SignalConfig::Probe {
            probe: probe.into(),
        }],
        options: ComponentOptions::default(),
        origin: fedimeter::config::Origin::Written,
    }
}

fn sources() -> PageSources {
    PageSources {
        states: states(&[
            ("website", ComponentStatus::Operational),
            ("streaming", ComponentStatus::DegradedPerformance),
        ]),
        title: "example.social status".into(),
        logo_url: None,
        about_url: Some("https://example.social/about".into()),
        components: fedimeter::sli::components::from_configs(vec![
            component("website", EVIL, "web"),
            component("streaming", "Streaming", "stream"),
        ]),
        maintenance: fedimeter::sli::maintenance_watch::channel(config_windows()).1,
    }
}

/// The configured maintenance: tomorrow, half an hour.
fn config_windows() -> Vec<MaintenanceWindow> {
    vec![MaintenanceWindow {
        title: "Weekly <restart>".into(),
        components: vec!["streaming".into()],
        schedule: MaintenanceSchedule::Once {
            start: now() + Duration::from_secs(86_400),
            end: now() + Duration::from_secs(86_400 + 1800),
        },
    }]
}

/// [`sources`] with the maintenance windows as a running `serve` reads them: the config's
/// and the store's, merged (`sli::maintenance_watch::read`).
async fn sources_with(store: &Store) -> PageSources {
    let handle = fedimeter::store::handle::StoreHandle::connected(store.clone(), None);
    let (merged, ignored) = fedimeter::sli::maintenance_watch::read(
        &handle,
        &config_windows(),
        &["website", "streaming"],
        now(),
    )
    .await
    .expect("maintenance windows");
    assert!(ignored.is_empty(), "{ignored:?}");
    let (tx, rx) = fedimeter::sli::maintenance_watch::channel(Vec::new());
    tx.send_replace(Arc::new(merged));
    PageSources {
        maintenance: rx,
        ..sources()
    }
}

/// History: day D0-2 all operational but minute 600 partial outage; D0-1 all operational
/// but 00:00–01:00 maintenance; D0 operational until noon; nothing before D0-2. Streaming
/// has the same minutes. Probe "web" answered in 100 ms for the last 24 h, one 300 ms
/// attempt at 11:45.
async fn seed(store: &Store) {
    for sli in ["website", "streaming"] {
        let mut batch = SliBatch::default();
        let sli: Arc<str> = sli.into();
        for minute in (D0 - 2) * DAY_MIN..D0 * DAY_MIN + 720 {
            let of_day = minute.rem_euclid(DAY_MIN);
            let day = minute.div_euclid(DAY_MIN);
            let state = if day == D0 - 2 && of_day == 600 {
                ComponentStatus::PartialOutage
            } else if day == D0 - 1 && of_day < 60 {
                ComponentStatus::UnderMaintenance
            } else {
                ComponentStatus::Operational
            };
            batch.minutes.push((sli.clone(), minute, state));
        }
        store.write_sli_batch(&batch).await.expect("write minutes");
    }
    let mut batch = SliBatch::default();
    for k in 0..96 {
        let at = now() - Duration::from_secs(86_400) + Duration::from_secs(900 * k);
        batch.probe_results.push(ProbeResult {
            probe: "web".into(),
            at,
            success: true,
            degraded: false,
            duration_seconds: if k == 95 { 0.3 } else { 0.1 },
        });
    }
    store.write_sli_batch(&batch).await.expect("write probes");

    let resolved = store
        .open_incident(&NewIncident {
            title: "Media <uploads> failing".into(),
            status: IncidentStatus::Investigating,
            impact: None,
            components: vec![AffectedComponent {
                component: "website".into(),
                state: ComponentStatus::PartialOutage,
            }],
            body: "Uploads fail. <script>alert(1)</script> see javascript:alert(1) or https://example.social/notes?a=1&b=\"2\"".into(),
            source: IncidentSource::Human,
            draft: false,
            alert_key: None,
            at: now() - Duration::from_secs(2 * 86_400),
        })
        .await
        .expect("incident");
    store
        .update_incident(
            resolved,
            &NewUpdate {
                status: IncidentStatus::Resolved,
                body: "Fixed.".into(),
                components: None,
                impact: None,
                at: now() - Duration::from_secs(2 * 86_400 - 3600),
            },
        )
        .await
        .expect("resolve");
    store
        .open_incident(&NewIncident {
            title: "Streaming reconnects".into(),
            status: IncidentStatus::Identified,
            impact: None,
            components: vec![AffectedComponent {
                component: "streaming".into(),
                state: ComponentStatus::DegradedPerformance,
            }],
            body: "We know why.".into(),
            source: IncidentSource::Human,
            draft: false,
            alert_key: None,
            at: now() - Duration::from_secs(600),
        })
        .await
        .expect("incident");
    store
        .open_incident(&NewIncident {
            title: "a draft nobody may see".into(),
            status: IncidentStatus::Investigating,
            impact: None,
            components: Vec::new(),
            body: "draft".into(),
            source: IncidentSource::Alert,
            draft: true,
            alert_key: Some("k".into()),
            at: now() - Duration::from_secs(60),
        })
        .await
        .expect("draft");
    store
        .add_maintenance(&NewMaintenance {
            title: "PostgreSQL 17".into(),
            body: "Read https://example.social/pg17".into(),
            starts_at: now() - Duration::from_secs(600),
            ends_at: now() + Duration::from_secs(3000),
            components: vec!["website".into()],
            at: now() - Duration::from_secs(86_400),
        })
        .await
        .expect("maintenance");
}

fn snapshots() -> Arc<SnapshotStore> {
    let pg = TargetId::new(Kind::Postgres, "primary");
    let redis = TargetId::new(Kind::Redis, "sidekiq");
    let snapshots = Arc::new(SnapshotStore::new([pg.clone(), redis.clone()]));
    for (target, desc, value) in [
        (pg, &fedimeter::collect::postgres::mastodon::USERS, 1234.0),
        (
            redis,
            &fedimeter::collect::redis::mastodon::MONTHLY_ACTIVE_USERS,
            321.0,
        ),
    ] {
        let mut family = Family::new(desc);
        family.samples.push(Sample {
            labels: Box::new([]),
            value,
        });
        snapshots.publish(Arc::new(Snapshot {
            target,
            finished_at: now() - Duration::from_secs(20),
            duration: Duration::from_millis(4),
            outcome: Outcome::Success,
            health: Some(fedimeter::model::Health::Up),
            families: vec![family],
        }));
    }
    let mut family = Family::new(&COMPONENT_STATUS);
    for (component, status) in [
        ("website", "operational"),
        ("streaming", "degraded_performance"),
    ] {
        family.samples.push(Sample {
            labels: Box::new([component.into(), status.into()]),
            value: 1.0,
        });
    }
    snapshots.publish_internal("sli", vec![family]);
    snapshots
}

async fn sqlite_model() -> (PageModel, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("fedimeter.db").display());
    let store = Store::open(&SecretUrl::new(url)).await.expect("store");
    seed(&store).await;
    let model = adapter::build(
        &sources_with(&store).await,
        &snapshots(),
        Some(&store),
        now(),
    )
    .await;
    store.close().await;
    (model, dir)
}

fn router(model: PageModel) -> axum::Router {
    let published = Published::new("https://status.example.social");
    assert!(published.update(model.clone(), now()));
    assert!(
        !published.update(model, now() + Duration::from_secs(5)),
        "an unchanged model renders nothing"
    );
    let state = WebState {
        snapshots: Arc::new(SnapshotStore::new([])),
        site: Arc::new(SiteInfo {
            title: "example.social status".into(),
            components: Vec::new(),
        }),
        components: fedimeter::sli::recorder::states_channel().1,
        history: Default::default(),
    };
    let csp = axum::http::HeaderValue::from_str(&csp_for(None)).expect("csp");
    web::router_with(state, Surface::Public, Some((published, csp)))
}

async fn request(
    router: &axum::Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
) -> (StatusCode, axum::http::HeaderMap, String) {
    let mut builder = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let response = router
        .clone()
        .oneshot(builder.body(Body::empty()).expect("request"))
        .await
        .expect("response");
    let status = response.status();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (
        status,
        headers,
        String::from_utf8(body.to_vec()).expect("utf-8"),
    )
}

async fn get(router: &axum::Router, uri: &str) -> (StatusCode, axum::http::HeaderMap, String) {
    request(router, Method::GET, uri, &[]).await
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "bool",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Every object in `ours` has exactly the keys of the fixture's object at the same place,
/// with the same JSON types (a fixture `null` accepts anything); arrays compare each of our
/// elements with the fixture's first element.
fn same_shape(path: &str, fixture: &Value, ours: &Value, checked: &mut usize) {
    match (fixture, ours) {
        (Value::Null, _) => {}
        (Value::Object(f), Value::Object(o)) => {
            let fk: BTreeSet<&String> = f.keys().collect();
            let ok: BTreeSet<&String> = o.keys().collect();
            assert_eq!(fk, ok, "keys of {path}");
            for (k, fv) in f {
                same_shape(&format!("{path}.{k}"), fv, &o[k], checked);
            }
            *checked += 1;
        }
        (Value::Array(f), Value::Array(o)) => {
            if let Some(first) = f.first() {
                for (i, item) in o.iter().enumerate() {
                    same_shape(&format!("{path}[{i}]"), first, item, checked);
                }
            }
        }
        (f, o) => assert_eq!(type_name(f), type_name(o), "type of {path}: {o}"),
    }
}

#[tokio::test]
async fn api_v2_documents_have_the_statuspage_shapes_and_values() {
    let (model, _dir) = sqlite_model().await;
    let router = router(model);
    let fixtures = env!("CARGO_MANIFEST_DIR").to_string() + "/tests/fixtures/statuspage/";
    for (route, fixture) in [
        ("/api/v2/summary.json", "summary.json"),
        ("/api/v2/status.json", "status.json"),
        ("/api/v2/components.json", "components.json"),
        ("/api/v2/incidents.json", "incidents.json"),
        (
            "/api/v2/incidents/unresolved.json",
            "incidents-unresolved.json",
        ),
        (
            "/api/v2/scheduled-maintenances.json",
            "scheduled-maintenances.json",
        ),
        (
            "/api/v2/scheduled-maintenances/upcoming.json",
            "scheduled-maintenances-upcoming.json",
        ),
        (
            "/api/v2/scheduled-maintenances/active.json",
            "scheduled-maintenances-active.json",
        ),
    ] {
        let (status, headers, body) = get(&router, route).await;
        assert_eq!(status, StatusCode::OK, "{route}");
        assert_eq!(headers[header::CONTENT_TYPE], "application/json", "{route}");
        let ours: Value = serde_json::from_str(&body).expect("json");
        let expected: Value = serde_json::from_str(
            &std::fs::read_to_string(fixtures.clone() + fixture).expect("fixture"),
        )
        .expect("fixture json");
        let mut checked = 0;
        same_shape(route, &expected, &ours, &mut checked);
        assert!(checked >= 2, "{route}: compared {checked} objects");
    }

    let (_, _, body) = get(&router, "/api/v2/summary.json").await;
    let summary: Value = serde_json::from_str(&body).expect("json");
    // Streaming is degraded → minor; "Minor Service Outage" is Statuspage's text for it.
    assert_eq!(summary["status"]["indicator"], "minor");
    assert_eq!(summary["page"]["url"], "https://status.example.social");
    assert_eq!(summary["page"]["time_zone"], "Etc/UTC");
    let components: Vec<(&str, &str)> = summary["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        components,
        [
            ("website", "operational"),
            ("streaming", "degraded_performance")
        ]
    );
    assert_eq!(
        summary["components"][0]["name"], EVIL,
        "JSON carries the raw name"
    );
    let unresolved = summary["incidents"].as_array().expect("incidents");
    assert_eq!(
        unresolved.len(),
        1,
        "the resolved one and the draft are not unresolved"
    );
    assert_eq!(unresolved[0]["name"], "Streaming reconnects");
    assert_eq!(unresolved[0]["impact"], "minor", "degraded → minor");
    assert_eq!(
        unresolved[0]["shortlink"],
        "https://status.example.social/incidents/2"
    );
    // One stored maintenance in progress (10 min ago → in 50 min), one configured tomorrow.
    let maint: Vec<(&str, &str)> = summary["scheduled_maintenances"]
        .as_array()
        .expect("maintenances")
        .iter()
        .map(|m| (m["name"].as_str().unwrap(), m["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        maint,
        [
            ("PostgreSQL 17", "in_progress"),
            ("Weekly <restart>", "scheduled")
        ]
    );
    let (_, _, body) = get(&router, "/api/v2/incidents.json").await;
    let all: Value = serde_json::from_str(&body).expect("json");
    let names: Vec<&str> = all["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["Streaming reconnects", "Media <uploads> failing"]);
    let resolved = &all["incidents"][1];
    assert_eq!(resolved["status"], "resolved");
    assert_eq!(resolved["resolved_at"], "2026-11-18T13:00:00Z");
    assert_eq!(
        resolved["incident_updates"][0]["status"], "resolved",
        "newest first"
    );
    assert_eq!(
        resolved["incident_updates"][1]["affected_components"][0]["new_status"],
        "partial_outage"
    );
    let (_, _, body) = get(&router, "/api/v2/scheduled-maintenances/active.json").await;
    let active: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(
        active["scheduled_maintenances"].as_array().unwrap().len(),
        1
    );
    assert_eq!(
        active["scheduled_maintenances"][0]["scheduled_until"],
        "2026-11-20T12:50:00Z"
    );
}

#[tokio::test]
async fn conditional_requests_get_304_and_every_public_response_is_hardened() {
    let (model, _dir) = sqlite_model().await;
    let router = router(model);
    for path in [
        "/",
        "/history",
        "/incidents/1",
        "/api/v2/summary.json",
        "/history.atom",
        "/badge/website.svg",
        "/static/style.css",
        "/api/status.json",
        "/no/such/page",
    ] {
        let (status, headers, _) = get(&router, path).await;
        assert!(
            status == StatusCode::OK || status == StatusCode::NOT_FOUND,
            "{path}: {status}"
        );
        assert_eq!(
            headers[header::CONTENT_SECURITY_POLICY],
            "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
            "{path}"
        );
        assert_eq!(headers[header::X_CONTENT_TYPE_OPTIONS], "nosniff", "{path}");
        assert!(headers.contains_key(header::REFERRER_POLICY), "{path}");
    }
    let (status, headers, body) = get(&router, "/").await;
    assert_eq!(status, StatusCode::OK);
    let etag = headers[header::ETAG].to_str().unwrap().to_string();
    let last_modified = headers[header::LAST_MODIFIED].to_str().unwrap().to_string();
    assert_eq!(
        last_modified, "Fri, 20 Nov 2026 12:00:00 GMT",
        "rendered at now()"
    );
    assert!(
        headers[header::CACHE_CONTROL]
            .to_str()
            .unwrap()
            .starts_with("public, max-age=")
    );
    assert!(!body.is_empty());
    let (status, headers, body) =
        request(&router, Method::GET, "/", &[("if-none-match", &etag)]).await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    assert!(body.is_empty());
    assert_eq!(headers[header::ETAG].to_str().unwrap(), etag);
    let (status, _, _) =
        request(&router, Method::GET, "/", &[("if-none-match", "\"other\"")]).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _, _) = request(
        &router,
        Method::GET,
        "/",
        &[("if-modified-since", &last_modified)],
    )
    .await;
    assert_eq!(status, StatusCode::NOT_MODIFIED);
    let (status, _, _) = request(
        &router,
        Method::GET,
        "/",
        &[("if-modified-since", "Fri, 20 Nov 2026 11:59:59 GMT")],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "modified after that");
    // Every document, /api/status.json and the stylesheet included, has validators.
    for path in [
        "/history",
        "/incidents/1",
        "/api/v2/summary.json",
        "/api/status.json",
        "/history.atom",
        "/badge/website.svg?type=uptime",
        "/static/style.css",
    ] {
        let (status, headers, _) = get(&router, path).await;
        assert_eq!(status, StatusCode::OK, "{path}");
        let etag = headers[header::ETAG].to_str().unwrap().to_string();
        assert!(headers.contains_key(header::LAST_MODIFIED), "{path}");
        let (status, again, body) =
            request(&router, Method::GET, path, &[("if-none-match", &etag)]).await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{path}");
        assert!(body.is_empty(), "{path}");
        assert_eq!(again[header::ETAG].to_str().unwrap(), etag, "{path}");
        let (status, _, _) = request(
            &router,
            Method::GET,
            path,
            &[(
                "if-modified-since",
                headers[header::LAST_MODIFIED].to_str().unwrap(),
            )],
        )
        .await;
        assert_eq!(status, StatusCode::NOT_MODIFIED, "{path}");
    }
    // /api/status.json is kept: the same view gives the same bytes and validators.
    let (_, first, json) = get(&router, "/api/status.json").await;
    let (_, second, json_again) = get(&router, "/api/status.json").await;
    assert_eq!(json, json_again);
    assert_eq!(first[header::ETAG], second[header::ETAG]);
    assert_eq!(first[header::CONTENT_TYPE], "application/json");
    // The page links the stylesheet by version (its ETag): cached a year, immutable.
    let (_, css_headers, _) = get(&router, "/static/style.css").await;
    let version = css_headers[header::ETAG]
        .to_str()
        .unwrap()
        .trim_matches('"')
        .to_string();
    assert_eq!(css_headers[header::CACHE_CONTROL], "public, max-age=3600");
    let href = format!("/static/style.css?v={version}");
    let (_, _, index) = get(&router, "/").await;
    assert!(
        index.contains(&format!("<link rel=\"stylesheet\" href=\"{href}\">")),
        "{index}"
    );
    let (status, css_headers, css) = get(&router, &href).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        css_headers[header::CACHE_CONTROL],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(css_headers[header::CONTENT_TYPE], "text/css; charset=utf-8");
    assert!(css.starts_with("/* fedimeter status page"));
    let (_, css_headers, _) = get(&router, "/static/style.css?v=0000").await;
    assert_eq!(
        css_headers[header::CACHE_CONTROL],
        "public, max-age=3600",
        "an old version is not immutable"
    );
    let (status, _, body) = request(&router, Method::HEAD, "/api/v2/status.json", &[]).await;
    assert_eq!(status, StatusCode::OK);
    assert!(body.is_empty(), "HEAD has no body");

    for method in [Method::POST, Method::PUT, Method::DELETE, Method::PATCH] {
        for path in [
            "/",
            "/api/v2/summary.json",
            "/badge/website.svg",
            "/history.rss",
        ] {
            let (status, headers, _) = request(&router, method.clone(), path, &[]).await;
            assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
            assert!(headers.contains_key(header::CONTENT_SECURITY_POLICY));
        }
    }
    let (status, _, _) = request(&router, Method::GET, "/", &[("content-length", "4096")]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let (status, _, _) = get(&router, "/incidents/3").await;
    assert_eq!(status, StatusCode::NOT_FOUND, "a draft has no public page");
    let (status, _, _) = get(&router, "/metrics").await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "no /metrics on the public surface"
    );
}

#[tokio::test]
async fn the_page_shows_bars_windows_formula_incidents_and_escapes_everything() {
    let (model, _dir) = sqlite_model().await;
    assert!(model.history_available);
    let website = &model.components[0];
    assert_eq!(website.days.len(), 90);
    // D0-2: 1439 good, 1 bad → 1439/1440 = 99.930 %. D0-1: 1380 good, 60 maintenance.
    // 24 h: D0-1 12:00 … D0 12:00, all good. 7 d: 3539 good, 1 bad → 99.971 % → "99.97".
    assert_eq!(website.availability("1d"), Some(1.0));
    let seven = website.availability("7d").expect("7d");
    assert!((seven - 3539.0 / 3540.0).abs() < 1e-12, "{seven}");
    // 48 slots of 30 min; the 300 ms attempt shares its slot with a 100 ms one → 200 ms.
    assert_eq!(website.latency_ms.len(), 48);
    assert_eq!(website.latency_ms[0], Some(100.0));
    assert_eq!(website.latency_ms[47], Some(200.0));
    assert!(model.components[1].latency_ms.iter().all(Option::is_none));

    let router = router(model);
    let (_, headers, html) = get(&router, "/").await;
    assert_eq!(headers[header::CONTENT_TYPE], "text/html; charset=utf-8");
    assert!(
        !html.contains(EVIL) && !html.contains("<img src=x"),
        "escaped name"
    );
    assert!(
        html.contains("<h3>&lt;img src=x onerror=alert(1)&gt;&quot;'</h3>"),
        "{html}"
    );
    assert!(!html.contains("<b>desc</b>"));
    assert!(!html.contains("<script"), "no script at all");
    assert!(!html.contains("style="), "no inline style (CSP)");
    assert_eq!(
        html.matches("class=\"bar ").count(),
        180,
        "90 bars × 2 components"
    );
    assert!(
        html.contains("18 Nov 2026: 99.93 %, 1 min partial outage"),
        "{html}"
    );
    assert!(html.contains("19 Nov 2026: 100.00 %, no downtime, 60 min maintenance"));
    assert!(html.contains("17 Nov 2026: no data"));
    assert!(html.contains("20 Nov 2026: 100.00 %, no downtime"));
    assert!(html.contains("99.97 %"), "7-day availability");
    // Windows name their maintenance and no-data minutes. Recorded: D0-2 00:00 … D0 12:00
    // = 2 × 1440 + 720 = 3600 min (60 of them maintenance). 24 h = D0-1 12:00 … D0 12:00,
    // all recorded, none maintenance. The 2 latest minutes of a window are pending, not
    // missing (docs/status-page.md): 7 d: 10 080 − 2 − 3600 = 6478 min no data; 30 d:
    // 43 200 − 2 − 3600 = 39 598; 90 d: 129 600 − 2 − 3600 = 125 998.
    assert!(
        html.contains("<div><dt>24 h</dt><dd>100.00 %</dd></div>"),
        "{html}"
    );
    assert!(html.contains(
        "<dt>7 d</dt><dd>99.97 %<span class=\"muted\"> (60 min maintenance, 6478 min no data)</span></dd>"
    ));
    assert!(html.contains("<dt>30 d</dt><dd>99.97 %<span class=\"muted\"> (60 min maintenance, 39598 min no data)</span></dd>"));
    assert!(html.contains("<dt>90 d</dt><dd>99.97 %<span class=\"muted\"> (60 min maintenance, 125998 min no data)</span></dd>"));
    assert!(
        html.contains("Availability = good minutes"),
        "the formula is printed"
    );
    assert!(html.contains("Minor Service Outage"));
    assert!(html.contains("Active incidents") && html.contains("Streaming reconnects"));
    assert!(html.contains("PostgreSQL 17") && html.contains("In progress"));
    assert!(html.contains("Weekly &lt;restart&gt;"));
    assert!(html.contains("<svg") && html.contains("Response time"));
    assert!(html.contains("href=\"https://example.social/about\""));
    assert!(!html.contains("a draft nobody may see"));
    assert!(html.contains("<main>") && html.contains("<nav") && html.contains("<time datetime="));
    assert!(
        html.contains("<dt>Users</dt><dd>1234</dd>")
            && html.contains("<dt>Active this month</dt><dd>321</dd>"),
        "instance figures"
    );
    assert!(
        html.contains(
            "Last check <time datetime=\"2026-11-20T11:59:40Z\">20 Nov 2026 11:59 UTC</time>"
        ),
        "the time of the last check"
    );
    assert!(
        !html.contains("primary") && !html.contains("sidekiq"),
        "no target names when components are configured"
    );

    let (status, _, page) = get(&router, "/incidents/1").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("Media &lt;uploads&gt; failing"));
    assert!(
        page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"),
        "{page}"
    );
    assert!(
        !page.contains("<a href=\"javascript"),
        "javascript: stays text"
    );
    assert!(page.contains(
        "<a href=\"https://example.social/notes?a=1&amp;b=\" rel=\"nofollow noopener noreferrer\">"
    ), "{page}");
    let (_, _, history) = get(&router, "/history").await;
    assert!(
        history.contains("Media &lt;uploads&gt; failing")
            && history.contains("Streaming reconnects")
    );
}

#[tokio::test]
async fn feeds_parse_and_keep_stable_ids() {
    let (model, _dir) = sqlite_model().await;
    let router = router(model.clone());
    let (_, headers, atom) = get(&router, "/history.atom").await;
    assert_eq!(
        headers[header::CONTENT_TYPE],
        "application/atom+xml; charset=utf-8"
    );
    let feed = feed_rs::parser::parse(atom.as_bytes()).expect("valid atom");
    assert_eq!(feed.feed_type, feed_rs::model::FeedType::Atom);
    let ids: Vec<&str> = feed.entries.iter().map(|e| e.id.as_str()).collect();
    assert_eq!(
        ids,
        [
            "https://status.example.social/incidents/2",
            "https://status.example.social/incidents/1"
        ]
    );
    let title = feed.entries[1].title.as_ref().expect("title");
    assert_eq!(
        title.content, "Media <uploads> failing",
        "escaped once, parsed back"
    );
    let content = feed.entries[1]
        .content
        .as_ref()
        .and_then(|c| c.body.clone())
        .expect("content");
    assert!(
        content.contains("&lt;script&gt;"),
        "the HTML content escapes the script: {content}"
    );
    let (_, _, rss) = get(&router, "/history.rss").await;
    let feed = feed_rs::parser::parse(rss.as_bytes()).expect("valid rss");
    assert_eq!(feed.feed_type, feed_rs::model::FeedType::RSS2);
    assert_eq!(feed.entries.len(), 2);
    assert_eq!(
        feed.entries[0].id,
        "https://status.example.social/incidents/2"
    );

    // Without [site] url the ids are URNs, still the same for the same incident.
    let atom = fedimeter::web::page::feeds::atom(&model, "");
    let feed = feed_rs::parser::parse(atom.as_bytes()).expect("valid atom");
    assert_eq!(
        feed.entries[0].id,
        "urn:fedimeter:example_social_status:incident:2"
    );
}

#[tokio::test]
async fn badges_show_status_and_the_30_day_availability() {
    let (model, _dir) = sqlite_model().await;
    let router = router(model);
    let (status, headers, svg) = get(&router, "/badge/streaming.svg").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/svg+xml");
    assert!(svg.contains("Streaming: degraded"), "{svg}");
    let (_, _, svg) = get(&router, "/badge/website.svg").await;
    assert!(!svg.contains("<img"), "escaped: {svg}");
    let (_, _, json) = get(&router, "/badge/streaming.json?type=uptime").await;
    let v: Value = serde_json::from_str(&json).expect("json");
    // 30 d = 7 d here: 3539 / 3540 = 99.971… → 99.97 %, at least 99.9 % → brightgreen.
    assert_eq!(v["schemaVersion"], 1);
    assert_eq!(v["message"], "99.97 %");
    assert_eq!(v["label"], "Streaming 30 d");
    assert_eq!(v["color"], "brightgreen");
    let (_, _, json) = get(&router, "/badge/streaming.json").await;
    let v: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(
        (v["message"].as_str(), v["color"].as_str()),
        (Some("degraded"), Some("yellow"))
    );
    let (status, _, _) = get(&router, "/badge/nope.svg").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn without_the_store_the_page_says_history_is_unavailable() {
    let model = adapter::build(&sources(), &snapshots(), None, now()).await;
    assert!(!model.history_available);
    assert_eq!(
        model.monitoring_degraded.as_deref(),
        Some("history temporarily unavailable")
    );
    let router = router(model);
    let (_, _, html) = get(&router, "/").await;
    assert!(html.contains("History temporarily unavailable"), "{html}");
    assert!(html.contains("Monitoring degraded: history temporarily unavailable"));
    assert_eq!(
        banner_count(&html),
        1,
        "the states are live: one state banner"
    );
    assert!(
        html.contains("Minor Service Outage"),
        "the live banner stays"
    );
    assert!(!html.contains("class=\"bar "), "no bars drawn from nothing");
    assert!(
        html.contains("Degraded performance"),
        "current states still shown"
    );
}

#[tokio::test]
async fn postgres_store_gives_the_same_model() {
    let pg = support::PgServer::start();
    pg.create_database("fedimeter_page");
    let store = Store::open(&SecretUrl::new(pg.url("fedimeter_page")))
        .await
        .expect("store");
    seed(&store).await;
    let on_pg = adapter::build(
        &sources_with(&store).await,
        &snapshots(),
        Some(&store),
        now(),
    )
    .await;
    store.close().await;
    let (on_sqlite, _dir) = sqlite_model().await;
    assert_eq!(on_pg, on_sqlite);
}

#[tokio::test]
async fn monitoring_degraded_says_why_instead_of_painting_everything_red() {
    let web = TargetId::new(Kind::Probe, "web");
    let stream = TargetId::new(Kind::Probe, "stream");
    let publish = |snapshots: &SnapshotStore, finished_at: SystemTime, up: bool| {
        for target in [&web, &stream] {
            snapshots.publish(Arc::new(Snapshot {
                target: target.clone(),
                finished_at,
                duration: Duration::from_secs(5),
                outcome: if up {
                    Outcome::Success
                } else {
                    Outcome::TimedOut
                },
                // A probe whose attempt timed out: down (docs/metrics.md's health rule).
                health: Some(if up {
                    fedimeter::model::Health::Up
                } else {
                    fedimeter::model::Health::Down {
                        reason: fedimeter::model::Reason::Timeout,
                    }
                }),
                families: Vec::new(),
            }));
        }
    };
    let published = Published::new("https://status.example.social");
    let state = WebState {
        snapshots: Arc::new(SnapshotStore::new([])),
        site: Arc::new(SiteInfo {
            title: "example.social status".into(),
            components: Vec::new(),
        }),
        components: fedimeter::sli::recorder::states_channel().1,
        history: Default::default(),
    };
    let csp = axum::http::HeaderValue::from_str(&csp_for(None)).expect("csp");
    let router = web::router_with(state, Surface::Public, Some((published.clone(), csp)));

    // Before: both probes answer; website operational, streaming degraded (sources()).
    let snapshots = SnapshotStore::new([web.clone(), stream.clone()]);
    publish(&snapshots, now() - Duration::from_secs(70), true);
    let trusted = adapter::build(&sources(), &snapshots, None, now()).await;
    assert_eq!(trusted.blind, None);
    assert!(published.update(trusted, now()));

    // Then both probes fail at the same time: fedimeter's own network is the likely cause.
    // The SLI task turns both components red; the page must not.
    publish(&snapshots, now() - Duration::from_secs(10), false);
    let mut blind_sources = sources();
    blind_sources.states = states(&[
        ("website", ComponentStatus::MajorOutage),
        ("streaming", ComponentStatus::MajorOutage),
    ]);
    let model = adapter::build(&blind_sources, &snapshots, None, now()).await;
    assert_eq!(
        model.monitoring_degraded.as_deref(),
        Some("every check fails at once: the problem may be fedimeter's own network")
    );
    assert!(
        model
            .components
            .iter()
            .all(|c| c.not_checked && c.status.is_none()),
        "states computed from the failing probes are not known: {:?}",
        model.components
    );
    assert!(published.update(model, now() + Duration::from_secs(1)));
    let (_, _, html) = get(&router, "/").await;
    // One banner, neutral: "Monitoring degraded: …", no outage banner, nothing red.
    assert!(
        html.contains(
            "<div class=\"banner degraded\" role=\"status\">Monitoring degraded: every check \
             fails at once: the problem may be fedimeter's own network</div>"
        ),
        "{html}"
    );
    assert_eq!(html.matches("class=\"banner ").count(), 1, "{html}");
    for red in [
        "banner critical",
        "banner major",
        "Major Service Outage",
        "status major_outage",
        "Major outage",
    ] {
        assert!(!html.contains(red), "{red} while blind: {html}");
    }
    // Each component: not checked, with the state it had before fedimeter went blind.
    assert!(
        html.contains(
            "<span class=\"status not_checked\">Not checked right now<span class=\"last-known\"> \
             · last known: Operational</span></span>"
        ),
        "{html}"
    );
    assert!(
        html.contains("· last known: Degraded performance</span>"),
        "{html}"
    );
    // The CSS paints it in the muted text colour, not an outage colour.
    let css = std::fs::read_to_string(env!("CARGO_MANIFEST_DIR").to_string() + "/site/style.css")
        .expect("css");
    assert!(css.contains(".status.not_checked { color: var(--muted);"));
    // The JSON keeps valid enums: the last known states, their indicator, and says why.
    let (_, _, json) = get(&router, "/api/v2/summary.json").await;
    let summary: Value = serde_json::from_str(&json).expect("json");
    let components: Vec<(&str, &str)> = summary["components"]
        .as_array()
        .expect("components")
        .iter()
        .map(|c| (c["id"].as_str().unwrap(), c["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        components,
        [
            ("website", "operational"),
            ("streaming", "degraded_performance")
        ]
    );
    assert_eq!(summary["status"]["indicator"], "minor", "worst last known");
    assert_eq!(summary["status"]["description"], "Monitoring Degraded");
    let (_, _, badge) = get(&router, "/badge/website.json").await;
    assert!(badge.contains("\"message\":\"not checked\""), "{badge}");

    // Never trusted (fedimeter started blind): not checked, no last known, left out of
    // the JSON like a component not evaluated yet.
    let model = adapter::build(&blind_sources, &snapshots, None, now()).await;
    let fresh = Published::new("");
    fresh.update(model, now());
    let summary: Value =
        serde_json::from_slice(&fresh.get("/api/v2/summary.json").expect("doc").body)
            .expect("json");
    assert_eq!(summary["components"], serde_json::json!([]));
    let index = String::from_utf8(fresh.get("/").expect("doc").body.to_vec()).expect("utf-8");
    assert!(index.contains("<span class=\"status not_checked\">Not checked right now</span>"));

    // The newest check is 6 minutes old (over the 5-minute limit): the checks stopped, the
    // states shown are the last ones evaluated, "not checked since" that check.
    let snapshots = SnapshotStore::new([web.clone(), stream.clone()]);
    publish(&snapshots, now() - Duration::from_secs(360), true);
    let model = adapter::build(&sources(), &snapshots, None, now()).await;
    assert_eq!(
        model.monitoring_degraded.as_deref(),
        Some("fedimeter's checks have stopped: the states shown may be out of date")
    );
    let html = fedimeter::web::page::html::index(&model).into_string();
    assert!(html.contains("Monitoring degraded: fedimeter"), "{html}");
    // 12:00 − 6 min = 11:54.
    assert!(
        html.contains(
            "Not checked since <time datetime=\"2026-11-20T11:54:00Z\">20 Nov 2026 11:54 UTC</time>\
             <span class=\"last-known\"> · last known: Operational</span>"
        ),
        "{html}"
    );
    assert!(!html.contains("All Systems Operational") && !html.contains("Minor Service Outage"));
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

/// Issue 9: "past incidents never disappear when resolved". 60 resolved incidents: all of
/// them on /history (25 a page: pages 1–3, the oldest on page 3), every incident page 200,
/// while the JSON and the feeds keep their bound of 50.
#[tokio::test]
async fn history_lists_every_incident_and_every_incident_page_resolves() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("fedimeter.db").display());
    let store = Store::open(&SecretUrl::new(url)).await.expect("store");
    for n in 0..60u64 {
        // Incident n opened n hours before the newest one: id 1 is the oldest.
        let opened = now() - Duration::from_secs((60 - n) * 3600);
        let id = store
            .open_incident(&NewIncident {
                title: format!("Incident number {}", n + 1),
                status: IncidentStatus::Investigating,
                impact: None,
                components: Vec::new(),
                body: "Looking.".into(),
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
                    body: "Fixed.".into(),
                    components: None,
                    impact: None,
                    at: opened + Duration::from_secs(600),
                },
            )
            .await
            .expect("resolve");
    }
    let model = adapter::build(&sources(), &snapshots(), Some(&store), now()).await;
    store.close().await;
    assert_eq!(model.incidents.len(), 60, "every published incident");
    // A new check re-renders `/` but keeps the 60 incident pages and 3 history pages
    // (the same bytes, not rendered again); a changed incident is rendered again.
    let published = Published::new("");
    published.update(model.clone(), now());
    let kept = published.get("/incidents/1").expect("doc");
    let history3 = published.get("/history?page=3").expect("doc");
    let index = published.get("/").expect("doc");
    let mut later = model.clone();
    later.checked_at = later.checked_at.map(|t| t + Duration::from_secs(60));
    assert!(published.update(later.clone(), now() + Duration::from_secs(60)));
    assert_ne!(
        published.get("/").expect("doc").etag,
        index.etag,
        "new last check"
    );
    let again = published.get("/incidents/1").expect("doc");
    assert_eq!(
        again.body.as_ptr(),
        kept.body.as_ptr(),
        "kept, not re-rendered"
    );
    assert_eq!(again.last_modified, kept.last_modified);
    let again = published.get("/history?page=3").expect("doc");
    assert_eq!(again.body.as_ptr(), history3.body.as_ptr());
    assert_eq!(later.incidents[59].id, 1, "newest first");
    later.incidents[59].title = "Incident number 1, renamed".into();
    assert!(published.update(later, now() + Duration::from_secs(120)));
    for key in ["/incidents/1", "/history?page=3"] {
        let doc = published.get(key).expect("doc");
        let body = String::from_utf8(doc.body.to_vec()).expect("utf-8");
        assert!(body.contains("Incident number 1, renamed"), "{key}: {body}");
    }
    let router = router(model);

    let (status, _, page1) = get(&router, "/history").await;
    assert_eq!(status, StatusCode::OK);
    // 60 incidents, 25 a page: ⌈60 / 25⌉ = 3 pages; page 1 = numbers 60…36.
    assert!(page1.contains("Page 1 of 3 · 60 incidents"), "{page1}");
    assert!(page1.contains(">Incident number 60<") && page1.contains(">Incident number 36<"));
    assert!(!page1.contains(">Incident number 35<"));
    assert!(
        page1.contains("href=\"/history?page=2\" rel=\"next\""),
        "{page1}"
    );
    let (_, _, same) = get(&router, "/history?page=1").await;
    assert_eq!(same, page1, "page 1 is /history");
    let (status, _, page3) = get(&router, "/history?page=3").await;
    assert_eq!(status, StatusCode::OK);
    // Page 3 = numbers 10…1, the oldest included; a link back, none further.
    assert!(
        page3.contains("href=\"/incidents/1\">Incident number 1<"),
        "the oldest incident is listed: {page3}"
    );
    assert!(page3.contains("href=\"/history?page=2\" rel=\"prev\""));
    assert!(!page3.contains("rel=\"next\""));
    for uri in ["/history?page=4", "/history?page=0", "/history?page=x"] {
        let (status, _, _) = get(&router, uri).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{uri}");
    }
    for id in [1, 10, 11, 60] {
        let (status, _, page) = get(&router, &format!("/incidents/{id}")).await;
        assert_eq!(status, StatusCode::OK, "/incidents/{id}");
        assert!(page.contains(&format!("<h1>Incident number {id}</h1>")));
    }
    // The JSON and the feeds: the 50 newest (numbers 60…11), none unresolved besides.
    let (_, _, json) = get(&router, "/api/v2/incidents.json").await;
    let v: Value = serde_json::from_str(&json).expect("json");
    let listed = v["incidents"].as_array().expect("incidents");
    assert_eq!(listed.len(), 50);
    assert_eq!(listed[49]["name"], "Incident number 11");
    let (_, _, atom) = get(&router, "/history.atom").await;
    let feed = feed_rs::parser::parse(atom.as_bytes()).expect("valid atom");
    assert_eq!(feed.entries.len(), 50);
}

/// How many state banners (`<div class="banner …">`) a page has.
fn banner_count(html: &str) -> usize {
    html.matches("<div class=\"banner ").count()
}

/// The text of component `id`'s list item on the page.
fn component_html<'a>(html: &'a str, id: &str) -> &'a str {
    let start = html
        .find(&format!("<li class=\"component\" id=\"component-{id}\">"))
        .unwrap_or_else(|| panic!("no component {id}: {html}"));
    let rest = &html[start..];
    let end = rest
        .find("</li><li class=\"component\"")
        .unwrap_or(rest.len());
    &rest[..end]
}

/// Issue 9: a probe component with one successful result in 24 h gets a visible
/// sparkline (a dot), with two in adjacent 30-minute slots a `<path>`.
#[tokio::test]
async fn a_probe_component_gets_a_sparkline_from_its_first_results() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("fedimeter.db").display());
    let store = Store::open(&SecretUrl::new(url)).await.expect("store");
    seed(&store).await;
    let result = |at: SystemTime, ms: f64| ProbeResult {
        probe: "stream".into(),
        at,
        success: true,
        degraded: false,
        duration_seconds: ms / 1000.0,
    };
    // Probe "stream" (component streaming) answered once, at 11:40: slot 47 (11:30–12:00).
    let mut batch = SliBatch::default();
    batch
        .probe_results
        .push(result(now() - Duration::from_secs(1200), 80.0));
    store.write_sli_batch(&batch).await.expect("write");
    let model = adapter::build(&sources(), &snapshots(), Some(&store), now()).await;
    let html = fedimeter::web::page::html::index(&model).into_string();
    let streaming = component_html(&html, "streaming");
    // 48 slots over 240 px: slot 47 at x = 240; the only value is the max: y = 2.
    assert!(
        streaming.contains("<circle cx=\"240.0\" cy=\"2.0\" r=\"2\""),
        "{streaming}"
    );
    assert!(
        streaming.contains("mean 80 ms, highest 80 ms"),
        "{streaming}"
    );

    // A second success at 11:20 (slot 46, x = 46 × 240 / 47 = 234.9), 40 ms: a line from
    // (234.9, 2 + 28 × (1 − 40/80) = 16) to (240, 2).
    let mut batch = SliBatch::default();
    batch
        .probe_results
        .push(result(now() - Duration::from_secs(2400), 40.0));
    store.write_sli_batch(&batch).await.expect("write");
    let model = adapter::build(&sources(), &snapshots(), Some(&store), now()).await;
    store.close().await;
    let html = fedimeter::web::page::html::index(&model).into_string();
    let streaming = component_html(&html, "streaming");
    assert!(
        streaming.contains("<path d=\"M234.9,16.0 L240.0,2.0\""),
        "{streaming}"
    );
    let website = component_html(&html, "website");
    assert!(website.contains("<path d=\"M0.0,"), "{website}");
}

/// Issue 9: a slowloris client (half a request line, then nothing) or an idle connection
/// cannot hold a connection: `web::server` closes it after the header-read timeout (here
/// 500 ms instead of the 10 s default); a whole request is answered as usual; shutdown
/// ends the server.
#[tokio::test]
async fn a_slowloris_client_is_disconnected_after_the_header_read_timeout() {
    use std::time::Instant;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    let (model, _dir) = sqlite_model().await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("addr");
    let shutdown = tokio_util::sync::CancellationToken::new();
    let timeout = Duration::from_millis(500);
    let server = tokio::spawn(fedimeter::web::server::serve(
        listener,
        router(model),
        shutdown.clone(),
        timeout,
    ));

    // What the client gets before the server closes (or 5 s pass), and when.
    async fn read_until_closed(stream: &mut TcpStream) -> (String, Duration, bool) {
        let started = Instant::now();
        let mut got = Vec::new();
        let mut buf = [0u8; 8192];
        let closed = loop {
            match tokio::time::timeout(Duration::from_secs(5), stream.read(&mut buf)).await {
                Ok(Ok(0)) | Ok(Err(_)) => break true,
                Ok(Ok(n)) => got.extend_from_slice(&buf[..n]),
                Err(_) => break false,
            }
        };
        (
            String::from_utf8_lossy(&got).into_owned(),
            started.elapsed(),
            closed,
        )
    }

    let mut whole = TcpStream::connect(addr).await.expect("connect");
    whole
        .write_all(b"GET /api/v2/status.json HTTP/1.1\r\nHost: status.example.social\r\nConnection: close\r\n\r\n")
        .await
        .expect("write");
    let (response, _, closed) = read_until_closed(&mut whole).await;
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("\"indicator\":\"minor\""), "{response}");
    assert!(closed);

    let mut slow = TcpStream::connect(addr).await.expect("connect");
    slow.write_all(b"GET /history HTT").await.expect("write");
    let mut idle = TcpStream::connect(addr).await.expect("connect");
    let (got, took, closed) = read_until_closed(&mut slow).await;
    assert!(closed, "half a request line held the connection for 5 s");
    assert!(
        got.is_empty(),
        "nothing is answered to half a request: {got}"
    );
    assert!(
        took >= Duration::from_millis(400) && took < Duration::from_secs(3),
        "closed after {took:?}"
    );
    let (_, took, closed) = read_until_closed(&mut idle).await;
    assert!(closed, "an idle connection is closed too");
    assert!(took < Duration::from_secs(3), "{took:?}");

    shutdown.cancel();
    tokio::time::timeout(Duration::from_secs(3), server)
        .await
        .expect("the server stops on shutdown")
        .expect("no panic");
}

/// Issue 9: `/badge/<component>.svg?type=uptime` shows the 30-day availability, its text
/// and colour computed by hand from the stored minutes.
#[tokio::test]
async fn uptime_badges_show_the_30_day_availability_from_the_stored_minutes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite://{}", dir.path().join("fedimeter.db").display());
    let store = Store::open(&SecretUrl::new(url)).await.expect("store");
    // Day D0-1 (inside the last 30 days): website 20 min major outage, streaming 100 min.
    for (sli, bad) in [("website", 20), ("streaming", 100)] {
        let sli: Arc<str> = sli.into();
        let mut batch = SliBatch::default();
        for of_day in 0..DAY_MIN {
            let state = if of_day < bad {
                ComponentStatus::MajorOutage
            } else {
                ComponentStatus::Operational
            };
            batch
                .minutes
                .push((sli.clone(), (D0 - 1) * DAY_MIN + of_day, state));
        }
        store.write_sli_batch(&batch).await.expect("write");
    }
    let model = adapter::build(&sources(), &snapshots(), Some(&store), now()).await;
    store.close().await;
    let router = router(model);

    // Streaming: 1340 / 1440 = 0.930555… → floored 93.05 %, under 95 % → red #c62828.
    // Label "Streaming 30 d" = 14 chars × 7 + 10 = 108 px; "93.05 %" = 7 × 7 + 10 = 59 px.
    let (status, headers, svg) = get(&router, "/badge/streaming.svg?type=uptime").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers[header::CONTENT_TYPE], "image/svg+xml");
    assert!(
        svg.contains("<title>Streaming 30 d: 93.05 %</title>"),
        "{svg}"
    );
    assert!(
        svg.contains("<rect x=\"108\" width=\"59\" height=\"20\" fill=\"#c62828\"/>"),
        "{svg}"
    );
    assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"167\""));
    // Website: 1420 / 1440 = 0.986111… → 98.61 %, in [95 %, 99 %) → yellow #8a6d00;
    // its hostile name is escaped in the label.
    let (_, _, svg) = get(&router, "/badge/website.svg?type=uptime").await;
    assert!(svg.contains(": 98.61 %</title>"), "{svg}");
    assert!(svg.contains("fill=\"#8a6d00\"/>"), "{svg}");
    assert!(
        svg.contains("&lt;img src=x onerror=alert(1)&gt;&quot;&#39; 30 d"),
        "{svg}"
    );
    assert!(!svg.contains("<img"), "{svg}");
    // The same figures in the shields.io document.
    let (_, _, json) = get(&router, "/badge/streaming.json?type=uptime").await;
    let v: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(
        (v["message"].as_str(), v["color"].as_str()),
        (Some("93.05 %"), Some("red"))
    );
    let (_, _, json) = get(&router, "/badge/website.json?type=uptime").await;
    let v: Value = serde_json::from_str(&json).expect("json");
    assert_eq!(
        (v["message"].as_str(), v["color"].as_str()),
        (Some("98.61 %"), Some("yellow"))
    );
    // Without the query the badge is the current state.
    let (_, _, svg) = get(&router, "/badge/streaming.svg").await;
    assert!(svg.contains("<title>Streaming: degraded</title>"), "{svg}");
}
