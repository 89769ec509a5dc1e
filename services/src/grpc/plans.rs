//! The handlers of one plan: create or join, look up, read, change, its log,
//! export, emergency access, and the reviews of who accessed it.

use samplan_proto::v1 as pb;

use super::PlanApi;
use super::answer::*;
use super::paging::*;
use crate::convert;
use crate::domain::*;
use crate::error::Error;
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
        let submission =
            Submission { actor: actor.clone(), correlation_id, request_id, deadline: super::admission::deadline() };
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
        let submission = Submission {
            actor: actor.clone(),
            correlation_id,
            request_id: change.request_id,
            deadline: super::admission::deadline(),
        };
        let intent =
            Intent::Change { plan: change.plan, expected_version: change.expected_version, command: change.command };
        let outcome = self.store.submit(submission, intent).await.map_err(Refusal::recorded)?;
        // The writer hears of what it caused as it may see it: a follow-up the
        // hub added (the indsatsplan reopened) may tell it what it may not see.
        let (plan, view) = self.view(&actor, outcome.plan_id).await?;
        Ok(Answer::recorded(pb::ChangePlanResponse {
            name: outcome.plan_id.resource_name(),
            version: plan.trail.version_at(&view.categories(), outcome.version),
            events: visible_events(&outcome.events, &plan, &view),
        }))
    }

    pub(super) async fn list_events(
        &self,
        actor: Actor,
        request: pb::ListPlanEventsRequest,
    ) -> Handled<pb::ListPlanEventsResponse> {
        let id = convert::plan_name("parent", &request.parent)?;
        let page_size = page_size(request.page_size)?;
        // Pages count the events the caller may see, as their sequence numbers
        // do; a token names what the caller saw, so it holds only while that stays.
        let (plan, view) = self.view(&actor, id).await?;
        let categories = view.categories();
        let from = match page_token(&request.page_token)? {
            None => 1,
            Some(token) => trail::count_of(&categories, token).ok_or_else(|| {
                Error::invalid(
                    "page_token",
                    "what the caller may see has changed since it was issued; list from the start",
                )
            })?,
        };
        let events = match plan.trail.page(&categories, from, page_size) {
            Some((first, last)) => {
                self.store.plan_events(id, first, usize::try_from(last - first + 1).unwrap_or(0)).await?
            }
            None => Vec::new(),
        };
        let events = visible_events(&events, &plan, &view);
        let last_shown = events.last().map_or(from - 1, |e| e.sequence);
        let next_page_token = if last_shown < plan.trail.shown_count(&categories) {
            trail::counted(&categories, last_shown + 1).to_string()
        } else {
            String::new()
        };
        let response = pb::ListPlanEventsResponse { events, next_page_token };
        Ok(Answer::disclosing(response, Disclosure::of(id, &view)))
    }

    pub(super) async fn export(&self, actor: Actor, request: pb::ExportPlanRequest) -> Handled<pb::ExportPlanResponse> {
        let id = convert::plan_name("name", &request.name)?;
        let (plan, view) = self.view(&actor, id).await?;
        let events = self.store.plan_events(id, 1, usize::try_from(plan.version).unwrap_or(usize::MAX)).await?;
        let response = pb::ExportPlanResponse {
            plan: Some(self.shown(&plan, &view)),
            events: visible_events(&events, &plan, &view),
        };
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
        let submission =
            Submission { actor: actor.clone(), correlation_id, request_id, deadline: super::admission::deadline() };
        let intent = Intent::EmergencyAccess { citizen, justification };
        let outcome = self.store.submit(submission, intent).await.map_err(Refusal::recorded)?;
        // The audit log names the plan; the log line only says that it happened.
        tracing::warn!("emergency access granted");
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
        let mut records = self.store.plan_audit_records(id, from, page_size + 1).await?;
        let next_page_token = next_page(&mut records, page_size, |r| r.sequence);
        let sees = policy::member_sees(&plan, &actor, self.store.now());
        let entries = records
            .iter()
            .filter_map(|r| policy::shown_access_entry(&actor, &sees, &r.entry))
            .map(|entry| {
                let name =
                    entry.actor.as_ref().and_then(|a| self.registry.get(&a.organisation)).map(|o| o.name.as_str());
                convert::access_entry(&entry, name)
            })
            .collect();
        let disclosure = Disclosure::review(
            Some(id),
            if actor.is_citizen() {
                "the citizen reading their own access log (sundhedsloven § 37, stk. 1; databeskyttelsesforordningen art. 15)"
            } else {
                "the citizen's contact person or an auditor reviewing access"
            },
        );
        Ok(Answer::disclosing(pb::ListPlanAccessResponse { entries, next_page_token }, disclosure))
    }

    pub(super) async fn list_emergency(
        &self,
        actor: Actor,
        request: pb::ListEmergencyAccessesRequest,
    ) -> Handled<pb::ListEmergencyAccessesResponse> {
        let page_size = page_size(request.page_size)?;
        let from = page_token(&request.page_token)?.unwrap_or(1);
        auditors_only(&actor, "only auditors review emergency accesses")?;
        let mut grants = self.store.emergency_grants(&actor.organisation, from, page_size + 1).await?;
        let next_page_token = next_page(&mut grants, page_size, |e| e.global_position);
        let mut accesses = Vec::with_capacity(grants.len());
        for event in &grants {
            // The grant as it stands now: whether the citizen has been told of it is a later event.
            let plan = self.store.plan(event.plan_id).await?;
            let granted = EmergencyGrant::granted_by(event);
            let current = plan.as_ref().zip(granted.as_ref()).and_then(|(plan, granted)| {
                plan.emergency_grants.iter().find(|g| g.grant_id == granted.grant_id).cloned()
            });
            let grant = current.or(granted);
            if request.citizen_to_be_informed_only && grant.as_ref().is_some_and(|g| g.citizen_informed_on.is_some()) {
                continue;
            }
            accesses.push(pb::EmergencyAccessReview {
                plan: event.plan_id.resource_name(),
                access: grant.as_ref().map(convert::emergency_access),
            });
        }
        let disclosure = Disclosure::review(None, "an auditor reviewing its organisation's emergency accesses");
        Ok(Answer::disclosing(pb::ListEmergencyAccessesResponse { accesses, next_page_token }, disclosure))
    }
}

impl PlanApi {
    pub(super) async fn list_joins(
        &self,
        actor: Actor,
        request: pb::ListCareTeamJoinsRequest,
    ) -> Handled<pb::ListCareTeamJoinsResponse> {
        let page_size = page_size(request.page_size)?;
        let from = page_token(&request.page_token)?.unwrap_or(1);
        auditors_only(&actor, "only auditors review their organisation's care-team joins")?;
        let mut joins = self.store.care_team_joins(&actor.organisation, from, page_size + 1).await?;
        let next_page_token = next_page(&mut joins, page_size, |e| e.global_position);
        let joins = joins.iter().filter_map(convert::care_team_join).collect();
        let disclosure = Disclosure::review(None, "an auditor reviewing its organisation's care-team joins");
        Ok(Answer::disclosing(pb::ListCareTeamJoinsResponse { joins, next_page_token }, disclosure))
    }
}

fn auditors_only(actor: &Actor, message: &'static str) -> Result<(), Refusal> {
    if policy::scope(actor.role) == policy::Scope::Oversight {
        Ok(())
    } else {
        Err(DomainError::forbidden("AUDITORS_ONLY", message).into())
    }
}

fn visible_events(events: &[RecordedEvent], plan: &Plan, view: &View) -> Vec<pb::PlanEvent> {
    convert::visible_events(events, plan, &view.audience())
}
