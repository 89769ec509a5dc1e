//! Backup during writes, restore, and what a restore refuses.

use super::tests::{change, create, open};
use super::*;
use crate::domain::testkit::*;
use crate::domain::*;

fn add_goal(text_: &str) -> Command {
    Command::AddGoal { text: text(text_), category: DataCategory::Goals }
}

/// Keeps writing goals to `plan` (with request ids) until `stop`; returns the positions acknowledged.
async fn keep_writing(store: Store, by: Actor, plan: PlanId, stop: tokio::sync::watch::Receiver<bool>) -> Vec<u64> {
    let mut acked = Vec::new();
    while !*stop.borrow() {
        let count = 1 + acked.len() as u64;
        let request = format!("w-{}-{count}", plan.resource_name());
        let outcome = change(&store, &by, plan, count, add_goal("mål"), Some(&request)).await.expect("write");
        acked.push(outcome.events[0].global_position);
    }
    acked
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_during_writes_restores_to_its_cut() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir.path().join("live"));
    let ward = actor("ward", Sector::RegionalPsychiatry);
    let mut plans = Vec::new();
    for citizen in 0..6 {
        plans.push(create(&store, &ward, citizen).await.plan_id);
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let writers: Vec<_> = plans
        .iter()
        .map(|plan| tokio::spawn(keep_writing(store.clone(), ward.clone(), *plan, stopped.clone())))
        .collect();
    while store.durable_position() < 200 {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    let before = store.durable_position();
    let (summary, file) = store.backup(Vec::new()).await.expect("backup");
    while store.durable_position() < summary.cut.position + 100 {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    stop.send(true).expect("stop");
    for writer in writers {
        writer.await.expect("writer");
    }
    assert!(summary.cut.position >= before, "the cut holds everything durable when it was asked for");
    assert_eq!(summary.plans, 6);
    assert_eq!(summary.bytes, file.len() as u64);

    let restored_dir = dir.path().join("restored");
    let restored = Store::restore(file.as_slice(), &restored_dir, &[0; 32]).expect("restore");
    assert_eq!(restored.cut, summary.cut);
    let restored = open(&restored_dir);
    let report = restored.verify().await.expect("verify");
    assert_eq!(report.problems, Vec::<String>::new());
    assert_eq!(report.events, summary.cut.position);
    assert_eq!(report.audit_records, summary.cut.checkpoint.sequence);
    assert_eq!(restored.durable_position(), summary.cut.position);
    let cut = usize::try_from(summary.cut.position).expect("small");
    assert_eq!(
        restored.events_from(1, usize::MAX).await.expect("restored log"),
        store.events_from(1, cut).await.expect("live log"),
        "the restored log is the live log up to the cut, event for event"
    );
    assert_eq!(
        restored.audit_records(1, usize::MAX).await.expect("restored audit"),
        store
            .audit_records(1, usize::try_from(summary.cut.checkpoint.sequence).expect("small"))
            .await
            .expect("live audit")
    );
    for plan in &plans {
        let got = restored.plan(*plan).await.expect("read").expect("plan");
        assert_eq!(Some(got), restored.replay_plan(*plan).await.expect("replay"));
        let audit = restored.plan_audit_records(*plan, 1, usize::MAX).await.expect("plan audit");
        assert!(audit.iter().all(|r| r.entry.plan == Some(*plan)) && !audit.is_empty());
    }
    // The citizen index and the idempotency records came along: the same
    // citizen finds the same plan, and a retry before the cut appends nothing.
    let again = create(&restored, &ward, 0).await;
    assert_eq!((again.plan_id, again.created), (plans[0], false));
    let request = format!("w-{}-1", plans[0].resource_name());
    let replayed = change(&restored, &ward, plans[0], 1, add_goal("mål"), Some(&request)).await.expect("retry");
    let first = restored.plan_events(plans[0], 2, 1).await.expect("log");
    assert_eq!(replayed.events, first, "the first write's answer, replayed");
    assert_eq!(restored.durable_position(), summary.cut.position, "and nothing appended");
    store.shutdown().await;
    restored.shutdown().await;
}

#[tokio::test]
async fn a_damaged_or_foreign_backup_restores_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(&dir.path().join("live"));
    let ward = actor("ward", Sector::RegionalPsychiatry);
    create(&store, &ward, 1).await;
    let (_, file) = store.backup(Vec::new()).await.expect("backup");
    store.shutdown().await;
    let target = dir.path().join("restored");

    let mut damaged = file.clone();
    let middle = damaged.len() / 2;
    damaged[middle] ^= 1;
    let refused = Store::restore(damaged.as_slice(), &target, &[0; 32]).expect_err("damaged");
    assert!(refused.to_string().contains("not a usable backup"), "{refused}");
    assert!(!target.exists(), "nothing is left behind");

    let truncated = &file[..file.len() - 40];
    assert!(Store::restore(truncated, &target, &[0; 32]).is_err());
    assert!(!target.exists());

    let foreign = Store::restore(file.as_slice(), &target, &[7; 32]).expect_err("another hub's key");
    assert!(foreign.to_string().contains("pseudonym key"), "{foreign}");
    assert!(!target.exists());

    let mut longer = file.clone();
    longer.push(0);
    let refused = Store::restore(longer.as_slice(), &target, &[0; 32]).expect_err("trailing bytes");
    assert!(refused.to_string().contains("after its digest"), "{refused}");
    assert!(!target.exists());

    std::fs::create_dir_all(&target).expect("mkdir");
    assert!(Store::restore(file.as_slice(), &target, &[0; 32]).is_err(), "an existing folder is never overwritten");
    assert!(target.exists(), "and is left alone");

    // A data folder holding an interrupted restore is never opened.
    let interrupted = dir.path().join("interrupted");
    Store::restore(file.as_slice(), &interrupted.join(backup::STAGING), &[0; 32]).expect("restore");
    let refused = Store::open(StoreOptions::new(&interrupted)).expect_err("an interrupted restore");
    assert!(refused.to_string().contains("interrupted restore"), "{refused}");
}
