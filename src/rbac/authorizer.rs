//! The authorizer: what a user may do in a company. Services ask it inside their
//! transaction (the real gate); field guards ask the per-request [`Authorizer`], which loads
//! each company's grants once per request, so a role change shows on the very next one.

use std::collections::HashMap;

use async_graphql::Request;
use async_graphql::extensions::ExtensionContext;

use async_graphql::{Context, Guard};
use diesel_async::AsyncPgConnection;
use tokio::sync::Mutex;
use uuid::Uuid;

use super::catalog::{Action, PermissionSet, Resource, built_in_permissions};
use super::store;
use crate::app::App;
use crate::auth::actor::Actor;
use crate::companies::model::RoleRow;
use crate::error::{AppError, AppResult, ErrorCode};
use crate::graphql::context::RequestContext;

/// The permissions a role grants.
pub async fn role_permissions(conn: &mut AsyncPgConnection, role: &RoleRow) -> AppResult<PermissionSet> {
    if let Some(built_in) = role.built_in() {
        return Ok(built_in_permissions(built_in));
    }
    Ok(store::permissions_of_roles(conn, &[role.id])
        .await?
        .remove(&role.id)
        .unwrap_or_default())
}

/// FORBIDDEN naming the permission a caller lacks.
pub fn forbidden(resource: Resource, action: Action) -> AppError {
    AppError::forbidden(format!(
        "you need the {}:{} permission in this company",
        resource.as_str(),
        action.as_str()
    ))
}

/// Per-request cache of the signed-in user's permissions, company by company, and of
/// their project grants.
pub struct Authorizer {
    app: App,
    user_id: Option<Uuid>,
    /// Company id → the permissions of the caller's role there (None: not a member).
    grants: Mutex<HashMap<Uuid, Option<PermissionSet>>>,
    /// Project id → the permissions of the caller's grant there, loaded once.
    project_grants: Mutex<Option<HashMap<Uuid, PermissionSet>>>,
}

impl Authorizer {
    /// An authorizer for one request of `user_id` (None: anonymous, who may do nothing).
    pub fn new(app: App, user_id: Option<Uuid>) -> Self {
        Self {
            app,
            user_id,
            grants: Mutex::new(HashMap::new()),
            project_grants: Mutex::new(None),
        }
    }

    /// An authorizer for the caller of a request (no context: anonymous).
    pub fn for_caller(app: App, context: Option<&RequestContext>) -> Self {
        let user_id = match context.map(|c| &c.actor) {
            Some(Actor::User(user)) => Some(user.user_id),
            _ => None,
        };
        Self::new(app, user_id)
    }

    /// The caller's permissions in the company (None when not a member).
    async fn membership(&self, company_id: Uuid) -> AppResult<Option<PermissionSet>> {
        let Some(user_id) = self.user_id else {
            return Ok(None);
        };
        let mut grants = self.grants.lock().await;
        if let Some(set) = grants.get(&company_id) {
            return Ok(*set);
        }
        let mut conn = self.app.pool.get().await?;
        let set = match crate::companies::access::member(&mut conn, company_id, user_id).await {
            Ok(member) => Some(member.permissions),
            Err(err) if err.code == ErrorCode::NotFound => None,
            Err(err) => return Err(err),
        };
        grants.insert(company_id, set);
        Ok(set)
    }

    /// The caller's permissions in the company (empty when not a member).
    pub async fn permissions(&self, company_id: Uuid) -> AppResult<PermissionSet> {
        Ok(self.membership(company_id).await?.unwrap_or_default())
    }

    /// The caller's permissions in a project of the company: their company role's plus
    /// those of their grant in that project (None when not a member of the company).
    pub async fn project_permissions(
        &self,
        company_id: Uuid,
        project_id: Uuid,
    ) -> AppResult<Option<PermissionSet>> {
        let (Some(company), Some(user_id)) = (self.membership(company_id).await?, self.user_id) else {
            return Ok(None);
        };
        let mut cached = self.project_grants.lock().await;
        if cached.is_none() {
            let mut conn = self.app.pool.get().await?;
            let mut by_project = HashMap::new();
            for (project, role) in crate::projects::store::grants_of_user(&mut conn, user_id).await? {
                by_project.insert(project, role_permissions(&mut conn, &role).await?);
            }
            *cached = Some(by_project);
        }
        let grant = cached
            .as_ref()
            .and_then(|grants| grants.get(&project_id).copied())
            .unwrap_or_default();
        Ok(Some(company.union(grant)))
    }

    /// Whether the caller may do `action` to `resource` in the company.
    pub async fn can(&self, resource: Resource, action: Action, company_id: Uuid) -> AppResult<bool> {
        Ok(self.permissions(company_id).await?.allows(resource, action))
    }
}

/// Field guard: the caller holds (resource, action) in the company that owns the field.
pub struct CompanyPermission {
    pub company_id: Uuid,
    pub resource: Resource,
    pub action: Action,
}

impl Guard for CompanyPermission {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        let Some(authorizer) = ctx.data_opt::<Authorizer>() else {
            return Err(forbidden(self.resource, self.action).into());
        };
        if authorizer
            .can(self.resource, self.action, self.company_id)
            .await?
        {
            Ok(())
        } else {
            Err(forbidden(self.resource, self.action).into())
        }
    }
}

/// Gives each websocket operation a fresh [`Authorizer`] for the connection's caller (HTTP
/// requests get theirs from [`crate::graphql::operations::HttpOperations`]).
pub fn attach(ctx: &ExtensionContext<'_>, request: &mut Request) {
    if let Some(app) = ctx.data_opt::<App>() {
        let context = ctx.data_opt::<RequestContext>();
        request.data.insert(Authorizer::for_caller(app.clone(), context));
    }
}
