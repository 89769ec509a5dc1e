//! `[limits]`: sizes, queues, in-flight bounds and timeouts of the hub.

use anyhow::bail;
use samplan_services::grpc::{TRANSPORT_MAX_HEADER_BYTES, TRANSPORT_MAX_REQUEST_BYTES};
use serde::Deserialize;

#[derive(Clone, Debug, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limits {
    /// Largest request message accepted, in bytes.
    #[serde(default = "default_max_request_bytes")]
    pub max_request_bytes: usize,
    /// Concurrent HTTP/2 streams per connection.
    #[serde(default = "default_max_concurrent_streams")]
    pub max_concurrent_streams: u32,
    /// Most writes committed by one group flush.
    #[serde(default = "default_group_commit_max_batch")]
    pub group_commit_max_batch: usize,
    /// Writes that may wait for the writer before callers wait too.
    #[serde(default = "default_write_queue")]
    pub write_queue: usize,
    /// Calls answered at once across all connections; beyond it a call is
    /// refused at once with `RESOURCE_EXHAUSTED` (`HUB_OVERLOADED`, retry after 100 ms).
    #[serde(default = "default_max_in_flight")]
    pub max_in_flight: usize,
    /// Calls answered at once on one connection; beyond it `RESOURCE_EXHAUSTED`.
    #[serde(default = "default_max_in_flight_per_connection")]
    pub max_in_flight_per_connection: usize,
    /// sled's page cache, in MiB.
    #[serde(default = "default_cache_mb")]
    pub cache_mb: u64,
    /// On shutdown, how long open calls and streams may take to finish before they are closed.
    #[serde(default = "default_shutdown_grace_ms")]
    pub shutdown_grace_ms: u64,
    /// Largest header block of a call (name + value + 32 bytes per field, as
    /// HTTP/2 counts them); beyond it `RESOURCE_EXHAUSTED` (`HEADERS_TOO_LARGE`).
    #[serde(default = "default_max_header_bytes")]
    pub max_header_bytes: usize,
    /// A connection from which nothing arrives for this long is closed: one
    /// that finished the TLS handshake but never speaks HTTP/2, or a client
    /// gone silent. The hub pings every connection every 30 s (a third of
    /// this, if shorter) and healthy clients answer, so they are never idle.
    #[serde(default = "default_idle_connection_ms")]
    pub idle_connection_ms: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_request_bytes: default_max_request_bytes(),
            max_concurrent_streams: default_max_concurrent_streams(),
            group_commit_max_batch: default_group_commit_max_batch(),
            write_queue: default_write_queue(),
            max_in_flight: default_max_in_flight(),
            max_in_flight_per_connection: default_max_in_flight_per_connection(),
            cache_mb: default_cache_mb(),
            shutdown_grace_ms: default_shutdown_grace_ms(),
            max_header_bytes: default_max_header_bytes(),
            idle_connection_ms: default_idle_connection_ms(),
        }
    }
}

impl Limits {
    pub(super) fn validate(&self) -> anyhow::Result<()> {
        let max = TRANSPORT_MAX_REQUEST_BYTES;
        if !(1024..=max).contains(&self.max_request_bytes) {
            bail!("limits.max_request_bytes must be between 1024 and {max}");
        }
        let max = TRANSPORT_MAX_HEADER_BYTES as usize;
        if !(1024..=max).contains(&self.max_header_bytes) {
            bail!("limits.max_header_bytes must be between 1024 and {max}");
        }
        if self.group_commit_max_batch == 0 || self.write_queue == 0 {
            bail!("limits.group_commit_max_batch and limits.write_queue must be positive");
        }
        if self.max_in_flight == 0 || self.max_in_flight_per_connection == 0 {
            bail!("limits.max_in_flight and limits.max_in_flight_per_connection must be positive");
        }
        if !(1_000..=86_400_000).contains(&self.idle_connection_ms) {
            bail!("limits.idle_connection_ms must be between 1000 and 86400000");
        }
        Ok(())
    }
}

fn default_max_request_bytes() -> usize {
    256 * 1024
}
fn default_max_concurrent_streams() -> u32 {
    256
}
fn default_group_commit_max_batch() -> usize {
    512
}
fn default_write_queue() -> usize {
    4096
}
fn default_max_in_flight() -> usize {
    1024
}
fn default_max_in_flight_per_connection() -> usize {
    256
}
fn default_cache_mb() -> u64 {
    256
}
fn default_shutdown_grace_ms() -> u64 {
    10_000
}
fn default_max_header_bytes() -> usize {
    16 * 1024
}
fn default_idle_connection_ms() -> u64 {
    120_000
}
