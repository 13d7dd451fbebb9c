//! GraphQL face of sessions: `AuthPayload`, `Session`, and sign-in mutations.

use async_graphql::{Context, ID, InputObject, Object, Result, SimpleObject};
use chrono::{DateTime, Utc};
use uuid::Uuid;

use super::model::SessionRow;
use super::service::{self, Credentials, SignIn};
use super::two_factor_recovery;
use crate::error::AppError;
use crate::graphql::context::{app, caller, signed_in};
use crate::users::graphql::User;

/// Tokens for a signed-in client.
#[derive(SimpleObject)]
pub struct AuthPayload {
    /// Short-lived JWT for the Authorization header.
    access_token: String,
    /// Opaque and single use: refreshSession returns a new one.
    refresh_token: String,
    /// Seconds until accessToken expires.
    expires_in: i32,
    user: User,
}

impl From<SignIn> for AuthPayload {
    fn from(sign_in: SignIn) -> Self {
        Self {
            access_token: sign_in.access_token,
            refresh_token: sign_in.refresh_token,
            expires_in: i32::try_from(sign_in.expires_in).unwrap_or(i32::MAX),
            user: User::proven_self(sign_in.user),
        }
    }
}

/// One signed-in device.
pub struct Session {
    row: SessionRow,
    current: bool,
}

impl Session {
    /// Wraps a row; `current_session` marks the caller's own.
    pub fn new(row: SessionRow, current_session: Uuid) -> Self {
        let current = row.id == current_session;
        Self { row, current }
    }
}

#[Object]
impl Session {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }

    async fn last_used_at(&self) -> Option<DateTime<Utc>> {
        self.row.last_used_at
    }

    async fn user_agent(&self) -> Option<&str> {
        self.row.user_agent.as_deref()
    }

    async fn ip(&self) -> Option<&str> {
        self.row.ip.as_deref()
    }

    /// Whether this is the session making the request.
    async fn current(&self) -> bool {
        self.current
    }
}

#[derive(InputObject)]
struct LoginInput {
    email: String,
    password: String,
    /// The authenticator's current code, or an unused recovery code, for an account with
    /// two-factor sign-in on (without it such an account's sign-in answers UNAUTHENTICATED
    /// with `extensions.reason: "TOTP_REQUIRED"`).
    totp_code: Option<String>,
}

/// Sign-in mutations.
#[derive(Default)]
pub struct SessionsMutation;

#[Object]
impl SessionsMutation {
    /// For someone who lost both authenticator and recovery codes: with the password (as
    /// for signing in), mails the account's address a link that turns two-factor sign-in
    /// off after a 72-hour wait. Signing in with the second factor meanwhile calls it off.
    async fn request_two_factor_recovery(
        &self,
        ctx: &Context<'_>,
        email: String,
        password: String,
    ) -> Result<bool> {
        two_factor_recovery::request(app(ctx), &email, &password, &caller(ctx).client).await?;
        Ok(true)
    }

    /// Turns two-factor sign-in off with the link of a recovery whose waiting period is
    /// over; signs out every session.
    async fn complete_two_factor_recovery(&self, ctx: &Context<'_>, token: String) -> Result<bool> {
        two_factor_recovery::complete(app(ctx), &token, &caller(ctx).client).await?;
        Ok(true)
    }

    /// Signs in; a wrong password and an unknown address give the same error.
    async fn login(&self, ctx: &Context<'_>, input: LoginInput) -> Result<AuthPayload> {
        let credentials = Credentials {
            email: input.email,
            password: input.password,
            totp_code: input.totp_code,
        };
        Ok(service::login(app(ctx), credentials, &caller(ctx).client)
            .await?
            .into())
    }

    /// Exchanges a refresh token for new tokens; a reused one signs the session out.
    async fn refresh_session(&self, ctx: &Context<'_>, refresh_token: String) -> Result<AuthPayload> {
        Ok(service::refresh(app(ctx), &refresh_token).await?.into())
    }

    /// Ends the current session.
    async fn logout(&self, ctx: &Context<'_>) -> Result<bool> {
        service::logout(app(ctx), caller(ctx)).await?;
        Ok(true)
    }

    /// Ends one of the caller's sessions.
    async fn revoke_session(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        signed_in(ctx)?;
        let session_id = Uuid::parse_str(&id).map_err(|_| AppError::not_found("session"))?;
        service::revoke_session(app(ctx), caller(ctx), session_id).await?;
        Ok(true)
    }
}
