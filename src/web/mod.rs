//! The HTTP surface: `fn router(state) -> Router`, so tests call it with `oneshot`.
//!
//! Routes: `/` (public status page), `/api/status.json`, `/metrics` and `/probe?target=`
//! (unless they are moved to `metrics_listen`), `/healthz`, `/readyz`, `/static/*`. Every
//! handler reads published snapshots only: a request never triggers a collection and never
//! waits on a monitored system.

pub mod assets;
pub mod error;
pub mod page;
pub mod server;
pub mod status_page;

use std::sync::Arc;

use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;

use crate::export::exposition::{self, Format};
use crate::model::{Kind, SnapshotStore, TargetId};
use crate::sli::recorder::StatesReceiver;
use error::AppError;

/// What the handlers read.
#[derive(Clone)]
pub struct WebState {
    pub snapshots: Arc<SnapshotStore>,
    pub site: Arc<SiteInfo>,
    /// The components' states from the SLI task (`sli::recorder::states_channel`).
    pub components: StatesReceiver,
    /// Whether the history store is up; the page and the JSON API say when it is not.
    pub history: crate::store::handle::StoreStatus,
}

/// Public facts about the site, fixed at start.
#[derive(Debug, Clone)]
pub struct SiteInfo {
    pub title: String,
    /// The components' public names and descriptions by id, in page order.
    pub components: Vec<PublicComponent>,
}

/// What the page shows of a component besides its state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicComponent {
    pub id: String,
    pub name: String,
    pub description: String,
}

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Surface {
    /// Page, JSON API and metrics on one address.
    All,
    /// Page and JSON API only (`metrics_listen` is set).
    Public,
    /// `/metrics`, `/probe` and the health endpoints only (the private `metrics_listen`).
    Metrics,
}

pub fn router(state: WebState, surface: Surface) -> Router {
    router_with(state, surface, None)
}

/// [`router`], with the public pages, API, feeds and badges served from `page`'s
/// pre-rendered documents (`page::published`) and every public response hardened.
pub fn router_with(
    state: WebState,
    surface: Surface,
    page: Option<(Arc<page::published::Published>, HeaderValue)>,
) -> Router {
    let mut router = Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz));
    if surface != Surface::Metrics {
        let status_json = Arc::new(status_page::StatusJson::default());
        router = router
            .route(
                "/api/status.json",
                status_page::status_json_route(status_json),
            )
            .route("/static/{*path}", get(assets::serve));
        if page.is_none() {
            router = router.route("/", get(status_page::page));
        }
    }
    if surface != Surface::Public {
        router = router
            .route("/metrics", get(metrics))
            .route("/probe", get(probe));
    }
    let router = router.with_state(state);
    match page {
        Some((published, csp)) if surface != Surface::Metrics => {
            router.merge(page::published::router(published)).layer(
                axum::middleware::from_fn_with_state(csp, page::http_cache::harden),
            )
        }
        _ => router,
    }
}

async fn healthz() -> &'static str {
    "ok\n"
}

/// Ready once every target has been collected at least once.
async fn readyz(State(state): State<WebState>) -> Response {
    let pending = state
        .snapshots
        .latest()
        .iter()
        .filter(|(_, s)| s.is_none())
        .count();
    if pending == 0 {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("waiting for the first collection of {pending} target(s)\n"),
        )
            .into_response()
    }
}

fn exposition_response(body: String, format: Format) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static(format.content_type()),
        )],
        body,
    )
        .into_response()
}

async fn metrics(State(state): State<WebState>, headers: HeaderMap) -> Response {
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    exposition_response(exposition::render_store(&state.snapshots, format), format)
}

#[derive(Debug, Deserialize)]
struct ProbeParams {
    target: Option<String>,
    /// Optional kind (`postgres`, `pgbouncer`, `redis`, `probe`) when names repeat across kinds.
    kind: Option<String>,
}

/// `/probe?target=<name>`: one target's series without the `target` label, for the
/// multi-target relabeling pattern of the established exporters.
async fn probe(
    State(state): State<WebState>,
    Query(params): Query<ProbeParams>,
    headers: HeaderMap,
) -> Result<Response, AppError> {
    let name = params
        .target
        .ok_or_else(|| AppError::BadRequest("missing the target parameter".into()))?;
    let kinds: Vec<Kind> = match params.kind.as_deref() {
        None => Kind::ALL.to_vec(),
        Some(k) => vec![
            Kind::ALL
                .into_iter()
                .find(|kind| kind.name() == k)
                .ok_or_else(|| AppError::BadRequest("unknown kind".into()))?,
        ],
    };
    let matches: Vec<TargetId> = state
        .snapshots
        .targets()
        .filter(|id| kinds.contains(&id.kind) && *id.name == *name)
        .cloned()
        .collect();
    let id = match matches.as_slice() {
        [] => return Err(AppError::NotFound("unknown target".into())),
        [one] => one.clone(),
        _ => {
            return Err(AppError::BadRequest(
                "several targets have this name: add kind=postgres|pgbouncer|redis|probe".into(),
            ));
        }
    };
    let format = Format::negotiate(headers.get(header::ACCEPT).and_then(|v| v.to_str().ok()));
    match exposition::render_target(&state.snapshots, &id, format) {
        Some(body) => Ok(exposition_response(body, format)),
        None => Err(AppError::Unavailable("not collected yet".into())),
    }
}
