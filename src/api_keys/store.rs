//! SQL for API keys. Keys are reached through their company; a key is found for sign-in
//! by the public id its secret carries.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{ApiKeyRow, NewApiKey};
use crate::companies::model::RoleRow;
use crate::db::schema::{api_keys, roles};

/// Stores a new key.
pub async fn insert(conn: &mut AsyncPgConnection, key: &NewApiKey<'_>) -> QueryResult<ApiKeyRow> {
    diesel::insert_into(api_keys::table)
        .values(key)
        .returning(ApiKeyRow::as_returning())
        .get_result(conn)
        .await
}

/// The key whose secret carries `public_id`, with its secret's hash.
pub async fn find_by_public_id(
    conn: &mut AsyncPgConnection,
    public_id: &str,
) -> QueryResult<Option<(ApiKeyRow, Vec<u8>)>> {
    api_keys::table
        .filter(api_keys::public_id.eq(public_id))
        .select((ApiKeyRow::as_select(), api_keys::secret_hash))
        .first(conn)
        .await
        .optional()
}

/// A key of the company (None: no such key there); `lock` takes a row lock for a change.
pub async fn find_in_company(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    id: Uuid,
    lock: bool,
) -> QueryResult<Option<ApiKeyRow>> {
    let query = api_keys::table
        .filter(api_keys::id.eq(id))
        .filter(api_keys::company_id.eq(company_id))
        .select(ApiKeyRow::as_select());
    if lock {
        query.for_update().first(conn).await.optional()
    } else {
        query.first(conn).await.optional()
    }
}

/// The company a key belongs to (for a caller who names a key by id alone).
pub async fn company_of(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Uuid>> {
    api_keys::table
        .filter(api_keys::id.eq(id))
        .select(api_keys::company_id)
        .first(conn)
        .await
        .optional()
}

/// An unrevoked key and its role, for its standing (expiry is the caller's to judge).
pub async fn unrevoked_with_role(
    conn: &mut AsyncPgConnection,
    id: Uuid,
) -> QueryResult<Option<(ApiKeyRow, RoleRow)>> {
    api_keys::table
        .inner_join(roles::table)
        .filter(api_keys::id.eq(id))
        .filter(api_keys::revoked_at.is_null())
        .select((ApiKeyRow::as_select(), RoleRow::as_select()))
        .first(conn)
        .await
        .optional()
}

/// The company's keys, newest first (revoked ones included).
pub async fn list(conn: &mut AsyncPgConnection, company_id: Uuid) -> QueryResult<Vec<ApiKeyRow>> {
    api_keys::table
        .filter(api_keys::company_id.eq(company_id))
        .order((api_keys::created_at.desc(), api_keys::id.desc()))
        .select(ApiKeyRow::as_select())
        .load(conn)
        .await
}

/// Keys by id, for the loader (ids come from rows already scoped to the caller).
pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<ApiKeyRow>> {
    api_keys::table
        .filter(api_keys::id.eq_any(ids))
        .select(ApiKeyRow::as_select())
        .load(conn)
        .await
}

/// How many of the company's keys are live (unrevoked, unexpired).
pub async fn count_live(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<i64> {
    api_keys::table
        .filter(api_keys::company_id.eq(company_id))
        .filter(api_keys::revoked_at.is_null())
        .filter(api_keys::expires_at.is_null().or(api_keys::expires_at.gt(now)))
        .count()
        .get_result(conn)
        .await
}

/// How many live keys act with the role.
pub async fn count_live_with_role(
    conn: &mut AsyncPgConnection,
    role_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<i64> {
    api_keys::table
        .filter(api_keys::role_id.eq(role_id))
        .filter(api_keys::revoked_at.is_null())
        .filter(api_keys::expires_at.is_null().or(api_keys::expires_at.gt(now)))
        .count()
        .get_result(conn)
        .await
}

/// Gives the keys of a role that no longer act (revoked or expired) another role, before
/// the role goes.
pub async fn move_dead_to_role(
    conn: &mut AsyncPgConnection,
    role_id: Uuid,
    to: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    let dead = api_keys::revoked_at
        .is_not_null()
        .or(api_keys::expires_at.le(now));
    diesel::update(api_keys::table.filter(api_keys::role_id.eq(role_id)).filter(dead))
        .set(api_keys::role_id.eq(to))
        .execute(conn)
        .await
}

/// Revokes a key at `now`.
pub async fn revoke(conn: &mut AsyncPgConnection, id: Uuid, now: DateTime<Utc>) -> QueryResult<ApiKeyRow> {
    diesel::update(api_keys::table.filter(api_keys::id.eq(id)))
        .set(api_keys::revoked_at.eq(now))
        .returning(ApiKeyRow::as_returning())
        .get_result(conn)
        .await
}

/// Marks the key used at `now`, unless it was marked within the last minute (by any
/// instance).
pub async fn touch(conn: &mut AsyncPgConnection, id: Uuid, now: DateTime<Utc>) -> QueryResult<()> {
    let a_minute_ago = now - chrono::Duration::minutes(1);
    diesel::update(
        api_keys::table.filter(api_keys::id.eq(id)).filter(
            api_keys::last_used_at
                .is_null()
                .or(api_keys::last_used_at.le(a_minute_ago)),
        ),
    )
    .set(api_keys::last_used_at.eq(now))
    .execute(conn)
    .await
    .map(|_| ())
}
