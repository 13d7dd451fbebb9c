//! Rows of `data_tables`, `data_fields` and `schema_changes`, and the field types.

use async_graphql::Enum;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use uuid::Uuid;

use crate::db::schema::{data_fields, data_tables, schema_changes};

/// The type of a field's values.
#[derive(Enum, Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum FieldType {
    Text,
    LongText,
    Integer,
    Decimal,
    Boolean,
    Date,
    Datetime,
    SingleSelect,
    MultiSelect,
    Email,
    Url,
    Reference,
    Formula,
}

const FIELD_TYPES: [FieldType; 13] = [
    FieldType::Text,
    FieldType::LongText,
    FieldType::Integer,
    FieldType::Decimal,
    FieldType::Boolean,
    FieldType::Date,
    FieldType::Datetime,
    FieldType::SingleSelect,
    FieldType::MultiSelect,
    FieldType::Email,
    FieldType::Url,
    FieldType::Reference,
    FieldType::Formula,
];

impl FieldType {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::LongText => "long_text",
            Self::Integer => "integer",
            Self::Decimal => "decimal",
            Self::Boolean => "boolean",
            Self::Date => "date",
            Self::Datetime => "datetime",
            Self::SingleSelect => "single_select",
            Self::MultiSelect => "multi_select",
            Self::Email => "email",
            Self::Url => "url",
            Self::Reference => "reference",
            Self::Formula => "formula",
        }
    }

    /// Reads a stored name.
    pub fn parse(value: &str) -> Option<Self> {
        FIELD_TYPES.into_iter().find(|t| t.as_str() == value)
    }
}

/// A data table of a project.
#[derive(Debug, Clone, Queryable, QueryableByName, Selectable)]
#[diesel(table_name = data_tables)]
pub struct TableRow {
    pub id: Uuid,
    pub project_id: Uuid,
    pub module_id: Option<Uuid>,
    pub name: String,
    pub description: Option<String>,
    pub schema_version: i32,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Counts the changes its formula values depend on (formulas, fields, factor versions);
    /// a row computed at an earlier one awaits the background recalculation.
    pub calc_version: i32,
}

/// A table to create.
#[derive(Debug, Insertable)]
#[diesel(table_name = data_tables)]
pub struct NewTable<'a> {
    pub id: Uuid,
    pub project_id: Uuid,
    /// The project's company, which row-level security finds the table by.
    pub company_id: Uuid,
    pub module_id: Option<Uuid>,
    pub name: &'a str,
    pub description: Option<&'a str>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A field (column) definition.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = data_fields)]
pub struct FieldRow {
    pub id: Uuid,
    pub table_id: Uuid,
    pub key: String,
    pub label: String,
    pub field_type: String,
    pub required: bool,
    pub is_unique: bool,
    pub position: i32,
    pub options: Option<serde_json::Value>,
    pub min_value: Option<f64>,
    pub max_value: Option<f64>,
    pub pattern: Option<String>,
    pub reference_table_id: Option<Uuid>,
    pub formula: Option<String>,
    pub restricted: bool,
    pub created_at: DateTime<Utc>,
    /// What the values are measured in.
    pub unit: Option<String>,
    /// Whether `Project.summary` adds the field up by module scope.
    pub total: bool,
}

/// One entry of a table's schema history.
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = schema_changes)]
pub struct SchemaChangeRow {
    pub id: Uuid,
    pub table_id: Uuid,
    pub actor_id: Option<Uuid>,
    pub change: String,
    pub field_key: String,
    pub before: Option<serde_json::Value>,
    pub after: Option<serde_json::Value>,
    pub schema_version: i32,
    pub created_at: DateTime<Utc>,
}
