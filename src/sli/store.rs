//! The SLI tables: raw probe results, per-minute buckets with hour and day rollups, and
//! component state intervals; batched writes, window queries, daily figures, pruning.
//!
//! Minute rows are upserted keeping the worst state (so a minute written twice, e.g. around
//! a restart, keeps its worst), then the touched hours are recomputed from their minutes and
//! the touched days from their hours, in the same transaction. Rollups are therefore always
//! exact sums of the minutes, and a 90-day window reads about 250 rows per SLI instead of
//! 129,600.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;

use super::ComponentStatus;
use super::eval::ProbeResult;
use super::math::{
    self, DailyFigure, HOURS_PER_DAY, Level, MINUTES_PER_HOUR, MinuteCounts, Window,
};
use crate::on_pool;
use crate::store::{Store, from_unix_ms, unix_ms};

/// A change of a component's state; `None` = no data from now on (closes the interval).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentTransition {
    pub component: Arc<str>,
    pub state: Option<ComponentStatus>,
    pub at: SystemTime,
}

/// What the recorder writes in one transaction.
#[derive(Debug, Default)]
pub struct SliBatch {
    pub probe_results: Vec<ProbeResult>,
    /// (sli, unix minute, worst state in that minute)
    pub minutes: Vec<(Arc<str>, i64, ComponentStatus)>,
    pub transitions: Vec<ComponentTransition>,
    /// Open intervals confirmed up to this time.
    pub seen: HashMap<Arc<str>, SystemTime>,
}

impl SliBatch {
    pub fn is_empty(&self) -> bool {
        self.probe_results.is_empty()
            && self.minutes.is_empty()
            && self.transitions.is_empty()
            && self.seen.is_empty()
    }

    /// Items waiting: probe results, minute rows, transitions and `seen` refreshes.
    pub fn len(&self) -> usize {
        self.probe_results.len() + self.minutes.len() + self.transitions.len() + self.seen.len()
    }

    /// Drops the oldest probe results, minute rows and transitions beyond `limits`; returns
    /// how many went. (`seen` holds one entry per component and needs no cap.)
    pub fn cap(&mut self, limits: &BufferLimits) -> usize {
        fn keep_newest<T>(items: &mut Vec<T>, max: usize) -> usize {
            let excess = items.len().saturating_sub(max);
            items.drain(..excess);
            excess
        }
        keep_newest(&mut self.probe_results, limits.probe_results)
            + keep_newest(&mut self.minutes, limits.minutes)
            + keep_newest(&mut self.transitions, limits.transitions)
    }
}

/// How much of an [`SliBatch`] is kept while the store is away (`docs/store.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BufferLimits {
    pub probe_results: usize,
    pub minutes: usize,
    pub transitions: usize,
}

impl Default for BufferLimits {
    /// 100,000 probe results (about 14 hours of 10 probes every 5 s), 100,000 minute rows
    /// (about a week of 10 components), 10,000 component transitions.
    fn default() -> Self {
        BufferLimits {
            probe_results: 100_000,
            minutes: 100_000,
            transitions: 10_000,
        }
    }
}

/// One stored component interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComponentInterval {
    pub state: ComponentStatus,
    pub started_at: SystemTime,
    /// `None` while open.
    pub ended_at: Option<SystemTime>,
    pub last_seen_at: SystemTime,
}

/// Rows per multi-row INSERT.
const INSERT_CHUNK: usize = 200;

const SUM_STATES: &str = "CAST(sum(CASE WHEN state = 0 THEN 1 ELSE 0 END) AS BIGINT), \
     CAST(sum(CASE WHEN state BETWEEN 1 AND 3 THEN 1 ELSE 0 END) AS BIGINT), \
     CAST(sum(CASE WHEN state = 4 THEN 1 ELSE 0 END) AS BIGINT), \
     CAST(max(CASE WHEN state BETWEEN 1 AND 3 THEN state END) AS BIGINT)";

const SUM_ROLLUPS: &str = "CAST(sum(good) AS BIGINT), CAST(sum(bad) AS BIGINT), \
     CAST(sum(maintenance) AS BIGINT), CAST(max(worst) AS BIGINT)";

type CountsRow = (String, i64, i64, i64, Option<i64>);

impl Store {
    /// Closes component intervals a previous process left open, at their `last_seen_at`.
    pub async fn close_stale_component_intervals(&self) -> anyhow::Result<u64> {
        let sql = "UPDATE component_intervals SET ended_at = last_seen_at WHERE ended_at IS NULL";
        on_pool!(self, |pool| sqlx::query(sql)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .context("closing stale component intervals")
    }

    /// Writes one batch atomically (see the module docs for the rollups).
    pub async fn write_sli_batch(&self, batch: &SliBatch) -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        let hours: BTreeSet<i64> = batch
            .minutes
            .iter()
            .map(|(_, m, _)| m.div_euclid(MINUTES_PER_HOUR))
            .collect();
        let days: BTreeSet<i64> = hours.iter().map(|h| h.div_euclid(HOURS_PER_DAY)).collect();
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await.context("starting an sli batch")?;
            for chunk in batch.probe_results.chunks(INSERT_CHUNK) {
                let sql = values_sql(
                    "INSERT INTO probe_results (probe, at, success, degraded, duration_seconds) VALUES ",
                    5,
                    chunk.len(),
                    "",
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
                for r in chunk {
                    q = q
                        .bind(&*r.probe)
                        .bind(unix_ms(r.at))
                        .bind(i32::from(r.success))
                        .bind(i32::from(r.degraded))
                        .bind(r.duration_seconds);
                }
                q.execute(&mut *tx)
                    .await
                    .context("inserting probe results")?;
            }
            for chunk in batch.minutes.chunks(INSERT_CHUNK) {
                let sql = values_sql(
                    "INSERT INTO sli_minutes (sli, minute, state) VALUES ",
                    3,
                    chunk.len(),
                    " ON CONFLICT (minute, sli) DO UPDATE SET state = \
                     CASE WHEN excluded.state > sli_minutes.state THEN excluded.state ELSE sli_minutes.state END",
                );
                let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.as_str()));
                for (sli, minute, state) in chunk {
                    q = q.bind(&**sli).bind(*minute).bind(state.rank() as i32);
                }
                q.execute(&mut *tx).await.context("upserting sli minutes")?;
            }
            for hour in &hours {
                let sql = format!(
                    "INSERT INTO sli_hours (hour, sli, good, bad, maintenance, worst) \
                     SELECT $1, sli, {SUM_STATES} FROM sli_minutes WHERE minute >= $2 AND minute < $3 GROUP BY sli \
                     ON CONFLICT (hour, sli) DO UPDATE SET good = excluded.good, bad = excluded.bad, \
                     maintenance = excluded.maintenance, worst = excluded.worst"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(*hour)
                    .bind(hour * MINUTES_PER_HOUR)
                    .bind((hour + 1) * MINUTES_PER_HOUR)
                    .execute(&mut *tx)
                    .await
                    .context("rolling up sli hours")?;
            }
            for day in &days {
                let sql = format!(
                    "INSERT INTO sli_days (day, sli, good, bad, maintenance, worst) \
                     SELECT $1, sli, {SUM_ROLLUPS} FROM sli_hours WHERE hour >= $2 AND hour < $3 GROUP BY sli \
                     ON CONFLICT (day, sli) DO UPDATE SET good = excluded.good, bad = excluded.bad, \
                     maintenance = excluded.maintenance, worst = excluded.worst"
                );
                sqlx::query(sqlx::AssertSqlSafe(sql.as_str()))
                    .bind(*day)
                    .bind(day * HOURS_PER_DAY)
                    .bind((day + 1) * HOURS_PER_DAY)
                    .execute(&mut *tx)
                    .await
                    .context("rolling up sli days")?;
            }
            for t in &batch.transitions {
                let at = unix_ms(t.at);
                sqlx::query(
                    "UPDATE component_intervals SET ended_at = $1, last_seen_at = $1 \
                     WHERE component = $2 AND ended_at IS NULL",
                )
                .bind(at)
                .bind(&*t.component)
                .execute(&mut *tx)
                .await
                .context("closing a component interval")?;
                if let Some(state) = t.state {
                    sqlx::query(
                        "INSERT INTO component_intervals (component, state, started_at, last_seen_at) \
                         VALUES ($1, $2, $3, $3)",
                    )
                    .bind(&*t.component)
                    .bind(state.as_str())
                    .bind(at)
                    .execute(&mut *tx)
                    .await
                    .context("opening a component interval")?;
                }
            }
            for (component, seen) in &batch.seen {
                sqlx::query(
                    "UPDATE component_intervals SET last_seen_at = $1 \
                     WHERE component = $2 AND ended_at IS NULL AND last_seen_at < $1",
                )
                .bind(unix_ms(*seen))
                .bind(&**component)
                .execute(&mut *tx)
                .await
                .context("refreshing a component interval")?;
            }
            tx.commit().await.context("committing an sli batch")
        })
    }

    /// Minute counts of every SLI over `[from_minute, to_minute)`, read from the coarsest
    /// buckets that fit ([`math::split_window`]).
    pub async fn sli_counts(
        &self,
        from_minute: i64,
        to_minute: i64,
    ) -> anyhow::Result<HashMap<String, MinuteCounts>> {
        let mut out: HashMap<String, MinuteCounts> = HashMap::new();
        for span in math::split_window(from_minute, to_minute) {
            let sql = match span.level {
                Level::Minute => format!(
                    "SELECT sli, {SUM_STATES} FROM sli_minutes WHERE minute >= $1 AND minute < $2 GROUP BY sli"
                ),
                Level::Hour => {
                    format!(
                        "SELECT sli, {SUM_ROLLUPS} FROM sli_hours WHERE hour >= $1 AND hour < $2 GROUP BY sli"
                    )
                }
                Level::Day => {
                    format!(
                        "SELECT sli, {SUM_ROLLUPS} FROM sli_days WHERE day >= $1 AND day < $2 GROUP BY sli"
                    )
                }
            };
            let rows: Vec<CountsRow> = on_pool!(self, |pool| sqlx::query_as(sqlx::AssertSqlSafe(
                sql.as_str()
            ))
            .bind(span.from)
            .bind(span.to)
            .fetch_all(pool)
            .await)
            .context("reading sli counts")?;
            for (sli, good, bad, maintenance, _) in rows {
                let entry = out.entry(sli).or_default();
                *entry = entry.merge(MinuteCounts::new(good, bad, maintenance));
            }
        }
        Ok(out)
    }

    /// Counts of every SLI for each window ending at `now_minute` (exclusive): one small
    /// aggregate per span of each window (about 35 statements for the 10 windows). One
    /// `UNION ALL` statement was tried: no faster on SQLite (6.5 vs 6.9 ms in
    /// benches/sli.rs) and three times slower on PostgreSQL (30 vs 9 ms: its estimated cost
    /// crosses `jit_above_cost`, and JIT compilation dominates).
    pub async fn sli_window_counts(
        &self,
        now_minute: i64,
        windows: &[Window],
    ) -> anyhow::Result<HashMap<&'static str, HashMap<String, MinuteCounts>>> {
        let mut out = HashMap::new();
        for w in windows {
            out.insert(
                w.label,
                self.sli_counts(now_minute - w.minutes, now_minute).await?,
            );
        }
        Ok(out)
    }

    /// The page's bars: one [`DailyFigure`] per UTC day, `days` days ending today, oldest
    /// first. Today counts the minutes recorded so far.
    pub async fn sli_daily_figures(
        &self,
        sli: &str,
        now: SystemTime,
        days: i64,
    ) -> anyhow::Result<Vec<DailyFigure>> {
        let now_minute = unix_ms(now).div_euclid(60_000);
        let today = now_minute.div_euclid(math::MINUTES_PER_DAY);
        let sql = "SELECT day, CAST(good AS BIGINT), CAST(bad AS BIGINT), CAST(maintenance AS BIGINT), \
                   CAST(worst AS BIGINT) FROM sli_days WHERE sli = $1 AND day > $2 AND day <= $3";
        let rows: Vec<(i64, i64, i64, i64, Option<i64>)> =
            on_pool!(self, |pool| sqlx::query_as(sql)
                .bind(sli)
                .bind(today - days)
                .bind(today)
                .fetch_all(pool)
                .await)
            .context("reading sli days")?;
        let rollups: Vec<(i64, MinuteCounts, Option<ComponentStatus>)> = rows
            .into_iter()
            .map(|(day, g, b, m, worst)| {
                (
                    day,
                    MinuteCounts::new(g, b, m),
                    worst.and_then(ComponentStatus::from_rank),
                )
            })
            .collect();
        Ok(math::daily_figures(&rollups, now_minute, days))
    }

    /// The per-minute states of one SLI in `[from_minute, to_minute)`, oldest first.
    pub async fn sli_minutes(
        &self,
        sli: &str,
        from_minute: i64,
        to_minute: i64,
    ) -> anyhow::Result<Vec<(i64, ComponentStatus)>> {
        let sql = "SELECT minute, CAST(state AS BIGINT) FROM sli_minutes \
                   WHERE sli = $1 AND minute >= $2 AND minute < $3 ORDER BY minute";
        let rows: Vec<(i64, i64)> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(sli)
            .bind(from_minute)
            .bind(to_minute)
            .fetch_all(pool)
            .await)
        .context("reading sli minutes")?;
        Ok(rows
            .into_iter()
            .filter_map(|(m, s)| ComponentStatus::from_rank(s).map(|s| (m, s)))
            .collect())
    }

    /// Raw attempts of one probe in `[from, to)`, oldest first.
    pub async fn probe_results(
        &self,
        probe: &str,
        from: SystemTime,
        to: SystemTime,
    ) -> anyhow::Result<Vec<ProbeResult>> {
        let sql = "SELECT at, CAST(success AS BIGINT), CAST(degraded AS BIGINT), duration_seconds FROM probe_results \
                   WHERE probe = $1 AND at >= $2 AND at < $3 ORDER BY at";
        let rows: Vec<(i64, i64, i64, f64)> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(probe)
            .bind(unix_ms(from))
            .bind(unix_ms(to))
            .fetch_all(pool)
            .await)
        .context("reading probe results")?;
        let probe: Arc<str> = Arc::from(probe);
        Ok(rows
            .into_iter()
            .map(|(at, success, degraded, duration_seconds)| ProbeResult {
                probe: probe.clone(),
                at: from_unix_ms(at),
                success: success != 0,
                degraded: degraded != 0,
                duration_seconds,
            })
            .collect())
    }

    /// A component's intervals that overlap `[from, to)`, oldest first.
    pub async fn component_intervals(
        &self,
        component: &str,
        from: SystemTime,
        to: SystemTime,
    ) -> anyhow::Result<Vec<ComponentInterval>> {
        let sql = "SELECT state, started_at, ended_at, last_seen_at FROM component_intervals \
                   WHERE component = $1 AND started_at < $3 AND (ended_at IS NULL OR ended_at > $2) \
                   ORDER BY started_at, id";
        let rows: Vec<(String, i64, Option<i64>, i64)> = on_pool!(self, |pool| sqlx::query_as(sql)
            .bind(component)
            .bind(unix_ms(from))
            .bind(unix_ms(to))
            .fetch_all(pool)
            .await)
        .context("reading component intervals")?;
        Ok(rows
            .into_iter()
            .filter_map(|(state, started, ended, seen)| {
                Some(ComponentInterval {
                    state: ComponentStatus::parse(&state)?,
                    started_at: from_unix_ms(started),
                    ended_at: ended.map(from_unix_ms),
                    last_seen_at: from_unix_ms(seen),
                })
            })
            .collect())
    }

    /// Deletes raw results older than `raw_retention`, minute and hour buckets older than
    /// `bucket_retention`, and day rollups and closed intervals older than
    /// `history_retention`. Returns the number of rows deleted.
    pub async fn prune_sli(
        &self,
        now: SystemTime,
        raw_retention: Duration,
        bucket_retention: Duration,
        history_retention: Duration,
    ) -> anyhow::Result<u64> {
        let before = |d: Duration| unix_ms(now.checked_sub(d).unwrap_or(SystemTime::UNIX_EPOCH));
        let raw = before(raw_retention);
        let bucket_minute = before(bucket_retention).div_euclid(60_000);
        let history = before(history_retention);
        let history_day = history.div_euclid(86_400_000);
        let statements: [(&str, i64); 5] = [
            ("DELETE FROM probe_results WHERE at < $1", raw),
            ("DELETE FROM sli_minutes WHERE minute < $1", bucket_minute),
            (
                "DELETE FROM sli_hours WHERE hour < $1",
                bucket_minute.div_euclid(MINUTES_PER_HOUR),
            ),
            ("DELETE FROM sli_days WHERE day < $1", history_day),
            (
                "DELETE FROM component_intervals WHERE ended_at IS NOT NULL AND ended_at < $1",
                history,
            ),
        ];
        let mut deleted = 0;
        for (sql, bound) in statements {
            deleted += on_pool!(self, |pool| sqlx::query(sql)
                .bind(bound)
                .execute(pool)
                .await
                .map(|r| r.rows_affected()))
            .context("pruning sli history")?;
        }
        Ok(deleted)
    }
}

/// `prefix ($1, $2, …), (…) suffix` for `rows` rows of `columns` placeholders.
fn values_sql(prefix: &str, columns: usize, rows: usize, suffix: &str) -> String {
    let mut sql = String::from(prefix);
    let mut n = 0;
    for row in 0..rows {
        if row > 0 {
            sql.push_str(", ");
        }
        sql.push('(');
        for col in 0..columns {
            if col > 0 {
                sql.push_str(", ");
            }
            n += 1;
            sql.push('$');
            sql.push_str(&n.to_string());
        }
        sql.push(')');
    }
    sql.push_str(suffix);
    sql
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_buffer_keeps_the_newest_items_of_each_kind() {
        let at = |s: u64| std::time::UNIX_EPOCH + Duration::from_secs(s);
        let id: Arc<str> = Arc::from("website");
        let mut batch = SliBatch::default();
        for s in 0..4 {
            batch.probe_results.push(ProbeResult {
                probe: Arc::from("web"),
                at: at(s),
                success: true,
                degraded: false,
                duration_seconds: 0.1,
            });
            batch
                .minutes
                .push((id.clone(), s as i64, ComponentStatus::Operational));
        }
        batch.transitions.push(ComponentTransition {
            component: id.clone(),
            state: None,
            at: at(0),
        });
        batch.seen.insert(id, at(3));
        assert_eq!(batch.len(), 10);
        let limits = BufferLimits {
            probe_results: 1,
            minutes: 3,
            transitions: 1,
        };
        // 3 probe results and 1 minute row over the limits.
        assert_eq!(batch.cap(&limits), 4);
        assert_eq!(batch.len(), 6);
        assert_eq!(batch.probe_results[0].at, at(3));
        let minutes: Vec<i64> = batch.minutes.iter().map(|(_, m, _)| *m).collect();
        assert_eq!(minutes, vec![1, 2, 3]);
        assert_eq!(batch.cap(&limits), 0);
    }

    #[test]
    fn values_sql_numbers_placeholders() {
        assert_eq!(
            values_sql("INSERT INTO t (a, b) VALUES ", 2, 2, " X"),
            "INSERT INTO t (a, b) VALUES ($1, $2), ($3, $4) X"
        );
    }
}
