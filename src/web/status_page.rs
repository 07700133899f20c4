//! The public status page (server-side HTML, no JavaScript) and its JSON twin.
//!
//! Hostile territory: everything is escaped by maud, and only what the operator chose to
//! publish is shown — target display names and states, never URLs, host names, DSNs or
//! error strings. Rendering reads published snapshots only and is cheap.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{MethodRouter, get};
use maud::{DOCTYPE, Markup, html};
use serde::Serialize;

use super::page::http_cache::Doc;
use super::{SiteInfo, WebState};
use crate::model::{Health, Kind, SnapshotStore};
use crate::sli::recorder::ComponentStates;
use crate::sli::{ComponentStatus, Indicator};

/// One row of the page: a public name and its state in Statuspage's vocabulary
/// (`operational`, `degraded_performance`, `partial_outage`, `major_outage`,
/// `under_maintenance`), or `no_data` before the first evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ComponentView {
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    pub status: &'static str,
}

fn status_label(status: &str) -> &'static str {
    match status {
        "operational" => "Operational",
        "degraded_performance" => "Degraded performance",
        "partial_outage" => "Partial outage",
        "major_outage" => "Major outage",
        "under_maintenance" => "Under maintenance",
        _ => "No data yet",
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StatusView {
    pub title: String,
    /// Statuspage's page indicator: `none`, `minor`, `major`, `critical`.
    pub indicator: Indicator,
    pub description: &'static str,
    pub components: Vec<ComponentView>,
    /// RFC 3339 time of the newest published snapshot.
    pub updated_at: Option<String>,
    /// `false` while the history store is unreachable ("history temporarily unavailable");
    /// current states are still live.
    pub history_available: bool,
}

fn kind_label(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => "Database",
        Kind::Pgbouncer => "Database pool",
        Kind::Redis => "Redis",
        Kind::Probe => "Endpoint",
    }
}

/// A target row's state from the snapshot's typed health (the rule every reader shares):
/// up → `operational`, degraded → `degraded_performance`, down → `major_outage`, no
/// snapshot or no health (a probe run that made no attempt) → no data.
pub fn target_status(health: Option<Health>) -> Option<ComponentStatus> {
    health.map(|h| match h {
        Health::Up => ComponentStatus::Operational,
        Health::Degraded { .. } => ComponentStatus::DegradedPerformance,
        Health::Down { .. } => ComponentStatus::MajorOutage,
    })
}

/// Builds the public view (pure; tested without HTTP). When components are configured
/// (or the Mastodon preset applies), the page shows them as the SLI task last evaluated
/// them (`components`, from its watch channel); otherwise it shows each target by its
/// health.
pub fn build_view(
    site: &SiteInfo,
    store: &SnapshotStore,
    components: &ComponentStates,
) -> StatusView {
    let mut newest: Option<SystemTime> = None;
    let mut target_rows = Vec::new();
    for (id, snapshot) in store.latest() {
        if let Some(s) = &snapshot {
            newest = newest.max(Some(s.finished_at));
        }
        let status = target_status(snapshot.and_then(|s| s.health));
        target_rows.push((format!("{} {}", kind_label(id.kind), id.name), status));
    }
    let rows: Vec<(String, Option<ComponentStatus>)> = if site.components.is_empty() {
        target_rows
    } else {
        // Configured components in config order, by their public names; a component the
        // SLI engine has not evaluated yet is "no data".
        site.components
            .iter()
            .map(|c| (c.id.clone(), components.get(&c.id)))
            .collect()
    };
    let indicator = Indicator::of(rows.iter().map(|(_, s)| *s));
    let description = if rows.is_empty() {
        "No targets are configured yet"
    } else if rows.iter().all(|(_, s)| s.is_none()) {
        "Waiting for the first checks"
    } else {
        indicator.description()
    };
    StatusView {
        title: site.title.clone(),
        indicator,
        description,
        components: rows
            .into_iter()
            .map(|(key, status)| {
                let public = site.components.iter().find(|c| c.id == key);
                ComponentView {
                    name: public.map_or(key.clone(), |c| c.name.clone()),
                    description: public.map(|c| c.description.clone()).unwrap_or_default(),
                    status: status.map_or("no_data", ComponentStatus::as_str),
                }
            })
            .collect(),
        updated_at: newest.map(|t| humantime::format_rfc3339_seconds(t).to_string()),
        history_available: true,
    }
}

/// [`build_view`] plus the store's availability.
pub fn render(view: &StatusView) -> Markup {
    let banner_class = view.indicator.as_str();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (view.title) }
                link rel="stylesheet" href=(crate::web::assets::style_href());
            }
            body {
                main {
                    h1 { (view.title) }
                    @if view.components.is_empty() {
                        div.banner.unknown { "No targets are configured yet" }
                        p { "fedimeter is running, but it does not monitor anything yet. Add targets to "
                            code { "fedimeter.toml" } " and restart it, for example:" }
                        pre { "[mastodon]\nenv_file = \"/home/mastodon/live/.env.production\"\n\n[[probe]]\nname = \"web\"\nurl = \"https://example.social/health\"" }
                        p.muted { "See fedimeter.example.toml for every key, and "
                            code { "fedimeter check-config" } " to validate a file." }
                    } @else {
                        div class={ "banner " (banner_class) } { (view.description) }
                        ul.components {
                            @for c in &view.components {
                                li {
                                    span {
                                        (c.name)
                                        @if !c.description.is_empty() {
                                            br; span.muted { (c.description) }
                                        }
                                    }
                                    span class={ "status " (c.status) } { (status_label(c.status)) }
                                }
                            }
                        }
                    }
                    @if !view.history_available {
                        p.muted.history { "History temporarily unavailable; current states are live." }
                    }
                    footer {
                        @if let Some(updated) = &view.updated_at {
                            "Last updated " time datetime=(updated) { (updated) } ". "
                        }
                        "Powered by fedimeter."
                    }
                }
            }
        }
    }
}

/// The view of the current snapshots and component states.
fn current_view(state: &WebState) -> StatusView {
    let components = state.components.borrow().clone();
    let mut view = build_view(&state.site, &state.snapshots, &components);
    view.history_available = state.history.is_up();
    view
}

pub async fn page(State(state): State<WebState>) -> Response {
    let view = current_view(&state);
    (
        [(header::CACHE_CONTROL, "public, max-age=10")],
        render(&view),
    )
        .into_response()
}

/// `/api/status.json` as a kept [`Doc`]: each request builds the current view (the
/// snapshots' and the SLI task's states, no store access) and compares it with the last
/// one; the JSON is serialized, and its `ETag`/`Last-Modified` change, only when the view
/// did. So it is as fresh as the states themselves and costs no rendering per request.
#[derive(Debug, Default)]
pub struct StatusJson {
    last: Mutex<Option<(StatusView, Doc)>>,
}

impl StatusJson {
    /// The document of `view` at `now`: the kept one when `view` is unchanged.
    pub fn doc(&self, view: StatusView, now: SystemTime) -> Doc {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some((seen, doc)) = last.as_ref()
            && *seen == view
        {
            return doc.clone();
        }
        let body = serde_json::to_vec(&view).unwrap_or_default();
        let doc = Doc::new(
            body,
            "application/json",
            "public, max-age=10",
            now,
            last.as_ref().map(|(_, d)| d),
        );
        *last = Some((view, doc.clone()));
        doc
    }
}

/// The `/api/status.json` route, its document kept in `cache`.
pub fn status_json_route(cache: Arc<StatusJson>) -> MethodRouter<WebState> {
    get(
        move |State(state): State<WebState>, headers: HeaderMap| async move {
            cache
                .doc(current_view(&state), SystemTime::now())
                .respond(&headers)
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Outcome, Reason, Snapshot, TargetId};
    use crate::sli::eval::{Attempt, ProbeResult};
    use crate::store::state::{StateBatch, StateTracker, TargetState};
    use crate::web::PublicComponent;
    use std::sync::Arc;
    use std::time::Duration;

    fn snapshot(id: &TargetId, outcome: Outcome, health: Option<Health>) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            target: id.clone(),
            finished_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000),
            duration: Duration::from_millis(3),
            outcome,
            health,
            families: Vec::new(),
        })
    }

    fn rows(view: &StatusView) -> Vec<(&str, &str)> {
        view.components
            .iter()
            .map(|c| (c.name.as_str(), c.status))
            .collect()
    }

    #[test]
    fn targets_are_shown_by_health_when_no_components_are_configured() {
        let up = TargetId::new(Kind::Postgres, "primary");
        let down = TargetId::new(Kind::Redis, "sidekiq");
        let pending = TargetId::new(Kind::Pgbouncer, "pool");
        let failing = TargetId::new(Kind::Probe, "web");
        let slow = TargetId::new(Kind::Probe, "api");
        let no_attempt = TargetId::new(Kind::Probe, "streaming");
        let store = SnapshotStore::new([
            up.clone(),
            down.clone(),
            pending,
            failing.clone(),
            slow.clone(),
            no_attempt.clone(),
        ]);
        let timeout = Health::Down {
            reason: Reason::Timeout,
        };
        let http_status = Health::Down {
            reason: Reason::HttpStatus,
        };
        let degraded = Health::Degraded {
            reason: Reason::Slow,
        };
        store.publish(snapshot(&up, Outcome::Success, Some(Health::Up)));
        store.publish(snapshot(&down, Outcome::TimedOut, Some(timeout)));
        // A probe run that succeeded while the probe failed: down, by its health.
        store.publish(snapshot(&failing, Outcome::Success, Some(http_status)));
        store.publish(snapshot(&slow, Outcome::Success, Some(degraded)));
        // A probe run that made no attempt: no data, not down.
        store.publish(snapshot(&no_attempt, Outcome::Panicked, None));
        let site = SiteInfo {
            title: "example.social status".into(),
            components: Vec::new(),
        };
        let view = build_view(&site, &store, &ComponentStates::default());
        assert_eq!(
            rows(&view),
            [
                ("Database primary", "operational"),
                ("Redis sidekiq", "major_outage"),
                ("Database pool pool", "no_data"),
                ("Endpoint web", "major_outage"),
                ("Endpoint api", "degraded_performance"),
                ("Endpoint streaming", "no_data"),
            ]
        );
        assert_eq!(view.indicator, Indicator::Critical);
        assert_eq!(view.description, "Major Service Outage");
    }

    #[test]
    fn components_come_from_the_sli_states_and_everything_is_escaped() {
        let id = TargetId::new(Kind::Redis, "sidekiq");
        let store = SnapshotStore::new([id.clone()]);
        let refused = Health::Down {
            reason: Reason::Refused,
        };
        store.publish(snapshot(&id, Outcome::Failed, Some(refused)));
        let evil = "<img src=x onerror=alert(1)>";
        let states = ComponentStates {
            evaluated_at: Some(SystemTime::now()),
            states: vec![
                (Arc::from(evil), Some(ComponentStatus::DegradedPerformance)),
                (Arc::from("Streaming"), Some(ComponentStatus::Operational)),
                (Arc::from("media"), None),
            ],
        };
        let site = SiteInfo {
            title: "<b>title</b>".into(),
            components: vec![
                PublicComponent {
                    id: evil.into(),
                    name: format!("{evil} & co"),
                    description: "<i>d</i>".into(),
                },
                PublicComponent {
                    id: "Streaming".into(),
                    name: "Streaming".into(),
                    description: String::new(),
                },
                PublicComponent {
                    id: "media".into(),
                    name: "Media".into(),
                    description: String::new(),
                },
            ],
        };
        let view = build_view(&site, &store, &states);
        assert_eq!(
            view.components.len(),
            3,
            "components, not targets: {view:?}"
        );
        assert_eq!(view.components[1].status, "operational");
        assert_eq!(view.components[2].status, "no_data", "not evaluated yet");
        assert_eq!(view.indicator, Indicator::Minor);
        let html = render(&view).into_string();
        assert!(
            !html.contains(evil) && !html.contains("<b>title</b>"),
            "{html}"
        );
        assert!(
            html.contains("&lt;img src=x onerror=alert(1)&gt; &amp; co"),
            "{html}"
        );
        assert!(html.contains("&lt;i&gt;d&lt;/i&gt;"), "{html}");
        assert!(html.contains("Degraded performance"), "{html}");
        assert!(
            !html.contains("sidekiq"),
            "targets are not shown when components are: {html}"
        );
        assert!(!html.contains("<script"), "no JavaScript: {html}");
        // Before the SLI task's first evaluation every component is "no data".
        let waiting = build_view(&site, &store, &ComponentStates::default());
        assert!(waiting.components.iter().all(|c| c.status == "no_data"));
        assert_eq!(waiting.description, "Waiting for the first checks");
    }

    /// The state recorder, the SLI engine and the page read the same health the same way.
    #[test]
    fn recorder_sli_and_page_agree_on_the_same_snapshots() {
        let web = TargetId::new(Kind::Probe, "web");
        let down = |reason| Some(Health::Down { reason });
        let slow = Some(Health::Degraded {
            reason: Reason::Slow,
        });
        // (run outcome, health) → (state interval, SLI attempt, page row)
        let table = [
            (
                Outcome::Success,
                Some(Health::Up),
                Some(TargetState::Up),
                Some(Attempt::Good),
                "operational",
            ),
            (
                Outcome::Success,
                slow,
                Some(TargetState::Degraded),
                Some(Attempt::Slow),
                "degraded_performance",
            ),
            // probe_success 0 with a successful run: down everywhere (was "up" in
            // state_intervals before the typed health).
            (
                Outcome::Success,
                down(Reason::CheckFailed),
                Some(TargetState::Down),
                Some(Attempt::Failed),
                "major_outage",
            ),
            (
                Outcome::Success,
                down(Reason::Refused),
                Some(TargetState::Down),
                Some(Attempt::Failed),
                "major_outage",
            ),
            // No attempt (the runner cancelled the run): no data everywhere.
            (Outcome::TimedOut, None, None, None, "no_data"),
            (Outcome::Panicked, None, None, None, "no_data"),
        ];
        let site = SiteInfo {
            title: "t".into(),
            components: Vec::new(),
        };
        for (outcome, health, state, attempt, row) in table {
            let snap = snapshot(&web, outcome, health);
            assert_eq!(TargetState::of(&snap), state, "{health:?}");
            assert_eq!(
                ProbeResult::of(&snap).map(|r| r.attempt()),
                attempt,
                "{health:?}"
            );
            let store = SnapshotStore::new([web.clone()]);
            store.publish(snap.clone());
            let view = build_view(&site, &store, &ComponentStates::default());
            assert_eq!(view.components[0].status, row, "{health:?}");
        }
        // A down probe opens a down interval; a run without attempt then closes it.
        let mut tracker = StateTracker::default();
        let mut batch = StateBatch::default();
        tracker.observe(
            &snapshot(&web, Outcome::Success, down(Reason::Timeout)),
            &mut batch,
        );
        tracker.observe(&snapshot(&web, Outcome::TimedOut, None), &mut batch);
        let states: Vec<_> = batch.transitions.iter().map(|t| t.state).collect();
        assert_eq!(states, [Some(TargetState::Down), None]);
        assert!(batch.seen.is_empty(), "no data refreshes nothing");
    }
}
