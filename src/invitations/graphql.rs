//! GraphQL face of invitations: `Invitation`, `InvitationPreview`, imports, and the
//! invitation mutations.

use async_graphql::{Context, Enum, ID, InputObject, Object, Result, SimpleObject, Upload};
use chrono::{DateTime, Utc};

use super::import;
use super::model::{InvitationRow, InvitationState};
use super::service::{self, InviteInput, Preview};
use crate::companies::access::MemberRights;
use crate::companies::graphql::{Membership, Role};
use crate::companies::loader::RoleLoader;
use crate::error::AppError;
use crate::graphql::context::{app, caller, loader, parse_id};
use crate::graphql::import_result::{ImportResult, RowError};
use crate::sessions::graphql::AuthPayload;
use crate::users::graphql::User;
use crate::users::loader::UserLoader;

/// Where an invitation stands.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum InvitationStatus {
    Pending,
    Accepted,
    Expired,
    Revoked,
}

impl From<InvitationState> for InvitationStatus {
    fn from(state: InvitationState) -> Self {
        match state {
            InvitationState::Pending => Self::Pending,
            InvitationState::Accepted => Self::Accepted,
            InvitationState::Expired => Self::Expired,
            InvitationState::Revoked => Self::Revoked,
        }
    }
}

impl From<InvitationStatus> for InvitationState {
    fn from(status: InvitationStatus) -> Self {
        match status {
            InvitationStatus::Pending => Self::Pending,
            InvitationStatus::Accepted => Self::Accepted,
            InvitationStatus::Expired => Self::Expired,
            InvitationStatus::Revoked => Self::Revoked,
        }
    }
}

/// An invitation, as the company's owners and admins see it.
pub struct Invitation {
    row: InvitationRow,
    now: DateTime<Utc>,
    /// What the reader may see of members (the inviter is one).
    rights: MemberRights,
}

impl Invitation {
    /// Wraps a row; `now` decides whether a pending invitation has expired, `rights` what
    /// the reader may see of its inviter.
    pub fn new(row: InvitationRow, now: DateTime<Utc>, rights: MemberRights) -> Self {
        Self { row, now, rights }
    }
}

#[Object]
impl Invitation {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }

    async fn email(&self) -> &str {
        &self.row.email
    }

    async fn role(&self, ctx: &Context<'_>) -> Result<Role> {
        let role = loader::<RoleLoader>(ctx)
            .load_one(self.row.role_id)
            .await?
            .ok_or_else(|| AppError::not_found("role"))?;
        Ok(Role(role))
    }

    async fn status(&self) -> InvitationStatus {
        self.row.state(self.now).into()
    }

    async fn invited_by(&self, ctx: &Context<'_>) -> Result<Option<User>> {
        let Some(inviter) = self.row.invited_by else {
            return Ok(None);
        };
        let user = loader::<UserLoader>(ctx).load_one(inviter).await?;
        // The inviter's contact details follow the reader's member:view; their account
        // details (sign-ins, two-factor) are not the invitation's to show.
        let rights = MemberRights {
            contact: self.rights.contact,
            account: false,
        };
        Ok(user.map(|row| User::seen_in_company(row, rights)))
    }

    async fn expires_at(&self) -> DateTime<Utc> {
        self.row.expires_at
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }

    async fn accepted_at(&self) -> Option<DateTime<Utc>> {
        self.row.accepted_at
    }

    async fn message(&self) -> Option<&str> {
        self.row.message.as_deref()
    }
}

/// What an invitation link shows before sign-in.
#[derive(SimpleObject)]
pub struct InvitationPreview {
    company_name: String,
    inviter_name: Option<String>,
    email: String,
    role_name: String,
    status: InvitationStatus,
    expires_at: DateTime<Utc>,
    /// Whether the address already has an account: sign in to accept, or register.
    existing_account: bool,
}

impl From<Preview> for InvitationPreview {
    fn from(preview: Preview) -> Self {
        Self {
            company_name: preview.company_name,
            inviter_name: preview.inviter_name,
            email: preview.email,
            role_name: preview.role_name,
            status: preview.state.into(),
            expires_at: preview.expires_at,
            existing_account: preview.existing_account,
        }
    }
}

impl From<import::ImportReport> for ImportResult {
    fn from(report: import::ImportReport) -> Self {
        Self {
            import_id: ID(report.import_id.to_string()),
            inserted: report.invited,
            rejected: i32::try_from(report.errors.len()).unwrap_or(i32::MAX),
            errors: report
                .errors
                .into_iter()
                .map(|e| RowError {
                    line: e.line,
                    field: e.field,
                    message: e.message,
                })
                .collect(),
        }
    }
}

/// Invitation queries.
#[derive(Default)]
pub struct InvitationsQuery;

#[Object]
impl InvitationsQuery {
    /// What an invitation link shows before sign-in (anyone holding the link may ask).
    async fn invitation_preview(
        &self,
        ctx: &Context<'_>,
        token: String,
    ) -> Result<Option<InvitationPreview>> {
        Ok(Some(service::preview(app(ctx), &token).await?.into()))
    }
}

#[derive(InputObject)]
struct InviteMemberInput {
    company_id: ID,
    email: String,
    role_id: ID,
    message: Option<String>,
}

#[derive(InputObject)]
struct RegisterWithInvitationInput {
    token: String,
    name: String,
    password: String,
}

/// Invitation mutations.
#[derive(Default)]
pub struct InvitationsMutation;

#[Object]
impl InvitationsMutation {
    /// Invites someone by email (owners and admins); replaces an open invitation.
    async fn invite_member(&self, ctx: &Context<'_>, input: InviteMemberInput) -> Result<Invitation> {
        let invite = InviteInput {
            company_id: parse_id(&input.company_id, "company")?,
            email: input.email,
            role_id: parse_id(&input.role_id, "role")?,
            message: input.message,
        };
        let (row, rights) = service::invite(app(ctx), caller(ctx), invite).await?;
        Ok(Invitation::new(row, app(ctx).clock.now(), rights))
    }

    /// Mails a new link and extends the expiry; the old link dies.
    async fn resend_invitation(&self, ctx: &Context<'_>, id: ID) -> Result<Invitation> {
        let (row, rights) = service::resend(app(ctx), caller(ctx), parse_id(&id, "invitation")?).await?;
        Ok(Invitation::new(row, app(ctx).clock.now(), rights))
    }

    /// Kills the invitation's link.
    async fn revoke_invitation(&self, ctx: &Context<'_>, id: ID) -> Result<Invitation> {
        let (row, rights) = service::revoke(app(ctx), caller(ctx), parse_id(&id, "invitation")?).await?;
        Ok(Invitation::new(row, app(ctx).clock.now(), rights))
    }

    /// Joins the company with the invited role (the signed-in address must be the invited one).
    async fn accept_invitation(&self, ctx: &Context<'_>, token: String) -> Result<Membership> {
        let row = service::accept(app(ctx), caller(ctx), &token).await?;
        Ok(Membership::new(row, MemberRights::default()))
    }

    /// Creates the invited account (already verified), joins the company and signs in.
    async fn register_with_invitation(
        &self,
        ctx: &Context<'_>,
        input: RegisterWithInvitationInput,
    ) -> Result<AuthPayload> {
        let sign_in = service::register_with_invitation(
            app(ctx),
            &input.token,
            &input.name,
            &input.password,
            &caller(ctx).client,
        )
        .await?;
        Ok(sign_in.into())
    }

    /// Invites every valid line of a CSV file (columns email, name, role) and reports the rest.
    async fn import_members(&self, ctx: &Context<'_>, company_id: ID, csv: Upload) -> Result<ImportResult> {
        let company_id = parse_id(&company_id, "company")?;
        let file = csv.value(ctx)?.content;
        let bytes = import::read_upload(file).await?;
        let report = import::import_members(app(ctx), caller(ctx), company_id, &bytes).await?;
        Ok(report.into())
    }
}
