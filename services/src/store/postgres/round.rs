//! A hub's writer on PostgreSQL: one transaction per round.
//!
//! A round locks the head row first (so rounds of every hub run one at a
//! time and commit in position order), reads in a few queries every plan,
//! citizen and request record its jobs are about, has each job decided in
//! order by the shared application step against that state as the round
//! changes it, and writes what they decided and the new head. Each job is
//! answered after the commit; if the round fails, every job in it hears
//! UNAVAILABLE and nothing of it is written, so a retry with the same
//! `request_id` is safe.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use deadpool_postgres::{Pool, Transaction};
use tokio::sync::{mpsc, watch};
use tracing::Instrument;

use super::write::Staged;
use super::{big, failed, unreachable, uuid};
use crate::domain::{AuditEntry, CitizenKey, Plan, PlanId, RecordedEvent};
use crate::store::decide::{self, Appended, Reads, RequestRecord, Stage};
use crate::store::syncer::{Answer, answer};
use crate::store::writer::{Gathered, add_micros, gather, refuse, round_span};
use crate::store::{Error, Intent, Job, Message, Outcome, Stats, StoreOptions, decode, keys};

pub(super) struct Writer {
    pub pool: Pool,
    pub options: StoreOptions,
    pub durable: Arc<watch::Sender<u64>>,
    pub stats: Arc<Stats>,
}

impl Writer {
    /// Runs until a stop message or until every sender is gone.
    pub(super) async fn run(mut self, mut rx: mpsc::Receiver<Message>) {
        let max_batch = self.options.max_batch.max(1);
        let mut stop = None;
        while stop.is_none() {
            let Some(first) = rx.recv().await else { break };
            let Gathered { jobs, stop: stopped, cut } = gather(first, max_batch, || rx.try_recv().ok());
            stop = stopped;
            self.commit(jobs).await;
            if let Some(reply) = cut {
                let _ = reply.send(Err(Error::Storage("a backup cut is named on sled stores only".into())));
            }
        }
        rx.close();
        while let Ok(message) = rx.try_recv() {
            if let Message::Job(job, _) = message {
                refuse(job)(false);
            }
        }
        if let Some(done) = stop {
            let _ = done.send(());
        }
    }

    async fn commit(&mut self, jobs: Vec<(Job, tracing::Span)>) {
        if jobs.is_empty() {
            return;
        }
        let span = round_span(&jobs);
        let result = self.round(jobs).instrument(span.clone()).await;
        match result {
            Ok((answers, position, audit_records)) => {
                span.record("last_position", position as i64).record("audit_records", audit_records as i64);
                super::listen::advance(&self.durable, position);
                for answer in answers {
                    answer(true);
                }
            }
            Err(answers) => {
                for answer in answers {
                    answer(false);
                }
            }
        }
    }

    /// Decides and commits a round; gives back the answers, the last position
    /// and the number of audit records, or the answers to give if it failed.
    async fn round(&mut self, jobs: Vec<(Job, tracing::Span)>) -> Result<(Vec<Answer>, u64, usize), Vec<Answer>> {
        let mut client = match self.pool.get().await {
            Ok(client) => client,
            Err(error) => {
                unreachable(error);
                return Err(jobs.into_iter().map(|(job, _)| refuse(job)).collect());
            }
        };
        let started = Instant::now();
        let begun = async {
            let txn = client.transaction().await.map_err(failed)?;
            // Sent together: the reads run once the head is locked, in one round trip.
            let (head, read) = futures::try_join!(Head::lock(&txn), Read::prefetch(&txn, &jobs))?;
            Ok::<_, Error>((txn, head, read))
        }
        .await;
        let (txn, head, read) = match begun {
            Ok(begun) => begun,
            Err(error) => {
                tracing::warn!(%error, "a round could not start");
                return Err(jobs.into_iter().map(|(job, _)| refuse(job)).collect());
            }
        };
        tracing::Span::current().record("first_position", head.position as i64 + 1);
        let mut round = Round { options: &self.options, read, position: head.position, staged: Staged::default() };
        let mut audit = Vec::with_capacity(jobs.len());
        let mut answers = Vec::with_capacity(jobs.len());
        for (job, _) in jobs {
            let now = (self.options.clock)();
            match job {
                Job::Submit { submission, intent, reply } => {
                    let (result, entry) = decide::job(&mut round, &submission, &intent, now);
                    audit.push(entry);
                    answers.push(answer(reply, result));
                }
                Job::Record { entries, reply } => {
                    audit.extend(entries.into_iter().map(|entry| AuditEntry { at: now, ..entry }));
                    answers.push(answer(reply, Ok(())));
                }
            }
        }
        add_micros(&self.stats.decide_micros, started);
        self.stats.jobs.fetch_add(answers.len() as u64, Ordering::Relaxed);
        let audit_records = audit.len();
        let started = Instant::now();
        let position = round.position;
        let written = async {
            round.staged.write(&txn, head, audit, position, &self.options.checkpoint_key).await?;
            txn.commit().await.map_err(failed)
        }
        .await;
        add_micros(&self.stats.sync_micros, started);
        match written {
            Ok(()) => {
                self.stats.batches.fetch_add(1, Ordering::Relaxed);
                metrics::histogram!(crate::metrics::GROUP_COMMIT_JOBS).record(answers.len() as f64);
                metrics::counter!(crate::metrics::AUDIT_RECORDS).increment(audit_records as u64);
                Ok((answers, position, audit_records))
            }
            Err(error) => {
                tracing::warn!(%error, "a round could not be committed; its calls hear UNAVAILABLE");
                Err(answers)
            }
        }
    }
}

/// The head row: the last position and audit record, locked for the round.
pub(super) struct Head {
    pub position: u64,
    pub audit_sequence: u64,
    pub audit_hash: [u8; 32],
}

impl Head {
    async fn lock(txn: &Transaction<'_>) -> Result<Self, Error> {
        let row = txn
            .query_one("SELECT position, audit_sequence, audit_hash FROM head FOR UPDATE", &[])
            .await
            .map_err(failed)?;
        let hash: &[u8] = row.get(2);
        Ok(Self {
            position: row.get::<_, i64>(0) as u64,
            audit_sequence: row.get::<_, i64>(1) as u64,
            audit_hash: hash.try_into().map_err(|_| Error::Storage("the head's audit hash is not 32 bytes".into()))?,
        })
    }
}

/// What a round's jobs are about, as committed when the round locked the head.
#[derive(Default)]
struct Read {
    plans: HashMap<PlanId, Plan>,
    citizens: HashMap<CitizenKey, PlanId>,
    requests: HashMap<Vec<u8>, RequestRecord>,
    /// The events a retried request appended, to answer it again.
    events: HashMap<(PlanId, u64), RecordedEvent>,
}

impl Read {
    /// Reads every request record, citizen and plan the jobs name, and the
    /// events of the requests they retry.
    async fn prefetch(txn: &Transaction<'_>, jobs: &[(Job, tracing::Span)]) -> Result<Self, Error> {
        let (mut request_keys, mut citizens, mut plans) = (Vec::new(), Vec::new(), Vec::new());
        for (job, _) in jobs {
            let Job::Submit { submission, intent, .. } = job else { continue };
            if let Some(id) = &submission.request_id {
                request_keys.push(keys::request(&submission.actor, id));
            }
            match intent {
                Intent::Create { citizen, .. } | Intent::EmergencyAccess { citizen, .. } => {
                    citizens.push(citizen.0.to_vec())
                }
                Intent::Change { plan, .. } | Intent::MarkOverdue { plan, .. } => plans.push(uuid(*plan)),
            }
        }
        let requests = async {
            match request_keys.is_empty() {
                true => Ok(Vec::new()),
                false => txn.query("SELECT key, record FROM requests WHERE key = ANY($1)", &[&request_keys]).await,
            }
        };
        let citizens = async {
            match citizens.is_empty() {
                true => Ok(Vec::new()),
                false => {
                    let sql = "SELECT c.pseudonym, p.projection FROM citizens c JOIN plans p USING (plan_id)
                               WHERE c.pseudonym = ANY($1)";
                    txn.query(sql, &[&citizens]).await
                }
            }
        };
        let plans = async {
            match plans.is_empty() {
                true => Ok(Vec::new()),
                false => txn.query("SELECT projection FROM plans WHERE plan_id = ANY($1)", &[&plans]).await,
            }
        };
        let (requests, citizens, plans) = futures::try_join!(requests, citizens, plans).map_err(failed)?;
        let mut read = Read::default();
        for row in plans {
            let plan: Plan = decode(row.get(0))?;
            read.plans.insert(plan.id, plan);
        }
        for row in citizens {
            let pseudonym: &[u8] = row.get(0);
            let key =
                CitizenKey(pseudonym.try_into().map_err(|_| Error::Storage("a pseudonym is not 32 bytes".into()))?);
            let plan: Plan = decode(row.get(1))?;
            read.citizens.insert(key, plan.id);
            read.plans.insert(plan.id, plan);
        }
        // Retries only: the events their first attempt appended, to answer them again.
        for row in requests {
            let record: RequestRecord = decode(row.get(1))?;
            let (plan, sequences) = (record.plan_id, record.sequences());
            let sql = "SELECT event FROM events WHERE plan_id = $1 AND sequence BETWEEN $2 AND $3";
            let events = txn
                .query(sql, &[&uuid(plan), &big(*sequences.start()), &big(*sequences.end())])
                .await
                .map_err(failed)?;
            for event in events {
                let event: RecordedEvent = decode(event.get(0))?;
                read.events.insert((plan, event.sequence), event);
            }
            read.requests.insert(row.get::<_, Vec<u8>>(0), record);
        }
        Ok(read)
    }
}

/// A round being decided: its reads see what it staged, then what it read.
/// The application step reads only the plans, citizens, request records and
/// events its intents name, which [`Read::prefetch`] read; whatever is in
/// neither does not exist.
struct Round<'a> {
    options: &'a StoreOptions,
    read: Read,
    position: u64,
    staged: Staged,
}

impl Reads for Round<'_> {
    fn plan(&self, id: PlanId) -> Result<Option<Plan>, Error> {
        Ok(self.staged.plans.get(&id).or_else(|| self.read.plans.get(&id)).cloned())
    }

    fn inspect<R>(&self, id: PlanId, f: impl FnOnce(&Plan) -> R) -> Option<R> {
        self.staged.plans.get(&id).or_else(|| self.read.plans.get(&id)).map(f)
    }

    fn citizen_plan(&self, citizen: &CitizenKey) -> Result<Option<PlanId>, Error> {
        Ok(self.staged.citizens.get(citizen).or_else(|| self.read.citizens.get(citizen)).copied())
    }

    fn request_record(&self, key: &[u8]) -> Result<Option<RequestRecord>, Error> {
        Ok(self.staged.requests.get(key).or_else(|| self.read.requests.get(key)).cloned())
    }

    fn event(&self, plan: PlanId, sequence: u64) -> Result<Option<RecordedEvent>, Error> {
        let key = (plan, sequence);
        Ok(self.staged.events.get(&key).or_else(|| self.read.events.get(&key)).cloned())
    }
}

impl Stage for Round<'_> {
    fn options(&self) -> &StoreOptions {
        self.options
    }

    fn position(&self) -> u64 {
        self.position
    }

    fn remember(&mut self, key: Vec<u8>, record: RequestRecord) -> Result<(), Error> {
        self.staged.requests.insert(key, record);
        Ok(())
    }

    fn append(&mut self, appended: Appended) -> Result<Outcome, Error> {
        let Appended { outcome, encoded, plan, plan_bytes, clock_keys_before: _, citizen, request } = appended;
        let plan_id = outcome.plan_id;
        let st = &mut self.staged;
        for (event, bytes) in outcome.events.iter().zip(encoded) {
            if let Some(index) = keys::review_index(event) {
                st.reviews.push((index, event.global_position, plan_id, event.sequence));
            }
            st.event_rows.push((plan_id, event.sequence, event.global_position, bytes));
            if request.is_some() {
                st.events.insert((plan_id, event.sequence), event.clone());
            }
        }
        if let Some(citizen) = citizen {
            st.citizens.insert(citizen, plan_id);
        }
        st.plans.insert(plan_id, plan);
        st.projections.insert(plan_id, plan_bytes);
        self.position += outcome.events.len() as u64;
        if let Some((key, record)) = request {
            self.remember(key, record)?;
        }
        Ok(outcome)
    }
}
