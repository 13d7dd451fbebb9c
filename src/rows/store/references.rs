//! SQL for references between rows: which rows a REFERENCE may name, and which rows name
//! a row about to be deleted.

use diesel::prelude::*;
use diesel::sql_types;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::Count;
use crate::db::schema::data_fields;

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
