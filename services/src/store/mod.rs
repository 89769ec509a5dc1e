//! The event store: one ordered log per plan, one gap-free global log,
//! persisted projections, idempotency records, the audit hash chain, and a
//! group-commit writer that acknowledges a write only once it is durable.
//!
//! [`Store`] is the one interface above the store; two engines sit under it.
//! Each has one writer that takes every queued job (up to `max_batch`), has
//! each decided by the application step ([`decide`], the same for both), and
//! persists the round at once:
//! - **sled** (the embedded default): the writer thread ([`writer`]) applies
//!   a round as one sled `Batch` and flushes; the syncer thread ([`syncer`])
//!   calls `fdatasync` and only then answers. Reads never see state that is
//!   not yet durable: a read newer than the durable position waits.
//! - **PostgreSQL** ([`postgres`]): a round is one transaction that first
//!   locks the head row, so positions and the audit chain stay gap-free in
//!   commit order across several hubs; the answer waits for the commit.

pub mod audit;
pub mod backup;
mod decide;
mod failure;
mod keys;
mod migrate;
mod model;
mod on_sled;
mod plan_audit;
pub mod postgres;
mod syncer;
mod writer;

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use crate::domain::{AuditEntry, CitizenKey, Date, OrganisationId, Plan, PlanId, RecordedEvent, Timestamp};
use crate::error::Error;
pub use model::{
    Clock, Intent, MAX_EVENT_BYTES, MAX_PLAN_BYTES, Outcome, SEGMENT_SIZE, Stats, StatsSnapshot, StoreOptions,
    Submission, VerifyReport,
};

/// One piece of work for the writer.
// Nearly every message is a job; boxing it would only add an allocation per write.
#[allow(clippy::large_enum_variant)]
enum Job {
    /// An intent to decide, append and audit.
    Submit { submission: Submission, intent: Intent, reply: oneshot::Sender<Result<Outcome, Error>> },
    /// Audit records of operations that append nothing (a read, a refusal, a delivery).
    Record { entries: Vec<AuditEntry>, reply: oneshot::Sender<Result<(), Error>> },
}

#[allow(clippy::large_enum_variant)]
enum Message {
    Job(Job, tracing::Span),
    Stop(oneshot::Sender<()>),
    /// Name the cut after the rounds before it, once durable (for a backup).
    Cut(oneshot::Sender<Result<backup::Cut, Error>>),
}

/// What an engine hands the store when it has started its writer.
struct Started {
    jobs: mpsc::Sender<Message>,
    durable: watch::Receiver<u64>,
    stats: Arc<Stats>,
    failure: Arc<failure::Failure>,
}

impl Started {
    fn new(jobs: mpsc::Sender<Message>, durable: watch::Receiver<u64>) -> Self {
        Self { jobs, durable, stats: Arc::default(), failure: Arc::default() }
    }
}

/// The deadline watcher's turn ([`Store::watcher_turn`]); it ends when dropped.
pub struct WatcherTurn(#[allow(dead_code)] Option<postgres::Turn>);

/// Which open clocks a listing covers.
#[derive(Clone, Copy, Debug)]
enum ClockScope<'a> {
    All,
    /// The plans an organisation takes part in.
    Organisation(&'a OrganisationId),
    Plan(PlanId),
}

/// The engine under the store; only persisting and reading differ between them.
enum Engine {
    Sled(on_sled::SledEngine),
    Postgres(postgres::PgEngine),
}

struct Shared {
    clock: Clock,
    checkpoint_key: [u8; 32],
    jobs: mpsc::Sender<Message>,
    durable: watch::Receiver<u64>,
    stats: Arc<Stats>,
    failure: Arc<failure::Failure>,
    engine: Engine,
}

/// A handle to the store; cheap to clone.
#[derive(Clone)]
pub struct Store {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("durable_position", &self.durable_position()).finish()
    }
}

impl Store {
    /// Opens (or creates) a sled store in `options.path` and starts its writer thread.
    pub fn open(options: StoreOptions) -> Result<Self, Error> {
        let (clock, checkpoint_key) = (options.clock.clone(), options.checkpoint_key);
        let (engine, started) = on_sled::open(options)?;
        Ok(Self::started(Engine::Sled(engine), started, clock, checkpoint_key))
    }

    /// Connects to a PostgreSQL store, creates or migrates its schema, and
    /// starts this hub's writer (`options.path` is not used).
    pub async fn open_postgres(options: StoreOptions, database: postgres::Database) -> Result<Self, Error> {
        let (clock, checkpoint_key) = (options.clock.clone(), options.checkpoint_key);
        let (engine, started) = postgres::open(options, database).await?;
        Ok(Self::started(Engine::Postgres(engine), started, clock, checkpoint_key))
    }

    fn started(engine: Engine, started: Started, clock: Clock, checkpoint_key: [u8; 32]) -> Self {
        let Started { jobs, durable, stats, failure } = started;
        Self { shared: Arc::new(Shared { clock, checkpoint_key, jobs, durable, stats, failure, engine }) }
    }

    /// The engine's name, as the configuration spells it.
    pub fn engine(&self) -> &'static str {
        match self.shared.engine {
            Engine::Sled(_) => "sled",
            Engine::Postgres(_) => "postgres",
        }
    }

    /// Queues an intent for the group-commit writer and waits until its events
    /// are durable (or it is refused).
    pub async fn submit(&self, submission: Submission, intent: Intent) -> Result<Outcome, Error> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Submit { submission, intent, reply }).await?;
        answer.await.map_err(|_| Error::Unavailable)?
    }

    /// Appends an audit record for an operation that writes nothing else (a
    /// read, a refusal) and waits until it is durable: nothing is disclosed
    /// without its audit record on disk. The writer stamps the time.
    pub async fn record(&self, entry: AuditEntry) -> Result<(), Error> {
        self.record_all(vec![entry]).await
    }

    /// Like [`Store::record`], for several records in one group commit.
    pub async fn record_all(&self, entries: Vec<AuditEntry>) -> Result<(), Error> {
        let (reply, answer) = oneshot::channel();
        self.send(Job::Record { entries, reply }).await?;
        answer.await.map_err(|_| Error::Unavailable)?
    }

    async fn send(&self, job: Job) -> Result<(), Error> {
        // The caller's span goes along, for the round's span to link to.
        self.shared.jobs.send(Message::Job(job, tracing::Span::current())).await.map_err(|_| Error::Unavailable)
    }

    /// Stops the writer after the jobs already queued, and flushes.
    pub async fn shutdown(&self) {
        let (done, wait) = oneshot::channel();
        if self.shared.jobs.send(Message::Stop(done)).await.is_ok() {
            let _ = wait.await;
        }
        if let Engine::Sled(sled) = &self.shared.engine {
            sled.join_writer().await;
        }
    }

    /// Writes an online backup to `out`: every primary key at or before a cut
    /// the writer names between two rounds, once the cut is durable, while
    /// writes go on (see [`backup`]). Hands `out` back for the caller to sync.
    /// On PostgreSQL, the cut is the head of one repeatable-read snapshot.
    pub async fn backup<W: std::io::Write + Send + 'static>(&self, out: W) -> Result<(backup::Summary, W), Error> {
        let sled = match &self.shared.engine {
            Engine::Sled(sled) => sled,
            Engine::Postgres(pg) => return pg.backup(self.now(), out).await,
        };
        let (reply, answer) = oneshot::channel();
        self.shared.jobs.send(Message::Cut(reply)).await.map_err(|_| Error::Unavailable)?;
        let cut = answer.await.map_err(|_| Error::Unavailable)??;
        sled.backup(cut, self.now(), out).await
    }

    /// Rebuilds a sled store folder at `path`, which must not exist, from a
    /// backup (see [`backup`]); removes what it wrote if the backup is unusable.
    pub fn restore(
        input: impl std::io::Read,
        path: &Path,
        checkpoint_key: &[u8; 32],
    ) -> Result<backup::Summary, Error> {
        on_sled::restore(input, path, checkpoint_key)
    }

    /// Rebuilds this PostgreSQL store, which must be empty, from a backup of
    /// either engine, in one transaction (a sled store is restored into a
    /// new folder by [`Store::restore`]). Open it with no hub serving on it.
    pub async fn restore_here(&self, input: impl std::io::Read) -> Result<backup::Summary, Error> {
        match &self.shared.engine {
            Engine::Postgres(pg) => pg.restore(input, &self.shared.checkpoint_key).await,
            Engine::Sled(_) => Err(Error::Storage("a sled store is restored into a new folder".into())),
        }
    }

    /// The global position up to which every event is durable (on
    /// PostgreSQL: committed, as far as this hub has heard).
    pub fn durable_position(&self) -> u64 {
        *self.shared.durable.borrow()
    }

    /// The store's notion of now (injectable for tests).
    pub fn now(&self) -> Timestamp {
        (self.shared.clock)()
    }

    /// Up to `limit` running clocks due before `today` that are not yet marked
    /// overdue, as (plan, index into its clocks), earliest due first.
    pub async fn due_clocks(&self, today: Date, limit: usize) -> Result<Vec<(PlanId, usize)>, Error> {
        match &self.shared.engine {
            Engine::Sled(sled) => sled.due_clocks(today, limit),
            Engine::Postgres(pg) => pg.due_clocks(today, limit).await,
        }
    }

    /// Every plan with open clocks, in plan order, after the plan `after` (a
    /// page token's plan), with the indices of its open clocks.
    pub async fn open_clocks(&self, after: Option<PlanId>) -> Result<Vec<(PlanId, Vec<usize>)>, Error> {
        self.clocks_in(ClockScope::All, after).await
    }

    /// The open clocks of the plans `organisation` takes part in (by plan, in
    /// plan order, after `after`), from an index: not every clock of the hub.
    pub async fn open_clocks_of(
        &self,
        organisation: &OrganisationId,
        after: Option<PlanId>,
    ) -> Result<Vec<(PlanId, Vec<usize>)>, Error> {
        self.clocks_in(ClockScope::Organisation(organisation), after).await
    }

    /// The open clocks of one plan.
    pub async fn open_clocks_of_plan(&self, plan: PlanId) -> Result<Vec<(PlanId, Vec<usize>)>, Error> {
        self.clocks_in(ClockScope::Plan(plan), None).await
    }

    async fn clocks_in(
        &self,
        scope: ClockScope<'_>,
        after: Option<PlanId>,
    ) -> Result<Vec<(PlanId, Vec<usize>)>, Error> {
        match &self.shared.engine {
            Engine::Sled(sled) => sled.open_clocks(scope, after),
            Engine::Postgres(pg) => pg.open_clocks(scope, after).await,
        }
    }

    /// The deadline watcher's turn: on sled always (one hub); on PostgreSQL
    /// only while no other hub's watcher has its turn (an advisory lock,
    /// held until the turn is dropped), so that the watcher runs once across hubs.
    pub async fn watcher_turn(&self) -> Result<Option<WatcherTurn>, Error> {
        match &self.shared.engine {
            Engine::Sled(_) => Ok(Some(WatcherTurn(None))),
            Engine::Postgres(pg) => Ok(pg.watcher_turn().await?.map(|turn| WatcherTurn(Some(turn)))),
        }
    }

    /// Follows the durable position: changes whenever more events become
    /// durable; closed if the store stops taking writes.
    pub fn durable_watch(&self) -> watch::Receiver<u64> {
        self.shared.durable.clone()
    }

    /// Why the store stopped taking writes, once it has.
    pub fn failure(&self) -> Option<String> {
        self.shared.failure.cause()
    }

    /// What a caller hears of `error`: a store that cannot be read (an I/O
    /// error, a value that does not decode) cannot be trusted any more than
    /// one that cannot write, so it fails the store — health turns
    /// NOT_SERVING, the cause is logged, the hub drains and exits for its
    /// supervisor to restart it — and the caller hears UNAVAILABLE.
    pub fn unless_unreadable(&self, error: Error) -> Error {
        match error {
            Error::Storage(cause) => {
                self.shared.failure.set(&cause, "a read from the store failed");
                Error::Unavailable
            }
            other => other,
        }
    }

    /// Waits until the store stops taking writes, and tells why.
    pub async fn failed(&self) -> String {
        self.shared.failure.wait().await
    }

    /// Jobs waiting for the writer.
    pub fn queue_depth(&self) -> usize {
        self.shared.jobs.max_capacity() - self.shared.jobs.capacity()
    }

    pub fn stats(&self) -> StatsSnapshot {
        let s = &self.shared.stats;
        StatsSnapshot {
            jobs: s.jobs.load(Ordering::Relaxed),
            batches: s.batches.load(Ordering::Relaxed),
            device_syncs: s.device_syncs.load(Ordering::Relaxed),
            decide_micros: s.decide_micros.load(Ordering::Relaxed),
            apply_micros: s.apply_micros.load(Ordering::Relaxed),
            flush_micros: s.flush_micros.load(Ordering::Relaxed),
            sync_micros: s.sync_micros.load(Ordering::Relaxed),
        }
    }

    /// The current plan, once durable.
    pub async fn plan(&self, id: PlanId) -> Result<Option<Plan>, Error> {
        let plan = match &self.shared.engine {
            Engine::Sled(sled) => sled.plan(id)?,
            // What a transaction has committed is durable.
            Engine::Postgres(pg) => return pg.plan(id).await,
        };
        let Some(plan) = plan else { return Ok(None) };
        self.wait_durable(plan.last_position).await?;
        Ok(Some(plan))
    }

    /// The plan of a citizen (by pseudonym), once durable.
    pub async fn plan_of(&self, citizen: &CitizenKey) -> Result<Option<Plan>, Error> {
        match self.plan_id_of(citizen).await? {
            Some(id) => self.plan(id).await,
            None => Ok(None),
        }
    }

    /// The id of a citizen's plan (by pseudonym); reading the plan waits until it is durable.
    pub async fn plan_id_of(&self, citizen: &CitizenKey) -> Result<Option<PlanId>, Error> {
        match &self.shared.engine {
            Engine::Sled(sled) => sled.plan_id_of(citizen),
            Engine::Postgres(pg) => pg.plan_id_of(citizen).await,
        }
    }

    /// Up to `limit` events of a plan, from `from_sequence` (1-based) on; only durable ones.
    pub async fn plan_events(&self, id: PlanId, from_sequence: u64, limit: usize) -> Result<Vec<RecordedEvent>, Error> {
        match &self.shared.engine {
            Engine::Sled(sled) => sled.plan_events(id, from_sequence, limit, self.durable_position()),
            Engine::Postgres(pg) => pg.plan_events(id, from_sequence, limit).await,
        }
    }

    /// Up to `limit` durable events of the global log, from `from_position` on, in order.
    pub async fn events_from(&self, from_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, Error> {
        let from_position = from_position.max(1);
        match &self.shared.engine {
            Engine::Sled(sled) => sled.events_from(from_position, limit, self.durable_position()),
            Engine::Postgres(pg) => pg.events_from(from_position, limit).await,
        }
    }

    /// Rebuilds a plan from its log alone.
    pub async fn replay_plan(&self, id: PlanId) -> Result<Option<Plan>, Error> {
        let events = self.plan_events(id, 1, usize::MAX).await?;
        Ok(Plan::replay(&events))
    }

    /// Checks the whole store: global positions gap-free from 1, every plan log
    /// gap-free, every persisted projection byte-identical to a replay, the
    /// clock index exactly what the plans' clocks need, and the audit chain.
    pub async fn verify(&self) -> Result<VerifyReport, Error> {
        match &self.shared.engine {
            Engine::Sled(sled) => sled.verify(&self.shared.checkpoint_key, self.durable_position()),
            Engine::Postgres(pg) => pg.verify(&self.shared.checkpoint_key).await,
        }
    }

    /// Up to `limit` audit records from `from_sequence` on.
    pub async fn audit_records(&self, from_sequence: u64, limit: usize) -> Result<Vec<audit::AuditRecord>, Error> {
        match &self.shared.engine {
            Engine::Sled(sled) => sled.audit_records(from_sequence, limit),
            Engine::Postgres(pg) => pg.audit_records(None, from_sequence, limit).await,
        }
    }

    /// Up to `limit` audit records about one plan, from audit sequence `from_sequence` on.
    pub async fn plan_audit_records(
        &self,
        plan: PlanId,
        from_sequence: u64,
        limit: usize,
    ) -> Result<Vec<audit::AuditRecord>, Error> {
        match &self.shared.engine {
            Engine::Sled(sled) => sled.plan_audit_records(plan, from_sequence, limit),
            Engine::Postgres(pg) => pg.audit_records(Some(plan), from_sequence, limit).await,
        }
    }

    /// Up to `limit` emergency-access grants (their events) made to
    /// professionals of `organisation`, from global position `from_position` on.
    pub async fn emergency_grants(
        &self,
        organisation: &OrganisationId,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, Error> {
        self.reviews(keys::EMERGENCY, organisation, from_position, limit).await
    }

    /// Up to `limit` care-team joins (their events) `organisation` made on its
    /// own, from global position `from_position` on.
    pub async fn care_team_joins(
        &self,
        organisation: &OrganisationId,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, Error> {
        self.reviews(keys::JOIN, organisation, from_position, limit).await
    }

    /// The durable events of review index `index` that `organisation` caused.
    async fn reviews(
        &self,
        index: u8,
        organisation: &OrganisationId,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, Error> {
        match &self.shared.engine {
            Engine::Sled(sled) => sled.reviews(index, organisation, from_position, limit, self.durable_position()),
            Engine::Postgres(pg) => pg.reviews(index, organisation, from_position, limit).await,
        }
    }

    async fn wait_durable(&self, position: u64) -> Result<(), Error> {
        if self.durable_position() >= position {
            return Ok(());
        }
        let mut durable = self.shared.durable.clone();
        durable.wait_for(|p| *p >= position).await.map_err(|_| Error::Unavailable)?;
        Ok(())
    }

    /// The sled database under a sled store, for tests that damage it.
    #[cfg(test)]
    fn sled_db(&self) -> &sled::Db {
        match &self.shared.engine {
            Engine::Sled(sled) => &sled.db,
            Engine::Postgres(_) => panic!("not a sled store"),
        }
    }
}

pub(crate) fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    postcard::to_stdvec(value).map_err(|e| Error::Storage(format!("encode: {e}")))
}

pub(crate) fn decode<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Result<T, Error> {
    postcard::from_bytes(bytes).map_err(|e| Error::Storage(format!("decode: {e}")))
}

/// The first key after every key starting with `prefix` (a plan id may end in 0xFF).
fn prefix_end(prefix: &[u8]) -> Vec<u8> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return end;
        }
    }
    // Every byte 0xFF: no key sorts after the prefix but its own extensions.
    vec![u8::MAX; prefix.len() + 25]
}

/// (plan, clock index) pairs in plan order, grouped by plan.
fn by_plan(
    pairs: impl IntoIterator<Item = Result<(PlanId, usize), Error>>,
) -> Result<Vec<(PlanId, Vec<usize>)>, Error> {
    let mut plans: Vec<(PlanId, Vec<usize>)> = Vec::new();
    for pair in pairs {
        let (plan, index) = pair?;
        match plans.last_mut() {
            Some((last, indices)) if *last == plan => indices.push(index),
            _ => plans.push((plan, vec![index])),
        }
    }
    Ok(plans)
}

fn corrupt(what: &str) -> Error {
    Error::Storage(format!("corrupt {what}"))
}

#[cfg(test)]
mod backup_tests;
#[cfg(test)]
mod clock_tests;
#[cfg(test)]
mod tests;
