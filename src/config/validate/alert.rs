//! Validation of `[alerting]`, `[[alert]]` and the alert options of `[[discord]]`
//! (see `docs/alerts.md`). Every error names file:line:col and the key. A component that a
//! rule or a route names must be one of the effective components (written, or the Mastodon
//! preset's), so validation runs after `sli::components`.

use std::time::Duration;

use toml::Spanned;

use super::Ctx;
use crate::config::ComponentConfig;
use crate::config::alert::rule::{self, Cmp, Condition, Derive, Rule};
use crate::config::alert::{AlertingConfig, RawAlert, RawAlerting};
use crate::model::Kind;
use crate::model::Severity;

fn severity(ctx: &mut Ctx<'_>, v: &Spanned<String>, key: &str) -> Option<Severity> {
    let s = Severity::parse(v.get_ref());
    if s.is_none() {
        ctx.error(
            v.span(),
            key,
            format!(
                "invalid severity {:?}: expected critical, warning or info",
                v.get_ref()
            ),
        );
    }
    s
}

fn https_url(ctx: &mut Ctx<'_>, v: &Spanned<String>, key: &str) -> Option<String> {
    let text = ctx.interpolate(v, key)?;
    let ok = (text.starts_with("https://") || text.starts_with("http://"))
        && url::Url::parse(&text).is_ok()
        && !text
            .chars()
            .any(|c| c.is_whitespace() || matches!(c, '(' | ')' | '<' | '>'));
    if ok {
        Some(text)
    } else {
        ctx.error(
            v.span(),
            key,
            format!("invalid URL {text:?}: expected https://…"),
        );
        None
    }
}

/// The component ids a rule or a route may name.
pub(super) struct KnownComponents {
    ids: Vec<String>,
    /// False when a written `[[component]]` failed validation: it may be the one named, and
    /// its own error says what is wrong.
    check: bool,
}

impl KnownComponents {
    pub(super) fn new(raw: &crate::config::raw::RawConfig, components: &[ComponentConfig]) -> Self {
        KnownComponents {
            ids: components.iter().map(|c| c.id.clone()).collect(),
            check: raw.component.is_empty() || components.len() == raw.component.len(),
        }
    }

    /// `id` (the value at `v`) if it names a known component; an error listing them if not.
    fn known(
        &self,
        ctx: &mut Ctx<'_>,
        v: &Spanned<String>,
        key: &str,
        id: String,
    ) -> Option<String> {
        if !self.check || self.ids.contains(&id) {
            return Some(id);
        }
        let known = if self.ids.is_empty() {
            "no component is configured ([[component]], or the Mastodon preset's)".to_string()
        } else {
            format!("expected one of {}", self.ids.join(", "))
        };
        ctx.error(v.span(), key, format!("unknown component {id:?}: {known}"));
        None
    }
}

pub(super) fn alerting(
    ctx: &mut Ctx<'_>,
    raw: Option<&Spanned<RawAlerting>>,
    alerts: &[Spanned<RawAlert>],
    components: &KnownComponents,
) -> AlertingConfig {
    let mut config = AlertingConfig::default();
    let mut builtin_on = crate::config::alert::DEFAULT_BUILTIN;
    if let Some(raw) = raw.map(Spanned::get_ref) {
        if let Some(v) = &raw.evaluate_every {
            if let Some(d) = ctx.duration(v, "alerting.evaluate_every") {
                if d < Duration::from_secs(1) {
                    ctx.error(v.span(), "alerting.evaluate_every", "must be at least 1s");
                } else {
                    config.evaluate_every = d;
                }
            }
        }
        if let Some(v) = &raw.repeat_interval {
            if let Some(d) = ctx.duration(v, "alerting.repeat_interval") {
                if !d.is_zero() && d < Duration::from_secs(60) {
                    ctx.error(
                        v.span(),
                        "alerting.repeat_interval",
                        "must be at least 1m (or 0s: never repeat)",
                    );
                } else {
                    config.repeat_interval = d;
                }
            }
        }
        if let Some(b) = &raw.builtin {
            builtin_on = *b.get_ref();
        }
        if let Some(v) = &raw.alertmanager_token {
            if let Some(token) = ctx.interpolate(v, "alerting.alertmanager_token") {
                if token.chars().count() < 16 || token.chars().any(char::is_whitespace) {
                    ctx.error(
                        v.span(),
                        "alerting.alertmanager_token",
                        "the token must be at least 16 characters, without spaces",
                    );
                } else {
                    config.alertmanager_token = Some(crate::config::Secret::registered(token));
                }
            }
        }
    }
    let mut rules = if builtin_on {
        rule::builtin()
    } else {
        Vec::new()
    };
    let names = ctx.names("alert", alerts.iter().map(|a| &a.get_ref().name));
    for (i, (entry, name)) in alerts.iter().zip(names).enumerate() {
        let Some(name) = name else { continue };
        let raw = entry.get_ref();
        let key = |k: &str| format!("alert[{i}].{k}");
        let enabled = raw
            .enabled
            .as_ref()
            .map_or(crate::config::alert::DEFAULT_ENABLED, |e| *e.get_ref());
        let is_builtin = rules.iter().any(|r| r.name == name);
        let has_condition = raw.metric.is_some()
            || raw.target_down.is_some()
            || raw.target_degraded.is_some()
            || raw.op.is_some()
            || raw.value.is_some()
            || raw.burn_rate.is_some()
            || raw.state_at_least.is_some();
        if !enabled {
            rules.retain(|r| r.name != name);
            continue;
        }
        let sev = match &raw.severity {
            Some(v) => match severity(ctx, v, &key("severity")) {
                Some(s) => Some(s),
                None => {
                    // Still check the rest of the entry.
                    if has_condition {
                        condition(ctx, raw, &key);
                    }
                    continue;
                }
            },
            None if !is_builtin => {
                ctx.error(
                    raw.name.span(),
                    &key("severity"),
                    "missing severity: critical, warning or info",
                );
                continue;
            }
            None => None,
        };
        let condition = if has_condition {
            condition(ctx, raw, &key)
        } else if is_builtin {
            None
        } else {
            ctx.error(
                raw.name.span(),
                &format!("alert[{i}]"),
                format!(
                    "alert {name:?} is no built-in rule: it needs `metric`, `op` and `value`, `target_down`, `target_degraded`, `burn_rate`, or `component` and `state_at_least`"
                ),
            );
            continue;
        };
        if has_condition && condition.is_none() {
            continue;
        }
        let dur = |ctx: &mut Ctx<'_>, v: &Option<Spanned<String>>, k: &str| {
            v.as_ref().and_then(|v| ctx.duration(v, &key(k)))
        };
        let for_ = dur(ctx, &raw.for_, "for");
        let keep = dur(ctx, &raw.keep_firing_for, "keep_firing_for");
        let summary = raw
            .summary
            .as_ref()
            .and_then(|v| ctx.interpolate(v, &key("summary")));
        let description = raw
            .description
            .as_ref()
            .and_then(|v| ctx.interpolate(v, &key("description")));
        let runbook = raw
            .runbook
            .as_ref()
            .and_then(|v| https_url(ctx, v, &key("runbook")));
        let component = raw.component.as_ref().and_then(|v| {
            let id = ctx.label(v, &key("component"), "component")?;
            components.known(ctx, v, &key("component"), id)
        });
        let apply = |r: &mut Rule| {
            if let Some(c) = &condition {
                r.condition = c.clone();
            }
            if let Some(s) = sev {
                r.severity = s;
            }
            if let Some(d) = for_ {
                r.for_ = d;
            }
            if let Some(d) = keep {
                r.keep_firing_for = d;
            }
            if let Some(s) = &summary {
                r.summary = s.clone();
            }
            if let Some(s) = &description {
                r.description = s.clone();
            }
            if runbook.is_some() {
                r.runbook = runbook.clone();
            }
            if component.is_some() {
                r.component = component.clone();
            }
        };
        if is_builtin && condition.is_some() {
            // A new condition replaces every built-in rule of this name.
            let template = rules.iter().find(|r| r.name == name).cloned();
            rules.retain(|r| r.name != name);
            if let Some(mut r) = template {
                apply(&mut r);
                rules.push(r);
            }
        } else if is_builtin {
            rules.iter_mut().filter(|r| r.name == name).for_each(apply);
        } else if let (Some(c), Some(s)) = (condition.clone(), sev) {
            let component_rule = matches!(c, Condition::ComponentState { .. });
            let degraded_rule = matches!(c, Condition::TargetDegraded { .. });
            let mut r = Rule {
                name: name.clone(),
                severity: s,
                condition: c,
                for_: crate::config::alert::DEFAULT_FOR,
                keep_firing_for: crate::config::alert::DEFAULT_FOR,
                summary: if component_rule {
                    "Component {{target}} is {{labels.state}}".to_string()
                } else if degraded_rule {
                    "{{target}} is degraded ({{labels.reason}})".to_string()
                } else {
                    format!("{name} on {{{{target}}}}")
                },
                description: String::new(),
                runbook: None,
                component: None,
            };
            apply(&mut r);
            rules.push(r);
        }
    }
    config.rules = rules;
    config
}

const WINDOWS: [&str; 10] = [
    "5m", "30m", "1h", "2h", "6h", "1d", "3d", "7d", "30d", "90d",
];

fn condition(ctx: &mut Ctx<'_>, raw: &RawAlert, key: &dyn Fn(&str) -> String) -> Option<Condition> {
    if let Some(state) = &raw.state_at_least {
        if raw.metric.is_some()
            || raw.target_down.is_some()
            || raw.target_degraded.is_some()
            || raw.op.is_some()
            || raw.value.is_some()
            || raw.burn_rate.is_some()
        {
            ctx.error(
                state.span(),
                &key("state_at_least"),
                "state_at_least cannot be combined with metric, op, value, target_down, target_degraded or burn_rate",
            );
            return None;
        }
        let at_least = state.get_ref().as_str();
        if !rule::COMPONENT_STATES.contains(&at_least) {
            ctx.error(
                state.span(),
                &key("state_at_least"),
                format!(
                    "invalid state {at_least:?}: expected one of {}",
                    rule::COMPONENT_STATES.join(", ")
                ),
            );
            return None;
        }
        let Some(component) = &raw.component else {
            ctx.error(
                state.span(),
                &key("component"),
                "a component-state rule needs `component` (the status-page component's id)",
            );
            return None;
        };
        let component = ctx.label(component, &key("component"), "component")?;
        return Some(Condition::ComponentState {
            component,
            at_least: at_least.to_string(),
        });
    }
    if let Some(b) = &raw.burn_rate {
        if raw.metric.is_some()
            || raw.target_down.is_some()
            || raw.target_degraded.is_some()
            || raw.op.is_some()
            || raw.value.is_some()
        {
            ctx.error(
                b.span(),
                &key("burn_rate"),
                "burn_rate cannot be combined with metric, op, value, target_down or target_degraded",
            );
            return None;
        }
        let b = b.get_ref();
        let mut ok = true;
        for (w, k) in [(&b.long, "burn_rate.long"), (&b.short, "burn_rate.short")] {
            if !WINDOWS.contains(&w.get_ref().as_str()) {
                ctx.error(
                    w.span(),
                    &key(k),
                    format!(
                        "unknown window {:?}: expected one of {}",
                        w.get_ref(),
                        WINDOWS.join(", ")
                    ),
                );
                ok = false;
            }
        }
        let factor = b.factor.get_ref().get();
        if !(factor.is_finite() && factor > 0.0) {
            ctx.error(
                b.factor.span(),
                &key("burn_rate.factor"),
                "factor must be a positive number",
            );
            ok = false;
        }
        return ok.then(|| Condition::BurnRate {
            long: b.long.get_ref().clone(),
            short: b.short.get_ref().clone(),
            factor,
        });
    }
    if let Some(kind) = &raw.target_degraded {
        if raw.target_down.is_some() {
            ctx.error(
                kind.span(),
                &key("target_degraded"),
                "target_degraded cannot be combined with target_down: write one rule for each",
            );
            return None;
        }
        if raw.metric.is_some() || raw.op.is_some() || raw.value.is_some() {
            ctx.error(
                kind.span(),
                &key("target_degraded"),
                "target_degraded cannot be combined with metric, op or value",
            );
            return None;
        }
        let k = match kind.get_ref().as_str() {
            "any" => None,
            "probe" => Some(Kind::Probe),
            other => {
                let why = if matches!(other, "postgres" | "pgbouncer" | "redis") {
                    format!(
                        "invalid kind {other:?}: only probes are ever degraded (slower than \
                         `degraded_after`); expected probe or any"
                    )
                } else {
                    format!("invalid kind {other:?}: expected probe or any")
                };
                ctx.error(kind.span(), &key("target_degraded"), why);
                return None;
            }
        };
        return Some(Condition::TargetDegraded { kind: k });
    }
    if let Some(kind) = &raw.target_down {
        if raw.metric.is_some() || raw.op.is_some() || raw.value.is_some() {
            ctx.error(
                kind.span(),
                &key("target_down"),
                "target_down cannot be combined with metric, op or value",
            );
            return None;
        }
        let k = match kind.get_ref().as_str() {
            "any" => None,
            "postgres" => Some(Kind::Postgres),
            "pgbouncer" => Some(Kind::Pgbouncer),
            "redis" => Some(Kind::Redis),
            "probe" => Some(Kind::Probe),
            other => {
                ctx.error(
                    kind.span(),
                    &key("target_down"),
                    format!(
                        "invalid kind {other:?}: expected postgres, pgbouncer, redis, probe or any"
                    ),
                );
                return None;
            }
        };
        return Some(Condition::TargetDown { kind: k });
    }
    let mut ok = true;
    let family = match &raw.metric {
        Some(m) if valid_metric_name(m.get_ref()) => Some(m.get_ref().clone()),
        Some(m) => {
            ctx.error(
                m.span(),
                &key("metric"),
                format!("invalid metric name {:?}", m.get_ref()),
            );
            None
        }
        None => None,
    };
    let cmp = match &raw.op {
        Some(o) => {
            let c = Cmp::parse(o.get_ref());
            if c.is_none() {
                ctx.error(
                    o.span(),
                    &key("op"),
                    format!(
                        "invalid op {:?}: expected >, >=, <, <=, == or !=",
                        o.get_ref()
                    ),
                );
            }
            c
        }
        None => None,
    };
    let value = raw.value.as_ref().map(|v| v.get_ref().get());
    if let Some(v) = &raw.value
        && !v.get_ref().get().is_finite()
    {
        ctx.error(v.span(), &key("value"), "value must be a finite number");
        ok = false;
    }
    let missing: Vec<&str> = [
        ("metric", raw.metric.is_none()),
        ("op", raw.op.is_none()),
        ("value", raw.value.is_none()),
    ]
    .iter()
    .filter(|(_, m)| *m)
    .map(|(k, _)| *k)
    .collect();
    if !missing.is_empty() {
        let span = raw
            .metric
            .as_ref()
            .map(Spanned::span)
            .or_else(|| raw.op.as_ref().map(Spanned::span))
            .or_else(|| raw.value.as_ref().map(Spanned::span))
            .unwrap_or_else(|| raw.name.span());
        ctx.error(
            span,
            &key(missing[0]),
            format!(
                "a threshold rule needs metric, op and value; missing {}",
                missing.join(", ")
            ),
        );
        return None;
    }
    let matchers = raw
        .labels
        .as_ref()
        .map(|l| {
            l.get_ref()
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    match (family, cmp, value, ok) {
        (Some(family), Some(cmp), Some(value), true) => Some(Condition::Threshold {
            family,
            matchers,
            derive: Derive::Value,
            cmp,
            value,
        }),
        _ => None,
    }
}

fn valid_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// The alert options of one `[[discord]]` entry.
pub(super) struct RouteOptions {
    pub channel: Option<String>,
    pub min_severity: Severity,
    pub components: Vec<String>,
    pub mention_role: Option<String>,
    pub resolved_notice: bool,
}

pub(super) fn route_options(
    ctx: &mut Ctx<'_>,
    raw: &crate::config::raw::RawDiscord,
    i: usize,
    known: &KnownComponents,
) -> RouteOptions {
    let key = |k: &str| format!("discord[{i}].{k}");
    let min_severity = raw
        .min_severity
        .as_ref()
        .and_then(|v| severity(ctx, v, &key("min_severity")))
        .unwrap_or(crate::config::alert::DEFAULT_MIN_SEVERITY);
    let mention_role = raw.mention_role.as_ref().and_then(|v| {
        let text = ctx.interpolate(v, &key("mention_role"))?;
        if !text.is_empty() && text.len() <= 20 && text.bytes().all(|b| b.is_ascii_digit()) {
            Some(text)
        } else {
            ctx.error(
                v.span(),
                &key("mention_role"),
                "mention_role must be a role id (digits; in Discord: right-click the role, Copy Role ID)",
            );
            None
        }
    });
    let channel = raw
        .channel
        .as_ref()
        .and_then(|v| ctx.label(v, &key("channel"), "channel"));
    let mut components = Vec::new();
    if let Some(list) = &raw.components {
        for (j, c) in list.get_ref().iter().enumerate() {
            let c_key = format!("discord[{i}].components[{j}]");
            if let Some(id) = ctx
                .label(c, &c_key, "component")
                .and_then(|id| known.known(ctx, c, &c_key, id))
            {
                components.push(id);
            }
        }
    }
    RouteOptions {
        channel,
        min_severity,
        components,
        mention_role,
        resolved_notice: raw
            .resolved_notice
            .as_ref()
            .map_or(crate::config::alert::DEFAULT_RESOLVED_NOTICE, |b| {
                *b.get_ref()
            }),
    }
}
