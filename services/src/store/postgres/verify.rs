//! `verify` on PostgreSQL: the same checks as on sled, on one consistent
//! snapshot (a read-only repeatable-read transaction), reading each table
//! once as a stream: global positions gap-free from 1, every plan log
//! gap-free, every projection byte-identical to a replay, the clock index
//! exactly what the plans' clocks need, the audit chain, and the head.

use std::collections::{BTreeSet, HashMap};

use futures::TryStreamExt;

use super::write::IndexRow;
use super::{PgEngine, failed, plan_id, snapshot, stream, unreachable};
use crate::domain::{PlanId, RecordedEvent};
use crate::store::audit::{AuditRecord, ChainCheck, Checkpoint, event_hash};
use crate::store::{Error, VerifyReport, decode};

impl PgEngine {
    pub(in crate::store) async fn verify(&self, checkpoint_key: &[u8; 32]) -> Result<VerifyReport, Error> {
        let mut client = self.pool.get().await.map_err(unreachable)?;
        let txn = snapshot(&mut client).await?;
        let mut report = VerifyReport::default();
        let mut hashes: HashMap<(PlanId, u64), [u8; 32]> = HashMap::new();
        let mut expected = 1u64;
        let mut events =
            stream(&txn, "SELECT global_position, event, plan_id, sequence FROM events ORDER BY global_position")
                .await?;
        while let Some(row) = events.try_next().await.map_err(failed)? {
            let position = row.get::<_, i64>(0) as u64;
            if position != expected {
                report.problems.push(format!("global log jumps from {} to {position}", expected - 1));
            }
            let bytes: &[u8] = row.get(1);
            let event: RecordedEvent = decode(bytes)?;
            if event.global_position != position {
                report.problems.push(format!("event at {position} claims position {}", event.global_position));
            }
            // Keyed where it is stored, as the audit log names it: not by what it claims.
            let (plan, sequence) = (plan_id(row.get(2)), row.get::<_, i64>(3) as u64);
            if (event.plan_id, event.sequence) != (plan, sequence) {
                report.problems.push(format!("event at {position} claims another place in its plan's log"));
            }
            hashes.insert((plan, sequence), event_hash(bytes));
            report.events += 1;
            expected = position + 1;
        }
        drop(events);
        let expected_clocks = check_plans(&txn, &mut report).await?;
        let stored_clocks = clock_rows(&txn).await?;
        if stored_clocks != expected_clocks {
            report.problems.push(format!(
                "the clock index differs from the plans' clocks ({} rows stored, {} expected)",
                stored_clocks.len(),
                expected_clocks.len()
            ));
        }
        let mut chain = ChainCheck::default();
        let mut records = stream(&txn, "SELECT sequence, record FROM audit ORDER BY sequence").await?;
        while let Some(row) = records.try_next().await.map_err(failed)? {
            let record = decode::<AuditRecord>(row.get(1)).ok();
            chain.record(row.get::<_, i64>(0) as u64, record, |plan, sequence| {
                Ok(hashes.get(&(plan, sequence)).copied())
            })?;
        }
        drop(records);
        for (plan, sequence) in hashes.keys() {
            chain.event(*plan, *sequence);
        }
        let head = txn.query_one("SELECT position, checkpoint FROM head", &[]).await.map_err(failed)?;
        if head.get::<_, i64>(0) as u64 != expected - 1 {
            report.problems.push(format!(
                "the head names position {}, the log ends at {}",
                head.get::<_, i64>(0),
                expected - 1
            ));
        }
        let checkpoint = decode::<Checkpoint>(head.get(1)).ok();
        let (audit_records, problems) = chain.finish(Some(checkpoint), checkpoint_key);
        report.audit_records = audit_records;
        report.problems.extend(problems);
        Ok(report)
    }
}

/// Checks every plan's log against its projection, a page of plans at a
/// time; gives the clock index rows the plans need.
async fn check_plans(
    txn: &tokio_postgres::Transaction<'_>,
    report: &mut VerifyReport,
) -> Result<BTreeSet<IndexRow>, Error> {
    let mut rows = BTreeSet::new();
    let mut after: Option<uuid::Uuid> = None;
    let mut logged = 0;
    loop {
        let plans = txn
            .query(
                "SELECT plan_id, projection FROM plans WHERE $1::uuid IS NULL OR plan_id > $1 ORDER BY plan_id LIMIT 256",
                &[&after],
            )
            .await
            .map_err(failed)?;
        let ids: Vec<uuid::Uuid> = plans.iter().map(|row| row.get(0)).collect();
        let Some(last) = ids.last() else { break };
        after = Some(*last);
        let mut logs: HashMap<PlanId, Vec<RecordedEvent>> = HashMap::new();
        let events = txn
            .query("SELECT event FROM events WHERE plan_id = ANY($1) ORDER BY plan_id, sequence", &[&ids])
            .await
            .map_err(failed)?;
        for row in events {
            let event: RecordedEvent = decode(row.get(0))?;
            logs.entry(event.plan_id).or_default().push(event);
        }
        for row in plans {
            let id = plan_id(row.get(0));
            let stored: &[u8] = row.get(1);
            report.plans += 1;
            if let Ok(plan) = decode::<crate::domain::Plan>(stored) {
                rows.extend(IndexRow::of(&plan));
            }
            let log = logs.remove(&id).unwrap_or_default();
            logged += log.len() as u64;
            report.check_plan(id, &log, stored)?;
        }
    }
    if logged != report.events {
        report.problems.push(format!("{} events belong to no plan", report.events.saturating_sub(logged)));
    }
    Ok(rows)
}

/// The clock index as stored.
async fn clock_rows(txn: &tokio_postgres::Transaction<'_>) -> Result<BTreeSet<IndexRow>, Error> {
    let mut rows = BTreeSet::new();
    for row in txn.query("SELECT plan_id, clock, due_on FROM clocks", &[]).await.map_err(failed)? {
        rows.insert(IndexRow::Clock(plan_id(row.get(0)), row.get(1), row.get(2)));
    }
    for row in txn.query("SELECT plan_id, clock, organisation FROM clock_members", &[]).await.map_err(failed)? {
        rows.insert(IndexRow::Member(plan_id(row.get(0)), row.get(1), row.get(2)));
    }
    Ok(rows)
}
