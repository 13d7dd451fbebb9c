//! Field guards: a denied field resolves to null with FORBIDDEN at its path while the rest
//! of the response stands. Services remain the real gate; guards keep sensitive fields
//! from the wrong reader.

use async_graphql::{Context, Guard};
use uuid::Uuid;

use super::context::request;
use crate::auth::actor::Actor;
use crate::error::AppError;

/// Only the user themself may read the field.
pub struct SelfOnly(pub Uuid);

impl Guard for SelfOnly {
    async fn check(&self, ctx: &Context<'_>) -> async_graphql::Result<()> {
        match &request(ctx).actor {
            Actor::User(user) if user.user_id == self.0 => Ok(()),
            _ => Err(AppError::forbidden("you may not read this field").into()),
        }
    }
}
