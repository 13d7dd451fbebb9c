//! The SQL of the event streams. Reads take the company or the recipient as scope.

use chrono::{DateTime, Utc};
use diesel::dsl::count_star;
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel::sql_types::Bool;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{EventRow, NotificationRow, RowChangeRow};
use crate::db::schema::{activity_events, companies, notifications, row_changes};

/// Which events of a company a feed shows.
#[derive(Debug, Clone, Default)]
pub struct FeedFilter {
    pub project_id: Option<Uuid>,
    pub actor_id: Option<Uuid>,
    /// Permission names held company-wide.
    pub readable: Vec<String>,
    /// Per project, the permission names a grant adds there.
    pub readable_in_projects: Vec<(Uuid, Vec<String>)>,
}

type EventPredicate = Box<dyn BoxableExpression<activity_events::table, Pg, SqlType = Bool>>;

fn feed_predicate(company_id: Uuid, filter: &FeedFilter) -> EventPredicate {
    use activity_events::dsl as e;
    let mut visible: EventPredicate = Box::new(e::visible_with.eq_any(filter.readable.clone()));
    for (project, names) in &filter.readable_in_projects {
        visible = Box::new(
            visible.or(e::project_id
                .assume_not_null()
                .eq(*project)
                .and(e::visible_with.eq_any(names.clone()))),
        );
    }
    let mut predicate: EventPredicate = Box::new(e::company_id.eq(company_id).and(visible));
    if let Some(project) = filter.project_id {
        predicate = Box::new(predicate.and(e::project_id.assume_not_null().eq(project)));
    }
    if let Some(actor) = filter.actor_id {
        predicate = Box::new(predicate.and(e::actor_id.assume_not_null().eq(actor)));
    }
    predicate
}

/// Up to `limit` readable events of the company older than `before`, newest first.
pub async fn feed_page(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    filter: &FeedFilter,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    let mut query = activity_events::table
        .filter(feed_predicate(company_id, filter))
        .select(EventRow::as_select())
        .order(activity_events::seq.desc())
        .limit(limit)
        .into_boxed();
    if let Some(before) = before {
        query = query.filter(activity_events::seq.lt(before));
    }
    query.load(conn).await
}

/// How many events the feed holds in all.
pub async fn feed_count(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    filter: &FeedFilter,
) -> QueryResult<i64> {
    activity_events::table
        .filter(feed_predicate(company_id, filter))
        .select(count_star())
        .get_result(conn)
        .await
}

/// Events of the company after `after`, oldest first (a subscription's replay).
pub async fn events_after(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<EventRow>> {
    activity_events::table
        .filter(activity_events::company_id.eq(company_id))
        .filter(activity_events::seq.gt(after))
        .select(EventRow::as_select())
        .order(activity_events::seq.asc())
        .limit(limit)
        .load(conn)
        .await
}

/// The newest event position of the company (0 when it has none).
pub async fn last_event_seq(conn: &mut AsyncPgConnection, company_id: Uuid) -> QueryResult<i64> {
    activity_events::table
        .filter(activity_events::company_id.eq(company_id))
        .select(diesel::dsl::max(activity_events::seq))
        .get_result::<Option<i64>>(conn)
        .await
        .map(|seq| seq.unwrap_or(0))
}

/// Whether the company still exists (a followed company's feed ends when it does not).
pub async fn company_exists(conn: &mut AsyncPgConnection, company_id: Uuid) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(companies::table.find(company_id)))
        .get_result(conn)
        .await
}

/// The events at these positions (any company: the fan-out loads what was announced).
pub async fn events_at(conn: &mut AsyncPgConnection, seqs: &[i64]) -> QueryResult<Vec<EventRow>> {
    activity_events::table
        .filter(activity_events::seq.eq_any(seqs))
        .select(EventRow::as_select())
        .load(conn)
        .await
}

/// The rows these row events touched, by event and row.
pub async fn row_changes_of(
    conn: &mut AsyncPgConnection,
    event_seqs: &[i64],
) -> QueryResult<Vec<RowChangeRow>> {
    row_changes::table
        .filter(row_changes::event_seq.eq_any(event_seqs))
        .order((row_changes::event_seq, row_changes::row_id))
        .select(RowChangeRow::as_select())
        .load(conn)
        .await
}

/// Up to `limit` of the user's notifications older than `before`, newest first.
pub async fn notifications_page(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    unread_only: bool,
    before: Option<i64>,
    limit: i64,
) -> QueryResult<Vec<NotificationRow>> {
    let mut query = notifications::table
        .filter(notifications::user_id.eq(user_id))
        .select(NotificationRow::as_select())
        .order(notifications::seq.desc())
        .limit(limit)
        .into_boxed();
    if unread_only {
        query = query.filter(notifications::read_at.is_null());
    }
    if let Some(before) = before {
        query = query.filter(notifications::seq.lt(before));
    }
    query.load(conn).await
}

/// How many notifications the user has (unread ones only with `unread_only`).
pub async fn notification_count(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    unread_only: bool,
) -> QueryResult<i64> {
    let mut query = notifications::table
        .filter(notifications::user_id.eq(user_id))
        .select(count_star())
        .into_boxed();
    if unread_only {
        query = query.filter(notifications::read_at.is_null());
    }
    query.get_result(conn).await
}

/// The user's notifications after `after`, oldest first (a subscription's replay).
pub async fn notifications_after(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    after: i64,
    limit: i64,
) -> QueryResult<Vec<NotificationRow>> {
    notifications::table
        .filter(notifications::user_id.eq(user_id))
        .filter(notifications::seq.gt(after))
        .select(NotificationRow::as_select())
        .order(notifications::seq.asc())
        .limit(limit)
        .load(conn)
        .await
}

/// The notifications at these positions (the fan-out loads what was announced).
pub async fn notifications_at(
    conn: &mut AsyncPgConnection,
    seqs: &[i64],
) -> QueryResult<Vec<NotificationRow>> {
    notifications::table
        .filter(notifications::seq.eq_any(seqs))
        .select(NotificationRow::as_select())
        .load(conn)
        .await
}

/// Marks one of the user's notifications read (keeping the first read time).
pub async fn mark_read(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<Option<NotificationRow>> {
    diesel::update(
        notifications::table
            .filter(notifications::id.eq(id))
            .filter(notifications::user_id.eq(user_id)),
    )
    .set(
        notifications::read_at.eq(diesel::dsl::sql::<
            diesel::sql_types::Nullable<diesel::sql_types::Timestamptz>,
        >("coalesce(read_at, ")
        .bind::<diesel::sql_types::Timestamptz, _>(now)
        .sql(")")),
    )
    .returning(NotificationRow::as_returning())
    .get_result(conn)
    .await
    .optional()
}

/// Marks every unread notification of the user read; returns how many.
pub async fn mark_all_read(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<usize> {
    diesel::update(
        notifications::table
            .filter(notifications::user_id.eq(user_id))
            .filter(notifications::read_at.is_null()),
    )
    .set(notifications::read_at.eq(now))
    .execute(conn)
    .await
}

/// The user's newest notification position (0 when they have none).
pub async fn last_notification_seq(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<i64> {
    notifications::table
        .filter(notifications::user_id.eq(user_id))
        .select(diesel::dsl::max(notifications::seq))
        .get_result::<Option<i64>>(conn)
        .await
        .map(|seq| seq.unwrap_or(0))
}
