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
mod error;
#[cfg(feature = "mock-servers")]
pub mod mock;
pub mod protocol;
mod source;

mod registration;
pub use builder::{DEFAULT_PORT, RtlTcpBuilder};
pub use error::BACKEND;
pub use registration::{RtlTcpOptions, register};
pub use source::{CHUNK_SAMPLES, RtlTcpSource};
