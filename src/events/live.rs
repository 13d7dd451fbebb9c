//! Live streams for subscriptions. Each one subscribes to its topic first, then replays
//! from the table what came after the client's cursor, then follows the live topic; every
//! item carries its position, so anything seen in the replay is skipped when it also
//! arrives live: no gap, no repeat. Access is checked again for every event against the
//! subscriber's remembered standing, read again whenever the memory forgot anything (the
//! database announces every change to memberships, roles and grants, whatever the change's
//! event says); losing the company ends the stream with FORBIDDEN.

use std::collections::VecDeque;
use std::sync::Arc;

use futures_util::Stream;
use tokio::sync::broadcast::{self, error::RecvError};
use uuid::Uuid;

use super::access;
use super::cursor::{self, Stream as CursorStream};
use super::hub::{LiveEvent, Published, Topic};
use super::listener::live_events;
use super::model::NotificationRow;
use super::store;
use crate::app::App;
use crate::auth::caller::Actor;
use crate::cache::Ticket;
use crate::db::scope::Scope;
use crate::db::tx;
use crate::error::{AppError, AppResult};
use crate::rbac::authorizer::two_factor_required;
use crate::rbac::standing::{self, Standing, standing_of};

/// How long a new subscription waits for the event listener to be connected.
const LISTENER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// Rows read per replay query.
const REPLAY_BATCH: i64 = 200;

/// Where a stream starts: after a client's cursor (replaying), or at the newest position.
pub enum Start {
    After(i64),
    Now,
}

/// The error that ends a subscriber who fell a whole queue behind.
fn fell_behind(stream: CursorStream, missed: u64, position: i64) -> AppError {
    AppError::conflict(format!(
        "this subscription fell {missed} item(s) behind and was closed; subscribe again with \
         after: \"{}\" to receive everything since",
        cursor::after_all_of(stream, position)
    ))
}

/// Follows a company's activity as `actor` (a member or a key), whose standing is
/// `standing`, sees it; `stream` names the cursors the subscriber resumes with (the
/// activity feed's, or row changes').
pub async fn company_events(
    app: App,
    company_id: Uuid,
    member: (Actor, Arc<Standing>),
    stream: CursorStream,
    start: Start,
) -> AppResult<impl Stream<Item = AppResult<Arc<LiveEvent>>> + Send + use<>> {
    Ok(company_feed(app, company_id, member, stream, start)
        .await?
        .into_stream())
}

/// [`company_events`] as a feed its holder polls itself (a websocket holding the
/// subscription as data rather than as a stream inside async-graphql).
pub async fn company_feed(
    app: App,
    company_id: Uuid,
    (actor, standing): (Actor, Arc<Standing>),
    stream: CursorStream,
    start: Start,
) -> AppResult<CompanyFeed> {
    let topic = Topic::Company(company_id);
    let receiver = app.hub.subscribe(topic);
    let (position, replaying) = position_of(&app, topic, start).await?;
    let marker = app.standings.marker();
    Ok(CompanyFeed {
        app,
        company_id,
        actor,
        standing,
        stream,
        marker,
        receiver,
        position,
        replaying,
        backlog: VecDeque::new(),
        project: None,
        done: false,
    })
}

/// Follows a person's notifications.
pub async fn notifications(
    app: App,
    user_id: Uuid,
    start: Start,
) -> AppResult<impl Stream<Item = AppResult<Arc<NotificationRow>>> + Send + use<>> {
    let topic = Topic::User(user_id);
    let receiver = app.hub.subscribe(topic);
    let (position, replaying) = position_of(&app, topic, start).await?;
    let feed = NotificationFeed {
        app,
        user_id,
        receiver,
        position,
        replaying,
        backlog: VecDeque::new(),
        done: false,
    };
    Ok(futures_util::stream::unfold(feed, |mut feed| async move {
        feed.next().await.map(|item| (item, feed))
    }))
}

/// The starting position, and whether a replay comes first.
async fn position_of(app: &App, topic: Topic, start: Start) -> AppResult<(i64, bool)> {
    if !app.hub.until_listening(LISTENER_WAIT).await {
        return Err(AppError::internal(anyhow::anyhow!(
            "the event listener is not connected; live updates are unavailable"
        )));
    }
    let newest = match topic {
        Topic::Company(company) => {
            tx::read(app, Scope::Company(company), async |conn| {
                Ok(store::last_event_seq(conn, company).await?)
            })
            .await?
        }
        Topic::User(user) => {
            tx::read(app, Scope::Person(user), async |conn| {
                Ok(store::last_notification_seq(conn, user).await?)
            })
            .await?
        }
    };
    app.hub.open_at(topic, newest);
    Ok(match start {
        Start::After(seq) if seq > newest => {
            return Err(AppError::invalid("after", "is not a cursor from this stream"));
        }
        Start::After(seq) => (seq, seq < newest),
        Start::Now => (newest, false),
    })
}

/// A company's events as one subscriber follows them: its position, its standing (read
/// again whenever the standing memory forgot something), and what it has yet to receive.
pub struct CompanyFeed {
    app: App,
    company_id: Uuid,
    actor: Actor,
    standing: Arc<Standing>,
    stream: CursorStream,
    /// Where the standing memory stood when `standing` was read.
    marker: Ticket,
    receiver: broadcast::Receiver<Published>,
    position: i64,
    replaying: bool,
    backlog: VecDeque<Arc<LiveEvent>>,
    /// Only this project's events, when the subscriber asked so.
    project: Option<Uuid>,
    done: bool,
}

impl CompanyFeed {
    /// The feed narrowed to one project's events (`None`: the whole company's).
    pub fn in_project(self, project: Option<Uuid>) -> Self {
        Self { project, ..self }
    }

    /// The feed as a stream of the events its subscriber may read.
    pub fn into_stream(self) -> impl Stream<Item = AppResult<Arc<LiveEvent>>> + Send + use<> {
        futures_util::stream::unfold(self, |mut feed| async move {
            feed.next().await.map(|item| (item, feed))
        })
    }

    /// The next event the subscriber may read; an error (it fell behind, lost the company,
    /// the company was deleted) ends the feed, and None follows it.
    pub async fn next(&mut self) -> Option<AppResult<Arc<LiveEvent>>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(live) = self.backlog.pop_front() {
                self.position = live.event.seq;
                if self.app.standings.marker() != self.marker {
                    // Boxed: rare, heavy futures stay out of the idle stream's own size.
                    if let Err(err) = Box::pin(self.reload_standing()).await {
                        self.done = true;
                        return Some(Err(err));
                    }
                }
                let wanted = self.project.is_none() || live.event.project_id == self.project;
                if wanted && access::may_read(&self.standing, &live.event) {
                    return Some(Ok(live));
                }
                continue;
            }
            if self.replaying {
                match Box::pin(self.replay()).await {
                    Ok(()) => continue,
                    Err(err) => {
                        self.done = true;
                        return Some(Err(err));
                    }
                }
            }
            match self.receiver.recv().await {
                Ok(Published::Activity(live)) if live.event.seq > self.position => {
                    self.backlog.push_back(live)
                }
                Ok(Published::CompanyDeleted) => {
                    self.done = true;
                    return Some(Err(AppError::deleted("company")));
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    self.done = true;
                    return Some(Err(fell_behind(self.stream, missed, self.position)));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }

    /// Reads the next events from the table. The replay reads ahead of this instance's
    /// listener, which may not yet have heard of a change to the subscriber's standing
    /// committed before them: the standing is read from the database after the events
    /// were, so it is never older than any of them.
    async fn replay(&mut self) -> AppResult<()> {
        let (company_id, position, actor) = (self.company_id, self.position, self.actor);
        // The feed's company, whose events the standing read with them then filters: a
        // member removed meanwhile is answered FORBIDDEN, not left waiting.
        let read = tx::read(&self.app, Scope::Company(company_id), async |conn| {
            let events = store::events_after(conn, company_id, position, REPLAY_BATCH).await?;
            if events.is_empty() {
                return Ok(None);
            }
            let live: Vec<_> = live_events(conn, events)
                .await?
                .into_iter()
                .map(Arc::new)
                .collect();
            Ok(Some((live, standing::read(conn, actor).await?)))
        })
        .await?;
        let Some((events, standing)) = read else {
            self.replaying = false;
            return Ok(());
        };
        self.backlog.extend(events);
        self.keep_standing(Arc::new(standing))
    }

    /// Reads the member's standing again after the memory forgot some.
    async fn reload_standing(&mut self) -> AppResult<()> {
        let marker = self.app.standings.marker();
        let standing = standing_of(&self.app, self.actor).await?;
        // Only once the standing is in hand: a read abandoned half-way is read again.
        self.marker = marker;
        self.keep_standing(standing)
    }

    /// Checks events against `standing` from now on; FORBIDDEN once the member no longer
    /// belongs to the company.
    fn keep_standing(&mut self, standing: Arc<Standing>) -> AppResult<()> {
        if standing.company(self.company_id).is_none() {
            self.backlog.clear();
            return Err(if standing.holds_back(self.company_id) {
                two_factor_required()
            } else {
                AppError::forbidden("you are no longer a member of this company; the subscription has ended")
            });
        }
        self.standing = standing;
        Ok(())
    }
}

struct NotificationFeed {
    app: App,
    user_id: Uuid,
    receiver: broadcast::Receiver<Published>,
    position: i64,
    replaying: bool,
    backlog: VecDeque<Arc<NotificationRow>>,
    done: bool,
}

impl NotificationFeed {
    async fn next(&mut self) -> Option<AppResult<Arc<NotificationRow>>> {
        loop {
            if self.done {
                return None;
            }
            if let Some(row) = self.backlog.pop_front() {
                self.position = row.seq;
                return Some(Ok(row));
            }
            if self.replaying {
                let (user_id, position) = (self.user_id, self.position);
                let replayed = Box::pin(tx::read(&self.app, Scope::Person(user_id), async |conn| {
                    Ok(store::notifications_after(conn, user_id, position, REPLAY_BATCH).await?)
                }))
                .await;
                match replayed {
                    Ok(rows) if rows.is_empty() => self.replaying = false,
                    Ok(rows) => self.backlog.extend(rows.into_iter().map(Arc::new)),
                    Err(err) => {
                        self.done = true;
                        return Some(Err(err));
                    }
                }
                continue;
            }
            match self.receiver.recv().await {
                Ok(Published::Notification(row)) if row.seq > self.position => self.backlog.push_back(row),
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    self.done = true;
                    return Some(Err(fell_behind(
                        CursorStream::Notifications,
                        missed,
                        self.position,
                    )));
                }
                Err(RecvError::Closed) => return None,
            }
        }
    }
}
