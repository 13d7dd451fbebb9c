//! This instance's fan-out: one bounded broadcast channel per topic (a company's stream, a
//! user's notifications) that local subscribers listen on. The listener publishes what
//! PostgreSQL announces; a subscriber that falls a whole queue behind is told so and ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{broadcast, watch};
use uuid::Uuid;

use super::model::{EventRow, NotificationRow, RowChangeRow};
use super::shared_answer::{SharedAnswers, SharedPayloads};
use crate::rows::model::RowRecord;

/// A stream subscribers can follow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Topic {
    /// A company's activity (and the row changes inside it).
    Company(Uuid),
    /// One person's notifications.
    User(Uuid),
}

/// An activity event as it goes live, with the rows a row event touched.
#[derive(Debug)]
pub struct LiveEvent {
    /// Shared by every subscriber's answer (never copied per subscriber).
    pub event: Arc<EventRow>,
    pub rows: Vec<RowChangeRow>,
    /// Answers already resolved for subscribers, for others who ask the same.
    pub answers: SharedAnswers,
    /// Whole answers already serialised for websockets holding subscriptions as data.
    pub payloads: SharedPayloads,
    /// The rows the event changed, read once for every live grid that shows them.
    pub changed_rows: tokio::sync::OnceCell<Arc<ChangedRows>>,
}

/// The rows a row event changed, as read after it, with what each reader's view of them
/// needs: whatever a grid subscriber is allowed to see of them comes from here, so one
/// change costs the same few queries however many grids show it.
#[derive(Debug)]
pub struct ChangedRows {
    /// The rows still there, by id.
    pub rows: HashMap<Uuid, RowRecord>,
    /// Where each of their tables lives, and its restricted fields.
    pub tables: HashMap<Uuid, ChangedTable>,
}

/// A table whose rows a row event changed.
#[derive(Debug)]
pub struct ChangedTable {
    pub project_id: Uuid,
    pub company_id: Uuid,
    /// Keys of its restricted fields, which readers without access to them do not see.
    pub restricted: Vec<String>,
}

/// What a topic carries.
#[derive(Debug, Clone)]
pub enum Published {
    Activity(Arc<LiveEvent>),
    Notification(Arc<NotificationRow>),
    /// The company was deleted: its feed has nothing more to say, and ends.
    CompanyDeleted,
}

impl Published {
    /// The item's position in its stream.
    pub fn seq(&self) -> i64 {
        match self {
            Self::Activity(live) => live.event.seq,
            Self::Notification(row) => row.seq,
            // After every position: nothing the topic published before is outrun by it.
            Self::CompanyDeleted => i64::MAX,
        }
    }
}

struct TopicState {
    sender: broadcast::Sender<Published>,
    /// The newest position published: what repeats (a catch-up overlapping a notification)
    /// are recognised by.
    published: Option<i64>,
    /// The oldest position a subscriber opened the topic at: where a catch-up starts when
    /// nothing was published yet.
    opened: Option<i64>,
}

/// Local subscribers by topic.
pub struct Hub {
    topics: Mutex<HashMap<Topic, TopicState>>,
    queue: usize,
    /// Whether the listener is connected and caught up (new subscriptions wait for it).
    listening: watch::Sender<bool>,
}

impl Hub {
    /// A hub whose subscribers may fall `queue` items behind before they are dropped.
    pub fn new(queue: usize) -> Self {
        Self {
            topics: Mutex::new(HashMap::new()),
            queue: queue.max(1),
            listening: watch::Sender::new(false),
        }
    }

    fn topics(&self) -> std::sync::MutexGuard<'_, HashMap<Topic, TopicState>> {
        self.topics.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Starts receiving what `topic` publishes from now on.
    pub fn subscribe(&self, topic: Topic) -> broadcast::Receiver<Published> {
        let mut topics = self.topics();
        let state = topics.entry(topic).or_insert_with(|| TopicState {
            sender: broadcast::channel(self.queue).0,
            published: None,
            opened: None,
        });
        state.sender.subscribe()
    }

    /// Records that a subscriber follows `topic` from position `seq` on.
    pub fn open_at(&self, topic: Topic, seq: i64) {
        if let Some(state) = self.topics().get_mut(&topic) {
            state.opened = Some(state.opened.map_or(seq, |opened| opened.min(seq)));
        }
    }

    /// Marks the listener connected and caught up, or not.
    pub fn set_listening(&self, listening: bool) {
        self.listening.send_replace(listening);
    }

    /// Whether the listener is connected and caught up right now (while it is not, commits
    /// elsewhere go unheard, so nothing they could change may be trusted from memory).
    pub fn is_listening(&self) -> bool {
        *self.listening.borrow()
    }

    /// Waits until the listener is connected and caught up (false after `timeout`), so a
    /// new subscriber's starting position is never in a stretch nobody listened to.
    pub async fn until_listening(&self, timeout: std::time::Duration) -> bool {
        let mut listening = self.listening.subscribe();
        tokio::time::timeout(timeout, listening.wait_for(|on| *on))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Whether anyone here follows `topic` (the listener loads nothing for no one).
    pub fn wants(&self, topic: Topic) -> bool {
        let mut topics = self.topics();
        match topics.get(&topic) {
            Some(state) if state.sender.receiver_count() > 0 => true,
            Some(_) => {
                topics.remove(&topic);
                false
            }
            None => false,
        }
    }

    /// Hands `item` to the topic's subscribers; repeats (a catch-up overlapping a
    /// notification) are dropped here.
    pub fn publish(&self, topic: Topic, item: Published) {
        let mut topics = self.topics();
        let Some(state) = topics.get_mut(&topic) else {
            return;
        };
        if state.published.is_some_and(|last| item.seq() <= last) {
            return;
        }
        state.published = Some(item.seq());
        metrics::counter!("guildhall_events_published_total").increment(1);
        match state.sender.send(item) {
            Ok(receivers) => {
                metrics::counter!("guildhall_event_deliveries_total")
                    .increment(u64::try_from(receivers).unwrap_or(u64::MAX));
            }
            Err(_) => {
                topics.remove(&topic);
            }
        }
    }

    /// Every followed topic and the last position it published: what a catch-up covers.
    pub fn positions(&self) -> Vec<(Topic, i64)> {
        self.topics()
            .iter()
            .filter(|(_, state)| state.sender.receiver_count() > 0)
            .filter_map(|(topic, state)| state.published.or(state.opened).map(|seq| (*topic, seq)))
            .collect()
    }
}
