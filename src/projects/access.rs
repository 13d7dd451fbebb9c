//! The caller's standing in a project, read afresh for writes: their company role's
//! permissions with their grant's there ([`in_project`], the rule reads use too); and a
//! project as the scope its events are read in.

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::model::ProjectRow;
use super::store;
use crate::app::App;
use crate::auth::caller::{Actor, Caller};
use crate::companies::access::{self, Member};
use crate::db::tx;
use crate::error::{AppError, AppResult};
use crate::events::write::ProjectScope;
use crate::rbac::catalog::PermissionSet;
use crate::rbac::standing::{in_project, role_permissions};

/// The project and the caller's effective standing in it; NOT_FOUND when the caller does
/// not reach its company. A key has no grants: its role is the same in every project.
pub async fn project_member(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    actor: Actor,
    lock: bool,
) -> AppResult<(ProjectRow, Member)> {
    let project = store::find_for(conn, project_id, actor, lock)
        .await?
        .ok_or_else(|| AppError::not_found("project"))?;
    let mut member = access::member(conn, project.company_id, actor).await?;
    let grant = match actor.user_id() {
        Some(user_id) => match store::find_grant(conn, project.id, user_id).await? {
            Some((_, role)) => Some(role_permissions(conn, &role).await?),
            None => None,
        },
        None => None,
    };
    member.permissions = in_project(member.permissions, grant);
    Ok((project, member))
}

/// Events in a project are seen with the standing of the project's readers.
impl ProjectScope for ProjectRow {
    fn company_id(&self) -> Uuid {
        self.company_id
    }

    fn project_id(&self) -> Uuid {
        self.id
    }
}

/// The caller's effective permissions in a company, or in one of its projects (their
/// company role's permissions plus those of their grant there).
pub async fn effective_permissions(
    app: &App,
    caller: &Caller,
    company_id: Uuid,
    project_id: Option<Uuid>,
) -> AppResult<PermissionSet> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        let member = access::member(conn, company_id, actor).await?;
        let Some(project_id) = project_id else {
            return Ok(member.permissions);
        };
        let (project, there) = project_member(conn, project_id, actor, false).await?;
        if project.company_id != company_id {
            return Err(AppError::not_found("project"));
        }
        Ok(there.permissions)
    })
    .await
}
