//! GraphQL for webhooks: the endpoint as its company sees it (never its signing secret,
//! which `createWebhook` shows once), its deliveries, and the mutations that manage both.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::{DeliveryRow, WebhookRow};
use super::service::{self, WebhookRequest, WebhookUpdate};
use crate::companies::graphql::Role;
use crate::companies::loader::RoleLoader;
use crate::error::AppError;
use crate::graphql::connection::{PageConnection, connection};
use crate::graphql::context::{app, caller, loader, parse_id};
use crate::pagination::PageRequest;

/// An endpoint told of its company's events, as far as its role may read them.
pub struct Webhook(pub WebhookRow);

#[Object]
impl Webhook {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn url(&self) -> &str {
        &self.0.url
    }

    /// Activity verbs (`row.created`), subjects (`row.*`) or `*`.
    async fn events(&self) -> &[String] {
        &self.0.events
    }

    /// What the webhook may be told: events this role may read.
    async fn role(&self, ctx: &Context<'_>) -> Result<Role> {
        loader::<RoleLoader>(ctx)
            .load_one(self.0.role_id)
            .await?
            .map(Role)
            .ok_or_else(|| AppError::not_found("role").into())
    }

    /// Off: events are not queued for it, and its pending deliveries wait.
    async fn active(&self) -> bool {
        self.0.active
    }

    /// Why the server turned it off (its endpoint answered 410 Gone); null otherwise.
    async fn disabled_reason(&self) -> Option<&str> {
        self.0.disabled_reason.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// Its deliveries, newest first, delivered and failed ones included.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    async fn deliveries(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PageConnection<WebhookDelivery>> {
        let request = PageRequest::parse(first, after.as_deref())?;
        let page = service::deliveries(app(ctx), caller(ctx), &self.0, request).await?;
        Ok(connection(
            page,
            request.after.is_some(),
            service::delivery_cursor,
            WebhookDelivery,
        ))
    }
}

/// One event for one endpoint, and how sending it went.
pub struct WebhookDelivery(pub DeliveryRow);

#[Object]
impl WebhookDelivery {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The `webhook-id` header every attempt carries.
    async fn message_id(&self) -> String {
        self.0.message_id()
    }

    /// The activity verb it carries (`row.created`).
    async fn event(&self) -> &str {
        &self.0.verb
    }

    /// PENDING, DELIVERED or FAILED.
    async fn status(&self) -> &str {
        &self.0.status
    }

    async fn attempts(&self) -> i32 {
        self.0.attempts
    }

    /// The HTTP status of the last answer (null: no answer, e.g. a timeout).
    async fn response_status(&self) -> Option<i32> {
        self.0.response_status
    }

    /// Why the last attempt failed.
    async fn last_error(&self) -> Option<&str> {
        self.0.last_error.as_deref()
    }

    async fn last_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_attempt_at
    }

    /// When it is tried next (pending deliveries only).
    async fn next_attempt_at(&self) -> Option<DateTime<Utc>> {
        self.0.next_attempt_at
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

/// A webhook just made, with its signing secret: shown this once, stored sealed.
#[derive(SimpleObject)]
pub struct CreatedWebhook {
    webhook: Webhook,
    /// `whsec_…`: verify each delivery's `webhook-signature` with it (Standard Webhooks).
    signing_secret: String,
}

/// Mutations of webhooks.
#[derive(Default)]
pub struct WebhooksMutation;

#[Object]
impl WebhooksMutation {
    /// Makes a webhook for the company's events (webhook:manage). Deliveries carry only
    /// what `roleId` may read (default: Viewer; never Owner, never a role holding a
    /// permission you lack). The signing secret is shown only in this answer.
    async fn create_webhook(
        &self,
        ctx: &Context<'_>,
        company_id: ID,
        url: String,
        events: Vec<String>,
        role_id: Option<ID>,
    ) -> Result<CreatedWebhook> {
        let company_id = parse_id(&company_id, "company")?;
        let role_id = role_id
            .map(|id| {
                Uuid::parse_str(id.as_str())
                    .map_err(|_| AppError::invalid("roleId", "no such role in this company"))
            })
            .transpose()?;
        let created = service::create(
            app(ctx),
            caller(ctx),
            WebhookRequest {
                company_id,
                url,
                events,
                role_id,
            },
        )
        .await?;
        Ok(CreatedWebhook {
            webhook: Webhook(created.webhook),
            signing_secret: created.signing_secret,
        })
    }

    /// Changes a webhook's endpoint, events or switch (webhook:manage); turning it on
    /// again resumes its pending deliveries.
    async fn update_webhook(
        &self,
        ctx: &Context<'_>,
        id: ID,
        url: Option<String>,
        events: Option<Vec<String>>,
        active: Option<bool>,
    ) -> Result<Webhook> {
        let id = parse_id(&id, "webhook")?;
        let update = WebhookUpdate { url, events, active };
        Ok(Webhook(service::update(app(ctx), caller(ctx), id, update).await?))
    }

    /// Deletes a webhook and its deliveries (webhook:manage).
    async fn delete_webhook(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        let id = parse_id(&id, "webhook")?;
        Ok(service::delete(app(ctx), caller(ctx), id).await?)
    }

    /// Sends a delivery again now, with the same `webhook-id` (webhook:manage).
    async fn redeliver_webhook(&self, ctx: &Context<'_>, delivery_id: ID) -> Result<WebhookDelivery> {
        let id = parse_id(&delivery_id, "webhook delivery")?;
        Ok(WebhookDelivery(
            service::redeliver(app(ctx), caller(ctx), id).await?,
        ))
    }
}
