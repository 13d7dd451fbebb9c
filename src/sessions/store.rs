//! SQL for sessions and refresh tokens.

use chrono::{DateTime, Duration, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{NewSession, RefreshTokenRow, SessionRow};
use crate::db::schema::{refresh_tokens, sessions, users};

/// How stale `last_used_at` may get before a request refreshes it.
const TOUCH_INTERVAL_SECS: i64 = 60;

/// Opens a session.
pub async fn insert_session(conn: &mut AsyncPgConnection, session: &NewSession<'_>) -> QueryResult<()> {
    diesel::insert_into(sessions::table)
        .values(session)
        .execute(conn)
        .await
        .map(|_| ())
}

/// The session, locked for update.
pub async fn find_for_update(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<SessionRow>> {
    sessions::table
        .find(id)
        .select(SessionRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// The session if it is neither revoked nor expired and its user still exists, with
/// whether that user's address is verified.
pub async fn find_live(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<Option<(SessionRow, bool)>> {
    sessions::table
        .inner_join(users::table)
        .filter(sessions::id.eq(id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .filter(users::deleted_at.is_null())
        .select((SessionRow::as_select(), users::email_verified_at.is_not_null()))
        .first(conn)
        .await
        .optional()
}

/// Whether the account with `email` opened a session from `ip` since `since`: an address
/// its owner is known to use.
pub async fn signed_in_from(
    conn: &mut AsyncPgConnection,
    email: &str,
    ip: &str,
    since: DateTime<Utc>,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        sessions::table
            .inner_join(users::table)
            .filter(users::email.eq(email))
            .filter(sessions::ip.eq(ip))
            .filter(sessions::created_at.gt(since)),
    ))
    .get_result(conn)
    .await
}

/// Records use of a session, at most once a minute.
pub async fn touch(conn: &mut AsyncPgConnection, id: Uuid, now: DateTime<Utc>) -> QueryResult<()> {
    let stale = now - Duration::seconds(TOUCH_INTERVAL_SECS);
    diesel::update(
        sessions::table.find(id).filter(
            sessions::last_used_at
                .is_null()
                .or(sessions::last_used_at.lt(stale)),
        ),
    )
    .set(sessions::last_used_at.eq(now))
    .execute(conn)
    .await
    .map(|_| ())
}

/// The user's live sessions, most recently used first.
pub async fn list_live_for_user(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<Vec<SessionRow>> {
    sessions::table
        .filter(sessions::user_id.eq(user_id))
        .filter(sessions::revoked_at.is_null())
        .filter(sessions::expires_at.gt(now))
        .order((
            sessions::last_used_at.desc().nulls_last(),
            sessions::created_at.desc(),
        ))
        .select(SessionRow::as_select())
        .load(conn)
        .await
}

/// Revokes one of the user's live sessions; false when there is none with that id.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    diesel::update(
        sessions::table
            .find(id)
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null()),
    )
    .set((sessions::revoked_at.eq(now), sessions::revoked_reason.eq(reason)))
    .execute(conn)
    .await
    .map(|count| count > 0)
}

/// Revokes all the user's sessions except `keep`.
pub async fn revoke_all_for_user(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    keep: Option<Uuid>,
    reason: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let keep = keep.unwrap_or(Uuid::nil());
    diesel::update(
        sessions::table
            .filter(sessions::user_id.eq(user_id))
            .filter(sessions::revoked_at.is_null())
            .filter(sessions::id.ne(keep)),
    )
    .set((sessions::revoked_at.eq(now), sessions::revoked_reason.eq(reason)))
    .execute(conn)
    .await
    .map(|_| ())
}

/// Forgets where the user's sessions came from (their data is being erased).
pub async fn erase_client_details(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<()> {
    diesel::update(sessions::table.filter(sessions::user_id.eq(user_id)))
        .set((
            sessions::ip.eq(None::<String>),
            sessions::user_agent.eq(None::<String>),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Slides the session's end forward after a refresh.
pub async fn extend(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(sessions::table.find(id))
        .set((
            sessions::expires_at.eq(expires_at),
            sessions::last_used_at.eq(now),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Stores a refresh token's hash.
pub async fn insert_refresh_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    session_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(refresh_tokens::table)
        .values((
            refresh_tokens::token_hash.eq(hash),
            refresh_tokens::session_id.eq(session_id),
            refresh_tokens::created_at.eq(now),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The refresh token with this hash, locked for update.
pub async fn find_refresh_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
) -> QueryResult<Option<RefreshTokenRow>> {
    refresh_tokens::table
        .find(hash)
        .select(RefreshTokenRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Spends a refresh token.
pub async fn mark_refresh_token_used(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(refresh_tokens::table.find(hash))
        .set(refresh_tokens::used_at.eq(now))
        .execute(conn)
        .await
        .map(|_| ())
}
