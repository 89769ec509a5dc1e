//! The indicator projection as a hub keeps it: folded from the whole log
//! when the hub starts, then following the log as events become durable —
//! the same on either store engine, and on every hub in front of one
//! PostgreSQL database.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::Projection;
use crate::domain::RecordedEvent;
use crate::store::Store;

/// Events read from the log at a time.
const PAGE: usize = 2048;

/// The hub's indicator projection.
#[derive(Clone)]
pub struct Indicators {
    inner: Arc<Inner>,
}

struct Inner {
    projection: RwLock<Projection>,
    /// The projection's position, readable without its lock.
    position: AtomicU64,
    /// The durable position when the hub started: answers wait until the
    /// projection has counted up to it.
    target: u64,
    ready: AtomicBool,
}

/// How far the projection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    Ready,
    /// Still counting the log as it stood when the hub started.
    Building {
        counted: u64,
        of: u64,
    },
}

impl Indicators {
    /// Starts following `store`'s log until `shutdown`; the follower's task,
    /// which holds the store until it ends.
    pub fn start(store: Store, shutdown: CancellationToken) -> (Self, JoinHandle<()>) {
        let inner = Arc::new(Inner {
            projection: RwLock::new(Projection::default()),
            position: AtomicU64::new(0),
            target: store.durable_position(),
            ready: AtomicBool::new(false),
        });
        let follower = tokio::spawn(follow(store, inner.clone(), shutdown));
        (Self { inner }, follower)
    }

    pub fn progress(&self) -> Progress {
        if self.inner.ready.load(Ordering::Acquire) {
            Progress::Ready
        } else {
            Progress::Building { counted: self.inner.position.load(Ordering::Acquire), of: self.inner.target }
        }
    }

    /// `f` of the projection as it stands.
    pub fn read<R>(&self, f: impl FnOnce(&Projection) -> R) -> R {
        self.inner.read(f)
    }
}

impl Inner {
    fn read<R>(&self, f: impl FnOnce(&Projection) -> R) -> R {
        f(&self.projection.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }

    /// Applies `events` (the log's next ones) and publishes the new position.
    fn apply(&self, events: &[RecordedEvent]) {
        let mut projection = self.projection.write().unwrap_or_else(|poisoned| poisoned.into_inner());
        for event in events {
            projection.apply(event);
        }
        self.position.store(projection.position(), Ordering::Release);
    }
}

async fn follow(store: Store, inner: Arc<Inner>, shutdown: CancellationToken) {
    let mut durable = store.durable_watch();
    let started = std::time::Instant::now();
    while !shutdown.is_cancelled() {
        let position = inner.position.load(Ordering::Acquire);
        if position < store.durable_position() {
            // A database that cannot be reached must not hold up the hub's shutdown.
            let read = tokio::select! {
                read = store.events_from(position + 1, PAGE) => read,
                () = shutdown.cancelled() => return,
            };
            match read {
                Ok(events) if !events.is_empty() => {
                    inner.apply(&events);
                    continue;
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "indicators could not read the log; trying again");
                    tokio::select! {
                        () = tokio::time::sleep(Duration::from_secs(1)) => continue,
                        () = shutdown.cancelled() => return,
                    }
                }
            }
        }
        if position >= inner.target && !inner.ready.swap(true, Ordering::AcqRel) {
            let plans = inner.read(Projection::plans);
            tracing::info!(
                position,
                plans,
                millis = started.elapsed().as_millis() as u64,
                "indicators counted the log"
            );
        }
        tokio::select! {
            changed = durable.changed() => if changed.is_err() { return },
            () = shutdown.cancelled() => return,
        }
    }
}
