//! A property of disclosure, through the real hub: for random sequences of
//! consents, withdrawals, objections, joins, leaves and writes of every
//! category, what each organisation's live subscription delivered is
//! exactly what `GetPlan` showed it at that event's time — an event is
//! delivered if and only if the organisation's read, taken right after the
//! step that wrote it, showed every category the event reveals.

use std::collections::HashMap;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config, TestRunner};
use samplan_hub::client::{PlanClient, Subscription, events_until};
use samplan_proto::v1 as pb;
use samplan_proto::v1::change_plan_request::Command;
use samplan_tests::*;

use pb::DataCategory as C;

const ORGS: [&str; 4] = [WARD, SOCIAL, JOB, ADDICTION];

/// What an organisation holds and so may consent to disclose, object for, or write.
fn held(org: &str) -> &'static [C] {
    match org {
        WARD => &[C::Psychiatric, C::DischargeCoordination],
        ADDICTION => &[C::SubstanceAbuse],
        SOCIAL => &[C::Social],
        _ => &[C::Employment],
    }
}

#[derive(Clone, Debug)]
enum Step {
    /// `by` records the citizen's consent that `to` may see what `by` holds.
    Consent { by: usize, to: usize },
    /// The `n`th consent recorded is withdrawn by whoever recorded it.
    Withdraw { n: usize },
    /// `by` records the citizen's objection against `to` for what `by` holds.
    Object { by: usize, to: usize },
    /// The `n`th objection is lifted by whoever recorded it.
    Lift { n: usize },
    /// The ward invites `org`, or a health service joins on its own.
    Join { org: usize },
    /// The ward ends `org`'s membership today.
    Leave { org: usize },
    /// `by` writes a goal of the `k`th category it holds (or a general one).
    Write { by: usize, k: usize },
}

fn step() -> impl Strategy<Value = Step> {
    prop_oneof![
        (0..4usize, 0..4usize).prop_map(|(by, to)| Step::Consent { by, to }),
        (0..4usize).prop_map(|n| Step::Withdraw { n }),
        (0..4usize, 0..4usize).prop_map(|(by, to)| Step::Object { by, to }),
        (0..4usize).prop_map(|n| Step::Lift { n }),
        (1..4usize).prop_map(|org| Step::Join { org }),
        (1..4usize).prop_map(|org| Step::Leave { org }),
        (0..4usize, 0..4usize).prop_map(|(by, k)| Step::Write { by, k }),
    ]
}

struct Case {
    name: String,
    clients: HashMap<&'static str, PlanClient>,
    consents: Vec<(&'static str, String)>,
    objections: Vec<(&'static str, String)>,
}

impl Case {
    /// Applies one step; a refusal (the step did not make sense in that state) is not an error.
    async fn apply(&mut self, step: &Step) -> anyhow::Result<()> {
        let (by, command) = match *step {
            Step::Consent { by, to } | Step::Object { by, to } => {
                let (by, to) = (ORGS[by], ORGS[to]);
                let categories: Vec<i32> = held(by).iter().map(|c| *c as i32).collect();
                let command = if matches!(step, Step::Consent { .. }) {
                    Command::RecordConsent(pb::RecordConsent {
                        recipient_organisation_id: to.into(),
                        categories,
                        given_by: pb::ConsentGiver::Citizen as i32,
                        form: pb::ConsentForm::Oral as i32,
                        given_on: hub_date(0),
                        valid_until: String::new(),
                        purpose: "koordinering".into(),
                        document_reference: String::new(),
                    })
                } else {
                    Command::RecordObjection(pb::RecordObjection {
                        recipient_organisation_id: to.into(),
                        categories,
                        given_by: pb::ConsentGiver::Citizen as i32,
                        given_on: hub_date(0),
                    })
                };
                (by, command)
            }
            Step::Withdraw { n } => match self.consents.get(n) {
                Some((by, id)) => (*by, withdraw_consent(id)),
                None => return Ok(()),
            },
            Step::Lift { n } => match self.objections.get(n) {
                Some((by, id)) => (
                    *by,
                    Command::WithdrawObjection(pb::WithdrawObjection { objection_id: id.clone(), reason: "ok".into() }),
                ),
                None => return Ok(()),
            },
            Step::Join { org } => {
                let org = ORGS[org];
                if org == ADDICTION {
                    let _ = join(self.client(org), CPR, "henvist").await;
                } else {
                    let name = self.name.clone();
                    let _ = invite(self.client(WARD), &name, org, "borgerens samtykke").await;
                }
                return Ok(());
            }
            Step::Leave { org } => {
                let org = ORGS[org];
                let name = self.name.clone();
                let ward = self.client(WARD);
                let plan = ward.get_plan(pb::GetPlanRequest { name: name.clone() }).await?.into_inner().plan;
                let plan = plan.ok_or_else(|| anyhow::anyhow!("plan"))?;
                let Some(member) = plan.care_team.iter().find(|m| m.organisation_id == org && m.end_date.is_empty())
                else {
                    return Ok(());
                };
                let end = pb::EndCareTeamMembership { member_id: member.member_id.clone(), end_date: hub_date(0) };
                let _ = apply(ward, &name, plan.version, Command::EndCareTeamMembership(end)).await;
                return Ok(());
            }
            Step::Write { by, k } => {
                let by = ORGS[by];
                let category = held(by).get(k).copied().unwrap_or(C::Goals);
                (by, Command::AddGoal(pb::AddGoal { text: "et mål".into(), category: category as i32 }))
            }
        };
        let name = self.name.clone();
        let client = self.client(by);
        let Ok(plan) = client.get_plan(pb::GetPlanRequest { name: name.clone() }).await else { return Ok(()) };
        let version = plan.into_inner().plan.map_or(0, |p| p.version);
        if let Ok(response) = client.change_plan(change(&name, version, "", command)).await {
            for event in response.into_inner().events {
                match event.event {
                    Some(pb::plan_event::Event::ConsentRecorded(c)) => {
                        self.consents.push((by, c.consent.map(|c| c.consent_id).unwrap_or_default()));
                    }
                    Some(pb::plan_event::Event::ObjectionRecorded(o)) => {
                        self.objections.push((by, o.objection.map(|o| o.objection_id).unwrap_or_default()));
                    }
                    _ => {}
                }
            }
        }
        Ok(())
    }

    fn client(&mut self, org: &str) -> &mut PlanClient {
        self.clients.get_mut(org).expect("client")
    }
}

/// The categories `org` may see of the plan now (none when it is not on the team).
async fn visible(client: &mut PlanClient, name: &str) -> Vec<i32> {
    match client.get_plan(pb::GetPlanRequest { name: name.into() }).await {
        Ok(response) => response.into_inner().plan.map(|p| p.visible_categories).unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

async fn run(t: &TestHub, steps: &[Step]) -> anyhow::Result<()> {
    let mut clients = HashMap::new();
    for org in ORGS {
        clients.insert(org, t.client(org).await?);
    }
    let head = t.hub.store.durable_position();
    let mut feeds: HashMap<&str, Subscription> = HashMap::new();
    for org in ORGS {
        feeds.insert(org, subscribe(clients.get_mut(org).expect("client"), head, &format!("{org}-prop")).await?);
    }
    let (name, _) = create_plan(clients.get_mut(WARD).expect("ward"), CPR).await?;
    let mut case = Case { name: name.clone(), clients, consents: Vec::new(), objections: Vec::new() };

    // After every step, every feed has caught up (its decisions were made on
    // the plan as it now is), and each organisation's read is taken.
    let mut delivered: HashMap<&str, Vec<u64>> = HashMap::new();
    let mut seen_at: Vec<(u64, HashMap<&str, Vec<i32>>)> = Vec::new();
    for step in [Step::Write { by: 0, k: 9 }].iter().chain(steps) {
        case.apply(step).await?;
        let position = t.hub.store.durable_position();
        let mut seen = HashMap::new();
        for org in ORGS {
            let events = events_until(feeds.get_mut(org).expect("feed"), position).await?;
            delivered
                .entry(org)
                .or_default()
                .extend(events.iter().filter(|e| e.plan == name).map(|e| e.global_position));
            seen.insert(org, visible(case.client(org), &name).await);
        }
        seen_at.push((position, seen));
    }

    // Every event of the plan, with all it reveals, as an emergency access shows them.
    let last = t.hub.store.durable_position();
    let mut reviewer = t.hub.plan_client(WARD, "gennemgang-1", "PHYSICIAN").await?;
    let request = pb::RequestEmergencyAccessRequest {
        cpr: CPR.into(),
        justification: "gennemgang".into(),
        request_id: String::new(),
    };
    reviewer.request_emergency_access(request).await?;
    let all = reviewer.export_plan(pb::ExportPlanRequest { name: name.clone() }).await?.into_inner().events;
    for org in ORGS {
        let expected: Vec<u64> = all
            .iter()
            .filter(|e| e.global_position <= last)
            .filter(|e| {
                let seen = &seen_at.iter().find(|(position, _)| *position >= e.global_position).expect("a step").1[org];
                e.categories.iter().all(|c| seen.contains(c))
            })
            .map(|e| e.global_position)
            .collect();
        let got = delivered.remove(org).unwrap_or_default();
        anyhow::ensure!(got == expected, "{org} was delivered {got:?}, its reads showed {expected:?}");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_subscription_delivers_what_get_plan_showed_at_each_events_time() -> anyhow::Result<()> {
    let mut runner = TestRunner::new(Config { cases: 12, ..Config::default() });
    let steps = proptest::collection::vec(step(), 4..14);
    for case in 0..12 {
        let t = TestHub::start_configured("[subscriptions]\nheartbeat_ms = 20\n").await?;
        let sequence = steps.new_tree(&mut runner).map_err(|e| anyhow::anyhow!("{e}"))?.current();
        run(&t, &sequence).await.map_err(|e| anyhow::anyhow!("case {case}, steps {sequence:?}: {e}"))?;
        t.stop().await?;
    }
    Ok(())
}
