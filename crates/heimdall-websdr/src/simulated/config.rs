//! [`SimulatedReceiverConfig`]: one simulated receiver's configuration as a plain struct.

use heimdall_core::{Error, GeoPosition, ReceiverInfo, Result};

use super::clocks::{Clock, Pacing};
use super::failures::Failure;

/// One simulated receiver's configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedReceiverConfig {
    /// Identity; `info.position` is required.
    pub info: ReceiverInfo,
    /// Receiver noise figure, dB.
    pub noise_figure_db: f64,
    /// Local-oscillator error, parts per million of the tuned frequency.
    pub lo_ppm: f64,
    /// Time-stamp source.
    pub clock: Clock,
    /// Output sample rate, Hz (e.g. 12 000, 20 250, 2.4e6).
    pub sample_rate_hz: f64,
    /// Input power that reaches digital full scale (0 dBFS), dBm.
    pub full_scale_dbm: f64,
    /// Samples per chunk; 0 picks 4096 below 100 kHz and 65 536 above.
    pub chunk_samples: usize,
    /// Delivery speed.
    pub pacing: Pacing,
    /// Failure behaviour.
    pub failure: Failure,
}

impl SimulatedReceiverConfig {
    /// A well-behaved receiver at `position`: NF 6 dB, no LO error, GPS clock, 12 kHz,
    /// full scale −20 dBm, as fast as possible. The id is [`heimdall_core::ReceiverId::slugify`] of `name`.
    pub fn new(name: &str, position: GeoPosition) -> Self {
        let id = heimdall_core::ReceiverId::slugify(name);
        let url = format!("sim://{id}");
        Self::for_info(ReceiverInfo::new(id, name, heimdall_core::ReceiverKind::Simulated, url).with_position(position))
    }

    /// The same defaults for an existing identity (`info.position` is still required to open).
    pub fn for_info(info: ReceiverInfo) -> Self {
        SimulatedReceiverConfig {
            info,
            noise_figure_db: 6.0,
            lo_ppm: 0.0,
            clock: Clock::Gps,
            sample_rate_hz: 12_000.0,
            full_scale_dbm: -20.0,
            chunk_samples: 0,
            pacing: Pacing::AsFastAsPossible,
            failure: Failure::None,
        }
    }

    pub(super) fn chunk_len(&self) -> usize {
        match self.chunk_samples {
            0 if self.sample_rate_hz >= 100_000.0 => 65_536,
            0 => 4096,
            n => n.min(1 << 22),
        }
    }

    pub(super) fn validate(&self) -> Result<()> {
        let position = self
            .info
            .position
            .ok_or_else(|| Error::config(format!("simulated receiver {} has no position", self.info.id)))?;
        position.validate()?;
        let fs = self.sample_rate_hz;
        if !fs.is_finite() || fs <= 0.0 || fs > heimdall_core::request::MAX_SAMPLE_RATE_HZ {
            return Err(Error::invalid(
                "sample_rate_hz",
                format!("{fs} Hz is not a usable sample rate"),
            ));
        }
        for (field, v) in [
            ("noise_figure_db", self.noise_figure_db),
            ("lo_ppm", self.lo_ppm),
            ("full_scale_dbm", self.full_scale_dbm),
        ] {
            if !v.is_finite() {
                return Err(Error::invalid(field, format!("{v} is not finite")));
            }
        }
        if let Clock::Host { jitter } | Clock::GpsWithJitter { jitter } = self.clock
            && jitter > std::time::Duration::from_secs(3600)
        {
            return Err(Error::invalid(
                "clock",
                format!("a clock jitter of {jitter:?} is not plausible (at most one hour)"),
            ));
        }
        Ok(())
    }
}
