//! The subscriptions one socket holds itself (see [`crate::events::held`]): each waits
//! for its next message in a future of its own, polled by the socket's loop, so the
//! socket's task serves them all and no subscription has a task or a stream of its own.

use std::future::{Future, poll_fn};
use std::sync::Arc;
use std::task::Poll;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use super::operations::Envelope;
use crate::events::held::{HeldFeed, HeldSubscriptions};

/// A held subscription waiting for its next message.
type Waiting = BoxFuture<'static, (Box<HeldFeed>, Option<String>)>;

/// The socket's held subscriptions, with their operations' serials and ids.
pub struct Following {
    /// Where the socket's resolvers hand subscriptions over (None: a socket that holds
    /// none, speaking the legacy protocol).
    held: Option<Arc<HeldSubscriptions>>,
    feeds: Vec<(u64, Box<str>, Waiting)>,
}

impl Following {
    /// Nothing followed yet; subscriptions come from `held`.
    pub fn new(held: Option<Arc<HeldSubscriptions>>) -> Self {
        Self {
            held,
            feeds: Vec::new(),
        }
    }

    /// Follows the subscription whose end async-graphql announces with `message`, when
    /// its resolver handed it over: true when the message is to be kept from the client
    /// (the operation is not over, the socket carries it on).
    pub fn takes_over(&mut self, message: &str) -> bool {
        let Some(held) = &self.held else {
            return false;
        };
        if !message.starts_with("{\"type\":\"complete\"") {
            return false;
        }
        let Some(feed) = Envelope::of(message.as_bytes())
            .and_then(|envelope| envelope.id)
            .and_then(|id| held.take(&id))
        else {
            return false;
        };
        self.follow(Box::new(feed));
        true
    }

    /// Ends the operation with `serial`, which the client completed: its id when the socket
    /// followed it (the client is then answered with `complete`), None when async-graphql
    /// still has it or it was handed over and not yet followed (async-graphql's own
    /// `complete` then answers).
    pub fn completed(&mut self, serial: u64) -> Option<Box<str>> {
        if let Some(held) = &self.held
            && held.take_serial(serial).is_some()
        {
            return None;
        }
        self.stop(serial)
    }

    /// Follows `feed` (boxed: it moves into each wait, and out of it with its message, as
    /// a pointer).
    pub fn follow(&mut self, feed: Box<HeldFeed>) {
        self.feeds
            .push((feed.serial, feed.id.as_str().into(), wait(feed)));
    }

    /// Stops following the operation with `serial`; its id, or None when it was not
    /// followed.
    fn stop(&mut self, serial: u64) -> Option<Box<str>> {
        let at = self
            .feeds
            .iter()
            .position(|(followed, _, _)| *followed == serial)?;
        Some(self.feeds.swap_remove(at).1)
    }

    /// The next subscription with a message (None for one that has ended), taken out of
    /// those followed until [`Self::follow_ready`] gives it back. Never ready while none
    /// is followed; dropping it loses nothing.
    pub fn next(&mut self) -> impl Future<Output = (Box<HeldFeed>, Option<String>)> + '_ {
        poll_fn(|cx| {
            for at in 0..self.feeds.len() {
                if let Poll::Ready(ready) = self.feeds[at].2.poll_unpin(cx) {
                    drop(self.feeds.swap_remove(at));
                    return Poll::Ready(ready);
                }
            }
            Poll::Pending
        })
    }

    /// Follows `feed` again, and gives its next message if it is ready now: a subscriber
    /// behind gets its backlog in one write.
    pub fn follow_ready(&mut self, feed: Box<HeldFeed>) -> Option<(Box<HeldFeed>, Option<String>)> {
        let (serial, id) = (feed.serial, feed.id.as_str().into());
        let mut waiting = wait(feed);
        match (&mut waiting).now_or_never() {
            Some(ready) => Some(ready),
            None => {
                self.feeds.push((serial, id, waiting));
                None
            }
        }
    }
}

fn wait(mut feed: Box<HeldFeed>) -> Waiting {
    Box::pin(async move {
        let message = feed.next_message().await;
        (feed, message)
    })
}
