//! Lawful disclosure through the real gRPC stack: the refusals that keep
//! health information from those without a ground (emergency access by a
//! non-health professional, a consent recorded by its own recipient, an
//! organisation joining on its own), the citizen's objection, the ground per
//! category in the audit log, and the emergency access the citizen is still
//! to be told of. Each refusal writes nothing and is audited with its reason.

use samplan_proto::v1 as pb;
use samplan_proto::v1::change_plan_request::Command;
use samplan_tests::*;
use tonic::Code;

type TestResult = anyhow::Result<()>;

on_both_engines! {
    async fn refusals_keep_health_information_from_those_without_a_ground() -> TestResult {
        let t = TestHub::start().await?;
        let mut ward = t.client(WARD).await?;
        let (name, _) = create_plan(&mut ward, CPR).await?;
        let version = invite(&mut ward, &name, JOB, "borgerens samtykke").await?;

        // Emergency access: a job consultant, a social worker, or a job centre
        // system claiming a physician — none is a health professional of a health
        // service. The last is refused before anything else: a job centre has no
        // physicians, whatever its identity provider signs.
        for (organisation, role, code, reason) in [
            (JOB, "JOB_CONSULTANT", Code::PermissionDenied, "EMERGENCY_ACCESS_NOT_AUTHORISED"),
            (SOCIAL, "SOCIAL_WORKER", Code::PermissionDenied, "EMERGENCY_ACCESS_NOT_AUTHORISED"),
            (JOB, "PHYSICIAN", Code::Unauthenticated, "ROLE_NOT_IN_SECTOR"),
            (WARD, "SECRETARY", Code::PermissionDenied, "EMERGENCY_ACCESS_NOT_AUTHORISED"),
        ] {
            let mut client = t.hub.plan_client(organisation, "p-77", role).await?;
            let id = format!("emergency-{organisation}-{role}");
            let request = pb::RequestEmergencyAccessRequest {
                cpr: CPR.into(),
                justification: "bekymret for borgeren".into(),
                request_id: String::new(),
            };
            let refused = client.request_emergency_access(tagged(request, &id)).await.expect_err("refused");
            assert_eq!(refused.code(), code, "{organisation} {role}");
            assert_eq!(error_info(&refused).map(|(r, _)| r).as_deref(), Some(reason));
            assert_eq!(denied_reason(&t.hub, &id).await?, reason);
        }

        // A consent naming the organisation that records it.
        let mut job = t.client(JOB).await?;
        let own = consent(JOB, &[pb::DataCategory::Psychiatric], "udskrivningskoordinator", "");
        let job_version = version_of(&mut job, &name).await?;
        let refused = job.change_plan(tagged(change(&name, job_version, "", own), "self-consent")).await.expect_err("own");
        assert_eq!(refused.code(), Code::PermissionDenied);
        assert_eq!(error_info(&refused).map(|(r, _)| r).as_deref(), Some("RECORDED_BY_RECIPIENT"));
        assert_eq!(denied_reason(&t.hub, "self-consent").await?, "RECORDED_BY_RECIPIENT");
        // A written consent without its document.
        let Command::RecordConsent(mut undocumented) = consent(JOB, &[pb::DataCategory::Psychiatric], "x", "doc") else {
            unreachable!("a consent")
        };
        undocumented.document_reference.clear();
        let undocumented = Command::RecordConsent(undocumented);
        let refused = ward.change_plan(change(&name, version, "", undocumented)).await.expect_err("document");
        assert!(field_violations(&refused).contains_key("record_consent.document_reference"));

        // Social services joining on their own.
        let mut social = t.client(SOCIAL).await?;
        let request = pb::CreatePlanRequest { cpr: CPR.into(), request_id: String::new(), reason: "bostøtte".into() };
        let refused = social.create_plan(tagged(request, "social-join")).await.expect_err("no invitation");
        assert_eq!(refused.code(), Code::PermissionDenied);
        assert_eq!(error_info(&refused).map(|(r, _)| r).as_deref(), Some("JOIN_NEEDS_INVITATION_OR_CONSENT"));
        assert_eq!(denied_reason(&t.hub, "social-join").await?, "JOIN_NEEDS_INVITATION_OR_CONSENT");
        let outside = social.get_plan(pb::GetPlanRequest { name: name.clone() }).await.expect_err("not on the team");
        assert_eq!(outside.code(), Code::NotFound);

        // Nothing of it was written; the ward's own consent for the job centre is.
        let plan = ward.get_plan(pb::GetPlanRequest { name: name.clone() }).await?.into_inner().plan.expect("plan");
        assert_eq!(plan.version, version, "refusals write nothing");
        let discharge = consent(JOB, &[pb::DataCategory::DischargeCoordination], "udskrivningskoordinator", "journal-17");
        apply(&mut ward, &name, version, discharge).await?;
        let plan = job.get_plan(pb::GetPlanRequest { name: name.clone() }).await?.into_inner().plan.expect("plan");
        assert!(plan.visible_categories.contains(&(pb::DataCategory::DischargeCoordination as i32)));
        assert!(!plan.visible_categories.contains(&(pb::DataCategory::Psychiatric as i32)));
        let consent = &plan.consents[0];
        assert_eq!(
            (consent.purpose.as_str(), consent.document_reference.as_str()),
            ("udskrivningskoordinator", "journal-17")
        );
        assert_eq!(consent.recorded_by_organisation_id, "", "who recorded it (the ward) is not named to the job centre");
        Ok(())
    }

    async fn an_objection_holds_from_that_moment_for_reads_and_subscriptions() -> TestResult {
        let t = TestHub::start().await?;
        let mut ward = t.client(WARD).await?;
        let mut addiction = t.client(ADDICTION).await?;
        let (name, _) = create_plan(&mut ward, CPR).await?;
        join(&mut addiction, CPR, "henvist til misbrugsbehandling").await?;
        let version = apply_now(&mut ward, &name, take_section(pb::SectionKind::Psychiatry)).await?.version;
        let version = apply(
            &mut ward,
            &name,
            version,
            add_activity(pb::SectionKind::Psychiatry, "medicin", pb::LegalPlanType::Behandlingsplan, "aut-4471"),
        )
        .await?;
        let read = |mut client: samplan_hub::client::PlanClient, name: String| async move {
            let plan = client.get_plan(tagged(pb::GetPlanRequest { name }, "addiction-read")).await?.into_inner().plan;
            anyhow::Ok(plan.expect("plan"))
        };
        let before = read(addiction.clone(), name.clone()).await?;
        assert_eq!(before.activities.len(), 1, "current treatment: the psychiatry section");
        let records = audit_by_correlation(&t.hub).await?;
        let ground = &records["addiction-read"].legal_ground;
        assert!(ground.contains("psychiatric, discharge coordination: current treatment between health services (sundhedsloven § 41, stk. 2, nr. 1)"), "{ground}");
        assert!(ground.contains("substance abuse: the addiction service's own treatment records"), "{ground}");

        let head = t.hub.store.durable_position();
        let mut feed = subscribe(&mut addiction, head, "addiction-feed").await?;
        let objection = Command::RecordObjection(pb::RecordObjection {
            recipient_organisation_id: ADDICTION.into(),
            categories: vec![pb::DataCategory::Psychiatric as i32],
            given_by: pb::ConsentGiver::Citizen as i32,
            given_on: "2026-01-02".into(),
        });
        let version = apply(&mut ward, &name, version, objection).await?;
        let after = read(addiction.clone(), name.clone()).await?;
        assert!(after.activities.is_empty() && after.sections.is_empty(), "the psychiatry section is gone at once");
        assert!(!after.visible_categories.contains(&(pb::DataCategory::Psychiatric as i32)));

        // A later psychiatric change is not delivered; a change of the plan itself is.
        let version = apply(
            &mut ward,
            &name,
            version,
            add_activity(pb::SectionKind::Psychiatry, "samtaleterapi", pb::LegalPlanType::Behandlingsplan, "aut-4471"),
        )
        .await?;
        apply(&mut ward, &name, version, add_goal("se min datter")).await?;
        let delivered = samplan_hub::client::events_until(&mut feed, t.hub.store.durable_position()).await?;
        let kinds: Vec<_> = delivered.iter().filter_map(|e| e.event.as_ref()).map(|e| format!("{e:?}")).collect();
        assert!(kinds.iter().all(|k| !k.starts_with("ActivityAdded") && !k.starts_with("ObjectionRecorded")), "{kinds:?}");
        assert!(kinds.iter().any(|k| k.starts_with("GoalAdded")), "{kinds:?}");
        Ok(())
    }

    async fn the_citizen_is_to_be_told_of_an_emergency_access_until_someone_records_it() -> TestResult {
        let t = TestHub::start().await?;
        let mut ward = t.client(WARD).await?;
        let (name, _) = create_plan(&mut ward, CPR).await?;
        let mut night = t.hub.plan_client(ADDICTION, "vagtlaege-9", "PHYSICIAN").await?;
        let granted = night
            .request_emergency_access(emergency(CPR, "indbragt bevidstløs"))
            .await?
            .into_inner();
        let access = granted.access.expect("access");
        assert!(access.citizen_to_be_informed && access.citizen_informed_date.is_empty());

        let mut auditor = t.hub.plan_client(ADDICTION, "rev-2", "AUDITOR").await?;
        let pending = |only| pb::ListEmergencyAccessesRequest { citizen_to_be_informed_only: only, ..Default::default() };
        let listed = auditor.list_emergency_accesses(pending(true)).await?.into_inner().accesses;
        assert_eq!(listed.len(), 1, "pending, for the auditors");

        let informed = Command::RecordCitizenInformed(pb::RecordCitizenInformed {
            grant_id: access.grant_id.clone(),
            informed_date: hub_date(0),
        });
        apply_now(&mut ward, &name, informed).await?;
        let plan = ward.get_plan(pb::GetPlanRequest { name: name.clone() }).await?.into_inner().plan.expect("plan");
        assert!(!plan.emergency_accesses[0].citizen_to_be_informed);
        assert_eq!(plan.emergency_accesses[0].citizen_informed_date, hub_date(0));
        assert!(auditor.list_emergency_accesses(pending(true)).await?.into_inner().accesses.is_empty());
        let all = auditor.list_emergency_accesses(pending(false)).await?.into_inner().accesses;
        assert_eq!(all.len(), 1);
        assert!(!all[0].access.as_ref().expect("access").citizen_to_be_informed);
        Ok(())
    }

    async fn a_health_service_joining_on_its_own_is_listed_for_its_auditors() -> TestResult {
        let t = TestHub::start().await?;
        let mut ward = t.client(WARD).await?;
        let (name, _) = create_plan(&mut ward, CPR).await?;
        invite(&mut ward, &name, JOB, "borgerens samtykke").await?;
        let mut addiction = t.client(ADDICTION).await?;
        join(&mut addiction, CPR, "henvist til alkoholbehandling").await?;

        let mut auditor = t.hub.plan_client(ADDICTION, "rev-2", "AUDITOR").await?;
        let joins = auditor.list_care_team_joins(pb::ListCareTeamJoinsRequest::default()).await?.into_inner().joins;
        assert_eq!(joins.len(), 1);
        assert_eq!((joins[0].plan.as_str(), joins[0].reason.as_str()), (name.as_str(), "henvist til alkoholbehandling"));
        assert_eq!(joins[0].member.as_ref().map(|m| m.organisation_id.as_str()), Some(ADDICTION));
        // The ward created the plan and invited the job centre: nothing to review there.
        let mut ward_auditor = t.hub.plan_client(WARD, "rev-3", "AUDITOR").await?;
        let none = ward_auditor.list_care_team_joins(pb::ListCareTeamJoinsRequest::default()).await?.into_inner();
        assert!(none.joins.is_empty());
        let refused = addiction.list_care_team_joins(pb::ListCareTeamJoinsRequest::default()).await.expect_err("auditors");
        assert_eq!(refused.code(), Code::PermissionDenied);
        Ok(())
    }
}
