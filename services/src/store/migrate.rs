//! Projections are derived data: when a release changes the shape of
//! [`Plan`], the store rebuilds every stored projection from its plan's log
//! when it opens, before the writer starts. Events never change shape (new
//! kinds are only appended), so the log of any earlier release replays.
//!
//! The format in force is kept under one key; a database without it was
//! written before the key existed (format 1).

use super::{Error, decode, encode, keys};
use crate::domain::{Plan, PlanId, RecordedEvent};

/// The projection format this build writes. 2: consents carry their purpose
/// and document, objections, emergency grants note that the citizen was told.
/// 3: the trail of what each event reveals. 4: the citizen's acceptance of
/// the indsatsplan and their asking for a network meeting. 5: clocks ended
/// with a reason. 6: the index of open clocks by organisation (`o`); clocks
/// carry their basis.
pub const PROJECTION_FORMAT: u32 = 6;

/// Plans rebuilt per sled batch.
const BATCH: usize = 1024;

/// Rebuilds every projection if the database holds an older format; returns how many.
pub(super) fn projections(db: &sled::Db) -> Result<usize, Error> {
    let stored = match db.get([keys::PROJECTION_FORMAT])? {
        Some(bytes) => decode::<u32>(&bytes)?,
        None if db.scan_prefix([keys::PROJECTION]).next().is_none() => 0,
        None => 1,
    };
    if stored == PROJECTION_FORMAT {
        return Ok(0);
    }
    if stored > PROJECTION_FORMAT {
        return Err(Error::Storage(format!(
            "the database holds projection format {stored}, newer than this build's {PROJECTION_FORMAT}; run the newer release"
        )));
    }
    let ids: Vec<PlanId> = db
        .scan_prefix([keys::PROJECTION])
        .keys()
        .map(|key| keys::decode_plan_id(&key?[1..]))
        .collect::<Result<_, _>>()?;
    if !ids.is_empty() {
        tracing::info!(
            plans = ids.len(),
            from = stored,
            to = PROJECTION_FORMAT,
            "rebuilding plan projections from their logs"
        );
    }
    rebuild(db, &ids)?;
    db.insert([keys::PROJECTION_FORMAT], encode(&PROJECTION_FORMAT)?)?;
    db.flush()?;
    Ok(ids.len())
}

/// Writes the projections of the plans `ids` and the indexes derived from
/// their logs (clocks, reviews) afresh, from their logs alone.
pub(super) fn rebuild(db: &sled::Db, ids: &[PlanId]) -> Result<(), Error> {
    // The clock indexes are derived from the plans: written again from the rebuilt ones.
    for prefix in keys::CLOCK_INDEXES {
        let mut batch = sled::Batch::default();
        for key in db.scan_prefix([prefix]).keys() {
            batch.remove(key?);
        }
        db.apply_batch(batch)?;
    }
    for chunk in ids.chunks(BATCH) {
        let mut batch = sled::Batch::default();
        for id in chunk {
            let events = log(db, *id)?;
            // The review indexes, too: a release may have added one (the `j`
            // index of health services' joins came with format 2).
            for event in &events {
                if let Some(index) = keys::review_index(event) {
                    let entry = keys::event_ref(*id, event.sequence);
                    batch.insert(keys::review(index, event.global_position).as_slice(), entry.as_slice());
                }
            }
            let plan = Plan::replay(&events).ok_or_else(|| Error::Storage("corrupt plan log".into()))?;
            for key in keys::clock_keys(&plan) {
                batch.insert(key, &[] as &[u8]);
            }
            batch.insert(keys::projection(*id).as_slice(), encode(&plan)?);
        }
        db.apply_batch(batch)?;
    }
    Ok(())
}

/// A plan's whole log.
fn log(db: &sled::Db, id: PlanId) -> Result<Vec<RecordedEvent>, Error> {
    db.range(keys::event(id, 1)..=keys::event(id, u64::MAX)).map(|item| decode::<RecordedEvent>(&item?.1)).collect()
}

/// A plan rebuilt from its whole log.
pub(super) fn replay(db: &sled::Db, id: PlanId) -> Result<Plan, Error> {
    Plan::replay(&log(db, id)?).ok_or_else(|| Error::Storage("corrupt plan log".into()))
}
