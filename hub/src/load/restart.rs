//! `samplan load --restart-plans N`: how long a hub holding N plans takes
//! to serve again after SIGKILL, and how much memory it holds. A `samplan
//! serve` process of its own is filled with N plans through gRPC, killed,
//! and started twice: the first start after a fill replays everything sled
//! wrote since the hub last opened the folder (sled 0.34 writes its recovery
//! snapshot only when it opens a folder); the second replays almost nothing.

use std::path::Path;
use std::process::Child;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use samplan_proto::v1 as pb;

use super::REASON;
use crate::client::{Professional, connect, plan_client};
use crate::identity::Minter;
use crate::process::{Spawned, spawn_serve};

/// A hub process and its addresses.
struct Hub {
    child: Child,
    grpc: std::net::SocketAddr,
    admin: std::net::SocketAddr,
    started: Instant,
}

impl Hub {
    fn spawn(dir: &Path) -> anyhow::Result<Self> {
        let log = std::fs::OpenOptions::new().create(true).append(true).open(dir.join("hub.log"))?;
        let started = Instant::now();
        let binary = std::env::current_exe()?;
        let Spawned { child, grpc, admin } = spawn_serve(&binary, &dir.join("samplan.toml"), log, &[])?;
        Ok(Self { child, grpc, admin, started })
    }

    /// Waits until `/readyz` answers 200; the time since the process started.
    async fn serving(&mut self) -> anyhow::Result<Duration> {
        loop {
            if let Ok((200, _)) = crate::admin::request(self.admin, "GET", "/readyz").await {
                return Ok(self.started.elapsed());
            }
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("the hub exited while starting: {status}");
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Resident and peak memory, in MiB, from /proc.
    fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|line| line.strip_prefix(name))
                .and_then(|rest| rest.split_whitespace().next()?.parse::<u64>().ok())
                .map_or(0, |kib| kib / 1024)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }

    fn kill(mut self) -> anyhow::Result<()> {
        self.child.kill()?;
        self.child.wait()?;
        Ok(())
    }
}

/// A fictitious citizen per index: valid dates in 1950-1999, 10,000 serials each.
fn cpr(i: usize) -> String {
    let day = i / 10_000;
    format!("{:02}{:02}{:02}{:04}", 1 + day % 28, 1 + (day / 28) % 12, 50 + (day / 336) % 50, i % 10_000)
}

pub async fn run(dir: &Path, plans: usize, cache_mb: u64, writers: usize) -> anyhow::Result<()> {
    crate::embedded::write_dev_config(dir, &format!("[limits]\ncache_mb = {cache_mb}\n"))?;
    let mut hub = Hub::spawn(dir)?;
    hub.serving().await?;
    eprintln!("load: restart: filling a hub process with {plans} plans through {writers} clients…");
    let identity = crate::embedded::read_identity(dir, "psykiatri-amager")?;
    let ca = std::fs::read_to_string(dir.join("ca.pem"))?;
    let minter = Arc::new(Minter::from_dev_dir(dir, "psykiatri-amager")?);
    let next = Arc::new(AtomicUsize::new(0));
    let filling = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..writers.max(1) {
        let channel = connect(hub.grpc, &ca, &identity).await?;
        let mut client = plan_client(channel, Professional::signed(minter.clone(), &format!("fill-{w}"), "NURSE")?);
        let next = next.clone();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= plans {
                    return anyhow::Ok(());
                }
                let request = pb::CreatePlanRequest { cpr: cpr(i), request_id: String::new(), reason: REASON.into() };
                client.create_plan(request).await?;
                if i > 0 && i.is_multiple_of(100_000) {
                    eprintln!("load: restart: {i} plans…");
                }
            }
        }));
    }
    for task in tasks {
        task.await??;
    }
    let filled = filling.elapsed();
    let (rss, peak) = hub.memory();
    println!(
        "\nrestart at {plans} plans (cache_mb {cache_mb}): filled in {:.0} s ({:.0} plans/s); hub RSS after the fill {rss} MiB (peak {peak} MiB)",
        filled.as_secs_f64(),
        plans as f64 / filled.as_secs_f64()
    );
    // What stays once the writes' garbage is collected: sled frees pages
    // behind an epoch, and the allocator returns freed memory after a delay.
    tokio::time::sleep(Duration::from_secs(30)).await;
    let (rss, _) = hub.memory();
    println!("hub RSS 30 s after the fill, idle: {rss} MiB");
    for attempt in ["first", "second"] {
        hub.kill()?;
        let cache = if drop_page_cache() { "the OS page cache dropped" } else { "the OS page cache warm" };
        hub = Hub::spawn(dir)?;
        let serving = hub.serving().await?;
        let (rss, peak) = hub.memory();
        println!(
            "{attempt} start after SIGKILL ({cache}): serving (readyz 200) after {:.2} s; RSS {rss} MiB (peak {peak} MiB)",
            serving.as_secs_f64()
        );
    }
    hub.kill()?;
    println!("data folder: {} MiB", folder_bytes(&dir.join("data")) / (1024 * 1024));
    Ok(())
}

/// Empties the OS page cache, as after a reboot, where allowed (root on Linux).
fn drop_page_cache() -> bool {
    let synced = std::process::Command::new("sync").status().is_ok_and(|status| status.success());
    synced && std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

fn folder_bytes(path: &Path) -> u64 {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .flatten()
                .map(|entry| match entry.metadata() {
                    Ok(meta) if meta.is_dir() => folder_bytes(&entry.path()),
                    Ok(meta) => meta.len(),
                    Err(_) => 0,
                })
                .sum()
        })
        .unwrap_or(0)
}
