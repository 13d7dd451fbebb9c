//! Websocket connections authenticate once, at connection_init; the pipeline re-checks
//! their session before every operation (and the socket at every ping), so logout,
//! revocation, a password reset or token expiry ends the connection's access at once, as
//! it does over HTTP.

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
