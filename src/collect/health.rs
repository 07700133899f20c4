//! The health rule, in one place: how a collection run becomes a [`Health`], and which
//! [`Reason`] class an error chain belongs to.
//!
//! - PostgreSQL, PgBouncer, Redis ([`Kind::reports_own_health`] is false): a run that
//!   collected (fully or partly) is `Up`; a collector error is `Down` with the class of its
//!   error chain ([`classify`]); a run cancelled at its timeout is `Down{timeout}`; a
//!   contained panic is `Down{other}`. This is exactly `<system>_up`.
//! - Probes: the collector decides from the attempt ([`Sink::set_health`], see
//!   [`attempt_health`]); a run that made no attempt has no health (no data).
//!
//! [`classify`] walks the chain from the outermost error inwards and takes the first cause
//! it recognises: I/O error kinds, timeouts, SQLSTATE 28P01/28000 (sqlx, tokio-postgres),
//! Redis authentication errors, rustls errors, parse errors. Anything else is `other`.

use std::error::Error as StdError;
use std::io;
use std::time::Duration;

use super::Sink;
use crate::model::{Health, Kind, Outcome, Reason};

/// The SQLSTATEs of rejected credentials: `invalid_password`, and
/// `invalid_authorization_specification` (no such role, pg_hba.conf rejects).
const AUTH_SQLSTATES: [&str; 2] = ["28P01", "28000"];

/// A collector error flattened to one line of text (for client errors whose own text
/// already includes their causes), keeping what the typed cause said: its reason class and
/// a short, secret-free category (e.g. `redis_exporter_last_scrape_error{err}`).
#[derive(Debug)]
pub struct Classified {
    pub reason: Reason,
    pub category: &'static str,
    pub message: String,
}

impl std::fmt::Display for Classified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

impl StdError for Classified {}

/// The reason class of one typed error and its sources (`Other` when none is recognised).
pub fn classify_error(error: &(dyn StdError + 'static)) -> Reason {
    let mut cause = Some(error);
    while let Some(e) = cause {
        if let Some(reason) = classify_cause(e) {
            return reason;
        }
        cause = e.source();
    }
    Reason::Other
}

/// The reason class of an error chain.
pub fn classify(error: &anyhow::Error) -> Reason {
    error
        .chain()
        .find_map(classify_cause)
        .unwrap_or(Reason::Other)
}

/// The class of one cause, when it is one we recognise.
fn classify_cause(cause: &(dyn StdError + 'static)) -> Option<Reason> {
    if let Some(classified) = cause.downcast_ref::<Classified>() {
        return Some(classified.reason);
    }
    if cause.is::<tokio::time::error::Elapsed>() {
        return Some(Reason::Timeout);
    }
    if cause.is::<rustls::Error>() {
        return Some(Reason::Tls);
    }
    if let Some(e) = cause.downcast_ref::<io::Error>() {
        return classify_io(e);
    }
    if let Some(e) = cause.downcast_ref::<sqlx::Error>() {
        return match e {
            sqlx::Error::Database(db) => Some(match db.code() {
                Some(code) if AUTH_SQLSTATES.contains(&&*code) => Reason::Auth,
                _ => Reason::Other,
            }),
            sqlx::Error::Io(io) => classify_io(io),
            sqlx::Error::Tls(_) => Some(Reason::Tls),
            sqlx::Error::PoolTimedOut => Some(Reason::Timeout),
            sqlx::Error::Protocol(_) => Some(Reason::Protocol),
            _ => None,
        };
    }
    if let Some(e) = cause.downcast_ref::<tokio_postgres::Error>() {
        if let Some(code) = e.code() {
            return Some(if AUTH_SQLSTATES.contains(&code.code()) {
                Reason::Auth
            } else {
                Reason::Other
            });
        }
        // tokio-postgres' `connect_timeout` error has no source and no public kind.
        if e.source().is_none() && e.to_string() == "timeout waiting for server" {
            return Some(Reason::Timeout);
        }
        return None;
    }
    if let Some(e) = cause.downcast_ref::<redis::RedisError>() {
        return classify_redis(e);
    }
    if let Some(e) = cause.downcast_ref::<hyper::Error>() {
        if e.is_timeout() {
            return Some(Reason::Timeout);
        }
        if e.is_parse() {
            return Some(Reason::Protocol);
        }
        return None;
    }
    None
}

/// A Redis client error's class, when recognised.
pub fn classify_redis(e: &redis::RedisError) -> Option<Reason> {
    if e.kind() == redis::ErrorKind::AuthenticationFailed
        || matches!(e.code(), Some("NOAUTH" | "WRONGPASS"))
    {
        return Some(Reason::Auth);
    }
    if e.is_connection_refusal() {
        return Some(Reason::Refused);
    }
    if e.is_timeout() {
        return Some(Reason::Timeout);
    }
    if e.kind() == redis::ErrorKind::Parse {
        return Some(Reason::Protocol);
    }
    e.source().and_then(classify_cause)
}

/// An I/O error's class; a wrapped error (rustls inside tokio-rustls' `io::Error`) first.
/// `io::Error::source` skips the wrapped error itself, hence `get_ref`.
fn classify_io(error: &io::Error) -> Option<Reason> {
    if let Some(inner) = error.get_ref() {
        if let Some(reason) = classify_cause(inner) {
            return Some(reason);
        }
    }
    match error.kind() {
        io::ErrorKind::ConnectionRefused
        | io::ErrorKind::ConnectionReset
        | io::ErrorKind::ConnectionAborted
        | io::ErrorKind::BrokenPipe
        | io::ErrorKind::UnexpectedEof
        | io::ErrorKind::NotConnected => Some(Reason::Refused),
        io::ErrorKind::TimedOut => Some(Reason::Timeout),
        io::ErrorKind::InvalidData => Some(Reason::Protocol),
        // The standard library's getaddrinfo failure has no stable kind, only this text.
        _ if error
            .to_string()
            .starts_with("failed to lookup address information") =>
        {
            Some(Reason::Dns)
        }
        _ => None,
    }
}

/// How a run ended, as the runner saw it, before the health rule is applied.
#[derive(Debug)]
pub enum RunEnd<'a> {
    /// The collector returned `Ok` (possibly with failed parts).
    Collected,
    /// The collector returned this error.
    Failed(&'a anyhow::Error),
    /// The runner cancelled the run at its timeout.
    TimedOut,
    /// The collector panicked.
    Panicked,
}

impl RunEnd<'_> {
    /// The [`Outcome`] self-metrics report (`partial` parts counted by the caller).
    pub fn outcome(&self, failed_parts: u32) -> Outcome {
        match self {
            RunEnd::Collected if failed_parts == 0 => Outcome::Success,
            RunEnd::Collected => Outcome::Partial { failed_parts },
            RunEnd::Failed(_) => Outcome::Failed,
            RunEnd::TimedOut => Outcome::TimedOut,
            RunEnd::Panicked => Outcome::Panicked,
        }
    }
}

/// The health of a run of a `kind` target: the rule above. `reported` is what the
/// collector set with [`Sink::set_health`] (probes).
pub fn run_health(kind: Kind, end: &RunEnd<'_>, reported: Option<Health>) -> Option<Health> {
    if kind.reports_own_health() {
        return reported;
    }
    Some(match end {
        RunEnd::Collected => Health::Up,
        RunEnd::Failed(error) => Health::Down {
            reason: classify(error),
        },
        RunEnd::TimedOut => Health::Down {
            reason: Reason::Timeout,
        },
        RunEnd::Panicked => Health::Down {
            reason: Reason::Other,
        },
    })
}

/// A probe attempt's health: `failure` (the reason class why `probe_success` is 0) wins;
/// a success slower than `degraded_after` is degraded.
pub fn attempt_health(
    failure: Option<Reason>,
    took: Duration,
    degraded_after: Option<Duration>,
) -> Health {
    match (failure, degraded_after) {
        (Some(reason), _) => Health::Down { reason },
        (None, Some(limit)) if took > limit => Health::Degraded {
            reason: Reason::Slow,
        },
        (None, _) => Health::Up,
    }
}

impl Sink {
    /// Sets the target's health for this run (only collectors whose kind
    /// [`Kind::reports_own_health`], i.e. probes; the runner ignores it for other kinds).
    pub fn set_health(&mut self, health: Health) {
        self.health = Some(health);
    }

    /// The health set with [`Sink::set_health`], if any.
    pub fn health(&self) -> Option<Health> {
        self.health
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context;

    /// A loopback port nobody listens on: bound, then released.
    fn closed_port() -> u16 {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        port
    }

    #[test]
    fn a_refused_connection_is_refused_through_context() {
        let port = closed_port();
        let error = std::net::TcpStream::connect(("127.0.0.1", port))
            .context("connecting to the target")
            .context("collecting")
            .expect_err("nobody listens");
        assert_eq!(classify(&error), Reason::Refused, "{error:#}");
    }

    #[tokio::test]
    async fn an_unresolvable_name_is_dns() {
        // `.invalid` never resolves (RFC 6761), with or without a network.
        let error = tokio::net::lookup_host("fedimeter-test.invalid:443")
            .await
            .map(|_| ())
            .context("resolving fedimeter-test.invalid")
            .expect_err("does not resolve");
        assert_eq!(classify(&error), Reason::Dns, "{error:#}");
    }

    #[tokio::test]
    async fn an_elapsed_timeout_is_timeout() {
        let error = tokio::time::timeout(Duration::ZERO, std::future::pending::<()>())
            .await
            .context("waiting for the answer")
            .expect_err("times out");
        assert_eq!(classify(&error), Reason::Timeout, "{error:#}");
    }

    #[test]
    fn a_rustls_error_inside_an_io_error_is_tls() {
        // What tokio-rustls returns when the certificate is rejected.
        let rustls_error =
            rustls::Error::InvalidCertificate(rustls::CertificateError::UnknownIssuer);
        let io_error = io::Error::new(io::ErrorKind::InvalidData, rustls_error);
        let error = anyhow::Error::new(io_error).context("tls handshake");
        assert_eq!(classify(&error), Reason::Tls, "{error:#}");
        let bare = anyhow::Error::new(rustls::Error::HandshakeNotComplete);
        assert_eq!(classify(&bare), Reason::Tls);
    }

    #[test]
    fn redis_auth_errors_are_auth() {
        let failed: redis::RedisError = (
            redis::ErrorKind::AuthenticationFailed,
            "Password authentication failed",
        )
            .into();
        let error = anyhow::Error::new(failed).context("connecting to redis");
        assert_eq!(classify(&error), Reason::Auth, "{error:#}");
    }

    #[tokio::test]
    async fn a_refused_redis_connection_is_refused() {
        let port = closed_port();
        let client = redis::Client::open(format!("redis://127.0.0.1:{port}/")).expect("url");
        let error = client
            .get_multiplexed_async_connection()
            .await
            .map(|_| ())
            .context("connecting to redis")
            .expect_err("nobody listens");
        assert_eq!(classify(&error), Reason::Refused, "{error:#}");
    }

    #[tokio::test]
    async fn a_refused_postgres_connection_is_refused() {
        let port = closed_port();
        use sqlx::Connection;
        let sqlx_error =
            sqlx::PgConnection::connect(&format!("postgres://u:p@127.0.0.1:{port}/db"))
                .await
                .map(|_| ())
                .context("connecting to postgres")
                .expect_err("nobody listens");
        assert_eq!(classify(&sqlx_error), Reason::Refused, "{sqlx_error:#}");
        let config: tokio_postgres::Config = format!("host=127.0.0.1 port={port} user=u")
            .parse()
            .expect("config");
        let tp_error = config
            .connect(tokio_postgres::NoTls)
            .await
            .map(|_| ())
            .context("connecting to pgbouncer")
            .expect_err("nobody listens");
        assert_eq!(classify(&tp_error), Reason::Refused, "{tp_error:#}");
    }

    #[test]
    fn an_unknown_error_is_other() {
        let error = anyhow::anyhow!("something else").context("collecting");
        assert_eq!(classify(&error), Reason::Other);
    }

    #[test]
    fn run_health_follows_the_kind() {
        let error = anyhow::Error::new(io::Error::from(io::ErrorKind::ConnectionRefused));
        let down = |reason| Some(Health::Down { reason });
        for (end, expected) in [
            (RunEnd::Collected, Some(Health::Up)),
            (RunEnd::Failed(&error), down(Reason::Refused)),
            (RunEnd::TimedOut, down(Reason::Timeout)),
            (RunEnd::Panicked, down(Reason::Other)),
        ] {
            assert_eq!(run_health(Kind::Postgres, &end, None), expected, "{end:?}");
            // A probe's health is what the collector reported, or none (no attempt).
            assert_eq!(run_health(Kind::Probe, &end, None), None, "{end:?}");
        }
        let slow = Health::Degraded {
            reason: Reason::Slow,
        };
        assert_eq!(
            run_health(Kind::Probe, &RunEnd::Collected, Some(slow)),
            Some(slow)
        );
        // Other kinds ignore a reported health: the runner decides.
        assert_eq!(
            run_health(Kind::Redis, &RunEnd::TimedOut, Some(Health::Up)),
            down(Reason::Timeout)
        );
    }

    #[test]
    fn attempt_health_table() {
        let ms = Duration::from_millis;
        let down = |reason| Health::Down { reason };
        let slow = Health::Degraded {
            reason: Reason::Slow,
        };
        for (failure, took, limit, expected) in [
            (None, ms(10), None, Health::Up),
            (None, ms(100), Some(ms(100)), Health::Up),
            (None, ms(101), Some(ms(100)), slow),
            (
                Some(Reason::HttpStatus),
                ms(101),
                Some(ms(100)),
                down(Reason::HttpStatus),
            ),
            (Some(Reason::Timeout), ms(1), None, down(Reason::Timeout)),
        ] {
            assert_eq!(attempt_health(failure, took, limit), expected);
        }
    }
}
