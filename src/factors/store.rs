//! SQL for emission factors: a company sees its own versions and the defaults, listed in
//! the order [`crate::factors::service::FactorBook`] picks the version in effect from.

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::FactorRow;
use crate::companies::store::escape_like;
use crate::db::schema::emission_factors;

/// The company's factor versions and the defaults, by key (the company's first, then the
/// latest start first); only keys or labels containing `search` (any case) when given.
pub async fn list(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    search: Option<&str>,
) -> QueryResult<Vec<FactorRow>> {
    let mut query = visible_to(company_id).select(FactorRow::as_select()).into_boxed();
    if let Some(search) = search {
        let pattern = format!("%{}%", escape_like(search));
        query = query.filter(
            emission_factors::key
                .ilike(pattern.clone())
                .or(emission_factors::label.ilike(pattern)),
        );
    }
    query.order(book_order()).load(conn).await
}

/// Every version of these keys the company sees, in the same order as [`list`].
pub async fn versions_of(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    keys: &[String],
) -> QueryResult<Vec<FactorRow>> {
    visible_to(company_id)
        .filter(emission_factors::key.eq_any(keys))
        .select(FactorRow::as_select())
        .order(book_order())
        .load(conn)
        .await
}

#[diesel::dsl::auto_type]
fn visible_to(company_id: Uuid) -> _ {
    emission_factors::table.filter(
        emission_factors::company_id
            .eq(company_id)
            .or(emission_factors::company_id.is_null()),
    )
}

#[diesel::dsl::auto_type]
fn book_order() -> _ {
    (
        emission_factors::key,
        emission_factors::company_id.is_null(),
        emission_factors::valid_from.desc().nulls_last(),
    )
}

/// A factor version by id, a default or any company's (the caller checks whose).
pub async fn find(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<FactorRow>> {
    emission_factors::table
        .find(id)
        .select(FactorRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Stores a version; None when the company already has a version of the key starting
/// that day.
pub async fn insert(conn: &mut AsyncPgConnection, factor: &FactorRow) -> QueryResult<Option<FactorRow>> {
    diesel::insert_into(emission_factors::table)
        .values(factor)
        .on_conflict_do_nothing()
        .returning(FactorRow::as_returning())
        .get_result(conn)
        .await
        .optional()
}

/// Deletes a company's version.
pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::delete(emission_factors::table.find(id))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The versions of these keys that belong to `owner` alone (None: the defaults).
pub async fn owned_versions(
    conn: &mut AsyncPgConnection,
    owner: Option<Uuid>,
    keys: &[String],
) -> QueryResult<Vec<FactorRow>> {
    emission_factors::table
        .filter(emission_factors::company_id.is_not_distinct_from(owner))
        .filter(emission_factors::key.eq_any(keys))
        .select(FactorRow::as_select())
        .order(book_order())
        .load(conn)
        .await
}

/// Stores versions; answers how many were new (a version its owner already has is skipped).
pub async fn insert_all(conn: &mut AsyncPgConnection, factors: &[FactorRow]) -> QueryResult<usize> {
    diesel::insert_into(emission_factors::table)
        .values(factors)
        .on_conflict_do_nothing()
        .execute(conn)
        .await
}
