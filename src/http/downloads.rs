//! GET /exports/{token}, /exports/audit/{token} and /exports/me/{token}: stream an export
//! (a table's rows, a company's audit log, a person's own data) behind a signed,
//! short-lived link.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use super::HttpState;
use crate::audit::export as audit_export;
use crate::error::{AppResult, ErrorCode};
use crate::rows::export;
use crate::users::data_export;

/// A file to stream: its name, media type and chunks.
type Download = (
    String,
    &'static str,
    tokio::sync::mpsc::Receiver<Result<axum::body::Bytes, std::io::Error>>,
);

/// Streams the table export the link stands for; 404 for a bad or expired link.
pub async fn export_csv(State(state): State<HttpState>, Path(token): Path<String>) -> Response {
    let opened = export::open_download(&state.app, &token)
        .await
        .map(|download| (download.filename, "text/csv; charset=utf-8", download.chunks));
    respond(opened)
}

/// Streams the audit log export the link stands for; 404 for a bad or expired link.
pub async fn export_audit(State(state): State<HttpState>, Path(token): Path<String>) -> Response {
    let opened = audit_export::open_download(&state.app, &token)
        .await
        .map(|download| (download.filename, download.format.content_type(), download.chunks));
    respond(opened)
}

/// Streams the personal data export the link stands for; 404 for a bad or expired link.
pub async fn export_personal(State(state): State<HttpState>, Path(token): Path<String>) -> Response {
    let opened = data_export::open_download(&state.app, &token)
        .await
        .map(|chunks| ("my-data.json".to_owned(), "application/json", chunks));
    respond(opened)
}

fn respond(opened: AppResult<Download>) -> Response {
    match opened {
        Ok((filename, content_type, chunks)) => {
            let chunks = futures_util::stream::unfold(chunks, |mut chunks| async move {
                chunks.recv().await.map(|chunk| (chunk, chunks))
            });
            (
                [
                    (CONTENT_TYPE, content_type.to_owned()),
                    (
                        CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{filename}\""),
                    ),
                    (CACHE_CONTROL, "no-store".to_owned()),
                ],
                Body::from_stream(chunks),
            )
                .into_response()
        }
        Err(err) if err.code == ErrorCode::NotFound || err.code == ErrorCode::Forbidden => (
            StatusCode::NOT_FOUND,
            "This download link is not valid or has expired. Ask for a new export.\n",
        )
            .into_response(),
        Err(err) => {
            tracing::error!(error = ?err.source, "export could not start");
            (StatusCode::INTERNAL_SERVER_ERROR, "The export could not start.\n").into_response()
        }
    }
}
