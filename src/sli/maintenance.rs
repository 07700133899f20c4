//! Maintenance windows, pure: whether a component is under maintenance at a time, and the
//! current or next occurrence of a window (for the page's "scheduled maintenance" list).
//! Recurring windows are in UTC.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::config::{MaintenanceSchedule, MaintenanceWindow};

const DAY_MS: i64 = 86_400_000;
const MINUTE_MS: i64 = 60_000;

/// Whether `window` names `component_id` (a window without components covers all).
pub fn covers(window: &MaintenanceWindow, component_id: &str) -> bool {
    window.components.is_empty() || window.components.iter().any(|c| c == component_id)
}

/// Whether any window covering `component_id` is active at `t`.
pub fn under_maintenance(windows: &[MaintenanceWindow], component_id: &str, t: SystemTime) -> bool {
    windows
        .iter()
        .any(|w| covers(w, component_id) && occurrence_at(w, t).is_some())
}

/// The occurrence of `window` that contains `t`, as `[start, end)`.
pub fn occurrence_at(
    window: &MaintenanceWindow,
    t: SystemTime,
) -> Option<(SystemTime, SystemTime)> {
    let now = ms(t);
    occurrences_around(window, now)
        .into_iter()
        .find(|&(start, end)| start <= now && now < end)
        .map(|(s, e)| (from_ms(s), from_ms(e)))
}

/// The occurrence in progress at `t`, else the next one to start, as `[start, end)`.
pub fn current_or_next(
    window: &MaintenanceWindow,
    t: SystemTime,
) -> Option<(SystemTime, SystemTime)> {
    let now = ms(t);
    occurrences_around(window, now)
        .into_iter()
        .filter(|&(_, end)| end > now)
        .min()
        .map(|(s, e)| (from_ms(s), from_ms(e)))
}

/// Occurrences that may contain `now` or start within the next 8 days.
fn occurrences_around(window: &MaintenanceWindow, now: i64) -> Vec<(i64, i64)> {
    match &window.schedule {
        MaintenanceSchedule::Once { start, end } => vec![(ms(*start), ms(*end))],
        MaintenanceSchedule::Recurring {
            weekdays,
            start_minute_of_day,
            duration,
        } => {
            let duration_ms = i64::try_from(duration.as_millis()).unwrap_or(i64::MAX / 4);
            let today = now.div_euclid(DAY_MS);
            let days_back = duration_ms / DAY_MS + 1;
            (today - days_back..=today + 8)
                .filter(|&day| weekdays.is_empty() || weekdays.contains(&weekday(day)))
                .map(|day| {
                    let start = day * DAY_MS + i64::from(*start_minute_of_day) * MINUTE_MS;
                    (start, start.saturating_add(duration_ms))
                })
                .collect()
        }
    }
}

/// Weekday of a unix day: 0 = Monday … 6 = Sunday (1970-01-01 was a Thursday).
pub fn weekday(unix_day: i64) -> u8 {
    // rem_euclid(7) is in 0..7, so the cast cannot truncate.
    (unix_day + 3).rem_euclid(7) as u8
}

pub use crate::config::{parse_time_of_day, parse_weekday};

fn ms(t: SystemTime) -> i64 {
    crate::store::unix_ms(t)
}

fn from_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> SystemTime {
        humantime::parse_rfc3339(rfc3339).expect("valid timestamp")
    }

    fn once(components: &[&str], start: &str, end: &str) -> MaintenanceWindow {
        MaintenanceWindow {
            title: "upgrade".into(),
            components: components.iter().map(|c| c.to_string()).collect(),
            schedule: MaintenanceSchedule::Once {
                start: at(start),
                end: at(end),
            },
        }
    }

    fn weekly(weekdays: &[u8], start: &str, minutes: u64) -> MaintenanceWindow {
        MaintenanceWindow {
            title: "weekly".into(),
            components: vec![],
            schedule: MaintenanceSchedule::Recurring {
                weekdays: weekdays.to_vec(),
                start_minute_of_day: parse_time_of_day(start).expect("valid time"),
                duration: Duration::from_secs(minutes * 60),
            },
        }
    }

    #[test]
    fn one_off_window_table() {
        let w = once(&["website"], "2026-11-22T02:00:00Z", "2026-11-22T03:00:00Z");
        for (component, t, expected) in [
            ("website", "2026-11-22T01:59:59Z", false),
            ("website", "2026-11-22T02:00:00Z", true),
            ("website", "2026-11-22T02:59:59Z", true),
            ("website", "2026-11-22T03:00:00Z", false),
            ("streaming", "2026-11-22T02:30:00Z", false),
        ] {
            assert_eq!(
                under_maintenance(std::slice::from_ref(&w), component, at(t)),
                expected,
                "{component} {t}"
            );
        }
    }

    #[test]
    fn recurring_window_table() {
        // Sundays (6) 23:30 for 90 minutes: crosses midnight into Monday.
        let w = weekly(&[6], "23:30", 90);
        // 2026-11-22 is a Sunday.
        for (t, expected) in [
            ("2026-11-22T23:29:59Z", false),
            ("2026-11-22T23:30:00Z", true),
            ("2026-11-23T00:59:59Z", true),
            ("2026-11-23T01:00:00Z", false),
            ("2026-11-29T23:45:00Z", true),
            ("2026-11-25T23:45:00Z", false),
        ] {
            assert_eq!(
                under_maintenance(std::slice::from_ref(&w), "any", at(t)),
                expected,
                "{t}"
            );
        }
        // every day 04:00–04:15
        let daily = weekly(&[], "04:00", 15);
        assert!(under_maintenance(
            std::slice::from_ref(&daily),
            "x",
            at("2026-11-24T04:10:00Z")
        ));
        assert!(!under_maintenance(
            std::slice::from_ref(&daily),
            "x",
            at("2026-11-24T04:15:00Z")
        ));
    }

    #[test]
    fn current_or_next_occurrence() {
        let w = weekly(&[0, 3], "02:00", 60); // Mondays and Thursdays 02:00
        let (start, end) = current_or_next(&w, at("2026-11-22T12:00:00Z")).expect("next");
        assert_eq!(
            (start, end),
            (at("2026-11-23T02:00:00Z"), at("2026-11-23T03:00:00Z"))
        );
        let (start, _) = current_or_next(&w, at("2026-11-23T02:30:00Z")).expect("current");
        assert_eq!(start, at("2026-11-23T02:00:00Z"));
        let (start, _) = current_or_next(&w, at("2026-11-23T03:00:00Z")).expect("next");
        assert_eq!(start, at("2026-11-26T02:00:00Z"));
        let past = once(&[], "2026-01-01T00:00:00Z", "2026-01-01T01:00:00Z");
        assert_eq!(current_or_next(&past, at("2026-11-22T00:00:00Z")), None);
    }

    #[test]
    fn weekday_and_parsers() {
        assert_eq!(weekday(0), 3); // 1970-01-01, Thursday
        assert_eq!(weekday(20_779), 6); // 2026-11-22, Sunday
        for (s, expected) in [
            ("mon", Some(0)),
            ("Sunday", Some(6)),
            ("thu", Some(3)),
            ("t", None),
            ("xyz", None),
        ] {
            assert_eq!(parse_weekday(s), expected, "{s}");
        }
        for (s, expected) in [
            ("00:00", Some(0)),
            ("23:59", Some(1439)),
            ("03:30", Some(210)),
            ("24:00", None),
            ("3", None),
        ] {
            assert_eq!(parse_time_of_day(s), expected, "{s}");
        }
    }
}
