//! What the SLI task ([`super::recorder::run_with_clock`]) reads from and writes to its
//! history, as a trait: the [`Store`] (SQLite or PostgreSQL) in production. The method
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

/// Counts per window label, then per SLI (as [`Store::sli_window_counts`] returns them).
pub type WindowCounts = HashMap<&'static str, HashMap<String, MinuteCounts>>;

/// The SLI task's history: see the methods of the same name on [`Store`].
#[async_trait]
pub trait SliHistory: Send + Sync {
    /// [`Store::close_stale_component_intervals`].
    async fn close_stale_component_intervals(&self) -> anyhow::Result<u64>;
    /// [`Store::write_sli_batch`].
    async fn write_sli_batch(&self, batch: &SliBatch) -> anyhow::Result<()>;
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
}

// Inherent methods take precedence over trait methods, so each call below is the store's.
#[async_trait]
impl SliHistory for Store {
    async fn close_stale_component_intervals(&self) -> anyhow::Result<u64> {
        Store::close_stale_component_intervals(self).await
    }

    async fn write_sli_batch(&self, batch: &SliBatch) -> anyhow::Result<()> {
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

    async fn write_sli_batch(&self, batch: &SliBatch) -> anyhow::Result<()> {
        (**self).write_sli_batch(batch).await
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
}
