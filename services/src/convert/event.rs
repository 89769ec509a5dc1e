//! Events into responses: each as a caller may see it (or not at all), with
//! the organisations withheld whose naming would tell it more; and the
//! messages of a subscription.

use samplan_proto::v1 as pb;

use super::response::{activity, consent, consent_given, date_text, day_text, member, objection, relative, timestamp};
use super::*;

/// `e` as a caller that sees `categories` of `plan` (the plan's current state)
/// may see it, or `None` if it may not see all the event reveals; its author
/// is withheld where naming it would tell more.
pub fn visible_event(e: &RecordedEvent, plan: &Plan, audience: &disclosure::Audience) -> Option<pb::PlanEvent> {
    visible_events(std::slice::from_ref(e), plan, audience).pop()
}

/// `events`, consecutive events of `plan`, as `audience` may see them: those
/// it may not see left out, and the others numbered as it counts the log
/// (see [`crate::domain::trail`]).
pub fn visible_events(events: &[RecordedEvent], plan: &Plan, audience: &disclosure::Audience) -> Vec<pb::PlanEvent> {
    let categories = &audience.categories;
    let mut shown_before = events.first().map_or(0, |e| plan.trail.shown_at(categories, e.sequence.saturating_sub(1)));
    let mut visible = Vec::new();
    for e in events {
        if !plan.trail.shows(categories, e.sequence) {
            continue;
        }
        let revealed = plan.trail.revealed(e.sequence);
        shown_before += 1;
        let mut shown = event(e, &revealed);
        shown.sequence = shown_before;
        withhold_contacts(&mut shown, audience);
        if !audience.names(e.actor.organisation.as_str()) {
            shown.actor = None;
            // What names the author's organisation, or one of its people, goes with it.
            match &mut shown.event {
                Some(pb::plan_event::Event::MilestoneRecorded(m)) => {
                    m.started.iter_mut().for_each(|c| c.responsible_organisation_id.clear());
                }
                Some(pb::plan_event::Event::NetworkMeetingRequested(m)) => {
                    m.started.iter_mut().for_each(|c| c.responsible_organisation_id.clear());
                }
                Some(pb::plan_event::Event::DischargeCoordinatorOffered(o)) => o.mentor_professional_id.clear(),
                _ => {}
            }
        }
        visible.push(shown);
    }
    visible
}

/// Clears the organisation (and professional) of every contact person and
/// consent or objection recipient in `shown` that `audience` may not be told of.
fn withhold_contacts(shown: &mut pb::PlanEvent, audience: &disclosure::Audience) {
    use pb::plan_event::Event as E;
    let withhold = |organisation: &mut String, professional: &mut String| {
        if !audience.names(organisation) {
            organisation.clear();
            professional.clear();
        }
    };
    match &mut shown.event {
        Some(E::ContactPersonAssigned(c)) => withhold(&mut c.organisation_id, &mut c.professional_id),
        Some(E::NextContactPersonAgreed(c)) => withhold(&mut c.organisation_id, &mut c.professional_id),
        Some(E::ConsentRecorded(pb::ConsentRecorded { consent: Some(c) })) => {
            withhold(&mut c.recipient_organisation_id, &mut String::new())
        }
        Some(E::ObjectionRecorded(pb::ObjectionRecorded { objection: Some(o) })) => {
            withhold(&mut o.recipient_organisation_id, &mut String::new())
        }
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
            let (kind, flag, expected) = milestone_to(milestone);
            let medical =
                matches!(milestone, Milestone::DrugTreatmentRequested { .. } | Milestone::DrugTreatmentStarted { .. });
            E::MilestoneRecorded(pb::MilestoneRecorded {
                milestone: kind as i32,
                occurred_on: day_text(*occurred_on),
                serious_illness: flag && !medical,
                medical_treatment: flag && medical,
                expected_discharge_date: date_text(expected),
                started: started_clocks(started, *occurred_on, e),
                stopped_clock_ids: stopped.clone(),
            })
        }
        EventPayload::NetworkMeetingCalled { meeting_on, started } => {
            E::NetworkMeetingRequested(pb::NetworkMeetingRequested {
                meeting_date: day_text(*meeting_on),
                started: started_clocks(started, e.recorded_at.date(), e),
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
        EventPayload::IndsatsplanAccepted { version, agreed } => {
            E::IndsatsplanAccepted(pb::IndsatsplanAccepted { version: *version, agreed: *agreed })
        }
        EventPayload::ClockBasisSet { clock_id, basis } => {
            E::ClockBasisSet(pb::ClockBasisSet { clock_id: clock_id.clone(), basis: basis_to(*basis) })
        }
        EventPayload::ClockEnded { clock_id, reason, on } => E::ClockEnded(pb::ClockEnded {
            clock_id: clock_id.clone(),
            reason: stop_reason_to(*reason),
            end_date: day_text(*on),
        }),
        EventPayload::NetworkMeetingAskedFor { on, by } => {
            E::NetworkMeetingAskedFor(pb::NetworkMeetingAskedFor { ask_date: day_text(*on), asked_by: asker_to(*by) })
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
            E::NetworkMeetingRequested(pb::NetworkMeetingRequested {
                meeting_date: day_text(*meeting_on),
                started: Vec::new(),
            })
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

/// The clocks an event started on `on`, as its event shows them.
fn started_clocks(
    started: &[crate::domain::deadlines::StartedClock],
    on: Date,
    e: &RecordedEvent,
) -> Vec<pb::RightsClock> {
    started
        .iter()
        .map(|c| pb::RightsClock {
            clock_id: c.clock_id.clone(),
            kind: clock_kind_to(c.kind),
            start_date: day_text(on),
            due_date: day_text(c.due_on),
            state: pb::ClockState::Running as i32,
            legal_source: c.source.clone(),
            responsible_organisation_id: e.actor.organisation.to_string(),
            basis: basis_to(c.kind.basis()),
            ..Default::default()
        })
        .collect()
}

/// A milestone's kind, its one flag (`serious_illness` or `medical_treatment`) and its date.
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
        Milestone::AssessmentPlanGiven => (K::AssessmentPlanGiven, false, None),
        Milestone::PatientInformed => (K::PatientInformed, false, None),
        Milestone::AlcoholTreatmentRequested => (K::AlcoholTreatmentRequested, false, None),
        Milestone::DrugTreatmentRequested { medical } => (K::DrugTreatmentRequested, *medical, None),
        Milestone::AlcoholTreatmentStarted => (K::AlcoholTreatmentStarted, false, None),
        Milestone::DrugTreatmentStarted { medical } => (K::DrugTreatmentStarted, *medical, None),
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
