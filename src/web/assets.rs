//! Static files from `site/`, embedded into the binary and served as [`Doc`]s: a strong
//! `ETag` (a hash of the bytes, computed once at first use), `Last-Modified` (when this
//! process first served the file) and 304s on conditional requests. The pages link
//! [`style_href`] — the path with `?v=<hash>` — which is cached for a year (`immutable`):
//! new bytes get a new URL. The bare path, or an old `v`, is cached for an hour.

use std::sync::OnceLock;
use std::time::SystemTime;

use axum::extract::{Path, RawQuery};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

use crate::web::page::http_cache::Doc;

/// Cache-Control of a versioned asset URL (its bytes never change).
pub const CACHE_VERSIONED: &str = "public, max-age=31536000, immutable";
/// Cache-Control of an asset without (or with an outdated) version.
pub const CACHE_UNVERSIONED: &str = "public, max-age=3600";

/// (path under /static/, content type, bytes)
const ASSETS: &[(&str, &str, &[u8])] = &[(
    "style.css",
    "text/css; charset=utf-8",
    include_bytes!("../../site/style.css"),
)];

/// Each asset as (versioned, unversioned) documents, built once.
fn docs() -> &'static [(&'static str, Doc, Doc)] {
    static DOCS: OnceLock<Vec<(&'static str, Doc, Doc)>> = OnceLock::new();
    DOCS.get_or_init(|| {
        let now = SystemTime::now();
        ASSETS
            .iter()
            .map(|(path, content_type, body)| {
                let versioned = Doc::new(*body, content_type, CACHE_VERSIONED, now, None);
                let mut unversioned = versioned.clone();
                unversioned.cache_control = CACHE_UNVERSIONED;
                (*path, versioned, unversioned)
            })
            .collect()
    })
}

/// The version of asset `path`: 16 hex digits of its ETag ("" for an unknown path).
pub fn version(path: &str) -> &'static str {
    docs()
        .iter()
        .find(|(p, _, _)| *p == path)
        .map_or("", |(_, d, _)| d.etag.trim_matches('"'))
}

/// The stylesheet's URL, with its version: `/static/style.css?v=<hash>`.
pub fn style_href() -> &'static str {
    static HREF: OnceLock<String> = OnceLock::new();
    HREF.get_or_init(|| format!("/static/style.css?v={}", version("style.css")))
}

pub async fn serve(Path(path): Path<String>, query: RawQuery, headers: HeaderMap) -> Response {
    match docs().iter().find(|(p, _, _)| *p == path) {
        Some((_, versioned, unversioned)) => {
            let wanted = query
                .0
                .as_deref()
                .and_then(|q| q.split('&').find_map(|p| p.strip_prefix("v=")));
            let current = versioned.etag.trim_matches('"');
            if wanted == Some(current) {
                versioned.respond(&headers)
            } else {
                unversioned.respond(&headers)
            }
        }
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}
