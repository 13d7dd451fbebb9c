//! The LISTEN side of the fan-out: one dedicated connection (outside the pool) receives
//! what every instance's commits announce, loads each announced row once (those that
//! arrived together in one read), and hands it to the local hub. When the connection drops it reconnects with backoff and then catches up
//! every followed topic from the tables, so an outage delays events but loses none.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use diesel::QueryResult;
use diesel::pg::PgNotification;
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures_util::{FutureExt, Stream, StreamExt};
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
                        first = notifications.next() => {
                            // Whatever else has arrived is handled with it, in order, with
                            // one read for all its events.
                            let (payloads, ended) = arrived(first, notifications.as_mut());
                            if let Err(err) = deliver(&app, &payloads).await {
                                // Reconnecting catches up from what was published last.
                                tracing::warn!(error = ?err, "events not delivered; listening again to catch up");
                                break;
                            }
                            if let Some(reason) = ended {
                                tracing::warn!(reason, "event listener connection ended");
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

/// The announcement just read and those that arrived after it (up to [`LISTEN_BATCH`]),
/// with why the connection ended, if it did meanwhile.
fn arrived<S>(
    first: Option<QueryResult<PgNotification>>,
    mut more: Pin<&mut S>,
) -> (Vec<String>, Option<String>)
where
    S: Stream<Item = QueryResult<PgNotification>> + ?Sized,
{
    let mut payloads = Vec::new();
    let mut next = Some(first);
    while let Some(item) = next.take() {
        match item {
            Some(Ok(notification)) => payloads.push(notification.payload),
            Some(Err(err)) => return (payloads, Some(err.to_string())),
            None => return (payloads, Some("closed".to_owned())),
        }
        if payloads.len() < LISTEN_BATCH {
            next = more.next().now_or_never();
        }
    }
    (payloads, None)
}

/// What announcements ask of this instance, in the order they were committed.
#[derive(Debug, PartialEq)]
enum Step {
    /// Read these announced rows (of topics followed here) and publish them.
    Publish(Vec<(Topic, i64)>),
    /// A commit changed memberships, roles or grants.
    ForgetStanding,
    /// The company was deleted: its feeds end.
    CompanyDeleted(Uuid),
}

/// The steps `payloads` ask for: the rows announced between two changes of standing or
/// deletions are read and published together, before the change that follows them. Also
/// whether any announced event has webhooks due.
fn steps(payloads: &[String], followed: impl Fn(Topic) -> bool) -> (Vec<Step>, bool) {
    let mut steps = Vec::new();
    let mut announced = Vec::new();
    let mut webhooks_due = false;
    for payload in payloads {
        let change = if payload == standing::ANNOUNCEMENT {
            Some(Step::ForgetStanding)
        } else if let Some(company) = payload.strip_prefix(COMPANY_DELETED) {
            Uuid::parse_str(company).ok().map(Step::CompanyDeleted)
        } else {
            let event = payload.strip_suffix(WEBHOOKS_DUE).unwrap_or(payload);
            webhooks_due |= event.len() < payload.len();
            match parse(event) {
                Some((topic, seq)) if followed(topic) => announced.push((topic, seq)),
                Some(_) => {}
                None => tracing::warn!(payload, "unknown event announcement"),
            }
            None
        };
        if let Some(change) = change {
            if !announced.is_empty() {
                steps.push(Step::Publish(std::mem::take(&mut announced)));
            }
            steps.push(change);
        }
    }
    if !announced.is_empty() {
        steps.push(Step::Publish(announced));
    }
    (steps, webhooks_due)
}

/// Carries out what the announcements ask (see [`steps`]). When a read fails, what came
/// after it is left to the catch-up of a new connection, and standing is forgotten now.
async fn deliver(app: &App, payloads: &[String]) -> AppResult<()> {
    let (steps, webhooks_due) = steps(payloads, |topic| app.hub.wants(topic));
    if webhooks_due {
        // One of this instance's webhook senders looks now (every instance hears it).
        app.webhooks_due.notify_one();
    }
    for step in steps {
        match step {
            Step::Publish(announced) => {
                if let Err(err) = publish(app, announced).await {
                    app.forget_standing();
                    return Err(err);
                }
            }
            Step::ForgetStanding => app.forget_standing(),
            Step::CompanyDeleted(company) => app
                .hub
                .publish(Topic::Company(company), Published::CompanyDeleted),
        }
    }
    Ok(())
}

/// Reads the announced rows in one transaction and publishes each on its topic, in the
/// order announced.
async fn publish(app: &App, announced: Vec<(Topic, i64)>) -> AppResult<()> {
    let seqs_of = |user: bool| -> Vec<i64> {
        announced
            .iter()
            .filter(|(topic, _)| matches!(topic, Topic::User(_)) == user)
            .map(|(_, seq)| *seq)
            .collect()
    };
    let (event_seqs, notification_seqs) = (seqs_of(false), seqs_of(true));
    let (events, notifications) = tx::read(app, Scope::Crossing(Crossing::EventListener), async |conn| {
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
    .await?;
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
    Ok(())
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

    #[test]
    fn announcements_are_carried_out_in_their_order_with_the_rows_between_changes_read_together() {
        let (a, b, person) = (Uuid::now_v7(), Uuid::now_v7(), Uuid::now_v7());
        let payloads = [
            format!("a:{a}:1"),
            format!("a:{b}:2{WEBHOOKS_DUE}"),
            standing::ANNOUNCEMENT.to_owned(),
            format!("a:{a}:3"),
            format!("n:{person}:4"),
            format!("{COMPANY_DELETED}{b}"),
            format!("{COMPANY_DELETED}not-a-company"),
            "x:nonsense".to_owned(),
            format!("n:{person}:5"),
            format!("a:{b}:6"),
            standing::ANNOUNCEMENT.to_owned(),
        ];
        let (carried_out, webhooks_due) = steps(&payloads, |topic| topic != Topic::User(person));
        assert_eq!(
            carried_out,
            vec![
                Step::Publish(vec![(Topic::Company(a), 1), (Topic::Company(b), 2)]),
                Step::ForgetStanding,
                Step::Publish(vec![(Topic::Company(a), 3)]),
                Step::CompanyDeleted(b),
                Step::Publish(vec![(Topic::Company(b), 6)]),
                Step::ForgetStanding,
            ]
        );
        assert!(webhooks_due);
        let (_, none_due) = steps(&payloads[..1], |_| true);
        assert!(!none_due);
    }
}
