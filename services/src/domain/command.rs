//! The commands a care-team member can give a plan: what each is called,
//! which category of information it writes, and whether a section's owner
//! alone may give it. What a command does is [`super::decide`]'s business.

use serde::{Deserialize, Serialize};

use super::deadlines::{Milestone, StopReason};
use super::discharge::DischargeCommand;
use super::disclosure;
use super::model::*;
use super::plan::Plan;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Command {
    ActivatePlan,
    PutPlanOnHold {
        reason: Text,
    },
    ResumePlan,
    ClosePlan {
        reason: Text,
    },
    ReopenPlan {
        reason: Text,
    },
    AddGoal {
        text: Text,
        category: DataCategory,
    },
    ReviseGoal {
        goal_id: String,
        text: Text,
    },
    AssessGoal {
        goal_id: String,
        achievement: GoalAchievement,
    },
    EndGoal {
        goal_id: String,
        reason: Text,
    },
    TakeSectionOwnership {
        section: SectionKind,
    },
    TransferSectionOwnership {
        section: SectionKind,
        to: OrganisationRef,
    },
    AddActivity {
        section: SectionKind,
        title: Text,
        legal_plan_type: LegalPlanType,
        responsible_professional: ProfessionalId,
        start_date: Date,
        end_date: Option<Date>,
        goal_ids: Vec<String>,
    },
    ChangeActivityStatus {
        activity_id: String,
        status: ActivityStatus,
    },
    AddCareTeamMember {
        organisation: OrganisationRef,
        professional: Option<ProfessionalId>,
        role: ProfessionalRole,
        start_date: Date,
        end_date: Option<Date>,
        /// The legal ground the organisation takes part on; required for an
        /// organisation that is not a health service.
        ground: Option<Text>,
    },
    EndCareTeamMembership {
        member_id: String,
        end_date: Date,
    },
    AssignContactPerson {
        organisation: OrganisationId,
        professional: ProfessionalId,
    },
    HandOverContactPerson {
        from_organisation: OrganisationId,
        from_professional: ProfessionalId,
        to_organisation: OrganisationId,
        to_professional: ProfessionalId,
        reason: Text,
    },
    RecordAdvanceStatement {
        occasion: AdvanceStatementOccasion,
        text: Text,
        supersedes: Option<String>,
    },
    RegisterRelative {
        name: Text,
        relation: Text,
        involvement: RelativeInvolvement,
    },
    ChangeRelativeInvolvement {
        relative_id: String,
        involvement: RelativeInvolvement,
    },
    RecordConsent {
        recipient: OrganisationRef,
        categories: Vec<DataCategory>,
        given_by: ConsentGiver,
        form: ConsentForm,
        given_on: Date,
        valid_until: Option<Date>,
        purpose: Text,
        /// Required for a written consent: where the document is kept.
        document_reference: Option<Text>,
    },
    WithdrawConsent {
        consent_id: String,
        reason: Text,
    },
    RecordMilestone {
        milestone: Milestone,
        occurred_on: Date,
    },
    PauseClock {
        clock_id: String,
        reason: Text,
    },
    ResumeClock {
        clock_id: String,
    },
    StartIndsatsplan {
        next_meeting: Date,
    },
    SetIndsatsplanMeeting {
        next_meeting: Date,
    },
    PrioritiseIndsatsAction {
        activity_id: String,
        priority: u32,
    },
    SignIndsatsplan {
        version: u32,
    },
    /// A step of the discharge flow.
    Discharge(DischargeCommand),
    /// The citizen objects to disclosure of `categories` to `recipient` (sundhedsloven § 41, stk. 3).
    RecordObjection {
        recipient: OrganisationRef,
        categories: Vec<DataCategory>,
        given_by: ConsentGiver,
        given_on: Date,
    },
    WithdrawObjection {
        objection_id: String,
        reason: Text,
    },
    /// The citizen was told of an emergency access (sundhedsloven § 43, stk. 4).
    RecordCitizenInformed {
        grant_id: String,
        informed_on: Date,
    },
    /// The citizen accepts `version` of the koordinerende indsatsplan.
    AcceptIndsatsplan {
        version: u32,
    },
    /// Ends a clock without the milestone that satisfies it.
    StopClock {
        clock_id: String,
        reason: StopReason,
    },
}

impl Command {
    /// The command's name, for the audit log and logs (never its content).
    pub fn name(&self) -> &'static str {
        match self {
            Command::ActivatePlan => "ActivatePlan",
            Command::PutPlanOnHold { .. } => "PutPlanOnHold",
            Command::ResumePlan => "ResumePlan",
            Command::ClosePlan { .. } => "ClosePlan",
            Command::ReopenPlan { .. } => "ReopenPlan",
            Command::AddGoal { .. } => "AddGoal",
            Command::ReviseGoal { .. } => "ReviseGoal",
            Command::AssessGoal { .. } => "AssessGoal",
            Command::EndGoal { .. } => "EndGoal",
            Command::TakeSectionOwnership { .. } => "TakeSectionOwnership",
            Command::TransferSectionOwnership { .. } => "TransferSectionOwnership",
            Command::AddActivity { .. } => "AddActivity",
            Command::ChangeActivityStatus { .. } => "ChangeActivityStatus",
            Command::AddCareTeamMember { .. } => "AddCareTeamMember",
            Command::EndCareTeamMembership { .. } => "EndCareTeamMembership",
            Command::AssignContactPerson { .. } => "AssignContactPerson",
            Command::HandOverContactPerson { .. } => "HandOverContactPerson",
            Command::RecordAdvanceStatement { .. } => "RecordAdvanceStatement",
            Command::RegisterRelative { .. } => "RegisterRelative",
            Command::ChangeRelativeInvolvement { .. } => "ChangeRelativeInvolvement",
            Command::RecordConsent { .. } => "RecordConsent",
            Command::WithdrawConsent { .. } => "WithdrawConsent",
            Command::RecordMilestone { .. } => "RecordMilestone",
            Command::PauseClock { .. } => "PauseClock",
            Command::ResumeClock { .. } => "ResumeClock",
            Command::StartIndsatsplan { .. } => "StartIndsatsplan",
            Command::SetIndsatsplanMeeting { .. } => "SetIndsatsplanMeeting",
            Command::PrioritiseIndsatsAction { .. } => "PrioritiseIndsatsAction",
            Command::SignIndsatsplan { .. } => "SignIndsatsplan",
            Command::Discharge(step) => step.name(),
            Command::RecordObjection { .. } => "RecordObjection",
            Command::WithdrawObjection { .. } => "WithdrawObjection",
            Command::RecordCitizenInformed { .. } => "RecordCitizenInformed",
            Command::AcceptIndsatsplan { .. } => "AcceptIndsatsplan",
            Command::StopClock { .. } => "StopClock",
        }
    }

    /// Whether rules of their own decide who gives the command, beyond
    /// holding its category: a section's owner, the discharge flow's steps,
    /// whoever may see the emergency access the citizen was told of, the
    /// citizen's acceptance of the indsatsplan (the citizen, or a side), and
    /// a clock's pauses and end (the service that owes the right).
    pub fn own_rules(&self) -> bool {
        self.writes_section()
            || matches!(
                self,
                Command::Discharge(_)
                    | Command::RecordCitizenInformed { .. }
                    | Command::AcceptIndsatsplan { .. }
                    | Command::PauseClock { .. }
                    | Command::ResumeClock { .. }
                    | Command::StopClock { .. }
            )
    }

    /// The field and kind of the plan item the command names, if any: one
    /// the caller may not see is answered as if it did not exist.
    pub fn item_reference(&self) -> Option<(&'static str, &'static str)> {
        match self {
            Command::ReviseGoal { .. } | Command::AssessGoal { .. } | Command::EndGoal { .. } => {
                Some(("goal_id", "goal"))
            }
            Command::ChangeActivityStatus { .. } | Command::PrioritiseIndsatsAction { .. } => {
                Some(("activity_id", "activity"))
            }
            Command::PauseClock { .. } | Command::ResumeClock { .. } | Command::StopClock { .. } => {
                Some(("clock_id", "clock"))
            }
            Command::EndCareTeamMembership { .. } => Some(("member_id", "care-team membership")),
            Command::WithdrawConsent { .. } => Some(("consent_id", "consent")),
            Command::WithdrawObjection { .. } => Some(("objection_id", "objection")),
            Command::RecordCitizenInformed { .. } => Some(("grant_id", "emergency access")),
            _ => None,
        }
    }

    /// Every category the command touches: what its writer must be able to
    /// see of the items it names, in [`DataCategory::ALL`] order. The
    /// organisations it names are checked where they are used: one the writer
    /// may not see is answered exactly as one not on the care team.
    pub fn touches(&self, plan: &Plan) -> Vec<DataCategory> {
        use disclosure::*;
        let touched: Vec<DataCategory> = match self {
            Command::ChangeActivityStatus { activity_id, .. }
            | Command::PrioritiseIndsatsAction { activity_id, .. } => {
                plan.activity(activity_id).map_or(vec![], |a| activity_reveals(plan, a))
            }
            Command::EndCareTeamMembership { member_id, .. } => {
                plan.member(member_id).map_or(vec![], |m| vec![membership_reveals(m.sector)])
            }
            // A consent's categories are checked as the data holder's (see `consent`),
            // so that a recipient recording one for itself hears exactly that.
            Command::RecordObjection { categories, .. } => categories.clone(),
            Command::WithdrawConsent { consent_id, .. } => plan
                .consents
                .iter()
                .find(|c| &c.terms.consent_id == consent_id)
                .map_or(vec![], |c| consent_reveals(&c.terms)),
            Command::WithdrawObjection { objection_id, .. } => plan
                .objections
                .iter()
                .find(|o| &o.terms.objection_id == objection_id)
                .map_or(vec![], |o| objection_reveals(&o.terms)),
            Command::RecordMilestone { milestone, .. } => milestone_reveals(milestone),
            Command::PauseClock { clock_id, .. }
            | Command::ResumeClock { clock_id }
            | Command::StopClock { clock_id, .. } => {
                plan.clock(clock_id).map_or(vec![], |c| clock_reveals(c.kind).to_vec())
            }
            Command::StartIndsatsplan { .. }
            | Command::SetIndsatsplanMeeting { .. }
            | Command::SignIndsatsplan { .. }
            | Command::AcceptIndsatsplan { .. } => INDSATSPLAN_REVEALS.to_vec(),
            Command::RecordCitizenInformed { .. } => EMERGENCY_REVEALS.to_vec(),
            Command::Discharge(step) => step.touches(),
            _ => vec![],
        };
        self.category(plan).with(&touched)
    }

    /// Whether the command writes a section, or the koordinerende indsatsplan
    /// of the psychiatry and addiction sections, which their owners alone may do.
    pub fn writes_section(&self) -> bool {
        matches!(
            self,
            Command::TakeSectionOwnership { .. }
                | Command::TransferSectionOwnership { .. }
                | Command::AddActivity { .. }
                | Command::ChangeActivityStatus { .. }
                | Command::StartIndsatsplan { .. }
                | Command::SetIndsatsplanMeeting { .. }
                | Command::PrioritiseIndsatsAction { .. }
                | Command::SignIndsatsplan { .. }
        )
    }

    /// The category of the information the command writes, for the access policy.
    pub fn category(&self, plan: &Plan) -> DataCategory {
        match self {
            Command::AddGoal { category, .. } => *category,
            Command::ReviseGoal { goal_id, .. }
            | Command::AssessGoal { goal_id, .. }
            | Command::EndGoal { goal_id, .. } => plan.goal(goal_id).map_or(DataCategory::Goals, |g| g.category),
            Command::TakeSectionOwnership { section }
            | Command::TransferSectionOwnership { section, .. }
            | Command::AddActivity { section, .. } => section.category(),
            Command::ChangeActivityStatus { activity_id, .. } => {
                plan.activity(activity_id).map_or(DataCategory::PlanAndContact, |a| a.section.category())
            }
            Command::RecordAdvanceStatement { .. }
            | Command::StartIndsatsplan { .. }
            | Command::SetIndsatsplanMeeting { .. }
            | Command::PrioritiseIndsatsAction { .. }
            | Command::SignIndsatsplan { .. }
            | Command::AcceptIndsatsplan { .. } => DataCategory::Psychiatric,
            Command::RecordMilestone { milestone, .. } => {
                disclosure::primary(&disclosure::milestone_reveals(milestone))
            }
            Command::Discharge(step) => step.category(),
            Command::PauseClock { clock_id, .. }
            | Command::ResumeClock { clock_id }
            | Command::StopClock { clock_id, .. } => plan
                .clock(clock_id)
                .map_or(DataCategory::PlanAndContact, |c| disclosure::primary(disclosure::clock_reveals(c.kind))),
            Command::RecordCitizenInformed { .. } => DataCategory::Psychiatric,
            Command::ActivatePlan
            | Command::PutPlanOnHold { .. }
            | Command::ResumePlan
            | Command::ClosePlan { .. }
            | Command::ReopenPlan { .. }
            | Command::AddCareTeamMember { .. }
            | Command::EndCareTeamMembership { .. }
            | Command::AssignContactPerson { .. }
            | Command::HandOverContactPerson { .. }
            | Command::RegisterRelative { .. }
            | Command::ChangeRelativeInvolvement { .. }
            | Command::RecordConsent { .. }
            | Command::WithdrawConsent { .. }
            | Command::RecordObjection { .. }
            | Command::WithdrawObjection { .. } => DataCategory::PlanAndContact,
        }
    }
}
