//! # heimdall-locate
//!
//! Locates a transmitter from several receivers' captures of it.
//!
//! * **TDoA** (three or more GPS-timed receivers): every receiver's time marks give a fitted
//!   sample rate and offset ([`timing`]); the captures are decimated to the signal's occupied
//!   band, resampled (windowed sinc) onto one time grid over their common window, and every
//!   pair is cross-correlated ([`correlate`], maximum-likelihood weights, Cramér-Rao σ) on the
//!   timing features the signal offers ([`signal`]). A likelihood grid then Levenberg-Marquardt
//!   on WGS84 ([`solve`]) give the position, its covariance (pairs sharing a receiver share its
//!   errors) and error ellipse, and the per-pair residuals; inconsistent pairs are dropped
//!   with the reason.
//! * **RSSI** (fewer GPS-timed receivers): received power against a log-distance path-loss
//!   model ([`rssi`]), with the loose uncertainty that deserves.
#![warn(missing_docs)]

pub mod correlate;
pub mod error;
pub mod geo;
#[cfg(feature = "png")]
pub mod map;
mod report;
pub mod rssi;
pub mod signal;
pub mod solve;
mod tdoa;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod timing;

pub use report::{
    ClockReport, FeatureDelay, Localization, LocateOptions, Method, PairReport, ReceiverCapture, Rejected,
};
use tdoa::{Timed, tdoa};

pub use correlate::Weighting;
pub use error::LocateError;
pub use geo::{GeoPoint, PathModel, SPEED_OF_LIGHT};
pub use signal::Feature;
pub use solve::{Ellipse, Field};
pub use timing::{ClockSource, TimeMark, TimeModel};

fn reasons(r: &[Rejected]) -> String {
    r.iter()
        .map(|r| format!("{}: {}", r.id, r.reason))
        .collect::<Vec<_>>()
        .join("; ")
}

fn validate(c: &ReceiverCapture) -> Result<(), LocateError> {
    let bad = |field, reason: String| Err(LocateError::InvalidInput { field, reason });
    if c.id.is_empty() {
        return bad("receiver id", "empty".into());
    }
    if !(c.sample_rate_hz.is_finite() && c.sample_rate_hz > 0.0) {
        return bad("sample_rate_hz", format!("{} for {}", c.sample_rate_hz, c.id));
    }
    if !(c.position.latitude.abs() <= 90.0 && c.position.longitude.abs() <= 360.0 && c.position.altitude_m.is_finite())
    {
        return bad("position", format!("{:?} for {}", c.position, c.id));
    }
    if !c.centre_frequency_hz.is_finite() {
        return bad("centre_frequency_hz", format!("{} for {}", c.centre_frequency_hz, c.id));
    }
    Ok(())
}

/// Locates the transmitter seen by `captures`.
pub fn locate(captures: &[ReceiverCapture], opts: &LocateOptions) -> Result<Localization, LocateError> {
    for c in captures {
        validate(c)?;
    }
    let mut rejected: Vec<Rejected> = Vec::new();
    let mut clocks: Vec<ClockReport> = Vec::new();
    let mut notes: Vec<String> = Vec::new();
    let epoch = captures
        .iter()
        .flat_map(|c| c.marks.iter())
        .filter(|m| m.seconds != 0)
        .map(|m| m.seconds)
        .min()
        .unwrap_or(0);
    let mut timed: Vec<Timed> = Vec::new();
    let mut stale: Vec<Rejected> = Vec::new();
    let mut powered: Vec<usize> = Vec::new();
    for (i, c) in captures.iter().enumerate() {
        if c.samples.is_empty() || c.samples.iter().all(|x| x.re == 0.0 && x.im == 0.0) {
            rejected.push(Rejected {
                id: c.id.clone(),
                reason: "all-zero or empty IQ".into(),
            });
            continue;
        }
        powered.push(i);
        match c.clock {
            ClockSource::Host => {
                clocks.push(ClockReport {
                    id: c.id.clone(),
                    clock: c.clock,
                    fitted_rate_hz: None,
                    marks_used: 0,
                    marks_dropped: 0,
                    rms_residual_s: None,
                });
                rejected.push(Rejected {
                    id: c.id.clone(),
                    reason: "host clock (NTP, milliseconds): not usable for TDoA".into(),
                });
            }
            ClockSource::Gps => match timing::fit_time_model(&c.marks, c.sample_rate_hz, epoch, opts.max_fix_age_s) {
                Ok(model) => {
                    clocks.push(ClockReport {
                        id: c.id.clone(),
                        clock: c.clock,
                        fitted_rate_hz: Some(model.rate_hz),
                        marks_used: model.marks_used,
                        marks_dropped: model.marks_dropped,
                        rms_residual_s: Some(model.rms_residual_s),
                    });
                    timed.push(Timed { index: i, model });
                }
                Err(reason) => {
                    clocks.push(ClockReport {
                        id: c.id.clone(),
                        clock: c.clock,
                        fitted_rate_hz: None,
                        marks_used: 0,
                        marks_dropped: c.marks.len(),
                        rms_residual_s: None,
                    });
                    let r = Rejected {
                        id: c.id.clone(),
                        reason: format!("timestamps: {reason}"),
                    };
                    stale.push(r.clone());
                    rejected.push(r);
                }
            },
        }
    }
    let any_gps = captures.iter().any(|c| c.clock == ClockSource::Gps);
    let all_gps = captures.iter().all(|c| c.clock == ClockSource::Gps);
    if any_gps && timed.is_empty() && (all_gps || powered.len() < 3) && !stale.is_empty() {
        return Err(LocateError::AllTimestampsStale {
            reasons: reasons(&stale),
        });
    }
    let freq = captures.iter().map(|c| c.centre_frequency_hz).fold(0.0, f64::max);
    let positions: Vec<GeoPoint> = captures.iter().map(|c| c.position).collect();
    let max_baseline = positions
        .iter()
        .flat_map(|a| positions.iter().map(move |b| geo::geodesic_distance(a, b)))
        .fold(0.0, f64::max);
    let (model, model_reason) = match opts.path_model {
        Some(m) => (m, "chosen by the caller".to_string()),
        None if freq < 30e6 => (
            PathModel::Geodesic,
            format!(
                "{:.3} MHz < 30 MHz: ground/sky wave follows the earth's surface (WGS84 geodesic)",
                freq / 1e6
            ),
        ),
        None if max_baseline > 150e3 => (
            PathModel::Geodesic,
            format!(
                "baselines up to {:.0} km exceed line of sight: WGS84 geodesic",
                max_baseline / 1e3
            ),
        ),
        None => (
            PathModel::LineOfSight,
            format!(
                "{:.3} MHz >= 30 MHz, baselines <= 150 km: line of sight (ECEF straight lines with heights)",
                freq / 1e6
            ),
        ),
    };
    if timed.len() < 3 {
        let host = captures.iter().filter(|c| c.clock == ClockSource::Host).count();
        if host > 0 {
            notes.push(format!(
                "TDoA refused for {host} receivers: host clock (NTP, milliseconds) is useless for time differences"
            ));
        }
        notes.push(format!(
            "{} GPS-timed receivers: TDoA needs 3, falling back to RSSI",
            timed.len()
        ));
        return locate_rssi(captures, &powered, opts, rejected, clocks, notes, model, model_reason);
    }
    tdoa(captures, &timed, opts, rejected, clocks, notes, model, model_reason)
}

#[allow(clippy::too_many_arguments)]
fn locate_rssi(
    captures: &[ReceiverCapture],
    powered: &[usize],
    opts: &LocateOptions,
    mut rejected: Vec<Rejected>,
    clocks: Vec<ClockReport>,
    mut notes: Vec<String>,
    model: PathModel,
    model_reason: String,
) -> Result<Localization, LocateError> {
    if powered.len() < 3 {
        return Err(LocateError::TooFewReceivers {
            usable: powered.len(),
            needed: 3,
            method: "rssi",
            reasons: reasons(&rejected),
        });
    }
    let band = signal::estimate_band(&captures[powered[0]].samples, captures[powered[0]].sample_rate_hz);
    let mut power_db = Vec::new();
    for &i in powered {
        let c = &captures[i];
        let factor = ((c.sample_rate_hz / (2.5 * band.width_hz)).floor() as usize).max(1);
        let d = signal::decimate(&c.samples, c.sample_rate_hz, factor, band.centre_hz);
        let p = d.iter().map(|x| x.norm_sqr() as f64).sum::<f64>() / d.len().max(1) as f64;
        power_db.push(10.0 * p.max(1e-30).log10());
    }
    let stations: Vec<GeoPoint> = powered.iter().map(|&i| captures[i].position).collect();
    let bbox = solve::search_box(&stations, 0.05);
    let fix = rssi::rssi_fix(
        &stations,
        &power_db,
        opts.path_loss_exponent,
        opts.shadowing_db,
        bbox,
        opts.grid_side,
        model,
    );
    if fix.edge_mass > 0.05 {
        notes.push(format!(
            "RSSI posterior reaches the search box edge ({:.0}% of its mass): the ellipse is a lower bound",
            100.0 * fix.edge_mass
        ));
    }
    notes.push(format!(
        "RSSI: log-distance path loss, exponent {}, shadowing σ {} dB, uncalibrated receivers (transmit power fitted): expect errors of a large fraction of the station spacing",
        opts.path_loss_exponent, opts.shadowing_db
    ));
    rejected.retain(|r| !powered.iter().any(|&i| captures[i].id == r.id));
    Ok(Localization {
        latitude: fix.position.latitude,
        longitude: fix.position.longitude,
        error_ellipse_m: Ellipse::from_covariance(fix.covariance, opts.confidence),
        sigma_ellipse_m: Ellipse::from_covariance(fix.covariance, 1.0 - (-0.5f64).exp()),
        method: Method::Rssi,
        path_model: model,
        path_model_reason: model_reason,
        stations_used: powered.iter().map(|&i| captures[i].id.clone()).collect(),
        stations_rejected: rejected,
        clocks,
        pairs: Vec::new(),
        features: Vec::new(),
        band_hz: band.width_hz,
        correlation_rate_hz: 0.0,
        window_s: 0.0,
        chi2: fix.field.chi2.iter().copied().fold(f64::INFINITY, f64::min),
        dof: powered.len().saturating_sub(3),
        poor_geometry: true,
        ambiguous: None,
        notes,
        field: Some(fix.field),
    })
}
