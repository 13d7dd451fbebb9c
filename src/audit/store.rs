//! SQL for the audit log. Nothing here updates or deletes an entry except [`purge_before`]
//! and [`pseudonymise`], which declare themselves to the database for their transaction.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{AuditRow, NewAuditRow};
use crate::db::schema::{audit_log, companies};
use crate::pagination::Cursor;

/// Narrows a company's log (kept in export links too).
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct AuditFilter {
    pub actor_id: Option<Uuid>,
    pub action: Option<String>,
    pub target_type: Option<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

/// Writes one entry.
pub async fn insert(conn: &mut AsyncPgConnection, entry: &NewAuditRow<'_>) -> QueryResult<()> {
    diesel::insert_into(audit_log::table)
        .values(entry)
        .execute(conn)
        .await
        .map(|_| ())
}

fn filtered<'a>(company_id: Uuid, filter: &AuditFilter) -> audit_log::BoxedQuery<'a, Pg> {
    let mut query = audit_log::table
        .filter(audit_log::company_id.eq(company_id))
        .into_boxed();
    if let Some(actor) = filter.actor_id {
        query = query.filter(audit_log::actor_id.eq(actor));
    }
    if let Some(action) = filter.action.clone() {
        query = query.filter(audit_log::action.eq(action));
    }
    if let Some(target_type) = filter.target_type.clone() {
        query = query.filter(audit_log::target_type.eq(target_type));
    }
    if let Some(since) = filter.since {
        query = query.filter(audit_log::created_at.ge(since));
    }
    if let Some(until) = filter.until {
        query = query.filter(audit_log::created_at.lt(until));
    }
    query
}

/// Entries older than `after` (newest first), at most `limit`.
fn older_than<'a>(
    query: audit_log::BoxedQuery<'a, Pg>,
    after: Option<Cursor>,
    limit: i64,
) -> audit_log::BoxedQuery<'a, Pg> {
    let query = match after {
        Some(Cursor { at, id }) => query.filter(
            audit_log::created_at
                .lt(at)
                .or(audit_log::created_at.eq(at).and(audit_log::id.lt(id))),
        ),
        None => query,
    };
    query
        .order((audit_log::created_at.desc(), audit_log::id.desc()))
        .limit(limit)
}

/// One page of the company's log, newest first.
pub async fn company_page(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    filter: &AuditFilter,
    after: Option<Cursor>,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    older_than(filtered(company_id, filter), after, limit)
        .select(AuditRow::as_select())
        .load(conn)
        .await
}

/// The companies whose log holds entries by the person, members or not any more (one
/// probe of the company-and-actor index per company: for the rare export of a person's
/// data, rather than one more index written with every entry).
pub async fn companies_acted_in(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<Vec<Uuid>> {
    companies::table
        .filter(diesel::dsl::exists(
            audit_log::table
                .filter(audit_log::company_id.eq(companies::id.nullable()))
                .filter(audit_log::actor_id.eq(user_id)),
        ))
        .order(companies::id)
        .select(companies::id)
        .load(conn)
        .await
}

/// How many entries the filtered company log holds.
pub async fn company_count(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    filter: &AuditFilter,
) -> QueryResult<i64> {
    filtered(company_id, filter).count().get_result(conn).await
}

fn security_events<'a>(user_id: Uuid) -> audit_log::BoxedQuery<'a, Pg> {
    audit_log::table
        .filter(audit_log::company_id.is_null())
        .filter(audit_log::actor_id.eq(user_id))
        .into_boxed()
}

/// One page of a person's security events, newest first.
pub async fn security_page(
    conn: &mut AsyncPgConnection,
    user_id: Uuid,
    after: Option<Cursor>,
    limit: i64,
) -> QueryResult<Vec<AuditRow>> {
    older_than(security_events(user_id), after, limit)
        .select(AuditRow::as_select())
        .load(conn)
        .await
}

/// How many security events the person has.
pub async fn security_count(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<i64> {
    security_events(user_id).count().get_result(conn).await
}

/// Declares the transaction an audit maintenance (the database lets only such a
/// transaction change or remove entries).
async fn declare_maintenance(conn: &mut AsyncPgConnection) -> QueryResult<()> {
    diesel::sql_query("SELECT set_config('guildhall.audit_maintenance', 'on', true)")
        .execute(conn)
        .await
        .map(|_| ())
}

/// Makes a deleted person's entries anonymous: no actor, address or device (call inside
/// the deletion's transaction).
pub async fn pseudonymise(conn: &mut AsyncPgConnection, user_id: Uuid) -> QueryResult<()> {
    declare_maintenance(conn).await?;
    diesel::update(audit_log::table.filter(audit_log::actor_id.eq(user_id)))
        .set((
            audit_log::actor_id.eq(None::<Uuid>),
            audit_log::actor_deleted.eq(true),
            audit_log::ip.eq(None::<String>),
            audit_log::user_agent.eq(None::<String>),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Removes at most `batch` entries written before `cutoff` (call inside a transaction);
/// answers how many went.
pub async fn purge_before(
    conn: &mut AsyncPgConnection,
    cutoff: DateTime<Utc>,
    batch: i64,
) -> QueryResult<usize> {
    declare_maintenance(conn).await?;
    let doomed: Vec<uuid::Uuid> = audit_log::table
        .filter(audit_log::created_at.lt(cutoff))
        .select(audit_log::id)
        .limit(batch)
        .load(conn)
        .await?;
    diesel::delete(audit_log::table.filter(audit_log::id.eq_any(doomed)))
        .execute(conn)
        .await
}
