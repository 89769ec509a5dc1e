//! The gRPC handlers: identify the caller, convert the request, ask the store
//! and the access policy, convert the answer. No rules live here.
//!
//! Every request is audited before it is answered. Writes are audited by the
//! store's writer in the same durable batch as their events; everything else
//! (reads, exports, access reviews, refusals) is recorded here, through
//! [`Store::record`], and the answer waits until that record is durable: the
//! hub discloses nothing it has not durably logged.

use std::sync::Arc;

use samplan_proto::v1 as pb;
use samplan_proto::v1::plan_service_server::PlanService;
use tonic::{Request, Response, Status};
use tracing::Instrument;

use crate::access::{PeerIdentity, Registry, correlation_id};
use crate::convert;
use crate::domain::{
    Actor, AuditEntry, DataCategory, Decision, DomainError, EmergencyGrant, Plan, PlanId, PseudonymKey, Purpose,
    RecordedEvent, Timestamp, View, policy,
};
use crate::error::Error;
use crate::store::{Intent, Store, Submission};
use crate::subscription::{self, EventStream, Subscriptions};

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
    subscriptions: Arc<Subscriptions>,
}

/// A handler's answer, and what the audit log is to say about it.
struct Answer<R> {
    response: R,
    /// `None` when the store's writer already recorded the operation.
    audit: Option<Disclosure>,
}

/// What an answer disclosed, for its audit record.
struct Disclosure {
    plan: Option<PlanId>,
    purpose: Purpose,
    categories: Vec<DataCategory>,
    legal_ground: String,
}

impl Disclosure {
    fn of(plan: PlanId, view: &View) -> Self {
        Self {
            plan: Some(plan),
            purpose: view.purpose,
            categories: view.categories(),
            legal_ground: view.legal_ground(),
        }
    }

    /// Nothing disclosed: a refusal, concerning `plan` if known.
    fn none(plan: Option<PlanId>) -> Self {
        Self { plan, purpose: Purpose::CareCoordination, categories: Vec::new(), legal_ground: String::new() }
    }

    fn review(plan: Option<PlanId>, legal_ground: &str) -> Self {
        Self { plan, purpose: Purpose::AccessReview, categories: Vec::new(), legal_ground: legal_ground.to_owned() }
    }
}

impl<R> Answer<R> {
    fn recorded(response: R) -> Self {
        Self { response, audit: None }
    }

    fn disclosing(response: R, disclosure: Disclosure) -> Self {
        Self { response, audit: Some(disclosure) }
    }
}

/// A refused request: the error, the plan it concerned if known, and whether
/// the store's writer already recorded it.
struct Refusal {
    error: Error,
    plan: Option<PlanId>,
    recorded: bool,
}

impl From<Error> for Refusal {
    fn from(error: Error) -> Self {
        Self { error, plan: None, recorded: false }
    }
}

impl From<DomainError> for Refusal {
    fn from(error: DomainError) -> Self {
        Error::from(error).into()
    }
}

impl Refusal {
    /// A refusal concerning `plan`.
    fn about(plan: PlanId) -> impl FnOnce(DomainError) -> Self {
        move |error| Self { error: error.into(), plan: Some(plan), recorded: false }
    }

    /// A refusal the writer already put in the audit log.
    fn recorded(error: Error) -> Self {
        Self { error, plan: None, recorded: true }
    }
}

type Handled<R> = Result<Answer<R>, Refusal>;

impl PlanApi {
    pub fn new(
        store: Store,
        registry: Arc<Registry>,
        pseudonyms: PseudonymKey,
        max_request_bytes: usize,
        subscriptions: Arc<Subscriptions>,
    ) -> Self {
        Self { store, registry, pseudonyms, max_request_bytes, subscriptions }
    }

    /// The current plan and what `actor` may see of it; refusals name the plan.
    async fn view(&self, actor: &Actor, id: PlanId) -> Result<(Plan, View), Refusal> {
        viewed(self.store.plan(id).await?, actor)
    }

    /// Identifies the caller, checks the request's size, runs `handler` in a
    /// span that names the method, the organisation, the role and the
    /// correlation id (never request content), records what the audit log is
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
        let correlation_id = correlation_id(request.metadata());
        let peer = request.extensions().get::<PeerIdentity>();
        let actor = match self.registry.caller(peer, request.metadata()) {
            Ok(actor) => actor,
            Err(error) => {
                let certificate_identity = peer.and_then(|p| p.organisation_identifier.clone());
                let entry = entry(method, None, correlation_id, Disclosure::none(None), denied(&error));
                return Err(self.record(AuditEntry { certificate_identity, ..entry }, error).await);
            }
        };
        let span = span(method, &actor, &correlation_id);
        let size = request.get_ref().encoded_len();
        let result = if size > self.max_request_bytes {
            Err(Error::RequestTooLarge { size, limit: self.max_request_bytes }.into())
        } else {
            handler(actor.clone(), correlation_id.clone(), request.into_inner()).instrument(span).await
        };
        match result {
            Ok(Answer { response, audit: None }) => Ok(Response::new(response)),
            Ok(Answer { response, audit: Some(disclosure) }) => {
                let entry = entry(method, Some(actor), correlation_id, disclosure, Decision::Allowed);
                self.store.record(entry).await.map_err(Status::from)?;
                Ok(Response::new(response))
            }
            Err(Refusal { error, recorded: true, .. }) => Err(error.into()),
            Err(Refusal { error, plan, recorded: false }) => {
                let entry = entry(method, Some(actor), correlation_id, Disclosure::none(plan), denied(&error));
                Err(self.record(entry, error).await)
            }
        }
    }

    /// Records a refusal; the caller hears of the refusal, or of the audit log failing.
    async fn record(&self, entry: AuditEntry, error: Error) -> Status {
        match self.store.record(entry).await {
            Ok(()) => error.into(),
            Err(audit_failed) => audit_failed.into(),
        }
    }

    async fn create(
        &self,
        actor: Actor,
        correlation_id: String,
        request: pb::CreatePlanRequest,
    ) -> Handled<pb::CreatePlanResponse> {
        let cpr = convert::cpr(&request.cpr)?;
        let request_id = convert::request_id(&request.request_id)?;
        let reason = convert::reason("reason", &request.reason)?;
        let citizen = self.pseudonyms.citizen_key(&cpr);
        let submission = Submission { actor: actor.clone(), correlation_id, request_id };
        let intent = Intent::Create { citizen, kind: cpr.kind(), reason };
        let outcome = self.store.submit(submission, intent).await.map_err(Refusal::recorded)?;
        tracing::info!(created = outcome.created, joined = outcome.joined(), "plan create");
        let (plan, view) = self.view(&actor, outcome.plan_id).await?;
        let plan = Some(shown(&plan, &view));
        Ok(Answer::recorded(pb::CreatePlanResponse { plan, created: outcome.created }))
    }

    async fn lookup(&self, actor: Actor, request: pb::LookupPlanRequest) -> Handled<pb::LookupPlanResponse> {
        let cpr = convert::cpr(&request.cpr)?;
        let (plan, view) = viewed(self.store.plan_of(&self.pseudonyms.citizen_key(&cpr)).await?, &actor)?;
        let response = pb::LookupPlanResponse { plan: Some(shown(&plan, &view)) };
        Ok(Answer::disclosing(response, Disclosure::of(plan.id, &view)))
    }

    async fn get(&self, actor: Actor, request: pb::GetPlanRequest) -> Handled<pb::GetPlanResponse> {
        let id = convert::plan_name("name", &request.name)?;
        let (plan, view) = self.view(&actor, id).await?;
        let response = pb::GetPlanResponse { plan: Some(shown(&plan, &view)) };
        Ok(Answer::disclosing(response, Disclosure::of(id, &view)))
    }

    async fn change(
        &self,
        actor: Actor,
        correlation_id: String,
        request: pb::ChangePlanRequest,
    ) -> Handled<pb::ChangePlanResponse> {
        let change = convert::plan_change(request, &self.registry)?;
        let submission = Submission { actor, correlation_id, request_id: change.request_id };
        let intent =
            Intent::Change { plan: change.plan, expected_version: change.expected_version, command: change.command };
        let outcome = self.store.submit(submission, intent).await.map_err(Refusal::recorded)?;
        Ok(Answer::recorded(pb::ChangePlanResponse {
            name: outcome.plan_id.resource_name(),
            version: outcome.version,
            events: outcome.events.iter().map(convert::event).collect(),
        }))
    }

    async fn list_events(
        &self,
        actor: Actor,
        request: pb::ListPlanEventsRequest,
    ) -> Handled<pb::ListPlanEventsResponse> {
        let id = convert::plan_name("parent", &request.parent)?;
        let page_size = page_size(request.page_size)?;
        let from = page_token(&request.page_token)?.unwrap_or(1);
        let (_, view) = self.view(&actor, id).await?;
        let mut events = self.store.plan_events(id, from, page_size + 1)?;
        let next_page_token = next_page(&mut events, page_size, |e| e.sequence);
        let response = pb::ListPlanEventsResponse { events: visible_events(&events, &view), next_page_token };
        Ok(Answer::disclosing(response, Disclosure::of(id, &view)))
    }

    async fn export(&self, actor: Actor, request: pb::ExportPlanRequest) -> Handled<pb::ExportPlanResponse> {
        let id = convert::plan_name("name", &request.name)?;
        let (plan, view) = self.view(&actor, id).await?;
        let events = self.store.plan_events(id, 1, usize::MAX)?;
        let response =
            pb::ExportPlanResponse { plan: Some(shown(&plan, &view)), events: visible_events(&events, &view) };
        Ok(Answer::disclosing(response, Disclosure::of(id, &view)))
    }

    async fn emergency(
        &self,
        actor: Actor,
        correlation_id: String,
        request: pb::RequestEmergencyAccessRequest,
    ) -> Handled<pb::RequestEmergencyAccessResponse> {
        let cpr = convert::cpr(&request.cpr)?;
        let justification = convert::reason("justification", &request.justification)?;
        let request_id = convert::request_id(&request.request_id)?;
        let citizen = self.pseudonyms.citizen_key(&cpr);
        let submission = Submission { actor: actor.clone(), correlation_id, request_id };
        let intent = Intent::EmergencyAccess { citizen, justification };
        let outcome = self.store.submit(submission, intent).await.map_err(Refusal::recorded)?;
        tracing::warn!(plan = %outcome.plan_id.resource_name(), "emergency access granted");
        let (plan, view) = self.view(&actor, outcome.plan_id).await?;
        let response = pb::RequestEmergencyAccessResponse {
            plan: Some(shown(&plan, &view)),
            access: outcome.events.first().and_then(EmergencyGrant::granted_by).as_ref().map(convert::emergency_access),
        };
        Ok(Answer::disclosing(response, Disclosure::of(plan.id, &view)))
    }

    async fn list_access(
        &self,
        actor: Actor,
        request: pb::ListPlanAccessRequest,
    ) -> Handled<pb::ListPlanAccessResponse> {
        let id = convert::plan_name("parent", &request.parent)?;
        let page_size = page_size(request.page_size)?;
        let from = page_token(&request.page_token)?.unwrap_or(1);
        let plan = self.store.plan(id).await?.ok_or(DomainError::PlanNotFound)?;
        policy::may_review_access(&plan, &actor, Timestamp::now()).map_err(Refusal::about(id))?;
        let mut records = self.store.plan_audit_records(id, from, page_size + 1)?;
        let next_page_token = next_page(&mut records, page_size, |r| r.sequence);
        let entries = records
            .iter()
            .map(|r| {
                let name =
                    r.entry.actor.as_ref().and_then(|a| self.registry.get(&a.organisation)).map(|o| o.name.as_str());
                convert::access_entry(&r.entry, name)
            })
            .collect();
        let disclosure = Disclosure::review(Some(id), "the citizen's contact person or an auditor reviewing access");
        Ok(Answer::disclosing(pb::ListPlanAccessResponse { entries, next_page_token }, disclosure))
    }

    async fn list_emergency(
        &self,
        actor: Actor,
        request: pb::ListEmergencyAccessesRequest,
    ) -> Handled<pb::ListEmergencyAccessesResponse> {
        let page_size = page_size(request.page_size)?;
        let from = page_token(&request.page_token)?.unwrap_or(1);
        if policy::scope(actor.role) != policy::Scope::Oversight {
            return Err(DomainError::forbidden("AUDITORS_ONLY", "only auditors review emergency accesses").into());
        }
        let mut grants = self.store.emergency_grants(&actor.organisation, from, page_size + 1)?;
        let next_page_token = next_page(&mut grants, page_size, |e| e.global_position);
        let accesses = grants.iter().map(review).collect();
        let disclosure = Disclosure::review(None, "an auditor reviewing its organisation's emergency accesses");
        Ok(Answer::disclosing(pb::ListEmergencyAccessesResponse { accesses, next_page_token }, disclosure))
    }
}

impl PlanApi {
    /// Opens a subscription; the opening is audited before the first message,
    /// and every delivery on it by the stream itself.
    async fn subscribe(
        &self,
        actor: Actor,
        correlation_id: String,
        request: pb::SubscribePlanEventsRequest,
    ) -> Handled<EventStream> {
        let after = request.after_position;
        self.subscriptions.admit(&self.store, &actor, after)?;
        let opened = Disclosure {
            plan: None,
            purpose: Purpose::CareCoordination,
            categories: Vec::new(),
            legal_ground: format!("following the plans it may read, after position {after}"),
        };
        let record =
            entry(subscription::ACTION, Some(actor.clone()), correlation_id.clone(), opened, Decision::Allowed);
        self.store.record(record).await?;
        Ok(Answer::recorded(self.subscriptions.start(self.store.clone(), actor, correlation_id, after)))
    }
}

/// `plan` as `view` shows it, today.
fn shown(plan: &Plan, view: &View) -> pb::Plan {
    convert::plan(plan, &view.categories(), Timestamp::now().date())
}

impl PlanApi {
    /// The open clocks of every plan the caller may see, plan by plan; each
    /// plan listed is audited with the categories its clocks disclosed.
    async fn list_clocks(
        &self,
        actor: Actor,
        correlation_id: String,
        request: pb::ListClocksRequest,
    ) -> Handled<pb::ListClocksResponse> {
        policy::may_read_plans(&actor)?;
        let page_size = page_size(request.page_size)?;
        let after = match request.page_token.as_str() {
            "" => None,
            token => Some(convert::plan_name("page_token", token)?),
        };
        let now = Timestamp::now();
        let mut plans: Vec<(PlanId, Vec<usize>)> = Vec::new();
        for (plan, index) in self.store.open_clocks(after, usize::MAX)? {
            match plans.last_mut() {
                Some((last, indices)) if *last == plan => indices.push(index),
                _ => plans.push((plan, vec![index])),
            }
        }
        let mut clocks = Vec::new();
        let mut disclosures = Vec::new();
        let mut next_page_token = String::new();
        for (id, indices) in plans {
            if disclosures.len() == page_size {
                next_page_token =
                    disclosures.last().and_then(|d: &Disclosure| d.plan).map(|p| p.resource_name()).unwrap_or_default();
                break;
            }
            let Some(plan) = self.store.plan(id).await? else { continue };
            let Ok(view) = policy::view(&plan, &actor, now) else { continue };
            let shown: Vec<_> = indices
                .iter()
                .filter_map(|i| plan.clocks.get(*i))
                .filter(|c| view.sees(c.kind.category()) && (!request.overdue_only || c.is_overdue(now.date())))
                .collect();
            if shown.is_empty() {
                continue;
            }
            let mut categories: Vec<DataCategory> = shown.iter().map(|c| c.kind.category()).collect();
            categories.sort();
            categories.dedup();
            let name = id.resource_name();
            clocks.extend(
                shown
                    .iter()
                    .map(|c| pb::PlanClock { plan: name.clone(), clock: Some(convert::rights_clock(c, now.date())) }),
            );
            let legal_ground = view.only(&categories).legal_ground();
            disclosures.push(Disclosure { plan: Some(id), purpose: view.purpose, categories, legal_ground });
        }
        let method = "ListClocks";
        let entries: Vec<AuditEntry> = if disclosures.is_empty() {
            vec![entry(method, Some(actor), correlation_id, Disclosure::none(None), Decision::Allowed)]
        } else {
            disclosures
                .into_iter()
                .map(|d| entry(method, Some(actor.clone()), correlation_id.clone(), d, Decision::Allowed))
                .collect()
        };
        self.store.record_all(entries).await?;
        Ok(Answer::recorded(pb::ListClocksResponse { clocks, next_page_token }))
    }
}

/// `plan`, if there is one, and what `actor` may see of it; refusals name the plan.
fn viewed(plan: Option<Plan>, actor: &Actor) -> Result<(Plan, View), Refusal> {
    let plan = plan.ok_or(DomainError::PlanNotFound)?;
    let view = policy::view(&plan, actor, Timestamp::now()).map_err(Refusal::about(plan.id))?;
    Ok((plan, view))
}

/// An emergency grant, from its event.
fn review(event: &RecordedEvent) -> pb::EmergencyAccessReview {
    pb::EmergencyAccessReview {
        plan: event.plan_id.resource_name(),
        access: EmergencyGrant::granted_by(event).as_ref().map(convert::emergency_access),
    }
}

fn entry(
    method: &'static str,
    actor: Option<Actor>,
    correlation_id: String,
    disclosure: Disclosure,
    decision: Decision,
) -> AuditEntry {
    AuditEntry {
        at: Timestamp::now(),
        actor,
        certificate_identity: None,
        correlation_id,
        plan: disclosure.plan,
        action: method.to_owned(),
        purpose: disclosure.purpose,
        categories: disclosure.categories,
        decision,
        legal_ground: disclosure.legal_ground,
        events: Vec::new(),
    }
}

fn denied(error: &Error) -> Decision {
    Decision::Denied { reason: error.reason().to_owned() }
}

fn visible_events(events: &[RecordedEvent], view: &View) -> Vec<pb::PlanEvent> {
    events.iter().filter(|e| view.sees(e.category)).map(convert::event).collect()
}

fn page_size(requested: i32) -> Result<usize, Error> {
    match usize::try_from(requested) {
        Ok(0) => Ok(DEFAULT_PAGE_SIZE),
        Ok(n) => Ok(n.min(MAX_PAGE_SIZE)),
        Err(_) => Err(Error::invalid("page_size", "must not be negative")),
    }
}

/// Where a page starts: a position this service issued as `next_page_token`.
fn page_token(token: &str) -> Result<Option<u64>, Error> {
    if token.is_empty() {
        return Ok(None);
    }
    token
        .parse::<u64>()
        .ok()
        .filter(|n| *n > 0)
        .map(Some)
        .ok_or_else(|| Error::invalid("page_token", "is not a token this service issued"))
}

/// Cuts `items` (fetched one beyond the page) to the page; the token names where the next page starts.
fn next_page<T>(items: &mut Vec<T>, page_size: usize, position: impl Fn(&T) -> u64) -> String {
    if items.len() > page_size {
        items.truncate(page_size);
        items.last().map(|item| (position(item) + 1).to_string()).unwrap_or_default()
    } else {
        String::new()
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
        self.handle(subscription::ACTION, request, |actor, correlation_id, r| self.subscribe(actor, correlation_id, r))
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

    async fn list_emergency_accesses(
        &self,
        request: Request<pb::ListEmergencyAccessesRequest>,
    ) -> Result<Response<pb::ListEmergencyAccessesResponse>, Status> {
        self.handle("ListEmergencyAccesses", request, |actor, _, r| self.list_emergency(actor, r)).await
    }
}
