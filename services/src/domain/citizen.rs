//! The citizen's own voice: what the citizen (or their representative) may
//! do on their own plan through a citizen portal. They read all of it and
//! its access log; they record and withdraw consents, object and withdraw
//! objections, add and revise their goals, record advance statements, accept
//! the koordinerende indsatsplan and ask for a network meeting. Everything
//! else on the plan is written by the organisations that hold it.
//!
//! Which plan is theirs is proven, not claimed: the portal's signed assertion
//! carries the citizen's CPR number, and the hub finds the plan by its
//! pseudonym ([`Actor::own_plan`]). For any other plan a citizen is told
//! exactly what an organisation not on its care team is told.

use super::command::Command;
use super::discharge::DischargeCommand;
use super::error::DomainError;
use super::model::{Actor, ConsentGiver, ProfessionalRole};

/// Whether the citizen may give `command` on their own plan.
pub fn may_give(command: &Command) -> Result<(), DomainError> {
    match command {
        Command::AddGoal { .. }
        | Command::ReviseGoal { .. }
        | Command::RecordConsent { .. }
        | Command::WithdrawConsent { .. }
        | Command::RecordObjection { .. }
        | Command::WithdrawObjection { .. }
        | Command::RecordAdvanceStatement { .. }
        | Command::AcceptIndsatsplan { .. }
        | Command::Discharge(DischargeCommand::AskForNetworkMeeting { .. }) => Ok(()),
        _ => Err(DomainError::forbidden(
            "NOT_FOR_THE_CITIZEN",
            "the citizen adds and revises goals, records consents, objections and advance statements, accepts the indsatsplan and asks for a network meeting; the rest is written by the organisations that hold it",
        )),
    }
}

/// Whether a citizen portal's caller may create or join a plan: never. The
/// plan is created by an organisation taking part; the citizen reads it.
pub fn may_enter(actor: &Actor) -> Result<(), DomainError> {
    if actor.is_citizen() {
        return Err(DomainError::forbidden(
            "CITIZEN_JOINS_NO_PLAN",
            "a citizen's plan is created by an organisation taking part in their care; the citizen reads and writes it once it exists",
        ));
    }
    if actor.role == ProfessionalRole::Analyst {
        return Err(DomainError::forbidden(
            "ANALYST_JOINS_NO_PLAN",
            "an analyst works with the hub's indicators (aggregates only) and takes part in no plan",
        ));
    }
    Ok(())
}

/// Who gives a consent or an objection the citizen records themselves: the
/// citizen, or their representative, as the assertion says — not as the request claims.
pub fn check_giver(actor: &Actor, given_by: ConsentGiver) -> Result<(), DomainError> {
    let giver = match actor.role {
        ProfessionalRole::Citizen => ConsentGiver::Citizen,
        ProfessionalRole::Representative => ConsentGiver::Representative,
        _ => return Ok(()),
    };
    if actor.is_citizen() && given_by != giver {
        return Err(DomainError::invalid(
            "given_by",
            "must name who acts: the citizen, or their representative, as their assertion says",
        ));
    }
    Ok(())
}
