//! Fallback when fewer than three receivers are GPS-timed: received power against a log-distance
//! path-loss model with unknown transmitter power. Loose by nature: shadowing of several dB turns
//! into tens of percent of range, and the ellipse says so.

use crate::geo::{GeoPoint, PathModel};
use crate::solve::Field;

/// RSSI estimate: the posterior mean, the east/north covariance and the field.
#[derive(Debug, Clone, PartialEq)]
pub struct RssiFix {
    /// Posterior mean position.
    pub position: GeoPoint,
    /// East/north covariance of the posterior (m²).
    pub covariance: [[f64; 2]; 2],
    /// −2 log-likelihood per cell.
    pub field: Field,
    /// Posterior mass in the outermost ring of cells (large: the answer is not bounded by the grid).
    pub edge_mass: f64,
}

/// Grid posterior of the transmitter position given received powers `power_db` at `stations`,
/// path-loss exponent `n` and shadowing σ `shadow_db`.
pub fn rssi_fix(
    stations: &[GeoPoint],
    power_db: &[f64],
    n: f64,
    shadow_db: f64,
    bbox: (f64, f64, f64, f64),
    side: usize,
    model: PathModel,
) -> RssiFix {
    let (la0, la1, lo0, lo1) = bbox;
    let (dlat, dlon) = ((la1 - la0) / side as f64, (lo1 - lo0) / side as f64);
    let mut chi2 = Vec::with_capacity(side * side);
    for r in 0..side {
        for c in 0..side {
            let p = GeoPoint::new(la0 + (r as f64 + 0.5) * dlat, lo0 + (c as f64 + 0.5) * dlon);
            let loss: Vec<f64> = stations
                .iter()
                .map(|s| 10.0 * n * model.distance(&p, s).max(10.0).log10())
                .collect();
            let p0 = power_db.iter().zip(&loss).map(|(p, l)| p + l).sum::<f64>() / stations.len() as f64;
            let x: f64 = power_db
                .iter()
                .zip(&loss)
                .map(|(p, l)| ((p - (p0 - l)) / shadow_db).powi(2))
                .sum();
            chi2.push(x);
        }
    }
    let field = Field {
        lat0: la0,
        lon0: lo0,
        dlat,
        dlon,
        rows: side,
        cols: side,
        chi2,
    };
    let best = field.chi2.iter().copied().fold(f64::INFINITY, f64::min);
    let (mut w, mut sl, mut so, mut edge) = (0.0, 0.0, 0.0, 0.0);
    let weights: Vec<f64> = field.chi2.iter().map(|x| (-(x - best) / 2.0).exp()).collect();
    for r in 0..side {
        for c in 0..side {
            let q = weights[r * side + c];
            let p = field.point(r, c);
            w += q;
            sl += q * p.latitude;
            so += q * p.longitude;
            if r == 0 || c == 0 || r == side - 1 || c == side - 1 {
                edge += q;
            }
        }
    }
    let position = GeoPoint::new(sl / w, so / w);
    let mut cov = [[0.0; 2]; 2];
    for r in 0..side {
        for c in 0..side {
            let q = weights[r * side + c] / w;
            let (e, nn) = position.east_north_to(&field.point(r, c));
            cov[0][0] += q * e * e;
            cov[0][1] += q * e * nn;
            cov[1][1] += q * nn * nn;
        }
    }
    cov[1][0] = cov[0][1];
    RssiFix {
        position,
        covariance: cov,
        field,
        edge_mass: edge / w,
    }
}
