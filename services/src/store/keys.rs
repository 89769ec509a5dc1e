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
//! | `l`    | plan id (16) + audit sequence (u64)   | empty: index of a plan's audit records   |
//! | `x`    | global position (u64)                 | plan id + sequence of an emergency grant |
//!
//! The global log is kept per writer round rather than per event: one key
//! lists the round's events in position order, so a round of n events costs
//! n + 1 keys instead of 2n, and sled splits its leaves half as often.

use sha2::{Digest, Sha256};

use super::{Error, decode};
use crate::domain::{CitizenKey, OrganisationId, PlanId};

pub const EVENT: u8 = b'e';
pub const GLOBAL: u8 = b'g';
pub const PROJECTION: u8 = b'p';
pub const CITIZEN: u8 = b'c';
pub const REQUEST: u8 = b'r';
pub const AUDIT: u8 = b'a';
/// The single key holding the audit checkpoint.
pub const CHECKPOINT: u8 = b'k';
pub const PLAN_AUDIT: u8 = b'l';
pub const EMERGENCY: u8 = b'x';

pub fn plan_audit(plan: PlanId, sequence: u64) -> [u8; 25] {
    plan_number(PLAN_AUDIT, plan, sequence)
}

pub fn emergency(position: u64) -> [u8; 9] {
    number(EMERGENCY, position)
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
pub fn request(organisation: &OrganisationId, request_id: &str) -> Vec<u8> {
    let org = organisation.as_str().as_bytes();
    let mut key = Vec::with_capacity(2 + org.len() + 32);
    key.push(REQUEST);
    // Organisation ids are at most 64 bytes (validated), so the length fits.
    key.push(u8::try_from(org.len()).unwrap_or(u8::MAX));
    key.extend_from_slice(org);
    key.extend_from_slice(&Sha256::digest(request_id.as_bytes()));
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
