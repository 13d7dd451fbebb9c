//! Websocket connections authenticate once, at connection_init; this extension re-checks
//! their session before every operation, so logout, revocation, a password reset or token
//! expiry ends the connection's access at once, as it does over HTTP.

use std::sync::Arc;

use async_graphql::extensions::{Extension, ExtensionContext, ExtensionFactory, NextPrepareRequest};
use async_graphql::{Request, ServerResult};

use super::errors::server_error;
use crate::app::App;
use crate::sessions::service as sessions;

/// Attached to a websocket connection that signed in: the token it presented.
pub struct ConnectionCredentials {
    pub access_token: String,
}

/// The extension; harmless for HTTP requests, which carry no connection credentials.
pub struct LiveSession;

impl ExtensionFactory for LiveSession {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(LiveSession)
    }
}

#[async_graphql::async_trait::async_trait]
impl Extension for LiveSession {
    async fn prepare_request(
        &self,
        ctx: &ExtensionContext<'_>,
        request: Request,
        next: NextPrepareRequest<'_>,
    ) -> ServerResult<Request> {
        if let (Some(credentials), Some(app)) =
            (ctx.data_opt::<ConnectionCredentials>(), ctx.data_opt::<App>())
            && let Err(err) = sessions::authenticate(app, &credentials.access_token).await
        {
            return Err(server_error(err.code, err.message));
        }
        next.run(ctx, request).await
    }
}
