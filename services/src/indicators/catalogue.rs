//! The indicator catalogue: each indicator's definition as data
//! (`catalogue.toml`, compiled in), and the measure and unit it is computed
//! from.

use serde::Deserialize;

use super::Measure;
use crate::domain::ClockKind;

/// How an indicator's value is expressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Unit {
    /// Numerator over denominator, 0 to 1.
    Share,
    /// The median of a number of days.
    DaysMedian,
    /// The 90th percentile (nearest rank) of a number of days.
    DaysP90,
    Count,
    /// Numerator over denominator: so many per citizen.
    PerCitizen,
    /// Numerator per 1,000 open plans.
    #[serde(rename = "PER_1000_PLANS")]
    Per1000Plans,
}

impl Unit {
    pub fn name(self) -> &'static str {
        match self {
            Self::Share => "SHARE",
            Self::DaysMedian => "DAYS_MEDIAN",
            Self::DaysP90 => "DAYS_P90",
            Self::Count => "COUNT",
            Self::PerCitizen => "PER_CITIZEN",
            Self::Per1000Plans => "PER_1000_PLANS",
        }
    }
}

/// One indicator, as the catalogue defines it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Indicator {
    pub id: String,
    pub title: String,
    pub unit: Unit,
    pub measure: Measure,
    pub numerator: String,
    pub denominator: String,
    /// Which events count, and how.
    pub counts: String,
    /// The period rule: flow, or stock at the period's end.
    pub period: String,
    pub attributed_to: String,
    /// Where the indicator comes from: statute, guidance, the national plan.
    pub source: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    indicator: Vec<Entry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    id: String,
    title: String,
    measure: String,
    #[serde(default)]
    clock: Option<ClockKind>,
    unit: Unit,
    numerator: String,
    denominator: String,
    counts: String,
    period: String,
    attributed_to: String,
    source: String,
}

/// Every indicator the hub computes, in the catalogue's order.
#[derive(Clone, Debug)]
pub struct Catalogue {
    indicators: Vec<Indicator>,
}

impl Catalogue {
    /// The catalogue the hub is built with.
    pub fn standard() -> Self {
        Self::parse(include_str!("catalogue.toml")).expect("the built-in catalogue is valid (a unit test checks it)")
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        let file: File = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut indicators = Vec::with_capacity(file.indicator.len());
        for entry in file.indicator {
            let measure = measure(&entry.measure, entry.clock)
                .ok_or_else(|| format!("indicator {}: unknown measure {:?}", entry.id, entry.measure))?;
            if !fits(entry.unit, measure) {
                return Err(format!("indicator {}: unit {} does not fit its measure", entry.id, entry.unit.name()));
            }
            if indicators.iter().any(|i: &Indicator| i.id == entry.id) {
                return Err(format!("indicator {} is defined twice", entry.id));
            }
            indicators.push(Indicator {
                id: entry.id,
                title: entry.title,
                unit: entry.unit,
                measure,
                numerator: entry.numerator,
                denominator: entry.denominator,
                counts: entry.counts,
                period: entry.period,
                attributed_to: entry.attributed_to,
                source: entry.source,
            });
        }
        Ok(Self { indicators })
    }

    pub fn indicators(&self) -> &[Indicator] {
        &self.indicators
    }

    pub fn get(&self, id: &str) -> Option<&Indicator> {
        self.indicators.iter().find(|i| i.id == id)
    }
}

/// Whether a unit can be computed from a measure's tallies.
fn fits(unit: Unit, measure: Measure) -> bool {
    use Measure as M;
    match unit {
        Unit::Share => matches!(
            measure,
            M::ClockMetInTime(_)
                | M::NetworkMeetingInTime
                | M::CoordinatorOffered
                | M::IndsatsplanAgreed
                | M::IndsatsplanMeetingOverdue
        ),
        Unit::DaysMedian | Unit::DaysP90 => matches!(measure, M::DaysToAssessment | M::DaysToTreatment),
        Unit::Count => matches!(measure, M::ConsentsWithdrawn | M::EmergencyAccesses),
        Unit::PerCitizen => matches!(measure, M::ContactPersons | M::LegalPlans),
        Unit::Per1000Plans => measure == M::EmergencyAccesses,
    }
}

fn measure(name: &str, clock: Option<ClockKind>) -> Option<Measure> {
    Some(match (name, clock) {
        ("CLOCK_MET_IN_TIME", Some(clock)) => Measure::ClockMetInTime(clock),
        (_, Some(_)) => return None,
        ("DAYS_TO_ASSESSMENT", None) => Measure::DaysToAssessment,
        ("DAYS_TO_TREATMENT", None) => Measure::DaysToTreatment,
        ("NETWORK_MEETING_IN_TIME", None) => Measure::NetworkMeetingInTime,
        ("COORDINATOR_OFFERED", None) => Measure::CoordinatorOffered,
        ("INDSATSPLAN_AGREED", None) => Measure::IndsatsplanAgreed,
        ("INDSATSPLAN_MEETING_OVERDUE", None) => Measure::IndsatsplanMeetingOverdue,
        ("CONTACT_PERSONS", None) => Measure::ContactPersons,
        ("LEGAL_PLANS", None) => Measure::LegalPlans,
        ("CONSENTS_WITHDRAWN", None) => Measure::ConsentsWithdrawn,
        ("EMERGENCY_ACCESSES", None) => Measure::EmergencyAccesses,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_standard_catalogue_parses_and_covers_what_the_plan_asks_for() {
        let catalogue = Catalogue::standard();
        for id in [
            "clock-met-assessment",
            "days-referral-to-assessment-median",
            "days-referral-to-treatment-p90",
            "discharge-network-meeting-in-time",
            "discharge-coordinator-offered",
            "dual-diagnosis-indsatsplan-agreed",
            "indsatsplan-meeting-overdue",
            "contact-persons-per-citizen",
            "legal-plans-per-citizen",
            "consents-withdrawn",
            "emergency-accesses-per-1000-plans",
        ] {
            let indicator = catalogue.get(id).unwrap_or_else(|| panic!("{id} is missing"));
            assert!(!indicator.source.is_empty() && !indicator.numerator.is_empty());
        }
        // Every right's clock has its indicator (the indsatsplan meeting is guidance:
        // `indsatsplan-meeting-overdue` counts it, and a count of its misses beside
        // that stock would give the meetings held away).
        let clocks = catalogue.indicators().iter().filter(|i| matches!(i.measure, Measure::ClockMetInTime(_)));
        assert_eq!(clocks.count(), 10);
    }

    #[test]
    fn a_unit_that_does_not_fit_its_measure_is_refused() {
        let text = include_str!("catalogue.toml").replacen("unit = \"SHARE\"", "unit = \"DAYS_MEDIAN\"", 1);
        assert!(Catalogue::parse(&text).expect_err("refused").contains("does not fit"));
        let text = include_str!("catalogue.toml").replacen("clock = \"ASSESSMENT\"", "clock = \"SOMETHING\"", 1);
        assert!(Catalogue::parse(&text).expect_err("refused").contains("unknown variant `SOMETHING`"));
    }
}
