//! The alert state machine, a pure function: inactive → pending → firing → resolved.
//!
//! [`step`] takes an alert's phase, whether its condition holds now, the time and the rule's
//! timing, and returns the next phase and the event to notify about, if any:
//! - the condition must hold for `for` before the alert fires (`for = 0`: at once);
//! - a pending alert whose condition stops goes back to inactive without a word;
//! - a firing alert keeps firing for `keep_firing_for` after its condition stopped (so a
//!   flapping condition is one alert, not many), then resolves;
//! - a firing alert is repeated every `repeat_interval`.

use std::time::{Duration, SystemTime};

/// The timing of one rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timing {
    pub for_: Duration,
    pub keep_firing_for: Duration,
    pub repeat_interval: Duration,
}

/// Where an alert instance is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Inactive,
    /// The condition holds since `since`, not yet for `for`.
    Pending {
        since: SystemTime,
    },
    Firing {
        /// When the condition started to hold.
        active_since: SystemTime,
        firing_since: SystemTime,
        /// The last evaluation at which the condition held.
        last_true: SystemTime,
        /// The last time a notification went out (firing or repeat).
        last_sent: SystemTime,
    },
}

/// What to notify about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    Fired,
    Repeated,
    Resolved { lasted: Duration },
}

fn since(now: SystemTime, then: SystemTime) -> Duration {
    now.duration_since(then).unwrap_or(Duration::ZERO)
}

/// One evaluation of one alert instance.
pub fn step(phase: Phase, active: bool, now: SystemTime, t: Timing) -> (Phase, Option<Event>) {
    let fire = |active_since| {
        (
            Phase::Firing {
                active_since,
                firing_since: now,
                last_true: now,
                last_sent: now,
            },
            Some(Event::Fired),
        )
    };
    match (phase, active) {
        (Phase::Inactive, false) => (Phase::Inactive, None),
        (Phase::Inactive, true) if t.for_.is_zero() => fire(now),
        (Phase::Inactive, true) => (Phase::Pending { since: now }, None),
        (Phase::Pending { .. }, false) => (Phase::Inactive, None),
        (Phase::Pending { since: s }, true) if since(now, s) >= t.for_ => fire(s),
        (p @ Phase::Pending { .. }, true) => (p, None),
        (
            Phase::Firing {
                active_since,
                firing_since,
                last_sent,
                ..
            },
            true,
        ) => {
            let repeat = !t.repeat_interval.is_zero() && since(now, last_sent) >= t.repeat_interval;
            (
                Phase::Firing {
                    active_since,
                    firing_since,
                    last_true: now,
                    last_sent: if repeat { now } else { last_sent },
                },
                repeat.then_some(Event::Repeated),
            )
        }
        (
            p @ Phase::Firing {
                firing_since,
                last_true,
                ..
            },
            false,
        ) => {
            if since(now, last_true) < t.keep_firing_for {
                (p, None)
            } else {
                (
                    Phase::Inactive,
                    Some(Event::Resolved {
                        lasted: since(now, firing_since),
                    }),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn at(s: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000 + s)
    }

    fn timing(for_: u64, keep: u64, repeat: u64) -> Timing {
        Timing {
            for_: Duration::from_secs(for_),
            keep_firing_for: Duration::from_secs(keep),
            repeat_interval: Duration::from_secs(repeat),
        }
    }

    /// Runs `(second, condition)` steps from inactive; returns the events with their times.
    fn run(t: Timing, steps: &[(u64, bool)]) -> Vec<(u64, Event)> {
        let mut phase = Phase::Inactive;
        let mut events = Vec::new();
        for &(s, active) in steps {
            let (next, event) = step(phase, active, at(s), t);
            phase = next;
            if let Some(e) = event {
                events.push((s, e));
            }
        }
        events
    }

    #[test]
    fn table() {
        let min = |m: u64| Duration::from_secs(m * 60);
        // (what, timing, steps every 15 s or as given, expected events)
        type Case = (&'static str, Timing, Vec<(u64, bool)>, Vec<(u64, Event)>);
        let cases: Vec<Case> = vec![
            (
                "never true",
                timing(120, 0, 14_400),
                vec![(0, false), (15, false)],
                vec![],
            ),
            (
                "fires once the condition held for `for`",
                timing(120, 0, 14_400),
                (0..=10).map(|i| (i * 15, true)).collect(),
                vec![(120, Event::Fired)],
            ),
            (
                "for = 0 fires at once",
                timing(0, 0, 14_400),
                vec![(0, true)],
                vec![(0, Event::Fired)],
            ),
            (
                "a blip shorter than `for` says nothing",
                timing(120, 0, 14_400),
                vec![(0, true), (15, true), (30, false), (45, true), (150, true)],
                vec![],
            ),
            (
                "resolves when the condition stops, after how long it fired",
                timing(60, 0, 14_400),
                vec![(0, true), (60, true), (120, true), (780, false)],
                vec![
                    (60, Event::Fired),
                    (780, Event::Resolved { lasted: min(12) }),
                ],
            ),
            (
                "keep_firing_for bridges a flap",
                timing(0, 120, 14_400),
                vec![
                    (0, true),
                    (15, false),
                    (60, true),
                    (75, false),
                    (165, false),
                    (180, false),
                ],
                vec![(0, Event::Fired), (180, Event::Resolved { lasted: min(3) })],
            ),
            (
                "repeats every repeat_interval while firing",
                timing(0, 0, 3600),
                vec![
                    (0, true),
                    (1800, true),
                    (3600, true),
                    (5400, true),
                    (7200, true),
                ],
                vec![
                    (0, Event::Fired),
                    (3600, Event::Repeated),
                    (7200, Event::Repeated),
                ],
            ),
        ];
        for (what, t, steps, expected) in cases {
            assert_eq!(run(t, &steps), expected, "{what}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn on_paused_time_the_alert_fires_after_for() {
        // The evaluator's clock: tokio time mapped onto a wall-clock origin.
        let origin = at(0);
        let start = tokio::time::Instant::now();
        let now = || origin + (tokio::time::Instant::now() - start);
        let t = timing(120, 0, 14_400);
        let mut phase = Phase::Inactive;
        let mut fired_at = None;
        let mut tick = tokio::time::interval(Duration::from_secs(15));
        for _ in 0..20 {
            tick.tick().await;
            let (next, event) = step(phase, true, now(), t);
            phase = next;
            if event == Some(Event::Fired) && fired_at.is_none() {
                fired_at = Some(tokio::time::Instant::now() - start);
            }
        }
        assert_eq!(fired_at, Some(Duration::from_secs(120)));
    }
}
