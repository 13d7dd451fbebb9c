//! Rows of `projects` and `project_role_grants`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::{project_role_grants, projects};

/// A project of a company.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = projects)]
pub struct ProjectRow {
    pub id: Uuid,
    pub company_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub archived_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A project to create.
#[derive(Debug, Insertable)]
#[diesel(table_name = projects)]
pub struct NewProject<'a> {
    pub id: Uuid,
    pub company_id: Uuid,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Project fields to change: `None` keeps a field, `Some(None)` clears it.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = projects)]
pub struct ProjectChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
}

/// A user's role inside one project.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = project_role_grants)]
pub struct GrantRow {
    pub project_id: Uuid,
    pub user_id: Uuid,
    pub role_id: Uuid,
    pub granted_at: DateTime<Utc>,
}
