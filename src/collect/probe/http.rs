//! One HTTP(S) probe attempt on fresh connections, timed phase by phase.
//!
//! Why not reqwest: it neither exposes phase timings nor the peer's certificate chain when
//! verification fails, and its pool would reuse a connection that hides a dead listener.
//! Here every hop of an attempt resolves, connects and (for https) handshakes anew, as
//! blackbox_exporter does, so each phase is measured for real: `resolve` (getaddrinfo),
//! `connect` (TCP), `tls` (full handshake, no resumption), `processing` (request written
//! until the response head arrived) and `transfer` (reading the body). Phases are summed over
//! redirects. A phase that did not complete (refused, timed out) adds nothing.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use http::header::{ACCEPT, CONNECTION, CONTENT_LENGTH, HOST, HeaderValue, LOCATION, USER_AGENT};
use http::{Method, Request, Version};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use url::{Host, Url};

use super::ProbeOptions;
use super::check;
use super::tls::{PeerChain, TlsSetup, version_name};

/// Durations of the phases of an attempt, summed over redirects.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Phases {
    pub resolve: Duration,
    pub connect: Duration,
    pub tls: Duration,
    pub processing: Duration,
    pub transfer: Duration,
}

/// Everything an attempt observed, filled in as it goes (so a timed-out attempt still
/// shows how far it got).
#[derive(Debug, Default)]
pub struct Observation {
    pub phases: Phases,
    /// Duration of the first name resolution.
    pub dns_lookup: Option<Duration>,
    /// 4 or 6: the address family of the first connection.
    pub ip_protocol: Option<u8>,
    /// Status of the last response (0: none).
    pub status: u16,
    pub http_version: Option<Version>,
    /// `Content-Length` of the last response (-1: not announced).
    pub content_length: Option<i64>,
    /// Bytes of the last response body as read.
    pub body_length: u64,
    pub redirects: u32,
    /// Whether the last request went over TLS.
    pub ssl: bool,
    /// TLS version of the last completed handshake of this attempt.
    pub tls_version: Option<&'static str>,
    /// The chain presented in the last handshake that got that far (verified or not).
    pub chain: Option<PeerChain>,
    /// The last response body, for the body checks.
    pub body: Bytes,
}

/// Runs the request of `options` against `url`, following redirects as configured. `Ok`
/// means a final response was read; whether it is the expected one is decided by the caller.
pub async fn attempt(
    url: &Url,
    options: &ProbeOptions,
    tls: &TlsSetup,
    observation: &mut Observation,
) -> anyhow::Result<()> {
    let mut url = url.clone();
    let mut method = options.method.clone();
    let mut send_body = true;
    loop {
        let (head, body) = hop(&url, &method, send_body, options, tls, observation).await?;
        let status = head.status.as_u16();
        observation.status = status;
        observation.http_version = Some(head.version);
        observation.content_length = Some(
            head.headers
                .get(CONTENT_LENGTH)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<i64>().ok())
                .unwrap_or(-1),
        );
        observation.body_length = body.len() as u64;
        observation.ssl = url.scheme() == "https";
        let location = head.headers.get(LOCATION).and_then(|v| v.to_str().ok());
        if let (true, true, Some(location)) = (
            options.follow_redirects,
            check::is_redirect(status),
            location,
        ) {
            if observation.redirects >= options.max_redirects {
                anyhow::bail!("more than {} redirects", options.max_redirects);
            }
            url = check::redirect_target(&url, location)
                .ok_or_else(|| anyhow!("redirect to an unsupported location"))?;
            let (next_method, keep_body) = check::redirect_method(status, &method);
            method = next_method;
            send_body = send_body && keep_body;
            observation.redirects += 1;
            continue;
        }
        observation.body = body;
        return Ok(());
    }
}

/// One request on one new connection.
async fn hop(
    url: &Url,
    method: &Method,
    send_body: bool,
    options: &ProbeOptions,
    tls: &TlsSetup,
    observation: &mut Observation,
) -> anyhow::Result<(http::response::Parts, Bytes)> {
    let host = url.host().ok_or_else(|| anyhow!("url has no host"))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| anyhow!("url has no port"))?;
    let started = Instant::now();
    let address = match options.connect_to {
        Some(address) => address,
        None => resolve(&host, port).await?,
    };
    let took = started.elapsed();
    observation.phases.resolve += took;
    if observation.dns_lookup.is_none() {
        observation.dns_lookup = Some(took);
        observation.ip_protocol = Some(if address.is_ipv4() { 4 } else { 6 });
    }

    let started = Instant::now();
    let tcp = TcpStream::connect(address)
        .await
        .with_context(|| format!("connecting to {address}"))?;
    observation.phases.connect += started.elapsed();
    tcp.set_nodelay(true).context("setting TCP_NODELAY")?;

    let request = build_request(url, method, send_body, options)?;
    let limit = options.max_body_bytes;
    match url.scheme() {
        "https" => {
            let server_name = match host {
                Host::Domain(d) => ServerName::try_from(d.to_string())
                    .map_err(|_| anyhow!("invalid tls server name"))?,
                Host::Ipv4(ip) => ServerName::from(std::net::IpAddr::V4(ip)),
                Host::Ipv6(ip) => ServerName::from(std::net::IpAddr::V6(ip)),
            };
            let (config, verifier) = tls.attempt_config()?;
            let started = Instant::now();
            let handshake = tokio_rustls::TlsConnector::from(config)
                .connect(server_name, tcp)
                .await;
            observation.phases.tls += started.elapsed();
            if let Some(chain) = verifier.take_chain() {
                observation.chain = Some(chain);
            }
            let stream = handshake.context("tls handshake")?;
            observation.tls_version = stream.get_ref().1.protocol_version().map(version_name);
            exchange(stream, request, limit, observation).await
        }
        "http" => exchange(tcp, request, limit, observation).await,
        other => anyhow::bail!("unsupported url scheme {other}"),
    }
}

async fn resolve(host: &Host<&str>, port: u16) -> anyhow::Result<SocketAddr> {
    match host {
        Host::Ipv4(ip) => Ok(SocketAddr::from((*ip, port))),
        Host::Ipv6(ip) => Ok(SocketAddr::from((*ip, port))),
        Host::Domain(name) => tokio::net::lookup_host((*name, port))
            .await
            .with_context(|| format!("resolving {name}"))?
            .next()
            .ok_or_else(|| anyhow!("resolving {name}: no address")),
    }
}

fn build_request(
    url: &Url,
    method: &Method,
    send_body: bool,
    options: &ProbeOptions,
) -> anyhow::Result<Request<Full<Bytes>>> {
    let target = match url.query() {
        Some(query) => format!("{}?{query}", url.path()),
        None => url.path().to_string(),
    };
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_string(),
    };
    let body = match (&options.body, send_body) {
        (Some(body), true) => Bytes::from(body.clone()),
        _ => Bytes::new(),
    };
    let mut request = Request::builder()
        .method(method.clone())
        .uri(target)
        .body(Full::new(body))
        .context("building the request")?;
    let headers = request.headers_mut();
    headers.insert(
        HOST,
        HeaderValue::from_str(&host).context("invalid host header")?,
    );
    headers.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));
    headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
    // One request per connection: the next attempt measures a new connection anyway.
    headers.insert(CONNECTION, HeaderValue::from_static("close"));
    for (name, value) in &options.headers {
        let name = http::header::HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| anyhow!("invalid header name {name}"))?;
        // The error of `from_str` does not contain the value: header values are secrets.
        let mut value = HeaderValue::from_str(value.expose())
            .map_err(|_| anyhow!("invalid value for header {name}"))?;
        value.set_sensitive(true);
        headers.insert(name, value);
    }
    Ok(request)
}

const USER_AGENT_VALUE: &str = concat!("fedimeter/", env!("CARGO_PKG_VERSION"));

/// Aborts the connection task when the attempt ends (or is cancelled at its timeout).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

async fn exchange<IO>(
    io: IO,
    request: Request<Full<Bytes>>,
    limit: usize,
    observation: &mut Observation,
) -> anyhow::Result<(http::response::Parts, Bytes)>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .context("starting the http connection")?;
    let _connection = AbortOnDrop(tokio::spawn(async move {
        let _ = connection.await;
    }));
    let started = Instant::now();
    let response = sender.send_request(request).await;
    observation.phases.processing += started.elapsed();
    let (head, body) = response.context("waiting for the response")?.into_parts();
    let started = Instant::now();
    let collected = Limited::new(body, limit).collect().await;
    observation.phases.transfer += started.elapsed();
    let body = collected
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                anyhow!("body larger than max_body_bytes ({limit})")
            } else {
                anyhow!("reading the body: {e}")
            }
        })?
        .to_bytes();
    Ok((head, body))
}
