//! Mastodon's own Redis gauges (part of the `[[redis]]` collector), on a slow cadence:
//!
//! - `mastodon_monthly_active_users`: `PFCOUNT` over the 28 daily HyperLogLogs
//!   `activity:logins:<UTC midnight epoch>` for the days before today, exactly as nodeinfo's
//!   `activeMonth` (`ActivityTracker`; today excluded, legacy pre-4.0 weekly keys ignored).
//!   Sent in the first pipeline of a run when due.
//! - `mastodon_delivery_failing_domains`: the number of `exhausted_deliveries:<host>` keys
//!   (`DeliveryFailureTracker`), counted with `SCAN MATCH … COUNT <n>` — never `KEYS`. The
//!   walk is bounded per run (`delivery_scan_steps_per_run`) and resumes in the next run;
//!   the gauge shows the last completed walk.
//!
//! With a namespace (4.2/4.3) every key is prefixed `<ns>:`.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use redis::{Pipeline, Value};

use super::sidekiq::namespace_prefix;
use super::{RedisCollector, RedisOptions};
use crate::collect::Sink;
use crate::model::MetricDesc;

pub static MONTHLY_ACTIVE_USERS: MetricDesc = MetricDesc::gauge(
    "mastodon_monthly_active_users",
    "Distinct users active in the 28 days before today (nodeinfo activeMonth, from Redis)",
    &[],
);
pub static DELIVERY_FAILING_DOMAINS: MetricDesc = MetricDesc::gauge(
    "mastodon_delivery_failing_domains",
    "Domains with failed deliveries not yet cleared by a success (exhausted_deliveries:* keys)",
    &[],
);

/// Every family this module can export, in declaration order (`crate::metrics`
/// collects them; `tests/docs_tables.rs` checks them against the docs).
pub static DESCRIPTORS: &[&MetricDesc] = &[&MONTHLY_ACTIVE_USERS, &DELIVERY_FAILING_DOMAINS];

/// Number of daily keys in Mastodon's monthly active users.
const MAU_DAYS: i64 = 28;

/// The 28 keys nodeinfo's `activeMonth` counts: the UTC days `[today − 28, today)` (pure).
pub fn monthly_active_users_keys(prefix: &str, now: f64) -> Vec<String> {
    let today = (now / 86_400.0).floor() as i64;
    (1..=MAU_DAYS)
        .rev()
        .map(|back| format!("{prefix}activity:logins:{}", (today - back) * 86_400))
        .collect()
}

/// State of the slow-cadence Mastodon gauges of one target.
#[derive(Debug)]
pub struct MastodonGauges {
    prefix: String,
    interval: Duration,
    scan_count: u32,
    scan_steps_per_run: u32,
    monthly_active_users: Option<f64>,
    /// When and for which UTC day the MAU was last read.
    mau_read: Option<(Instant, i64)>,
    delivery_failing_domains: Option<f64>,
    scan: Option<ScanProgress>,
    scan_started: Option<Instant>,
}

#[derive(Debug)]
struct ScanProgress {
    cursor: u64,
    /// Distinct keys seen so far (SCAN may return a key twice).
    keys: HashSet<String>,
}

impl MastodonGauges {
    pub fn new(namespace: Option<&str>, options: &RedisOptions) -> Self {
        MastodonGauges {
            prefix: namespace_prefix(namespace),
            interval: options.mastodon_gauges_interval,
            scan_count: options.delivery_scan_count.max(1),
            scan_steps_per_run: options.delivery_scan_steps_per_run.max(1),
            monthly_active_users: None,
            mau_read: None,
            delivery_failing_domains: None,
            scan: None,
            scan_started: None,
        }
    }

    /// Adds `PFCOUNT <28 keys>` to `pipe` when due (cadence elapsed or a new UTC day);
    /// returns `Some(())` when it did, so the caller passes the reply to
    /// [`Self::monthly_active_users_result`].
    pub fn monthly_active_users_command(&mut self, pipe: &mut Pipeline, now: f64) -> Option<()> {
        let today = (now / 86_400.0).floor() as i64;
        let due = match self.mau_read {
            None => true,
            Some((at, day)) => day != today || at.elapsed() >= self.interval,
        };
        if !due {
            return None;
        }
        self.mau_read = Some((Instant::now(), today));
        pipe.cmd("PFCOUNT")
            .arg(monthly_active_users_keys(&self.prefix, now));
        Some(())
    }

    /// The run failed before the `PFCOUNT` reply: read it again next run.
    pub fn monthly_active_users_not_read(&mut self) {
        self.mau_read = None;
    }

    pub fn monthly_active_users_result(&mut self, value: &Value, sink: &mut Sink) {
        match value {
            Value::Int(n) => self.monthly_active_users = Some(*n as f64),
            Value::ServerError(error) => {
                self.mau_read = None;
                sink.partial_error(
                    "mastodon monthly active users",
                    &anyhow::anyhow!("redis error: {error}"),
                );
            }
            other => {
                self.mau_read = None;
                sink.partial_error(
                    "mastodon monthly active users",
                    &anyhow::anyhow!("unexpected PFCOUNT reply {other:?}"),
                );
            }
        }
    }

    /// Starts a delivery-failure walk when due and advances it by at most
    /// `delivery_scan_steps_per_run` `SCAN` steps, stopping early at `stop_by`.
    pub async fn advance_delivery_scan(
        &mut self,
        collector: &mut RedisCollector,
        stop_by: Instant,
        deadline: Instant,
    ) -> anyhow::Result<()> {
        if self.scan.is_none() {
            let due = self
                .scan_started
                .is_none_or(|at| at.elapsed() >= self.interval);
            if !due {
                return Ok(());
            }
            self.scan_started = Some(Instant::now());
            self.scan = Some(ScanProgress {
                cursor: 0,
                keys: HashSet::new(),
            });
        }
        let pattern = format!("{}exhausted_deliveries:*", self.prefix);
        for _ in 0..self.scan_steps_per_run {
            if Instant::now() >= stop_by {
                break;
            }
            let Some(scan) = self.scan.as_mut() else {
                break;
            };
            let (cursor, keys) = match collector
                .scan_step(scan.cursor, &pattern, self.scan_count, deadline)
                .await
            {
                Ok(step) => step,
                Err(error) => {
                    // Start over at the next cadence; keep the last complete value.
                    self.scan = None;
                    return Err(error);
                }
            };
            scan.keys.extend(keys);
            scan.cursor = cursor;
            if cursor == 0 {
                self.delivery_failing_domains = Some(scan.keys.len() as f64);
                self.scan = None;
            }
        }
        Ok(())
    }

    /// The last known values.
    pub fn emit(&self, sink: &mut Sink) {
        if let Some(mau) = self.monthly_active_users {
            sink.value(&MONTHLY_ACTIVE_USERS, mau);
        }
        if let Some(domains) = self.delivery_failing_domains {
            sink.value(&DELIVERY_FAILING_DOMAINS, domains);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mau_keys_are_the_28_utc_days_before_today() {
        // 2026-11-22 00:15 UTC.
        let now = 1_795_306_503.0;
        let today_midnight = 1_795_305_600;
        let keys = monthly_active_users_keys("", now);
        assert_eq!(keys.len(), 28);
        assert_eq!(
            keys.first().map(String::as_str),
            Some(format!("activity:logins:{}", today_midnight - 28 * 86_400).as_str())
        );
        assert_eq!(
            keys.last().map(String::as_str),
            Some(format!("activity:logins:{}", today_midnight - 86_400).as_str())
        );
        let namespaced = monthly_active_users_keys("mastodon:", now);
        assert!(
            namespaced
                .iter()
                .all(|k| k.starts_with("mastodon:activity:logins:"))
        );
    }
}
