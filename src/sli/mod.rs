//! Components, SLI history and SLI math: what the public page shows, measured honestly.
//!
//! - [`components`]: the resolved `Config.components` (written, or the Mastodon preset that
//!   validation expanded) as [`Component`]s; [`preset`] checks the preset's thresholds.
//! - [`eval`] (pure): probe attempts → per-probe health with consecutive thresholds;
//!   signals → a component's [`ComponentStatus`] (worst wins).
//! - [`maintenance`] (pure): whether a component is under maintenance at a time.
//! - [`maintenance_watch`]: the maintenance windows now — the config's plus the store's
//!   (`fedimeter maintenance add`), re-read every 15 s and shared over a `watch` channel
//!   with the SLI task, the alert evaluator and the page.
//! - [`math`] (pure): per-minute states → availability, error budget, burn rates; window
//!   splitting over the minute/hour/day buckets.
//! - [`store`]: the tables (raw probe results, per-minute buckets with hour and day
//!   rollups, component state intervals) and the window queries.
//! - [`recorder`]: the task that subscribes to snapshots, evaluates, writes in batches,
//!   recomputes the windows and publishes the `fedimeter_component_status`,
//!   `fedimeter_sli_ratio`, `fedimeter_error_budget_remaining_ratio` and
//!   `fedimeter_burn_rate` families.
//!
//! One SLI per component: the `sli` label value is the component id. See `docs/sli.md`.

pub mod components;
pub mod eval;
pub mod history;
pub mod maintenance;
pub mod maintenance_watch;
pub mod math;
pub mod preset;
pub mod recorder;
pub mod store;

use std::fmt;

use crate::model::MetricDesc;

pub use components::Component;
pub use recorder::run;

/// A component's state, in Statuspage's vocabulary. Ordered by severity; `UnderMaintenance`
/// ranks above every other state so that "worst wins" makes maintenance win. Serializes as
/// its Statuspage name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ComponentStatus {
    Operational,
    DegradedPerformance,
    PartialOutage,
    MajorOutage,
    UnderMaintenance,
}

impl ComponentStatus {
    pub const ALL: [ComponentStatus; 5] = [
        ComponentStatus::Operational,
        ComponentStatus::DegradedPerformance,
        ComponentStatus::PartialOutage,
        ComponentStatus::MajorOutage,
        ComponentStatus::UnderMaintenance,
    ];

    /// Statuspage's name, used in the `status` label, the store and the JSON API.
    pub fn as_str(self) -> &'static str {
        match self {
            ComponentStatus::Operational => "operational",
            ComponentStatus::DegradedPerformance => "degraded_performance",
            ComponentStatus::PartialOutage => "partial_outage",
            ComponentStatus::MajorOutage => "major_outage",
            ComponentStatus::UnderMaintenance => "under_maintenance",
        }
    }

    pub fn parse(s: &str) -> Option<ComponentStatus> {
        ComponentStatus::ALL.into_iter().find(|c| c.as_str() == s)
    }

    /// The rank stored in `sli_minutes.state` (0 = operational … 4 = under maintenance).
    pub fn rank(self) -> i64 {
        self as i64
    }

    pub fn from_rank(rank: i64) -> Option<ComponentStatus> {
        usize::try_from(rank)
            .ok()
            .and_then(|i| ComponentStatus::ALL.get(i).copied())
    }

    /// Whether a minute in this state counts as good for availability (only
    /// `operational`); `under_maintenance` minutes are excluded, not good.
    pub fn is_good(self) -> bool {
        self == ComponentStatus::Operational
    }
}

impl fmt::Display for ComponentStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The page-wide indicator (Statuspage `status.indicator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Indicator {
    None,
    Minor,
    Major,
    Critical,
}

impl Indicator {
    pub fn as_str(self) -> &'static str {
        match self {
            Indicator::None => "none",
            Indicator::Minor => "minor",
            Indicator::Major => "major",
            Indicator::Critical => "critical",
        }
    }

    /// Statuspage's description for the indicator.
    pub fn description(self) -> &'static str {
        match self {
            Indicator::None => "All Systems Operational",
            Indicator::Minor => "Minor Service Outage",
            Indicator::Major => "Partial System Outage",
            Indicator::Critical => "Major Service Outage",
        }
    }

    /// The page indicator from the components' current states (unknown ones ignored): the
    /// worst component decides — degraded → minor, partial outage → major, major outage →
    /// critical; operational and under maintenance → none.
    pub fn of(statuses: impl IntoIterator<Item = Option<ComponentStatus>>) -> Indicator {
        statuses
            .into_iter()
            .flatten()
            .map(|s| match s {
                ComponentStatus::Operational | ComponentStatus::UnderMaintenance => Indicator::None,
                ComponentStatus::DegradedPerformance => Indicator::Minor,
                ComponentStatus::PartialOutage => Indicator::Major,
                ComponentStatus::MajorOutage => Indicator::Critical,
            })
            .max()
            .unwrap_or(Indicator::None)
    }
}

pub use crate::config::options::{ComponentOptions, SliOptions};

pub static COMPONENT_STATUS: MetricDesc = MetricDesc::gauge(
    "fedimeter_component_status",
    "Current state of a status-page component: 1 for the current status, 0 for the others",
    &["component", "status"],
);
pub static SLI_RATIO: MetricDesc = MetricDesc::gauge(
    "fedimeter_sli_ratio",
    "Time-based availability: good minutes / (good + bad minutes), maintenance and no-data minutes excluded",
    &["sli", "window"],
);
pub static ERROR_BUDGET_REMAINING: MetricDesc = MetricDesc::gauge(
    "fedimeter_error_budget_remaining_ratio",
    "Share of the error budget (1 - objective) left over the SLO period (30d); negative when overspent",
    &["sli"],
);
pub static BURN_RATE: MetricDesc = MetricDesc::gauge(
    "fedimeter_burn_rate",
    "Error ratio over the window divided by the error budget (1 - objective)",
    &["sli", "window"],
);

#[cfg(test)]
mod tests {
    use super::*;
    use ComponentStatus::*;

    #[test]
    fn indicator_table() {
        let table: &[(&[Option<ComponentStatus>], Indicator)] = &[
            (&[], Indicator::None),
            (&[None, Some(Operational)], Indicator::None),
            (
                &[Some(UnderMaintenance), Some(Operational)],
                Indicator::None,
            ),
            (
                &[Some(DegradedPerformance), Some(Operational)],
                Indicator::Minor,
            ),
            (
                &[Some(DegradedPerformance), Some(PartialOutage)],
                Indicator::Major,
            ),
            (
                &[Some(MajorOutage), Some(UnderMaintenance)],
                Indicator::Critical,
            ),
        ];
        for (states, expected) in table {
            assert_eq!(
                Indicator::of(states.iter().copied()),
                *expected,
                "{states:?}"
            );
        }
        assert_eq!(Indicator::Critical.description(), "Major Service Outage");
    }

    #[test]
    fn status_names_and_ranks_round_trip() {
        for s in ComponentStatus::ALL {
            assert_eq!(ComponentStatus::parse(s.as_str()), Some(s));
            assert_eq!(ComponentStatus::from_rank(s.rank()), Some(s));
        }
        assert_eq!(ComponentStatus::from_rank(5), None);
        assert!(
            Operational.is_good() && !DegradedPerformance.is_good() && !UnderMaintenance.is_good()
        );
    }
}
