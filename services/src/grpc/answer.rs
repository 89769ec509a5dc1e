//! What a handler answers, and what the audit log is to say about it.

use samplan_proto::v1 as pb;

use super::PlanApi;
use crate::convert;
use crate::domain::*;
use crate::error::Error;

/// A handler's answer, and what the audit log is to say about it.
pub(super) struct Answer<R> {
    pub(super) response: R,
    /// `None` when the store's writer already recorded the operation.
    pub(super) audit: Option<Disclosure>,
}

/// What an answer disclosed, for its audit record.
pub(super) struct Disclosure {
    pub(super) plan: Option<PlanId>,
    pub(super) purpose: Purpose,
    pub(super) categories: Vec<DataCategory>,
    pub(super) legal_ground: String,
    /// What was asked, where the method's name does not say it all.
    pub(super) detail: Option<String>,
}

impl Disclosure {
    pub(super) fn of(plan: PlanId, view: &View) -> Self {
        Self {
            plan: Some(plan),
            purpose: view.purpose,
            categories: view.categories(),
            legal_ground: view.legal_ground(),
            detail: None,
        }
    }

    /// Nothing disclosed: a refusal, concerning `plan` if known.
    pub(super) fn none(plan: Option<PlanId>) -> Self {
        Self {
            plan,
            purpose: Purpose::CareCoordination,
            categories: Vec::new(),
            legal_ground: String::new(),
            detail: None,
        }
    }

    pub(super) fn review(plan: Option<PlanId>, legal_ground: &str) -> Self {
        Self {
            plan,
            purpose: Purpose::AccessReview,
            categories: Vec::new(),
            legal_ground: legal_ground.to_owned(),
            detail: None,
        }
    }
}

impl<R> Answer<R> {
    pub(super) fn recorded(response: R) -> Self {
        Self { response, audit: None }
    }

    pub(super) fn disclosing(response: R, disclosure: Disclosure) -> Self {
        Self { response, audit: Some(disclosure) }
    }
}

/// A refused request: the error, the plan it concerned if known, and whether
/// the store's writer already recorded it.
pub(super) struct Refusal {
    pub(super) error: Error,
    pub(super) plan: Option<PlanId>,
    pub(super) recorded: bool,
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
    pub(super) fn about(plan: PlanId) -> impl FnOnce(DomainError) -> Self {
        move |error| Self { error: error.into(), plan: Some(plan), recorded: false }
    }

    /// A refusal the writer already put in the audit log.
    pub(super) fn recorded(error: Error) -> Self {
        Self { error, plan: None, recorded: true }
    }
}

pub(super) type Handled<R> = Result<Answer<R>, Refusal>;

/// What needs the time takes it from the store's clock, as writes do.
impl PlanApi {
    /// `plan`, if there is one, and what `actor` may see of it now; refusals name the plan.
    pub(super) fn viewed(&self, plan: Option<Plan>, actor: &Actor) -> Result<(Plan, View), Refusal> {
        let plan = plan.ok_or(DomainError::PlanNotFound)?;
        let view = policy::view(&plan, actor, self.store.now()).map_err(Refusal::about(plan.id))?;
        Ok((plan, view))
    }

    /// `plan` as `view` shows it, today.
    pub(super) fn shown(&self, plan: &Plan, view: &View) -> pb::Plan {
        convert::plan(plan, &view.audience(), self.store.now().date())
    }

    /// The audit entry of a call.
    pub(super) fn entry(
        &self,
        method: &'static str,
        actor: Option<Actor>,
        correlation_id: String,
        disclosure: Disclosure,
        decision: Decision,
    ) -> AuditEntry {
        AuditEntry {
            at: self.store.now(),
            actor,
            certificate_identity: None,
            correlation_id,
            plan: disclosure.plan,
            action: match disclosure.detail {
                Some(detail) => format!("{method} {detail}"),
                None => method.to_owned(),
            },
            purpose: disclosure.purpose,
            categories: disclosure.categories,
            decision,
            legal_ground: disclosure.legal_ground,
            events: Vec::new(),
        }
    }
}

pub(super) fn denied(error: &Error) -> Decision {
    Decision::Denied { reason: error.reason().to_owned() }
}
