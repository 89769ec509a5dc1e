//! The effective-dated deadline table: for each kind of clock, what starts
//! it, what meets it and how long it runs, chosen by the day the clock
//! starts, with its basis and legal source; and the working-day calendar its
//! working-day periods count on. The operator of each region's hub can
//! replace the table in configuration (`[[deadlines.rules]]`).

use chrono::Months;
use serde::{Deserialize, Serialize};

use super::calendar::Calendar;
use super::deadlines::{ClockKind, RuleBasis, Trigger};
use super::disclosure::{clock_reveals, trigger_reveals};
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

/// One row of the table: clocks of `kind` started by one of `starts_on`
/// from `from` (inclusive) until `until` (exclusive) run for `period`, and are
/// met by one of `met_by`. `None` is unbounded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeadlineRule {
    pub kind: ClockKind,
    pub from: Option<Date>,
    pub until: Option<Date>,
    /// The events that start such a clock (none: the row only serves clocks already running).
    pub starts_on: Vec<Trigger>,
    /// The events that meet (stop) it.
    pub met_by: Vec<Trigger>,
    pub period: Period,
    /// Statute, guidance or regional agreement: fixed on every clock the rule starts.
    pub basis: RuleBasis,
    /// The legal source, shown with every clock the rule starts.
    pub source: String,
}

impl DeadlineRule {
    /// A row for `kind` in force on every day, starting and met as the kind
    /// usually is, on its usual basis.
    pub fn usual(kind: ClockKind, period: Period, source: &str) -> Self {
        let (starts_on, met_by) = kind.usual_triggers();
        Self {
            kind,
            from: None,
            until: None,
            starts_on: starts_on.to_vec(),
            met_by: met_by.to_vec(),
            period,
            basis: kind.basis(),
            source: source.to_owned(),
        }
    }

    /// A trigger that would reveal less than the clock it starts or meets: a
    /// recorder would learn of (or touch) information it may not hold.
    fn wider_than_its_triggers(&self) -> Option<Trigger> {
        let clock = clock_reveals(self.kind);
        self.starts_on
            .iter()
            .chain(&self.met_by)
            .copied()
            .find(|t| !clock.iter().all(|c| trigger_reveals(*t).contains(c)))
    }

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
    /// A table; refused if two rows for one kind hold on the same day, or a
    /// row's clock reveals what an event it names does not (a psychiatric
    /// clock started by a discharge milestone would let whoever may record
    /// that see psychiatric information).
    pub fn new(rules: Vec<DeadlineRule>) -> Result<Self, String> {
        for (i, a) in rules.iter().enumerate() {
            if let Some(trigger) = a.wider_than_its_triggers() {
                return Err(format!(
                    "deadline rule {} for {:?}: {trigger:?} reveals less than the clock, so it may not start or meet it",
                    i + 1,
                    a.kind
                ));
            }
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

    /// The rows in force on `day` whose clocks `trigger` starts.
    pub fn started_by(&self, trigger: Trigger, day: Date) -> impl Iterator<Item = &DeadlineRule> {
        self.rules.iter().filter(move |r| r.holds_on(day) && r.starts_on.contains(&trigger))
    }

    /// What meets a clock of `kind` started on `started_on`: the row in force
    /// on that day (a changed reading of a right applies to the clocks running
    /// under it; only their due dates are fixed); for a clock no row covers any
    /// more, the kind's usual events, so that it can still be met.
    pub fn met_by(&self, kind: ClockKind, started_on: Date) -> &[Trigger] {
        match self.rule(kind, started_on) {
            Some(rule) => &rule.met_by,
            None => kind.usual_triggers().1,
        }
    }

    /// The kinds the default table starts that no row of this table covers at
    /// all: a table configured before they existed, whose clocks would
    /// silently not start.
    pub fn uncovered(&self) -> Vec<ClockKind> {
        let mut kinds: Vec<ClockKind> = Self::default()
            .rules
            .into_iter()
            .filter(|r| !r.starts_on.is_empty() && !self.rules.iter().any(|own| own.kind == r.kind))
            .map(|r| r.kind)
            .collect();
        kinds.dedup();
        kinds
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
        let row = |kind: ClockKind, from, until, period, source: &str| DeadlineRule {
            from,
            until,
            ..DeadlineRule::usual(kind, period, source)
        };
        use ClockKind::*;
        use Period::*;
        // Checked against the acts as stored in the reference pages (see the
        // README's section on rights): § 82 b from the ministry's 2014 notice
        // (psychiatry: 60 days from 1 Sep 2014, 30 from 1 Sep 2015); § 90 and §
        // 141 from the consolidated text; § 142 and § 82 c from their bills (L 34
        // 2014-15, L 126 2023-24); serviceloven § 101 as L 7 (2019-20) amended it.
        let rules = vec![
            row(
                Assessment,
                date(2014, 9, 1),
                date(2015, 9, 1),
                Days(60),
                "statute: udredningsret, sundhedsloven § 82 b, from the hospital's receipt of the referral (psychiatry: 60 days until 1 Sep 2015)",
            ),
            row(
                Assessment,
                date(2015, 9, 1),
                None,
                Days(30),
                "statute: udredningsret, sundhedsloven § 82 b, from the hospital's receipt of the referral; met by the assessment or an udredningsplan",
            ),
            row(
                InformationDuty,
                None,
                None,
                WorkingDays(8),
                "statute: information to the patient within 8 working days of the receipt of the referral, sundhedsloven § 90",
            ),
            row(
                TreatmentSerious,
                None,
                None,
                Days(30),
                "statute: extended free choice of hospital after assessment, serious illness, sundhedsloven § 87",
            ),
            row(
                TreatmentOther,
                None,
                None,
                Days(60),
                "statute: extended free choice of hospital after assessment, sundhedsloven § 87",
            ),
            row(
                AlcoholTreatment,
                None,
                None,
                Days(14),
                "statute: alcohol treatment within 14 days of the request, sundhedsloven § 141, stk. 2",
            ),
            row(
                SocialDrugTreatment,
                None,
                None,
                Days(14),
                "statute: social drug-abuse treatment within 14 days of the request, serviceloven § 101 (may be waived when the citizen chooses another provider)",
            ),
            row(
                MedicalDrugTreatment,
                None,
                None,
                Days(14),
                "statute: medical drug-abuse treatment within 14 days of the request, sundhedsloven § 142",
            ),
            row(
                DoctorConsultation,
                None,
                None,
                Days(14),
                "statute: lægesamtale before drug treatment starts (at the latest when it starts), sundhedsloven § 142",
            ),
            row(
                DualDiagnosisTreatment,
                date(2024, 9, 1),
                None,
                Days(14),
                "statute: integrated dual-diagnosis treatment within 14 days of the region's receipt of the referral, for citizens visiteret to it, sundhedsloven § 82 c (phased in by target group until 2027)",
            ),
            // Clocks of the one addiction right of earlier releases: none starts
            // any more; the row lets those running be met and resumed.
            row(
                AddictionTreatment,
                None,
                None,
                Days(14),
                "statute: alcohol or drug-abuse treatment within 14 days of the request (the one clock of earlier releases)",
            ),
            row(
                IndsatsplanMeeting,
                None,
                None,
                Months(6),
                "guidance: next joint meeting of the koordinerende indsatsplan within 6 months",
            ),
            row(
                NetworkMeeting,
                None,
                None,
                WorkingDays(5),
                "regional agreement: network meeting at discharge within 5 working days",
            ),
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
    fn each_default_rule_gives_its_due_date_and_names_its_basis() {
        use crate::domain::deadlines::RuleBasis;
        let rules = DeadlineRules::default();
        let start = day(2026, 11, 2); // a Monday
        let due = |kind| rules.due(kind, start);
        // (kind, due, basis, what the citation names)
        let rows = [
            (ClockKind::Assessment, Some(day(2026, 12, 2)), RuleBasis::Statute, "§ 82 b"),
            (ClockKind::InformationDuty, Some(day(2026, 11, 12)), RuleBasis::Statute, "§ 90"),
            (ClockKind::TreatmentSerious, Some(day(2026, 12, 2)), RuleBasis::Statute, "§ 87"),
            (ClockKind::TreatmentOther, Some(day(2027, 1, 1)), RuleBasis::Statute, "§ 87"),
            (ClockKind::AlcoholTreatment, Some(day(2026, 11, 16)), RuleBasis::Statute, "§ 141, stk. 2"),
            (ClockKind::SocialDrugTreatment, Some(day(2026, 11, 16)), RuleBasis::Statute, "serviceloven § 101"),
            (ClockKind::MedicalDrugTreatment, Some(day(2026, 11, 16)), RuleBasis::Statute, "§ 142"),
            (ClockKind::DoctorConsultation, Some(day(2026, 11, 16)), RuleBasis::Statute, "§ 142"),
            (ClockKind::DualDiagnosisTreatment, Some(day(2026, 11, 16)), RuleBasis::Statute, "§ 82 c"),
            (ClockKind::IndsatsplanMeeting, Some(day(2027, 5, 2)), RuleBasis::Guidance, "guidance"),
            (ClockKind::NetworkMeeting, Some(day(2026, 11, 9)), RuleBasis::RegionalAgreement, "regional agreement"),
            // The one addiction clock of earlier releases: its row serves those running.
            (ClockKind::AddictionTreatment, Some(day(2026, 11, 16)), RuleBasis::Statute, "14 days"),
        ];
        for (kind, expected, basis, cites) in rows {
            assert_eq!(due(kind), expected, "{kind:?}");
            assert_eq!(kind.basis(), basis, "{kind:?}");
            if let Some(rule) = rules.rule(kind, start) {
                assert!(rule.source.contains(cites), "{kind:?}: {}", rule.source);
            }
        }
        assert!(rules.uncovered().is_empty(), "the defaults cover every kind a milestone starts");
        assert!(
            rules.rules.iter().all(|r| r.kind != ClockKind::AddictionTreatment || r.starts_on.is_empty()),
            "no event starts the one addiction clock of earlier releases"
        );
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
        // Psychiatry's udredningsret began on 1 Sep 2014.
        assert!(rules.rule(ClockKind::Assessment, day(2014, 8, 31)).is_none());
        // Integrated dual-diagnosis treatment is a right only from 1 Sep 2024.
        assert!(rules.rule(ClockKind::DualDiagnosisTreatment, day(2024, 8, 31)).is_none());
        assert!(rules.rule(ClockKind::DualDiagnosisTreatment, day(2024, 9, 1)).is_some());
    }

    #[test]
    fn overlapping_rows_are_refused() {
        let row = |from, until| DeadlineRule {
            from,
            until,
            ..DeadlineRule::usual(ClockKind::Assessment, Period::Days(30), "x")
        };
        assert!(DeadlineRules::new(vec![row(None, Some(day(2020, 1, 1))), row(Some(day(2020, 1, 1)), None)]).is_ok());
        assert!(DeadlineRules::new(vec![row(None, Some(day(2020, 1, 2))), row(Some(day(2020, 1, 1)), None)]).is_err());
        assert!(DeadlineRules::new(vec![row(None, None), row(None, None)]).is_err());
        assert!(DeadlineRules::new(vec![row(Some(day(2020, 1, 1)), Some(day(2020, 1, 1)))]).is_err());
    }
}
