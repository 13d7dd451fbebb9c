//! Parsers for free-text input shared by several features: inputs become checked values at
//! the edge, and every failure names the input field it came from.

use crate::error::{AppError, AppResult};

const MAX_URL_CHARS: usize = 2_048;

/// Trimmed text of `min..=max` characters without control characters.
pub fn text(raw: &str, path: &str, min: usize, max: usize) -> AppResult<String> {
    let value = raw.trim();
    let length = value.chars().count();
    if length < min.max(1) {
        let message = if min <= 1 {
            "must not be empty".to_owned()
        } else {
            format!("must be at least {min} characters")
        };
        return Err(AppError::invalid(path, message));
    }
    if length > max {
        return Err(AppError::invalid(
            path,
            format!("must be at most {max} characters"),
        ));
    }
    if value.chars().any(char::is_control) {
        return Err(AppError::invalid(path, "must not contain control characters"));
    }
    Ok(value.to_owned())
}

/// Optional free text (line breaks allowed) of at most `max` characters; blank is absent.
pub fn optional_text(value: Option<String>, path: &str, max: usize) -> AppResult<Option<String>> {
    let Some(value) = non_empty(value) else {
        return Ok(None);
    };
    if value.chars().count() > max {
        return Err(AppError::invalid(
            path,
            format!("must be at most {max} characters"),
        ));
    }
    if value
        .chars()
        .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(AppError::invalid(path, "must not contain control characters"));
    }
    Ok(Some(value))
}

/// An absolute http(s) URL without spaces, or nothing.
pub fn optional_url(value: Option<String>, path: &str) -> AppResult<Option<String>> {
    let Some(url) = non_empty(value) else {
        return Ok(None);
    };
    let host = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"))
        .map(|rest| rest.split(['/', '?', '#']).next().unwrap_or(""));
    let valid = host.is_some_and(|h| !h.is_empty() && !h.starts_with(':'))
        && url.chars().count() <= MAX_URL_CHARS
        && !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if !valid {
        return Err(AppError::invalid(path, "must be an http:// or https:// URL"));
    }
    Ok(Some(url))
}

/// The trimmed value, or None when it is absent or blank.
pub fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}
