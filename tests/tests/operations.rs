//! Running the hub for real: the admin listener tells the truth (`/livez`,
//! `/readyz`, `/metrics`), gRPC health flips overall and per service, and a
//! store that can no longer write (a full disk) turns the hub NOT_SERVING,
//! makes it exit non-zero, and loses nothing acknowledged across the restart.

use std::path::{Path, PathBuf};
use std::time::Duration;

use samplan_proto::v1 as pb;
use samplan_tests::process::{admin_get, client, spawn_hub_with_admin};
use samplan_tests::{CPR, TestHub, WARD, add_goal, change, create_plan};
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::{HealthCheckRequest, health_client::HealthClient};

const PLAN_SERVICE: &str = "samplan.v1.PlanService";

#[tokio::test]
async fn the_admin_listener_and_health_tell_the_truth() -> anyhow::Result<()> {
    let hub = TestHub::start_configured("[limits]\nshutdown_grace_ms = 1000\n").await?;
    let admin = hub.hub.admin_addr;
    assert_eq!(admin_get(admin, "/livez").await?.0, 200);
    assert_eq!(admin_get(admin, "/readyz").await?, (200, "ready\n".to_owned()));

    let mut ward = hub.client(WARD).await?;
    create_plan(&mut ward, CPR).await?;
    let refused = ward.get_plan(pb::GetPlanRequest { name: "plans/no-such-plan".into() }).await;
    assert!(refused.is_err());

    let (status, metrics) = admin_get(admin, "/metrics").await?;
    assert_eq!(status, 200);
    for expected in [
        "samplan_rpc_calls_total{method=\"CreatePlan\",code=\"OK\"}",
        "samplan_rpc_duration_seconds_bucket{method=\"GetPlan\"",
        "samplan_refusals_total{reason=",
        "samplan_group_commit_jobs_bucket",
        "samplan_fdatasync_seconds_bucket",
        "samplan_audit_records_total",
        "samplan_store_writable 1",
        "samplan_write_queue_depth",
        "samplan_tls_handshakes_total{outcome=\"ok\"}",
    ] {
        assert!(metrics.contains(expected), "/metrics lacks {expected}:\n{metrics}");
    }
    assert!(!metrics.contains(CPR), "no CPR number in any metric");
    assert!(!metrics.contains("aut-4471"), "no professional in any label");
    assert_eq!(admin_get(admin, "/nothing-here").await?.0, 404);

    // At shutdown overall health turns NOT_SERVING before the calls drain
    // (the open watch keeps the hub draining), and /readyz says why.
    let mut watch = health_watch(&hub.hub.dir, hub.hub.addr).await?;
    assert_eq!(watch.message().await?.map(|m| m.status()), Some(ServingStatus::Serving));
    let stopping = tokio::spawn(hub.stop());
    let flipped = tokio::time::timeout(Duration::from_secs(5), watch.message()).await??.map(|m| m.status());
    assert_eq!(flipped, Some(ServingStatus::NotServing));
    assert_eq!(admin_get(admin, "/readyz").await?, (503, "not ready: shutting down\n".to_owned()));
    drop(watch);
    stopping.await?
}

/// Beyond `limits.max_in_flight` a call is refused at once, with a reason and
/// a retry delay, instead of queueing; the calls taken are answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_hub_refuses_at_once_with_a_retry_delay() -> anyhow::Result<()> {
    use tonic_types::StatusExt;
    let hub = TestHub::start_configured("[limits]\nmax_in_flight = 1\n").await?;
    let mut ward = hub.client(WARD).await?;
    let (plan, _) = create_plan(&mut ward, CPR).await?;
    let mut calls = Vec::new();
    for _ in 0..4 {
        let client = hub.client(WARD).await?;
        for _ in 0..12 {
            let (mut client, plan) = (client.clone(), plan.clone());
            calls.push(tokio::spawn(async move { client.get_plan(pb::GetPlanRequest { name: plan }).await }));
        }
    }
    let (mut answered, mut shed) = (0, 0);
    for call in calls {
        match call.await? {
            Ok(_) => answered += 1,
            Err(status) => {
                assert_eq!(status.code(), tonic::Code::ResourceExhausted, "{status:?}");
                let (reason, _) = samplan_tests::error_info(&status).unwrap_or_default();
                assert_eq!(reason, "HUB_OVERLOADED");
                let retry = status.get_details_retry_info().and_then(|r| r.retry_delay);
                assert_eq!(retry, Some(Duration::from_millis(100)));
                shed += 1;
            }
        }
    }
    assert!(answered >= 1 && shed >= 1, "answered {answered}, shed {shed}");
    let (_, metrics) = admin_get(hub.hub.admin_addr, "/metrics").await?;
    assert!(metrics.contains("samplan_refusals_total{reason=\"HUB_OVERLOADED\"}"), "{metrics}");
    hub.stop().await
}

/// Whether this machine lets the test mount a file system (it needs root).
fn may_mount() -> bool {
    std::process::Command::new("id").arg("-u").output().is_ok_and(|o| o.stdout.starts_with(b"0\n"))
}

/// A small tmpfs, unmounted when dropped.
struct SmallDisk(PathBuf);

impl SmallDisk {
    fn mount(at: &Path, size: &str) -> anyhow::Result<Self> {
        std::fs::create_dir_all(at)?;
        let status = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .status()?;
        anyhow::ensure!(status.success(), "mount -t tmpfs failed");
        Ok(Self(at.to_owned()))
    }

    fn grow(&self, size: &str) -> anyhow::Result<()> {
        let status =
            std::process::Command::new("mount").args(["-o", &format!("remount,size={size}")]).arg(&self.0).status()?;
        anyhow::ensure!(status.success(), "remount failed");
        Ok(())
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

async fn health_watch(
    dir: &Path,
    addr: std::net::SocketAddr,
) -> anyhow::Result<tonic::Streaming<tonic_health::pb::HealthCheckResponse>> {
    let ca = std::fs::read_to_string(dir.join("ca.pem"))?;
    let identity = samplan_hub::embedded::read_identity(dir, WARD)?;
    let channel = samplan_hub::client::connect(addr, &ca, &identity).await?;
    let mut health = HealthClient::new(channel);
    let serving = health.check(HealthCheckRequest { service: PLAN_SERVICE.into() }).await?.into_inner();
    assert_eq!(serving.status(), ServingStatus::Serving);
    Ok(health.watch(HealthCheckRequest { service: String::new() }).await?.into_inner())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_turns_the_hub_not_serving_and_a_restart_recovers() -> anyhow::Result<()> {
    if !may_mount() {
        eprintln!("SKIPPED: mounting a small tmpfs needs root; run the suite as root (as CI does) to test a full disk");
        return Ok(());
    }
    let dir = tempfile::tempdir()?;
    samplan_hub::embedded::write_dev_config(dir.path(), "[limits]\nshutdown_grace_ms = 2000\n")?;
    let config = dir.path().join("samplan.toml");
    let data = dir.path().join("data-on-small-disk");
    let disk = SmallDisk::mount(&data, "6m")?;
    let data_env = data.to_str().ok_or_else(|| anyhow::anyhow!("path"))?.to_owned();
    let env = [("SAMPLAN_DATA_DIR", data_env.as_str())];
    let (mut hub, addr, admin) = spawn_hub_with_admin(dir.path(), &env)?;

    let mut watch = health_watch(dir.path(), addr).await?;
    let first = watch.message().await?.map(|m| m.status());
    assert_eq!(first, Some(ServingStatus::Serving));

    // Write until the disk is full; remember every goal acknowledged, plan by
    // plan (a plan holds at most 192 KiB, so a new one every 40 goals).
    let mut ward = client(dir.path(), addr).await?;
    let mut acked: Vec<(String, Vec<String>)> = Vec::new();
    let mut version = 0;
    let refusal = loop {
        if acked.last().is_none_or(|(_, goals)| goals.len() == 40) {
            let cpr = format!("0101{:02}{:04}", 50 + acked.len() / 10_000, acked.len() % 10_000);
            match create_plan(&mut ward, &cpr).await {
                Ok((plan, created)) => {
                    acked.push((plan, Vec::new()));
                    version = created;
                }
                Err(error) => match error.downcast::<tonic::Status>() {
                    Ok(status) => break status,
                    Err(other) => return Err(other),
                },
            }
        }
        let Some((plan, goals)) = acked.last_mut() else { unreachable!("a plan was just made") };
        let text = format!("mål {} {}", goals.len(), "x".repeat(3000));
        match ward.change_plan(change(plan, version, "", add_goal(&text))).await {
            Ok(response) => {
                version = response.into_inner().version;
                goals.push(text);
            }
            Err(status) => break status,
        }
        anyhow::ensure!(acked.len() < 1000, "6 MiB never filled");
    };
    assert_eq!(refusal.code(), tonic::Code::Unavailable, "{refusal:?}");
    assert!(acked.iter().map(|(_, goals)| goals.len()).sum::<usize>() > 40);
    let written: usize = acked.iter().map(|(_, goals)| goals.len()).sum();
    println!("the disk filled after {written} goals in {} plans: {refusal:?}", acked.len());
    let plan = acked[0].0.clone();

    // Overall health turns NOT_SERVING; the probes say why.
    let flipped = tokio::time::timeout(Duration::from_secs(5), watch.message()).await??.map(|m| m.status());
    assert_eq!(flipped, Some(ServingStatus::NotServing));
    let (ready, why) = admin_get(admin, "/readyz").await?;
    assert_eq!(ready, 503);
    assert!(why.contains("store failed"), "{why}");
    assert_eq!(admin_get(admin, "/livez").await?.0, 503);
    let read = ward.get_plan(pb::GetPlanRequest { name: plan.clone() }).await;
    assert_eq!(read.map(drop).map_err(|s| s.code()), Err(tonic::Code::Unavailable), "reads are refused too");

    // It drains and exits non-zero, so that its supervisor restarts it.
    let exited = tokio::task::spawn_blocking(move || hub.wait()).await??;
    assert!(!exited.success(), "a failed store exits non-zero: {exited:?}");
    drop(watch);

    // Room again: the restarted hub recovers, with every acknowledged goal.
    disk.grow("64m")?;
    let (mut hub, addr, admin) = spawn_hub_with_admin(dir.path(), &env)?;
    assert_eq!(admin_get(admin, "/readyz").await?.0, 200);
    let mut reader = client(dir.path(), addr).await?;
    for (plan, goals) in &acked {
        let stored: Vec<String> =
            samplan_tests::goals_by_sequence(&mut reader, plan).await?.into_iter().map(|(_, text)| text).collect();
        assert_eq!(stored[..goals.len()], goals[..], "every acknowledged goal, in order");
    }
    hub.kill()?;
    hub.wait()?;
    let verified = std::process::Command::new(samplan_tests::process::hub_binary()?)
        .args(["verify", "--config"])
        .arg(&config)
        .env("SAMPLAN_DATA_DIR", &data_env)
        .output()?;
    assert!(verified.status.success(), "verify: {}", String::from_utf8_lossy(&verified.stdout));
    Ok(())
}
