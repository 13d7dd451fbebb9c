//! SQL for custom roles' permissions.

use std::collections::HashMap;

use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::catalog::{Action, Permission, PermissionSet, Resource};
use crate::db::schema::{memberships, role_permissions};

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

/// How many members hold the role.
pub async fn holders(conn: &mut AsyncPgConnection, role_id: Uuid) -> QueryResult<i64> {
    memberships::table
        .filter(memberships::role_id.eq(role_id))
        .count()
        .get_result(conn)
        .await
}
