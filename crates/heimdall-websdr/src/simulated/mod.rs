//! A physically plausible simulated receiver network.
//!
//! One [`Transmitter`] (position, frequency, EIRP, modulation) is heard by any number of
//! [`SimulatedReceiver`]s (position, noise figure, local-oscillator error, clock, sample rate,
//! failure behaviour). Each receiver is a [`heimdall_core::ReceiverSource`] that delivers complex baseband IQ
//! tuned to the requested frequency:
//!
//! ```text
//! x[n] = A · m(t_n − τ) · exp(j(2π·Δf·t_n + φ)) + w[n]
//! ```
//!
//! - `t_n` is the true time of sample `n` (seconds since the transmitter's [`Transmitter::epoch`]);
//!   sample 0 is taken at `req.start_at` when given, else at the host clock when the capture opens;
//! - `τ = d / c` is the propagation delay over the slant distance `d` (positions and altitudes);
//!   it is applied analytically to the modulation, so it is accurate to a fraction of a sample;
//! - `A² = P_rx / P_fs` with `P_rx = EIRP − path loss` (free space or log-distance, [`PathLoss`])
//!   and `P_fs` the receiver's [`SimulatedReceiverConfig::full_scale_dbm`]: an input of
//!   `full_scale_dbm` dBm gives a complex sinusoid of amplitude 1, i.e. 0 dBFS (the convention of
//!   [`heimdall_core::SignalMetrics`]); samples are clipped to ±1 per component;
//! - `Δf = f_tx − f_c·(1 + lo_ppm·10⁻⁶)` is the offset left by the receiver's LO error (no Doppler);
//! - `w` is complex white Gaussian noise of power `kTB·F`: `−174 dBm/Hz + NF + 10·log10(fs)`,
//!   scaled into dBFS the same way.
//!
//! The receiver also reports its S-meter ([`heimdall_core::CaptureChunk::Rssi`], in dBm like a
//! KiwiSDR: the mean input power of each chunk) and time marks ([`Clock`]).
//!
//! Modulations ([`Modulation`]) are functions of the transmitter's time, delayed analytically,
//! so that a localization can time them: a carrier, FM by tones (voice-like), on-off bursts,
//! AM by tones (voice-like) and an AM-keyed time-code carrier ([`Modulation::time_code`],
//! DCF77's shape). Clocks: exact, GPS (ideal, or with an independent Gaussian error of tens of
//! ns per mark, [`Clock::gps_typical`]; marks about every second) and host (sample 0 only, one
//! NTP-like offset of milliseconds).
//!
//! Everything is deterministic from the seed: the same configuration, seed and request give the
//! same samples (the noise comes from a per-receiver table of Gaussian samples drawn once from the
//! seed, read at a seeded random offset and quarter-turn rotation per chunk, which keeps the
//! simulator at several hundred MS/s). Delivery is as fast as possible or paced in real time
//! ([`Pacing`]), and failures map to the errors real backends produce ([`Failure`]).
//!
//! ```
//! # async fn demo() -> heimdall_core::Result<()> {
//! use std::time::Duration;
//! use heimdall_core::{GeoPosition, ReceiverSourceExt, CaptureRequest, AcquisitionRequest, SessionId};
//! use heimdall_websdr::simulated::{Modulation, SimulatedNetwork, Transmitter};
//!
//! let tx = Transmitter::new(GeoPosition::new(45.1, 7.6, Some(300.0))?, 145.5e6, 30.0, Modulation::Carrier);
//! let sources = SimulatedNetwork::reference(tx, 42);
//! assert_eq!(sources.len(), 7);
//! let req = CaptureRequest::from_request(SessionId::new(), &AcquisitionRequest::new(145.5e6, Duration::from_secs(1)));
//! let capture = sources[0].open_uncancellable(&req).await?;
//! assert_eq!(capture.info.expected_samples, Some(12_000));
//! # Ok(()) }
//! ```

mod builder;
mod clocks;
mod config;
mod error;
mod failures;
mod generator;
mod network;
mod propagation;
mod signal;
mod source;
mod transmitter;

mod registration;
pub use builder::SimulatedBuilder;
pub use clocks::{Clock, Pacing};
pub use config::SimulatedReceiverConfig;
pub use failures::Failure;
pub use network::SimulatedNetwork;
pub use propagation::{PathLoss, SPEED_OF_LIGHT_M_S};
pub use signal::THERMAL_NOISE_DBM_PER_HZ;
pub use source::SimulatedReceiver;
pub use transmitter::{Modulation, Transmitter};

pub use registration::{SimulatedOptions, register};

#[cfg(test)]
mod tests;
