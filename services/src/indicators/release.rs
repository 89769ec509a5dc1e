//! What may be released of the tallies: aggregates by period and by
//! region, municipality or organisation, with small counts suppressed.
//!
//! Every released cell is a sum of *finest cells* (a month and an
//! organisation; for a stock, an organisation at one month's end). Before
//! answering, the finest cells of a whole year (a stock: of one month's end)
//! and every organisation are grouped into *blocks* whose protected counts
//! (a share's numerator and its complement, the number of observations of a
//! distribution, a count) are each at least the threshold, merging a small
//! block with its nearest neighbour in the hierarchy (month → quarter →
//! year, then organisation → municipality → region → country). A cell is
//! released only if it is exactly a union of blocks. Any count that can be
//! computed from released cells — alone, within one answer or across any
//! number of answers — is then a sum of whole blocks, so it is 0 or at
//! least the threshold: the blocks depend on the tallies only, never on the
//! query. Finest cells with nothing in them belong to no block.

use std::collections::{BTreeMap, BTreeSet};

use super::catalogue::{Catalogue, Indicator, Unit as ValueUnit};
use super::{Cells, Measure, Month, Series, Shape};
use crate::domain::OrganisationId;

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
    places: BTreeMap<OrganisationId, Place>,
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
    /// A count in the cell is below the threshold.
    SmallCount,
    /// The cell's counts are large enough, but a small count elsewhere could
    /// be recomputed from it.
    Complementary,
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

/// The answer to `query` from `cells`, releasing only counts of at least `threshold`.
pub fn answer(cells: &Cells, catalogue: &Catalogue, geography: &Geography, query: &Query, threshold: i64) -> Table {
    let tree = Tree::new(geography, cells);
    let periods = periods(query);
    let groups = tree.groups(query.grouping);
    let mut releases = Releases { cells, tree: &tree, threshold, flows: BTreeMap::new(), stocks: BTreeMap::new() };
    let mut rows = Vec::new();
    for indicator in catalogue.indicators() {
        if !query.indicators.is_empty() && !query.indicators.contains(&indicator.id) {
            continue;
        }
        for &start in &periods {
            for (group, node) in &groups {
                rows.push(releases.row(indicator, start, query.granularity, group, *node));
            }
        }
    }
    Table { rows }
}

/// The starts of the periods of `query`.
fn periods(query: &Query) -> Vec<Month> {
    let size = query.granularity.months();
    (query.from.0..=query.to.0).filter(|m| m % size == 0 && m + size - 1 <= query.to.0).map(Month).collect()
}

/// The organisations, numbered, with their municipality and region.
struct Tree {
    organisations: Vec<(OrganisationId, Place)>,
    index: BTreeMap<OrganisationId, usize>,
    regions: Vec<String>,
    municipalities: Vec<String>,
    /// Per organisation: its region's and municipality's number.
    region_of: Vec<usize>,
    municipality_of: Vec<Option<usize>>,
}

impl Tree {
    fn new(geography: &Geography, cells: &Cells) -> Self {
        let mut ids: BTreeSet<OrganisationId> = geography.places.keys().cloned().collect();
        for cells in cells.0.values() {
            ids.extend(cells.keys().map(|(_, organisation, _)| organisation.clone()));
        }
        let organisations: Vec<_> = ids.into_iter().map(|id| (id.clone(), geography.place(&id))).collect();
        let regions: Vec<String> =
            organisations.iter().map(|(_, p)| p.region.clone()).collect::<BTreeSet<_>>().into_iter().collect();
        let municipalities: Vec<String> = organisations
            .iter()
            .filter_map(|(_, p)| p.municipality.clone())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let position = |list: &[String], name: &str| list.iter().position(|n| n == name).unwrap_or(0);
        let region_of = organisations.iter().map(|(_, p)| position(&regions, &p.region)).collect();
        let municipality_of =
            organisations.iter().map(|(_, p)| p.municipality.as_ref().map(|m| position(&municipalities, m))).collect();
        let index = organisations.iter().enumerate().map(|(i, (id, _))| (id.clone(), i)).collect();
        Self { organisations, index, regions, municipalities, region_of, municipality_of }
    }

    fn groups(&self, grouping: Grouping) -> Vec<(Group, Geo)> {
        let group = |id: &str, name: &str| Group { grouping, id: id.to_owned(), name: name.to_owned() };
        match grouping {
            Grouping::Country => vec![(group("DK", "Denmark"), Geo::Country)],
            Grouping::Region => self.regions.iter().enumerate().map(|(i, r)| (group(r, r), Geo::Region(i))).collect(),
            Grouping::Municipality => {
                self.municipalities.iter().enumerate().map(|(i, m)| (group(m, m), Geo::Municipality(i))).collect()
            }
            Grouping::Organisation => self
                .organisations
                .iter()
                .enumerate()
                .map(|(i, (id, place))| (group(id.as_str(), &place.name), Geo::Organisation(i)))
                .collect(),
        }
    }

    fn contains(&self, geo: Geo, organisation: usize) -> bool {
        match geo {
            Geo::Country => true,
            Geo::Region(r) => self.region_of[organisation] == r,
            Geo::Municipality(m) => self.municipality_of[organisation] == Some(m),
            Geo::Organisation(o) => o == organisation,
        }
    }

    /// The smallest node holding every one of `organisations`, and those above it.
    fn chain(&self, organisations: &BTreeSet<usize>) -> Vec<Geo> {
        let first = *organisations.iter().next().unwrap_or(&0);
        let mut chain = vec![Geo::Organisation(first)];
        if let Some(m) = self.municipality_of[first] {
            chain.push(Geo::Municipality(m));
        }
        chain.push(Geo::Region(self.region_of[first]));
        chain.push(Geo::Country);
        let smallest = chain.iter().position(|g| organisations.iter().all(|o| self.contains(*g, *o))).unwrap_or(3);
        chain.split_off(smallest)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Geo {
    Country,
    Region(usize),
    Municipality(usize),
    Organisation(usize),
}

/// A set of months of one year: `Month(i)`, a quarter, or the year.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Time {
    Month(u8),
    Quarter(u8),
    Year,
}

impl Time {
    fn contains(self, month: u8) -> bool {
        match self {
            Self::Month(m) => m == month,
            Self::Quarter(q) => month / 3 == q,
            Self::Year => true,
        }
    }

    fn chain(months: &BTreeSet<u8>) -> Vec<Time> {
        let first = *months.iter().next().unwrap_or(&0);
        let chain = [Time::Month(first), Time::Quarter(first / 3), Time::Year];
        let smallest = chain.iter().position(|t| months.iter().all(|m| t.contains(*m))).unwrap_or(2);
        chain[smallest..].to_vec()
    }
}

/// A finest cell's tallies.
#[derive(Clone, Debug, Default, PartialEq)]
struct Tallies {
    num: i64,
    den: i64,
    days: BTreeMap<u16, i64>,
}

impl Tallies {
    fn add(&mut self, series: Series, value: i64) {
        match series {
            Series::Num => self.num += value,
            Series::Den => self.den += value,
            Series::Days(d) => *self.days.entry(d).or_insert(0) += value,
        }
    }

    fn merge(&mut self, other: &Tallies) {
        self.num += other.num;
        self.den += other.den;
        for (d, n) in &other.days {
            *self.days.entry(*d).or_insert(0) += n;
        }
    }

    fn observations(&self) -> i64 {
        self.days.values().sum()
    }
}

/// The counts of a measure's cell that are protected (the first `n` of
/// the array): each must be at least the threshold, or all of them 0 (the
/// cell holds nothing). A share's numerator *and* its complement are
/// protected: "all of them met" is as telling as "one of them missed".
fn protected(measure: Measure, t: &Tallies) -> ([i64; 2], usize) {
    use Measure as M;
    match measure {
        M::ClockMetInTime(_)
        | M::NetworkMeetingInTime
        | M::CoordinatorOffered
        | M::IndsatsplanAgreed
        | M::IndsatsplanMeetingOverdue => ([t.num, t.den - t.num], 2),
        M::DaysToAssessment | M::DaysToTreatment => ([t.observations(), 0], 1),
        // The citizens, and the contact persons beyond each one's first.
        M::ContactPersons => ([t.den, t.num - t.den], 2),
        M::LegalPlans => ([t.den, t.num], 2),
        M::ConsentsWithdrawn | M::EmergencyAccesses | M::OpenPlans => ([t.num, 0], 1),
    }
}

fn is_empty(measure: Measure, t: &Tallies) -> bool {
    let (counts, n) = protected(measure, t);
    counts[..n].iter().all(|c| *c == 0)
}

fn is_safe(measure: Measure, t: &Tallies, threshold: i64) -> bool {
    let (counts, n) = protected(measure, t);
    counts[..n].iter().all(|c| *c >= threshold)
}

/// The finest cells of one year (a flow) or one month's end (a stock), and their blocks.
struct Universe {
    measure: Measure,
    threshold: i64,
    /// (month of the year, organisation, tallies), nonempty ones only.
    cells: Vec<(u8, usize, Tallies)>,
    block_of: Vec<usize>,
    blocks: Vec<Block>,
}

#[derive(Clone, Debug, Default)]
struct Block {
    cells: Vec<usize>,
    total: Tallies,
    live: bool,
    safe: bool,
}

impl Universe {
    fn new(measure: Measure, finest: BTreeMap<(u8, usize), Tallies>, tree: &Tree, threshold: i64) -> Self {
        let cells: Vec<_> =
            finest.into_iter().filter(|(_, t)| !is_empty(measure, t)).map(|((m, o), t)| (m, o, t)).collect();
        let blocks = cells
            .iter()
            .enumerate()
            .map(|(i, (_, _, t))| Block {
                cells: vec![i],
                total: t.clone(),
                live: true,
                safe: is_safe(measure, t, threshold),
            })
            .collect();
        let mut universe = Self { measure, threshold, block_of: (0..cells.len()).collect(), cells, blocks };
        universe.merge_small(tree);
        universe
    }

    /// Merges each block below the threshold with the smallest block near
    /// it, until every block is safe or one is left.
    fn merge_small(&mut self, tree: &Tree) {
        while let Some(small) = self.blocks.iter().position(|b| b.live && !b.safe) {
            let Some(other) = self.neighbour(small, tree) else { return };
            let absorbed = std::mem::take(&mut self.blocks[other]);
            for cell in &absorbed.cells {
                self.block_of[*cell] = small;
            }
            let block = &mut self.blocks[small];
            block.cells.extend(absorbed.cells);
            block.total.merge(&absorbed.total);
            block.safe = is_safe(self.measure, &block.total, self.threshold);
        }
    }

    /// The block to merge `small` with: in the smallest hierarchy node
    /// around it that holds another, the one with the smallest counts.
    fn neighbour(&self, small: usize, tree: &Tree) -> Option<usize> {
        let cells = &self.blocks[small].cells;
        let months: BTreeSet<u8> = cells.iter().map(|c| self.cells[*c].0).collect();
        let organisations: BTreeSet<usize> = cells.iter().map(|c| self.cells[*c].1).collect();
        let times = Time::chain(&months);
        let geos = tree.chain(&organisations);
        let nodes = times.iter().map(|t| (*t, geos[0])).chain(geos[1..].iter().map(|g| (Time::Year, *g)));
        for (time, geo) in nodes {
            let candidates: BTreeSet<usize> = self
                .cells
                .iter()
                .enumerate()
                .filter(|(_, (m, o, _))| time.contains(*m) && tree.contains(geo, *o))
                .map(|(i, _)| self.block_of[i])
                .filter(|b| *b != small)
                .collect();
            let smallest = candidates.into_iter().min_by_key(|b| {
                let (counts, _) = protected(self.measure, &self.blocks[*b].total);
                (counts[0] + counts[1], *b)
            });
            if smallest.is_some() {
                return smallest;
            }
        }
        None
    }

    /// The sum over the cells in `time` and `geo`, if it may be released.
    fn release(&self, time: Time, geo: Geo, tree: &Tree) -> (Tallies, Suppression) {
        let inside = |c: usize| time.contains(self.cells[c].0) && tree.contains(geo, self.cells[c].1);
        let mut total = Tallies::default();
        let mut whole = true;
        for (i, (_, _, tallies)) in self.cells.iter().enumerate().filter(|(i, _)| inside(*i)) {
            total.merge(tallies);
            let block = &self.blocks[self.block_of[i]];
            whole &= block.safe && block.cells.iter().all(|c| inside(*c));
        }
        let suppression = if whole || is_empty(self.measure, &total) {
            Suppression::None
        } else if is_safe(self.measure, &total, self.threshold) {
            Suppression::Complementary
        } else {
            Suppression::SmallCount
        };
        (total, suppression)
    }
}

/// The universes of one answer, each built once.
struct Releases<'a> {
    cells: &'a Cells,
    tree: &'a Tree,
    threshold: i64,
    /// A flow's universe per year.
    flows: BTreeMap<(Measure, i32), Universe>,
    /// A stock's universe per month's end.
    stocks: BTreeMap<(Measure, Month), Universe>,
}

impl Releases<'_> {
    /// What may be released of `measure` for the period of `granularity`
    /// from `start` in `geo`: its sum, or why not.
    fn release(
        &mut self,
        measure: Measure,
        start: Month,
        granularity: Granularity,
        geo: Geo,
    ) -> (Tallies, Suppression) {
        let (cells, tree, threshold) = (self.cells, self.tree, self.threshold);
        match measure.shape() {
            Shape::Flow => {
                let year = start.year();
                let universe = self.flows.entry((measure, year)).or_insert_with(|| {
                    let mut finest: BTreeMap<(u8, usize), Tallies> = BTreeMap::new();
                    for ((month, organisation, series), value) in cells.of(measure) {
                        if month.year() == year {
                            let key = ((month.month() - 1) as u8, tree.index[organisation]);
                            finest.entry(key).or_default().add(*series, value);
                        }
                    }
                    Universe::new(measure, finest, tree, threshold)
                });
                let first = (start.month() - 1) as u8;
                let time = match granularity {
                    Granularity::Month => Time::Month(first),
                    Granularity::Quarter => Time::Quarter(first / 3),
                    Granularity::Year => Time::Year,
                };
                universe.release(time, geo, tree)
            }
            Shape::Stock => {
                let end = start.plus(granularity.months() - 1);
                let universe = self.stocks.entry((measure, end)).or_insert_with(|| {
                    let mut finest: BTreeMap<(u8, usize), Tallies> = BTreeMap::new();
                    for ((month, organisation, series), value) in cells.of(measure) {
                        if *month <= end {
                            finest.entry((0, tree.index[organisation])).or_default().add(*series, value);
                        }
                    }
                    Universe::new(measure, finest, tree, threshold)
                });
                universe.release(Time::Year, geo, tree)
            }
        }
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
        if indicator.unit == ValueUnit::Per1000Plans {
            let (plans, plans_suppressed) = self.release(Measure::OpenPlans, start, granularity, geo);
            if row.suppression == Suppression::None {
                row.suppression = plans_suppressed;
            }
            if row.suppression == Suppression::None {
                row.numerator = Some(tallies.num);
                row.denominator = Some(plans.num);
                row.value = (plans.num > 0).then(|| 1000.0 * tallies.num as f64 / plans.num as f64);
            }
            return row;
        }
        if suppression != Suppression::None {
            return row;
        }
        let ratio = |num: i64, den: i64| (den > 0).then(|| num as f64 / den as f64);
        match indicator.unit {
            ValueUnit::Share | ValueUnit::PerCitizen => {
                (row.numerator, row.denominator) = (Some(tallies.num), Some(tallies.den));
                row.value = ratio(tallies.num, tallies.den);
            }
            ValueUnit::DaysMedian | ValueUnit::DaysP90 => {
                let rank = if indicator.unit == ValueUnit::DaysMedian { 0.5 } else { 0.9 };
                row.denominator = Some(tallies.observations());
                row.value = nearest_rank(&tallies.days, rank).map(f64::from);
            }
            ValueUnit::Count => {
                row.numerator = Some(tallies.num);
                row.value = Some(tallies.num as f64);
            }
            ValueUnit::Per1000Plans => {}
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
