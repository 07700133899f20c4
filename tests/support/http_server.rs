//! A local HTTP and HTTPS server for probe tests, steerable at runtime.
//!
//! Each path answers with a [`Reply`] that the test sets (and changes) while the server runs:
//! a status and body, a delay, a redirect, or a hang (the request is read, no answer ever
//! comes). Requests are recorded (method, path, headers) so a test can check what a probe
//! sent. [`TestServer::stop`] closes the listener and every open connection;
//! [`TestServer::start_again`] listens on the same port again.
//!
//! TLS certificates come from [`TestCa`]: a CA generated with rcgen in the test (its PEM
//! written to a temp file, for the probe's `ca_file`) that signs leaf certificates for
//! `localhost` and `127.0.0.1` with any validity, including already expired ones.
//!
//! Include it with `#[path = "support/http_server.rs"] mod http_server;` (or as
//! `pub mod http_server;` from `support/mod.rs`). It does not depend on the fedimeter library.
#![allow(dead_code)]

use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::{Bytes, Incoming};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::net::{TcpListener, TcpSocket};
use tokio::task::{JoinHandle, JoinSet};

/// How a path answers.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Never answer.
    pub hang: bool,
}

impl Reply {
    pub fn ok(body: &str) -> Self {
        Reply::status(200, body)
    }

    pub fn status(status: u16, body: &str) -> Self {
        Reply {
            status,
            body: body.to_string(),
            headers: Vec::new(),
            delay: Duration::ZERO,
            hang: false,
        }
    }

    pub fn json(body: &str) -> Self {
        Reply::ok(body).header("content-type", "application/json")
    }

    pub fn redirect(status: u16, location: &str) -> Self {
        Reply::status(status, "").header("location", location)
    }

    pub fn hang() -> Self {
        Reply {
            hang: true,
            ..Reply::ok("")
        }
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }
}

/// One request the server received.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub method: String,
    /// Path and query.
    pub target: String,
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Default)]
struct State {
    routes: Mutex<HashMap<String, Reply>>,
    requests: Mutex<Vec<RecordedRequest>>,
}

/// A running test server on 127.0.0.1.
pub struct TestServer {
    addr: SocketAddr,
    state: Arc<State>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    task: Mutex<Option<JoinHandle<()>>>,
}

impl TestServer {
    /// A plain HTTP server on a free port. Unknown paths answer 404.
    pub async fn http() -> Self {
        Self::start(None).await
    }

    /// An HTTPS server presenting `leaf`.
    pub async fn https(leaf: &LeafCert) -> Self {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("tls versions")
            .with_no_client_auth()
            .with_single_cert(
                vec![leaf.cert_der.clone()],
                PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key_der.clone())),
            )
            .expect("server certificate");
        Self::start(Some(tokio_rustls::TlsAcceptor::from(Arc::new(config)))).await
    }

    async fn start(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = listen(SocketAddr::from(([127, 0, 0, 1], 0)));
        let addr = listener.local_addr().expect("local addr");
        let server = TestServer {
            addr,
            state: Arc::new(State::default()),
            tls,
            task: Mutex::new(None),
        };
        server.spawn(listener);
        server
    }

    fn spawn(&self, listener: TcpListener) {
        let task = tokio::spawn(serve(listener, self.state.clone(), self.tls.clone()));
        *self.task.lock().unwrap() = Some(task);
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `http(s)://127.0.0.1:<port><path>`.
    pub fn url(&self, path: &str) -> String {
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        format!("{scheme}://{}{path}", self.addr)
    }

    /// Makes `path` (without query) answer with `reply` from now on.
    pub fn set(&self, path: &str, reply: Reply) {
        self.state
            .routes
            .lock()
            .unwrap()
            .insert(path.to_string(), reply);
    }

    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn last_request(&self) -> Option<RecordedRequest> {
        self.state.requests.lock().unwrap().last().cloned()
    }

    /// Closes the listener and every open connection; connects are refused afterwards.
    pub async fn stop(&self) {
        let task = self.task.lock().unwrap().take();
        if let Some(task) = task {
            task.abort();
            let _ = task.await;
        }
    }

    /// Listens again on the same port, with the same routes.
    pub async fn start_again(&self) {
        self.stop().await;
        let listener = listen(self.addr);
        self.spawn(listener);
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(task) = self.task.lock().unwrap().take() {
            task.abort();
        }
    }
}

fn listen(addr: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_reuseaddr(true).expect("SO_REUSEADDR");
    socket
        .bind(addr)
        .unwrap_or_else(|e| panic!("binding {addr}: {e}"));
    socket.listen(1024).expect("listen")
}

async fn serve(listener: TcpListener, state: Arc<State>, tls: Option<tokio_rustls::TlsAcceptor>) {
    // Dropping this set (when the task is aborted) aborts every connection.
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let state = state.clone();
        let tls = tls.clone();
        connections.spawn(async move {
            let service = service_fn(move |request| handle(state.clone(), request));
            let builder = hyper::server::conn::http1::Builder::new();
            match tls {
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let _ = builder
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    }
                }
                None => {
                    let _ = builder
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                }
            }
        });
        while connections.try_join_next().is_some() {}
    }
}

async fn handle(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let target = request
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_string(), |p| p.to_string());
    state.requests.lock().unwrap().push(RecordedRequest {
        method: request.method().to_string(),
        target: target.clone(),
        headers: request
            .headers()
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_str().unwrap_or("").to_string()))
            .collect(),
    });
    let reply = state
        .routes
        .lock()
        .unwrap()
        .get(request.uri().path())
        .cloned()
        .unwrap_or_else(|| Reply::status(404, "not found"));
    if reply.hang {
        std::future::pending::<()>().await;
    }
    if !reply.delay.is_zero() {
        tokio::time::sleep(reply.delay).await;
    }
    let mut response = Response::builder().status(reply.status);
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    Ok(response
        .body(Full::new(Bytes::from(reply.body)))
        .expect("response"))
}

/// A test certificate authority; its certificate is in [`TestCa::ca_file`].
pub struct TestCa {
    issuer: rcgen::Issuer<'static, rcgen::KeyPair>,
    pub cert_pem: String,
    pub ca_file: PathBuf,
    _dir: tempfile::TempDir,
}

/// A leaf certificate signed by a [`TestCa`], and its key.
pub struct LeafCert {
    pub cert_der: CertificateDer<'static>,
    pub key_der: Vec<u8>,
}

/// 2020-01-01T00:00:00Z.
pub const NOT_BEFORE_2020: i64 = 1_577_836_800;
/// 2021-01-01T00:00:00Z: the NotAfter of an expired leaf.
pub const EXPIRED_2021: i64 = 1_609_459_200;
/// 2040-01-01T00:00:00Z: the NotAfter of a valid leaf.
pub const VALID_UNTIL_2040: i64 = 2_208_988_800;

fn date(unix: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(unix).expect("date")
}

impl TestCa {
    pub fn new() -> Self {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("ca params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "fedimeter test CA");
        params.key_usages = vec![
            rcgen::KeyUsagePurpose::KeyCertSign,
            rcgen::KeyUsagePurpose::CrlSign,
        ];
        params.not_before = date(NOT_BEFORE_2020);
        params.not_after = date(VALID_UNTIL_2040 + 86_400);
        let key = rcgen::KeyPair::generate().expect("ca key");
        let cert = params.self_signed(&key).expect("ca cert");
        let cert_pem = cert.pem();
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_file = dir.path().join("ca.pem");
        std::fs::write(&ca_file, &cert_pem).expect("writing ca.pem");
        TestCa {
            issuer: rcgen::Issuer::new(params, key),
            cert_pem,
            ca_file,
            _dir: dir,
        }
    }

    /// A leaf for `localhost` and `127.0.0.1`, valid from `not_before` to `not_after`
    /// (Unix seconds).
    pub fn leaf(&self, not_before: i64, not_after: i64) -> LeafCert {
        let mut params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("leaf params");
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "localhost");
        params.not_before = date(not_before);
        params.not_after = date(not_after);
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf cert");
        LeafCert {
            cert_der: cert.der().clone(),
            key_der: key.serialize_der(),
        }
    }
}
