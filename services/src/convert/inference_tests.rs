//! Nothing by inference: a recipient with no ground for health information
//! receives nothing, in a plan or an event, from which a health fact can be
//! learnt. The event cases are generated from `EventPayload`'s definition
//! (its serde variant list), so a new event type fails here until it has a
//! case. What counts as a leak is decided independently of the code under
//! test: every health item of the plan is written with the marker `HEALTH`
//! and every health organisation's id is quoted as `"ward"` or `"misbrug"`;
//! an answer that holds either has leaked.

use serde::de::{self, Visitor};

use samplan_proto::v1 as pb;

use super::{plan, visible_event};
use crate::domain::deadlines::StartedClock;
use crate::domain::testkit::*;
use crate::domain::*;

/// The variant names of a serde enum, as its derived `Deserialize` declares them.
fn variants<T: for<'de> serde::Deserialize<'de>>() -> &'static [&'static str] {
    struct Capture(Option<&'static [&'static str]>);
    impl<'de> de::Deserializer<'de> for &mut Capture {
        type Error = de::value::Error;
        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(de::Error::custom("only enums"))
        }
        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _: &'static str,
            variants: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Self::Error> {
            self.0 = Some(variants);
            Err(de::Error::custom("captured"))
        }
        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option unit
            unit_struct newtype_struct seq tuple tuple_struct map struct identifier ignored_any
        }
    }
    let mut capture = Capture(None);
    let _ = T::deserialize(&mut capture);
    capture.0.unwrap_or_default()
}

/// The variant of a value, from its `Debug` form.
fn variant_of(payload: &EventPayload) -> String {
    format!("{payload:?}").chars().take_while(|c| c.is_alphanumeric()).collect()
}

fn health(s: &str) -> Text {
    text(&format!("HEALTH {s}"))
}

fn goal(words: &str, category: DataCategory) -> Command {
    Command::AddGoal { text: if category.is_health() { health(words) } else { text(words) }, category }
}

fn activity(section: SectionKind, title: Text, legal_plan_type: LegalPlanType) -> Command {
    Command::AddActivity {
        section,
        title,
        legal_plan_type,
        responsible_professional: prof("p-1"),
        start_date: NOW.date(),
        end_date: None,
        goal_ids: Vec::new(),
    }
}

fn milestone(milestone: Milestone) -> Command {
    Command::RecordMilestone { milestone, occurred_on: NOW.date() }
}

/// A plan with health information of every kind: the ward (contact person)
/// and the addiction service on the team, health goals, sections, clocks,
/// the koordinerende indsatsplan, a planned discharge, an advance statement,
/// a health consent and objection, and an emergency access; social services
/// and the job centre on the team with no ground for any of it.
fn health_plan() -> Given {
    let (ward, addiction, job) = (ward(), addiction(), jobcentre());
    let health_consent = Command::RecordConsent {
        recipient: OrganisationRef { id: addiction.organisation.clone(), sector: addiction.sector },
        categories: vec![DataCategory::Psychiatric],
        given_by: ConsentGiver::Citizen,
        form: ConsentForm::Oral,
        given_on: NOW.date(),
        valid_until: None,
        purpose: health("koordinering"),
        document_reference: None,
    };
    let objection = Command::RecordObjection {
        recipient: OrganisationRef { id: addiction.organisation.clone(), sector: addiction.sector },
        categories: vec![DataCategory::DischargeCoordination],
        given_by: ConsentGiver::Citizen,
        given_on: NOW.date(),
    };
    let mut given = dual_diagnosis()
        .with_contact()
        .and(&ward, goal("stemmerne skal blive mindre", DataCategory::Psychiatric))
        .and(&job, goal("arbejde i en genbrugsbutik", DataCategory::Employment))
        .and(&ward, Command::TakeSectionOwnership { section: SectionKind::Psychiatry })
        .and(&ward, activity(SectionKind::Psychiatry, health("medicin"), LegalPlanType::Behandlingsplan))
        .and(&addiction, Command::TakeSectionOwnership { section: SectionKind::Addiction })
        .and(&addiction, activity(SectionKind::Addiction, health("alkohol"), LegalPlanType::Behandlingsplan))
        .and(&job, Command::TakeSectionOwnership { section: SectionKind::Employment })
        .and(&job, activity(SectionKind::Employment, text("jobplan"), LegalPlanType::Jobplan))
        .and(&ward, milestone(Milestone::ReferredForAssessment))
        .and(&addiction, milestone(Milestone::DrugTreatmentRequested { medical: false }))
        .and(&ward, milestone(Milestone::ReferredForDualDiagnosisTreatment))
        .and(&ward, milestone(Milestone::DischargePlanned { expected: day(2026, 11, 27) }))
        .and(&ward, Command::StartIndsatsplan { next_meeting: day(2027, 1, 15) })
        .and(&ward, milestone(Milestone::IndsatsplanMeetingHeld))
        .and(
            &ward,
            Command::RecordAdvanceStatement {
                occasion: AdvanceStatementOccasion::Admission,
                text: health("ingen haldol"),
                supersedes: None,
            },
        )
        .and(&ward, health_consent)
        .and(&ward, objection);
    let physician = Actor { role: ProfessionalRole::Physician, ..ward.clone() };
    let granted = emergency_access(&physician, NOW, health("bevidstløs"), 3_600_000_000, IdSeed(7)).expect("granted");
    given.apply(granted, &physician);
    given
}

/// One event of every kind, each about the health information of `plan`,
/// and each written by the ward.
fn every_event(plan: &Plan) -> Vec<EventPayload> {
    use EventPayload::*;
    let ward_member = plan.care_team.iter().find(|m| m.organisation.as_str() == "ward").expect("ward").clone();
    let addiction_member =
        plan.care_team.iter().find(|m| m.organisation.as_str() == "misbrug").expect("misbrug").clone();
    let psych_goal = plan.goals.iter().find(|g| g.category == DataCategory::Psychiatric).expect("goal").goal_id.clone();
    let psych_activity =
        plan.activities.iter().find(|a| a.section == SectionKind::Psychiatry).expect("activity").clone();
    let health_clock = plan.clocks.iter().find(|c| c.kind == ClockKind::Assessment).expect("clock").clock_id.clone();
    let health_clock_ended = health_clock.clone();
    let health_clock_basis = health_clock.clone();
    let consent =
        plan.consents.iter().find(|c| c.terms.categories.contains(&DataCategory::Psychiatric)).expect("consent");
    let objection = plan.objections[0].terms.clone();
    let started = |kind| StartedClock { clock_id: "clock-9".into(), kind, due_on: NOW.date(), source: "x".into() };
    vec![
        PlanCreated { citizen_kind: CprKind::Regular, first_member: ward_member.clone(), reason: health("indlagt") },
        PlanActivated,
        PlanPutOnHold { reason: text("pause") },
        PlanResumed,
        PlanClosed { reason: text("slut") },
        PlanReopened { reason: text("igen") },
        GoalAdded { goal_id: "goal-9".into(), text: health("sove"), category: DataCategory::Psychiatric },
        GoalRevised { goal_id: psych_goal.clone(), text: health("sove bedre") },
        GoalAssessed { goal_id: psych_goal.clone(), achievement: GoalAchievement::PartlyAchieved },
        GoalEnded { goal_id: psych_goal, reason: health("nået") },
        SectionOwnershipTaken { section: SectionKind::Psychiatry, organisation: org("ward"), effective: NOW.date() },
        SectionOwnershipTransferred {
            section: SectionKind::Addiction,
            from: org("misbrug"),
            to: org("ward"),
            effective: NOW.date(),
        },
        ActivityAdded(psych_activity.clone()),
        ActivityStatusChanged {
            activity_id: psych_activity.activity_id.clone(),
            from: ActivityStatus::Planned,
            to: ActivityStatus::InProgress,
        },
        CareTeamMemberAdded(ward_member.clone()),
        CareTeamMembershipEnded { member_id: addiction_member.member_id.clone(), end_date: NOW.date() },
        ContactPersonAssigned { organisation: org("ward"), professional: prof("p-1") },
        ContactPersonHandedOver {
            from_organisation: org("ward"),
            from_professional: prof("p-1"),
            to_organisation: org("kommune"),
            to_professional: prof("p-2"),
            reason: text("udskrevet"),
        },
        AdvanceStatementRecorded {
            statement_id: "statement-9".into(),
            occasion: AdvanceStatementOccasion::Discharge,
            text: health("ring til Mette"),
            supersedes: None,
        },
        RelativeRegistered(plan::Relative {
            relative_id: "relative-9".into(),
            name: text("Mette"),
            relation: text("søster"),
            involvement: RelativeInvolvement::Full,
        }),
        RelativeInvolvementChanged { relative_id: "relative-9".into(), involvement: RelativeInvolvement::None },
        CareTeamJoined { member: addiction_member.clone(), reason: health("henvist") },
        ConsentRecorded(consent.terms.clone()),
        ConsentWithdrawn { consent_id: consent.terms.consent_id.clone(), reason: text("fortrudt") },
        EmergencyAccessGranted { grant_id: "emergency-9".into(), justification: health("akut"), expires_at: NOW },
        MilestoneRecorded {
            milestone: Milestone::ReferredForAssessment,
            occurred_on: NOW.date(),
            started: vec![started(ClockKind::Assessment)],
            stopped: vec![],
        },
        ClockPaused { clock_id: health_clock.clone(), reason: health("indlagt"), on: NOW.date() },
        ClockResumed { clock_id: health_clock.clone(), on: NOW.date(), due_on: NOW.date() },
        ClockOverdue { clock_id: health_clock, due_on: NOW.date() },
        IndsatsplanStarted { next_meeting: NOW.date() },
        IndsatsplanMeetingSet { next_meeting: NOW.date() },
        IndsatsActionPrioritised { activity_id: psych_activity.activity_id, priority: 1 },
        IndsatsplanSigned { version: 1, sides: vec![SectionKind::Psychiatry], agreed: false },
        IndsatsplanReopened { version: 2 },
        DischargeCoordinatorOffered { mentor: prof("mentor-1"), start: NOW.date(), end: NOW.date() },
        DischargeCoordinatorOfferAnswered { accepted: true },
        NetworkMeetingRequested { meeting_on: NOW.date() },
        AdvanceStatementsRequested { on: NOW.date() },
        NextContactPersonAgreed { organisation: org("kommune"), professional: prof("p-2") },
        DischargeCompleted { on: NOW.date() },
        ConsentGiven { terms: consent.terms.clone(), purpose: health("koordinering"), document_reference: None },
        ObjectionRecorded(objection.clone()),
        ObjectionWithdrawn { objection_id: objection.objection_id, reason: text("fortrudt") },
        CitizenInformedOfEmergencyAccess { grant_id: "emergency-1".into(), informed_on: NOW.date() },
        CareTeamMemberInvited { member: ward_member, ground: text("current treatment") },
        IndsatsplanAccepted { version: 1, agreed: false },
        NetworkMeetingAskedFor { on: NOW.date(), by: discharge::Asker::Relative },
        ClockEnded { clock_id: health_clock_ended, reason: StopReason::Moved, on: NOW.date() },
        NetworkMeetingCalled { meeting_on: NOW.date(), started: vec![started(ClockKind::NetworkMeeting)] },
        ClockBasisSet { clock_id: health_clock_basis, basis: RuleBasis::Guidance },
    ]
}

/// `payload`, by `by`, as the next event of `plan`, as `audience` is shown it:
/// applied first, as the store does, so that the plan's trail knows it.
fn shown_next(
    plan: &Plan,
    payload: EventPayload,
    by: &Actor,
    audience: &disclosure::Audience,
) -> Option<pb::PlanEvent> {
    let event = record(plan.id, plan.version + 1, payload, by);
    let mut after = plan.clone();
    after.apply(&event);
    visible_event(&event, &after, audience)
}

/// What in `answer` would tell a health fact.
fn leaks(answer: &str) -> Vec<&'static str> {
    ["HEALTH", "\"ward\"", "\"misbrug\"", "Psychiatric", "SubstanceAbuse", "DischargeCoordination"]
        .into_iter()
        .filter(|marker| answer.contains(marker))
        .collect()
}

#[test]
fn every_event_type_has_a_case() {
    let given = health_plan();
    let covered: Vec<String> = every_event(&given.plan).iter().map(variant_of).collect();
    let missing: Vec<_> = variants::<EventPayload>().iter().filter(|v| !covered.iter().any(|c| c == *v)).collect();
    assert!(missing.is_empty(), "event types without an inference case: {missing:?}");
    assert!(variants::<EventPayload>().len() >= 45);
}

#[test]
fn a_recipient_without_a_health_ground_learns_no_health_fact() {
    let given = health_plan();
    for viewer in [jobcentre(), municipality()] {
        let view = policy::view(&given.plan, &viewer, NOW).expect("member");
        let audience = view.audience();
        let categories = view.categories();
        assert!(categories.iter().all(|c| !c.is_health()), "{viewer:?} has no health ground");

        let shown = plan(&given.plan, &audience, NOW.date());
        let answer = format!("{shown:?}");
        assert!(leaks(&answer).is_empty(), "{} sees {:?} in the plan: {answer}", viewer.organisation, leaks(&answer));
        assert!(shown.contact_person.as_ref().is_some_and(|c| c.withheld), "a contact person exists, withheld");
        assert!(shown.care_team.iter().any(|m| m.organisation_id == viewer.organisation.as_str()));

        let mut shown_events = 0;
        for payload in every_event(&given.plan) {
            let name = variant_of(&payload);
            if let Some(event) = shown_next(&given.plan, payload, &ward(), &audience) {
                shown_events += 1;
                let answer = format!("{event:?}");
                assert!(
                    leaks(&answer).is_empty(),
                    "{} learns {:?} from {name}: {answer}",
                    viewer.organisation,
                    leaks(&answer)
                );
                assert!(event.actor.is_none(), "{name} names the ward as its author");
            }
        }
        assert!(shown_events >= 5, "the plan's own events still reach {}", viewer.organisation);
    }
}

#[test]
fn the_markers_are_there_for_those_who_may_see_them() {
    // The check above is not vacuous: the ward, treating the citizen, sees them all.
    let given = health_plan();
    let audience = policy::view(&given.plan, &ward(), NOW).expect("member").audience();
    assert!(!leaks(&format!("{:?}", plan(&given.plan, &audience, NOW.date()))).is_empty());
    let shown: Vec<_> =
        every_event(&given.plan).into_iter().filter_map(|p| shown_next(&given.plan, p, &ward(), &audience)).collect();
    assert!(shown.len() > 40 && shown.iter().all(|e| e.actor.is_some()));
}

#[test]
fn withholding_tells_nothing_of_who_is_withheld() {
    // The contact person is social services, not a health service: to the job
    // centre, without a health ground, it is withheld all the same, and so is
    // the author of social services' events — "withheld" does not mean "health".
    let given = health_plan().and(
        &ward(),
        Command::HandOverContactPerson {
            from_organisation: org("ward"),
            from_professional: prof("p-1"),
            to_organisation: org("kommune"),
            to_professional: prof("p-2"),
            reason: text("udskrevet"),
        },
    );
    let audience = policy::view(&given.plan, &jobcentre(), NOW).expect("member").audience();
    let shown = plan(&given.plan, &audience, NOW.date());
    assert!(shown.contact_person.as_ref().is_some_and(|c| c.withheld && c.organisation_id.is_empty()));
    let shown = |by: &Actor| shown_next(&given.plan, EventPayload::PlanActivated, by, &audience).expect("shown");
    assert!(shown(&municipality()).actor.is_none());
    assert!(shown(&jobcentre()).actor.is_some(), "its own name");
}

#[test]
fn counters_move_only_with_what_the_recipient_sees() {
    // A version, an update time or a sequence number counted from the whole
    // log would tell a recipient that something it may not see happened.
    let given = health_plan();
    for viewer in [jobcentre(), municipality()] {
        let audience = policy::view(&given.plan, &viewer, NOW).expect("member").audience();
        let before = plan(&given.plan, &audience, NOW.date());
        for payload in every_event(&given.plan) {
            let name = variant_of(&payload);
            let mut event = record(given.plan.id, given.plan.version + 1, payload, &ward());
            event.recorded_at = Timestamp(NOW.0 + 60_000_000);
            let mut after = given.plan.clone();
            after.apply(&event);
            let shown = plan(&after, &audience, NOW.date());
            match visible_event(&event, &after, &audience) {
                None => assert_eq!(
                    (shown.version, &shown.update_time),
                    (before.version, &before.update_time),
                    "{name}, unseen, moves {}'s counters",
                    viewer.organisation
                ),
                Some(seen) => {
                    assert_eq!(shown.version, before.version + 256, "{name}: one more event seen");
                    let count = crate::domain::trail::count_of(&audience.categories, shown.version);
                    assert_eq!(Some(seen.sequence), count, "{name}");
                    assert_eq!(shown.update_time, Some(super::response::timestamp(event.recorded_at)), "{name}");
                }
            }
        }
    }
}

#[test]
fn the_coordinator_offer_names_its_organisation_by_the_same_rule() {
    let mut given = health_plan();
    let offer =
        EventPayload::DischargeCoordinatorOffered { mentor: prof("mentor-1"), start: NOW.date(), end: NOW.date() };
    given.apply(offer.clone(), &jobcentre());
    let offered = |audience: &disclosure::Audience| {
        let shown = plan(&given.plan, audience, NOW.date());
        let offer = shown.discharge.and_then(|d| d.coordinator_offer).expect("the offer is shown");
        (offer.organisation_id, offer.mentor_professional_id)
    };
    let all_but_health = DataCategory::ALL.into_iter().filter(|c| *c != DataCategory::SubstanceAbuse).collect();
    let social = disclosure::Audience { organisation: org("kommune"), categories: all_but_health };
    assert_eq!(offered(&social), (String::new(), String::new()), "withheld, as every other organisation is");
    let event = shown_next(&given.plan, offer, &jobcentre(), &social).expect("shown");
    assert!(event.actor.is_none() && format!("{event:?}").contains("mentor_professional_id: \"\""));
    let job = disclosure::Audience { organisation: org("jobcenter"), categories: DataCategory::ALL.to_vec() };
    assert_eq!(offered(&job), ("jobcenter".to_owned(), "mentor-1".to_owned()));
}
