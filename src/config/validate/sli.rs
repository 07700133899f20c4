//! Validation of `[sli]`, `[[component]]` and `[[maintenance]]` (see `docs/sli.md`).

use std::collections::HashMap;
use std::time::Duration;

use toml::Spanned;

use super::Ctx;
use crate::config::options::{ComponentOptions, SliOptions};
use crate::config::raw::{RawComponent, RawConfig, RawMaintenance, RawSli, RawThreshold};
use crate::config::{
    ComponentConfig, MaintenanceSchedule, MaintenanceWindow, MastodonConfig, ProbeTarget,
    SignalConfig, ThresholdSignal,
};
use crate::model::Kind;
use crate::sli::components::slug;
use crate::sli::{maintenance, preset};

/// Longest recurring maintenance window.
const MAX_RECURRING: Duration = Duration::from_secs(7 * 86_400);

pub(super) fn sli_options(ctx: &mut Ctx<'_>, raw: &RawSli) -> SliOptions {
    let mut options = SliOptions::default();
    let set = |ctx: &mut Ctx<'_>,
               value: &Option<Spanned<String>>,
               key: &str,
               min: Duration,
               target: &mut Duration| {
        let Some(v) = value else { return };
        let key = format!("sli.{key}");
        if let Some(d) = ctx.duration(v, &key) {
            if d < min {
                ctx.error(
                    v.span(),
                    &key,
                    format!("must be at least {}", show_min(min)),
                );
            } else {
                *target = d;
            }
        }
    };
    let second = Duration::from_secs(1);
    let hour = Duration::from_secs(3600);
    set(
        ctx,
        &raw.evaluate_every,
        "evaluate_every",
        second,
        &mut options.evaluate_every,
    );
    set(
        ctx,
        &raw.flush_every,
        "flush_every",
        second,
        &mut options.flush_every,
    );
    set(
        ctx,
        &raw.recompute_every,
        "recompute_every",
        second,
        &mut options.recompute_every,
    );
    set(
        ctx,
        &raw.raw_retention,
        "raw_retention",
        hour,
        &mut options.raw_retention,
    );
    // Windows reach back 90 days: buckets must outlive them.
    let ninety_one_days = Duration::from_secs(91 * 86_400);
    set(
        ctx,
        &raw.bucket_retention,
        "bucket_retention",
        ninety_one_days,
        &mut options.bucket_retention,
    );
    set(
        ctx,
        &raw.history_retention,
        "history_retention",
        ninety_one_days,
        &mut options.history_retention,
    );
    options
}

/// `1s`, `1h`, `91d`: the minimums above, as written in the config.
fn show_min(d: Duration) -> String {
    let secs = d.as_secs();
    if secs % 86_400 == 0 {
        format!("{}d", secs / 86_400)
    } else if secs % 3600 == 0 {
        format!("{}h", secs / 3600)
    } else {
        format!("{secs}s")
    }
}

pub(super) fn components(
    ctx: &mut Ctx<'_>,
    raw: &RawConfig,
    probes: &[ProbeTarget],
) -> Vec<ComponentConfig> {
    let probe_names: Vec<&str> = probes.iter().map(|p| p.common.name.as_str()).collect();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::new();
    for (i, entry) in raw.component.iter().enumerate() {
        if let Some(c) = component(ctx, i, entry.get_ref(), &probe_names, &mut seen) {
            out.push(c);
        }
    }
    out
}

fn component(
    ctx: &mut Ctx<'_>,
    i: usize,
    raw: &RawComponent,
    probe_names: &[&str],
    seen: &mut HashMap<String, usize>,
) -> Option<ComponentConfig> {
    let key = format!("component[{i}]");
    let name = ctx.interpolate(&raw.name, &format!("{key}.name"));
    if name.as_deref().is_some_and(|n| n.trim().is_empty()) {
        ctx.error(
            raw.name.span(),
            &format!("{key}.name"),
            "name must not be empty",
        );
    }
    let id = match (&raw.id, &name) {
        (Some(v), _) => {
            let id_key = format!("{key}.id");
            ctx.interpolate(v, &id_key)
                .and_then(|id| check_id(ctx, v, &id_key, id))
        }
        (None, Some(n)) => {
            let id = slug(n);
            if id.is_empty() {
                ctx.error(
                    raw.name.span(),
                    &format!("{key}.name"),
                    "name has no letters or digits for an id: set id",
                );
                None
            } else {
                Some(id)
            }
        }
        (None, None) => None,
    };
    if let Some(id) = &id {
        if let Some(first) = seen.get(id) {
            let span = raw.id.as_ref().map_or(raw.name.span(), Spanned::span);
            ctx.error(
                span,
                &format!("{key}.id"),
                format!("duplicate component id {id:?} (already used by component[{first}])"),
            );
        } else {
            seen.insert(id.clone(), i);
        }
    }
    let description = match &raw.description {
        Some(v) => ctx.interpolate(v, &format!("{key}.description")),
        None => Some(String::new()),
    };
    let mut signals = Vec::new();
    let mut ok = true;
    for (p, probe) in raw.probes.iter().enumerate() {
        let probe_key = format!("{key}.probes[{p}]");
        match ctx.interpolate(probe, &probe_key) {
            Some(name) if probe_names.contains(&name.as_str()) => {
                signals.push(SignalConfig::Probe { probe: name })
            }
            Some(name) => {
                ctx.error(
                    probe.span(),
                    &probe_key,
                    format!("unknown probe {name:?}: no [[probe]] has this name"),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    for (t, threshold) in raw.threshold.iter().enumerate() {
        match threshold_signal(ctx, &format!("{key}.threshold[{t}]"), threshold) {
            Some(s) => signals.push(SignalConfig::Threshold(s)),
            None => ok = false,
        }
    }
    if ok && signals.is_empty() {
        ctx.error(
            raw.name.span(),
            &key,
            "a component needs probes or at least one [[component.threshold]]",
        );
        ok = false;
    }
    let options = component_options(ctx, &key, raw);
    if !ok {
        return None;
    }
    Some(ComponentConfig {
        id: id?,
        name: name?,
        description: description?,
        signals,
        options: options?,
    })
}

fn check_id(ctx: &mut Ctx<'_>, v: &Spanned<String>, key: &str, id: String) -> Option<String> {
    let valid = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if valid {
        Some(id)
    } else {
        ctx.error(
            v.span(),
            key,
            format!("invalid id {id:?}: use 1 to 64 lowercase letters, digits, \"_\" and \"-\""),
        );
        None
    }
}

fn component_options(ctx: &mut Ctx<'_>, key: &str, raw: &RawComponent) -> Option<ComponentOptions> {
    let mut options = ComponentOptions::default();
    let mut ok = true;
    if let Some(v) = &raw.objective {
        let o = *v.get_ref();
        if o > 0.0 && o < 1.0 {
            options.objective = o;
        } else {
            ctx.error(
                v.span(),
                &format!("{key}.objective"),
                format!("objective {o} must be between 0 and 1, like 0.995"),
            );
            ok = false;
        }
    }
    for (value, name, target) in [
        (
            &raw.failures_to_down,
            "failures_to_down",
            &mut options.failures_to_down,
        ),
        (
            &raw.successes_to_up,
            "successes_to_up",
            &mut options.successes_to_up,
        ),
    ] {
        let Some(v) = value else { continue };
        match u32::try_from(*v.get_ref()) {
            Ok(n) if (1..=100).contains(&n) => *target = n,
            _ => {
                ctx.error(
                    v.span(),
                    &format!("{key}.{name}"),
                    format!("{name} must be between 1 and 100"),
                );
                ok = false;
            }
        }
    }
    if let Some(v) = &raw.stale_after {
        match ctx.duration(v, &format!("{key}.stale_after")) {
            Some(d) if !d.is_zero() => options.stale_after = d,
            Some(_) => {
                ctx.error(
                    v.span(),
                    &format!("{key}.stale_after"),
                    "stale_after must be greater than zero",
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    ok.then_some(options)
}

fn threshold_signal(
    ctx: &mut Ctx<'_>,
    key: &str,
    entry: &Spanned<RawThreshold>,
) -> Option<ThresholdSignal> {
    let raw = entry.get_ref();
    let mut ok = true;
    let metric = ctx.interpolate(&raw.metric, &format!("{key}.metric"));
    if let Some(m) = &metric {
        let valid = !m.is_empty()
            && m.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
            && !m.starts_with(|c: char| c.is_ascii_digit());
        if !valid {
            ctx.error(
                raw.metric.span(),
                &format!("{key}.metric"),
                format!("invalid metric name {m:?}"),
            );
            ok = false;
        }
    }
    let mut labels = Vec::new();
    let mut entries: Vec<_> = raw.labels.iter().collect();
    entries.sort_by_key(|(name, _)| name.span().start);
    for (name, value) in entries {
        let label_key = format!("{key}.labels.{}", name.get_ref());
        match ctx.interpolate(value, &label_key) {
            Some(v) => labels.push((name.get_ref().clone(), v)),
            None => ok = false,
        }
    }
    let target_kind = match &raw.target_kind {
        None => None,
        Some(v) => {
            let kind_key = format!("{key}.target_kind");
            match ctx.interpolate(v, &kind_key) {
                Some(k) => match Kind::ALL.into_iter().find(|kind| kind.name() == k) {
                    Some(kind) => Some(kind),
                    None => {
                        ctx.error(
                            v.span(),
                            &kind_key,
                            format!("unknown target kind {k:?}: expected postgres, pgbouncer, redis or probe"),
                        );
                        ok = false;
                        None
                    }
                },
                None => {
                    ok = false;
                    None
                }
            }
        }
    };
    let target_name = match &raw.target {
        None => None,
        Some(v) => {
            let t = ctx.interpolate(v, &format!("{key}.target"));
            ok &= t.is_some();
            t
        }
    };
    let limits = [
        ("degraded_above", &raw.degraded_above),
        ("partial_outage_above", &raw.partial_outage_above),
        ("major_outage_above", &raw.major_outage_above),
    ];
    let set: Vec<(&str, &Spanned<f64>)> = limits
        .iter()
        .filter_map(|(n, v)| v.as_ref().map(|v| (*n, v)))
        .collect();
    if set.is_empty() {
        ctx.error(
            entry.span(),
            key,
            "set at least one of degraded_above, partial_outage_above, major_outage_above",
        );
        ok = false;
    }
    for pair in set.windows(2) {
        let ((lower_name, lower), (name, v)) = (pair[0], pair[1]);
        if *v.get_ref() <= *lower.get_ref() {
            ctx.error(
                v.span(),
                &format!("{key}.{name}"),
                format!("{name} must be greater than {lower_name}"),
            );
            ok = false;
        }
    }
    for (name, v) in &set {
        if !v.get_ref().is_finite() {
            ctx.error(
                v.span(),
                &format!("{key}.{name}"),
                "must be a finite number",
            );
            ok = false;
        }
    }
    if !ok {
        return None;
    }
    Some(ThresholdSignal {
        metric: metric?,
        labels,
        target_kind,
        target_name,
        degraded_above: raw.degraded_above.as_ref().map(|v| *v.get_ref()),
        partial_outage_above: raw.partial_outage_above.as_ref().map(|v| *v.get_ref()),
        major_outage_above: raw.major_outage_above.as_ref().map(|v| *v.get_ref()),
    })
}

/// `[[maintenance]]`, checked against the component ids in effect: the configured ones,
/// else the Mastodon preset's.
pub(super) fn maintenance_windows(
    ctx: &mut Ctx<'_>,
    raw: &RawConfig,
    components: &[ComponentConfig],
    mastodon: &MastodonConfig,
    probes: &[ProbeTarget],
) -> Vec<MaintenanceWindow> {
    let ids: Vec<String> = if !components.is_empty() || !raw.component.is_empty() {
        components.iter().map(|c| c.id.clone()).collect()
    } else if mastodon.local_domain.is_some() || mastodon.web_domain.is_some() {
        let names: Vec<&str> = probes.iter().map(|p| p.common.name.as_str()).collect();
        preset::mastodon_components(&names)
            .into_iter()
            .map(|c| c.id)
            .collect()
    } else {
        Vec::new()
    };
    let check_ids = components.len() == raw.component.len();
    let mut out = Vec::new();
    for (i, entry) in raw.maintenance.iter().enumerate() {
        if let Some(w) = maintenance_window(ctx, i, entry, &ids, check_ids) {
            out.push(w);
        }
    }
    out
}

fn maintenance_window(
    ctx: &mut Ctx<'_>,
    i: usize,
    entry: &Spanned<RawMaintenance>,
    ids: &[String],
    check_ids: bool,
) -> Option<MaintenanceWindow> {
    let raw = entry.get_ref();
    let key = format!("maintenance[{i}]");
    let mut ok = true;
    let title = ctx.interpolate(&raw.title, &format!("{key}.title"));
    if title.as_deref().is_some_and(|t| t.trim().is_empty()) {
        ctx.error(
            raw.title.span(),
            &format!("{key}.title"),
            "title must not be empty",
        );
        ok = false;
    }
    let mut components = Vec::new();
    for (c, v) in raw.components.iter().enumerate() {
        let c_key = format!("{key}.components[{c}]");
        match ctx.interpolate(v, &c_key) {
            Some(id) if !check_ids || ids.contains(&id) => components.push(id),
            Some(id) => {
                ctx.error(v.span(), &c_key, format!("unknown component {id:?}"));
                ok = false;
            }
            None => ok = false,
        }
    }
    let once = raw.start.is_some() || raw.end.is_some();
    let recurring = raw.at.is_some() || raw.duration.is_some() || !raw.weekdays.is_empty();
    let schedule = match (once, recurring) {
        (true, true) | (false, false) => {
            ctx.error(
                entry.span(),
                &key,
                "use either start and end (one-off) or at and duration (recurring)",
            );
            None
        }
        (true, false) => once_schedule(ctx, &key, entry),
        (false, true) => recurring_schedule(ctx, &key, entry),
    };
    if !ok {
        return None;
    }
    Some(MaintenanceWindow {
        title: title?,
        components,
        schedule: schedule?,
    })
}

fn once_schedule(
    ctx: &mut Ctx<'_>,
    key: &str,
    entry: &Spanned<RawMaintenance>,
) -> Option<MaintenanceSchedule> {
    let raw = entry.get_ref();
    let time = |ctx: &mut Ctx<'_>, v: &Option<Spanned<String>>, name: &str| {
        let field_key = format!("{key}.{name}");
        let Some(v) = v else {
            ctx.error(
                entry.span(),
                key,
                format!("a one-off maintenance needs {name}"),
            );
            return None;
        };
        let text = ctx.interpolate(v, &field_key)?;
        match humantime::parse_rfc3339_weak(text.trim()) {
            Ok(t) => Some((t, v.span())),
            Err(_) => {
                ctx.error(v.span(), &field_key, format!("invalid time {text:?}: expected RFC 3339 in UTC, like \"2026-11-29T02:00:00Z\""));
                None
            }
        }
    };
    let start = time(ctx, &raw.start, "start");
    let end = time(ctx, &raw.end, "end");
    let ((start, _), (end, end_span)) = (start?, end?);
    if end <= start {
        ctx.error(end_span, &format!("{key}.end"), "end must be after start");
        return None;
    }
    Some(MaintenanceSchedule::Once { start, end })
}

fn recurring_schedule(
    ctx: &mut Ctx<'_>,
    key: &str,
    entry: &Spanned<RawMaintenance>,
) -> Option<MaintenanceSchedule> {
    let raw = entry.get_ref();
    let mut ok = true;
    let mut weekdays = Vec::new();
    for (d, v) in raw.weekdays.iter().enumerate() {
        let d_key = format!("{key}.weekdays[{d}]");
        match ctx
            .interpolate(v, &d_key)
            .map(|s| maintenance::parse_weekday(&s))
        {
            Some(Some(day)) => weekdays.push(day),
            Some(None) => {
                ctx.error(
                    v.span(),
                    &d_key,
                    format!(
                        "invalid weekday {:?}: expected mon, tue, wed, thu, fri, sat or sun",
                        v.get_ref()
                    ),
                );
                ok = false;
            }
            None => ok = false,
        }
    }
    let start_minute_of_day = match &raw.at {
        None => {
            ctx.error(
                entry.span(),
                key,
                "a recurring maintenance needs at (UTC time of day, like \"03:00\")",
            );
            None
        }
        Some(v) => {
            let at_key = format!("{key}.at");
            match ctx
                .interpolate(v, &at_key)
                .map(|s| maintenance::parse_time_of_day(&s))
            {
                Some(Some(m)) => Some(m),
                Some(None) => {
                    ctx.error(
                        v.span(),
                        &at_key,
                        format!(
                            "invalid time of day {:?}: expected HH:MM in UTC, like \"03:00\"",
                            v.get_ref()
                        ),
                    );
                    None
                }
                None => None,
            }
        }
    };
    let duration = match &raw.duration {
        None => {
            ctx.error(
                entry.span(),
                key,
                "a recurring maintenance needs duration, like \"30m\"",
            );
            None
        }
        Some(v) => {
            let d_key = format!("{key}.duration");
            match ctx.duration(v, &d_key) {
                Some(d) if !d.is_zero() && d <= MAX_RECURRING => Some(d),
                Some(_) => {
                    ctx.error(
                        v.span(),
                        &d_key,
                        "duration must be greater than zero and at most 7 days",
                    );
                    None
                }
                None => None,
            }
        }
    };
    if !ok {
        return None;
    }
    Some(MaintenanceSchedule::Recurring {
        weekdays,
        start_minute_of_day: start_minute_of_day?,
        duration: duration?,
    })
}
