//! A gRPC client of the hub over mTLS, used by the demo, the load tool and the
//! tests. Every call names the acting professional in the request headers.

use std::net::SocketAddr;

use anyhow::Context;
use samplan_proto::v1 as pb;
use samplan_proto::v1::plan_service_client::PlanServiceClient;
use samplan_services::access::{PROFESSIONAL_HEADER, ROLE_HEADER};
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::pki::Identity;

/// Opens an mTLS channel to the hub at `addr`, trusting `ca_pem` and presenting `identity`.
pub async fn connect(addr: SocketAddr, ca_pem: &str, identity: &Identity) -> anyhow::Result<Channel> {
    endpoint(addr, ca_pem, identity)?.connect().await.with_context(|| format!("connecting to the hub at {addr}"))
}

/// The endpoint [`connect`] connects to, for callers that tune it first.
pub fn endpoint(addr: SocketAddr, ca_pem: &str, identity: &Identity) -> anyhow::Result<Endpoint> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .identity(tonic::transport::Identity::from_pem(&identity.certificate_pem, &identity.key_pem))
        .domain_name("localhost");
    Ok(Endpoint::from_shared(format!("https://{addr}"))?.tls_config(tls)?.tcp_nodelay(true))
}

/// Adds `x-samplan-professional-id` and `x-samplan-role` to every request.
#[derive(Clone, Debug)]
pub struct Professional {
    id: AsciiMetadataValue,
    role: AsciiMetadataValue,
}

impl Professional {
    pub fn new(id: &str, role: &str) -> anyhow::Result<Self> {
        Ok(Self {
            id: MetadataValue::try_from(id).context("professional id must be ASCII")?,
            role: MetadataValue::try_from(role).context("role must be ASCII")?,
        })
    }
}

impl Interceptor for Professional {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        request.metadata_mut().insert(PROFESSIONAL_HEADER, self.id.clone());
        request.metadata_mut().insert(ROLE_HEADER, self.role.clone());
        Ok(request)
    }
}

pub type PlanClient = PlanServiceClient<InterceptedService<Channel, Professional>>;

pub fn plan_client(channel: Channel, professional: Professional) -> PlanClient {
    PlanServiceClient::with_interceptor(channel, professional)
}

/// A subscription stream as a client holds it.
pub type Subscription = tonic::Streaming<pb::SubscribePlanEventsResponse>;

/// The id of the item the change added (a goal, an activity, a consent, …,
/// the first clock a milestone started): ids are drawn at random by the hub,
/// so a client learns them from the answer.
pub fn added_id(response: &pb::ChangePlanResponse) -> anyhow::Result<String> {
    use pb::plan_event::Event as E;
    response
        .events
        .iter()
        .find_map(|e| match e.event.as_ref()? {
            E::GoalAdded(g) => Some(g.goal_id.clone()),
            E::ActivityAdded(a) => a.activity.as_ref().map(|a| a.activity_id.clone()),
            E::ConsentRecorded(c) => c.consent.as_ref().map(|c| c.consent_id.clone()),
            E::ObjectionRecorded(o) => o.objection.as_ref().map(|o| o.objection_id.clone()),
            E::AdvanceStatementRecorded(s) => Some(s.statement_id.clone()),
            E::RelativeRegistered(r) => r.relative.as_ref().map(|r| r.relative_id.clone()),
            E::MilestoneRecorded(m) => m.started.first().map(|c| c.clock_id.clone()),
            _ => None,
        })
        .ok_or_else(|| anyhow::anyhow!("the change added no item"))
}

/// Reads a subscription until it has sent everything up to `position` (an
/// event at it, or a heartbeat at or past it); returns the events it sent.
pub async fn events_until(stream: &mut Subscription, position: u64) -> anyhow::Result<Vec<pb::PlanEvent>> {
    use pb::subscribe_plan_events_response::Message;
    let mut events = Vec::new();
    loop {
        match stream.message().await?.and_then(|m| m.message) {
            Some(Message::Event(event)) => {
                let reached = event.global_position >= position;
                events.push(event);
                if reached {
                    return Ok(events);
                }
            }
            Some(Message::Heartbeat(beat)) if beat.cursor >= position => return Ok(events),
            Some(Message::Heartbeat(_)) => {}
            None => anyhow::bail!("the subscription ended before position {position}"),
        }
    }
}
