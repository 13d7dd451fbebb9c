//! Recomputes the formula fields of a table's stored rows after what they depend on
//! changed (a formula or another field of the table, an emission factor version), in
//! batches, inside the change's transaction with the table locked against writers: a
//! change that would leave any row unable to compute is refused, naming how many and the
//! first few. Rows of closed cycles keep the figures they were closed with.

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::formulas::Calculator;
use super::store;
use crate::error::{AppError, AppResult};
use crate::tables::formula;
use crate::tables::store as table_store;

/// Rows read per round trip.
const BATCH: i64 = 1_000;
/// Row ids named in a refusal.
const NAMED_ROWS: usize = 5;

/// Recomputes every row of the table whose formula values change (a new version of each,
/// written `now`); answers how many did (zero for a table without formulas). Rows without a date or cycle take factors on the
/// day they were written. `path` names the input a refusal is about.
pub async fn recalculate(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    table_id: Uuid,
    path: &str,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    store::lock_table(conn, table_id).await?;
    let fields = table_store::fields_of(conn, &[table_id]).await?;
    let Some(calculator) = Calculator::load(conn, company_id, &fields).await? else {
        return Ok(0);
    };
    let mut rewritten = 0;
    let mut failures: Vec<(Uuid, String)> = Vec::new();
    let mut failed = 0usize;
    let mut after: Option<(DateTime<Utc>, Uuid)> = None;
    loop {
        let batch = store::cells_batch(conn, table_id, None, after, BATCH).await?;
        let Some(last) = batch.last() else {
            break;
        };
        after = Some((last.created_at, last.id));
        let mut updates = Vec::new();
        for row in batch {
            // A closed cycle's figures stay as they were reported.
            if row.cycle_closed {
                continue;
            }
            let Value::Object(before) = row.cells else {
                continue;
            };
            let mut cells = before.clone();
            let day = row.cycle_ends_on.unwrap_or_else(|| row.created_at.date_naive());
            if let Err(error) = calculator.compute(&mut cells, day) {
                failed += 1;
                if failures.len() < NAMED_ROWS {
                    failures.push((row.id, format!("{}: {}", error.key, error.message)));
                }
                continue;
            }
            let changed: Map<String, Value> = cells
                .into_iter()
                .filter(|(key, value)| before.get(key) != Some(value))
                .collect();
            if !changed.is_empty() {
                updates.push((row.id, Value::Object(changed)));
            }
        }
        if failed == 0 {
            rewritten += updates.len();
            store::merge_values(conn, &updates, now).await?;
        }
    }
    if failed > 0 {
        let named: Vec<String> = failures.iter().map(|(id, why)| format!("{id} ({why})")).collect();
        return Err(AppError::invalid(
            path,
            format!(
                "{failed} stored row(s) could not be computed with this change (first: {})",
                named.join(", ")
            ),
        ));
    }
    Ok(rewritten)
}

/// Recomputes the rows whose formulas read any of `keys`, of one company or (None: the
/// defaults changed) of every company, in the change's transaction: a version that would
/// leave a row unable to compute is refused at `path`. Answers how many rows changed.
pub async fn recalculate_users(
    conn: &mut AsyncPgConnection,
    company_id: Option<Uuid>,
    keys: &[String],
    path: &str,
    now: DateTime<Utc>,
) -> AppResult<usize> {
    let mut tables: Vec<(Uuid, Uuid)> = table_store::formula_fields(conn, company_id)
        .await?
        .into_iter()
        .filter(|(_, _, source)| {
            formula::parse(source).is_ok_and(|expr| keys.iter().any(|key| expr.factor_keys().contains(key)))
        })
        .map(|(company, table, _)| (company, table))
        .collect();
    tables.sort_unstable();
    tables.dedup();
    let mut changed = 0;
    for (company, table) in tables {
        changed += recalculate(conn, company, table, path, now).await?;
    }
    Ok(changed)
}
