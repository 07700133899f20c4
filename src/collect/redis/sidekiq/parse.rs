//! Sidekiq's data, parsed without I/O: the oldest job's JSON (latency per Sidekiq
//! version), a process' `info` JSON, `<identity>:work` entries, which required queues no
//! process serves, and the UTC date of the daily stat keys.

use std::collections::BTreeSet;

use serde_json::Value as Json;

use super::ProcessState;

/// The oldest job of a queue, as far as latency is concerned.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OldestJob {
    /// The queue is empty (latency 0).
    Empty,
    /// Enqueued at this epoch time in seconds.
    EnqueuedAt(f64),
    /// A job without `enqueued_at`/`created_at` (Sidekiq reports latency 0).
    NoTimestamp,
    /// Not a JSON object.
    Unparsable,
}

/// The oldest job's JSON → [`OldestJob`] (pure).
pub fn oldest_job(json: &str) -> OldestJob {
    let Ok(Json::Object(job)) = serde_json::from_str::<Json>(json) else {
        return OldestJob::Unparsable;
    };
    let enqueued = job
        .get("enqueued_at")
        .and_then(job_timestamp_seconds)
        .or_else(|| job.get("created_at").and_then(job_timestamp_seconds));
    match enqueued {
        Some(t) => OldestJob::EnqueuedAt(t),
        None => OldestJob::NoTimestamp,
    }
}

/// A job timestamp → epoch seconds, decided per value as Sidekiq 8 does: a JSON float is
/// seconds (Sidekiq ≤ 7), a JSON integer milliseconds (Sidekiq 8). A string (Sidekiq Pro's
/// Lua scheduler) is read as a number: with a fraction or exponent seconds, an integer by
/// magnitude (above 1e11 milliseconds).
pub fn job_timestamp_seconds(value: &Json) -> Option<f64> {
    match value {
        Json::Number(n) if n.is_f64() => n.as_f64(),
        Json::Number(n) => n.as_f64().map(|ms| ms / 1000.0),
        Json::String(s) => epoch_seconds_from_text(s),
        _ => None,
    }
}

/// Epoch time written as text: a number with a fraction or exponent is seconds, an
/// integer above 1e11 is milliseconds, below seconds.
pub fn epoch_seconds_from_text(text: &str) -> Option<f64> {
    let text = text.trim();
    let value = text.parse::<f64>().ok()?;
    if !value.is_finite() {
        return None;
    }
    let integer = !text.contains(['.', 'e', 'E']);
    Some(if integer && value.abs() > 1e11 {
        value / 1000.0
    } else {
        value
    })
}

/// A number that may be seconds or milliseconds by magnitude (work `run_at`, `beat`).
pub(super) fn epoch_seconds_by_magnitude(value: f64) -> f64 {
    if value.abs() > 1e11 {
        value / 1000.0
    } else {
        value
    }
}

/// What fedimeter uses from a process' `info` JSON.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProcessInfo {
    pub hostname: String,
    pub concurrency: Option<f64>,
    /// Queues this process serves: `queues`, plus every capsule's queues (Sidekiq 7+
    /// `capsules` / `weights`).
    pub queues: BTreeSet<String>,
    pub version: Option<String>,
}

/// Parses a process' `info` JSON (pure). Tolerates every Sidekiq version's shape; missing
/// or odd fields are left empty.
pub fn parse_process_info(json: &str) -> ProcessInfo {
    let Ok(Json::Object(info)) = serde_json::from_str::<Json>(json) else {
        return ProcessInfo::default();
    };
    let mut queues = BTreeSet::new();
    if let Some(Json::Array(list)) = info.get("queues") {
        queues.extend(list.iter().filter_map(queue_name));
    }
    // Sidekiq 7.1+: `weights` is one {queue: weight} object per capsule.
    if let Some(Json::Array(weights)) = info.get("weights") {
        for capsule in weights {
            if let Json::Object(w) = capsule {
                queues.extend(w.keys().cloned());
            }
        }
    }
    // Sidekiq 7.3+: `capsules` is {name: {concurrency, mode, weights: {queue: weight}}}.
    let mut capsule_concurrency = None;
    if let Some(Json::Object(capsules)) = info.get("capsules") {
        let mut sum = 0.0;
        for capsule in capsules.values() {
            match capsule.get("weights") {
                Some(Json::Object(w)) => queues.extend(w.keys().cloned()),
                Some(Json::Array(list)) => queues.extend(list.iter().filter_map(queue_name)),
                _ => {}
            }
            if let Some(Json::Array(list)) = capsule.get("queues") {
                queues.extend(list.iter().filter_map(queue_name));
            }
            sum += capsule
                .get("concurrency")
                .and_then(Json::as_f64)
                .unwrap_or(0.0);
        }
        if sum > 0.0 {
            capsule_concurrency = Some(sum);
        }
    }
    ProcessInfo {
        hostname: info
            .get("hostname")
            .and_then(Json::as_str)
            .unwrap_or("")
            .to_string(),
        concurrency: info
            .get("concurrency")
            .and_then(Json::as_f64)
            .or(capsule_concurrency),
        queues,
        version: info
            .get("version")
            .and_then(Json::as_str)
            .map(str::to_string),
    }
}

/// A queue entry: `"default"`, or `["default", 8]` in some weighted layouts.
fn queue_name(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Array(items) => items.first().and_then(Json::as_str).map(str::to_string),
        _ => None,
    }
}

/// A `<identity>:work` value → (queue, started at in epoch seconds) (pure).
pub fn parse_work(json: &str) -> Option<(String, Option<f64>)> {
    let Ok(Json::Object(work)) = serde_json::from_str::<Json>(json) else {
        return None;
    };
    let queue = work.get("queue").and_then(Json::as_str)?.to_string();
    let run_at = match work.get("run_at") {
        Some(Json::Number(n)) => n.as_f64().map(epoch_seconds_by_magnitude),
        Some(Json::String(s)) => epoch_seconds_from_text(s),
        _ => None,
    };
    Some((queue, run_at))
}

/// Queues of `required` that no live process serves (Mastodon's admin check), in order.
pub fn uncovered_queues<'a>(required: &'a [String], processes: &[ProcessState]) -> Vec<&'a str> {
    required
        .iter()
        .filter(|q| !processes.iter().any(|p| p.info.queues.contains(*q)))
        .map(String::as_str)
        .collect()
}

/// Queue latency in seconds as Sidekiq computes it (`None` for an unparsable job).
pub fn queue_latency(oldest: OldestJob, now: f64) -> Option<f64> {
    match oldest {
        OldestJob::Empty | OldestJob::NoTimestamp => Some(0.0),
        OldestJob::EnqueuedAt(t) => Some(now - t),
        OldestJob::Unparsable => None,
    }
}

/// The UTC calendar date `YYYY-MM-DD` of an epoch time (Sidekiq's daily stat keys
/// `stat:processed:<date>`), from the `time` crate's calendar. `None` outside the years
/// the crate represents (±9999), or for a time that is not a number.
pub fn utc_date(epoch_seconds: f64) -> Option<String> {
    if !epoch_seconds.is_finite() {
        return None;
    }
    let seconds = epoch_seconds.floor();
    if seconds.abs() > i64::MAX as f64 / 2.0 {
        return None;
    }
    let date = time::OffsetDateTime::from_unix_timestamp(seconds as i64)
        .ok()?
        .date();
    Some(date.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_json_gives_the_enqueued_time_per_value() {
        let cases: &[(&str, OldestJob)] = &[
            // Sidekiq 6.5/7: float seconds.
            (
                r#"{"class":"A","enqueued_at":1700000000.5,"created_at":1699999999.0}"#,
                OldestJob::EnqueuedAt(1700000000.5),
            ),
            // Sidekiq 8: integer milliseconds.
            (
                r#"{"class":"A","enqueued_at":1700000000500,"created_at":1700000000000}"#,
                OldestJob::EnqueuedAt(1700000000.5),
            ),
            // Whole-second float is still seconds.
            (
                r#"{"enqueued_at":1700000000.0}"#,
                OldestJob::EnqueuedAt(1700000000.0),
            ),
            // Fallback to created_at, in either unit.
            (
                r#"{"created_at":1700000001.25}"#,
                OldestJob::EnqueuedAt(1700000001.25),
            ),
            (
                r#"{"enqueued_at":null,"created_at":1700000001250}"#,
                OldestJob::EnqueuedAt(1700000001.25),
            ),
            // Sidekiq Pro's Lua scheduler writes a string.
            (
                r#"{"enqueued_at":"1700000002.5"}"#,
                OldestJob::EnqueuedAt(1700000002.5),
            ),
            (
                r#"{"enqueued_at":"1700000002500"}"#,
                OldestJob::EnqueuedAt(1700000002.5),
            ),
            (r#"{"class":"A","args":[]}"#, OldestJob::NoTimestamp),
            (r#"{"enqueued_at":"soon"}"#, OldestJob::NoTimestamp),
            ("not json at all", OldestJob::Unparsable),
            (r#"{"enqueued_at":17"#, OldestJob::Unparsable),
            ("[1,2,3]", OldestJob::Unparsable),
            ("", OldestJob::Unparsable),
        ];
        for (json, expected) in cases {
            assert_eq!(oldest_job(json), *expected, "{json}");
        }
    }

    #[test]
    fn latency_is_zero_for_empty_and_absent_for_unparsable() {
        let now = 1_700_000_100.0;
        let cases: &[(OldestJob, Option<f64>)] = &[
            (OldestJob::Empty, Some(0.0)),
            (OldestJob::NoTimestamp, Some(0.0)),
            (OldestJob::EnqueuedAt(1_700_000_000.0), Some(100.0)),
            (OldestJob::Unparsable, None),
        ];
        for (oldest, expected) in cases {
            assert_eq!(queue_latency(*oldest, now), *expected, "{oldest:?}");
        }
    }

    #[test]
    fn process_info_of_every_sidekiq_version() {
        /// (info JSON, hostname, concurrency, queues, version)
        type Case<'a> = (
            &'a str,
            &'a str,
            Option<f64>,
            &'a [&'a str],
            Option<&'a str>,
        );
        let cases: &[Case] = &[
            // 6.5: queues list, no version.
            (
                r#"{"hostname":"web1","started_at":1.0,"pid":12,"tag":"mastodon","concurrency":25,"queues":["default","push","pull"],"labels":[],"identity":"web1:12:abc"}"#,
                "web1",
                Some(25.0),
                &["default", "pull", "push"],
                None,
            ),
            // 7.1: weights per capsule.
            (
                r#"{"hostname":"w2","concurrency":10,"queues":["default"],"weights":[{"default":8,"ingress":4}],"version":"7.1.0"}"#,
                "w2",
                Some(10.0),
                &["default", "ingress"],
                Some("7.1.0"),
            ),
            // 7.3+/8: capsules.
            (
                r#"{"hostname":"w3","capsules":{"default":{"concurrency":5,"mode":"weighted","weights":{"scheduler":0}},"mail":{"concurrency":2,"weights":{"mailers":1}}},"version":"8.0.9"}"#,
                "w3",
                Some(7.0),
                &["mailers", "scheduler"],
                Some("8.0.9"),
            ),
            ("garbage", "", None, &[], None),
        ];
        for (json, host, concurrency, queues, version) in cases {
            let info = parse_process_info(json);
            assert_eq!(info.hostname, *host, "{json}");
            assert_eq!(info.concurrency, *concurrency, "{json}");
            let got: Vec<&str> = info.queues.iter().map(String::as_str).collect();
            assert_eq!(got, *queues, "{json}");
            assert_eq!(info.version.as_deref(), *version, "{json}");
        }
    }

    #[test]
    fn work_entries_give_queue_and_start_time() {
        type Case<'a> = (&'a str, Option<(&'a str, Option<f64>)>);
        let cases: &[Case] = &[
            (
                r#"{"queue":"push","payload":"{}","run_at":1700000000}"#,
                Some(("push", Some(1_700_000_000.0))),
            ),
            (
                r#"{"queue":"push","payload":{},"run_at":1700000000123}"#,
                Some(("push", Some(1_700_000_000.123))),
            ),
            (r#"{"queue":"pull"}"#, Some(("pull", None))),
            (r#"{"payload":"{}"}"#, None),
            ("nope", None),
        ];
        for (json, expected) in cases {
            let got = parse_work(json);
            assert_eq!(
                got.as_ref().map(|(q, t)| (q.as_str(), *t)),
                *expected,
                "{json}"
            );
        }
    }

    #[test]
    fn utc_dates() {
        // Expected dates computed by hand from 86,400 s days: 951,782,400 / 86,400 = 11,016
        // days = 2000-02-29 (a leap day of a year divisible by 400); 1,700,000,000 s is
        // 2023-11-14T22:13:20Z; -1 s is the last second of 1969.
        let cases: &[(f64, Option<&str>)] = &[
            (0.0, Some("1970-01-01")),
            (86_399.9, Some("1970-01-01")),
            (-1.0, Some("1969-12-31")),
            (951_782_400.0, Some("2000-02-29")),
            (951_868_800.0, Some("2000-03-01")),
            (1_700_000_000.0, Some("2023-11-14")),
            (1_795_306_503.0, Some("2026-11-22")),
            (4_107_456_000.0, Some("2100-02-28")),
            (4_107_542_400.0, Some("2100-03-01")),
            (f64::NAN, None),
            (f64::INFINITY, None),
            (1e18, None),
        ];
        for (t, expected) in cases {
            assert_eq!(utc_date(*t).as_deref(), *expected, "{t}");
        }
    }
}
