//! The commands a care-team member can give a plan: what each is called,
//! which category of information it writes, and whether a section's owner
//! alone may give it. What a command does is [`super::decide`]'s business.

use serde::{Deserialize, Serialize};

use super::deadlines::Milestone;
use super::discharge::DischargeCommand;
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
        }
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
            | Command::SignIndsatsplan { .. } => DataCategory::Psychiatric,
            Command::RecordMilestone { milestone, .. } => milestone.category(),
            Command::Discharge(step) => step.category(),
            Command::PauseClock { clock_id, .. } | Command::ResumeClock { clock_id } => {
                plan.clock(clock_id).map_or(DataCategory::PlanAndContact, |c| c.kind.category())
            }
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
            | Command::WithdrawConsent { .. } => DataCategory::PlanAndContact,
        }
    }
}
