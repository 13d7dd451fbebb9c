//! Sends webhook deliveries. Every instance runs `WEBHOOK_CONCURRENCY` senders; each
//! claims one endpoint with a delivery due (`FOR UPDATE SKIP LOCKED`, marking it busy for
//! a while, so one delivery per endpoint is in flight and instances never collide), sends
//! its earliest due delivery in event order, and records the answer. A sender that dies
//! mid-delivery leaves the delivery pending: once the endpoint's busy mark lapses, it is
//! sent again with the same `webhook-id` (at least once; receivers skip repeats by id).

use std::time::Duration;

use chrono::{DateTime, Utc};
use futures_util::FutureExt;
use rand::Rng;
use reqwest::header::{CONTENT_TYPE, HeaderValue, RETRY_AFTER, USER_AGENT};
use reqwest::{Client, Response, StatusCode, redirect};
use serde_json::json;
use tokio::sync::watch;
use tokio::task::{JoinHandle, JoinSet};

use super::endpoint::{self, GuardedResolver};
use super::model::{DeliveryRow, DeliveryStatus};
use super::payload;
use super::signature;
use super::store::{self, Attempt, ClaimedEndpoint};
use crate::app::App;
use crate::companies::store as company_store;
use crate::db::scope::{Crossing, Scope};
use crate::db::tx::{self, Touches, Work};
use crate::error::{AppError, AppResult};
use crate::events::access::revealed_by;
use crate::events::verb::Verb;
use crate::events::write::{self, Activity};
use crate::rbac::standing::role_permissions;

/// Bytes of an endpoint's answer read before the connection is let go.
const RESPONSE_BYTES: usize = 1024;
/// Longest wait a `Retry-After` answer can ask for.
const LONGEST_RETRY_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// Most deliveries one claim sends before the endpoint is let go, so other endpoints
/// waiting for a sender get their turn.
const DELIVERIES_PER_CLAIM: usize = 200;
/// Deliveries read from the outbox, and their attempts recorded, at once.
const BATCH: i64 = 50;
/// How long a sender woken by a commit waits before it claims: the deliveries of the
/// commits that follow in that moment go out under the same claim, so a busy company's
/// stream of events costs one claim per batch, not one per event.
const GATHER: Duration = Duration::from_millis(50);
/// Finished deliveries removed per statement by the retention purge.
const PURGE_BATCH: i64 = 1000;
/// How often the retention purge runs.
const PURGE_EVERY: Duration = Duration::from_secs(60 * 60);

/// Starts the senders and the retention purge; they stop when `shutdown` turns true
/// (a delivery in flight is finished first).
pub fn spawn(app: App, shutdown: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(async move {
        let client = match delivery_client(&app) {
            Ok(client) => client,
            Err(err) => {
                tracing::error!(error = ?err, "webhook deliveries are off: no HTTP client");
                return;
            }
        };
        let mut tasks = JoinSet::new();
        for _ in 0..app.config.webhook_concurrency.max(1) {
            tasks.spawn(send_until_stopped(app.clone(), client.clone(), shutdown.clone()));
        }
        tasks.spawn(purge_until_stopped(app, shutdown));
        while tasks.join_next().await.is_some() {}
    })
}

/// The client every delivery goes through: checked addresses only, no redirects, no
/// proxies from the environment, the configured timeout.
fn delivery_client(app: &App) -> reqwest::Result<Client> {
    let timeout = Duration::from_secs(app.config.webhook_timeout_secs.max(1));
    Client::builder()
        .dns_resolver(std::sync::Arc::new(GuardedResolver {
            allow_private: app.config.allow_private_webhooks,
        }))
        .redirect(redirect::Policy::none())
        .no_proxy()
        .timeout(timeout)
        .connect_timeout(timeout)
        .pool_idle_timeout(Duration::from_secs(30))
        .build()
}

async fn send_until_stopped(app: App, client: Client, mut shutdown: watch::Receiver<bool>) {
    let poll = Duration::from_millis(app.config.webhook_poll_ms.max(10));
    loop {
        loop {
            if *shutdown.borrow() {
                return;
            }
            match send_next(&app, &client).await {
                Ok(true) => {}
                Ok(false) => break,
                Err(err) => {
                    tracing::error!(error = ?err, "webhook sender cannot reach the outbox");
                    break;
                }
            }
        }
        tokio::select! {
            () = app.webhooks_due.notified() => tokio::select! {
                () = tokio::time::sleep(GATHER) => {}
                _ = shutdown.changed() => return,
            },
            () = tokio::time::sleep(poll) => {}
            _ = shutdown.changed() => return,
        }
    }
}

async fn purge_until_stopped(app: App, mut shutdown: watch::Receiver<bool>) {
    loop {
        let before =
            app.clock.now() - chrono::Duration::days(i64::from(app.config.webhook_delivery_retention_days));
        loop {
            let purged = tx::read(&app, Scope::Crossing(Crossing::WebhookOutbox), async |conn| {
                Ok(store::purge_finished(conn, before, PURGE_BATCH).await?)
            })
            .await;
            match purged {
                Ok(count) if usize::try_from(PURGE_BATCH).is_ok_and(|batch| count == batch) => {}
                Ok(_) => break,
                Err(err) => {
                    tracing::warn!(error = ?err, "webhook delivery purge failed");
                    break;
                }
            }
        }
        tokio::select! {
            () = tokio::time::sleep(PURGE_EVERY) => {}
            _ = shutdown.changed() => return,
        }
    }
}

/// Claims the endpoint whose delivery has waited longest and sends its due deliveries in
/// event order; true when there was one.
async fn send_next(app: &App, client: &Client) -> AppResult<bool> {
    let now = app.clock.now();
    let claimed = tx::read(app, Scope::Crossing(Crossing::WebhookOutbox), async |conn| {
        Ok(store::claim_due(conn, now, hold_until(app, now)).await?)
    })
    .await?;
    let Some(mut endpoint) = claimed else {
        return Ok(false);
    };
    match send_claimed(app, client, &mut endpoint).await {
        Ok(pause) => {
            release(app, &endpoint, pause).await;
            Ok(true)
        }
        Err(err) => {
            release(app, &endpoint, None).await;
            Err(err)
        }
    }
}

/// How long a claim made at `now` holds an endpoint: long enough for one attempt to
/// finish; a sender gone for longer has died.
fn hold_until(app: &App, now: DateTime<Utc>) -> DateTime<Utc> {
    let hold = app
        .config
        .webhook_timeout_secs
        .saturating_mul(2)
        .saturating_add(5);
    now + chrono::Duration::seconds(i64::try_from(hold).unwrap_or(i64::from(u32::MAX)))
}

/// Sends the claimed endpoint's due deliveries, one at a time in event order, at most
/// [`DELIVERIES_PER_CLAIM`], until one fails; answers until when the endpoint asked to be
/// left alone (`Retry-After`), if it did. Deliveries are read [`BATCH`] at a time and
/// their attempts recorded together: a sender that dies mid-batch leaves them pending, to
/// be sent again with the same ids.
async fn send_claimed(
    app: &App,
    client: &Client,
    endpoint: &mut ClaimedEndpoint,
) -> AppResult<Option<DateTime<Utc>>> {
    // What the endpoint may read and how it signs, once per claim.
    let readable = tx::read(app, Scope::Company(endpoint.company_id), async |conn| {
        let role = company_store::find_role(conn, endpoint.company_id, endpoint.role_id)
            .await?
            .ok_or_else(|| AppError::internal(anyhow::anyhow!("webhook {} has no role", endpoint.id)))?;
        role_permissions(conn, &role).await
    })
    .await?;
    let key = app
        .sealer
        .open(endpoint.id.as_bytes(), &endpoint.secret_sealed)
        .and_then(|secret| signature::secret_key(std::str::from_utf8(&secret).ok()?))
        .ok_or("the signing secret does not open with this server's SECRETS_KEY");
    let mut sent = 0;
    while sent < DELIVERIES_PER_CLAIM {
        let now = app.clock.now();
        let (batch, dropped) = tx::read(app, Scope::Company(endpoint.company_id), async |conn| {
            let batch = store::due_batch(conn, endpoint.id, now, BATCH).await?;
            // A webhook reads with its role company-wide (it holds no project grants).
            let (batch, unreadable): (Vec<_>, Vec<_>) = batch.into_iter().partition(|(_, event, _)| {
                revealed_by(event).is_some_and(|needed| readable.contains(needed))
            });
            let unreadable: Vec<_> = unreadable.iter().map(|(delivery, _, _)| delivery.id).collect();
            store::drop_deliveries(conn, &unreadable).await?;
            Ok((batch, unreadable.len()))
        })
        .await?;
        if batch.is_empty() && dropped == 0 {
            return Ok(None);
        }
        let mut attempts = Vec::with_capacity(batch.len());
        let mut stop = None;
        for (delivery, event, rows) in batch {
            if !keep_claim(app, endpoint).await? {
                stop = Some(Verdict::Failed);
                break;
            }
            let answer = match &key {
                Ok(key) => {
                    send(
                        client,
                        app,
                        endpoint,
                        &delivery,
                        key,
                        payload::body(&event, &rows),
                    )
                    .await
                }
                Err(why) => Answer::Failed((*why).to_owned()),
            };
            sent += 1;
            let (attempt, verdict) = judge(app, &delivery, answer);
            if let Some(error) = &attempt.error {
                tracing::info!(delivery = %delivery.id, webhook = %endpoint.id, status = attempt.status.as_str(), %error, "webhook delivery failed");
            }
            if verdict == Verdict::Gone {
                record_attempts(app, endpoint, &attempts).await?;
                turn_off(app, endpoint, delivery.id, attempt).await?;
                return Ok(None);
            }
            attempts.push((delivery.id, attempt));
            if verdict != Verdict::Delivered {
                stop = Some(verdict);
                break;
            }
        }
        record_attempts(app, endpoint, &attempts).await?;
        match stop {
            None => {}
            Some(Verdict::Paused(until)) => return Ok(Some(until)),
            Some(_) => return Ok(None),
        }
    }
    Ok(None)
}

/// Keeps the claim on the endpoint long enough for one more attempt; false when it
/// lapsed and another sender took the endpoint.
async fn keep_claim(app: &App, endpoint: &mut ClaimedEndpoint) -> AppResult<bool> {
    let now = app.clock.now();
    let timeout = chrono::Duration::seconds(i64::try_from(app.config.webhook_timeout_secs).unwrap_or(300));
    if endpoint.busy_until >= now + timeout + chrono::Duration::seconds(5) {
        return Ok(true);
    }
    let until = hold_until(app, now);
    tx::read(app, Scope::Company(endpoint.company_id), async |conn| {
        Ok(store::extend_claim(conn, endpoint, until).await?)
    })
    .await
}

async fn record_attempts(
    app: &App,
    endpoint: &ClaimedEndpoint,
    attempts: &[(uuid::Uuid, Attempt)],
) -> AppResult<()> {
    if !attempts.is_empty() {
        tx::read(app, Scope::Company(endpoint.company_id), async |conn| {
            Ok(store::record_attempts(conn, attempts).await?)
        })
        .await?;
    }
    Ok(())
}

/// What an endpoint answered, or why no answer came.
enum Answer {
    Status {
        code: StatusCode,
        retry_after: Option<Duration>,
    },
    Failed(String),
}

/// One signed attempt.
async fn send(
    client: &Client,
    app: &App,
    endpoint: &ClaimedEndpoint,
    delivery: &DeliveryRow,
    key: &[u8],
    body: Vec<u8>,
) -> Answer {
    // Checked again before each attempt: literal addresses never reach the resolver.
    let url = match endpoint::parse(&endpoint.url, app.config.allow_private_webhooks) {
        Ok(url) => url,
        Err(err) => return Answer::Failed(err.message),
    };
    let message_id = delivery.message_id();
    // Receivers compare this with their own clock, so it is the real time of the attempt.
    let timestamp = chrono::Utc::now().timestamp();
    let signed = signature::sign(key, &message_id, timestamp, &body);
    let sent = client
        .post(url)
        .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .header(
            USER_AGENT,
            HeaderValue::from_static(concat!("Guildhall-Webhooks/", env!("CARGO_PKG_VERSION"))),
        )
        .header("webhook-id", message_id)
        .header("webhook-timestamp", timestamp.to_string())
        .header("webhook-signature", signed)
        .body(body)
        .send()
        .await;
    match sent {
        Ok(response) => {
            let code = response.status();
            let retry_after = retry_after(&response);
            drain(response).await;
            Answer::Status { code, retry_after }
        }
        Err(err) => Answer::Failed(describe(&err, app.config.webhook_timeout_secs)),
    }
}

/// Reads a little of the answer (so a short one leaves the connection reusable) and no more.
async fn drain(mut response: Response) {
    let mut read = 0;
    while read < RESPONSE_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => read += chunk.len(),
            _ => break,
        }
    }
}

/// How long a `Retry-After` header asks to wait (seconds or an HTTP date), at most a day.
fn retry_after(response: &Response) -> Option<Duration> {
    let value = response.headers().get(RETRY_AFTER)?.to_str().ok()?.trim();
    let wait = match value.parse::<u64>() {
        Ok(seconds) => Duration::from_secs(seconds),
        Err(_) => {
            let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
            (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
                .to_std()
                .unwrap_or_default()
        }
    };
    Some(wait.min(LONGEST_RETRY_AFTER))
}

/// Why an attempt got no answer, without the URL (its path may hold the receiver's token).
fn describe(err: &reqwest::Error, timeout_secs: u64) -> String {
    if err.is_timeout() {
        return format!("no answer within {timeout_secs} s");
    }
    let mut cause: &dyn std::error::Error = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if err.is_connect() {
        format!("could not connect: {cause}")
    } else {
        format!("the request failed: {cause}")
    }
}

/// The wait before attempt number `attempts + 1`, from `WEBHOOK_RETRY_SCHEDULE` with up to
/// a tenth either way so failing endpoints are not all retried at once (a `Retry-After`
/// answer replaces it); None when every attempt is spent.
fn next_wait(schedule: &[Duration], attempts: i32, retry_after: Option<Duration>) -> Option<Duration> {
    let step = usize::try_from(attempts).ok()?.checked_sub(1)?;
    let scheduled = *schedule.get(step)?;
    Some(retry_after.unwrap_or_else(|| {
        let spread = rand::rng().random_range(0.9..=1.1);
        scheduled.mul_f64(spread)
    }))
}

/// What an attempt means for the rest of the claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// Delivered: the next one may go.
    Delivered,
    /// It failed (it waits for its retry, or is FAILED): the endpoint is let go.
    Failed,
    /// The endpoint asked to be left alone until then.
    Paused(DateTime<Utc>),
    /// The endpoint said it is gone (410): it is turned off.
    Gone,
}

/// What `answer` means for `delivery`: its attempt as recorded, and for the claim.
fn judge(app: &App, delivery: &DeliveryRow, answer: Answer) -> (Attempt, Verdict) {
    let now = app.clock.now();
    let attempts = delivery.attempts + 1;
    let (response_status, error, retry_after) = match answer {
        Answer::Status { code, retry_after } => (
            Some(i32::from(code.as_u16())),
            (!code.is_success()).then(|| format!("the endpoint answered {code}")),
            retry_after,
        ),
        Answer::Failed(why) => (None, Some(why), None),
    };
    let gone = response_status == Some(i32::from(StatusCode::GONE.as_u16()));
    let (status, next_attempt_at) = if error.is_none() {
        (DeliveryStatus::Delivered, None)
    } else if gone {
        (DeliveryStatus::Failed, None)
    } else {
        match next_wait(&app.config.webhook_retry_schedule, attempts, retry_after) {
            Some(wait) => (
                DeliveryStatus::Pending,
                Some(now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::days(1))),
            ),
            None => (DeliveryStatus::Failed, None),
        }
    };
    let verdict = match (&error, retry_after.and(next_attempt_at)) {
        (None, _) => Verdict::Delivered,
        _ if gone => Verdict::Gone,
        // An endpoint that asked to be left alone is: its other deliveries wait too.
        (Some(_), Some(until)) => Verdict::Paused(until),
        (Some(_), None) => Verdict::Failed,
    };
    let attempt = Attempt {
        status,
        response_status,
        error,
        at: now,
        next_attempt_at,
    };
    (attempt, verdict)
}

/// Records a 410 answer and turns the endpoint off, with its event, in one transaction.
async fn turn_off(
    app: &App,
    endpoint: &ClaimedEndpoint,
    delivery_id: uuid::Uuid,
    attempt: Attempt,
) -> AppResult<()> {
    tx::transaction(
        app,
        Scope::Company(endpoint.company_id),
        Touches::ROWS,
        |Work { conn, now, .. }| {
            async move {
                // Turning the endpoint off records an event: the stream lock comes first, as
                // for every event writer.
                write::lock_stream(conn, endpoint.company_id).await?;
                store::record_attempt(conn, delivery_id, &attempt).await?;
                if store::disable(conn, endpoint.id, "the endpoint answered 410 Gone", now).await? {
                    let activity = Activity::new(
                        endpoint.company_id,
                        None,
                        Verb::WebhookDisabled,
                        ("webhook", endpoint.id),
                        "Webhook turned off: its endpoint answered 410 Gone",
                    )
                    .data(json!({ "responseStatus": 410 }));
                    write::record(conn, now, activity).await?;
                }
                Ok(())
            }
            .boxed()
        },
    )
    .await
}

/// Ends the claim on an endpoint (`until`: left alone until then).
async fn release(app: &App, endpoint: &ClaimedEndpoint, until: Option<DateTime<Utc>>) {
    let released = tx::read(app, Scope::Company(endpoint.company_id), async |conn| {
        Ok(store::release(conn, endpoint, until).await?)
    })
    .await;
    if let Err(err) = released {
        tracing::warn!(error = ?err, webhook = %endpoint.id, "cannot free a webhook endpoint");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_follow_the_schedule_then_stop() {
        let schedule = [Duration::from_secs(5), Duration::from_secs(300)];
        let first = next_wait(&schedule, 1, None).unwrap();
        assert!((4500..=5500).contains(&first.as_millis()), "{first:?}");
        let second = next_wait(&schedule, 2, None).unwrap();
        assert!((270..=330).contains(&second.as_secs()), "{second:?}");
        assert_eq!(next_wait(&schedule, 3, None), None);
        assert_eq!(
            next_wait(&schedule, 1, Some(Duration::from_secs(60))),
            Some(Duration::from_secs(60))
        );
        assert_eq!(next_wait(&schedule, 3, Some(Duration::from_secs(60))), None);
    }
}
