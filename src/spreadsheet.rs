//! CSV files people open in spreadsheets: RFC 4180 lines, and text defused so that a
//! spreadsheet never runs a cell as a formula (OWASP's CSV injection advice). Every CSV
//! the server writes goes through here.

use axum::body::Bytes;

use crate::error::{AppError, AppResult};

/// Lines of cells as RFC 4180 CSV (CRLF line ends).
pub fn csv_lines(lines: Vec<Vec<String>>) -> AppResult<Bytes> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for line in lines {
        writer.write_record(line).map_err(AppError::internal)?;
    }
    let bytes = writer
        .into_inner()
        .map_err(|e| AppError::internal(anyhow::anyhow!("{e}")))?;
    Ok(Bytes::from(bytes))
}

/// `text` as a cell a spreadsheet shows rather than runs: text starting with a tab,
/// carriage return or line feed, or whose first character after any whitespace is one of
/// `= + - @`, is prefixed with '.
pub fn defused(text: String) -> String {
    if looks_like_a_formula(&text) {
        format!("'{text}")
    } else {
        text
    }
}

/// Whether a spreadsheet opening `text` as a cell might run it.
fn looks_like_a_formula(text: &str) -> bool {
    text.starts_with(['\t', '\r', '\n']) || text.trim_start().starts_with(['=', '+', '-', '@'])
}
