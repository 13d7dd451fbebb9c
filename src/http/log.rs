//! One log line per request: request id, method, route, status, duration, and for GraphQL
//! the operation name and outcome. A matched route is logged as its pattern
//! (`/exports/{token}`), and a path no route matched by its first segment alone, so a
//! secret carried in a path never reaches the log; query strings are never logged. The
//! same facts feed the request metrics, where an unmatched path counts as `unmatched`.

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

use super::client::request_id;
use crate::telemetry::operation_label;

/// Set by the GraphQL handler on its response so the log line can name the operation.
#[derive(Debug, Clone)]
pub struct GraphqlOutcome {
    pub operation: String,
    /// `ok`, or the error codes the response carried.
    pub outcome: String,
}

/// Middleware writing the request's log line.
pub async fn log_request(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let request_id = request_id(request.headers());
    let method = request.method().clone();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|route| route.as_str().to_owned());
    let path = route.clone().unwrap_or_else(|| unmatched(request.uri().path()));
    let response = next.run(request).await;
    let graphql = response.extensions().get::<GraphqlOutcome>();
    count(route, response.status().as_u16(), graphql, started.elapsed());
    tracing::info!(
        request_id = %request_id,
        method = %method,
        path = %path,
        status = response.status().as_u16(),
        duration_ms = started.elapsed().as_secs_f64() * 1000.0,
        operation = graphql.map_or("-", |g| g.operation.as_str()),
        outcome = graphql.map_or("-", |g| g.outcome.as_str()),
        "request"
    );
    response
}

/// Records the request in the metrics.
fn count(route: Option<String>, status: u16, graphql: Option<&GraphqlOutcome>, took: Duration) {
    let route = route.unwrap_or_else(|| "unmatched".to_owned());
    let seconds = took.as_secs_f64();
    metrics::counter!("guildhall_http_requests_total", "route" => route.clone(), "status" => status.to_string())
        .increment(1);
    metrics::histogram!("guildhall_http_request_duration_seconds", "route" => route).record(seconds);
    if let Some(graphql) = graphql {
        let operation = operation_label(&graphql.operation);
        // The log lists every code; a label takes one value, so the outcomes stay a small set.
        let outcome = if graphql.outcome.contains(',') {
            "mixed".to_owned()
        } else {
            graphql.outcome.clone()
        };
        metrics::counter!(
            "guildhall_graphql_operations_total",
            "operation" => operation.clone(),
            "outcome" => outcome
        )
        .increment(1);
        metrics::histogram!("guildhall_graphql_operation_duration_seconds", "operation" => operation)
            .record(seconds);
    }
}

/// A path no route matched, as logged: its first segment, and `/…` for the rest.
fn unmatched(path: &str) -> String {
    let rest = path.trim_start_matches('/');
    match rest.split_once('/') {
        Some((first, _)) => format!("/{first}/…"),
        None => format!("/{rest}"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn an_unmatched_path_is_logged_by_its_first_segment() {
        assert_eq!(super::unmatched("/exports/secret-token/x"), "/exports/…");
        assert_eq!(super::unmatched("/nothing"), "/nothing");
        assert_eq!(super::unmatched("/"), "/");
    }
}
