//! The handlers of one plan: create or join, look up, read, change, its log,
//! export, emergency access, and the reviews of who accessed it.

use samplan_proto::v1 as pb;

use super::PlanApi;
use super::answer::*;
use super::paging::*;
use crate::convert;
use crate::domain::*;
use crate::store::{Intent, Submission};

impl PlanApi {
    pub(super) async fn create(
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
        let plan = Some(self.shown(&plan, &view));
        Ok(Answer::recorded(pb::CreatePlanResponse { plan, created: outcome.created }))
    }

    pub(super) async fn lookup(&self, actor: Actor, request: pb::LookupPlanRequest) -> Handled<pb::LookupPlanResponse> {
        let cpr = convert::cpr(&request.cpr)?;
        let (plan, view) = self.viewed(self.store.plan_of(&self.pseudonyms.citizen_key(&cpr)).await?, &actor)?;
        let response = pb::LookupPlanResponse { plan: Some(self.shown(&plan, &view)) };
        Ok(Answer::disclosing(response, Disclosure::of(plan.id, &view)))
    }

    pub(super) async fn get(&self, actor: Actor, request: pb::GetPlanRequest) -> Handled<pb::GetPlanResponse> {
        let id = convert::plan_name("name", &request.name)?;
        let (plan, view) = self.view(&actor, id).await?;
        let response = pb::GetPlanResponse { plan: Some(self.shown(&plan, &view)) };
        Ok(Answer::disclosing(response, Disclosure::of(id, &view)))
    }

    pub(super) async fn change(
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

    pub(super) async fn list_events(
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

    pub(super) async fn export(&self, actor: Actor, request: pb::ExportPlanRequest) -> Handled<pb::ExportPlanResponse> {
        let id = convert::plan_name("name", &request.name)?;
        let (plan, view) = self.view(&actor, id).await?;
        let events = self.store.plan_events(id, 1, usize::MAX)?;
        let response =
            pb::ExportPlanResponse { plan: Some(self.shown(&plan, &view)), events: visible_events(&events, &view) };
        Ok(Answer::disclosing(response, Disclosure::of(id, &view)))
    }

    pub(super) async fn emergency(
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
            plan: Some(self.shown(&plan, &view)),
            access: outcome.events.first().and_then(EmergencyGrant::granted_by).as_ref().map(convert::emergency_access),
        };
        Ok(Answer::disclosing(response, Disclosure::of(plan.id, &view)))
    }

    pub(super) async fn list_access(
        &self,
        actor: Actor,
        request: pb::ListPlanAccessRequest,
    ) -> Handled<pb::ListPlanAccessResponse> {
        let id = convert::plan_name("parent", &request.parent)?;
        let page_size = page_size(request.page_size)?;
        let from = page_token(&request.page_token)?.unwrap_or(1);
        let plan = self.store.plan(id).await?.ok_or(DomainError::PlanNotFound)?;
        policy::may_review_access(&plan, &actor, self.store.now()).map_err(Refusal::about(id))?;
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

    pub(super) async fn list_emergency(
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

/// An emergency grant, from its event.
fn review(event: &RecordedEvent) -> pb::EmergencyAccessReview {
    pb::EmergencyAccessReview {
        plan: event.plan_id.resource_name(),
        access: EmergencyGrant::granted_by(event).as_ref().map(convert::emergency_access),
    }
}

fn visible_events(events: &[RecordedEvent], view: &View) -> Vec<pb::PlanEvent> {
    events.iter().filter(|e| view.sees(e.category)).map(convert::event).collect()
}
