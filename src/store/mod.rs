//! The persistent store: sqlx on an embedded SQLite file by default, PostgreSQL when several
//! fedimeter instances share one history. Migrations are embedded per backend
//! (`migrations/sqlite`, `migrations/postgres`) and applied at start.
//!
//! Queries are written once with `$N` placeholders, which both backends accept, and run on
//! whichever pool is configured through [`on_pool!`].
//!
//! The running process reaches the store through [`handle::StoreHandle`], which connects in
//! the background and keeps fedimeter working while the store is away (`docs/store.md`).

pub mod handle;
pub mod incidents;
pub mod state;

use std::str::FromStr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{PgPool, SqlitePool};

use crate::config::SecretUrl;

/// A handle to the configured store; cheap to clone (pools are reference-counted).
#[derive(Clone, Debug)]
pub enum Store {
    Sqlite(SqlitePool),
    Postgres(PgPool),
}

/// Runs `$body` with `$pool` bound to the configured backend's pool. The body must compile
/// for both `&SqlitePool` and `&PgPool`, which sqlx's generic executors allow.
#[macro_export]
macro_rules! on_pool {
    ($store:expr, |$pool:ident| $body:expr) => {
        match $store {
            $crate::store::Store::Sqlite($pool) => $body,
            $crate::store::Store::Postgres($pool) => $body,
        }
    };
}

/// Applies the SQLite migrations. SQLite has no advisory lock, so two processes opening a
/// new file at once (`serve` starting while `fedimeter incident open` runs) can both see a
/// migration as missing; the one that loses fails with "already exists". The migrator reads
/// what is applied on every run, so a failed run is retried a few times before it counts.
async fn migrate_sqlite(pool: &sqlx::SqlitePool) -> Result<(), sqlx::migrate::MigrateError> {
    const ATTEMPTS: u32 = 5;
    let mut attempt = 1;
    loop {
        match sqlx::migrate!("./migrations/sqlite").run(pool).await {
            Ok(()) => return Ok(()),
            Err(e) if attempt < ATTEMPTS => {
                tracing::debug!(attempt, "migrating the SQLite store failed, retrying: {e}");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

/// SQLITE_BUSY or SQLITE_LOCKED (any extended code of them).
fn sqlite_busy(e: &sqlx::Error) -> bool {
    let sqlx::Error::Database(db) = e else {
        return false;
    };
    db.code()
        .and_then(|c| c.parse::<i64>().ok())
        .is_some_and(|c| matches!(c & 0xff, 5 | 6))
}

/// Connects the pool. Switching a new file to WAL takes a lock that another process opening
/// the same new file at that moment may hold (the busy timeout does not cover it), so a busy
/// or locked answer is retried a few times.
async fn connect_sqlite(
    opts: SqliteConnectOptions,
    acquire_timeout: Duration,
) -> Result<sqlx::SqlitePool, sqlx::Error> {
    const ATTEMPTS: u32 = 5;
    let mut attempt = 1;
    loop {
        match SqlitePoolOptions::new()
            .max_connections(4)
            .acquire_timeout(acquire_timeout)
            .connect_with(opts.clone())
            .await
        {
            Ok(pool) => return Ok(pool),
            Err(e) if attempt < ATTEMPTS && sqlite_busy(&e) => {
                tracing::debug!(attempt, "opening the SQLite store: busy, retrying: {e}");
                tokio::time::sleep(Duration::from_millis(100 * u64::from(attempt))).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}

impl Store {
    /// Opens (creating a SQLite file if missing) and migrates the store at `url`.
    pub async fn open(url: &SecretUrl) -> anyhow::Result<Store> {
        Store::open_with(url, Duration::from_secs(10)).await
    }

    /// [`Store::open`] with the pool's acquire timeout: how long an operation waits for a
    /// connection (and how long connecting retries a refused connection) before it fails.
    /// Migrations that are missing are applied; present ones are left alone.
    pub async fn open_with(url: &SecretUrl, acquire_timeout: Duration) -> anyhow::Result<Store> {
        let raw = url.expose();
        let shown = url.redacted();
        let store = if raw.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(raw)
                .with_context(|| format!("invalid store url {shown}"))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Normal)
                .busy_timeout(Duration::from_secs(5));
            let pool = connect_sqlite(opts, acquire_timeout)
                .await
                .with_context(|| format!("opening the store {shown}"))?;
            migrate_sqlite(&pool)
                .await
                .with_context(|| format!("migrating the store {shown}"))?;
            Store::Sqlite(pool)
        } else if raw.starts_with("postgres:") || raw.starts_with("postgresql:") {
            let opts = PgConnectOptions::from_str(raw)
                .with_context(|| format!("invalid store url {shown}"))?
                .application_name("fedimeter-store");
            let pool = PgPoolOptions::new()
                .max_connections(4)
                .acquire_timeout(acquire_timeout)
                .connect_with(opts)
                .await
                .with_context(|| format!("connecting to the store {shown}"))?;
            sqlx::migrate!("./migrations/postgres")
                .run(&pool)
                .await
                .with_context(|| format!("migrating the store {shown}"))?;
            Store::Postgres(pool)
        } else {
            anyhow::bail!("unsupported store url {shown}: use sqlite://PATH or postgres://…");
        };
        Ok(store)
    }

    /// Which backend this is, for logs.
    pub fn backend(&self) -> &'static str {
        match self {
            Store::Sqlite(_) => "sqlite",
            Store::Postgres(_) => "postgres",
        }
    }

    /// `SELECT 1`: whether the store answers.
    pub async fn ping(&self) -> anyhow::Result<()> {
        on_pool!(self, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ()))
        .context("pinging the store")?;
        Ok(())
    }

    pub async fn close(&self) {
        on_pool!(self, |pool| pool.close().await)
    }
}

/// Unix milliseconds, the store's time unit.
pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// The inverse of [`unix_ms`].
pub fn from_unix_ms(ms: i64) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(ms).unwrap_or(0))
}
