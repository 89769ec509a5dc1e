//! Who sees what, through the real gRPC stack: views by sector and consent,
//! emergency access, the citizen's access view, and the audit record of each.

use samplan_hub::client::PlanClient;
use samplan_proto::v1 as pb;
use samplan_proto::v1::change_plan_request::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use samplan_services::domain::{Decision, Purpose, Timestamp};
use samplan_tests::*;
use tonic::Code;

type TestResult = anyhow::Result<()>;

fn goal(text: &str, category: pb::DataCategory) -> Command {
    Command::AddGoal(pb::AddGoal { text: text.into(), category: category as i32 })
}

/// The four sectors' clients on one dual-diagnosis plan; each sector owns its
/// section with one activity, the ward's contact person coordinates.
struct DualDiagnosis {
    name: String,
    version: u64,
    ward: PlanClient,
    social: PlanClient,
    job: PlanClient,
    addiction: PlanClient,
}

impl DualDiagnosis {
    async fn build(t: &TestHub, cpr: &str) -> anyhow::Result<Self> {
        let (mut ward, social, job, mut addiction) =
            (t.client(WARD).await?, t.client(SOCIAL).await?, t.client(JOB).await?, t.client(ADDICTION).await?);
        let (name, _) = join(&mut ward, cpr, "indlagt, dobbeltdiagnose").await?;
        invite(&mut ward, &name, SOCIAL, "borgerens samtykke, bostøtte § 85").await?;
        invite(&mut ward, &name, JOB, "borgerens samtykke, sygedagpenge").await?;
        let (_, version) = join(&mut addiction, cpr, "henvist til misbrugsbehandling").await?;
        let mut plan = Self { name, version, ward, social, job, addiction };
        use pb::{LegalPlanType as L, SectionKind as S};
        let steps = [
            (WARD, take_section(S::Psychiatry)),
            (WARD, add_activity(S::Psychiatry, "antipsykotisk behandling", L::Behandlingsplan, "aut-4471")),
            (ADDICTION, take_section(S::Addiction)),
            (ADDICTION, add_activity(S::Addiction, "ambulant alkoholbehandling", L::Behandlingsplan, "cfm-3307")),
            (SOCIAL, take_section(S::Social)),
            (SOCIAL, add_activity(S::Social, "bostøtte to gange om ugen", L::Handleplan, "sagsbeh-2210")),
            (JOB, take_section(S::Employment)),
            (JOB, add_activity(S::Employment, "virksomhedspraktik 10 timer", L::Jobplan, "jc-0915")),
            (JOB, goal("arbejde i en bogbinderi", pb::DataCategory::Employment)),
            (
                WARD,
                Command::AssignContactPerson(pb::AssignContactPerson {
                    organisation_id: WARD.into(),
                    professional_id: "aut-4471".into(),
                }),
            ),
        ];
        for (who, command) in steps {
            plan.change(who, command).await?;
        }
        Ok(plan)
    }

    async fn change(&mut self, who: &str, command: Command) -> anyhow::Result<pb::ChangePlanResponse> {
        let client = match who {
            WARD => &mut self.ward,
            SOCIAL => &mut self.social,
            JOB => &mut self.job,
            _ => &mut self.addiction,
        };
        let response = apply_retrying(client, &self.name, self.version, command).await?;
        self.version = response.version;
        Ok(response)
    }
}

fn sections(plan: &pb::Plan) -> Vec<i32> {
    let mut kinds: Vec<i32> = plan.activities.iter().map(|a| a.section).collect();
    kinds.sort();
    kinds
}

on_both_engines! {
    async fn job_centre_sees_no_diagnosis_or_substance_abuse_without_consent() -> TestResult {
        let t = TestHub::start().await?;
        let mut p = DualDiagnosis::build(&t, CPR).await?;
        let (employment, social) = (pb::SectionKind::Employment as i32, pb::SectionKind::Social as i32);
        let (psychiatry, addiction) = (pb::SectionKind::Psychiatry as i32, pb::SectionKind::Addiction as i32);
        p.change(
            WARD,
            Command::RecordAdvanceStatement(pb::RecordAdvanceStatement {
                occasion: pb::AdvanceStatementOccasion::Admission as i32,
                text: "ønsker ikke depotmedicin".into(),
                supersedes: String::new(),
            }),
        )
        .await?;

        let read = |mut job: PlanClient, name: String| async move {
            let plan = job.get_plan(pb::GetPlanRequest { name: name.clone() }).await?.into_inner().plan.expect("plan");
            let events = job
                .list_plan_events(pb::ListPlanEventsRequest { parent: name, page_size: 0, page_token: String::new() })
                .await?
                .into_inner()
                .events;
            anyhow::Ok((plan, events))
        };
        let health = [pb::DataCategory::Psychiatric as i32, pb::DataCategory::SubstanceAbuse as i32];
        let tells_health = |e: &pb::PlanEvent| e.categories.iter().any(|c| health.contains(c));

        // Without consent: its own part and the plan; not social services' part
        // (forvaltningsloven § 28), no health, and not who the contact person is
        // (a psychiatric ward): only that there is one.
        let (plan, events) = read(p.job.clone(), p.name.clone()).await?;
        assert_eq!(sections(&plan), [employment]);
        let contact = plan.contact_person.as_ref().expect("a contact person");
        assert!(contact.withheld && contact.organisation_id.is_empty() && contact.professional_id.is_empty());
        assert_eq!(plan.goals.len(), 1);
        assert!(plan.advance_statements.is_empty());
        assert!(plan.care_team.iter().all(|m| m.organisation_id == JOB || m.organisation_id == SOCIAL));
        assert!(!events.iter().any(tells_health), "no health event in the log view");
        assert!(
            events
                .iter()
                .all(|e| e.actor.as_ref().is_none_or(|a| a.organisation_id != WARD && a.organisation_id != ADDICTION))
        );
        assert_eq!(events.len() as u64, events_in(plan.version), "events of other categories are skipped, and not counted");

        // With the citizen's written consent for the job centre: all of it.
        let consent_id = added_id(&p.change(WARD, psychiatric_consent(JOB)).await?)?;
        let substance_consent_id = added_id(&p.change(ADDICTION, substance_consent(JOB)).await?)?;
        let (plan, events) = read(p.job.clone(), p.name.clone()).await?;
        assert_eq!(sections(&plan), [psychiatry, employment, addiction]);
        assert_eq!(plan.advance_statements.len(), 1);
        assert_eq!(plan.consents.len(), 2);
        assert_eq!(plan.contact_person.as_ref().map(|c| c.organisation_id.as_str()), Some(WARD));
        assert!(events.iter().any(|e| e.category == health[0]) && events.iter().any(|e| e.category == health[1]));
        // ...and only for the job centre: social services still see none.
        let (social_view, _) = read(p.social.clone(), p.name.clone()).await?;
        assert_eq!(sections(&social_view), [social]);

        // Withdrawn: gone again at once, for reads and for the event log.
        p.change(JOB, withdraw_consent(&consent_id)).await?;
        p.change(JOB, withdraw_consent(&substance_consent_id)).await?;
        let (plan, events) = read(p.job.clone(), p.name.clone()).await?;
        assert_eq!(sections(&plan), [employment]);
        assert!(plan.advance_statements.is_empty());
        assert!(plan.consents.is_empty(), "a consent naming health categories tells of them");
        assert!(!events.iter().any(tells_health));

        // The job centre's auditor sees its organisation's reads and what each disclosed, on what ground.
        let mut job_auditor = t.hub.plan_client(JOB, "rev-0", "AUDITOR").await?;
        let log = job_auditor
            .list_plan_access(pb::ListPlanAccessRequest {
                parent: p.name.clone(),
                page_size: 1000,
                page_token: String::new(),
            })
            .await?
            .into_inner()
            .entries;
        assert!(log.iter().all(|e| e.organisation_id == JOB), "an auditor reviews its own organisation");
        // The ward's contact person sees them too, but only what it may see of them: not employment.
        let ward_log = p
            .ward
            .list_plan_access(pb::ListPlanAccessRequest {
                parent: p.name.clone(),
                page_size: 1000,
                page_token: String::new(),
            })
            .await?
            .into_inner()
            .entries;
        let employment = pb::DataCategory::Employment as i32;
        assert!(ward_log.iter().any(|e| e.organisation_id == JOB));
        assert!(ward_log.iter().all(|e| !e.categories.contains(&employment) && !e.legal_ground.contains("employment")));
        let job_reads: Vec<_> = log.iter().filter(|e| e.organisation_id == JOB && e.action == "GetPlan").collect();
        assert_eq!(job_reads.len(), 3);
        assert!(!job_reads[0].categories.contains(&health[0]));
        assert!(job_reads[1].categories.contains(&health[0]) && job_reads[1].legal_ground.contains(&consent_id));
        assert!(!job_reads[2].categories.contains(&health[0]));
        assert!(job_reads.iter().all(|e| e.organisation_name == "Jobcenter København" && e.allowed));

        // The job centre's consultant is not the contact person and no auditor: refused, and that is logged too.
        let refused = p
            .job
            .list_plan_access(pb::ListPlanAccessRequest { parent: p.name.clone(), page_size: 0, page_token: String::new() })
            .await
            .expect_err("not the contact person");
        assert_eq!(refused.code(), Code::PermissionDenied);
        let auditor = t.hub.plan_client(JOB, "rev-1", "AUDITOR").await?;
        let mut auditor = auditor;
        let log = auditor
            .list_plan_access(pb::ListPlanAccessRequest { parent: p.name.clone(), page_size: 0, page_token: String::new() })
            .await?
            .into_inner()
            .entries;
        assert!(log.iter().any(|e| e.action == "ListPlanAccess" && !e.allowed && e.organisation_id == JOB));
        Ok(())
    }

    async fn emergency_access_is_personal_time_limited_and_listed_for_review() -> TestResult {
        let t = TestHub::start().await?;
        let mut ward = t.client(WARD).await?;
        let (name, version) = join(&mut ward, CPR, "indlagt").await?;
        let version = apply(&mut ward, &name, version, goal("sove om natten", pb::DataCategory::Psychiatric)).await?;
        let contact = pb::AssignContactPerson { organisation_id: WARD.into(), professional_id: "aut-4471".into() };
        apply(&mut ward, &name, version, Command::AssignContactPerson(contact)).await?;

        // The addiction service's night doctor is not on the care team.
        let mut night = t.hub.plan_client(ADDICTION, "vagtlaege-9", "PHYSICIAN").await?;
        let hidden = night.get_plan(pb::GetPlanRequest { name: name.clone() }).await.expect_err("not on the team");
        assert_eq!(hidden.code(), Code::NotFound);
        let unjustified = night
            .request_emergency_access(emergency(CPR, " "))
            .await
            .expect_err("needs a justification");
        assert!(field_violations(&unjustified).contains_key("justification"));
        let secretary = t.hub.plan_client(ADDICTION, "sekr-1", "SECRETARY").await?;
        let refused = secretary
            .clone()
            .request_emergency_access(emergency(CPR, "ringer for lægen"))
            .await
            .expect_err("clinical roles only");
        assert_eq!(refused.code(), Code::PermissionDenied);

        let granted = night
            .request_emergency_access(emergency("010190-1235", "indbragt bevidstløs, mistanke om forgiftning"))
            .await?
            .into_inner();
        let plan = granted.plan.expect("plan");
        let access = granted.access.expect("access");
        assert_eq!(plan.goals.len(), 1, "beyond the normal rules: the whole plan");
        let hours = (access.expire_time.expect("expiry").seconds - access.grant_time.expect("grant").seconds) / 3600;
        assert_eq!(hours, 24, "24 hours by default");
        night.get_plan(pb::GetPlanRequest { name: name.clone() }).await?;

        // Personal: a colleague with the same certificate sees nothing.
        let mut colleague = t.hub.plan_client(ADDICTION, "cfm-3307", "ADDICTION_COUNSELLOR").await?;
        let hidden = colleague.get_plan(pb::GetPlanRequest { name: name.clone() }).await.expect_err("personal");
        assert_eq!(hidden.code(), Code::NotFound);
        // Read only: emergency access writes nothing.
        let write = night.change_plan(change(&name, 3, "", add_goal("x"))).await.expect_err("read only");
        assert_eq!(write.code(), Code::NotFound);

        // Listed for the addiction service's auditor, not for others'.
        let mut auditor = t.hub.plan_client(ADDICTION, "rev-2", "AUDITOR").await?;
        let review =
            auditor.list_emergency_accesses(pb::ListEmergencyAccessesRequest::default()).await?.into_inner().accesses;
        assert_eq!(review.len(), 1);
        assert_eq!(review[0].plan, name);
        let reviewed = review[0].access.as_ref().expect("access");
        assert_eq!(
            (reviewed.professional_id.as_str(), reviewed.justification.as_str()),
            ("vagtlaege-9", "indbragt bevidstløs, mistanke om forgiftning")
        );
        let mut ward_auditor = t.hub.plan_client(WARD, "rev-3", "AUDITOR").await?;
        let other = ward_auditor.list_emergency_accesses(pb::ListEmergencyAccessesRequest::default()).await?.into_inner();
        assert!(other.accesses.is_empty());
        let not_auditor =
            ward.list_emergency_accesses(pb::ListEmergencyAccessesRequest::default()).await.expect_err("auditors only");
        assert_eq!(not_auditor.code(), Code::PermissionDenied);

        // Marked in the audit log, and in the citizen's access view.
        let log = ward
            .list_plan_access(pb::ListPlanAccessRequest { parent: name.clone(), page_size: 0, page_token: String::new() })
            .await?
            .into_inner()
            .entries;
        let emergency: Vec<_> =
            log.iter().filter(|e| e.purpose == pb::AccessPurpose::EmergencyAccess as i32 && e.allowed).collect();
        assert!(emergency.len() >= 3, "the grant, the read it answered with, and the later read: {emergency:?}");
        assert!(emergency.iter().all(|e| e.professional_id == "vagtlaege-9"));
        assert!(log.iter().any(|e| e.action == "GetPlan" && !e.allowed && e.professional_id == "cfm-3307"));
        Ok(())
    }

    async fn reads_are_decided_on_the_hubs_clock_like_writes() -> TestResult {
        // The hub's clock runs two days behind the wall clock, and the test moves it on.
        const HOUR: i64 = 3600 * 1_000_000;
        let offset = Arc::new(AtomicI64::new(-48 * HOUR));
        let clock = {
            let offset = offset.clone();
            Arc::new(move || Timestamp(Timestamp::now().0 + offset.load(Ordering::Relaxed)))
        };
        let t = TestHub::start_at(clock).await?;
        let mut ward = t.client(WARD).await?;
        let (name, _) = join(&mut ward, CPR, "indlagt").await?;
        let mut night = t.hub.plan_client(ADDICTION, "vagtlaege-9", "PHYSICIAN").await?;
        let granted = night
            .request_emergency_access(emergency(CPR, "indbragt bevidstløs"))
            .await?
            .into_inner();
        let access = granted.access.expect("access");
        let expires = access.expire_time.expect("expiry").seconds;
        assert!(expires < Timestamp::now().0 / 1_000_000, "by the wall clock the grant has already run out");
        // By the hub's clock it holds, for the answer to the grant and for later reads.
        assert_eq!(granted.plan.expect("the plan, shown with the grant").name, name);
        night.get_plan(pb::GetPlanRequest { name: name.clone() }).await?;

        // 25 hours later by the hub's clock, it has run out.
        offset.fetch_add(25 * HOUR, Ordering::Relaxed);
        let expired = night.get_plan(pb::GetPlanRequest { name: name.clone() }).await.expect_err("expired");
        assert_eq!(expired.code(), Code::NotFound);
        t.stop().await
    }

    async fn callers_that_cannot_be_identified_are_audited_too() -> TestResult {
        let t = TestHub::start().await?;
        let mut nameless = t.hub.plan_client(WARD, "aut-4471", "JANITOR").await?;
        let refused = nameless
            .get_plan(tagged(pb::GetPlanRequest { name: "plans/x".into() }, "unidentified-1"))
            .await
            .expect_err("unknown role");
        assert_eq!(refused.code(), Code::Unauthenticated);
        let audit = audit_by_correlation(&t.hub).await?;
        let entry = &audit["unidentified-1"];
        assert_eq!(entry.actor, None);
        assert_eq!(entry.certificate_identity.as_deref(), Some("NTRDK-29190623"));
        assert_eq!(entry.decision, Decision::Denied { reason: "TOKEN_CLAIMS_INVALID".into() });
        assert_eq!(entry.purpose, Purpose::CareCoordination);
        Ok(())
    }
}
