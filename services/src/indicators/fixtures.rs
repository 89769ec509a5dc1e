//! Each indicator against a hand-computed fixture: given these events, the
//! value is exactly this. Fixtures release everything, long after (threshold
//! 0, settled, see [`SETTLED`]), so that the arithmetic shows; suppression
//! has its own tests.

use super::*;
use crate::domain::deadlines::{Milestone, StartedClock, StopReason};
use crate::domain::plan::Activity;
use crate::domain::plan::CareTeamMember;
use crate::domain::testkit::{actor, day, org, prof, text};
use crate::domain::{ActivityStatus, CprKind, SectionKind};
use crate::domain::{Actor, EventPayload, LegalPlanType, ProfessionalRole, Sector, Timestamp};

/// Everything released, long after: the arithmetic shows.
pub(super) const SETTLED: Rules = Rules { threshold: 0, settle_months: 2, today: Month(3000 * 12) };

/// A hand-written log: events get their plan's next sequence and the next global position.
#[derive(Default)]
pub(super) struct Log {
    pub events: Vec<RecordedEvent>,
}

/// `y-m-d hh:mm` in UTC.
pub(super) fn utc(y: i32, m: u32, d: u32, hh: u32, mm: u32) -> Timestamp {
    Timestamp(day(y, m, d).and_hms_opt(hh, mm, 0).expect("time").and_utc().timestamp_micros())
}

/// Noon UTC: the same Danish date.
pub(super) fn noon(y: i32, m: u32, d: u32) -> Timestamp {
    utc(y, m, d, 12, 0)
}

pub(super) fn ward() -> Actor {
    actor("ward", Sector::RegionalPsychiatry)
}

pub(super) fn jobcentre() -> Actor {
    actor("jobcenter", Sector::JobCentre)
}

pub(super) fn clock(id: &str, kind: ClockKind, due_on: Date) -> StartedClock {
    StartedClock { clock_id: id.into(), kind, due_on, source: "test".into() }
}

pub(super) fn milestone(milestone: Milestone, on: Date, started: Vec<StartedClock>, stopped: &[&str]) -> EventPayload {
    EventPayload::MilestoneRecorded {
        milestone,
        occurred_on: on,
        started,
        stopped: stopped.iter().map(|s| s.to_string()).collect(),
    }
}

pub(super) fn member(id: &str, by: &Actor) -> CareTeamMember {
    CareTeamMember {
        member_id: id.into(),
        organisation: by.organisation.clone(),
        sector: by.sector,
        professional: Some(prof("p-1")),
        role: ProfessionalRole::Nurse,
        start_date: day(2026, 1, 1),
        end_date: None,
        left_at: None,
    }
}

impl Log {
    pub(super) fn add(&mut self, plan: u8, at: Timestamp, by: &Actor, payload: EventPayload) {
        let plan_id = PlanId([plan; 16]);
        let sequence = self.events.iter().filter(|e| e.plan_id == plan_id).count() as u64 + 1;
        self.events.push(RecordedEvent {
            plan_id,
            sequence,
            global_position: self.events.len() as u64 + 1,
            recorded_at: at,
            actor: by.clone(),
            correlation_id: "fixture".into(),
            request_id: None,
            category: crate::domain::DataCategory::PlanAndContact,
            payload,
        });
    }

    /// Plan `plan`, created by `by` at `at`.
    pub(super) fn create(&mut self, plan: u8, at: Timestamp, by: &Actor) {
        let payload = EventPayload::PlanCreated {
            citizen_kind: CprKind::Regular,
            first_member: member("m-0", by),
            reason: text("r"),
        };
        self.add(plan, at, by, payload);
    }

    pub(super) fn answer(&self, indicator: &str, from: Month, to: Month, granularity: Granularity) -> Vec<Row> {
        let projection = Projection::fold(&self.events);
        let query = Query { indicators: vec![indicator.into()], from, to, granularity, grouping: Grouping::Country };
        answer(projection.cells(), &Catalogue::standard(), &Geography::default(), &query, SETTLED).rows
    }

    /// The tallies of `measure`'s `series` counted in the months `from..=to`
    /// (a stock: up to `to`), recorded by then: what a released value rests on.
    pub(super) fn tallied(&self, measure: Measure, series: fn(Series) -> bool, from: Month, to: Month) -> i64 {
        let projection = Projection::fold(&self.events);
        let dated = |m: Month| if measure.shape() == Shape::Stock { m <= to } else { (from..=to).contains(&m) };
        projection.cells().of(measure).filter(|((m, _, _, s), _)| dated(*m) && series(*s)).map(|(_, v)| v).sum()
    }

    /// (period, numerator, denominator) of each row.
    pub(super) fn counts(
        &self,
        indicator: &str,
        from: Month,
        to: Month,
        granularity: Granularity,
    ) -> Vec<(String, Option<i64>, Option<i64>)> {
        self.answer(indicator, from, to, granularity)
            .into_iter()
            .map(|r| (r.period, r.numerator, r.denominator))
            .collect()
    }
}

fn month(y: i32, m: u32) -> Month {
    Month::new(y, m).expect("month")
}

fn row(period: &str, num: i64, den: i64) -> (String, Option<i64>, Option<i64>) {
    (period.into(), Some(num), Some(den))
}

#[test]
fn a_clock_counts_once_when_decided_and_an_ended_one_not_at_all() {
    let mut log = Log::default();
    let ward = ward();
    let referred = |id: &str, due: Date| {
        milestone(Milestone::ReferredForAssessment, day(2026, 3, 1), vec![clock(id, ClockKind::Assessment, due)], &[])
    };
    let assessed = |on: Date, id: &str| milestone(Milestone::AssessmentCompleted { serious: true }, on, vec![], &[id]);
    let paused =
        |id: &str, d| EventPayload::ClockPaused { clock_id: id.into(), reason: text("p"), on: day(2026, 3, d) };
    let overdue = |id: &str, d| EventPayload::ClockOverdue { clock_id: id.into(), due_on: day(2026, 3, d) };
    // 1: met on 10 March, in time.
    log.create(1, noon(2026, 3, 1), &ward);
    log.add(1, noon(2026, 3, 1), &ward, referred("c1", day(2026, 3, 31)));
    log.add(1, noon(2026, 3, 10), &ward, assessed(day(2026, 3, 10), "c1"));
    // 2: due 31 March, recorded overdue: missed, counted in April (first overdue day); met later, not again.
    log.create(2, noon(2026, 3, 1), &ward);
    log.add(2, noon(2026, 3, 1), &ward, referred("c2", day(2026, 3, 31)));
    log.add(2, noon(2026, 4, 1), &ward, overdue("c2", 31));
    log.add(2, noon(2026, 4, 9), &ward, assessed(day(2026, 4, 9), "c2"));
    // 3: due 15 March, met on 20 March before the watcher noticed: missed, counted in March.
    log.create(3, noon(2026, 3, 1), &ward);
    log.add(3, noon(2026, 3, 1), &ward, referred("c3", day(2026, 3, 15)));
    log.add(3, noon(2026, 3, 20), &ward, assessed(day(2026, 3, 20), "c3"));
    // 4: ended, the citizen declined: neither met nor missed.
    log.create(4, noon(2026, 3, 1), &ward);
    log.add(4, noon(2026, 3, 1), &ward, referred("c4", day(2026, 3, 31)));
    log.add(
        4,
        noon(2026, 3, 5),
        &ward,
        EventPayload::ClockEnded { clock_id: "c4".into(), reason: StopReason::Declined, on: day(2026, 3, 5) },
    );
    // 5: due 20 March, paused and resumed with due 28 March, met on 25 March: in time.
    log.create(5, noon(2026, 3, 1), &ward);
    log.add(5, noon(2026, 3, 1), &ward, referred("c5", day(2026, 3, 20)));
    log.add(5, noon(2026, 3, 10), &ward, paused("c5", 10));
    log.add(
        5,
        noon(2026, 3, 18),
        &ward,
        EventPayload::ClockResumed { clock_id: "c5".into(), on: day(2026, 3, 18), due_on: day(2026, 3, 28) },
    );
    log.add(5, noon(2026, 3, 25), &ward, assessed(day(2026, 3, 25), "c5"));

    // 6: due 15 March, paused on 10 March and met on 20 March, still paused: late, as the plan's clock says
    // (only resuming moves the due date), counted in March (first overdue day 16 March).
    log.create(6, noon(2026, 3, 1), &ward);
    log.add(6, noon(2026, 3, 1), &ward, referred("c6", day(2026, 3, 15)));
    log.add(6, noon(2026, 3, 10), &ward, paused("c6", 10));
    log.add(6, noon(2026, 3, 20), &ward, assessed(day(2026, 3, 20), "c6"));
    // 7: due 15 March, recorded overdue, then the assessment of 14 March recorded late: in time after all.
    log.create(7, noon(2026, 3, 1), &ward);
    log.add(7, noon(2026, 3, 1), &ward, referred("c7", day(2026, 3, 15)));
    log.add(7, noon(2026, 3, 16), &ward, overdue("c7", 15));
    log.add(7, noon(2026, 3, 18), &ward, assessed(day(2026, 3, 14), "c7"));
    // 8: due 15 March, recorded overdue, then ended (the referral withdrawn): neither met nor missed after all.
    log.create(8, noon(2026, 3, 1), &ward);
    log.add(8, noon(2026, 3, 1), &ward, referred("c8", day(2026, 3, 15)));
    log.add(8, noon(2026, 3, 16), &ward, overdue("c8", 15));
    log.add(
        8,
        noon(2026, 3, 17),
        &ward,
        EventPayload::ClockEnded { clock_id: "c8".into(), reason: StopReason::ReferralWithdrawn, on: day(2026, 3, 17) },
    );

    let months = log.counts("clock-met-assessment", month(2026, 3), month(2026, 4), Granularity::Month);
    assert_eq!(months, vec![row("2026-03", 3, 5), row("2026-04", 0, 1)]);
    let quarters = log.counts("clock-met-assessment", month(2026, 1), month(2026, 6), Granularity::Quarter);
    assert_eq!(quarters, vec![row("2026-Q1", 3, 5), row("2026-Q2", 0, 1)]);
    let share = log.answer("clock-met-assessment", month(2026, 3), month(2026, 3), Granularity::Month)[0].value;
    assert_eq!(share, Some(3.0 / 5.0));
    // Another kind's indicator counts none of them.
    assert_eq!(
        log.counts("clock-met-information-duty", month(2026, 3), month(2026, 3), Granularity::Month)[0].2,
        Some(0)
    );
}

#[test]
fn periods_follow_the_danish_calendar_with_summer_time() {
    let mut log = Log::default();
    let ward = ward();
    log.create(1, utc(2025, 12, 1, 12, 0), &ward);
    let withdrawn = || EventPayload::ConsentWithdrawn { consent_id: "k".into(), reason: text("r") };
    // 31 Dec 23:30 UTC is 1 Jan 00:30 in Denmark (winter time, UTC+1): January, and the new year.
    log.add(1, utc(2025, 12, 31, 23, 30), &ward, withdrawn());
    // 31 Dec 22:30 UTC is 23:30 in Denmark: still December.
    log.add(1, utc(2025, 12, 31, 22, 30), &ward, withdrawn());
    // 31 March 22:30 UTC is 1 April 00:30 in Denmark (summer time, UTC+2): April, Q2.
    log.add(1, utc(2026, 3, 31, 22, 30), &ward, withdrawn());
    // 31 March 21:30 UTC is 23:30 in Denmark: March.
    log.add(1, utc(2026, 3, 31, 21, 30), &ward, withdrawn());
    let count = |from, to, g| {
        log.counts("consents-withdrawn", from, to, g).into_iter().map(|(p, n, _)| (p, n)).collect::<Vec<_>>()
    };
    assert_eq!(count(month(2025, 1), month(2025, 12), Granularity::Year), vec![("2025".into(), Some(1))]);
    assert_eq!(
        count(month(2026, 1), month(2026, 6), Granularity::Quarter),
        vec![("2026-Q1".into(), Some(2)), ("2026-Q2".into(), Some(1))]
    );
    assert_eq!(
        count(month(2026, 3), month(2026, 4), Granularity::Month),
        vec![("2026-03".into(), Some(1)), ("2026-04".into(), Some(1))]
    );
}

#[test]
fn days_from_referral_to_assessment_and_to_treatment() {
    let mut log = Log::default();
    let ward = ward();
    let referral = |on| milestone(Milestone::ReferredForAssessment, on, vec![], &[]);
    let assessment = |on| milestone(Milestone::AssessmentCompleted { serious: false }, on, vec![], &[]);
    let treatment = |on| milestone(Milestone::PsychiatricTreatmentStarted, on, vec![], &[]);
    // 1: referral 5 Jan, assessed 20 Jan (15 days), treated 14 Feb (40 days from the referral).
    log.create(1, noon(2026, 1, 5), &ward);
    log.add(1, noon(2026, 1, 5), &ward, referral(day(2026, 1, 5)));
    log.add(1, noon(2026, 1, 20), &ward, assessment(day(2026, 1, 20)));
    log.add(1, noon(2026, 2, 14), &ward, treatment(day(2026, 2, 14)));
    // 2: referral 10 Jan, an udredningsplan 1 Feb (not an assessment), assessed 20 Feb (41 days), assessed again (no second count).
    log.create(2, noon(2026, 1, 10), &ward);
    log.add(2, noon(2026, 1, 10), &ward, referral(day(2026, 1, 10)));
    log.add(2, noon(2026, 2, 1), &ward, milestone(Milestone::AssessmentPlanGiven, day(2026, 2, 1), vec![], &[]));
    log.add(2, noon(2026, 2, 20), &ward, assessment(day(2026, 2, 20)));
    log.add(2, noon(2026, 2, 25), &ward, assessment(day(2026, 2, 25)));
    // 3: referral withdrawn (its assessment clock ended): no observation when assessed anyway.
    log.create(3, noon(2026, 1, 10), &ward);
    log.add(
        3,
        noon(2026, 1, 10),
        &ward,
        milestone(
            Milestone::ReferredForAssessment,
            day(2026, 1, 10),
            vec![clock("a3", ClockKind::Assessment, day(2026, 2, 9))],
            &[],
        ),
    );
    log.add(
        3,
        noon(2026, 1, 12),
        &ward,
        EventPayload::ClockEnded { clock_id: "a3".into(), reason: StopReason::ReferralWithdrawn, on: day(2026, 1, 12) },
    );
    log.add(3, noon(2026, 1, 30), &ward, assessment(day(2026, 1, 30)));
    // A treatment start without a referral in the hub: no observation.
    log.add(3, noon(2026, 2, 2), &ward, treatment(day(2026, 2, 2)));

    // The value only (its number of observations is not released); the observations from the tallies.
    let value = |id, g| {
        let rows = log.answer(id, month(2026, 1), month(2026, 3), g);
        rows.into_iter().map(|r| (r.period, r.value, r.denominator.or(Some(-1)))).collect::<Vec<_>>()
    };
    let days = |s: Series| matches!(s, Series::Days(_));
    let (q1, march) = ((month(2026, 1), month(2026, 3)), month(2026, 3));
    assert_eq!(log.tallied(Measure::DaysToAssessment, days, q1.0, q1.1), 2);
    assert_eq!(log.tallied(Measure::DaysToAssessment, days, march, march), 0);
    assert_eq!(log.tallied(Measure::DaysToTreatment, days, q1.0, q1.1), 1);
    assert_eq!(
        value("days-referral-to-assessment-median", Granularity::Quarter),
        vec![("2026-Q1".into(), Some(15.0), Some(-1))]
    );
    assert_eq!(
        value("days-referral-to-assessment-p90", Granularity::Quarter),
        vec![("2026-Q1".into(), Some(41.0), Some(-1))]
    );
    assert_eq!(
        value("days-referral-to-assessment-median", Granularity::Month),
        vec![
            ("2026-01".into(), Some(15.0), Some(-1)),
            ("2026-02".into(), Some(41.0), Some(-1)),
            ("2026-03".into(), None, Some(-1))
        ]
    );
    assert_eq!(
        value("days-referral-to-treatment-median", Granularity::Quarter),
        vec![("2026-Q1".into(), Some(40.0), Some(-1))]
    );
}

#[test]
fn discharges_count_the_network_meeting_and_the_coordinator_offer() {
    let mut log = Log::default();
    let (ward, jobcentre) = (ward(), jobcentre());
    let ended = |d| EventPayload::CareTeamMembershipEnded { member_id: "m-1".into(), end_date: day(2026, 3, d) };
    let planned =
        |started| milestone(Milestone::DischargePlanned { expected: day(2026, 3, 15) }, day(2026, 3, 1), started, &[]);
    let called = |id: &str| EventPayload::NetworkMeetingCalled {
        meeting_on: day(2026, 3, 8),
        started: vec![clock(id, ClockKind::NetworkMeeting, day(2026, 3, 10))],
    };
    let completed = |d| EventPayload::DischargeCompleted { on: day(2026, 3, d) };
    let offered =
        EventPayload::DischargeCoordinatorOffered { mentor: prof("m"), start: day(2026, 3, 1), end: day(2026, 9, 1) };
    // 1: meeting called and held in time; job centre on the team and offered a coordinator.
    log.create(1, noon(2026, 3, 1), &ward);
    log.add(1, noon(2026, 3, 1), &jobcentre, EventPayload::CareTeamMemberAdded(member("m-1", &jobcentre)));
    log.add(1, noon(2026, 3, 1), &ward, planned(vec![]));
    log.add(1, noon(2026, 3, 2), &ward, called("n1"));
    log.add(1, noon(2026, 3, 2), &jobcentre, offered.clone());
    log.add(1, noon(2026, 3, 8), &ward, milestone(Milestone::NetworkMeetingHeld, day(2026, 3, 8), vec![], &["n1"]));
    log.add(1, noon(2026, 3, 12), &ward, completed(12));
    // 2: meeting called, not held before the discharge; no job centre.
    log.create(2, noon(2026, 3, 1), &ward);
    log.add(2, noon(2026, 3, 1), &ward, planned(vec![]));
    log.add(2, noon(2026, 3, 2), &ward, called("n2"));
    log.add(2, noon(2026, 3, 9), &ward, completed(9));
    // 3: no meeting called; the job centre joined, then left before the discharge: in neither count.
    log.create(3, noon(2026, 3, 1), &ward);
    log.add(3, noon(2026, 3, 1), &jobcentre, EventPayload::CareTeamMemberAdded(member("m-1", &jobcentre)));
    log.add(
        3,
        noon(2026, 3, 3),
        &jobcentre,
        EventPayload::CareTeamMembershipEnded { member_id: "m-1".into(), end_date: day(2026, 3, 3) },
    );
    log.add(3, noon(2026, 3, 1), &ward, planned(vec![]));
    log.add(3, noon(2026, 3, 20), &ward, completed(20));
    // 4: no meeting called, job centre on the team (its membership ends after the discharge), no offer.
    log.create(4, noon(2026, 3, 1), &ward);
    log.add(4, noon(2026, 3, 1), &jobcentre, EventPayload::CareTeamMemberAdded(member("m-1", &jobcentre)));
    log.add(4, noon(2026, 3, 3), &jobcentre, ended(31));
    log.add(4, noon(2026, 3, 1), &ward, planned(vec![]));
    log.add(4, noon(2026, 4, 2), &ward, completed(31));

    let q = |id| log.counts(id, month(2026, 3), month(2026, 3), Granularity::Month);
    assert_eq!(q("discharge-network-meeting-in-time"), vec![row("2026-03", 1, 2)]);
    assert_eq!(q("discharge-coordinator-offered"), vec![row("2026-03", 1, 2)]);
}

#[test]
fn dual_diagnosis_stocks_stand_at_the_period_end() {
    let mut log = Log::default();
    let ward = ward();
    // 1: indsatsplan started in January, agreed in February, changed (reopened) in April.
    log.create(1, noon(2026, 1, 5), &ward);
    log.add(1, noon(2026, 1, 5), &ward, EventPayload::IndsatsplanStarted { next_meeting: day(2026, 7, 1) });
    log.add(
        1,
        noon(2026, 2, 5),
        &ward,
        EventPayload::IndsatsplanSigned { version: 1, sides: vec![SectionKind::Psychiatry], agreed: false },
    );
    log.add(1, noon(2026, 2, 6), &ward, EventPayload::IndsatsplanAccepted { version: 1, agreed: true });
    log.add(1, noon(2026, 4, 6), &ward, EventPayload::IndsatsplanReopened { version: 2 });
    // 2: referred to integrated treatment in February (dual diagnosis, no indsatsplan).
    log.create(2, noon(2026, 1, 5), &ward);
    log.add(
        2,
        noon(2026, 2, 10),
        &ward,
        milestone(Milestone::ReferredForDualDiagnosisTreatment, day(2026, 2, 10), vec![], &[]),
    );
    // 3: indsatsplan in January; its meeting clock due 31 May, recorded overdue on 1 June, held 10 August.
    log.create(3, noon(2026, 1, 5), &ward);
    log.add(3, noon(2026, 1, 5), &ward, EventPayload::IndsatsplanStarted { next_meeting: day(2026, 5, 31) });
    log.add(
        3,
        noon(2026, 1, 5),
        &ward,
        milestone(
            Milestone::IndsatsplanMeetingHeld,
            day(2026, 1, 5),
            vec![clock("i3", ClockKind::IndsatsplanMeeting, day(2026, 5, 31))],
            &[],
        ),
    );
    log.add(3, noon(2026, 6, 1), &ward, EventPayload::ClockOverdue { clock_id: "i3".into(), due_on: day(2026, 5, 31) });
    log.add(
        3,
        noon(2026, 8, 10),
        &ward,
        milestone(Milestone::IndsatsplanMeetingHeld, day(2026, 8, 10), vec![], &["i3"]),
    );
    // 4: indsatsplan, then the plan closed in March: out of both stocks from March.
    log.create(4, noon(2026, 1, 5), &ward);
    log.add(4, noon(2026, 1, 5), &ward, EventPayload::IndsatsplanStarted { next_meeting: day(2026, 7, 1) });
    log.add(4, noon(2026, 3, 5), &ward, EventPayload::PlanClosed { reason: text("r") });

    let agreed = log.counts("dual-diagnosis-indsatsplan-agreed", month(2026, 1), month(2026, 4), Granularity::Month);
    assert_eq!(agreed, vec![row("2026-01", 0, 3), row("2026-02", 1, 4), row("2026-03", 1, 3), row("2026-04", 0, 3)]);
    // A quarter's stock is its last month's.
    let quarters =
        log.counts("dual-diagnosis-indsatsplan-agreed", month(2026, 1), month(2026, 6), Granularity::Quarter);
    assert_eq!(quarters, vec![row("2026-Q1", 1, 3), row("2026-Q2", 0, 3)]);
    let overdue = log.counts("indsatsplan-meeting-overdue", month(2026, 5), month(2026, 8), Granularity::Month);
    assert_eq!(overdue, vec![row("2026-05", 0, 2), row("2026-06", 1, 2), row("2026-07", 1, 2), row("2026-08", 0, 2)]);
}

#[test]
fn contact_persons_count_over_the_twelve_months_up_to_the_period_end() {
    let mut log = Log::default();
    let ward = ward();
    let kommune = actor("kommune", Sector::MunicipalSocial);
    let assigned = || EventPayload::ContactPersonAssigned { organisation: org("ward"), professional: prof("a") };
    let handed = || EventPayload::ContactPersonHandedOver {
        from_organisation: org("ward"),
        from_professional: prof("a"),
        to_organisation: org("kommune"),
        to_professional: prof("b"),
        reason: text("r"),
    };
    // 1: a contact person from March 2025, handed over in June 2026: two in the window from June 2026 until May 2027.
    log.create(1, noon(2025, 3, 1), &ward);
    log.add(1, noon(2025, 3, 1), &ward, assigned());
    log.add(1, noon(2026, 6, 15), &kommune, handed());
    // 2: from January 2026; the plan closed in February 2026: counted until January 2027.
    log.create(2, noon(2026, 1, 1), &ward);
    log.add(2, noon(2026, 1, 1), &ward, assigned());
    log.add(2, noon(2026, 2, 1), &ward, EventPayload::PlanClosed { reason: text("r") });
    // 3: no contact person: not counted.
    log.create(3, noon(2026, 1, 1), &ward);

    // (contact persons, plans) at each month's end, from the tallies; the value released is their ratio, to a tenth.
    let at = |y, m| {
        let end = month(y, m);
        let count = |s: fn(Series) -> bool| log.tallied(Measure::ContactPersons, s, end, end);
        let (persons, plans) = (count(|s| s == Series::Num), count(|s| s == Series::Den));
        let rows = log.answer("contact-persons-per-citizen", end, end, Granularity::Month);
        assert_eq!(
            rows[0].value,
            (plans > 0).then(|| (10.0 * persons as f64 / plans as f64).round() / 10.0),
            "{y}-{m}"
        );
        (persons, plans)
    };
    assert_eq!(at(2025, 12), (1, 1));
    assert_eq!((at(2026, 5), at(2026, 6)), ((2, 2), (3, 2)));
    assert_eq!((at(2027, 1), at(2027, 2)), ((3, 2), (2, 1)));
    // The handed-over-from person leaves the window 12 months after June 2026.
    assert_eq!(at(2027, 6), (1, 1));
}

#[test]
fn legal_plans_count_the_distinct_plans_with_open_activities() {
    let mut log = Log::default();
    let ward = ward();
    let activity = |id: &str, legal: LegalPlanType| {
        EventPayload::ActivityAdded(Activity {
            activity_id: id.into(),
            section: SectionKind::Psychiatry,
            title: text("t"),
            legal_plan_type: legal,
            responsible_organisation: org("ward"),
            responsible_professional: prof("a"),
            status: ActivityStatus::Planned,
            start_date: day(2026, 1, 1),
            end_date: None,
            goal_ids: vec![],
        })
    };
    // 1: two behandlingsplan activities and a Min Plan activity: 2 plans; the Min Plan one cancelled in February: 1.
    log.create(1, noon(2026, 1, 2), &ward);
    log.add(1, noon(2026, 1, 2), &ward, activity("a1", LegalPlanType::Behandlingsplan));
    log.add(1, noon(2026, 1, 2), &ward, activity("a2", LegalPlanType::Behandlingsplan));
    log.add(1, noon(2026, 1, 2), &ward, activity("a3", LegalPlanType::Jobplan));
    log.add(
        1,
        noon(2026, 2, 2),
        &ward,
        EventPayload::ActivityStatusChanged {
            activity_id: "a3".into(),
            from: ActivityStatus::Planned,
            to: ActivityStatus::Cancelled,
        },
    );
    // 2: no activities.
    log.create(2, noon(2026, 1, 2), &ward);
    let q = log.counts("legal-plans-per-citizen", month(2026, 1), month(2026, 2), Granularity::Month);
    assert_eq!(q, vec![row("2026-01", 2, 2), row("2026-02", 1, 2)]);
}

#[test]
fn emergency_accesses_per_thousand_open_plans() {
    let mut log = Log::default();
    let ward = ward();
    for plan in 1..=4 {
        log.create(plan, noon(2026, 1, 2), &ward);
    }
    let granted = || EventPayload::EmergencyAccessGranted {
        grant_id: "g".into(),
        justification: text("j"),
        expires_at: noon(2026, 1, 3),
    };
    log.add(1, noon(2026, 1, 2), &ward, granted());
    log.add(2, noon(2026, 1, 20), &ward, granted());
    log.add(3, noon(2026, 2, 2), &ward, EventPayload::PlanClosed { reason: text("r") });
    let rows = log.answer("emergency-accesses-per-1000-plans", month(2026, 1), month(2026, 2), Granularity::Month);
    let values: Vec<_> = rows.into_iter().map(|r| (r.period, r.numerator, r.denominator, r.value)).collect();
    assert_eq!(
        values,
        vec![("2026-01".into(), Some(2), Some(4), Some(500.0)), ("2026-02".into(), Some(0), Some(3), Some(0.0))]
    );
}

#[test]
fn a_period_is_released_once_settled_and_counts_what_was_recorded_by_then() {
    let mut log = Log::default();
    let ward = ward();
    let referred = |id: &str| {
        milestone(
            Milestone::ReferredForAssessment,
            day(2026, 1, 5),
            vec![clock(id, ClockKind::Assessment, day(2026, 2, 4))],
            &[],
        )
    };
    let assessed = |on, id: &str| milestone(Milestone::AssessmentCompleted { serious: true }, on, vec![], &[id]);
    // Assessed in January, recorded in January; and one assessed in January but recorded only in May.
    log.create(1, noon(2026, 1, 5), &ward);
    log.add(1, noon(2026, 1, 5), &ward, referred("a1"));
    log.add(1, noon(2026, 1, 20), &ward, assessed(day(2026, 1, 20), "a1"));
    log.create(2, noon(2026, 1, 5), &ward);
    log.add(2, noon(2026, 1, 5), &ward, referred("a2"));
    log.add(2, noon(2026, 5, 2), &ward, assessed(day(2026, 1, 21), "a2"));
    let projection = Projection::fold(&log.events);
    let ask = |today: Month| {
        let query = Query {
            indicators: vec!["clock-met-assessment".into()],
            from: month(2026, 1),
            to: month(2026, 3),
            granularity: Granularity::Quarter,
            grouping: Grouping::Country,
        };
        let rules = Rules { threshold: 0, settle_months: 1, today };
        let row =
            answer(projection.cells(), &Catalogue::standard(), &Geography::default(), &query, rules).rows.remove(0);
        (row.suppression, row.numerator)
    };
    // Q1 ends in March and settles a month later: pending until May.
    assert_eq!(ask(month(2026, 3)), (Suppression::Pending, None));
    assert_eq!(ask(month(2026, 4)), (Suppression::Pending, None));
    // From May on: what was recorded by the end of April, and that for ever.
    assert_eq!(ask(month(2026, 5)), (Suppression::None, Some(1)));
    assert_eq!(ask(month(2030, 1)), (Suppression::None, Some(1)));
}
