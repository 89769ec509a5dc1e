//! The sled event store: one ordered log per plan, one gap-free global log,
//! persisted projections, idempotency records, and a group-commit writer that
//! acknowledges a write only once it is device-durable.
//!
//! Flow of a write: a handler calls [`Store::submit`]; the job is queued to the
//! single writer thread ([`writer`]), which takes every queued job (up to
//! `max_batch`), decides each against the current plan, stages all resulting
//! keys in one sled `Batch`, applies it atomically and calls `Db::flush`. The
//! syncer thread ([`syncer`]) then calls `fdatasync` on sled's data file for
//! every round flushed since its last sync, and only then answers their jobs;
//! meanwhile the writer decides the next round.
//!
//! Reads never see state that is not yet durable: a read whose projection is
//! newer than the durable position waits for the flush in flight.

pub mod audit;
pub mod backup;
mod decide;
mod failure;
mod keys;
mod migrate;
mod plan_audit;
pub mod postgres;
mod syncer;
mod writer;

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use tokio::sync::{mpsc, oneshot, watch};

use crate::domain::{
    Actor, AuditEntry, CitizenKey, Command, CprKind, DEFAULT_EMERGENCY_ACCESS_MICROS, Date, DeadlineRules,
    OrganisationId, OwnershipRules, Plan, PlanId, RecordedEvent, Text, Timestamp,
};
use crate::error::Error;

/// Where "now" comes from; injectable for tests.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The largest encoded event the store accepts.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// The largest encoded plan projection the store accepts. With 16 MiB
/// segments sled writes pages up to 4 MiB inline in its log; a leaf holds at
/// most ~17 values, so this bound keeps every page out of sled's blob files,
/// which sled 0.34 writes without any fsync.
pub const MAX_PLAN_BYTES: usize = 192 * 1024;
/// sled's segment size; sled refuses to open a database with another.
pub const SEGMENT_SIZE: usize = 16 * 1024 * 1024;

#[derive(Clone)]
pub struct StoreOptions {
    pub path: PathBuf,
    /// Most jobs committed in one group flush.
    pub max_batch: usize,
    /// Jobs waiting for the writer before submitters wait too.
    pub queue_capacity: usize,
    /// sled's page cache, in bytes.
    pub cache_capacity_bytes: u64,
    pub rules: OwnershipRules,
    pub clock: Clock,
    /// The key that authenticates the audit checkpoint; keep it outside the
    /// data directory. The hub derives it from the pseudonym key.
    pub checkpoint_key: [u8; 32],
    /// How long emergency access lasts, in microseconds.
    pub emergency_access_micros: i64,
    /// The deadlines of rights clocks.
    pub deadlines: DeadlineRules,
    /// Audit records the per-plan audit index gathers before it is written.
    pub audit_index_batch: usize,
    /// Encoded bytes of recently written plans the writer keeps decoded, for
    /// its next writes and for reads.
    pub recent_plans_bytes: usize,
}

impl StoreOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            max_batch: 512,
            queue_capacity: 4096,
            cache_capacity_bytes: 256 * 1024 * 1024,
            rules: OwnershipRules::default(),
            clock: Arc::new(Timestamp::now),
            checkpoint_key: [0; 32],
            emergency_access_micros: DEFAULT_EMERGENCY_ACCESS_MICROS,
            deadlines: DeadlineRules::default(),
            audit_index_batch: 1024,
            recent_plans_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Who submits, and how the request is to be traced and deduplicated.
#[derive(Clone, Debug)]
pub struct Submission {
    pub actor: Actor,
    pub correlation_id: String,
    pub request_id: Option<String>,
    /// When the caller stops waiting: a job the writer reaches later is refused undecided.
    pub deadline: Option<std::time::Instant>,
}

/// What the submitter wants done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Intent {
    /// Create the citizen's plan, or find the existing one.
    /// If the caller is not on an existing plan's care team, it joins it with `reason`.
    Create { citizen: CitizenKey, kind: CprKind, reason: Text },
    /// Apply a command to a plan whose version the caller last saw.
    Change { plan: PlanId, expected_version: u64, command: Command },
    /// Grant the caller emergency access (værdispring) to the citizen's plan.
    EmergencyAccess { citizen: CitizenKey, justification: Text },
    /// Record that a clock went overdue (the deadline watcher; no care-team check).
    MarkOverdue { plan: PlanId, clock_id: String },
}

/// The result of a submitted intent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub plan_id: PlanId,
    /// The plan's version after the intent.
    pub version: u64,
    /// For `Create`: whether a new plan was made.
    pub created: bool,
    /// The events appended (empty when a create found an existing plan).
    pub events: Vec<RecordedEvent>,
}

impl Outcome {
    /// For `Create`: whether the caller joined an existing plan's care team.
    pub fn joined(&self) -> bool {
        !self.created && !self.events.is_empty()
    }
}

/// Counters for benchmarks and tests.
#[derive(Debug, Default)]
pub struct Stats {
    pub jobs: AtomicU64,
    pub batches: AtomicU64,
    pub device_syncs: AtomicU64,
    pub decide_micros: AtomicU64,
    pub apply_micros: AtomicU64,
    pub flush_micros: AtomicU64,
    pub sync_micros: AtomicU64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Jobs answered (accepted or refused).
    pub jobs: u64,
    /// Group commits written.
    pub batches: u64,
    /// `fdatasync` calls on sled's data file; one per batch.
    pub device_syncs: u64,
    /// Time spent deciding jobs, applying batches to sled, in sled's flush, and in `fdatasync`.
    pub decide_micros: u64,
    pub apply_micros: u64,
    pub flush_micros: u64,
    pub sync_micros: u64,
}

impl std::fmt::Display for StatsSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per = |total: u64| total.checked_div(self.batches).unwrap_or(0);
        write!(
            f,
            "{} jobs in {} group commits ({:.1} jobs each, {} fdatasync); per commit: decide {} µs, apply {} µs, sled flush {} µs, fdatasync {} µs",
            self.jobs,
            self.batches,
            self.jobs as f64 / self.batches.max(1) as f64,
            self.device_syncs,
            per(self.decide_micros),
            per(self.apply_micros),
            per(self.flush_micros),
            per(self.sync_micros),
        )
    }
}

/// What `verify` found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    pub events: u64,
    pub plans: u64,
    pub audit_records: u64,
    pub problems: Vec<String>,
}

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

struct Shared {
    db: sled::Db,
    clock: Clock,
    checkpoint_key: [u8; 32],
    jobs: mpsc::Sender<Message>,
    durable: watch::Receiver<u64>,
    stats: Arc<Stats>,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// The writer's recent plans: a read finds its plan here without sled.
    recent: writer::SharedPlans,
    failure: Arc<failure::Failure>,
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
    /// Opens (or creates) the store in `options.path` and starts its writer thread.
    pub fn open(options: StoreOptions) -> Result<Self, Error> {
        std::fs::create_dir_all(&options.path)?;
        if options.path.join(backup::STAGING).exists() {
            return Err(Error::Storage(format!(
                "the data folder holds an interrupted restore ({}): empty it and restore again",
                backup::STAGING
            )));
        }
        let checkpoint_key = options.checkpoint_key;
        let clock = options.clock.clone();
        let db = sled_config(&options.path, options.cache_capacity_bytes).open().map_err(open_error)?;
        migrate::projections(&db)?;
        let data_file = open_data_file(&options.path)?;
        let last = last_position(&db)?;
        let plan_index = plan_audit::PlanIndex::open(&db, options.audit_index_batch)?;
        let recent = writer::RecentPlans::shared(options.recent_plans_bytes);
        let (durable_tx, durable) = watch::channel(last);
        let (jobs, rx) = mpsc::channel(options.queue_capacity.max(1));
        let stats = Arc::new(Stats::default());
        let failure = Arc::new(failure::Failure::default());
        // Rounds applied but not yet durable; a full queue holds the writer back.
        let (sync_tx, sync_rx) = std::sync::mpsc::sync_channel(64);
        let syncer = syncer::Syncer {
            db: db.clone(),
            data_file,
            durable: durable_tx,
            stats: stats.clone(),
            failure: failure.clone(),
        };
        let syncer = std::thread::Builder::new().name("samplan-sync".into()).spawn(move || syncer.run(sync_rx))?;
        let writer = writer::Writer {
            db: db.clone(),
            options,
            position: last,
            stats: stats.clone(),
            failure: failure.clone(),
            sync: sync_tx,
            audit_head: audit::head(&db)?,
            plan_index,
            recent: recent.clone(),
        };
        let handle = std::thread::Builder::new().name("samplan-writer".into()).spawn(move || writer.run(rx, syncer))?;
        Ok(Self {
            shared: Arc::new(Shared {
                db,
                clock,
                checkpoint_key,
                jobs,
                durable,
                stats,
                writer: Mutex::new(Some(handle)),
                recent,
                failure,
            }),
        })
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
        let handle = self.shared.writer.lock().take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }

    /// Writes an online backup to `out`: every primary key at or before a cut
    /// the writer names between two rounds, once the cut is durable, while
    /// writes go on (see [`backup`]). Hands `out` back for the caller to sync.
    pub async fn backup<W: std::io::Write + Send + 'static>(&self, out: W) -> Result<(backup::Summary, W), Error> {
        let (reply, answer) = oneshot::channel();
        self.shared.jobs.send(Message::Cut(reply)).await.map_err(|_| Error::Unavailable)?;
        let cut = answer.await.map_err(|_| Error::Unavailable)??;
        let (db, taken_at) = (self.shared.db.clone(), self.now());
        tokio::task::spawn_blocking(move || {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
            let summary = backup::write(&db, cut, taken_at, &mut out)?;
            let out = out.into_inner().map_err(|e| Error::from(e.into_error()))?;
            Ok((summary, out))
        })
        .await
        .map_err(|_| Error::Unavailable)?
    }

    /// Rebuilds a store folder at `path`, which must not exist, from a backup
    /// (see [`backup`]); removes what it wrote if the backup is unusable.
    pub fn restore(
        input: impl std::io::Read,
        path: &Path,
        checkpoint_key: &[u8; 32],
    ) -> Result<backup::Summary, Error> {
        if path.exists() {
            return Err(Error::Storage(format!("{} already exists", path.display())));
        }
        let restored = sled_config(path, 64 * 1024 * 1024)
            .open()
            .map_err(Error::from)
            .and_then(|db| backup::restore(&db, std::io::BufReader::with_capacity(1 << 20, input), checkpoint_key));
        match restored.and_then(|summary| open_data_file(path).map(|_| summary)) {
            Ok(summary) => Ok(summary),
            Err(error) => {
                let _ = std::fs::remove_dir_all(path);
                Err(error)
            }
        }
    }

    /// The global position up to which every event is durable.
    pub fn durable_position(&self) -> u64 {
        *self.shared.durable.borrow()
    }

    /// The store's notion of now (injectable for tests).
    pub fn now(&self) -> Timestamp {
        (self.shared.clock)()
    }

    /// Up to `limit` running clocks due before `today` that are not yet marked
    /// overdue, as (plan, index into its clocks), earliest due first.
    pub fn due_clocks(&self, today: Date, limit: usize) -> Result<Vec<(PlanId, usize)>, Error> {
        let range = self.shared.db.range([keys::DUE_CLOCK].as_slice()..keys::due_before(today).as_slice());
        range.take(limit).map(|item| keys::decode_clock_ref(&item?.0)).collect()
    }

    /// Every plan with open clocks, in plan order, after the plan `after` (a
    /// page token's plan), with the indices of its open clocks.
    pub fn open_clocks(&self, after: Option<PlanId>) -> Result<Vec<(PlanId, Vec<usize>)>, Error> {
        self.clocks_under(&[keys::OPEN_CLOCK], after)
    }

    /// The open clocks of the plans `organisation` takes part in (by plan, in
    /// plan order, after `after`), from the `o` index: not every clock of the hub.
    pub fn open_clocks_of(
        &self,
        organisation: &OrganisationId,
        after: Option<PlanId>,
    ) -> Result<Vec<(PlanId, Vec<usize>)>, Error> {
        self.clocks_under(&keys::member_clocks(organisation), after)
    }

    /// The open clocks of one plan.
    pub fn open_clocks_of_plan(&self, plan: PlanId) -> Result<Vec<(PlanId, Vec<usize>)>, Error> {
        let mut prefix = vec![keys::OPEN_CLOCK];
        prefix.extend_from_slice(&plan.0);
        self.clocks_under(&prefix, None)
    }

    /// The (plan, clock index) pairs of the clock keys under `prefix`, grouped by plan.
    fn clocks_under(&self, prefix: &[u8], after: Option<PlanId>) -> Result<Vec<(PlanId, Vec<usize>)>, Error> {
        let start = match after {
            Some(plan) => [prefix, plan.0.as_slice(), &u32::MAX.to_be_bytes()].concat(),
            None => prefix.to_vec(),
        };
        let end = prefix_end(prefix);
        let mut plans: Vec<(PlanId, Vec<usize>)> = Vec::new();
        for item in self.shared.db.range(start..end) {
            let (plan, index) = keys::decode_clock_ref(&item?.0)?;
            match plans.last_mut() {
                Some((last, indices)) if *last == plan => indices.push(index),
                _ => plans.push((plan, vec![index])),
            }
        }
        Ok(plans)
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
        // The lock is held only for the lookup; the writer holds it only to add a round's plans.
        let recent = self.shared.recent.read().get(&id);
        let plan = match recent {
            Some(plan) => Plan::clone(&plan),
            None => match projection(&self.shared.db, id)? {
                Some(plan) => plan,
                None => return Ok(None),
            },
        };
        self.wait_durable(plan.last_position).await?;
        Ok(Some(plan))
    }

    /// The plan of a citizen (by pseudonym), once durable.
    pub async fn plan_of(&self, citizen: &CitizenKey) -> Result<Option<Plan>, Error> {
        match self.plan_id_of(citizen)? {
            Some(id) => self.plan(id).await,
            None => Ok(None),
        }
    }

    /// The id of a citizen's plan (by pseudonym); reading the plan waits until it is durable.
    pub fn plan_id_of(&self, citizen: &CitizenKey) -> Result<Option<PlanId>, Error> {
        self.shared.db.get(keys::citizen(citizen))?.map(|bytes| keys::decode_plan_id(&bytes)).transpose()
    }

    /// Up to `limit` events of a plan, from `from_sequence` (1-based) on; only durable ones.
    pub fn plan_events(&self, id: PlanId, from_sequence: u64, limit: usize) -> Result<Vec<RecordedEvent>, Error> {
        let durable = self.durable_position();
        let mut events = Vec::new();
        for item in self.shared.db.range(keys::event(id, from_sequence.max(1))..=keys::event(id, u64::MAX)) {
            let event: RecordedEvent = decode(&item?.1)?;
            if event.global_position > durable || events.len() >= limit {
                break;
            }
            events.push(event);
        }
        Ok(events)
    }

    /// Up to `limit` durable events of the global log, from `from_position` on, in order.
    pub fn events_from(&self, from_position: u64, limit: usize) -> Result<Vec<RecordedEvent>, Error> {
        let from_position = from_position.max(1);
        let durable = self.durable_position();
        let mut events = Vec::new();
        // Start at the round that holds `from_position`.
        let start = match self.shared.db.range(keys::round(0)..=keys::round(from_position)).next_back() {
            Some(item) => item?.0,
            None => return Ok(events),
        };
        for item in self.shared.db.range(start.to_vec()..=keys::round(durable).to_vec()) {
            let (key, value) = item?;
            let (first, round) = keys::decode_round(&key, &value)?;
            for (position, (plan, sequence)) in (first..).zip(round) {
                if position < from_position {
                    continue;
                }
                if position > durable || events.len() >= limit {
                    return Ok(events);
                }
                let bytes = self.shared.db.get(keys::event(plan, sequence))?.ok_or_else(|| corrupt("global log"))?;
                events.push(decode(&bytes)?);
            }
        }
        Ok(events)
    }

    /// Rebuilds a plan from its log alone.
    pub fn replay_plan(&self, id: PlanId) -> Result<Option<Plan>, Error> {
        let events = self.plan_events(id, 1, usize::MAX)?;
        Ok(Plan::replay(&events))
    }

    /// Checks the whole store: global positions gap-free from 1, every plan log
    /// gap-free, every persisted projection byte-identical to a replay, the
    /// clock index exactly what the plans' clocks need, and the audit chain.
    pub fn verify(&self) -> Result<VerifyReport, Error> {
        let mut report = VerifyReport { events: 0, plans: 0, audit_records: 0, problems: Vec::new() };
        let mut expected = 1;
        for item in self.shared.db.scan_prefix([keys::GLOBAL]) {
            let (key, value) = item?;
            let (first, round) = keys::decode_round(&key, &value)?;
            if first != expected {
                report.problems.push(format!("global log jumps from {} to {first}", expected - 1));
            }
            for (position, (plan, sequence)) in (first..).zip(&round) {
                match self.shared.db.get(keys::event(*plan, *sequence))? {
                    None => report.problems.push(format!("global position {position} points to a missing event")),
                    Some(bytes) => {
                        let event: RecordedEvent = decode(&bytes)?;
                        if event.global_position != position {
                            report
                                .problems
                                .push(format!("event at {position} claims position {}", event.global_position));
                        }
                    }
                }
                report.events += 1;
            }
            expected = first + round.len() as u64;
        }
        let mut clock_keys = std::collections::BTreeSet::new();
        for item in self.shared.db.scan_prefix([keys::PROJECTION]) {
            let (key, stored) = item?;
            let id = keys::decode_plan_id(&key[1..])?;
            report.plans += 1;
            if let Ok(plan) = decode::<Plan>(&stored) {
                clock_keys.extend(keys::clock_keys(&plan));
            }
            let events = self.plan_events(id, 1, usize::MAX)?;
            if events.iter().enumerate().any(|(i, e)| e.sequence != i as u64 + 1) {
                report.problems.push(format!("{} has a gap in its log", id.resource_name()));
            }
            match Plan::replay(&events) {
                Some(plan) if encode(&plan)? == stored.as_ref() => {}
                _ => report.problems.push(format!("{} differs from its replay", id.resource_name())),
            }
        }
        let mut indexed = std::collections::BTreeSet::new();
        for prefix in keys::CLOCK_INDEXES {
            for item in self.shared.db.scan_prefix([prefix]) {
                indexed.insert(item?.0.to_vec());
            }
        }
        if indexed != clock_keys {
            report.problems.push(format!(
                "the clock index differs from the plans' clocks ({} keys stored, {} expected)",
                indexed.len(),
                clock_keys.len()
            ));
        }
        // One pass over the audit log serves the chain's check and the per-plan index's.
        let mut about = Vec::new();
        let (audit_records, problems) = audit::verify(&self.shared.db, &self.shared.checkpoint_key, |record| {
            if let Some(plan) = record.entry.plan {
                about.push((plan, record.sequence));
            }
        })?;
        report.audit_records = audit_records;
        report.problems.extend(problems);
        report.problems.extend(plan_audit::verify(&self.shared.db, about)?);
        Ok(report)
    }

    /// Up to `limit` audit records from `from_sequence` on.
    pub fn audit_records(&self, from_sequence: u64, limit: usize) -> Result<Vec<audit::AuditRecord>, Error> {
        audit::records(&self.shared.db, from_sequence, limit)
    }

    /// Up to `limit` audit records about one plan, from audit sequence `from_sequence` on.
    pub fn plan_audit_records(
        &self,
        plan: PlanId,
        from_sequence: u64,
        limit: usize,
    ) -> Result<Vec<audit::AuditRecord>, Error> {
        plan_audit::records(&self.shared.db, plan, from_sequence, limit)
    }

    /// Up to `limit` emergency-access grants (their events) made to
    /// professionals of `organisation`, from global position `from_position` on.
    pub fn emergency_grants(
        &self,
        organisation: &OrganisationId,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, Error> {
        self.reviews(keys::EMERGENCY, organisation, from_position, limit)
    }

    /// Up to `limit` care-team joins (their events) `organisation` made on its
    /// own, from global position `from_position` on.
    pub fn care_team_joins(
        &self,
        organisation: &OrganisationId,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, Error> {
        self.reviews(keys::JOIN, organisation, from_position, limit)
    }

    /// The durable events of review index `index` that `organisation` caused.
    fn reviews(
        &self,
        index: u8,
        organisation: &OrganisationId,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, Error> {
        let durable = self.durable_position();
        let mut events = Vec::new();
        // Every organisation's entries are indexed together.
        for item in self.shared.db.range(keys::review(index, from_position)..=keys::review(index, durable)) {
            if events.len() >= limit {
                break;
            }
            let (plan, sequence) = keys::decode_event_ref(&item?.1)?;
            let bytes = self.shared.db.get(keys::event(plan, sequence))?.ok_or_else(|| corrupt("review index"))?;
            let event: RecordedEvent = decode(&bytes)?;
            if &event.actor.organisation == organisation {
                events.push(event);
            }
        }
        Ok(events)
    }

    async fn wait_durable(&self, position: u64) -> Result<(), Error> {
        if self.durable_position() >= position {
            return Ok(());
        }
        let mut durable = self.shared.durable.clone();
        durable.wait_for(|p| *p >= position).await.map_err(|_| Error::Unavailable)?;
        Ok(())
    }
}

/// A plan's stored projection. One this build cannot decode — written by an
/// earlier build whose `Plan` had fewer fields — is rebuilt from the plan's
/// log, whose events stay decodable (variants are only ever appended); the
/// next write stores it in the current format. `verify` still reports it.
pub(super) fn projection(db: &sled::Db, id: PlanId) -> Result<Option<Plan>, Error> {
    let Some(bytes) = db.get(keys::projection(id))? else { return Ok(None) };
    match decode(&bytes) {
        Ok(plan) => Ok(Some(plan)),
        Err(error) => {
            tracing::warn!(plan = %id.resource_name(), %error, "projection not decodable; rebuilding it from the log");
            migrate::replay(db, id).map(Some)
        }
    }
}

fn last_position(db: &sled::Db) -> Result<u64, Error> {
    let Some(item) = db.scan_prefix([keys::GLOBAL]).next_back() else { return Ok(0) };
    let (key, value) = item?;
    let (first, round) = keys::decode_round(&key, &value)?;
    Ok(first + round.len() as u64 - 1)
}

/// Why sled could not open a store folder, in words an operator can act on.
fn open_error(error: sled::Error) -> Error {
    match error {
        sled::Error::Io(io) if io.to_string().contains("could not acquire lock") => Error::Storage(
            "the data folder is in use by another process (a hub still running on it?); stop that process first".into(),
        ),
        sled::Error::Corruption { at, .. } => Error::Storage(format!(
            "the data folder is damaged (sled found corrupt data at {at:?}); restore it from a backup (samplan restore)"
        )),
        other => Error::Storage(format!("sled could not open the data folder: {other}")),
    }
}

/// sled's settings for a store folder; sled refuses to open one with another segment size.
fn sled_config(path: &Path, cache_capacity_bytes: u64) -> sled::Config {
    sled::Config::new()
        .path(path)
        .segment_size(SEGMENT_SIZE)
        .cache_capacity(cache_capacity_bytes)
        .flush_every_ms(None)
        .mode(sled::Mode::HighThroughput)
}

/// sled's data file, opened for `fdatasync`, after making the directory entries durable.
fn open_data_file(path: &Path) -> Result<std::fs::File, Error> {
    let file = std::fs::OpenOptions::new().read(true).open(path.join("db"))?;
    file.sync_all()?;
    std::fs::File::open(path)?.sync_all()?;
    Ok(file)
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

fn corrupt(what: &str) -> Error {
    Error::Storage(format!("corrupt {what}"))
}

#[cfg(test)]
mod backup_tests;
#[cfg(test)]
mod clock_tests;
#[cfg(test)]
mod tests;
