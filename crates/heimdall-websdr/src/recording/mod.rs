//! Recordings replayed as receivers: kiwirecorder IQ WAV files with GNSS time stamps
//! ([`crate::kiwi_wav`]) and SigMF recordings ([`sigmf`]), so recorded captures go through the
//! engine, the archive, the metrics and the localization like live ones.
//!
//! A recording is a receiver of kind `recording` whose URL is `file:///absolute/path`: a
//! `*_iq.wav` (`YYYYMMDDTHHMMSSZ_FREQ_STATION_iq.wav`, the name gives the GPS week and the
//! centre frequency), a `*.sigmf-meta` or a `*.sigmf-data`. The capture's sample rate is
//! fitted to the GNSS stamps; stamps from a stale GNSS solution (older than `max_fix_age_s`)
//! are left out, and a recording with no usable stamp is replayed on a host clock (which the
//! localization will not use for TDoA, and says so).
//!
//! ```no_run
//! # async fn demo() -> heimdall_core::Result<()> {
//! use heimdall_core::{CaptureRequest, ReceiverId, ReceiverInfo, ReceiverKind, ReceiverSourceExt, SessionId};
//! use heimdall_websdr::recording::RecordingBuilder;
//! let url = "file:///data/20200813T065220Z_77500_HB9ODP_iq.wav";
//! let info = ReceiverInfo::new(ReceiverId::new("hb9odp")?, "HB9ODP", ReceiverKind::Recording, url);
//! let source = RecordingBuilder::new(info).build()?;
//! let req = CaptureRequest {
//!     session_id: SessionId::new(),
//!     frequency_hz: 77_500.0,
//!     duration: std::time::Duration::from_secs(30),
//!     sample_rate_hz: None,
//!     passband: None,
//!     start_at: None,
//! };
//! let capture = source.open_uncancellable(&req).await?;
//! println!("{} Hz, {:?} samples", capture.info.sample_rate_hz, capture.info.expected_samples);
//! # Ok(()) }
//! ```

mod builder;
mod error;
pub mod protocol;
mod registration;
pub mod sigmf;
mod source;

pub use builder::{DEFAULT_MAX_BYTES, RecordingBuilder};
pub use error::BACKEND;
pub use protocol::Recording;
pub use registration::{RecordingOptions, register};
pub use source::RecordingSource;
