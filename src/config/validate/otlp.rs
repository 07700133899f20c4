//! `[otlp]`.

use toml::Spanned;

use crate::config::raw::{self, RawOtlp};
use crate::config::{OtlpConfig, OtlpProtocol};

use super::ctx::*;
use super::values::*;

pub(super) fn otlp(ctx: &mut Ctx<'_>, entry: &Spanned<RawOtlp>) -> Option<OtlpConfig> {
    let raw = entry.get_ref();
    let endpoint = ctx
        .interpolate(&raw.endpoint, "otlp.endpoint")
        .and_then(|e| match public_url(&e, &["http", "https"]) {
            Ok(_) => Some(e.trim().to_string()),
            Err(message) => {
                ctx.error(raw.endpoint.span(), "otlp.endpoint", message);
                None
            }
        });
    let protocol = match &raw.protocol {
        None => Some(OtlpProtocol::Grpc),
        Some(v) => match ctx.interpolate(v, "otlp.protocol").as_deref() {
            Some("grpc") => Some(OtlpProtocol::Grpc),
            Some("http/protobuf") => Some(OtlpProtocol::HttpProtobuf),
            Some(other) => {
                ctx.error(
                    v.span(),
                    "otlp.protocol",
                    format!("unknown protocol {other:?}: expected \"grpc\" or \"http/protobuf\""),
                );
                None
            }
            None => None,
        },
    };
    let interval = match &raw.interval {
        None => Some(raw::default_otlp_interval()),
        Some(v) => ctx.duration(v, "otlp.interval").and_then(|d| {
            if d < MIN_INTERVAL {
                ctx.error(
                    v.span(),
                    "otlp.interval",
                    format!("interval ({}) must be at least 1s", show(d)),
                );
                None
            } else {
                Some(d)
            }
        }),
    };
    let headers = request_headers(ctx, &raw.headers, "otlp.headers");
    Some(OtlpConfig {
        endpoint: endpoint?,
        protocol: protocol?,
        interval: interval?,
        headers: headers?,
    })
}
