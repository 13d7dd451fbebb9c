//! Who is calling and from where: the identity every service receives.

use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// The caller of a request.
#[derive(Debug, Clone)]
pub enum Actor {
    Anonymous,
    User(SignedInUser),
}

/// A caller with a valid access token for a live session.
#[derive(Debug, Clone)]
pub struct SignedInUser {
    pub user_id: Uuid,
    pub session_id: Uuid,
    pub email_verified: bool,
}

impl SignedInUser {
    /// Most operations need a verified email address (see the contract's header).
    pub fn require_verified(&self) -> AppResult<()> {
        if self.email_verified {
            Ok(())
        } else {
            Err(AppError::email_not_verified())
        }
    }
}

impl Actor {
    /// The signed-in user, or UNAUTHENTICATED.
    pub fn signed_in(&self) -> AppResult<&SignedInUser> {
        match self {
            Self::User(user) => Ok(user),
            Self::Anonymous => Err(AppError::unauthenticated("sign in to use this operation")),
        }
    }
}

/// Where a request came from, recorded on sessions and used for per-address rate limits.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}
