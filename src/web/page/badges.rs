//! Badges: `/badge/<component>.svg` (current state, or the 30-day availability with
//! `?type=uptime`) and the shields.io endpoint JSON `/badge/<component>.json` with the same
//! choice. Flat shields-style SVG; every text is escaped.

use serde_json::json;

use super::model::ComponentView;
use super::text::escape;
use crate::sli::ComponentStatus;

/// Which figure a badge shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BadgeKind {
    Status,
    Uptime,
}

/// (message, colour name for shields.io, hex colour for the SVG)
pub fn message(c: &ComponentView, kind: BadgeKind) -> (String, &'static str, &'static str) {
    match kind {
        BadgeKind::Status if c.not_checked => ("not checked".into(), "lightgrey", "#616161"),
        BadgeKind::Status => match c.status {
            Some(ComponentStatus::Operational) => ("operational".into(), "brightgreen", "#2e7d32"),
            Some(ComponentStatus::DegradedPerformance) => ("degraded".into(), "yellow", "#8a6d00"),
            Some(ComponentStatus::PartialOutage) => ("partial outage".into(), "orange", "#b5400a"),
            Some(ComponentStatus::MajorOutage) => ("major outage".into(), "red", "#c62828"),
            Some(ComponentStatus::UnderMaintenance) => ("maintenance".into(), "blue", "#1565c0"),
            None => ("no data".into(), "lightgrey", "#616161"),
        },
        BadgeKind::Uptime => match c.availability("30d") {
            None => ("no data".into(), "lightgrey", "#616161"),
            Some(a) => {
                let text = format!("{} %", percent(a));
                if a >= 0.999 {
                    (text, "brightgreen", "#2e7d32")
                } else if a >= 0.99 {
                    (text, "green", "#558b2f")
                } else if a >= 0.95 {
                    (text, "yellow", "#8a6d00")
                } else {
                    (text, "red", "#c62828")
                }
            }
        },
    }
}

/// An availability as a percentage with two decimals, never rounded up to 100.
pub fn percent(ratio: f64) -> String {
    let hundredths = (ratio * 10_000.0).floor() / 100.0;
    format!("{hundredths:.2}")
}

fn label(c: &ComponentView, kind: BadgeKind) -> String {
    match kind {
        BadgeKind::Status => c.name.clone(),
        BadgeKind::Uptime => format!("{} 30 d", c.name),
    }
}

/// Approximate text width in px for 11 px Verdana-like fonts.
fn text_width(s: &str) -> usize {
    s.chars().count() * 7 + 10
}

pub fn svg(c: &ComponentView, kind: BadgeKind) -> String {
    let label = label(c, kind);
    let (msg, _, colour) = message(c, kind);
    let (lw, mw) = (text_width(&label), text_width(&msg));
    let width = lw + mw;
    let mut l = String::new();
    escape(&label, &mut l);
    let mut m = String::new();
    escape(&msg, &mut m);
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width}\" height=\"20\" role=\"img\" aria-label=\"{l}: {m}\">\
<title>{l}: {m}</title>\
<rect width=\"{lw}\" height=\"20\" fill=\"#555\"/>\
<rect x=\"{lw}\" width=\"{mw}\" height=\"20\" fill=\"{colour}\"/>\
<g fill=\"#fff\" text-anchor=\"middle\" font-family=\"Verdana,DejaVu Sans,sans-serif\" font-size=\"11\">\
<text x=\"{lx}\" y=\"14\">{l}</text><text x=\"{mx}\" y=\"14\">{m}</text></g></svg>",
        lx = lw / 2,
        mx = lw + mw / 2,
    )
}

/// The shields.io endpoint document (`https://img.shields.io/endpoint?url=…`).
pub fn shields_json(c: &ComponentView, kind: BadgeKind) -> String {
    let (msg, colour, _) = message(c, kind);
    json!({
        "schemaVersion": 1,
        "label": label(c, kind),
        "message": msg,
        "color": colour,
    })
    .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentages_are_floored_never_rounded_up_to_100() {
        assert_eq!(percent(1.0), "100.00");
        assert_eq!(percent(0.99999), "99.99");
        assert_eq!(percent(1439.0 / 1440.0), "99.93");
        assert_eq!(percent(0.0), "0.00");
    }

    #[test]
    fn badge_text_is_escaped() {
        let c = ComponentView {
            id: "x".into(),
            name: "<script>\"&".into(),
            description: String::new(),
            status: Some(ComponentStatus::MajorOutage),
            windows: Vec::new(),
            days: Vec::new(),
            latency_ms: Vec::new(),
            queue_latency_seconds: None,
            not_checked: false,
        };
        let s = svg(&c, BadgeKind::Status);
        assert!(!s.contains("<script>"), "{s}");
        assert!(s.contains("&lt;script&gt;&quot;&amp;: major outage"), "{s}");
        assert_eq!(
            shields_json(&c, BadgeKind::Uptime),
            r#"{"color":"lightgrey","label":"<script>\"& 30 d","message":"no data","schemaVersion":1}"#
        );
    }
}
