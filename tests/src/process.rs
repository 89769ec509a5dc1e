//! The hub as a separate process (`samplan serve`, built as `hub-under-test`),
//! for tests that kill it or read everything it prints.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use samplan_hub::client::{PlanClient, Professional, connect, plan_client};
use samplan_hub::embedded::read_identity;

use crate::WARD;

/// The `hub-under-test` binary next to the running test executable.
pub fn hub_binary() -> anyhow::Result<PathBuf> {
    let test_exe = std::env::current_exe()?;
    let deps = test_exe.parent().ok_or_else(|| anyhow::anyhow!("test executable has no folder"))?;
    let profile = deps.parent().ok_or_else(|| anyhow::anyhow!("no profile folder"))?;
    Ok(profile.join(format!("hub-under-test{}", std::env::consts::EXE_SUFFIX)))
}

/// Starts `samplan serve` on `dir/samplan.toml` on an ephemeral port, with
/// `env` added to its environment. Everything it writes to stderr goes to
/// `dir/hub.log`.
pub fn spawn_hub(dir: &Path, env: &[(&str, &str)]) -> anyhow::Result<(Child, SocketAddr)> {
    spawn_hub_with_admin(dir, env).map(|(child, addr, _)| (child, addr))
}

/// [`spawn_hub`], also telling the address of the hub's admin listener.
pub fn spawn_hub_with_admin(dir: &Path, env: &[(&str, &str)]) -> anyhow::Result<(Child, SocketAddr, SocketAddr)> {
    let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("hub.log"))?;
    let mut command = Command::new(hub_binary()?);
    command
        .args(["serve", "--config"])
        .arg(dir.join("samplan.toml"))
        .env("SAMPLAN_LISTEN", "127.0.0.1:0")
        .env("SAMPLAN_ADMIN_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log));
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn()?;
    let mut stdout = BufReader::new(child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?);
    let mut printed = |prefix: &str| -> anyhow::Result<SocketAddr> {
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let addr = line.trim().strip_prefix(prefix).ok_or_else(|| anyhow::anyhow!("unexpected line {line:?}"))?;
        Ok(addr.parse()?)
    };
    let addr = printed("samplan listening on ")?;
    let admin = printed("samplan admin (livez, readyz, metrics) on http://")?;
    Ok((child, addr, admin))
}

/// `GET path` on a hub's admin listener: the status code and the body.
pub async fn admin_get(admin: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(admin).await?;
    stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: admin\r\nConnection: close\r\n\r\n").as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or(String::new(), |(_, body)| body.to_owned());
    Ok((status, body))
}

/// A ward client of a hub that `dev-pki` set up in `dir`.
pub async fn client(dir: &Path, addr: SocketAddr) -> anyhow::Result<PlanClient> {
    let ca = std::fs::read_to_string(dir.join("ca.pem"))?;
    let channel = connect(addr, &ca, &read_identity(dir, WARD)?).await?;
    let minter = std::sync::Arc::new(samplan_hub::identity::Minter::from_dev_dir(dir, WARD)?);
    Ok(plan_client(channel, Professional::signed(minter, "aut-4471", "PHYSICIAN")?))
}

/// A citizen portal client of a hub that `dev-pki` set up in `dir`, acting for the citizen `cpr`.
pub async fn citizen_client(dir: &Path, addr: SocketAddr, cpr: &str) -> anyhow::Result<PlanClient> {
    use samplan_hub::pki::CITIZEN_PORTAL;
    let ca = std::fs::read_to_string(dir.join("ca.pem"))?;
    let channel = connect(addr, &ca, &read_identity(dir, CITIZEN_PORTAL)?).await?;
    let minter = std::sync::Arc::new(samplan_hub::identity::Minter::from_dev_dir(dir, CITIZEN_PORTAL)?);
    Ok(plan_client(channel, Professional::citizen(minter, "mitid-7f3a", "CITIZEN", cpr)?))
}
