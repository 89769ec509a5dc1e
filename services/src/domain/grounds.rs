//! The legal grounds for disclosure: an effective-dated table, each row
//! citing its source. A row says on what basis organisations of some sectors
//! may receive some categories of a citizen's plan. [`super::policy::view`]
//! takes, for every category, the first row that applies to the caller on the
//! plan that day; nothing else opens a category (emergency access aside,
//! which is a grant of its own, see [`super::plan::EmergencyGrant`]).
//!
//! What was read to write the table (consolidated acts as published on
//! retsinformation.dk, read 3 Dec 2026):
//! - sundhedsloven § 41, stk. 1-3: disclosure between health professionals,
//!   with consent (stk. 1) or for current treatment (stk. 2, nr. 1); the
//!   patient may object to disclosure without consent (stk. 3).
//! - sundhedsloven § 43, stk. 1: disclosure to others than health
//!   professionals (social services, the job centre) only with consent.
//! - forvaltningsloven § 28, stk. 2, nr. 1, and stk. 3-4: between authorities,
//!   confidential information with the citizen's express, specific consent,
//!   which may be withdrawn.
//! - psykiatriloven § 13 a (udskrivningsaftale) and § 13 b (koordinationsplan):
//!   the ward, the citizen and the relevant authorities agree the treatment and
//!   social offers after discharge.
//!
//! Where a reading was uncertain the table takes the one that discloses less:
//! social and employment information reaches other sectors only by consent
//! (forvaltningsloven § 28, stk. 2, nr. 3 is not used as a standing ground);
//! the udskrivningsaftale opens only the discharge's coordination, and only
//! to municipal social services; and the citizen's objection holds against
//! every ground but the recipient's own records and emergency access.

use serde::{Deserialize, Serialize};

use super::model::{DataCategory, Date, LegalPlanType, OrganisationId, SectionKind, Sector, Timestamp};
use super::plan::Plan;

/// What kind of ground a row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Basis {
    /// On the care team: the plan itself and the citizen's goals.
    CareTeam,
    /// The recipient's own sector's information.
    OwnRecords,
    /// Health services in the citizen's current treatment (no consent needed; the citizen may object).
    CurrentTreatment,
    /// A statutory duty to coordinate, in force for this plan (see [`Condition`]).
    Statutory,
    /// The citizen's recorded consent naming the recipient and the category.
    Consent,
    /// The citizen's own plan, read by the citizen through a citizen portal.
    DataSubject,
}

/// When a statutory row applies to a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Condition {
    /// Always (the row's basis decides).
    None,
    /// The plan has an udskrivningsaftale or a koordinationsplan in its
    /// psychiatry section that is not cancelled.
    DischargeAgreement,
}

/// One row of the ground table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GroundRule {
    /// A stable id, recorded in the audit log (e.g. `sundhedsloven-41-2-1`).
    pub id: &'static str,
    pub basis: Basis,
    pub recipients: &'static [Sector],
    pub categories: &'static [DataCategory],
    pub condition: Condition,
    /// The source, as the audit log and the citizen's access view show it.
    pub citation: &'static str,
    /// The first day the row is in force.
    pub from: (i32, u32, u32),
    /// The first day it no longer is, if it has ended.
    pub until: Option<(i32, u32, u32)>,
}

use DataCategory::*;
use Sector::*;

/// The sectors of organisations that take part in plans (a citizen portal never does).
const ORGANISATIONS: &[Sector] = &[RegionalPsychiatry, AddictionService, MunicipalSocial, JobCentre];
const HEALTH: &[DataCategory] = &[Psychiatric, SubstanceAbuse, DischargeCoordination];

/// The table, most specific to the recipient first: a category takes the first row that applies.
pub const GROUNDS: &[GroundRule] = &[
    // Records made after 1 January 2010 give no ground to withhold a health
    // record from the patient (sundhedsloven § 37, stk. 3, limits only older ones).
    GroundRule {
        id: "data-subject",
        basis: Basis::DataSubject,
        recipients: &[Citizen],
        categories: &DataCategory::ALL,
        condition: Condition::None,
        citation: "the citizen's own plan: the right of access to one's own records (sundhedsloven § 37, stk. 1; forvaltningsloven § 9; databeskyttelsesforordningen art. 15)",
        from: (2018, 5, 25),
        until: None,
    },
    GroundRule {
        id: "care-team",
        basis: Basis::CareTeam,
        recipients: ORGANISATIONS,
        categories: &[PlanAndContact, Goals],
        condition: Condition::None,
        citation: "care-team member of the citizen's coordinated plan (databeskyttelsesforordningen art. 6, stk. 1, litra e, og art. 9, stk. 2, litra h)",
        from: (2018, 5, 25),
        until: None,
    },
    GroundRule {
        id: "own-records-psychiatry",
        basis: Basis::OwnRecords,
        recipients: &[RegionalPsychiatry],
        categories: &[Psychiatric, DischargeCoordination],
        condition: Condition::None,
        citation: "the region's own patient records (sundhedsloven § 40)",
        from: (2007, 1, 1),
        until: None,
    },
    GroundRule {
        id: "own-records-addiction",
        basis: Basis::OwnRecords,
        recipients: &[AddictionService],
        categories: &[SubstanceAbuse],
        condition: Condition::None,
        citation: "the addiction service's own treatment records (sundhedsloven § 40)",
        from: (2007, 1, 1),
        until: None,
    },
    GroundRule {
        id: "own-records-social",
        basis: Basis::OwnRecords,
        recipients: &[MunicipalSocial],
        categories: &[Social],
        condition: Condition::None,
        citation: "the municipality's own case records (serviceloven, retssikkerhedsloven)",
        from: (2007, 1, 1),
        until: None,
    },
    GroundRule {
        id: "own-records-employment",
        basis: Basis::OwnRecords,
        recipients: &[JobCentre],
        categories: &[Employment],
        condition: Condition::None,
        citation: "the job centre's own case records (lov om en aktiv beskæftigelsesindsats)",
        from: (2007, 1, 1),
        until: None,
    },
    GroundRule {
        id: "sundhedsloven-41-2-1",
        basis: Basis::CurrentTreatment,
        recipients: &[RegionalPsychiatry, AddictionService],
        categories: HEALTH,
        condition: Condition::None,
        citation: "current treatment between health services (sundhedsloven § 41, stk. 2, nr. 1)",
        from: (2007, 1, 1),
        until: None,
    },
    GroundRule {
        id: "psykiatriloven-13a-13b",
        basis: Basis::Statutory,
        recipients: &[MunicipalSocial],
        categories: &[DischargeCoordination],
        condition: Condition::DischargeAgreement,
        citation: "udskrivningsaftale or koordinationsplan (psykiatriloven §§ 13 a-13 b)",
        from: (2019, 7, 1),
        until: None,
    },
    GroundRule {
        id: "sundhedsloven-41-1-43-1",
        basis: Basis::Consent,
        recipients: ORGANISATIONS,
        categories: HEALTH,
        condition: Condition::None,
        citation: "the citizen's consent (sundhedsloven § 41, stk. 1, to health services, and § 43, stk. 1, to others)",
        from: (2007, 1, 1),
        until: None,
    },
    GroundRule {
        id: "forvaltningsloven-28-2-1",
        basis: Basis::Consent,
        recipients: ORGANISATIONS,
        categories: &[Social, Employment],
        condition: Condition::None,
        citation: "the citizen's consent (forvaltningsloven § 28, stk. 2, nr. 1)",
        from: (2007, 1, 1),
        until: None,
    },
];

/// The citation of emergency access, which is a grant, not a row.
pub const EMERGENCY_CITATION: &str =
    "emergency access (værdispring, sundhedsloven § 41, stk. 2, nr. 4, and § 43, stk. 2, nr. 2)";

/// The citation of the indicators' aggregates, which disclose no plan: the
/// events are processed for statistics only (databeskyttelsesloven § 10,
/// stk. 1; stk. 2: never for another purpose), and only results from which
/// no person can be identified leave (Datatilsynet's guidance on § 10).
pub const STATISTICS_CITATION: &str = "aggregate statistics (databeskyttelsesloven § 10, stk. 1-2): \
counts below the threshold suppressed with every cell they could be recomputed from, so no person can be identified";

fn day((y, m, d): (i32, u32, u32)) -> Date {
    Date::from_ymd_opt(y, m, d).unwrap_or(Date::MIN)
}

impl GroundRule {
    pub fn in_force(&self, today: Date) -> bool {
        day(self.from) <= today && self.until.is_none_or(|until| today < day(until))
    }

    /// Whether the row's condition holds for `plan`.
    pub fn holds_for(&self, plan: &Plan) -> bool {
        match self.condition {
            Condition::None => true,
            Condition::DischargeAgreement => plan.activities.iter().any(|a| {
                a.section == SectionKind::Psychiatry
                    && matches!(a.legal_plan_type, LegalPlanType::Udskrivningsaftale | LegalPlanType::Koordinationsplan)
                    && a.status != super::model::ActivityStatus::Cancelled
            }),
        }
    }

    /// Whether the citizen's objection can stop disclosure on this row.
    pub fn objectable(&self) -> bool {
        !matches!(self.basis, Basis::OwnRecords | Basis::CareTeam | Basis::DataSubject)
    }
}

/// The ground a category is disclosed on, for the audit log.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ground {
    /// The row's id, or `emergency-access`.
    pub rule: &'static str,
    pub citation: &'static str,
    /// The consent or emergency grant it rests on, if any.
    pub reference: Option<String>,
}

impl Ground {
    pub fn of(rule: &GroundRule, reference: Option<String>) -> Self {
        Self { rule: rule.id, citation: rule.citation, reference }
    }

    pub fn emergency(grant_id: &str) -> Self {
        Self { rule: "emergency-access", citation: EMERGENCY_CITATION, reference: Some(grant_id.to_owned()) }
    }

    pub fn describe(&self) -> String {
        match &self.reference {
            Some(reference) => format!("{} [{}]", self.citation, reference),
            None => self.citation.to_owned(),
        }
    }
}

/// The first row that lets `recipient` (of `sector`) receive `category` of
/// `plan` at `now`, with the consent it rests on; `None` when nothing does.
pub fn ground_for(
    plan: &Plan,
    recipient: &OrganisationId,
    sector: Sector,
    category: DataCategory,
    now: Timestamp,
) -> Option<Ground> {
    let today = now.date();
    let objected = plan.objections.iter().any(|o| o.covers(recipient, category, now));
    GROUNDS
        .iter()
        .filter(|row| row.in_force(today) && row.recipients.contains(&sector) && row.categories.contains(&category))
        .filter(|row| !(objected && row.objectable()))
        .find_map(|row| match row.basis {
            Basis::Consent => plan
                .consents
                .iter()
                .find(|c| c.covers(recipient, category, now))
                .map(|c| Ground::of(row, Some(c.terms.consent_id.clone()))),
            _ => row.holds_for(plan).then(|| Ground::of(row, None)),
        })
}

/// Whether `organisation` (of `sector`) holds `category` of `plan` as its
/// own: the plan and the goals as a care-team member, its own records, and
/// the substance-abuse information of the addiction section it owns (the
/// region, for a citizen visiteret to integrated dual-diagnosis treatment,
/// sundhedsloven § 82 c; who may own the section when is the ownership
/// table's, see `rules`). What it may write outside the sections, and record
/// consent to disclose. Reading the addiction service's earlier records
/// stays on current treatment, which the citizen may object to. The citizen
/// holds everything about themselves.
pub fn holds(plan: &Plan, organisation: &OrganisationId, sector: Sector, category: DataCategory, today: Date) -> bool {
    let own_row = GROUNDS.iter().any(|row| {
        matches!(row.basis, Basis::CareTeam | Basis::OwnRecords | Basis::DataSubject)
            && row.in_force(today)
            && row.recipients.contains(&sector)
            && row.categories.contains(&category)
            && row.holds_for(plan)
    });
    let owns_addiction = category == SubstanceAbuse
        && plan.sections.get(&SectionKind::Addiction).is_some_and(|owner| &owner.organisation == organisation);
    own_row || owns_addiction
}
