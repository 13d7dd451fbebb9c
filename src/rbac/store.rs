//! SQL for custom roles' permissions.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::catalog::{Action, Permission, PermissionSet, Resource};
use chrono::{DateTime, Utc};

use crate::db::schema::{invitations, memberships, project_role_grants, role_permissions};

/// The stored permissions of each of these roles (roles without rows are absent).
pub async fn permissions_of_roles(
    conn: &mut AsyncPgConnection,
    role_ids: &[Uuid],
) -> QueryResult<HashMap<Uuid, PermissionSet>> {
    let rows: Vec<(Uuid, String, String)> = role_permissions::table
        .filter(role_permissions::role_id.eq_any(role_ids))
        .select((
            role_permissions::role_id,
            role_permissions::resource,
            role_permissions::action,
        ))
        .load(conn)
        .await?;
    let mut sets: HashMap<Uuid, PermissionSet> = HashMap::new();
    for (role_id, resource, action) in rows {
        if let (Some(resource), Some(action)) = (Resource::parse(&resource), Action::parse(&action)) {
            sets.entry(role_id)
                .or_default()
                .insert(Permission { resource, action });
        }
    }
    Ok(sets)
}

/// Replaces a role's stored permissions.
pub async fn replace_permissions(
    conn: &mut AsyncPgConnection,
    role_id: Uuid,
    permissions: PermissionSet,
) -> QueryResult<()> {
    diesel::delete(role_permissions::table.filter(role_permissions::role_id.eq(role_id)))
        .execute(conn)
        .await?;
    let rows: Vec<_> = permissions
        .iter()
        .map(|p| {
            (
                role_permissions::role_id.eq(role_id),
                role_permissions::resource.eq(p.resource.as_str()),
                role_permissions::action.eq(p.action.as_str()),
            )
        })
        .collect();
    if rows.is_empty() {
        return Ok(());
    }
    diesel::insert_into(role_permissions::table)
        .values(rows)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Who still uses the role: (members, project grants, pending invitations).
pub async fn holders(
    conn: &mut AsyncPgConnection,
    role_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<(i64, i64, i64)> {
    let members = memberships::table
        .filter(memberships::role_id.eq(role_id))
        .count()
        .get_result(conn)
        .await?;
    let grants = project_role_grants::table
        .filter(project_role_grants::role_id.eq(role_id))
        .count()
        .get_result(conn)
        .await?;
    let invitations = invitations::table
        .filter(invitations::role_id.eq(role_id))
        .filter(invitations::accepted_at.is_null())
        .filter(invitations::revoked_at.is_null())
        .filter(invitations::expires_at.gt(now))
        .count()
        .get_result(conn)
        .await?;
    Ok((members, grants, invitations))
}
