//! SQL for persisted documents.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types;
use diesel_async::{AsyncPgConnection, RunQueryDsl};

use crate::db::schema::persisted_documents;

/// The text persisted under `sha256`, marked used at `now`; None when none is.
pub async fn use_body(
    conn: &mut AsyncPgConnection,
    sha256: &str,
    now: DateTime<Utc>,
) -> QueryResult<Option<String>> {
    diesel::update(persisted_documents::table.find(sha256))
        .set(persisted_documents::last_used_at.eq(now))
        .returning(persisted_documents::body)
        .get_result(conn)
        .await
        .optional()
}

/// Keeps `body` under `sha256` (marked used at `now` if it was kept already).
pub async fn keep(
    conn: &mut AsyncPgConnection,
    sha256: &str,
    body: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(persisted_documents::table)
        .values((
            persisted_documents::sha256.eq(sha256),
            persisted_documents::body.eq(body),
            persisted_documents::created_at.eq(now),
            persisted_documents::last_used_at.eq(now),
        ))
        .on_conflict(persisted_documents::sha256)
        .do_update()
        .set(persisted_documents::last_used_at.eq(now))
        .execute(conn)
        .await?;
    Ok(())
}

/// Evicts all but the `keep` most recently used documents; answers how many went.
pub async fn evict_beyond(conn: &mut AsyncPgConnection, keep: i64) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM persisted_documents WHERE sha256 IN \
         (SELECT sha256 FROM persisted_documents ORDER BY last_used_at DESC, sha256 OFFSET $1)",
    )
    .bind::<sql_types::BigInt, _>(keep)
    .execute(conn)
    .await
}
