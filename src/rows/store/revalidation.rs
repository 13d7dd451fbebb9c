//! SQL for a field change's pass over the stored rows: reading their values in batches,
//! writing converted ones, dropping a removed field's key.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::data_rows;

/// A stored row's id, order and values, for walking a whole table in batches.
#[derive(QueryableByName)]
pub struct StoredCells {
    #[diesel(sql_type = sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = sql_types::Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = sql_types::Jsonb)]
    pub cells: serde_json::Value,
    /// The last day of the row's cycle, if it has one.
    #[diesel(sql_type = sql_types::Nullable<sql_types::Date>)]
    pub cycle_ends_on: Option<chrono::NaiveDate>,
    /// Whether that cycle is closed (its rows are read-only).
    #[diesel(sql_type = sql_types::Bool)]
    pub cycle_closed: bool,
}

/// The next `limit` rows of the table (of one cycle, if given) after `after`, oldest first.
pub async fn cells_batch(
    conn: &mut AsyncPgConnection,
    table_id: Uuid,
    cycle_id: Option<Uuid>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<StoredCells>> {
    batch(conn, (table_id, cycle_id), after, limit, "").await
}

/// [`cells_batch`] of the whole table, the rows locked against writers (not against
/// references to them) until the transaction ends.
pub async fn locked_batch(
    conn: &mut AsyncPgConnection,
    table_id: Uuid,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<StoredCells>> {
    batch(conn, (table_id, None), after, limit, "FOR NO KEY UPDATE OF r").await
}

async fn batch(
    conn: &mut AsyncPgConnection,
    (table_id, cycle_id): (Uuid, Option<Uuid>),
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
    lock: &str,
) -> QueryResult<Vec<StoredCells>> {
    let (at, id) = after.unzip();
    diesel::sql_query(format!(
        "SELECT r.id, r.created_at, r.cells, c.ends_on AS cycle_ends_on, \
         c.closed_at IS NOT NULL AS cycle_closed FROM data_rows r \
         LEFT JOIN cycles c ON c.id = r.cycle_id WHERE r.table_id = $1 \
         AND ($5::uuid IS NULL OR r.cycle_id = $5) \
         AND ($2::timestamptz IS NULL OR (r.created_at, r.id) > ($2, $3)) ORDER BY r.created_at, r.id LIMIT $4 {lock}",
    ))
    .bind::<sql_types::Uuid, _>(table_id)
    .bind::<sql_types::Nullable<sql_types::Timestamptz>, _>(at)
    .bind::<sql_types::Nullable<sql_types::Uuid>, _>(id)
    .bind::<sql_types::BigInt, _>(limit)
    .bind::<sql_types::Nullable<sql_types::Uuid>, _>(cycle_id)
    .load(conn)
    .await
}

/// Sets the value of `key` in each listed row.
pub async fn set_values(
    conn: &mut AsyncPgConnection,
    key: &str,
    updates: &[(Uuid, serde_json::Value)],
) -> QueryResult<()> {
    if updates.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = updates.iter().map(|u| u.0).collect();
    let values: Vec<&serde_json::Value> = updates.iter().map(|u| &u.1).collect();
    diesel::sql_query(
        "UPDATE data_rows r SET cells = jsonb_set(r.cells, ARRAY[$1], v.value) \
         FROM unnest($2::uuid[], $3::jsonb[]) AS v(id, value) WHERE r.id = v.id",
    )
    .bind::<sql_types::Text, _>(key)
    .bind::<sql_types::Array<sql_types::Uuid>, _>(&ids)
    .bind::<sql_types::Array<sql_types::Jsonb>, _>(&values)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Removes `key` from every row of the table (a field was removed).
pub async fn remove_key(conn: &mut AsyncPgConnection, table_id: Uuid, key: &str) -> QueryResult<usize> {
    diesel::sql_query("UPDATE data_rows SET cells = cells - $2 WHERE table_id = $1 AND cells ? $2")
        .bind::<sql_types::Uuid, _>(table_id)
        .bind::<sql_types::Text, _>(key)
        .execute(conn)
        .await
}

/// Whether the table holds any row.
pub async fn has_rows(conn: &mut AsyncPgConnection, table_id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        data_rows::table.filter(data_rows::table_id.eq(table_id)),
    ))
    .get_result(conn)
    .await
}
