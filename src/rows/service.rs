//! Row rules: row:view/create/edit/delete in the table's project; never in an archived
//! project or a closed cycle; values checked against the fields (all problems reported at
//! once); unique values claimed atomically; references only to existing rows of the
//! referenced table; optimistic concurrency on update.

use futures_util::FutureExt;
use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::activity::{self, RowChange};
use super::indexes;
use super::model::{NewRow, RowRecord};
use super::query::{self, Order, RowCursor};
use super::store::{self, RowListQuery};
use super::values::{RowRules, ValueError};
use crate::app::App;
use crate::auth::caller::{Caller, SignedInUser};
use crate::companies::access::Member;
use crate::cycles::model::CycleRow;
use crate::db::tx::{self, Change, Touches};
use crate::error::{AppError, AppResult, FieldError};
use crate::pagination::{Page, PageRequest};
use crate::projects::access::project_member;
use crate::projects::model::ProjectRow;
use crate::rbac::authorizer::forbidden;
use crate::rbac::catalog::PermissionSet;
use crate::rbac::catalog::{Action, Resource};
use crate::rbac::standing::standing_with;
use crate::tables::homes::home_of;
use crate::tables::model::{FieldRow, FieldType, TableRow};
use crate::tables::restricted;
use crate::tables::store as table_store;

/// Most rows one insertRows or deleteRows call may carry.
pub const MAX_ROWS_PER_CALL: usize = 1_000;

/// A table as one caller may read or write it.
pub struct TableAccess {
    pub table: TableRow,
    pub project: ProjectRow,
    pub member: Member,
    pub rules: RowRules,
}

impl TableAccess {
    /// Keys of restricted fields the caller may not read.
    pub fn hidden_keys(&self) -> Vec<String> {
        let fields = self
            .rules
            .fields
            .iter()
            .map(|f| (f.spec.key.as_str(), f.spec.restricted));
        restricted::hidden_keys(fields, self.member.permissions)
    }
}

/// The table, for a caller holding row:`action` in its project. Writers also lock the
/// project (against archiving) and the table (against field changes) until they commit.
pub async fn table_access(
    conn: &mut AsyncPgConnection,
    actor: &SignedInUser,
    table_id: Uuid,
    action: Action,
) -> AppResult<TableAccess> {
    let table = table_store::find_for_member(conn, table_id, actor.user_id, false)
        .await?
        .ok_or_else(|| AppError::not_found("table"))?;
    let (project, member) = project_member(conn, table.project_id, actor.user_id, false).await?;
    member.require(Resource::Row, action)?;
    if action != Action::View && action != Action::Export {
        match store::share_project(conn, project.id).await? {
            None => return Err(AppError::not_found("project")),
            Some(Some(_)) => {
                return Err(AppError::conflict(
                    "the project is archived; restore it to change it",
                ));
            }
            Some(None) => {}
        }
        if !store::share_table(conn, table.id).await? {
            return Err(AppError::not_found("table"));
        }
    }
    let fields = table_store::fields_of(conn, &[table.id]).await?;
    let rules = RowRules::new(&fields, restricted::reads_restricted(member.permissions));
    Ok(TableAccess {
        table,
        project,
        member,
        rules,
    })
}

/// The cycle rows are written into: of the table's project, and open (locked so it stays
/// open until the write commits).
pub async fn open_cycle(
    conn: &mut AsyncPgConnection,
    cycle_id: Option<Uuid>,
    project_id: Uuid,
) -> AppResult<Option<CycleRow>> {
    let Some(cycle_id) = cycle_id else {
        return Ok(None);
    };
    let cycle = store::share_cycle(conn, cycle_id, project_id)
        .await?
        .ok_or_else(|| AppError::not_found("cycle"))?;
    if cycle.closed_at.is_some() {
        return Err(AppError::conflict(format!(
            "the cycle {} is closed; reopen it to change its rows",
            cycle.name
        )));
    }
    Ok(Some(cycle))
}

/// A checked row waiting to be stored, with where it came from (its index or line).
pub struct Candidate {
    pub position: usize,
    pub cells: Map<String, Value>,
}

/// Stores the candidates that pass the database checks (references exist, unique values
/// free); returns the stored rows and the problems of the others.
pub async fn store_candidates(
    conn: &mut AsyncPgConnection,
    access: &TableAccess,
    actor: &SignedInUser,
    cycle_id: Option<Uuid>,
    candidates: Vec<Candidate>,
    now: DateTime<Utc>,
) -> AppResult<(Vec<RowRecord>, Vec<(usize, ValueError)>)> {
    let mut problems: Vec<(usize, ValueError)> = Vec::new();
    let mut rejected: HashSet<usize> = HashSet::new();
    for rule in access
        .rules
        .fields
        .iter()
        .filter(|f| f.spec.field_type == FieldType::Reference)
    {
        let key = &rule.spec.key;
        let Some(target) = rule.spec.reference_table_id else {
            continue;
        };
        let wanted: Vec<Uuid> = candidates
            .iter()
            .filter_map(|c| c.cells.get(key)?.as_str()?.parse().ok())
            .collect();
        if wanted.is_empty() {
            continue;
        }
        let found: HashSet<Uuid> = store::existing_rows(conn, target, &wanted)
            .await?
            .into_iter()
            .collect();
        for candidate in &candidates {
            let id = candidate
                .cells
                .get(key)
                .and_then(|v| v.as_str())
                .and_then(|s| s.parse().ok());
            if id.is_some_and(|id| !found.contains(&id)) {
                problems.push((
                    candidate.position,
                    ValueError {
                        key: key.clone(),
                        message: "is not a row of the referenced table".to_owned(),
                    },
                ));
                rejected.insert(candidate.position);
            }
        }
    }
    let mut position_of: HashMap<Uuid, usize> = HashMap::new();
    let rows: Vec<NewRow> = candidates
        .into_iter()
        .filter(|c| !rejected.contains(&c.position))
        .map(|c| {
            // Time-ordered, so rows stored together list in the order they were sent.
            let id = Uuid::now_v7();
            position_of.insert(id, c.position);
            NewRow {
                id,
                table_id: access.table.id,
                cycle_id,
                cells: Value::Object(c.cells),
                created_by: Some(actor.user_id),
                created_at: now,
                updated_at: now,
            }
        })
        .collect();
    let mut claims = Vec::new();
    for row in &rows {
        for rule in &access.rules.fields {
            if let Some(claim) = row.cells.get(&rule.spec.key).and_then(|v| rule.unique_claim(v)) {
                claims.push((rule.id, claim, row.id));
            }
        }
    }
    let taken = store::claim_unique(conn, &claims).await?;
    let mut clashing: HashSet<Uuid> = HashSet::new();
    for (field_id, _, row_id) in &taken {
        clashing.insert(*row_id);
        let key = access
            .rules
            .fields
            .iter()
            .find(|f| f.id == *field_id)
            .map(|f| f.spec.key.clone())
            .unwrap_or_default();
        let index = position_of.get(row_id).copied().unwrap_or_default();
        problems.push((
            index,
            ValueError {
                key,
                message: "is already used by another row (the field is unique)".to_owned(),
            },
        ));
    }
    if !clashing.is_empty() {
        store::release_rows(conn, &clashing.iter().copied().collect::<Vec<_>>()).await?;
    }
    let stored: Vec<NewRow> = rows.into_iter().filter(|r| !clashing.contains(&r.id)).collect();
    store::insert(conn, &stored).await?;
    let records = stored.into_iter().map(|row| record_of(row, 1)).collect();
    Ok((records, problems))
}

fn record_of(row: NewRow, version: i32) -> RowRecord {
    RowRecord {
        id: row.id,
        table_id: row.table_id,
        cycle_id: row.cycle_id,
        cells: row.cells.to_string(),
        version,
        created_by: row.created_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
    }
}

/// Every bad value, in row order (row 2 before row 10), then field order within a row.
fn value_errors(prefix: &str, problems: impl IntoIterator<Item = (usize, ValueError)>) -> AppError {
    let mut problems: Vec<(usize, ValueError)> = problems.into_iter().collect();
    problems.sort_by(|(a, first), (b, second)| (a, &first.key).cmp(&(b, &second.key)));
    let fields = problems
        .into_iter()
        .map(|(index, e)| FieldError {
            path: if e.key.is_empty() {
                format!("{prefix}.{index}")
            } else {
                format!("{prefix}.{index}.{}", e.key)
            },
            message: e.message,
        })
        .collect();
    AppError::invalid_fields(fields)
}

/// Inserts 1 to 1,000 rows, all or none (row:create).
pub async fn insert_rows(
    app: &App,
    caller: &Caller,
    table_id: Uuid,
    cycle_id: Option<Uuid>,
    rows: Vec<Value>,
) -> AppResult<(Vec<RowRecord>, TableRow, ProjectRow)> {
    caller.verified()?;
    if rows.is_empty() || rows.len() > MAX_ROWS_PER_CALL {
        return Err(AppError::invalid(
            "rows",
            format!("send 1 to {MAX_ROWS_PER_CALL} rows per call (importCsv takes more)"),
        ));
    }
    let inserted = tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                let access = table_access(conn, actor, table_id, Action::Create).await?;
                open_cycle(conn, cycle_id, access.project.id).await?;
                let mut problems = Vec::new();
                let mut candidates = Vec::with_capacity(rows.len());
                for (position, input) in rows.iter().enumerate() {
                    match access.rules.new_row(input) {
                        Ok(cells) => candidates.push(Candidate { position, cells }),
                        Err(errors) => problems.extend(errors.into_iter().map(|e| (position, e))),
                    }
                }
                if !problems.is_empty() {
                    return Err(value_errors("rows", problems));
                }
                let (records, problems) =
                    store_candidates(conn, &access, actor, cycle_id, candidates, now).await?;
                if !problems.is_empty() {
                    return Err(value_errors("rows", problems));
                }
                let ids: Vec<Uuid> = records.iter().map(|r| r.id).collect();
                activity::record(
                    conn,
                    now,
                    actor.user_id,
                    (&access.table, &access.project),
                    RowChange::Created,
                    &ids,
                )
                .await?;
                let hidden = access.hidden_keys();
                let records = records.into_iter().map(|r| strip(r, &hidden)).collect();
                Ok((records, access.table, access.project))
            }
            .boxed()
        },
    )
    .await?;
    indexes::spawn_reconcile(app, table_id);
    Ok(inserted)
}

/// A row the caller may read (row:view), with the restricted values they may not see
/// removed. One query finds the row; where its table lives and the caller's standing there
/// come from memory; a second query reads the restricted field keys, only for callers
/// without table:manage.
pub async fn get_row(app: &App, caller: &Caller, row_id: Uuid) -> AppResult<RowRecord> {
    let actor = caller.verified()?;
    let mut conn = app.pool.get().await?;
    let row = store::find_row(&mut conn, row_id)
        .await?
        .ok_or_else(|| AppError::not_found("row"))?;
    let home = home_of(app, &mut conn, row.table_id)
        .await?
        .ok_or_else(|| AppError::not_found("row"))?;
    let permissions = standing_with(app, &mut conn, actor.user_id)
        .await?
        .project(home.company_id, home.project_id)
        .ok_or_else(|| AppError::not_found("row"))?;
    if !permissions.allows(Resource::Row, Action::View) {
        return Err(forbidden(Resource::Row, Action::View));
    }
    let hidden = if restricted::reads_restricted(permissions) {
        Vec::new()
    } else {
        store::restricted_keys(&mut conn, row.table_id).await?
    };
    Ok(strip(row, &hidden))
}

/// The first page of a table's rows in the default order, from rows loaded in a batch with
/// other tables'; `permissions` is the caller's standing in the table's project (None: not
/// a member of its company).
pub fn first_page(
    permissions: Option<PermissionSet>,
    fields: &[FieldRow],
    rows: Vec<RowRecord>,
    page: PageRequest,
    table_id: Uuid,
) -> AppResult<RowPage> {
    let permissions = permissions.ok_or_else(|| AppError::not_found("table"))?;
    if !permissions.allows(Resource::Row, Action::View) {
        return Err(forbidden(Resource::Row, Action::View));
    }
    let hidden = restricted::hidden_keys(fields.iter().map(|f| (f.key.as_str(), f.restricted)), permissions);
    let rows = rows.into_iter().map(|row| strip(row, &hidden)).collect();
    Ok(RowPage {
        page: Page::from_rows(rows, page, 0),
        order: Order::Created,
        had_cursor: false,
        counter: RowCounter {
            table_id,
            cycle_id: None,
            conditions: Vec::new(),
        },
    })
}

/// The row without the values of `hidden` fields. Stored values that are not an object
/// cannot be sorted into readable and hidden ones, so none of them is shown.
fn strip(mut row: RowRecord, hidden: &[String]) -> RowRecord {
    if hidden.is_empty() {
        return row;
    }
    let mut cells = match serde_json::from_str::<Value>(&row.cells) {
        Ok(Value::Object(cells)) => cells,
        _ => {
            tracing::error!(row_id = %row.id, "a row's stored values are not an object; none are shown");
            Map::new()
        }
    };
    for key in hidden {
        cells.remove(key);
    }
    row.cells = Value::Object(cells).to_string();
    row
}

fn cells_of(row: &RowRecord) -> AppResult<Map<String, Value>> {
    match serde_json::from_str(&row.cells) {
        Ok(Value::Object(cells)) => Ok(cells),
        _ => Err(AppError::internal(anyhow::anyhow!(
            "row {} holds no object",
            row.id
        ))),
    }
}

/// Changes some values of a row (row:edit); CONFLICT when `expected_version` is stale.
pub async fn update_row(
    app: &App,
    caller: &Caller,
    row_id: Uuid,
    patch: Value,
    expected_version: Option<i32>,
) -> AppResult<(RowRecord, TableRow, ProjectRow)> {
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
        let not_found = || AppError::not_found("row");
        let row = store::find_for_member(conn, &[row_id], actor.user_id, false)
            .await?
            .pop()
            .ok_or_else(not_found)?;
        let access = table_access(conn, actor, row.table_id, Action::Edit).await?;
        let row = store::find_for_member(conn, &[row_id], actor.user_id, true)
            .await?
            .pop()
            .ok_or_else(not_found)?;
        open_cycle(conn, row.cycle_id, access.project.id).await?;
        if let Some(expected) = expected_version
            && expected != row.version
        {
            return Err(AppError::conflict(format!(
                "the row changed since version {expected} (it is now at version {}); reload it and try again",
                row.version
            )));
        }
        let current = cells_of(&row)?;
        let cells = access
            .rules
            .merge(&current, &patch)
            .map_err(|errors| value_errors("values", errors.into_iter().map(|e| (0, e))))
            .map_err(unindex)?;
        let changed: Map<String, Value> = cells
            .iter()
            .filter(|(key, value)| current.get(*key) != Some(*value))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut problems = Vec::new();
        for rule in access
            .rules
            .fields
            .iter()
            .filter(|f| changed.contains_key(&f.spec.key))
        {
            let key = &rule.spec.key;
            if let (Some(target), Some(id)) = (
                rule.spec.reference_table_id,
                changed
                    .get(key)
                    .and_then(|v| v.as_str())
                    .and_then(|s| s.parse::<Uuid>().ok()),
            ) && store::existing_rows(conn, target, &[id]).await?.is_empty()
            {
                problems.push(FieldError {
                    path: format!("values.{key}"),
                    message: "is not a row of the referenced table".to_owned(),
                });
            }
            if rule.spec.unique {
                store::release_field(conn, row.id, rule.id).await?;
                if let Some(claim) = changed.get(key).and_then(|v| rule.unique_claim(v))
                    && !store::claim_unique(conn, &[(rule.id, claim, row.id)])
                        .await?
                        .is_empty()
                {
                    problems.push(FieldError {
                        path: format!("values.{key}"),
                        message: "is already used by another row (the field is unique)".to_owned(),
                    });
                }
            }
        }
        if !problems.is_empty() {
            return Err(AppError::invalid_fields(problems));
        }
        let cells = Value::Object(cells);
        let version = store::update_cells(conn, row.id, &cells, now).await?;
        activity::record(
            conn,
            now,
            actor.user_id,
            (&access.table, &access.project),
            RowChange::Updated,
            &[row.id],
        )
        .await?;
        let record = RowRecord {
            cells: cells.to_string(),
            version,
            updated_at: now,
            ..row
        };
        Ok((strip(record, &access.hidden_keys()), access.table, access.project))
    }.boxed()
        },
    )
    .await
}

/// Turns `values.0.key` paths (from the row checker) into `values.key`.
fn unindex(mut err: AppError) -> AppError {
    for field in &mut err.fields {
        field.path = field.path.replacen("values.0", "values", 1);
    }
    if let [one] = err.fields.as_slice() {
        err.message = format!("{}: {}", one.path, one.message);
    }
    err
}

/// Deletes rows (row:delete), all or none; CONFLICT while other rows reference them.
pub async fn delete_rows(app: &App, caller: &Caller, ids: Vec<Uuid>) -> AppResult<usize> {
    caller.verified()?;
    let ids: Vec<Uuid> = ids.into_iter().collect::<HashSet<_>>().into_iter().collect();
    if ids.is_empty() || ids.len() > MAX_ROWS_PER_CALL {
        return Err(AppError::invalid(
            "ids",
            format!("send 1 to {MAX_ROWS_PER_CALL} ids per call"),
        ));
    }
    tx::write(
        app,
        caller,
        Touches::ROWS,
        |Change { conn, actor, now, .. }| {
            async move {
                let rows = store::find_for_member(conn, &ids, actor.user_id, false).await?;
                if rows.len() != ids.len() {
                    return Err(AppError::not_found("row"));
                }
                let tables: HashSet<Uuid> = rows.iter().map(|r| r.table_id).collect();
                let mut accesses = Vec::with_capacity(tables.len());
                for table_id in tables {
                    let access = table_access(conn, actor, table_id, Action::Delete).await?;
                    let cycles: HashSet<Option<Uuid>> = rows
                        .iter()
                        .filter(|r| r.table_id == table_id)
                        .map(|r| r.cycle_id)
                        .collect();
                    for cycle in cycles {
                        open_cycle(conn, cycle, access.project.id).await?;
                    }
                    accesses.push(access);
                }
                let locked = store::find_for_member(conn, &ids, actor.user_id, true).await?;
                if locked.len() != ids.len() {
                    return Err(AppError::not_found("row"));
                }
                for table_id in rows.iter().map(|r| r.table_id).collect::<HashSet<_>>() {
                    for (referencing_table, key) in store::references_into(conn, table_id).await? {
                        let count = store::referencing_rows(conn, referencing_table, &key, &ids).await?;
                        if count > 0 {
                            return Err(AppError::conflict(format!(
                                "{count} other row(s) reference these rows (field {key}); change those first"
                            )));
                        }
                    }
                }
                let deleted = store::delete(conn, &ids).await?;
                let now = now;
                // Stream locks in one order, so two deletes spanning the same companies cannot deadlock.
                accesses.sort_by_key(|access| (access.project.company_id, access.table.id));
                for access in &accesses {
                    let of_table: Vec<Uuid> = rows
                        .iter()
                        .filter(|r| r.table_id == access.table.id)
                        .map(|r| r.id)
                        .collect();
                    activity::record(
                        conn,
                        now,
                        actor.user_id,
                        (&access.table, &access.project),
                        RowChange::Deleted,
                        &of_table,
                    )
                    .await?;
                }
                Ok(deleted)
            }
            .boxed()
        },
    )
    .await
}

/// What a row list asks for, as the client sent it.
pub struct RowListArgs {
    pub cycle_id: Option<Uuid>,
    pub filter: Option<Value>,
    pub order_by: Option<String>,
    pub first: Option<i32>,
    pub after: Option<String>,
}

/// A page of rows with what is needed to count the whole list later.
pub struct RowPage {
    pub page: Page<RowRecord>,
    pub order: Order,
    pub had_cursor: bool,
    pub counter: RowCounter,
}

/// The list's whole size, counted only when a client asks for it.
pub struct RowCounter {
    pub table_id: Uuid,
    pub cycle_id: Option<Uuid>,
    pub conditions: Vec<query::Condition>,
}

impl RowCounter {
    /// Counts the rows of the list.
    pub async fn count(&self, app: &App) -> AppResult<i64> {
        let mut conn = app.pool.get().await?;
        let query = RowListQuery {
            table_id: self.table_id,
            cycle_id: self.cycle_id,
            conditions: &self.conditions,
            order: &Order::Created,
            strip: &[],
        };
        Ok(store::count(&mut conn, &query).await?)
    }
}

/// A page of a table's rows (row:view), filtered and ordered as asked.
pub async fn list_rows(app: &App, caller: &Caller, table_id: Uuid, args: RowListArgs) -> AppResult<RowPage> {
    let actor = caller.verified()?;
    let page = PageRequest::parse(args.first, None)?;
    let mut conn = app.pool.get().await?;
    let access = table_access(&mut conn, actor, table_id, Action::View).await?;
    let conditions = query::parse_filter(args.filter.as_ref(), &access.rules)?;
    let order = query::parse_order(args.order_by.as_deref(), &access.rules)?;
    let after = args
        .after
        .as_deref()
        .map(|a| RowCursor::decode(a, &order))
        .transpose()?;
    let hidden = access.hidden_keys();
    let list = RowListQuery {
        table_id,
        cycle_id: args.cycle_id,
        conditions: &conditions,
        order: &order,
        strip: &hidden,
    };
    let rows = store::page(&mut conn, &list, after.as_ref(), page.limit()).await?;
    Ok(RowPage {
        page: Page::from_rows(rows, page, 0),
        order,
        had_cursor: after.is_some(),
        counter: RowCounter {
            table_id,
            cycle_id: args.cycle_id,
            conditions,
        },
    })
}

/// The cursor of a row in a list ordered by `order`.
pub fn cursor_of(row: &RowRecord, order: &Order) -> RowCursor {
    match order {
        Order::Created => RowCursor::Created {
            at: row.created_at,
            id: row.id,
        },
        Order::Field { key, .. } => {
            let value = match serde_json::from_str::<Value>(&row.cells) {
                Ok(Value::Object(cells)) => query::sort_value(&cells, key),
                _ => None,
            };
            RowCursor::Field { value, id: row.id }
        }
    }
}
