//! A complete hub inside this process, on a folder of its own with a fresh dev
//! PKI and a pre-bound ephemeral port: what `demo`, `load` and the tests run.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::client::{IndicatorClient, PlanClient, Professional, connect, indicator_client, plan_client};
use crate::config::Config;
use crate::identity::Minter;
use crate::pki::{CITIZEN_PORTAL, Identity, Pki};
use samplan_services::store::{Clock, Store};
use samplan_services::subscription::Subscriptions;

pub struct EmbeddedHub {
    pub addr: SocketAddr,
    /// The admin listener (`/livez`, `/readyz`, `/metrics`).
    pub admin_addr: SocketAddr,
    pub dir: PathBuf,
    pub config: Config,
    pub pki: Pki,
    pub store: Store,
    pub subscriptions: Arc<Subscriptions>,
    shutdown: CancellationToken,
    task: JoinHandle<anyhow::Result<()>>,
}

impl std::fmt::Debug for EmbeddedHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedHub").field("addr", &self.addr).field("dir", &self.dir).finish_non_exhaustive()
    }
}

impl EmbeddedHub {
    /// Writes a dev PKI and configuration into `dir` and serves from `dir/data`
    /// on 127.0.0.1 with an ephemeral port.
    pub async fn start(dir: &Path) -> anyhow::Result<Self> {
        Self::start_configured(dir, "").await
    }

    /// Like [`EmbeddedHub::start`], with `settings` (TOML tables the dev
    /// configuration does not have, such as `[subscriptions]`) added to it.
    pub async fn start_configured(dir: &Path, settings: &str) -> anyhow::Result<Self> {
        let pki = write_dev_config(dir, settings)?;
        Self::start_with(dir, pki).await
    }

    /// Like [`EmbeddedHub::start`], with the dev configuration changed by `edit` first.
    pub async fn start_edited(dir: &Path, edit: impl FnOnce(String) -> String) -> anyhow::Result<Self> {
        let pki = Pki::new()?;
        pki.write_dev_dir(dir)?;
        let path = dir.join("samplan.toml");
        let config = edit(std::fs::read_to_string(&path)?);
        std::fs::write(&path, config).with_context(|| format!("writing {}", path.display()))?;
        Self::start_with(dir, pki).await
    }

    /// Like [`EmbeddedHub::start`], on a hub whose clock is `clock`, not the
    /// wall clock: it decides every write, read and deadline by that clock.
    pub async fn start_at(dir: &Path, clock: Clock) -> anyhow::Result<Self> {
        Self::start_configured_at(dir, "", clock).await
    }

    /// [`EmbeddedHub::start_configured`] and [`EmbeddedHub::start_at`] at once.
    pub async fn start_configured_at(dir: &Path, settings: &str, clock: Clock) -> anyhow::Result<Self> {
        let pki = write_dev_config(dir, settings)?;
        Self::serve(dir, pki, Some(clock)).await
    }

    /// Another hub on this one's configuration — the same PKI, secrets and
    /// store — with its own folder `dir` and ports: a second hub on one
    /// PostgreSQL database (on sled, the two would contend for one data folder).
    pub async fn start_beside(&self, dir: &Path) -> anyhow::Result<Self> {
        for entry in std::fs::read_dir(&self.dir)? {
            let entry = entry?;
            if entry.file_type()?.is_file() {
                std::fs::copy(entry.path(), dir.join(entry.file_name()))?;
            }
        }
        Self::serve(dir, self.pki.try_clone()?, None).await
    }

    /// Serves with the configuration already in `dir` (e.g. after a restart).
    pub async fn start_with(dir: &Path, pki: Pki) -> anyhow::Result<Self> {
        Self::serve(dir, pki, None).await
    }

    /// [`EmbeddedHub::start_with`], telling the time by `clock`.
    pub async fn start_with_at(dir: &Path, pki: Pki, clock: Clock) -> anyhow::Result<Self> {
        Self::serve(dir, pki, Some(clock)).await
    }

    async fn serve(dir: &Path, pki: Pki, clock: Option<Clock>) -> anyhow::Result<Self> {
        let config = Config::load(&dir.join("samplan.toml"), |_| None)?;
        let listener = TcpListener::bind("127.0.0.1:0").await.context("binding 127.0.0.1:0")?;
        let admin = TcpListener::bind("127.0.0.1:0").await.context("binding 127.0.0.1:0")?;
        let (addr, admin_addr) = (listener.local_addr()?, admin.local_addr()?);
        let shutdown = CancellationToken::new();
        let mut options = crate::server::store_options(&config)?;
        if let Some(clock) = clock {
            options.clock = clock;
        }
        let store = crate::server::open_store_with(&config, options).await?;
        let subscriptions = crate::server::subscriptions(&config, &shutdown);
        let serving = crate::server::serve_store(
            config.clone(),
            store.clone(),
            subscriptions.clone(),
            crate::server::Listeners { grpc: listener, admin: Some(admin) },
            shutdown.clone(),
        );
        let task = tokio::spawn(serving);
        Ok(Self { addr, admin_addr, dir: dir.to_owned(), config, pki, store, subscriptions, shutdown, task })
    }

    /// The client identity `dev-pki` wrote for a demo organisation.
    pub fn identity(&self, organisation_id: &str) -> anyhow::Result<Identity> {
        read_identity(&self.dir, organisation_id)
    }

    /// A plan client for `organisation_id`, acting as `professional` in
    /// `role` with assertions of the organisation's development identity provider.
    pub async fn plan_client(
        &self,
        organisation_id: &str,
        professional: &str,
        role: &str,
    ) -> anyhow::Result<PlanClient> {
        let channel = connect(self.addr, &self.pki.ca_pem, &self.identity(organisation_id)?).await?;
        Ok(plan_client(channel, self.professional(organisation_id, professional, role)?))
    }

    /// An indicator client for an analyst `professional` of `organisation_id`.
    pub async fn indicator_client(&self, organisation_id: &str, professional: &str) -> anyhow::Result<IndicatorClient> {
        let channel = connect(self.addr, &self.pki.ca_pem, &self.identity(organisation_id)?).await?;
        Ok(indicator_client(channel, self.professional(organisation_id, professional, "ANALYST")?))
    }

    /// `professional` in `role` of `organisation_id`, proven by assertions its
    /// development identity provider signs.
    pub fn professional(&self, organisation_id: &str, professional: &str, role: &str) -> anyhow::Result<Professional> {
        Professional::signed(Arc::new(self.minter(organisation_id)?), professional, role)
    }

    /// A plan client of the demo citizen portal, acting for the citizen with
    /// CPR number `cpr` (the citizen themselves, `CITIZEN`, or their `REPRESENTATIVE`).
    pub async fn citizen_client(&self, subject: &str, role: &str, cpr: &str) -> anyhow::Result<PlanClient> {
        let channel = connect(self.addr, &self.pki.ca_pem, &self.identity(CITIZEN_PORTAL)?).await?;
        let minter = Arc::new(self.minter(CITIZEN_PORTAL)?);
        Ok(plan_client(channel, Professional::citizen(minter, subject, role, cpr)?))
    }

    /// The development identity provider `dev-pki` wrote for `organisation_id`.
    pub fn minter(&self, organisation_id: &str) -> anyhow::Result<Minter> {
        Minter::from_dev_dir(&self.dir, organisation_id)
    }

    /// Graceful shutdown: health NOT_SERVING, open calls finish, the store flushes.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.shutdown.cancel();
        self.task.await.context("hub task")?
    }
}

/// Writes a dev PKI and configuration (`samplan.toml`) into `dir`, with
/// `settings` (TOML tables the dev configuration does not have, such as
/// `[limits]`) added to it; the PKI, for clients.
pub fn write_dev_config(dir: &Path, settings: &str) -> anyhow::Result<Pki> {
    let pki = Pki::new()?;
    pki.write_dev_dir(dir)?;
    if !settings.is_empty() {
        let path = dir.join("samplan.toml");
        let config = std::fs::read_to_string(&path)? + "\n" + settings;
        std::fs::write(&path, config).with_context(|| format!("writing {}", path.display()))?;
    }
    Ok(pki)
}

pub fn read_identity(dir: &Path, organisation_id: &str) -> anyhow::Result<Identity> {
    let read = |ext: &str| {
        let path = dir.join(format!("{organisation_id}.{ext}"));
        std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))
    };
    Ok(Identity { certificate_pem: read("pem")?, key_pem: read("key")? })
}
