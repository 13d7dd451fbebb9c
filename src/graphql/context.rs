//! What every resolver can ask of its operation: the App, the caller, loaders and the
//! authorizer.

use async_graphql::{Context, ID};
use uuid::Uuid;

use crate::app::App;
use crate::auth::caller::{ANONYMOUS, Caller, SignedInUser};
use crate::error::{AppError, AppResult};

/// The App the schema was built with.
pub fn app<'a>(ctx: &Context<'a>) -> &'a App {
    ctx.data_unchecked::<App>()
}

/// This operation's caller (the HTTP and websocket handlers insert it); anonymous when
/// none was supplied.
pub fn caller<'a>(ctx: &Context<'a>) -> &'a Caller {
    ctx.data_opt::<Caller>().unwrap_or(&ANONYMOUS)
}

/// The signed-in caller, or UNAUTHENTICATED.
pub fn signed_in<'a>(ctx: &Context<'a>) -> AppResult<&'a SignedInUser> {
    caller(ctx).signed_in()
}

/// The UUID behind a GraphQL ID; a malformed one names nothing, so it is NOT_FOUND.
pub fn parse_id(id: &ID, what: &str) -> AppResult<Uuid> {
    Uuid::parse_str(id.as_str()).map_err(|_| AppError::not_found(what))
}

/// A batch loader registered in the schema.
pub fn loader<'a, T: Send + Sync + 'static>(
    ctx: &Context<'a>,
) -> &'a async_graphql::dataloader::DataLoader<T> {
    ctx.data_unchecked::<async_graphql::dataloader::DataLoader<T>>()
}

/// This request's permission cache (every operation gets one).
pub fn authorizer<'a>(ctx: &Context<'a>) -> async_graphql::Result<&'a crate::rbac::authorizer::Authorizer> {
    ctx.data_opt::<crate::rbac::authorizer::Authorizer>()
        .ok_or_else(|| AppError::internal(anyhow::anyhow!("no authorizer in the request")).into())
}

/// An optional input as a change: absent keeps a field (None), null clears it (Some(None)).
pub fn presence<T>(value: async_graphql::MaybeUndefined<T>) -> Option<Option<T>> {
    match value {
        async_graphql::MaybeUndefined::Undefined => None,
        async_graphql::MaybeUndefined::Null => Some(None),
        async_graphql::MaybeUndefined::Value(value) => Some(Some(value)),
    }
}
