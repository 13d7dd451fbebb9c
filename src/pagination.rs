//! Keyset pagination for every list that can grow: a page size from `first` (default 20,
//! at most 100) and an opaque cursor naming the last row seen by (timestamp, id).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// Page size when the client gives none.
pub const DEFAULT_PAGE_SIZE: i64 = 20;
/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: i64 = 100;

/// A position in a list ordered by (`at`, `id`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub at: DateTime<Utc>,
    pub id: Uuid,
}

impl Cursor {
    /// The opaque text handed to clients.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(format!("{}|{}", self.at.to_rfc3339(), self.id))
    }

    /// Reads a cursor a client sent back; BAD_USER_INPUT on `after` when it is not ours.
    pub fn decode(text: &str) -> AppResult<Self> {
        let invalid = || AppError::invalid("after", "is not a cursor from this list");
        let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|_| invalid())?;
        let text = String::from_utf8(bytes).map_err(|_| invalid())?;
        let (at, id) = text.split_once('|').ok_or_else(invalid)?;
        Ok(Self {
            at: DateTime::parse_from_rfc3339(at)
                .map_err(|_| invalid())?
                .with_timezone(&Utc),
            id: Uuid::parse_str(id).map_err(|_| invalid())?,
        })
    }
}

/// What a client asked for: how many rows, after which one.
#[derive(Debug, Clone, Copy)]
pub struct PageRequest {
    pub size: i64,
    pub after: Option<Cursor>,
}

impl PageRequest {
    /// Parses the connection arguments `first` and `after`.
    pub fn parse(first: Option<i32>, after: Option<&str>) -> AppResult<Self> {
        let size = page_size(first)?;
        let after = after.map(Cursor::decode).transpose()?;
        Ok(Self { size, after })
    }

    /// Rows to load: one more than the page, to learn whether another page follows.
    pub fn limit(&self) -> i64 {
        self.size + 1
    }
}

/// The page size a client's `first` asks for: the default when absent, capped at the
/// maximum, BAD_USER_INPUT on `first` when negative.
pub fn page_size(first: Option<i32>) -> AppResult<i64> {
    match first {
        None => Ok(DEFAULT_PAGE_SIZE),
        Some(n) if n < 0 => Err(AppError::invalid("first", "must not be negative")),
        Some(n) => Ok(i64::from(n).min(MAX_PAGE_SIZE)),
    }
}

/// One page of a list.
#[derive(Debug)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub has_next: bool,
    /// Rows in the whole (filtered) list.
    pub total: i64,
}

impl<T> Page<T> {
    /// Builds a page from `limit()` loaded rows.
    pub fn from_rows(mut rows: Vec<T>, request: PageRequest, total: i64) -> Self {
        let size = usize::try_from(request.size).unwrap_or(0);
        let has_next = rows.len() > size;
        rows.truncate(size);
        Self {
            items: rows,
            has_next,
            total,
        }
    }
}
