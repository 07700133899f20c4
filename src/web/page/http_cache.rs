//! Serving pre-rendered documents cheaply and safely: each [`Doc`] carries its bytes, a
//! strong `ETag` (a hash of the bytes) and the time its bytes last changed; conditional
//! requests (`If-None-Match`, else `If-Modified-Since`) get `304 Not Modified`. The
//! [`harden`] middleware puts the security headers on every public response, bounds the
//! time a request may take and refuses request bodies.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The Content-Security-Policy of every public response: no script at all, styles only
/// from our own `/static/`, images from us or `data:`, never framed.
pub const CSP: &str = "default-src 'none'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
/// How long a public request may take before it is answered with 503.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// Public routes take no body; anything larger than this is refused with 413.
pub const MAX_BODY_BYTES: u64 = 1024;

/// One rendered document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Doc {
    pub body: Bytes,
    pub content_type: &'static str,
    pub etag: String,
    /// Whole seconds, as HTTP dates carry.
    pub last_modified: SystemTime,
    pub cache_control: &'static str,
}

impl Doc {
    /// A document whose bytes changed at `at` (unless `previous` has the same bytes, whose
    /// time is then kept so validators stay stable across re-renders).
    pub fn new(
        body: impl Into<Bytes>,
        content_type: &'static str,
        cache_control: &'static str,
        at: SystemTime,
        previous: Option<&Doc>,
    ) -> Doc {
        let body = body.into();
        let mut hasher = DefaultHasher::new();
        body.hash(&mut hasher);
        content_type.hash(&mut hasher);
        let etag = format!("\"{:016x}\"", hasher.finish());
        let last_modified = match previous {
            Some(p) if p.etag == etag => p.last_modified,
            _ => whole_seconds(at),
        };
        Doc {
            body,
            content_type,
            etag,
            last_modified,
            cache_control,
        }
    }

    /// The response to a GET or HEAD with `headers`: 200 with the body, or 304.
    pub fn respond(&self, headers: &HeaderMap) -> Response {
        let not_modified = match headers.get(header::IF_NONE_MATCH) {
            Some(inm) => inm.to_str().is_ok_and(|v| etag_matches(v, &self.etag)),
            None => headers
                .get(header::IF_MODIFIED_SINCE)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| httpdate::parse_http_date(v).ok())
                .is_some_and(|since| self.last_modified <= since),
        };
        let mut response = if not_modified {
            StatusCode::NOT_MODIFIED.into_response()
        } else {
            let mut r = Response::new(Body::from(self.body.clone()));
            r.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(self.content_type),
            );
            r
        };
        let h = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.etag) {
            h.insert(header::ETAG, v);
        }
        if let Ok(v) = HeaderValue::from_str(&httpdate::fmt_http_date(self.last_modified)) {
            h.insert(header::LAST_MODIFIED, v);
        }
        h.insert(
            header::CACHE_CONTROL,
            HeaderValue::from_static(self.cache_control),
        );
        response
    }
}

fn whole_seconds(t: SystemTime) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs()))
}

/// `If-None-Match` against our strong tag, with the weak comparison RFC 9110 asks for.
pub fn etag_matches(if_none_match: &str, etag: &str) -> bool {
    if_none_match
        .split(',')
        .map(str::trim)
        .any(|t| t == "*" || t.trim_start_matches("W/") == etag)
}

/// The CSP for a page whose logo is `logo`: an `http(s)` logo's origin is added to
/// `img-src`, nothing else ever is.
pub fn csp_for(logo: Option<&str>) -> String {
    let origin = logo
        .filter(|l| l.starts_with("https://") || l.starts_with("http://"))
        .and_then(|l| url::Url::parse(l).ok())
        .map(|u| u.origin().ascii_serialization())
        .filter(|o| o != "null");
    match origin {
        Some(o) => CSP.replacen(
            "img-src 'self' data:",
            &format!("img-src 'self' data: {o}"),
            1,
        ),
        None => CSP.to_string(),
    }
}

/// Security headers, a request timeout and the body limit for every public response.
pub async fn harden(State(csp): State<HeaderValue>, request: Request, next: Next) -> Response {
    let too_big = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|n| n > MAX_BODY_BYTES)
        || request.headers().contains_key(header::TRANSFER_ENCODING);
    let mut response = if too_big {
        (StatusCode::PAYLOAD_TOO_LARGE, "request body too large\n").into_response()
    } else {
        match tokio::time::timeout(REQUEST_TIMEOUT, next.run(request)).await {
            Ok(r) => r,
            Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "timed out\n").into_response(),
        }
    };
    let h = response.headers_mut();
    h.insert(header::CONTENT_SECURITY_POLICY, csp);
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On paused time: a handler that takes longer than [`REQUEST_TIMEOUT`] is answered
    /// 503 "timed out" at 10 s (docs/status-page.md), hardened like any response; one
    /// that finishes just under it is answered normally.
    #[tokio::test(start_paused = true)]
    async fn a_handler_over_the_request_timeout_gets_503() {
        use tower::ServiceExt;
        let router = axum::Router::new()
            .route(
                "/slow",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_secs(11)).await;
                    "late"
                }),
            )
            .route(
                "/almost",
                axum::routing::get(|| async {
                    tokio::time::sleep(Duration::from_millis(9_900)).await;
                    "in time"
                }),
            )
            .layer(axum::middleware::from_fn_with_state(
                HeaderValue::from_static(CSP),
                harden,
            ));
        let call = |uri: &'static str| {
            let router = router.clone();
            async move {
                let started = tokio::time::Instant::now();
                let response = router
                    .oneshot(
                        Request::builder()
                            .uri(uri)
                            .body(Body::empty())
                            .expect("request"),
                    )
                    .await
                    .expect("response");
                let status = response.status();
                let csp = response
                    .headers()
                    .get(header::CONTENT_SECURITY_POLICY)
                    .cloned();
                let body = axum::body::to_bytes(response.into_body(), 1024)
                    .await
                    .expect("body");
                (status, csp, body, started.elapsed())
            }
        };
        let (status, csp, body, took) = call("/slow").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(&body[..], b"timed out\n");
        assert_eq!(csp.as_ref().map(|v| v.as_bytes()), Some(CSP.as_bytes()));
        assert_eq!(
            took, REQUEST_TIMEOUT,
            "answered at the timeout, not when it finished"
        );
        let (status, _, body, took) = call("/almost").await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(&body[..], b"in time");
        assert_eq!(took, Duration::from_millis(9_900));
    }

    #[test]
    fn only_the_logo_origin_joins_img_src() {
        assert_eq!(csp_for(None), CSP);
        assert_eq!(csp_for(Some("data:image/png;base64,AAAA")), CSP);
        assert_eq!(
            csp_for(Some("https://files.example.social/logo.png?x=1")),
            "default-src 'none'; style-src 'self'; img-src 'self' data: https://files.example.social; \
             frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
        );
    }

    #[test]
    fn if_none_match_compares_weakly_and_accepts_lists_and_star() {
        let tag = "\"00ff\"";
        assert!(etag_matches("\"00ff\"", tag));
        assert!(etag_matches("W/\"00ff\"", tag));
        assert!(etag_matches("\"a\", \"00ff\"", tag));
        assert!(etag_matches("*", tag));
        assert!(!etag_matches("\"00fe\"", tag));
        assert!(!etag_matches("00ff", tag), "unquoted is another tag");
    }

    #[test]
    fn same_bytes_keep_their_validators_and_new_bytes_get_new_ones() {
        let t0 = UNIX_EPOCH + Duration::from_millis(1_790_000_000_700);
        let t1 = t0 + Duration::from_secs(60);
        let a = Doc::new("hello", "text/plain", "no-cache", t0, None);
        assert_eq!(
            a.last_modified,
            UNIX_EPOCH + Duration::from_secs(1_790_000_000)
        );
        let again = Doc::new("hello", "text/plain", "no-cache", t1, Some(&a));
        assert_eq!(again, a);
        let changed = Doc::new("hello!", "text/plain", "no-cache", t1, Some(&a));
        assert_ne!(changed.etag, a.etag);
        assert_eq!(
            changed.last_modified,
            UNIX_EPOCH + Duration::from_secs(1_790_000_060)
        );
    }
}
