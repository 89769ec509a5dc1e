//! What the audit log records about every operation: who, when, on which plan,
//! what, the decision and its ground. The chain that makes it tamper-evident
//! is the store's business (it owns the bytes).

use serde::{Deserialize, Serialize};

use super::model::{Actor, DataCategory, PlanId, Timestamp};
use super::policy::Purpose;

/// Whether the operation was allowed, and if not, the stable reason it was refused.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Decision {
    Allowed,
    Denied {
        reason: String,
    },
    /// Allowed: a subscription is told of the plan's events from global
    /// position `first_position` until `until`, disclosing at most the
    /// entry's categories (recorded before the first is sent).
    Delivering {
        first_position: u64,
        until: Timestamp,
    },
}

/// One audited operation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub at: Timestamp,
    /// Who acted; `None` when the caller could not be identified (see `certificate_identity`).
    pub actor: Option<Actor>,
    /// For an unidentified caller: the organisation identifier its certificate carries, if any.
    pub certificate_identity: Option<String>,
    pub correlation_id: String,
    /// The plan (a pseudonym of the citizen), when the operation reached one.
    pub plan: Option<PlanId>,
    /// The operation, e.g. `CreatePlan`, `JoinCareTeam`, `ChangePlan.AddGoal`.
    pub action: String,
    pub purpose: Purpose,
    /// The categories of information disclosed or written (none when denied).
    pub categories: Vec<DataCategory>,
    pub decision: Decision,
    /// The legal ground the hub acted on.
    pub legal_ground: String,
    /// Sequence number and SHA-256 of each event the operation appended, in
    /// order: the chain vouches for the events, so editing, removing or adding
    /// an event is detected too.
    pub events: Vec<(u64, [u8; 32])>,
}
