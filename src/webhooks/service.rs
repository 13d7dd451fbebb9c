//! Webhook rules: who may make, change, list and redeliver webhooks (webhook:manage in
//! their company), what a webhook may be told (its role's reading rights, never beyond
//! its creator's, never Owner's), and its signing secret (shown once, stored sealed).

use futures_util::FutureExt;
use serde_json::json;
use uuid::Uuid;

use super::endpoint;
use super::model::{DeliveryRow, DeliveryStatus, NewWebhook, WebhookRow};
use super::signature;
use super::store::{self, WebhookChange};
use super::subscription;
use crate::app::App;
use crate::auth::caller::{Actor, Caller};
use crate::companies::access;
use crate::companies::model::BuiltIn;
use crate::companies::store as company_store;
use crate::db::tx::{self, Change, Touches};
use crate::error::{AppError, AppResult, ErrorCode};
use crate::events::verb::Verb;
use crate::events::write::{self, Activity};
use crate::pagination::{Cursor, Page, PageRequest};
use crate::rbac::catalog::{Action, Resource};
use crate::rbac::standing::role_permissions;

/// What `createWebhook` asks for.
pub struct WebhookRequest {
    pub company_id: Uuid,
    pub url: String,
    pub events: Vec<String>,
    /// The role whose reading rights bound what is sent (None: the company's Viewer).
    pub role_id: Option<Uuid>,
}

/// What `updateWebhook` asks to change (None: unchanged).
pub struct WebhookUpdate {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    pub active: Option<bool>,
}

/// A webhook just made, with its signing secret (shown this once).
pub struct CreatedWebhook {
    pub webhook: WebhookRow,
    pub signing_secret: String,
}

/// Makes a webhook (webhook:manage). Its role is the company's Viewer unless another is
/// named; it is never Owner and never holds a permission its creator lacks.
pub async fn create(app: &App, caller: &Caller, request: WebhookRequest) -> AppResult<CreatedWebhook> {
    let url = endpoint::parse(&request.url, app.config.allow_private_webhooks)?;
    let events = subscription::parse(&request.events)?;
    let signing_secret = signature::generate_secret();
    let id = Uuid::now_v7();
    let sealed = app
        .sealer
        .seal(id.as_bytes(), signing_secret.as_bytes())
        .map_err(AppError::internal)?;
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                company_store::lock_company(conn, request.company_id).await?;
                let member = access::member(conn, request.company_id, actor).await?;
                member.require(Resource::Webhook, Action::Manage)?;
                let role = match request.role_id {
                    Some(role_id) => company_store::find_role(conn, request.company_id, role_id)
                        .await?
                        .ok_or_else(|| AppError::invalid("roleId", "no such role in this company"))?,
                    None => company_store::built_in_role(conn, request.company_id, BuiltIn::Viewer).await?,
                };
                if role.built_in() == Some(BuiltIn::Owner) {
                    return Err(AppError::invalid(
                        "roleId",
                        "a webhook cannot read as Owner: give it a role with only what it must be told",
                    ));
                }
                member.require_can_grant(&role, role_permissions(conn, &role).await?)?;
                let limit = app.config.webhooks_per_company;
                if store::count(conn, request.company_id).await? >= i64::from(limit) {
                    return Err(AppError::conflict(format!(
                        "a company has at most {limit} webhooks (WEBHOOKS_PER_COMPANY); delete one first"
                    )));
                }
                let webhook = store::insert(
                    conn,
                    &NewWebhook {
                        id,
                        company_id: request.company_id,
                        role_id: role.id,
                        url: url.as_str(),
                        events: &events,
                        secret_sealed: &sealed,
                        created_by: actor.user_id(),
                        created_at: now,
                        updated_at: now,
                    },
                )
                .await?;
                let activity = Activity::new(
                    webhook.company_id,
                    Some(actor),
                    Verb::WebhookCreated,
                    ("webhook", webhook.id),
                    format!(
                        "Webhook to {} created with the role {}",
                        origin(&webhook.url),
                        role.name
                    ),
                )
                .data(
                    json!({ "endpoint": origin(&webhook.url), "events": webhook.events, "role": role.name }),
                );
                write::record(conn, now, activity).await?;
                Ok(CreatedWebhook {
                    webhook,
                    signing_secret,
                })
            }
            .boxed()
        },
    )
    .await
}

/// Changes a webhook's endpoint, events or switch (webhook:manage, and every permission
/// of its role). Turning it off holds its pending deliveries back; turning it on again
/// makes them due and clears why the server had turned it off.
pub async fn update(app: &App, caller: &Caller, id: Uuid, update: WebhookUpdate) -> AppResult<WebhookRow> {
    let url = update
        .url
        .as_deref()
        .map(|url| endpoint::parse(url, app.config.allow_private_webhooks))
        .transpose()?;
    let events = update.events.as_deref().map(subscription::parse).transpose()?;
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                let webhook = managed(conn, actor, id).await?;
                let change = WebhookChange {
                    url: url.as_ref().map(reqwest::Url::as_str),
                    events: events.as_deref(),
                    active: update.active,
                    disabled_reason: (update.active == Some(true)).then_some(None),
                    updated_at: now,
                };
                let updated = store::update(conn, webhook.id, &change).await?;
                match (webhook.active, updated.active) {
                    (true, false) => store::hold_pending(conn, updated.id).await?,
                    (false, true) => store::resume_pending(conn, updated.id, now).await?,
                    _ => {}
                }
                let mut changed = Vec::new();
                if updated.url != webhook.url {
                    changed.push("url");
                }
                if updated.events != webhook.events {
                    changed.push("events");
                }
                if updated.active != webhook.active {
                    changed.push("active");
                }
                if changed.is_empty() {
                    return Ok(updated);
                }
                let activity = Activity::new(
                    updated.company_id,
                    Some(actor),
                    Verb::WebhookUpdated,
                    ("webhook", updated.id),
                    format!("Webhook to {} updated ({})", origin(&updated.url), changed.join(", ")),
                )
                .data(json!({
                    "changed": changed,
                    "before": { "endpoint": origin(&webhook.url), "events": webhook.events, "active": webhook.active },
                    "after": { "endpoint": origin(&updated.url), "events": updated.events, "active": updated.active },
                }));
                write::record(conn, now, activity).await?;
                Ok(updated)
            }
            .boxed()
        },
    )
    .await
}

/// Deletes a webhook and its deliveries (webhook:manage, and every permission of its role).
pub async fn delete(app: &App, caller: &Caller, id: Uuid) -> AppResult<bool> {
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                let webhook = managed(conn, actor, id).await?;
                store::delete(conn, webhook.id).await?;
                let activity = Activity::new(
                    webhook.company_id,
                    Some(actor),
                    Verb::WebhookDeleted,
                    ("webhook", webhook.id),
                    format!("Webhook to {} deleted", origin(&webhook.url)),
                )
                .data(json!({ "endpoint": origin(&webhook.url), "events": webhook.events }));
                write::record(conn, now, activity).await?;
                Ok(true)
            }
            .boxed()
        },
    )
    .await
}

/// Sends a finished delivery again, now, with its `webhook-id` unchanged and a fresh set
/// of attempts (webhook:manage, and every permission of the webhook's role). CONFLICT
/// while it is still pending or its webhook is off.
pub async fn redeliver(app: &App, caller: &Caller, delivery_id: Uuid) -> AppResult<DeliveryRow> {
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                let webhook_id = store::webhook_of_delivery(conn, delivery_id)
                    .await?
                    .ok_or_else(|| AppError::not_found("webhook delivery"))?;
                let webhook = managed(conn, actor, webhook_id)
                    .await
                    .map_err(|err| if err.code == ErrorCode::NotFound { AppError::not_found("webhook delivery") } else { err })?;
                let delivery = store::lock_delivery(conn, delivery_id)
                    .await?
                    .ok_or_else(|| AppError::not_found("webhook delivery"))?;
                if delivery.status == DeliveryStatus::Pending.as_str() {
                    return Err(AppError::conflict(
                        "this delivery is still waiting to be sent; redeliver it once it is delivered or failed",
                    ));
                }
                if !webhook.active {
                    return Err(AppError::conflict("the webhook is off: turn it on (updateWebhook) first"));
                }
                let delivery = store::requeue(conn, delivery.id, now).await?;
                let activity = Activity::new(
                    webhook.company_id,
                    Some(actor),
                    Verb::WebhookRedelivered,
                    ("webhook_delivery", delivery.id),
                    format!("Webhook delivery of {} queued again", delivery.verb),
                )
                .data(json!({ "webhookId": delivery.webhook_id, "event": delivery.verb }));
                write::record(conn, now, activity).await?;
                Ok(delivery)
            }
            .boxed()
        },
    )
    .await
}

/// The company's webhooks, oldest first (webhook:manage).
pub async fn list(app: &App, caller: &Caller, company_id: Uuid) -> AppResult<Vec<WebhookRow>> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        access::member(conn, company_id, actor)
            .await?
            .require(Resource::Webhook, Action::Manage)?;
        Ok(store::list(conn, company_id).await?)
    })
    .await
}

/// One page of a webhook's deliveries, newest first (webhook:manage).
pub async fn deliveries(
    app: &App,
    caller: &Caller,
    webhook: &WebhookRow,
    page: PageRequest,
) -> AppResult<Page<DeliveryRow>> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        access::member(conn, webhook.company_id, actor)
            .await?
            .require(Resource::Webhook, Action::Manage)?;
        let rows = store::deliveries_page(conn, webhook.id, page.after, page.limit()).await?;
        let total = store::delivery_count(conn, webhook.id).await?;
        Ok(Page::from_rows(rows, page, total))
    })
    .await
}

/// Where a delivery sits in its webhook's list.
pub fn delivery_cursor(delivery: &DeliveryRow) -> Cursor {
    Cursor {
        at: delivery.created_at,
        id: delivery.id,
    }
}

/// The webhook named by id, locked, for a member holding webhook:manage in its company
/// and every permission of the webhook's role (whoever may point a webhook elsewhere
/// could otherwise read through it what they may not); NOT_FOUND for anyone who does not
/// act there. Takes the company's event stream lock first, as event writers do.
async fn managed(
    conn: &mut diesel_async::AsyncPgConnection,
    actor: Actor,
    id: Uuid,
) -> AppResult<WebhookRow> {
    let company_id = store::company_of(conn, id)
        .await?
        .ok_or_else(|| AppError::not_found("webhook"))?;
    let member = access::member(conn, company_id, actor)
        .await
        .map_err(|_| AppError::not_found("webhook"))?;
    member.require(Resource::Webhook, Action::Manage)?;
    write::lock_stream(conn, company_id).await?;
    let webhook = store::lock_in_company(conn, company_id, id)
        .await?
        .ok_or_else(|| AppError::not_found("webhook"))?;
    let role = company_store::find_role(conn, company_id, webhook.role_id)
        .await?
        .ok_or_else(|| AppError::not_found("role"))?;
    member.require_can_grant(&role, role_permissions(conn, &role).await?)?;
    Ok(webhook)
}

/// An endpoint's scheme, host and port: what activity and the audit log name, since a
/// URL's path and query often carry a token of the receiving service.
fn origin(url: &str) -> String {
    reqwest::Url::parse(url).map_or_else(|_| String::new(), |url| url.origin().ascii_serialization())
}
