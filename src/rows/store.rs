//! SQL for rows: locks that keep writes consistent with field changes, cycle closing and
//! archiving; unique-value claims; reference checks; and the filtered, ordered row list.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::query_builder::BoxedSqlQuery;
use diesel::sql_types;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{ImportRow, NewRow, RowRecord};
use super::query::{Comparison, Condition, Operator, Order, RowCursor};
use crate::cycles::model::CycleRow;
use crate::db::prepared::prepared;
use crate::db::schema::{
    cycles, data_fields, data_imports, data_row_uniques, data_rows, data_tables, projects,
};
use crate::pagination::{Cursor, PageRequest};

/// The columns of a [`RowRecord`], with the `$1` keys removed from the values; when keys are
/// to be removed from values that are not an object (which nothing should store), none of
/// them is shown.
const ROW_COLUMNS: &str = "r.id, r.table_id, r.cycle_id, \
     (CASE WHEN cardinality($1::text[]) = 0 OR jsonb_typeof(r.cells) = 'object' \
      THEN r.cells - $1::text[] ELSE '{}'::jsonb END)::text AS cells, \
     r.version, r.created_by, r.created_at, r.updated_at";

/// Locks the project against archiving while rows are written: None when it is gone,
/// else its `archived_at`.
pub async fn share_project(
    conn: &mut AsyncPgConnection,
    project_id: Uuid,
) -> QueryResult<Option<Option<DateTime<Utc>>>> {
    projects::table
        .find(project_id)
        .select(projects::archived_at)
        .for_share()
        .first(conn)
        .await
        .optional()
}

/// Locks the table against field changes while rows are written; false when it is gone.
pub async fn share_table(conn: &mut AsyncPgConnection, table_id: Uuid) -> QueryResult<bool> {
    data_tables::table
        .find(table_id)
        .select(data_tables::id)
        .for_share()
        .first::<Uuid>(conn)
        .await
        .optional()
        .map(|found| found.is_some())
}

/// The project's cycle, locked against closing while rows are written into it.
pub async fn share_cycle(
    conn: &mut AsyncPgConnection,
    cycle_id: Uuid,
    project_id: Uuid,
) -> QueryResult<Option<CycleRow>> {
    cycles::table
        .filter(cycles::id.eq(cycle_id))
        .filter(cycles::project_id.eq(project_id))
        .select(CycleRow::as_select())
        .for_share()
        .first(conn)
        .await
        .optional()
}

/// Stores rows.
pub async fn insert(conn: &mut AsyncPgConnection, rows: &[NewRow]) -> QueryResult<()> {
    for chunk in rows.chunks(1_000) {
        diesel::insert_into(data_rows::table)
            .values(chunk)
            .execute(conn)
            .await?;
    }
    Ok(())
}

#[derive(QueryableByName)]
struct Claim {
    #[diesel(sql_type = sql_types::Uuid)]
    field_id: Uuid,
    #[diesel(sql_type = sql_types::Text)]
    value: String,
    #[diesel(sql_type = sql_types::Uuid)]
    row_id: Uuid,
}

/// Claims unique values `(field, value, row)`; returns the claims that were already taken
/// (by another row, or earlier in the same list).
pub async fn claim_unique(
    conn: &mut AsyncPgConnection,
    claims: &[(Uuid, String, Uuid)],
) -> QueryResult<Vec<(Uuid, String, Uuid)>> {
    if claims.is_empty() {
        return Ok(Vec::new());
    }
    let fields: Vec<Uuid> = claims.iter().map(|c| c.0).collect();
    let values: Vec<&str> = claims.iter().map(|c| c.1.as_str()).collect();
    let rows: Vec<Uuid> = claims.iter().map(|c| c.2).collect();
    let won: Vec<Claim> = diesel::sql_query(
        "INSERT INTO data_row_uniques (field_id, value, row_id) \
         SELECT * FROM unnest($1::uuid[], $2::text[], $3::uuid[]) \
         ON CONFLICT DO NOTHING RETURNING field_id, value, row_id",
    )
    .bind::<sql_types::Array<sql_types::Uuid>, _>(&fields)
    .bind::<sql_types::Array<sql_types::Text>, _>(&values)
    .bind::<sql_types::Array<sql_types::Uuid>, _>(&rows)
    .load(conn)
    .await?;
    let won: std::collections::HashSet<(Uuid, &str, Uuid)> = won
        .iter()
        .map(|c| (c.field_id, c.value.as_str(), c.row_id))
        .collect();
    Ok(claims
        .iter()
        .filter(|(f, v, r)| !won.contains(&(*f, v.as_str(), *r)))
        .cloned()
        .collect())
}

/// Gives up every claim of these rows (rows that will not be stored after all).
pub async fn release_rows(conn: &mut AsyncPgConnection, row_ids: &[Uuid]) -> QueryResult<()> {
    diesel::delete(data_row_uniques::table.filter(data_row_uniques::row_id.eq_any(row_ids)))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Gives up one row's claim on one field.
pub async fn release_field(conn: &mut AsyncPgConnection, row_id: Uuid, field_id: Uuid) -> QueryResult<()> {
    diesel::delete(
        data_row_uniques::table
            .filter(data_row_uniques::row_id.eq(row_id))
            .filter(data_row_uniques::field_id.eq(field_id)),
    )
    .execute(conn)
    .await
    .map(|_| ())
}

/// Which of `ids` are rows of the table, locked so they cannot be deleted meanwhile.
pub async fn existing_rows(
    conn: &mut AsyncPgConnection,
    table_id: Uuid,
    ids: &[Uuid],
) -> QueryResult<Vec<Uuid>> {
    data_rows::table
        .filter(data_rows::table_id.eq(table_id))
        .filter(data_rows::id.eq_any(ids))
        .select(data_rows::id)
        .for_key_share()
        .load(conn)
        .await
}

/// Rows by id, if `user_id` belongs to their company (with the values' `strip` keys removed).
pub async fn find_for_member(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    user_id: Uuid,
    lock: bool,
) -> QueryResult<Vec<RowRecord>> {
    let sql = format!(
        "SELECT {ROW_COLUMNS} FROM data_rows r \
         JOIN data_tables t ON t.id = r.table_id JOIN projects p ON p.id = t.project_id \
         JOIN memberships m ON m.company_id = p.company_id AND m.user_id = $2 \
         WHERE r.id = ANY($3) ORDER BY r.id {}",
        if lock { "FOR UPDATE OF r" } else { "" }
    );
    diesel::sql_query(sql)
        .bind::<sql_types::Array<sql_types::Text>, _>(Vec::<String>::new())
        .bind::<sql_types::Uuid, _>(user_id)
        .bind::<sql_types::Array<sql_types::Uuid>, _>(ids)
        .load(conn)
        .await
}

/// The first `limit` rows of each table in the default order (oldest first), one query.
pub async fn first_rows(
    conn: &mut AsyncPgConnection,
    table_ids: &[Uuid],
    limit: i64,
) -> QueryResult<Vec<RowRecord>> {
    prepared(diesel::sql_query(
        "SELECT r.id, r.table_id, r.cycle_id, r.cells::text AS cells, r.version, r.created_by, r.created_at, \
         r.updated_at FROM unnest($1::uuid[]) AS t(id) CROSS JOIN LATERAL \
         (SELECT * FROM data_rows WHERE table_id = t.id ORDER BY created_at, id LIMIT $2) r",
    )
    .bind::<sql_types::Array<sql_types::Uuid>, _>(table_ids)
    .bind::<sql_types::BigInt, _>(limit))
    .load(conn)
    .await
}

/// A row by id (one kept-prepared query).
pub async fn find_row(conn: &mut AsyncPgConnection, row_id: Uuid) -> QueryResult<Option<RowRecord>> {
    prepared(
        diesel::sql_query(
            "SELECT id, table_id, cycle_id, cells::text AS cells, version, created_by, created_at, \
             updated_at FROM data_rows WHERE id = $1",
        )
        .bind::<sql_types::Uuid, _>(row_id),
    )
    .get_result(conn)
    .await
    .optional()
}

/// Keys of the table's restricted fields.
pub async fn restricted_keys(conn: &mut AsyncPgConnection, table_id: Uuid) -> QueryResult<Vec<String>> {
    data_fields::table
        .filter(data_fields::table_id.eq(table_id))
        .filter(data_fields::restricted.eq(true))
        .select(data_fields::key)
        .load(conn)
        .await
}

/// Replaces a row's values and bumps its version.
pub async fn update_cells(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    cells: &serde_json::Value,
    now: DateTime<Utc>,
) -> QueryResult<i32> {
    diesel::update(data_rows::table.find(id))
        .set((
            data_rows::cells.eq(cells),
            data_rows::version.eq(data_rows::version + 1),
            data_rows::updated_at.eq(now),
        ))
        .returning(data_rows::version)
        .get_result(conn)
        .await
}

/// Deletes rows (their unique claims go with them).
pub async fn delete(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<usize> {
    diesel::delete(data_rows::table.filter(data_rows::id.eq_any(ids)))
        .execute(conn)
        .await
}

/// REFERENCE fields pointing at the table: (their table, their key).
pub async fn references_into(
    conn: &mut AsyncPgConnection,
    table_id: Uuid,
) -> QueryResult<Vec<(Uuid, String)>> {
    data_fields::table
        .filter(data_fields::reference_table_id.eq(table_id))
        .select((data_fields::table_id, data_fields::key))
        .load(conn)
        .await
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = sql_types::BigInt)]
    count: i64,
}

/// How many rows outside `ids` hold one of `ids` in the REFERENCE field `key` of `table_id`.
pub async fn referencing_rows(
    conn: &mut AsyncPgConnection,
    table_id: Uuid,
    key: &str,
    ids: &[Uuid],
) -> QueryResult<i64> {
    let texts: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    diesel::sql_query(
        "SELECT count(*) AS count FROM data_rows \
         WHERE table_id = $1 AND cells ->> $2 = ANY($3) AND NOT id = ANY($4)",
    )
    .bind::<sql_types::Uuid, _>(table_id)
    .bind::<sql_types::Text, _>(key)
    .bind::<sql_types::Array<sql_types::Text>, _>(&texts)
    .bind::<sql_types::Array<sql_types::Uuid>, _>(ids)
    .get_result::<Count>(conn)
    .await
    .map(|c| c.count)
}

/// A value bound into a generated query.
enum Bind {
    Text(String),
    Texts(Vec<String>),
    Json(serde_json::Value),
    Uuid(Uuid),
    At(DateTime<Utc>),
    Int(i64),
}

/// A row query under construction: SQL text with numbered parameters and their values.
struct Sql {
    text: String,
    binds: Vec<Bind>,
}

impl Sql {
    fn param(&mut self, bind: Bind) -> String {
        self.binds.push(bind);
        format!("${}", self.binds.len())
    }

    fn build(self) -> BoxedSqlQuery<'static, Pg, diesel::query_builder::SqlQuery> {
        let mut query = diesel::sql_query(self.text).into_boxed();
        for bind in self.binds {
            query = match bind {
                Bind::Text(v) => query.bind::<sql_types::Text, _>(v),
                Bind::Texts(v) => query.bind::<sql_types::Array<sql_types::Text>, _>(v),
                Bind::Json(v) => query.bind::<sql_types::Jsonb, _>(v),
                Bind::Uuid(v) => query.bind::<sql_types::Uuid, _>(v),
                Bind::At(v) => query.bind::<sql_types::Timestamptz, _>(v),
                Bind::Int(v) => query.bind::<sql_types::BigInt, _>(v),
            };
        }
        query
    }
}

/// The SQL expression a field sorts and compares by. Keys are checked snake_case (by the
/// database too), so they are safe to write into the text.
fn field_expr(key: &str, comparison: Comparison) -> String {
    match comparison {
        Comparison::Number => format!("data_numeric(r.cells ->> '{key}')"),
        _ => format!("(r.cells ->> '{key}')"),
    }
}

fn like_pattern(text: &str) -> String {
    let escaped = text.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

fn condition_sql(sql: &mut Sql, condition: &Condition) -> String {
    let key = &condition.key;
    let expr = field_expr(key, condition.comparison);
    let contains = |sql: &mut Sql, value: &serde_json::Value| {
        let param = sql.param(Bind::Json(serde_json::json!({ key.as_str(): value })));
        format!("r.cells @> {param}")
    };
    match &condition.operator {
        Operator::Eq(value) if condition.comparison == Comparison::List => {
            let param = sql.param(Bind::Json(value.clone()));
            format!("r.cells -> '{key}' = {param}")
        }
        Operator::Ne(value) if condition.comparison == Comparison::List => {
            let param = sql.param(Bind::Json(value.clone()));
            format!("(r.cells -> '{key}') IS DISTINCT FROM {param}")
        }
        Operator::Eq(value) => contains(sql, value),
        Operator::Ne(value) => format!("NOT {}", contains(sql, value)),
        Operator::Compare(symbol, operand) => {
            let param = sql.param(Bind::Text(operand.clone()));
            match condition.comparison {
                Comparison::Number => format!("{expr} {symbol} {param}::numeric"),
                _ => format!("{expr} {symbol} {param}"),
            }
        }
        Operator::In(values) => {
            let parts: Vec<String> = values.iter().map(|v| contains(sql, v)).collect();
            format!("({})", parts.join(" OR "))
        }
        Operator::Contains(value) if condition.comparison == Comparison::List => contains(sql, value),
        Operator::Contains(value) => {
            let param = sql.param(Bind::Text(like_pattern(value.as_str().unwrap_or_default())));
            format!("{expr} ILIKE {param}")
        }
        Operator::IsNull(true) => format!("(r.cells ->> '{key}') IS NULL"),
        Operator::IsNull(false) => format!("(r.cells ->> '{key}') IS NOT NULL"),
    }
}

/// What a row list asks for.
pub struct RowListQuery<'a> {
    pub table_id: Uuid,
    pub cycle_id: Option<Uuid>,
    pub conditions: &'a [Condition],
    pub order: &'a Order,
    /// Keys removed from the values (restricted fields the caller may not read).
    pub strip: &'a [String],
}

fn where_sql(sql: &mut Sql, query: &RowListQuery<'_>) -> String {
    let table = sql.param(Bind::Uuid(query.table_id));
    let mut clauses = vec![format!("r.table_id = {table}")];
    if let Some(cycle_id) = query.cycle_id {
        let cycle = sql.param(Bind::Uuid(cycle_id));
        clauses.push(format!("r.cycle_id = {cycle}"));
    }
    for condition in query.conditions {
        clauses.push(condition_sql(sql, condition));
    }
    clauses.join(" AND ")
}

/// One page of rows (`limit` of them) after `after`.
pub async fn page(
    conn: &mut AsyncPgConnection,
    query: &RowListQuery<'_>,
    after: Option<&RowCursor>,
    limit: i64,
) -> QueryResult<Vec<RowRecord>> {
    let mut sql = Sql {
        text: String::new(),
        binds: vec![Bind::Texts(query.strip.to_vec())],
    };
    let mut clauses = where_sql(&mut sql, query);
    let order = match query.order {
        Order::Created => {
            if let Some(RowCursor::Created { at, id }) = after {
                let (at, id) = (sql.param(Bind::At(*at)), sql.param(Bind::Uuid(*id)));
                clauses.push_str(&format!(" AND (r.created_at, r.id) > ({at}, {id})"));
            }
            "r.created_at, r.id".to_owned()
        }
        Order::Field {
            key,
            comparison,
            descending,
        } => {
            let expr = field_expr(key, *comparison);
            if let Some(RowCursor::Field { value, id }) = after {
                let id = sql.param(Bind::Uuid(*id));
                let keyset = match value {
                    None => format!("({expr} IS NULL AND r.id > {id})"),
                    Some(value) => {
                        let value = sql.param(Bind::Text(value.clone()));
                        let cast = if *comparison == Comparison::Number {
                            "::numeric"
                        } else {
                            ""
                        };
                        let beyond = if *descending { "<" } else { ">" };
                        format!(
                            "({expr} {beyond} {value}{cast} OR ({expr} = {value}{cast} AND r.id > {id}) \
                             OR {expr} IS NULL)"
                        )
                    }
                };
                clauses.push_str(&format!(" AND {keyset}"));
            }
            let direction = if *descending { "DESC" } else { "ASC" };
            format!("{expr} {direction} NULLS LAST, r.id")
        }
    };
    let limit = sql.param(Bind::Int(limit));
    sql.text =
        format!("SELECT {ROW_COLUMNS} FROM data_rows r WHERE {clauses} ORDER BY {order} LIMIT {limit}");
    sql.build().load(conn).await
}

/// How many rows the list holds in all.
pub async fn count(conn: &mut AsyncPgConnection, query: &RowListQuery<'_>) -> QueryResult<i64> {
    let mut sql = Sql {
        text: String::new(),
        binds: Vec::new(),
    };
    let clauses = where_sql(&mut sql, query);
    sql.text = format!("SELECT count(*) AS count FROM data_rows r WHERE {clauses}");
    sql.build().get_result::<Count>(conn).await.map(|c| c.count)
}

/// Records a finished import.
pub async fn insert_import(conn: &mut AsyncPgConnection, import: &ImportRow) -> QueryResult<()> {
    diesel::insert_into(data_imports::table)
        .values(import)
        .execute(conn)
        .await
        .map(|_| ())
}

/// One page of the table's imports, oldest first, and how many there are.
pub async fn imports(
    conn: &mut AsyncPgConnection,
    table_id: Uuid,
    page: PageRequest,
) -> QueryResult<(Vec<ImportRow>, i64)> {
    let mut query = data_imports::table
        .filter(data_imports::table_id.eq(table_id))
        .into_boxed();
    if let Some(Cursor { at, id }) = page.after {
        query = query.filter(
            data_imports::created_at
                .gt(at)
                .or(data_imports::created_at.eq(at).and(data_imports::id.gt(id))),
        );
    }
    let rows = query
        .order((data_imports::created_at, data_imports::id))
        .limit(page.limit())
        .select(ImportRow::as_select())
        .load(conn)
        .await?;
    let total = data_imports::table
        .filter(data_imports::table_id.eq(table_id))
        .count()
        .get_result(conn)
        .await?;
    Ok((rows, total))
}

/// A stored row's id, order and values, for walking a whole table in batches.
#[derive(QueryableByName)]
pub struct StoredCells {
    #[diesel(sql_type = sql_types::Uuid)]
    pub id: Uuid,
    #[diesel(sql_type = sql_types::Timestamptz)]
    pub created_at: DateTime<Utc>,
    #[diesel(sql_type = sql_types::Jsonb)]
    pub cells: serde_json::Value,
}

/// The next `limit` rows of the table (of one cycle, if given) after `after`, oldest first.
pub async fn cells_batch(
    conn: &mut AsyncPgConnection,
    table_id: Uuid,
    cycle_id: Option<Uuid>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> QueryResult<Vec<StoredCells>> {
    let (at, id) = after.unzip();
    diesel::sql_query(
        "SELECT id, created_at, cells FROM data_rows WHERE table_id = $1 \
         AND ($5::uuid IS NULL OR cycle_id = $5) \
         AND ($2::timestamptz IS NULL OR (created_at, id) > ($2, $3)) ORDER BY created_at, id LIMIT $4",
    )
    .bind::<sql_types::Uuid, _>(table_id)
    .bind::<sql_types::Nullable<sql_types::Timestamptz>, _>(at)
    .bind::<sql_types::Nullable<sql_types::Uuid>, _>(id)
    .bind::<sql_types::BigInt, _>(limit)
    .bind::<sql_types::Nullable<sql_types::Uuid>, _>(cycle_id)
    .load(conn)
    .await
}

/// Sets the value of `key` in each listed row.
pub async fn set_values(
    conn: &mut AsyncPgConnection,
    key: &str,
    updates: &[(Uuid, serde_json::Value)],
) -> QueryResult<()> {
    if updates.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = updates.iter().map(|u| u.0).collect();
    let values: Vec<&serde_json::Value> = updates.iter().map(|u| &u.1).collect();
    diesel::sql_query(
        "UPDATE data_rows r SET cells = jsonb_set(r.cells, ARRAY[$1], v.value) \
         FROM unnest($2::uuid[], $3::jsonb[]) AS v(id, value) WHERE r.id = v.id",
    )
    .bind::<sql_types::Text, _>(key)
    .bind::<sql_types::Array<sql_types::Uuid>, _>(&ids)
    .bind::<sql_types::Array<sql_types::Jsonb>, _>(&values)
    .execute(conn)
    .await
    .map(|_| ())
}

/// Removes `key` from every row of the table (a field was removed).
pub async fn remove_key(conn: &mut AsyncPgConnection, table_id: Uuid, key: &str) -> QueryResult<()> {
    diesel::sql_query("UPDATE data_rows SET cells = cells - $2 WHERE table_id = $1 AND cells ? $2")
        .bind::<sql_types::Uuid, _>(table_id)
        .bind::<sql_types::Text, _>(key)
        .execute(conn)
        .await
        .map(|_| ())
}

/// Whether the table holds any row.
pub async fn has_rows(conn: &mut AsyncPgConnection, table_id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        data_rows::table.filter(data_rows::table_id.eq(table_id)),
    ))
    .get_result(conn)
    .await
}

/// Gives up every claim on a field (it is no longer unique, or is being re-claimed).
pub async fn release_all(conn: &mut AsyncPgConnection, field_id: Uuid) -> QueryResult<()> {
    diesel::delete(data_row_uniques::table.filter(data_row_uniques::field_id.eq(field_id)))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Current members of the company who added rows to the cycle (whom its closing concerns).
pub async fn row_authors_in_cycle(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    cycle_id: Uuid,
) -> QueryResult<Vec<Uuid>> {
    #[derive(QueryableByName)]
    struct Author {
        #[diesel(sql_type = sql_types::Uuid)]
        user_id: Uuid,
    }
    let authors: Vec<Author> = diesel::sql_query(
        "SELECT m.user_id FROM memberships m \
         WHERE m.company_id = $1 \
           AND EXISTS (SELECT 1 FROM data_rows r WHERE r.cycle_id = $2 AND r.created_by = m.user_id)",
    )
    .bind::<sql_types::Uuid, _>(company_id)
    .bind::<sql_types::Uuid, _>(cycle_id)
    .load(conn)
    .await?;
    Ok(authors.into_iter().map(|a| a.user_id).collect())
}

/// Takes one of the company's `slots` import places until the transaction ends (an
/// advisory lock, so every instance sees it); false when all are taken.
pub async fn take_import_slot(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    slots: u32,
) -> QueryResult<bool> {
    #[derive(QueryableByName)]
    struct Taken {
        #[diesel(sql_type = sql_types::Bool)]
        taken: bool,
    }
    for slot in 0..i32::try_from(slots).unwrap_or(i32::MAX) {
        let taken: Taken = diesel::sql_query(
            "SELECT pg_try_advisory_xact_lock(hashtext('import:' || $1::text), $2) AS taken",
        )
        .bind::<sql_types::Uuid, _>(company_id)
        .bind::<sql_types::Integer, _>(slot)
        .get_result(conn)
        .await?;
        if taken.taken {
            return Ok(true);
        }
    }
    Ok(false)
}
