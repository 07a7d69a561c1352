//! The failures every network backend shares (connect, timeout, closed, cancelled, invalid
//! request) and their one mapping to [`heimdall_core::Error`]. Each backend's detailed error
//! wraps a [`TransportError`] next to its protocol-specific arms.

use std::time::Duration;

use heimdall_core::{BoxError, Error};

/// A transport failure, converted to [`heimdall_core::Error`] by [`TransportError::into_core`].
/// (KiwiSDR and rtl_tcp use every arm; a build with only HTTP IQ or OpenWebRX uses some.)
#[derive(Debug, thiserror::Error)]
#[cfg_attr(not(any(feature = "kiwisdr", feature = "rtl_tcp")), allow(dead_code))]
pub(crate) enum TransportError {
    /// The TCP (or WebSocket) connection could not be opened: retryable.
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: BoxError },
    /// An operation took longer than its deadline.
    #[error("{operation} timed out after {after:?}")]
    Timeout { operation: &'static str, after: Duration },
    /// The connection closed or failed after `received` samples.
    #[error("connection closed: {reason}")]
    Closed {
        received: u64,
        reason: String,
        source: Option<BoxError>,
    },
    /// The request cannot be served by this backend.
    #[error("{0}")]
    InvalidRequest(String),
    /// The caller cancelled the capture.
    #[error("capture cancelled")]
    Cancelled,
}

impl TransportError {
    /// The [`heimdall_core::Error`] for `backend` talking to receiver `target`.
    pub(crate) fn into_core(self, backend: &'static str, target: &str) -> Error {
        let target = target.to_owned();
        let reason = self.to_string();
        match self {
            TransportError::Connect { source, .. } => Error::Unavailable {
                backend,
                target,
                reason,
                retry_after: None,
                source: Some(source),
            },
            TransportError::Timeout { operation, after } => Error::Timeout {
                backend,
                target,
                operation,
                after,
            },
            TransportError::Closed {
                received,
                reason,
                source,
            } => Error::ConnectionLost {
                backend,
                target,
                received,
                reason,
                source,
            },
            TransportError::InvalidRequest(reason) => Error::InvalidInput {
                field: "capture request",
                reason,
            },
            TransportError::Cancelled => Error::Cancelled {
                what: format!("{backend} capture from {target}"),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_to_the_core_kinds() {
        let io = || Box::new(std::io::Error::other("refused")) as BoxError;
        let e = TransportError::Connect {
            addr: "h:1".into(),
            source: io(),
        }
        .into_core("rtl_tcp", "rx");
        assert!(
            matches!(
                &e,
                Error::Unavailable {
                    backend: "rtl_tcp",
                    source: Some(_),
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("cannot connect to h:1: refused"), "{e}");
        let e = TransportError::Timeout {
            operation: "capture",
            after: Duration::from_secs(5),
        }
        .into_core("kiwisdr", "rx");
        assert!(matches!(
            e,
            Error::Timeout {
                operation: "capture",
                ..
            }
        ));
        let e = TransportError::Closed {
            received: 7,
            reason: "reset".into(),
            source: None,
        }
        .into_core("http_iq", "rx");
        assert!(
            matches!(&e, Error::ConnectionLost { received: 7, reason, .. } if reason == "reset"),
            "{e:?}"
        );
        let e = TransportError::InvalidRequest("too wide".into()).into_core("kiwisdr", "rx");
        assert!(matches!(
            e,
            Error::InvalidInput {
                field: "capture request",
                ..
            }
        ));
        let e = TransportError::Cancelled.into_core("openwebrx", "rx");
        assert!(
            matches!(&e, Error::Cancelled { what } if what == "openwebrx capture from rx"),
            "{e:?}"
        );
    }
}
