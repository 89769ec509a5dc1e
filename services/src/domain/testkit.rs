//! Shorthands for building domain values in tests.

use super::*;

pub fn org(id: &str) -> OrganisationId {
    OrganisationId::parse("organisation_id", id).expect("organisation id")
}

pub fn prof(id: &str) -> ProfessionalId {
    ProfessionalId::parse("professional_id", id).expect("professional id")
}

pub fn text(s: &str) -> Text {
    Text::parse("text", s).expect("text")
}

/// Professional `p-1`, a nurse, of `organisation`.
pub fn actor(organisation: &str, sector: Sector) -> Actor {
    Actor { organisation: org(organisation), sector, professional: prof("p-1"), role: ProfessionalRole::Nurse }
}
