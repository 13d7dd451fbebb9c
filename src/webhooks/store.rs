//! SQL for webhooks and their deliveries. Webhooks are reached through their company;
//! deliveries are written by the outbox trigger, claimed one per endpoint at a time, and
//! finished with what the endpoint answered.

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Array, Int4, Nullable, Text, Timestamptz, Uuid as SqlUuid};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use uuid::Uuid;

use super::model::{DeliveryRow, DeliveryStatus, NewWebhook, WebhookRow};
use crate::db::schema::{activity_events, webhook_deliveries, webhooks};
use crate::events::model::EventRow;
use crate::pagination::Cursor;

/// Stores a new webhook.
pub async fn insert(conn: &mut AsyncPgConnection, webhook: &NewWebhook<'_>) -> QueryResult<WebhookRow> {
    diesel::insert_into(webhooks::table)
        .values(webhook)
        .returning(WebhookRow::as_returning())
        .get_result(conn)
        .await
}

/// The company a webhook belongs to (for a caller who names it by id alone).
pub async fn company_of(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Uuid>> {
    webhooks::table
        .filter(webhooks::id.eq(id))
        .select(webhooks::company_id)
        .first(conn)
        .await
        .optional()
}

/// A webhook of the company, row-locked for a change (`FOR NO KEY UPDATE`: event writers
/// queuing deliveries for it are not held up). Take the company's event stream lock
/// first, as event writers do, so the two never wait on each other in a cycle.
pub async fn lock_in_company(
    conn: &mut AsyncPgConnection,
    company_id: Uuid,
    id: Uuid,
) -> QueryResult<Option<WebhookRow>> {
    webhooks::table
        .filter(webhooks::id.eq(id))
        .filter(webhooks::company_id.eq(company_id))
        .select(WebhookRow::as_select())
        .for_no_key_update()
        .first(conn)
        .await
        .optional()
}

/// The company's webhooks, oldest first.
pub async fn list(conn: &mut AsyncPgConnection, company_id: Uuid) -> QueryResult<Vec<WebhookRow>> {
    webhooks::table
        .filter(webhooks::company_id.eq(company_id))
        .order((webhooks::created_at, webhooks::id))
        .select(WebhookRow::as_select())
        .load(conn)
        .await
}

/// How many webhooks the company holds.
pub async fn count(conn: &mut AsyncPgConnection, company_id: Uuid) -> QueryResult<i64> {
    webhooks::table
        .filter(webhooks::company_id.eq(company_id))
        .count()
        .get_result(conn)
        .await
}

/// How many webhooks act with the role (a role in use cannot be deleted).
pub async fn count_with_role(conn: &mut AsyncPgConnection, role_id: Uuid) -> QueryResult<i64> {
    webhooks::table
        .filter(webhooks::role_id.eq(role_id))
        .count()
        .get_result(conn)
        .await
}

/// A change to a webhook's endpoint, events or switch.
#[derive(Debug, AsChangeset)]
#[diesel(table_name = webhooks)]
pub struct WebhookChange<'a> {
    pub url: Option<&'a str>,
    pub events: Option<&'a [String]>,
    pub active: Option<bool>,
    /// Some(None) clears the reason the server turned it off (it was turned back on).
    pub disabled_reason: Option<Option<&'a str>>,
    pub updated_at: DateTime<Utc>,
}

/// Applies `change` to the webhook.
pub async fn update(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    change: &WebhookChange<'_>,
) -> QueryResult<WebhookRow> {
    diesel::update(webhooks::table.find(id))
        .set(change)
        .returning(WebhookRow::as_returning())
        .get_result(conn)
        .await
}

/// Deletes the webhook and its deliveries.
pub async fn delete(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<()> {
    diesel::delete(webhooks::table.find(id))
        .execute(conn)
        .await
        .map(|_| ())
}

/// One page of the webhook's deliveries, newest first.
pub async fn deliveries_page(
    conn: &mut AsyncPgConnection,
    webhook_id: Uuid,
    after: Option<Cursor>,
    limit: i64,
) -> QueryResult<Vec<DeliveryRow>> {
    let mut query = webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .into_boxed();
    if let Some(Cursor { at, id }) = after {
        query = query.filter(
            webhook_deliveries::created_at
                .lt(at)
                .or(webhook_deliveries::created_at
                    .eq(at)
                    .and(webhook_deliveries::id.lt(id))),
        );
    }
    query
        .order((
            webhook_deliveries::created_at.desc(),
            webhook_deliveries::id.desc(),
        ))
        .limit(limit)
        .select(DeliveryRow::as_select())
        .load(conn)
        .await
}

/// How many deliveries the webhook has.
pub async fn delivery_count(conn: &mut AsyncPgConnection, webhook_id: Uuid) -> QueryResult<i64> {
    webhook_deliveries::table
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .count()
        .get_result(conn)
        .await
}

/// How many deliveries wait (pending, due or retrying), and when the oldest was queued:
/// the webhook outbox's backlog, for the metrics.
pub async fn backlog(conn: &mut AsyncPgConnection) -> QueryResult<(i64, Option<DateTime<Utc>>)> {
    webhook_deliveries::table
        .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()))
        .select((
            diesel::dsl::count_star(),
            diesel::dsl::min(webhook_deliveries::created_at),
        ))
        .get_result(conn)
        .await
}

/// The webhook a delivery belongs to (for a caller who names the delivery by id alone).
pub async fn webhook_of_delivery(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<Uuid>> {
    webhook_deliveries::table
        .filter(webhook_deliveries::id.eq(id))
        .select(webhook_deliveries::webhook_id)
        .first(conn)
        .await
        .optional()
}

/// A delivery, row-locked for a change.
pub async fn lock_delivery(conn: &mut AsyncPgConnection, id: Uuid) -> QueryResult<Option<DeliveryRow>> {
    webhook_deliveries::table
        .find(id)
        .select(DeliveryRow::as_select())
        .for_no_key_update()
        .first(conn)
        .await
        .optional()
}

/// Puts a finished delivery back in line to be sent now, as if new: no attempts, no answer.
pub async fn requeue(conn: &mut AsyncPgConnection, id: Uuid, now: DateTime<Utc>) -> QueryResult<DeliveryRow> {
    diesel::update(webhook_deliveries::table.find(id))
        .set((
            webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()),
            webhook_deliveries::attempts.eq(0),
            webhook_deliveries::response_status.eq(None::<i32>),
            webhook_deliveries::last_error.eq(None::<String>),
            webhook_deliveries::last_attempt_at.eq(None::<DateTime<Utc>>),
            webhook_deliveries::next_attempt_at.eq(Some(now)),
        ))
        .returning(DeliveryRow::as_returning())
        .get_result(conn)
        .await
}

/// Holds back an endpoint's pending deliveries while it is off: without a next attempt,
/// senders never look at them.
pub async fn hold_pending(conn: &mut AsyncPgConnection, webhook_id: Uuid) -> QueryResult<()> {
    diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::webhook_id.eq(webhook_id))
            .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str())),
    )
    .set(webhook_deliveries::next_attempt_at.eq(None::<DateTime<Utc>>))
    .execute(conn)
    .await
    .map(|_| ())
}

/// Makes an endpoint's held-back deliveries due at `now` (it was turned on again).
pub async fn resume_pending(
    conn: &mut AsyncPgConnection,
    webhook_id: Uuid,
    now: DateTime<Utc>,
) -> QueryResult<()> {
    diesel::update(
        webhook_deliveries::table
            .filter(webhook_deliveries::webhook_id.eq(webhook_id))
            .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()))
            .filter(webhook_deliveries::next_attempt_at.is_null()),
    )
    .set(webhook_deliveries::next_attempt_at.eq(Some(now)))
    .execute(conn)
    .await
    .map(|_| ())
}

/// What a sender needs of the endpoint it claimed, and its claim: the token naming it and
/// until when it holds.
#[derive(Debug, Clone, QueryableByName)]
#[diesel(table_name = webhooks)]
pub struct ClaimedEndpoint {
    pub id: Uuid,
    pub company_id: Uuid,
    pub role_id: Uuid,
    pub url: String,
    pub secret_sealed: Vec<u8>,
    pub busy_token: Option<Uuid>,
    #[diesel(sql_type = Timestamptz)]
    pub busy_until: DateTime<Utc>,
}

/// Claims the active endpoint, with no delivery in flight, whose delivery has waited
/// longest (`SKIP LOCKED`: instances never claim the same one, and busy endpoints are
/// passed over), marking it busy until `busy_until` under a new token.
pub async fn claim_due(
    conn: &mut AsyncPgConnection,
    now: DateTime<Utc>,
    busy_until: DateTime<Utc>,
) -> QueryResult<Option<ClaimedEndpoint>> {
    diesel::sql_query(
        "UPDATE webhooks SET busy_until = $2, busy_token = gen_random_uuid() \
         WHERE id = ( \
             SELECT w.id FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id \
             WHERE d.status = 'PENDING' AND d.next_attempt_at <= $1 \
               AND w.active AND (w.busy_until IS NULL OR w.busy_until <= $1) \
             ORDER BY d.next_attempt_at \
             LIMIT 1 FOR NO KEY UPDATE OF w SKIP LOCKED \
         ) \
         RETURNING id, company_id, role_id, url, secret_sealed, busy_token, busy_until",
    )
    .bind::<Timestamptz, _>(now)
    .bind::<Timestamptz, _>(busy_until)
    .get_result(conn)
    .await
    .optional()
}

/// Holds a claim longer; false when it lapsed and another sender took the endpoint.
pub async fn extend_claim(
    conn: &mut AsyncPgConnection,
    claimed: &mut ClaimedEndpoint,
    busy_until: DateTime<Utc>,
) -> QueryResult<bool> {
    let held = diesel::update(
        webhooks::table
            .find(claimed.id)
            .filter(webhooks::busy_token.is_not_distinct_from(claimed.busy_token)),
    )
    .set(webhooks::busy_until.eq(Some(busy_until)))
    .execute(conn)
    .await?
        > 0;
    if held {
        claimed.busy_until = busy_until;
    }
    Ok(held)
}

/// A due delivery with its event and the rows the event touched (in id order; none for
/// events about anything but rows).
pub type DueDelivery = (DeliveryRow, EventRow, Vec<Uuid>);

/// The endpoint's earliest `limit` due deliveries in event order, each with its event.
pub async fn due_batch(
    conn: &mut AsyncPgConnection,
    webhook_id: Uuid,
    now: DateTime<Utc>,
    limit: i64,
) -> QueryResult<Vec<DueDelivery>> {
    let touched = diesel::dsl::sql::<Array<SqlUuid>>(
        "ARRAY(SELECT r.row_id FROM row_changes r \
         WHERE r.event_seq = activity_events.seq ORDER BY r.row_id)",
    );
    webhook_deliveries::table
        .inner_join(activity_events::table.on(activity_events::id.eq(webhook_deliveries::event_id)))
        .filter(webhook_deliveries::webhook_id.eq(webhook_id))
        .filter(webhook_deliveries::status.eq(DeliveryStatus::Pending.as_str()))
        .filter(webhook_deliveries::next_attempt_at.le(now))
        .order(activity_events::seq)
        .limit(limit)
        .select((DeliveryRow::as_select(), EventRow::as_select(), touched))
        .load(conn)
        .await
}

/// Ends a claim on an endpoint: free at once, or (`until`, after a `Retry-After`) left
/// alone until then. A claim that lapsed and was taken by another sender is not touched.
pub async fn release(
    conn: &mut AsyncPgConnection,
    claimed: &ClaimedEndpoint,
    until: Option<DateTime<Utc>>,
) -> QueryResult<()> {
    diesel::update(
        webhooks::table
            .find(claimed.id)
            .filter(webhooks::busy_token.is_not_distinct_from(claimed.busy_token)),
    )
    .set((
        webhooks::busy_until.eq(until),
        webhooks::busy_token.eq(None::<Uuid>),
    ))
    .execute(conn)
    .await
    .map(|_| ())
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct Attempt {
    pub status: DeliveryStatus,
    pub response_status: Option<i32>,
    pub error: Option<String>,
    pub at: DateTime<Utc>,
    /// When to try again (pending deliveries only).
    pub next_attempt_at: Option<DateTime<Utc>>,
}

/// Records an attempt on a delivery still pending; answers whether it was recorded.
pub async fn record_attempt(conn: &mut AsyncPgConnection, id: Uuid, attempt: &Attempt) -> QueryResult<bool> {
    record_attempts(conn, &[(id, attempt.clone())])
        .await
        .map(|recorded| recorded > 0)
}

/// Records attempts on deliveries still pending, in one statement; answers how many were.
pub async fn record_attempts(
    conn: &mut AsyncPgConnection,
    attempts: &[(Uuid, Attempt)],
) -> QueryResult<usize> {
    if attempts.is_empty() {
        return Ok(0);
    }
    let ids: Vec<Uuid> = attempts.iter().map(|(id, _)| *id).collect();
    let statuses: Vec<&str> = attempts.iter().map(|(_, a)| a.status.as_str()).collect();
    let responses: Vec<Option<i32>> = attempts.iter().map(|(_, a)| a.response_status).collect();
    let errors: Vec<Option<&str>> = attempts.iter().map(|(_, a)| a.error.as_deref()).collect();
    let times: Vec<DateTime<Utc>> = attempts.iter().map(|(_, a)| a.at).collect();
    let next: Vec<Option<DateTime<Utc>>> = attempts.iter().map(|(_, a)| a.next_attempt_at).collect();
    diesel::sql_query(
        "UPDATE webhook_deliveries d SET status = a.status, attempts = d.attempts + 1, \
             response_status = a.response_status, last_error = a.error, \
             last_attempt_at = a.at, next_attempt_at = a.next \
         FROM unnest($1::uuid[], $2::text[], $3::int4[], $4::text[], $5::timestamptz[], $6::timestamptz[]) \
             AS a(id, status, response_status, error, at, next) \
         WHERE d.id = a.id AND d.status = 'PENDING'",
    )
    .bind::<Array<SqlUuid>, _>(&ids)
    .bind::<Array<Text>, _>(&statuses)
    .bind::<Array<Nullable<Int4>>, _>(&responses)
    .bind::<Array<Nullable<Text>>, _>(&errors)
    .bind::<Array<Timestamptz>, _>(&times)
    .bind::<Array<Nullable<Timestamptz>>, _>(&next)
    .execute(conn)
    .await
}

/// Drops deliveries the endpoint's role may not read (they were never sent).
pub async fn drop_deliveries(conn: &mut AsyncPgConnection, ids: &[Uuid]) -> QueryResult<()> {
    if ids.is_empty() {
        return Ok(());
    }
    diesel::delete(webhook_deliveries::table.filter(webhook_deliveries::id.eq_any(ids)))
        .execute(conn)
        .await
        .map(|_| ())
}

/// Turns an endpoint off for `reason` (it said it is gone); true when it was on. Its other
/// pending deliveries are held back until it is turned on again.
pub async fn disable(
    conn: &mut AsyncPgConnection,
    id: Uuid,
    reason: &str,
    now: DateTime<Utc>,
) -> QueryResult<bool> {
    let turned_off = diesel::update(webhooks::table.find(id).filter(webhooks::active))
        .set((
            webhooks::active.eq(false),
            webhooks::disabled_reason.eq(Some(reason)),
            webhooks::updated_at.eq(now),
        ))
        .execute(conn)
        .await?
        > 0;
    if turned_off {
        hold_pending(conn, id).await?;
    }
    Ok(turned_off)
}

/// Removes up to `batch` finished deliveries whose last attempt was before `before`;
/// answers how many.
pub async fn purge_finished(
    conn: &mut AsyncPgConnection,
    before: DateTime<Utc>,
    batch: i64,
) -> QueryResult<usize> {
    diesel::sql_query(
        "DELETE FROM webhook_deliveries WHERE id IN ( \
             SELECT id FROM webhook_deliveries \
             WHERE status <> 'PENDING' AND last_attempt_at < $1 LIMIT $2 \
         )",
    )
    .bind::<Timestamptz, _>(before)
    .bind::<diesel::sql_types::BigInt, _>(batch)
    .execute(conn)
    .await
}
