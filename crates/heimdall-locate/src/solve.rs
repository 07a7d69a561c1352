//! Position from pair delays: a coarse likelihood grid, then Levenberg-Marquardt in the local
//! east/north plane, the covariance and its error ellipse.

use serde::{Deserialize, Serialize};

use crate::geo::{GeoPoint, PathModel, SPEED_OF_LIGHT};

/// One time difference used by the solver.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PairObs {
    /// Index of the first station.
    pub a: usize,
    /// Index of the second station.
    pub b: usize,
    /// Arrival at `a` minus arrival at `b` (s).
    pub delay_s: f64,
    /// 1σ of `delay_s` (s).
    pub sigma_s: f64,
}

/// An error ellipse.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Ellipse {
    /// Semi-major axis (m).
    pub semi_major: f64,
    /// Semi-minor axis (m).
    pub semi_minor: f64,
    /// Direction of the major axis, degrees clockwise from north, in [0, 180).
    pub orientation_deg: f64,
    /// Probability that the truth is inside (0.3935 for 1σ in 2-D, 0.95...).
    pub confidence: f64,
}

impl Ellipse {
    /// The ellipse of an east/north covariance at `confidence`.
    pub fn from_covariance(cov: [[f64; 2]; 2], confidence: f64) -> Self {
        let k2 = -2.0 * (1.0 - confidence).ln();
        let (a, b, c) = (cov[0][0], cov[0][1], cov[1][1]);
        let tr = 0.5 * (a + c);
        let det = ((0.5 * (a - c)).powi(2) + b * b).sqrt();
        let (l1, l2) = (tr + det, (tr - det).max(0.0));
        // Major axis direction in (east, north); bearing from north.
        let theta = 0.5 * (2.0 * b).atan2(a - c); // angle from east, counter-clockwise
        let bearing = (90.0 - theta.to_degrees()).rem_euclid(180.0);
        Self {
            semi_major: (l1 * k2).sqrt(),
            semi_minor: (l2 * k2).sqrt(),
            orientation_deg: bearing,
            confidence,
        }
    }

    /// Whether the east/north offset `(e, n)` from the centre lies inside.
    pub fn contains(&self, e: f64, n: f64) -> bool {
        let th = self.orientation_deg.to_radians();
        // Major axis unit vector (east, north).
        let (ue, un) = (th.sin(), th.cos());
        let along = e * ue + n * un;
        let across = -e * un + n * ue;
        (along / self.semi_major.max(1e-9)).powi(2) + (across / self.semi_minor.max(1e-9)).powi(2) <= 1.0
    }
}

/// A likelihood field on a lat/lon grid (χ² per cell), kept for maps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Field {
    /// South-west corner latitude.
    pub lat0: f64,
    /// South-west corner longitude.
    pub lon0: f64,
    /// Cell size in latitude (degrees).
    pub dlat: f64,
    /// Cell size in longitude (degrees).
    pub dlon: f64,
    /// Rows (latitude).
    pub rows: usize,
    /// Columns (longitude).
    pub cols: usize,
    /// χ² per cell, row-major from the south-west corner.
    pub chi2: Vec<f64>,
}

impl Field {
    /// Centre of cell (`row`, `col`).
    pub fn point(&self, row: usize, col: usize) -> GeoPoint {
        GeoPoint::new(
            self.lat0 + (row as f64 + 0.5) * self.dlat,
            self.lon0 + (col as f64 + 0.5) * self.dlon,
        )
    }
}

/// The solver's answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Solution {
    /// Position.
    pub position: GeoPoint,
    /// East/north covariance (m²).
    pub covariance: [[f64; 2]; 2],
    /// Residual of every pair (measured minus predicted, s).
    pub residuals_s: Vec<f64>,
    /// Sum of squared normalised residuals.
    pub chi2: f64,
    /// Another local minimum of the grid whose χ² is within 9 of the best, far from it.
    pub alternative: Option<GeoPoint>,
}

/// Bounding box of `stations` grown by half its size (at least `min_margin_deg`) on every side.
pub fn search_box(stations: &[GeoPoint], min_margin_deg: f64) -> (f64, f64, f64, f64) {
    let (mut la0, mut la1, mut lo0, mut lo1) = (90f64, -90f64, 180f64, -180f64);
    for s in stations {
        la0 = la0.min(s.latitude);
        la1 = la1.max(s.latitude);
        lo0 = lo0.min(s.longitude);
        lo1 = lo1.max(s.longitude);
    }
    let ml = (0.5 * (la1 - la0)).max(min_margin_deg);
    let mo = (0.5 * (lo1 - lo0)).max(min_margin_deg);
    ((la0 - ml).max(-89.9), (la1 + ml).min(89.9), lo0 - mo, lo1 + mo)
}

/// χ² of a candidate position.
pub fn chi2_at(p: &GeoPoint, stations: &[GeoPoint], pairs: &[PairObs], model: PathModel) -> f64 {
    let d: Vec<f64> = stations.iter().map(|s| model.distance(p, s)).collect();
    pairs
        .iter()
        .map(|o| {
            let pred = (d[o.a] - d[o.b]) / SPEED_OF_LIGHT;
            ((o.delay_s - pred) / o.sigma_s).powi(2)
        })
        .sum()
}

/// Evaluates χ² on a `side` × `side` grid over `bbox` (lat0, lat1, lon0, lon1).
pub fn grid(
    stations: &[GeoPoint],
    pairs: &[PairObs],
    model: PathModel,
    bbox: (f64, f64, f64, f64),
    side: usize,
) -> Field {
    let (la0, la1, lo0, lo1) = bbox;
    let (dlat, dlon) = ((la1 - la0) / side as f64, (lo1 - lo0) / side as f64);
    let mut chi2 = Vec::with_capacity(side * side);
    for r in 0..side {
        for c in 0..side {
            let p = GeoPoint::new(la0 + (r as f64 + 0.5) * dlat, lo0 + (c as f64 + 0.5) * dlon);
            chi2.push(chi2_at(&p, stations, pairs, model));
        }
    }
    Field {
        lat0: la0,
        lon0: lo0,
        dlat,
        dlon,
        rows: side,
        cols: side,
        chi2,
    }
}

/// Local minima of a field, best first.
fn local_minima(f: &Field) -> Vec<(usize, usize, f64)> {
    let mut out = Vec::new();
    for r in 0..f.rows {
        for c in 0..f.cols {
            let v = f.chi2[r * f.cols + c];
            let mut is_min = true;
            for dr in -1i64..=1 {
                for dc in -1i64..=1 {
                    let (rr, cc) = (r as i64 + dr, c as i64 + dc);
                    if (dr, dc) == (0, 0) || rr < 0 || cc < 0 || rr >= f.rows as i64 || cc >= f.cols as i64 {
                        continue;
                    }
                    if f.chi2[rr as usize * f.cols + cc as usize] < v {
                        is_min = false;
                    }
                }
            }
            if is_min {
                out.push((r, c, v));
            }
        }
    }
    out.sort_by(|a, b| a.2.total_cmp(&b.2));
    out
}

/// Levenberg-Marquardt from `start`; returns the position, JᵀWJ and χ².
fn lm(start: GeoPoint, stations: &[GeoPoint], pairs: &[PairObs], model: PathModel) -> (GeoPoint, [[f64; 2]; 2], f64) {
    let residuals = |p: &GeoPoint| -> Vec<f64> {
        let d: Vec<f64> = stations.iter().map(|s| model.distance(p, s)).collect();
        pairs
            .iter()
            .map(|o| (o.delay_s - (d[o.a] - d[o.b]) / SPEED_OF_LIGHT) / o.sigma_s)
            .collect()
    };
    let mut p = start;
    let mut r = residuals(&p);
    let mut cost: f64 = r.iter().map(|x| x * x).sum();
    let mut lambda = 1e-3;
    let mut jtj = [[0.0; 2]; 2];
    for _ in 0..100 {
        // Jacobian by central differences on 1 m steps.
        let h = 1.0;
        let cols: Vec<Vec<f64>> = [(h, 0.0), (0.0, h)]
            .iter()
            .map(|&(de, dn)| {
                let rp = residuals(&p.offset(de, dn));
                let rm = residuals(&p.offset(-de, -dn));
                rp.iter().zip(&rm).map(|(a, b)| (a - b) / (2.0 * h)).collect()
            })
            .collect();
        jtj = [[0.0; 2]; 2];
        let mut jtr = [0.0; 2];
        for i in 0..r.len() {
            for u in 0..2 {
                jtr[u] += cols[u][i] * r[i];
                for v in 0..2 {
                    jtj[u][v] += cols[u][i] * cols[v][i];
                }
            }
        }
        let mut improved = false;
        for _ in 0..20 {
            let a = [
                [jtj[0][0] * (1.0 + lambda), jtj[0][1]],
                [jtj[1][0], jtj[1][1] * (1.0 + lambda)],
            ];
            let det = a[0][0] * a[1][1] - a[0][1] * a[1][0];
            if det.abs() < 1e-300 {
                lambda *= 10.0;
                continue;
            }
            // Solve a · step = -jtr.
            let se = -(a[1][1] * jtr[0] - a[0][1] * jtr[1]) / det;
            let sn = -(-a[1][0] * jtr[0] + a[0][0] * jtr[1]) / det;
            let cand = p.offset(se, sn);
            let rc = residuals(&cand);
            let cc: f64 = rc.iter().map(|x| x * x).sum();
            if cc < cost {
                let done = se.hypot(sn) < 1e-3;
                p = cand;
                r = rc;
                cost = cc;
                lambda = (lambda / 10.0).max(1e-12);
                improved = true;
                if done {
                    return (p, jtj, cost);
                }
                break;
            }
            lambda *= 10.0;
        }
        if !improved {
            break;
        }
    }
    (p, jtj, cost)
}

/// Derivatives of every pair's predicted delay with respect to the transmitter's east and
/// north position at `p` (s/m), by central differences over 1 m.
pub fn jacobian(p: &GeoPoint, stations: &[GeoPoint], pairs: &[PairObs], model: PathModel) -> Vec<[f64; 2]> {
    let pred = |q: &GeoPoint| -> Vec<f64> {
        let d: Vec<f64> = stations.iter().map(|s| model.distance(q, s)).collect();
        pairs.iter().map(|o| (d[o.a] - d[o.b]) / SPEED_OF_LIGHT).collect()
    };
    let (pe, me, pn, mn) = (
        pred(&p.offset(1.0, 0.0)),
        pred(&p.offset(-1.0, 0.0)),
        pred(&p.offset(0.0, 1.0)),
        pred(&p.offset(0.0, -1.0)),
    );
    (0..pairs.len())
        .map(|i| [(pe[i] - me[i]) / 2.0, (pn[i] - mn[i]) / 2.0])
        .collect()
}

/// Covariance of the weighted least-squares position (weights 1/σ² per pair) when the pair
/// errors have covariance `c` (pairs sharing a receiver share its noise), by the sandwich
/// (JᵀWJ)⁻¹ JᵀWCWJ (JᵀWJ)⁻¹, and the χ² those errors make expected at the solution.
// Matrix products over pair indices read plainer with the indices.
#[allow(clippy::needless_range_loop)]
pub fn sandwich(jac: &[[f64; 2]], sigma: &[f64], c: &[Vec<f64>]) -> ([[f64; 2]; 2], f64) {
    let m = jac.len();
    let w: Vec<f64> = sigma.iter().map(|s| 1.0 / (s * s)).collect();
    let mut a = [[0.0; 2]; 2];
    for i in 0..m {
        for u in 0..2 {
            for v in 0..2 {
                a[u][v] += jac[i][u] * w[i] * jac[i][v];
            }
        }
    }
    let ai = invert(a);
    // G = A⁻¹ JᵀW (2 × m): the position's sensitivity to each pair's error.
    let g: Vec<[f64; 2]> = (0..m)
        .map(|i| {
            [
                (ai[0][0] * jac[i][0] + ai[0][1] * jac[i][1]) * w[i],
                (ai[1][0] * jac[i][0] + ai[1][1] * jac[i][1]) * w[i],
            ]
        })
        .collect();
    let mut cov = [[0.0; 2]; 2];
    for i in 0..m {
        for k in 0..m {
            for u in 0..2 {
                for v in 0..2 {
                    cov[u][v] += g[i][u] * c[i][k] * g[k][v];
                }
            }
        }
    }
    // Residuals r = (I - J G) e: E[Σ w r²] = Σ_i w_i (R C Rᵀ)_ii.
    let r = |i: usize, k: usize| f64::from(u8::from(i == k)) - (jac[i][0] * g[k][0] + jac[i][1] * g[k][1]);
    let mut expected = 0.0;
    for i in 0..m {
        let row: Vec<f64> = (0..m).map(|k| r(i, k)).collect();
        let mut v = 0.0;
        for k in 0..m {
            if row[k] == 0.0 {
                continue;
            }
            for l in 0..m {
                v += row[k] * c[k][l] * row[l];
            }
        }
        expected += w[i] * v;
    }
    (cov, expected)
}

fn invert(m: [[f64; 2]; 2]) -> [[f64; 2]; 2] {
    let det = m[0][0] * m[1][1] - m[0][1] * m[1][0];
    if det.abs() < 1e-300 {
        return [[1e18, 0.0], [0.0, 1e18]];
    }
    [[m[1][1] / det, -m[0][1] / det], [-m[1][0] / det, m[0][0] / det]]
}

/// Solves for the position: the best grid cells (the best and the next distinct minima) refined
/// by Levenberg-Marquardt, the lowest χ² kept. The covariance is `(JᵀWJ)⁻¹`.
pub fn solve(stations: &[GeoPoint], pairs: &[PairObs], model: PathModel, field: &Field) -> Solution {
    let minima = local_minima(field);
    let mut results: Vec<(GeoPoint, [[f64; 2]; 2], f64)> = minima
        .iter()
        .take(4)
        .map(|&(r, c, _)| lm(field.point(r, c), stations, pairs, model))
        .collect();
    results.sort_by(|a, b| a.2.total_cmp(&b.2));
    // The search box is the prior: a refinement that walked out of it (with three stations a
    // second exact solution can lie anywhere, even across the globe) only wins when nothing
    // stays near the box.
    let near = |p: &GeoPoint| {
        let (h, w) = (field.rows as f64 * field.dlat, field.cols as f64 * field.dlon);
        p.latitude >= field.lat0 - 0.5 * h
            && p.latitude <= field.lat0 + 1.5 * h
            && p.longitude >= field.lon0 - 0.5 * w
            && p.longitude <= field.lon0 + 1.5 * w
    };
    if let Some(i) = results.iter().position(|r| near(&r.0)) {
        results.swap(0, i);
    }
    let (position, jtj, chi2) = results[0];
    let covariance = invert(jtj);
    let sigma_major = (covariance[0][0] + covariance[1][1]).sqrt();
    let alternative = results.iter().skip(1).find_map(|(p, _, c)| {
        let (e, n) = position.east_north_to(p);
        let inside = p.latitude >= field.lat0
            && p.latitude <= field.lat0 + field.rows as f64 * field.dlat
            && p.longitude >= field.lon0
            && p.longitude <= field.lon0 + field.cols as f64 * field.dlon;
        (inside && c - chi2 < 9.0 && e.hypot(n) > 3.0 * sigma_major.max(1.0)).then_some(*p)
    });
    let d: Vec<f64> = stations.iter().map(|s| model.distance(&position, s)).collect();
    let residuals_s = pairs
        .iter()
        .map(|o| o.delay_s - (d[o.a] - d[o.b]) / SPEED_OF_LIGHT)
        .collect();
    Solution {
        position,
        covariance,
        residuals_s,
        chi2,
        alternative,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noiseless_delays_give_the_transmitter_back() {
        let stations = vec![
            GeoPoint::new(46.499351, 8.798828),
            GeoPoint::new(51.466044, 11.977189),
            GeoPoint::new(51.5005, 3.60069),
            GeoPoint::new(48.0, 12.0),
        ];
        let tx = GeoPoint::new(50.0152, 9.0112);
        let m = PathModel::Geodesic;
        let d: Vec<f64> = stations.iter().map(|s| m.distance(&tx, s)).collect();
        let mut pairs = Vec::new();
        for a in 0..4 {
            for b in a + 1..4 {
                pairs.push(PairObs {
                    a,
                    b,
                    delay_s: (d[a] - d[b]) / SPEED_OF_LIGHT,
                    sigma_s: 1e-6,
                });
            }
        }
        let field = grid(&stations, &pairs, m, search_box(&stations, 0.5), 60);
        let s = solve(&stations, &pairs, m, &field);
        let (e, n) = tx.east_north_to(&s.position);
        assert!(e.hypot(n) < 0.5, "{e} {n}");
        let el = Ellipse::from_covariance(s.covariance, 0.95);
        assert!(el.semi_major < 2_000.0 && el.semi_minor > 10.0, "{el:?}");
    }

    #[test]
    fn ellipse_axes_and_orientation() {
        // Long along north-east.
        let (s1, s2) = (100.0f64, 10.0f64);
        let th = 45f64.to_radians(); // bearing
        let (ue, un) = (th.sin(), th.cos());
        let cov = [
            [s1 * s1 * ue * ue + s2 * s2 * un * un, (s1 * s1 - s2 * s2) * ue * un],
            [(s1 * s1 - s2 * s2) * ue * un, s1 * s1 * un * un + s2 * s2 * ue * ue],
        ];
        let el = Ellipse::from_covariance(cov, 1.0 - (-0.5f64).exp());
        assert!(
            (el.semi_major - 100.0).abs() < 1e-6 && (el.semi_minor - 10.0).abs() < 1e-6,
            "{el:?}"
        );
        assert!((el.orientation_deg - 45.0).abs() < 1e-6, "{el:?}");
        assert!(el.contains(60.0, 60.0) && !el.contains(-60.0, 60.0));
    }

    #[test]
    fn sandwich_reduces_to_least_squares_for_independent_pairs_and_counts_shared_noise() {
        let jac = vec![[1e-8, 0.0], [0.0, 1e-8], [1e-8, 1e-8], [-1e-8, 2e-8]];
        let sigma = vec![1e-7, 2e-7, 1e-7, 3e-7];
        let diag: Vec<Vec<f64>> = (0..4)
            .map(|i| (0..4).map(|k| if i == k { sigma[i] * sigma[i] } else { 0.0 }).collect())
            .collect();
        let (cov, expected) = sandwich(&jac, &sigma, &diag);
        let mut a = [[0.0; 2]; 2];
        for (j, s) in jac.iter().zip(&sigma) {
            for u in 0..2 {
                for v in 0..2 {
                    a[u][v] += j[u] * j[v] / (s * s);
                }
            }
        }
        let ls = invert(a);
        for u in 0..2 {
            for v in 0..2 {
                assert!((cov[u][v] - ls[u][v]).abs() <= 1e-9 * ls[0][0].abs(), "{cov:?} {ls:?}");
            }
        }
        // m - 2 degrees of freedom.
        assert!((expected - 2.0).abs() < 1e-9, "{expected}");
        // Errors shared by every pair in the same sense cost more than independent ones.
        let shared: Vec<Vec<f64>> = (0..4).map(|i| (0..4).map(|k| sigma[i] * sigma[k]).collect()).collect();
        let (cov2, _) = sandwich(&jac, &sigma, &shared);
        assert!(cov2[0][0] + cov2[1][1] > cov[0][0] + cov[1][1]);
    }
}
