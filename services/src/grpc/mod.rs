//! The gRPC handlers: identify the caller, convert the request, ask the store
//! and the access policy, convert the answer. No rules live here.
//!
//! Every request is audited before it is answered. Writes are audited by the
//! store's writer in the same durable batch as their events; everything else
//! (reads, exports, access reviews, refusals) is recorded here, through
//! [`Store::record`], and the answer waits until that record is durable: the
//! hub discloses nothing it has not durably logged.

mod admission;
mod answer;
mod edge;
mod follow;
mod indicators;
mod paging;
mod plans;
mod traced;

use std::sync::Arc;

use samplan_proto::v1 as pb;
use samplan_proto::v1::plan_service_server::PlanService;
use tonic::{Request, Response, Status};

use crate::access::{Caller, PeerIdentity, Registry, check_correlation_id, correlation_id};
use crate::domain::{Actor, AuditEntry, Decision, Plan, PlanId, PseudonymKey, View};
use crate::error::Error;
use crate::store::Store;
use crate::subscription::{self, EventStream, Subscriptions};
use answer::{Answer, Disclosure, Handled, Refusal, denied};
pub use edge::{Edge, TRANSPORT_MAX_HEADER_BYTES};
pub use indicators::IndicatorDesk;
use samplan_proto::v1::indicator_service_server::IndicatorServiceServer;
use samplan_proto::v1::plan_service_server::PlanServiceServer;

/// The hub's gRPC services, each behind its [`Edge`].
pub struct Services {
    pub plans: Edge<PlanServiceServer<PlanApi>>,
    pub indicators: Edge<IndicatorServiceServer<PlanApi>>,
}

/// The hard cap on a request message; [`Edge`] refuses anything over the
/// configured limit (at most this) by its length prefix, before decoding.
pub const TRANSPORT_MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// Everything a request needs besides its own fields.
pub struct PlanApi {
    store: Store,
    registry: Arc<Registry>,
    pseudonyms: PseudonymKey,
    subscriptions: Arc<Subscriptions>,
    admission: admission::Admission,
    indicators: Option<IndicatorDesk>,
}

impl PlanApi {
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        pseudonyms: PseudonymKey,
        subscriptions: Arc<Subscriptions>,
        max_in_flight: usize,
    ) -> Self {
        let admission = admission::Admission::new(max_in_flight);
        Self { store, registry, pseudonyms, subscriptions, admission, indicators: None }
    }

    /// Serves the hub's indicators too (IndicatorService).
    pub fn with_indicators(self, desk: IndicatorDesk) -> Self {
        Self { indicators: Some(desk), ..self }
    }

    /// The services, each behind the [`Edge`] that refuses (and audits)
    /// what no handler should read; all share the bound on calls in flight.
    pub fn behind_edge(self, max_request_bytes: usize, max_header_bytes: usize) -> Services {
        let (store, admission) = (self.store.clone(), self.admission.clone());
        let api = Arc::new(self);
        let plans = PlanServiceServer::from_arc(api.clone()).max_decoding_message_size(TRANSPORT_MAX_REQUEST_BYTES);
        let indicators = IndicatorServiceServer::from_arc(api).max_decoding_message_size(TRANSPORT_MAX_REQUEST_BYTES);
        Services {
            plans: Edge::new(plans, store.clone(), admission.clone(), max_request_bytes, max_header_bytes),
            indicators: Edge::new(indicators, store, admission, max_request_bytes, max_header_bytes),
        }
    }

    /// The current plan and what `actor` may see of it; refusals name the plan.
    async fn view(&self, actor: &Actor, id: PlanId) -> Result<(Plan, View), Refusal> {
        self.viewed(self.store.plan(id).await?, actor)
    }

    /// Identifies the caller (naming them in the call's span, see
    /// [`traced`]), runs `handler`, records what the audit log is
    /// to say and waits until it is durable; errors become statuses here.
    async fn handle<T, R, F>(
        &self,
        method: &'static str,
        request: Request<T>,
        handler: impl FnOnce(Actor, String, T) -> F,
    ) -> Result<Response<R>, Status>
    where
        T: prost::Message,
        F: Future<Output = Handled<R>>,
    {
        self.handle_until(method, request, |actor, _, correlation_id, r| handler(actor, correlation_id, r)).await
    }

    /// [`PlanApi::handle`], telling `handler` until when the caller's assertion holds.
    async fn handle_until<T, R, F>(
        &self,
        method: &'static str,
        request: Request<T>,
        handler: impl FnOnce(Actor, Option<u64>, String, T) -> F,
    ) -> Result<Response<R>, Status>
    where
        T: prost::Message,
        F: Future<Output = Handled<R>>,
    {
        edge::Reached::mark(request.extensions());
        let mut counted = Counted { method, started: std::time::Instant::now(), code: None };
        // Shed before any work (even checking the assertion): a refusal that names
        // no plan and writes nothing, counted in the metrics, not the audit log.
        let answered = match self.admission.admit() {
            Ok(_permit) => {
                let deadline = admission::requested(request.metadata());
                admission::within(deadline, self.answer(method, request, handler)).await
            }
            Err(overloaded) => {
                crate::metrics::refused(overloaded.reason());
                Err(overloaded.into())
            }
        };
        let code = answered.as_ref().map_or_else(Status::code, |_| tonic::Code::Ok);
        traced::answered(code);
        counted.code = Some(code);
        answered
    }

    /// The work of [`PlanApi::handle_until`], without its metrics.
    async fn answer<T, R, F>(
        &self,
        method: &'static str,
        request: Request<T>,
        handler: impl FnOnce(Actor, Option<u64>, String, T) -> F,
    ) -> Result<Response<R>, Status>
    where
        T: prost::Message,
        F: Future<Output = Handled<R>>,
    {
        let correlation_id = correlation_id(request.metadata());
        let peer = request.extensions().get::<PeerIdentity>();
        let caller =
            check_correlation_id(request.metadata()).and_then(|()| self.registry.caller(peer, request.metadata()));
        let (actor, valid_until) = match self.proven(caller).await {
            Ok(proven) => proven,
            Err(error) => {
                let error = self.store.unless_unreadable(error);
                let certificate_identity = peer.and_then(|p| p.organisation_identifier.clone());
                let entry = self.entry(method, None, correlation_id, Disclosure::none(None), denied(&error));
                return Err(self.record(AuditEntry { certificate_identity, ..entry }, error).await);
            }
        };
        traced::identified(&actor, &correlation_id);
        let result = handler(actor.clone(), valid_until, correlation_id.clone(), request.into_inner())
            .await
            .map_err(|refusal| Refusal { error: self.store.unless_unreadable(refusal.error), ..refusal });
        match result {
            Ok(Answer { response, audit: None }) => Ok(Response::new(response)),
            Ok(Answer { response, audit: Some(disclosure) }) => {
                let entry = self.entry(method, Some(actor), correlation_id, disclosure, Decision::Allowed);
                self.store.record(entry).await.map_err(Status::from)?;
                Ok(Response::new(response))
            }
            Err(Refusal { error, recorded: true, .. }) => {
                crate::metrics::refused(error.reason());
                Err(error.into())
            }
            Err(Refusal { error, plan, recorded: false }) => {
                let entry = self.entry(method, Some(actor), correlation_id, Disclosure::none(plan), denied(&error));
                Err(self.record(entry, error).await)
            }
        }
    }

    /// The proven caller as the rules see it: a citizen with the plan that is
    /// theirs, found by the pseudonym of the CPR number their assertion names.
    async fn proven(&self, caller: Result<Caller, Error>) -> Result<(Actor, Option<u64>), Error> {
        let Caller { mut actor, valid_until, citizen } = caller?;
        if let Some(cpr) = &citizen {
            actor.own_plan = self.store.plan_id_of(&self.pseudonyms.citizen_key(cpr)).await?;
        }
        Ok((actor, valid_until))
    }

    async fn record(&self, entry: AuditEntry, error: Error) -> Status {
        record_refusal(&self.store, entry, error).await
    }
}

/// Records a refusal; the caller hears of the refusal, or of the audit log failing.
async fn record_refusal(store: &Store, entry: AuditEntry, error: Error) -> Status {
    crate::metrics::refused(error.reason());
    match store.record(entry).await {
        Ok(()) => error.into(),
        Err(audit_failed) => audit_failed.into(),
    }
}

/// A call in the metrics: counted with its code when answered, and as
/// `CANCELLED` when dropped unanswered (its deadline passed, or its client went away).
struct Counted {
    method: &'static str,
    started: std::time::Instant,
    code: Option<tonic::Code>,
}

impl Drop for Counted {
    fn drop(&mut self) {
        crate::metrics::rpc(self.method, self.code.unwrap_or(tonic::Code::Cancelled), self.started.elapsed());
    }
}

#[tonic::async_trait]
impl PlanService for PlanApi {
    async fn list_clocks(
        &self,
        request: Request<pb::ListClocksRequest>,
    ) -> Result<Response<pb::ListClocksResponse>, Status> {
        self.handle("ListClocks", request, |actor, correlation_id, r| self.list_clocks(actor, correlation_id, r)).await
    }

    type SubscribePlanEventsStream = EventStream;

    async fn subscribe_plan_events(
        &self,
        request: Request<pb::SubscribePlanEventsRequest>,
    ) -> Result<Response<EventStream>, Status> {
        // The stream ends when the assertion it was opened with does.
        self.handle_until(subscription::ACTION, request, |actor, valid_until, correlation_id, r| {
            self.subscribe(actor, correlation_id, r, valid_until)
        })
        .await
    }

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

    async fn export_plan(
        &self,
        request: Request<pb::ExportPlanRequest>,
    ) -> Result<Response<pb::ExportPlanResponse>, Status> {
        self.handle("ExportPlan", request, |actor, _, r| self.export(actor, r)).await
    }

    async fn request_emergency_access(
        &self,
        request: Request<pb::RequestEmergencyAccessRequest>,
    ) -> Result<Response<pb::RequestEmergencyAccessResponse>, Status> {
        self.handle("RequestEmergencyAccess", request, |actor, correlation_id, r| {
            self.emergency(actor, correlation_id, r)
        })
        .await
    }

    async fn list_plan_access(
        &self,
        request: Request<pb::ListPlanAccessRequest>,
    ) -> Result<Response<pb::ListPlanAccessResponse>, Status> {
        self.handle("ListPlanAccess", request, |actor, _, r| self.list_access(actor, r)).await
    }

    async fn list_care_team_joins(
        &self,
        request: Request<pb::ListCareTeamJoinsRequest>,
    ) -> Result<Response<pb::ListCareTeamJoinsResponse>, Status> {
        self.handle("ListCareTeamJoins", request, |actor, _, r| self.list_joins(actor, r)).await
    }

    async fn list_emergency_accesses(
        &self,
        request: Request<pb::ListEmergencyAccessesRequest>,
    ) -> Result<Response<pb::ListEmergencyAccessesResponse>, Status> {
        self.handle("ListEmergencyAccesses", request, |actor, _, r| self.list_emergency(actor, r)).await
    }
}
