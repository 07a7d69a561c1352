//! OpenWebRX receivers (`ws://host:port/ws/`), the WebSocket protocol of OpenWebRX 1.1,
//! 1.2 and OpenWebRX+.
//!
//! OpenWebRX never sends IQ to web clients: a capture is **demodulated real audio**
//! ([`heimdall_core::SampleFormat::RealF32`], int16 / 32768) at the `output_rate` asked for
//! (12 kHz by default; `hd_output_rate`, 48 kHz, for `wfm`; a request's `sample_rate_hz` is
//! not used: the rate is the builder's), plus:
//!
//! - [`heimdall_core::CaptureChunk::Rssi`]: every `smeter` reading, `10·log10(linear)` in
//!   **dBFS** (channel power after the passband filter, uncalibrated, about 4 per second);
//!   `sample_index` is the number of samples delivered when it arrived;
//! - [`heimdall_core::CaptureChunk::Spectrum`]: every main FFT line (float32 or per-frame
//!   ADPCM, relative dB), spanning the profile (`center_freq ± samp_rate/2`). Use
//!   [`channel_power_db`] to get the power in the passband at the target from a frame; the source
//!   does not fold it into the RSSI series, which stays the receiver's own S-meter.
//!
//! `CaptureInfo::center_frequency_hz` is the tuned dial frequency (`center_freq +
//! offset_freq`, `offset_freq` an integer) and `target_frequency_hz` the request's frequency.
//! `CaptureInfo::extra` records `server_version`, `mode`, `low_cut`, `high_cut`,
//! `offset_freq`, `profile`, `profile_center_freq`, `profile_samp_rate`, `audio_compression`,
//! `adpcm` (`raw`/`sync`/`sniff`), `fft_compression`, `rssi` (what the RSSI series is) and, for
//! servers older than 1.2, `smeter_bias_db_estimate` (-7: their S-meter reads low; values are
//! not corrected).
//!
//! The time mark of sample 0 is the host clock at the arrival of the first delivered audio
//! frame minus that frame's duration ([`heimdall_core::TimeSource::Host`]: network latency
//! included). With `req.start_at` the source connects and tunes at once, discards audio until
//! that instant and drops the part of the first frame that precedes it.
//!
//! ```no_run
//! # async fn demo() -> heimdall_core::Result<()> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use heimdall_core::{AcquisitionRequest, CaptureRequest, ReceiverId, ReceiverInfo, ReceiverKind,
//!                     ReceiverSourceExt, SessionId};
//! use heimdall_websdr::openwebrx::{HostLimiter, OpenWebRxBuilder};
//!
//! let limiter = Arc::new(HostLimiter::default()); // share across every source of the process
//! let info = ReceiverInfo::new(ReceiverId::new("torino")?, "Torino", ReceiverKind::OpenWebRx,
//!                              "http://vst-aero.it:8073/");
//! let src = OpenWebRxBuilder::new(info).with_mode("nfm").with_host_limiter(limiter).build()?;
//! let req = CaptureRequest::from_request(SessionId::new(),
//!                                        &AcquisitionRequest::new(145.5e6, Duration::from_secs(10)));
//! let capture = src.open_uncancellable(&req).await?;
//! assert_eq!(capture.info.expected_samples, Some(120_000));
//! # Ok(()) }
//! ```
//!
//! **Politeness.** The server bans IPs that open several sockets within seconds. Every
//! `open` first takes a slot from a [`HostLimiter`] (per host, default 10 s apart). Each source
//! has its own limiter unless one is shared with [`OpenWebRxBuilder::with_host_limiter`];
//! share one across all sources of a process that may reach the same host (the receivers file
//! does). Profile switches (`selectprofile`) happen only when allowed and at most once per
//! capture.
//!
//! **Errors** (all with backend `"openwebrx"`): `backoff` → `Unavailable` with `retry_after`
//! 16 s (the browser's restart delay; the message carries no delay), or `Refused` when the
//! reason says the address is banned; `sdr_error` "No SDR Devices available" → `Refused`, any
//! other `sdr_error` → `Unavailable`; `demodulator_error` → `Refused`; malformed messages →
//! `Malformed`; a close or reset mid-capture → `ConnectionLost { received }`; silence longer
//! than the stall timeout → `Timeout`; target outside the current profile without permission to
//! switch, or outside every profile, or a `selectprofile` the server ignores → `Refused`
//! (never retried: repeated switches raise the robot score); another user moving the profile
//! away from the target mid-capture → `Unavailable`; the legacy ≤ 0.18 protocol →
//! `NotImplemented`.
//!
//! With only the `openwebrx-protocol` feature, just [`protocol`] and [`adpcm`] (the wire format,
//! no network stack) are built.

pub mod adpcm;
#[cfg(feature = "openwebrx")]
mod builder;
#[cfg(feature = "openwebrx")]
mod error;
#[cfg(feature = "openwebrx")]
mod limiter;
#[cfg(all(feature = "openwebrx", feature = "mock-servers"))]
pub mod mock;
pub mod protocol;
mod registration;
#[cfg(feature = "openwebrx")]
mod session;
#[cfg(feature = "openwebrx")]
mod source;

#[cfg(feature = "openwebrx")]
pub use builder::OpenWebRxBuilder;
#[cfg(feature = "openwebrx")]
pub use error::{BACKEND, BACKOFF_RETRY_AFTER};
#[cfg(feature = "openwebrx")]
pub use limiter::{DEFAULT_POLITENESS_INTERVAL, HostLimiter};
pub use registration::{OpenWebRxOptions, register};
#[cfg(feature = "openwebrx")]
pub use source::{OpenWebRxSource, channel_power_db};
