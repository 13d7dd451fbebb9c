//! A brief memory of sessions found live, so a burst of requests does not read the session
//! row each time. Changes made by this process (sign-out, revocation, password change,
//! verification) forget the user's entries at once; another instance's revocation shows
//! here within the time-to-live.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::auth::actor::SignedInUser;
use crate::cache::{FreshCache, Ticket};

#[derive(Clone)]
struct Entry {
    user: SignedInUser,
    /// When the session itself ends.
    expires_at: DateTime<Utc>,
}

/// Sessions recently found live, by session id.
pub struct SessionCache(FreshCache<Uuid, Entry>);

impl SessionCache {
    /// A cache keeping each answer for `ttl` (zero turns it off).
    pub fn new(ttl: Duration) -> Self {
        Self(FreshCache::new(ttl))
    }

    /// Taken before reading a session, handed back to [`SessionCache::put`].
    pub fn ticket(&self) -> Ticket {
        self.0.ticket()
    }

    /// The signed-in user of a session found live a moment ago.
    pub fn get(&self, session_id: Uuid, now: DateTime<Utc>) -> Option<SignedInUser> {
        let entry = self.0.get(&session_id)?;
        (entry.expires_at > now).then_some(entry.user)
    }

    /// Remembers a session found live, unless some user was forgotten since `ticket`.
    pub fn put(&self, ticket: Ticket, user: &SignedInUser, expires_at: DateTime<Utc>) {
        let entry = Entry {
            user: user.clone(),
            expires_at,
        };
        self.0.put(ticket, user.session_id, entry);
    }

    /// Forgets every session of the user (after a sign-out, revocation or account change).
    pub fn forget_user(&self, user_id: Uuid) {
        self.0.forget_where(|_, entry| entry.user.user_id == user_id);
    }
}
