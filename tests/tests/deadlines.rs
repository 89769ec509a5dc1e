//! Rights and deadlines through the real hub: milestones start clocks with
//! due dates from the rule table, ListClocks shows each organisation the open
//! and overdue clocks it may see, the deadline watcher records overdue clocks
//! as events that subscribers receive (filtered like any other), and bad
//! milestones are refused with field details and write nothing.

use anyhow::Context;
use samplan_proto::v1 as pb;
use samplan_proto::v1::change_plan_request::Command;
use samplan_proto::v1::plan_event::Event;
use samplan_services::domain::Decision;
use samplan_tests::*;
use tonic::Code;

type TestResult = anyhow::Result<()>;

const SETTINGS: &str = "[subscriptions]\nheartbeat_ms = 50\n\n[deadlines]\ncheck_interval_ms = 20\n";

fn record(milestone: pb::MilestoneKind, occurred_on: &str) -> Command {
    Command::RecordMilestone(pb::RecordMilestone {
        milestone: milestone as i32,
        occurred_on: occurred_on.into(),
        ..Default::default()
    })
}

async fn list_clocks(
    client: &mut samplan_hub::client::PlanClient,
    overdue_only: bool,
    id: &str,
) -> anyhow::Result<Vec<pb::RightsClock>> {
    let request = tagged(pb::ListClocksRequest { overdue_only, ..Default::default() }, id);
    Ok(client.list_clocks(request).await?.into_inner().clocks.into_iter().filter_map(|c| c.clock).collect())
}

on_both_engines! {
    async fn clocks_listed_by_who_may_see_them_and_overdue_ones_delivered_as_events() -> TestResult {
        let t = TestHub::start_configured(SETTINGS).await?;
        let mut ward = t.client(WARD).await?;
        let mut job = t.client(JOB).await?;
        let (name, _) = create_plan(&mut ward, CPR).await?;
        let version = invite(&mut ward, &name, JOB, "borgerens samtykke, sygedagpenge").await?;
        // The citizen's consent that the job centre may know of a discharge (to offer a mentor).
        let discharge = consent(JOB, &[pb::DataCategory::DischargeCoordination], "udskrivningskoordinator", "");
        let version = apply(&mut ward, &name, version, discharge).await?;
        let head = t.hub.store.durable_position();
        let mut ward_feed = subscribe(&mut ward, head, "ward-feed").await?;
        let mut job_feed = subscribe(&mut job, head, "job-feed").await?;

        // A planned discharge, then a referral 40 days ago: the 30-day assessment
        // clock is overdue at once, and the watcher may append to the plan from
        // then on, so the referral is the last write here.
        let discharge = Command::RecordMilestone(pb::RecordMilestone {
            milestone: pb::MilestoneKind::DischargePlanned as i32,
            occurred_on: hub_date(0),
            expected_discharge_date: hub_date(3),
            ..Default::default()
        });
        let version = apply(&mut ward, &name, version, discharge).await?;
        // The ward calls the network meeting, which starts its clock (a regional agreement).
        let call = Command::RequestNetworkMeeting(pb::RequestNetworkMeeting { meeting_date: hub_date(0) });
        let version = apply(&mut ward, &name, version, call).await?;
        let version =
            apply(&mut ward, &name, version, record(pb::MilestoneKind::ReferredForAssessment, &hub_date(-40))).await?;

        // The referral also started the § 90 information duty (8 working days), overdue as well.
        let clocks = list_clocks(&mut ward, false, "ward-clocks").await?;
        let kinds: Vec<_> = clocks.iter().map(|c| (c.kind, c.overdue, c.due_date.clone(), c.basis)).collect();
        assert_eq!(
            kinds,
            [
                (
                    pb::ClockKind::NetworkMeeting as i32,
                    false,
                    clocks[0].due_date.clone(),
                    pb::RuleBasis::RegionalAgreement as i32
                ),
                (pb::ClockKind::Assessment as i32, true, hub_date(-10), pb::RuleBasis::Statute as i32),
                (pb::ClockKind::InformationDuty as i32, true, clocks[2].due_date.clone(), pb::RuleBasis::Statute as i32),
            ]
        );
        assert!(clocks[1].legal_source.contains("sundhedsloven § 82 b"), "{}", clocks[1].legal_source);
        assert_eq!(list_clocks(&mut ward, true, "ward-overdue").await?.len(), 2);
        // The job centre, under that consent, sees the discharge's network meeting
        // only, and not that a psychiatric ward is responsible for it.
        let job_clocks = list_clocks(&mut job, false, "job-clocks").await?;
        assert_eq!(job_clocks.iter().map(|c| c.kind).collect::<Vec<_>>(), [pb::ClockKind::NetworkMeeting as i32]);
        assert_eq!(job_clocks[0].responsible_organisation_id, "");

        // Filters: by kind, by basis, by responsible organisation — never by one withheld from the caller.
        let filtered = |request: pb::ListClocksRequest| async {
            let clocks = ward.clone().list_clocks(request).await?.into_inner().clocks;
            anyhow::Ok(clocks.into_iter().filter_map(|c| c.clock).map(|c| c.kind).collect::<Vec<_>>())
        };
        let assessment = pb::ListClocksRequest { kinds: vec![pb::ClockKind::Assessment as i32], ..Default::default() };
        assert_eq!(filtered(assessment).await?, [pb::ClockKind::Assessment as i32]);
        let agreed = pb::ListClocksRequest { bases: vec![pb::RuleBasis::RegionalAgreement as i32], ..Default::default() };
        assert_eq!(filtered(agreed).await?, [pb::ClockKind::NetworkMeeting as i32]);
        let by_ward = pb::ListClocksRequest { responsible_organisation_id: WARD.into(), ..Default::default() };
        assert_eq!(filtered(by_ward.clone()).await?.len(), 3);
        let hidden = job.list_clocks(by_ward).await?.into_inner().clocks;
        assert!(hidden.is_empty(), "the job centre may not learn that the ward is responsible");
        let bad = pb::ListClocksRequest { kinds: vec![99], ..Default::default() };
        let refused = ward.list_clocks(bad).await.expect_err("unknown kind");
        assert_eq!(refused.code(), Code::InvalidArgument);
        assert!(field_violations(&refused).contains_key("kinds"), "{refused:?}");
        let audit = audit_by_correlation(&t.hub).await?;
        let listed = audit.get("job-clocks").context("ListClocks is audited")?;
        assert_eq!((listed.action.as_str(), &listed.decision), ("ListClocks", &Decision::Allowed));
        assert_eq!(listed.plan.map(|p| p.resource_name()), Some(name.clone()));

        // The watcher records the overdue clocks as events; the ward hears of them.
        let overdue_at = loop {
            let event = ward_feed.message().await?.and_then(|m| m.message);
            if let Some(pb::subscribe_plan_events_response::Message::Event(e)) = event
                && let Some(Event::ClockOverdue(overdue)) = &e.event
                && overdue.clock_id == clocks[1].clock_id
            {
                assert_eq!(
                    (overdue.clock_id.as_str(), overdue.due_date.as_str()),
                    (clocks[1].clock_id.as_str(), hub_date(-10).as_str())
                );
                assert_eq!(e.actor.as_ref().map(|a| a.professional_id.as_str()), Some("samplan-deadline-watcher"));
                break e.global_position;
            }
        };
        // The job centre hears of the discharge, never of the psychiatric clock.
        let heard = events_until(&mut job_feed, overdue_at).await?;
        let names: Vec<_> = heard
            .iter()
            .map(|e| match &e.event {
                Some(Event::MilestoneRecorded(m)) => format!("milestone {}", m.milestone),
                Some(Event::NetworkMeetingRequested(m)) => {
                    // The ward called it: the job centre is not told who is responsible for its clock.
                    assert!(
                        !m.started.is_empty() && m.started.iter().all(|c| c.responsible_organisation_id.is_empty()),
                        "{m:?}"
                    );
                    "network meeting called".to_owned()
                }
                other => format!("{other:?}"),
            })
            .collect();
        assert_eq!(
            names,
            [format!("milestone {}", pb::MilestoneKind::DischargePlanned as i32), "network meeting called".to_owned()]
        );

        // The plan shows the clocks too, and the watcher marked the clock only once.
        let plan = ward.get_plan(pb::GetPlanRequest { name: name.clone() }).await?.into_inner().plan.context("plan")?;
        assert_eq!(events_in(plan.version), events_in(version) + 2, "each overdue clock, once");
        assert!(plan.clocks[1].overdue && plan.clocks[1].state == pb::ClockState::Running as i32);
        assert!(
            plan.clocks[1].overdue_duty.contains("§ 82 b"),
            "what the citizen is owed: {}",
            plan.clocks[1].overdue_duty
        );

        // The referral was rejected: the ward ends the clock with that reason; it
        // is no longer open or overdue, and the ward's feed hears of it.
        let stop = Command::StopClock(pb::StopClock {
            clock_id: clocks[1].clock_id.clone(),
            reason: pb::ClockStopReason::ReferralRejected as i32,
        });
        let ended = apply_now(&mut ward, &name, stop).await?;
        let ended_at = ended.events.first().map(|e| e.global_position).context("an event")?;
        let heard = events_until(&mut ward_feed, ended_at).await?;
        assert!(matches!(&heard.last().and_then(|e| e.event.clone()), Some(Event::ClockEnded(e))
            if e.reason == pb::ClockStopReason::ReferralRejected as i32 && e.end_date == hub_date(0)));
        let plan = ward.get_plan(pb::GetPlanRequest { name: name.clone() }).await?.into_inner().plan.context("plan")?;
        let clock = &plan.clocks[1];
        assert_eq!(
            (clock.state, clock.end_reason),
            (pb::ClockState::Ended as i32, pb::ClockStopReason::ReferralRejected as i32)
        );
        assert!(!clock.overdue && !clock.met && clock.overdue_duty.is_empty());
        let overdue = list_clocks(&mut ward, true, "ward-overdue-after").await?;
        assert!(overdue.iter().all(|c| c.clock_id != clocks[1].clock_id), "ended: not overdue");
        let stop = Command::StopClock(pb::StopClock {
            clock_id: clocks[0].clock_id.clone(),
            reason: pb::ClockStopReason::NotNeeded as i32,
        });
        let refused = apply_now(&mut job, &name, stop).await.expect_err("the job centre sees it but does not hold it");
        let refused = refused.downcast_ref::<tonic::Status>().context("a status")?;
        assert_eq!(refused.code(), Code::PermissionDenied, "{refused:?}");
        Ok(())
    }

    async fn bad_milestones_are_refused_with_field_details_and_write_nothing() -> TestResult {
        let t = TestHub::start_configured(SETTINGS).await?;
        let mut ward = t.client(WARD).await?;
        let (name, version) = create_plan(&mut ward, CPR).await?;
        let cases = [
            (
                pb::RecordMilestone { milestone: 0, occurred_on: hub_date(0), ..Default::default() },
                "record_milestone.milestone",
            ),
            (
                pb::RecordMilestone { milestone: 99, occurred_on: hub_date(0), ..Default::default() },
                "record_milestone.milestone",
            ),
            (
                pb::RecordMilestone {
                    milestone: pb::MilestoneKind::ReferredForAssessment as i32,
                    occurred_on: "23-11-2026".into(),
                    ..Default::default()
                },
                "record_milestone.occurred_on",
            ),
            (
                pb::RecordMilestone {
                    milestone: pb::MilestoneKind::ReferredForAssessment as i32,
                    occurred_on: hub_date(0),
                    serious_illness: true,
                    ..Default::default()
                },
                "record_milestone.serious_illness",
            ),
            (
                pb::RecordMilestone {
                    milestone: pb::MilestoneKind::DischargePlanned as i32,
                    occurred_on: hub_date(0),
                    ..Default::default()
                },
                "record_milestone.expected_discharge_date",
            ),
            (
                pb::RecordMilestone {
                    milestone: pb::MilestoneKind::ReferredForAssessment as i32,
                    occurred_on: hub_date(2),
                    ..Default::default()
                },
                "occurred_on",
            ),
        ];
        for (milestone, field) in cases {
            let status =
                ward.change_plan(change(&name, version, "", Command::RecordMilestone(milestone))).await.expect_err(field);
            assert_eq!(status.code(), Code::InvalidArgument, "{field}: {status:?}");
            assert!(field_violations(&status).contains_key(field), "{field}: {:?}", field_violations(&status));
        }
        let pause = Command::PauseClock(pb::PauseClock { clock_id: "clock-1".into(), reason: "ønske".into() });
        let status = ward.change_plan(change(&name, version, "", pause)).await.expect_err("no such clock");
        assert!(field_violations(&status).contains_key("clock_id"));
        let plan = ward.get_plan(pb::GetPlanRequest { name }).await?.into_inner().plan.context("plan")?;
        assert_eq!(plan.version, version, "nothing was written");
        assert!(plan.clocks.is_empty());
        Ok(())
    }
}

/// A data folder written by release 8e13393 (before the clocks were split by
/// legal basis): a referral 40 days back (assessment under "§ 82 a"), one
/// request for "addiction treatment" with its lægesamtale, and a planned
/// discharge whose planning started the network-meeting clock. This release
/// opens it, rebuilds projections and indexes, keeps every clock's due date,
/// and goes on from there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_data_folder_of_the_previous_release_keeps_its_clocks() -> TestResult {
    use samplan_services::domain::{
        Actor, Calendar, ClockKind, Cpr, DischargeCommand, Milestone, OrganisationId, Period, ProfessionalId,
        ProfessionalRole, PseudonymKey, Sector, Timestamp, policy,
    };
    use samplan_services::store::{Intent, Submission};
    let dir = tempfile::tempdir()?;
    samplan_tests::copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/release-8e13393"),
        dir.path(),
    )?;
    let config = samplan_hub::config::Config::load(&dir.path().join("samplan.toml"), |_| None)?;
    let mut options = samplan_hub::server::store_options(&config)?;
    // The day the folder was written (3 Dec 2026, noon UTC), so that its dates decide as they did.
    options.clock = std::sync::Arc::new(|| Timestamp(1_796_299_200_000_000));
    let store = samplan_hub::server::open_store_with(&config, options).await?;
    let report = store.verify().await?;
    assert!(report.problems.is_empty(), "{:?}", report.problems);

    let citizen = PseudonymKey::new(*config.secret()).citizen_key(&Cpr::parse(CPR)?);
    let plan = store.plan_of(&citizen).await?.context("the plan")?;
    let clocks: Vec<_> = plan.clocks.iter().map(|c| (c.kind, c.started_on, c.due_on)).collect();
    let days = |start, n| Period::Days(n).due(start, &Calendar::default());
    let working = |start, n| Period::WorkingDays(n).due(start, &Calendar::default());
    let kinds: Vec<_> = clocks.iter().map(|c| c.0).collect();
    assert_eq!(
        kinds,
        [
            ClockKind::Assessment,
            ClockKind::AddictionTreatment,
            ClockKind::DoctorConsultation,
            ClockKind::NetworkMeeting
        ]
    );
    assert_eq!(clocks[0].2, days(clocks[0].1, 30), "due dates are kept");
    assert_eq!(clocks[1].2, days(clocks[1].1, 14));
    assert_eq!(clocks[3].2, working(clocks[3].1, 5));
    assert!(plan.clocks[0].source.contains("§ 82 a"), "the source it was started under: {}", plan.clocks[0].source);
    let ward_org = OrganisationId::parse("organisation", WARD)?;
    let indexed: usize = store.open_clocks_of(&ward_org, None).await?.iter().map(|(_, c)| c.len()).sum();
    assert_eq!(indexed, 4, "the index by organisation is built on upgrade");

    // Going on: the ward calls the meeting (the clock its planning started stands, no second one),
    // and the old addiction clock is met by the old milestone.
    let actor = |org: &str, sector, role| -> anyhow::Result<Actor> {
        Ok(Actor {
            organisation: OrganisationId::parse("organisation", org)?,
            sector,
            professional: ProfessionalId::parse("professional", "p-1")?,
            role,
            own_plan: None,
        })
    };
    let ward = actor(WARD, Sector::RegionalPsychiatry, ProfessionalRole::Physician)?;
    let addiction = actor(ADDICTION, Sector::AddictionService, ProfessionalRole::AddictionCounsellor)?;
    let today = store.now().date();
    let steps = [
        (
            &ward,
            samplan_services::domain::Command::Discharge(DischargeCommand::RequestNetworkMeeting { meeting_on: today }),
        ),
        (
            &addiction,
            samplan_services::domain::Command::RecordMilestone {
                milestone: Milestone::AddictionTreatmentStarted,
                occurred_on: today,
            },
        ),
    ];
    for (by, command) in steps {
        let current = store.plan(plan.id).await?.context("plan")?;
        let sees = policy::view(&current, by, store.now())?.categories();
        let expected_version = current.trail.shown_version(&sees);
        let submission =
            Submission { actor: by.clone(), correlation_id: "upgrade".into(), request_id: None, deadline: None };
        store.submit(submission, Intent::Change { plan: plan.id, expected_version, command }).await?;
    }
    let after = store.plan(plan.id).await?.context("plan")?;
    assert_eq!(after.clocks.len(), 4, "no second network-meeting clock");
    assert_eq!(after.discharge.as_ref().and_then(|d| d.network_meeting_on), Some(today));
    assert_eq!(after.clocks[1].met(), Some(true), "the old addiction clock is met");
    assert!(store.verify().await?.problems.is_empty());
    store.shutdown().await;
    Ok(())
}
