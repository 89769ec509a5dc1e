//! A throwaway PostgreSQL cluster, for the tests and the load tool:
//! `initdb` in a temporary folder, the server on a free loopback port,
//! stopped and removed when dropped; optionally a synchronous streaming
//! standby of it. It runs the system's PostgreSQL binaries (Debian's
//! `postgresql` package; `SAMPLAN_PG_BINDIR` names another folder). As root
//! (as CI runs), the cluster belongs to the `postgres` user, since PostgreSQL
//! refuses root.
//!
//! Without the binaries, [`Postgres::start`] answers `None` and the caller
//! skips, after one line naming the package — unless `SAMPLAN_REQUIRE_POSTGRES`
//! is set (`.ci/run` sets it): then a missing PostgreSQL is an error.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The PostgreSQL user (and owner of the database) the tests connect as.
pub const USER: &str = "samplan";

/// A running throwaway cluster.
pub struct Postgres {
    pub port: u16,
    server: Child,
    bindir: PathBuf,
    dir: tempfile::TempDir,
    /// Whether the server runs as the `postgres` user (we are root).
    as_postgres: bool,
}

/// The hub settings (TOML) that put a hub on the PostgreSQL database `url` names.
pub fn store_settings(url: &str) -> String {
    format!("[store]\nengine = \"postgres\"\n[store.postgres]\nurl = \"{url}\"\npool_size = 4\n")
}

/// Whether this machine can run PostgreSQL tests; when it cannot, says so
/// in one line (the test is skipped), or fails if `SAMPLAN_REQUIRE_POSTGRES` is set.
pub fn available() -> anyhow::Result<bool> {
    if bindir().is_some() {
        return Ok(true);
    }
    anyhow::ensure!(
        std::env::var_os("SAMPLAN_REQUIRE_POSTGRES").is_none(),
        "SAMPLAN_REQUIRE_POSTGRES is set but no PostgreSQL server binaries were found: \
         install the Debian package postgresql (or set SAMPLAN_PG_BINDIR)"
    );
    eprintln!("SKIPPED: no PostgreSQL server binaries; install the Debian package postgresql to run what needs it");
    Ok(false)
}

impl Postgres {
    /// Starts a cluster, or `None` (after saying why) when this machine has no PostgreSQL.
    pub fn start() -> anyhow::Result<Option<Self>> {
        Self::start_with(&[])
    }

    /// [`Postgres::start`] with server `settings` (`name=value`), e.g. a synchronous standby's name.
    pub fn start_with(settings: &[&str]) -> anyhow::Result<Option<Self>> {
        Self::start_in(&std::env::temp_dir(), settings)
    }

    /// [`Postgres::start_with`], with the cluster in a folder under `parent`
    /// (say, on the disk a benchmark is about).
    pub fn start_in(parent: &Path, settings: &[&str]) -> anyhow::Result<Option<Self>> {
        Self::start_with_files(parent, settings, &[])
    }

    /// [`Postgres::start`] with TLS on (and plain connections still taken),
    /// presenting `certificate_pem` with its `key_pem`.
    pub fn start_tls(certificate_pem: &str, key_pem: &str) -> anyhow::Result<Option<Self>> {
        let files = [("server.crt", certificate_pem), ("server.key", key_pem)];
        Self::start_with_files(&std::env::temp_dir(), &["ssl=on"], &files)
    }

    /// Starts a cluster under `parent` with `files` (name, contents) put
    /// into its data folder, readable by the server only.
    fn start_with_files(parent: &Path, settings: &[&str], files: &[(&str, &str)]) -> anyhow::Result<Option<Self>> {
        if !available()? {
            return Ok(None);
        }
        let bindir = bindir().ok_or_else(|| anyhow::anyhow!("the PostgreSQL binaries went away"))?;
        let as_postgres = is_root()?;
        let dir = tempfile::tempdir_in(parent)?;
        let data = dir.path().join("data");
        if as_postgres {
            run(Command::new("chown").arg("postgres:").arg(dir.path()))?;
        }
        let initdb = bindir.join("initdb");
        run(command(as_postgres, &initdb)
            // --no-sync: only initdb's own files; the server itself runs with fsync on.
            .args([
                "--auth=trust",
                "--username",
                USER,
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-instructions",
                "--no-sync",
            ])
            .arg("-D")
            .arg(&data))?;
        for (name, contents) in files {
            let path = data.join(name);
            std::fs::write(&path, contents)?;
            std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600))?;
            if as_postgres {
                run(Command::new("chown").arg("postgres:").arg(&path))?;
            }
        }
        Self::launch(bindir, dir, as_postgres, settings).map(Some)
    }

    /// Starts the server on the cluster in `dir/data`, on a free port.
    fn launch(bindir: PathBuf, dir: tempfile::TempDir, as_postgres: bool, settings: &[&str]) -> anyhow::Result<Self> {
        let port = free_port()?;
        let log = std::fs::File::create(dir.path().join("server.log"))?;
        let mut server = command(as_postgres, &bindir.join("postgres"));
        server
            .arg("-D")
            .arg(dir.path().join("data"))
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1", "-c"])
            .arg(format!("unix_socket_directories={}", dir.path().display()));
        for setting in settings {
            server.args(["-c", setting]);
        }
        let server = server.stdout(Stdio::null()).stderr(log).spawn()?;
        let mut postgres = Self { port, server, bindir, dir, as_postgres };
        postgres.wait_until_ready()?;
        Ok(postgres)
    }

    /// A streaming standby of this cluster, copied by `pg_basebackup` and
    /// started, that connects as `name` (the name `synchronous_standby_names`
    /// gives it); it waits for no standby itself once promoted.
    pub fn standby(&self, name: &str) -> anyhow::Result<Self> {
        let parent = self.dir.path().parent().unwrap_or(Path::new("/tmp"));
        let dir = tempfile::tempdir_in(parent)?;
        if self.as_postgres {
            run(Command::new("chown").arg("postgres:").arg(dir.path()))?;
        }
        run(command(self.as_postgres, &self.bindir.join("pg_basebackup"))
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER, "-X", "stream", "-R", "--no-sync"])
            .arg("-D")
            .arg(dir.path().join("data")))?;
        let settings = [format!("cluster_name={name}"), "synchronous_standby_names=".to_owned()];
        let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
        Self::launch(self.bindir.clone(), dir, self.as_postgres, &settings)
    }

    /// A client of `database` on this cluster (its connection driven by a task of its own).
    pub async fn client(&self, database: &str) -> anyhow::Result<tokio_postgres::Client> {
        let (client, connection) =
            tokio_postgres::connect(&self.connection_string(database), tokio_postgres::NoTls).await?;
        tokio::spawn(connection);
        Ok(client)
    }

    /// Waits until this primary reports `name` as its synchronous standby.
    pub async fn wait_until_synchronous(&self, name: &str) -> anyhow::Result<()> {
        let client = self.client("postgres").await?;
        for _ in 0..600 {
            let sql = "SELECT sync_state FROM pg_stat_replication WHERE application_name = $1";
            let rows = client.query(sql, &[&name]).await?;
            if rows.first().is_some_and(|row| row.get::<_, String>(0) == "sync") {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        anyhow::bail!("{name} did not become the synchronous standby:\n{}", self.log())
    }

    /// Kills the server with SIGKILL, as if its machine were lost: the
    /// postmaster itself (our child may be `runuser`), whose backends then exit.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        let pid = std::fs::read_to_string(self.dir.path().join("data/postmaster.pid"))?;
        let pid = pid.lines().next().unwrap_or_default().trim().to_owned();
        run(Command::new("kill").args(["-KILL", &pid]))?;
        self.server.wait()?;
        Ok(())
    }

    /// Promotes a standby to primary and waits until it takes writes.
    pub fn promote(&self) -> anyhow::Result<()> {
        run(command(self.as_postgres, &self.bindir.join("pg_ctl"))
            .args(["promote", "-w", "-t", "60", "-D"])
            .arg(self.dir.path().join("data")))
    }

    /// A connection string for `tokio-postgres` (key=value form).
    pub fn connection_string(&self, database: &str) -> String {
        format!("host=127.0.0.1 port={} user={USER} dbname={database}", self.port)
    }

    /// The server's log so far (for a failing test's message).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    /// The folder of the PostgreSQL binaries in use (for `pgbench` and the like).
    pub fn bindir(&self) -> &Path {
        &self.bindir
    }

    fn wait_until_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let ready = Command::new(self.bindir.join("pg_isready"))
                .args(["-h", "127.0.0.1", "-p", &self.port.to_string(), "-U", USER, "-d", "postgres", "-q"])
                .status()?;
            if ready.success() {
                return Ok(());
            }
            if let Some(status) = self.server.try_wait()? {
                anyhow::bail!("PostgreSQL exited while starting ({status}):\n{}", self.log());
            }
            anyhow::ensure!(Instant::now() < deadline, "PostgreSQL did not start in 60 s:\n{}", self.log());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // A fast shutdown: disconnect everyone, then stop; waits for it.
        let stopped = command(self.as_postgres, &self.bindir.join("pg_ctl"))
            .args(["stop", "-m", "fast", "-w", "-t", "30", "-D"])
            .arg(self.dir.path().join("data"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if !stopped.is_ok_and(|status| status.success()) {
            let _ = self.server.kill();
        }
        let _ = self.server.wait();
    }
}

/// The folder with `initdb` and `postgres`: `SAMPLAN_PG_BINDIR`, or the newest
/// of Debian's `/usr/lib/postgresql/<version>/bin`.
fn bindir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("SAMPLAN_PG_BINDIR") {
        return Some(PathBuf::from(dir)).filter(|dir| dir.join("initdb").is_file());
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|entry| {
            let version = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, bin)| bin)
}

/// `program`, run as the `postgres` user if we are root.
fn command(as_postgres: bool, program: &Path) -> Command {
    if as_postgres {
        let mut command = Command::new("runuser");
        command.args(["-u", "postgres", "--"]).arg(program);
        command
    } else {
        Command::new(program)
    }
}

fn run(command: &mut Command) -> anyhow::Result<()> {
    let output = command.output()?;
    anyhow::ensure!(
        output.status.success(),
        "{command:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(())
}

fn is_root() -> anyhow::Result<bool> {
    let output = Command::new("id").arg("-u").output()?;
    Ok(String::from_utf8_lossy(&output.stdout).trim() == "0")
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}
