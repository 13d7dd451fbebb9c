//! The axum application: routes, middleware, and serving with graceful shutdown.

mod client;
mod cors;
mod document_id;
mod downloads;
mod graphql;
mod health;
mod log;
mod metrics;
mod multipart;
mod pages;
mod playground;
mod security_headers;
mod ws;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::http::HeaderName;
use axum::routing::get;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};

use crate::app::App;
use crate::graphql::pipeline::Pipeline;

pub use metrics::serve_metrics;
pub use pages::operations as page_operations;

/// How long in-flight requests may take to finish once the server stops, so the whole
/// stop (the workers after them) stays well under the 30 s orchestrators wait.
const DRAIN_LIMIT: Duration = Duration::from_secs(20);
/// How long a stopping server waits for its websockets to send their close frames.
const SOCKET_CLOSE_LIMIT: Duration = Duration::from_secs(3);

/// Header carrying the request id, accepted from the client or generated.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler shares.
#[derive(Clone)]
pub struct HttpState {
    pub app: App,
    /// Every operation's steps, over HTTP and websockets.
    pub pipeline: Pipeline,
    /// Turns true when the server is told to stop: readiness answers 503 from then on.
    pub draining: watch::Receiver<bool>,
    /// Turns true when the server stops accepting (after `SHUTDOWN_NOTICE_SECS`);
    /// websockets then close with a close frame.
    pub shutdown: watch::Receiver<bool>,
    /// How many websockets are open: a stopping server waits for their close frames.
    pub open_sockets: watch::Sender<usize>,
}

/// The router with every route and middleware.
pub fn router(state: HttpState) -> Router {
    let https = state.app.config.public_url().starts_with("https://");
    let cors = cors::layer(&state.app.config);
    Router::new()
        .route("/graphql", get(graphql::get_graphql).post(graphql::post_graphql))
        .route("/graphql/ws", get(ws::upgrade))
        .route("/playground/{name}", get(playground::asset))
        .route("/health/live", get(health::live))
        .route("/health/ready", get(health::ready))
        .route("/verify-email", get(pages::verify_email))
        .route("/reset-password", get(pages::reset_password))
        .route("/recover-two-factor", get(pages::recover_two_factor))
        .route("/accept-invitation", get(pages::accept_invitation))
        .route("/exports/{token}", get(downloads::export_csv))
        .route("/exports/audit/{token}", get(downloads::export_audit))
        .route("/exports/me/{token}", get(downloads::export_personal))
        .with_state(state)
        .layer(axum::middleware::from_fn_with_state(
            https,
            security_headers::secure,
        ))
        .layer(cors)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID_HEADER))
        .layer(axum::middleware::from_fn(log::log_request))
        .layer(SetRequestIdLayer::new(REQUEST_ID_HEADER, MakeRequestUuid))
}

/// Serves until `shutdown` resolves, then turns not-ready, serves on for
/// `SHUTDOWN_NOTICE_SECS` (so load balancers stop sending first), stops accepting, lets
/// in-flight requests finish (for up to `DRAIN_LIMIT`) and closes websockets with 1001.
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let (notify_draining, draining) = watch::channel(false);
    let (notify_shutdown, shutdown_rx) = watch::channel(false);
    let notice = Duration::from_secs(app.config.shutdown_notice_secs);
    let state = HttpState {
        pipeline: Pipeline::new(&app),
        app,
        draining,
        shutdown: shutdown_rx,
        open_sockets: watch::Sender::new(0),
    };
    let mut sockets = state.open_sockets.subscribe();
    let mut stopping = state.shutdown.clone();
    let service = router(state).into_make_service_with_connect_info::<SocketAddr>();
    let serving = axum::serve(listener, service)
        .with_graceful_shutdown(async move {
            shutdown.await;
            let _ = notify_draining.send(true);
            if !notice.is_zero() {
                tracing::info!(
                    seconds = notice.as_secs(),
                    "stopping: not ready, still serving (SHUTDOWN_NOTICE_SECS)"
                );
                tokio::time::sleep(notice).await;
            }
            tracing::info!("shutting down: finishing in-flight requests");
            let _ = notify_shutdown.send(true);
        })
        .into_future();
    let drain_limit = async move {
        let _ = stopping.wait_for(|stopped| *stopped).await;
        tokio::time::sleep(DRAIN_LIMIT).await;
    };
    tokio::select! {
        served = serving => served?,
        () = drain_limit => {
            tracing::warn!(seconds = DRAIN_LIMIT.as_secs(), "requests still running after the drain limit are cut off");
        }
    }
    // Upgraded connections are no longer the server's to wait for: give each websocket the
    // moment it needs to send its close frame.
    let closed = tokio::time::timeout(SOCKET_CLOSE_LIMIT, sockets.wait_for(|open| *open == 0)).await;
    if closed.is_err() {
        tracing::warn!("websockets still open after the close limit are cut off");
    }
    Ok(())
}
