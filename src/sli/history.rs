//! What the SLI task ([`super::recorder::run_with_clock`]) reads from and writes to its
//! history, as a trait: in production the [`StoreHandle`] (the store may be away: calls
//! then fail fast with a [`crate::store::handle::StoreError`] inside an `anyhow::Error`, and the task keeps its
//! batch), implemented over the [`Store`] (SQLite or PostgreSQL). The method
//! names and signatures are the store's own, so the task's code reads the same either way.
//!
//! The seam exists for tests on paused tokio time: the real store runs its queries on
//! threads the paused clock knows nothing about, so while a write is in flight the clock
//! would auto-advance through the task's timers. A test wraps the real store in an
//! implementation that completes each call before the paused clock can move
//! (`tests/sli_task.rs`).

use std::collections::HashMap;
use std::time::{Duration, SystemTime};

use async_trait::async_trait;

use super::math::{MinuteCounts, Window};
use super::store::SliBatch;
use crate::store::Store;
use crate::store::handle::{DropReason, StoreHandle, Writer};

/// Counts per window label, then per SLI (as [`Store::sli_window_counts`] returns them).
pub type WindowCounts = HashMap<&'static str, HashMap<String, MinuteCounts>>;

/// The SLI task's history: see the methods of the same name on [`Store`].
#[async_trait]
pub trait SliHistory: Send + Sync {
    /// [`Store::close_stale_component_intervals`].
    async fn close_stale_component_intervals(&self) -> anyhow::Result<u64>;
    /// [`Store::write_sli_batch`]; `last`: the final write at shutdown (a shorter deadline).
    async fn write_sli_batch(&self, batch: &SliBatch, last: bool) -> anyhow::Result<()>;
    /// [`Store::sli_window_counts`].
    async fn sli_window_counts(
        &self,
        now_minute: i64,
        windows: &[Window],
    ) -> anyhow::Result<WindowCounts>;
    /// [`Store::prune_sli`].
    async fn prune_sli(
        &self,
        now: SystemTime,
        raw_retention: Duration,
        bucket_retention: Duration,
        history_retention: Duration,
    ) -> anyhow::Result<u64>;
    /// Whether writes can be attempted now (a plain store: always).
    fn is_up(&self) -> bool {
        true
    }
    /// Counts items the task had to drop (`fedimeter_store_writes_dropped_total`).
    fn dropped(&self, _writer: Writer, _reason: DropReason, _items: u64) {}
    /// Reports the items waiting to be written (`fedimeter_store_buffered_items`).
    fn buffered(&self, _writer: Writer, _items: usize) {}
}

// Inherent methods take precedence over trait methods, so each call below is the store's.
#[async_trait]
impl SliHistory for Store {
    async fn close_stale_component_intervals(&self) -> anyhow::Result<u64> {
        Store::close_stale_component_intervals(self).await
    }

    async fn write_sli_batch(&self, batch: &SliBatch, _last: bool) -> anyhow::Result<()> {
        Store::write_sli_batch(self, batch).await
    }

    async fn sli_window_counts(
        &self,
        now_minute: i64,
        windows: &[Window],
    ) -> anyhow::Result<WindowCounts> {
        Store::sli_window_counts(self, now_minute, windows).await
    }

    async fn prune_sli(
        &self,
        now: SystemTime,
        raw_retention: Duration,
        bucket_retention: Duration,
        history_retention: Duration,
    ) -> anyhow::Result<u64> {
        Store::prune_sli(
            self,
            now,
            raw_retention,
            bucket_retention,
            history_retention,
        )
        .await
    }
}

/// A shared history (a test keeps a handle to read what the task wrote).
#[async_trait]
impl<T: SliHistory + ?Sized> SliHistory for std::sync::Arc<T> {
    async fn close_stale_component_intervals(&self) -> anyhow::Result<u64> {
        (**self).close_stale_component_intervals().await
    }

    async fn write_sli_batch(&self, batch: &SliBatch, last: bool) -> anyhow::Result<()> {
        (**self).write_sli_batch(batch, last).await
    }

    async fn sli_window_counts(
        &self,
        now_minute: i64,
        windows: &[Window],
    ) -> anyhow::Result<WindowCounts> {
        (**self).sli_window_counts(now_minute, windows).await
    }

    async fn prune_sli(
        &self,
        now: SystemTime,
        raw_retention: Duration,
        bucket_retention: Duration,
        history_retention: Duration,
    ) -> anyhow::Result<u64> {
        (**self)
            .prune_sli(now, raw_retention, bucket_retention, history_retention)
            .await
    }

    fn is_up(&self) -> bool {
        (**self).is_up()
    }

    fn dropped(&self, writer: Writer, reason: DropReason, items: u64) {
        (**self).dropped(writer, reason, items)
    }

    fn buffered(&self, writer: Writer, items: usize) {
        (**self).buffered(writer, items)
    }
}

/// The production history: every call goes through the handle, with its deadlines (reads:
/// the read timeout; writes: the write deadline for the batch's size; the final write at
/// shutdown at most [`crate::store::state::FINAL_FLUSH_TIMEOUT`]).
#[async_trait]
impl SliHistory for StoreHandle {
    async fn close_stale_component_intervals(&self) -> anyhow::Result<u64> {
        let deadline = self.options().write_timeout;
        self.call_within(Some(Writer::Sli), deadline, |s: Store| async move {
            s.close_stale_component_intervals().await
        })
        .await
        .map_err(anyhow::Error::new)
    }

    async fn write_sli_batch(&self, batch: &SliBatch, last: bool) -> anyhow::Result<()> {
        let mut deadline = self.write_deadline(batch.len());
        if last {
            deadline = deadline.min(crate::store::state::FINAL_FLUSH_TIMEOUT);
        }
        self.call_within(Some(Writer::Sli), deadline, move |s: Store| async move {
            s.write_sli_batch(batch).await
        })
        .await
        .map_err(anyhow::Error::new)
    }

    async fn sli_window_counts(
        &self,
        now_minute: i64,
        windows: &[Window],
    ) -> anyhow::Result<WindowCounts> {
        self.call(None, move |s: Store| async move {
            s.sli_window_counts(now_minute, windows).await
        })
        .await
        .map_err(anyhow::Error::new)
    }

    async fn prune_sli(
        &self,
        now: SystemTime,
        raw_retention: Duration,
        bucket_retention: Duration,
        history_retention: Duration,
    ) -> anyhow::Result<u64> {
        // Pruning deletes up to an hour of raw results: a write's deadline.
        let deadline = self.options().write_timeout;
        self.call_within(None, deadline, move |s: Store| async move {
            s.prune_sli(now, raw_retention, bucket_retention, history_retention)
                .await
        })
        .await
        .map_err(anyhow::Error::new)
    }

    fn is_up(&self) -> bool {
        StoreHandle::is_up(self)
    }

    fn dropped(&self, writer: Writer, reason: DropReason, items: u64) {
        StoreHandle::dropped(self, writer, reason, items)
    }

    fn buffered(&self, writer: Writer, items: usize) {
        StoreHandle::buffered(self, writer, items)
    }
}
