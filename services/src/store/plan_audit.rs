//! The index of each plan's audit records (a citizen's Min Log, the access
//! review), written coalesced.
//!
//! The audit records themselves are written in the same atomic batch as the
//! operation they describe (`audit.rs`). The index is derived from them, so it
//! need not be: the writer collects (plan, sequence) pairs in memory and, once
//! `batch` of them have gathered, writes one `l` key per plan listing that
//! plan's sequences, together with the `i` key saying up to which audit
//! sequence the index is complete. A key per record instead cost sled a new
//! key, and every eighth one a leaf split, on every read and write.
//!
//! A query takes the index up to that watermark and finds the rest by reading
//! the audit rounds after it, at most about `batch` records. After a crash the
//! writer rebuilds its pending pairs from the same rounds.

use std::collections::HashMap;

use super::audit::{self, AuditRecord};
use super::{Error, decode, encode, keys};
use crate::domain::PlanId;

/// The writer's side: pairs not yet in the index.
pub(super) struct PlanIndex {
    /// Every record up to this sequence is in the stored index.
    indexed: u64,
    pending: HashMap<PlanId, Vec<u64>>,
    count: usize,
    batch: usize,
}

impl PlanIndex {
    /// Loads the watermark and gathers the pairs after it from the audit rounds.
    pub(super) fn open(db: &sled::Db, batch: usize) -> Result<Self, Error> {
        let indexed = match watermark(db)? {
            Some(indexed) => indexed,
            None => {
                // A store written before the index was coalesced indexed every
                // record as it was written; a new store has none. Either way the
                // index is complete up to the head, and says so from now on
                // (before any later write, so a crash cannot lose it alone).
                let (head, _) = audit::head(db)?;
                db.insert([keys::AUDIT_INDEXED], &head.to_be_bytes())?;
                head
            }
        };
        let mut index = Self { indexed, pending: HashMap::new(), count: 0, batch: batch.max(1) };
        for record in audit::records(db, indexed + 1, usize::MAX)? {
            index.add(record.entry.plan, record.sequence);
        }
        Ok(index)
    }

    /// Notes record `sequence`; one about no plan still counts, as the rounds
    /// after the watermark are what a query reads through.
    pub(super) fn add(&mut self, plan: Option<PlanId>, sequence: u64) {
        if let Some(plan) = plan {
            self.pending.entry(plan).or_default().push(sequence);
        }
        self.count += 1;
    }

    /// Once enough pairs have gathered, adds them and the new watermark
    /// (`through`, the round's last audit sequence) to the round's batch.
    pub(super) fn stage(&mut self, batch: &mut sled::Batch, through: u64) -> Result<(), Error> {
        if self.count < self.batch || through <= self.indexed {
            return Ok(());
        }
        for (plan, sequences) in self.pending.drain() {
            batch.insert(keys::plan_audit(plan, sequences[0]).as_slice(), encode(&sequences)?);
        }
        batch.insert([keys::AUDIT_INDEXED].as_slice(), through.to_be_bytes().as_slice());
        (self.indexed, self.count) = (through, 0);
        Ok(())
    }
}

/// Writes the whole index afresh from the audit rounds up to `through` (a
/// restored store has none), a chunk of records at a time.
pub(super) fn rebuild(db: &sled::Db, through: u64) -> Result<(), Error> {
    const CHUNK: usize = 100_000;
    let mut index = PlanIndex { indexed: 0, pending: HashMap::new(), count: 0, batch: 1 };
    let mut next = 1;
    while next <= through {
        let records = audit::records(db, next, CHUNK)?;
        let Some(last) = records.last().map(|r| r.sequence.min(through)) else { break };
        for record in records.iter().filter(|r| r.sequence <= through) {
            index.add(record.entry.plan, record.sequence);
        }
        let mut batch = sled::Batch::default();
        index.stage(&mut batch, last)?;
        db.apply_batch(batch)?;
        next = last + 1;
    }
    db.insert([keys::AUDIT_INDEXED], &through.to_be_bytes())?;
    Ok(())
}

/// `verify`'s check: the index up to its watermark lists exactly the records
/// about each plan; `about` is every audit record's (plan, sequence), as the
/// chain's check read them.
pub(super) fn verify(db: &sled::Db, about: impl IntoIterator<Item = (PlanId, u64)>) -> Result<Vec<String>, Error> {
    let indexed = watermark(db)?.unwrap_or(0);
    let mut listed = std::collections::BTreeSet::new();
    for item in db.scan_prefix([keys::PLAN_AUDIT]) {
        let (key, value) = item?;
        let plan = keys::decode_plan_id(&key[1..17])?;
        for sequence in sequences(&key, &value)?.into_iter().filter(|s| *s <= indexed) {
            listed.insert((plan, sequence));
        }
    }
    let about: std::collections::BTreeSet<_> = about.into_iter().filter(|(_, sequence)| *sequence <= indexed).collect();
    let mut problems = Vec::new();
    if let Some((plan, sequence)) = about.difference(&listed).next() {
        problems.push(format!("audit record {sequence} is missing from the index of {}", plan.resource_name()));
    }
    if let Some((plan, sequence)) = listed.difference(&about).next() {
        problems.push(format!(
            "the index of {} lists audit record {sequence}, which is not about it",
            plan.resource_name()
        ));
    }
    Ok(problems)
}

/// The sequences one `l` key lists. A store from before the coalesced index
/// has one empty-valued key per record.
fn sequences(key: &[u8], value: &[u8]) -> Result<Vec<u64>, Error> {
    if value.is_empty() {
        let sequence = keys::decode_u64(&key[17..]).ok_or_else(|| Error::Storage("corrupt plan audit index".into()))?;
        Ok(vec![sequence])
    } else {
        decode(value)
    }
}

fn watermark(db: &sled::Db) -> Result<Option<u64>, Error> {
    db.get([keys::AUDIT_INDEXED])?
        .map(|bytes| keys::decode_u64(&bytes).ok_or_else(|| Error::Storage("corrupt audit index watermark".into())))
        .transpose()
}

/// Up to `limit` audit records about `plan`, from audit sequence `from_sequence` on.
pub(super) fn records(
    db: &sled::Db,
    plan: PlanId,
    from_sequence: u64,
    limit: usize,
) -> Result<Vec<AuditRecord>, Error> {
    // The watermark first: an index flushed after this moment only adds
    // sequences the scan of the rounds after the watermark finds anyway.
    let indexed = watermark(db)?.unwrap_or(0);
    let mut wanted = Vec::new();
    let (first, last) = (keys::plan_audit(plan, 0), keys::plan_audit(plan, u64::MAX));
    // The list holding `from_sequence` starts at or before it.
    let start = match db.range(first..=keys::plan_audit(plan, from_sequence)).next_back() {
        Some(item) => item?.0.to_vec(),
        None => first.to_vec(),
    };
    'lists: for item in db.range(start..=last.to_vec()) {
        let (key, value) = item?;
        for sequence in sequences(&key, &value)?.into_iter().filter(|s| (from_sequence..=indexed).contains(s)) {
            if wanted.len() >= limit {
                break 'lists;
            }
            wanted.push(sequence);
        }
    }
    let mut found = Vec::with_capacity(wanted.len());
    // Records are stored per writer round; neighbours often share one, so it is decoded once.
    let mut round: Vec<AuditRecord> = Vec::new();
    for sequence in wanted {
        if round.last().is_none_or(|r| r.sequence < sequence) {
            round = audit::round_of(db, sequence)?;
        }
        let record = round.iter().find(|r| r.sequence == sequence);
        found.push(record.cloned().ok_or_else(|| Error::Storage("corrupt plan audit index".into()))?);
    }
    if found.len() < limit {
        let tail = audit::records(db, from_sequence.max(indexed + 1), usize::MAX)?;
        found.extend(tail.into_iter().filter(|r| r.entry.plan == Some(plan)).take(limit - found.len()));
    }
    Ok(found)
}
