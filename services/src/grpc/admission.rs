//! Admission: the hub's bound on calls in flight, and the deadline each
//! caller gave. Beyond the bound a call is refused at once
//! (`RESOURCE_EXHAUSTED`, `HUB_OVERLOADED`, with a retry delay) instead of
//! queueing in front of the writer; a change whose caller's deadline has
//! passed by the time the writer reaches it is dropped undecided.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::metadata::MetadataMap;

use crate::error::Error;

/// The calls in flight (decoded and being answered) across all connections;
/// clones share the bound.
#[derive(Clone, Debug)]
pub(super) struct Admission {
    permits: Arc<Semaphore>,
    limit: usize,
}

impl Admission {
    pub(super) fn new(limit: usize) -> Self {
        let limit = limit.clamp(1, Semaphore::MAX_PERMITS);
        Self { permits: Arc::new(Semaphore::new(limit)), limit }
    }

    /// A place for one more call, held while it is answered; none when the hub is full.
    pub(super) fn admit(&self) -> Result<OwnedSemaphorePermit, Error> {
        self.permits.clone().try_acquire_owned().map_err(|_| Error::Overloaded { limit: self.limit })
    }
}

tokio::task_local! {
    /// The deadline of the call being answered, if its caller gave one.
    static DEADLINE: Option<Instant>;
}

/// The deadline a call's `grpc-timeout` header gives, counted from now.
pub(super) fn requested(metadata: &MetadataMap) -> Option<Instant> {
    let value = metadata.get("grpc-timeout")?.to_str().ok()?;
    Instant::now().checked_add(timeout(value)?)
}

/// Runs `answer` knowing the deadline of the call (see [`deadline`]).
pub(super) async fn within<F: Future>(deadline: Option<Instant>, answer: F) -> F::Output {
    DEADLINE.scope(deadline, answer).await
}

/// The deadline of the call being answered (see [`within`]).
pub(super) fn deadline() -> Option<Instant> {
    DEADLINE.try_with(|d| *d).ok().flatten()
}

/// A `grpc-timeout` value: at most 8 digits and a unit (H, M, S, m, u, n).
fn timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at_checked(value.len().checked_sub(1)?)?;
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let n: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(n * 3600),
        "M" => Duration::from_secs(n * 60),
        "S" => Duration::from_secs(n),
        "m" => Duration::from_millis(n),
        "u" => Duration::from_micros(n),
        "n" => Duration::from_nanos(n),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_are_read_as_the_protocol_spells_them() {
        assert_eq!(timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(timeout("3S"), Some(Duration::from_secs(3)));
        assert_eq!(timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(timeout("99999999n"), Some(Duration::from_nanos(99_999_999)));
        for bad in ["", "m", "123", "123456789S", "1x", "-1S", "1.5S"] {
            assert_eq!(timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn beyond_the_limit_calls_are_refused_at_once() {
        let admission = Admission::new(2);
        let (a, b) = (admission.admit(), admission.admit());
        assert!(a.is_ok() && b.is_ok());
        assert!(matches!(admission.admit(), Err(Error::Overloaded { limit: 2 })));
        drop(a);
        assert!(admission.admit().is_ok(), "a finished call frees its place");
    }
}
