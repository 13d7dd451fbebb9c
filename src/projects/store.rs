//! SQL for projects and project grants. A project is reached only through the caller's
//! membership of its company.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{GrantRow, NewProject, ProjectChanges, ProjectRow};
use crate::auth::caller::Actor;
use crate::companies::model::RoleRow;
use crate::companies::store::{escape_like, reached_by};
use crate::db::schema::{project_role_grants, projects, roles, users};
use crate::pagination::{Cursor, PageRequest};
use crate::users::model::UserRow;

/// Creates a project.
pub async fn insert_project(
    conn: &mut AsyncPgConnection,
    project: &NewProject<'_>,
) -> QueryResult<ProjectRow> {
    diesel::insert_into(projects::table)
        .values(project)
        .returning(ProjectRow::as_returning())
        .get_result(conn)
        .await
}

/// The project, if `actor` reaches its company; `lock` takes a row lock for a change.
pub async fn find_for(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    actor: Actor,
    lock: bool,
) -> QueryResult<Option<ProjectRow>> {
    let query = projects::table
        .filter(projects::id.eq(project_id))
        .filter(reached_by(actor, projects::company_id))
        .select(ProjectRow::as_select());
    if lock {
        query.for_update().first(conn).await.optional()
    } else {
        query.first(conn).await.optional()
    }
}

/// Narrows a project list.
#[derive(Debug, Default, Clone)]
pub struct ProjectFilter {
    /// Matched case-insensitively against the name.
    pub search: Option<String>,
    pub include_archived: bool,
}

fn filtered<'a>(company_id: Uuid, filter: &ProjectFilter) -> projects::BoxedQuery<'a, Pg> {
    let mut query = projects::table
        .filter(projects::company_id.eq(company_id))
        .into_boxed();
    if !filter.include_archived {
        query = query.filter(projects::archived_at.is_null());
    }
    if let Some(search) = filter.search.as_deref() {
        query = query.filter(projects::name.ilike(format!("%{}%", escape_like(search))));
    }
    query
}

/// One page of the company's projects, oldest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    filter: &ProjectFilter,
    page: PageRequest,
) -> QueryResult<Vec<ProjectRow>> {
    let mut query = filtered(company_id, filter);
    if let Some(Cursor { at, id }) = page.after {
        query = query.filter(
            projects::created_at
                .gt(at)
                .or(projects::created_at.eq(at).and(projects::id.gt(id))),
        );
    }
    query
        .order((projects::created_at, projects::id))
        .limit(page.limit())
        .select(ProjectRow::as_select())
        .load(conn)
        .await
}

/// How many of the company's projects match the filter.
pub async fn count(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    filter: &ProjectFilter,
) -> QueryResult<i64> {
    filtered(company_id, filter).count().get_result(conn).await
}

/// Applies project changes.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    changes: &ProjectChanges,
    now: DateTime<Utc>,
) -> QueryResult<ProjectRow> {
    diesel::update(projects::table.find(id))
        .set((changes, projects::updated_at.eq(now)))
        .returning(ProjectRow::as_returning())
        .get_result(conn)
        .await
}

/// Archives (Some) or restores (None) a project.
pub async fn set_archived(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    archived_at: Option<DateTime<Utc>>,
    now: DateTime<Utc>,
) -> QueryResult<ProjectRow> {
    diesel::update(projects::table.find(id))
        .set((
            projects::archived_at.eq(archived_at),
            projects::updated_at.eq(now),
        ))
        .returning(ProjectRow::as_returning())
        .get_result(conn)
        .await
}

/// Deletes a project and everything in it.
pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::delete(projects::table.find(id))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The user's grant in the project, with its role.
pub async fn find_grant(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    user_id: Uuid,
) -> QueryResult<Option<(GrantRow, RoleRow)>> {
    project_role_grants::table
        .inner_join(roles::table)
        .filter(project_role_grants::project_id.eq(project_id))
        .filter(project_role_grants::user_id.eq(user_id))
        .select((GrantRow::as_select(), RoleRow::as_select()))
        .first(conn)
        .await
        .optional()
}

/// Every project grant of the user: (project, role).
pub async fn grants_of_user(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
) -> QueryResult<Vec<(Uuid, RoleRow)>> {
    project_role_grants::table
        .inner_join(roles::table)
        .filter(project_role_grants::user_id.eq(user_id))
        .select((project_role_grants::project_id, RoleRow::as_select()))
        .load(conn)
        .await
}

/// Gives (or replaces) the user's role in the project.
pub async fn upsert_grant(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    user_id: Uuid,
    role_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::insert_into(project_role_grants::table)
        .values((
            project_role_grants::project_id.eq(project_id),
            project_role_grants::user_id.eq(user_id),
            project_role_grants::role_id.eq(role_id),
            project_role_grants::granted_at.eq(now),
        ))
        .on_conflict((project_role_grants::project_id, project_role_grants::user_id))
        .do_update()
        .set((
            project_role_grants::role_id.eq(role_id),
            project_role_grants::granted_at.eq(now),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Removes the user's role in the project; false when there was none.
pub async fn delete_grant(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    user_id: Uuid,
) -> QueryResult<bool> {
    diesel::delete(
        project_role_grants::table
            .filter(project_role_grants::project_id.eq(project_id))
            .filter(project_role_grants::user_id.eq(user_id)),
    )
    .execute(conn)
    .await
    .map(|count| count > 0)
}

/// The project's grants with their users and roles, oldest first.
pub async fn list_grants(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
) -> QueryResult<Vec<(UserRow, RoleRow)>> {
    project_role_grants::table
        .inner_join(users::table)
        .inner_join(roles::table)
        .filter(project_role_grants::project_id.eq(project_id))
        .order(project_role_grants::granted_at)
        .select((UserRow::as_select(), RoleRow::as_select()))
        .load(conn)
        .await
}

/// Removes a user's grants in the company's projects (they left the company).
pub async fn delete_grants_in_company(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    user_id: Uuid,
) -> QueryResult<()> {
    let company_projects = projects::table
        .filter(projects::company_id.eq(company_id))
        .select(projects::id);
    diesel::delete(
        project_role_grants::table
            .filter(project_role_grants::user_id.eq(user_id))
            .filter(project_role_grants::project_id.eq_any(company_projects)),
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Projects by id (a batch loader's query; callers have already checked access).
pub async fn projects_by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<ProjectRow>> {
    projects::table
        .filter(projects::id.eq_any(ids))
        .select(ProjectRow::as_select())
        .load(conn)
        .await
}
