//! The single writer thread.
//!
//! One thread owns every write, so decisions need no locks and the global
//! position is assigned without gaps. Each round takes all queued jobs (up to
//! `max_batch`), decides them in order against the plans as staged so far,
//! applies everything to sled in one atomic batch and flushes sled's buffers
//! to the file. It then hands the answers to the syncer ([`super::syncer`])
//! and goes on with the next round while the syncer makes the earlier rounds
//! device-durable: the next round overlaps the `fdatasync`.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::SyncSender;
use std::time::Instant;

use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use tokio::sync::{mpsc, oneshot};

use super::audit::{AuditRecord, Checkpoint, event_hash};
use super::backup::Cut;
use super::plan_audit::PlanIndex;
use super::syncer::{Answer, Pending, answer};
use super::{Error, Intent, Job, MAX_EVENT_BYTES, MAX_PLAN_BYTES, Message, Outcome, Stats, StoreOptions, Submission};
use super::{decode, encode, keys};
use crate::domain::{
    AuditEntry, CitizenKey, Context, Decision, DomainError, IdSeed, Plan, PlanId, Purpose, RecordedEvent, Timestamp,
    citizen, create, decide, disclosure, emergency_access, grounds, join, mark_overdue, policy,
};

/// What a request id was used for, and what it answered.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(super) struct RequestRecord {
    fingerprint: [u8; 32],
    pub plan_id: PlanId,
    pub version: u64,
    created: bool,
    /// How many events the request appended; they end the plan's log at `version`.
    count: u32,
}

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
    /// The current job's events as the audit log vouches for them.
    event_hashes: Vec<(u64, [u8; 32])>,
    /// One audit entry per job, in order.
    audit: Vec<AuditEntry>,
}

/// The span of a round after `position`, which follows from (links to) the
/// span of every call it serves.
fn round_span(jobs: &[(Job, tracing::Span)], position: u64) -> tracing::Span {
    let round = tracing::info_span!(
        "group_commit",
        jobs = jobs.len() as i64,
        first_position = position as i64 + 1,
        last_position = tracing::field::Empty,
        audit_records = tracing::field::Empty,
    );
    for (_, caller) in jobs {
        round.follows_from(caller);
    }
    round
}

/// The answer to a job the writer will not do.
fn refuse(job: Job) -> Answer {
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
            let mut jobs = Vec::new();
            let mut next = Some(first);
            let mut cut = None;
            while let Some(message) = next.take() {
                match message {
                    Message::Job(job, span) => jobs.push((job, span)),
                    Message::Stop(done) => {
                        stop = Some(done);
                        break;
                    }
                    Message::Cut(reply) => {
                        cut = Some(reply);
                        break;
                    }
                }
                if jobs.len() < max_batch {
                    next = rx.try_recv().ok();
                }
            }
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
        let round = round_span(&jobs, self.position);
        let entered = round.enter();
        let (first_position, audit_head) = (self.position, self.audit_head);
        let mut staging = Staging::default();
        let mut answers = Vec::with_capacity(jobs.len());
        let started = Instant::now();
        for (job, _) in jobs {
            match job {
                Job::Submit { submission, intent, reply } => {
                    staging.event_hashes.clear();
                    let now = (self.options.clock)();
                    let result = if submission.deadline.is_some_and(|deadline| deadline <= Instant::now()) {
                        Err(Error::DeadlineExceeded)
                    } else {
                        self.process(&mut staging, &submission, &intent, now)
                    };
                    let entry = self.audit_entry(&staging, &submission, &intent, &result, now);
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

    /// What the audit log says about one job.
    fn audit_entry(
        &self,
        st: &Staging,
        sub: &Submission,
        intent: &Intent,
        result: &Result<Outcome, Error>,
        now: Timestamp,
    ) -> AuditEntry {
        let plan_id = result.as_ref().ok().map(|o| o.plan_id);
        let (action, plan, purpose, categories, ground) = match (intent, result) {
            (Intent::Create { .. }, _) => {
                // The response shows the caller its view of the plan.
                let viewed = plan_id
                    .and_then(|id| self.inspect(st, id, |plan| policy::view(plan, &sub.actor, now).ok()))
                    .flatten()
                    .map(|view| view.categories())
                    .unwrap_or_default();
                let (action, ground) = if result.as_ref().is_ok_and(Outcome::joined) {
                    if sub.actor.sector.is_health() {
                        (
                            "JoinCareTeam",
                            "a health service joining for the citizen's current treatment, with a stated reason, for review (sundhedsloven § 41, stk. 2, nr. 1)",
                        )
                    } else {
                        (
                            "JoinCareTeam",
                            "an organisation joining under the citizen's consent naming it (sundhedsloven § 43, stk. 1; forvaltningsloven § 28, stk. 2, nr. 1)",
                        )
                    }
                } else {
                    ("CreatePlan", "plan created or found by an organisation of the care team")
                };
                (action.to_owned(), plan_id, Purpose::CareCoordination, viewed, ground)
            }
            (Intent::Change { plan, command, .. }, _) => (
                format!("ChangePlan.{}", command.name()),
                Some(*plan),
                Purpose::CareCoordination,
                // Items are never removed, so the plan after the change knows the categories too.
                self.inspect(st, *plan, |plan| command.touches(plan)).unwrap_or_default(),
                if sub.actor.is_citizen() {
                    "the citizen writing their own part of their plan"
                } else {
                    "care-team member writing its part of the plan"
                },
            ),
            (Intent::MarkOverdue { plan, clock_id }, _) => (
                "MarkClockOverdue".to_owned(),
                Some(*plan),
                Purpose::CareCoordination,
                self.inspect(st, *plan, |plan| {
                    plan.clock(clock_id).map(|c| disclosure::clock_reveals(c.kind).to_vec())
                })
                .flatten()
                .unwrap_or_default(),
                "the hub's deadline watcher: a running clock passed its due date",
            ),
            (Intent::EmergencyAccess { .. }, _) => (
                "RequestEmergencyAccess".to_owned(),
                plan_id,
                Purpose::EmergencyAccess,
                Vec::new(),
                grounds::EMERGENCY_CITATION,
            ),
        };
        let (decision, legal_ground, categories) = match result {
            Ok(_) => (Decision::Allowed, ground, categories),
            Err(error) => (Decision::Denied { reason: error.reason().to_owned() }, "", Vec::new()),
        };
        AuditEntry {
            at: now,
            actor: Some(sub.actor.clone()),
            certificate_identity: None,
            correlation_id: sub.correlation_id.clone(),
            plan,
            action,
            purpose,
            categories,
            decision,
            legal_ground: legal_ground.to_owned(),
            events: if result.is_ok() { st.event_hashes.clone() } else { Vec::new() },
        }
    }

    fn process(
        &mut self,
        st: &mut Staging,
        sub: &Submission,
        intent: &Intent,
        now: Timestamp,
    ) -> Result<Outcome, Error> {
        // The request id's key and the fingerprint of what it asked for.
        let request = match &sub.request_id {
            Some(id) => Some((keys::request(&sub.actor, id), Sha256::digest(encode(intent)?).into())),
            None => None,
        };
        if let Some((key, fingerprint)) = &request
            && let Some(record) = self.request_record(st, key)?
        {
            if &record.fingerprint != fingerprint {
                return Err(Error::RequestIdReused);
            }
            return self.replay(st, &record);
        }

        let today = now.date();
        let ids = fresh_ids();
        if let Intent::Create { .. } = intent {
            // Before the lookup: whether the plan exists is not for a refused caller to learn.
            citizen::may_enter(&sub.actor)?;
        }
        let (plan_id, before, payloads) = match intent {
            Intent::Create { citizen, kind, reason } => match self.citizen_plan(st, citizen)? {
                Some(plan_id) => {
                    let plan = self.citizen_plan_loaded(st, plan_id)?;
                    match join(&plan, &sub.actor, now, reason.clone(), ids)? {
                        Some(joined) => (plan_id, Some(plan), vec![joined]),
                        None => {
                            let outcome =
                                Outcome { plan_id, version: plan.version, created: false, events: Vec::new() };
                            self.remember(st, request, &outcome, 0)?;
                            return Ok(outcome);
                        }
                    }
                }
                None => (PlanId::random(), None, vec![create(&sub.actor, *kind, today, reason.clone(), ids)]),
            },
            Intent::Change { plan, expected_version, command } => {
                let current = self.load(st, *plan)?.ok_or(DomainError::PlanNotFound)?;
                // Membership first: an outsider must not learn even the version.
                if !policy::takes_part(&current, &sub.actor, now) {
                    return Err(DomainError::PlanNotFound.into());
                }
                // The version as the writer reads it (a role that reads no plans
                // writes none): changes it may not see do not make it stale.
                let shown = current.trail.shown_version(&policy::view(&current, &sub.actor, now)?.categories());
                if shown != *expected_version {
                    return Err(Error::StaleVersion { expected: *expected_version, current: shown });
                }
                let ctx = Context {
                    actor: &sub.actor,
                    now,
                    ids,
                    rules: &self.options.rules,
                    deadlines: &self.options.deadlines,
                };
                let payloads = decide(&current, command, ctx)?;
                (*plan, Some(current), payloads)
            }
            Intent::EmergencyAccess { citizen, justification } => {
                // Who may ask at all is decided first: whether the citizen has a plan is not for others to learn.
                policy::may_request_emergency_access(&sub.actor)?;
                let plan_id = self.citizen_plan(st, citizen)?.ok_or(DomainError::PlanNotFound)?;
                let plan = self.citizen_plan_loaded(st, plan_id)?;
                let granted = emergency_access(
                    &sub.actor,
                    now,
                    justification.clone(),
                    self.options.emergency_access_micros,
                    ids,
                )?;
                (plan_id, Some(plan), vec![granted])
            }
            Intent::MarkOverdue { plan, clock_id } => {
                let current = self.load(st, *plan)?.ok_or(DomainError::PlanNotFound)?;
                let overdue = mark_overdue(&current, clock_id, today)?;
                (*plan, Some(current), vec![overdue])
            }
        };

        let created = before.is_none();
        let old_clock_keys = before.as_ref().map(keys::clock_keys).unwrap_or_default();
        let mut plan = before;
        let mut events = Vec::with_capacity(payloads.len());
        let mut encoded = Vec::with_capacity(payloads.len());
        for (i, payload) in payloads.into_iter().enumerate() {
            let event = RecordedEvent {
                plan_id,
                sequence: plan.as_ref().map_or(1, |p| p.version + 1),
                global_position: self.position + 1 + i as u64,
                recorded_at: now,
                actor: sub.actor.clone(),
                correlation_id: sub.correlation_id.clone(),
                request_id: sub.request_id.clone(),
                category: payload.category(plan.as_ref()),
                payload,
            };
            let bytes = encode(&event)?;
            if bytes.len() > MAX_EVENT_BYTES {
                return Err(Error::PlanTooLarge { limit: MAX_EVENT_BYTES });
            }
            match &mut plan {
                Some(p) => p.apply(&event),
                None => plan = Plan::from_first(&event),
            }
            encoded.push(bytes);
            events.push(event);
        }
        let plan = plan.ok_or_else(|| Error::Storage("a new plan must start with PlanCreated".into()))?;
        let plan_bytes = encode(&plan)?;
        let plan_size = plan_bytes.len();
        if plan_size > MAX_PLAN_BYTES {
            return Err(Error::PlanTooLarge { limit: MAX_PLAN_BYTES });
        }

        for (event, bytes) in events.iter().zip(encoded) {
            st.event_hashes.push((event.sequence, event_hash(&bytes)));
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
        st.batch.insert(keys::projection(plan_id).as_slice(), plan_bytes);
        let new_clock_keys = keys::clock_keys(&plan);
        for key in old_clock_keys.iter().filter(|k| !new_clock_keys.contains(k)) {
            st.batch.remove(key.as_slice());
        }
        for key in new_clock_keys.iter().filter(|k| !old_clock_keys.contains(k)) {
            st.batch.insert(key.as_slice(), &[]);
        }
        if let (true, Intent::Create { citizen, .. }) = (created, intent) {
            st.batch.insert(keys::citizen(citizen).as_slice(), plan_id.0.as_slice());
            st.citizens.insert(*citizen, plan_id);
        }
        let outcome = Outcome { plan_id, version: plan.version, created, events };
        st.plans.insert(plan_id, plan);
        st.plan_bytes.insert(plan_id, plan_size);
        self.position += outcome.events.len() as u64;
        let count = u32::try_from(outcome.events.len()).unwrap_or(u32::MAX);
        self.remember(st, request, &outcome, count)?;
        Ok(outcome)
    }

    fn remember(
        &self,
        st: &mut Staging,
        request: Option<(Vec<u8>, [u8; 32])>,
        outcome: &Outcome,
        count: u32,
    ) -> Result<(), Error> {
        let Some((key, fingerprint)) = request else { return Ok(()) };
        let record = RequestRecord {
            fingerprint,
            plan_id: outcome.plan_id,
            version: outcome.version,
            created: outcome.created,
            count,
        };
        st.batch.insert(key.as_slice(), encode(&record)?);
        st.requests.insert(key, record);
        Ok(())
    }

    fn replay(&self, st: &Staging, record: &RequestRecord) -> Result<Outcome, Error> {
        let first = record.version + 1 - u64::from(record.count);
        let mut events = Vec::with_capacity(record.count as usize);
        for sequence in first..=record.version {
            let event = match st.events.get(&(record.plan_id, sequence)) {
                Some(event) => event.clone(),
                None => decode(
                    &self
                        .db
                        .get(keys::event(record.plan_id, sequence))?
                        .ok_or_else(|| Error::Storage("request record points nowhere".into()))?,
                )?,
            };
            events.push(event);
        }
        Ok(Outcome { plan_id: record.plan_id, version: record.version, created: record.created, events })
    }

    fn load(&self, st: &Staging, id: PlanId) -> Result<Option<Plan>, Error> {
        if let Some(plan) = st.plans.get(&id) {
            return Ok(Some(plan.clone()));
        }
        if let Some(plan) = self.recent.read().get(&id) {
            return Ok(Some(Plan::clone(&plan)));
        }
        super::projection(&self.db, id)
    }

    /// `f` of the plan as staged or stored, without copying a staged or recent one.
    fn inspect<R>(&self, st: &Staging, id: PlanId, f: impl FnOnce(&Plan) -> R) -> Option<R> {
        if let Some(plan) = st.plans.get(&id) {
            return Some(f(plan));
        }
        let recent = self.recent.read().get(&id);
        if let Some(plan) = recent {
            return Some(f(&plan));
        }
        super::projection(&self.db, id).ok().flatten().map(|plan| f(&plan))
    }

    fn citizen_plan_loaded(&self, st: &Staging, plan_id: PlanId) -> Result<Plan, Error> {
        self.load(st, plan_id)?.ok_or_else(|| Error::Storage("citizen index points nowhere".into()))
    }

    fn citizen_plan(&self, st: &Staging, citizen: &CitizenKey) -> Result<Option<PlanId>, Error> {
        if let Some(id) = st.citizens.get(citizen) {
            return Ok(Some(*id));
        }
        self.db.get(keys::citizen(citizen))?.map(|bytes| keys::decode_plan_id(&bytes)).transpose()
    }

    fn request_record(&self, st: &Staging, key: &[u8]) -> Result<Option<RequestRecord>, Error> {
        if let Some(record) = st.requests.get(key) {
            return Ok(Some(record.clone()));
        }
        self.db.get(key)?.map(|b| decode(&b)).transpose()
    }
}

pub(super) fn add_micros(counter: &AtomicU64, since: Instant) {
    counter.fetch_add(u64::try_from(since.elapsed().as_micros()).unwrap_or(u64::MAX), Ordering::Relaxed);
}

/// A random seed for the ids one decision gives the items it adds.
fn fresh_ids() -> IdSeed {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    IdSeed(u64::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]]))
}
