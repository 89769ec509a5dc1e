//! IndicatorService: the hub's indicators, for analysts. Aggregates only,
//! small counts suppressed (see `indicators::release`); every query audited.

use std::sync::Arc;

use samplan_proto::v1 as pb;
use samplan_proto::v1::indicator_service_server::IndicatorService;
use tonic::{Request, Response, Status};

use super::PlanApi;
use super::answer::{Answer, Disclosure, Handled};
use crate::convert;
use crate::domain::{Actor, DomainError, Purpose, grounds, policy};
use crate::error::Error;
use crate::indicators::feed::Progress;
use crate::indicators::{Catalogue, Geography, Indicators, Rules, answer};

/// What the indicator service needs.
pub struct IndicatorDesk {
    pub indicators: Indicators,
    pub catalogue: Arc<Catalogue>,
    pub geography: Arc<Geography>,
    /// The smallest count released (at least 5).
    pub min_count: u32,
    /// How many months after its end a period is released.
    pub settle_months: u32,
}

impl Disclosure {
    fn statistics(detail: Option<String>) -> Self {
        Self {
            plan: None,
            purpose: Purpose::Statistics,
            categories: Vec::new(),
            legal_ground: grounds::STATISTICS_CITATION.to_owned(),
            detail,
        }
    }
}

impl PlanApi {
    fn desk(&self, actor: &Actor) -> Result<&IndicatorDesk, Error> {
        policy::may_read_indicators(actor)?;
        let off =
            || DomainError::precondition("INDICATORS_OFF", "this hub computes no indicators (indicators.enabled)");
        self.indicators.as_ref().ok_or_else(|| off().into())
    }

    async fn list_indicators(&self, actor: Actor) -> Handled<pb::ListIndicatorsResponse> {
        let desk = self.desk(&actor)?;
        let indicators = desk.catalogue.indicators().iter().map(convert::indicator_definition).collect();
        Ok(Answer::disclosing(pb::ListIndicatorsResponse { indicators }, Disclosure::statistics(None)))
    }

    async fn query(&self, actor: Actor, request: pb::QueryIndicatorsRequest) -> Handled<pb::QueryIndicatorsResponse> {
        let desk = self.desk(&actor)?;
        let query = convert::indicator_query(&request, &desk.catalogue, &desk.geography)?;
        if let Progress::Building { counted, of } = desk.indicators.progress() {
            return Err(Error::IndicatorsCounting { counted, of }.into());
        }
        let (indicators, catalogue, geography) =
            (desk.indicators.clone(), desk.catalogue.clone(), desk.geography.clone());
        let rules = Rules::at(self.store.now(), desk.min_count, desk.settle_months);
        let asked = query.clone();
        // Releasing is arithmetic over every organisation's year: off the async workers.
        let (table, position) = tokio::task::spawn_blocking(move || {
            indicators.read(|p| (answer(p.cells(), &catalogue, &geography, &asked, rules), p.position()))
        })
        .await
        .map_err(|e| Error::Storage(format!("computing indicators: {e}")))?;
        let values = table.rows.into_iter().map(|row| convert::indicator_value(row, query.granularity)).collect();
        let response = pb::QueryIndicatorsResponse {
            values,
            log_position: position,
            min_count: desk.min_count,
            settle_months: desk.settle_months,
        };
        Ok(Answer::disclosing(response, Disclosure::statistics(Some(convert::query_detail(&query)))))
    }
}

#[tonic::async_trait]
impl IndicatorService for PlanApi {
    async fn list_indicators(
        &self,
        request: Request<pb::ListIndicatorsRequest>,
    ) -> Result<Response<pb::ListIndicatorsResponse>, Status> {
        self.handle("ListIndicators", request, |actor, _, _| PlanApi::list_indicators(self, actor)).await
    }

    async fn query_indicators(
        &self,
        request: Request<pb::QueryIndicatorsRequest>,
    ) -> Result<Response<pb::QueryIndicatorsResponse>, Status> {
        self.handle("QueryIndicators", request, |actor, _, r| self.query(actor, r)).await
    }
}
