//! Recomputes stored formula values in the background after what they read changed (a
//! formula or another field of the table, an emission factor version). The change bumps
//! the table's `calc_version` and asks for a recalculation in its own transaction; a worker
//! on every instance takes the longest-waiting table no other holds (`FOR UPDATE SKIP
//! LOCKED`) and walks its rows in batches, each batch one transaction holding the table
//! against field changes and the batch's rows against writers, so a writer waits at most
//! one batch and no write is lost. Each row keeps the version it was computed at, so a read
//! during the walk can tell (`DataRow.computedWith`). Progress is an activity event every
//! [`PROGRESS_EVERY`] rows and at the end. A row that cannot compute keeps its values and
//! its older version, and is named in the last event; rows of closed cycles keep the
//! figures they were closed with.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use diesel_async::AsyncPgConnection;
use futures_util::FutureExt;
use serde_json::{Map, Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::formulas::Calculator;
use super::model::RecalculationRow;
use super::store;
use crate::app::App;
use crate::db::scope::{Crossing, Scope};
use crate::db::tx::{self, Touches, Work};
use crate::error::AppResult;
use crate::events::verb::Verb;
use crate::events::write::{self, Activity};
use crate::tables::formula;
use crate::tables::model::FieldRow;
use crate::tables::restricted::OPENS_RESTRICTED;
use crate::tables::store as table_store;

/// Rows computed per transaction.
const BATCH: i64 = 1_000;
/// Rows between two progress events.
pub const PROGRESS_EVERY: i64 = 50_000;
/// Rows that could not compute named in the last event.
const NAMED_ROWS: usize = 5;
/// How often an idle worker looks for recalculations asked for on other instances.
const POLL: Duration = Duration::from_secs(2);
/// How long a table whose batch failed is left alone.
const REST_AFTER_FAILURE: Duration = Duration::from_secs(60);

/// Asks for the table's stored rows to be recomputed because of `reason`, in the change's
/// transaction (which then touches [`Touches::CALCULATION`]); answers how many rows will be
/// walked (zero, and nothing asked, for a table without formulas). A recalculation already
/// under way starts again.
pub async fn request(
    conn: &mut AsyncPgConnection,
    (company_id, project_id, table_id): (Uuid, Uuid, Uuid),
    reason: &str,
    now: DateTime<Utc>,
) -> AppResult<i64> {
    let fields = table_store::fields_of(conn, &[table_id]).await?;
    if !fields.iter().any(|field| field.formula.is_some()) {
        return Ok(0);
    }
    let Some(calc_version) = store::bump_calc_version(conn, table_id).await? else {
        return Ok(0);
    };
    let total = store::count_rows(conn, table_id).await?;
    let recalculation = RecalculationRow {
        table_id,
        company_id,
        project_id,
        calc_version,
        reason: reason.to_owned(),
        requested_at: now,
        total,
        done: 0,
        changed: 0,
        failed: 0,
        failures: json!([]),
        after_created_at: None,
        after_id: None,
    };
    store::request(conn, &recalculation).await?;
    Ok(total)
}

/// Asks for the rows whose formulas read any of `keys` to be recomputed, of one company or
/// (None: the defaults changed) of every company; answers how many rows will be walked.
pub async fn recalculate_users(
    conn: &mut AsyncPgConnection,
    company_id: Option<Uuid>,
    keys: &[String],
    now: DateTime<Utc>,
) -> AppResult<i64> {
    let mut tables: Vec<(Uuid, Uuid, Uuid)> = table_store::formula_fields(conn, company_id)
        .await?
        .into_iter()
        .filter(|field| {
            formula::parse(&field.formula)
                .is_ok_and(|expr| keys.iter().any(|key| expr.factor_keys().contains(key)))
        })
        .map(|field| (field.company_id, field.project_id, field.table_id))
        .collect();
    tables.sort_unstable();
    tables.dedup();
    let reason = format!("factor {}", keys.join(", "));
    let mut walked = 0;
    for table in tables {
        walked += request(conn, table, &reason, now).await?;
    }
    Ok(walked)
}

/// Starts this instance's worker; it stops when `shutdown` turns true (after its batch).
pub fn spawn(app: App, mut shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        // Tables whose last batch failed, left alone for a while so others go on.
        let mut resting: HashMap<Uuid, Instant> = HashMap::new();
        loop {
            if *shutdown.borrow() {
                return;
            }
            resting.retain(|_, until| *until > Instant::now());
            let skipped: Vec<Uuid> = resting.keys().copied().collect();
            let mut claimed = None;
            match next_batch(&app, &skipped, &mut claimed).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(err) => {
                    tracing::error!(error = %err.message, table = ?claimed, "a recalculation batch failed; it is tried again later");
                    if let Some(table_id) = claimed {
                        resting.insert(table_id, Instant::now() + REST_AFTER_FAILURE);
                    }
                }
            }
            tokio::select! {
                () = app.recalculation_due.notified() => {}
                () = tokio::time::sleep(POLL) => {}
                changed = shutdown.changed() => if changed.is_err() {
                    return;
                },
            }
        }
    })
}

/// Computes the next batch of the longest-waiting recalculation (not of a `resting` table),
/// noting its table in `claimed`; false when none waits.
async fn next_batch(app: &App, resting: &[Uuid], claimed: &mut Option<Uuid>) -> AppResult<bool> {
    tx::transaction(
        app,
        Scope::Crossing(Crossing::Recalculation),
        Touches::ROWS,
        |Work { conn, now, .. }| {
            async move {
                let Some(mut job) = store::claim(conn, resting).await? else {
                    return Ok(false);
                };
                *claimed = Some(job.table_id);
                let fields = table_store::fields_of(conn, &[job.table_id]).await?;
                let batch = match Calculator::load(conn, job.company_id, &fields).await? {
                    Some(calculator) => compute_batch(conn, (&calculator, &fields), &mut job, now).await?,
                    None => 0,
                };
                let before = job.done;
                job.done += batch;
                // Readers of a table with restricted fields could learn from the counts and
                // failures what they may not see.
                let restricted = fields.iter().any(|field| field.restricted);
                if batch < BATCH {
                    store::finish(conn, job.table_id).await?;
                    write::record(conn, now, event(&job, Verb::TableRecalculated, restricted)).await?;
                } else {
                    store::advance(conn, &job).await?;
                    if before / PROGRESS_EVERY != job.done / PROGRESS_EVERY {
                        write::record(conn, now, event(&job, Verb::TableRecalculating, restricted)).await?;
                    }
                }
                Ok(true)
            }
            .boxed()
        },
    )
    .await
}

/// Computes and stores the rows after the job's place; answers how many it read.
async fn compute_batch(
    conn: &mut AsyncPgConnection,
    (calculator, fields): (&Calculator, &[FieldRow]),
    job: &mut RecalculationRow,
    now: DateTime<Utc>,
) -> AppResult<i64> {
    let after = job.after_created_at.zip(job.after_id);
    let rows = store::locked_batch(conn, job.table_id, after, BATCH).await?;
    let restricted: Vec<&str> = fields
        .iter()
        .filter(|field| field.restricted)
        .map(|field| field.key.as_str())
        .collect();
    let Some(last) = rows.last() else {
        return Ok(0);
    };
    (job.after_created_at, job.after_id) = (Some(last.created_at), Some(last.id));
    let read = i64::try_from(rows.len()).unwrap_or(i64::MAX);
    let mut computed = Vec::with_capacity(rows.len());
    for row in rows {
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
            job.failed += 1;
            if let Value::Array(failures) = &mut job.failures
                && failures.len() < NAMED_ROWS
            {
                // Why a restricted formula cannot compute is for those who see its inputs.
                let message = if restricted.contains(&error.key.as_str()) {
                    "could not be computed".to_owned()
                } else {
                    error.message
                };
                failures.push(json!({ "rowId": row.id, "field": error.key, "message": message }));
            }
            continue;
        }
        let changed: Map<String, Value> = cells
            .into_iter()
            .filter(|(key, value)| before.get(key) != Some(value))
            .collect();
        if !changed.is_empty() {
            job.changed += 1;
        }
        computed.push((row.id, Value::Object(changed)));
    }
    store::store_computed(conn, &computed, job.calc_version, now).await?;
    Ok(read)
}

/// The event saying how far a recalculation has come (`TableRecalculating`) or that it is
/// done (`TableRecalculated`, naming the first rows that could not compute).
fn event(job: &RecalculationRow, verb: Verb, restricted: bool) -> Activity {
    let summary = if verb == Verb::TableRecalculating {
        format!(
            "Recalculating formulas ({}): {} of {} rows",
            job.reason, job.done, job.total
        )
    } else if job.failed > 0 {
        format!(
            "Formulas recalculated ({}): {} rows, {} changed, {} could not be computed and keep their values",
            job.reason, job.done, job.changed, job.failed
        )
    } else {
        format!(
            "Formulas recalculated ({}): {} rows, {} changed",
            job.reason, job.done, job.changed
        )
    };
    let activity = Activity::new(job.company_id, None, verb, ("data_table", job.table_id), summary)
        .in_project(job.project_id)
        .data(json!({
            "tableId": job.table_id, "reason": job.reason, "calcVersion": job.calc_version,
            "done": job.done, "total": job.total, "changed": job.changed, "failed": job.failed,
            "failures": job.failures,
        }));
    if restricted {
        let (resource, action) = OPENS_RESTRICTED;
        activity.visible_with(resource, action)
    } else {
        activity
    }
}

/// The recalculation under way for a table its caller already may read, if one is.
pub async fn under_way(app: &App, scope: Scope, table_id: Uuid) -> AppResult<Option<RecalculationRow>> {
    tx::read(
        app,
        scope,
        async |conn| Ok(store::of_table(conn, table_id).await?),
    )
    .await
}
