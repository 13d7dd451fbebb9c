//! Rows of `audit_log`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::audit_log;

/// One audit entry.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = audit_log)]
pub struct AuditRow {
    pub id: Uuid,
    pub company_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    /// The actor's account was deleted (the entry keeps no trace of who it was).
    pub actor_deleted: bool,
    pub api_key_id: Option<Uuid>,
    pub action: String,
    pub target_type: String,
    pub target_id: Option<Uuid>,
    pub changes: Option<serde_json::Value>,
    pub ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub created_at: DateTime<Utc>,
}

/// An entry to write (sign-in events and exports; changes are written by the database).
#[derive(Debug, Insertable)]
#[diesel(table_name = audit_log)]
pub struct NewAuditRow<'a> {
    pub id: Uuid,
    pub company_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    pub api_key_id: Option<Uuid>,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<Uuid>,
    pub changes: Option<serde_json::Value>,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub request_id: Option<&'a str>,
    pub created_at: DateTime<Utc>,
}
