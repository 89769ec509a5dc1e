//! IndicatorService messages to and from the indicators' types.

use samplan_proto::v1 as pb;

use super::request::Fields;
use crate::domain::DomainError;
use crate::error::Error;
use crate::indicators::{Catalogue, Geography, Granularity, Grouping, Indicator, Month, Query, Row, Suppression, Unit};

/// The most values one answer holds: ask for fewer indicators, coarser
/// periods or a shorter range beyond it.
pub const MAX_VALUES: usize = 50_000;

enum_map!(granularity_from, granularity_to, pb::PeriodGranularity, Granularity, {
    Month => Month, Quarter => Quarter, Year => Year,
});
enum_map!(grouping_from, grouping_to, pb::IndicatorGrouping, Grouping, {
    Country => Country, Region => Region, Municipality => Municipality, Organisation => Organisation,
});
enum_map!(unit_from, unit_to, pb::IndicatorUnit, Unit, {
    Share => Share, DaysMedian => DaysMedian, DaysP90 => DaysP90, Count => Count, PerCitizen => PerCitizen,
    Per1000Plans => Per1000Plans,
});
enum_map!(suppression_from, suppression_to, pb::Suppression, Suppression, {
    None => None, Suppressed => Suppressed, Pending => Pending,
});

/// The query a request asks, or every field that is wrong with it.
pub fn indicator_query(
    request: &pb::QueryIndicatorsRequest,
    catalogue: &Catalogue,
    geography: &Geography,
) -> Result<Query, Error> {
    let mut fields = Fields::default();
    if request.indicator_ids.len() > catalogue.indicators().len() {
        fields.add("indicator_ids", "names more indicators than the catalogue has");
    }
    for (i, id) in request.indicator_ids.iter().enumerate().take(catalogue.indicators().len() + 1) {
        if catalogue.get(id).is_none() {
            fields.add(&format!("indicator_ids[{i}]"), "names no indicator of the catalogue (ListIndicators)");
        } else if request.indicator_ids[..i].contains(id) {
            fields.add(&format!("indicator_ids[{i}]"), "names an indicator already asked for");
        }
    }
    let from = fields.take(month("from_month", &request.from_month));
    let to = fields.take(month("to_month", &request.to_month));
    let granularity = fields.take(
        granularity_from("granularity", request.granularity)
            .map_err(|_| DomainError::invalid("granularity", "must be MONTH, QUARTER or YEAR")),
    );
    let grouping =
        fields
            .take(grouping_from("grouping", request.grouping).map_err(|_| {
                DomainError::invalid("grouping", "must be COUNTRY, REGION, MUNICIPALITY or ORGANISATION")
            }));
    let (Some(from), Some(to), Some(granularity), Some(grouping)) = (from, to, granularity, grouping) else {
        fields.finish()?;
        return Err(Error::invalid("granularity", "is incomplete"));
    };
    let periods = crate::indicators::periods(from, to, granularity).count();
    if periods == 0 {
        let whole = granularity_name(granularity);
        fields.add("to_month", format!("the range from from_month to to_month holds no whole {whole}"));
    }
    let indicators =
        if request.indicator_ids.is_empty() { catalogue.indicators().len() } else { request.indicator_ids.len() };
    if periods * geography.groups(grouping) * indicators > MAX_VALUES {
        fields.add(
            "to_month",
            format!(
                "the answer would hold more than {MAX_VALUES} values: ask for fewer indicators, longer periods or a shorter range"
            ),
        );
    }
    fields.finish()?;
    Ok(Query { indicators: request.indicator_ids.clone(), from, to, granularity, grouping })
}

/// How the audit log names a query: its parameters, never its answer.
pub fn query_detail(query: &Query) -> String {
    let indicators = if query.indicators.is_empty() { "all".to_owned() } else { query.indicators.join(",") };
    format!(
        "from={} to={} granularity={} grouping={:?} indicators={indicators}",
        query.from,
        query.to,
        granularity_name(query.granularity),
        query.grouping
    )
}

fn granularity_name(granularity: Granularity) -> &'static str {
    match granularity {
        Granularity::Month => "month",
        Granularity::Quarter => "quarter",
        Granularity::Year => "year",
    }
}

/// `YYYY-MM`.
fn month(field: &'static str, text: &str) -> Result<Month, DomainError> {
    let parsed = text.split_once('-').and_then(|(year, month)| {
        if year.len() != 4 || month.len() != 2 {
            return None;
        }
        Month::new(year.parse().ok()?, month.parse().ok()?)
    });
    parsed.ok_or_else(|| DomainError::invalid(field, "must be a month as YYYY-MM"))
}

pub fn indicator_definition(indicator: &Indicator) -> pb::IndicatorDefinition {
    pb::IndicatorDefinition {
        id: indicator.id.clone(),
        title: indicator.title.clone(),
        unit: unit_to(indicator.unit),
        numerator: indicator.numerator.clone(),
        denominator: indicator.denominator.clone(),
        counts: indicator.counts.clone(),
        period: indicator.period.clone(),
        attributed_to: indicator.attributed_to.clone(),
        source: indicator.source.clone(),
    }
}

pub fn indicator_value(row: Row, granularity: Granularity) -> pb::IndicatorValue {
    let end = row.period_start.plus(granularity.months() - 1);
    pb::IndicatorValue {
        indicator_id: row.indicator,
        unit: unit_to(row.unit),
        period: row.period,
        period_start: row.period_start.first_day().to_string(),
        period_end: end.last_day().to_string(),
        grouping: grouping_to(row.group.grouping),
        group_id: row.group.id,
        group_name: row.group.name,
        value: row.value,
        numerator: row.numerator,
        denominator: row.denominator,
        suppression: suppression_to(row.suppression),
    }
}
