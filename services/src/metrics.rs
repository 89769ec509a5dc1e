//! The hub's metrics, by name: recorded through the `metrics` facade wherever
//! the work happens, exported by the hub's admin listener in Prometheus
//! format. Labels carry methods, status codes and stable refusal reasons —
//! never a CPR number, a pseudonym, a plan id, an organisation's staff or
//! free text.

use std::time::Duration;

/// gRPC calls answered, by `method` and `code`.
pub const RPC_CALLS: &str = "samplan_rpc_calls_total";
/// Time to answer a gRPC call, by `method`, in seconds.
pub const RPC_SECONDS: &str = "samplan_rpc_duration_seconds";
/// Calls refused, by stable `reason` (as in the audit log).
pub const REFUSALS: &str = "samplan_refusals_total";
/// Jobs (commands, audit records of reads and refusals) per group commit.
pub const GROUP_COMMIT_JOBS: &str = "samplan_group_commit_jobs";
/// `fdatasync` of the store's data file, in seconds.
pub const FDATASYNC_SECONDS: &str = "samplan_fdatasync_seconds";
/// Audit records written (each group commit's, before its fdatasync).
pub const AUDIT_RECORDS: &str = "samplan_audit_records_total";
/// 1 while the store takes writes, 0 once it has failed.
pub const STORE_WRITABLE: &str = "samplan_store_writable";
/// Jobs waiting for the writer.
pub const WRITE_QUEUE_DEPTH: &str = "samplan_write_queue_depth";
/// The last durable global position.
pub const DURABLE_POSITION: &str = "samplan_store_durable_position";
/// Open subscriptions.
pub const SUBSCRIBERS: &str = "samplan_subscribers";
/// Events a subscription is behind the durable position when it is sent a batch.
pub const SUBSCRIBER_LAG: &str = "samplan_subscriber_lag_events";
/// Subscriptions cut off for reading too slowly.
pub const SUBSCRIBER_CUTOFFS: &str = "samplan_subscriber_cutoffs_total";
/// TLS handshakes, by `outcome` (`ok`, `failed`, `timeout`).
pub const TLS_HANDSHAKES: &str = "samplan_tls_handshakes_total";
/// Spans sent to the OTLP collector, by `outcome` (`ok`, or `failed`: lost).
pub const SPANS_EXPORTED: &str = "samplan_trace_spans_exported_total";
/// Connections closed because nothing arrived for `limits.idle_connection_ms`.
pub const IDLE_CONNECTIONS_CLOSED: &str = "samplan_connections_closed_idle_total";

/// A gRPC call answered with `code` after `elapsed`.
pub fn rpc(method: &'static str, code: tonic::Code, elapsed: Duration) {
    metrics::counter!(RPC_CALLS, "method" => method, "code" => code_name(code)).increment(1);
    metrics::histogram!(RPC_SECONDS, "method" => method).record(elapsed.as_secs_f64());
}

/// A call refused for `reason` (one of the stable reasons of [`crate::error::Error::reason`]).
pub fn refused(reason: &'static str) {
    metrics::counter!(REFUSALS, "reason" => reason).increment(1);
}

fn code_name(code: tonic::Code) -> &'static str {
    use tonic::Code::*;
    match code {
        Ok => "OK",
        Cancelled => "CANCELLED",
        Unknown => "UNKNOWN",
        InvalidArgument => "INVALID_ARGUMENT",
        DeadlineExceeded => "DEADLINE_EXCEEDED",
        NotFound => "NOT_FOUND",
        AlreadyExists => "ALREADY_EXISTS",
        PermissionDenied => "PERMISSION_DENIED",
        ResourceExhausted => "RESOURCE_EXHAUSTED",
        FailedPrecondition => "FAILED_PRECONDITION",
        Aborted => "ABORTED",
        OutOfRange => "OUT_OF_RANGE",
        Unimplemented => "UNIMPLEMENTED",
        Internal => "INTERNAL",
        Unavailable => "UNAVAILABLE",
        DataLoss => "DATA_LOSS",
        Unauthenticated => "UNAUTHENTICATED",
    }
}
