//! Indicators for the national psychiatry plan, computed from the log.
//!
//! A projection ([`Projection`]) folds the hub-wide log, event by event,
//! into tallies: per measure, calendar month (Danish time) counted, month
//! recorded, and organisation the observation is attributed to. Flows
//! (clocks decided, discharges completed, consents withdrawn, …) add to the
//! month they happened in; stocks (dual-diagnosis citizens with an agreed
//! indsatsplan, open plans, …) add their changes to the month of the change
//! (a contact person's period also schedules its end in the window 12 months
//! on), so a stock at a month's end is the sum up to it. The projection is pure: the same log gives the
//! same tallies on either store engine, incrementally or rebuilt.
//!
//! What is released is decided by [`release`]: aggregates only, with every
//! count below the threshold suppressed together with the complementary
//! cells it could be recomputed from. [`catalogue`] holds the indicators'
//! definitions as data.

mod blocks;
pub mod catalogue;
pub mod feed;
pub mod release;
mod track;

#[cfg(test)]
mod fixtures;
#[cfg(test)]
mod release_tests;

use std::collections::{BTreeMap, HashMap};

use chrono::Datelike;
use serde::{Deserialize, Serialize};

use crate::domain::{ClockKind, Date, OrganisationId, PlanId, RecordedEvent};
pub use catalogue::{Catalogue, Indicator, Unit};
pub use feed::Indicators;
pub use release::{
    Geography, Granularity, Group, Grouping, Place, Query, Row, Rules, Suppression, Table, answer, periods,
};
use track::Track;

/// A calendar month: `year * 12 + month - 1`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Month(pub u32);

impl Month {
    pub fn of(date: Date) -> Self {
        Self(date.year().max(0) as u32 * 12 + date.month0())
    }

    pub fn new(year: i32, month: u32) -> Option<Self> {
        Date::from_ymd_opt(year, month, 1).map(Self::of)
    }

    pub fn year(self) -> i32 {
        (self.0 / 12) as i32
    }

    /// 1..=12.
    pub fn month(self) -> u32 {
        self.0 % 12 + 1
    }

    pub fn first_day(self) -> Date {
        Date::from_ymd_opt(self.year(), self.month(), 1).unwrap_or_default()
    }

    pub fn last_day(self) -> Date {
        self.plus(1).first_day().pred_opt().unwrap_or_default()
    }

    pub fn plus(self, months: u32) -> Self {
        Self(self.0 + months)
    }
}

impl std::fmt::Display for Month {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:04}-{:02}", self.year(), self.month())
    }
}

/// What the projection counts. Each indicator of the catalogue reads one
/// (or, for a rate, two) of these.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Measure {
    /// Clocks of a kind decided: `Den` every met or missed one, `Num` the met.
    ClockMetInTime(ClockKind),
    /// Days from the receipt of a referral to the assessment.
    DaysToAssessment,
    /// Days from the receipt of a referral to the start of psychiatric treatment.
    DaysToTreatment,
    /// Discharges completed with a network meeting called: `Num` held in time.
    NetworkMeetingInTime,
    /// Discharges completed with a job centre on the team: `Num` with an
    /// udskrivningskoordinator offered.
    CoordinatorOffered,
    /// Open plans of dual-diagnosis citizens: `Num` with an agreed indsatsplan.
    IndsatsplanAgreed,
    /// Open plans with an indsatsplan: `Num` with the joint meeting overdue.
    IndsatsplanMeetingOverdue,
    /// Plans with a contact person in the 12 months up to a month's end
    /// (`Den`) and the contact persons they had in them (`Num`).
    ContactPersons,
    /// Open plans (`Den`) and the legal plans in use on them (`Num`); the
    /// open plans are also the per-1,000 rate's denominator.
    LegalPlans,
    ConsentsWithdrawn,
    EmergencyAccesses,
}

/// Measures that share their blocks (see [`release`]): the stocks that
/// count the open plans and nested sets of them, so that the difference of
/// two of them is protected too; every other measure on its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Population {
    /// The open plans, the dual-diagnosis citizens' among them, those with
    /// an indsatsplan, and those with it agreed or its meeting overdue.
    Plans,
    Alone(Measure),
}

impl Population {
    pub fn shape(self) -> Shape {
        match self {
            Self::Plans => Shape::Stock,
            Self::Alone(measure) => measure.shape(),
        }
    }
}

/// How a measure adds up over a period.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shape {
    /// Observations in the month (a month's value is its own tallies).
    Flow,
    /// A state at the month's end (the sum of changes up to it).
    Stock,
}

impl Measure {
    pub fn population(self) -> Population {
        match self {
            Self::LegalPlans | Self::IndsatsplanAgreed | Self::IndsatsplanMeetingOverdue => Population::Plans,
            other => Population::Alone(other),
        }
    }

    pub fn shape(self) -> Shape {
        match self {
            Self::ClockMetInTime(_)
            | Self::DaysToAssessment
            | Self::DaysToTreatment
            | Self::NetworkMeetingInTime
            | Self::CoordinatorOffered
            | Self::ConsentsWithdrawn
            | Self::EmergencyAccesses => Shape::Flow,
            Self::IndsatsplanAgreed | Self::IndsatsplanMeetingOverdue | Self::ContactPersons | Self::LegalPlans => {
                Shape::Stock
            }
        }
    }
}

/// One series of a measure: its numerator, its denominator, or the number
/// of observations of so many days.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Series {
    Num,
    Den,
    Days(u16),
}

/// Days are counted up to this; longer waits are counted as this many.
pub const MAX_DAYS: u16 = 3650;

/// One change to the tallies.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Tally {
    pub measure: Measure,
    pub series: Series,
    /// The month it counts in.
    pub month: Month,
    /// The month the hub recorded the event (a period counts what was
    /// recorded by the time it settled).
    pub recorded: Month,
    pub organisation: OrganisationId,
    pub delta: i64,
}

/// Where a measure's tally is kept: the month it counts in, the month it was recorded.
pub type CellKey = (Month, Month, OrganisationId, Series);

/// Every measure's tallies (zeros dropped, so equal logs give equal cells).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Cells(BTreeMap<Measure, BTreeMap<CellKey, i64>>);

impl Cells {
    pub fn add(&mut self, tally: Tally) {
        let cells = self.0.entry(tally.measure).or_default();
        let key = (tally.month, tally.recorded, tally.organisation, tally.series);
        let value = cells.entry(key.clone()).or_insert(0);
        *value += tally.delta;
        if *value == 0 {
            cells.remove(&key);
            if cells.is_empty() {
                self.0.remove(&tally.measure);
            }
        }
    }

    /// The tallies of `measure`, in month order.
    pub fn of(&self, measure: Measure) -> impl Iterator<Item = (&CellKey, i64)> {
        self.0.get(&measure).into_iter().flatten().map(|(k, v)| (k, *v))
    }

    /// The measures with tallies.
    pub fn measures(&self) -> impl Iterator<Item = Measure> + '_ {
        self.0.keys().copied()
    }
}

/// The tallies of the log up to `position`, and what each plan's next
/// event needs to know of the plan.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Projection {
    position: u64,
    plans: HashMap<PlanId, Track>,
    cells: Cells,
}

impl Projection {
    /// The projection of `events`, in log order.
    pub fn fold<'a>(events: impl IntoIterator<Item = &'a RecordedEvent>) -> Self {
        let mut projection = Self::default();
        for event in events {
            projection.apply(event);
        }
        projection
    }

    /// Adds the next event of the log. An event at or before the position
    /// already counted is ignored (a page read twice).
    pub fn apply(&mut self, event: &RecordedEvent) {
        if event.global_position != 0 && event.global_position <= self.position {
            return;
        }
        self.position = self.position.max(event.global_position);
        let track = self.plans.entry(event.plan_id).or_default();
        let mut tallies = Vec::new();
        track.observe(event, &mut tallies);
        for tally in tallies {
            self.cells.add(tally);
        }
    }

    /// The last log position counted.
    pub fn position(&self) -> u64 {
        self.position
    }

    pub fn cells(&self) -> &Cells {
        &self.cells
    }

    pub fn plans(&self) -> usize {
        self.plans.len()
    }
}
