//! KiwiSDR IQ over WebSocket (`ws://host:port/<tstamp>/SND`), the protocol of the KiwiSDR
//! server as kiwiclient/kiwirecorder speak it.
//!
//! [`KiwiSdrSource`] runs the session kiwirecorder runs: `SET auth` first, `SET AR OK` on
//! `MSG audio_rate`, then (once authenticated and the true `MSG sample_rate` is known) the
//! tuning set `ident_user`, `mod=iq` with a passband and the frequency in kHz corrected by the
//! Kiwi's `freq_offset`, AGC off with a fixed manual gain, and `keepalive`, which is then
//! repeated on its own timer. IQ `SND` frames are decoded (big- or little-endian per flag 0x80),
//! the stale first packet is dropped, sequence gaps become [`heimdall_core::Gap`]s, the S-meter
//! becomes dBm [`heimdall_core::RssiReading`]s and GPS time stamps become GPS
//! [`heimdall_core::TimeMark`]s.
//!
//! Errors (`badp` and `too_busy`/`redirect` messages): `too_busy` and `redirect` are retryable
//! ([`heimdall_core::Error::Unavailable`] with a `retry_after` of at least 15 s; one redirect is
//! followed); `badp`, `down`, `ip_limit` (never retry: the Kiwi blacklists an IP after 5
//! attempts), `kiwi_kick`, `inactivity_timeout` and `password_timeout` are terminal
//! ([`heimdall_core::Error::Refused`]).
//!
//! ```no_run
//! # async fn demo() -> heimdall_core::Result<()> {
//! use heimdall_core::{ReceiverId, ReceiverInfo, ReceiverKind};
//! use heimdall_websdr::kiwisdr::KiwiSdrBuilder;
//! let info = ReceiverInfo::new(ReceiverId::new("kiwi-1")?, "Kiwi", ReceiverKind::KiwiSdr, "http://kiwi.example:8073");
//! let source = KiwiSdrBuilder::new(info).with_gain(50).build()?;
//! # Ok(()) }
//! ```
//!
//! With only the `kiwisdr-protocol` feature, just [`protocol`] (the wire format, no network
//! stack) is built.

#[cfg(feature = "kiwisdr")]
mod builder;
#[cfg(feature = "kiwisdr")]
mod error;
#[cfg(all(feature = "kiwisdr", feature = "mock-servers"))]
pub mod mock;
pub mod protocol;
mod registration;
#[cfg(feature = "kiwisdr")]
mod source;

#[cfg(feature = "kiwisdr")]
pub use builder::{KiwiSdrBuilder, MIN_BUSY_BACKOFF};
#[cfg(feature = "kiwisdr")]
pub use error::BACKEND;
#[cfg(feature = "kiwisdr")]
pub use protocol::DEFAULT_PORT;
pub use registration::{KiwiSdrOptions, register};
#[cfg(feature = "kiwisdr")]
pub use source::KiwiSdrSource;
