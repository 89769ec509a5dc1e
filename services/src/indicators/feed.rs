//! The indicator projection as a hub keeps it: folded from the whole log
//! when the hub starts, then following the log as events become durable —
//! the same on either store engine, and on every hub in front of one
//! PostgreSQL database.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::Projection;
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
    /// The durable position when the hub started: answers wait until the
    /// projection has counted up to it.
    target: AtomicU64,
    ready: AtomicBool,
}

/// How far the projection is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    Ready {
        position: u64,
    },
    /// Still counting the log as it stood when the hub started.
    Building {
        counted: u64,
        of: u64,
    },
}

impl Indicators {
    /// Starts following `store`'s log until `shutdown`.
    pub fn start(store: Store, shutdown: CancellationToken) -> Self {
        let inner = Arc::new(Inner {
            projection: RwLock::new(Projection::default()),
            target: AtomicU64::new(store.durable_position()),
            ready: AtomicBool::new(false),
        });
        tokio::spawn(follow(store, inner.clone(), shutdown));
        Self { inner }
    }

    pub fn progress(&self) -> Progress {
        let position = self.read(Projection::position);
        if self.inner.ready.load(Ordering::Acquire) {
            Progress::Ready { position }
        } else {
            Progress::Building { counted: position, of: self.inner.target.load(Ordering::Relaxed) }
        }
    }

    /// `f` of the projection as it stands.
    pub fn read<R>(&self, f: impl FnOnce(&Projection) -> R) -> R {
        f(&self.inner.projection.read().unwrap_or_else(|poisoned| poisoned.into_inner()))
    }
}

async fn follow(store: Store, inner: Arc<Inner>, shutdown: CancellationToken) {
    let mut durable = store.durable_watch();
    let started = std::time::Instant::now();
    loop {
        let position = inner.projection.read().map_or(0, |p| p.position());
        if position < store.durable_position() {
            match store.events_from(position + 1, PAGE).await {
                Ok(events) if !events.is_empty() => {
                    let mut projection = inner.projection.write().unwrap_or_else(|poisoned| poisoned.into_inner());
                    for event in &events {
                        projection.apply(event);
                    }
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
        if position >= inner.target.load(Ordering::Relaxed) && !inner.ready.swap(true, Ordering::AcqRel) {
            let plans = inner.projection.read().map_or(0, |p| p.plans());
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
