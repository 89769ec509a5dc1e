//! The demo's chapter on who sees what: the job centre before and after the
//! citizen's consent, and the refusals that keep health information from it.

use samplan_proto::v1 as pb;
use samplan_proto::v1::change_plan_request::Command;

use super::print::print_view;
use super::{DEMO_CPR, Participant, Story, reason_of};

fn consent(recipient: &str, category: pb::DataCategory, purpose: &str, document: &str, today: &str) -> Command {
    Command::RecordConsent(pb::RecordConsent {
        recipient_organisation_id: recipient.into(),
        categories: vec![category as i32],
        given_by: pb::ConsentGiver::Citizen as i32,
        form: pb::ConsentForm::Written as i32,
        given_on: today.into(),
        valid_until: String::new(),
        purpose: purpose.into(),
        document_reference: document.into(),
    })
}

pub(super) async fn who_sees_what(
    story: &mut Story,
    ward: &mut Participant,
    social: &mut Participant,
    job: &mut Participant,
    today: &str,
) -> anyhow::Result<()> {
    println!("\n6. Who sees what: every disclosure has a legal ground, and nothing tells a health fact without one.");
    println!(
        "  The job centre before any consent — no ward, no psychiatric contact person, no discharge, no indsatsplan:"
    );
    print_view(job, &story.plan).await?;

    let emergency = job
        .client
        .request_emergency_access(pb::RequestEmergencyAccessRequest {
            cpr: DEMO_CPR.into(),
            justification: "Borgeren udeblev fra mødet, vi er bekymrede".into(),
            request_id: String::new(),
        })
        .await
        .err()
        .ok_or_else(|| anyhow::anyhow!("a job consultant must not get emergency access"))?;
    println!(
        "        {:<22} asks for emergency access (værdispring) -> {:?} ({})",
        job.label,
        emergency.code(),
        reason_of(&emergency)
    );
    let own = consent(job.organisation, pb::DataCategory::Psychiatric, "opfølgning", "jc-notat-1", today);
    let self_consent =
        story.attempt(job, own).await.err().ok_or_else(|| anyhow::anyhow!("a self-consent must be refused"))?;
    println!(
        "        {:<22} records a consent naming itself -> {:?} ({})",
        job.label,
        self_consent.code(),
        reason_of(&self_consent)
    );

    let job_id = job.organisation;
    story
        .step(
            ward,
            "records the citizen's written consent: the job centre may know of the discharge (to offer a mentor)",
            consent(
                job_id,
                pb::DataCategory::DischargeCoordination,
                "udskrivningskoordinator",
                "journal-4471-17",
                today,
            ),
        )
        .await?;
    story
        .step(
            social,
            "records the citizen's consent: the ward may see the social section",
            consent(ward.organisation, pb::DataCategory::Social, "koordinering af udskrivelse", "sag-2210-3", today),
        )
        .await?;
    story
        .step(
            job,
            "records the citizen's consent: the ward may see the employment section",
            consent(
                ward.organisation,
                pb::DataCategory::Employment,
                "koordinering af udskrivelse",
                "jc-notat-2",
                today,
            ),
        )
        .await?;
    println!(
        "  The job centre after the consent — it will hear of the discharge (none is planned yet), of nothing else in psychiatry:"
    );
    print_view(job, &story.plan).await?;
    Ok(())
}
