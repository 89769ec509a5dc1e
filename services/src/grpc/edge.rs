//! The edge in front of the hub's services: what is refused before a handler
//! runs, answered with a clear status and audited like every other refusal.
//!
//! - Requests are measured on the wire, by gRPC's length prefix, before the
//!   message is buffered: padding a request with unknown fields (which prost
//!   drops when decoding) counts. Over `limits.max_request_bytes`:
//!   `RESOURCE_EXHAUSTED`, reason `REQUEST_TOO_LARGE`, with size and limit.
//! - Headers over `limits.max_header_bytes` (name + value + 32 per field, as
//!   HTTP/2 counts them): `RESOURCE_EXHAUSTED`, reason `HEADERS_TOO_LARGE`.
//!   The HTTP/2 layer itself accepts header blocks up to
//!   [`TRANSPORT_MAX_HEADER_BYTES`], so that these get a status, not GOAWAY.
//! - A body that does not decode (bad wire format, invalid UTF-8 in a string,
//!   no message at all) would be `INTERNAL` from tonic; it becomes
//!   `INVALID_ARGUMENT`, reason `UNDECODABLE`, with a `BadRequest` naming the
//!   field prost stopped at.
//!
//! The handler marks a [`Reached`] flag in the request's extensions when it
//! takes a call; an error answer to a call it never took is one of these.

use std::collections::HashSet;
use std::convert::Infallible;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use prost::Message as _;
use tonic::body::Body;
use tonic::server::NamedService;
use tonic::{Code, Status};
use tracing::Instrument as _;

use super::admission::Admission;
use crate::access::{CORRELATION_HEADER, PeerIdentity};
use crate::domain::{AuditEntry, Decision, Purpose};
use crate::error::Error;
use crate::store::Store;

/// The largest header block the HTTP/2 layer accepts; between
/// `limits.max_header_bytes` and this, a call is refused with a status.
pub const TRANSPORT_MAX_HEADER_BYTES: u32 = 1024 * 1024;

/// What a refusal's audit record says the caller tried, when the path names no method.
const UNKNOWN_METHOD: &str = "(unknown method)";

/// A service (`PlanService`, `IndicatorService`) behind its edge checks.
#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    limits: Arc<Limits>,
}

struct Limits {
    store: Store,
    /// The bound on calls in flight, shared with the handlers: a refusal here
    /// costs a durable audit record, so it takes a place too.
    admission: Admission,
    max_request_bytes: usize,
    max_header_bytes: usize,
    /// The hub's services' method names, from their descriptors.
    methods: HashSet<String>,
}

impl<S> Edge<S> {
    pub(super) fn new(
        inner: S,
        store: Store,
        admission: Admission,
        max_request_bytes: usize,
        max_header_bytes: usize,
    ) -> Self {
        let methods = service_methods();
        let limits = Limits { store, admission, max_request_bytes, max_header_bytes, methods };
        Self { inner, limits: Arc::new(limits) }
    }
}

/// The methods of the `samplan.v1` services, as their descriptors name them.
fn service_methods() -> HashSet<String> {
    let descriptors = prost_types::FileDescriptorSet::decode(samplan_proto::FILE_DESCRIPTOR_SET).unwrap_or_default();
    descriptors
        .file
        .iter()
        .flat_map(|file| &file.service)
        .flat_map(|service| &service.method)
        .map(|method| method.name().to_owned())
        .collect()
}

impl<S: NamedService> NamedService for Edge<S> {
    const NAME: &'static str = S::NAME;
}

/// Set by the handler when it takes a call (see [`Reached::mark`]).
#[derive(Clone, Default)]
pub struct Reached(Arc<AtomicBool>);

impl Reached {
    /// Marks the call of `extensions` as taken by its handler.
    pub(super) fn mark(extensions: &tonic::Extensions) {
        if let Some(reached) = extensions.get::<Reached>() {
            reached.0.store(true, Ordering::Relaxed);
        }
    }
}

impl<S> tower_service::Service<http::Request<Body>> for Edge<S>
where
    S: tower_service::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Self::Response, Infallible>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        // The clone is ready only if polled; call the one that was.
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let caller = Caller::of(&request, &self.limits.methods);
        let span = super::traced::rpc_span(&caller.method, request.headers());
        Box::pin(self.limits.clone().call(inner, caller, request).instrument(span))
    }
}

impl Limits {
    async fn call<S>(
        self: Arc<Self>,
        mut inner: S,
        caller: Caller,
        request: http::Request<Body>,
    ) -> Result<http::Response<Body>, Infallible>
    where
        S: tower_service::Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>,
    {
        let header_bytes = header_list_size(request.headers());
        if header_bytes > self.max_header_bytes {
            // Not held while the refusal is made durable: HPACK lets a few
            // bytes on the wire decode to a large header block.
            drop(request);
            let error = Error::HeadersTooLarge { size: header_bytes, limit: self.max_header_bytes };
            return Ok(self.refuse(caller, error).await.into_http());
        }
        let (mut parts, body) = request.into_parts();
        let reached = Reached::default();
        parts.extensions.insert(reached.clone());
        let measured = Measured::new(body, self.max_request_bytes);
        let too_large = measured.refused.clone();
        let response = inner.call(http::Request::from_parts(parts, Body::new(measured))).await?;
        if reached.0.load(Ordering::Relaxed) {
            return Ok(response);
        }
        // Not taken by the handler: an answer without a body (trailers only).
        let Some(status) = Status::from_header_map(response.headers()).filter(|s| s.code() != Code::Ok) else {
            return Ok(response);
        };
        let error = match (too_large.get(), status.code()) {
            (Some(&size), _) => Error::RequestTooLarge { size, limit: self.max_request_bytes },
            (None, Code::Internal) => undecodable(status.message()),
            (None, Code::Unimplemented) if caller.method == UNKNOWN_METHOD => Error::UnknownMethod,
            (None, code) => Error::Transport { code },
        };
        Ok(self.refuse(caller, error).await.into_http())
    }

    /// Audits a refusal before the handler; the caller hears of it, or of the
    /// audit log failing. A full hub sheds it instead, as it sheds calls.
    async fn refuse(&self, caller: Caller, error: Error) -> Status {
        let status = self.audited(caller, error).await;
        super::traced::answered(status.code());
        status
    }

    async fn audited(&self, caller: Caller, error: Error) -> Status {
        let _permit = match self.admission.admit() {
            Ok(permit) => permit,
            Err(overloaded) => {
                crate::metrics::refused(overloaded.reason());
                return overloaded.into();
            }
        };
        let entry = AuditEntry {
            at: self.store.now(),
            actor: None,
            certificate_identity: caller.certificate_identity,
            correlation_id: crate::access::sane_correlation_id(
                caller.correlation.as_ref().and_then(|v| v.to_str().ok()),
            ),
            plan: None,
            action: caller.method,
            purpose: Purpose::CareCoordination,
            categories: Vec::new(),
            decision: Decision::Denied { reason: error.reason().to_owned() },
            legal_ground: String::new(),
            events: Vec::new(),
        };
        super::record_refusal(&self.store, entry, error).await
    }
}

/// Who called what, as far as the transport knows it.
struct Caller {
    method: String,
    certificate_identity: Option<String>,
    /// The raw header: checked (and replaced if need be) only for a refusal,
    /// not on every call.
    correlation: Option<http::HeaderValue>,
}

impl Caller {
    fn of(request: &http::Request<Body>, methods: &HashSet<String>) -> Self {
        // The path is the client's text: only a method the service has goes into the audit log.
        let method = request
            .uri()
            .path()
            .rsplit('/')
            .next()
            .filter(|m| methods.contains(*m))
            .unwrap_or(UNKNOWN_METHOD)
            .to_owned();
        Self {
            method,
            certificate_identity: request
                .extensions()
                .get::<PeerIdentity>()
                .and_then(|p| p.organisation_identifier.clone()),
            correlation: request.headers().get(CORRELATION_HEADER).cloned(),
        }
    }
}

/// The size of a header block as HTTP/2 counts it (RFC 9113 §6.5.2).
fn header_list_size(headers: &http::HeaderMap) -> usize {
    headers.iter().map(|(name, value)| name.as_str().len() + value.len() + 32).sum()
}

/// The field violation of a body prost could not decode. Its message names
/// the fields it was in, innermost first (`Inner.field: Outer.field: why`);
/// anything else tonic says of a body it could not read is not echoed.
fn undecodable(message: &str) -> Error {
    let Some(rest) = message.strip_prefix("failed to decode Protobuf message: ") else {
        return Error::Undecodable {
            field: String::new(),
            description: "the body is not one well-formed message of this method".into(),
        };
    };
    let mut fields = Vec::new();
    let mut rest = rest;
    while let Some((part, after)) = rest.split_once(": ") {
        let Some((message, field)) = part.split_once('.') else { break };
        let identifier = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !identifier(message) || !identifier(field) {
            break;
        }
        fields.push(field);
        rest = after;
    }
    fields.reverse();
    Error::Undecodable { field: fields.join("."), description: format!("does not decode: {rest}").into() }
}

/// A request body, measured message by message by gRPC's 5-byte prefix
/// (flag, big-endian length) as it arrives: a message declared longer than
/// the limit ends the body with `REQUEST_TOO_LARGE` before it is buffered.
struct Measured {
    inner: Body,
    limit: usize,
    prefix: [u8; 5],
    /// Bytes of the current prefix seen.
    have: usize,
    /// Bytes of the current message still to come.
    left: usize,
    /// The declared size of a message refused as too large.
    refused: Arc<OnceLock<usize>>,
}

impl Measured {
    fn new(inner: Body, limit: usize) -> Self {
        Self { inner, limit, prefix: [0; 5], have: 0, left: 0, refused: Arc::default() }
    }

    /// Follows the framing through `data`; the size of a message over the limit.
    fn scan(&mut self, mut data: &[u8]) -> Result<(), usize> {
        while !data.is_empty() {
            if self.left > 0 {
                let n = self.left.min(data.len());
                (self.left, data) = (self.left - n, &data[n..]);
                continue;
            }
            let n = (5 - self.have).min(data.len());
            self.prefix[self.have..self.have + n].copy_from_slice(&data[..n]);
            (self.have, data) = (self.have + n, &data[n..]);
            if self.have == 5 {
                let [_, a, b, c, d] = self.prefix;
                let size = u32::from_be_bytes([a, b, c, d]) as usize;
                if size > self.limit {
                    return Err(size);
                }
                (self.have, self.left) = (0, size);
            }
        }
        Ok(())
    }
}

impl http_body::Body for Measured {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let frame = ready!(Pin::new(&mut self.inner).poll_frame(cx));
        if let Some(Ok(data)) = frame.as_ref().map(|f| f.as_ref().map(Frame::data_ref)) {
            let data = data.cloned().unwrap_or_default();
            if let Err(size) = self.scan(&data) {
                let _ = self.refused.set(size);
                return Poll::Ready(Some(Err(Error::RequestTooLarge { size, limit: self.limit }.into())));
            }
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prefixed(len: u32) -> Vec<u8> {
        let mut frame = vec![0];
        frame.extend_from_slice(&len.to_be_bytes());
        frame
    }

    #[test]
    fn messages_are_measured_by_their_prefix_across_chunks() {
        let mut measured = Measured::new(Body::empty(), 10);
        let mut wire = prefixed(10);
        wire.extend_from_slice(&[7; 10]);
        wire.extend_from_slice(&prefixed(11));
        // Split anywhere, even inside a prefix: the second message is refused.
        let (a, b) = wire.split_at(3);
        assert_eq!(measured.scan(a), Ok(()));
        let (b, c) = b.split_at(9);
        assert_eq!(measured.scan(b), Ok(()));
        assert_eq!(measured.scan(c), Err(11));
    }

    #[test]
    fn a_prost_error_names_the_field_path_outermost_first() {
        let error = undecodable(
            "failed to decode Protobuf message: AddGoal.text: ChangePlanRequest.add_goal: invalid string value: data is not UTF-8 encoded",
        );
        match error {
            Error::Undecodable { field, description } => {
                assert_eq!(field, "add_goal.text");
                assert_eq!(description, "does not decode: invalid string value: data is not UTF-8 encoded");
            }
            other => panic!("{other:?}"),
        }
        let missing = undecodable("Missing request message.");
        assert!(matches!(missing, Error::Undecodable { field, .. } if field.is_empty()));
    }

    #[test]
    fn headers_are_counted_as_http2_counts_them() {
        let mut headers = http::HeaderMap::new();
        headers.insert("x-a", http::HeaderValue::from_static("12345"));
        assert_eq!(header_list_size(&headers), 3 + 5 + 32);
    }
}
