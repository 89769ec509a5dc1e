//! The demo's discharge chapter: planned by the ward, prepared by every
//! sector (each under its own ground), completed with the contact person
//! handed over in the same step.

use samplan_proto::v1 as pb;
use samplan_proto::v1::change_plan_request::Command;

use super::print::{name, short};
use super::{Participant, Story, milestone};

pub(super) async fn discharge(
    story: &mut Story,
    ward: &mut Participant,
    social: &mut Participant,
    job: &mut Participant,
    date: &impl Fn(i64) -> String,
) -> anyhow::Result<()> {
    println!(
        "\n7. Discharge: planned by the ward, prepared by every sector, completed with the contact person handed over."
    );
    use pb::MilestoneKind as M;
    let in_progress = |activity: &str, status: pb::ActivityStatus| {
        Command::ChangeActivityStatus(pb::ChangeActivityStatus { activity_id: activity.into(), status: status as i32 })
    };
    story
        .step(
            ward,
            "starts the discharge activity",
            in_progress(&story.id("discharge activity")?, pb::ActivityStatus::InProgress),
        )
        .await?;
    story.step(ward, "plans the discharge for in 5 days", milestone(M::DischargePlanned, date(0), date(5))).await?;
    story
        .step(
            job,
            "offers an udskrivningskoordinator (mentor), for 6 months from today",
            Command::OfferDischargeCoordinator(pb::OfferDischargeCoordinator {
                mentor_professional_id: "mentor-31".into(),
                start_date: date(0),
                end_date: date(190),
            }),
        )
        .await?;
    story
        .step(
            job,
            "records the citizen's answer: yes",
            Command::AnswerDischargeCoordinatorOffer(pb::AnswerDischargeCoordinatorOffer { accepted: true }),
        )
        .await?;
    story
        .step(
            social,
            "calls the network meeting for today (the call starts its clock: 5 working days, a regional agreement)",
            Command::RequestNetworkMeeting(pb::RequestNetworkMeeting { meeting_date: date(0) }),
        )
        .await?;
    story
        .step(social, "records the network meeting as held", milestone(M::NetworkMeetingHeld, date(0), String::new()))
        .await?;
    story
        .step(
            ward,
            "asks the citizen for advance statements",
            Command::RequestAdvanceStatements(pb::RequestAdvanceStatements {}),
        )
        .await?;
    story
        .step(
            ward,
            "records the discharge advance statement",
            Command::RecordAdvanceStatement(pb::RecordAdvanceStatement {
                occasion: pb::AdvanceStatementOccasion::Discharge as i32,
                text: "Ved ny indlæggelse: ring til Mette og til min bostøttemedarbejder.".into(),
                supersedes: story.id("admission statement")?,
            }),
        )
        .await?;
    story
        .step(
            ward,
            "agrees with social services that they take over as contact person",
            Command::AgreeNextContactPerson(pb::AgreeNextContactPerson {
                organisation_id: "kbh-socialforvaltning".into(),
                professional_id: "sagsbeh-2210".into(),
            }),
        )
        .await?;
    story
        .step(
            ward,
            "completes the discharge activity",
            in_progress(&story.id("discharge activity")?, pb::ActivityStatus::Completed),
        )
        .await?;
    story
        .step(
            ward,
            "completes the discharge: the contact person passes to social services in the same step",
            Command::CompleteDischarge(pb::CompleteDischarge { discharge_date: date(0) }),
        )
        .await?;
    let discharged = social.client.get_plan(pb::GetPlanRequest { name: story.plan.clone() }).await?.into_inner().plan;
    let steps: Vec<String> = discharged
        .and_then(|p| p.discharge)
        .map(|d| d.steps)
        .unwrap_or_default()
        .iter()
        .map(|s| {
            format!(
                "{} {}",
                short(name::<pb::DischargeStepKind>(s.kind)),
                short(name::<pb::DischargeStepState>(s.state))
            )
        })
        .collect();
    println!("        {:<22} discharge steps: {}", social.label, steps.join("; "));

    Ok(())
}
