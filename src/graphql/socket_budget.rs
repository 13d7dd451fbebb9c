//! What one websocket and one account may hold open. A subscription costs memory for as
//! long as it runs, so a socket runs at most `WS_MAX_SUBSCRIPTIONS` operations at once and
//! an account holds at most `WS_MAX_SOCKETS_PER_USER` sockets on one instance. Both are
//! counted by guards that give their place back when dropped, whatever ends them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use uuid::Uuid;

/// The operations one socket runs (kept in the socket's connection data).
#[derive(Debug)]
pub struct SocketBudget {
    running: AtomicUsize,
    max: usize,
}

impl SocketBudget {
    /// A socket that may run `max` operations at once.
    pub fn new(max: usize) -> Arc<Self> {
        Arc::new(Self {
            running: AtomicUsize::new(0),
            max,
        })
    }

    /// A place for one more operation, held until the slot is dropped; None when the
    /// socket already runs its maximum.
    pub fn start(self: &Arc<Self>) -> Option<OperationSlot> {
        self.running
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |running| {
                (running < self.max).then_some(running + 1)
            })
            .ok()
            .map(|_| OperationSlot(Arc::clone(self)))
    }

    /// The most operations the socket may run at once.
    pub fn max(&self) -> usize {
        self.max
    }
}

/// One running operation's place on its socket.
#[derive(Debug)]
pub struct OperationSlot(Arc<SocketBudget>);

impl Drop for OperationSlot {
    fn drop(&mut self) {
        self.0.running.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Open sockets per account on this instance.
#[derive(Debug, Default)]
pub struct SocketsPerUser {
    open: Mutex<HashMap<Uuid, usize>>,
}

impl SocketsPerUser {
    /// A seat for one more socket of `user_id`, held until it is dropped; None when the
    /// account already holds `max`.
    pub fn open(self: &Arc<Self>, user_id: Uuid, max: usize) -> Option<SocketSeat> {
        let mut open = self.lock();
        let count = open.entry(user_id).or_insert(0);
        if *count >= max {
            return None;
        }
        *count += 1;
        Some(SocketSeat {
            sockets: Arc::clone(self),
            user_id,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<Uuid, usize>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// One open socket's seat among its account's.
#[derive(Debug)]
pub struct SocketSeat {
    sockets: Arc<SocketsPerUser>,
    user_id: Uuid,
}

impl Drop for SocketSeat {
    fn drop(&mut self) {
        let mut open = self.sockets.lock();
        if let Some(count) = open.get_mut(&self.user_id) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                open.remove(&self.user_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_socket_runs_at_most_its_maximum_and_a_finished_operation_frees_its_place() {
        let budget = SocketBudget::new(2);
        let first = budget.start().expect("first");
        let _second = budget.start().expect("second");
        assert!(budget.start().is_none());
        drop(first);
        assert!(budget.start().is_some());
    }

    #[test]
    fn an_account_holds_at_most_its_maximum_of_sockets() {
        let sockets = Arc::new(SocketsPerUser::default());
        let (alice, bob) = (Uuid::new_v4(), Uuid::new_v4());
        let seats: Vec<_> = (0..3).map(|_| sockets.open(alice, 3).expect("seat")).collect();
        assert!(sockets.open(alice, 3).is_none());
        assert!(sockets.open(bob, 3).is_some(), "others are not affected");
        drop(seats);
        assert!(sockets.lock().get(&alice).is_none(), "no entry is left behind");
    }
}
