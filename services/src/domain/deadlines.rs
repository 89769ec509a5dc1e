//! Rights and deadlines: clocks per citizen, started and stopped by recorded
//! milestones (a referral, an assessment, a request for addiction treatment,
//! a planned discharge, …), with due dates from an effective-dated rule table
//! that the hub's operator can change in configuration.
//!
//! Which events start a clock, which meet it and how long it runs are data,
//! rows of the effective-dated table ([`DeadlineRules`]) chosen by the date
//! the clock starts, so a referral before 1 Sep 2015 keeps the 60 days it had
//! then; [`ClockKind::usual_triggers`] is the law's shape the default rows
//! follow. The due date is fixed in the event that starts the clock, and the
//! event names the clocks it stopped, so a later change of the table never
//! rewrites history and a replay needs no configuration.
//!
//! A clock is due on its due date (the last day within the deadline) and
//! overdue from the day after while it still runs. A paused clock does not
//! run: resuming moves the due date on by the time it was paused, as its
//! period counts (working days for a working-day clock). A clock the right no
//! longer applies to (a declined offer, a withdrawn referral, a move, a death)
//! is ended with that reason: neither met nor missed, never overdue.

use serde::{Deserialize, Serialize};

pub use super::deadline_rules::{DeadlineRule, DeadlineRules, Period};
use super::decide::no_such;
use super::error::DomainError;
use super::event::EventPayload;
use super::model::{Actor, Date, IdSeed, OrganisationId, ProfessionalId, ProfessionalRole, Sector, Text};
use super::plan::Plan;

/// What a clock guards: one kind per legal basis. (Kinds are stored by their
/// position: new ones are added at the end. Configuration and the indicator
/// catalogue spell them by name, as `DUAL_DIAGNOSIS_TREATMENT`.)
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ClockKind {
    /// Udredningsret (sundhedsloven § 82 b): assessment within 30 days of the
    /// hospital's receipt of the referral, or an udredningsplan.
    Assessment,
    /// Treatment start after the assessment, for serious illness (§ 87: then
    /// the extended free choice of hospital).
    TreatmentSerious,
    /// Treatment start after the assessment, otherwise (§ 87).
    TreatmentOther,
    /// Alcohol and drug-abuse treatment start after the request: the one clock
    /// of releases before the three were told apart; kept for the clocks it
    /// started, started no more.
    AddictionTreatment,
    /// The doctor's consultation (lægesamtale) before drug treatment starts.
    DoctorConsultation,
    /// Integrated dual-diagnosis treatment start after the region's receipt of
    /// the referral of a citizen visiteret to it.
    DualDiagnosisTreatment,
    /// The next joint meeting of the koordinerende indsatsplan (guidance).
    IndsatsplanMeeting,
    /// The cross-sector network meeting at discharge (regional agreement).
    NetworkMeeting,
    /// The information duty (sundhedsloven § 90): the patient is told within
    /// 8 working days of the receipt of the referral.
    InformationDuty,
    /// Alcohol treatment within 14 days of the request (sundhedsloven § 141, stk. 2).
    AlcoholTreatment,
    /// Social drug-abuse treatment within 14 days of the request (serviceloven § 101, stk. 2).
    SocialDrugTreatment,
    /// Medical drug-abuse treatment within 14 days of the request (sundhedsloven § 142).
    MedicalDrugTreatment,
}

/// What kind of rule a clock rests on: shown with every clock, so that a
/// guideline is never presented as a right. Each kind has its usual basis
/// ([`ClockKind::basis`]); a row of the table may say otherwise (a region whose
/// agreement became an act), and the clocks it starts carry that.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleBasis {
    Statute,
    Guidance,
    RegionalAgreement,
}

impl ClockKind {
    /// The usual kind of rule such a clock rests on.
    pub fn basis(self) -> RuleBasis {
        match self {
            Self::IndsatsplanMeeting => RuleBasis::Guidance,
            Self::NetworkMeeting => RuleBasis::RegionalAgreement,
            Self::Assessment
            | Self::TreatmentSerious
            | Self::TreatmentOther
            | Self::AddictionTreatment
            | Self::DoctorConsultation
            | Self::DualDiagnosisTreatment
            | Self::InformationDuty
            | Self::AlcoholTreatment
            | Self::SocialDrugTreatment
            | Self::MedicalDrugTreatment => RuleBasis::Statute,
        }
    }

    /// The clocks of the three addiction rights.
    fn is_addiction_treatment(self) -> bool {
        matches!(self, Self::AlcoholTreatment | Self::SocialDrugTreatment | Self::MedicalDrugTreatment)
    }
}

/// A fact that starts or stops clocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Milestone {
    ReferredForAssessment,
    AssessmentCompleted {
        serious: bool,
    },
    PsychiatricTreatmentStarted,
    AddictionTreatmentRequested,
    DoctorConsultationHeld,
    AddictionTreatmentStarted,
    ReferredForDualDiagnosisTreatment,
    DualDiagnosisTreatmentStarted,
    IndsatsplanMeetingHeld,
    DischargePlanned {
        expected: Date,
    },
    NetworkMeetingHeld,
    /// The assessment cannot be completed in time and the citizen got a plan
    /// for it (udredningsplan, § 82 b): the assessment clock is met.
    AssessmentPlanGiven,
    /// The patient was given the information § 90 requires.
    PatientInformed,
    /// The citizen asked for alcohol treatment (sundhedsloven § 141).
    AlcoholTreatmentRequested,
    /// The citizen asked for drug-abuse treatment: medical (sundhedsloven §
    /// 142) or social (serviceloven § 101).
    DrugTreatmentRequested {
        medical: bool,
    },
    /// Alcohol treatment started.
    AlcoholTreatmentStarted,
    /// Drug-abuse treatment started (medical or social): after the lægesamtale.
    DrugTreatmentStarted {
        medical: bool,
    },
}

impl Milestone {
    /// The name the deadline table knows the milestone by.
    pub fn trigger(&self) -> Trigger {
        use Trigger as T;
        match self {
            Self::ReferredForAssessment => T::ReferredForAssessment,
            Self::AssessmentCompleted { serious: true } => T::AssessmentCompletedSerious,
            Self::AssessmentCompleted { serious: false } => T::AssessmentCompletedOther,
            Self::PsychiatricTreatmentStarted => T::PsychiatricTreatmentStarted,
            Self::AddictionTreatmentRequested => T::AddictionTreatmentRequested,
            Self::DoctorConsultationHeld => T::DoctorConsultationHeld,
            Self::AddictionTreatmentStarted => T::AddictionTreatmentStarted,
            Self::ReferredForDualDiagnosisTreatment => T::ReferredForDualDiagnosisTreatment,
            Self::DualDiagnosisTreatmentStarted => T::DualDiagnosisTreatmentStarted,
            Self::IndsatsplanMeetingHeld => T::IndsatsplanMeetingHeld,
            Self::DischargePlanned { .. } => T::DischargePlanned,
            Self::NetworkMeetingHeld => T::NetworkMeetingHeld,
            Self::AssessmentPlanGiven => T::AssessmentPlanGiven,
            Self::PatientInformed => T::PatientInformed,
            Self::AlcoholTreatmentRequested => T::AlcoholTreatmentRequested,
            Self::DrugTreatmentRequested { medical: true } => T::DrugTreatmentRequestedMedical,
            Self::DrugTreatmentRequested { medical: false } => T::DrugTreatmentRequestedSocial,
            Self::AlcoholTreatmentStarted => T::AlcoholTreatmentStarted,
            Self::DrugTreatmentStarted { medical: true } => T::DrugTreatmentStartedMedical,
            Self::DrugTreatmentStarted { medical: false } => T::DrugTreatmentStartedSocial,
        }
    }
}

/// An event that starts or meets clocks, as the deadline table names it in a
/// row's `starts_on` and `met_by`: every milestone (told apart where its kind
/// decides which right it touches) and the call of the network meeting. Not
/// stored: an event records the clocks it started and stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Trigger {
    ReferredForAssessment,
    AssessmentCompletedSerious,
    AssessmentCompletedOther,
    AssessmentPlanGiven,
    PatientInformed,
    PsychiatricTreatmentStarted,
    AlcoholTreatmentRequested,
    AlcoholTreatmentStarted,
    DrugTreatmentRequestedMedical,
    DrugTreatmentRequestedSocial,
    DoctorConsultationHeld,
    DrugTreatmentStartedMedical,
    DrugTreatmentStartedSocial,
    ReferredForDualDiagnosisTreatment,
    DualDiagnosisTreatmentStarted,
    IndsatsplanMeetingHeld,
    DischargePlanned,
    NetworkMeetingCalled,
    NetworkMeetingHeld,
    /// The one addiction request of earlier releases (now refused).
    AddictionTreatmentRequested,
    /// The one addiction start of earlier releases: meets the clocks they started.
    AddictionTreatmentStarted,
}

impl ClockKind {
    /// The events that usually start such a clock and those that meet it —
    /// the law's shape, as `DOMAIN.md` reads it. The default table's rows say
    /// this; a configured row may say otherwise (within what the events
    /// reveal, see [`super::disclosure::trigger_reveals`]).
    pub fn usual_triggers(self) -> (&'static [Trigger], &'static [Trigger]) {
        use Trigger::*;
        match self {
            // § 82 b: met by the assessment or, where it cannot be done in time, an udredningsplan.
            Self::Assessment => {
                (&[ReferredForAssessment], &[AssessmentCompletedSerious, AssessmentCompletedOther, AssessmentPlanGiven])
            }
            // § 90: an assessment done also answers what the patient is to be told.
            Self::InformationDuty => {
                (&[ReferredForAssessment], &[PatientInformed, AssessmentCompletedSerious, AssessmentCompletedOther])
            }
            Self::TreatmentSerious => (&[AssessmentCompletedSerious], &[PsychiatricTreatmentStarted]),
            Self::TreatmentOther => (&[AssessmentCompletedOther], &[PsychiatricTreatmentStarted]),
            Self::AddictionTreatment => (&[], &[AddictionTreatmentStarted]),
            Self::AlcoholTreatment => (&[AlcoholTreatmentRequested], &[AlcoholTreatmentStarted]),
            Self::SocialDrugTreatment => (&[DrugTreatmentRequestedSocial], &[DrugTreatmentStartedSocial]),
            Self::MedicalDrugTreatment => (&[DrugTreatmentRequestedMedical], &[DrugTreatmentStartedMedical]),
            // The lægesamtale belongs to drug treatment only.
            Self::DoctorConsultation => {
                (&[DrugTreatmentRequestedMedical, DrugTreatmentRequestedSocial], &[DoctorConsultationHeld])
            }
            Self::DualDiagnosisTreatment => (&[ReferredForDualDiagnosisTreatment], &[DualDiagnosisTreatmentStarted]),
            // A meeting held satisfies the one that was due and sets the next.
            Self::IndsatsplanMeeting => (&[IndsatsplanMeetingHeld], &[IndsatsplanMeetingHeld]),
            // The regional agreement counts from the call, not from planning.
            Self::NetworkMeeting => (&[NetworkMeetingCalled], &[NetworkMeetingHeld]),
        }
    }
}

/// Where a clock stands.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ClockState {
    Running,
    Paused {
        since: Date,
        reason: Text,
    },
    /// Satisfied by a milestone on `on`.
    Stopped {
        on: Date,
    },
    /// Ended on `on` without the milestone that satisfies it, for `reason`.
    Ended {
        on: Date,
        reason: StopReason,
    },
}

/// Why a clock ends without the milestone that satisfies it: the right no
/// longer applies, so the clock is neither met nor missed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum StopReason {
    /// The citizen declined the offer (or chose to wait, for good).
    Declined,
    /// The referral or the request was withdrawn.
    ReferralWithdrawn,
    /// The referral was rejected (e.g. sent back to the general practitioner).
    ReferralRejected,
    /// The citizen moved out of the region or municipality responsible.
    Moved,
    /// The citizen died.
    Died,
    /// The service found it was not needed (e.g. the suspicion of illness was dispelled).
    NotNeeded,
}

/// One right's clock for the citizen.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Clock {
    pub clock_id: String,
    pub kind: ClockKind,
    pub started_on: Date,
    pub due_on: Date,
    pub source: String,
    /// The organisation that recorded the milestone that started it.
    pub responsible: OrganisationId,
    pub responsible_sector: Sector,
    /// The basis of the rule that started it.
    pub basis: RuleBasis,
    pub state: ClockState,
    /// Whether the hub has recorded that the clock went overdue (`ClockOverdue`).
    pub overdue_recorded: bool,
}

impl Clock {
    pub fn is_open(&self) -> bool {
        !matches!(self.state, ClockState::Stopped { .. } | ClockState::Ended { .. })
    }

    pub fn is_running(&self) -> bool {
        self.state == ClockState::Running
    }

    /// Overdue: still running after its due date.
    pub fn is_overdue(&self, today: Date) -> bool {
        self.is_running() && today > self.due_on
    }

    /// For a stopped clock: whether it was satisfied in time (an ended one was neither).
    pub fn met(&self) -> Option<bool> {
        match self.state {
            ClockState::Stopped { on } => Some(on <= self.due_on),
            _ => None,
        }
    }

    /// What the citizen is owed once the clock is overdue, where the law says.
    pub fn overdue_duty(&self) -> Option<&'static str> {
        match self.kind {
            ClockKind::Assessment => Some(
                "the region gives the citizen a plan for the rest of the assessment (udredningsplan, sundhedsloven § 82 b)",
            ),
            ClockKind::TreatmentSerious | ClockKind::TreatmentOther => {
                Some("the citizen must be offered the extended free choice of hospital (sundhedsloven § 87)")
            }
            _ => None,
        }
    }

    /// The actor in whose name the hub records that the clock went overdue:
    /// the responsible organisation, through the hub's deadline watcher.
    pub fn watcher(&self) -> Result<Actor, DomainError> {
        Ok(Actor {
            organisation: self.responsible.clone(),
            sector: self.responsible_sector,
            professional: ProfessionalId::parse("professional_id", WATCHER)?,
            role: ProfessionalRole::Secretary,
            own_plan: None,
        })
    }
}

/// Which clocks a list asks for (empty: all): by responsible organisation —
/// only where the reader may be told who that is, so that a filter never
/// confirms a name the answer would withhold — by kind and by basis.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClockFilter {
    pub responsible: Option<OrganisationId>,
    pub kinds: Vec<ClockKind>,
    pub bases: Vec<RuleBasis>,
}

impl ClockFilter {
    pub fn admits(&self, clock: &Clock, audience: &super::disclosure::Audience) -> bool {
        self.responsible.as_ref().is_none_or(|org| &clock.responsible == org && audience.names(org.as_str()))
            && (self.kinds.is_empty() || self.kinds.contains(&clock.kind))
            && (self.bases.is_empty() || self.bases.contains(&clock.basis))
    }
}

/// The professional id under which the hub's deadline watcher records overdue clocks.
pub const WATCHER: &str = "samplan-deadline-watcher";

/// A clock a milestone starts, as its event records it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StartedClock {
    pub clock_id: String,
    pub kind: ClockKind,
    pub due_on: Date,
    pub source: String,
}

/// The clocks `trigger` on `occurred_on` starts by the rows in force that
/// day, with ids from `ids`.
pub fn start_clocks(rules: &DeadlineRules, trigger: Trigger, occurred_on: Date, ids: IdSeed) -> Vec<StartedClock> {
    rules
        .started_by(trigger, occurred_on)
        .enumerate()
        .map(|(i, rule)| StartedClock {
            clock_id: ids.id("clock", i),
            kind: rule.kind,
            due_on: rule.period.due(occurred_on, rules.calendar()),
            source: rule.source.clone(),
        })
        .collect()
}

/// The bases of the clocks `events` started where the row that started them
/// departs from the kind's usual basis: an event each, following them.
pub(super) fn bases(events: &[EventPayload], rules: &DeadlineRules, today: Date) -> Vec<EventPayload> {
    let started = events.iter().flat_map(|e| match e {
        EventPayload::MilestoneRecorded { started, occurred_on, .. } => {
            started.iter().map(|c| (c, *occurred_on)).collect()
        }
        EventPayload::NetworkMeetingCalled { started, .. } => started.iter().map(|c| (c, today)).collect(),
        _ => Vec::new(),
    });
    started
        .filter_map(|(clock, on)| {
            let basis = rules.rule(clock.kind, on)?.basis;
            (basis != clock.kind.basis())
                .then(|| EventPayload::ClockBasisSet { clock_id: clock.clock_id.clone(), basis })
        })
        .collect()
}

/// Recording `milestone` on `occurred_on`: it stops the open clocks it
/// satisfies and starts the clocks it starts, with due dates from the rule in
/// force on that day. A clock that is already open is not started twice.
pub(super) fn record_milestone(
    plan: &Plan,
    rules: &DeadlineRules,
    milestone: &Milestone,
    occurred_on: Date,
    today: Date,
    ids: IdSeed,
) -> Result<EventPayload, DomainError> {
    check(plan, milestone, occurred_on, today)?;
    let trigger = milestone.trigger();
    let meets = |c: &&Clock| c.is_open() && rules.met_by(c.kind, c.started_on).contains(&trigger);
    let stopped: Vec<String> = plan.clocks.iter().filter(meets).map(|c| c.clock_id.clone()).collect();
    let started = start_clocks(rules, trigger, occurred_on, ids);
    let already_open = started
        .iter()
        .any(|s| plan.clocks.iter().any(|c| c.kind == s.kind && c.is_open() && !stopped.contains(&c.clock_id)));
    if already_open {
        return Err(DomainError::precondition(
            "CLOCK_ALREADY_OPEN",
            "a clock of this kind is already open; record the milestone that satisfies it first",
        ));
    }
    Ok(EventPayload::MilestoneRecorded { milestone: *milestone, occurred_on, started, stopped })
}

/// The refusals a milestone meets before it touches any clock.
fn check(plan: &Plan, milestone: &Milestone, occurred_on: Date, today: Date) -> Result<(), DomainError> {
    if occurred_on > today {
        return Err(DomainError::invalid("occurred_on", "must not be in the future"));
    }
    let open = |kind: ClockKind| plan.clocks.iter().any(|c| c.is_open() && c.kind == kind);
    match milestone {
        Milestone::DischargePlanned { expected } if *expected < occurred_on => {
            Err(DomainError::invalid("expected_discharge_date", "is before the discharge was planned"))
        }
        Milestone::DischargePlanned { .. } if plan.discharge.as_ref().is_some_and(|d| d.is_open()) => {
            Err(DomainError::precondition(
                "DISCHARGE_ALREADY_PLANNED",
                "a discharge is planned and not completed; complete it first",
            ))
        }
        Milestone::AddictionTreatmentRequested => Err(DomainError::invalid(
            "milestone",
            "name the treatment asked for: ALCOHOL_TREATMENT_REQUESTED (sundhedsloven § 141) or DRUG_TREATMENT_REQUESTED (medical, sundhedsloven § 142; social, serviceloven § 101): they are different rights",
        )),
        Milestone::AddictionTreatmentStarted
            if !open(ClockKind::AddictionTreatment)
                && plan.clocks.iter().any(|c| c.is_open() && c.kind.is_addiction_treatment()) =>
        {
            Err(DomainError::invalid(
                "milestone",
                "name the treatment that started: ALCOHOL_TREATMENT_STARTED or DRUG_TREATMENT_STARTED",
            ))
        }
        Milestone::DrugTreatmentStarted { .. } if !consulted_by(plan, occurred_on) => Err(DomainError::precondition(
            "DOCTOR_CONSULTATION_FIRST",
            "drug treatment starts after the lægesamtale (sundhedsloven § 142): record DOCTOR_CONSULTATION_HELD on or before the start, or end its clock with a reason",
        )),
        _ => Ok(()),
    }
}

/// Whether drug treatment may start on `day`: no lægesamtale is pending, and
/// every one held was held on or before it.
fn consulted_by(plan: &Plan, day: Date) -> bool {
    plan.clocks.iter().filter(|c| c.kind == ClockKind::DoctorConsultation).all(|c| match c.state {
        ClockState::Stopped { on } => on <= day,
        ClockState::Ended { .. } => true,
        ClockState::Running | ClockState::Paused { .. } => false,
    })
}

/// Pausing, resuming or ending a clock, by an organisation that may (see [`may_manage`]).
pub(super) fn change_clock(
    plan: &Plan,
    actor: &Actor,
    rules: &DeadlineRules,
    command: &super::command::Command,
    today: Date,
) -> Result<EventPayload, DomainError> {
    use super::command::Command;
    match command {
        Command::PauseClock { clock_id, reason } => {
            may_manage(plan, actor, clock_id, today)?;
            pause(plan, clock_id, reason, today)
        }
        Command::ResumeClock { clock_id } => {
            may_manage(plan, actor, clock_id, today)?;
            resume(plan, rules, clock_id, today)
        }
        Command::StopClock { clock_id, reason } => {
            may_manage(plan, actor, clock_id, today)?;
            stop(plan, clock_id, *reason, today)
        }
        _ => Err(DomainError::invalid("command", "is not a change to a clock")),
    }
}

/// Who pauses, resumes or ends a clock: the service that owes the right — the
/// organisation that started it, holding the information it is about (seeing
/// it under a consent is not enough) — and for the network meeting either
/// side that may call it, the region or the municipality.
fn may_manage(plan: &Plan, actor: &Actor, clock_id: &str, today: Date) -> Result<(), DomainError> {
    let clock = plan.clock(clock_id).ok_or_else(|| no_such("clock_id", "clock"))?;
    let holds = super::disclosure::clock_reveals(clock.kind)
        .iter()
        .any(|c| super::grounds::holds(plan, &actor.organisation, actor.sector, *c, today));
    let owes = clock.responsible == actor.organisation;
    let calls_meeting = clock.kind == ClockKind::NetworkMeeting
        && matches!(actor.sector, Sector::RegionalPsychiatry | Sector::MunicipalSocial);
    if (holds && owes) || calls_meeting {
        Ok(())
    } else {
        Err(DomainError::forbidden(
            "CLOCK_NOT_YOURS",
            "a clock is paused, resumed or ended by the service that owes the right (for the network meeting, the region or the municipality)",
        ))
    }
}

/// Pausing a running clock (e.g. at the citizen's own wish), with a reason.
fn pause(plan: &Plan, clock_id: &str, reason: &Text, today: Date) -> Result<EventPayload, DomainError> {
    let clock = plan.clock(clock_id).ok_or_else(|| no_such("clock_id", "clock"))?;
    if !clock.is_running() {
        return Err(DomainError::precondition("CLOCK_NOT_RUNNING", "only a running clock can be paused"));
    }
    Ok(EventPayload::ClockPaused { clock_id: clock_id.to_owned(), reason: reason.clone(), on: today })
}

/// Resuming a paused clock: its due date moves on by the time it was paused,
/// counted as its period counts (working days for a working-day clock).
fn resume(plan: &Plan, rules: &DeadlineRules, clock_id: &str, today: Date) -> Result<EventPayload, DomainError> {
    let clock = plan.clock(clock_id).ok_or_else(|| no_such("clock_id", "clock"))?;
    let ClockState::Paused { since, .. } = &clock.state else {
        return Err(DomainError::precondition("CLOCK_NOT_PAUSED", "only a paused clock can be resumed"));
    };
    // The period of the rule the clock started under (calendar days if none is known now).
    let period = rules.rule(clock.kind, clock.started_on).map_or(Period::Days(0), |r| r.period);
    let due_on = period.moved(clock.due_on, *since, today, rules.calendar());
    Ok(EventPayload::ClockResumed { clock_id: clock_id.to_owned(), on: today, due_on })
}

/// Ending an open clock without the milestone that satisfies it, for `reason`.
fn stop(plan: &Plan, clock_id: &str, reason: StopReason, today: Date) -> Result<EventPayload, DomainError> {
    let clock = plan.clock(clock_id).ok_or_else(|| no_such("clock_id", "clock"))?;
    if !clock.is_open() {
        return Err(DomainError::precondition("CLOCK_NOT_OPEN", "the clock has already stopped"));
    }
    Ok(EventPayload::ClockEnded { clock_id: clock_id.to_owned(), reason, on: today })
}

/// That a clock went overdue, as the hub's deadline watcher records it: only
/// for a running clock past its due date, once.
pub fn mark_overdue(plan: &Plan, clock_id: &str, today: Date) -> Result<EventPayload, DomainError> {
    let clock = plan.clock(clock_id).ok_or_else(|| no_such("clock_id", "clock"))?;
    if !clock.is_overdue(today) || clock.overdue_recorded {
        return Err(DomainError::precondition("CLOCK_NOT_OVERDUE", "the clock is not newly overdue"));
    }
    Ok(EventPayload::ClockOverdue { clock_id: clock_id.to_owned(), due_on: clock.due_on })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(y: i32, m: u32, d: u32) -> Date {
        Date::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn milestones_touch_the_clocks_of_their_category() {
        use crate::domain::DataCategory;
        use crate::domain::disclosure::milestone_reveals;
        assert_eq!(milestone_reveals(&Milestone::ReferredForAssessment), vec![DataCategory::Psychiatric]);
        assert_eq!(milestone_reveals(&Milestone::DoctorConsultationHeld), vec![DataCategory::SubstanceAbuse]);
        assert_eq!(
            milestone_reveals(&Milestone::DischargePlanned { expected: day(2026, 1, 1) }),
            vec![DataCategory::DischargeCoordination]
        );
        let (starts, meets) = ClockKind::IndsatsplanMeeting.usual_triggers();
        assert_eq!(starts, meets, "a meeting held meets the one due and starts the next");
    }
}
