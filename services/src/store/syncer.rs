//! The syncer thread: makes what the writer applied and flushed device-durable, then answers.
//!
//! It takes every round the writer has handed over since its last sync (so one
//! sync can cover several rounds) and calls `fdatasync` on sled's data file —
//! the writer's `Db::flush` ends in `sync_file_range`, which flushes neither
//! the drive's cache nor the file's metadata — then advances the durable
//! position and only then answers the rounds' jobs, in order.
//!
//! If a flush or sync fails, the store stops taking writes for good (the page
//! cache may no longer match the disk, the fsync-gate lesson): every waiting
//! job and read fails, and a restart recovers from what is on disk.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::Receiver;
use std::time::Instant;

use tokio::sync::{oneshot, watch};

use super::failure::Failure;
use super::writer::add_micros;
use super::{Error, Stats};

/// Answers one job once its round's fate is known: told `true` when the round is durable.
pub(super) type Answer = Box<dyn FnOnce(bool) + Send>;

/// The answer that sends `result` to `reply` if the round became durable,
/// and `UNAVAILABLE` if it did not — a refusal too: it may rest on what an
/// earlier job of the round staged (a version, a request record) that was
/// never written, and its audit record was not written either.
pub(super) fn answer<T: Send + 'static>(reply: oneshot::Sender<Result<T, Error>>, result: Result<T, Error>) -> Answer {
    Box::new(move |durable| {
        let _ = reply.send(if durable { result } else { Err(Error::Unavailable) });
    })
}

/// One round of the writer, applied to sled and flushed to its file but not yet durable.
pub(super) struct Pending {
    /// The last global position assigned when the round was applied.
    pub position: u64,
    pub answers: Vec<Answer>,
    /// The round's span (no longer entered), for the sync's span to hang
    /// under; it is exported once the sync is done.
    pub round: tracing::Span,
}

pub(super) struct Syncer {
    pub db: sled::Db,
    pub data_file: std::fs::File,
    pub durable: watch::Sender<u64>,
    pub stats: Arc<Stats>,
    pub failure: Arc<Failure>,
}

impl Syncer {
    pub(super) fn run(self, rx: Receiver<Pending>) {
        let mut durable = Some(self.durable);
        while let Ok(first) = rx.recv() {
            let mut rounds = vec![first];
            rounds.extend(rx.try_iter());
            // Every round writes at least its audit records.
            let result = if self.failure.is_set() {
                Err(Error::Unavailable)
            } else {
                sync_span(&rounds).in_scope(|| sync(&self.data_file, &self.stats))
            };
            match result {
                Ok(()) => {
                    if let (Some(durable), Some(last)) = (&durable, rounds.last()) {
                        durable.send_if_modified(|durable| {
                            let advanced = last.position > *durable;
                            if advanced {
                                *durable = last.position;
                            }
                            advanced
                        });
                    }
                }
                Err(error) => {
                    self.failure.set(&error, "making writes durable failed");
                    // Dropping the sender fails every read waiting for durability.
                    durable = None;
                }
            }
            let succeeded = durable.is_some();
            for answer in rounds.into_iter().flat_map(|r| r.answers) {
                answer(succeeded);
            }
        }
        // Anything written outside a round (the audit index watermark on open) is flushed here.
        if !self.failure.is_set()
            && let Err(error) = self.db.flush().map_err(Error::from).and_then(|_| sync(&self.data_file, &self.stats))
        {
            tracing::error!(%error, "final flush failed");
        }
    }
}

/// The span of one sync: a child of the first round it makes durable, linked to the others.
fn sync_span(rounds: &[Pending]) -> tracing::Span {
    let Some((first, others)) = rounds.split_first() else { return tracing::Span::none() };
    let span = tracing::info_span!(parent: &first.round, "sync", rounds = rounds.len() as i64);
    for other in others {
        span.follows_from(&other.round);
    }
    span
}

fn sync(data_file: &std::fs::File, stats: &Stats) -> Result<(), Error> {
    let started = Instant::now();
    data_file.sync_data()?;
    metrics::histogram!(crate::metrics::FDATASYNC_SECONDS).record(started.elapsed().as_secs_f64());
    add_micros(&stats.sync_micros, started);
    stats.device_syncs.fetch_add(1, Ordering::Relaxed);
    Ok(())
}
