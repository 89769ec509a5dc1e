//! Who is calling: the organisation, from the identity in its client
//! certificate, and the professional acting for it, from a signed assertion
//! (see [`crate::assertion`]) — or, in development only, from request headers.

use std::collections::HashMap;
use std::sync::Arc;

use samplan_proto::v1 as pb;
use tonic::metadata::MetadataMap;

use crate::assertion::Verifier;
use crate::convert;
use crate::domain::{Actor, Cpr, OrganisationId, ProfessionalId, ProfessionalRole, Sector, contains_cpr, names_cpr};
use crate::error::{Error, FieldViolation};

/// Request header naming the acting professional.
pub const PROFESSIONAL_HEADER: &str = "x-samplan-professional-id";
/// Request header naming the professional's role (a `ProfessionalRole` name, e.g. `NURSE`).
pub const ROLE_HEADER: &str = "x-samplan-role";
/// Optional request header; echoed into the events written.
pub const CORRELATION_HEADER: &str = "x-correlation-id";

/// The identity a TLS connection's client certificate carries, extracted once
/// per connection by the hub's TLS layer and attached to every request on it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerIdentity {
    /// The certificate's organisation identifier (subject organizationIdentifier,
    /// OID 2.5.4.97, e.g. `NTRDK-12345678`), or `None` if it carries none.
    pub organisation_identifier: Option<String>,
}

/// A registered organisation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Organisation {
    pub id: OrganisationId,
    pub sector: Sector,
    pub name: String,
    /// The organisation identifier its client certificates carry. Mapping by
    /// identifier, not fingerprint, means a renewed certificate needs no redeploy.
    pub certificate_identity: String,
}

/// Who calls, as the hub has proven it.
#[derive(Clone, Debug)]
pub struct Caller {
    pub actor: Actor,
    /// Until when (seconds since 1970) its assertion is accepted: a stream
    /// opened with it ends then. Development headers never expire.
    pub valid_until: Option<u64>,
    /// The citizen a citizen portal's assertion names (never logged; the hub
    /// finds their plan by its pseudonym).
    pub citizen: Option<Cpr>,
}

/// How the hub learns who acts for an organisation.
#[derive(Clone, Debug)]
pub enum Authentication {
    /// From a signed assertion of the organisation's identity provider.
    Signed(Arc<Verifier>),
    /// From the `x-samplan-professional-id` and `x-samplan-role` headers, as
    /// the calling system claims them: for development only.
    DevelopmentHeaders,
}

/// Every organisation the hub knows, by id and by certificate identity, and
/// how it learns who acts for them.
#[derive(Clone, Debug)]
pub struct Registry {
    by_id: HashMap<OrganisationId, Arc<Organisation>>,
    by_certificate: HashMap<String, Arc<Organisation>>,
    authentication: Authentication,
}

impl Registry {
    pub fn new(
        organisations: impl IntoIterator<Item = Organisation>,
        authentication: Authentication,
    ) -> Result<Self, String> {
        let mut registry =
            Self { by_id: HashMap::new(), by_certificate: HashMap::new(), authentication: authentication.clone() };
        for organisation in organisations {
            let organisation = Arc::new(organisation);
            if registry.by_id.insert(organisation.id.clone(), organisation.clone()).is_some() {
                return Err(format!("organisation id {} is registered twice", organisation.id));
            }
            if registry.by_certificate.insert(organisation.certificate_identity.clone(), organisation.clone()).is_some()
            {
                return Err(format!("certificate identity {} is registered twice", organisation.certificate_identity));
            }
            if let Authentication::Signed(verifier) = &authentication
                && !verifier.provides_for(&organisation.id)
            {
                return Err(format!(
                    "organisation {} has no identity provider (issuer and jwks_file)",
                    organisation.id
                ));
            }
        }
        Ok(registry)
    }

    pub fn authentication(&self) -> &Authentication {
        &self.authentication
    }

    pub fn get(&self, id: &OrganisationId) -> Option<&Organisation> {
        self.by_id.get(id).map(Arc::as_ref)
    }

    pub fn organisations(&self) -> impl Iterator<Item = &Organisation> {
        self.by_id.values().map(Arc::as_ref)
    }

    /// The acting organisation and professional (or citizen) of a request.
    pub fn caller(&self, peer: Option<&PeerIdentity>, metadata: &MetadataMap) -> Result<Caller, Error> {
        let peer = peer.ok_or(Error::Unauthenticated {
            reason: "CLIENT_CERTIFICATE_REQUIRED",
            message: "a client certificate is required",
        })?;
        let organisation =
            peer.organisation_identifier.as_ref().and_then(|identity| self.by_certificate.get(identity)).ok_or(
                Error::PermissionDenied {
                    reason: "ORGANISATION_NOT_REGISTERED",
                    message: "the client certificate's organisation is not registered with this hub",
                },
            )?;
        match &self.authentication {
            Authentication::Signed(verifier) => verifier.caller(&organisation.id, organisation.sector, metadata),
            Authentication::DevelopmentHeaders if organisation.sector == Sector::Citizen => {
                Err(Error::Unauthenticated {
                    reason: "CITIZEN_ASSERTION_REQUIRED",
                    message: "a citizen portal's calls carry a signed citizen assertion, in development too",
                })
            }
            Authentication::DevelopmentHeaders => {
                from_headers(organisation, metadata).map(|actor| Caller { actor, valid_until: None, citizen: None })
            }
        }
    }
}

/// The acting professional as the development headers name them.
fn from_headers(organisation: &Organisation, metadata: &MetadataMap) -> Result<Actor, Error> {
    let mut violations = Vec::new();
    let professional = match header(metadata, PROFESSIONAL_HEADER) {
        Some(value) => ProfessionalId::parse(PROFESSIONAL_HEADER, value)
            .map_err(|e| violations.push(violation(PROFESSIONAL_HEADER, e.to_string())))
            .ok(),
        None => {
            violations.push(violation(PROFESSIONAL_HEADER, "the acting professional must be named".into()));
            None
        }
    };
    let role = match header(metadata, ROLE_HEADER).map(parse_role) {
        Some(Some(role)) => Some(role),
        Some(None) => {
            violations.push(violation(ROLE_HEADER, "must be a ProfessionalRole name such as NURSE".into()));
            None
        }
        None => {
            violations.push(violation(ROLE_HEADER, "the professional's role must be named".into()));
            None
        }
    };
    match (professional, role) {
        (Some(professional), Some(role)) if violations.is_empty() => Ok(Actor {
            organisation: organisation.id.clone(),
            sector: organisation.sector,
            professional,
            role,
            own_plan: None,
        }),
        _ => Err(Error::InvalidRequest(violations)),
    }
}

/// The correlation id of a request: the client's, if it sent a sane one, else
/// a new UUID. It goes into logs and events, so one holding a CPR number is
/// replaced too.
pub fn correlation_id(metadata: &MetadataMap) -> String {
    sane_correlation_id(header(metadata, CORRELATION_HEADER))
}

/// [`correlation_id`] of a header value.
pub fn sane_correlation_id(value: Option<&str>) -> String {
    value
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 64
                && v.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
                && !contains_cpr(v)
        })
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned)
}

/// A request whose correlation id names a CPR number is refused, not only
/// given another id: its sender is putting CPR numbers into other systems'
/// logs too, and should hear of it.
pub fn check_correlation_id(metadata: &MetadataMap) -> Result<(), Error> {
    match header(metadata, CORRELATION_HEADER) {
        Some(value) if names_cpr(value) => Err(Error::invalid(CORRELATION_HEADER, "must not hold a CPR number")),
        _ => Ok(()),
    }
}

fn header<'a>(metadata: &'a MetadataMap, name: &str) -> Option<&'a str> {
    metadata.get(name).and_then(|v| v.to_str().ok())
}

fn violation(field: &'static str, description: String) -> FieldViolation {
    FieldViolation { field: field.into(), description: description.into() }
}

/// A `ProfessionalRole` name, with or without its `PROFESSIONAL_ROLE_` prefix, in any case.
pub fn parse_role(value: &str) -> Option<ProfessionalRole> {
    let name = value.trim().to_ascii_uppercase();
    let name = name.trim_start_matches("PROFESSIONAL_ROLE_");
    let role = pb::ProfessionalRole::from_str_name(&format!("PROFESSIONAL_ROLE_{name}"))?;
    convert::role_from(ROLE_HEADER, role as i32).ok()
}
