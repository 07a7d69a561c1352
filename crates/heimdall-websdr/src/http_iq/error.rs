//! The HTTP IQ client's detailed errors and their mapping to [`heimdall_core::Error`].

use std::time::Duration;

use heimdall_core::Error;

use crate::transport::TransportError;

/// Backend name used in errors.
pub const BACKEND: &str = "http_iq";

/// Detailed HTTP IQ failures, converted to [`heimdall_core::Error`] at the trait boundary.
#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpIqError {
    #[error("request to {url} failed: {source}")]
    Connect { url: String, source: reqwest::Error },
    #[error("{url} answered HTTP {status}")]
    Status {
        url: String,
        status: u16,
        retry_after: Option<Duration>,
    },
    #[error("{0}")]
    Malformed(String),
    #[error(transparent)]
    Transport(#[from] TransportError),
}

impl HttpIqError {
    pub(crate) fn into_core(self, target: &str) -> Error {
        let target = target.to_owned();
        let reason = self.to_string();
        match self {
            HttpIqError::Connect { url, source } => match crate::tls::describe_failure(&source) {
                // Certificates and names do not change between attempts: not retryable.
                Some(tls) => Error::Refused {
                    backend: BACKEND,
                    target,
                    reason: format!("request to {url} failed: {tls}"),
                    source: Some(Box::new(source)),
                },
                None => Error::Unavailable {
                    backend: BACKEND,
                    target,
                    reason,
                    retry_after: None,
                    source: Some(Box::new(source)),
                },
            },
            HttpIqError::Status {
                status, retry_after, ..
            } if status == 429 || status >= 500 => Error::Unavailable {
                backend: BACKEND,
                target,
                reason,
                retry_after,
                source: None,
            },
            HttpIqError::Status { .. } => Error::Refused {
                backend: BACKEND,
                target,
                reason,
                source: None,
            },
            HttpIqError::Malformed(reason) => Error::Malformed {
                backend: BACKEND,
                origin: target,
                reason,
            },
            HttpIqError::Transport(t) => t.into_core(BACKEND, &target),
        }
    }
}
