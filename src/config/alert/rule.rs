//! Alert rules: what is checked on the latest snapshots, and the built-in Mastodon set.
//!
//! A rule is evaluated per series: every sample of the named family (on every target) whose
//! labels match the rule's matchers is one alert instance, identified by the rule's name and
//! the series' labels (plus `target`). The built-in set ([`builtin`]) uses the metric names
//! fedimeter really exports (`docs/*.md`); `[[alert]]` entries with a built-in name replace
//! (or, with `enabled = false`, disable) every built-in rule of that name.

use std::time::Duration;

use crate::model::Kind;
use crate::model::Severity;

/// A comparison of a series' value with the threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Cmp {
    pub fn parse(s: &str) -> Option<Cmp> {
        Some(match s {
            ">" => Cmp::Gt,
            ">=" => Cmp::Ge,
            "<" => Cmp::Lt,
            "<=" => Cmp::Le,
            "==" => Cmp::Eq,
            "!=" => Cmp::Ne,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Cmp::Gt => ">",
            Cmp::Ge => ">=",
            Cmp::Lt => "<",
            Cmp::Le => "<=",
            Cmp::Eq => "==",
            Cmp::Ne => "!=",
        }
    }

    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Cmp::Gt => value > threshold,
            Cmp::Ge => value >= threshold,
            Cmp::Lt => value < threshold,
            Cmp::Le => value <= threshold,
            Cmp::Eq => value == threshold,
            Cmp::Ne => value != threshold,
        }
    }
}

/// What is compared: the sample's value, or something derived from it.
#[derive(Debug, Clone, PartialEq)]
pub enum Derive {
    /// The value itself.
    Value,
    /// The value is a Unix timestamp: compare the seconds from now until it.
    SecondsUntil,
    /// The value divided by the same series of another family on the same target; series
    /// whose denominator is missing or not positive are skipped.
    RatioTo(String),
    /// The value minus the same series of another family on the same target; a missing
    /// subtrahend counts as 0 (for times: never).
    Minus(String),
}

/// What a rule looks at.
#[derive(Debug, Clone, PartialEq)]
pub enum Condition {
    /// A threshold on a collected metric family, per series.
    Threshold {
        family: String,
        /// `(label, value)` that a series must carry; `target` matches the target's name.
        matchers: Vec<(String, String)>,
        derive: Derive,
        cmp: Cmp,
        value: f64,
    },
    /// A target whose collection fails (its snapshot is not up).
    TargetDown { kind: Option<Kind> },
    /// A target that answers but is degraded (`Health::Degraded`: today a probe slower than
    /// its `degraded_after`); the reason class is the alert's `reason` label. A down target
    /// is not degraded: `TargetDown` covers it.
    TargetDegraded { kind: Option<Kind> },
    /// SLO burn rate (`fedimeter_burn_rate{sli,window}`) over `factor` in both windows of a
    /// multi-window pair (the SRE workbook's), per SLI.
    BurnRate {
        long: String,
        short: String,
        factor: f64,
    },
    /// A status-page component whose state (as the SLI task last evaluated it) is at least
    /// `at_least`, one of [`COMPONENT_STATES`]; `under_maintenance` never fires.
    ComponentState { component: String, at_least: String },
}

/// The component states a component-state rule can name, mildest first (Statuspage's
/// names; the order of `sli::ComponentStatus`).
pub const COMPONENT_STATES: [&str; 3] = ["degraded_performance", "partial_outage", "major_outage"];

/// One rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    pub name: String,
    pub severity: Severity,
    pub condition: Condition,
    /// How long the condition must hold before the alert fires.
    pub for_: Duration,
    /// How long a firing alert keeps firing after the condition stopped (against flapping).
    pub keep_firing_for: Duration,
    /// Templates: `{{value}}`, `{{threshold}}`, `{{target}}`, `{{labels.NAME}}`.
    pub summary: String,
    pub description: String,
    pub runbook: Option<String>,
    /// The status-page component the alert belongs to (maintenance mutes it).
    pub component: Option<String>,
}

/// The runbook anchor of a built-in alert.
pub fn runbook_url(name: &str) -> String {
    format!(
        "https://github.com/fedimeter/fedimeter/blob/main/docs/runbooks.md#{}",
        name.to_ascii_lowercase()
    )
}

struct B {
    name: &'static str,
    severity: Severity,
    family: &'static str,
    matchers: &'static [(&'static str, &'static str)],
    derive: Derive,
    cmp: Cmp,
    value: f64,
    for_secs: u64,
    component: Option<&'static str>,
    summary: &'static str,
    description: &'static str,
}

fn threshold(b: B) -> Rule {
    Rule {
        name: b.name.to_string(),
        severity: b.severity,
        condition: Condition::Threshold {
            family: b.family.to_string(),
            matchers: b
                .matchers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            derive: b.derive,
            cmp: b.cmp,
            value: b.value,
        },
        for_: Duration::from_secs(b.for_secs),
        keep_firing_for: Duration::ZERO,
        summary: b.summary.to_string(),
        description: b.description.to_string(),
        runbook: Some(runbook_url(b.name)),
        component: b.component.map(String::from),
    }
}

/// The built-in Mastodon rules (the shared contract with `alerts/*.yml`: names, severities,
/// thresholds and `for`).
pub fn builtin() -> Vec<Rule> {
    use Severity::{Critical, Warning};
    let mut rules = Vec::new();
    for (name, target, component) in [
        ("MastodonWebsiteDown", "web", "website"),
        ("MastodonApiDown", "api", "api"),
        ("MastodonStreamingDown", "streaming", "streaming"),
    ] {
        rules.push(threshold(B {
            name,
            severity: Critical,
            family: "probe_success",
            matchers: match target {
                "web" => &[("target", "web")],
                "api" => &[("target", "api")],
                _ => &[("target", "streaming")],
            },
            derive: Derive::Value,
            cmp: Cmp::Eq,
            value: 0.0,
            for_secs: 120,
            component: Some(component),
            summary: "The {{target}} probe fails",
            description: "The preset probe {{target}} has failed for 2 minutes.",
        }));
    }
    for (queue, secs) in [
        ("default", 60.0),
        ("ingress", 300.0),
        ("push", 600.0),
        ("pull", 1800.0),
        ("mailers", 300.0),
        ("scheduler", 600.0),
    ] {
        let matchers: &'static [(&str, &str)] = match queue {
            "default" => &[("name", "default")],
            "ingress" => &[("name", "ingress")],
            "push" => &[("name", "push")],
            "pull" => &[("name", "pull")],
            "mailers" => &[("name", "mailers")],
            _ => &[("name", "scheduler")],
        };
        rules.push(threshold(B {
            name: "SidekiqQueueLatencyHigh",
            severity: Warning,
            family: "sidekiq_queue_latency_seconds",
            matchers,
            derive: Derive::Value,
            cmp: Cmp::Gt,
            value: secs,
            for_secs: 300,
            component: None,
            summary: "Sidekiq queue {{labels.name}} is {{value}} s behind",
            description: "The oldest job in queue {{labels.name}} has waited {{value}} s (threshold {{threshold}} s).",
        }));
    }
    let simple: [(
        &'static str,
        Severity,
        &'static str,
        Cmp,
        f64,
        u64,
        &'static str,
    ); 13] = [
        (
            "SidekiqQueueUncovered",
            Warning,
            "sidekiq_queue_uncovered",
            Cmp::Eq,
            1.0,
            300,
            "No live Sidekiq process serves queue {{labels.name}}",
        ),
        (
            "SidekiqNoProcesses",
            Critical,
            "sidekiq_processes",
            Cmp::Eq,
            0.0,
            120,
            "No live Sidekiq process",
        ),
        (
            "PostgresDown",
            Critical,
            "pg_up",
            Cmp::Eq,
            0.0,
            60,
            "PostgreSQL {{target}} is down",
        ),
        (
            "PgbouncerDown",
            Critical,
            "pgbouncer_up",
            Cmp::Eq,
            0.0,
            60,
            "PgBouncer {{target}} is down",
        ),
        (
            "RedisDown",
            Critical,
            "redis_up",
            Cmp::Eq,
            0.0,
            60,
            "Redis {{target}} is down",
        ),
        (
            "PgbouncerClientsWaitingLong",
            Warning,
            "pgbouncer_pools_client_maxwait_seconds",
            Cmp::Gt,
            120.0,
            60,
            "Clients wait {{value}} s for a server connection in PgBouncer {{target}}",
        ),
        (
            "PgbouncerPoolSaturated",
            Warning,
            "pgbouncer_pools_saturation_ratio",
            Cmp::Ge,
            0.9,
            300,
            "A PgBouncer pool of {{target}} is {{value}} saturated",
        ),
        (
            "PostgresReplicationLagHigh",
            Warning,
            "pg_replication_lag_seconds",
            Cmp::Gt,
            60.0,
            300,
            "Replica {{target}} is {{value}} s behind",
        ),
        (
            "PostgresTxidWraparoundRisk",
            Warning,
            "pg_database_wraparound_age_datfrozenxid_seconds",
            Cmp::Gt,
            1.5e9,
            300,
            "Database {{labels.datname}} is {{value}} transactions from freezing",
        ),
        (
            "PostgresTxidWraparoundCritical",
            Critical,
            "pg_database_wraparound_age_datfrozenxid_seconds",
            Cmp::Gt,
            1.9e9,
            300,
            "Database {{labels.datname}} is close to transaction ID wraparound",
        ),
        (
            "PostgresWalArchivingFailing",
            Warning,
            "pg_stat_archiver_last_failed_time_seconds",
            Cmp::Gt,
            0.0,
            300,
            "PostgreSQL {{target}} fails to archive WAL (its last failure is {{value}} s newer than its last success)",
        ),
        (
            "RedisBackgroundSaveFailing",
            Critical,
            "redis_rdb_last_bgsave_status",
            Cmp::Eq,
            0.0,
            60,
            "Redis {{target}} failed its last background save (writes refused: MISCONF)",
        ),
        (
            "RedisMemoryHigh",
            Warning,
            "redis_memory_used_bytes",
            Cmp::Gt,
            0.9,
            300,
            "Redis {{target}} uses {{value}} of maxmemory",
        ),
    ];
    for (name, severity, family, cmp, value, for_secs, summary) in simple {
        rules.push(threshold(B {
            name,
            severity,
            family,
            matchers: &[],
            derive: match name {
                "RedisMemoryHigh" => Derive::RatioTo("redis_memory_max_bytes".to_string()),
                // The last failure is newer than the last success (or there was none).
                "PostgresWalArchivingFailing" => {
                    Derive::Minus("pg_stat_archiver_last_archived_time_seconds".to_string())
                }
                _ => Derive::Value,
            },
            cmp,
            value,
            for_secs,
            component: None,
            summary,
            description: "",
        }));
    }
    for (name, severity, long, short, factor, for_secs) in [
        ("ErrorBudgetBurnFast", Critical, "1h", "5m", 14.4, 120),
        ("ErrorBudgetBurnSlow", Warning, "6h", "30m", 6.0, 900),
    ] {
        rules.push(Rule {
            name: name.to_string(),
            severity,
            condition: Condition::BurnRate {
                long: long.to_string(),
                short: short.to_string(),
                factor,
            },
            for_: Duration::from_secs(for_secs),
            keep_firing_for: Duration::ZERO,
            summary: "SLI {{labels.sli}} burns its error budget {{value}}× too fast".to_string(),
            description: format!(
                "The burn rate is over {factor} in both the {long} and the {short} window."
            ),
            runbook: Some(runbook_url(name)),
            component: None,
        });
    }
    for (name, severity, days) in [
        ("TlsCertificateExpiringSoon", Warning, 14.0),
        ("TlsCertificateExpiryCritical", Critical, 3.0),
    ] {
        rules.push(threshold(B {
            name,
            severity,
            family: "probe_ssl_earliest_cert_expiry",
            matchers: &[],
            derive: Derive::SecondsUntil,
            cmp: Cmp::Lt,
            value: days * 86_400.0,
            for_secs: 600,
            component: None,
            summary: "The certificate of probe {{target}} expires in {{value}} s",
            description: "",
        }));
    }
    rules
}
