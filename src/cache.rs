//! A brief in-process memory of answers read from the database, for reads far more frequent
//! than the changes to what they read (live sessions, members' standing). Each answer is
//! trusted for a time-to-live; whoever changes the data forgets entries at once, and an
//! answer read before such a change is never remembered after it (see [`Ticket`]).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Entries kept before stale ones are swept.
const SWEEP_AT: usize = 10_000;

/// Answers by key, each fresh for the cache's time-to-live.
pub struct FreshCache<K, V> {
    ttl: Duration,
    state: Mutex<State<K, V>>,
}

struct State<K, V> {
    entries: HashMap<K, (V, Instant)>,
    /// Bumped by every forget: an answer read from the database before a change must not
    /// be remembered after it.
    generation: u64,
}

/// Where the cache stood before an answer was read from the database; handed back to
/// [`FreshCache::put`], which refuses the answer if anything was forgotten since.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

impl<K: Eq + Hash, V: Clone> FreshCache<K, V> {
    /// A cache keeping each answer for `ttl` (zero turns it off).
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            state: Mutex::new(State {
                entries: HashMap::new(),
                generation: 0,
            }),
        }
    }

    // Every operation leaves the state whole, so a panic elsewhere cannot leave it torn.
    fn state(&self) -> MutexGuard<'_, State<K, V>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Taken before reading from the database.
    pub fn ticket(&self) -> Ticket {
        Ticket(self.state().generation)
    }

    /// The answer for `key`, if one was read within the time-to-live.
    pub fn get<Q>(&self, key: &Q) -> Option<V>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        let state = self.state();
        let (value, fresh_until) = state.entries.get(key)?;
        (*fresh_until > Instant::now()).then(|| value.clone())
    }

    /// Remembers an answer, unless something was forgotten since `ticket` was taken.
    pub fn put(&self, ticket: Ticket, key: K, value: V) {
        if self.ttl.is_zero() {
            return;
        }
        let mut state = self.state();
        if state.generation != ticket.0 {
            return;
        }
        let now = Instant::now();
        if state.entries.len() >= SWEEP_AT {
            state.entries.retain(|_, (_, fresh_until)| *fresh_until > now);
        }
        state.entries.insert(key, (value, now + self.ttl));
    }

    /// Forgets the entries `doomed` picks.
    pub fn forget_where(&self, doomed: impl Fn(&K, &V) -> bool) {
        let mut state = self.state();
        state.generation += 1;
        state.entries.retain(|key, (value, _)| !doomed(key, value));
    }

    /// Forgets everything.
    pub fn forget_all(&self) {
        let mut state = self.state();
        state.generation += 1;
        state.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_answer_read_before_a_forget_is_not_remembered() {
        let cache = FreshCache::new(Duration::from_secs(60));
        let before = cache.ticket();
        cache.forget_all();
        cache.put(before, 1, "stale");
        assert_eq!(cache.get(&1), None);
        let after = cache.ticket();
        cache.put(after, 1, "fresh");
        assert_eq!(cache.get(&1), Some("fresh"));
    }

    #[test]
    fn forget_where_drops_only_what_it_picks() {
        let cache = FreshCache::new(Duration::from_secs(60));
        let ticket = cache.ticket();
        cache.put(ticket, 1, "one");
        cache.put(ticket, 2, "two");
        cache.forget_where(|key, _| *key == 1);
        assert_eq!(cache.get(&1), None);
        assert_eq!(cache.get(&2), Some("two"));
    }

    #[test]
    fn a_zero_time_to_live_keeps_nothing() {
        let cache = FreshCache::new(Duration::ZERO);
        cache.put(cache.ticket(), 1, "one");
        assert_eq!(cache.get(&1), None);
    }
}
