//! Rows of `api_keys`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::api_keys;

/// An API key as its company sees it (its secret's hash stays in the store).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = api_keys)]
pub struct ApiKeyRow {
    pub id: Uuid,
    pub company_id: Uuid,
    pub role_id: Uuid,
    pub name: String,
    pub last_four: String,
    pub persisted_only: bool,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl ApiKeyRow {
    /// Whether the key may still be used at `now` (neither revoked nor expired).
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        self.revoked_at.is_none() && self.expires_at.is_none_or(|at| at > now)
    }
}

/// A key to store.
#[derive(Debug, Insertable)]
#[diesel(table_name = api_keys)]
pub struct NewApiKey<'a> {
    pub id: Uuid,
    pub company_id: Uuid,
    pub role_id: Uuid,
    pub name: &'a str,
    pub public_id: &'a str,
    pub secret_hash: &'a [u8],
    pub last_four: &'a str,
    pub persisted_only: bool,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
}
