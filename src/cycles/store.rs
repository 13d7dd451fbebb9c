//! SQL for cycles. A cycle is reached only through the caller's membership of its
//! project's company; overlaps are refused by the `cycles_no_overlap` exclusion constraint.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{CycleRow, NewCycle};
use crate::auth::caller::Actor;
use crate::companies::store::reached_by;
use crate::db::schema::{cycles, projects};

/// Creates a cycle.
pub async fn insert(conn: &mut AsyncPgConnection, cycle: &NewCycle<'_>) -> QueryResult<CycleRow> {
    diesel::insert_into(cycles::table)
        .values(cycle)
        .returning(CycleRow::as_returning())
        .get_result(conn)
        .await
}

/// Whether a database error is the overlap constraint.
pub fn is_overlap(err: &diesel::result::Error) -> bool {
    matches!(err, diesel::result::Error::DatabaseError(_, info) if info.constraint_name() == Some("cycles_no_overlap"))
}

/// The cycle, if `user_id` belongs to its project's company.
pub async fn find_for(conn: &mut AsyncPgConnection, id: Uuid, actor: Actor) -> QueryResult<Option<CycleRow>> {
    cycles::table
        .inner_join(projects::table)
        .filter(cycles::id.eq(id))
        .filter(reached_by(actor, projects::company_id))
        .select(CycleRow::as_select())
        .first(conn)
        .await
        .optional()
}

/// The project's cycles in date order.
pub async fn list(conn: &mut AsyncPgConnection, project_id: Uuid) -> QueryResult<Vec<CycleRow>> {
    cycles::table
        .filter(cycles::project_id.eq(project_id))
        .order(cycles::starts_on)
        .select(CycleRow::as_select())
        .load(conn)
        .await
}

/// Closes (Some) or reopens (None) a cycle.
pub async fn set_closed(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    closed_at: Option<DateTime<Utc>>,
) -> QueryResult<CycleRow> {
    diesel::update(cycles::table.find(id))
        .set(cycles::closed_at.eq(closed_at))
        .returning(CycleRow::as_returning())
        .get_result(conn)
        .await
}

/// Cycles by id (callers reach them through rows they may already read).
pub async fn by_ids(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<Vec<CycleRow>> {
    cycles::table
        .filter(cycles::id.eq_any(ids))
        .select(CycleRow::as_select())
        .load(conn)
        .await
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
