//! Field guards: a denied field resolves to null with FORBIDDEN at its path while the rest
//! of the response stands. Services remain the real gate; guards keep sensitive fields
//! from the wrong reader.

use async_graphql::{Context, Guard};
use uuid::Uuid;

use super::context::caller;
use crate::auth::caller::Principal;
use crate::error::AppError;

/// The user themself may read the field, and so may whoever the object's path has already
/// shown to be allowed (`allowed`, decided where the object was reached).
pub struct SelfOr {
    pub user_id: Uuid,
    pub allowed: bool,
}

impl Guard for SelfOr {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        match &caller(ctx).principal {
            _ if self.allowed => Ok(()),
            Principal::User(user) if user.user_id == self.user_id => Ok(()),
            _ => Err(AppError::forbidden("you may not read this field").into()),
        }
    }
}
