//! Wiring: the store, the registry, TLS, the gRPC services, the admin
//! listener, truthful health and graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use samplan_services::access::Authentication;
use samplan_services::domain::PseudonymKey;
use samplan_services::grpc::{IndicatorDesk, PlanApi, TRANSPORT_MAX_HEADER_BYTES};
use samplan_services::indicators::{Catalogue, Indicators};
use samplan_services::store::audit::checkpoint_key;
use samplan_services::store::{Store, StoreOptions};
use samplan_services::subscription::Subscriptions;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::admin::Admin;
use crate::config::{Config, EngineName};
use crate::health::Health;
use crate::tls;

/// The hub's sockets: gRPC over mTLS, and the admin listener if it is enabled.
#[derive(Debug)]
pub struct Listeners {
    pub grpc: TcpListener,
    pub admin: Option<TcpListener>,
}

impl Listeners {
    /// Binds the addresses the configuration names.
    pub async fn bind(config: &Config) -> anyhow::Result<Self> {
        let grpc = TcpListener::bind(config.listen).await.with_context(|| format!("binding {}", config.listen))?;
        let admin = match config.admin.enabled {
            true => Some(
                TcpListener::bind(config.admin.listen)
                    .await
                    .with_context(|| format!("binding the admin listener {}", config.admin.listen))?,
            ),
            false => None,
        };
        Ok(Self { grpc, admin })
    }
}

/// Serves the hub on listeners the caller bound, until `shutdown` is
/// cancelled or the store fails. Then health (overall and per service) turns
/// NOT_SERVING first, subscriptions end with their cursors, open calls finish
/// (within `limits.shutdown_grace_ms`), and the store flushes. A failed store
/// ends it with an error, so that the process exits non-zero and its
/// supervisor restarts it: recovery runs on open.
pub async fn serve(config: Config, listeners: Listeners, shutdown: CancellationToken) -> anyhow::Result<()> {
    let store = open_store(&config).await?;
    let subscriptions = subscriptions(&config, &shutdown);
    serve_store(config, store, subscriptions, listeners, shutdown).await
}

/// The hub's subscriptions, ended when `shutdown` is cancelled.
pub fn subscriptions(config: &Config, shutdown: &CancellationToken) -> Arc<Subscriptions> {
    Arc::new(Subscriptions::new(config.subscriptions.options(), shutdown.clone()))
}

/// Opens the store the configuration names.
pub async fn open_store(config: &Config) -> anyhow::Result<Store> {
    open_store_with(config, store_options(config)?).await
}

/// Opens the store of `config` with `options`, made by [`store_options`] and perhaps changed.
pub async fn open_store_with(config: &Config, options: StoreOptions) -> anyhow::Result<Store> {
    match config.store.engine {
        EngineName::Sled => {
            let path = options.path.clone();
            Store::open(options).with_context(|| format!("opening the store in {}", path.display()))
        }
        EngineName::Postgres => Store::open_postgres(options, config.store.database()?)
            .await
            .context("opening the PostgreSQL store (store.postgres.url)"),
    }
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
    listeners: Listeners,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let registry = Arc::new(config.registry()?);
    warn_about_settings(&config, &registry)?;
    let pseudonyms = PseudonymKey::new(*config.secret());
    let tls_config = crate::reload::watch(config.tls.clone(), shutdown.clone())?;

    tracing::info!(
        durable_position = store.durable_position(),
        organisations = registry.organisations().count(),
        "store open"
    );

    let (health, health_service) = Health::start(&store, &shutdown).await;
    let admin_stop = CancellationToken::new();
    let admin = listeners.admin.map(|listener| {
        tokio::spawn(
            Admin::new(store.clone(), health.serving.clone(), config.backup.dir.clone())
                .serve(listener, admin_stop.clone()),
        )
    });
    let (reflection, reflection_alpha) = (reflection().build_v1()?, reflection().build_v1alpha()?);
    let limits = &config.limits;
    let mut api = PlanApi::new(store.clone(), registry, pseudonyms, subscriptions, limits.max_in_flight);
    let mut follower = None;
    if config.indicators.enabled {
        let geography = Arc::new(crate::config::geography(&config.organisations)?);
        let (indicators, following) = Indicators::start(store.clone(), shutdown.clone());
        follower = Some(following);
        api = api.with_indicators(IndicatorDesk {
            indicators,
            catalogue: Arc::new(Catalogue::standard()),
            geography,
            min_count: config.indicators.min_count,
            settle_months: config.indicators.settle_months,
        });
    }
    let services = api.behind_edge(limits.max_request_bytes, limits.max_header_bytes);

    let watcher = tokio::spawn(samplan_services::watcher::watch(
        store.clone(),
        Duration::from_millis(config.deadlines.check_interval_ms),
        shutdown.clone(),
    ));
    let timeouts = tls::Timeouts {
        handshake: Duration::from_millis(config.tls.handshake_timeout_ms),
        idle: Duration::from_millis(config.limits.idle_connection_ms),
    };
    // Healthy clients answer the hub's pings: ping often enough that none looks idle.
    let ping = (timeouts.idle / 3).min(Duration::from_secs(30));
    let incoming = tls::incoming(listeners.grpc, tls_config, timeouts, health.draining.clone());
    let grace = Duration::from_millis(config.limits.shutdown_grace_ms);
    let stopping = health.draining.clone().cancelled_owned();
    let served = tonic::transport::Server::builder()
        .max_concurrent_streams(config.limits.max_concurrent_streams)
        .concurrency_limit_per_connection(config.limits.max_in_flight_per_connection)
        .load_shed(true)
        .http2_keepalive_interval(Some(ping))
        .http2_keepalive_timeout(Some(ping.min(Duration::from_secs(10))))
        .http2_max_header_list_size(TRANSPORT_MAX_HEADER_BYTES)
        .add_service(health_service)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(services.plans)
        .add_service(services.indicators)
        .serve_with_incoming_shutdown(incoming, stopping);
    // Streams end on shutdown, but a client that reads nothing would keep its
    // connection open for ever: after the grace period the rest are closed.
    let served = tokio::select! {
        served = served => served,
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(grace_ms = grace.as_millis(), "open calls did not finish in time; closing them");
            Ok(())
        }
    };
    let _ = watcher.await;
    if let Some(follower) = follower {
        let _ = follower.await;
    }
    health.finish().await;
    store.shutdown().await;
    admin_stop.cancel();
    if let Some(admin) = admin {
        let _ = admin.await;
    }
    tracing::info!(stats = %store.stats(), "store closed");
    served.context("serving gRPC")?;
    match store.failure() {
        Some(cause) => anyhow::bail!("the store stopped taking writes ({cause}); restart the hub to recover"),
        None => Ok(()),
    }
}

/// Reflection, in both versions clients use (grpcurl: v1; Python's grpcio:
/// v1alpha), with the descriptors of the health service and of the
/// google.rpc error details the hub sends.
fn reflection() -> tonic_reflection::server::Builder<'static> {
    tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(samplan_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
}

/// Warns at start-up of settings that serve development, or leave rights unwatched.
fn warn_about_settings(config: &Config, registry: &samplan_services::access::Registry) -> anyhow::Result<()> {
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
    Ok(())
}
