//! The span of each call: opened at the edge, continuing the caller's trace
//! when it sends a W3C `traceparent`, and told who called and how the call
//! ended once that is known. Only the method, the organisation, the role, the
//! (checked) correlation id and the status code go into it — never request
//! content, a professional's or citizen's identity, or a plan id.
//!
//! With no OpenTelemetry layer installed (the default), the span is an
//! ordinary `tracing` span that gives log lines their context.

use opentelemetry::propagation::Extractor;
use tonic::Code;
use tracing::field::Empty;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

use crate::domain::Actor;

/// The service every span names.
const SERVICE: &str = "samplan.v1.PlanService";

/// The span of a call of `method` (a method the service has, or a placeholder),
/// a child of the caller's span if `headers` carry its trace context.
pub(super) fn rpc_span(method: &str, headers: &http::HeaderMap) -> tracing::Span {
    let span = tracing::info_span!(
        "rpc",
        otel.name = %format_args!("{SERVICE}/{method}"),
        otel.kind = "server",
        otel.status_code = Empty,
        rpc.system = "grpc",
        rpc.service = SERVICE,
        rpc.method = %method,
        rpc.grpc.status_code = Empty,
        organisation = Empty,
        role = Empty,
        correlation_id = Empty,
    );
    // The global propagator is W3C trace context when traces are exported, and
    // a no-op otherwise (then there is also no layer to take the parent).
    // Most calls send no trace context: they skip the propagator altogether.
    if headers.contains_key(TRACEPARENT) {
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(&Headers(headers)));
        let _ = span.set_parent(parent);
    }
    span
}

/// Names the proven caller in the current call's span.
pub(super) fn identified(actor: &Actor, correlation_id: &str) {
    let span = tracing::Span::current();
    span.record("organisation", tracing::field::display(&actor.organisation));
    span.record("role", tracing::field::debug(&actor.role));
    span.record("correlation_id", correlation_id);
}

/// Records how the current call ended; codes that mean the hub failed (not the
/// caller) mark the span as an error, as OpenTelemetry's gRPC conventions do.
pub(super) fn answered(code: Code) {
    let span = tracing::Span::current();
    span.record("rpc.grpc.status_code", code as i64);
    if matches!(
        code,
        Code::Unknown
            | Code::DeadlineExceeded
            | Code::Unimplemented
            | Code::Internal
            | Code::Unavailable
            | Code::DataLoss
    ) {
        span.record("otel.status_code", "ERROR");
    }
}

/// A request's `traceparent` as OpenTelemetry's propagators read it. Nothing
/// else: `tracestate` is free text of the caller's (it could name a citizen),
/// and it would be copied into every exported span of the trace.
struct Headers<'a>(&'a http::HeaderMap);

const TRACEPARENT: &str = "traceparent";

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        (key == TRACEPARENT).then(|| self.0.get(TRACEPARENT)?.to_str().ok()).flatten()
    }

    fn keys(&self) -> Vec<&str> {
        if self.0.contains_key(TRACEPARENT) { vec![TRACEPARENT] } else { Vec::new() }
    }
}
