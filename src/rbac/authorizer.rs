//! The authorizer: what a person or an API key may do in a company. Services that change data ask the
//! member inside their transaction (the real gate); reads and field guards ask the
//! [`Authorizer`], which answers from the user's remembered standing (see
//! [`crate::rbac::standing`]): forgotten on this instance as soon as it commits a change,
//! and on the others as soon as they hear the database announce it.

use async_graphql::{Context, Guard};
use std::sync::Arc;

use tokio::sync::Mutex;
use uuid::Uuid;

use super::catalog::{Action, PermissionSet, Resource};
use super::standing::{Standing, standing_of};
use crate::app::App;
use crate::auth::caller::{Actor, Caller};
use crate::cache::Ticket;
use crate::error::{AppError, AppResult};

/// FORBIDDEN naming the permission a caller lacks.
pub fn forbidden(resource: Resource, action: Action) -> AppError {
    AppError::forbidden(format!(
        "you need the {}:{} permission in this company",
        resource.as_str(),
        action.as_str()
    ))
}

/// FORBIDDEN for a member of a company that requires a second factor they have not turned
/// on: they keep the membership, and the error says what to do.
pub fn two_factor_required() -> AppError {
    AppError::forbidden(
        "this company requires two-factor sign-in: turn it on for your account (setupTotp, then confirmTotp) to reach its data",
    )
    .with_reason("TWO_FACTOR_REQUIRED")
}

/// What the caller of one request or websocket operation may do. It reads the caller's
/// [`standing_of`] once and keeps it until the shared memory forgets anything, so the many
/// concurrent checks of one request read it once, and a long-lived subscription sees a
/// change as soon as this instance hears of it.
pub struct Authorizer {
    app: App,
    actor: Option<Actor>,
    /// The standing last read, with the memory's marker before reading it.
    standing: Mutex<Option<(Ticket, Arc<Standing>)>>,
}

impl Authorizer {
    /// An authorizer for one request of `actor` (None: anonymous, who may do nothing).
    pub fn new(app: App, actor: Option<Actor>) -> Self {
        Self {
            app,
            actor,
            standing: Mutex::new(None),
        }
    }

    /// The caller's standing, read again only when something was forgotten since.
    async fn standing(&self, actor: Actor) -> AppResult<Arc<Standing>> {
        let mut kept = self.standing.lock().await;
        let marker = self.app.standings.marker();
        if let Some((seen, standing)) = kept.as_ref()
            && *seen == marker
        {
            return Ok(standing.clone());
        }
        let standing = standing_of(&self.app, actor).await?;
        *kept = Some((marker, standing.clone()));
        Ok(standing)
    }

    /// An authorizer for `caller`.
    pub fn for_caller(app: App, caller: &Caller) -> Self {
        Self::new(app, caller.actor())
    }

    /// The caller's permissions in the company (empty when not a member).
    pub async fn permissions(&self, company_id: Uuid) -> AppResult<PermissionSet> {
        let Some(actor) = self.actor else {
            return Ok(PermissionSet::default());
        };
        Ok(self
            .standing(actor)
            .await?
            .company(company_id)
            .unwrap_or_default())
    }

    /// The caller's permissions in a project of the company: their company role's plus
    /// those of their grant in that project (None when not a member of the company).
    pub async fn project_permissions(
        &self,
        company_id: Uuid,
        project_id: Uuid,
    ) -> AppResult<Option<PermissionSet>> {
        let Some(actor) = self.actor else {
            return Ok(None);
        };
        Ok(self.standing(actor).await?.project(company_id, project_id))
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
