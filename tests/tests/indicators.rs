//! Indicators through the real gRPC stack, on both engines: an analyst reads
//! aggregates (suppressed where small, with their complements; a period only
//! once settled), nobody else does, the analyst reads no plan, bad queries
//! get field details, every query is audited; and the projection a hub
//! serves — followed live, and rebuilt after a restart — equals a recount of
//! its log. The hub's clock is moved, so that each event is recorded on its day.

use chrono::{Datelike, Duration, NaiveDate};
use samplan_hub::client::{IndicatorClient, query_indicators_counted};
use samplan_hub::demo::population::{SimulatedClock, play};
use samplan_proto::v1 as pb;
use samplan_proto::v1::change_plan_request::Command;
use samplan_services::domain::Purpose;
use samplan_services::indicators::{Catalogue, Granularity, Grouping, Month, Projection, Query, Rules, answer};
use samplan_tests::*;
use tonic::Code;

type TestResult = anyhow::Result<()>;

const AARHUS_WARD: &str = "psykiatri-aarhus";

/// The first day of a quarter that has settled (ended, and a month more
/// passed): the one five months ago.
fn settled_quarter() -> NaiveDate {
    let today: NaiveDate = hub_date(0).parse().expect("date");
    let back = today - Duration::days(153);
    NaiveDate::from_ymd_opt(back.year(), back.month0() / 3 * 3 + 1, 1).expect("quarter")
}

fn milestone(kind: pb::MilestoneKind, on: NaiveDate) -> Command {
    Command::RecordMilestone(pb::RecordMilestone {
        milestone: kind as i32,
        occurred_on: on.format("%Y-%m-%d").to_string(),
        ..Default::default()
    })
}

/// `organisation`'s ward refers `count` citizens on `referred` and assesses
/// `in_time` of them 10 days later, the rest 35 days later (after the 30-day
/// deadline), each recorded on its day (the hub's clock is `clock`).
async fn assessments(
    t: &TestHub,
    clock: &SimulatedClock,
    organisation: &str,
    first_cpr: u32,
    (count, in_time): (u32, u32),
    referred: NaiveDate,
) -> TestResult {
    let mut ward = t.hub.plan_client(organisation, "aut-1", "PHYSICIAN").await?;
    let mut plans = Vec::new();
    clock.set(referred);
    for i in 0..count {
        let cpr = format!("0101{:02}{:04}", 50 + i % 40, first_cpr + i);
        let (name, version) = create_plan(&mut ward, &cpr).await?;
        let referral = milestone(pb::MilestoneKind::ReferredForAssessment, referred);
        plans.push((name.clone(), apply(&mut ward, &name, version, referral).await?));
    }
    for (i, (name, version)) in plans.into_iter().enumerate() {
        let assessed = referred + Duration::days(if (i as u32) < in_time { 10 } else { 35 });
        clock.set(assessed);
        apply_retrying(&mut ward, &name, version, milestone(pb::MilestoneKind::AssessmentCompleted, assessed)).await?;
    }
    clock.release();
    Ok(())
}

fn query(
    from: NaiveDate,
    to: NaiveDate,
    granularity: pb::PeriodGranularity,
    grouping: pb::IndicatorGrouping,
) -> pb::QueryIndicatorsRequest {
    pb::QueryIndicatorsRequest {
        indicator_ids: vec!["clock-met-assessment".into()],
        from_month: from.format("%Y-%m").to_string(),
        to_month: to.format("%Y-%m").to_string(),
        granularity: granularity as i32,
        grouping: grouping as i32,
    }
}
/// `request`'s answer once the hub's projection has counted every event
/// `t` has made durable (it follows the log a moment behind; the tests
/// write into settled periods with a simulated clock, which the hub never does).
async fn ask(
    t: &TestHub,
    analyst: &mut IndicatorClient,
    request: pb::QueryIndicatorsRequest,
) -> anyhow::Result<pb::QueryIndicatorsResponse> {
    let written = t.hub.store.durable_position();
    for _ in 0..1200 {
        let answer = query_indicators_counted(analyst, request.clone(), |_, _| {}).await?;
        if answer.log_position >= written {
            return Ok(answer);
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    anyhow::bail!("the projection did not count up to position {written} within a minute")
}
fn cells(answer: &pb::QueryIndicatorsResponse) -> Vec<(String, Option<i64>, Option<i64>, i32)> {
    answer.values.iter().map(|v| (v.group_id.clone(), v.numerator, v.denominator, v.suppression)).collect()
}

on_both_engines! {
    async fn an_analyst_reads_suppressed_aggregates_and_nothing_else() -> TestResult {
        let clock = SimulatedClock::default();
        let t = TestHub::start_at(clock.clock()).await?;
        let quarter = settled_quarter();
        let end = quarter + Duration::days(62);
        // Copenhagen assesses 16, 10 in time; Aarhus 2, 1 in time.
        assessments(&t, &clock, WARD, 1000, (16, 10), quarter + Duration::days(3)).await?;
        assessments(&t, &clock, AARHUS_WARD, 2000, (2, 1), quarter + Duration::days(3)).await?;
        let mut analyst = t.hub.indicator_client(WARD, "analyst-1").await?;
        use pb::{IndicatorGrouping as By, PeriodGranularity as Per};
        let (none, suppressed) = (pb::Suppression::None as i32, pb::Suppression::Suppressed as i32);
        let country = ask(&t, &mut analyst, query(quarter, end, Per::Quarter, By::Country)).await?;
        assert_eq!(cells(&country), vec![("DK".into(), Some(11), Some(18), none)]);
        assert_eq!(country.values[0].value, Some(11.0 / 18.0));
        assert_eq!((country.min_count, country.settle_months), (5, 1));
        // Aarhus's cell is too small, and Copenhagen's would give it away with the country's total.
        let regions = ask(&t, &mut analyst, query(quarter, end, Per::Quarter, By::Region)).await?;
        let by_region: Vec<_> = cells(&regions).into_iter().filter(|c| c.0.starts_with("Region")).collect();
        let expected = [("Region Hovedstaden", suppressed), ("Region Midtjylland", suppressed)];
        assert_eq!(by_region, expected.map(|(r, s)| (r.to_owned(), None, None, s)).to_vec());
        // A period not yet settled is pending: released once, it never changes.
        let today: NaiveDate = hub_date(0).parse()?;
        let pending = ask(&t, &mut analyst, query(today, today, Per::Month, By::Country)).await?;
        assert_eq!(cells(&pending), vec![("DK".into(), None, None, pb::Suppression::Pending as i32)]);
        // Nothing in any answer names a citizen or a plan.
        let text = format!("{regions:?}{country:?}");
        assert!(!text.contains("plans/") && !text.contains("0101"), "{text}");

        // Others may not; the analyst reads and joins no plan.
        let listed = analyst.list_indicators(pb::ListIndicatorsRequest {}).await?.into_inner();
        assert!(listed.indicators.iter().any(|i| i.id == "clock-met-assessment" && i.source.contains("§ 82 b")));
        let mut ward_physician = samplan_hub::client::indicator_client(
            samplan_hub::client::connect(t.hub.addr, &t.hub.pki.ca_pem, &t.hub.identity(WARD)?).await?,
            t.hub.professional(WARD, "aut-4471", "PHYSICIAN")?,
        );
        let asked = tagged(query(quarter, end, Per::Quarter, By::Country), "physician-asks");
        let refused = ward_physician.query_indicators(asked).await.expect_err("refused");
        assert_eq!(refused.code(), Code::PermissionDenied);
        assert_eq!(error_info(&refused).map(|i| i.0), Some("ANALYSTS_ONLY".into()));
        assert_eq!(denied_reason(&t.hub, "physician-asks").await?, "ANALYSTS_ONLY");
        let mut as_planner = t.hub.plan_client(WARD, "analyst-1", "ANALYST").await?;
        let create = pb::CreatePlanRequest { cpr: CPR.into(), request_id: String::new(), reason: "x".into() };
        let refused = as_planner.create_plan(create).await.expect_err("refused");
        assert_eq!(error_info(&refused).map(|i| i.0), Some("ANALYST_JOINS_NO_PLAN".into()));
        let lookup = pb::LookupPlanRequest { cpr: "0101501000".into() };
        assert_eq!(as_planner.lookup_plan(lookup).await.expect_err("refused").code(), Code::NotFound);
        let subscribe = pb::SubscribePlanEventsRequest { after_position: 0 };
        let refused = as_planner.subscribe_plan_events(subscribe).await.expect_err("refused");
        assert_eq!(error_info(&refused).map(|i| i.0), Some("ROLE_READS_NO_PLANS".into()));

        // Bad queries name each field that is wrong, and write nothing.
        let bad = pb::QueryIndicatorsRequest {
            indicator_ids: vec!["clock-met-assessment".into(), "no-such-indicator".into(), "clock-met-assessment".into()],
            from_month: "2026-13".into(),
            to_month: "2026-06".into(),
            granularity: 0,
            grouping: 99,
        };
        let refused = analyst.query_indicators(bad).await.expect_err("refused");
        assert_eq!(refused.code(), Code::InvalidArgument);
        let fields = field_violations(&refused);
        for field in ["indicator_ids[1]", "indicator_ids[2]", "from_month", "granularity", "grouping"] {
            assert!(fields.contains_key(field), "{field} in {fields:?}");
        }
        let month = query(quarter, quarter, Per::Quarter, By::Country);
        let refused = analyst.query_indicators(month).await.expect_err("no whole quarter");
        assert!(field_violations(&refused)["to_month"].contains("no whole quarter"));

        // Every query is audited: who, the statistics purpose and ground, what was asked; no plan.
        analyst.query_indicators(tagged(query(quarter, end, Per::Quarter, By::Region), "analyst-asks")).await?;
        let audit = audit_by_correlation(&t.hub).await?;
        let entry = &audit["analyst-asks"];
        assert_eq!((entry.purpose, entry.plan), (Purpose::Statistics, None));
        assert!(entry.categories.is_empty());
        assert_eq!(entry.legal_ground, samplan_services::domain::grounds::STATISTICS_CITATION);
        let (from, to) = (quarter.format("%Y-%m"), end.format("%Y-%m"));
        let asked = format!("from={from} to={to} granularity=quarter grouping=Region indicators=clock-met-assessment");
        assert_eq!(entry.action, format!("QueryIndicators {asked}"));
        t.stop().await
    }

    async fn what_a_hub_serves_equals_a_recount_of_its_log_across_restarts() -> TestResult {
        let clock = SimulatedClock::default();
        let t = TestHub::start_at(clock.clock()).await?;
        let today: NaiveDate = hub_date(0).parse()?;
        let seed: u64 = rand::random();
        // Histories drawn at random (the demo's population) over the past
        // year, written while the projection follows.
        let cut = play(&t.hub, &clock, (0, 150), seed, today).await?;
        anyhow::ensure!(cut == 0, "seed {seed}: {cut} histories refused");
        let t = compare(t, seed).await?;
        // A restart counts the log again; then it follows new events.
        let t = t.restart_at(clock.clock()).await?;
        let t = compare(t, seed).await?;
        let cut = play(&t.hub, &clock, (150, 100), seed, today).await?;
        anyhow::ensure!(cut == 0, "seed {seed}: {cut} histories refused");
        let t = compare(t, seed).await?;
        t.stop().await
    }
}

/// Every indicator by every grouping and granularity over the last two
/// years, as the hub serves it and as a recount of its log (up to the
/// position the answer counts to) gives it: identical.
async fn compare(t: TestHub, seed: u64) -> anyhow::Result<TestHub> {
    let mut analyst = t.hub.indicator_client(WARD, "analyst-1").await?;
    let today: NaiveDate = hub_date(0).parse()?;
    let from = NaiveDate::from_ymd_opt(today.year() - 1, 1, 1).expect("date");
    let to = NaiveDate::from_ymd_opt(today.year(), 12, 1).expect("date");
    let geography = samplan_hub::config::geography(&t.hub.config.organisations)?;
    let catalogue = Catalogue::standard();
    use pb::{IndicatorGrouping as By, PeriodGranularity as Per};
    let mut released = false;
    let mut recount: Option<(u64, Projection)> = None;
    for (per, granularity) in
        [(Per::Month, Granularity::Month), (Per::Quarter, Granularity::Quarter), (Per::Year, Granularity::Year)]
    {
        for (by, grouping) in [
            (By::Country, Grouping::Country),
            (By::Region, Grouping::Region),
            (By::Municipality, Grouping::Municipality),
            (By::Organisation, Grouping::Organisation),
        ] {
            let request = pb::QueryIndicatorsRequest { indicator_ids: vec![], ..query(from, to, per, by) };
            let served = ask(&t, &mut analyst, request).await?;
            if recount.as_ref().is_none_or(|(position, _)| *position != served.log_position) {
                let events = t.hub.store.events_from(1, usize::MAX).await?;
                let counted: Vec<_> = events.iter().filter(|e| e.global_position <= served.log_position).collect();
                anyhow::ensure!(counted.len() as u64 == served.log_position, "the log has a gap");
                recount = Some((served.log_position, Projection::fold(counted)));
            }
            let recount = &recount.as_ref().expect("counted").1;
            let asked = Query { indicators: vec![], from: Month::of(from), to: Month::of(to), granularity, grouping };
            let rules = Rules::at(t.hub.store.now(), 5, 1);
            let expected: Vec<pb::IndicatorValue> = answer(recount.cells(), &catalogue, &geography, &asked, rules)
                .rows
                .into_iter()
                .map(|row| samplan_services::convert::indicator_value(row, granularity))
                .collect();
            assert_eq!(served.values, expected, "seed {seed}, {per:?} by {by:?}");
            released |= served.values.iter().any(|v| v.value.is_some_and(|x| x > 0.0));
        }
    }
    anyhow::ensure!(released, "seed {seed}: nothing was released");
    Ok(t)
}
