//! A set of simulated receivers hearing one transmitter; the 7-station reference network.

use std::sync::Arc;
use std::time::Duration;

use heimdall_core::{GeoPosition, ReceiverSource};

use super::clocks::{Clock, Pacing};
use super::config::SimulatedReceiverConfig;
use super::failures::Failure;
use super::source::SimulatedReceiver;
use super::transmitter::Transmitter;

/// One transmitter and the receivers that hear it.
///
/// ```
/// use heimdall_core::GeoPosition;
/// use heimdall_websdr::simulated::{Failure, Modulation, SimulatedNetwork, Transmitter};
/// let tx = Transmitter::new(GeoPosition::new(45.1, 7.6, None).unwrap(), 145.5e6, 30.0, Modulation::Carrier);
/// let net = SimulatedNetwork::reference_network(tx, 7)
///     .with_sample_rate(12_000.0)
///     .with_failure("genova", Failure::BusyThenOk { times: 1 });
/// assert_eq!(net.sources().len(), 7);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SimulatedNetwork {
    /// The emitter.
    pub transmitter: Transmitter,
    /// The receivers.
    pub receivers: Vec<SimulatedReceiverConfig>,
    /// Seed of every random quantity (noise, LO phases, clock errors).
    pub seed: u64,
}

/// (name, latitude, longitude, altitude m, clock, sample rate, noise figure dB, LO ppm)
type Station = (&'static str, f64, f64, f64, Clock, f64, f64, f64);

const fn host(ms: u64) -> Clock {
    Clock::Host {
        jitter: Duration::from_millis(ms),
    }
}

/// The seven receivers of the old Python (FastAPI/Celery) service (positions as published, altitudes approximate),
/// with a mix of clocks and sample rates.
const REFERENCE: [Station; 7] = [
    ("Aquila di Giaveno", 45.02, 7.29, 600.0, Clock::Gps, 12_000.0, 6.0, 0.5),
    ("Montanaro", 45.234, 7.857, 300.0, host(5), 20_250.0, 8.0, -1.2),
    ("Torino", 45.044, 7.672, 250.0, Clock::Gps, 12_000.0, 5.0, 0.2),
    ("Coazze", 45.03, 7.27, 700.0, host(2), 12_000.0, 7.0, 2.0),
    ("Passo del Giovi", 44.561, 8.956, 480.0, Clock::Gps, 20_250.0, 6.0, -0.4),
    ("Genova", 44.395, 8.956, 100.0, host(10), 12_000.0, 9.0, 1.5),
    ("Milano - Baggio", 45.478, 9.123, 120.0, Clock::Gps, 12_000.0, 6.0, -0.8),
];

impl SimulatedNetwork {
    /// A network of `receivers` hearing `transmitter`.
    pub fn new(transmitter: Transmitter, receivers: Vec<SimulatedReceiverConfig>, seed: u64) -> Self {
        SimulatedNetwork {
            transmitter,
            receivers,
            seed,
        }
    }

    /// The configurations of the 7-station reference network (ids `aquila-di-giaveno`,
    /// `montanaro`, `torino`, `coazze`, `passo-del-giovi`, `genova`, `milano-baggio`): GPS or
    /// host clocks, 12 kHz or 20.25 kHz, noise figures 5-9 dB, LO errors within ±2 ppm.
    pub fn reference_receivers() -> Vec<SimulatedReceiverConfig> {
        REFERENCE
            .iter()
            .filter_map(|&(name, lat, lon, alt, clock, fs, nf, ppm)| {
                let pos = GeoPosition::new(lat, lon, Some(alt)).ok()?;
                let mut c = SimulatedReceiverConfig::new(name, pos);
                c.clock = clock;
                c.sample_rate_hz = fs;
                c.noise_figure_db = nf;
                c.lo_ppm = ppm;
                Some(c)
            })
            .collect()
    }

    /// The reference network hearing `transmitter`.
    pub fn reference_network(transmitter: Transmitter, seed: u64) -> Self {
        Self::new(transmitter, Self::reference_receivers(), seed)
    }

    /// The reference network's sources, ready for an engine.
    pub fn reference(transmitter: Transmitter, seed: u64) -> Vec<Arc<dyn ReceiverSource>> {
        Self::reference_network(transmitter, seed).sources()
    }

    /// Sets every receiver's sample rate.
    pub fn with_sample_rate(mut self, hz: f64) -> Self {
        self.receivers.iter_mut().for_each(|r| r.sample_rate_hz = hz);
        self
    }

    /// Sets every receiver's pacing.
    pub fn with_pacing(mut self, pacing: Pacing) -> Self {
        self.receivers.iter_mut().for_each(|r| r.pacing = pacing);
        self
    }

    /// Sets every receiver's clock.
    pub fn with_clock(mut self, clock: Clock) -> Self {
        self.receivers.iter_mut().for_each(|r| r.clock = clock);
        self
    }

    /// Gives every GPS clock a time-mark error of standard deviation `jitter`
    /// ([`Clock::GpsWithJitter`]; host and exact clocks are left alone).
    pub fn with_gps_jitter(mut self, jitter: Duration) -> Self {
        self.receivers
            .iter_mut()
            .filter(|r| r.clock.is_gps())
            .for_each(|r| r.clock = Clock::GpsWithJitter { jitter });
        self
    }

    /// Sets the failure behaviour of receiver `id` (ignored if no receiver has that id).
    pub fn with_failure(self, id: &str, failure: Failure) -> Self {
        self.configure(id, |c| c.failure = failure)
    }

    /// Changes receiver `id`'s configuration (ignored if no receiver has that id).
    pub fn configure(mut self, id: &str, f: impl FnOnce(&mut SimulatedReceiverConfig)) -> Self {
        if let Some(c) = self.receivers.iter_mut().find(|c| c.info.id.as_str() == id) {
            f(c);
        }
        self
    }

    /// The receivers as concrete values (to inspect open counts, expected delays...).
    pub fn receivers(&self) -> Vec<Arc<SimulatedReceiver>> {
        let tx = Arc::new(self.transmitter.clone());
        self.receivers
            .iter()
            .map(|c| Arc::new(SimulatedReceiver::new(c.clone(), tx.clone(), self.seed)))
            .collect()
    }

    /// The receivers as sources.
    pub fn sources(&self) -> Vec<Arc<dyn ReceiverSource>> {
        self.receivers()
            .into_iter()
            .map(|r| r as Arc<dyn ReceiverSource>)
            .collect()
    }
}
