//! Statuspage v2 compatible JSON (`/api/v2/*.json`), the shapes of
//! `anchors-status-alerting.md` §2, so existing widgets and bots can read fedimeter.
//!
//! Differences, all documented in `docs/status-page.md`: ids are fedimeter's (component
//! ids, incident numbers, `m<n>`/`c<n>` maintenance ids); a component that has not been
//! evaluated yet (the first seconds after start) is left out rather than given a state it
//! does not have; the status indicator is `maintenance` while a maintenance is in progress
//! and nothing is broken, as Statuspage pages show in practice.

use std::time::SystemTime;

use serde_json::{Value, json};

use super::model::{ComponentView, MaintenanceStatus, MaintenanceView, PageModel};
use crate::sli::Indicator;
use crate::store::incidents::Incident;

/// The documents under `/api/v2/`, as (path, JSON text).
pub fn documents(model: &PageModel, base_url: &str) -> Vec<(&'static str, String)> {
    let page = page(model, base_url);
    let status = status(model);
    let components = components(model);
    let unresolved: Vec<Value> = model
        .unresolved()
        .map(|i| incident(model, i, base_url))
        .collect();
    let all: Vec<Value> = model
        .recent_incidents()
        .map(|i| incident(model, i, base_url))
        .collect();
    let maintenances = |filter: &dyn Fn(MaintenanceStatus) -> bool| -> Value {
        Value::Array(
            model
                .maintenances
                .iter()
                .filter(|m| filter(m.status))
                .map(|m| maintenance(model, m, base_url))
                .collect(),
        )
    };
    let doc = |v: Value| v.to_string();
    vec![
        (
            "/api/v2/summary.json",
            doc(json!({
                "page": page, "status": status, "components": components,
                "incidents": unresolved,
                "scheduled_maintenances": maintenances(&|s| s != MaintenanceStatus::Completed),
            })),
        ),
        (
            "/api/v2/status.json",
            doc(json!({ "page": page, "status": status })),
        ),
        (
            "/api/v2/components.json",
            doc(json!({ "page": page, "components": components })),
        ),
        (
            "/api/v2/incidents.json",
            doc(json!({ "page": page, "incidents": all })),
        ),
        (
            "/api/v2/incidents/unresolved.json",
            doc(json!({ "page": page, "incidents": unresolved })),
        ),
        (
            "/api/v2/scheduled-maintenances.json",
            doc(json!({ "page": page, "scheduled_maintenances": maintenances(&|_| true) })),
        ),
        (
            "/api/v2/scheduled-maintenances/upcoming.json",
            doc(
                json!({ "page": page, "scheduled_maintenances": maintenances(&|s| s == MaintenanceStatus::Scheduled) }),
            ),
        ),
        (
            "/api/v2/scheduled-maintenances/active.json",
            doc(
                json!({ "page": page, "scheduled_maintenances": maintenances(&|s| s == MaintenanceStatus::InProgress) }),
            ),
        ),
    ]
}

pub fn time(t: SystemTime) -> String {
    humantime::format_rfc3339_seconds(t).to_string()
}

fn opt_time(t: Option<SystemTime>) -> Value {
    t.map_or(Value::Null, |t| Value::String(time(t)))
}

/// The page id: a slug of the title, stable while the title is.
pub fn page_id(model: &PageModel) -> String {
    let slug = crate::config::slug(&model.title);
    if slug.is_empty() {
        "fedimeter".into()
    } else {
        slug
    }
}

fn page(model: &PageModel, base_url: &str) -> Value {
    json!({
        "id": page_id(model),
        "name": model.title,
        "url": base_url,
        "time_zone": "Etc/UTC",
        "updated_at": opt_time(model.updated_at()),
    })
}

fn status(model: &PageModel) -> Value {
    let indicator = model.indicator();
    let maintenance = indicator == Indicator::None
        && model
            .maintenances
            .iter()
            .any(|m| m.status == MaintenanceStatus::InProgress);
    json!({
        "indicator": if maintenance { "maintenance" } else { indicator.as_str() },
        "description": if maintenance { "Service Under Maintenance" } else { model.description() },
    })
}

fn component_object(model: &PageModel, position: usize, c: &ComponentView, status: &str) -> Value {
    // Never null (clients parse it): the last check, else the last change of the page.
    let updated = time(
        model
            .checked_at
            .or_else(|| model.updated_at())
            .unwrap_or(SystemTime::UNIX_EPOCH),
    );
    json!({
        "id": c.id,
        "page_id": page_id(model),
        "name": c.name,
        "description": if c.description.is_empty() { Value::Null } else { Value::String(c.description.clone()) },
        "status": status,
        "position": position,
        "group": false,
        "group_id": null,
        "showcase": true,
        "only_show_if_degraded": false,
        "start_date": null,
        "created_at": updated,
        "updated_at": updated,
    })
}

fn components(model: &PageModel) -> Value {
    Value::Array(
        model
            .components
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                c.status
                    .map(|s| component_object(model, i + 1, c, s.as_str()))
            })
            .collect(),
    )
}

/// The component objects of ids `ids` with state `status_of(id)`.
fn affected_objects<'a>(
    model: &PageModel,
    ids: impl Iterator<Item = (&'a str, &'a str)>,
) -> Vec<Value> {
    ids.map(|(id, status)| {
        match model
            .components
            .iter()
            .enumerate()
            .find(|(_, c)| c.id == id)
        {
            Some((i, c)) => component_object(model, i + 1, c, status),
            None => {
                let unknown = ComponentView {
                    id: id.to_string(),
                    name: id.to_string(),
                    description: String::new(),
                    status: None,
                    windows: Vec::new(),
                    days: Vec::new(),
                    latency_ms: Vec::new(),
                    queue_latency_seconds: None,
                    not_checked: false,
                };
                component_object(model, 0, &unknown, status)
            }
        }
    })
    .collect()
}

fn incident(model: &PageModel, i: &Incident, base_url: &str) -> Value {
    let id = i.id.to_string();
    let updates: Vec<Value> = i
        .updates
        .iter()
        .enumerate()
        .rev()
        .map(|(n, u)| {
            // Only the first update records which components the incident affected (and
            // from which state: fedimeter does not keep the before-state, so "operational").
            let affected: Vec<Value> = if n == 0 {
                i.components
                    .iter()
                    .map(|c| {
                        json!({
                            "code": c.component,
                            "name": model.component_name(&c.component),
                            "old_status": "operational",
                            "new_status": c.state.as_str(),
                        })
                    })
                    .collect()
            } else {
                Vec::new()
            };
            json!({
                "id": format!("{id}-{}", u.id),
                "incident_id": id,
                "status": u.status.as_str(),
                "body": u.body,
                "created_at": time(u.created_at),
                "updated_at": time(u.created_at),
                "display_at": time(u.created_at),
                "affected_components": affected,
                "deliver_notifications": true,
                "custom_tweet": null,
                "tweet_id": null,
            })
        })
        .collect();
    json!({
        "id": id,
        "page_id": page_id(model),
        "name": i.title,
        "status": i.status.as_str(),
        "impact": i.impact.as_str(),
        "shortlink": format!("{base_url}/incidents/{}", i.id),
        "created_at": time(i.created_at),
        "updated_at": time(i.updated_at),
        "started_at": time(i.created_at),
        "monitoring_at": opt_time(i.monitoring_at()),
        "resolved_at": opt_time(i.resolved_at),
        "components": affected_objects(model, i.components.iter().map(|c| (c.component.as_str(), c.state.as_str()))),
        "incident_updates": updates,
    })
}

fn maintenance(model: &PageModel, m: &MaintenanceView, base_url: &str) -> Value {
    let ids: Vec<&str> = if m.components.is_empty() {
        model.components.iter().map(|c| c.id.as_str()).collect()
    } else {
        m.components.iter().map(String::as_str).collect()
    };
    let updates: Vec<Value> = if m.body.is_empty() {
        Vec::new()
    } else {
        vec![json!({
            "id": format!("{}-1", m.id),
            "incident_id": m.id,
            "status": "scheduled",
            "body": m.body,
            "created_at": time(m.created_at),
            "updated_at": time(m.created_at),
            "display_at": time(m.created_at),
            "affected_components": [],
            "deliver_notifications": true,
            "custom_tweet": null,
            "tweet_id": null,
        })]
    };
    let completed = (m.status == MaintenanceStatus::Completed).then_some(m.ends_at);
    json!({
        "id": m.id,
        "page_id": page_id(model),
        "name": m.title,
        "status": m.status.as_str(),
        "impact": "maintenance",
        "shortlink": format!("{base_url}/#maintenance-{}", m.id),
        "created_at": time(m.created_at),
        "updated_at": time(m.created_at),
        "started_at": time(m.starts_at),
        "monitoring_at": null,
        "resolved_at": opt_time(completed),
        "scheduled_for": time(m.starts_at),
        "scheduled_until": time(m.ends_at),
        "components": affected_objects(model, ids.into_iter().map(|id| (id, "under_maintenance"))),
        "incident_updates": updates,
    })
}
