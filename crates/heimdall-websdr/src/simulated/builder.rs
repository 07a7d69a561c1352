//! [`SimulatedBuilder`]: configuration of a [`SimulatedReceiver`], validated in `build()`, no I/O.

use std::sync::Arc;

use heimdall_core::{Error, ReceiverInfo, Result};

use super::clocks::{Clock, Pacing};
use super::config::SimulatedReceiverConfig;
use super::failures::Failure;
use super::source::SimulatedReceiver;
use super::transmitter::Transmitter;

/// Builds a [`SimulatedReceiver`].
///
/// | Setter | Default | Meaning |
/// |---|---|---|
/// | `with_transmitter` | required | the emitter it hears |
/// | `with_seed` | 0 | seed of its noise, LO phase and clock error (mixed with the id) |
/// | `with_noise_figure_db` | 6 dB | receiver noise figure |
/// | `with_lo_ppm` | 0 | local-oscillator error |
/// | `with_clock` | [`Clock::Gps`] | time-stamp source |
/// | `with_sample_rate` | 12 kHz | output sample rate |
/// | `with_full_scale_dbm` | −20 dBm | input power at 0 dBFS |
/// | `with_chunk_samples` | 0 (4096 below 100 kHz, else 65 536) | samples per chunk |
/// | `with_pacing` | [`Pacing::AsFastAsPossible`] | delivery speed |
/// | `with_failure` | [`Failure::None`] | failure behaviour |
///
/// `ReceiverInfo::position` is required; the URL is free (e.g. `sim://id`). `build()` checks
/// the configuration and the transmitter, so an open fails only for its request.
///
/// ```
/// use heimdall_core::{GeoPosition, ReceiverId, ReceiverInfo, ReceiverKind};
/// use heimdall_websdr::simulated::{Modulation, SimulatedBuilder, Transmitter};
/// let pos = GeoPosition::new(45.0, 7.6, None).unwrap();
/// let id = ReceiverId::new("torino").unwrap();
/// let info = ReceiverInfo::new(id, "Torino", ReceiverKind::Simulated, "sim://torino").with_position(pos);
/// let tx = Transmitter::new(GeoPosition::new(45.1, 7.6, None).unwrap(), 145.5e6, 30.0, Modulation::Carrier);
/// let rx = SimulatedBuilder::new(info).with_transmitter(tx).with_seed(42).with_sample_rate(20_250.0).build().unwrap();
/// assert_eq!(rx.config().sample_rate_hz, 20_250.0);
/// ```
#[derive(Debug, Clone)]
pub struct SimulatedBuilder {
    config: SimulatedReceiverConfig,
    transmitter: Option<Arc<Transmitter>>,
    seed: u64,
}

impl SimulatedBuilder {
    /// A builder for `info` with the defaults of [`SimulatedReceiverConfig::for_info`].
    pub fn new(info: ReceiverInfo) -> Self {
        Self::from_config(SimulatedReceiverConfig::for_info(info))
    }
    /// A builder starting from a complete configuration.
    pub fn from_config(config: SimulatedReceiverConfig) -> Self {
        SimulatedBuilder {
            config,
            transmitter: None,
            seed: 0,
        }
    }
    /// The emitter it hears (share one `Arc` between the receivers of a network).
    pub fn with_transmitter(mut self, transmitter: impl Into<Arc<Transmitter>>) -> Self {
        self.transmitter = Some(transmitter.into());
        self
    }
    /// Seed of every random quantity.
    pub fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// Receiver noise figure, dB.
    pub fn with_noise_figure_db(mut self, db: f64) -> Self {
        self.config.noise_figure_db = db;
        self
    }
    /// Local-oscillator error, ppm.
    pub fn with_lo_ppm(mut self, ppm: f64) -> Self {
        self.config.lo_ppm = ppm;
        self
    }
    /// Time-stamp source.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.config.clock = clock;
        self
    }
    /// Output sample rate, Hz.
    pub fn with_sample_rate(mut self, hz: f64) -> Self {
        self.config.sample_rate_hz = hz;
        self
    }
    /// Input power that reaches 0 dBFS, dBm.
    pub fn with_full_scale_dbm(mut self, dbm: f64) -> Self {
        self.config.full_scale_dbm = dbm;
        self
    }
    /// Samples per chunk (0: automatic).
    pub fn with_chunk_samples(mut self, n: usize) -> Self {
        self.config.chunk_samples = n;
        self
    }
    /// Delivery speed.
    pub fn with_pacing(mut self, pacing: Pacing) -> Self {
        self.config.pacing = pacing;
        self
    }
    /// Failure behaviour.
    pub fn with_failure(mut self, failure: Failure) -> Self {
        self.config.failure = failure;
        self
    }

    /// Validates and builds (no I/O).
    pub fn build(self) -> Result<SimulatedReceiver> {
        self.config.validate()?;
        let transmitter = self
            .transmitter
            .ok_or_else(|| Error::config(format!("simulated receiver {} has no transmitter", self.config.info.id)))?;
        transmitter.validate()?;
        Ok(SimulatedReceiver::new(self.config, transmitter, self.seed))
    }
}
