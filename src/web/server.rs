//! The HTTP/1.1 server loop every listener runs (instead of `axum::serve`, which gives
//! hyper no timer, so hyper's header-read timeout never fires and a client that sends
//! half a request line and waits holds its connection forever — slowloris).
//!
//! Each connection is served by hyper's `http1::Builder` with a Tokio timer and
//! [`HEADER_READ_TIMEOUT`]: a client must deliver a whole request head within it, whether
//! the connection is new or idle between keep-alive requests, or the connection is
//! closed. A handler's own time is bounded separately (`page::http_cache::harden`). On
//! shutdown the listener stops accepting and open connections finish their current
//! request (hyper's graceful shutdown).

use std::time::Duration;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

/// How long a client may take to send a request head (request line and headers).
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// Serves `router` on `listener` until `shutdown`, with `header_read_timeout` per request
/// head; returns once every connection has closed.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: CancellationToken,
    header_read_timeout: Duration,
) {
    let mut connections = JoinSet::new();
    loop {
        let stream = tokio::select! {
            _ = shutdown.cancelled() => break,
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // Out of file descriptors and the like: wait instead of spinning.
                    tracing::warn!("accepting a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        while connections.try_join_next().is_some() {}
        let _ = stream.set_nodelay(true);
        // The router takes hyper's `Incoming` bodies as they are.
        let service = TowerToHyperService::new(router.clone());
        let shutdown = shutdown.clone();
        connections.spawn(async move {
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(header_read_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(e) = result {
                        tracing::debug!("http connection: {e}");
                    }
                    return;
                }
                _ = shutdown.cancelled() => connection.as_mut().graceful_shutdown(),
            }
            if let Err(e) = connection.await {
                tracing::debug!("http connection during shutdown: {e}");
            }
        });
    }
    drop(listener);
    while connections.join_next().await.is_some() {}
}
