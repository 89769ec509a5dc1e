//! Suppression and rebuilding, over random populations.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;

use super::fixtures::{Log, clock, member, milestone, noon};
use super::*;
use crate::domain::deadlines::{Milestone, StopReason};
use crate::domain::testkit::{actor, day, org, prof, text};
use crate::domain::{EventPayload, LegalPlanType, Sector};

const THRESHOLD: i64 = 5;

/// Released as of July 2027: 2025 and 2026 have settled.
const RULES: Rules = Rules { threshold: THRESHOLD, settle_months: 1, today: Month(2027 * 12 + 6) };

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
    /// How many days before its recording a milestone happened.
    lag: u64,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = (0u8..120, 0u8..6, 0u32..24, 1u32..28, 0u8..20, 0u64..60)
        .prop_map(|(plan, organisation, month, day, kind, lag)| Step { plan, organisation, month, day, kind, lag });
    proptest::collection::vec(step, 0..700)
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
        let on = day(month.year(), month.month(), step.day) - chrono::Days::new(step.lag);
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
            12 => milestone(Milestone::ReferredForDualDiagnosisTreatment, on, vec![], &[]),
            13 => EventPayload::ActivityAdded(crate::domain::plan::Activity {
                activity_id: id,
                section: crate::domain::SectionKind::Psychiatry,
                title: text("t"),
                legal_plan_type: [LegalPlanType::Behandlingsplan, LegalPlanType::Jobplan]
                    [usize::from(step.lag % 2 == 0)],
                responsible_organisation: by.organisation.clone(),
                responsible_professional: prof("a"),
                status: crate::domain::ActivityStatus::Planned,
                start_date: on,
                end_date: None,
                goal_ids: vec![],
            }),
            14 | 15 => match open_clocks(&log, plan).first() {
                Some(clock_id) if step.kind == 14 => {
                    EventPayload::ClockPaused { clock_id: clock_id.clone(), reason: text("p"), on }
                }
                Some(clock_id) => {
                    EventPayload::ClockEnded { clock_id: clock_id.clone(), reason: StopReason::Declined, on }
                }
                None => continue,
            },
            16 => {
                let started = vec![clock(&id, ClockKind::NetworkMeeting, on + chrono::Days::new(7))];
                milestone(Milestone::DischargePlanned { expected: on }, on, started, &[])
            }
            17 => EventPayload::DischargeCompleted { on },
            18 => EventPayload::DischargeCoordinatorOffered { mentor: prof("m"), start: on, end: on },
            19 => EventPayload::ContactPersonHandedOver {
                from_organisation: by.organisation.clone(),
                from_professional: prof("a"),
                to_organisation: by.organisation.clone(),
                to_professional: prof("b"),
                reason: text("r"),
            },
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

/// The counts a measure protects, as the catalogue's suppression rule
/// states them: each must be at least 5, or all of them 0.
fn protected(measure: Measure, t: (i64, i64, i64)) -> Vec<i64> {
    let (num, den, observations) = t;
    match measure {
        Measure::DaysToAssessment | Measure::DaysToTreatment => vec![observations],
        Measure::ConsentsWithdrawn | Measure::EmergencyAccesses => vec![num],
        Measure::ContactPersons => vec![den, num - den],
        Measure::LegalPlans => vec![den, num],
        _ => vec![num, den - num],
    }
}

fn small(counts: &[i64]) -> bool {
    !(counts.iter().all(|c| *c == 0) || counts.iter().all(|c| *c >= THRESHOLD))
}

/// A finest unit: (a flow's quarter or a stock's month's end, the month within the quarter, organisation).
type Finest = (Month, u32, OrganisationId);

/// (num, den, observations).
type Counts = (i64, i64, i64);

/// Every finest unit of `measure`, as released periods count them: a flow's
/// observations per month of a quarter recorded by a month after the
/// quarter ended; a stock at each month's end.
fn units(cells: &Cells, measure: Measure) -> BTreeMap<Finest, Counts> {
    let mut units: BTreeMap<Finest, Counts> = BTreeMap::new();
    let mut add = |unit: Finest, series: Series, value: i64| {
        let entry = units.entry(unit).or_default();
        match series {
            Series::Num => entry.0 += value,
            Series::Den => entry.1 += value,
            Series::Days(_) => entry.2 += value,
        }
    };
    for ((dated, recorded, organisation, series), value) in cells.of(measure) {
        match measure.shape() {
            Shape::Flow => {
                let quarter = Month(dated.0 - dated.0 % 3);
                if recorded.0 <= quarter.0 + 2 + RULES.settle_months {
                    add((quarter, dated.0 - quarter.0, organisation.clone()), *series, value);
                }
            }
            Shape::Stock => {
                for end in (dated.0..RULES.today.0).map(Month) {
                    if recorded.0 <= end.0 + RULES.settle_months {
                        add((end, 0, organisation.clone()), *series, value);
                    }
                }
            }
        }
    }
    units
}

/// The units a released row of `measure` covers.
fn covered(
    measure: Measure,
    row: &Row,
    granularity: Granularity,
    members: &dyn Fn(&OrganisationId) -> bool,
    all: &BTreeMap<Finest, Counts>,
) -> BTreeSet<Finest> {
    let end = row.period_start.plus(granularity.months() - 1);
    all.keys()
        .filter(|(at, month, o)| {
            let when = match measure.shape() {
                Shape::Flow => (row.period_start.0..=end.0).contains(&(at.0 + month)),
                Shape::Stock => *at == end,
            };
            when && members(o)
        })
        .cloned()
        .collect()
}

/// The classes of units no released set tells apart (units in no released set left out), with their summed counts per measure.
fn classes(
    sets: &[BTreeSet<Finest>],
    units: &BTreeMap<Measure, BTreeMap<Finest, Counts>>,
) -> Vec<BTreeMap<Measure, Counts>> {
    let mut classes: BTreeMap<Vec<usize>, BTreeMap<Measure, Counts>> = BTreeMap::new();
    let every: BTreeSet<&Finest> = units.values().flat_map(|u| u.keys()).collect();
    for unit in every {
        let signature: Vec<usize> = sets.iter().enumerate().filter(|(_, s)| s.contains(unit)).map(|(i, _)| i).collect();
        if signature.is_empty() {
            continue;
        }
        let class = classes.entry(signature).or_default();
        for (measure, counts) in units {
            let c = counts.get(unit).copied().unwrap_or_default();
            let sum = class.entry(*measure).or_default();
            *sum = (sum.0 + c.0, sum.1 + c.1, sum.2 + c.2);
        }
    }
    classes.into_values().collect()
}

/// The sets of open plans the plans' stocks count, or their differences give.
fn plan_sets(class: &BTreeMap<Measure, Counts>) -> Vec<i64> {
    let get = |m: Measure| class.get(&m).copied().unwrap_or_default();
    let (open, dual, with) =
        (get(Measure::LegalPlans).1, get(Measure::IndsatsplanAgreed), get(Measure::IndsatsplanMeetingOverdue));
    vec![open, dual.1, with.1, open - dual.1, dual.1 - with.1, with.1 - dual.0]
}

/// Whether a row shows counts that are its measure's numerator and denominator.
fn shows_counts(row: &Row, unit: Unit) -> bool {
    row.numerator.is_some() && matches!(unit, Unit::Share | Unit::PerCitizen)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Every count that can be computed from the released cells of every
    /// query there is (each indicator, granularity and grouping over two
    /// years), taken together, is 0 or at least 5: per measure, the units
    /// no released set tells apart are each a class, and every class's
    /// counts are large enough; for the plans' stocks, so is every set of
    /// plans their differences give, over the classes of all their sets.
    #[test]
    fn no_combination_of_answers_reveals_a_small_count(steps in steps()) {
        let log = log_of(steps);
        let projection = Projection::fold(&log.events);
        let geography = geography();
        let catalogue = Catalogue::standard();
        let (from, to) = (Month::new(2025, 1).expect("month"), Month::new(2026, 12).expect("month"));
        let place = |o: &OrganisationId, grouping: Grouping, id: &str| {
            let p = geography.place(o);
            match grouping {
                Grouping::Country => true,
                Grouping::Region => p.region == id,
                Grouping::Municipality => p.municipality.as_deref() == Some(id),
                Grouping::Organisation => o.as_str() == id,
            }
        };
        let all: BTreeMap<Measure, BTreeMap<Finest, Counts>> =
            projection.cells().measures().map(|m| (m, units(projection.cells(), m))).collect();
        let none = BTreeMap::new();
        // Per measure: the released sets, each as the units it covers.
        let mut released: BTreeMap<Measure, Vec<BTreeSet<Finest>>> = BTreeMap::new();
        for granularity in [Granularity::Month, Granularity::Quarter, Granularity::Year] {
            for grouping in [Grouping::Country, Grouping::Region, Grouping::Municipality, Grouping::Organisation] {
                let query = Query { indicators: vec![], from, to, granularity, grouping };
                for row in answer(projection.cells(), &catalogue, &geography, &query, RULES).rows {
                    if row.suppression != Suppression::None {
                        prop_assert!(row.value.is_none() && row.numerator.is_none() && row.denominator.is_none());
                        continue;
                    }
                    prop_assert!(RULES.settled(row.period_start.plus(granularity.months() - 1)));
                    let indicator = catalogue.get(&row.indicator).expect("indicator");
                    let mut measures = vec![indicator.measure];
                    if indicator.unit == Unit::Per1000Plans {
                        measures.push(Measure::LegalPlans);
                    }
                    let members = |o: &OrganisationId| place(o, grouping, &row.group.id);
                    for measure in measures {
                        let units = all.get(&measure).unwrap_or(&none);
                        let set = covered(measure, &row, granularity, &members, units);
                        // What is shown is the sum of what it covers.
                        let sum = set.iter().map(|u| units[u]).fold((0, 0, 0), |a, b| (a.0 + b.0, a.1 + b.1, a.2 + b.2));
                        if measure == indicator.measure && shows_counts(&row, indicator.unit) {
                            prop_assert_eq!((row.numerator, row.denominator), (Some(sum.0), Some(sum.1)));
                        }
                        // A set released empty tells only that each of its units holds nothing of the measure.
                        if protected(measure, sum).iter().any(|c| *c != 0) {
                            released.entry(measure).or_default().push(set);
                        }
                    }
                }
            }
        }
        for (measure, sets) in &released {
            let units = BTreeMap::from([(*measure, all.get(measure).cloned().unwrap_or_default())]);
            for class in classes(sets, &units) {
                let counts = protected(*measure, class[measure]);
                prop_assert!(!small(&counts), "{measure:?}: a class of released cells has counts {counts:?}");
            }
        }
        let plans = [Measure::LegalPlans, Measure::IndsatsplanAgreed, Measure::IndsatsplanMeetingOverdue];
        let sets: Vec<BTreeSet<Finest>> = plans.iter().flat_map(|m| released.get(m).cloned().unwrap_or_default()).collect();
        let units: BTreeMap<Measure, BTreeMap<Finest, Counts>> =
            plans.iter().map(|m| (*m, all.get(m).cloned().unwrap_or_default())).collect();
        for class in classes(&sets, &units) {
            let counts = plan_sets(&class);
            prop_assert!(counts.iter().all(|c| *c == 0 || *c >= THRESHOLD), "plans: a class has sets {counts:?}");
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
        answer(projection.cells(), &Catalogue::standard(), &geography, &query(Grouping::Organisation), RULES).rows;
    let by_org: BTreeMap<_, _> =
        rows.iter().map(|r| (r.group.id.as_str(), (r.suppression, r.numerator, r.denominator))).collect();
    assert_eq!(by_org["o1"], (Suppression::Suppressed, None, None));
    // o2 is large enough, but with its municipality's total it would give o1 away: suppressed too.
    assert_eq!(by_org["o2"], (Suppression::Suppressed, None, None));
    assert_eq!(by_org["o3"], (Suppression::None, Some(10), Some(20)));
    let rows =
        answer(projection.cells(), &Catalogue::standard(), &geography, &query(Grouping::Municipality), RULES).rows;
    let m0 = rows.iter().find(|r| r.group.id == "m0").expect("m0");
    assert_eq!((m0.suppression, m0.numerator, m0.denominator), (Suppression::None, Some(11), Some(22)));
    // Sanity: the ward that is unrelated has no data and shows none.
    assert!(rows.iter().any(|r| r.group.id == "m2" && r.denominator == Some(0)));
    let _ = prof("unused");
}

#[test]
fn a_measure_too_small_over_the_whole_quarter_is_released_nowhere_not_even_as_zero() {
    // o1 has the only two consents withdrawn of the quarter: a 0 for every other
    // organisation would say o1's suppressed cell holds them.
    let mut log = Log::default();
    let by = actor("o1", Sector::RegionalPsychiatry);
    for plan in 1..=2 {
        log.create(plan, noon(2026, 3, 1), &by);
        log.add(
            plan,
            noon(2026, 3, 2),
            &by,
            EventPayload::ConsentWithdrawn { consent_id: "k".into(), reason: text("r") },
        );
    }
    let projection = Projection::fold(&log.events);
    let march = Month::new(2026, 3).expect("month");
    let query = |month: Month, grouping| Query {
        indicators: vec!["consents-withdrawn".into()],
        from: month,
        to: month,
        granularity: Granularity::Month,
        grouping,
    };
    let ask = |month, grouping| {
        answer(projection.cells(), &Catalogue::standard(), &geography(), &query(month, grouping), RULES).rows
    };
    for grouping in [Grouping::Organisation, Grouping::Region, Grouping::Country] {
        for row in ask(march, grouping) {
            assert_eq!((row.suppression, row.value), (Suppression::Suppressed, None), "{}", row.group.id);
        }
        // A quarter with nothing in it is released as nothing.
        for row in ask(march.plus(3), grouping) {
            assert_eq!((row.suppression, row.numerator), (Suppression::None, Some(0)), "{}", row.group.id);
        }
    }
}
