//! Alerting: rules (`rule.rs`, with the built-in Mastodon set), their evaluation over the
//! latest snapshots (`eval.rs`, pure), the state machine (`state.rs`, pure), and the
//! evaluator task that turns state changes into outbox rows for the Discord routes.
//!
//! The evaluator reads its world through [`AlertInputs`], built by [`inputs_from`] — the one
//! place that knows about `SnapshotStore` and maintenance windows.

pub mod alertmanager;
pub mod cli;
pub mod eval;
pub mod state;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

pub use crate::config::alert::rule::{self, Rule};
pub use crate::config::alert::{DEFAULT_EVALUATE_EVERY, DEFAULT_REPEAT_INTERVAL};
pub use eval::{Active, AlertInputs};
use state::{Event, Phase, Timing};

use crate::config::MaintenanceWindow;
use crate::model::SnapshotStore;
use crate::notify::discord::message::{self, DIGEST_AFTER, Style};
use crate::notify::dispatch::Dispatcher;
use crate::notify::outbox::{NewRow, RowKind, StoredAlert};
use crate::notify::{Notice, Severity, Transition};
use crate::sli::maintenance_watch::MaintenanceReceiver;
use crate::sli::recorder::StatesReceiver;

/// Which alerts a Discord route receives, and how.
#[derive(Debug, Clone)]
pub struct RouteSelect {
    pub name: String,
    /// Alerts of this severity and above.
    pub min_severity: Severity,
    /// Only alerts of these components; empty: all.
    pub components: Vec<String>,
    pub style: Style,
    /// Post a short notice after editing the original message on resolve.
    pub resolved_notice: bool,
}

impl RouteSelect {
    fn wants(&self, notice: &Notice) -> bool {
        notice.severity >= self.min_severity
            && (self.components.is_empty()
                || notice
                    .component
                    .as_ref()
                    .is_some_and(|c| self.components.contains(c)))
    }
}

/// A notification-worthy change of one alert instance.
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub key: String,
    pub rule: usize,
    pub notice: Notice,
}

#[derive(Debug, Clone)]
struct Instance {
    rule: usize,
    phase: Phase,
    last: Active,
    /// Whether its firing was announced (not muted): only then is its resolve announced.
    announced: bool,
    /// Firing, not announced because fedimeter could not see (monitoring degraded): it is
    /// announced once fedimeter sees again and it still fires.
    held: bool,
}

/// The alertname of fedimeter's own blind-spot alert.
pub const MONITORING_DEGRADED: &str = "MonitoringDegraded";

/// The `rule_index` MonitoringDegraded is stored under in `alert_state` (no configured rule).
const DEGRADED_RULE_INDEX: i64 = -1;

/// The label that carries MonitoringDegraded's reason in `alert_state`.
const DEGRADED_REASON: &str = "reason";

/// The label that carries the part of the reason its targets explain (empty: none).
const DEGRADED_TARGETS: &str = "targets";

/// The alert key of MonitoringDegraded (its message is remembered under it).
fn degraded_key() -> String {
    format!("{MONITORING_DEGRADED}{{}}")
}

/// How old the newest snapshot may be before collection counts as stopped.
pub const COLLECTION_STOPPED_AFTER: Duration = Duration::from_secs(600);

/// What fedimeter can tell about its own sight from one evaluation's inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sight {
    /// It cannot trust what it sees, and why.
    Blind(String),
    /// It sees.
    Sees,
    /// It cannot tell yet: no snapshot at all, or every probe that has run fails while
    /// others have not run yet (just after a start). Whatever was known before holds.
    Unknown,
}

/// How long the store may be unreachable before fedimeter counts itself blind because of
/// it: a restart of the database or a failover takes less, and a single failed write never
/// counts.
pub const STORE_AWAY_AFTER: Duration = Duration::from_secs(60);

/// What fedimeter can tell from its targets alone: every probe failing at once (two or more
/// probes), or no snapshot newer than [`COLLECTION_STOPPED_AFTER`]. These reasons explain
/// (and hold) the per-target alerts; the store's absence ([`store_away`]) does not.
pub fn targets_sight(inputs: &AlertInputs) -> Sight {
    let probes: Vec<&Arc<crate::model::Snapshot>> = inputs
        .snapshots
        .iter()
        .filter(|s| s.target.kind == crate::model::Kind::Probe)
        .collect();
    let failing = |s: &&Arc<crate::model::Snapshot>| {
        matches!(s.health, Some(crate::model::Health::Down { .. }))
    };
    let awaiting = inputs.probes_awaiting_first_run;
    let all_failing = probes.len() + awaiting >= 2 && probes.iter().all(failing);
    if all_failing && awaiting == 0 {
        let names: Vec<&str> = probes.iter().map(|s| &*s.target.name).collect();
        return Sight::Blind(format!(
            "every probe fails at once ({}): fedimeter has probably lost its own network, \
             or the whole site is unreachable",
            names.join(", ")
        ));
    }
    let Some(newest) = inputs.snapshots.iter().map(|s| s.finished_at).max() else {
        return Sight::Unknown;
    };
    let age = inputs.now.duration_since(newest).unwrap_or(Duration::ZERO);
    if age > COLLECTION_STOPPED_AFTER {
        return Sight::Blind(format!(
            "collection stopped: no target has been collected for {}",
            message::human_duration(age.as_secs())
        ));
    }
    if all_failing {
        // The probes that have not run yet may fail too.
        Sight::Unknown
    } else {
        Sight::Sees
    }
}

/// The store's reason, once it has been unreachable for longer than [`STORE_AWAY_AFTER`]:
/// fedimeter still sees its targets, but records no history and cannot write notifications
/// to the outbox.
pub fn store_away(inputs: &AlertInputs) -> Option<String> {
    let since = inputs.store_away_since?;
    let away = inputs.now.duration_since(since).unwrap_or(Duration::ZERO);
    (away > STORE_AWAY_AFTER).then(|| {
        format!(
            "the store is away since {}: history is not recorded and notifications are \
             queued in memory",
            humantime::format_rfc3339_seconds(since)
        )
    })
}

/// One reason naming every cause that holds.
fn combine(targets: Option<&str>, store: Option<&str>) -> Option<String> {
    match (targets, store) {
        (Some(t), Some(s)) => Some(format!("{t}; and {s}")),
        (Some(r), None) | (None, Some(r)) => Some(r.to_string()),
        (None, None) => None,
    }
}

/// Why fedimeter cannot trust what it sees, if it cannot: its targets' reasons
/// ([`targets_sight`]) and the store's ([`store_away`]), both named in one reason when both
/// hold.
pub fn sight(inputs: &AlertInputs) -> Sight {
    let store = store_away(inputs);
    match (targets_sight(inputs), store) {
        (Sight::Blind(t), s) => Sight::Blind(combine(Some(&t), s.as_deref()).unwrap_or(t)),
        (_, Some(s)) => Sight::Blind(s),
        (t, None) => t,
    }
}

/// The reason of [`Sight::Blind`], if fedimeter is blind by these inputs alone.
pub fn blind_spot(inputs: &AlertInputs) -> Option<String> {
    match sight(inputs) {
        Sight::Blind(reason) => Some(reason),
        Sight::Sees | Sight::Unknown => None,
    }
}

/// The alert states of every rule instance; [`Evaluator::step`] is pure given its inputs.
#[derive(Debug, Clone)]
pub struct Evaluator {
    rules: Vec<Rule>,
    repeat_interval: Duration,
    instances: HashMap<String, Instance>,
    /// Since when fedimeter has been blind, and why (the MonitoringDegraded alert).
    blind: Option<(SystemTime, String)>,
    /// The part of the blindness its targets explain (every probe failing, collection
    /// stopped), as last known: it holds the per-target alerts; the store's part does not.
    blind_targets: Option<String>,
    /// Some phase changed since the states were last taken with [`Evaluator::stored`].
    dirty: bool,
}

/// One line of `fedimeter alert list` / `fedimeter_alerts`.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub alertname: String,
    pub severity: Severity,
    pub state: &'static str,
    pub key: String,
}

fn unix(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

impl Evaluator {
    pub fn new(rules: Vec<Rule>, repeat_interval: Duration) -> Self {
        Evaluator {
            rules,
            repeat_interval,
            instances: HashMap::new(),
            blind: None,
            blind_targets: None,
            dirty: false,
        }
    }

    /// Whether the states changed since the last [`Evaluator::take_stored`].
    pub fn is_dirty(&self) -> bool {
        self.dirty
    }

    /// Every pending and firing instance, for `alert_state`, and the MonitoringDegraded
    /// alert while it fires (see [`Evaluator::restore`]); clears the dirty mark.
    pub fn take_stored(&mut self) -> Vec<StoredAlert> {
        self.dirty = false;
        let ms = crate::store::unix_ms;
        let mut out: Vec<StoredAlert> = self
            .instances
            .iter()
            .filter_map(|(key, i)| {
                let (state, active_since, firing_since, last_true, last_sent) = match i.phase {
                    Phase::Inactive => return None,
                    Phase::Pending { since } => ("pending", ms(since), None, ms(since), None),
                    Phase::Firing {
                        active_since,
                        firing_since,
                        last_true,
                        last_sent,
                    } => (
                        "firing",
                        ms(active_since),
                        Some(ms(firing_since)),
                        ms(last_true),
                        Some(ms(last_sent)),
                    ),
                };
                Some(StoredAlert {
                    key: key.clone(),
                    alertname: self.rules[i.rule].name.clone(),
                    rule_index: i64::try_from(i.rule).unwrap_or(i64::MAX),
                    state: state.to_string(),
                    active_since,
                    firing_since,
                    last_true_at: last_true,
                    last_sent_at: last_sent,
                    announced: i.announced,
                    held: i.held,
                    target: i.last.target.clone(),
                    labels: serde_json::to_string(&i.last.labels).unwrap_or_else(|_| "{}".into()),
                    value: i.last.value,
                })
            })
            .collect();
        if let Some((since, reason)) = &self.blind {
            let since = ms(*since);
            let targets = self.blind_targets.clone().unwrap_or_default();
            let labels = serde_json::to_string(&HashMap::from([
                (DEGRADED_REASON, reason),
                (DEGRADED_TARGETS, &targets),
            ]))
            .unwrap_or_else(|_| "{}".into());
            out.push(StoredAlert {
                key: degraded_key(),
                alertname: MONITORING_DEGRADED.to_string(),
                rule_index: DEGRADED_RULE_INDEX,
                state: "firing".to_string(),
                active_since: since,
                firing_since: Some(since),
                last_true_at: since,
                last_sent_at: Some(since),
                announced: true,
                held: false,
                target: String::new(),
                labels,
                value: None,
            });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        out
    }

    /// Takes back stored states (after a restart). States of rules that no longer exist at
    /// that position are dropped. Held alerts stay held; a firing MonitoringDegraded keeps
    /// its start and reason, so that it is neither announced again nor forgotten: its
    /// resolve edits the message its firing posted.
    pub fn restore(&mut self, stored: Vec<StoredAlert>) {
        let t = crate::store::from_unix_ms;
        for st in stored {
            if st.rule_index == DEGRADED_RULE_INDEX && st.alertname == MONITORING_DEGRADED {
                let labels: HashMap<String, String> =
                    serde_json::from_str(&st.labels).unwrap_or_default();
                let reason = labels.get(DEGRADED_REASON).cloned().unwrap_or_default();
                // Stored before the store's reason existed: all of it was the targets'.
                self.blind_targets = match labels.get(DEGRADED_TARGETS) {
                    Some(t) if t.is_empty() => None,
                    Some(t) => Some(t.clone()),
                    None => Some(reason.clone()),
                };
                self.blind = Some((t(st.active_since), reason));
                continue;
            }
            let Ok(rule) = usize::try_from(st.rule_index) else {
                continue;
            };
            if self.rules.get(rule).is_none_or(|r| r.name != st.alertname) {
                continue;
            }
            let phase = match (st.state.as_str(), st.firing_since, st.last_sent_at) {
                ("pending", _, _) => Phase::Pending {
                    since: t(st.active_since),
                },
                ("firing", Some(f), Some(s)) => Phase::Firing {
                    active_since: t(st.active_since),
                    firing_since: t(f),
                    last_true: t(st.last_true_at),
                    last_sent: t(s),
                },
                _ => continue,
            };
            let labels = serde_json::from_str(&st.labels).unwrap_or_default();
            self.instances.insert(
                st.key.clone(),
                Instance {
                    rule,
                    phase,
                    last: Active {
                        rule,
                        key: st.key,
                        target: st.target,
                        labels,
                        value: st.value,
                    },
                    announced: st.announced,
                    held: st.held,
                },
            );
        }
    }

    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// `fedimeter_alerts{alertname,severity,state}`.
    pub fn metrics_family(&self) -> crate::model::Family {
        let mut counts = std::collections::BTreeMap::new();
        for row in self.states() {
            *counts.entry((row.alertname, row.state)).or_insert(0) += 1;
        }
        let rules: Vec<(String, Severity)> = self
            .rules
            .iter()
            .map(|r| (r.name.clone(), r.severity))
            .collect();
        crate::notify::metrics::alerts_family(&rules, &counts)
    }

    /// Pending and firing instances.
    pub fn states(&self) -> Vec<AlertRow> {
        let mut rows: Vec<AlertRow> = self
            .instances
            .iter()
            .filter_map(|(key, i)| {
                let state = match i.phase {
                    Phase::Inactive => return None,
                    Phase::Pending { .. } => "pending",
                    Phase::Firing { .. } => "firing",
                };
                let rule = &self.rules[i.rule];
                Some(AlertRow {
                    alertname: rule.name.clone(),
                    severity: rule.severity,
                    state,
                    key: key.clone(),
                })
            })
            .collect();
        rows.sort_by(|a, b| a.key.cmp(&b.key));
        rows
    }

    fn timing(&self, rule: &Rule) -> Timing {
        Timing {
            for_: rule.for_,
            keep_firing_for: rule.keep_firing_for,
            repeat_interval: self.repeat_interval,
        }
    }

    /// One evaluation: the changes to announce (muted components' alerts are tracked but not
    /// announced).
    pub fn step(&mut self, inputs: &AlertInputs) -> Vec<Change> {
        let now = inputs.now;
        let active = eval::evaluate(&self.rules, inputs);
        let mut seen = HashSet::with_capacity(active.len());
        let mut changes = Vec::new();
        // Unknown (just after a start): what was known before holds, so a MonitoringDegraded
        // restored from the store is neither resolved nor announced again.
        let targets = targets_sight(inputs);
        let probes_ran = inputs
            .snapshots
            .iter()
            .any(|s| s.target.kind == crate::model::Kind::Probe);
        // Some probes ran, all fail, others are still to run.
        let unsure = targets == Sight::Unknown && probes_ran;
        let targets_blind = match targets {
            Sight::Blind(reason) => Some(reason),
            Sight::Sees => None,
            Sight::Unknown => self.blind_targets.clone(),
        };
        // The store's absence explains no per-target alert: it holds nothing.
        let blind = combine(targets_blind.as_deref(), store_away(inputs).as_deref());
        let probe_targets: HashSet<&str> = inputs
            .snapshots
            .iter()
            .filter(|s| s.target.kind == crate::model::Kind::Probe)
            .map(|s| &*s.target.name)
            .collect();
        let mut held = 0usize;
        for a in active {
            seen.insert(a.key.clone());
            let rule = &self.rules[a.rule];
            let timing = self.timing(rule);
            let muted = rule
                .component
                .as_ref()
                .is_some_and(|c| inputs.muted_components.contains(c));
            // While blind, the probe alerts that blindness explains are held.
            // Component states derive from the probes: blindness explains them too. While
            // fedimeter cannot tell yet (probes still to run, all others failing), they are
            // held too: they follow once it sees, or MonitoringDegraded explains them.
            let hold = (targets_blind.is_some() || unsure)
                && (probe_targets.contains(a.target.as_str())
                    || matches!(rule.condition, rule::Condition::ComponentState { .. }));
            let inst = self.instances.entry(a.key.clone()).or_insert(Instance {
                rule: a.rule,
                phase: Phase::Inactive,
                last: a.clone(),
                announced: false,
                held: false,
            });
            let (phase, event) = state::step(inst.phase, true, now, timing);
            if std::mem::discriminant(&phase) != std::mem::discriminant(&inst.phase)
                || event.is_some()
            {
                self.dirty = true;
            }
            inst.phase = phase;
            inst.last = a;
            let mut event = event;
            let (was_held, was_announced) = (inst.held, inst.announced);
            let announce = match event {
                Some(Event::Fired) if hold && !muted => {
                    inst.held = true;
                    inst.announced = false;
                    false
                }
                Some(Event::Fired) => {
                    inst.announced = !muted;
                    !muted
                }
                Some(Event::Repeated) => !muted && inst.announced,
                // Fedimeter sees again and the alert still fires: announce it now.
                None if inst.held && !hold && !muted && matches!(phase, Phase::Firing { .. }) => {
                    inst.held = false;
                    inst.announced = true;
                    event = Some(Event::Fired);
                    true
                }
                _ => false,
            };
            if (inst.held, inst.announced) != (was_held, was_announced) {
                self.dirty = true;
            }
            if hold {
                held += 1;
            }
            if announce && let Some(e) = event {
                let key = inst.last.key.clone();
                changes.push(self.change(&key, e, now));
            }
        }
        let gone: Vec<String> = self
            .instances
            .keys()
            .filter(|k| !seen.contains(*k))
            .cloned()
            .collect();
        for key in gone {
            let Some(inst) = self.instances.get_mut(&key) else {
                continue;
            };
            // No data is not "resolved": an instance whose target has no snapshot (yet), or
            // whose snapshot lacks the rule's family, keeps its phase.
            let has_data = inputs.snapshots.iter().any(|snap| {
                *snap.target.name == *inst.last.target
                    && match &self.rules[inst.rule].condition {
                        rule::Condition::Threshold { family, .. } => snap.family(family).is_some(),
                        rule::Condition::TargetDown { .. }
                        | rule::Condition::TargetDegraded { .. } => true,
                        rule::Condition::BurnRate { .. }
                        | rule::Condition::ComponentState { .. } => false,
                    }
            }) || match &self.rules[inst.rule].condition {
                // A component with a state (operational included) has data.
                rule::Condition::ComponentState { component, .. } => {
                    inputs.components.get(component).is_some()
                }
                _ => false,
            } || (matches!(
                self.rules[inst.rule].condition,
                rule::Condition::BurnRate { .. }
            ) && inputs
                .internal
                .iter()
                .flat_map(|f| f.iter())
                .any(|f| f.desc.name == "fedimeter_burn_rate"));
            if !has_data {
                continue;
            }
            let timing = Timing {
                for_: self.rules[inst.rule].for_,
                keep_firing_for: self.rules[inst.rule].keep_firing_for,
                repeat_interval: self.repeat_interval,
            };
            let (phase, event) = state::step(inst.phase, false, now, timing);
            if std::mem::discriminant(&phase) != std::mem::discriminant(&inst.phase) {
                self.dirty = true;
            }
            let announced = inst.announced;
            inst.phase = phase;
            if let (Some(e @ Event::Resolved { .. }), true) = (event, announced) {
                changes.push(self.change(&key, e, now));
            }
            if matches!(phase, Phase::Inactive) {
                self.instances.remove(&key);
            }
        }
        changes.sort_by(|a, b| a.key.cmp(&b.key));
        let targets_held = targets_blind.is_some();
        if self.blind_targets != targets_blind {
            self.blind_targets = targets_blind;
            self.dirty |= self.blind.is_some();
        }
        match (&self.blind, blind) {
            (None, Some(reason)) => {
                changes.insert(
                    0,
                    self.degraded(
                        Transition::Firing,
                        now,
                        &reason,
                        targets_held.then_some(held),
                    ),
                );
                self.blind = Some((now, reason));
                self.dirty = true;
            }
            (Some((since, reason)), None) => {
                let lasted = now
                    .duration_since(*since)
                    .unwrap_or(Duration::ZERO)
                    .as_secs();
                let (since, reason) = (*since, reason.clone());
                changes.insert(
                    0,
                    self.degraded(
                        Transition::Resolved {
                            lasted_secs: lasted,
                        },
                        since,
                        &reason,
                        None,
                    ),
                );
                self.blind = None;
                self.dirty = true;
            }
            _ => {}
        }
        changes
    }

    /// The one "monitoring degraded" notice: what fedimeter can no longer see, and why;
    /// `held` is how many per-target alerts the reason holds (`None`: it holds none, the
    /// store alone is away).
    fn degraded(
        &self,
        transition: Transition,
        since: SystemTime,
        reason: &str,
        held: Option<usize>,
    ) -> Change {
        let description = match (transition, held) {
            (Transition::Resolved { .. }, _) => {
                "fedimeter sees again; held alerts that still fire follow.".to_string()
            }
            (_, Some(held)) => format!(
                "fedimeter cannot trust what it sees: {reason}. {held} per-target alert condition(s) \
                 that this explains are held instead of paging for each; they follow if they still \
                 fire once fedimeter sees again."
            ),
            (_, None) => format!(
                "fedimeter cannot trust what it sees: {reason}. No alert is held because of it: \
                 alerts that fire meanwhile follow once the store is back."
            ),
        };
        Change {
            key: degraded_key(),
            rule: usize::MAX,
            notice: Notice {
                alertname: MONITORING_DEGRADED.to_string(),
                severity: Severity::Critical,
                transition,
                summary: "fedimeter's monitoring is degraded".to_string(),
                description,
                value: None,
                threshold: None,
                since_unix: unix(since),
                component: None,
                target: None,
                runbook: Some(rule::runbook_url(MONITORING_DEGRADED)),
                labels: Vec::new(),
            },
        }
    }

    fn change(&self, key: &str, event: Event, now: SystemTime) -> Change {
        let inst = &self.instances[key];
        let rule = &self.rules[inst.rule];
        let threshold = match &rule.condition {
            rule::Condition::Threshold { value, .. } => Some(*value),
            rule::Condition::BurnRate { factor, .. } => Some(*factor),
            rule::Condition::TargetDown { .. }
            | rule::Condition::TargetDegraded { .. }
            | rule::Condition::ComponentState { .. } => None,
        };
        let (cmp, since) = match (&rule.condition, inst.phase) {
            (rule::Condition::Threshold { cmp, .. }, Phase::Firing { active_since, .. }) => {
                (Some(cmp.as_str()), active_since)
            }
            (_, Phase::Firing { active_since, .. }) => (None, active_since),
            (rule::Condition::Threshold { cmp, .. }, _) => (Some(cmp.as_str()), now),
            _ => (None, now),
        };
        let cmp = cmp.or(matches!(rule.condition, rule::Condition::BurnRate { .. }).then_some(">"));
        let a = &inst.last;
        let transition = match event {
            Event::Fired => Transition::Firing,
            Event::Repeated => Transition::Repeat,
            Event::Resolved { lasted } => Transition::Resolved {
                lasted_secs: lasted.as_secs(),
            },
        };
        let since_unix = match event {
            Event::Resolved { lasted } => unix(now) - i64::try_from(lasted.as_secs()).unwrap_or(0),
            _ => unix(since),
        };
        Change {
            key: key.to_string(),
            rule: inst.rule,
            notice: Notice {
                alertname: rule.name.clone(),
                severity: rule.severity,
                transition,
                summary: eval::render(&rule.summary, &rule.name, a, threshold),
                description: eval::render(&rule.description, &rule.name, a, threshold),
                value: match &rule.condition {
                    rule::Condition::ComponentState { .. } => a.labels.get("state").cloned(),
                    _ => a.value.map(eval::format_value),
                },
                threshold: match &rule.condition {
                    rule::Condition::ComponentState { at_least, .. } => {
                        Some(format!(">= {at_least}"))
                    }
                    _ => threshold
                        .zip(cmp)
                        .map(|(t, c)| format!("{c} {}", eval::format_value(t))),
                },
                since_unix,
                component: rule.component.clone(),
                target: Some(a.target.clone()),
                runbook: rule.runbook.clone(),
                labels: a
                    .labels
                    .iter()
                    .filter(|(k, _)| k.as_str() != "target")
                    // A component's alert shows its component and state in their own fields.
                    .filter(|_| !matches!(rule.condition, rule::Condition::ComponentState { .. }))
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect(),
            },
        }
    }
}

/// The outbox rows for one evaluation's changes, route by route: one message per change, or
/// one digest when a route gets more than [`DIGEST_AFTER`]; a resolve edits the original
/// message and, if the route wants it, posts a short notice.
pub fn rows_for(changes: &[Change], routes: &[RouteSelect]) -> Vec<NewRow> {
    let mut rows = Vec::new();
    for route in routes {
        let mine: Vec<&Change> = changes.iter().filter(|c| route.wants(&c.notice)).collect();
        if mine.len() > DIGEST_AFTER {
            let notices: Vec<Notice> = mine.iter().map(|c| c.notice.clone()).collect();
            rows.push(NewRow {
                route: route.name.clone(),
                kind: RowKind::Post,
                alert_key: None,
                message: message::digest_message(&notices, &route.style),
            });
            continue;
        }
        for c in mine {
            let msg = message::alert_message(&c.notice, &route.style);
            match c.notice.transition {
                Transition::Firing | Transition::Repeat => rows.push(NewRow {
                    route: route.name.clone(),
                    kind: RowKind::Post,
                    alert_key: Some(c.key.clone()),
                    message: msg,
                }),
                Transition::Resolved { .. } => {
                    rows.push(NewRow {
                        route: route.name.clone(),
                        kind: RowKind::Edit,
                        alert_key: Some(c.key.clone()),
                        message: msg,
                    });
                    if route.resolved_notice {
                        rows.push(NewRow {
                            route: route.name.clone(),
                            kind: RowKind::Post,
                            alert_key: None,
                            message: message::resolved_notice(&c.notice),
                        });
                    }
                }
            }
        }
    }
    rows
}

/// The adapter: the evaluator's inputs from the snapshot store and maintenance windows.
pub fn inputs_from(
    snapshots: &SnapshotStore,
    rules: &[Rule],
    maintenance: &[MaintenanceWindow],
    components: &StatesReceiver,
    store_away_since: Option<SystemTime>,
    now: SystemTime,
) -> AlertInputs {
    let muted_components = rules
        .iter()
        .filter_map(|r| r.component.as_ref())
        .filter(|c| crate::sli::maintenance::under_maintenance(maintenance, c, now))
        .cloned()
        .collect();
    let latest = snapshots.latest();
    AlertInputs {
        probes_awaiting_first_run: latest
            .iter()
            .filter(|(id, s)| id.kind == crate::model::Kind::Probe && s.is_none())
            .count(),
        store_away_since,
        snapshots: latest.into_iter().filter_map(|(_, s)| s).collect(),
        muted_components,
        internal: snapshots.internal(),
        components: components.borrow().clone(),
        now,
    }
}

/// The wall-clock time of an evaluation tick, spaced exactly as the ticks are: reading
/// `SystemTime::now()` at each tick would jitter by milliseconds, and a `for` of a whole
/// number of intervals would then miss its tick by a hair and fire one interval late.
/// Re-anchored to the wall clock when the two drift more than a second apart.
struct TickClock {
    base: tokio::time::Instant,
    wall: SystemTime,
}

impl TickClock {
    fn new() -> Self {
        TickClock {
            base: tokio::time::Instant::now(),
            wall: SystemTime::now(),
        }
    }

    fn at(&mut self, tick: tokio::time::Instant) -> SystemTime {
        let derived = self.wall + tick.saturating_duration_since(self.base);
        let wall = SystemTime::now();
        let drift = match wall.duration_since(derived) {
            Ok(d) => d,
            Err(e) => e.duration(),
        };
        if drift > Duration::from_secs(1) {
            *self = TickClock::new();
            return wall;
        }
        derived
    }
}

/// Where the evaluator task reads its world from (see [`inputs_from`]).
pub struct Sources {
    pub snapshots: Arc<SnapshotStore>,
    /// The maintenance windows now: the config's and the store's (`sli::maintenance_watch`).
    pub maintenance: MaintenanceReceiver,
    /// The components' states from the SLI task.
    pub components: StatesReceiver,
}

/// The MonitoringDegraded messages posted directly while the store was away, one task per
/// route (the one exception to "every message goes through the outbox"). Their ids live
/// only here, in memory, until the store is back and [`DirectSends::hand_over`] writes them
/// to `alert_messages`.
#[derive(Default)]
struct DirectSends {
    sends: Vec<(String, tokio::task::JoinHandle<Option<String>>)>,
}

impl DirectSends {
    /// Posts the rows (one per route that wants MonitoringDegraded) without the outbox, each
    /// in its own task: the evaluation never waits for Discord.
    fn start(&mut self, rows: Vec<NewRow>, dispatcher: &Arc<Dispatcher>) {
        for row in rows {
            if dispatcher.is_disabled(&row.route) {
                continue;
            }
            let dispatcher = dispatcher.clone();
            let route = row.route.clone();
            let task =
                tokio::spawn(async move { dispatcher.send_direct(&row.route, &row.message).await });
            self.sends.push((route, task));
        }
    }

    fn is_empty(&self) -> bool {
        self.sends.is_empty()
    }

    /// The store is back: remembers every posted message's id in `alert_messages`, so that
    /// MonitoringDegraded's resolve (an outbox edit row) edits it. A send still in flight is
    /// abandoned (its resolve is then posted as a new message). On a store error the ids are
    /// kept for the next evaluation.
    async fn hand_over(&mut self, dispatcher: &Dispatcher, now: SystemTime) -> anyhow::Result<()> {
        let key = degraded_key();
        let mut left = Vec::new();
        let mut failed = None;
        for (route, task) in self.sends.drain(..) {
            if !task.is_finished() {
                task.abort();
                tracing::warn!(
                    route = %route,
                    "the store is back before the direct monitoring degraded message was delivered; abandoning it"
                );
                continue;
            }
            let id = match task.await {
                Ok(Some(id)) => id,
                Ok(None) | Err(_) => continue,
            };
            if failed.is_some() {
                left.push((route, tokio::spawn(std::future::ready(Some(id)))));
                continue;
            }
            if let Err(e) = dispatcher
                .outbox()
                .remember_message(&route, &key, &id, now)
                .await
            {
                failed = Some(e);
                left.push((route, tokio::spawn(std::future::ready(Some(id)))));
            }
        }
        self.sends = left;
        failed.map_or(Ok(()), Err)
    }

    fn abort(&mut self) {
        for (_, task) in self.sends.drain(..) {
            task.abort();
        }
    }
}

/// The evaluator task: every `every`, evaluate, write the rows, wake the sender. Rows that
/// cannot be written (store away) are kept and written with the next evaluation.
///
/// While the store is away (since the first evaluation that found it down), the inputs say
/// so; past [`STORE_AWAY_AFTER`] the evaluator is blind. A MonitoringDegraded that fires
/// while the store is down is posted directly ([`DirectSends`]); once the store is back its
/// ids are written to `alert_messages` and its resolve (edit + notice) is written to the
/// outbox ahead of the rows kept during the outage.
pub async fn run(
    mut evaluator: Evaluator,
    sources: Sources,
    routes: Vec<RouteSelect>,
    dispatcher: Arc<Dispatcher>,
    every: Duration,
    shutdown: CancellationToken,
) {
    let Sources {
        snapshots,
        maintenance,
        components,
    } = sources;
    match dispatcher
        .outbox()
        .load_states_when_up(crate::notify::outbox::STATES_WAIT)
        .await
    {
        Ok(stored) => {
            if !stored.is_empty() {
                tracing::info!(alerts = stored.len(), "restored alert states");
            }
            evaluator.restore(stored);
        }
        Err(e) => tracing::warn!("could not read stored alert states; starting afresh: {e:#}"),
    }
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut unwritten: Vec<NewRow> = Vec::new();
    let mut clock = TickClock::new();
    let mut store_away_since: Option<SystemTime> = None;
    let mut direct = DirectSends::default();
    loop {
        let at = tokio::select! {
            _ = shutdown.cancelled() => break,
            at = tick.tick() => at,
        };
        let now = clock.at(at);
        let store_up = dispatcher.outbox().store_is_up();
        if store_up {
            store_away_since = None;
        } else {
            store_away_since.get_or_insert(now);
        }
        let inputs = inputs_from(
            &snapshots,
            evaluator.rules(),
            &maintenance.borrow().applied,
            &components,
            store_away_since,
            now,
        );
        let mut changes = evaluator.step(&inputs);
        snapshots.publish_internal("alerts", vec![evaluator.metrics_family()]);
        for c in &changes {
            tracing::info!(alert = %c.key, transition = ?c.notice.transition, "alert changed");
        }
        let degraded = changes.iter().position(|c| c.key == degraded_key());
        let mut first = Vec::new();
        if let Some(i) = degraded {
            let transition = changes[i].notice.transition;
            if transition == Transition::Firing && !store_up {
                // Nothing can be written before it is sent: post it directly.
                let change = changes.remove(i);
                direct.start(rows_for(&[change], &routes), &dispatcher);
            } else if matches!(transition, Transition::Resolved { .. }) && !direct.is_empty() {
                // Its resolve goes ahead of what was kept during the outage.
                first = rows_for(&[changes.remove(i)], &routes);
            }
        }
        if store_up
            && !direct.is_empty()
            && let Err(e) = direct.hand_over(&dispatcher, now).await
        {
            tracing::warn!("could not remember the direct monitoring degraded message: {e:#}");
        }
        if !first.is_empty() {
            first.append(&mut unwritten);
            unwritten = first;
        }
        unwritten.extend(rows_for(&changes, &routes));
        // While a direct message's id is not remembered yet, its resolve must not reach the
        // sender (it would post instead of editing): the rows wait for the hand-over.
        if (unwritten.is_empty() && !evaluator.is_dirty()) || !direct.is_empty() {
            continue;
        }
        let states = evaluator.take_stored();
        match dispatcher
            .outbox()
            .commit(&unwritten, Some(&states), now)
            .await
        {
            Ok(()) => {
                unwritten.clear();
                dispatcher.wake();
            }
            Err(e) => {
                tracing::warn!(
                    rows = unwritten.len(),
                    "could not write notifications to the outbox; retrying: {e:#}"
                );
                evaluator.dirty = true;
            }
        }
    }
    direct.abort();
}

/// Starts the sender and the evaluator for the configured `[[discord]]` routes (the wiring
/// `app::run` calls). Returns the Alertmanager receiver's router when
/// `[alerting] alertmanager_token` is set, for the private listener.
pub fn spawn(
    config: &crate::config::Config,
    store: &crate::store::handle::StoreHandle,
    snapshots: &Arc<SnapshotStore>,
    components: &StatesReceiver,
    maintenance: &MaintenanceReceiver,
    tasks: &mut tokio::task::JoinSet<()>,
    shutdown: &CancellationToken,
) -> anyhow::Result<Option<axum::Router>> {
    use crate::notify::discord::client::{ClientOptions, DiscordClient, Route};
    use crate::notify::outbox::{DEFAULT_LEASE, Outbox, default_instance};
    let client = Arc::new(DiscordClient::new(ClientOptions::default())?);
    let routes: Vec<Route> = config
        .discord
        .iter()
        .map(|d| Route {
            name: d.name.clone(),
            channel: d.channel.clone(),
            url: d.webhook_url.clone(),
        })
        .collect();
    let selects: Vec<RouteSelect> = config
        .discord
        .iter()
        .map(|d| RouteSelect {
            name: d.name.clone(),
            min_severity: d.min_severity,
            components: d.components.clone(),
            style: Style {
                mention_role: d.mention_role.clone(),
                status_page: config.site.public_url.clone(),
            },
            resolved_notice: d.resolved_notice,
        })
        .collect();
    let outbox = Outbox::with_handle(store.clone(), default_instance(), DEFAULT_LEASE);
    let dispatcher = Dispatcher::new(outbox, client, routes);
    tracing::info!(
        routes = selects.len(),
        rules = config.alerting.rules.len(),
        "alerting to discord"
    );
    tasks.spawn(dispatcher.clone().run(shutdown.clone()));
    tasks.spawn(crate::notify::metrics::run(
        dispatcher.clone(),
        snapshots.clone(),
        Duration::from_secs(5),
        shutdown.clone(),
    ));
    let receiver = config.alerting.alertmanager_token.clone().map(|token| {
        alertmanager::router(Arc::new(alertmanager::Receiver {
            token,
            routes: selects.clone(),
            dispatcher: dispatcher.clone(),
        }))
    });
    tasks.spawn(run(
        Evaluator::new(
            config.alerting.rules.clone(),
            config.alerting.repeat_interval,
        ),
        Sources {
            snapshots: snapshots.clone(),
            maintenance: maintenance.clone(),
            components: components.clone(),
        },
        selects,
        dispatcher,
        config.alerting.evaluate_every,
        shutdown.clone(),
    ));
    Ok(receiver)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Family, Kind, MetricDesc, Outcome, Sample, Snapshot, TargetId};
    use crate::sli::ComponentStatus;
    use crate::sli::recorder::ComponentStates;
    use rule::{Cmp, Condition, Derive};

    static PG_UP: MetricDesc = MetricDesc::gauge("pg_up", "up", &[]);

    fn rule(name: &str, for_secs: u64, component: Option<&str>) -> Rule {
        Rule {
            name: name.into(),
            severity: Severity::Critical,
            condition: Condition::Threshold {
                family: "pg_up".into(),
                matchers: vec![],
                derive: Derive::Value,
                cmp: Cmp::Eq,
                value: 0.0,
            },
            for_: Duration::from_secs(for_secs),
            keep_firing_for: Duration::ZERO,
            summary: "{{target}} down".into(),
            description: String::new(),
            runbook: None,
            component: component.map(String::from),
        }
    }

    fn inputs(targets: &[(&str, Option<f64>)], secs: u64, muted: &[&str]) -> AlertInputs {
        AlertInputs {
            probes_awaiting_first_run: 0,
            store_away_since: None,
            snapshots: targets
                .iter()
                .map(|(name, up)| {
                    Arc::new(Snapshot {
                        target: TargetId::new(Kind::Postgres, name),
                        finished_at: UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs),
                        duration: Duration::ZERO,
                        outcome: Outcome::Success,
                        // pg_up 1 is up, 0 down; no family: no data.
                        health: up.map(|v| {
                            if v == 1.0 {
                                crate::model::Health::Up
                            } else {
                                crate::model::Health::Down {
                                    reason: crate::model::Reason::Refused,
                                }
                            }
                        }),
                        families: up
                            .map(|v| Family {
                                desc: &PG_UP,
                                samples: vec![Sample {
                                    labels: Box::new([]),
                                    value: v,
                                }],
                            })
                            .into_iter()
                            .collect(),
                    })
                })
                .collect(),
            muted_components: muted.iter().map(|s| s.to_string()).collect(),
            internal: Vec::new(),
            components: Arc::default(),
            now: UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs),
        }
    }

    fn transitions(changes: &[Change]) -> Vec<(String, Transition)> {
        changes
            .iter()
            .map(|c| (c.key.clone(), c.notice.transition))
            .collect()
    }

    static PROBE_SUCCESS: MetricDesc = MetricDesc::gauge("probe_success", "ok", &["module"]);

    fn probes(up: &[(&str, f64)], secs: u64) -> AlertInputs {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000 + secs);
        AlertInputs {
            probes_awaiting_first_run: 0,
            store_away_since: None,
            snapshots: up
                .iter()
                .map(|(name, v)| {
                    Arc::new(Snapshot {
                        target: TargetId::new(Kind::Probe, name),
                        finished_at: now,
                        duration: Duration::ZERO,
                        outcome: Outcome::Success,
                        health: Some(if *v == 1.0 {
                            crate::model::Health::Up
                        } else {
                            crate::model::Health::Down {
                                reason: crate::model::Reason::HttpStatus,
                            }
                        }),
                        families: vec![Family {
                            desc: &PROBE_SUCCESS,
                            samples: vec![Sample {
                                labels: Box::new(["http".into()]),
                                value: *v,
                            }],
                        }],
                    })
                })
                .collect(),
            muted_components: HashSet::new(),
            internal: Vec::new(),
            components: Arc::default(),
            now,
        }
    }

    /// `probes(up, secs)` with the store away since `away_secs` before `now`.
    fn store_away_for(mut inputs: AlertInputs, away_secs: u64) -> AlertInputs {
        inputs.store_away_since = Some(inputs.now - Duration::from_secs(away_secs));
        inputs
    }

    fn probe_down_rule() -> Rule {
        Rule {
            condition: Condition::Threshold {
                family: "probe_success".into(),
                matchers: vec![],
                derive: Derive::Value,
                cmp: Cmp::Eq,
                value: 0.0,
            },
            ..rule("ProbeDown", 0, None)
        }
    }

    /// The store's reason: blind only once the store has been away for longer than
    /// STORE_AWAY_AFTER (60 s); with every probe failing too, one reason names both.
    #[test]
    fn the_store_away_longer_than_its_threshold_is_blind_and_named_with_the_probes() {
        // 1_800_000_000 s after the epoch is 2027-01-15T08:00:00Z; the store went away at
        // `now` - away, and `now` is 100 s after that instant.
        let store = |since: &str| {
            format!(
                "the store is away since {since}: history is not recorded and notifications \
                 are queued in memory"
            )
        };
        let probes_fail = "every probe fails at once (web, api): fedimeter has probably lost \
                           its own network, or the whole site is unreachable";
        let up = [("web", 1.0), ("api", 1.0)];
        let down = [("web", 0.0), ("api", 0.0)];
        let cases: Vec<(&str, AlertInputs, Sight)> = vec![
            ("store up", probes(&up, 100), Sight::Sees),
            ("away 1 s", store_away_for(probes(&up, 100), 1), Sight::Sees),
            (
                "away exactly the threshold",
                store_away_for(probes(&up, 100), 60),
                Sight::Sees,
            ),
            (
                "away 61 s",
                store_away_for(probes(&up, 100), 61),
                Sight::Blind(store("2027-01-15T08:00:39Z")),
            ),
            (
                "away 100 s, no snapshot yet",
                store_away_for(probes(&[], 100), 100),
                Sight::Blind(store("2027-01-15T08:00:00Z")),
            ),
            (
                "probes fail, store away 30 s",
                store_away_for(probes(&down, 100), 30),
                Sight::Blind(probes_fail.to_string()),
            ),
            (
                "probes fail, store away 100 s",
                store_away_for(probes(&down, 100), 100),
                Sight::Blind(format!(
                    "{probes_fail}; and {}",
                    store("2027-01-15T08:00:00Z")
                )),
            ),
        ];
        for (name, inputs, want) in cases {
            assert_eq!(sight(&inputs), want, "{name}");
            let spot = match &want {
                Sight::Blind(r) => Some(r.clone()),
                _ => None,
            };
            assert_eq!(blind_spot(&inputs), spot, "{name}");
        }
        // The store's part explains no target: the targets' own sight ignores it.
        assert_eq!(
            targets_sight(&store_away_for(probes(&up, 100), 100)),
            Sight::Sees
        );
    }

    /// The store away alone: one MonitoringDegraded that holds nothing (a probe alert fires
    /// beside it), resolved when the store is back.
    #[test]
    fn the_store_away_is_one_monitoring_degraded_that_holds_no_alert() {
        let mut ev = Evaluator::new(vec![probe_down_rule()], DEFAULT_REPEAT_INTERVAL);
        let one_down = [("web", 0.0), ("api", 1.0)];
        assert!(
            ev.step(&probes(&[("web", 1.0), ("api", 1.0)], 0))
                .is_empty()
        );
        // Away for 30 s: not blind yet; the probe alert fires (its row waits in memory).
        let changes = ev.step(&store_away_for(probes(&one_down, 30), 30));
        assert_eq!(
            transitions(&changes),
            [(
                "ProbeDown{module=\"http\",target=\"web\"}".to_string(),
                Transition::Firing
            )]
        );
        // Away for 61 s: MonitoringDegraded, once, naming the store; nothing is held.
        let changes = ev.step(&store_away_for(probes(&one_down, 61), 61));
        assert_eq!(
            transitions(&changes),
            [("MonitoringDegraded{}".to_string(), Transition::Firing)]
        );
        let d = &changes[0].notice.description;
        assert!(
            d.contains("the store is away since 2027-01-15T08:00:00Z"),
            "{d}"
        );
        assert!(d.contains("No alert is held because of it"), "{d}");
        assert!(
            ev.step(&store_away_for(probes(&one_down, 75), 75))
                .is_empty()
        );
        let stored = ev.take_stored();
        assert!(stored.iter().all(|s| !s.held), "{stored:?}");
        // Back: resolved (it lasted from 61 s to 90 s), the probe alert stays as it was.
        let changes = ev.step(&probes(&one_down, 90));
        assert_eq!(
            transitions(&changes),
            [(
                "MonitoringDegraded{}".to_string(),
                Transition::Resolved { lasted_secs: 29 }
            )]
        );
    }

    /// Every probe failing and the store away: one message naming both; the probe alerts are
    /// held because of the probes, and the store coming back alone does not resolve it.
    #[test]
    fn the_store_away_with_every_probe_failing_is_one_message_naming_both() {
        let mut ev = Evaluator::new(vec![probe_down_rule()], DEFAULT_REPEAT_INTERVAL);
        let all_down = [("web", 0.0), ("api", 0.0)];
        let changes = ev.step(&store_away_for(probes(&all_down, 100), 100));
        assert_eq!(
            transitions(&changes),
            [("MonitoringDegraded{}".to_string(), Transition::Firing)]
        );
        let d = &changes[0].notice.description;
        assert!(d.contains("every probe fails at once (web, api)"), "{d}");
        assert!(
            d.contains("; and the store is away since 2027-01-15T08:00:00Z"),
            "{d}"
        );
        assert!(d.contains("2 per-target alert condition(s)"), "{d}");
        // The store is back, the probes still fail: the same MonitoringDegraded goes on.
        assert!(ev.step(&probes(&all_down, 115)).is_empty());
        // A restart now keeps the targets' part: still blind at the first look.
        let mut again = Evaluator::new(vec![probe_down_rule()], DEFAULT_REPEAT_INTERVAL);
        again.restore(ev.take_stored());
        assert!(again.step(&probes(&[], 116)).is_empty());
        assert_eq!(again.states().len(), 2);
        // The probes back: resolved, no held alert follows (none fires any more).
        let changes = again.step(&probes(&[("web", 1.0), ("api", 1.0)], 130));
        assert_eq!(
            transitions(&changes),
            [(
                "MonitoringDegraded{}".to_string(),
                Transition::Resolved { lasted_secs: 30 }
            )]
        );
    }

    #[test]
    fn every_probe_failing_is_one_monitoring_degraded_alert() {
        let probe_down = probe_down_rule();
        let mut ev = Evaluator::new(vec![probe_down], DEFAULT_REPEAT_INTERVAL);
        let all_down = [("web", 0.0), ("api", 0.0), ("streaming", 0.0)];
        let changes = ev.step(&probes(&all_down, 0));
        assert_eq!(
            transitions(&changes),
            [("MonitoringDegraded{}".to_string(), Transition::Firing)]
        );
        let d = &changes[0].notice;
        assert_eq!(d.severity, Severity::Critical);
        assert!(
            d.description
                .contains("every probe fails at once (web, api, streaming)"),
            "{}",
            d.description
        );
        assert!(
            d.description.contains("3 per-target alert condition(s)"),
            "{}",
            d.description
        );
        // Still blind: nothing more.
        assert!(ev.step(&probes(&all_down, 15)).is_empty());
        // Two probes back, web still down: fedimeter sees again; the held web alert follows.
        let changes = ev.step(&probes(
            &[("web", 0.0), ("api", 1.0), ("streaming", 1.0)],
            30,
        ));
        assert_eq!(
            transitions(&changes),
            [
                (
                    "MonitoringDegraded{}".to_string(),
                    Transition::Resolved { lasted_secs: 30 }
                ),
                (
                    "ProbeDown{module=\"http\",target=\"web\"}".to_string(),
                    Transition::Firing
                ),
            ]
        );
        // The held alerts that recovered resolve silently; web resolves out loud, having
        // lasted from when its condition started (0 s), not from the late announcement.
        let changes = ev.step(&probes(
            &[("web", 1.0), ("api", 1.0), ("streaming", 1.0)],
            45,
        ));
        assert_eq!(
            transitions(&changes),
            [(
                "ProbeDown{module=\"http\",target=\"web\"}".to_string(),
                Transition::Resolved { lasted_secs: 45 }
            )]
        );
        // Collection stopped: the newest snapshot is over 10 minutes old.
        let mut stale = probes(&[("web", 1.0)], 0);
        stale.now += Duration::from_secs(601);
        assert_eq!(
            blind_spot(&stale).as_deref(),
            Some("collection stopped: no target has been collected for 10m 1s")
        );
    }

    /// Blind, then a restart (the states go through `take_stored`/`restore`, as through the
    /// store), then seeing again: the same messages as without the restart (the test above).
    #[test]
    fn held_alerts_and_monitoring_degraded_survive_a_restart() {
        let probe_down = probe_down_rule();
        let mut ev = Evaluator::new(vec![probe_down.clone()], DEFAULT_REPEAT_INTERVAL);
        let all_down = [("web", 0.0), ("api", 0.0), ("streaming", 0.0)];
        let fired = ev.step(&probes(&all_down, 0));
        assert_eq!(
            transitions(&fired),
            [("MonitoringDegraded{}".to_string(), Transition::Firing)]
        );
        assert!(ev.is_dirty());
        let stored = ev.take_stored();
        let shape: Vec<(&str, &str, bool, bool)> = stored
            .iter()
            .map(|s| (s.key.as_str(), s.state.as_str(), s.announced, s.held))
            .collect();
        assert_eq!(
            shape,
            [
                ("MonitoringDegraded{}", "firing", true, false),
                (
                    "ProbeDown{module=\"http\",target=\"api\"}",
                    "firing",
                    false,
                    true
                ),
                (
                    "ProbeDown{module=\"http\",target=\"streaming\"}",
                    "firing",
                    false,
                    true
                ),
                (
                    "ProbeDown{module=\"http\",target=\"web\"}",
                    "firing",
                    false,
                    true
                ),
            ]
        );
        assert_eq!(stored[0].rule_index, -1);
        assert_eq!(stored[0].active_since, 1_800_000_000_000);
        // Still blind: nothing changed, nothing to store.
        assert!(ev.step(&probes(&all_down, 15)).is_empty());
        assert!(!ev.is_dirty());

        let mut again = Evaluator::new(vec![probe_down], DEFAULT_REPEAT_INTERVAL);
        again.restore(stored);
        // Just after the start: no snapshot yet, then one probe run (failing) with two
        // probes still to run: fedimeter cannot tell; it stays blind, nothing is sent.
        assert!(again.step(&probes(&[], 16)).is_empty());
        let mut first = probes(&[("web", 0.0)], 17);
        first.probes_awaiting_first_run = 2;
        assert!(again.step(&first).is_empty());
        // Every probe ran and fails: still the same MonitoringDegraded, not a new one.
        assert!(again.step(&probes(&all_down, 20)).is_empty());
        assert_eq!(again.states().len(), 3);
        // Two probes back: MonitoringDegraded resolves (it lasted from 0 s), the held web
        // alert is announced.
        let seen = again.step(&probes(
            &[("web", 0.0), ("api", 1.0), ("streaming", 1.0)],
            30,
        ));
        assert_eq!(
            transitions(&seen),
            [
                (
                    "MonitoringDegraded{}".to_string(),
                    Transition::Resolved { lasted_secs: 30 }
                ),
                (
                    "ProbeDown{module=\"http\",target=\"web\"}".to_string(),
                    Transition::Firing
                ),
            ]
        );
        assert_eq!(seen[0].notice.since_unix, 1_800_000_000);
        assert!(
            seen[0]
                .notice
                .description
                .starts_with("fedimeter sees again"),
            "{}",
            seen[0].notice.description
        );
        // The announcement is stored: a second restart does not announce it again.
        assert!(again.is_dirty());
        let stored = again.take_stored();
        assert_eq!(stored.len(), 1);
        assert!(stored[0].announced && !stored[0].held);
        // A stored MonitoringDegraded whose probes are back at the first look resolves at once.
        let mut blind = Evaluator::new(vec![], DEFAULT_REPEAT_INTERVAL);
        blind.restore(ev.take_stored());
        let up = [("web", 1.0), ("api", 1.0), ("streaming", 1.0)];
        let changes = blind.step(&probes(&up, 60));
        assert_eq!(
            transitions(&changes),
            [(
                "MonitoringDegraded{}".to_string(),
                Transition::Resolved { lasted_secs: 60 }
            )]
        );
    }

    /// At a start, while probes are still to run and every probe that ran fails, fedimeter
    /// cannot tell whether it is blind: the probe alerts wait, then follow once it sees.
    #[test]
    fn probe_alerts_wait_while_fedimeter_cannot_tell_yet() {
        let probe_down = probe_down_rule();
        let mut ev = Evaluator::new(vec![probe_down], DEFAULT_REPEAT_INTERVAL);
        let mut first = probes(&[("web", 0.0)], 0);
        first.probes_awaiting_first_run = 2;
        assert_eq!(sight(&first), Sight::Unknown);
        assert!(ev.step(&first).is_empty());
        assert_eq!(ev.states()[0].state, "firing");
        let all_ran = probes(&[("web", 0.0), ("api", 1.0), ("streaming", 1.0)], 1);
        assert_eq!(sight(&all_ran), Sight::Sees);
        assert_eq!(
            transitions(&ev.step(&all_ran)),
            [(
                "ProbeDown{module=\"http\",target=\"web\"}".to_string(),
                Transition::Firing
            )]
        );
        // One probe that ran is up: not everything can fail, fedimeter sees.
        let mut some_up = probes(&[("web", 0.0), ("api", 1.0)], 0);
        some_up.probes_awaiting_first_run = 1;
        assert_eq!(sight(&some_up), Sight::Sees);
        assert_eq!(sight(&probes(&[], 0)), Sight::Unknown);
    }

    fn with_states(
        mut inputs: AlertInputs,
        states: &[(&str, Option<ComponentStatus>)],
    ) -> AlertInputs {
        inputs.components = Arc::new(ComponentStates {
            evaluated_at: Some(inputs.now),
            states: states.iter().map(|(c, s)| (Arc::from(*c), *s)).collect(),
        });
        inputs
    }

    #[test]
    fn component_state_rule_fires_at_or_above_its_state() {
        use crate::sli::ComponentStatus::*;
        let website_down = Rule {
            condition: Condition::ComponentState {
                component: "website".into(),
                at_least: "partial_outage".into(),
            },
            summary: "Component {{target}} is {{labels.state}}".into(),
            ..rule("WebsiteOutage", 30, Some("website"))
        };
        let mut ev = Evaluator::new(vec![website_down], DEFAULT_REPEAT_INTERVAL);
        let key = "WebsiteOutage{component=\"website\"}".to_string();
        let at = |secs, states: &[(&str, Option<ComponentStatus>)]| {
            with_states(inputs(&[], secs, &[]), states)
        };
        // Degraded is below partial_outage; another component's outage is not this one.
        assert!(
            ev.step(&at(
                0,
                &[
                    ("website", Some(DegradedPerformance)),
                    ("api", Some(MajorOutage))
                ]
            ))
            .is_empty()
        );
        assert!(ev.states().is_empty());
        // partial_outage: pending for 30 s; a worse state is the same alert, and fires.
        assert!(
            ev.step(&at(15, &[("website", Some(PartialOutage))]))
                .is_empty()
        );
        assert_eq!(ev.states()[0].state, "pending");
        let fired = ev.step(&at(45, &[("website", Some(MajorOutage))]));
        assert_eq!(transitions(&fired), [(key.clone(), Transition::Firing)]);
        let n = &fired[0].notice;
        assert_eq!(n.summary, "Component website is major_outage");
        assert_eq!(n.value.as_deref(), Some("major_outage"));
        assert_eq!(n.threshold.as_deref(), Some(">= partial_outage"));
        assert_eq!(n.component.as_deref(), Some("website"));
        assert_eq!(n.since_unix, 1_800_000_015);
        // No state yet (the SLI task has not evaluated it): no data, not resolved.
        assert!(ev.step(&at(60, &[("website", None)])).is_empty());
        assert!(ev.step(&at(75, &[])).is_empty());
        assert_eq!(ev.states()[0].state, "firing");
        // Operational again: resolved; it fired from 45 s to 90 s (as PostgresDown above).
        let resolved = ev.step(&at(90, &[("website", Some(Operational))]));
        assert_eq!(
            transitions(&resolved),
            [(key, Transition::Resolved { lasted_secs: 45 })]
        );
        // Under maintenance ranks above every outage but never fires.
        assert!(
            ev.step(&at(105, &[("website", Some(UnderMaintenance))]))
                .is_empty()
        );
        assert!(ev.states().is_empty());
    }

    #[test]
    fn fires_after_for_resolves_and_holds_without_data() {
        let mut ev = Evaluator::new(
            vec![rule("PostgresDown", 60, None)],
            DEFAULT_REPEAT_INTERVAL,
        );
        let key = "PostgresDown{target=\"main\"}".to_string();
        assert!(ev.step(&inputs(&[("main", Some(0.0))], 0, &[])).is_empty());
        assert_eq!(ev.states()[0].state, "pending");
        let fired = ev.step(&inputs(&[("main", Some(0.0))], 60, &[]));
        assert_eq!(transitions(&fired), [(key.clone(), Transition::Firing)]);
        let n = &fired[0].notice;
        assert_eq!(n.summary, "main down");
        assert_eq!(n.value.as_deref(), Some("0"));
        assert_eq!(n.threshold.as_deref(), Some("== 0"));
        assert_eq!(n.since_unix, 1_800_000_000);
        // No snapshot (or no pg_up in it): held, not resolved.
        assert!(ev.step(&inputs(&[], 75, &[])).is_empty());
        assert!(ev.step(&inputs(&[("main", None)], 90, &[])).is_empty());
        assert_eq!(ev.states()[0].state, "firing");
        let resolved = ev.step(&inputs(&[("main", Some(1.0))], 780, &[]));
        assert_eq!(
            transitions(&resolved),
            [(key, Transition::Resolved { lasted_secs: 720 })]
        );
        assert!(ev.states().is_empty());
    }

    #[test]
    fn maintenance_mutes_firing_and_its_resolve() {
        let mut ev = Evaluator::new(
            vec![rule("PostgresDown", 0, Some("database"))],
            DEFAULT_REPEAT_INTERVAL,
        );
        assert!(
            ev.step(&inputs(&[("main", Some(0.0))], 0, &["database"]))
                .is_empty()
        );
        assert_eq!(ev.states()[0].state, "firing");
        // The window ends while it still fires: no late page; and no resolve for it.
        assert!(ev.step(&inputs(&[("main", Some(0.0))], 15, &[])).is_empty());
        assert!(ev.step(&inputs(&[("main", Some(1.0))], 30, &[])).is_empty());
        // Another component is not muted.
        let mut other = Evaluator::new(
            vec![rule("PostgresDown", 0, Some("database"))],
            DEFAULT_REPEAT_INTERVAL,
        );
        assert_eq!(
            other
                .step(&inputs(&[("main", Some(0.0))], 0, &["web"]))
                .len(),
            1
        );
    }

    #[test]
    fn stored_states_come_back_after_a_restart() {
        let rules = vec![rule("PostgresDown", 0, None)];
        let mut ev = Evaluator::new(rules.clone(), DEFAULT_REPEAT_INTERVAL);
        assert_eq!(ev.step(&inputs(&[("main", Some(0.0))], 0, &[])).len(), 1);
        assert!(ev.is_dirty());
        let stored = ev.take_stored();
        assert!(!ev.is_dirty());
        assert_eq!(stored.len(), 1);
        assert_eq!(stored[0].state, "firing");
        let mut again = Evaluator::new(rules, DEFAULT_REPEAT_INTERVAL);
        again.restore(stored);
        // Still firing: nothing new is sent; the resolve says how long it lasted.
        assert!(
            again
                .step(&inputs(&[("main", Some(0.0))], 15, &[]))
                .is_empty()
        );
        let resolved = again.step(&inputs(&[("main", Some(1.0))], 300, &[]));
        assert_eq!(
            resolved[0].notice.transition,
            Transition::Resolved { lasted_secs: 300 }
        );
        // A state for a rule that is gone is dropped.
        let mut renamed = Evaluator::new(vec![rule("Other", 0, None)], DEFAULT_REPEAT_INTERVAL);
        renamed.restore(ev.take_stored());
        assert!(renamed.states().is_empty());
    }

    #[test]
    fn rows_per_route_digest_resolve_and_selection() {
        let rules = vec![rule("PostgresDown", 0, Some("database"))];
        let mut ev = Evaluator::new(rules.clone(), DEFAULT_REPEAT_INTERVAL);
        let route = |name: &str, min: Severity, components: &[&str], notice: bool| RouteSelect {
            name: name.into(),
            min_severity: min,
            components: components.iter().map(|s| s.to_string()).collect(),
            style: Style::default(),
            resolved_notice: notice,
        };
        let routes = vec![
            route("all", Severity::Info, &[], true),
            route("db", Severity::Critical, &["database"], false),
            route("web", Severity::Info, &["website"], true),
        ];
        let targets: Vec<(String, Option<f64>)> =
            (0..7).map(|i| (format!("pg{i}"), Some(0.0))).collect();
        let t: Vec<(&str, Option<f64>)> = targets.iter().map(|(n, v)| (n.as_str(), *v)).collect();
        let fired = ev.step(&inputs(&t[..2], 0, &[]));
        let rows = rows_for(&fired, &routes);
        let shape: Vec<(&str, RowKind, bool)> = rows
            .iter()
            .map(|r| (r.route.as_str(), r.kind, r.alert_key.is_some()))
            .collect();
        assert_eq!(
            shape,
            [
                ("all", RowKind::Post, true),
                ("all", RowKind::Post, true),
                ("db", RowKind::Post, true),
                ("db", RowKind::Post, true),
            ]
        );
        // Five more at once: still one message each (a digest takes more than five).
        let more = ev.step(&inputs(&t, 15, &[]));
        assert_eq!(more.len(), 5);
        assert_eq!(rows_for(&more, &routes).len(), 10);
        let resolved = ev.step(&inputs(&[("pg0", Some(1.0))], 30, &[]));
        let rows = rows_for(&resolved, &routes);
        let shape: Vec<(&str, RowKind)> = rows.iter().map(|r| (r.route.as_str(), r.kind)).collect();
        assert_eq!(
            shape,
            [
                ("all", RowKind::Edit),
                ("all", RowKind::Post),
                ("db", RowKind::Edit)
            ]
        );
        // Six changes on one route: one digest.
        let mut storm = Evaluator::new(rules.clone(), DEFAULT_REPEAT_INTERVAL);
        let changes = storm.step(&inputs(&t[..6], 0, &[]));
        let rows = rows_for(&changes, &routes[..1]);
        assert_eq!(rows.len(), 1);
        assert!(rows[0].alert_key.is_none());
    }
}
