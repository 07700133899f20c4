//! Delivering messages to Discord webhooks (reqwest), within Discord's rate limits.
//!
//! - **Limiters**: one per webhook (5 requests per 2 s) and one per channel (30 per minute,
//!   shared by every route that names the same channel), as sliding windows; a request waits
//!   for both. `X-RateLimit-Remaining: 0` with `X-RateLimit-Reset-After` blocks the webhook
//!   until the reset.
//! - **429**: wait `retry_after` (the body's fractional seconds, else the `Retry-After`
//!   header) and send the same message again; counted per route.
//! - **5xx, timeouts, connection errors**: retried with exponential backoff and jitter, up to
//!   `max_attempts`; then [`DeliveryError::Unavailable`] and the caller (the outbox) keeps
//!   the message for later.
//! - **404 / code 10015**: [`Outcome::Gone`]: the webhook was deleted; the caller disables
//!   the route.
//! - **Other 4xx**: [`Outcome::Rejected`] with Discord's message; the caller drops it.
//!
//! The webhook URL is a secret: it never appears in a log line or an error (reqwest errors
//! are stripped of their URL).

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::Duration;

use rand::Rng;
use tokio::time::Instant;

use super::Message;
use crate::config::SecretUrl;

/// A Discord route as the client needs it.
#[derive(Debug, Clone)]
pub struct Route {
    /// The `[[discord]]` name (metrics label, logs).
    pub name: String,
    /// Routes posting into one channel share its limiter (default: the route's own name).
    pub channel: String,
    pub url: SecretUrl,
}

/// What Discord did with a message.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    /// Accepted; `message_id` when it was posted with `?wait=true` or edited.
    Sent { message_id: Option<String> },
    /// The webhook no longer exists (404 / 10015): stop using this route. `code` is
    /// Discord's error code (10015), `None` for a 404 without one.
    Gone { code: Option<u64> },
    /// Discord refused the message for good (another 4xx): dropped.
    Rejected {
        status: u16,
        code: Option<u64>,
        message: String,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    /// Discord did not answer usefully after every retry; try again later.
    #[error("discord unavailable after {attempts} attempts: {reason}")]
    Unavailable { attempts: u32, reason: String },
}

#[derive(Debug, Clone)]
pub struct ClientOptions {
    /// Per request, including reading the answer.
    pub timeout: Duration,
    /// Attempts for 5xx / timeouts / connection errors before giving up for now.
    pub max_attempts: u32,
    /// 429 answers in a row before giving up for now.
    pub max_rate_limited: u32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
    /// Requests per window, per webhook.
    pub webhook_limit: (u32, Duration),
    /// Requests per window, per channel.
    pub channel_limit: (u32, Duration),
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            timeout: Duration::from_secs(10),
            max_attempts: 5,
            max_rate_limited: 5,
            backoff_base: Duration::from_millis(500),
            backoff_max: Duration::from_secs(30),
            webhook_limit: (5, Duration::from_secs(2)),
            channel_limit: (30, Duration::from_secs(60)),
        }
    }
}

/// A longer `retry_after` is cut to this (the outbox lease must outlast one delivery).
pub const MAX_RETRY_AFTER: Duration = Duration::from_secs(60);

/// Extra time added to every window: the server measures arrival, the client measures
/// sending.
const WINDOW_MARGIN: Duration = Duration::from_millis(150);

/// A sliding-window limiter: at most `capacity` requests in any `period`, and nothing before
/// `blocked_until`. Pure (time is passed in), so it is tested on paused time.
#[derive(Debug)]
pub struct Limiter {
    capacity: u32,
    period: Duration,
    sent: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

impl Limiter {
    pub fn new(capacity: u32, period: Duration) -> Self {
        Limiter {
            capacity: capacity.max(1),
            period,
            sent: VecDeque::new(),
            blocked_until: None,
        }
    }

    /// How long to wait from `now` before the next request may go.
    pub fn delay(&mut self, now: Instant) -> Duration {
        while let Some(first) = self.sent.front() {
            if now.duration_since(*first) >= self.period {
                self.sent.pop_front();
            } else {
                break;
            }
        }
        let window = if self.sent.len() >= self.capacity as usize {
            let idx = self.sent.len() - self.capacity as usize;
            (self.sent[idx] + self.period).saturating_duration_since(now)
        } else {
            Duration::ZERO
        };
        let blocked = self
            .blocked_until
            .map_or(Duration::ZERO, |t| t.saturating_duration_since(now));
        window.max(blocked)
    }

    /// A request goes at `now`.
    pub fn record(&mut self, now: Instant) {
        self.sent.push_back(now);
    }

    /// No request before `until` (from `Reset-After` or `retry_after`).
    pub fn block_until(&mut self, until: Instant) {
        if self.blocked_until.is_none_or(|t| t < until) {
            self.blocked_until = Some(until);
        }
    }
}

/// The wait before retry number `attempt` (1-based): `base · 2^(attempt-1)` capped at `max`,
/// then a random point in its upper half ("equal jitter").
pub fn backoff(attempt: u32, base: Duration, max: Duration, rng: &mut impl Rng) -> Duration {
    let exp = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(20));
    let d = exp.min(max);
    let half = d / 2;
    half + d.saturating_sub(half).mul_f64(rng.random_range(0.0..=1.0))
}

/// The rate-limit facts of one answer.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RateLimitHeaders {
    pub remaining: Option<u64>,
    pub reset_after: Option<Duration>,
    pub retry_after_header: Option<Duration>,
}

impl RateLimitHeaders {
    pub fn parse(headers: &reqwest::header::HeaderMap) -> Self {
        let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        let secs = |v: &str| {
            v.trim()
                .parse::<f64>()
                .ok()
                .filter(|s| s.is_finite() && *s >= 0.0)
                .map(Duration::from_secs_f64)
        };
        RateLimitHeaders {
            remaining: get("x-ratelimit-remaining").and_then(|v| v.trim().parse().ok()),
            reset_after: get("x-ratelimit-reset-after").and_then(secs),
            retry_after_header: get("retry-after").and_then(secs),
        }
    }
}

/// The parts of Discord's JSON error body (`{"message", "code", "retry_after", "global"}`).
#[derive(Debug, Default, serde::Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
    #[serde(default)]
    code: Option<u64>,
    #[serde(default)]
    retry_after: Option<f64>,
}

#[derive(Debug, serde::Deserialize)]
struct MessageBody {
    id: String,
}

/// Counters the self-metrics read.
#[derive(Debug, Default, Clone)]
pub struct ClientStats {
    /// 429 answers per route.
    pub rate_limited: HashMap<String, u64>,
}

/// The Discord client: one per process, shared by every route.
pub struct DiscordClient {
    http: reqwest::Client,
    opts: ClientOptions,
    limiters: Mutex<HashMap<String, Limiter>>,
    stats: Mutex<ClientStats>,
}

impl DiscordClient {
    pub fn new(opts: ClientOptions) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .user_agent(concat!(
                "DiscordBot (https://github.com/fedimeter/fedimeter, ",
                env!("CARGO_PKG_VERSION"),
                ")"
            ))
            .connect_timeout(opts.timeout)
            .build()
            .map_err(|e| {
                anyhow::anyhow!("building the discord http client: {}", e.without_url())
            })?;
        Ok(DiscordClient {
            http,
            opts,
            limiters: Mutex::new(HashMap::new()),
            stats: Mutex::new(ClientStats::default()),
        })
    }

    pub fn stats(&self) -> ClientStats {
        self.stats.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Posts `message` (`?wait=true` when `wait`, to learn the message id).
    pub async fn post(
        &self,
        route: &Route,
        message: &Message,
        wait: bool,
    ) -> Result<Outcome, DeliveryError> {
        let mut url = parse_url(route)?;
        if wait {
            url.query_pairs_mut().append_pair("wait", "true");
        }
        self.send(route, reqwest::Method::POST, url, message).await
    }

    /// Edits a message this webhook posted earlier.
    pub async fn edit(
        &self,
        route: &Route,
        message_id: &str,
        message: &Message,
    ) -> Result<Outcome, DeliveryError> {
        let mut url = parse_url(route)?;
        match url.path_segments_mut() {
            Ok(mut segments) => {
                segments.pop_if_empty().push("messages").push(message_id);
            }
            Err(()) => {
                return Err(DeliveryError::Unavailable {
                    attempts: 0,
                    reason: "the webhook url cannot take a path".to_string(),
                });
            }
        }
        self.send(route, reqwest::Method::PATCH, url, message).await
    }

    fn keys(route: &Route) -> [String; 2] {
        [
            format!("webhook\u{0}{}", route.name),
            format!("channel\u{0}{}", route.channel),
        ]
    }

    /// Waits until both of the route's limiters allow a request, and records it.
    async fn wait_turn(&self, route: &Route) {
        let keys = Self::keys(route);
        loop {
            let wait = {
                let mut limiters = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
                let now = Instant::now();
                let (wl, cl) = (self.opts.webhook_limit, self.opts.channel_limit);
                let mut wait = Duration::ZERO;
                for (key, (cap, period)) in keys.iter().zip([wl, cl]) {
                    let l = limiters
                        .entry(key.clone())
                        .or_insert_with(|| Limiter::new(cap, period + WINDOW_MARGIN));
                    wait = wait.max(l.delay(now));
                }
                if wait.is_zero() {
                    for key in &keys {
                        if let Some(l) = limiters.get_mut(key) {
                            l.record(now);
                        }
                    }
                }
                wait
            };
            if wait.is_zero() {
                return;
            }
            tokio::time::sleep(wait).await;
        }
    }

    fn block(&self, key: &str, until: Instant) {
        let mut limiters = self.limiters.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(l) = limiters.get_mut(key) {
            l.block_until(until);
        }
    }

    async fn send(
        &self,
        route: &Route,
        method: reqwest::Method,
        url: url::Url,
        message: &Message,
    ) -> Result<Outcome, DeliveryError> {
        let [webhook_key, channel_key] = Self::keys(route);
        let mut failures = 0u32;
        let mut rate_limited = 0u32;
        loop {
            self.wait_turn(route).await;
            let request = self
                .http
                .request(method.clone(), url.clone())
                .json(message)
                .send();
            let answer = tokio::time::timeout(self.opts.timeout, async {
                let resp = request.await?;
                let status = resp.status().as_u16();
                let headers = RateLimitHeaders::parse(resp.headers());
                let body = resp.bytes().await?;
                Ok::<_, reqwest::Error>((status, headers, body))
            })
            .await;
            let now = Instant::now();
            let reason = match answer {
                Err(_) => "timed out".to_string(),
                Ok(Err(e)) => format!("{}", e.without_url()),
                Ok(Ok((status, headers, body))) => {
                    if headers.remaining == Some(0)
                        && let Some(after) = headers.reset_after
                    {
                        self.block(&webhook_key, now + after);
                    }
                    let err: ErrorBody = serde_json::from_slice(&body).unwrap_or_default();
                    match status {
                        200..=299 => {
                            let id = serde_json::from_slice::<MessageBody>(&body)
                                .ok()
                                .map(|m| m.id);
                            return Ok(Outcome::Sent { message_id: id });
                        }
                        429 => {
                            rate_limited += 1;
                            {
                                let mut stats =
                                    self.stats.lock().unwrap_or_else(|p| p.into_inner());
                                *stats.rate_limited.entry(route.name.clone()).or_default() += 1;
                            }
                            let after = err
                                .retry_after
                                .filter(|s| s.is_finite() && *s >= 0.0)
                                .map(Duration::from_secs_f64)
                                .or(headers.retry_after_header)
                                .unwrap_or(Duration::from_secs(1))
                                .min(MAX_RETRY_AFTER);
                            tracing::warn!(
                                route = %route.name,
                                retry_after_ms = after.as_millis() as u64,
                                "discord rate limited the request; retrying after retry_after"
                            );
                            // The per-channel limit is hidden: block both.
                            self.block(&webhook_key, now + after);
                            self.block(&channel_key, now + after);
                            if rate_limited >= self.opts.max_rate_limited {
                                return Err(DeliveryError::Unavailable {
                                    attempts: failures + rate_limited,
                                    reason: "rate limited".to_string(),
                                });
                            }
                            continue;
                        }
                        404 if err.code.is_none_or(|c| c == 10015) => {
                            return Ok(Outcome::Gone { code: err.code });
                        }
                        _ if err.code == Some(10015) => {
                            return Ok(Outcome::Gone { code: err.code });
                        }
                        400..=499 => {
                            return Ok(Outcome::Rejected {
                                status,
                                code: err.code,
                                message: err.message,
                            });
                        }
                        _ => format!("http {status}"),
                    }
                }
            };
            failures += 1;
            if failures >= self.opts.max_attempts {
                return Err(DeliveryError::Unavailable {
                    attempts: failures + rate_limited,
                    reason,
                });
            }
            let delay = backoff(
                failures,
                self.opts.backoff_base,
                self.opts.backoff_max,
                &mut rand::rng(),
            );
            tracing::debug!(route = %route.name, %reason, delay_ms = delay.as_millis() as u64, "discord request failed; backing off");
            tokio::time::sleep(delay).await;
        }
    }
}

fn parse_url(route: &Route) -> Result<url::Url, DeliveryError> {
    url::Url::parse(route.url.expose()).map_err(|_| DeliveryError::Unavailable {
        attempts: 0,
        reason: format!("route {}: the webhook url does not parse", route.name),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[tokio::test(start_paused = true)]
    async fn limiter_allows_five_per_window_then_waits_for_the_oldest() {
        let mut l = Limiter::new(5, Duration::from_secs(2));
        let t0 = Instant::now();
        for _ in 0..5 {
            assert_eq!(l.delay(Instant::now()), Duration::ZERO);
            l.record(Instant::now());
            tokio::time::advance(Duration::from_millis(100)).await;
        }
        // Five went at 0, 100, …, 400 ms; now is 500 ms: the sixth waits until 2000 ms.
        assert_eq!(l.delay(Instant::now()), Duration::from_millis(1500));
        tokio::time::advance(Duration::from_millis(1500)).await;
        assert_eq!(l.delay(Instant::now()), Duration::ZERO);
        l.record(Instant::now());
        // The seventh waits for the second (sent at 100 ms) to leave the window.
        assert_eq!(l.delay(Instant::now()), Duration::from_millis(100));
        assert_eq!(Instant::now() - t0, Duration::from_millis(2000));
    }

    #[tokio::test(start_paused = true)]
    async fn limiter_honours_a_block_from_reset_after() {
        let mut l = Limiter::new(5, Duration::from_secs(2));
        let now = Instant::now();
        l.block_until(now + Duration::from_millis(1234));
        assert_eq!(l.delay(now), Duration::from_millis(1234));
        // An earlier block does not shorten a later one.
        l.block_until(now + Duration::from_millis(10));
        assert_eq!(l.delay(now), Duration::from_millis(1234));
        tokio::time::advance(Duration::from_millis(1234)).await;
        assert_eq!(l.delay(Instant::now()), Duration::ZERO);
    }

    #[test]
    fn backoff_doubles_caps_and_jitters_in_the_upper_half() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let base = Duration::from_millis(500);
        let max = Duration::from_secs(30);
        // (attempt, lower bound, upper bound)
        let cases = [
            (1, 250, 500),
            (2, 500, 1000),
            (3, 1000, 2000),
            (4, 2000, 4000),
            (7, 15_000, 30_000),
            (30, 15_000, 30_000),
        ];
        for (attempt, lo, hi) in cases {
            for _ in 0..50 {
                let d = backoff(attempt, base, max, &mut rng);
                assert!(
                    d >= Duration::from_millis(lo) && d <= Duration::from_millis(hi),
                    "attempt {attempt}: {d:?}"
                );
            }
        }
    }

    #[test]
    fn rate_limit_headers_parse_fractional_seconds() {
        let mut h = reqwest::header::HeaderMap::new();
        h.insert(
            "x-ratelimit-remaining",
            reqwest::header::HeaderValue::from_static("0"),
        );
        h.insert(
            "x-ratelimit-reset-after",
            reqwest::header::HeaderValue::from_static("1.250"),
        );
        h.insert(
            "retry-after",
            reqwest::header::HeaderValue::from_static("2"),
        );
        assert_eq!(
            RateLimitHeaders::parse(&h),
            RateLimitHeaders {
                remaining: Some(0),
                reset_after: Some(Duration::from_millis(1250)),
                retry_after_header: Some(Duration::from_secs(2)),
            }
        );
        assert_eq!(
            RateLimitHeaders::parse(&reqwest::header::HeaderMap::new()),
            RateLimitHeaders::default()
        );
    }
}
