//! GraphQL face of accounts: `User`, `Me`, and the account mutations.

use async_graphql::{Context, ID, InputObject, Json, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};

use super::data_export;
use super::model::UserRow;
use super::service::profile::{self, ProfileUpdate};
use super::service::registration::{self, Registration};
use super::service::{password, two_factor};
use crate::audit::graphql::{AuditConnection, audit_connection};
use crate::audit::service as audit;
use crate::companies::access::MemberRights;
use crate::companies::graphql::{Company, Membership};
use crate::companies::service::company as companies;
use crate::events::cursor::Stream;
use crate::events::graphql::{NotificationConnection, notification_connection, stream_request};
use crate::events::service as events;
use crate::graphql::context::{app, caller, parse_id, presence, signed_in};
use crate::graphql::guards::SelfOr;
use crate::pagination::PageRequest;
use crate::projects::access::effective_permissions;
use crate::rbac::graphql::{PermissionObject, permission_list};
use crate::sessions::graphql::Session;
use crate::sessions::service as sessions;

/// An account as others see it. Contact fields (email, phone) show to the user themself
/// and to members of a company they share; account fields (last login, two-factor) to the
/// user themself and to that company's owners and admins.
pub struct User {
    row: UserRow,
    contact_visible: bool,
    account_visible: bool,
}

impl User {
    /// A user whose guarded fields only they themself may read.
    pub fn new(row: UserRow) -> Self {
        Self {
            row,
            contact_visible: false,
            account_visible: false,
        }
    }

    /// A user returned to someone who has just proved to be them (signing in, a mail link).
    pub fn proven_self(row: UserRow) -> Self {
        Self {
            row,
            contact_visible: true,
            account_visible: true,
        }
    }

    /// A user reached through a company the viewer belongs to, seen with the viewer's
    /// rights there (member:view shows contact fields, member:manage account fields).
    pub fn seen_in_company(row: UserRow, rights: MemberRights) -> Self {
        Self {
            row,
            contact_visible: rights.contact,
            account_visible: rights.account,
        }
    }
}

#[Object]
impl User {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.row.name
    }

    /// Visible to the user themself and to members of a shared company.
    #[graphql(guard = "SelfOr { user_id: self.row.id, allowed: self.contact_visible }")]
    async fn email(&self) -> Option<&str> {
        self.row.email.as_deref()
    }

    /// Visible to the user themself and to members of a shared company.
    #[graphql(guard = "SelfOr { user_id: self.row.id, allowed: self.contact_visible }")]
    async fn phone(&self) -> Option<&str> {
        self.row.phone.as_deref()
    }

    async fn bio(&self) -> Option<&str> {
        self.row.bio.as_deref()
    }

    async fn avatar_url(&self) -> Option<&str> {
        self.row.avatar_url.as_deref()
    }

    async fn email_verified(&self) -> bool {
        self.row.email_verified_at.is_some()
    }

    /// Visible to the user themself and to owners and admins of a shared company.
    #[graphql(guard = "SelfOr { user_id: self.row.id, allowed: self.account_visible }")]
    async fn totp_enabled(&self) -> Option<bool> {
        Some(self.row.totp_enabled)
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }

    /// Visible to the user themself and to owners and admins of a shared company.
    #[graphql(guard = "SelfOr { user_id: self.row.id, allowed: self.account_visible }")]
    async fn last_login_at(&self) -> Option<DateTime<Utc>> {
        self.row.last_login_at
    }
}

/// The signed-in user's own view: account, preferences and sessions.
pub struct Me(UserRow);

#[Object]
impl Me {
    async fn user(&self) -> User {
        User::new(self.0.clone())
    }

    /// Free-form UI preferences: theme, language, notification settings.
    async fn preferences(&self) -> Json<serde_json::Value> {
        Json(self.0.preferences.clone())
    }

    /// The companies the user belongs to, oldest membership first.
    async fn memberships(&self, ctx: &Context<'_>) -> Result<Vec<Membership>> {
        let rows = companies::my_memberships(app(ctx), caller(ctx)).await?;
        Ok(rows
            .into_iter()
            .map(|own| Membership::own(own, self.0.clone()))
            .collect())
    }

    /// The company the user works in by default.
    async fn active_company(&self, ctx: &Context<'_>) -> Result<Option<Company>> {
        let active = companies::active_company(app(ctx), caller(ctx)).await?;
        Ok(active.map(|(row, viewer)| Company::new(row, viewer)))
    }

    /// Effective permissions in a company (and optionally a project), for UI gating.
    async fn permissions(
        &self,
        ctx: &Context<'_>,
        company_id: ID,
        project_id: Option<ID>,
    ) -> Result<Vec<PermissionObject>> {
        let company_id = parse_id(&company_id, "company")?;
        let project_id = project_id
            .as_ref()
            .map(|id| parse_id(id, "project"))
            .transpose()?;
        let set = effective_permissions(app(ctx), caller(ctx), company_id, project_id).await?;
        Ok(permission_list(set))
    }

    /// Your notifications, newest first (unread ones only with `unreadOnly`).
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    async fn notifications(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        unread_only: Option<bool>,
    ) -> Result<NotificationConnection> {
        let request = stream_request(ctx, Stream::Notifications, first, after.as_deref())?;
        let page =
            events::my_notifications(app(ctx), caller(ctx), unread_only.unwrap_or(false), request).await?;
        Ok(notification_connection(page, request.before.is_some()))
    }

    /// Your sign-ins, failed sign-ins and account changes, newest first, with the address
    /// and device of each: a stranger's attempt shows here.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    async fn security_events(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<AuditConnection> {
        let request = PageRequest::parse(first, after.as_deref())?;
        let page = audit::security_events(app(ctx), caller(ctx), request).await?;
        Ok(audit_connection(page, request.after.is_some()))
    }

    async fn unread_notification_count(&self, ctx: &Context<'_>) -> Result<i32> {
        let count = events::unread_count(app(ctx), caller(ctx)).await?;
        Ok(i32::try_from(count).unwrap_or(i32::MAX))
    }

    /// Live sessions, most recently used first.
    async fn sessions(&self, ctx: &Context<'_>) -> Result<Vec<Session>> {
        let actor = signed_in(ctx)?;
        let rows = sessions::list_sessions(app(ctx), caller(ctx)).await?;
        Ok(rows
            .into_iter()
            .map(|row| Session::new(row, actor.session_id))
            .collect())
    }
}

/// Account queries.
#[derive(Default)]
pub struct UsersQuery;

#[Object]
impl UsersQuery {
    /// The signed-in user.
    async fn me(&self, ctx: &Context<'_>) -> Result<Me> {
        Ok(Me(profile::me(app(ctx), caller(ctx)).await?))
    }
}

#[derive(InputObject)]
struct RegisterInput {
    email: String,
    password: String,
    name: String,
}

#[derive(InputObject)]
struct ChangePasswordInput {
    current_password: String,
    new_password: String,
}

#[derive(InputObject)]
struct UpdateProfileInput {
    name: MaybeUndefined<String>,
    phone: MaybeUndefined<String>,
    bio: MaybeUndefined<String>,
    avatar_url: MaybeUndefined<String>,
}

/// Account mutations.
#[derive(Default)]
pub struct UsersMutation;

#[Object]
impl UsersMutation {
    /// Always true: mails a verification link, or, when the address already has an account,
    /// a notice to it instead.
    async fn register(&self, ctx: &Context<'_>, input: RegisterInput) -> Result<bool> {
        let registration = Registration {
            email: input.email,
            password: input.password,
            name: input.name,
        };
        registration::register(app(ctx), registration, &caller(ctx).client).await?;
        Ok(true)
    }

    /// Confirms an address with the token from a verification or email-change mail.
    async fn verify_email(&self, ctx: &Context<'_>, token: String) -> Result<User> {
        Ok(User::proven_self(
            registration::verify_email(app(ctx), &token).await?,
        ))
    }

    /// True whether or not the address exists.
    async fn resend_verification_email(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        registration::resend_verification(app(ctx), &email, &caller(ctx).client).await?;
        Ok(true)
    }

    /// True whether or not the address exists.
    async fn request_password_reset(&self, ctx: &Context<'_>, email: String) -> Result<bool> {
        password::request_password_reset(app(ctx), &email, &caller(ctx).client).await?;
        Ok(true)
    }

    /// Sets a new password with the token from a reset mail; signs out every session.
    async fn reset_password(&self, ctx: &Context<'_>, token: String, new_password: String) -> Result<bool> {
        password::reset_password(app(ctx), &token, &new_password).await?;
        Ok(true)
    }

    /// Changes the password; signs out every other session.
    async fn change_password(&self, ctx: &Context<'_>, input: ChangePasswordInput) -> Result<bool> {
        password::change_password(
            app(ctx),
            caller(ctx),
            &input.current_password,
            &input.new_password,
        )
        .await?;
        Ok(true)
    }

    /// A link, valid five minutes, to a JSON file of everything the server holds about
    /// you: profile, preferences, sessions, memberships, notifications, your security
    /// events and what you did in your companies.
    async fn export_my_data(&self, ctx: &Context<'_>) -> Result<String> {
        Ok(data_export::export_link(app(ctx), caller(ctx)).await?)
    }

    /// Starts turning on two-factor sign-in (the password again): answers the otpauth://
    /// URI an authenticator app reads; confirmTotp turns it on.
    async fn setup_totp(&self, ctx: &Context<'_>, password: String) -> Result<String> {
        Ok(two_factor::setup(app(ctx), caller(ctx), &password).await?)
    }

    /// Turns two-factor sign-in on with the authenticator's current code and signs out
    /// every other session; answers ten single-use recovery codes, shown this once.
    async fn confirm_totp(&self, ctx: &Context<'_>, code: String) -> Result<Vec<String>> {
        Ok(two_factor::confirm(app(ctx), caller(ctx), &code).await?)
    }

    /// Replaces the recovery codes (the password again); the old ones stop working.
    async fn regenerate_recovery_codes(&self, ctx: &Context<'_>, password: String) -> Result<Vec<String>> {
        Ok(two_factor::regenerate_recovery_codes(app(ctx), caller(ctx), &password).await?)
    }

    /// Turns two-factor sign-in off (the password again).
    async fn disable_totp(&self, ctx: &Context<'_>, password: String) -> Result<bool> {
        two_factor::disable(app(ctx), caller(ctx), &password).await?;
        Ok(true)
    }

    /// Edits the caller's profile; an explicit null clears a field.
    async fn update_profile(&self, ctx: &Context<'_>, input: UpdateProfileInput) -> Result<User> {
        let update = ProfileUpdate {
            name: presence(input.name),
            phone: presence(input.phone),
            bio: presence(input.bio),
            avatar_url: presence(input.avatar_url),
        };
        Ok(User::new(
            profile::update_profile(app(ctx), caller(ctx), update).await?,
        ))
    }

    /// Replaces the caller's UI preferences; returns what was stored.
    async fn update_preferences(
        &self,
        ctx: &Context<'_>,
        preferences: Json<serde_json::Value>,
    ) -> Result<Json<serde_json::Value>> {
        Ok(Json(
            profile::update_preferences(app(ctx), caller(ctx), preferences.0).await?,
        ))
    }

    /// Mails a confirmation link to the new address; the address changes once it is opened.
    async fn request_email_change(
        &self,
        ctx: &Context<'_>,
        new_email: String,
        password: String,
    ) -> Result<bool> {
        profile::request_email_change(app(ctx), caller(ctx), &new_email, &password).await?;
        Ok(true)
    }

    /// Deletes the caller's account.
    async fn delete_account(&self, ctx: &Context<'_>, password: String) -> Result<bool> {
        profile::delete_account(app(ctx), caller(ctx), &password).await?;
        Ok(true)
    }
}
