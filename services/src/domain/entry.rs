//! How organisations and professionals come to a plan: the one who creates
//! it, a health service joining for the citizen's current treatment, an
//! organisation under the citizen's consent, and emergency access, which
//! reads without joining. (A member's invitation is a command: see
//! [`super::decide`].)

use super::cpr::CprKind;
use super::error::DomainError;
use super::event::EventPayload;
use super::model::*;
use super::plan::{CareTeamMember, Plan};
use super::policy;

/// How long emergency access lasts unless configured otherwise.
pub const DEFAULT_EMERGENCY_ACCESS_MICROS: i64 = 24 * 3600 * 1_000_000;

/// The first event of a new plan: the creating organisation joins the care team.
pub fn create(actor: &Actor, citizen_kind: CprKind, today: Date, reason: Text, ids: IdSeed) -> EventPayload {
    EventPayload::PlanCreated { citizen_kind, first_member: acting_member(actor, ids, today), reason }
}

/// What asking for an existing plan does: nothing for a care-team member. A
/// health service joins the care team for the citizen's current treatment
/// with its reason on record (and listed for review); any other organisation
/// only under the citizen's consent naming it, or by a member's invitation.
pub fn join(
    plan: &Plan,
    actor: &Actor,
    now: Timestamp,
    reason: Text,
    ids: IdSeed,
) -> Result<Option<EventPayload>, DomainError> {
    if plan.is_member(&actor.organisation, now) {
        return Ok(None);
    }
    // A consent to a sector's own information, not to the plan itself.
    let consented = || {
        DataCategory::ALL
            .iter()
            .filter(|c| !matches!(c, DataCategory::PlanAndContact | DataCategory::Goals))
            .any(|c| plan.consents.iter().any(|k| k.covers(&actor.organisation, *c, now)))
    };
    if !actor.sector.is_health() && !consented() {
        return Err(DomainError::forbidden(
            "JOIN_NEEDS_INVITATION_OR_CONSENT",
            "an organisation that is not a health service joins a plan by a care-team member's invitation naming its ground, or under the citizen's consent",
        ));
    }
    let member = acting_member(actor, ids, now.date());
    Ok(Some(EventPayload::CareTeamJoined { member, reason }))
}

/// Emergency access (værdispring) for the acting professional, for `duration_micros`
/// from `now`, on the strength of a written justification.
pub fn emergency_access(
    actor: &Actor,
    now: Timestamp,
    justification: Text,
    duration_micros: i64,
    ids: IdSeed,
) -> Result<EventPayload, DomainError> {
    policy::may_request_emergency_access(actor)?;
    Ok(EventPayload::EmergencyAccessGranted {
        grant_id: ids.id("emergency", 0),
        justification,
        expires_at: Timestamp(now.0.saturating_add(duration_micros)),
    })
}

fn acting_member(actor: &Actor, ids: IdSeed, today: Date) -> CareTeamMember {
    CareTeamMember {
        member_id: ids.id("member", 0),
        organisation: actor.organisation.clone(),
        sector: actor.sector,
        professional: Some(actor.professional.clone()),
        role: actor.role,
        start_date: today,
        end_date: None,
        left_at: None,
    }
}
