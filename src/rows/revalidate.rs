//! A field change meets the rows already stored: each is checked against the new definition
//! (and converted, e.g. INTEGER to DECIMAL), and if any would become invalid the change is
//! refused, naming how many rows and the first few ids. A pure widening skips the walk.

use std::collections::{HashMap, HashSet};

use diesel_async::AsyncPgConnection;
use serde_json::Value;
use uuid::Uuid;

use super::store;
use super::values::{FieldRule, is_blank};
use crate::error::{AppError, AppResult};
use crate::tables::fields::FieldSpec;
use crate::tables::model::FieldType;

/// Rows read per round trip.
const BATCH: i64 = 1_000;
/// Row ids named in the refusal.
const NAMED_ROWS: usize = 5;

/// Whether every value valid under `before` is valid, unchanged, under `after`.
fn is_widening(before: &FieldSpec, after: &FieldSpec) -> bool {
    let looser_min = after.min.is_none() || before.min.zip(after.min).is_some_and(|(b, a)| a <= b);
    let looser_max = after.max.is_none() || before.max.zip(after.max).is_some_and(|(b, a)| a >= b);
    let kept_options = match (&before.options, &after.options) {
        (Some(b), Some(a)) => b.iter().all(|o| a.contains(o)),
        (None, None) => true,
        _ => false,
    };
    before.field_type == after.field_type
        && before.reference_table_id == after.reference_table_id
        && (before.required || !after.required)
        && (before.unique || !after.unique)
        && looser_min
        && looser_max
        && (after.pattern.is_none() || after.pattern == before.pattern)
        && kept_options
}

/// Checks (and converts) the table's rows for a field being added (`before` None) or
/// changed; refuses with BAD_USER_INPUT on `field` when any row would not fit. Answers how
/// many rows' stored cells it rewrote.
pub async fn revalidate(
    conn: &mut AsyncPgConnection,
    table_id: Uuid,
    field_id: Uuid,
    before: Option<&FieldSpec>,
    after: &FieldSpec,
) -> AppResult<usize> {
    if let Some(before) = before {
        if before.key != after.key && store::has_rows(conn, table_id).await? {
            return Err(AppError::invalid(
                "field.key",
                "cannot change once the table has rows (clients and imports rely on it)",
            ));
        }
        if is_widening(before, after) {
            if before.unique && !after.unique {
                store::release_all(conn, field_id).await?;
            }
            return Ok(0);
        }
    } else if !after.required {
        return Ok(0);
    }
    store::release_all(conn, field_id).await?;
    if after.field_type == FieldType::Formula {
        // Computed afresh once the field is stored (see `recalculate`).
        return Ok(0);
    }
    let rule = FieldRule::new(field_id, after.clone());
    let source_key = before.map_or(after.key.as_str(), |b| b.key.as_str());
    let mut bad_rows: Vec<Uuid> = Vec::new();
    let mut bad_count = 0usize;
    let mut rewritten = 0usize;
    let mut after_cursor = None;
    loop {
        let batch = store::cells_batch(conn, table_id, None, after_cursor, BATCH).await?;
        let Some(last) = batch.last() else {
            break;
        };
        after_cursor = Some((last.created_at, last.id));
        let mut bad: HashSet<Uuid> = HashSet::new();
        let mut rewrites: HashMap<Uuid, Value> = HashMap::new();
        let mut references = Vec::new();
        for row in &batch {
            let old = row.cells.get(source_key).cloned().unwrap_or(Value::Null);
            if is_blank(&old) {
                if after.required {
                    bad.insert(row.id);
                }
                continue;
            }
            match rule.normalise(&old) {
                Err(_) => {
                    bad.insert(row.id);
                }
                Ok(new) => {
                    if let Some(id) = new.as_str().filter(|_| after.field_type == FieldType::Reference) {
                        references.push((row.id, id.parse::<Uuid>().unwrap_or_default()));
                    }
                    if new != old {
                        rewrites.insert(row.id, new);
                    }
                }
            }
        }
        if let Some(target) = after.reference_table_id.filter(|_| !references.is_empty()) {
            let wanted: Vec<Uuid> = references.iter().map(|r| r.1).collect();
            let found: HashSet<Uuid> = store::existing_rows(conn, target, &wanted)
                .await?
                .into_iter()
                .collect();
            bad.extend(references.iter().filter(|r| !found.contains(&r.1)).map(|r| r.0));
        }
        if bad.is_empty() && bad_count == 0 {
            let updates: Vec<(Uuid, Value)> = rewrites.iter().map(|(id, v)| (*id, v.clone())).collect();
            store::set_values(conn, &after.key, &updates).await?;
            rewritten += updates.len();
            let claims: Vec<(Uuid, String, Uuid)> = batch
                .iter()
                .filter_map(|row| {
                    let value = rewrites.get(&row.id).or_else(|| row.cells.get(source_key))?;
                    Some((field_id, rule.unique_claim(value)?, row.id))
                })
                .collect();
            bad.extend(store::claim_unique(conn, &claims).await?.into_iter().map(|c| c.2));
        }
        bad_count += bad.len();
        bad_rows.extend(batch.iter().map(|r| r.id).filter(|id| bad.contains(id)));
        bad_rows.truncate(NAMED_ROWS);
    }
    if bad_count > 0 {
        let ids: Vec<String> = bad_rows.iter().map(Uuid::to_string).collect();
        return Err(AppError::invalid(
            "field",
            format!(
                "{bad_count} existing row(s) would not fit the new definition (first: {}); change or clear \
                 those values first",
                ids.join(", ")
            ),
        ));
    }
    Ok(rewritten)
}
