//! Who may see and write what: the one place the hub's access rules live.
//!
//! Two declarative tables decide every access. [`SECTOR_POLICY`] says, per
//! sector of the calling organisation and per data category, on what ground a
//! care-team member of that sector sees the category. [`ROLE_SCOPES`] narrows
//! that by the professional's role. On top of both, emergency access
//! (værdispring) lets one professional read everything for a limited time.
//! Handlers and the store ask [`view`] and [`may_write`]; nothing else decides.
//!
//! An organisation that is not on the care team (and holds no emergency
//! access) is told the plan does not exist, whatever it asks.

use serde::{Deserialize, Serialize};

use super::error::DomainError;
use super::model::{Actor, DataCategory, ProfessionalRole, Sector, Timestamp};
use super::plan::Plan;

/// On what ground a care-team member of a sector sees a category.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rule {
    /// Any care-team member of the sector sees (and may write) it.
    Member,
    /// Health services see each other's health information for the citizen's
    /// current treatment (on the care team means in current treatment); read only.
    CurrentTreatment,
    /// Only under the citizen's recorded, unwithdrawn consent for the organisation; read only.
    Consent,
}

use DataCategory::*;
use Rule::*;

/// The sector × category table. Columns follow [`DataCategory::ALL`]:
/// plan & contact, goals, psychiatric, substance abuse, social, employment.
pub const SECTOR_POLICY: [(Sector, [Rule; 6]); 5] = [
    (Sector::RegionalPsychiatry, [Member, Member, Member, CurrentTreatment, Member, Member]),
    (Sector::AddictionService, [Member, Member, CurrentTreatment, Member, Member, Member]),
    (Sector::MunicipalSocial, [Member, Member, Consent, Consent, Member, Member]),
    (Sector::JobCentre, [Member, Member, Consent, Consent, Member, Member]),
    (Sector::Citizen, [Member, Member, Member, Member, Member, Member]),
];

/// How far a professional role reaches into a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything the sector's rules allow.
    Clinical,
    /// Only the plan itself and its contact person (no goals, no sections).
    Administrative,
    /// No plan content; the access logs (Min Log) and emergency-access reviews.
    Oversight,
}

pub const ROLE_SCOPES: [(ProfessionalRole, Scope); 9] = [
    (ProfessionalRole::Physician, Scope::Clinical),
    (ProfessionalRole::Nurse, Scope::Clinical),
    (ProfessionalRole::Psychologist, Scope::Clinical),
    (ProfessionalRole::SocialWorker, Scope::Clinical),
    (ProfessionalRole::JobConsultant, Scope::Clinical),
    (ProfessionalRole::AddictionCounsellor, Scope::Clinical),
    (ProfessionalRole::Mentor, Scope::Clinical),
    (ProfessionalRole::Secretary, Scope::Administrative),
    (ProfessionalRole::Auditor, Scope::Oversight),
];

/// Why the hub acted on a plan; recorded in the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Purpose {
    /// Coordinating the citizen's care as a member of the care team.
    CareCoordination,
    /// Emergency access (værdispring) beyond the normal rules.
    EmergencyAccess,
    /// Reviewing who accessed a plan (the citizen's access view, emergency-access review).
    AccessReview,
}

/// The legal ground for disclosing a category.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Ground {
    CareTeam,
    CurrentTreatment,
    /// The consent, by id.
    Consent(String),
    /// The emergency grant, by id.
    Emergency(String),
}

impl Ground {
    pub fn describe(&self) -> String {
        match self {
            Self::CareTeam => "care-team member coordinating the plan (GDPR art. 6(1)(e), 9(2)(h))".into(),
            Self::CurrentTreatment => "current treatment (sundhedsloven § 41, stk. 2, nr. 1)".into(),
            Self::Consent(id) => format!("the citizen's consent {id} (sundhedsloven § 43, stk. 1)"),
            Self::Emergency(id) => format!("emergency access {id} (værdispring, sundhedsloven § 43, stk. 2, nr. 3)"),
        }
    }
}

/// What a caller may see of a plan right now, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    pub purpose: Purpose,
    /// Each category the caller sees, with its ground, in [`DataCategory::ALL`] order.
    pub grants: Vec<(DataCategory, Ground)>,
}

impl View {
    pub fn categories(&self) -> Vec<DataCategory> {
        self.grants.iter().map(|(c, _)| *c).collect()
    }

    pub fn sees(&self, category: DataCategory) -> bool {
        self.grants.iter().any(|(c, _)| *c == category)
    }

    /// The same view, narrowed to `categories` (e.g. those a delivery held).
    pub fn only(&self, categories: &[DataCategory]) -> View {
        let grants = self.grants.iter().filter(|(c, _)| categories.contains(c)).cloned().collect();
        View { purpose: self.purpose, grants }
    }

    /// The distinct grounds, described, for the audit log.
    pub fn legal_ground(&self) -> String {
        let mut grounds: Vec<String> = Vec::new();
        for (_, ground) in &self.grants {
            let text = ground.describe();
            if !grounds.contains(&text) {
                grounds.push(text);
            }
        }
        grounds.join("; ")
    }
}

pub fn rule(sector: Sector, category: DataCategory) -> Rule {
    let column = DataCategory::ALL.iter().position(|c| *c == category).unwrap_or(0);
    SECTOR_POLICY.iter().find(|(s, _)| *s == sector).map_or(Consent, |(_, rules)| rules[column])
}

pub fn scope(role: ProfessionalRole) -> Scope {
    ROLE_SCOPES.iter().find(|(r, _)| *r == role).map_or(Scope::Oversight, |(_, s)| *s)
}

fn in_scope(scope: Scope, category: DataCategory) -> bool {
    match scope {
        Scope::Clinical => true,
        Scope::Administrative => category == PlanAndContact,
        Scope::Oversight => false,
    }
}

/// What `actor` may read of `plan` at `now` (for reads, exports and subscriptions alike).
/// Not on the care team and no emergency access: `PLAN_NOT_FOUND`, exactly as
/// if there were no plan. On the team but a role that reads no plan content:
/// `PERMISSION_DENIED`.
pub fn view(plan: &Plan, actor: &Actor, now: Timestamp) -> Result<View, DomainError> {
    if let Some(grant) = plan.emergency_grants.iter().rev().find(|g| g.holds_for(actor, now)) {
        let ground = Ground::Emergency(grant.grant_id.clone());
        return Ok(View {
            purpose: Purpose::EmergencyAccess,
            grants: DataCategory::ALL.iter().map(|c| (*c, ground.clone())).collect(),
        });
    }
    if !plan.is_member(&actor.organisation, now) {
        return Err(DomainError::PlanNotFound);
    }
    may_read_plans(actor)?;
    let scope = scope(actor.role);
    let grants = DataCategory::ALL
        .iter()
        .filter(|c| in_scope(scope, **c))
        .filter_map(|c| {
            let ground = match rule(actor.sector, *c) {
                Member => Ground::CareTeam,
                CurrentTreatment => Ground::CurrentTreatment,
                Consent => Ground::Consent(
                    plan.consents.iter().find(|k| k.covers(&actor.organisation, *c, now))?.terms.consent_id.clone(),
                ),
            };
            Some((*c, ground))
        })
        .collect();
    Ok(View { purpose: Purpose::CareCoordination, grants })
}

/// Whether `actor`, on the care team, may write an item of `category`. The
/// role's scope always applies. Writes to a section (`in_section`) are
/// governed by the section's owner, an effective-dated rule of its own (the
/// region may own the addiction section for dual diagnosis), so the sector
/// table applies only to items outside sections: there a sector writes only
/// categories it sees as a member.
pub fn may_write(actor: &Actor, category: DataCategory, in_section: bool) -> Result<(), DomainError> {
    if in_scope(scope(actor.role), category) && (in_section || rule(actor.sector, category) == Member) {
        Ok(())
    } else {
        Err(DomainError::forbidden(
            "CATEGORY_NOT_WRITABLE",
            "the caller's sector and role may not write this kind of information",
        ))
    }
}

/// Whether `actor` may review who accessed `plan` (the citizen's access view):
/// the plan's contact person, or an auditor of an organisation on the care team.
pub fn may_review_access(plan: &Plan, actor: &Actor, now: Timestamp) -> Result<(), DomainError> {
    if !plan.is_member(&actor.organisation, now) {
        return Err(DomainError::PlanNotFound);
    }
    let contact_person = plan
        .contact_person
        .as_ref()
        .is_some_and(|cp| cp.organisation == actor.organisation && cp.professional == actor.professional);
    if contact_person || scope(actor.role) == Scope::Oversight {
        Ok(())
    } else {
        Err(DomainError::forbidden(
            "NOT_CONTACT_PERSON_OR_AUDITOR",
            "only the plan's contact person or an auditor may list who accessed it",
        ))
    }
}

/// Whether `actor`'s role reads plan content at all (for reads and for
/// following plans' events; what it sees of a plan is [`view`]'s business).
pub fn may_read_plans(actor: &Actor) -> Result<(), DomainError> {
    if scope(actor.role) == Scope::Oversight {
        Err(DomainError::forbidden("ROLE_READS_NO_PLANS", "the caller's role reads access logs, not plans"))
    } else {
        Ok(())
    }
}

/// Whether `actor` may ask for emergency access: only clinical roles.
pub fn may_request_emergency_access(actor: &Actor) -> Result<(), DomainError> {
    if scope(actor.role) == Scope::Clinical {
        Ok(())
    } else {
        Err(DomainError::forbidden("ROLE_MAY_NOT_REQUEST_EMERGENCY", "only clinical roles may use emergency access"))
    }
}
