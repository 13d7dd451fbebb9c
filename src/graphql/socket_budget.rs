//! How many websockets one account holds open: at most `WS_MAX_SOCKETS_PER_USER` on one
//! instance, counted by seats that give their place back when dropped, whatever ends the
//! socket. (What one socket runs is counted by the socket itself, `http::ws`.)

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use uuid::Uuid;

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
        if open.get(&user_id).copied().unwrap_or(0) >= max {
            return None;
        }
        *open.entry(user_id).or_insert(0) += 1;
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
