//! Websocket connections authenticate once, at connection_init; this extension re-checks
//! their session before every operation, so logout, revocation, a password reset or token
//! expiry ends the connection's access at once, as it does over HTTP. (Run by
//! [`super::pipeline::Pipeline`].)

use std::sync::Arc;

use async_graphql::ServerResult;
use async_graphql::extensions::ExtensionContext;

use super::errors::server_error;
use crate::app::App;
use crate::sessions::service as sessions;

/// Attached to a websocket connection that signed in (as `Arc<ConnectionCredentials>`): the
/// token it presented, replaced when the client renews it.
pub struct ConnectionCredentials {
    access_token: std::sync::Mutex<String>,
}

impl ConnectionCredentials {
    /// Credentials holding `access_token`.
    pub fn new(access_token: String) -> Self {
        Self {
            access_token: std::sync::Mutex::new(access_token),
        }
    }

    /// The current token.
    pub fn access_token(&self) -> String {
        self.access_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Fails when the session behind the current token has ended (logout, revocation, a
    /// password reset) or the token expired.
    pub async fn recheck(&self, app: &App) -> crate::error::AppResult<()> {
        sessions::authenticate(app, &self.access_token())
            .await
            .map(|_| ())
    }

    /// Replaces the token with a renewed one.
    pub fn renew(&self, access_token: String) {
        *self
            .access_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = access_token;
    }
}

/// Before each operation of a signed-in websocket: fails when its session ended. HTTP
/// requests carry no connection credentials and pass.
pub async fn recheck(ctx: &ExtensionContext<'_>) -> ServerResult<()> {
    if let (Some(credentials), Some(app)) = (
        ctx.data_opt::<Arc<ConnectionCredentials>>(),
        ctx.data_opt::<App>(),
    ) && let Err(err) = credentials.recheck(app).await
    {
        return Err(server_error(err.code, err.message));
    }
    Ok(())
}
