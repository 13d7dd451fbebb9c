//! Ordered indexes for big tables. Equality filters use the GIN index on row values, but a
//! range (`gt`, `lte`…) or an order on a number or date needs a btree on that field's
//! value: once a table holds `ROW_INDEX_THRESHOLD` rows, each of its INTEGER, DECIMAL, DATE
//! and DATETIME fields gets a partial expression index covering that table only. Indexes
//! are built and dropped CONCURRENTLY by a background task after the change commits, so
//! no tenant's writes wait for them; small tables stay cheap to write. Each index comes
//! with extended statistics on its expression, which the planner needs to use it well.

use std::collections::HashSet;

use diesel::QueryableByName;
use diesel::sql_types;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
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

/// Where the field index builds stand on this instance: one runs at a time, and a table
/// waits at most once for its turn.
#[derive(Default)]
pub struct IndexBuilds {
    one_at_a_time: tokio::sync::Mutex<()>,
    pending: std::sync::Mutex<HashSet<Uuid>>,
}

impl IndexBuilds {
    /// Whether no build runs and none waits (tests wait for this).
    pub fn idle(&self) -> bool {
        self.pending.lock().is_ok_and(|pending| pending.is_empty()) && self.one_at_a_time.try_lock().is_ok()
    }
}

/// Brings the table's field indexes in line with its fields and size: built from
/// `threshold` rows, kept down to half of it (so a table near the line does not build and
/// drop them over and over). Indexes of tables that no longer exist go too. Building
/// indexes is the tables' owner's right, so this runs on a connection of its own as the
/// owner (DATABASE_URL), which row-level security does not hold.
pub async fn reconcile(app: &App, table_id: Uuid) -> AppResult<()> {
    let _one_at_a_time = app.index_builds.one_at_a_time.lock().await;
    // From here on, a new change to the table needs a new reconcile.
    if let Ok(mut pending) = app.index_builds.pending.lock() {
        pending.remove(&table_id);
    }
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

/// Reconciles the table's indexes in the background (after the caller's change committed);
/// a table already waiting for a reconcile is not queued twice.
pub fn spawn_reconcile(app: &App, table_id: Uuid) {
    let Ok(mut pending) = app.index_builds.pending.lock() else {
        return;
    };
    if !pending.insert(table_id) {
        return;
    }
    drop(pending);
    let app = app.clone();
    tokio::spawn(async move {
        if let Err(err) = reconcile(&app, table_id).await {
            tracing::warn!(error = ?err.source, message = %err.message, %table_id, "could not update field indexes");
        }
    });
}
