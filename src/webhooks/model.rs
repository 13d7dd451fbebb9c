//! Rows of `webhooks` and `webhook_deliveries`.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use uuid::Uuid;

use crate::db::schema::{webhook_deliveries, webhooks};

/// A webhook as its company sees it (its sealed secret stays in the store).
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhooks)]
pub struct WebhookRow {
    pub id: Uuid,
    pub company_id: Uuid,
    pub role_id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    pub active: bool,
    pub disabled_reason: Option<String>,
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A webhook to store.
#[derive(Debug, Insertable)]
#[diesel(table_name = webhooks)]
pub struct NewWebhook<'a> {
    pub id: Uuid,
    pub company_id: Uuid,
    pub role_id: Uuid,
    pub url: &'a str,
    pub events: &'a [String],
    pub secret_sealed: &'a [u8],
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// Where a delivery stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeliveryStatus {
    /// Waiting for its first or next attempt.
    Pending,
    /// The endpoint answered 2xx.
    Delivered,
    /// Every attempt failed, or the endpoint said it is gone (410).
    Failed,
}

impl DeliveryStatus {
    /// The stored (and GraphQL) name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "PENDING",
            Self::Delivered => "DELIVERED",
            Self::Failed => "FAILED",
        }
    }
}

/// One event for one endpoint.
#[derive(Debug, Clone, Queryable, Selectable)]
#[diesel(table_name = webhook_deliveries)]
pub struct DeliveryRow {
    pub id: Uuid,
    pub webhook_id: Uuid,
    pub event_id: Uuid,
    pub verb: String,
    pub status: String,
    pub attempts: i32,
    pub response_status: Option<i32>,
    pub last_error: Option<String>,
    pub last_attempt_at: Option<DateTime<Utc>>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl DeliveryRow {
    /// The `webhook-id` header: the same for every attempt, so receivers can skip repeats.
    pub fn message_id(&self) -> String {
        format!("msg_{}", self.id.simple())
    }
}
