//! The demo's last chapter: a synthetic population run through the flows —
//! referrals, assessments and treatment with realistic waits, discharges,
//! dual diagnoses with their indsatsplan, contact persons handed over,
//! consents withdrawn, emergency accesses — by the organisations of two
//! regions, and then the indicator table an analyst gets from it.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::Context;
use chrono::{Duration, NaiveDate};
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use samplan_proto::v1 as pb;
use samplan_proto::v1::change_plan_request::Command;

use super::{current_version, milestone, reason_of};
use crate::client::{PlanClient, Professional, added_id, connect, plan_client};
use crate::embedded::{EmbeddedHub, read_identity};
use crate::identity::Minter;

/// How many citizens the demo's population has.
pub const CITIZENS: usize = 2000;

/// The organisations that act, with their professional and role.
const ACTORS: [(&str, &str, &str); 6] = [
    ("psykiatri-amager", "aut-4471", "PHYSICIAN"),
    ("psykiatri-aarhus", "aut-5120", "PHYSICIAN"),
    ("kbh-socialforvaltning", "sagsbeh-2210", "SOCIAL_WORKER"),
    ("aarhus-socialforvaltning", "sagsbeh-7781", "SOCIAL_WORKER"),
    ("jobcenter-kbh", "jc-0915", "JOB_CONSULTANT"),
    ("kbh-misbrugsbehandling", "cfm-3307", "ADDICTION_COUNSELLOR"),
];

/// A client per acting organisation, and the professional it acts as.
#[derive(Clone)]
pub struct Clients(HashMap<&'static str, (PlanClient, &'static str)>);

impl Clients {
    /// Clients of the development PKI and identity providers in `dir`
    /// (`samplan dev-pki`), for the hub at `addr`.
    pub async fn of_dev_dir(addr: SocketAddr, dir: &Path) -> anyhow::Result<Self> {
        let ca =
            std::fs::read_to_string(dir.join("ca.pem")).with_context(|| format!("reading {}/ca.pem", dir.display()))?;
        let mut clients = HashMap::new();
        for (organisation, professional, role) in ACTORS {
            let channel = connect(addr, &ca, &read_identity(dir, organisation)?).await?;
            let minter = Arc::new(Minter::from_dev_dir(dir, organisation)?);
            let client = plan_client(channel, Professional::signed(minter, professional, role)?);
            clients.insert(organisation, (client, professional));
        }
        Ok(Self(clients))
    }

    fn of(&self, organisation: &str) -> (PlanClient, &'static str) {
        self.0[organisation].clone()
    }
}

/// One synthetic citizen's plan, as the organisations write it.
struct Citizen {
    index: usize,
    plan: String,
    /// The version each organisation last saw.
    versions: HashMap<&'static str, u64>,
    sent: u32,
    clients: Clients,
}

impl Citizen {
    /// Sends `command` as `organisation`, on the version it last saw and, if
    /// that was stale, once more on the current one.
    async fn change(
        &mut self,
        organisation: &'static str,
        command: Command,
    ) -> Result<pb::ChangePlanResponse, tonic::Status> {
        let (mut client, _) = self.clients.of(organisation);
        loop {
            self.sent += 1;
            let request = pb::ChangePlanRequest {
                name: self.plan.clone(),
                // An organisation new to the plan learns its version from the refusal.
                expected_version: self.versions.get(organisation).copied().unwrap_or(1),
                request_id: format!("population-{}-{}", self.index, self.sent),
                command: Some(command.clone()),
            };
            match client.change_plan(request).await {
                Ok(response) => {
                    let response = response.into_inner();
                    self.versions.insert(organisation, response.version);
                    return Ok(response);
                }
                Err(stale) if reason_of(&stale) == "STALE_VERSION" => match current_version(&stale) {
                    Some(current) if self.versions.get(organisation) != Some(&current) => {
                        self.versions.insert(organisation, current);
                    }
                    _ => return Err(stale),
                },
                Err(refused) => return Err(refused),
            }
        }
    }

    /// `by` invites `organisation` onto the care team, naming the ground.
    async fn invite(
        &mut self,
        by: &'static str,
        organisation: &'static str,
        role: pb::ProfessionalRole,
        ground: &str,
        today: &str,
    ) -> Result<(), tonic::Status> {
        let professional = self.clients.of(organisation).1;
        self.change(
            by,
            Command::AddCareTeamMember(pb::AddCareTeamMember {
                organisation_id: organisation.into(),
                professional_id: professional.into(),
                role: role as i32,
                start_date: today.into(),
                end_date: String::new(),
                ground: ground.into(),
            }),
        )
        .await
        .map(drop)
    }
}

/// A synthetic CPR number for the `index`th citizen: a real date of birth
/// (1950–1999), never anyone's number on purpose, distinct per index.
fn synthetic_cpr(index: usize) -> String {
    let day = 1 + index % 28;
    let month = 1 + (index / 28) % 12;
    let year = 50 + (index / 336) % 50;
    format!("{day:02}{month:02}{year:02}{}{:03}", 1 + index % 3, index % 1000)
}

/// Runs `citizens` synthetic citizens (numbered from `first`) through the
/// flows, 32 at a time, each history drawn from `seed` and its number; says
/// how many histories a refusal cut short (none, when all is well).
pub async fn play(
    clients: &Clients,
    first: usize,
    citizens: usize,
    seed: u64,
    today: NaiveDate,
) -> anyhow::Result<usize> {
    let refused = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    futures::stream::iter(first..first + citizens)
        .for_each_concurrent(32, |index| {
            let (clients, refused, done) = (clients.clone(), &refused, &done);
            async move {
                // The first refusal is shown: the demo's population should meet none.
                if let Err(status) = citizen(index, seed, clients, today).await
                    && refused.fetch_add(1, Ordering::Relaxed) == 0
                {
                    eprintln!(
                        "  (a change was refused: {:?} {}: {})",
                        status.code(),
                        reason_of(&status),
                        status.message()
                    );
                }
                let n = done.fetch_add(1, Ordering::Relaxed) + 1;
                if n % 500 == 0 {
                    println!("  {n} of {citizens} citizens written");
                }
            }
        })
        .await;
    Ok(refused.into_inner())
}

/// One citizen's history, drawn from a generator seeded by `index`.
async fn citizen(index: usize, seed: u64, clients: Clients, today: NaiveDate) -> Result<(), tonic::Status> {
    use pb::MilestoneKind as M;
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ index as u64);
    let day = |date: NaiveDate| date.format("%Y-%m-%d").to_string();
    let capital = rng.random_bool(0.6);
    let (ward, social) = if capital {
        ("psykiatri-amager", "kbh-socialforvaltning")
    } else {
        ("psykiatri-aarhus", "aarhus-socialforvaltning")
    };
    let psychiatric = rng.random_bool(0.75);
    let creator = if psychiatric { ward } else { social };
    let cpr = synthetic_cpr(index);
    let (mut client, professional) = clients.of(creator);
    let created = client
        .create_plan(pb::CreatePlanRequest {
            cpr: cpr.clone(),
            request_id: format!("population-{index}"),
            reason: "henvist".into(),
        })
        .await?
        .into_inner();
    let plan = created.plan.ok_or_else(|| tonic::Status::internal("no plan"))?;
    let mut c =
        Citizen { index, plan: plan.name, versions: HashMap::from([(creator, plan.version)]), sent: 0, clients };
    let now = day(today);
    let contact = |organisation: &str, professional: &str| {
        Command::AssignContactPerson(pb::AssignContactPerson {
            organisation_id: organisation.into(),
            professional_id: professional.into(),
        })
    };
    c.change(creator, contact(creator, professional)).await?;
    c.change(creator, Command::ActivatePlan(pb::ActivatePlan {})).await?;
    let take =
        |section: pb::SectionKind| Command::TakeSectionOwnership(pb::TakeSectionOwnership { section: section as i32 });
    let activity = |section: pb::SectionKind, legal: pb::LegalPlanType, professional: &str| {
        Command::AddActivity(pb::AddActivity {
            section: section as i32,
            title: "indsats".into(),
            legal_plan_type: legal as i32,
            responsible_professional_id: professional.into(),
            start_date: now.clone(),
            end_date: String::new(),
            goal_ids: Vec::new(),
        })
    };

    if psychiatric {
        c.change(ward, take(pb::SectionKind::Psychiatry)).await?;
        c.change(ward, activity(pb::SectionKind::Psychiatry, pb::LegalPlanType::Behandlingsplan, professional)).await?;
        // The referral, and the waits after it: most assessments within 30 days, some later, some not yet.
        let referred = today - Duration::days(rng.random_range(20..=330));
        c.change(ward, milestone(M::ReferredForAssessment, day(referred), String::new())).await?;
        let wait = match rng.random_range(0..10) {
            0..=6 => rng.random_range(7..=30),
            7 | 8 => rng.random_range(31..=60),
            _ => 400,
        };
        let assessed = referred + Duration::days(wait);
        if assessed <= today {
            let command = Command::RecordMilestone(pb::RecordMilestone {
                milestone: M::AssessmentCompleted as i32,
                occurred_on: day(assessed),
                serious_illness: rng.random_bool(0.5),
                ..Default::default()
            });
            c.change(ward, command).await?;
            let treated = assessed + Duration::days(rng.random_range(5..=50));
            if treated <= today {
                c.change(ward, milestone(M::PsychiatricTreatmentStarted, day(treated), String::new())).await?;
                if rng.random_bool(0.4) {
                    discharge(&mut c, &mut rng, ward, social, capital, treated, today).await?;
                }
            }
        }
        if capital && rng.random_bool(0.25) {
            dual_diagnosis(&mut c, &mut rng, ward, today).await?;
        }
        if rng.random_bool(0.08) {
            consent_withdrawn(&mut c, &mut rng, ward, today).await?;
        }
        if rng.random_bool(0.03) {
            // A physician of the other region's ward, at the emergency department.
            let other = if capital { "psykiatri-aarhus" } else { "psykiatri-amager" };
            let (mut client, _) = c.clients.of(other);
            let justification = "akut indlagt, bevidstløs, behov for medicinliste".to_owned();
            let request = pb::RequestEmergencyAccessRequest {
                cpr,
                justification,
                request_id: format!("population-{index}-emergency"),
            };
            client.request_emergency_access(request).await?;
        }
    } else {
        c.change(social, take(pb::SectionKind::Social)).await?;
        c.change(social, activity(pb::SectionKind::Social, pb::LegalPlanType::Handleplan, c.clients.of(social).1))
            .await?;
    }
    Ok(())
}

/// A discharge planned after the treatment started: a network meeting called
/// (and mostly held), the job centre on the team (in the capital) offering an
/// udskrivningskoordinator, and the contact person often passed to social services.
async fn discharge(
    c: &mut Citizen,
    rng: &mut StdRng,
    ward: &'static str,
    social: &'static str,
    capital: bool,
    treated: NaiveDate,
    today: NaiveDate,
) -> Result<(), tonic::Status> {
    use pb::MilestoneKind as M;
    let day = |date: NaiveDate| date.format("%Y-%m-%d").to_string();
    let now = day(today);
    let planned = treated + Duration::days(rng.random_range(0..=30)).min(today - treated);
    let expected = planned + Duration::days(7);
    c.change(ward, milestone(M::DischargePlanned, day(planned), day(expected))).await?;
    // The udskrivningsaftale (psykiatriloven § 13 a) is social services' ground for the discharge.
    let agreement = pb::AddActivity {
        section: pb::SectionKind::Psychiatry as i32,
        title: "udskrivningsaftale".into(),
        legal_plan_type: pb::LegalPlanType::Udskrivningsaftale as i32,
        responsible_professional_id: c.clients.of(ward).1.into(),
        start_date: now.clone(),
        end_date: String::new(),
        goal_ids: Vec::new(),
    };
    c.change(ward, Command::AddActivity(agreement)).await?;
    c.invite(ward, social, pb::ProfessionalRole::SocialWorker, "udskrivningsaftale, psykiatriloven § 13 a", &now)
        .await?;
    if capital && rng.random_bool(0.6) {
        // The job centre hears of the discharge under the citizen's consent, which the ward records.
        let consent = pb::RecordConsent {
            recipient_organisation_id: "jobcenter-kbh".into(),
            categories: vec![pb::DataCategory::DischargeCoordination as i32],
            given_by: pb::ConsentGiver::Citizen as i32,
            form: pb::ConsentForm::Oral as i32,
            given_on: now.clone(),
            valid_until: String::new(),
            purpose: "udskrivningskoordinator".into(),
            document_reference: String::new(),
        };
        c.change(ward, Command::RecordConsent(consent)).await?;
        c.invite(ward, "jobcenter-kbh", pb::ProfessionalRole::JobConsultant, "borgerens samtykke", &now).await?;
        if rng.random_bool(0.65) {
            let offer = pb::OfferDischargeCoordinator {
                mentor_professional_id: "mentor-31".into(),
                start_date: day(planned),
                end_date: day(planned + Duration::days(190)),
            };
            c.change("jobcenter-kbh", Command::OfferDischargeCoordinator(offer)).await?;
        }
    }
    let called = rng.random_bool(0.6);
    if called {
        c.change(social, Command::RequestNetworkMeeting(pb::RequestNetworkMeeting { meeting_date: now.clone() }))
            .await?;
        if rng.random_bool(0.75) {
            c.change(social, milestone(M::NetworkMeetingHeld, now.clone(), String::new())).await?;
        }
    }
    if rng.random_bool(0.5) {
        let professional = c.clients.of(social).1;
        let handover = pb::HandOverContactPerson {
            from_organisation_id: ward.into(),
            from_professional_id: c.clients.of(ward).1.into(),
            to_organisation_id: social.into(),
            to_professional_id: professional.into(),
            reason: "udskrevet".into(),
        };
        c.change(ward, Command::HandOverContactPerson(handover)).await?;
    }
    let discharged = if called { today } else { expected.min(today) };
    c.change(ward, Command::CompleteDischarge(pb::CompleteDischarge { discharge_date: day(discharged) })).await?;
    Ok(())
}

/// A citizen visiteret to integrated dual-diagnosis treatment; for half of
/// them a koordinerende indsatsplan with the addiction service, mostly agreed.
async fn dual_diagnosis(
    c: &mut Citizen,
    rng: &mut StdRng,
    ward: &'static str,
    today: NaiveDate,
) -> Result<(), tonic::Status> {
    use pb::MilestoneKind as M;
    let day = |date: NaiveDate| date.format("%Y-%m-%d").to_string();
    let now = day(today);
    c.change(ward, milestone(M::ReferredForDualDiagnosisTreatment, now.clone(), String::new())).await?;
    if rng.random_bool(0.5) {
        return Ok(());
    }
    let addiction = "kbh-misbrugsbehandling";
    let ground = "koordinerende indsatsplan, med borgerens samtykke";
    c.invite(ward, addiction, pb::ProfessionalRole::AddictionCounsellor, ground, &now).await?;
    let take = pb::TakeSectionOwnership { section: pb::SectionKind::Addiction as i32 };
    c.change(addiction, Command::TakeSectionOwnership(take)).await?;
    let start = pb::StartIndsatsplan { next_meeting_date: day(today + Duration::days(60)) };
    c.change(ward, Command::StartIndsatsplan(start)).await?;
    if rng.random_bool(0.7) {
        c.change(ward, Command::SignIndsatsplan(pb::SignIndsatsplan { version: 1 })).await?;
        c.change(addiction, Command::SignIndsatsplan(pb::SignIndsatsplan { version: 1 })).await?;
        c.change(ward, Command::AcceptIndsatsplan(pb::AcceptIndsatsplan { version: 1 })).await?;
    }
    Ok(())
}

/// The ward records the citizen's consent that the job centre may know of the
/// treatment; the citizen withdraws it later.
async fn consent_withdrawn(
    c: &mut Citizen,
    rng: &mut StdRng,
    ward: &'static str,
    today: NaiveDate,
) -> Result<(), tonic::Status> {
    let given = today - Duration::days(rng.random_range(30..=200));
    let consent = pb::RecordConsent {
        recipient_organisation_id: "jobcenter-kbh".into(),
        categories: vec![pb::DataCategory::Psychiatric as i32],
        given_by: pb::ConsentGiver::Citizen as i32,
        form: pb::ConsentForm::Oral as i32,
        given_on: given.format("%Y-%m-%d").to_string(),
        valid_until: String::new(),
        purpose: "afklaring af beskæftigelse".into(),
        document_reference: String::new(),
    };
    let recorded = c.change(ward, Command::RecordConsent(consent)).await?;
    let consent_id = added_id(&recorded).map_err(|e| tonic::Status::internal(e.to_string()))?;
    c.change(
        ward,
        Command::WithdrawConsent(pb::WithdrawConsent {
            consent_id, reason: "borgeren ønsker det ikke længere".into()
        }),
    )
    .await?;
    Ok(())
}

/// The indicators the demo prints, with a short label.
const SHOWN: [(&str, &str); 10] = [
    ("clock-met-assessment", "assessed within deadline"),
    ("days-referral-to-assessment-median", "days to assessment, median"),
    ("days-referral-to-assessment-p90", "days to assessment, p90"),
    ("days-referral-to-treatment-median", "days to treatment, median"),
    ("discharge-network-meeting-in-time", "network meeting in time"),
    ("discharge-coordinator-offered", "udskrivningskoordinator offered"),
    ("dual-diagnosis-indsatsplan-agreed", "dual diagnosis: plan agreed"),
    ("contact-persons-per-citizen", "contact persons / citizen (12 mo)"),
    ("legal-plans-per-citizen", "legal plans / citizen"),
    ("emergency-accesses-per-1000-plans", "emergency accesses / 1,000 plans"),
];

/// Prints the indicators of the last four quarters, country-wide, and this
/// quarter by region, as an analyst of the ward reads them.
pub async fn print_indicators(hub: &EmbeddedHub, today: NaiveDate) -> anyhow::Result<()> {
    use chrono::Datelike;
    let mut analyst = hub.indicator_client("psykiatri-amager", "analyst-1").await?;
    let quarter_start = |date: NaiveDate| NaiveDate::from_ymd_opt(date.year(), (date.month0() / 3) * 3 + 1, 1);
    let this_quarter = quarter_start(today).unwrap_or(today);
    let first = quarter_start(this_quarter - Duration::days(270)).unwrap_or(this_quarter);
    let month = |date: NaiveDate| date.format("%Y-%m").to_string();
    let last = this_quarter + Duration::days(62);
    let ask = |from: NaiveDate, grouping: pb::IndicatorGrouping| pb::QueryIndicatorsRequest {
        indicator_ids: SHOWN.iter().map(|(id, _)| (*id).to_owned()).collect(),
        from_month: month(from),
        to_month: month(last),
        granularity: pb::PeriodGranularity::Quarter as i32,
        grouping: grouping as i32,
    };
    // Until the hub has counted its log (it does so after every start).
    let country = loop {
        match analyst.query_indicators(ask(first, pb::IndicatorGrouping::Country)).await {
            Err(status) if reason_of(&status) == "INDICATORS_COUNTING" => {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            answer => break answer?.into_inner(),
        }
    };
    let regions = analyst.query_indicators(ask(this_quarter, pb::IndicatorGrouping::Region)).await?.into_inner();
    let periods: std::collections::BTreeSet<&str> = country.values.iter().map(|v| v.period.as_str()).collect();
    // The citizen portal is in no region: its column would be empty.
    let names: std::collections::BTreeSet<&str> =
        regions.values.iter().map(|v| v.group_name.as_str()).filter(|n| n.starts_with("Region ")).collect();
    print!("  {:<34}", "Denmark");
    periods.iter().for_each(|p| print!("{p:>10}"));
    names.iter().for_each(|n| print!("  {:>22}", short_region(n)));
    println!();
    for (id, label) in SHOWN {
        print!("  {label:<34}");
        for period in &periods {
            let value = country.values.iter().find(|v| v.indicator_id == id && v.period == *period);
            print!("{:>10}", value.map(shown).unwrap_or_default());
        }
        for name in &names {
            let value = regions.values.iter().find(|v| v.indicator_id == id && v.group_name == *name);
            print!("  {:>22}", value.map(shown).unwrap_or_default());
        }
        println!();
    }
    println!(
        "  (shares as %; \"<{0}\" a count below {0}, \"(c)\" suppressed with it; \"-\" nothing to count, as of log position {1}.\n   \
         Stocks stand at each quarter's end as the hub had recorded them: this population was recorded today, so they start this quarter.)",
        country.min_count, country.log_position
    );
    Ok(())
}

fn short_region(name: &str) -> String {
    format!("{} (this Q)", name.trim_start_matches("Region "))
}

/// A value as the table shows it.
fn shown(v: &pb::IndicatorValue) -> String {
    match (pb::Suppression::try_from(v.suppression), v.value) {
        (Ok(pb::Suppression::SmallCount), _) => "<5".into(),
        (Ok(pb::Suppression::Complementary), _) => "(c)".into(),
        (_, None) => "-".into(),
        (_, Some(x)) if v.unit == pb::IndicatorUnit::Share as i32 => format!("{:.0}%", 100.0 * x),
        (_, Some(x)) if v.unit == pb::IndicatorUnit::Per1000Plans as i32 => format!("{x:.1}"),
        (_, Some(x)) if v.unit == pb::IndicatorUnit::PerCitizen as i32 => format!("{x:.2}"),
        (_, Some(x)) => format!("{x:.0}"),
    }
}
