//! Who is calling, from where, in which request: the one identity every service receives,
//! whichever transport brought the call. Services ask it for a signed-in or verified user
//! and never look at transports or tokens themselves.

use uuid::Uuid;

use crate::error::{AppError, AppResult};

/// The caller of one operation.
#[derive(Debug, Clone)]
pub struct Caller {
    pub principal: Principal,
    pub client: ClientInfo,
    /// The id the log, the `x-request-id` header and INTERNAL errors carry.
    pub request_id: String,
}

/// Whom an operation acts for.
#[derive(Debug, Clone)]
pub enum Principal {
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

/// Where a request came from, recorded on sessions and used for per-address rate limits.
#[derive(Debug, Clone, Default)]
pub struct ClientInfo {
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// The caller of an operation that brought no context (an anonymous stranger).
pub static ANONYMOUS: Caller = Caller {
    principal: Principal::Anonymous,
    client: ClientInfo {
        ip: None,
        user_agent: None,
    },
    request_id: String::new(),
};

impl Caller {
    /// The signed-in user, or UNAUTHENTICATED.
    pub fn signed_in(&self) -> AppResult<&SignedInUser> {
        match &self.principal {
            Principal::User(user) => Ok(user),
            Principal::Anonymous => Err(AppError::unauthenticated("sign in to use this operation")),
        }
    }

    /// The signed-in user with a verified address (most operations need one, see the
    /// contract's header), or UNAUTHENTICATED / EMAIL_NOT_VERIFIED.
    pub fn verified(&self) -> AppResult<&SignedInUser> {
        let user = self.signed_in()?;
        if user.email_verified {
            Ok(user)
        } else {
            Err(AppError::email_not_verified())
        }
    }

    /// The signed-in user's id (None: anonymous).
    pub fn user_id(&self) -> Option<Uuid> {
        match &self.principal {
            Principal::User(user) => Some(user.user_id),
            Principal::Anonymous => None,
        }
    }
}
