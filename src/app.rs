//! Wires everything together for `fedimeter serve`: the snapshot store, one runner task per
//! target, the store's connection task, the state recorder, the exporters and the web
//! listeners, all under one cancellation token and drained with a deadline.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::collect::{registry, runner};
use crate::config::Config;
use crate::export::self_metrics;
use crate::model::SnapshotStore;
use crate::store::handle::{self, StoreHandle, StoreOptions};
use crate::store::state;
use crate::web::{self, PublicComponent, SiteInfo, Surface, WebState};

/// How long tasks get to finish after shutdown is requested.
pub const DRAIN_DEADLINE: Duration = Duration::from_secs(4);

/// Addresses the listeners actually bound (useful when the config says port 0).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    pub listen: SocketAddr,
    pub metrics_listen: Option<SocketAddr>,
}

/// Runs fedimeter until `shutdown` is cancelled. `on_bound` is told the bound addresses
/// once the listeners are up (tests use it with port 0).
pub async fn run(
    config: Config,
    shutdown: CancellationToken,
    on_bound: impl FnOnce(Bound) + Send,
) -> anyhow::Result<()> {
    let snapshots = Arc::new(SnapshotStore::new(registry::target_ids(&config)));
    self_metrics::publish_build_info(&snapshots);

    // Bind first: a port clash is a start-up error, reported before anything runs.
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("listening on {}", config.listen))?;
    let metrics_listener = match config.metrics_listen {
        Some(addr) => Some(
            TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening on {addr} (metrics_listen)"))?,
        ),
        None => None,
    };
    // The store connects in the background: serving never waits for it (docs/store.md).
    let store_options = StoreOptions::default();
    let store = StoreHandle::new(store_options, Some(snapshots.clone()));

    let components = crate::sli::components::of_config(&config);

    let mut tasks = JoinSet::new();
    tasks.spawn(store.clone().run(
        handle::connector(config.store.url.clone(), store_options),
        shutdown.clone(),
    ));
    let jobs = registry::build(&config);
    tracing::info!(targets = jobs.len(), "starting collectors");
    for job in jobs {
        tasks.spawn(runner::run_job(job, snapshots.clone(), shutdown.clone()));
    }
    if let Some(otlp) = config.otlp.clone() {
        tracing::info!(endpoint = %otlp.endpoint, "pushing metrics by OTLP");
        tasks.spawn(crate::export::otlp::run(
            otlp,
            config.site.location.clone(),
            snapshots.clone(),
            shutdown.clone(),
        ));
    }
    tracing::info!(
        components = components.len(),
        "evaluating components and SLIs"
    );
    // One list of the maintenance windows now (the config's and the store's, re-read every
    // 15 s) for the SLI task, the alert evaluator and the page, so the three agree.
    let (maintenance_tx, maintenance_rx) =
        crate::sli::maintenance_watch::channel(config.maintenance.clone());
    tasks.spawn(crate::sli::maintenance_watch::run(
        store.clone(),
        config.maintenance.clone(),
        components.iter().map(|c| c.id().to_string()).collect(),
        maintenance_tx,
        shutdown.clone(),
    ));
    // The page reads the components' states from the SLI task through this channel.
    let (states_tx, states_rx) = crate::sli::recorder::states_channel();
    tasks.spawn(crate::sli::run(
        store.clone(),
        snapshots.clone(),
        components.clone(),
        maintenance_rx.clone(),
        config.sli.clone(),
        states_tx,
        shutdown.clone(),
    ));
    tasks.spawn(state::run_recorder(
        store.clone(),
        snapshots.clone(),
        Duration::from_secs(5),
        shutdown.clone(),
    ));

    let alertmanager = if config.discord.is_empty() {
        None
    } else {
        crate::alert::spawn(
            &config,
            &store,
            &snapshots,
            &states_rx,
            &maintenance_rx,
            &mut tasks,
            &shutdown,
        )?
    };

    let site = Arc::new(SiteInfo {
        title: config.site.title.clone(),
        components: components
            .iter()
            .map(|c| PublicComponent {
                id: c.id().to_string(),
                name: c.name().to_string(),
                description: c.config.description.clone(),
            })
            .collect(),
    });
    let web_state = WebState {
        snapshots: snapshots.clone(),
        site,
        components: states_rx.clone(),
        history: store.status(),
    };
    // The public documents: rendered once now, then again whenever what they show changes.
    let page_sources = Arc::new(web::page::adapter::PageSources {
        title: config.site.title.clone(),
        logo_url: config.site.logo.clone(),
        about_url: config.site.about.clone(),
        components: components.clone(),
        maintenance: maintenance_rx,
        states: states_rx.clone(),
    });
    let published =
        web::page::published::Published::new(config.site.public_url.as_deref().unwrap_or(""));
    let now = std::time::SystemTime::now();
    published.update(
        web::page::published::build_with_deadline(&page_sources, &snapshots, Some(&store), now)
            .await,
        now,
    );
    tasks.spawn(web::page::published::run(
        published.clone(),
        page_sources,
        snapshots.clone(),
        Some(store.clone()),
        shutdown.clone(),
    ));
    let csp = axum::http::HeaderValue::from_str(&web::page::http_cache::csp_for(
        config.site.logo.as_deref(),
    ))?;
    let bound = Bound {
        listen: listener.local_addr()?,
        metrics_listen: match &metrics_listener {
            Some(l) => Some(l.local_addr()?),
            None => None,
        },
    };
    let main_surface = if metrics_listener.is_some() {
        Surface::Public
    } else {
        Surface::All
    };
    // The Alertmanager receiver goes wherever /metrics is served.
    let mut main_router = web::router_with(web_state.clone(), main_surface, Some((published, csp)));
    if let (Surface::All, Some(am)) = (main_surface, &alertmanager) {
        main_router = main_router.merge(am.clone());
    }
    tasks.spawn(serve(listener, main_router, shutdown.clone()));
    if let Some(l) = metrics_listener {
        let mut router = web::router(web_state, Surface::Metrics);
        if let Some(am) = alertmanager {
            router = router.merge(am);
        }
        tasks.spawn(serve(l, router, shutdown.clone()));
    }
    tracing::info!(listen = %bound.listen, metrics_listen = ?bound.metrics_listen, "serving");
    on_bound(bound);

    shutdown.cancelled().await;
    let drained = tokio::time::timeout(DRAIN_DEADLINE, async {
        while tasks.join_next().await.is_some() {}
    })
    .await;
    if drained.is_err() {
        tracing::warn!("some tasks did not finish within {DRAIN_DEADLINE:?}; stopping them");
        tasks.abort_all();
    }
    store.close().await;
    Ok(())
}

/// Every listener runs `web::server` (hyper with a header-read timeout against slowloris).
async fn serve(listener: TcpListener, router: axum::Router, shutdown: CancellationToken) {
    web::server::serve(listener, router, shutdown, web::server::HEADER_READ_TIMEOUT).await;
}
