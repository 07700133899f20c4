//! The public HTML pages (maud, no JavaScript, no inline style): `/` (banner, active
//! incidents, maintenance, components with 90 daily bars, availability windows, latency
//! sparklines, the uptime formula), `/history` and `/incidents/<id>`. Every text that comes
//! from configuration, collectors or people is escaped by maud; incident text goes through
//! [`super::text::linkify`].

use std::fmt::Write as _;
use std::time::SystemTime;

use maud::{DOCTYPE, Markup, html};

use super::api_v2::time;
use super::badges::percent;
use super::model::{
    Blindness, ComponentView, MaintenanceStatus, MaintenanceView, PageModel, window_minutes,
};
use super::text::linkify;
use crate::sli::ComponentStatus;
use crate::sli::math::{self, DailyFigure};
use crate::store::incidents::{Impact, Incident};

pub const UPTIME_FORMULA: &str = "Availability = good minutes ÷ (good minutes + bad minutes). \
     A minute is good when the component was operational; degraded performance, partial and \
     major outage minutes are bad. Maintenance minutes and minutes without data (fedimeter \
     itself was not checking) are left out and shown as such, never counted as up.";

fn status_label(status: Option<ComponentStatus>) -> &'static str {
    match status {
        Some(ComponentStatus::Operational) => "Operational",
        Some(ComponentStatus::DegradedPerformance) => "Degraded performance",
        Some(ComponentStatus::PartialOutage) => "Partial outage",
        Some(ComponentStatus::MajorOutage) => "Major outage",
        Some(ComponentStatus::UnderMaintenance) => "Under maintenance",
        None => "No data yet",
    }
}

fn status_class(status: Option<ComponentStatus>) -> &'static str {
    status.map_or("no_data", ComponentStatus::as_str)
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// `2026-11-20` → `20 Nov 2026`.
pub fn human_date(iso: &str) -> String {
    let mut parts = iso.split('-');
    let (Some(y), Some(m), Some(d)) = (parts.next(), parts.next(), parts.next()) else {
        return iso.to_string();
    };
    let month = m
        .parse::<usize>()
        .ok()
        .and_then(|m| MONTHS.get(m.wrapping_sub(1)));
    match (month, d.parse::<u32>()) {
        (Some(month), Ok(d)) => format!("{d} {month} {y}"),
        _ => iso.to_string(),
    }
}

/// `2026-11-20 14:03 UTC` from a time.
fn human_time(t: SystemTime) -> String {
    let iso = time(t);
    let date = human_date(&iso[..10.min(iso.len())]);
    format!("{date} {} UTC", iso.get(11..16).unwrap_or(""))
}

fn minutes(n: i64) -> String {
    if n == 1 {
        "1 min".into()
    } else {
        format!("{n} min")
    }
}

fn worst_words(s: ComponentStatus) -> &'static str {
    match s {
        ComponentStatus::DegradedPerformance => "degraded performance",
        ComponentStatus::PartialOutage => "partial outage",
        ComponentStatus::MajorOutage => "major outage",
        ComponentStatus::UnderMaintenance => "maintenance",
        ComponentStatus::Operational => "operational",
    }
}

/// A bar's accessible text, e.g. "20 Nov 2026: 99.93 %, 1 min partial outage".
pub fn bar_text(day: &DailyFigure) -> String {
    let date = human_date(&day.date);
    let Some(availability) = day.availability else {
        return if day.counts.maintenance > 0 {
            format!(
                "{date}: maintenance only ({})",
                minutes(day.counts.maintenance)
            )
        } else {
            format!("{date}: no data")
        };
    };
    let mut text = format!("{date}: {} %", percent(availability));
    if day.counts.bad > 0 {
        let worst = day.worst.unwrap_or(ComponentStatus::MajorOutage);
        let _ = write!(text, ", {} {}", minutes(day.counts.bad), worst_words(worst));
    } else {
        text.push_str(", no downtime");
    }
    if day.counts.maintenance > 0 {
        let _ = write!(text, ", {} maintenance", minutes(day.counts.maintenance));
    }
    if day.no_data_minutes > 0 {
        let _ = write!(text, ", {} no data", minutes(day.no_data_minutes));
    }
    text
}

/// The bar's colour class, by the day's availability band *and* its worst state:
///
/// | availability      | band       | colour |
/// |-------------------|------------|--------|
/// | ≥ 99.9 %          | `ok`       | green  |
/// | 99 % – < 99.9 %   | `minor`    | yellow |
/// | 95 % – < 99 %     | `major`    | orange |
/// | < 95 %            | `critical` | red    |
///
/// The worst state caps the band (a day of only degraded performance is at most `minor`,
/// of at most partial outage at most `major`: slowness is not an outage) and lifts a
/// green day to `minor` when it had any partial or major outage minute. Days without
/// counted minutes are `maint` (maintenance only) or `nodata`.
pub fn bar_class(day: &DailyFigure) -> &'static str {
    const CLASSES: [&str; 4] = ["ok", "minor", "major", "critical"];
    let Some(availability) = day.availability else {
        return if day.counts.maintenance > 0 || day.worst == Some(ComponentStatus::UnderMaintenance)
        {
            "maint"
        } else {
            "nodata"
        };
    };
    let band = if availability >= 0.999 {
        0
    } else if availability >= 0.99 {
        1
    } else if availability >= 0.95 {
        2
    } else {
        3
    };
    let cap = match day.worst {
        Some(ComponentStatus::DegradedPerformance) => 1,
        Some(ComponentStatus::PartialOutage) => 2,
        // A bad minute whose state was not kept counts as the worst.
        Some(ComponentStatus::MajorOutage) | None => 3,
        Some(ComponentStatus::Operational | ComponentStatus::UnderMaintenance) => {
            if day.counts.bad > 0 { 3 } else { 0 }
        }
    };
    let outage = matches!(
        day.worst,
        Some(ComponentStatus::PartialOutage | ComponentStatus::MajorOutage)
    );
    let class = band.min(cap).max(usize::from(outage));
    CLASSES[class]
}

/// The page around `body`; the footer names the time of the last check only on `/`
/// (`last_check`), so `/history` and the incident pages change only with what they show
/// and are not re-rendered at every check.
fn layout(model: &PageModel, heading: &str, body: Markup, last_check: bool) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                // No favicon request (a 404 in every browser console).
                link rel="icon" href="data:,";
                title { (heading) }
                link rel="stylesheet" href=(crate::web::assets::style_href());
                link rel="alternate" type="application/atom+xml" title="Incident history (Atom)" href="/history.atom";
                link rel="alternate" type="application/rss+xml" title="Incident history (RSS)" href="/history.rss";
            }
            body {
                header.site {
                    a.home href="/" {
                        @if let Some(logo) = &model.logo_url {
                            img.logo src=(logo) alt="" width="32" height="32";
                        }
                        span { (model.title) }
                    }
                    nav aria-label="Site" {
                        ul {
                            li { a href="/history" { "History" } }
                            @if let Some(about) = &model.about_url {
                                li { a href=(about) rel="noopener" { "About" } }
                            }
                        }
                    }
                }
                main { (body) }
                footer {
                    @if let (Some(t), true) = (model.checked_at, last_check) {
                        "Last check " time datetime=(time(t)) { (human_time(t)) } ". "
                    }
                    "Feeds: " a href="/history.atom" { "Atom" } ", " a href="/history.rss" { "RSS" }
                    ". API: " a href="/api/v2/summary.json" { "/api/v2" } ". Powered by fedimeter."
                }
            }
        }
    }
}

fn banner(model: &PageModel) -> Markup {
    let class = if model.blind.is_some() {
        "degraded"
    } else if model.components.iter().all(|c| c.status.is_none()) {
        "unknown"
    } else if model.description() == "Service Under Maintenance" {
        "maintenance"
    } else {
        model.indicator().as_str()
    };
    html! {
        @match (&model.monitoring_degraded, model.blind.is_some()) {
            // Blind: the one banner says so, in a neutral colour, instead of an outage.
            (Some(reason), true) => {
                div.banner.degraded role="status" { "Monitoring degraded: " (reason) }
            }
            (reason, _) => {
                @if let Some(reason) = reason {
                    p.notice.degraded role="status" { "Monitoring degraded: " (reason) }
                }
                div class={ "banner " (class) } role="status" { (model.description()) }
            }
        }
    }
}

/// A component's state as shown: its current state, or while fedimeter is blind for it
/// "Not checked right now" (or since the last check) with the last known state.
fn component_state(model: &PageModel, c: &ComponentView) -> Markup {
    if !c.not_checked {
        return html! {
            span class={ "status " (status_class(c.status)) } { (status_label(c.status)) }
        };
    }
    let stale = model.blind == Some(Blindness::ChecksStopped);
    html! {
        span.status.not_checked {
            @if let (true, Some(t)) = (stale, model.checked_at) {
                "Not checked since " time datetime=(time(t)) { (human_time(t)) }
            } @else {
                "Not checked right now"
            }
            @if let Some(s) = c.status {
                span.last-known { " · last known: " (status_label(Some(s))) }
            }
        }
    }
}

fn impact_label(impact: Impact) -> &'static str {
    match impact {
        Impact::None => "No impact",
        Impact::Minor => "Minor",
        Impact::Major => "Major",
        Impact::Critical => "Critical",
    }
}

fn incident_timeline(i: &Incident) -> Markup {
    html! {
        ol.timeline {
            @for u in i.updates.iter().rev() {
                li {
                    p.update-head {
                        strong { (u.status.label()) }
                        " · " time datetime=(time(u.created_at)) { (human_time(u.created_at)) }
                    }
                    p.update-body { (linkify(&u.body)) }
                }
            }
        }
    }
}

fn incident_card(model: &PageModel, i: &Incident, heading_level: u8) -> Markup {
    let link = format!("/incidents/{}", i.id);
    let title = html! { a href=(link) { (i.title) } };
    html! {
        article class={ "incident impact-" (i.impact.as_str()) } {
            @if heading_level == 2 { h2 { (title) } } @else { h3 { (title) } }
            p.muted {
                (impact_label(i.impact)) " · " (i.status.label())
                @if !i.components.is_empty() {
                    " · Affects "
                    @for (n, c) in i.components.iter().enumerate() {
                        @if n > 0 { ", " }
                        (model.component_name(&c.component))
                    }
                }
            }
            (incident_timeline(i))
        }
    }
}

fn maintenance_item(model: &PageModel, m: &MaintenanceView) -> Markup {
    html! {
        li id={ "maintenance-" (m.id) } {
            strong { (m.title) }
            " " span class={ "pill " (m.status.as_str()) } {
                @match m.status {
                    MaintenanceStatus::Scheduled => "Scheduled",
                    MaintenanceStatus::InProgress => "In progress",
                    MaintenanceStatus::Completed => "Completed",
                }
            }
            br;
            time datetime=(time(m.starts_at)) { (human_time(m.starts_at)) }
            " – "
            time datetime=(time(m.ends_at)) { (human_time(m.ends_at)) }
            br;
            span.muted {
                @if m.components.is_empty() { "All components" } @else {
                    @for (n, c) in m.components.iter().enumerate() {
                        @if n > 0 { ", " }
                        (model.component_name(c))
                    }
                }
            }
            @if !m.body.is_empty() { p { (linkify(&m.body)) } }
        }
    }
}

/// An inline SVG of the latency slots (no script, no external request): a line through
/// consecutive filled slots, broken at gaps, and a dot for a slot without a filled
/// neighbour (a lone "M x,y" would draw nothing). `None` without any filled slot.
pub fn sparkline(points: &[Option<f64>]) -> Option<Markup> {
    let values: Vec<f64> = points.iter().flatten().copied().collect();
    if values.is_empty() {
        return None;
    }
    let max = values.iter().copied().fold(0.0_f64, f64::max);
    let (w, h) = (240.0, 32.0);
    let step = w / (points.len().max(2) - 1) as f64;
    // All-zero values (a sub-millisecond check) sit on the baseline.
    let scale = if max > 0.0 { max } else { 1.0 };
    let xy = |i: usize, v: f64| (i as f64 * step, h - 2.0 - (v / scale) * (h - 4.0));
    let filled = |i: Option<usize>| i.and_then(|i| points.get(i)).is_some_and(Option::is_some);
    let mut path = String::new();
    let mut dots = Vec::new();
    for (i, p) in points.iter().enumerate() {
        let Some(v) = p else { continue };
        let (x, y) = xy(i, *v);
        let before = filled(i.checked_sub(1));
        let after = filled(Some(i + 1));
        match (before, after) {
            (false, false) => dots.push((format!("{x:.1}"), format!("{y:.1}"))),
            (false, true) => {
                let _ = write!(path, "M{x:.1},{y:.1} ");
            }
            (true, _) => {
                let _ = write!(path, "L{x:.1},{y:.1} ");
            }
        }
    }
    let mean = values.iter().sum::<f64>() / values.len() as f64;
    let label =
        format!("Response time over the last 24 hours: mean {mean:.0} ms, highest {max:.0} ms");
    Some(html! {
        figure.sparkline {
            svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 240 32" width="240" height="32" role="img" aria-label=(label) {
                title { (label) }
                @if !path.is_empty() {
                    path d=(path.trim_end()) fill="none" stroke="currentColor" stroke-width="1.5" {}
                }
                @for (cx, cy) in &dots {
                    circle cx=(cx) cy=(cy) r="2" fill="currentColor" {}
                }
            }
            figcaption.muted { "Response time, 24 h: mean " (format!("{mean:.0}")) " ms, max " (format!("{max:.0}")) " ms" }
        }
    })
}

fn windows(c: &ComponentView) -> Markup {
    html! {
        dl.windows {
            @for (label, shown, counts) in &c.windows {
                div {
                    dt { (shown) }
                    dd {
                        @match counts.availability() {
                            Some(a) => { (percent(a)) " %" }
                            None => { "no data" }
                        }
                        @let no_data = counts.no_data(window_minutes(label) - math::UNWRITTEN_MINUTES);
                        @if counts.maintenance > 0 || no_data > 0 {
                            span.muted {
                                " ("
                                @if counts.maintenance > 0 { (minutes(counts.maintenance)) " maintenance" }
                                @if counts.maintenance > 0 && no_data > 0 { ", " }
                                @if no_data > 0 { (minutes(no_data)) " no data" }
                                ")"
                            }
                        }
                    }
                }
            }
        }
    }
}

fn component(model: &PageModel, c: &ComponentView) -> Markup {
    html! {
        li.component id={ "component-" (c.id) } {
            div.component-head {
                h3 { (c.name) }
                (component_state(model, c))
            }
            @if !c.description.is_empty() { p.muted { (c.description) } }
            @if let Some(q) = c.queue_latency_seconds {
                p.muted { "Queue latency now: " (format!("{q:.1}")) " s" }
            }
            @if model.history_available && !c.days.is_empty() {
                ol.bars aria-label={ "Daily availability of " (c.name) ", last 90 days" } {
                    @for day in &c.days {
                        li tabindex="0" class={ "bar " (bar_class(day)) } {
                            span.tip { (bar_text(day)) }
                        }
                    }
                }
                div.bars-legend.muted aria-hidden="true" { span { "90 days ago" } span { "Today" } }
                (windows(c))
                @if let Some(s) = sparkline(&c.latency_ms) { (s) }
            }
        }
    }
}

/// `/`
pub fn index(model: &PageModel) -> Markup {
    let active: Vec<&Incident> = model.unresolved().collect();
    let body = html! {
        h1 { (model.title) }
        (banner(model))
        @if !active.is_empty() {
            section aria-labelledby="active-incidents" {
                h2 #active-incidents { "Active incidents" }
                @for i in &active { (incident_card(model, i, 3)) }
            }
        }
        @if !model.maintenances.is_empty() {
            section aria-labelledby="maintenance" {
                h2 #maintenance { "Scheduled maintenance" }
                ul.maintenances { @for m in &model.maintenances { (maintenance_item(model, m)) } }
            }
        }
        section aria-labelledby="components" {
            h2 #components { "Components" }
            @if !model.history_available {
                p.notice { "History temporarily unavailable: current states only." }
            }
            @if model.components.is_empty() {
                p { "fedimeter is running, but it does not monitor anything yet. Add targets to "
                    code { "fedimeter.toml" } " and restart it, for example:" }
                pre { "[mastodon]\nenv_file = \"/home/mastodon/live/.env.production\"\n\n[[probe]]\nname = \"web\"\nurl = \"https://example.social/health\"" }
                p.muted { "See fedimeter.example.toml for every key, and "
                    code { "fedimeter check-config" } " to validate a file." }
            } @else {
                ul.components { @for c in &model.components { (component(model, c)) } }
            }
            @if model.history_available && model.components.iter().any(|c| !c.days.is_empty()) {
                p.muted.formula { (UPTIME_FORMULA) }
            }
        }
        @if model.instance.users.is_some() || model.instance.monthly_active_users.is_some() {
            section aria-labelledby="instance" {
                h2 #instance { "This server" }
                dl.windows {
                    @if let Some(u) = model.instance.users { div { dt { "Users" } dd { (format!("{u:.0}")) } } }
                    @if let Some(u) = model.instance.monthly_active_users { div { dt { "Active this month" } dd { (format!("{u:.0}")) } } }
                }
            }
        }
        section aria-labelledby="recent" {
            h2 #recent { "Past incidents" }
            @let past: Vec<&Incident> = model.incidents.iter().filter(|i| i.is_resolved()).take(5).collect();
            @if past.is_empty() { p.muted { "No incidents reported." } }
            @else {
                ul.past { @for i in past {
                    li { a href={ "/incidents/" (i.id) } { (i.title) } " · "
                         time datetime=(time(i.created_at)) { (human_time(i.created_at)) } }
                } }
                p { a href="/history" { "All incidents" } }
            }
        }
    };
    layout(model, &model.title, body, true)
}

/// The URL of `/history` page `page` (page 1 is `/history` itself).
pub fn history_url(page: usize) -> String {
    if page <= 1 {
        "/history".into()
    } else {
        format!("/history?page={page}")
    }
}

/// `/history` (page 1) and `/history?page=N`: every published incident, newest first,
/// [`super::model::HISTORY_PAGE_SIZE`] a page, with plain links between the pages.
pub fn history(model: &PageModel, page: usize) -> Markup {
    let pages = model.history_pages();
    let heading = if page > 1 {
        format!("Incident history, page {page} of {pages} · {}", model.title)
    } else {
        format!("Incident history · {}", model.title)
    };
    let body = html! {
        h1 { "Incident history" }
        @if !model.history_available { p.notice { "History temporarily unavailable." } }
        @if model.incidents.is_empty() { p.muted { "No incidents reported." } }
        @if pages > 1 { p.muted { "Page " (page) " of " (pages) " · " (model.incidents.len()) " incidents" } }
        @for i in model.history_page(page) { (incident_card(model, i, 2)) }
        @if pages > 1 {
            nav.pages aria-label="History pages" {
                ul {
                    @if page > 1 { li { a href=(history_url(page - 1)) rel="prev" { "← Newer incidents" } } }
                    @if page < pages { li { a href=(history_url(page + 1)) rel="next" { "Older incidents →" } } }
                }
            }
        }
    };
    layout(model, &heading, body, false)
}

/// `/incidents/<id>`
pub fn incident(model: &PageModel, i: &Incident) -> Markup {
    let body = html! {
        p { a href="/history" { "← Incident history" } }
        h1 { (i.title) }
        p.muted {
            (impact_label(i.impact)) " · " (i.status.label()) " · opened "
            time datetime=(time(i.created_at)) { (human_time(i.created_at)) }
            @if let Some(r) = i.resolved_at {
                " · resolved " time datetime=(time(r)) { (human_time(r)) }
            }
        }
        @if !i.components.is_empty() {
            h2 { "Affected components" }
            ul { @for c in &i.components {
                li { (model.component_name(&c.component)) ": "
                     span class={ "status " (c.state.as_str()) } { (status_label(Some(c.state))) } }
            } }
        }
        h2 { "Updates" }
        (incident_timeline(i))
    };
    layout(
        model,
        &format!("{} · {}", i.title, model.title),
        body,
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sli::math::MinuteCounts;

    fn day(good: i64, bad: i64, maintenance: i64, worst: Option<ComponentStatus>) -> DailyFigure {
        let counts = MinuteCounts::new(good, bad, maintenance);
        DailyFigure {
            date: "2026-11-20".into(),
            day: 20_777,
            counts,
            no_data_minutes: counts.no_data(1440),
            availability: counts.availability(),
            worst,
        }
    }

    #[test]
    fn bar_texts_name_availability_downtime_maintenance_and_gaps() {
        // 1439 / 1440 = 0.999305… → floored to 99.93 %.
        assert_eq!(
            bar_text(&day(1439, 1, 0, Some(ComponentStatus::PartialOutage))),
            "20 Nov 2026: 99.93 %, 1 min partial outage"
        );
        // 1000 good + 20 bad + 60 maintenance recorded; 1440 − 1080 = 360 min no data.
        // 1000 / 1020 = 0.98039… → 98.03 %.
        assert_eq!(
            bar_text(&day(1000, 20, 60, Some(ComponentStatus::MajorOutage))),
            "20 Nov 2026: 98.03 %, 20 min major outage, 60 min maintenance, 360 min no data"
        );
        assert_eq!(bar_text(&day(0, 0, 0, None)), "20 Nov 2026: no data");
        assert_eq!(
            bar_text(&day(0, 0, 1440, Some(ComponentStatus::UnderMaintenance))),
            "20 Nov 2026: maintenance only (1440 min)"
        );
    }

    #[test]
    fn bars_are_coloured_by_availability_band_and_worst_state() {
        use ComponentStatus::{
            DegradedPerformance as Degraded, MajorOutage as Major, Operational as Up,
            PartialOutage as Partial, UnderMaintenance as Maint,
        };
        // (good, bad, maintenance, worst) → class; availability = good / (good + bad).
        let table = [
            // 1440 / 1440 = 100 %.
            ((1440, 0, 0, Some(Up)), "ok"),
            // 1439 / 1440 = 99.93 % ≥ 99.9: green for a slow minute…
            ((1439, 1, 0, Some(Degraded)), "ok"),
            // …but an outage minute is never green.
            ((1439, 1, 0, Some(Partial)), "minor"),
            ((1439, 1, 0, Some(Major)), "minor"),
            // 1430 / 1440 = 99.31 %: 99–99.9 → minor whatever the outage.
            ((1430, 10, 0, Some(Major)), "minor"),
            // 1400 / 1440 = 97.22 %: 95–99 → major.
            ((1400, 40, 0, Some(Partial)), "major"),
            // 1380 / 1440 = 95.83 %: major.
            ((1380, 60, 0, Some(Major)), "major"),
            // 1000 / 1440 = 69.44 %: < 95 → critical with major outage minutes…
            ((1000, 440, 0, Some(Major)), "critical"),
            // …capped at major by a partial outage, at minor by degraded performance.
            ((1000, 440, 0, Some(Partial)), "major"),
            ((1000, 440, 0, Some(Degraded)), "minor"),
            // Maintenance is left out: 1380 / 1380 = 100 % → ok.
            ((1380, 0, 60, Some(Up)), "ok"),
            ((0, 0, 1440, Some(Maint)), "maint"),
            ((0, 0, 0, None), "nodata"),
        ];
        for ((good, bad, maintenance, worst), class) in table {
            assert_eq!(
                bar_class(&day(good, bad, maintenance, worst)),
                class,
                "{good} good, {bad} bad, {maintenance} maintenance, {worst:?}"
            );
        }
    }

    #[test]
    fn dates_read_as_people_write_them() {
        assert_eq!(human_date("2026-01-05"), "5 Jan 2026");
        assert_eq!(human_date("2026-12-31"), "31 Dec 2026");
        assert_eq!(human_date("garbage"), "garbage");
        assert_eq!(human_date("2026-13-01"), "2026-13-01");
    }

    #[test]
    fn the_sparkline_breaks_at_gaps_and_draws_lone_points() {
        assert!(sparkline(&[None, None]).is_none(), "nothing to draw");
        let svg = sparkline(&[Some(100.0), None, Some(50.0), Some(100.0)])
            .expect("svg")
            .into_string();
        // Height 32, 2 px margins: 100 ms (the max) at y = 2, 50 ms at y = 16; x step 80.
        // Slot 0 has no filled neighbour: a dot, not an invisible "M0.0,2.0".
        assert!(svg.contains("d=\"M160.0,16.0 L240.0,2.0\""), "{svg}");
        assert!(
            svg.contains("<circle cx=\"0.0\" cy=\"2.0\" r=\"2\" fill=\"currentColor\">"),
            "{svg}"
        );
        assert!(svg.contains("mean 83 ms, highest 100 ms"), "{svg}");
        // One filled slot of 48 (30-minute slots, a probe that just started): slot 47,
        // x = 47 × 240 / 47 = 240, at the max: y = 2. A dot, and no path at all.
        let mut slots = vec![None; 48];
        slots[47] = Some(120.0);
        let svg = sparkline(&slots).expect("one point is drawn").into_string();
        assert!(svg.contains("<circle cx=\"240.0\" cy=\"2.0\""), "{svg}");
        assert!(!svg.contains("<path"), "{svg}");
        // A single slot, and zero durations, still draw.
        assert!(sparkline(&[Some(10.0)]).is_some());
        let svg = sparkline(&[Some(0.0), Some(0.0)])
            .expect("svg")
            .into_string();
        assert!(
            svg.contains("d=\"M0.0,30.0 L240.0,30.0\""),
            "baseline: {svg}"
        );
    }
}
