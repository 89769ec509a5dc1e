//! The failover drill: a primary with a synchronous streaming standby, both
//! on loopback; two hubs write through a connection string that names both
//! hosts with `target_session_attrs=read-write`. The primary is killed with
//! SIGKILL during 64-client writes and the standby promoted. The hubs carry on
//! by themselves; calls during the switch hear UNAVAILABLE with a retry delay
//! (and a retry with the same request id is answered as the first attempt was),
//! never a wrong answer; every acknowledged write is there, positions have no
//! gap, and `verify` passes.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use samplan_hub::client::PlanClient;
use samplan_tests::postgres::{Postgres, USER, available};
use samplan_tests::process::{Acked, assert_acked_present, wait_for_acks};
use samplan_tests::*;
use tonic::Code;

/// How often each status code was heard, besides OK.
type Heard = Arc<Mutex<BTreeMap<String, u64>>>;

/// Adds goals to `plan` until `stop`; a call that hears UNAVAILABLE is sent
/// again, with the same request id, after the delay its RetryInfo names.
async fn write_goals(
    mut client: PlanClient,
    plan: String,
    w: usize,
    acked: Acked,
    heard: Heard,
    stop: Arc<AtomicBool>,
) {
    let mut version = 1;
    for n in 0.. {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        let text = format!("skriver {w} mål {n}");
        let request_id = format!("skriver-{w}-{n}");
        loop {
            match client.change_plan(change(&plan, version, &request_id, add_goal(&text))).await {
                Ok(response) => {
                    version = response.into_inner().version;
                    acked.lock().expect("lock").insert((plan.clone(), events_in(version)), text);
                    break;
                }
                Err(status) => {
                    *heard.lock().expect("lock").entry(format!("{:?}", status.code())).or_default() += 1;
                    match status.code() {
                        Code::Aborted => {
                            version = current_version(&status).unwrap_or(version);
                            break;
                        }
                        Code::Unavailable if !stop.load(Ordering::Relaxed) => {
                            use tonic_types::StatusExt;
                            let delay = status.get_details_retry_info().and_then(|retry| retry.retry_delay);
                            let delay = delay.unwrap_or(Duration::from_secs(60)).min(Duration::from_millis(100));
                            tokio::time::sleep(delay).await;
                        }
                        _ => return,
                    }
                }
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hubs_carry_on_when_the_primary_is_lost() -> anyhow::Result<()> {
    if !available()? {
        return Ok(());
    }
    let settings = ["synchronous_standby_names=standby1", "synchronous_commit=on"];
    let mut primary = Postgres::start_with(&settings)?.ok_or_else(|| anyhow::anyhow!("no PostgreSQL"))?;
    let standby = primary.standby("standby1")?;
    primary.wait_until_synchronous("standby1").await?;
    let url = format!(
        "host=127.0.0.1,127.0.0.1 port={},{} user={USER} dbname=postgres target_session_attrs=read-write connect_timeout=2",
        primary.port, standby.port
    );
    let a = TestHub::start_on_database(&url).await?;
    let b = a.start_beside().await?;
    let mut ward = a.client(WARD).await?;
    let mut plans = Vec::new();
    for i in 0..8 {
        plans.push(create_plan(&mut ward, &format!("{:02}0190{:04}", i + 1, 3000 + i)).await?.0);
    }

    let (acked, heard, stop) = (Acked::default(), Heard::default(), Arc::new(AtomicBool::new(false)));
    let mut writers = Vec::new();
    for w in 0..64 {
        let hub = if w % 2 == 0 { &a } else { &b };
        let client = hub.client(WARD).await?;
        let task = write_goals(client, plans[w % plans.len()].clone(), w, acked.clone(), heard.clone(), stop.clone());
        writers.push(tokio::spawn(task));
    }
    let limit = Duration::from_secs(120);
    let before = tokio::time::timeout(limit, wait_for_acks(&acked, 300)).await?.len();
    primary.kill()?;
    standby.promote()?;
    let carried_on = tokio::time::timeout(limit, wait_for_acks(&acked, before + 300)).await;
    stop.store(true, Ordering::Relaxed);
    for writer in writers {
        writer.await?;
    }
    anyhow::ensure!(carried_on.is_ok(), "the hubs did not carry on after the failover: {:?}", heard.lock());

    let heard = heard.lock().expect("lock").clone();
    eprintln!("failover drill: {before} writes acknowledged before the primary was killed; heard {heard:?}");
    assert!(heard.contains_key("Unavailable"), "calls in flight at the kill hear UNAVAILABLE: {heard:?}");
    assert!(
        heard.keys().all(|code| code == "Aborted" || code == "Unavailable"),
        "only conflicts and UNAVAILABLE: {heard:?}"
    );
    let acknowledged = acked.lock().expect("lock").clone();
    assert_acked_present(&mut ward, &plans, &acknowledged).await?;
    let report = a.hub.store.verify().await?;
    assert!(report.problems.is_empty(), "{:?}", report.problems);
    b.stop().await?;
    a.stop().await
}
