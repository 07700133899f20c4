//! A faithful fake of Discord's webhook API for tests (axum on `127.0.0.1:0`).
//!
//! What it implements, from Discord's documentation (`developers/resources/webhook.mdx`,
//! `message.mdx`, `topics/rate-limits.mdx`, `topics/opcodes-and-status-codes.mdx`, summarised
//! in `shared/reference/anchors-status-alerting.md` §3):
//! - `POST /api/webhooks/{id}/{token}[?wait=true]` executes a webhook: `204 No Content`, or with
//!   `wait=true` `200` and the created message object (snowflake `id`).
//! - `PATCH /api/webhooks/{id}/{token}/messages/{message_id}` edits a message the webhook sent
//!   (`404`, code `10008` "Unknown Message" otherwise) and returns the edited message.
//! - The documented limits, checked on every POST and PATCH: content 2000; 10 embeds; title
//!   256; description 4096; 25 fields; field name 256 and value 1024 (both required); footer
//!   2048; author name 256; 6000 characters across all embeds. Lengths are counted in
//!   characters (Unicode scalar values) after trimming leading and trailing whitespace. A
//!   violation answers `400` with Discord's "Invalid Form Body" shape (code `50035`, an
//!   `errors` tree down to `_errors`); an empty message answers `400` code `50006`;
//!   `allowed_mentions` with `parse: ["roles"]` and a `roles` list at once answers `400`.
//! - Rate limits: one bucket per webhook (default 5 requests per 2 s) and one per channel
//!   shared by all webhooks registered on it (default 30 per 60 s), fixed windows starting at
//!   the first request. Every answer carries `X-RateLimit-Limit`, `-Remaining`, `-Reset`
//!   (epoch seconds), `-Reset-After` (seconds, 3 decimals) and `-Bucket` for the webhook
//!   bucket; a request over either limit gets a real `429` (counted in
//!   [`FakeDiscord::rate_limit_violations`], which a well-behaved client keeps at zero).
//! - Scripted faults, consumed one per request in order ([`FakeDiscord::push_fault`]) or
//!   applied to every request ([`FakeDiscord::set_down`]): `429` with
//!   `{"message":"You are being rate limited.","retry_after":…,"global":false}` and
//!   `Retry-After`; `404` `{"message":"Unknown Webhook","code":10015}`; `500`; or a hang.
//! - A deleted webhook ([`FakeDiscord::delete_webhook`]) answers `404`/`10015` for ever.
//! - One message refused ([`FakeDiscord::reject_titled`]): the next request whose first
//!   embed has that title answers `400` with Discord's error body `{"message":…,"code":…}`
//!   (after the rate limits, as Discord counts every request).
//! - Every request is recorded ([`FakeDiscord::requests`]) with its parsed body, the answer's
//!   status and the time it arrived.
//!
//! Include it with `#[path = "support/discord.rs"] mod discord;`. It does not depend on the
//! fedimeter library.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{patch, post};
use serde_json::{Value, json};

/// Discord's epoch (2015-01-01T00:00:00Z) in milliseconds, for snowflakes.
const DISCORD_EPOCH_MS: u64 = 1_420_070_400_000;

/// A scripted answer for one request.
#[derive(Debug, Clone, PartialEq)]
pub enum Fault {
    /// `429` with this `retry_after` (seconds, with fractions).
    RateLimited(f64),
    /// `404` `{"message":"Unknown Webhook","code":10015}`.
    UnknownWebhook,
    /// `500` `{"message":"500: Internal Server Error","code":0}`.
    ServerError,
    /// The request is read and never answered.
    Hang,
}

/// One request the fake received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub webhook_id: String,
    /// `Some` for PATCH (the edited message's id).
    pub message_id: Option<String>,
    pub wait: bool,
    pub body: Value,
    pub headers: Vec<(String, String)>,
    /// The answer's status (0 for a hang).
    pub status: u16,
    /// The message id the answer carried (POST with `wait=true`, PATCH), if any.
    pub created_id: Option<String>,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Debug)]
struct Bucket {
    limit: u32,
    window: Duration,
    started: Option<Instant>,
    used: u32,
}

impl Bucket {
    fn new(limit: u32, window: Duration) -> Self {
        Bucket {
            limit,
            window,
            started: None,
            used: 0,
        }
    }

    /// Counts a request at `now`; `Err(retry_after)` when it is over the limit.
    fn take(&mut self, now: Instant) -> Result<(), Duration> {
        match self.started {
            Some(s) if now.duration_since(s) < self.window => {}
            _ => {
                self.started = Some(now);
                self.used = 0;
            }
        }
        if self.used >= self.limit {
            return Err(self.reset_after(now));
        }
        self.used += 1;
        Ok(())
    }

    fn reset_after(&self, now: Instant) -> Duration {
        match self.started {
            Some(s) => (s + self.window).saturating_duration_since(now),
            None => Duration::ZERO,
        }
    }

    fn remaining(&self) -> u32 {
        self.limit.saturating_sub(self.used)
    }
}

#[derive(Debug)]
struct Webhook {
    token: String,
    channel: String,
    deleted: bool,
    bucket: Bucket,
}

#[derive(Debug, Clone)]
struct StoredMessage {
    webhook_id: String,
    message: Value,
}

struct Inner {
    webhooks: HashMap<String, Webhook>,
    channels: HashMap<String, Bucket>,
    webhook_limit: (u32, Duration),
    channel_limit: (u32, Duration),
    faults: VecDeque<Fault>,
    down: Option<Fault>,
    messages: HashMap<String, StoredMessage>,
    requests: Vec<Recorded>,
    violations: usize,
    sequence: u64,
    /// `(embed title, code, message)`: refused once each with `400`.
    rejections: Vec<(String, u32, String)>,
}

/// The running fake. Dropping it stops the server.
pub struct FakeDiscord {
    addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeDiscord {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeDiscord {
    /// Starts the fake on a free loopback port with Discord's usual limits (5 requests per
    /// 2 s per webhook, 30 per 60 s per channel).
    pub async fn start() -> Self {
        Self::with_limits((5, Duration::from_secs(2)), (30, Duration::from_secs(60))).await
    }

    /// Starts the fake with other bucket sizes (`(requests, window)`).
    pub async fn with_limits(webhook: (u32, Duration), channel: (u32, Duration)) -> Self {
        let inner = Arc::new(Mutex::new(Inner {
            webhooks: HashMap::new(),
            channels: HashMap::new(),
            webhook_limit: webhook,
            channel_limit: channel,
            faults: VecDeque::new(),
            down: None,
            messages: HashMap::new(),
            requests: Vec::new(),
            violations: 0,
            sequence: 0,
            rejections: Vec::new(),
        }));
        let app = Router::new()
            .route("/api/webhooks/{id}/{token}", post(execute))
            .route(
                "/api/webhooks/{id}/{token}/messages/{message_id}",
                patch(edit),
            )
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding the fake Discord to 127.0.0.1:0");
        let addr = listener.local_addr().expect("local_addr");
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        FakeDiscord { addr, inner, task }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a webhook in `channel`; returns its URL
    /// (`http://127.0.0.1:PORT/api/webhooks/ID/TOKEN`).
    pub fn webhook(&self, id: &str, token: &str, channel: &str) -> String {
        let mut inner = self.lock();
        let (limit, window) = inner.webhook_limit;
        inner.webhooks.insert(
            id.to_string(),
            Webhook {
                token: token.to_string(),
                channel: channel.to_string(),
                deleted: false,
                bucket: Bucket::new(limit, window),
            },
        );
        format!("http://{}/api/webhooks/{id}/{token}", self.addr)
    }

    /// From now on the webhook answers `404` / `10015` "Unknown Webhook".
    pub fn delete_webhook(&self, id: &str) {
        if let Some(w) = self.lock().webhooks.get_mut(id) {
            w.deleted = true;
        }
    }

    /// Queues a fault for the next request that has none queued before it.
    pub fn push_fault(&self, fault: Fault) {
        self.lock().faults.push_back(fault);
    }

    /// The next request whose first embed is titled `title` answers `400`
    /// `{"message": message, "code": code}` (Discord's error shape, e.g. code 50006
    /// "Cannot send an empty message"); later ones with that title are answered normally.
    pub fn reject_titled(&self, title: &str, code: u32, message: &str) {
        self.lock()
            .rejections
            .push((title.to_string(), code, message.to_string()));
    }

    /// Every request answers with `fault` until `set_down(None)`.
    pub fn set_down(&self, fault: Option<Fault>) {
        self.lock().down = fault;
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.lock().requests.clone()
    }

    /// Requests that Discord accepted (2xx).
    pub fn accepted(&self) -> Vec<Recorded> {
        self.requests()
            .into_iter()
            .filter(|r| (200..300).contains(&r.status))
            .collect()
    }

    /// How many requests went over a rate limit (real 429s, not scripted ones).
    pub fn rate_limit_violations(&self) -> usize {
        self.lock().violations
    }

    /// The current state of a message the fake stored.
    pub fn message(&self, id: &str) -> Option<Value> {
        self.lock().messages.get(id).map(|m| m.message.clone())
    }
}

fn wants_wait(query: &HashMap<String, String>) -> bool {
    query
        .get("wait")
        .is_some_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

async fn execute(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((id, token)): Path<(String, String)>,
    Query(query): Query<HashMap<String, String>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let wait = wants_wait(&query);
    handle(inner, Method::POST, id, token, None, wait, headers, body).await
}

async fn edit(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path((id, token, message_id)): Path<(String, String, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    handle(
        inner,
        Method::PATCH,
        id,
        token,
        Some(message_id),
        true,
        headers,
        body,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
async fn handle(
    inner: Arc<Mutex<Inner>>,
    method: Method,
    id: String,
    token: String,
    message_id: Option<String>,
    wait: bool,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let now = Instant::now();
    let parsed: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let recorded_headers = headers
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let (response, hang) = {
        let mut inner = inner.lock().unwrap_or_else(|p| p.into_inner());
        let (response, created_id, hang) = answer(
            &mut inner,
            &method,
            &id,
            &token,
            message_id.as_deref(),
            wait,
            &parsed,
            now,
        );
        let status = if hang { 0 } else { response.status().as_u16() };
        inner.requests.push(Recorded {
            method: method.to_string(),
            webhook_id: id.clone(),
            message_id: message_id.clone(),
            wait,
            body: parsed,
            headers: recorded_headers,
            status,
            created_id: created_id.clone(),
            at: now,
        });
        (response, hang)
    };
    if hang {
        std::future::pending::<()>().await;
    }
    response
}

fn error(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

#[allow(clippy::too_many_arguments)]
fn answer(
    inner: &mut Inner,
    method: &Method,
    id: &str,
    token: &str,
    message_id: Option<&str>,
    wait: bool,
    body: &Value,
    now: Instant,
) -> (Response, Option<String>, bool) {
    let fault = inner.faults.pop_front().or_else(|| inner.down.clone());
    match fault {
        Some(Fault::Hang) => return (StatusCode::OK.into_response(), None, true),
        Some(Fault::ServerError) => {
            return (
                error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    json!({"message": "500: Internal Server Error", "code": 0}),
                ),
                None,
                false,
            );
        }
        Some(Fault::UnknownWebhook) => return (unknown_webhook(), None, false),
        Some(Fault::RateLimited(after)) => return (rate_limited(after, false), None, false),
        None => {}
    }
    let Some(hook) = inner.webhooks.get_mut(id) else {
        return (unknown_webhook(), None, false);
    };
    if hook.deleted {
        return (unknown_webhook(), None, false);
    }
    if hook.token != token {
        return (
            error(
                StatusCode::UNAUTHORIZED,
                json!({"message": "Invalid Webhook Token", "code": 50027}),
            ),
            None,
            false,
        );
    }
    // Rate limits: the webhook's own bucket, then the channel's hidden one.
    if let Err(after) = hook.bucket.take(now) {
        inner.violations += 1;
        return (rate_limited(after.as_secs_f64(), false), None, false);
    }
    let rl_headers = rate_limit_headers(&hook.bucket, id, now);
    let channel = hook.channel.clone();
    let (climit, cwindow) = inner.channel_limit;
    let cbucket = inner
        .channels
        .entry(channel.clone())
        .or_insert_with(|| Bucket::new(climit, cwindow));
    if let Err(after) = cbucket.take(now) {
        inner.violations += 1;
        return (rate_limited(after.as_secs_f64(), false), None, false);
    }
    if let Err(errors) = validate(body) {
        return (with_headers(*errors, &rl_headers), None, false);
    }
    let title = body["embeds"][0]["title"].as_str().unwrap_or("");
    if let Some(i) = inner.rejections.iter().position(|(t, _, _)| t == title) {
        let (_, code, message) = inner.rejections.remove(i);
        return (
            with_headers(
                error(
                    StatusCode::BAD_REQUEST,
                    json!({"message": message, "code": code}),
                ),
                &rl_headers,
            ),
            None,
            false,
        );
    }
    let respond_with = |msg: &Value| {
        let mut resp = (
            StatusCode::OK,
            [("content-type", "application/json")],
            msg.to_string(),
        )
            .into_response();
        add_headers(&mut resp, &rl_headers);
        resp
    };
    if *method == Method::PATCH {
        let mid = message_id.unwrap_or_default();
        let Some(stored) = inner.messages.get_mut(mid).filter(|m| m.webhook_id == id) else {
            return (
                with_headers(
                    error(
                        StatusCode::NOT_FOUND,
                        json!({"message": "Unknown Message", "code": 10008}),
                    ),
                    &rl_headers,
                ),
                None,
                false,
            );
        };
        if let (Some(target), Some(patch)) = (stored.message.as_object_mut(), body.as_object()) {
            for key in ["content", "embeds", "allowed_mentions", "flags"] {
                if let Some(v) = patch.get(key) {
                    target.insert(key.to_string(), v.clone());
                }
            }
            target.insert("edited_timestamp".into(), Value::String(rfc3339_now()));
        }
        let msg = stored.message.clone();
        return (respond_with(&msg), Some(mid.to_string()), false);
    }
    inner.sequence += 1;
    let snowflake = snowflake(inner.sequence);
    let message = json!({
        "id": snowflake,
        "type": 0,
        "channel_id": channel,
        "webhook_id": id,
        "content": body.get("content").cloned().unwrap_or(Value::String(String::new())),
        "embeds": body.get("embeds").cloned().unwrap_or(json!([])),
        "flags": body.get("flags").cloned().unwrap_or(json!(0)),
        "timestamp": rfc3339_now(),
        "edited_timestamp": Value::Null,
    });
    inner.messages.insert(
        snowflake.clone(),
        StoredMessage {
            webhook_id: id.to_string(),
            message: message.clone(),
        },
    );
    if wait {
        (respond_with(&message), Some(snowflake), false)
    } else {
        let mut resp = StatusCode::NO_CONTENT.into_response();
        add_headers(&mut resp, &rl_headers);
        (resp, None, false)
    }
}

fn snowflake(sequence: u64) -> String {
    let ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(DISCORD_EPOCH_MS);
    (((ms - DISCORD_EPOCH_MS) << 22) | (sequence & 0xfff)).to_string()
}

fn rfc3339_now() -> String {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO);
    let secs = now.as_secs() as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}000+00:00",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        now.subsec_millis()
    )
}

fn unknown_webhook() -> Response {
    error(
        StatusCode::NOT_FOUND,
        json!({"message": "Unknown Webhook", "code": 10015}),
    )
}

fn rate_limited(retry_after: f64, global: bool) -> Response {
    let mut resp = error(
        StatusCode::TOO_MANY_REQUESTS,
        json!({"message": "You are being rate limited.", "retry_after": retry_after, "global": global}),
    );
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&format!("{}", retry_after.ceil() as u64)) {
        h.insert("retry-after", v);
    }
    h.insert("x-ratelimit-scope", HeaderValue::from_static("user"));
    resp
}

fn rate_limit_headers(bucket: &Bucket, id: &str, now: Instant) -> Vec<(&'static str, String)> {
    let after = bucket.reset_after(now);
    let reset = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| (d + after).as_secs_f64())
        .unwrap_or(0.0);
    vec![
        ("x-ratelimit-limit", bucket.limit.to_string()),
        ("x-ratelimit-remaining", bucket.remaining().to_string()),
        ("x-ratelimit-reset", format!("{reset:.3}")),
        (
            "x-ratelimit-reset-after",
            format!("{:.3}", after.as_secs_f64()),
        ),
        ("x-ratelimit-bucket", format!("webhook-{id}")),
    ]
}

fn add_headers(resp: &mut Response, headers: &[(&'static str, String)]) {
    for (name, value) in headers {
        if let Ok(v) = HeaderValue::from_str(value) {
            resp.headers_mut().insert(*name, v);
        }
    }
}

fn with_headers(mut resp: Response, headers: &[(&'static str, String)]) -> Response {
    add_headers(&mut resp, headers);
    resp
}

/// Length as Discord counts it: characters after trimming surrounding whitespace.
pub fn discord_len(s: &str) -> usize {
    s.trim().chars().count()
}

fn too_long(max: usize) -> Value {
    json!({"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": format!("Must be {max} or fewer in length.")}]})
}

fn required() -> Value {
    json!({"_errors": [{"code": "BASE_TYPE_REQUIRED", "message": "This field is required"}]})
}

fn invalid_form_body(errors: Value) -> Response {
    error(
        StatusCode::BAD_REQUEST,
        json!({"message": "Invalid Form Body", "code": 50035, "errors": errors}),
    )
}

fn text<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

/// Checks a message body against Discord's documented limits.
fn validate(body: &Value) -> Result<(), Box<Response>> {
    let Some(obj) = body.as_object() else {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            json!({"message": "Cannot send an empty message", "code": 50006}),
        )));
    };
    let mut errors = serde_json::Map::new();
    let content = obj.get("content").and_then(Value::as_str).unwrap_or("");
    if discord_len(content) > 2000 {
        errors.insert("content".into(), too_long(2000));
    }
    let embeds = obj
        .get("embeds")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if content.trim().is_empty() && embeds.is_empty() {
        return Err(Box::new(error(
            StatusCode::BAD_REQUEST,
            json!({"message": "Cannot send an empty message", "code": 50006}),
        )));
    }
    if embeds.len() > 10 {
        errors.insert(
            "embeds".into(),
            json!({"_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 10 or fewer in length."}]}),
        );
    }
    let mut total = 0usize;
    let mut embed_errors = serde_json::Map::new();
    for (i, e) in embeds.iter().enumerate() {
        let mut errs = serde_json::Map::new();
        let mut check = |key: &str,
                         value: Option<&str>,
                         max: usize,
                         errs: &mut serde_json::Map<String, Value>| {
            if let Some(v) = value {
                let n = discord_len(v);
                total += n;
                if n > max {
                    errs.insert(key.to_string(), too_long(max));
                }
            }
        };
        check("title", text(e, "title"), 256, &mut errs);
        check("description", text(e, "description"), 4096, &mut errs);
        if let Some(footer) = e.get("footer") {
            let mut sub = serde_json::Map::new();
            check("text", text(footer, "text"), 2048, &mut sub);
            if !sub.is_empty() {
                errs.insert("footer".into(), Value::Object(sub));
            }
        }
        if let Some(author) = e.get("author") {
            let mut sub = serde_json::Map::new();
            check("name", text(author, "name"), 256, &mut sub);
            if !sub.is_empty() {
                errs.insert("author".into(), Value::Object(sub));
            }
        }
        if let Some(fields) = e.get("fields").and_then(Value::as_array) {
            let mut ferrs = serde_json::Map::new();
            if fields.len() > 25 {
                ferrs.insert(
                    "_errors".into(),
                    json!([{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 25 or fewer in length."}]),
                );
            }
            for (j, f) in fields.iter().enumerate() {
                let mut sub = serde_json::Map::new();
                for (key, max) in [("name", 256), ("value", 1024)] {
                    match text(f, key) {
                        Some(v) if !v.trim().is_empty() => check(key, Some(v), max, &mut sub),
                        _ => {
                            sub.insert(key.to_string(), required());
                        }
                    }
                }
                if !sub.is_empty() {
                    ferrs.insert(j.to_string(), Value::Object(sub));
                }
            }
            if !ferrs.is_empty() {
                errs.insert("fields".into(), Value::Object(ferrs));
            }
        }
        if !errs.is_empty() {
            embed_errors.insert(i.to_string(), Value::Object(errs));
        }
    }
    if total > 6000 {
        embed_errors.insert(
            "_errors".into(),
            json!([{"code": "MAX_EMBED_SIZE_EXCEEDED", "message": "Embed size exceeds maximum size of 6000"}]),
        );
    }
    if !embed_errors.is_empty() && !errors.contains_key("embeds") {
        errors.insert("embeds".into(), Value::Object(embed_errors));
    }
    if let Some(am) = obj.get("allowed_mentions") {
        let parse: Vec<&str> = am
            .get("parse")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let roles = am
            .get("roles")
            .and_then(Value::as_array)
            .map(|a| a.len())
            .unwrap_or(0);
        if parse.contains(&"roles") && roles > 0 {
            errors.insert(
                "allowed_mentions".into(),
                json!({"_errors": [{"code": "MESSAGE_ALLOWED_MENTIONS_PARSE_EXCLUSIVE", "message": "parse:[\"roles\"] and roles: [ids] are mutually exclusive."}]}),
            );
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(Box::new(invalid_form_body(Value::Object(errors))))
    }
}
