//! Deleting rows, all or none, unless another row references them.

use std::collections::HashSet;

use futures_util::FutureExt;
use uuid::Uuid;

use super::MAX_ROWS_PER_CALL;
use super::access::{open_cycle, table_access};
use crate::app::App;
use crate::auth::caller::Caller;
use crate::db::tx::{self, Change, Touches};
use crate::error::{AppError, AppResult};
use crate::rbac::catalog::Action;
use crate::rows::activity::{self, RowChange};
use crate::rows::store;

/// Deletes rows (row:delete), all or none; CONFLICT while other rows reference them.
pub async fn delete_rows(app: &App, caller: &Caller, ids: Vec<Uuid>) -> AppResult<usize> {
    caller.acting()?;
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
                let rows = store::find_for(conn, &ids, actor, false).await?;
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
                let locked = store::find_for(conn, &ids, actor, true).await?;
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
                        actor,
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
