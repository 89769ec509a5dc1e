//! The koordinerende indsatsplan for a citizen with a psychiatric disorder and
//! a concurrent substance problem: a view of the one plan, not a second plan.
//!
//! Its actions are the plan's activities whose legal plan is the koordinerende
//! indsatsplan (each with one responsible professional), its shared goals the
//! goals those activities serve; on top of them it keeps a priority per action
//! and the date of the next joint meeting. Either the psychiatry or the
//! addiction side may start it: the sides are the owners of the psychiatry and
//! the addiction sections.
//!
//! It counts as *agreed* only when both sides have signed its current
//! version and the citizen has accepted it — through their own portal, or
//! as a side records it from a meeting with them. Every change to its content — an action added or moved on, a
//! priority, the meeting date, a shared goal revised or ended — makes a new
//! version; if anyone had signed or accepted the version it changes, the
//! change is followed by an `IndsatsplanReopened` event, which both sides
//! receive, as they receive the signature (`IndsatsplanSigned`, saying whether
//! it completed the agreement).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::deadlines::{ClockKind, DeadlineRules};
use super::error::DomainError;
use super::event::EventPayload;
use super::model::{Actor, Date, LegalPlanType, OrganisationId, ProfessionalId, SectionKind, Timestamp};
use super::plan::Plan;

/// The two sides that sign.
pub const SIDES: [SectionKind; 2] = [SectionKind::Psychiatry, SectionKind::Addiction];

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signature {
    pub side: SectionKind,
    pub organisation: OrganisationId,
    pub professional: ProfessionalId,
    pub version: u32,
    pub signed_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Indsatsplan {
    pub started_by: OrganisationId,
    pub started_on: Date,
    /// 1 when started; one more with every change to its content.
    pub version: u32,
    pub next_meeting: Date,
    /// Activity id → priority (1 is the most urgent).
    pub priorities: BTreeMap<String, u32>,
    /// Every signature given, of any version.
    pub signatures: Vec<Signature>,
    /// The citizen's latest acceptance.
    pub citizen_acceptance: Option<Acceptance>,
}

/// The citizen accepted a version: who recorded it (their portal, or a side) and when.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Acceptance {
    pub version: u32,
    pub recorded_by: OrganisationId,
    pub accepted_at: Timestamp,
}

impl Indsatsplan {
    pub fn signed(&self, side: SectionKind) -> bool {
        self.signatures.iter().any(|s| s.side == side && s.version == self.version)
    }

    /// Whether the citizen has accepted the current version.
    pub fn accepted(&self) -> bool {
        self.citizen_acceptance.as_ref().is_some_and(|a| a.version == self.version)
    }

    pub fn is_agreed(&self) -> bool {
        SIDES.iter().all(|side| self.signed(*side)) && self.accepted()
    }

    /// Whether anyone has signed or accepted the current version.
    pub fn answered(&self) -> bool {
        SIDES.iter().any(|side| self.signed(*side)) || self.accepted()
    }
}

/// The sides `actor`'s organisation stands for: the sections of the two it owns.
pub fn sides_of(plan: &Plan, actor: &Actor) -> Vec<SectionKind> {
    SIDES.into_iter().filter(|s| plan.sections.get(s).is_some_and(|o| o.organisation == actor.organisation)).collect()
}

fn require_side(plan: &Plan, actor: &Actor) -> Result<Vec<SectionKind>, DomainError> {
    let sides = sides_of(plan, actor);
    if sides.is_empty() {
        return Err(DomainError::forbidden(
            "NOT_AN_INDSATSPLAN_SIDE",
            "only the owners of the psychiatry and addiction sections write the koordinerende indsatsplan",
        ));
    }
    Ok(sides)
}

fn require_started(plan: &Plan) -> Result<&Indsatsplan, DomainError> {
    plan.indsatsplan.as_ref().ok_or_else(|| {
        DomainError::precondition("INDSATSPLAN_NOT_STARTED", "the plan has no koordinerende indsatsplan yet")
    })
}

/// The next joint meeting must lie between today and the deadline for it.
fn check_meeting(rules: &DeadlineRules, date: Date, today: Date) -> Result<(), DomainError> {
    let latest = rules.due(ClockKind::IndsatsplanMeeting, today);
    if date < today || latest.is_some_and(|latest| date > latest) {
        return Err(DomainError::invalid("next_meeting_date", "must lie between today and six months from today"));
    }
    Ok(())
}

pub(super) fn start(
    plan: &Plan,
    actor: &Actor,
    rules: &DeadlineRules,
    next_meeting: Date,
    today: Date,
) -> Result<EventPayload, DomainError> {
    require_side(plan, actor)?;
    if plan.indsatsplan.is_some() {
        return Err(DomainError::precondition(
            "INDSATSPLAN_STARTED",
            "the plan has a koordinerende indsatsplan already",
        ));
    }
    check_meeting(rules, next_meeting, today)?;
    Ok(EventPayload::IndsatsplanStarted { next_meeting })
}

pub(super) fn set_meeting(
    plan: &Plan,
    actor: &Actor,
    rules: &DeadlineRules,
    next_meeting: Date,
    today: Date,
) -> Result<EventPayload, DomainError> {
    require_side(plan, actor)?;
    require_started(plan)?;
    check_meeting(rules, next_meeting, today)?;
    Ok(EventPayload::IndsatsplanMeetingSet { next_meeting })
}

pub(super) fn prioritise(
    plan: &Plan,
    actor: &Actor,
    activity_id: &str,
    priority: u32,
) -> Result<EventPayload, DomainError> {
    require_side(plan, actor)?;
    require_started(plan)?;
    if !plan.activities.iter().any(|a| a.activity_id == activity_id && is_action(a.legal_plan_type)) {
        return Err(DomainError::invalid("activity_id", "names no action of the koordinerende indsatsplan"));
    }
    Ok(EventPayload::IndsatsActionPrioritised { activity_id: activity_id.to_owned(), priority })
}

/// The started indsatsplan, if `version` is its current one.
fn require_current(plan: &Plan, version: u32) -> Result<&Indsatsplan, DomainError> {
    let current = require_started(plan)?;
    if version != current.version {
        return Err(DomainError::precondition(
            "INDSATSPLAN_CHANGED",
            "the koordinerende indsatsplan has changed since that version; read it again and answer for the current one",
        ));
    }
    Ok(current)
}

/// Signing `version` (which must be the current one) for every side the
/// caller's organisation stands for; the event says whether that completes
/// the agreement.
pub(super) fn sign(plan: &Plan, actor: &Actor, version: u32) -> Result<EventPayload, DomainError> {
    let sides = require_side(plan, actor)?;
    let current = require_current(plan, version)?;
    let unsigned: Vec<SectionKind> = sides.into_iter().filter(|s| !current.signed(*s)).collect();
    if unsigned.is_empty() {
        return Err(DomainError::precondition("INDSATSPLAN_SIGNED", "the caller's side has signed this version"));
    }
    let agreed = SIDES.iter().all(|s| current.signed(*s) || unsigned.contains(s)) && current.accepted();
    Ok(EventPayload::IndsatsplanSigned { version, sides: unsigned, agreed })
}

/// The citizen accepting `version` (which must be the current one): the
/// citizen through their portal, or a side recording what the citizen told it.
pub(super) fn accept(plan: &Plan, actor: &Actor, version: u32) -> Result<EventPayload, DomainError> {
    if !actor.is_citizen() {
        require_side(plan, actor).map_err(|_| {
            DomainError::forbidden(
                "NOT_AN_INDSATSPLAN_SIDE",
                "the citizen accepts the koordinerende indsatsplan, or one of its sides records that they did",
            )
        })?;
    }
    let current = require_current(plan, version)?;
    if current.accepted() {
        return Err(DomainError::precondition("INDSATSPLAN_ACCEPTED", "the citizen has accepted this version"));
    }
    let agreed = SIDES.iter().all(|s| current.signed(*s));
    Ok(EventPayload::IndsatsplanAccepted { version, agreed })
}

fn is_action(legal_plan_type: LegalPlanType) -> bool {
    legal_plan_type == LegalPlanType::KoordinerendeIndsatsplan
}

/// Whether `event`, applied to `plan`, changes the indsatsplan's content.
pub fn changes(plan: &Plan, event: &EventPayload) -> bool {
    if plan.indsatsplan.is_none() {
        return false;
    }
    let action = |id: &str| plan.activities.iter().any(|a| a.activity_id == id && is_action(a.legal_plan_type));
    let shared_goal =
        |id: &str| plan.activities.iter().any(|a| is_action(a.legal_plan_type) && a.goal_ids.iter().any(|g| g == id));
    match event {
        EventPayload::IndsatsplanMeetingSet { .. } | EventPayload::IndsatsActionPrioritised { .. } => true,
        EventPayload::ActivityAdded(activity) => is_action(activity.legal_plan_type),
        EventPayload::ActivityStatusChanged { activity_id, .. } => action(activity_id),
        EventPayload::GoalRevised { goal_id, .. } | EventPayload::GoalEnded { goal_id, .. } => shared_goal(goal_id),
        _ => false,
    }
}

/// What follows `events` decided on `plan`: the agreement reopened, if they
/// change an indsatsplan whose current version a side had signed or the
/// citizen had accepted — so that no signature or acceptance lapses unheard.
pub(super) fn follow_up(plan: &Plan, events: &[EventPayload]) -> Option<EventPayload> {
    let current = plan.indsatsplan.as_ref()?;
    let changed = events.iter().any(|e| changes(plan, e));
    (changed && current.answered()).then_some(EventPayload::IndsatsplanReopened { version: current.version + 1 })
}
