//! `samplan serve` as a child process, the way operators run it: for the
//! load tool's restart scenario and the tests that kill and restart a hub.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// A hub process and the addresses it printed.
#[derive(Debug)]
pub struct Spawned {
    pub child: Child,
    pub grpc: SocketAddr,
    pub admin: SocketAddr,
}

/// Starts `binary serve --config config` on free loopback ports, logging
/// (at `warn`) to `log`, with `env` set; returns once it has printed its
/// addresses, which it does before it opens the store.
pub fn spawn_serve(binary: &Path, config: &Path, log: std::fs::File, env: &[(&str, &str)]) -> anyhow::Result<Spawned> {
    let mut command = Command::new(binary);
    command
        .args(["serve", "--config"])
        .arg(config)
        .env("SAMPLAN_LISTEN", "127.0.0.1:0")
        .env("SAMPLAN_ADMIN_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log));
    for (key, value) in env {
        command.env(key, value);
    }
    let mut child = command.spawn()?;
    let mut stdout = BufReader::new(child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?);
    let mut printed = |prefix: &str| -> anyhow::Result<SocketAddr> {
        let mut line = String::new();
        stdout.read_line(&mut line)?;
        let addr = line.trim().strip_prefix(prefix).ok_or_else(|| anyhow::anyhow!("unexpected line {line:?}"))?;
        Ok(addr.parse()?)
    };
    let grpc = printed("samplan listening on ")?;
    let admin = printed("samplan admin (livez, readyz, metrics) on http://")?;
    Ok(Spawned { child, grpc, admin })
}
