//! The tamper-evident audit log: a hash chain over every operation the writer
//! handles, stored beside the events in the same atomic batch, plus a
//! checkpoint of the chain's head authenticated with a key kept outside the
//! data directory.
//!
//! Record n holds SHA-256("samplan.audit.v1" ‖ hash of record n-1 ‖ n ‖ entry).
//! Each entry names the events its operation appended, with their hashes. So
//! `verify` detects an edited, deleted, inserted or reordered record (the chain
//! breaks), an edited, deleted or added event (the chain's account of events
//! no longer matches), and a truncated tail (the checkpoint names a record
//! that is gone). Replacing the checkpoint needs the key.
//!
//! Limits: someone with the key and the data directory can rewrite history;
//! someone who rolls back the whole directory to an older copy is detected only
//! by comparing against a checkpoint kept elsewhere (the hub logs each
//! checkpoint it writes at shutdown for that purpose).

use std::collections::HashSet;

use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{Error, decode, encode, keys};
use crate::domain::{AuditEntry, PlanId};

/// A stored audit record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditRecord {
    pub sequence: u64,
    pub entry: AuditEntry,
    pub previous: [u8; 32],
    pub hash: [u8; 32],
}

impl AuditRecord {
    /// The record that follows `previous` (all zeros for the first).
    pub fn link(sequence: u64, previous: [u8; 32], entry: AuditEntry) -> Result<Self, Error> {
        let hash = chain_hash(sequence, &previous, &entry)?;
        Ok(Self { sequence, entry, previous, hash })
    }
}

fn chain_hash(sequence: u64, previous: &[u8; 32], entry: &AuditEntry) -> Result<[u8; 32], Error> {
    let mut hasher = Sha256::new();
    hasher.update(b"samplan.audit.v1\0");
    hasher.update(previous);
    hasher.update(sequence.to_be_bytes());
    hasher.update(encode(entry)?);
    Ok(hasher.finalize().into())
}

/// The hash by which an audit entry vouches for a stored event.
pub fn event_hash(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// The checkpoint key derived from the hub's secret (the pseudonym key), so
/// operators manage one secret, kept outside the data directory.
pub fn checkpoint_key(secret: &[u8; 32]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
    m.update(b"samplan.audit.checkpoint.v1");
    m.finalize().into_bytes().into()
}

/// The chain's head, authenticated.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub sequence: u64,
    pub hash: [u8; 32],
    pub mac: [u8; 32],
}

impl Checkpoint {
    pub fn sign(key: &[u8; 32], sequence: u64, hash: [u8; 32]) -> Self {
        Self { sequence, hash, mac: mac(key, sequence, &hash) }
    }

    pub(super) fn is_authentic(&self, key: &[u8; 32]) -> bool {
        let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
        m.update(&self.sequence.to_be_bytes());
        m.update(&self.hash);
        m.verify_slice(&self.mac).is_ok()
    }
}

fn mac(key: &[u8; 32], sequence: u64, hash: &[u8; 32]) -> [u8; 32] {
    // HMAC takes keys of any length; 32 bytes never fails.
    let mut m = <Hmac<Sha256> as Mac>::new_from_slice(key).unwrap_or_else(|_| unreachable!());
    m.update(&sequence.to_be_bytes());
    m.update(hash);
    m.finalize().into_bytes().into()
}

/// The last record's sequence and hash, to continue the chain after a restart.
pub fn head(db: &sled::Db) -> Result<(u64, [u8; 32]), Error> {
    let Some(item) = db.scan_prefix([keys::AUDIT]).next_back() else { return Ok((0, [0; 32])) };
    let round: Vec<AuditRecord> = decode(&item?.1)?;
    let last = round.last().ok_or_else(|| Error::Storage("empty audit round".into()))?;
    Ok((last.sequence, last.hash))
}

/// Up to `limit` records from `from_sequence` on. Records are stored one key
/// per writer round, keyed by the round's first sequence.
pub fn records(db: &sled::Db, from_sequence: u64, limit: usize) -> Result<Vec<AuditRecord>, Error> {
    let from_sequence = from_sequence.max(1);
    let start = match db.range(keys::audit(0)..=keys::audit(from_sequence)).next_back() {
        Some(item) => item?.0.to_vec(),
        None => keys::audit(from_sequence).to_vec(),
    };
    let mut found = Vec::new();
    for item in db.range(start..).take_while(|item| item.as_ref().is_ok_and(|(k, _)| k.first() == Some(&keys::AUDIT))) {
        let round: Vec<AuditRecord> = decode(&item?.1)?;
        for record in round.into_iter().filter(|r| r.sequence >= from_sequence) {
            if found.len() >= limit {
                return Ok(found);
            }
            found.push(record);
        }
    }
    Ok(found)
}

/// The stored round of records that holds `sequence` (empty if there is none).
pub fn round_of(db: &sled::Db, sequence: u64) -> Result<Vec<AuditRecord>, Error> {
    match db.range(keys::audit(0)..=keys::audit(sequence)).next_back() {
        Some(item) => decode(&item?.1),
        None => Ok(Vec::new()),
    }
}

/// Checks the chain, the events it vouches for, and the checkpoint; hands
/// every readable record to `each` on the way, so other checks need not read
/// the log again.
pub fn verify(db: &sled::Db, key: &[u8; 32], mut each: impl FnMut(&AuditRecord)) -> Result<(u64, Vec<String>), Error> {
    let mut chain = ChainCheck::default();
    let stored = db.scan_prefix([keys::AUDIT]).flat_map(|item| match item {
        Err(error) => vec![Err(Error::from(error))],
        Ok((key, bytes)) => {
            let first = keys::decode_u64(&key[1..]).unwrap_or(0);
            match decode::<Vec<AuditRecord>>(&bytes) {
                // Where each record is stored: its round's first sequence plus its place.
                Ok(round) => round.into_iter().enumerate().map(|(i, r)| Ok((first + i as u64, Some(r)))).collect(),
                Err(_) => vec![Ok((first, None))],
            }
        }
    });
    for item in stored {
        let (sequence, record) = item?;
        let stored_event =
            |plan, event_sequence| Ok(db.get(keys::event(plan, event_sequence))?.map(|b| event_hash(&b)));
        if let Some(record) = chain.record(sequence, record, stored_event)? {
            each(&record);
        }
    }
    for item in db.scan_prefix([keys::EVENT]) {
        let (key, _) = item?;
        let plan = keys::decode_plan_id(&key[1..17])?;
        chain.event(plan, keys::decode_u64(&key[17..]).unwrap_or(0));
    }
    let checkpoint = db.get([keys::CHECKPOINT])?.map(|bytes| decode::<Checkpoint>(&bytes).ok());
    Ok(chain.finish(checkpoint, key))
}

/// Checks an audit log record by record, then the stored events, then the checkpoint.
#[derive(Default)]
pub(super) struct ChainCheck {
    /// The sequence the next record should be stored at, less one.
    records: u64,
    previous: [u8; 32],
    hashes: Vec<[u8; 32]>,
    vouched: HashSet<(PlanId, u64)>,
    problems: Vec<String>,
}

impl ChainCheck {
    /// Checks the record stored at `sequence` (`None`: unreadable) and the
    /// events it vouches for, whose stored hashes `stored_event` gives;
    /// hands the record back if it could be read.
    pub(super) fn record(
        &mut self,
        sequence: u64,
        record: Option<AuditRecord>,
        stored_event: impl Fn(PlanId, u64) -> Result<Option<[u8; 32]>, Error>,
    ) -> Result<Option<AuditRecord>, Error> {
        let problems = &mut self.problems;
        let Some(record) = record else {
            problems.push(format!("the audit round from record {sequence} is unreadable"));
            return Ok(None);
        };
        if sequence != self.records + 1 {
            problems.push(format!("audit log jumps from {} to {sequence}", self.records));
        }
        if record.sequence != sequence {
            problems.push(format!("audit record stored at {sequence} claims to be {}", record.sequence));
        }
        if record.previous != self.previous {
            problems.push(format!("audit record {sequence} does not follow the record before it"));
        }
        if chain_hash(record.sequence, &record.previous, &record.entry)? != record.hash {
            problems.push(format!("audit record {sequence} was altered"));
        }
        if let Some(plan) = record.entry.plan {
            for (event_sequence, hash) in &record.entry.events {
                match stored_event(plan, *event_sequence)? {
                    None => problems.push(format!("an event vouched for by audit record {sequence} is missing")),
                    Some(stored) if stored != *hash => {
                        problems.push(format!("an event vouched for by audit record {sequence} was altered"))
                    }
                    Some(_) => {}
                }
                self.vouched.insert((plan, *event_sequence));
            }
        }
        self.previous = record.hash;
        self.hashes.push(record.hash);
        self.records = sequence;
        Ok(Some(record))
    }

    /// Checks that some record vouches for a stored event.
    pub(super) fn event(&mut self, plan: PlanId, sequence: u64) {
        if !self.vouched.contains(&(plan, sequence)) {
            self.problems.push("an event no audit record vouches for was added".to_owned());
        }
    }

    /// Checks the stored checkpoint (`Some(None)`: unreadable) against the
    /// records; gives the number of records and every problem found.
    pub(super) fn finish(mut self, checkpoint: Option<Option<Checkpoint>>, key: &[u8; 32]) -> (u64, Vec<String>) {
        let (records, problems) = (self.records, &mut self.problems);
        match checkpoint {
            None if records > 0 => problems.push("the audit checkpoint is missing".to_owned()),
            None => {}
            Some(None) => problems.push("the audit checkpoint is unreadable".to_owned()),
            Some(Some(checkpoint)) if !checkpoint.is_authentic(key) => {
                problems.push("the audit checkpoint is not authentic".to_owned())
            }
            Some(Some(checkpoint)) => {
                let at = usize::try_from(checkpoint.sequence).unwrap_or(usize::MAX);
                // The checkpoint is written in the same batch (or transaction)
                // as every round's records, so it always names the last record.
                if checkpoint.sequence < records {
                    problems.push(format!(
                        "audit records {}..={records} were added after the checkpoint",
                        checkpoint.sequence + 1
                    ));
                }
                if checkpoint.sequence > records {
                    problems.push(format!(
                        "the audit log was truncated: the checkpoint names record {}, the log ends at {records}",
                        checkpoint.sequence
                    ));
                } else if checkpoint.hash
                    != at.checked_sub(1).and_then(|i| self.hashes.get(i)).copied().unwrap_or([0; 32])
                {
                    problems.push(format!("audit record {} differs from the checkpoint", checkpoint.sequence));
                }
            }
        }
        (records, self.problems)
    }
}
