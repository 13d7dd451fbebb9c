//! SQL for CSV imports: their records, and the places that cap how many run at once.

use diesel::prelude::*;
use diesel::sql_types;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use crate::db::schema::data_imports;
use crate::pagination::{Cursor, PageRequest};
use crate::rows::model::ImportRow;

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
