//! The sender: drains the outbox to Discord, route by route, in order.
//!
//! One loop per route claims the route's oldest row, sends it through the
//! [`DiscordClient`] and marks it by what Discord answered:
//! - accepted → `sent` (a posted alert's message id is kept, so the resolve can edit it);
//! - refused (4xx) → `rejected`, Discord's message logged, never retried;
//! - unavailable (5xx, timeouts, too many 429s) → given back with a growing `not_before`;
//! - webhook gone (404 / 10015) → the route is disabled, its rows abandoned, and a report is
//!   queued on the first other route that still works.
//!
//! A disabled route is remembered in the store (`alert_disabled_routes`) with a fingerprint
//! of its webhook URL, never the URL: after a restart the route stays disabled while the
//! config still names the deleted webhook, and is used again once the config has a new URL.
//! The remembered routes are read before the first row is claimed (the store may come up
//! after the sender starts); rows written for a disabled route are dropped as `gone`.
//!
//! The one exception to "every message goes through the outbox" is [`Dispatcher::send_direct`]:
//! MonitoringDegraded while the store is away (`docs/alerts.md`).
//!
//! It also keeps the counters behind `fedimeter_notifications_total{route,result}` and knows
//! which routes are disabled.

use std::collections::{BTreeMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::discord::client::{DiscordClient, Outcome, Route, backoff};
use super::discord::{Embed, Message};
use super::outbox::{Claimed, DisabledRoute, Done, NewRow, Outbox, RowKind};

/// The `result` label values of `fedimeter_notifications_total`.
pub const RESULTS: [&str; 4] = ["sent", "rejected", "retried", "gone"];

/// How often each route looks at the outbox when nobody wakes it.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// A fingerprint of a webhook URL, stored instead of the URL (a secret) to tell whether the
/// configured URL is the one whose webhook was deleted: the first 16 hex digits (64 bits) of
/// its SHA-256. The token in the URL has far more entropy than 64 bits, so the fingerprint
/// cannot be turned back into it.
pub fn webhook_fingerprint(url: &str) -> String {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(url.as_bytes());
    digest
        .iter()
        .take(8)
        .fold(String::with_capacity(16), |mut s, b| {
            use std::fmt::Write;
            let _ = write!(s, "{b:02x}");
            s
        })
}

/// Sends the outbox's rows.
pub struct Dispatcher {
    outbox: Outbox,
    client: Arc<DiscordClient>,
    routes: Vec<Route>,
    disabled: Mutex<HashSet<String>>,
    /// Whether the disabled routes remembered in the store were read.
    restored: tokio::sync::Mutex<bool>,
    counters: Mutex<BTreeMap<(String, &'static str), u64>>,
    wake: Notify,
}

impl Dispatcher {
    pub fn new(outbox: Outbox, client: Arc<DiscordClient>, routes: Vec<Route>) -> Arc<Self> {
        Arc::new(Dispatcher {
            outbox,
            client,
            routes,
            disabled: Mutex::new(HashSet::new()),
            restored: tokio::sync::Mutex::new(false),
            counters: Mutex::new(BTreeMap::new()),
            wake: Notify::new(),
        })
    }

    pub fn outbox(&self) -> &Outbox {
        &self.outbox
    }

    pub fn client(&self) -> &DiscordClient {
        &self.client
    }

    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Tells the route loops that rows were written.
    pub fn wake(&self) {
        self.wake.notify_waiters();
    }

    pub fn is_disabled(&self, route: &str) -> bool {
        self.disabled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(route)
    }

    /// `(route, result) → count` for `fedimeter_notifications_total`.
    pub fn counters(&self) -> BTreeMap<(String, &'static str), u64> {
        self.counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn count(&self, route: &str, result: &'static str) {
        *self
            .counters
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry((route.to_string(), result))
            .or_default() += 1;
    }

    /// Reads the disabled routes remembered in the store, once: a configured route whose
    /// webhook URL is still the deleted one stays disabled; one with a new URL is enabled
    /// again (and forgotten in the store).
    pub async fn restore_disabled(&self) -> anyhow::Result<()> {
        let mut restored = self.restored.lock().await;
        if *restored {
            return Ok(());
        }
        let stored = self.outbox.disabled_routes().await?;
        for d in stored {
            let Some(route) = self.routes.iter().find(|r| r.name == d.route) else {
                continue;
            };
            let since = humantime::format_rfc3339_seconds(crate::store::from_unix_ms(d.since));
            if webhook_fingerprint(route.url.expose()) == d.fingerprint {
                tracing::warn!(
                    route = %route.name,
                    %since,
                    "this route stays disabled: its discord webhook was deleted; put a new webhook_url in the config"
                );
                self.disabled
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .insert(route.name.clone());
            } else if self.outbox.enable_route(&route.name).await? {
                tracing::info!(
                    route = %route.name,
                    disabled_since = %since,
                    "the route's webhook_url changed since its webhook was deleted; using the route again"
                );
            }
        }
        *restored = true;
        Ok(())
    }

    /// Sends every row of `route` that can go now; returns how many rows were finished.
    /// Stops at the first row that has to wait. A disabled route's rows are dropped.
    pub async fn drain_route(&self, route: &Route) -> anyhow::Result<usize> {
        self.restore_disabled().await?;
        if self.is_disabled(&route.name) {
            let dropped = self
                .outbox
                .abandon_route(&route.name, SystemTime::now())
                .await?;
            if dropped > 0 {
                tracing::debug!(route = %route.name, dropped, "dropped notifications for a disabled route");
            }
            return Ok(0);
        }
        let mut finished = 0;
        while !self.is_disabled(&route.name) {
            let Some(row) = self.outbox.claim(&route.name, SystemTime::now()).await? else {
                break;
            };
            if !self.deliver(route, &row).await? {
                break;
            }
            finished += 1;
        }
        Ok(finished)
    }

    /// Sends one claimed row; `Ok(false)` when it was given back for later.
    async fn deliver(&self, route: &Route, row: &Claimed) -> anyhow::Result<bool> {
        let answer = match (row.kind, row.alert_key.as_deref()) {
            (RowKind::Edit, Some(key)) => match self.outbox.message_id(&route.name, key).await? {
                Some(id) => match self.client.edit(route, &id, &row.message).await {
                    // The original was deleted by someone: post the update instead.
                    Ok(Outcome::Rejected {
                        code: Some(10008), ..
                    }) => self.client.post(route, &row.message, true).await,
                    other => other,
                },
                None => self.client.post(route, &row.message, true).await,
            },
            _ => self.client.post(route, &row.message, true).await,
        };
        let now = SystemTime::now();
        match answer {
            Ok(Outcome::Sent { message_id }) => {
                self.outbox
                    .complete(row, Done::Sent, message_id.as_deref(), now)
                    .await?;
                self.count(&route.name, "sent");
                Ok(true)
            }
            Ok(Outcome::Rejected {
                status,
                code,
                message,
            }) => {
                log_rejected(&route.name, status, code, &message, "a notification");
                self.outbox.complete(row, Done::Rejected, None, now).await?;
                self.count(&route.name, "rejected");
                Ok(true)
            }
            Ok(Outcome::Gone { code }) => {
                self.outbox.complete(row, Done::Gone, None, now).await?;
                self.count(&route.name, "gone");
                self.route_gone(route, code, now).await?;
                Ok(true)
            }
            Err(e) => {
                let attempts = u32::try_from(row.attempts).unwrap_or(u32::MAX);
                let delay = retry_delay(attempts);
                tracing::warn!(
                    route = %route.name,
                    attempts,
                    retry_in_s = delay.as_secs(),
                    "notification not delivered yet: {e}"
                );
                self.outbox.retry_later(row, now + delay).await?;
                self.count(&route.name, "retried");
                Ok(false)
            }
        }
    }

    async fn route_gone(
        &self,
        route: &Route,
        code: Option<u64>,
        now: SystemTime,
    ) -> anyhow::Result<()> {
        self.disabled
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(route.name.clone());
        let disabled = DisabledRoute {
            route: route.name.clone(),
            since: crate::store::unix_ms(now),
            code: code.and_then(|c| i64::try_from(c).ok()),
            fingerprint: webhook_fingerprint(route.url.expose()),
        };
        let abandoned = self.outbox.disable_route(&disabled, now).await?;
        tracing::error!(
            route = %route.name,
            code = code.unwrap_or(0),
            abandoned,
            "the discord webhook of this route was deleted (404 Unknown Webhook); no longer using it"
        );
        let other = self
            .routes
            .iter()
            .find(|r| r.name != route.name && !self.is_disabled(&r.name));
        if let Some(other) = other {
            let report = Message {
                embeds: vec![Embed {
                    title: "⚠ fedimeter: a Discord route stopped working".to_string(),
                    description: format!(
                        "The webhook of route **{}** was deleted in Discord (404 Unknown Webhook). \
                         fedimeter no longer sends to it; {abandoned} pending notification(s) for it \
                         were dropped. Create a new webhook and update `[[discord]] webhook_url`.",
                        super::discord::message::escape_line(&route.name)
                    ),
                    color: super::discord::message::COLOR_WARNING,
                    ..Embed::default()
                }],
                ..Message::default()
            };
            self.outbox
                .enqueue(
                    &[NewRow {
                        route: other.name.clone(),
                        kind: RowKind::Post,
                        alert_key: None,
                        message: report,
                    }],
                    now,
                )
                .await?;
            self.wake();
        }
        Ok(())
    }

    /// Posts `message` on `route` directly, without the outbox: only for MonitoringDegraded
    /// while the store is away (nothing can be written before it is sent). Same client,
    /// limiters and 429/5xx handling as the outbox; when the client gives up for now the
    /// message is retried in memory with a growing backoff, until Discord answers for good.
    /// Returns the posted message's id; `None` when Discord refused it, the webhook was
    /// deleted, or the route is disabled. Callers spawn it: it may take long.
    pub async fn send_direct(&self, route_name: &str, message: &Message) -> Option<String> {
        let route = self.routes.iter().find(|r| r.name == route_name)?;
        let mut attempts = 0u32;
        loop {
            if self.is_disabled(&route.name) {
                return None;
            }
            match self.client.post(route, message, true).await {
                Ok(Outcome::Sent { message_id }) => {
                    self.count(&route.name, "sent");
                    return message_id;
                }
                Ok(Outcome::Rejected {
                    status,
                    code,
                    message,
                }) => {
                    log_rejected(
                        &route.name,
                        status,
                        code,
                        &message,
                        "the direct monitoring degraded message",
                    );
                    self.count(&route.name, "rejected");
                    return None;
                }
                Ok(Outcome::Gone { .. }) => {
                    // Disabling the route is remembered in the store, which is away: the
                    // outbox rows that follow find the webhook gone again and disable it.
                    tracing::error!(
                        route = %route.name,
                        "the direct monitoring degraded message found the route's discord webhook deleted"
                    );
                    self.count(&route.name, "gone");
                    return None;
                }
                Err(e) => {
                    let delay = retry_delay(attempts);
                    attempts = attempts.saturating_add(1);
                    tracing::warn!(
                        route = %route.name,
                        attempts,
                        retry_in_s = delay.as_secs(),
                        "direct monitoring degraded message not delivered yet: {e}"
                    );
                    self.count(&route.name, "retried");
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Runs one loop per route until `shutdown`.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        match self.outbox.release_own_claims().await {
            Ok(0) => {}
            Ok(n) => tracing::warn!(
                released = n,
                "released outbox claims of a previous run; that message may be sent twice"
            ),
            Err(e) => tracing::warn!("releasing outbox claims: {e:#}"),
        }
        let mut tasks = tokio::task::JoinSet::new();
        for route in self.routes.clone() {
            let me = self.clone();
            let shutdown = shutdown.clone();
            tasks.spawn(async move {
                loop {
                    let wake = me.wake.notified();
                    if let Err(e) = me.drain_route(&route).await {
                        tracing::warn!(route = %route.name, "outbox: {e:#}");
                    }
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = wake => {}
                        _ = tokio::time::sleep(POLL_INTERVAL) => {}
                    }
                }
            });
        }
        while tasks.join_next().await.is_some() {}
    }
}

/// How long a message that could not be delivered yet waits before its next try: doubling
/// from 2 s with jitter, at most 5 min (outbox rows and the direct message alike).
fn retry_delay(attempts: u32) -> Duration {
    backoff(
        attempts,
        Duration::from_secs(2),
        Duration::from_secs(300),
        &mut rand::rng(),
    )
}

/// Logs a message Discord refused for good (other 4xx), with Discord's own words.
fn log_rejected(route: &str, status: u16, code: Option<u64>, message: &str, what: &str) {
    tracing::error!(
        route = %route,
        status,
        code = code.unwrap_or(0),
        discord_message = %message,
        "discord rejected {what}; dropping it"
    );
}

#[cfg(test)]
mod tests {
    use super::webhook_fingerprint;

    #[test]
    fn the_fingerprint_is_the_start_of_the_sha256_and_never_the_url() {
        // FIPS 180-2's test vector: SHA-256("abc") = ba7816bf8f01cfea414140de5dae2223….
        assert_eq!(webhook_fingerprint("abc"), "ba7816bf8f01cfea");
        let url = "https://discord.com/api/webhooks/1/secret-token";
        let fp = webhook_fingerprint(url);
        assert_eq!(fp.len(), 16);
        assert!(!fp.contains("secret"));
        assert_ne!(
            fp,
            webhook_fingerprint("https://discord.com/api/webhooks/1/other-token")
        );
    }
}
