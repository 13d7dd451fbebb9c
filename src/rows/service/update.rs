//! Updating one row: the given keys only, checked like an insert, against the version the
//! client last read.

use futures_util::FutureExt;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::access::{open_cycle, strip, table_access};
use super::insert::value_errors;
use crate::app::App;
use crate::auth::caller::Caller;
use crate::db::tx::{self, Change, Touches};
use crate::error::{AppError, AppResult, FieldError};
use crate::projects::model::ProjectRow;
use crate::rbac::catalog::Action;
use crate::rows::activity::{self, RowChange};
use crate::rows::model::RowRecord;
use crate::rows::store;
use crate::tables::model::TableRow;

pub(super) fn cells_of(row: &RowRecord) -> AppResult<Map<String, Value>> {
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
        let row = store::find_for(conn, &[row_id], actor, false)
            .await?
            .pop()
            .ok_or_else(not_found)?;
        let mut access = table_access(conn, actor, row.table_id, Action::Edit).await?;
        let row = store::find_for(conn, &[row_id], actor, true)
            .await?
            .pop()
            .ok_or_else(not_found)?;
        let cycle = open_cycle(conn, row.cycle_id, access.project.id).await?;
        // As recalculation does: a row without date or cycle keeps the day it was written.
        access.take_factors_for(cycle.as_ref(), row.created_at);
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
        let version = store::update_cells(conn, row.id, &cells, access.table.calc_version, now).await?;
        activity::record(
            conn,
            now,
            actor,
            (&access.table, &access.project),
            RowChange::Updated,
            &[row.id],
        )
        .await?;
        let record = RowRecord {
            cells: cells.to_string(),
            version,
            updated_at: now,
            calc_version: access.table.calc_version,
            ..row
        };
        Ok((strip(record, &access.hidden_keys()), access.table, access.project))
    }.boxed()
        },
    )
    .await
}

/// Turns `values.0.key` paths (from the row checker) into `values.key`.
pub(super) fn unindex(mut err: AppError) -> AppError {
    for field in &mut err.fields {
        field.path = field.path.replacen("values.0", "values", 1);
    }
    if let [one] = err.fields.as_slice() {
        err.message = format!("{}: {}", one.path, one.message);
    }
    err
}
