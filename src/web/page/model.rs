//! [`PageModel`]: everything the public page, the API, the feeds and the badges show, as
//! plain data. Documents are rendered from it only, and re-rendered only when it changes.

use std::time::SystemTime;

use crate::sli::math::{DailyFigure, MinuteCounts};
use crate::sli::{ComponentStatus, Indicator};
use crate::store::incidents::Incident;

/// How many incidents the Statuspage JSON (`incidents.json`) and the feeds carry, newest
/// first, plus every unresolved one; `/history` and the incident pages show them all.
pub const INCIDENT_LIMIT: usize = 50;
/// Incidents per `/history` page (`/history?page=N`, N ≥ 2).
pub const HISTORY_PAGE_SIZE: usize = 25;

/// The availability windows the page shows, with their labels.
pub const WINDOWS: [(&str, &str); 4] = [
    ("1d", "24 h"),
    ("7d", "7 d"),
    ("30d", "30 d"),
    ("90d", "90 d"),
];

/// The length in minutes of the window labelled `label` (`1d`, `7d`, `30d`, `90d`).
pub fn window_minutes(label: &str) -> i64 {
    match label {
        "1d" => crate::sli::math::W1D.minutes,
        "7d" => crate::sli::math::W7D.minutes,
        "30d" => crate::sli::math::W30D.minutes,
        _ => crate::sli::math::W90D.minutes,
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct PageModel {
    pub title: String,
    /// Optional logo URL and "about" link from `[site]`.
    pub logo_url: Option<String>,
    pub about_url: Option<String>,
    /// The newest collection or check fedimeter published.
    pub checked_at: Option<SystemTime>,
    pub components: Vec<ComponentView>,
    /// Every published incident, newest first.
    pub incidents: Vec<Incident>,
    /// Upcoming and active maintenance, stored and configured, by start.
    pub maintenances: Vec<MaintenanceView>,
    pub instance: InstanceFigures,
    /// False when the store could not be read: history is then not shown at all.
    pub history_available: bool,
    /// Why fedimeter's own data cannot be trusted right now, when it cannot (blind, or
    /// only its history is unavailable).
    pub monitoring_degraded: Option<String>,
    /// fedimeter cannot trust the current states (its checks stopped, or every probe
    /// fails at once): the banner says monitoring is degraded, not an outage.
    pub blind: Option<Blindness>,
}

/// Why fedimeter cannot trust the current states it would show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Blindness {
    /// The newest check is older than [`super::adapter::STALE_AFTER`]: every state shown is the last known.
    ChecksStopped,
    /// Every probe (two or more) fails at once: most likely fedimeter's own network, so
    /// the states computed from probes say nothing about the site.
    EveryProbeFails,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ComponentView {
    pub id: String,
    pub name: String,
    pub description: String,
    /// `None` before the first evaluation.
    pub status: Option<ComponentStatus>,
    /// Per [`WINDOWS`] entry: the window's minute counts (no data when the store is away);
    /// its no-data minutes are [`window_minutes`] − the recorded ones.
    pub windows: Vec<(&'static str, &'static str, MinuteCounts)>,
    /// 90 daily bars, oldest first; empty when the store is away.
    pub days: Vec<DailyFigure>,
    /// Mean response time (ms) of the component's first probe in consecutive slots of
    /// the last 24 h; `None` = no successful attempt in that slot. Empty for non-probe
    /// components.
    pub latency_ms: Vec<Option<f64>>,
    /// The current queue latency (seconds) for components with a Sidekiq queue signal.
    pub queue_latency_seconds: Option<f64>,
    /// fedimeter is blind for this component: `status` is its last known state (`None`
    /// if none is known), not a current one.
    pub not_checked: bool,
}

impl ComponentView {
    /// Availability over the window labelled `label` (`1d`, `7d`, `30d`, `90d`).
    pub fn availability(&self, label: &str) -> Option<f64> {
        self.windows
            .iter()
            .find(|(l, _, _)| *l == label)
            .and_then(|(_, _, c)| c.availability())
    }
}

/// Statuspage's maintenance status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MaintenanceStatus {
    Scheduled,
    InProgress,
    Completed,
}

impl MaintenanceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            MaintenanceStatus::Scheduled => "scheduled",
            MaintenanceStatus::InProgress => "in_progress",
            MaintenanceStatus::Completed => "completed",
        }
    }

    pub fn at(starts_at: SystemTime, ends_at: SystemTime, now: SystemTime) -> MaintenanceStatus {
        if now < starts_at {
            MaintenanceStatus::Scheduled
        } else if now < ends_at {
            MaintenanceStatus::InProgress
        } else {
            MaintenanceStatus::Completed
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MaintenanceView {
    /// `m<id>` for stored windows, `c<n>` for `[[maintenance]]` entries.
    pub id: String,
    pub title: String,
    pub body: String,
    pub starts_at: SystemTime,
    pub ends_at: SystemTime,
    pub status: MaintenanceStatus,
    /// Component ids; empty = every component.
    pub components: Vec<String>,
    pub created_at: SystemTime,
}

/// Instance figures, when collected.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct InstanceFigures {
    pub users: Option<f64>,
    pub monthly_active_users: Option<f64>,
}

impl PageModel {
    /// The page indicator from the components' current states.
    pub fn indicator(&self) -> Indicator {
        Indicator::of(self.components.iter().map(|c| c.status))
    }

    /// The banner text, Statuspage's words.
    pub fn description(&self) -> &'static str {
        if self.blind.is_some() {
            "Monitoring Degraded"
        } else if self.components.is_empty() {
            "No targets are configured yet"
        } else if self.components.iter().all(|c| c.status.is_none()) {
            "Waiting for the first checks"
        } else if self
            .components
            .iter()
            .any(|c| c.status == Some(ComponentStatus::UnderMaintenance))
            && self.indicator() == Indicator::None
        {
            "Service Under Maintenance"
        } else {
            self.indicator().description()
        }
    }

    /// The public name of component `id` (the id itself if it is not configured).
    pub fn component_name<'a>(&'a self, id: &'a str) -> &'a str {
        self.components
            .iter()
            .find(|c| c.id == id)
            .map_or(id, |c| c.name.as_str())
    }

    /// The bounded list of the JSON and the feeds: the [`INCIDENT_LIMIT`] newest
    /// incidents plus every older unresolved one, newest first.
    pub fn recent_incidents(&self) -> impl Iterator<Item = &Incident> {
        self.incidents
            .iter()
            .enumerate()
            .filter(|(n, i)| *n < INCIDENT_LIMIT || !i.is_resolved())
            .map(|(_, i)| i)
    }

    /// How many `/history` pages there are (at least one, even without incidents).
    pub fn history_pages(&self) -> usize {
        self.incidents.len().div_ceil(HISTORY_PAGE_SIZE).max(1)
    }

    /// The incidents of `/history` page `page` (1-based).
    pub fn history_page(&self, page: usize) -> &[Incident] {
        let start = page.saturating_sub(1).saturating_mul(HISTORY_PAGE_SIZE);
        let end = start
            .saturating_add(HISTORY_PAGE_SIZE)
            .min(self.incidents.len());
        self.incidents.get(start..end).unwrap_or(&[])
    }

    pub fn unresolved(&self) -> impl Iterator<Item = &Incident> {
        self.incidents.iter().filter(|i| !i.is_resolved())
    }

    /// When anything shown last changed: the newest of the check time, incident updates and
    /// maintenance edits.
    pub fn updated_at(&self) -> Option<SystemTime> {
        let incidents = self.incidents.iter().map(|i| i.updated_at);
        let maintenances = self.maintenances.iter().map(|m| m.created_at);
        incidents.chain(maintenances).chain(self.checked_at).max()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::incidents::{Impact, IncidentSource, IncidentStatus};

    fn model(incidents: Vec<Incident>) -> PageModel {
        PageModel {
            title: "t".into(),
            logo_url: None,
            about_url: None,
            checked_at: None,
            components: Vec::new(),
            incidents,
            maintenances: Vec::new(),
            instance: InstanceFigures::default(),
            history_available: true,
            monitoring_degraded: None,
            blind: None,
        }
    }

    /// Incidents 1…n, newest (n) first; `open` ones unresolved.
    fn incidents(n: i64, open: &[i64]) -> Vec<Incident> {
        (1..=n)
            .rev()
            .map(|id| Incident {
                id,
                title: format!("#{id}"),
                status: if open.contains(&id) {
                    IncidentStatus::Identified
                } else {
                    IncidentStatus::Resolved
                },
                impact: Impact::Minor,
                source: IncidentSource::Human,
                draft: false,
                created_at: SystemTime::UNIX_EPOCH,
                updated_at: SystemTime::UNIX_EPOCH,
                resolved_at: (!open.contains(&id)).then_some(SystemTime::UNIX_EPOCH),
                components: Vec::new(),
                updates: Vec::new(),
            })
            .collect()
    }

    #[test]
    fn history_pages_hold_every_incident_and_the_feeds_a_bounded_list() {
        // 60 incidents, 25 a page: 25 + 25 + 10.
        let m = model(incidents(60, &[3]));
        assert_eq!(m.history_pages(), 3);
        let ids = |page: &[Incident]| page.iter().map(|i| i.id).collect::<Vec<_>>();
        assert_eq!(ids(m.history_page(1)).first(), Some(&60));
        assert_eq!(ids(m.history_page(2)), (11..=35).rev().collect::<Vec<_>>());
        assert_eq!(ids(m.history_page(3)), (1..=10).rev().collect::<Vec<_>>());
        assert!(m.history_page(4).is_empty());
        // The bound: the 50 newest (60…11) plus #3, still unresolved.
        let recent: Vec<i64> = m.recent_incidents().map(|i| i.id).collect();
        assert_eq!(recent.len(), 51);
        assert_eq!(recent[49], 11);
        assert_eq!(recent[50], 3);
        // No incidents: one (empty) page.
        assert_eq!(model(Vec::new()).history_pages(), 1);
        assert_eq!(model(incidents(25, &[])).history_pages(), 1);
        assert_eq!(model(incidents(26, &[])).history_pages(), 2);
    }
}
