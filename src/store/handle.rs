//! The store is not a hard dependency: [`StoreHandle`] owns the connection state
//! (connecting / up / down) so that `serve` starts, collects and serves at once whatever
//! the store does.
//!
//! A background task ([`StoreHandle::run`]) opens the store (connect + migrations, which
//! applies whatever migrations are missing) with a bounded connect timeout; a failed
//! attempt is retried after an exponential backoff with jitter ([`Backoff`]). While up, it
//! pings the store every `check_every`; an operation that times out or loses its
//! connection marks the store down at once (readers and writers stop waiting on it) and
//! the task reconnects with a fresh pool. Every operation goes through
//! [`StoreHandle::call`] with a deadline, so nothing waits longer than `op_timeout` on a
//! hung store.
//!
//! The writers (the state recorder, the SLI recorder) keep what they could not write in
//! their pending batch, bounded, and count what they drop; the handle publishes
//! `fedimeter_store_up`, `fedimeter_store_connects_total`,
//! `fedimeter_store_write_errors_total`, `fedimeter_store_writes_dropped_total` and
//! `fedimeter_store_buffered_items` as internal families (`docs/store.md`). It logs one line
//! when the store is lost (or unavailable at start) and one when it is back, never the URL.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng;
use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::Store;
use crate::model::{Family, MetricDesc, Sample, SnapshotStore};

pub static STORE_UP: MetricDesc = MetricDesc::gauge(
    "fedimeter_store_up",
    "1 when the history store is connected and answering, 0 while fedimeter is (re)connecting",
    &[],
);
pub static STORE_CONNECTS: MetricDesc = MetricDesc::counter(
    "fedimeter_store_connects_total",
    "Attempts to open the history store (connect and migrate), by result (success, failure)",
    &["result"],
);
pub static STORE_WRITE_ERRORS: MetricDesc = MetricDesc::counter(
    "fedimeter_store_write_errors_total",
    "History writes that failed or timed out and are retried later, by writer (state, sli)",
    &["writer"],
);
pub static STORE_WRITES_DROPPED: MetricDesc = MetricDesc::counter(
    "fedimeter_store_writes_dropped_total",
    "Buffered history items dropped without being written, by writer and reason (buffer_full, shutdown)",
    &["writer", "reason"],
);
pub static STORE_BUFFERED: MetricDesc = MetricDesc::gauge(
    "fedimeter_store_buffered_items",
    "History items waiting to be written, by writer",
    &["writer"],
);

/// Every family the handle publishes.
pub static DESCRIPTORS: [&MetricDesc; 5] = [
    &STORE_UP,
    &STORE_CONNECTS,
    &STORE_WRITE_ERRORS,
    &STORE_WRITES_DROPPED,
    &STORE_BUFFERED,
];

/// The `publish_internal` source name of the store families.
pub const SOURCE: &str = "store";

/// Timing of the connection task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// One attempt to connect and migrate.
    pub connect_timeout: Duration,
    /// A read or a health check, including waiting for a pooled connection.
    pub op_timeout: Duration,
    /// A writer's batch (a batch buffered during an outage can be large).
    pub write_timeout: Duration,
    /// Health check (`SELECT 1`) period while up.
    pub check_every: Duration,
    /// First reconnect delay; doubled after each failure up to `backoff_max`.
    pub backoff_initial: Duration,
    pub backoff_max: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            connect_timeout: Duration::from_secs(3),
            op_timeout: Duration::from_secs(3),
            write_timeout: Duration::from_secs(10),
            check_every: Duration::from_secs(2),
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
        }
    }
}

/// Exponential backoff with "equal jitter": the n-th delay is uniformly drawn from
/// `[d/2, d]` with `d = min(initial · 2ⁿ, max)`, so reconnecting instances spread out but a
/// delay never exceeds `max`.
#[derive(Debug, Clone)]
pub struct Backoff {
    initial: Duration,
    max: Duration,
    next: Duration,
}

impl Backoff {
    pub fn new(initial: Duration, max: Duration) -> Backoff {
        let initial = initial.max(Duration::from_millis(1));
        let max = max.max(initial);
        Backoff {
            initial,
            max,
            next: initial,
        }
    }

    /// The next delay for a jitter draw `jitter` in `[0, 1]`.
    pub fn next_delay(&mut self, jitter: f64) -> Duration {
        let d = self.next;
        self.next = (self.next * 2).min(self.max);
        d.mul_f64(0.5 + jitter.clamp(0.0, 1.0) / 2.0)
    }

    /// After a success: start from `initial` again.
    pub fn reset(&mut self) {
        self.next = self.initial;
    }
}

/// The history writers, as the `writer` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    State,
    Sli,
}

impl Writer {
    pub const ALL: [Writer; 2] = [Writer::State, Writer::Sli];

    pub fn as_str(self) -> &'static str {
        match self {
            Writer::State => "state",
            Writer::Sli => "sli",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Why buffered items were dropped, as the `reason` label.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    /// The writer's buffer reached its cap while the store was away; the oldest went.
    BufferFull,
    /// fedimeter stopped while the store was away.
    Shutdown,
}

impl DropReason {
    pub const ALL: [DropReason; 2] = [DropReason::BufferFull, DropReason::Shutdown];

    pub fn as_str(self) -> &'static str {
        match self {
            DropReason::BufferFull => "buffer_full",
            DropReason::Shutdown => "shutdown",
        }
    }
}

/// Why an operation did not happen.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store is not connected; nothing was attempted.
    #[error("the store is unavailable")]
    Unavailable,
    /// The operation did not finish within `op_timeout`; the store is now marked down.
    #[error("the store did not answer within {0:?}")]
    TimedOut(Duration),
    /// The operation failed (a lost connection also marks the store down).
    #[error(transparent)]
    Failed(anyhow::Error),
}

/// A cheap, clonable view of whether the store is up, for the web handlers.
#[derive(Debug, Clone)]
pub struct StoreStatus(Arc<AtomicBool>);

impl StoreStatus {
    pub fn is_up(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

impl Default for StoreStatus {
    /// Up: for routers built without a store (tests).
    fn default() -> Self {
        StoreStatus(Arc::new(AtomicBool::new(true)))
    }
}

/// Opens the store once (connect + migrations). [`StoreHandle::run`] calls it per attempt.
pub type Connector =
    Arc<dyn Fn() -> Pin<Box<dyn Future<Output = anyhow::Result<Store>> + Send>> + Send + Sync>;

#[derive(Debug, Default)]
struct Stats {
    connect_success: u64,
    connect_failure: u64,
    write_errors: [u64; 2],
    dropped: [[u64; 2]; 2],
    buffered: [u64; 2],
}

struct Inner {
    options: StoreOptions,
    /// The connected store and its generation (bumped on every connect).
    current: Mutex<Option<(u64, Store)>>,
    up: StoreStatus,
    /// Wakes the connection task when an operation found the store gone.
    lost: Notify,
    stats: Mutex<Stats>,
    snapshots: Option<Arc<SnapshotStore>>,
}

/// Shared connection state of the store; cheap to clone.
#[derive(Clone)]
pub struct StoreHandle {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for StoreHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreHandle")
            .field("up", &self.is_up())
            .finish_non_exhaustive()
    }
}

impl StoreHandle {
    /// A handle that is down until [`StoreHandle::run`] connects it. With `snapshots`, the
    /// store families are published there on every change.
    pub fn new(options: StoreOptions, snapshots: Option<Arc<SnapshotStore>>) -> StoreHandle {
        let handle = StoreHandle {
            inner: Arc::new(Inner {
                options,
                current: Mutex::new(None),
                up: StoreStatus(Arc::new(AtomicBool::new(false))),
                lost: Notify::new(),
                stats: Mutex::new(Stats::default()),
                snapshots,
            }),
        };
        handle.publish();
        handle
    }

    /// A handle that is up with an already opened store and has no connection task (tests
    /// and tools; a lost connection stays lost).
    pub fn connected(store: Store, snapshots: Option<Arc<SnapshotStore>>) -> StoreHandle {
        let handle = StoreHandle::new(StoreOptions::default(), snapshots);
        handle.set_up(store);
        handle
    }

    pub fn options(&self) -> StoreOptions {
        self.inner.options
    }

    /// The deadline of a batch of `items`: `write_timeout` plus 0.1 ms per item, so the
    /// backlog of a long outage (up to about 200,000 items, +20 s) gets the time to be
    /// written instead of timing out, being retried and timing out again.
    pub fn write_deadline(&self, items: usize) -> Duration {
        let extra =
            Duration::from_micros(100).saturating_mul(u32::try_from(items).unwrap_or(u32::MAX));
        self.inner.options.write_timeout.saturating_add(extra)
    }

    pub fn is_up(&self) -> bool {
        self.inner.up.is_up()
    }

    /// The connected store, for a caller that runs several statements of its own (the
    /// Discord outbox); `None` while the store is down. Prefer [`StoreHandle::call`], which
    /// adds a deadline and marks the store down on a lost connection.
    pub fn current(&self) -> Option<Store> {
        lock(&self.inner.current).clone().map(|(_, store)| store)
    }

    /// The flag the web handlers read.
    pub fn status(&self) -> StoreStatus {
        self.inner.up.clone()
    }

    /// Runs `op` on the connected store within `op_timeout` (a read, `writer` `None`) or
    /// `write_timeout` (a writer's batch). Fails at once with [`StoreError::Unavailable`]
    /// when the store is down. A timeout or a lost connection marks the store down and
    /// wakes the connection task; a write error is counted in
    /// `fedimeter_store_write_errors_total`.
    pub async fn call<T, F, Fut>(&self, writer: Option<Writer>, op: F) -> Result<T, StoreError>
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        let o = self.inner.options;
        let timeout = if writer.is_some() {
            o.write_timeout
        } else {
            o.op_timeout
        };
        self.call_within(writer, timeout, op).await
    }

    /// [`StoreHandle::call`] with an explicit deadline (the final flush at shutdown).
    pub async fn call_within<T, F, Fut>(
        &self,
        writer: Option<Writer>,
        timeout: Duration,
        op: F,
    ) -> Result<T, StoreError>
    where
        F: FnOnce(Store) -> Fut,
        Fut: Future<Output = anyhow::Result<T>>,
    {
        let Some((generation, store)) = lock(&self.inner.current).clone() else {
            return Err(StoreError::Unavailable);
        };
        let error = match tokio::time::timeout(timeout, op(store)).await {
            Ok(Ok(value)) => return Ok(value),
            Ok(Err(e)) => {
                if is_connection_error(&e) {
                    self.lose(generation, &format!("{}", e.root_cause()));
                }
                StoreError::Failed(e)
            }
            Err(_) => {
                self.lose(generation, "an operation timed out");
                StoreError::TimedOut(timeout)
            }
        };
        if let Some(w) = writer {
            lock(&self.inner.stats).write_errors[w.index()] += 1;
            self.publish();
        }
        Err(error)
    }

    /// Counts items a writer dropped.
    pub fn dropped(&self, writer: Writer, reason: DropReason, items: u64) {
        if items == 0 {
            return;
        }
        let reason = match reason {
            DropReason::BufferFull => 0,
            DropReason::Shutdown => 1,
        };
        lock(&self.inner.stats).dropped[writer.index()][reason] += items;
        self.publish();
    }

    /// Sets how many items a writer has waiting.
    pub fn buffered(&self, writer: Writer, items: usize) {
        let items = items as u64;
        let mut stats = lock(&self.inner.stats);
        if stats.buffered[writer.index()] != items {
            stats.buffered[writer.index()] = items;
            drop(stats);
            self.publish();
        }
    }

    /// Waits until the store is up (or `shutdown`).
    pub async fn wait_up(&self, shutdown: &CancellationToken) -> bool {
        while !self.is_up() {
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep(Duration::from_millis(50)) => {}
            }
        }
        true
    }

    fn set_up(&self, store: Store) {
        let mut current = lock(&self.inner.current);
        let generation = current.as_ref().map_or(0, |(g, _)| g + 1);
        *current = Some((generation, store));
        drop(current);
        self.inner.up.0.store(true, Ordering::Relaxed);
        self.publish();
    }

    /// Marks the store down if `generation` is still the connected one.
    fn lose(&self, generation: u64, reason: &str) {
        let mut current = lock(&self.inner.current);
        if current.as_ref().is_some_and(|(g, _)| *g == generation) {
            let old = current.take();
            drop(current);
            self.inner.up.0.store(false, Ordering::Relaxed);
            let backend = old.as_ref().map_or("store", |(_, s)| s.backend());
            tracing::warn!(
                "history store ({backend}) lost: {reason}; collecting and serving go on, \
                 history is buffered and written when it is back"
            );
            if let Some((_, store)) = old {
                close_in_background(store);
            }
            self.inner.lost.notify_one();
            self.publish();
        }
    }

    fn generation(&self) -> Option<u64> {
        lock(&self.inner.current).as_ref().map(|(g, _)| *g)
    }

    /// The connection task: connects with backoff, pings while up, reconnects when lost,
    /// until `shutdown`.
    pub async fn run(self, connect: Connector, shutdown: CancellationToken) {
        let o = self.inner.options;
        let mut backoff = Backoff::new(o.backoff_initial, o.backoff_max);
        // When the store went away (or the process started), for the recovery log line.
        let mut away_since: Option<Instant> = Some(Instant::now());
        let mut logged_unavailable = false;
        let mut ever_up = self.is_up();
        loop {
            if let Some(generation) = self.generation() {
                // Up: health checks until an operation or a check finds it gone.
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = self.inner.lost.notified() => {}
                    _ = tokio::time::sleep(o.check_every) => {
                        let ping = self.call(None, async |store: Store| store.ping().await).await;
                        if let Err(StoreError::Failed(e)) = &ping {
                            // Not a connection error, yet the store cannot answer SELECT 1.
                            self.lose(generation, &format!("{}", e.root_cause()));
                        }
                    }
                }
                if !self.is_up() {
                    away_since = Some(Instant::now());
                    logged_unavailable = true; // `lose` logged it
                }
                continue;
            }
            let attempt = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = tokio::time::timeout(o.connect_timeout, connect()) => r,
            };
            match attempt {
                Ok(Ok(store)) => {
                    lock(&self.inner.stats).connect_success += 1;
                    let backend = store.backend();
                    self.set_up(store);
                    backoff.reset();
                    let away = away_since.take().map(|t| t.elapsed()).unwrap_or_default();
                    if ever_up || logged_unavailable {
                        tracing::info!(
                            "history store ({backend}) is back after {}; migrations checked, writing what was buffered",
                            humantime::format_duration(Duration::from_millis(
                                u64::try_from(away.as_millis() / 100 * 100).unwrap_or(u64::MAX)
                            ))
                        );
                    } else {
                        tracing::info!(backend, "store ready");
                    }
                    ever_up = true;
                    logged_unavailable = false;
                }
                failed => {
                    lock(&self.inner.stats).connect_failure += 1;
                    self.publish();
                    let reason = match &failed {
                        Ok(Err(e)) => format!("{}", e.root_cause()),
                        _ => format!("no answer within {:?}", o.connect_timeout),
                    };
                    if !logged_unavailable {
                        tracing::warn!(
                            "history store unavailable: {reason}; collecting and serving go on, \
                             retrying with backoff"
                        );
                        logged_unavailable = true;
                    } else {
                        tracing::debug!("history store still unavailable: {reason}");
                    }
                    let delay = backoff.next_delay(rand::rng().random_range(0.0..=1.0));
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    /// Closes the connected store at shutdown (at most 1 s: a hung store is abandoned).
    pub async fn close(&self) {
        let current = lock(&self.inner.current).take();
        self.inner.up.0.store(false, Ordering::Relaxed);
        self.publish();
        if let Some((_, store)) = current {
            let limit = self.inner.options.op_timeout.min(Duration::from_secs(1));
            let _ = tokio::time::timeout(limit, store.close()).await;
        }
    }

    /// The store families as they are now.
    pub fn families(&self) -> Vec<Family> {
        let stats = lock(&self.inner.stats);
        let mut up = Family::new(&STORE_UP);
        up.samples
            .push(sample(&[], f64::from(u8::from(self.is_up()))));
        let mut connects = Family::new(&STORE_CONNECTS);
        connects
            .samples
            .push(sample(&["success"], stats.connect_success as f64));
        connects
            .samples
            .push(sample(&["failure"], stats.connect_failure as f64));
        let mut errors = Family::new(&STORE_WRITE_ERRORS);
        let mut dropped = Family::new(&STORE_WRITES_DROPPED);
        let mut buffered = Family::new(&STORE_BUFFERED);
        for w in Writer::ALL {
            let i = w.index();
            errors
                .samples
                .push(sample(&[w.as_str()], stats.write_errors[i] as f64));
            for (r, reason) in DropReason::ALL.iter().enumerate() {
                dropped.samples.push(sample(
                    &[w.as_str(), reason.as_str()],
                    stats.dropped[i][r] as f64,
                ));
            }
            buffered
                .samples
                .push(sample(&[w.as_str()], stats.buffered[i] as f64));
        }
        vec![up, connects, errors, dropped, buffered]
    }

    fn publish(&self) {
        if let Some(snapshots) = &self.inner.snapshots {
            snapshots.publish_internal(SOURCE, self.families());
        }
    }
}

/// The production connector: [`Store::open_with`] on `url`.
pub fn connector(url: crate::config::SecretUrl, options: StoreOptions) -> Connector {
    Arc::new(move || {
        let url = url.clone();
        Box::pin(async move { Store::open_with(&url, options.op_timeout).await })
    })
}

/// Whether `e` says the connection is gone (as opposed to a failed statement).
fn is_connection_error(e: &anyhow::Error) -> bool {
    e.chain().any(|cause| {
        matches!(
            cause.downcast_ref::<sqlx::Error>(),
            Some(
                sqlx::Error::Io(_)
                    | sqlx::Error::Tls(_)
                    | sqlx::Error::Protocol(_)
                    | sqlx::Error::PoolTimedOut
                    | sqlx::Error::PoolClosed
                    | sqlx::Error::WorkerCrashed
            )
        )
    })
}

/// A lost pool is closed without waiting for it: a hung server may never answer.
fn close_in_background(store: Store) {
    tokio::spawn(async move {
        let _ = tokio::time::timeout(Duration::from_secs(10), store.close()).await;
    });
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

fn sample(labels: &[&str], value: f64) -> Sample {
    Sample {
        labels: labels.iter().map(|l| Box::<str>::from(*l)).collect(),
        value,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn backoff_doubles_to_the_cap_with_bounded_jitter() {
        let mut b = Backoff::new(Duration::from_millis(250), Duration::from_secs(2));
        // Without jitter (draw 1.0) the delays are 250ms, 500ms, 1s, 2s, 2s.
        let full: Vec<u128> = (0..5).map(|_| b.next_delay(1.0).as_millis()).collect();
        assert_eq!(full, vec![250, 500, 1000, 2000, 2000]);
        // The smallest draw halves them.
        b.reset();
        let half: Vec<u128> = (0..5).map(|_| b.next_delay(0.0).as_millis()).collect();
        assert_eq!(half, vec![125, 250, 500, 1000, 1000]);
        b.reset();
        assert_eq!(b.next_delay(0.5), Duration::from_micros(187_500));
    }

    #[test]
    fn a_big_backlog_gets_a_longer_write_deadline() {
        let handle = StoreHandle::new(StoreOptions::default(), None);
        assert_eq!(handle.write_deadline(0), Duration::from_secs(10));
        assert_eq!(handle.write_deadline(10_000), Duration::from_secs(11));
        assert_eq!(handle.write_deadline(200_000), Duration::from_secs(30));
    }

    fn test_options() -> StoreOptions {
        StoreOptions {
            connect_timeout: Duration::from_secs(3),
            op_timeout: Duration::from_secs(1),
            write_timeout: Duration::from_secs(2),
            // No health check (real SQLite I/O) during these paused-time tests: auto-advance
            // would fire its timeout while the SQLite worker thread answers.
            check_every: Duration::from_secs(3600),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(8),
        }
    }

    async fn sqlite_store(dir: &tempfile::TempDir) -> Store {
        let url = crate::config::SecretUrl::new(format!(
            "sqlite://{}",
            dir.path().join("h.db").display()
        ));
        Store::open(&url).await.expect("sqlite store")
    }

    fn value(handle: &StoreHandle, name: &str, labels: &[&str]) -> f64 {
        handle
            .families()
            .iter()
            .filter(|f| f.desc.name == name)
            .flat_map(|f| f.samples.iter())
            .find(|s| s.labels.iter().map(|l| &**l).eq(labels.iter().copied()))
            .map(|s| s.value)
            .expect("sample")
    }

    /// A connector that fails `failures` times (counting attempts), then hands out `store`.
    fn flaky(store: Store, failures: usize, attempts: Arc<AtomicUsize>) -> Connector {
        Arc::new(move || {
            let store = store.clone();
            let n = attempts.fetch_add(1, Ordering::SeqCst);
            Box::pin(async move {
                if n < failures {
                    anyhow::bail!("connection refused")
                }
                Ok(store)
            })
        })
    }

    #[tokio::test]
    async fn reconnects_with_backoff_on_paused_time() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = sqlite_store(&dir).await;
        tokio::time::pause();
        let handle = StoreHandle::new(test_options(), None);
        let attempts = Arc::new(AtomicUsize::new(0));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(
            handle
                .clone()
                .run(flaky(store, 3, attempts.clone()), shutdown.clone()),
        );
        let start = Instant::now();
        // Attempt 1 at 0 s; the delays after failures 1..3 are within [0.5, 1], [1, 2],
        // [2, 4] s, so attempt 4 (the first success) happens between 3.5 s and 7 s.
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert_eq!(attempts.load(Ordering::SeqCst), 1);
        assert!(!handle.is_up());
        assert!(matches!(
            handle.call(None, async |_s: Store| Ok(())).await,
            Err(StoreError::Unavailable)
        ));
        while !handle.is_up() {
            tokio::time::sleep(Duration::from_millis(10)).await;
            assert!(start.elapsed() <= Duration::from_millis(7010), "too late");
        }
        let took = start.elapsed();
        assert!(took >= Duration::from_millis(3500), "too early: {took:?}");
        assert_eq!(attempts.load(Ordering::SeqCst), 4);
        assert_eq!(value(&handle, "fedimeter_store_up", &[]), 1.0);
        assert_eq!(
            value(&handle, "fedimeter_store_connects_total", &["failure"]),
            3.0
        );
        assert_eq!(
            value(&handle, "fedimeter_store_connects_total", &["success"]),
            1.0
        );
        shutdown.cancel();
        task.await.expect("task ends");
    }

    #[tokio::test]
    async fn a_hung_operation_marks_the_store_down_and_it_reconnects() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = sqlite_store(&dir).await;
        tokio::time::pause();
        let handle = StoreHandle::new(test_options(), None);
        let attempts = Arc::new(AtomicUsize::new(0));
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(
            handle
                .clone()
                .run(flaky(store, 0, attempts.clone()), shutdown.clone()),
        );
        assert!(handle.wait_up(&shutdown).await);
        let start = Instant::now();
        let hung = handle
            .call(Some(Writer::State), async |_s: Store| {
                tokio::time::sleep(Duration::from_secs(3600)).await;
                Ok(())
            })
            .await;
        assert!(matches!(hung, Err(StoreError::TimedOut(_))), "{hung:?}");
        // Given up after the write timeout (2 s), not after the hour.
        let took = start.elapsed();
        assert!(
            took >= Duration::from_secs(2) && took < Duration::from_millis(2010),
            "{took:?}"
        );
        assert!(!handle.is_up(), "down at once");
        assert_eq!(
            value(&handle, "fedimeter_store_write_errors_total", &["state"]),
            1.0
        );
        assert_eq!(
            value(&handle, "fedimeter_store_write_errors_total", &["sli"]),
            0.0
        );
        // The task reconnects right away (the first attempt after a loss has no delay).
        assert!(handle.wait_up(&shutdown).await);
        assert_eq!(attempts.load(Ordering::SeqCst), 2);
        shutdown.cancel();
        task.await.expect("task ends");
    }

    #[tokio::test]
    async fn a_failed_statement_is_counted_but_keeps_the_store_up() {
        let dir = tempfile::tempdir().expect("tempdir");
        let store = sqlite_store(&dir).await;
        let handle = StoreHandle::connected(store, None);
        let failed = handle
            .call(Some(Writer::Sli), async |s: Store| {
                crate::on_pool!(&s, |pool| sqlx::query("SELECT * FROM no_such_table")
                    .execute(pool)
                    .await
                    .map(|_| ()))
                .map_err(anyhow::Error::from)
            })
            .await;
        assert!(matches!(failed, Err(StoreError::Failed(_))), "{failed:?}");
        assert!(handle.is_up());
        assert_eq!(
            value(&handle, "fedimeter_store_write_errors_total", &["sli"]),
            1.0
        );
        handle.dropped(Writer::Sli, DropReason::BufferFull, 7);
        handle.buffered(Writer::State, 3);
        assert_eq!(
            value(
                &handle,
                "fedimeter_store_writes_dropped_total",
                &["sli", "buffer_full"]
            ),
            7.0
        );
        assert_eq!(
            value(&handle, "fedimeter_store_buffered_items", &["state"]),
            3.0
        );
        handle.close().await;
        assert!(!handle.is_up());
    }
}
