//! Which error type belongs where:
//! - `anyhow::Error` at startup and in the CLI, where the only thing to do is report and exit;
//! - `diesel::QueryResult` in `store.rs` modules, which know nothing of policy;
//! - [`AppError`] in services and resolvers: a client-facing code, a message safe to show,
//!   and for bad input the fields at fault. Internal causes are kept for the log only.

use std::fmt;

use serde::Serialize;

/// The machine-readable codes clients branch on (`extensions.code`, see the contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    Unauthenticated,
    Forbidden,
    NotFound,
    BadUserInput,
    Conflict,
    EmailNotVerified,
    RateLimited,
    PersistedQueryNotFound,
    PersistedQueryNotAllowed,
    QueryTooComplex,
    Internal,
}

impl ErrorCode {
    /// The code as it appears in `extensions.code`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unauthenticated => "UNAUTHENTICATED",
            Self::Forbidden => "FORBIDDEN",
            Self::NotFound => "NOT_FOUND",
            Self::BadUserInput => "BAD_USER_INPUT",
            Self::Conflict => "CONFLICT",
            Self::EmailNotVerified => "EMAIL_NOT_VERIFIED",
            Self::RateLimited => "RATE_LIMITED",
            Self::PersistedQueryNotFound => "PERSISTED_QUERY_NOT_FOUND",
            Self::PersistedQueryNotAllowed => "PERSISTED_QUERY_NOT_ALLOWED",
            Self::QueryTooComplex => "QUERY_TOO_COMPLEX",
            Self::Internal => "INTERNAL",
        }
    }
}

/// One invalid input field: `path` names it as the client sent it, dotted (e.g.
/// `rows.3.litres`); clients receive it as a list like GraphQL's own error paths
/// (`["rows", 3, "litres"]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub path: String,
    pub message: String,
}

impl Serialize for FieldError {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeStruct;
        let path: Vec<serde_json::Value> = self
            .path
            .split('.')
            .map(|segment| match segment.parse::<u64>() {
                Ok(index) => serde_json::Value::from(index),
                Err(_) => serde_json::Value::from(segment),
            })
            .collect();
        let mut out = serializer.serialize_struct("FieldError", 2)?;
        out.serialize_field("path", &path)?;
        out.serialize_field("message", &self.message)?;
        out.end()
    }
}

/// The error every service returns. It deliberately does not implement `Display`, so the
/// GraphQL layer's conversion is the only way it reaches a client.
pub struct AppError {
    pub code: ErrorCode,
    pub message: String,
    pub fields: Vec<FieldError>,
    /// Seconds until a rate-limited caller may try again.
    pub retry_after: Option<u64>,
    /// What a client can act on beyond the code (`extensions.reason`, e.g. TOTP_REQUIRED).
    pub reason: Option<&'static str>,
    /// The hidden cause of an INTERNAL error; logged, never shown.
    pub source: Option<anyhow::Error>,
}

/// Shorthand for service results.
pub type AppResult<T> = Result<T, AppError>;

impl AppError {
    fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
            fields: Vec::new(),
            retry_after: None,
            reason: None,
            source: None,
        }
    }

    /// Adds what a client can act on beyond the code (`extensions.reason`).
    #[must_use]
    pub fn with_reason(mut self, reason: &'static str) -> Self {
        self.reason = Some(reason);
        self
    }

    /// The caller is not signed in, or their credentials are no longer valid.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Unauthenticated, message)
    }

    /// The caller may see the object but not do this to it.
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Forbidden, message)
    }

    /// The object does not exist, or the caller may not know that it does.
    pub fn not_found(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("{what} not found"))
    }

    /// The object existed and was deleted (what a live stream following it ends with).
    pub fn deleted(what: &str) -> Self {
        Self::new(ErrorCode::NotFound, format!("the {what} was deleted"))
    }

    /// The request conflicts with the current state (duplicate, stale, last owner...).
    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Conflict, message)
    }

    /// A document was sent by a hash the server does not know; the message is the one
    /// Apollo's clients look for before they send the document in full.
    pub fn persisted_query_not_found() -> Self {
        Self::new(ErrorCode::PersistedQueryNotFound, "PersistedQueryNotFound")
    }

    /// The caller may run only documents registered in advance, and this is not one.
    pub fn persisted_query_not_allowed() -> Self {
        Self::new(
            ErrorCode::PersistedQueryNotAllowed,
            "only documents registered for your company may run here: send a registered document by its hash",
        )
    }

    /// The account must verify its email address first.
    pub fn email_not_verified() -> Self {
        Self::new(
            ErrorCode::EmailNotVerified,
            "verify your email address to use this operation",
        )
    }

    /// Too many attempts; `retry_after` seconds until the next one is accepted.
    pub fn rate_limited(retry_after: u64) -> Self {
        let mut err = Self::new(
            ErrorCode::RateLimited,
            format!("too many attempts; try again in {retry_after} seconds"),
        );
        err.retry_after = Some(retry_after);
        err
    }

    /// The server (or the company) already runs as much of this as it allows; `message`
    /// says what and which setting, `retry_after` when to try again.
    pub fn busy(message: impl Into<String>, retry_after: u64) -> Self {
        metrics::counter!("guildhall_rate_limit_refusals_total", "limit" => "capacity").increment(1);
        let mut err = Self::new(ErrorCode::RateLimited, message);
        err.retry_after = Some(retry_after);
        err
    }

    /// Invalid input in one field.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::invalid_fields(vec![FieldError {
            path: path.into(),
            message: message.into(),
        }])
    }

    /// Invalid input in several fields, reported together.
    pub fn invalid_fields(fields: Vec<FieldError>) -> Self {
        let message = match fields.as_slice() {
            [one] => format!("{}: {}", one.path, one.message),
            _ => format!("{} input fields are invalid", fields.len()),
        };
        let mut err = Self::new(ErrorCode::BadUserInput, message);
        err.fields = fields;
        err
    }

    /// An unexpected failure: the cause is logged, the client sees only INTERNAL.
    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        let mut err = Self::new(ErrorCode::Internal, "internal error");
        err.source = Some(cause.into());
        err
    }
}

impl fmt::Debug for AppError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AppError")
            .field("code", &self.code)
            .field("message", &self.message)
            .field("fields", &self.fields)
            .field("source", &self.source)
            .finish()
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(err: diesel::result::Error) -> Self {
        Self::internal(err)
    }
}

impl From<diesel_async::pooled_connection::deadpool::PoolError> for AppError {
    fn from(err: diesel_async::pooled_connection::deadpool::PoolError) -> Self {
        Self::internal(err)
    }
}

/// Whether a database error is a unique-constraint violation (a lost race for a key).
pub fn is_unique_violation(err: &diesel::result::Error) -> bool {
    matches!(
        err,
        diesel::result::Error::DatabaseError(diesel::result::DatabaseErrorKind::UniqueViolation, _)
    )
}

/// Collects the field errors of several parsed inputs so a client sees all of them at once.
#[derive(Default)]
pub struct InputCheck {
    fields: Vec<FieldError>,
    other: Option<AppError>,
}

impl InputCheck {
    /// Keeps the value of a successful parse, or remembers why it failed.
    pub fn take<T>(&mut self, parsed: AppResult<T>) -> Option<T> {
        match parsed {
            Ok(value) => Some(value),
            Err(err) if err.code == ErrorCode::BadUserInput => {
                self.fields.extend(err.fields);
                None
            }
            Err(err) => {
                self.other.get_or_insert(err);
                None
            }
        }
    }

    /// Fails with every collected field error, if there were any.
    pub fn finish(self) -> AppResult<()> {
        if let Some(err) = self.other {
            return Err(err);
        }
        if self.fields.is_empty() {
            Ok(())
        } else {
            Err(AppError::invalid_fields(self.fields))
        }
    }
}
