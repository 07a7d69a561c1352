//! Sample generation: the received signal of one capture, computed analytically per sample.

use std::f64::consts::TAU;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use heimdall_core::{CaptureRequest, Complex32, Error, Result};
use num_complex::Complex64;
use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, StandardNormal};

use super::clocks::Clock;
use super::config::SimulatedReceiverConfig;
use super::transmitter::{Modulation, Transmitter};

/// Thermal noise density at 290 K, dBm/Hz.
pub const THERMAL_NOISE_DBM_PER_HZ: f64 = -173.975;

/// Length of the noise table (a power of two).
const NOISE_LEN: usize = 1 << 16;
const NOISE_MASK: usize = NOISE_LEN - 1;

/// SplitMix64 step: decorrelates seeds.
pub(super) fn mix_seed(seed: u64, salt: u64) -> u64 {
    let mut z = seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Unit-power complex Gaussian samples (each component of variance ½), drawn once per receiver.
#[derive(Debug, Clone)]
pub(super) struct NoiseTable(Arc<[Complex32]>);

impl NoiseTable {
    pub(super) fn new(seed: u64) -> Self {
        let mut rng = SmallRng::seed_from_u64(seed);
        let s = std::f32::consts::FRAC_1_SQRT_2;
        let v: Vec<Complex32> = (0..NOISE_LEN)
            .map(|_| {
                let re: f32 = StandardNormal.sample(&mut rng);
                let im: f32 = StandardNormal.sample(&mut rng);
                Complex32::new(re * s, im * s)
            })
            .collect();
        NoiseTable(v.into())
    }
}

#[derive(Debug)]
enum ModPlan {
    Carrier,
    Fm {
        /// Modulation index of each tone, rad.
        betas: Vec<f64>,
        /// Tone frequencies, Hz.
        tones: Vec<f64>,
        /// Tone phases at sample 0 (transmitter time), cycles.
        phase0: Vec<f64>,
    },
    Bursts {
        period: f64,
        on: f64,
        ramp: f64,
        /// Transmitter time of sample 0 modulo `period`, seconds.
        u0: f64,
    },
    Am {
        depth: f64,
        tones: Vec<f64>,
        /// Tone phases at sample 0 (transmitter time), cycles.
        phase0: Vec<f64>,
    },
    AmKeyed {
        depth: f64,
        period: f64,
        short: f64,
        long: f64,
        ramp: f64,
        /// Index of the keying period of sample 0 (transmitter time).
        k0: i64,
        /// Transmitter time of sample 0 within that period, seconds.
        u0: f64,
    },
}

/// The key length of keying period `k`: one pseudo-random bit per period.
fn key_len(k: i64, short: f64, long: f64) -> f64 {
    if mix_seed(k as u64, 0x006b_6579_5f62_6974) & 1 == 1 {
        long
    } else {
        short
    }
}

/// `(k, u)` with `u` in `[0, period)` for the time `k·period + u`.
fn wrap_period(k: i64, u: f64, period: f64) -> (i64, f64) {
    let extra = (u / period).floor();
    let mut u = u - extra * period;
    let mut k = k.saturating_add(extra as i64);
    if u >= period {
        u -= period;
        k = k.saturating_add(1);
    }
    (k, u.max(0.0))
}

/// Everything needed to generate one capture, derived from the configuration at open time.
#[derive(Debug)]
pub(super) struct CapturePlan {
    pub(super) fs: f64,
    pub(super) expected_samples: u64,
    pub(super) delay_s: f64,
    pub(super) received_power_dbm: f64,
    pub(super) noise_power_dbm: f64,
    pub(super) host_clock_error_s: f64,
    /// True time of sample 0.
    t0: DateTime<Utc>,
    /// Signal amplitude, full-scale units.
    amp: f64,
    /// Carrier offset in the baseband, Hz.
    delta_f: f64,
    /// Carrier phase at sample 0, cycles.
    carrier_cycles0: f64,
    noise_std: f32,
    noise: NoiseTable,
    modulation: ModPlan,
    rng: SmallRng,
    /// Draws the GPS time-mark errors.
    marks: SmallRng,
}

impl CapturePlan {
    pub(super) fn new(
        cfg: &SimulatedReceiverConfig,
        tx: &Transmitter,
        req: &CaptureRequest,
        seed: u64,
        now: DateTime<Utc>,
        noise: NoiseTable,
    ) -> Result<Self> {
        let fs = cfg.sample_rate_hz;
        let position = cfg
            .info
            .position
            .ok_or_else(|| Error::config(format!("simulated receiver {} has no position", cfg.info.id)))?;
        let t0 = req.start_at.unwrap_or(now);
        // Time of sample 0 since the transmitter epoch, split into whole seconds and a fraction
        // so that products with large frequencies keep nanosecond precision.
        let since = t0 - tx.epoch;
        let secs = since.num_seconds();
        let frac_ns = (since - chrono::Duration::seconds(secs)).num_nanoseconds().unwrap_or(0);
        let (secs, frac) = (secs as f64, frac_ns as f64 * 1e-9);

        let mut rng = SmallRng::seed_from_u64(mix_seed(seed, 0x706c_616e));
        // Time-mark errors differ between captures (the start time is mixed in) but repeat for
        // the same request.
        let t0_ns = t0.timestamp_nanos_opt().unwrap_or(0) as u64;
        let marks = SmallRng::seed_from_u64(mix_seed(mix_seed(seed, 0x6d61_726b), t0_ns));
        let lo_phase_cycles: f64 = rng.random();
        let host_clock_error_s = match cfg.clock {
            Clock::Host { jitter } => {
                let z: f64 = StandardNormal.sample(&mut rng);
                z * jitter.as_secs_f64()
            }
            _ => 0.0,
        };

        let delay_s = tx.delay_to_s(&position);
        let received_power_dbm = tx.received_power_dbm(&position);
        let noise_power_dbm = THERMAL_NOISE_DBM_PER_HZ + cfg.noise_figure_db + 10.0 * fs.log10();
        let amp = 10f64.powf((received_power_dbm - cfg.full_scale_dbm) / 20.0);
        let noise_std = 10f64.powf((noise_power_dbm - cfg.full_scale_dbm) / 20.0) as f32;
        let f_lo = req.frequency_hz * (1.0 + cfg.lo_ppm * 1e-6);
        let delta_f = tx.frequency_hz - f_lo;

        // x(t) = m(t−τ)·exp(j2π f_tx (t−τ))·exp(−j2π f_lo t + jθ): the carrier keeps a phase of
        // −f_tx·τ cycles; t counts from the epoch.
        let cycles = |f: f64, t_int: f64, t_frac: f64| (f * t_int).rem_euclid(1.0) + (f * t_frac).rem_euclid(1.0);
        let carrier_cycles0 = (cycles(delta_f, secs, frac) + lo_phase_cycles
            - (tx.frequency_hz * delay_s).rem_euclid(1.0))
        .rem_euclid(1.0);

        let modulation = match &tx.modulation {
            Modulation::Carrier => ModPlan::Carrier,
            Modulation::Fm { deviation_hz, tones_hz } => {
                let per_tone = deviation_hz / tones_hz.len().max(1) as f64;
                ModPlan::Fm {
                    betas: tones_hz.iter().map(|f| per_tone / f).collect(),
                    tones: tones_hz.clone(),
                    phase0: tones_hz.iter().map(|f| cycles(*f, secs, frac - delay_s)).collect(),
                }
            }
            Modulation::Bursts { on, off, ramp } => {
                let period = (*on + *off).as_secs_f64();
                ModPlan::Bursts {
                    period,
                    on: on.as_secs_f64(),
                    ramp: ramp.as_secs_f64(),
                    u0: (secs.rem_euclid(period) + frac - delay_s).rem_euclid(period),
                }
            }
            Modulation::Am { depth, tones_hz } => ModPlan::Am {
                depth: *depth,
                tones: tones_hz.clone(),
                phase0: tones_hz.iter().map(|f| cycles(*f, secs, frac - delay_s)).collect(),
            },
            Modulation::AmKeyed {
                depth,
                period,
                short,
                long,
                ramp,
            } => {
                // The period index and phase of sample 0 in integer nanoseconds (exact), then the delay.
                let period_ns = period.as_nanos().max(1) as i128;
                let since_ns = i128::from(since.num_seconds()) * 1_000_000_000 + i128::from(frac_ns);
                let k = since_ns.div_euclid(period_ns);
                let within = since_ns.rem_euclid(period_ns) as f64 * 1e-9;
                let (k0, u0) = wrap_period(
                    i64::try_from(k).unwrap_or(i64::MAX),
                    within - delay_s,
                    period.as_secs_f64(),
                );
                ModPlan::AmKeyed {
                    depth: *depth,
                    period: period.as_secs_f64(),
                    short: short.as_secs_f64(),
                    long: long.as_secs_f64(),
                    ramp: ramp.as_secs_f64(),
                    k0,
                    u0,
                }
            }
        };

        Ok(CapturePlan {
            fs,
            expected_samples: req.samples_at(fs),
            delay_s,
            received_power_dbm,
            noise_power_dbm,
            host_clock_error_s,
            t0,
            amp,
            delta_f,
            carrier_cycles0,
            noise_std,
            noise,
            modulation,
            rng,
            marks,
        })
    }

    /// One GPS time mark's error, seconds: Gaussian of standard deviation `jitter`.
    pub(super) fn gps_mark_error_s(&mut self, jitter: std::time::Duration) -> f64 {
        let z: f64 = StandardNormal.sample(&mut self.marks);
        z * jitter.as_secs_f64()
    }

    /// True time of sample `n`.
    pub(super) fn time_of(&self, n: u64) -> DateTime<Utc> {
        let ns = (n as f64 / self.fs * 1e9).round();
        self.t0
            .checked_add_signed(chrono::Duration::nanoseconds(ns as i64))
            .unwrap_or(self.t0)
    }

    /// Generates samples `n0..n0+len` and their mean power (full-scale units).
    pub(super) fn generate(&mut self, n0: u64, len: usize) -> (Vec<Complex32>, f64) {
        let dt = 1.0 / self.fs;
        let tn0 = n0 as f64 * dt;
        let cyc = self.carrier_cycles0 + (self.delta_f * tn0).rem_euclid(1.0);
        let mut rot = Complex64::from_polar(self.amp, TAU * cyc);
        let step = Complex64::from_polar(1.0, TAU * self.delta_f * dt);
        let off = (self.rng.random::<u32>() as usize) & NOISE_MASK;
        let quarter = [
            Complex32::new(1.0, 0.0),
            Complex32::new(0.0, 1.0),
            Complex32::new(-1.0, 0.0),
            Complex32::new(0.0, -1.0),
        ][(self.rng.random::<u32>() & 3) as usize];
        let nrot = quarter * self.noise_std;
        let table: &[Complex32; NOISE_LEN] = match (*self.noise.0).try_into() {
            Ok(t) => t,
            Err(_) => return (Vec::new(), 0.0),
        };
        // Block rotator: 8 independent lanes `rot·step^k`, advanced by `step^8` per block, so
        // the per-sample work has no loop-carried dependency (the recurrence is 8× shorter).
        let mut pw = [Complex64::new(1.0, 0.0); LANES];
        for k in 1..LANES {
            pw[k] = pw[k - 1] * step;
        }
        let step_block = pw[LANES - 1] * step;
        let mut out = Vec::with_capacity(len);
        let power = match &self.modulation {
            ModPlan::Carrier => fill(&mut out, len, table, off, nrot, |b| {
                for (o, p) in b.iter_mut().zip(&pw) {
                    *o = rot * p;
                }
                rot *= step_block;
            }),
            ModPlan::Fm { betas, tones, phase0 } => {
                let mut tz = tone_rotators(tones, phase0, betas.iter().copied(), tn0, dt);
                fill(&mut out, len, table, off, nrot, |b| {
                    for (o, p) in b.iter_mut().zip(&pw) {
                        let mut phi = 0.0;
                        for (z, st, beta) in tz.iter_mut() {
                            phi += *beta * z.im;
                            *z *= *st;
                        }
                        let (s, c) = phi.sin_cos();
                        *o = rot * p * Complex64::new(c, s);
                    }
                    rot *= step_block;
                })
            }
            ModPlan::Am { depth, tones, phase0 } => {
                let per_tone = depth / tones.len().max(1) as f64;
                let mut tz = tone_rotators(tones, phase0, std::iter::repeat(per_tone), tn0, dt);
                fill(&mut out, len, table, off, nrot, |b| {
                    for (o, p) in b.iter_mut().zip(&pw) {
                        let mut env = 1.0;
                        for (z, st, a) in tz.iter_mut() {
                            env += *a * z.re;
                            *z *= *st;
                        }
                        *o = rot * p * env;
                    }
                    rot *= step_block;
                })
            }
            &ModPlan::AmKeyed {
                depth,
                period,
                short,
                long,
                ramp,
                k0,
                u0,
            } => {
                // Period index and position of the chunk's first sample, then advanced per sample.
                let (mut k, mut pos) = wrap_period(k0, u0 + tn0, period);
                let mut key = key_len(k, short, long);
                fill(&mut out, len, table, off, nrot, |b| {
                    for (o, p) in b.iter_mut().zip(&pw) {
                        let env = 1.0 - depth * burst_envelope(pos, key, ramp);
                        *o = rot * p * env;
                        pos += dt;
                        if pos >= period {
                            pos -= period;
                            k = k.saturating_add(1);
                            key = key_len(k, short, long);
                        }
                    }
                    rot *= step_block;
                })
            }
            &ModPlan::Bursts { period, on, ramp, u0 } => {
                // Position in the burst period of the block's first sample, advanced
                // incrementally (exact at each chunk start).
                let mut pos = (u0 + tn0.rem_euclid(period)).rem_euclid(period);
                let block_dt = LANES as f64 * dt;
                let short_period = block_dt >= period;
                fill(&mut out, len, table, off, nrot, |b| {
                    if !short_period && pos >= on + ramp && pos + block_dt <= period {
                        // The whole block is between bursts.
                        b.fill(Complex64::new(0.0, 0.0));
                    } else {
                        for (k, (o, p)) in b.iter_mut().zip(&pw).enumerate() {
                            let mut q = pos + k as f64 * dt;
                            if short_period {
                                q = q.rem_euclid(period);
                            } else if q >= period {
                                q -= period;
                            }
                            *o = rot * p * burst_envelope(q, on, ramp);
                        }
                    }
                    rot *= step_block;
                    pos += block_dt;
                    if short_period {
                        pos = pos.rem_euclid(period);
                    } else if pos >= period {
                        pos -= period;
                    }
                })
            }
        };
        (out, power)
    }
}

/// Tone rotators `(exp(j2π f_i u), one sample's step, weight)` at sample `tn0 · fs`.
fn tone_rotators(
    tones: &[f64],
    phase0: &[f64],
    weights: impl Iterator<Item = f64>,
    tn0: f64,
    dt: f64,
) -> Vec<(Complex64, Complex64, f64)> {
    tones
        .iter()
        .zip(phase0)
        .zip(weights)
        .map(|((f, p), w)| {
            let c = p + (f * tn0).rem_euclid(1.0);
            (
                Complex64::from_polar(1.0, TAU * c),
                Complex64::from_polar(1.0, TAU * f * dt),
                w,
            )
        })
        .collect()
}

/// Lanes of the block rotator.
const LANES: usize = 8;

/// Raised-cosine keyed envelope: rises over `[0, ramp)`, on until `on`, falls over `[on, on+ramp)`.
#[inline]
fn burst_envelope(pos: f64, on: f64, ramp: f64) -> f64 {
    if pos >= on + ramp {
        0.0
    } else if pos >= ramp && pos < on {
        1.0
    } else if pos < ramp {
        0.5 - 0.5 * (std::f64::consts::PI * pos / ramp).cos()
    } else {
        0.5 + 0.5 * (std::f64::consts::PI * (pos - on) / ramp).cos()
    }
}

/// Appends `len` samples `signal + noise`, clipped to full scale; returns their mean power.
/// `sig` fills the next block of [`LANES`] signal samples (the last block may be used in part).
#[inline]
fn fill<F: FnMut(&mut [Complex64; LANES])>(
    out: &mut Vec<Complex32>,
    len: usize,
    table: &[Complex32; NOISE_LEN],
    off: usize,
    nrot: Complex32,
    mut sig: F,
) -> f64 {
    let mut acc = 0.0f64;
    let mut block = [Complex64::new(0.0, 0.0); LANES];
    let mut samples = [Complex32::new(0.0, 0.0); LANES];
    let mut idx = off;
    let mut done = 0usize;
    while done < len {
        sig(&mut block);
        let n = (len - done).min(LANES);
        let mut part = 0.0f32;
        for (o, s) in samples.iter_mut().zip(&block) {
            let nz = table[idx & NOISE_MASK] * nrot;
            idx = idx.wrapping_add(1);
            let re = (s.re as f32 + nz.re).clamp(-1.0, 1.0);
            let im = (s.im as f32 + nz.im).clamp(-1.0, 1.0);
            part += re * re + im * im;
            *o = Complex32::new(re, im);
        }
        if n < LANES {
            // Partial last block: only the first `n` samples count.
            part = samples[..n].iter().map(|c| c.norm_sqr()).sum();
        }
        out.extend_from_slice(&samples[..n]);
        acc += f64::from(part);
        done += n;
    }
    if len == 0 { 0.0 } else { acc / len as f64 }
}
