//! Alerting self-metrics, published into the snapshot store's internal section:
//! `fedimeter_alerts{alertname,severity,state}` (by the evaluator),
//! `fedimeter_notifications_total{route,result}`, `fedimeter_outbox_pending{route}`,
//! `fedimeter_discord_rate_limited_total{route}` and `fedimeter_discord_route_disabled{route}`
//! (by [`run`]). Label values are bounded by the configured rules and routes.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Severity;
use super::dispatch::{Dispatcher, RESULTS};
use crate::model::{Family, MetricDesc, Sample, SnapshotStore};

pub static ALERTS: MetricDesc = MetricDesc::gauge(
    "fedimeter_alerts",
    "Alert instances by rule, severity and state (pending, firing)",
    &["alertname", "severity", "state"],
);
pub static NOTIFICATIONS: MetricDesc = MetricDesc::counter(
    "fedimeter_notifications_total",
    "Outbox rows handled per route: sent, rejected (4xx, dropped), retried (Discord unavailable), gone (webhook deleted)",
    &["route", "result"],
);
pub static OUTBOX_PENDING: MetricDesc = MetricDesc::gauge(
    "fedimeter_outbox_pending",
    "Notifications written to the outbox and not yet sent, per route",
    &["route"],
);
pub static RATE_LIMITED: MetricDesc = MetricDesc::counter(
    "fedimeter_discord_rate_limited_total",
    "HTTP 429 answers from Discord per route (the message was sent again after retry_after)",
    &["route"],
);
pub static ROUTE_DISABLED: MetricDesc = MetricDesc::gauge(
    "fedimeter_discord_route_disabled",
    "1 when the route's webhook was deleted in Discord (404 Unknown Webhook) and is no longer used; remembered across restarts until its webhook_url changes",
    &["route"],
);

/// Every family of the notifier, for `crate::metrics::descriptors()`.
pub static DESCRIPTORS: &[&MetricDesc] = &[
    &ALERTS,
    &NOTIFICATIONS,
    &OUTBOX_PENDING,
    &RATE_LIMITED,
    &ROUTE_DISABLED,
];

fn sample(labels: &[&str], value: f64) -> Sample {
    Sample {
        labels: labels.iter().map(|s| Box::<str>::from(*s)).collect(),
        value,
    }
}

/// `fedimeter_alerts`: for every rule name, its pending and firing instance counts.
pub fn alerts_family(
    rules: &[(String, Severity)],
    counts: &BTreeMap<(String, &'static str), usize>,
) -> Family {
    let mut family = Family::new(&ALERTS);
    let mut seen = std::collections::BTreeSet::new();
    for (name, severity) in rules {
        if !seen.insert(name.clone()) {
            continue;
        }
        for state in ["pending", "firing"] {
            let n = counts.get(&(name.clone(), state)).copied().unwrap_or(0);
            family
                .samples
                .push(sample(&[name, severity.as_str(), state], n as f64));
        }
    }
    family
}

/// The sender's families.
pub fn dispatcher_families(d: &Dispatcher, pending: &[(String, i64)]) -> Vec<Family> {
    let counters = d.counters();
    let rate_limited = d.client().stats().rate_limited;
    let mut notifications = Family::new(&NOTIFICATIONS);
    let mut outbox = Family::new(&OUTBOX_PENDING);
    let mut limited = Family::new(&RATE_LIMITED);
    let mut disabled = Family::new(&ROUTE_DISABLED);
    for route in d.routes() {
        let name = route.name.as_str();
        for result in RESULTS {
            let n = counters
                .get(&(route.name.clone(), result))
                .copied()
                .unwrap_or(0);
            notifications
                .samples
                .push(sample(&[name, result], n as f64));
        }
        let p = pending
            .iter()
            .find(|(r, _)| r == name)
            .map_or(0, |(_, n)| *n);
        outbox.samples.push(sample(&[name], p as f64));
        let l = rate_limited.get(name).copied().unwrap_or(0);
        limited.samples.push(sample(&[name], l as f64));
        disabled
            .samples
            .push(sample(&[name], f64::from(u8::from(d.is_disabled(name)))));
    }
    vec![notifications, outbox, limited, disabled]
}

/// Publishes the sender's families every `every` until `shutdown`.
pub async fn run(
    dispatcher: Arc<Dispatcher>,
    snapshots: Arc<SnapshotStore>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    let mut pending = Vec::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tick.tick() => {}
        }
        match dispatcher.outbox().pending().await {
            Ok(p) => pending = p,
            Err(e) => tracing::debug!("counting pending notifications: {e:#}"),
        }
        snapshots.publish_internal("discord", dispatcher_families(&dispatcher, &pending));
    }
}
