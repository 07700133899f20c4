//! Uptime probes (`[[probe]]`): HTTP(S) requests with status, body, JSON and latency
//! conditions, TLS certificate facts, and TCP connects — blackbox_exporter's families, probed
//! on fedimeter's own schedule.
//!
//! Semantics follow blackbox_exporter: a failing attempt is *data*, not a collector error.
//! [`ProbeCollector::collect`] returns `Ok` with `probe_success 0`, so the runner's
//! `fedimeter_collector_success` stays about fedimeter itself. The attempt also sets the
//! snapshot's typed health (`collect::health::attempt_health`): down with the reason class
//! of the failure (refused, timeout, dns, tls, http_status, check_failed, …), degraded when
//! slower than `degraded_after`, else up; every reader uses that, not the families. Unlike the stateless exporter
//! the collector keeps state between attempts: `probe_attempts_total{result}` counts
//! success / degraded / failure, and the certificate expiry stays exported after the
//! certificate has expired or the server went away (the last known value).
//!
//! The attempt enforces the probe's `timeout` itself (then `probe_success 0`); the runner's
//! timeout is set one second later as a safety net only. Every series carries
//! `module="http"|"tcp"` (METRICS.md: labels `target,module` on `/metrics`); the runner's
//! exposition adds `target`.
//!
//! Code map: [`http`] runs an HTTP attempt on fresh connections with phase timings, [`tls`]
//! records the presented certificate chain, [`check`] holds the pure match decisions, and
//! [`discover`] finds the URL of a probe with `discover_url` (then `url` is only the base).
//! The Mastodon preset probes are expanded by the config ([`crate::config::preset`]).

pub mod check;
pub mod discover;
pub mod http;
pub mod tls;

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::anyhow;
use async_trait::async_trait;
use url::Url;

use super::health::{attempt_health, classify};
use super::runner::Job;
use super::{Collector, Sink};
use crate::config::ProbeTarget;
use crate::model::{Health, Kind, MetricDesc, Reason, TargetId};

pub use crate::config::options::{
    DEFAULT_MAX_BODY_BYTES, DEFAULT_MAX_REDIRECTS, DiscoverUrl, ProbeOptions,
};

const M: &[&str] = &["module"];

pub static PROBE_SUCCESS: MetricDesc = MetricDesc::gauge(
    "probe_success",
    "Displays whether or not the probe was a success",
    M,
);
pub static PROBE_DURATION: MetricDesc = MetricDesc::gauge(
    "probe_duration_seconds",
    "Returns how long the probe took to complete in seconds",
    M,
);
pub static PROBE_DEGRADED: MetricDesc = MetricDesc::gauge(
    "probe_degraded",
    "Whether the probe succeeded but took longer than its degraded_after threshold",
    M,
);
pub static PROBE_ATTEMPTS: MetricDesc = MetricDesc::counter(
    "probe_attempts_total",
    "Probe attempts by result (success, degraded, failure)",
    &["target", "module", "result"],
);
pub static PROBE_DNS_LOOKUP: MetricDesc = MetricDesc::gauge(
    "probe_dns_lookup_time_seconds",
    "Returns the time taken for probe dns lookup in seconds",
    M,
);
pub static PROBE_IP_PROTOCOL: MetricDesc = MetricDesc::gauge(
    "probe_ip_protocol",
    "Specifies whether probe ip protocol is IP4 or IP6",
    M,
);
pub static PROBE_HTTP_DURATION: MetricDesc = MetricDesc::gauge(
    "probe_http_duration_seconds",
    "Duration of http request by phase, summed over all redirects",
    &["phase", "module"],
);
pub static PROBE_HTTP_STATUS: MetricDesc =
    MetricDesc::gauge("probe_http_status_code", "Response HTTP status code", M);
pub static PROBE_HTTP_VERSION: MetricDesc = MetricDesc::gauge(
    "probe_http_version",
    "Returns the version of HTTP of the probe response",
    M,
);
pub static PROBE_HTTP_SSL: MetricDesc = MetricDesc::gauge(
    "probe_http_ssl",
    "Indicates if SSL was used for the final redirect",
    M,
);
pub static PROBE_HTTP_REDIRECTS: MetricDesc =
    MetricDesc::gauge("probe_http_redirects", "The number of redirects", M);
pub static PROBE_HTTP_CONTENT_LENGTH: MetricDesc = MetricDesc::gauge(
    "probe_http_content_length",
    "Length of http content response",
    M,
);
pub static PROBE_HTTP_BODY_LENGTH: MetricDesc = MetricDesc::gauge(
    "probe_http_uncompressed_body_length",
    "Length of uncompressed response body",
    M,
);
pub static PROBE_SSL_EARLIEST_EXPIRY: MetricDesc = MetricDesc::gauge(
    "probe_ssl_earliest_cert_expiry",
    "Returns last SSL chain expiry in unixtime",
    M,
);
pub static PROBE_SSL_LAST_CHAIN_EXPIRY: MetricDesc = MetricDesc::gauge(
    "probe_ssl_last_chain_expiry_timestamp_seconds",
    "Returns last SSL chain expiry in timestamp",
    M,
);
pub static PROBE_SSL_NOT_BEFORE: MetricDesc = MetricDesc::gauge(
    "probe_ssl_cert_not_before_timestamp_seconds",
    "NotBefore of the leaf certificate in unixtime",
    M,
);
pub static PROBE_TLS_VERSION: MetricDesc = MetricDesc::gauge(
    "probe_tls_version_info",
    "Returns the TLS version used or NaN when unknown",
    &["version", "module"],
);

/// Every family this module can export, in declaration order (`crate::metrics`
/// collects them; `tests/docs_tables.rs` checks them against the docs).
pub static DESCRIPTORS: &[&MetricDesc] = &[
    &PROBE_SUCCESS,
    &PROBE_DURATION,
    &PROBE_DEGRADED,
    &PROBE_ATTEMPTS,
    &PROBE_DNS_LOOKUP,
    &PROBE_IP_PROTOCOL,
    &PROBE_HTTP_DURATION,
    &PROBE_HTTP_STATUS,
    &PROBE_HTTP_VERSION,
    &PROBE_HTTP_SSL,
    &PROBE_HTTP_REDIRECTS,
    &PROBE_HTTP_CONTENT_LENGTH,
    &PROBE_HTTP_BODY_LENGTH,
    &PROBE_SSL_EARLIEST_EXPIRY,
    &PROBE_SSL_LAST_CHAIN_EXPIRY,
    &PROBE_SSL_NOT_BEFORE,
    &PROBE_TLS_VERSION,
];

/// What a probe attempt checks, derived from the URL scheme.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Module {
    Http,
    Tcp,
}

impl Module {
    pub fn name(self) -> &'static str {
        match self {
            Module::Http => "http",
            Module::Tcp => "tcp",
        }
    }

    /// `http`/`https` → HTTP, `tcp` → TCP connect.
    pub fn from_url(url: &Url) -> Option<Module> {
        match url.scheme() {
            "http" | "https" => Some(Module::Http),
            "tcp" => Some(Module::Tcp),
            _ => None,
        }
    }
}

/// How one attempt ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AttemptResult {
    Success,
    Degraded,
    Failure,
}

impl AttemptResult {
    const ALL: [AttemptResult; 3] = [
        AttemptResult::Success,
        AttemptResult::Degraded,
        AttemptResult::Failure,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AttemptResult::Success => "success",
            AttemptResult::Degraded => "degraded",
            AttemptResult::Failure => "failure",
        }
    }

    /// The counter bucket of an attempt's health.
    pub fn of(health: Health) -> Self {
        match health {
            Health::Up => AttemptResult::Success,
            Health::Degraded { .. } => AttemptResult::Degraded,
            Health::Down { .. } => AttemptResult::Failure,
        }
    }
}

/// The runner job of one probe. The runner's timeout is the probe's timeout plus one second:
/// the probe ends its own attempt at `timeout` and reports `probe_success 0`.
pub fn job(target: &ProbeTarget) -> Job {
    Job {
        id: TargetId::new(Kind::Probe, &target.common.name),
        interval: target.common.interval,
        timeout: target.common.timeout + RUNNER_GRACE,
        collector: Box::new(ProbeCollector::new(target)),
    }
}

/// How much longer the runner waits than the probe's own timeout.
pub const RUNNER_GRACE: Duration = Duration::from_secs(1);

/// The collector of one probe; keeps counters and the last known certificate facts.
pub struct ProbeCollector {
    name: String,
    url: Result<Url, String>,
    options: ProbeOptions,
    timeout: Duration,
    tls: Option<tls::TlsSetup>,
    attempts: [u64; 3],
    /// The chain of the last handshake that showed one (verified or not).
    last_chain: Option<tls::PeerChain>,
    /// Earliest expiry of the last chain that passed verification.
    last_verified_expiry: Option<i64>,
    /// The URL found through `discover_url`, if the probe has one.
    discovery: discover::Discovery,
}

impl ProbeCollector {
    pub fn new(target: &ProbeTarget) -> Self {
        let url = Url::parse(&target.url).map_err(|e| format!("invalid probe url: {e}"));
        ProbeCollector {
            name: target.common.name.clone(),
            url,
            options: target.options.clone(),
            timeout: target.common.timeout,
            tls: None,
            attempts: [0; 3],
            last_chain: None,
            last_verified_expiry: None,
            discovery: discover::Discovery::default(),
        }
    }

    fn count(&mut self, result: AttemptResult) {
        let i = AttemptResult::ALL
            .iter()
            .position(|r| *r == result)
            .unwrap_or(2);
        self.attempts[i] += 1;
    }

    fn record_common(
        &self,
        sink: &mut Sink,
        module: Module,
        result: AttemptResult,
        took: Duration,
    ) {
        let m = [module.name()];
        sink.sample(
            &PROBE_SUCCESS,
            m,
            if result == AttemptResult::Failure {
                0.0
            } else {
                1.0
            },
        );
        sink.sample(&PROBE_DURATION, m, took.as_secs_f64());
        sink.sample(
            &PROBE_DEGRADED,
            m,
            if result == AttemptResult::Degraded {
                1.0
            } else {
                0.0
            },
        );
        for (r, n) in AttemptResult::ALL.iter().zip(self.attempts) {
            sink.sample(
                &PROBE_ATTEMPTS,
                [self.name.as_str(), module.name(), r.as_str()],
                n as f64,
            );
        }
    }

    async fn collect_http(&mut self, url: Url, sink: &mut Sink) -> anyhow::Result<()> {
        if self.tls.is_none() {
            // Reads the system roots (once per process) and the CA file: blocking I/O.
            let ca_file = self.options.ca_file.clone();
            let insecure = self.options.insecure_skip_verify;
            let setup = tokio::task::spawn_blocking(move || {
                tls::TlsSetup::new(ca_file.as_deref(), insecure)
            })
            .await
            .unwrap_or_else(|e| Err(anyhow!("loading trust roots: {e}")));
            match setup {
                Ok(setup) => self.tls = Some(setup),
                Err(error) => {
                    self.count(AttemptResult::Failure);
                    self.record_common(sink, Module::Http, AttemptResult::Failure, Duration::ZERO);
                    sink.set_health(Health::Down {
                        reason: Reason::Tls,
                    });
                    return Err(error);
                }
            }
        }
        let Some(tls) = &self.tls else {
            return Err(anyhow!("tls setup missing"));
        };
        let options = &self.options;
        let discovery = &mut self.discovery;
        let started = Instant::now();
        let mut observation = http::Observation::default();
        // Discovering the URL (when configured) and fetching it share the probe's timeout.
        let outcome = tokio::time::timeout(self.timeout, async {
            let url = match &options.discover_url {
                Some(discover) => discovery.current(&url, discover, options, tls).await?,
                None => url,
            };
            let url = if options.cache_bust {
                let token = SystemTime::now()
                    .duration_since(UNIX_EPOCH)
                    .map_or(0, |d| d.as_nanos());
                check::cache_busted(&url, token)
            } else {
                url
            };
            http::attempt(&url, options, tls, &mut observation)
                .await
                .map_err(|error| (classify(&error), format!("{error:#}")))
        })
        .await;
        let took = started.elapsed();
        if options.discover_url.is_some() {
            self.discovery.fetched(observation.status);
        }
        let verdict = match outcome {
            Err(_) => Err((
                Reason::Timeout,
                format!(
                    "timed out after {}",
                    humantime::format_duration(self.timeout)
                ),
            )),
            Ok(Err(failure)) => Err(failure),
            Ok(Ok(())) => {
                if !check::status_matches(&self.options.expect_status, observation.status) {
                    Err((
                        Reason::HttpStatus,
                        format!("unexpected status {}", observation.status),
                    ))
                } else {
                    check::check_body(&self.options, &observation.body)
                        .map_err(|e| (Reason::CheckFailed, e))
                }
            }
        };
        if let Err((reason, message)) = &verdict {
            tracing::debug!(target: "fedimeter::probe", probe = %self.name, %reason, "probe attempt failed: {message}");
        }
        let failure = verdict.err().map(|(reason, _)| reason);
        let health = attempt_health(failure, took, self.options.degraded_after);
        sink.set_health(health);
        let result = AttemptResult::of(health);
        self.count(result);
        if let Some(chain) = observation.chain.take() {
            if chain.verified {
                self.last_verified_expiry = chain.earliest_not_after();
            }
            self.last_chain = Some(chain);
        }
        self.record_common(sink, Module::Http, result, took);
        let m = [Module::Http.name()];
        sink.sample(
            &PROBE_DNS_LOOKUP,
            m,
            observation.dns_lookup.unwrap_or_default().as_secs_f64(),
        );
        sink.sample(
            &PROBE_IP_PROTOCOL,
            m,
            f64::from(observation.ip_protocol.unwrap_or(0)),
        );
        let p = observation.phases;
        for (phase, d) in [
            ("resolve", p.resolve),
            ("connect", p.connect),
            ("tls", p.tls),
            ("processing", p.processing),
            ("transfer", p.transfer),
        ] {
            sink.sample(&PROBE_HTTP_DURATION, [phase, "http"], d.as_secs_f64());
        }
        sink.sample(&PROBE_HTTP_STATUS, m, f64::from(observation.status));
        let version = match observation.http_version {
            Some(::http::Version::HTTP_09) => 0.9,
            Some(::http::Version::HTTP_10) => 1.0,
            Some(::http::Version::HTTP_11) => 1.1,
            Some(::http::Version::HTTP_2) => 2.0,
            Some(::http::Version::HTTP_3) => 3.0,
            _ => 0.0,
        };
        sink.sample(&PROBE_HTTP_VERSION, m, version);
        sink.sample(&PROBE_HTTP_SSL, m, if observation.ssl { 1.0 } else { 0.0 });
        sink.sample(&PROBE_HTTP_REDIRECTS, m, f64::from(observation.redirects));
        sink.sample(
            &PROBE_HTTP_CONTENT_LENGTH,
            m,
            observation.content_length.unwrap_or(0) as f64,
        );
        sink.sample(&PROBE_HTTP_BODY_LENGTH, m, observation.body_length as f64);
        if let Some(chain) = &self.last_chain {
            if let Some(expiry) = chain.earliest_not_after() {
                sink.sample(&PROBE_SSL_EARLIEST_EXPIRY, m, expiry as f64);
            }
            if let Some(not_before) = chain.leaf_not_before() {
                sink.sample(&PROBE_SSL_NOT_BEFORE, m, not_before as f64);
            }
        }
        if let Some(expiry) = self.last_verified_expiry {
            sink.sample(&PROBE_SSL_LAST_CHAIN_EXPIRY, m, expiry as f64);
        }
        if let Some(version) = observation.tls_version {
            sink.sample(&PROBE_TLS_VERSION, [version, "http"], 1.0);
        }
        Ok(())
    }

    async fn collect_tcp(&mut self, url: Url, sink: &mut Sink) -> anyhow::Result<()> {
        let started = Instant::now();
        let mut dns = None;
        let outcome = tokio::time::timeout(self.timeout, tcp_connect(&url, &mut dns)).await;
        let took = started.elapsed();
        let failure = match outcome {
            Ok(Ok(())) => None,
            Ok(Err(error)) => {
                let reason = classify(&error);
                tracing::debug!(target: "fedimeter::probe", probe = %self.name, %reason, "probe attempt failed: {error:#}");
                Some(reason)
            }
            Err(_) => {
                tracing::debug!(target: "fedimeter::probe", probe = %self.name, "probe attempt timed out");
                Some(Reason::Timeout)
            }
        };
        let health = attempt_health(failure, took, self.options.degraded_after);
        sink.set_health(health);
        let result = AttemptResult::of(health);
        self.count(result);
        self.record_common(sink, Module::Tcp, result, took);
        let (lookup, protocol) = dns.unwrap_or((Duration::ZERO, 0));
        sink.sample(&PROBE_DNS_LOOKUP, ["tcp"], lookup.as_secs_f64());
        sink.sample(&PROBE_IP_PROTOCOL, ["tcp"], f64::from(protocol));
        Ok(())
    }
}

/// Resolves and connects; `dns` gets the lookup time and address family once known.
async fn tcp_connect(url: &Url, dns: &mut Option<(Duration, u8)>) -> anyhow::Result<()> {
    use anyhow::Context;
    let host = url.host_str().ok_or_else(|| anyhow!("url has no host"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = url.port().ok_or_else(|| anyhow!("tcp url has no port"))?;
    let started = Instant::now();
    let address = tokio::net::lookup_host((host, port))
        .await
        .with_context(|| format!("resolving {host}"))?
        .next()
        .ok_or_else(|| anyhow!("resolving {host}: no address"))?;
    *dns = Some((started.elapsed(), if address.is_ipv4() { 4 } else { 6 }));
    tokio::net::TcpStream::connect(address)
        .await
        .with_context(|| format!("connecting to {address}"))?;
    Ok(())
}

#[async_trait]
impl Collector for ProbeCollector {
    async fn collect(&mut self, sink: &mut Sink) -> anyhow::Result<()> {
        let url = match &self.url {
            Ok(url) => url.clone(),
            Err(error) => return Err(anyhow!("{error}")),
        };
        match Module::from_url(&url) {
            Some(Module::Http) => self.collect_http(url, sink).await,
            Some(Module::Tcp) => self.collect_tcp(url, sink).await,
            None => Err(anyhow!("unsupported probe url scheme {}", url.scheme())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_from_scheme() {
        for (url, expect) in [
            ("https://a.test/health", Some(Module::Http)),
            ("http://a.test/", Some(Module::Http)),
            ("tcp://db.test:5432", Some(Module::Tcp)),
            ("ftp://a.test/", None),
        ] {
            let url = Url::parse(url).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(Module::from_url(&url), expect);
        }
    }
}
