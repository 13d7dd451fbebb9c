//! What an instance keeps about API keys between requests: keys recently found by their
//! secret (forgotten with members' standing, whenever any instance announces a change to a
//! key or a role), when each was last marked used, and each key's request budget.

use std::num::NonZeroU32;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use chrono::{DateTime, Utc};
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use uuid::Uuid;

use super::model::ApiKeyRow;
use crate::cache::{FreshCache, Ticket};

/// A key found by its secret.
pub struct KnownKey {
    pub key: ApiKeyRow,
    pub secret_hash: Vec<u8>,
    /// When this instance last marked the key used (Unix seconds).
    touched_at: AtomicI64,
}

impl KnownKey {
    /// A key as read from the store.
    pub fn new(key: ApiKeyRow, secret_hash: Vec<u8>) -> Self {
        let touched_at = key.last_used_at.map_or(i64::MIN, |at| at.timestamp());
        Self {
            key,
            secret_hash,
            touched_at: AtomicI64::new(touched_at),
        }
    }

    /// Whether the key's last use should be written now: true at most once a minute per
    /// instance (the first caller to ask in a new minute gets it).
    pub fn claim_touch(&self, now: DateTime<Utc>) -> bool {
        let now = now.timestamp();
        let last = self.touched_at.load(Ordering::Relaxed);
        now.saturating_sub(last) >= 60
            && self
                .touched_at
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_ok()
    }
}

/// Keys by public id, and each key's requests per minute.
pub struct KeyMemory {
    keys: FreshCache<String, Arc<KnownKey>>,
    budget: DefaultKeyedRateLimiter<Uuid>,
}

impl KeyMemory {
    /// A memory trusting a key found for `ttl`, allowing each key `per_minute` requests.
    pub fn new(ttl: Duration, per_minute: u32) -> Self {
        let per_minute = NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN);
        Self {
            keys: FreshCache::new(ttl),
            budget: RateLimiter::keyed(Quota::per_minute(per_minute)),
        }
    }

    /// Taken before reading a key, handed back to [`KeyMemory::put`].
    pub fn ticket(&self) -> Ticket {
        self.keys.ticket()
    }

    /// The key with this public id, if found a moment ago.
    pub fn get(&self, public_id: &str) -> Option<Arc<KnownKey>> {
        self.keys.get(public_id)
    }

    /// Remembers a key found, unless something was forgotten since `ticket`.
    pub fn put(&self, ticket: Ticket, public_id: &str, key: Arc<KnownKey>) {
        self.keys.put(ticket, public_id.to_owned(), key);
    }

    /// Forgets every key (a key, a role or a permission changed somewhere).
    pub fn forget_all(&self) {
        self.keys.forget_all();
    }

    /// Counts one request of the key; Err(seconds to wait) when its minute's budget is spent.
    pub fn spend(&self, key_id: Uuid) -> Result<(), u64> {
        self.budget.check_key(&key_id).map_err(|refused| {
            metrics::counter!("guildhall_rate_limit_refusals_total", "limit" => "api_key_budget")
                .increment(1);
            let wait = refused.wait_time_from(DefaultClock::default().now());
            wait.as_secs().max(1)
        })?;
        if self.budget.len() > 10_000 {
            self.budget.retain_recent();
        }
        Ok(())
    }
}
