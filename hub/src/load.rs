//! `samplan load`: drives an embedded hub over real mTLS and prints durable
//! writes/s, reads/s and latencies, next to an empty handler (the
//! grpc.health.v1 Check) measured in the same run on the same machine.

use std::time::{Duration, Instant};

use samplan_proto::v1 as pb;
use samplan_proto::v1::change_plan_request::Command;
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

use samplan_services::domain::{
    Actor, Command as DomainCommand, OrganisationId, PlanId, PlanStatus, ProfessionalId, ProfessionalRole, Sector,
    Text, policy,
};
use samplan_services::store::{Intent, Store, Submission};

use crate::client::{PlanClient, connect, plan_client};
use crate::config::{LogFormat, TelemetryConfig};
use crate::embedded::EmbeddedHub;
use crate::telemetry::Telemetry;

pub mod collector;
mod engines;
mod overload;
mod restart;

/// The write scenario's name in the table.
const WRITES: &str = "ChangePlan (durable write)";

/// The reason given when a load client creates its plan and puts it on hold.
const REASON: &str = "belastningstest";

/// `samplan load`'s settings.
#[derive(Clone, Debug, clap::Args)]
pub struct LoadOptions {
    /// Seconds per scenario.
    #[arg(long, default_value_t = 5.0)]
    pub seconds: f64,
    /// Writer counts to measure, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1,16,64")]
    pub writers: Vec<usize>,
    /// Client count for the read and empty-handler scenarios.
    #[arg(long, default_value_t = 64)]
    pub readers: usize,
    /// HTTP/2 connections the clients share (one per client at most), as
    /// an integration's pooled channels would.
    #[arg(long, default_value_t = 4)]
    pub connections: usize,
    /// Live subscribers (each on its own connection) during an extra write
    /// scenario at the most writers, next to one that reads nothing; 0 leaves it out.
    #[arg(long, default_value_t = 4)]
    pub subscribers: usize,
    /// Writers for an overload scenario (e.g. 4× the most writers) against a
    /// hub of its own that takes as many calls at once as the most writers; 0 leaves it out.
    #[arg(long, default_value_t = 0)]
    pub overload: usize,
    /// How long one audit record covers a subscriber's deliveries of one
    /// plan (the hub's subscriptions.audit_window_ms; 0: one per batch).
    #[arg(long, default_value_t = 60_000)]
    pub audit_window_ms: u64,
    /// Plans for a restart scenario: a `samplan serve` process of its own
    /// (this program's binary) is filled with them, killed (SIGKILL) and
    /// started twice; 0 leaves it out.
    #[arg(long, default_value_t = 0)]
    pub restart_plans: usize,
    /// sled's page cache (the hub's limits.cache_mb) for the restart scenario's hub.
    #[arg(long, default_value_t = 256)]
    pub restart_cache_mb: u64,
    /// Export a trace of every call, group commit and sync (sample ratio 1)
    /// over OTLP to a collector in this process that counts them; compare
    /// the figures with a run without.
    #[arg(long)]
    pub traces: bool,
    /// Only compare the engines: durable writes at each writer count on sled
    /// and on PostgreSQL (one hub, two hubs, without and with a synchronous
    /// standby, in throwaway clusters), next to pgbench on the same database.
    #[arg(long)]
    pub engines: bool,
    /// Folder for the temporary databases (it should be on the disk you deploy to).
    #[arg(long, default_value = "target/samplan-load")]
    pub dir: std::path::PathBuf,
}

struct Row {
    scenario: &'static str,
    clients: usize,
    ops: usize,
    elapsed: Duration,
    latencies_us: Vec<u32>,
}

impl Row {
    fn percentile(&self, p: f64) -> f64 {
        percentile(&self.latencies_us, p).map_or(0.0, |us| f64::from(us) / 1000.0)
    }

    fn rate(&self) -> f64 {
        self.ops as f64 / self.elapsed.as_secs_f64()
    }
}

/// The `p` quantile of `sorted` (nearest rank), none if it is empty.
fn percentile<T: Copy>(sorted: &[T], p: f64) -> Option<T> {
    let last = sorted.len().checked_sub(1)?;
    sorted.get(((last as f64) * p).round() as usize).copied()
}

pub async fn run(options: LoadOptions) -> anyhow::Result<()> {
    let (telemetry, collector) = if options.traces {
        let collector = collector::Collector::counting().await?;
        let config = TelemetryConfig { otlp_endpoint: Some(collector.endpoint()), ..TelemetryConfig::default() };
        (Telemetry::start(LogFormat::Pretty, "warn", &config, 512)?, Some(collector))
    } else {
        (Telemetry::logs(LogFormat::Pretty, "warn"), None)
    };
    if options.engines {
        std::fs::create_dir_all(&options.dir)?;
        let duration = Duration::from_secs_f64(options.seconds);
        engines::run(&options.dir, &options.writers, options.connections, duration).await?;
    } else {
        measure(&options).await?;
    }
    telemetry.shutdown().await;
    if let Some(collector) = collector {
        let spans = collector.count();
        println!("traces: the collector received {spans} spans");
        anyhow::ensure!(spans > 0, "no span reached the collector");
    }
    Ok(())
}

async fn measure(options: &LoadOptions) -> anyhow::Result<()> {
    std::fs::create_dir_all(&options.dir)?;
    let dir = tempfile::tempdir_in(&options.dir)?;
    let settings = format!("[subscriptions]\naudit_window_ms = {}\n", options.audit_window_ms);
    let hub = EmbeddedHub::start_configured(dir.path(), &settings).await?;
    let most = options.writers.iter().copied().chain([options.readers]).max().unwrap_or(1);
    eprintln!("load: hub on {} with its database in {}; preparing {most} plans…", hub.addr, dir.path().display());

    let (channels, clients) = prepare_clients(&hub, 0, most, options.connections).await?;

    let duration = Duration::from_secs_f64(options.seconds);
    let mut rows = Vec::new();
    for &writers in &options.writers {
        eprintln!("load: {writers} writer(s) for {:.0}s…", options.seconds);
        rows.push(writes(WRITES, &clients[..writers], duration).await?);
    }
    let writers = options.writers.iter().copied().max().unwrap_or(1);
    let mut followed = None;
    if options.subscribers > 0 {
        eprintln!(
            "load: {writers} writer(s) with {} live subscriber(s) and one that reads nothing…",
            options.subscribers
        );
        let (row, delivered, lag) = followed_writes(&hub, &clients[..writers], options.subscribers, duration).await?;
        followed = Some((row.ops, delivered, lag));
        rows.push(row);
    }
    eprintln!("load: {writers} writer(s) straight on the store, without gRPC…");
    rows.push(store_writes(&hub.store, &clients[..writers], duration).await?);
    eprintln!("load: {} reader(s)…", options.readers);
    rows.push(reads(&clients[..options.readers], duration).await?);
    eprintln!("load: {} clients on the empty handler…", options.readers);
    let health: Vec<_> =
        (0..options.readers).map(|i| HealthClient::new(channels[i % channels.len()].clone())).collect();
    rows.push(empty_handler(&health, duration).await?);

    println!("\n{:<34} {:>7} {:>9} {:>10} {:>8} {:>8}", "scenario", "clients", "ops", "ops/s", "p50 ms", "p99 ms");
    for row in &mut rows {
        row.latencies_us.sort_unstable();
        println!(
            "{:<34} {:>7} {:>9} {:>10.0} {:>8.2} {:>8.2}",
            row.scenario,
            row.clients,
            row.ops,
            row.rate(),
            row.percentile(0.50),
            row.percentile(0.99)
        );
    }
    let read_rate = rows.iter().find(|r| r.scenario.starts_with("GetPlan")).map_or(0.0, Row::rate);
    let empty_rate = rows.iter().find(|r| r.scenario.starts_with("empty")).map_or(0.0, Row::rate);
    let write_rate = rows.iter().find(|r| r.scenario == WRITES && r.clients == writers).map_or(0.0, Row::rate);
    if empty_rate > 0.0 {
        println!("\nplan reads run at {:.0}% of the empty handler's rate", 100.0 * read_rate / empty_rate);
        println!(
            "durable writes at {writers} clients run at {:.0}% of the empty handler's rate",
            100.0 * write_rate / empty_rate
        );
    }
    if let Some((written, delivered, mut lag)) = followed {
        println!(
            "live subscribers: each received {} of the {written} events written while they followed (min {}, max {})",
            delivered.iter().sum::<usize>() / delivered.len().max(1),
            delivered.iter().min().unwrap_or(&0),
            delivered.iter().max().unwrap_or(&0),
        );
        lag.events_ms.sort_unstable();
        let at = |q: f64| percentile(&lag.events_ms, q).unwrap_or(0);
        println!(
            "delivery lag (commit to receipt): p50 {} ms, p99 {} ms, max {} ms; the last subscriber caught up {} ms after the writers stopped",
            at(0.5),
            at(0.99),
            lag.events_ms.last().unwrap_or(&0),
            lag.caught_up_ms,
        );
    }
    println!("group commit: {}", hub.store.stats());
    println!(
        "cores: {}; client and hub share them (one process)",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    drop((clients, health, channels));
    hub.stop().await?;
    if options.overload > 0 {
        let dir = tempfile::tempdir_in(&options.dir)?;
        overload::run(dir.path(), writers, options.overload, options.connections, duration).await?;
    }
    if options.restart_plans > 0 {
        let dir = tempfile::tempdir_in(&options.dir)?;
        restart::run(dir.path(), options.restart_plans, options.restart_cache_mb, writers).await?;
    }
    Ok(())
}

/// `count` clients of `hub`, each with a plan of its own (for the fictitious
/// citizens `first..first + count`), sharing `connections` HTTP/2
/// connections as an integration's pooled channels would; and the connections.
async fn prepare_clients(
    hub: &EmbeddedHub,
    first: usize,
    count: usize,
    connections: usize,
) -> anyhow::Result<(Vec<tonic::transport::Channel>, Vec<(PlanClient, String)>)> {
    let identity = hub.identity("psykiatri-amager")?;
    let mut channels = Vec::new();
    for _ in 0..connections.clamp(1, count.max(1)) {
        channels.push(connect(hub.addr, &hub.pki.ca_pem, &identity).await?);
    }
    let mut clients = Vec::with_capacity(count);
    for i in first..first + count {
        let channel = channels[i % channels.len()].clone();
        let mut client = plan_client(channel, hub.professional("psykiatri-amager", &format!("load-{i}"), "NURSE")?);
        let plan = prepare_plan(&mut client, i).await?;
        clients.push((client, plan));
    }
    Ok((channels, clients))
}

/// A plan that can be put on hold and resumed forever without growing.
async fn prepare_plan(client: &mut PlanClient, i: usize) -> anyhow::Result<String> {
    // Fictitious citizens: valid dates in 1950-1999, one per client.
    let cpr = format!("{:02}{:02}{:02}{:04}", 1 + i % 28, 1 + (i / 28) % 12, 50 + (i / 336) % 50, 1000 + i);
    let plan = client
        .create_plan(pb::CreatePlanRequest { cpr, request_id: String::new(), reason: REASON.into() })
        .await?
        .into_inner()
        .plan
        .ok_or_else(|| anyhow::anyhow!("no plan"))?;
    let mut version = plan.version;
    let professional = format!("load-{i}");
    for command in [
        Command::AssignContactPerson(pb::AssignContactPerson {
            organisation_id: "psykiatri-amager".into(),
            professional_id: professional,
        }),
        Command::ActivatePlan(pb::ActivatePlan {}),
    ] {
        let response = client
            .change_plan(pb::ChangePlanRequest {
                name: plan.name.clone(),
                expected_version: version,
                request_id: String::new(),
                command: Some(command),
            })
            .await?
            .into_inner();
        version = response.version;
    }
    Ok(plan.name)
}

/// Runs `op` in a closed loop on every state, one task each, until `duration`
/// has passed, and records each call's latency.
async fn closed_loop<S, F, Fut>(
    scenario: &'static str,
    states: Vec<S>,
    duration: Duration,
    op: F,
) -> anyhow::Result<Row>
where
    S: Send + 'static,
    F: Fn(S) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = anyhow::Result<S>> + Send,
{
    let clients = states.len();
    let start = Instant::now();
    let deadline = start + duration;
    let mut tasks = Vec::new();
    for mut state in states {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            while Instant::now() < deadline {
                let t = Instant::now();
                state = op(state).await?;
                latencies.push(u32::try_from(t.elapsed().as_micros()).unwrap_or(u32::MAX));
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies_us = Vec::new();
    for task in tasks {
        latencies_us.extend(task.await??);
    }
    Ok(Row { scenario, clients, ops: latencies_us.len(), elapsed: start.elapsed(), latencies_us })
}

/// How late live subscribers heard of events: from each event's record time
/// to its receipt, and from the writers' stop until the last caught up.
struct Lag {
    events_ms: Vec<u64>,
    caught_up_ms: u64,
}

/// The write scenario while `subscribers` systems follow the log live, each
/// on a connection of its own, and one more subscribes and reads nothing:
/// what following costs the writers. Returns how many events each live
/// subscriber received, and how late.
async fn followed_writes(
    hub: &EmbeddedHub,
    clients: &[(PlanClient, String)],
    subscribers: usize,
    duration: Duration,
) -> anyhow::Result<(Row, Vec<usize>, Lag)> {
    use pb::subscribe_plan_events_response::Message;
    let identity = hub.identity("psykiatri-amager")?;
    let head = hub.store.durable_position();
    let stop = tokio_util::sync::CancellationToken::new();
    let mut feeds = Vec::new();
    for i in 0..=subscribers {
        let channel = connect(hub.addr, &hub.pki.ca_pem, &identity).await?;
        let mut client = plan_client(channel, hub.professional("psykiatri-amager", &format!("feed-{i}"), "NURSE")?);
        let request = pb::SubscribePlanEventsRequest { after_position: head };
        feeds.push(client.subscribe_plan_events(request).await?.into_inner());
    }
    let stalled = feeds.pop();
    // Each live subscriber counts events until it has the last one written (or is stopped).
    let (target_tx, target) = tokio::sync::watch::channel(u64::MAX);
    let mut followers = Vec::new();
    for mut feed in feeds {
        let (stop, mut target) = (stop.clone(), target.clone());
        followers.push(tokio::spawn(async move {
            let (mut events, mut lags, mut last) = (0, Vec::new(), 0);
            loop {
                tokio::select! {
                    () = stop.cancelled() => return anyhow::Ok((events, lags)),
                    // The target is set once the writers stop: it may have been reached already.
                    Ok(()) = target.changed() => if last >= *target.borrow() {
                        return Ok((events, lags));
                    },
                    message = feed.message() => match message?.and_then(|m| m.message) {
                        Some(Message::Event(event)) => {
                            events += 1;
                            last = event.global_position;
                            if let Some(at) = event.record_time.as_ref() {
                                let recorded = at.seconds * 1_000 + i64::from(at.nanos) / 1_000_000;
                                let now = chrono::Utc::now().timestamp_millis();
                                lags.push(u64::try_from(now - recorded).unwrap_or(0));
                            }
                            if event.global_position >= *target.borrow() {
                                return Ok((events, lags));
                            }
                        }
                        Some(Message::Heartbeat(_)) => {}
                        None => return Ok((events, lags)),
                    },
                }
            }
        }));
    }
    let row = writes("ChangePlan, subscribers following", clients, duration).await?;
    let stopped = std::time::Instant::now();
    target_tx.send(hub.store.durable_position())?;
    // A subscriber still behind ten seconds after the writers stopped is counted where it got to.
    let timer = tokio::spawn({
        let stop = stop.clone();
        async move {
            tokio::time::sleep(Duration::from_secs(10)).await;
            stop.cancel();
        }
    });
    let (mut delivered, mut lag) = (Vec::new(), Lag { events_ms: Vec::new(), caught_up_ms: 0 });
    for follower in followers {
        let (events, lags) = follower.await??;
        delivered.push(events);
        lag.events_ms.extend(lags);
    }
    lag.caught_up_ms = stopped.elapsed().as_millis() as u64;
    timer.abort();
    drop(stalled);
    Ok((row, delivered, lag))
}

/// Each writer puts its own plan on hold and resumes it, so plans never grow.
async fn writes(scenario: &'static str, clients: &[(PlanClient, String)], duration: Duration) -> anyhow::Result<Row> {
    let mut states = Vec::new();
    for (client, plan) in clients {
        let mut client = client.clone();
        // Earlier scenarios moved the plan on: start from where it is now.
        let current = client.get_plan(pb::GetPlanRequest { name: plan.clone() }).await?.into_inner().plan;
        let current = current.ok_or_else(|| anyhow::anyhow!("no plan"))?;
        let on_hold = current.status == pb::PlanStatus::OnHold as i32;
        states.push((client, plan.clone(), current.version, on_hold));
    }
    closed_loop(scenario, states, duration, |(mut client, plan, version, on_hold)| async move {
        let command = if on_hold {
            Command::ResumePlan(pb::ResumePlan {})
        } else {
            Command::PutPlanOnHold(pb::PutPlanOnHold { reason: REASON.into() })
        };
        let request = pb::ChangePlanRequest {
            name: plan.clone(),
            expected_version: version,
            request_id: String::new(),
            command: Some(command),
        };
        let version = client.change_plan(request).await?.into_inner().version;
        Ok((client, plan, version, !on_hold))
    })
    .await
}

/// The same commands as `writes`, submitted to the store directly: what the
/// store costs without TLS, HTTP/2 and protobuf.
async fn store_writes(store: &Store, clients: &[(PlanClient, String)], duration: Duration) -> anyhow::Result<Row> {
    let mut states = Vec::new();
    for (i, (_, plan)) in clients.iter().enumerate() {
        let plan = PlanId::parse_resource_name(plan).ok_or_else(|| anyhow::anyhow!("bad plan name"))?;
        let current = store.plan(plan).await?.ok_or_else(|| anyhow::anyhow!("no plan"))?;
        let actor = Actor {
            organisation: OrganisationId::parse("organisation", "psykiatri-amager")?,
            sector: Sector::RegionalPsychiatry,
            professional: ProfessionalId::parse("professional", &format!("load-{i}"))?,
            role: ProfessionalRole::Nurse,
            own_plan: None,
        };
        // The version as the nurse sees it; every event here (on hold, resumed) is one it sees.
        let categories = policy::view(&current, &actor, store.now())?.categories();
        let version = current.trail.shown_version(&categories);
        states.push((store.clone(), actor, plan, version, current.status == PlanStatus::OnHold));
    }
    let reason = Text::parse("reason", REASON)?;
    closed_loop("store only (no gRPC, no TLS)", states, duration, move |(store, actor, plan, version, on_hold)| {
        let reason = reason.clone();
        async move {
            let command = if on_hold { DomainCommand::ResumePlan } else { DomainCommand::PutPlanOnHold { reason } };
            let submission =
                Submission { actor: actor.clone(), correlation_id: "load".into(), request_id: None, deadline: None };
            let outcome = store.submit(submission, Intent::Change { plan, expected_version: version, command }).await?;
            Ok((store, actor, plan, version + 256 * outcome.events.len() as u64, !on_hold))
        }
    })
    .await
}

async fn reads(clients: &[(PlanClient, String)], duration: Duration) -> anyhow::Result<Row> {
    let states = clients.to_vec();
    closed_loop("GetPlan (read)", states, duration, |(mut client, plan)| async move {
        client.get_plan(pb::GetPlanRequest { name: plan.clone() }).await?;
        Ok((client, plan))
    })
    .await
}

async fn empty_handler(clients: &[HealthClient<tonic::transport::Channel>], duration: Duration) -> anyhow::Result<Row> {
    closed_loop("empty handler (health Check)", clients.to_vec(), duration, |mut client| async move {
        client.check(HealthCheckRequest { service: String::new() }).await?;
        Ok(client)
    })
    .await
}

#[cfg(test)]
mod tests {
    /// The load tool runs every scenario (briefly): it is not otherwise under test.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn every_scenario_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        let options = super::LoadOptions {
            seconds: 0.2,
            writers: vec![1, 2],
            readers: 2,
            connections: 1,
            subscribers: 1,
            dir: dir.path().to_owned(),
            overload: 4,
            audit_window_ms: 60_000,
            // It runs this program's binary: under `cargo test` that is the test harness.
            restart_plans: 0,
            restart_cache_mb: 256,
            traces: true,
            engines: false,
        };
        super::run(options).await.expect("the load tool runs");
    }

    /// The engine comparison runs (briefly, on throwaway PostgreSQL clusters).
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_engine_comparison_runs() {
        let dir = tempfile::tempdir().expect("tempdir");
        super::engines::run(dir.path(), &[1, 2], 1, std::time::Duration::from_secs(1)).await.expect("it runs");
    }
}
