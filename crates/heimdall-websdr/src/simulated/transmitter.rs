//! The emitter every simulated receiver hears: position, frequency, EIRP, modulation.

use std::time::Duration;

use chrono::{DateTime, Utc};
use heimdall_core::{Error, GeoPosition, Result};

use super::propagation::{PathLoss, SPEED_OF_LIGHT_M_S};

/// What the transmitter sends.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum Modulation {
    /// An unmodulated carrier.
    Carrier,
    /// Frequency modulation by a sum of tones: one tone is a test tone, several incommensurate
    /// tones make a voice-like spectrum ([`Modulation::fm_voice`]). Each tone deviates the
    /// carrier by `deviation_hz / tones`.
    Fm {
        /// Peak total deviation, Hz.
        deviation_hz: f64,
        /// Modulating tones, Hz.
        tones_hz: Vec<f64>,
    },
    /// A carrier keyed on and off periodically (`on`, then `off`), with raised-cosine edges of
    /// `ramp` so that fractional delays are meaningful. Bursts start at whole multiples of
    /// `on + off` after the transmitter's epoch.
    Bursts {
        /// Time on.
        on: Duration,
        /// Time off.
        off: Duration,
        /// Rise and fall time.
        ramp: Duration,
    },
}

impl Modulation {
    /// FM by one test tone.
    pub fn fm_tone(deviation_hz: f64, tone_hz: f64) -> Self {
        Modulation::Fm {
            deviation_hz,
            tones_hz: vec![tone_hz],
        }
    }

    /// Voice-like FM: three incommensurate tones across the speech band.
    pub fn fm_voice(deviation_hz: f64) -> Self {
        Modulation::Fm {
            deviation_hz,
            tones_hz: vec![437.0, 1013.0, 2111.0],
        }
    }

    /// Bursts with a ramp of 20 µs (at most a quarter of `on`).
    pub fn bursts(on: Duration, off: Duration) -> Self {
        Modulation::Bursts {
            on,
            off,
            ramp: Duration::from_micros(20).min(on / 4),
        }
    }

    fn validate(&self) -> Result<()> {
        match self {
            Modulation::Carrier => Ok(()),
            Modulation::Fm { deviation_hz, tones_hz } => {
                if !deviation_hz.is_finite() || *deviation_hz < 0.0 {
                    return Err(Error::invalid("deviation_hz", format!("{deviation_hz} Hz is not ≥ 0")));
                }
                if tones_hz.is_empty() || tones_hz.iter().any(|t| !t.is_finite() || *t <= 0.0) {
                    return Err(Error::invalid(
                        "tones_hz",
                        format!("{tones_hz:?} must be a non-empty list of positive frequencies"),
                    ));
                }
                Ok(())
            }
            Modulation::Bursts { on, off, ramp } => {
                if on.is_zero() || (*on + *off).is_zero() || *ramp > *on {
                    return Err(Error::invalid(
                        "bursts",
                        format!("on {on:?} must be > 0 and ≥ ramp {ramp:?}"),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// The emitter every simulated receiver hears.
#[derive(Debug, Clone, PartialEq)]
pub struct Transmitter {
    /// Antenna position (altitude counts in the slant distance).
    pub position: GeoPosition,
    /// Carrier frequency, Hz.
    pub frequency_hz: f64,
    /// Effective isotropic radiated power, dBm (30 dBm = 1 W).
    pub eirp_dbm: f64,
    /// Modulation.
    pub modulation: Modulation,
    /// Propagation model.
    pub path_loss: PathLoss,
    /// Origin of the transmitter's time base: modulation and bursts are functions of the time
    /// elapsed since this instant (default 2026-01-01T00:00:00Z).
    pub epoch: DateTime<Utc>,
}

impl Transmitter {
    /// A transmitter with free-space propagation and the default epoch.
    pub fn new(position: GeoPosition, frequency_hz: f64, eirp_dbm: f64, modulation: Modulation) -> Self {
        Transmitter {
            position,
            frequency_hz,
            eirp_dbm,
            modulation,
            path_loss: PathLoss::FreeSpace,
            epoch: DateTime::from_timestamp(1_767_225_600, 0).unwrap_or_default(),
        }
    }

    /// Sets the propagation model.
    pub fn with_path_loss(mut self, p: PathLoss) -> Self {
        self.path_loss = p;
        self
    }

    /// Propagation delay to `rx`, seconds.
    pub fn delay_to_s(&self, rx: &GeoPosition) -> f64 {
        self.position.slant_distance_m(rx) / SPEED_OF_LIGHT_M_S
    }

    /// Received power at `rx` (isotropic antenna), dBm.
    pub fn received_power_dbm(&self, rx: &GeoPosition) -> f64 {
        self.eirp_dbm
            - self
                .path_loss
                .loss_db(self.position.slant_distance_m(rx), self.frequency_hz)
    }

    pub(super) fn validate(&self) -> Result<()> {
        self.position.validate()?;
        if !self.frequency_hz.is_finite() || self.frequency_hz <= 0.0 {
            return Err(Error::invalid(
                "frequency_hz",
                format!("{} Hz is not positive", self.frequency_hz),
            ));
        }
        if !self.eirp_dbm.is_finite() {
            return Err(Error::invalid("eirp_dbm", "must be finite"));
        }
        if let PathLoss::LogDistance { exponent, reference_m } = self.path_loss
            && (!exponent.is_finite() || exponent < 0.0 || !reference_m.is_finite())
        {
            return Err(Error::invalid(
                "path_loss",
                "exponent and reference must be finite, exponent ≥ 0",
            ));
        }
        self.modulation.validate()
    }
}
