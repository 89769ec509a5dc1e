//! The deadline watcher: records, as an event of the plan, that a rights clock
//! has gone overdue, so that every care-team system hears of it on its
//! subscription like of any other change.
//!
//! The store keeps running clocks indexed by due day; once a day has passed
//! the watcher submits `MarkOverdue` for each clock due before today. The
//! writer decides again (the clock may have been stopped or paused meanwhile)
//! and appends `ClockOverdue` at most once per clock. Reads never depend on
//! the watcher: whether a clock is overdue is computed from today's date.
//! With several hubs on PostgreSQL, one watcher at a time takes its turn.

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::domain::DomainError;
use crate::error::Error;
use crate::store::{Intent, Store, Submission};

/// Clocks handled per round at most; the rest wait for the next round.
const ROUND: usize = 1000;

/// Marks overdue clocks every `interval` until `shutdown`.
pub async fn watch(store: Store, interval: Duration, shutdown: CancellationToken) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = ticker.tick() => {}
        }
        // On PostgreSQL one hub at a time; the others skip this round.
        let turn = match store.watcher_turn().await {
            Ok(Some(turn)) => turn,
            Ok(None) => continue,
            Err(error) => {
                tracing::warn!(reason = error.reason(), "the deadline watcher could not take its turn");
                continue;
            }
        };
        let marked = mark_overdue_clocks(&store).await;
        drop(turn);
        match marked {
            Ok(0) => {}
            Ok(marked) => tracing::info!(marked, "clocks marked overdue"),
            Err(error) => tracing::warn!(reason = error.reason(), "the deadline watcher could not mark clocks"),
        }
    }
}

/// One round: records `ClockOverdue` for every running clock due before the
/// store's today that is not yet marked. Returns how many it marked.
pub async fn mark_overdue_clocks(store: &Store) -> Result<usize, Error> {
    let today = store.now().date();
    let mut marked = 0;
    for (plan_id, index) in store.due_clocks(today, ROUND).await? {
        let Some(clock) = store.plan(plan_id).await?.and_then(|plan| plan.clocks.get(index).cloned()) else {
            continue;
        };
        let submission = Submission {
            actor: clock.watcher()?,
            correlation_id: uuid::Uuid::new_v4().to_string(),
            request_id: None,
            deadline: None,
        };
        match store.submit(submission, Intent::MarkOverdue { plan: plan_id, clock_id: clock.clock_id }).await {
            Ok(_) => marked += 1,
            // Stopped, paused or marked since the index was read.
            Err(Error::Domain(DomainError::Precondition { .. })) => {}
            Err(error) => return Err(error),
        }
    }
    Ok(marked)
}
