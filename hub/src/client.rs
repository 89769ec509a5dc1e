//! A gRPC client of the hub over mTLS, used by the demo, the load tool and the
//! tests. Every call carries who acts: a signed assertion of the
//! organisation's identity provider (or, in development, request headers).

use std::net::SocketAddr;

use anyhow::Context;
use samplan_proto::v1 as pb;
use samplan_proto::v1::indicator_service_client::IndicatorServiceClient;
use samplan_proto::v1::plan_service_client::PlanServiceClient;
use std::sync::{Arc, Mutex};

use samplan_services::access::{PROFESSIONAL_HEADER, ROLE_HEADER};
use samplan_services::assertion::ASSERTION_HEADER;
use tonic::metadata::{AsciiMetadataValue, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint};

use crate::identity::{Minter, unix_now};
use crate::pki::Identity;

/// Opens an mTLS channel to the hub at `addr`, trusting `ca_pem` and presenting `identity`.
pub async fn connect(addr: SocketAddr, ca_pem: &str, identity: &Identity) -> anyhow::Result<Channel> {
    endpoint(addr, ca_pem, identity)?.connect().await.with_context(|| format!("connecting to the hub at {addr}"))
}

/// The endpoint [`connect`] connects to, for callers that tune it first.
pub fn endpoint(addr: SocketAddr, ca_pem: &str, identity: &Identity) -> anyhow::Result<Endpoint> {
    endpoint_at(&addr.to_string(), "localhost", ca_pem, identity)
}

/// An mTLS endpoint for the hub at `authority` (`host:port`) whose server
/// certificate names `server_name`, trusting `ca_pem` and presenting `identity`.
pub fn endpoint_at(authority: &str, server_name: &str, ca_pem: &str, identity: &Identity) -> anyhow::Result<Endpoint> {
    let tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca_pem))
        .identity(tonic::transport::Identity::from_pem(&identity.certificate_pem, &identity.key_pem))
        .domain_name(server_name);
    Ok(Endpoint::from_shared(format!("https://{authority}"))?.tls_config(tls)?.tcp_nodelay(true))
}

/// Says who acts on every request: a signed assertion minted for the
/// professional, or for the citizen by their portal (renewed a minute before
/// it expires), or, against a hub in development-headers mode, the
/// `x-samplan-professional-id` and `x-samplan-role` headers.
#[derive(Clone)]
pub struct Professional {
    credentials: Credentials,
}

/// Says which kind of credentials, never what they hold (a CPR number, a token).
impl std::fmt::Debug for Professional {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = match &self.credentials {
            Credentials::Headers { .. } => "development headers",
            Credentials::Fixed(_) => "fixed token",
            Credentials::Signed { cpr: Some(_), .. } => "citizen assertions",
            Credentials::Signed { cpr: None, .. } => "professional assertions",
        };
        f.debug_struct("Professional").field("credentials", &kind).finish()
    }
}

#[derive(Clone)]
enum Credentials {
    Headers {
        id: AsciiMetadataValue,
        role: AsciiMetadataValue,
    },
    /// An `authorization` value sent as it is.
    Fixed(AsciiMetadataValue),
    Signed {
        minter: Arc<Minter>,
        id: String,
        role: String,
        /// The citizen a citizen portal's assertions name.
        cpr: Option<String>,
        token: Arc<Mutex<(AsciiMetadataValue, u64)>>,
    },
}

impl Professional {
    /// The development headers: only a hub in `development-headers` mode accepts them.
    pub fn new(id: &str, role: &str) -> anyhow::Result<Self> {
        Ok(Self {
            credentials: Credentials::Headers {
                id: MetadataValue::try_from(id).context("professional id must be ASCII")?,
                role: MetadataValue::try_from(role).context("role must be ASCII")?,
            },
        })
    }

    /// Signed assertions for `id` in `role`, minted with `minter`.
    pub fn signed(minter: Arc<Minter>, id: &str, role: &str) -> anyhow::Result<Self> {
        Self::minted(minter, id, role, None)
    }

    /// A citizen portal's signed assertions: `subject` (the portal's id of
    /// the person) in `role` (`CITIZEN` or `REPRESENTATIVE`) for the citizen `cpr`.
    pub fn citizen(minter: Arc<Minter>, subject: &str, role: &str, cpr: &str) -> anyhow::Result<Self> {
        Self::minted(minter, subject, role, Some(cpr.into()))
    }

    fn minted(minter: Arc<Minter>, id: &str, role: &str, cpr: Option<String>) -> anyhow::Result<Self> {
        let token = bearer(&minter, id, role, cpr.as_deref())?;
        let token = Arc::new(Mutex::new(token));
        Ok(Self { credentials: Credentials::Signed { minter, id: id.into(), role: role.into(), cpr, token } })
    }

    /// A fixed `authorization` value, whatever it holds (for tests of refusals).
    pub fn bearer_token(token: &str) -> anyhow::Result<Self> {
        let value = MetadataValue::try_from(format!("Bearer {token}")).context("token must be ASCII")?;
        Ok(Self { credentials: Credentials::Fixed(value) })
    }
}

fn bearer(minter: &Minter, id: &str, role: &str, cpr: Option<&str>) -> anyhow::Result<(AsciiMetadataValue, u64)> {
    let (token, exp) = match cpr {
        Some(cpr) => minter.mint_citizen(id, role, cpr)?,
        None => minter.mint(id, role)?,
    };
    Ok((MetadataValue::try_from(format!("Bearer {token}")).context("a token is ASCII")?, exp))
}

impl Interceptor for Professional {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let metadata = request.metadata_mut();
        match &self.credentials {
            Credentials::Headers { id, role } => {
                metadata.insert(PROFESSIONAL_HEADER, id.clone());
                metadata.insert(ROLE_HEADER, role.clone());
            }
            Credentials::Fixed(value) => {
                metadata.insert(ASSERTION_HEADER, value.clone());
            }
            Credentials::Signed { minter, id, role, cpr, token } => {
                let mut token = token.lock().map_err(|_| tonic::Status::internal("token lock poisoned"))?;
                if token.1 <= unix_now() + 60 {
                    *token =
                        bearer(minter, id, role, cpr.as_deref()).map_err(|e| tonic::Status::internal(e.to_string()))?;
                }
                metadata.insert(ASSERTION_HEADER, token.0.clone());
            }
        }
        Ok(request)
    }
}

pub type PlanClient = PlanServiceClient<InterceptedService<Channel, Professional>>;

pub type IndicatorClient = IndicatorServiceClient<InterceptedService<Channel, Professional>>;

pub fn indicator_client(channel: Channel, professional: Professional) -> IndicatorClient {
    IndicatorServiceClient::with_interceptor(channel, professional)
}

/// The answer to `request`, asked again while the hub counts its log for the
/// indicators (it does after every start); `waiting` hears how far it has
/// counted, of how many events, before each wait.
pub async fn query_indicators_counted(
    client: &mut IndicatorClient,
    request: pb::QueryIndicatorsRequest,
    mut waiting: impl FnMut(u64, u64),
) -> Result<pb::QueryIndicatorsResponse, tonic::Status> {
    use tonic_types::StatusExt;
    loop {
        let status = match client.query_indicators(request.clone()).await {
            Ok(answer) => return Ok(answer.into_inner()),
            Err(status) => status,
        };
        let info = status.get_details_error_info().filter(|info| info.reason == "INDICATORS_COUNTING");
        let Some(info) = info else { return Err(status) };
        let number = |key: &str| info.metadata.get(key).and_then(|n| n.parse().ok()).unwrap_or_default();
        waiting(number("counted"), number("of"));
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

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
