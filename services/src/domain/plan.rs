//! The plan as a projection of its log. `apply` is the only way state changes,
//! and it never fails: every event in the log was validated when it was decided.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::consent::{Consent, Objection};
use super::cpr::CprKind;
use super::deadlines::{Clock, ClockState, Milestone, StartedClock};
use super::discharge::{self, Discharge};
use super::disclosure;
use super::event::{EventPayload, RecordedEvent};
use super::indsatsplan::{self, Acceptance, Indsatsplan, Signature};
use super::model::*;
use super::trail::Trail;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Goal {
    pub goal_id: String,
    pub text: Text,
    pub lifecycle: GoalLifecycle,
    pub achievement: GoalAchievement,
    pub revision: u32,
    pub category: DataCategory,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SectionOwner {
    pub organisation: OrganisationId,
    pub since: Date,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    pub activity_id: String,
    pub section: SectionKind,
    pub title: Text,
    pub legal_plan_type: LegalPlanType,
    pub responsible_organisation: OrganisationId,
    pub responsible_professional: ProfessionalId,
    pub status: ActivityStatus,
    pub start_date: Date,
    pub end_date: Option<Date>,
    pub goal_ids: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CareTeamMember {
    pub member_id: String,
    pub organisation: OrganisationId,
    pub sector: Sector,
    pub professional: Option<ProfessionalId>,
    pub role: ProfessionalRole,
    pub start_date: Date,
    pub end_date: Option<Date>,
    /// When a membership was ended with effect from today or earlier: access
    /// ends at that moment, not at the end of the day.
    pub left_at: Option<Timestamp>,
}

impl CareTeamMember {
    /// Whether the membership covers `now` (an end date in the future is the
    /// last day of membership; ending it today ends it at once).
    pub fn is_active_at(&self, now: Timestamp) -> bool {
        let today = now.date();
        self.start_date <= today && self.end_date.is_none_or(|end| today <= end) && self.left_at.is_none_or(|t| now < t)
    }

    /// Whether the membership has not been ended (it may still lie in the future).
    pub fn is_open(&self) -> bool {
        self.end_date.is_none()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ContactPerson {
    pub organisation: OrganisationId,
    pub professional: ProfessionalId,
    pub since: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AdvanceStatement {
    pub statement_id: String,
    pub occasion: AdvanceStatementOccasion,
    pub text: Text,
    pub superseded_by: Option<String>,
    pub recorded_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Relative {
    pub relative_id: String,
    pub name: Text,
    pub relation: Text,
    pub involvement: RelativeInvolvement,
}

/// Emergency access (værdispring) granted to one professional, for a limited time.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EmergencyGrant {
    pub grant_id: String,
    pub organisation: OrganisationId,
    pub professional: ProfessionalId,
    pub role: ProfessionalRole,
    pub justification: Text,
    pub granted_at: Timestamp,
    pub expires_at: Timestamp,
    /// When the citizen was told of it (sundhedsloven § 43, stk. 4); until then it is pending.
    pub citizen_informed_on: Option<Date>,
}

impl EmergencyGrant {
    /// The grant an `EmergencyAccessGranted` event made.
    pub fn granted_by(event: &RecordedEvent) -> Option<Self> {
        let EventPayload::EmergencyAccessGranted { grant_id, justification, expires_at } = &event.payload else {
            return None;
        };
        Some(Self {
            grant_id: grant_id.clone(),
            organisation: event.actor.organisation.clone(),
            professional: event.actor.professional.clone(),
            role: event.actor.role,
            justification: justification.clone(),
            granted_at: event.recorded_at,
            expires_at: *expires_at,
            citizen_informed_on: None,
        })
    }

    /// Whether the grant lets `actor` read at `now`: the same professional
    /// of the same organisation, still in a role that may use emergency
    /// access (the same staff id asserted as an auditor or analyst reads
    /// nothing through it), before it expires.
    pub fn holds_for(&self, actor: &Actor, now: Timestamp) -> bool {
        self.organisation == actor.organisation
            && self.professional == actor.professional
            && actor.role.is_authorised_health_professional()
            && now < self.expires_at
    }
}

/// The current plan of one citizen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Plan {
    pub id: PlanId,
    /// Number of events applied.
    pub version: u64,
    /// Global position of the last event applied.
    pub last_position: u64,
    pub status: PlanStatus,
    pub status_reason: Option<Text>,
    pub citizen_kind: CprKind,
    pub goals: Vec<Goal>,
    pub sections: BTreeMap<SectionKind, SectionOwner>,
    pub activities: Vec<Activity>,
    pub care_team: Vec<CareTeamMember>,
    pub contact_person: Option<ContactPerson>,
    pub advance_statements: Vec<AdvanceStatement>,
    pub relatives: Vec<Relative>,
    pub consents: Vec<Consent>,
    /// The citizen's objections to disclosure (sundhedsloven § 41, stk. 3).
    pub objections: Vec<Objection>,
    pub emergency_grants: Vec<EmergencyGrant>,
    /// The citizen's rights clocks, in the order they started.
    pub clocks: Vec<Clock>,
    /// The koordinerende indsatsplan, once started.
    pub indsatsplan: Option<Indsatsplan>,
    /// The latest discharge from a psychiatric ward, planned or completed.
    pub discharge: Option<Discharge>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    /// What each event of the log reveals: what a recipient is shown of the
    /// version and the update time is counted from.
    pub trail: Trail,
}

impl Plan {
    /// Builds a plan from its first event, which must be `PlanCreated`.
    pub fn from_first(event: &RecordedEvent) -> Option<Self> {
        let EventPayload::PlanCreated { citizen_kind, first_member, .. } = &event.payload else {
            return None;
        };
        Some(Self {
            id: event.plan_id,
            version: event.sequence,
            last_position: event.global_position,
            status: PlanStatus::Draft,
            status_reason: None,
            citizen_kind: *citizen_kind,
            goals: Vec::new(),
            sections: BTreeMap::new(),
            activities: Vec::new(),
            care_team: vec![first_member.clone()],
            contact_person: None,
            advance_statements: Vec::new(),
            relatives: Vec::new(),
            consents: Vec::new(),
            objections: Vec::new(),
            emergency_grants: Vec::new(),
            clocks: Vec::new(),
            indsatsplan: None,
            discharge: None,
            created_at: event.recorded_at,
            updated_at: event.recorded_at,
            trail: Trail::default(),
        })
        .map(|mut plan| {
            plan.trail.record(&disclosure::event_reveals(&event.payload, &plan), event.recorded_at);
            plan
        })
    }

    /// Rebuilds a plan from its whole log.
    pub fn replay<'a>(events: impl IntoIterator<Item = &'a RecordedEvent>) -> Option<Self> {
        let mut events = events.into_iter();
        let mut plan = Self::from_first(events.next()?)?;
        for event in events {
            plan.apply(event);
        }
        Some(plan)
    }

    pub fn apply(&mut self, event: &RecordedEvent) {
        self.trail.record(&disclosure::event_reveals(&event.payload, self), event.recorded_at);
        if indsatsplan::changes(self, &event.payload)
            && let Some(plan) = &mut self.indsatsplan
        {
            plan.version += 1;
        }
        self.version = event.sequence;
        self.last_position = event.global_position;
        self.updated_at = event.recorded_at;
        match &event.payload {
            EventPayload::PlanCreated { .. } => {}
            EventPayload::PlanActivated | EventPayload::PlanResumed => {
                self.status = PlanStatus::Active;
                self.status_reason = None;
            }
            EventPayload::PlanPutOnHold { reason } => {
                self.status = PlanStatus::OnHold;
                self.status_reason = Some(reason.clone());
            }
            EventPayload::PlanClosed { reason } => {
                self.status = PlanStatus::Closed;
                self.status_reason = Some(reason.clone());
            }
            EventPayload::PlanReopened { reason } => {
                self.status = if self.contact_person.is_some() { PlanStatus::Active } else { PlanStatus::Draft };
                self.status_reason = Some(reason.clone());
            }
            EventPayload::GoalAdded { goal_id, text, category } => self.goals.push(Goal {
                goal_id: goal_id.clone(),
                text: text.clone(),
                lifecycle: GoalLifecycle::Active,
                achievement: GoalAchievement::NotAssessed,
                revision: 0,
                category: *category,
            }),
            EventPayload::GoalRevised { goal_id, text } => {
                if let Some(goal) = self.goal_mut(goal_id) {
                    goal.text = text.clone();
                    goal.revision += 1;
                }
            }
            EventPayload::GoalAssessed { goal_id, achievement } => {
                if let Some(goal) = self.goal_mut(goal_id) {
                    goal.achievement = *achievement;
                }
            }
            EventPayload::GoalEnded { goal_id, .. } => {
                if let Some(goal) = self.goal_mut(goal_id) {
                    goal.lifecycle = GoalLifecycle::Ended;
                }
            }
            EventPayload::SectionOwnershipTaken { section, organisation, effective } => {
                self.sections.insert(*section, SectionOwner { organisation: organisation.clone(), since: *effective });
            }
            EventPayload::SectionOwnershipTransferred { section, to, effective, .. } => {
                self.sections.insert(*section, SectionOwner { organisation: to.clone(), since: *effective });
            }
            EventPayload::ActivityAdded(activity) => self.activities.push(activity.clone()),
            EventPayload::ActivityStatusChanged { activity_id, to, .. } => {
                if let Some(activity) = self.activities.iter_mut().find(|a| &a.activity_id == activity_id) {
                    activity.status = *to;
                }
            }
            EventPayload::CareTeamMemberAdded(member)
            | EventPayload::CareTeamJoined { member, .. }
            | EventPayload::CareTeamMemberInvited { member, .. } => self.care_team.push(member.clone()),
            EventPayload::CareTeamMembershipEnded { member_id, end_date } => {
                if let Some(member) = self.care_team.iter_mut().find(|m| &m.member_id == member_id) {
                    member.end_date = Some(*end_date);
                    if *end_date <= event.recorded_at.date() {
                        member.left_at = Some(event.recorded_at);
                    }
                }
            }
            EventPayload::ContactPersonAssigned { organisation, professional } => {
                self.contact_person = Some(ContactPerson {
                    organisation: organisation.clone(),
                    professional: professional.clone(),
                    since: event.recorded_at,
                });
            }
            EventPayload::ContactPersonHandedOver { to_organisation, to_professional, .. } => {
                self.contact_person = Some(ContactPerson {
                    organisation: to_organisation.clone(),
                    professional: to_professional.clone(),
                    since: event.recorded_at,
                });
            }
            EventPayload::AdvanceStatementRecorded { statement_id, occasion, text, supersedes } => {
                if let Some(old) = supersedes
                    .as_ref()
                    .and_then(|old| self.advance_statements.iter_mut().find(|s| &s.statement_id == old))
                {
                    old.superseded_by = Some(statement_id.clone());
                }
                self.advance_statements.push(AdvanceStatement {
                    statement_id: statement_id.clone(),
                    occasion: *occasion,
                    text: text.clone(),
                    superseded_by: None,
                    recorded_at: event.recorded_at,
                });
            }
            EventPayload::RelativeRegistered(relative) => self.relatives.push(relative.clone()),
            EventPayload::RelativeInvolvementChanged { relative_id, involvement } => {
                if let Some(relative) = self.relatives.iter_mut().find(|r| &r.relative_id == relative_id) {
                    relative.involvement = *involvement;
                }
            }
            EventPayload::ConsentRecorded(terms) => self.consents.push(Consent {
                terms: terms.clone(),
                purpose: None,
                document_reference: None,
                recorded_at: event.recorded_at,
                recorded_by: event.actor.organisation.clone(),
                withdrawn_at: None,
            }),
            EventPayload::ConsentGiven { terms, purpose, document_reference } => self.consents.push(Consent {
                terms: terms.clone(),
                purpose: Some(purpose.clone()),
                document_reference: document_reference.clone(),
                recorded_at: event.recorded_at,
                recorded_by: event.actor.organisation.clone(),
                withdrawn_at: None,
            }),
            EventPayload::ObjectionRecorded(terms) => self.objections.push(Objection {
                terms: terms.clone(),
                recorded_at: event.recorded_at,
                recorded_by: event.actor.organisation.clone(),
                withdrawn_at: None,
            }),
            EventPayload::ObjectionWithdrawn { objection_id, .. } => {
                if let Some(objection) = self.objections.iter_mut().find(|o| &o.terms.objection_id == objection_id) {
                    objection.withdrawn_at = Some(event.recorded_at);
                }
            }
            EventPayload::CitizenInformedOfEmergencyAccess { grant_id, informed_on } => {
                if let Some(grant) = self.emergency_grants.iter_mut().find(|g| &g.grant_id == grant_id) {
                    grant.citizen_informed_on = Some(*informed_on);
                }
            }
            EventPayload::ConsentWithdrawn { consent_id, .. } => {
                if let Some(consent) = self.consents.iter_mut().find(|c| &c.terms.consent_id == consent_id) {
                    consent.withdrawn_at = Some(event.recorded_at);
                }
            }
            EventPayload::EmergencyAccessGranted { .. } => {
                self.emergency_grants.extend(EmergencyGrant::granted_by(event))
            }
            EventPayload::MilestoneRecorded { milestone, occurred_on, started, stopped } => {
                match milestone {
                    Milestone::DischargePlanned { expected } => {
                        self.discharge = Some(Discharge::new(*occurred_on, *expected));
                    }
                    Milestone::NetworkMeetingHeld => {
                        if let Some(discharge) = self.discharge.as_mut().filter(|d| d.is_open()) {
                            discharge.network_meeting_held_on = Some(*occurred_on);
                        }
                    }
                    _ => {}
                }
                for clock in self.clocks.iter_mut().filter(|c| stopped.contains(&c.clock_id)) {
                    clock.state = ClockState::Stopped { on: *occurred_on };
                }
                self.start_clocks(started, *occurred_on, event);
            }
            EventPayload::NetworkMeetingCalled { started, .. } => {
                self.start_clocks(started, event.recorded_at.date(), event);
            }
            EventPayload::ClockPaused { clock_id, reason, on } => {
                if let Some(clock) = self.clock_mut(clock_id) {
                    clock.state = ClockState::Paused { since: *on, reason: reason.clone() };
                }
            }
            EventPayload::ClockResumed { clock_id, due_on, .. } => {
                if let Some(clock) = self.clock_mut(clock_id) {
                    clock.state = ClockState::Running;
                    clock.due_on = *due_on;
                }
            }
            EventPayload::ClockBasisSet { clock_id, basis } => {
                if let Some(clock) = self.clock_mut(clock_id) {
                    clock.basis = *basis;
                }
            }
            EventPayload::ClockEnded { clock_id, reason, on } => {
                if let Some(clock) = self.clock_mut(clock_id) {
                    clock.state = ClockState::Ended { on: *on, reason: *reason };
                }
            }
            EventPayload::ClockOverdue { clock_id, .. } => {
                if let Some(clock) = self.clock_mut(clock_id) {
                    clock.overdue_recorded = true;
                }
            }
            EventPayload::IndsatsplanStarted { next_meeting } => {
                self.indsatsplan = Some(Indsatsplan {
                    started_by: event.actor.organisation.clone(),
                    started_on: event.recorded_at.date(),
                    version: 1,
                    next_meeting: *next_meeting,
                    priorities: BTreeMap::new(),
                    signatures: Vec::new(),
                    citizen_acceptance: None,
                });
            }
            EventPayload::IndsatsplanMeetingSet { next_meeting } => {
                if let Some(plan) = &mut self.indsatsplan {
                    plan.next_meeting = *next_meeting;
                }
            }
            EventPayload::IndsatsActionPrioritised { activity_id, priority } => {
                if let Some(plan) = &mut self.indsatsplan {
                    plan.priorities.insert(activity_id.clone(), *priority);
                }
            }
            EventPayload::IndsatsplanSigned { version, sides, .. } => {
                if let Some(plan) = &mut self.indsatsplan {
                    plan.signatures.extend(sides.iter().map(|side| Signature {
                        side: *side,
                        organisation: event.actor.organisation.clone(),
                        professional: event.actor.professional.clone(),
                        version: *version,
                        signed_at: event.recorded_at,
                    }));
                }
            }
            EventPayload::IndsatsplanAccepted { version, .. } => {
                if let Some(plan) = &mut self.indsatsplan {
                    plan.citizen_acceptance = Some(Acceptance {
                        version: *version,
                        recorded_by: event.actor.organisation.clone(),
                        accepted_at: event.recorded_at,
                    });
                }
            }
            EventPayload::IndsatsplanReopened { .. } => {}
            EventPayload::DischargeCoordinatorOffered { .. }
            | EventPayload::DischargeCoordinatorOfferAnswered { .. }
            | EventPayload::NetworkMeetingRequested { .. }
            | EventPayload::NetworkMeetingAskedFor { .. }
            | EventPayload::AdvanceStatementsRequested { .. }
            | EventPayload::NextContactPersonAgreed { .. }
            | EventPayload::DischargeCompleted { .. } => {}
        }
        if let Some(discharge) = self.discharge.as_mut().filter(|d| d.is_open()) {
            discharge::apply(discharge, event);
        }
    }

    pub fn clock(&self, clock_id: &str) -> Option<&Clock> {
        self.clocks.iter().find(|c| c.clock_id == clock_id)
    }

    fn clock_mut(&mut self, clock_id: &str) -> Option<&mut Clock> {
        self.clocks.iter_mut().find(|c| c.clock_id == clock_id)
    }

    pub fn activity(&self, activity_id: &str) -> Option<&Activity> {
        self.activities.iter().find(|a| a.activity_id == activity_id)
    }

    pub fn member(&self, member_id: &str) -> Option<&CareTeamMember> {
        self.care_team.iter().find(|m| m.member_id == member_id)
    }

    pub fn goal(&self, goal_id: &str) -> Option<&Goal> {
        self.goals.iter().find(|g| g.goal_id == goal_id)
    }

    fn goal_mut(&mut self, goal_id: &str) -> Option<&mut Goal> {
        self.goals.iter_mut().find(|g| g.goal_id == goal_id)
    }

    /// Whether `organisation` is on the care team at `now`.
    /// Clocks an event started on `on`, the event's organisation responsible for them.
    fn start_clocks(&mut self, started: &[StartedClock], on: Date, event: &RecordedEvent) {
        self.clocks.extend(started.iter().map(|s| Clock {
            clock_id: s.clock_id.clone(),
            kind: s.kind,
            started_on: on,
            due_on: s.due_on,
            source: s.source.clone(),
            responsible: event.actor.organisation.clone(),
            responsible_sector: event.actor.sector,
            basis: s.kind.basis(),
            state: ClockState::Running,
            overdue_recorded: false,
        }));
    }

    pub fn is_member(&self, organisation: &OrganisationId, now: Timestamp) -> bool {
        self.care_team.iter().any(|m| &m.organisation == organisation && m.is_active_at(now))
    }
}
