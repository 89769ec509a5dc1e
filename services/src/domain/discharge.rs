//! Discharge from a psychiatric ward, as one flow on the plan.
//!
//! The ward records the planned discharge (the `DischargePlanned` milestone,
//! with the expected date; it starts the network-meeting clock) and every
//! care-team organisation hears of it. The job centre may offer an
//! udskrivningskoordinator (a mentor: support may start up to 3 months before
//! the discharge and lasts at least 6 months) and records the citizen's
//! answer; the citizen may ask for a network meeting; the ward or social
//! services call it — the call starts its clock (a regional agreement, 5
//! working days in the default table) — to be held within
//! working days; the ward asks for advance statements; who takes over as
//! contact person can be agreed; and completing the discharge hands the
//! contact-person role over in the same step where that was agreed. Each
//! step is an event; [`Discharge::steps`] shows which are done, pending or
//! overdue.

use chrono::Months;
use serde::{Deserialize, Serialize};

use super::deadlines::{Clock, ClockKind, DeadlineRules, Trigger, start_clocks};
use super::error::DomainError;
use super::event::{EventPayload, RecordedEvent};
use super::model::{
    Actor, AdvanceStatementOccasion, DataCategory, Date, IdSeed, OrganisationId, ProfessionalId, Sector, Text,
    Timestamp,
};
use super::plan::Plan;

/// The job centre's offer of an udskrivningskoordinator.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CoordinatorOffer {
    pub offered_by: OrganisationId,
    pub mentor: ProfessionalId,
    pub start: Date,
    pub end: Date,
    /// The citizen's answer, once given.
    pub accepted: Option<bool>,
}

/// The contact person agreed to take over at discharge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NextContact {
    pub organisation: OrganisationId,
    pub professional: ProfessionalId,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discharge {
    pub planned_on: Date,
    pub expected_on: Date,
    pub coordinator: Option<CoordinatorOffer>,
    /// When the citizen asked for a network meeting, if they did.
    pub network_meeting_asked_on: Option<Date>,
    pub network_meeting_on: Option<Date>,
    pub network_meeting_held_on: Option<Date>,
    pub advance_statements_requested_on: Option<Date>,
    /// Whether an advance statement was recorded at discharge after the discharge was planned.
    pub advance_statement_recorded: bool,
    pub next_contact: Option<NextContact>,
    pub completed_on: Option<Date>,
}

/// Who asked for a network meeting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Asker {
    Citizen,
    /// A guardian (værge) or holder of a power of attorney.
    Representative,
    /// A relative (pårørende).
    Relative,
}

/// The steps that must happen, in order of the flow.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Step {
    NetworkMeetingRequested,
    NetworkMeetingHeld,
    AdvanceStatementsRequested,
    Completed,
    ContactPersonPassedOn,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepState {
    Done,
    Pending,
    /// Not done and past its deadline: the network meeting's clock, or the expected discharge date.
    Overdue,
}

impl Discharge {
    pub fn new(planned_on: Date, expected_on: Date) -> Self {
        Self {
            planned_on,
            expected_on,
            coordinator: None,
            network_meeting_asked_on: None,
            network_meeting_on: None,
            network_meeting_held_on: None,
            advance_statements_requested_on: None,
            advance_statement_recorded: false,
            next_contact: None,
            completed_on: None,
        }
    }

    pub fn is_open(&self) -> bool {
        self.completed_on.is_none()
    }

    /// The network-meeting clock of this discharge: started by its call (or,
    /// for discharges planned by earlier releases, by its planning).
    fn network_clock<'p>(&self, plan: &'p Plan) -> Option<&'p Clock> {
        plan.clocks.iter().rev().find(|c| c.kind == ClockKind::NetworkMeeting && c.started_on >= self.planned_on)
    }

    /// Where each step stands on `today`, given the plan's clocks and contact person.
    pub fn steps(&self, plan: &Plan, today: Date) -> Vec<(Step, StepState)> {
        let meeting_overdue = self.network_clock(plan).is_some_and(|c| c.is_overdue(today));
        let by_discharge = today > self.expected_on && self.is_open();
        let state = |done: bool, late: bool| match (done, late) {
            (true, _) => StepState::Done,
            (false, true) => StepState::Overdue,
            (false, false) => StepState::Pending,
        };
        let mut steps = vec![
            (
                Step::NetworkMeetingRequested,
                state(self.network_meeting_on.is_some() || self.network_meeting_held_on.is_some(), meeting_overdue),
            ),
            (Step::NetworkMeetingHeld, state(self.network_meeting_held_on.is_some(), meeting_overdue)),
            (Step::AdvanceStatementsRequested, state(self.advance_statements_requested_on.is_some(), by_discharge)),
            (Step::Completed, state(self.completed_on.is_some(), by_discharge)),
        ];
        if let Some(next) = &self.next_contact {
            let passed = plan
                .contact_person
                .as_ref()
                .is_some_and(|cp| cp.organisation == next.organisation && cp.professional == next.professional);
            steps.push((Step::ContactPersonPassedOn, state(passed, by_discharge)));
        }
        steps
    }
}

/// Applies a discharge event to the plan's discharge.
pub(super) fn apply(discharge: &mut Discharge, event: &RecordedEvent) {
    match &event.payload {
        EventPayload::DischargeCoordinatorOffered { mentor, start, end } => {
            discharge.coordinator = Some(CoordinatorOffer {
                offered_by: event.actor.organisation.clone(),
                mentor: mentor.clone(),
                start: *start,
                end: *end,
                accepted: None,
            });
        }
        EventPayload::DischargeCoordinatorOfferAnswered { accepted } => {
            if let Some(offer) = &mut discharge.coordinator {
                offer.accepted = Some(*accepted);
            }
        }
        EventPayload::NetworkMeetingAskedFor { on, .. } => discharge.network_meeting_asked_on = Some(*on),
        EventPayload::NetworkMeetingRequested { meeting_on }
        | EventPayload::NetworkMeetingCalled { meeting_on, .. } => discharge.network_meeting_on = Some(*meeting_on),
        EventPayload::AdvanceStatementsRequested { on } => discharge.advance_statements_requested_on = Some(*on),
        EventPayload::NextContactPersonAgreed { organisation, professional } => {
            discharge.next_contact =
                Some(NextContact { organisation: organisation.clone(), professional: professional.clone() });
        }
        EventPayload::DischargeCompleted { on } => discharge.completed_on = Some(*on),
        EventPayload::AdvanceStatementRecorded { occasion: AdvanceStatementOccasion::Discharge, .. } => {
            discharge.advance_statement_recorded = true;
        }
        _ => {}
    }
}

/// The commands of the flow, with what they need besides the plan.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DischargeCommand {
    OfferCoordinator {
        mentor: ProfessionalId,
        start: Date,
        end: Date,
    },
    AnswerCoordinatorOffer {
        accepted: bool,
    },
    RequestNetworkMeeting {
        meeting_on: Date,
    },
    RequestAdvanceStatements,
    AgreeNextContactPerson {
        organisation: OrganisationId,
        professional: ProfessionalId,
    },
    Complete {
        on: Date,
    },
    /// The citizen, their representative or a relative asks for a network
    /// meeting: through the citizen's portal, or as the ward or social
    /// services record it.
    AskForNetworkMeeting {
        by: Asker,
    },
}

impl DischargeCommand {
    pub fn name(&self) -> &'static str {
        match self {
            Self::OfferCoordinator { .. } => "OfferDischargeCoordinator",
            Self::AnswerCoordinatorOffer { .. } => "AnswerDischargeCoordinatorOffer",
            Self::RequestNetworkMeeting { .. } => "RequestNetworkMeeting",
            Self::RequestAdvanceStatements => "RequestAdvanceStatements",
            Self::AgreeNextContactPerson { .. } => "AgreeNextContactPerson",
            Self::Complete { .. } => "CompleteDischarge",
            Self::AskForNetworkMeeting { .. } => "AskForNetworkMeeting",
        }
    }

    /// What the step writes: the discharge's coordination, which only those
    /// with a ground for it may see (the ward; social services under an
    /// udskrivningsaftale; anyone else under the citizen's consent).
    pub fn category(&self) -> DataCategory {
        DataCategory::DischargeCoordination
    }

    /// What the step touches besides: the job centre's offer is its employment effort.
    pub fn touches(&self) -> Vec<DataCategory> {
        match self {
            Self::OfferCoordinator { .. } | Self::AnswerCoordinatorOffer { .. } => vec![DataCategory::Employment],
            Self::AgreeNextContactPerson { .. }
            | Self::RequestNetworkMeeting { .. }
            | Self::AskForNetworkMeeting { .. }
            | Self::RequestAdvanceStatements
            | Self::Complete { .. } => vec![],
        }
    }
}

/// Who records the discharge's milestones: the ward plans the discharge;
/// the ward or the municipality, who hold the network meeting, record it held.
pub(super) fn may_record(actor: &Actor, milestone: &super::deadlines::Milestone) -> Result<(), DomainError> {
    use super::deadlines::Milestone;
    match milestone {
        Milestone::DischargePlanned { .. } => {
            require_sector(actor, Sector::RegionalPsychiatry, "the ward plans the discharge")
        }
        Milestone::NetworkMeetingHeld
            if !matches!(actor.sector, Sector::RegionalPsychiatry | Sector::MunicipalSocial) =>
        {
            Err(DomainError::forbidden(
                "DISCHARGE_STEP_NOT_YOURS",
                "the region or the municipality records the network meeting",
            ))
        }
        _ => Ok(()),
    }
}

fn open_discharge(plan: &Plan) -> Result<&Discharge, DomainError> {
    plan.discharge.as_ref().filter(|d| d.is_open()).ok_or_else(|| {
        DomainError::precondition("NO_DISCHARGE_PLANNED", "no discharge is planned; the ward records it first")
    })
}

fn require_sector(actor: &Actor, sector: Sector, message: &'static str) -> Result<(), DomainError> {
    if actor.sector == sector { Ok(()) } else { Err(DomainError::forbidden("DISCHARGE_STEP_NOT_YOURS", message)) }
}

/// Calling the network meeting, by the region or the municipality (either
/// may, under the regional agreement): the call starts its clock, and the
/// meeting must lie between today and the clock's due date.
fn call_meeting(
    plan: &Plan,
    discharge: &Discharge,
    actor: &Actor,
    rules: &DeadlineRules,
    meeting_on: Date,
    today: Date,
    ids: IdSeed,
) -> Result<EventPayload, DomainError> {
    if !matches!(actor.sector, Sector::RegionalPsychiatry | Sector::MunicipalSocial) {
        return Err(DomainError::forbidden(
            "DISCHARGE_STEP_NOT_YOURS",
            "the region or the municipality calls the network meeting",
        ));
    }
    if discharge.network_meeting_on.is_some() {
        return Err(DomainError::precondition("NETWORK_MEETING_CALLED", "the network meeting has been called already"));
    }
    // A discharge planned by an earlier release started the clock at planning: it stands.
    let running = discharge.network_clock(plan).filter(|c| c.is_open());
    let started = match running {
        Some(_) => Vec::new(),
        None => start_clocks(rules, Trigger::NetworkMeetingCalled, today, ids),
    };
    let due = running.map(|c| c.due_on).or_else(|| started.first().map(|c| c.due_on));
    if meeting_on < today || due.is_some_and(|due| meeting_on > due) {
        return Err(DomainError::invalid(
            "meeting_date",
            "must lie between today and the network meeting's due date (5 working days from the call, by the regional agreement)",
        ));
    }
    Ok(EventPayload::NetworkMeetingCalled { meeting_on, started })
}

/// Recording that the citizen, their representative or a relative asked for
/// a network meeting: the citizen through their portal, in the name their
/// assertion gives; the region or the municipality, who call the meeting,
/// for whoever asked them.
fn ask_for_meeting(discharge: &Discharge, actor: &Actor, by: Asker, today: Date) -> Result<EventPayload, DomainError> {
    if actor.is_citizen() {
        let named = match actor.role {
            super::model::ProfessionalRole::Representative => Asker::Representative,
            _ => Asker::Citizen,
        };
        if by != named {
            return Err(DomainError::invalid("asked_by", "must name who asks: the citizen, or their representative"));
        }
    } else if !matches!(actor.sector, Sector::RegionalPsychiatry | Sector::MunicipalSocial) {
        return Err(DomainError::forbidden(
            "DISCHARGE_STEP_NOT_YOURS",
            "the citizen asks through their portal, or the region or the municipality records who asked",
        ));
    }
    if discharge.network_meeting_asked_on.is_some() || discharge.network_meeting_on.is_some() {
        return Err(DomainError::precondition(
            "NETWORK_MEETING_ASKED",
            "a network meeting has been asked for or called for this discharge already",
        ));
    }
    Ok(EventPayload::NetworkMeetingAskedFor { on: today, by })
}

/// Decides a step of the flow; completing it may hand the contact person over too.
pub(super) fn decide(
    plan: &Plan,
    actor: &Actor,
    command: &DischargeCommand,
    (now, rules, ids): (Timestamp, &DeadlineRules, IdSeed),
    sees: &[DataCategory],
) -> Result<Vec<EventPayload>, DomainError> {
    let today = now.date();
    let discharge = open_discharge(plan)?;
    let event = match command {
        DischargeCommand::OfferCoordinator { mentor, start, end } => {
            require_sector(actor, Sector::JobCentre, "the job centre offers an udskrivningskoordinator")?;
            let earliest = discharge.expected_on.checked_sub_months(Months::new(3)).unwrap_or(Date::MIN);
            if *start < earliest {
                return Err(DomainError::invalid("start_date", "support starts at most 3 months before the discharge"));
            }
            if start.checked_add_months(Months::new(6)).is_none_or(|six| *end < six) {
                return Err(DomainError::invalid("end_date", "support lasts at least 6 months"));
            }
            EventPayload::DischargeCoordinatorOffered { mentor: mentor.clone(), start: *start, end: *end }
        }
        DischargeCommand::AnswerCoordinatorOffer { accepted } => {
            require_sector(actor, Sector::JobCentre, "the job centre records the citizen's answer to its offer")?;
            match &discharge.coordinator {
                None => {
                    return Err(DomainError::precondition(
                        "NO_COORDINATOR_OFFER",
                        "no udskrivningskoordinator was offered",
                    ));
                }
                Some(offer) if offer.accepted.is_some() => {
                    return Err(DomainError::precondition("OFFER_ANSWERED", "the citizen has answered the offer"));
                }
                Some(_) => EventPayload::DischargeCoordinatorOfferAnswered { accepted: *accepted },
            }
        }
        DischargeCommand::RequestNetworkMeeting { meeting_on } => {
            call_meeting(plan, discharge, actor, rules, *meeting_on, today, ids)?
        }
        DischargeCommand::AskForNetworkMeeting { by } => ask_for_meeting(discharge, actor, *by, today)?,
        DischargeCommand::RequestAdvanceStatements => {
            require_sector(actor, Sector::RegionalPsychiatry, "the ward asks for advance statements at discharge")?;
            EventPayload::AdvanceStatementsRequested { on: today }
        }
        DischargeCommand::AgreeNextContactPerson { organisation, professional } => {
            if !plan.is_member(organisation, now) || !super::disclosure::shows_organisation(plan, organisation, sees) {
                return Err(DomainError::invalid("organisation_id", "is not on the care team"));
            }
            EventPayload::NextContactPersonAgreed {
                organisation: organisation.clone(),
                professional: professional.clone(),
            }
        }
        DischargeCommand::Complete { on } => {
            require_sector(actor, Sector::RegionalPsychiatry, "the ward completes the discharge")?;
            if *on > today || *on < discharge.planned_on {
                return Err(DomainError::invalid("discharge_date", "must lie between the planning and today"));
            }
            let mut events = vec![EventPayload::DischargeCompleted { on: *on }];
            if let (Some(next), Some(current)) = (&discharge.next_contact, &plan.contact_person)
                && (current.organisation != next.organisation || current.professional != next.professional)
            {
                events.push(EventPayload::ContactPersonHandedOver {
                    from_organisation: current.organisation.clone(),
                    from_professional: current.professional.clone(),
                    to_organisation: next.organisation.clone(),
                    to_professional: next.professional.clone(),
                    reason: Text::parse("reason", "agreed at discharge")?,
                });
            }
            return Ok(events);
        }
    };
    Ok(vec![event])
}
