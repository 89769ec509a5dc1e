//! The single writer thread: sled's side of a write.
//!
//! One thread owns every write, so decisions need no locks and the global
//! position is assigned without gaps. Each round takes all queued jobs (up to
//! `max_batch`), has each decided in order against the plans as staged so far
//! (the application step, [`super::decide`], the same for every engine),
//! stages what it writes, applies everything to sled in one atomic batch and flushes sled's buffers
//! to the file. It then hands the answers to the syncer ([`super::syncer`])
//! and goes on with the next round while the syncer makes the earlier rounds
//! device-durable: the next round overlaps the `fdatasync`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Instant;

use parking_lot::RwLock;
use tokio::sync::{mpsc, oneshot};

use super::audit::{AuditRecord, Checkpoint};
use super::backup::Cut;
use super::decide::{self, Appended, Reads, RequestRecord, Stage};
use super::plan_audit::PlanIndex;
use super::syncer::{Answer, Pending, answer};
use super::{Error, Job, Message, Outcome, Stats, StoreOptions};
use super::{decode, encode, keys};
use crate::domain::{AuditEntry, CitizenKey, Plan, PlanId, RecordedEvent};

/// Everything one round has decided but not yet written.
#[derive(Default)]
struct Staging {
    batch: sled::Batch,
    plans: HashMap<PlanId, Plan>,
    /// The encoded size of each staged plan.
    plan_bytes: HashMap<PlanId, usize>,
    citizens: HashMap<CitizenKey, PlanId>,
    requests: HashMap<Vec<u8>, RequestRecord>,
    /// Events staged by requests with an id, for a retry within the same round.
    events: HashMap<(PlanId, u64), RecordedEvent>,
    /// The round's slice of the global log, in position order.
    round: Vec<(PlanId, u64)>,
    /// One audit entry per job, in order.
    audit: Vec<AuditEntry>,
}

/// The span of a round, which follows from (links to) the span of every
/// call it serves; the engine records its positions.
pub(super) fn round_span(jobs: &[(Job, tracing::Span)]) -> tracing::Span {
    let round = tracing::info_span!(
        "group_commit",
        jobs = jobs.len() as i64,
        first_position = tracing::field::Empty,
        last_position = tracing::field::Empty,
        audit_records = tracing::field::Empty,
    );
    for (_, caller) in jobs {
        round.follows_from(caller);
    }
    round
}

/// What a writer takes for one round: the jobs queued behind `first`, up
/// to `max_batch`, and the stop or cut request that ended them.
pub(super) struct Gathered {
    pub jobs: Vec<(Job, tracing::Span)>,
    pub stop: Option<oneshot::Sender<()>>,
    pub cut: Option<oneshot::Sender<Result<Cut, Error>>>,
}

/// Gathers a round from `first` and what `next` finds queued.
pub(super) fn gather(first: Message, max_batch: usize, mut next: impl FnMut() -> Option<Message>) -> Gathered {
    let mut gathered = Gathered { jobs: Vec::new(), stop: None, cut: None };
    let mut message = Some(first);
    while let Some(taken) = message.take() {
        match taken {
            Message::Job(job, span) => gathered.jobs.push((job, span)),
            Message::Stop(done) => {
                gathered.stop = Some(done);
                break;
            }
            Message::Cut(reply) => {
                gathered.cut = Some(reply);
                break;
            }
        }
        if gathered.jobs.len() < max_batch {
            message = next();
        }
    }
    gathered
}

/// The answer to a job the writer will not do.
pub(super) fn refuse(job: Job) -> Answer {
    match job {
        Job::Submit { reply, .. } => answer(reply, Err(Error::Unavailable)),
        Job::Record { reply, .. } => answer(reply, Err(Error::Unavailable)),
    }
}

pub(super) struct Writer {
    pub db: sled::Db,
    pub options: StoreOptions,
    /// The last global position assigned.
    pub position: u64,
    pub stats: Arc<Stats>,
    pub failure: Arc<super::failure::Failure>,
    pub sync: SyncSender<Pending>,
    /// The last audit record's sequence and hash.
    pub audit_head: (u64, [u8; 32]),
    pub plan_index: PlanIndex,
    /// Plans as the last rounds wrote them, so neither a write nor a read
    /// need read and decode the projection.
    pub recent: SharedPlans,
}

/// The writer's recent plans, shared with the store's readers.
pub(super) type SharedPlans = Arc<RwLock<RecentPlans>>;

/// The plans the writer wrote lately, up to a budget of encoded bytes. Only
/// the writer changes plans, so what it wrote is what sled holds. The writer
/// updates them after applying a round and before handing the round to the
/// syncer, so no change a client was told of is missing here.
#[derive(Default)]
pub(super) struct RecentPlans {
    /// Each plan with its encoded size.
    plans: HashMap<PlanId, (Arc<Plan>, usize)>,
    bytes: usize,
    budget: usize,
}

impl RecentPlans {
    /// An empty set of recent plans, ready to share.
    pub(super) fn shared(budget: usize) -> SharedPlans {
        Arc::new(RwLock::new(Self { budget, ..Self::default() }))
    }

    pub(super) fn get(&self, id: &PlanId) -> Option<Arc<Plan>> {
        self.plans.get(id).map(|(plan, _)| plan.clone())
    }

    /// Keeps a round's plans once the round is applied; over budget, only those.
    fn keep(&mut self, plans: HashMap<PlanId, Plan>, sizes: &HashMap<PlanId, usize>) {
        for (id, plan) in plans {
            let size = sizes.get(&id).copied().unwrap_or(0);
            if let Some((_, replaced)) = self.plans.insert(id, (Arc::new(plan), size)) {
                self.bytes -= replaced;
            }
            self.bytes += size;
        }
        if self.bytes > self.budget {
            self.plans.retain(|id, _| sizes.contains_key(id));
            self.bytes = self.plans.values().map(|(_, size)| size).sum();
        }
    }
}

impl Writer {
    /// Runs until a stop message or until every sender is gone; then lets the
    /// syncer finish (`syncer` is its thread) and reports back.
    pub(super) fn run(mut self, mut rx: mpsc::Receiver<Message>, syncer: std::thread::JoinHandle<()>) {
        let max_batch = self.options.max_batch.max(1);
        let mut stop = None;
        while stop.is_none() {
            let Some(first) = rx.blocking_recv() else { break };
            let Gathered { jobs, stop: stopped, cut } = gather(first, max_batch, || rx.try_recv().ok());
            stop = stopped;
            self.commit(jobs);
            if let Some(reply) = cut {
                self.cut(reply);
            }
        }
        rx.close();
        // Answer whatever raced in behind the stop.
        while let Ok(message) = rx.try_recv() {
            if let Message::Job(job, _) = message {
                refuse(job)(false);
            }
        }
        drop(self.sync);
        let _ = syncer.join();
        if let Some(done) = stop {
            let _ = done.send(());
        }
    }

    /// Names the cut after the last round for a backup, through the syncer, so
    /// that the answer comes once everything up to the cut is durable.
    fn cut(&self, reply: oneshot::Sender<Result<Cut, Error>>) {
        let (sequence, hash) = self.audit_head;
        let checkpoint = Checkpoint::sign(&self.options.checkpoint_key, sequence, hash);
        let cut = Cut { position: self.position, checkpoint };
        let pending =
            Pending { position: self.position, answers: vec![answer(reply, Ok(cut))], round: tracing::Span::none() };
        if let Err(unsent) = self.sync.send(pending) {
            for answer in unsent.0.answers {
                answer(false);
            }
        }
    }

    /// Decides a batch of jobs and applies it to sled in one atomic batch; the
    /// syncer makes it durable and answers. The round's span links to the
    /// span of every call it serves.
    fn commit(&mut self, jobs: Vec<(Job, tracing::Span)>) {
        if jobs.is_empty() {
            return;
        }
        if self.failure.is_set() {
            for (job, _) in jobs {
                refuse(job)(false);
            }
            return;
        }
        let round = round_span(&jobs);
        round.record("first_position", self.position as i64 + 1);
        let entered = round.enter();
        let (first_position, audit_head) = (self.position, self.audit_head);
        let mut staging = Staging::default();
        let mut answers = Vec::with_capacity(jobs.len());
        let started = Instant::now();
        for (job, _) in jobs {
            match job {
                Job::Submit { submission, intent, reply } => {
                    let now = (self.options.clock)();
                    let (result, entry) =
                        decide::job(&mut Round { writer: self, st: &mut staging }, &submission, &intent, now);
                    staging.audit.push(entry);
                    answers.push(answer(reply, result));
                }
                Job::Record { entries, reply } => {
                    let now = (self.options.clock)();
                    staging.audit.extend(entries.into_iter().map(|entry| AuditEntry { at: now, ..entry }));
                    answers.push(answer(reply, Ok(())));
                }
            }
        }
        add_micros(&self.stats.decide_micros, started);
        self.stats.jobs.fetch_add(answers.len() as u64, Ordering::Relaxed);
        let audit_records = staging.audit.len();
        let started = Instant::now();
        let applied = self.seal(&mut staging, first_position).and_then(|()| Ok(self.db.apply_batch(staging.batch)?));
        add_micros(&self.stats.apply_micros, started);
        self.stats.batches.fetch_add(1, Ordering::Relaxed);
        // sled's flush holds its concurrency-control read lock until its
        // buffers are written, and `apply_batch` takes the write lock, so the
        // two cannot overlap. Flushing here, in line, keeps the next round's
        // apply from queueing on that lock during a flush, and with it every
        // reader (parking_lot's lock is fair: readers wait behind a waiting
        // writer). The syncer's `fdatasync` still overlaps the next round.
        let started = Instant::now();
        let applied = applied.and_then(|()| Ok(self.db.flush().map(drop)?));
        add_micros(&self.stats.flush_micros, started);
        if let Err(error) = applied {
            self.failure.set(&error, "writing a round failed");
            (self.position, self.audit_head) = (first_position, audit_head);
            for answer in answers {
                answer(false);
            }
            return;
        }
        round.record("last_position", self.position as i64).record("audit_records", audit_records as i64);
        metrics::histogram!(crate::metrics::GROUP_COMMIT_JOBS).record(answers.len() as f64);
        metrics::counter!(crate::metrics::AUDIT_RECORDS).increment(audit_records as u64);
        self.recent.write().keep(staging.plans, &staging.plan_bytes);
        drop(entered);
        let pending = Pending { position: self.position, answers, round };
        if let Err(unsent) = self.sync.send(pending) {
            for answer in unsent.0.answers {
                answer(false);
            }
        }
    }

    /// Adds the round's slice of the global log, its audit records (chained on
    /// from the last one) and the new checkpoint to the batch.
    fn seal(&mut self, st: &mut Staging, first_position: u64) -> Result<(), Error> {
        if !st.round.is_empty() {
            st.batch.insert(keys::round(first_position + 1).as_slice(), encode(&st.round)?);
        }
        let (mut sequence, mut previous) = self.audit_head;
        let mut records = Vec::with_capacity(st.audit.len());
        for entry in st.audit.drain(..) {
            sequence += 1;
            self.plan_index.add(entry.plan, sequence);
            let record = AuditRecord::link(sequence, previous, entry)?;
            previous = record.hash;
            records.push(record);
        }
        if let Some(first) = records.first() {
            st.batch.insert(keys::audit(first.sequence).as_slice(), encode(&records)?);
        }
        let checkpoint = Checkpoint::sign(&self.options.checkpoint_key, sequence, previous);
        st.batch.insert([keys::CHECKPOINT].as_slice(), encode(&checkpoint)?);
        self.plan_index.stage(&mut st.batch, sequence)?;
        self.audit_head = (sequence, previous);
        Ok(())
    }
}

/// Stages a request record, for retries in this round and after.
fn remember(st: &mut Staging, request: Option<(Vec<u8>, RequestRecord)>) -> Result<(), Error> {
    let Some((key, record)) = request else { return Ok(()) };
    st.batch.insert(key.as_slice(), encode(&record)?);
    st.requests.insert(key, record);
    Ok(())
}

/// The store as a round sees it: what it staged, then the recent plans, then sled.
struct Round<'a> {
    writer: &'a mut Writer,
    st: &'a mut Staging,
}

impl Stage for Round<'_> {
    fn options(&self) -> &StoreOptions {
        &self.writer.options
    }

    fn position(&self) -> u64 {
        self.writer.position
    }

    fn remember(&mut self, key: Vec<u8>, record: RequestRecord) -> Result<(), Error> {
        remember(self.st, Some((key, record)))
    }

    /// Stages appended events: each event under its plan, the round's slice of
    /// the global log, the review indexes, the projection, its clock keys, the
    /// citizen index of a new plan and the request record.
    fn append(&mut self, appended: Appended) -> Result<Outcome, Error> {
        let st = &mut *self.st;
        let Appended { outcome, encoded, plan, plan_bytes, clock_keys_before: old_clock_keys, citizen, request } =
            appended;
        let plan_id = outcome.plan_id;
        for (event, bytes) in outcome.events.iter().zip(encoded) {
            if let Some(index) = keys::review_index(event) {
                st.batch.insert(
                    keys::review(index, event.global_position).as_slice(),
                    keys::event_ref(plan_id, event.sequence).as_slice(),
                );
            }
            st.batch.insert(keys::event(plan_id, event.sequence).as_slice(), bytes);
            if request.is_some() {
                st.events.insert((plan_id, event.sequence), event.clone());
            }
            st.round.push((plan_id, event.sequence));
        }
        let plan_size = plan_bytes.len();
        st.batch.insert(keys::projection(plan_id).as_slice(), plan_bytes);
        let new_clock_keys = keys::clock_keys(&plan);
        for key in old_clock_keys.iter().filter(|k| !new_clock_keys.contains(k)) {
            st.batch.remove(key.as_slice());
        }
        for key in new_clock_keys.iter().filter(|k| !old_clock_keys.contains(k)) {
            st.batch.insert(key.as_slice(), &[]);
        }
        if let Some(citizen) = citizen {
            st.batch.insert(keys::citizen(&citizen).as_slice(), plan_id.0.as_slice());
            st.citizens.insert(citizen, plan_id);
        }
        st.plans.insert(plan_id, plan);
        st.plan_bytes.insert(plan_id, plan_size);
        self.writer.position += outcome.events.len() as u64;
        remember(st, request)?;
        Ok(outcome)
    }
}

impl Reads for Round<'_> {
    fn plan(&self, id: PlanId) -> Result<Option<Plan>, Error> {
        if let Some(plan) = self.st.plans.get(&id) {
            return Ok(Some(plan.clone()));
        }
        if let Some(plan) = self.writer.recent.read().get(&id) {
            return Ok(Some(Plan::clone(&plan)));
        }
        super::on_sled::projection(&self.writer.db, id)
    }

    fn inspect<R>(&self, id: PlanId, f: impl FnOnce(&Plan) -> R) -> Option<R> {
        if let Some(plan) = self.st.plans.get(&id) {
            return Some(f(plan));
        }
        let recent = self.writer.recent.read().get(&id);
        if let Some(plan) = recent {
            return Some(f(&plan));
        }
        super::on_sled::projection(&self.writer.db, id).ok().flatten().map(|plan| f(&plan))
    }

    fn citizen_plan(&self, citizen: &CitizenKey) -> Result<Option<PlanId>, Error> {
        if let Some(id) = self.st.citizens.get(citizen) {
            return Ok(Some(*id));
        }
        self.writer.db.get(keys::citizen(citizen))?.map(|bytes| keys::decode_plan_id(&bytes)).transpose()
    }

    fn request_record(&self, key: &[u8]) -> Result<Option<RequestRecord>, Error> {
        if let Some(record) = self.st.requests.get(key) {
            return Ok(Some(record.clone()));
        }
        self.writer.db.get(key)?.map(|b| decode(&b)).transpose()
    }

    fn event(&self, plan: PlanId, sequence: u64) -> Result<Option<RecordedEvent>, Error> {
        if let Some(event) = self.st.events.get(&(plan, sequence)) {
            return Ok(Some(event.clone()));
        }
        self.writer.db.get(keys::event(plan, sequence))?.map(|bytes| decode(&bytes)).transpose()
    }
}

pub(super) fn add_micros(counter: &AtomicU64, since: Instant) {
    counter.fetch_add(u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
}
