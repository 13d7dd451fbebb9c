//! SQL for unique-value claims: a row claims each unique field's value in
//! `data_row_uniques`, so concurrent writers cannot store the same value twice.

use diesel::prelude::*;
use diesel::sql_types;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::data_row_uniques;

#[derive(QueryableByName)]
struct Claim {
    #[diesel(sql_type = sql_types::Uuid)]
    field_id: Uuid,
    #[diesel(sql_type = sql_types::Text)]
    value: String,
    #[diesel(sql_type = sql_types::Uuid)]
    row_id: Uuid,
}

/// Claims unique values `(field, value, row)`; returns the claims that were already taken
/// (by another row, or earlier in the same list).
pub async fn claim_unique(
    conn: &mut AsyncPgConnection,
    claims: &[(Uuid, String, Uuid)],
) -> QueryResult<Vec<(Uuid, String, Uuid)>> {
    if claims.is_empty() {
        return Ok(Vec::new());
    }
    let fields: Vec<Uuid> = claims.iter().map(|c| c.0).collect();
    let values: Vec<&str> = claims.iter().map(|c| c.1.as_str()).collect();
    let rows: Vec<Uuid> = claims.iter().map(|c| c.2).collect();
    let won: Vec<Claim> = diesel::sql_query(
        "INSERT INTO data_row_uniques (field_id, value, row_id) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[]) \
         ON CONFLICT DO NOTHING RETURNING field_id, value, row_id",
    )
    .bind::<sql_types::Array<sql_types::Uuid>, _>(&fields)
    .bind::<sql_types::Array<sql_types::Text>, _>(&values)
    .bind::<sql_types::Array<sql_types::Uuid>, _>(&rows)
    .load(conn)
    .await?;
    let won: std::collections::HashSet<(Uuid, &str, Uuid)> = won
        .iter()
        .map(|c| (c.field_id, c.value.as_str(), c.row_id))
        .collect();
    Ok(claims
        .iter()
        .filter(|(f, v, r)| !won.contains(&(*f, v.as_str(), *r)))
        .cloned()
        .collect())
}

/// Gives up every claim of these rows (rows that will not be stored after all).
pub async fn release_rows(conn: &mut AsyncPgConnection, row_ids: &[Uuid]) -> QueryResult<()> {
    diesel::delete(data_row_uniques::table.filter(data_row_uniques::row_id.eq_any(row_ids)))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Gives up one row's claim on one field.
pub async fn release_field(conn: &mut AsyncPgConnection, row_id: Uuid, field_id: Uuid) -> QueryResult<()> {
    diesel::delete(
        data_row_uniques::table
            .filter(data_row_uniques::row_id.eq(row_id))
            .filter(data_row_uniques::field_id.eq(field_id)),
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Gives up every claim on a field (it is no longer unique, or is being re-claimed).
pub async fn release_all(conn: &mut AsyncPgConnection, field_id: Uuid) -> QueryResult<()> {
    diesel::delete(data_row_uniques::table.filter(data_row_uniques::field_id.eq(field_id)))
        .execute(conn)
        .await
        .map(|_| ())
}
