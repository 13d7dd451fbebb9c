//! The caller's standing in a project: their company role's permissions plus (union) those
//! of their grant in this project. A grant never reaches another project.

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::model::ProjectRow;
use super::store;
use crate::companies::access::{self, Member};
use crate::error::{AppError, AppResult};
use crate::rbac::authorizer::role_permissions;

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
    if let Some((_, role)) = store::find_grant(conn, project.id, user_id).await? {
        member.permissions = member.permissions.union(role_permissions(conn, &role).await?);
    }
    Ok((project, member))
}
