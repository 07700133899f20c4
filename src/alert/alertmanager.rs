//! `POST /api/alertmanager`: Alertmanager's webhook payload (version 4) delivered through the
//! same Discord routes, formatting, limits and outbox as fedimeter's own alerts.
//!
//! Served next to `/metrics` (on `metrics_listen` when it is set), only when
//! `[alerting] alertmanager_token` is set; every request needs
//! `Authorization: Bearer <token>`, bodies over [`MAX_BODY`] are refused (413). An alert is
//! identified by its `fingerprint`: a `resolved` alert edits the message its `firing` one
//! posted. The answer is 200 once the notifications are in the outbox, 503 when the store
//! cannot take them (Alertmanager retries).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::Deserialize;

use super::{Change, RouteSelect, rows_for};
use crate::config::Secret;
use crate::notify::dispatch::Dispatcher;
use crate::notify::{Notice, Severity, Transition};

/// Largest accepted body.
pub const MAX_BODY: usize = 1024 * 1024;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Payload {
    pub version: String,
    #[serde(default)]
    pub alerts: Vec<AmAlert>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AmAlert {
    pub status: String,
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
    #[serde(default)]
    pub starts_at: String,
    #[serde(default)]
    pub ends_at: String,
    #[serde(default)]
    pub fingerprint: String,
}

fn unix(rfc3339: &str) -> Option<i64> {
    humantime::parse_rfc3339_weak(rfc3339.trim_end_matches('Z'))
        .ok()
        .or_else(|| humantime::parse_rfc3339(rfc3339).ok())
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .and_then(|d| i64::try_from(d.as_secs()).ok())
}

/// The notices of one payload (pure).
pub fn changes(payload: &Payload, now_unix: i64) -> Vec<Change> {
    payload
        .alerts
        .iter()
        .map(|a| {
            let alertname = a
                .labels
                .get("alertname")
                .cloned()
                .unwrap_or_else(|| "Alertmanager".to_string());
            let severity = a
                .labels
                .get("severity")
                .and_then(|s| Severity::parse(&s.to_ascii_lowercase()))
                .unwrap_or(Severity::Warning);
            let starts = unix(&a.starts_at).unwrap_or(now_unix);
            let transition = if a.status == "resolved" {
                let ends = unix(&a.ends_at)
                    .filter(|e| *e >= starts)
                    .unwrap_or(now_unix);
                Transition::Resolved {
                    lasted_secs: u64::try_from(ends - starts).unwrap_or(0),
                }
            } else {
                Transition::Firing
            };
            let summary = a
                .annotations
                .get("summary")
                .or_else(|| a.annotations.get("description"))
                .cloned()
                .unwrap_or_else(|| alertname.clone());
            let description = if a.annotations.contains_key("summary") {
                a.annotations
                    .get("description")
                    .cloned()
                    .unwrap_or_default()
            } else {
                String::new()
            };
            let key = if a.fingerprint.is_empty() {
                super::eval::alert_key(&alertname, &a.labels)
            } else {
                format!("alertmanager:{}", a.fingerprint)
            };
            Change {
                key,
                rule: 0,
                notice: Notice {
                    alertname,
                    severity,
                    transition,
                    summary,
                    description,
                    value: None,
                    threshold: None,
                    since_unix: starts,
                    component: a.labels.get("component").cloned(),
                    target: a
                        .labels
                        .get("instance")
                        .or_else(|| a.labels.get("job"))
                        .cloned(),
                    runbook: a
                        .annotations
                        .get("runbook_url")
                        .or_else(|| a.annotations.get("runbook"))
                        .cloned(),
                    labels: a
                        .labels
                        .iter()
                        .filter(|(k, _)| {
                            !matches!(k.as_str(), "alertname" | "severity" | "instance")
                        })
                        .take(20)
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect(),
                },
            }
        })
        .collect()
}

/// What the handler needs.
pub struct Receiver {
    pub token: Secret<String>,
    pub routes: Vec<RouteSelect>,
    pub dispatcher: Arc<Dispatcher>,
}

/// Constant-time comparison of the presented token.
fn token_ok(headers: &HeaderMap, token: &str) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
    else {
        return false;
    };
    let (a, b) = (given.as_bytes(), token.as_bytes());
    let mut diff = a.len() ^ b.len();
    for (i, x) in a.iter().enumerate() {
        diff |= usize::from(x ^ b.get(i % b.len().max(1)).copied().unwrap_or(0));
    }
    diff == 0
}

async fn receive(
    State(rx): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    if !token_ok(&headers, rx.token.expose()) {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Bearer")],
            "a bearer token is required\n",
        )
            .into_response();
    }
    let payload: Payload = match serde_json::from_slice(&body) {
        Ok(p) => p,
        Err(e) => {
            return (
                StatusCode::BAD_REQUEST,
                format!("not an Alertmanager webhook payload: {e}\n"),
            )
                .into_response();
        }
    };
    if payload.version != "4" {
        return (
            StatusCode::BAD_REQUEST,
            format!(
                "unsupported payload version {:?}: expected \"4\"\n",
                payload.version
            ),
        )
            .into_response();
    }
    let now = SystemTime::now();
    let now_unix = now
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(0))
        .unwrap_or(0);
    let rows = rows_for(&changes(&payload, now_unix), &rx.routes);
    match rx.dispatcher.outbox().enqueue(&rows, now).await {
        Ok(()) => {
            rx.dispatcher.wake();
            (
                StatusCode::OK,
                [(header::CONTENT_TYPE, "application/json")],
                format!("{{\"queued\":{}}}\n", rows.len()),
            )
                .into_response()
        }
        Err(e) => {
            tracing::warn!("alertmanager notifications not written to the outbox: {e:#}");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                "the store is unavailable; retry\n",
            )
                .into_response()
        }
    }
}

/// `POST /api/alertmanager` with its body limit.
pub fn router(receiver: Arc<Receiver>) -> Router {
    Router::new()
        .route("/api/alertmanager", post(receive))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(receiver)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The payload shape of anchors-status-alerting.md §4.2.
    const FIRING: &str = r#"{
      "version": "4", "groupKey": "{}:{alertname=\"HighLatency\"}", "truncatedAlerts": 0,
      "status": "firing", "receiver": "fedimeter",
      "groupLabels": {"alertname": "HighLatency"},
      "commonLabels": {"alertname": "HighLatency", "severity": "critical"},
      "commonAnnotations": {}, "externalURL": "http://am:9093",
      "alerts": [{
        "status": "firing",
        "labels": {"alertname": "HighLatency", "severity": "critical", "instance": "web-1", "job": "mastodon"},
        "annotations": {"summary": "p99 over 2 s", "description": "for 10 minutes", "runbook_url": "https://runbooks.example/latency"},
        "startsAt": "2026-12-06T20:00:00Z", "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prom:9090/graph", "fingerprint": "c0ffee"
      }]
    }"#;

    #[test]
    fn a_version_4_payload_becomes_notices() {
        let p: Payload = serde_json::from_str(FIRING).unwrap_or_else(|e| panic!("{e}"));
        let c = changes(&p, 0);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].key, "alertmanager:c0ffee");
        let n = &c[0].notice;
        assert_eq!(n.alertname, "HighLatency");
        assert_eq!(n.severity, Severity::Critical);
        assert_eq!(n.transition, Transition::Firing);
        assert_eq!(n.summary, "p99 over 2 s");
        assert_eq!(n.description, "for 10 minutes");
        assert_eq!(n.target.as_deref(), Some("web-1"));
        assert_eq!(
            n.runbook.as_deref(),
            Some("https://runbooks.example/latency")
        );
        // 2026-12-06T20:00:00Z
        assert_eq!(n.since_unix, 1_796_587_200);
        assert_eq!(n.labels, vec![("job".to_string(), "mastodon".to_string())]);

        let resolved = FIRING
            .replace(
                "\"status\": \"firing\",\n        \"labels\"",
                "\"status\": \"resolved\",\n        \"labels\"",
            )
            .replace("0001-01-01T00:00:00Z", "2026-12-06T20:12:00Z");
        let p: Payload = serde_json::from_str(&resolved).unwrap_or_else(|e| panic!("{e}"));
        let c = changes(&p, 0);
        assert_eq!(
            c[0].notice.transition,
            Transition::Resolved { lasted_secs: 720 }
        );
    }

    #[test]
    fn bearer_tokens_are_compared_whole() {
        let mut h = HeaderMap::new();
        assert!(!token_ok(&h, "s3cret-token"));
        for (given, ok) in [
            ("Bearer s3cret-token", true),
            ("Bearer s3cret-toke", false),
            ("Bearer s3cret-tokenX", false),
            ("bearer s3cret-token", false),
            ("s3cret-token", false),
        ] {
            h.insert(
                header::AUTHORIZATION,
                axum::http::HeaderValue::from_static(given),
            );
            assert_eq!(token_ok(&h, "s3cret-token"), ok, "{given}");
        }
    }
}
