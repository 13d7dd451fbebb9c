//! One log line per request: request id, method, route, status, duration, and for GraphQL
//! the operation name and outcome. A matched route is logged as its pattern
//! (`/exports/{token}`), and a path no route matched by its first segment alone, so a
//! secret carried in a path never reaches the log; query strings are never logged.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;

use super::client::request_id;

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
    let path = match request.extensions().get::<MatchedPath>() {
        Some(route) => route.as_str().to_owned(),
        None => unmatched(request.uri().path()),
    };
    let response = next.run(request).await;
    let graphql = response.extensions().get::<GraphqlOutcome>();
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
