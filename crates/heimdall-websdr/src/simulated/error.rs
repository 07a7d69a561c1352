//! The errors a simulated receiver produces: the [`heimdall_core::Error`] variants real
//! backends report for the same failures.

use heimdall_core::{Error, ReceiverId};

pub(super) const BACKEND: &str = "simulated";

/// All channels busy: retryable.
pub(super) fn unavailable(id: &ReceiverId, reason: &str) -> Error {
    Error::Unavailable {
        backend: BACKEND,
        target: id.to_string(),
        reason: reason.to_owned(),
        retry_after: None,
        source: None,
    }
}

/// A permanent refusal.
pub(super) fn refused(id: &ReceiverId, reason: &str) -> Error {
    Error::Refused {
        backend: BACKEND,
        target: id.to_string(),
        reason: reason.to_owned(),
        source: None,
    }
}

/// The capture was cancelled.
pub(super) fn cancelled(id: &ReceiverId) -> Error {
    Error::Cancelled {
        what: format!("simulated capture from {id}"),
    }
}

/// The connection dropped after `received` samples.
pub(super) fn connection_lost(id: &ReceiverId, received: u64) -> Error {
    Error::ConnectionLost {
        backend: BACKEND,
        target: id.to_string(),
        received,
        reason: "connection reset by peer (simulated)".into(),
        source: None,
    }
}

/// An undecodable frame.
pub(super) fn garbage(id: &ReceiverId) -> Error {
    Error::Malformed {
        backend: BACKEND,
        origin: id.to_string(),
        reason: "frame header has an unknown tag (simulated garbage)".into(),
    }
}
