//! `samplan demo`: an embedded hub on a temporary folder, and the story of a
//! citizen with a dual diagnosis — admission, the shared plan, the
//! koordinerende indsatsplan, discharge, consent, rights and deadlines, and
//! the citizen's own voice — told through real gRPC clients of the four
//! sectors, each following its own subscription, and of the citizen's portal.

use std::collections::HashMap;

use anyhow::Context;
use samplan_proto::v1 as pb;
use samplan_proto::v1::change_plan_request::Command;

mod access;
mod citizen;
mod discharge;
mod indicator_table;
mod indsatsplan;
pub mod population;
mod print;

use crate::client::{PlanClient, added_id, events_until};
use crate::embedded::EmbeddedHub;
use print::{event_name, name, print_plan, print_timeline, short};

/// A fictitious citizen: born 7 July 1981. Never printed.
pub(super) const DEMO_CPR: &str = "0707814321";

struct Participant {
    label: &'static str,
    organisation: &'static str,
    client: PlanClient,
    /// The plan's version as this participant last read it: each counts
    /// only the events it may see.
    version: u64,
    /// How many changes it has sent: its request ids count them.
    sent: u64,
    /// The last change it sent that the hub accepted, to show a safe retry.
    last_request: Option<pb::ChangePlanRequest>,
}

struct Story {
    plan: String,
    /// The ids of the items the story added, by what they are: ids are the
    /// hub's, drawn at random, and learnt from its answers.
    ids: HashMap<&'static str, String>,
}

impl Story {
    /// Sends `command` as `who`, as an integration would: on the version it
    /// last saw, and once more on the current one if that was stale.
    async fn attempt(
        &mut self,
        who: &mut Participant,
        command: Command,
    ) -> Result<pb::ChangePlanResponse, tonic::Status> {
        let (organisation, sent) = (who.organisation, &mut who.sent);
        let request_id = || {
            *sent += 1;
            uuid_like(organisation, *sent - 1)
        };
        let (request, response) =
            change_on_version(&mut who.client, &self.plan, &mut who.version, command, request_id).await?;
        who.last_request = Some(request);
        Ok(response)
    }

    async fn step(
        &mut self,
        who: &mut Participant,
        what: &str,
        command: Command,
    ) -> anyhow::Result<pb::ChangePlanResponse> {
        let response = self.attempt(who, command).await.with_context(|| format!("{} could not {what}", who.label))?;
        println!("  {:>4} {:<22} {what}", seen(response.version), who.label);
        Ok(response)
    }

    /// A step that adds an item, remembered as `item`.
    async fn add(
        &mut self,
        who: &mut Participant,
        what: &str,
        item: &'static str,
        command: Command,
    ) -> anyhow::Result<pb::ChangePlanResponse> {
        let response = self.step(who, what, command).await?;
        self.ids.insert(item, added_id(&response)?);
        Ok(response)
    }

    /// The id of the item remembered as `item`.
    fn id(&self, item: &str) -> anyhow::Result<String> {
        self.ids.get(item).cloned().with_context(|| format!("the story has not added {item}"))
    }
}

/// Sends `command` to `plan` on `version`, and once more on the current
/// version if that was stale, as an integration would; `version` follows
/// the plan's, and `request_id` names each attempt. The request that was
/// answered, and its answer.
async fn change_on_version(
    client: &mut PlanClient,
    plan: &str,
    version: &mut u64,
    command: Command,
    mut request_id: impl FnMut() -> String,
) -> Result<(pb::ChangePlanRequest, pb::ChangePlanResponse), tonic::Status> {
    loop {
        let request = pb::ChangePlanRequest {
            name: plan.to_owned(),
            expected_version: *version,
            request_id: request_id(),
            command: Some(command.clone()),
        };
        match client.change_plan(request.clone()).await {
            Ok(response) => {
                let response = response.into_inner();
                *version = response.version;
                return Ok((request, response));
            }
            Err(stale) if reason_of(&stale) == "STALE_VERSION" => match current_version(&stale) {
                Some(current) if current != *version => *version = current,
                _ => return Err(stale),
            },
            Err(refused) => return Err(refused),
        }
    }
}

/// The stable reason of a refusal, from its `ErrorInfo`.
fn reason_of(status: &tonic::Status) -> String {
    use tonic_types::StatusExt;
    status.get_error_details().error_info().map(|info| info.reason.clone()).unwrap_or_default()
}

/// How many events a version counts (256 × events seen, plus a code for the categories seen).
fn seen(version: u64) -> u64 {
    version / 256
}

/// The current version a `STALE_VERSION` refusal names.
fn current_version(status: &tonic::Status) -> Option<u64> {
    use tonic_types::StatusExt;
    status.get_error_details().error_info()?.metadata.get("current_version")?.parse().ok()
}

/// A milestone on `occurred_on`; `expected` is the expected discharge date, for a planned discharge.
fn milestone(kind: pb::MilestoneKind, occurred_on: String, expected: String) -> Command {
    Command::RecordMilestone(pb::RecordMilestone {
        milestone: kind as i32,
        occurred_on,
        expected_discharge_date: expected,
        ..Default::default()
    })
}

fn uuid_like(organisation: &str, sent: u64) -> String {
    format!("demo-{organisation}-{sent}")
}

pub async fn run() -> anyhow::Result<()> {
    run_with(population::CITIZENS).await
}

/// The demo, with a population of `citizens` for its indicators.
pub async fn run_with(citizens: usize) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    println!("Samplan demo: an embedded hub with a fresh development PKI in {}", dir.path().display());
    // Heartbeats every 200 ms (15 s by default), so that the feeds of chapter 9 end promptly.
    // The deadline watcher looks every second (every minute by default), so that the population's overdue clocks show.
    let settings = "[subscriptions]\nheartbeat_ms = 200\n\n[deadlines]\ncheck_interval_ms = 1000\n";
    let hub = EmbeddedHub::start_configured(dir.path(), settings).await?;
    println!(
        "Hub listening on {} (mTLS, TLS 1.3); four organisations connect with their own certificates.\n",
        hub.addr
    );

    let participant = |label, organisation, professional, role| {
        let hub = &hub;
        async move {
            anyhow::Ok(Participant {
                label,
                organisation,
                client: hub.plan_client(organisation, professional, role).await?,
                version: 1,
                sent: 0,
                last_request: None,
            })
        }
    };
    let mut ward = participant("Psychiatric ward", "psykiatri-amager", "aut-4471", "PHYSICIAN").await?;
    let mut social = participant("Social services", "kbh-socialforvaltning", "sagsbeh-2210", "SOCIAL_WORKER").await?;
    let mut job = participant("Job centre", "jobcenter-kbh", "jc-0915", "JOB_CONSULTANT").await?;
    let mut addiction =
        participant("Addiction service", "kbh-misbrugsbehandling", "cfm-3307", "ADDICTION_COUNSELLOR").await?;

    // Each sector's system follows its subscription from the start of the log.
    let mut feeds = Vec::new();
    for who in [&mut ward, &mut social, &mut job, &mut addiction] {
        let request = pb::SubscribePlanEventsRequest { after_position: 0 };
        feeds.push((who.label, who.client.subscribe_plan_events(request).await?.into_inner()));
    }
    println!("Each sector's system subscribes to the changes it may see.\n");

    println!("1. Admission: the ward creates the citizen's one plan.");
    let created = ward
        .client
        .create_plan(pb::CreatePlanRequest {
            cpr: DEMO_CPR.into(),
            request_id: "demo-create".into(),
            reason: "Indlagt på afsnit 3 med psykose".into(),
        })
        .await?
        .into_inner();
    let plan = created.plan.context("create returned no plan")?;
    let mut story = Story { plan: plan.name.clone(), ids: HashMap::new() };
    ward.version = plan.version;
    println!("  (the number before each step counts the events that organisation may see after it)");
    println!("  {:>4} {:<22} created {}", seen(plan.version), ward.label, plan.name);
    // Social services ask for the same citizen's plan on their own: a health
    // service may join for the citizen's current treatment, anyone else only
    // by invitation or under the citizen's consent.
    let refused = social
        .client
        .create_plan(pb::CreatePlanRequest {
            cpr: DEMO_CPR.into(),
            request_id: String::new(),
            reason: "Bostøtte efter udskrivelse".into(),
        })
        .await
        .err()
        .context("social services must not join on their own")?;
    println!("        {:<22} asks to join on its own -> {:?} ({})", social.label, refused.code(), reason_of(&refused));

    let today = chrono::Local::now().date_naive();
    let date = |days: i64| (today + chrono::Duration::days(days)).format("%Y-%m-%d").to_string();
    let join = |organisation: &str, professional: &str, role: pb::ProfessionalRole, ground: &str| {
        Command::AddCareTeamMember(pb::AddCareTeamMember {
            organisation_id: organisation.into(),
            professional_id: professional.into(),
            role: role as i32,
            start_date: date(0),
            end_date: String::new(),
            ground: ground.into(),
        })
    };
    story
        .step(
            &mut ward,
            "invites social services, naming the ground: the udskrivningsaftale (psykiatriloven § 13 a)",
            join(
                "kbh-socialforvaltning",
                "sagsbeh-2210",
                pb::ProfessionalRole::SocialWorker,
                "udskrivningsaftale, psykiatriloven § 13 a",
            ),
        )
        .await?;
    story
        .step(
            &mut ward,
            "invites the job centre, naming the ground: the citizen's oral consent to take part",
            join(
                "jobcenter-kbh",
                "jc-0915",
                pb::ProfessionalRole::JobConsultant,
                "borgerens mundtlige samtykke til at jobcentret deltager (forvaltningsloven § 28, stk. 2, nr. 1)",
            ),
        )
        .await?;
    story
        .step(
            &mut ward,
            "invites the addiction service (a health service in the citizen's treatment)",
            join("kbh-misbrugsbehandling", "cfm-3307", pb::ProfessionalRole::AddictionCounsellor, ""),
        )
        .await?;
    story
        .step(
            &mut ward,
            "becomes coordinating contact person",
            Command::AssignContactPerson(pb::AssignContactPerson {
                organisation_id: "psykiatri-amager".into(),
                professional_id: "aut-4471".into(),
            }),
        )
        .await?;
    story.step(&mut ward, "activates the plan", Command::ActivatePlan(pb::ActivatePlan {})).await?;
    story
        .add(
            &mut ward,
            "records an advance statement",
            "admission statement",
            Command::RecordAdvanceStatement(pb::RecordAdvanceStatement {
                occasion: pb::AdvanceStatementOccasion::Admission as i32,
                text: "Hvis jeg bliver dårlig igen, vil jeg helst ikke have Haldol. Ring til min søster.".into(),
                supersedes: String::new(),
            }),
        )
        .await?;
    story
        .step(
            &mut ward,
            "registers the citizen's sister",
            Command::RegisterRelative(pb::RegisterRelative {
                name: "Mette".into(),
                relation: "søster".into(),
                involvement: pb::RelativeInvolvement::Full as i32,
            }),
        )
        .await?;

    println!("\n2. The citizen's own goals, in their words, each stating what kind of information it is.");
    use pb::DataCategory as Category;
    let goals: [(&mut Participant, &str, Category, &str); 3] = [
        (&mut social, "Jeg vil gerne bo i min egen lejlighed igen", Category::Social, "housing goal"),
        (
            &mut job,
            "Jeg vil gerne i gang med noget arbejde, måske i en genbrugsbutik",
            Category::Employment,
            "work goal",
        ),
        (&mut addiction, "Jeg vil gerne drikke mindre og sove bedre", Category::SubstanceAbuse, "drinking goal"),
    ];
    for (who, goal, category, item) in goals {
        story
            .add(
                who,
                &format!("adds goal \"{goal}\" ({})", short(name::<Category>(category as i32))),
                item,
                Command::AddGoal(pb::AddGoal { text: goal.into(), category: category as i32 }),
            )
            .await?;
    }
    let (housing, work, drinking) = (story.id("housing goal")?, story.id("work goal")?, story.id("drinking goal")?);

    println!("\n3. Each sector writes its own section of the one plan.");
    let take =
        |section: pb::SectionKind| Command::TakeSectionOwnership(pb::TakeSectionOwnership { section: section as i32 });
    let activity = |section: pb::SectionKind,
                    title: &str,
                    legal: pb::LegalPlanType,
                    professional: &str,
                    start: i64,
                    goals: &[&str]| {
        Command::AddActivity(pb::AddActivity {
            section: section as i32,
            title: title.into(),
            legal_plan_type: legal as i32,
            responsible_professional_id: professional.into(),
            start_date: date(start),
            end_date: String::new(),
            goal_ids: goals.iter().map(|g| (*g).to_owned()).collect(),
        })
    };
    use pb::{LegalPlanType as Legal, SectionKind as Section};
    // Each sector takes its section and plans its activities: (what, title, legal plan, responsible, start in days, goals).
    type Planned<'a> = (&'a str, &'a str, Legal, &'a str, i64, &'a [&'a str]);
    let sections: [(&mut Participant, Section, &str, &[Planned]); 4] = [
        (
            &mut ward,
            Section::Psychiatry,
            "takes the psychiatry section",
            &[
                (
                    "plans medication review (behandlingsplan)",
                    "Medicinsamtale og opfølgning i distriktspsykiatrien",
                    Legal::Behandlingsplan,
                    "aut-4471",
                    0,
                    &[drinking.as_str()],
                ),
                (
                    "plans discharge (udskrivningsaftale)",
                    "Udskrivelse til egen bolig med bostøtte",
                    Legal::Udskrivningsaftale,
                    "aut-4471",
                    14,
                    &[],
                ),
            ],
        ),
        (
            &mut social,
            Section::Social,
            "takes the social section",
            &[(
                "plans housing support (§ 141 handleplan)",
                "Bostøtte (SEL § 85) to gange om ugen",
                Legal::Handleplan,
                "sagsbeh-2210",
                14,
                &[housing.as_str()],
            )],
        ),
        (
            &mut job,
            Section::Employment,
            "takes the employment section",
            &[(
                "offers an udskrivningskoordinator (jobplan)",
                "Udskrivningskoordinator/mentor fra før udskrivelse",
                Legal::Jobplan,
                "jc-0915",
                0,
                &[work.as_str()],
            )],
        ),
        (
            &mut addiction,
            Section::Addiction,
            "takes the addiction section",
            &[(
                "plans alcohol treatment",
                "Ambulant alkoholbehandling med lægesamtale",
                Legal::Behandlingsplan,
                "cfm-3307",
                3,
                &[drinking.as_str()],
            )],
        ),
    ];
    for (who, section, taking, planned) in sections {
        story.step(who, taking, take(section)).await?;
        for (what, title, legal, professional, start, goals) in planned {
            let planned = activity(section, title, *legal, professional, *start, goals);
            if *legal == Legal::Udskrivningsaftale {
                story.add(who, what, "discharge activity", planned).await?;
            } else {
                story.step(who, what, planned).await?;
            }
        }
    }

    println!("\n4. Optimistic concurrency and safe retries.");
    println!(
        "        (a version counts only the events its reader may see — 256 × that count, plus a code for what it \
         sees — so the {}'s is {} while the ward's is larger)",
        job.label.to_lowercase(),
        job.version
    );
    let stale = ward
        .client
        .change_plan(pb::ChangePlanRequest {
            name: story.plan.clone(),
            expected_version: 2,
            request_id: String::new(),
            command: Some(Command::AddGoal(pb::AddGoal { text: "x".into(), category: Category::Psychiatric as i32 })),
        })
        .await
        .err()
        .context("a stale version must be refused")?;
    println!("        {:<22} writes on version 2 -> {:?}: {}", ward.label, stale.code(), stale.message());
    let retry = addiction.last_request.clone().context("the addiction service has written")?;
    let replayed = addiction.client.change_plan(retry).await?.into_inner();
    println!(
        "        {:<22} retries its last request -> same answer (version {}), nothing appended",
        addiction.label, replayed.version
    );

    indsatsplan::indsatsplan(&mut story, &mut ward, &mut addiction, &date).await?;

    access::who_sees_what(&mut story, &mut ward, &mut social, &mut job, &date(0)).await?;

    discharge::discharge(&mut story, &mut ward, &mut social, &mut job, &date).await?;

    println!("\n8. The citizen's access view (Min Log), as the contact person lists it:");
    let log = social
        .client
        .list_plan_access(pb::ListPlanAccessRequest {
            parent: story.plan.clone(),
            page_size: 1000,
            page_token: String::new(),
        })
        .await?
        .into_inner()
        .entries;
    let jobs: Vec<_> = log.iter().filter(|e| e.organisation_id == job.organisation).collect();
    let (deliveries, calls): (Vec<_>, Vec<_>) = jobs.into_iter().partition(|e| e.action == "SubscribePlanEvents");
    println!(
        "  {} audited operations; the job centre's {} deliveries on its subscription, and its calls:",
        log.len(),
        deliveries.len()
    );
    for e in calls {
        let categories: Vec<_> = e.categories.iter().map(|c| short(name::<pb::DataCategory>(*c))).collect();
        println!(
            "    {:<28} {:<42} {} {}",
            e.organisation_name,
            e.action,
            if e.allowed { "allowed" } else { "refused" },
            match (categories.is_empty(), e.action.starts_with("ChangePlan")) {
                (true, _) => String::new(),
                (false, true) => format!("— wrote {}", categories.join(", ")),
                (false, false) => format!("— saw {}", categories.join(", ")),
            }
        );
    }

    use pb::MilestoneKind as M;
    println!("\n9. Rights and deadlines: milestones start and stop the citizen's clocks.");
    story
        .step(
            &mut addiction,
            "records the citizen's request for alcohol treatment, 20 days ago (14 days, sundhedsloven § 141, stk. 2; \
             no lægesamtale: that is for drug treatment)",
            milestone(M::AlcoholTreatmentRequested, date(-20), String::new()),
        )
        .await?;
    // The watcher runs every `deadlines.check_interval_ms` (a minute by default); the demo runs one round now.
    let marked = samplan_services::watcher::mark_overdue_clocks(&hub.store).await?;
    println!(
        "  the hub's deadline watcher recorded {marked} clock(s) as overdue (ClockOverdue, to every subscriber that may see it)"
    );
    for who in [&mut ward, &mut job] {
        let clocks = who.client.list_clocks(pb::ListClocksRequest::default()).await?.into_inner().clocks;
        println!("  {} lists its open clocks:{}", who.label, if clocks.is_empty() { " none it may see" } else { "" });
        for clock in clocks.iter().filter_map(|c| c.clock.as_ref()) {
            println!(
                "    {:<8} {:<26} due {}{:<9} {}",
                clock.clock_id,
                short(name::<pb::ClockKind>(clock.kind)),
                clock.due_date,
                if clock.overdue { "  OVERDUE" } else { "" },
                clock.legal_source
            );
        }
    }

    println!("\n10. What each sector's system heard, live, on its subscription (filtered when sent):");
    let last = hub.store.durable_position();
    for (label, mut feed) in feeds {
        let events = events_until(&mut feed, last).await?;
        let mut counts: Vec<(String, usize)> = Vec::new();
        for name in events.iter().filter_map(|e| e.event.as_ref()).map(event_name) {
            match counts.iter_mut().find(|(n, _)| *n == name) {
                Some((_, count)) => *count += 1,
                None => counts.push((name, 1)),
            }
        }
        let summary: Vec<String> = counts.iter().map(|(name, count)| format!("{name} ×{count}")).collect();
        println!("  {label:<22} {:>2} of {last} events: {}", events.len(), summary.join(", "));
    }
    println!(
        "  (Social services subscribed before they joined, so they heard nothing from before; the job centre heard\n   \
         no health information until the citizen's consent. Reopening a subscription after position 0 replays\n   \
         what each may see now.)"
    );

    citizen::citizen(&hub, &mut story, &mut ward, &mut job, &mut addiction, &date(0)).await?;

    let plan = ward
        .client
        .get_plan(pb::GetPlanRequest { name: story.plan.clone() })
        .await?
        .into_inner()
        .plan
        .context("no plan")?;
    print_plan(&plan);
    let events = ward
        .client
        .list_plan_events(pb::ListPlanEventsRequest {
            parent: story.plan.clone(),
            page_size: 1000,
            page_token: String::new(),
        })
        .await?
        .into_inner()
        .events;
    print_timeline(&events);

    drop((ward, social, job, addiction));
    hub.stop().await?;
    println!("\nThe hub shut down cleanly; every acknowledged event was on disk before its OK.");
    indicator_table::chapter(citizens).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    /// The README's first command: the demo runs from start to end.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_demo_runs_to_the_end() {
        super::run_with(300).await.expect("the demo runs");
    }
}
