//! The demo's chapter on the koordinerende indsatsplan: started by one side,
//! an action from each, both signatures — and not agreed until the citizen
//! accepts it too (in the citizen's own chapter).

use samplan_proto::v1 as pb;
use samplan_proto::v1::change_plan_request::Command;

use super::{Participant, Story};

/// An action of the indsatsplan in `section`, serving `goal`, starting today.
fn action(section: pb::SectionKind, title: &str, responsible: &str, goal: &str, today: &str) -> Command {
    Command::AddActivity(pb::AddActivity {
        section: section as i32,
        title: title.into(),
        legal_plan_type: pb::LegalPlanType::KoordinerendeIndsatsplan as i32,
        responsible_professional_id: responsible.into(),
        start_date: today.into(),
        end_date: String::new(),
        goal_ids: vec![goal.to_owned()],
    })
}

pub(super) async fn indsatsplan(
    story: &mut Story,
    ward: &mut Participant,
    addiction: &mut Participant,
    date: &impl Fn(i64) -> String,
) -> anyhow::Result<()> {
    println!(
        "\n5. Dual diagnosis: the koordinerende indsatsplan, agreed only when both sides have signed its current \
         version and the citizen has accepted it."
    );
    story
        .step(
            ward,
            "starts the koordinerende indsatsplan (next joint meeting in 60 days)",
            Command::StartIndsatsplan(pb::StartIndsatsplan { next_meeting_date: date(60) }),
        )
        .await?;
    let drinking = story.id("drinking goal")?;
    let psychiatry =
        action(pb::SectionKind::Psychiatry, "Fælles kriseplan for psykose og alkohol", "aut-4471", &drinking, &date(0));
    story.add(ward, "adds an action to the indsatsplan", "psychiatry action", psychiatry).await?;
    let addiction_action = action(
        pb::SectionKind::Addiction,
        "Ambulant alkoholbehandling med lægesamtale",
        "cfm-3307",
        &drinking,
        &date(0),
    );
    story.add(addiction, "adds an action to the indsatsplan", "addiction action", addiction_action).await?;
    let sign = |version| Command::SignIndsatsplan(pb::SignIndsatsplan { version });
    story.step(ward, "signs version 3 for the psychiatry side", sign(3)).await?;
    story.step(addiction, "signs version 3 for the addiction side", sign(3)).await?;
    story
        .step(
            addiction,
            "starts its action: a change to the indsatsplan makes version 4, which no one has signed",
            Command::ChangeActivityStatus(pb::ChangeActivityStatus {
                activity_id: story.id("addiction action")?,
                status: pb::ActivityStatus::InProgress as i32,
            }),
        )
        .await?;
    println!("        {:<22} -> not agreed: version 4 awaits both sides and the citizen (chapter 11)", "");
    Ok(())
}
