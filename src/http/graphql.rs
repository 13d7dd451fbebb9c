//! GraphQL over HTTP, following the GraphQL-over-HTTP specification: JSON POSTs (batches
//! allowed), GET for queries only, media-type negotiation and status codes, CSRF
//! protection for simple requests, and the body and batch limits.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_graphql::http::{GraphiQLSource, MultipartOptions, parse_query_string, receive_batch_body};
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, Request, ServerError};
use axum::body::Body;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::header::{ACCEPT, ALLOW, CONTENT_TYPE, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use futures_util::{StreamExt, TryStreamExt};
use serde::Serialize;
use tracing::Instrument;

use super::HttpState;
use super::client::{bearer_token, client_info, request_id};
use super::log::GraphqlOutcome;
use crate::auth::actor::Actor;
use crate::error::ErrorCode;
use crate::graphql::context::RequestContext;
use crate::sessions::service as sessions;

const GRAPHQL_RESPONSE_JSON: &str = "application/graphql-response+json";
const JSON: &str = "application/json";
/// Headers a browser cannot send cross-site without a CORS preflight.
const PREFLIGHT_HEADERS: [&str; 3] = [
    "apollo-require-preflight",
    "x-apollo-operation-name",
    "graphql-preflight",
];

/// The response media type the client accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Media {
    GraphqlResponseJson,
    Json,
}

impl Media {
    fn content_type(self) -> &'static str {
        match self {
            Self::GraphqlResponseJson => "application/graphql-response+json; charset=utf-8",
            Self::Json => "application/json; charset=utf-8",
        }
    }
}

/// POST /graphql.
pub async fn post_graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let config = &state.app.config;
    let content_type = headers
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    let limit = match essence.as_str() {
        JSON => config.max_body_bytes,
        "multipart/form-data" if has_preflight_header(&headers) => {
            // Uploads are large: only a signed-in caller may send one, checked before reading it.
            let signed_in = match bearer_token(&headers) {
                Some(token) => sessions::authenticate(&state.app, token).await.is_ok(),
                None => false,
            };
            if !signed_in {
                return request_error(
                    StatusCode::UNAUTHORIZED,
                    media,
                    ErrorCode::Unauthenticated,
                    "uploads need a valid access token in the Authorization header",
                );
            }
            config.max_upload_bytes
        }
        "multipart/form-data" => {
            return request_error(
                StatusCode::BAD_REQUEST,
                media,
                ErrorCode::BadUserInput,
                "multipart requests need an Apollo-Require-Preflight header (CSRF protection)",
            );
        }
        _ => {
            return request_error(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                media,
                ErrorCode::BadUserInput,
                "send the request as application/json (or multipart/form-data for uploads)",
            );
        }
    };
    let too_large = || {
        request_error(
            StatusCode::PAYLOAD_TOO_LARGE,
            media,
            ErrorCode::QueryTooComplex,
            format!("request body exceeds the limit of {limit} bytes"),
        )
    };
    let options = MultipartOptions::default().max_file_size(limit).max_num_files(16);
    let received = if essence == JSON {
        let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
            return too_large();
        };
        receive_batch_body(Some(&content_type), bytes.as_ref(), options).await
    } else {
        // Uploads are streamed to temporary files as they arrive, never held in memory.
        let exceeded = Arc::new(AtomicBool::new(false));
        let reader = limited_reader(body, limit, exceeded.clone());
        let received = receive_batch_body(Some(&content_type), reader, options).await;
        if exceeded.load(Ordering::Relaxed) {
            return too_large();
        }
        received
    };
    let batch = match received {
        Ok(batch) => batch,
        Err(async_graphql::ParseRequestError::PayloadTooLarge) => return too_large(),
        Err(err) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                media,
                ErrorCode::BadUserInput,
                format!("malformed GraphQL request: {err}"),
            );
        }
    };
    if let BatchRequest::Batch(requests) = &batch {
        if requests.is_empty() {
            return request_error(
                StatusCode::BAD_REQUEST,
                media,
                ErrorCode::BadUserInput,
                "empty batch",
            );
        }
        if requests.len() > config.max_batch {
            return request_error(
                StatusCode::BAD_REQUEST,
                media,
                ErrorCode::QueryTooComplex,
                format!(
                    "batch of {} operations; the limit is {}",
                    requests.len(),
                    config.max_batch
                ),
            );
        }
    }
    execute(&state, &headers, peer, media, batch).await
}

/// GET /graphql: the playground for browsers, or a query in the URL.
pub async fn get_graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    let has_query = query.split('&').any(|pair| pair.starts_with("query="));
    if !has_query {
        if state.app.config.playground_enabled() && accepts_html(&headers) {
            return Html(playground_html()).into_response();
        }
        return request_error(
            StatusCode::BAD_REQUEST,
            negotiate(&headers).unwrap_or(Media::Json),
            ErrorCode::BadUserInput,
            "GET /graphql needs a `query` parameter",
        );
    }
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let request = match parse_query_string(&query) {
        Ok(request) => request,
        Err(err) => {
            return request_error(
                StatusCode::BAD_REQUEST,
                media,
                ErrorCode::BadUserInput,
                format!("malformed GraphQL request: {err}"),
            );
        }
    };
    if state
        .operations
        .operation_type(&request)
        .is_some_and(|ty| ty != OperationType::Query)
    {
        let mut response = request_error(
            StatusCode::METHOD_NOT_ALLOWED,
            media,
            ErrorCode::BadUserInput,
            "only queries may be sent with GET; use POST for mutations",
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return response;
    }
    execute(&state, &headers, peer, media, BatchRequest::Single(request)).await
}

/// The body as a reader that fails (and sets `exceeded`) once more than `limit` bytes came.
fn limited_reader(
    body: Body,
    limit: usize,
    exceeded: Arc<AtomicBool>,
) -> impl futures_util::AsyncRead + Send + Unpin + 'static {
    let mut received = 0usize;
    body.into_data_stream()
        .map(move |chunk| {
            let chunk = chunk.map_err(std::io::Error::other)?;
            received = received.saturating_add(chunk.len());
            if received > limit {
                exceeded.store(true, Ordering::Relaxed);
                return Err(std::io::Error::other("upload too large"));
            }
            Ok(chunk)
        })
        .into_async_read()
}

/// Authenticates, runs the operations and writes the HTTP response.
async fn execute(
    state: &HttpState,
    headers: &HeaderMap,
    peer: SocketAddr,
    media: Media,
    batch: BatchRequest,
) -> Response {
    let request_id = request_id(headers);
    let actor = match bearer_token(headers) {
        None => Actor::Anonymous,
        Some(token) => match sessions::authenticate(&state.app, token).await {
            Ok(user) => Actor::User(user),
            Err(err) => {
                let code = err.code;
                let message = if code == ErrorCode::Internal {
                    tracing::error!(request_id = %request_id, error = ?err, "authentication failed");
                    format!("internal error (request id {request_id})")
                } else {
                    err.message
                };
                let status = if code == ErrorCode::Internal {
                    StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    StatusCode::UNAUTHORIZED
                };
                let mut response = request_error(status, media, code, message);
                response.headers_mut().insert(
                    WWW_AUTHENTICATE,
                    HeaderValue::from_static("Bearer error=\"invalid_token\""),
                );
                return response;
            }
        },
    };
    let client = client_info(headers, Some(peer), state.app.config.trust_proxy_headers);
    let operation = operation_names(&batch);
    let context = RequestContext {
        actor,
        client,
        request_id: request_id.clone(),
    };
    let span = tracing::info_span!("graphql", request_id = %request_id, operation = %operation);
    let mut response = state
        .operations
        .execute_batch(batch, context)
        .instrument(span)
        .await;
    let mut request_failed = false;
    match &mut response {
        BatchResponse::Single(single) => {
            // Errors before execution (parse, validation, limits) carry no path.
            request_failed = single.data == async_graphql::Value::Null
                && !single.errors.is_empty()
                && single.errors.iter().all(|e| e.path.is_empty());
        }
        BatchResponse::Batch(_) => {}
    }
    let outcome = outcome(&response);
    let (status, body) = match &response {
        // A request error has no `data` entry at all (GraphQL over HTTP).
        BatchResponse::Single(single) if request_failed => {
            let status = match media {
                Media::GraphqlResponseJson => StatusCode::BAD_REQUEST,
                Media::Json => StatusCode::OK,
            };
            (status, serde_json::to_vec(&RequestErrors::of(single)))
        }
        _ => (StatusCode::OK, serde_json::to_vec(&response)),
    };
    let body = match body {
        Ok(body) => body,
        Err(err) => {
            tracing::error!(request_id = %request_id, error = %err, "cannot write the response");
            return request_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                media,
                ErrorCode::Internal,
                format!("internal error (request id {request_id})"),
            );
        }
    };
    let mut http = (status, [(CONTENT_TYPE, media.content_type())], body).into_response();
    http.extensions_mut()
        .insert(GraphqlOutcome { operation, outcome });
    http
}

/// A response to a request that failed before execution: its errors without `data`.
#[derive(Serialize)]
struct RequestErrors<'a> {
    errors: &'a [ServerError],
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    extensions: &'a BTreeMap<String, async_graphql::Value>,
}

impl<'a> RequestErrors<'a> {
    fn of(response: &'a async_graphql::Response) -> Self {
        Self {
            errors: &response.errors,
            extensions: &response.extensions,
        }
    }
}

/// An error answered before any operation ran.
fn request_error(status: StatusCode, media: Media, code: ErrorCode, message: impl Into<String>) -> Response {
    let message = message.into();
    let body = serde_json::json!({
        "errors": [{ "message": message, "extensions": { "code": code.as_str() } }]
    });
    let mut response = (status, [(CONTENT_TYPE, media.content_type())], body.to_string()).into_response();
    response.extensions_mut().insert(GraphqlOutcome {
        operation: "-".to_owned(),
        outcome: code.as_str().to_owned(),
    });
    response
}

fn not_acceptable() -> Response {
    request_error(
        StatusCode::NOT_ACCEPTABLE,
        Media::Json,
        ErrorCode::BadUserInput,
        "accept application/graphql-response+json or application/json",
    )
}

/// The response media type for the Accept header (absent: application/json).
fn negotiate(headers: &HeaderMap) -> Option<Media> {
    let Some(accept) = headers.get(ACCEPT).and_then(|v| v.to_str().ok()) else {
        return Some(Media::Json);
    };
    accept.split(',').find_map(|range| {
        let essence = range.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        match essence.as_str() {
            GRAPHQL_RESPONSE_JSON => Some(Media::GraphqlResponseJson),
            JSON | "application/*" | "*/*" => Some(Media::Json),
            _ => None,
        }
    })
}

fn accepts_html(headers: &HeaderMap) -> bool {
    headers
        .get(ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|accept| accept.contains("text/html"))
}

fn has_preflight_header(headers: &HeaderMap) -> bool {
    PREFLIGHT_HEADERS.iter().any(|name| headers.contains_key(*name))
}

fn operation_names(batch: &BatchRequest) -> String {
    let name = |request: &Request| {
        request
            .operation_name
            .clone()
            .unwrap_or_else(|| "anonymous".to_owned())
    };
    match batch {
        BatchRequest::Single(request) => name(request),
        BatchRequest::Batch(requests) => requests.iter().map(name).collect::<Vec<_>>().join(","),
    }
}

fn outcome(response: &BatchResponse) -> String {
    let responses = match response {
        BatchResponse::Single(single) => std::slice::from_ref(single),
        BatchResponse::Batch(many) => many.as_slice(),
    };
    let mut codes: Vec<String> = responses
        .iter()
        .flat_map(|r| r.errors.iter())
        .filter_map(|e| match e.extensions.as_ref().and_then(|x| x.get("code")) {
            Some(async_graphql::Value::String(code)) => Some(code.clone()),
            _ => None,
        })
        .collect();
    codes.sort();
    codes.dedup();
    if codes.is_empty() {
        "ok".to_owned()
    } else {
        codes.join(",")
    }
}

fn playground_html() -> String {
    GraphiQLSource::build()
        .endpoint("/graphql")
        .subscription_endpoint("/graphql/ws")
        .title("Guildhall GraphQL")
        .finish()
}
