//! What a round writes on PostgreSQL, and writing it: every statement is
//! sent at once, in order, on the round's connection (pipelined), so a round
//! costs one round trip for its writes plus one for its commit.

use std::collections::HashMap;

use deadpool_postgres::Transaction;
use tokio_postgres::types::ToSql;

use super::round::Head;
use super::{big, failed, uuid};
use crate::domain::{AuditEntry, CitizenKey, Plan, PlanId, RecordedEvent};
use crate::store::audit::{AuditRecord, Checkpoint};
use crate::store::decide::RequestRecord;
use crate::store::{Error, encode, keys};

/// What a round has decided to write.
#[derive(Default)]
pub(super) struct Staged {
    pub plans: HashMap<PlanId, Plan>,
    /// Each staged plan, encoded.
    pub projections: HashMap<PlanId, Vec<u8>>,
    pub citizens: HashMap<CitizenKey, PlanId>,
    pub requests: HashMap<Vec<u8>, RequestRecord>,
    /// Events of requests with an id, for a retry in the same round.
    pub events: HashMap<(PlanId, u64), RecordedEvent>,
    /// (plan, sequence, position, encoded event), in position order.
    pub event_rows: Vec<(PlanId, u64, u64, Vec<u8>)>,
    /// (review index, position, plan, sequence).
    pub reviews: Vec<(u8, u64, PlanId, u64)>,
}

/// A statement's parameters, owned: one array per column.
type Params = Vec<Box<dyn ToSql + Sync + Send>>;

/// The statements of a round, in the order they must run.
#[derive(Default)]
pub(super) struct Batch(Vec<(&'static str, Params)>);

impl Batch {
    fn add(&mut self, sql: &'static str, params: Params) {
        self.0.push((sql, params));
    }

    /// Sends every statement, in order, without waiting for the answers in between.
    pub(super) async fn run(self, txn: &Transaction<'_>) -> Result<(), Error> {
        let mut statements = Vec::with_capacity(self.0.len());
        for (sql, _) in &self.0 {
            // Prepared once per connection, then cached.
            statements.push(txn.prepare_cached(sql).await.map_err(failed)?);
        }
        let executions = statements.iter().zip(&self.0).map(|(statement, (_, params))| async move {
            let params: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| &**p as &(dyn ToSql + Sync)).collect();
            txn.execute(statement, &params).await
        });
        futures::future::try_join_all(executions).await.map_err(failed)?;
        Ok(())
    }
}

impl Staged {
    /// Writes the round and the new head (audit records chained on from
    /// `head`, checkpoint signed with `checkpoint_key`), and notifies the
    /// other hubs.
    pub(super) async fn write(
        self,
        txn: &Transaction<'_>,
        head: Head,
        audit: Vec<AuditEntry>,
        position: u64,
        checkpoint_key: &[u8; 32],
    ) -> Result<(), Error> {
        let mut batch = Batch::default();
        self.add_rows(&mut batch)?;
        let (mut sequence, mut previous) = (head.audit_sequence, head.audit_hash);
        let mut records = Vec::with_capacity(audit.len());
        for entry in audit {
            sequence += 1;
            let record = AuditRecord::link(sequence, previous, entry)?;
            previous = record.hash;
            records.push(record);
        }
        add_audit(&mut batch, &records)?;
        let checkpoint = encode(&Checkpoint::sign(checkpoint_key, sequence, previous))?;
        batch.add(
            "UPDATE head SET position = $1, audit_sequence = $2, audit_hash = $3, checkpoint = $4",
            vec![Box::new(big(position)), Box::new(big(sequence)), Box::new(previous.to_vec()), Box::new(checkpoint)],
        );
        if position > head.position {
            batch.add("SELECT pg_notify('samplan_log', $1)", vec![Box::new(position.to_string())]);
        }
        batch.run(txn).await
    }

    /// Adds the statements that write the staged rows (all but the audit log and the head).
    pub(super) fn add_rows(mut self, batch: &mut Batch) -> Result<(), Error> {
        // Plans first: citizens and clocks refer to them; events before reviews.
        if !self.plans.is_empty() {
            let ids: Vec<_> = self.plans.keys().map(|id| uuid(*id)).collect();
            let versions: Vec<_> = self.plans.values().map(|plan| big(plan.version)).collect();
            let bodies: Vec<_> = self.plans.keys().map(|id| self.projections.remove(id).unwrap_or_default()).collect();
            batch.add(
                "INSERT INTO plans (plan_id, version, projection)
                 SELECT * FROM unnest($1::uuid[], $2::int8[], $3::bytea[])
                 ON CONFLICT (plan_id) DO UPDATE SET version = excluded.version, projection = excluded.projection",
                vec![Box::new(ids.clone()), Box::new(versions), Box::new(bodies)],
            );
            self.clocks(batch, ids);
        }
        if !self.event_rows.is_empty() {
            let plans: Vec<_> = self.event_rows.iter().map(|r| uuid(r.0)).collect();
            let sequences: Vec<_> = self.event_rows.iter().map(|r| big(r.1)).collect();
            let positions: Vec<_> = self.event_rows.iter().map(|r| big(r.2)).collect();
            let bodies: Vec<_> = self.event_rows.into_iter().map(|r| r.3).collect();
            batch.add(
                "INSERT INTO events (plan_id, sequence, global_position, event)
                 SELECT * FROM unnest($1::uuid[], $2::int8[], $3::int8[], $4::bytea[])",
                vec![Box::new(plans), Box::new(sequences), Box::new(positions), Box::new(bodies)],
            );
        }
        if !self.citizens.is_empty() {
            let pseudonyms: Vec<_> = self.citizens.keys().map(|c| c.0.to_vec()).collect();
            let plans: Vec<_> = self.citizens.values().map(|id| uuid(*id)).collect();
            batch.add(
                "INSERT INTO citizens (pseudonym, plan_id) SELECT * FROM unnest($1::bytea[], $2::uuid[])",
                vec![Box::new(pseudonyms), Box::new(plans)],
            );
        }
        if !self.requests.is_empty() {
            let keys: Vec<_> = self.requests.keys().cloned().collect();
            let records = self.requests.values().map(encode).collect::<Result<Vec<_>, _>>()?;
            batch.add(
                "INSERT INTO requests (key, record) SELECT * FROM unnest($1::bytea[], $2::bytea[])",
                vec![Box::new(keys), Box::new(records)],
            );
        }
        if !self.reviews.is_empty() {
            let kinds: Vec<_> = self.reviews.iter().map(|r| r.0 as i8).collect();
            let positions: Vec<_> = self.reviews.iter().map(|r| big(r.1)).collect();
            let plans: Vec<_> = self.reviews.iter().map(|r| uuid(r.2)).collect();
            let sequences: Vec<_> = self.reviews.iter().map(|r| big(r.3)).collect();
            batch.add(
                "INSERT INTO reviews (kind, global_position, plan_id, sequence)
                 SELECT * FROM unnest($1::\"char\"[], $2::int8[], $3::uuid[], $4::int8[])",
                vec![Box::new(kinds), Box::new(positions), Box::new(plans), Box::new(sequences)],
            );
        }
        Ok(())
    }

    /// Replaces the clock index rows of the plans `ids` with what their clocks need now.
    fn clocks(&self, batch: &mut Batch, ids: Vec<uuid::Uuid>) {
        batch.add("DELETE FROM clocks WHERE plan_id = ANY($1)", vec![Box::new(ids)]);
        let (mut plans, mut clocks, mut due) = (Vec::new(), Vec::new(), Vec::new());
        let (mut organisations, mut member_plans, mut member_clocks) = (Vec::new(), Vec::new(), Vec::new());
        for row in self.plans.values().flat_map(IndexRow::of) {
            match row {
                IndexRow::Clock(plan, clock, due_on) => {
                    plans.push(uuid(plan));
                    clocks.push(clock);
                    due.push(due_on);
                }
                IndexRow::Member(plan, clock, organisation) => {
                    organisations.push(organisation);
                    member_plans.push(uuid(plan));
                    member_clocks.push(clock);
                }
            }
        }
        if plans.is_empty() {
            return;
        }
        batch.add(
            "INSERT INTO clocks (plan_id, clock, due_on) SELECT * FROM unnest($1::uuid[], $2::int4[], $3::int4[])",
            vec![Box::new(plans), Box::new(clocks), Box::new(due)],
        );
        batch.add(
            "INSERT INTO clock_members (organisation, plan_id, clock)
             SELECT * FROM unnest($1::text[], $2::uuid[], $3::int4[])",
            vec![Box::new(organisations), Box::new(member_plans), Box::new(member_clocks)],
        );
    }
}

/// A row of the clock index: an open clock with the day it is due (if
/// the deadline watcher waits for it), or a care-team organisation of one.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(super) enum IndexRow {
    Clock(PlanId, i32, Option<i32>),
    Member(PlanId, i32, String),
}

impl IndexRow {
    /// The rows a plan's clocks need.
    pub(super) fn of(plan: &Plan) -> Vec<Self> {
        let members = keys::team_organisations(plan);
        let mut rows = Vec::new();
        for (index, due) in keys::open_clocks(plan) {
            let index = index as i32;
            rows.push(Self::Clock(plan.id, index, due.map(|day| keys::day_number(day) as i32)));
            rows.extend(members.iter().map(|org| Self::Member(plan.id, index, org.as_str().to_owned())));
        }
        rows
    }
}

/// Adds the statement that writes `records` to the audit log.
pub(super) fn add_audit(batch: &mut Batch, records: &[AuditRecord]) -> Result<(), Error> {
    if records.is_empty() {
        return Ok(());
    }
    let sequences: Vec<_> = records.iter().map(|r| big(r.sequence)).collect();
    let plans: Vec<_> = records.iter().map(|r| r.entry.plan.map(uuid)).collect();
    let bodies = records.iter().map(encode).collect::<Result<Vec<_>, _>>()?;
    batch.add(
        "INSERT INTO audit (sequence, plan_id, record) SELECT * FROM unnest($1::int8[], $2::uuid[], $3::bytea[])",
        vec![Box::new(sequences), Box::new(plans), Box::new(bodies)],
    );
    Ok(())
}
