//! SQL for rate-limit hits.

use chrono::{DateTime, Utc};
use diesel::dsl::{count_star, min};
use diesel::prelude::*;
use diesel::sql_types::Text;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::rate_limit_hits;

/// Serialises concurrent hits on one key until the surrounding transaction ends.
pub async fn lock_key(conn: &mut AsyncPgConnection, bucket: &str, key: &str) -> QueryResult<()> {
    diesel::sql_query("SELECT pg_advisory_xact_lock(hashtext($1 || ':' || $2))")
        .bind::<Text, _>(bucket)
        .bind::<Text, _>(key)
        .execute(conn)
        .await
        .map(|_| ())
}

/// How many hits `key` has since `since`, and when the oldest of them was.
pub async fn hits_since(
    conn: &mut AsyncPgConnection,
    bucket: &str,
    key: &str,
    since: DateTime<Utc>,
) -> QueryResult<(i64, Option<DateTime<Utc>>)> {
    rate_limit_hits::table
        .filter(rate_limit_hits::bucket.eq(bucket))
        .filter(rate_limit_hits::key.eq(key))
        .filter(rate_limit_hits::hit_at.gt(since))
        .select((count_star(), min(rate_limit_hits::hit_at)))
        .get_result(conn)
        .await
}

/// Records a hit, returning its id, and drops this key's hits that are older than a day.
pub async fn insert_hit(
    conn: &mut AsyncPgConnection,
    bucket: &str,
    key: &str,
    at: DateTime<Utc>,
) -> QueryResult<i64> {
    diesel::delete(
        rate_limit_hits::table
            .filter(rate_limit_hits::bucket.eq(bucket))
            .filter(rate_limit_hits::key.eq(key))
            .filter(rate_limit_hits::hit_at.lt(at - chrono::Duration::days(1))),
    )
    .execute(conn)
    .await?;
    diesel::insert_into(rate_limit_hits::table)
        .values((
            rate_limit_hits::bucket.eq(bucket),
            rate_limit_hits::key.eq(key),
            rate_limit_hits::hit_at.eq(at),
        ))
        .returning(rate_limit_hits::id)
        .get_result(conn)
        .await
}

/// Removes one hit.
pub async fn delete_hit(conn: &mut AsyncPgConnection, id: i64) -> QueryResult<()> {
    diesel::delete(rate_limit_hits::table.find(id))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Removes every hit of `key` in `bucket`.
pub async fn delete_hits(conn: &mut AsyncPgConnection, bucket: &str, key: &str) -> QueryResult<()> {
    diesel::delete(
        rate_limit_hits::table
            .filter(rate_limit_hits::bucket.eq(bucket))
            .filter(rate_limit_hits::key.eq(key)),
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Removes every hit of `key` and of the keys composed from it (`key`, `separator`, …),
/// whatever the bucket.
pub async fn delete_key(conn: &mut AsyncPgConnection, key: &str, separator: char) -> QueryResult<()> {
    diesel::sql_query("DELETE FROM rate_limit_hits WHERE key = $1 OR starts_with(key, $1 || $2)")
        .bind::<Text, _>(key)
        .bind::<Text, _>(separator.to_string())
        .execute(conn)
        .await
        .map(|_| ())
}
