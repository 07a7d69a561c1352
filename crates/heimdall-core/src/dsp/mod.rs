//! The DSP core: sample conversions, Welch PSD and the streaming signal [`Analyzer`].
//!
//! - [`convert`]: receiver sample formats (int16 LE/BE, rtl_tcp u8, f32) into
//!   [`Complex32`](num_complex::Complex32), int16 audio into `f32`;
//! - [`Welch`] / [`welch`]: scipy-exact Welch PSD (periodic Hann, 50 % overlap, density,
//!   two-sided, frequency-sorted);
//! - [`Analyzer`]: plan once, push chunks of any size, [`Analyzer::finish`] into
//!   [`SignalMetrics`](crate::SignalMetrics) plus the [`Psd`]. Memory stays `O(segment_len)`
//!   whatever the capture length, and streaming gives exactly the one-shot answer.
//!
//! Powers are dBFS: a complex sinusoid of amplitude 1 is 0 dBFS. SNR is the signal power over
//! the noise power across the full captured bandwidth (`fs` for IQ, `fs/2` for audio).
//!
//! ```
//! use heimdall_core::Complex32;
//! use heimdall_core::dsp::{Analyzer, AnalyzerConfig};
//!
//! // A tone of amplitude 0.25 (-12 dBFS) at 1234.5 Hz plus a little deterministic "noise".
//! let fs = 12_000.0;
//! let mut state = 1u32;
//! let mut noise = move || {
//!     state ^= state << 13; state ^= state >> 17; state ^= state << 5;
//!     (state as f32 / u32::MAX as f32 - 0.5) * 0.02
//! };
//! let x: Vec<Complex32> = (0..32_768)
//!     .map(|i| {
//!         let ph = std::f64::consts::TAU * 1234.5 * i as f64 / fs;
//!         Complex32::new(0.25 * ph.cos() as f32 + noise(), 0.25 * ph.sin() as f32 + noise())
//!     })
//!     .collect();
//!
//! let mut analyzer = Analyzer::new(AnalyzerConfig::new(fs).with_target_offset_hz(1000.0))?;
//! for chunk in x.chunks(5000) {
//!     analyzer.push_complex(chunk)?;
//! }
//! let m = analyzer.finish()?.metrics;
//! assert!((m.signal_power_dbfs.unwrap() + 12.04).abs() < 0.1);
//! assert!((m.frequency_offset_hz.unwrap() - 234.5).abs() < 0.01);
//! assert!(m.snr_db.unwrap() > 20.0);
//! # Ok::<(), heimdall_core::Error>(())
//! ```

mod analyzer;
mod config;
pub mod convert;
mod estimate;
mod report;
mod stats;
mod sums;
mod welch;
mod window;

pub use analyzer::{Analysis, Analyzer, analyze_complex, analyze_real};
pub use config::AnalyzerConfig;
pub use convert::{
    IqFormat, convert_into, convert_to_slice, f32_interleaved_into, f32_interleaved_to_slice, i16_be_into,
    i16_be_to_slice, i16_le_into, i16_le_mono_into, i16_le_mono_to_slice, i16_le_to_slice, u8_into, u8_to_slice,
};
pub use report::{analyze_npy, metrics_json};
pub use welch::{DEFAULT_SEGMENT_LEN, MAX_SEGMENT_LEN, MIN_SEGMENT_LEN, Psd, Welch, welch};
pub use window::hann_periodic;
