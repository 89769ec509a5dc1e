//! `samplan backup` while 64 clients write, `samplan restore`, `verify`: the
//! restored hub has every write acknowledged before the backup was asked for,
//! and nothing after its cut — on sled, and on PostgreSQL. With no hub
//! running, the command reads the data folder itself.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use samplan_hub::client::PlanClient;
use samplan_tests::create_plan;
use samplan_tests::process::{
    Acked, assert_acked_present, client, samplan, spawn_goal_writers, spawn_hub, spawn_hub_with_admin, wait_for_acks,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_64_client_writes_restores_what_was_acknowledged_before_it() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    samplan_hub::pki::Pki::new()?.write_dev_dir(dir.path())?;
    let (mut hub, addr, admin) = spawn_hub_with_admin(dir.path(), &[])?;
    let mut setup = client(dir.path(), addr).await?;
    let mut plans = Vec::new();
    for i in 0..16 {
        plans.push(create_plan(&mut setup, &format!("{:02}0190{:04}", i + 1, 2000 + i)).await?.0);
    }
    let acked = Acked::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writers = spawn_goal_writers(dir.path(), addr, &plans, 64, &acked, &stop).await?;

    let before = wait_for_acks(&acked, 300).await;
    let admin_address = admin.to_string();
    let path = dir.path().to_owned();
    let printed = tokio::task::spawn_blocking(move || {
        samplan(&path, &["backup"], &[("SAMPLAN_ADMIN_LISTEN", Path::new(&admin_address))])
    })
    .await??;
    // Writes go on past the cut.
    let acknowledged = acked.lock().expect("lock").len();
    let after = wait_for_acks(&acked, acknowledged + 200).await;
    stop.store(true, Ordering::Relaxed);
    let written: u64 = futures_sum(writers).await?;
    hub.kill()?;
    hub.wait()?;

    let (file, cut) = backup_printed(&printed)?;
    assert_eq!(file.parent(), Some(dir.path().join("backups").as_path()), "{printed}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(std::fs::metadata(&file)?.permissions().mode() & 0o777, 0o600, "only the hub's user reads it");
    }
    assert!(cut > before.len() as u64, "the cut holds every write acknowledged before the backup: {printed}");
    assert!(cut < (after.len() + plans.len()) as u64, "and not those after it");

    // Restore into a fresh data folder; restore checks it as `verify` does.
    let restored = dir.path().join("restored");
    let data = [("SAMPLAN_DATA_DIR", restored.as_path())];
    let report = samplan(dir.path(), &["restore", "--from", file.to_str().unwrap_or_default()], &data)?;
    assert!(report.contains(&format!("{cut} events in the global log")), "{report}");
    assert!(report.contains("ok: gap-free"), "{report}");
    let refused = samplan(dir.path(), &["restore", "--from", file.to_str().unwrap_or_default()], &data);
    assert!(refused.is_err_and(|e| e.to_string().contains("is not empty")), "a restore never overwrites");

    let env = [("SAMPLAN_DATA_DIR", restored.to_str().unwrap_or_default())];
    let (mut hub, addr) = spawn_hub(dir.path(), &env)?;
    assert_restored_to_cut(&mut client(dir.path(), addr).await?, &plans, &before, &after, cut).await?;
    assert!(written as usize >= after.len());
    hub.kill()?;
    hub.wait()?;

    // With no hub running, `samplan backup` reads the data folder itself.
    let offline = samplan(dir.path(), &["backup"], &[])?;
    assert!(offline.contains("backing up the data folder directly"), "{offline}");
    let (file, cut) = backup_printed(&offline)?;
    let again = dir.path().join("again");
    let report = samplan(
        dir.path(),
        &["restore", "--from", file.to_str().unwrap_or_default()],
        &[("SAMPLAN_DATA_DIR", again.as_path())],
    )?;
    assert!(report.contains(&format!("{cut} events in the global log")), "{report}");
    assert!(cut as usize >= after.len() + plans.len(), "every write acknowledged before the kill");
    Ok(())
}

/// On PostgreSQL: `samplan backup` through the admin listener of a hub
/// while 64 clients write; the backup restores into an empty database
/// (checked as `verify` does) with every write acknowledged before it was
/// asked for, and nothing past its cut.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_postgres_backup_taken_during_writes_restores_to_its_cut() -> anyhow::Result<()> {
    let Some(postgres) = samplan_tests::postgres::Postgres::start()? else { return Ok(()) };
    let dir = tempfile::tempdir()?;
    samplan_hub::pki::Pki::new()?.write_dev_dir(dir.path())?;
    let url = postgres.connection_string("postgres");
    let env = [("SAMPLAN_STORE_ENGINE", "postgres"), ("SAMPLAN_POSTGRES_URL", url.as_str())];
    let (hub, addr, admin) = spawn_hub_with_admin(dir.path(), &env)?;
    let mut setup = client(dir.path(), addr).await?;
    let mut plans = Vec::new();
    for i in 0..16 {
        plans.push(create_plan(&mut setup, &format!("{:02}0190{:04}", i + 1, 5000 + i)).await?.0);
    }
    let (acked, stop) = (Acked::default(), Arc::new(AtomicBool::new(false)));
    let writers = spawn_goal_writers(dir.path(), addr, &plans, 64, &acked, &stop).await?;
    let before = wait_for_acks(&acked, 300).await;
    let (admin_address, path) = (admin.to_string(), dir.path().to_owned());
    let (engine, pg_url) = (Path::new("postgres"), PathBuf::from(&url));
    let printed = tokio::task::spawn_blocking(move || {
        let env = [
            ("SAMPLAN_ADMIN_LISTEN", Path::new(&admin_address)),
            ("SAMPLAN_STORE_ENGINE", engine),
            ("SAMPLAN_POSTGRES_URL", pg_url.as_path()),
        ];
        samplan(&path, &["backup"], &env)
    })
    .await??;
    let acknowledged = acked.lock().expect("lock").len();
    let after = wait_for_acks(&acked, acknowledged + 200).await;
    stop.store(true, Ordering::Relaxed);
    futures_sum(writers).await?;
    samplan_tests::process::terminate(hub).await?;
    let (file, cut) = backup_printed(&printed)?;
    assert!(cut > before.len() as u64, "the cut holds every write acknowledged before the backup: {printed}");
    assert!(cut < (after.len() + plans.len()) as u64, "and not those after it");

    postgres.client("postgres").await?.batch_execute("CREATE DATABASE restored").await?;
    let restored_url = PathBuf::from(postgres.connection_string("restored"));
    let env = [("SAMPLAN_STORE_ENGINE", Path::new("postgres")), ("SAMPLAN_POSTGRES_URL", restored_url.as_path())];
    let report = samplan(dir.path(), &["restore", "--from", file.to_str().unwrap_or_default()], &env)?;
    assert!(report.contains(&format!("{cut} events in the global log")), "{report}");
    let refused = samplan(dir.path(), &["restore", "--from", file.to_str().unwrap_or_default()], &env);
    assert!(refused.is_err_and(|e| e.to_string().contains("already holds a log")), "a restore never overwrites");

    let restored = restored_url.to_str().unwrap_or_default().to_owned();
    let (hub, addr) =
        spawn_hub(dir.path(), &[("SAMPLAN_STORE_ENGINE", "postgres"), ("SAMPLAN_POSTGRES_URL", &restored)])?;
    assert_restored_to_cut(&mut client(dir.path(), addr).await?, &plans, &before, &after, cut).await?;
    samplan_tests::process::terminate(hub).await
}

/// A restored hub holds every goal acknowledged `before` the backup, only
/// goals as they were written (`after` holds every acknowledged one), and
/// exactly the events up to the `cut` (each plan's creation is one).
async fn assert_restored_to_cut(
    reader: &mut PlanClient,
    plans: &[String],
    before: &BTreeMap<(String, u64), String>,
    after: &BTreeMap<(String, u64), String>,
    cut: u64,
) -> anyhow::Result<()> {
    let held = assert_acked_present(reader, plans, before).await?;
    for (goal, text) in &held {
        assert!(after.get(goal).is_none_or(|t| t == text), "{goal:?} is not what was written");
    }
    assert_eq!(held.len() as u64 + plans.len() as u64, cut, "exactly the events up to the cut");
    Ok(())
}

/// The file and the cut's global position that `samplan backup` printed.
fn backup_printed(printed: &str) -> anyhow::Result<(PathBuf, u64)> {
    let after = |prefix: &str| printed.lines().find_map(|line| line.strip_prefix(prefix).map(str::to_owned));
    let file = after("backup written to ").ok_or_else(|| anyhow::anyhow!("no file in {printed:?}"))?;
    let cut = after("cut at global position ")
        .and_then(|rest| rest.split(' ').next()?.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no cut in {printed:?}"))?;
    Ok((file.into(), cut))
}

async fn futures_sum(writers: Vec<tokio::task::JoinHandle<u64>>) -> anyhow::Result<u64> {
    let mut total = 0;
    for writer in writers {
        total += writer.await?;
    }
    Ok(total)
}
