//! Rights and deadlines: clocks per citizen, started and stopped by recorded
//! milestones (a referral, an assessment, a request for addiction treatment,
//! a planned discharge, …), with due dates from an effective-dated rule table
//! that the hub's operator can change in configuration.
//!
//! Which milestone starts or stops which clock is the law's shape and lives
//! here, in [`Milestone::starts`] and [`Milestone::stops`]; how long a clock
//! runs is data ([`DeadlineRules`]), chosen by the date the clock starts, so a
//! referral before 1 Sep 2015 keeps the 60 days it had then. The due date is
//! fixed in the event that starts the clock, so a later change of the table
//! never rewrites history and a replay needs no configuration.
//!
//! A clock is due on its due date (the last day within the deadline) and
//! overdue from the day after while it still runs. A paused clock does not
//! run: resuming moves the due date on by the days it was paused.

use chrono::Months;
use serde::{Deserialize, Serialize};

use super::calendar::Calendar;
use super::decide::no_such;
use super::error::DomainError;
use super::event::EventPayload;
use super::model::{Actor, Date, IdSeed, OrganisationId, ProfessionalId, ProfessionalRole, Sector, Text};
use super::plan::Plan;

/// What a clock guards.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ClockKind {
    /// Udredningsret: assessment within 30 days of the referral (60 before 1 Sep 2015).
    Assessment,
    /// Treatment start after the assessment, for serious illness.
    TreatmentSerious,
    /// Treatment start after the assessment, otherwise.
    TreatmentOther,
    /// Alcohol and drug-abuse treatment start after the request.
    AddictionTreatment,
    /// The doctor's consultation (lægesamtale) before addiction treatment starts.
    DoctorConsultation,
    /// Integrated dual-diagnosis treatment start after the referral.
    DualDiagnosisTreatment,
    /// The next joint meeting of the koordinerende indsatsplan.
    IndsatsplanMeeting,
    /// The cross-sector network meeting after a planned discharge.
    NetworkMeeting,
}

/// A fact that starts or stops clocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Milestone {
    ReferredForAssessment,
    AssessmentCompleted { serious: bool },
    PsychiatricTreatmentStarted,
    AddictionTreatmentRequested,
    DoctorConsultationHeld,
    AddictionTreatmentStarted,
    ReferredForDualDiagnosisTreatment,
    DualDiagnosisTreatmentStarted,
    IndsatsplanMeetingHeld,
    DischargePlanned { expected: Date },
    NetworkMeetingHeld,
}

impl Milestone {
    /// The clocks the milestone starts.
    pub fn starts(&self) -> &'static [ClockKind] {
        use ClockKind::*;
        match self {
            Self::ReferredForAssessment => &[Assessment],
            Self::AssessmentCompleted { serious: true } => &[TreatmentSerious],
            Self::AssessmentCompleted { serious: false } => &[TreatmentOther],
            Self::AddictionTreatmentRequested => &[AddictionTreatment, DoctorConsultation],
            Self::ReferredForDualDiagnosisTreatment => &[DualDiagnosisTreatment],
            Self::IndsatsplanMeetingHeld => &[IndsatsplanMeeting],
            Self::DischargePlanned { .. } => &[NetworkMeeting],
            Self::PsychiatricTreatmentStarted
            | Self::DoctorConsultationHeld
            | Self::AddictionTreatmentStarted
            | Self::DualDiagnosisTreatmentStarted
            | Self::NetworkMeetingHeld => &[],
        }
    }

    /// The clocks the milestone satisfies (stops).
    pub fn stops(&self) -> &'static [ClockKind] {
        use ClockKind::*;
        match self {
            Self::AssessmentCompleted { .. } => &[Assessment],
            Self::PsychiatricTreatmentStarted => &[TreatmentSerious, TreatmentOther],
            Self::DoctorConsultationHeld => &[DoctorConsultation],
            Self::AddictionTreatmentStarted => &[AddictionTreatment],
            Self::DualDiagnosisTreatmentStarted => &[DualDiagnosisTreatment],
            // A meeting held satisfies the one that was due and sets the next.
            Self::IndsatsplanMeetingHeld => &[IndsatsplanMeeting],
            Self::NetworkMeetingHeld => &[NetworkMeeting],
            Self::ReferredForAssessment
            | Self::AddictionTreatmentRequested
            | Self::ReferredForDualDiagnosisTreatment
            | Self::DischargePlanned { .. } => &[],
        }
    }
}

/// How long a clock runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Period {
    Days(u32),
    /// Danish working days: Monday to Friday except public holidays (see [`super::calendar`]).
    WorkingDays(u32),
    Months(u32),
}

impl Period {
    /// The due date of a clock started on `start`: the last day within the period.
    pub fn due(self, start: Date, calendar: &Calendar) -> Date {
        match self {
            Self::Days(n) => start + chrono::Days::new(u64::from(n)),
            Self::Months(n) => start.checked_add_months(Months::new(n)).unwrap_or(Date::MAX),
            Self::WorkingDays(n) => calendar.add_working_days(start, n),
        }
    }

    /// A due date moved on by a pause from `since` until `resumed`: by the
    /// calendar days it lasted, or for a working-day clock by the working days.
    pub fn moved(self, due: Date, since: Date, resumed: Date, calendar: &Calendar) -> Date {
        match self {
            Self::WorkingDays(_) => calendar.add_working_days(due, calendar.working_days_between(since, resumed)),
            Self::Days(_) | Self::Months(_) => {
                due + chrono::Days::new(u64::try_from((resumed - since).num_days()).unwrap_or(0))
            }
        }
    }
}

/// One row of the table: clocks of `kind` started from `from` (inclusive)
/// until `until` (exclusive) run for `period`. `None` is unbounded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineRule {
    pub kind: ClockKind,
    pub from: Option<Date>,
    pub until: Option<Date>,
    pub period: Period,
    /// The legal source, shown with every clock the rule starts.
    pub source: String,
}

impl DeadlineRule {
    fn holds_on(&self, day: Date) -> bool {
        self.from.is_none_or(|from| from <= day) && self.until.is_none_or(|until| day < until)
    }
}

/// The effective-dated deadline table, and the working-day calendar its
/// working-day periods count on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeadlineRules {
    rules: Vec<DeadlineRule>,
    calendar: Calendar,
}

impl DeadlineRules {
    /// A table; refused if two rows for one kind hold on the same day.
    pub fn new(rules: Vec<DeadlineRule>) -> Result<Self, String> {
        for (i, a) in rules.iter().enumerate() {
            if let (Some(from), Some(until)) = (a.from, a.until)
                && from >= until
            {
                return Err(format!("deadline rule {} for {:?} ends before it starts", i + 1, a.kind));
            }
            for b in &rules[i + 1..] {
                let overlap = a.kind == b.kind
                    && a.from.is_none_or(|from| b.until.is_none_or(|until| from < until))
                    && b.from.is_none_or(|from| a.until.is_none_or(|until| from < until));
                if overlap {
                    return Err(format!("two deadline rules for {:?} hold on the same days", a.kind));
                }
            }
        }
        Ok(Self { rules, calendar: Calendar::default() })
    }

    /// The same table, counting working days on `calendar`.
    pub fn with_calendar(self, calendar: Calendar) -> Self {
        Self { calendar, ..self }
    }

    pub fn calendar(&self) -> &Calendar {
        &self.calendar
    }

    /// The rule for a clock of `kind` started on `start`; `None` where no right was in force then.
    pub fn rule(&self, kind: ClockKind, start: Date) -> Option<&DeadlineRule> {
        self.rules.iter().find(|r| r.kind == kind && r.holds_on(start))
    }

    /// The due date of a clock of `kind` started on `start`, if a right was in force then.
    pub fn due(&self, kind: ClockKind, start: Date) -> Option<Date> {
        self.rule(kind, start).map(|r| r.period.due(start, &self.calendar))
    }
}

impl Default for DeadlineRules {
    /// The rules of `DOMAIN.md`, with their legal sources.
    fn default() -> Self {
        let date = |y, m, d| Date::from_ymd_opt(y, m, d);
        let row = |kind, from, until, period, source: &str| DeadlineRule {
            kind,
            from,
            until,
            period,
            source: source.to_owned(),
        };
        use ClockKind::*;
        use Period::*;
        let rules = vec![
            row(
                Assessment,
                None,
                date(2015, 9, 1),
                Days(60),
                "udredningsret, sundhedsloven § 82 a (2 months before 1 Sep 2015)",
            ),
            row(Assessment, date(2015, 9, 1), None, Days(30), "udredningsret, sundhedsloven § 82 a"),
            row(TreatmentSerious, None, None, Days(30), "behandlingsret after assessment, serious illness"),
            row(TreatmentOther, None, None, Days(60), "behandlingsret after assessment"),
            row(
                AddictionTreatment,
                None,
                None,
                Days(14),
                "treatment guarantee, sundhedsloven § 141, serviceloven § 101",
            ),
            row(
                DoctorConsultation,
                None,
                None,
                Days(14),
                "lægesamtale before addiction treatment, current guidance (the 2014 plan said 3 days)",
            ),
            row(
                DualDiagnosisTreatment,
                date(2024, 9, 1),
                None,
                Days(14),
                "integrated dual-diagnosis treatment in the regions, from 1 Sep 2024",
            ),
            row(IndsatsplanMeeting, None, None, Months(6), "koordinerende indsatsplan: next joint meeting"),
            row(NetworkMeeting, None, None, WorkingDays(5), "network meeting at discharge"),
        ];
        Self { rules, calendar: Calendar::default() }
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
    pub state: ClockState,
    /// Whether the hub has recorded that the clock went overdue (`ClockOverdue`).
    pub overdue_recorded: bool,
}

impl Clock {
    pub fn is_open(&self) -> bool {
        !matches!(self.state, ClockState::Stopped { .. })
    }

    pub fn is_running(&self) -> bool {
        self.state == ClockState::Running
    }

    /// Overdue: still running after its due date.
    pub fn is_overdue(&self, today: Date) -> bool {
        self.is_running() && today > self.due_on
    }

    /// For a stopped clock: whether it was satisfied in time.
    pub fn met(&self) -> Option<bool> {
        match self.state {
            ClockState::Stopped { on } => Some(on <= self.due_on),
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

/// The clocks `milestone` on `occurred_on` starts, with ids from `ids`;
/// kinds with no rule in force on that day start none.
pub fn start_clocks(rules: &DeadlineRules, milestone: &Milestone, occurred_on: Date, ids: IdSeed) -> Vec<StartedClock> {
    milestone
        .starts()
        .iter()
        .filter_map(|kind| rules.rule(*kind, occurred_on))
        .enumerate()
        .map(|(i, rule)| StartedClock {
            clock_id: ids.id("clock", i),
            kind: rule.kind,
            due_on: rule.period.due(occurred_on, rules.calendar()),
            source: rule.source.clone(),
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
    if occurred_on > today {
        return Err(DomainError::invalid("occurred_on", "must not be in the future"));
    }
    if let Milestone::DischargePlanned { expected } = milestone
        && *expected < occurred_on
    {
        return Err(DomainError::invalid("expected_discharge_date", "is before the discharge was planned"));
    }
    if matches!(milestone, Milestone::DischargePlanned { .. }) && plan.discharge.as_ref().is_some_and(|d| d.is_open()) {
        return Err(DomainError::precondition(
            "DISCHARGE_ALREADY_PLANNED",
            "a discharge is planned and not completed; complete it first",
        ));
    }
    let stopped: Vec<String> = plan
        .clocks
        .iter()
        .filter(|c| c.is_open() && milestone.stops().contains(&c.kind))
        .map(|c| c.clock_id.clone())
        .collect();
    let already_open = milestone
        .starts()
        .iter()
        .any(|kind| !milestone.stops().contains(kind) && plan.clocks.iter().any(|c| c.is_open() && c.kind == *kind));
    if already_open {
        return Err(DomainError::precondition(
            "CLOCK_ALREADY_OPEN",
            "a clock of this kind is already open; record the milestone that satisfies it first",
        ));
    }
    let started = start_clocks(rules, milestone, occurred_on, ids);
    Ok(EventPayload::MilestoneRecorded { milestone: *milestone, occurred_on, started, stopped })
}

/// Pausing a running clock (e.g. at the citizen's own wish), with a reason.
pub(super) fn pause(plan: &Plan, clock_id: &str, reason: &Text, today: Date) -> Result<EventPayload, DomainError> {
    let clock = plan.clock(clock_id).ok_or_else(|| no_such("clock_id", "clock"))?;
    if !clock.is_running() {
        return Err(DomainError::precondition("CLOCK_NOT_RUNNING", "only a running clock can be paused"));
    }
    Ok(EventPayload::ClockPaused { clock_id: clock_id.to_owned(), reason: reason.clone(), on: today })
}

/// Resuming a paused clock: its due date moves on by the time it was paused,
/// counted as its period counts (working days for a working-day clock).
pub(super) fn resume(
    plan: &Plan,
    rules: &DeadlineRules,
    clock_id: &str,
    today: Date,
) -> Result<EventPayload, DomainError> {
    let clock = plan.clock(clock_id).ok_or_else(|| no_such("clock_id", "clock"))?;
    let ClockState::Paused { since, .. } = &clock.state else {
        return Err(DomainError::precondition("CLOCK_NOT_PAUSED", "only a paused clock can be resumed"));
    };
    // The period of the rule the clock started under (calendar days if none is known now).
    let period = rules.rule(clock.kind, clock.started_on).map_or(Period::Days(0), |r| r.period);
    let due_on = period.moved(clock.due_on, *since, today, rules.calendar());
    Ok(EventPayload::ClockResumed { clock_id: clock_id.to_owned(), on: today, due_on })
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
    fn each_default_rule_gives_its_due_date() {
        let rules = DeadlineRules::default();
        let start = day(2026, 11, 2); // a Monday
        let due = |kind| rules.due(kind, start);
        assert_eq!(due(ClockKind::Assessment), Some(day(2026, 12, 2)));
        assert_eq!(due(ClockKind::TreatmentSerious), Some(day(2026, 12, 2)));
        assert_eq!(due(ClockKind::TreatmentOther), Some(day(2027, 1, 1)));
        assert_eq!(due(ClockKind::AddictionTreatment), Some(day(2026, 11, 16)));
        assert_eq!(due(ClockKind::DoctorConsultation), Some(day(2026, 11, 16)));
        assert_eq!(due(ClockKind::DualDiagnosisTreatment), Some(day(2026, 11, 16)));
        assert_eq!(due(ClockKind::IndsatsplanMeeting), Some(day(2027, 5, 2)));
        // Five working days from a Thursday: Fri, Mon, Tue, Wed, Thu.
        assert_eq!(rules.due(ClockKind::NetworkMeeting, day(2026, 11, 5)), Some(day(2026, 11, 12)));
    }

    #[test]
    fn the_rule_in_force_on_the_start_date_decides() {
        let rules = DeadlineRules::default();
        let before = day(2015, 8, 31);
        let after = day(2015, 9, 1);
        assert_eq!(rules.rule(ClockKind::Assessment, before).map(|r| r.period), Some(Period::Days(60)));
        assert_eq!(rules.rule(ClockKind::Assessment, after).map(|r| r.period), Some(Period::Days(30)));
        // Integrated dual-diagnosis treatment is a right only from 1 Sep 2024.
        assert!(rules.rule(ClockKind::DualDiagnosisTreatment, day(2024, 8, 31)).is_none());
        assert!(rules.rule(ClockKind::DualDiagnosisTreatment, day(2024, 9, 1)).is_some());
    }

    #[test]
    fn overlapping_rows_are_refused() {
        let row = |from, until| DeadlineRule {
            kind: ClockKind::Assessment,
            from,
            until,
            period: Period::Days(30),
            source: "x".into(),
        };
        assert!(DeadlineRules::new(vec![row(None, Some(day(2020, 1, 1))), row(Some(day(2020, 1, 1)), None)]).is_ok());
        assert!(DeadlineRules::new(vec![row(None, Some(day(2020, 1, 2))), row(Some(day(2020, 1, 1)), None)]).is_err());
        assert!(DeadlineRules::new(vec![row(None, None), row(None, None)]).is_err());
        assert!(DeadlineRules::new(vec![row(Some(day(2020, 1, 1)), Some(day(2020, 1, 1)))]).is_err());
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
        assert_eq!(Milestone::IndsatsplanMeetingHeld.starts(), Milestone::IndsatsplanMeetingHeld.stops());
    }
}
