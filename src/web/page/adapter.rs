//! The one adapter from fedimeter's state to a [`PageModel`]: published snapshots (current
//! component states, queue latency, instance figures, last check time), the maintenance
//! windows the SLI task and the alerts apply (`sli::maintenance_watch`: the config's and the
//! store's) and the store (day rollups, window counts, probe results, incidents). When the
//! store cannot be read the model says so (`history_available = false`) and still shows
//! current states and the last known maintenance windows.

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use super::model::{
    Blindness, ComponentView, InstanceFigures, MaintenanceStatus, MaintenanceView, PageModel,
    WINDOWS, window_minutes,
};
use crate::config::{MaintenanceSchedule, MaintenanceWindow, SignalConfig};
use crate::model::{Kind, SnapshotStore};
use crate::sli::maintenance_watch::MaintenanceReceiver;
use crate::sli::math::MinuteCounts;
use crate::sli::{Component, ComponentStatus, maintenance};
use crate::store::Store;
use crate::store::unix_ms;

pub use super::model::INCIDENT_LIMIT;
/// Sparkline slots over the last 24 h (30 minutes each).
pub const SPARKLINE_SLOTS: usize = 48;
/// Older than this, fedimeter's newest check means its own monitoring has stalled.
pub const STALE_AFTER: Duration = Duration::from_secs(300);

/// What the adapter needs besides the snapshots and the store; fixed at start.
#[derive(Debug, Clone)]
pub struct PageSources {
    pub title: String,
    pub logo_url: Option<String>,
    pub about_url: Option<String>,
    pub components: Vec<Component>,
    /// The maintenance windows now (`[[maintenance]]` and stored), as the SLI task and
    /// the alert evaluator see them (`sli::maintenance_watch::channel`).
    pub maintenance: MaintenanceReceiver,
    /// The components' states from the SLI task (`sli::recorder::states_channel`).
    pub states: crate::sli::recorder::StatesReceiver,
}

/// The components' current states as (id, state) pairs, from the SLI task's channel.
pub fn component_states(
    sources: &PageSources,
) -> Vec<(String, Option<crate::sli::ComponentStatus>)> {
    sources
        .states
        .borrow()
        .states
        .iter()
        .map(|(id, state)| (id.to_string(), *state))
        .collect()
}

/// Builds the model at `now`.
pub async fn build(
    sources: &PageSources,
    snapshots: &SnapshotStore,
    store: Option<&Store>,
    now: SystemTime,
) -> PageModel {
    let latest = snapshots.latest();
    let checked_at = latest
        .iter()
        .filter_map(|(_, s)| s.as_ref().map(|s| s.finished_at))
        .max();
    let published = component_states(sources);
    let blind = blindness(snapshots, checked_at, now);
    let mut history_available = store.is_some();
    let now_minute = unix_ms(now).div_euclid(60_000);

    let mut windows = Vec::new();
    if let Some(store) = store {
        for (label, _) in WINDOWS {
            let minutes = window_minutes(label);
            match store.sli_counts(now_minute - minutes, now_minute).await {
                Ok(counts) => windows.push(counts),
                Err(e) => {
                    history_available = false;
                    tracing::warn!("page: reading availability: {}", redact(&e));
                    break;
                }
            }
        }
    }

    let mut components = Vec::with_capacity(sources.components.len());
    for c in &sources.components {
        let id = c.id().to_string();
        let mut status = published
            .iter()
            .find(|(p, _)| *p == id)
            .and_then(|(_, s)| *s);
        let has_probe = c
            .config
            .signals
            .iter()
            .any(|s| matches!(s, SignalConfig::Probe { .. }));
        // Blind: a stale state is the last known one; a state computed from probes that
        // all fail at once is not known at all (the last trusted one is filled in by
        // [`apply_last_known`]).
        let not_checked = match blind {
            Some(Blindness::ChecksStopped) => true,
            Some(Blindness::EveryProbeFails) => has_probe,
            None => false,
        };
        if not_checked && blind == Some(Blindness::EveryProbeFails) {
            status = None;
        }
        let mut days = Vec::new();
        let mut latency_ms = Vec::new();
        if let (Some(store), true) = (store, history_available) {
            match store.sli_daily_figures(&id, now, 90).await {
                Ok(d) => days = d,
                Err(e) => {
                    history_available = false;
                    tracing::warn!("page: reading daily figures: {}", redact(&e));
                }
            }
            let probe = c.config.signals.iter().find_map(|s| match s {
                SignalConfig::Probe { probe } => Some(probe.as_str()),
                SignalConfig::Threshold(_) => None,
            });
            if let (Some(probe), true) = (probe, history_available) {
                match store
                    .probe_results(probe, now - Duration::from_secs(86_400), now)
                    .await
                {
                    Ok(results) => {
                        let points: Vec<(SystemTime, f64)> = results
                            .iter()
                            .filter(|r| r.success)
                            .map(|r| (r.at, r.duration_seconds * 1000.0))
                            .collect();
                        latency_ms = sparkline_slots(&points, now, SPARKLINE_SLOTS);
                    }
                    Err(e) => {
                        history_available = false;
                        tracing::warn!("page: reading probe results: {}", redact(&e));
                    }
                }
            }
        }
        let queue_latency_seconds = c.config.signals.iter().find_map(|s| match s {
            SignalConfig::Threshold(t) if t.metric == "sidekiq_queue_latency_seconds" => {
                crate::sli::eval::threshold_value(t, &latest, now, c.config.options.stale_after)
            }
            _ => None,
        });
        components.push(ComponentView {
            windows: WINDOWS
                .iter()
                .enumerate()
                .map(|(i, (label, shown))| {
                    let counts = windows
                        .get(i)
                        .and_then(|w| w.get(&id).copied())
                        .unwrap_or_default();
                    (*label, *shown, counts)
                })
                .collect(),
            id,
            name: c.name().to_string(),
            description: c.config.description.clone(),
            status,
            days,
            latency_ms,
            queue_latency_seconds,
            not_checked,
        });
    }
    if sources.components.is_empty() {
        components = target_views(&latest);
    }
    if !history_available {
        for c in &mut components {
            c.days.clear();
            c.latency_ms.clear();
            for w in &mut c.windows {
                w.2 = MinuteCounts::default();
            }
        }
    }

    let mut incidents = Vec::new();
    if let Some(store) = store {
        match store.all_public_incidents().await {
            Ok(list) => incidents = list,
            Err(e) => {
                history_available = false;
                tracing::warn!("page: reading incidents: {}", redact(&e));
            }
        }
    }
    // The same windows the SLI task and the alerts apply (kept while the store is away).
    let windows = std::sync::Arc::clone(&sources.maintenance.borrow());
    let mut maintenances = config_maintenances(&windows.config, now);
    maintenances.extend(windows.stored.iter().filter(|m| m.ends_at > now).map(|m| {
        MaintenanceView {
            id: format!("m{}", m.id),
            status: MaintenanceStatus::at(m.starts_at, m.ends_at, now),
            title: m.title.clone(),
            body: m.body.clone(),
            starts_at: m.starts_at,
            ends_at: m.ends_at,
            components: m.components.clone(),
            created_at: m.created_at,
        }
    }));
    maintenances.sort_by(|a, b| (a.starts_at, &a.id).cmp(&(b.starts_at, &b.id)));

    let monitoring_degraded = match blind {
        Some(Blindness::ChecksStopped) => {
            Some("fedimeter's checks have stopped: the states shown may be out of date".to_string())
        }
        Some(Blindness::EveryProbeFails) => Some(
            "every check fails at once: the problem may be fedimeter's own network".to_string(),
        ),
        None => (!history_available).then(|| "history temporarily unavailable".to_string()),
    };
    PageModel {
        title: sources.title.clone(),
        logo_url: sources.logo_url.clone(),
        about_url: sources.about_url.clone(),
        checked_at,
        components,
        incidents,
        maintenances,
        instance: instance_figures(snapshots),
        history_available,
        monitoring_degraded,
        blind,
    }
}

/// Without components, each target is shown as up (`operational`) or down (`major_outage`),
/// without history (the SLI engine records components only).
fn target_views(
    latest: &[(
        crate::model::TargetId,
        Option<std::sync::Arc<crate::model::Snapshot>>,
    )],
) -> Vec<ComponentView> {
    latest
        .iter()
        .map(|(id, snapshot)| {
            // The target's health, decided once by its collector kind; none yet: no data.
            let status = snapshot
                .as_ref()
                .and_then(|s| s.health)
                .map(|health| match health {
                    crate::model::Health::Up => crate::sli::ComponentStatus::Operational,
                    crate::model::Health::Degraded { .. } => {
                        crate::sli::ComponentStatus::DegradedPerformance
                    }
                    crate::model::Health::Down { .. } => crate::sli::ComponentStatus::MajorOutage,
                });
            let label = match id.kind {
                Kind::Postgres => "Database",
                Kind::Pgbouncer => "Database pool",
                Kind::Redis => "Redis",
                Kind::Probe => "Endpoint",
            };
            ComponentView {
                id: crate::config::slug(&format!("{} {}", id.kind.name(), id.name)),
                name: format!("{label} {}", id.name),
                description: String::new(),
                status,
                windows: Vec::new(),
                days: Vec::new(),
                latency_ms: Vec::new(),
                queue_latency_seconds: None,
                not_checked: false,
            }
        })
        .collect()
}

fn redact(e: &anyhow::Error) -> String {
    crate::config::secret::redact(&format!("{e:#}")).into_owned()
}

/// The current or next occurrence of each `[[maintenance]]` that has not ended.
fn config_maintenances(windows: &[MaintenanceWindow], now: SystemTime) -> Vec<MaintenanceView> {
    windows
        .iter()
        .enumerate()
        .filter_map(|(i, w)| {
            let (start, end) = maintenance::current_or_next(w, now)?;
            let created_at = match w.schedule {
                MaintenanceSchedule::Once { .. } => SystemTime::UNIX_EPOCH,
                // A recurring window's "creation" is its current occurrence's start, so the
                // documents change when a new occurrence comes up.
                MaintenanceSchedule::Recurring { .. } => start.min(now),
            };
            Some(MaintenanceView {
                id: format!("c{}", i + 1),
                title: w.title.clone(),
                body: String::new(),
                starts_at: start,
                ends_at: end,
                status: MaintenanceStatus::at(start, end, now),
                components: w.components.clone(),
                created_at,
            })
        })
        .collect()
}

/// Means of `points` (time, value) in `slots` equal slots covering the 24 h before `now`.
pub fn sparkline_slots(
    points: &[(SystemTime, f64)],
    now: SystemTime,
    slots: usize,
) -> Vec<Option<f64>> {
    let span_ms = 86_400_000_i64;
    let slot_ms = span_ms / i64::try_from(slots.max(1)).unwrap_or(1);
    let start = unix_ms(now) - span_ms;
    let mut sums = vec![(0.0_f64, 0_u32); slots];
    for (t, v) in points {
        let offset = unix_ms(*t) - start;
        if offset < 0 || !v.is_finite() {
            continue;
        }
        let Ok(i) = usize::try_from(offset / slot_ms) else {
            continue;
        };
        if let Some(slot) = sums.get_mut(i) {
            slot.0 += v;
            slot.1 += 1;
        }
    }
    sums.into_iter()
        .map(|(sum, n)| (n > 0).then(|| sum / f64::from(n)))
        .collect()
}

fn instance_figures(snapshots: &SnapshotStore) -> InstanceFigures {
    let mut figures = InstanceFigures::default();
    for (_, snapshot) in snapshots.latest() {
        let Some(s) = snapshot else { continue };
        let first = |name: &str| {
            s.family(name)
                .and_then(|f| f.samples.first())
                .map(|x| x.value)
        };
        figures.users = figures.users.or(first("mastodon_users"));
        figures.monthly_active_users = figures
            .monthly_active_users
            .or(first("mastodon_monthly_active_users"));
    }
    figures
}

/// Whether fedimeter is blind at `now` (its store being away is not blindness: the
/// current states are still live, only history is missing).
pub fn blindness(
    snapshots: &SnapshotStore,
    checked_at: Option<SystemTime>,
    now: SystemTime,
) -> Option<Blindness> {
    if let Some(t) = checked_at
        && now.duration_since(t).unwrap_or_default() > STALE_AFTER
    {
        return Some(Blindness::ChecksStopped);
    }
    let probes: Vec<bool> = snapshots
        .latest()
        .iter()
        .filter(|(id, _)| id.kind == Kind::Probe)
        .filter_map(|(_, s)| s.as_ref())
        .map(|s| !matches!(s.health, Some(crate::model::Health::Down { .. })))
        .collect();
    (probes.len() >= 2 && probes.iter().all(|up| !up)).then_some(Blindness::EveryProbeFails)
}

/// Keeps the last trusted state of each component in `last` while `model` is not blind,
/// and gives each not-checked component without a state its last trusted one while it is
/// (what the page shows as "last known" and the JSON keeps as `status`).
pub fn apply_last_known(model: &mut PageModel, last: &mut HashMap<String, ComponentStatus>) {
    for c in &mut model.components {
        match (c.not_checked, c.status) {
            (false, Some(status)) if model.blind.is_none() => {
                last.insert(c.id.clone(), status);
            }
            (true, None) => c.status = last.get(&c.id).copied(),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(id: &str, status: Option<ComponentStatus>, not_checked: bool) -> ComponentView {
        ComponentView {
            id: id.into(),
            name: id.into(),
            description: String::new(),
            status,
            windows: Vec::new(),
            days: Vec::new(),
            latency_ms: Vec::new(),
            queue_latency_seconds: None,
            not_checked,
        }
    }

    fn model(blind: Option<Blindness>, components: Vec<ComponentView>) -> PageModel {
        PageModel {
            title: "t".into(),
            logo_url: None,
            about_url: None,
            checked_at: None,
            components,
            incidents: Vec::new(),
            maintenances: Vec::new(),
            instance: InstanceFigures::default(),
            history_available: true,
            monitoring_degraded: blind.map(|_| "blind".into()),
            blind,
        }
    }

    #[test]
    fn blind_components_show_the_last_state_seen_while_not_blind() {
        use ComponentStatus::*;
        let mut last = HashMap::new();
        let mut seen = model(
            None,
            vec![
                view("web", Some(Operational), false),
                view("queue", Some(DegradedPerformance), false),
            ],
        );
        apply_last_known(&mut seen, &mut last);
        assert_eq!(last.get("web"), Some(&Operational));
        // Every probe fails: web (probe-fed) is not checked; the queue is live and red.
        let mut blind = model(
            Some(Blindness::EveryProbeFails),
            vec![
                view("web", None, true),
                view("queue", Some(MajorOutage), false),
                view("new", None, true),
            ],
        );
        apply_last_known(&mut blind, &mut last);
        let states: Vec<_> = blind.components.iter().map(|c| c.status).collect();
        assert_eq!(states, [Some(Operational), Some(MajorOutage), None]);
        assert_eq!(
            last.get("queue"),
            Some(&DegradedPerformance),
            "nothing is learnt while blind"
        );
        assert_eq!(blind.description(), "Monitoring Degraded");
        assert_eq!(
            blind.indicator(),
            crate::sli::Indicator::Critical,
            "a confirmed non-probe outage still counts"
        );
    }
}
