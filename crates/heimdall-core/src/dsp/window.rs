//! Windows and their properties.

/// The periodic ("DFT-even") Hann window of length `n`, as `scipy.signal.get_window("hann", n)`:
/// `w[k] = 0.5 - 0.5 cos(2 pi k / n)`. Computed in `f64`, returned as `f32`.
///
/// ```
/// let w = heimdall_core::dsp::hann_periodic(4);
/// assert_eq!(w, vec![0.0, 0.5, 1.0, 0.5]);
/// ```
pub fn hann_periodic(n: usize) -> Vec<f32> {
    if n == 1 {
        return vec![1.0];
    }
    (0..n)
        .map(|k| (0.5 - 0.5 * (std::f64::consts::TAU * k as f64 / n as f64).cos()) as f32)
        .collect()
}

/// Normalised overlap correlation of a window with itself shifted by `shift` samples:
/// `sum w[k] w[k+shift] / sum w[k]^2`. For white noise this is the amplitude correlation of
/// the same FFT bin in two segments `shift` samples apart.
pub(crate) fn overlap_correlation(w: &[f32], shift: usize) -> f64 {
    let energy: f64 = w.iter().map(|&x| f64::from(x) * f64::from(x)).sum();
    if shift >= w.len() || energy <= 0.0 {
        return 0.0;
    }
    let cross: f64 = w
        .iter()
        .zip(&w[shift..])
        .map(|(&a, &b)| f64::from(a) * f64::from(b))
        .sum();
    cross / energy
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hann_50_percent_overlap_correlation_is_one_sixth() {
        let w = hann_periodic(1024);
        assert!((overlap_correlation(&w, 512) - 1.0 / 6.0).abs() < 1e-6);
        assert_eq!(overlap_correlation(&w, 1024), 0.0);
        assert!((w.iter().map(|&x| f64::from(x)).sum::<f64>() - 512.0).abs() < 1e-3);
    }
}
