//! SQL for modules. A module is reached only through the caller's membership of its
//! project's company.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{ModuleChanges, ModuleRow, NewModule};
use crate::auth::caller::Actor;
use crate::companies::store::reached_by;
use crate::db::schema::{modules, projects};

/// Creates a module.
pub async fn insert(conn: &mut AsyncPgConnection, module: &NewModule<'_>) -> QueryResult<ModuleRow> {
    diesel::insert_into(modules::table)
        .values(module)
        .returning(ModuleRow::as_returning())
        .get_result(conn)
        .await
}

/// The module, if `user_id` belongs to its project's company.
pub async fn find_for(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    actor: Actor,
) -> QueryResult<Option<ModuleRow>> {
    modules::table
        .inner_join(projects::table)
        .filter(modules::id.eq(id))
        .filter(reached_by(actor, projects::company_id))
        .select(ModuleRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Modules by id, for the loader (ids come from rows already scoped to the caller).
pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<ModuleRow>> {
    modules::table
        .filter(modules::id.eq_any(ids))
        .select(ModuleRow::as_select())
        .load(conn)
        .await
}

/// The project's modules in order.
pub async fn list(conn: &mut AsyncPgConnection, project_id: Uuid) -> QueryResult<Vec<ModuleRow>> {
    modules::table
        .filter(modules::project_id.eq(project_id))
        .order((modules::position, modules::created_at))
        .select(ModuleRow::as_select())
        .load(conn)
        .await
}

/// Applies module changes.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    changes: &ModuleChanges,
    now: DateTime<Utc>,
) -> QueryResult<ModuleRow> {
    diesel::update(modules::table.find(id))
        .set((changes, modules::updated_at.eq(now)))
        .returning(ModuleRow::as_returning())
        .get_result(conn)
        .await
}

/// Sets one module's position.
pub async fn set_position(conn: &mut AsyncPgConnection, id: Uuid, position: i32) -> QueryResult<()> {
    diesel::update(modules::table.find(id))
        .set(modules::position.eq(position))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Deletes a module.
pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::delete(modules::table.find(id))
        .execute(conn)
        .await
        .map(|_| ())
}
