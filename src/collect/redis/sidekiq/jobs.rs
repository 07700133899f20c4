//! Per-job-class execution metrics that Sidekiq itself keeps in Redis (its "Metrics" tab,
//! `lib/sidekiq/metrics/`), as the `sidekiq_job_*{class}` gauges of Strech's exporter: jobs
//! processed, failed and seconds of execution per class over the last hour, summed from
//! Sidekiq's one-minute buckets. Pure: the bucket keys and the parsing of their hashes.
//!
//! Layout: every heartbeat a Sidekiq process `HINCRBY`s a hash per minute (TTL 8 h) with the
//! fields `<Class>|p` (processed), `<Class>|f` (failed) and `<Class>|ms` (milliseconds of
//! successful executions). Sidekiq 6.5/7 names it `j|%Y%m%d|%-H:%-M` (e.g.
//! `j|20261206|9:5`), Sidekiq 8 `j|%y%m%d|%-H:%M` (`j|261206|9:05`), both in UTC; both are
//! read, and they never name the same minute alike.
//!
//! Bounded: at most [`MAX_JOB_CLASSES`] classes (most processed first, ties by name) get
//! their own series; the others are summed under `class="other"`.

use std::collections::BTreeMap;

use redis::Value;

use crate::collect::Sink;
use crate::model::MetricDesc;

/// Minutes summed, as Sidekiq's `Query#top_jobs` default (the last hour).
pub const WINDOW_MINUTES: i64 = 60;
/// Classes with their own series; the rest are counted as [`OTHER_CLASS`].
pub const MAX_JOB_CLASSES: usize = 100;
/// The `class` label of the classes beyond [`MAX_JOB_CLASSES`].
pub const OTHER_CLASS: &str = "other";

const CLASS: &[&str] = &["class"];

pub static JOB_PROCESSED: MetricDesc = MetricDesc::gauge(
    "sidekiq_job_processed",
    "Jobs of this class processed in the last 60 minutes (Sidekiq's own metrics)",
    CLASS,
);
pub static JOB_FAILED: MetricDesc = MetricDesc::gauge(
    "sidekiq_job_failed",
    "Jobs of this class failed in the last 60 minutes (Sidekiq's own metrics)",
    CLASS,
);
pub static JOB_EXECUTION_TIME: MetricDesc = MetricDesc::gauge(
    "sidekiq_job_execution_time_seconds",
    "Seconds spent executing jobs of this class that succeeded, in the last 60 minutes (Sidekiq's own metrics)",
    CLASS,
);

/// Every family this module can export, in declaration order (`crate::metrics`
/// collects them; `tests/docs_tables.rs` checks them against the docs).
pub static DESCRIPTORS: &[&MetricDesc] = &[&JOB_PROCESSED, &JOB_FAILED, &JOB_EXECUTION_TIME];

/// The bucket names (without namespace) of the [`WINDOW_MINUTES`] minutes up to the one
/// holding `now`, in both layouts: `2 × WINDOW_MINUTES` names. Empty when `now` is not a
/// representable time.
pub fn bucket_names(now: f64) -> Vec<String> {
    let mut names = Vec::with_capacity(2 * WINDOW_MINUTES as usize);
    if !now.is_finite() || now.abs() > 1e15 {
        return names;
    }
    let minute = (now / 60.0).floor() as i64;
    for back in 0..WINDOW_MINUTES {
        let Ok(t) = time::OffsetDateTime::from_unix_timestamp((minute - back) * 60) else {
            continue;
        };
        let (year, month, day) = (t.year(), u8::from(t.month()), t.day());
        let (hour, min) = (t.hour(), t.minute());
        names.push(format!("j|{year:04}{month:02}{day:02}|{hour}:{min}"));
        names.push(format!(
            "j|{:02}{month:02}{day:02}|{hour}:{min:02}",
            year.rem_euclid(100)
        ));
    }
    names
}

/// Processed, failed and milliseconds of one class, summed over the buckets.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct JobTotals {
    pub processed: f64,
    pub failed: f64,
    pub millis: f64,
}

/// Sums the `HGETALL` replies of the buckets (a missing bucket is an empty hash). Fields
/// that are not `<Class>|p|f|ms` with an integer value are ignored; `Err` for a reply that
/// is not a hash (another program's key of the same name).
pub fn sum_buckets(replies: &[Value]) -> anyhow::Result<BTreeMap<String, JobTotals>> {
    let mut classes: BTreeMap<String, JobTotals> = BTreeMap::new();
    for reply in replies {
        let pairs: Vec<(String, String)> = match reply {
            Value::Nil => continue,
            Value::Map(pairs) => pairs
                .iter()
                .filter_map(|(k, v)| Some((text(k)?, text(v)?)))
                .collect(),
            Value::Array(items) => items
                .chunks(2)
                .filter_map(|pair| match pair {
                    [k, v] => Some((text(k)?, text(v)?)),
                    _ => None,
                })
                .collect(),
            Value::ServerError(error) => anyhow::bail!("reading a job metrics bucket: {error:?}"),
            other => anyhow::bail!("a job metrics bucket is not a hash: {other:?}"),
        };
        for (field, value) in pairs {
            let Some((class, metric)) = field.rsplit_once('|') else {
                continue;
            };
            let Ok(value) = value.trim().parse::<i64>() else {
                continue;
            };
            let totals = classes.entry(class.to_owned()).or_default();
            match metric {
                "p" => totals.processed += value as f64,
                "f" => totals.failed += value as f64,
                "ms" => totals.millis += value as f64,
                _ => {}
            }
        }
    }
    Ok(classes)
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok(),
        Value::SimpleString(s) => Some(s.clone()),
        Value::Int(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The three families: the [`MAX_JOB_CLASSES`] most processed classes by name, the rest
/// summed under `class="other"` (only when there is a rest).
pub fn emit_jobs(classes: &BTreeMap<String, JobTotals>, sink: &mut Sink) {
    let mut ranked: Vec<(&String, &JobTotals)> = classes.iter().collect();
    ranked.sort_by(|a, b| b.1.processed.total_cmp(&a.1.processed).then(a.0.cmp(b.0)));
    let mut other: Option<JobTotals> = None;
    for (i, (class, totals)) in ranked.into_iter().enumerate() {
        if i < MAX_JOB_CLASSES {
            put(sink, class, totals);
        } else {
            let o = other.get_or_insert_with(JobTotals::default);
            o.processed += totals.processed;
            o.failed += totals.failed;
            o.millis += totals.millis;
        }
    }
    if let Some(other) = other {
        put(sink, OTHER_CLASS, &other);
    }
}

fn put(sink: &mut Sink, class: &str, totals: &JobTotals) {
    sink.sample(&JOB_PROCESSED, [class], totals.processed);
    sink.sample(&JOB_FAILED, [class], totals.failed);
    sink.sample(&JOB_EXECUTION_TIME, [class], totals.millis / 1000.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Value {
        Value::BulkString(s.as_bytes().to_vec())
    }

    fn hash(pairs: &[(&str, &str)]) -> Value {
        Value::Array(pairs.iter().flat_map(|(k, v)| [bulk(k), bulk(v)]).collect())
    }

    #[test]
    fn bucket_names_cover_the_hour_in_both_layouts() {
        // 2026-12-06 09:05:30 UTC = 1796547930.
        let names = bucket_names(1_796_547_930.0);
        assert_eq!(names.len(), 120);
        assert_eq!(names[0], "j|20261206|9:5");
        assert_eq!(names[1], "j|261206|9:05");
        // 59 minutes back: 08:06.
        assert_eq!(names[118], "j|20261206|8:6");
        assert_eq!(names[119], "j|261206|8:06");
        // Across midnight: 2027-01-01 00:00:10 UTC = 1798761610 reaches back into 2026.
        let names = bucket_names(1_798_761_610.0);
        assert_eq!(names[0], "j|20270101|0:0");
        assert_eq!(names[1], "j|270101|0:00");
        assert_eq!(names[2], "j|20261231|23:59");
        assert_eq!(names[3], "j|261231|23:59");
        assert!(bucket_names(f64::NAN).is_empty());
    }

    /// Strech's exporter spec (`spec/sidekiq-8.x/prometheus/exporter/standard_spec.rb`, its
    /// fixture `community_version_with_job_metrics.txt`; docs/metrics.md, "Per-job-class
    /// Sidekiq metrics") feeds `top_jobs` totals MyWorker p 145, f 3, ms 285500 and
    /// OtherWorker p 50, f 0, ms 10000 and expects 145, 3, 285.500 and 50, 0, 10.000: the
    /// window's sums, and the total milliseconds / 1000, not a mean. The same totals, spread
    /// here over three minute buckets by hand: MyWorker 100 + 45 processed, 2 + 1 failed,
    /// 200000 + 85500 ms; OtherWorker 20 + 30 processed, 4000 + 6000 ms.
    #[test]
    fn the_hour_is_summed_as_strechs_exporter_reports_it() {
        let replies = vec![
            hash(&[
                ("MyWorker|p", "100"),
                ("MyWorker|f", "2"),
                ("MyWorker|ms", "200000"),
                ("OtherWorker|p", "20"),
                ("OtherWorker|ms", "4000"),
            ]),
            Value::Nil,
            hash(&[
                ("MyWorker|p", "45"),
                ("MyWorker|f", "1"),
                ("MyWorker|ms", "85500"),
                ("OtherWorker|p", "30"),
                ("OtherWorker|ms", "6000"),
            ]),
        ];
        let classes = sum_buckets(&replies).expect("hashes");
        let mut sink = Sink::new();
        emit_jobs(&classes, &mut sink);
        let (families, _) = sink.into_parts();
        let value = |name: &str, class: &str| {
            families
                .iter()
                .find(|f| f.desc.name == name)
                .and_then(|f| f.value(&[class]))
        };
        assert_eq!(value("sidekiq_job_processed", "MyWorker"), Some(145.0));
        assert_eq!(value("sidekiq_job_failed", "MyWorker"), Some(3.0));
        assert_eq!(
            value("sidekiq_job_execution_time_seconds", "MyWorker"),
            Some(285.5)
        );
        assert_eq!(value("sidekiq_job_processed", "OtherWorker"), Some(50.0));
        // A class without failures in the hour has failed 0, as in the fixture.
        assert_eq!(value("sidekiq_job_failed", "OtherWorker"), Some(0.0));
        assert_eq!(
            value("sidekiq_job_execution_time_seconds", "OtherWorker"),
            Some(10.0)
        );
        // Only these two classes, no `other` below the cap.
        let processed = families
            .iter()
            .find(|f| f.desc.name == "sidekiq_job_processed")
            .expect("processed family");
        assert_eq!(processed.samples.len(), 2);
    }

    /// `Query#top_jobs(minutes: 60)` reads the minute of `now` and the 59 before it.
    #[test]
    fn the_window_is_the_current_minute_and_the_59_before() {
        // 2026-12-06 09:05:30 UTC: 09:05 back to 08:06; 08:05 is outside.
        let names = bucket_names(1_796_547_930.0);
        assert_eq!(names.len(), 2 * WINDOW_MINUTES as usize);
        assert!(names.contains(&"j|261206|9:05".to_owned()));
        assert!(names.contains(&"j|261206|8:06".to_owned()));
        assert!(!names.contains(&"j|261206|8:05".to_owned()));
        assert!(!names.contains(&"j|20261206|8:5".to_owned()));
        assert!(!names.contains(&"j|261206|9:06".to_owned()));
    }

    #[test]
    fn buckets_are_summed_per_class_and_capped() {
        let replies = vec![
            hash(&[
                ("ActivityPub::DeliveryWorker|p", "10"),
                ("ActivityPub::DeliveryWorker|f", "2"),
                ("ActivityPub::DeliveryWorker|ms", "4000"),
                ("PushUpdateWorker|p", "3"),
                ("PushUpdateWorker|ms", "30"),
                ("junk", "1"),
                ("Bad|p", "x"),
            ]),
            Value::Nil,
            hash(&[
                ("ActivityPub::DeliveryWorker|p", "5"),
                ("ActivityPub::DeliveryWorker|ms", "1500"),
            ]),
        ];
        let classes = sum_buckets(&replies).expect("hashes");
        assert_eq!(
            classes["ActivityPub::DeliveryWorker"],
            JobTotals {
                processed: 15.0,
                failed: 2.0,
                millis: 5500.0
            }
        );
        assert_eq!(classes["PushUpdateWorker"].processed, 3.0);
        assert!(!classes.contains_key("Bad") || classes["Bad"] == JobTotals::default());
        assert!(sum_buckets(&[bulk("a string")]).is_err());

        let mut many = BTreeMap::new();
        for i in 0..(MAX_JOB_CLASSES + 2) {
            many.insert(
                format!("Worker{i:03}"),
                JobTotals {
                    processed: (1000 - i) as f64,
                    failed: 1.0,
                    millis: 1000.0,
                },
            );
        }
        let mut sink = Sink::new();
        emit_jobs(&many, &mut sink);
        let (families, _) = sink.into_parts();
        let processed = families
            .iter()
            .find(|f| f.desc.name == "sidekiq_job_processed")
            .expect("processed family");
        assert_eq!(processed.samples.len(), MAX_JOB_CLASSES + 1);
        // Workers 100 and 101 (the least processed) are summed: 900 + 899.
        assert_eq!(processed.value(&["other"]), Some(1799.0));
        assert_eq!(processed.value(&["Worker000"]), Some(1000.0));
        let seconds = families
            .iter()
            .find(|f| f.desc.name == "sidekiq_job_execution_time_seconds")
            .expect("seconds family");
        assert_eq!(seconds.value(&["other"]), Some(2.0));
    }
}
