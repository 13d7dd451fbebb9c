//! The LISTEN side of the fan-out: one dedicated connection (outside the pool) receives
//! what every instance's commits announce, loads each announced row once (those that
//! arrived together in one read), and hands it to the local hub. When the connection drops it reconnects with backoff and then catches up
//! every followed topic from the tables, so an outage delays events but loses none.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::{FutureExt, StreamExt};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::hub::{LiveEvent, Published, Topic};
use super::model::{EventRow, NotificationRow, RowChangeRow};
use super::store;
use super::verb::Verb;
use super::write::{CHANNEL, COMPANY_DELETED, WEBHOOKS_DUE};
use crate::app::App;
use crate::db::scope::{Crossing, Scope};
use crate::db::tx;
use crate::error::AppResult;
use crate::rbac::standing;

/// Longest wait between reconnection attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Rows read per catch-up query.
const CATCH_UP_BATCH: i64 = 500;
/// Most announcements handled together (those already arrived when the first is read).
const LISTEN_BATCH: usize = 256;

/// Starts the listener; it stops when `stop` turns true.
pub fn spawn(app: App, stop: watch::Receiver<bool>) -> JoinHandle<()> {
    tokio::spawn(run(app, stop))
}

async fn run(app: App, mut stop: watch::Receiver<bool>) {
    let mut backoff = Duration::from_millis(100);
    let mut reconnecting = false;
    'run: loop {
        match listen(&app).await {
            Ok(mut conn) => {
                if reconnecting {
                    tracing::info!("event listener reconnected; catching up");
                }
                // Standing changes announced while nobody listened went unheard: forgotten
                // before the events committed after them are published.
                app.forget_standing();
                // Also on the first connection: subscribers may have opened before it.
                if let Err(err) = catch_up(&app).await {
                    tracing::warn!(error = ?err, "event catch-up failed; reconnecting");
                    reconnecting = true;
                    tokio::select! {
                        () = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => break 'run,
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                    continue;
                }
                backoff = Duration::from_millis(100);
                app.hub.set_listening(true);
                let mut notifications = std::pin::pin!(conn.notifications_stream());
                loop {
                    tokio::select! {
                        notification = notifications.next() => match notification {
                            Some(Ok(notification)) => {
                                // Whatever else has arrived is handled with it, in order,
                                // with one read for all its events.
                                let mut payloads = vec![notification.payload];
                                let mut ended = None;
                                while payloads.len() < LISTEN_BATCH && ended.is_none() {
                                    match notifications.next().now_or_never() {
                                        Some(Some(Ok(more))) => payloads.push(more.payload),
                                        Some(Some(Err(err))) => ended = Some(err.to_string()),
                                        Some(None) => ended = Some("closed".to_owned()),
                                        None => break,
                                    }
                                }
                                deliver(&app, &payloads).await;
                                if let Some(reason) = ended {
                                    tracing::warn!(reason, "event listener connection ended");
                                    break;
                                }
                            }
                            Some(Err(err)) => {
                                tracing::warn!(error = %err, "event listener connection failed");
                                break;
                            }
                            None => {
                                tracing::warn!("event listener connection closed");
                                break;
                            }
                        },
                        _ = stop.changed() => break 'run,
                    }
                }
            }
            Err(err) => tracing::warn!(error = ?err, "event listener cannot connect"),
        }
        app.hub.set_listening(false);
        reconnecting = true;
        tokio::select! {
            () = tokio::time::sleep(backoff) => {}
            _ = stop.changed() => break 'run,
        }
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    // Nobody hears announcements any more: nothing they could change may be trusted.
    app.hub.set_listening(false);
}

async fn listen(app: &App) -> AppResult<AsyncPgConnection> {
    let url = crate::db::roles::listen_url(&app.config).map_err(crate::error::AppError::internal)?;
    let mut conn = AsyncPgConnection::establish(&url)
        .await
        .map_err(|err| crate::error::AppError::internal(anyhow::anyhow!("{err}")))?;
    diesel::sql_query(format!("LISTEN {CHANNEL}"))
        .execute(&mut conn)
        .await?;
    Ok(conn)
}

/// Parses `a:<company>:<seq>` or `n:<user>:<seq>`.
fn parse(payload: &str) -> Option<(Topic, i64)> {
    let mut parts = payload.splitn(3, ':');
    let kind = parts.next()?;
    let id = Uuid::parse_str(parts.next()?).ok()?;
    let seq = parts.next()?.parse().ok()?;
    match kind {
        "a" => Some((Topic::Company(id), seq)),
        "n" => Some((Topic::User(id), seq)),
        _ => None,
    }
}

/// Applies announcements in the order they were committed: forgets members' standing when
/// a commit changed it, ends a deleted company's feeds, and publishes announced rows that
/// someone here follows. The events between two such changes are read together, and
/// published before the change that follows them is applied.
async fn deliver(app: &App, payloads: &[String]) {
    let mut announced = Vec::new();
    for payload in payloads {
        if payload == standing::ANNOUNCEMENT {
            publish(app, std::mem::take(&mut announced)).await;
            app.forget_standing();
            continue;
        }
        if let Some(company) = payload.strip_prefix(COMPANY_DELETED) {
            publish(app, std::mem::take(&mut announced)).await;
            if let Ok(company) = Uuid::parse_str(company) {
                app.hub
                    .publish(Topic::Company(company), Published::CompanyDeleted);
            }
            continue;
        }
        let payload = match payload.strip_suffix(WEBHOOKS_DUE) {
            Some(event) => {
                // One of this instance's webhook senders looks now (every instance hears it).
                app.webhooks_due.notify_one();
                event
            }
            None => payload.as_str(),
        };
        match parse(payload) {
            Some((topic, seq)) if app.hub.wants(topic) => announced.push((topic, seq)),
            Some(_) => {}
            None => tracing::warn!(payload, "unknown event announcement"),
        }
    }
    publish(app, announced).await;
}

/// Reads the announced rows in one transaction and publishes each on its topic, in the
/// order announced.
async fn publish(app: &App, announced: Vec<(Topic, i64)>) {
    if announced.is_empty() {
        return;
    }
    let seqs_of = |user: bool| -> Vec<i64> {
        announced
            .iter()
            .filter(|(topic, _)| matches!(topic, Topic::User(_)) == user)
            .map(|(_, seq)| *seq)
            .collect()
    };
    let (event_seqs, notification_seqs) = (seqs_of(false), seqs_of(true));
    let read = tx::read(app, Scope::Crossing(Crossing::EventListener), async |conn| {
        let events = if event_seqs.is_empty() {
            Vec::new()
        } else {
            let events = store::events_at(conn, &event_seqs).await?;
            live_events(conn, events).await?
        };
        let notifications = if notification_seqs.is_empty() {
            Vec::new()
        } else {
            store::notifications_at(conn, &notification_seqs).await?
        };
        Ok((events, notifications))
    })
    .await;
    let (events, notifications) = match read {
        Ok(read) => read,
        Err(err) => {
            tracing::warn!(error = ?err, count = announced.len(), "events not delivered");
            return;
        }
    };
    let mut events: HashMap<i64, LiveEvent> = events.into_iter().map(|live| (live.event.seq, live)).collect();
    let mut notifications: HashMap<i64, NotificationRow> =
        notifications.into_iter().map(|row| (row.seq, row)).collect();
    for (topic, seq) in announced {
        let item = match topic {
            Topic::Company(_) => events
                .remove(&seq)
                .map(|live| Published::Activity(Arc::new(live))),
            Topic::User(_) => notifications
                .remove(&seq)
                .map(|row| Published::Notification(Arc::new(row))),
        };
        if let Some(item) = item {
            app.hub.publish(topic, item);
        }
    }
}

/// The events with the rows each row event touched (one read for all of them).
pub async fn live_events(conn: &mut AsyncPgConnection, events: Vec<EventRow>) -> AppResult<Vec<LiveEvent>> {
    let listing: Vec<i64> = events
        .iter()
        .filter(|event| Verb::parse(&event.verb).is_some_and(Verb::lists_rows))
        .map(|event| event.seq)
        .collect();
    let mut rows: HashMap<i64, Vec<RowChangeRow>> = HashMap::new();
    if !listing.is_empty() {
        for change in store::row_changes_of(conn, &listing).await? {
            rows.entry(change.event_seq).or_default().push(change);
        }
    }
    Ok(events
        .into_iter()
        .map(|event| LiveEvent {
            rows: rows.remove(&event.seq).unwrap_or_default(),
            event: Arc::new(event),
            answers: Default::default(),
            payloads: Default::default(),
            changed_rows: Default::default(),
        })
        .collect())
}

/// Publishes, topic by topic, whatever was written after the topic's last position.
async fn catch_up(app: &App) -> AppResult<()> {
    tx::read(app, Scope::Crossing(Crossing::EventListener), async |conn| {
        for (topic, mut last) in app.hub.positions() {
            if let Topic::Company(company) = topic
                && !store::company_exists(conn, company).await?
            {
                // Deleted while nobody here listened.
                app.hub.publish(topic, Published::CompanyDeleted);
                continue;
            }
            loop {
                let items: Vec<Published> = match topic {
                    Topic::Company(company) => {
                        let events = store::events_after(conn, company, last, CATCH_UP_BATCH).await?;
                        live_events(conn, events)
                            .await?
                            .into_iter()
                            .map(|live| Published::Activity(Arc::new(live)))
                            .collect()
                    }
                    Topic::User(user) => store::notifications_after(conn, user, last, CATCH_UP_BATCH)
                        .await?
                        .into_iter()
                        .map(|row| Published::Notification(Arc::new(row)))
                        .collect(),
                };
                let Some(newest) = items.last().map(Published::seq) else {
                    break;
                };
                for item in items {
                    app.hub.publish(topic, item);
                }
                last = newest;
            }
        }
        Ok(())
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn announcements_name_their_topic_and_position() {
        let id = Uuid::now_v7();
        assert_eq!(parse(&format!("a:{id}:42")), Some((Topic::Company(id), 42)));
        assert_eq!(parse(&format!("n:{id}:7")), Some((Topic::User(id), 7)));
        assert_eq!(parse("x:nonsense"), None);
    }
}
