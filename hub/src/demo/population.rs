//! A synthetic population for the indicators: citizens of two regions run
//! through the flows — referrals, assessments and treatment with realistic
//! waits, discharges, dual diagnoses with their indsatsplan, contact
//! persons handed over, consents withdrawn, emergency accesses — by the
//! development organisations, day by day over the past year, on a hub whose
//! clock the population moves (so that each event is recorded on its day).

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use chrono::{Duration, NaiveDate};
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use samplan_proto::v1 as pb;
use samplan_proto::v1::change_plan_request::Command;
use samplan_services::domain::Timestamp;

use super::{change_on_version, milestone, reason_of};
use crate::client::{PlanClient, added_id};
use crate::embedded::EmbeddedHub;

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

/// A hub's clock that the population moves: noon (UTC) of the day it plays.
#[derive(Clone, Default)]
pub struct SimulatedClock(Arc<AtomicI64>);

impl SimulatedClock {
    pub fn clock(&self) -> samplan_services::store::Clock {
        let now = self.0.clone();
        Arc::new(move || match now.load(Ordering::Relaxed) {
            0 => Timestamp::now(),
            micros => Timestamp(micros),
        })
    }

    pub fn set(&self, day: NaiveDate) {
        let noon = day.and_hms_opt(12, 0, 0).map_or(0, |t| t.and_utc().timestamp_micros());
        self.0.store(noon, Ordering::Relaxed);
    }

    /// Back to the wall clock.
    pub fn release(&self) {
        self.0.store(0, Ordering::Relaxed);
    }
}

/// A development hub in `dir` (a fresh PKI and configuration, as `dev-pki`
/// writes them) whose clock the population moves.
pub async fn hub(dir: &Path) -> anyhow::Result<(EmbeddedHub, SimulatedClock)> {
    let clock = SimulatedClock::default();
    // The deadline watcher looks every 200 ms: the days pass quickly.
    let hub = EmbeddedHub::start_configured_at(dir, "[deadlines]\ncheck_interval_ms = 200\n", clock.clock()).await?;
    Ok((hub, clock))
}

/// One thing an organisation does for a citizen.
#[derive(Clone)]
enum Step {
    Create(&'static str),
    Change(&'static str, Command),
    /// A consent the citizen will withdraw (a `RecordConsent` command).
    Consent(&'static str, Command),
    /// Withdraws the consent the citizen's last consent step recorded.
    WithdrawConsent(&'static str),
    Emergency(&'static str),
}

/// A citizen's history: what happens on which day, in order.
type History = Vec<(NaiveDate, Step)>;

/// Plays the histories of `citizens` synthetic citizens (numbered from
/// `first`), drawn from `seed`, day by day from a year before `today` to
/// `today`, moving `clock`; says how many histories a refusal cut short
/// (none, when all is well).
pub async fn play(
    hub: &EmbeddedHub,
    clock: &SimulatedClock,
    (first, citizens): (usize, usize),
    seed: u64,
    today: NaiveDate,
) -> anyhow::Result<usize> {
    let mut clients = HashMap::new();
    for (organisation, professional, role) in ACTORS {
        clients.insert(organisation, (hub.plan_client(organisation, professional, role).await?, professional));
    }
    let mut days: BTreeMap<NaiveDate, Vec<(usize, Vec<Step>)>> = BTreeMap::new();
    for index in first..first + citizens {
        let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ index as u64);
        let mut by_day: BTreeMap<NaiveDate, Vec<Step>> = BTreeMap::new();
        for (day, step) in history(&mut rng, today).into_iter().filter(|(day, _)| *day <= today) {
            by_day.entry(day).or_default().push(step);
        }
        for (day, steps) in by_day {
            days.entry(day).or_default().push((index, steps));
        }
    }
    let refused = AtomicUsize::new(0);
    let mut plans: HashMap<usize, Citizen> = HashMap::new();
    for (day, todo) in days {
        clock.set(day);
        let work = todo.into_iter().map(|(index, steps)| {
            let citizen = plans.remove(&index).unwrap_or_else(|| Citizen::new(index, &clients));
            citizen.play(steps)
        });
        let done: Vec<Citizen> = futures::stream::iter(work).buffer_unordered(32).collect().await;
        for mut citizen in done {
            if let Some(why) = citizen.refused.as_deref()
                && !std::mem::replace(&mut citizen.reported, true)
                && refused.fetch_add(1, Ordering::Relaxed) == 0
            {
                eprintln!("  (a change was refused: {why})");
            }
            plans.insert(citizen.index, citizen);
        }
    }
    clock.release();
    Ok(refused.into_inner())
}

/// One synthetic citizen's plan, as the organisations write it.
struct Citizen {
    index: usize,
    plan: String,
    /// The version each organisation last saw.
    versions: HashMap<&'static str, u64>,
    sent: u32,
    consent: Option<String>,
    clients: HashMap<&'static str, (PlanClient, &'static str)>,
    /// Why the history stopped, if it did.
    refused: Option<String>,
    /// Whether that was said already.
    reported: bool,
}

impl Citizen {
    fn new(index: usize, clients: &HashMap<&'static str, (PlanClient, &'static str)>) -> Self {
        let clients = clients.clone();
        let versions = HashMap::new();
        Self { index, plan: String::new(), versions, sent: 0, consent: None, clients, refused: None, reported: false }
    }

    async fn play(mut self, steps: Vec<Step>) -> Self {
        for step in steps {
            if self.refused.is_some() {
                break;
            }
            if let Err(status) = self.step(step).await {
                self.refused = Some(format!("{:?} {}: {}", status.code(), reason_of(&status), status.message()));
            }
        }
        self
    }

    async fn step(&mut self, step: Step) -> Result<(), tonic::Status> {
        match step {
            Step::Create(organisation) => {
                let (mut client, _) = self.clients[organisation].clone();
                let request = pb::CreatePlanRequest {
                    cpr: synthetic_cpr(self.index),
                    request_id: format!("population-{}", self.index),
                    reason: "henvist".into(),
                };
                let plan = client.create_plan(request).await?.into_inner().plan;
                let plan = plan.ok_or_else(|| tonic::Status::internal("no plan"))?;
                (self.plan, self.versions) = (plan.name, HashMap::from([(organisation, plan.version)]));
            }
            Step::Change(organisation, command) => drop(self.change(organisation, command).await?),
            Step::Consent(organisation, command) => {
                let response = self.change(organisation, command).await?;
                self.consent = added_id(&response).ok();
            }
            Step::WithdrawConsent(organisation) => {
                if let Some(consent_id) = self.consent.take() {
                    let reason = "borgeren ønsker det ikke længere".into();
                    self.change(organisation, Command::WithdrawConsent(pb::WithdrawConsent { consent_id, reason }))
                        .await?;
                }
            }
            Step::Emergency(organisation) => {
                let (mut client, _) = self.clients[organisation].clone();
                let request = pb::RequestEmergencyAccessRequest {
                    cpr: synthetic_cpr(self.index),
                    justification: "akut indlagt, bevidstløs, behov for medicinliste".into(),
                    request_id: format!("population-{}-emergency", self.index),
                };
                client.request_emergency_access(request).await?;
            }
        }
        Ok(())
    }

    /// Sends `command` as `organisation`, on the version it last saw and, if
    /// that was stale, once more on the current one.
    async fn change(
        &mut self,
        organisation: &'static str,
        command: Command,
    ) -> Result<pb::ChangePlanResponse, tonic::Status> {
        let (mut client, _) = self.clients[organisation].clone();
        // An organisation new to the plan learns its version from the refusal.
        let mut version = self.versions.get(organisation).copied().unwrap_or(1);
        let (index, sent) = (self.index, &mut self.sent);
        let request_id = || {
            *sent += 1;
            format!("population-{index}-{sent}")
        };
        let answered = change_on_version(&mut client, &self.plan, &mut version, command, request_id).await;
        self.versions.insert(organisation, version);
        answered.map(|(_, response)| response)
    }
}

/// A synthetic eCPR replacement number for the `index`th citizen (letters in
/// positions 8–9): never a real person's CPR number, distinct per index.
fn synthetic_cpr(index: usize) -> String {
    let day = 1 + index % 28;
    let month = 1 + (index / 28) % 12;
    let year = 50 + (index / 336) % 50;
    let letters = |n: usize| char::from(b'A' + (n % 26) as u8);
    format!(
        "{day:02}{month:02}{year:02}{}{}{}{}",
        index / 16800 % 10,
        letters(index / 26 % 26),
        letters(index),
        index % 10
    )
}

fn date(day: NaiveDate) -> String {
    day.format("%Y-%m-%d").to_string()
}

/// The regions' organisations: (ward, social services).
fn organisations(capital: bool) -> (&'static str, &'static str) {
    if capital {
        ("psykiatri-amager", "kbh-socialforvaltning")
    } else {
        ("psykiatri-aarhus", "aarhus-socialforvaltning")
    }
}

fn professional(organisation: &str) -> &'static str {
    ACTORS.iter().find(|(o, _, _)| *o == organisation).map_or("", |(_, p, _)| p)
}

fn invite(organisation: &'static str, role: pb::ProfessionalRole, ground: &str, on: NaiveDate) -> Command {
    Command::AddCareTeamMember(pb::AddCareTeamMember {
        organisation_id: organisation.into(),
        professional_id: professional(organisation).into(),
        role: role as i32,
        start_date: date(on),
        end_date: String::new(),
        ground: ground.into(),
    })
}

fn activity(section: pb::SectionKind, legal: pb::LegalPlanType, organisation: &str, on: NaiveDate) -> Command {
    Command::AddActivity(pb::AddActivity {
        section: section as i32,
        title: "indsats".into(),
        legal_plan_type: legal as i32,
        responsible_professional_id: professional(organisation).into(),
        start_date: date(on),
        end_date: String::new(),
        goal_ids: Vec::new(),
    })
}

fn take(section: pb::SectionKind) -> Command {
    Command::TakeSectionOwnership(pb::TakeSectionOwnership { section: section as i32 })
}

/// One citizen's history, drawn from `rng`: a plan created on the day of the
/// referral (or social services' first contact) some time in the past year.
fn history(rng: &mut StdRng, today: NaiveDate) -> History {
    use pb::MilestoneKind as M;
    let capital = rng.random_bool(0.6);
    let (ward, social) = organisations(capital);
    let psychiatric = rng.random_bool(0.75);
    let creator = if psychiatric { ward } else { social };
    let start = today - Duration::days(rng.random_range(20..=360));
    let contact =
        pb::AssignContactPerson { organisation_id: creator.into(), professional_id: professional(creator).into() };
    let mut steps = vec![
        (start, Step::Create(creator)),
        (start, Step::Change(creator, Command::AssignContactPerson(contact))),
        (start, Step::Change(creator, Command::ActivatePlan(pb::ActivatePlan {}))),
    ];
    if !psychiatric {
        steps.push((start, Step::Change(social, take(pb::SectionKind::Social))));
        steps.push((
            start,
            Step::Change(social, activity(pb::SectionKind::Social, pb::LegalPlanType::Handleplan, social, start)),
        ));
        return steps;
    }
    steps.push((start, Step::Change(ward, take(pb::SectionKind::Psychiatry))));
    steps.push((
        start,
        Step::Change(ward, activity(pb::SectionKind::Psychiatry, pb::LegalPlanType::Behandlingsplan, ward, start)),
    ));
    steps.push((start, Step::Change(ward, milestone(M::ReferredForAssessment, date(start), String::new()))));
    // Most assessments within the 30 days, some later, a few not yet.
    let wait = match rng.random_range(0..10) {
        0..=6 => rng.random_range(7..=30),
        7 | 8 => rng.random_range(31..=60),
        _ => 400,
    };
    let assessed = start + Duration::days(wait);
    let serious = rng.random_bool(0.5);
    let assessment = pb::RecordMilestone {
        milestone: M::AssessmentCompleted as i32,
        occurred_on: date(assessed),
        serious_illness: serious,
        ..Default::default()
    };
    steps.push((assessed, Step::Change(ward, Command::RecordMilestone(assessment))));
    let treated = assessed + Duration::days(rng.random_range(5..=50));
    steps.push((treated, Step::Change(ward, milestone(M::PsychiatricTreatmentStarted, date(treated), String::new()))));
    if rng.random_bool(0.4) {
        let planned = treated + Duration::days(rng.random_range(0..=30));
        discharge(rng, &mut steps, capital, planned);
    }
    if capital && rng.random_bool(0.25) {
        let referred = start + Duration::days(rng.random_range(0..=60));
        dual_diagnosis(rng, &mut steps, ward, referred);
    }
    if rng.random_bool(0.08) {
        let given = start + Duration::days(rng.random_range(0..=30));
        consent_withdrawn(rng, &mut steps, ward, given);
    }
    if rng.random_bool(0.03) {
        // A physician of the other region's ward, at the emergency department.
        let other = organisations(!capital).0;
        steps.push((start + Duration::days(rng.random_range(1..=200)), Step::Emergency(other)));
    }
    steps.sort_by_key(|(day, _)| *day);
    steps
}

/// A discharge planned on `planned`: the udskrivningsaftale (social
/// services' ground), the job centre on the team in the capital under the
/// citizen's consent (mostly offering an udskrivningskoordinator), a
/// network meeting called (and mostly held in time), the contact person
/// often passed to social services at the discharge a week later.
fn discharge(rng: &mut StdRng, steps: &mut History, capital: bool, planned: NaiveDate) {
    use pb::MilestoneKind as M;
    let (ward, social) = organisations(capital);
    let expected = planned + Duration::days(7);
    let mut on = |day: NaiveDate, organisation: &'static str, command: Command| {
        steps.push((day, Step::Change(organisation, command)));
    };
    on(planned, ward, milestone(M::DischargePlanned, date(planned), date(expected)));
    on(planned, ward, activity(pb::SectionKind::Psychiatry, pb::LegalPlanType::Udskrivningsaftale, ward, planned));
    on(
        planned,
        ward,
        invite(social, pb::ProfessionalRole::SocialWorker, "udskrivningsaftale, psykiatriloven § 13 a", planned),
    );
    if capital && rng.random_bool(0.6) {
        let consent = job_centre_consent(pb::DataCategory::DischargeCoordination, "udskrivningskoordinator", planned);
        on(planned, ward, consent);
        on(planned, ward, invite("jobcenter-kbh", pb::ProfessionalRole::JobConsultant, "borgerens samtykke", planned));
        if rng.random_bool(0.65) {
            let offer = pb::OfferDischargeCoordinator {
                mentor_professional_id: "mentor-31".into(),
                start_date: date(planned + Duration::days(1)),
                end_date: date(planned + Duration::days(191)),
            };
            on(planned + Duration::days(1), "jobcenter-kbh", Command::OfferDischargeCoordinator(offer));
        }
    }
    let called = planned + Duration::days(1);
    if rng.random_bool(0.6) {
        let meeting = pb::RequestNetworkMeeting { meeting_date: date(called + Duration::days(2)) };
        on(called, social, Command::RequestNetworkMeeting(meeting));
        if rng.random_bool(0.8) {
            // Within the 5 working days mostly; now and then later.
            let held = called + Duration::days(if rng.random_bool(0.85) { 2 } else { 12 });
            on(held, social, milestone(M::NetworkMeetingHeld, date(held), String::new()));
        }
    }
    let discharged = expected + Duration::days(rng.random_range(0..=10));
    if rng.random_bool(0.5) {
        let handover = pb::HandOverContactPerson {
            from_organisation_id: ward.into(),
            from_professional_id: professional(ward).into(),
            to_organisation_id: social.into(),
            to_professional_id: professional(social).into(),
            reason: "udskrevet".into(),
        };
        on(discharged, ward, Command::HandOverContactPerson(handover));
    }
    on(discharged, ward, Command::CompleteDischarge(pb::CompleteDischarge { discharge_date: date(discharged) }));
}

/// A citizen visiteret to integrated dual-diagnosis treatment on `on`; for
/// half of them a koordinerende indsatsplan with the addiction service,
/// mostly signed by both sides and accepted.
fn dual_diagnosis(rng: &mut StdRng, steps: &mut History, ward: &'static str, on: NaiveDate) {
    use pb::MilestoneKind as M;
    let addiction = "kbh-misbrugsbehandling";
    steps.push((on, Step::Change(ward, milestone(M::ReferredForDualDiagnosisTreatment, date(on), String::new()))));
    if rng.random_bool(0.5) {
        return;
    }
    let ground = "koordinerende indsatsplan, med borgerens samtykke";
    let started = on + Duration::days(rng.random_range(1..=20));
    let start = pb::StartIndsatsplan { next_meeting_date: date(started + Duration::days(60)) };
    let mut then = |day: NaiveDate, organisation: &'static str, command: Command| {
        steps.push((day, Step::Change(organisation, command)));
    };
    then(started, ward, invite(addiction, pb::ProfessionalRole::AddictionCounsellor, ground, started));
    then(started, addiction, take(pb::SectionKind::Addiction));
    then(started, ward, Command::StartIndsatsplan(start));
    if rng.random_bool(0.7) {
        let signed = started + Duration::days(rng.random_range(1..=30));
        then(signed, ward, Command::SignIndsatsplan(pb::SignIndsatsplan { version: 1 }));
        then(signed, addiction, Command::SignIndsatsplan(pb::SignIndsatsplan { version: 1 }));
        then(signed, ward, Command::AcceptIndsatsplan(pb::AcceptIndsatsplan { version: 1 }));
    }
}

/// The ward records on `given` the citizen's consent that the job centre
/// may know of the treatment; the citizen withdraws it some weeks later.
fn consent_withdrawn(rng: &mut StdRng, steps: &mut History, ward: &'static str, given: NaiveDate) {
    let consent = job_centre_consent(pb::DataCategory::Psychiatric, "afklaring af beskæftigelse", given);
    steps.push((given, Step::Consent(ward, consent)));
    steps.push((given + Duration::days(rng.random_range(20..=120)), Step::WithdrawConsent(ward)));
}

/// The citizen's oral consent, given on `on`, that the job centre may know `category` for `purpose`.
fn job_centre_consent(category: pb::DataCategory, purpose: &str, on: NaiveDate) -> Command {
    Command::RecordConsent(pb::RecordConsent {
        recipient_organisation_id: "jobcenter-kbh".into(),
        categories: vec![category as i32],
        given_by: pb::ConsentGiver::Citizen as i32,
        form: pb::ConsentForm::Oral as i32,
        given_on: date(on),
        valid_until: String::new(),
        purpose: purpose.into(),
        document_reference: String::new(),
    })
}
