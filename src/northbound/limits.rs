//! Session limits of a face (`max-sessions`, `idle-timeout` in
//! `lifeline-system:management`), changed live by commits.
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct Limits {
    config: Mutex<(usize, Option<Duration>)>,
    active: AtomicUsize,
}

/// A session's place under the limit; released when dropped.
pub struct Slot(Arc<Limits>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Limits {
    pub fn new() -> Arc<Limits> {
        Arc::new(Limits {
            config: Mutex::new((32, Some(Duration::from_secs(3600)))),
            active: AtomicUsize::new(0),
        })
    }

    pub fn set(&self, max_sessions: usize, idle: Option<Duration>) {
        *self.config.lock().unwrap() = (max_sessions, idle);
    }

    pub fn idle(&self) -> Option<Duration> {
        self.config.lock().unwrap().1
    }

    /// A slot for a new session, or `None` when the face is full.
    pub fn enter(self: &Arc<Self>) -> Option<Slot> {
        let max = self.config.lock().unwrap().0;
        let prev = self.active.fetch_add(1, Ordering::SeqCst);
        let slot = Slot(self.clone());
        (prev < max).then_some(slot)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_counted_and_released() {
        let l = Limits::new();
        l.set(2, None);
        let a = l.enter().unwrap();
        let _b = l.enter().unwrap();
        assert!(l.enter().is_none());
        drop(a);
        assert!(l.enter().is_some());
    }
}
