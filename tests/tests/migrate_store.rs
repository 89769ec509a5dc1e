//! `samplan migrate-store`: a sled data folder copied into PostgreSQL and
//! back, through a backup (so backup and restore work on both engines), with
//! `verify` passing on every side and every acknowledged write in place; a
//! target that already holds a log is refused.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use samplan_tests::create_plan;
use samplan_tests::postgres::{Postgres, store_settings};
use samplan_tests::process::{
    Acked, assert_acked_present, client, hub_binary, spawn_goal_writers, spawn_hub, terminate, wait_for_acks,
};

/// Runs `samplan migrate-store --from dir/from --to dir/to`; what it printed.
fn migrate(dir: &Path, from: &str, to: &str) -> anyhow::Result<String> {
    let output = Command::new(hub_binary()?)
        .arg("migrate-store")
        .arg("--from")
        .arg(dir.join(from))
        .arg("--to")
        .arg(dir.join(to))
        .output()?;
    let printed = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    anyhow::ensure!(output.status.success(), "migrate-store {from} → {to} failed: {printed}");
    Ok(printed)
}

/// Asserts that a hub on `config` holds every acknowledged goal of `plans`.
async fn assert_holds(
    dir: &Path,
    config: &str,
    plans: &[String],
    acked: &BTreeMap<(String, u64), String>,
) -> anyhow::Result<()> {
    std::fs::copy(dir.join(config), dir.join("samplan.toml"))?;
    let (hub, addr) = spawn_hub(dir, &[])?;
    assert_acked_present(&mut client(dir, addr).await?, plans, acked).await?;
    terminate(hub).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_moves_from_sled_to_postgres_and_back() -> anyhow::Result<()> {
    let Some(postgres) = Postgres::start()? else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    samplan_hub::pki::Pki::new()?.write_dev_dir(dir.path())?;
    let sled = std::fs::read_to_string(dir.path().join("samplan.toml"))?;
    std::fs::write(dir.path().join("sled.toml"), &sled)?;
    std::fs::write(
        dir.path().join("pg.toml"),
        sled.clone() + "\n" + &store_settings(&postgres.connection_string("postgres")),
    )?;
    std::fs::write(dir.path().join("back.toml"), sled.replace("data_dir = \"data\"", "data_dir = \"back\""))?;
    anyhow::ensure!(sled.contains("data_dir = \"data\""), "the dev configuration names its data folder");

    // Some history on sled: plans, goals from 16 writers.
    let (hub, addr) = spawn_hub(dir.path(), &[])?;
    let mut setup = client(dir.path(), addr).await?;
    let mut plans = Vec::new();
    for i in 0..6 {
        plans.push(create_plan(&mut setup, &format!("{:02}0190{:04}", i + 1, 4000 + i)).await?.0);
    }
    let (acked, stop) = (Acked::default(), Arc::new(AtomicBool::new(false)));
    let writers = spawn_goal_writers(dir.path(), addr, &plans, 16, &acked, &stop).await?;
    wait_for_acks(&acked, 200).await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await?;
    }
    terminate(hub).await?;
    let acked = acked.lock().expect("lock").clone();

    let printed = migrate(dir.path(), "sled.toml", "pg.toml")?;
    assert!(printed.contains("verified on both sides"), "{printed}");
    assert_holds(dir.path(), "pg.toml", &plans, &acked).await?;
    let refused = migrate(dir.path(), "sled.toml", "pg.toml").expect_err("the target holds a log now");
    assert!(refused.to_string().contains("already holds a log"), "{refused}");

    let printed = migrate(dir.path(), "pg.toml", "back.toml")?;
    assert!(printed.contains("verified on both sides"), "{printed}");
    assert_holds(dir.path(), "back.toml", &plans, &acked).await?;
    Ok(())
}
