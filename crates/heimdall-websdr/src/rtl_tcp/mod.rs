//! osmocom rtl_tcp (`rtl_tcp.c`): plain TCP, a 12-byte `RTL0` header, 5-byte big-endian
//! commands and an endless unsigned 8-bit IQ stream.
//!
//! [`RtlTcpSource`] connects, checks the header, sends sample rate, frequency, ppm and gain
//! commands, discards a short settling period (samples queued at the old settings) and then
//! streams exactly the requested number of samples in chunks of at most 64 Ki samples. Memory is
//! bounded by one 128 KiB read buffer plus the chunk being handed over: there is no queue, so a
//! slow consumer pushes back on the TCP connection (the server then drops buffers, as rtl_tcp
//! does).
//!
//! ```no_run
//! # fn demo() -> heimdall_core::Result<()> {
//! use heimdall_core::{ReceiverId, ReceiverInfo, ReceiverKind};
//! use heimdall_websdr::rtl_tcp::RtlTcpBuilder;
//! let info = ReceiverInfo::new(ReceiverId::new("rtl-1")?, "Dongle", ReceiverKind::RtlTcp, "rtl_tcp://192.168.1.20:1234");
//! let source = RtlTcpBuilder::new(info).with_gain_db(29.7).with_ppm(-2).build()?;
//! # Ok(()) }
//! ```

mod builder;
mod client;
#[cfg(feature = "mock-servers")]
pub mod mock;
pub mod protocol;

use std::time::Duration;

pub use builder::{DEFAULT_PORT, RtlTcpBuilder};
pub use client::{CHUNK_SAMPLES, RtlTcpSource};

use heimdall_core::{BoxError, Error};

/// Backend name used in errors.
pub const BACKEND: &str = "rtl_tcp";

#[derive(Debug, thiserror::Error)]
pub(crate) enum RtlError {
    #[error("cannot connect to {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("{operation} timed out after {after:?}")]
    Timeout { operation: &'static str, after: Duration },
    #[error("{0}")]
    Header(#[from] protocol::HeaderError),
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

impl RtlError {
    pub(crate) fn into_core(self, target: &str) -> Error {
        let target = target.to_owned();
        let reason = self.to_string();
        match self {
            RtlError::Connect { source, .. } => Error::Unavailable {
                backend: BACKEND,
                target,
                reason,
                retry_after: None,
                source: Some(Box::new(source)),
            },
            RtlError::Timeout { operation, after } => Error::Timeout {
                backend: BACKEND,
                target,
                operation,
                after,
            },
            RtlError::Header(_) => Error::Malformed {
                backend: BACKEND,
                origin: target,
                reason,
            },
            RtlError::Closed {
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
            RtlError::InvalidRequest(reason) => Error::InvalidInput {
                field: "capture request",
                reason,
            },
            RtlError::Cancelled => Error::Cancelled {
                what: format!("rtl_tcp capture from {target}"),
            },
        }
    }
}
