//! The caller's standing in a company: membership, role and the permissions it grants. A
//! company the caller does not belong to is NOT_FOUND, so its existence is never revealed;
//! a permission they lack in a company they see is FORBIDDEN.

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::model::{BuiltIn, MembershipRow, RoleRow};
use super::store;
use crate::error::{AppError, AppResult};
use crate::rbac::authorizer::forbidden;
use crate::rbac::catalog::{Action, PermissionSet, Resource};
use crate::rbac::standing::role_permissions;

/// What a viewer may see of the members of one company.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemberRights {
    /// Email and phone (member:view).
    pub contact: bool,
    /// Last login and two-factor status (member:manage).
    pub account: bool,
}

/// A member's membership, company-wide role and the permissions it grants.
#[derive(Debug, Clone)]
pub struct Member {
    pub membership: MembershipRow,
    pub role: RoleRow,
    pub permissions: PermissionSet,
}

impl Member {
    /// Whether the member is an Owner.
    pub fn is_owner(&self) -> bool {
        self.role.built_in() == Some(BuiltIn::Owner)
    }

    /// Whether the member holds (resource, action).
    pub fn can(&self, resource: Resource, action: Action) -> bool {
        self.permissions.allows(resource, action)
    }

    /// FORBIDDEN unless the member holds (resource, action).
    pub fn require(&self, resource: Resource, action: Action) -> AppResult<()> {
        if self.can(resource, action) {
            Ok(())
        } else {
            Err(forbidden(resource, action))
        }
    }

    /// FORBIDDEN when `role` grants a permission the member lacks: nobody hands out more
    /// than they hold, and only an Owner makes Owners.
    pub fn require_can_grant(&self, role: &RoleRow, role_permissions: PermissionSet) -> AppResult<()> {
        if role.built_in() == Some(BuiltIn::Owner) && !self.is_owner() {
            return Err(AppError::forbidden("only an owner may make someone owner"));
        }
        let excess = role_permissions.without(self.permissions);
        if excess.iter().next().is_some() {
            let names: Vec<String> = excess
                .iter()
                .map(|p| format!("{}:{}", p.resource.as_str(), p.action.as_str()))
                .collect();
            return Err(AppError::forbidden(format!(
                "you cannot grant permissions you do not hold: {}",
                names.join(", ")
            )));
        }
        Ok(())
    }

    /// FORBIDDEN unless this member may change or remove `target`: only an Owner touches an
    /// Owner, and nobody touches someone who holds more than they do.
    pub fn require_outranks(&self, target: &Member) -> AppResult<()> {
        if target.is_owner() && !self.is_owner() {
            return Err(AppError::forbidden("only an owner may change or remove an owner"));
        }
        if !target.permissions.is_subset_of(self.permissions) {
            return Err(AppError::forbidden(
                "you cannot change or remove someone who holds more than you",
            ));
        }
        Ok(())
    }

    /// What this member may see of other members.
    pub fn member_rights(&self) -> MemberRights {
        MemberRights {
            contact: self.can(Resource::Member, Action::View),
            account: self.can(Resource::Member, Action::Manage),
        }
    }

    /// FORBIDDEN unless Owner.
    pub fn require_owner(&self) -> AppResult<()> {
        if self.is_owner() {
            Ok(())
        } else {
            Err(AppError::forbidden("only the company's owners may do this"))
        }
    }
}

/// The user's standing in the company; NOT_FOUND when they are not a member.
pub async fn member(conn: &mut AsyncPgConnection, company_id: Uuid, user_id: Uuid) -> AppResult<Member> {
    let (membership, role) = store::find_membership(conn, company_id, user_id)
        .await?
        .ok_or_else(|| AppError::not_found("company"))?;
    let permissions = role_permissions(conn, &role).await?;
    Ok(Member {
        membership,
        role,
        permissions,
    })
}
