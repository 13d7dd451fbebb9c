//! Table rules: permission-gated (table:create/edit/delete, fields need table:manage),
//! never in an archived project, field keys unique per table, references only to tables
//! of the same company, and every field change recorded with a new schema version.

use std::collections::{BTreeSet, HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use serde_json::json;
use uuid::Uuid;

use super::fields::{self, FieldDraft, FieldSpec};
use super::formula::{self, FieldOutline};
use super::model::{FieldRow, FieldType, NewTable, SchemaChangeRow, TableRow};
use super::restricted::OPENS_RESTRICTED;
use super::store;
use crate::app::App;
use crate::auth::caller::{Actor, Caller};
use crate::companies::access::Member;
use crate::db::tx::{self, Change, Touches};
use crate::error::{AppError, AppResult, FieldError, InputCheck};
use crate::events::verb::Verb;
use crate::events::write::{self, Activity};
use crate::factors::service::{FactorBook, units_match};
use crate::input;
use crate::modules::store as module_store;
use crate::pagination::{Page, PageRequest};
use crate::projects::access::project_member;
use crate::projects::model::ProjectRow;
use crate::rbac::authorizer::forbidden;
use crate::rbac::catalog::{Action, PermissionSet, Resource};
use crate::rows::recalculate;
use crate::rows::revalidate::revalidate;
use crate::rows::store as row_store;

/// Most fields a table may have.
pub const MAX_FIELDS: usize = 200;

/// A table to create, as submitted.
pub struct NewTableInput {
    pub project_id: Uuid,
    pub module_id: Option<Uuid>,
    pub name: String,
    pub description: Option<String>,
    pub fields: Vec<FieldDraft>,
}

async fn writable_project(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    project_id: Uuid,
    action: Action,
) -> AppResult<(ProjectRow, Member)> {
    let (project, member) = project_member(conn, project_id, actor, true).await?;
    member.require(Resource::Table, action)?;
    if project.archived_at.is_some() {
        return Err(AppError::conflict(
            "the project is archived; restore it to change it",
        ));
    }
    Ok((project, member))
}

/// NOT_FOUND unless a REFERENCE points at a table of the same company the caller can see.
async fn check_reference(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    spec: &FieldSpec,
    company_id: Uuid,
) -> AppResult<()> {
    let Some(target) = spec.reference_table_id else {
        return Ok(());
    };
    let not_found = || AppError::not_found("referenced table");
    // Locked so it cannot be deleted while the reference is made.
    let table = store::find_for(conn, target, actor, true)
        .await?
        .ok_or_else(not_found)?;
    if store::home_of(conn, target).await?.map(|(_, company)| company) != Some(company_id) {
        return Err(not_found());
    }
    let (_, member) = project_member(conn, table.project_id, actor, false).await?;
    if !member.can(Resource::Table, Action::View) {
        return Err(not_found());
    }
    Ok(())
}

/// Creates a table with its first fields (table:create).
pub async fn create_table(
    app: &App,
    caller: &Caller,
    new: NewTableInput,
) -> AppResult<(TableRow, ProjectRow)> {
    caller.acting()?;
    let mut check = InputCheck::default();
    let name = check.take(input::text(&new.name, "name", 1, 100));
    let description = check.take(input::optional_text(new.description, "description", 2_000));
    if new.fields.len() > MAX_FIELDS {
        return Err(AppError::invalid(
            "fields",
            format!("a table has at most {MAX_FIELDS} fields"),
        ));
    }
    let keys: Vec<String> = new.fields.iter().map(|f| f.key.trim().to_owned()).collect();
    let mut specs = Vec::new();
    for (index, draft) in new.fields.into_iter().enumerate() {
        if let Some(spec) = check.take(fields::check(draft, &format!("fields.{index}"))) {
            specs.push((index, spec));
        }
    }
    let mut duplicates = Vec::new();
    for (index, key) in keys.iter().enumerate() {
        if let Some(first) = keys[..index].iter().position(|k| k == key) {
            duplicates.push(FieldError {
                path: format!("fields.{index}.key"),
                message: format!("duplicates fields.{first}.key"),
            });
        }
    }
    if !duplicates.is_empty() {
        check.take::<()>(Err(AppError::invalid_fields(duplicates)));
    } else {
        let all: Vec<&FieldSpec> = specs.iter().map(|(_, spec)| spec).collect();
        check.take(check_formulas(&all, |key| {
            let (index, _) = specs.iter().find(|(_, spec)| spec.key == key)?;
            Some(format!("fields.{index}.formula"))
        }));
    }
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                let (project, _) = writable_project(conn, actor, new.project_id, Action::Create).await?;
                if let Some(module_id) = new.module_id {
                    let module = module_store::find_for(conn, module_id, actor).await?;
                    if module.is_none_or(|m| m.project_id != project.id) {
                        return Err(AppError::not_found("module"));
                    }
                }
                check.finish()?;
                let (Some(name), Some(description)) = (name, description) else {
                    return Err(AppError::internal(anyhow::anyhow!(
                        "input check passed without values"
                    )));
                };
                let all: Vec<&FieldSpec> = specs.iter().map(|(_, spec)| spec).collect();
                check_factors(conn, project.company_id, &all, |key| {
                    let (index, _) = specs.iter().find(|(_, spec)| spec.key == key)?;
                    Some(format!("fields.{index}.formula"))
                })
                .await?;
                for (_, spec) in &specs {
                    check_reference(conn, actor, spec, project.company_id).await?;
                }
                let table = store::insert_table(
                    conn,
                    &NewTable {
                        id: Uuid::new_v4(),
                        project_id: project.id,
                        company_id: project.company_id,
                        module_id: new.module_id,
                        name: &name,
                        description: description.as_deref(),
                        created_at: now,
                        updated_at: now,
                    },
                )
                .await?;
                let rows: Vec<FieldRow> = specs
                    .iter()
                    .enumerate()
                    .map(|(position, (_, spec))| {
                        spec.to_row(
                            Uuid::new_v4(),
                            table.id,
                            i32::try_from(position).unwrap_or(i32::MAX),
                            now,
                        )
                    })
                    .collect();
                if !rows.is_empty() {
                    store::insert_fields(conn, &rows).await?;
                }
                let summary = format!(
                    "Table {} created in {} with {} field(s)",
                    table.name,
                    project.name,
                    rows.len()
                );
                let activity = Activity::in_project_of(
                    &project,
                    actor,
                    Verb::TableCreated,
                    ("data_table", table.id),
                    summary,
                )
                .data(json!({ "name": table.name, "fields": rows.len() }));
                write::record(conn, now, activity).await?;
                Ok((table, project))
            }
            .boxed()
        },
    )
    .await
}

/// BAD_USER_INPUT unless the table's formulas, with these fields, all compute: each parses,
/// reads fields the table has and can read, mixes no kinds and does not depend on itself;
/// and a formula reading a restricted field (directly or through another formula) is
/// restricted too, so its value cannot reveal what a reader may not see. `path_of` names
/// the input a failing field's formula came from (None: a field the change left alone,
/// named in the message).
fn check_formulas(fields: &[&FieldSpec], path_of: impl Fn(&str) -> Option<String>) -> AppResult<()> {
    let outline: Vec<FieldOutline<'_>> = fields
        .iter()
        .map(|f| FieldOutline {
            key: &f.key,
            field_type: f.field_type,
            formula: f.formula.as_deref(),
        })
        .collect();
    let refuse = |key: &str, message: String| match path_of(key) {
        Some(path) => AppError::invalid(path, message),
        None => AppError::invalid("field", format!("the formula of {key} would break: {message}")),
    };
    let plan = formula::plan(&outline).map_err(|(key, error)| refuse(&key, error.to_string()))?;
    let restricted: HashSet<&str> = fields
        .iter()
        .filter(|f| f.restricted)
        .map(|f| f.key.as_str())
        .collect();
    // A formula naming a factor reads the table's first date too: it picks the version.
    let day_field = fields
        .iter()
        .find(|f| f.field_type == FieldType::Date)
        .filter(|f| f.restricted)
        .map(|f| f.key.clone());
    let mut reveals: HashMap<&str, BTreeSet<String>> = HashMap::new();
    for (key, expr, _) in &plan {
        let mut read: BTreeSet<String> = BTreeSet::new();
        if !expr.factor_keys().is_empty() {
            read.extend(day_field.clone());
        }
        for used in expr.fields() {
            if restricted.contains(used.as_str()) {
                read.insert(used.clone());
            }
            read.extend(reveals.get(used.as_str()).into_iter().flatten().cloned());
        }
        if !read.is_empty() && !restricted.contains(key.as_str()) {
            let names: Vec<String> = read.into_iter().collect();
            return Err(refuse(
                key,
                format!(
                    "reads the restricted field(s) {}: make this formula field restricted too, so it cannot reveal them",
                    names.join(", ")
                ),
            ));
        }
        reveals.insert(key, read);
    }
    Ok(())
}

/// BAD_USER_INPUT unless every factor the table's formulas name exists for the company,
/// and every product of a field and a factor multiplies a field measured in the unit the
/// factor is per (when the field declares its unit): litres times a per-kWh factor is
/// refused. `path_of` as for [`check_formulas`].
async fn check_factors(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    fields: &[&FieldSpec],
    path_of: impl Fn(&str) -> Option<String>,
) -> AppResult<()> {
    let parsed: Vec<(&FieldSpec, formula::Expr)> = fields
        .iter()
        .filter_map(|f| Some((*f, formula::parse(f.formula.as_deref()?).ok()?)))
        .collect();
    let keys: BTreeSet<String> = parsed.iter().flat_map(|(_, expr)| expr.factor_keys()).collect();
    let book = FactorBook::load(conn, company_id, &keys.into_iter().collect::<Vec<_>>()).await?;
    let refuse = |key: &str, message: String| match path_of(key) {
        Some(path) => AppError::invalid(path, message),
        None => AppError::invalid("field", format!("the formula of {key} would break: {message}")),
    };
    for (field, expr) in &parsed {
        for factor in expr.factor_keys() {
            if book.units_of(&factor).is_empty() {
                return Err(refuse(
                    &field.key,
                    format!("the company has no emission factor {factor} (its own or a default)"),
                ));
            }
        }
        for (position, input, factor) in expr.field_factor_products() {
            let Some(unit) = fields
                .iter()
                .find(|f| f.key == input)
                .and_then(|f| f.unit.as_deref())
            else {
                continue;
            };
            let per = book.units_of(&factor);
            if !per.iter().any(|per| units_match(unit, per)) {
                return Err(refuse(
                    &field.key,
                    format!(
                        "at character {position}: {input} is in {unit}, but factor(\"{factor}\") is per {}",
                        per.join(" or ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

/// The table and its project, for a caller who may do `action` to tables there.
async fn table_for(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    table_id: Uuid,
    action: Action,
) -> AppResult<(TableRow, ProjectRow)> {
    let table = store::find_for(conn, table_id, actor, false)
        .await?
        .ok_or_else(|| AppError::not_found("table"))?;
    let (project, _) = if action == Action::View {
        let (project, member) = project_member(conn, table.project_id, actor, false).await?;
        member.require(Resource::Table, Action::View)?;
        (project, member)
    } else {
        writable_project(conn, actor, table.project_id, action).await?
    };
    let table = store::find_for(conn, table_id, actor, action != Action::View)
        .await?
        .ok_or_else(|| AppError::not_found("table"))?;
    Ok((table, project))
}

/// A table the caller may see (table:view).
pub async fn get_table(app: &App, caller: &Caller, table_id: Uuid) -> AppResult<(TableRow, ProjectRow)> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        table_for(conn, actor, table_id, Action::View).await
    })
    .await
}

/// A page of the project's tables (table:view).
pub async fn list_tables(
    app: &App,
    caller: &Caller,
    project_id: Uuid,
    page: PageRequest,
) -> AppResult<(Page<TableRow>, ProjectRow)> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        let (project, member) = project_member(conn, project_id, actor, false).await?;
        member.require(Resource::Table, Action::View)?;
        let (rows, total) = store::list(conn, project.id, page).await?;
        Ok((Page::from_rows(rows, page, total), project))
    })
    .await
}

/// The first page of a project's tables from a batch loaded with other projects';
/// `permissions` is the caller's standing in the project (None: not a member of its company).
pub fn first_page(
    permissions: Option<PermissionSet>,
    tables: Vec<TableRow>,
    total: i64,
    page: PageRequest,
) -> AppResult<Page<TableRow>> {
    let permissions = permissions.ok_or_else(|| AppError::not_found("project"))?;
    if !permissions.allows(Resource::Table, Action::View) {
        return Err(forbidden(Resource::Table, Action::View));
    }
    Ok(Page::from_rows(tables, page, total))
}

/// Renames or re-describes a table (table:edit).
pub async fn update_table(
    app: &App,
    caller: &Caller,
    table_id: Uuid,
    name: Option<String>,
    description: Option<Option<String>>,
) -> AppResult<(TableRow, ProjectRow)> {
    caller.acting()?;
    let mut check = InputCheck::default();
    let name = name.and_then(|n| check.take(input::text(&n, "name", 1, 100)));
    let description = description.map(|d| {
        check
            .take(input::optional_text(d, "description", 2_000))
            .flatten()
    });
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                let (table, project) = table_for(conn, actor, table_id, Action::Edit).await?;
                check.finish()?;
                let updated = store::update_table(
                    conn,
                    table.id,
                    name.as_deref(),
                    description.as_ref().map(|d| d.as_deref()),
                    now,
                )
                .await?;
                let (summary, data) = write::name_change(
                    "Table",
                    (&table.name, table.description.as_deref()),
                    (&updated.name, updated.description.as_deref()),
                );
                let activity = Activity::in_project_of(
                    &project,
                    actor,
                    Verb::TableUpdated,
                    ("data_table", table.id),
                    summary,
                )
                .data(data);
                write::record(conn, now, activity).await?;
                Ok((updated, project))
            }
            .boxed()
        },
    )
    .await
}

/// Deletes a table and its fields (table:delete); CONFLICT while other tables reference it.
pub async fn delete_table(app: &App, caller: &Caller, table_id: Uuid) -> AppResult<()> {
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                let (table, project) = table_for(conn, actor, table_id, Action::Delete).await?;
                let referencing = store::referencing_tables(conn, table.id).await?;
                if referencing > 0 {
                    return Err(AppError::conflict(format!(
                        "{referencing} other table(s) reference this table; remove those fields first"
                    )));
                }
                store::delete_table(conn, table.id).await?;
                let summary = format!("Table {} deleted from {}", table.name, project.name);
                let activity = Activity::in_project_of(
                    &project,
                    actor,
                    Verb::TableDeleted,
                    ("data_table", table.id),
                    summary,
                );
                write::record(conn, now, activity).await
            }
            .boxed()
        },
    )
    .await?;
    crate::rows::indexes::spawn_reconcile(app, table_id);
    Ok(())
}

/// Why a field change recomputes the table's formulas, as every reader of the table may
/// see it: a restricted field is not named.
fn field_reason(field: &FieldSpec, done: &str) -> String {
    if field.restricted {
        format!("a restricted field {done}")
    } else {
        format!("field {} {done}", field.key)
    }
}

/// A field change to record: what happened to which field, and the field before and after.
struct FieldChange<'a> {
    change: &'static str,
    key: &'a str,
    before: Option<&'a FieldSpec>,
    after: Option<&'a FieldSpec>,
    /// Rows whose stored cells the change rewrote (live grids refetch them).
    rows_rewritten: usize,
    /// Rows whose formula values are recomputed in the background after it.
    rows_to_recalculate: i64,
}

/// Bumps the table's schema version and records the change under it, and as an activity
/// event (readable with table:manage when the field is restricted).
async fn record_change(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    (table, project): (&TableRow, &ProjectRow),
    field_change: FieldChange<'_>,
    now: DateTime<Utc>,
) -> AppResult<()> {
    let table_id = table.id;
    let FieldChange {
        change,
        key,
        before,
        after,
        rows_rewritten,
        rows_to_recalculate,
    } = field_change;
    let version = store::bump_version(conn, table_id, now).await?;
    store::insert_change(
        conn,
        &SchemaChangeRow {
            id: Uuid::new_v4(),
            table_id,
            actor_id: actor.user_id(),
            change: change.to_owned(),
            field_key: key.to_owned(),
            before: before.map(FieldSpec::snapshot),
            after: after.map(FieldSpec::snapshot),
            schema_version: version,
            created_at: now,
        },
    )
    .await?;
    let (verb, done) = match change {
        "field_added" => (Verb::TableFieldAdded, "added to"),
        "field_removed" => (Verb::TableFieldRemoved, "removed from"),
        _ => (Verb::TableFieldUpdated, "changed in"),
    };
    let restricted = before.is_some_and(|f| f.restricted) || after.is_some_and(|f| f.restricted);
    let mut activity = Activity::in_project_of(
        project,
        actor,
        verb,
        ("data_table", table_id),
        format!("Field {key} {done} {}", table.name),
    )
    .data(json!({
        "tableId": table_id,
        "table": table.name,
        "key": key,
        "schemaVersion": version,
        "before": before.map(FieldSpec::snapshot),
        "after": after.map(FieldSpec::snapshot),
        "rowsRewritten": rows_rewritten,
        "rowsToRecalculate": rows_to_recalculate,
    }));
    if restricted {
        let (resource, action) = OPENS_RESTRICTED;
        activity = activity.visible_with(resource, action);
    }
    write::record(conn, now, activity).await?;
    Ok(())
}

/// Adds a field at the end (table:manage).
pub async fn add_field(app: &App, caller: &Caller, table_id: Uuid, draft: FieldDraft) -> AppResult<FieldRow> {
    caller.acting()?;
    let checked = fields::check(draft, "field");
    let row = tx::write(
        app,
        caller,
        Touches::CALCULATION,
        |Change { conn, actor, now, .. }| {
            async move {
                let (table, project) = table_for(conn, actor, table_id, Action::Manage).await?;
                let spec = checked?;
                check_reference(conn, actor, &spec, project.company_id).await?;
                let existing = store::fields_of(conn, &[table.id]).await?;
                if existing.len() >= MAX_FIELDS {
                    return Err(AppError::invalid(
                        "field",
                        format!("a table has at most {MAX_FIELDS} fields"),
                    ));
                }
                if existing.iter().any(|f| f.key == spec.key) {
                    return Err(AppError::conflict(format!(
                        "the table already has a field {}",
                        spec.key
                    )));
                }
                let others: Vec<FieldSpec> = existing.iter().map(FieldSpec::of_row).collect();
                let all: Vec<&FieldSpec> = others.iter().chain([&spec]).collect();
                check_formulas(&all, |key| (key == spec.key).then(|| "field.formula".to_owned()))?;
                check_factors(conn, project.company_id, &all, |key| {
                    (key == spec.key).then(|| "field.formula".to_owned())
                })
                .await?;
                let position = i32::try_from(existing.len()).unwrap_or(i32::MAX);
                let row = spec.to_row(Uuid::new_v4(), table.id, position, now);
                store::insert_fields(conn, std::slice::from_ref(&row)).await?;
                let rows_rewritten = revalidate(conn, table.id, row.id, None, &spec).await?;
                let place = (project.company_id, project.id, table.id);
                let rows_to_recalculate =
                    recalculate::request(conn, place, &field_reason(&spec, "added"), now).await?;
                let change = FieldChange {
                    change: "field_added",
                    key: &spec.key,
                    before: None,
                    after: Some(&spec),
                    rows_rewritten,
                    rows_to_recalculate,
                };
                record_change(conn, actor, (&table, &project), change, now).await?;
                Ok(row)
            }
            .boxed()
        },
    )
    .await?;
    crate::rows::indexes::spawn_reconcile(app, row.table_id);
    Ok(row)
}

/// A field the caller may change (table:manage on its table), read again once its project is
/// locked, so a concurrent removal that won shows as NOT_FOUND.
async fn managed_field(
    conn: &mut AsyncPgConnection,
    actor: Actor,
    field_id: Uuid,
) -> AppResult<(FieldRow, TableRow, ProjectRow)> {
    let not_found = || AppError::not_found("field");
    let field = store::find_field_for(conn, field_id, actor)
        .await?
        .ok_or_else(not_found)?;
    let (table, project) = table_for(conn, actor, field.table_id, Action::Manage).await?;
    let field = store::find_field_for(conn, field.id, actor)
        .await?
        .ok_or_else(not_found)?;
    Ok((field, table, project))
}

/// Replaces a field's definition (table:manage).
pub async fn update_field(
    app: &App,
    caller: &Caller,
    field_id: Uuid,
    draft: FieldDraft,
) -> AppResult<FieldRow> {
    caller.acting()?;
    let checked = fields::check(draft, "field");
    let row = tx::write(
        app,
        caller,
        Touches::CALCULATION,
        |Change { conn, actor, now, .. }| {
            async move {
                let (field, table, project) = managed_field(conn, actor, field_id).await?;
                let spec = checked?;
                check_reference(conn, actor, &spec, project.company_id).await?;
                let siblings = store::fields_of(conn, &[table.id]).await?;
                if siblings.iter().any(|f| f.key == spec.key && f.id != field.id) {
                    return Err(AppError::conflict(format!(
                        "the table already has a field {}",
                        spec.key
                    )));
                }
                let others: Vec<FieldSpec> = siblings
                    .iter()
                    .filter(|f| f.id != field.id)
                    .map(FieldSpec::of_row)
                    .collect();
                let all: Vec<&FieldSpec> = others.iter().chain([&spec]).collect();
                check_formulas(&all, |key| (key == spec.key).then(|| "field.formula".to_owned()))?;
                check_factors(conn, project.company_id, &all, |key| {
                    (key == spec.key).then(|| "field.formula".to_owned())
                })
                .await?;
                let before = FieldSpec::of_row(&field);
                let rows_rewritten = revalidate(conn, table.id, field.id, Some(&before), &spec).await?;
                let updated = store::replace_field(
                    conn,
                    &spec.to_row(field.id, table.id, field.position, field.created_at),
                )
                .await?;
                let place = (project.company_id, project.id, table.id);
                let rows_to_recalculate =
                    recalculate::request(conn, place, &field_reason(&spec, "changed"), now).await?;
                let change = FieldChange {
                    change: "field_updated",
                    key: &spec.key,
                    before: Some(&before),
                    after: Some(&spec),
                    rows_rewritten,
                    rows_to_recalculate,
                };
                record_change(conn, actor, (&table, &project), change, now).await?;
                Ok(updated)
            }
            .boxed()
        },
    )
    .await?;
    crate::rows::indexes::spawn_reconcile(app, row.table_id);
    Ok(row)
}

/// Removes a field (table:manage).
pub async fn remove_field(app: &App, caller: &Caller, field_id: Uuid) -> AppResult<()> {
    let table_id = tx::write(
        app,
        caller,
        Touches::CALCULATION,
        |Change { conn, actor, now, .. }| {
            async move {
                let (field, table, project) = managed_field(conn, actor, field_id).await?;
                let others: Vec<FieldSpec> = store::fields_of(conn, &[table.id])
                    .await?
                    .iter()
                    .filter(|f| f.id != field.id)
                    .map(FieldSpec::of_row)
                    .collect();
                check_formulas(&others.iter().collect::<Vec<_>>(), |_| None)?;
                store::delete_field(conn, &field).await?;
                let rows_rewritten = row_store::remove_key(conn, table.id, &field.key).await?;
                let place = (project.company_id, project.id, table.id);
                let rows_to_recalculate = recalculate::request(
                    conn,
                    place,
                    &field_reason(&FieldSpec::of_row(&field), "removed"),
                    now,
                )
                .await?;
                let before = FieldSpec::of_row(&field);
                let change = FieldChange {
                    change: "field_removed",
                    key: &field.key,
                    before: Some(&before),
                    after: None,
                    rows_rewritten,
                    rows_to_recalculate,
                };
                record_change(conn, actor, (&table, &project), change, now).await?;
                Ok(table.id)
            }
            .boxed()
        },
    )
    .await?;
    crate::rows::indexes::spawn_reconcile(app, table_id);
    Ok(())
}

/// A page of the table's schema history (table:view).
pub async fn schema_changes(
    app: &App,
    caller: &Caller,
    table_id: Uuid,
    page: PageRequest,
) -> AppResult<Page<SchemaChangeRow>> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        let (table, _) = table_for(conn, actor, table_id, Action::View).await?;
        let (rows, total) = store::changes(conn, table.id, page).await?;
        Ok(Page::from_rows(rows, page, total))
    })
    .await
}
