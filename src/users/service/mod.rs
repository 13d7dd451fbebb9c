//! Account rules, split by flow. Helpers shared by the flows live here.

pub mod password;
pub mod profile;
pub mod registration;
pub mod two_factor;

use chrono::{DateTime, Duration, Utc};
use diesel_async::AsyncPgConnection;
use uuid::Uuid;

use super::model::{NewUserToken, TokenPurpose, UserRow};
use super::store;
use crate::app::App;
use crate::auth::caller::{ClientInfo, SignedInUser};
use crate::auth::tokens::OpaqueToken;
use crate::db::scope::Scope;
use crate::db::tx;
use crate::error::{AppError, AppResult};
use crate::input;
use crate::rate_limit::{self, Limit};

/// Wrong current-password confirmations per account before they are refused.
const PASSWORD_CONFIRMATIONS: Limit = Limit::per_15_minutes("password_confirm_user", 10);

const MAX_NAME_CHARS: usize = 100;

/// How long a recovery of a lost second factor waits between the request (and its notice)
/// and its link working.
pub const TWO_FACTOR_RECOVERY_WAIT: Duration = Duration::hours(72);
/// How long that link works once the wait is over.
const TWO_FACTOR_RECOVERY_USABLE: Duration = Duration::days(7);

impl TokenPurpose {
    fn lifetime(self) -> Duration {
        match self {
            Self::VerifyEmail | Self::ChangeEmail => Duration::hours(24),
            Self::ResetPassword => Duration::minutes(30),
            Self::RecoverTwoFactor => TWO_FACTOR_RECOVERY_WAIT + TWO_FACTOR_RECOVERY_USABLE,
        }
    }
}

/// Issues a new one-time token, killing the user's older ones of the same purpose;
/// returns the secret for the mail link.
pub async fn issue_token(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    purpose: TokenPurpose,
    new_email: Option<&str>,
    now: DateTime<Utc>,
) -> AppResult<String> {
    store::invalidate_open_tokens(conn, user_id, purpose, now).await?;
    let token = OpaqueToken::generate();
    store::insert_token(
        conn,
        &NewUserToken {
            id: Uuid::new_v4(),
            user_id,
            purpose: purpose.as_str(),
            token_hash: &token.hash,
            new_email,
            created_at: now,
            expires_at: now + purpose.lifetime(),
        },
    )
    .await?;
    Ok(token.secret)
}

/// Counts a request that mails `email`: per address (`per_address`) and per client address.
async fn limit_mail_request(
    app: &App,
    conn: &mut AsyncPgConnection,
    per_address: Limit,
    email: &str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> AppResult<()> {
    rate_limit::hit(conn, per_address, email, now).await?;
    if let Some(ip) = &client.ip {
        let per_ip = Limit::per_15_minutes("auth_mail_ip", app.config.auth_rate_limit_per_ip);
        rate_limit::hit(conn, per_ip, &rate_limit::address_key(ip), now).await?;
    }
    Ok(())
}

/// The signed-in caller's account row.
async fn load_user(conn: &mut AsyncPgConnection, actor: &SignedInUser) -> AppResult<UserRow> {
    store::find_by_id(conn, actor.user_id)
        .await?
        .ok_or_else(|| AppError::unauthenticated("the account no longer exists"))
}

/// The signed-in caller's account row, read in a transaction of its own.
async fn current_user(app: &App, actor: &SignedInUser) -> AppResult<UserRow> {
    tx::read(app, Scope::Nobody, async |conn| load_user(conn, actor).await).await
}

/// Checks that `password` is the user's current one. Each attempt counts toward a
/// per-account limit before the check; a correct answer takes its hit back. No
/// connection is held while the password is hashed.
async fn confirm_password(app: &App, user: &UserRow, password: &str, path: &str) -> AppResult<()> {
    let key = user.id.to_string();
    let now = app.clock.now();
    // The hit is committed before the check, so a wrong answer cannot take it back.
    let hit = tx::read(app, Scope::Nobody, async |conn| {
        rate_limit::hit(conn, PASSWORD_CONFIRMATIONS, &key, now).await
    })
    .await?;
    if app
        .passwords
        .verify(password, user.password_hash.as_deref())
        .await?
    {
        tx::read(app, Scope::Nobody, async |conn| {
            rate_limit::forget(conn, hit).await
        })
        .await?;
        return Ok(());
    }
    Err(AppError::invalid(path, "is not your current password"))
}

/// A display name: trimmed, 1 to 100 characters, no control characters.
fn parse_name(raw: &str, path: &str) -> AppResult<String> {
    input::text(raw, path, 1, MAX_NAME_CHARS)
}
