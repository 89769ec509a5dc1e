//! Wiring: the store, the registry, TLS, the gRPC services, graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use samplan_proto::v1::plan_service_server::PlanServiceServer;
use samplan_services::access::Authentication;
use samplan_services::domain::PseudonymKey;
use samplan_services::grpc::{PlanApi, TRANSPORT_MAX_REQUEST_BYTES};
use samplan_services::store::audit::checkpoint_key;
use samplan_services::store::{Store, StoreOptions};
use samplan_services::subscription::Subscriptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::config::Config;
use crate::tls;

/// Serves the hub on a listener the caller bound, until `shutdown` is cancelled.
/// On shutdown the health service turns NOT_SERVING first, subscriptions end
/// with their cursors, open calls finish (within `limits.shutdown_grace_ms`),
/// and the store flushes.
pub async fn serve(config: Config, listener: TcpListener, shutdown: CancellationToken) -> anyhow::Result<()> {
    let store = open_store(&config)?;
    let subscriptions = subscriptions(&config, &shutdown);
    serve_store(config, store, subscriptions, listener, shutdown).await
}

/// The hub's subscriptions, ended when `shutdown` is cancelled.
pub fn subscriptions(config: &Config, shutdown: &CancellationToken) -> Arc<Subscriptions> {
    Arc::new(Subscriptions::new(config.subscriptions.options(), shutdown.clone()))
}

/// Opens the store the configuration names.
pub fn open_store(config: &Config) -> anyhow::Result<Store> {
    open_store_with(store_options(config)?)
}

/// Opens the store in `options`, made by [`store_options`] and perhaps changed.
pub fn open_store_with(options: StoreOptions) -> anyhow::Result<Store> {
    let path = options.path.clone();
    Store::open(options).with_context(|| format!("opening the store in {}", path.display()))
}

/// The store's options as the configuration sets them.
pub fn store_options(config: &Config) -> anyhow::Result<StoreOptions> {
    let mut options = StoreOptions::new(&config.data_dir);
    options.checkpoint_key = checkpoint_key(config.secret());
    options.max_batch = config.limits.group_commit_max_batch;
    options.queue_capacity = config.limits.write_queue;
    options.cache_capacity_bytes = config.limits.cache_mb * 1024 * 1024;
    options.emergency_access_micros = i64::from(config.access.emergency_access_hours) * 3600 * 1_000_000;
    options.deadlines = config.deadlines.table()?;
    Ok(options)
}

/// Like [`serve`], with a store and subscriptions the caller made (and may watch).
pub async fn serve_store(
    config: Config,
    store: Store,
    subscriptions: Arc<Subscriptions>,
    listener: TcpListener,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let registry = Arc::new(config.registry()?);
    if matches!(registry.authentication(), Authentication::DevelopmentHeaders) {
        tracing::warn!(
            "identity.mode is \"development-headers\": the professional and role are taken as the calling \
             systems claim them; never run a hub with real data this way"
        );
    }
    let uncovered = config.deadlines.table()?.uncovered();
    if !uncovered.is_empty() {
        tracing::warn!(
            kinds = ?uncovered,
            "the configured deadline table has no row for these clock kinds, so none of them starts; \
             add rows (see deploy/samplan.example.toml) or leave the table out for the defaults"
        );
    }
    let pseudonyms = PseudonymKey::new(*config.secret());
    let read = |path: &std::path::Path| std::fs::read(path).with_context(|| format!("reading {}", path.display()));
    let tls_config = tls::server_config(&tls::TlsMaterial {
        certificate_pem: read(&config.tls.certificate)?,
        key_pem: read(&config.tls.private_key)?,
        client_ca_pem: read(&config.tls.client_ca)?,
        client_crl_pems: config.tls.client_crls.iter().map(|p| read(p)).collect::<anyhow::Result<_>>()?,
    })?;

    tracing::info!(
        durable_position = store.durable_position(),
        organisations = registry.organisations().count(),
        "store open"
    );

    let (health, health_service) = tonic_health::server::health_reporter();
    health.set_serving::<PlanServiceServer<PlanApi>>().await;
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(samplan_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let api = PlanApi::new(store.clone(), registry, pseudonyms, config.limits.max_request_bytes, subscriptions);
    let plans = PlanServiceServer::new(api).max_decoding_message_size(TRANSPORT_MAX_REQUEST_BYTES);

    let watcher = tokio::spawn(samplan_services::watcher::watch(
        store.clone(),
        Duration::from_millis(config.deadlines.check_interval_ms),
        shutdown.clone(),
    ));
    let incoming =
        tls::incoming(listener, tls_config, Duration::from_millis(config.tls.handshake_timeout_ms), shutdown.clone());
    let grace = Duration::from_millis(config.limits.shutdown_grace_ms);
    let stopped = shutdown.clone();
    let stopping = async move {
        shutdown.cancelled().await;
        health.set_not_serving::<PlanServiceServer<PlanApi>>().await;
        tracing::info!("shutting down");
    };
    let served = tonic::transport::Server::builder()
        .max_concurrent_streams(config.limits.max_concurrent_streams)
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .http2_keepalive_timeout(Some(Duration::from_secs(10)))
        .add_service(health_service)
        .add_service(reflection)
        .add_service(plans)
        .serve_with_incoming_shutdown(incoming, stopping);
    // Streams end on shutdown, but a client that reads nothing would keep its
    // connection open for ever: after the grace period the rest are closed.
    let served = tokio::select! {
        served = served => served,
        () = async {
            stopped.cancelled().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_ms = grace.as_millis(), "open calls did not finish in time; closing them");
            Ok(())
        }
    };
    let _ = watcher.await;
    store.shutdown().await;
    tracing::info!(stats = %store.stats(), "store closed");
    served.context("serving gRPC")
}
