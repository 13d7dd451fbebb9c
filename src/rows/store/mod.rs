//! SQL for rows: the locks that keep writes consistent with field changes, cycle closing
//! and archiving, and rows themselves; unique claims, references, the row list, imports
//! revalidation and background recalculations each have a file of their own.

mod imports;
mod list;
mod recalculations;
mod references;
mod revalidation;
mod summaries;
mod uniques;

pub use self::imports::*;
pub use self::list::*;
pub use self::recalculations::*;
pub use self::references::*;
pub use self::revalidation::*;
pub use self::summaries::*;
pub use self::uniques::*;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::auth::caller::Actor;
use crate::companies::store::reach_ids;
use crate::db::prepared::prepared;
use crate::db::schema::{data_fields, data_rows, data_tables, projects};
use crate::rows::model::{NewRow, RowRecord};

/// A counted number, as SQL answers it.
#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = sql_types::BigInt)]
    count: i64,
}

/// The columns of a [`RowRecord`], with the `$1` keys removed from the values; when keys are
/// to be removed from values that are not an object (which nothing should store), none of
/// them is shown.
const ROW_COLUMNS: &str = "r.id, r.table_id, r.cycle_id, \
     (CASE WHEN cardinality($1::text[]) = 0 OR jsonb_typeof(r.cells) = 'object' \
      THEN r.cells - $1::text[] ELSE '{}'::jsonb END)::text AS cells, \
     r.version, r.created_by, r.created_at, r.updated_at, r.created_by_api_key, r.calc_version";

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

/// Locks the table against field changes while rows are written; answers its
/// `calc_version`, or None when it is gone.
pub async fn share_table(conn: &mut AsyncPgConnection, table_id: Uuid) -> QueryResult<Option<i32>> {
    data_tables::table
        .find(table_id)
        .select(data_tables::calc_version)
        .for_share()
        .first::<i32>(conn)
        .await
        .optional()
}

/// Stores rows, 1,000 per statement, each column sent as one array: PostgreSQL parses and
/// plans one small statement per batch instead of one with 9,000 parameters.
pub async fn insert(conn: &mut AsyncPgConnection, rows: &[NewRow]) -> QueryResult<()> {
    use sql_types::{Array, Integer, Jsonb, Nullable, Timestamptz};
    for chunk in rows.chunks(1_000) {
        let column = |of: fn(&NewRow) -> Option<Uuid>| chunk.iter().map(of).collect::<Vec<_>>();
        prepared(
            diesel::sql_query(
                "INSERT INTO data_rows (id, table_id, cycle_id, cells, created_by, created_by_api_key, \
                 created_at, updated_at, calc_version) SELECT * FROM unnest($1::uuid[], $2::uuid[], \
                 $3::uuid[], $4::jsonb[], $5::uuid[], $6::uuid[], $7::timestamptz[], $8::timestamptz[], $9::int[])",
            )
            .bind::<Array<sql_types::Uuid>, _>(chunk.iter().map(|row| row.id).collect::<Vec<_>>())
            .bind::<Array<sql_types::Uuid>, _>(chunk.iter().map(|row| row.table_id).collect::<Vec<_>>())
            .bind::<Array<Nullable<sql_types::Uuid>>, _>(column(|row| row.cycle_id))
            .bind::<Array<Jsonb>, _>(chunk.iter().map(|row| &row.cells).collect::<Vec<_>>())
            .bind::<Array<Nullable<sql_types::Uuid>>, _>(column(|row| row.created_by))
            .bind::<Array<Nullable<sql_types::Uuid>>, _>(column(|row| row.created_by_api_key))
            .bind::<Array<Timestamptz>, _>(chunk.iter().map(|row| row.created_at).collect::<Vec<_>>())
            .bind::<Array<Timestamptz>, _>(chunk.iter().map(|row| row.updated_at).collect::<Vec<_>>())
            .bind::<Array<Integer>, _>(chunk.iter().map(|row| row.calc_version).collect::<Vec<_>>()),
        )
        .execute(conn)
        .await?;
    }
    Ok(())
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
pub async fn find_for(
    conn: &mut AsyncPgConnection,
    ids: &[Uuid],
    actor: Actor,
    lock: bool,
) -> QueryResult<Vec<RowRecord>> {
    // `companies::store::reached_by` in SQL: a key's own company, or a person's companies.
    let sql = format!(
        "SELECT {ROW_COLUMNS} FROM data_rows r \
         JOIN data_tables t ON t.id = r.table_id JOIN projects p ON p.id = t.project_id \
         WHERE r.id = ANY($3) AND (p.company_id = $4 OR p.company_id IN \
             (SELECT m.company_id FROM memberships m WHERE m.user_id = $2)) \
         ORDER BY r.created_at, r.id {}",
        if lock { "FOR UPDATE OF r" } else { "" }
    );
    let (person, own_company) = reach_ids(actor);
    diesel::sql_query(sql)
        .bind::<sql_types::Array<sql_types::Text>, _>(Vec::<String>::new())
        .bind::<sql_types::Uuid, _>(person)
        .bind::<sql_types::Array<sql_types::Uuid>, _>(ids)
        .bind::<sql_types::Uuid, _>(own_company)
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
         r.updated_at, r.created_by_api_key, r.calc_version FROM unnest($1::uuid[]) AS t(id) CROSS JOIN LATERAL \
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
             updated_at, created_by_api_key, calc_version FROM data_rows WHERE id = $1",
        )
        .bind::<sql_types::Uuid, _>(row_id),
    )
    .get_result(conn)
    .await
    .optional()
}

/// The rows with these ids that still exist, in no particular order.
pub async fn rows_by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<RowRecord>> {
    prepared(
        diesel::sql_query(
            "SELECT id, table_id, cycle_id, cells::text AS cells, version, created_by, created_at, \
             updated_at, created_by_api_key, calc_version FROM data_rows WHERE id = ANY($1)",
        )
        .bind::<sql_types::Array<sql_types::Uuid>, _>(ids),
    )
    .load(conn)
    .await
}

/// The (table, key) of every restricted field of these tables.
pub async fn restricted_keys_of(
    conn: &mut AsyncPgConnection,
    table_ids: &[Uuid],
) -> QueryResult<Vec<(Uuid, String)>> {
    data_fields::table
        .filter(data_fields::table_id.eq_any(table_ids))
        .filter(data_fields::restricted.eq(true))
        .select((data_fields::table_id, data_fields::key))
        .load(conn)
        .await
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
    calc_version: i32,
    now: DateTime<Utc>,
) -> QueryResult<i32> {
    diesel::update(data_rows::table.find(id))
        .set((
            data_rows::cells.eq(cells),
            data_rows::version.eq(data_rows::version + 1),
            data_rows::updated_at.eq(now),
            data_rows::calc_version.eq(calc_version),
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
