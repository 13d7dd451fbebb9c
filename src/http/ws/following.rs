//! The subscriptions one socket holds itself (see [`crate::events::held`]): each waits
//! for its next message in a future of its own, polled by the socket's loop, so the
//! socket's task serves them all and no subscription has a task or a stream of its own.

use std::future::{Future, poll_fn};
use std::task::Poll;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;

use crate::events::held::HeldFeed;

/// A held subscription waiting for its next message.
type Waiting = BoxFuture<'static, (HeldFeed, Option<String>)>;

/// The socket's held subscriptions, with their operations' serials and ids.
#[derive(Default)]
pub struct Following {
    feeds: Vec<(u64, Box<str>, Waiting)>,
}

impl Following {
    /// Starts following `feed`.
    pub fn follow(&mut self, feed: HeldFeed) {
        self.feeds
            .push((feed.serial, feed.id.as_str().into(), wait(feed)));
    }

    /// Stops following the operation with `serial`; its id, or None when it was not
    /// followed.
    pub fn stop(&mut self, serial: u64) -> Option<Box<str>> {
        let at = self
            .feeds
            .iter()
            .position(|(followed, _, _)| *followed == serial)?;
        Some(self.feeds.swap_remove(at).1)
    }

    /// The next subscription with a message (None for one that has ended), taken out of
    /// those followed until [`Self::follow_ready`] gives it back. Never ready while none
    /// is followed; dropping it loses nothing.
    pub fn next(&mut self) -> impl Future<Output = (HeldFeed, Option<String>)> + '_ {
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
    pub fn follow_ready(&mut self, feed: HeldFeed) -> Option<(HeldFeed, Option<String>)> {
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

fn wait(mut feed: HeldFeed) -> Waiting {
    Box::pin(async move {
        let message = feed.next_message().await;
        (feed, message)
    })
}
