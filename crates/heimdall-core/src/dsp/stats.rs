//! Statistics of averaged periodograms: the regularised incomplete gamma function, used to
//! correct the median noise-floor estimate for its bias and to set detection thresholds.
//!
//! A Welch bin of complex Gaussian noise averaged over `K` segments is a weighted sum of `K`
//! exponentials (weights = eigenvalues of the segments' correlation matrix). It is modelled
//! as a Gamma variable with the same mean and variance (Satterthwaite), shape
//! `alpha = K^2 / (K + 2 sum_j (K - j) rho_j^2)` where `rho_j` is the window's overlap
//! correlation at `j` hops. That is exact for `K = 1` and very close for larger `K`.

/// Shape of the Gamma model for a Welch bin averaged over `segments` segments, given the
/// amplitude correlations `rho[j-1]` between segments `j` hops apart.
pub(crate) fn welch_gamma_shape(segments: u64, rho: &[f64]) -> f64 {
    let k = segments as f64;
    if k < 1.0 {
        return 1.0;
    }
    let mut var = k;
    for (j, r) in rho.iter().enumerate() {
        let lag = (j + 1) as f64;
        if lag >= k {
            break;
        }
        var += 2.0 * (k - lag) * r * r;
    }
    k * k / var
}

/// `ln Gamma(x)` for `x > 0` (Lanczos, g = 7, n = 9).
fn ln_gamma(x: f64) -> f64 {
    const G: f64 = 7.0;
    const C: [f64; 9] = [
        0.999_999_999_999_809_9,
        676.520_368_121_885_1,
        -1_259.139_216_722_402_8,
        771.323_428_777_653_1,
        -176.615_029_162_140_6,
        12.507_343_278_686_905,
        -0.138_571_095_265_720_12,
        9.984_369_578_019_572e-6,
        1.505_632_735_149_311_6e-7,
    ];
    if x < 0.5 {
        // Reflection.
        let pi = std::f64::consts::PI;
        return (pi / (pi * x).sin()).ln() - ln_gamma(1.0 - x);
    }
    let x = x - 1.0;
    let mut a = C[0];
    let t = x + G + 0.5;
    for (i, c) in C.iter().enumerate().skip(1) {
        a += c / (x + i as f64);
    }
    0.5 * (std::f64::consts::TAU).ln() + (x + 0.5) * t.ln() - t + a.ln()
}

const MAX_ITER: usize = 1_000_000;

/// Regularised upper incomplete gamma `Q(a, x) = Gamma(a, x) / Gamma(a)`.
pub(crate) fn gamma_q(a: f64, x: f64) -> f64 {
    if x <= 0.0 {
        return 1.0;
    }
    let front = (-x + a * x.ln() - ln_gamma(a)).exp();
    if x < a + 1.0 {
        // Series for P.
        let mut ap = a;
        let mut del = 1.0 / a;
        let mut sum = del;
        for _ in 0..MAX_ITER {
            ap += 1.0;
            del *= x / ap;
            sum += del;
            if del.abs() < sum.abs() * 1e-16 {
                break;
            }
        }
        (1.0 - sum * front).clamp(0.0, 1.0)
    } else {
        // Continued fraction for Q (modified Lentz).
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..MAX_ITER {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let del = d * c;
            h *= del;
            if (del - 1.0).abs() < 1e-16 {
                break;
            }
        }
        (front * h).clamp(0.0, 1.0)
    }
}

/// The `t` for which a Gamma(`shape`) variable divided by its mean exceeds `t` with
/// probability `p` (`0 < p < 1`): the upper quantile of a normalised Welch bin.
pub(crate) fn normalised_gamma_upper_quantile(shape: f64, p: f64) -> f64 {
    let q = |t: f64| gamma_q(shape, shape * t);
    let mut lo = 0.0;
    let mut hi = 2.0;
    while q(hi) > p && hi < 1e6 {
        lo = hi;
        hi *= 2.0;
    }
    for _ in 0..200 {
        let mid = 0.5 * (lo + hi);
        if q(mid) > p {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo < 1e-12 * hi {
            break;
        }
    }
    0.5 * (lo + hi)
}

/// Median of a Gamma(`shape`) variable divided by its mean (e.g. `ln 2` for `shape = 1`).
pub(crate) fn normalised_gamma_median(shape: f64) -> f64 {
    normalised_gamma_upper_quantile(shape, 0.5)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ln_gamma_matches_factorials() {
        for (n, f) in [(1.0, 1.0f64), (2.0, 1.0), (5.0, 24.0), (11.0, 3_628_800.0)] {
            assert!((ln_gamma(n) - f.ln()).abs() < 1e-10, "{n}");
        }
        assert!((ln_gamma(0.5) - std::f64::consts::PI.sqrt().ln()).abs() < 1e-10);
    }

    #[test]
    fn exponential_quantiles_are_exact() {
        // shape 1: Q(1, x) = exp(-x).
        assert!((normalised_gamma_median(1.0) - std::f64::consts::LN_2).abs() < 1e-9);
        assert!((normalised_gamma_upper_quantile(1.0, 1e-6) - 1e6f64.ln()).abs() < 1e-6);
        for x in [0.1, 1.0, 3.0, 10.0] {
            assert!((gamma_q(1.0, x) - (-x).exp()).abs() < 1e-12);
        }
    }

    #[test]
    fn chi_square_reference_values() {
        // chi2 with 10 dof: P(X > 18.307) = 0.05 -> Gamma(5) / 5 > 18.307 / 10.
        assert!((gamma_q(5.0, 18.307 / 2.0) - 0.05).abs() < 1e-4);
        // Large shapes converge to 1 with sd 1/sqrt(a).
        let m = normalised_gamma_median(250_000.0);
        assert!((m - (1.0 - 1.0 / (3.0 * 250_000.0))).abs() < 1e-6, "{m}");
        let t = normalised_gamma_upper_quantile(10_000.0, 0.001_349_9);
        assert!((t - 1.03).abs() < 2e-3, "{t}");
        // scipy.stats.gamma(a).median() / a and .isf(1e-3 / 1024) / a.
        for (a, med, isf) in [
            (5.0, 0.934_181_776_559_196_9, 4.691_969_987_940_968),
            (29.4, 0.988_685_268_961_278_7, 2.133_726_314_530_243),
            (250_000.0, 0.999_998_666_666_982_7, 1.009_545_300_458_497_3),
        ] {
            assert!((normalised_gamma_median(a) - med).abs() < 1e-9, "{a}");
            assert!(
                (normalised_gamma_upper_quantile(a, 1e-3 / 1024.0) - isf).abs() < 1e-8,
                "{a}"
            );
        }
    }

    #[test]
    fn welch_shape() {
        assert_eq!(welch_gamma_shape(1, &[1.0 / 6.0]), 1.0);
        let a = welch_gamma_shape(31, &[1.0 / 6.0]);
        assert!((a - 31.0 * 31.0 / (31.0 + 60.0 / 36.0)).abs() < 1e-9);
    }
}
