//! The rules of disclosure as DOMAIN.md and the README state them, written
//! out here independently of the hub's ground table: what each sector and
//! role sees of a plan, on which ground, and what it may write, for each
//! situation a plan can be in.

use samplan_proto::v1 as pb;
use samplan_tests::*;
use tonic::Code;

pub const SECTORS: [&str; 4] = [WARD, SOCIAL, JOB, ADDICTION];
pub const ROLES: [&str; 9] = [
    "PHYSICIAN",
    "NURSE",
    "PSYCHOLOGIST",
    "SOCIAL_WORKER",
    "JOB_CONSULTANT",
    "ADDICTION_COUNSELLOR",
    "MENTOR",
    "SECRETARY",
    "AUDITOR",
];

use pb::DataCategory as C;
pub const CATEGORIES: [C; 7] = [
    C::PlanAndContact,
    C::Goals,
    C::Psychiatric,
    C::SubstanceAbuse,
    C::Social,
    C::Employment,
    C::DischargeCoordination,
];
const HEALTH: [C; 3] = [C::Psychiatric, C::SubstanceAbuse, C::DischargeCoordination];

/// What a plan holds besides the four sectors on its team, each owning its
/// section with an activity, a goal, a relative and a planned discharge.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Situation {
    /// No consent: health services still share for current treatment.
    Plain,
    /// Every other organisation recorded the citizen's consent that the viewer may see what it holds.
    Consent,
    /// Those consents, withdrawn.
    ConsentWithdrawn,
    /// The consents, and the citizen's objection against the viewer for everything each holds.
    Objection,
    /// The ward's udskrivningsaftale (psykiatriloven §§ 13 a-13 b).
    Statutory,
    /// The viewing professional asked for emergency access.
    Emergency,
    /// The viewer's organisation has left the care team.
    Left,
}

pub const SITUATIONS: [Situation; 7] = [
    Situation::Plain,
    Situation::Consent,
    Situation::ConsentWithdrawn,
    Situation::Objection,
    Situation::Statutory,
    Situation::Emergency,
    Situation::Left,
];

/// What a call should get.
#[derive(Clone, Debug, PartialEq)]
pub enum Expected {
    /// Answered, disclosing or writing these categories.
    Allowed(Vec<C>),
    Refused(Code),
}

fn health_service(org: &str) -> bool {
    matches!(org, WARD | ADDICTION)
}

/// The categories an organisation holds: its own records, and for everyone
/// the plan and the citizen's goals. The region treats addiction for a dual
/// diagnosis, so the ward holds substance abuse too.
pub fn holds(org: &str) -> Vec<C> {
    let own: &[C] = match org {
        // The region holds substance-abuse records only where it owns the
        // addiction section (integrated treatment); here the addiction service does.
        WARD => &[C::Psychiatric, C::DischargeCoordination],
        ADDICTION => &[C::SubstanceAbuse],
        SOCIAL => &[C::Social],
        _ => &[C::Employment],
    };
    [C::PlanAndContact, C::Goals].into_iter().chain(own.iter().copied()).collect()
}

/// The organisation's own records, which it sees whatever the citizen says.
fn own_records(org: &str) -> Vec<C> {
    match org {
        WARD => vec![C::Psychiatric, C::DischargeCoordination],
        ADDICTION => vec![C::SubstanceAbuse],
        SOCIAL => vec![C::Social],
        _ => vec![C::Employment],
    }
}

/// Whether the organisation's sector has professionals in `role`: an
/// assertion naming any other role is refused before anything else
/// (`UNAUTHENTICATED`), whatever the identity provider signed.
pub fn sector_has(org: &str, role: &str) -> bool {
    if matches!(role, "SECRETARY" | "AUDITOR") {
        return true;
    }
    match org {
        WARD => matches!(role, "PHYSICIAN" | "NURSE" | "PSYCHOLOGIST" | "SOCIAL_WORKER"),
        ADDICTION => matches!(role, "PHYSICIAN" | "NURSE" | "PSYCHOLOGIST" | "SOCIAL_WORKER" | "ADDICTION_COUNSELLOR"),
        SOCIAL => matches!(role, "SOCIAL_WORKER" | "ADDICTION_COUNSELLOR" | "PSYCHOLOGIST"),
        _ => matches!(role, "JOB_CONSULTANT" | "MENTOR" | "PSYCHOLOGIST"),
    }
}

/// Only an authorised health professional of a health service gets emergency access.
pub fn authorised(org: &str, role: &str) -> bool {
    health_service(org) && matches!(role, "PHYSICIAN" | "NURSE" | "PSYCHOLOGIST")
}

fn sorted(mut categories: Vec<C>) -> Vec<C> {
    categories.sort_by_key(|c| *c as i32);
    categories.dedup();
    categories
}

/// What the viewer sees as a care-team member, with the ground of each category
/// (a fragment of its citation).
pub fn grounds(org: &str, role: &str, situation: Situation) -> Vec<(C, &'static str)> {
    let mut seen: Vec<(C, &'static str)> =
        vec![(C::PlanAndContact, "care-team member"), (C::Goals, "care-team member")];
    for category in own_records(org) {
        seen.push((category, "own"));
    }
    let objected = situation == Situation::Objection;
    if health_service(org) && !objected {
        for category in HEALTH {
            seen.push((category, "sundhedsloven § 41, stk. 2, nr. 1"));
        }
    }
    if situation == Situation::Statutory && org == SOCIAL {
        seen.push((C::DischargeCoordination, "psykiatriloven §§ 13 a-13 b"));
    }
    if situation == Situation::Consent {
        for other in SECTORS.into_iter().filter(|o| *o != org) {
            for category in holds(other).into_iter().filter(|c| !matches!(c, C::PlanAndContact | C::Goals)) {
                let citation = if HEALTH.contains(&category) {
                    "sundhedsloven § 41, stk. 1, to health services, and § 43, stk. 1"
                } else {
                    "forvaltningsloven § 28, stk. 2, nr. 1"
                };
                seen.push((category, citation));
            }
        }
    }
    // The first ground in this order is the one used.
    let mut firsts: Vec<(C, &'static str)> = Vec::new();
    for (category, ground) in seen {
        if !firsts.iter().any(|(c, _)| *c == category) {
            firsts.push((category, ground));
        }
    }
    match role {
        "SECRETARY" => firsts.retain(|(c, _)| *c == C::PlanAndContact),
        "AUDITOR" => firsts.clear(),
        _ => {}
    }
    firsts.sort_by_key(|(c, _)| *c as i32);
    firsts
}

/// Reading and exporting: outsiders learn nothing; emergency access shows all
/// of it; auditors read access logs, not plans; otherwise the member's grounds.
pub fn read(org: &str, role: &str, situation: Situation) -> Expected {
    if !sector_has(org, role) {
        return Expected::Refused(Code::Unauthenticated);
    }
    if situation == Situation::Emergency && authorised(org, role) {
        return Expected::Allowed(CATEGORIES.to_vec());
    }
    if situation == Situation::Left {
        return Expected::Refused(Code::NotFound);
    }
    if role == "AUDITOR" {
        return Expected::Refused(Code::PermissionDenied);
    }
    Expected::Allowed(sorted(grounds(org, role, situation).into_iter().map(|(c, _)| c).collect()))
}

/// The ground fragment each category of a read must be recorded with.
pub fn read_grounds(org: &str, role: &str, situation: Situation) -> Vec<(C, &'static str)> {
    if situation == Situation::Emergency && authorised(org, role) {
        return CATEGORIES.iter().map(|c| (*c, "værdispring")).collect();
    }
    grounds(org, role, situation)
}

/// Subscribing follows every plan at once: auditors are refused the stream;
/// of a plan whose team it left the organisation gets nothing; otherwise
/// events of what a read would show.
pub fn subscribe(org: &str, role: &str, situation: Situation) -> Expected {
    if !sector_has(org, role) {
        return Expected::Refused(Code::Unauthenticated);
    }
    match (role, situation) {
        ("AUDITOR", _) => Expected::Refused(Code::PermissionDenied),
        (_, Situation::Left) => Expected::Allowed(Vec::new()),
        _ => read(org, role, situation),
    }
}

/// Writing an item of `category` outside the sections: only as a member (an
/// emergency access reads, never writes), only a category the writer sees,
/// and only one it holds (the discharge's coordination: any party to it).
pub fn write(org: &str, role: &str, situation: Situation, category: C) -> Expected {
    if !sector_has(org, role) {
        return Expected::Refused(Code::Unauthenticated);
    }
    if situation == Situation::Left {
        return Expected::Refused(Code::NotFound);
    }
    let sees = grounds(org, role, situation).iter().any(|(c, _)| *c == category);
    let held = holds(org).contains(&category) || category == C::DischargeCoordination;
    if sees && held { Expected::Allowed(vec![category]) } else { Expected::Refused(Code::PermissionDenied) }
}

/// The label the audit log gives a category.
pub fn label(category: C) -> &'static str {
    match category {
        C::PlanAndContact => "plan and contact",
        C::Goals => "goals",
        C::Psychiatric => "psychiatric",
        C::SubstanceAbuse => "substance abuse",
        C::Social => "social",
        C::Employment => "employment",
        C::DischargeCoordination => "discharge coordination",
        C::Unspecified => "unspecified",
    }
}
