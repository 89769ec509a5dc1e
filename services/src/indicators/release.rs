//! What may be released of the tallies: aggregates by period and by
//! region, municipality or organisation, with small counts suppressed.
//!
//! The hub takes *finest cells* — a flow's observations per month and
//! organisation within one quarter; the stocks per organisation at one
//! month's end, every stock measure together (they all count open plans or
//! subsets of them) — and groups them into *blocks* whose protected counts
//! (a share's numerator and its complement, the observations behind a
//! median, a count; and the difference of two nested stocks) are each 0 or
//! at least the threshold, merging a small block with the smallest one near
//! it (its month → the quarter, then organisation → municipality → region →
//! country). A cell is released only if it is exactly a union of blocks.
//!
//! A period is released only once it has *settled*: ended (a flow's month:
//! its quarter ended), and `settle_months` more have passed. A flow counts
//! what was recorded by then, so a released value never changes, and
//! neither do its blocks. Any
//! count that can be computed from released cells — alone, within one
//! answer, across answers of any query at any time, across the indicators
//! of a population — is then a sum of whole blocks: 0 or at least the
//! threshold. Finest cells with nothing in them belong to no block, and a
//! suppressed cell does not say why (a "below 5" label next to an "at
//! least 5" one could pin a count down).

use std::collections::{BTreeMap, BTreeSet};

use super::blocks::{Cell, Geo, Tallies, Time, Tree, Universe};
use super::catalogue::{Catalogue, Indicator, Unit as ValueUnit};
use super::{Cells, Measure, Month, Population, Shape};
use crate::domain::{OrganisationId, Timestamp};

/// Where an organisation is, for grouping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Place {
    pub name: String,
    pub region: String,
    pub municipality: Option<String>,
}

/// The region an organisation the hub no longer knows is counted in.
pub const UNREGISTERED: &str = "unregistered";

/// Every organisation's place.
#[derive(Clone, Debug, Default)]
pub struct Geography {
    pub(super) places: BTreeMap<OrganisationId, Place>,
}

impl Geography {
    /// Refuses a municipality placed in two regions.
    pub fn new(places: impl IntoIterator<Item = (OrganisationId, Place)>) -> Result<Self, String> {
        let places: BTreeMap<_, _> = places.into_iter().collect();
        let mut regions = BTreeMap::new();
        for place in places.values() {
            if let Some(municipality) = &place.municipality
                && regions.insert(municipality, &place.region).is_some_and(|r| r != &place.region)
            {
                return Err(format!("municipality {municipality} is placed in two regions"));
            }
        }
        Ok(Self { places })
    }

    /// How many groups an answer grouped by `grouping` has, at most (an
    /// organisation the hub no longer knows may add one).
    pub fn groups(&self, grouping: Grouping) -> usize {
        let distinct =
            |f: &dyn Fn(&Place) -> Option<&String>| self.places.values().filter_map(f).collect::<BTreeSet<_>>().len();
        match grouping {
            Grouping::Country => 1,
            Grouping::Region => distinct(&|p| Some(&p.region)) + 1,
            Grouping::Municipality => distinct(&|p| p.municipality.as_ref()),
            Grouping::Organisation => self.places.len() + 1,
        }
    }

    /// Where `organisation` is (an organisation the hub does not know: in [`UNREGISTERED`]).
    pub fn place(&self, organisation: &OrganisationId) -> Place {
        self.places.get(organisation).cloned().unwrap_or_else(|| Place {
            name: organisation.to_string(),
            region: UNREGISTERED.to_owned(),
            municipality: None,
        })
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Granularity {
    Month,
    Quarter,
    Year,
}

impl Granularity {
    pub fn months(self) -> u32 {
        match self {
            Self::Month => 1,
            Self::Quarter => 3,
            Self::Year => 12,
        }
    }

    /// The period starting at `start`, named as analysts write it.
    pub fn label(self, start: Month) -> String {
        match self {
            Self::Month => start.to_string(),
            Self::Quarter => format!("{}-Q{}", start.year(), (start.month() - 1) / 3 + 1),
            Self::Year => start.year().to_string(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Grouping {
    Country,
    Region,
    Municipality,
    Organisation,
}

/// What an analyst asks for. `from` and `to` are months; the answer has
/// every period of `granularity` that lies wholly between them.
#[derive(Clone, Debug)]
pub struct Query {
    /// Indicator ids; empty for all.
    pub indicators: Vec<String>,
    pub from: Month,
    pub to: Month,
    pub granularity: Granularity,
    pub grouping: Grouping,
}

/// Why a value is not shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Suppression {
    None,
    /// A count in the cell is below the threshold, or could be recomputed
    /// from it (which of the two, it does not say).
    Suppressed,
    /// The period has not settled yet.
    Pending,
}

/// How much may be released, and when.
#[derive(Clone, Copy, Debug)]
pub struct Rules {
    /// The smallest count released.
    pub threshold: i64,
    /// How many months after its end a period settles: its flows count what
    /// was recorded by then, and it is released from then on.
    pub settle_months: u32,
    /// The hub's current month (Danish time).
    pub today: Month,
}

impl Rules {
    /// The rules at the hub's `now`, with a day's grace: an event recorded in
    /// the last moments of a month is durable before the month after it
    /// counts as begun.
    pub fn at(now: Timestamp, threshold: u32, settle_months: u32) -> Self {
        let today = Month::of(Timestamp(now.0 - 86_400_000_000).date());
        Self { threshold: i64::from(threshold), settle_months, today }
    }

    /// Whether the period ending with `end` has settled.
    pub fn settled(&self, end: Month) -> bool {
        self.today.0 > end.0 + self.settle_months
    }
}

/// A group of the answer: the country, a region, a municipality or an organisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Group {
    pub grouping: Grouping,
    pub id: String,
    pub name: String,
}

/// One indicator's value for one period and group.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub indicator: String,
    pub unit: ValueUnit,
    pub period_start: Month,
    pub period: String,
    pub group: Group,
    /// `None` when suppressed, or undefined (nothing to divide by).
    pub value: Option<f64>,
    pub numerator: Option<i64>,
    pub denominator: Option<i64>,
    pub suppression: Suppression,
}

#[derive(Clone, Debug, Default, PartialEq)]
pub struct Table {
    pub rows: Vec<Row>,
}

/// The answer to `query` from `cells`, released by `rules`.
pub fn answer(cells: &Cells, catalogue: &Catalogue, geography: &Geography, query: &Query, rules: Rules) -> Table {
    let tree = Tree::new(geography, cells);
    let groups = tree.groups(query.grouping);
    let mut releases = Releases { cells, tree: &tree, rules, universes: BTreeMap::new() };
    let mut rows = Vec::new();
    for indicator in catalogue.indicators() {
        if !query.indicators.is_empty() && !query.indicators.contains(&indicator.id) {
            continue;
        }
        for start in periods(query.from, query.to, query.granularity) {
            for (group, node) in &groups {
                rows.push(releases.row(indicator, start, query.granularity, group, *node));
            }
        }
    }
    Table { rows }
}

/// The starts of the periods of `granularity` wholly between `from` and `to`.
pub fn periods(from: Month, to: Month, granularity: Granularity) -> impl Iterator<Item = Month> {
    let size = granularity.months();
    (from.0..=to.0).filter(move |m| m % size == 0 && m + size - 1 <= to.0).map(Month)
}

/// The universes of one answer, each built once.
struct Releases<'a> {
    cells: &'a Cells,
    tree: &'a Tree,
    rules: Rules,
    /// A flow's universe per quarter, the stocks' per month's end.
    universes: BTreeMap<(Population, Month), Universe>,
}

impl Releases<'_> {
    /// The universe of `population` from `first`: a flow's quarter (its
    /// observations dated in each of its months, as recorded by the time the
    /// quarter settled), or the stocks at the end of the month `first`.
    fn universe(&mut self, population: Population, first: Month) -> &Universe {
        let (cells, tree, rules) = (self.cells, self.tree, self.rules);
        self.universes.entry((population, first)).or_insert_with(|| {
            let stocks = population.shape() == Shape::Stock;
            let last = if stocks { first } else { first.plus(2) };
            let recorded_by = last.0 + rules.settle_months;
            let mut finest: BTreeMap<(u8, usize), Cell> = BTreeMap::new();
            for measure in cells.measures().filter(|m| m.population() == population) {
                for ((dated, recorded, organisation, series), value) in cells.of(measure) {
                    let month = match stocks {
                        true if *dated <= first => 0,
                        false if (first..=last).contains(dated) => (dated.0 - first.0) as u8,
                        _ => continue,
                    };
                    if recorded.0 <= recorded_by {
                        let cell = finest.entry((month, tree.index[organisation])).or_default();
                        cell.entry(measure).or_default().add(*series, value);
                    }
                }
            }
            Universe::new(population, finest, tree, rules.threshold)
        })
    }

    /// What may be released of `measure` for the period of `granularity`
    /// from `start` in `geo`: its sum, or why not. A flow's months are
    /// released with their quarter; a stock stands at the period's end.
    fn release(
        &mut self,
        measure: Measure,
        start: Month,
        granularity: Granularity,
        geo: Geo,
    ) -> (Tallies, Suppression) {
        let end = start.plus(granularity.months() - 1);
        let (tree, population) = (self.tree, measure.population());
        let parts: Vec<(Month, Time)> = match (measure.shape(), granularity) {
            (Shape::Stock, _) => vec![(end, Time::All)],
            (Shape::Flow, Granularity::Month) => {
                let quarter = Month(start.0 - start.0 % 3);
                vec![(quarter, Time::Month((start.0 - quarter.0) as u8))]
            }
            (Shape::Flow, _) => (start.0..=end.0).step_by(3).map(|q| (Month(q), Time::All)).collect(),
        };
        let settles = match measure.shape() {
            Shape::Stock => end,
            Shape::Flow => parts.last().map_or(end, |(quarter, _)| quarter.plus(2)),
        };
        if !self.rules.settled(settles) {
            return (Tallies::default(), Suppression::Pending);
        }
        let (mut total, mut released) = (Tallies::default(), true);
        for (first, time) in parts {
            let (tallies, whole) = self.universe(population, first).release(measure, time, geo, tree);
            total.merge(&tallies);
            released &= whole;
        }
        (total, if released { Suppression::None } else { Suppression::Suppressed })
    }

    fn row(&mut self, indicator: &Indicator, start: Month, granularity: Granularity, group: &Group, geo: Geo) -> Row {
        let (tallies, suppression) = self.release(indicator.measure, start, granularity, geo);
        let mut row = Row {
            indicator: indicator.id.clone(),
            unit: indicator.unit,
            period_start: start,
            period: granularity.label(start),
            group: group.clone(),
            value: None,
            numerator: None,
            denominator: None,
            suppression,
        };
        // A rate per 1,000 plans needs its denominator, the open plans, released too.
        let plans = (indicator.unit == ValueUnit::Per1000Plans)
            .then(|| self.release(Measure::LegalPlans, start, granularity, geo));
        if let Some((_, plans_suppressed)) = plans
            && row.suppression == Suppression::None
        {
            row.suppression = plans_suppressed;
        }
        if row.suppression != Suppression::None {
            return row;
        }
        let ratio = |num: i64, den: i64| (den > 0).then(|| num as f64 / den as f64);
        match indicator.unit {
            // Contact persons per citizen comes without its counts: the plans with a contact
            // person less the open plans (not nested) would be a count the blocks do not protect.
            // Rounded to a tenth, so that its exact fraction does not give the plans back: of
            // 10 plans or more, every number of plans fits the value shown.
            ValueUnit::PerCitizen if indicator.measure == Measure::ContactPersons => {
                row.value = ratio(tallies.num, tallies.den).map(|r| (r * 10.0).round() / 10.0);
            }
            ValueUnit::Share | ValueUnit::PerCitizen => {
                (row.numerator, row.denominator) = (Some(tallies.num), Some(tallies.den));
                row.value = ratio(tallies.num, tallies.den);
            }
            // A wait comes without its number of observations: less the clocks met, that
            // would be a count of late ones the blocks do not protect.
            ValueUnit::DaysMedian => row.value = nearest_rank(&tallies.days, 0.5).map(f64::from),
            // Of fewer than twice the threshold, the 90th percentile is one of the last few: one person's wait.
            ValueUnit::DaysP90 if tallies.observations() < 2 * self.rules.threshold && tallies.observations() > 0 => {
                row.suppression = Suppression::Suppressed;
            }
            ValueUnit::DaysP90 => row.value = nearest_rank(&tallies.days, 0.9).map(f64::from),
            ValueUnit::Count => {
                row.numerator = Some(tallies.num);
                row.value = Some(tallies.num as f64);
            }
            ValueUnit::Per1000Plans => {
                let plans = plans.map_or(0, |(plans, _)| plans.den);
                (row.numerator, row.denominator) = (Some(tallies.num), Some(plans));
                row.value = (plans > 0).then(|| 1000.0 * tallies.num as f64 / plans as f64);
            }
        }
        row
    }
}

/// The nearest-rank percentile of a distribution: the smallest value with
/// at least `rank` of the observations at or below it.
fn nearest_rank(days: &BTreeMap<u16, i64>, rank: f64) -> Option<u16> {
    let n: i64 = days.values().sum();
    if n <= 0 {
        return None;
    }
    let wanted = ((rank * n as f64).ceil() as i64).max(1);
    let mut seen = 0;
    days.iter()
        .find(|(_, count)| {
            seen += **count;
            seen >= wanted
        })
        .map(|(d, _)| *d)
}
