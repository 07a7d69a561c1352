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
    /// Amplitude modulation of a continuous carrier by a sum of tones: the envelope is
    /// `1 + depth · mean_i cos(2π f_i u)` (`u` the transmitter's time); several
    /// incommensurate tones make a voice-like envelope ([`Modulation::am_voice`]).
    Am {
        /// Modulation depth, 0 to 1.
        depth: f64,
        /// Modulating tones, Hz.
        tones_hz: Vec<f64>,
    },
    /// An AM-keyed carrier, like a time-code station: at the start of every `period` the
    /// amplitude drops to `1 − depth` for `short` or `long` (one bit per period from a fixed
    /// pseudo-random sequence of the period's index, so that the keying is not periodic), with
    /// raised-cosine edges of `ramp`. Periods start at whole multiples of `period` after the
    /// transmitter's epoch. [`Modulation::time_code`] is DCF77's shape.
    AmKeyed {
        /// Keying depth, 0 to 1 (DCF77: 0.85, the carrier drops to 15 %).
        depth: f64,
        /// Keying period.
        period: Duration,
        /// Key length of a 0 bit.
        short: Duration,
        /// Key length of a 1 bit.
        long: Duration,
        /// Fall and rise time of the key.
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

    /// Voice-like AM: three incommensurate tones across the speech band at `depth`.
    pub fn am_voice(depth: f64) -> Self {
        Modulation::Am {
            depth,
            tones_hz: vec![437.0, 1013.0, 2111.0],
        }
    }

    /// A time-code keyed carrier shaped like DCF77: every second the carrier drops to 15 % for
    /// 100 ms or 200 ms, with 1 ms edges.
    pub fn time_code() -> Self {
        Modulation::AmKeyed {
            depth: 0.85,
            period: Duration::from_secs(1),
            short: Duration::from_millis(100),
            long: Duration::from_millis(200),
            ramp: Duration::from_millis(1),
        }
    }

    fn validate(&self) -> Result<()> {
        let depth_ok = |depth: &f64| {
            if depth.is_finite() && (0.0..=1.0).contains(depth) {
                Ok(())
            } else {
                Err(Error::invalid("depth", format!("{depth} is not between 0 and 1")))
            }
        };
        match self {
            Modulation::Carrier => Ok(()),
            Modulation::Fm { deviation_hz, tones_hz } => {
                if !deviation_hz.is_finite() || *deviation_hz < 0.0 {
                    return Err(Error::invalid("deviation_hz", format!("{deviation_hz} Hz is not ≥ 0")));
                }
                tones_ok(tones_hz)
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
            Modulation::Am { depth, tones_hz } => {
                depth_ok(depth)?;
                tones_ok(tones_hz)
            }
            Modulation::AmKeyed {
                depth,
                period: p,
                short: s,
                long: l,
                ramp: r,
            } => {
                depth_ok(depth)?;
                if r > s || s > l || *l + *r > *p || p.as_secs_f64() < 1e-6 {
                    return Err(Error::invalid(
                        "am_keyed",
                        format!("need ramp {r:?} ≤ short {s:?} ≤ long {l:?} and long + ramp ≤ period {p:?} (≥ 1 µs)"),
                    ));
                }
                Ok(())
            }
        }
    }
}

/// FM and AM tones: a non-empty list of positive frequencies.
fn tones_ok(tones_hz: &[f64]) -> Result<()> {
    if tones_hz.is_empty() || tones_hz.iter().any(|t| !t.is_finite() || *t <= 0.0) {
        return Err(Error::invalid(
            "tones_hz",
            format!("{tones_hz:?} must be a non-empty list of positive frequencies"),
        ));
    }
    Ok(())
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
