//! The gRPC handlers: identify the caller, convert the request, ask the store,
//! convert the answer. No rules live here.

use std::sync::Arc;

use samplan_proto::v1 as pb;
use samplan_proto::v1::plan_service_server::PlanService;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::access::{PeerIdentity, Registry, correlation_id};
use crate::convert;
use crate::domain::{Actor, DomainError, Plan, PlanId, PseudonymKey, Timestamp};
use crate::error::Error;
use crate::store::{Intent, Store, Submission};

const DEFAULT_PAGE_SIZE: usize = 100;
const MAX_PAGE_SIZE: usize = 1000;

/// The hard cap on a request message, enforced by the transport before
/// decoding: requests between the configured limit and this cap are decoded
/// and refused with details; larger ones are refused by the transport.
pub const TRANSPORT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// Everything a request needs besides its own fields.
pub struct PlanApi {
    store: Store,
    registry: Arc<Registry>,
    pseudonyms: PseudonymKey,
    max_request_bytes: usize,
}

impl PlanApi {
    pub fn new(store: Store, registry: Arc<Registry>, pseudonyms: PseudonymKey, max_request_bytes: usize) -> Self {
        Self { store, registry, pseudonyms, max_request_bytes }
    }

    /// Who is calling, and the correlation id; refuses requests over the size limit.
    fn caller<T: prost::Message>(&self, request: &Request<T>) -> Result<(Actor, String), Error> {
        let actor = self.registry.caller(request.extensions().get::<PeerIdentity>(), request.metadata())?;
        let size = request.get_ref().encoded_len();
        if size > self.max_request_bytes {
            return Err(Error::RequestTooLarge { size, limit: self.max_request_bytes });
        }
        Ok((actor, correlation_id(request.metadata())))
    }

    /// The plan, if it exists and the caller's organisation is on its care team.
    async fn visible_plan(&self, actor: &Actor, id: PlanId) -> Result<Plan, Error> {
        visible(self.store.plan(id).await?, actor)
    }
}

/// `plan`, if the caller's organisation is on its care team; otherwise, as when
/// there is no plan, PLAN_NOT_FOUND.
fn visible(plan: Option<Plan>, actor: &Actor) -> Result<Plan, Error> {
    match plan {
        Some(plan) if plan.is_member(&actor.organisation, Timestamp::now().date()) => Ok(plan),
        _ => Err(DomainError::PlanNotFound.into()),
    }
}

fn span(method: &'static str, actor: &Actor, correlation_id: &str) -> tracing::Span {
    tracing::info_span!(
        "rpc",
        method,
        organisation = %actor.organisation,
        role = ?actor.role,
        correlation_id = %correlation_id,
    )
}

impl PlanApi {
    /// Identifies the caller, checks the request's size, and runs `handler` in
    /// a span that names the method, the organisation, the role and the
    /// correlation id (never request content); errors become statuses here.
    async fn handle<T, R, F>(
        &self,
        method: &'static str,
        request: Request<T>,
        handler: impl FnOnce(Actor, String, T) -> F,
    ) -> Result<Response<R>, Status>
    where
        T: prost::Message,
        F: Future<Output = Result<R, Error>>,
    {
        let (actor, correlation_id) = self.caller(&request)?;
        let span = span(method, &actor, &correlation_id);
        handler(actor, correlation_id, request.into_inner())
            .instrument(span)
            .await
            .map(Response::new)
            .map_err(Status::from)
    }

    async fn create(
        &self,
        actor: Actor,
        correlation_id: String,
        request: pb::CreatePlanRequest,
    ) -> Result<pb::CreatePlanResponse, Error> {
        let cpr = convert::cpr(&request.cpr)?;
        let request_id = convert::request_id(&request.request_id)?;
        let reason = convert::reason("reason", &request.reason)?;
        let citizen = self.pseudonyms.citizen_key(&cpr);
        let submission = Submission { actor: actor.clone(), correlation_id, request_id };
        let outcome = self.store.submit(submission, Intent::Create { citizen, kind: cpr.kind(), reason }).await?;
        let joined = !outcome.created && !outcome.events.is_empty();
        tracing::info!(created = outcome.created, joined, "plan create");
        let plan = self.visible_plan(&actor, outcome.plan_id).await?;
        Ok(pb::CreatePlanResponse { plan: Some(convert::plan(&plan)), created: outcome.created })
    }

    async fn lookup(&self, actor: Actor, request: pb::LookupPlanRequest) -> Result<pb::LookupPlanResponse, Error> {
        let cpr = convert::cpr(&request.cpr)?;
        let plan = self.store.plan_of(&self.pseudonyms.citizen_key(&cpr)).await?;
        let plan = visible(plan, &actor)?;
        Ok(pb::LookupPlanResponse { plan: Some(convert::plan(&plan)) })
    }

    async fn get(&self, actor: Actor, request: pb::GetPlanRequest) -> Result<pb::GetPlanResponse, Error> {
        let id = convert::plan_name("name", &request.name)?;
        let plan = self.visible_plan(&actor, id).await?;
        Ok(pb::GetPlanResponse { plan: Some(convert::plan(&plan)) })
    }

    async fn change(
        &self,
        actor: Actor,
        correlation_id: String,
        request: pb::ChangePlanRequest,
    ) -> Result<pb::ChangePlanResponse, Error> {
        let change = convert::plan_change(request, &self.registry)?;
        let submission = Submission { actor, correlation_id, request_id: change.request_id };
        let intent =
            Intent::Change { plan: change.plan, expected_version: change.expected_version, command: change.command };
        let outcome = self.store.submit(submission, intent).await?;
        Ok(pb::ChangePlanResponse {
            name: outcome.plan_id.resource_name(),
            version: outcome.version,
            events: outcome.events.iter().map(convert::event).collect(),
        })
    }

    async fn list_events(
        &self,
        actor: Actor,
        request: pb::ListPlanEventsRequest,
    ) -> Result<pb::ListPlanEventsResponse, Error> {
        let id = convert::plan_name("parent", &request.parent)?;
        let page_size = match usize::try_from(request.page_size) {
            Ok(0) => DEFAULT_PAGE_SIZE,
            Ok(n) => n.min(MAX_PAGE_SIZE),
            Err(_) => return Err(Error::invalid("page_size", "must not be negative")),
        };
        let from = if request.page_token.is_empty() {
            1
        } else {
            request
                .page_token
                .parse::<u64>()
                .ok()
                .filter(|n| *n > 0)
                .ok_or_else(|| Error::invalid("page_token", "is not a token this service issued"))?
        };
        self.visible_plan(&actor, id).await?;
        let mut events = self.store.plan_events(id, from, page_size + 1)?;
        let next_page_token = if events.len() > page_size {
            events.truncate(page_size);
            events.last().map(|e| (e.sequence + 1).to_string()).unwrap_or_default()
        } else {
            String::new()
        };
        Ok(pb::ListPlanEventsResponse { events: events.iter().map(convert::event).collect(), next_page_token })
    }
}

#[tonic::async_trait]
impl PlanService for PlanApi {
    async fn create_plan(
        &self,
        request: Request<pb::CreatePlanRequest>,
    ) -> Result<Response<pb::CreatePlanResponse>, Status> {
        self.handle("CreatePlan", request, |actor, correlation_id, r| self.create(actor, correlation_id, r)).await
    }

    async fn lookup_plan(
        &self,
        request: Request<pb::LookupPlanRequest>,
    ) -> Result<Response<pb::LookupPlanResponse>, Status> {
        self.handle("LookupPlan", request, |actor, _, r| self.lookup(actor, r)).await
    }

    async fn get_plan(&self, request: Request<pb::GetPlanRequest>) -> Result<Response<pb::GetPlanResponse>, Status> {
        self.handle("GetPlan", request, |actor, _, r| self.get(actor, r)).await
    }

    async fn change_plan(
        &self,
        request: Request<pb::ChangePlanRequest>,
    ) -> Result<Response<pb::ChangePlanResponse>, Status> {
        self.handle("ChangePlan", request, |actor, correlation_id, r| self.change(actor, correlation_id, r)).await
    }

    async fn list_plan_events(
        &self,
        request: Request<pb::ListPlanEventsRequest>,
    ) -> Result<Response<pb::ListPlanEventsResponse>, Status> {
        self.handle("ListPlanEvents", request, |actor, _, r| self.list_events(actor, r)).await
    }
}
