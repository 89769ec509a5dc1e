//! Subscriptions: each stream follows the global log from the subscriber's
//! cursor, sends only what the access policy lets the caller read, records
//! its deliveries in the audit log before sending them (one record per plan
//! and window, see `windows`), and is cut off when its client stops taking
//! messages.
//!
//! One task per stream ("feed") pulls from the log; nothing is pushed to it by
//! writers, so a subscriber can never hold a writer back. The feed hands
//! messages to the transport through a bounded channel; if the client takes
//! nothing for the stall timeout, the feed ends the stream with its cursor and
//! stops, holding no more than the buffer. One slot of the channel is always
//! kept free for the message that ends the stream.
//!
//! The proto (`SubscribePlanEvents`) states the contract: ordered, each event
//! once, gap-free at the cursor, durable only, filtered, heartbeats, and how
//! the stream ends.

use std::collections::HashMap;
use std::collections::hash_map::Entry;
use std::sync::Arc;
use std::time::Duration;

use samplan_proto::v1 as pb;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tokio_util::sync::CancellationToken;
use tonic::Status;
use tracing::Instrument;

use crate::convert;
use crate::domain::{Actor, DataCategory, Plan, PlanId, Timestamp, View, disclosure, policy};
use crate::error::Error;
use crate::store::Store;

mod windows;

/// The audit log's name for a subscription and its deliveries.
pub const ACTION: &str = "SubscribePlanEvents";

/// What a subscriber receives: events, heartbeats, and a final status.
pub type EventStream = ReceiverStream<Result<pb::SubscribePlanEventsResponse, Status>>;

#[derive(Clone, Debug)]
pub struct SubscriptionOptions {
    /// How long an idle stream waits before it sends a heartbeat.
    pub heartbeat: Duration,
    /// How long a stream waits for its client to take a message before it is cut off.
    pub stall_timeout: Duration,
    /// Messages buffered per stream; at least 2 (one slot is kept for the end).
    pub buffer: usize,
    /// Events read from the log at a time.
    pub batch: usize,
    /// How long one audit record covers a stream's deliveries of one plan.
    pub audit_window: Duration,
}

impl Default for SubscriptionOptions {
    fn default() -> Self {
        Self {
            heartbeat: Duration::from_secs(15),
            stall_timeout: Duration::from_secs(30),
            buffer: 256,
            batch: 256,
            audit_window: Duration::from_secs(60),
        }
    }
}

/// The hub's subscriptions: their settings, the hub's shutdown signal, and a
/// count of streams cut off for being too slow (for operators and tests).
#[derive(Debug)]
pub struct Subscriptions {
    options: SubscriptionOptions,
    shutdown: CancellationToken,
    cut_off: watch::Sender<u64>,
}

impl Subscriptions {
    pub fn new(options: SubscriptionOptions, shutdown: CancellationToken) -> Self {
        Self { options, shutdown, cut_off: watch::Sender::new(0) }
    }

    /// How many streams have been cut off for being too slow; changes with each.
    pub fn cut_offs(&self) -> watch::Receiver<u64> {
        self.cut_off.subscribe()
    }

    /// Whether `actor` may follow the log after global position `after`:
    /// refused for roles that read no plans and for a cursor beyond the log's end.
    pub fn admit(&self, store: &Store, actor: &Actor, after: u64) -> Result<(), Error> {
        policy::may_read_plans(actor)?;
        let last_position = store.durable_position();
        if after > last_position {
            return Err(Error::CursorBeyondLog { last_position });
        }
        Ok(())
    }

    /// Starts an admitted stream for `actor` after global position `after`,
    /// ending when its assertion does (`valid_until`, seconds since 1970).
    pub fn start(
        self: &Arc<Self>,
        store: Store,
        actor: Actor,
        correlation_id: String,
        after: u64,
        valid_until: Option<u64>,
    ) -> EventStream {
        let (tx, rx) = mpsc::channel(self.options.buffer.max(2));
        let span = tracing::info_span!(
            "subscription",
            organisation = %actor.organisation,
            role = ?actor.role,
            correlation_id = %correlation_id,
        );
        let feed = Feed {
            store,
            actor,
            correlation_id,
            windows: windows::DeliveryWindows::new(self.options.audit_window),
            subscriptions: self.clone(),
            tx,
            scanned: after,
            sent: after,
            last_sent: Instant::now(),
            expires: valid_until.map(|until| {
                let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
                Instant::now() + Duration::from_secs(until.saturating_sub(now))
            }),
        };
        tokio::spawn(feed.run().instrument(span));
        ReceiverStream::new(rx)
    }
}

/// The end of a stream whose assertion expired: the client opens it again,
/// with a new assertion, after the cursor it holds.
fn expired() -> Error {
    Error::Unauthenticated {
        reason: "TOKEN_EXPIRED",
        message: "the assertion the stream was opened with has expired; subscribe again after your cursor",
    }
}

/// Why a feed stopped.
enum End {
    /// The client went away (cancelled the call or disconnected).
    Gone,
    /// The stream ends with this error, sent to the client.
    Stop(Error),
}

impl From<Error> for End {
    fn from(error: Error) -> Self {
        Self::Stop(error)
    }
}

/// A plan as the subscriber may see it now.
struct Seen {
    plan: Plan,
    view: View,
    audience: disclosure::Audience,
}

impl Seen {
    fn new(plan: Plan, actor: &Actor, now: Timestamp) -> Option<Self> {
        let view = policy::view(&plan, actor, now).ok()?;
        let audience = view.audience();
        Some(Self { plan, view, audience })
    }
}

/// An event about to be sent, and what it reveals (for the audit record).
struct Delivery {
    plan: PlanId,
    position: u64,
    shown: pb::PlanEvent,
    revealed: Vec<DataCategory>,
}

struct Feed {
    store: Store,
    actor: Actor,
    correlation_id: String,
    subscriptions: Arc<Subscriptions>,
    windows: windows::DeliveryWindows,
    tx: mpsc::Sender<Result<pb::SubscribePlanEventsResponse, Status>>,
    /// Every event up to here that the caller may see has been queued.
    scanned: u64,
    /// The cursor of the last message queued: what the client resumes after.
    sent: u64,
    last_sent: Instant,
    /// When the assertion the stream was opened with expires.
    expires: Option<Instant>,
}

impl Feed {
    async fn run(mut self) {
        tracing::info!(after = self.scanned, "subscription opened");
        metrics::gauge!(crate::metrics::SUBSCRIBERS).increment(1.0);
        let end = self.follow().await;
        metrics::gauge!(crate::metrics::SUBSCRIBERS).decrement(1.0);
        match end {
            End::Gone => tracing::info!(cursor = self.sent, "subscription ended by the client"),
            End::Stop(error) => {
                let error = self.store.unless_unreadable(error);
                match &error {
                    Error::SubscriberTooSlow { .. } => {
                        tracing::warn!(cursor = self.sent, "subscriber too slow; stream cut off");
                        self.subscriptions.cut_off.send_modify(|n| *n += 1);
                        metrics::counter!(crate::metrics::SUBSCRIBER_CUTOFFS).increment(1);
                    }
                    Error::ShuttingDown { .. } => tracing::info!(cursor = self.sent, "subscription ended by shutdown"),
                    other => tracing::warn!(cursor = self.sent, reason = other.reason(), "subscription failed"),
                }
                // `send` keeps a slot free for this message.
                let _ = self.tx.try_send(Err(error.into()));
            }
        }
    }

    /// Catches up with the durable log, then follows it; returns only when the stream ends.
    async fn follow(&mut self) -> End {
        let mut durable = self.store.durable_watch();
        let mut caught_up = false;
        loop {
            while self.scanned < durable.borrow_and_update().to_owned() {
                if self.expires.is_some_and(|at| Instant::now() >= at) {
                    return expired().into();
                }
                if let Err(end) = self.deliver_batch().await {
                    return end;
                }
            }
            if !caught_up {
                caught_up = true;
                if let Err(end) = self.heartbeat().await {
                    return end;
                }
            }
            let next_heartbeat = self.last_sent + self.subscriptions.options.heartbeat;
            let expires = self.expires;
            let expiry = async move {
                match expires {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                () = self.subscriptions.shutdown.cancelled() => return Error::ShuttingDown { cursor: self.sent }.into(),
                () = expiry => return expired().into(),
                () = self.tx.closed() => return End::Gone,
                changed = durable.changed() => {
                    if changed.is_err() {
                        return Error::Unavailable.into();
                    }
                }
                () = tokio::time::sleep_until(next_heartbeat) => {
                    if let Err(end) = self.heartbeat().await {
                        return end;
                    }
                }
            }
        }
    }

    async fn heartbeat(&mut self) -> Result<(), End> {
        self.send(convert::heartbeat(self.scanned, self.store.now()), self.scanned).await
    }

    /// Sends the next batch of the log that the caller may see, after
    /// recording in the audit log what its delivery windows have not.
    async fn deliver_batch(&mut self) -> Result<(), End> {
        let behind = self.store.durable_position().saturating_sub(self.scanned);
        metrics::histogram!(crate::metrics::SUBSCRIBER_LAG).record(behind as f64);
        let events = self.store.events_from(self.scanned + 1, self.subscriptions.options.batch).await?;
        let Some(last) = events.last().map(|e| e.global_position) else {
            return Err(Error::Storage("the global log ends before the durable position".into()).into());
        };
        // Each plan's current state decides: a withdrawn consent, an objection
        // or an ended membership holds for every event sent after it.
        let now = self.store.now();
        let mut views: HashMap<PlanId, Option<Seen>> = HashMap::new();
        let mut visible: Vec<Delivery> = Vec::new();
        for event in events {
            // A citizen sees one plan: others' are not even loaded.
            if self.actor.is_citizen() && self.actor.own_plan != Some(event.plan_id) {
                continue;
            }
            let seen = match views.entry(event.plan_id) {
                Entry::Occupied(known) => known.into_mut(),
                Entry::Vacant(slot) => {
                    let plan = self.store.plan(event.plan_id).await?;
                    slot.insert(plan.and_then(|plan| Seen::new(plan, &self.actor, now)))
                }
            };
            let Some(seen) = seen else { continue };
            if let Some(shown) = convert::visible_event(&event, &seen.plan, &seen.audience) {
                let revealed = seen.plan.trail.revealed(event.sequence);
                visible.push(Delivery { plan: event.plan_id, position: event.global_position, shown, revealed });
            }
        }
        let entries = self.windows.entries(now, &self.actor, &self.correlation_id, &visible, &views);
        if !entries.is_empty() {
            self.store.record_all(entries).await?;
        }
        for i in 0..visible.len() {
            // Sending may wait (up to the stall timeout): a window that ends
            // meanwhile is followed by a new record before the next event.
            let now = self.store.now();
            if self.windows.lapsed(visible[i].plan, now) {
                let entries = self.windows.entries(now, &self.actor, &self.correlation_id, &visible[i..], &views);
                if !entries.is_empty() {
                    self.store.record_all(entries).await?;
                }
            }
            let shown = std::mem::take(&mut visible[i].shown);
            self.send(convert::subscribed_event(shown), visible[i].position).await?;
        }
        self.scanned = last;
        Ok(())
    }

    /// Queues one message with cursor `cursor`, keeping a slot free for the
    /// stream's end; a client that takes nothing for the stall timeout is cut off.
    async fn send(&mut self, message: pb::SubscribePlanEventsResponse, cursor: u64) -> Result<(), End> {
        let stall_timeout = self.subscriptions.options.stall_timeout;
        let reserved = tokio::select! {
            biased;
            () = self.subscriptions.shutdown.cancelled() => return Err(Error::ShuttingDown { cursor: self.sent }.into()),
            reserved = tokio::time::timeout(stall_timeout, self.tx.reserve_many(2)) => reserved,
        };
        match reserved {
            Ok(Ok(mut permits)) => {
                if let Some(permit) = permits.next() {
                    permit.send(Ok(message));
                }
                self.sent = cursor;
                self.last_sent = Instant::now();
                Ok(())
            }
            Ok(Err(_closed)) => Err(End::Gone),
            Err(_stalled) => Err(Error::SubscriberTooSlow { cursor: self.sent }.into()),
        }
    }
}
