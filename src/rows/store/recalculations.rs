//! SQL for background recalculations: asking for one, claiming one, walking its rows and
//! writing what they compute to.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types;
use diesel::upsert::excluded;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::{data_rows, data_tables, table_recalculations};
use crate::rows::model::RecalculationRow;

/// Bumps the table's `calc_version`, answering the new one (None: the table is gone).
pub async fn bump_calc_version(conn: &mut AsyncPgConnection, table_id: Uuid) -> QueryResult<Option<i32>> {
    diesel::update(data_tables::table.find(table_id))
        .set(data_tables::calc_version.eq(data_tables::calc_version + 1))
        .returning(data_tables::calc_version)
        .get_result(conn)
        .await
        .optional()
}

/// How many rows the table holds.
pub async fn count_rows(conn: &mut AsyncPgConnection, table_id: Uuid) -> QueryResult<i64> {
    data_rows::table
        .filter(data_rows::table_id.eq(table_id))
        .count()
        .get_result(conn)
        .await
}

/// Asks for a recalculation; one already asked for the table starts again with this one.
pub async fn request(conn: &mut AsyncPgConnection, recalculation: &RecalculationRow) -> QueryResult<()> {
    use table_recalculations::dsl as r;
    diesel::insert_into(table_recalculations::table)
        .values(recalculation)
        .on_conflict(r::table_id)
        .do_update()
        .set((
            r::calc_version.eq(excluded(r::calc_version)),
            r::reason.eq(excluded(r::reason)),
            r::requested_at.eq(excluded(r::requested_at)),
            r::total.eq(excluded(r::total)),
            r::done.eq(0),
            r::changed.eq(0),
            r::failed.eq(0),
            r::failures.eq(excluded(r::failures)),
            r::after_created_at.eq(None::<DateTime<Utc>>),
            r::after_id.eq(None::<Uuid>),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The longest-waiting recalculation that no other worker holds, whose table no change
/// holds (a change under way holds the table and then waits for the recalculation: taking
/// them in the other order would deadlock) and that is not `resting` (tables whose last
/// batch failed); it and its table are locked until the transaction ends.
pub async fn claim(conn: &mut AsyncPgConnection, resting: &[Uuid]) -> QueryResult<Option<RecalculationRow>> {
    diesel::sql_query(
        "SELECT r.* FROM table_recalculations r JOIN data_tables t ON t.id = r.table_id \
         WHERE r.table_id <> ALL($1) ORDER BY r.requested_at LIMIT 1 \
         FOR UPDATE OF r SKIP LOCKED FOR SHARE OF t SKIP LOCKED",
    )
    .bind::<sql_types::Array<sql_types::Uuid>, _>(resting)
    .get_result(conn)
    .await
    .optional()
}

/// The recalculation under way for a table, if one is.
pub async fn of_table(conn: &mut AsyncPgConnection, table_id: Uuid) -> QueryResult<Option<RecalculationRow>> {
    table_recalculations::table
        .find(table_id)
        .select(RecalculationRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// Records how far a recalculation has come.
pub async fn advance(conn: &mut AsyncPgConnection, recalculation: &RecalculationRow) -> QueryResult<()> {
    use table_recalculations::dsl as r;
    diesel::update(table_recalculations::table.find(recalculation.table_id))
        .set((
            r::done.eq(recalculation.done),
            r::changed.eq(recalculation.changed),
            r::failed.eq(recalculation.failed),
            r::failures.eq(&recalculation.failures),
            r::after_created_at.eq(recalculation.after_created_at),
            r::after_id.eq(recalculation.after_id),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Ends a recalculation.
pub async fn finish(conn: &mut AsyncPgConnection, table_id: Uuid) -> QueryResult<()> {
    diesel::delete(table_recalculations::table.find(table_id))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Marks rows computed at `calc_version`; of them, those with new values (`{key: value}` to
/// merge; `{}` for none) get them with a new version written `now`.
pub async fn store_computed(
    conn: &mut AsyncPgConnection,
    computed: &[(Uuid, serde_json::Value)],
    calc_version: i32,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    if computed.is_empty() {
        return Ok(());
    }
    let ids: Vec<Uuid> = computed.iter().map(|row| row.0).collect();
    let values: Vec<&serde_json::Value> = computed.iter().map(|row| &row.1).collect();
    diesel::sql_query(
        "UPDATE data_rows r SET calc_version = $3, cells = r.cells || v.value, \
         version = r.version + (v.value <> '{}'::jsonb)::int, \
         updated_at = CASE WHEN v.value <> '{}'::jsonb THEN $4 ELSE r.updated_at END \
         FROM unnest($1::uuid[], $2::jsonb[]) AS v(id, value) WHERE r.id = v.id",
    )
    .bind::<sql_types::Array<sql_types::Uuid>, _>(&ids)
    .bind::<sql_types::Array<sql_types::Jsonb>, _>(&values)
    .bind::<sql_types::Integer, _>(calc_version)
    .bind::<sql_types::Timestamptz, _>(now)
    .execute(conn)
    .await
    .map(|_| ())
}
