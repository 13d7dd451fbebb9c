//! GraphQL face of companies: `Company`, `Membership`, `Role`, and the company and team
//! mutations.

use async_graphql::{Context, Enum, ID, InputObject, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};
use tokio::sync::OnceCell;

use super::access::{Member, MemberRights};
use super::loader::{CompanyLoader, RoleLoader};
use super::model::{BuiltIn, CompanyRow, MembershipRow, RoleRow};
use super::service::company::{self, CompanyUpdate, NewCompanyInput, OwnMembership};
use super::service::members;
use super::store::MemberFilter;
use crate::api_keys::graphql::ApiKey;
use crate::api_keys::service as api_keys;
use crate::audit::graphql::{AuditConnection, AuditFilter, audit_connection};
use crate::audit::service as audit;
use crate::error::AppError;
use crate::events::cursor::Stream;
use crate::events::graphql::{ActivityConnection, activity_connection, stream_request};
use crate::events::service as events;
use crate::factors::graphql::EmissionFactor;
use crate::factors::service as factors;
use crate::graphql::connection::{PageConnection, connection};
use crate::graphql::context::{app, caller, loader, parse_id, presence};
use crate::invitations::graphql::{Invitation, InvitationStatus};
use crate::invitations::service as invitations;
use crate::pagination::{Cursor, PageRequest};
use crate::persisted::graphql::PersistedQuery;
use crate::persisted::service as persisted;
use crate::projects::graphql::Project;
use crate::projects::service as projects;
use crate::projects::store::ProjectFilter;
use crate::rbac::authorizer::CompanyPermission;
use crate::rbac::catalog::{Action, Resource, built_in_permissions};
use crate::rbac::graphql::{PermissionObject, permission_list};
use crate::rbac::loader::RolePermissionsLoader;
use crate::users::graphql::User;
use crate::users::loader::UserLoader;
use crate::users::model::UserRow;
use crate::webhooks::graphql::Webhook;
use crate::webhooks::service as webhooks;

/// The five roles every company has.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
pub enum BuiltInRole {
    Owner,
    Admin,
    Manager,
    Editor,
    Viewer,
}

impl From<BuiltIn> for BuiltInRole {
    fn from(role: BuiltIn) -> Self {
        match role {
            BuiltIn::Owner => Self::Owner,
            BuiltIn::Admin => Self::Admin,
            BuiltIn::Manager => Self::Manager,
            BuiltIn::Editor => Self::Editor,
            BuiltIn::Viewer => Self::Viewer,
        }
    }
}

/// A role of a company.
pub struct Role(pub RoleRow);

#[Object]
impl Role {
    async fn id(&self) -> ID {
        ID(self.0.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    /// Null for a company's custom role.
    async fn built_in(&self) -> Option<BuiltInRole> {
        self.0.built_in().map(BuiltInRole::from)
    }

    async fn description(&self) -> Option<&str> {
        self.0.description.as_deref()
    }

    /// What the role allows, in catalog order.
    async fn permissions(&self, ctx: &Context<'_>) -> Result<Vec<PermissionObject>> {
        let set = match self.0.built_in() {
            Some(built_in) => built_in_permissions(built_in),
            None => loader::<RolePermissionsLoader>(ctx)
                .load_one(self.0.id)
                .await?
                .unwrap_or_default(),
        };
        Ok(permission_list(set))
    }
}

/// A company, as one of its members sees it. The viewer's standing is loaded once per
/// request and shared by every field that needs it.
#[derive(Clone)]
pub struct Company {
    row: CompanyRow,
    viewer: OnceCell<Member>,
}

impl Company {
    /// A company with the viewer's standing in it.
    pub fn new(row: CompanyRow, viewer: Member) -> Self {
        Self {
            row,
            viewer: OnceCell::new_with(Some(viewer)),
        }
    }

    /// A company reached through a relation (the viewer's standing is loaded on first use).
    pub fn loaded(row: CompanyRow) -> Self {
        Self {
            row,
            viewer: OnceCell::new(),
        }
    }

    async fn viewer(&self, ctx: &Context<'_>) -> Result<&Member> {
        let viewer = self
            .viewer
            .get_or_try_init(|| async {
                company::get_company(app(ctx), caller(ctx), self.row.id)
                    .await
                    .map(|(_, viewer)| viewer)
            })
            .await?;
        Ok(viewer)
    }
}

#[Object]
impl Company {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }

    async fn name(&self) -> &str {
        &self.row.name
    }

    /// URL-safe and stable: renaming keeps it.
    async fn slug(&self) -> &str {
        &self.row.slug
    }

    async fn industry(&self) -> Option<&str> {
        self.row.industry.as_deref()
    }

    async fn size(&self) -> Option<&str> {
        self.row.size.as_deref()
    }

    async fn website(&self) -> Option<&str> {
        self.row.website.as_deref()
    }

    async fn logo_url(&self) -> Option<&str> {
        self.row.logo_url.as_deref()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }

    /// Whether members reach the company's data only once they have turned on two-factor
    /// sign-in (until then its fields answer FORBIDDEN with `reason: TWO_FACTOR_REQUIRED`).
    async fn require_two_factor(&self) -> bool {
        self.row.require_two_factor
    }

    /// The viewer's company-wide role.
    async fn my_role(&self, ctx: &Context<'_>) -> Result<Role> {
        Ok(Role(self.viewer(ctx).await?.role.clone()))
    }

    /// Members in the order they joined; `search` matches name or email.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    async fn members(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
        role_id: Option<ID>,
    ) -> Result<PageConnection<Membership>> {
        let page = PageRequest::parse(first, after.as_deref())?;
        let filter = MemberFilter {
            search: search.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
            role_id: role_id.as_ref().map(|id| parse_id(id, "role")).transpose()?,
        };
        let viewer = self.viewer(ctx).await?;
        let rows = members::list_members(app(ctx), viewer, filter, page).await?;
        let rights = viewer.member_rights();
        let company = self.clone();
        Ok(connection(
            rows,
            page.after.is_some(),
            |(row, _, _)| Cursor {
                at: row.joined_at,
                id: row.id,
            },
            |(row, user, role)| Membership {
                row,
                rights,
                user: Some(user),
                role: Some(role),
                company: Some(company.clone()),
            },
        ))
    }

    /// The company's API keys, newest first, revoked ones included (api_key:manage).
    #[graphql(
        guard = "CompanyPermission { company_id: self.row.id, resource: Resource::ApiKey, action: Action::Manage }"
    )]
    async fn api_keys(&self, ctx: &Context<'_>) -> Result<Option<Vec<ApiKey>>> {
        let keys = api_keys::list(app(ctx), caller(ctx), self.row.id).await?;
        Ok(Some(keys.into_iter().map(ApiKey).collect()))
    }

    /// The company's webhooks, oldest first (webhook:manage).
    #[graphql(
        guard = "CompanyPermission { company_id: self.row.id, resource: Resource::Webhook, action: Action::Manage }"
    )]
    async fn webhooks(&self, ctx: &Context<'_>) -> Result<Option<Vec<Webhook>>> {
        let webhooks = webhooks::list(app(ctx), caller(ctx), self.row.id).await?;
        Ok(Some(webhooks.into_iter().map(Webhook).collect()))
    }

    /// Who did what, newest first, filtered by actor, action, target type or time
    /// (audit:view).
    #[graphql(
        complexity = "crate::graphql::connection::page_cost(first, child_complexity)",
        guard = "CompanyPermission { company_id: self.row.id, resource: Resource::Audit, action: Action::View }"
    )]
    async fn audit_log(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<AuditFilter>,
    ) -> Result<Option<AuditConnection>> {
        let request = PageRequest::parse(first, after.as_deref())?;
        let filter = filter.unwrap_or_default().parse()?;
        let page = audit::company_log(app(ctx), caller(ctx), self.row.id, filter, request).await?;
        Ok(Some(audit_connection(page, request.after.is_some())))
    }

    /// The company's emission factors with the shipped defaults (factor:view), by key;
    /// `search` matches part of a key or label, and `on` (an ISO date) keeps only the
    /// version of each key in effect that day, the company's over the default.
    async fn emission_factors(
        &self,
        ctx: &Context<'_>,
        search: Option<String>,
        on: Option<String>,
    ) -> Result<Vec<EmissionFactor>> {
        let factors = factors::list(app(ctx), caller(ctx), self.row.id, search, on).await?;
        Ok(factors.into_iter().map(EmissionFactor).collect())
    }

    /// Operations registered for integrations to run by hash (api_key:manage).
    #[graphql(
        guard = "CompanyPermission { company_id: self.row.id, resource: Resource::ApiKey, action: Action::Manage }"
    )]
    async fn persisted_queries(&self, ctx: &Context<'_>) -> Result<Option<Vec<PersistedQuery>>> {
        let documents = persisted::list(app(ctx), caller(ctx), self.row.id).await?;
        Ok(Some(documents.into_iter().map(PersistedQuery).collect()))
    }

    /// Invitations, newest first (invitation:view).
    #[graphql(
        complexity = "crate::graphql::connection::page_cost(first, child_complexity)",
        guard = "CompanyPermission { company_id: self.row.id, resource: Resource::Invitation, action: Action::View }"
    )]
    async fn invitations(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        status: Option<InvitationStatus>,
    ) -> Result<Option<PageConnection<Invitation>>> {
        let page = PageRequest::parse(first, after.as_deref())?;
        let viewer = self.viewer(ctx).await?;
        let rows = invitations::list(app(ctx), viewer, status.map(Into::into), page).await?;
        let now = app(ctx).clock.now();
        let rights = viewer.member_rights();
        Ok(Some(connection(
            rows,
            page.after.is_some(),
            |row| Cursor {
                at: row.created_at,
                id: row.id,
            },
            |row| Invitation::new(row, now, rights),
        )))
    }

    /// Projects, oldest first; archived ones only with `includeArchived`.
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    async fn projects(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        search: Option<String>,
        include_archived: Option<bool>,
    ) -> Result<PageConnection<Project>> {
        let page = PageRequest::parse(first, after.as_deref())?;
        let filter = ProjectFilter {
            search: search.map(|s| s.trim().to_owned()).filter(|s| !s.is_empty()),
            include_archived: include_archived.unwrap_or(false),
        };
        let viewer = self.viewer(ctx).await?;
        let rows = projects::list_projects(app(ctx), viewer, filter, page).await?;
        Ok(connection(
            rows,
            page.after.is_some(),
            |row| Cursor {
                at: row.created_at,
                id: row.id,
            },
            Project::new,
        ))
    }

    /// What happened in the company, newest first: only the events whose subject the
    /// viewer may see (in the event's project, grants included).
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    async fn activity(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        project_id: Option<ID>,
        actor_id: Option<ID>,
    ) -> Result<ActivityConnection> {
        self.viewer(ctx).await?;
        let request = stream_request(ctx, Stream::Activity, first, after.as_deref())?;
        let project_id = project_id
            .as_ref()
            .map(|id| parse_id(id, "project"))
            .transpose()?;
        let actor_id = actor_id.as_ref().map(|id| parse_id(id, "user")).transpose()?;
        let page =
            events::company_activity(app(ctx), caller(ctx), self.row.id, project_id, actor_id, request)
                .await?;
        Ok(activity_connection(page, request.before.is_some()))
    }

    /// Built-in roles in rank order, then custom roles by name.
    async fn roles(&self, ctx: &Context<'_>) -> Result<Vec<Role>> {
        let rows = company::list_roles(app(ctx), self.viewer(ctx).await?).await?;
        Ok(rows.into_iter().map(Role).collect())
    }
}

/// A user's membership of a company. Lists carry the user, role and company along (one
/// query for the page); single memberships load them through the batch loaders.
pub struct Membership {
    row: MembershipRow,
    rights: MemberRights,
    user: Option<UserRow>,
    role: Option<RoleRow>,
    company: Option<Company>,
}

impl Membership {
    /// A membership seen with the viewer's `rights` in its company.
    pub fn new(row: MembershipRow, rights: MemberRights) -> Self {
        Self {
            row,
            rights,
            user: None,
            role: None,
            company: None,
        }
    }

    /// One of the viewer's own memberships, with everything already loaded (a company that
    /// holds the viewer back answers its fields with why).
    pub fn own(own: OwnMembership, user: UserRow) -> Self {
        let OwnMembership {
            membership,
            member,
            company,
            held_back,
        } = own;
        let (rights, company) = if held_back {
            (MemberRights::default(), Company::loaded(company))
        } else {
            (member.member_rights(), Company::new(company, member.clone()))
        };
        Self {
            row: membership,
            rights,
            user: Some(user),
            role: Some(member.role),
            company: Some(company),
        }
    }

    async fn user_row(&self, ctx: &Context<'_>) -> Result<UserRow> {
        if let Some(user) = &self.user {
            return Ok(user.clone());
        }
        Ok(loader::<UserLoader>(ctx)
            .load_one(self.row.user_id)
            .await?
            .ok_or_else(|| AppError::not_found("user"))?)
    }
}

#[Object]
impl Membership {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }

    async fn user(&self, ctx: &Context<'_>) -> Result<User> {
        Ok(User::seen_in_company(self.user_row(ctx).await?, self.rights))
    }

    async fn company(&self, ctx: &Context<'_>) -> Result<Company> {
        if let Some(company) = &self.company {
            return Ok(company.clone());
        }
        let company = loader::<CompanyLoader>(ctx)
            .load_one(self.row.company_id)
            .await?
            .ok_or_else(|| AppError::not_found("company"))?;
        Ok(Company::loaded(company))
    }

    async fn role(&self, ctx: &Context<'_>) -> Result<Role> {
        if let Some(role) = &self.role {
            return Ok(Role(role.clone()));
        }
        let role = loader::<RoleLoader>(ctx)
            .load_one(self.row.role_id)
            .await?
            .ok_or_else(|| AppError::not_found("role"))?;
        Ok(Role(role))
    }

    /// Whether this is the member's active company.
    async fn is_primary(&self, ctx: &Context<'_>) -> Result<bool> {
        Ok(self.user_row(ctx).await?.active_company_id == Some(self.row.company_id))
    }

    async fn joined_at(&self) -> DateTime<Utc> {
        self.row.joined_at
    }
}

/// Company queries.
#[derive(Default)]
pub struct CompaniesQuery;

#[Object]
impl CompaniesQuery {
    /// A company the caller belongs to; NOT_FOUND for any other id.
    async fn company(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Company>> {
        let company_id = parse_id(&id, "company")?;
        let (row, viewer) = company::get_company(app(ctx), caller(ctx), company_id).await?;
        Ok(Some(Company::new(row, viewer)))
    }
}

#[derive(InputObject)]
struct CreateCompanyInput {
    name: String,
    industry: Option<String>,
    size: Option<String>,
    website: Option<String>,
}

#[derive(InputObject)]
struct UpdateCompanyInput {
    company_id: ID,
    name: MaybeUndefined<String>,
    industry: MaybeUndefined<String>,
    size: MaybeUndefined<String>,
    website: MaybeUndefined<String>,
    logo_url: MaybeUndefined<String>,
    /// Require members to sign in with a second factor (company:manage; you need one on
    /// yourself to turn it on).
    require_two_factor: Option<bool>,
}

/// Company and team mutations.
#[derive(Default)]
pub struct CompaniesMutation;

#[Object]
impl CompaniesMutation {
    /// Creates a company; the caller becomes its Owner.
    async fn create_company(&self, ctx: &Context<'_>, input: CreateCompanyInput) -> Result<Company> {
        let new = NewCompanyInput {
            name: input.name,
            industry: input.industry,
            size: input.size,
            website: input.website,
        };
        let (row, viewer) = company::create_company(app(ctx), caller(ctx), new).await?;
        Ok(Company::new(row, viewer))
    }

    /// Edits the company's profile (owners and admins); an explicit null clears a field.
    async fn update_company(&self, ctx: &Context<'_>, input: UpdateCompanyInput) -> Result<Company> {
        let company_id = parse_id(&input.company_id, "company")?;
        let update = CompanyUpdate {
            name: presence(input.name),
            industry: presence(input.industry),
            size: presence(input.size),
            website: presence(input.website),
            logo_url: presence(input.logo_url),
            require_two_factor: input.require_two_factor,
        };
        let (row, viewer) = company::update_company(app(ctx), caller(ctx), company_id, update).await?;
        Ok(Company::new(row, viewer))
    }

    /// Makes a company the caller's active one.
    async fn set_active_company(&self, ctx: &Context<'_>, company_id: ID) -> Result<Company> {
        let company_id = parse_id(&company_id, "company")?;
        let (row, viewer) = company::set_active_company(app(ctx), caller(ctx), company_id).await?;
        Ok(Company::new(row, viewer))
    }

    /// The caller leaves the company (its last owner cannot).
    async fn leave_company(&self, ctx: &Context<'_>, company_id: ID) -> Result<bool> {
        let company_id = parse_id(&company_id, "company")?;
        members::leave_company(app(ctx), caller(ctx), company_id).await?;
        Ok(true)
    }

    /// Makes another member Owner and the caller Admin.
    async fn transfer_ownership(&self, ctx: &Context<'_>, company_id: ID, user_id: ID) -> Result<Company> {
        let company_id = parse_id(&company_id, "company")?;
        let user_id = parse_id(&user_id, "member")?;
        let (row, viewer) = members::transfer_ownership(app(ctx), caller(ctx), company_id, user_id).await?;
        Ok(Company::new(row, viewer))
    }

    /// Deletes the company and all it owns (owners only; confirmName must equal the name).
    async fn delete_company(&self, ctx: &Context<'_>, company_id: ID, confirm_name: String) -> Result<bool> {
        let company_id = parse_id(&company_id, "company")?;
        company::delete_company(app(ctx), caller(ctx), company_id, &confirm_name).await?;
        Ok(true)
    }

    /// Gives a member another company-wide role.
    async fn change_member_role(
        &self,
        ctx: &Context<'_>,
        company_id: ID,
        user_id: ID,
        role_id: ID,
    ) -> Result<Membership> {
        let company_id = parse_id(&company_id, "company")?;
        let user_id = parse_id(&user_id, "member")?;
        let role_id = parse_id(&role_id, "role")?;
        let row = members::change_member_role(app(ctx), caller(ctx), company_id, user_id, role_id).await?;
        // Changing roles needs member:manage, which shows the member in full.
        Ok(Membership::new(
            row,
            MemberRights {
                contact: true,
                account: true,
            },
        ))
    }

    /// Removes a member from the company.
    async fn remove_member(&self, ctx: &Context<'_>, company_id: ID, user_id: ID) -> Result<bool> {
        let company_id = parse_id(&company_id, "company")?;
        let user_id = parse_id(&user_id, "member")?;
        members::remove_member(app(ctx), caller(ctx), company_id, user_id).await?;
        Ok(true)
    }
}
