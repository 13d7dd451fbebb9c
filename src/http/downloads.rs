//! GET /exports/{token}: streams a CSV export behind a signed, short-lived link.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::{CACHE_CONTROL, CONTENT_DISPOSITION, CONTENT_TYPE};
use axum::response::{IntoResponse, Response};

use super::HttpState;
use crate::error::ErrorCode;
use crate::rows::export;

/// Streams the export the link stands for; 404 for a bad or expired link.
pub async fn export_csv(State(state): State<HttpState>, Path(token): Path<String>) -> Response {
    match export::open_download(&state.app, &token).await {
        Ok(download) => {
            let chunks = futures_util::stream::unfold(download.chunks, |mut chunks| async move {
                chunks.recv().await.map(|chunk| (chunk, chunks))
            });
            (
                [
                    (CONTENT_TYPE, "text/csv; charset=utf-8".to_owned()),
                    (
                        CONTENT_DISPOSITION,
                        format!("attachment; filename=\"{}\"", download.filename),
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
