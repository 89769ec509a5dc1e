//! Reads from the PostgreSQL store. Every committed row is durable, and
//! rounds commit in position order, so a read needs no durable bound.

use tokio_postgres::types::ToSql;

use super::{PgEngine, big, failed, plan_id, unreachable, uuid};
use crate::domain::{CitizenKey, Date, OrganisationId, Plan, PlanId, RecordedEvent};
use crate::store::audit::AuditRecord;
use crate::store::{ClockScope, Error, by_plan, decode, keys};

impl PgEngine {
    /// Runs a query on a pooled connection.
    async fn rows(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Vec<tokio_postgres::Row>, Error> {
        let client = self.pool.get().await.map_err(unreachable)?;
        let statement = client.prepare_cached(sql).await.map_err(failed)?;
        client.query(&statement, params).await.map_err(failed)
    }

    /// The values in the first column of a query's rows, decoded.
    async fn decoded<T: serde::de::DeserializeOwned>(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<T>, Error> {
        self.rows(sql, params).await?.iter().map(|row| decode(row.get::<_, &[u8]>(0))).collect()
    }

    pub(in crate::store) async fn plan(&self, id: PlanId) -> Result<Option<Plan>, Error> {
        let plans = self.decoded("SELECT projection FROM plans WHERE plan_id = $1", &[&uuid(id)]).await?;
        Ok(plans.into_iter().next())
    }

    pub(in crate::store) async fn plan_id_of(&self, citizen: &CitizenKey) -> Result<Option<PlanId>, Error> {
        let rows = self.rows("SELECT plan_id FROM citizens WHERE pseudonym = $1", &[&citizen.0.as_slice()]).await?;
        Ok(rows.first().map(|row| plan_id(row.get(0))))
    }

    pub(in crate::store) async fn plan_events(
        &self,
        id: PlanId,
        from_sequence: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, Error> {
        self.decoded(
            "SELECT event FROM events WHERE plan_id = $1 AND sequence >= $2 ORDER BY sequence LIMIT $3",
            &[&uuid(id), &big(from_sequence), &big(limit as u64)],
        )
        .await
    }

    pub(in crate::store) async fn events_from(
        &self,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, Error> {
        self.decoded(
            "SELECT event FROM events WHERE global_position >= $1 ORDER BY global_position LIMIT $2",
            &[&big(from_position), &big(limit as u64)],
        )
        .await
    }

    /// Up to `limit` audit records from `from_sequence` on, of one plan or of all.
    pub(in crate::store) async fn audit_records(
        &self,
        plan: Option<PlanId>,
        from_sequence: u64,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, Error> {
        let (from, limit) = (big(from_sequence), big(limit as u64));
        match plan {
            Some(plan) => {
                self.decoded(
                    "SELECT record FROM audit WHERE plan_id = $1 AND sequence >= $2 ORDER BY sequence LIMIT $3",
                    &[&uuid(plan), &from, &limit],
                )
                .await
            }
            None => {
                self.decoded(
                    "SELECT record FROM audit WHERE sequence >= $1 ORDER BY sequence LIMIT $2",
                    &[&from, &limit],
                )
                .await
            }
        }
    }

    /// The events of review index `index` (as sled names them) that `organisation` caused.
    pub(in crate::store) async fn reviews(
        &self,
        index: u8,
        organisation: &OrganisationId,
        from_position: u64,
        limit: usize,
    ) -> Result<Vec<RecordedEvent>, Error> {
        // Every organisation's entries are indexed together: read them a page at a time.
        let mut found = Vec::new();
        let mut from = big(from_position);
        while found.len() < limit {
            let page: Vec<(i64, RecordedEvent)> = self
                .rows(
                    "SELECT r.global_position, e.event FROM reviews r JOIN events e USING (plan_id, sequence)
                     WHERE r.kind = $1 AND r.global_position >= $2 ORDER BY r.global_position LIMIT 256",
                    &[&(index as i8), &from],
                )
                .await?
                .iter()
                .map(|row| Ok((row.get(0), decode(row.get::<_, &[u8]>(1))?)))
                .collect::<Result<_, Error>>()?;
            let Some((last, _)) = page.last() else { break };
            from = last + 1;
            let ours = page.into_iter().map(|(_, event)| event).filter(|e| &e.actor.organisation == organisation);
            found.extend(ours.take(limit - found.len()));
        }
        Ok(found)
    }

    pub(in crate::store) async fn due_clocks(&self, today: Date, limit: usize) -> Result<Vec<(PlanId, usize)>, Error> {
        let day = keys::day_number(today) as i32;
        let rows = self
            .rows(
                "SELECT plan_id, clock FROM clocks WHERE due_on < $1 ORDER BY due_on, plan_id, clock LIMIT $2",
                &[&day, &big(limit as u64)],
            )
            .await?;
        Ok(rows.iter().map(|row| (plan_id(row.get(0)), row.get::<_, i32>(1) as usize)).collect())
    }

    /// The open clocks in `scope`, grouped by plan, in plan order, after the plan `after`.
    pub(in crate::store) async fn open_clocks(
        &self,
        scope: ClockScope<'_>,
        after: Option<PlanId>,
    ) -> Result<Vec<(PlanId, Vec<usize>)>, Error> {
        let after = after.map(uuid);
        let rows = match scope {
            ClockScope::All => {
                self.rows(
                    "SELECT plan_id, clock FROM clocks WHERE $1::uuid IS NULL OR plan_id > $1 ORDER BY plan_id, clock",
                    &[&after],
                )
                .await?
            }
            ClockScope::Organisation(organisation) => {
                self.rows(
                    "SELECT plan_id, clock FROM clock_members WHERE organisation = $1
                     AND ($2::uuid IS NULL OR plan_id > $2) ORDER BY plan_id, clock",
                    &[&organisation.as_str(), &after],
                )
                .await?
            }
            ClockScope::Plan(plan) => {
                self.rows("SELECT plan_id, clock FROM clocks WHERE plan_id = $1 ORDER BY clock", &[&uuid(plan)]).await?
            }
        };
        by_plan(rows.iter().map(|row| Ok((plan_id(row.get(0)), row.get::<_, i32>(1) as usize))))
    }
}
