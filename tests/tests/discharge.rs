//! End to end: four organisations, each with its own certificate, follow
//! their subscriptions while a citizen with a dual diagnosis is discharged
//! from a psychiatric ward — the koordinerende indsatsplan agreed and
//! reopened, the addiction treatment requested, the discharge planned, a
//! mentor offered, the network meeting called and held, advance statements
//! asked for and given, the contact person handed over at discharge — and
//! each receives exactly what it should.

use anyhow::Context;
use samplan_proto::v1 as pb;
use samplan_proto::v1::change_plan_request::Command;
use samplan_proto::v1::plan_event::Event;
use samplan_tests::*;

fn milestone(kind: pb::MilestoneKind, expected: &str) -> Command {
    Command::RecordMilestone(pb::RecordMilestone {
        milestone: kind as i32,
        occurred_on: hub_date(0),
        expected_discharge_date: expected.into(),
        ..Default::default()
    })
}

/// An event's type, as a test reads it.
fn kind(event: &pb::PlanEvent) -> &'static str {
    match &event.event {
        Some(Event::IndsatsplanStarted(_)) => "IndsatsplanStarted",
        Some(Event::ActivityAdded(_)) => "ActivityAdded",
        Some(Event::IndsatsplanSigned(s)) if s.agreed => "IndsatsplanAgreed",
        Some(Event::IndsatsplanSigned(_)) => "IndsatsplanSigned",
        Some(Event::IndsatsplanAccepted(a)) if a.agreed => "IndsatsplanAgreed",
        Some(Event::IndsatsplanAccepted(_)) => "IndsatsplanAccepted",
        Some(Event::MilestoneRecorded(m)) if m.milestone == pb::MilestoneKind::AlcoholTreatmentRequested as i32 => {
            "AlcoholTreatmentRequested"
        }
        Some(Event::MilestoneRecorded(m)) if m.milestone == pb::MilestoneKind::DischargePlanned as i32 => {
            "DischargePlanned"
        }
        Some(Event::MilestoneRecorded(m)) if m.milestone == pb::MilestoneKind::NetworkMeetingHeld as i32 => {
            "NetworkMeetingHeld"
        }
        Some(Event::DischargeCoordinatorOffered(_)) => "DischargeCoordinatorOffered",
        Some(Event::DischargeCoordinatorOfferAnswered(_)) => "DischargeCoordinatorOfferAnswered",
        Some(Event::NetworkMeetingRequested(_)) => "NetworkMeetingRequested",
        Some(Event::AdvanceStatementsRequested(_)) => "AdvanceStatementsRequested",
        Some(Event::AdvanceStatementRecorded(_)) => "AdvanceStatementRecorded",
        Some(Event::NextContactPersonAgreed(_)) => "NextContactPersonAgreed",
        Some(Event::ActivityStatusChanged(_)) => "ActivityStatusChanged",
        Some(Event::IndsatsplanReopened(_)) => "IndsatsplanReopened",
        Some(Event::DischargeCompleted(_)) => "DischargeCompleted",
        Some(Event::ContactPersonHandedOver(_)) => "ContactPersonHandedOver",
        _ => "other",
    }
}

on_both_engines! {
    async fn four_organisations_follow_a_dual_diagnosis_discharge_and_each_hears_what_it_may() -> anyhow::Result<()> {
        let t = TestHub::start_configured("[subscriptions]\nheartbeat_ms = 50\n").await?;
        let mut ward = t.client(WARD).await?;
        let mut social = t.client(SOCIAL).await?;
        let mut job = t.client(JOB).await?;
        let mut addiction = t.client(ADDICTION).await?;

        // The plan: all four on the care team, the ward's physician the contact
        // person, each health service owning its section; an udskrivningsaftale
        // (psykiatriloven § 13 a: social services, party to it, hear of the
        // discharge), and the citizen's consent that the job centre may know of
        // the discharge, to offer a mentor.
        let (name, _) = create_plan(&mut ward, CPR).await?;
        invite(&mut ward, &name, SOCIAL, "udskrivningsaftale, psykiatriloven § 13 a").await?;
        invite(&mut ward, &name, JOB, "borgerens samtykke, sygedagpenge").await?;
        join(&mut addiction, CPR, "henvist til misbrugsbehandling").await?;
        let contact = Command::AssignContactPerson(pb::AssignContactPerson {
            organisation_id: WARD.into(),
            professional_id: "aut-4471".into(),
        });
        apply_now(&mut ward, &name, contact).await?;
        apply_now(&mut ward, &name, take_section(pb::SectionKind::Psychiatry)).await?;
        apply_now(&mut addiction, &name, take_section(pb::SectionKind::Addiction)).await?;
        apply_now(&mut ward, &name, udskrivningsaftale()).await?;
        let discharge = consent(JOB, &[pb::DataCategory::DischargeCoordination], "udskrivningskoordinator", "j-31");
        apply_now(&mut ward, &name, discharge).await?;

        // Each organisation's system follows its subscription from here.
        let head = t.hub.store.durable_position();
        let mut feeds = Vec::new();
        for (org, client) in [(WARD, &mut ward), (SOCIAL, &mut social), (JOB, &mut job), (ADDICTION, &mut addiction)] {
            feeds.push((org, subscribe(client, head, &format!("{org}-feed")).await?));
        }

        use pb::{LegalPlanType as L, MilestoneKind as M, SectionKind as S};
        let kip = L::KoordinerendeIndsatsplan;
        let indsatsplan = Command::StartIndsatsplan(pb::StartIndsatsplan { next_meeting_date: hub_date(60) });
        let sign = |version| Command::SignIndsatsplan(pb::SignIndsatsplan { version });
        let steps: Vec<(&str, Command)> = vec![
            (WARD, indsatsplan),
            (WARD, add_activity(S::Psychiatry, "medicinsk behandling", kip, "aut-4471")),
            (ADDICTION, add_activity(S::Addiction, "ambulant alkoholbehandling", kip, "cfm-3307")),
            (WARD, sign(3)),
            (ADDICTION, sign(3)),
            // The citizen accepted it at the joint meeting; the ward records that.
            (WARD, Command::AcceptIndsatsplan(pb::AcceptIndsatsplan { version: 3 })),
            (ADDICTION, milestone(M::AlcoholTreatmentRequested, "")),
            (WARD, milestone(M::DischargePlanned, &hub_date(4))),
            (
                JOB,
                Command::OfferDischargeCoordinator(pb::OfferDischargeCoordinator {
                    mentor_professional_id: "mentor-12".into(),
                    start_date: hub_date(0),
                    end_date: hub_date(200),
                }),
            ),
            (JOB, Command::AnswerDischargeCoordinatorOffer(pb::AnswerDischargeCoordinatorOffer { accepted: true })),
            (SOCIAL, Command::RequestNetworkMeeting(pb::RequestNetworkMeeting { meeting_date: hub_date(0) })),
            (SOCIAL, milestone(M::NetworkMeetingHeld, "")),
            (WARD, Command::RequestAdvanceStatements(pb::RequestAdvanceStatements {})),
            (
                WARD,
                Command::RecordAdvanceStatement(pb::RecordAdvanceStatement {
                    occasion: pb::AdvanceStatementOccasion::Discharge as i32,
                    text: "Ring til min søster, hvis jeg får det dårligt igen.".into(),
                    supersedes: String::new(),
                }),
            ),
            (
                WARD,
                Command::AgreeNextContactPerson(pb::AgreeNextContactPerson {
                    organisation_id: SOCIAL.into(),
                    professional_id: "sagsbeh-2210".into(),
                }),
            ),
            (
                ADDICTION,
                Command::ChangeActivityStatus(pb::ChangeActivityStatus {
                    activity_id: String::new(), // the addiction service's action, once added
                    status: pb::ActivityStatus::InProgress as i32,
                }),
            ),
            (WARD, Command::CompleteDischarge(pb::CompleteDischarge { discharge_date: hub_date(0) })),
        ];
        // Ids are the hub's: the addiction service's action is named by the id its addition answered.
        let mut addiction_action = String::new();
        for (org, mut command) in steps {
            let client = match org {
                WARD => &mut ward,
                SOCIAL => &mut social,
                JOB => &mut job,
                _ => &mut addiction,
            };
            if let Command::ChangeActivityStatus(change) = &mut command {
                change.activity_id.clone_from(&addiction_action);
            }
            let adds_action = org == ADDICTION && matches!(command, Command::AddActivity(_));
            let response = apply_now(client, &name, command).await.context(org)?;
            if adds_action {
                addiction_action = added_id(&response)?;
            }
        }
        let last = t.hub.store.durable_position();

        // The health services treat the citizen and hear everything health
        // (not the job centre's mentor: employment information, under no
        // consent); social services, under the udskrivningsaftale, hear of the
        // discharge's coordination; the job centre, under the citizen's consent,
        // of that and its own mentor — neither of them of the indsatsplan, the
        // addiction treatment or the advance statements, nor who in psychiatry
        // handed the contact person over.
        let health = [
            "IndsatsplanStarted",
            "ActivityAdded",
            "ActivityAdded",
            "IndsatsplanSigned",
            "IndsatsplanSigned",
            "IndsatsplanAgreed",
            "AlcoholTreatmentRequested",
            "DischargePlanned",
            "NetworkMeetingRequested",
            "NetworkMeetingHeld",
            "AdvanceStatementsRequested",
            "AdvanceStatementRecorded",
            "NextContactPersonAgreed",
            "ActivityStatusChanged",
            "IndsatsplanReopened",
            "DischargeCompleted",
            "ContactPersonHandedOver",
        ];
        let social_services = [
            "DischargePlanned",
            "NetworkMeetingRequested",
            "NetworkMeetingHeld",
            "AdvanceStatementsRequested",
            "NextContactPersonAgreed",
            "DischargeCompleted",
            "ContactPersonHandedOver",
        ];
        let job_centre = [
            "DischargePlanned",
            "DischargeCoordinatorOffered",
            "DischargeCoordinatorOfferAnswered",
            "NetworkMeetingRequested",
            "NetworkMeetingHeld",
            "AdvanceStatementsRequested",
            "NextContactPersonAgreed",
            "DischargeCompleted",
            "ContactPersonHandedOver",
        ];
        for (org, mut feed) in feeds {
            let events = events_until(&mut feed, last).await?;
            let heard: Vec<&str> = events.iter().map(kind).collect();
            let expected: &[&str] = match org {
                WARD | ADDICTION => &health,
                SOCIAL => &social_services,
                _ => &job_centre,
            };
            assert_eq!(heard, expected, "{org} heard");
            if !matches!(org, WARD | ADDICTION) {
                let handover = events.iter().find_map(|e| match &e.event {
                    Some(Event::ContactPersonHandedOver(h)) => Some(h.clone()),
                    _ => None,
                });
                let handover = handover.context("the handover")?;
                // Only its own organisation is named to a recipient without a health ground.
                let to = if org == SOCIAL { SOCIAL } else { "" };
                assert_eq!((handover.from_organisation_id.as_str(), handover.to_organisation_id.as_str()), ("", to));
                assert!(events.iter().all(|e| e.actor.as_ref().is_none_or(|a| a.organisation_id != WARD)), "{org}");
            }
            assert!(events.windows(2).all(|w| w[0].global_position < w[1].global_position), "{org}: in order");
        }

        // Afterwards: the discharge is done step by step, the contact person has
        // passed to social services, and the indsatsplan awaits both signatures
        // and the citizen's acceptance.
        let plan = social.get_plan(pb::GetPlanRequest { name: name.clone() }).await?.into_inner().plan.context("plan")?;
        let discharge = plan.discharge.context("discharge")?;
        assert!(discharge.steps.iter().all(|s| s.state == pb::DischargeStepState::Done as i32), "{:?}", discharge.steps);
        assert_eq!(discharge.completed_date, hub_date(0));
        assert_eq!(plan.contact_person.map(|c| c.organisation_id), Some(SOCIAL.to_owned()));
        assert!(plan.indsatsplan.is_none(), "social services see no indsatsplan without consent");
        let ward_view = ward.get_plan(pb::GetPlanRequest { name }).await?.into_inner().plan.context("plan")?;
        let kip_plan = ward_view.indsatsplan.context("the ward sees the indsatsplan")?;
        assert_eq!((kip_plan.version, kip_plan.agreed), (4, false));
        Ok(())
    }
}
