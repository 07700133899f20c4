//! TLS for probes: a certificate verifier that records the peer's chain before judging it,
//! the shared trust roots, and the certificate facts the probe exports.
//!
//! Every probe attempt does a full handshake on a fresh connection (no session resumption,
//! no pooled connection), so a dead or misconfigured server is never hidden by an old
//! connection. The verifier of that handshake ([`CapturingVerifier`]) keeps a copy of the
//! presented chain and then delegates to rustls' WebPKI verifier: an expired or untrusted
//! certificate fails the handshake (→ `probe_success 0`), yet its expiry is still known —
//! without a second, unverified connection.
//!
//! Trust roots are the system store (`rustls-native-certs`, loaded once per process) plus an
//! optional PEM file of extra CAs per probe (`ca_file`); verifiers are cached per CA file,
//! so 1,000 probes share one root store.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Context;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

/// Validity of one certificate, as Unix seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CertValidity {
    pub not_before: i64,
    pub not_after: i64,
}

/// What one handshake showed of the server's certificates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerChain {
    /// The presented chain, leaf first (certificates that do not parse are left out).
    pub certs: Vec<CertValidity>,
    /// Whether the chain passed verification (always false when verification is off).
    pub verified: bool,
}

impl PeerChain {
    /// Earliest `NotAfter` among the presented certificates (blackbox_exporter's
    /// `probe_ssl_earliest_cert_expiry`).
    pub fn earliest_not_after(&self) -> Option<i64> {
        self.certs.iter().map(|c| c.not_after).min()
    }

    /// The leaf's `NotBefore`.
    pub fn leaf_not_before(&self) -> Option<i64> {
        self.certs.first().map(|c| c.not_before)
    }
}

/// Reads `NotBefore`/`NotAfter` from a DER certificate.
pub fn cert_validity(der: &[u8]) -> Option<CertValidity> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let validity = cert.validity();
    Some(CertValidity {
        not_before: validity.not_before.timestamp(),
        not_after: validity.not_after.timestamp(),
    })
}

/// The TLS settings of one probe, built once and reused for every attempt.
#[derive(Debug, Clone)]
pub struct TlsSetup {
    provider: Arc<CryptoProvider>,
    /// `None`: verification is off (`insecure_skip_verify`).
    verifier: Option<Arc<WebPkiServerVerifier>>,
}

impl TlsSetup {
    /// Verification against the system roots plus `ca_file`, or none at all when `insecure`.
    pub fn new(ca_file: Option<&Path>, insecure: bool) -> anyhow::Result<Self> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let verifier = if insecure {
            None
        } else {
            Some(shared_verifier(ca_file, &provider)?)
        };
        Ok(TlsSetup { provider, verifier })
    }

    /// A client config for one attempt, with a fresh capturing verifier, and that verifier.
    /// Only HTTP/1.1 is offered in ALPN.
    pub fn attempt_config(&self) -> anyhow::Result<(Arc<ClientConfig>, Arc<CapturingVerifier>)> {
        let capturing = Arc::new(CapturingVerifier {
            provider: self.provider.clone(),
            inner: self.verifier.clone(),
            seen: Mutex::new(None),
        });
        let mut config = ClientConfig::builder_with_provider(self.provider.clone())
            .with_safe_default_protocol_versions()
            .context("building the tls client config")?
            .dangerous()
            .with_custom_certificate_verifier(capturing.clone())
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        config.resumption = rustls::client::Resumption::disabled();
        Ok((Arc::new(config), capturing))
    }
}

/// One verifier per CA file (and one for "system roots only"), shared by all probes.
fn shared_verifier(
    ca_file: Option<&Path>,
    provider: &Arc<CryptoProvider>,
) -> anyhow::Result<Arc<WebPkiServerVerifier>> {
    static CACHE: OnceLock<Mutex<HashMap<Option<PathBuf>, Arc<WebPkiServerVerifier>>>> =
        OnceLock::new();
    let cache = CACHE.get_or_init(|| Mutex::new(HashMap::new()));
    let key = ca_file.map(Path::to_path_buf);
    if let Some(v) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&key) {
        return Ok(v.clone());
    }
    let mut roots = RootCertStore::empty();
    roots.extend(native_roots().roots.iter().cloned());
    if let Some(path) = ca_file {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(path)
            .with_context(|| format!("reading ca_file {}", path.display()))?
            .collect::<Result<_, _>>()
            .with_context(|| format!("parsing ca_file {}", path.display()))?;
        if certs.is_empty() {
            anyhow::bail!("ca_file {} holds no certificate", path.display());
        }
        for cert in certs {
            roots
                .add(cert)
                .with_context(|| format!("adding a certificate of {}", path.display()))?;
        }
    }
    if roots.is_empty() {
        anyhow::bail!(
            "no trusted root certificates: the system store is empty and no ca_file is set"
        );
    }
    let verifier = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .context("building the certificate verifier")?;
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(key, verifier.clone());
    Ok(verifier)
}

/// The system's trusted roots, loaded once per process.
fn native_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let loaded = rustls_native_certs::load_native_certs();
        for error in &loaded.errors {
            tracing::warn!(target: "fedimeter::probe", "loading system root certificates: {error}");
        }
        let mut roots = RootCertStore::empty();
        let (_added, _ignored) = roots.add_parsable_certificates(loaded.certs);
        roots
    })
}

/// A verifier that records the presented chain, then lets the real verifier judge it.
#[derive(Debug)]
pub struct CapturingVerifier {
    provider: Arc<CryptoProvider>,
    inner: Option<Arc<WebPkiServerVerifier>>,
    seen: Mutex<Option<PeerChain>>,
}

impl CapturingVerifier {
    /// The chain the server presented in this attempt's handshake, if it got that far.
    pub fn take_chain(&self) -> Option<PeerChain> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

impl ServerCertVerifier for CapturingVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let certs = std::iter::once(end_entity)
            .chain(intermediates)
            .filter_map(|c| cert_validity(c))
            .collect();
        let result = match &self.inner {
            Some(inner) => {
                inner.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
            }
            None => Ok(ServerCertVerified::assertion()),
        };
        let verified = self.inner.is_some() && result.is_ok();
        *self.seen.lock().unwrap_or_else(|e| e.into_inner()) = Some(PeerChain { certs, verified });
        result
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

/// blackbox_exporter's spelling of a TLS version (`probe_tls_version_info{version}`).
pub fn version_name(version: rustls::ProtocolVersion) -> &'static str {
    match version {
        rustls::ProtocolVersion::TLSv1_3 => "TLS 1.3",
        rustls::ProtocolVersion::TLSv1_2 => "TLS 1.2",
        rustls::ProtocolVersion::TLSv1_1 => "TLS 1.1",
        rustls::ProtocolVersion::TLSv1_0 => "TLS 1.0",
        _ => "unknown",
    }
}
