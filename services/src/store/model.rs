//! What the store takes and gives: its options, a submission and its
//! intent, the outcome, counters, and what `verify` found — the same for
//! both engines.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;

use serde::{Deserialize, Serialize};

use super::encode;
use crate::domain::{
    Actor, CitizenKey, Command, CprKind, DEFAULT_EMERGENCY_ACCESS_MICROS, DeadlineRules, OwnershipRules, Plan, PlanId,
    RecordedEvent, Text, Timestamp,
};
use crate::error::Error;

/// Where "now" comes from; injectable for tests.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The largest encoded event the store accepts.
pub const MAX_EVENT_BYTES: usize = 64 * 1024;
/// The largest encoded plan projection the store accepts. With 16 MiB
/// segments sled writes pages up to 4 MiB inline in its log; a leaf holds at
/// most ~17 values, so this bound keeps every page out of sled's blob files,
/// which sled 0.34 writes without any fsync.
pub const MAX_PLAN_BYTES: usize = 192 * 1024;
/// sled's segment size; sled refuses to open a database with another.
pub const SEGMENT_SIZE: usize = 16 * 1024 * 1024;

#[derive(Clone)]
pub struct StoreOptions {
    pub path: PathBuf,
    /// Most jobs committed in one group flush.
    pub max_batch: usize,
    /// Jobs waiting for the writer before submitters wait too.
    pub queue_capacity: usize,
    /// sled's page cache, in bytes.
    pub cache_capacity_bytes: u64,
    pub rules: OwnershipRules,
    pub clock: Clock,
    /// The key that authenticates the audit checkpoint; keep it outside the
    /// data directory. The hub derives it from the pseudonym key.
    pub checkpoint_key: [u8; 32],
    /// How long emergency access lasts, in microseconds.
    pub emergency_access_micros: i64,
    /// The deadlines of rights clocks.
    pub deadlines: DeadlineRules,
    /// Audit records the per-plan audit index gathers before it is written.
    pub audit_index_batch: usize,
    /// Encoded bytes of recently written plans the writer keeps decoded, for
    /// its next writes and for reads.
    pub recent_plans_bytes: usize,
}

impl StoreOptions {
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            max_batch: 512,
            queue_capacity: 4096,
            cache_capacity_bytes: 256 * 1024 * 1024,
            rules: OwnershipRules::default(),
            clock: Arc::new(Timestamp::now),
            checkpoint_key: [0; 32],
            emergency_access_micros: DEFAULT_EMERGENCY_ACCESS_MICROS,
            deadlines: DeadlineRules::default(),
            audit_index_batch: 1024,
            recent_plans_bytes: 16 * 1024 * 1024,
        }
    }
}

/// Who submits, and how the request is to be traced and deduplicated.
#[derive(Clone, Debug)]
pub struct Submission {
    pub actor: Actor,
    pub correlation_id: String,
    pub request_id: Option<String>,
    /// When the caller stops waiting: a job the writer reaches later is refused undecided.
    pub deadline: Option<std::time::Instant>,
}

/// What the submitter wants done.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Intent {
    /// Create the citizen's plan, or find the existing one.
    /// If the caller is not on an existing plan's care team, it joins it with `reason`.
    Create { citizen: CitizenKey, kind: CprKind, reason: Text },
    /// Apply a command to a plan whose version the caller last saw.
    Change { plan: PlanId, expected_version: u64, command: Command },
    /// Grant the caller emergency access (værdispring) to the citizen's plan.
    EmergencyAccess { citizen: CitizenKey, justification: Text },
    /// Record that a clock went overdue (the deadline watcher; no care-team check).
    MarkOverdue { plan: PlanId, clock_id: String },
}

/// The result of a submitted intent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub plan_id: PlanId,
    /// The plan's version after the intent.
    pub version: u64,
    /// For `Create`: whether a new plan was made.
    pub created: bool,
    /// The events appended (empty when a create found an existing plan).
    pub events: Vec<RecordedEvent>,
}

impl Outcome {
    /// For `Create`: whether the caller joined an existing plan's care team.
    pub fn joined(&self) -> bool {
        !self.created && !self.events.is_empty()
    }
}

/// Counters for benchmarks and tests.
#[derive(Debug, Default)]
pub struct Stats {
    pub jobs: AtomicU64,
    pub batches: AtomicU64,
    pub device_syncs: AtomicU64,
    pub decide_micros: AtomicU64,
    pub apply_micros: AtomicU64,
    pub flush_micros: AtomicU64,
    pub sync_micros: AtomicU64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StatsSnapshot {
    /// Jobs answered (accepted or refused).
    pub jobs: u64,
    /// Group commits written.
    pub batches: u64,
    /// `fdatasync` calls on sled's data file; one per batch.
    pub device_syncs: u64,
    /// Time spent deciding jobs, applying batches to sled, in sled's flush, and in `fdatasync`.
    pub decide_micros: u64,
    pub apply_micros: u64,
    pub flush_micros: u64,
    pub sync_micros: u64,
}

impl std::fmt::Display for StatsSnapshot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let per = |total: u64| total.checked_div(self.batches).unwrap_or(0);
        write!(
            f,
            "{} jobs in {} group commits ({:.1} jobs each, {} fdatasync); per commit: decide {} µs, apply {} µs, sled flush {} µs, fdatasync {} µs",
            self.jobs,
            self.batches,
            self.jobs as f64 / self.batches.max(1) as f64,
            self.device_syncs,
            per(self.decide_micros),
            per(self.apply_micros),
            per(self.flush_micros),
            per(self.sync_micros),
        )
    }
}

/// What `verify` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VerifyReport {
    pub events: u64,
    pub plans: u64,
    pub audit_records: u64,
    pub problems: Vec<String>,
}

impl VerifyReport {
    /// Checks one plan's log for gaps and its stored projection against a replay of it.
    pub(super) fn check_plan(&mut self, id: PlanId, events: &[RecordedEvent], stored: &[u8]) -> Result<(), Error> {
        if events.iter().enumerate().any(|(i, e)| e.sequence != i as u64 + 1) {
            self.problems.push(format!("{} has a gap in its log", id.resource_name()));
        }
        match Plan::replay(events) {
            Some(plan) if encode(&plan)? == stored => {}
            _ => self.problems.push(format!("{} differs from its replay", id.resource_name())),
        }
        Ok(())
    }
}
