//! Domain values into responses.

use prost_types::Timestamp as ProtoTimestamp;
use samplan_proto::v1 as pb;

use super::*;

pub(super) fn timestamp(t: Timestamp) -> ProtoTimestamp {
    ProtoTimestamp { seconds: t.0.div_euclid(1_000_000), nanos: (t.0.rem_euclid(1_000_000) * 1000) as i32 }
}

pub(super) fn day_text(date: Date) -> String {
    date.format("%Y-%m-%d").to_string()
}

pub(super) fn date_text(date: Option<Date>) -> String {
    date.map(day_text).unwrap_or_default()
}

pub(super) fn activity(a: &plan::Activity) -> pb::Activity {
    pb::Activity {
        activity_id: a.activity_id.clone(),
        section: section_to(a.section),
        title: a.title.as_str().to_owned(),
        legal_plan_type: legal_to(a.legal_plan_type),
        responsible_organisation_id: a.responsible_organisation.to_string(),
        responsible_professional_id: a.responsible_professional.to_string(),
        status: activity_status_to(a.status),
        start_date: day_text(a.start_date),
        end_date: date_text(a.end_date),
        goal_ids: a.goal_ids.clone(),
    }
}

pub(super) fn member(m: &plan::CareTeamMember) -> pb::CareTeamMember {
    pb::CareTeamMember {
        member_id: m.member_id.clone(),
        organisation_id: m.organisation.to_string(),
        professional_id: m.professional.as_ref().map(ToString::to_string).unwrap_or_default(),
        role: role_to(m.role),
        start_date: day_text(m.start_date),
        end_date: date_text(m.end_date),
        sector: sector_to(m.sector),
        leave_time: m.left_at.map(timestamp),
    }
}

pub(super) fn consent(terms: &consent::ConsentTerms, recorded: Option<&consent::Consent>) -> pb::Consent {
    pb::Consent {
        consent_id: terms.consent_id.clone(),
        recipient_organisation_id: terms.recipient.to_string(),
        categories: terms.categories.iter().map(|c| category_to(*c)).collect(),
        given_by: consent_giver_to(terms.given_by),
        form: consent_form_to(terms.form),
        given_on: day_text(terms.given_on),
        valid_until: date_text(terms.valid_until),
        record_time: recorded.map(|c| timestamp(c.recorded_at)),
        recorded_by_organisation_id: recorded.map(|c| c.recorded_by.to_string()).unwrap_or_default(),
        withdraw_time: recorded.and_then(|c| c.withdrawn_at).map(timestamp),
        purpose: recorded.and_then(|c| c.purpose.as_ref()).map(|t| t.as_str().to_owned()).unwrap_or_default(),
        document_reference: recorded
            .and_then(|c| c.document_reference.as_ref())
            .map(|t| t.as_str().to_owned())
            .unwrap_or_default(),
    }
}

/// A consent as its event gives it.
pub(super) fn consent_given(
    terms: &consent::ConsentTerms,
    purpose: Option<&Text>,
    document_reference: Option<&Text>,
) -> pb::Consent {
    pb::Consent {
        purpose: purpose.map(|t| t.as_str().to_owned()).unwrap_or_default(),
        document_reference: document_reference.map(|t| t.as_str().to_owned()).unwrap_or_default(),
        ..consent(terms, None)
    }
}

pub(super) fn objection(terms: &consent::ObjectionTerms, recorded: Option<&consent::Objection>) -> pb::Objection {
    pb::Objection {
        objection_id: terms.objection_id.clone(),
        recipient_organisation_id: terms.recipient.to_string(),
        categories: terms.categories.iter().map(|c| category_to(*c)).collect(),
        given_by: consent_giver_to(terms.given_by),
        given_on: day_text(terms.given_on),
        record_time: recorded.map(|o| timestamp(o.recorded_at)),
        recorded_by_organisation_id: recorded.map(|o| o.recorded_by.to_string()).unwrap_or_default(),
        withdraw_time: recorded.and_then(|o| o.withdrawn_at).map(timestamp),
    }
}

pub fn emergency_access(g: &plan::EmergencyGrant) -> pb::EmergencyAccess {
    pb::EmergencyAccess {
        grant_id: g.grant_id.clone(),
        organisation_id: g.organisation.to_string(),
        professional_id: g.professional.to_string(),
        role: role_to(g.role),
        justification: g.justification.as_str().to_owned(),
        grant_time: Some(timestamp(g.granted_at)),
        expire_time: Some(timestamp(g.expires_at)),
        citizen_informed_date: date_text(g.citizen_informed_on),
        citizen_to_be_informed: g.citizen_informed_on.is_none(),
    }
}

/// A health service's own join, for review, from its event.
pub fn care_team_join(e: &RecordedEvent) -> Option<pb::CareTeamJoinReview> {
    let EventPayload::CareTeamJoined { member: m, reason } = &e.payload else { return None };
    Some(pb::CareTeamJoinReview {
        plan: e.plan_id.resource_name(),
        member: Some(member(m)),
        reason: reason.as_str().to_owned(),
        join_time: Some(timestamp(e.recorded_at)),
    })
}

/// One audit record as the citizen's access view shows it.
pub fn access_entry(entry: &AuditEntry, organisation_name: Option<&str>) -> pb::AccessLogEntry {
    let (allowed, denial_reason, delivered_until) = match &entry.decision {
        Decision::Allowed => (true, String::new(), None),
        Decision::Denied { reason } => (false, reason.clone(), None),
        Decision::Delivering { until, .. } => (true, String::new(), Some(timestamp(*until))),
    };
    let actor = entry.actor.as_ref();
    pb::AccessLogEntry {
        time: Some(timestamp(entry.at)),
        organisation_id: actor.map(|a| a.organisation.to_string()).unwrap_or_default(),
        organisation_name: organisation_name.unwrap_or_default().to_owned(),
        professional_id: actor.map(|a| a.professional.to_string()).unwrap_or_default(),
        role: actor.map_or(0, |a| role_to(a.role)),
        purpose: purpose_to(entry.purpose),
        action: entry.action.clone(),
        allowed,
        denial_reason,
        categories: entry.categories.iter().map(|c| category_to(*c)).collect(),
        legal_ground: entry.legal_ground.clone(),
        delivered_until,
    }
}

pub(super) fn relative(r: &plan::Relative) -> pb::Relative {
    pb::Relative {
        relative_id: r.relative_id.clone(),
        name: r.name.as_str().to_owned(),
        relation: r.relation.as_str().to_owned(),
        involvement: involvement_to(r.involvement),
    }
}

/// `p` as a caller that sees `categories` may see it on `today` (which decides
/// what is overdue): items it may not see left out, and organisations whose
/// naming would tell it what it may not see withheld.
pub fn plan(p: &Plan, audience: &disclosure::Audience, today: Date) -> pb::Plan {
    let categories = &audience.categories;
    let names = |org: &OrganisationId| audience.names(org.as_str());
    let p = &disclosure::redacted(p, categories);
    pb::Plan {
        clocks: p.clocks.iter().map(|c| shown_clock(c, audience, today)).collect(),
        indsatsplan: p.indsatsplan.as_ref().map(indsatsplan),
        discharge: p.discharge.as_ref().map(|d| discharge(d, p, audience, today)),
        name: p.id.resource_name(),
        version: p.version,
        status: status_to(p.status),
        citizen_identifier_kind: cpr_kind_to(p.citizen_kind),
        goals: p
            .goals
            .iter()
            .map(|g| pb::Goal {
                goal_id: g.goal_id.clone(),
                text: g.text.as_str().to_owned(),
                lifecycle: lifecycle_to(g.lifecycle),
                achievement: achievement_to(g.achievement),
                revision: g.revision,
                category: category_to(g.category),
            })
            .collect(),
        sections: p
            .sections
            .iter()
            .map(|(kind, owner)| pb::Section {
                kind: section_to(*kind),
                owner_organisation_id: owner.organisation.to_string(),
                owned_since: day_text(owner.since),
            })
            .collect(),
        activities: p.activities.iter().map(activity).collect(),
        care_team: p.care_team.iter().map(member).collect(),
        contact_person: p.contact_person.as_ref().map(|c| {
            let shown = names(&c.organisation);
            pb::ContactPerson {
                organisation_id: named(shown, &c.organisation),
                professional_id: named(shown, &c.professional),
                since: Some(timestamp(c.since)),
                withheld: !shown,
            }
        }),
        advance_statements: p
            .advance_statements
            .iter()
            .map(|s| pb::AdvanceStatement {
                statement_id: s.statement_id.clone(),
                occasion: occasion_to(s.occasion),
                text: s.text.as_str().to_owned(),
                superseded_by: s.superseded_by.clone().unwrap_or_default(),
                record_time: Some(timestamp(s.recorded_at)),
            })
            .collect(),
        relatives: p.relatives.iter().map(relative).collect(),
        create_time: Some(timestamp(p.created_at)),
        update_time: Some(timestamp(p.updated_at)),
        status_reason: p.status_reason.as_ref().map(|r| r.as_str().to_owned()).unwrap_or_default(),
        consents: p
            .consents
            .iter()
            .map(|c| {
                let mut shown = consent(&c.terms, Some(c));
                if !names(&c.recorded_by) {
                    shown.recorded_by_organisation_id.clear();
                }
                if !names(&c.terms.recipient) {
                    shown.recipient_organisation_id.clear();
                }
                shown
            })
            .collect(),
        emergency_accesses: p.emergency_grants.iter().map(emergency_access).collect(),
        visible_categories: categories.iter().map(|c| category_to(*c)).collect(),
        objections: p
            .objections
            .iter()
            .map(|o| {
                let mut shown = objection(&o.terms, Some(o));
                if !names(&o.recorded_by) {
                    shown.recorded_by_organisation_id.clear();
                }
                if !names(&o.terms.recipient) {
                    shown.recipient_organisation_id.clear();
                }
                shown
            })
            .collect(),
    }
}

/// The discharge as `audience` may see it: the contact person agreed for
/// after it, and the organisation offering the coordinator, named as the
/// plan's contact person is (see `Audience::names`).
fn discharge(d: &discharge::Discharge, plan: &Plan, audience: &disclosure::Audience, today: Date) -> pb::Discharge {
    use discharge::{Step, StepState};
    let next_contact = d.next_contact.as_ref().filter(|n| audience.names(n.organisation.as_str()));
    let steps = d
        .steps(plan, today)
        .into_iter()
        .map(|(step, state)| pb::DischargeStep {
            kind: match step {
                Step::NetworkMeetingRequested => pb::DischargeStepKind::NetworkMeetingRequested,
                Step::NetworkMeetingHeld => pb::DischargeStepKind::NetworkMeetingHeld,
                Step::AdvanceStatementsRequested => pb::DischargeStepKind::AdvanceStatementsRequested,
                Step::Completed => pb::DischargeStepKind::Completed,
                Step::ContactPersonPassedOn => pb::DischargeStepKind::ContactPersonPassedOn,
            } as i32,
            state: match state {
                StepState::Done => pb::DischargeStepState::Done,
                StepState::Pending => pb::DischargeStepState::Pending,
                StepState::Overdue => pb::DischargeStepState::Overdue,
            } as i32,
        })
        .collect();
    pb::Discharge {
        planned_date: day_text(d.planned_on),
        expected_date: day_text(d.expected_on),
        coordinator_offer: d.coordinator.as_ref().map(|o| {
            let named = audience.names(o.offered_by.as_str());
            pb::DischargeCoordinatorOffer {
                organisation_id: self::named(named, &o.offered_by),
                mentor_professional_id: self::named(named, &o.mentor),
                start_date: day_text(o.start),
                end_date: day_text(o.end),
                answered: o.accepted.is_some(),
                accepted: o.accepted.unwrap_or(false),
            }
        }),
        network_meeting_asked_date: date_text(d.network_meeting_asked_on),
        network_meeting_date: date_text(d.network_meeting_on),
        network_meeting_held_date: date_text(d.network_meeting_held_on),
        advance_statements_requested_date: date_text(d.advance_statements_requested_on),
        advance_statement_recorded: d.advance_statement_recorded,
        next_contact_organisation_id: next_contact.map(|n| n.organisation.to_string()).unwrap_or_default(),
        next_contact_professional_id: next_contact.map(|n| n.professional.to_string()).unwrap_or_default(),
        completed_date: date_text(d.completed_on),
        steps,
    }
}

fn indsatsplan(k: &indsatsplan::Indsatsplan) -> pb::Indsatsplan {
    pb::Indsatsplan {
        started_by_organisation_id: k.started_by.to_string(),
        start_date: day_text(k.started_on),
        version: k.version,
        next_meeting_date: day_text(k.next_meeting),
        priorities: k.priorities.iter().map(|(id, p)| (id.clone(), *p)).collect(),
        signatures: k
            .signatures
            .iter()
            .map(|s| pb::IndsatsplanSignature {
                side: section_to(s.side),
                organisation_id: s.organisation.to_string(),
                professional_id: s.professional.to_string(),
                version: s.version,
                sign_time: Some(timestamp(s.signed_at)),
            })
            .collect(),
        agreed: k.is_agreed(),
        citizen_accepted_version: k.citizen_acceptance.as_ref().map_or(0, |a| a.version),
        citizen_accept_time: k.citizen_acceptance.as_ref().map(|a| timestamp(a.accepted_at)),
    }
}

/// A clock of `plan` as a caller that sees `categories` may see it on `today`:
/// its responsible organisation withheld where naming it would tell more.
pub fn shown_clock(c: &Clock, audience: &disclosure::Audience, today: Date) -> pb::RightsClock {
    let mut clock = rights_clock(c, today);
    if !audience.names(c.responsible.as_str()) {
        clock.responsible_organisation_id.clear();
    }
    clock
}

/// A rights clock as it stands on `today`.
fn rights_clock(c: &Clock, today: Date) -> pb::RightsClock {
    let (state, stop_date, pause_date, pause_reason) = match &c.state {
        ClockState::Running => (pb::ClockState::Running, None, None, String::new()),
        ClockState::Paused { since, reason } => {
            (pb::ClockState::Paused, None, Some(*since), reason.as_str().to_owned())
        }
        ClockState::Stopped { on } => (pb::ClockState::Stopped, Some(*on), None, String::new()),
        ClockState::Ended { .. } => (pb::ClockState::Ended, None, None, String::new()),
    };
    let (end_date, end_reason) = match &c.state {
        ClockState::Ended { on, reason } => (Some(*on), stop_reason_to(*reason)),
        _ => (None, pb::ClockStopReason::Unspecified as i32),
    };
    let overdue = c.is_overdue(today);
    pb::RightsClock {
        clock_id: c.clock_id.clone(),
        kind: clock_kind_to(c.kind),
        start_date: day_text(c.started_on),
        due_date: day_text(c.due_on),
        state: state as i32,
        overdue,
        stop_date: date_text(stop_date),
        met: c.met().unwrap_or(false),
        pause_date: date_text(pause_date),
        pause_reason,
        legal_source: c.source.clone(),
        responsible_organisation_id: c.responsible.to_string(),
        end_date: date_text(end_date),
        end_reason,
        overdue_duty: c.overdue_duty().filter(|_| overdue).unwrap_or_default().to_owned(),
        basis: basis_to(c.basis),
    }
}

/// `id` where the audience may be told it (see `Audience::names`), else empty.
fn named(shown: bool, id: &impl std::fmt::Display) -> String {
    if shown { id.to_string() } else { String::new() }
}
