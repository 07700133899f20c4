//! `[alerting]`, `[[alert]]` and the alert options of `[[discord]]`: the raw (serde) shapes
//! and the validated [`AlertingConfig`]. Validation is in `validate/alert.rs`; the rules and
//! their semantics are in `src/alert/` and `docs/alerts.md`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

pub mod rule;

pub use rule::Rule;

/// Default `repeat_interval`: a still-firing alert is sent again after 4 hours.
pub const DEFAULT_REPEAT_INTERVAL: Duration = Duration::from_secs(4 * 3600);
/// Default evaluation interval.
pub const DEFAULT_EVALUATE_EVERY: Duration = Duration::from_secs(15);
/// Default of `[alerting] builtin`: the built-in Mastodon rules are on.
pub const DEFAULT_BUILTIN: bool = true;
/// Default of `[[alert]] enabled`.
pub const DEFAULT_ENABLED: bool = true;
/// Default of `[[alert]] for` and `keep_firing_for`: none.
pub const DEFAULT_FOR: Duration = Duration::ZERO;
/// Default of `[[discord]] min_severity`: every alert.
pub const DEFAULT_MIN_SEVERITY: crate::model::Severity = crate::model::Severity::Info;
/// Default of `[[discord]] resolved_notice`.
pub const DEFAULT_RESOLVED_NOTICE: bool = true;

/// `[alerting]`
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawAlerting {
    /// How often rules are evaluated. Default 15s, at least 1s.
    pub evaluate_every: Option<Spanned<String>>,
    /// A still-firing alert is sent again after this. Default 4h; "0s" never repeats.
    pub repeat_interval: Option<Spanned<String>>,
    /// Whether the built-in Mastodon rules are on. Default true.
    pub builtin: Option<Spanned<bool>>,
    /// Enables `POST /api/alertmanager` (next to `/metrics`): the bearer token Alertmanager
    /// sends. A secret, at least 16 characters. Default: not set (no receiver).
    pub alertmanager_token: Option<Spanned<String>>,
}

/// A number written as an integer or a float.
#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(untagged)]
pub enum RawNumber {
    Int(i64),
    Float(f64),
}

impl RawNumber {
    pub fn get(self) -> f64 {
        match self {
            RawNumber::Int(i) => i as f64,
            RawNumber::Float(f) => f,
        }
    }
}

/// `[[alert]]`: a rule of its own, or an override of a built-in rule of the same name.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawAlert {
    /// `[A-Za-z0-9_.-]{1,64}`; a built-in name overrides that rule.
    pub name: Spanned<String>,
    /// `false` disables the rule (a built-in one too). Default true.
    pub enabled: Option<Spanned<bool>>,
    /// `critical`, `warning` or `info`. Required for a new rule.
    pub severity: Option<Spanned<String>>,
    /// Threshold rule: the metric family (as on `/metrics`).
    pub metric: Option<Spanned<String>>,
    /// Threshold rule: labels a series must carry (`target` is the target's name).
    pub labels: Option<Spanned<BTreeMap<String, String>>>,
    /// Threshold rule: `>`, `>=`, `<`, `<=`, `==` or `!=`.
    pub op: Option<Spanned<String>>,
    /// Threshold rule: the threshold.
    pub value: Option<Spanned<RawNumber>>,
    /// Target-health rule: a collector kind (`postgres`, `pgbouncer`, `redis`, `probe`) or
    /// `any`: fires while that target's collection fails.
    pub target_down: Option<Spanned<String>>,
    /// Target-health rule: `probe` or `any`: fires while that target answers but is
    /// degraded (a probe slower than its `degraded_after`), with the reason class.
    pub target_degraded: Option<Spanned<String>>,
    /// SLO burn-rate rule: `{ long = "1h", short = "5m", factor = 14.4 }`: fires per SLI
    /// while `fedimeter_burn_rate` is over `factor` in both windows.
    pub burn_rate: Option<Spanned<RawBurnRate>>,
    /// Component-state rule: `degraded_performance`, `partial_outage` or `major_outage`:
    /// fires while the status-page component named by `component` is in that state or a
    /// worse one.
    pub state_at_least: Option<Spanned<String>>,
    /// How long the condition must hold before the alert fires. Default 0s.
    #[serde(rename = "for")]
    pub for_: Option<Spanned<String>>,
    /// How long it keeps firing after the condition stopped. Default 0s.
    pub keep_firing_for: Option<Spanned<String>>,
    /// Templates with `{{value}}`, `{{threshold}}`, `{{target}}`, `{{labels.NAME}}`.
    pub summary: Option<Spanned<String>>,
    pub description: Option<Spanned<String>>,
    /// `https://` link shown in the message.
    pub runbook: Option<Spanned<String>>,
    /// Component id: maintenance of that component mutes the alert; routes can select it.
    pub component: Option<Spanned<String>>,
}

/// `burn_rate = { long, short, factor }` of an `[[alert]]`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a table")]
pub struct RawBurnRate {
    /// One of the SLI windows: 5m, 30m, 1h, 2h, 6h, 1d, 3d, 7d, 30d, 90d.
    pub long: Spanned<String>,
    pub short: Spanned<String>,
    pub factor: Spanned<RawNumber>,
}

/// The validated alerting settings.
#[derive(Debug, Clone)]
pub struct AlertingConfig {
    pub evaluate_every: Duration,
    pub repeat_interval: Duration,
    /// Built-in rules (unless disabled) with overrides applied, then the user's rules.
    pub rules: Vec<Rule>,
    /// `POST /api/alertmanager` is served when set.
    pub alertmanager_token: Option<crate::config::Secret<String>>,
}

impl Default for AlertingConfig {
    fn default() -> Self {
        AlertingConfig {
            evaluate_every: DEFAULT_EVALUATE_EVERY,
            repeat_interval: DEFAULT_REPEAT_INTERVAL,
            rules: rule::builtin(),
            alertmanager_token: None,
        }
    }
}
