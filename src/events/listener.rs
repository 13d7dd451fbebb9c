//! The LISTEN side of the fan-out: one dedicated connection (outside the pool) receives
//! what every instance's commits announce, loads each announced row once, and hands it to
//! the local hub. When the connection drops it reconnects with backoff and then catches up
//! every followed topic from the tables, so an outage delays events but loses none.

use std::time::Duration;

use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::StreamExt;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use super::hub::{LiveEvent, Published, Topic};
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
                                if let Err(err) = deliver(&app, &notification.payload).await {
                                    tracing::warn!(error = ?err, payload = %notification.payload, "event not delivered");
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

/// Forgets members' standing when a commit changed it; ends a deleted company's feeds;
/// otherwise loads an announced row and publishes it, when someone here follows its topic.
async fn deliver(app: &App, payload: &str) -> AppResult<()> {
    if payload == standing::ANNOUNCEMENT {
        app.forget_standing();
        return Ok(());
    }
    if let Some(company) = payload.strip_prefix(COMPANY_DELETED) {
        if let Ok(company) = Uuid::parse_str(company) {
            app.hub
                .publish(Topic::Company(company), Published::CompanyDeleted);
        }
        return Ok(());
    }
    let payload = match payload.strip_suffix(WEBHOOKS_DUE) {
        Some(event) => {
            // One of this instance's webhook senders looks now (every instance hears it).
            app.webhooks_due.notify_one();
            event
        }
        None => payload,
    };
    let Some((topic, seq)) = parse(payload) else {
        tracing::warn!(payload, "unknown event announcement");
        return Ok(());
    };
    if !app.hub.wants(topic) {
        return Ok(());
    }
    tx::read(app, Scope::Crossing(Crossing::EventListener), async |conn| {
        let item = match topic {
            Topic::Company(_) => match store::event_at(conn, seq).await? {
                Some(event) => Some(Published::Activity(std::sync::Arc::new(
                    live_event(conn, event).await?,
                ))),
                None => None,
            },
            Topic::User(_) => store::notification_at(conn, seq)
                .await?
                .map(|row| Published::Notification(std::sync::Arc::new(row))),
        };
        if let Some(item) = item {
            app.hub.publish(topic, item);
        }
        Ok(())
    })
    .await
}

/// The event with the rows it touched (row events only).
pub async fn live_event(conn: &mut AsyncPgConnection, event: super::model::EventRow) -> AppResult<LiveEvent> {
    let rows = if Verb::parse(&event.verb).is_some_and(Verb::lists_rows) {
        store::row_changes_of(conn, event.seq).await?
    } else {
        Vec::new()
    };
    Ok(LiveEvent {
        event: std::sync::Arc::new(event),
        rows,
        answers: Default::default(),
        payloads: Default::default(),
        changed_rows: Default::default(),
    })
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
                        let mut items = Vec::new();
                        for event in store::events_after(conn, company, last, CATCH_UP_BATCH).await? {
                            items.push(Published::Activity(std::sync::Arc::new(
                                live_event(conn, event).await?,
                            )));
                        }
                        items
                    }
                    Topic::User(user) => store::notifications_after(conn, user, last, CATCH_UP_BATCH)
                        .await?
                        .into_iter()
                        .map(|row| Published::Notification(std::sync::Arc::new(row)))
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
