//! The key layout of Samplan's one sled tree. Everything lives in one tree so
//! that one `Batch` (atomic in sled) carries a round's events, its slice of the
//! global log, the updated projections and the idempotency records together.
//! Integers are big-endian so that keys sort in numeric order. No key holds
//! personal data: citizens are keyed by their HMAC pseudonym.
//!
//! | prefix | key                                   | value                                    |
//! |--------|---------------------------------------|------------------------------------------|
//! | `e`    | plan id (16) + sequence (u64)         | the recorded event (postcard)            |
//! | `g`    | first global position of a round (u64)| the round's events as (plan id, sequence)|
//! | `p`    | plan id (16)                          | the plan projection (postcard)           |
//! | `c`    | citizen pseudonym (32)                | plan id (16)                             |
//! | `r`    | org id len (u8) + org id + SHA-256 of request id | idempotency record            |
//! | `a`    | first audit sequence of a round (u64) | the round's audit records (audit.rs)     |
//! | `k`    | —                                     | the audit checkpoint (audit.rs)          |
//! | `l`    | plan id (16) + first audit sequence   | sequences of the plan's audit records, written together (plan_audit.rs); empty in older stores: the key's own |
//! | `i`    | —                                     | the audit sequence up to which `l` is complete (u64) |
//! | `x`    | global position (u64)                 | plan id + sequence of an emergency grant |
//! | `j`    | global position (u64)                 | plan id + sequence of a health service's own join, for review |
//! | `v`    | —                                     | the projection format (migrate.rs)       |
//! | `t`    | plan id (16) + clock index (u32)      | empty: an open rights clock              |
//! | `o`    | org id len (u8) + org id + plan id (16) + clock index (u32) | an open clock of a plan the organisation takes part in |
//! | `d`    | due day (u32) + plan id + clock index | empty: a running clock not yet overdue   |
//!
//! The global log is kept per writer round rather than per event: one key
//! lists the round's events in position order, so a round of n events costs
//! n + 1 keys instead of 2n, and sled splits its leaves half as often.

use sha2::{Digest, Sha256};

use super::{Error, decode};
use chrono::Datelike;

use crate::domain::{Actor, CitizenKey, Date, EventPayload, OrganisationId, Plan, PlanId, RecordedEvent};

pub const EVENT: u8 = b'e';
pub const GLOBAL: u8 = b'g';
pub const PROJECTION: u8 = b'p';
pub const CITIZEN: u8 = b'c';
pub const REQUEST: u8 = b'r';
pub const AUDIT: u8 = b'a';
/// The single key holding the audit checkpoint.
pub const CHECKPOINT: u8 = b'k';
pub const PLAN_AUDIT: u8 = b'l';
/// The single key holding the `l` index's watermark.
pub const AUDIT_INDEXED: u8 = b'i';
pub const EMERGENCY: u8 = b'x';
pub const JOIN: u8 = b'j';
pub const OPEN_CLOCK: u8 = b't';
pub const DUE_CLOCK: u8 = b'd';
pub const MEMBER_CLOCK: u8 = b'o';
/// The prefixes of the clock indexes, which `clock_keys` derives from a plan.
pub const CLOCK_INDEXES: [u8; 3] = [OPEN_CLOCK, DUE_CLOCK, MEMBER_CLOCK];
/// The single key holding the projection format (see `migrate`).
pub const PROJECTION_FORMAT: u8 = b'v';

/// The `o` key of an open clock, for an organisation on its plan's care team.
pub fn member_clock(organisation: &OrganisationId, plan: PlanId, index: u32) -> Vec<u8> {
    let mut key = member_clocks(organisation);
    key.extend_from_slice(&plan.0);
    key.extend_from_slice(&index.to_be_bytes());
    key
}

/// The prefix of an organisation's `o` keys.
pub fn member_clocks(organisation: &OrganisationId) -> Vec<u8> {
    let org = organisation.as_str().as_bytes();
    let mut key = Vec::with_capacity(2 + org.len() + 20);
    key.push(MEMBER_CLOCK);
    // Organisation ids are at most 64 bytes (validated), so the length fits.
    key.push(u8::try_from(org.len()).unwrap_or(u8::MAX));
    key.extend_from_slice(org);
    key
}

/// A day as the `d` index orders it.
pub fn day_number(day: Date) -> u32 {
    u32::try_from(day.num_days_from_ce()).unwrap_or(0)
}

pub fn open_clock(plan: PlanId, index: u32) -> [u8; 21] {
    let mut key = [OPEN_CLOCK; 21];
    key[1..17].copy_from_slice(&plan.0);
    key[17..].copy_from_slice(&index.to_be_bytes());
    key
}

pub fn due_clock(due: Date, plan: PlanId, index: u32) -> [u8; 25] {
    let mut key = [DUE_CLOCK; 25];
    key[1..5].copy_from_slice(&day_number(due).to_be_bytes());
    key[5..21].copy_from_slice(&plan.0);
    key[21..].copy_from_slice(&index.to_be_bytes());
    key
}

/// The first `d` key of clocks due on `day` (so every key before it is due earlier).
pub fn due_before(day: Date) -> [u8; 5] {
    let mut key = [DUE_CLOCK; 5];
    key[1..].copy_from_slice(&day_number(day).to_be_bytes());
    key
}

/// The plan and clock index at the end of a `t` or `d` key.
pub fn decode_clock_ref(key: &[u8]) -> Result<(PlanId, usize), Error> {
    let tail = key.len().checked_sub(20).filter(|_| key.len() >= 21).map(|start| &key[start..]);
    let (plan, index) = tail.ok_or_else(|| Error::Storage("corrupt clock key".into()))?.split_at(16);
    Ok((decode_plan_id(plan)?, decode_u32(index) as usize))
}

fn decode_u32(bytes: &[u8]) -> u32 {
    bytes.iter().fold(0, |n, b| (n << 8) | u32::from(*b))
}

/// The index keys a plan's clocks need: every open clock, by plan and by
/// each organisation on its care team, past, present or future (what
/// `ListClocks` reads; who may see a clock today is the policy's to say), and
/// every running clock the deadline watcher has yet to mark overdue, by due day.
pub fn clock_keys(plan: &Plan) -> Vec<Vec<u8>> {
    let members = team_organisations(plan);
    let mut keys = Vec::new();
    for (index, due) in open_clocks(plan) {
        keys.push(open_clock(plan.id, index).to_vec());
        keys.extend(members.iter().map(|org| member_clock(org, plan.id, index)));
        if let Some(due) = due {
            keys.push(due_clock(due, plan.id, index).to_vec());
        }
    }
    keys
}

/// A plan's open clocks, each as its index into the plan's clocks and, for a
/// running one the deadline watcher has yet to mark overdue, its due day.
pub fn open_clocks(plan: &Plan) -> impl Iterator<Item = (u32, Option<Date>)> + '_ {
    (0u32..).zip(&plan.clocks).filter(|(_, clock)| clock.is_open()).map(|(index, clock)| {
        let watched = clock.is_running() && !clock.overdue_recorded;
        (index, watched.then_some(clock.due_on))
    })
}

/// The organisations on a plan's care team, each once, in order.
pub fn team_organisations(plan: &Plan) -> Vec<&OrganisationId> {
    let mut members: Vec<&OrganisationId> = plan.care_team.iter().map(|m| &m.organisation).collect();
    members.sort();
    members.dedup();
    members
}

pub fn plan_audit(plan: PlanId, sequence: u64) -> [u8; 25] {
    plan_number(PLAN_AUDIT, plan, sequence)
}

/// An entry of a review index (`EMERGENCY` or `JOIN`) at a global position.
pub fn review(index: u8, position: u64) -> [u8; 9] {
    number(index, position)
}

/// The review index `event` is listed in, if any: emergency accesses, and
/// health services' joins on their own, are listed for their auditors.
pub fn review_index(event: &RecordedEvent) -> Option<u8> {
    match &event.payload {
        EventPayload::EmergencyAccessGranted { .. } => Some(EMERGENCY),
        EventPayload::CareTeamJoined { .. } if event.actor.sector.is_health() => Some(JOIN),
        _ => None,
    }
}

/// A prefix and a number.
fn number(prefix: u8, n: u64) -> [u8; 9] {
    let mut key = [prefix; 9];
    key[1..].copy_from_slice(&n.to_be_bytes());
    key
}

/// A prefix, a plan id and a number.
fn plan_number(prefix: u8, plan: PlanId, n: u64) -> [u8; 25] {
    let mut key = [prefix; 25];
    key[1..17].copy_from_slice(&plan.0);
    key[17..].copy_from_slice(&n.to_be_bytes());
    key
}

/// A reference to an event: its plan id and sequence, as an `e` key without the prefix.
pub fn event_ref(plan: PlanId, sequence: u64) -> [u8; 24] {
    let mut value = [0; 24];
    value.copy_from_slice(&event(plan, sequence)[1..]);
    value
}

pub fn decode_event_ref(bytes: &[u8]) -> Result<(PlanId, u64), Error> {
    match (bytes.get(..16), bytes.get(16..).and_then(decode_u64)) {
        (Some(plan), Some(sequence)) if bytes.len() == 24 => Ok((decode_plan_id(plan)?, sequence)),
        _ => Err(Error::Storage("corrupt event reference".into())),
    }
}

pub fn audit(sequence: u64) -> [u8; 9] {
    number(AUDIT, sequence)
}

pub fn event(plan: PlanId, sequence: u64) -> [u8; 25] {
    plan_number(EVENT, plan, sequence)
}

pub fn round(first_position: u64) -> [u8; 9] {
    number(GLOBAL, first_position)
}

pub fn projection(plan: PlanId) -> [u8; 17] {
    let mut key = [PROJECTION; 17];
    key[1..].copy_from_slice(&plan.0);
    key
}

pub fn citizen(citizen: &CitizenKey) -> [u8; 33] {
    let mut key = [CITIZEN; 33];
    key[1..].copy_from_slice(&citizen.0);
    key
}

/// The request id is client-chosen text, so the key holds its SHA-256 rather
/// than the text: whatever a client puts in it never becomes a storage key.
/// Request ids are the acting organisation's — and for a citizen acting
/// through a citizen portal, whose organisation every citizen shares, that
/// citizen's own: their plan id is hashed in before the id.
pub fn request(actor: &Actor, request_id: &str) -> Vec<u8> {
    let org = actor.organisation.as_str().as_bytes();
    let mut key = Vec::with_capacity(2 + org.len() + 32);
    key.push(REQUEST);
    // Organisation ids are at most 64 bytes (validated), so the length fits.
    key.push(u8::try_from(org.len()).unwrap_or(u8::MAX));
    key.extend_from_slice(org);
    let mut digest = Sha256::new();
    if actor.is_citizen() {
        digest.update(actor.own_plan.map_or([0; 16], |plan| plan.0));
    }
    digest.update(request_id.as_bytes());
    key.extend_from_slice(&digest.finalize());
    key
}

pub fn decode_u64(bytes: &[u8]) -> Option<u64> {
    Some(u64::from_be_bytes(bytes.try_into().ok()?))
}

/// A plan id stored as 16 bytes (a value, or the part of a key after its prefix).
pub fn decode_plan_id(bytes: &[u8]) -> Result<PlanId, Error> {
    bytes.try_into().map(PlanId).map_err(|_| Error::Storage("corrupt plan id".into()))
}

/// A writer round of the global log: its first position and its events in order.
pub fn decode_round(key: &[u8], value: &[u8]) -> Result<(u64, Vec<(PlanId, u64)>), Error> {
    let first = decode_u64(&key[1..]).ok_or_else(|| Error::Storage("corrupt round key".into()))?;
    Ok((first, decode(value)?))
}
