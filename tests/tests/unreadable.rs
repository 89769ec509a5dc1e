//! A store that cannot be read — here a plan's stored state that no longer
//! decodes — is no more trusted than one that cannot write: the reader hears
//! UNAVAILABLE (not INTERNAL), health turns NOT_SERVING with the cause in the
//! log, the hub exits non-zero for its supervisor, and `verify` names the
//! damage rather than asking whether a hub is still running.

use std::time::Duration;

use samplan_proto::v1 as pb;
use samplan_services::domain::PlanId;
use samplan_services::store::SEGMENT_SIZE;
use samplan_tests::process::{admin_get, client, spawn_hub_with_admin};
use samplan_tests::{CPR, create_plan, error_info};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_plan_fails_the_store_and_the_hub_exits_for_a_restart() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    samplan_hub::pki::Pki::new()?.write_dev_dir(dir.path())?;
    let (mut hub, addr, _) = spawn_hub_with_admin(dir.path(), &[])?;
    let mut ward = client(dir.path(), addr).await?;
    let (name, _) = create_plan(&mut ward, CPR).await?;
    hub.kill()?;
    hub.wait()?;

    // Damage the plan's stored state and its first event on disk (a damaged
    // state alone is rebuilt from the log).
    let plan = PlanId::parse_resource_name(&name).ok_or_else(|| anyhow::anyhow!("plan name"))?;
    {
        let db = sled::Config::new().path(dir.path().join("data")).segment_size(SEGMENT_SIZE).open()?;
        let state = [&b"p"[..], &plan.0].concat();
        let first_event = [&b"e"[..], &plan.0, &1u64.to_be_bytes()].concat();
        for key in [state, first_event] {
            anyhow::ensure!(db.insert(key, vec![0xff; 7])?.is_some(), "a value was stored under the key");
        }
        db.flush()?;
    }

    let (mut hub, addr, admin) = spawn_hub_with_admin(dir.path(), &[])?;
    assert_eq!(admin_get(admin, "/readyz").await?.0, 200, "it serves until it meets the damage");
    let mut ward = client(dir.path(), addr).await?;
    let refused = ward.get_plan(pb::GetPlanRequest { name: name.clone() }).await.expect_err("unreadable");
    assert_eq!(refused.code(), tonic::Code::Unavailable, "{refused:?}");
    assert_eq!(error_info(&refused).map(|(reason, _)| reason).as_deref(), Some("STORE_UNAVAILABLE"));
    let (ready, why) = admin_get(admin, "/readyz").await?;
    assert_eq!(ready, 503);
    assert!(why.contains("store failed"), "{why}");

    let exited =
        tokio::time::timeout(Duration::from_secs(30), tokio::task::spawn_blocking(move || hub.wait())).await???;
    assert!(!exited.success(), "a store that cannot be read exits non-zero: {exited:?}");
    let log = std::fs::read_to_string(dir.path().join("hub.log"))?;
    assert!(log.contains("a read from the store failed"), "the cause is logged:\n{log}");
    assert!(!log.contains(CPR), "no CPR number in the log");

    // `verify` names what is wrong.
    let verified = samplan_tests::process::samplan(dir.path(), &["verify"], &[]);
    let report = format!("{verified:?}");
    assert!(verified.is_err(), "{report}");
    assert!(!report.contains("still running"), "{report}");
    assert!(report.contains("decode") || report.contains("differs") || report.contains("corrupt"), "{report}");
    Ok(())
}
