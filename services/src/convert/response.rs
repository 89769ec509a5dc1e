//! Domain values into responses.

use prost_types::Timestamp as ProtoTimestamp;
use samplan_proto::v1 as pb;

use super::*;

fn timestamp(t: Timestamp) -> ProtoTimestamp {
    ProtoTimestamp { seconds: t.0.div_euclid(1_000_000), nanos: (t.0.rem_euclid(1_000_000) * 1000) as i32 }
}

fn day_text(date: Date) -> String {
    date.format("%Y-%m-%d").to_string()
}

fn date_text(date: Option<Date>) -> String {
    date.map(day_text).unwrap_or_default()
}

fn activity(a: &plan::Activity) -> pb::Activity {
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

fn member(m: &plan::CareTeamMember) -> pb::CareTeamMember {
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

fn consent(terms: &plan::ConsentTerms, recorded: Option<&plan::Consent>) -> pb::Consent {
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
fn consent_given(terms: &plan::ConsentTerms, purpose: Option<&Text>, document_reference: Option<&Text>) -> pb::Consent {
    pb::Consent {
        purpose: purpose.map(|t| t.as_str().to_owned()).unwrap_or_default(),
        document_reference: document_reference.map(|t| t.as_str().to_owned()).unwrap_or_default(),
        ..consent(terms, None)
    }
}

fn objection(terms: &plan::ObjectionTerms, recorded: Option<&plan::Objection>) -> pb::Objection {
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
    let (allowed, denial_reason) = match &entry.decision {
        Decision::Allowed => (true, String::new()),
        Decision::Denied { reason } => (false, reason.clone()),
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
    }
}

fn relative(r: &plan::Relative) -> pb::Relative {
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
pub fn plan(p: &Plan, categories: &[DataCategory], today: Date) -> pb::Plan {
    let names = |org: &OrganisationId| disclosure::shows_organisation(p, org, categories);
    let p = &disclosure::redacted(p, categories);
    pb::Plan {
        clocks: p.clocks.iter().map(|c| shown_clock(c, p, categories, today)).collect(),
        indsatsplan: p.indsatsplan.as_ref().map(indsatsplan),
        discharge: p.discharge.as_ref().map(|d| discharge(d, p, today)),
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
                organisation_id: if shown { c.organisation.to_string() } else { String::new() },
                professional_id: if shown { c.professional.to_string() } else { String::new() },
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
        consents: p.consents.iter().map(|c| consent(&c.terms, Some(c))).collect(),
        emergency_accesses: p.emergency_grants.iter().map(emergency_access).collect(),
        visible_categories: categories.iter().map(|c| category_to(*c)).collect(),
        objections: p.objections.iter().map(|o| objection(&o.terms, Some(o))).collect(),
    }
}

/// `e` as a caller that sees `categories` of `plan` (the plan's current state)
/// may see it, or `None` if it may not see all the event reveals; its author
/// is withheld where naming it would tell more.
pub fn visible_event(e: &RecordedEvent, plan: &Plan, categories: &[DataCategory]) -> Option<pb::PlanEvent> {
    let revealed = disclosure::event_reveals(&e.payload, plan);
    if !disclosure::shows(&revealed, categories) {
        return None;
    }
    let mut shown = event(e, &revealed);
    let names = |org: &OrganisationId| disclosure::shows_organisation(plan, org, categories);
    withhold_contacts(&mut shown, &names);
    if !categories.contains(&disclosure::membership_reveals(e.actor.sector)) {
        shown.actor = None;
        if let Some(pb::plan_event::Event::MilestoneRecorded(m)) = &mut shown.event {
            m.started.iter_mut().for_each(|c| c.responsible_organisation_id.clear());
        }
    }
    Some(shown)
}

/// Clears the organisation and professional of every contact person in
/// `shown` that `names` may not name (see [`disclosure::withheld_organisations`]).
fn withhold_contacts(shown: &mut pb::PlanEvent, names: &impl Fn(&OrganisationId) -> bool) {
    use pb::plan_event::Event as E;
    let named = |organisation: &str| OrganisationId::parse("organisation_id", organisation).is_ok_and(|o| names(&o));
    let withhold = |organisation: &mut String, professional: &mut String| {
        if !named(organisation) {
            organisation.clear();
            professional.clear();
        }
    };
    match &mut shown.event {
        Some(E::ContactPersonAssigned(c)) => withhold(&mut c.organisation_id, &mut c.professional_id),
        Some(E::NextContactPersonAgreed(c)) => withhold(&mut c.organisation_id, &mut c.professional_id),
        Some(E::ContactPersonHandedOver(c)) => {
            withhold(&mut c.from_organisation_id, &mut c.from_professional_id);
            withhold(&mut c.to_organisation_id, &mut c.to_professional_id);
        }
        _ => {}
    }
}

/// `e` whole, filed under everything it reveals (`revealed`).
fn event(e: &RecordedEvent, revealed: &[DataCategory]) -> pb::PlanEvent {
    use pb::plan_event::Event as E;
    let reason = |t: &Text| t.as_str().to_owned();
    let event = match &e.payload {
        EventPayload::PlanCreated { citizen_kind, first_member, reason: r } => E::PlanCreated(pb::PlanCreated {
            citizen_identifier_kind: cpr_kind_to(*citizen_kind),
            first_member: Some(member(first_member)),
            reason: reason(r),
        }),
        EventPayload::CareTeamJoined { member: m, reason: r } => {
            E::CareTeamJoined(pb::CareTeamJoined { member: Some(member(m)), reason: reason(r) })
        }
        EventPayload::PlanActivated => E::PlanActivated(pb::PlanActivated {}),
        EventPayload::PlanPutOnHold { reason: r } => E::PlanPutOnHold(pb::PlanPutOnHold { reason: reason(r) }),
        EventPayload::PlanResumed => E::PlanResumed(pb::PlanResumed {}),
        EventPayload::PlanClosed { reason: r } => E::PlanClosed(pb::PlanClosed { reason: reason(r) }),
        EventPayload::PlanReopened { reason: r } => E::PlanReopened(pb::PlanReopened { reason: reason(r) }),
        EventPayload::GoalAdded { goal_id, text, category } => E::GoalAdded(pb::GoalAdded {
            goal_id: goal_id.clone(),
            text: reason(text),
            category: category_to(*category),
        }),
        EventPayload::GoalRevised { goal_id, text } => {
            E::GoalRevised(pb::GoalRevised { goal_id: goal_id.clone(), text: reason(text) })
        }
        EventPayload::GoalAssessed { goal_id, achievement } => {
            E::GoalAssessed(pb::GoalAssessed { goal_id: goal_id.clone(), achievement: achievement_to(*achievement) })
        }
        EventPayload::GoalEnded { goal_id, reason: r } => {
            E::GoalEnded(pb::GoalEnded { goal_id: goal_id.clone(), reason: reason(r) })
        }
        EventPayload::SectionOwnershipTaken { section, organisation, effective } => {
            E::SectionOwnershipTaken(pb::SectionOwnershipTaken {
                section: section_to(*section),
                organisation_id: organisation.to_string(),
                effective_date: day_text(*effective),
            })
        }
        EventPayload::SectionOwnershipTransferred { section, from, to, effective } => {
            E::SectionOwnershipTransferred(pb::SectionOwnershipTransferred {
                section: section_to(*section),
                from_organisation_id: from.to_string(),
                to_organisation_id: to.to_string(),
                effective_date: day_text(*effective),
            })
        }
        EventPayload::ActivityAdded(a) => E::ActivityAdded(pb::ActivityAdded { activity: Some(activity(a)) }),
        EventPayload::ActivityStatusChanged { activity_id, from, to } => {
            E::ActivityStatusChanged(pb::ActivityStatusChanged {
                activity_id: activity_id.clone(),
                from_status: activity_status_to(*from),
                to_status: activity_status_to(*to),
            })
        }
        EventPayload::CareTeamMemberAdded(m) => {
            E::CareTeamMemberAdded(pb::CareTeamMemberAdded { member: Some(member(m)) })
        }
        EventPayload::CareTeamMembershipEnded { member_id, end_date } => {
            E::CareTeamMembershipEnded(pb::CareTeamMembershipEnded {
                member_id: member_id.clone(),
                end_date: day_text(*end_date),
            })
        }
        EventPayload::ContactPersonAssigned { organisation, professional } => {
            E::ContactPersonAssigned(pb::ContactPersonAssigned {
                organisation_id: organisation.to_string(),
                professional_id: professional.to_string(),
            })
        }
        EventPayload::ContactPersonHandedOver {
            from_organisation,
            from_professional,
            to_organisation,
            to_professional,
            reason: r,
        } => E::ContactPersonHandedOver(pb::ContactPersonHandedOver {
            from_organisation_id: from_organisation.to_string(),
            from_professional_id: from_professional.to_string(),
            to_organisation_id: to_organisation.to_string(),
            to_professional_id: to_professional.to_string(),
            reason: reason(r),
        }),
        EventPayload::AdvanceStatementRecorded { statement_id, occasion, text, supersedes } => {
            E::AdvanceStatementRecorded(pb::AdvanceStatementRecorded {
                statement_id: statement_id.clone(),
                occasion: occasion_to(*occasion),
                text: reason(text),
                supersedes: supersedes.clone().unwrap_or_default(),
            })
        }
        EventPayload::RelativeRegistered(r) => {
            E::RelativeRegistered(pb::RelativeRegistered { relative: Some(relative(r)) })
        }
        EventPayload::RelativeInvolvementChanged { relative_id, involvement } => {
            E::RelativeInvolvementChanged(pb::RelativeInvolvementChanged {
                relative_id: relative_id.clone(),
                involvement: involvement_to(*involvement),
            })
        }
        EventPayload::ConsentRecorded(terms) => {
            E::ConsentRecorded(pb::ConsentRecorded { consent: Some(consent(terms, None)) })
        }
        EventPayload::ConsentGiven { terms, purpose, document_reference } => E::ConsentRecorded(pb::ConsentRecorded {
            consent: Some(consent_given(terms, Some(purpose), document_reference.as_ref())),
        }),
        EventPayload::ObjectionRecorded(terms) => {
            E::ObjectionRecorded(pb::ObjectionRecorded { objection: Some(objection(terms, None)) })
        }
        EventPayload::ObjectionWithdrawn { objection_id, reason: r } => {
            E::ObjectionWithdrawn(pb::ObjectionWithdrawn { objection_id: objection_id.clone(), reason: reason(r) })
        }
        EventPayload::CitizenInformedOfEmergencyAccess { grant_id, informed_on } => {
            E::CitizenInformedOfEmergencyAccess(pb::CitizenInformedOfEmergencyAccess {
                grant_id: grant_id.clone(),
                informed_date: day_text(*informed_on),
            })
        }
        EventPayload::CareTeamMemberInvited { member: m, ground } => {
            E::CareTeamMemberInvited(pb::CareTeamMemberInvited {
                member: Some(member(m)),
                ground: ground.as_str().to_owned(),
            })
        }
        EventPayload::ConsentWithdrawn { consent_id, reason: r } => {
            E::ConsentWithdrawn(pb::ConsentWithdrawn { consent_id: consent_id.clone(), reason: reason(r) })
        }
        EventPayload::EmergencyAccessGranted { grant_id, justification, expires_at } => {
            E::EmergencyAccessGranted(pb::EmergencyAccessGranted {
                grant_id: grant_id.clone(),
                justification: reason(justification),
                expire_time: Some(timestamp(*expires_at)),
            })
        }
        EventPayload::MilestoneRecorded { milestone, occurred_on, started, stopped } => {
            let (kind, serious_illness, expected) = milestone_to(milestone);
            E::MilestoneRecorded(pb::MilestoneRecorded {
                milestone: kind as i32,
                occurred_on: day_text(*occurred_on),
                serious_illness,
                expected_discharge_date: date_text(expected),
                started: started
                    .iter()
                    .map(|c| pb::RightsClock {
                        clock_id: c.clock_id.clone(),
                        kind: clock_kind_to(c.kind),
                        start_date: day_text(*occurred_on),
                        due_date: day_text(c.due_on),
                        state: pb::ClockState::Running as i32,
                        legal_source: c.source.clone(),
                        responsible_organisation_id: e.actor.organisation.to_string(),
                        ..Default::default()
                    })
                    .collect(),
                stopped_clock_ids: stopped.clone(),
            })
        }
        EventPayload::ClockPaused { clock_id, reason: r, on } => {
            E::ClockPaused(pb::ClockPaused { clock_id: clock_id.clone(), reason: reason(r), pause_date: day_text(*on) })
        }
        EventPayload::ClockResumed { clock_id, on, due_on } => E::ClockResumed(pb::ClockResumed {
            clock_id: clock_id.clone(),
            resume_date: day_text(*on),
            due_date: day_text(*due_on),
        }),
        EventPayload::ClockOverdue { clock_id, due_on } => {
            E::ClockOverdue(pb::ClockOverdue { clock_id: clock_id.clone(), due_date: day_text(*due_on) })
        }
        EventPayload::IndsatsplanStarted { next_meeting } => {
            E::IndsatsplanStarted(pb::IndsatsplanStarted { next_meeting_date: day_text(*next_meeting) })
        }
        EventPayload::IndsatsplanMeetingSet { next_meeting } => {
            E::IndsatsplanMeetingSet(pb::IndsatsplanMeetingSet { next_meeting_date: day_text(*next_meeting) })
        }
        EventPayload::IndsatsActionPrioritised { activity_id, priority } => {
            E::IndsatsActionPrioritised(pb::IndsatsActionPrioritised {
                activity_id: activity_id.clone(),
                priority: *priority,
            })
        }
        EventPayload::IndsatsplanSigned { version, sides, agreed } => E::IndsatsplanSigned(pb::IndsatsplanSigned {
            version: *version,
            sides: sides.iter().map(|s| section_to(*s)).collect(),
            agreed: *agreed,
        }),
        EventPayload::IndsatsplanReopened { version } => {
            E::IndsatsplanReopened(pb::IndsatsplanReopened { version: *version })
        }
        EventPayload::DischargeCoordinatorOffered { mentor, start, end } => {
            E::DischargeCoordinatorOffered(pb::DischargeCoordinatorOffered {
                mentor_professional_id: mentor.to_string(),
                start_date: day_text(*start),
                end_date: day_text(*end),
            })
        }
        EventPayload::DischargeCoordinatorOfferAnswered { accepted } => {
            E::DischargeCoordinatorOfferAnswered(pb::DischargeCoordinatorOfferAnswered { accepted: *accepted })
        }
        EventPayload::NetworkMeetingRequested { meeting_on } => {
            E::NetworkMeetingRequested(pb::NetworkMeetingRequested { meeting_date: day_text(*meeting_on) })
        }
        EventPayload::AdvanceStatementsRequested { on } => {
            E::AdvanceStatementsRequested(pb::AdvanceStatementsRequested { request_date: day_text(*on) })
        }
        EventPayload::NextContactPersonAgreed { organisation, professional } => {
            E::NextContactPersonAgreed(pb::NextContactPersonAgreed {
                organisation_id: organisation.to_string(),
                professional_id: professional.to_string(),
            })
        }
        EventPayload::DischargeCompleted { on } => {
            E::DischargeCompleted(pb::DischargeCompleted { discharge_date: day_text(*on) })
        }
    };
    pb::PlanEvent {
        plan: e.plan_id.resource_name(),
        sequence: e.sequence,
        global_position: e.global_position,
        record_time: Some(timestamp(e.recorded_at)),
        actor: Some(pb::Actor {
            organisation_id: e.actor.organisation.to_string(),
            sector: sector_to(e.actor.sector),
            professional_id: e.actor.professional.to_string(),
            role: role_to(e.actor.role),
        }),
        correlation_id: e.correlation_id.clone(),
        request_id: e.request_id.clone().unwrap_or_default(),
        event: Some(event),
        category: category_to(disclosure::primary(revealed)),
        categories: revealed.iter().map(|c| category_to(*c)).collect(),
    }
}

fn discharge(d: &discharge::Discharge, plan: &Plan, today: Date) -> pb::Discharge {
    use discharge::{Step, StepState};
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
        coordinator_offer: d.coordinator.as_ref().map(|o| pb::DischargeCoordinatorOffer {
            organisation_id: o.offered_by.to_string(),
            mentor_professional_id: o.mentor.to_string(),
            start_date: day_text(o.start),
            end_date: day_text(o.end),
            answered: o.accepted.is_some(),
            accepted: o.accepted.unwrap_or(false),
        }),
        network_meeting_date: date_text(d.network_meeting_on),
        network_meeting_held_date: date_text(d.network_meeting_held_on),
        advance_statements_requested_date: date_text(d.advance_statements_requested_on),
        advance_statement_recorded: d.advance_statement_recorded,
        next_contact_organisation_id: d.next_contact.as_ref().map(|n| n.organisation.to_string()).unwrap_or_default(),
        next_contact_professional_id: d.next_contact.as_ref().map(|n| n.professional.to_string()).unwrap_or_default(),
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
    }
}

/// A clock of `plan` as a caller that sees `categories` may see it on `today`:
/// its responsible organisation withheld where naming it would tell more.
pub fn shown_clock(c: &Clock, plan: &Plan, categories: &[DataCategory], today: Date) -> pb::RightsClock {
    let mut clock = rights_clock(c, today);
    if !disclosure::shows_organisation(plan, &c.responsible, categories) {
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
    };
    pb::RightsClock {
        clock_id: c.clock_id.clone(),
        kind: clock_kind_to(c.kind),
        start_date: day_text(c.started_on),
        due_date: day_text(c.due_on),
        state: state as i32,
        overdue: c.is_overdue(today),
        stop_date: date_text(stop_date),
        met: c.met().unwrap_or(false),
        pause_date: date_text(pause_date),
        pause_reason,
        legal_source: c.source.clone(),
        responsible_organisation_id: c.responsible.to_string(),
    }
}

fn milestone_to(m: &Milestone) -> (pb::MilestoneKind, bool, Option<Date>) {
    use pb::MilestoneKind as K;
    match m {
        Milestone::ReferredForAssessment => (K::ReferredForAssessment, false, None),
        Milestone::AssessmentCompleted { serious } => (K::AssessmentCompleted, *serious, None),
        Milestone::PsychiatricTreatmentStarted => (K::PsychiatricTreatmentStarted, false, None),
        Milestone::AddictionTreatmentRequested => (K::AddictionTreatmentRequested, false, None),
        Milestone::DoctorConsultationHeld => (K::DoctorConsultationHeld, false, None),
        Milestone::AddictionTreatmentStarted => (K::AddictionTreatmentStarted, false, None),
        Milestone::ReferredForDualDiagnosisTreatment => (K::ReferredForDualDiagnosisTreatment, false, None),
        Milestone::DualDiagnosisTreatmentStarted => (K::DualDiagnosisTreatmentStarted, false, None),
        Milestone::IndsatsplanMeetingHeld => (K::IndsatsplanMeetingHeld, false, None),
        Milestone::DischargePlanned { expected } => (K::DischargePlanned, false, Some(*expected)),
        Milestone::NetworkMeetingHeld => (K::NetworkMeetingHeld, false, None),
    }
}

/// A subscription message carrying an event as the caller may see it.
pub fn subscribed_event(e: pb::PlanEvent) -> pb::SubscribePlanEventsResponse {
    pb::SubscribePlanEventsResponse { message: Some(pb::subscribe_plan_events_response::Message::Event(e)) }
}

/// A subscription heartbeat: everything the caller may see up to `cursor` has been sent.
pub fn heartbeat(cursor: u64, now: Timestamp) -> pb::SubscribePlanEventsResponse {
    pb::SubscribePlanEventsResponse {
        message: Some(pb::subscribe_plan_events_response::Message::Heartbeat(pb::Heartbeat {
            cursor,
            time: Some(timestamp(now)),
        })),
    }
}
