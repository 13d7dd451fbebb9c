//! The signed-in user's own account: profile, preferences, address change and deletion.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use serde_json::json;

use super::{confirm_password, current_user, issue_token, load_user, parse_name};
use crate::app::App;
use crate::audit::service::{self as audit, SecurityEvent};
use crate::audit::store as audit_store;
use crate::auth::caller::{Actor, Caller};
use crate::companies::service::members;
use crate::companies::store as company_store;
use crate::db::scope::{self, Crossing, Scope};
use crate::db::tx::{self, Change, Touches, Work};
use crate::error::{AppError, AppResult, InputCheck};
use crate::events::verb::Verb;
use crate::events::write::{self, Activity};
use crate::input;
use crate::mail::store as mail_store;
use crate::mail::{Letter, MailKind};
use crate::rate_limit::{self, Limit};
use crate::sessions::store as session_store;
use crate::users::email::Email;
use crate::users::model::{ProfileChanges, TokenPurpose, UserRow};
use crate::users::store;

/// Largest preferences document, serialised.
pub const MAX_PREFERENCES_BYTES: usize = 16 * 1024;
const MAX_PHONE_CHARS: usize = 32;
const MAX_BIO_CHARS: usize = 2_000;
/// Address-change requests per account (each one mails two addresses).
const EMAIL_CHANGES_PER_USER: Limit = Limit::per_15_minutes("email_change_user", 3);

/// Profile edits as the client sent them: `None` keeps a field, `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct ProfileUpdate {
    pub name: Option<Option<String>>,
    pub phone: Option<Option<String>>,
    pub bio: Option<Option<String>>,
    pub avatar_url: Option<Option<String>>,
}

/// The caller's account.
pub async fn me(app: &App, caller: &Caller) -> AppResult<UserRow> {
    let actor = caller.signed_in()?;
    current_user(app, actor).await
}

/// Edits the caller's profile; allowed before the address is verified.
pub async fn update_profile(app: &App, caller: &Caller, update: ProfileUpdate) -> AppResult<UserRow> {
    let actor = caller.signed_in()?;
    let mut check = InputCheck::default();
    let changes = ProfileChanges {
        name: match update.name {
            None => None,
            Some(None) => check.take(Err(AppError::invalid("input.name", "must not be null"))),
            Some(Some(name)) => check.take(parse_name(&name, "input.name")),
        },
        phone: update.phone.map(|v| check.take(parse_phone(v)).flatten()),
        bio: update.bio.map(|v| check.take(parse_bio(v)).flatten()),
        avatar_url: update
            .avatar_url
            .map(|v| check.take(input::optional_url(v, "input.avatarUrl")).flatten()),
    };
    check.finish()?;
    let fields: Vec<&str> = [
        ("name", changes.name.is_some()),
        ("phone", changes.phone.is_some()),
        ("bio", changes.bio.is_some()),
        ("avatarUrl", changes.avatar_url.is_some()),
    ]
    .into_iter()
    .filter_map(|(field, given)| given.then_some(field))
    .collect();
    tx::transaction(app, Scope::Nobody, Touches::ROWS, |Work { conn, now, .. }| {
        async move {
            load_user(conn, actor).await?;
            let user = store::update_profile(conn, actor.user_id, &changes, now).await?;
            // Which fields changed, not their values (personal data stays in the account).
            record_own_change(conn, now, caller, "profile.updated", json!({ "fields": fields })).await?;
            Ok(user)
        }
        .boxed()
    })
    .await
}

/// Audits a change a person made to their own account.
async fn record_own_change(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    caller: &Caller,
    action: &str,
    details: serde_json::Value,
) -> AppResult<()> {
    let user_id = caller.signed_in()?.user_id;
    let event = SecurityEvent {
        user_id: Some(user_id),
        action,
        target: ("user", Some(user_id)),
        details: Some(details),
        client: &caller.client,
        request_id: Some(&caller.request_id),
    };
    audit::record_security(conn, now, event).await
}

/// Replaces the caller's UI preferences (a JSON object of at most 16 KiB).
pub async fn update_preferences(
    app: &App,
    caller: &Caller,
    preferences: serde_json::Value,
) -> AppResult<serde_json::Value> {
    let actor = caller.verified()?;
    if !preferences.is_object() {
        return Err(AppError::invalid("preferences", "must be a JSON object"));
    }
    let size = serde_json::to_vec(&preferences)
        .map_err(AppError::internal)?
        .len();
    if size > MAX_PREFERENCES_BYTES {
        return Err(AppError::invalid(
            "preferences",
            format!("must be at most {MAX_PREFERENCES_BYTES} bytes (got {size})"),
        ));
    }
    tx::transaction(app, Scope::Nobody, Touches::ROWS, |Work { conn, now, .. }| {
        async move {
            load_user(conn, actor).await?;
            let user = store::set_preferences(conn, actor.user_id, &preferences, now).await?;
            record_own_change(conn, now, caller, "preferences.updated", json!({ "bytes": size })).await?;
            Ok(user.preferences)
        }
        .boxed()
    })
    .await
}

/// Mails a confirmation link to `new_email`; the address changes only once it is opened.
pub async fn request_email_change(
    app: &App,
    caller: &Caller,
    new_email: &str,
    password: &str,
) -> AppResult<()> {
    let actor = caller.verified()?;
    let new_email = Email::parse(new_email, "newEmail")?;
    // The password is checked outside the change's transaction (hashing takes time).
    let user = current_user(app, actor).await?;
    if user.email.as_deref() == Some(new_email.as_str()) {
        return Err(AppError::invalid("newEmail", "is already your address"));
    }
    confirm_password(app, &user, password, "password").await?;
    tx::write(app, caller, Touches::MAIL, |Change { conn, now, .. }| {
        async move {
            rate_limit::hit(conn, EMAIL_CHANGES_PER_USER, &user.id.to_string(), now).await?;
            let event = SecurityEvent {
                user_id: Some(user.id),
                action: "email.change_requested",
                target: ("user", Some(user.id)),
                details: Some(json!({ "requested": new_email.as_str() })),
                client: &caller.client,
                request_id: Some(&caller.request_id),
            };
            audit::record_security(conn, now, event).await?;
            if let Some(owner) = store::find_by_email(conn, new_email.as_str()).await? {
                // Tell that address's owner, and the caller nothing.
                let letter = Letter::new(
                    MailKind::AccountExists,
                    new_email.as_str(),
                    &owner.name,
                    app.mailer.page("reset-password"),
                );
                return app.mailer.queue(conn, letter, now).await;
            }
            let token = issue_token(
                conn,
                user.id,
                TokenPurpose::ChangeEmail,
                Some(new_email.as_str()),
                now,
            )
            .await?;
            let confirm = Letter::new(
                MailKind::EmailChange,
                new_email.as_str(),
                &user.name,
                app.mailer.link("verify-email", &token),
            )
            .with("new_email", new_email.as_str());
            app.mailer.queue(conn, confirm, now).await?;
            if let Some(current) = user.email.as_deref() {
                let notice = Letter::new(
                    MailKind::EmailChangeNotice,
                    current,
                    &user.name,
                    app.mailer.page("reset-password"),
                )
                .with("new_email", new_email.as_str());
                app.mailer.queue(conn, notice, now).await?;
            }
            Ok(())
        }
        .boxed()
    })
    .await
}

/// Deletes the caller's account: every session ends and personal data is erased (profile,
/// session addresses, queued and sent mail, rate-limit keys); the row stays, anonymised,
/// for history that refers to it.
pub async fn delete_account(app: &App, caller: &Caller, password: &str) -> AppResult<()> {
    let actor = caller.verified()?;
    // The password is checked outside the change's transaction (hashing takes time).
    let user = current_user(app, actor).await?;
    confirm_password(app, &user, password, "password").await?;
    let user_id = user.id;
    tx::write(app, caller, Touches::STANDING, |Change { conn, now, .. }| {
        async move {
            scope::cross(conn, Crossing::AccountDeletion).await?;
            members::ensure_not_sole_owner(conn, user.id).await?;
            let mut companies = company_store::delete_memberships_of_user(conn, user.id).await?;
            session_store::revoke_all_for_user(conn, user.id, None, "account deleted", now).await?;
            session_store::erase_client_details(conn, user.id).await?;
            if let Some(email) = user.email.as_deref() {
                mail_store::delete_for_recipient(conn, email).await?;
                rate_limit::forget_key(conn, email).await?;
            }
            rate_limit::forget_key(conn, &user.id.to_string()).await?;
            store::anonymise(conn, user.id, now).await?;
            // Each company's feed shows the departure (stream locks in company order).
            companies.sort();
            for company_id in companies {
                let activity = Activity::new(
                    company_id,
                    Some(Actor::User(user.id)),
                    Verb::MemberLeft,
                    ("user", user.id),
                    "A member deleted their account",
                );
                write::record(conn, now, activity).await?;
            }
            // Last, so the entries just written are pseudonymised too.
            audit_store::pseudonymise(conn, user.id).await?;
            Ok(())
        }
        .boxed()
    })
    .await?;
    app.sessions.forget_user(user_id);
    Ok(())
}

fn parse_phone(value: Option<String>) -> AppResult<Option<String>> {
    let Some(phone) = input::non_empty(value) else {
        return Ok(None);
    };
    let allowed = |c: char| c.is_ascii_digit() || " +-().".contains(c);
    if phone.chars().count() > MAX_PHONE_CHARS
        || !phone.chars().all(allowed)
        || !phone.chars().any(|c| c.is_ascii_digit())
    {
        return Err(AppError::invalid(
            "input.phone",
            format!("must be a phone number of at most {MAX_PHONE_CHARS} digits, spaces and + - ( ) ."),
        ));
    }
    Ok(Some(phone))
}

fn parse_bio(value: Option<String>) -> AppResult<Option<String>> {
    input::optional_text(value, "input.bio", MAX_BIO_CHARS)
}
