//! Ordered indexes for big tables. Equality filters use the GIN index on row values, but a
//! range (`gt`, `lte`…) or an order on a number or date needs a btree on that field's
//! value: once a table holds `ROW_INDEX_THRESHOLD` rows, each of its INTEGER, DECIMAL, DATE
//! and DATETIME fields gets a partial expression index covering that table only. Indexes
//! are built and dropped CONCURRENTLY by a background task after the change commits, so
//! no tenant's writes wait for them; small tables stay cheap to write. Each index comes
//! with extended statistics on its expression, which the planner needs to use it well.
//! Row writes have a table's size checked at most once every few seconds, whatever their
//! rate: each check opens a connection of its own.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use diesel::QueryableByName;
use diesel::sql_types;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use tokio::time::Instant;
use uuid::Uuid;

use crate::app::App;
use crate::db;
use crate::error::{AppError, AppResult};
use crate::tables::model::FieldType;
use crate::tables::store as table_store;

/// The SQL expression an index (and a filter on it) uses for a field, if the field gets one.
/// Filters build the very same expression, so the planner matches them.
/// Neither can fail on any stored value, so neither can break a write or ANALYZE.
pub fn indexed_expression(key: &str, field_type: FieldType) -> Option<(char, String)> {
    match field_type {
        FieldType::Integer | FieldType::Decimal => Some(('n', format!("(data_numeric(cells ->> '{key}'))"))),
        FieldType::Date | FieldType::Datetime => Some(('t', format!("((cells ->> '{key}'))"))),
        _ => None,
    }
}

/// Named after the field and the kind of expression, so a type change replaces the index.
fn index_name(field_id: Uuid, kind: char) -> String {
    format!("data_rows_f_{}_{kind}", field_id.simple())
}

#[derive(QueryableByName)]
struct IndexName {
    #[diesel(sql_type = sql_types::Text)]
    indexname: String,
    #[diesel(sql_type = sql_types::Bool)]
    valid: bool,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = sql_types::BigInt)]
    count: i64,
}

/// The usable field indexes of a table; invalid ones (an interrupted build) are dropped.
async fn existing(conn: &mut AsyncPgConnection, table_id: Uuid) -> AppResult<HashSet<String>> {
    let rows: Vec<IndexName> = diesel::sql_query(
        "SELECT c.relname AS indexname, i.indisvalid AS valid FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'data_rows'::regclass \
         AND c.relname LIKE 'data_rows_f\\_%' AND pg_get_expr(i.indpred, i.indrelid) LIKE '%' || $1 || '%'",
    )
    .bind::<sql_types::Text, _>(table_id.to_string())
    .load(conn)
    .await?;
    let mut usable = HashSet::new();
    for index in rows {
        if index.valid {
            usable.insert(index.indexname);
        } else {
            drop_index(conn, &index.indexname).await?;
        }
    }
    Ok(usable)
}

async fn drop_index(conn: &mut AsyncPgConnection, name: &str) -> AppResult<()> {
    diesel::sql_query(format!("DROP INDEX CONCURRENTLY IF EXISTS {name}"))
        .execute(conn)
        .await?;
    diesel::sql_query(format!("DROP STATISTICS IF EXISTS {}", statistics_name(name)))
        .execute(conn)
        .await?;
    Ok(())
}

/// The planner ignores the statistics of partial indexes, so each indexed expression also
/// gets extended statistics; without them a rare range looks common and the index unused.
fn statistics_name(index: &str) -> String {
    index.replacen("data_rows_f_", "data_rows_s_", 1)
}

/// Whether the table holds at least `threshold` rows (counted no further).
async fn is_big(conn: &mut AsyncPgConnection, table_id: Uuid, threshold: i64) -> AppResult<bool> {
    let counted: Count = diesel::sql_query(
        "SELECT count(*) AS count FROM (SELECT 1 FROM data_rows WHERE table_id = $1 LIMIT $2) big",
    )
    .bind::<sql_types::Uuid, _>(table_id)
    .bind::<sql_types::BigInt, _>(threshold)
    .get_result(conn)
    .await?;
    Ok(counted.count >= threshold)
}

/// How long after a row write checked a table's size the next row write waits before
/// checking it again: a stream of small writes costs one check (and one owner connection,
/// a new PostgreSQL process) per pause, not one per write.
const SIZE_CHECK_PAUSE: Duration = Duration::from_secs(10);

/// Where the field index builds stand on this instance: one runs at a time, a table waits
/// at most once for its turn, and row writes check a table's size at most once a pause.
#[derive(Default)]
pub struct IndexBuilds {
    one_at_a_time: tokio::sync::Mutex<()>,
    queue: std::sync::Mutex<Queue>,
    /// Reconciles started on this instance.
    started: AtomicU64,
}

#[derive(Default)]
struct Queue {
    /// Tables waiting for a reconcile, with when it starts.
    pending: HashMap<Uuid, Instant>,
    /// When row writes last had each table's size checked (kept for one pause).
    size_checked: HashMap<Uuid, Instant>,
}

impl IndexBuilds {
    /// Whether no build runs and none is due (tests wait for this); a size check waiting
    /// out its pause is not due yet.
    pub fn idle(&self) -> bool {
        let now = Instant::now();
        self.queue
            .lock()
            .is_ok_and(|queue| queue.pending.values().all(|start| *start > now))
            && self.one_at_a_time.try_lock().is_ok()
    }

    /// Whether the reconcile queued for the table to start at `start` is still waiting.
    fn still_queued(&self, table_id: Uuid, start: Instant) -> bool {
        self.queue
            .lock()
            .is_ok_and(|queue| queue.pending.get(&table_id) == Some(&start))
    }

    /// How many reconciles this instance has started (what a burst of writes cost).
    pub fn started(&self) -> u64 {
        AtomicU64::load(&self.started, Ordering::Relaxed)
    }
}

/// Brings the table's field indexes in line with its fields and size: built from
/// `threshold` rows, kept down to half of it (so a table near the line does not build and
/// drop them over and over). Indexes of tables that no longer exist go too. Building
/// indexes is the tables' owner's right, so this runs on a connection of its own as the
/// owner (DATABASE_URL), which row-level security does not hold.
async fn reconcile(app: &App, table_id: Uuid) -> AppResult<()> {
    let _one_at_a_time = app.index_builds.one_at_a_time.lock().await;
    // From here on, a new change to the table needs a new reconcile.
    if let Ok(mut queue) = app.index_builds.queue.lock() {
        queue.pending.remove(&table_id);
    }
    app.index_builds.started.fetch_add(1, Ordering::Relaxed);
    let mut conn = db::owner_connection(&app.config.database_url)
        .await
        .map_err(AppError::internal)?;
    let threshold = i64::try_from(app.config.row_index_threshold).unwrap_or(i64::MAX);
    let fields = table_store::fields_of(&mut conn, &[table_id]).await?;
    let existing = existing(&mut conn, table_id).await?;
    let needed = if existing.is_empty() {
        threshold
    } else {
        threshold / 2
    };
    let wanted: Vec<(String, String)> = if fields.is_empty() || !is_big(&mut conn, table_id, needed).await? {
        Vec::new()
    } else {
        fields
            .iter()
            .filter_map(|field| {
                let field_type = FieldType::parse(&field.field_type)?;
                let (kind, expression) = indexed_expression(&field.key, field_type)?;
                Some((index_name(field.id, kind), expression))
            })
            .collect()
    };
    for name in existing
        .iter()
        .filter(|name| !wanted.iter().any(|w| &w.0 == *name))
    {
        drop_index(&mut conn, name).await?;
    }
    let missing: Vec<&(String, String)> = wanted.iter().filter(|w| !existing.contains(&w.0)).collect();
    for (name, expression) in &missing {
        // Names and keys are generated or checked snake_case; the table id is a UUID.
        diesel::sql_query(format!(
            "CREATE INDEX CONCURRENTLY IF NOT EXISTS {name} ON data_rows ({expression}, id) \
             WHERE table_id = '{table_id}'"
        ))
        .execute(&mut conn)
        .await?;
        diesel::sql_query(format!(
            "CREATE STATISTICS IF NOT EXISTS {} ON {expression} FROM data_rows",
            statistics_name(name)
        ))
        .execute(&mut conn)
        .await?;
    }
    if !missing.is_empty() {
        diesel::sql_query("ANALYZE data_rows").execute(&mut conn).await?;
    }
    for orphan in orphans(&mut conn).await? {
        drop_index(&mut conn, &orphan).await?;
    }
    Ok(())
}

/// Field indexes whose table is gone (deleted with its project or company).
async fn orphans(conn: &mut AsyncPgConnection) -> AppResult<Vec<String>> {
    let rows: Vec<IndexName> = diesel::sql_query(
        "SELECT c.relname AS indexname, i.indisvalid AS valid FROM pg_index i \
         JOIN pg_class c ON c.oid = i.indexrelid WHERE i.indrelid = 'data_rows'::regclass \
         AND c.relname LIKE 'data_rows_f\\_%' AND NOT EXISTS (SELECT 1 FROM data_tables t \
         WHERE pg_get_expr(i.indpred, i.indrelid) LIKE '%' || t.id::text || '%')",
    )
    .load(conn)
    .await?;
    Ok(rows.into_iter().map(|r| r.indexname).collect())
}

/// Reconciles the table's indexes in the background (after the caller's change to its
/// fields committed); a table already due for a reconcile is not queued twice.
pub fn spawn_reconcile(app: &App, table_id: Uuid) {
    let now = Instant::now();
    {
        let Ok(mut queue) = app.index_builds.queue.lock() else {
            return;
        };
        if queue.pending.get(&table_id).is_some_and(|start| *start <= now) {
            return;
        }
        queue.pending.insert(table_id, now);
    }
    spawn_at(app, table_id, now);
}

/// Checks in the background whether rows written to the table (committed) brought it over
/// or under the line for field indexes: at once when no row write had it checked within
/// [`SIZE_CHECK_PAUSE`], otherwise once that pause is over, covering every write meanwhile.
pub fn spawn_size_check(app: &App, table_id: Uuid) {
    let now = Instant::now();
    let start = {
        let Ok(mut queue) = app.index_builds.queue.lock() else {
            return;
        };
        if queue.pending.contains_key(&table_id) {
            return;
        }
        queue
            .size_checked
            .retain(|_, checked| now.saturating_duration_since(*checked) < SIZE_CHECK_PAUSE);
        let start = queue
            .size_checked
            .get(&table_id)
            .map_or(now, |checked| *checked + SIZE_CHECK_PAUSE);
        queue.size_checked.insert(table_id, start);
        queue.pending.insert(table_id, start);
        start
    };
    spawn_at(app, table_id, start);
}

fn spawn_at(app: &App, table_id: Uuid, start: Instant) {
    let app = app.clone();
    tokio::spawn(async move {
        tokio::time::sleep_until(start).await;
        if !app.index_builds.still_queued(table_id, start) {
            // A reconcile queued since for sooner has covered it.
            return;
        }
        if let Err(err) = reconcile(&app, table_id).await {
            tracing::warn!(error = ?err.source, message = %err.message, %table_id, "could not update field indexes");
        }
    });
}
