//! Given-when-then tests of the discharge flow: each step, who may take it,
//! the contact person passed on in the same step as the discharge, and
//! missing steps shown as overdue.

use super::discharge::{Step, StepState};
use super::testkit::*;
use super::*;

fn step(command: DischargeCommand) -> Command {
    Command::Discharge(command)
}

/// A dual-diagnosis plan with the ward as contact person, an udskrivningsaftale
/// (which lets social services know of the discharge), the citizen's consent
/// that the job centre may know of it, and a discharge planned today (Monday
/// 23 Nov 2026) for Friday 27 Nov.
fn planned() -> Given {
    let consent = Command::RecordConsent {
        recipient: OrganisationRef { id: jobcentre().organisation, sector: Sector::JobCentre },
        categories: vec![DataCategory::DischargeCoordination],
        given_by: ConsentGiver::Citizen,
        form: ConsentForm::Oral,
        given_on: NOW.date(),
        valid_until: None,
        purpose: text("udskrivningskoordinator"),
        document_reference: None,
    };
    dual_diagnosis()
        .with_contact()
        .and(&ward(), Command::TakeSectionOwnership { section: SectionKind::Psychiatry })
        .and(&ward(), udskrivningsaftale())
        .and(&ward(), consent)
        .and(
            &ward(),
            Command::RecordMilestone {
                milestone: Milestone::DischargePlanned { expected: day(2026, 11, 27) },
                occurred_on: NOW.date(),
            },
        )
}

fn steps(given: &Given, today: Date) -> Vec<(Step, StepState)> {
    given.plan.discharge.as_ref().expect("discharge").steps(&given.plan, today)
}

#[test]
fn every_step_of_a_discharge_from_planning_to_the_handover() {
    let given = planned();
    let discharge = given.plan.discharge.as_ref().expect("planned");
    assert_eq!((discharge.planned_on, discharge.expected_on), (NOW.date(), day(2026, 11, 27)));
    assert!(given.plan.clocks.is_empty(), "the network meeting's clock starts when the meeting is called");

    // The job centre offers an udskrivningskoordinator: from at most 3 months before, for at least 6 months.
    let offer = |start, end| step(DischargeCommand::OfferCoordinator { mentor: prof("mentor-4"), start, end });
    let early = given.when(&jobcentre(), &offer(day(2026, 8, 26), day(2027, 6, 1)));
    assert_eq!(reason(early.expect_err("too early")), "start_date");
    let short = given.when(&jobcentre(), &offer(day(2026, 11, 1), day(2027, 4, 30)));
    assert_eq!(reason(short.expect_err("too short")), "end_date");
    let not_yours = given.when(&ward(), &offer(day(2026, 11, 1), day(2027, 5, 1)));
    assert_eq!(reason(not_yours.expect_err("the ward sees no employment")), "CATEGORY_NOT_WRITABLE");
    let given = given
        .and(&jobcentre(), offer(day(2026, 8, 27), day(2027, 5, 1)))
        .and(&jobcentre(), step(DischargeCommand::AnswerCoordinatorOffer { accepted: true }));
    let answered = given.when(&jobcentre(), &step(DischargeCommand::AnswerCoordinatorOffer { accepted: false }));
    assert_eq!(reason(answered.expect_err("once")), "OFFER_ANSWERED");

    // The region or the municipality calls the network meeting (the regional
    // agreement: within 5 working days of the call, Monday 23 Nov -> Monday 30 Nov);
    // the job centre, which only sees the discharge, may not.
    let call = |meeting_on| step(DischargeCommand::RequestNetworkMeeting { meeting_on });
    let late = given.when(&municipality(), &call(day(2026, 12, 1)));
    assert_eq!(reason(late.expect_err("after the deadline")), "meeting_date");
    let by_job = given.when(&jobcentre(), &call(day(2026, 11, 26)));
    assert_eq!(reason(by_job.expect_err("not the job centre's")), "DISCHARGE_STEP_NOT_YOURS");
    given.when(&ward(), &call(day(2026, 11, 26))).expect("the region may call it too");
    let called = given.and(&municipality(), call(day(2026, 11, 26)));
    assert_eq!(
        (called.plan.clocks[0].kind, called.plan.clocks[0].due_on),
        (ClockKind::NetworkMeeting, day(2026, 11, 30))
    );
    assert_eq!(reason(called.when(&ward(), &call(day(2026, 11, 27))).expect_err("once")), "NETWORK_MEETING_CALLED");
    let given = called.and_at(
        at(2026, 11, 26),
        &municipality(),
        Command::RecordMilestone { milestone: Milestone::NetworkMeetingHeld, occurred_on: day(2026, 11, 26) },
    );
    assert_eq!(given.plan.clocks[0].met(), Some(true));

    // Advance statements are asked for and given; the next contact person is agreed.
    let given = given
        .and(&ward(), step(DischargeCommand::RequestAdvanceStatements))
        .and(
            &ward(),
            Command::RecordAdvanceStatement {
                occasion: AdvanceStatementOccasion::Discharge,
                text: text("ring til min søster hvis jeg bliver dårlig"),
                supersedes: None,
            },
        )
        .and(
            &ward(),
            step(DischargeCommand::AgreeNextContactPerson { organisation: org("kommune"), professional: prof("p-9") }),
        );
    assert!(given.plan.discharge.as_ref().is_some_and(|d| d.advance_statement_recorded));

    // Completing the discharge hands the contact person over in the same step.
    let complete = step(DischargeCommand::Complete { on: day(2026, 11, 27) });
    let events = given.when_at(at(2026, 11, 27), &ward(), &complete).expect("complete");
    let names: Vec<_> = events.iter().map(EventPayload::name).collect();
    assert_eq!(names, ["DischargeCompleted", "ContactPersonHandedOver"]);
    let done = given.and_at(at(2026, 11, 27), &ward(), complete);
    let contact = done.plan.contact_person.as_ref().expect("contact person");
    assert_eq!((contact.organisation.as_str(), contact.professional.as_str()), ("kommune", "p-9"));
    assert!(steps(&done, day(2026, 12, 10)).iter().all(|(_, state)| *state == StepState::Done));

    // Steps after the discharge is completed wait for the next one.
    let after = done.when_at(at(2026, 11, 28), &ward(), &step(DischargeCommand::RequestAdvanceStatements));
    assert_eq!(reason(after.expect_err("completed")), "NO_DISCHARGE_PLANNED");
}

#[test]
fn missing_steps_show_as_overdue() {
    let given = planned();
    let pending = steps(&given, day(2026, 11, 24));
    assert!(pending.iter().all(|(_, state)| *state == StepState::Pending), "{pending:?}");
    // After the expected discharge: a network meeting no one called has no deadline (one is
    // called when needed); the other steps are overdue.
    let overdue = steps(&given, day(2026, 12, 1));
    assert_eq!(
        overdue,
        [
            (Step::NetworkMeetingRequested, StepState::Pending),
            (Step::NetworkMeetingHeld, StepState::Pending),
            (Step::AdvanceStatementsRequested, StepState::Overdue),
            (Step::Completed, StepState::Overdue),
        ]
    );
    // Called on 23 Nov and not held by its due date (30 Nov): overdue.
    let called = given
        .clone_plan()
        .and(&municipality(), step(DischargeCommand::RequestNetworkMeeting { meeting_on: day(2026, 11, 26) }));
    let late = steps(&called, day(2026, 12, 1));
    assert_eq!(
        late[..2],
        [(Step::NetworkMeetingRequested, StepState::Done), (Step::NetworkMeetingHeld, StepState::Overdue)]
    );
    let asked = given.and(&ward(), step(DischargeCommand::RequestAdvanceStatements));
    assert_eq!(steps(&asked, day(2026, 12, 1))[2], (Step::AdvanceStatementsRequested, StepState::Done));
}

#[test]
fn one_discharge_at_a_time_and_none_without_planning() {
    let unplanned = dual_diagnosis().when(&ward(), &step(DischargeCommand::Complete { on: NOW.date() }));
    assert_eq!(reason(unplanned.expect_err("not planned")), "NO_DISCHARGE_PLANNED");
    let twice = planned().when(
        &ward(),
        &Command::RecordMilestone {
            milestone: Milestone::DischargePlanned { expected: day(2026, 12, 4) },
            occurred_on: NOW.date(),
        },
    );
    assert_eq!(reason(twice.expect_err("open")), "DISCHARGE_ALREADY_PLANNED");
    let outsider_next = planned().when(
        &ward(),
        &step(DischargeCommand::AgreeNextContactPerson { organisation: org("outsider"), professional: prof("p-1") }),
    );
    assert_eq!(reason(outsider_next.expect_err("not on the team")), "organisation_id");
}
