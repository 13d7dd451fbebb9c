//! Rows of `cycles`.

use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::cycles;

/// A reporting cycle of a project.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = cycles)]
pub struct CycleRow {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: String,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub closed_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

/// A cycle to create.
#[derive(Debug, Insertable)]
#[diesel(table_name = cycles)]
pub struct NewCycle<'a> {
    pub id: Uuid,
    pub project_id: Uuid,
    pub name: &'a str,
    pub starts_on: NaiveDate,
    pub ends_on: NaiveDate,
    pub created_at: DateTime<Utc>,
}
