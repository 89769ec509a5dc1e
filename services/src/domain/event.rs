//! Past-tense facts appended to a plan's log. Stored with postcard: append new
//! variants at the end and never reorder or remove one, or old logs stop decoding.

use serde::{Deserialize, Serialize};

use super::cpr::CprKind;
use super::model::*;
use super::plan::{Activity, CareTeamMember, Relative};

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum EventPayload {
    PlanCreated {
        citizen_kind: CprKind,
        first_member: CareTeamMember,
        reason: Text,
    },
    PlanActivated,
    PlanPutOnHold {
        reason: Text,
    },
    PlanResumed,
    PlanClosed {
        reason: Text,
    },
    PlanReopened {
        reason: Text,
    },
    GoalAdded {
        goal_id: String,
        text: Text,
    },
    GoalRevised {
        goal_id: String,
        text: Text,
    },
    GoalAssessed {
        goal_id: String,
        achievement: GoalAchievement,
    },
    GoalEnded {
        goal_id: String,
        reason: Text,
    },
    SectionOwnershipTaken {
        section: SectionKind,
        organisation: OrganisationId,
        effective: Date,
    },
    SectionOwnershipTransferred {
        section: SectionKind,
        from: OrganisationId,
        to: OrganisationId,
        effective: Date,
    },
    ActivityAdded(Activity),
    ActivityStatusChanged {
        activity_id: String,
        from: ActivityStatus,
        to: ActivityStatus,
    },
    CareTeamMemberAdded(CareTeamMember),
    CareTeamMembershipEnded {
        member_id: String,
        end_date: Date,
    },
    ContactPersonAssigned {
        organisation: OrganisationId,
        professional: ProfessionalId,
    },
    ContactPersonHandedOver {
        from_organisation: OrganisationId,
        from_professional: ProfessionalId,
        to_organisation: OrganisationId,
        to_professional: ProfessionalId,
        reason: Text,
    },
    AdvanceStatementRecorded {
        statement_id: String,
        occasion: AdvanceStatementOccasion,
        text: Text,
        supersedes: Option<String>,
    },
    RelativeRegistered(Relative),
    RelativeInvolvementChanged {
        relative_id: String,
        involvement: RelativeInvolvement,
    },
    CareTeamJoined {
        member: CareTeamMember,
        reason: Text,
    },
}

impl EventPayload {
    /// The event's name, for logs and metrics (never its content).
    pub fn name(&self) -> &'static str {
        match self {
            Self::PlanCreated { .. } => "PlanCreated",
            Self::PlanActivated => "PlanActivated",
            Self::PlanPutOnHold { .. } => "PlanPutOnHold",
            Self::PlanResumed => "PlanResumed",
            Self::PlanClosed { .. } => "PlanClosed",
            Self::PlanReopened { .. } => "PlanReopened",
            Self::GoalAdded { .. } => "GoalAdded",
            Self::GoalRevised { .. } => "GoalRevised",
            Self::GoalAssessed { .. } => "GoalAssessed",
            Self::GoalEnded { .. } => "GoalEnded",
            Self::SectionOwnershipTaken { .. } => "SectionOwnershipTaken",
            Self::SectionOwnershipTransferred { .. } => "SectionOwnershipTransferred",
            Self::ActivityAdded(_) => "ActivityAdded",
            Self::ActivityStatusChanged { .. } => "ActivityStatusChanged",
            Self::CareTeamMemberAdded(_) => "CareTeamMemberAdded",
            Self::CareTeamMembershipEnded { .. } => "CareTeamMembershipEnded",
            Self::ContactPersonAssigned { .. } => "ContactPersonAssigned",
            Self::ContactPersonHandedOver { .. } => "ContactPersonHandedOver",
            Self::AdvanceStatementRecorded { .. } => "AdvanceStatementRecorded",
            Self::RelativeRegistered(_) => "RelativeRegistered",
            Self::RelativeInvolvementChanged { .. } => "RelativeInvolvementChanged",
            Self::CareTeamJoined { .. } => "CareTeamJoined",
        }
    }
}

/// An event as it stands in the log: the fact plus who, when, where and why.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedEvent {
    pub plan_id: PlanId,
    /// 1-based position in the plan's log; the plan's version after this event.
    pub sequence: u64,
    /// Gap-free position in the hub-wide log.
    pub global_position: u64,
    pub recorded_at: Timestamp,
    pub actor: Actor,
    pub correlation_id: String,
    pub request_id: Option<String>,
    pub payload: EventPayload,
}
