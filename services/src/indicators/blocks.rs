//! One quarter of a flow, or one month's end of the stocks: a finest cell
//! per month and organisation (every member measure's tallies), grouped into
//! blocks whose protected counts each reach the threshold (see
//! [`super::release`] for why that is enough), and the organisations'
//! hierarchy the grouping follows.

use std::collections::{BTreeMap, BTreeSet};

use super::release::{Geography, Group, Grouping, Place};
use super::{Cells, Measure, Population, Series};
use crate::domain::OrganisationId;

/// The organisations, numbered, with their municipality and region.
pub(super) struct Tree {
    organisations: Vec<(OrganisationId, Place)>,
    pub(super) index: BTreeMap<OrganisationId, usize>,
    regions: Vec<String>,
    municipalities: Vec<String>,
    /// Per organisation: its region's and municipality's number.
    region_of: Vec<usize>,
    municipality_of: Vec<Option<usize>>,
}

impl Tree {
    pub(super) fn new(geography: &Geography, cells: &Cells) -> Self {
        let mut ids: BTreeSet<OrganisationId> = geography.places.keys().cloned().collect();
        for cells in cells.0.values() {
            ids.extend(cells.keys().map(|(_, _, organisation, _)| organisation.clone()));
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

    pub(super) fn groups(&self, grouping: Grouping) -> Vec<(Group, Geo)> {
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

/// Months of a universe: one of them (0, 1, 2), or all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Time {
    Month(u8),
    All,
}

impl Time {
    fn contains(self, month: u8) -> bool {
        self == Time::All || self == Time::Month(month)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Geo {
    Country,
    Region(usize),
    Municipality(usize),
    Organisation(usize),
}

/// One measure's tallies in a cell.
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Tallies {
    pub(super) num: i64,
    pub(super) den: i64,
    pub(super) days: BTreeMap<u16, i64>,
}

impl Tallies {
    pub(super) fn add(&mut self, series: Series, value: i64) {
        match series {
            Series::Num => self.num += value,
            Series::Den => self.den += value,
            Series::Days(d) => *self.days.entry(d).or_insert(0) += value,
        }
    }

    pub(super) fn merge(&mut self, other: &Tallies) {
        self.num += other.num;
        self.den += other.den;
        for (d, n) in &other.days {
            *self.days.entry(*d).or_insert(0) += n;
        }
    }

    pub(super) fn observations(&self) -> i64 {
        self.days.values().sum()
    }
}

/// A cell: each member measure's tallies.
pub(super) type Cell = BTreeMap<Measure, Tallies>;

fn merge(into: &mut Cell, other: &Cell) {
    for (measure, tallies) in other {
        into.entry(*measure).or_default().merge(tallies);
    }
}

/// The counts of a measure's cell that are protected (the first `n` of
/// the array): each must be at least the threshold, or all of them 0 (the
/// cell holds nothing of it). A share's numerator *and* its complement are
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
        M::ConsentsWithdrawn | M::EmergencyAccesses => ([t.num, 0], 1),
    }
}

/// Whether `t` holds nothing of `measure`.
pub(super) fn is_empty(measure: Measure, t: &Tallies) -> bool {
    let (counts, n) = protected(measure, t);
    counts[..n].iter().all(|c| *c == 0)
}

/// Whether `cell`'s counts of `measure` are all at least `threshold`, or
/// all 0 (it holds nothing of it).
fn measure_safe(measure: Measure, cell: &Cell, threshold: i64) -> bool {
    let Some(t) = cell.get(&measure) else { return true };
    let (counts, n) = protected(measure, t);
    counts[..n].iter().all(|c| *c == 0) || counts[..n].iter().all(|c| *c >= threshold)
}

/// The sets of plans the plans' stocks count, and what a released count of
/// one, less one of another, gives (each nested in the other): the open
/// plans, the dual-diagnosis citizens', those with an indsatsplan; the open
/// plans of citizens without a dual diagnosis, the dual-diagnosis citizens
/// without an indsatsplan, those with one not agreed. Each must be 0 or at
/// least the threshold; being counts of plans, they add up over blocks.
fn plan_sets(population: Population, cell: &Cell) -> Vec<i64> {
    if population != Population::Plans {
        return Vec::new();
    }
    let get = |m: Measure| cell.get(&m).cloned().unwrap_or_default();
    let (open, dual) = (get(Measure::LegalPlans).den, get(Measure::IndsatsplanAgreed));
    let with = get(Measure::IndsatsplanMeetingOverdue).den;
    vec![open, dual.den, with, open - dual.den, dual.den - with, with - dual.num]
}

/// Whether a block may stand on its own: its [`plan_sets`] are each 0 or at
/// least `threshold`, and so are the counts of each measure in `criteria`
/// (the members that are safe over the whole universe: one that is safe
/// nowhere would only merge everything). Each measure is then released where
/// its own counts are safe in every block, see [`Universe::release`].
fn is_safe(population: Population, criteria: &[Measure], cell: &Cell, threshold: i64) -> bool {
    plan_sets(population, cell).iter().all(|c| *c == 0 || *c >= threshold)
        && criteria.iter().all(|m| measure_safe(*m, cell, threshold))
}

/// How large a block is, to merge a small one with the smallest near it.
fn size(cell: &Cell) -> i64 {
    cell.iter().map(|(measure, t)| protected(*measure, t).0.iter().sum::<i64>()).sum()
}

/// One quarter of a flow, or the stocks at one month's end: the cells
/// with something in them, and their blocks.
pub(super) struct Universe {
    population: Population,
    /// The measures whose counts each block must make safe.
    criteria: Vec<Measure>,
    /// The measures whose counts are not safe over the whole universe:
    /// released nowhere in it, zeros included (a 0 beside the one cell
    /// suppressed would say that cell holds a count below the threshold).
    unsafe_throughout: Vec<Measure>,
    threshold: i64,
    /// (month of the universe, organisation, cell).
    cells: Vec<(u8, usize, Cell)>,
    block_of: Vec<usize>,
    blocks: Vec<Block>,
}

#[derive(Clone, Debug, Default)]
struct Block {
    cells: Vec<usize>,
    total: Cell,
    live: bool,
    safe: bool,
}

impl Universe {
    pub(super) fn new(
        population: Population,
        finest: BTreeMap<(u8, usize), Cell>,
        tree: &Tree,
        threshold: i64,
    ) -> Self {
        let nonempty = finest.into_iter().filter(|(_, cell)| cell.iter().any(|(m, t)| !is_empty(*m, t)));
        let cells: Vec<_> = nonempty.map(|((month, organisation), cell)| (month, organisation, cell)).collect();
        let mut whole = Cell::new();
        cells.iter().for_each(|(_, _, cell)| merge(&mut whole, cell));
        let (criteria, unsafe_throughout): (Vec<Measure>, Vec<Measure>) =
            whole.keys().partition(|m| measure_safe(**m, &whole, threshold));
        let blocks = cells
            .iter()
            .enumerate()
            .map(|(i, (_, _, cell))| Block {
                cells: vec![i],
                total: cell.clone(),
                live: true,
                safe: is_safe(population, &criteria, cell, threshold),
            })
            .collect();
        let block_of = (0..cells.len()).collect();
        let mut universe = Self { population, criteria, unsafe_throughout, threshold, block_of, cells, blocks };
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
            merge(&mut block.total, &absorbed.total);
            block.safe = is_safe(self.population, &self.criteria, &block.total, self.threshold);
        }
    }

    /// The block to merge `small` with: in the smallest node of the
    /// hierarchy around it that holds another (its month, then the whole
    /// quarter, of its organisation; then of its municipality, region,
    /// country), the smallest.
    fn neighbour(&self, small: usize, tree: &Tree) -> Option<usize> {
        let cells = &self.blocks[small].cells;
        let months: BTreeSet<u8> = cells.iter().map(|c| self.cells[*c].0).collect();
        let organisations: BTreeSet<usize> = cells.iter().map(|c| self.cells[*c].1).collect();
        let geos = tree.chain(&organisations);
        let within = match (months.len(), months.first()) {
            (1, Some(month)) => vec![(Time::Month(*month), geos[0]), (Time::All, geos[0])],
            _ => vec![(Time::All, geos[0])],
        };
        for (time, geo) in within.into_iter().chain(geos[1..].iter().map(|g| (Time::All, *g))) {
            let candidates: BTreeSet<usize> = self
                .cells
                .iter()
                .enumerate()
                .filter(|(_, (m, o, _))| time.contains(*m) && tree.contains(geo, *o))
                .map(|(i, _)| self.block_of[i])
                .filter(|b| *b != small)
                .collect();
            let smallest = candidates.into_iter().min_by_key(|b| (size(&self.blocks[*b].total), *b));
            if smallest.is_some() {
                return smallest;
            }
        }
        None
    }

    /// `measure`'s sum over the cells in `time` and `geo`, and whether it
    /// may be released: it holds nothing of the measure, or is exactly a
    /// union of safe blocks in each of which the measure's counts are safe;
    /// never where the measure is unsafe over the whole universe.
    pub(super) fn release(&self, measure: Measure, time: Time, geo: Geo, tree: &Tree) -> (Tallies, bool) {
        if self.unsafe_throughout.contains(&measure) {
            return (Tallies::default(), false);
        }
        let inside = |c: usize| time.contains(self.cells[c].0) && tree.contains(geo, self.cells[c].1);
        let mut total = Tallies::default();
        let mut whole = true;
        for (i, (_, _, cell)) in self.cells.iter().enumerate().filter(|(i, _)| inside(*i)) {
            if let Some(tallies) = cell.get(&measure) {
                total.merge(tallies);
            }
            let block = &self.blocks[self.block_of[i]];
            whole &= block.safe
                && measure_safe(measure, &block.total, self.threshold)
                && block.cells.iter().all(|c| inside(*c));
        }
        let released = whole || is_empty(measure, &total);
        (total, released)
    }
}
