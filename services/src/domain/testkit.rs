//! Shorthands for building domain values in tests, and the given-when-then harness.

use super::*;
use crate::domain::plan::Plan;

pub fn org(id: &str) -> OrganisationId {
    OrganisationId::parse("organisation_id", id).expect("organisation id")
}

pub fn prof(id: &str) -> ProfessionalId {
    ProfessionalId::parse("professional_id", id).expect("professional id")
}

pub fn day(y: i32, m: u32, d: u32) -> Date {
    Date::from_ymd_opt(y, m, d).expect("date")
}

/// Noon (UTC) on a day: the hub's clock, injected.
pub fn at(y: i32, m: u32, d: u32) -> Timestamp {
    Timestamp(day(y, m, d).and_hms_opt(12, 0, 0).expect("time").and_utc().timestamp_micros())
}

pub fn text(s: &str) -> Text {
    Text::parse("text", s).expect("text")
}

/// Professional `p-1`, a nurse, of `organisation`.
pub fn actor(organisation: &str, sector: Sector) -> Actor {
    Actor {
        organisation: org(organisation),
        sector,
        professional: prof("p-1"),
        role: ProfessionalRole::Nurse,
        own_plan: None,
    }
}

pub fn ward() -> Actor {
    actor("ward", Sector::RegionalPsychiatry)
}
pub fn municipality() -> Actor {
    actor("kommune", Sector::MunicipalSocial)
}
pub fn jobcentre() -> Actor {
    actor("jobcenter", Sector::JobCentre)
}
pub fn outsider() -> Actor {
    actor("outsider", Sector::MunicipalSocial)
}

/// The citizen of `plan`, acting through the citizen portal (their assertion proved it).
pub fn citizen(plan: &Plan) -> Actor {
    Actor {
        role: ProfessionalRole::Citizen,
        own_plan: Some(plan.id),
        professional: prof("mitid-7f3a"),
        ..actor("borgerportal", Sector::Citizen)
    }
}

/// 2026-11-23 12:00 UTC.
pub const NOW: Timestamp = Timestamp(1_795_435_200_000_000);

pub struct Given {
    pub plan: Plan,
    pub rules: OwnershipRules,
    pub deadlines: DeadlineRules,
}

impl Given {
    /// A draft plan created by the ward.
    pub fn plan() -> Self {
        let created = create(&ward(), CprKind::Regular, NOW.date(), text("indlagt"), IdSeed(1));
        let event = record(PlanId([1; 16]), 1, created, &ward());
        Self {
            plan: Plan::from_first(&event).expect("created"),
            rules: OwnershipRules::default(),
            deadlines: DeadlineRules::default(),
        }
    }

    /// The ids of the plan's items, which decisions draw at random: the
    /// `n`th goal, activity, care-team member, clock, … (1-based).
    pub fn goal_id(&self, n: usize) -> String {
        self.plan.goals[n - 1].goal_id.clone()
    }

    pub fn activity_id(&self, n: usize) -> String {
        self.plan.activities[n - 1].activity_id.clone()
    }

    pub fn member_id(&self, n: usize) -> String {
        self.plan.care_team[n - 1].member_id.clone()
    }

    pub fn clock_id(&self, n: usize) -> String {
        self.plan.clocks[n - 1].clock_id.clone()
    }

    pub fn statement_id(&self, n: usize) -> String {
        self.plan.advance_statements[n - 1].statement_id.clone()
    }

    pub fn relative_id(&self, n: usize) -> String {
        self.plan.relatives[n - 1].relative_id.clone()
    }

    pub fn consent_id(&self, n: usize) -> String {
        self.plan.consents[n - 1].terms.consent_id.clone()
    }

    pub fn objection_id(&self, n: usize) -> String {
        self.plan.objections[n - 1].terms.objection_id.clone()
    }

    /// A copy of this plan, to try another story on.
    pub fn clone_plan(&self) -> Self {
        Self { plan: self.plan.clone(), rules: self.rules.clone(), deadlines: self.deadlines.clone() }
    }

    /// Applies `command` by `by`, which must succeed.
    pub fn and(self, by: &Actor, command: Command) -> Self {
        self.and_at(NOW, by, command)
    }

    /// Applies the command `command` makes of the plan as it stands (to name
    /// its items by their ids), by `by`, which must succeed.
    pub fn and_with(self, by: &Actor, command: impl FnOnce(&Self) -> Command) -> Self {
        let command = command(&self);
        self.and(by, command)
    }

    /// Applies `command` by `by` at `now`, which must succeed.
    pub fn and_at(mut self, now: Timestamp, by: &Actor, command: Command) -> Self {
        let events = self.when_at(now, by, &command).expect("given command succeeds");
        for payload in events {
            self.apply(payload, by);
        }
        self
    }

    /// Appends an event as the store would.
    pub fn apply(&mut self, payload: EventPayload, by: &Actor) {
        let mut event = record(self.plan.id, self.plan.version + 1, payload, by);
        event.category = event.payload.category(Some(&self.plan));
        self.plan.apply(&event);
    }

    pub fn when(&self, by: &Actor, command: &Command) -> Result<Vec<EventPayload>, DomainError> {
        self.when_at(NOW, by, command)
    }

    pub fn when_at(&self, now: Timestamp, by: &Actor, command: &Command) -> Result<Vec<EventPayload>, DomainError> {
        // Deterministic, and different for every state of the plan (as random seeds are).
        let ids = IdSeed(self.plan.version);
        decide(&self.plan, command, Context { actor: by, now, ids, rules: &self.rules, deadlines: &self.deadlines })
    }

    pub fn with_team(self) -> Self {
        let join = |a: &Actor| Command::AddCareTeamMember {
            organisation: OrganisationRef { id: a.organisation.clone(), sector: a.sector },
            professional: None,
            role: ProfessionalRole::SocialWorker,
            start_date: NOW.date(),
            end_date: None,
            ground: Some(text("borgerens samtykke")),
        };
        self.and(&ward(), join(&municipality())).and(&ward(), join(&jobcentre()))
    }

    pub fn with_contact(self) -> Self {
        self.and(&ward(), Command::AssignContactPerson { organisation: org("ward"), professional: prof("p-1") })
    }
}

pub fn record(plan_id: PlanId, sequence: u64, payload: EventPayload, by: &Actor) -> RecordedEvent {
    RecordedEvent {
        plan_id,
        sequence,
        global_position: sequence,
        recorded_at: NOW,
        actor: by.clone(),
        correlation_id: "test".into(),
        request_id: None,
        category: payload.category(None),
        payload,
    }
}

pub fn reason(err: DomainError) -> &'static str {
    match err {
        DomainError::Precondition { reason, .. } | DomainError::Forbidden { reason, .. } => reason,
        DomainError::Invalid { field, .. } => field,
        DomainError::PlanNotFound => "PLAN_NOT_FOUND",
    }
}

pub fn addiction() -> Actor {
    actor("misbrug", Sector::AddictionService)
}

/// A plan the ward created, with social services, the job centre and the addiction service on its team,
/// a goal of the citizen's and a substance-abuse goal.
pub fn dual_diagnosis() -> Given {
    let join = Command::AddCareTeamMember {
        organisation: OrganisationRef { id: addiction().organisation, sector: Sector::AddictionService },
        professional: None,
        role: ProfessionalRole::AddictionCounsellor,
        start_date: NOW.date(),
        end_date: None,
        ground: None,
    };
    Given::plan()
        .with_team()
        .and(&ward(), join)
        .and(&ward(), Command::AddGoal { text: text("have et arbejde"), category: DataCategory::Goals })
        .and(&addiction(), Command::AddGoal { text: text("drikke mindre"), category: DataCategory::SubstanceAbuse })
}

/// The ward's udskrivningsaftale in its psychiatry section (which it must own).
pub fn udskrivningsaftale() -> Command {
    Command::AddActivity {
        section: SectionKind::Psychiatry,
        title: text("Udskrivningsaftale"),
        legal_plan_type: LegalPlanType::Udskrivningsaftale,
        responsible_professional: prof("p-1"),
        start_date: NOW.date(),
        end_date: None,
        goal_ids: Vec::new(),
    }
}
