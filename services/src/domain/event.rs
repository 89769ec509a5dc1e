//! Past-tense facts appended to a plan's log. Stored with postcard: append new
//! variants at the end and never reorder or remove one, or old logs stop decoding.

use serde::{Deserialize, Serialize};

use super::consent::{ConsentTerms, ObjectionTerms};
use super::cpr::CprKind;
use super::deadlines::{Milestone, RuleBasis, StartedClock, StopReason};
use super::discharge::Asker;
use super::disclosure;
use super::model::*;
use super::plan::{Activity, CareTeamMember, Plan, Relative};

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
        category: DataCategory,
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
    ConsentRecorded(ConsentTerms),
    ConsentWithdrawn {
        consent_id: String,
        reason: Text,
    },
    /// Emergency access (værdispring) for the acting professional until `expires_at`.
    EmergencyAccessGranted {
        grant_id: String,
        justification: Text,
        expires_at: Timestamp,
    },
    /// A milestone on `occurred_on`, with the clocks it started and stopped.
    MilestoneRecorded {
        milestone: Milestone,
        occurred_on: Date,
        started: Vec<StartedClock>,
        stopped: Vec<String>,
    },
    ClockPaused {
        clock_id: String,
        reason: Text,
        on: Date,
    },
    ClockResumed {
        clock_id: String,
        on: Date,
        due_on: Date,
    },
    /// Recorded by the hub's deadline watcher the day after a running clock's due date.
    ClockOverdue {
        clock_id: String,
        due_on: Date,
    },
    IndsatsplanStarted {
        next_meeting: Date,
    },
    IndsatsplanMeetingSet {
        next_meeting: Date,
    },
    IndsatsActionPrioritised {
        activity_id: String,
        priority: u32,
    },
    /// The acting organisation signed `version` for `sides`; `agreed` when that
    /// completed both sides' signatures.
    IndsatsplanSigned {
        version: u32,
        sides: Vec<SectionKind>,
        agreed: bool,
    },
    /// A change to an indsatsplan that a side had signed or the citizen had
    /// accepted made `version`, which no one has signed or accepted.
    IndsatsplanReopened {
        version: u32,
    },
    /// The acting organisation (the job centre) offers an udskrivningskoordinator.
    DischargeCoordinatorOffered {
        mentor: ProfessionalId,
        start: Date,
        end: Date,
    },
    DischargeCoordinatorOfferAnswered {
        accepted: bool,
    },
    NetworkMeetingRequested {
        meeting_on: Date,
    },
    AdvanceStatementsRequested {
        on: Date,
    },
    NextContactPersonAgreed {
        organisation: OrganisationId,
        professional: ProfessionalId,
    },
    DischargeCompleted {
        on: Date,
    },
    /// A consent with its purpose and, when written, the document that holds it.
    ConsentGiven {
        terms: ConsentTerms,
        purpose: Text,
        document_reference: Option<Text>,
    },
    /// The citizen objects (sundhedsloven § 41, stk. 3) to disclosure to a recipient.
    ObjectionRecorded(ObjectionTerms),
    ObjectionWithdrawn {
        objection_id: String,
        reason: Text,
    },
    /// The citizen was told of an emergency access (sundhedsloven § 43, stk. 4).
    CitizenInformedOfEmergencyAccess {
        grant_id: String,
        informed_on: Date,
    },
    /// A care-team member invited an organisation onto the team, naming the ground it takes part on.
    CareTeamMemberInvited {
        member: CareTeamMember,
        ground: Text,
    },
    /// The citizen accepted `version` of the koordinerende indsatsplan (through
    /// their portal, or recorded by a side they told); `agreed` when both
    /// sides had signed it too.
    IndsatsplanAccepted {
        version: u32,
        agreed: bool,
    },
    /// The citizen asked for a network meeting before their discharge.
    NetworkMeetingAskedFor {
        on: Date,
        by: Asker,
    },
    /// The acting organisation ended a clock without the milestone that satisfies it.
    ClockEnded {
        clock_id: String,
        reason: StopReason,
        on: Date,
    },
    /// The region or the municipality called the network meeting for
    /// `meeting_on`, which starts its clock (a regional agreement).
    NetworkMeetingCalled {
        meeting_on: Date,
        started: Vec<StartedClock>,
    },
    /// The clock just started rests on another basis than its kind's usual
    /// one, as the rule table's row says.
    ClockBasisSet {
        clock_id: String,
        basis: RuleBasis,
    },
}

impl EventPayload {
    /// The category the event is filed under (the most specific it reveals;
    /// see [`super::disclosure::event_reveals`] for all of them). `plan` is
    /// the plan before the event (`None` for its first).
    pub fn category(&self, plan: Option<&Plan>) -> DataCategory {
        let reveals = match (plan, self) {
            (Some(plan), _) => disclosure::event_reveals(self, plan),
            (None, EventPayload::PlanCreated { first_member, .. }) => {
                vec![disclosure::membership_reveals(first_member.sector)]
            }
            (None, _) => vec![DataCategory::PlanAndContact],
        };
        disclosure::primary(&reveals)
    }

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
            Self::ConsentRecorded(_) => "ConsentRecorded",
            Self::ConsentWithdrawn { .. } => "ConsentWithdrawn",
            Self::EmergencyAccessGranted { .. } => "EmergencyAccessGranted",
            Self::MilestoneRecorded { .. } => "MilestoneRecorded",
            Self::ClockPaused { .. } => "ClockPaused",
            Self::ClockResumed { .. } => "ClockResumed",
            Self::ClockOverdue { .. } => "ClockOverdue",
            Self::IndsatsplanStarted { .. } => "IndsatsplanStarted",
            Self::IndsatsplanMeetingSet { .. } => "IndsatsplanMeetingSet",
            Self::IndsatsActionPrioritised { .. } => "IndsatsActionPrioritised",
            Self::IndsatsplanSigned { .. } => "IndsatsplanSigned",
            Self::IndsatsplanReopened { .. } => "IndsatsplanReopened",
            Self::DischargeCoordinatorOffered { .. } => "DischargeCoordinatorOffered",
            Self::DischargeCoordinatorOfferAnswered { .. } => "DischargeCoordinatorOfferAnswered",
            Self::NetworkMeetingRequested { .. } => "NetworkMeetingRequested",
            Self::NetworkMeetingAskedFor { .. } => "NetworkMeetingAskedFor",
            Self::IndsatsplanAccepted { .. } => "IndsatsplanAccepted",
            Self::ClockEnded { .. } => "ClockEnded",
            Self::NetworkMeetingCalled { .. } => "NetworkMeetingCalled",
            Self::ClockBasisSet { .. } => "ClockBasisSet",
            Self::AdvanceStatementsRequested { .. } => "AdvanceStatementsRequested",
            Self::NextContactPersonAgreed { .. } => "NextContactPersonAgreed",
            Self::DischargeCompleted { .. } => "DischargeCompleted",
            Self::ConsentGiven { .. } => "ConsentRecorded",
            Self::ObjectionRecorded(_) => "ObjectionRecorded",
            Self::ObjectionWithdrawn { .. } => "ObjectionWithdrawn",
            Self::CitizenInformedOfEmergencyAccess { .. } => "CitizenInformedOfEmergencyAccess",
            Self::CareTeamMemberInvited { .. } => "CareTeamMemberInvited",
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
    /// What the event tells, for the access policy: fixed when it is appended.
    pub category: DataCategory,
    pub payload: EventPayload,
}
