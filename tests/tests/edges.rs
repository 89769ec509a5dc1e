//! The bad-input corpus: requests refused before (or while) they are read —
//! padded past the limit on the wire, undecodable, invalid UTF-8, oversized
//! headers, unknown methods, CPR numbers in identifiers — each with its exact
//! status and an audit record; and connections that authenticate but never
//! speak HTTP/2 are closed.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BufMut;
use prost::Message;
use samplan_hub::client::Professional;
use samplan_proto::v1 as pb;
use samplan_services::domain::Decision;
use samplan_tests::{CPR, TestHub, WARD, add_goal, change, create_plan, error_info, field_violations, staff, tagged};
use tokio::io::AsyncReadExt;
use tonic::Code;
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

type TestResult = anyhow::Result<()>;

const CHANGE_PLAN: &str = "/samplan.v1.PlanService/ChangePlan";

/// Sends `body` as it is, as one gRPC message; decodes the answer as a `ChangePlanResponse`.
#[derive(Default)]
struct Raw;

impl Codec for Raw {
    type Encode = Vec<u8>;
    type Decode = pb::ChangePlanResponse;
    type Encoder = Raw;
    type Decoder = Raw;

    fn encoder(&mut self) -> Raw {
        Raw
    }

    fn decoder(&mut self) -> Raw {
        Raw
    }
}

impl Encoder for Raw {
    type Item = Vec<u8>;
    type Error = tonic::Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), tonic::Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for Raw {
    type Item = pb::ChangePlanResponse;
    type Error = tonic::Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<pb::ChangePlanResponse>, tonic::Status> {
        pb::ChangePlanResponse::decode(src).map(Some).map_err(|e| tonic::Status::internal(e.to_string()))
    }
}

/// A raw gRPC client of the ward, acting as its professional.
async fn raw_client(t: &TestHub) -> anyhow::Result<tonic::client::Grpc<InterceptedService<Channel, Professional>>> {
    let channel = samplan_hub::client::connect(t.hub.addr, &t.hub.pki.ca_pem, &t.hub.identity(WARD)?).await?;
    let (professional, role) = staff(WARD);
    Ok(tonic::client::Grpc::new(InterceptedService::new(channel, t.hub.professional(WARD, professional, role)?)))
}

async fn send_raw(
    grpc: &mut tonic::client::Grpc<InterceptedService<Channel, Professional>>,
    path: &'static str,
    body: Vec<u8>,
    correlation_id: &str,
) -> tonic::Status {
    grpc.ready().await.expect("ready");
    let path = tonic::codegen::http::uri::PathAndQuery::from_static(path);
    match grpc.unary(tagged(body, correlation_id), path, Raw).await {
        Ok(response) => panic!("{correlation_id}: accepted: {response:?}"),
        Err(status) => status,
    }
}

/// The audit record of the call tagged `correlation_id`: refused for `reason`, naming `action`.
async fn assert_refusal_audited(t: &TestHub, correlation_id: &str, reason: &str, action: &str) -> TestResult {
    let audit = samplan_tests::audit_by_correlation(&t.hub).await?;
    let entry = audit.get(correlation_id).ok_or_else(|| anyhow::anyhow!("{correlation_id} not audited"))?;
    assert_eq!(entry.decision, Decision::Denied { reason: reason.into() }, "{correlation_id}");
    assert_eq!(entry.action, action, "{correlation_id}");
    assert!(entry.categories.is_empty() && entry.plan.is_none(), "{correlation_id}: nothing disclosed");
    assert!(entry.certificate_identity.is_some(), "{correlation_id}: the certificate's organisation identifier");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_bodies_are_refused_with_a_clear_status_and_audited() -> TestResult {
    let t = TestHub::start().await?;
    let mut ward = t.client(WARD).await?;
    let (name, version) = create_plan(&mut ward, CPR).await?;
    let mut raw = raw_client(&t).await?;
    let valid = change(&name, version, "", add_goal("Bolig")).encode_to_vec();

    // Padded with an unknown field to 1 MiB: prost would drop the padding, the wire does not.
    let mut padded = valid.clone();
    prost::encoding::bytes::encode(999, &vec![0u8; 1 << 20], &mut padded);
    let status = send_raw(&mut raw, CHANGE_PLAN, padded.clone(), "edge-padded").await;
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let (reason, metadata) = error_info(&status).expect("error info");
    assert_eq!(reason, "REQUEST_TOO_LARGE");
    assert_eq!(metadata.get("size_bytes"), Some(&padded.len().to_string()), "measured on the wire");
    assert_eq!(metadata.get("limit_bytes").map(String::as_str), Some("262144"));
    assert_refusal_audited(&t, "edge-padded", "REQUEST_TOO_LARGE", "ChangePlan").await?;

    // Past the transport's 4 MiB cap: the same answer, not OUT_OF_RANGE.
    let status = send_raw(&mut raw, CHANGE_PLAN, vec![0; 5 << 20], "edge-huge").await;
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    assert_refusal_audited(&t, "edge-huge", "REQUEST_TOO_LARGE", "ChangePlan").await?;

    // Not protobuf at all.
    let status = send_raw(&mut raw, CHANGE_PLAN, vec![0xff; 16], "edge-garbage").await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    assert_eq!(error_info(&status).map(|(reason, _)| reason).as_deref(), Some("UNDECODABLE"));
    assert_eq!(field_violations(&status).len(), 1, "{status:?}");
    assert_refusal_audited(&t, "edge-garbage", "UNDECODABLE", "ChangePlan").await?;

    // Invalid UTF-8 in a string field: the violation names the field.
    let mut bad_utf8 = Vec::new();
    prost::encoding::bytes::encode(1, &vec![0xc3, 0x28], &mut bad_utf8);
    let status = send_raw(&mut raw, CHANGE_PLAN, bad_utf8, "edge-utf8").await;
    assert_eq!(status.code(), Code::InvalidArgument, "{status:?}");
    let violations = field_violations(&status);
    assert!(violations.get("name").is_some_and(|d| d.contains("UTF-8")), "{violations:?}");
    assert_refusal_audited(&t, "edge-utf8", "UNDECODABLE", "ChangePlan").await?;

    // A method the service does not have.
    let status = send_raw(&mut raw, "/samplan.v1.PlanService/DropAllPlans", valid.clone(), "edge-unknown").await;
    assert_eq!(status.code(), Code::Unimplemented, "{status:?}");
    assert_refusal_audited(&t, "edge-unknown", "UNKNOWN_METHOD", "(unknown method)").await?;

    // Nothing refused was written; the connection still serves.
    let plan = ward.get_plan(pb::GetPlanRequest { name: name.clone() }).await?.into_inner().plan.expect("plan");
    assert_eq!(plan.version, version);
    t.hub.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_headers_get_a_status_and_the_connection_stays() -> TestResult {
    let t = TestHub::start().await?;
    let mut ward = t.client(WARD).await?;
    let (name, _) = create_plan(&mut ward, CPR).await?;
    let mut request = tagged(pb::GetPlanRequest { name: name.clone() }, "edge-headers");
    request.metadata_mut().insert("x-padding", "p".repeat(256 * 1024).parse()?);
    let status = ward.get_plan(request).await.expect_err("refused");
    assert_eq!(status.code(), Code::ResourceExhausted, "{status:?}");
    let (reason, metadata) = error_info(&status).expect("error info");
    assert_eq!(reason, "HEADERS_TOO_LARGE");
    assert_eq!(metadata.get("limit_bytes").map(String::as_str), Some("16384"));
    assert_refusal_audited(&t, "edge-headers", "HEADERS_TOO_LARGE", "GetPlan").await?;
    // No GOAWAY: the same connection answers the next call.
    ward.get_plan(pb::GetPlanRequest { name }).await?;
    t.hub.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cpr_numbers_in_client_chosen_identifiers_are_refused_and_audited() -> TestResult {
    let t = TestHub::start().await?;
    let mut ward = t.client(WARD).await?;
    let (name, version) = create_plan(&mut ward, CPR).await?;
    for request_id in ["0101304000", "dr-0101304000", "ref0101304000x", "req.010130-4000"] {
        let correlation_id = format!("edge-request-id-{}", request_id.len());
        let refused = ward
            .change_plan(tagged(change(&name, version, request_id, add_goal("Bolig")), &correlation_id))
            .await
            .expect_err(request_id);
        assert_eq!(refused.code(), Code::InvalidArgument, "{request_id}: {refused:?}");
        assert!(field_violations(&refused).contains_key("request_id"), "{request_id}");
        assert_eq!(samplan_tests::denied_reason(&t.hub, &correlation_id).await?, "INVALID_ARGUMENT");
    }
    // A correlation id naming a CPR number is refused; its audit record carries another id.
    let before = t.hub.store.audit_records(1, usize::MAX).await?.len();
    let refused =
        ward.get_plan(tagged(pb::GetPlanRequest { name: name.clone() }, "corr-0101304000")).await.expect_err("cpr");
    assert_eq!(refused.code(), Code::InvalidArgument, "{refused:?}");
    assert!(field_violations(&refused).contains_key("x-correlation-id"), "{refused:?}");
    let records = t.hub.store.audit_records(1, usize::MAX).await?;
    assert_eq!(records.len(), before + 1);
    let last = &records[records.len() - 1].entry;
    assert_eq!(last.decision, Decision::Denied { reason: "INVALID_ARGUMENT".into() });
    assert!(!last.correlation_id.contains("0101304000"));
    // A UUID is always fine.
    let uuid = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
    ward.change_plan(tagged(change(&name, version, uuid, add_goal("Bolig")), uuid)).await?;
    t.hub.stop().await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connection_that_never_speaks_http2_is_closed_when_idle() -> TestResult {
    let t = TestHub::start_configured("[limits]\nidle_connection_ms = 1000\n").await?;
    // A healthy client, idle between calls, answers the hub's pings and is not closed.
    let mut ward = t.client(WARD).await?;
    let (name, _) = create_plan(&mut ward, CPR).await?;
    let identity = t.hub.identity(WARD)?;
    let mut roots = rustls::RootCertStore::empty();
    for ca in samplan_hub::tls::read_certificates(t.hub.pki.ca_pem.as_bytes())? {
        roots.add(ca)?;
    }
    let config = rustls::ClientConfig::builder_with_provider(samplan_hub::tls::provider())
        .with_protocol_versions(&[&rustls::version::TLS13])?
        .with_root_certificates(roots)
        .with_client_auth_cert(
            samplan_hub::tls::read_certificates(identity.certificate_pem.as_bytes())?,
            samplan_hub::tls::read_private_key(identity.key_pem.as_bytes())?,
        )?;
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(t.hub.addr).await?;
    let mut tls = connector.connect("localhost".try_into()?, tcp).await?;
    let started = Instant::now();
    let mut buf = [0u8; 1024];
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        // The hub may send its HTTP/2 settings first; then it closes.
        loop {
            match tls.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    })
    .await;
    assert!(closed.is_ok(), "the silent connection was not closed");
    assert!(started.elapsed() >= Duration::from_millis(900), "closed before the idle timeout");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    ward.get_plan(pb::GetPlanRequest { name }).await?;
    let (_, metrics) = samplan_tests::process::admin_get(t.hub.admin_addr, "/metrics").await?;
    assert!(
        metrics.lines().any(|line| line == "samplan_connections_closed_idle_total 1"),
        "only the silent connection was closed:\n{metrics}"
    );
    t.hub.stop().await
}
