//! Sign-up and email verification. Every answer is the same whether or not the address
//! already has an account: the difference goes only to that address's inbox.

use futures_util::FutureExt;
use serde_json::json;
use uuid::Uuid;

use super::{issue_token, limit_mail_request, parse_name};
use crate::app::App;
use crate::audit::service::{self as audit, SecurityEvent};
use crate::auth::caller::ClientInfo;
use crate::auth::tokens::hash_token;
use crate::db::scope::Scope;
use crate::db::tx::{self, Touches, Work};
use crate::error::{AppError, AppResult, InputCheck, is_unique_violation};
use crate::mail::{Letter, MailKind};
use crate::rate_limit::Limit;
use crate::users::email::Email;
use crate::users::model::{NewUser, TokenPurpose, UserRow};
use crate::users::store;

/// Sign-ups per address (each one mails that address).
const REGISTRATIONS_PER_ADDRESS: Limit = Limit::per_15_minutes("register_address", 3);
/// Verification mails per address.
const VERIFICATION_MAILS_PER_ADDRESS: Limit = Limit::per_15_minutes("verify_email_address", 3);

/// What a new user submits.
pub struct Registration {
    pub email: String,
    pub password: String,
    pub name: String,
}

/// Creates an unverified account and mails a verification link — or, when the address
/// already has an account, mails that account a notice instead.
pub async fn register(app: &App, input: Registration, client: &ClientInfo) -> AppResult<()> {
    let mut check = InputCheck::default();
    let email = check.take(Email::parse(&input.email, "input.email"));
    let name = check.take(parse_name(&input.name, "input.name"));
    let password = check.take(app.passwords.check_new(&input.password, "input.password"));
    check.finish()?;
    let (Some(email), Some(name), Some(password)) = (email, name, password) else {
        return Err(AppError::internal(anyhow::anyhow!(
            "input check passed without values"
        )));
    };
    // Limits first: a refused caller costs no password hash.
    tx::transaction(app, Scope::Nobody, Touches::ROWS, |Work { conn, now, .. }| {
        limit_mail_request(app, conn, REGISTRATIONS_PER_ADDRESS, email.as_str(), client, now).boxed()
    })
    .await?;
    // Hash before looking the address up, so both outcomes take the same time.
    let password_hash = app.passwords.hash(password).await?;
    tx::transaction(app, Scope::Nobody, Touches::MAIL, |Work { conn, now, .. }| {
        async move {
            let created = store::insert_user(
                conn,
                &NewUser {
                    id: Uuid::new_v4(),
                    email: email.as_str(),
                    name: &name,
                    password_hash: &password_hash,
                    email_verified_at: None,
                    created_at: now,
                    updated_at: now,
                },
            )
            .await?;
            match created {
                Some(user) => {
                    let token = issue_token(conn, user.id, TokenPurpose::VerifyEmail, None, now).await?;
                    let event = SecurityEvent {
                        user_id: Some(user.id),
                        action: "account.registered",
                        target: ("user", Some(user.id)),
                        details: None,
                        client,
                        request_id: None,
                    };
                    audit::record_security(conn, now, event).await?;
                    let letter = Letter::new(
                        MailKind::VerifyEmail,
                        email.as_str(),
                        &user.name,
                        app.mailer.link("verify-email", &token),
                    );
                    app.mailer.queue(conn, letter, now).await
                }
                None => {
                    let existing = store::find_by_email(conn, email.as_str()).await?;
                    let greeting = existing.as_ref().map_or(name.as_str(), |u| u.name.as_str());
                    let letter = Letter::new(
                        MailKind::AccountExists,
                        email.as_str(),
                        greeting,
                        app.mailer.page("reset-password"),
                    );
                    app.mailer.queue(conn, letter, now).await
                }
            }
        }
        .boxed()
    })
    .await
}

/// Spends a verification (or email-change) token and marks the address verified.
pub async fn verify_email(app: &App, token: &str) -> AppResult<UserRow> {
    let hash = hash_token(token);
    let user = tx::transaction(app, Scope::Nobody, Touches::ROWS, |Work { conn, now, .. }| {
        async move {
            let purposes = [TokenPurpose::VerifyEmail, TokenPurpose::ChangeEmail];
            let invalid = || AppError::invalid("token", "is invalid, already used or expired");
            let found = store::find_open_token(conn, &hash, &purposes, now)
                .await?
                .ok_or_else(invalid)?;
            store::mark_token_used(conn, found.id, now).await?;
            let user = store::find_by_id(conn, found.user_id)
                .await?
                .ok_or_else(invalid)?;
            match found.new_email {
                Some(new_email) if found.purpose == TokenPurpose::ChangeEmail.as_str() => {
                    if store::find_by_email(conn, &new_email)
                        .await?
                        .is_some_and(|other| other.id != user.id)
                    {
                        return Err(AppError::conflict("that address now belongs to another account"));
                    }
                    let changed = store::set_email(conn, user.id, &new_email, now)
                        .await
                        .map_err(|err| {
                            if is_unique_violation(&err) {
                                AppError::conflict("that address now belongs to another account")
                            } else {
                                AppError::from(err)
                            }
                        })?;
                    let event = SecurityEvent {
                        user_id: Some(user.id),
                        action: "email.changed",
                        target: ("user", Some(user.id)),
                        details: Some(json!({ "before": user.email, "after": changed.email })),
                        client: &ClientInfo::default(),
                        request_id: None,
                    };
                    audit::record_security(conn, now, event).await?;
                    Ok(changed)
                }
                _ if user.email_verified_at.is_some() => Ok(user),
                _ => {
                    let event = SecurityEvent {
                        user_id: Some(user.id),
                        action: "email.verified",
                        target: ("user", Some(user.id)),
                        details: Some(json!({ "email": user.email })),
                        client: &ClientInfo::default(),
                        request_id: None,
                    };
                    audit::record_security(conn, now, event).await?;
                    Ok(store::mark_email_verified(conn, user.id, now).await?)
                }
            }
        }
        .boxed()
    })
    .await?;
    // Remembered sessions still say "unverified".
    app.sessions.forget_user(user.id);
    Ok(user)
}

/// Mails a fresh verification link to an unverified account; answers the same for any address.
pub async fn resend_verification(app: &App, email: &str, client: &ClientInfo) -> AppResult<()> {
    let email = Email::parse(email, "email")?;
    tx::transaction(app, Scope::Nobody, Touches::MAIL, |Work { conn, now, .. }| {
        async move {
            limit_mail_request(
                app,
                conn,
                VERIFICATION_MAILS_PER_ADDRESS,
                email.as_str(),
                client,
                now,
            )
            .await?;
            let Some(user) = store::find_by_email(conn, email.as_str()).await? else {
                return Ok(());
            };
            if user.email_verified_at.is_some() {
                return Ok(());
            }
            let token = issue_token(conn, user.id, TokenPurpose::VerifyEmail, None, now).await?;
            let event = SecurityEvent {
                user_id: Some(user.id),
                action: "email.verification_resent",
                target: ("user", Some(user.id)),
                details: None,
                client,
                request_id: None,
            };
            audit::record_security(conn, now, event).await?;
            let letter = Letter::new(
                MailKind::VerifyEmail,
                email.as_str(),
                &user.name,
                app.mailer.link("verify-email", &token),
            );
            app.mailer.queue(conn, letter, now).await
        }
        .boxed()
    })
    .await?;
    Ok(())
}
