//! The effective-dated deadline table: how long each kind of clock runs,
//! chosen by the day the clock starts, with its legal source, and the
//! working-day calendar its working-day periods count on. The operator can
//! replace the table in configuration (`[[deadlines.rules]]`).

use chrono::Months;
use serde::{Deserialize, Serialize};

use super::calendar::Calendar;
use super::deadlines::ClockKind;
use super::model::Date;

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
}
