//! Who may own which section of the plan, as an effective-dated table. This is
//! data: the hub's operator can replace the defaults in configuration.

use serde::{Deserialize, Serialize};

use super::model::{Date, LegalPlanType, SectionKind, Sector};

/// One row: organisations of `sector` may own `section` from `from` (inclusive)
/// until `until` (exclusive); `None` means unbounded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OwnershipRule {
    pub section: SectionKind,
    pub sector: Sector,
    pub from: Option<Date>,
    pub until: Option<Date>,
    /// Where the rule comes from, for operators and auditors.
    pub source: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OwnershipRules(Vec<OwnershipRule>);

impl OwnershipRules {
    pub fn new(rules: Vec<OwnershipRule>) -> Self {
        Self(rules)
    }

    pub fn rules(&self) -> &[OwnershipRule] {
        &self.0
    }

    pub fn may_own(&self, sector: Sector, section: SectionKind, on: Date) -> bool {
        self.0.iter().any(|r| {
            r.section == section
                && r.sector == sector
                && r.from.is_none_or(|from| from <= on)
                && r.until.is_none_or(|until| on < until)
        })
    }
}

impl Default for OwnershipRules {
    fn default() -> Self {
        let always = |section, sector, source: &str| OwnershipRule {
            section,
            sector,
            from: None,
            until: None,
            source: source.to_owned(),
        };
        Self(vec![
            always(SectionKind::Psychiatry, Sector::RegionalPsychiatry, "sundhedsloven"),
            always(SectionKind::Social, Sector::MunicipalSocial, "serviceloven § 141"),
            always(SectionKind::Employment, Sector::JobCentre, "lov om en aktiv beskæftigelsesindsats"),
            always(SectionKind::Addiction, Sector::AddictionService, "sundhedsloven § 141, serviceloven § 101"),
            OwnershipRule {
                section: SectionKind::Addiction,
                sector: Sector::RegionalPsychiatry,
                from: Date::from_ymd_opt(2024, 9, 1),
                until: None,
                source: "integrated dual-diagnosis treatment moved to the regions from 1 Sep 2024".to_owned(),
            },
        ])
    }
}

/// Which legal plans an activity in a section may belong to.
pub fn legal_plan_fits(section: SectionKind, plan: LegalPlanType) -> bool {
    use LegalPlanType::*;
    match section {
        SectionKind::Psychiatry => {
            matches!(plan, Behandlingsplan | Udskrivningsaftale | Koordinationsplan | KoordinerendeIndsatsplan)
        }
        SectionKind::Social => matches!(plan, Handleplan | Koordinationsplan | KoordinerendeIndsatsplan),
        SectionKind::Employment => matches!(plan, Jobplan | Rehabiliteringsplan),
        SectionKind::Addiction => matches!(plan, Behandlingsplan | KoordinerendeIndsatsplan),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn region_may_own_addiction_only_from_september_2024() {
        let rules = OwnershipRules::default();
        let before = Date::from_ymd_opt(2024, 8, 31).expect("date");
        let after = Date::from_ymd_opt(2024, 9, 1).expect("date");
        assert!(!rules.may_own(Sector::RegionalPsychiatry, SectionKind::Addiction, before));
        assert!(rules.may_own(Sector::RegionalPsychiatry, SectionKind::Addiction, after));
        assert!(rules.may_own(Sector::AddictionService, SectionKind::Addiction, before));
        assert!(!rules.may_own(Sector::JobCentre, SectionKind::Psychiatry, after));
    }
}
