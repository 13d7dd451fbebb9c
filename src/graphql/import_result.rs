//! The answer to any CSV import (members, rows): what was stored and every refused line.

use async_graphql::{ID, SimpleObject};

use crate::rows::import::LineError;

/// One refused line of an import.
#[derive(SimpleObject)]
pub struct RowError {
    /// The line in the file; the header is line 1.
    pub line: i32,
    /// The column (field key) at fault, when one is.
    pub field: Option<String>,
    pub message: String,
}

impl From<LineError> for RowError {
    fn from(error: LineError) -> Self {
        Self {
            line: i32::try_from(error.line).unwrap_or(i32::MAX),
            field: error.field,
            message: error.message,
        }
    }
}

/// The outcome of an import.
#[derive(SimpleObject)]
pub struct ImportResult {
    pub import_id: ID,
    /// Lines stored.
    pub inserted: i32,
    /// Lines refused.
    pub rejected: i32,
    pub errors: Vec<RowError>,
}
