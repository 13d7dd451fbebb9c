//! Trusted documents: a company registers the operations its integrations may send by hash
//! (api_key:manage), lists them and removes them. Documents arrive here already parsed and
//! validated against the schema (see `crate::graphql::validator`).

use futures_util::FutureExt;
use serde_json::json;
use uuid::Uuid;

use super::model::{NewRegisteredDocument, RegisteredDocumentRow};
use super::store;
use crate::app::App;
use crate::auth::caller::Caller;
use crate::companies::access;
use crate::companies::store as company_store;
use crate::db::tx::{self, Change, Touches};
use crate::error::{AppError, AppResult};
use crate::events::verb::Verb;
use crate::events::write::{self, Activity};
use crate::rbac::catalog::{Action, Resource};

/// Most documents one registration may carry.
pub const MAX_DOCUMENTS_PER_CALL: usize = 500;

/// A document that parsed within the limits and passed validation.
#[derive(Debug, Clone)]
pub struct CheckedDocument {
    pub body: String,
    /// The SHA-256 of `body`, in lowercase hex.
    pub sha256: String,
    /// The name of its one operation, if it has one.
    pub name: Option<String>,
    /// `query`, `mutation` or `subscription`.
    pub operation_type: &'static str,
}

/// Registers `documents` for the company (the same document twice is one); answers how
/// many distinct documents the call holds, all registered now.
pub async fn register(
    app: &App,
    caller: &Caller,
    company_id: Uuid,
    documents: Vec<CheckedDocument>,
) -> AppResult<usize> {
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                company_store::lock_company(conn, company_id).await?;
                let member = access::member(conn, company_id, actor).await?;
                member.require(Resource::ApiKey, Action::Manage)?;
                let mut distinct: Vec<&CheckedDocument> = Vec::with_capacity(documents.len());
                for document in &documents {
                    if !distinct.iter().any(|seen| seen.sha256 == document.sha256) {
                        distinct.push(document);
                    }
                }
                let rows: Vec<NewRegisteredDocument<'_>> = distinct
                    .iter()
                    .map(|document| NewRegisteredDocument {
                        id: Uuid::new_v4(),
                        company_id,
                        sha256: &document.sha256,
                        body: &document.body,
                        name: document.name.as_deref(),
                        operation_type: document.operation_type,
                        created_by: actor.user_id(),
                        created_by_api_key: actor.api_key_id(),
                        created_at: now,
                    })
                    .collect();
                let added = store::register(conn, &rows).await?;
                let limit = app.config.persisted_queries_per_company;
                if store::count_registered(conn, company_id).await? > i64::from(limit) {
                    return Err(AppError::invalid(
                        "documents",
                        format!(
                            "a company registers at most {limit} documents \
                             (PERSISTED_QUERIES_PER_COMPANY); delete some first"
                        ),
                    ));
                }
                let summary = format!(
                    "{} operations registered for integrations ({added} new)",
                    rows.len()
                );
                let activity = Activity::new(
                    company_id,
                    Some(actor),
                    Verb::ApiKeyDocumentsRegistered,
                    ("company", company_id),
                    summary,
                )
                .data(json!({ "registered": rows.len(), "new": added }));
                write::record(conn, now, activity).await?;
                Ok(rows.len())
            }
            .boxed()
        },
    )
    .await
}

/// The company's registered documents (api_key:manage).
pub async fn list(app: &App, caller: &Caller, company_id: Uuid) -> AppResult<Vec<RegisteredDocumentRow>> {
    let actor = caller.acting()?;
    let mut conn = app.pool.get().await?;
    access::member(&mut conn, company_id, actor)
        .await?
        .require(Resource::ApiKey, Action::Manage)?;
    Ok(store::registered_for(&mut conn, company_id).await?)
}

/// Removes one of the company's registered documents (api_key:manage); NOT_FOUND when the
/// company has no such document.
pub async fn delete(app: &App, caller: &Caller, company_id: Uuid, id: Uuid) -> AppResult<()> {
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                let member = access::member(conn, company_id, actor).await?;
                member.require(Resource::ApiKey, Action::Manage)?;
                let removed = store::unregister(conn, company_id, id)
                    .await?
                    .ok_or_else(|| AppError::not_found("persisted query"))?;
                let name = removed.name.as_deref().unwrap_or("an unnamed operation");
                let activity = Activity::new(
                    company_id,
                    Some(actor),
                    Verb::ApiKeyDocumentDeleted,
                    ("persisted_query", removed.id),
                    format!("Registered operation {name} removed"),
                )
                .data(json!({ "hash": removed.sha256, "name": removed.name }));
                write::record(conn, now, activity).await?;
                Ok(())
            }
            .boxed()
        },
    )
    .await
}
