//! Suppression and rebuilding, over random populations.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::fixtures::{Log, clock, member, milestone, noon};
use super::*;
use crate::domain::deadlines::Milestone;
use crate::domain::testkit::{actor, day, org, prof, text};
use crate::domain::{EventPayload, Sector};

const THRESHOLD: i64 = 5;

/// Six organisations: two regions; two municipalities in the first, one in
/// the second; a regional organisation in each region.
fn geography() -> Geography {
    let place = |region: &str, municipality: Option<&str>| Place {
        name: "n".into(),
        region: region.into(),
        municipality: municipality.map(Into::into),
    };
    Geography::new([
        (org("o0"), place("r0", None)),
        (org("o1"), place("r0", Some("m0"))),
        (org("o2"), place("r0", Some("m0"))),
        (org("o3"), place("r0", Some("m1"))),
        (org("o4"), place("r1", Some("m2"))),
        (org("o5"), place("r1", None)),
    ])
    .expect("geography")
}

/// One step of a random population's history.
#[derive(Clone, Debug)]
struct Step {
    plan: u8,
    organisation: u8,
    /// Months after January 2025.
    month: u32,
    day: u32,
    kind: u8,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = (0u8..40, 0u8..6, 0u32..24, 1u32..28, 0u8..12).prop_map(|(plan, organisation, month, day, kind)| Step {
        plan,
        organisation,
        month,
        day,
        kind,
    });
    proptest::collection::vec(step, 0..400)
}

/// The log of a random population: each plan is created by its first
/// step's organisation; later steps record what they pick, in time order.
fn log_of(mut steps: Vec<Step>) -> Log {
    steps.sort_by_key(|s| (s.month, s.day));
    let mut log = Log::default();
    let mut created = BTreeSet::new();
    for (n, step) in steps.iter().enumerate() {
        let by = actor(&format!("o{}", step.organisation), Sector::RegionalPsychiatry);
        let month = Month(Month::new(2025, 1).expect("month").0 + step.month);
        let on = day(month.year(), month.month(), step.day);
        let at = noon(month.year(), month.month(), step.day);
        let plan = step.plan + 1;
        if created.insert(plan) {
            log.create(plan, at, &by);
            continue;
        }
        let id = format!("c{n}");
        let payload = match step.kind {
            0 => milestone(
                Milestone::ReferredForAssessment,
                on,
                vec![clock(&id, ClockKind::Assessment, on + chrono::Days::new(30))],
                &[],
            ),
            1 => {
                let open = open_clocks(&log, plan);
                let open: Vec<&str> = open.iter().map(String::as_str).collect();
                milestone(Milestone::AssessmentCompleted { serious: true }, on, vec![], &open)
            }
            2 => match open_clocks(&log, plan).first() {
                Some(clock_id) => EventPayload::ClockOverdue { clock_id: clock_id.clone(), due_on: on },
                None => continue,
            },
            3 => EventPayload::ConsentWithdrawn { consent_id: id, reason: text("r") },
            4 => EventPayload::EmergencyAccessGranted { grant_id: id, justification: text("j"), expires_at: at },
            5 => EventPayload::IndsatsplanStarted { next_meeting: on },
            6 => EventPayload::IndsatsplanAccepted { version: 1, agreed: true },
            7 => EventPayload::ContactPersonAssigned { organisation: by.organisation.clone(), professional: prof("a") },
            8 => EventPayload::PlanClosed { reason: text("r") },
            9 => EventPayload::PlanReopened { reason: text("r") },
            10 => milestone(Milestone::PsychiatricTreatmentStarted, on, vec![], &[]),
            _ => EventPayload::CareTeamMemberAdded(member(&id, &by)),
        };
        log.add(plan, at, &by, payload);
    }
    log
}

/// The assessment clocks the plan started (stopping one twice is ignored).
fn open_clocks(log: &Log, plan: u8) -> Vec<String> {
    let id = PlanId([plan; 16]);
    log.events
        .iter()
        .filter(|e| e.plan_id == id)
        .filter_map(|e| match &e.payload {
            EventPayload::MilestoneRecorded { started, .. } => started.first().map(|c| c.clock_id.clone()),
            _ => None,
        })
        .collect()
}

/// The counts a measure protects, as the catalogue's suppression rule states them.
fn protected(measure: Measure, num: i64, den: i64, observations: i64) -> Vec<i64> {
    match measure {
        Measure::DaysToAssessment | Measure::DaysToTreatment => vec![observations],
        Measure::ConsentsWithdrawn | Measure::EmergencyAccesses | Measure::OpenPlans => vec![num],
        Measure::ContactPersons => vec![den, num - den],
        Measure::LegalPlans => vec![den, num],
        _ => vec![num, den - num],
    }
}

/// A finest cell: (the year or month's end it belongs to, month within the year, organisation).
type Finest = (Month, u32, OrganisationId);

/// Every finest cell of `measure` with something in it, with its (num, den, observations).
fn finest_cells(cells: &Cells, measure: Measure, ends: &[Month]) -> BTreeMap<Finest, (i64, i64, i64)> {
    let mut finest = BTreeMap::new();
    let mut add = |key: Finest, series: Series, value: i64| {
        let entry: &mut (i64, i64, i64) = finest.entry(key).or_default();
        match series {
            Series::Num => entry.0 += value,
            Series::Den => entry.1 += value,
            Series::Days(_) => entry.2 += value,
        }
    };
    for ((month, organisation, series), value) in cells.of(measure) {
        match measure.shape() {
            Shape::Flow => {
                add((Month::new(month.year(), 1).expect("year"), month.month(), organisation.clone()), *series, value)
            }
            Shape::Stock => {
                for end in ends.iter().filter(|end| *month <= **end) {
                    add((*end, 0, organisation.clone()), *series, value);
                }
            }
        }
    }
    finest.retain(|_, (num, den, obs)| protected(measure, *num, *den, *obs).iter().any(|c| *c != 0));
    finest
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Every count that can be computed from the released cells of every
    /// query there is (each indicator, granularity and grouping over two
    /// years), taken together, is 0 or at least 5: the cells no released
    /// set tells apart are each a class, and every class is large enough.
    #[test]
    fn no_combination_of_answers_reveals_a_small_count(steps in steps()) {
        let log = log_of(steps);
        let projection = Projection::fold(&log.events);
        let geography = geography();
        let catalogue = Catalogue::standard();
        let ends: Vec<Month> = (0..24).map(|m| Month(Month::new(2025, 1).expect("month").0 + m)).collect();
        let place = |o: &OrganisationId, grouping: Grouping, id: &str| {
            let p = geography.place(o);
            match grouping {
                Grouping::Country => true,
                Grouping::Region => p.region == id,
                Grouping::Municipality => p.municipality.as_deref() == Some(id),
                Grouping::Organisation => o.as_str() == id,
            }
        };
        // Per measure: the released sets, each as the finest cells it covers.
        let mut released: BTreeMap<Measure, Vec<BTreeSet<Finest>>> = BTreeMap::new();
        let mut answered = 0;
        for granularity in [Granularity::Month, Granularity::Quarter, Granularity::Year] {
            for grouping in [Grouping::Country, Grouping::Region, Grouping::Municipality, Grouping::Organisation] {
                let query = Query { indicators: vec![], from: ends[0], to: ends[23], granularity, grouping };
                for row in answer(projection.cells(), &catalogue, &geography, &query, THRESHOLD).rows {
                    answered += 1;
                    if row.suppression != Suppression::None {
                        prop_assert!(row.value.is_none() && row.numerator.is_none() && row.denominator.is_none());
                        continue;
                    }
                    let indicator = catalogue.get(&row.indicator).expect("indicator");
                    let mut measures = vec![indicator.measure];
                    if indicator.unit == Unit::Per1000Plans {
                        measures.push(Measure::OpenPlans);
                    }
                    for measure in measures {
                        let finest = finest_cells(projection.cells(), measure, &ends);
                        let end = row.period_start.plus(granularity.months() - 1);
                        let covered: BTreeSet<Finest> = finest
                            .keys()
                            .filter(|(at, month, o)| {
                                let when = match measure.shape() {
                                    Shape::Flow => at.year() == row.period_start.year()
                                        && (row.period_start.month()..=end.month()).contains(month),
                                    Shape::Stock => *at == end,
                                };
                                when && place(o, grouping, &row.group.id)
                            })
                            .cloned()
                            .collect();
                        // What is shown is the sum of what it covers.
                        let (num, den): (i64, i64) = covered.iter().map(|c| (finest[c].0, finest[c].1)).fold((0, 0), |a, b| (a.0 + b.0, a.1 + b.1));
                        if measure == indicator.measure && matches!(indicator.unit, Unit::Share | Unit::PerCitizen) {
                            prop_assert_eq!((row.numerator, row.denominator), (Some(num), Some(den)));
                        }
                        released.entry(measure).or_default().push(covered);
                    }
                }
            }
        }
        prop_assert!(answered > 0);
        for (measure, sets) in released {
            let finest = finest_cells(projection.cells(), measure, &ends);
            let mut classes: BTreeMap<Vec<usize>, (i64, i64, i64)> = BTreeMap::new();
            for (cell, (num, den, obs)) in &finest {
                let signature: Vec<usize> = sets.iter().enumerate().filter(|(_, s)| s.contains(cell)).map(|(i, _)| i).collect();
                if signature.is_empty() {
                    continue;
                }
                let class = classes.entry(signature).or_default();
                *class = (class.0 + num, class.1 + den, class.2 + obs);
            }
            for (num, den, obs) in classes.values() {
                let counts = protected(measure, *num, *den, *obs);
                prop_assert!(
                    counts.iter().all(|c| *c >= THRESHOLD),
                    "{measure:?}: a class of released cells has counts {counts:?}"
                );
            }
        }
    }

    /// Counting the log event by event, page by page with pages read twice,
    /// or all at once gives the same projection.
    #[test]
    fn incremental_equals_rebuild(steps in steps(), page in 1usize..50) {
        let log = log_of(steps);
        let rebuilt = Projection::fold(&log.events);
        let mut incremental = Projection::default();
        let mut from = 0;
        while from < log.events.len() {
            let end = (from + page).min(log.events.len());
            // A follower may read a page again (it asked from an older position).
            for event in &log.events[from.saturating_sub(page / 2)..end] {
                incremental.apply(event);
            }
            from = end;
        }
        prop_assert_eq!(&incremental, &rebuilt);
        // A restart counts the log again from the start: the same again.
        prop_assert_eq!(&Projection::fold(&log.events), &rebuilt);
    }
}

#[test]
fn small_counts_are_suppressed_and_so_is_their_complement() {
    // o1 and o2 make up municipality m0, o3 is m1's: o1 has 2 clocks decided in March, the others 20 each.
    let geography = geography();
    let mut log = Log::default();
    let mut plan = 0u8;
    for (organisation, clocks) in [("o1", 2), ("o2", 20), ("o3", 20)] {
        let by = actor(organisation, Sector::RegionalPsychiatry);
        for i in 0..clocks {
            plan += 1;
            let id = format!("c{plan}");
            log.create(plan, noon(2026, 3, 1), &by);
            log.add(
                plan,
                noon(2026, 3, 1),
                &by,
                milestone(
                    Milestone::ReferredForAssessment,
                    day(2026, 3, 1),
                    vec![clock(&id, ClockKind::Assessment, day(2026, 3, 20))],
                    &[],
                ),
            );
            // Half met, half recorded overdue.
            let payload = if i % 2 == 0 {
                milestone(Milestone::AssessmentCompleted { serious: true }, day(2026, 3, 10), vec![], &[&id])
            } else {
                EventPayload::ClockOverdue { clock_id: id.clone(), due_on: day(2026, 3, 20) }
            };
            log.add(plan, noon(2026, 3, 21), &by, payload);
        }
    }
    let projection = Projection::fold(&log.events);
    let march = Month::new(2026, 3).expect("month");
    let query = |grouping| Query {
        indicators: vec!["clock-met-assessment".into()],
        from: march,
        to: march,
        granularity: Granularity::Month,
        grouping,
    };
    let rows =
        answer(projection.cells(), &Catalogue::standard(), &geography, &query(Grouping::Organisation), THRESHOLD).rows;
    let by_org: BTreeMap<_, _> =
        rows.iter().map(|r| (r.group.id.as_str(), (r.suppression, r.numerator, r.denominator))).collect();
    assert_eq!(by_org["o1"], (Suppression::SmallCount, None, None));
    // o2 is large enough, but with its municipality's total it would give o1 away: suppressed too.
    assert_eq!(by_org["o2"], (Suppression::Complementary, None, None));
    assert_eq!(by_org["o3"], (Suppression::None, Some(10), Some(20)));
    let rows =
        answer(projection.cells(), &Catalogue::standard(), &geography, &query(Grouping::Municipality), THRESHOLD).rows;
    let m0 = rows.iter().find(|r| r.group.id == "m0").expect("m0");
    assert_eq!((m0.suppression, m0.numerator, m0.denominator), (Suppression::None, Some(11), Some(22)));
    // Sanity: the ward that is unrelated has no data and shows none.
    assert!(rows.iter().any(|r| r.group.id == "m2" && r.denominator == Some(0)));
    let _ = prof("unused");
}
