//! Several hubs on one PostgreSQL database: writes through any hub, one
//! gap-free order for every subscriber on every hub, one audit chain, the
//! deadline watcher once across hubs, and a hub killed mid-write leaving the
//! others serving with nothing acknowledged lost.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use samplan_proto::v1 as pb;
use samplan_services::store::WatcherTurn;
use samplan_tests::process::{Acked, assert_acked_present, spawn_goal_writers, spawn_hub, wait_for_acks};
use samplan_tests::*;

/// A fictitious citizen per plan.
fn cpr(i: usize) -> String {
    format!("{:02}0190{:04}", i + 1, 2000 + i)
}

/// Each event's position, plan and sequence, as a subscriber saw them.
fn order(events: &[pb::PlanEvent]) -> Vec<(u64, String, u64)> {
    events.iter().map(|e| (e.global_position, e.plan.clone(), e.sequence)).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hubs_write_and_follow_one_gap_free_log() -> anyhow::Result<()> {
    run_on(Engine::Postgres, async {
        let a = TestHub::start().await?;
        let b = a.start_beside().await?;
        let mut follow_a = subscribe(&mut a.client(WARD).await?, 0, "follow-a").await?;
        let mut follow_b = subscribe(&mut b.client(WARD).await?, 0, "follow-b").await?;
        let (mut ward_a, mut ward_b) = (a.client(WARD).await?, b.client(WARD).await?);
        let mut plans = Vec::new();
        for i in 0..6 {
            let ward = if i % 2 == 0 { &mut ward_a } else { &mut ward_b };
            plans.push(create_plan(ward, &cpr(i)).await?.0);
        }

        // Writers on both hubs, several on each plan, conflicting across hubs.
        let acked = Acked::default();
        let stop = Arc::new(AtomicBool::new(false));
        let mut writers = spawn_goal_writers(&a.hub.dir, a.hub.addr, &plans, 8, &acked, &stop).await?;
        writers.extend(spawn_goal_writers(&b.hub.dir, b.hub.addr, &plans, 8, &acked, &stop).await?);
        wait_for_acks(&acked, 300).await;
        stop.store(true, Ordering::Relaxed);
        let mut written = 0;
        for writer in writers {
            written += writer.await?;
        }
        assert!(written >= 300);

        let report = a.hub.store.verify().await?;
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let last = report.events;
        let seen_a = events_until(&mut follow_a, last).await?;
        let seen_b = events_until(&mut follow_b, last).await?;
        assert_eq!(order(&seen_a), order(&seen_b), "subscribers on both hubs see one order");
        let positions: Vec<u64> = seen_a.iter().map(|e| e.global_position).collect();
        assert_eq!(positions, (1..=last).collect::<Vec<_>>(), "every position once, in order, none missing");
        let acknowledged = acked.lock().expect("lock").clone();
        assert_acked_present(&mut ward_b, &plans, &acknowledged).await?;
        let acknowledged = acked.lock().expect("lock").clone();
        assert_acked_present(&mut ward_a, &plans, &acknowledged).await?;
        assert_eq!(b.hub.store.durable_position(), last, "each hub hears of the other's commits");

        b.stop().await?;
        a.stop().await
    })
    .await
}

/// The watcher's turn, once it is free (a hub's own watcher takes it for a moment when it starts).
async fn take_turn(hub: &TestHub) -> anyhow::Result<WatcherTurn> {
    for _ in 0..200 {
        if let Some(turn) = hub.hub.store.watcher_turn().await? {
            return Ok(turn);
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    anyhow::bail!("the watcher's turn never came free")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deadline_watcher_takes_one_turn_across_hubs() -> anyhow::Result<()> {
    run_on(Engine::Postgres, async {
        // The hubs' own watchers look once at start, then not for an hour.
        let a = TestHub::start_configured("[deadlines]\ncheck_interval_ms = 3600000\n").await?;
        let b = a.start_beside().await?;
        let turn = take_turn(&a).await?;
        assert!(b.hub.store.watcher_turn().await?.is_none(), "no second watcher while the first has its turn");
        assert!(a.hub.store.watcher_turn().await?.is_none(), "nor a second turn on the same hub");
        drop(turn);
        drop(take_turn(&b).await?);
        b.stop().await?;
        a.stop().await
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hub_killed_mid_write_leaves_the_other_serving() -> anyhow::Result<()> {
    run_on(Engine::Postgres, async {
        let a = TestHub::start().await?;
        // A second hub as a process on the same configuration, to kill.
        let (mut killed, killed_addr) = spawn_hub(&a.hub.dir, &[])?;
        let mut ward = a.client(WARD).await?;
        let mut plans = Vec::new();
        for i in 0..4 {
            plans.push(create_plan(&mut ward, &cpr(i)).await?.0);
        }
        let acked = Acked::default();
        let stop = Arc::new(AtomicBool::new(false));
        let doomed = spawn_goal_writers(&a.hub.dir, killed_addr, &plans, 8, &acked, &stop).await?;
        let survivors = spawn_goal_writers(&a.hub.dir, a.hub.addr, &plans, 8, &acked, &stop).await?;
        let before = wait_for_acks(&acked, 200).await.len();
        killed.kill()?;
        killed.wait()?;
        for writer in doomed {
            writer.await?;
        }
        // The other hub goes on taking writes.
        wait_for_acks(&acked, before + 100).await;
        stop.store(true, Ordering::Relaxed);
        for writer in survivors {
            writer.await?;
        }
        let acknowledged = acked.lock().expect("lock").clone();
        assert_acked_present(&mut ward, &plans, &acknowledged).await?;
        let report = a.hub.store.verify().await?;
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        a.stop().await
    })
    .await
}
