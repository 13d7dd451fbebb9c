//! Rows of `activity_events`, `notifications` and `row_changes`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::{activity_events, notifications, row_changes};

/// One entry of a company's activity feed.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = activity_events)]
pub struct EventRow {
    pub seq: i64,
    pub id: Uuid,
    pub company_id: Uuid,
    pub project_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub verb: String,
    pub target_type: String,
    pub target_id: Uuid,
    pub summary: String,
    pub data: Option<serde_json::Value>,
    pub visible_with: String,
    pub created_at: DateTime<Utc>,
    pub api_key_id: Option<Uuid>,
}

/// A message to one person.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = notifications)]
pub struct NotificationRow {
    pub seq: i64,
    pub id: Uuid,
    pub user_id: Uuid,
    pub company_id: Option<Uuid>,
    pub kind: String,
    pub title: String,
    pub body: String,
    pub link: Option<String>,
    pub read_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// One row a row event touched.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = row_changes)]
pub struct RowChangeRow {
    pub event_seq: i64,
    pub row_id: Uuid,
    pub table_id: Uuid,
    pub kind: String,
}
