//! What the indicators need to know of one plan, and the tallies each of
//! its events adds. Every rule here is one line of a catalogue definition
//! (see `catalogue.toml`); dates are Danish calendar dates.

use std::collections::{BTreeMap, BTreeSet};

use super::{MAX_DAYS, Measure, Month, Series, Tally};
use crate::domain::deadlines::Milestone;
use crate::domain::{ClockKind, Date, EventPayload, LegalPlanType, OrganisationId, RecordedEvent, Sector};

#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct Track {
    /// The organisation that created the plan: citizen-level measures are
    /// attributed to it.
    home: Option<OrganisationId>,
    open: bool,
    /// Clocks not yet stopped or ended.
    clocks: BTreeMap<String, ClockTrack>,
    referral: Option<Referral>,
    discharge: Option<Episode>,
    /// Active care-team members: their organisation's sector.
    members: BTreeMap<String, Sector>,
    dual_diagnosis: bool,
    indsatsplan: bool,
    agreed: bool,
    /// Indsatsplan meeting clocks recorded overdue and still open.
    meetings_overdue: BTreeSet<String>,
    /// Each activity's legal plan, and whether it is planned or in progress.
    activities: BTreeMap<String, (LegalPlanType, bool)>,
    contact: Contact,
    /// The stock contributions last tallied.
    stocks: Vec<(Measure, Series, i64)>,
}

#[derive(Clone, Debug, PartialEq)]
struct ClockTrack {
    kind: ClockKind,
    due_on: Date,
    responsible: OrganisationId,
    /// Recorded overdue: counted as missed already.
    missed: bool,
}

#[derive(Clone, Debug, PartialEq)]
struct Referral {
    received_on: Date,
    assessed: bool,
    /// The assessment clocks it started: ending one ends the referral.
    clocks: Vec<String>,
}

#[derive(Clone, Debug, Default, PartialEq)]
struct Episode {
    network_clock: Option<String>,
    network_met: bool,
    coordinator_offered: bool,
}

/// The contact-person periods as the 12-month window counts them.
#[derive(Clone, Debug, Default, PartialEq)]
struct Contact {
    /// A contact person is in place (the plan is open).
    current: bool,
    /// A contact person was in place when the plan was closed.
    suspended: bool,
    /// Until when the plan counts among those with a contact person in the
    /// window: `None` not at all, `Some(None)` while one is in place.
    counted_until: Option<Option<Month>>,
}

struct Out<'a> {
    tallies: &'a mut Vec<Tally>,
}

impl Out<'_> {
    fn add(&mut self, measure: Measure, series: Series, month: Month, organisation: &OrganisationId, delta: i64) {
        if delta != 0 {
            self.tallies.push(Tally { measure, series, month, organisation: organisation.clone(), delta });
        }
    }

    /// One decided observation of a share: counted, and met or not.
    fn share(&mut self, measure: Measure, month: Month, organisation: &OrganisationId, met: bool) {
        self.add(measure, Series::Den, month, organisation, 1);
        if met {
            self.add(measure, Series::Num, month, organisation, 1);
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
        let mut out = Out { tallies };
        let at = Month::of(event.recorded_at.date());
        let actor = &event.actor.organisation;
        if let EventPayload::PlanCreated { first_member, .. } = &event.payload {
            self.home = Some(actor.clone());
            self.open = true;
            self.members.insert(first_member.member_id.clone(), first_member.sector);
        }
        let Some(home) = self.home.clone() else { return };
        match &event.payload {
            EventPayload::PlanClosed { .. } => {
                self.open = false;
                if self.contact.current {
                    self.contact.end(at, &home, &mut out);
                    self.contact.suspended = true;
                }
            }
            EventPayload::PlanReopened { .. } => {
                self.open = true;
                if std::mem::take(&mut self.contact.suspended) {
                    self.contact.start(at, &home, &mut out);
                }
            }
            EventPayload::CareTeamMemberAdded(member)
            | EventPayload::CareTeamJoined { member, .. }
            | EventPayload::CareTeamMemberInvited { member, .. } => {
                self.members.insert(member.member_id.clone(), member.sector);
            }
            EventPayload::CareTeamMembershipEnded { member_id, .. } => {
                self.members.remove(member_id);
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
                if self.contact.current {
                    self.contact.end(at, &home, &mut out);
                }
                self.contact.start(at, &home, &mut out);
            }
            EventPayload::ConsentWithdrawn { .. } => {
                out.add(Measure::ConsentsWithdrawn, Series::Num, at, &home, 1);
            }
            EventPayload::EmergencyAccessGranted { .. } => {
                out.add(Measure::EmergencyAccesses, Series::Num, at, &home, 1);
            }
            EventPayload::MilestoneRecorded { milestone, occurred_on, started, stopped } => {
                for clock_id in stopped {
                    self.stop(clock_id, *occurred_on, &mut out);
                }
                self.milestone(milestone, *occurred_on, started, actor, &mut out);
                self.start(started, actor);
            }
            EventPayload::NetworkMeetingCalled { started, .. } => {
                if let Some(episode) = &mut self.discharge
                    && let Some(clock) = started.iter().find(|c| c.kind == ClockKind::NetworkMeeting)
                {
                    episode.network_clock = Some(clock.clock_id.clone());
                }
                self.start(started, actor);
            }
            EventPayload::ClockResumed { clock_id, due_on, .. } => {
                if let Some(clock) = self.clocks.get_mut(clock_id) {
                    clock.due_on = *due_on;
                }
            }
            EventPayload::ClockOverdue { clock_id, due_on } => {
                if let Some(clock) = self.clocks.get_mut(clock_id)
                    && !clock.missed
                {
                    clock.missed = true;
                    let first_overdue = due_on.succ_opt().unwrap_or(*due_on);
                    out.share(Measure::ClockMetInTime(clock.kind), Month::of(first_overdue), &clock.responsible, false);
                    if clock.kind == ClockKind::IndsatsplanMeeting {
                        self.meetings_overdue.insert(clock_id.clone());
                    }
                }
            }
            EventPayload::ClockEnded { clock_id, .. } => {
                // Neither met nor missed (unless it had been recorded missed).
                self.clocks.remove(clock_id);
                self.meetings_overdue.remove(clock_id);
                if self.referral.as_ref().is_some_and(|r| !r.assessed && r.clocks.contains(clock_id)) {
                    self.referral = None;
                }
                if let Some(episode) = &mut self.discharge
                    && episode.network_clock.as_ref() == Some(clock_id)
                {
                    episode.network_clock = None;
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
                        out.share(Measure::NetworkMeetingInTime, month, actor, episode.network_met);
                    }
                    if self.members.values().any(|s| *s == Sector::JobCentre) {
                        out.share(Measure::CoordinatorOffered, month, actor, episode.coordinator_offered);
                    }
                }
            }
            _ => {}
        }
        self.tally_stocks(at, &home, &mut out);
    }

    fn milestone(
        &mut self,
        milestone: &Milestone,
        on: Date,
        started: &[crate::domain::deadlines::StartedClock],
        actor: &OrganisationId,
        out: &mut Out,
    ) {
        match milestone {
            Milestone::ReferredForAssessment => {
                let clocks = started.iter().filter(|c| c.kind == ClockKind::Assessment);
                let clocks = clocks.map(|c| c.clock_id.clone()).collect();
                self.referral = Some(Referral { received_on: on, assessed: false, clocks });
            }
            Milestone::AssessmentCompleted { .. } => {
                if let Some(referral) = &mut self.referral
                    && !referral.assessed
                {
                    referral.assessed = true;
                    out.days(Measure::DaysToAssessment, referral.received_on, on, actor);
                }
            }
            Milestone::PsychiatricTreatmentStarted => {
                if let Some(referral) = self.referral.take() {
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

    fn start(&mut self, started: &[crate::domain::deadlines::StartedClock], actor: &OrganisationId) {
        for clock in started {
            let track =
                ClockTrack { kind: clock.kind, due_on: clock.due_on, responsible: actor.clone(), missed: false };
            self.clocks.insert(clock.clock_id.clone(), track);
        }
    }

    /// A clock met by a milestone on `on`: in time, or late (counted in the
    /// month it went overdue, unless that was counted already).
    fn stop(&mut self, clock_id: &str, on: Date, out: &mut Out) {
        let Some(clock) = self.clocks.remove(clock_id) else { return };
        self.meetings_overdue.remove(clock_id);
        let in_time = !clock.missed && on <= clock.due_on;
        if !clock.missed {
            let decided = if in_time { on } else { clock.due_on.succ_opt().unwrap_or(clock.due_on) };
            out.share(Measure::ClockMetInTime(clock.kind), Month::of(decided), &clock.responsible, in_time);
        }
        if let Some(episode) = &mut self.discharge
            && episode.network_clock.as_deref() == Some(clock_id)
        {
            episode.network_met = in_time;
        }
    }

    /// Tallies the change of the plan's stock contributions in `at`.
    fn tally_stocks(&mut self, at: Month, home: &OrganisationId, out: &mut Out) {
        let flag = |b: bool| i64::from(b);
        let dual = self.open && self.dual_diagnosis;
        let with_indsatsplan = self.open && self.indsatsplan;
        let mut legal_plans: Vec<_> = self.activities.values().filter(|(_, open)| *open).map(|(t, _)| *t).collect();
        legal_plans.sort_by_key(|t| *t as u8);
        legal_plans.dedup();
        let now = vec![
            (Measure::IndsatsplanAgreed, Series::Den, flag(dual)),
            (Measure::IndsatsplanAgreed, Series::Num, flag(dual && self.agreed)),
            (Measure::IndsatsplanMeetingOverdue, Series::Den, flag(with_indsatsplan)),
            (
                Measure::IndsatsplanMeetingOverdue,
                Series::Num,
                flag(with_indsatsplan && !self.meetings_overdue.is_empty()),
            ),
            (Measure::LegalPlans, Series::Den, flag(self.open)),
            (Measure::LegalPlans, Series::Num, if self.open { legal_plans.len() as i64 } else { 0 }),
            (Measure::OpenPlans, Series::Num, flag(self.open)),
        ];
        let before = std::mem::replace(&mut self.stocks, now);
        for (i, (measure, series, value)) in self.stocks.iter().enumerate() {
            let previous = before.get(i).map_or(0, |(_, _, v)| *v);
            out.add(*measure, *series, at, home, value - previous);
        }
    }
}

impl Contact {
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
        self.current = true;
    }

    /// The contact person's period ends in `at`.
    fn end(&mut self, at: Month, home: &OrganisationId, out: &mut Out) {
        let until = at.plus(12);
        out.add(Measure::ContactPersons, Series::Num, until, home, -1);
        out.add(Measure::ContactPersons, Series::Den, until, home, -1);
        self.counted_until = Some(Some(until));
        self.current = false;
    }
}
