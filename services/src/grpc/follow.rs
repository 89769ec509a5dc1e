//! The handlers that follow every plan a caller may see: the subscription
//! stream and the list of rights clocks.

use samplan_proto::v1 as pb;

use super::PlanApi;
use super::answer::*;
use super::paging::*;
use crate::convert;
use crate::domain::*;
use crate::subscription::{self, EventStream};

impl PlanApi {
    /// Opens a subscription; the opening is audited before the first message,
    /// and every delivery on it by the stream itself.
    pub(super) async fn subscribe(
        &self,
        actor: Actor,
        correlation_id: String,
        request: pb::SubscribePlanEventsRequest,
        valid_until: Option<u64>,
    ) -> Handled<EventStream> {
        let after = request.after_position;
        self.subscriptions.admit(&self.store, &actor, after)?;
        let opened = Disclosure {
            plan: None,
            purpose: Purpose::CareCoordination,
            categories: Vec::new(),
            legal_ground: format!("following the plans it may read, after position {after}"),
            detail: None,
        };
        let record =
            self.entry(subscription::ACTION, Some(actor.clone()), correlation_id.clone(), opened, Decision::Allowed);
        self.store.record(record).await?;
        Ok(Answer::recorded(self.subscriptions.start(self.store.clone(), actor, correlation_id, after, valid_until)))
    }
}

impl PlanApi {
    /// The open clocks of every plan the caller may see, plan by plan; each
    /// plan listed is audited with the categories its clocks disclosed.
    pub(super) async fn list_clocks(
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
        let filter = convert::clock_filter(&request)?;
        let now = self.store.now();
        let mut clocks = Vec::new();
        let mut disclosures = Vec::new();
        let mut next_page_token = String::new();
        let mut last_listed: Option<PlanId> = None;
        // From the index of the caller's organisation; a citizen's own plan only.
        let open = match (actor.is_citizen(), actor.own_plan) {
            (false, _) => self.store.open_clocks_of(&actor.organisation, after).await?,
            (true, Some(own)) if after.is_none_or(|after| own > after) => self.store.open_clocks_of_plan(own).await?,
            (true, _) => Vec::new(),
        };
        for (id, indices) in open {
            if disclosures.len() == page_size {
                next_page_token = last_listed.map(|p| p.resource_name()).unwrap_or_default();
                break;
            }
            let Some(plan) = self.store.plan(id).await? else { continue };
            let Ok(view) = policy::view(&plan, &actor, now) else { continue };
            let sees = view.categories();
            let shown: Vec<_> = indices
                .iter()
                .filter_map(|i| plan.clocks.get(*i))
                .filter(|c| disclosure::shows(disclosure::clock_reveals(c.kind), &sees))
                .filter(|c| !request.overdue_only || c.is_overdue(now.date()))
                .filter(|c| filter.admits(c, &view.audience()))
                .collect();
            if shown.is_empty() {
                continue;
            }
            let categories =
                DataCategory::distinct(shown.iter().flat_map(|c| disclosure::clock_reveals(c.kind).iter().copied()));
            let name = id.resource_name();
            clocks.extend(shown.iter().map(|c| pb::PlanClock {
                plan: name.clone(),
                clock: Some(convert::shown_clock(c, &view.audience(), now.date())),
            }));
            let legal_ground = view.only(&categories).legal_ground();
            disclosures.push(Disclosure {
                plan: Some(id),
                purpose: view.purpose,
                categories,
                legal_ground,
                detail: None,
            });
            last_listed = Some(id);
        }
        let method = "ListClocks";
        let entries: Vec<AuditEntry> = if disclosures.is_empty() {
            vec![self.entry(method, Some(actor), correlation_id, Disclosure::none(None), Decision::Allowed)]
        } else {
            disclosures
                .into_iter()
                .map(|d| self.entry(method, Some(actor.clone()), correlation_id.clone(), d, Decision::Allowed))
                .collect()
        };
        self.store.record_all(entries).await?;
        Ok(Answer::recorded(pb::ListClocksResponse { clocks, next_page_token }))
    }
}
