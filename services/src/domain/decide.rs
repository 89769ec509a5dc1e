//! The rules that turn a command on a plan into events. `decide` is pure:
//! given the plan and the command, it returns the events to append, or why
//! not. Nothing here touches storage or the network.

use super::citizen;
use super::command::Command;
use super::consent;
use super::deadlines::{self, DeadlineRules};
use super::discharge;
use super::disclosure;
use super::error::DomainError;
use super::event::EventPayload;
use super::indsatsplan;
use super::model::*;
use super::plan::{Activity, CareTeamMember, Plan, Relative};
use super::policy;
use super::rules::{OwnershipRules, legal_plan_fits};

/// What a decision may depend on besides the plan and the command.
#[derive(Clone, Copy, Debug)]
pub struct Context<'a> {
    pub actor: &'a Actor,
    pub now: Timestamp,
    /// Where the ids of the items the decision adds come from.
    pub ids: IdSeed,
    pub rules: &'a OwnershipRules,
    pub deadlines: &'a DeadlineRules,
}

impl Context<'_> {
    fn today(&self) -> Date {
        self.now.date()
    }
}

/// Decides `command` on `plan` for a care-team member or the plan's own
/// citizen: what it may touch is checked before (an item it may not see is
/// one that does not exist) and what it caused after (it may not cause an
/// event it could not read).
pub fn decide(plan: &Plan, command: &Command, ctx: Context<'_>) -> Result<Vec<EventPayload>, DomainError> {
    if !policy::takes_part(plan, ctx.actor, ctx.now) {
        return Err(DomainError::PlanNotFound);
    }
    let sees = policy::member_sees(plan, ctx.actor, ctx.now);
    if !command.touches(plan).iter().all(|c| sees.contains(c)) {
        return Err(match command.item_reference() {
            Some((field, what)) => no_such(field, what),
            None => policy::not_writable(),
        });
    }
    policy::may_write(ctx.actor, &sees, plan, command, ctx.now)?;
    let mut events = decide_seen(plan, command, ctx, &sees)?;
    events.extend(deadlines::bases(&events, ctx.deadlines, ctx.today()));
    // A consent or an objection names its recipient as the writer chose it;
    // their own rules check what they name (see `consent`).
    let names_recipient = matches!(command, Command::RecordConsent { .. } | Command::RecordObjection { .. });
    if let Some(first) = events.first().filter(|_| !names_recipient) {
        policy::may_cause(&sees, plan, first)?;
    }
    Ok(events)
}

fn decide_seen(
    plan: &Plan,
    command: &Command,
    ctx: Context<'_>,
    sees: &[DataCategory],
) -> Result<Vec<EventPayload>, DomainError> {
    let today = ctx.today();
    let visible_member = |field, organisation: &OrganisationId| {
        require_member(field, plan, organisation, ctx.now)?;
        if disclosure::shows_organisation(plan, organisation, sees) {
            Ok(())
        } else {
            Err(DomainError::invalid(field, "is not on the care team"))
        }
    };
    if plan.status == PlanStatus::Closed && !matches!(command, Command::ReopenPlan { .. }) {
        return Err(DomainError::precondition("PLAN_CLOSED", "the plan is closed; reopen it first"));
    }
    let event = match command {
        Command::ActivatePlan => {
            require_status(plan, PlanStatus::Draft, "only a draft plan can be activated")?;
            if plan.contact_person.is_none() {
                return Err(DomainError::precondition(
                    "CONTACT_PERSON_MISSING",
                    "a plan needs a coordinating contact person before it is activated",
                ));
            }
            EventPayload::PlanActivated
        }
        Command::PutPlanOnHold { reason } => {
            require_status(plan, PlanStatus::Active, "only an active plan can be put on hold")?;
            EventPayload::PlanPutOnHold { reason: reason.clone() }
        }
        Command::ResumePlan => {
            require_status(plan, PlanStatus::OnHold, "only a plan on hold can be resumed")?;
            EventPayload::PlanResumed
        }
        Command::ClosePlan { reason } => EventPayload::PlanClosed { reason: reason.clone() },
        Command::ReopenPlan { reason } => {
            require_status(plan, PlanStatus::Closed, "only a closed plan can be reopened")?;
            EventPayload::PlanReopened { reason: reason.clone() }
        }
        Command::AddGoal { text, category } => {
            EventPayload::GoalAdded { goal_id: ctx.ids.id("goal", 0), text: text.clone(), category: *category }
        }
        Command::ReviseGoal { goal_id, text } => {
            active_goal(plan, goal_id)?;
            EventPayload::GoalRevised { goal_id: goal_id.clone(), text: text.clone() }
        }
        Command::AssessGoal { goal_id, achievement } => {
            plan.goal(goal_id).ok_or_else(|| no_such("goal_id", "goal"))?;
            EventPayload::GoalAssessed { goal_id: goal_id.clone(), achievement: *achievement }
        }
        Command::EndGoal { goal_id, reason } => {
            active_goal(plan, goal_id)?;
            EventPayload::GoalEnded { goal_id: goal_id.clone(), reason: reason.clone() }
        }
        Command::TakeSectionOwnership { section } => {
            if plan.sections.contains_key(section) {
                return Err(DomainError::precondition(
                    "SECTION_ALREADY_OWNED",
                    "the section has an owner; ask the owner to transfer it",
                ));
            }
            if !ctx.rules.may_own(ctx.actor.sector, *section, today) {
                return Err(DomainError::forbidden(
                    "SECTOR_MAY_NOT_OWN_SECTION",
                    "organisations of the caller's sector may not own this section",
                ));
            }
            EventPayload::SectionOwnershipTaken {
                section: *section,
                organisation: ctx.actor.organisation.clone(),
                effective: today,
            }
        }
        Command::TransferSectionOwnership { section, to } => {
            require_section_owner(plan, *section, ctx.actor)?;
            if to.id == ctx.actor.organisation {
                return Err(DomainError::invalid("to_organisation_id", "already owns the section"));
            }
            if !ctx.rules.may_own(to.sector, *section, today) {
                return Err(DomainError::invalid(
                    "to_organisation_id",
                    "organisations of that sector may not own this section",
                ));
            }
            visible_member("to_organisation_id", &to.id)?;
            EventPayload::SectionOwnershipTransferred {
                section: *section,
                from: ctx.actor.organisation.clone(),
                to: to.id.clone(),
                effective: today,
            }
        }
        Command::AddActivity {
            section,
            title,
            legal_plan_type,
            responsible_professional,
            start_date,
            end_date,
            goal_ids,
        } => {
            require_section_owner(plan, *section, ctx.actor)?;
            if !legal_plan_fits(*section, *legal_plan_type) {
                return Err(DomainError::invalid("legal_plan_type", "does not belong in this section"));
            }
            check_period("end_date", *start_date, *end_date)?;
            for goal_id in goal_ids {
                active_goal(plan, goal_id)
                    .ok()
                    .filter(|goal| sees.contains(&goal.category))
                    .ok_or_else(|| DomainError::invalid("goal_ids", "names no active goal of the plan"))?;
            }
            EventPayload::ActivityAdded(Activity {
                activity_id: ctx.ids.id("activity", 0),
                section: *section,
                title: title.clone(),
                legal_plan_type: *legal_plan_type,
                responsible_organisation: ctx.actor.organisation.clone(),
                responsible_professional: responsible_professional.clone(),
                status: ActivityStatus::Planned,
                start_date: *start_date,
                end_date: *end_date,
                goal_ids: goal_ids.clone(),
            })
        }
        Command::ChangeActivityStatus { activity_id, status } => {
            let activity = plan.activity(activity_id).ok_or_else(|| no_such("activity_id", "activity"))?;
            require_section_owner(plan, activity.section, ctx.actor)?;
            if !activity.status.can_move_to(*status) {
                return Err(DomainError::precondition(
                    "ACTIVITY_STATUS_TRANSITION",
                    "activities move planned -> in progress -> completed, or to cancelled before completion",
                ));
            }
            EventPayload::ActivityStatusChanged { activity_id: activity_id.clone(), from: activity.status, to: *status }
        }
        Command::AddCareTeamMember { organisation, professional, role, start_date, end_date, ground } => {
            check_period("end_date", *start_date, *end_date)?;
            if organisation.sector == Sector::Citizen {
                return Err(DomainError::invalid(
                    "organisation_id",
                    "a citizen portal does not join the care team; the citizen reads their own plan through it",
                ));
            }
            if matches!(role, ProfessionalRole::Citizen | ProfessionalRole::Representative) {
                return Err(DomainError::invalid(
                    "role",
                    "the citizen and their representative are not care-team members; they act through a citizen portal",
                ));
            }
            // Before anything that depends on the team: one may not invite an
            // organisation whose membership one could not see.
            if !sees.contains(&disclosure::membership_reveals(organisation.sector)) {
                return Err(policy::not_writable());
            }
            if ground.is_none() && !organisation.sector.is_health() {
                return Err(DomainError::invalid(
                    "ground",
                    "name the legal ground on which an organisation that is not a health service takes part",
                ));
            }
            let duplicate = plan.care_team.iter().any(|m| {
                m.is_open() && m.organisation == organisation.id && &m.professional == professional && m.role == *role
            });
            if duplicate {
                return Err(DomainError::precondition("ALREADY_ON_CARE_TEAM", "that membership is already open"));
            }
            let member = CareTeamMember {
                member_id: ctx.ids.id("member", 0),
                organisation: organisation.id.clone(),
                sector: organisation.sector,
                professional: professional.clone(),
                role: *role,
                start_date: *start_date,
                end_date: *end_date,
                left_at: None,
            };
            match ground {
                Some(ground) => EventPayload::CareTeamMemberInvited { member, ground: ground.clone() },
                None => EventPayload::CareTeamMemberAdded(member),
            }
        }
        Command::EndCareTeamMembership { member_id, end_date } => {
            let member = plan.member(member_id).ok_or_else(|| no_such("member_id", "care-team membership"))?;
            if !member.is_open() {
                return Err(DomainError::precondition("MEMBERSHIP_ENDED", "the membership has already ended"));
            }
            if *end_date < member.start_date {
                return Err(DomainError::invalid("end_date", "is before the membership started"));
            }
            let keeps_contact_person = plan.contact_person.as_ref().is_none_or(|cp| {
                cp.organisation != member.organisation
                    || plan
                        .care_team
                        .iter()
                        .any(|m| m.member_id != member.member_id && m.organisation == cp.organisation && m.is_open())
            });
            if !keeps_contact_person {
                return Err(DomainError::precondition(
                    "CONTACT_PERSON_ORGANISATION",
                    "the contact person's organisation would leave the care team; hand the contact person over first",
                ));
            }
            // Only members the caller may see count: a refusal must not tell of a hidden one.
            let ends_last_membership = plan.care_team.iter().all(|m| {
                m.member_id == member.member_id
                    || !m.is_open()
                    || !sees.contains(&disclosure::membership_reveals(m.sector))
            });
            if ends_last_membership {
                return Err(DomainError::precondition(
                    "LAST_CARE_TEAM_MEMBER",
                    "a plan keeps at least one care-team member",
                ));
            }
            EventPayload::CareTeamMembershipEnded { member_id: member_id.clone(), end_date: *end_date }
        }
        Command::AssignContactPerson { organisation, professional } => {
            if plan.contact_person.is_some() {
                return Err(DomainError::precondition(
                    "CONTACT_PERSON_ASSIGNED",
                    "the plan has a contact person; hand the role over instead",
                ));
            }
            visible_member("organisation_id", organisation)?;
            EventPayload::ContactPersonAssigned {
                organisation: organisation.clone(),
                professional: professional.clone(),
            }
        }
        Command::HandOverContactPerson {
            from_organisation,
            from_professional,
            to_organisation,
            to_professional,
            reason,
        } => {
            let current = plan.contact_person.as_ref().ok_or_else(|| {
                DomainError::precondition(
                    "CONTACT_PERSON_MISSING",
                    "the plan has no contact person to hand over; assign one",
                )
            })?;
            // A contact person the caller may not see is one it cannot name.
            if &current.organisation != from_organisation
                || &current.professional != from_professional
                || !(disclosure::Audience { organisation: ctx.actor.organisation.clone(), categories: sees.to_vec() })
                    .names(current.organisation.as_str())
            {
                return Err(DomainError::precondition(
                    "CONTACT_PERSON_CHANGED",
                    "from_* does not name the current contact person",
                ));
            }
            if from_organisation == to_organisation && from_professional == to_professional {
                return Err(DomainError::invalid("to_professional_id", "is already the contact person"));
            }
            visible_member("to_organisation_id", to_organisation)?;
            EventPayload::ContactPersonHandedOver {
                from_organisation: from_organisation.clone(),
                from_professional: from_professional.clone(),
                to_organisation: to_organisation.clone(),
                to_professional: to_professional.clone(),
                reason: reason.clone(),
            }
        }
        Command::RecordAdvanceStatement { occasion, text, supersedes } => {
            if let Some(old) = supersedes {
                let old = plan
                    .advance_statements
                    .iter()
                    .find(|s| &s.statement_id == old)
                    .ok_or_else(|| no_such("supersedes", "advance statement"))?;
                if old.superseded_by.is_some() {
                    return Err(DomainError::precondition(
                        "ALREADY_SUPERSEDED",
                        "that statement was already superseded; supersede the newest one",
                    ));
                }
            }
            EventPayload::AdvanceStatementRecorded {
                statement_id: ctx.ids.id("statement", 0),
                occasion: *occasion,
                text: text.clone(),
                supersedes: supersedes.clone(),
            }
        }
        Command::RegisterRelative { name, relation, involvement } => EventPayload::RelativeRegistered(Relative {
            relative_id: ctx.ids.id("relative", 0),
            name: name.clone(),
            relation: relation.clone(),
            involvement: *involvement,
        }),
        Command::ChangeRelativeInvolvement { relative_id, involvement } => {
            let relative = plan
                .relatives
                .iter()
                .find(|r| &r.relative_id == relative_id)
                .ok_or_else(|| no_such("relative_id", "relative"))?;
            if relative.involvement == *involvement {
                return Err(DomainError::precondition("UNCHANGED", "the involvement is already so"));
            }
            EventPayload::RelativeInvolvementChanged { relative_id: relative_id.clone(), involvement: *involvement }
        }
        Command::RecordConsent {
            recipient,
            categories,
            given_by,
            form,
            given_on,
            valid_until,
            purpose,
            document_reference,
        } => {
            citizen::check_giver(ctx.actor, *given_by)?;
            consent::record(
                plan,
                ctx.actor,
                sees,
                consent::Given {
                    recipient,
                    categories,
                    given_by: *given_by,
                    form: *form,
                    given_on: *given_on,
                    valid_until: *valid_until,
                    purpose,
                    document_reference,
                },
                today,
                ctx.ids,
            )?
        }
        Command::WithdrawConsent { consent_id, reason } => {
            let consent = plan
                .consents
                .iter()
                .find(|c| &c.terms.consent_id == consent_id)
                .ok_or_else(|| no_such("consent_id", "consent"))?;
            if consent.withdrawn_at.is_some() {
                return Err(DomainError::precondition("CONSENT_WITHDRAWN", "the consent has already been withdrawn"));
            }
            EventPayload::ConsentWithdrawn { consent_id: consent_id.clone(), reason: reason.clone() }
        }
        Command::RecordMilestone { milestone, occurred_on } => {
            discharge::may_record(ctx.actor, milestone)?;
            deadlines::record_milestone(plan, ctx.deadlines, milestone, *occurred_on, today, ctx.ids)?
        }
        Command::PauseClock { .. } | Command::ResumeClock { .. } | Command::StopClock { .. } => {
            deadlines::change_clock(plan, ctx.actor, ctx.deadlines, command, today)?
        }
        Command::StartIndsatsplan { next_meeting } => {
            indsatsplan::start(plan, ctx.actor, ctx.deadlines, *next_meeting, today)?
        }
        Command::SetIndsatsplanMeeting { next_meeting } => {
            indsatsplan::set_meeting(plan, ctx.actor, ctx.deadlines, *next_meeting, today)?
        }
        Command::PrioritiseIndsatsAction { activity_id, priority } => {
            indsatsplan::prioritise(plan, ctx.actor, activity_id, *priority)?
        }
        Command::SignIndsatsplan { version } => indsatsplan::sign(plan, ctx.actor, *version)?,
        Command::AcceptIndsatsplan { version } => indsatsplan::accept(plan, ctx.actor, *version)?,
        Command::Discharge(step) => {
            return discharge::decide(plan, ctx.actor, step, (ctx.now, ctx.deadlines, ctx.ids), sees);
        }
        Command::RecordObjection { recipient, categories, given_by, given_on } => {
            citizen::check_giver(ctx.actor, *given_by)?;
            consent::object(recipient, categories, *given_by, *given_on, today, ctx.ids)?
        }
        Command::WithdrawObjection { objection_id, reason } => {
            consent::withdraw_objection(plan, ctx.actor, sees, objection_id, reason, ctx.now)?
        }
        Command::RecordCitizenInformed { grant_id, informed_on } => {
            let grant = plan
                .emergency_grants
                .iter()
                .find(|g| &g.grant_id == grant_id)
                .ok_or_else(|| no_such("grant_id", "emergency access"))?;
            if grant.citizen_informed_on.is_some() {
                return Err(DomainError::precondition("CITIZEN_INFORMED", "the citizen has been told of it already"));
            }
            if *informed_on > today || *informed_on < grant.granted_at.date() {
                return Err(DomainError::invalid("informed_on", "must lie between the emergency access and today"));
            }
            EventPayload::CitizenInformedOfEmergencyAccess { grant_id: grant_id.clone(), informed_on: *informed_on }
        }
    };
    let mut events = vec![event];
    events.extend(indsatsplan::follow_up(plan, &events));
    Ok(events)
}

fn require_status(plan: &Plan, status: PlanStatus, message: &'static str) -> Result<(), DomainError> {
    if plan.status == status { Ok(()) } else { Err(DomainError::precondition("PLAN_STATUS", message)) }
}

fn require_section_owner(plan: &Plan, section: SectionKind, actor: &Actor) -> Result<(), DomainError> {
    match plan.sections.get(&section) {
        Some(owner) if owner.organisation == actor.organisation => Ok(()),
        Some(_) => Err(DomainError::forbidden("SECTION_NOT_OWNED", "only the section's owner writes it")),
        None => Err(DomainError::precondition(
            "SECTION_UNOWNED",
            "the section has no owner yet; take ownership of it first",
        )),
    }
}

fn require_member(
    field: &'static str,
    plan: &Plan,
    organisation: &OrganisationId,
    now: Timestamp,
) -> Result<(), DomainError> {
    if plan.is_member(organisation, now) { Ok(()) } else { Err(DomainError::invalid(field, "is not on the care team")) }
}

fn active_goal<'p>(plan: &'p Plan, goal_id: &str) -> Result<&'p super::plan::Goal, DomainError> {
    let goal = plan.goal(goal_id).ok_or_else(|| no_such("goal_id", "goal"))?;
    if goal.lifecycle == GoalLifecycle::Ended {
        return Err(DomainError::precondition("GOAL_ENDED", "the goal has ended"));
    }
    Ok(goal)
}

fn check_period(field: &'static str, start: Date, end: Option<Date>) -> Result<(), DomainError> {
    match end {
        Some(end) if end < start => Err(DomainError::invalid(field, "is before the start date")),
        _ => Ok(()),
    }
}

pub(super) fn no_such(field: &'static str, what: &'static str) -> DomainError {
    DomainError::invalid(field, format!("names no {what} of this plan"))
}
