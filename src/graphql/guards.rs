//! Field guards: a denied field resolves to null with FORBIDDEN at its path while the rest
//! of the response stands. Services remain the real gate; guards keep sensitive fields
//! from the wrong reader.

use async_graphql::{Context, Guard};
use uuid::Uuid;

use super::context::request;
use crate::auth::actor::Actor;
use crate::error::AppError;

/// Only the user themself may read the field: the signed-in user with that id, or a caller
/// who just proved to be them (signing in, opening their verification link).
pub struct SelfOnly {
    pub user_id: Uuid,
    pub proven_self: bool,
}

impl Guard for SelfOnly {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        match &request(ctx).actor {
            _ if self.proven_self => Ok(()),
            Actor::User(user) if user.user_id == self.user_id => Ok(()),
            _ => Err(AppError::forbidden("you may not read this field").into()),
        }
    }
}
