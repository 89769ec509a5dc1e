//! Whether the store has stopped taking writes, and why. Set once, by the
//! writer (a round could not be written) or the syncer (it could not be made
//! durable); never cleared: the page cache may no longer match the disk, so
//! only a restart, and the recovery it runs, makes the store usable again.

use std::sync::atomic::{AtomicBool, Ordering};

use parking_lot::Mutex;
use tokio::sync::Notify;

#[derive(Debug, Default)]
pub struct Failure {
    failed: AtomicBool,
    /// The first cause, as the operating system or sled told it (no personal data).
    cause: Mutex<Option<String>>,
    notify: Notify,
}

impl Failure {
    pub fn is_set(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// Records that the store failed; the first cause is kept and logged.
    pub fn set(&self, cause: &dyn std::fmt::Display, what: &str) {
        let mut kept = self.cause.lock();
        if kept.is_none() {
            tracing::error!(%cause, "{what}; the store stops taking writes");
            *kept = Some(format!("{what}: {cause}"));
        }
        self.failed.store(true, Ordering::Release);
        self.notify.notify_waiters();
    }

    pub fn cause(&self) -> Option<String> {
        self.cause.lock().clone()
    }

    /// Waits until the store fails, and tells why.
    pub async fn wait(&self) -> String {
        loop {
            // Registered before the check, so a failure between the two still wakes it.
            let notified = self.notify.notified();
            if let Some(cause) = self.cause() {
                return cause;
            }
            notified.await;
        }
    }
}
