//! GraphQL over HTTP, following the GraphQL-over-HTTP specification: JSON POSTs (batches
//! allowed), GET for queries only, media-type negotiation and status codes, CSRF
//! protection for simple requests, and the body and batch limits.

use std::collections::BTreeMap;
use std::net::SocketAddr;

use async_graphql::http::{MultipartOptions, parse_query_string, receive_batch_body};
use async_graphql::parser::types::OperationType;
use async_graphql::{BatchRequest, BatchResponse, Request, ServerError};
use axum::body::Body;
use axum::extract::{ConnectInfo, RawQuery, State};
use axum::http::header::{ACCEPT, ALLOW, CONTENT_TYPE, RETRY_AFTER, WWW_AUTHENTICATE};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::HttpState;
use super::client::{bearer_token, client_info, request_id};
use super::document_id;
use super::log::GraphqlOutcome;
use super::multipart::{MultipartLimits, MultipartRequest, Refusal};
use crate::auth::caller::{Caller, Principal};
use crate::error::{AppError, ErrorCode};
use crate::graphql::errors::finish_response;
use crate::graphql::live_session;

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
    let received = match essence.as_str() {
        JSON => match read_json(&state, &content_type, body, media).await {
            Ok(batch) => identify(&state, &headers, peer, media)
                .await
                .map(|caller| (batch, caller)),
            Err(refusal) => Err(refusal),
        },
        "multipart/form-data" if has_preflight_header(&headers) => {
            read_multipart(&state, &headers, peer, &content_type, body, media).await
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
    let (batch, caller) = match received {
        Ok(received) => received,
        Err(response) => return response,
    };
    if let Some(refusal) = batch_size_refusal(&state, &batch, media) {
        return refusal;
    }
    execute(&state, media, batch, caller).await
}

/// A JSON body, read whole up to `MAX_BODY_BYTES`.
async fn read_json(
    state: &HttpState,
    content_type: &str,
    body: Body,
    media: Media,
) -> Result<BatchRequest, Response> {
    let limit = state.app.config.max_body_bytes;
    let Ok(bytes) = axum::body::to_bytes(body, limit).await else {
        return Err(too_large(media, "MAX_BODY_BYTES", limit));
    };
    let rewritten = document_id::rewrite_body(&bytes)
        .map_err(|message| request_error(StatusCode::BAD_REQUEST, media, ErrorCode::BadUserInput, message))?;
    let body = rewritten.as_deref().unwrap_or(bytes.as_ref());
    receive_batch_body(Some(content_type), body, MultipartOptions::default())
        .await
        .map_err(|err| {
            request_error(
                StatusCode::BAD_REQUEST,
                media,
                ErrorCode::BadUserInput,
                format!("malformed GraphQL request: {err}"),
            )
        })
}

/// A multipart (upload) request and its sender: only a verified, signed-in caller may send
/// one (checked before reading it), and only with operations that take a file and that
/// they may run (checked after its `operations` and `map` parts, before any file is
/// received).
async fn read_multipart(
    state: &HttpState,
    headers: &HeaderMap,
    peer: SocketAddr,
    content_type: &str,
    body: Body,
    media: Media,
) -> Result<(BatchRequest, Caller), Response> {
    let config = &state.app.config;
    if bearer_token(headers).is_none() {
        return Err(request_error(
            StatusCode::UNAUTHORIZED,
            media,
            ErrorCode::Unauthenticated,
            "uploads need a valid access token in the Authorization header",
        ));
    }
    let caller = identify(state, headers, peer, media).await?;
    if let Err(err) = caller.acting() {
        return Err(request_error(StatusCode::FORBIDDEN, media, err.code, err.message));
    }
    let limits = MultipartLimits {
        max_json_bytes: config.max_body_bytes,
        max_upload_bytes: config.max_upload_bytes,
    };
    let refused = |refusal| multipart_refused(headers, media, refusal);
    let mut request = MultipartRequest::new(body, content_type, limits).map_err(refused)?;
    let mut batch = request.operations().await.map_err(refused)?;
    if let Some(refusal) = batch_size_refusal(state, &batch, media) {
        return Err(refusal);
    }
    if let Err(error) = state.pipeline.resolve_persisted_batch(&mut batch).await {
        return Err(refused_before_running(headers, media, error));
    }
    if let Err(error) = state.pipeline.admit_batch(&batch, &caller).await {
        return Err(refused_before_running(headers, media, error));
    }
    if let Err(error) = state.pipeline.authorize_uploads(&caller, &batch).await {
        return Err(refused_before_running(headers, media, error));
    }
    let batch = request.files(batch).await.map_err(refused)?;
    Ok((batch, caller))
}

/// The answer to a request refused before any of its operations ran.
fn refused_before_running(headers: &HeaderMap, media: Media, error: ServerError) -> Response {
    let mut response = async_graphql::Response::from_errors(vec![error]);
    finish_response(&mut response, Some(&request_id(headers)));
    let body = serde_json::to_vec(&RequestErrors::of(&response)).unwrap_or_default();
    (
        request_failed_status(media, &response.errors),
        [(CONTENT_TYPE, media.content_type())],
        body,
    )
        .into_response()
}

/// The answer to a multipart request that broke a limit or the spec.
fn multipart_refused(headers: &HeaderMap, media: Media, refusal: Refusal) -> Response {
    match refusal {
        Refusal::TooLarge(setting, limit) => too_large(media, setting, limit),
        Refusal::Malformed(message) => {
            request_error(StatusCode::BAD_REQUEST, media, ErrorCode::BadUserInput, message)
        }
        Refusal::Io(err) => {
            let request_id = request_id(headers);
            tracing::error!(request_id = %request_id, error = %err, "cannot store an upload");
            request_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                media,
                ErrorCode::Internal,
                format!("internal error (request id {request_id})"),
            )
        }
    }
}

/// 413 for a body over `setting` (`limit` bytes).
fn too_large(media: Media, setting: &str, limit: usize) -> Response {
    request_error(
        StatusCode::PAYLOAD_TOO_LARGE,
        media,
        ErrorCode::BadUserInput,
        format!("the request is larger than {setting} allows ({limit} bytes)"),
    )
}

/// The refusal of an empty batch or of one over `GRAPHQL_MAX_BATCH`.
fn batch_size_refusal(state: &HttpState, batch: &BatchRequest, media: Media) -> Option<Response> {
    let max_batch = state.app.config.max_batch;
    let BatchRequest::Batch(requests) = batch else {
        return None;
    };
    if requests.is_empty() {
        return Some(request_error(
            StatusCode::BAD_REQUEST,
            media,
            ErrorCode::BadUserInput,
            "empty batch",
        ));
    }
    (requests.len() > max_batch).then(|| {
        request_error(
            StatusCode::BAD_REQUEST,
            media,
            ErrorCode::QueryTooComplex,
            format!("batch of {} operations; the limit is {max_batch}", requests.len()),
        )
    })
}

/// GET /graphql: the playground for browsers, or a query in the URL.
pub async fn get_graphql(
    State(state): State<HttpState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let query = query.unwrap_or_default();
    // A document sent by hash comes as `extensions` alone.
    let has_query = query.split('&').any(|pair| {
        pair.starts_with("query=") || pair.starts_with("extensions=") || pair.starts_with("documentId=")
    });
    if !has_query {
        if state.app.config.playground_enabled() && accepts_html(&headers) {
            return super::playground::page();
        }
        return request_error(
            StatusCode::BAD_REQUEST,
            negotiate(&headers).unwrap_or(Media::Json),
            ErrorCode::BadUserInput,
            "GET /graphql needs a `query` parameter (or `extensions` naming a persisted query)",
        );
    }
    let Some(media) = negotiate(&headers) else {
        return not_acceptable();
    };
    let mut request = match parse_query_string(&query) {
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
    let document_id = form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == document_id::DOCUMENT_ID)
        .map(|(_, value)| document_id::extension_for(&value));
    match document_id {
        Some(Ok(extension)) => {
            request.extensions.insert(
                "persistedQuery".to_owned(),
                async_graphql::Value::from_json(extension).unwrap_or_default(),
            );
        }
        Some(Err(message)) => {
            return request_error(StatusCode::BAD_REQUEST, media, ErrorCode::BadUserInput, message);
        }
        None => {}
    }
    if let Err(error) = state.pipeline.resolve_persisted(&mut request, false).await {
        return refused_before_running(&headers, media, error);
    }
    if state
        .pipeline
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
    match identify(&state, &headers, peer, media).await {
        Ok(caller) => execute(&state, media, BatchRequest::Single(request), caller).await,
        Err(refusal) => refusal,
    }
}

/// Who sends the request: anonymous without a bearer token, the token's user or API key
/// otherwise; a refused credential is answered 401, a key past its budget 429 (500 when it
/// could not be checked).
async fn identify(
    state: &HttpState,
    headers: &HeaderMap,
    peer: SocketAddr,
    media: Media,
) -> Result<Caller, Response> {
    let request_id = request_id(headers);
    let principal = match bearer_token(headers) {
        None => Principal::Anonymous,
        Some(token) => match live_session::authenticate(&state.app, token).await {
            Ok(principal) => principal,
            Err(err) if err.code == ErrorCode::RateLimited => return Err(rate_limited(media, &err)),
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
                return Err(response);
            }
        },
    };
    Ok(Caller {
        principal,
        client: client_info(headers, Some(peer), state.app.config.trust_proxy_headers),
        request_id,
    })
}

/// Runs the operations for `caller` and writes the HTTP response.
async fn execute(state: &HttpState, media: Media, batch: BatchRequest, caller: Caller) -> Response {
    let request_id = caller.request_id.clone();
    let operation = operation_names(&batch);
    let mut response = state.pipeline.execute_batch(batch, caller).await;
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
        BatchResponse::Single(single) if request_failed => (
            request_failed_status(media, &single.errors),
            serde_json::to_vec(&RequestErrors::of(single)),
        ),
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

/// The status of a request that failed before execution: GraphQL over HTTP answers such a
/// request with 400 for its own media type, and with 200 for plain JSON. A document asked
/// for by an unknown hash is 200 either way: Apollo's clients stop sending hashes to a
/// server that answers that with 400, instead of sending the document.
fn request_failed_status(media: Media, errors: &[ServerError]) -> StatusCode {
    let not_found = ErrorCode::PersistedQueryNotFound.as_str();
    let persisted_not_found = !errors.is_empty()
        && errors.iter().all(|error| {
            error
                .extensions
                .as_ref()
                .and_then(|extensions| extensions.get("code"))
                .is_some_and(|code| *code == async_graphql::Value::from(not_found))
        });
    match media {
        Media::GraphqlResponseJson if !persisted_not_found => StatusCode::BAD_REQUEST,
        _ => StatusCode::OK,
    }
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

/// 429 for a key past its budget: RATE_LIMITED with `retryAfter`, and `Retry-After`.
fn rate_limited(media: Media, err: &AppError) -> Response {
    let retry_after = err.retry_after.unwrap_or(1);
    let body = serde_json::json!({
        "errors": [{
            "message": "this API key made too many requests; slow down",
            "extensions": { "code": ErrorCode::RateLimited.as_str(), "retryAfter": retry_after }
        }]
    });
    let mut response = (
        StatusCode::TOO_MANY_REQUESTS,
        [(CONTENT_TYPE, media.content_type())],
        body.to_string(),
    )
        .into_response();
    if let Ok(value) = HeaderValue::from_str(&retry_after.to_string()) {
        response.headers_mut().insert(RETRY_AFTER, value);
    }
    response.extensions_mut().insert(GraphqlOutcome {
        operation: "-".to_owned(),
        outcome: ErrorCode::RateLimited.as_str().to_owned(),
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
