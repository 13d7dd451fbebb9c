//! GraphQL for API keys: the key as its company sees it (never its secret, which
//! `createApiKey` shows once), making and revoking keys.

use async_graphql::{Context, ID, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::loader::ApiKeyLoader;
use super::model::ApiKeyRow;
use super::secret;
use super::service::{self, KeyRequest};
use crate::companies::graphql::Role;
use crate::companies::loader::RoleLoader;
use crate::error::AppError;
use crate::graphql::context::{app, caller, loader, parse_id};

/// An integration's credential: it acts in its company with its role.
pub struct ApiKey(pub ApiKeyRow);

impl ApiKey {
    /// The key with this id, for an event or a row that names it (None once deleted).
    pub async fn load(ctx: &Context<'_>, id: Option<Uuid>) -> Result<Option<Self>> {
        let Some(id) = id else {
            return Ok(None);
        };
        Ok(loader::<ApiKeyLoader>(ctx).load_one(id).await?.map(Self))
    }
}

#[Object]
impl ApiKey {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Enough of the secret to recognise it (`gh_…3f9a`).
    async fn prefix(&self) -> String {
        secret::display(&self.0.last_four)
    }

    /// The role the key acts with: its rights are that role's.
    async fn role(&self, ctx: &Context<'_>) -> Result<Role> {
        loader::<RoleLoader>(ctx)
            .load_one(self.0.role_id)
            .await?
            .map(Role)
            .ok_or_else(|| AppError::not_found("role").into())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }

    /// When the key was last used (written at most once a minute).
    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.0.last_used_at
    }

    async fn expires_at(&self) -> Option<DateTime<Utc>> {
        self.0.expires_at
    }

    async fn revoked_at(&self) -> Option<DateTime<Utc>> {
        self.0.revoked_at
    }

    /// The key may run only documents registered in advance.
    async fn persisted_only(&self) -> bool {
        self.0.persisted_only
    }
}

/// A key just made, with its secret: shown this once, stored only as a hash.
#[derive(SimpleObject)]
pub struct CreatedApiKey {
    api_key: ApiKey,
    secret: String,
}

/// Mutations of API keys.
#[derive(Default)]
pub struct ApiKeysMutation;

#[Object]
impl ApiKeysMutation {
    /// Makes a key acting in the company with one of its roles (api_key:manage; never
    /// Owner, never a role holding a permission you lack). Send its secret as
    /// `Authorization: Bearer <secret>`; it is shown only in this answer.
    async fn create_api_key(
        &self,
        ctx: &Context<'_>,
        company_id: ID,
        name: String,
        role_id: ID,
        expires_at: Option<DateTime<Utc>>,
        persisted_only: Option<bool>,
    ) -> Result<CreatedApiKey> {
        let company_id = parse_id(&company_id, "company")?;
        let role_id = Uuid::parse_str(role_id.as_str())
            .map_err(|_| AppError::invalid("roleId", "no such role in this company"))?;
        let created = service::create(
            app(ctx),
            caller(ctx),
            KeyRequest {
                company_id,
                name,
                role_id,
                expires_at,
                persisted_only: persisted_only.unwrap_or(false),
            },
        )
        .await?;
        Ok(CreatedApiKey {
            api_key: ApiKey(created.key),
            secret: created.secret,
        })
    }

    /// Revokes a key (api_key:manage): every instance refuses it from its next request,
    /// and its open websockets close (4403).
    async fn revoke_api_key(&self, ctx: &Context<'_>, id: ID) -> Result<ApiKey> {
        let id = parse_id(&id, "API key")?;
        Ok(ApiKey(service::revoke(app(ctx), caller(ctx), id).await?))
    }
}
