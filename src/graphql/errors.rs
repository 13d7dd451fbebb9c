//! The one place an [`AppError`] becomes a GraphQL error, and the last pass over a response
//! that gives every error a contract code and hides internal detail.

use async_graphql::{ErrorExtensionValues, Response};

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

/// Gives errors without a code (parse and validation errors) BAD_USER_INPUT, and INTERNAL
/// errors the request id that the server log carries too.
pub fn finish_response(response: &mut Response, request_id: &str) {
    for error in &mut response.errors {
        let extensions = error.extensions.get_or_insert_with(ErrorExtensionValues::default);
        let code = match extensions.get("code") {
            Some(async_graphql::Value::String(code)) => code.clone(),
            _ => {
                extensions.set("code", ErrorCode::BadUserInput.as_str());
                continue;
            }
        };
        if code == ErrorCode::Internal.as_str() {
            extensions.set("requestId", request_id);
            error.message = format!("internal error (request id {request_id})");
        }
    }
}
