//! A property test of the rights clocks through the store: for random
//! sequences of milestones, calls, pauses, resumes and ends by the services
//! that hold them, the persisted projection equals a replay of the log, and
//! no clock is ever both stopped (or ended) and overdue.

use proptest::prelude::*;

use super::tests::{create, open, submission};
use super::*;
use crate::domain::testkit::*;
use crate::domain::*;

/// One step: who (0 the ward, 1 the addiction service, 2 social services, or
/// from 3 on the service the step is for) does what.
#[derive(Clone, Debug)]
enum Step {
    Milestone(Milestone, u64),
    CallNetworkMeeting,
    /// Pause, resume or end the n-th clock of the plan (if there is one).
    Pause(usize),
    Resume(usize),
    Stop(usize, StopReason),
}

fn step_strategy() -> impl Strategy<Value = (usize, Step)> {
    let day = |y, m, d| Date::from_ymd_opt(y, m, d).expect("date");
    let milestone = prop_oneof![
        Just(Milestone::ReferredForAssessment),
        Just(Milestone::AssessmentCompleted { serious: true }),
        Just(Milestone::AssessmentCompleted { serious: false }),
        Just(Milestone::AssessmentPlanGiven),
        Just(Milestone::PatientInformed),
        Just(Milestone::PsychiatricTreatmentStarted),
        Just(Milestone::AlcoholTreatmentRequested),
        Just(Milestone::DrugTreatmentRequested { medical: true }),
        Just(Milestone::DrugTreatmentRequested { medical: false }),
        Just(Milestone::DoctorConsultationHeld),
        Just(Milestone::AlcoholTreatmentStarted),
        Just(Milestone::DrugTreatmentStarted { medical: true }),
        Just(Milestone::DrugTreatmentStarted { medical: false }),
        Just(Milestone::IndsatsplanMeetingHeld),
        Just(Milestone::DischargePlanned { expected: day(2026, 11, 30) }),
        Just(Milestone::NetworkMeetingHeld),
    ];
    let reason = prop_oneof![
        Just(StopReason::Declined),
        Just(StopReason::ReferralWithdrawn),
        Just(StopReason::ReferralRejected),
        Just(StopReason::Moved),
        Just(StopReason::Died),
        Just(StopReason::NotNeeded),
    ];
    let step = prop_oneof![
        4 => (milestone, 0..40u64).prop_map(|(m, days_ago)| Step::Milestone(m, days_ago)),
        1 => Just(Step::CallNetworkMeeting),
        2 => (0..6usize).prop_map(Step::Pause),
        2 => (0..6usize).prop_map(Step::Resume),
        2 => ((0..6usize), reason).prop_map(|(n, r)| Step::Stop(n, r)),
    ];
    (0..8usize, step)
}

/// Who gives `step` on `plan`: `who` if it names one, else the service that
/// holds what the step is about (so that most steps are taken, not refused).
fn actor_for(who: usize, step: &Step, plan: &Plan) -> usize {
    const WARD: usize = 0;
    const ADDICTION: usize = 1;
    const SOCIAL: usize = 2;
    if who < 3 {
        return who;
    }
    let by_kind = |kind: ClockKind| match kind {
        ClockKind::AddictionTreatment
        | ClockKind::AlcoholTreatment
        | ClockKind::SocialDrugTreatment
        | ClockKind::MedicalDrugTreatment
        | ClockKind::DoctorConsultation => ADDICTION,
        ClockKind::NetworkMeeting if who.is_multiple_of(2) => SOCIAL,
        _ => WARD,
    };
    match step {
        Step::Milestone(
            Milestone::AlcoholTreatmentRequested
            | Milestone::DrugTreatmentRequested { .. }
            | Milestone::DoctorConsultationHeld
            | Milestone::AlcoholTreatmentStarted
            | Milestone::DrugTreatmentStarted { .. },
            _,
        ) => ADDICTION,
        Step::Milestone(Milestone::NetworkMeetingHeld, _) | Step::CallNetworkMeeting if who.is_multiple_of(2) => SOCIAL,
        Step::Milestone(..) | Step::CallNetworkMeeting => WARD,
        Step::Pause(n) | Step::Resume(n) | Step::Stop(n, _) => plan.clocks.get(*n).map_or(WARD, |c| by_kind(c.kind)),
    }
}

/// The command a step gives on `plan` as it stands (clocks named by position).
fn command(step: &Step, plan: &Plan, today: Date) -> Option<Command> {
    let clock = |n: usize| plan.clocks.get(n).map(|c| c.clock_id.clone());
    Some(match step {
        Step::Milestone(milestone, days_ago) => {
            Command::RecordMilestone { milestone: *milestone, occurred_on: today - chrono::Days::new(*days_ago) }
        }
        Step::CallNetworkMeeting => Command::Discharge(DischargeCommand::RequestNetworkMeeting { meeting_on: today }),
        Step::Pause(n) => Command::PauseClock { clock_id: clock(*n)?, reason: text("borgerens ønske") },
        Step::Resume(n) => Command::ResumeClock { clock_id: clock(*n)? },
        Step::Stop(n, reason) => Command::StopClock { clock_id: clock(*n)?, reason: *reason },
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 40, ..ProptestConfig::default() })]

    #[test]
    fn clocks_replay_exactly_and_are_never_both_stopped_and_overdue(
        steps in proptest::collection::vec(step_strategy(), 1..40),
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
        runtime.block_on(async {
            let dir = tempfile::tempdir().expect("tempdir");
            let store = open(dir.path());
            let actors = [ward(), addiction(), municipality()];
            let plan = create(&store, &actors[0], 1).await.plan_id;
            for (other, role) in [(&actors[1], ProfessionalRole::AddictionCounsellor), (&actors[2], ProfessionalRole::SocialWorker)] {
                let join = Command::AddCareTeamMember {
                    organisation: OrganisationRef { id: other.organisation.clone(), sector: other.sector },
                    professional: None,
                    role,
                    start_date: Date::from_ymd_opt(2026, 1, 1).expect("date"),
                    end_date: None,
                    ground: (other.sector == Sector::MunicipalSocial).then(|| text("udskrivningsaftale")),
                };
                submit(&store, &actors[0], plan, join).await.expect("join");
            }
            for (who, step) in &steps {
                let current = store.plan(plan).await.expect("read").expect("plan");
                let Some(command) = command(step, &current, store.now().date()) else { continue };
                let by = &actors[actor_for(*who, step, &current)];
                // Refusals are part of the story: they must leave no trace.
                let _ = submit(&store, by, plan, command).await;
                let current = store.plan(plan).await.expect("read").expect("plan");
                for clock in &current.clocks {
                    let closed = matches!(clock.state, ClockState::Stopped { .. } | ClockState::Ended { .. });
                    for days in [0, 30, 400] {
                        let day = store.now().date() + chrono::Days::new(days);
                        prop_assert!(!(closed && clock.is_overdue(day)), "{clock:?}");
                    }
                    prop_assert_eq!(clock.met().is_some(), matches!(clock.state, ClockState::Stopped { .. }));
                    prop_assert!(matches!(clock.state, ClockState::Running) || !clock.is_overdue(store.now().date()));
                }
            }
            let persisted = store.plan(plan).await.expect("read").expect("plan");
            let replayed = store.replay_plan(plan).await.expect("replay").expect("plan");
            prop_assert_eq!(encode(&persisted).expect("encode"), encode(&replayed).expect("encode"));
            prop_assert!(store.verify().await.expect("verify").problems.is_empty());
            Ok(())
        })?;
    }
}

/// `command` by `by` on `plan` as `by` sees it now.
async fn submit(store: &Store, by: &Actor, plan: PlanId, command: Command) -> Result<Outcome, Error> {
    let current = store.plan(plan).await?.ok_or(Error::Domain(DomainError::PlanNotFound))?;
    let categories = policy::view(&current, by, store.now()).map(|v| v.categories()).unwrap_or_default();
    let expected_version = current.trail.shown_version(&categories);
    store.submit(submission(by, None), Intent::Change { plan, expected_version, command }).await
}
