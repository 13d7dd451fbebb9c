//! Websocket connections authenticate once, at connection_init; this extension re-checks
//! their session before every operation, so logout, revocation, a password reset or token
//! expiry ends the connection's access at once, as it does over HTTP. (Run by
//! [`super::pipeline::Pipeline`].)

use async_graphql::ServerResult;
use async_graphql::extensions::ExtensionContext;

use super::errors::server_error;
use crate::app::App;
use crate::sessions::service as sessions;

/// Attached to a websocket connection that signed in: the token it presented.
pub struct ConnectionCredentials {
    pub access_token: String,
}

/// Before each operation of a signed-in websocket: fails when its session ended. HTTP
/// requests carry no connection credentials and pass.
pub async fn recheck(ctx: &ExtensionContext<'_>) -> ServerResult<()> {
    if let (Some(credentials), Some(app)) = (ctx.data_opt::<ConnectionCredentials>(), ctx.data_opt::<App>())
        && let Err(err) = sessions::authenticate(app, &credentials.access_token).await
    {
        return Err(server_error(err.code, err.message));
    }
    Ok(())
}
