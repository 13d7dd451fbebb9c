//! Trusted documents: a company registers the operations its integrations may send by hash
//! (api_key:manage), lists them and removes them. Documents arrive here already parsed and
//! validated against the schema (see `crate::graphql::validator`).

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use serde_json::json;
use uuid::Uuid;

use super::model::{NewRegisteredDocument, RegisteredDocumentRow};
use super::store;
use crate::app::App;
use crate::auth::caller::{Actor, Caller};
use crate::companies::access;
use crate::companies::store as company_store;
use crate::db::scope::{Crossing, Scope};
use crate::db::tx::{self, Change, Touches, Work};
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
    refuse_persisted_only_key(caller)?;
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                company_store::lock_company(conn, company_id).await?;
                let member = access::member(conn, company_id, actor).await?;
                member.require(Resource::ApiKey, Action::Manage)?;
                let rows = rows_of(&documents, Some(company_id), Some(actor), now);
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

/// Registers documents for every company (`PERSISTED_QUERIES_MANIFEST`, at startup); one
/// already registered globally stays as it is. Answers how many were new.
pub async fn register_global(app: &App, documents: Vec<CheckedDocument>) -> AppResult<usize> {
    tx::transaction(
        app,
        Scope::Crossing(Crossing::PersistedDocuments),
        Touches::ROWS,
        |Work { conn, now, .. }| {
            async move {
                let rows = rows_of(&documents, None, None, now);
                Ok(store::register(conn, &rows).await?)
            }
            .boxed()
        },
    )
    .await
}

/// FORBIDDEN for a key that may run only registered documents: were it to choose them, the
/// rule would bind it to nothing.
fn refuse_persisted_only_key(caller: &Caller) -> AppResult<()> {
    if caller.key().is_some_and(|key| key.persisted_only) {
        return Err(AppError::forbidden(
            "a persisted-only key cannot change which documents are registered",
        ));
    }
    Ok(())
}

/// The rows to register for `documents` (the same document twice is one).
fn rows_of<'a>(
    documents: &'a [CheckedDocument],
    company_id: Option<Uuid>,
    actor: Option<Actor>,
    now: DateTime<Utc>,
) -> Vec<NewRegisteredDocument<'a>> {
    let mut rows: Vec<NewRegisteredDocument<'a>> = Vec::with_capacity(documents.len());
    for document in documents {
        if rows.iter().any(|row| row.sha256 == document.sha256) {
            continue;
        }
        rows.push(NewRegisteredDocument {
            id: Uuid::new_v4(),
            company_id,
            sha256: &document.sha256,
            body: &document.body,
            name: document.name.as_deref(),
            operation_type: document.operation_type,
            created_by: actor.and_then(Actor::user_id),
            created_by_api_key: actor.and_then(Actor::api_key_id),
            created_at: now,
        });
    }
    rows
}

/// The company's registered documents (api_key:manage).
pub async fn list(app: &App, caller: &Caller, company_id: Uuid) -> AppResult<Vec<RegisteredDocumentRow>> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        access::member(conn, company_id, actor)
            .await?
            .require(Resource::ApiKey, Action::Manage)?;
        Ok(store::registered_for(conn, company_id).await?)
    })
    .await
}

/// Removes one of the company's registered documents (api_key:manage); NOT_FOUND when the
/// company has no such document.
pub async fn delete(app: &App, caller: &Caller, company_id: Uuid, id: Uuid) -> AppResult<()> {
    refuse_persisted_only_key(caller)?;
    tx::write(
        app,
        caller,
        Touches::STANDING,
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
