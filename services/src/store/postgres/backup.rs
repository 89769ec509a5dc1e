//! Backups of a PostgreSQL store in the same file format as sled's (see
//! [`crate::store::backup`]): the primary data — events, the global log,
//! the audit log, the citizen index and the idempotency records — as sled
//! keys, cut at the head of one repeatable-read snapshot. So a backup of
//! either engine restores into either engine, which is also how a store is
//! moved from one to the other (`samplan migrate-store`).

use std::io::{Read, Write};

use futures::TryStreamExt;

use super::write::{Batch, Staged, add_audit};
use super::{PgEngine, big, failed, plan_id, snapshot, stream};
use crate::domain::{CitizenKey, Plan, PlanId, RecordedEvent, Timestamp};
use crate::store::audit::AuditRecord;
use crate::store::backup::{Cut, FileReader, FileWriter, Summary, invalid};
use crate::store::decide::RequestRecord;
use crate::store::{Error, decode, encode, keys};

/// Records, or global positions, per stored chunk (as a sled round would hold them).
const CHUNK: usize = 1024;
/// Plans restored per batch of statements.
const PLANS_PER_BATCH: usize = 256;

impl PgEngine {
    /// Writes a backup of the store as one snapshot sees it to `out`.
    pub(in crate::store) async fn backup<W: Write>(&self, taken_at: Timestamp, out: W) -> Result<(Summary, W), Error> {
        let mut client = self.pool.get().await.map_err(super::unreachable)?;
        let txn = snapshot(&mut client).await?;
        let head = txn.query_one("SELECT position, checkpoint FROM head", &[]).await.map_err(failed)?;
        let cut = Cut { position: head.get::<_, i64>(0) as u64, checkpoint: decode(head.get(1))? };
        let mut out = std::io::BufWriter::with_capacity(1 << 20, out);
        let mut file = FileWriter::start(&mut out, &cut, taken_at)?;

        let mut rows = stream(&txn, "SELECT plan_id, sequence, event FROM events ORDER BY plan_id, sequence").await?;
        while let Some(row) = rows.try_next().await.map_err(failed)? {
            let key = keys::event(plan_id(row.get(0)), row.get::<_, i64>(1) as u64);
            file.pair(&key, row.get(2))?;
        }
        drop(rows);
        let mut round: Vec<(PlanId, u64)> = Vec::with_capacity(CHUNK);
        let mut first = 1;
        let mut rows = stream(&txn, "SELECT plan_id, sequence FROM events ORDER BY global_position").await?;
        while let Some(row) = rows.try_next().await.map_err(failed)? {
            round.push((plan_id(row.get(0)), row.get::<_, i64>(1) as u64));
            if round.len() == CHUNK {
                file.pair(&keys::round(first), &encode(&round)?)?;
                first += round.len() as u64;
                round.clear();
            }
        }
        if !round.is_empty() {
            file.pair(&keys::round(first), &encode(&round)?)?;
        }
        drop(rows);
        let mut records: Vec<AuditRecord> = Vec::with_capacity(CHUNK);
        let mut rows = stream(&txn, "SELECT record FROM audit ORDER BY sequence").await?;
        while let Some(row) = rows.try_next().await.map_err(failed)? {
            records.push(decode(row.get(0))?);
            if records.len() == CHUNK {
                file.pair(&keys::audit(records[0].sequence), &encode(&records)?)?;
                records.clear();
            }
        }
        if let Some(first) = records.first() {
            file.pair(&keys::audit(first.sequence), &encode(&records)?)?;
        }
        drop(rows);
        let mut rows = stream(&txn, "SELECT pseudonym, plan_id FROM citizens ORDER BY pseudonym").await?;
        while let Some(row) = rows.try_next().await.map_err(failed)? {
            let citizen = citizen_key(row.get(0))?;
            file.pair(&keys::citizen(&citizen), &plan_id(row.get(1)).0)?;
        }
        drop(rows);
        let mut rows = stream(&txn, "SELECT key, record FROM requests ORDER BY key").await?;
        while let Some(row) = rows.try_next().await.map_err(failed)? {
            file.pair(row.get(0), row.get(1))?;
        }
        drop(rows);
        let summary = file.finish(cut, taken_at)?;
        let out = out.into_inner().map_err(|e| Error::from(e.into_error()))?;
        Ok((summary, out))
    }

    /// Rebuilds this (empty) store from a backup of either engine, in one
    /// transaction: the primary data, the projections, clock and review
    /// indexes replayed from it, and the head at the backup's cut. A backup
    /// that does not check out leaves the database as it was.
    pub(in crate::store) async fn restore(
        &self,
        input: impl Read,
        checkpoint_key: &[u8; 32],
    ) -> Result<Summary, Error> {
        let mut client = self.pool.get().await.map_err(super::unreachable)?;
        let txn = client.transaction().await.map_err(failed)?;
        let head = txn
            .query_one("SELECT position, (SELECT count(*) FROM audit) FROM head FOR UPDATE", &[])
            .await
            .map_err(failed)?;
        if head.get::<_, i64>(0) != 0 || head.get::<_, i64>(1) != 0 {
            return Err(Error::Storage(
                "the database already holds a log: restore into an empty database (a new one, or after DROP SCHEMA)"
                    .into(),
            ));
        }
        let mut file = FileReader::open(input, checkpoint_key)?;
        let mut rebuild = Rebuild::default();
        while let Some((key, value)) = file.pair()? {
            if key[0] != keys::EVENT && !rebuild.log.is_empty() {
                // The events are over: every plan is written before the citizens that refer to them.
                rebuild.end_plan()?;
                rebuild.flush(&txn, true).await?;
            }
            match key[0] {
                keys::EVENT => {
                    let event: RecordedEvent = decode(&value)?;
                    rebuild.event(event, value)?;
                }
                keys::AUDIT => rebuild.audit.extend(decode::<Vec<AuditRecord>>(&value)?),
                keys::CITIZEN => {
                    let plan = keys::decode_plan_id(&value)?;
                    rebuild.staged.citizens.insert(citizen_key(key.get(1..).unwrap_or_default())?, plan);
                }
                keys::REQUEST => {
                    rebuild.staged.requests.insert(key, decode::<RequestRecord>(&value)?);
                }
                // The global log is the events' positions, which they carry.
                _ => {}
            }
            rebuild.flush(&txn, false).await?;
        }
        rebuild.end_plan()?;
        rebuild.flush(&txn, true).await?;
        let summary = file.finish(rebuild.plans)?;
        let cut = &summary.cut;
        txn.execute(
            "UPDATE head SET position = $1, audit_sequence = $2, audit_hash = $3, checkpoint = $4",
            &[
                &big(cut.position),
                &big(cut.checkpoint.sequence),
                &cut.checkpoint.hash.as_slice(),
                &encode(&cut.checkpoint)?,
            ],
        )
        .await
        .map_err(failed)?;
        txn.commit().await.map_err(failed)?;
        Ok(summary)
    }
}

/// A restore under way: rows staged for the next batch of statements.
#[derive(Default)]
struct Rebuild {
    staged: Staged,
    /// The events of the plan being read (a backup holds them plan by plan).
    log: Vec<RecordedEvent>,
    audit: Vec<AuditRecord>,
    plans: u64,
}

impl Rebuild {
    /// Stages an event; a plan's log complete, stages the plan replayed from it.
    fn event(&mut self, event: RecordedEvent, bytes: Vec<u8>) -> Result<(), Error> {
        if self.log.last().is_some_and(|last| last.plan_id != event.plan_id) {
            self.end_plan()?;
        }
        if let Some(index) = keys::review_index(&event) {
            self.staged.reviews.push((index, event.global_position, event.plan_id, event.sequence));
        }
        self.staged.event_rows.push((event.plan_id, event.sequence, event.global_position, bytes));
        self.log.push(event);
        Ok(())
    }

    fn end_plan(&mut self) -> Result<(), Error> {
        if self.log.is_empty() {
            return Ok(());
        }
        let plan = Plan::replay(&self.log).ok_or_else(|| invalid("a plan's log does not replay"))?;
        self.log.clear();
        self.staged.projections.insert(plan.id, encode(&plan)?);
        self.staged.plans.insert(plan.id, plan);
        self.plans += 1;
        Ok(())
    }

    /// Writes what is staged once there is enough of it, or all of it if `now`.
    async fn flush(&mut self, txn: &deadpool_postgres::Transaction<'_>, now: bool) -> Result<(), Error> {
        let full = self.staged.plans.len() >= PLANS_PER_BATCH
            || self.staged.event_rows.len() >= CHUNK * 8
            || self.audit.len() >= CHUNK * 8
            || self.staged.citizens.len() + self.staged.requests.len() >= CHUNK * 8;
        if !full && !now {
            return Ok(());
        }
        let mut batch = Batch::default();
        std::mem::take(&mut self.staged).add_rows(&mut batch)?;
        add_audit(&mut batch, &std::mem::take(&mut self.audit))?;
        batch.run(txn).await
    }
}

fn citizen_key(bytes: &[u8]) -> Result<CitizenKey, Error> {
    Ok(CitizenKey(bytes.try_into().map_err(|_| invalid("it holds a pseudonym that is not 32 bytes"))?))
}
