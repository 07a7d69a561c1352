//! Signal metrics of one capture, as computed by [`crate::dsp`].

use serde::{Deserialize, Serialize};

/// Metrics of one capture. Powers are in dBFS (relative to a full-scale complex sinusoid of
/// amplitude 1, i.e. power 1.0 = 0 dBFS) unless a calibration is applied, in which case the
/// `*_dbm` fields are set too. Values that cannot be estimated are `None`, never NaN.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct SignalMetrics {
    /// Samples analysed.
    pub samples: u64,
    /// Sample rate used, Hz.
    pub sample_rate_hz: f64,
    /// Signal power over noise power across the full captured bandwidth, dB.
    /// `None` when no signal stands above the noise floor.
    pub snr_db: Option<f64>,
    /// Offset of the signal from the target frequency, Hz (sub-bin accurate).
    pub frequency_offset_hz: Option<f64>,
    /// Frequency of the detected signal relative to the capture centre (baseband), Hz, with
    /// sub-bin accuracy; `None` when no signal stands above the floor.
    pub peak_frequency_hz: Option<f64>,
    /// Power of the signal alone (noise removed), dBFS.
    pub signal_power_dbfs: Option<f64>,
    /// Noise power across the full bandwidth, dBFS.
    pub noise_power_dbfs: Option<f64>,
    /// Noise floor density, dBFS/Hz.
    pub noise_floor_dbfs_per_hz: Option<f64>,
    /// Total power (signal + noise + DC), dBFS.
    pub total_power_dbfs: Option<f64>,
    /// Power of the DC (LO leakage) component, dBFS; excluded from signal and noise.
    pub dc_power_dbfs: Option<f64>,
    /// Fraction of samples at or above the clipping threshold, 0..=1.
    pub clipped_fraction: f64,
    /// Signal power in dBm when a calibration is known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signal_power_dbm: Option<f64>,
}
