//! The one error type of the services crate, and the one place it becomes a
//! gRPC status. Messages are lowercase and carry no personal data.

use std::borrow::Cow;

use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

use crate::domain::DomainError;

/// The google.rpc.ErrorInfo domain of every Samplan error.
pub const ERROR_DOMAIN: &str = "samplan.dk";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FieldViolation {
    pub field: Cow<'static, str>,
    pub description: Cow<'static, str>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Domain(#[from] DomainError),
    /// One or more request fields are malformed.
    #[error("invalid request")]
    InvalidRequest(Vec<FieldViolation>),
    #[error("the plan is at version {current}, not {expected}")]
    StaleVersion { expected: u64, current: u64 },
    #[error("request_id was already used for a different request")]
    RequestIdReused,
    #[error("the plan would grow past {limit} bytes")]
    PlanTooLarge { limit: usize },
    #[error("the request is {size} bytes; at most {limit} are accepted")]
    RequestTooLarge { size: usize, limit: usize },
    /// The request's headers are larger than the hub takes.
    #[error("the request's headers are {size} bytes; at most {limit} are accepted")]
    HeadersTooLarge { size: usize, limit: usize },
    /// The request body is not one well-formed message of its method.
    #[error("the request body does not decode")]
    Undecodable { field: String, description: Cow<'static, str> },
    /// A method the service does not have.
    #[error("the service has no such method")]
    UnknownMethod,
    /// The transport refused the call before it reached a handler (e.g. a
    /// compressed message the hub does not take).
    #[error("the call was refused before it was read ({code:?})")]
    Transport { code: Code },
    /// The caller presented no usable identity (no certificate, no valid assertion).
    #[error("{message}")]
    Unauthenticated { reason: &'static str, message: &'static str },
    /// The caller is known but may not do this (e.g. its organisation is not registered).
    #[error("{message}")]
    PermissionDenied { reason: &'static str, message: &'static str },
    /// A subscriber took no message for too long; it resumes after `cursor`.
    #[error("the subscriber took no message in time; resume after position {cursor}")]
    SubscriberTooSlow { cursor: u64 },
    /// The hub is shutting down; a subscriber resumes after `cursor` elsewhere or later.
    #[error("the hub is shutting down; resume after position {cursor}")]
    ShuttingDown { cursor: u64 },
    /// A subscription asked to resume after a position the log has not reached.
    #[error("the log ends at position {last_position}")]
    CursorBeyondLog { last_position: u64 },
    /// The hub has as many calls in flight as it takes; retry after a short wait.
    #[error("the hub is answering as many calls as it takes ({limit}); retry shortly")]
    Overloaded { limit: usize },
    /// The caller's deadline passed before its change was decided; nothing was written.
    #[error("the deadline passed before the change was made; nothing was written")]
    DeadlineExceeded,
    /// The store cannot take the call now: on sled it failed (a write, a
    /// flush or a read) and the hub drains and exits for its supervisor to
    /// restart it; on PostgreSQL the database cannot be reached or is failing
    /// over. Nothing the caller was not told of is lost: a retry with the same
    /// `request_id` is answered as the first attempt was, if it was written.
    #[error(
        "the store cannot take calls now (the hub is recovering or its database failing over): retry shortly, with the same request_id"
    )]
    Unavailable,
    /// The hub is still counting its log for the indicators after a start.
    #[error("the hub is still counting its log for the indicators ({counted} of {of} events); retry shortly")]
    IndicatorsCounting { counted: u64, of: u64 },
    #[error("storage failure: {0}")]
    Storage(String),
}

impl Error {
    pub fn invalid(field: impl Into<Cow<'static, str>>, description: impl Into<Cow<'static, str>>) -> Self {
        Self::InvalidRequest(vec![FieldViolation { field: field.into(), description: description.into() }])
    }
}

impl Error {
    /// A field violation found by the domain's value parsers.
    pub fn from_invalid(error: DomainError) -> Self {
        match error {
            DomainError::Invalid { field, message } => Self::invalid(field, message),
            other => Self::Domain(other),
        }
    }
}

impl From<sled::Error> for Error {
    fn from(e: sled::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Self {
        Self::Storage(e.to_string())
    }
}

fn with_info(code: Code, message: String, reason: &str, metadata: Vec<(&str, String)>) -> Status {
    Status::with_error_details(code, message, error_info(reason, metadata))
}

/// Like [`with_info`], with a `RetryInfo` saying how long to wait before retrying.
fn retry_after(code: Code, message: String, reason: &str, metadata: Vec<(&str, String)>, millis: u64) -> Status {
    let mut details = error_info(reason, metadata);
    details.set_retry_info(Some(std::time::Duration::from_millis(millis)));
    Status::with_error_details(code, message, details)
}

fn error_info(reason: &str, metadata: Vec<(&str, String)>) -> ErrorDetails {
    let metadata: std::collections::HashMap<String, String> =
        metadata.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
    ErrorDetails::with_error_info(reason, ERROR_DOMAIN, metadata)
}

impl Error {
    /// The stable reason code clients see in ErrorInfo and the audit log records.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Domain(DomainError::Invalid { .. }) | Error::InvalidRequest(_) => "INVALID_ARGUMENT",
            Error::Domain(DomainError::PlanNotFound) => "PLAN_NOT_FOUND",
            Error::Domain(DomainError::Precondition { reason, .. } | DomainError::Forbidden { reason, .. }) => reason,
            Error::StaleVersion { .. } => "STALE_VERSION",
            Error::RequestIdReused => "REQUEST_ID_REUSED",
            Error::PlanTooLarge { .. } => "PLAN_TOO_LARGE",
            Error::RequestTooLarge { .. } => "REQUEST_TOO_LARGE",
            Error::HeadersTooLarge { .. } => "HEADERS_TOO_LARGE",
            Error::Undecodable { .. } => "UNDECODABLE",
            Error::UnknownMethod => "UNKNOWN_METHOD",
            Error::Transport { .. } => "REFUSED_BY_TRANSPORT",
            Error::Unauthenticated { reason, .. } => reason,
            Error::PermissionDenied { reason, .. } => reason,
            Error::SubscriberTooSlow { .. } => "SUBSCRIBER_TOO_SLOW",
            Error::ShuttingDown { .. } => "HUB_SHUTTING_DOWN",
            Error::CursorBeyondLog { .. } => "CURSOR_BEYOND_LOG",
            Error::Overloaded { .. } => "HUB_OVERLOADED",
            Error::DeadlineExceeded => "DEADLINE_EXCEEDED",
            Error::Unavailable => "STORE_UNAVAILABLE",
            Error::IndicatorsCounting { .. } => "INDICATORS_COUNTING",
            Error::Storage(_) => "STORAGE",
        }
    }
}

impl From<Error> for Status {
    fn from(error: Error) -> Self {
        let message = error.to_string();
        let reason = error.reason();
        match error {
            Error::Domain(DomainError::Invalid { field, message: description }) => Status::with_error_details(
                Code::InvalidArgument,
                message,
                ErrorDetails::with_bad_request_violation(field, description),
            ),
            Error::InvalidRequest(violations) => {
                let mut details = ErrorDetails::new();
                for v in violations {
                    details.add_bad_request_violation(v.field, v.description);
                }
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            Error::Domain(DomainError::PlanNotFound) => with_info(Code::NotFound, message, reason, vec![]),
            Error::Domain(DomainError::Precondition { .. }) => {
                with_info(Code::FailedPrecondition, message, reason, vec![])
            }
            Error::Domain(DomainError::Forbidden { .. }) => with_info(Code::PermissionDenied, message, reason, vec![]),
            Error::StaleVersion { current, .. } => {
                with_info(Code::Aborted, message, reason, vec![("current_version", current.to_string())])
            }
            Error::RequestIdReused => Status::with_error_details(
                Code::InvalidArgument,
                message,
                ErrorDetails::with_bad_request_violation("request_id", "was already used for a different request"),
            ),
            Error::PlanTooLarge { limit } => {
                with_info(Code::FailedPrecondition, message, reason, vec![("limit_bytes", limit.to_string())])
            }
            Error::RequestTooLarge { size, limit } => with_info(
                Code::ResourceExhausted,
                message,
                reason,
                vec![("size_bytes", size.to_string()), ("limit_bytes", limit.to_string())],
            ),
            Error::HeadersTooLarge { size, limit } => with_info(
                Code::ResourceExhausted,
                message,
                reason,
                vec![("size_bytes", size.to_string()), ("limit_bytes", limit.to_string())],
            ),
            Error::Undecodable { field, description } => {
                let mut details = ErrorDetails::with_bad_request_violation(field, description);
                details.set_error_info(reason, ERROR_DOMAIN, std::collections::HashMap::new());
                Status::with_error_details(Code::InvalidArgument, message, details)
            }
            Error::UnknownMethod => with_info(Code::Unimplemented, message, reason, vec![]),
            Error::Transport { code } => with_info(code, message, reason, vec![]),
            Error::Unauthenticated { .. } => with_info(Code::Unauthenticated, message, reason, vec![]),
            Error::PermissionDenied { .. } => with_info(Code::PermissionDenied, message, reason, vec![]),
            Error::SubscriberTooSlow { cursor } => {
                with_info(Code::ResourceExhausted, message, reason, vec![("cursor", cursor.to_string())])
            }
            Error::ShuttingDown { cursor } => {
                with_info(Code::Unavailable, message, reason, vec![("cursor", cursor.to_string())])
            }
            Error::CursorBeyondLog { last_position } => {
                with_info(Code::OutOfRange, message, reason, vec![("last_position", last_position.to_string())])
            }
            Error::Overloaded { limit } => {
                retry_after(Code::ResourceExhausted, message, reason, vec![("max_in_flight", limit.to_string())], 100)
            }
            Error::DeadlineExceeded => with_info(Code::DeadlineExceeded, message, reason, vec![]),
            Error::Unavailable => retry_after(Code::Unavailable, message, reason, vec![], 500),
            Error::IndicatorsCounting { counted, of } => retry_after(
                Code::Unavailable,
                message,
                reason,
                vec![("counted", counted.to_string()), ("of", of.to_string())],
                1000,
            ),
            Error::Storage(cause) => {
                tracing::error!(%cause, "storage failure");
                with_info(Code::Internal, "internal storage error".to_owned(), reason, vec![])
            }
        }
    }
}
