//! This instance's fan-out: one bounded broadcast channel per topic (a company's stream, a
//! user's notifications) that local subscribers listen on. The listener publishes what
//! PostgreSQL announces; a subscriber that falls a whole queue behind is told so and ends.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::broadcast;
use uuid::Uuid;

use super::model::{EventRow, NotificationRow, RowChangeRow};

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
}

/// What a topic carries.
#[derive(Debug, Clone)]
pub enum Published {
    Activity(Arc<LiveEvent>),
    Notification(Arc<NotificationRow>),
}

impl Published {
    /// The item's position in its stream.
    pub fn seq(&self) -> i64 {
        match self {
            Self::Activity(live) => live.event.seq,
            Self::Notification(row) => row.seq,
        }
    }
}

struct TopicState {
    sender: broadcast::Sender<Published>,
    /// The newest position published (or known when the topic opened): where a catch-up
    /// after a lost LISTEN connection starts, and what repeats are recognised by.
    last_seq: Option<i64>,
}

/// Local subscribers by topic.
pub struct Hub {
    topics: Mutex<HashMap<Topic, TopicState>>,
    queue: usize,
}

impl Hub {
    /// A hub whose subscribers may fall `queue` items behind before they are dropped.
    pub fn new(queue: usize) -> Self {
        Self {
            topics: Mutex::new(HashMap::new()),
            queue: queue.max(1),
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
            last_seq: None,
        });
        state.sender.subscribe()
    }

    /// Records where `topic` stood when a subscriber opened it (the newest position in the
    /// database), unless the listener already knows a position.
    pub fn open_at(&self, topic: Topic, seq: i64) {
        if let Some(state) = self.topics().get_mut(&topic)
            && state.last_seq.is_none()
        {
            state.last_seq = Some(seq);
        }
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
        if state.last_seq.is_some_and(|last| item.seq() <= last) {
            return;
        }
        state.last_seq = Some(item.seq());
        if state.sender.send(item).is_err() {
            topics.remove(&topic);
        }
    }

    /// Every followed topic and the last position it published: what a catch-up covers.
    pub fn positions(&self) -> Vec<(Topic, i64)> {
        self.topics()
            .iter()
            .filter(|(_, state)| state.sender.receiver_count() > 0)
            .filter_map(|(topic, state)| state.last_seq.map(|seq| (*topic, seq)))
            .collect()
    }
}
