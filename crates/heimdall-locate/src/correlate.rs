//! Pair delays by cross-correlation of two spectra: plain normalised or GCC-PHAT, the one with
//! the higher peak-to-sidelobe ratio; band-limited sub-sample peak; a Cramér-Rao-style σ.

use num_complex::Complex32;
use rustfft::Fft;
use serde::{Deserialize, Serialize};

/// Cross-correlation weighting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Weighting {
    /// Plain cross-correlation normalised by the energies.
    Normalised,
    /// Generalised cross-correlation with phase transform (whitened cross-spectrum).
    Phat,
}

/// One delay measurement between two series.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DelayEstimate {
    /// Arrival at the first receiver minus arrival at the second (s).
    pub delay_s: f64,
    /// Normalised correlation at the peak (0..1).
    pub rho: f64,
    /// Peak over the rms of the correlation away from the peak.
    pub psr: f64,
    /// Random 1σ of the delay from the peak's sharpness and the correlation (s).
    pub sigma_s: f64,
    /// Weighting that was used.
    pub weighting: Weighting,
}

/// Reusable scratch for [`correlate`].
#[derive(Debug, Default)]
pub struct Scratch {
    cross: Vec<Complex32>,
    fft_scratch: Vec<Complex32>,
}

/// Correlates two spectra (forward FFTs of equal length `n` of series at `rate_hz`) within
/// `±half_band_hz`, searching lags within `±max_lag_s`. `real` says both series are real (the
/// peak is then the largest positive value, else the largest magnitude). Tries both
/// weightings and keeps the one with the higher peak-to-sidelobe ratio when `try_phat`.
#[allow(clippy::too_many_arguments)]
pub fn correlate(
    a: &[Complex32],
    b: &[Complex32],
    rate_hz: f64,
    half_band_hz: f64,
    max_lag_s: f64,
    real: bool,
    try_phat: bool,
    ifft: &dyn Fft<f32>,
    scratch: &mut Scratch,
) -> Option<DelayEstimate> {
    let n = a.len();
    let in_band = |k: usize| {
        let f = if k > n / 2 { k as f64 - n as f64 } else { k as f64 } * rate_hz / n as f64;
        (f.abs() <= half_band_hz, f)
    };
    let (mut ea, mut eb, mut n_band) = (0f64, 0f64, 0usize);
    let (mut wsum, mut fsum, mut f2sum) = (0f64, 0f64, 0f64);
    for k in 0..n {
        let (inb, f) = in_band(k);
        if inb {
            ea += a[k].norm_sqr() as f64;
            eb += b[k].norm_sqr() as f64;
            n_band += 1;
            let w = (a[k] * b[k].conj()).norm() as f64;
            wsum += w;
            fsum += w * f;
            f2sum += w * f * f;
        }
    }
    if ea <= 0.0 || eb <= 0.0 || n_band < 4 {
        return None;
    }
    let beta2 = (f2sum / wsum - (fsum / wsum).powi(2)).max(1e-12);
    let max_lag = ((max_lag_s * rate_hz).ceil() as usize + 3).min(n / 2 - 1);
    let mut best: Option<DelayEstimate> = None;
    let weightings: &[Weighting] = if try_phat {
        &[Weighting::Normalised, Weighting::Phat]
    } else {
        &[Weighting::Normalised]
    };
    for &weighting in weightings {
        scratch.cross.clear();
        scratch.cross.extend((0..n).map(|k| {
            if !in_band(k).0 {
                return Complex32::new(0.0, 0.0);
            }
            let x = a[k] * b[k].conj();
            match weighting {
                Weighting::Normalised => x,
                Weighting::Phat => {
                    let m = x.norm();
                    if m > 0.0 { x / m } else { x }
                }
            }
        }));
        let norm = match weighting {
            Weighting::Normalised => (ea * eb).sqrt(),
            Weighting::Phat => n_band as f64,
        };
        scratch
            .fft_scratch
            .resize(ifft.get_inplace_scratch_len(), Complex32::new(0.0, 0.0));
        ifft.process_with_scratch(&mut scratch.cross, &mut scratch.fft_scratch);
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
            continue;
        }
        // Peak-to-sidelobe: rms away from the main lobe (2 / bandwidth each side).
        let lobe = ((2.0 * rate_hz / (2.0 * half_band_hz)).ceil() as isize).max(2);
        let (mut s2, mut cnt) = (0f64, 0usize);
        for (i, v) in r.iter().enumerate() {
            let l = if i > n / 2 { i as isize - n as isize } else { i as isize };
            if (l - k_best).abs() > lobe {
                s2 += v.norm_sqr() as f64;
                cnt += 1;
            }
        }
        let psr = v_best / (s2 / cnt.max(1) as f64).sqrt().max(1e-30);
        let frac = refine_peak(r, k_best, real);
        let rho = (v_best / norm).clamp(0.0, 1.0);
        let rc = rho.min(0.999);
        let snr = rc / (1.0 - rc);
        let sigma = 1.0 / (2.0 * std::f64::consts::PI * beta2.sqrt() * (n_band as f64 * snr).sqrt());
        let est = DelayEstimate {
            delay_s: (k_best as f64 + frac) / rate_hz,
            rho,
            psr,
            sigma_s: sigma,
            weighting,
        };
        if best.as_ref().is_none_or(|b| est.psr > b.psr) {
            best = Some(est);
        }
    }
    best
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
        let e = correlate(&b, &a, rate, 250.0, 0.02, false, true, inv.as_ref(), &mut scratch).unwrap();
        assert!((e.delay_s * rate - delay).abs() < 0.01, "{e:?}");
        assert!(e.rho > 0.7, "{e:?}");
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
