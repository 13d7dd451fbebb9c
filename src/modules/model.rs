//! Rows of `modules`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::modules;

/// A module of a project.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = modules)]
pub struct ModuleRow {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub description: Option<String>,
    pub scope: Option<i32>,
    pub position: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A module to create.
#[derive(Debug, Insertable)]
#[diesel(table_name = modules)]
pub struct NewModule<'a> {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub scope: Option<i32>,
    pub position: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Module fields to change: `None` keeps a field, `Some(None)` clears it.
#[derive(Debug, Default, AsChangeset)]
#[diesel(table_name = modules)]
pub struct ModuleChanges {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub scope: Option<Option<i32>>,
}
