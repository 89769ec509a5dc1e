//! The authorization matrix: every sector × professional role × situation of
//! the plan (no ground beyond the care team and current treatment, consent,
//! withdrawn consent, objection, statutory ground, emergency access, having
//! left the team) × data category × action (read, export, write, subscribe),
//! through the real gRPC stack with signed assertions of each organisation's
//! identity provider, checking what each call returned and what its audit
//! record says — the categories and the ground of each. A role the sector
//! does not have is refused at authentication.
//!
//! The expected outcomes are written out in `authorization/rules.rs`,
//! independently of the hub's ground table.

#[path = "authorization/rules.rs"]
mod rules;

use std::collections::HashMap;

use rules::{CATEGORIES, Expected, ROLES, SECTORS, SITUATIONS, Situation, authorised, holds, sector_has};
use samplan_hub::client::PlanClient;
use samplan_proto::v1 as pb;
use samplan_proto::v1::change_plan_request::Command;
use samplan_services::domain::{AuditEntry, DataCategory, Decision};
use samplan_tests::*;
use tonic::Code;

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

fn objection(recipient: &str, categories: &[pb::DataCategory]) -> Command {
    Command::RecordObjection(pb::RecordObjection {
        recipient_organisation_id: recipient.into(),
        categories: categories.iter().map(|c| *c as i32).collect(),
        given_by: pb::ConsentGiver::Citizen as i32,
        given_on: "2026-01-02".into(),
    })
}

/// One plan in the matrix: the viewing organisation and the plan's situation.
struct Setup {
    viewer: &'static str,
    situation: Situation,
    name: String,
    version: u64,
}

/// Builds a plan with an item of every category: the ward creates it and
/// invites social services and the job centre, the addiction service joins;
/// each owns its section with an activity; a goal, a relative, a planned
/// discharge; a contact person from another organisation than the viewer;
/// then what the situation adds.
async fn setup(
    clients: &mut HashMap<&'static str, PlanClient>,
    cpr: &str,
    viewer: &'static str,
    situation: Situation,
) -> anyhow::Result<Setup> {
    let ward = clients.get_mut(WARD).expect("ward");
    let (name, _) = join(ward, cpr, "indlagt").await?;
    invite(ward, &name, SOCIAL, "borgerens samtykke").await?;
    invite(ward, &name, JOB, "borgerens samtykke").await?;
    let (_, mut version) = join(clients.get_mut(ADDICTION).expect("addiction"), cpr, "henvist").await?;
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
        WARD,
        Command::RecordMilestone(pb::RecordMilestone {
            milestone: pb::MilestoneKind::DischargePlanned as i32,
            occurred_on: hub_date(0),
            expected_discharge_date: hub_date(5),
            ..Default::default()
        }),
    ));
    steps.push((
        coordinator,
        Command::AssignContactPerson(pb::AssignContactPerson {
            organisation_id: coordinator.into(),
            professional_id: "kontakt-1".into(),
        }),
    ));
    let others: Vec<&'static str> = SECTORS.into_iter().filter(|o| *o != viewer).collect();
    let held = |org: &str| -> Vec<pb::DataCategory> {
        holds(org)
            .into_iter()
            .filter(|c| !matches!(c, pb::DataCategory::PlanAndContact | pb::DataCategory::Goals))
            .collect()
    };
    if matches!(situation, Situation::Consent | Situation::ConsentWithdrawn | Situation::Objection) {
        for other in &others {
            steps.push((other, consent(viewer, &held(other), "koordinering", "")));
        }
    }
    if situation == Situation::Objection {
        for other in &others {
            steps.push((other, objection(viewer, &held(other))));
        }
    }
    if situation == Situation::Statutory {
        steps.push((WARD, add_activity(S::Psychiatry, "udskrivning", L::Udskrivningsaftale, "p-1")));
    }
    let mut consents = Vec::new();
    for (org, command) in steps {
        let is_consent = matches!(command, Command::RecordConsent(_));
        let response = apply_retrying(clients.get_mut(org).expect("client"), &name, version, command).await?;
        version = response.version;
        if is_consent {
            consents.push((org, added_id(&response)?));
        }
    }
    if situation == Situation::ConsentWithdrawn {
        for (org, consent_id) in consents {
            let withdraw = withdraw_consent(&consent_id);
            version = apply_retrying(clients.get_mut(org).expect("client"), &name, version, withdraw).await?.version;
        }
    }
    if situation == Situation::Left {
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
    Ok(Setup { viewer, situation, name, version })
}

fn categories_of(plan: &pb::Plan) -> Vec<pb::DataCategory> {
    plan.visible_categories.iter().filter_map(|c| pb::DataCategory::try_from(*c).ok()).collect()
}

/// The categories whose items are actually in a plan as returned, so that
/// `visible_categories` cannot claim what the plan does not hold, or hide what it does.
fn present(plan: &pb::Plan) -> Vec<pb::DataCategory> {
    use pb::DataCategory as C;
    let mut found = vec![C::PlanAndContact];
    let sections = [
        (pb::SectionKind::Psychiatry, C::Psychiatric),
        (pb::SectionKind::Addiction, C::SubstanceAbuse),
        (pb::SectionKind::Social, C::Social),
        (pb::SectionKind::Employment, C::Employment),
    ];
    if plan.goals.iter().any(|g| g.category == C::Goals as i32) {
        found.push(C::Goals);
    }
    for (section, category) in sections {
        if plan.activities.iter().any(|a| a.section == section as i32) {
            found.push(category);
        }
    }
    if plan.discharge.is_some() {
        found.push(C::DischargeCoordination);
    }
    found.sort_by_key(|c| *c as i32);
    found
}

fn domain_category(c: pb::DataCategory) -> DataCategory {
    DataCategory::ALL[(c as usize) - 1]
}

/// Whether `legal_ground` names, for each category, a ground holding its fragment.
fn grounds_match(legal_ground: &str, want: &[(pb::DataCategory, &str)]) -> bool {
    let parts: Vec<(Vec<&str>, &str)> = legal_ground
        .split("; ")
        .filter_map(|part| part.split_once(": "))
        .map(|(labels, text)| (labels.split(", ").collect(), text))
        .collect();
    let named: usize = parts.iter().map(|(labels, _)| labels.len()).sum();
    named == want.len()
        && want.iter().all(|(category, fragment)| {
            parts.iter().any(|(labels, text)| labels.contains(&rules::label(*category)) && text.contains(fragment))
        })
}

fn audited(
    entry: Option<&AuditEntry>,
    action: &str,
    want: &Expected,
    grounds: Option<&[(pb::DataCategory, &str)]>,
) -> Result<(), String> {
    let Some(entry) = entry else { return Err("no audit record".into()) };
    if !entry.action.starts_with(action) {
        return Err(format!("audited as {}", entry.action));
    }
    match (want, &entry.decision) {
        (Expected::Allowed(categories), Decision::Allowed) => {
            let same = entry.categories == categories.iter().map(|c| domain_category(*c)).collect::<Vec<_>>();
            let ground =
                grounds.is_none_or(|g| grounds_match(&entry.legal_ground, g)) && !entry.legal_ground.is_empty();
            if same && ground {
                Ok(())
            } else {
                Err(format!("audit {:?} on {:?}", entry.categories, entry.legal_ground))
            }
        }
        (Expected::Refused(_), Decision::Denied { .. }) if entry.categories.is_empty() => Ok(()),
        (_, decision) => Err(format!("audit decision {decision:?} {:?}", entry.categories)),
    }
}

on_both_engines! {
    async fn every_sector_role_situation_category_and_action() -> anyhow::Result<()> {
        let t = TestHub::start().await?;
        let mut helpers = HashMap::new();
        for org in SECTORS {
            helpers.insert(org, t.client(org).await?);
        }
        let mut plans = Vec::new();
        for (n, (viewer, situation)) in
            SECTORS.into_iter().flat_map(|v| SITUATIONS.into_iter().map(move |s| (v, s))).enumerate()
        {
            let cpr = format!("{:02}0190{:04}", n + 1, 1235);
            plans.push(setup(&mut helpers, &cpr, viewer, situation).await?);
        }

        let mut failures = Vec::new();
        let mut cases = 0;
        for (p, plan) in plans.iter_mut().enumerate() {
            for role in ROLES {
                let case = format!("{} {:?} {role}", plan.viewer, plan.situation);
                let mut client = t.hub.plan_client(plan.viewer, &format!("m-{}", role.to_lowercase()), role).await?;
                if plan.situation == Situation::Emergency {
                    let request = pb::RequestEmergencyAccessRequest {
                        cpr: format!("{:02}0190{:04}", p + 1, 1235),
                        justification: "akut forværring".into(),
                        request_id: String::new(),
                    };
                    match client.request_emergency_access(request).await {
                        Ok(granted) => plan.version = granted.into_inner().plan.expect("plan").version,
                        Err(status) if !authorised(plan.viewer, role) && status.code() == Code::PermissionDenied => {}
                        Err(status) if !sector_has(plan.viewer, role) && status.code() == Code::Unauthenticated => {}
                        Err(status) => failures.push(format!("{case}: emergency access answered {status:?}")),
                    }
                }
                let want = rules::read(plan.viewer, role, plan.situation);
                let grounds = rules::read_grounds(plan.viewer, role, plan.situation);
                let mut calls: Vec<(String, &str, Expected)> = Vec::new();

                let id = format!("read-{p}-{role}");
                let got = match client.get_plan(tagged(pb::GetPlanRequest { name: plan.name.clone() }, &id)).await {
                    Ok(r) => {
                        let shown = r.into_inner().plan.expect("plan");
                        // Each reader counts the versions of what it sees; its writes name that.
                        plan.version = shown.version;
                        if categories_of(&shown) != present(&shown) {
                            failures.push(format!(
                                "{case}: read claims {:?}, holds {:?}",
                                categories_of(&shown),
                                present(&shown)
                            ));
                        }
                        Expected::Allowed(categories_of(&shown))
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
                        if let Some(e) = export
                            .events
                            .iter()
                            .find(|e| e.categories.iter().any(|c| !seen.iter().any(|s| *s as i32 == *c)))
                        {
                            failures.push(format!("{case}: export holds an event of categories {:?}", e.categories));
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
                    let want = rules::write(plan.viewer, role, plan.situation, category);
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

                let audit = audit_by_correlation(&t.hub).await?;
                for (id, action, want) in &calls {
                    let grounds = (*action != "ChangePlan").then_some(grounds.as_slice());
                    if let Err(wrong) = audited(audit.get(id), action, want, grounds) {
                        failures.push(format!("{case} {id}: {wrong}"));
                    }
                }
                cases += calls.len();
            }
        }

        // Every event of every plan, as an emergency access shows them (all of them).
        let mut all_events: HashMap<String, Vec<pb::PlanEvent>> = HashMap::new();
        let mut reviewer = t.hub.plan_client(WARD, "revisor-1", "PHYSICIAN").await?;
        for (p, plan) in plans.iter().enumerate() {
            let request = pb::RequestEmergencyAccessRequest {
                cpr: format!("{:02}0190{:04}", p + 1, 1235),
                justification: "gennemgang af matricen".into(),
                request_id: String::new(),
            };
            reviewer.request_emergency_access(request).await?;
            let export = reviewer.export_plan(pb::ExportPlanRequest { name: plan.name.clone() }).await?.into_inner();
            all_events.insert(plan.name.clone(), export.events);
        }

        // Subscribing: one stream per organisation and role follows the whole
        // log; of each plan it gets exactly the events a read would let it see.
        let last = t.hub.store.durable_position();
        for viewer in SECTORS {
            for role in ROLES {
                let id = format!("subscribe-{viewer}-{role}");
                let mut client = t.hub.plan_client(viewer, &format!("m-{}", role.to_lowercase()), role).await?;
                let events = match subscribe(&mut client, 0, &id).await {
                    Ok(mut stream) => Ok(events_until(&mut stream, last).await?),
                    Err(status) => Err(status.code()),
                };
                let records = t.hub.store.audit_records(1, usize::MAX).await?;
                let of_stream: Vec<_> = records.iter().map(|r| &r.entry).filter(|e| e.correlation_id == id).collect();
                for plan in plans.iter().filter(|p| p.viewer == viewer) {
                    cases += 1;
                    let case = format!("{viewer} {:?} {role}", plan.situation);
                    let want = rules::subscribe(viewer, role, plan.situation);
                    let got = match &events {
                        Ok(events) => {
                            let delivered: Vec<u64> =
                                events.iter().filter(|e| e.plan == plan.name).map(|e| e.global_position).collect();
                            let allowed = match &want {
                                Expected::Allowed(categories) => categories.clone(),
                                Expected::Refused(_) => Vec::new(),
                            };
                            let expected: Vec<u64> = all_events[&plan.name]
                                .iter()
                                .filter(|e| e.global_position <= last)
                                .filter(|e| e.categories.iter().all(|c| allowed.iter().any(|a| *a as i32 == *c)))
                                .map(|e| e.global_position)
                                .collect();
                            if delivered != expected {
                                failures.push(format!("{case}: subscription delivered {delivered:?}, want {expected:?}"));
                            }
                            let mut categories: Vec<pb::DataCategory> = events
                                .iter()
                                .filter(|e| e.plan == plan.name)
                                .flat_map(|e| e.categories.iter().filter_map(|c| pb::DataCategory::try_from(*c).ok()))
                                .collect();
                            categories.sort_by_key(|c| *c as i32);
                            categories.dedup();
                            let deliveries: Vec<_> = of_stream
                                .iter()
                                .filter(|e| e.plan.map(|p| p.resource_name()).as_ref() == Some(&plan.name))
                                .collect();
                            let mut audited: Vec<DataCategory> =
                                deliveries.iter().flat_map(|e| e.categories.clone()).collect();
                            audited.sort_by_key(|c| *c as u8);
                            audited.dedup();
                            if audited != categories.iter().map(|c| domain_category(*c)).collect::<Vec<_>>()
                                || deliveries.iter().any(|e| e.legal_ground.is_empty() || e.action != "SubscribePlanEvents")
                            {
                                failures.push(format!("{case}: deliveries audited as {deliveries:?} for {categories:?}"));
                            }
                            if !allowed.is_empty() && categories.iter().any(|c| !allowed.contains(c)) {
                                failures
                                    .push(format!("{case}: subscription delivered {categories:?}, may see {allowed:?}"));
                            }
                            Ok(())
                        }
                        Err(code) => Err(*code),
                    };
                    match (got, &want) {
                        (Ok(()), Expected::Allowed(_)) => {}
                        (Err(code), Expected::Refused(want_code)) if code == *want_code => {
                            if !(of_stream.len() == 1 && matches!(of_stream[0].decision, Decision::Denied { .. })) {
                                failures.push(format!("{case}: refusal audited as {of_stream:?}"));
                            }
                        }
                        (got, want) => failures.push(format!("{case}: subscribe got {got:?}, want {want:?}")),
                    }
                }
            }
        }
        assert!(failures.is_empty(), "{} of {cases} cases wrong:\n{}", failures.len(), failures.join("\n"));
        assert_eq!(cases, SECTORS.len() * SITUATIONS.len() * ROLES.len() * (3 + CATEGORIES.len()));
        Ok(())
    }
}
