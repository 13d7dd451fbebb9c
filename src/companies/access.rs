//! The caller's standing in a company: the role they act with and the permissions it
//! grants, a person's through their membership, an API key's through its own role. A
//! company the caller does not reach is NOT_FOUND, so its existence is never revealed; a
//! permission they lack in a company they see is FORBIDDEN.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::model::{BuiltIn, MembershipRow, RoleRow};
use super::store;
use crate::api_keys::store as key_store;
use crate::auth::caller::{Actor, LinkRequester};
use crate::error::{AppError, AppResult};
use crate::rbac::authorizer::{forbidden, two_factor_required};
use crate::rbac::catalog::{Action, PermissionSet, Resource};
use crate::rbac::standing::role_permissions;
use crate::sessions::store as session_store;

/// What a viewer may see of the members of one company.
#[derive(Debug, Clone, Copy, Default)]
pub struct MemberRights {
    /// Email and phone (member:view).
    pub contact: bool,
    /// Last login and two-factor status (member:manage).
    pub account: bool,
}

/// Who acts in a company, the company-wide role they act with and the permissions it
/// grants: a member (with their membership) or an API key of the company (without one).
#[derive(Debug, Clone)]
pub struct Member {
    pub company_id: Uuid,
    pub actor: Actor,
    /// None for an API key, which acts with a role but belongs to no one.
    pub membership: Option<MembershipRow>,
    pub role: RoleRow,
    pub permissions: PermissionSet,
}

impl Member {
    /// The membership of a member who is a person; FORBIDDEN for an API key.
    pub fn membership(&self) -> AppResult<&MembershipRow> {
        self.membership
            .as_ref()
            .ok_or_else(|| AppError::forbidden("an API key cannot do this: it needs a person's session"))
    }

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

/// Who a signed link's requester is now, if they still act: the link dies with the session
/// that asked for it (sign-out, password change) or with the key (revoked, expired).
pub async fn still_acting(
    conn: &mut AsyncPgConnection,
    requester: LinkRequester,
    now: DateTime<Utc>,
) -> AppResult<Option<Actor>> {
    Ok(match requester {
        LinkRequester::Session { user, session } => session_store::find_live(conn, session, now)
            .await?
            .filter(|(session, _)| session.user_id == user)
            .map(|_| Actor::User(user)),
        LinkRequester::Key { key, company } => key_store::unrevoked_with_role(conn, key)
            .await?
            .filter(|(key, _)| key.is_live(now))
            .map(|_| Actor::ApiKey {
                key_id: key,
                company_id: company,
            }),
    })
}

/// The actor's standing in the company, read afresh; NOT_FOUND when a person is no member
/// or a key belongs to another company (or was revoked meanwhile), FORBIDDEN
/// ([`two_factor_required`]) when the company holds the person back.
pub async fn member(conn: &mut AsyncPgConnection, company_id: Uuid, actor: Actor) -> AppResult<Member> {
    let (member, held_back) = standing_in(conn, company_id, actor).await?;
    if held_back {
        return Err(two_factor_required());
    }
    Ok(member)
}

/// The actor's standing in the company even when the company holds them back for want of
/// a second factor: for leaving it, and for others managing their membership.
pub async fn member_without_two_factor(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    actor: Actor,
) -> AppResult<Member> {
    Ok(standing_in(conn, company_id, actor).await?.0)
}

/// The actor's standing and whether the company holds them back.
async fn standing_in(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    actor: Actor,
) -> AppResult<(Member, bool)> {
    let (membership, role, held_back) = match actor {
        Actor::User(user_id) => {
            let (membership, role, held_back) = store::find_member(conn, company_id, user_id)
                .await?
                .ok_or_else(|| AppError::not_found("company"))?;
            (Some(membership), role, held_back)
        }
        Actor::ApiKey { key_id, .. } => {
            let (_, role) = key_store::unrevoked_with_role(conn, key_id)
                .await?
                .filter(|(key, _)| key.company_id == company_id)
                .ok_or_else(|| AppError::not_found("company"))?;
            (None, role, false)
        }
    };
    let permissions = role_permissions(conn, &role).await?;
    let member = Member {
        company_id,
        actor,
        membership,
        role,
        permissions,
    };
    Ok((member, held_back))
}
