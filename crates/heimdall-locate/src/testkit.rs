//! A synthetic receiver network for tests, benchmarks and the evaluation: one FM transmitter
//! with a voice-like (band-limited noise) message, received by stations around it at 2.4 MS/s
//! with thermal noise, path loss with shadowing, and either GPS clocks (time marks with tens of
//! ns of jitter) or host clocks (NTP-like millisecond offsets).

use num_complex::Complex32;
use rand::{Rng, SeedableRng, rngs::SmallRng};
use rand_distr::{Distribution, Normal};

use crate::ReceiverCapture;
use crate::geo::{GeoPoint, PathModel, SPEED_OF_LIGHT};
use crate::timing::{ClockSource, TimeMark};

/// Parameters of a synthetic network.
#[derive(Debug, Clone, PartialEq)]
pub struct NetworkSpec {
    /// Random seed (positions, message, noise, clocks).
    pub seed: u64,
    /// Number of receivers.
    pub stations: usize,
    /// Sample rate of every receiver (Hz).
    pub sample_rate_hz: f64,
    /// Capture length (s).
    pub duration_s: f64,
    /// Carrier frequency (Hz).
    pub frequency_hz: f64,
    /// FM peak deviation (Hz).
    pub deviation_hz: f64,
    /// In-band SNR (dB, over the 12.5 kHz channel) at 10 km; path loss exponent 2.7 and
    /// 4 dB shadowing around that.
    pub snr_db_at_10km: f64,
    /// Receivers spread on a ring of this radius around the network centre (m), ±30%.
    pub radius_m: f64,
    /// Clock kind of every receiver.
    pub clock: ClockSource,
    /// GPS time-mark jitter (s, 1σ).
    pub gps_jitter_s: f64,
    /// Host clock offset (s, 1σ).
    pub host_offset_s: f64,
}

impl Default for NetworkSpec {
    fn default() -> Self {
        Self {
            seed: 1,
            stations: 7,
            sample_rate_hz: 2.4e6,
            duration_s: 1.0,
            frequency_hz: 145.5e6,
            deviation_hz: 2_500.0,
            snr_db_at_10km: 20.0,
            radius_m: 25_000.0,
            clock: ClockSource::Gps,
            gps_jitter_s: 30e-9,
            host_offset_s: 5e-3,
        }
    }
}

/// A generated network: the captures and the transmitter's true position.
#[derive(Debug, Clone)]
pub struct Network {
    /// One capture per receiver.
    pub captures: Vec<ReceiverCapture>,
    /// Where the transmitter is.
    pub truth: GeoPoint,
}

/// Generates the network described by `spec`.
pub fn network(spec: &NetworkSpec) -> Network {
    let mut rng = SmallRng::seed_from_u64(spec.seed);
    let centre = GeoPoint::new(48.0 + rng.random::<f64>(), 11.0 + rng.random::<f64>());
    let positions: Vec<GeoPoint> = (0..spec.stations)
        .map(|k| {
            let az = 2.0 * std::f64::consts::PI * (k as f64 + 0.3 * rng.random::<f64>()) / spec.stations as f64;
            let r = spec.radius_m * (0.7 + 0.6 * rng.random::<f64>());
            GeoPoint {
                altitude_m: 20.0 + 200.0 * rng.random::<f64>(),
                ..centre.offset(r * az.sin(), r * az.cos())
            }
        })
        .collect();
    // Transmitter inside the network, within 60% of the radius.
    let (tr, ta) = (
        0.6 * spec.radius_m * rng.random::<f64>().sqrt(),
        2.0 * std::f64::consts::PI * rng.random::<f64>(),
    );
    let truth = GeoPoint {
        altitude_m: 10.0,
        ..centre.offset(tr * ta.sin(), tr * ta.cos())
    };
    let fs = spec.sample_rate_hz;
    // Receivers start within 1 ms of each other; the transmitted signal covers every delay.
    let starts: Vec<f64> = (0..spec.stations).map(|_| 1e-3 * rng.random::<f64>()).collect();
    let delays: Vec<f64> = positions
        .iter()
        .map(|p| PathModel::LineOfSight.distance(&truth, p) / SPEED_OF_LIGHT)
        .collect();
    let n = (spec.duration_s * fs) as usize;
    let tx_len = n + (2e-3 * fs) as usize + 4;
    let tx_start = -1e-3; // transmitted-signal time of tx[0]
    let tx = fm_voice(&mut rng, tx_len, fs, spec.deviation_hz);
    let unit = Normal::new(0.0f32, 1.0).expect("unit normal");
    let captures = (0..spec.stations)
        .map(|i| {
            let d_km = (delays[i] * SPEED_OF_LIGHT / 1e3).max(0.1);
            let shadow = 4.0 * rng.sample::<f64, _>(rand_distr::StandardNormal);
            let snr_db = spec.snr_db_at_10km - 27.0 * (d_km / 10.0).log10() + shadow;
            // Noise power over the whole band such that the 12.5 kHz channel has `snr_db`.
            let noise_power = (fs / 12_500.0) / 10f64.powf(snr_db / 10.0);
            let sigma = ((noise_power / 2.0).sqrt()) as f32;
            let phase0 = Complex32::from_polar(1.0, (2.0 * std::f64::consts::PI * rng.random::<f64>()) as f32);
            let mut samples = Vec::with_capacity(n);
            for k in 0..n {
                let t = starts[i] + k as f64 / fs - delays[i];
                let pos = (t - tx_start) * fs;
                let j = pos.floor() as usize;
                let u = (pos - j as f64) as f32;
                let s = tx[j] * (1.0 - u) + tx[j + 1] * u;
                samples.push(s * phase0 + Complex32::new(sigma * unit.sample(&mut rng), sigma * unit.sample(&mut rng)));
            }
            let (offset, jitter) = match spec.clock {
                ClockSource::Gps => (0.0, spec.gps_jitter_s),
                ClockSource::Host => (
                    spec.host_offset_s * rng.sample::<f64, _>(rand_distr::StandardNormal),
                    1e-3,
                ),
            };
            let base = 1_700_000_000i64;
            let marks = (0..n)
                .step_by((fs / 10.0) as usize)
                .map(|k| {
                    let t =
                        starts[i] + k as f64 / fs + offset + jitter * rng.sample::<f64, _>(rand_distr::StandardNormal);
                    let secs = t.floor();
                    TimeMark {
                        sample: k as u64,
                        seconds: base + secs as i64,
                        nanos: (t - secs) * 1e9,
                        fix_age_s: Some(0),
                    }
                })
                .collect();
            ReceiverCapture {
                id: format!("sim{i}"),
                position: positions[i],
                clock: spec.clock,
                sample_rate_hz: fs,
                centre_frequency_hz: spec.frequency_hz,
                samples,
                marks,
            }
        })
        .collect();
    Network { captures, truth }
}

/// FM with a voice-like message: noise band-limited to about 300-3000 Hz with a syllabic
/// (3 Hz) level, limited to peak deviation `dev_hz`.
fn fm_voice(rng: &mut SmallRng, len: usize, fs: f64, dev_hz: f64) -> Vec<Complex32> {
    // Message at 8 kHz, then linearly interpolated.
    let mrate = 8_000.0;
    let mlen = (len as f64 / fs * mrate) as usize + 3;
    let (mut lp, mut hp_prev, mut hp) = (0.0f64, 0.0f64, 0.0f64);
    let a_lp = (-2.0 * std::f64::consts::PI * 3_000.0 / mrate).exp();
    let a_hp = (-2.0 * std::f64::consts::PI * 300.0 / mrate).exp();
    let syll = 2.0 * std::f64::consts::PI * rng.random::<f64>();
    let msg: Vec<f64> = (0..mlen)
        .map(|k| {
            let x: f64 = rng.sample(rand_distr::StandardNormal);
            lp = a_lp * lp + (1.0 - a_lp) * x;
            hp = a_hp * (hp + lp - hp_prev);
            hp_prev = lp;
            let level = 0.6 + 0.4 * (2.0 * std::f64::consts::PI * 3.0 * k as f64 / mrate + syll).sin();
            hp * level
        })
        .collect();
    // Level like a transmitter's limiter: rms at 40% of the peak deviation, peaks clipped.
    let rms = (msg.iter().map(|x| x * x).sum::<f64>() / msg.len().max(1) as f64)
        .sqrt()
        .max(1e-12);
    let peak = 2.5 * rms;
    let mut phase = 0.0f64;
    (0..len)
        .map(|k| {
            let p = k as f64 / fs * mrate;
            let j = p.floor() as usize;
            let u = p - j as f64;
            let m = ((msg[j] * (1.0 - u) + msg[j + 1] * u) / peak).clamp(-1.0, 1.0);
            phase += 2.0 * std::f64::consts::PI * dev_hz * m / fs;
            Complex32::from_polar(1.0, phase as f32)
        })
        .collect()
}
