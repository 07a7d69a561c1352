//! NATS failures as [`heimdall_core::Error`]s.

use heimdall_core::Error;

/// Backend name in errors.
pub(crate) const BACKEND: &str = "nats";

/// A failed NATS operation: the server is unreachable, restarting or refused; retryable.
pub(crate) fn unavailable(target: &str, operation: &str, e: impl Into<heimdall_core::BoxError>) -> Error {
    Error::Unavailable {
        backend: BACKEND,
        target: target.to_owned(),
        reason: format!("{operation} failed"),
        retry_after: None,
        source: Some(e.into()),
    }
}

/// A message that is not what this queue writes.
pub(crate) fn malformed(origin: String, reason: impl std::fmt::Display) -> Error {
    Error::Malformed {
        backend: BACKEND,
        origin,
        reason: reason.to_string(),
    }
}
