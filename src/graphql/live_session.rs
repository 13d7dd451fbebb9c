//! Who a bearer credential stands for, on both transports: an access token of a live
//! session, or an API key. Websocket connections authenticate once, at connection_init;
//! the pipeline re-checks their credential before every operation (and the socket at every
//! ping), so logout, revocation, a password reset, a revoked key or expiry ends the
//! connection's access at once, as it does over HTTP.

use crate::api_keys::secret::looks_like_key;
use crate::api_keys::service as api_keys;
use crate::app::App;
use crate::auth::caller::Principal;
use crate::error::AppResult;
use crate::sessions::service as sessions;

/// The principal a bearer credential stands for, counted as one request (an API key spends
/// from its budget): UNAUTHENTICATED for a bad, ended or revoked one.
pub async fn authenticate(app: &App, credential: &str) -> AppResult<Principal> {
    if looks_like_key(credential) {
        Ok(Principal::ApiKey(api_keys::authenticate(app, credential).await?))
    } else {
        Ok(Principal::User(sessions::authenticate(app, credential).await?))
    }
}

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
    /// password reset) or the token expired, or the key was revoked or expired; an
    /// operation about to start on the connection, so a key spends from its budget.
    pub async fn recheck(&self, app: &App) -> AppResult<()> {
        authenticate(app, &self.access_token()).await.map(|_| ())
    }

    /// [`Self::recheck`] for a keep-alive check, which spends nothing.
    pub async fn still_live(&self, app: &App) -> AppResult<()> {
        let credential = self.access_token();
        if looks_like_key(&credential) {
            api_keys::find_live(app, &credential).await.map(|_| ())
        } else {
            sessions::authenticate(app, &credential).await.map(|_| ())
        }
    }

    /// Replaces the token with a renewed one.
    pub fn renew(&self, access_token: String) {
        *self
            .access_token
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = access_token;
    }
}
