//! Rule evaluation over the latest snapshots (pure): which alert instances hold now.
//!
//! Input is [`AlertInputs`], built in one adapter ([`super::inputs_from`]) so the evaluator
//! does not depend on where snapshots and component states come from.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use super::rule::{Condition, Derive, Rule};
use crate::model::{Family, Sample, Snapshot};
use crate::sli::ComponentStatus;
use crate::sli::recorder::ComponentStates;

/// Everything one evaluation reads.
#[derive(Debug, Clone)]
pub struct AlertInputs {
    /// Probe targets that have not reported yet: "every probe fails" waits for them.
    pub probes_awaiting_first_run: usize,
    /// Since when the store has been unreachable, if it is now (the evaluator task's view
    /// of `StoreHandle::is_up`): past [`super::STORE_AWAY_AFTER`] fedimeter is blind.
    pub store_away_since: Option<SystemTime>,
    /// The latest snapshot of every target that has one.
    pub snapshots: Vec<Arc<Snapshot>>,
    /// Components under maintenance now: their alerts are muted.
    pub muted_components: HashSet<String>,
    /// fedimeter's own families (`fedimeter_burn_rate` for the burn-rate rules).
    pub internal: Vec<Arc<Vec<Family>>>,
    /// The status-page components' states as the SLI task last evaluated them.
    pub components: Arc<ComponentStates>,
    pub now: SystemTime,
}

/// One alert instance whose condition holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Active {
    /// Index of the rule in the evaluated list.
    pub rule: usize,
    /// `Name{label="value",…}`, labels sorted, `target` included.
    pub key: String,
    pub target: String,
    pub labels: BTreeMap<String, String>,
    /// The compared value (after `Derive`), if there is one.
    pub value: Option<f64>,
}

fn labels_of(family: &Family, sample: &Sample, target: &str) -> BTreeMap<String, String> {
    let mut labels: BTreeMap<String, String> = family
        .desc
        .labels
        .iter()
        .zip(sample.labels.iter())
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    labels
        .entry("target".to_string())
        .or_insert_with(|| target.to_string());
    labels
}

/// `Name{a="x",target="y"}`.
pub fn alert_key(name: &str, labels: &BTreeMap<String, String>) -> String {
    let mut key = String::with_capacity(name.len() + 32);
    key.push_str(name);
    key.push('{');
    for (i, (k, v)) in labels.iter().enumerate() {
        if i > 0 {
            key.push(',');
        }
        key.push_str(k);
        key.push_str("=\"");
        key.push_str(&v.replace('\\', "\\\\").replace('"', "\\\""));
        key.push('"');
    }
    key.push('}');
    key
}

fn unix_secs(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

/// Where a matcher's label is found in one family's samples.
#[derive(Clone, Copy)]
enum Slot {
    /// The sample's label at this position.
    Label(usize),
    /// The target's name (the family has no `target` label of its own).
    Target,
    /// The family has no such label: nothing matches.
    Never,
}

/// Resolves `matchers` against `family`'s label names once, before its samples are scanned;
/// `None` when no sample can match.
fn slots(family: &Family, matchers: &[(String, String)]) -> Option<Vec<(Slot, usize)>> {
    let mut out = Vec::with_capacity(matchers.len());
    for (j, (k, _)) in matchers.iter().enumerate() {
        let slot = match family.desc.labels.iter().position(|l| *l == k.as_str()) {
            Some(i) => Slot::Label(i),
            None if k == "target" => Slot::Target,
            None => Slot::Never,
        };
        if matches!(slot, Slot::Never) {
            return None;
        }
        out.push((slot, j));
    }
    Some(out)
}

/// Whether `sample` carries every matcher's label value (no allocation).
fn matches(
    sample: &Sample,
    target: &str,
    slots: &[(Slot, usize)],
    matchers: &[(String, String)],
) -> bool {
    slots.iter().all(|(slot, j)| {
        let want = matchers[*j].1.as_str();
        match slot {
            Slot::Label(i) => sample.labels.get(*i).is_some_and(|x| &**x == want),
            Slot::Target => target == want,
            Slot::Never => false,
        }
    })
}

/// Every instance of every rule whose condition holds in `inputs`.
pub fn evaluate(rules: &[Rule], inputs: &AlertInputs) -> Vec<Active> {
    let now = unix_secs(inputs.now);
    // Family name → (snapshot, family), built once per evaluation.
    let mut by_family: HashMap<&str, Vec<(&Snapshot, &Family)>> = HashMap::new();
    for snap in &inputs.snapshots {
        for fam in &snap.families {
            by_family
                .entry(fam.desc.name)
                .or_default()
                .push((snap, fam));
        }
    }
    let burn: Vec<&Family> = inputs
        .internal
        .iter()
        .flat_map(|f| f.iter())
        .filter(|f| f.desc.name == "fedimeter_burn_rate")
        .collect();
    let mut out = Vec::new();
    for (idx, rule) in rules.iter().enumerate() {
        match &rule.condition {
            Condition::BurnRate {
                long,
                short,
                factor,
            } => {
                // (sli, window) → rate
                let rate = |sli: &str, window: &str| {
                    burn.iter().find_map(|f| {
                        let si = f.desc.labels.iter().position(|l| *l == "sli")?;
                        let wi = f.desc.labels.iter().position(|l| *l == "window")?;
                        f.samples
                            .iter()
                            .find(|s| {
                                s.labels.get(si).is_some_and(|x| &**x == sli)
                                    && s.labels.get(wi).is_some_and(|x| &**x == window)
                            })
                            .map(|s| s.value)
                    })
                };
                let mut slis: Vec<String> = Vec::new();
                for f in &burn {
                    if let Some(si) = f.desc.labels.iter().position(|l| *l == "sli") {
                        for s in &f.samples {
                            if let Some(v) = s.labels.get(si)
                                && !slis.iter().any(|x| x == &**v)
                            {
                                slis.push(v.to_string());
                            }
                        }
                    }
                }
                for sli in slis {
                    let (Some(l), Some(s)) = (rate(&sli, long), rate(&sli, short)) else {
                        continue;
                    };
                    if l > *factor && s > *factor {
                        let mut labels = BTreeMap::new();
                        labels.insert("sli".to_string(), sli.clone());
                        out.push(Active {
                            rule: idx,
                            key: alert_key(&rule.name, &labels),
                            target: sli.clone(),
                            labels,
                            value: Some(l.min(s)),
                        });
                    }
                }
            }
            Condition::ComponentState {
                component,
                at_least,
            } => {
                let (Some(state), Some(min)) = (
                    inputs.components.get(component),
                    ComponentStatus::parse(at_least),
                ) else {
                    continue;
                };
                // Maintenance ranks above every outage but is no outage.
                if state == ComponentStatus::UnderMaintenance || state < min {
                    continue;
                }
                let mut labels = BTreeMap::new();
                labels.insert("component".to_string(), component.clone());
                // The key is the component alone: a worse state is the same alert.
                let key = alert_key(&rule.name, &labels);
                labels.insert("state".to_string(), state.as_str().to_string());
                out.push(Active {
                    rule: idx,
                    key,
                    target: component.clone(),
                    labels,
                    value: None,
                });
            }
            Condition::TargetDown { kind } => {
                for snap in &inputs.snapshots {
                    if kind.is_some_and(|k| k != snap.target.kind)
                        || !matches!(snap.health, Some(crate::model::Health::Down { .. }))
                    {
                        continue;
                    }
                    let mut labels = BTreeMap::new();
                    labels.insert("target".to_string(), snap.target.name.to_string());
                    out.push(Active {
                        rule: idx,
                        key: alert_key(&rule.name, &labels),
                        target: snap.target.name.to_string(),
                        labels,
                        value: None,
                    });
                }
            }
            Condition::TargetDegraded { kind } => {
                for snap in &inputs.snapshots {
                    if kind.is_some_and(|k| k != snap.target.kind) {
                        continue;
                    }
                    let Some(crate::model::Health::Degraded { reason }) = snap.health else {
                        continue;
                    };
                    let mut labels = BTreeMap::new();
                    labels.insert("target".to_string(), snap.target.name.to_string());
                    // The key is the target alone: another reason is the same alert.
                    let key = alert_key(&rule.name, &labels);
                    labels.insert("reason".to_string(), reason.as_str().to_string());
                    out.push(Active {
                        rule: idx,
                        key,
                        target: snap.target.name.to_string(),
                        labels,
                        value: None,
                    });
                }
            }
            Condition::Threshold {
                family,
                matchers,
                derive,
                cmp,
                value: threshold,
            } => {
                let Some(found) = by_family.get(family.as_str()) else {
                    continue;
                };
                for (snap, fam) in found {
                    let target = &*snap.target.name;
                    let Some(slots) = slots(fam, matchers) else {
                        continue;
                    };
                    if slots.iter().any(|(s, j)| {
                        matches!(s, Slot::Target) && matchers[*j].1.as_str() != target
                    }) {
                        continue;
                    }
                    for sample in &fam.samples {
                        if !matches(sample, target, &slots, matchers) {
                            continue;
                        }
                        let value = match derive {
                            Derive::Value => sample.value,
                            Derive::SecondsUntil => sample.value - now,
                            Derive::RatioTo(den) => {
                                let Some(d) = snap.family(den).and_then(|f| {
                                    f.samples
                                        .iter()
                                        .find(|s| s.labels == sample.labels)
                                        .map(|s| s.value)
                                }) else {
                                    continue;
                                };
                                if d <= 0.0 {
                                    continue;
                                }
                                sample.value / d
                            }
                            Derive::Minus(other) => {
                                let d = snap
                                    .family(other)
                                    .and_then(|f| {
                                        f.samples
                                            .iter()
                                            .find(|s| s.labels == sample.labels)
                                            .map(|s| s.value)
                                    })
                                    .unwrap_or(0.0);
                                sample.value - d
                            }
                        };
                        if value.is_nan() || !cmp.holds(value, *threshold) {
                            continue;
                        }
                        let labels = labels_of(fam, sample, target);
                        out.push(Active {
                            rule: idx,
                            key: alert_key(&rule.name, &labels),
                            target: target.to_string(),
                            labels,
                            value: Some(value),
                        });
                    }
                }
            }
        }
    }
    out
}

/// A number as people read it: integers without decimals, else up to 3 decimals.
pub fn format_value(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e15 {
        format!("{}", v as i64)
    } else {
        let s = format!("{v:.3}");
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    }
}

/// Fills `{{value}}`, `{{threshold}}`, `{{target}}`, `{{alertname}}` and `{{labels.NAME}}`.
pub fn render(template: &str, alertname: &str, active: &Active, threshold: Option<f64>) -> String {
    let mut out = String::with_capacity(template.len() + 16);
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let name = after[..end].trim();
        let value = match name {
            "value" => active.value.map(format_value).unwrap_or_default(),
            "threshold" => threshold.map(format_value).unwrap_or_default(),
            "target" => active.target.clone(),
            "alertname" => alertname.to_string(),
            _ => match name.strip_prefix("labels.") {
                Some(l) => active.labels.get(l).cloned().unwrap_or_default(),
                None => format!("{{{{{name}}}}}"),
            },
        };
        out.push_str(&value);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alert::rule::builtin;
    use crate::model::{Kind, MetricDesc, Outcome, TargetId};
    use std::time::Duration;

    static LATENCY: MetricDesc =
        MetricDesc::gauge("sidekiq_queue_latency_seconds", "Latency", &["name"]);
    static PROBE_SUCCESS: MetricDesc = MetricDesc::gauge("probe_success", "ok", &["module"]);
    static CERT: MetricDesc =
        MetricDesc::gauge("probe_ssl_earliest_cert_expiry", "expiry", &["module"]);
    static USED: MetricDesc = MetricDesc::gauge("redis_memory_used_bytes", "used", &[]);
    static MAX: MetricDesc = MetricDesc::gauge("redis_memory_max_bytes", "max", &[]);

    fn fam(desc: &'static MetricDesc, samples: &[(&[&str], f64)]) -> Family {
        Family {
            desc,
            samples: samples
                .iter()
                .map(|(l, v)| Sample {
                    labels: l.iter().map(|s| Box::<str>::from(*s)).collect(),
                    value: *v,
                })
                .collect(),
        }
    }

    fn snap(kind: Kind, name: &str, outcome: Outcome, families: Vec<Family>) -> Arc<Snapshot> {
        // The health rule of docs/metrics.md: a collected run is up, except a probe whose
        // attempt failed (`probe_success 0`); a run that did not collect is down.
        let probe_failed = families
            .iter()
            .any(|f| f.desc.name == "probe_success" && f.samples.iter().all(|s| s.value == 0.0));
        let health = if outcome.collected() && !probe_failed {
            crate::model::Health::Up
        } else {
            crate::model::Health::Down {
                reason: crate::model::Reason::Other,
            }
        };
        Arc::new(Snapshot {
            target: TargetId::new(kind, name),
            finished_at: UNIX_EPOCH,
            duration: Duration::from_millis(1),
            outcome,
            health: Some(health),
            families,
        })
    }

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(1_800_000_000)
    }

    fn names(rules: &[Rule], active: &[Active]) -> Vec<String> {
        active
            .iter()
            .map(|a| format!("{} {}", rules[a.rule].name, a.key))
            .collect()
    }

    #[test]
    fn builtin_rules_fire_per_series_with_their_own_thresholds() {
        let rules = builtin();
        let day = 86_400.0;
        let now_s = 1_800_000_000.0;
        let inputs = health_inputs(
            vec![
                snap(
                    Kind::Redis,
                    "sidekiq",
                    Outcome::Success,
                    vec![
                        // ingress over 300 s, push under 600 s, default over 60 s, an unknown
                        // queue over everything (no rule for it).
                        fam(
                            &LATENCY,
                            &[
                                (&["ingress"], 412.0),
                                (&["push"], 599.0),
                                (&["default"], 61.0),
                                (&["other"], 9999.0),
                            ],
                        ),
                        fam(&USED, &[(&[], 95.0)]),
                        fam(&MAX, &[(&[], 100.0)]),
                    ],
                ),
                snap(
                    Kind::Probe,
                    "web",
                    Outcome::Failed,
                    vec![
                        fam(&PROBE_SUCCESS, &[(&["http"], 0.0)]),
                        fam(&CERT, &[(&["http"], now_s + 2.0 * day)]),
                    ],
                ),
                snap(
                    Kind::Probe,
                    "api",
                    Outcome::Success,
                    vec![fam(&PROBE_SUCCESS, &[(&["http"], 1.0)])],
                ),
                // maxmemory 0: no ratio, no alert.
                snap(
                    Kind::Redis,
                    "cache",
                    Outcome::Success,
                    vec![fam(&USED, &[(&[], 95.0)]), fam(&MAX, &[(&[], 0.0)])],
                ),
            ],
            now(),
        );
        let active = evaluate(&rules, &inputs);
        assert_eq!(
            names(&rules, &active),
            [
                "MastodonWebsiteDown MastodonWebsiteDown{module=\"http\",target=\"web\"}",
                "SidekiqQueueLatencyHigh SidekiqQueueLatencyHigh{name=\"default\",target=\"sidekiq\"}",
                "SidekiqQueueLatencyHigh SidekiqQueueLatencyHigh{name=\"ingress\",target=\"sidekiq\"}",
                "RedisMemoryHigh RedisMemoryHigh{target=\"sidekiq\"}",
                "TlsCertificateExpiringSoon TlsCertificateExpiringSoon{module=\"http\",target=\"web\"}",
                "TlsCertificateExpiryCritical TlsCertificateExpiryCritical{module=\"http\",target=\"web\"}",
            ]
        );
        let ingress = &active[2];
        assert_eq!(ingress.value, Some(412.0));
        let rule = &rules[ingress.rule];
        assert_eq!(
            render(&rule.summary, &rule.name, ingress, Some(300.0)),
            "Sidekiq queue ingress is 412 s behind"
        );
        assert_eq!(active[3].value, Some(0.95));
        assert_eq!(active[4].value, Some(2.0 * day));
    }

    static FAILED_AT: MetricDesc =
        MetricDesc::gauge("pg_stat_archiver_last_failed_time_seconds", "failed", &[]);
    static ARCHIVED_AT: MetricDesc = MetricDesc::gauge(
        "pg_stat_archiver_last_archived_time_seconds",
        "archived",
        &[],
    );

    #[test]
    fn wal_archiving_fails_when_the_last_failure_is_newer_than_the_last_success() {
        let rules: Vec<Rule> = builtin()
            .into_iter()
            .filter(|r| r.name == "PostgresWalArchivingFailing")
            .collect();
        assert_eq!(rules.len(), 1);
        let pg = |name: &str, failed: Option<f64>, archived: Option<f64>| {
            let mut families = Vec::new();
            if let Some(f) = failed {
                families.push(fam(&FAILED_AT, &[(&[], f)]));
            }
            if let Some(a) = archived {
                families.push(fam(&ARCHIVED_AT, &[(&[], a)]));
            }
            snap(Kind::Postgres, name, Outcome::Success, families)
        };
        let inputs = health_inputs(
            vec![
                // Failed at 1000, last archived at 940: failing for 60 s.
                pg("failing", Some(1000.0), Some(940.0)),
                // Failed once, archived since: fine.
                pg("recovered", Some(1000.0), Some(1060.0)),
                // Failed, never archived: failing.
                pg("never", Some(1000.0), None),
                // Never failed: fine.
                pg("healthy", None, Some(1060.0)),
            ],
            now(),
        );
        let active = evaluate(&rules, &inputs);
        assert_eq!(
            names(&rules, &active),
            [
                "PostgresWalArchivingFailing PostgresWalArchivingFailing{target=\"failing\"}",
                "PostgresWalArchivingFailing PostgresWalArchivingFailing{target=\"never\"}",
            ]
        );
        assert_eq!(active[0].value, Some(60.0));
        assert_eq!(active[1].value, Some(1000.0));
    }

    #[test]
    fn builtin_set_matches_the_shared_contract() {
        // (alertname, severity, for in seconds): the table of the issue.
        let expected = [
            ("MastodonWebsiteDown", "critical", 120),
            ("MastodonApiDown", "critical", 120),
            ("MastodonStreamingDown", "critical", 120),
            ("SidekiqQueueLatencyHigh", "warning", 300),
            ("SidekiqQueueUncovered", "warning", 300),
            ("SidekiqNoProcesses", "critical", 120),
            ("PostgresDown", "critical", 60),
            ("PgbouncerDown", "critical", 60),
            ("RedisDown", "critical", 60),
            ("PgbouncerClientsWaitingLong", "warning", 60),
            ("PgbouncerPoolSaturated", "warning", 300),
            ("PostgresReplicationLagHigh", "warning", 300),
            ("PostgresTxidWraparoundRisk", "warning", 300),
            ("PostgresTxidWraparoundCritical", "critical", 300),
            ("RedisMemoryHigh", "warning", 300),
            ("PostgresWalArchivingFailing", "warning", 300),
            ("RedisBackgroundSaveFailing", "critical", 60),
            ("TlsCertificateExpiringSoon", "warning", 600),
            ("TlsCertificateExpiryCritical", "critical", 600),
            ("ErrorBudgetBurnFast", "critical", 120),
            ("ErrorBudgetBurnSlow", "warning", 900),
        ];
        let rules = builtin();
        for (name, severity, for_secs) in expected {
            let r = rules
                .iter()
                .find(|r| r.name == name)
                .unwrap_or_else(|| panic!("{name}"));
            assert_eq!(r.severity.as_str(), severity, "{name}");
            assert_eq!(r.for_, Duration::from_secs(for_secs), "{name}");
            assert_eq!(
                r.runbook.as_deref(),
                Some(
                    format!(
                        "https://github.com/fedimeter/fedimeter/blob/main/docs/runbooks.md#{}",
                        name.to_lowercase()
                    )
                    .as_str()
                )
            );
        }
        // Sidekiq thresholds per queue, from mastodon-facts §2.
        let per_queue: Vec<(String, f64)> = rules
            .iter()
            .filter(|r| r.name == "SidekiqQueueLatencyHigh")
            .filter_map(|r| match &r.condition {
                Condition::Threshold {
                    matchers, value, ..
                } => Some((matchers[0].1.clone(), *value)),
                _ => None,
            })
            .collect();
        let expected_queues: Vec<(String, f64)> = [
            ("default", 60.0),
            ("ingress", 300.0),
            ("push", 600.0),
            ("pull", 1800.0),
            ("mailers", 300.0),
            ("scheduler", 600.0),
        ]
        .iter()
        .map(|(q, v)| (q.to_string(), *v))
        .collect();
        assert_eq!(per_queue, expected_queues);
    }

    static BURN: MetricDesc = MetricDesc::gauge("fedimeter_burn_rate", "burn", &["sli", "window"]);

    #[test]
    fn burn_rate_pairs_need_both_windows_over_the_factor() {
        let rules = builtin();
        let rates: &[(&str, &str, f64)] = &[
            // website: fast pair 20 and 15 (> 14.4 both): fast fires; slow pair 7 and 8: fires.
            ("website", "1h", 20.0),
            ("website", "5m", 15.0),
            ("website", "6h", 7.0),
            ("website", "30m", 8.0),
            // api: the long window is over, the short one recovered: nothing.
            ("api", "1h", 20.0),
            ("api", "5m", 3.0),
            ("api", "6h", 7.0),
            ("api", "30m", 5.9),
        ];
        let family = Family {
            desc: &BURN,
            samples: rates
                .iter()
                .map(|(sli, w, v)| Sample {
                    labels: vec![Box::<str>::from(*sli), Box::<str>::from(*w)].into_boxed_slice(),
                    value: *v,
                })
                .collect(),
        };
        let inputs = AlertInputs {
            internal: vec![Arc::new(vec![family])],
            ..health_inputs(Vec::new(), now())
        };
        let active = evaluate(&rules, &inputs);
        assert_eq!(
            names(&rules, &active),
            [
                "ErrorBudgetBurnFast ErrorBudgetBurnFast{sli=\"website\"}",
                "ErrorBudgetBurnSlow ErrorBudgetBurnSlow{sli=\"website\"}",
            ]
        );
        assert_eq!(active[0].value, Some(15.0));
        assert_eq!(active[1].value, Some(7.0));
    }

    fn with_health(kind: Kind, name: &str, health: Option<crate::model::Health>) -> Arc<Snapshot> {
        Arc::new(Snapshot {
            target: TargetId::new(kind, name),
            finished_at: now(),
            duration: Duration::from_millis(1),
            outcome: Outcome::Success,
            health,
            families: Vec::new(),
        })
    }

    fn health_rule(name: &str, condition: Condition) -> Rule {
        Rule {
            name: name.into(),
            severity: crate::notify::Severity::Warning,
            condition,
            for_: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
            summary: "{{target}} is degraded ({{labels.reason}})".into(),
            description: String::new(),
            runbook: None,
            component: None,
        }
    }

    fn health_inputs(snapshots: Vec<Arc<Snapshot>>, at: SystemTime) -> AlertInputs {
        AlertInputs {
            probes_awaiting_first_run: 0,
            store_away_since: None,
            snapshots,
            muted_components: HashSet::new(),
            internal: Vec::new(),
            components: Arc::default(),
            now: at,
        }
    }

    /// Target-health rules, down and degraded, over one table of healths: a down target is
    /// not degraded, a target without health (no attempt) is neither, and the kind filters.
    #[test]
    fn target_health_rules_tell_down_from_degraded() {
        use crate::model::{Health, Reason};
        let slow = Health::Degraded {
            reason: Reason::Slow,
        };
        let snapshots = vec![
            with_health(Kind::Probe, "web", Some(slow)),
            with_health(
                Kind::Probe,
                "api",
                Some(Health::Down {
                    reason: Reason::Timeout,
                }),
            ),
            with_health(Kind::Probe, "media", Some(Health::Up)),
            with_health(Kind::Probe, "streaming", None),
            with_health(
                Kind::Postgres,
                "main",
                Some(Health::Down {
                    reason: Reason::Refused,
                }),
            ),
            // No collector reports this today; the model allows it, and `any` takes it.
            with_health(
                Kind::Redis,
                "cache",
                Some(Health::Degraded {
                    reason: Reason::Other,
                }),
            ),
        ];
        let inputs = health_inputs(snapshots, now());
        // (condition, the targets it fires for, with their reason label)
        type Expected = &'static [(&'static str, Option<&'static str>)];
        let table: [(Condition, Expected); 4] = [
            (
                Condition::TargetDown { kind: None },
                &[("api", None), ("main", None)],
            ),
            (
                Condition::TargetDegraded { kind: None },
                &[("web", Some("slow")), ("cache", Some("other"))],
            ),
            (
                Condition::TargetDegraded {
                    kind: Some(Kind::Probe),
                },
                &[("web", Some("slow"))],
            ),
            (
                Condition::TargetDegraded {
                    kind: Some(Kind::Postgres),
                },
                &[],
            ),
        ];
        for (condition, expected) in table {
            let rules = vec![health_rule("Health", condition.clone())];
            let active = evaluate(&rules, &inputs);
            let got: Vec<(String, Option<String>)> = active
                .iter()
                .map(|a| (a.key.clone(), a.labels.get("reason").cloned()))
                .collect();
            let want: Vec<(String, Option<String>)> = expected
                .iter()
                .map(|(t, r)| (format!("Health{{target=\"{t}\"}}"), r.map(String::from)))
                .collect();
            assert_eq!(got, want, "{condition:?}");
        }
        let rules = vec![health_rule(
            "WebSlow",
            Condition::TargetDegraded {
                kind: Some(Kind::Probe),
            },
        )];
        let active = evaluate(&rules, &inputs);
        assert_eq!(
            render(&rules[0].summary, "WebSlow", &active[0], None),
            "web is degraded (slow)"
        );
    }

    /// Through the evaluator: the degraded alert fires with its reason in the message, and
    /// resolves when the target is down instead (a down target is the down rule's).
    #[test]
    fn a_degraded_probe_fires_with_its_reason_and_resolves_when_it_is_down_instead() {
        use crate::model::{Health, Reason};
        use crate::notify::Transition;
        let rules = vec![health_rule(
            "ProbeSlow",
            Condition::TargetDegraded {
                kind: Some(Kind::Probe),
            },
        )];
        let mut ev = crate::alert::Evaluator::new(rules, Duration::from_secs(4 * 3600));
        let slow = Some(Health::Degraded {
            reason: Reason::Slow,
        });
        let t0 = now();
        let changes = ev.step(&health_inputs(
            vec![
                with_health(Kind::Probe, "web", slow),
                with_health(Kind::Probe, "api", Some(Health::Up)),
            ],
            t0,
        ));
        assert_eq!(changes.len(), 1, "{changes:?}");
        let n = &changes[0].notice;
        assert_eq!(changes[0].key, "ProbeSlow{target=\"web\"}");
        assert_eq!(n.transition, Transition::Firing);
        assert_eq!(n.summary, "web is degraded (slow)");
        assert_eq!(n.target.as_deref(), Some("web"));
        assert_eq!(n.labels, [("reason".to_string(), "slow".to_string())]);
        let message = crate::notify::discord::message::alert_message(n, &Default::default());
        let fields = &message.embeds[0].fields;
        assert!(
            fields
                .iter()
                .any(|f| f.name == "reason" && f.value == "slow"),
            "{fields:?}"
        );
        // Still degraded: nothing new.
        let t1 = t0 + Duration::from_secs(15);
        let changes = ev.step(&health_inputs(
            vec![
                with_health(Kind::Probe, "web", slow),
                with_health(Kind::Probe, "api", Some(Health::Up)),
            ],
            t1,
        ));
        assert!(changes.is_empty(), "{changes:?}");
        // Down now: no longer degraded.
        let t2 = t1 + Duration::from_secs(15);
        let changes = ev.step(&health_inputs(
            vec![
                with_health(
                    Kind::Probe,
                    "web",
                    Some(Health::Down {
                        reason: Reason::Refused,
                    }),
                ),
                with_health(Kind::Probe, "api", Some(Health::Up)),
            ],
            t2,
        ));
        assert_eq!(changes.len(), 1, "{changes:?}");
        assert_eq!(
            changes[0].notice.transition,
            Transition::Resolved { lasted_secs: 30 }
        );
    }

    #[test]
    fn target_down_and_templates() {
        let rules = vec![Rule {
            name: "TargetDown".into(),
            severity: crate::notify::Severity::Critical,
            condition: Condition::TargetDown {
                kind: Some(Kind::Postgres),
            },
            for_: Duration::ZERO,
            keep_firing_for: Duration::ZERO,
            summary: "{{target}} is down ({{labels.target}}, {{nope}}, {{value}})".into(),
            description: String::new(),
            runbook: None,
            component: None,
        }];
        let inputs = health_inputs(
            vec![
                snap(Kind::Postgres, "main", Outcome::TimedOut, vec![]),
                snap(Kind::Postgres, "replica", Outcome::Success, vec![]),
                snap(Kind::Redis, "r", Outcome::Failed, vec![]),
            ],
            now(),
        );
        let active = evaluate(&rules, &inputs);
        assert_eq!(
            names(&rules, &active),
            ["TargetDown TargetDown{target=\"main\"}"]
        );
        assert_eq!(
            render(&rules[0].summary, "TargetDown", &active[0], None),
            "main is down (main, {{nope}}, )"
        );
        assert_eq!(format_value(412.0), "412");
        assert_eq!(format_value(0.95), "0.95");
        assert_eq!(format_value(1.0 / 3.0), "0.333");
    }
}
