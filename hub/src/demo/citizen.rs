//! The demo's chapter on the citizen's own voice: through a citizen portal
//! (MitID upstream; the portal's signed assertion names the citizen) they
//! read their whole plan and their access log, consent that the job centre
//! may know more, accept the indsatsplan and object to one disclosure. Each
//! is an event the citizen authored, audited as theirs.

use std::collections::BTreeMap;

use anyhow::Context;
use samplan_proto::v1 as pb;
use samplan_proto::v1::change_plan_request::Command;

use super::print::print_view;
use super::{DEMO_CPR, Participant, Story, reason_of};
use crate::embedded::EmbeddedHub;
use crate::pki::CITIZEN_PORTAL;

/// Another fictitious citizen, with no plan.
const SOMEONE_ELSE: &str = "0112754321";

pub(super) async fn citizen(
    hub: &EmbeddedHub,
    story: &mut Story,
    ward: &mut Participant,
    job: &mut Participant,
    addiction: &mut Participant,
    today: &str,
) -> anyhow::Result<()> {
    println!(
        "\n11. The citizen's own voice, through a citizen portal (MitID upstream; the portal's signed assertion names \
         the citizen by CPR number, which the hub turns into the plan's pseudonym)."
    );
    let client = hub.citizen_client("mitid-demo-1", "CITIZEN", DEMO_CPR).await?;
    let mut me = Participant {
        label: "The citizen (portal)",
        organisation: CITIZEN_PORTAL,
        client,
        version: 0,
        sent: 0,
        last_request: None,
    };
    let mine = me.client.lookup_plan(pb::LookupPlanRequest { cpr: DEMO_CPR.into() }).await?.into_inner();
    me.version = mine.plan.context("the citizen's plan")?.version;
    println!("  The citizen reads their whole plan, on the ground of their own right of access (sundhedsloven § 37):");
    print_view(&mut me, &story.plan).await?;
    let other = me.client.lookup_plan(pb::LookupPlanRequest { cpr: SOMEONE_ELSE.into() }).await;
    let other = other.err().context("another citizen's plan must not be found")?;
    println!(
        "        {:<22} asks for another citizen's plan -> {:?}, exactly as for a plan that does not exist",
        me.label,
        other.code()
    );

    let request = pb::ListPlanAccessRequest { parent: story.plan.clone(), page_size: 1000, page_token: String::new() };
    let log = me.client.list_plan_access(request).await?.into_inner().entries;
    let mut by_organisation: BTreeMap<&str, usize> = BTreeMap::new();
    for entry in &log {
        *by_organisation.entry(entry.organisation_name.as_str()).or_default() += 1;
    }
    println!("  The citizen reads their access log (Min Log): {} audited operations, by organisation:", log.len());
    for (organisation, count) in by_organisation {
        println!("    {organisation:<52} {count:>4}");
    }

    story
        .add(
            &mut me,
            "consents, in writing, that the job centre may know of the psychiatric treatment, to plan work around it",
            "citizen consent",
            Command::RecordConsent(pb::RecordConsent {
                recipient_organisation_id: job.organisation.into(),
                categories: vec![pb::DataCategory::Psychiatric as i32],
                given_by: pb::ConsentGiver::Citizen as i32,
                form: pb::ConsentForm::Written as i32,
                given_on: today.into(),
                valid_until: String::new(),
                purpose: "jobafklaring, der tager hensyn til min sygdom".into(),
                document_reference: "borgerportal-kvittering-1".into(),
            }),
        )
        .await?;
    println!("  The job centre, under the citizen's own consent:");
    print_view(job, &story.plan).await?;

    let version = me
        .client
        .get_plan(pb::GetPlanRequest { name: story.plan.clone() })
        .await?
        .into_inner()
        .plan
        .and_then(|p| p.indsatsplan)
        .context("the citizen sees the indsatsplan")?
        .version;
    story
        .step(
            &mut me,
            &format!("accepts version {version} of the koordinerende indsatsplan"),
            Command::AcceptIndsatsplan(pb::AcceptIndsatsplan { version }),
        )
        .await?;
    let sign = || Command::SignIndsatsplan(pb::SignIndsatsplan { version });
    story.step(ward, &format!("signs version {version} for the psychiatry side"), sign()).await?;
    let agreed = story.step(addiction, &format!("signs version {version} for the addiction side"), sign()).await?;
    let agreed =
        agreed.events.iter().any(|e| matches!(&e.event, Some(pb::plan_event::Event::IndsatsplanSigned(s)) if s.agreed));
    println!("        {:<22} -> {}", "", if agreed { "agreed by both sides and the citizen" } else { "NOT AGREED?" });

    story
        .step(
            &mut me,
            "objects: the addiction service may not see the psychiatric information (sundhedsloven § 41, stk. 3)",
            Command::RecordObjection(pb::RecordObjection {
                recipient_organisation_id: addiction.organisation.into(),
                categories: vec![pb::DataCategory::Psychiatric as i32],
                given_by: pb::ConsentGiver::Citizen as i32,
                given_on: today.into(),
            }),
        )
        .await?;
    println!("  The addiction service, at once — no psychiatric information, so no indsatsplan (it tells of both):");
    print_view(addiction, &story.plan).await?;

    let close = Command::ClosePlan(pb::ClosePlan { reason: "Jeg har det bedre".into() });
    let refused = story.attempt(&mut me, close).await.err().context("the citizen does not close the plan")?;
    println!("        {:<22} tries to close the plan -> {:?} ({})", me.label, refused.code(), reason_of(&refused));
    println!("  Each of the citizen's acts is an event they authored, in the plan's log and audited as theirs.");
    Ok(())
}
