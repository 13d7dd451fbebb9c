//! SQL for emission factors. A company sees its own versions and the defaults; on a date,
//! its version of a key wins over the default's, and of several versions in effect the
//! one that started last wins.

use chrono::NaiveDate;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{FactorRow, NewFactor};
use crate::db::schema::emission_factors;

/// What a listing asks for.
#[derive(Debug, Clone, Default)]
pub struct FactorFilter {
    /// Part of the key or label, any case.
    pub search: Option<String>,
    /// Only the version of each key in effect on this date.
    pub on: Option<NaiveDate>,
}

/// Escapes LIKE's wildcards so a search matches what was typed.
fn like_pattern(search: &str) -> String {
    let escaped = search
        .replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_");
    format!("%{escaped}%")
}

/// The company's factors and the defaults, by key (the company's first, then the latest
/// version first); with `on`, only the one version of each key in effect that day.
pub async fn list(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    filter: &FactorFilter,
) -> QueryResult<Vec<FactorRow>> {
    let mut query = emission_factors::table
        .filter(
            emission_factors::company_id
                .eq(company_id)
                .or(emission_factors::company_id.is_null()),
        )
        .select(FactorRow::as_select())
        .into_boxed();
    if let Some(search) = filter.search.as_deref() {
        let pattern = like_pattern(search);
        query = query.filter(
            emission_factors::key
                .ilike(pattern.clone())
                .or(emission_factors::label.ilike(pattern)),
        );
    }
    if let Some(day) = filter.on {
        query = query
            .filter(
                emission_factors::valid_from
                    .is_null()
                    .or(emission_factors::valid_from.le(day)),
            )
            .filter(
                emission_factors::valid_to
                    .is_null()
                    .or(emission_factors::valid_to.ge(day)),
            );
    }
    let mut rows: Vec<FactorRow> = query
        .order((
            emission_factors::key,
            emission_factors::company_id.is_null(),
            emission_factors::valid_from.desc().nulls_last(),
        ))
        .load(conn)
        .await?;
    if filter.on.is_some() {
        // In key order, the first of each key is the one in effect.
        rows.dedup_by(|later, first| later.key == first.key);
    }
    Ok(rows)
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
pub async fn insert(conn: &mut AsyncPgConnection, factor: &NewFactor) -> QueryResult<Option<FactorRow>> {
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
