//! SQL for persisted documents: those learned by hash, and those companies registered.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{NewRegisteredDocument, RegisteredDocumentRow};
use crate::auth::caller::Actor;
use crate::companies::store::reach_ids;
use crate::db::schema::{persisted_documents, registered_documents};

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

/// Registers documents for a company (or globally); one already registered there stays as
/// it is.
pub async fn register(
    conn: &mut AsyncPgConnection,
    documents: &[NewRegisteredDocument<'_>],
) -> QueryResult<usize> {
    diesel::insert_into(registered_documents::table)
        .values(documents)
        .on_conflict((registered_documents::company_id, registered_documents::sha256))
        .do_nothing()
        .execute(conn)
        .await
}

/// A company's registered documents, newest first.
pub async fn registered_for(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
) -> QueryResult<Vec<RegisteredDocumentRow>> {
    registered_documents::table
        .filter(registered_documents::company_id.eq(company_id))
        .order((registered_documents::created_at.desc(), registered_documents::id))
        .select(RegisteredDocumentRow::as_select())
        .load(conn)
        .await
}

/// Removes one of a company's registered documents; None when it has no such document.
pub async fn unregister(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<RegisteredDocumentRow>> {
    diesel::delete(
        registered_documents::table
            .filter(registered_documents::id.eq(id))
            .filter(registered_documents::company_id.eq(company_id)),
    )
    .returning(RegisteredDocumentRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// The text registered under `sha256` (by any company), marked used at `now`.
pub async fn use_registered_body(
    conn: &mut AsyncPgConnection,
    sha256: &str,
    now: DateTime<Utc>,
) -> QueryResult<Option<String>> {
    let bodies: Vec<String> =
        diesel::update(registered_documents::table.filter(registered_documents::sha256.eq(sha256)))
            .set(registered_documents::last_used_at.eq(now))
            .returning(registered_documents::body)
            .get_results(conn)
            .await?;
    Ok(bodies.into_iter().next())
}

/// Whether `sha256` is registered for a company `actor` reaches, or globally (None: an
/// anonymous caller, for whom only global documents count).
pub async fn is_registered_for(
    conn: &mut AsyncPgConnection,
    sha256: &str,
    actor: Option<Actor>,
) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Found {
        #[diesel(sql_type = sql_types::Bool)]
        registered: bool,
    }
    // `companies::store::reached_by` in SQL, with global documents admitted too.
    let (person, own_company) = actor.map_or((Uuid::nil(), Uuid::nil()), reach_ids);
    let found: Found = diesel::sql_query(
        "SELECT EXISTS (SELECT 1 FROM registered_documents d WHERE d.sha256 = $1 \
           AND (d.company_id IS NULL OR d.company_id = $3 \
                OR d.company_id IN (SELECT m.company_id FROM memberships m WHERE m.user_id = $2))) \
         AS registered",
    )
    .bind::<sql_types::Text, _>(sha256)
    .bind::<sql_types::Uuid, _>(person)
    .bind::<sql_types::Uuid, _>(own_company)
    .get_result(conn)
    .await?;
    Ok(found.registered)
}

/// How many documents the company has registered.
pub async fn count_registered(conn: &mut AsyncPgConnection, company_id: Uuid) -> QueryResult<i64> {
    registered_documents::table
        .filter(registered_documents::company_id.eq(company_id))
        .count()
        .get_result(conn)
        .await
}
