//! The admin listener: plain HTTP on a management address, for probes and
//! Prometheus. `/livez` answers 200 while the process can still do its work
//! (503 once the store has failed: the hub is then draining to exit);
//! `/readyz` 200 only while it serves — the store takes writes and the hub
//! is not shutting down; `/metrics` the Prometheus text of
//! [`samplan_services::metrics`]; `POST /backup` takes an online backup into
//! the hub's own `backup.dir` and answers only where it wrote it and its cut.
//! Nothing here names a citizen, a plan or a professional, so it needs no
//! authentication, only a network that is not public.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::{get, post};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use samplan_services::metrics as names;
use samplan_services::store::Store;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// What the admin endpoints read.
#[derive(Clone)]
pub struct Admin {
    store: Store,
    /// Whether the gRPC server takes calls (false from the start of shutdown).
    serving: Arc<AtomicBool>,
    metrics: PrometheusHandle,
    backup_dir: Arc<PathBuf>,
    /// Held while a backup runs: one at a time.
    backing_up: Arc<tokio::sync::Mutex<()>>,
}

impl Admin {
    pub fn new(store: Store, serving: Arc<AtomicBool>, backup_dir: PathBuf) -> Self {
        let backing_up = Arc::default();
        Self { store, serving, metrics: recorder(), backup_dir: Arc::new(backup_dir), backing_up }
    }

    /// Serves the endpoints on `listener` until `stop` is cancelled.
    pub async fn serve(self, listener: TcpListener, stop: CancellationToken) -> std::io::Result<()> {
        let app = axum::Router::new()
            .route("/livez", get(livez))
            .route("/readyz", get(readyz))
            .route("/metrics", get(metrics))
            .route("/backup", post(backup))
            .with_state(self);
        axum::serve(listener, app).with_graceful_shutdown(stop.cancelled_owned()).await
    }
}

async fn livez(State(admin): State<Admin>) -> (StatusCode, String) {
    match admin.store.failure() {
        None => (StatusCode::OK, "alive\n".into()),
        Some(_) => (StatusCode::SERVICE_UNAVAILABLE, "store failed (the log says why); exiting to recover\n".into()),
    }
}

async fn readyz(State(admin): State<Admin>) -> (StatusCode, String) {
    if admin.store.failure().is_some() {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: store failed (the log says why)\n".into())
    } else if !admin.serving.load(Ordering::Acquire) {
        (StatusCode::SERVICE_UNAVAILABLE, "not ready: shutting down\n".into())
    } else {
        (StatusCode::OK, "ready\n".into())
    }
}

async fn metrics(State(admin): State<Admin>) -> String {
    // Levels read at the scrape; everything else is counted where it happens.
    metrics::gauge!(names::WRITE_QUEUE_DEPTH).set(admin.store.queue_depth() as f64);
    metrics::gauge!(names::DURABLE_POSITION).set(admin.store.durable_position() as f64);
    metrics::gauge!(names::STORE_WRITABLE).set(if admin.store.failure().is_some() { 0.0 } else { 1.0 });
    admin.metrics.run_upkeep();
    admin.metrics.render()
}

async fn backup(State(admin): State<Admin>) -> (StatusCode, String) {
    let Ok(_running) = admin.backing_up.try_lock() else {
        return (StatusCode::CONFLICT, "a backup is already running\n".into());
    };
    match crate::backup::take(&admin.store, &admin.backup_dir).await {
        Ok(taken) => {
            tracing::info!(position = taken.summary.cut.position, path = %taken.path.display(), "backup written");
            (StatusCode::OK, format!("{taken}\n"))
        }
        Err(error) => {
            tracing::error!(error = format!("{error:#}"), "backup failed");
            (StatusCode::SERVICE_UNAVAILABLE, format!("backup failed: {error:#}\n"))
        }
    }
}

/// One HTTP/1.1 request without a body to an admin listener: its status and body.
pub async fn request(admin: SocketAddr, method: &str, path: &str) -> std::io::Result<(u16, String)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(admin).await?;
    let head = format!("{method} {path} HTTP/1.1\r\nHost: admin\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    stream.write_all(head.as_bytes()).await?;
    let mut response = String::new();
    stream.read_to_string(&mut response).await?;
    let status = response.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = response.split_once("\r\n\r\n").map_or(String::new(), |(_, body)| body.to_owned());
    Ok((status, body))
}

/// The process's Prometheus recorder, installed on first use (one per
/// process: hubs in one process, as in the tests, share it), with a thread
/// that folds histogram samples into their buckets every 5 s, so that their
/// memory stays bounded when nobody scrapes.
pub fn recorder() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            const SECONDS: &[f64] = &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0];
            const COUNTS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0];
            let builder = PrometheusBuilder::new();
            let builder = [names::RPC_SECONDS, names::FDATASYNC_SECONDS]
                .into_iter()
                .try_fold(builder, |b, name| b.set_buckets_for_metric(Matcher::Full(name.into()), SECONDS));
            let builder = builder.and_then(|b| {
                [names::GROUP_COMMIT_JOBS, names::SUBSCRIBER_LAG]
                    .into_iter()
                    .try_fold(b, |b, name| b.set_buckets_for_metric(Matcher::Full(name.into()), COUNTS))
            });
            let recorder = builder.unwrap_or_else(|_| PrometheusBuilder::new()).build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder is installed; /metrics shows nothing");
            }
            // Histogram samples pile up until they are folded into their buckets:
            // fold them every few seconds whether or not anyone scrapes.
            let upkeep = handle.clone();
            let spawned = std::thread::Builder::new().name("samplan-metrics".into()).spawn(move || {
                loop {
                    std::thread::sleep(std::time::Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
            if let Err(error) = spawned {
                tracing::warn!(%error, "could not start the metrics upkeep thread");
            }
            handle
        })
        .clone()
}
