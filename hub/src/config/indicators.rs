//! `[indicators]`: the indicators an analyst reads (IndicatorService,
//! `samplan indicators`), and where each organisation is placed for them.

use anyhow::bail;
use serde::Deserialize;

use super::OrganisationConfig;
use samplan_services::indicators::{Geography, Place};

/// The smallest count any deployment may release.
pub const LEAST_MIN_COUNT: u32 = 5;

#[derive(Clone, Debug, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IndicatorConfig {
    /// Compute the indicators (the hub counts its whole log when it starts)
    /// and serve IndicatorService.
    pub enabled: bool,
    /// The smallest count released; smaller ones are suppressed with every
    /// cell they could be recomputed from. At least 5.
    pub min_count: u32,
    /// How many months after its end a period is released: its flows count
    /// what was recorded by then (late registrations included), and a
    /// released value never changes (so answers cannot be compared over
    /// time to find who was added). 0 to 12.
    pub settle_months: u32,
}

impl Default for IndicatorConfig {
    fn default() -> Self {
        Self { enabled: true, min_count: LEAST_MIN_COUNT, settle_months: 1 }
    }
}

impl IndicatorConfig {
    pub fn validate(&self) -> anyhow::Result<()> {
        if !(LEAST_MIN_COUNT..=1000).contains(&self.min_count) {
            bail!("indicators.min_count must be between {LEAST_MIN_COUNT} and 1000");
        }
        if self.settle_months > 12 {
            bail!("indicators.settle_months must be between 0 and 12");
        }
        Ok(())
    }
}

/// Where the organisations are, as their `region` and `municipality` say.
pub fn geography(organisations: &[OrganisationConfig]) -> anyhow::Result<Geography> {
    let mut places = Vec::with_capacity(organisations.len());
    for o in organisations {
        let id = o.organisation_id()?;
        let region = o.region.clone().unwrap_or_else(|| "unplaced".to_owned());
        places.push((id, Place { name: o.name.clone(), region, municipality: o.municipality.clone() }));
    }
    Geography::new(places).map_err(|e| anyhow::anyhow!("organisations: {e}"))
}
