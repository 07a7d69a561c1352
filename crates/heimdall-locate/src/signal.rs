//! Signal conditioning before correlation: occupied band, decimation to it, resampling every
//! receiver onto one time grid, and the timing features (coherent, envelope, carrier phase).

use num_complex::Complex32;
use rustfft::FftPlanner;

use crate::timing::TimeModel;

/// The band a signal occupies, relative to the capture's centre.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Band {
    /// Centre of the occupied band (Hz from the capture's centre).
    pub centre_hz: f64,
    /// Width between the outermost bins 10 dB above the noise floor (Hz).
    pub width_hz: f64,
    /// Strongest bin over the noise floor (power ratio): how clearly the band was seen.
    pub peak_over_floor: f64,
}

/// The occupied band as the receiver that sees it most clearly (highest peak over its noise
/// floor) estimates it: a weak receiver's periodogram may not rise 10 dB above its floor.
pub fn estimate_band_best<'a>(captures: impl IntoIterator<Item = (&'a [Complex32], f64)>) -> Band {
    captures
        .into_iter()
        .map(|(z, rate)| estimate_band(z, rate))
        .max_by(|a, b| a.peak_over_floor.total_cmp(&b.peak_over_floor))
        .unwrap_or(Band {
            centre_hz: 0.0,
            width_hz: 0.0,
            peak_over_floor: 0.0,
        })
}

/// Estimates the occupied band from an averaged periodogram (up to 64 segments of 1024 samples
/// spread over the capture): the outermost bins 10 dB above the median (the noise floor).
pub fn estimate_band(samples: &[Complex32], rate_hz: f64) -> Band {
    const LEN: usize = 1024;
    let mut psd = vec![0f64; LEN];
    if samples.len() < LEN {
        return Band {
            centre_hz: 0.0,
            width_hz: rate_hz,
            peak_over_floor: 0.0,
        };
    }
    let fft = FftPlanner::<f32>::new().plan_fft_forward(LEN);
    let segments = (samples.len() / LEN).min(64);
    let step = samples.len() / segments;
    let mut buf = vec![Complex32::new(0.0, 0.0); LEN];
    for s in 0..segments {
        let seg = &samples[s * step..s * step + LEN];
        for (i, (b, x)) in buf.iter_mut().zip(seg).enumerate() {
            let w = 0.5 - 0.5 * (2.0 * std::f32::consts::PI * i as f32 / LEN as f32).cos();
            *b = x * w;
        }
        fft.process(&mut buf);
        for (p, b) in psd.iter_mut().zip(&buf) {
            *p += b.norm_sqr() as f64;
        }
    }
    // Reorder to ascending frequency.
    psd.rotate_left(LEN / 2);
    let mut sorted = psd.clone();
    sorted.sort_by(f64::total_cmp);
    let floor = sorted[LEN / 2];
    let peak_over_floor = sorted[LEN - 1] / floor.max(1e-300);
    // The band: outermost bins 10 dB above the floor (a dominant carrier must not hide the
    // modulation's sidebands).
    let above: Vec<usize> = (0..LEN).filter(|&i| psd[i] > 10.0 * floor).collect();
    let (Some(&lo), Some(&hi)) = (above.first(), above.last()) else {
        return Band {
            centre_hz: 0.0,
            width_hz: rate_hz,
            peak_over_floor,
        };
    };
    let bin = rate_hz / LEN as f64;
    let f = |i: usize| (i as f64 - (LEN / 2) as f64) * bin;
    Band {
        centre_hz: 0.5 * (f(lo) + f(hi)),
        width_hz: (f(hi) - f(lo) + 2.0 * bin).min(rate_hz),
        peak_over_floor,
    }
}

/// Mixes `samples` down by `mix_hz` and averages blocks of `factor` samples (a boxcar: every
/// receiver gets the same filter, so its delay cancels in time differences). Output sample `m`
/// sits at input sample `m * factor + (factor - 1) / 2`.
pub fn decimate(samples: &[Complex32], rate_hz: f64, factor: usize, mix_hz: f64) -> Vec<Complex32> {
    let factor = factor.max(1);
    if factor == 1 {
        // No blocks: the mixer alone (the same phasor, so the same values).
        let mut out = samples.to_vec();
        if mix_hz.abs() > 1e-9 {
            mix(&mut out, rate_hz, mix_hz);
        }
        return out;
    }
    let n_out = samples.len() / factor;
    let mut out = Vec::with_capacity(n_out);
    let scale = 1.0 / factor as f32;
    if mix_hz.abs() <= 1e-9 {
        out.extend(samples.chunks_exact(factor).map(|block| sum4(block) * scale));
        return out;
    }
    // The mixer within a block is one table (computed in f64), the block's start phase is
    // computed from its index: no phasor recurrence, so the sums are independent multiply-adds
    // and the phase does not drift over 10⁸ samples.
    let w = -2.0 * std::f64::consts::PI * mix_hz / rate_hz;
    let (re, im): (Vec<f32>, Vec<f32>) = (0..factor)
        .map(|j| {
            let (s, c) = (w * j as f64).sin_cos();
            (c as f32, s as f32)
        })
        .unzip();
    let mut blocks = Phasor::new(w * factor as f64);
    for block in samples.chunks_exact(factor) {
        let acc = mix_sum(block, &re, &im);
        let p = blocks.next_value();
        out.push(acc * Complex32::new(p.re as f32, p.im as f32) * scale);
    }
    out
}

/// `e^{i w k}` for k = 0, 1, 2...: a complex recurrence in f64, re-anchored on the exact value
/// every 1024 steps (so the phase neither drifts nor costs a sine per step).
pub(crate) struct Phasor {
    w: f64,
    k: u64,
    value: num_complex::Complex64,
    step: num_complex::Complex64,
}

impl Phasor {
    pub(crate) fn new(w: f64) -> Self {
        Self {
            w,
            k: 0,
            value: num_complex::Complex64::new(1.0, 0.0),
            step: num_complex::Complex64::from_polar(1.0, w),
        }
    }

    /// The current value, then one step on.
    pub(crate) fn next_value(&mut self) -> num_complex::Complex64 {
        let v = self.value;
        self.k += 1;
        self.value = if self.k.is_multiple_of(1024) {
            let (s, c) = (self.w * self.k as f64)
                .rem_euclid(2.0 * std::f64::consts::PI)
                .sin_cos();
            num_complex::Complex64::new(c, s)
        } else {
            v * self.step
        };
        v
    }
}

/// Σ x with four independent accumulators (vectorisable).
fn sum4(x: &[Complex32]) -> Complex32 {
    let mut acc = [0f32; 8];
    let chunks = x.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for (k, v) in c.iter().enumerate() {
            acc[2 * k] += v.re;
            acc[2 * k + 1] += v.im;
        }
    }
    let mut s = Complex32::new(acc[0] + acc[2] + acc[4] + acc[6], acc[1] + acc[3] + acc[5] + acc[7]);
    for v in rest {
        s += v;
    }
    s
}

/// Σ x·(re + i·im) with four independent accumulators (vectorisable).
fn mix_sum(x: &[Complex32], re: &[f32], im: &[f32]) -> Complex32 {
    let (mut ar, mut ai) = ([0f32; 4], [0f32; 4]);
    let n4 = x.len() / 4 * 4;
    for ((c, r), i) in x[..n4].chunks_exact(4).zip(re.chunks_exact(4)).zip(im.chunks_exact(4)) {
        for k in 0..4 {
            ar[k] += c[k].re * r[k] - c[k].im * i[k];
            ai[k] += c[k].re * i[k] + c[k].im * r[k];
        }
    }
    let mut s = Complex32::new(ar.iter().sum(), ai.iter().sum());
    for k in n4..x.len() {
        s += x[k] * Complex32::new(re[k], im[k]);
    }
    s
}

/// Half-length of the resampling kernel (input samples each side of the output time).
pub const RESAMPLE_HALF_TAPS: usize = 12;

/// Kernel table resolution (entries per input sample, linearly interpolated).
const KERNEL_STEPS: usize = 1024;

/// Taps of the resampling kernel (input samples it weighs).
const TAPS: usize = 2 * RESAMPLE_HALF_TAPS;

/// A Blackman-Harris-windowed sinc interpolator over ±[`RESAMPLE_HALF_TAPS`] samples, tabulated
/// once. For signals within ±0.3 of the sample rate its gain is flat and its delay exact to
/// well under 10⁻³ sample at any fractional position (a cubic interpolator's delay error there
/// is a few hundredths of a sample, and depends on the fractional position, so it differs
/// between receivers and biases their time differences).
///
/// The table is phase-major: for each of 1025 fractional positions (1/1024 sample apart), the
/// 24 weights in input order and their sum: one output interpolates two contiguous kernels,
/// then takes two dot products (real and imaginary parts kept apart) over the input window.
#[derive(Debug, Clone)]
pub struct Interpolator {
    phases: Box<[[f32; TAPS]]>,
    sums: Box<[f32]>,
}

impl Default for Interpolator {
    fn default() -> Self {
        Self::new()
    }
}

impl Interpolator {
    /// The kernel, tabulated once per process (it is a constant).
    pub fn shared() -> &'static Self {
        static TABLE: std::sync::OnceLock<Interpolator> = std::sync::OnceLock::new();
        TABLE.get_or_init(Self::new)
    }

    /// Tabulates the kernel.
    pub fn new() -> Self {
        let h = RESAMPLE_HALF_TAPS as f64;
        let kernel = |x: f64| {
            if x.abs() >= h {
                return 0.0;
            }
            let px = std::f64::consts::PI * x;
            let sinc = if x.abs() < 1e-12 { 1.0 } else { px.sin() / px };
            let w = std::f64::consts::PI * x / h;
            let bh = 0.35875 + 0.48829 * w.cos() + 0.14128 * (2.0 * w).cos() + 0.01168 * (3.0 * w).cos();
            sinc * bh
        };
        // Phase p (fraction u = p / steps past input sample i0): tap w weighs input sample
        // i0 - H + 1 + w, at offset u + H - 1 - w from the output time.
        let phases: Box<[[f32; TAPS]]> = (0..=KERNEL_STEPS)
            .map(|p| {
                let u = p as f64 / KERNEL_STEPS as f64;
                std::array::from_fn(|w| kernel(u + h - 1.0 - w as f64) as f32)
            })
            .collect();
        let sums = phases.iter().map(|k| k.iter().sum()).collect();
        Self { phases, sums }
    }

    /// The kernel at fractional index `pos`: the first input index it weighs and its 24
    /// weights, normalised to unit sum (the two tabulated phases around `pos`, linearly
    /// interpolated).
    #[inline]
    fn kernel(&self, pos: f64) -> (isize, [f32; TAPS]) {
        // floor without a libm call (the baseline x86-64 target has no rounding instruction).
        let mut i0 = pos as isize;
        if i0 as f64 > pos {
            i0 -= 1;
        }
        let v = (pos - i0 as f64) * KERNEL_STEPS as f64;
        let p = (v as usize).min(KERNEL_STEPS - 1);
        let frac = (v - p as f64) as f32;
        let (a, b) = (&self.phases[p], &self.phases[p + 1]);
        let norm = (self.sums[p] + frac * (self.sums[p + 1] - self.sums[p])).recip();
        let weights = std::array::from_fn(|w| (a[w] + frac * (b[w] - a[w])) * norm);
        (i0 - RESAMPLE_HALF_TAPS as isize + 1, weights)
    }

    /// Value of `x` at fractional index `pos` (indices outside are clamped to the ends).
    pub fn at(&self, x: &[Complex32], pos: f64) -> Complex32 {
        let (first, weights) = self.kernel(pos);
        let last = x.len() as isize - 1;
        weights
            .iter()
            .enumerate()
            .map(|(w, &k)| x[(first + w as isize).clamp(0, last) as usize] * k)
            .sum()
    }
}

/// Σ x[w] · k[w] in eight independent lanes (vectorisable).
#[inline]
fn dot(x: &[f32], k: &[f32; TAPS]) -> f32 {
    const L: usize = 8;
    let mut acc = [0f32; L];
    for (xc, kc) in x.chunks_exact(L).zip(k.chunks_exact(L)) {
        for l in 0..L {
            acc[l] += xc[l] * kc[l];
        }
    }
    acc.iter().sum()
}

/// Resamples a decimated stream onto the grid `t0_s + k / grid_rate_hz`, `k < n`, with a
/// windowed-sinc [`Interpolator`]; `model` maps input (undecimated) samples to time.
pub fn resample(
    dec: &[Complex32],
    model: &TimeModel,
    factor: usize,
    t0_s: f64,
    grid_rate_hz: f64,
    n: usize,
    interp: &Interpolator,
) -> Vec<Complex32> {
    let centre = (factor as f64 - 1.0) / 2.0;
    // Input position of grid sample k: first + k · step (linear in k).
    let first = ((t0_s - model.offset_s) * model.rate_hz - centre) / factor as f64;
    let step = model.rate_hz / (grid_rate_hz * factor as f64);
    // Real and imaginary parts apart: every output is two contiguous dot products.
    let re: Vec<f32> = dec.iter().map(|z| z.re).collect();
    let im: Vec<f32> = dec.iter().map(|z| z.im).collect();
    (0..n)
        .map(|k| {
            let pos = first + k as f64 * step;
            let (i, weights) = interp.kernel(pos);
            if i < 0 || i as usize + TAPS > dec.len() {
                return interp.at(dec, pos);
            }
            let i = i as usize;
            Complex32::new(dot(&re[i..i + TAPS], &weights), dot(&im[i..i + TAPS], &weights))
        })
        .collect()
}

/// Which part of the signal is correlated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// The complex baseband with the receiver's frequency offset removed (FM, bursts, data).
    Coherent,
    /// The magnitude (amplitude keying, fading).
    Envelope,
    /// The phase modulation around a dominant carrier (quadrature after carrier removal).
    CarrierPhase,
}

/// Fraction of the power in the strongest spectral line (±2 bins) and its frequency (Hz),
/// from the FFT `spec` of a series at `rate_hz`.
pub fn carrier_line(spec: &[Complex32], rate_hz: f64) -> (f64, f64) {
    let n = spec.len();
    // The total power and the strongest bin (the last of equals) in one pass.
    let (mut total, mut k, mut best) = (0f64, 0usize, f32::NEG_INFINITY);
    for (i, x) in spec.iter().enumerate() {
        let p = x.norm_sqr();
        total += p as f64;
        if p.total_cmp(&best).is_ge() {
            (k, best) = (i, p);
        }
    }
    let around: f64 = (0..5).map(|j| spec[(k + n + j - 2) % n].norm_sqr() as f64).sum();
    let p = |j: isize| {
        (spec[((k as isize + j).rem_euclid(n as isize)) as usize].norm_sqr() as f64)
            .max(1e-30)
            .ln()
    };
    let (ym, y0, yp) = (p(-1), p(0), p(1));
    let den = ym - 2.0 * y0 + yp;
    let d = if den.abs() > 1e-12 {
        (0.5 * (ym - yp) / den).clamp(-0.5, 0.5)
    } else {
        0.0
    };
    let kk = if k > n / 2 { k as f64 - n as f64 } else { k as f64 };
    (
        if total > 0.0 { around / total } else { 0.0 },
        (kk + d) * rate_hz / n as f64,
    )
}

/// Power-weighted mean frequency (Hz) of a spectrum within `±half_band_hz`.
pub fn centroid_hz(spec: &[Complex32], rate_hz: f64, half_band_hz: f64) -> f64 {
    let n = spec.len();
    let (mut w, mut fw) = (0.0, 0.0);
    for (k, x) in spec.iter().enumerate() {
        let f = if k > n / 2 { k as f64 - n as f64 } else { k as f64 } * rate_hz / n as f64;
        if f.abs() <= half_band_hz {
            let p = x.norm_sqr() as f64;
            w += p;
            fw += p * f;
        }
    }
    if w > 0.0 { fw / w } else { 0.0 }
}

/// Removes the mean of a series in place.
pub fn remove_mean(x: &mut [Complex32]) {
    let n = x.len().max(1) as f32;
    let m = x.iter().sum::<Complex32>() / n;
    x.iter_mut().for_each(|v| *v -= m);
}

/// Mixes a series down by `hz` (at `rate_hz`) in place.
pub fn mix(x: &mut [Complex32], rate_hz: f64, hz: f64) {
    let mut ph = Phasor::new(-2.0 * std::f64::consts::PI * hz / rate_hz);
    for v in x.iter_mut() {
        let p = ph.next_value();
        *v *= Complex32::new(p.re as f32, p.im as f32);
    }
}

/// RMS (radians) of the phase of `z` around its moving average over `window` samples (the
/// tracked carrier): small (tenths of a radian) for a carrier with small-index phase or
/// amplitude modulation, large for FM voice or data.
pub fn phase_deviation_rms(z: &[Complex32], window: usize) -> f64 {
    let n = z.len();
    if n == 0 {
        return 0.0;
    }
    let mut cum = Vec::with_capacity(n + 1);
    let mut acc = num_complex::Complex64::new(0.0, 0.0);
    cum.push(acc);
    for x in z {
        acc += num_complex::Complex64::new(x.re as f64, x.im as f64);
        cum.push(acc);
    }
    let half = window / 2;
    let mut s2 = 0.0;
    for (k, x) in z.iter().enumerate() {
        let lo = k.saturating_sub(half);
        let hi = (k + half + 1).min(n);
        // The window's sum, not its mean: the angle does not depend on the scale.
        let m = cum[hi] - cum[lo];
        let v = num_complex::Complex64::new(x.re as f64, x.im as f64) * m.conj();
        s2 += fast_atan2(v.im, v.re).powi(2);
    }
    (s2 / n as f64).sqrt()
}

/// `atan2(y, x)` within 3·10⁻⁷ rad, without a library call: a threshold statistic's angle.
/// The octant reduction to `t = min/max` in [0, 1], then an odd polynomial in `t` (degree 13,
/// fitted for the least maximum error).
fn fast_atan2(y: f64, x: f64) -> f64 {
    use std::f64::consts::{FRAC_PI_2, PI};
    const C: [f64; 7] = [
        0.999_996_111_679_156,
        -0.333_173_682_193_098,
        0.198_078_160_426_255,
        -0.132_333_417_928_282,
        0.079_623_642_584_738,
        -0.033_604_180_420_220,
        0.006_811_776_588_840,
    ];
    let (ax, ay) = (x.abs(), y.abs());
    let (lo, hi) = if ay > ax { (ax, ay) } else { (ay, ax) };
    if hi == 0.0 {
        return 0.0;
    }
    let t = lo / hi;
    let t2 = t * t;
    let mut a = t * C.iter().rev().fold(0.0, |p, c| p * t2 + c);
    if ay > ax {
        a = FRAC_PI_2 - a;
    }
    if x < 0.0 {
        a = PI - a;
    }
    if y < 0.0 { -a } else { a }
}

/// Envelope (magnitude) series, mean removed.
pub fn envelope(z: &[Complex32]) -> Vec<Complex32> {
    // √(re² + im²) rather than `norm` (hypot, a library call that guards against overflow,
    // which would take samples beyond 10¹⁹).
    let mut e: Vec<Complex32> = z.iter().map(|x| Complex32::new(x.norm_sqr().sqrt(), 0.0)).collect();
    remove_mean(&mut e);
    e
}

/// Phase modulation around the carrier: the quadrature of `z` against its own moving average
/// over `window` samples (the carrier, tracked), normalised by the carrier amplitude; mean removed.
pub fn carrier_phase(z: &[Complex32], window: usize) -> Vec<Complex32> {
    let n = z.len();
    let mut cum = Vec::with_capacity(n + 1);
    let mut acc = num_complex::Complex64::new(0.0, 0.0);
    cum.push(acc);
    for x in z {
        acc += num_complex::Complex64::new(x.re as f64, x.im as f64);
        cum.push(acc);
    }
    let half = window / 2;
    let mut out: Vec<Complex32> = (0..n)
        .map(|k| {
            let lo = k.saturating_sub(half);
            let hi = (k + half + 1).min(n);
            let m = (cum[hi] - cum[lo]) / (hi - lo) as f64;
            let a2 = m.norm_sqr();
            if a2 <= 0.0 {
                return Complex32::new(0.0, 0.0);
            }
            let x = num_complex::Complex64::new(z[k].re as f64, z[k].im as f64);
            Complex32::new(((x * m.conj()).im / a2) as f32, 0.0)
        })
        .collect();
    remove_mean(&mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn band_of_a_tone_is_narrow_and_centred_on_it() {
        let rate = 48_000.0;
        // A tone 30 dB over white noise (xorshift).
        let mut s = 0x9E37_79B9u32;
        let mut noise = move || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            (s as f32 / u32::MAX as f32 - 0.5) * 0.1
        };
        let z: Vec<Complex32> = (0..200_000)
            .map(|k| {
                Complex32::from_polar(1.0, (2.0 * std::f64::consts::PI * 3_000.0 * k as f64 / rate) as f32)
                    + Complex32::new(noise(), noise())
            })
            .collect();
        let b = estimate_band(&z, rate);
        assert!((b.centre_hz - 3_000.0).abs() < 100.0, "{b:?}");
        assert!(b.width_hz < 500.0, "{b:?}");
    }

    #[test]
    fn fast_atan2_matches_the_library_in_every_octant() {
        for i in 0..100_000 {
            let phi = -std::f64::consts::PI + 2.0 * std::f64::consts::PI * (i as f64 + 0.5) / 100_000.0;
            let r = 10f64.powi(i % 7 - 3);
            let (y, x) = (r * phi.sin(), r * phi.cos());
            assert!((fast_atan2(y, x) - y.atan2(x)).abs() < 3e-7, "{phi}");
        }
        assert_eq!(fast_atan2(0.0, 0.0), 0.0);
    }

    #[test]
    fn decimation_averages_blocks() {
        let z: Vec<Complex32> = (0..12).map(|k| Complex32::new(k as f32, 0.0)).collect();
        let d = decimate(&z, 12.0, 4, 0.0);
        assert_eq!(
            d,
            vec![
                Complex32::new(1.5, 0.0),
                Complex32::new(5.5, 0.0),
                Complex32::new(9.5, 0.0)
            ]
        );
    }

    #[test]
    fn windowed_sinc_interpolates_band_limited_noise_at_any_fraction() {
        // Band-limited periodic noise (±0.2 of the rate, as after decimation to 2.5× the
        // band), evaluated off-grid against its exact Fourier series.
        let n = 1024usize;
        let mut s = 0x1234_5678u32;
        let mut rnd = move || {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            s as f64 / u32::MAX as f64 - 0.5
        };
        let bins: Vec<(f64, f64, f64)> = (-204i32..=204).map(|k| (k as f64, rnd(), rnd())).collect();
        let exact = |t: f64| {
            let (mut re, mut im) = (0.0, 0.0);
            for &(k, a, b) in &bins {
                let (sn, cs) = (2.0 * std::f64::consts::PI * k * t / n as f64).sin_cos();
                re += a * cs - b * sn;
                im += a * sn + b * cs;
            }
            Complex32::new(re as f32, im as f32)
        };
        let x: Vec<Complex32> = (0..n).map(|i| exact(i as f64)).collect();
        let rms = (x.iter().map(|v| v.norm_sqr()).sum::<f32>() / n as f32).sqrt();
        let interp = Interpolator::new();
        for frac in [0.0, 0.13, 0.5, 0.77] {
            let mut err2 = 0f32;
            for i in 400..600 {
                let t = i as f64 + frac;
                err2 += (interp.at(&x, t) - exact(t)).norm_sqr();
            }
            let rel = (err2 / 200.0).sqrt() / rms;
            assert!(rel < 2e-3, "fraction {frac}: relative error {rel}");
        }
    }
}
