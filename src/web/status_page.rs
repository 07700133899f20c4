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

use super::WebState;
use crate::model::{Kind, SnapshotStore};

/// Statuspage's component vocabulary (the subset a target's up/down state can produce).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    Operational,
    MajorOutage,
    /// Not collected yet.
    NoData,
}

impl ComponentStatus {
    fn class(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "operational",
            ComponentStatus::MajorOutage => "major_outage",
            ComponentStatus::NoData => "no_data",
        }
    }
    fn label(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "Operational",
            ComponentStatus::MajorOutage => "Major outage",
            ComponentStatus::NoData => "No data yet",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ComponentView {
    pub name: String,
    pub status: ComponentStatus,
}

/// The page indicator, as Statuspage's `status.indicator`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    None,
    Minor,
    Major,
    Critical,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusView {
    pub title: String,
    pub indicator: Indicator,
    pub description: &'static str,
    pub components: Vec<ComponentView>,
    /// RFC 3339 time of the newest published snapshot.
    pub updated_at: Option<String>,
}

fn kind_label(kind: Kind) -> &'static str {
    match kind {
        Kind::Postgres => "Database",
        Kind::Pgbouncer => "Database pool",
        Kind::Redis => "Redis",
        Kind::Probe => "Endpoint",
    }
}

/// Builds the public view from the latest snapshots (pure; tested without HTTP).
pub fn build_view(title: &str, store: &SnapshotStore) -> StatusView {
    let mut components = Vec::new();
    let mut newest: Option<SystemTime> = None;
    for (id, snapshot) in store.latest() {
        let status = match &snapshot {
            None => ComponentStatus::NoData,
            Some(s) => {
                newest = newest.max(Some(s.finished_at));
                let up = match id.kind {
                    Kind::Probe => s.value("probe_success", &[]).is_some_and(|v| v >= 1.0),
                    _ => s.outcome.is_up(),
                };
                if up {
                    ComponentStatus::Operational
                } else {
                    ComponentStatus::MajorOutage
                }
            }
        };
        components.push(ComponentView {
            name: format!("{} {}", kind_label(id.kind), id.name),
            status,
        });
    }
    let down = components
        .iter()
        .filter(|c| c.status == ComponentStatus::MajorOutage)
        .count();
    let (indicator, description) = match down {
        _ if components.is_empty() => (Indicator::None, "No targets are configured yet"),
        0 => (Indicator::None, "All systems operational"),
        n if n == components.len() => (Indicator::Critical, "Major outage"),
        _ => (Indicator::Major, "Partial outage"),
    };
    StatusView {
        title: title.to_string(),
        indicator,
        description,
        components,
        updated_at: newest.map(|t| humantime::format_rfc3339_seconds(t).to_string()),
    }
}

pub fn render(view: &StatusView) -> Markup {
    let banner_class = match view.indicator {
        Indicator::None => "none",
        Indicator::Minor => "minor",
        Indicator::Major => "major",
        Indicator::Critical => "critical",
    };
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
                                    span { (c.name) }
                                    span class={ "status " (c.status.class()) } { (c.status.label()) }
                                }
                            }
                        }
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
    let view = build_view(&state.site.title, &state.snapshots);
    (
        [(header::CACHE_CONTROL, "public, max-age=10")],
        render(&view),
    )
        .into_response()
}

pub async fn status_json(State(state): State<WebState>) -> Response {
    let view = build_view(&state.site.title, &state.snapshots);
    (
        [(header::CACHE_CONTROL, "public, max-age=10")],
        axum::Json(view),
    )
        .into_response()
}
