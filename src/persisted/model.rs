//! Rows of `registered_documents`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::registered_documents;

/// A document a company registered (a trusted document).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = registered_documents)]
pub struct RegisteredDocumentRow {
    pub id: Uuid,
    /// None: registered for every company (`PERSISTED_QUERIES_MANIFEST`).
    pub company_id: Option<Uuid>,
    pub sha256: String,
    pub name: Option<String>,
    pub operation_type: String,
    pub created_at: DateTime<Utc>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// A document to register.
#[derive(Debug, Insertable)]
#[diesel(table_name = registered_documents)]
pub struct NewRegisteredDocument<'a> {
    pub id: Uuid,
    pub company_id: Option<Uuid>,
    pub sha256: &'a str,
    pub body: &'a str,
    pub name: Option<&'a str>,
    pub operation_type: &'a str,
    pub created_by: Option<Uuid>,
    pub created_by_api_key: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}
