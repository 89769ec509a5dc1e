//! Given-when-then tests of the koordinerende indsatsplan: started by either
//! side, agreed only when both sides have signed the current version and the
//! citizen has accepted it, and reopened — with an event both sides receive —
//! by any change to its content.

use super::testkit::*;
use super::*;

/// A dual-diagnosis plan whose psychiatry section the ward owns and whose
/// addiction section the addiction service owns.
fn sides() -> Given {
    dual_diagnosis()
        .and(&ward(), Command::TakeSectionOwnership { section: SectionKind::Psychiatry })
        .and(&addiction(), Command::TakeSectionOwnership { section: SectionKind::Addiction })
}

/// An action serving the substance-abuse goal of `given`, shared by both sides.
fn action(given: &Given, section: SectionKind, title: &str, legal_plan_type: LegalPlanType) -> Command {
    Command::AddActivity {
        section,
        title: text(title),
        legal_plan_type,
        responsible_professional: prof("p-7"),
        start_date: NOW.date(),
        end_date: None,
        goal_ids: vec![given.goal_id(2)],
    }
}

fn start() -> Command {
    Command::StartIndsatsplan { next_meeting: day(2027, 1, 15) }
}

fn sign(version: u32) -> Command {
    Command::SignIndsatsplan { version }
}

fn accept(version: u32) -> Command {
    Command::AcceptIndsatsplan { version }
}

fn names(events: &[EventPayload]) -> Vec<&'static str> {
    events.iter().map(EventPayload::name).collect()
}

/// Agreed at version 2: started, one psychiatry action, both signatures and the citizen's acceptance.
fn agreed() -> Given {
    let signed = sides()
        .and(&ward(), start())
        .and_with(&ward(), |g| {
            action(g, SectionKind::Psychiatry, "medicinsk behandling", LegalPlanType::KoordinerendeIndsatsplan)
        })
        .and(&ward(), sign(2))
        .and(&addiction(), sign(2));
    let citizen = citizen(&signed.plan);
    signed.and(&citizen, accept(2))
}

#[test]
fn either_side_starts_it_and_no_one_else() {
    let given = sides();
    assert_eq!(names(&given.when(&ward(), &start()).expect("psychiatry")), ["IndsatsplanStarted"]);
    assert_eq!(names(&given.when(&addiction(), &start()).expect("addiction")), ["IndsatsplanStarted"]);
    let social = given.when(&municipality(), &start()).expect_err("may not even see it");
    assert_eq!(reason(social), "CATEGORY_NOT_WRITABLE");
    let far = given.when(&ward(), &Command::StartIndsatsplan { next_meeting: day(2027, 6, 1) });
    assert_eq!(reason(far.expect_err("beyond six months")), "next_meeting_date");
    let started = given.and(&addiction(), start());
    let plan = started.plan.indsatsplan.as_ref().expect("started");
    assert_eq!((plan.version, plan.next_meeting, plan.is_agreed()), (1, day(2027, 1, 15), false));
    assert_eq!(reason(started.when(&ward(), &start()).expect_err("twice")), "INDSATSPLAN_STARTED");
}

#[test]
fn agreed_only_when_both_sides_signed_and_the_citizen_accepted_the_current_version() {
    let given = sides().and(&ward(), start()).and_with(&ward(), |g| {
        action(g, SectionKind::Psychiatry, "medicinsk behandling", LegalPlanType::KoordinerendeIndsatsplan)
    });
    assert_eq!(given.plan.indsatsplan.as_ref().map(|p| p.version), Some(2), "the action made version 2");
    let stale = given.when(&addiction(), &sign(1)).expect_err("stale");
    assert_eq!(reason(stale), "INDSATSPLAN_CHANGED");

    let one = given.clone_plan().and(&ward(), sign(2));
    assert!(!one.plan.indsatsplan.as_ref().expect("plan").is_agreed(), "one side is not agreement");
    assert_eq!(reason(one.when(&ward(), &sign(2)).expect_err("again")), "INDSATSPLAN_SIGNED");
    let events = one.when(&addiction(), &sign(2)).expect("second side");
    assert_eq!(
        events,
        [EventPayload::IndsatsplanSigned { version: 2, sides: vec![SectionKind::Addiction], agreed: false }]
    );
    let both = one.and(&addiction(), sign(2));
    assert!(!both.plan.indsatsplan.as_ref().expect("plan").is_agreed(), "the citizen has not accepted");

    let citizen = citizen(&both.plan);
    assert_eq!(reason(both.when(&citizen, &accept(1)).expect_err("stale")), "INDSATSPLAN_CHANGED");
    assert_eq!(
        both.when(&citizen, &accept(2)).expect("the citizen accepts"),
        [EventPayload::IndsatsplanAccepted { version: 2, agreed: true }]
    );
    // A side may record that the citizen accepted (at a joint meeting); no one else may.
    assert_eq!(both.when(&ward(), &accept(2)).expect("recorded by a side").len(), 1);
    assert_eq!(reason(both.when(&municipality(), &accept(2)).expect_err("no side")), "CATEGORY_NOT_WRITABLE");
    let accepted = both.and(&citizen, accept(2));
    let kip = accepted.plan.indsatsplan.as_ref().expect("plan");
    assert!(kip.is_agreed());
    assert_eq!(kip.citizen_acceptance.as_ref().map(|a| (a.version, a.recorded_by.as_str())), Some((2, "borgerportal")));
    assert_eq!(reason(accepted.when(&citizen, &accept(2)).expect_err("again")), "INDSATSPLAN_ACCEPTED");

    // Accepted first, the second signature completes the agreement.
    let first = given.clone_plan().and(&citizen, accept(2)).and(&ward(), sign(2));
    let events = first.when(&addiction(), &sign(2)).expect("second side");
    assert_eq!(
        events,
        [EventPayload::IndsatsplanSigned { version: 2, sides: vec![SectionKind::Addiction], agreed: true }]
    );
}

#[test]
fn any_change_to_either_sides_part_reopens_the_agreement() {
    let given = agreed();
    let (action_id, shared_goal) = (given.activity_id(1), given.goal_id(2));
    let changes = [
        (
            addiction(),
            action(&given, SectionKind::Addiction, "ambulant behandling", LegalPlanType::KoordinerendeIndsatsplan),
        ),
        (ward(), Command::ChangeActivityStatus { activity_id: action_id.clone(), status: ActivityStatus::InProgress }),
        (ward(), Command::SetIndsatsplanMeeting { next_meeting: day(2027, 2, 1) }),
        (addiction(), Command::PrioritiseIndsatsAction { activity_id: action_id, priority: 1 }),
        (addiction(), Command::ReviseGoal { goal_id: shared_goal, text: text("drikke mindre end før") }),
    ];
    for (by, change) in changes {
        let given = given.clone_plan();
        let events = given.when(&by, &change).expect("change");
        assert_eq!(names(&events)[1..], ["IndsatsplanReopened"], "{change:?}");
        assert_eq!(events[1], EventPayload::IndsatsplanReopened { version: 3 });
        let after = given.and(&by, change);
        let plan = after.plan.indsatsplan.as_ref().expect("plan");
        assert_eq!((plan.version, plan.is_agreed()), (3, false));
    }
    // Outside the indsatsplan nothing reopens it.
    let unrelated = [
        (addiction(), action(&given, SectionKind::Addiction, "motiverende samtaler", LegalPlanType::Behandlingsplan)),
        (ward(), Command::ReviseGoal { goal_id: given.goal_id(1), text: text("et arbejde jeg kan lide") }),
    ];
    for (by, change) in unrelated {
        let given = given.clone_plan();
        assert_eq!(given.when(&by, &change).expect("change").len(), 1, "{change:?}");
        assert!(given.and(&by, change).plan.indsatsplan.as_ref().expect("plan").is_agreed());
    }
    // A change to a version only one side had signed reopens it too: no signature lapses unheard.
    let one_signed = sides()
        .and(&ward(), start())
        .and_with(&ward(), |g| {
            action(g, SectionKind::Psychiatry, "medicinsk behandling", LegalPlanType::KoordinerendeIndsatsplan)
        })
        .and(&ward(), sign(2));
    let events = one_signed.when(&ward(), &Command::SetIndsatsplanMeeting { next_meeting: day(2027, 2, 1) });
    assert_eq!(names(&events.expect("change")), ["IndsatsplanMeetingSet", "IndsatsplanReopened"]);
    let unsigned = sides().and(&ward(), start());
    let events = unsigned.when(&ward(), &Command::SetIndsatsplanMeeting { next_meeting: day(2027, 2, 1) });
    assert_eq!(names(&events.expect("change")), ["IndsatsplanMeetingSet"], "nothing to reopen");

    // Signed again by both and accepted again, it is agreed again.
    let given = agreed();
    let citizen = citizen(&given.plan);
    let again = given
        .and(&ward(), Command::SetIndsatsplanMeeting { next_meeting: day(2027, 2, 1) })
        .and(&ward(), sign(3))
        .and(&addiction(), sign(3));
    assert!(!again.plan.indsatsplan.as_ref().expect("plan").is_agreed(), "awaits the citizen");
    assert!(again.and(&citizen, accept(3)).plan.indsatsplan.as_ref().expect("plan").is_agreed());
}

#[test]
fn only_health_services_see_it_without_consent() {
    let given = agreed();
    let shown = |who: &Actor| {
        let view = policy::view(&given.plan, who, NOW).expect("member");
        crate::domain::disclosure::redacted(&given.plan, &view.categories()).indsatsplan.is_some()
    };
    assert!(shown(&ward()) && shown(&addiction()));
    assert!(!shown(&jobcentre()) && !shown(&municipality()));
}
