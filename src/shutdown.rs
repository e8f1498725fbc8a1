//! Graceful shutdown: one signal every listener and session watches. Sessions
//! tell their user in one line and end; the appliance waits a little for them.
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use tokio::sync::watch;

#[derive(Clone)]
pub struct Shutdown {
    tx: Arc<watch::Sender<bool>>,
    rx: watch::Receiver<bool>,
    live: Arc<AtomicUsize>,
}

/// Held by a session while it runs; the shutdown waits for these to go.
pub struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Default for Shutdown {
    fn default() -> Self {
        Shutdown::new()
    }
}

impl Shutdown {
    pub fn new() -> Shutdown {
        let (tx, rx) = watch::channel(false);
        Shutdown {
            tx: Arc::new(tx),
            rx,
            live: Arc::default(),
        }
    }

    pub fn is_started(&self) -> bool {
        *self.rx.borrow()
    }

    /// Resolves once shutdown starts.
    pub async fn started(&self) {
        let mut rx = self.rx.clone();
        let _ = rx.wait_for(|s| *s).await;
    }

    /// Marks a session as running until the guard drops.
    pub fn running(&self) -> Running {
        self.live.fetch_add(1, Ordering::SeqCst);
        Running(self.live.clone())
    }

    /// Starts the shutdown and waits (at most `grace`) for sessions to end.
    pub async fn begin(&self, grace: Duration) {
        let _ = self.tx.send(true);
        let deadline = tokio::time::Instant::now() + grace;
        while self.live.load(Ordering::SeqCst) > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
