//! The pure domain: no storage, no network, no clock of its own.

pub mod audit;
pub mod calendar;
pub mod citizen;
pub mod command;
pub mod consent;
pub mod cpr;
pub mod deadline_rules;
pub mod deadlines;
pub mod decide;
pub mod discharge;
pub mod disclosure;
pub mod entry;
pub mod error;
pub mod event;
pub mod grounds;
pub mod indsatsplan;
pub mod model;
pub mod plan;
pub mod policy;
pub mod rules;
pub mod trail;

#[cfg(test)]
mod citizen_tests;
#[cfg(test)]
mod deadline_tests;
#[cfg(test)]
mod discharge_tests;
#[cfg(test)]
mod indsatsplan_tests;
#[cfg(test)]
pub(crate) mod testkit;
#[cfg(test)]
mod tests;

pub use audit::{AuditEntry, Decision};
pub use calendar::Calendar;
pub use command::Command;
pub use cpr::{CitizenKey, Cpr, CprError, CprKind, PseudonymKey, contains_cpr, names_cpr};
pub use deadlines::{
    Clock, ClockFilter, ClockKind, ClockState, DeadlineRule, DeadlineRules, Milestone, Period, RuleBasis, StopReason,
    Trigger, mark_overdue,
};
pub use decide::{Context, decide};
pub use discharge::DischargeCommand;
pub use entry::{DEFAULT_EMERGENCY_ACCESS_MICROS, create, emergency_access, join};
pub use error::DomainError;
pub use event::{EventPayload, RecordedEvent};
pub use grounds::Ground;
pub use model::*;
pub use plan::{EmergencyGrant, Plan};
pub use policy::{Purpose, View};
pub use rules::{OwnershipRule, OwnershipRules};
