//! [`SimulatedReceiver`]: the [`ReceiverSource`] of one simulated receiver.

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};

use async_trait::async_trait;
use chrono::Utc;
use heimdall_core::{
    CaptureChunk, CaptureInfo, CaptureRequest, CaptureStream, Error, ReceiverHealth, ReceiverInfo, ReceiverSource,
    Result, SampleFormat,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::clocks::Pacing;
use super::config::SimulatedReceiverConfig;
use super::error;
use super::failures::Failure;
use super::generator::Generator;
use super::signal::{self, CapturePlan, NoiseTable, THERMAL_NOISE_DBM_PER_HZ};
use super::transmitter::Transmitter;
use crate::stream::{ChannelChunks, pull_stream};

/// A simulated receiver: a [`ReceiverSource`] hearing one [`Transmitter`].
pub struct SimulatedReceiver {
    config: SimulatedReceiverConfig,
    transmitter: Arc<Transmitter>,
    seed: u64,
    opens: AtomicU32,
    noise: OnceLock<NoiseTable>,
}

impl fmt::Debug for SimulatedReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimulatedReceiver")
            .field("config", &self.config)
            .field("transmitter", &self.transmitter)
            .field("seed", &self.seed)
            .field("opens", &self.opens.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

impl fmt::Display for SimulatedReceiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "simulated receiver {}", self.config.info.id)
    }
}

impl SimulatedReceiver {
    /// A receiver hearing `transmitter`; its noise and clock errors derive from `seed`.
    /// No validation happens here: a bad configuration makes `open` fail.
    pub fn new(config: SimulatedReceiverConfig, transmitter: Arc<Transmitter>, seed: u64) -> Self {
        let seed = signal::mix_seed(seed, fnv1a(config.info.id.as_str().as_bytes()));
        SimulatedReceiver {
            config,
            transmitter,
            seed,
            opens: AtomicU32::new(0),
            noise: OnceLock::new(),
        }
    }

    /// Its configuration.
    pub fn config(&self) -> &SimulatedReceiverConfig {
        &self.config
    }

    /// How many times `open` was called.
    pub fn opens(&self) -> u32 {
        self.opens.load(Ordering::Relaxed)
    }

    /// The expected propagation delay from the transmitter, seconds.
    pub fn delay_s(&self) -> Option<f64> {
        self.config.info.position.map(|p| self.transmitter.delay_to_s(&p))
    }

    /// The expected received power, dBm.
    pub fn received_power_dbm(&self) -> Option<f64> {
        self.config
            .info
            .position
            .map(|p| self.transmitter.received_power_dbm(&p))
    }

    /// The expected noise power over the sampled bandwidth, dBm.
    pub fn noise_power_dbm(&self) -> f64 {
        THERMAL_NOISE_DBM_PER_HZ + self.config.noise_figure_db + 10.0 * self.config.sample_rate_hz.max(1.0).log10()
    }
}

fn fnv1a(bytes: &[u8]) -> u64 {
    // FNV-1a: stable across runs and platforms.
    bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[async_trait]
impl ReceiverSource for SimulatedReceiver {
    fn info(&self) -> &ReceiverInfo {
        &self.config.info
    }

    async fn health(&self) -> Result<ReceiverHealth> {
        match self.config.failure {
            Failure::Busy => Ok(ReceiverHealth {
                available: false,
                detail: "all channels busy".into(),
                ..ReceiverHealth::up()
            }),
            Failure::Refused => Err(error::refused(&self.config.info.id, "simulated refusal")),
            _ => Ok(ReceiverHealth {
                gps_locked: Some(self.config.clock.is_gps()),
                version: Some(concat!("heimdall-sim ", env!("CARGO_PKG_VERSION")).into()),
                ..ReceiverHealth::up()
            }),
        }
    }

    async fn open(&self, req: &CaptureRequest, cancel: CancellationToken) -> Result<CaptureStream> {
        self.config.validate()?;
        self.transmitter.validate()?;
        if !req.frequency_hz.is_finite() || req.frequency_hz <= 0.0 {
            return Err(Error::invalid("frequency_hz", format!("{} Hz", req.frequency_hz)));
        }
        let attempt = self.opens.fetch_add(1, Ordering::Relaxed);
        let id = self.config.info.id.clone();
        match self.config.failure {
            Failure::Busy => return Err(error::unavailable(&id, "all channels busy")),
            Failure::BusyThenOk { times } if attempt < times => {
                tracing::debug!(receiver = %id, attempt, "simulated busy");
                return Err(error::unavailable(&id, "all channels busy"));
            }
            Failure::Refused => {
                return Err(error::refused(&id, "too many connections from this IP (simulated)"));
            }
            Failure::SlowConnect { delay } => {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return Err(error::cancelled(&id)),
                    _ = tokio::time::sleep(delay) => {}
                }
            }
            _ => {}
        }

        let noise = self
            .noise
            .get_or_init(|| NoiseTable::new(signal::mix_seed(self.seed, 0x006e_6f69_7365)))
            .clone();
        let now = Utc::now();
        let plan = CapturePlan::new(&self.config, &self.transmitter, req, self.seed, now, noise)?;
        let expected = plan.expected_samples;
        let mut extra = serde_json::Map::new();
        extra.insert("simulated".into(), true.into());
        extra.insert("delay_s".into(), plan.delay_s.into());
        extra.insert("received_power_dbm".into(), plan.received_power_dbm.into());
        extra.insert("noise_power_dbm".into(), plan.noise_power_dbm.into());
        extra.insert("full_scale_dbm".into(), self.config.full_scale_dbm.into());
        extra.insert("lo_ppm".into(), self.config.lo_ppm.into());
        let info = CaptureInfo {
            receiver: self.config.info.clone(),
            format: SampleFormat::ComplexF32,
            sample_rate_hz: self.config.sample_rate_hz,
            center_frequency_hz: req.frequency_hz,
            target_frequency_hz: req.frequency_hz,
            expected_samples: Some(expected),
            extra,
        };

        let (tx, rx) = mpsc::channel::<Result<CaptureChunk>>(4);
        let generator = Generator {
            plan,
            id,
            clock: self.config.clock,
            failure: self.config.failure,
            chunk: self.config.chunk_len(),
            full_scale_dbm: self.config.full_scale_dbm,
            opened_at: tokio::time::Instant::now(),
            opened_utc: now,
            out: tx,
            cancel: cancel.clone(),
        };
        let span = tracing::debug_span!("simulated_capture", receiver = %self.config.info.id);
        if self.config.pacing == Pacing::AsFastAsPossible && self.config.failure != Failure::Stall {
            tokio::task::spawn_blocking(move || span.in_scope(|| generator.run_blocking()));
        } else {
            tokio::spawn(tracing::Instrument::instrument(generator.run(), span));
        }
        let chunks = pull_stream(ChannelChunks::new(rx, cancel, error::cancelled(&self.config.info.id)));
        Ok(CaptureStream { info, chunks })
    }
}
