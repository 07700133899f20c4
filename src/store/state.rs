//! Up/down state intervals per target, and the recorder task that writes them.
//!
//! The recorder subscribes to published snapshots, keeps each target's current state in
//! memory and writes in batches: a transition closes the open interval and opens a new one;
//! every flush also moves the open intervals' `last_seen_at` forward. At start, intervals
//! left open by a previous process are closed at their `last_seen_at`, so the time fedimeter
//! was not running is a gap ("no data"), never counted as up or down.
//!
//! The state is the snapshot's typed health (`model::Health`, one rule for every reader):
//! up, degraded or down, and the interval's `reason` column holds the health's reason class
//! (`refused`, `timeout`, `http_status`, `slow`, …; NULL while up). A change of reason
//! while still down (refused → timeout) starts a new interval, so each interval has one
//! reason. A probe snapshot without a health (the run made no attempt) is no data: it
//! closes the open interval and opens none, so the gap is neither up nor down.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use anyhow::Context;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

use super::handle::{DropReason, StoreError, StoreHandle, Writer};
use super::{Store, from_unix_ms, unix_ms};
use crate::model::{Health, Reason, Snapshot, SnapshotStore, TargetId};
use crate::on_pool;

/// A target's recorded state: its health without the reason class.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetState {
    Up,
    Degraded,
    Down,
}

impl TargetState {
    /// The state of a snapshot's health; `None` (no data) when it has none.
    pub fn of(snapshot: &Snapshot) -> Option<TargetState> {
        snapshot.health.map(|health| match health {
            Health::Up => TargetState::Up,
            Health::Degraded { .. } => TargetState::Degraded,
            Health::Down { .. } => TargetState::Down,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            TargetState::Up => "up",
            TargetState::Degraded => "degraded",
            TargetState::Down => "down",
        }
    }

    /// The reason class of a snapshot's health (`None` when up or without health).
    pub fn reason_of(snapshot: &Snapshot) -> Option<Reason> {
        match snapshot.health? {
            Health::Up => None,
            Health::Degraded { reason } | Health::Down { reason } => Some(reason),
        }
    }

    fn parse(s: &str) -> Option<TargetState> {
        match s {
            "up" => Some(TargetState::Up),
            "degraded" => Some(TargetState::Degraded),
            "down" => Some(TargetState::Down),
            _ => None,
        }
    }
}

/// `state, started_at, ended_at, last_seen_at, reason` of a `state_intervals` row.
type IntervalRow = (String, i64, Option<i64>, i64, Option<String>);

/// One stored interval.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateInterval {
    pub state: TargetState,
    /// The health's reason class (`None` when up, or for rows written before 0005).
    pub reason: Option<Reason>,
    pub started_at: SystemTime,
    /// `None` while the interval is open.
    pub ended_at: Option<SystemTime>,
    pub last_seen_at: SystemTime,
}

impl Store {
    /// Closes intervals a previous process left open, at their `last_seen_at`.
    pub async fn close_stale_intervals(&self) -> anyhow::Result<u64> {
        let sql = "UPDATE state_intervals SET ended_at = last_seen_at WHERE ended_at IS NULL";
        let done = on_pool!(self, |pool| sqlx::query(sql)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()));
        done.context("closing stale state intervals")
    }

    /// Writes one batch: transitions (close + open) and `last_seen_at` refreshes, atomically.
    pub async fn write_state_batch(&self, batch: &StateBatch) -> anyhow::Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        on_pool!(self, |pool| {
            let mut tx = pool.begin().await.context("starting a state batch")?;
            for t in &batch.transitions {
                let at = unix_ms(t.at);
                sqlx::query(
                    "UPDATE state_intervals SET ended_at = $1, last_seen_at = $1 \
                     WHERE target_kind = $2 AND target_name = $3 AND ended_at IS NULL",
                )
                .bind(at)
                .bind(t.target.kind.name())
                .bind(&*t.target.name)
                .execute(&mut *tx)
                .await
                .context("closing a state interval")?;
                // No data (`None`): the interval is closed and none is opened.
                let Some(state) = t.state else { continue };
                sqlx::query(
                    "INSERT INTO state_intervals (target_kind, target_name, state, started_at, last_seen_at, reason) \
                     VALUES ($1, $2, $3, $4, $4, $5)",
                )
                .bind(t.target.kind.name())
                .bind(&*t.target.name)
                .bind(state.as_str())
                .bind(at)
                .bind(t.reason.map(Reason::as_str))
                .execute(&mut *tx)
                .await
                .context("opening a state interval")?;
            }
            for (target, seen) in &batch.seen {
                sqlx::query(
                    "UPDATE state_intervals SET last_seen_at = $1 \
                     WHERE target_kind = $2 AND target_name = $3 AND ended_at IS NULL AND last_seen_at < $1",
                )
                .bind(unix_ms(*seen))
                .bind(target.kind.name())
                .bind(&*target.name)
                .execute(&mut *tx)
                .await
                .context("refreshing a state interval")?;
            }
            tx.commit().await.context("committing a state batch")
        })
    }

    /// A target's intervals that overlap `[from, to)`, oldest first.
    pub async fn state_intervals(
        &self,
        target: &TargetId,
        from: SystemTime,
        to: SystemTime,
    ) -> anyhow::Result<Vec<StateInterval>> {
        let sql = "SELECT state, started_at, ended_at, last_seen_at, reason FROM state_intervals \
                   WHERE target_kind = $1 AND target_name = $2 AND started_at < $4 \
                   AND (ended_at IS NULL OR ended_at > $3) ORDER BY started_at, id";
        let rows: Vec<IntervalRow> = on_pool!(self, |pool| {
            sqlx::query_as(sql)
                .bind(target.kind.name())
                .bind(&*target.name)
                .bind(unix_ms(from))
                .bind(unix_ms(to))
                .fetch_all(pool)
                .await
        })
        .context("reading state intervals")?;
        Ok(rows
            .into_iter()
            .filter_map(|(state, started, ended, seen, reason)| {
                Some(StateInterval {
                    state: TargetState::parse(&state)?,
                    reason: reason.and_then(|r| Reason::ALL.into_iter().find(|c| c.as_str() == r)),
                    started_at: from_unix_ms(started),
                    ended_at: ended.map(from_unix_ms),
                    last_seen_at: from_unix_ms(seen),
                })
            })
            .collect())
    }
}

/// A state change of one target at one time; `state: None` ends the open interval without
/// opening another (no data).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub target: TargetId,
    pub state: Option<TargetState>,
    /// The reason class of the new state (`None` when up or no data).
    pub reason: Option<Reason>,
    pub at: SystemTime,
}

/// What the recorder writes in one go.
#[derive(Debug, Default)]
pub struct StateBatch {
    pub transitions: Vec<Transition>,
    pub seen: HashMap<TargetId, SystemTime>,
}

impl StateBatch {
    pub fn is_empty(&self) -> bool {
        self.transitions.is_empty() && self.seen.is_empty()
    }

    /// Items waiting: transitions plus `seen` refreshes.
    pub fn len(&self) -> usize {
        self.transitions.len() + self.seen.len()
    }

    /// Drops the oldest transitions beyond `max`; returns how many went.
    pub fn cap(&mut self, max: usize) -> usize {
        let excess = self.transitions.len().saturating_sub(max);
        self.transitions.drain(..excess);
        excess
    }
}

/// Pure state tracking: feeds snapshots, yields transitions. Tested without I/O.
#[derive(Debug, Default)]
pub struct StateTracker {
    current: HashMap<TargetId, Option<(TargetState, Option<Reason>)>>,
}

impl StateTracker {
    /// Applies a snapshot to the batch: a transition when the state or its reason changed
    /// (or is first seen in this process), and a `seen` refresh while the target has a
    /// state. A snapshot without health (no data) closes the open interval.
    pub fn observe(&mut self, snapshot: &Snapshot, batch: &mut StateBatch) {
        let reason = TargetState::reason_of(snapshot);
        let state = TargetState::of(snapshot).map(|s| (s, reason));
        let target = &snapshot.target;
        let changed = match self.current.insert(target.clone(), state) {
            // First seen without data: nothing is open (stale intervals were closed at start).
            None => state.is_some(),
            Some(previous) => previous != state,
        };
        if changed {
            batch.transitions.push(Transition {
                target: target.clone(),
                state: state.map(|(s, _)| s),
                reason,
                at: snapshot.finished_at,
            });
        }
        match state {
            Some(_) => {
                batch.seen.insert(target.clone(), snapshot.finished_at);
            }
            None => {
                batch.seen.remove(target);
            }
        }
    }
}

/// State transitions kept while the store is away; beyond this the oldest are dropped and
/// counted in `fedimeter_store_writes_dropped_total{writer="state",reason="buffer_full"}`.
/// (The `seen` refreshes are one per target and need no cap.)
pub const MAX_BUFFERED_TRANSITIONS: usize = 10_000;

/// The last flush at shutdown gets at most this long (the drain deadline is 4 s).
pub const FINAL_FLUSH_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the recorder until `shutdown`, flushing every `flush_every` and once more at the end.
/// While the store is down the batch keeps growing (bounded by
/// [`MAX_BUFFERED_TRANSITIONS`]) and is written once the store is back; the intervals a
/// previous process left open are closed before this process' first write.
pub async fn run_recorder(
    store: StoreHandle,
    snapshots: Arc<SnapshotStore>,
    flush_every: Duration,
    shutdown: CancellationToken,
) {
    let mut rx = snapshots.subscribe();
    let mut recorder = Recorder {
        store,
        batch: StateBatch::default(),
        stale_closed: false,
    };
    let mut tracker = StateTracker::default();
    let mut flush = tokio::time::interval(flush_every);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = flush.tick() => {
                let deadline = recorder.store.write_deadline(recorder.batch.len());
                recorder.flush(deadline).await;
            }
            received = rx.recv() => {
                match received {
                    Ok(snapshot) => tracker.observe(&snapshot, &mut recorder.batch),
                    Err(RecvError::Lagged(missed)) => {
                        tracing::warn!("state recorder lagged behind by {missed} snapshots; resynchronising");
                        for (_, snapshot) in snapshots.latest() {
                            if let Some(snapshot) = snapshot {
                                tracker.observe(&snapshot, &mut recorder.batch);
                            }
                        }
                    }
                    Err(RecvError::Closed) => break,
                }
                recorder.cap();
            }
        }
    }
    let last = recorder
        .store
        .options()
        .write_timeout
        .min(FINAL_FLUSH_TIMEOUT);
    recorder.flush(last).await;
    // Whatever is left could not be written before the end.
    let left = recorder.batch.len();
    recorder
        .store
        .dropped(Writer::State, DropReason::Shutdown, left as u64);
    if left > 0 {
        tracing::warn!(
            "state recorder: {left} state changes not written (the store is unavailable)"
        );
    }
}

struct Recorder {
    store: StoreHandle,
    batch: StateBatch,
    /// Whether this process has closed the intervals a previous one left open.
    stale_closed: bool,
}

impl Recorder {
    fn cap(&mut self) {
        let dropped = self.batch.cap(MAX_BUFFERED_TRANSITIONS);
        self.store
            .dropped(Writer::State, DropReason::BufferFull, dropped as u64);
        self.store.buffered(Writer::State, self.batch.len());
    }

    async fn flush(&mut self, deadline: Duration) {
        if !self.store.is_up() || (self.stale_closed && self.batch.is_empty()) {
            return;
        }
        if !self.stale_closed {
            let closed = self
                .store
                .call_within(Some(Writer::State), deadline, |s: Store| async move {
                    s.close_stale_intervals().await
                })
                .await;
            match closed {
                Ok(_) => self.stale_closed = true,
                Err(e) => return self.failed(e),
            }
        }
        if self.batch.is_empty() {
            return;
        }
        let batch = &self.batch;
        let written = self
            .store
            .call_within(Some(Writer::State), deadline, move |s: Store| async move {
                s.write_state_batch(batch).await
            })
            .await;
        match written {
            Ok(()) => self.batch = StateBatch::default(),
            // Keep the batch: the next flush retries it with whatever came since.
            Err(e) => self.failed(e),
        }
        self.store.buffered(Writer::State, self.batch.len());
    }

    fn failed(&self, e: StoreError) {
        // Unavailable or timed out: the handle logged the loss once.
        if let StoreError::Failed(e) = e
            && self.store.is_up()
        {
            tracing::warn!("state recorder: {e:#}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Kind;

    #[test]
    fn the_buffer_keeps_the_newest_transitions_up_to_its_cap() {
        let target = TargetId::new(Kind::Redis, "r");
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let mut batch = StateBatch::default();
        for s in 0..5 {
            batch.transitions.push(Transition {
                target: target.clone(),
                state: Some(if s % 2 == 0 {
                    TargetState::Up
                } else {
                    TargetState::Down
                }),
                reason: None,
                at: at(s),
            });
        }
        batch.seen.insert(target.clone(), at(4));
        assert_eq!(batch.len(), 6);
        assert_eq!(batch.cap(5), 0, "at the cap nothing goes");
        assert_eq!(batch.cap(3), 2);
        let kept: Vec<SystemTime> = batch.transitions.iter().map(|t| t.at).collect();
        assert_eq!(kept, vec![at(2), at(3), at(4)]);
        assert_eq!(batch.len(), 4);
    }
}
