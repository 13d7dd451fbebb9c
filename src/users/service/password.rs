//! Forgotten and changed passwords. Either way every other session ends and the owner is
//! told by mail.

use futures_util::FutureExt;

use super::{confirm_password, current_user, issue_token, limit_mail_request};
use crate::app::App;
use crate::audit::service::{self as audit, SecurityEvent};
use crate::auth::caller::{Caller, ClientInfo};
use crate::auth::tokens::hash_token;
use crate::db::scope::Scope;
use crate::db::tx::{self, Change, Touches, Work};
use crate::error::{AppError, AppResult, InputCheck};
use crate::mail::{Letter, MailKind};
use crate::rate_limit::Limit;
use crate::sessions::store as session_store;
use crate::users::email::Email;
use crate::users::model::TokenPurpose;
use crate::users::store;

/// Reset mails per address.
const RESET_MAILS_PER_ADDRESS: Limit = Limit::per_15_minutes("password_reset_address", 3);

/// Mails a reset link when the address has an account; answers the same either way.
pub async fn request_password_reset(app: &App, email: &str, client: &ClientInfo) -> AppResult<()> {
    let email = Email::parse(email, "email")?;
    tx::transaction(app, Scope::Nobody, Touches::MAIL, |Work { conn, now, .. }| {
        async move {
            limit_mail_request(app, conn, RESET_MAILS_PER_ADDRESS, email.as_str(), client, now).await?;
            let Some(user) = store::find_by_email(conn, email.as_str()).await? else {
                return Ok(());
            };
            let token = issue_token(conn, user.id, TokenPurpose::ResetPassword, None, now).await?;
            // The account's owner sees who asked, from where (a stranger's try included).
            let event = SecurityEvent {
                user_id: Some(user.id),
                action: "password.reset_requested",
                target: ("user", Some(user.id)),
                details: None,
                client,
                request_id: None,
            };
            audit::record_security(conn, now, event).await?;
            let letter = Letter::new(
                MailKind::PasswordReset,
                email.as_str(),
                &user.name,
                app.mailer.link("reset-password", &token),
            );
            app.mailer.queue(conn, letter, now).await
        }
        .boxed()
    })
    .await?;
    Ok(())
}

/// Sets a new password with a reset token; signs out every session.
pub async fn reset_password(app: &App, token: &str, new_password: &str) -> AppResult<()> {
    let password = app.passwords.check_new(new_password, "newPassword")?;
    let hash = hash_token(token);
    let now = app.clock.now();
    let invalid = || AppError::invalid("token", "is invalid, already used or expired");
    {
        // Check the token before spending a password hash on the request.
        tx::read(app, Scope::Nobody, async |conn| {
            store::find_open_token(conn, &hash, &[TokenPurpose::ResetPassword], now)
                .await?
                .ok_or_else(invalid)?;
            Ok(())
        })
        .await?;
    }
    let password_hash = app.passwords.hash(password).await?;
    let user_id = tx::transaction(app, Scope::Nobody, Touches::MAIL, |Work { conn, now, .. }| {
        async move {
            let found = store::find_open_token(conn, &hash, &[TokenPurpose::ResetPassword], now)
                .await?
                .ok_or_else(invalid)?;
            store::mark_token_used(conn, found.id, now).await?;
            let user = store::find_by_id(conn, found.user_id)
                .await?
                .ok_or_else(invalid)?;
            store::set_password_hash(conn, user.id, &password_hash, now).await?;
            // The link reached the inbox, which proves the address.
            if user.email_verified_at.is_none() {
                store::mark_email_verified(conn, user.id, now).await?;
            }
            session_store::revoke_all_for_user(conn, user.id, None, "password reset", now).await?;
            invalidate_account_tokens(conn, user.id, now).await?;
            let event = SecurityEvent {
                user_id: Some(user.id),
                action: "password.reset",
                target: ("user", Some(user.id)),
                details: None,
                client: &ClientInfo::default(),
                request_id: None,
            };
            audit::record_security(conn, now, event).await?;
            queue_password_changed(app, conn, &user, now).await?;
            Ok(user.id)
        }
        .boxed()
    })
    .await?;
    app.sessions.forget_user(user_id);
    Ok(())
}

/// Replaces the password after checking the current one; signs out the other sessions.
pub async fn change_password(
    app: &App,
    caller: &Caller,
    current_password: &str,
    new_password: &str,
) -> AppResult<()> {
    let actor = caller.verified()?;
    let session_id = actor.session_id;
    let mut check = InputCheck::default();
    let password = check.take(app.passwords.check_new(new_password, "input.newPassword"));
    // The password is checked outside the change's transaction (hashing takes time).
    let user = current_user(app, actor).await?;
    check.take(confirm_password(app, &user, current_password, "input.currentPassword").await);
    check.finish()?;
    let Some(password) = password else {
        return Err(AppError::internal(anyhow::anyhow!(
            "input check passed without a password"
        )));
    };
    let password_hash = app.passwords.hash(password).await?;
    let user_id = user.id;
    tx::write(app, caller, Touches::MAIL, |Change { conn, now, .. }| {
        async move {
            store::set_password_hash(conn, user.id, &password_hash, now).await?;
            session_store::revoke_all_for_user(conn, user.id, Some(session_id), "password changed", now)
                .await?;
            invalidate_account_tokens(conn, user.id, now).await?;
            let event = SecurityEvent {
                user_id: Some(user.id),
                action: "password.changed",
                target: ("user", Some(user.id)),
                details: None,
                client: &caller.client,
                request_id: Some(&caller.request_id),
            };
            audit::record_security(conn, now, event).await?;
            queue_password_changed(app, conn, &user, now).await
        }
        .boxed()
    })
    .await?;
    app.sessions.forget_user(user_id);
    Ok(())
}

/// Kills pending reset, email-change and second-factor recovery links: whoever held the
/// old password must not keep a way back into the account.
async fn invalidate_account_tokens(
    conn: &mut diesel_async::AsyncPgConnection,
    user_id: uuid::Uuid,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    for purpose in [
        TokenPurpose::ResetPassword,
        TokenPurpose::ChangeEmail,
        TokenPurpose::RecoverTwoFactor,
    ] {
        store::invalidate_open_tokens(conn, user_id, purpose, now).await?;
    }
    Ok(())
}

async fn queue_password_changed(
    app: &App,
    conn: &mut diesel_async::AsyncPgConnection,
    user: &crate::users::model::UserRow,
    now: chrono::DateTime<chrono::Utc>,
) -> AppResult<()> {
    let Some(email) = user.email.as_deref() else {
        return Ok(());
    };
    let letter = Letter::new(
        MailKind::PasswordChanged,
        email,
        &user.name,
        app.mailer.page("reset-password"),
    );
    app.mailer.queue(conn, letter, now).await
}
