//! SQL for invitations. By-id reads go through the caller's membership of the company.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::prelude::*;
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{InvitationRow, InvitationState, NewInvitation};
use crate::auth::caller::Actor;
use crate::companies::store::reached_by;
use crate::db::schema::invitations;
use crate::pagination::{Cursor, PageRequest};

/// Stores an invitation.
pub async fn insert(
    conn: &mut AsyncPgConnection,
    invitation: &NewInvitation<'_>,
) -> QueryResult<InvitationRow> {
    diesel::insert_into(invitations::table)
        .values(invitation)
        .returning(InvitationRow::as_returning())
        .get_result(conn)
        .await
}

/// Retires the open invitations of `email` to the company before a new one is sent: a
/// pending one is revoked (its link dies), an expired one is marked replaced and stays
/// EXPIRED in the history.
pub async fn retire_open(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    email: &str,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    let open = invitations::table
        .filter(invitations::company_id.eq(company_id))
        .filter(invitations::email.eq(email))
        .filter(invitations::accepted_at.is_null())
        .filter(invitations::revoked_at.is_null())
        .filter(invitations::replaced_at.is_null());
    diesel::update(open.filter(invitations::expires_at.gt(now)))
        .set(invitations::revoked_at.eq(now))
        .execute(conn)
        .await?;
    diesel::update(open.filter(invitations::expires_at.le(now)))
        .set(invitations::replaced_at.eq(now))
        .execute(conn)
        .await
        .map(|_| ())
}

/// The invitation a token opens; `lock` takes a row lock for accepting it.
pub async fn find_by_token(
    conn: &mut AsyncPgConnection,
    hash: &[u8],
    lock: bool,
) -> QueryResult<Option<InvitationRow>> {
    let query = invitations::table
        .filter(invitations::token_hash.eq(hash))
        .select(InvitationRow::as_select());
    if lock {
        query.for_update().first(conn).await.optional()
    } else {
        query.first(conn).await.optional()
    }
}

/// The invitation, if `user_id` belongs to its company.
pub async fn find_for(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    actor: Actor,
) -> QueryResult<Option<InvitationRow>> {
    invitations::table
        .filter(invitations::id.eq(id))
        .filter(reached_by(actor, invitations::company_id))
        .select(InvitationRow::as_select())
        .for_update()
        .first(conn)
        .await
        .optional()
}

fn filtered<'a>(
    company_id: Uuid,
    state: Option<InvitationState>,
    now: DateTime<Utc>,
) -> invitations::BoxedQuery<'a, Pg> {
    let query = invitations::table
        .filter(invitations::company_id.eq(company_id))
        .into_boxed();
    let open = invitations::accepted_at
        .is_null()
        .and(invitations::revoked_at.is_null());
    match state {
        None => query,
        Some(InvitationState::Accepted) => query.filter(invitations::accepted_at.is_not_null()),
        Some(InvitationState::Revoked) => query
            .filter(invitations::revoked_at.is_not_null())
            .filter(invitations::accepted_at.is_null()),
        Some(InvitationState::Pending) => query.filter(open).filter(invitations::expires_at.gt(now)),
        Some(InvitationState::Expired) => query.filter(open).filter(invitations::expires_at.le(now)),
    }
}

/// One page of the company's invitations, newest first.
pub async fn list(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    state: Option<InvitationState>,
    page: PageRequest,
    now: DateTime<Utc>,
) -> QueryResult<Vec<InvitationRow>> {
    let mut query = filtered(company_id, state, now);
    if let Some(Cursor { at, id }) = page.after {
        query = query.filter(
            invitations::created_at
                .lt(at)
                .or(invitations::created_at.eq(at).and(invitations::id.lt(id))),
        );
    }
    query
        .order((invitations::created_at.desc(), invitations::id.desc()))
        .limit(page.limit())
        .select(InvitationRow::as_select())
        .load(conn)
        .await
}

/// How many of the company's invitations are in `state`.
pub async fn count(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    state: Option<InvitationState>,
    now: DateTime<Utc>,
) -> QueryResult<i64> {
    filtered(company_id, state, now).count().get_result(conn).await
}

/// Gives the invitation a new token and expiry (the old link dies).
pub async fn reissue(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    hash: &[u8],
    expires_at: DateTime<Utc>,
) -> QueryResult<InvitationRow> {
    diesel::update(invitations::table.find(id))
        .set((
            invitations::token_hash.eq(hash),
            invitations::expires_at.eq(expires_at),
        ))
        .returning(InvitationRow::as_returning())
        .get_result(conn)
        .await
}

/// Revokes one invitation.
pub async fn revoke(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<InvitationRow> {
    diesel::update(invitations::table.find(id))
        .set(invitations::revoked_at.eq(now))
        .returning(InvitationRow::as_returning())
        .get_result(conn)
        .await
}

/// Marks an invitation accepted by `user_id`.
pub async fn accept(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    user_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(invitations::table.find(id))
        .set((
            invitations::accepted_at.eq(now),
            invitations::accepted_by.eq(user_id),
        ))
        .execute(conn)
        .await
        .map(|_| ())
}
