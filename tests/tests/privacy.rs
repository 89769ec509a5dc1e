//! CPR numbers never reach logs, exported traces or the data directory: a hub
//! process with trace logging and OTLP traces serves creates, lookups, a subscription, the citizens' own
//! portal calls (whose assertions carry their numbers) and refusals for
//! several citizens; then its log, every span it exported and every file of
//! its database are searched for the numbers.

use std::path::Path;

use samplan_hub::load::collector::Collector;
use samplan_proto::v1 as pb;
use samplan_tests::process::{citizen_client, client, spawn_hub, terminate};
use samplan_tests::{add_goal, change, create_plan, events_until, field_violations, subscribe};

const CITIZENS: [&str; 3] = ["0101901235", "2412857413", "0203291WQ3"];
/// Refused numbers must not be echoed or logged either.
const REFUSED: [&str; 2] = ["3102901235", "0101901A35"];

fn files_under(dir: &Path, found: &mut Vec<std::path::PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            files_under(&path, found)?;
        } else {
            found.push(path);
        }
    }
    Ok(())
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    haystack.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_cpr_number_in_logs_or_storage() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let collector = Collector::start().await?;
    let telemetry = format!("[telemetry]\notlp_endpoint = \"{}\"\n", collector.endpoint());
    samplan_hub::embedded::write_dev_config(dir.path(), &telemetry)?;
    let (hub, addr) = spawn_hub(dir.path(), &[("RUST_LOG", "trace"), ("SAMPLAN_LOG_FORMAT", "json")])?;
    let mut ward = client(dir.path(), addr).await?;
    for cpr in CITIZENS {
        let (name, version) = create_plan(&mut ward, cpr).await?;
        ward.change_plan(change(&name, version, "", add_goal("Jeg vil gerne bo selv"))).await?;
        ward.lookup_plan(pb::LookupPlanRequest { cpr: cpr.into() }).await?;
        // The dashed form finds the same plan.
        if cpr.bytes().all(|b| b.is_ascii_digit()) {
            let dashed = format!("{}-{}", &cpr[..6], &cpr[6..]);
            ward.lookup_plan(pb::LookupPlanRequest { cpr: dashed }).await?;
        }
    }
    // A subscriber hears of all of it, and its deliveries are logged and audited too.
    let mut feed = subscribe(&mut ward, 0, "privacy-feed").await?;
    let events = events_until(&mut feed, (CITIZENS.len() * 2) as u64).await?;
    assert_eq!(events.len(), CITIZENS.len() * 2);
    for cpr in REFUSED {
        let refused = ward.lookup_plan(pb::LookupPlanRequest { cpr: cpr.into() }).await.expect_err("invalid");
        assert!(!refused.message().contains(cpr));
    }
    // Each citizen reads their plan and writes a goal through the portal; a
    // request id holding a CPR number is refused, never stored.
    for cpr in CITIZENS {
        let mut citizen = citizen_client(dir.path(), addr, cpr).await?;
        let plan = citizen.lookup_plan(pb::LookupPlanRequest { cpr: cpr.into() }).await?.into_inner().plan;
        let plan = plan.ok_or_else(|| anyhow::anyhow!("the citizen's plan"))?;
        let smuggled = change(&plan.name, plan.version, cpr, add_goal("Jeg vil gerne bo selv"));
        let refused = citizen.change_plan(smuggled).await.expect_err("a CPR number as request id");
        assert!(field_violations(&refused).contains_key("request_id") && !refused.message().contains(cpr));
        citizen.change_plan(change(&plan.name, plan.version, "", add_goal("Jeg vil gerne bo selv"))).await?;
    }
    drop(feed);
    terminate(hub).await?;
    let spans: Vec<String> = collector.spans().iter().map(|s| format!("{:?}", s.span)).collect();
    assert!(spans.len() > 20, "the hub exported its spans ({})", spans.len());

    let log = std::fs::read(dir.path().join("hub.log"))?;
    assert!(log.len() > 1000, "the hub logged at trace level ({} bytes)", log.len());
    let mut files = Vec::new();
    files_under(&dir.path().join("data"), &mut files)?;
    assert!(!files.is_empty());
    for cpr in CITIZENS.iter().chain(&REFUSED) {
        let dashed = format!("{}-{}", &cpr[..6], &cpr[6..]);
        for needle in [cpr.to_string(), dashed] {
            assert!(!contains(&log, &needle), "the hub log contains a CPR number");
            assert!(!spans.iter().any(|s| contains(s.as_bytes(), &needle)), "an exported span contains a CPR number");
            for file in &files {
                assert!(!contains(&std::fs::read(file)?, &needle), "{} contains a CPR number", file.display());
            }
        }
    }
    Ok(())
}
