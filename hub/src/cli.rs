//! The command line: `serve`, `dev-pki`, `token`, `demo`, `load`, `indicators`, `verify`, `backup`,
//! `restore`, `migrate-store`.

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use samplan_services::store::{Store, VerifyReport};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, LogFormat};
use crate::telemetry::Telemetry;

#[derive(Debug, Parser)]
#[command(
    name = "samplan",
    version,
    about = "Samplan: one coordinated care plan and one contact person per citizen, shared across sectors"
)]
struct Cli {
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Serve the hub (mTLS only) with the given configuration file.
    Serve {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Write a development PKI (CA, server and one client certificate per demo
    /// organisation and one for a citizen portal), a development identity
    /// provider for each (a signing key and its JWKS), a pseudonym key and a
    /// ready-to-serve samplan.toml.
    DevPki {
        #[arg(value_name = "DIR")]
        dir: PathBuf,
    },
    /// Print a signed assertion (a JWT, valid for 15 minutes) from a
    /// development identity provider that `dev-pki` wrote, to send as
    /// `authorization: Bearer <token>` (e.g. with grpcurl -H).
    Token {
        /// The folder `dev-pki` wrote.
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
        /// The organisation's id, e.g. psykiatri-amager (or borgerportal, the citizen portal).
        #[arg(long)]
        organisation: String,
        /// The acting professional's id (for the citizen portal: its id of the person acting).
        #[arg(long)]
        professional: String,
        /// A ProfessionalRole name, e.g. PHYSICIAN (CITIZEN or REPRESENTATIVE for the citizen portal).
        #[arg(long)]
        role: String,
        /// For the citizen portal: the CPR number of the citizen the assertion proves.
        #[arg(long, value_name = "CPR")]
        cpr: Option<String>,
    },
    /// Run an embedded hub on a temporary folder and play a discharge story
    /// through real gRPC clients of four sectors and the citizen's portal.
    Demo,
    /// Measure durable writes/s, reads/s and latencies against an embedded hub.
    Load(crate::load::LoadOptions),
    /// Write a development folder (as `dev-pki` does) whose store holds a
    /// synthetic population: citizens of two regions run through the flows
    /// over the past year, each event recorded on its day. Serve it with
    /// `samplan serve --config DIR/samplan.toml`, e.g. to try the indicators.
    Populate {
        /// The folder to write (absent or empty).
        #[arg(value_name = "DIR")]
        dir: PathBuf,
        #[arg(long, default_value_t = 2000)]
        citizens: usize,
        /// Draws other histories.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
    /// Export a running hub's indicators (aggregates, small counts
    /// suppressed) as CSV or JSON, as an analyst (role ANALYST).
    Indicators(crate::indicators::ExportOptions),
    /// Check a stopped hub's data folder: gap-free logs, and every projection
    /// identical to a replay of its log.
    Verify {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Take a consistent backup while the hub serves: the running hub (asked
    /// through its admin listener) writes it into its backup.dir; with no hub
    /// running, this command reads the data folder itself. The pseudonym key
    /// is not in it: keep that key safe on its own.
    Backup {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
    },
    /// Rebuild the (absent or empty) data folder from a backup, with the
    /// pseudonym key of the hub that took it, and check it as `verify` does.
    Restore {
        #[arg(long, short, value_name = "FILE")]
        config: PathBuf,
        /// The backup file.
        #[arg(long, value_name = "BACKUP")]
        from: PathBuf,
    },
    /// Copy the store of one configuration into the empty store of another —
    /// a sled data folder into PostgreSQL, or back — through a backup, and
    /// check both sides. Stop the hubs on the source first.
    MigrateStore {
        /// The configuration of the store to copy.
        #[arg(long, value_name = "FILE")]
        from: PathBuf,
        /// The configuration of the (empty) store to copy into; the same pseudonym key.
        #[arg(long, value_name = "FILE")]
        to: PathBuf,
    },
}

pub fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(async move {
        match cli.command {
            Cmd::Serve { config } => serve(config).await,
            Cmd::DevPki { dir } => {
                let written = crate::pki::Pki::new()?.write_dev_dir(&dir)?;
                println!("wrote {} files to {}: {}", written.len(), dir.display(), written.join(", "));
                println!("serve with: samplan serve --config {}", dir.join("samplan.toml").display());
                Ok(())
            }
            Cmd::Token { dir, organisation, professional, role, cpr } => {
                let minter = crate::identity::Minter::from_dev_dir(&dir, &organisation)?;
                let (token, _) = match cpr {
                    Some(cpr) => minter.mint_citizen(&professional, &role, &cpr)?,
                    None => minter.mint(&professional, &role)?,
                };
                println!("{token}");
                Ok(())
            }
            Cmd::Demo => {
                // The population's emergency accesses are each logged as a warning: not for the demo's reader.
                Telemetry::logs(LogFormat::Pretty, "warn,samplan_services::grpc::plans=error");
                crate::demo::run().await
            }
            Cmd::Load(options) => {
                anyhow::ensure!(options.seconds > 0.0, "--seconds must be positive");
                anyhow::ensure!(
                    options.readers > 0 && options.writers.iter().all(|w| *w > 0),
                    "client counts must be positive"
                );
                crate::load::run(options).await
            }
            Cmd::Indicators(options) => crate::indicators::export(options).await,
            Cmd::Populate { dir, citizens, seed } => populate(&dir, citizens, seed).await,
            Cmd::Verify { config } => verify(&load(&config)?).await.map(drop),
            Cmd::Backup { config } => crate::backup::run(&load(&config)?).await,
            Cmd::Restore { config, from } => crate::backup::restore(&load(&config)?, &from).await.map(drop),
            Cmd::MigrateStore { from, to } => crate::backup::migrate(&load(&from)?, &load(&to)?).await,
        }
    })
}

async fn serve(path: PathBuf) -> anyhow::Result<()> {
    let config = load(&path)?;
    let telemetry =
        Telemetry::start(config.log_format, "info", &config.telemetry, config.limits.group_commit_max_batch)?;
    let served = bind_and_serve(config).await;
    telemetry.shutdown().await;
    served
}

async fn bind_and_serve(config: Config) -> anyhow::Result<()> {
    let listeners = crate::server::Listeners::bind(&config).await?;
    // Printed (not only logged) so that scripts and tests can find the ports.
    println!("samplan listening on {}", listeners.grpc.local_addr()?);
    if let Some(admin) = &listeners.admin {
        println!("samplan admin (livez, readyz, metrics) on http://{}", admin.local_addr()?);
    }
    let shutdown = CancellationToken::new();
    let signal = shutdown.clone();
    tokio::spawn(async move {
        wait_for_signal().await;
        signal.cancel();
    });
    crate::serve(config, listeners, shutdown).await
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

fn load(path: &std::path::Path) -> anyhow::Result<Config> {
    Config::load(path, |key| std::env::var(key).ok())
}

/// `samplan verify`: checks the store of `config` and says what it found;
/// an error if it found a problem.
pub(crate) async fn verify(config: &Config) -> anyhow::Result<VerifyReport> {
    let store = crate::server::open_store(config).await?;
    let report = check(&store).await;
    store.shutdown().await;
    report
}

/// Checks an open store as `samplan verify` does, and says what it found.
pub(crate) async fn check(store: &Store) -> anyhow::Result<VerifyReport> {
    let report = store.verify().await?;
    println!(
        "{} events in the global log, {} plans, {} audit records checked",
        report.events, report.plans, report.audit_records
    );
    for problem in &report.problems {
        println!("PROBLEM: {problem}");
    }
    anyhow::ensure!(report.problems.is_empty(), "{} problem(s) found", report.problems.len());
    println!("ok: gap-free, every plan equals a replay of its log, the audit chain and its checkpoint hold");
    Ok(report)
}

/// `samplan populate`: a development folder with a synthetic population.
async fn populate(dir: &std::path::Path, citizens: usize, seed: u64) -> anyhow::Result<()> {
    if dir.exists() && std::fs::read_dir(dir)?.next().is_some() {
        anyhow::bail!("{} is not empty: populate writes a new development folder", dir.display());
    }
    let (hub, clock) = crate::demo::population::hub(dir).await?;
    let today = samplan_services::domain::Timestamp::now().date();
    println!("writing {citizens} synthetic citizens' past year into {} …", dir.display());
    let started = std::time::Instant::now();
    let cut = crate::demo::population::play(&hub, &clock, (0, citizens), seed, today).await?;
    hub.stop().await?;
    println!(
        "done in {:.1} s ({cut} histories cut short by a refusal); serve it with: samplan serve --config {}",
        started.elapsed().as_secs_f64(),
        dir.join("samplan.toml").display()
    );
    Ok(())
}
