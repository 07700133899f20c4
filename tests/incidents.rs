//! Incidents and maintenance written by people: the store on both backends (timeline,
//! resolve, drafts kept off the public list, cancel) and the `fedimeter incident` /
//! `fedimeter maintenance` commands against the configured store.

mod binary;
mod support;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use fedimeter::config::SecretUrl;
use fedimeter::sli::ComponentStatus;
use fedimeter::store::Store;
use fedimeter::store::incidents::{
    AffectedComponent, Impact, IncidentSource, IncidentStatus, NewIncident, NewMaintenance,
    NewUpdate,
};

fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(1_790_000_000 + secs)
}

fn affected(id: &str, state: ComponentStatus) -> AffectedComponent {
    AffectedComponent {
        component: id.into(),
        state,
    }
}

async fn check_backend(url: String) {
    let store = Store::open(&SecretUrl::new(url)).await.expect("open store");
    let hostile = "<script>alert('x')</script> javascript:alert(1)";
    let id = store
        .open_incident(&NewIncident {
            title: "  Posts are delivered late ".into(),
            status: IncidentStatus::Investigating,
            impact: None,
            components: vec![
                affected("federation_outgoing", ComponentStatus::PartialOutage),
                affected("timelines", ComponentStatus::DegradedPerformance),
            ],
            body: hostile.into(),
            source: IncidentSource::Human,
            draft: false,
            alert_key: None,
            at: at(0),
        })
        .await
        .expect("open");
    store
        .update_incident(
            id,
            &NewUpdate {
                status: IncidentStatus::Identified,
                body: "The push queue is backed up.".into(),
                components: Some(vec![affected(
                    "federation_outgoing",
                    ComponentStatus::MajorOutage,
                )]),
                impact: None,
                at: at(600),
            },
        )
        .await
        .expect("update");
    store
        .update_incident(
            id,
            &NewUpdate {
                status: IncidentStatus::Monitoring,
                body: "Workers added.".into(),
                components: None,
                impact: None,
                at: at(900),
            },
        )
        .await
        .expect("update");
    let open = store.incident(id).await.expect("read").expect("exists");
    assert_eq!(open.title, "Posts are delivered late", "trimmed");
    assert_eq!(open.status, IncidentStatus::Monitoring);
    assert_eq!(open.impact, Impact::Critical, "major outage → critical");
    assert_eq!(open.resolved_at, None);
    assert_eq!(open.monitoring_at(), Some(at(900)));
    assert_eq!(
        open.components,
        vec![affected(
            "federation_outgoing",
            ComponentStatus::MajorOutage
        )]
    );
    store
        .update_incident(
            id,
            &NewUpdate {
                status: IncidentStatus::Resolved,
                body: "Delivered the backlog.".into(),
                components: None,
                impact: None,
                at: at(1800),
            },
        )
        .await
        .expect("resolve");
    let resolved = store.incident(id).await.expect("read").expect("exists");
    assert_eq!(resolved.resolved_at, Some(at(1800)));
    assert_eq!(resolved.updated_at, at(1800));
    let timeline: Vec<(IncidentStatus, &str, SystemTime)> = resolved
        .updates
        .iter()
        .map(|u| (u.status, u.body.as_str(), u.created_at))
        .collect();
    assert_eq!(
        timeline,
        vec![
            (IncidentStatus::Investigating, hostile, at(0)),
            (
                IncidentStatus::Identified,
                "The push queue is backed up.",
                at(600)
            ),
            (IncidentStatus::Monitoring, "Workers added.", at(900)),
            (IncidentStatus::Resolved, "Delivered the backlog.", at(1800)),
        ],
        "stored verbatim: escaping is the renderer's job"
    );

    // An alert-drafted incident is listed for people but not public.
    let draft = store
        .open_incident(&NewIncident {
            title: "Burn rate 14.4× on website".into(),
            status: IncidentStatus::Investigating,
            impact: Some(Impact::Major),
            components: Vec::new(),
            body: "drafted".into(),
            source: IncidentSource::Alert,
            draft: true,
            alert_key: Some("website:fast".into()),
            at: at(2000),
        })
        .await
        .expect("draft");
    let all: Vec<i64> = store
        .incidents(10)
        .await
        .expect("list")
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(all, vec![draft, id], "newest first");
    let public: Vec<i64> = store
        .public_incidents(10)
        .await
        .expect("list")
        .iter()
        .map(|i| i.id)
        .collect();
    assert_eq!(public, vec![id]);
    // The page's unbounded list (three queries) holds the same incidents, whole.
    assert_eq!(
        store.all_public_incidents().await.expect("all"),
        store.public_incidents(10).await.expect("list"),
        "components and updates assembled the same way"
    );
    store.publish_incident(draft).await.expect("publish");
    let every = store.all_public_incidents().await.expect("all");
    assert_eq!(
        every.iter().map(|i| i.id).collect::<Vec<_>>(),
        vec![draft, id],
        "published now, newest first"
    );
    assert_eq!(every, store.public_incidents(10).await.expect("list"));
    let public = store.public_incidents(1).await.expect("list");
    assert_eq!(public.len(), 1, "limit 1, and the unresolved one is newest");
    assert_eq!(public[0].source, IncidentSource::Alert);
    assert_eq!(public[0].impact, Impact::Major, "explicit impact kept");
    assert!(
        store
            .update_incident(
                9999,
                &NewUpdate {
                    status: IncidentStatus::Resolved,
                    body: String::new(),
                    components: None,
                    impact: None,
                    at: at(1),
                },
            )
            .await
            .is_err(),
        "no such incident"
    );

    // Maintenance: add two, cancel one; ended windows are not listed.
    let new = |title: &str, start: u64, end: u64, components: &[&str]| NewMaintenance {
        title: title.into(),
        body: "db upgrade".into(),
        starts_at: at(start),
        ends_at: at(end),
        components: components.iter().map(|c| c.to_string()).collect(),
        at: at(0),
    };
    let m1 = store
        .add_maintenance(&new("PostgreSQL 17", 3600, 7200, &["website", "timelines"]))
        .await
        .expect("add");
    let m2 = store
        .add_maintenance(&new("Redis", 10_000, 11_000, &[]))
        .await
        .expect("add");
    assert!(
        store
            .add_maintenance(&new("backwards", 10, 5, &[]))
            .await
            .is_err()
    );
    store.cancel_maintenance(m2, at(100)).await.expect("cancel");
    assert!(
        store.cancel_maintenance(m2, at(101)).await.is_err(),
        "already cancelled"
    );
    let listed = store.maintenances(at(0), false).await.expect("list");
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].id, m1);
    assert_eq!(listed[0].components, vec!["timelines", "website"]);
    assert_eq!(
        (listed[0].starts_at, listed[0].ends_at),
        (at(3600), at(7200))
    );
    let with_cancelled = store.maintenances(at(0), true).await.expect("list");
    assert_eq!(with_cancelled.len(), 2);
    assert_eq!(with_cancelled[1].cancelled_at, Some(at(100)));
    assert!(
        store
            .maintenances(at(7200), false)
            .await
            .expect("list")
            .is_empty(),
        "ended at 7200: [start, end)"
    );
    store.close().await;
}

#[tokio::test]
async fn sqlite_store_keeps_incidents_and_maintenance() {
    let dir = tempfile::tempdir().expect("temp dir");
    check_backend(format!(
        "sqlite://{}",
        dir.path().join("fedimeter.db").display()
    ))
    .await;
}

#[tokio::test]
async fn postgres_store_keeps_incidents_and_maintenance() {
    let pg = support::PgServer::start();
    pg.create_database("fedimeter_incidents");
    check_backend(pg.url("fedimeter_incidents")).await;
}

const CONFIG: &str = r#"listen = "127.0.0.1:0"

[[probe]]
name = "web"
url = "http://127.0.0.1:1/health"

[[component]]
name = "Website"
id = "website"
probes = ["web"]
"#;

fn stdout(out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn incident_and_maintenance_commands_write_the_configured_store() {
    let work = binary::Workdir::new(CONFIG);
    let out = work.run(
        &[
            "incident",
            "open",
            "--title",
            "Website down",
            "--component",
            "website=major_outage",
            "-m",
            "Looking into it",
        ],
        &[],
    );
    assert_eq!(stdout(&out), "opened incident 1\n");
    let out = work.run(
        &[
            "incident",
            "update",
            "1",
            "--status",
            "identified",
            "-m",
            "Found it",
        ],
        &[],
    );
    assert_eq!(stdout(&out), "updated incident 1: identified\n");
    let out = work.run(&["incident", "resolve", "1"], &[]);
    assert_eq!(stdout(&out), "resolved incident 1\n");
    let list = stdout(&work.run(&["incident", "list"], &[]));
    let fields: Vec<&str> = list.trim_end().split('\t').collect();
    assert_eq!(fields.len(), 6, "{list}");
    assert_eq!(fields[0], "1");
    assert_eq!(
        &fields[2..],
        [
            "resolved",
            "critical",
            "Website down",
            "[website=major_outage]"
        ]
    );

    // A typo in a component id is refused, naming the known ones; nothing is written.
    let out = work.run(
        &[
            "incident",
            "open",
            "--title",
            "x",
            "--component",
            "webiste=major_outage",
            "-m",
            "x",
        ],
        &[],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown component \"webiste\"") && err.contains("website"),
        "{err}"
    );
    let out = work.run(
        &[
            "incident",
            "open",
            "--title",
            "x",
            "--component",
            "website=sideways",
            "-m",
            "x",
        ],
        &[],
    );
    assert!(!out.status.success(), "a bad state is a usage error");

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
            "website",
        ],
        &[],
    );
    assert_eq!(stdout(&out), "scheduled maintenance 1\n");
    assert_eq!(
        stdout(&work.run(&["maintenance", "list"], &[])),
        "1\t2099-01-01T02:00:00Z\t2099-01-01T03:00:00Z\tUpgrade\t[website]\n"
    );
    assert_eq!(
        stdout(&work.run(&["maintenance", "cancel", "1"], &[])),
        "cancelled maintenance 1\n"
    );
    assert_eq!(
        stdout(&work.run(&["maintenance", "list"], &[])),
        "no maintenance scheduled\n"
    );
    assert!(
        !work
            .run(&["maintenance", "cancel", "1"], &[])
            .status
            .success()
    );
}

#[tokio::test]
async fn a_running_serve_shows_what_the_commands_write() {
    let work = binary::Workdir::new(CONFIG);
    let mut server = work.serve(&[]);
    let (status, _, json, _) = binary::get(&server.url("/api/v2/incidents.json"), None).await;
    assert_eq!(status, 200);
    assert!(json.contains("\"incidents\":[]"), "{json}");
    let out = work.run(
        &[
            "incident",
            "open",
            "--title",
            "Slow <timelines>",
            "--component",
            "website=degraded_performance",
            "-m",
            "Looking at https://example.social/x <script>",
        ],
        &[],
    );
    assert_eq!(stdout(&out), "opened incident 1\n");
    let started = std::time::Instant::now();
    let json = loop {
        let (_, _, json, _) =
            binary::get(&server.url("/api/v2/incidents/unresolved.json"), None).await;
        if json.contains("Slow <timelines>") || started.elapsed() > Duration::from_secs(10) {
            break json;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    assert!(json.contains("\"impact\":\"minor\""), "{json}");
    let (status, content_type, page, _) = binary::get(&server.url("/incidents/1"), None).await;
    assert_eq!(status, 200);
    assert!(content_type.starts_with("text/html"));
    assert!(page.contains("Slow &lt;timelines&gt;"), "{page}");
    assert!(
        page.contains("&lt;script&gt;") && !page.contains("<script"),
        "{page}"
    );
    assert!(
        page.contains("<a href=\"https://example.social/x\""),
        "{page}"
    );
    let (_, _, home, _) = binary::get(&server.url("/"), None).await;
    assert!(home.contains("Active incidents"), "{home}");
    server.sigterm_and_wait(Duration::from_secs(5));
}
