//! The sled engine: opening a store folder, and reading what the writer
//! ([`super::writer`]) applied and the syncer ([`super::syncer`]) made durable.
//! Reads never return state past the durable position they are given.

use std::path::Path;

use parking_lot::Mutex;
use tokio::sync::{mpsc, watch};

use super::{
    ClockScope, Error, Started, StoreOptions, VerifyReport, audit, backup, by_plan, corrupt, decode, keys, migrate,
    plan_audit, prefix_end, syncer, writer,
};
use crate::domain::{CitizenKey, Date, OrganisationId, Plan, PlanId, RecordedEvent};

pub(super) struct SledEngine {
    pub(super) db: sled::Db,
    /// The writer's recent plans: a read finds its plan here without sled.
    recent: writer::SharedPlans,
    writer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

/// Opens (or creates) the store in `options.path` and starts its writer and syncer threads.
pub(super) fn open(options: StoreOptions) -> Result<(SledEngine, Started), Error> {
    std::fs::create_dir_all(&options.path)?;
    if options.path.join(backup::STAGING).exists() {
        return Err(Error::Storage(format!(
            "the data folder holds an interrupted restore ({}): empty it and restore again",
            backup::STAGING
        )));
    }
    let db = sled_config(&options.path, options.cache_capacity_bytes).open().map_err(open_error)?;
    migrate::projections(&db)?;
    let data_file = open_data_file(&options.path)?;
    let last = last_position(&db)?;
    let plan_index = plan_audit::PlanIndex::open(&db, options.audit_index_batch)?;
    let recent = writer::RecentPlans::shared(options.recent_plans_bytes);
    let (durable_tx, durable) = watch::channel(last);
    let (jobs, rx) = mpsc::channel(options.queue_capacity.max(1));
    let started = Started::new(jobs, durable);
    // Rounds applied but not yet durable; a full queue holds the writer back.
    let (sync_tx, sync_rx) = std::sync::mpsc::sync_channel(64);
    let syncer = syncer::Syncer {
        db: db.clone(),
        data_file,
        durable: durable_tx,
        stats: started.stats.clone(),
        failure: started.failure.clone(),
    };
    let syncer = std::thread::Builder::new().name("samplan-sync".into()).spawn(move || syncer.run(sync_rx))?;
    let writer = writer::Writer {
        db: db.clone(),
        options,
        position: last,
        stats: started.stats.clone(),
        failure: started.failure.clone(),
        sync: sync_tx,
        audit_head: audit::head(&db)?,
        plan_index,
        recent: recent.clone(),
    };
    let handle = std::thread::Builder::new().name("samplan-writer".into()).spawn(move || writer.run(rx, syncer))?;
    Ok((SledEngine { db, recent, writer: Mutex::new(Some(handle)) }, started))
}

/// Rebuilds a store folder at `path`, which must not exist, from a backup
/// (see [`backup`]); removes what it wrote if the backup is unusable.
pub(super) fn restore(
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

impl SledEngine {
    /// Waits for the writer thread, once it has been told to stop.
    pub(super) async fn join_writer(&self) {
        let handle = self.writer.lock().take();
        if let Some(handle) = handle {
            let _ = tokio::task::spawn_blocking(move || handle.join()).await;
        }
    }

    /// The current plan, durable or not (the caller waits for it).
    pub(super) fn plan(&self, id: PlanId) -> Result<Option<Plan>, Error> {
        // The lock is held only for the lookup; the writer holds it only to add a round's plans.
        let recent = self.recent.read().get(&id);
        match recent {
            Some(plan) => Ok(Some(Plan::clone(&plan))),
            None => projection(&self.db, id),
        }
    }

    pub(super) fn plan_id_of(&self, citizen: &CitizenKey) -> Result<Option<PlanId>, Error> {
        self.db.get(keys::citizen(citizen))?.map(|bytes| keys::decode_plan_id(&bytes)).transpose()
    }

    pub(super) fn plan_events(
        &self,
        id: PlanId,
        from_sequence: u64,
        limit: usize,
        durable: u64,
    ) -> Result<Vec<RecordedEvent>, Error> {
        let mut events = Vec::new();
        for item in self.db.range(keys::event(id, from_sequence.max(1))..=keys::event(id, u64::MAX)) {
            let event: RecordedEvent = decode(&item?.1)?;
            if event.global_position > durable || events.len() >= limit {
                break;
            }
            events.push(event);
        }
        Ok(events)
    }

    pub(super) fn events_from(
        &self,
        from_position: u64,
        limit: usize,
        durable: u64,
    ) -> Result<Vec<RecordedEvent>, Error> {
        let mut events = Vec::new();
        // Start at the round that holds `from_position`.
        let start = match self.db.range(keys::round(0)..=keys::round(from_position)).next_back() {
            Some(item) => item?.0,
            None => return Ok(events),
        };
        for item in self.db.range(start.to_vec()..=keys::round(durable).to_vec()) {
            let (key, value) = item?;
            let (first, round) = keys::decode_round(&key, &value)?;
            for (position, (plan, sequence)) in (first..).zip(round) {
                if position < from_position {
                    continue;
                }
                if position > durable || events.len() >= limit {
                    return Ok(events);
                }
                let bytes = self.db.get(keys::event(plan, sequence))?.ok_or_else(|| corrupt("global log"))?;
                events.push(decode(&bytes)?);
            }
        }
        Ok(events)
    }

    pub(super) fn audit_records(&self, from_sequence: u64, limit: usize) -> Result<Vec<audit::AuditRecord>, Error> {
        audit::records(&self.db, from_sequence, limit)
    }

    pub(super) fn plan_audit_records(
        &self,
        plan: PlanId,
        from_sequence: u64,
        limit: usize,
    ) -> Result<Vec<audit::AuditRecord>, Error> {
        plan_audit::records(&self.db, plan, from_sequence, limit)
    }

    /// The durable events of review index `index` that `organisation` caused.
    pub(super) fn reviews(
        &self,
        index: u8,
        organisation: &OrganisationId,
        from_position: u64,
        limit: usize,
        durable: u64,
    ) -> Result<Vec<RecordedEvent>, Error> {
        let mut events = Vec::new();
        // Every organisation's entries are indexed together.
        for item in self.db.range(keys::review(index, from_position)..=keys::review(index, durable)) {
            if events.len() >= limit {
                break;
            }
            let (plan, sequence) = keys::decode_event_ref(&item?.1)?;
            let bytes = self.db.get(keys::event(plan, sequence))?.ok_or_else(|| corrupt("review index"))?;
            let event: RecordedEvent = decode(&bytes)?;
            if &event.actor.organisation == organisation {
                events.push(event);
            }
        }
        Ok(events)
    }

    pub(super) fn due_clocks(&self, today: Date, limit: usize) -> Result<Vec<(PlanId, usize)>, Error> {
        let range = self.db.range([keys::DUE_CLOCK].as_slice()..keys::due_before(today).as_slice());
        range.take(limit).map(|item| keys::decode_clock_ref(&item?.0)).collect()
    }

    /// The (plan, clock index) pairs of the open clocks in `scope`, grouped by
    /// plan, in plan order, after the plan `after`.
    pub(super) fn open_clocks(
        &self,
        scope: ClockScope<'_>,
        after: Option<PlanId>,
    ) -> Result<Vec<(PlanId, Vec<usize>)>, Error> {
        let prefix = match scope {
            ClockScope::All => vec![keys::OPEN_CLOCK],
            ClockScope::Organisation(organisation) => keys::member_clocks(organisation),
            ClockScope::Plan(plan) => [[keys::OPEN_CLOCK].as_slice(), &plan.0].concat(),
        };
        let start = match after {
            Some(plan) => [prefix.as_slice(), plan.0.as_slice(), &u32::MAX.to_be_bytes()].concat(),
            None => prefix.clone(),
        };
        by_plan(self.db.range(start..prefix_end(&prefix)).map(|item| keys::decode_clock_ref(&item?.0)))
    }

    /// Writes every primary key at or before `cut` to `out` (see [`backup`]).
    pub(super) async fn backup<W: std::io::Write + Send + 'static>(
        &self,
        cut: backup::Cut,
        taken_at: crate::domain::Timestamp,
        out: W,
    ) -> Result<(backup::Summary, W), Error> {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || {
            let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
            let summary = backup::write(&db, cut, taken_at, &mut out)?;
            let out = out.into_inner().map_err(|e| Error::from(e.into_error()))?;
            Ok((summary, out))
        })
        .await
        .map_err(|_| Error::Unavailable)?
    }

    /// Checks the whole store: global positions gap-free from 1, every plan log
    /// gap-free, every persisted projection byte-identical to a replay, the
    /// clock index exactly what the plans' clocks need, and the audit chain.
    pub(super) fn verify(&self, checkpoint_key: &[u8; 32], durable: u64) -> Result<VerifyReport, Error> {
        let mut report = VerifyReport::default();
        let mut expected = 1;
        for item in self.db.scan_prefix([keys::GLOBAL]) {
            let (key, value) = item?;
            let (first, round) = keys::decode_round(&key, &value)?;
            if first != expected {
                report.problems.push(format!("global log jumps from {} to {first}", expected - 1));
            }
            for (position, (plan, sequence)) in (first..).zip(&round) {
                match self.db.get(keys::event(*plan, *sequence))? {
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
        for item in self.db.scan_prefix([keys::PROJECTION]) {
            let (key, stored) = item?;
            let id = keys::decode_plan_id(&key[1..])?;
            report.plans += 1;
            if let Ok(plan) = decode::<Plan>(&stored) {
                clock_keys.extend(keys::clock_keys(&plan));
            }
            let events = self.plan_events(id, 1, usize::MAX, durable)?;
            report.check_plan(id, &events, &stored)?;
        }
        let mut indexed = std::collections::BTreeSet::new();
        for prefix in keys::CLOCK_INDEXES {
            for item in self.db.scan_prefix([prefix]) {
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
        let (audit_records, problems) = audit::verify(&self.db, checkpoint_key, |record| {
            if let Some(plan) = record.entry.plan {
                about.push((plan, record.sequence));
            }
        })?;
        report.audit_records = audit_records;
        report.problems.extend(problems);
        report.problems.extend(plan_audit::verify(&self.db, about)?);
        Ok(report)
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
        .segment_size(super::SEGMENT_SIZE)
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
