//! The hub process is killed with SIGKILL while concurrent writes are in
//! flight. After a restart every acknowledged event is there, every plan equals
//! a replay of its log, and the global position has no gap — on either engine.

use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use samplan_tests::process::{Acked, assert_acked_present, client, spawn_goal_writers, spawn_hub, wait_for_acks};
use samplan_tests::{create_plan, on_both_engines, store_env};

on_both_engines! {
    async fn acknowledged_writes_survive_sigkill() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        samplan_hub::pki::Pki::new()?.write_dev_dir(dir.path())?;
        let (_postgres, env) = store_env()?;
        let env: Vec<(&str, &str)> = env.iter().map(|(key, value)| (*key, value.as_str())).collect();
        let (mut hub, addr) = spawn_hub(dir.path(), &env)?;

        let mut setup = client(dir.path(), addr).await?;
        let mut plans = Vec::new();
        for i in 0..8 {
            plans.push(create_plan(&mut setup, &format!("{:02}0190{:04}", i + 1, 1000 + i)).await?.0);
        }

        let acked = Acked::default();
        let stop = Arc::new(AtomicBool::new(false));
        let writers = spawn_goal_writers(dir.path(), addr, &plans, 16, &acked, &stop).await?;
        // Let writes flow, then kill the hub mid-stream.
        wait_for_acks(&acked, 400).await;
        hub.kill()?;
        hub.wait()?;
        for writer in writers {
            writer.await?;
        }
        let acked = acked.lock().expect("lock").clone();
        assert!(acked.len() >= 400);

        let (mut hub, addr) = spawn_hub(dir.path(), &env)?;
        assert_acked_present(&mut client(dir.path(), addr).await?, &plans, &acked).await?;
        hub.kill()?;
        hub.wait()?;

        let lookup = |key: &str| env.iter().find(|(k, _)| *k == key).map(|(_, value)| value.to_string());
        let config = samplan_hub::config::Config::load(&dir.path().join("samplan.toml"), lookup)?;
        let store = samplan_hub::server::open_store(&config).await?;
        let report = store.verify().await?;
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert!(report.events as usize >= acked.len() + plans.len());
        assert_eq!(store.durable_position(), report.events, "global positions run 1..=n without a gap");
        store.shutdown().await;
        Ok(())
    }
}
