//! Given-when-then tests of rights and deadlines: milestones start and stop
//! clocks with due dates from the effective-dated table; pauses move the due
//! date; a clock is overdue the day after its due date; the watcher marks it once.

use super::deadlines::StartedClock;
use super::testkit::*;
use super::*;

fn milestone(milestone: Milestone, occurred_on: Date) -> Command {
    Command::RecordMilestone { milestone, occurred_on }
}

/// The plan's clocks as (id, kind, due date, state).
/// The plan's clocks, in the order they started (their ids are drawn at random, and distinct).
fn clocks(given: &Given) -> Vec<(ClockKind, Date, ClockState)> {
    let ids: std::collections::HashSet<_> = given.plan.clocks.iter().map(|c| &c.clock_id).collect();
    assert_eq!(ids.len(), given.plan.clocks.len(), "clock ids are distinct");
    given.plan.clocks.iter().map(|c| (c.kind, c.due_on, c.state.clone())).collect()
}

fn today() -> Date {
    NOW.date()
}

/// The network meeting called for `meeting_on`, which starts its clock.
fn call_network_meeting(meeting_on: Date) -> Command {
    Command::Discharge(DischargeCommand::RequestNetworkMeeting { meeting_on })
}

#[test]
fn a_referral_starts_the_assessment_clock_and_the_assessment_the_treatment_clock() {
    // The hospital received the referral on Monday 23 Nov 2026: 30 days to
    // assess (§ 82 b), 8 working days to inform the patient (§ 90).
    let given = Given::plan().and(&ward(), milestone(Milestone::ReferredForAssessment, today()));
    assert_eq!(
        clocks(&given),
        [
            (ClockKind::Assessment, day(2026, 12, 23), ClockState::Running),
            (ClockKind::InformationDuty, day(2026, 12, 3), ClockState::Running)
        ]
    );
    assert!(given.plan.clocks[0].source.contains("sundhedsloven § 82 b"));
    assert!(given.plan.clocks[1].source.contains("sundhedsloven § 90"));
    let informed = given.clone_plan().and(&ward(), milestone(Milestone::PatientInformed, today()));
    assert_eq!(clocks(&informed)[1].2, ClockState::Stopped { on: today() });
    // An udredningsplan, when the assessment cannot be done in time, meets the assessment clock.
    let planned = given.clone_plan().and(&ward(), milestone(Milestone::AssessmentPlanGiven, today()));
    assert_eq!(planned.plan.clocks[0].met(), Some(true));
    assert!(planned.plan.clocks[1].is_running(), "the information is still owed");

    let serious = given.and(&ward(), milestone(Milestone::AssessmentCompleted { serious: true }, today()));
    let after = clocks(&serious);
    assert_eq!(after[0].2, ClockState::Stopped { on: today() });
    assert_eq!(after[1].2, ClockState::Stopped { on: today() }, "assessed: nothing more to inform of under § 90");
    assert_eq!(serious.plan.clocks[0].met(), Some(true));
    assert_eq!(after[2], (ClockKind::TreatmentSerious, day(2026, 12, 23), ClockState::Running));

    let started = serious.and(&ward(), milestone(Milestone::PsychiatricTreatmentStarted, today()));
    assert!(started.plan.clocks.iter().all(|c| !c.is_open()), "treatment start satisfies the treatment clock");

    let other = Given::plan()
        .and(&ward(), milestone(Milestone::ReferredForAssessment, today()))
        .and(&ward(), milestone(Milestone::AssessmentCompleted { serious: false }, today()));
    assert_eq!(clocks(&other)[2].0, ClockKind::TreatmentOther);
    assert_eq!(clocks(&other)[2].1, day(2027, 1, 22), "60 days when the illness is not serious");
}

#[test]
fn each_addiction_right_has_its_clock_and_drug_treatment_waits_for_the_laegesamtale() {
    let given = Given::plan().with_team();
    let given = given.and(
        &ward(),
        Command::AddCareTeamMember {
            organisation: OrganisationRef { id: org("misbrug"), sector: Sector::AddictionService },
            professional: None,
            role: ProfessionalRole::AddictionCounsellor,
            start_date: today(),
            end_date: None,
            ground: None,
        },
    );
    let kinds = |g: &Given| clocks(g).into_iter().map(|c| (c.0, c.1)).collect::<Vec<_>>();
    let vague = given.when(&addiction(), &milestone(Milestone::AddictionTreatmentRequested, today()));
    assert_eq!(reason(vague.expect_err("three rights, one name")), "milestone");

    // Alcohol (sundhedsloven § 141, stk. 2): 14 days, no lægesamtale.
    let alcohol = given.clone_plan().and(&addiction(), milestone(Milestone::AlcoholTreatmentRequested, today()));
    assert_eq!(kinds(&alcohol), [(ClockKind::AlcoholTreatment, day(2026, 12, 7))]);
    let vague = alcohol.when(&addiction(), &milestone(Milestone::AddictionTreatmentStarted, today()));
    assert_eq!(reason(vague.expect_err("which treatment?")), "milestone");
    let started = alcohol.and(&addiction(), milestone(Milestone::AlcoholTreatmentStarted, today()));
    assert_eq!(started.plan.clocks[0].met(), Some(true));

    // Social drug treatment (serviceloven § 101) and medical (sundhedsloven § 142): the lægesamtale first.
    for (medical, kind) in [(false, ClockKind::SocialDrugTreatment), (true, ClockKind::MedicalDrugTreatment)] {
        let requested =
            given.clone_plan().and(&addiction(), milestone(Milestone::DrugTreatmentRequested { medical }, today()));
        assert_eq!(kinds(&requested), [(kind, day(2026, 12, 7)), (ClockKind::DoctorConsultation, day(2026, 12, 7))]);
        let start = |on: Date| milestone(Milestone::DrugTreatmentStarted { medical }, on);
        let early = requested.when(&addiction(), &start(today()));
        assert_eq!(reason(early.expect_err("before the lægesamtale")), "DOCTOR_CONSULTATION_FIRST");
        let consulted = requested.and(&addiction(), milestone(Milestone::DoctorConsultationHeld, today()));
        assert_eq!(clocks(&consulted)[1].2, ClockState::Stopped { on: today() });
        assert!(consulted.plan.clocks[0].is_running(), "the treatment clock runs on");
        // A start dated before the consultation was held is refused too.
        let backdated = consulted.when(&addiction(), &start(today() - chrono::Days::new(1)));
        assert_eq!(reason(backdated.expect_err("before it was held")), "DOCTOR_CONSULTATION_FIRST");
        // Social services neither see nor write it.
        let err = consulted.when(&municipality(), &start(today())).expect_err("refused");
        assert_eq!(reason(err), "CATEGORY_NOT_WRITABLE");
        let treated = consulted.and(&addiction(), start(today()));
        assert_eq!(treated.plan.clocks[0].met(), Some(true));
    }
}

#[test]
fn discharge_and_indsatsplan_meetings() {
    // Called on Monday 23 Nov: five working days is Monday 30 Nov.
    // The ward plans the discharge; social services, party to the udskrivningsaftale,
    // call the meeting and record it held.
    let planned = Given::plan()
        .with_team()
        .and(&ward(), Command::TakeSectionOwnership { section: SectionKind::Psychiatry })
        .and(&ward(), udskrivningsaftale())
        .and(&ward(), milestone(Milestone::DischargePlanned { expected: day(2026, 11, 27) }, today()))
        .and(&municipality(), call_network_meeting(day(2026, 11, 26)));
    assert_eq!(clocks(&planned)[0].0, ClockKind::NetworkMeeting);
    assert_eq!(clocks(&planned)[0].1, day(2026, 11, 30));
    let held =
        planned.and_at(at(2026, 11, 26), &municipality(), milestone(Milestone::NetworkMeetingHeld, day(2026, 11, 26)));
    assert_eq!(held.plan.clocks[0].met(), Some(true));

    // A meeting held satisfies the due one and sets the next, six months on.
    let first = Given::plan().and(&ward(), milestone(Milestone::IndsatsplanMeetingHeld, today()));
    let second = first.and(&ward(), milestone(Milestone::IndsatsplanMeetingHeld, today()));
    assert_eq!(
        clocks(&second),
        [
            (ClockKind::IndsatsplanMeeting, day(2027, 5, 23), ClockState::Stopped { on: today() }),
            (ClockKind::IndsatsplanMeeting, day(2027, 5, 23), ClockState::Running),
        ]
    );
}

#[test]
fn the_rule_in_force_when_the_clock_starts_decides_its_deadline() {
    // Recorded today, for referrals made before and after 1 Sep 2015.
    let before = Given::plan().and(&ward(), milestone(Milestone::ReferredForAssessment, day(2015, 8, 31)));
    assert_eq!(clocks(&before)[0].1, day(2015, 10, 30), "60 days before 1 Sep 2015");
    let after = Given::plan().and(&ward(), milestone(Milestone::ReferredForAssessment, day(2015, 9, 1)));
    assert_eq!(clocks(&after)[0].1, day(2015, 10, 1), "30 days from 1 Sep 2015");

    // Integrated dual-diagnosis treatment became a right on 1 Sep 2024.
    let early = Given::plan().and(&ward(), milestone(Milestone::ReferredForDualDiagnosisTreatment, day(2024, 8, 31)));
    assert!(early.plan.clocks.is_empty());
    let late = Given::plan().and(&ward(), milestone(Milestone::ReferredForDualDiagnosisTreatment, day(2024, 9, 1)));
    assert_eq!(clocks(&late)[0].1, day(2024, 9, 15));

    // An operator's table change applies to clocks started after it, not to running ones.
    let mut changed = Given::plan().and(&ward(), milestone(Milestone::ReferredForAssessment, today()));
    changed.deadlines =
        DeadlineRules::new(vec![DeadlineRule::usual(ClockKind::Assessment, Period::Days(10), "a changed table")])
            .expect("table");
    assert_eq!(clocks(&changed)[0].1, day(2026, 12, 23), "the running clock keeps its due date");
    let next = changed
        .and(&ward(), milestone(Milestone::AssessmentCompleted { serious: false }, today()))
        .and(&ward(), milestone(Milestone::ReferredForAssessment, today()));
    let kinds: Vec<_> = clocks(&next).into_iter().map(|c| (c.0, c.1)).collect();
    // No treatment row in the new table: no treatment clock; the new referral gets 10 days.
    assert_eq!(
        kinds,
        [
            (ClockKind::Assessment, day(2026, 12, 23)),
            (ClockKind::InformationDuty, day(2026, 12, 3)),
            (ClockKind::Assessment, day(2026, 12, 3))
        ]
    );
}

#[test]
fn pausing_moves_the_due_date_by_the_days_paused() {
    let given = Given::plan().and(&ward(), milestone(Milestone::ReferredForAssessment, today()));
    assert_eq!(given.plan.clocks[0].due_on, day(2026, 12, 23));
    let clock_id = given.clock_id(1);
    let pause = |reason: &str| Command::PauseClock { clock_id: clock_id.clone(), reason: text(reason) };
    let paused = given.and_at(at(2026, 12, 1), &ward(), pause("borgeren ønsker at vente"));
    assert!(!paused.plan.clocks[0].is_overdue(day(2027, 2, 1)), "a paused clock is never overdue");
    let again = paused.when_at(at(2026, 12, 2), &ward(), &pause("igen"));
    assert_eq!(reason(again.expect_err("refused")), "CLOCK_NOT_RUNNING");
    let resumed = paused.and_at(at(2026, 12, 6), &ward(), Command::ResumeClock { clock_id: clock_id.clone() });
    assert_eq!(resumed.plan.clocks[0].due_on, day(2026, 12, 28), "five days paused, five days later");
    assert!(resumed.plan.clocks[0].is_running());
    let twice = resumed.when_at(at(2026, 12, 7), &ward(), &Command::ResumeClock { clock_id: clock_id.clone() });
    assert_eq!(reason(twice.expect_err("refused")), "CLOCK_NOT_PAUSED");
}

#[test]
fn a_paused_working_day_clock_moves_on_by_the_working_days_paused() {
    // A network meeting clock started on Monday 21 Dec 2026: five working days
    // (Christmas Day is a Friday, Boxing Day a Saturday) end on Tuesday 29 Dec.
    let planned = |deadlines: DeadlineRules| {
        let mut given = Given::plan()
            .with_team()
            .and(&ward(), Command::TakeSectionOwnership { section: SectionKind::Psychiatry })
            .and(&ward(), udskrivningsaftale());
        given.deadlines = deadlines;
        given
            .and_at(
                at(2026, 12, 21),
                &ward(),
                milestone(Milestone::DischargePlanned { expected: day(2027, 1, 8) }, day(2026, 12, 21)),
            )
            .and_at(at(2026, 12, 21), &ward(), call_network_meeting(day(2026, 12, 22)))
    };
    let given = planned(DeadlineRules::default());
    assert_eq!(given.plan.clocks[0].due_on, day(2026, 12, 29), "Mon-Thu, then Mon and Tue: the 25th is a holiday");
    let clock_id = given.clock_id(1);
    let paused = given.and_at(
        at(2026, 12, 22),
        &ward(),
        Command::PauseClock { clock_id: clock_id.clone(), reason: text("borgeren indlagt igen") },
    );
    // Paused Tuesday 22 Dec to Monday 4 Jan: 22, 23, 24, 28, 29, 30, 31 Dec are working days (7).
    let resumed = paused.and_at(at(2027, 1, 4), &ward(), Command::ResumeClock { clock_id: clock_id.clone() });
    assert_eq!(resumed.plan.clocks[0].due_on, day(2027, 1, 8), "seven working days on from 29 Dec (1 Jan a holiday)");

    // A deployment closed on Christmas Eve and New Year's Eve counts neither.
    let closing = DeadlineRules::default()
        .with_calendar(calendar::Calendar::with_closed_days([day(2026, 12, 24), day(2026, 12, 31)]));
    let given = planned(closing);
    assert_eq!(given.plan.clocks[0].due_on, day(2026, 12, 30), "the 24th does not count");
    let clock_id = given.clock_id(1);
    let resumed = given
        .and_at(at(2026, 12, 22), &ward(), Command::PauseClock { clock_id: clock_id.clone(), reason: text("indlagt") })
        .and_at(at(2027, 1, 4), &ward(), Command::ResumeClock { clock_id });
    assert_eq!(resumed.plan.clocks[0].due_on, day(2027, 1, 8), "five working days paused, five on");
}

#[test]
fn a_clock_ends_with_a_reason_by_whoever_holds_it_and_is_never_overdue_after() {
    let given = Given::plan()
        .with_team()
        .and(&ward(), milestone(Milestone::ReferredForAssessment, today()))
        .and(&ward(), milestone(Milestone::AssessmentCompleted { serious: false }, today()));
    let treatment = given.clock_id(3);
    let stop = |reason| Command::StopClock { clock_id: treatment.clone(), reason };
    let hidden = given.when(&jobcentre(), &stop(StopReason::Moved));
    assert_eq!(reason(hidden.expect_err("the job centre cannot see it")), "clock_id");
    // Another psychiatric service on the team holds such information, but does not owe this right.
    let other_ward = actor("psykiatri-nord", Sector::RegionalPsychiatry);
    let with_other = given.clone_plan().and(
        &ward(),
        Command::AddCareTeamMember {
            organisation: OrganisationRef { id: other_ward.organisation.clone(), sector: other_ward.sector },
            professional: None,
            role: ProfessionalRole::Physician,
            start_date: today(),
            end_date: None,
            ground: None,
        },
    );
    let not_owed = with_other.when(&other_ward, &stop(StopReason::Moved));
    assert_eq!(reason(not_owed.expect_err("not the service that owes it")), "CLOCK_NOT_YOURS");
    let events = given.when(&ward(), &stop(StopReason::Declined)).expect("the ward holds it");
    assert_eq!(
        events,
        [EventPayload::ClockEnded { clock_id: treatment.clone(), reason: StopReason::Declined, on: today() }]
    );
    let ended = given.clone_plan().and(&ward(), stop(StopReason::Declined));
    let clock = &ended.plan.clocks[2];
    assert_eq!(clock.state, ClockState::Ended { on: today(), reason: StopReason::Declined });
    assert!(!clock.is_open() && !clock.is_overdue(day(2030, 1, 1)) && clock.met().is_none());
    assert_eq!(reason(ended.when(&ward(), &stop(StopReason::Died)).expect_err("twice")), "CLOCK_NOT_OPEN");
    let stopped = given.when(&ward(), &Command::StopClock { clock_id: given.clock_id(1), reason: StopReason::Moved });
    assert_eq!(reason(stopped.expect_err("met already")), "CLOCK_NOT_OPEN");

    // Left running past its due date, the treatment clock says what the citizen is owed.
    let running = &given.plan.clocks[2];
    assert!(running.is_overdue(day(2027, 1, 23)));
    assert!(running.overdue_duty().is_some_and(|d| d.contains("§ 87")));
}

#[test]
fn a_clock_is_overdue_the_day_after_its_due_date_and_marked_once() {
    let mut given = Given::plan().and(&ward(), milestone(Milestone::ReferredForAssessment, today()));
    let clock = given.plan.clocks[0].clone();
    let id = clock.clock_id.as_str();
    assert!(!clock.is_overdue(day(2026, 12, 23)), "due on its due date");
    assert!(clock.is_overdue(day(2026, 12, 24)));
    assert_eq!(reason(mark_overdue(&given.plan, id, day(2026, 12, 23)).expect_err("not yet")), "CLOCK_NOT_OVERDUE");
    let overdue = mark_overdue(&given.plan, id, day(2026, 12, 24)).expect("overdue");
    assert_eq!(overdue, EventPayload::ClockOverdue { clock_id: id.into(), due_on: day(2026, 12, 23) });
    given.apply(overdue, &clock.watcher().expect("watcher"));
    assert!(given.plan.clocks[0].overdue_recorded);
    assert_eq!(reason(mark_overdue(&given.plan, id, day(2026, 12, 25)).expect_err("once")), "CLOCK_NOT_OVERDUE");

    // Satisfied late: stopped, and not met.
    let late = given.and_at(
        at(2026, 12, 28),
        &ward(),
        milestone(Milestone::AssessmentCompleted { serious: false }, day(2026, 12, 28)),
    );
    assert_eq!(late.plan.clocks[0].met(), Some(false));
    assert!(!late.plan.clocks[0].is_overdue(day(2027, 1, 1)));
}

#[test]
fn milestones_are_checked() {
    let given = Given::plan().and(&ward(), milestone(Milestone::ReferredForAssessment, today()));
    let future = given.when(&ward(), &milestone(Milestone::ReferredForAssessment, day(2026, 11, 24)));
    assert_eq!(reason(future.expect_err("future")), "occurred_on");
    let twice = given.when(&ward(), &milestone(Milestone::ReferredForAssessment, today()));
    assert_eq!(reason(twice.expect_err("open already")), "CLOCK_ALREADY_OPEN");
    let early = given.when(&ward(), &milestone(Milestone::DischargePlanned { expected: day(2026, 11, 1) }, today()));
    assert_eq!(reason(early.expect_err("before")), "expected_discharge_date");
    let missing = given.when(&ward(), &Command::ResumeClock { clock_id: "clock-9".into() });
    assert_eq!(reason(missing.expect_err("no such clock")), "clock_id");
}

#[test]
fn clocks_are_seen_by_their_category() {
    let given = Given::plan()
        .with_team()
        .and(&ward(), milestone(Milestone::ReferredForAssessment, today()))
        .and(&ward(), milestone(Milestone::DischargePlanned { expected: day(2026, 11, 27) }, today()))
        .and(&ward(), call_network_meeting(day(2026, 11, 26)));
    // The job centre, without consent, hears neither of the discharge nor of the assessment.
    let err = given.when(&jobcentre(), &milestone(Milestone::ReferredForAssessment, today()));
    assert_eq!(reason(err.expect_err("refused")), "CATEGORY_NOT_WRITABLE");
    let view = policy::view(&given.plan, &jobcentre(), NOW).expect("member");
    let shown = crate::domain::disclosure::redacted(&given.plan, &view.categories());
    assert!(shown.clocks.is_empty() && shown.discharge.is_none());
    // Social services under an udskrivningsaftale see the discharge's network meeting, not the assessment.
    let given = given
        .and(&ward(), Command::TakeSectionOwnership { section: SectionKind::Psychiatry })
        .and(&ward(), udskrivningsaftale());
    let view = policy::view(&given.plan, &municipality(), NOW).expect("member");
    let shown = crate::domain::disclosure::redacted(&given.plan, &view.categories());
    let kinds: Vec<_> = shown.clocks.iter().map(|c| c.kind).collect();
    assert_eq!(kinds, [ClockKind::NetworkMeeting]);
}

/// Clocks started under the rules of earlier releases — the one addiction
/// clock with its lægesamtale, the network meeting started by the planning —
/// stay readable from their stored events and keep their due dates; the
/// milestones that satisfy them still do.
#[test]
fn clocks_started_under_earlier_rules_keep_their_due_dates() {
    let given = dual_diagnosis();
    let started = |kind, due_on: Date| StartedClock {
        clock_id: format!("clock-old-{kind:?}"),
        kind,
        due_on,
        source: "as an earlier release wrote it".into(),
    };
    let old = [
        EventPayload::MilestoneRecorded {
            milestone: Milestone::AddictionTreatmentRequested,
            occurred_on: day(2026, 11, 2),
            started: vec![
                started(ClockKind::AddictionTreatment, day(2026, 11, 16)),
                started(ClockKind::DoctorConsultation, day(2026, 11, 16)),
            ],
            stopped: vec![],
        },
        EventPayload::MilestoneRecorded {
            milestone: Milestone::DischargePlanned { expected: day(2026, 11, 27) },
            occurred_on: today(),
            started: vec![started(ClockKind::NetworkMeeting, day(2026, 11, 30))],
            stopped: vec![],
        },
    ];
    let mut given = given;
    for (payload, by) in old.into_iter().zip([addiction(), ward()]) {
        // Stored and read back as a release of today reads it.
        let bytes = postcard::to_stdvec(&payload).expect("encode");
        let payload: EventPayload = postcard::from_bytes(&bytes).expect("an earlier event decodes");
        given.apply(payload, &by);
    }
    let kinds: Vec<_> = clocks(&given).into_iter().map(|c| (c.0, c.1)).collect();
    assert_eq!(
        kinds,
        [
            (ClockKind::AddictionTreatment, day(2026, 11, 16)),
            (ClockKind::DoctorConsultation, day(2026, 11, 16)),
            (ClockKind::NetworkMeeting, day(2026, 11, 30)),
        ]
    );
    // The discharge's meeting steps follow the clock its planning started.
    let discharge = given.plan.discharge.clone().expect("planned");
    let steps = discharge.steps(&given.plan, day(2026, 12, 1));
    assert_eq!(steps[1], (discharge::Step::NetworkMeetingHeld, discharge::StepState::Overdue));
    // The old addiction clock is no drug clock: its start is not held back, and it stops it.
    let started = given.and(&addiction(), milestone(Milestone::AddictionTreatmentStarted, today()));
    assert_eq!(started.plan.clocks[0].state, ClockState::Stopped { on: today() });
    assert!(started.plan.clocks[1].is_open(), "the lægesamtale is its own clock");
}

/// Danish dates, summer time included: a milestone recorded at half past
/// midnight in Copenhagen on the day it happened is not "in the future".
#[test]
fn a_milestone_dated_today_is_today_in_copenhagen_at_any_hour() {
    let at_utc =
        |rfc3339: &str| Timestamp(chrono::DateTime::parse_from_rfc3339(rfc3339).expect("time").timestamp_micros());
    // (UTC instant, the Danish date then)
    let cases = [
        ("2027-07-01T22:30:00Z", day(2027, 7, 2)),   // 00:30 CEST
        ("2027-01-15T23:30:00Z", day(2027, 1, 16)),  // 00:30 CET
        ("2027-03-27T23:30:00Z", day(2027, 3, 28)),  // the night summer time starts
        ("2027-10-30T22:30:00Z", day(2027, 10, 31)), // the night it ends
    ];
    for (instant, danish) in cases {
        let now = at_utc(instant);
        let given = Given::plan();
        let referral = milestone(Milestone::ReferredForAssessment, danish);
        let events = given.when_at(now, &ward(), &referral).expect("today, not the future");
        let EventPayload::MilestoneRecorded { started, .. } = &events[0] else { panic!("{events:?}") };
        assert_eq!(started[0].due_on, danish + chrono::Days::new(30), "{instant}");
        let tomorrow = milestone(Milestone::ReferredForAssessment, danish + chrono::Days::new(1));
        assert_eq!(reason(given.when_at(now, &ward(), &tomorrow).expect_err("future")), "occurred_on");
    }
}

/// The basis is the table's: a region whose network-meeting agreement became
/// an act says so in its row, and the clocks that row starts carry it.
#[test]
fn a_rows_basis_is_fixed_on_the_clocks_it_starts() {
    let planned = |deadlines: DeadlineRules| {
        let mut given = Given::plan()
            .with_team()
            .and(&ward(), Command::TakeSectionOwnership { section: SectionKind::Psychiatry })
            .and(&ward(), udskrivningsaftale())
            .and(&ward(), milestone(Milestone::DischargePlanned { expected: day(2026, 11, 27) }, today()));
        given.deadlines = deadlines;
        given
    };
    let usual = planned(DeadlineRules::default());
    let events = usual.when(&ward(), &call_network_meeting(day(2026, 11, 26))).expect("called");
    assert_eq!(events.iter().map(EventPayload::name).collect::<Vec<_>>(), ["NetworkMeetingCalled"]);
    let called = usual.and(&ward(), call_network_meeting(day(2026, 11, 26)));
    assert_eq!(called.plan.clocks[0].basis, RuleBasis::RegionalAgreement);

    let enacted = DeadlineRules::new(vec![DeadlineRule {
        basis: RuleBasis::Statute,
        ..DeadlineRule::usual(ClockKind::NetworkMeeting, Period::WorkingDays(5), "an act of this region's")
    }])
    .expect("table");
    let given = planned(enacted);
    let events = given.when(&ward(), &call_network_meeting(day(2026, 11, 26))).expect("called");
    assert_eq!(events.iter().map(EventPayload::name).collect::<Vec<_>>(), ["NetworkMeetingCalled", "ClockBasisSet"]);
    let called = given.and(&ward(), call_network_meeting(day(2026, 11, 26)));
    assert_eq!(called.plan.clocks[0].basis, RuleBasis::Statute);
    let filter = ClockFilter { bases: vec![RuleBasis::Statute], ..ClockFilter::default() };
    let audience = policy::view(&called.plan, &ward(), NOW).expect("member").audience();
    assert!(filter.admits(&called.plan.clocks[0], &audience));
}

/// What starts and what meets a clock are the table's. A changed reading of
/// what meets a right applies to the clocks running under it; their due
/// dates, told to the citizen when they started, stand.
#[test]
fn what_starts_and_meets_a_clock_is_the_rows() {
    // A region whose practice is that only the § 90 letter answers § 90.
    let own_letter = DeadlineRules::new(vec![
        DeadlineRule::usual(ClockKind::Assessment, Period::Days(30), "§ 82 b"),
        DeadlineRule {
            met_by: vec![Trigger::PatientInformed],
            ..DeadlineRule::usual(ClockKind::InformationDuty, Period::WorkingDays(8), "§ 90")
        },
    ])
    .expect("table");
    let mut given = Given::plan();
    given.deadlines = own_letter;
    let referred = given.and(&ward(), milestone(Milestone::ReferredForAssessment, today()));
    let assessed = referred.and(&ward(), milestone(Milestone::AssessmentCompleted { serious: false }, today()));
    let states: Vec<_> = clocks(&assessed).into_iter().map(|c| (c.0, c.2)).collect();
    assert_eq!(
        states,
        [
            (ClockKind::Assessment, ClockState::Stopped { on: today() }),
            (ClockKind::InformationDuty, ClockState::Running),
        ],
        "no treatment row: no treatment clock; the information is still owed"
    );

    // The region reads § 90 anew: an udredningsplan tells the patient what § 90 asks.
    let mut changed = assessed;
    changed.deadlines = DeadlineRules::new(vec![DeadlineRule {
        met_by: vec![Trigger::AssessmentPlanGiven],
        ..DeadlineRule::usual(ClockKind::InformationDuty, Period::WorkingDays(20), "§ 90")
    }])
    .expect("table");
    let informed = changed.and(&ward(), milestone(Milestone::AssessmentPlanGiven, today()));
    assert_eq!(clocks(&informed)[1].1, day(2026, 12, 3));
    assert_eq!(clocks(&informed)[1].2, ClockState::Stopped { on: today() });
}

/// No table lets an event start or meet a clock that reveals more than the
/// event does: whoever may record a discharge milestone would otherwise touch
/// psychiatric or addiction clocks.
#[test]
fn a_row_wider_than_its_events_is_refused() {
    for (kind, trigger) in [
        (ClockKind::Assessment, Trigger::DischargePlanned),
        (ClockKind::DualDiagnosisTreatment, Trigger::DrugTreatmentRequestedSocial),
        (ClockKind::AlcoholTreatment, Trigger::ReferredForAssessment),
    ] {
        let row = DeadlineRule { starts_on: vec![trigger], ..DeadlineRule::usual(kind, Period::Days(14), "x") };
        let error = DeadlineRules::new(vec![row]).expect_err("wider");
        assert!(error.contains("reveals less than the clock"), "{error}");
    }
    let narrower = DeadlineRule {
        starts_on: vec![Trigger::IndsatsplanMeetingHeld],
        ..DeadlineRule::usual(ClockKind::AlcoholTreatment, Period::Days(14), "x")
    };
    assert!(DeadlineRules::new(vec![narrower]).is_ok(), "a dual-diagnosis event reveals addiction too");
}
