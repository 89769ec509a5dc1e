//! Who may see and write what: the one place the hub's access rules live.
//!
//! What a caller sees of a plan is, per category, the first row of the ground
//! table ([`super::grounds`]) that applies to it, narrowed by the
//! professional's role ([`ROLE_SCOPES`]). On top of that, emergency access
//! (værdispring) lets one authorised health professional read everything
//! for a limited time. What each item reveals is [`super::disclosure`]'s
//! business. Handlers and the store ask [`view`], [`may_write`] and
//! [`may_cause`]; nothing else decides.
//!
//! An organisation that is not on the care team (and holds no emergency
//! access) is told the plan does not exist, whatever it asks; so is a
//! citizen about any plan but their own ([`takes_part`]).

use serde::{Deserialize, Serialize};

use super::audit::AuditEntry;
use super::command::Command;
use super::disclosure::{self, Audience};
use super::error::DomainError;
use super::event::EventPayload;
use super::grounds::{self, Ground};
use super::model::{Actor, DataCategory, OrganisationId, ProfessionalId, ProfessionalRole, Timestamp};
use super::plan::Plan;

/// How far a professional role reaches into a plan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Everything the ground table allows.
    Clinical,
    /// Only the plan itself and its contact person (no goals, no sections).
    Administrative,
    /// No plan content; the access logs (Min Log) and emergency-access reviews.
    Oversight,
    /// The citizen's own plan, all of it, and its access log.
    Own,
    /// No plan at all: the hub's indicators, aggregates only.
    Statistics,
}

pub const ROLE_SCOPES: [(ProfessionalRole, Scope); 12] = [
    (ProfessionalRole::Physician, Scope::Clinical),
    (ProfessionalRole::Nurse, Scope::Clinical),
    (ProfessionalRole::Psychologist, Scope::Clinical),
    (ProfessionalRole::SocialWorker, Scope::Clinical),
    (ProfessionalRole::JobConsultant, Scope::Clinical),
    (ProfessionalRole::AddictionCounsellor, Scope::Clinical),
    (ProfessionalRole::Mentor, Scope::Clinical),
    (ProfessionalRole::Secretary, Scope::Administrative),
    (ProfessionalRole::Auditor, Scope::Oversight),
    (ProfessionalRole::Citizen, Scope::Own),
    (ProfessionalRole::Representative, Scope::Own),
    (ProfessionalRole::Analyst, Scope::Statistics),
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
    /// Aggregate statistics (the hub's indicators): never about one plan.
    Statistics,
}

/// What a caller may see of a plan right now, and on what ground.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct View {
    /// The caller's organisation.
    pub organisation: OrganisationId,
    pub purpose: Purpose,
    /// Each category the caller sees, with its ground, in [`DataCategory::ALL`] order.
    pub grants: Vec<(DataCategory, Ground)>,
}

impl View {
    pub fn categories(&self) -> Vec<DataCategory> {
        self.grants.iter().map(|(c, _)| *c).collect()
    }

    /// Who answers shown on this view are for.
    pub fn audience(&self) -> Audience {
        Audience { organisation: self.organisation.clone(), categories: self.categories() }
    }

    pub fn sees(&self, category: DataCategory) -> bool {
        self.grants.iter().any(|(c, _)| *c == category)
    }

    /// The same view, narrowed to `categories` (e.g. those a delivery held).
    pub fn only(&self, categories: &[DataCategory]) -> View {
        let grants = self.grants.iter().filter(|(c, _)| categories.contains(c)).cloned().collect();
        View { organisation: self.organisation.clone(), purpose: self.purpose, grants }
    }

    /// The ground of every category, for the audit log: categories that share
    /// a ground are named together, e.g. `plan and contact, goals: care-team
    /// member …; psychiatric: current treatment … (sundhedsloven § 41, stk. 2, nr. 1)`.
    pub fn legal_ground(&self) -> String {
        let mut grounds: Vec<(String, Vec<&str>)> = Vec::new();
        for (category, ground) in &self.grants {
            let text = ground.describe();
            match grounds.iter_mut().find(|(t, _)| *t == text) {
                Some((_, categories)) => categories.push(category.label()),
                None => grounds.push((text, vec![category.label()])),
            }
        }
        grounds
            .iter()
            .map(|(text, categories)| format!("{}: {text}", categories.join(", ")))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

pub fn scope(role: ProfessionalRole) -> Scope {
    ROLE_SCOPES.iter().find(|(r, _)| *r == role).map_or(Scope::Oversight, |(_, s)| *s)
}

fn in_scope(scope: Scope, category: DataCategory) -> bool {
    match scope {
        Scope::Clinical | Scope::Own => true,
        Scope::Administrative => category == DataCategory::PlanAndContact,
        Scope::Oversight | Scope::Statistics => false,
    }
}

/// What a care-team member sees on the ground table, narrowed by its role.
fn member_grants(plan: &Plan, actor: &Actor, now: Timestamp) -> Vec<(DataCategory, Ground)> {
    let scope = scope(actor.role);
    DataCategory::ALL
        .iter()
        .filter(|c| in_scope(scope, **c))
        .filter_map(|c| Some((*c, grounds::ground_for(plan, &actor.organisation, actor.sector, *c, now)?)))
        .collect()
}

/// What `actor` may read of `plan` at `now` (for reads, exports and subscriptions alike).
/// Not on the care team and no emergency access: `PLAN_NOT_FOUND`, exactly as
/// if there were no plan. On the team but a role that reads no plan content:
/// `PERMISSION_DENIED`.
pub fn view(plan: &Plan, actor: &Actor, now: Timestamp) -> Result<View, DomainError> {
    if let Some(grant) = plan.emergency_grants.iter().rev().find(|g| g.holds_for(actor, now)) {
        let ground = Ground::emergency(&grant.grant_id);
        return Ok(View {
            organisation: actor.organisation.clone(),
            purpose: Purpose::EmergencyAccess,
            grants: DataCategory::ALL.iter().map(|c| (*c, ground.clone())).collect(),
        });
    }
    if !takes_part(plan, actor, now) {
        return Err(DomainError::PlanNotFound);
    }
    may_read_plans(actor)?;
    Ok(View {
        organisation: actor.organisation.clone(),
        purpose: Purpose::CareCoordination,
        grants: member_grants(plan, actor, now),
    })
}

/// Whether `actor` takes part in `plan` at `now`: its organisation is on the
/// care team, or it is the plan's own citizen (proven by their assertion, see
/// [`super::citizen`]). Whoever does not is told the plan does not exist.
pub fn takes_part(plan: &Plan, actor: &Actor, now: Timestamp) -> bool {
    if actor.is_citizen() {
        actor.own_plan == Some(plan.id)
    } else {
        // An analyst works with aggregates: no plan is theirs to act on, whoever else their organisation is.
        scope(actor.role) != Scope::Statistics && plan.is_member(&actor.organisation, now)
    }
}

/// The categories a care-team member may see as such (never through
/// emergency access, which is read only): what its writes may touch.
pub fn member_sees(plan: &Plan, actor: &Actor, now: Timestamp) -> Vec<DataCategory> {
    member_grants(plan, actor, now).into_iter().map(|(c, _)| c).collect()
}

pub(super) fn not_writable() -> DomainError {
    DomainError::forbidden(
        "CATEGORY_NOT_WRITABLE",
        "the caller's sector and role may not write this kind of information",
    )
}

/// Whether `actor`, on the care team and seeing `sees`, may give `command`
/// before it is decided (that it sees what the command touches, the category
/// among it, [`super::decide::decide`] has checked). Outside the sections and the discharge flow (whose owners and steps have
/// rules of their own), it must hold the category it writes: its own
/// sector's information, the plan and the citizen's goals, or the
/// discharge's coordination when it takes part in it.
pub fn may_write(
    actor: &Actor,
    sees: &[DataCategory],
    plan: &Plan,
    command: &Command,
    now: Timestamp,
) -> Result<(), DomainError> {
    if actor.is_citizen() {
        return super::citizen::may_give(command);
    }
    let category = command.category(plan);
    let holds = grounds::holds(plan, &actor.organisation, actor.sector, category, now.date())
        || (category == DataCategory::DischargeCoordination && sees.contains(&category));
    if command.own_rules() || holds { Ok(()) } else { Err(not_writable()) }
}

/// Whether the event a command caused reveals only what its writer may see:
/// a writer cannot, say, put an organisation on the team whose membership it
/// could not see (it would learn of it from the refusal of a second invitation).
pub fn may_cause(sees: &[DataCategory], plan: &Plan, caused: &EventPayload) -> Result<(), DomainError> {
    if disclosure::shows(&disclosure::event_reveals(caused, plan), sees) { Ok(()) } else { Err(not_writable()) }
}

/// Whether `actor` may review who accessed `plan` (the citizen's access view):
/// the citizen themselves, the plan's contact person, or an auditor of an
/// organisation on the care team.
pub fn may_review_access(plan: &Plan, actor: &Actor, now: Timestamp) -> Result<(), DomainError> {
    if !takes_part(plan, actor, now) {
        return Err(DomainError::PlanNotFound);
    }
    if actor.is_citizen() {
        return Ok(());
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

/// `entry` as `reviewer` may see it in a plan's access log, if at all: the
/// citizen sees every entry (their Min Log); an auditor sees its own
/// organisation's entries; the contact person those of
/// organisations it may name (that a psychiatric ward read the plan is a
/// health fact too), with only the categories it sees and their grounds.
pub fn shown_access_entry(reviewer: &Actor, sees: &[DataCategory], entry: &AuditEntry) -> Option<AuditEntry> {
    let actor = entry.actor.as_ref()?;
    if actor.is_citizen() {
        // Who acted through a citizen portal is the portal's business: the
        // entry may be another citizen's refused attempt on this plan.
        let mut entry = entry.clone();
        if let (Some(shown), Ok(person)) = (entry.actor.as_mut(), ProfessionalId::parse("professional", PORTAL_USER)) {
            shown.professional = person;
        }
        return shown_access_entry_as(reviewer, sees, &entry);
    }
    shown_access_entry_as(reviewer, sees, entry)
}

/// How an access log names whoever acted through a citizen portal.
pub const PORTAL_USER: &str = "portal-user";

fn shown_access_entry_as(reviewer: &Actor, sees: &[DataCategory], entry: &AuditEntry) -> Option<AuditEntry> {
    let actor = entry.actor.as_ref()?;
    if reviewer.is_citizen() {
        return Some(entry.clone());
    }
    let own = actor.organisation == reviewer.organisation;
    if scope(reviewer.role) == Scope::Oversight || own {
        return own.then(|| entry.clone());
    }
    let audience = Audience { organisation: reviewer.organisation.clone(), categories: sees.to_vec() };
    if !audience.names(actor.organisation.as_str()) {
        return None;
    }
    let seen = |labels: &str| labels.split(", ").all(|label| sees.iter().any(|c| c.label() == label));
    let legal_ground = entry
        .legal_ground
        .split("; ")
        .filter(|part| part.split_once(": ").is_none_or(|(labels, _)| seen(labels)))
        .collect::<Vec<_>>()
        .join("; ");
    let categories = entry.categories.iter().copied().filter(|c| sees.contains(c)).collect();
    Some(AuditEntry { categories, legal_ground, ..entry.clone() })
}

/// Whether `actor`'s role reads plan content at all (for reads and for
/// following plans' events; what it sees of a plan is [`view`]'s business).
pub fn may_read_plans(actor: &Actor) -> Result<(), DomainError> {
    if matches!(scope(actor.role), Scope::Oversight | Scope::Statistics) {
        Err(DomainError::forbidden(
            "ROLE_READS_NO_PLANS",
            "the caller's role reads access logs or indicators, not plans",
        ))
    } else {
        Ok(())
    }
}

/// Whether `actor` may read the hub's indicators: analysts only (whose role
/// reads no plan at all).
pub fn may_read_indicators(actor: &Actor) -> Result<(), DomainError> {
    if scope(actor.role) == Scope::Statistics {
        Ok(())
    } else {
        Err(DomainError::forbidden(
            "ANALYSTS_ONLY",
            "only a professional in the ANALYST role reads the hub's indicators",
        ))
    }
}

/// Whether `actor` may ask for emergency access: only an authorised health
/// professional (physician, nurse, psychologist) of a health service
/// (sundhedsloven § 41, stk. 2, nr. 4; § 43, stk. 2, nr. 2 — decided by "the
/// health professional who holds the information", § 43, stk. 3).
pub fn may_request_emergency_access(actor: &Actor) -> Result<(), DomainError> {
    if actor.sector.is_health() && actor.role.is_authorised_health_professional() {
        Ok(())
    } else {
        Err(DomainError::forbidden(
            "EMERGENCY_ACCESS_NOT_AUTHORISED",
            "only an authorised health professional (physician, nurse, psychologist) of a health service may use emergency access",
        ))
    }
}
