//! Sending one OTLP request: the [`Transport`] trait, with the gRPC (tonic
//! `MetricsServiceClient`) and HTTP/protobuf (reqwest `POST …/v1/metrics`) implementations
//! that [`connect`] builds from the config. The run loop only sees the trait, so its retry
//! schedule is tested on paused time with a scripted transport (`tests/otlp.rs`).
//!
//! Header values are secrets: they are marked sensitive and never appear in errors.

use std::time::Duration;

use anyhow::Context;
use async_trait::async_trait;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use prost::Message;

use crate::config::secret::redact;
use crate::config::{OtlpConfig, OtlpProtocol};
use crate::export::self_metrics::VERSION;

/// Sends one export request to a receiver. The run loop applies the request timeout and
/// the retry schedule; an implementation only sends and reports what the receiver said.
#[async_trait]
pub trait Transport: Send {
    /// Sends one request; `Ok(Some(..))` when the receiver accepted only part of it.
    async fn send(
        &mut self,
        request: ExportMetricsServiceRequest,
    ) -> anyhow::Result<Option<PartialSuccess>>;
}

/// The transport `config.protocol` asks for, with `timeout` as its connect and request
/// timeout. gRPC connects lazily, so this fails only on a malformed endpoint or header.
pub fn connect(config: &OtlpConfig, timeout: Duration) -> anyhow::Result<Box<dyn Transport>> {
    Ok(match config.protocol {
        OtlpProtocol::Grpc => Box::new(GrpcTransport::new(config, timeout)?),
        OtlpProtocol::HttpProtobuf => Box::new(HttpTransport::new(config, timeout)?),
    })
}

/// The URL an HTTP/protobuf export is posted to: an endpoint without a path (or `/`) gets
/// `/v1/metrics` appended, like `OTEL_EXPORTER_OTLP_ENDPOINT`; an endpoint with a path is
/// used as it is, like `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`.
///
/// ```
/// use fedimeter::export::otlp::http_metrics_url;
///
/// let url = |e: &str| http_metrics_url(e).ok();
/// assert_eq!(url("http://collector:4318").as_deref(), Some("http://collector:4318/v1/metrics"));
/// assert_eq!(url("https://otlp.example.net/otlp/v1/metrics").as_deref(),
///            Some("https://otlp.example.net/otlp/v1/metrics"));
/// assert_eq!(url("grpc://collector:4317"), None);
/// ```
pub fn http_metrics_url(endpoint: &str) -> anyhow::Result<String> {
    let mut url = url::Url::parse(endpoint)
        .with_context(|| format!("otlp endpoint {:?} is not a url", redact(endpoint)))?;
    if !matches!(url.scheme(), "http" | "https") {
        anyhow::bail!("otlp endpoint must be http:// or https://");
    }
    if url.path().is_empty() || url.path() == "/" {
        url.set_path("/v1/metrics");
    }
    Ok(url.to_string())
}

/// What the receiver said about a request it accepted only in part.
#[derive(Debug, Clone, PartialEq)]
pub struct PartialSuccess {
    pub rejected_points: i64,
    pub message: String,
}

fn partial_success(response: &ExportMetricsServiceResponse) -> Option<PartialSuccess> {
    response
        .partial_success
        .as_ref()
        .filter(|p| p.rejected_data_points > 0 || !p.error_message.is_empty())
        .map(|p| PartialSuccess {
            rejected_points: p.rejected_data_points,
            message: p.error_message.clone(),
        })
}

/// `google.rpc.Status`, the body of a failed OTLP/HTTP response (only the fields we show).
#[derive(Clone, PartialEq, prost::Message)]
struct RpcStatus {
    #[prost(int32, tag = "1")]
    code: i32,
    #[prost(string, tag = "2")]
    message: String,
}

/// OTLP/gRPC with the generated tonic client; headers become (sensitive) metadata.
pub struct GrpcTransport {
    client: MetricsServiceClient<tonic::transport::Channel>,
    metadata: tonic::metadata::MetadataMap,
}

impl GrpcTransport {
    pub fn new(config: &OtlpConfig, timeout: Duration) -> anyhow::Result<Self> {
        let mut endpoint = tonic::transport::Endpoint::from_shared(config.endpoint.clone())
            .with_context(|| format!("otlp endpoint {:?} is not a uri", redact(&config.endpoint)))?
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(format!("fedimeter/{VERSION}"))
            .context("user agent")?;
        if config.endpoint.starts_with("https://") {
            endpoint = endpoint
                .tls_config(tonic::transport::ClientTlsConfig::new().with_enabled_roots())
                .context("otlp tls configuration")?;
        }
        let mut metadata = tonic::metadata::MetadataMap::new();
        for (name, value) in &config.headers {
            let key =
                tonic::metadata::MetadataKey::from_bytes(name.to_ascii_lowercase().as_bytes())
                    .with_context(|| format!("otlp header name {name:?} is not valid"))?;
            let mut value = tonic::metadata::MetadataValue::try_from(value.expose())
                .map_err(|_| anyhow::anyhow!("otlp header {name:?} has an invalid value"))?;
            value.set_sensitive(true);
            metadata.insert(key, value);
        }
        Ok(GrpcTransport {
            client: MetricsServiceClient::new(endpoint.connect_lazy()),
            metadata,
        })
    }
}

#[async_trait]
impl Transport for GrpcTransport {
    async fn send(
        &mut self,
        request: ExportMetricsServiceRequest,
    ) -> anyhow::Result<Option<PartialSuccess>> {
        let mut request = tonic::Request::new(request);
        *request.metadata_mut() = self.metadata.clone();
        let response = self
            .client
            .export(request)
            .await
            .map_err(|status| {
                anyhow::anyhow!("grpc status {:?}: {}", status.code(), status.message())
            })?
            .into_inner();
        Ok(partial_success(&response))
    }
}

/// OTLP/HTTP with protobuf bodies, posted with reqwest; headers are marked sensitive.
pub struct HttpTransport {
    client: reqwest::Client,
    url: String,
    headers: reqwest::header::HeaderMap,
}

impl HttpTransport {
    pub fn new(config: &OtlpConfig, timeout: Duration) -> anyhow::Result<Self> {
        let url = http_metrics_url(&config.endpoint)?;
        let mut headers = reqwest::header::HeaderMap::new();
        for (name, value) in &config.headers {
            let key = reqwest::header::HeaderName::from_bytes(name.as_bytes())
                .with_context(|| format!("otlp header name {name:?} is not valid"))?;
            let mut value = reqwest::header::HeaderValue::from_str(value.expose())
                .map_err(|_| anyhow::anyhow!("otlp header {name:?} has an invalid value"))?;
            value.set_sensitive(true);
            headers.insert(key, value);
        }
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout)
            .user_agent(format!("fedimeter/{VERSION}"))
            .build()
            .context("building the otlp http client")?;
        Ok(HttpTransport {
            client,
            url,
            headers,
        })
    }
}

#[async_trait]
impl Transport for HttpTransport {
    async fn send(
        &mut self,
        request: ExportMetricsServiceRequest,
    ) -> anyhow::Result<Option<PartialSuccess>> {
        let response = self
            .client
            .post(self.url.as_str())
            .headers(self.headers.clone())
            .header(reqwest::header::CONTENT_TYPE, "application/x-protobuf")
            .body(request.encode_to_vec())
            .send()
            .await
            .context("sending the otlp request")?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .context("reading the otlp response")?;
        if !status.is_success() {
            let detail = RpcStatus::decode(&*body)
                .map(|s| s.message)
                .unwrap_or_default();
            anyhow::bail!("http status {status}: {detail}");
        }
        let response = ExportMetricsServiceResponse::decode(&*body).unwrap_or_default();
        Ok(partial_success(&response))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_url_gets_the_signal_path_only_when_the_endpoint_has_none() {
        for (endpoint, want) in [
            ("http://127.0.0.1:4318", "http://127.0.0.1:4318/v1/metrics"),
            ("http://127.0.0.1:4318/", "http://127.0.0.1:4318/v1/metrics"),
            (
                "https://otlp.example.net/otlp/v1/metrics",
                "https://otlp.example.net/otlp/v1/metrics",
            ),
            (
                "https://collector:4318/custom",
                "https://collector:4318/custom",
            ),
        ] {
            assert_eq!(
                http_metrics_url(endpoint).expect("valid"),
                want,
                "{endpoint}"
            );
        }
        for bad in ["collector:4318", "ftp://x/", "not a url"] {
            assert!(http_metrics_url(bad).is_err(), "{bad}");
        }
    }
}
