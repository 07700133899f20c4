//! The durable outbox in the store (`alert_outbox`, `alert_messages`; migration 0003), the
//! alert states (`alert_state`, migrations 0003 and 0006: held alerts and fedimeter's own
//! MonitoringDegraded) and the routes whose webhook was deleted (`alert_disabled_routes`,
//! migration 0006).
//!
//! Guarantees (documented in `docs/alerts.md`):
//! - A notification is written before it is sent ([`Outbox::enqueue`]) and marked done only
//!   after Discord answered for good ([`Outbox::complete`]): a restart or an outage of
//!   Discord loses nothing.
//! - Per route, rows go out in id order and one at a time: [`Outbox::claim`] only ever
//!   claims the *oldest* unsent row of a route, and only when no live claim holds it. Behind
//!   a row that cannot be sent yet, the rest of the route waits.
//! - Several instances sharing one PostgreSQL store never send the same row twice: the claim
//!   is one `UPDATE … WHERE id = (oldest) AND claim expired … RETURNING`; under PostgreSQL's
//!   row locking a second, concurrent claimer re-checks the `claimed_until` condition on the
//!   row the first one updated and claims nothing. (`SKIP LOCKED` would hand it the *next*
//!   row and break the order, so it is deliberately not used.)
//! - The one message that bypasses it: MonitoringDegraded while the store is away is posted
//!   directly ([`super::dispatch::Dispatcher::send_direct`]); its id is handed to
//!   `alert_messages` ([`Outbox::remember_message`]) once the store is back.
//! - A crash can duplicate at most the one row in flight: a claim carries the instance name
//!   and a lease; a restarted instance releases the claims of its own name
//!   ([`Outbox::release_own_claims`]), another instance waits for the lease to expire.

use std::time::{Duration, SystemTime};

use anyhow::Context;
use sqlx::Row;

use super::discord::Message;
use crate::on_pool;
use crate::store::handle::{StoreError, StoreHandle};
use crate::store::{Store, unix_ms};

/// What to do with a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RowKind {
    /// Post a new message (with `?wait=true`; its id is kept for the alert).
    Post,
    /// Edit the message posted for the row's alert (post it if there is none).
    Edit,
}

impl RowKind {
    fn as_str(self) -> &'static str {
        match self {
            RowKind::Post => "post",
            RowKind::Edit => "edit",
        }
    }
}

/// How a row ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Done {
    Sent,
    Rejected,
    Gone,
}

impl Done {
    pub fn as_str(self) -> &'static str {
        match self {
            Done::Sent => "sent",
            Done::Rejected => "rejected",
            Done::Gone => "gone",
        }
    }
}

/// A notification to write.
#[derive(Debug, Clone)]
pub struct NewRow {
    pub route: String,
    pub kind: RowKind,
    pub alert_key: Option<String>,
    pub message: Message,
}

/// A row this instance claimed.
#[derive(Debug, Clone)]
pub struct Claimed {
    pub id: i64,
    pub route: String,
    pub kind: RowKind,
    pub alert_key: Option<String>,
    pub message: Message,
    /// Including this one.
    pub attempts: i64,
}

/// One alert instance's state as stored in `alert_state`.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredAlert {
    pub key: String,
    pub alertname: String,
    pub rule_index: i64,
    /// `pending` or `firing`.
    pub state: String,
    pub active_since: i64,
    pub firing_since: Option<i64>,
    pub last_true_at: i64,
    pub last_sent_at: Option<i64>,
    pub announced: bool,
    /// Firing and not announced because fedimeter was blind: announced once it sees again.
    pub held: bool,
    pub target: String,
    /// JSON object.
    pub labels: String,
    pub value: Option<f64>,
}

/// A route whose webhook Discord reported deleted, as stored in `alert_disabled_routes`.
#[derive(Debug, Clone, PartialEq)]
pub struct DisabledRoute {
    pub route: String,
    /// Unix milliseconds.
    pub since: i64,
    /// Discord's error code (10015 "Unknown Webhook"); `None` for a 404 without one.
    pub code: Option<i64>,
    /// [`super::dispatch::webhook_fingerprint`] of the deleted webhook's URL (never the URL).
    pub fingerprint: String,
}

/// The outbox of one instance.
#[derive(Debug, Clone)]
pub struct Outbox {
    /// Every operation uses the store connected at that moment, and fails at once with
    /// "the store is unavailable" while it is away (the rows wait in the caller).
    store: StoreHandle,
    instance: String,
    lease: Duration,
}

const STATE_INSERT: &str = "INSERT INTO alert_state (alert_key, alertname, rule_index, state, \
    active_since, firing_since, last_true_at, last_sent_at, announced, target, labels, value, held) \
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)";

/// How long the evaluator waits at start for the store to read its states back.
pub const STATES_WAIT: Duration = Duration::from_secs(30);

/// Longer than the delivery client can spend on one message (its timeouts, backoff and
/// `retry_after` waits are capped below this).
pub const DEFAULT_LEASE: Duration = Duration::from_secs(600);

/// The default instance name: the host name (stable across restarts, distinct between the
/// machines that share a PostgreSQL store).
pub fn default_instance() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "fedimeter".to_string())
}

impl Outbox {
    /// An outbox on an opened store (tools and tests).
    pub fn new(store: Store, instance: impl Into<String>, lease: Duration) -> Self {
        Outbox::with_handle(StoreHandle::connected(store, None), instance, lease)
    }

    /// An outbox on the process' store handle (`serve`).
    pub fn with_handle(store: StoreHandle, instance: impl Into<String>, lease: Duration) -> Self {
        Outbox {
            store,
            instance: instance.into(),
            lease,
        }
    }

    fn store(&self) -> anyhow::Result<Store> {
        self.store
            .current()
            .ok_or_else(|| anyhow::Error::new(StoreError::Unavailable))
    }

    pub fn instance(&self) -> &str {
        &self.instance
    }

    /// Writes `rows` in one transaction, in order.
    pub async fn enqueue(&self, rows: &[NewRow], now: SystemTime) -> anyhow::Result<()> {
        if rows.is_empty() {
            return Ok(());
        }
        self.commit(rows, None, now).await
    }

    /// [`Outbox::load_states`] once the store is up, waiting for it at most `wait`: at start
    /// the store connects in the background, and an evaluator that started without its
    /// states would announce again what is already firing (or held, or degraded).
    pub async fn load_states_when_up(&self, wait: Duration) -> anyhow::Result<Vec<StoredAlert>> {
        let never = tokio_util::sync::CancellationToken::new();
        let _ = tokio::time::timeout(wait, self.store.wait_up(&never)).await;
        self.load_states().await
    }

    /// The stored alert states.
    pub async fn load_states(&self) -> anyhow::Result<Vec<StoredAlert>> {
        let sql = "SELECT alert_key, alertname, rule_index, state, active_since, firing_since, \
                   last_true_at, last_sent_at, announced, target, labels, value, held \
                   FROM alert_state ORDER BY alert_key";
        let states = on_pool!(&self.store()?, |pool| {
            let rows = sqlx::query(sql)
                .fetch_all(pool)
                .await
                .context("reading alert states")?;
            let mut out = Vec::with_capacity(rows.len());
            for r in rows {
                out.push(StoredAlert {
                    key: r.try_get(0)?,
                    alertname: r.try_get(1)?,
                    rule_index: i64::from(r.try_get::<i32, _>(2)?),
                    state: r.try_get(3)?,
                    active_since: r.try_get(4)?,
                    firing_since: r.try_get(5)?,
                    last_true_at: r.try_get(6)?,
                    last_sent_at: r.try_get(7)?,
                    announced: r.try_get::<i32, _>(8)? != 0,
                    target: r.try_get(9)?,
                    labels: r.try_get(10)?,
                    value: r.try_get(11)?,
                    held: r.try_get::<i32, _>(12)? != 0,
                });
            }
            out
        });
        Ok(states)
    }

    /// Writes one evaluation atomically: its outbox rows and, when given, the complete set
    /// of alert states (replacing the stored one). A crash leaves either both or neither.
    pub async fn commit(
        &self,
        rows: &[NewRow],
        states: Option<&[StoredAlert]>,
        now: SystemTime,
    ) -> anyhow::Result<()> {
        let now = unix_ms(now);
        let mut bodies = Vec::with_capacity(rows.len());
        for row in rows {
            bodies.push(serde_json::to_string(&row.message).context("encoding a message")?);
        }
        let sql = "INSERT INTO alert_outbox (route, kind, alert_key, body, created_at) \
                   VALUES ($1, $2, $3, $4, $5)";
        on_pool!(&self.store()?, |pool| {
            let mut tx = pool.begin().await.context("starting an outbox write")?;
            for (row, body) in rows.iter().zip(&bodies) {
                sqlx::query(sql)
                    .bind(&row.route)
                    .bind(row.kind.as_str())
                    .bind(row.alert_key.as_deref())
                    .bind(body)
                    .bind(now)
                    .execute(&mut *tx)
                    .await
                    .context("writing to the outbox")?;
            }
            if let Some(states) = states {
                sqlx::query("DELETE FROM alert_state")
                    .execute(&mut *tx)
                    .await
                    .context("replacing alert states")?;
                for st in states {
                    sqlx::query(STATE_INSERT)
                        .bind(&st.key)
                        .bind(&st.alertname)
                        .bind(i32::try_from(st.rule_index).unwrap_or(i32::MAX))
                        .bind(&st.state)
                        .bind(st.active_since)
                        .bind(st.firing_since)
                        .bind(st.last_true_at)
                        .bind(st.last_sent_at)
                        .bind(i32::from(st.announced))
                        .bind(&st.target)
                        .bind(&st.labels)
                        .bind(st.value)
                        .bind(i32::from(st.held))
                        .execute(&mut *tx)
                        .await
                        .context("writing an alert state")?;
                }
            }
            tx.commit().await.context("committing an outbox write")?;
        });
        Ok(())
    }

    /// Releases the claims a previous process of this instance left behind (it crashed with
    /// a message in flight: that one message may go out twice).
    pub async fn release_own_claims(&self) -> anyhow::Result<u64> {
        let sql = "UPDATE alert_outbox SET claimed_by = NULL, claimed_until = NULL \
                   WHERE claimed_by = $1 AND done_at IS NULL";
        let n = on_pool!(&self.store()?, |pool| sqlx::query(sql)
            .bind(&self.instance)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()));
        n.context("releasing outbox claims")
    }

    /// Claims the oldest unsent row of `route` if it is due and no live claim holds it.
    pub async fn claim(&self, route: &str, now: SystemTime) -> anyhow::Result<Option<Claimed>> {
        let now_ms = unix_ms(now);
        let until = unix_ms(now + self.lease);
        let sql = "UPDATE alert_outbox \
                   SET claimed_by = $1, claimed_until = $2, attempts = attempts + 1 \
                   WHERE id = (SELECT o.id FROM alert_outbox o \
                               WHERE o.route = $3 AND o.done_at IS NULL \
                               ORDER BY o.id LIMIT 1) \
                     AND done_at IS NULL \
                     AND (claimed_until IS NULL OR claimed_until <= $4) \
                     AND not_before <= $4 \
                   RETURNING id, route, kind, alert_key, body, attempts";
        let row = on_pool!(&self.store()?, |pool| {
            let row = sqlx::query(sql)
                .bind(&self.instance)
                .bind(until)
                .bind(route)
                .bind(now_ms)
                .fetch_optional(pool)
                .await
                .context("claiming an outbox row")?;
            match row {
                Some(r) => Some((
                    r.try_get::<i64, _>(0)?,
                    r.try_get::<String, _>(1)?,
                    r.try_get::<String, _>(2)?,
                    r.try_get::<Option<String>, _>(3)?,
                    r.try_get::<String, _>(4)?,
                    i64::from(r.try_get::<i32, _>(5)?),
                )),
                None => None,
            }
        });
        let Some((id, route, kind, alert_key, body, attempts)) = row else {
            return Ok(None);
        };
        let message: Message = serde_json::from_str(&body)
            .with_context(|| format!("outbox row {id} holds no valid message"))?;
        Ok(Some(Claimed {
            id,
            route,
            kind: if kind == "edit" {
                RowKind::Edit
            } else {
                RowKind::Post
            },
            alert_key,
            message,
            attempts,
        }))
    }

    /// Marks a claimed row done; for a sent message with an id, remembers it for the alert.
    pub async fn complete(
        &self,
        row: &Claimed,
        done: Done,
        message_id: Option<&str>,
        now: SystemTime,
    ) -> anyhow::Result<()> {
        let now = unix_ms(now);
        let mark = "UPDATE alert_outbox SET done_at = $1, result = $2, claimed_until = NULL \
                    WHERE id = $3 AND claimed_by = $4";
        let remember = "INSERT INTO alert_messages (route, alert_key, message_id, posted_at) \
                        VALUES ($1, $2, $3, $4) \
                        ON CONFLICT (route, alert_key) \
                        DO UPDATE SET message_id = excluded.message_id, posted_at = excluded.posted_at";
        let forget = "DELETE FROM alert_messages WHERE route = $1 AND alert_key = $2";
        on_pool!(&self.store()?, |pool| {
            let mut tx = pool.begin().await.context("starting an outbox update")?;
            sqlx::query(mark)
                .bind(now)
                .bind(done.as_str())
                .bind(row.id)
                .bind(&self.instance)
                .execute(&mut *tx)
                .await
                .context("marking an outbox row done")?;
            if let (Done::Sent, Some(key)) = (done, row.alert_key.as_deref()) {
                match (row.kind, message_id) {
                    (RowKind::Post, Some(id)) => {
                        sqlx::query(remember)
                            .bind(&row.route)
                            .bind(key)
                            .bind(id)
                            .bind(now)
                            .execute(&mut *tx)
                            .await
                            .context("remembering a message id")?;
                    }
                    // The resolve edited the message: nothing will edit it again.
                    (RowKind::Edit, _) => {
                        sqlx::query(forget)
                            .bind(&row.route)
                            .bind(key)
                            .execute(&mut *tx)
                            .await
                            .context("forgetting a message id")?;
                    }
                    _ => {}
                }
            }
            tx.commit().await.context("committing an outbox update")?;
        });
        Ok(())
    }

    /// Gives a claimed row back, to be tried again from `not_before`.
    pub async fn retry_later(&self, row: &Claimed, not_before: SystemTime) -> anyhow::Result<()> {
        let sql = "UPDATE alert_outbox SET claimed_by = NULL, claimed_until = NULL, not_before = $1 \
                   WHERE id = $2 AND claimed_by = $3";
        on_pool!(&self.store()?, |pool| sqlx::query(sql)
            .bind(unix_ms(not_before))
            .bind(row.id)
            .bind(&self.instance)
            .execute(pool)
            .await
            .map(|_| ()))
        .context("releasing an outbox row")
    }

    /// Whether the store is connected now (the evaluator's view of "the store is away").
    pub fn store_is_up(&self) -> bool {
        self.store.is_up()
    }

    /// Remembers a message posted outside the outbox (the MonitoringDegraded sent directly
    /// while the store was away), so that its resolve, an outbox edit row, edits it.
    pub async fn remember_message(
        &self,
        route: &str,
        alert_key: &str,
        message_id: &str,
        now: SystemTime,
    ) -> anyhow::Result<()> {
        let sql = "INSERT INTO alert_messages (route, alert_key, message_id, posted_at) \
                   VALUES ($1, $2, $3, $4) \
                   ON CONFLICT (route, alert_key) \
                   DO UPDATE SET message_id = excluded.message_id, posted_at = excluded.posted_at";
        on_pool!(&self.store()?, |pool| sqlx::query(sql)
            .bind(route)
            .bind(alert_key)
            .bind(message_id)
            .bind(unix_ms(now))
            .execute(pool)
            .await
            .map(|_| ()))
        .context("remembering a message id")
    }

    /// The message posted for `alert_key` on `route`, if one is known.
    pub async fn message_id(&self, route: &str, alert_key: &str) -> anyhow::Result<Option<String>> {
        let sql = "SELECT message_id FROM alert_messages WHERE route = $1 AND alert_key = $2";
        let id = on_pool!(&self.store()?, |pool| sqlx::query_scalar::<_, String>(sql)
            .bind(route)
            .bind(alert_key)
            .fetch_optional(pool)
            .await
            .context("reading a message id"))?;
        Ok(id)
    }

    /// Unsent rows per route.
    pub async fn pending(&self) -> anyhow::Result<Vec<(String, i64)>> {
        let sql = "SELECT route, COUNT(*) FROM alert_outbox WHERE done_at IS NULL \
                   GROUP BY route ORDER BY route";
        let rows = on_pool!(&self.store()?, |pool| sqlx::query_as::<_, (String, i64)>(
            sql
        )
        .fetch_all(pool)
        .await
        .context("counting pending notifications"))?;
        Ok(rows)
    }

    /// Marks every unsent row of a route whose webhook is gone; returns how many.
    pub async fn abandon_route(&self, route: &str, now: SystemTime) -> anyhow::Result<u64> {
        let sql = "UPDATE alert_outbox SET done_at = $1, result = 'gone', claimed_until = NULL \
                   WHERE route = $2 AND done_at IS NULL";
        let n = on_pool!(&self.store()?, |pool| sqlx::query(sql)
            .bind(unix_ms(now))
            .bind(route)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .context("abandoning a route's notifications")?;
        Ok(n)
    }

    /// Disables a route whose webhook was deleted: remembers it (replacing an older entry)
    /// and marks its unsent rows gone, in one transaction; returns how many were dropped.
    pub async fn disable_route(&self, d: &DisabledRoute, now: SystemTime) -> anyhow::Result<u64> {
        let remember = "INSERT INTO alert_disabled_routes (route, since, code, fingerprint) \
                        VALUES ($1, $2, $3, $4) \
                        ON CONFLICT (route) DO UPDATE SET since = excluded.since, \
                        code = excluded.code, fingerprint = excluded.fingerprint";
        let abandon = "UPDATE alert_outbox SET done_at = $1, result = 'gone', claimed_until = NULL \
                       WHERE route = $2 AND done_at IS NULL";
        let n = on_pool!(&self.store()?, |pool| {
            let mut tx = pool.begin().await.context("starting to disable a route")?;
            sqlx::query(remember)
                .bind(&d.route)
                .bind(d.since)
                .bind(d.code)
                .bind(&d.fingerprint)
                .execute(&mut *tx)
                .await
                .context("remembering a disabled route")?;
            let n = sqlx::query(abandon)
                .bind(unix_ms(now))
                .bind(&d.route)
                .execute(&mut *tx)
                .await
                .context("abandoning a route's notifications")?
                .rows_affected();
            tx.commit().await.context("committing a disabled route")?;
            n
        });
        Ok(n)
    }

    /// The routes remembered as disabled, by name.
    pub async fn disabled_routes(&self) -> anyhow::Result<Vec<DisabledRoute>> {
        let sql =
            "SELECT route, since, code, fingerprint FROM alert_disabled_routes ORDER BY route";
        let rows = on_pool!(&self.store()?, |pool| sqlx::query_as::<
            _,
            (String, i64, Option<i64>, String),
        >(sql)
        .fetch_all(pool)
        .await
        .context("reading disabled routes"))?;
        Ok(rows
            .into_iter()
            .map(|(route, since, code, fingerprint)| DisabledRoute {
                route,
                since,
                code,
                fingerprint,
            })
            .collect())
    }

    /// Forgets that `route` was disabled (its webhook URL changed); whether it was.
    pub async fn enable_route(&self, route: &str) -> anyhow::Result<bool> {
        let sql = "DELETE FROM alert_disabled_routes WHERE route = $1";
        let n = on_pool!(&self.store()?, |pool| sqlx::query(sql)
            .bind(route)
            .execute(pool)
            .await
            .map(|r| r.rows_affected()))
        .context("enabling a route")?;
        Ok(n > 0)
    }
}
