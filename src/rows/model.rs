//! Rows of `data_rows`, `data_imports` and `table_recalculations`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::{data_imports, data_rows, table_recalculations};

/// A stored row. `cells` holds the values keyed by field key, as the JSON text the
/// database returns, so reads can hand it on without rebuilding it.
#[derive(Debug, Clone, QueryableByName)]
pub struct RowRecord {
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Uuid)]
    pub table_id: Uuid,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub cycle_id: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Text)]
    pub cells: String,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub version: i32,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub created_by: Option<Uuid>,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Timestamptz)]
    pub updated_at: DateTime<Utc>,
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Uuid>)]
    pub created_by_api_key: Option<Uuid>,
    /// The table's `calc_version` its formula values were computed at.
    #[diesel(sql_type = diesel::sql_types::Integer)]
    pub calc_version: i32,
}

/// A row to store.
#[derive(Debug, Insertable)]
#[diesel(table_name = data_rows)]
pub struct NewRow {
    pub id: Uuid,
    pub table_id: Uuid,
    pub cycle_id: Option<Uuid>,
    pub cells: serde_json::Value,
    pub created_by: Option<Uuid>,
    pub created_by_api_key: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub calc_version: i32,
}

/// A finished CSV import.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = data_imports)]
pub struct ImportRow {
    pub id: Uuid,
    pub table_id: Uuid,
    pub cycle_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub mode: String,
    pub status: String,
    pub lines: i32,
    pub inserted: i32,
    pub rejected: i32,
    pub created_at: DateTime<Utc>,
}

/// A recalculation under way: which table, to what `calc_version`, how far and what found.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable, Insertable)]
#[diesel(table_name = table_recalculations)]
pub struct RecalculationRow {
    pub table_id: Uuid,
    pub company_id: Uuid,
    pub project_id: Uuid,
    pub calc_version: i32,
    /// What changed, e.g. "field co2e_kg changed", "factor diesel_litre".
    pub reason: String,
    pub requested_at: DateTime<Utc>,
    /// Rows the table held when it was asked for.
    pub total: i64,
    pub done: i64,
    pub changed: i64,
    pub failed: i64,
    /// The first rows that could not compute: `[{ "rowId", "field", "message" }]`.
    pub failures: serde_json::Value,
    pub after_created_at: Option<DateTime<Utc>>,
    pub after_id: Option<Uuid>,
}
