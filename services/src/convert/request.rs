//! Requests into domain values: every field checked, every violation reported at once.

use std::borrow::Cow;

use samplan_proto::v1 as pb;

use super::*;
use crate::access::Registry;
use crate::error::{Error, FieldViolation};

/// Collects field violations so that a client hears about all of them at once.
#[derive(Default)]
pub struct Fields {
    prefix: Option<&'static str>,
    violations: Vec<FieldViolation>,
}

impl Fields {
    fn path(&self, field: &str) -> Cow<'static, str> {
        match self.prefix {
            Some(prefix) => format!("{prefix}.{field}").into(),
            None => field.to_owned().into(),
        }
    }

    pub(super) fn add(&mut self, field: &str, description: impl Into<Cow<'static, str>>) {
        let field = self.path(field);
        self.violations.push(FieldViolation { field, description: description.into() });
    }

    /// Keeps the value, or records why the field was refused.
    pub(super) fn take<T>(&mut self, result: Result<T, DomainError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(DomainError::Invalid { field, message }) => {
                self.add(field, message);
                None
            }
            Err(other) => {
                self.add("", other.to_string());
                None
            }
        }
    }

    pub(super) fn finish(self) -> Result<(), Error> {
        if self.violations.is_empty() { Ok(()) } else { Err(Error::InvalidRequest(self.violations)) }
    }
}

fn date(field: &'static str, value: &str) -> Result<Date, DomainError> {
    Date::parse_from_str(value, "%Y-%m-%d").map_err(|_| DomainError::invalid(field, "must be a date like 2026-11-23"))
}

fn optional_date(field: &'static str, value: &str) -> Result<Option<Date>, DomainError> {
    optional(value, |v| date(field, v))
}

fn short_text(field: &'static str, value: &str) -> Result<Text, DomainError> {
    Text::parse_max(field, value, 200)
}

/// Ids the hub assigned (`goal-3f9a0c2e71d4b815`); checked for shape, looked up by the domain.
fn item_id(field: &'static str, value: &str) -> Result<String, DomainError> {
    if value.is_empty() || value.len() > 32 || !value.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        return Err(DomainError::invalid(field, "must be an id the hub assigned, as answered when the item was added"));
    }
    Ok(value.to_owned())
}

fn registered(registry: &Registry, field: &'static str, value: &str) -> Result<OrganisationRef, DomainError> {
    let id = OrganisationId::parse(field, value)?;
    let sector = registry
        .get(&id)
        .map(|o| o.sector)
        .ok_or_else(|| DomainError::invalid(field, "is not an organisation registered with this hub"))?;
    Ok(OrganisationRef { id, sector })
}

/// The filter of a `ListClocks` request, every field checked.
pub fn clock_filter(request: &pb::ListClocksRequest) -> Result<ClockFilter, Error> {
    let mut f = Fields::default();
    let responsible = match request.responsible_organisation_id.as_str() {
        "" => None,
        id => f.take(OrganisationId::parse("responsible_organisation_id", id)),
    };
    let kinds: Vec<_> = request.kinds.iter().filter_map(|k| f.take(clock_kind_from("kinds", *k))).collect();
    let bases: Vec<_> = request.bases.iter().filter_map(|b| f.take(basis_from("bases", *b))).collect();
    f.finish()?;
    Ok(ClockFilter { responsible, kinds, bases })
}

/// `plans/{uuid}`.
pub fn plan_name(field: &'static str, value: &str) -> Result<PlanId, Error> {
    plan_id(field, value).map_err(Error::from_invalid)
}

fn plan_id(field: &'static str, value: &str) -> Result<PlanId, DomainError> {
    PlanId::parse_resource_name(value)
        .ok_or_else(|| DomainError::invalid(field, "must be a plan name like plans/{uuid}"))
}

/// An idempotency key: 1-128 characters of letters, digits and `-_.:`; empty means none.
pub fn request_id(value: &str) -> Result<Option<String>, Error> {
    optional_request_id(value).map_err(Error::from_invalid)
}

fn optional_request_id(value: &str) -> Result<Option<String>, DomainError> {
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() > 128 || !value.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b)) {
        return Err(DomainError::invalid("request_id", "must be 1-128 letters, digits or -_.: (a UUID is ideal)"));
    }
    if names_cpr(value) {
        return Err(DomainError::invalid("request_id", "must not hold a CPR number (a UUID is ideal)"));
    }
    Ok(Some(value.to_owned()))
}

/// A required free-text reason of a request.
pub fn reason(field: &'static str, value: &str) -> Result<Text, Error> {
    Text::parse_max(field, value, 500).map_err(Error::from_invalid)
}

pub fn cpr(value: &str) -> Result<Cpr, Error> {
    Cpr::parse(value).map_err(|e| Error::invalid("cpr", e.to_string()))
}

/// A plan change request as the store takes it.
#[derive(Debug)]
pub struct PlanChange {
    pub plan: PlanId,
    pub expected_version: u64,
    pub request_id: Option<String>,
    pub command: Command,
}

pub fn plan_change(request: pb::ChangePlanRequest, registry: &Registry) -> Result<PlanChange, Error> {
    let mut f = Fields::default();
    let plan = f.take(plan_id("name", &request.name));
    let request_id = f.take(optional_request_id(&request.request_id));
    if request.expected_version == 0 {
        f.add("expected_version", "must be the plan version the change is based on (1 or more)");
    }
    let command = match request.command {
        Some(command) => command_from(command, registry, &mut f),
        None => {
            f.add("command", "one command must be set");
            None
        }
    };
    f.finish()?;
    match (plan, request_id, command) {
        (Some(plan), Some(request_id), Some(command)) => {
            Ok(PlanChange { plan, expected_version: request.expected_version, request_id, command })
        }
        _ => Err(Error::invalid("command", "is incomplete")),
    }
}

/// Checks every field of the command, recording violations under the command's name.
fn command_from(command: pb::change_plan_request::Command, registry: &Registry, f: &mut Fields) -> Option<Command> {
    use pb::change_plan_request::Command as C;
    macro_rules! scope {
        ($name:literal) => {
            f.prefix = Some($name)
        };
    }
    match command {
        C::ActivatePlan(_) => Some(Command::ActivatePlan),
        C::ResumePlan(_) => Some(Command::ResumePlan),
        C::PutPlanOnHold(c) => {
            scope!("put_plan_on_hold");
            Some(Command::PutPlanOnHold { reason: f.take(Text::parse("reason", &c.reason))? })
        }
        C::ClosePlan(c) => {
            scope!("close_plan");
            Some(Command::ClosePlan { reason: f.take(Text::parse("reason", &c.reason))? })
        }
        C::ReopenPlan(c) => {
            scope!("reopen_plan");
            Some(Command::ReopenPlan { reason: f.take(Text::parse("reason", &c.reason))? })
        }
        C::AddGoal(c) => {
            scope!("add_goal");
            let text = f.take(Text::parse("text", &c.text));
            let category = f.take(category_from("category", c.category));
            Some(Command::AddGoal { text: text?, category: category? })
        }
        C::ReviseGoal(c) => {
            scope!("revise_goal");
            let goal_id = f.take(item_id("goal_id", &c.goal_id));
            let text = f.take(Text::parse("text", &c.text));
            Some(Command::ReviseGoal { goal_id: goal_id?, text: text? })
        }
        C::AssessGoal(c) => {
            scope!("assess_goal");
            let goal_id = f.take(item_id("goal_id", &c.goal_id));
            let achievement = f.take(achievement_from("achievement", c.achievement));
            Some(Command::AssessGoal { goal_id: goal_id?, achievement: achievement? })
        }
        C::EndGoal(c) => {
            scope!("end_goal");
            let goal_id = f.take(item_id("goal_id", &c.goal_id));
            let reason = f.take(Text::parse("reason", &c.reason));
            Some(Command::EndGoal { goal_id: goal_id?, reason: reason? })
        }
        C::TakeSectionOwnership(c) => {
            scope!("take_section_ownership");
            Some(Command::TakeSectionOwnership { section: f.take(section_from("section", c.section))? })
        }
        C::TransferSectionOwnership(c) => {
            scope!("transfer_section_ownership");
            let section = f.take(section_from("section", c.section));
            let to = f.take(registered(registry, "to_organisation_id", &c.to_organisation_id));
            Some(Command::TransferSectionOwnership { section: section?, to: to? })
        }
        C::AddActivity(c) => {
            scope!("add_activity");
            let section = f.take(section_from("section", c.section));
            let title = f.take(short_text("title", &c.title));
            let legal_plan_type = f.take(legal_from("legal_plan_type", c.legal_plan_type));
            let responsible_professional =
                f.take(ProfessionalId::parse("responsible_professional_id", &c.responsible_professional_id));
            let start_date = f.take(date("start_date", &c.start_date));
            let end_date = f.take(optional_date("end_date", &c.end_date));
            let goal_ids: Option<Vec<_>> = c.goal_ids.iter().map(|g| f.take(item_id("goal_ids", g))).collect();
            Some(Command::AddActivity {
                section: section?,
                title: title?,
                legal_plan_type: legal_plan_type?,
                responsible_professional: responsible_professional?,
                start_date: start_date?,
                end_date: end_date?,
                goal_ids: goal_ids?,
            })
        }
        C::ChangeActivityStatus(c) => {
            scope!("change_activity_status");
            let activity_id = f.take(item_id("activity_id", &c.activity_id));
            let status = f.take(activity_status_from("status", c.status));
            Some(Command::ChangeActivityStatus { activity_id: activity_id?, status: status? })
        }
        C::AddCareTeamMember(c) => {
            scope!("add_care_team_member");
            let organisation = f.take(registered(registry, "organisation_id", &c.organisation_id));
            let professional = f.take(optional_professional("professional_id", &c.professional_id));
            let role = f.take(role_from("role", c.role));
            let start_date = f.take(date("start_date", &c.start_date));
            let end_date = f.take(optional_date("end_date", &c.end_date));
            let ground = f.take(optional(&c.ground, |v| short_text("ground", v)));
            Some(Command::AddCareTeamMember {
                organisation: organisation?,
                professional: professional?,
                role: role?,
                start_date: start_date?,
                end_date: end_date?,
                ground: ground?,
            })
        }
        C::EndCareTeamMembership(c) => {
            scope!("end_care_team_membership");
            let member_id = f.take(item_id("member_id", &c.member_id));
            let end_date = f.take(date("end_date", &c.end_date));
            Some(Command::EndCareTeamMembership { member_id: member_id?, end_date: end_date? })
        }
        C::AssignContactPerson(c) => {
            scope!("assign_contact_person");
            let organisation = f.take(registered(registry, "organisation_id", &c.organisation_id));
            let professional = f.take(ProfessionalId::parse("professional_id", &c.professional_id));
            Some(Command::AssignContactPerson { organisation: organisation?.id, professional: professional? })
        }
        C::HandOverContactPerson(c) => {
            scope!("hand_over_contact_person");
            let from_organisation = f.take(OrganisationId::parse("from_organisation_id", &c.from_organisation_id));
            let from_professional = f.take(ProfessionalId::parse("from_professional_id", &c.from_professional_id));
            let to_organisation = f.take(registered(registry, "to_organisation_id", &c.to_organisation_id));
            let to_professional = f.take(ProfessionalId::parse("to_professional_id", &c.to_professional_id));
            let reason = f.take(Text::parse("reason", &c.reason));
            Some(Command::HandOverContactPerson {
                from_organisation: from_organisation?,
                from_professional: from_professional?,
                to_organisation: to_organisation?.id,
                to_professional: to_professional?,
                reason: reason?,
            })
        }
        C::RecordAdvanceStatement(c) => {
            scope!("record_advance_statement");
            let occasion = f.take(occasion_from("occasion", c.occasion));
            let text = f.take(Text::parse("text", &c.text));
            let supersedes = f.take(optional(&c.supersedes, |v| item_id("supersedes", v)));
            Some(Command::RecordAdvanceStatement { occasion: occasion?, text: text?, supersedes: supersedes? })
        }
        C::RegisterRelative(c) => {
            scope!("register_relative");
            let name = f.take(short_text("name", &c.name));
            let relation = f.take(short_text("relation", &c.relation));
            let involvement = f.take(involvement_from("involvement", c.involvement));
            Some(Command::RegisterRelative { name: name?, relation: relation?, involvement: involvement? })
        }
        C::ChangeRelativeInvolvement(c) => {
            scope!("change_relative_involvement");
            let relative_id = f.take(item_id("relative_id", &c.relative_id));
            let involvement = f.take(involvement_from("involvement", c.involvement));
            Some(Command::ChangeRelativeInvolvement { relative_id: relative_id?, involvement: involvement? })
        }
        C::RecordConsent(c) => {
            scope!("record_consent");
            let recipient = f.take(registered(registry, "recipient_organisation_id", &c.recipient_organisation_id));
            let categories = categories(f, &c.categories);
            let given_by = f.take(consent_giver_from("given_by", c.given_by));
            let form = f.take(consent_form_from("form", c.form));
            let given_on = f.take(date("given_on", &c.given_on));
            let valid_until = f.take(optional_date("valid_until", &c.valid_until));
            let purpose = f.take(short_text("purpose", &c.purpose));
            let document_reference = f.take(optional(&c.document_reference, |v| short_text("document_reference", v)));
            if form == Some(ConsentForm::Written) && c.document_reference.is_empty() {
                f.add("document_reference", "a written consent names the document that holds it");
            }
            Some(Command::RecordConsent {
                recipient: recipient?,
                categories: categories?,
                given_by: given_by?,
                form: form?,
                given_on: given_on?,
                valid_until: valid_until?,
                purpose: purpose?,
                document_reference: document_reference?,
            })
        }
        C::WithdrawConsent(c) => {
            scope!("withdraw_consent");
            let consent_id = f.take(item_id("consent_id", &c.consent_id));
            let reason = f.take(Text::parse("reason", &c.reason));
            Some(Command::WithdrawConsent { consent_id: consent_id?, reason: reason? })
        }
        C::RecordMilestone(m) => {
            scope!("record_milestone");
            let occurred_on = f.take(date("occurred_on", &m.occurred_on));
            let milestone = f.take(milestone(&m));
            Some(Command::RecordMilestone { milestone: milestone?, occurred_on: occurred_on? })
        }
        C::PauseClock(c) => {
            scope!("pause_clock");
            let clock_id = f.take(item_id("clock_id", &c.clock_id));
            let reason = f.take(Text::parse("reason", &c.reason));
            Some(Command::PauseClock { clock_id: clock_id?, reason: reason? })
        }
        C::ResumeClock(c) => {
            scope!("resume_clock");
            let clock_id = f.take(item_id("clock_id", &c.clock_id));
            Some(Command::ResumeClock { clock_id: clock_id? })
        }
        C::StopClock(c) => {
            scope!("stop_clock");
            let clock_id = f.take(item_id("clock_id", &c.clock_id));
            let reason = f.take(stop_reason_from("reason", c.reason));
            Some(Command::StopClock { clock_id: clock_id?, reason: reason? })
        }
        C::StartIndsatsplan(c) => {
            scope!("start_indsatsplan");
            let next_meeting = f.take(date("next_meeting_date", &c.next_meeting_date));
            Some(Command::StartIndsatsplan { next_meeting: next_meeting? })
        }
        C::SetIndsatsplanMeeting(c) => {
            scope!("set_indsatsplan_meeting");
            let next_meeting = f.take(date("next_meeting_date", &c.next_meeting_date));
            Some(Command::SetIndsatsplanMeeting { next_meeting: next_meeting? })
        }
        C::PrioritiseIndsatsAction(c) => {
            scope!("prioritise_indsats_action");
            let activity_id = f.take(item_id("activity_id", &c.activity_id));
            if c.priority == 0 {
                f.add("priority", "must be 1 (the most urgent) or more");
            }
            Some(Command::PrioritiseIndsatsAction { activity_id: activity_id?, priority: c.priority })
        }
        C::SignIndsatsplan(c) => {
            scope!("sign_indsatsplan");
            if c.version == 0 {
                f.add("version", "must be the indsatsplan's current version (Indsatsplan.version)");
            }
            Some(Command::SignIndsatsplan { version: c.version })
        }
        C::AcceptIndsatsplan(c) => {
            scope!("accept_indsatsplan");
            if c.version == 0 {
                f.add("version", "must be the indsatsplan's current version (Indsatsplan.version)");
            }
            Some(Command::AcceptIndsatsplan { version: c.version })
        }
        C::OfferDischargeCoordinator(c) => {
            scope!("offer_discharge_coordinator");
            let mentor = f.take(ProfessionalId::parse("mentor_professional_id", &c.mentor_professional_id));
            let start = f.take(date("start_date", &c.start_date));
            let end = f.take(date("end_date", &c.end_date));
            Some(Command::Discharge(DischargeCommand::OfferCoordinator { mentor: mentor?, start: start?, end: end? }))
        }
        C::AnswerDischargeCoordinatorOffer(c) => {
            Some(Command::Discharge(DischargeCommand::AnswerCoordinatorOffer { accepted: c.accepted }))
        }
        C::RequestNetworkMeeting(c) => {
            scope!("request_network_meeting");
            let meeting_on = f.take(date("meeting_date", &c.meeting_date));
            Some(Command::Discharge(DischargeCommand::RequestNetworkMeeting { meeting_on: meeting_on? }))
        }
        C::RequestAdvanceStatements(_) => Some(Command::Discharge(DischargeCommand::RequestAdvanceStatements)),
        C::AskForNetworkMeeting(c) => {
            scope!("ask_for_network_meeting");
            let by = f.take(asker_from("asked_by", c.asked_by));
            Some(Command::Discharge(DischargeCommand::AskForNetworkMeeting { by: by? }))
        }
        C::AgreeNextContactPerson(c) => {
            scope!("agree_next_contact_person");
            let organisation = f.take(OrganisationId::parse("organisation_id", &c.organisation_id));
            let professional = f.take(ProfessionalId::parse("professional_id", &c.professional_id));
            Some(Command::Discharge(DischargeCommand::AgreeNextContactPerson {
                organisation: organisation?,
                professional: professional?,
            }))
        }
        C::CompleteDischarge(c) => {
            scope!("complete_discharge");
            let on = f.take(date("discharge_date", &c.discharge_date));
            Some(Command::Discharge(DischargeCommand::Complete { on: on? }))
        }
        C::RecordObjection(c) => {
            scope!("record_objection");
            let recipient = f.take(registered(registry, "recipient_organisation_id", &c.recipient_organisation_id));
            let categories = categories(f, &c.categories);
            let given_by = f.take(consent_giver_from("given_by", c.given_by));
            let given_on = f.take(date("given_on", &c.given_on));
            Some(Command::RecordObjection {
                recipient: recipient?,
                categories: categories?,
                given_by: given_by?,
                given_on: given_on?,
            })
        }
        C::WithdrawObjection(c) => {
            scope!("withdraw_objection");
            let objection_id = f.take(item_id("objection_id", &c.objection_id));
            let reason = f.take(Text::parse("reason", &c.reason));
            Some(Command::WithdrawObjection { objection_id: objection_id?, reason: reason? })
        }
        C::RecordCitizenInformed(c) => {
            scope!("record_citizen_informed");
            let grant_id = f.take(item_id("grant_id", &c.grant_id));
            let informed_on = f.take(date("informed_date", &c.informed_date));
            Some(Command::RecordCitizenInformed { grant_id: grant_id?, informed_on: informed_on? })
        }
    }
}

/// The data categories a consent or objection names: at least one, each known.
fn categories(f: &mut Fields, values: &[i32]) -> Option<Vec<DataCategory>> {
    if values.is_empty() {
        f.add("categories", "name at least one data category");
    }
    values.iter().map(|v| f.take(category_from("categories", *v))).collect()
}

/// A milestone from its kind and the fields that only some kinds use.
fn milestone(m: &pb::RecordMilestone) -> Result<Milestone, DomainError> {
    use pb::MilestoneKind as K;
    let only_for = |set: bool, field: &'static str, kind: &str| {
        if set { Err(DomainError::invalid(field, format!("is only for {kind}"))) } else { Ok(()) }
    };
    let kind = K::try_from(m.milestone).map_err(|_| DomainError::invalid("milestone", "is not a known value"))?;
    if kind != K::AssessmentCompleted {
        only_for(m.serious_illness, "serious_illness", "ASSESSMENT_COMPLETED")?;
    }
    if kind != K::DischargePlanned {
        only_for(!m.expected_discharge_date.is_empty(), "expected_discharge_date", "DISCHARGE_PLANNED")?;
    }
    if !matches!(kind, K::DrugTreatmentRequested | K::DrugTreatmentStarted) {
        only_for(m.medical_treatment, "medical_treatment", "DRUG_TREATMENT_REQUESTED and DRUG_TREATMENT_STARTED")?;
    }
    Ok(match kind {
        K::Unspecified => return Err(DomainError::invalid("milestone", "must be set")),
        K::ReferredForAssessment => Milestone::ReferredForAssessment,
        K::AssessmentCompleted => Milestone::AssessmentCompleted { serious: m.serious_illness },
        K::PsychiatricTreatmentStarted => Milestone::PsychiatricTreatmentStarted,
        K::AddictionTreatmentRequested => Milestone::AddictionTreatmentRequested,
        K::DoctorConsultationHeld => Milestone::DoctorConsultationHeld,
        K::AddictionTreatmentStarted => Milestone::AddictionTreatmentStarted,
        K::ReferredForDualDiagnosisTreatment => Milestone::ReferredForDualDiagnosisTreatment,
        K::DualDiagnosisTreatmentStarted => Milestone::DualDiagnosisTreatmentStarted,
        K::IndsatsplanMeetingHeld => Milestone::IndsatsplanMeetingHeld,
        K::DischargePlanned => {
            Milestone::DischargePlanned { expected: date("expected_discharge_date", &m.expected_discharge_date)? }
        }
        K::NetworkMeetingHeld => Milestone::NetworkMeetingHeld,
        K::AssessmentPlanGiven => Milestone::AssessmentPlanGiven,
        K::PatientInformed => Milestone::PatientInformed,
        K::AlcoholTreatmentRequested => Milestone::AlcoholTreatmentRequested,
        K::DrugTreatmentRequested => Milestone::DrugTreatmentRequested { medical: m.medical_treatment },
        K::AlcoholTreatmentStarted => Milestone::AlcoholTreatmentStarted,
        K::DrugTreatmentStarted => Milestone::DrugTreatmentStarted { medical: m.medical_treatment },
    })
}

fn optional<T>(value: &str, parse: impl FnOnce(&str) -> Result<T, DomainError>) -> Result<Option<T>, DomainError> {
    if value.is_empty() { Ok(None) } else { parse(value).map(Some) }
}

fn optional_professional(field: &'static str, value: &str) -> Result<Option<ProfessionalId>, DomainError> {
    optional(value, |v| ProfessionalId::parse(field, v))
}
