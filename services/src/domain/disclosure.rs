//! What each part of a plan reveals about the citizen: the one place that
//! decides, for every event type, plan field and clock, which categories of
//! information a recipient must be allowed to see before it is shown.
//!
//! An item reveals its own category and the category of every organisation
//! it names: a health service's part in the plan is health information (an
//! addiction service on the team tells of substance abuse; a ward names a
//! psychiatric admission). Social services and the job centre taking part is
//! coordination of the plan itself. Events are shown whole or not at all; a
//! plan is shown with what the caller may not see left out. Who is named in
//! what is shown — the author of an event, the contact person, a clock's
//! responsible organisation, a consent's recipient — follows one rule,
//! [`Audience::names`], so that a name withheld tells nothing.

use super::consent::{ConsentTerms, ObjectionTerms};
use super::deadlines::{ClockKind, Milestone, Trigger};
use super::event::EventPayload;
use super::model::LegalPlanType;
use super::model::{DataCategory, OrganisationId, Sector};
use super::plan::{Activity, Plan};
use super::trail::Trail;

use DataCategory::*;

/// What a care-team membership of `sector` reveals: the plan itself for
/// organisations whose taking part tells nothing more.
pub fn membership_reveals(sector: Sector) -> DataCategory {
    match sector {
        Sector::RegionalPsychiatry => Psychiatric,
        Sector::AddictionService => SubstanceAbuse,
        Sector::MunicipalSocial | Sector::JobCentre | Sector::Citizen => PlanAndContact,
    }
}

/// What naming `organisation` in `plan` reveals. An organisation the plan
/// does not know (it never does: every one named is on the care team) is
/// taken as a health service, which discloses less.
pub fn organisation_reveals(plan: &Plan, organisation: &OrganisationId) -> DataCategory {
    plan.care_team
        .iter()
        .find(|m| &m.organisation == organisation)
        .map_or(Psychiatric, |m| membership_reveals(m.sector))
}

/// What a clock of `kind` reveals: a clock on the indsatsplan or on
/// integrated treatment tells of a dual diagnosis.
pub fn clock_reveals(kind: ClockKind) -> &'static [DataCategory] {
    match kind {
        ClockKind::Assessment
        | ClockKind::InformationDuty
        | ClockKind::TreatmentSerious
        | ClockKind::TreatmentOther => &[Psychiatric],
        ClockKind::AddictionTreatment
        | ClockKind::DoctorConsultation
        | ClockKind::AlcoholTreatment
        | ClockKind::SocialDrugTreatment
        | ClockKind::MedicalDrugTreatment => &[SubstanceAbuse],
        ClockKind::DualDiagnosisTreatment | ClockKind::IndsatsplanMeeting => &[Psychiatric, SubstanceAbuse],
        ClockKind::NetworkMeeting => &[DischargeCoordination],
    }
}

/// What recording `milestone` reveals.
pub fn milestone_reveals(milestone: &Milestone) -> Vec<DataCategory> {
    trigger_reveals(milestone.trigger()).to_vec()
}

/// What an event that starts or meets clocks reveals, whatever the deadline
/// table makes of it: fixed here, so that no table can widen who learns what
/// (a table whose clock would reveal more than the events it names is refused).
pub fn trigger_reveals(trigger: Trigger) -> &'static [DataCategory] {
    use Trigger::*;
    match trigger {
        ReferredForAssessment
        | AssessmentCompletedSerious
        | AssessmentCompletedOther
        | AssessmentPlanGiven
        | PatientInformed
        | PsychiatricTreatmentStarted => &[Psychiatric],
        AlcoholTreatmentRequested
        | AlcoholTreatmentStarted
        | DrugTreatmentRequestedMedical
        | DrugTreatmentRequestedSocial
        | DoctorConsultationHeld
        | DrugTreatmentStartedMedical
        | DrugTreatmentStartedSocial
        | AddictionTreatmentRequested
        | AddictionTreatmentStarted => &[SubstanceAbuse],
        ReferredForDualDiagnosisTreatment | DualDiagnosisTreatmentStarted | IndsatsplanMeetingHeld => {
            &[Psychiatric, SubstanceAbuse]
        }
        DischargePlanned | NetworkMeetingCalled | NetworkMeetingHeld => &[DischargeCoordination],
    }
}

/// The koordinerende indsatsplan exists only for a dual diagnosis.
pub const INDSATSPLAN_REVEALS: &[DataCategory] = &[Psychiatric, SubstanceAbuse];
/// An emergency access is taken by a health professional, in treatment.
pub const EMERGENCY_REVEALS: &[DataCategory] = &[PlanAndContact, Psychiatric, SubstanceAbuse];

/// Every category `payload` reveals, looking up the items it names in `plan`
/// (the plan before the event, or any later state: items are never removed
/// and never change category). The event's author is not part of this; see
/// [`shows_organisation`].
pub fn event_reveals(payload: &EventPayload, plan: &Plan) -> Vec<DataCategory> {
    use EventPayload::*;
    let org = |id: &OrganisationId| organisation_reveals(plan, id);
    let member = |id: &str| plan.member(id).map_or(Psychiatric, |m| membership_reveals(m.sector));
    let goal = |id: &str| plan.goal(id).map_or(Psychiatric, |g| g.category);
    let clock = |id: &str| plan.clock(id).map_or(&[Psychiatric][..], |c| clock_reveals(c.kind)).to_vec();
    let consent = |id: &str| {
        plan.consents.iter().find(|c| c.terms.consent_id == id).map_or(vec![Psychiatric], |c| consent_reveals(&c.terms))
    };
    let objection = |id: &str| {
        plan.objections
            .iter()
            .find(|o| o.terms.objection_id == id)
            .map_or(vec![Psychiatric], |o| objection_reveals(&o.terms))
    };
    let activity = |id: &str| plan.activity(id).map_or(vec![Psychiatric], |a| activity_reveals(plan, a));
    let revealed = match payload {
        PlanCreated { first_member: m, .. }
        | CareTeamMemberAdded(m)
        | CareTeamJoined { member: m, .. }
        | CareTeamMemberInvited { member: m, .. } => vec![membership_reveals(m.sector)],
        CareTeamMembershipEnded { member_id, .. } => vec![member(member_id)],
        PlanActivated
        | PlanPutOnHold { .. }
        | PlanResumed
        | PlanClosed { .. }
        | PlanReopened { .. }
        | RelativeRegistered(_)
        | RelativeInvolvementChanged { .. } => vec![],
        GoalAdded { category, .. } => vec![*category],
        GoalRevised { goal_id, .. } | GoalAssessed { goal_id, .. } | GoalEnded { goal_id, .. } => vec![goal(goal_id)],
        SectionOwnershipTaken { section, organisation, .. } => vec![section.category(), org(organisation)],
        SectionOwnershipTransferred { section, from, to, .. } => vec![section.category(), org(from), org(to)],
        ActivityAdded(a) => activity_reveals(plan, a),
        ActivityStatusChanged { activity_id, .. } | IndsatsActionPrioritised { activity_id, .. } => {
            let mut categories = activity(activity_id);
            if matches!(payload, IndsatsActionPrioritised { .. }) {
                categories.extend_from_slice(INDSATSPLAN_REVEALS);
            }
            categories
        }
        // That there is a contact person is the plan's; who it is, the answer
        // withholds where naming them would tell more (as for the plan's field).
        ContactPersonAssigned { .. } | ContactPersonHandedOver { .. } => vec![],
        AdvanceStatementRecorded { .. } => vec![Psychiatric],
        ConsentRecorded(terms) | ConsentGiven { terms, .. } => consent_reveals(terms),
        ConsentWithdrawn { consent_id, .. } => consent(consent_id),
        ObjectionRecorded(terms) => objection_reveals(terms),
        ObjectionWithdrawn { objection_id, .. } => objection(objection_id),
        EmergencyAccessGranted { .. } | CitizenInformedOfEmergencyAccess { .. } => EMERGENCY_REVEALS.to_vec(),
        MilestoneRecorded { milestone, .. } => milestone_reveals(milestone),
        ClockPaused { clock_id, .. }
        | ClockResumed { clock_id, .. }
        | ClockOverdue { clock_id, .. }
        | ClockEnded { clock_id, .. }
        | ClockBasisSet { clock_id, .. } => clock(clock_id),
        IndsatsplanStarted { .. }
        | IndsatsplanMeetingSet { .. }
        | IndsatsplanSigned { .. }
        | IndsatsplanAccepted { .. }
        | IndsatsplanReopened { .. } => INDSATSPLAN_REVEALS.to_vec(),
        DischargeCoordinatorOffered { .. } | DischargeCoordinatorOfferAnswered { .. } => {
            vec![DischargeCoordination, Employment]
        }
        NetworkMeetingRequested { .. }
        | NetworkMeetingCalled { .. }
        | NetworkMeetingAskedFor { .. }
        | AdvanceStatementsRequested { .. }
        | DischargeCompleted { .. } => vec![DischargeCoordination],
        NextContactPersonAgreed { .. } => vec![DischargeCoordination],
    };
    PlanAndContact.with(&revealed)
}

/// What the legal plan an activity belongs to tells: a koordinerende
/// indsatsplan a dual diagnosis, an udskrivningsaftale or koordinationsplan a
/// discharge from a psychiatric ward, wherever it is written.
pub fn legal_plan_reveals(legal_plan: LegalPlanType) -> &'static [DataCategory] {
    match legal_plan {
        LegalPlanType::KoordinerendeIndsatsplan => INDSATSPLAN_REVEALS,
        LegalPlanType::Udskrivningsaftale | LegalPlanType::Koordinationsplan => &[DischargeCoordination],
        LegalPlanType::Behandlingsplan
        | LegalPlanType::Handleplan
        | LegalPlanType::Jobplan
        | LegalPlanType::Rehabiliteringsplan => &[],
    }
}

/// What an activity reveals: its section, its responsible organisation and its legal plan.
pub fn activity_reveals(plan: &Plan, activity: &Activity) -> Vec<DataCategory> {
    let mut revealed =
        vec![activity.section.category(), organisation_reveals(plan, &activity.responsible_organisation)];
    revealed.extend_from_slice(legal_plan_reveals(activity.legal_plan_type));
    revealed
}

/// What a consent reveals: the categories it names. Its recipient and its
/// recorder are named only where the answer may name them (see [`Audience::names`]).
pub fn consent_reveals(terms: &ConsentTerms) -> Vec<DataCategory> {
    PlanAndContact.with(&terms.categories)
}

/// What an objection reveals: the categories it names; its recipient as for a consent.
pub fn objection_reveals(terms: &ObjectionTerms) -> Vec<DataCategory> {
    PlanAndContact.with(&terms.categories)
}

/// The category an event is filed under: the most specific it reveals.
pub fn primary(revealed: &[DataCategory]) -> DataCategory {
    revealed.iter().copied().find(|c| *c != PlanAndContact).unwrap_or(PlanAndContact)
}

/// Who an answer is for: the recipient's organisation and the categories it sees.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Audience {
    pub organisation: OrganisationId,
    pub categories: Vec<DataCategory>,
}

impl Audience {
    /// Whether the answer may name `organisation` as the one acting, responsible
    /// or contact person. Withholding only health services would itself tell
    /// that one is there; so a recipient that does not see both psychiatric and
    /// substance-abuse information is told the name of its own organisation
    /// only, and "withheld" says nothing about who it is.
    pub fn names(&self, organisation: &str) -> bool {
        organisation == self.organisation.as_str()
            || (self.categories.contains(&Psychiatric) && self.categories.contains(&SubstanceAbuse))
    }
}

/// Whether a writer that sees `categories` may know that `organisation` is on
/// the team of `plan` (and so may name it in a command).
pub fn shows_organisation(plan: &Plan, organisation: &OrganisationId, categories: &[DataCategory]) -> bool {
    categories.contains(&organisation_reveals(plan, organisation))
}

/// Whether a recipient that sees `categories` may see an item that reveals `revealed`.
pub fn shows(revealed: &[DataCategory], categories: &[DataCategory]) -> bool {
    revealed.iter().all(|c| categories.contains(c))
}

/// `plan` with every item a recipient that sees `categories` may not see left
/// out. Who is named in what is left is the answer's business: see [`Audience::names`].
pub fn redacted(plan: &Plan, categories: &[DataCategory]) -> Plan {
    let sees = |c: DataCategory| categories.contains(&c);
    let org = |id: &OrganisationId| sees(organisation_reveals(plan, id));
    let mut shown = plan.clone();
    shown.goals.retain(|g| sees(g.category));
    shown.sections.retain(|section, owner| sees(section.category()) && org(&owner.organisation));
    shown.activities.retain(|a| shows(&activity_reveals(plan, a), categories));
    shown.care_team.retain(|m| sees(membership_reveals(m.sector)));
    shown.clocks.retain(|c| shows(clock_reveals(c.kind), categories));
    if !sees(Psychiatric) {
        shown.advance_statements.clear();
    }
    if !shows(INDSATSPLAN_REVEALS, categories) {
        shown.indsatsplan = None;
    }
    if !sees(DischargeCoordination) {
        shown.discharge = None;
    }
    if let Some(discharge) = &mut shown.discharge
        && !sees(Employment)
    {
        discharge.coordinator = None;
    }
    shown.consents.retain(|c| shows(&consent_reveals(&c.terms), categories));
    shown.objections.retain(|o| shows(&objection_reveals(&o.terms), categories));
    if !shows(EMERGENCY_REVEALS, categories) {
        shown.emergency_grants.clear();
    }
    if !sees(PlanAndContact) {
        shown.status_reason = None;
        shown.relatives.clear();
    }
    // Counted from what the recipient may see: see `trail`.
    shown.version = plan.trail.shown_version(categories);
    shown.updated_at = plan.trail.shown_update(categories).unwrap_or(plan.created_at);
    shown.trail = Trail::default();
    shown
}
