//! # heimdall-websdr
//!
//! [`heimdall_core::ReceiverSource`] backends, one self-contained module per protocol, each
//! behind a cargo feature of the same name, and the [`registry::Registry`] they register with
//! (kind, URL schemes, options, builder, health probe).
#![warn(missing_docs)]

#[cfg(feature = "discovery")]
pub mod discovery;
#[cfg(feature = "http_iq")]
pub mod http_iq;
#[cfg(feature = "kiwi-wav")]
pub mod kiwi_wav;
#[cfg(feature = "kiwisdr-protocol")]
pub mod kiwisdr;
#[cfg(feature = "mock-servers")]
pub mod mock_tls;
#[cfg(feature = "openwebrx-protocol")]
pub mod openwebrx;
#[cfg(feature = "receivers-file")]
pub mod receivers_file;
#[cfg(feature = "recording")]
pub mod recording;
pub mod registry;
#[cfg(feature = "rtl_tcp")]
pub mod rtl_tcp;
#[cfg(feature = "simulated")]
pub mod simulated;
#[cfg(any(
    feature = "kiwisdr",
    feature = "openwebrx",
    feature = "rtl_tcp",
    feature = "http_iq",
    feature = "simulated",
    feature = "recording"
))]
mod stream;
#[cfg(any(feature = "openwebrx", feature = "http_iq"))]
mod tls;
#[cfg(any(feature = "kiwisdr", feature = "openwebrx", feature = "rtl_tcp", feature = "http_iq"))]
mod transport;
