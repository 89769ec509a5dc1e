//! The application step of a write, the same whichever engine persists it:
//! answer a retry from its request record, check who may do what (membership,
//! the version the caller saw), let the domain decide, turn its payloads into
//! recorded events on the plan, and say what the audit log records. It reads
//! the store as the round has staged it so far, through [`Reads`], and hands
//! what it decided to the engine's [`Stage`] ([`job`]); the engine only
//! persists it (sled: `writer.rs`; PostgreSQL: `postgres/round.rs`).

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::audit::event_hash;
use super::{Error, Intent, MAX_EVENT_BYTES, MAX_PLAN_BYTES, Outcome, StoreOptions, Submission, encode, keys};
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

impl RequestRecord {
    /// The plan sequences of the events the request appended.
    pub fn sequences(&self) -> std::ops::RangeInclusive<u64> {
        self.version + 1 - u64::from(self.count)..=self.version
    }
}

/// The store as the current round sees it: what it staged, else what is stored.
pub(super) trait Reads {
    fn plan(&self, id: PlanId) -> Result<Option<Plan>, Error>;
    /// `f` of the plan, without copying it; `None` if there is none (or it cannot be read).
    fn inspect<R>(&self, id: PlanId, f: impl FnOnce(&Plan) -> R) -> Option<R>;
    fn citizen_plan(&self, citizen: &CitizenKey) -> Result<Option<PlanId>, Error>;
    fn request_record(&self, key: &[u8]) -> Result<Option<RequestRecord>, Error>;
    fn event(&self, plan: PlanId, sequence: u64) -> Result<Option<RecordedEvent>, Error>;
}

/// A round being staged: its reads see what it staged so far.
pub(super) trait Stage: Reads {
    fn options(&self) -> &StoreOptions;
    /// The last global position assigned, the round's own included.
    fn position(&self) -> u64;
    /// Stages the request record of a decision that appended nothing.
    fn remember(&mut self, key: Vec<u8>, record: RequestRecord) -> Result<(), Error>;
    /// Stages appended events, the plan after them, its indexes and the
    /// request record, and advances the position past the events.
    fn append(&mut self, appended: Appended) -> Result<Outcome, Error>;
}

/// Decides one submitted job at `now` (refused undecided once its caller
/// stopped waiting), stages what it writes, and says what the audit log records of it.
pub(super) fn job(
    stage: &mut impl Stage,
    sub: &Submission,
    intent: &Intent,
    now: Timestamp,
) -> (Result<Outcome, Error>, AuditEntry) {
    let mut hashes = Vec::new();
    let result = if sub.deadline.is_some_and(|deadline| deadline <= std::time::Instant::now()) {
        Err(Error::DeadlineExceeded)
    } else {
        decide_and_stage(stage, sub, intent, now, &mut hashes)
    };
    let entry = audit_entry(stage, sub, intent, &result, now, &hashes);
    (result, entry)
}

/// `hashes` gets the appended events as the audit log vouches for them.
fn decide_and_stage(
    stage: &mut impl Stage,
    sub: &Submission,
    intent: &Intent,
    now: Timestamp,
    hashes: &mut Vec<(u64, [u8; 32])>,
) -> Result<Outcome, Error> {
    match submission(stage, stage.options(), sub, intent, now, stage.position())? {
        Decided::Replayed(outcome) => Ok(outcome),
        Decided::Unchanged { outcome, request } => {
            if let Some((key, record)) = request {
                stage.remember(key, record)?;
            }
            Ok(outcome)
        }
        Decided::Appended(appended) => {
            let events = appended.outcome.events.iter().zip(&appended.encoded);
            hashes.extend(events.map(|(event, bytes)| (event.sequence, event_hash(bytes))));
            stage.append(*appended)
        }
    }
}

/// A request id's storage key and the fingerprint of what it asked for.
pub(super) type Request = Option<(Vec<u8>, [u8; 32])>;

/// What one submission comes to.
pub(super) enum Decided {
    /// A retry: the answer its request record gives; nothing to write.
    Replayed(Outcome),
    /// Nothing appended (a create that found the caller on the plan); the request is remembered.
    Unchanged { outcome: Outcome, request: Option<(Vec<u8>, RequestRecord)> },
    /// Events appended to a plan.
    Appended(Box<Appended>),
}

/// Events to append, and the plan after them.
pub(super) struct Appended {
    pub outcome: Outcome,
    /// Each event of `outcome`, encoded.
    pub encoded: Vec<Vec<u8>>,
    /// The plan after the events, and encoded.
    pub plan: Plan,
    pub plan_bytes: Vec<u8>,
    /// The clock index keys of the plan before the events (for sled to
    /// remove those that no longer hold).
    pub clock_keys_before: Vec<Vec<u8>>,
    /// The citizen of a plan this created.
    pub citizen: Option<CitizenKey>,
    pub request: Option<(Vec<u8>, RequestRecord)>,
}

/// Decides `intent` of `sub` at `now`; its events take the global positions after `position`.
fn submission(
    reads: &impl Reads,
    options: &StoreOptions,
    sub: &Submission,
    intent: &Intent,
    now: Timestamp,
    position: u64,
) -> Result<Decided, Error> {
    let request: Request = match &sub.request_id {
        Some(id) => Some((keys::request(&sub.actor, id), Sha256::digest(encode(intent)?).into())),
        None => None,
    };
    if let Some((key, fingerprint)) = &request
        && let Some(record) = reads.request_record(key)?
    {
        if &record.fingerprint != fingerprint {
            return Err(Error::RequestIdReused);
        }
        return replay(reads, &record).map(Decided::Replayed);
    }
    let (plan_id, before, payloads) = payloads(reads, options, sub, intent, now)?;
    let created = before.is_none();
    if let (Intent::Create { .. }, Some(plan), true) = (intent, &before, payloads.is_empty()) {
        let outcome = Outcome { plan_id, version: plan.version, created: false, events: Vec::new() };
        let request = remembered(request, &outcome, 0);
        return Ok(Decided::Unchanged { outcome, request });
    }
    let clock_keys_before = before.as_ref().map(keys::clock_keys).unwrap_or_default();
    let mut plan = before;
    let mut events = Vec::with_capacity(payloads.len());
    let mut encoded = Vec::with_capacity(payloads.len());
    for (i, payload) in payloads.into_iter().enumerate() {
        let event = RecordedEvent {
            plan_id,
            sequence: plan.as_ref().map_or(1, |p| p.version + 1),
            global_position: position + 1 + i as u64,
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
    if plan_bytes.len() > MAX_PLAN_BYTES {
        return Err(Error::PlanTooLarge { limit: MAX_PLAN_BYTES });
    }
    let citizen = match (created, intent) {
        (true, Intent::Create { citizen, .. }) => Some(*citizen),
        _ => None,
    };
    let outcome = Outcome { plan_id, version: plan.version, created, events };
    let count = u32::try_from(outcome.events.len()).unwrap_or(u32::MAX);
    let request = remembered(request, &outcome, count);
    Ok(Decided::Appended(Box::new(Appended {
        outcome,
        encoded,
        plan,
        plan_bytes,
        clock_keys_before,
        citizen,
        request,
    })))
}

/// The plan an intent is about, as it was, and the domain's payloads for it
/// (none: a create that found the caller on the plan already).
type Payloads = (PlanId, Option<Plan>, Vec<crate::domain::EventPayload>);

fn payloads(
    reads: &impl Reads,
    options: &StoreOptions,
    sub: &Submission,
    intent: &Intent,
    now: Timestamp,
) -> Result<Payloads, Error> {
    let ids = fresh_ids();
    Ok(match intent {
        Intent::Create { citizen, kind, reason } => {
            // Before the lookup: whether the plan exists is not for a refused caller to learn.
            citizen::may_enter(&sub.actor)?;
            match reads.citizen_plan(citizen)? {
                Some(plan_id) => {
                    let plan = citizen_plan(reads, plan_id)?;
                    let joined = join(&plan, &sub.actor, now, reason.clone(), ids)?;
                    (plan_id, Some(plan), joined.into_iter().collect())
                }
                None => (PlanId::random(), None, vec![create(&sub.actor, *kind, now.date(), reason.clone(), ids)]),
            }
        }
        Intent::Change { plan, expected_version, command } => {
            let current = reads.plan(*plan)?.ok_or(DomainError::PlanNotFound)?;
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
            let ctx = Context { actor: &sub.actor, now, ids, rules: &options.rules, deadlines: &options.deadlines };
            let payloads = decide(&current, command, ctx)?;
            (*plan, Some(current), payloads)
        }
        Intent::EmergencyAccess { citizen, justification } => {
            // Who may ask at all is decided first: whether the citizen has a plan is not for others to learn.
            policy::may_request_emergency_access(&sub.actor)?;
            let plan_id = reads.citizen_plan(citizen)?.ok_or(DomainError::PlanNotFound)?;
            let plan = citizen_plan(reads, plan_id)?;
            let granted =
                emergency_access(&sub.actor, now, justification.clone(), options.emergency_access_micros, ids)?;
            (plan_id, Some(plan), vec![granted])
        }
        Intent::MarkOverdue { plan, clock_id } => {
            let current = reads.plan(*plan)?.ok_or(DomainError::PlanNotFound)?;
            let overdue = mark_overdue(&current, clock_id, now.date())?;
            (*plan, Some(current), vec![overdue])
        }
    })
}

fn citizen_plan(reads: &impl Reads, plan_id: PlanId) -> Result<Plan, Error> {
    reads.plan(plan_id)?.ok_or_else(|| Error::Storage("citizen index points nowhere".into()))
}

fn remembered(request: Request, outcome: &Outcome, count: u32) -> Option<(Vec<u8>, RequestRecord)> {
    let (key, fingerprint) = request?;
    let record = RequestRecord {
        fingerprint,
        plan_id: outcome.plan_id,
        version: outcome.version,
        created: outcome.created,
        count,
    };
    Some((key, record))
}

fn replay(reads: &impl Reads, record: &RequestRecord) -> Result<Outcome, Error> {
    let mut events = Vec::with_capacity(record.count as usize);
    for sequence in record.sequences() {
        let event = reads
            .event(record.plan_id, sequence)?
            .ok_or_else(|| Error::Storage("request record points nowhere".into()))?;
        events.push(event);
    }
    Ok(Outcome { plan_id: record.plan_id, version: record.version, created: record.created, events })
}

/// What the audit log says about one submission: `events` are the hashes of
/// the events it appended, as the audit log vouches for them.
fn audit_entry(
    reads: &impl Reads,
    sub: &Submission,
    intent: &Intent,
    result: &Result<Outcome, Error>,
    now: Timestamp,
    events: &[(u64, [u8; 32])],
) -> AuditEntry {
    let plan_id = result.as_ref().ok().map(|o| o.plan_id);
    let (action, plan, purpose, categories, ground) = match intent {
        Intent::Create { .. } => {
            // The response shows the caller its view of the plan.
            let viewed = plan_id
                .and_then(|id| reads.inspect(id, |plan| policy::view(plan, &sub.actor, now).ok()))
                .flatten()
                .map(|view| view.categories())
                .unwrap_or_default();
            let (action, ground) = if result.as_ref().is_ok_and(Outcome::joined) {
                ("JoinCareTeam", join_ground(sub))
            } else {
                ("CreatePlan", "plan created or found by an organisation of the care team")
            };
            (action.to_owned(), plan_id, Purpose::CareCoordination, viewed, ground)
        }
        Intent::Change { plan, command, .. } => (
            format!("ChangePlan.{}", command.name()),
            Some(*plan),
            Purpose::CareCoordination,
            // Items are never removed, so the plan after the change knows the categories too.
            reads.inspect(*plan, |plan| command.touches(plan)).unwrap_or_default(),
            if sub.actor.is_citizen() {
                "the citizen writing their own part of their plan"
            } else {
                "care-team member writing its part of the plan"
            },
        ),
        Intent::MarkOverdue { plan, clock_id } => (
            "MarkClockOverdue".to_owned(),
            Some(*plan),
            Purpose::CareCoordination,
            reads
                .inspect(*plan, |plan| plan.clock(clock_id).map(|c| disclosure::clock_reveals(c.kind).to_vec()))
                .flatten()
                .unwrap_or_default(),
            "the hub's deadline watcher: a running clock passed its due date",
        ),
        Intent::EmergencyAccess { .. } => (
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
        events: if result.is_ok() { events.to_vec() } else { Vec::new() },
    }
}

/// The ground an organisation joins an existing plan on.
fn join_ground(sub: &Submission) -> &'static str {
    if sub.actor.sector.is_health() {
        "a health service joining for the citizen's current treatment, with a stated reason, for review (sundhedsloven § 41, stk. 2, nr. 1)"
    } else {
        "an organisation joining under the citizen's consent naming it (sundhedsloven § 43, stk. 1; forvaltningsloven § 28, stk. 2, nr. 1)"
    }
}

/// A random seed for the ids one decision gives the items it adds.
fn fresh_ids() -> IdSeed {
    let bytes = uuid::Uuid::new_v4().into_bytes();
    IdSeed(u64::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]]))
}
