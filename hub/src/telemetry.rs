//! Logs and traces. Log lines go to stderr (pretty or JSON, filtered by
//! `RUST_LOG`). When `[telemetry] otlp_endpoint` is set, the spans of calls,
//! group commits and syncs also go to an OpenTelemetry collector over
//! OTLP/gRPC, and a caller's W3C `traceparent` is honoured (see
//! `samplan_services::grpc`); otherwise nothing of OpenTelemetry runs.
//!
//! Spans are exported in batches from a queue of bounded size (the SDK's
//! default, 2,048 spans): a slow or absent collector loses spans, never
//! slows a call or grows memory.

use anyhow::Context as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{WithExportConfig as _, WithTonicConfig as _};
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider, SpanData, SpanExporter};
use tracing_subscriber::filter::{EnvFilter, filter_fn};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;
use tracing_subscriber::{Layer as _, Registry};

use crate::config::{LogFormat, TelemetryConfig};

/// What [`Telemetry::start`] installed; [`Telemetry::shutdown`] exports what is left.
#[derive(Default)]
pub struct Telemetry {
    /// The provider, and how long its last export may take.
    traces: Option<(SdkTracerProvider, std::time::Duration)>,
}

/// The crates whose spans are exported (not the transport's).
const TRACED_CRATES: [&str; 2] = ["samplan_services", "samplan_hub"];

impl Telemetry {
    /// Log lines only, at `default_level` unless `RUST_LOG` says otherwise.
    pub fn logs(format: LogFormat, default_level: &str) -> Self {
        // A second call in one process (the tests) keeps the first subscriber.
        let _ = install(format, default_level, None);
        Self::default()
    }

    /// Log lines, and traces if `config` names a collector. A group commit's
    /// span links to up to `max_batch` calls. Call it within the Tokio
    /// runtime: the exporter's connection runs on it.
    pub fn start(
        format: LogFormat,
        default_level: &str,
        config: &TelemetryConfig,
        max_batch: usize,
    ) -> anyhow::Result<Self> {
        let Some(endpoint) = &config.otlp_endpoint else {
            return Ok(Self::logs(format, default_level));
        };
        let provider = provider(endpoint, config, max_batch)?;
        anyhow::ensure!(
            install(format, default_level, Some(&provider)),
            "traces cannot be exported: this process already has a log subscriber"
        );
        opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
        tracing::info!(
            endpoint = %endpoint,
            sample_ratio = config.sample_ratio,
            "exporting traces over OTLP"
        );
        Ok(Self { traces: Some((provider, config.export_timeout())) })
    }

    /// Exports the spans still queued (waiting at most the export timeout) and stops.
    pub async fn shutdown(self) {
        let Some((provider, timeout)) = self.traces else { return };
        // It blocks until the exporter's thread is done; that thread needs the runtime.
        let stopped = tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(timeout)).await;
        if let Ok(Err(error)) = stopped {
            tracing::warn!(%error, "the last traces were not exported");
        }
    }
}

fn provider(endpoint: &str, config: &TelemetryConfig, max_batch: usize) -> anyhow::Result<SdkTracerProvider> {
    let mut exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(endpoint)
        .with_timeout(config.export_timeout());
    if let Some(ca_file) = &config.otlp_ca_file {
        let pem = std::fs::read_to_string(ca_file)
            .with_context(|| format!("reading telemetry.otlp_ca_file {}", ca_file.display()))?;
        let tls = tonic::transport::ClientTlsConfig::new().ca_certificate(tonic::transport::Certificate::from_pem(pem));
        exporter = exporter.with_tls_config(tls);
    }
    let exporter = Counted(exporter.build().context("setting up the OTLP exporter (telemetry.otlp_endpoint)")?);
    let resource = opentelemetry_sdk::Resource::builder().with_service_name(config.service_name.clone()).build();
    Ok(SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(config.sample_ratio))))
        .with_resource(resource)
        .with_max_links_per_span(u32::try_from(max_batch).unwrap_or(u32::MAX))
        .build())
}

/// The OTLP exporter, counting in `/metrics` the spans it sent and those it lost.
#[derive(Debug)]
struct Counted(opentelemetry_otlp::SpanExporter);

impl SpanExporter for Counted {
    async fn export(&self, batch: Vec<SpanData>) -> OTelSdkResult {
        let spans = batch.len() as u64;
        let result = self.0.export(batch).await;
        let outcome = if result.is_ok() { "ok" } else { "failed" };
        metrics::counter!(samplan_services::metrics::SPANS_EXPORTED, "outcome" => outcome).increment(spans);
        result
    }

    fn shutdown_with_timeout(&self, timeout: std::time::Duration) -> OTelSdkResult {
        self.0.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.0.force_flush()
    }

    fn set_resource(&mut self, resource: &opentelemetry_sdk::Resource) {
        self.0.set_resource(resource);
    }
}

/// Installs the global subscriber: log lines filtered by `RUST_LOG`, and the
/// spans (only spans: log lines carry what spans must not) of
/// [`TRACED_CRATES`] for `traces`, whatever `RUST_LOG` says. False if the
/// process had a subscriber already.
fn install(format: LogFormat, default_level: &str, traces: Option<&SdkTracerProvider>) -> bool {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_level));
    let lines = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let lines: Box<dyn tracing_subscriber::Layer<Registry> + Send + Sync> = match format {
        LogFormat::Json => lines.json().with_filter(filter).boxed(),
        LogFormat::Pretty => lines.with_filter(filter).boxed(),
    };
    let spans = traces.map(|provider| {
        let ours = filter_fn(|meta| {
            meta.is_span()
                && *meta.level() <= tracing::Level::INFO
                && TRACED_CRATES.iter().any(|krate| meta.target().starts_with(krate))
        });
        // Neither source locations, threads nor busy/idle times: each costs
        // work at every poll of a call, and the span names say where it is.
        tracing_opentelemetry::layer()
            .with_tracer(provider.tracer("samplan"))
            .with_location(false)
            .with_threads(false)
            .with_tracked_inactivity(false)
            .with_filter(ours)
    });
    tracing_subscriber::registry().with(lines).with(spans).try_init().is_ok()
}
