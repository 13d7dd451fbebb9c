//! Rows of `emission_factors`.

use bigdecimal::BigDecimal;
use chrono::{DateTime, NaiveDate, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::emission_factors;

/// One version of a factor: a default (no company) or a company's own (stored as it is).
#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = emission_factors)]
pub struct FactorRow {
    pub id: Uuid,
    /// None for the shipped default set.
    pub company_id: Option<Uuid>,
    pub key: String,
    pub label: String,
    pub value: BigDecimal,
    /// What the activity is measured in: the factor is per one of these.
    pub unit: String,
    pub basis: Option<String>,
    pub source: String,
    pub source_year: Option<i32>,
    pub licence: Option<String>,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
    pub created_at: DateTime<Utc>,
}
