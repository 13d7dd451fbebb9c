//! A brief memory of sessions found live, so a burst of requests does not read the session
//! row each time. Changes made by this process (sign-out, revocation, password change,
//! verification) forget the user's entries at once; another instance's revocation shows
//! here within the time-to-live.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::auth::actor::SignedInUser;

/// Entries kept before stale ones are swept.
const SWEEP_AT: usize = 10_000;

struct Entry {
    user: SignedInUser,
    /// When the session itself ends.
    expires_at: DateTime<Utc>,
    /// When this memory must be checked again.
    fresh_until: Instant,
}

/// Sessions recently found live, by session id.
pub struct SessionCache {
    ttl: Duration,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    entries: HashMap<Uuid, Entry>,
    /// Bumped by every `forget_user`: an answer read from the database before a change
    /// must not be remembered after it.
    generation: u64,
}

/// Where the cache stood when a session was read from the database.
#[derive(Debug, Clone, Copy)]
pub struct Ticket(u64);

impl SessionCache {
    /// A cache keeping each answer for `ttl` (zero turns it off).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            state: Mutex::new(State::default()),
        }
    }

    /// Taken before reading a session, handed back to [`SessionCache::put`].
    pub fn ticket(&self) -> Ticket {
        Ticket(self.state.lock().map_or(u64::MAX, |state| state.generation))
    }

    /// The signed-in user of a session found live a moment ago.
    pub fn get(&self, session_id: Uuid, now: DateTime<Utc>) -> Option<SignedInUser> {
        let state = self.state.lock().ok()?;
        let entry = state.entries.get(&session_id)?;
        (entry.fresh_until > Instant::now() && entry.expires_at > now).then(|| entry.user.clone())
    }

    /// Remembers a session found live, unless some user was forgotten since `ticket`.
    pub fn put(&self, ticket: Ticket, user: &SignedInUser, expires_at: DateTime<Utc>) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut state) = self.state.lock() else {
            return;
        };
        if state.generation != ticket.0 {
            return;
        }
        let now = Instant::now();
        if state.entries.len() >= SWEEP_AT {
            state.entries.retain(|_, entry| entry.fresh_until > now);
        }
        state.entries.insert(
            user.session_id,
            Entry {
                user: user.clone(),
                expires_at,
                fresh_until: now + self.ttl,
            },
        );
    }

    /// Forgets every session of the user (after a sign-out, revocation or account change).
    pub fn forget_user(&self, user_id: Uuid) {
        if let Ok(mut state) = self.state.lock() {
            state.generation += 1;
            state.entries.retain(|_, entry| entry.user.user_id != user_id);
        }
    }
}
