//! GraphQL for trusted documents: registering a company's operations (as documents or an
//! Apollo persisted-query manifest), listing them and removing them. Each document is
//! checked against the schema here, at the edge, before the service sees it.

use async_graphql::{Context, ID, Json, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::manifest;
use super::model::RegisteredDocumentRow;
use super::service::{self, MAX_DOCUMENTS_PER_CALL};
use crate::error::AppError;
use crate::graphql::context::{app, caller, parse_id};
use crate::graphql::validator::DocumentValidator;

/// A document a company registered: integrations run it by its hash.
pub struct PersistedQuery(pub RegisteredDocumentRow);

#[Object]
impl PersistedQuery {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    /// The SHA-256 of the document, in hex: send it as
    /// `extensions.persistedQuery.sha256Hash`.
    async fn hash(&self) -> &str {
        &self.0.sha256
    }

    /// The name of its operation, if it has one.
    async fn name(&self) -> Option<&str> {
        self.0.name.as_deref()
    }

    /// `query`, `mutation` or `subscription`.
    async fn operation_type(&self) -> &str {
        &self.0.operation_type
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When it last ran by hash.
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }
}

/// What a registration did.
#[derive(SimpleObject)]
pub struct PersistedQueryRegistration {
    /// Distinct documents in the call, all registered now.
    registered: i32,
}

/// Mutations of trusted documents.
#[derive(Default)]
pub struct PersistedMutation;

#[Object]
impl PersistedMutation {
    /// Registers operations the company's integrations may run by hash (api_key:manage):
    /// `documents`, an Apollo persisted-query manifest, or both. Every document is parsed
    /// and validated; if any fails, the answer names each by its place and nothing of the
    /// call is registered.
    async fn register_persisted_queries(
        &self,
        ctx: &Context<'_>,
        company_id: ID,
        documents: Option<Vec<String>>,
        manifest: Option<Json<Value>>,
    ) -> Result<PersistedQueryRegistration> {
        let company_id = parse_id(&company_id, "company")?;
        let mut texts: Vec<(String, String)> = documents
            .unwrap_or_default()
            .into_iter()
            .enumerate()
            .map(|(index, text)| (format!("documents.{index}"), text))
            .collect();
        if let Some(Json(manifest)) = manifest {
            texts.extend(manifest::documents(&manifest)?);
        }
        if texts.is_empty() {
            return Err(AppError::invalid("documents", "give documents or a manifest").into());
        }
        if texts.len() > MAX_DOCUMENTS_PER_CALL {
            return Err(AppError::invalid(
                "documents",
                format!("at most {MAX_DOCUMENTS_PER_CALL} documents per call"),
            )
            .into());
        }
        let validator = ctx.data_unchecked::<std::sync::Arc<DocumentValidator>>();
        let checked = validator
            .check_all(texts)
            .await
            .map_err(AppError::invalid_fields)?;
        let registered = service::register(app(ctx), caller(ctx), company_id, checked).await?;
        Ok(PersistedQueryRegistration {
            registered: i32::try_from(registered).unwrap_or(i32::MAX),
        })
    }

    /// Removes a registered document (api_key:manage); integrations can no longer run it
    /// by hash unless it is known otherwise.
    async fn delete_persisted_query(&self, ctx: &Context<'_>, company_id: ID, id: ID) -> Result<bool> {
        let company_id = parse_id(&company_id, "company")?;
        let id = parse_id(&id, "persisted query")?;
        service::delete(app(ctx), caller(ctx), company_id, id).await?;
        Ok(true)
    }
}
