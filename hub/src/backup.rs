//! `samplan backup`, `samplan restore` and `samplan migrate-store`.
//!
//! A backup is taken by the hub that owns the data folder (sled lets one
//! process open it): `samplan backup` asks a running hub through its admin
//! listener, and the hub writes the file into `backup.dir` on its own disk —
//! so no personal data crosses the unauthenticated admin port. With no hub
//! running, the command opens the store itself. A restore rebuilds a data
//! folder, or an empty PostgreSQL database, from a backup of either engine,
//! then checks it as `samplan verify` does; moving a store from one engine to
//! the other is a backup of one restored into the other.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use samplan_services::store::backup::{self, Summary};
use samplan_services::store::{Store, VerifyReport};

use crate::config::{Config, EngineName};

/// A backup written to disk.
pub struct Taken {
    pub path: PathBuf,
    pub summary: Summary,
}

impl std::fmt::Display for Taken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = &self.summary;
        writeln!(f, "backup written to {}", self.path.display())?;
        write!(
            f,
            "cut at global position {} and audit record {}: {} plans, {} keys, {:.1} MiB",
            s.cut.position,
            s.cut.checkpoint.sequence,
            s.plans,
            s.pairs,
            s.bytes as f64 / (1024.0 * 1024.0)
        )
    }
}

/// Takes an online backup of `store` into `dir`. The file gets its final name
/// (time and cut) only once it is whole and synced.
pub async fn take(store: &Store, dir: &Path) -> anyhow::Result<Taken> {
    create_private_dir(dir)?;
    let partial = dir.join(format!(".samplan-{}.partial", uuid::Uuid::new_v4()));
    let file = private_file(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let written = async {
        let (summary, file) = store.backup(file).await?;
        file.sync_all()?;
        anyhow::Ok(summary)
    }
    .await;
    let summary = match written {
        Ok(summary) => summary,
        Err(error) => {
            let _ = std::fs::remove_file(&partial);
            return Err(error.context("taking the backup"));
        }
    };
    let taken_at = chrono::DateTime::from_timestamp_micros(summary.taken_at.0).unwrap_or_default();
    let name = format!("samplan-{}-p{}.backup", taken_at.format("%Y%m%dT%H%M%SZ"), summary.cut.position);
    let path = dir.join(name);
    std::fs::rename(&partial, &path)?;
    std::fs::File::open(dir)?.sync_all()?;
    Ok(Taken { path, summary })
}

/// `samplan backup`: through the running hub's admin listener, or, with no hub
/// running, from the data folder directly.
pub async fn run(config: &Config) -> anyhow::Result<()> {
    if config.admin.enabled {
        let admin = config.admin.listen;
        println!("asking the hub at http://{admin} for a backup into its backup.dir …");
        match crate::admin::request(admin, "POST", "/backup").await {
            Ok((200, body)) => {
                print!("{body}");
                return Ok(());
            }
            Ok((status, body)) => bail!("the hub refused the backup ({status}): {}", body.trim()),
            Err(error) if error.kind() == ErrorKind::ConnectionRefused => {
                println!("no hub answers there; backing up the data folder directly");
            }
            Err(error) => return Err(error).with_context(|| format!("reaching the admin listener at {admin}")),
        }
    }
    let store = crate::server::open_store(config).await.context(
        "the data folder is in use, but no admin listener answers: take the backup through the hub's admin address",
    )?;
    let taken = take(&store, &config.backup.dir).await;
    store.shutdown().await;
    println!("{}", taken?);
    Ok(())
}

/// `samplan restore`: rebuilds `data_dir` (absent or empty; it may be a
/// mount point) from `from`. It restores into a staging folder inside it,
/// checks that as `samplan verify` does, and only then moves it into place;
/// the staging folder goes last, so a restore cut short leaves it behind and
/// no hub starts on the folder (the store refuses to open it).
/// Gives back what the check found.
pub async fn restore(config: &Config, from: &Path) -> anyhow::Result<VerifyReport> {
    if config.store.engine == EngineName::Postgres {
        return restore_postgres(config, from).await;
    }
    let target = &config.data_dir;
    std::fs::create_dir_all(target).with_context(|| format!("creating {}", target.display()))?;
    let staging = target.join(backup::STAGING);
    if staging.exists() {
        bail!(
            "{} is left from an interrupted restore: empty {} and restore again",
            staging.display(),
            target.display()
        );
    }
    if std::fs::read_dir(target)?.next().is_some() {
        bail!("{} is not empty: move its contents aside, then restore", target.display());
    }
    let input = std::fs::File::open(from).with_context(|| format!("opening {}", from.display()))?;
    println!("restoring {} into {} …", from.display(), target.display());
    let checkpoint_key = samplan_services::store::audit::checkpoint_key(config.secret());
    let summary = Store::restore(input, &staging, &checkpoint_key)
        .with_context(|| format!("restoring from {}", from.display()))?;
    println!(
        "restored {} plans up to global position {} and audit record {}; checking it …",
        summary.plans, summary.cut.position, summary.cut.checkpoint.sequence
    );
    let mut staged = config.clone();
    staged.data_dir = staging.clone();
    let report = match crate::cli::verify(&staged).await {
        Ok(report) => report,
        Err(error) => {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(error.context("the restored data did not verify; nothing was put in place"));
        }
    };
    for entry in std::fs::read_dir(&staging)? {
        let entry = entry?;
        std::fs::rename(entry.path(), target.join(entry.file_name()))?;
    }
    std::fs::remove_dir(&staging)?;
    std::fs::File::open(target)?.sync_all()?;
    println!("{} is ready", target.display());
    Ok(report)
}

fn create_private_dir(dir: &Path) -> anyhow::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).with_context(|| format!("creating {}", dir.display()))
}

fn private_file(path: &Path) -> std::io::Result<std::fs::File> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)
}

/// `samplan restore` into PostgreSQL: into the configured database, which
/// must hold no log yet, in one transaction; then checked as `verify` does.
async fn restore_postgres(config: &Config, from: &Path) -> anyhow::Result<VerifyReport> {
    let input = std::fs::File::open(from).with_context(|| format!("opening {}", from.display()))?;
    println!("restoring {} into the PostgreSQL database of store.postgres.url …", from.display());
    let store = crate::server::open_store(config).await?;
    let restored = store.restore_here(std::io::BufReader::with_capacity(1 << 20, input)).await;
    store.shutdown().await;
    let summary = restored.with_context(|| format!("restoring from {}", from.display()))?;
    println!(
        "restored {} plans up to global position {} and audit record {}; checking it …",
        summary.plans, summary.cut.position, summary.cut.checkpoint.sequence
    );
    let report = crate::cli::verify(config).await.context("the restored database did not verify")?;
    println!("the database is ready");
    Ok(report)
}

/// `samplan migrate-store`: copies the store of `from` into the (empty)
/// store of `to` — sled into PostgreSQL or back — through a backup kept in
/// `from`'s backup.dir, and checks both sides hold the same log. No hub
/// may write to `from` meanwhile.
pub async fn migrate(from: &Config, to: &Config) -> anyhow::Result<()> {
    anyhow::ensure!(
        from.secret() == to.secret(),
        "the two configurations name different pseudonym keys: the target must use the source's key \
         (citizens are found by it, and it keys the audit checkpoint)"
    );
    println!("checking the source …");
    let store = crate::server::open_store(from).await.context("opening the source store")?;
    let checked = async {
        let source = crate::cli::check(&store).await.context("the source store")?;
        println!("copying through a backup in {} …", from.backup.dir.display());
        anyhow::Ok((source, take(&store, &from.backup.dir).await?))
    }
    .await;
    store.shutdown().await;
    let (source, taken) = checked?;
    println!("{taken}");
    // The restore checks the target as `verify` does.
    let target = restore(to, &taken.path).await.context("restoring into the target store")?;
    anyhow::ensure!(
        (source.events, source.plans, source.audit_records) == (target.events, target.plans, target.audit_records),
        "the target holds {} events, {} plans and {} audit records, the source {}, {} and {}",
        target.events,
        target.plans,
        target.audit_records,
        source.events,
        source.plans,
        source.audit_records
    );
    println!(
        "moved: {} events, {} plans and {} audit records, verified on both sides; the backup stays in {}",
        target.events,
        target.plans,
        target.audit_records,
        taken.path.display()
    );
    Ok(())
}
