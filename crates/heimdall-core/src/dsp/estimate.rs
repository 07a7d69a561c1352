//! Metric estimation from accumulated Welch spectra and lag cross-products.

use num_complex::Complex64;

use super::stats::{normalised_gamma_median, normalised_gamma_upper_quantile, welch_gamma_shape};
use super::welch::signed_bin;

/// Lag (in segments) of the long cross-product used for fine frequency estimation.
pub(crate) const LONG_LAG: usize = 8;

/// `|mean|^2 * samples / noise_power` above which a DC component is reported (Exp(1) tail 1e-6).
const DC_DETECTION: f64 = 13.8;
/// Half-width of the minimum signal region, bins (covers the Hann main lobe of an off-bin tone).
const MIN_HALF_WIDTH: i64 = 3;
/// Minimum segments past the lag for the long lag to be used.
const MIN_LONG_PRODUCTS: u64 = 4;

pub(crate) struct SpectrumInputs<'a> {
    /// Densities in natural FFT order (one-sided for real input).
    pub(crate) density: &'a [f64],
    /// Accumulated `|X|^2` to density factor per bin.
    pub(crate) bin_scale: &'a [f64],
    pub(crate) lag1: &'a [Complex64],
    pub(crate) lag_long: &'a [Complex64],
    pub(crate) n: usize,
    pub(crate) hop: usize,
    pub(crate) real: bool,
    pub(crate) sample_rate_hz: f64,
    pub(crate) segments: u64,
    pub(crate) rho: &'a [f64],
    pub(crate) samples: u64,
    pub(crate) dc_mean: Complex64,
    /// Density in bin 0 per unit of DC power.
    pub(crate) dc_bin_gain: f64,
    pub(crate) false_alarm_probability: f64,
    pub(crate) dc_guard_bins: usize,
}

#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct Estimate {
    /// Noise floor density, full-scale units per Hz.
    pub(crate) floor: Option<f64>,
    pub(crate) noise_power: Option<f64>,
    pub(crate) signal_power: Option<f64>,
    /// Signal frequency in baseband, Hz.
    pub(crate) frequency_hz: Option<f64>,
    pub(crate) dc_power: Option<f64>,
}

fn median(v: &mut [f64]) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let len = v.len();
    let mid = len / 2;
    let (lower, m, _) = v.select_nth_unstable_by(mid, f64::total_cmp);
    let m = *m;
    if len % 2 == 1 {
        return Some(m);
    }
    let below = lower.iter().copied().max_by(f64::total_cmp).unwrap_or(m);
    Some(0.5 * (below + m))
}

fn wrap_pi(x: f64) -> f64 {
    let tau = std::f64::consts::TAU;
    x - tau * (x / tau).round()
}

pub(crate) fn estimate(inp: &SpectrumInputs<'_>) -> Estimate {
    let density = inp.density;
    let nb = density.len();
    let n = inp.n;
    let fs = inp.sample_rate_hz;
    let df = fs / n as f64;
    let bandwidth = if inp.real { fs / 2.0 } else { fs };
    let guard = inp.dc_guard_bins as u64;
    let signed = |k: usize| if inp.real { k as i64 } else { signed_bin(k, n) };
    let is_dc = |k: usize| signed(k).unsigned_abs() <= guard;
    let nyquist = |k: usize| inp.real && n.is_multiple_of(2) && k == n / 2;
    // Natural index of `k + d`, circular for IQ, clamped (None) for audio.
    let offset = |k: usize, d: i64| -> Option<usize> {
        let j = k as i64 + d;
        if inp.real {
            (0..nb as i64).contains(&j).then_some(j as usize)
        } else {
            Some(j.rem_euclid(n as i64) as usize)
        }
    };

    let alpha = welch_gamma_shape(inp.segments, inp.rho);
    let median_ratio = normalised_gamma_median(alpha);
    let floor_bin = |k: usize| !is_dc(k) && !nyquist(k);
    let mut scratch: Vec<f64> = (0..nb).filter(|&k| floor_bin(k)).map(|k| density[k]).collect();
    let n_floor = scratch.len();
    let dc_p = inp.dc_mean.norm_sqr();
    let mut out = Estimate::default();
    let Some(floor0) = median(&mut scratch)
        .map(|m| m / median_ratio)
        .filter(|f| *f > 0.0 && f.is_finite())
    else {
        // No noise at all (e.g. digital silence or a pure constant).
        out.dc_power = (dc_p > 0.0).then_some(dc_p);
        return out;
    };
    let noise0 = floor0 * bandwidth;
    let samples = inp.samples as f64;
    if dc_p * samples > DC_DETECTION * noise0 {
        out.dc_power = Some(dc_p - noise0 / samples);
    }
    let dc_spike = dc_p * inp.dc_bin_gain > floor0;
    out.floor = Some(floor0);
    out.noise_power = Some(noise0);

    // Strongest bin over the full band (minus DC when a DC spike shows).
    let searchable = |k: usize| !((inp.real && k == 0) || (dc_spike && is_dc(k)));
    let mut peak: Option<(usize, f64)> = None;
    let mut n_search = 0usize;
    for (k, &d) in density.iter().enumerate() {
        if searchable(k) {
            n_search += 1;
            if peak.is_none_or(|(_, p)| d > p) {
                peak = Some((k, d));
            }
        }
    }
    let Some((kp, peak_density)) = peak else {
        return out;
    };
    let threshold = normalised_gamma_upper_quantile(alpha, inp.false_alarm_probability / n_search as f64);
    let floor_rel_sd = 1.2533 / (alpha * n_floor as f64 / 2.0).sqrt();
    if peak_density <= floor0 * threshold * (1.0 + 3.0 * floor_rel_sd) {
        return out;
    }

    // Signal region: the main lobe, grown while the bins stand above the noise.
    let grow = floor0 * (1.0 + 3.0 / alpha.sqrt());
    let max_half = (nb / 4) as i64;
    let extent = |dir: i64| {
        let mut h = MIN_HALF_WIDTH;
        while h < max_half {
            match offset(kp, dir * (h + 1)) {
                Some(j) if density[j] > grow => h += 1,
                _ => break,
            }
        }
        h
    };
    let (lo, hi) = (extent(-1), extent(1));
    let mut in_region = vec![false; nb];
    for d in -lo..=hi {
        if let Some(j) = offset(kp, d) {
            in_region[j] = true;
        }
    }
    scratch.clear();
    scratch.extend((0..nb).filter(|&k| floor_bin(k) && !in_region[k]).map(|k| density[k]));
    let floor = if scratch.len() >= 8 {
        median(&mut scratch).map_or(floor0, |m| m / median_ratio)
    } else {
        floor0
    };
    if !(floor > 0.0 && floor.is_finite()) {
        return out;
    }
    let noise = floor * bandwidth;
    let signal: f64 = (0..nb)
        .filter(|&k| in_region[k] && !(dc_spike && is_dc(k)))
        .map(|k| (density[k] - floor) * df)
        .sum();
    out.floor = Some(floor);
    out.noise_power = Some(noise);
    if signal.is_nan() || signal <= 0.0 {
        return out;
    }
    out.signal_power = Some(signal);

    // Frequency: power centroid of the peak bins, then the lag phases.
    let (mut wsum, mut dsum) = (0.0, 0.0);
    for d in -1..=1 {
        if let Some(j) = offset(kp, d) {
            let w = (density[j] - floor).max(0.0);
            wsum += w;
            dsum += w * d as f64;
        }
    }
    let mut f = (signed(kp) as f64 + if wsum > 0.0 { dsum / wsum } else { 0.0 }) * df;
    let lag_sum = |acc: &[Complex64], lag: usize| -> Complex64 {
        let rho = inp.rho.get(lag - 1).copied().unwrap_or(0.0);
        let k_seg = inp.segments as f64;
        let products = (k_seg - lag as f64).max(0.0);
        let mut c = Complex64::default();
        for d in -1..=1 {
            if let Some(j) = offset(kp, d) {
                // Expected cross-product of overlapping noise: E|X|^2 rho e^{i 2 pi j lag hop / n}.
                let noise_x2 = floor / (inp.bin_scale[j] * k_seg);
                let theta = std::f64::consts::TAU * ((j * lag * inp.hop) % n) as f64 / n as f64;
                c += acc[j] - Complex64::from_polar(products * rho * noise_x2, theta);
            }
        }
        c
    };
    let refine = |f_prev: f64, c: Complex64, lag: usize| -> f64 {
        if c.norm_sqr() <= 0.0 || !c.re.is_finite() || !c.im.is_finite() {
            return f_prev;
        }
        let period = fs / (lag * inp.hop) as f64;
        let tau = std::f64::consts::TAU;
        f_prev + wrap_pi(c.arg() - tau * f_prev / period) * period / tau
    };
    if inp.segments >= 2 {
        f = refine(f, lag_sum(inp.lag1, 1), 1);
    }
    if inp.segments >= LONG_LAG as u64 + MIN_LONG_PRODUCTS {
        f = refine(f, lag_sum(inp.lag_long, LONG_LAG), LONG_LAG);
    }
    let f = if inp.real {
        f.clamp(0.0, fs / 2.0)
    } else {
        (f + fs / 2.0).rem_euclid(fs) - fs / 2.0
    };
    out.frequency_hz = f.is_finite().then_some(f);
    out
}
