//! The HTTP IQ contract of the Python service Heimdall replaces (FastAPI + Celery, boto3, SQLAlchemy),
//! kept for custom receivers:
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
mod error;
#[cfg(feature = "mock-servers")]
pub mod mock;
pub mod protocol;
mod source;

mod registration;
pub use builder::HttpIqBuilder;
pub use error::BACKEND;
pub use registration::{HttpIqOptions, register};
pub use source::HttpIqSource;
