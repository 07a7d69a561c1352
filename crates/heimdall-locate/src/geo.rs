//! WGS84 geometry: geodesic distance (Vincenty's inverse formula), ECEF straight lines and a
//! local east/north frame for the solver.

use serde::{Deserialize, Serialize};

/// WGS84 semi-major axis (m).
pub const WGS84_A: f64 = 6_378_137.0;
/// WGS84 flattening.
pub const WGS84_F: f64 = 1.0 / 298.257_223_563;
/// Speed of light in vacuum (m/s).
pub const SPEED_OF_LIGHT: f64 = 299_792_458.0;

/// A point on (or above) the WGS84 ellipsoid.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct GeoPoint {
    /// Geodetic latitude, degrees north.
    pub latitude: f64,
    /// Longitude, degrees east.
    pub longitude: f64,
    /// Height above the ellipsoid, metres.
    #[serde(default)]
    pub altitude_m: f64,
}

impl GeoPoint {
    /// A point on the ellipsoid surface.
    pub fn new(latitude: f64, longitude: f64) -> Self {
        Self {
            latitude,
            longitude,
            altitude_m: 0.0,
        }
    }

    /// Earth-centred, earth-fixed coordinates (m).
    pub fn ecef(&self) -> [f64; 3] {
        let (lat, lon) = (self.latitude.to_radians(), self.longitude.to_radians());
        let e2 = WGS84_F * (2.0 - WGS84_F);
        let n = WGS84_A / (1.0 - e2 * lat.sin().powi(2)).sqrt();
        let h = self.altitude_m;
        [
            (n + h) * lat.cos() * lon.cos(),
            (n + h) * lat.cos() * lon.sin(),
            (n * (1.0 - e2) + h) * lat.sin(),
        ]
    }

    /// Metres per degree of latitude and of longitude here (meridional and parallel radii).
    pub fn metres_per_degree(&self) -> (f64, f64) {
        let lat = self.latitude.to_radians();
        let e2 = WGS84_F * (2.0 - WGS84_F);
        let w = (1.0 - e2 * lat.sin().powi(2)).sqrt();
        let m = WGS84_A * (1.0 - e2) / (w * w * w);
        let n = WGS84_A / w;
        (m.to_radians(), (n * lat.cos()).to_radians().max(1e-3))
    }

    /// The point `east_m`, `north_m` away in the local tangent plane (first order, for the solver's
    /// small steps).
    pub fn offset(&self, east_m: f64, north_m: f64) -> Self {
        let (mlat, mlon) = self.metres_per_degree();
        Self {
            latitude: self.latitude + north_m / mlat,
            longitude: self.longitude + east_m / mlon,
            altitude_m: self.altitude_m,
        }
    }

    /// East/north offset (m) of `other` from `self` in the local tangent plane (first order).
    pub fn east_north_to(&self, other: &GeoPoint) -> (f64, f64) {
        let (mlat, mlon) = self.metres_per_degree();
        let mut dlon = other.longitude - self.longitude;
        if dlon > 180.0 {
            dlon -= 360.0;
        } else if dlon < -180.0 {
            dlon += 360.0;
        }
        (dlon * mlon, (other.latitude - self.latitude) * mlat)
    }
}

/// How signal paths are modelled between transmitter and receivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PathModel {
    /// Along the WGS84 geodesic (ground wave / long baselines: the wave follows the curved earth).
    Geodesic,
    /// ECEF straight line including heights (VHF/UHF line of sight).
    LineOfSight,
}

impl PathModel {
    /// Path length (m) between two points under this model.
    pub fn distance(self, a: &GeoPoint, b: &GeoPoint) -> f64 {
        match self {
            PathModel::Geodesic => geodesic_distance(a, b),
            PathModel::LineOfSight => {
                let (p, q) = (a.ecef(), b.ecef());
                ((p[0] - q[0]).powi(2) + (p[1] - q[1]).powi(2) + (p[2] - q[2]).powi(2)).sqrt()
            }
        }
    }
}

/// Geodesic distance (m) on the WGS84 ellipsoid by Vincenty's inverse formula (sub-millimetre
/// away from nearly antipodal points; there it falls back to the last iterate, still within metres).
pub fn geodesic_distance(p: &GeoPoint, q: &GeoPoint) -> f64 {
    let b_axis = WGS84_A * (1.0 - WGS84_F);
    let f = WGS84_F;
    let l = (q.longitude - p.longitude).to_radians();
    let u1 = ((1.0 - f) * p.latitude.to_radians().tan()).atan();
    let u2 = ((1.0 - f) * q.latitude.to_radians().tan()).atan();
    let (su1, cu1, su2, cu2) = (u1.sin(), u1.cos(), u2.sin(), u2.cos());
    let mut lambda = l;
    let (mut ss, mut cs, mut sigma, mut c2a, mut c2sm) = (0.0, 1.0, 0.0, 1.0, 0.0);
    for _ in 0..200 {
        let (sl, cl) = lambda.sin_cos();
        ss = ((cu2 * sl).powi(2) + (cu1 * su2 - su1 * cu2 * cl).powi(2)).sqrt();
        if ss == 0.0 {
            return 0.0;
        }
        cs = su1 * su2 + cu1 * cu2 * cl;
        sigma = ss.atan2(cs);
        let sa = cu1 * cu2 * sl / ss;
        c2a = 1.0 - sa * sa;
        c2sm = if c2a != 0.0 { cs - 2.0 * su1 * su2 / c2a } else { 0.0 };
        let c = f / 16.0 * c2a * (4.0 + f * (4.0 - 3.0 * c2a));
        let prev = lambda;
        lambda = l + (1.0 - c) * f * sa * (sigma + c * ss * (c2sm + c * cs * (-1.0 + 2.0 * c2sm * c2sm)));
        if (lambda - prev).abs() < 1e-12 {
            break;
        }
    }
    let u2s = c2a * (WGS84_A * WGS84_A - b_axis * b_axis) / (b_axis * b_axis);
    let a = 1.0 + u2s / 16384.0 * (4096.0 + u2s * (-768.0 + u2s * (320.0 - 175.0 * u2s)));
    let b = u2s / 1024.0 * (256.0 + u2s * (-128.0 + u2s * (74.0 - 47.0 * u2s)));
    let ds = b
        * ss
        * (c2sm
            + b / 4.0
                * (cs * (-1.0 + 2.0 * c2sm * c2sm)
                    - b / 6.0 * c2sm * (-3.0 + 4.0 * ss * ss) * (-3.0 + 4.0 * c2sm * c2sm)));
    b_axis * a * (sigma - ds)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vincenty_matches_known_geodesics() {
        // Flinders Peak to Buninyong, the classic Vincenty test line: 54 972.271 m.
        let a = GeoPoint::new(
            -(37.0 + 57.0 / 60.0 + 3.72030 / 3600.0),
            144.0 + 25.0 / 60.0 + 29.52440 / 3600.0,
        );
        let b = GeoPoint::new(
            -(37.0 + 39.0 / 60.0 + 10.15610 / 3600.0),
            143.0 + 55.0 / 60.0 + 35.38390 / 3600.0,
        );
        assert!((geodesic_distance(&a, &b) - 54_972.271).abs() < 0.01);
        // One degree of latitude at the equator on WGS84: 110 574.389 m.
        let d = geodesic_distance(&GeoPoint::new(0.0, 0.0), &GeoPoint::new(1.0, 0.0));
        assert!((d - 110_574.389).abs() < 0.01, "{d}");
        assert_eq!(geodesic_distance(&a, &a), 0.0);
    }

    #[test]
    fn line_of_sight_is_the_chord() {
        let a = GeoPoint::new(0.0, 0.0);
        let b = GeoPoint::new(0.0, 90.0);
        let chord = PathModel::LineOfSight.distance(&a, &b);
        assert!((chord - WGS84_A * 2f64.sqrt()).abs() < 1e-6);
        let up = GeoPoint { altitude_m: 100.0, ..a };
        assert!((PathModel::LineOfSight.distance(&a, &up) - 100.0).abs() < 1e-6);
    }
}
