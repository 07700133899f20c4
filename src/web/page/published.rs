//! The rendered documents, kept in memory and swapped whole: [`render_all`] renders every
//! page, JSON document, feed and badge from one [`PageModel`]; [`run`] rebuilds the model
//! every few seconds and re-renders only when it changed, so a request never renders and
//! never touches the store. [`router`] serves them with validators (304s) and hardening.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio_util::sync::CancellationToken;

use super::adapter::{self, PageSources};
use super::badges::{self, BadgeKind};
use super::http_cache::Doc;
use super::model::PageModel;
use super::{api_v2, feeds, html};
use crate::model::SnapshotStore;
use crate::store::handle::StoreHandle;

/// How often the model is rebuilt from the store at the latest (incidents written by the
/// CLI appear within this).
pub const REFRESH_EVERY: Duration = Duration::from_secs(5);
/// How often the snapshots are looked at: a changed component state or a new check is
/// on the page within this.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

const HTML: &str = "text/html; charset=utf-8";
const JSON: &str = "application/json";
const CACHE_PAGE: &str = "public, max-age=10, stale-while-revalidate=30";
const CACHE_API: &str = "public, max-age=10";
const CACHE_FEED: &str = "public, max-age=60";
const CACHE_BADGE: &str = "public, max-age=60";

/// Every document by its path (badges with `?type=uptime` and `/history` pages after the
/// first with `?page=N` under their own keys).
#[derive(Debug, Default)]
pub struct Documents {
    pub docs: HashMap<String, Doc>,
    pub model: Option<PageModel>,
}

/// The documents the public router serves.
#[derive(Debug)]
pub struct Published {
    current: ArcSwap<Documents>,
    base_url: String,
    /// Each component's last state seen while fedimeter was not blind.
    last_known: std::sync::Mutex<HashMap<String, crate::sli::ComponentStatus>>,
}

impl Published {
    /// `base_url` = `[site] public_url` without a trailing slash ("" = links are relative).
    pub fn new(base_url: &str) -> Arc<Published> {
        Arc::new(Published {
            current: ArcSwap::from_pointee(Documents::default()),
            base_url: base_url.trim_end_matches('/').to_string(),
            last_known: std::sync::Mutex::default(),
        })
    }

    pub fn get(&self, key: &str) -> Option<Doc> {
        self.current.load().docs.get(key).cloned()
    }

    /// Renders `model` unless it equals the current one; returns whether it rendered.
    /// While fedimeter is blind, components that are not checked get their last known
    /// state ([`adapter::apply_last_known`]).
    pub fn update(&self, mut model: PageModel, now: SystemTime) -> bool {
        {
            let mut last = self
                .last_known
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            adapter::apply_last_known(&mut model, &mut last);
        }
        let previous = self.current.load_full();
        if previous.model.as_ref() == Some(&model) {
            return false;
        }
        let docs = render_all(
            &model,
            &self.base_url,
            now,
            &previous.docs,
            previous.model.as_ref(),
        );
        self.current.store(Arc::new(Documents {
            docs,
            model: Some(model),
        }));
        true
    }
}

/// Whether `/history` and the incident pages of `a` and `b` are drawn alike apart from
/// their incidents: title, logo, about link, component names, history availability.
fn same_chrome(a: &PageModel, b: &PageModel) -> bool {
    let names = |m: &PageModel| {
        m.components
            .iter()
            .map(|c| (c.id.clone(), c.name.clone()))
            .collect::<Vec<_>>()
    };
    a.title == b.title
        && a.logo_url == b.logo_url
        && a.about_url == b.about_url
        && a.history_available == b.history_available
        && names(a) == names(b)
}

/// Renders every document of `model`; a document whose bytes did not change keeps its
/// `Last-Modified`. `/history` pages and incident pages whose incidents and chrome equal
/// those of `previous_model` are taken from `previous` without rendering, so a model
/// change (a check every few seconds) costs the bounded documents only, however many
/// incidents the history holds.
pub fn render_all(
    model: &PageModel,
    base_url: &str,
    now: SystemTime,
    previous: &HashMap<String, Doc>,
    previous_model: Option<&PageModel>,
) -> HashMap<String, Doc> {
    let mut docs = HashMap::new();
    let same = previous_model.filter(|p| same_chrome(p, model));
    let mut put = |key: String, body: String, content_type: &'static str, cache: &'static str| {
        let doc = Doc::new(body, content_type, cache, now, previous.get(&key));
        docs.insert(key, doc);
    };
    put(
        "/".into(),
        html::index(model).into_string(),
        HTML,
        CACHE_PAGE,
    );
    let mut kept = Vec::new();
    let history_same = same.is_some_and(|p| p.incidents == model.incidents);
    for page in 1..=model.history_pages() {
        let key = html::history_url(page);
        match previous.get(&key) {
            Some(doc) if history_same => kept.push((key, doc.clone())),
            _ => put(
                key,
                html::history(model, page).into_string(),
                HTML,
                CACHE_PAGE,
            ),
        }
    }
    let before: HashMap<i64, &crate::store::incidents::Incident> = same
        .map(|p| p.incidents.iter().map(|i| (i.id, i)).collect())
        .unwrap_or_default();
    for i in &model.incidents {
        let key = format!("/incidents/{}", i.id);
        match previous.get(&key) {
            Some(doc) if before.get(&i.id) == Some(&i) => kept.push((key, doc.clone())),
            _ => put(
                key,
                html::incident(model, i).into_string(),
                HTML,
                CACHE_PAGE,
            ),
        }
    }
    for (path, body) in api_v2::documents(model, base_url) {
        put(path.into(), body, JSON, CACHE_API);
    }
    put(
        "/history.atom".into(),
        feeds::atom(model, base_url),
        "application/atom+xml; charset=utf-8",
        CACHE_FEED,
    );
    put(
        "/history.rss".into(),
        feeds::rss(model, base_url),
        "application/rss+xml; charset=utf-8",
        CACHE_FEED,
    );
    for c in &model.components {
        for (suffix, kind) in [("", BadgeKind::Status), ("?type=uptime", BadgeKind::Uptime)] {
            put(
                format!("/badge/{}.svg{suffix}", c.id),
                badges::svg(c, kind),
                "image/svg+xml",
                CACHE_BADGE,
            );
            put(
                format!("/badge/{}.json{suffix}", c.id),
                badges::shields_json(c, kind),
                JSON,
                CACHE_BADGE,
            );
        }
    }
    docs.extend(kept);
    docs
}

/// What the page shows that changes without the store, cheaply: component states, the
/// newest check and the maintenance windows.
type Fingerprint = (
    Vec<(String, Option<crate::sli::ComponentStatus>)>,
    Option<SystemTime>,
    Arc<crate::sli::maintenance_watch::MaintenanceNow>,
);

fn fingerprint(sources: &PageSources, snapshots: &SnapshotStore) -> Fingerprint {
    let newest = snapshots
        .latest()
        .iter()
        .filter_map(|(_, s)| s.as_ref().map(|s| s.finished_at))
        .max();
    let maintenance = Arc::clone(&sources.maintenance.borrow());
    (adapter::component_states(sources), newest, maintenance)
}

/// Builds the model from the store connected now, within the store's read timeout: a store
/// that is away or hung (SIGSTOP) gives the model without history ("history temporarily
/// unavailable") instead of a page that stops changing.
pub async fn build_with_deadline(
    sources: &PageSources,
    snapshots: &SnapshotStore,
    store: Option<&StoreHandle>,
    now: SystemTime,
) -> crate::web::page::model::PageModel {
    let current = store.and_then(|h| h.current().map(|s| (h.options().op_timeout, s)));
    if let Some((deadline, s)) = current {
        if let Ok(model) =
            tokio::time::timeout(deadline, adapter::build(sources, snapshots, Some(&s), now)).await
        {
            return model;
        }
    }
    adapter::build(sources, snapshots, None, now).await
}

/// Rebuilds the model when the snapshots or the maintenance windows change (looked at every
/// [`WATCH_EVERY`]) and at least every [`REFRESH_EVERY`], until `shutdown`.
pub async fn run(
    published: Arc<Published>,
    sources: Arc<PageSources>,
    snapshots: Arc<SnapshotStore>,
    store: Option<StoreHandle>,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(WATCH_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen = fingerprint(&sources, &snapshots);
    let mut built = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now_seen = fingerprint(&sources, &snapshots);
        if now_seen == seen && built.elapsed() < REFRESH_EVERY {
            continue;
        }
        seen = now_seen;
        built = tokio::time::Instant::now();
        let now = SystemTime::now();
        let model = build_with_deadline(&sources, &snapshots, store.as_ref(), now).await;
        published.update(model, now);
    }
}

/// The key of the document a request asks for: the path, plus `?type=uptime` for badges
/// and `?page=N` for `/history` pages after the first (`?page=1` is `/history`; a page
/// that is not a number or past the last one has no document: 404).
fn key(request: &Request) -> String {
    let path = request.uri().path();
    let mut params = request.uri().query().unwrap_or("").split('&');
    if path.starts_with("/badge/") {
        if params.any(|p| p == "type=uptime") {
            return format!("{path}?type=uptime");
        }
    } else if path == "/history" {
        if let Some(page) = params.find_map(|p| p.strip_prefix("page=")) {
            return match page.parse::<usize>() {
                Ok(n) if n >= 1 => html::history_url(n),
                _ => format!("/history?page={page}"),
            };
        }
    }
    path.to_string()
}

async fn serve(State(published): State<Arc<Published>>, request: Request) -> Response {
    let key = key(&request);
    let headers: &HeaderMap = request.headers();
    match published.get(&key) {
        Some(doc) => doc.respond(headers),
        None if published.current.load().model.is_none() => {
            (StatusCode::SERVICE_UNAVAILABLE, "starting\n").into_response()
        }
        None => (StatusCode::NOT_FOUND, "not found\n").into_response(),
    }
}

/// The public documents' routes (GET and HEAD only: anything else is 405).
pub fn router(published: Arc<Published>) -> Router {
    let paths = [
        "/",
        "/history",
        "/history.atom",
        "/history.rss",
        "/incidents/{id}",
        "/badge/{file}",
        "/api/v2/summary.json",
        "/api/v2/status.json",
        "/api/v2/components.json",
        "/api/v2/incidents.json",
        "/api/v2/incidents/unresolved.json",
        "/api/v2/scheduled-maintenances.json",
        "/api/v2/scheduled-maintenances/upcoming.json",
        "/api/v2/scheduled-maintenances/active.json",
    ];
    let mut router = Router::new();
    for p in paths {
        router = router.route(p, get(serve));
    }
    router.with_state(published)
}
