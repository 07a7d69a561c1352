//! The old service's HTTP IQ contract, kept for custom receivers:
//! `GET {base}/iq?tune=<Hz>&rate=<Hz>` returning interleaved int16 little-endian IQ.
//!
//! The body is streamed (never buffered whole) and decoded across chunk boundaries that split
//! samples; the connection is dropped once the requested samples have arrived. HTTP 5xx and 429
//! are retryable ([`heimdall_core::Error::Unavailable`], honouring `Retry-After`), other 4xx are
//! [`heimdall_core::Error::Refused`], as is a failed TLS handshake (`https://` receivers are
//! verified against the Mozilla roots plus [`HttpIqBuilder::with_root_certificates_pem`]). Health is the old Python (FastAPI/Celery) service's liveness check: `HEAD` the base
//! URL, then `GET` it if `HEAD` fails.
//!
//! ```no_run
//! # fn demo() -> heimdall_core::Result<()> {
//! use heimdall_core::{ReceiverId, ReceiverInfo, ReceiverKind};
//! use heimdall_websdr::http_iq::HttpIqBuilder;
//! let info = ReceiverInfo::new(ReceiverId::new("custom-1")?, "Custom", ReceiverKind::HttpIq, "http://10.0.0.5:8080/sdr");
//! let source = HttpIqBuilder::new(info).with_sample_rate(48_000.0).build()?;
//! # Ok(()) }
//! ```

mod builder;
mod client;
#[cfg(feature = "mock-servers")]
pub mod mock;
pub mod protocol;

use std::time::Duration;

pub use builder::HttpIqBuilder;
pub use client::HttpIqSource;

use heimdall_core::{BoxError, Error};

/// Backend name used in errors.
pub const BACKEND: &str = "http_iq";

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
    #[error("{operation} timed out after {after:?}")]
    Timeout { operation: &'static str, after: Duration },
    #[error("{0}")]
    Malformed(String),
    #[error("connection closed: {reason}")]
    Closed {
        received: u64,
        reason: String,
        source: Option<BoxError>,
    },
    #[error("{0}")]
    InvalidRequest(String),
    #[error("capture cancelled")]
    Cancelled,
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
            HttpIqError::Timeout { operation, after } => Error::Timeout {
                backend: BACKEND,
                target,
                operation,
                after,
            },
            HttpIqError::Malformed(reason) => Error::Malformed {
                backend: BACKEND,
                origin: target,
                reason,
            },
            HttpIqError::Closed {
                received,
                reason,
                source,
            } => Error::ConnectionLost {
                backend: BACKEND,
                target,
                received,
                reason,
                source,
            },
            HttpIqError::InvalidRequest(reason) => Error::InvalidInput {
                field: "capture request",
                reason,
            },
            HttpIqError::Cancelled => Error::Cancelled {
                what: format!("http_iq capture from {target}"),
            },
        }
    }
}
