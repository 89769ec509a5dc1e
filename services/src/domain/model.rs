//! The vocabulary of the plan: identifiers, sectors, roles, statuses and the
//! validated values that commands and events carry.

use serde::{Deserialize, Serialize};

use super::error::DomainError;

/// A plan's identity: a random UUID, never derived from the citizen.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PlanId(pub [u8; 16]);

impl PlanId {
    pub fn random() -> Self {
        Self(*uuid::Uuid::new_v4().as_bytes())
    }

    /// `plans/{uuid}`.
    pub fn resource_name(&self) -> String {
        format!("plans/{}", uuid::Uuid::from_bytes(self.0).hyphenated())
    }

    pub fn parse_resource_name(name: &str) -> Option<Self> {
        let id = name.strip_prefix("plans/")?;
        uuid::Uuid::try_parse(id).ok().map(|u| Self(*u.as_bytes()))
    }
}

/// Where one decision takes the ids of the items it adds (a goal, a member,
/// a clock, …). The store draws a random seed for each decision, so that an
/// id tells nothing of how many items the plan holds: numbered ids
/// (`goal-3` after `goal-1`) would tell a reader of a `goal-2` it may not see.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdSeed(pub u64);

impl IdSeed {
    /// The `n`th id of `kind` the decision adds: `{kind}-{16 hex digits}`,
    /// distinct for distinct `n` (a bijective mix of the seed, the kind and `n`).
    pub fn id(self, kind: &str, n: usize) -> String {
        let kind_mix = kind.bytes().fold(0u64, |h, b| h.wrapping_mul(0x100_0000_01B3).wrapping_add(u64::from(b)));
        // SplitMix64's finaliser: a bijection on u64.
        let mut z = (self.0 ^ kind_mix).wrapping_add((n as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        format!("{kind}-{:016x}", z ^ (z >> 31))
    }
}

/// Microseconds since the Unix epoch, UTC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Timestamp(pub i64);

impl Timestamp {
    pub fn now() -> Self {
        Self(chrono::Utc::now().timestamp_micros())
    }

    /// The calendar date in Denmark (Europe/Copenhagen, summer time
    /// included, from the time-zone database): what today, due dates,
    /// effective dates and overdue mean.
    pub fn date(&self) -> Date {
        let utc = chrono::DateTime::from_timestamp_micros(self.0).unwrap_or_default();
        utc.with_timezone(&chrono_tz::Europe::Copenhagen).date_naive()
    }
}

pub type Date = chrono::NaiveDate;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Sector {
    RegionalPsychiatry,
    MunicipalSocial,
    JobCentre,
    AddictionService,
    Citizen,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum ProfessionalRole {
    Physician,
    Nurse,
    Psychologist,
    SocialWorker,
    JobConsultant,
    AddictionCounsellor,
    Mentor,
    Secretary,
    Auditor,
    /// Not a professional: the citizen, acting on their own plan through a citizen portal.
    Citizen,
    /// Not a professional: a guardian (værge) or holder of a power of attorney
    /// (fremtidsfuldmægtig) acting for the citizen through a citizen portal.
    Representative,
    /// Reads the hub's indicators (aggregates, small counts suppressed);
    /// takes part in no plan and reads none.
    Analyst,
}

macro_rules! bounded_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub struct $name(String);

        impl $name {
            /// Letters, digits and `-_.:@`, 1-64 characters, not shaped like a CPR
            /// number and holding none.
            pub fn parse(field: &'static str, value: &str) -> Result<Self, DomainError> {
                if value.is_empty() || value.len() > 64 {
                    return Err(DomainError::invalid(field, concat!($what, " must be 1-64 characters")));
                }
                if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:@".contains(&b)) {
                    return Err(DomainError::invalid(field, concat!($what, " may hold only letters, digits and -_.:@")));
                }
                if looks_like_cpr(value) || super::cpr::names_cpr(value) {
                    return Err(DomainError::invalid(field, concat!($what, " must not hold a CPR number")));
                }
                Ok(Self(value.to_owned()))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

bounded_id!(
    /// A registered organisation's stable id, e.g. `psykiatri-region-h-amager`.
    OrganisationId,
    "an organisation id"
);
bounded_id!(
    /// An opaque identifier of a professional in their organisation's system.
    ProfessionalId,
    "a professional id"
);

/// Identifiers are logged and used in keys, so refuse anything that might be
/// a CPR number (six digits, optional dash, four characters).
fn looks_like_cpr(value: &str) -> bool {
    let compact: String = value.chars().filter(|c| *c != '-').collect();
    compact.len() == 10 && compact.chars().take(7).all(|c| c.is_ascii_digit())
}

/// Free text written by people: trimmed, non-empty, bounded, no control characters
/// other than newlines and tabs.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Text(String);

impl Text {
    pub const MAX_CHARS: usize = 4000;

    pub fn parse(field: &'static str, value: &str) -> Result<Self, DomainError> {
        Self::parse_max(field, value, Self::MAX_CHARS)
    }

    pub fn parse_max(field: &'static str, value: &str, max_chars: usize) -> Result<Self, DomainError> {
        let trimmed = value.trim();
        if trimmed.is_empty() {
            return Err(DomainError::invalid(field, "must not be empty"));
        }
        if trimmed.chars().count() > max_chars {
            return Err(DomainError::invalid(field, format!("must be at most {max_chars} characters")));
        }
        if trimmed.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
            return Err(DomainError::invalid(field, "must not contain control characters"));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Who acts: the organisation (from its certificate) and its professional
/// (from their signed assertion) — or, through a citizen portal, the citizen
/// or their representative (sector `Citizen`, role `Citizen` or
/// `Representative`, `professional` the portal's id of the person).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub organisation: OrganisationId,
    pub sector: Sector,
    pub professional: ProfessionalId,
    pub role: ProfessionalRole,
    /// For the citizen acting through a citizen portal: the plan they are the
    /// citizen of, as the hub found it from the CPR number their assertion
    /// proves (`None` while they have no plan). A citizen reaches no other
    /// plan. Never stored: a recorded actor says who acted, not what they may do.
    #[serde(skip)]
    pub own_plan: Option<PlanId>,
}

impl Actor {
    /// Whether the citizen (or their representative) acts, through a citizen portal.
    pub fn is_citizen(&self) -> bool {
        self.sector == Sector::Citizen
    }
}

/// A registered organisation named in a command, resolved against the hub's registry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganisationRef {
    pub id: OrganisationId,
    pub sector: Sector,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PlanStatus {
    Draft,
    Active,
    OnHold,
    Closed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum SectionKind {
    Psychiatry,
    Social,
    Employment,
    Addiction,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum LegalPlanType {
    Behandlingsplan,
    Udskrivningsaftale,
    Koordinationsplan,
    Handleplan,
    Jobplan,
    Rehabiliteringsplan,
    KoordinerendeIndsatsplan,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActivityStatus {
    Planned,
    InProgress,
    Completed,
    Cancelled,
}

impl ActivityStatus {
    /// Planned or in progress.
    pub fn is_open(self) -> bool {
        matches!(self, Self::Planned | Self::InProgress)
    }

    pub fn can_move_to(self, next: Self) -> bool {
        use ActivityStatus::*;
        matches!((self, next), (Planned, InProgress) | (InProgress, Completed) | (Planned | InProgress, Cancelled))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GoalLifecycle {
    Active,
    Ended,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum GoalAchievement {
    NotAssessed,
    Achieved,
    PartlyAchieved,
    NotAchieved,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum AdvanceStatementOccasion {
    Admission,
    Discharge,
    Other,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RelativeInvolvement {
    Full,
    InformationOnly,
    None,
}

/// What kind of information an item of the plan is. Every item carries one;
/// the access policy ([`super::policy`]) decides per category who sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum DataCategory {
    /// The plan itself, its status, the care team's coordination, the contact person, consents, relatives.
    PlanAndContact,
    /// The citizen's own goals.
    Goals,
    /// Psychiatric diagnoses, treatment and other health information.
    Psychiatric,
    /// Substance abuse and its treatment.
    SubstanceAbuse,
    /// Social circumstances and social services.
    Social,
    /// Employment, benefits and the job centre's efforts.
    Employment,
    /// A discharge from a psychiatric ward and its coordination: that a
    /// discharge is planned, the network meeting, the contact person agreed
    /// for after it. Health information, narrower than [`Self::Psychiatric`],
    /// so that a statutory ground (the udskrivningsaftale) can open it alone.
    DischargeCoordination,
}

impl DataCategory {
    pub const ALL: [Self; 7] = [
        Self::PlanAndContact,
        Self::Goals,
        Self::Psychiatric,
        Self::SubstanceAbuse,
        Self::Social,
        Self::Employment,
        Self::DischargeCoordination,
    ];

    /// The category's name in the audit log and the citizen's access view.
    pub fn label(self) -> &'static str {
        match self {
            Self::PlanAndContact => "plan and contact",
            Self::Goals => "goals",
            Self::Psychiatric => "psychiatric",
            Self::SubstanceAbuse => "substance abuse",
            Self::Social => "social",
            Self::Employment => "employment",
            Self::DischargeCoordination => "discharge coordination",
        }
    }

    /// Health information: what only health law lets anyone disclose.
    pub fn is_health(self) -> bool {
        matches!(self, Self::Psychiatric | Self::SubstanceAbuse | Self::DischargeCoordination)
    }

    /// The categories of `self` and `others`, distinct, in [`DataCategory::ALL`] order.
    pub fn with(self, others: &[Self]) -> Vec<Self> {
        Self::distinct(std::iter::once(self).chain(others.iter().copied()))
    }

    /// The distinct categories among `categories`, in [`DataCategory::ALL`] order.
    pub fn distinct(categories: impl IntoIterator<Item = Self>) -> Vec<Self> {
        let present: Vec<Self> = categories.into_iter().collect();
        Self::ALL.into_iter().filter(|c| present.contains(c)).collect()
    }
}

impl SectionKind {
    /// The category of everything written in the section.
    pub fn category(self) -> DataCategory {
        match self {
            Self::Psychiatry => DataCategory::Psychiatric,
            Self::Social => DataCategory::Social,
            Self::Employment => DataCategory::Employment,
            Self::Addiction => DataCategory::SubstanceAbuse,
        }
    }
}

impl ProfessionalRole {
    /// Authorised health professionals (autorisationsloven): physicians,
    /// nurses and psychologists. They carry an authorisation id, and only they
    /// may take emergency access.
    pub fn is_authorised_health_professional(self) -> bool {
        matches!(self, Self::Physician | Self::Nurse | Self::Psychologist)
    }
}

impl Sector {
    /// Whether organisations of the sector have professionals in `role`: an
    /// identity provider's assertion naming another role is refused. Health
    /// professionals work in health services; job consultants and mentors in
    /// the job centre; addiction counsellors in addiction treatment (social
    /// drug treatment is registered as municipal social services); social
    /// workers anywhere but the job centre; secretaries, auditors and
    /// analysts everywhere. A citizen portal has no professionals at all: only the
    /// citizen and their representatives act through it, and only through it.
    pub fn may_hold(self, role: ProfessionalRole) -> bool {
        use ProfessionalRole::*;
        match self {
            Self::Citizen => matches!(role, Citizen | Representative),
            _ if matches!(role, Citizen | Representative) => false,
            _ if matches!(role, Secretary | Auditor | Analyst) => true,
            Self::RegionalPsychiatry => matches!(role, Physician | Nurse | Psychologist | SocialWorker),
            Self::AddictionService => {
                matches!(role, Physician | Nurse | Psychologist | SocialWorker | AddictionCounsellor)
            }
            Self::MunicipalSocial => matches!(role, SocialWorker | AddictionCounsellor | Psychologist),
            Self::JobCentre => matches!(role, JobConsultant | Mentor | Psychologist),
        }
    }

    /// Whether organisations of the sector are health services (sundhedsloven
    /// applies): regional psychiatry, and addiction treatment under
    /// sundhedsloven §§ 141-142. Social drug treatment (serviceloven § 101) is
    /// registered as municipal social services.
    pub fn is_health(self) -> bool {
        matches!(self, Self::RegionalPsychiatry | Self::AddictionService)
    }
}

/// How a consent was given.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsentForm {
    Oral,
    Written,
}

/// Who gave a consent.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ConsentGiver {
    Citizen,
    /// A guardian (værge) or holder of a power of attorney acting for the citizen.
    Representative,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(rfc3339: &str) -> Timestamp {
        Timestamp(chrono::DateTime::parse_from_rfc3339(rfc3339).expect("time").timestamp_micros())
    }

    fn day(y: i32, m: u32, d: u32) -> Date {
        Date::from_ymd_opt(y, m, d).expect("date")
    }

    #[test]
    fn dates_are_danish_summer_time_included() {
        // Summer (CEST, UTC+2): half past midnight in Copenhagen is the next day.
        assert_eq!(at("2026-07-01T22:30:00Z").date(), day(2026, 7, 2));
        assert_eq!(at("2026-07-01T21:59:59Z").date(), day(2026, 7, 1));
        // Winter (CET, UTC+1).
        assert_eq!(at("2026-01-15T23:30:00Z").date(), day(2026, 1, 16));
        assert_eq!(at("2026-01-15T22:59:59Z").date(), day(2026, 1, 15));
        // The night summer time starts (29 March 2026, 02:00 CET -> 03:00 CEST).
        assert_eq!(at("2026-03-28T23:00:00Z").date(), day(2026, 3, 29));
        assert_eq!(at("2026-03-28T22:59:59Z").date(), day(2026, 3, 28));
    }
}
