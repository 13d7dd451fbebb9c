//! Project rules: creating, editing, archiving (read-only), deleting (archived only), and
//! project role grants.

use futures_util::FutureExt;
use serde_json::json;
use uuid::Uuid;

use super::access::project_member;
use super::model::{NewProject, ProjectChanges, ProjectRow};
use super::store::{self, ProjectFilter};
use crate::app::App;
use crate::auth::caller::{Actor, Caller};
use crate::companies::access::{self, Member};
use crate::companies::model::RoleRow;
use crate::companies::store as company_store;
use crate::db::tx::{self, Change, Touches};
use crate::error::{AppError, AppResult, InputCheck};
use crate::events::verb::Verb;
use crate::events::write::{self, Activity, Notice};
use crate::input;
use crate::pagination::{Page, PageRequest};
use crate::rbac::catalog::{Action, Resource};
use crate::rbac::standing::role_permissions;
use crate::tables::store as table_store;
use crate::users::model::UserRow;

const MAX_DESCRIPTION_CHARS: usize = 2_000;

fn parse_name(raw: &str, path: &str) -> AppResult<String> {
    input::text(raw, path, 1, 100)
}

/// CONFLICT for writes to an archived project.
fn require_active(project: &ProjectRow) -> AppResult<()> {
    if project.archived_at.is_some() {
        return Err(AppError::conflict(
            "the project is archived; restore it to change it",
        ));
    }
    Ok(())
}

/// Creates a project (project:create in the company).
pub async fn create_project(
    app: &App,
    caller: &Caller,
    company_id: Uuid,
    name: &str,
    description: Option<String>,
) -> AppResult<(ProjectRow, Member)> {
    caller.acting()?;
    let mut check = InputCheck::default();
    let name = check.take(parse_name(name, "name"));
    let description = check.take(input::optional_text(
        description,
        "description",
        MAX_DESCRIPTION_CHARS,
    ));
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                company_store::lock_company(conn, company_id).await?;
                let member = access::member(conn, company_id, actor).await?;
                member.require(Resource::Project, Action::Create)?;
                check.finish()?;
                let (Some(name), Some(description)) = (name, description) else {
                    return Err(AppError::internal(anyhow::anyhow!(
                        "input check passed without values"
                    )));
                };
                let project = NewProject {
                    id: Uuid::new_v4(),
                    company_id,
                    name: &name,
                    description: description.as_deref(),
                    created_at: now,
                    updated_at: now,
                };
                let project = store::insert_project(conn, &project).await?;
                let summary = format!("Project {} created", project.name);
                write::record(
                    conn,
                    now,
                    Activity::in_project_of(
                        &project,
                        actor,
                        Verb::ProjectCreated,
                        ("project", project.id),
                        summary,
                    ),
                )
                .await?;
                Ok((project, member))
            }
            .boxed()
        },
    )
    .await
}

/// A project the caller may see, with their standing in it.
pub async fn get_project(app: &App, caller: &Caller, project_id: Uuid) -> AppResult<(ProjectRow, Member)> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        let (project, member) = project_member(conn, project_id, actor, false).await?;
        member.require(Resource::Project, Action::View)?;
        Ok((project, member))
    })
    .await
}

/// A page of the company's projects (project:view in the company), for a viewer whose
/// standing this request already loaded.
pub async fn list_projects(
    app: &App,
    viewer: &Member,
    filter: ProjectFilter,
    page: PageRequest,
) -> AppResult<Page<ProjectRow>> {
    viewer.require(Resource::Project, Action::View)?;
    let company_id = viewer.company_id;
    tx::read(app, viewer.actor.scope(), async |conn| {
        let rows = store::list(conn, company_id, &filter, page).await?;
        let total = store::count(conn, company_id, &filter).await?;
        Ok(Page::from_rows(rows, page, total))
    })
    .await
}

/// Renames or re-describes a project (project:edit there; not while archived).
pub async fn update_project(
    app: &App,
    caller: &Caller,
    project_id: Uuid,
    name: Option<String>,
    description: Option<Option<String>>,
) -> AppResult<(ProjectRow, Member)> {
    caller.acting()?;
    let mut check = InputCheck::default();
    let changes = ProjectChanges {
        name: name.and_then(|n| check.take(parse_name(&n, "name"))),
        description: description.map(|d| {
            check
                .take(input::optional_text(d, "description", MAX_DESCRIPTION_CHARS))
                .flatten()
        }),
    };
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                let (project, member) = project_member(conn, project_id, actor, true).await?;
                member.require(Resource::Project, Action::Edit)?;
                require_active(&project)?;
                check.finish()?;
                let updated = store::update(conn, project.id, &changes, now).await?;
                let (summary, data) = write::name_change(
                    "Project",
                    (&project.name, project.description.as_deref()),
                    (&updated.name, updated.description.as_deref()),
                );
                let activity = Activity::in_project_of(
                    &updated,
                    actor,
                    Verb::ProjectUpdated,
                    ("project", project.id),
                    summary,
                )
                .data(data);
                write::record(conn, now, activity).await?;
                Ok((updated, member))
            }
            .boxed()
        },
    )
    .await
}

/// Archives (`archive`) or restores a project (project:manage there).
pub async fn set_archived(
    app: &App,
    caller: &Caller,
    project_id: Uuid,
    archive: bool,
) -> AppResult<(ProjectRow, Member)> {
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                let (project, member) = project_member(conn, project_id, actor, true).await?;
                member.require(Resource::Project, Action::Manage)?;
                let archived_at = if archive {
                    Some(project.archived_at.unwrap_or(now))
                } else {
                    None
                };
                let updated = store::set_archived(conn, project.id, archived_at, now).await?;
                if project.archived_at.is_some() != archive {
                    let (verb, summary) = if archive {
                        (
                            Verb::ProjectArchived,
                            format!("Project {} archived", project.name),
                        )
                    } else {
                        (
                            Verb::ProjectRestored,
                            format!("Project {} restored", project.name),
                        )
                    };
                    write::record(
                        conn,
                        now,
                        Activity::in_project_of(&updated, actor, verb, ("project", project.id), summary),
                    )
                    .await?;
                }
                Ok((updated, member))
            }
            .boxed()
        },
    )
    .await
}

/// Deletes an archived project and everything in it (project:delete there).
pub async fn delete_project(app: &App, caller: &Caller, project_id: Uuid) -> AppResult<()> {
    tx::write(app, caller, Touches::STANDING, |Change { conn, actor, now, .. }| async move {
        let (project, member) = project_member(conn, project_id, actor, true).await?;
        member.require(Resource::Project, Action::Delete)?;
                if project.archived_at.is_none() {
            return Err(AppError::conflict("archive the project before deleting it"));
        }
        let referencing = table_store::references_into_project(conn, project.id).await?;
        if referencing > 0 {
            return Err(AppError::conflict(format!(
                "{referencing} table(s) in other projects reference this project's tables; remove those fields first"
            )));
        }
        store::delete(conn, project.id).await?;
        let summary = format!("Project {} deleted with everything in it", project.name);
        write::record(conn, now, Activity::in_project_of(&project, actor, Verb::ProjectDeleted, ("project", project.id), summary))
            .await?;
        Ok(())
    }.boxed()).await?;
    // Its tables went with it: their field indexes go too.
    crate::rows::indexes::spawn_reconcile(app, Uuid::nil());
    Ok(())
}

/// Locks the project's company (grants change who may do what, like membership changes),
/// then checks that the caller may change `user_id`'s grant in the project: project:manage
/// there, an active project, and an existing grant no stronger than the caller.
async fn grant_manager(
    conn: &mut diesel_async::AsyncPgConnection,
    actor: Actor,
    project_id: Uuid,
    user_id: Uuid,
) -> AppResult<(ProjectRow, Member)> {
    let (project, _) = project_member(conn, project_id, actor, false).await?;
    company_store::lock_company(conn, project.company_id).await?;
    let (project, caller) = project_member(conn, project_id, actor, true).await?;
    caller.require(Resource::Project, Action::Manage)?;
    require_active(&project)?;
    if let Some((_, existing)) = store::find_grant(conn, project.id, user_id).await? {
        caller.require_can_grant(&existing, role_permissions(conn, &existing).await?)?;
    }
    Ok((project, caller))
}

/// Gives a company member a role inside the project (project:manage there; nobody grants
/// more than they hold in it).
pub async fn grant_project_role(
    app: &App,
    caller: &Caller,
    project_id: Uuid,
    user_id: Uuid,
    role_id: Uuid,
) -> AppResult<(UserRow, RoleRow)> {
    tx::write(
        app,
        caller,
        Touches::STANDING,
        |Change { conn, actor, now, .. }| {
            async move {
                let (project, caller) = grant_manager(conn, actor, project_id, user_id).await?;
                access::member(conn, project.company_id, Actor::User(user_id))
                    .await
                    .map_err(|_| AppError::not_found("member"))?;
                let role = company_store::find_role(conn, project.company_id, role_id)
                    .await?
                    .ok_or_else(|| AppError::not_found("role"))?;
                caller.require_can_grant(&role, role_permissions(conn, &role).await?)?;
                store::upsert_grant(conn, project.id, user_id, role.id, now).await?;
                let user = crate::users::store::users_by_ids(conn, &[user_id])
                    .await?
                    .into_iter()
                    .next()
                    .ok_or_else(|| AppError::not_found("member"))?;
                let summary = format!("{} given the {} role in {}", user.name, role.name, project.name);
                let activity = Activity::in_project_of(
                    &project,
                    actor,
                    Verb::ProjectRoleGranted,
                    ("user", user_id),
                    summary,
                )
                .visible_with(Resource::Member, Action::View)
                .data(json!({ "userId": user_id, "roleId": role.id, "role": role.name }));
                write::record(conn, now, activity).await?;
                let notice = Notice {
                    user_id,
                    company_id: Some(project.company_id),
                    kind: "member.role_changed",
                    title: format!("Your role in {} changed", project.name),
                    body: format!("You are now {} in the project {}.", role.name, project.name),
                    link: None,
                };
                write::notify(conn, now, vec![notice]).await?;
                Ok((user, role))
            }
            .boxed()
        },
    )
    .await
}

/// Takes a user's project role away (project:manage there).
pub async fn revoke_project_role(
    app: &App,
    caller: &Caller,
    project_id: Uuid,
    user_id: Uuid,
) -> AppResult<()> {
    tx::write(
        app,
        caller,
        Touches::STANDING,
        |Change { conn, actor, now, .. }| {
            async move {
                let (project, _) = grant_manager(conn, actor, project_id, user_id).await?;
                if !store::delete_grant(conn, project.id, user_id).await? {
                    return Err(AppError::not_found("project role"));
                }
                let activity = Activity::in_project_of(
                    &project,
                    actor,
                    Verb::ProjectRoleRevoked,
                    ("user", user_id),
                    format!("A project role in {} was taken away", project.name),
                )
                .visible_with(Resource::Member, Action::View)
                .data(json!({ "userId": user_id }));
                write::record(conn, now, activity).await?;
                let notice = Notice {
                    user_id,
                    company_id: Some(project.company_id),
                    kind: "member.role_changed",
                    title: format!("Your role in {} changed", project.name),
                    body: format!(
                        "Your project role in {} was removed; your company role applies there now.",
                        project.name
                    ),
                    link: None,
                };
                write::notify(conn, now, vec![notice]).await
            }
            .boxed()
        },
    )
    .await
}

/// The project's role grants (project:view there), with the caller's company-wide standing
/// (which alone decides what they see of other members).
pub async fn list_grants(
    app: &App,
    caller: &Caller,
    project_id: Uuid,
) -> AppResult<(Vec<(UserRow, RoleRow)>, Member)> {
    let actor = caller.acting()?;
    let (project, _) = get_project(app, caller, project_id).await?;
    tx::read(app, actor.scope(), async |conn| {
        let company_member = access::member(conn, project.company_id, actor).await?;
        Ok((store::list_grants(conn, project.id).await?, company_member))
    })
    .await
}
