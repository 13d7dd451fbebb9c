//! Sliding-window rate limits kept in PostgreSQL, so every server instance shares them and
//! tests can move the App clock through a window.

mod store;

use chrono::{DateTime, Duration, Utc};
use diesel_async::AsyncPgConnection;

use crate::error::{AppError, AppResult};

/// A limit: at most `max` hits per `key` in any `window`.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub bucket: &'static str,
    pub max: u32,
    pub window: Duration,
}

impl Limit {
    /// Fifteen-minute window, the one every auth flow uses.
    pub const fn per_15_minutes(bucket: &'static str, max: u32) -> Self {
        Self {
            bucket,
            max,
            window: Duration::minutes(15),
        }
    }
}

/// Counts one hit for `key`, or answers RATE_LIMITED when the window is already full.
pub async fn hit(conn: &mut AsyncPgConnection, limit: Limit, key: &str, now: DateTime<Utc>) -> AppResult<()> {
    check(conn, limit, key, now).await?;
    store::insert_hit(conn, limit.bucket, key, now).await?;
    Ok(())
}

/// Answers RATE_LIMITED when the window for `key` is full, without counting a hit.
pub async fn check(
    conn: &mut AsyncPgConnection,
    limit: Limit,
    key: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    store::lock_key(conn, limit.bucket, key).await?;
    let since = now - limit.window;
    let (count, oldest) = store::hits_since(conn, limit.bucket, key, since).await?;
    if count < i64::from(limit.max) {
        return Ok(());
    }
    let retry_at = oldest.unwrap_or(now) + limit.window;
    let seconds = (retry_at - now).num_seconds().max(1);
    Err(AppError::rate_limited(seconds.unsigned_abs()))
}

/// Counts one hit without checking (e.g. a failed login).
pub async fn record(
    conn: &mut AsyncPgConnection,
    limit: Limit,
    key: &str,
    now: DateTime<Utc>,
) -> AppResult<()> {
    store::insert_hit(conn, limit.bucket, key, now).await?;
    Ok(())
}

/// Forgets the hits of `key` (e.g. failed logins after a successful one).
pub async fn clear(conn: &mut AsyncPgConnection, limit: Limit, key: &str) -> AppResult<()> {
    store::delete_hits(conn, limit.bucket, key).await?;
    Ok(())
}
