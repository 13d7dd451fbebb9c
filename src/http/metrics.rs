//! `GET /metrics`: the Prometheus text of every metric the process records, on its own
//! address (`METRICS_ADDR`, loopback by default), so that nothing about the traffic is
//! public. What is a state rather than an event (the pool, the outboxes) is read at
//! scrape time.

use std::future::Future;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::http::header::CONTENT_TYPE;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use diesel_async::RunQueryDsl;
use tokio::net::TcpListener;

use crate::app::App;
use crate::db::scope::{Crossing, Scope};
use crate::db::tx;
use crate::telemetry;

/// The Prometheus text format's media type.
const TEXT_FORMAT: &str = "text/plain; version=0.0.4; charset=utf-8";
/// The longest the outbox counts may run; a scrape then answers without fresh ones.
const OUTBOX_TIMEOUT: Duration = Duration::from_secs(2);

/// Serves `/metrics` on `listener` until `shutdown` resolves (the caller installs the
/// registry first, before any request is served).
pub async fn serve_metrics(
    app: App,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let router = Router::new().route("/metrics", get(scrape)).with_state(app);
    axum::serve(listener, router)
        .with_graceful_shutdown(shutdown)
        .await?;
    Ok(())
}

/// GET /metrics.
async fn scrape(State(app): State<App>) -> Response {
    let Some(registry) = telemetry::metrics_registry() else {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            "metrics are not recorded in this process",
        )
            .into_response();
    };
    record_pool(&app);
    record_outboxes(&app).await;
    ([(CONTENT_TYPE, TEXT_FORMAT)], registry.render()).into_response()
}

/// The database pool's connections by state, and the requests waiting for one.
fn record_pool(app: &App) {
    let status = app.pool.status();
    let connections = [
        ("max", status.max_size),
        ("open", status.size),
        ("idle", status.available),
        ("in_use", status.size.saturating_sub(status.available)),
    ];
    for (state, count) in connections {
        metrics::gauge!("guildhall_db_pool_connections", "state" => state).set(count as f64);
    }
    metrics::gauge!("guildhall_db_pool_waiting").set(status.waiting as f64);
}

/// How many mails and webhook deliveries wait, and how long the oldest of each has.
async fn record_outboxes(app: &App) {
    let mut conn = match app.pool.get().await {
        Ok(conn) => conn,
        Err(err) => {
            tracing::warn!(error = %err, "metrics: no database connection for the outbox counts");
            return;
        }
    };
    let now = app.clock.now();
    // PostgreSQL stops the counts itself when they run long, so the connection goes back
    // to the pool free rather than still busy with them.
    let counted = tx::within(&mut conn, Scope::Crossing(Crossing::Upkeep), async |conn| {
        diesel::sql_query(format!(
            "SET LOCAL statement_timeout = {}",
            OUTBOX_TIMEOUT.as_millis()
        ))
        .execute(conn)
        .await?;
        let mail = crate::mail::store::backlog(conn).await?;
        let webhooks = crate::webhooks::store::backlog(conn).await?;
        Ok((mail, webhooks))
    })
    .await;
    match counted {
        Ok((mail, webhooks)) => {
            for (kind, (depth, oldest)) in [("mail", mail), ("webhooks", webhooks)] {
                record_outbox(kind, depth, oldest, now);
            }
        }
        Err(err) => tracing::warn!(error = ?err, "metrics: cannot count the outboxes"),
    }
}

fn record_outbox(kind: &'static str, depth: i64, oldest: Option<DateTime<Utc>>, now: DateTime<Utc>) {
    let age = oldest.map_or(0.0, |queued| {
        (now - queued).num_milliseconds().max(0) as f64 / 1000.0
    });
    metrics::gauge!("guildhall_outbox_depth", "kind" => kind).set(depth as f64);
    metrics::gauge!("guildhall_outbox_oldest_seconds", "kind" => kind).set(age);
}
