//! Reading rows one at a time, or a table's first page from rows loaded with other tables'.

use uuid::Uuid;

use super::access::strip;
use super::list::{RowCounter, RowPage};
use crate::app::App;
use crate::auth::caller::Caller;
use crate::db::scope::Scope;
use crate::db::tx;
use crate::error::{AppError, AppResult};
use crate::pagination::{Page, PageRequest};
use crate::rbac::authorizer::forbidden;
use crate::rbac::catalog::PermissionSet;
use crate::rbac::catalog::{Action, Resource};
use crate::rbac::standing::standing_with;
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
        let permissions = standing
            .project(home.company_id, home.project_id)
            .ok_or_else(|| standing.unreached(home.company_id, "row"))?;
        if !permissions.allows(Resource::Row, Action::View) {
            return Err(forbidden(Resource::Row, Action::View));
        }
        let hidden = if restricted::reads_restricted(permissions) {
            Vec::new()
        } else {
            store::restricted_keys(conn, row.table_id).await?
        };
        Ok(strip(row, &hidden))
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
