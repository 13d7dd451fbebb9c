//! Inserting rows: every value checked against its field, unique values claimed, all or
//! none stored, one event for the batch.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::MAX_ROWS_PER_CALL;
use super::access::{TableAccess, open_cycle, strip, table_access};
use crate::app::App;
use crate::auth::caller::{Actor, Caller};
use crate::db::tx::{self, Change, Touches};
use crate::error::{AppError, AppResult, FieldError};
use crate::projects::model::ProjectRow;
use crate::rbac::catalog::Action;
use crate::rows::activity::{self, RowChange};
use crate::rows::indexes;
use crate::rows::model::{NewRow, RowRecord};
use crate::rows::store;
use crate::rows::values::ValueError;
use crate::tables::model::{FieldType, TableRow};

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
    actor: Actor,
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
                created_by: actor.user_id(),
                created_by_api_key: actor.api_key_id(),
                created_at: now,
                updated_at: now,
                calc_version: access.table.calc_version,
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

pub(super) fn record_of(row: NewRow, version: i32) -> RowRecord {
    RowRecord {
        id: row.id,
        table_id: row.table_id,
        cycle_id: row.cycle_id,
        cells: row.cells.to_string(),
        version,
        created_by: row.created_by,
        created_at: row.created_at,
        updated_at: row.updated_at,
        created_by_api_key: row.created_by_api_key,
        calc_version: row.calc_version,
    }
}

/// Every bad value, in row order (row 2 before row 10), then field order within a row.
pub(super) fn value_errors(
    prefix: &str,
    problems: impl IntoIterator<Item = (usize, ValueError)>,
) -> AppError {
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
    caller.acting()?;
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
                let mut access = table_access(conn, actor, table_id, Action::Create).await?;
                let cycle = open_cycle(conn, cycle_id, access.project.id).await?;
                access.take_factors_for(cycle.as_ref(), now);
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
                    actor,
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
    indexes::spawn_size_check(app, table_id);
    Ok(inserted)
}
