//! The public status page (server-side HTML, no JavaScript) and its JSON twin.
//!
//! Hostile territory: everything is escaped by maud, and only what the operator chose to
//! publish is shown — target display names and states, never URLs, host names, DSNs or
//! error strings. Rendering reads published snapshots only and is cheap.

use std::time::SystemTime;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use maud::{DOCTYPE, Markup, html};
use serde::Serialize;

use super::{SiteInfo, WebState};
use crate::model::{Kind, SnapshotStore};
use crate::sli::{ComponentStatus, Indicator};

/// One row of the page: a public name and its state in Statuspage's vocabulary
/// (`operational`, `degraded_performance`, `partial_outage`, `major_outage`,
/// `under_maintenance`), or `no_data` before the first evaluation.
#[derive(Debug, Clone, Serialize)]
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

#[derive(Debug, Clone, Serialize)]
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

/// Builds the public view (pure; tested without HTTP). When components are configured
/// (or the Mastodon preset applies), the page shows them as the SLI engine evaluated them;
/// otherwise it shows each target as up (`operational`) or down (`major_outage`).
pub fn build_view(site: &SiteInfo, store: &SnapshotStore) -> StatusView {
    let mut newest: Option<SystemTime> = None;
    let mut target_rows = Vec::new();
    for (id, snapshot) in store.latest() {
        let status = match &snapshot {
            None => None,
            Some(s) => {
                newest = newest.max(Some(s.finished_at));
                let up = match id.kind {
                    Kind::Probe => crate::collect::probe::summary(s).is_some_and(|p| p.success),
                    _ => s.outcome.is_up(),
                };
                Some(if up {
                    ComponentStatus::Operational
                } else {
                    ComponentStatus::MajorOutage
                })
            }
        };
        target_rows.push((format!("{} {}", kind_label(id.kind), id.name), status));
    }
    let published = crate::sli::recorder::published_statuses(store);
    let rows: Vec<(String, Option<ComponentStatus>)> = if site.components.is_empty() {
        target_rows
    } else {
        // Configured components in config order, by their public names; a component the
        // SLI engine has not evaluated yet is "no data".
        site.components
            .iter()
            .map(|c| {
                let status = published
                    .iter()
                    .find(|(id, _)| *id == c.id)
                    .and_then(|(_, s)| *s);
                (c.id.clone(), status)
            })
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
fn view(state: &WebState) -> StatusView {
    let mut view = build_view(&state.site, &state.snapshots);
    view.history_available = state.history.is_up();
    view
}

pub fn render(view: &StatusView) -> Markup {
    let banner_class = view.indicator.as_str();
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (view.title) }
                link rel="stylesheet" href="/static/style.css";
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

pub async fn page(State(state): State<WebState>) -> Response {
    let view = view(&state);
    (
        [(header::CACHE_CONTROL, "public, max-age=10")],
        render(&view),
    )
        .into_response()
}

pub async fn status_json(State(state): State<WebState>) -> Response {
    let view = view(&state);
    (
        [(header::CACHE_CONTROL, "public, max-age=10")],
        axum::Json(view),
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Family, Outcome, Sample, Snapshot, TargetId};
    use crate::sli::COMPONENT_STATUS;
    use crate::web::PublicComponent;
    use std::sync::Arc;
    use std::time::Duration;

    fn publish_target(store: &SnapshotStore, id: &TargetId, outcome: Outcome) {
        store.publish(Arc::new(Snapshot {
            target: id.clone(),
            finished_at: SystemTime::now(),
            duration: Duration::from_millis(3),
            outcome,
            families: Vec::new(),
        }));
    }

    #[test]
    fn targets_are_shown_when_no_components_are_configured() {
        let up = TargetId::new(Kind::Postgres, "primary");
        let down = TargetId::new(Kind::Redis, "sidekiq");
        let pending = TargetId::new(Kind::Pgbouncer, "pool");
        let store = SnapshotStore::new([up.clone(), down.clone(), pending]);
        publish_target(&store, &up, Outcome::Success);
        publish_target(&store, &down, Outcome::TimedOut);
        let site = SiteInfo {
            title: "example.social status".into(),
            components: Vec::new(),
        };
        let view = build_view(&site, &store);
        let rows: Vec<(&str, &str)> = view
            .components
            .iter()
            .map(|c| (c.name.as_str(), c.status))
            .collect();
        assert_eq!(
            rows,
            [
                ("Database primary", "operational"),
                ("Redis sidekiq", "major_outage"),
                ("Database pool pool", "no_data")
            ]
        );
        assert_eq!(view.indicator, Indicator::Critical);
        assert_eq!(view.description, "Major Service Outage");
    }

    #[test]
    fn components_replace_targets_and_everything_is_escaped() {
        let id = TargetId::new(Kind::Redis, "sidekiq");
        let store = SnapshotStore::new([id.clone()]);
        publish_target(&store, &id, Outcome::Failed);
        let evil = "<img src=x onerror=alert(1)>";
        let mut family = Family::new(&COMPONENT_STATUS);
        for (component, status, value) in [
            (evil, "degraded_performance", 1.0),
            (evil, "operational", 0.0),
            ("Streaming", "operational", 1.0),
        ] {
            family.samples.push(Sample {
                labels: Box::new([component.into(), status.into()]),
                value,
            });
        }
        store.publish_internal("sli", vec![family]);
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
        let view = build_view(&site, &store);
        assert_eq!(
            view.components.len(),
            3,
            "components, not targets: {view:?}"
        );
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
    }
}
