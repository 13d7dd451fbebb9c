//! GraphQL face of permissions: the catalog, custom-role mutations, and the `Permission`
//! shape used by `Role.permissions` and `me.permissions`.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};

use super::catalog::{Action, CATALOG, Permission, PermissionSet, Resource};
use crate::companies::graphql::Role;
use crate::companies::service::roles::{self as service, RoleSpec};
use crate::graphql::context::{app, caller, parse_id};

/// One permission.
#[derive(SimpleObject)]
#[graphql(name = "Permission")]
pub struct PermissionObject {
    resource: Resource,
    action: Action,
}

/// The permissions of a set, in catalog order.
pub fn permission_list(set: PermissionSet) -> Vec<PermissionObject> {
    set.iter()
        .map(|p| PermissionObject {
            resource: p.resource,
            action: p.action,
        })
        .collect()
}

/// A permission of the catalog, with what it allows.
#[derive(SimpleObject)]
pub struct PermissionDef {
    resource: Resource,
    action: Action,
    description: String,
}

#[derive(InputObject)]
struct PermissionInput {
    resource: Resource,
    action: Action,
}

#[derive(InputObject)]
struct RoleInput {
    company_id: ID,
    name: String,
    description: Option<String>,
    permissions: Vec<PermissionInput>,
}

impl RoleInput {
    fn into_spec(self) -> Result<RoleSpec> {
        Ok(RoleSpec {
            company_id: parse_id(&self.company_id, "company")?,
            name: self.name,
            description: self.description,
            permissions: self
                .permissions
                .into_iter()
                .map(|p| Permission {
                    resource: p.resource,
                    action: p.action,
                })
                .collect(),
        })
    }
}

/// Permission queries.
#[derive(Default)]
pub struct RbacQuery;

#[Object]
impl RbacQuery {
    /// Every permission that exists, with what it allows.
    async fn permission_catalog(&self) -> Vec<PermissionDef> {
        CATALOG
            .iter()
            .map(|(resource, action, description)| PermissionDef {
                resource: *resource,
                action: *action,
                description: (*description).to_owned(),
            })
            .collect()
    }
}

/// Role mutations.
#[derive(Default)]
pub struct RbacMutation;

#[Object]
impl RbacMutation {
    /// Creates a custom role (role:manage; only with permissions the caller holds).
    async fn create_role(&self, ctx: &Context<'_>, input: RoleInput) -> Result<Role> {
        let role = service::create_role(app(ctx), caller(ctx), input.into_spec()?).await?;
        Ok(Role(role))
    }

    /// Changes a custom role; built-in roles are fixed.
    async fn update_role(&self, ctx: &Context<'_>, id: ID, input: RoleInput) -> Result<Role> {
        let role_id = parse_id(&id, "role")?;
        let role = service::update_role(app(ctx), caller(ctx), role_id, input.into_spec()?).await?;
        Ok(Role(role))
    }

    /// Deletes a custom role that nobody holds (CONFLICT otherwise).
    async fn delete_role(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        service::delete_role(app(ctx), caller(ctx), parse_id(&id, "role")?).await?;
        Ok(true)
    }
}
