//! The rtl_tcp client's detailed errors and their mapping to [`heimdall_core::Error`].

use heimdall_core::Error;

use super::protocol;
use crate::transport::TransportError;

/// Backend name used in errors.
pub const BACKEND: &str = "rtl_tcp";

/// Detailed rtl_tcp failures, converted to [`heimdall_core::Error`] at the trait boundary.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RtlError {
    #[error("{0}")]
    Header(#[from] protocol::HeaderError),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl RtlError {
    pub(crate) fn into_core(self, target: &str) -> Error {
        match self {
            RtlError::Header(_) => Error::Malformed {
                backend: BACKEND,
                origin: target.to_owned(),
                reason: self.to_string(),
            },
            RtlError::Transport(t) => t.into_core(BACKEND, target),
        }
    }
}
