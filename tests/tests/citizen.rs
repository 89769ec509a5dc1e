//! The citizen's own channel, over real mTLS with the citizen portal's
//! signed assertions: the citizen reads all of their plan and its access log
//! and does each thing that is theirs — every one an event authored by the
//! citizen and audited — and learns nothing of another citizen's plan:
//! every answer about it is the answer about a plan that does not exist.

use anyhow::Context;
use samplan_hub::client::{PlanClient, Professional, connect, plan_client};
use samplan_hub::pki::CITIZEN_PORTAL;
use samplan_proto::v1 as pb;
use samplan_services::domain::Decision;
use samplan_tests::*;
use tonic::Code;

use pb::change_plan_request::Command;

type TestResult = anyhow::Result<()>;

/// Another citizen, with a plan of their own.
const OTHER_CPR: &str = "0202851234";
/// A citizen with no plan.
const NO_PLAN_CPR: &str = "0303771234";

async fn citizen(t: &TestHub, cpr: &str) -> anyhow::Result<PlanClient> {
    t.hub.citizen_client("mitid-7f3a", "CITIZEN", cpr).await
}

/// `command` by `client` on the plan as it sees it now, tagged `tag` for the audit log.
async fn act(
    client: &mut PlanClient,
    name: &str,
    tag: &str,
    command: Command,
) -> anyhow::Result<pb::ChangePlanResponse> {
    let version = version_of(client, name).await?;
    let response = client.change_plan(tagged(change(name, version, "", command), tag)).await.context(tag.to_owned())?;
    Ok(response.into_inner())
}

async fn plan(client: &mut PlanClient, name: &str) -> anyhow::Result<pb::Plan> {
    client.get_plan(pb::GetPlanRequest { name: name.into() }).await?.into_inner().plan.context("plan")
}

/// A dual-diagnosis plan: the ward and the addiction service own their
/// sections and have both signed the koordinerende indsatsplan; social
/// services and the job centre are on the team; a discharge is planned under
/// an udskrivningsaftale.
async fn dual_diagnosis_plan(t: &TestHub) -> anyhow::Result<String> {
    let mut ward = t.client(WARD).await?;
    let mut addiction = t.client(ADDICTION).await?;
    let (name, _) = create_plan(&mut ward, CPR).await?;
    invite(&mut ward, &name, SOCIAL, "udskrivningsaftale, psykiatriloven § 13 a").await?;
    invite(&mut ward, &name, JOB, "sygedagpenge, beskæftigelsesloven").await?;
    join(&mut addiction, CPR, "henvist til misbrugsbehandling").await?;
    apply_now(&mut ward, &name, take_section(pb::SectionKind::Psychiatry)).await?;
    apply_now(&mut addiction, &name, take_section(pb::SectionKind::Addiction)).await?;
    let psychiatric_goal = Command::AddGoal(pb::AddGoal {
        text: "færre stemmer om natten".into(),
        category: pb::DataCategory::Psychiatric as i32,
    });
    apply_now(&mut ward, &name, psychiatric_goal).await?;
    let start = Command::StartIndsatsplan(pb::StartIndsatsplan { next_meeting_date: hub_date(60) });
    apply_now(&mut ward, &name, start).await?;
    let kip = pb::LegalPlanType::KoordinerendeIndsatsplan;
    let action = add_activity(pb::SectionKind::Psychiatry, "medicinsk behandling", kip, "aut-4471");
    apply_now(&mut ward, &name, action).await?;
    for client in [&mut ward, &mut addiction] {
        apply_now(client, &name, Command::SignIndsatsplan(pb::SignIndsatsplan { version: 2 })).await?;
    }
    // The udskrivningsaftale makes social services party to the discharge (psykiatriloven § 13 a).
    apply_now(&mut ward, &name, udskrivningsaftale()).await?;
    let planned = Command::RecordMilestone(pb::RecordMilestone {
        milestone: pb::MilestoneKind::DischargePlanned as i32,
        occurred_on: hub_date(0),
        expected_discharge_date: hub_date(7),
        ..Default::default()
    });
    apply_now(&mut ward, &name, planned).await?;
    Ok(name)
}

on_both_engines! {
    async fn the_citizen_reads_and_acts_on_their_own_plan_each_act_theirs_and_audited() -> TestResult {
        let t = TestHub::start().await?;
        let name = dual_diagnosis_plan(&t).await?;
        let mut me = citizen(&t, CPR).await?;
        let mut job = t.client(JOB).await?;
        let mut addiction = t.client(ADDICTION).await?;

        // The whole plan, found by their own CPR number; its log and its access log.
        let found = me.lookup_plan(pb::LookupPlanRequest { cpr: CPR.into() }).await?.into_inner().plan.context("plan")?;
        assert_eq!(found.name, name);
        let whole = plan(&mut me, &name).await?;
        assert!(whole.goals.iter().any(|g| g.category == pb::DataCategory::Psychiatric as i32), "health goals too");
        assert_eq!(whole.sections.len(), 2, "both health sections");
        assert!(whole.indsatsplan.is_some() && whole.discharge.is_some());
        let log = me.list_plan_events(pb::ListPlanEventsRequest { parent: name.clone(), ..Default::default() }).await?;
        assert!(
            log.into_inner().events.iter().any(|e| matches!(e.event, Some(pb::plan_event::Event::IndsatsplanSigned(_))))
        );
        let access = me
            .list_plan_access(tagged(pb::ListPlanAccessRequest { parent: name.clone(), ..Default::default() }, "min-log"))
            .await?
            .into_inner();
        let organisations: Vec<&str> = access.entries.iter().map(|e| e.organisation_id.as_str()).collect();
        assert!(organisations.contains(&WARD) && organisations.contains(&ADDICTION), "{organisations:?}");
        assert!(access.entries.iter().any(|e| e.organisation_id == CITIZEN_PORTAL && e.action == "GetPlan"));

        // A consent for the job centre: it sees the psychiatric goal, until the citizen withdraws it.
        let for_job = Command::RecordConsent(pb::RecordConsent {
            given_by: pb::ConsentGiver::Citizen as i32,
            form: pb::ConsentForm::Written as i32,
            document_reference: "borgerportal-kvittering-118".into(),
            given_on: hub_date(0),
            ..match consent(JOB, &[pb::DataCategory::Psychiatric], "jobafklaring", "-") {
                Command::RecordConsent(c) => c,
                _ => unreachable!(),
            }
        });
        let consented = act(&mut me, &name, "consent", for_job).await?;
        let consent_id = added_id(&consented)?;
        let psychiatric = |p: &pb::Plan| p.goals.iter().any(|g| g.category == pb::DataCategory::Psychiatric as i32);
        assert!(psychiatric(&plan(&mut job, &name).await?), "the job centre sees it under the consent");
        act(&mut me, &name, "withdraw-consent", withdraw_consent(&consent_id)).await?;
        assert!(!psychiatric(&plan(&mut job, &name).await?), "withdrawn at once");

        // An objection: the addiction service stops seeing psychiatric information at once; then lifted.
        let object = Command::RecordObjection(pb::RecordObjection {
            recipient_organisation_id: ADDICTION.into(),
            categories: vec![pb::DataCategory::Psychiatric as i32],
            given_by: pb::ConsentGiver::Citizen as i32,
            given_on: hub_date(0),
        });
        let objection_id = added_id(&act(&mut me, &name, "objection", object).await?)?;
        assert!(!psychiatric(&plan(&mut addiction, &name).await?), "the objection holds at once");
        let lift = Command::WithdrawObjection(pb::WithdrawObjection { objection_id, reason: "ombestemt".into() });
        act(&mut me, &name, "withdraw-objection", lift).await?;
        assert!(psychiatric(&plan(&mut addiction, &name).await?));

        // Their own goals, in their words; an advance statement.
        let goal_id = added_id(&act(&mut me, &name, "goal", add_goal("et arbejde med dyr")).await?)?;
        let revise = Command::ReviseGoal(pb::ReviseGoal { goal_id, text: "et arbejde med heste".into() });
        act(&mut me, &name, "revise-goal", revise).await?;
        let statement = Command::RecordAdvanceStatement(pb::RecordAdvanceStatement {
            occasion: pb::AdvanceStatementOccasion::Admission as i32,
            text: "Ring til min søster, hvis jeg bliver indlagt.".into(),
            supersedes: String::new(),
        });
        act(&mut me, &name, "advance-statement", statement).await?;

        // The indsatsplan, signed by both sides, is agreed once the citizen accepts it.
        let before = plan(&mut me, &name).await?.indsatsplan.context("indsatsplan")?;
        assert!(!before.agreed, "both sides signed; the citizen has not accepted");
        let accept = Command::AcceptIndsatsplan(pb::AcceptIndsatsplan { version: before.version });
        act(&mut me, &name, "accept-indsatsplan", accept).await?;
        let after = plan(&mut addiction, &name).await?.indsatsplan.context("indsatsplan")?;
        assert!(after.agreed && after.citizen_accepted_version == before.version);

        // A network meeting before the discharge.
        act(
            &mut me,
            &name,
            "network-meeting",
            Command::AskForNetworkMeeting(pb::AskForNetworkMeeting { asked_by: pb::NetworkMeetingAsker::Citizen as i32 }),
        )
        .await?;
        let discharge = plan(&mut t.client(SOCIAL).await?, &name).await?.discharge.context("discharge")?;
        assert_eq!(discharge.network_meeting_asked_date, hub_date(0), "social services, who call it, are told");

        // What is not theirs to write is refused with a reason.
        let close = Command::ClosePlan(pb::ClosePlan { reason: "jeg vil ikke mere".into() });
        let refused = act(&mut me, &name, "close", close).await.expect_err("not the citizen's");
        let status = refused.downcast_ref::<tonic::Status>().context("a status")?;
        assert_eq!(status.code(), Code::PermissionDenied);
        assert_eq!(error_info(status).map(|(r, _)| r).as_deref(), Some("NOT_FOR_THE_CITIZEN"));

        // Every act is an event authored by the citizen through their portal, and audited as theirs.
        let acts = [
            "consent",
            "withdraw-consent",
            "objection",
            "withdraw-objection",
            "goal",
            "revise-goal",
            "advance-statement",
            "accept-indsatsplan",
            "network-meeting",
        ];
        let audit = audit_by_correlation(&t.hub).await?;
        let events = me.export_plan(pb::ExportPlanRequest { name: name.clone() }).await?.into_inner().events;
        for tag in acts {
            let entry = audit.get(tag).with_context(|| format!("{tag} audited"))?;
            let actor = entry.actor.as_ref().context("actor")?;
            assert_eq!((actor.organisation.as_str(), actor.professional.as_str()), (CITIZEN_PORTAL, "mitid-7f3a"), "{tag}");
            assert_eq!(entry.decision, Decision::Allowed, "{tag}");
            assert!(entry.legal_ground.contains("the citizen"), "{tag}: {}", entry.legal_ground);
            let authored = events.iter().filter(|e| e.correlation_id == tag).collect::<Vec<_>>();
            assert!(!authored.is_empty(), "{tag}: an event");
            for event in authored {
                let by = event.actor.as_ref().context("the citizen is named to themselves")?;
                assert_eq!(
                    (by.organisation_id.as_str(), by.sector, by.role),
                    (CITIZEN_PORTAL, pb::Sector::Citizen as i32, pb::ProfessionalRole::Citizen as i32),
                    "{tag}"
                );
            }
        }
        assert!(matches!(audit["close"].decision, Decision::Denied { .. }), "refusals are audited too");
        t.stop().await
    }
}

/// A refusal as the caller sees it: code, message and details.
fn seen(result: Result<impl std::fmt::Debug, tonic::Status>) -> (Code, String, Vec<u8>) {
    let status = result.expect_err("refused");
    (status.code(), status.message().to_owned(), status.details().to_vec())
}

on_both_engines! {
    async fn another_citizens_plan_answers_exactly_as_a_plan_that_does_not_exist() -> TestResult {
        let t = TestHub::start().await?;
        let mine = dual_diagnosis_plan(&t).await?;
        let mut ward = t.client(WARD).await?;
        let (theirs, _) = create_plan(&mut ward, OTHER_CPR).await?;
        let nowhere = "plans/6f1c2a9e-3b7d-4c55-9a0e-2d4b8e7f1a30".to_owned();
        let mut me = citizen(&t, CPR).await?;

        let get = |name: String| pb::GetPlanRequest { name };
        let events = |parent: String| pb::ListPlanEventsRequest { parent, ..Default::default() };
        let access = |parent: String| pb::ListPlanAccessRequest { parent, ..Default::default() };
        let export = |name: String| pb::ExportPlanRequest { name };
        let goal = |name: &str| change(name, 256, "", add_goal("læse hans plan"));
        for (rpc, a, b) in [
            ("GetPlan", seen(me.get_plan(get(theirs.clone())).await), seen(me.get_plan(get(nowhere.clone())).await)),
            (
                "ListPlanEvents",
                seen(me.list_plan_events(events(theirs.clone())).await),
                seen(me.list_plan_events(events(nowhere.clone())).await),
            ),
            (
                "ListPlanAccess",
                seen(me.list_plan_access(access(theirs.clone())).await),
                seen(me.list_plan_access(access(nowhere.clone())).await),
            ),
            (
                "ExportPlan",
                seen(me.export_plan(export(theirs.clone())).await),
                seen(me.export_plan(export(nowhere.clone())).await),
            ),
            ("ChangePlan", seen(me.change_plan(goal(&theirs)).await), seen(me.change_plan(goal(&nowhere)).await)),
            (
                "LookupPlan",
                seen(me.lookup_plan(pb::LookupPlanRequest { cpr: OTHER_CPR.into() }).await),
                seen(me.lookup_plan(pb::LookupPlanRequest { cpr: NO_PLAN_CPR.into() }).await),
            ),
            (
                "CreatePlan",
                seen(
                    me.create_plan(pb::CreatePlanRequest {
                        cpr: OTHER_CPR.into(),
                        reason: "se".into(),
                        ..Default::default()
                    })
                    .await,
                ),
                seen(
                    me.create_plan(pb::CreatePlanRequest {
                        cpr: NO_PLAN_CPR.into(),
                        reason: "se".into(),
                        ..Default::default()
                    })
                    .await,
                ),
            ),
            (
                "RequestEmergencyAccess",
                seen(
                    me.request_emergency_access(pb::RequestEmergencyAccessRequest {
                        cpr: OTHER_CPR.into(),
                        justification: "akut".into(),
                        ..Default::default()
                    })
                    .await,
                ),
                seen(
                    me.request_emergency_access(pb::RequestEmergencyAccessRequest {
                        cpr: NO_PLAN_CPR.into(),
                        justification: "akut".into(),
                        ..Default::default()
                    })
                    .await,
                ),
            ),
        ] {
            assert_eq!(a, b, "{rpc}: another citizen's plan answers as none");
        }
        let (code, _, _) = seen(me.get_plan(get(theirs.clone())).await);
        assert_eq!(code, Code::NotFound);

        // Their own plan's clocks and events only; nothing of the other plan.
        for plan in [&mine, &theirs] {
            let referral = Command::RecordMilestone(pb::RecordMilestone {
                milestone: pb::MilestoneKind::ReferredForAssessment as i32,
                occurred_on: hub_date(0),
                ..Default::default()
            });
            apply_now(&mut ward, plan, referral).await?;
        }
        let clocks = me.list_clocks(pb::ListClocksRequest::default()).await?.into_inner().clocks;
        assert!(!clocks.is_empty() && clocks.iter().all(|c| c.plan == mine), "{clocks:?}");

        // Request ids are each citizen's own: the same id on two citizens' plans
        // is two requests; replaying another citizen's request answers as for none.
        let mut other = t.hub.citizen_client("mitid-b2", "CITIZEN", OTHER_CPR).await?;
        let mine_now = version_of(&mut me, &mine).await?;
        let theirs_now = version_of(&mut other, &theirs).await?;
        me.change_plan(change(&mine, mine_now, "goal-1", add_goal("sove om natten"))).await?;
        other.change_plan(change(&theirs, theirs_now, "goal-1", add_goal("sove om natten"))).await?;
        let replayed = seen(other.change_plan(change(&mine, mine_now, "goal-1", add_goal("sove om natten"))).await);
        assert_eq!(replayed, seen(other.change_plan(change(&nowhere, mine_now, "goal-1", add_goal("x"))).await));

        // The other citizen's access log tells that the portal looked, never who.
        let access = pb::ListPlanAccessRequest { parent: theirs.clone(), page_size: 1000, ..Default::default() };
        let log = other.list_plan_access(access).await?.into_inner().entries;
        let looked = log.iter().find(|e| e.organisation_id == CITIZEN_PORTAL && e.action == "LookupPlan" && !e.allowed);
        assert_eq!(looked.map(|e| e.professional_id.as_str()), Some("portal-user"), "{log:?}");
        assert!(log.iter().all(|e| e.professional_id != "mitid-7f3a" && e.professional_id != "mitid-b2"));

        // A citizen with no plan is told of none, their own included.
        let mut planless = citizen(&t, NO_PLAN_CPR).await?;
        assert_eq!(seen(planless.get_plan(get(mine.clone())).await), seen(planless.get_plan(get(nowhere.clone())).await));
        t.stop().await
    }

    async fn a_citizen_assertion_must_prove_the_citizen_and_nothing_else() -> TestResult {
        let t = TestHub::start().await?;
        let mut ward = t.client(WARD).await?;
        create_plan(&mut ward, CPR).await?;
        let portal = t.hub.minter(CITIZEN_PORTAL)?;
        let ward_minter = t.hub.minter(WARD)?;
        let citizen_claims = || portal.citizen_claims("mitid-7f3a", "CITIZEN", CPR, 600);
        let no_cpr = samplan_services::assertion::Claims { cpr: None, ..citizen_claims() };
        let bad_cpr = samplan_services::assertion::Claims { cpr: Some("3213001234".into()), ..citizen_claims() };
        let physician = samplan_services::assertion::Claims { role: "PHYSICIAN".into(), ..citizen_claims() };
        let cpr_as_sub = portal.citizen_claims(CPR, "CITIZEN", CPR, 600);
        let professional_with_cpr = samplan_services::assertion::Claims {
            cpr: Some(CPR.into()),
            ..ward_minter.claims("aut-4471", "PHYSICIAN", 600)
        };
        let cases = [
            ("no-cpr", CITIZEN_PORTAL, portal.sign(&no_cpr)?, "TOKEN_CLAIMS_INVALID"),
            ("bad-cpr", CITIZEN_PORTAL, portal.sign(&bad_cpr)?, "TOKEN_CLAIMS_INVALID"),
            ("professional-role", CITIZEN_PORTAL, portal.sign(&physician)?, "ROLE_NOT_IN_SECTOR"),
            ("cpr-as-subject", CITIZEN_PORTAL, portal.sign(&cpr_as_sub)?, "TOKEN_CLAIMS_INVALID"),
            ("professional-naming-a-citizen", WARD, ward_minter.sign(&professional_with_cpr)?, "TOKEN_CLAIMS_INVALID"),
            ("citizen-token-from-a-ward", WARD, portal.sign(&citizen_claims())?, "TOKEN_UNKNOWN_KEY"),
        ];
        for (case, organisation, token, reason) in cases {
            let channel = connect(t.hub.addr, &t.hub.pki.ca_pem, &t.hub.identity(organisation)?).await?;
            let mut client = plan_client(channel, Professional::bearer_token(&token)?);
            let refused =
                client.lookup_plan(tagged(pb::LookupPlanRequest { cpr: CPR.into() }, case)).await.expect_err(case);
            assert_eq!(refused.code(), Code::Unauthenticated, "{case}: {refused:?}");
            assert_eq!(error_info(&refused).map(|(r, _)| r).as_deref(), Some(reason), "{case}");
            assert_eq!(denied_reason(&t.hub, case).await?, reason, "{case} is audited");
        }
        t.stop().await?;

        // Development headers never stand for a citizen.
        let t = TestHub::start_edited(|c| c.replace("mode = \"signed\"", "mode = \"development-headers\"")).await?;
        let channel = connect(t.hub.addr, &t.hub.pki.ca_pem, &t.hub.identity(CITIZEN_PORTAL)?).await?;
        let mut client = plan_client(channel, Professional::new("mitid-7f3a", "CITIZEN")?);
        let refused = client.lookup_plan(pb::LookupPlanRequest { cpr: CPR.into() }).await.expect_err("headers");
        assert_eq!(error_info(&refused).map(|(r, _)| r).as_deref(), Some("CITIZEN_ASSERTION_REQUIRED"));
        t.stop().await
    }
}
