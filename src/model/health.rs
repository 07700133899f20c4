//! [`Health`]: the one meaning of "up" that every reader of a snapshot uses.
//!
//! The health is decided once, when the snapshot is built, by the rule of the target's
//! collector kind (see `collect::health` and `docs/metrics.md`):
//! - PostgreSQL, PgBouncer and Redis: a run that collected (fully or partly) is
//!   [`Health::Up`] (`<system>_up 1`); a run that failed, timed out or panicked is
//!   [`Health::Down`] with the [`Reason`] class of the error (`<system>_up 0`).
//! - Probes: the attempt decides. `probe_success 0` is `Down` (refused, timeout, dns, tls,
//!   http_status, check_failed, …); a success slower than `degraded_after` is
//!   [`Health::Degraded`] with [`Reason::Slow`]; otherwise `Up`. A probe run that made no
//!   attempt (fedimeter's own failure: the runner cancelled or contained it) has no health:
//!   `Snapshot::health` is `None` and every reader counts it as "no data", never as down.
//!
//! The state recorder, the SLI engine and the page read this field, nothing else.

use std::fmt;

/// A coarse, bounded class of why a target is down or degraded. Safe to log and to show:
/// it never carries a URL, host name or error text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Reason {
    /// The connection was refused, reset or aborted.
    Refused,
    /// The run or the attempt did not finish within its timeout.
    Timeout,
    /// The host name could not be resolved.
    Dns,
    /// The server rejected the credentials (SQLSTATE 28P01/28000, Redis `WRONGPASS`/`NOAUTH`).
    Auth,
    /// The TLS handshake failed or the certificate was not accepted.
    Tls,
    /// The HTTP status was not one of the expected ones.
    HttpStatus,
    /// The answer did not meet a condition (body text, regex, JSON value, body size).
    CheckFailed,
    /// The attempt succeeded but took longer than `degraded_after` (only with `Degraded`).
    Slow,
    /// The server answered something the collector could not use (protocol error).
    Protocol,
    /// Anything else, including a contained panic.
    Other,
}

impl Reason {
    pub const ALL: [Reason; 10] = [
        Reason::Refused,
        Reason::Timeout,
        Reason::Dns,
        Reason::Auth,
        Reason::Tls,
        Reason::HttpStatus,
        Reason::CheckFailed,
        Reason::Slow,
        Reason::Protocol,
        Reason::Other,
    ];

    /// The name used in logs and docs.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Refused => "refused",
            Reason::Timeout => "timeout",
            Reason::Dns => "dns",
            Reason::Auth => "auth",
            Reason::Tls => "tls",
            Reason::HttpStatus => "http_status",
            Reason::CheckFailed => "check_failed",
            Reason::Slow => "slow",
            Reason::Protocol => "protocol",
            Reason::Other => "other",
        }
    }
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A target's health as of one snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Health {
    Up,
    /// Answering, but not well enough (a probe slower than `degraded_after`).
    Degraded {
        reason: Reason,
    },
    Down {
        reason: Reason,
    },
}

impl Health {
    /// Whether the target counts as up for `<system>_up` and `probe_success` (degraded is
    /// up: it answered correctly).
    pub fn is_up(self) -> bool {
        !matches!(self, Health::Down { .. })
    }

    /// `up`, `degraded` or `down`.
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Up => "up",
            Health::Degraded { .. } => "degraded",
            Health::Down { .. } => "down",
        }
    }

    /// The reason class of a degraded or down health.
    pub fn reason(self) -> Option<Reason> {
        match self {
            Health::Up => None,
            Health::Degraded { reason } | Health::Down { reason } => Some(reason),
        }
    }
}

impl fmt::Display for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.reason() {
            None => f.write_str(self.as_str()),
            Some(reason) => write!(f, "{} ({reason})", self.as_str()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_up() {
        let down = Health::Down {
            reason: Reason::HttpStatus,
        };
        let slow = Health::Degraded {
            reason: Reason::Slow,
        };
        assert_eq!(down.to_string(), "down (http_status)");
        assert_eq!(slow.to_string(), "degraded (slow)");
        assert_eq!(Health::Up.to_string(), "up");
        assert!(Health::Up.is_up() && slow.is_up() && !down.is_up());
        let names: std::collections::BTreeSet<&str> =
            Reason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(names.len(), Reason::ALL.len(), "names are distinct");
    }
}
