//! Email addresses, parsed at the edge: services never see an unchecked string.

use std::str::FromStr;

use email_address::EmailAddress;

use crate::error::{AppError, AppResult};

/// Longest address, in bytes (RFC 5321's path limit).
pub const MAX_LENGTH: usize = 254;

/// A syntactically valid address, trimmed and lower-cased (the account key).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// Parses `raw`; `path` names the input field in errors.
    pub fn parse(raw: &str, path: &str) -> AppResult<Self> {
        let normalised = raw.trim().to_lowercase();
        let invalid = || AppError::invalid(path, "is not a valid email address");
        if normalised.is_empty() || normalised.len() > MAX_LENGTH {
            return Err(invalid());
        }
        let parsed = EmailAddress::from_str(&normalised).map_err(|_| invalid())?;
        // Display names ("Ann <ann@x.org>") and dotless domains are not account addresses.
        if parsed.as_str() != normalised || !parsed.domain().contains('.') {
            return Err(invalid());
        }
        Ok(Self(normalised))
    }

    /// The address as stored.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
