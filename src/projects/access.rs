//! The caller's standing in a project, read afresh for writes: their company role's
//! permissions with their grant's there ([`in_project`], the rule reads use too).

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::model::ProjectRow;
use super::store;
use crate::companies::access::{self, Member};
use crate::error::{AppError, AppResult};
use crate::rbac::standing::{in_project, role_permissions};

/// The project and the caller's effective standing in it; NOT_FOUND when the caller does
/// not belong to its company.
pub async fn project_member(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    user_id: Uuid,
    lock: bool,
) -> AppResult<(ProjectRow, Member)> {
    let project = store::find_for_member(conn, project_id, user_id, lock)
        .await?
        .ok_or_else(|| AppError::not_found("project"))?;
    let mut member = access::member(conn, project.company_id, user_id).await?;
    let grant = match store::find_grant(conn, project.id, user_id).await? {
        Some((_, role)) => Some(role_permissions(conn, &role).await?),
        None => None,
    };
    member.permissions = in_project(member.permissions, grant);
    Ok((project, member))
}
