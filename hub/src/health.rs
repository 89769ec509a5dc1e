//! The hub's health as others see it. gRPC health (overall `""` and
//! `samplan.v1.PlanService`) and the admin listener's readiness turn
//! NOT_SERVING at shutdown and as soon as the store stops taking writes — a
//! failed store starts the shutdown itself, so that the hub drains and exits
//! and its supervisor restarts it. The flip comes first; only then do the
//! listener and the calls drain (were the listener to end first, the server
//! would stop before the flip and a watcher would never hear it).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use samplan_proto::v1::plan_service_server::PlanServiceServer;
use samplan_services::grpc::PlanApi;
use samplan_services::store::Store;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tonic_health::ServingStatus;
use tonic_health::pb::health_server::HealthServer;
use tonic_health::server::{HealthReporter, HealthService};

pub struct Health {
    /// Whether the hub takes calls, for `/readyz`.
    pub serving: Arc<AtomicBool>,
    /// Cancelled once health has turned NOT_SERVING: the listener and the calls drain from then.
    pub draining: CancellationToken,
    /// Held to the end, so that a client watching health hears NOT_SERVING
    /// rather than its stream ending with the reporter.
    reporter: HealthReporter,
    tasks: [JoinHandle<()>; 2],
}

impl Health {
    /// Serving now; NOT_SERVING once `shutdown` is cancelled, which a failed `store` does.
    pub async fn start(store: &Store, shutdown: &CancellationToken) -> (Self, HealthServer<HealthService>) {
        let reporter = HealthReporter::new();
        reporter.set_serving::<PlanServiceServer<PlanApi>>().await;
        let service = HealthServer::new(HealthService::from_health_reporter(reporter.clone()));
        let serving = Arc::new(AtomicBool::new(true));
        let draining = CancellationToken::new();
        let failed = {
            let (store, shutdown) = (store.clone(), shutdown.clone());
            tokio::spawn(async move {
                tokio::select! {
                    cause = store.failed() => {
                        tracing::error!(%cause, "the store stopped taking writes: NOT_SERVING, draining, then exiting so that the supervisor restarts the hub and recovery runs");
                        shutdown.cancel();
                    }
                    () = shutdown.cancelled() => {}
                }
            })
        };
        let flipped = {
            let (shutdown, draining, serving, reporter) =
                (shutdown.clone(), draining.clone(), serving.clone(), reporter.clone());
            tokio::spawn(async move {
                shutdown.cancelled().await;
                serving.store(false, Ordering::Release);
                reporter.set_service_status("", ServingStatus::NotServing).await;
                reporter.set_not_serving::<PlanServiceServer<PlanApi>>().await;
                tracing::info!("shutting down");
                draining.cancel();
            })
        };
        (Self { serving, draining, reporter, tasks: [failed, flipped] }, service)
    }

    /// Waits for its tasks; health is no longer served after this.
    pub async fn finish(self) {
        for task in self.tasks {
            let _ = task.await;
        }
        drop(self.reporter);
    }
}
