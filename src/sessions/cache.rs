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
    entries: Mutex<HashMap<Uuid, Entry>>,
}

impl SessionCache {
    /// A cache keeping each answer for `ttl` (zero turns it off).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The signed-in user of a session found live a moment ago.
    pub fn get(&self, session_id: Uuid, now: DateTime<Utc>) -> Option<SignedInUser> {
        let entries = self.entries.lock().ok()?;
        let entry = entries.get(&session_id)?;
        (entry.fresh_until > Instant::now() && entry.expires_at > now).then(|| entry.user.clone())
    }

    /// Remembers a session just found live.
    pub fn put(&self, user: &SignedInUser, expires_at: DateTime<Utc>) {
        if self.ttl.is_zero() {
            return;
        }
        let Ok(mut entries) = self.entries.lock() else {
            return;
        };
        let now = Instant::now();
        if entries.len() >= SWEEP_AT {
            entries.retain(|_, entry| entry.fresh_until > now);
        }
        entries.insert(
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
        if let Ok(mut entries) = self.entries.lock() {
            entries.retain(|_, entry| entry.user.user_id != user_id);
        }
    }
}
