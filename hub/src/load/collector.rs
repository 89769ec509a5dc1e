//! An OpenTelemetry collector for `samplan load --traces` and the tests: a
//! real OTLP/gRPC trace service on a loopback port that counts the spans it
//! is sent and, if asked to, keeps them.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{TraceService, TraceServiceServer};
use opentelemetry_proto::tonic::collector::trace::v1::{ExportTraceServiceRequest, ExportTraceServiceResponse};
use opentelemetry_proto::tonic::common::v1::{AnyValue, KeyValue, any_value};
use opentelemetry_proto::tonic::trace::v1::Span;
use tonic::{Request, Response, Status};

/// A span as exported, with the `service.name` of the process that sent it.
#[derive(Clone, Debug)]
pub struct Exported {
    pub service: String,
    pub span: Span,
}

impl Exported {
    /// The value of the span's attribute `key`, as text.
    pub fn attribute(&self, key: &str) -> Option<String> {
        attribute(&self.span.attributes, key)
    }
}

/// A running collector; it stops when dropped.
pub struct Collector {
    pub addr: SocketAddr,
    received: Arc<Received>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Default)]
struct Received {
    count: AtomicU64,
    /// Every span, if kept.
    kept: Option<Mutex<Vec<Exported>>>,
}

impl Collector {
    /// A collector that keeps every span (for tests).
    pub async fn start() -> anyhow::Result<Self> {
        Self::listen(Received { count: AtomicU64::new(0), kept: Some(Mutex::default()) }).await
    }

    /// A collector that only counts (for a load run).
    pub async fn counting() -> anyhow::Result<Self> {
        Self::listen(Received::default()).await
    }

    async fn listen(received: Received) -> anyhow::Result<Self> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let received = Arc::new(received);
        let service = TraceServiceServer::new(Keeper(received.clone())).max_decoding_message_size(64 * 1024 * 1024);
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let task = tokio::spawn(async move {
            let _ = tonic::transport::Server::builder().add_service(service).serve_with_incoming(incoming).await;
        });
        Ok(Self { addr, received, task })
    }

    /// The endpoint to configure as `telemetry.otlp_endpoint`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Every span received so far, if kept.
    pub fn spans(&self) -> Vec<Exported> {
        let kept = self.received.kept.as_ref().and_then(|kept| kept.lock().ok().map(|spans| spans.clone()));
        kept.unwrap_or_default()
    }

    /// How many spans were received so far.
    pub fn count(&self) -> u64 {
        self.received.count.load(Ordering::Relaxed)
    }
}

impl Drop for Collector {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Keeper(Arc<Received>);

#[tonic::async_trait]
impl TraceService for Keeper {
    async fn export(
        &self,
        request: Request<ExportTraceServiceRequest>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        let request = request.into_inner();
        let spans: usize = request.resource_spans.iter().flat_map(|r| &r.scope_spans).map(|s| s.spans.len()).sum();
        self.0.count.fetch_add(spans as u64, Ordering::Relaxed);
        let Some(kept) = &self.0.kept else {
            return Ok(Response::new(ExportTraceServiceResponse { partial_success: None }));
        };
        let mut exported = Vec::new();
        for resource_spans in request.resource_spans {
            let resource = resource_spans.resource.map(|r| r.attributes).unwrap_or_default();
            let service = attribute(&resource, "service.name").unwrap_or_default();
            for scope in resource_spans.scope_spans {
                exported.extend(scope.spans.into_iter().map(|span| Exported { service: service.clone(), span }));
            }
        }
        kept.lock().map_err(|_| Status::internal("poisoned"))?.extend(exported);
        Ok(Response::new(ExportTraceServiceResponse { partial_success: None }))
    }
}

fn attribute(attributes: &[KeyValue], key: &str) -> Option<String> {
    let value = attributes.iter().find(|kv| kv.key == key)?.value.as_ref()?;
    text(value)
}

fn text(value: &AnyValue) -> Option<String> {
    Some(match value.value.as_ref()? {
        any_value::Value::StringValue(s) => s.clone(),
        any_value::Value::IntValue(i) => i.to_string(),
        any_value::Value::BoolValue(b) => b.to_string(),
        any_value::Value::DoubleValue(d) => d.to_string(),
        other => format!("{other:?}"),
    })
}
