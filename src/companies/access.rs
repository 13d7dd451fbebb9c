//! The caller's standing in a company. Until the roles issue brings permissions, changes to
//! a company and its team need an Owner or Admin; a company the caller does not belong to
//! is NOT_FOUND, so its existence is never revealed.

use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::model::{BuiltIn, MembershipRow, RoleRow};
use super::store;
use crate::error::{AppError, AppResult};

/// A member's membership and company-wide role.
#[derive(Debug, Clone)]
pub struct Member {
    pub membership: MembershipRow,
    pub role: RoleRow,
}

impl Member {
    /// Whether the member is an Owner.
    pub fn is_owner(&self) -> bool {
        self.role.built_in() == Some(BuiltIn::Owner)
    }

    /// Whether the member is an Owner or an Admin.
    pub fn is_admin(&self) -> bool {
        matches!(self.role.built_in(), Some(BuiltIn::Owner | BuiltIn::Admin))
    }

    /// FORBIDDEN unless Owner or Admin.
    pub fn require_admin(&self) -> AppResult<()> {
        if self.is_admin() {
            Ok(())
        } else {
            Err(AppError::forbidden(
                "only the company's owners and admins may do this",
            ))
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
    Ok(Member { membership, role })
}
