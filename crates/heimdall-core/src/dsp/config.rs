//! The settings of the streaming analyser.

use crate::error::{Error, Result};

use super::welch::{DEFAULT_SEGMENT_LEN, validate_rate, validate_segment_len};

/// Settings of an [`Analyzer`].
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzerConfig {
    /// Sample rate, Hz (the actual rate: e.g. 11999.03 for a KiwiSDR). Must be finite and > 0.
    pub sample_rate_hz: f64,
    /// Welch segment length (default 1024); 50 % overlap, periodic Hann window.
    pub segment_len: usize,
    /// Where the signal is expected in baseband, Hz (default 0). `frequency_offset_hz` is
    /// measured from here. The search itself always covers the full band.
    pub target_offset_hz: f64,
    /// dBFS to dBm offset when the receiver chain is calibrated (`dBm = dBFS + calibration_db`).
    pub calibration_db: Option<f64>,
    /// A sample is clipped when `|re|` or `|im|` (real input: `|x|`) reaches this (default 0.999).
    pub clip_level: f32,
    /// Probability that pure noise is reported as a signal (default 1e-3).
    pub false_alarm_probability: f64,
    /// Bins either side of 0 Hz treated as DC / LO leakage when a DC component is present
    /// (default 3; at most `segment_len / 8` is used).
    pub dc_guard_bins: usize,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            sample_rate_hz: 0.0,
            segment_len: DEFAULT_SEGMENT_LEN,
            target_offset_hz: 0.0,
            calibration_db: None,
            clip_level: 0.999,
            false_alarm_probability: 1e-3,
            dc_guard_bins: 3,
        }
    }
}

impl AnalyzerConfig {
    /// The configuration the engine analyses a capture with: its actual sample rate, the
    /// target's offset from baseband 0 Hz, and the calibration when the source put
    /// `full_scale_dbm` (input power at 0 dBFS) in [`CaptureInfo::extra`](crate::CaptureInfo).
    /// Analysing an archived capture with it reproduces the archived metrics.
    pub fn for_capture(info: &crate::capture::CaptureInfo) -> Self {
        let cfg = AnalyzerConfig::new(info.sample_rate_hz).with_target_offset_hz(info.target_offset_hz());
        match info.extra.get("full_scale_dbm").and_then(|v| v.as_f64()) {
            Some(fs) if fs.is_finite() => cfg.with_calibration_db(fs),
            _ => cfg,
        }
    }

    /// Defaults for `sample_rate_hz`.
    pub fn new(sample_rate_hz: f64) -> Self {
        AnalyzerConfig {
            sample_rate_hz,
            ..Default::default()
        }
    }
    /// Sets the Welch segment length.
    pub fn with_segment_len(mut self, n: usize) -> Self {
        self.segment_len = n;
        self
    }
    /// Sets the expected offset of the signal in baseband, Hz.
    pub fn with_target_offset_hz(mut self, hz: f64) -> Self {
        self.target_offset_hz = hz;
        self
    }
    /// Sets the dBFS to dBm calibration offset.
    pub fn with_calibration_db(mut self, db: f64) -> Self {
        self.calibration_db = Some(db);
        self
    }
    /// Sets the clipping level.
    pub fn with_clip_level(mut self, level: f32) -> Self {
        self.clip_level = level;
        self
    }

    pub(super) fn validate(&self) -> Result<()> {
        validate_rate(self.sample_rate_hz)?;
        validate_segment_len(self.segment_len)?;
        if !self.target_offset_hz.is_finite() {
            return Err(Error::invalid(
                "target_offset_hz",
                format!("{}: must be finite", self.target_offset_hz),
            ));
        }
        if let Some(c) = self.calibration_db
            && !c.is_finite()
        {
            return Err(Error::invalid("calibration_db", format!("{c}: must be finite")));
        }
        if !(self.clip_level.is_finite() && self.clip_level > 0.0) {
            return Err(Error::invalid(
                "clip_level",
                format!("{}: must be finite and > 0", self.clip_level),
            ));
        }
        let p = self.false_alarm_probability;
        if !(p > 0.0 && p < 0.5) {
            return Err(Error::invalid(
                "false_alarm_probability",
                format!("{p}: must be in (0, 0.5)"),
            ));
        }
        Ok(())
    }
}
