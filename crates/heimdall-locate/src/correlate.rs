//! Pair delays by cross-correlation of two spectra with maximum-likelihood (Hannan-Thomson)
//! weights from the per-frequency signal-to-noise ratios, the exact band-limited sub-sample
//! peak, and the Cramér-Rao σ those ratios give.

use num_complex::{Complex32, Complex64};
use rustfft::{Fft, FftDirection};
use serde::{Deserialize, Serialize};

/// Cross-correlation weighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// Plain cross-correlation normalised by the energies.
    Normalised,
    /// Generalised cross-correlation with phase transform (whitened cross-spectrum).
    Phat,
    /// Maximum-likelihood (Hannan-Thomson) weighting: every frequency weighted by what its
    /// signal-to-noise ratios at both receivers let it tell about the delay.
    Ml,
}

/// Least detection ratio ([`DelayEstimate::psr`]) of a delay that is used unless the series are
/// plainly alike ([`STRONG_RHO`]): with no common signal the ratio exceeds 4 at one of fifty
/// lags about once in a thousand pairs.
pub const MIN_PSR: f64 = 4.0;

/// A plain normalised correlation this high at the delay is common signal beyond doubt, whatever
/// the detection ratio: a keyed carrier's envelope puts its weight on a few keying harmonics, so
/// its ratio stays near √(harmonics) ≈ 4 however clean it is.
pub const STRONG_RHO: f64 = 0.5;

/// Largest ambiguity ([`DelayEstimate::ambiguity`]) of a delay that is used: a competing peak
/// within 10 % of the main one inside the possible lags makes the delay a guess between them.
pub const MAX_AMBIGUITY: f64 = 0.9;

/// One delay measurement between two series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DelayEstimate {
    /// Arrival at the first receiver minus arrival at the second (s).
    pub delay_s: f64,
    /// Normalised (plain) correlation at the delay (0..1).
    pub rho: f64,
    /// Detection: the peak over the rms the weighted correlation would have with no common
    /// signal ([`MIN_PSR`] or more to be used).
    pub psr: f64,
    /// The highest other local maximum within the search range (outside the main lobe) over
    /// the peak: 0 unambiguous, 1 two equal peaks (below [`MAX_AMBIGUITY`] to be used).
    pub ambiguity: f64,
    /// Cramér-Rao 1σ of the delay from the per-frequency signal-to-noise ratios (s).
    pub sigma_s: f64,
    /// Weighting that was used.
    pub weighting: Weighting,
    /// Fraction of the delay's noise variance that comes from the first receiver's noise (it
    /// is shared by every pair with that receiver); `share_b` likewise, the rest is the pair's own.
    pub share_a: f64,
    /// Fraction from the second receiver's noise.
    pub share_b: f64,
}

/// A series' spectrum with its per-bin signal-to-noise ratio.
#[derive(Debug, Clone, PartialEq)]
pub struct Spectrum {
    /// Forward FFT of the series.
    pub x: Vec<Complex32>,
    /// Signal-to-noise power ratio per bin (0 where no signal shows).
    pub snr: Vec<f32>,
    /// Smoothed signal power per bin (periodogram above the noise).
    pub signal: Vec<f32>,
    /// Noise power per bin (median of the smoothed periodogram).
    pub noise: f64,
}

impl Spectrum {
    /// The periodogram `|x|²` smoothed over about 1/512 of the spectrum (at least 5 bins); the
    /// noise level is its median (the series are decimated to 2.5× their band, so most bins hold
    /// noise), and a bin's SNR is how far its smoothed power rises above it.
    pub fn new(x: Vec<Complex32>) -> Self {
        let n = x.len();
        let half = (n / 1024).max(2);
        let smooth = cyclic_moving_average(&x, half);
        let mut sorted = smooth.clone();
        let noise = if n == 0 {
            1e-300
        } else {
            sorted.select_nth_unstable_by(n / 2, f64::total_cmp).1.max(1e-300)
        };
        drop(sorted);
        // A bin counts as signal when its smoothed power is clearly above the noise (the
        // smoothed noise scatters by 1/sqrt(bins averaged)).
        let min_excess = 3.0 / ((2 * half + 1) as f64).sqrt();
        let snr = smooth
            .iter()
            .map(|&s| {
                let r = s / noise - 1.0;
                // Capped at 60 dB: beyond, other errors than noise dominate.
                if r > min_excess { r.min(1e6) as f32 } else { 0.0 }
            })
            .collect();
        let signal = smooth.iter().map(|&s| (s - noise).max(0.0) as f32).collect();
        Self { x, snr, signal, noise }
    }
}

/// `|x|²` averaged over `2 half + 1` bins around every bin, cyclically (the spectrum wraps at
/// ± half the rate): a sliding sum in f64, recomputed exactly every 1024 bins (the rounding
/// a strong line leaves carries over at most that far).
fn cyclic_moving_average(x: &[Complex32], half: usize) -> Vec<f64> {
    let n = x.len() as isize;
    let h = half as isize;
    let p = |k: isize| x[k.rem_euclid(n) as usize].norm_sqr() as f64;
    let window_sum = |k: isize| (k - h..=k + h).map(p).sum::<f64>();
    // Within one wrap of the ends (the window is shorter than the spectrum): no division.
    let near = |k: isize| {
        let i = if k < 0 {
            k + n
        } else if k >= n {
            k - n
        } else {
            k
        };
        x[i as usize].norm_sqr() as f64
    };
    let scale = 1.0 / (2 * half + 1) as f64;
    let mut out = Vec::with_capacity(x.len());
    let mut sum = 0.0;
    for k in 0..n {
        if k % 1024 == 0 || 2 * h + 1 > n {
            sum = window_sum(k);
        } else {
            sum += near(k + h) - near(k - h - 1);
        }
        out.push(sum * scale);
    }
    out
}

/// Reusable scratch for [`correlate`].
#[derive(Debug, Default)]
pub struct Scratch {
    cross: Vec<Complex32>,
    plain: Vec<Complex32>,
    spectrum: Vec<Complex32>,
    fft_scratch: Vec<Complex32>,
}

/// Correlates two spectra (of equal length `n`, series at `rate_hz`) within `±half_band_hz`,
/// searching lags within `±max_lag_s`, with maximum-likelihood weights from the bins' SNRs.
/// `real` says both series are real (the peak is then the largest positive value, else the
/// largest magnitude, the common phase being unknown). `ifft` is an inverse FFT of length `n`,
/// or the forward one (its output, the correlation at negated lags, is put back in order), so
/// that one plan serves both ways.
#[allow(clippy::too_many_arguments)]
pub fn correlate(
    a: &Spectrum,
    b: &Spectrum,
    rate_hz: f64,
    half_band_hz: f64,
    max_lag_s: f64,
    real: bool,
    ifft: &dyn Fft<f32>,
    scratch: &mut Scratch,
) -> Option<DelayEstimate> {
    let n = a.x.len();
    let freq = |k: usize| if k > n / 2 { k as f64 - n as f64 } else { k as f64 } * rate_hz / n as f64;
    let (mut ea, mut eb, mut n_band) = (0f64, 0f64, 0usize);
    let (mut wsum, mut fsum, mut f2sum) = (0f64, 0f64, 0f64);
    // Σ w²/r, Σ f w²/r, Σ f² w²/r for each receiver: its share of the delay variance.
    let (mut sa, mut sb) = ([0f64; 3], [0f64; 3]);
    scratch.cross.clear();
    scratch.cross.resize(n, Complex32::new(0.0, 0.0));
    scratch.plain.clear();
    scratch.plain.resize(n, Complex32::new(0.0, 0.0));
    // The bins within the band: from 0 up, and from the most negative frequency up.
    let keep = |k: &usize| freq(*k).abs() <= half_band_hz;
    let in_band = (0..=n / 2)
        .take_while(keep)
        .chain((n / 2 + 1..n).skip_while(|k| !keep(k)));
    let (ax, bx) = (&a.x[..n], &b.x[..n]);
    let (a_snr, b_snr, a_sig, b_sig) = (&a.snr[..n], &b.snr[..n], &a.signal[..n], &b.signal[..n]);
    for k in in_band {
        let f = freq(k);
        let c = ax[k] * bx[k].conj();
        scratch.plain[k] = c;
        ea += ax[k].norm_sqr() as f64;
        eb += bx[k].norm_sqr() as f64;
        let (ra, rb) = (a_snr[k] as f64, b_snr[k] as f64);
        if ra <= 0.0 || rb <= 0.0 {
            continue;
        }
        n_band += 1;
        // |γ|²/(1-|γ|²) of the two receivers at this frequency, and the ML weight on the
        // cross-spectrum: that over the smoothed signal cross-power.
        let inv = 1.0 / (1.0 + ra + rb);
        let w = ra * rb * inv;
        wsum += w;
        fsum += w * f;
        f2sum += w * f * f;
        // w² / r_a = w r_b / (1 + r_a + r_b), likewise for b: no further division.
        for (acc, v) in [(&mut sa, w * rb * inv), (&mut sb, w * ra * inv)] {
            acc[0] += v;
            acc[1] += v * f;
            acc[2] += v * f * f;
        }
        let sig = (a_sig[k] as f64 * b_sig[k] as f64).sqrt().max(1e-30);
        scratch.cross[k] = c * (w / sig) as f32;
    }
    if ea <= 0.0 || eb <= 0.0 || n_band < 4 {
        return None;
    }
    // Fisher information of the delay: Σ 2 (2π (f - f̄))² |γ|²/(1-|γ|²); a real series'
    // spectrum is Hermitian, so its bins count once per ± pair.
    let centred = if real { f2sum } else { f2sum - fsum * fsum / wsum };
    let info = 2.0 * (2.0 * std::f64::consts::PI).powi(2) * centred.max(0.0) / if real { 2.0 } else { 1.0 };
    if info <= 0.0 {
        return None;
    }
    let sigma = 1.0 / info.sqrt();
    // The estimate is Σ (f - f̄) w · phase error / Σ (f - f̄)² w, each bin's phase variance
    // (1/r_a + 1/r_b + 1/(r_a r_b)) / 2 = 1 / (2 w): receiver a's part of the variance is
    // Σ (f - f̄)² w² / r_a over Σ (f - f̄)² w.
    let fbar = if real { 0.0 } else { fsum / wsum };
    let share = |s: [f64; 3]| ((s[2] - 2.0 * fbar * s[1] + fbar * fbar * s[0]) / centred).clamp(0.0, 1.0);
    let (share_a, share_b) = (share(sa), share(sb));
    let max_lag = ((max_lag_s * rate_hz).ceil() as usize + 3).min(n / 2 - 1);
    scratch.spectrum.clone_from(&scratch.cross);
    scratch
        .fft_scratch
        .resize(ifft.get_inplace_scratch_len(), Complex32::new(0.0, 0.0));
    ifft.process_with_scratch(&mut scratch.cross, &mut scratch.fft_scratch);
    if ifft.fft_direction() == FftDirection::Forward {
        // Σ X_k e^{-2πikl/n} is the correlation at lag -l: back in order.
        scratch.cross[1..].reverse();
    }
    let r = &scratch.cross;
    let metric = |v: Complex32| if real { v.re as f64 } else { v.norm() as f64 };
    let lag_index = |l: isize| l.rem_euclid(n as isize) as usize;
    let (mut k_best, mut v_best) = (0isize, f64::MIN);
    for l in -(max_lag as isize)..=(max_lag as isize) {
        let v = metric(r[lag_index(l)]);
        if v > v_best {
            v_best = v;
            k_best = l;
        }
    }
    if v_best <= 0.0 {
        return None;
    }
    // Detection: the peak against the rms the weighted correlation has at any lag when the two
    // series share nothing (independent bins: Σ |c_k|², for a real series' real part too). Lags
    // the geometry rules out do not count: a keyed carrier's correlation repeats every keying
    // period, far beyond any baseline, and that is no ambiguity.
    let noise_rms = scratch.spectrum.iter().map(|c| c.norm_sqr() as f64).sum::<f64>().sqrt();
    let psr = v_best / noise_rms.max(1e-30);
    // Ambiguity: the highest local maximum inside the search range outside the main lobe (two
    // null widths each side of the peak; the null width is 1 / B with B = √12 × the weights'
    // rms bandwidth), over the peak.
    let b_eff = 12f64.sqrt() * (centred / wsum).max(0.0).sqrt();
    let lobe = ((2.0 * rate_hz / b_eff.max(1e-9)).ceil().min(n as f64 / 4.0) as isize).max(2);
    let value = |l: isize| metric(r[lag_index(l)]);
    let side = (-(max_lag as isize)..=(max_lag as isize))
        .filter(|l| (l - k_best).abs() > lobe)
        .map(|l| (value(l), value(l - 1), value(l + 1)))
        .filter(|(v, before, after)| v >= before && v >= after)
        .map(|(v, _, _)| v)
        .fold(0.0, f64::max);
    let ambiguity = (side / v_best).clamp(0.0, 1.0);
    let frac = refine_peak(r, k_best, real);
    let tau = refine_exact(&scratch.spectrum, k_best as f64 + frac, real);
    // Plain normalised correlation at the delay.
    let acc = exact_sums::<false>(&scratch.plain, tau)[0];
    let plain = if real { acc.re } else { acc.norm() };
    Some(DelayEstimate {
        delay_s: tau / rate_hz,
        rho: (plain / (ea * eb).sqrt()).clamp(0.0, 1.0),
        psr,
        ambiguity,
        sigma_s: sigma,
        weighting: Weighting::Ml,
        share_a,
        share_b,
    })
}

/// Band-limited interpolation (Lanczos-windowed sinc, 8 taps each side) of the correlation
/// around integer lag `k`, maximised by golden-section search over ±1 sample.
fn refine_peak(r: &[Complex32], k: isize, real: bool) -> f64 {
    const TAPS: isize = 8;
    let n = r.len() as isize;
    let sinc = |x: f64| {
        if x.abs() < 1e-12 {
            1.0
        } else {
            (std::f64::consts::PI * x).sin() / (std::f64::consts::PI * x)
        }
    };
    let value = |d: f64| {
        let (mut re, mut im) = (0.0, 0.0);
        for j in -TAPS..=TAPS {
            let x = d - j as f64;
            if x.abs() >= TAPS as f64 {
                continue;
            }
            let w = sinc(x) * sinc(x / TAPS as f64);
            let v = r[(k + j).rem_euclid(n) as usize];
            re += w * v.re as f64;
            im += w * v.im as f64;
        }
        if real { re } else { (re * re + im * im).sqrt() }
    };
    let g = (5f64.sqrt() - 1.0) / 2.0;
    let (mut lo, mut hi) = (-1.0, 1.0);
    let (mut c1, mut c2) = (hi - g * (hi - lo), lo + g * (hi - lo));
    let (mut v1, mut v2) = (value(c1), value(c2));
    for _ in 0..40 {
        if v1 > v2 {
            hi = c2;
            c2 = c1;
            v2 = v1;
            c1 = hi - g * (hi - lo);
            v1 = value(c1);
        } else {
            lo = c1;
            c1 = c2;
            v1 = v2;
            c2 = lo + g * (hi - lo);
            v2 = value(c2);
        }
    }
    0.5 * (lo + hi)
}

/// Newton steps on the exact band-limited correlation `r(τ) = Σ X_k e^{2πi k τ / n}` of the
/// cross-spectrum `spec` (zero outside the band) from lag `tau` (samples): the maximum of
/// `Re r` when `real`, else of `|r|²`. Falls back to `tau` when a step leaves ±0.5 sample.
fn refine_exact(spec: &[Complex32], tau: f64, real: bool) -> f64 {
    let mut t = tau;
    for _ in 0..3 {
        let [r, r1, r2] = exact_sums::<true>(spec, t);
        let (g, g1) = if real {
            (r1.re, r2.re)
        } else {
            (2.0 * (r.conj() * r1).re, 2.0 * (r1.norm_sqr() + (r.conj() * r2).re))
        };
        if g1 >= 0.0 {
            return tau;
        }
        let step = g / g1;
        t -= step;
        if (t - tau).abs() > 0.5 {
            return tau;
        }
        // Converged (Newton's error squares every step): a further pass changes nothing.
        if step.abs() < 1e-9 {
            break;
        }
    }
    t
}

/// `r(τ) = Σ X_k e^{iωτ}` over the FFT bins `spec` (ω = 2π k / n, negative frequencies from
/// bin n/2 + 1) and, when `DERIV`, its first and second derivatives in τ (samples). Four
/// interleaved phasor recurrences (independent chains), zero bins skipped.
fn exact_sums<const DERIV: bool>(spec: &[Complex32], tau: f64) -> [Complex64; 3] {
    const L: usize = 4;
    let n = spec.len();
    let w = 2.0 * std::f64::consts::PI / n as f64;
    let zero = Complex64::new(0.0, 0.0);
    let mut acc = [[zero; 3]; L];
    let step = Complex64::from_polar(1.0, w * L as f64 * tau);
    for (first, kk0) in [(0usize, 0f64), (n / 2 + 1, (n / 2 + 1) as f64 - n as f64)] {
        let last = if first == 0 { n / 2 + 1 } else { n };
        let mut ph: [Complex64; L] = std::array::from_fn(|j| Complex64::from_polar(1.0, w * (kk0 + j as f64) * tau));
        for (c, chunk) in spec[first..last].chunks(L).enumerate() {
            for (j, x) in chunk.iter().enumerate() {
                if x.re != 0.0 || x.im != 0.0 {
                    let v = Complex64::new(x.re as f64, x.im as f64) * ph[j];
                    acc[j][0] += v;
                    if DERIV {
                        let om = w * (kk0 + (c * L + j) as f64);
                        acc[j][1] += v * Complex64::new(0.0, om);
                        acc[j][2] -= v * (om * om);
                    }
                }
                ph[j] *= step;
            }
        }
    }
    let mut out = [zero; 3];
    for a in &acc {
        for (o, v) in out.iter_mut().zip(a) {
            *o += v;
        }
    }
    out
}

/// Fuses several estimates of one delay (different features) with DerSimonian-Laird
/// random-effects weights: when they disagree beyond their random errors, the disagreement is
/// an error common to all of them, so they are weighted more equally and the fused σ grows.
pub fn fuse(estimates: &[(f64, f64)]) -> (f64, f64) {
    if estimates.len() == 1 {
        return estimates[0];
    }
    let w: Vec<f64> = estimates.iter().map(|(_, s)| 1.0 / (s * s).max(1e-30)).collect();
    let sw: f64 = w.iter().sum();
    let mean = estimates.iter().zip(&w).map(|((d, _), w)| d * w).sum::<f64>() / sw;
    let q: f64 = estimates.iter().zip(&w).map(|((d, _), w)| w * (d - mean).powi(2)).sum();
    let k = estimates.len() as f64;
    let denom = sw - w.iter().map(|x| x * x).sum::<f64>() / sw;
    let tau2 = if denom > 0.0 {
        ((q - (k - 1.0)) / denom).max(0.0)
    } else {
        0.0
    };
    let ws: Vec<f64> = estimates.iter().map(|(_, s)| 1.0 / (s * s + tau2).max(1e-30)).collect();
    let sws: f64 = ws.iter().sum();
    let fused = estimates.iter().zip(&ws).map(|((d, _), w)| d * w).sum::<f64>() / sws;
    (fused, (1.0 / sws).sqrt())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustfft::FftPlanner;

    #[test]
    fn finds_a_fractional_delay_of_band_limited_noise() {
        use rand::{Rng, SeedableRng};
        let n = 8192;
        let rate = 1000.0;
        let mut rng = rand::rngs::SmallRng::seed_from_u64(3);
        let mut planner = FftPlanner::<f32>::new();
        let fwd = planner.plan_fft_forward(n);
        let inv = planner.plan_fft_inverse(n);
        let mut s: Vec<Complex32> = (0..n)
            .map(|_| Complex32::new(rng.random::<f32>() - 0.5, rng.random::<f32>() - 0.5))
            .collect();
        fwd.process(&mut s);
        // Band-limit to ±200 Hz and delay b by 3.37 samples in the frequency domain.
        let delay = 3.37;
        let mut a = s.clone();
        let mut b = s.clone();
        for k in 0..n {
            let f = if k > n / 2 { k as f64 - n as f64 } else { k as f64 } * rate / n as f64;
            if f.abs() > 200.0 {
                a[k] = Complex32::new(0.0, 0.0);
                b[k] = Complex32::new(0.0, 0.0);
            } else {
                let ph = -2.0 * std::f64::consts::PI * f * delay / rate;
                b[k] *= Complex32::from_polar(1.0, ph as f32);
            }
        }
        let mut scratch = Scratch::default();
        let (sb, sa) = (Spectrum::new(b), Spectrum::new(a));
        let e = correlate(&sb, &sa, rate, 250.0, 0.02, false, inv.as_ref(), &mut scratch).unwrap();
        assert!((e.delay_s * rate - delay).abs() < 1e-3, "{e:?}");
        assert!(e.rho > 0.7, "{e:?}");
        // The forward plan in place of the inverse: the same delay.
        let f = correlate(&sb, &sa, rate, 250.0, 0.02, false, fwd.as_ref(), &mut scratch).unwrap();
        assert!((f.delay_s - e.delay_s).abs() * rate < 1e-6, "{f:?} vs {e:?}");
    }

    #[test]
    fn ml_sigma_matches_the_scatter_of_noisy_delays() {
        use rand::SeedableRng;
        use rand_distr::{Distribution, Normal};
        let (n, rate, delay) = (8192, 1000.0, 2.6);
        let mut rng = rand::rngs::SmallRng::seed_from_u64(7);
        let unit = Normal::new(0.0f32, 1.0).unwrap();
        let mut planner = FftPlanner::<f32>::new();
        let (fwd, inv) = (planner.plan_fft_forward(n), planner.plan_fft_inverse(n));
        let mut scratch = Scratch::default();
        let mut z2 = Vec::new();
        for _ in 0..40 {
            // A signal within ±150 Hz (shaped spectrum), at SNR about 0 dB in band, plus white noise.
            let mut s: Vec<Complex32> = (0..n)
                .map(|_| Complex32::new(unit.sample(&mut rng), unit.sample(&mut rng)))
                .collect();
            fwd.process(&mut s);
            let (mut a, mut b) = (s.clone(), s);
            for k in 0..n {
                let f = if k > n / 2 { k as f64 - n as f64 } else { k as f64 } * rate / n as f64;
                let g = if f.abs() > 150.0 {
                    0.0
                } else {
                    (1.0 - f.abs() / 150.0) as f32 * 3.0
                };
                let ph = -2.0 * std::f64::consts::PI * f * delay / rate;
                a[k] *= g;
                b[k] *= Complex32::from_polar(g, ph as f32);
            }
            let noisy = |mut x: Vec<Complex32>, rng: &mut rand::rngs::SmallRng| {
                inv.process(&mut x);
                for v in x.iter_mut() {
                    *v = *v / n as f32 + Complex32::new(unit.sample(rng), unit.sample(rng));
                }
                fwd.process(&mut x);
                Spectrum::new(x)
            };
            let (sb, sa) = (noisy(b, &mut rng), noisy(a, &mut rng));
            let e = correlate(&sb, &sa, rate, 450.0, 0.02, false, inv.as_ref(), &mut scratch).unwrap();
            z2.push(((e.delay_s * rate - delay) / (e.sigma_s * rate)).powi(2));
        }
        let z = (z2.iter().sum::<f64>() / z2.len() as f64).sqrt();
        assert!((0.7..1.4).contains(&z), "rms of error/σ {z}");
    }

    #[test]
    fn sliding_average_matches_the_direct_cyclic_sum() {
        // A strong line (power 10⁶) among values of order 1: exact but for rounding of the line.
        for n in [3usize, 7, 5000] {
            let x: Vec<Complex32> = (0..n)
                .map(|k| Complex32::new(if k == n / 3 { 1e3 } else { (k % 13) as f32 * 0.1 }, 0.5))
                .collect();
            let half = (n / 1024).max(2);
            let s = cyclic_moving_average(&x, half);
            for (k, v) in s.iter().enumerate() {
                let direct = (0..2 * half + 1)
                    .map(|j| x[(k + n * 3 + j - half) % n].norm_sqr() as f64)
                    .sum::<f64>()
                    / (2 * half + 1) as f64;
                assert!((v - direct).abs() <= 1e-8, "n {n} bin {k}: {v} vs {direct}");
            }
        }
    }

    #[test]
    fn fusion_widens_with_disagreement() {
        let (d, s) = fuse(&[(10.0, 0.1), (12.0, 0.1)]);
        assert!((d - 11.0).abs() < 1e-9);
        assert!(s > 0.9, "{s}");
        let (d, s) = fuse(&[(10.0, 1.0), (10.1, 1.0)]);
        assert!((d - 10.05).abs() < 1e-9 && (s - 0.5f64.sqrt()).abs() < 1e-9);
    }
}
