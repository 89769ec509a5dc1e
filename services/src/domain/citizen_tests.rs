//! Given-when-then tests of the citizen's own voice: the citizen reads all of
//! their own plan on a ground of their own, gives the commands that are
//! theirs and no others, and for any other plan is told what an organisation
//! off the care team is told.

use super::testkit::*;
use super::*;

/// Another citizen's plan, otherwise the same.
fn elsewhere(given: &Given) -> Plan {
    Plan { id: PlanId([9; 16]), ..given.plan.clone() }
}

fn consent_by(given_by: ConsentGiver, recipient: OrganisationRef) -> Command {
    Command::RecordConsent {
        recipient,
        categories: vec![DataCategory::Psychiatric],
        given_by,
        form: ConsentForm::Written,
        given_on: NOW.date(),
        valid_until: None,
        purpose: text("jobafklaring"),
        document_reference: Some(text("borgerportal-kvittering-118")),
    }
}

fn job_ref() -> OrganisationRef {
    OrganisationRef { id: jobcentre().organisation, sector: Sector::JobCentre }
}

#[test]
fn the_citizen_reads_all_of_their_own_plan_and_nothing_of_anyone_elses() {
    let given = dual_diagnosis();
    let me = citizen(&given.plan);
    let view = policy::view(&given.plan, &me, NOW).expect("their own plan");
    assert_eq!(view.categories(), DataCategory::ALL.to_vec());
    assert!(view.grants.iter().all(|(_, g)| g.rule == "data-subject"), "{:?}", view.grants);
    assert!(view.legal_ground().contains("sundhedsloven § 37, stk. 1"));
    policy::may_review_access(&given.plan, &me, NOW).expect("their access log");

    let other = elsewhere(&given);
    assert_eq!(policy::view(&other, &me, NOW), Err(DomainError::PlanNotFound));
    assert_eq!(policy::may_review_access(&other, &me, NOW), Err(DomainError::PlanNotFound));
    let without_plan = Actor { own_plan: None, ..me.clone() };
    assert_eq!(policy::view(&given.plan, &without_plan, NOW), Err(DomainError::PlanNotFound));
    // A write to another plan is refused before anything about it is looked at.
    let other_given = Given { plan: other, rules: OwnershipRules::default(), deadlines: DeadlineRules::default() };
    let goal = Command::AddGoal { text: text("sove om natten"), category: DataCategory::Goals };
    assert_eq!(other_given.when(&me, &goal), Err(DomainError::PlanNotFound));
}

#[test]
fn the_citizen_gives_their_own_commands_and_no_others() {
    let given = dual_diagnosis();
    let me = citizen(&given.plan);
    let goal = given.when(&me, &Command::AddGoal { text: text("sove om natten"), category: DataCategory::Goals });
    assert_eq!(goal.expect("own goal")[0].name(), "GoalAdded");
    let revise = Command::ReviseGoal { goal_id: given.goal_id(2), text: text("ikke drikke om dagen") };
    assert_eq!(given.when(&me, &revise).expect("revises a goal")[0].name(), "GoalRevised");
    let statement = Command::RecordAdvanceStatement {
        occasion: AdvanceStatementOccasion::Admission,
        text: text("ring til min søster"),
        supersedes: None,
    };
    assert_eq!(given.when(&me, &statement).expect("advance statement")[0].name(), "AdvanceStatementRecorded");

    let theirs = [
        Command::TakeSectionOwnership { section: SectionKind::Psychiatry },
        Command::AssignContactPerson { organisation: org("ward"), professional: prof("p-1") },
        Command::ClosePlan { reason: text("flyttet") },
        Command::EndGoal { goal_id: given.goal_id(1), reason: text("nået") },
        Command::RegisterRelative {
            name: text("Søster"),
            relation: text("søster"),
            involvement: RelativeInvolvement::InformationOnly,
        },
    ];
    for command in theirs {
        assert_eq!(reason(given.when(&me, &command).expect_err("not the citizen's")), "NOT_FOR_THE_CITIZEN");
    }
    assert_eq!(reason(citizen::may_enter(&me).expect_err("creates no plan")), "CITIZEN_JOINS_NO_PLAN");
    citizen::may_enter(&ward()).expect("organisations do");
}

#[test]
fn the_citizen_consents_and_objects_in_their_own_name() {
    let given = dual_diagnosis();
    let me = citizen(&given.plan);
    let events = given.when(&me, &consent_by(ConsentGiver::Citizen, job_ref())).expect("consent");
    assert!(
        matches!(&events[0], EventPayload::ConsentGiven { terms, .. } if terms.recipient == jobcentre().organisation)
    );
    let claimed = given.when(&me, &consent_by(ConsentGiver::Representative, job_ref()));
    assert_eq!(reason(claimed.expect_err("the assertion says who acts")), "given_by");
    let representative = Actor { role: ProfessionalRole::Representative, ..me.clone() };
    given.when(&representative, &consent_by(ConsentGiver::Representative, job_ref())).expect("a værge");
    let portal = OrganisationRef { id: org("borgerportal"), sector: Sector::Citizen };
    let to_portal = given.when(&me, &consent_by(ConsentGiver::Citizen, portal));
    assert_eq!(reason(to_portal.expect_err("a portal receives nothing")), "recipient_organisation_id");

    let consented = given.clone_plan().and(&me, consent_by(ConsentGiver::Citizen, job_ref()));
    assert!(policy::view(&consented.plan, &jobcentre(), NOW).expect("member").sees(DataCategory::Psychiatric));
    let withdraw = Command::WithdrawConsent { consent_id: consented.consent_id(1), reason: text("fortrudt") };
    let withdrawn = consented.and(&me, withdraw);
    assert!(!policy::view(&withdrawn.plan, &jobcentre(), NOW).expect("member").sees(DataCategory::Psychiatric));

    let object = Command::RecordObjection {
        recipient: OrganisationRef { id: addiction().organisation, sector: Sector::AddictionService },
        categories: vec![DataCategory::Psychiatric],
        given_by: ConsentGiver::Citizen,
        given_on: NOW.date(),
    };
    let objected = given.and(&me, object);
    assert!(!policy::view(&objected.plan, &addiction(), NOW).expect("member").sees(DataCategory::Psychiatric));
    let lift = Command::WithdrawObjection { objection_id: objected.objection_id(1), reason: text("ombestemt") };
    let lifted = objected.and(&me, lift);
    assert!(policy::view(&lifted.plan, &addiction(), NOW).expect("member").sees(DataCategory::Psychiatric));
}

#[test]
fn the_citizen_or_a_relative_asks_for_a_network_meeting_before_the_discharge() {
    use super::discharge::Asker;
    let ask_by = |by| Command::Discharge(DischargeCommand::AskForNetworkMeeting { by });
    let ask = ask_by(Asker::Citizen);
    let given = dual_diagnosis().and(&ward(), Command::TakeSectionOwnership { section: SectionKind::Psychiatry });
    let me = citizen(&given.plan);
    assert_eq!(reason(given.when(&me, &ask).expect_err("no discharge")), "NO_DISCHARGE_PLANNED");
    let planned = given.and(
        &ward(),
        Command::RecordMilestone {
            milestone: Milestone::DischargePlanned { expected: day(2026, 11, 27) },
            occurred_on: NOW.date(),
        },
    );
    assert_eq!(
        planned.when(&me, &ask).expect("asked"),
        [EventPayload::NetworkMeetingAskedFor { on: NOW.date(), by: Asker::Citizen }]
    );
    let in_their_name = planned.when(&me, &ask_by(Asker::Relative));
    assert_eq!(reason(in_their_name.expect_err("the assertion says who")), "asked_by");
    // The ward, or social services, record that a relative asked them; the job centre does not.
    planned.when(&ward(), &ask_by(Asker::Relative)).expect("the ward records a relative's ask");
    let job = planned.when(&jobcentre(), &ask_by(Asker::Relative));
    assert!(job.is_err(), "the job centre neither sees nor records it");
    let asked = planned.and(&me, ask.clone());
    assert_eq!(asked.plan.discharge.as_ref().and_then(|d| d.network_meeting_asked_on), Some(NOW.date()));
    assert_eq!(reason(asked.when(&me, &ask).expect_err("once")), "NETWORK_MEETING_ASKED");
}

#[test]
fn no_portal_or_citizen_joins_a_care_team() {
    let given = Given::plan();
    let invite = |sector, role| Command::AddCareTeamMember {
        organisation: OrganisationRef { id: org("borgerportal"), sector },
        professional: None,
        role,
        start_date: NOW.date(),
        end_date: None,
        ground: Some(text("borgerens ønske")),
    };
    let portal = given.when(&ward(), &invite(Sector::Citizen, ProfessionalRole::Secretary));
    assert_eq!(reason(portal.expect_err("a portal")), "organisation_id");
    let citizen_role = given.when(&ward(), &invite(Sector::MunicipalSocial, ProfessionalRole::Citizen));
    assert_eq!(reason(citizen_role.expect_err("a citizen")), "role");
}
