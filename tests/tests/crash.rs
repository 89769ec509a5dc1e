//! The hub process is killed with SIGKILL while concurrent writes are in
//! flight. After a restart every acknowledged event is there, every plan equals
//! a replay of its log, and the global position has no gap.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use samplan_tests::process::{client, spawn_hub};
use samplan_tests::{add_goal, change, create_plan};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acknowledged_writes_survive_sigkill() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    samplan_hub::pki::Pki::new()?.write_dev_dir(dir.path())?;
    let (mut hub, addr) = spawn_hub(dir.path(), &[])?;

    let mut setup = client(dir.path(), addr).await?;
    let mut plans = Vec::new();
    for i in 0..8 {
        plans.push(create_plan(&mut setup, &format!("{:02}0190{:04}", i + 1, 1000 + i)).await?.0);
    }

    // Acknowledged (plan, version) -> goal text, recorded only after OK.
    let acked: Arc<Mutex<BTreeMap<(String, u64), String>>> = Arc::default();
    let mut writers = Vec::new();
    for (w, plan) in plans.iter().cycle().take(16).enumerate() {
        let (mut client, plan, acked) = (client(dir.path(), addr).await?, plan.clone(), acked.clone());
        writers.push(tokio::spawn(async move {
            let mut version = 1;
            for n in 0.. {
                let text = format!("skriver {w} mål {n}");
                match client.change_plan(change(&plan, version, "", add_goal(&text))).await {
                    Ok(response) => {
                        let response = response.into_inner();
                        version = response.version;
                        acked.lock().expect("lock").insert((plan.clone(), samplan_tests::events_in(version)), text);
                    }
                    Err(status) if status.code() == tonic::Code::Aborted => {
                        // Two writers share each plan: take the current version and go on.
                        let (_, metadata) = samplan_tests::error_info(&status).unwrap_or_default();
                        version = metadata.get("current_version").and_then(|v| v.parse().ok()).unwrap_or(version);
                    }
                    Err(_) => return n, // the hub is gone
                }
            }
            0
        }));
    }
    // Let writes flow, then kill the hub mid-stream.
    while acked.lock().expect("lock").len() < 400 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    hub.kill()?;
    hub.wait()?;
    for writer in writers {
        writer.await?;
    }
    let acked = acked.lock().expect("lock").clone();
    assert!(acked.len() >= 400);

    let (mut hub, addr) = spawn_hub(dir.path(), &[])?;
    let mut reader = client(dir.path(), addr).await?;
    for plan in &plans {
        let by_version: BTreeMap<u64, String> =
            samplan_tests::goals_by_sequence(&mut reader, plan).await?.into_iter().collect();
        for ((_, version), text) in acked.range((plan.clone(), 0)..=(plan.clone(), u64::MAX)) {
            assert_eq!(by_version.get(version), Some(text), "{plan} lost acknowledged version {version}");
        }
    }
    hub.kill()?;
    hub.wait()?;

    let config = samplan_hub::config::Config::load(&dir.path().join("samplan.toml"), |_| None)?;
    let store = samplan_hub::server::open_store(&config)?;
    let report = store.verify()?;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    assert!(report.events as usize >= acked.len() + plans.len());
    assert_eq!(store.durable_position(), report.events, "global positions run 1..=n without a gap");
    Ok(())
}
