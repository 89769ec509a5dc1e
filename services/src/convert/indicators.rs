//! IndicatorService messages to and from the indicators' types.

use samplan_proto::v1 as pb;

use crate::error::{Error, FieldViolation};
use crate::indicators::{Catalogue, Granularity, Grouping, Indicator, Month, Query, Row, Suppression, Unit};

/// The most values one answer holds: ask for fewer indicators, coarser
/// periods or a shorter range beyond it.
pub const MAX_VALUES: usize = 50_000;

/// The query a request asks, or every field that is wrong with it.
pub fn indicator_query(
    request: &pb::QueryIndicatorsRequest,
    catalogue: &Catalogue,
    groups: usize,
) -> Result<Query, Error> {
    let mut violations = Vec::new();
    let mut violation = |field: String, description: String| {
        violations.push(FieldViolation { field: field.into(), description: description.into() });
    };
    if request.indicator_ids.len() > catalogue.indicators().len() {
        violation("indicator_ids".into(), "names more indicators than the catalogue has".into());
    }
    for (i, id) in request.indicator_ids.iter().enumerate().take(catalogue.indicators().len() + 1) {
        if catalogue.get(id).is_none() {
            violation(format!("indicator_ids[{i}]"), "names no indicator of the catalogue (ListIndicators)".into());
        } else if request.indicator_ids[..i].contains(id) {
            violation(format!("indicator_ids[{i}]"), "names an indicator already asked for".into());
        }
    }
    let from = month(&request.from_month);
    let to = month(&request.to_month);
    if from.is_none() {
        violation("from_month".into(), "must be a month as YYYY-MM".into());
    }
    if to.is_none() {
        violation("to_month".into(), "must be a month as YYYY-MM".into());
    }
    let granularity = match pb::PeriodGranularity::try_from(request.granularity) {
        Ok(pb::PeriodGranularity::Month) => Some(Granularity::Month),
        Ok(pb::PeriodGranularity::Quarter) => Some(Granularity::Quarter),
        Ok(pb::PeriodGranularity::Year) => Some(Granularity::Year),
        _ => None,
    };
    if granularity.is_none() {
        violation("granularity".into(), "must be MONTH, QUARTER or YEAR".into());
    }
    let grouping = pb::IndicatorGrouping::try_from(request.grouping)
        .ok()
        .filter(|g| *g != pb::IndicatorGrouping::Unspecified)
        .map(indicator_grouping);
    if grouping.is_none() {
        violation("grouping".into(), "must be COUNTRY, REGION, MUNICIPALITY or ORGANISATION".into());
    }
    let (Some(from), Some(to), Some(granularity), Some(grouping)) = (from, to, granularity, grouping) else {
        return Err(Error::InvalidRequest(violations));
    };
    let periods = crate::indicators::periods(from, to, granularity).count();
    if periods == 0 {
        violation(
            "to_month".into(),
            format!("the range from from_month to to_month holds no whole {}", granularity_name(granularity)),
        );
    }
    let indicators =
        if request.indicator_ids.is_empty() { catalogue.indicators().len() } else { request.indicator_ids.len() };
    if periods * groups * indicators > MAX_VALUES {
        violation(
            "to_month".into(),
            format!(
                "the answer would hold more than {MAX_VALUES} values: ask for fewer indicators, longer periods or a shorter range"
            ),
        );
    }
    if !violations.is_empty() {
        return Err(Error::InvalidRequest(violations));
    }
    Ok(Query { indicators: request.indicator_ids.clone(), from, to, granularity, grouping })
}

/// A grouping other than UNSPECIFIED.
pub fn indicator_grouping(grouping: pb::IndicatorGrouping) -> Grouping {
    match grouping {
        pb::IndicatorGrouping::Unspecified | pb::IndicatorGrouping::Country => Grouping::Country,
        pb::IndicatorGrouping::Region => Grouping::Region,
        pb::IndicatorGrouping::Municipality => Grouping::Municipality,
        pb::IndicatorGrouping::Organisation => Grouping::Organisation,
    }
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
fn month(text: &str) -> Option<Month> {
    let (year, month) = text.split_once('-')?;
    if year.len() != 4 || month.len() != 2 {
        return None;
    }
    Month::new(year.parse().ok()?, month.parse().ok()?)
}

fn unit(unit: Unit) -> pb::IndicatorUnit {
    match unit {
        Unit::Share => pb::IndicatorUnit::Share,
        Unit::DaysMedian => pb::IndicatorUnit::DaysMedian,
        Unit::DaysP90 => pb::IndicatorUnit::DaysP90,
        Unit::Count => pb::IndicatorUnit::Count,
        Unit::PerCitizen => pb::IndicatorUnit::PerCitizen,
        Unit::Per1000Plans => pb::IndicatorUnit::Per1000Plans,
    }
}

pub fn indicator_definition(indicator: &Indicator) -> pb::IndicatorDefinition {
    pb::IndicatorDefinition {
        id: indicator.id.clone(),
        title: indicator.title.clone(),
        unit: unit(indicator.unit) as i32,
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
    let grouping = match row.group.grouping {
        Grouping::Country => pb::IndicatorGrouping::Country,
        Grouping::Region => pb::IndicatorGrouping::Region,
        Grouping::Municipality => pb::IndicatorGrouping::Municipality,
        Grouping::Organisation => pb::IndicatorGrouping::Organisation,
    };
    let suppression = match row.suppression {
        Suppression::None => pb::Suppression::None,
        Suppression::Suppressed => pb::Suppression::Suppressed,
        Suppression::Pending => pb::Suppression::Pending,
    };
    pb::IndicatorValue {
        indicator_id: row.indicator,
        unit: unit(row.unit) as i32,
        period: row.period,
        period_start: row.period_start.first_day().to_string(),
        period_end: end.last_day().to_string(),
        grouping: grouping as i32,
        group_id: row.group.id,
        group_name: row.group.name,
        value: row.value,
        numerator: row.numerator,
        denominator: row.denominator,
        suppression: suppression as i32,
    }
}
