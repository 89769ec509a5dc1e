//! The harness of Samplan's end-to-end tests: a real hub with real mTLS on a
//! real store — sled in a throwaway folder, or a throwaway PostgreSQL
//! cluster — and real gRPC clients. Tests written inside [`on_both_engines!`]
//! run once on each engine, from the same code.

use std::collections::HashMap;

use samplan_hub::client::PlanClient;
pub use samplan_hub::client::added_id;
use samplan_hub::embedded::EmbeddedHub;
use samplan_proto::v1 as pb;
use samplan_services::domain::AuditEntry;
use tonic::Status;
use tonic_types::StatusExt;

/// Throwaway PostgreSQL clusters (the load tool starts them too).
pub use samplan_hub::pg_cluster as postgres;
pub mod process;

pub const WARD: &str = "psykiatri-amager";
pub const SOCIAL: &str = "kbh-socialforvaltning";
pub const JOB: &str = "jobcenter-kbh";
pub const ADDICTION: &str = "kbh-misbrugsbehandling";

/// A fictitious citizen's CPR number (1 Jan 1990; fails modulus 11, which must not matter).
pub const CPR: &str = "0101901235";

/// The engine a test's hubs keep their log in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sled,
    Postgres,
}

tokio::task_local! {
    static ENGINE: Engine;
}

/// The engine of the test running now: sled, unless [`on_both_engines!`] says otherwise.
pub fn engine() -> Engine {
    ENGINE.try_with(|engine| *engine).unwrap_or(Engine::Sled)
}

/// Runs `test` with its hubs on `engine`; on PostgreSQL, skipped (with one
/// line) on a machine without it, unless `SAMPLAN_REQUIRE_POSTGRES` is set.
pub async fn run_on(engine: Engine, test: impl Future<Output = anyhow::Result<()>>) -> anyhow::Result<()> {
    if engine == Engine::Postgres && !postgres::available()? {
        return Ok(());
    }
    ENGINE.scope(engine, test).await
}

/// Declares each test in it twice, in a module named after it: `sled` and
/// `postgres`, the same code with its hubs on each engine.
#[macro_export]
macro_rules! on_both_engines {
    ($($(#[$meta:meta])* async fn $name:ident() -> $result:ty $body:block)*) => {$(
        mod $name {
            #[allow(unused_imports)]
            use super::*;

            $(#[$meta])*
            async fn test() -> $result $body

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sled() -> anyhow::Result<()> {
                $crate::run_on($crate::Engine::Sled, test()).await
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() -> anyhow::Result<()> {
                $crate::run_on($crate::Engine::Postgres, test()).await
            }
        }
    )*};
}

/// Environment variables for a hub process.
pub type Env = Vec<(&'static str, String)>;

/// For a hub run as a process (`samplan serve`): on PostgreSQL, a cluster
/// and the environment that puts the hub on it; on sled, neither.
pub fn store_env() -> anyhow::Result<(Option<postgres::Postgres>, Env)> {
    if engine() == Engine::Sled {
        return Ok((None, Vec::new()));
    }
    let postgres = postgres::Postgres::start()?.ok_or_else(|| anyhow::anyhow!("no PostgreSQL to run on"))?;
    let url = postgres.connection_string("postgres");
    Ok((Some(postgres), vec![("SAMPLAN_STORE_ENGINE", "postgres".to_owned()), ("SAMPLAN_POSTGRES_URL", url)]))
}

/// What a stopped test hub stored, and its configuration.
pub struct KeptStore {
    pub config: samplan_hub::config::Config,
    pub postgres: Option<postgres::Postgres>,
    pub dir: tempfile::TempDir,
}

pub struct TestHub {
    pub hub: EmbeddedHub,
    /// The cluster of a hub that started its own PostgreSQL, stopped after the hub.
    postgres: Option<postgres::Postgres>,
    dir: tempfile::TempDir,
}

impl TestHub {
    pub async fn start() -> anyhow::Result<Self> {
        Self::start_configured("").await
    }

    /// A hub whose dev configuration ends with `settings` (TOML tables such as `[subscriptions]`).
    pub async fn start_configured(settings: &str) -> anyhow::Result<Self> {
        let (dir, postgres, store) = Self::prepare()?;
        let hub = EmbeddedHub::start_configured(dir.path(), &format!("{settings}\n{store}")).await?;
        Self::on_its_engine(hub, postgres, dir)
    }

    /// A hub whose dev configuration `edit` changed (e.g. its identity mode).
    pub async fn start_edited(edit: impl FnOnce(String) -> String) -> anyhow::Result<Self> {
        let (dir, postgres, store) = Self::prepare()?;
        let hub = EmbeddedHub::start_edited(dir.path(), |config| edit(config) + "\n" + &store).await?;
        Self::on_its_engine(hub, postgres, dir)
    }

    /// A hub that tells the time by `clock` instead of the wall clock.
    pub async fn start_at(clock: samplan_services::store::Clock) -> anyhow::Result<Self> {
        let (dir, postgres, store) = Self::prepare()?;
        let hub = EmbeddedHub::start_configured_at(dir.path(), &store, clock).await?;
        Self::on_its_engine(hub, postgres, dir)
    }

    /// A hub on the PostgreSQL database `url` names (a cluster the test runs itself).
    pub async fn start_on_database(url: &str) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let hub = EmbeddedHub::start_configured(dir.path(), &postgres::store_settings(url)).await?;
        anyhow::ensure!(hub.store.engine() == "postgres", "the hub runs on {}", hub.store.engine());
        Ok(Self { hub, postgres: None, dir })
    }

    /// A second hub on this one's configuration and PostgreSQL database; it
    /// must stop before this one (which may own the database).
    pub async fn start_beside(&self) -> anyhow::Result<Self> {
        anyhow::ensure!(
            self.hub.store.engine() == "postgres",
            "several hubs share a PostgreSQL store, not a sled folder"
        );
        let dir = tempfile::tempdir()?;
        let hub = self.hub.start_beside(dir.path()).await?;
        Ok(Self { hub, postgres: None, dir })
    }

    /// The test hub, once its store is on the engine the test runs on.
    fn on_its_engine(
        hub: EmbeddedHub,
        postgres: Option<postgres::Postgres>,
        dir: tempfile::TempDir,
    ) -> anyhow::Result<Self> {
        let expected = if postgres.is_some() { "postgres" } else { "sled" };
        anyhow::ensure!(hub.store.engine() == expected, "the hub runs on {}, not {expected}", hub.store.engine());
        Ok(Self { hub, postgres, dir })
    }

    /// The hub's folder, and on PostgreSQL its cluster and the settings that put the hub on it.
    fn prepare() -> anyhow::Result<(tempfile::TempDir, Option<postgres::Postgres>, String)> {
        let dir = tempfile::tempdir()?;
        if engine() == Engine::Sled {
            return Ok((dir, None, String::new()));
        }
        let postgres = postgres::Postgres::start()?.ok_or_else(|| anyhow::anyhow!("no PostgreSQL to run on"))?;
        let settings = postgres::store_settings(&postgres.connection_string("postgres"));
        Ok((dir, Some(postgres), settings))
    }

    /// Graceful shutdown; the hub's folder goes once it has stopped.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.hub.stop().await
    }

    /// Stops the hub gracefully and starts it again on the same
    /// configuration and store (its folder, its PostgreSQL cluster),
    /// telling the time by `clock`.
    pub async fn restart_at(self, clock: samplan_services::store::Clock) -> anyhow::Result<Self> {
        let Self { hub, postgres, dir } = self;
        let (pki, folder) = (hub.pki.try_clone()?, hub.dir.clone());
        hub.stop().await?;
        let hub = EmbeddedHub::start_with_at(&folder, pki, clock).await?;
        Ok(Self { hub, postgres, dir })
    }

    /// Stops the hub but keeps what it stored (its folder, its PostgreSQL
    /// cluster) for the test to look at.
    pub async fn stop_keeping_store(self) -> anyhow::Result<KeptStore> {
        let config = self.hub.config.clone();
        self.hub.stop().await?;
        Ok(KeptStore { config, postgres: self.postgres, dir: self.dir })
    }

    pub async fn client(&self, organisation: &str) -> anyhow::Result<PlanClient> {
        let (professional, role) = staff(organisation);
        self.hub.plan_client(organisation, professional, role).await
    }
}

/// The professional each test organisation acts through, and their role.
pub fn staff(organisation: &str) -> (&'static str, &'static str) {
    match organisation {
        WARD => ("aut-4471", "PHYSICIAN"),
        SOCIAL => ("sagsbeh-2210", "SOCIAL_WORKER"),
        JOB => ("jc-0915", "JOB_CONSULTANT"),
        _ => ("cfm-3307", "ADDICTION_COUNSELLOR"),
    }
}

/// Puts `organisation` on plan `name`'s care team by `inviter`'s invitation,
/// naming the ground it takes part on; returns the plan's new version.
pub async fn invite(inviter: &mut PlanClient, name: &str, organisation: &str, ground: &str) -> anyhow::Result<u64> {
    let plan = inviter.get_plan(pb::GetPlanRequest { name: name.into() }).await?.into_inner().plan;
    let version = plan.ok_or_else(|| anyhow::anyhow!("no plan"))?.version;
    let (professional, role) = staff(organisation);
    let role = pb::ProfessionalRole::from_str_name(&format!("PROFESSIONAL_ROLE_{role}")).unwrap_or_default();
    let invitation = pb::change_plan_request::Command::AddCareTeamMember(pb::AddCareTeamMember {
        organisation_id: organisation.into(),
        professional_id: professional.into(),
        role: role as i32,
        start_date: "2026-01-01".into(),
        end_date: String::new(),
        ground: ground.into(),
    });
    apply(inviter, name, version, invitation).await
}

/// Creates the test citizen's plan as `client`; returns (name, version).
pub async fn create_plan(client: &mut PlanClient, cpr: &str) -> anyhow::Result<(String, u64)> {
    join(client, cpr, "indlagt").await
}

pub fn change(
    name: &str,
    version: u64,
    request_id: &str,
    command: pb::change_plan_request::Command,
) -> pb::ChangePlanRequest {
    pb::ChangePlanRequest {
        name: name.into(),
        expected_version: version,
        request_id: request_id.into(),
        command: Some(command),
    }
}

/// The goals added to plan `name`, by event sequence (its first 1,000 events).
pub async fn goals_by_sequence(client: &mut PlanClient, name: &str) -> anyhow::Result<Vec<(u64, String)>> {
    let request = pb::ListPlanEventsRequest { parent: name.into(), page_size: 1000, page_token: String::new() };
    let events = client.list_plan_events(request).await?.into_inner().events;
    Ok(events
        .into_iter()
        .filter_map(|e| match e.event {
            Some(pb::plan_event::Event::GoalAdded(g)) => Some((e.sequence, g.text)),
            _ => None,
        })
        .collect())
}

/// A goal of the citizen's that tells nothing of health, social or employment matters.
pub fn add_goal(text: &str) -> pb::change_plan_request::Command {
    pb::change_plan_request::Command::AddGoal(pb::AddGoal {
        text: text.into(),
        category: pb::DataCategory::Goals as i32,
    })
}

/// The fields a BadRequest detail names, with their descriptions.
pub fn field_violations(status: &Status) -> HashMap<String, String> {
    status
        .get_details_bad_request()
        .map(|b| b.field_violations.into_iter().map(|v| (v.field, v.description)).collect())
        .unwrap_or_default()
}

/// The ErrorInfo reason and metadata of a status.
pub fn error_info(status: &Status) -> Option<(String, HashMap<String, String>)> {
    status.get_details_error_info().map(|info| (info.reason, info.metadata))
}

/// A request carrying `correlation_id`, so that its audit record can be found.
pub fn tagged<T>(message: T, correlation_id: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    if let Ok(value) = correlation_id.parse() {
        request.metadata_mut().insert(samplan_services::access::CORRELATION_HEADER, value);
    }
    request
}

/// Every audit record the hub has written, by correlation id.
pub async fn audit_by_correlation(hub: &EmbeddedHub) -> anyhow::Result<HashMap<String, AuditEntry>> {
    let records = hub.store.audit_records(1, usize::MAX).await?;
    Ok(records.into_iter().map(|r| (r.entry.correlation_id.clone(), r.entry)).collect())
}

/// The reason the audit log records for the refused call tagged `correlation_id`.
pub async fn denied_reason(hub: &EmbeddedHub, correlation_id: &str) -> anyhow::Result<String> {
    let audit = audit_by_correlation(hub).await?;
    let entry = audit.get(correlation_id).ok_or_else(|| anyhow::anyhow!("{correlation_id} not audited"))?;
    match &entry.decision {
        samplan_services::domain::Decision::Denied { reason } if entry.categories.is_empty() => Ok(reason.clone()),
        other => anyhow::bail!("{correlation_id} audited as {other:?}"),
    }
}

/// The hub's own date (a Danish date) `days` from today, as YYYY-MM-DD.
pub fn hub_date(days: i64) -> String {
    (samplan_services::domain::Timestamp::now().date() + chrono::Duration::days(days)).format("%Y-%m-%d").to_string()
}

/// Applies `command` to the plan at `version` as `client`; returns the new version.
pub async fn apply(
    client: &mut PlanClient,
    name: &str,
    version: u64,
    command: pb::change_plan_request::Command,
) -> anyhow::Result<u64> {
    Ok(client.change_plan(change(name, version, "", command)).await?.into_inner().version)
}

/// How many events a version counts: a plan's version is 256 × the events
/// the caller may see, plus a code for the categories it sees.
pub fn events_in(version: u64) -> u64 {
    version / 256
}

/// The plan's version as `client` is shown it: each reader counts only the
/// events it may see, and its changes name that count.
pub async fn version_of(client: &mut PlanClient, name: &str) -> anyhow::Result<u64> {
    let plan = client.get_plan(pb::GetPlanRequest { name: name.into() }).await?.into_inner().plan;
    plan.map(|p| p.version).ok_or_else(|| anyhow::anyhow!("no plan"))
}

/// Applies `command` as `client` to the plan as it now sees it.
pub async fn apply_now(
    client: &mut PlanClient,
    name: &str,
    command: pb::change_plan_request::Command,
) -> anyhow::Result<pb::ChangePlanResponse> {
    let version = version_of(client, name).await?;
    Ok(client.change_plan(change(name, version, "", command)).await?.into_inner())
}

/// The current version a `STALE_VERSION` refusal names.
pub fn current_version(status: &Status) -> Option<u64> {
    error_info(status)?.1.get("current_version")?.parse().ok()
}

/// Applies `command` as `client` from `version`, retrying from the current
/// version a stale refusal names, as an integration would.
pub async fn apply_retrying(
    client: &mut PlanClient,
    name: &str,
    mut version: u64,
    command: pb::change_plan_request::Command,
) -> anyhow::Result<pb::ChangePlanResponse> {
    loop {
        match client.change_plan(change(name, version, "", command.clone())).await {
            Ok(response) => return Ok(response.into_inner()),
            Err(status) if status.code() == tonic::Code::Aborted => {
                version = current_version(&status).ok_or_else(|| anyhow::anyhow!("no current version: {status:?}"))?;
            }
            Err(status) => return Err(status.into()),
        }
    }
}

/// Applies `command` as `client` on `version`; returns the id of the item it added and the version after.
pub async fn add(
    client: &mut PlanClient,
    name: &str,
    version: u64,
    command: pb::change_plan_request::Command,
) -> anyhow::Result<(String, u64)> {
    let response = client.change_plan(change(name, version, "", command)).await?.into_inner();
    Ok((added_id(&response)?, response.version))
}

/// Joins (or creates) the citizen's plan as `client`; returns (name, version).
pub async fn join(client: &mut PlanClient, cpr: &str, reason: &str) -> anyhow::Result<(String, u64)> {
    let response = client
        .create_plan(pb::CreatePlanRequest { cpr: cpr.into(), request_id: String::new(), reason: reason.into() })
        .await?
        .into_inner();
    let plan = response.plan.ok_or_else(|| anyhow::anyhow!("no plan"))?;
    Ok((plan.name, plan.version))
}

/// The citizen's consent, given on 2 Jan 2026, that `recipient` may see
/// `categories` for `purpose`: written, kept in `document`, or oral when `document` is empty.
pub fn consent(
    recipient: &str,
    categories: &[pb::DataCategory],
    purpose: &str,
    document: &str,
) -> pb::change_plan_request::Command {
    let form = if document.is_empty() { pb::ConsentForm::Oral } else { pb::ConsentForm::Written };
    pb::change_plan_request::Command::RecordConsent(pb::RecordConsent {
        recipient_organisation_id: recipient.into(),
        categories: categories.iter().map(|c| *c as i32).collect(),
        given_by: pb::ConsentGiver::Citizen as i32,
        form: form as i32,
        given_on: "2026-01-02".into(),
        valid_until: String::new(),
        purpose: purpose.into(),
        document_reference: document.into(),
    })
}

/// The citizen's written consent that `recipient` may see psychiatric
/// information: recorded by the psychiatric service, which holds it.
pub fn psychiatric_consent(recipient: &str) -> pb::change_plan_request::Command {
    consent(recipient, &[pb::DataCategory::Psychiatric], "koordinering af behandling", "journal-2026-17")
}

/// The citizen's written consent that `recipient` may see substance-abuse
/// information: recorded by the addiction service, which holds it.
pub fn substance_consent(recipient: &str) -> pb::change_plan_request::Command {
    consent(recipient, &[pb::DataCategory::SubstanceAbuse], "koordinering af behandling", "misbrug-2026-4")
}

pub fn withdraw_consent(consent_id: &str) -> pb::change_plan_request::Command {
    pb::change_plan_request::Command::WithdrawConsent(pb::WithdrawConsent {
        consent_id: consent_id.into(),
        reason: "borgeren fortrød".into(),
    })
}

pub fn take_section(section: pb::SectionKind) -> pb::change_plan_request::Command {
    pb::change_plan_request::Command::TakeSectionOwnership(pb::TakeSectionOwnership { section: section as i32 })
}

/// An activity in `section`, starting 1 Nov 2026, with `responsible` as its responsible professional.
pub fn add_activity(
    section: pb::SectionKind,
    title: &str,
    legal: pb::LegalPlanType,
    responsible: &str,
) -> pb::change_plan_request::Command {
    pb::change_plan_request::Command::AddActivity(pb::AddActivity {
        section: section as i32,
        title: title.into(),
        legal_plan_type: legal as i32,
        responsible_professional_id: responsible.into(),
        start_date: "2026-11-01".into(),
        ..Default::default()
    })
}

/// The ward's udskrivningsaftale (psykiatriloven § 13 a) in its psychiatry
/// section, which it must own: social services become party to the discharge.
pub fn udskrivningsaftale() -> pb::change_plan_request::Command {
    add_activity(
        pb::SectionKind::Psychiatry,
        "udskrivning til egen bolig",
        pb::LegalPlanType::Udskrivningsaftale,
        "aut-4471",
    )
}

pub use samplan_hub::client::{Subscription, events_until};

/// Opens a subscription after global position `after`, tagged with `correlation_id`.
pub async fn subscribe(client: &mut PlanClient, after: u64, correlation_id: &str) -> Result<Subscription, Status> {
    let request = tagged(pb::SubscribePlanEventsRequest { after_position: after }, correlation_id);
    Ok(client.subscribe_plan_events(request).await?.into_inner())
}

/// Copies the folder `from` into `to`, folder by folder (a data folder to tamper with or upgrade).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}

/// A request for emergency access to the plan of `cpr`, for `justification`.
pub fn emergency(cpr: &str, justification: &str) -> pb::RequestEmergencyAccessRequest {
    pb::RequestEmergencyAccessRequest {
        cpr: cpr.into(),
        justification: justification.into(),
        request_id: String::new(),
    }
}
