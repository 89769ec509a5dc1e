//! The citizen's say over disclosure: consents and objections.
//!
//! A consent (sundhedsloven § 41, stk. 1, and § 43, stk. 1; forvaltningsloven
//! § 28, stk. 2, nr. 1) names its recipient, the categories, its purpose and
//! how it was given; a written one names the document that holds it. It is
//! recorded by the **data holder** — an organisation on the care team whose
//! sector holds every category it names ([`Sector::holds`]) — never by the
//! recipient for itself (that would let the job centre open psychiatric
//! information to itself). The citizen records consents through their own
//! portal too (see [`super::citizen`]). Anyone on the team may record a
//! withdrawal: it only ever discloses less. A citizen portal is never a
//! recipient: the citizen reads their own plan on a ground of their own.
//!
//! An objection (sundhedsloven § 41, stk. 3) stops disclosure of the named
//! categories to the named recipient from the moment it is recorded, on
//! every ground but the recipient's own records and emergency access (see
//! [`super::grounds`]). Anyone on the team may record one; only a data holder
//! other than the recipient may record that it was withdrawn.

use serde::{Deserialize, Serialize};

use super::decide::no_such;
use super::error::DomainError;
use super::event::EventPayload;
use super::grounds;
use super::model::*;
use super::plan::Plan;

/// What the citizen consented to, as recorded.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConsentTerms {
    pub consent_id: String,
    /// The organisation that may receive the information.
    pub recipient: OrganisationId,
    pub categories: Vec<DataCategory>,
    pub given_by: ConsentGiver,
    pub form: ConsentForm,
    pub given_on: Date,
    /// The last day the consent holds, if it is limited.
    pub valid_until: Option<Date>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consent {
    pub terms: ConsentTerms,
    /// What the information may be used for (absent on consents recorded before it was asked).
    pub purpose: Option<Text>,
    /// Where a written consent is kept, e.g. a journal or case document id.
    pub document_reference: Option<Text>,
    pub recorded_at: Timestamp,
    pub recorded_by: OrganisationId,
    pub withdrawn_at: Option<Timestamp>,
}

/// What the citizen objected to: disclosure of `categories` to `recipient`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectionTerms {
    pub objection_id: String,
    pub recipient: OrganisationId,
    pub categories: Vec<DataCategory>,
    pub given_by: ConsentGiver,
    pub given_on: Date,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Objection {
    pub terms: ObjectionTerms,
    pub recorded_at: Timestamp,
    pub recorded_by: OrganisationId,
    pub withdrawn_at: Option<Timestamp>,
}

impl Objection {
    /// Whether the objection stops disclosure of `category` to `recipient` at
    /// `now`: from the moment it was recorded until it is withdrawn.
    pub fn covers(&self, recipient: &OrganisationId, category: DataCategory, now: Timestamp) -> bool {
        &self.terms.recipient == recipient
            && self.terms.categories.contains(&category)
            && self.recorded_at <= now
            && self.withdrawn_at.is_none_or(|t| now < t)
    }
}

impl Consent {
    /// Whether the consent lets `recipient` see `category` at `now`.
    pub fn covers(&self, recipient: &OrganisationId, category: DataCategory, now: Timestamp) -> bool {
        let t = &self.terms;
        &t.recipient == recipient
            && t.categories.contains(&category)
            && self.withdrawn_at.is_none()
            && t.given_on <= now.date()
            && t.valid_until.is_none_or(|last| now.date() <= last)
    }
}

/// A consent as the command gives it.
pub struct Given<'a> {
    pub recipient: &'a OrganisationRef,
    pub categories: &'a [DataCategory],
    pub given_by: ConsentGiver,
    pub form: ConsentForm,
    pub given_on: Date,
    pub valid_until: Option<Date>,
    pub purpose: &'a Text,
    pub document_reference: &'a Option<Text>,
}

fn holder_of(
    plan: &Plan,
    actor: &Actor,
    sees: &[DataCategory],
    categories: &[DataCategory],
    today: Date,
) -> Result<(), DomainError> {
    let holds = |c: DataCategory| grounds::holds(plan, &actor.organisation, actor.sector, c, today);
    if categories.iter().all(|c| holds(*c) && sees.contains(c)) {
        Ok(())
    } else {
        Err(DomainError::forbidden(
            "NOT_DATA_HOLDER",
            "only an organisation that holds the information (or the citizen) records a consent to disclose it or withdraws an objection to it",
        ))
    }
}

fn not_recipient(actor: &Actor, recipient: &OrganisationId, what: &'static str) -> Result<(), DomainError> {
    if &actor.organisation == recipient { Err(DomainError::forbidden("RECORDED_BY_RECIPIENT", what)) } else { Ok(()) }
}

fn not_portal(recipient: &OrganisationRef) -> Result<(), DomainError> {
    if recipient.sector == Sector::Citizen {
        return Err(DomainError::invalid(
            "recipient_organisation_id",
            "a citizen portal receives nothing by consent or objection; the citizen reads their own plan",
        ));
    }
    Ok(())
}

fn distinct(field: &'static str, categories: &[DataCategory]) -> Result<Vec<DataCategory>, DomainError> {
    if categories.is_empty() {
        return Err(DomainError::invalid(field, "name at least one data category"));
    }
    Ok(DataCategory::distinct(categories.iter().copied()))
}

pub(super) fn record(
    plan: &Plan,
    actor: &Actor,
    sees: &[DataCategory],
    given: Given<'_>,
    today: Date,
    ids: IdSeed,
) -> Result<EventPayload, DomainError> {
    not_portal(given.recipient)?;
    let categories = distinct("categories", given.categories)?;
    if categories.iter().any(|c| matches!(c, DataCategory::PlanAndContact | DataCategory::Goals)) {
        return Err(DomainError::invalid(
            "categories",
            "the plan and the goals are shared with the care team: invite the organisation instead of a consent for them",
        ));
    }
    if given.given_on > today {
        return Err(DomainError::invalid("given_on", "is in the future"));
    }
    if given.valid_until.is_some_and(|until| until < given.given_on) {
        return Err(DomainError::invalid("valid_until", "is before the start date"));
    }
    if given.form == ConsentForm::Written && given.document_reference.is_none() {
        return Err(DomainError::invalid("document_reference", "a written consent names the document that holds it"));
    }
    not_recipient(
        actor,
        &given.recipient.id,
        "a consent is recorded by the data holder or the citizen, never by its recipient",
    )?;
    holder_of(plan, actor, sees, &categories, today)?;
    Ok(EventPayload::ConsentGiven {
        terms: ConsentTerms {
            consent_id: ids.id("consent", 0),
            recipient: given.recipient.id.clone(),
            categories,
            given_by: given.given_by,
            form: given.form,
            given_on: given.given_on,
            valid_until: given.valid_until,
        },
        purpose: given.purpose.clone(),
        document_reference: given.document_reference.clone(),
    })
}

pub(super) fn object(
    recipient: &OrganisationRef,
    categories: &[DataCategory],
    given_by: ConsentGiver,
    given_on: Date,
    today: Date,
    ids: IdSeed,
) -> Result<EventPayload, DomainError> {
    not_portal(recipient)?;
    let categories = distinct("categories", categories)?;
    if given_on > today {
        return Err(DomainError::invalid("given_on", "is in the future"));
    }
    Ok(EventPayload::ObjectionRecorded(ObjectionTerms {
        objection_id: ids.id("objection", 0),
        recipient: recipient.id.clone(),
        categories,
        given_by,
        given_on,
    }))
}

pub(super) fn withdraw_objection(
    plan: &Plan,
    actor: &Actor,
    sees: &[DataCategory],
    objection_id: &str,
    reason: &Text,
    now: Timestamp,
) -> Result<EventPayload, DomainError> {
    let objection = plan
        .objections
        .iter()
        .find(|o| o.terms.objection_id == objection_id)
        .ok_or_else(|| no_such("objection_id", "objection"))?;
    if objection.withdrawn_at.is_some() {
        return Err(DomainError::precondition("OBJECTION_WITHDRAWN", "the objection has already been withdrawn"));
    }
    not_recipient(actor, &objection.terms.recipient, "an objection's recipient may not lift it")?;
    holder_of(plan, actor, sees, &objection.terms.categories, now.date())?;
    Ok(EventPayload::ObjectionWithdrawn { objection_id: objection_id.to_owned(), reason: reason.clone() })
}
