//! `samplan load --engines`: durable writes on sled and on PostgreSQL — one
//! hub and two hubs, without and with a synchronous standby — at each writer
//! count, next to `pgbench` doing the same version-checked append in plain
//! SQL on the same database, all in one run on this machine. PostgreSQL
//! runs as throwaway clusters from the system's binaries, on loopback.

use std::path::Path;
use std::time::Duration;

use super::{Row, WRITES, prepare_clients, writes};
use crate::embedded::EmbeddedHub;
use crate::pg_cluster::{Postgres, store_settings};

/// pgbench's transaction: each client appends to its own plan, checking the
/// version under a row lock, as a hub's write does.
const APPEND: &str = "\\set plan :client_id + 1
BEGIN;
SELECT version FROM bench_plans WHERE id = :plan FOR UPDATE;
INSERT INTO bench_events SELECT :plan, version + 1, convert_to(repeat('x', 300), 'UTF8') FROM bench_plans WHERE id = :plan;
UPDATE bench_plans SET version = version + 1 WHERE id = :plan;
COMMIT;
";

const SCHEMA: &str = "CREATE TABLE bench_plans (id int PRIMARY KEY, version bigint NOT NULL);
CREATE TABLE bench_events (plan int, sequence bigint, event bytea, PRIMARY KEY (plan, sequence));
INSERT INTO bench_plans SELECT g, 0 FROM generate_series(1, 4096) g;";

/// One line of the table: a setup, and its row (or pgbench's rate and mean latency).
struct Line {
    setup: String,
    clients: usize,
    rate: f64,
    p50_ms: f64,
    p99_ms: Option<f64>,
}

impl Line {
    fn of(setup: &str, mut row: Row) -> Self {
        row.latencies_us.sort_unstable();
        Self {
            setup: setup.to_owned(),
            clients: row.clients,
            rate: row.rate(),
            p50_ms: row.percentile(0.5),
            p99_ms: Some(row.percentile(0.99)),
        }
    }
}

pub(super) async fn run(dir: &Path, counts: &[usize], connections: usize, duration: Duration) -> anyhow::Result<()> {
    let most = counts.iter().copied().max().unwrap_or(1);
    let mut lines = Vec::new();
    eprintln!("engines: sled, one hub…");
    {
        let folder = tempfile::tempdir_in(dir)?;
        let hub = EmbeddedHub::start(folder.path()).await?;
        let (_, clients) = prepare_clients(&hub, 0, most, connections).await?;
        for &n in counts {
            lines.push(Line::of("sled, one hub", writes(WRITES, &clients[..n], duration).await?));
        }
        drop(clients);
        hub.stop().await?;
    }
    for standby in [false, true] {
        let suffix = if standby { " + sync standby" } else { "" };
        let settings: &[&str] = if standby { &["synchronous_standby_names=standby1"] } else { &[] };
        // Without PostgreSQL (start_in says why), sled's rows are printed alone.
        let Some(primary) = Postgres::start_in(&std::path::absolute(dir)?, settings)? else { break };
        let _standby = match standby {
            true => {
                let standby = primary.standby("standby1")?;
                primary.wait_until_synchronous("standby1").await?;
                Some(standby)
            }
            false => None,
        };
        let settings = store_settings(&primary.connection_string("postgres"));
        let (folder_a, folder_b) = (tempfile::tempdir_in(dir)?, tempfile::tempdir_in(dir)?);
        eprintln!("engines: PostgreSQL{suffix}, one hub…");
        let a = EmbeddedHub::start_configured(folder_a.path(), &settings).await?;
        let (_, clients_a) = prepare_clients(&a, 0, most, connections).await?;
        for &n in counts {
            let row = writes(WRITES, &clients_a[..n], duration).await?;
            lines.push(Line::of(&format!("postgres{suffix}, one hub"), row));
        }
        eprintln!("engines: PostgreSQL{suffix}, two hubs…");
        let b = a.start_beside(folder_b.path()).await?;
        let (_, clients_b) = prepare_clients(&b, most, most, connections).await?;
        for &n in counts {
            // Half the clients on each hub.
            let both: Vec<_> = clients_a[..n.div_ceil(2)].iter().chain(&clients_b[..n / 2]).cloned().collect();
            lines.push(Line::of(&format!("postgres{suffix}, two hubs"), writes(WRITES, &both, duration).await?));
        }
        drop((clients_a, clients_b));
        b.stop().await?;
        a.stop().await?;
        eprintln!("engines: pgbench{suffix}…");
        for &n in counts {
            lines.push(pgbench(&primary, &format!("pgbench{suffix}"), n, duration).await?);
        }
    }
    print(&lines);
    Ok(())
}

/// pgbench's rate and mean latency for `clients` clients running [`APPEND`].
async fn pgbench(primary: &Postgres, setup: &str, clients: usize, duration: Duration) -> anyhow::Result<Line> {
    let client = primary.client("postgres").await?;
    client.batch_execute("DROP TABLE IF EXISTS bench_plans, bench_events").await?;
    client.batch_execute(SCHEMA).await?;
    drop(client);
    let script = tempfile::NamedTempFile::new()?;
    std::fs::write(script.path(), APPEND)?;
    let mut command = std::process::Command::new(primary.bindir().join("pgbench"));
    command
        .args(["-n", "-h", "127.0.0.1", "-p", &primary.port.to_string(), "-U", crate::pg_cluster::USER])
        .args(["-c", &clients.to_string(), "-j", &clients.min(2).to_string()])
        .args(["-T", &duration.as_secs().max(1).to_string(), "-f"])
        .arg(script.path())
        .arg("postgres");
    let output = tokio::task::spawn_blocking(move || command.output()).await??;
    let text = String::from_utf8_lossy(&output.stdout);
    anyhow::ensure!(output.status.success(), "pgbench failed: {text}{}", String::from_utf8_lossy(&output.stderr));
    let number = |prefix: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(prefix))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<f64>().ok())
            .ok_or_else(|| anyhow::anyhow!("pgbench printed no {prefix:?}: {text}"))
    };
    Ok(Line {
        setup: setup.to_owned(),
        clients,
        rate: number("tps = ")?,
        p50_ms: number("latency average = ")?,
        p99_ms: None,
    })
}

fn print(lines: &[Line]) {
    println!("\ndurable writes by engine (pgbench: the same version-checked append in SQL; its latency is the mean)");
    println!(
        "{:<34} {:>7} {:>10} {:>8} {:>8} {:>11}",
        "setup", "clients", "writes/s", "p50 ms", "p99 ms", "vs pgbench"
    );
    for line in lines {
        // The pgbench run on the same database at the same client count.
        let bench = if line.setup.contains("sync standby") { "pgbench + sync standby" } else { "pgbench" };
        let baseline = lines.iter().find(|l| l.setup == bench && l.clients == line.clients).map(|l| l.rate);
        let ratio = match baseline {
            Some(rate) if rate > 0.0 && !line.setup.starts_with("pgbench") => format!("{:.2}×", line.rate / rate),
            _ => String::new(),
        };
        let p99 = line.p99_ms.map_or_else(String::new, |ms| format!("{ms:.2}"));
        println!(
            "{:<34} {:>7} {:>10.0} {:>8.2} {:>8} {:>11}",
            line.setup, line.clients, line.rate, line.p50_ms, p99, ratio
        );
    }
}
