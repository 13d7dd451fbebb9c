//! Liveness and readiness probes.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde_json::{Value, json};

use super::HttpState;
use crate::db;

/// The process is up.
pub async fn live() -> Json<Value> {
    Json(json!({ "status": "ok" }))
}

/// The server can reach its database and is not stopping; 503 with the reason otherwise,
/// so a load balancer sends nothing new to a server that drains.
pub async fn ready(State(state): State<HttpState>) -> (StatusCode, Json<Value>) {
    if *state.draining.borrow() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "status": "draining", "reason": "the server is shutting down" })),
        );
    }
    match db::ping(&state.app.pool).await {
        Ok(()) => (StatusCode::OK, Json(json!({ "status": "ok", "database": "ok" }))),
        Err(reason) => {
            tracing::warn!(%reason, "readiness check failed");
            (
                StatusCode::SERVICE_UNAVAILABLE,
                Json(json!({ "status": "unavailable", "reason": format!("database unreachable: {reason}") })),
            )
        }
    }
}
