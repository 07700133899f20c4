//! Static files from `site/`, embedded into the binary and served with cache headers.

use axum::extract::Path;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

/// (path under /static/, content type, bytes)
const ASSETS: &[(&str, &str, &[u8])] = &[(
    "style.css",
    "text/css; charset=utf-8",
    include_bytes!("../../site/style.css"),
)];

pub async fn serve(Path(path): Path<String>) -> Response {
    match ASSETS.iter().find(|(p, _, _)| *p == path) {
        Some((_, content_type, body)) => (
            [
                (header::CONTENT_TYPE, *content_type),
                (header::CACHE_CONTROL, "public, max-age=3600"),
            ],
            *body,
        )
            .into_response(),
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}
