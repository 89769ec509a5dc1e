//! The `[deadlines]` section: the watcher's interval, the deployment's closed
//! days and the effective-dated deadline table, as the configuration spells them.

use anyhow::bail;
use samplan_services::domain::{Calendar, ClockKind, DeadlineRule, DeadlineRules, Period, RuleBasis, Trigger};
use serde::Deserialize;

#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineConfig {
    /// How often the deadline watcher looks for clocks that went overdue.
    #[serde(default = "default_check_interval_ms")]
    pub check_interval_ms: u64,
    /// The effective-dated deadline table; when given, it replaces the default table whole.
    #[serde(default)]
    pub rules: Option<Vec<DeadlineRuleConfig>>,
    /// Days (YYYY-MM-DD) the deployment's offices are closed besides weekends
    /// and public holidays: not working days for any working-day clock.
    #[serde(default)]
    pub closed_days: Vec<chrono::NaiveDate>,
}

impl Default for DeadlineConfig {
    fn default() -> Self {
        Self { check_interval_ms: default_check_interval_ms(), rules: None, closed_days: Vec::new() }
    }
}

impl DeadlineConfig {
    /// The table (the configured rows, or the default table) on the working-day
    /// calendar with the configured closed days.
    pub fn table(&self) -> anyhow::Result<DeadlineRules> {
        let calendar = Calendar::with_closed_days(self.closed_days.iter().copied());
        Ok(self.rows()?.with_calendar(calendar))
    }

    fn rows(&self) -> anyhow::Result<DeadlineRules> {
        let Some(rows) = &self.rules else { return Ok(DeadlineRules::default()) };
        let rules = rows
            .iter()
            .enumerate()
            .map(|(i, row)| {
                let period = match (row.days, row.working_days, row.months) {
                    (Some(n), None, None) => Period::Days(n),
                    (None, Some(n), None) => Period::WorkingDays(n),
                    (None, None, Some(n)) => Period::Months(n),
                    _ => bail!("deadlines.rules[{i}]: give exactly one of days, working_days and months"),
                };
                let usual = DeadlineRule::usual(row.kind, period, &row.source);
                Ok(DeadlineRule {
                    from: row.from,
                    until: row.until,
                    starts_on: row.starts_on.clone().unwrap_or(usual.starts_on.clone()),
                    met_by: row.met_by.clone().unwrap_or(usual.met_by.clone()),
                    basis: row.basis.map_or(usual.basis, RuleBasis::from),
                    ..usual
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        DeadlineRules::new(rules).map_err(|e| anyhow::anyhow!("deadlines.rules: {e}"))
    }
}

/// One row of the deadline table.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeadlineRuleConfig {
    pub kind: ClockKind,
    /// First day (YYYY-MM-DD, inclusive) a clock started on gets this rule; unbounded when absent.
    #[serde(default)]
    pub from: Option<chrono::NaiveDate>,
    /// Day (exclusive) from which the rule no longer applies to new clocks.
    #[serde(default)]
    pub until: Option<chrono::NaiveDate>,
    #[serde(default)]
    pub days: Option<u32>,
    #[serde(default)]
    pub working_days: Option<u32>,
    #[serde(default)]
    pub months: Option<u32>,
    /// `STATUTE`, `GUIDANCE` or `REGIONAL_AGREEMENT`; the kind's usual basis when left out.
    #[serde(default)]
    pub basis: Option<RuleBasisName>,
    /// The events that start such a clock (e.g. `REFERRED_FOR_ASSESSMENT`);
    /// the kind's usual ones when left out, none for `[]`.
    #[serde(default)]
    pub starts_on: Option<Vec<Trigger>>,
    /// The events that meet it (e.g. `ASSESSMENT_PLAN_GIVEN`); the kind's usual ones when left out.
    #[serde(default)]
    pub met_by: Option<Vec<Trigger>>,
    /// The legal source, shown with every clock the rule starts.
    pub source: String,
}

/// Rule bases as the configuration spells them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RuleBasisName {
    Statute,
    Guidance,
    RegionalAgreement,
}

impl From<RuleBasisName> for RuleBasis {
    fn from(b: RuleBasisName) -> Self {
        match b {
            RuleBasisName::Statute => RuleBasis::Statute,
            RuleBasisName::Guidance => RuleBasis::Guidance,
            RuleBasisName::RegionalAgreement => RuleBasis::RegionalAgreement,
        }
    }
}

pub(super) fn default_check_interval_ms() -> u64 {
    60_000
}
