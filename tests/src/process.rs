//! The hub as a separate process (`samplan serve`, built as `hub-under-test`),
//! for tests that kill it or read everything it prints.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use samplan_hub::client::{PlanClient, Professional, connect, plan_client};
use samplan_hub::embedded::read_identity;

use crate::{WARD, add_goal, change};

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
    let spawned = samplan_hub::process::spawn_serve(&hub_binary()?, &dir.join("samplan.toml"), log, env)?;
    Ok((spawned.child, spawned.grpc, spawned.admin))
}

/// Stops a hub the way its supervisor does (SIGTERM) and waits until it has
/// exited; an error unless it exited cleanly within 30 s.
pub async fn terminate(mut hub: Child) -> anyhow::Result<()> {
    let signalled = Command::new("kill").arg("-TERM").arg(hub.id().to_string()).status()?;
    anyhow::ensure!(signalled.success(), "kill -TERM failed");
    let exited =
        tokio::time::timeout(std::time::Duration::from_secs(30), tokio::task::spawn_blocking(move || hub.wait()));
    let status = exited.await.map_err(|_| anyhow::anyhow!("the hub did not stop within 30 s"))???;
    anyhow::ensure!(status.success(), "the hub exited with {status}");
    Ok(())
}

/// `GET path` on a hub's admin listener: the status code and the body.
pub async fn admin_get(admin: SocketAddr, path: &str) -> anyhow::Result<(u16, String)> {
    Ok(samplan_hub::admin::request(admin, "GET", path).await?)
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

/// Runs `samplan <args>` with `dir/samplan.toml` as its configuration and
/// `env` added; its stdout, once it has succeeded.
pub fn samplan(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> anyhow::Result<String> {
    let mut command = Command::new(hub_binary()?);
    command.args(args).arg("--config").arg(dir.join("samplan.toml"));
    for (key, value) in env {
        command.env(key, value);
    }
    let output = command.output()?;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    anyhow::ensure!(
        output.status.success(),
        "samplan {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(stdout)
}

/// Goals acknowledged by the hub: (plan name, event sequence) → text, recorded only after OK.
pub type Acked = Arc<Mutex<BTreeMap<(String, u64), String>>>;

/// Starts `count` ward clients of the hub at `addr`, each adding goals to one
/// of `plans` in turn (several share a plan and take its current version on a
/// conflict) until `stop` is set or the hub is gone; each tells how many it wrote.
pub async fn spawn_goal_writers(
    dir: &Path,
    addr: SocketAddr,
    plans: &[String],
    count: usize,
    acked: &Acked,
    stop: &Arc<AtomicBool>,
) -> anyhow::Result<Vec<tokio::task::JoinHandle<u64>>> {
    let mut writers = Vec::new();
    for (w, plan) in plans.iter().cycle().take(count).enumerate() {
        let (mut client, plan) = (client(dir, addr).await?, plan.clone());
        let (acked, stop) = (acked.clone(), stop.clone());
        writers.push(tokio::spawn(async move {
            let mut version = 1;
            let mut written = 0;
            while !stop.load(Ordering::Relaxed) {
                let text = format!("skriver {w} mål {written}");
                match client.change_plan(change(&plan, version, "", add_goal(&text))).await {
                    Ok(response) => {
                        version = response.into_inner().version;
                        acked.lock().expect("lock").insert((plan.clone(), crate::events_in(version)), text);
                        written += 1;
                    }
                    Err(status) if status.code() == tonic::Code::Aborted => {
                        version = crate::current_version(&status).unwrap_or(version);
                    }
                    Err(_) => break, // the hub is gone
                }
            }
            written
        }));
    }
    Ok(writers)
}

/// Asserts that the hub `reader` talks to holds every goal of `acked` as it
/// was acknowledged; the goals it holds of `plans`: (plan, sequence) → text.
pub async fn assert_acked_present(
    reader: &mut PlanClient,
    plans: &[String],
    acked: &BTreeMap<(String, u64), String>,
) -> anyhow::Result<BTreeMap<(String, u64), String>> {
    let mut held = BTreeMap::new();
    for plan in plans {
        let stored: BTreeMap<u64, String> = crate::goals_by_sequence(reader, plan).await?.into_iter().collect();
        for ((_, sequence), text) in acked.range((plan.clone(), 0)..=(plan.clone(), u64::MAX)) {
            assert_eq!(stored.get(sequence), Some(text), "{plan} lost acknowledged goal {sequence}");
        }
        held.extend(stored.into_iter().map(|(sequence, text)| ((plan.clone(), sequence), text)));
    }
    Ok(held)
}

/// Waits until at least `count` goals are acknowledged; a copy of them.
pub async fn wait_for_acks(acked: &Acked, count: usize) -> BTreeMap<(String, u64), String> {
    loop {
        {
            let acked = acked.lock().expect("lock");
            if acked.len() >= count {
                return acked.clone();
            }
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}
