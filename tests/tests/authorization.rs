//! The authorization matrix: every sector × professional role × relation to
//! the citizen (on the care team / has left it) × consent state (given / none /
//! withdrawn) × data category × action (read / export / write / subscribe),
//! through the real gRPC stack, checking the decision and the audit record of
//! every call.
//!
//! The expected outcomes are written out here, from the rules as README.md
//! states them, independently of the policy table in the code.

use std::collections::HashMap;

use samplan_hub::client::PlanClient;
use samplan_proto::v1 as pb;
use samplan_proto::v1::change_plan_request::Command;
use samplan_services::domain::{DataCategory, Decision};
use samplan_tests::*;
use tonic::Code;

const SECTORS: [&str; 4] = [WARD, SOCIAL, JOB, ADDICTION];
const ROLES: [&str; 9] = [
    "PHYSICIAN",
    "NURSE",
    "PSYCHOLOGIST",
    "SOCIAL_WORKER",
    "JOB_CONSULTANT",
    "ADDICTION_COUNSELLOR",
    "MENTOR",
    "SECRETARY",
    "AUDITOR",
];
const CATEGORIES: [pb::DataCategory; 6] = [
    pb::DataCategory::PlanAndContact,
    pb::DataCategory::Goals,
    pb::DataCategory::Psychiatric,
    pb::DataCategory::SubstanceAbuse,
    pb::DataCategory::Social,
    pb::DataCategory::Employment,
];

#[derive(Clone, Copy, Debug, PartialEq)]
enum Relation {
    OnTeam,
    Left,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Consent {
    Given,
    None,
    Withdrawn,
}

/// What a call should get.
#[derive(Clone, Debug, PartialEq)]
enum Expected {
    /// Answered, disclosing or writing these categories.
    Allowed(Vec<pb::DataCategory>),
    Refused(Code),
}

fn health(c: pb::DataCategory) -> bool {
    matches!(c, pb::DataCategory::Psychiatric | pb::DataCategory::SubstanceAbuse)
}

/// Reading (and exporting): outsiders learn nothing; auditors read access
/// logs, not plans; secretaries see the plan and its contact person only;
/// health services see everything of a plan they treat; the job centre and
/// social services see health items only under the citizen's consent.
fn expected_read(org: &str, role: &str, relation: Relation, consent: Consent) -> Expected {
    if relation == Relation::Left {
        return Expected::Refused(Code::NotFound);
    }
    match role {
        "AUDITOR" => Expected::Refused(Code::PermissionDenied),
        "SECRETARY" => Expected::Allowed(vec![pb::DataCategory::PlanAndContact]),
        _ => Expected::Allowed(
            CATEGORIES
                .into_iter()
                .filter(|c| matches!(org, WARD | ADDICTION) || !health(*c) || consent == Consent::Given)
                .collect(),
        ),
    }
}

/// Subscribing follows every plan at once: auditors are refused the stream
/// whatever their relation to one plan; of a plan whose team the organisation
/// left it gets nothing; otherwise what a read would show.
fn expected_subscribe(org: &str, role: &str, relation: Relation, consent: Consent) -> Expected {
    match (role, relation) {
        ("AUDITOR", _) => Expected::Refused(Code::PermissionDenied),
        (_, Relation::Left) => Expected::Allowed(Vec::new()),
        _ => expected_read(org, role, relation, consent),
    }
}

/// Writing an item of `category` outside the sections: only what the sector
/// sees as a member (consent and current treatment let one read, not write);
/// secretaries only the plan and contact; auditors nothing.
fn expected_write(org: &str, role: &str, relation: Relation, category: pb::DataCategory) -> Expected {
    if relation == Relation::Left {
        return Expected::Refused(Code::NotFound);
    }
    let own = match org {
        WARD => category != pb::DataCategory::SubstanceAbuse,
        ADDICTION => category != pb::DataCategory::Psychiatric,
        _ => !health(category),
    };
    let allowed = match role {
        "AUDITOR" => false,
        "SECRETARY" => category == pb::DataCategory::PlanAndContact,
        _ => own,
    };
    if allowed { Expected::Allowed(vec![category]) } else { Expected::Refused(Code::PermissionDenied) }
}

fn write_command(category: pb::DataCategory) -> Command {
    match category {
        pb::DataCategory::PlanAndContact => Command::RegisterRelative(pb::RegisterRelative {
            name: "Hanne".into(),
            relation: "søster".into(),
            involvement: pb::RelativeInvolvement::Full as i32,
        }),
        other => Command::AddGoal(pb::AddGoal { text: "et mål".into(), category: other as i32 }),
    }
}

/// One plan in the matrix: the viewing organisation's relation and consent.
struct Setup {
    viewer: &'static str,
    relation: Relation,
    consent: Consent,
    name: String,
    version: u64,
}

/// Builds a plan with an item of every category: each sector owns its section
/// with an activity; a goal and a relative; a contact person from another
/// organisation than the viewer; the viewer's consent state; then, for
/// `Left`, the viewer's memberships ended today.
async fn setup(
    clients: &mut HashMap<&'static str, PlanClient>,
    cpr: &str,
    viewer: &'static str,
    relation: Relation,
    consent: Consent,
) -> anyhow::Result<Setup> {
    let mut version = 0;
    let mut name = String::new();
    for (org, reason) in [(WARD, "indlagt"), (SOCIAL, "bostøtte"), (JOB, "sygedagpenge"), (ADDICTION, "henvist")] {
        (name, version) = join(clients.get_mut(org).expect("client"), cpr, reason).await?;
    }
    use pb::{LegalPlanType as L, SectionKind as S};
    let coordinator = if viewer == WARD { ADDICTION } else { WARD };
    let mut steps = vec![];
    for (org, section, legal) in [
        (WARD, S::Psychiatry, L::Behandlingsplan),
        (ADDICTION, S::Addiction, L::Behandlingsplan),
        (SOCIAL, S::Social, L::Handleplan),
        (JOB, S::Employment, L::Jobplan),
    ] {
        steps.push((org, take_section(section)));
        steps.push((org, add_activity(section, "en indsats", legal, "p-1")));
    }
    steps.push((WARD, write_command(pb::DataCategory::Goals)));
    steps.push((WARD, write_command(pb::DataCategory::PlanAndContact)));
    steps.push((
        coordinator,
        Command::AssignContactPerson(pb::AssignContactPerson {
            organisation_id: coordinator.into(),
            professional_id: "kontakt-1".into(),
        }),
    ));
    if consent != Consent::None {
        steps.push((coordinator, health_consent(viewer)));
    }
    if consent == Consent::Withdrawn {
        steps.push((coordinator, withdraw_consent("consent-1")));
    }
    for (org, command) in steps {
        version = apply(clients.get_mut(org).expect("client"), &name, version, command).await?;
    }
    if relation == Relation::Left {
        let coordinator_client = clients.get_mut(coordinator).expect("client");
        let plan = coordinator_client.get_plan(pb::GetPlanRequest { name: name.clone() }).await?.into_inner();
        let members: Vec<String> = plan
            .plan
            .expect("plan")
            .care_team
            .into_iter()
            .filter(|m| m.organisation_id == viewer)
            .map(|m| m.member_id)
            .collect();
        assert!(!members.is_empty(), "the coordinator sees the viewer's membership");
        for member_id in members {
            let end = pb::EndCareTeamMembership { member_id, end_date: hub_date(0) };
            version = apply(coordinator_client, &name, version, Command::EndCareTeamMembership(end)).await?;
        }
    }
    Ok(Setup { viewer, relation, consent, name, version })
}

fn categories_of(plan: &pb::Plan) -> Vec<pb::DataCategory> {
    plan.visible_categories.iter().filter_map(|c| pb::DataCategory::try_from(*c).ok()).collect()
}

/// The categories whose items are actually in a plan as returned, so that
/// `visible_categories` cannot claim what the plan does not hold, or hide what it does.
fn present(plan: &pb::Plan) -> Vec<pb::DataCategory> {
    let mut found: Vec<pb::DataCategory> = vec![pb::DataCategory::PlanAndContact];
    let sections = [
        (pb::SectionKind::Psychiatry, pb::DataCategory::Psychiatric),
        (pb::SectionKind::Addiction, pb::DataCategory::SubstanceAbuse),
        (pb::SectionKind::Social, pb::DataCategory::Social),
        (pb::SectionKind::Employment, pb::DataCategory::Employment),
    ];
    if !plan.goals.is_empty() {
        found.push(pb::DataCategory::Goals);
    }
    for (section, category) in sections {
        if plan.activities.iter().any(|a| a.section == section as i32) {
            found.push(category);
        }
    }
    found.sort_by_key(|c| *c as i32);
    found
}

fn domain_category(c: pb::DataCategory) -> DataCategory {
    DataCategory::ALL[(c as usize) - 1]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_sector_role_relation_consent_category_and_action() -> anyhow::Result<()> {
    let t = TestHub::start().await?;
    let mut helpers = HashMap::new();
    for org in SECTORS {
        helpers.insert(org, t.client(org).await?);
    }
    let mut plans = Vec::new();
    let mut day = 1;
    for viewer in SECTORS {
        for relation in [Relation::OnTeam, Relation::Left] {
            for consent in [Consent::Given, Consent::None, Consent::Withdrawn] {
                let cpr = format!("{day:02}0190{:04}", 1235);
                plans.push(setup(&mut helpers, &cpr, viewer, relation, consent).await?);
                day += 1;
            }
        }
    }

    // Every call: its correlation id and what it should have got.
    let mut calls: Vec<(String, &'static str, Expected)> = Vec::new();
    let mut failures = Vec::new();
    for (p, plan) in plans.iter_mut().enumerate() {
        for role in ROLES {
            let case = format!("{} {:?} consent {:?} {role}", plan.viewer, plan.relation, plan.consent);
            let mut client = t.hub.plan_client(plan.viewer, &format!("m-{}", role.to_lowercase()), role).await?;
            let want = expected_read(plan.viewer, role, plan.relation, plan.consent);

            let id = format!("read-{p}-{role}");
            let got = match client.get_plan(tagged(pb::GetPlanRequest { name: plan.name.clone() }, &id)).await {
                Ok(r) => {
                    let plan = r.into_inner().plan.expect("plan");
                    if categories_of(&plan) != present(&plan) {
                        failures.push(format!(
                            "{case}: read claims {:?}, holds {:?}",
                            categories_of(&plan),
                            present(&plan)
                        ));
                    }
                    Expected::Allowed(categories_of(&plan))
                }
                Err(status) => Expected::Refused(status.code()),
            };
            if got != want {
                failures.push(format!("{case}: read got {got:?}, want {want:?}"));
            }
            calls.push((id, "GetPlan", want.clone()));

            let id = format!("export-{p}-{role}");
            let got = match client.export_plan(tagged(pb::ExportPlanRequest { name: plan.name.clone() }, &id)).await {
                Ok(r) => {
                    let export = r.into_inner();
                    let seen = categories_of(export.plan.as_ref().expect("plan"));
                    if let Some(e) = export.events.iter().find(|e| !seen.iter().any(|c| *c as i32 == e.category)) {
                        failures.push(format!("{case}: export holds an event of category {}", e.category));
                    }
                    Expected::Allowed(seen)
                }
                Err(status) => Expected::Refused(status.code()),
            };
            if got != want {
                failures.push(format!("{case}: export got {got:?}, want {want:?}"));
            }
            calls.push((id, "ExportPlan", want));

            for category in CATEGORIES {
                let want = expected_write(plan.viewer, role, plan.relation, category);
                let id = format!("write-{p}-{role}-{}", category as i32);
                let request = change(&plan.name, plan.version, "", write_command(category));
                let got = match client.change_plan(tagged(request, &id)).await {
                    Ok(r) => {
                        plan.version = r.into_inner().version;
                        Expected::Allowed(vec![category])
                    }
                    Err(status) => Expected::Refused(status.code()),
                };
                if got != want {
                    failures.push(format!("{case}: write {category:?} got {got:?}, want {want:?}"));
                }
                calls.push((id, "ChangePlan", want));
            }
        }
    }

    // Subscribing: one stream per organisation and role follows the whole
    // log; of each plan it gets what a read would show, nothing of a plan
    // whose team it left, and auditors are refused.
    let last = t.hub.store.durable_position();
    let mut subscribed: Vec<(String, &Setup, Expected)> = Vec::new();
    for viewer in SECTORS {
        for role in ROLES {
            let id = format!("subscribe-{viewer}-{role}");
            let mut client = t.hub.plan_client(viewer, &format!("m-{}", role.to_lowercase()), role).await?;
            let events = match subscribe(&mut client, 0, &id).await {
                Ok(mut stream) => Ok(events_until(&mut stream, last).await?),
                Err(status) => Err(status.code()),
            };
            for plan in plans.iter().filter(|p| p.viewer == viewer) {
                let case = format!("{viewer} {:?} consent {:?} {role}", plan.relation, plan.consent);
                let want = expected_subscribe(viewer, role, plan.relation, plan.consent);
                let got = match &events {
                    Ok(events) => {
                        let mut categories: Vec<pb::DataCategory> = events
                            .iter()
                            .filter(|e| e.plan == plan.name)
                            .filter_map(|e| pb::DataCategory::try_from(e.category).ok())
                            .collect();
                        categories.sort_by_key(|c| *c as i32);
                        categories.dedup();
                        Expected::Allowed(categories)
                    }
                    Err(code) => Expected::Refused(*code),
                };
                if got != want {
                    failures.push(format!("{case}: subscribe got {got:?}, want {want:?}"));
                }
                subscribed.push((id.clone(), plan, want));
            }
        }
    }
    let records = t.hub.store.audit_records(1, usize::MAX)?;
    for (id, plan, want) in &subscribed {
        let of_stream: Vec<_> = records.iter().map(|r| &r.entry).filter(|e| &e.correlation_id == id).collect();
        let deliveries: Vec<_> =
            of_stream.iter().filter(|e| e.plan.map(|p| p.resource_name()).as_ref() == Some(&plan.name)).collect();
        let matches = match want {
            Expected::Allowed(categories) => {
                let mut audited: Vec<DataCategory> = deliveries.iter().flat_map(|e| e.categories.clone()).collect();
                audited.sort_by_key(|c| *c as u8);
                audited.dedup();
                of_stream.first().is_some_and(|e| e.plan.is_none() && e.decision == Decision::Allowed)
                    && audited == categories.iter().map(|c| domain_category(*c)).collect::<Vec<_>>()
                    && deliveries.iter().all(|e| e.action == "SubscribePlanEvents" && !e.legal_ground.is_empty())
            }
            Expected::Refused(_) => of_stream.len() == 1 && matches!(of_stream[0].decision, Decision::Denied { .. }),
        };
        if !matches {
            failures.push(format!("{id} {}: audit records {of_stream:?} for {want:?}", plan.name));
        }
    }

    // Each call left exactly the audit record it should have.
    let audit = audit_by_correlation(&t.hub)?;
    for (id, action, want) in &calls {
        let Some(entry) = audit.get(id) else {
            failures.push(format!("{id}: no audit record"));
            continue;
        };
        if !entry.action.starts_with(action) {
            failures.push(format!("{id}: audited as {}", entry.action));
        }
        let matches = match (want, &entry.decision) {
            (Expected::Allowed(categories), Decision::Allowed) => {
                entry.categories == categories.iter().map(|c| domain_category(*c)).collect::<Vec<_>>()
                    && !entry.legal_ground.is_empty()
            }
            (Expected::Refused(_), Decision::Denied { .. }) => entry.categories.is_empty(),
            _ => false,
        };
        if !matches {
            failures.push(format!("{id}: audit record {:?} {:?} for {want:?}", entry.decision, entry.categories));
        }
    }
    let cases = calls.len() + subscribed.len();
    assert!(failures.is_empty(), "{} of {cases} cases wrong:\n{}", failures.len(), failures.join("\n"));
    assert_eq!(cases, SECTORS.len() * 2 * 3 * ROLES.len() * (3 + CATEGORIES.len()));
    Ok(())
}
