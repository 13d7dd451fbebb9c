//! Rows of `data_rows` and `data_imports`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::{data_imports, data_rows};

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
