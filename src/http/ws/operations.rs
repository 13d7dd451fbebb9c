//! The operations one websocket runs, followed from the messages that start and end them.
//! The budget (`WS_MAX_SUBSCRIPTIONS`) is decided here, before async-graphql sees a
//! `subscribe`: it reads every waiting message into a stream of its own before it runs any,
//! so a flood of them would otherwise pile up as streams holding their documents. And a
//! `subscribe` reusing a running operation's id closes the socket with 4409, as
//! graphql-transport-ws requires (async-graphql would silently replace the first). It also
//! tells the socket which operation starts, and which one the client completed, for the
//! subscriptions the socket holds itself.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};

use serde::Deserialize;
use tokio::sync::Notify;

/// The kind and id of a protocol message; its payload is skipped.
#[derive(Deserialize)]
pub struct Envelope {
    #[serde(rename = "type")]
    pub kind: String,
    pub id: Option<String>,
}

impl Envelope {
    /// The envelope of a message, if it is one.
    pub fn of(message: &[u8]) -> Option<Self> {
        serde_json::from_slice(message).ok()
    }
}

/// What became of an incoming message.
#[derive(Debug, PartialEq, Eq)]
pub enum Admission {
    /// Hand it to the protocol handler.
    Pass,
    /// Hand it to the protocol handler, which starts the operation with this id (and this
    /// socket-wide serial, which no other operation of the socket has had).
    Start(String, u64),
    /// Not for the handler: an operation over the budget (answered with an `error`) or one
    /// reusing a running id (the socket closes); see [`Operations::take_events`].
    Dropped,
}

/// Something the socket loop must write or do, noticed while reading.
#[derive(Debug, PartialEq, Eq)]
pub enum SocketEvent {
    /// Answer the operation `id` with an `error`: the socket already runs its maximum.
    Refused(String),
    /// Close with 4409: a second operation came with the running one's `id`.
    Duplicate(String),
    /// The client completed the running operation with this serial (one the socket holds
    /// itself ends here; its place and id are free already).
    Completed(u64),
}

/// The metric counting operations running on every open socket.
const RUNNING_GAUGE: &str = "guildhall_websocket_operations_running";

/// One socket's running operations.
pub struct Operations {
    max: usize,
    /// Running operations by id, with their serials.
    running: Mutex<HashMap<String, u64>>,
    /// The serial the next operation gets.
    serials: AtomicU64,
    events: Mutex<Vec<SocketEvent>>,
    /// Woken when an event waits.
    pub noticed: Notify,
}

impl Operations {
    /// A socket that may run `max` operations at once.
    pub fn new(max: usize) -> Self {
        Self {
            max,
            running: Mutex::new(HashMap::new()),
            serials: AtomicU64::new(0),
            events: Mutex::new(Vec::new()),
            noticed: Notify::new(),
        }
    }

    /// Decides an incoming message: an operation is admitted while the socket runs fewer
    /// than its maximum. `duplicates_close` (graphql-transport-ws) makes a reused id an
    /// event; otherwise the handler replaces the running operation, which keeps its place.
    pub fn admit(&self, message: &[u8], duplicates_close: bool) -> Admission {
        let says = |word: &[u8]| message.windows(word.len()).any(|window| window == word);
        if !says(b"\"subscribe\"") && !says(b"\"start\"") && !says(b"\"complete\"") {
            return Admission::Pass;
        }
        let Some(Envelope { kind, id: Some(id) }) = Envelope::of(message) else {
            return Admission::Pass;
        };
        if kind == "complete" {
            // The operation ends here: its id may start another at once, as it may once
            // async-graphql has answered a completed stream.
            let ended = lock(&self.running).remove(&id);
            if let Some(serial) = ended {
                metrics::gauge!(RUNNING_GAUGE).decrement(1.0);
                self.notice(SocketEvent::Completed(serial));
            }
            return Admission::Pass;
        }
        if kind != "subscribe" && kind != "start" {
            return Admission::Pass;
        }
        let mut running = lock(&self.running);
        if let Some(serial) = running.get(&id).copied() {
            if duplicates_close {
                drop(running);
                self.notice(SocketEvent::Duplicate(id));
                return Admission::Dropped;
            }
            return Admission::Start(id, serial);
        }
        if running.len() >= self.max {
            metrics::counter!("guildhall_rate_limit_refusals_total", "limit" => "ws_subscriptions")
                .increment(1);
            self.notice(SocketEvent::Refused(id));
            return Admission::Dropped;
        }
        let serial = self.serials.fetch_add(1, Ordering::Relaxed);
        running.insert(id.clone(), serial);
        metrics::gauge!(RUNNING_GAUGE).increment(1.0);
        Admission::Start(id, serial)
    }

    /// Notes an outgoing message: a `complete` or an `error` ends its operation.
    pub fn sent(&self, text: &str) {
        if !(text.starts_with("{\"type\":\"complete\"") || text.starts_with("{\"type\":\"error\"")) {
            return;
        }
        if let Some(Envelope { id: Some(id), .. }) = Envelope::of(text.as_bytes())
            && lock(&self.running).remove(&id).is_some()
        {
            metrics::gauge!(RUNNING_GAUGE).decrement(1.0);
        }
    }

    /// The events waiting for the socket loop, oldest first.
    pub fn take_events(&self) -> Vec<SocketEvent> {
        std::mem::take(&mut *lock(&self.events))
    }

    /// The most operations the socket may run at once.
    pub fn max(&self) -> usize {
        self.max
    }

    fn notice(&self, event: SocketEvent) {
        lock(&self.events).push(event);
        self.noticed.notify_one();
    }
}

/// An `error` message for the operation `id` (its fields in the order that
/// [`Operations::sent`] recognises).
pub fn error_message(id: &str, errors: &serde_json::Value) -> String {
    #[derive(serde::Serialize)]
    struct ErrorMessage<'a> {
        #[serde(rename = "type")]
        kind: &'static str,
        id: &'a str,
        payload: &'a serde_json::Value,
    }
    serde_json::to_string(&ErrorMessage {
        kind: "error",
        id,
        payload: errors,
    })
    .unwrap_or_default()
}

fn lock<T>(slot: &Mutex<T>) -> MutexGuard<'_, T> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}

impl Drop for Operations {
    /// A closed socket's operations stop running with it.
    fn drop(&mut self) {
        let running = lock(&self.running).len();
        if running > 0 {
            metrics::gauge!(RUNNING_GAUGE).decrement(running as f64);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn subscribe(id: &str) -> Vec<u8> {
        format!(r#"{{"id":"{id}","type":"subscribe","payload":{{"query":"{{ a }}"}}}}"#).into_bytes()
    }

    #[test]
    fn operations_past_the_maximum_are_refused_until_one_ends() {
        let operations = Operations::new(2);
        assert_eq!(
            operations.admit(&subscribe("1"), true),
            Admission::Start("1".to_owned(), 0)
        );
        assert_eq!(
            operations.admit(&subscribe("2"), true),
            Admission::Start("2".to_owned(), 1)
        );
        assert_eq!(operations.admit(&subscribe("3"), true), Admission::Dropped);
        assert_eq!(operations.take_events(), [SocketEvent::Refused("3".to_owned())]);
        operations.sent(r#"{"type":"next","id":"1","payload":{"data":{}}}"#);
        assert_eq!(
            operations.admit(&subscribe("4"), true),
            Admission::Dropped,
            "a next ends nothing"
        );
        operations.sent(r#"{"type":"complete","id":"1"}"#);
        assert_eq!(
            operations.admit(&subscribe("5"), true),
            Admission::Start("5".to_owned(), 2)
        );
        operations.sent(&error_message("2", &serde_json::json!([])));
        assert_eq!(
            operations.admit(&subscribe("6"), true),
            Admission::Start("6".to_owned(), 3)
        );
        let ping = br#"{"type":"ping","payload":{"note":"start"}}"#;
        assert_eq!(
            operations.admit(ping, true),
            Admission::Pass,
            "other messages pass"
        );
    }

    #[test]
    fn a_reused_id_is_an_event_only_where_the_protocol_closes_for_it() {
        let operations = Operations::new(5);
        operations.admit(&subscribe("1"), true);
        assert_eq!(operations.admit(&subscribe("1"), true), Admission::Dropped);
        assert_eq!(operations.take_events(), [SocketEvent::Duplicate("1".to_owned())]);
        let legacy = br#"{"id":"1","type":"start","payload":{"query":"{ a }"}}"#;
        assert_eq!(
            operations.admit(legacy, false),
            Admission::Start("1".to_owned(), 0),
            "the running operation keeps its place"
        );
        assert!(operations.take_events().is_empty());
    }

    #[test]
    fn a_completed_operation_frees_its_id_at_once_and_names_its_serial() {
        let operations = Operations::new(1);
        operations.admit(&subscribe("1"), true);
        let completed = br#"{"id":"1","type":"complete"}"#;
        assert_eq!(operations.admit(completed, true), Admission::Pass);
        assert_eq!(operations.take_events(), [SocketEvent::Completed(0)]);
        assert_eq!(
            operations.admit(&subscribe("1"), true),
            Admission::Start("1".to_owned(), 1),
            "the id and the place are free, and the new operation is told apart"
        );
        operations.sent(r#"{"type":"complete","id":"2"}"#);
        assert_eq!(operations.admit(completed, true), Admission::Pass);
        assert_eq!(operations.admit(completed, true), Admission::Pass);
        assert_eq!(
            operations.take_events(),
            [SocketEvent::Completed(1)],
            "only a running operation completes"
        );
    }
}
