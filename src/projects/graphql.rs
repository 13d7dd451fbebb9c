//! GraphQL face of projects: `Project`, `ProjectRoleAssignment`, and the project and grant
//! mutations.

use async_graphql::{Context, ID, Json, MaybeUndefined, Object, Result};
use chrono::{DateTime, Utc};

use super::model::ProjectRow;
use super::service;
use crate::companies::access::Member;
use crate::companies::graphql::{Company, Role};
use crate::companies::loader::CompanyLoader;
use crate::companies::model::RoleRow;
use crate::cycles::graphql::Cycle;
use crate::cycles::service as cycles;
use crate::error::AppError;
use crate::graphql::connection::{PageConnection, connection};
use crate::graphql::context::{app, authorizer, caller, loader, parse_id, presence, signed_in};
use crate::modules::graphql::Module;
use crate::modules::service as modules;
use crate::pagination::{Cursor, PageRequest};
use crate::rows::service as row_service;
use crate::tables::graphql::DataTable;
use crate::tables::loader::TablesPageLoader;
use crate::tables::service as tables;
use crate::users::graphql::User;
use crate::users::model::UserRow;

/// A project of a company.
pub struct Project {
    row: ProjectRow,
}

impl Project {
    /// Wraps a row the caller may see.
    pub fn new(row: ProjectRow) -> Self {
        Self { row }
    }
}

// Serial: lists of these resolve their items concurrently already, so parallel fields
// add a task set per object and no batching.
#[Object(serial)]
impl Project {
    async fn id(&self) -> ID {
        ID(self.row.id.to_string())
    }

    async fn company(&self, ctx: &Context<'_>) -> Result<Company> {
        let company = loader::<CompanyLoader>(ctx)
            .load_one(self.row.company_id)
            .await?
            .ok_or_else(|| AppError::not_found("company"))?;
        Ok(Company::loaded(company))
    }

    async fn name(&self) -> &str {
        &self.row.name
    }

    async fn description(&self) -> Option<&str> {
        self.row.description.as_deref()
    }

    /// Archived projects are read-only and hidden from lists unless asked for.
    async fn archived(&self) -> bool {
        self.row.archived_at.is_some()
    }

    async fn created_at(&self) -> DateTime<Utc> {
        self.row.created_at
    }

    async fn updated_at(&self) -> DateTime<Utc> {
        self.row.updated_at
    }

    /// Sections of the project, in their order (module:view).
    async fn modules(&self, ctx: &Context<'_>) -> Result<Vec<Module>> {
        let (rows, project) = modules::list_modules(app(ctx), caller(ctx), self.row.id).await?;
        Ok(rows
            .into_iter()
            .map(|row| Module::new(row, project.clone()))
            .collect())
    }

    /// The fields marked `total` in the project's tables, summed by the scope of each
    /// table's module (row:view; restricted fields only for table:manage), of one cycle if
    /// given: `{ "cycleId", "scopes": { "1": { "co2e_kg": "12.5" }, "2": …, "none": … },
    /// "units": { "co2e_kg": "kg CO2e" } }`, exact decimals as strings.
    async fn summary(&self, ctx: &Context<'_>, cycle_id: Option<ID>) -> Result<Json<serde_json::Value>> {
        let cycle_id = cycle_id.as_ref().map(|id| parse_id(id, "cycle")).transpose()?;
        let summary = row_service::project_summary(app(ctx), caller(ctx), self.row.id, cycle_id).await?;
        Ok(Json(summary))
    }

    /// Reporting cycles in date order (cycle:view).
    async fn cycles(&self, ctx: &Context<'_>) -> Result<Vec<Cycle>> {
        let (rows, project) = cycles::list_cycles(app(ctx), caller(ctx), self.row.id).await?;
        Ok(rows
            .into_iter()
            .map(|row| Cycle::new(row, project.clone()))
            .collect())
    }

    /// Data tables, oldest first (table:view).
    #[graphql(complexity = "crate::graphql::connection::page_cost(first, child_complexity)")]
    async fn tables(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> Result<PageConnection<DataTable>> {
        let page = PageRequest::parse(first, after.as_deref())?;
        let (rows, project) = if page.after.is_none() {
            // The common case, a first page, comes from one query for every project listed.
            caller(ctx).acting()?;
            let permissions = authorizer(ctx)?
                .project_permissions(self.row.company_id, self.row.id)
                .await?;
            let (tables, total) = loader::<TablesPageLoader>(ctx)
                .load_one((self.row.id, page.limit()))
                .await?
                .unwrap_or_default();
            (
                tables::first_page(permissions, tables, total, page)?,
                self.row.clone(),
            )
        } else {
            tables::list_tables(app(ctx), caller(ctx), self.row.id, page).await?
        };
        Ok(connection(
            rows,
            page.after.is_some(),
            |row| Cursor {
                at: row.created_at,
                id: row.id,
            },
            |row| DataTable::new(row, project.clone()),
        ))
    }

    /// Project-scoped role grants.
    async fn members(&self, ctx: &Context<'_>) -> Result<Vec<ProjectRoleAssignment>> {
        let (grants, viewer) = service::list_grants(app(ctx), caller(ctx), self.row.id).await?;
        Ok(grants
            .into_iter()
            .map(|(user, role)| ProjectRoleAssignment::new(user, role, &viewer))
            .collect())
    }
}

/// A user's role inside one project.
pub struct ProjectRoleAssignment {
    user: User,
    role: RoleRow,
}

impl ProjectRoleAssignment {
    /// `viewer` is the caller's company-wide standing.
    fn new(user: UserRow, role: RoleRow, viewer: &Member) -> Self {
        Self {
            user: User::seen_in_company(user, viewer.member_rights()),
            role,
        }
    }
}

#[Object]
impl ProjectRoleAssignment {
    async fn user(&self) -> &User {
        &self.user
    }

    async fn role(&self) -> Role {
        Role(self.role.clone())
    }
}

/// Project queries.
#[derive(Default)]
pub struct ProjectsQuery;

#[Object]
impl ProjectsQuery {
    /// A project of a company the caller belongs to; NOT_FOUND for any other id.
    async fn project(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Project>> {
        let (row, _) = service::get_project(app(ctx), caller(ctx), parse_id(&id, "project")?).await?;
        Ok(Some(Project::new(row)))
    }
}

/// Project mutations.
#[derive(Default)]
pub struct ProjectsMutation;

#[Object]
impl ProjectsMutation {
    /// Creates a project (project:create).
    async fn create_project(
        &self,
        ctx: &Context<'_>,
        company_id: ID,
        name: String,
        description: Option<String>,
    ) -> Result<Project> {
        let company_id = parse_id(&company_id, "company")?;
        let (row, _) = service::create_project(app(ctx), caller(ctx), company_id, &name, description).await?;
        Ok(Project::new(row))
    }

    /// Renames or re-describes a project (project:edit; CONFLICT while archived).
    async fn update_project(
        &self,
        ctx: &Context<'_>,
        id: ID,
        name: Option<String>,
        description: MaybeUndefined<String>,
    ) -> Result<Project> {
        let description = presence(description);
        let project_id = parse_id(&id, "project")?;
        let (row, _) = service::update_project(app(ctx), caller(ctx), project_id, name, description).await?;
        Ok(Project::new(row))
    }

    /// Archives a project: hidden from lists and read-only (project:manage).
    async fn archive_project(&self, ctx: &Context<'_>, id: ID) -> Result<Project> {
        let (row, _) = service::set_archived(app(ctx), caller(ctx), parse_id(&id, "project")?, true).await?;
        Ok(Project::new(row))
    }

    /// Restores an archived project (project:manage).
    async fn restore_project(&self, ctx: &Context<'_>, id: ID) -> Result<Project> {
        let (row, _) = service::set_archived(app(ctx), caller(ctx), parse_id(&id, "project")?, false).await?;
        Ok(Project::new(row))
    }

    /// Deletes an archived project and everything in it (project:delete).
    async fn delete_project(&self, ctx: &Context<'_>, id: ID) -> Result<bool> {
        service::delete_project(app(ctx), caller(ctx), parse_id(&id, "project")?).await?;
        Ok(true)
    }

    /// Gives a member a role inside one project, on top of their company role.
    async fn grant_project_role(
        &self,
        ctx: &Context<'_>,
        project_id: ID,
        user_id: ID,
        role_id: ID,
    ) -> Result<ProjectRoleAssignment> {
        signed_in(ctx)?;
        let project_id = parse_id(&project_id, "project")?;
        let (user, role) = service::grant_project_role(
            app(ctx),
            caller(ctx),
            project_id,
            parse_id(&user_id, "member")?,
            parse_id(&role_id, "role")?,
        )
        .await?;
        let (_, viewer) = service::list_grants(app(ctx), caller(ctx), project_id).await?;
        Ok(ProjectRoleAssignment::new(user, role, &viewer))
    }

    /// Takes a member's project role away.
    async fn revoke_project_role(&self, ctx: &Context<'_>, project_id: ID, user_id: ID) -> Result<bool> {
        let project_id = parse_id(&project_id, "project")?;
        service::revoke_project_role(app(ctx), caller(ctx), project_id, parse_id(&user_id, "member")?)
            .await?;
        Ok(true)
    }
}
