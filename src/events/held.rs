//! Activity subscriptions a websocket holds as data.
//!
//! async-graphql keeps every subscription as a stream of its own: the operation's stream,
//! the field's, the copy of its document, several kilobytes for each, and each event is
//! resolved and serialised once per subscriber. An `activity` subscription whose selection
//! reads only the event's own fields (see [`super::shared_answer`]) needs none of that once
//! async-graphql has parsed, validated and set it up: the resolver hands its feed to the
//! socket (a [`HeldFeed`]: the company's feed with its replay still to run and its project
//! filter, the shape), async-graphql's stream ends, and the socket itself follows the feed
//! and writes each event's payload, serialised once for all who share its shape, behind
//! the operation's own `next` header.
//!
//! Only graphql-transport-ws sockets hold subscriptions (the legacy protocol answers a
//! client's `stop` in ways the socket would have to copy); what a held subscription sends
//! is what async-graphql would have sent, and a test holds it to that.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use async_graphql::{PathSegment, Pos, Response};

use super::hub::LiveEvent;
use super::live::CompanyFeed;
use super::shared_answer::HeldShape;
use crate::error::AppError;
use crate::graphql::errors::finish_response;

/// One socket's subscriptions on their way from their resolvers to the socket loop.
#[derive(Default)]
pub struct HeldSubscriptions {
    /// The operation async-graphql is about to start (set as its `subscribe` is read,
    /// taken as it starts: async-graphql starts each right after reading it), with the
    /// serial its socket told it apart by.
    starting: Mutex<Option<(String, u64)>>,
    /// Feeds their resolvers handed over, until the socket loop takes them.
    handed: Mutex<Vec<HeldFeed>>,
}

impl HeldSubscriptions {
    /// Notes that the operation `id`, the socket's `serial`th, is the next to start.
    pub fn starting(&self, id: String, serial: u64) {
        *lock(&self.starting) = Some((id, serial));
    }

    /// The operation starting now, which may be held (see [`Holding`]).
    pub fn take_starting(self: &Arc<Self>) -> Option<Holding> {
        let (id, serial) = lock(&self.starting).take()?;
        Some(Holding {
            id,
            serial,
            socket: Arc::clone(self),
        })
    }

    /// The feed the resolver of operation `id` handed over, if it did.
    pub fn take(&self, id: &str) -> Option<HeldFeed> {
        self.take_where(|feed| feed.id == id)
    }

    /// The feed the operation with `serial` handed over, if it did and it was not taken.
    pub fn take_serial(&self, serial: u64) -> Option<HeldFeed> {
        self.take_where(|feed| feed.serial == serial)
    }

    fn take_where(&self, which: impl Fn(&HeldFeed) -> bool) -> Option<HeldFeed> {
        let mut handed = lock(&self.handed);
        let at = handed.iter().position(which)?;
        let feed = handed.swap_remove(at);
        // Feeds only pass through here: an idle socket keeps no room for them (a first
        // push makes room for four).
        if handed.is_empty() {
            handed.shrink_to_fit();
        }
        Some(feed)
    }
}

/// Put in an operation's data by a socket that can hold it: its resolver may hand its
/// feed over instead of returning a stream.
pub struct Holding {
    id: String,
    serial: u64,
    socket: Arc<HeldSubscriptions>,
}

impl Holding {
    /// Hands the operation's feed to the socket; the resolver then returns an empty stream,
    /// whose end the socket recognises by the operation's id.
    pub fn hand_over(&self, feed: CompanyFeed, shape: HeldShape, pos: Pos, request_id: &str) {
        let header = format!(
            "{{\"type\":\"next\",\"id\":{},\"payload\":",
            json_string(&self.id)
        );
        lock(&self.socket.handed).push(HeldFeed {
            id: self.id.clone(),
            serial: self.serial,
            header: header.into(),
            feed,
            shape,
            pos,
            request_id: request_id.into(),
            ended: false,
        });
    }
}

/// An `activity` subscription held by its socket.
pub struct HeldFeed {
    /// The operation's id.
    pub id: String,
    /// What tells the operation apart from any other its socket ran, under this id too.
    pub serial: u64,
    /// `{"type":"next","id":…,"payload":` for this operation.
    header: Box<str>,
    feed: CompanyFeed,
    shape: HeldShape,
    /// Where the root field stands in the document (its errors' location).
    pos: Pos,
    /// The socket's request id, named by an internal error.
    request_id: Box<str>,
    /// Its `complete` was given.
    ended: bool,
}

impl HeldFeed {
    /// The next message for the subscriber: a `next` for each event it may read; after an
    /// error (it fell behind, lost the company…), that error's `next` and then
    /// `complete`; None once it has ended.
    pub async fn next_message(&mut self) -> Option<String> {
        match self.feed.next().await {
            Some(Ok(live)) => Some(self.frame(&live)),
            Some(Err(err)) => Some(self.error(err)),
            None if self.ended => None,
            None => {
                self.ended = true;
                Some(complete_message(&self.id))
            }
        }
    }

    /// The `next` for a live event, its payload shared with every subscriber of the shape.
    fn frame(&self, live: &LiveEvent) -> String {
        let payload = live.payloads.of(&self.shape, &live.event);
        let mut frame = String::with_capacity(self.header.len() + payload.len() + 1);
        frame.push_str(&self.header);
        frame.push_str(&payload);
        frame.push('}');
        frame
    }

    /// The `next` carrying the error that ends the feed, as async-graphql words a stream's
    /// error item.
    fn error(&self, err: AppError) -> String {
        let error = async_graphql::Error::from(err)
            .into_server_error(self.pos)
            .with_path(vec![PathSegment::Field(self.shape.root().to_owned())]);
        let mut response = Response::from_errors(vec![error]);
        finish_response(&mut response, Some(&self.request_id));
        format!(
            "{}{}}}",
            self.header,
            serde_json::to_string(&response).unwrap_or_default()
        )
    }
}

/// The `complete` ending the operation `id`.
pub fn complete_message(id: &str) -> String {
    format!("{{\"type\":\"complete\",\"id\":{}}}", json_string(id))
}

/// `text` as a JSON string, quoted and escaped.
fn json_string(text: &str) -> String {
    serde_json::to_string(text).unwrap_or_default()
}

fn lock<T>(slot: &Mutex<T>) -> MutexGuard<'_, T> {
    slot.lock().unwrap_or_else(PoisonError::into_inner)
}
