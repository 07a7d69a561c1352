//! A physically plausible simulated receiver network.
//!
//! One [`Transmitter`] (position, frequency, EIRP, modulation) is heard by any number of
//! [`SimulatedReceiver`]s (position, noise figure, local-oscillator error, clock, sample rate,
//! failure behaviour). Each receiver is a [`ReceiverSource`] that delivers complex baseband IQ
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

mod network;
mod signal;

use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use heimdall_core::{
    CaptureChunk, CaptureInfo, CaptureRequest, CaptureStream, Error, GeoPosition, PowerUnit, ReceiverHealth,
    ReceiverInfo, ReceiverSource, Result, RssiReading, SampleBlock, SampleFormat, TimeMark, TimeSource,
};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub use network::SimulatedNetwork;

use signal::{CapturePlan, NoiseTable};

/// Speed of light in vacuum, m/s (used for propagation delays).
pub const SPEED_OF_LIGHT_M_S: f64 = 299_792_458.0;

/// Thermal noise density at 290 K, dBm/Hz.
pub const THERMAL_NOISE_DBM_PER_HZ: f64 = -173.975;

const BACKEND: &str = "simulated";

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

/// How received power falls with distance.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum PathLoss {
    /// Free-space path loss, `20·log10(4π·d·f/c)`.
    FreeSpace,
    /// Free space up to `reference_m`, then `10·exponent·log10(d/reference_m)` more.
    LogDistance {
        /// Path-loss exponent (2 = free space, 3-4 = urban / obstructed).
        exponent: f64,
        /// Reference distance, m.
        reference_m: f64,
    },
}

impl PathLoss {
    /// Loss in dB over `distance_m` at `frequency_hz` (distances below 1 m count as 1 m).
    pub fn loss_db(&self, distance_m: f64, frequency_hz: f64) -> f64 {
        let fspl =
            |d: f64| 20.0 * (4.0 * std::f64::consts::PI * d.max(1.0) * frequency_hz / SPEED_OF_LIGHT_M_S).log10();
        match *self {
            PathLoss::FreeSpace => fspl(distance_m),
            PathLoss::LogDistance { exponent, reference_m } => {
                let r = reference_m.max(1.0);
                if distance_m <= r {
                    fspl(distance_m)
                } else {
                    fspl(r) + 10.0 * exponent * (distance_m / r).log10()
                }
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

    fn validate(&self) -> Result<()> {
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

/// Where a simulated receiver's time stamps come from.
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum Clock {
    /// GPS-disciplined: time marks are exact ([`TimeSource::Gps`]) and repeated about every second.
    Gps,
    /// Host clock: the time mark of sample 0 is off by a Gaussian error of standard deviation
    /// `jitter` (NTP error plus network latency; [`TimeSource::Host`]).
    Host {
        /// Standard deviation of the time-stamp error.
        jitter: Duration,
    },
    /// Exact simulated time ([`TimeSource::Simulated`]).
    Exact,
}

/// How fast samples are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum Pacing {
    /// As fast as the consumer takes them.
    #[default]
    AsFastAsPossible,
    /// Like a live receiver: each chunk is delivered when its last sample has been "received"
    /// (so a capture starting at `start_at` lasts until `start_at + duration`).
    RealTime,
}

/// How a simulated receiver misbehaves.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
#[non_exhaustive]
pub enum Failure {
    /// Works.
    #[default]
    None,
    /// The first `times` opens fail with a retryable [`Error::Unavailable`] (all channels busy).
    BusyThenOk {
        /// How many opens fail.
        times: u32,
    },
    /// Every open fails with [`Error::Unavailable`].
    Busy,
    /// Every open fails with a permanent [`Error::Refused`] (e.g. IP limit).
    Refused,
    /// Opening takes `delay` (to exercise connect timeouts), then works.
    SlowConnect {
        /// Time to connect.
        delay: Duration,
    },
    /// The connection drops after `seconds` of samples: the stream ends with [`Error::ConnectionLost`].
    DropAfter {
        /// Seconds of samples delivered first.
        seconds: f64,
    },
    /// Connects and sends the time mark, then never sends samples (until cancelled or dropped).
    Stall,
    /// The first samples arrive, then an undecodable frame ([`Error::Malformed`]).
    Garbage,
}

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
        SimulatedReceiverConfig {
            info: ReceiverInfo::new(id, name, heimdall_core::ReceiverKind::Simulated, url).with_position(position),
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

    fn chunk_len(&self) -> usize {
        match self.chunk_samples {
            0 if self.sample_rate_hz >= 100_000.0 => 65_536,
            0 => 4096,
            n => n.min(1 << 22),
        }
    }

    fn validate(&self) -> Result<()> {
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
        Ok(())
    }
}

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

    fn unavailable(&self, reason: &str) -> Error {
        Error::Unavailable {
            backend: BACKEND,
            target: self.config.info.id.to_string(),
            reason: reason.to_owned(),
            retry_after: None,
            source: None,
        }
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
            Failure::Refused => Err(Error::Refused {
                backend: BACKEND,
                target: self.config.info.id.to_string(),
                reason: "simulated refusal".into(),
                source: None,
            }),
            _ => Ok(ReceiverHealth {
                gps_locked: Some(matches!(self.config.clock, Clock::Gps)),
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
            Failure::Busy => return Err(self.unavailable("all channels busy")),
            Failure::BusyThenOk { times } if attempt < times => {
                tracing::debug!(receiver = %id, attempt, "simulated busy");
                return Err(self.unavailable("all channels busy"));
            }
            Failure::Refused => {
                return Err(Error::Refused {
                    backend: BACKEND,
                    target: id.to_string(),
                    reason: "too many connections from this IP (simulated)".into(),
                    source: None,
                });
            }
            Failure::SlowConnect { delay } => {
                tokio::select! {
                    biased;
                    _ = cancel.cancelled() => return Err(cancelled(&id)),
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
            cancel,
        };
        let span = tracing::debug_span!("simulated_capture", receiver = %self.config.info.id);
        if self.config.pacing == Pacing::AsFastAsPossible && self.config.failure != Failure::Stall {
            tokio::task::spawn_blocking(move || span.in_scope(|| generator.run_blocking()));
        } else {
            tokio::spawn(tracing::Instrument::instrument(generator.run(), span));
        }
        let chunks = futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|c| (c, rx)) }).boxed();
        Ok(CaptureStream { info, chunks })
    }
}

fn cancelled(id: &heimdall_core::ReceiverId) -> Error {
    Error::Cancelled {
        what: format!("simulated capture from {id}"),
    }
}

/// Produces one capture's chunks into a bounded channel (so generation overlaps with the
/// consumer's processing on another core).
struct Generator {
    plan: CapturePlan,
    id: heimdall_core::ReceiverId,
    clock: Clock,
    failure: Failure,
    chunk: usize,
    full_scale_dbm: f64,
    opened_at: tokio::time::Instant,
    opened_utc: DateTime<Utc>,
    out: mpsc::Sender<Result<CaptureChunk>>,
    cancel: CancellationToken,
}

enum Sent {
    Ok,
    Stop,
}

impl Generator {
    async fn send(&self, item: Result<CaptureChunk>) -> Sent {
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => {
                let _ = self.out.try_send(Err(cancelled(&self.id)));
                Sent::Stop
            }
            r = self.out.send(item) => if r.is_ok() { Sent::Ok } else { Sent::Stop },
        }
    }

    /// Waits until the wall clock reaches `t` (real-time pacing).
    async fn wait_until(&self, t: DateTime<Utc>) -> Sent {
        let ahead = (t - self.opened_utc).to_std().unwrap_or(Duration::ZERO);
        tokio::select! {
            biased;
            _ = self.cancel.cancelled() => {
                let _ = self.out.try_send(Err(cancelled(&self.id)));
                Sent::Stop
            }
            _ = tokio::time::sleep_until(self.opened_at.checked_add(ahead).unwrap_or(self.opened_at)) => Sent::Ok,
        }
    }

    fn time_mark(&mut self, sample_index: u64) -> TimeMark {
        let true_time = self.plan.time_of(sample_index);
        let (time, source) = match self.clock {
            Clock::Gps => (true_time, TimeSource::Gps),
            Clock::Exact => (true_time, TimeSource::Simulated),
            Clock::Host { .. } => (
                true_time
                    .checked_add_signed(chrono::Duration::nanoseconds(
                        (self.plan.host_clock_error_s * 1e9) as i64,
                    ))
                    .unwrap_or(true_time),
                TimeSource::Host,
            ),
        };
        TimeMark {
            sample_index,
            time,
            source,
        }
    }

    fn cursor(&self) -> Cursor {
        let gps_every = self.plan.fs.round().max(1.0) as u64;
        Cursor {
            n0: 0,
            total: self.plan.expected_samples,
            drop_at: match self.failure {
                Failure::DropAfter { seconds } => Some((seconds.max(0.0) * self.plan.fs) as u64),
                _ => None,
            },
            gps_every,
            next_gps: gps_every,
            done: false,
        }
    }

    /// The next chunk's span `(n0, len, connection drops after it)`, or `None` when finished.
    fn next_span(&self, c: &Cursor) -> Option<(u64, u64, bool)> {
        if c.done || c.n0 >= c.total {
            return None;
        }
        let mut len = (c.total - c.n0).min(self.chunk as u64);
        let mut dropping = false;
        if let Some(d) = c.drop_at
            && c.n0 + len >= d
        {
            len = d.saturating_sub(c.n0);
            dropping = true;
        }
        Some((c.n0, len, dropping))
    }

    /// Appends the items of one span to `out` and advances the cursor.
    fn produce(&mut self, c: &mut Cursor, (n0, len, dropping): (u64, u64, bool), out: &mut Vec<Result<CaptureChunk>>) {
        if len > 0 {
            let (block, power) = self.plan.generate(n0, len as usize);
            out.push(Ok(CaptureChunk::Samples(SampleBlock::Complex(block))));
            out.push(Ok(CaptureChunk::Rssi(RssiReading {
                sample_index: n0,
                value: 10.0 * power.max(1e-30).log10() + self.full_scale_dbm,
                unit: PowerUnit::Dbm,
            })));
        }
        c.n0 = n0 + len;
        if dropping {
            c.done = true;
            out.push(Err(Error::ConnectionLost {
                backend: BACKEND,
                target: self.id.to_string(),
                received: c.n0,
                reason: "connection reset by peer (simulated)".into(),
                source: None,
            }));
            return;
        }
        if self.failure == Failure::Garbage {
            c.done = true;
            out.push(Err(Error::Malformed {
                backend: BACKEND,
                origin: self.id.to_string(),
                reason: "frame header has an unknown tag (simulated garbage)".into(),
            }));
            return;
        }
        if self.clock == Clock::Gps && c.n0 >= c.next_gps && c.n0 < c.total {
            c.next_gps = c.n0 + c.gps_every;
            out.push(Ok(CaptureChunk::Time(self.time_mark(c.n0))));
        }
    }

    /// As fast as possible, on a blocking thread: generation is CPU-bound, and a thread of its
    /// own lets it overlap with the consumer on another core.
    fn run_blocking(mut self) {
        let mark = self.time_mark(0);
        if self.out.blocking_send(Ok(CaptureChunk::Time(mark))).is_err() {
            return;
        }
        let mut c = self.cursor();
        let mut items = Vec::with_capacity(4);
        while let Some(span) = self.next_span(&c) {
            if self.cancel.is_cancelled() {
                let _ = self.out.try_send(Err(cancelled(&self.id)));
                return;
            }
            self.produce(&mut c, span, &mut items);
            for item in items.drain(..) {
                if self.out.blocking_send(item).is_err() {
                    return;
                }
            }
        }
    }

    /// Real-time pacing and stalls, as an async task.
    async fn run(mut self) {
        let mark = self.time_mark(0);
        if let Sent::Stop = self.send(Ok(CaptureChunk::Time(mark))).await {
            return;
        }
        if self.failure == Failure::Stall {
            // Hold the connection open without data until cancelled or dropped.
            tokio::select! {
                _ = self.cancel.cancelled() => { let _ = self.out.try_send(Err(cancelled(&self.id))); }
                _ = self.out.closed() => {}
            }
            return;
        }
        let mut c = self.cursor();
        let mut items = Vec::with_capacity(4);
        while let Some(span) = self.next_span(&c) {
            let due = self.plan.time_of(span.0 + span.1);
            if let Sent::Stop = self.wait_until(due).await {
                return;
            }
            self.produce(&mut c, span, &mut items);
            for item in items.drain(..) {
                if let Sent::Stop = self.send(item).await {
                    return;
                }
            }
        }
    }
}

/// Position of a generator in its capture.
struct Cursor {
    n0: u64,
    total: u64,
    drop_at: Option<u64>,
    gps_every: u64,
    next_gps: u64,
    done: bool,
}

#[cfg(test)]
mod tests;
