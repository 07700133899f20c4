//! Notifications: what an alert event says ([`Notice`]) and how it reaches people.
//!
//! Only this module talks to Discord (`discord/`): `message.rs` turns notices into Discord
//! payloads within Discord's documented limits (pure), `client.rs` delivers them with the
//! per-webhook and per-channel rate limits, retries and error classification of
//! `docs/alerts.md`. Every notification goes through the durable `outbox` in the store,
//! which `dispatch` drains route by route.

pub mod discord;
pub mod dispatch;
pub mod metrics;
pub mod outbox;

pub use crate::model::Severity;

/// What happened to an alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Transition {
    /// It started firing.
    Firing,
    /// Still firing; sent again after `repeat_interval`.
    Repeat,
    /// It stopped firing after being firing for `lasted_secs`.
    Resolved { lasted_secs: u64 },
}

/// One alert event to notify about, already rendered (templates filled in). All text here
/// may be hostile (queue names, labels, incident text): the message builder escapes it.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub alertname: String,
    pub severity: Severity,
    pub transition: Transition,
    pub summary: String,
    pub description: String,
    /// The current value, formatted (`"412 s"`).
    pub value: Option<String>,
    /// The threshold, formatted (`"> 300 s"`).
    pub threshold: Option<String>,
    /// When the condition started (Unix seconds).
    pub since_unix: i64,
    pub component: Option<String>,
    pub target: Option<String>,
    pub runbook: Option<String>,
    /// Identifying labels (bounded by the rule's series).
    pub labels: Vec<(String, String)>,
}
