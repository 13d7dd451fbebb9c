//! Module rules: permission-gated, never in an archived project, scope 1-3, positions dense.

use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use serde_json::json;
use uuid::Uuid;

use super::model::{ModuleChanges, ModuleRow, NewModule};
use super::store;
use crate::app::App;
use crate::auth::caller::{Actor, Caller};
use crate::db::tx::{self, Change, Touches};
use crate::error::{AppError, AppResult, InputCheck};
use crate::events::verb::Verb;
use crate::events::write::{self, Activity};
use crate::input;
use crate::projects::access::project_member;
use crate::projects::model::ProjectRow;
use crate::rbac::catalog::{Action, Resource};

/// A module as submitted: `None` keeps a field, `Some(None)` clears it.
#[derive(Debug, Default)]
pub struct ModuleInput {
    pub name: Option<String>,
    pub description: Option<Option<String>>,
    pub scope: Option<Option<i32>>,
    pub position: Option<i32>,
}

fn parse_scope(scope: Option<i32>) -> AppResult<Option<i32>> {
    match scope {
        None | Some(1..=3) => Ok(scope),
        Some(_) => Err(AppError::invalid("scope", "must be 1, 2 or 3")),
    }
}

fn check(input: ModuleInput) -> AppResult<(ModuleChanges, Option<i32>)> {
    let mut check = InputCheck::default();
    let changes = ModuleChanges {
        name: input
            .name
            .and_then(|n| check.take(input::text(&n, "name", 1, 100))),
        description: input.description.map(|d| {
            check
                .take(input::optional_text(d, "description", 2_000))
                .flatten()
        }),
        scope: input.scope.map(|s| check.take(parse_scope(s)).flatten()),
    };
    if input.position.is_some_and(|p| p < 0) {
        check.take::<()>(Err(AppError::invalid("position", "must not be negative")));
    }
    check.finish()?;
    Ok((changes, input.position))
}

/// The project (locked) of a write, if the caller may do `action` to its modules.
async fn writable_project(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    project_id: Uuid,
    action: Action,
) -> AppResult<ProjectRow> {
    let (project, member) = project_member(conn, project_id, actor, true).await?;
    member.require(Resource::Module, action)?;
    if project.archived_at.is_some() {
        return Err(AppError::conflict(
            "the project is archived; restore it to change it",
        ));
    }
    Ok(project)
}

/// Puts `moved` at `position` (clamped) and renumbers the project's modules 0, 1, 2...
async fn reorder(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
    moved: Uuid,
    position: Option<i32>,
) -> AppResult<()> {
    let mut rows = store::list(conn, project_id).await?;
    if let Some(position) = position
        && let Some(index) = rows.iter().position(|m| m.id == moved)
    {
        let row = rows.remove(index);
        let target = usize::try_from(position).unwrap_or(0).min(rows.len());
        rows.insert(target, row);
    }
    for (index, row) in rows.iter().enumerate() {
        let index = i32::try_from(index).unwrap_or(i32::MAX);
        if row.position != index {
            store::set_position(conn, row.id, index).await?;
        }
    }
    Ok(())
}

/// Adds a module at the end of the project's list (module:create).
pub async fn create_module(
    app: &App,
    caller: &Caller,
    project_id: Uuid,
    name: &str,
    description: Option<String>,
    scope: Option<i32>,
) -> AppResult<(ModuleRow, ProjectRow)> {
    caller.acting()?;
    let input = ModuleInput {
        name: Some(name.to_owned()),
        description: Some(description),
        scope: Some(scope),
        position: None,
    };
    let checked = check(input);
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                let project = writable_project(conn, actor, project_id, Action::Create).await?;
                let (changes, _) = checked?;
                let name = changes.name.unwrap_or_default();
                let description = changes.description.flatten();
                let position = i32::try_from(store::list(conn, project.id).await?.len()).unwrap_or(i32::MAX);
                let module = NewModule {
                    id: Uuid::new_v4(),
                    project_id: project.id,
                    name: &name,
                    description: description.as_deref(),
                    scope: changes.scope.flatten(),
                    position,
                    created_at: now,
                    updated_at: now,
                };
                let module = store::insert(conn, &module).await?;
                let summary = format!("Module {} added to {}", module.name, project.name);
                let activity = Activity::in_project_of(
                    &project,
                    actor,
                    Verb::ModuleCreated,
                    ("module", module.id),
                    summary,
                )
                .data(json!({ "name": module.name, "scope": module.scope }));
                write::record(conn, now, activity).await?;
                Ok((module, project))
            }
            .boxed()
        },
    )
    .await
}

/// Edits or moves a module (module:edit).
pub async fn update_module(
    app: &App,
    caller: &Caller,
    module_id: Uuid,
    input: ModuleInput,
) -> AppResult<(ModuleRow, ProjectRow)> {
    caller.acting()?;
    let checked = check(input);
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                let module = store::find_for(conn, module_id, actor)
                    .await?
                    .ok_or_else(|| AppError::not_found("module"))?;
                let project = writable_project(conn, actor, module.project_id, Action::Edit).await?;
                // Re-read under the project lock: a concurrent delete may have won.
                let module = store::find_for(conn, module.id, actor)
                    .await?
                    .ok_or_else(|| AppError::not_found("module"))?;
                let (changes, position) = checked?;
                store::update(conn, module.id, &changes, now).await?;
                reorder(conn, project.id, module.id, position).await?;
                let updated = store::find_for(conn, module_id, actor)
                    .await?
                    .ok_or_else(|| AppError::not_found("module"))?;
                let summary = format!("Module {} of {} updated", updated.name, project.name);
                let activity = Activity::in_project_of(
                    &project,
                    actor,
                    Verb::ModuleUpdated,
                    ("module", module.id),
                    summary,
                )
                .data(json!({
                    "before": { "name": module.name, "scope": module.scope, "position": module.position },
                    "after": { "name": updated.name, "scope": updated.scope, "position": updated.position },
                }));
                write::record(conn, now, activity).await?;
                Ok((updated, project))
            }
            .boxed()
        },
    )
    .await
}

/// Deletes a module and closes the gap in the order (module:delete).
pub async fn delete_module(app: &App, caller: &Caller, module_id: Uuid) -> AppResult<()> {
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                let module = store::find_for(conn, module_id, actor)
                    .await?
                    .ok_or_else(|| AppError::not_found("module"))?;
                let project = writable_project(conn, actor, module.project_id, Action::Delete).await?;
                store::find_for(conn, module.id, actor)
                    .await?
                    .ok_or_else(|| AppError::not_found("module"))?;
                store::delete(conn, module.id).await?;
                reorder(conn, project.id, module.id, None).await?;
                let summary = format!("Module {} removed from {}", module.name, project.name);
                let activity = Activity::in_project_of(
                    &project,
                    actor,
                    Verb::ModuleDeleted,
                    ("module", module.id),
                    summary,
                );
                write::record(conn, now, activity).await?;
                Ok(())
            }
            .boxed()
        },
    )
    .await
}

/// The project's modules in order (module:view).
pub async fn list_modules(
    app: &App,
    caller: &Caller,
    project_id: Uuid,
) -> AppResult<(Vec<ModuleRow>, ProjectRow)> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        let (project, member) = project_member(conn, project_id, actor, false).await?;
        member.require(Resource::Module, Action::View)?;
        Ok((store::list(conn, project.id).await?, project))
    })
    .await
}
