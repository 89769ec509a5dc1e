//! What the indicators need to know of one plan, and the tallies each of
//! its events adds. Every rule here is one line of a catalogue definition
//! (see `catalogue.toml`); dates are Danish calendar dates.

use std::collections::{BTreeMap, BTreeSet};

use super::{MAX_DAYS, Measure, Month, Series, Tally};
use crate::domain::deadlines::{Milestone, StartedClock};
use crate::domain::{ClockKind, Date, EventPayload, LegalPlanType, OrganisationId, RecordedEvent, Sector};

#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Track {
    /// The organisation that created the plan: citizen-level measures are
    /// attributed to it.
    home: Option<OrganisationId>,
    open: bool,
    /// Clocks not yet stopped or ended.
    clocks: BTreeMap<String, ClockTrack>,
    /// The referral not yet assessed, and the last one assessed but not yet
    /// treated (with the treatment clocks its assessment started).
    referral: Option<Referral>,
    awaiting_treatment: Option<Referral>,
    discharge: Option<Episode>,
    /// Care-team members: their organisation's sector, and the last day of
    /// membership once it was ended.
    members: BTreeMap<String, (Sector, Option<Date>)>,
    dual_diagnosis: bool,
    indsatsplan: bool,
    agreed: bool,
    /// Indsatsplan meeting clocks recorded overdue and still open.
    meetings_overdue: BTreeSet<String>,
    /// Each activity's legal plan, and whether it is planned or in progress.
    activities: BTreeMap<String, (LegalPlanType, bool)>,
    contact: Contact,
    /// The plan's contribution to each of [`STOCKS`] as last tallied.
    stocks: [i64; STOCKS.len()],
}

#[derive(Clone, Debug, PartialEq)]
struct ClockTrack {
    kind: ClockKind,
    due_on: Date,
    responsible: OrganisationId,
    /// Recorded overdue, and so counted missed in the month of this day, its
    /// first overdue day (undone if a milestone before it turns up, or the
    /// clock is ended).
    missed_from: Option<Date>,
}

#[derive(Clone, Debug, PartialEq)]
struct Referral {
    received_on: Date,
    /// The clocks waiting on it (assessment; after the assessment,
    /// treatment): ending one ends the wait.
    clocks: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Episode {
    network_clock: Option<String>,
    network_met: bool,
    coordinator_offered: bool,
}

/// The stocks a plan counts in, in the order of [`Track::stocks`].
const STOCKS: [(Measure, Series); 6] = [
    (Measure::IndsatsplanAgreed, Series::Den),
    (Measure::IndsatsplanAgreed, Series::Num),
    (Measure::IndsatsplanMeetingOverdue, Series::Den),
    (Measure::IndsatsplanMeetingOverdue, Series::Num),
    (Measure::LegalPlans, Series::Den),
    (Measure::LegalPlans, Series::Num),
];

/// The contact-person periods as the 12-month window counts them.
#[derive(Clone, Debug, Default, PartialEq)]
struct Contact {
    /// A contact person was in place when the plan was closed.
    suspended: bool,
    /// Until when the plan counts among those with a contact person in the
    /// window: `None` not at all, `Some(None)` while one is in place.
    counted_until: Option<Option<Month>>,
}

/// Where an event's tallies go: all recorded in the event's month.
struct Out<'a> {
    tallies: &'a mut Vec<Tally>,
    recorded: Month,
}

impl Out<'_> {
    fn add(&mut self, measure: Measure, series: Series, month: Month, organisation: &OrganisationId, delta: i64) {
        if delta != 0 {
            let (recorded, organisation) = (self.recorded, organisation.clone());
            self.tallies.push(Tally { measure, series, month, recorded, organisation, delta });
        }
    }

    /// One decided observation of a share (`delta` -1 takes one back).
    fn share(&mut self, measure: Measure, month: Month, organisation: &OrganisationId, met: bool, delta: i64) {
        self.add(measure, Series::Den, month, organisation, delta);
        if met {
            self.add(measure, Series::Num, month, organisation, delta);
        }
    }

    fn days(&mut self, measure: Measure, from: Date, to: Date, organisation: &OrganisationId) {
        let days = (to - from).num_days().clamp(0, i64::from(MAX_DAYS)) as u16;
        self.add(measure, Series::Days(days), Month::of(to), organisation, 1);
    }
}

impl Track {
    /// Adds to `tallies` what `event` (the plan's next) counts for.
    pub(super) fn observe(&mut self, event: &RecordedEvent, tallies: &mut Vec<Tally>) {
        let at = Month::of(event.recorded_at.date());
        let mut out = Out { tallies, recorded: at };
        if let EventPayload::PlanCreated { first_member, .. } = &event.payload {
            self.home = Some(event.actor.organisation.clone());
            self.open = true;
            self.members.insert(first_member.member_id.clone(), (first_member.sector, None));
        }
        let Some(home) = self.home.clone() else { return };
        self.plan(&event.payload, at, &home, &mut out);
        self.clock(&event.payload, &event.actor.organisation, &mut out);
        self.pathway(&event.payload, &event.actor.organisation, &mut out);
        self.tally_stocks(at, &home, &mut out);
    }

    /// The plan's lifecycle, team, activities, contact person, consents and emergency accesses.
    fn plan(&mut self, payload: &EventPayload, at: Month, home: &OrganisationId, out: &mut Out) {
        match payload {
            EventPayload::PlanClosed { .. } => {
                self.open = false;
                if self.contact.current() {
                    self.contact.end(at, home, out);
                    self.contact.suspended = true;
                }
            }
            EventPayload::PlanReopened { .. } => {
                self.open = true;
                if std::mem::take(&mut self.contact.suspended) {
                    self.contact.start(at, home, out);
                }
            }
            EventPayload::CareTeamMemberAdded(member)
            | EventPayload::CareTeamJoined { member, .. }
            | EventPayload::CareTeamMemberInvited { member, .. } => {
                self.members.insert(member.member_id.clone(), (member.sector, None));
            }
            EventPayload::CareTeamMembershipEnded { member_id, end_date } => {
                if let Some((_, end)) = self.members.get_mut(member_id) {
                    *end = Some(*end_date);
                }
            }
            EventPayload::ActivityAdded(activity) => {
                let open = activity.status.is_open();
                self.activities.insert(activity.activity_id.clone(), (activity.legal_plan_type, open));
            }
            EventPayload::ActivityStatusChanged { activity_id, to, .. } => {
                if let Some((_, open)) = self.activities.get_mut(activity_id) {
                    *open = to.is_open();
                }
            }
            EventPayload::ContactPersonAssigned { .. } | EventPayload::ContactPersonHandedOver { .. } => {
                if self.contact.current() {
                    self.contact.end(at, home, out);
                }
                self.contact.start(at, home, out);
            }
            EventPayload::ConsentWithdrawn { .. } => out.add(Measure::ConsentsWithdrawn, Series::Num, at, home, 1),
            EventPayload::EmergencyAccessGranted { .. } => {
                out.add(Measure::EmergencyAccesses, Series::Num, at, home, 1);
            }
            _ => {}
        }
    }

    /// Clocks started, paused, resumed, recorded overdue, met or ended.
    fn clock(&mut self, payload: &EventPayload, actor: &OrganisationId, out: &mut Out) {
        match payload {
            EventPayload::MilestoneRecorded { occurred_on, stopped, .. } => {
                for clock_id in stopped {
                    self.stop(clock_id, *occurred_on, out);
                }
            }
            EventPayload::ClockResumed { clock_id, due_on, .. } => {
                if let Some(clock) = self.clocks.get_mut(clock_id) {
                    clock.due_on = *due_on;
                }
            }
            EventPayload::ClockOverdue { clock_id, due_on } => {
                if let Some(clock) = self.clocks.get_mut(clock_id)
                    && clock.missed_from.is_none()
                {
                    let first_overdue = due_on.succ_opt().unwrap_or(*due_on);
                    clock.missed_from = Some(first_overdue);
                    out.share(
                        Measure::ClockMetInTime(clock.kind),
                        Month::of(first_overdue),
                        &clock.responsible,
                        false,
                        1,
                    );
                    if clock.kind == ClockKind::IndsatsplanMeeting {
                        self.meetings_overdue.insert(clock_id.clone());
                    }
                }
            }
            EventPayload::ClockEnded { clock_id, .. } => {
                // Neither met nor missed: a miss counted already is taken back.
                if let Some(clock) = self.clocks.remove(clock_id)
                    && let Some(missed) = clock.missed_from
                {
                    out.share(Measure::ClockMetInTime(clock.kind), Month::of(missed), &clock.responsible, false, -1);
                }
                self.meetings_overdue.remove(clock_id);
                for waiting in [&mut self.referral, &mut self.awaiting_treatment] {
                    if waiting.as_ref().is_some_and(|r| r.clocks.contains(clock_id)) {
                        *waiting = None;
                    }
                }
                if let Some(episode) = &mut self.discharge
                    && episode.network_clock.as_ref() == Some(clock_id)
                {
                    episode.network_clock = None;
                }
            }
            _ => {}
        }
        if let EventPayload::MilestoneRecorded { started, .. } | EventPayload::NetworkMeetingCalled { started, .. } =
            payload
        {
            self.start(started, actor);
        }
    }

    /// Referrals, assessments, treatment, discharges and dual diagnoses.
    fn pathway(&mut self, payload: &EventPayload, actor: &OrganisationId, out: &mut Out) {
        match payload {
            EventPayload::MilestoneRecorded { milestone, occurred_on, started, .. } => {
                self.milestone(milestone, *occurred_on, started, actor, out);
            }
            EventPayload::NetworkMeetingCalled { started, .. } => {
                if let Some(episode) = &mut self.discharge
                    && let Some(clock) = started.iter().find(|c| c.kind == ClockKind::NetworkMeeting)
                {
                    episode.network_clock = Some(clock.clock_id.clone());
                }
            }
            EventPayload::IndsatsplanStarted { .. } => {
                self.indsatsplan = true;
                self.dual_diagnosis = true;
            }
            EventPayload::IndsatsplanSigned { agreed, .. } | EventPayload::IndsatsplanAccepted { agreed, .. } => {
                self.agreed |= *agreed;
            }
            EventPayload::IndsatsplanReopened { .. } => self.agreed = false,
            EventPayload::DischargeCoordinatorOffered { .. } => {
                if let Some(episode) = &mut self.discharge {
                    episode.coordinator_offered = true;
                }
            }
            EventPayload::DischargeCompleted { on } => {
                if let Some(episode) = self.discharge.take() {
                    let month = Month::of(*on);
                    if episode.network_clock.is_some() {
                        out.share(Measure::NetworkMeetingInTime, month, actor, episode.network_met, 1);
                    }
                    // A member ended with a last day on or after the discharge was still on the team.
                    let job_centre = |(sector, end): &(Sector, Option<Date>)| {
                        *sector == Sector::JobCentre && end.is_none_or(|end| end >= *on)
                    };
                    if self.members.values().any(job_centre) {
                        out.share(Measure::CoordinatorOffered, month, actor, episode.coordinator_offered, 1);
                    }
                }
            }
            _ => {}
        }
    }

    fn milestone(
        &mut self,
        milestone: &Milestone,
        on: Date,
        started: &[StartedClock],
        actor: &OrganisationId,
        out: &mut Out,
    ) {
        match milestone {
            Milestone::ReferredForAssessment => {
                let clocks = started.iter().filter(|c| c.kind == ClockKind::Assessment);
                let clocks = clocks.map(|c| c.clock_id.clone()).collect();
                self.referral = Some(Referral { received_on: on, clocks });
            }
            Milestone::AssessmentCompleted { .. } => {
                if let Some(referral) = self.referral.take() {
                    out.days(Measure::DaysToAssessment, referral.received_on, on, actor);
                    let treatment = started
                        .iter()
                        .filter(|c| matches!(c.kind, ClockKind::TreatmentSerious | ClockKind::TreatmentOther));
                    let clocks = treatment.map(|c| c.clock_id.clone()).collect();
                    self.awaiting_treatment = Some(Referral { received_on: referral.received_on, clocks });
                }
            }
            Milestone::PsychiatricTreatmentStarted => {
                if let Some(referral) = self.awaiting_treatment.take().or_else(|| self.referral.take()) {
                    out.days(Measure::DaysToTreatment, referral.received_on, on, actor);
                }
            }
            Milestone::DischargePlanned { .. } => {
                let network_clock = started.iter().find(|c| c.kind == ClockKind::NetworkMeeting);
                let network_clock = network_clock.map(|c| c.clock_id.clone());
                self.discharge = Some(Episode { network_clock, ..Episode::default() });
            }
            Milestone::ReferredForDualDiagnosisTreatment => self.dual_diagnosis = true,
            _ => {}
        }
    }

    fn start(&mut self, started: &[StartedClock], actor: &OrganisationId) {
        for clock in started {
            let track =
                ClockTrack { kind: clock.kind, due_on: clock.due_on, responsible: actor.clone(), missed_from: None };
            self.clocks.insert(clock.clock_id.clone(), track);
        }
    }

    /// A clock met by a milestone on `on`: in time (on or before its due
    /// date, as [`crate::domain::Clock::met`] says), or late — counted in the
    /// month of its first overdue day. A miss recorded already stays, unless
    /// the milestone happened before that day (recorded late).
    fn stop(&mut self, clock_id: &str, on: Date, out: &mut Out) {
        let Some(clock) = self.clocks.remove(clock_id) else { return };
        self.meetings_overdue.remove(clock_id);
        let in_time = match clock.missed_from {
            Some(missed) => on < missed,
            None => on <= clock.due_on,
        };
        let measure = Measure::ClockMetInTime(clock.kind);
        match (clock.missed_from, in_time) {
            (Some(missed), true) => {
                out.share(measure, Month::of(missed), &clock.responsible, false, -1);
                out.share(measure, Month::of(on), &clock.responsible, true, 1);
            }
            (Some(_), false) => {}
            (None, true) => out.share(measure, Month::of(on), &clock.responsible, true, 1),
            (None, false) => {
                let first_overdue = clock.due_on.succ_opt().unwrap_or(clock.due_on);
                out.share(measure, Month::of(first_overdue), &clock.responsible, false, 1);
            }
        }
        if let Some(episode) = &mut self.discharge
            && episode.network_clock.as_deref() == Some(clock_id)
        {
            episode.network_met = in_time;
        }
    }

    /// Tallies the change of the plan's stock contributions in `at` (for
    /// every event: no allocation).
    fn tally_stocks(&mut self, at: Month, home: &OrganisationId, out: &mut Out) {
        let flag = |b: bool| i64::from(b);
        let dual = self.open && self.dual_diagnosis;
        let with_indsatsplan = self.open && self.indsatsplan;
        // The distinct legal plans in use, as a set of bits.
        let legal_plans =
            self.activities.values().filter(|(_, open)| *open).fold(0u32, |set, (legal, _)| set | 1 << *legal as u8);
        let overdue = with_indsatsplan && !self.meetings_overdue.is_empty();
        let now = [
            flag(dual),
            flag(dual && self.agreed),
            flag(with_indsatsplan),
            flag(overdue),
            flag(self.open),
            if self.open { i64::from(legal_plans.count_ones()) } else { 0 },
        ];
        for (((measure, series), value), previous) in STOCKS.iter().zip(now).zip(self.stocks) {
            out.add(*measure, *series, at, home, value - previous);
        }
        self.stocks = now;
    }
}

impl Contact {
    /// A contact person is in place (the plan is open).
    fn current(&self) -> bool {
        self.counted_until == Some(None)
    }

    /// A contact person takes over in `at`: counted in the window of every
    /// month's end from `at` on, until 12 months after the period ends.
    fn start(&mut self, at: Month, home: &OrganisationId, out: &mut Out) {
        out.add(Measure::ContactPersons, Series::Num, at, home, 1);
        match self.counted_until {
            None => out.add(Measure::ContactPersons, Series::Den, at, home, 1),
            Some(None) => {}
            // Still in the window of the last period: the plan stays counted.
            Some(Some(until)) if at < until => out.add(Measure::ContactPersons, Series::Den, until, home, 1),
            Some(Some(_)) => out.add(Measure::ContactPersons, Series::Den, at, home, 1),
        }
        self.counted_until = Some(None);
    }

    /// The contact person's period ends in `at`.
    fn end(&mut self, at: Month, home: &OrganisationId, out: &mut Out) {
        let until = at.plus(12);
        out.add(Measure::ContactPersons, Series::Num, until, home, -1);
        out.add(Measure::ContactPersons, Series::Den, until, home, -1);
        self.counted_until = Some(Some(until));
    }
}
