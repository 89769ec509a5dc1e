//! Why the domain refuses a command. Messages are lowercase and never carry
//! personal data: they reach clients and logs.

use std::borrow::Cow;

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// A field of the command is malformed or refers to nothing in the plan.
    #[error("invalid {field}: {message}")]
    Invalid { field: &'static str, message: Cow<'static, str> },
    /// The plan does not exist, or the caller is not on its care team (the two
    /// are indistinguishable on purpose).
    #[error("plan not found")]
    PlanNotFound,
    /// The plan's state does not allow the command. `reason` is a stable code.
    #[error("{message}")]
    Precondition { reason: &'static str, message: Cow<'static, str> },
    /// The caller is on the care team but may not do this (e.g. write a section it does not own).
    #[error("{message}")]
    Forbidden { reason: &'static str, message: Cow<'static, str> },
}

impl DomainError {
    pub fn invalid(field: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Invalid { field, message: message.into() }
    }

    pub fn precondition(reason: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Precondition { reason, message: message.into() }
    }

    pub fn forbidden(reason: &'static str, message: impl Into<Cow<'static, str>>) -> Self {
        Self::Forbidden { reason, message: message.into() }
    }
}
