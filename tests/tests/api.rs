//! The plan API over real mTLS against the real hub on a pre-bound ephemeral port.

use samplan_hub::client::{Professional, connect, plan_client};
use samplan_proto::v1 as pb;
use samplan_proto::v1::change_plan_request::Command;
use samplan_tests::*;
use tonic::Code;

type TestResult = anyhow::Result<()>;

on_both_engines! {
    async fn one_plan_per_citizen_visible_only_to_its_care_team() -> TestResult {
        let t = TestHub::start().await?;
        let mut ward = t.client(WARD).await?;
        let (name, version) = create_plan(&mut ward, CPR).await?;
        assert_eq!(events_in(version), 1);

        let again = ward
            .create_plan(pb::CreatePlanRequest {
                cpr: "010190-1235".into(),
                request_id: String::new(),
                reason: "indlagt".into(),
            })
            .await?
            .into_inner();
        assert!(!again.created);
        assert_eq!(again.plan.as_ref().map(|p| p.name.as_str()), Some(name.as_str()));

        let found = ward.lookup_plan(pb::LookupPlanRequest { cpr: CPR.into() }).await?.into_inner().plan.expect("plan");
        assert_eq!(found.name, name);
        assert_eq!(found.status, pb::PlanStatus::Draft as i32);
        assert_eq!(found.citizen_identifier_kind, pb::CprKind::Regular as i32);
        assert_eq!(found.care_team.len(), 1);

        // The job centre is registered but not on the care team: it learns nothing.
        let mut job = t.client(JOB).await?;
        let hidden = job.get_plan(pb::GetPlanRequest { name: name.clone() }).await.expect_err("hidden");
        let missing = job
            .get_plan(pb::GetPlanRequest { name: "plans/00000000-0000-4000-8000-000000000000".into() })
            .await
            .expect_err("missing");
        assert_eq!((hidden.code(), hidden.message()), (missing.code(), missing.message()));
        assert_eq!(hidden.code(), Code::NotFound);
        let write = job.change_plan(change(&name, 1, "", add_goal("x"))).await.expect_err("hidden");
        assert_eq!(write.code(), Code::NotFound);
        let stale_write = job.change_plan(change(&name, 99, "", add_goal("x"))).await.expect_err("hidden");
        assert_eq!(stale_write.code(), Code::NotFound, "no version leaks to outsiders");

        // Asking for the citizen's plan needs a reason; with one, a health service
        // in the citizen's treatment joins the care team (on record, for review);
        // the job centre may not join on its own, only by invitation or consent.
        let no_reason = job
            .create_plan(pb::CreatePlanRequest { cpr: CPR.into(), request_id: String::new(), reason: " ".into() })
            .await
            .expect_err("a reason is required");
        assert!(field_violations(&no_reason).contains_key("reason"));
        let refused = job
            .create_plan(pb::CreatePlanRequest {
                cpr: CPR.into(),
                request_id: String::new(),
                reason: "sygedagpenge".into(),
            })
            .await
            .expect_err("not on its own");
        assert_eq!(error_info(&refused).map(|(r, _)| r).as_deref(), Some("JOIN_NEEDS_INVITATION_OR_CONSENT"));
        let mut addiction = t.client(ADDICTION).await?;
        let joined = addiction
            .create_plan(pb::CreatePlanRequest {
                cpr: CPR.into(),
                request_id: String::new(),
                reason: "Henvist til alkoholbehandling".into(),
            })
            .await?
            .into_inner();
        assert!(!joined.created);
        let joined = joined.plan.expect("plan");
        assert_eq!((joined.name.as_str(), events_in(joined.version)), (name.as_str(), 2));
        let members: Vec<_> = joined.care_team.iter().map(|m| m.organisation_id.as_str()).collect();
        assert_eq!(members, [WARD, ADDICTION], "health services in current treatment see each other");
        let events = addiction
            .list_plan_events(pb::ListPlanEventsRequest { parent: name.clone(), page_size: 0, page_token: String::new() })
            .await?
            .into_inner()
            .events;
        match events.last().and_then(|e| e.event.as_ref()) {
            Some(pb::plan_event::Event::CareTeamJoined(j)) => {
                assert_eq!(j.reason, "Henvist til alkoholbehandling");
                assert_eq!(j.member.as_ref().map(|m| m.organisation_id.as_str()), Some(ADDICTION));
            }
            other => panic!("expected CareTeamJoined, got {other:?}"),
        }
        let again = addiction
            .create_plan(pb::CreatePlanRequest { cpr: CPR.into(), request_id: String::new(), reason: "igen".into() })
            .await?
            .into_inner();
        assert_eq!(again.plan.map(|p| events_in(p.version)), Some(2), "a member asking again appends nothing");

        // Invited by a member that names the ground, the job centre sees the plan
        // but not that a psychiatric ward or an addiction service take part.
        invite(&mut ward, &name, JOB, "borgerens samtykke, sygedagpenge").await?;
        let seen = job.get_plan(pb::GetPlanRequest { name: name.clone() }).await?.into_inner().plan.expect("plan");
        let members: Vec<_> = seen.care_team.iter().map(|m| m.organisation_id.as_str()).collect();
        assert_eq!(members, [JOB]);

        // An eCPR replacement number is a citizen of its own, with its kind recorded.
        let (ecpr_plan, _) = create_plan(&mut ward, "0203291WQ3").await?;
        let ecpr = ward.get_plan(pb::GetPlanRequest { name: ecpr_plan }).await?.into_inner().plan.expect("plan");
        assert_eq!(ecpr.citizen_identifier_kind, pb::CprKind::Replacement as i32);
        t.hub.stop().await
    }

    async fn stale_versions_are_aborted_with_the_current_version() -> TestResult {
        let t = TestHub::start().await?;
        let mut ward = t.client(WARD).await?;
        let (name, v1) = create_plan(&mut ward, CPR).await?;
        let v2 = ward.change_plan(change(&name, v1, "", add_goal("bo selv"))).await?.into_inner().version;
        let stale = ward.change_plan(change(&name, v1, "", add_goal("arbejde"))).await.expect_err("stale");
        assert_eq!(stale.code(), Code::Aborted);
        let (reason, metadata) = error_info(&stale).expect("error info");
        assert_eq!(reason, "STALE_VERSION");
        assert_eq!(metadata.get("current_version"), Some(&v2.to_string()));
        assert_eq!(events_in(v2), 2);
        t.hub.stop().await
    }

    async fn retries_with_the_same_request_id_append_nothing() -> TestResult {
        let t = TestHub::start().await?;
        let mut ward = t.client(WARD).await?;
        let (name, v1) = create_plan(&mut ward, CPR).await?;
        let first = ward
            .change_plan(change(&name, v1, "7c9e6679-7425-40de-944b-e07fc1f90ae7", add_goal("bo selv")))
            .await?
            .into_inner();
        let retry = ward
            .change_plan(change(&name, v1, "7c9e6679-7425-40de-944b-e07fc1f90ae7", add_goal("bo selv")))
            .await?
            .into_inner();
        assert_eq!(first, retry, "same id, same command: the original answer");
        assert_eq!(first.events.len(), 1);
        let plan = ward.get_plan(pb::GetPlanRequest { name: name.clone() }).await?.into_inner().plan.expect("plan");
        assert_eq!((plan.version, plan.goals.len()), (first.version, 1), "no second event");

        let reused = ward
            .change_plan(change(&name, first.version, "7c9e6679-7425-40de-944b-e07fc1f90ae7", add_goal("noget andet")))
            .await
            .expect_err("reused");
        assert_eq!(reused.code(), Code::InvalidArgument);
        assert!(field_violations(&reused).contains_key("request_id"));
        t.hub.stop().await
    }

    async fn bad_input_is_refused_with_field_details_and_writes_nothing() -> TestResult {
        let t = TestHub::start().await?;
        let mut ward = t.client(WARD).await?;
        for cpr in ["", "12345", "3102901234", "0101901A34", "01019012345", "2902011234", "ab01901234"] {
            let refused = ward
                .create_plan(pb::CreatePlanRequest { cpr: cpr.into(), request_id: String::new(), reason: "indlagt".into() })
                .await
                .expect_err(cpr);
            assert_eq!(refused.code(), Code::InvalidArgument, "{cpr:?}");
            assert!(field_violations(&refused).contains_key("cpr"), "{cpr:?}");
            assert!(!refused.message().contains(cpr) || cpr.is_empty(), "the number is not echoed back");
        }
        let (name, _) = create_plan(&mut ward, CPR).await?;

        let unknown_enum = Command::TakeSectionOwnership(pb::TakeSectionOwnership { section: 99 });
        let unspecified = Command::TakeSectionOwnership(pb::TakeSectionOwnership { section: 0 });
        let incomplete = Command::AddActivity(pb::AddActivity {
            section: pb::SectionKind::Psychiatry as i32,
            title: String::new(),
            legal_plan_type: 0,
            responsible_professional_id: "0101901234".into(),
            start_date: "23-11-2026".into(),
            end_date: String::new(),
            goal_ids: vec!["goal 1".into()],
        });
        let cases: Vec<(pb::ChangePlanRequest, Vec<&str>)> = vec![
            (change(&name, 1, "", unknown_enum), vec!["take_section_ownership.section"]),
            (change(&name, 1, "", unspecified), vec!["take_section_ownership.section"]),
            (
                change(&name, 1, "", incomplete),
                vec![
                    "add_activity.title",
                    "add_activity.legal_plan_type",
                    "add_activity.responsible_professional_id",
                    "add_activity.start_date",
                    "add_activity.goal_ids",
                ],
            ),
            (
                pb::ChangePlanRequest { name: name.clone(), expected_version: 1, request_id: String::new(), command: None },
                vec!["command"],
            ),
            (
                change("plan/42", 0, "bad id with spaces", add_goal("  ")),
                vec!["name", "expected_version", "request_id", "add_goal.text"],
            ),
            (change(&name, 1, "", add_goal(&"x".repeat(4001))), vec!["add_goal.text"]),
            (change(&name, 1, "", add_goal("tab\u{7}bell")), vec!["add_goal.text"]),
        ];
        for (request, fields) in cases {
            let refused = ward.change_plan(request).await.expect_err("refused");
            assert_eq!(refused.code(), Code::InvalidArgument, "{fields:?}: {refused:?}");
            let violations = field_violations(&refused);
            for field in fields {
                assert!(violations.contains_key(field), "{field} missing in {violations:?}");
            }
        }

        // Over the configured limit (256 KiB): refused with the size and the limit.
        let oversized = ward.change_plan(change(&name, 1, "", add_goal(&"æ".repeat(200_000)))).await.expect_err("too big");
        assert_eq!(oversized.code(), Code::ResourceExhausted, "{oversized:?}");
        let (reason, metadata) = error_info(&oversized).expect("error info");
        assert_eq!(reason, "REQUEST_TOO_LARGE");
        assert_eq!(metadata.get("limit_bytes").map(String::as_str), Some("262144"));
        // Over the transport's hard cap (4 MiB): refused by its length prefix, before it is read.
        let huge = ward.change_plan(change(&name, 1, "", add_goal(&"x".repeat(5 << 20)))).await.expect_err("huge");
        assert_eq!(huge.code(), Code::ResourceExhausted, "{huge:?}");
        assert_eq!(error_info(&huge).map(|(reason, _)| reason).as_deref(), Some("REQUEST_TOO_LARGE"));

        let plan = ward.get_plan(pb::GetPlanRequest { name: name.clone() }).await?.into_inner().plan.expect("plan");
        assert_eq!(events_in(plan.version), 1, "nothing was written");
        let events = ward
            .list_plan_events(pb::ListPlanEventsRequest { parent: name, page_size: 0, page_token: String::new() })
            .await?
            .into_inner();
        assert_eq!(events.events.len(), 1);
        t.hub.stop().await
    }

    async fn rule_violations_carry_a_stable_reason() -> TestResult {
        let t = TestHub::start().await?;
        let mut ward = t.client(WARD).await?;
        let (name, v1) = create_plan(&mut ward, CPR).await?;
        let activate = ward
            .change_plan(change(&name, v1, "", Command::ActivatePlan(pb::ActivatePlan {})))
            .await
            .expect_err("no contact person");
        assert_eq!(activate.code(), Code::FailedPrecondition);
        assert_eq!(error_info(&activate).map(|(r, _)| r).as_deref(), Some("CONTACT_PERSON_MISSING"));
        let mut addiction = t.client(ADDICTION).await?;
        let (_, version) = join(&mut addiction, CPR, "henvist").await?;
        let take_psychiatry = take_section(pb::SectionKind::Psychiatry);
        let refused = addiction.change_plan(change(&name, version, "", take_psychiatry)).await.expect_err("wrong sector");
        assert_eq!(refused.code(), Code::PermissionDenied);
        assert_eq!(error_info(&refused).map(|(r, _)| r).as_deref(), Some("SECTOR_MAY_NOT_OWN_SECTION"));
        t.hub.stop().await
    }

    async fn callers_must_present_a_registered_certificate_and_a_professional() -> TestResult {
        // The development mode, which takes the professional from headers.
        let t = TestHub::start_edited(|c| c.replace("mode = \"signed\"", "mode = \"development-headers\"")).await?;
        let ca = t.hub.pki.ca_pem.clone();

        // A valid certificate of an organisation the hub does not know.
        let stranger = t.hub.pki.client("Ukendt Kommune", Some("NTRDK-99999999"))?;
        let mut client = plan_client(connect(t.hub.addr, &ca, &stranger).await?, Professional::new("x-1", "NURSE")?);
        let denied = client.lookup_plan(pb::LookupPlanRequest { cpr: CPR.into() }).await.expect_err("unregistered");
        assert_eq!(denied.code(), Code::PermissionDenied);
        assert_eq!(error_info(&denied).map(|(r, _)| r).as_deref(), Some("ORGANISATION_NOT_REGISTERED"));

        // The professional and role must be named, and sensibly.
        let identity = t.hub.identity(WARD)?;
        for (professional, role, field) in
            [("0101901234", "NURSE", "x-samplan-professional-id"), ("aut-1", "JANITOR", "x-samplan-role")]
        {
            let mut client =
                plan_client(connect(t.hub.addr, &ca, &identity).await?, Professional::new(professional, role)?);
            let refused = client.lookup_plan(pb::LookupPlanRequest { cpr: CPR.into() }).await.expect_err("bad headers");
            assert_eq!(refused.code(), Code::InvalidArgument);
            assert!(field_violations(&refused).contains_key(field), "{refused:?}");
        }
        let channel = connect(t.hub.addr, &ca, &identity).await?;
        let mut bare = pb::plan_service_client::PlanServiceClient::new(channel);
        let refused = bare.lookup_plan(pb::LookupPlanRequest { cpr: CPR.into() }).await.expect_err("no headers");
        let violations = field_violations(&refused);
        assert!(violations.contains_key("x-samplan-professional-id") && violations.contains_key("x-samplan-role"));
        t.hub.stop().await
    }

    async fn health_and_reflection_serve_any_grpc_client() -> TestResult {
        use tonic_health::pb::{HealthCheckRequest, health_check_response::ServingStatus, health_client::HealthClient};
        use tonic_reflection::pb::v1::{
            ServerReflectionRequest, server_reflection_client::ServerReflectionClient,
            server_reflection_request::MessageRequest, server_reflection_response::MessageResponse,
        };
        let t = TestHub::start().await?;
        let channel = connect(t.hub.addr, &t.hub.pki.ca_pem, &t.hub.identity(WARD)?).await?;
        let status = HealthClient::new(channel.clone())
            .check(HealthCheckRequest { service: "samplan.v1.PlanService".into() })
            .await?
            .into_inner()
            .status;
        assert_eq!(status, ServingStatus::Serving as i32);

        let request = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::ListServices(String::new())),
        };
        // The error details we send can be decoded: their descriptors are served.
        let details = ServerReflectionRequest {
            host: String::new(),
            message_request: Some(MessageRequest::FileContainingSymbol("google.rpc.BadRequest".into())),
        };
        let mut responses = ServerReflectionClient::new(channel.clone())
            .server_reflection_info(futures::stream::iter([request, details]))
            .await?
            .into_inner();
        let response = responses.message().await?.expect("a reflection response");
        let Some(MessageResponse::ListServicesResponse(list)) = response.message_response else {
            anyhow::bail!("unexpected reflection response");
        };
        let names: Vec<_> = list.service.into_iter().map(|s| s.name).collect();
        assert!(names.contains(&"samplan.v1.PlanService".to_owned()), "{names:?}");
        assert!(names.contains(&"grpc.health.v1.Health".to_owned()), "{names:?}");
        let response = responses.message().await?.expect("a reflection response");
        assert!(
            matches!(response.message_response, Some(MessageResponse::FileDescriptorResponse(ref f)) if !f.file_descriptor_proto.is_empty()),
            "{response:?}"
        );

        // v1alpha too, as Python's grpcio-reflection asks.
        use tonic_reflection::pb::v1alpha::{
            ServerReflectionRequest as AlphaRequest, server_reflection_client::ServerReflectionClient as AlphaClient,
            server_reflection_request::MessageRequest as AlphaMessage,
            server_reflection_response::MessageResponse as AlphaResponse,
        };
        let request =
            AlphaRequest { host: String::new(), message_request: Some(AlphaMessage::ListServices(String::new())) };
        let mut responses =
            AlphaClient::new(channel).server_reflection_info(futures::stream::iter([request])).await?.into_inner();
        let response = responses.message().await?.expect("a v1alpha reflection response");
        let Some(AlphaResponse::ListServicesResponse(list)) = response.message_response else {
            anyhow::bail!("unexpected v1alpha reflection response");
        };
        assert!(list.service.iter().any(|s| s.name == "samplan.v1.PlanService"));
        t.hub.stop().await
    }

    async fn events_page_in_order() -> TestResult {
        let t = TestHub::start().await?;
        let mut ward = t.client(WARD).await?;
        let (name, mut version) = create_plan(&mut ward, CPR).await?;
        for i in 0..7 {
            version =
                ward.change_plan(change(&name, version, "", add_goal(&format!("mål {i}")))).await?.into_inner().version;
        }
        let mut sequences = Vec::new();
        let mut token = String::new();
        loop {
            let page = ward
                .list_plan_events(pb::ListPlanEventsRequest { parent: name.clone(), page_size: 3, page_token: token })
                .await?
                .into_inner();
            assert!(page.events.len() <= 3);
            sequences.extend(page.events.iter().map(|e| e.sequence));
            if page.next_page_token.is_empty() {
                break;
            }
            token = page.next_page_token;
        }
        assert_eq!(sequences, (1..=8).collect::<Vec<u64>>());
        t.hub.stop().await
    }
}
