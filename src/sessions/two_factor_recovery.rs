//! Recovery for someone who lost both their authenticator and their recovery codes: with
//! the password they ask for it, a notice with a link goes to the account's address at
//! once, and the link turns two-factor sign-in off only after a waiting period. Whoever
//! still holds the second factor calls it off by signing in with it, so a thief with the
//! password and the mailbox has days of notice against them. Nobody else, no company
//! owner included, can turn off a person's second factor: it guards all their companies.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use uuid::Uuid;

use super::service::check_password;
use super::store as session_store;
use crate::app::App;
use crate::audit::service::{self as audit, SecurityEvent};
use crate::auth::caller::ClientInfo;
use crate::auth::tokens::hash_token;
use crate::db::scope::Scope;
use crate::db::tx::{self, Touches, Work};
use crate::error::{AppError, AppResult};
use crate::mail::{Letter, MailKind};
use crate::users::model::TokenPurpose;
use crate::users::service::{TWO_FACTOR_RECOVERY_WAIT, issue_token};
use crate::users::store;

/// Starts a recovery: the password as for signing in (wrong ones count toward the sign-in
/// throttle and answer as a failed sign-in does), then a notice with the link to the
/// account's address. CONFLICT when the account has no second factor to recover.
pub async fn request(app: &App, email: &str, password: &str, client: &ClientInfo) -> AppResult<()> {
    let user = check_password(app, email, password, client).await?.user;
    if !user.totp_enabled {
        return Err(AppError::conflict(
            "two-factor sign-in is not on for this account: sign in with the password alone",
        ));
    }
    let Some(address) = user.email.clone() else {
        return Err(AppError::unauthenticated("invalid email or password"));
    };
    tx::transaction(app, Scope::Nobody, Touches::MAIL, |Work { conn, now, .. }| {
        async move {
            let token = issue_token(conn, user.id, TokenPurpose::RecoverTwoFactor, None, now).await?;
            let usable_from = now + TWO_FACTOR_RECOVERY_WAIT;
            record(conn, user.id, "totp.recovery_requested", client, now).await?;
            let letter = Letter::new(
                MailKind::TwoFactorRecovery,
                &address,
                &user.name,
                app.mailer.link("recover-two-factor", &token),
            )
            .with(
                "usable_from",
                usable_from.format("%Y-%m-%d %H:%M UTC").to_string(),
            )
            .with("waiting_hours", TWO_FACTOR_RECOVERY_WAIT.num_hours().to_string());
            app.mailer.queue(conn, letter, now).await
        }
        .boxed()
    })
    .await
}

/// Completes a recovery with the link's token once the waiting period is over: two-factor
/// sign-in is off, its secret and codes are gone, every session is signed out, and the
/// address gets a notice.
pub async fn complete(app: &App, token: &str, client: &ClientInfo) -> AppResult<()> {
    let hash = hash_token(token);
    let user_id = tx::transaction(app, Scope::Nobody, Touches::STANDING_AND_MAIL, |Work { conn, now, .. }| {
        async move {
            let invalid = || AppError::invalid("token", "is invalid, called off, already used or expired");
            let found = store::find_open_token(conn, &hash, &[TokenPurpose::RecoverTwoFactor], now)
                .await?
                .ok_or_else(invalid)?;
            let usable_from = found.created_at + TWO_FACTOR_RECOVERY_WAIT;
            if now < usable_from {
                return Err(AppError::invalid(
                    "token",
                    format!(
                        "works from {} (a waiting period protects your account); signing in with your second factor meanwhile calls the recovery off",
                        usable_from.format("%Y-%m-%d %H:%M UTC")
                    ),
                ));
            }
            store::mark_token_used(conn, found.id, now).await?;
            let user = store::find_by_id(conn, found.user_id).await?.ok_or_else(invalid)?;
            store::disable_totp(conn, user.id, now).await?;
            session_store::revoke_all_for_user(conn, user.id, None, "two-factor sign-in recovered", now).await?;
            record(conn, user.id, "totp.disabled_by_recovery", client, now).await?;
            if let Some(address) = user.email.as_deref() {
                let letter = Letter::new(
                    MailKind::TwoFactorChanged,
                    address,
                    &user.name,
                    app.mailer.page("reset-password"),
                )
                .with("change", "turned off by the recovery you asked for");
                app.mailer.queue(conn, letter, now).await?;
            }
            Ok(user.id)
        }
        .boxed()
    })
    .await?;
    app.sessions.forget_user(user_id);
    Ok(())
}

/// Calls off any recovery under way, in the transaction of a sign-in that gave the second
/// factor: its holder did not lose it.
pub async fn call_off(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> AppResult<()> {
    if store::invalidate_open_tokens(conn, user_id, TokenPurpose::RecoverTwoFactor, now).await? > 0 {
        record(conn, user_id, "totp.recovery_called_off", client, now).await?;
    }
    Ok(())
}

async fn record(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    action: &'static str,
    client: &ClientInfo,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let event = SecurityEvent {
        user_id: Some(user_id),
        action,
        target: ("user", Some(user_id)),
        details: None,
        client,
        request_id: None,
    };
    audit::record_security(conn, now, event).await
}
