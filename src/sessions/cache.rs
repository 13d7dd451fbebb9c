//! A brief memory of access tokens found valid for a live session, so a burst of requests
//! neither checks the token's signature nor reads the session row each time. Changes made
//! by this process (sign-out, revocation, password change, verification) forget the user's
//! entries at once; another instance's revocation shows here within the time-to-live.

use std::time::Duration;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::auth::caller::SignedInUser;
use crate::cache::{FreshCache, Ticket};

#[derive(Clone)]
struct Entry {
    user: SignedInUser,
    /// The earlier of the session's end and the access token's.
    until: DateTime<Utc>,
}

/// Access tokens recently found to belong to a live session, by token text: a remembered
/// token needs neither its signature checked again nor its session read.
pub struct SessionCache(FreshCache<String, Entry>);

impl SessionCache {
    /// A cache keeping each answer for `ttl` (zero turns it off).
    pub fn new(ttl: Duration) -> Self {
        Self(FreshCache::new(ttl))
    }

    /// Taken before reading a session, handed back to [`SessionCache::put`].
    pub fn ticket(&self) -> Ticket {
        self.0.ticket()
    }

    /// The signed-in user of an access token found valid, with a live session, a moment ago.
    pub fn get(&self, access_token: &str, now: DateTime<Utc>) -> Option<SignedInUser> {
        let entry = self.0.get(access_token)?;
        (entry.until > now).then_some(entry.user)
    }

    /// Remembers a verified access token of a live session until `until` at the latest,
    /// unless some user was forgotten since `ticket`.
    pub fn put(&self, ticket: Ticket, access_token: &str, user: &SignedInUser, until: DateTime<Utc>) {
        let entry = Entry {
            user: user.clone(),
            until,
        };
        self.0.put(ticket, access_token.to_owned(), entry);
    }

    /// Forgets every session of the user (after a sign-out, revocation or account change).
    pub fn forget_user(&self, user_id: Uuid) {
        self.0.forget_where(|_, entry| entry.user.user_id == user_id);
    }
}
