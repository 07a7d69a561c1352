//! A PNG map of a localization (feature `png`): the likelihood field as a heat map (brighter
//! is likelier: Δχ² from the best cell on a log scale), the error ellipse (cyan), the stations
//! used (green squares) and rejected (red crosses), the truth when known (magenta ring) and the
//! estimate (white cross, drawn last). North is up; east and north share one scale in metres.

use std::collections::HashSet;

use crate::error::LocateError;
use crate::geo::GeoPoint;
use crate::report::Localization;

/// Colour of the estimate's cross.
pub const ESTIMATE_RGB: [u8; 3] = [255, 255, 255];
/// Colour of the error ellipse.
pub const ELLIPSE_RGB: [u8; 3] = [0, 230, 255];
/// Colour of a used station's square.
pub const USED_RGB: [u8; 3] = [40, 220, 40];
/// Colour of a rejected station's cross.
pub const REJECTED_RGB: [u8; 3] = [255, 40, 40];
/// Colour of the truth's ring.
pub const TRUTH_RGB: [u8; 3] = [255, 0, 255];
/// Background outside the likelihood field.
pub const BACKGROUND_RGB: [u8; 3] = [40, 40, 48];

/// The map's projection: a local east/north plane around `centre`, `metres_per_pixel` on both
/// axes, north up.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Projection {
    /// Point at the image centre.
    pub centre: GeoPoint,
    /// Scale (m per pixel).
    pub metres_per_pixel: f64,
    /// Image width (pixels).
    pub width: u32,
    /// Image height (pixels).
    pub height: u32,
}

impl Projection {
    /// Pixel (x right, y down, fractional) of `p`.
    pub fn pixel(&self, p: &GeoPoint) -> (f64, f64) {
        let (e, n) = self.centre.east_north_to(p);
        self.pixel_of_offset(e, n)
    }

    /// Pixel of the east/north offset (m) from the centre.
    pub fn pixel_of_offset(&self, east_m: f64, north_m: f64) -> (f64, f64) {
        (
            0.5 * self.width as f64 + east_m / self.metres_per_pixel,
            0.5 * self.height as f64 - north_m / self.metres_per_pixel,
        )
    }

    /// The point at the centre of pixel (`x`, `y`).
    pub fn point(&self, x: u32, y: u32) -> GeoPoint {
        let e = (x as f64 + 0.5 - 0.5 * self.width as f64) * self.metres_per_pixel;
        let n = (0.5 * self.height as f64 - y as f64 - 0.5) * self.metres_per_pixel;
        self.centre.offset(e, n)
    }
}

/// What to draw besides the fix.
#[derive(Debug, Clone, PartialEq)]
pub struct MapInput<'a> {
    /// Every station's id and position (used and rejected ones are told apart by the fix).
    pub stations: &'a [(String, GeoPoint)],
    /// The transmitter's true position, when known.
    pub truth: Option<GeoPoint>,
    /// Image width and height (pixels, at least 64 each).
    pub size: (u32, u32),
}

/// The projection [`render_png`] uses: the likelihood field's extent, every station, the
/// estimate, its ellipse and the truth, with a 6% margin.
pub fn projection(fix: &Localization, input: &MapInput<'_>) -> Projection {
    let centre = fix.position();
    let mut pts: Vec<(f64, f64)> = input.stations.iter().map(|(_, p)| centre.east_north_to(p)).collect();
    if let Some(t) = input.truth {
        pts.push(centre.east_north_to(&t));
    }
    if let Some(f) = &fix.field {
        let top = f.lat0 + f.rows as f64 * f.dlat;
        let right = f.lon0 + f.cols as f64 * f.dlon;
        for (la, lo) in [(f.lat0, f.lon0), (top, f.lon0), (f.lat0, right), (top, right)] {
            pts.push(centre.east_north_to(&GeoPoint::new(la, lo)));
        }
    }
    let a = fix.error_ellipse_m.semi_major;
    if a.is_finite() {
        pts.extend([(a, a), (-a, -a)]);
    }
    pts.push((0.0, 0.0));
    let (mut e0, mut e1, mut n0, mut n1) = (f64::MAX, f64::MIN, f64::MAX, f64::MIN);
    for (e, n) in pts.into_iter().filter(|(e, n)| e.is_finite() && n.is_finite()) {
        e0 = e0.min(e);
        e1 = e1.max(e);
        n0 = n0.min(n);
        n1 = n1.max(n);
    }
    let (w, h) = (input.size.0.max(64), input.size.1.max(64));
    let mpp = ((e1 - e0) / w as f64).max((n1 - n0) / h as f64).max(1e-3) * 1.12;
    Projection {
        centre: centre.offset(0.5 * (e0 + e1), 0.5 * (n0 + n1)),
        metres_per_pixel: mpp,
        width: w,
        height: h,
    }
}

/// Heat colour of `t` in [0, 1] (black, red, yellow, white).
fn heat(t: f64) -> [u8; 3] {
    let t = t.clamp(0.0, 1.0);
    let c = |x: f64| (255.0 * x.clamp(0.0, 1.0)) as u8;
    // Kept below the estimate's white so the cross stays distinct.
    [c(3.0 * t), c(3.0 * t - 1.0), c(0.8 * (3.0 * t - 2.0))]
}

struct Canvas {
    w: u32,
    h: u32,
    rgb: Vec<u8>,
}

impl Canvas {
    fn set(&mut self, x: i64, y: i64, c: [u8; 3]) {
        if x >= 0 && y >= 0 && x < self.w as i64 && y < self.h as i64 {
            let i = 3 * (y as usize * self.w as usize + x as usize);
            self.rgb[i..i + 3].copy_from_slice(&c);
        }
    }

    /// A line by unit steps along its longer axis.
    fn line(&mut self, (x0, y0): (f64, f64), (x1, y1): (f64, f64), c: [u8; 3]) {
        let steps = (x1 - x0).abs().max((y1 - y0).abs()).ceil().clamp(1.0, 1e5) as usize;
        for s in 0..=steps {
            let u = s as f64 / steps as f64;
            self.set(
                (x0 + u * (x1 - x0)).round() as i64,
                (y0 + u * (y1 - y0)).round() as i64,
                c,
            );
        }
    }
}

/// Renders the map of `fix` as PNG bytes.
pub fn render_png(fix: &Localization, input: &MapInput<'_>) -> Result<Vec<u8>, LocateError> {
    let proj = projection(fix, input);
    let (w, h) = (proj.width, proj.height);
    let mut cv = Canvas {
        w,
        h,
        rgb: vec![0; 3 * w as usize * h as usize],
    };
    // Heat map: every pixel takes the field cell it falls in.
    let field = fix
        .field
        .as_ref()
        .filter(|f| f.rows > 0 && f.cols > 0 && f.chi2.len() == f.rows * f.cols);
    let (best, span) = field
        .map(|f| {
            let finite = f.chi2.iter().copied().filter(|v| v.is_finite());
            let lo = finite.clone().fold(f64::INFINITY, f64::min);
            let hi = finite.fold(f64::NEG_INFINITY, f64::max);
            (lo, (1.0 + (hi - lo).max(0.0)).ln().max(1e-9))
        })
        .unwrap_or((0.0, 1.0));
    for y in 0..h {
        for x in 0..w {
            let mut c = BACKGROUND_RGB;
            if let Some(f) = field {
                let p = proj.point(x, y);
                let r = ((p.latitude - f.lat0) / f.dlat).floor();
                let k = ((p.longitude - f.lon0) / f.dlon).floor();
                if r >= 0.0 && k >= 0.0 && (r as usize) < f.rows && (k as usize) < f.cols {
                    let v = f.chi2[r as usize * f.cols + k as usize];
                    if v.is_finite() {
                        c = heat(1.0 - (1.0 + (v - best)).ln() / span);
                    }
                }
            }
            cv.set(x as i64, y as i64, c);
        }
    }
    // Error ellipse: major axis along the bearing, minor across it.
    let el = fix.error_ellipse_m;
    let centre = proj.pixel(&fix.position());
    if el.semi_major.is_finite() && el.semi_minor.is_finite() {
        let th = el.orientation_deg.to_radians();
        let (ue, un) = (th.sin(), th.cos());
        let perimeter_px = 2.0 * std::f64::consts::PI * el.semi_major / proj.metres_per_pixel;
        let steps = (4.0 * perimeter_px).clamp(64.0, 20_000.0) as usize;
        let at = |t: f64| {
            let (a, b) = (el.semi_major * t.cos(), el.semi_minor * t.sin());
            let (e, n) = (a * ue - b * un, a * un + b * ue);
            let (px, py) = proj.pixel_of_offset(e, n);
            (px - 0.5 * w as f64 + centre.0, py - 0.5 * h as f64 + centre.1)
        };
        let mut prev = at(0.0);
        for s in 1..=steps {
            let next = at(2.0 * std::f64::consts::PI * s as f64 / steps as f64);
            cv.line(prev, next, ELLIPSE_RGB);
            prev = next;
        }
    }
    // Stations: used ones as filled squares, the others as crosses.
    let used: HashSet<&str> = fix.stations_used.iter().map(String::as_str).collect();
    for (id, p) in input.stations {
        let (x, y) = proj.pixel(p);
        let (x, y) = (x.floor() as i64, y.floor() as i64);
        if used.contains(id.as_str()) {
            for dy in -4..=4 {
                for dx in -4..=4 {
                    cv.set(x + dx, y + dy, USED_RGB);
                }
            }
        } else {
            for d in -5..=5i64 {
                for t in 0..2 {
                    cv.set(x + d + t, y + d, REJECTED_RGB);
                    cv.set(x + d + t, y - d, REJECTED_RGB);
                }
            }
        }
    }
    if let Some(t) = input.truth {
        let (x, y) = proj.pixel(&t);
        for s in 0..96 {
            let a = 2.0 * std::f64::consts::PI * s as f64 / 96.0;
            for r in [6.0, 7.0] {
                cv.set(
                    (x + r * a.cos()).floor() as i64,
                    (y + r * a.sin()).floor() as i64,
                    TRUTH_RGB,
                );
            }
        }
    }
    let (x, y) = (centre.0.floor() as i64, centre.1.floor() as i64);
    for d in -7..=7 {
        cv.set(x + d, y, ESTIMATE_RGB);
        cv.set(x, y + d, ESTIMATE_RGB);
    }
    let mut out = Vec::new();
    {
        let mut enc = png::Encoder::new(&mut out, w, h);
        enc.set_color(png::ColorType::Rgb);
        enc.set_depth(png::BitDepth::Eight);
        let mut writer = enc.write_header().map_err(|e| LocateError::Map(e.to_string()))?;
        writer
            .write_image_data(&cv.rgb)
            .map_err(|e| LocateError::Map(e.to_string()))?;
    }
    Ok(out)
}
