//! `samplan load --overload N`: what the hub does beyond what it can take.
//! A hub of its own, whose `limits.max_in_flight` is the writer count that
//! saturates it, gets N writers in a closed loop, each call with a 1 s
//! deadline; a shed writer waits the retry delay the hub asks for, as a
//! well-behaved client would. It reports how many calls were taken and how
//! fast, how many were shed and how fast the refusal came, how many missed
//! their deadline, and the process's memory.

use std::time::{Duration, Instant};

use samplan_proto::v1 as pb;
use samplan_proto::v1::change_plan_request::Command;
use tonic_types::StatusExt;

use super::{REASON, prepare_plan};
use crate::client::{PlanClient, connect, plan_client};
use crate::embedded::EmbeddedHub;

/// Each call's deadline.
const DEADLINE: Duration = Duration::from_secs(1);

#[derive(Default)]
struct Tally {
    taken_us: Vec<u32>,
    shed_us: Vec<u32>,
    late: usize,
    other: usize,
}

impl Tally {
    fn add(&mut self, other: Tally) {
        self.taken_us.extend(other.taken_us);
        self.shed_us.extend(other.shed_us);
        self.late += other.late;
        self.other += other.other;
    }
}

/// Runs the scenario with `writers` clients against a hub taking `max_in_flight` calls.
pub async fn run(
    dir: &std::path::Path,
    max_in_flight: usize,
    writers: usize,
    connections: usize,
    duration: Duration,
) -> anyhow::Result<()> {
    let settings = format!("[limits]\nmax_in_flight = {max_in_flight}\n");
    let hub = EmbeddedHub::start_configured(dir, &settings).await?;
    eprintln!("load: overload: preparing {writers} plans for a hub taking {max_in_flight} calls at once…");
    let identity = hub.identity("psykiatri-amager")?;
    let mut channels = Vec::new();
    for _ in 0..connections.clamp(1, writers) {
        channels.push(connect(hub.addr, &hub.pki.ca_pem, &identity).await?);
    }
    let mut clients = Vec::new();
    for i in 0..writers {
        let channel = channels[i % channels.len()].clone();
        let mut client = plan_client(channel, hub.professional("psykiatri-amager", &format!("load-{i}"), "NURSE")?);
        let plan = prepare_plan(&mut client, i).await?;
        clients.push((client, plan));
    }
    let rss_before = rss_kib("VmRSS");
    eprintln!("load: overload: {writers} writers for {:.0}s…", duration.as_secs_f64());
    let start = Instant::now();
    let until = start + duration;
    let tasks: Vec<_> = clients.into_iter().map(|(client, plan)| tokio::spawn(writer(client, plan, until))).collect();
    let mut tally = Tally::default();
    for task in tasks {
        tally.add(task.await??);
    }
    let elapsed = start.elapsed().as_secs_f64();
    for list in [&mut tally.taken_us, &mut tally.shed_us] {
        list.sort_unstable();
    }
    let p = |list: &[u32], q: f64| {
        list.get(((list.len().max(1) - 1) as f64 * q).round() as usize).map_or(0.0, |us| f64::from(*us) / 1000.0)
    };
    println!("\noverload: {writers} writers against a hub taking {max_in_flight} calls at once, 1 s deadlines");
    println!(
        "  taken: {} ({:.0}/s), p50 {:.2} ms, p99 {:.2} ms, slowest {:.2} ms",
        tally.taken_us.len(),
        tally.taken_us.len() as f64 / elapsed,
        p(&tally.taken_us, 0.5),
        p(&tally.taken_us, 0.99),
        p(&tally.taken_us, 1.0)
    );
    println!(
        "  shed (RESOURCE_EXHAUSTED, HUB_OVERLOADED): {} ({:.0}/s), refused in p50 {:.2} ms, p99 {:.2} ms",
        tally.shed_us.len(),
        tally.shed_us.len() as f64 / elapsed,
        p(&tally.shed_us, 0.5),
        p(&tally.shed_us, 0.99)
    );
    println!("  past their deadline: {}; other errors: {}", tally.late, tally.other);
    println!(
        "  memory (client and hub in one process): RSS {} MiB before, {} MiB after, peak {} MiB",
        rss_before / 1024,
        rss_kib("VmRSS") / 1024,
        rss_kib("VmHWM") / 1024
    );
    drop(channels);
    hub.stop().await
}

/// One writer: puts its plan on hold and resumes it until `until`, waiting
/// the hub's retry delay whenever it is shed.
async fn writer(mut client: PlanClient, plan: String, until: Instant) -> anyhow::Result<Tally> {
    let mut tally = Tally::default();
    let current = loop {
        match client.get_plan(pb::GetPlanRequest { name: plan.clone() }).await {
            Ok(response) => break response.into_inner().plan.ok_or_else(|| anyhow::anyhow!("no plan"))?,
            Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) => return Err(status.into()),
        }
    };
    let (mut version, mut on_hold) = (current.version, current.status == pb::PlanStatus::OnHold as i32);
    while Instant::now() < until {
        let command = if on_hold {
            Command::ResumePlan(pb::ResumePlan {})
        } else {
            Command::PutPlanOnHold(pb::PutPlanOnHold { reason: REASON.into() })
        };
        let mut request = tonic::Request::new(pb::ChangePlanRequest {
            name: plan.clone(),
            expected_version: version,
            request_id: String::new(),
            command: Some(command),
        });
        request.set_timeout(DEADLINE);
        let t = Instant::now();
        let answer = client.change_plan(request).await;
        let us = u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX);
        match answer {
            Ok(response) => {
                version = response.into_inner().version;
                on_hold = !on_hold;
                tally.taken_us.push(us);
            }
            Err(status) if status.code() == tonic::Code::ResourceExhausted => {
                tally.shed_us.push(us);
                let wait = status.get_details_retry_info().and_then(|r| r.retry_delay);
                tokio::time::sleep(wait.unwrap_or(Duration::from_millis(100))).await;
            }
            Err(status) if matches!(status.code(), tonic::Code::DeadlineExceeded | tonic::Code::Cancelled) => {
                tally.late += 1;
            }
            Err(_) => tally.other += 1,
        }
    }
    Ok(tally)
}

/// A line of `/proc/self/status`, in KiB (0 where there is none).
fn rss_kib(field: &str) -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|line| line.strip_prefix(field)?.strip_prefix(':')?.trim().strip_suffix("kB")?.trim().parse().ok())
        .unwrap_or(0)
}
