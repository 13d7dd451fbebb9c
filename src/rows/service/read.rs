//! Reading rows one at a time, the rows a live change names (read once for every grid that
//! shows them), or a table's first page from rows loaded with other tables'.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use uuid::Uuid;

use super::access::strip;
use super::list::{RowCounter, RowPage};
use crate::app::App;
use crate::auth::caller::Caller;
use crate::db::scope::Scope;
use crate::db::tx;
use crate::error::{AppError, AppResult};
use crate::events::hub::{ChangedRows, ChangedTable, LiveEvent};
use crate::pagination::{Page, PageRequest};
use crate::rbac::authorizer::forbidden;
use crate::rbac::catalog::PermissionSet;
use crate::rbac::catalog::{Action, Resource};
use crate::rbac::standing::{Standing, standing_of, standing_with};
use crate::rows::model::RowRecord;
use crate::rows::query::Order;
use crate::rows::store;
use crate::tables::homes::home_of;
use crate::tables::model::FieldRow;
use crate::tables::restricted;

/// A row the caller may read (row:view), with the restricted values they may not see
/// removed. One query finds the row; where its table lives and the caller's standing there
/// come from memory; a second query reads the restricted field keys, only for callers
/// without table:manage.
pub async fn get_row(app: &App, caller: &Caller, row_id: Uuid) -> AppResult<RowRecord> {
    let actor = caller.acting()?;
    tx::read(app, actor.scope(), async |conn| {
        let row = store::find_row(conn, row_id)
            .await?
            .ok_or_else(|| AppError::not_found("row"))?;
        let home = home_of(app, conn, row.table_id)
            .await?
            .ok_or_else(|| AppError::not_found("row"))?;
        let standing = standing_with(app, conn, actor).await?;
        let permissions = row_permissions(&standing, home.company_id, home.project_id)?;
        let hidden = if restricted::reads_restricted(permissions) {
            Vec::new()
        } else {
            store::restricted_keys(conn, row.table_id).await?
        };
        Ok(strip(row, &hidden))
    })
    .await
}

/// The permissions `standing` holds over the rows of a project's tables: row:view is needed
/// to see any (FORBIDDEN), and reach of the company (NOT_FOUND, or the company's
/// two-factor requirement).
fn row_permissions(standing: &Standing, company_id: Uuid, project_id: Uuid) -> AppResult<PermissionSet> {
    let permissions = standing
        .project(company_id, project_id)
        .ok_or_else(|| standing.unreached(company_id, "row"))?;
    if !permissions.allows(Resource::Row, Action::View) {
        return Err(forbidden(Resource::Row, Action::View));
    }
    Ok(permissions)
}

/// A row a live row change names, as the caller may see it now, like [`get_row`]; None
/// when it was deleted since. The event's rows are read once, for every grid subscriber
/// on this instance (see [`ChangedRows`]); each subscriber's standing comes from memory.
pub async fn changed_row(
    app: &App,
    caller: &Caller,
    live: &LiveEvent,
    row_id: Uuid,
) -> AppResult<Option<RowRecord>> {
    let actor = caller.acting()?;
    let changed = live
        .changed_rows
        .get_or_try_init(|| read_changed_rows(app, live))
        .await?;
    let Some(row) = changed.rows.get(&row_id) else {
        return Ok(None);
    };
    let Some(table) = changed.tables.get(&row.table_id) else {
        return Ok(None);
    };
    let standing = standing_of(app, actor).await?;
    let permissions = row_permissions(&standing, table.company_id, table.project_id)?;
    let hidden: &[String] = if restricted::reads_restricted(permissions) {
        &[]
    } else {
        &table.restricted
    };
    Ok(Some(strip(row.clone(), hidden)))
}

/// The rows `live` changed that still exist, with their tables' homes and restricted
/// fields: three queries in the event's company, whoever asks first.
async fn read_changed_rows(app: &App, live: &LiveEvent) -> AppResult<Arc<ChangedRows>> {
    let ids: Vec<Uuid> = live.rows.iter().map(|change| change.row_id).collect();
    tx::read(app, Scope::Company(live.event.company_id), async |conn| {
        let rows: HashMap<Uuid, RowRecord> = store::rows_by_ids(conn, &ids)
            .await?
            .into_iter()
            .map(|row| (row.id, row))
            .collect();
        let table_ids: Vec<Uuid> = rows
            .values()
            .map(|row| row.table_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let mut restricted: HashMap<Uuid, Vec<String>> = HashMap::new();
        for (table_id, key) in store::restricted_keys_of(conn, &table_ids).await? {
            restricted.entry(table_id).or_default().push(key);
        }
        let mut tables = HashMap::new();
        for table_id in table_ids {
            if let Some(home) = home_of(app, conn, table_id).await? {
                tables.insert(
                    table_id,
                    ChangedTable {
                        project_id: home.project_id,
                        company_id: home.company_id,
                        restricted: restricted.remove(&table_id).unwrap_or_default(),
                    },
                );
            }
        }
        Ok(Arc::new(ChangedRows { rows, tables }))
    })
    .await
}

/// The first page of a table's rows in the default order, from rows loaded in a batch with
/// other tables'; `permissions` is the caller's standing in the table's project (None: not
/// a member of its company); `scope` is whose rows counting the whole list later reaches.
pub fn first_page(
    scope: Scope,
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
            scope,
            table_id,
            cycle_id: None,
            updated_since: None,
            conditions: Vec::new(),
        },
    })
}
