//! Parsers for free-text input shared by several features: inputs become checked values at
//! the edge, and every failure names the input field it came from.

use std::str::FromStr;

use bigdecimal::BigDecimal;
use chrono::NaiveDate;

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

/// Longest decimal as written, and the most digits either side of the point.
const MAX_DECIMAL_CHARS: usize = 100;
const MAX_DECIMAL_SCALE: i64 = 40;

/// What a value that is no decimal number is told.
pub const DECIMAL_EXPECTED: &str =
    "must be a decimal number like 12.50 (send it as a string to keep every digit)";

/// An exact decimal from its text, normalised (`0012.500` is `12.5`), or why it is
/// refused: bounded in length before it is parsed, and in digits either side of the point.
pub fn exact_decimal(text: &str) -> Result<BigDecimal, String> {
    let text = text.trim();
    if text.is_empty() || text.len() > MAX_DECIMAL_CHARS {
        return Err(DECIMAL_EXPECTED.to_owned());
    }
    let number = BigDecimal::from_str(text)
        .map_err(|_| DECIMAL_EXPECTED.to_owned())?
        .normalized();
    let (digits, scale) = number.as_bigint_and_exponent();
    let whole_digits =
        i64::try_from(digits.to_string().trim_start_matches('-').len()).unwrap_or(i64::MAX) - scale;
    if !(-MAX_DECIMAL_SCALE..=MAX_DECIMAL_SCALE).contains(&scale) || whole_digits > MAX_DECIMAL_SCALE {
        return Err(format!(
            "must have at most {MAX_DECIMAL_SCALE} digits before and after the point"
        ));
    }
    Ok(number)
}

/// An ISO date (`2026-01-31`), or BAD_USER_INPUT at `path`.
pub fn date(raw: &str, path: &str) -> AppResult<NaiveDate> {
    NaiveDate::parse_from_str(raw.trim(), "%Y-%m-%d")
        .map_err(|_| AppError::invalid(path, "must be a date like 2026-01-31"))
}
