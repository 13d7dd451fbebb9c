//! SQL for accounts and their one-time tokens.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{NewUser, NewUserToken, ProfileChanges, TokenPurpose, UserRow, UserTokenRow};
use crate::db::schema::{recovery_codes, user_tokens, user_totp, users};

/// Inserts an account; None when the address already has one.
pub async fn insert_user(conn: &mut AsyncPgConnection, user: &NewUser<'_>) -> QueryResult<Option<UserRow>> {
    diesel::insert_into(users::table)
        .values(user)
        .on_conflict_do_nothing()
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Deletes the account registered for `email` if it never verified the address (someone
/// who proves the address, with an invitation link, takes it over); returns its id.
pub async fn delete_unverified(conn: &mut AsyncPgConnection, email: &str) -> QueryResult<Option<Uuid>> {
    diesel::delete(
        users::table
            .filter(users::email.eq(email))
            .filter(users::email_verified_at.is_null())
            .filter(users::deleted_at.is_null()),
    )
    .returning(users::id)
    .get_result(conn)
    .await
    .optional()
}

/// The live account with this (normalised) address.
pub async fn find_by_email(conn: &mut AsyncPgConnection, email: &str) -> QueryResult<Option<UserRow>> {
    users::table
        .filter(users::email.eq(email))
        .filter(users::deleted_at.is_null())
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The live account with this id.
pub async fn find_by_id(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<UserRow>> {
    users::table
        .find(id)
        .filter(users::deleted_at.is_null())
        .select(UserRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Users by id, deleted ones included (they show as "Deleted user"), for the loader.
pub async fn users_by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<UserRow>> {
    users::table
        .filter(users::id.eq_any(ids))
        .select(UserRow::as_select())
        .load(conn)
        .await
}

/// Marks the address verified.
pub async fn mark_email_verified(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<UserRow> {
    diesel::update(users::table.find(id))
        .set((users::email_verified_at.eq(now), users::updated_at.eq(now)))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
}

/// Moves the account to a new, verified address.
pub async fn set_email(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    email: &str,
    now: DateTime<Utc>,
) -> QueryResult<UserRow> {
    diesel::update(users::table.find(id))
        .set((
            users::email.eq(email),
            users::email_verified_at.eq(now),
            users::updated_at.eq(now),
        ))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
}

/// Replaces the password hash.
pub async fn set_password_hash(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    hash: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((users::password_hash.eq(hash), users::updated_at.eq(now)))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Applies profile changes.
pub async fn update_profile(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    changes: &ProfileChanges,
    now: DateTime<Utc>,
) -> QueryResult<UserRow> {
    diesel::update(users::table.find(id))
        .set((changes, users::updated_at.eq(now)))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
}

/// Replaces the UI preferences document.
pub async fn set_preferences(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    preferences: &serde_json::Value,
    now: DateTime<Utc>,
) -> QueryResult<UserRow> {
    diesel::update(users::table.find(id))
        .set((users::preferences.eq(preferences), users::updated_at.eq(now)))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
}

/// Records a successful sign-in.
pub async fn touch_last_login(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<UserRow> {
    diesel::update(users::table.find(id))
        .set(users::last_login_at.eq(now))
        .returning(UserRow::as_returning())
        .get_result(conn)
        .await
}

/// Erases personal data, keeping the row (and its id) for history that points at it.
pub async fn anonymise(conn: &mut AsyncPgConnection, id: Uuid, now: DateTime<Utc>) -> QueryResult<()> {
    diesel::update(users::table.find(id))
        .set((
            users::email.eq(None::<String>),
            users::name.eq("Deleted user"),
            users::password_hash.eq(None::<String>),
            users::phone.eq(None::<String>),
            users::bio.eq(None::<String>),
            users::avatar_url.eq(None::<String>),
            users::preferences.eq(serde_json::json!({})),
            users::totp_enabled.eq(false),
            users::deleted_at.eq(now),
            users::updated_at.eq(now),
        ))
        .execute(conn)
        .await?;
    diesel::delete(user_tokens::table.filter(user_tokens::user_id.eq(id)))
        .execute(conn)
        .await?;
    diesel::delete(user_totp::table.find(id)).execute(conn).await?;
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(id)))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Stores a one-time token.
pub async fn insert_token(conn: &mut AsyncPgConnection, token: &NewUserToken<'_>) -> QueryResult<()> {
    diesel::insert_into(user_tokens::table)
        .values(token)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Kills every live unused token of `purpose` for the user (a new one replaces them, or
/// the flow was called off); answers how many there were.
pub async fn invalidate_open_tokens(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    purpose: TokenPurpose,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(
        user_tokens::table
            .filter(user_tokens::user_id.eq(user_id))
            .filter(user_tokens::purpose.eq(purpose.as_str()))
            .filter(user_tokens::used_at.is_null())
            .filter(user_tokens::expires_at.gt(now)),
    )
    .set(user_tokens::used_at.eq(now))
    .execute(conn)
    .await
}

/// The unused, unexpired token with this hash and one of `purposes`, locked for update.
pub async fn find_open_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    purposes: &[TokenPurpose],
    now: DateTime<Utc>,
) -> QueryResult<Option<UserTokenRow>> {
    let purposes: Vec<&str> = purposes.iter().map(|p| p.as_str()).collect();
    user_tokens::table
        .filter(user_tokens::token_hash.eq(hash))
        .filter(user_tokens::purpose.eq_any(purposes))
        .filter(user_tokens::used_at.is_null())
        .filter(user_tokens::expires_at.gt(now))
        .select(UserTokenRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

/// Spends a token.
pub async fn mark_token_used(conn: &mut AsyncPgConnection, id: Uuid, now: DateTime<Utc>) -> QueryResult<()> {
    diesel::update(user_tokens::table.find(id))
        .set(user_tokens::used_at.eq(now))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The account's two-factor secrets: (the one in use, the one waiting for its first code,
/// the last step a code was accepted for), the secrets sealed.
pub async fn totp_state(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> QueryResult<(Option<Vec<u8>>, Option<Vec<u8>>, Option<i64>)> {
    user_totp::table
        .find(user_id)
        .select((
            user_totp::secret_sealed,
            user_totp::pending_sealed,
            user_totp::last_step,
        ))
        .first(conn)
        .await
        .optional()
        .map(Option::unwrap_or_default)
}

/// Keeps a new sealed secret waiting for its first code (replacing any earlier one).
pub async fn set_pending_totp(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    sealed: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(user_totp::table)
        .values((
            user_totp::user_id.eq(user_id),
            user_totp::pending_sealed.eq(sealed),
            user_totp::updated_at.eq(now),
        ))
        .on_conflict(user_totp::user_id)
        .do_update()
        .set((
            user_totp::pending_sealed.eq(sealed),
            user_totp::updated_at.eq(now),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Turns two-factor sign-in on with the waiting secret `sealed`, whose code for `step` was
/// just given; false when that secret is no longer the one waiting.
pub async fn enable_totp(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    sealed: &[u8],
    step: i64,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let moved = diesel::update(
        user_totp::table
            .find(user_id)
            .filter(user_totp::pending_sealed.eq(sealed)),
    )
    .set((
        user_totp::secret_sealed.eq(sealed),
        user_totp::pending_sealed.eq(None::<Vec<u8>>),
        user_totp::last_step.eq(step),
        user_totp::updated_at.eq(now),
    ))
    .execute(conn)
    .await?;
    if moved != 1 {
        return Ok(false);
    }
    diesel::update(users::table.find(user_id))
        .set((users::totp_enabled.eq(true), users::updated_at.eq(now)))
        .execute(conn)
        .await
        .map(|_| true)
}

/// Turns two-factor sign-in off and forgets its secrets and recovery codes.
pub async fn disable_totp(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(users::table.find(user_id))
        .set((users::totp_enabled.eq(false), users::updated_at.eq(now)))
        .execute(conn)
        .await?;
    diesel::delete(user_totp::table.find(user_id))
        .execute(conn)
        .await?;
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Accepts a code for `step` unless one for it or a later step was accepted already
/// (RFC 6238's single use); true when accepted.
pub async fn accept_totp_step(conn: &mut AsyncPgConnection, user_id: Uuid, step: i64) -> QueryResult<bool> {
    diesel::update(
        user_totp::table
            .find(user_id)
            .filter(user_totp::secret_sealed.is_not_null())
            .filter(user_totp::last_step.is_null().or(user_totp::last_step.lt(step))),
    )
    .set(user_totp::last_step.eq(step))
    .execute(conn)
    .await
    .map(|updated| updated == 1)
}

/// Replaces the account's recovery codes with these hashes.
pub async fn replace_recovery_codes(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    hashes: &[Vec<u8>],
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::delete(recovery_codes::table.filter(recovery_codes::user_id.eq(user_id)))
        .execute(conn)
        .await?;
    let rows: Vec<_> = hashes
        .iter()
        .map(|hash| {
            (
                recovery_codes::user_id.eq(user_id),
                recovery_codes::code_hash.eq(hash),
                recovery_codes::created_at.eq(now),
            )
        })
        .collect();
    diesel::insert_into(recovery_codes::table)
        .values(&rows)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Uses up the recovery code with this hash; true when it existed unused.
pub async fn use_recovery_code(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    hash: &[u8],
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    diesel::update(
        recovery_codes::table
            .filter(recovery_codes::user_id.eq(user_id))
            .filter(recovery_codes::code_hash.eq(hash))
            .filter(recovery_codes::used_at.is_null()),
    )
    .set(recovery_codes::used_at.eq(now))
    .execute(conn)
    .await
    .map(|updated| updated == 1)
}
