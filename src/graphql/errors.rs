//! The one place an [`AppError`] becomes a GraphQL error, and the last pass over every
//! response (HTTP or websocket) that gives each error a contract code and hides internal
//! detail behind the request id.

use async_graphql::{ErrorExtensionValues, PathSegment, Response};

use crate::error::{AppError, ErrorCode};

impl From<AppError> for async_graphql::Error {
    fn from(err: AppError) -> Self {
        if err.code == ErrorCode::Internal {
            tracing::error!(error = ?err.source, "internal error");
        }
        let mut extensions = ErrorExtensionValues::default();
        extensions.set("code", err.code.as_str());
        if !err.fields.is_empty() {
            let fields = async_graphql::to_value(&err.fields).unwrap_or_default();
            extensions.set("fields", fields);
        }
        if let Some(seconds) = err.retry_after {
            extensions.set("retryAfter", seconds);
        }
        if let Some(reason) = err.reason {
            extensions.set("reason", reason);
        }
        async_graphql::Error {
            message: err.message,
            source: None,
            extensions: Some(extensions),
        }
    }
}

/// Builds a GraphQL error with `code` for failures outside resolvers.
pub fn server_error(code: ErrorCode, message: impl Into<String>) -> async_graphql::ServerError {
    let mut error = async_graphql::ServerError::new(message, None);
    let mut extensions = ErrorExtensionValues::default();
    extensions.set("code", code.as_str());
    error.extensions = Some(extensions);
    error
}

/// Gives errors without a code (parse and validation errors) BAD_USER_INPUT, INTERNAL
/// errors the request id that the server log carries too (when it is known), and each
/// failed field an explicit null at its path.
pub fn finish_response(response: &mut Response, request_id: Option<&str>) {
    for error in &response.errors {
        null_at(&mut response.data, &error.path);
    }
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(ErrorExtensionValues::default);
        let internal = match extensions.get("code") {
            Some(async_graphql::Value::String(code)) => code == ErrorCode::Internal.as_str(),
            _ => {
                extensions.set("code", ErrorCode::BadUserInput.as_str());
                false
            }
        };
        if let Some(request_id) = request_id.filter(|_| internal && extensions.get("requestId").is_none()) {
            extensions.set("requestId", request_id);
            error.message = format!("internal error (request id {request_id})");
        }
    }
}

/// async-graphql leaves a failed field out of its parent object; GraphQL says it is null.
fn null_at(data: &mut async_graphql::Value, path: &[PathSegment]) {
    let Some((last, parents)) = path.split_last() else {
        return;
    };
    let mut node = data;
    for segment in parents {
        let next = match (segment, node) {
            (PathSegment::Field(name), async_graphql::Value::Object(map)) => map.get_mut(name.as_str()),
            (PathSegment::Index(index), async_graphql::Value::List(list)) => list.get_mut(*index),
            _ => None,
        };
        let Some(next) = next else {
            return;
        };
        node = next;
    }
    if let (PathSegment::Field(name), async_graphql::Value::Object(map)) = (last, node)
        && !map.contains_key(name.as_str())
    {
        map.insert(async_graphql::Name::new(name), async_graphql::Value::Null);
    }
}
