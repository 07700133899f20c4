//! Pure evaluation: probe attempts → per-probe health with consecutive thresholds, and a
//! component's signals → its [`ComponentStatus`].
//!
//! How signals combine (also in `docs/sli.md`):
//! - **Probes.** Attempts come from the probe snapshot's typed health ([`ProbeResult::of`]:
//!   down → failed, degraded → slow, up → good; no health → no attempt). Each probe signal
//!   has its own [`ProbeTracker`]: it goes `Down` after
//!   `failures_to_down` consecutive failed attempts, `Degraded` after as many consecutive
//!   successful attempts over the probe's latency threshold (`probe_degraded 1`), and back
//!   `Up` after `successes_to_up` consecutive good attempts. Before the first decision it
//!   is unknown (no data); a first success decides at once. Of a component's probes with a
//!   known health: all down → `major_outage`; some down → `partial_outage`; any degraded →
//!   `degraded_performance`; else `operational`.
//! - **Thresholds.** The largest fresh value of the matching series: above
//!   `major_outage_above` → `major_outage`, above `partial_outage_above` →
//!   `partial_outage`, above `degraded_above` → `degraded_performance`, else `operational`.
//!   No fresh series → no data from that signal.
//! - **Worst wins** across signals. No signal with data → the component has no data (its
//!   minutes are "no data"). A maintenance window overrides everything with
//!   `under_maintenance`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;

use super::ComponentStatus;
use super::components::Component;
use crate::collect::probe::PROBE_DURATION;
use crate::config::{SignalConfig, ThresholdSignal};
use crate::model::{Health, Kind, Snapshot, TargetId};

/// The result of one probe attempt, as the SLI sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attempt {
    /// Succeeded within the latency threshold.
    Good,
    /// Succeeded, but over the latency threshold.
    Slow,
    Failed,
}

/// One raw probe attempt, as stored in `probe_results`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeResult {
    pub probe: Arc<str>,
    pub at: SystemTime,
    pub success: bool,
    pub degraded: bool,
    pub duration_seconds: f64,
}

impl ProbeResult {
    /// The attempt in a probe snapshot, read from its typed health (`model::Health`, the
    /// rule every reader shares): down → failed, degraded → slow, up → good. `None` for
    /// other kinds and for a probe snapshot without health (the run made no attempt: no
    /// data, not a failure).
    pub fn of(snapshot: &Snapshot) -> Option<ProbeResult> {
        if snapshot.target.kind != Kind::Probe {
            return None;
        }
        let health = snapshot.health?;
        let duration_seconds = snapshot
            .family(PROBE_DURATION.name)
            .and_then(|f| f.samples.first())
            .map_or(snapshot.duration.as_secs_f64(), |s| s.value);
        Some(ProbeResult {
            probe: snapshot.target.name.clone(),
            at: snapshot.finished_at,
            success: health.is_up(),
            degraded: matches!(health, Health::Degraded { .. }),
            duration_seconds,
        })
    }

    pub fn attempt(&self) -> Attempt {
        match (self.success, self.degraded) {
            (false, _) => Attempt::Failed,
            (true, true) => Attempt::Slow,
            (true, false) => Attempt::Good,
        }
    }
}

/// A probe's health after the consecutive thresholds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProbeHealth {
    Up,
    Degraded,
    Down,
}

/// Consecutive-threshold state machine of one probe signal.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProbeTracker {
    health: Option<ProbeHealth>,
    failed_streak: u32,
    success_streak: u32,
    good_streak: u32,
    slow_streak: u32,
}

impl ProbeTracker {
    pub fn health(&self) -> Option<ProbeHealth> {
        self.health
    }

    /// Applies one attempt and returns the health after it.
    pub fn observe(
        &mut self,
        attempt: Attempt,
        failures_to_down: u32,
        successes_to_up: u32,
    ) -> Option<ProbeHealth> {
        let failures_to_down = failures_to_down.max(1);
        let successes_to_up = successes_to_up.max(1);
        match attempt {
            Attempt::Failed => {
                self.failed_streak += 1;
                self.success_streak = 0;
                self.good_streak = 0;
                self.slow_streak = 0;
            }
            Attempt::Good => {
                self.failed_streak = 0;
                self.success_streak += 1;
                self.good_streak += 1;
                self.slow_streak = 0;
            }
            Attempt::Slow => {
                self.failed_streak = 0;
                self.success_streak += 1;
                self.good_streak = 0;
                self.slow_streak += 1;
            }
        }
        let latest_ok = match attempt {
            Attempt::Slow => ProbeHealth::Degraded,
            _ => ProbeHealth::Up,
        };
        self.health = match self.health {
            _ if self.failed_streak >= failures_to_down => Some(ProbeHealth::Down),
            None if self.success_streak >= 1 => Some(latest_ok),
            Some(ProbeHealth::Down) if self.success_streak >= successes_to_up => Some(latest_ok),
            Some(ProbeHealth::Up) if self.slow_streak >= failures_to_down => {
                Some(ProbeHealth::Degraded)
            }
            Some(ProbeHealth::Degraded) if self.good_streak >= successes_to_up => {
                Some(ProbeHealth::Up)
            }
            unchanged => unchanged,
        };
        self.health
    }
}

/// Combines a component's probe healths (unknown ones ignored).
pub fn combine_probes(healths: &[Option<ProbeHealth>]) -> Option<ComponentStatus> {
    let known: Vec<ProbeHealth> = healths.iter().flatten().copied().collect();
    if known.is_empty() {
        return None;
    }
    let down = known.iter().filter(|h| **h == ProbeHealth::Down).count();
    Some(if down == known.len() {
        ComponentStatus::MajorOutage
    } else if down > 0 {
        ComponentStatus::PartialOutage
    } else if known.contains(&ProbeHealth::Degraded) {
        ComponentStatus::DegradedPerformance
    } else {
        ComponentStatus::Operational
    })
}

/// The state a threshold signal gives for `value`.
pub fn threshold_status(signal: &ThresholdSignal, value: f64) -> ComponentStatus {
    let above = |limit: Option<f64>| limit.is_some_and(|l| value > l);
    if above(signal.major_outage_above) {
        ComponentStatus::MajorOutage
    } else if above(signal.partial_outage_above) {
        ComponentStatus::PartialOutage
    } else if above(signal.degraded_above) {
        ComponentStatus::DegradedPerformance
    } else {
        ComponentStatus::Operational
    }
}

/// The largest value of the series that `signal` selects among fresh snapshots (finished
/// within `stale_after` of `now`); NaN values are ignored.
pub fn threshold_value(
    signal: &ThresholdSignal,
    snapshots: &[(TargetId, Option<Arc<Snapshot>>)],
    now: SystemTime,
    stale_after: std::time::Duration,
) -> Option<f64> {
    let mut best: Option<f64> = None;
    for (id, snapshot) in snapshots {
        let Some(snapshot) = snapshot else { continue };
        if signal.target_kind.is_some_and(|k| k != id.kind)
            || signal
                .target_name
                .as_deref()
                .is_some_and(|n| n != &*id.name)
        {
            continue;
        }
        let age = now.duration_since(snapshot.finished_at).unwrap_or_default();
        if age > stale_after {
            continue;
        }
        let Some(family) = snapshot.family(&signal.metric) else {
            continue;
        };
        let positions: Option<Vec<(usize, &str)>> = signal
            .labels
            .iter()
            .map(|(name, value)| {
                family
                    .desc
                    .labels
                    .iter()
                    .position(|l| l == name)
                    .map(|i| (i, value.as_str()))
            })
            .collect();
        let Some(positions) = positions else { continue };
        for sample in &family.samples {
            if sample.value.is_nan()
                || !positions
                    .iter()
                    .all(|(i, v)| sample.labels.get(*i).is_some_and(|l| &**l == *v))
            {
                continue;
            }
            best = Some(best.map_or(sample.value, |b: f64| b.max(sample.value)));
        }
    }
    best
}

/// Worst of the known states; `None` when none is known.
pub fn worst(states: impl IntoIterator<Item = Option<ComponentStatus>>) -> Option<ComponentStatus> {
    states.into_iter().flatten().max()
}

/// Evaluates every component: owns the probe trackers (one per component × probe signal).
#[derive(Debug)]
pub struct ComponentEvaluator {
    components: Vec<Component>,
    /// Per component, per probe name.
    trackers: Vec<HashMap<Arc<str>, ProbeTracker>>,
}

impl ComponentEvaluator {
    pub fn new(components: Vec<Component>) -> Self {
        let trackers = components
            .iter()
            .map(|c| {
                c.config
                    .signals
                    .iter()
                    .filter_map(|s| match s {
                        SignalConfig::Probe { probe } => {
                            Some((Arc::from(probe.as_str()), ProbeTracker::default()))
                        }
                        SignalConfig::Threshold(_) => None,
                    })
                    .collect()
            })
            .collect();
        ComponentEvaluator {
            components,
            trackers,
        }
    }

    pub fn components(&self) -> &[Component] {
        &self.components
    }

    /// Feeds one probe attempt to every component that uses the probe.
    pub fn observe(&mut self, result: &ProbeResult) {
        for (component, trackers) in self.components.iter().zip(&mut self.trackers) {
            if let Some(tracker) = trackers.get_mut(&result.probe) {
                let o = &component.config.options;
                tracker.observe(result.attempt(), o.failures_to_down, o.successes_to_up);
            }
        }
    }

    /// Every component's state at `now` (maintenance not applied), in component order.
    pub fn evaluate(
        &self,
        snapshots: &[(TargetId, Option<Arc<Snapshot>>)],
        now: SystemTime,
    ) -> Vec<Option<ComponentStatus>> {
        self.components
            .iter()
            .zip(&self.trackers)
            .map(|(component, trackers)| {
                let probes: Vec<Option<ProbeHealth>> =
                    trackers.values().map(ProbeTracker::health).collect();
                let thresholds = component.config.signals.iter().filter_map(|s| match s {
                    SignalConfig::Threshold(t) => Some(
                        threshold_value(t, snapshots, now, component.config.options.stale_after)
                            .map(|v| threshold_status(t, v)),
                    ),
                    SignalConfig::Probe { .. } => None,
                });
                worst(std::iter::once(combine_probes(&probes)).chain(thresholds))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Family, MetricDesc, Outcome, Sample};
    use Attempt::*;
    use ComponentStatus::*;
    use ProbeHealth::*;
    use std::time::Duration;

    fn run(attempts: &[Attempt]) -> Vec<Option<ProbeHealth>> {
        let mut t = ProbeTracker::default();
        attempts.iter().map(|a| t.observe(*a, 3, 2)).collect()
    }

    #[test]
    fn consecutive_thresholds_table() {
        let table: &[(&[Attempt], &[Option<ProbeHealth>])] = &[
            // first success decides at once
            (&[Good], &[Some(Up)]),
            (&[Slow], &[Some(Degraded)]),
            // failing from the start: unknown until the third failure
            (&[Failed, Failed, Failed], &[None, None, Some(Down)]),
            // one lost packet changes nothing
            (&[Good, Failed, Good, Failed, Failed, Good], &[Some(Up); 6]),
            // three in a row → down; two successes → up again
            (
                &[Good, Failed, Failed, Failed, Good, Good],
                &[
                    Some(Up),
                    Some(Up),
                    Some(Up),
                    Some(Down),
                    Some(Down),
                    Some(Up),
                ],
            ),
            // a success between failures resets the streak
            (
                &[Good, Failed, Failed, Good, Failed, Failed, Failed],
                &[
                    Some(Up),
                    Some(Up),
                    Some(Up),
                    Some(Up),
                    Some(Up),
                    Some(Up),
                    Some(Down),
                ],
            ),
            // slow three times → degraded; two good → up
            (
                &[Good, Slow, Slow, Slow, Good, Slow, Good, Good],
                &[
                    Some(Up),
                    Some(Up),
                    Some(Up),
                    Some(Degraded),
                    Some(Degraded),
                    Some(Degraded),
                    Some(Degraded),
                    Some(Up),
                ],
            ),
            // recovering with a slow and a good attempt: up, since the latest was good
            (
                &[Failed, Failed, Failed, Slow, Good],
                &[None, None, Some(Down), Some(Down), Some(Up)],
            ),
            (
                &[Failed, Failed, Failed, Good, Slow],
                &[None, None, Some(Down), Some(Down), Some(Degraded)],
            ),
            // degraded → down
            (
                &[Slow, Failed, Failed, Failed],
                &[Some(Degraded), Some(Degraded), Some(Degraded), Some(Down)],
            ),
        ];
        for (attempts, expected) in table {
            assert_eq!(run(attempts), expected.to_vec(), "{attempts:?}");
        }
    }

    #[test]
    fn thresholds_of_one_mean_immediate() {
        let mut t = ProbeTracker::default();
        assert_eq!(t.observe(Failed, 1, 1), Some(Down));
        assert_eq!(t.observe(Good, 1, 1), Some(Up));
        assert_eq!(t.observe(Slow, 1, 1), Some(Degraded));
    }

    #[test]
    fn combine_probes_table() {
        let table: &[(&[Option<ProbeHealth>], Option<ComponentStatus>)] = &[
            (&[], None),
            (&[None, None], None),
            (&[Some(Up), Some(Up)], Some(Operational)),
            (&[Some(Up), Some(Degraded)], Some(DegradedPerformance)),
            (&[Some(Up), Some(Down)], Some(PartialOutage)),
            (&[Some(Degraded), Some(Down)], Some(PartialOutage)),
            (&[Some(Down), Some(Down)], Some(MajorOutage)),
            (&[Some(Down), None], Some(MajorOutage)),
            (&[Some(Down)], Some(MajorOutage)),
        ];
        for (healths, expected) in table {
            assert_eq!(combine_probes(healths), *expected, "{healths:?}");
        }
    }

    fn ingress(degraded: f64, partial: Option<f64>, major: f64) -> ThresholdSignal {
        ThresholdSignal {
            metric: "sidekiq_queue_latency_seconds".into(),
            labels: vec![("name".into(), "ingress".into())],
            target_kind: Some(Kind::Redis),
            target_name: None,
            degraded_above: Some(degraded),
            partial_outage_above: partial,
            major_outage_above: Some(major),
        }
    }

    #[test]
    fn threshold_status_table() {
        let s = ingress(60.0, None, 900.0);
        for (value, expected) in [
            (0.0, Operational),
            (60.0, Operational),
            (60.5, DegradedPerformance),
            (900.0, DegradedPerformance),
            (901.0, MajorOutage),
        ] {
            assert_eq!(threshold_status(&s, value), expected, "{value}");
        }
        let s = ingress(60.0, Some(300.0), 900.0);
        assert_eq!(threshold_status(&s, 301.0), PartialOutage);
    }

    static LATENCY: MetricDesc =
        MetricDesc::gauge("sidekiq_queue_latency_seconds", "test", &["name"]);

    fn redis_snapshot(
        name: &str,
        finished_at: SystemTime,
        values: &[(&str, f64)],
    ) -> (TargetId, Option<Arc<Snapshot>>) {
        let id = TargetId::new(Kind::Redis, name);
        let family = Family {
            desc: &LATENCY,
            samples: values
                .iter()
                .map(|(q, v)| Sample {
                    labels: vec![Box::<str>::from(*q)].into_boxed_slice(),
                    value: *v,
                })
                .collect(),
        };
        let snapshot = Snapshot {
            target: id.clone(),
            finished_at,
            duration: Duration::from_millis(5),
            outcome: Outcome::Success,
            health: Some(crate::model::Health::Up),
            families: vec![family],
        };
        (id, Some(Arc::new(snapshot)))
    }

    #[test]
    fn threshold_value_picks_the_largest_fresh_matching_series() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let fresh = now - Duration::from_secs(10);
        let stale = now - Duration::from_secs(600);
        let snapshots = vec![
            redis_snapshot("sidekiq", fresh, &[("default", 5.0), ("ingress", 70.0)]),
            redis_snapshot("sidekiq2", fresh, &[("ingress", 120.0), ("push", 1.0)]),
            redis_snapshot("old", stale, &[("ingress", 5000.0)]),
            (TargetId::new(Kind::Redis, "never"), None),
        ];
        let s = ingress(60.0, None, 900.0);
        let stale_after = Duration::from_secs(300);
        assert_eq!(
            threshold_value(&s, &snapshots, now, stale_after),
            Some(120.0)
        );
        let only = ThresholdSignal {
            target_name: Some("sidekiq".into()),
            ..s.clone()
        };
        assert_eq!(
            threshold_value(&only, &snapshots, now, stale_after),
            Some(70.0)
        );
        let wrong_kind = ThresholdSignal {
            target_kind: Some(Kind::Postgres),
            ..s.clone()
        };
        assert_eq!(
            threshold_value(&wrong_kind, &snapshots, now, stale_after),
            None
        );
        let wrong_label = ThresholdSignal {
            labels: vec![("queue".into(), "ingress".into())],
            ..s.clone()
        };
        assert_eq!(
            threshold_value(&wrong_label, &snapshots, now, stale_after),
            None
        );
        let missing_queue = ThresholdSignal {
            labels: vec![("name".into(), "mailers".into())],
            ..s
        };
        assert_eq!(
            threshold_value(&missing_queue, &snapshots, now, stale_after),
            None
        );
    }

    #[test]
    fn probe_results_come_from_the_health_not_the_families() {
        use crate::collect::probe::{PROBE_DURATION, PROBE_SUCCESS};
        use crate::model::{Health, Reason};
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let probe = |health: Option<Health>, success: f64| Snapshot {
            target: TargetId::new(Kind::Probe, "web"),
            finished_at: at,
            duration: Duration::from_millis(900),
            outcome: Outcome::Success,
            health,
            families: vec![
                // What the families say does not decide the attempt; only the duration
                // is read from them.
                Family {
                    desc: &PROBE_SUCCESS,
                    samples: vec![Sample {
                        labels: vec![Box::<str>::from("http")].into_boxed_slice(),
                        value: success,
                    }],
                },
                Family {
                    desc: &PROBE_DURATION,
                    samples: vec![Sample {
                        labels: vec![Box::<str>::from("http")].into_boxed_slice(),
                        value: 0.25,
                    }],
                },
            ],
        };
        let down = Some(Health::Down {
            reason: Reason::CheckFailed,
        });
        let slow = Some(Health::Degraded {
            reason: Reason::Slow,
        });
        let result = ProbeResult::of(&probe(down, 0.0)).expect("an attempt");
        assert_eq!((result.attempt(), result.duration_seconds), (Failed, 0.25));
        assert_eq!(
            ProbeResult::of(&probe(slow, 1.0)).map(|r| r.attempt()),
            Some(Slow)
        );
        assert_eq!(
            ProbeResult::of(&probe(Some(Health::Up), 1.0)).map(|r| r.attempt()),
            Some(Good)
        );
        // No attempt (the runner cancelled the run): no result at all, not a failure.
        assert_eq!(ProbeResult::of(&probe(None, 0.0)), None);
        // Other kinds have no probe results.
        let (_, redis) = redis_snapshot("sidekiq", at, &[]);
        assert_eq!(ProbeResult::of(&redis.expect("snapshot")), None);
    }

    #[test]
    fn worst_wins_and_unknown_is_ignored() {
        assert_eq!(
            worst([None, Some(Operational), Some(DegradedPerformance)]),
            Some(DegradedPerformance)
        );
        assert_eq!(
            worst([Some(MajorOutage), Some(PartialOutage)]),
            Some(MajorOutage)
        );
        assert_eq!(worst([None, None]), None);
    }
}
