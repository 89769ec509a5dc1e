//! The one place that sees both the proto types and the domain types.
//! Requests become domain values (every field checked, every violation
//! reported at once); domain values become responses.

mod event;
#[cfg(test)]
mod inference_tests;
mod request;
mod response;

use samplan_proto::v1 as pb;

use crate::domain::*;

pub use event::{heartbeat, subscribed_event, visible_event, visible_events};
pub use indicators::{MAX_VALUES, indicator_definition, indicator_query, indicator_value, query_detail};
pub use request::{PlanChange, clock_filter, cpr, plan_change, plan_name, reason, request_id};
pub use response::{access_entry, care_team_join, emergency_access, plan, shown_clock};

macro_rules! enum_map {
    ($from:ident, $to:ident, $proto:ty, $domain:ty, { $($p:ident => $d:ident),+ $(,)? }) => {
        // Not every enum is both read from requests and written to responses;
        // both directions are kept together.
        #[allow(dead_code)]
        pub(crate) fn $from(field: &'static str, value: i32) -> Result<$domain, DomainError> {
            match <$proto>::try_from(value) {
                $(Ok(<$proto>::$p) => Ok(<$domain>::$d),)+
                Ok(<$proto>::Unspecified) => Err(DomainError::invalid(field, "must be set")),
                Err(_) => Err(DomainError::invalid(field, "is not a known value")),
            }
        }

        #[allow(dead_code)]
        pub(crate) fn $to(value: $domain) -> i32 {
            match value {
                $(<$domain>::$d => <$proto>::$p as i32,)+
            }
        }
    };
}

// After the macro, which it uses.
mod indicators;

enum_map!(sector_from, sector_to, pb::Sector, Sector, {
    RegionalPsychiatry => RegionalPsychiatry, MunicipalSocial => MunicipalSocial, JobCentre => JobCentre,
    AddictionService => AddictionService, Citizen => Citizen,
});
enum_map!(role_from, role_to, pb::ProfessionalRole, ProfessionalRole, {
    Physician => Physician, Nurse => Nurse, Psychologist => Psychologist, SocialWorker => SocialWorker,
    JobConsultant => JobConsultant, AddictionCounsellor => AddictionCounsellor, Mentor => Mentor,
    Secretary => Secretary, Auditor => Auditor, Citizen => Citizen, Representative => Representative,
    Analyst => Analyst,
});
enum_map!(status_from, status_to, pb::PlanStatus, PlanStatus, {
    Draft => Draft, Active => Active, OnHold => OnHold, Closed => Closed,
});
enum_map!(cpr_kind_from, cpr_kind_to, pb::CprKind, CprKind, { Regular => Regular, Replacement => Replacement });
enum_map!(section_from, section_to, pb::SectionKind, SectionKind, {
    Psychiatry => Psychiatry, Social => Social, Employment => Employment, Addiction => Addiction,
});
enum_map!(legal_from, legal_to, pb::LegalPlanType, LegalPlanType, {
    Behandlingsplan => Behandlingsplan, Udskrivningsaftale => Udskrivningsaftale,
    Koordinationsplan => Koordinationsplan, Handleplan => Handleplan, Jobplan => Jobplan,
    Rehabiliteringsplan => Rehabiliteringsplan, KoordinerendeIndsatsplan => KoordinerendeIndsatsplan,
});
enum_map!(activity_status_from, activity_status_to, pb::ActivityStatus, ActivityStatus, {
    Planned => Planned, InProgress => InProgress, Completed => Completed, Cancelled => Cancelled,
});
enum_map!(lifecycle_from, lifecycle_to, pb::GoalLifecycle, GoalLifecycle, { Active => Active, Ended => Ended });
enum_map!(achievement_from, achievement_to, pb::GoalAchievement, GoalAchievement, {
    NotAssessed => NotAssessed, Achieved => Achieved, PartlyAchieved => PartlyAchieved, NotAchieved => NotAchieved,
});
enum_map!(occasion_from, occasion_to, pb::AdvanceStatementOccasion, AdvanceStatementOccasion, {
    Admission => Admission, Discharge => Discharge, Other => Other,
});
enum_map!(involvement_from, involvement_to, pb::RelativeInvolvement, RelativeInvolvement, {
    Full => Full, InformationOnly => InformationOnly, None => None,
});
enum_map!(category_from, category_to, pb::DataCategory, DataCategory, {
    PlanAndContact => PlanAndContact, Goals => Goals, Psychiatric => Psychiatric,
    SubstanceAbuse => SubstanceAbuse, Social => Social, Employment => Employment,
    DischargeCoordination => DischargeCoordination,
});
enum_map!(consent_form_from, consent_form_to, pb::ConsentForm, ConsentForm, { Oral => Oral, Written => Written });
enum_map!(consent_giver_from, consent_giver_to, pb::ConsentGiver, ConsentGiver, {
    Citizen => Citizen, Representative => Representative,
});
enum_map!(asker_from, asker_to, pb::NetworkMeetingAsker, discharge::Asker, {
    Citizen => Citizen, Representative => Representative, Relative => Relative,
});
enum_map!(basis_from, basis_to, pb::RuleBasis, RuleBasis, {
    Statute => Statute, Guidance => Guidance, RegionalAgreement => RegionalAgreement,
});
enum_map!(stop_reason_from, stop_reason_to, pb::ClockStopReason, StopReason, {
    Declined => Declined, ReferralWithdrawn => ReferralWithdrawn, ReferralRejected => ReferralRejected,
    Moved => Moved, Died => Died, NotNeeded => NotNeeded,
});
enum_map!(clock_kind_from, clock_kind_to, pb::ClockKind, ClockKind, {
    Assessment => Assessment, TreatmentSerious => TreatmentSerious, TreatmentOther => TreatmentOther,
    AddictionTreatment => AddictionTreatment, DoctorConsultation => DoctorConsultation,
    DualDiagnosisTreatment => DualDiagnosisTreatment, IndsatsplanMeeting => IndsatsplanMeeting,
    NetworkMeeting => NetworkMeeting, InformationDuty => InformationDuty, AlcoholTreatment => AlcoholTreatment,
    SocialDrugTreatment => SocialDrugTreatment, MedicalDrugTreatment => MedicalDrugTreatment,
});
enum_map!(purpose_from, purpose_to, pb::AccessPurpose, Purpose, {
    CareCoordination => CareCoordination, EmergencyAccess => EmergencyAccess, AccessReview => AccessReview,
    Statistics => Statistics,
});
