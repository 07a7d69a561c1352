//! # heimdall-locate
//!
//! Locates a transmitter from several receivers' captures of it.
//!
//! * **TDoA** (three or more GPS-timed receivers): every receiver's time marks give a fitted
//!   sample rate and offset ([`timing`]); the captures are decimated to the signal's occupied
//!   band, resampled onto one time grid over their common window, and every pair is
//!   cross-correlated ([`correlate`]) on the timing features the signal offers ([`signal`]).
//!   A likelihood grid then Levenberg-Marquardt on WGS84 ([`solve`]) give the position, its
//!   covariance and error ellipse, and the per-pair residuals; inconsistent pairs are dropped
//!   with the reason.
//! * **RSSI** (fewer GPS-timed receivers): received power against a log-distance path-loss
//!   model ([`rssi`]), with the loose uncertainty that deserves.
#![warn(missing_docs)]

pub mod correlate;
pub mod error;
pub mod geo;
pub mod rssi;
pub mod signal;
pub mod solve;
#[cfg(feature = "testkit")]
pub mod testkit;
pub mod timing;

use num_complex::Complex32;
use rustfft::FftPlanner;
use serde::{Deserialize, Serialize};

pub use correlate::Weighting;
pub use error::LocateError;
pub use geo::{GeoPoint, PathModel, SPEED_OF_LIGHT};
pub use signal::Feature;
pub use solve::{Ellipse, Field};
pub use timing::{ClockSource, TimeMark, TimeModel};

/// One receiver's capture of the transmitter.
#[derive(Debug, Clone, PartialEq)]
pub struct ReceiverCapture {
    /// Receiver id (reported back in the result).
    pub id: String,
    /// Antenna position.
    pub position: GeoPoint,
    /// Where the time marks come from.
    pub clock: ClockSource,
    /// Nominal sample rate (Hz); the true one is fitted from the time marks.
    pub sample_rate_hz: f64,
    /// Tuned centre frequency (Hz): selects the propagation model.
    pub centre_frequency_hz: f64,
    /// Complex baseband samples.
    pub samples: Vec<Complex32>,
    /// Time marks (at least two fresh ones for TDoA).
    pub marks: Vec<TimeMark>,
}

/// Knobs of [`locate`]; the defaults suit both KiwiSDR LF/HF recordings and VHF networks.
#[derive(Debug, Clone, PartialEq)]
pub struct LocateOptions {
    /// Time marks older than this since the last GNSS fix are stale (s).
    pub max_fix_age_s: u32,
    /// Shortest common window worth correlating (s).
    pub min_window_s: f64,
    /// Path model; `None` picks by frequency and baseline (see [`Localization::path_model_reason`]).
    pub path_model: Option<PathModel>,
    /// Confidence of the reported ellipse.
    pub confidence: f64,
    /// A pair whose residual exceeds this many σ is dropped (while redundancy allows).
    pub reject_sigma: f64,
    /// Cells per side of the coarse likelihood grid.
    pub grid_side: usize,
    /// Path-loss exponent of the RSSI fallback (2 = free space).
    pub path_loss_exponent: f64,
    /// Shadowing σ of the RSSI fallback (dB).
    pub shadowing_db: f64,
}

impl Default for LocateOptions {
    fn default() -> Self {
        Self {
            max_fix_age_s: 10,
            min_window_s: 1.0,
            path_model: None,
            confidence: 0.95,
            reject_sigma: 4.0,
            grid_side: 100,
            path_loss_exponent: 2.0,
            shadowing_db: 6.0,
        }
    }
}

/// Method that produced a fix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    /// Time differences of arrival from GPS-timed receivers.
    Tdoa,
    /// Received power against a path-loss model.
    Rssi,
}

/// A receiver left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rejected {
    /// Receiver id.
    pub id: String,
    /// Plain-words reason.
    pub reason: String,
}

/// A receiver's fitted clock.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClockReport {
    /// Receiver id.
    pub id: String,
    /// Clock kind.
    pub clock: ClockSource,
    /// Fitted sample rate (Hz), GPS-timed receivers only.
    pub fitted_rate_hz: Option<f64>,
    /// Time marks used / dropped.
    pub marks_used: usize,
    /// Time marks dropped as stale or inconsistent.
    pub marks_dropped: usize,
    /// RMS residual of the marks around the fit (s).
    pub rms_residual_s: Option<f64>,
}

/// One feature's delay for a pair.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FeatureDelay {
    /// Feature correlated.
    pub feature: Feature,
    /// Weighting chosen (higher peak-to-sidelobe ratio).
    pub weighting: Weighting,
    /// Delay (s).
    pub delay_s: f64,
    /// Normalised correlation peak.
    pub rho: f64,
    /// Peak-to-sidelobe ratio.
    pub psr: f64,
    /// Random 1σ (s).
    pub sigma_s: f64,
}

/// A receiver pair's measurement and fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PairReport {
    /// First receiver.
    pub a: String,
    /// Second receiver.
    pub b: String,
    /// Arrival at `a` minus arrival at `b` (s), features fused.
    pub delay_s: f64,
    /// Total 1σ (features' spread, clocks, propagation) (s).
    pub sigma_s: f64,
    /// Per-feature estimates.
    pub features: Vec<FeatureDelay>,
    /// Measured minus predicted at the solution (s).
    pub residual_s: Option<f64>,
    /// Whether the solver used it.
    pub used: bool,
    /// Why not, when not.
    pub reason: Option<String>,
}

/// Result of [`locate`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Localization {
    /// Latitude (degrees).
    pub latitude: f64,
    /// Longitude (degrees).
    pub longitude: f64,
    /// Error ellipse at the requested confidence (95% by default).
    pub error_ellipse_m: Ellipse,
    /// 1σ ellipse.
    pub sigma_ellipse_m: Ellipse,
    /// How the fix was made.
    pub method: Method,
    /// Path model used.
    pub path_model: PathModel,
    /// Why that path model.
    pub path_model_reason: String,
    /// Receivers that contributed.
    pub stations_used: Vec<String>,
    /// Receivers left out, with the reason.
    pub stations_rejected: Vec<Rejected>,
    /// Per-receiver clocks.
    pub clocks: Vec<ClockReport>,
    /// Per-pair delays and residuals (TDoA).
    pub pairs: Vec<PairReport>,
    /// Timing features used (TDoA): chosen by the signal.
    pub features: Vec<Feature>,
    /// Occupied band used (Hz) and the rate correlated at (Hz).
    pub band_hz: f64,
    /// Sample rate of the correlated series (Hz).
    pub correlation_rate_hz: f64,
    /// Common window correlated (s).
    pub window_s: f64,
    /// χ² of the fit and its degrees of freedom.
    pub chi2: f64,
    /// Degrees of freedom of `chi2`.
    pub dof: usize,
    /// Geometry too weak for the ellipse to be trusted far from its centre.
    pub poor_geometry: bool,
    /// Another position fits almost as well (mirror solution).
    pub ambiguous: Option<GeoPoint>,
    /// Plain-words notes (fallbacks, refusals, caveats).
    pub notes: Vec<String>,
    /// Likelihood field (χ² per cell) for maps; not serialised.
    #[serde(skip)]
    pub field: Option<Field>,
}

impl Localization {
    /// The fix as a point.
    pub fn position(&self) -> GeoPoint {
        GeoPoint::new(self.latitude, self.longitude)
    }

    /// Whether `truth` lies inside the reported error ellipse.
    pub fn ellipse_contains(&self, truth: &GeoPoint) -> bool {
        let (e, n) = self.position().east_north_to(truth);
        self.error_ellipse_m.contains(e, n)
    }
}

/// Propagation model σ per pair (s): what the path model does not capture. Below 30 MHz the
/// ground wave's phase velocity and sky-wave mixing bias pair delays by microseconds.
fn propagation_sigma(model: PathModel) -> f64 {
    match model {
        PathModel::Geodesic => 2e-6,
        PathModel::LineOfSight => 5e-9,
    }
}

struct Timed {
    index: usize,
    model: TimeModel,
}

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

/// Largest 2^a·3^b·5^c not above `n` (fast FFT sizes).
fn smooth_size(n: usize) -> usize {
    let mut best = 1;
    let mut p2 = 1usize;
    while p2 <= n {
        let mut p3 = p2;
        while p3 <= n {
            let mut p5 = p3;
            while p5 <= n {
                best = best.max(p5);
                p5 *= 5;
            }
            p3 *= 3;
        }
        p2 *= 2;
    }
    best
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

#[allow(clippy::too_many_arguments)]
fn tdoa(
    captures: &[ReceiverCapture],
    timed: &[Timed],
    opts: &LocateOptions,
    mut rejected: Vec<Rejected>,
    clocks: Vec<ClockReport>,
    mut notes: Vec<String>,
    model: PathModel,
    model_reason: String,
) -> Result<Localization, LocateError> {
    let stations: Vec<GeoPoint> = timed.iter().map(|t| captures[t.index].position).collect();
    check_collinear(&stations)?;
    // Occupied band from the strongest capture, decimation to it.
    let first = &captures[timed[0].index];
    let band = signal::estimate_band(&first.samples, first.sample_rate_hz);
    let factors: Vec<usize> = timed
        .iter()
        .map(|t| ((t.model.rate_hz / (2.5 * band.width_hz)).floor() as usize).max(1))
        .collect();
    let decimated: Vec<Vec<Complex32>> = timed
        .iter()
        .zip(&factors)
        .map(|(t, &f)| {
            let c = &captures[t.index];
            signal::decimate(&c.samples, c.sample_rate_hz, f, band.centre_hz)
        })
        .collect();
    // Common window (skipping one decimated sample at each end for the interpolator).
    let mut start = f64::MIN;
    let mut end = f64::MAX;
    for ((t, d), &f) in timed.iter().zip(&decimated).zip(&factors) {
        start = start.max(t.model.time_of(f as f64 * 1.0 + (f as f64 - 1.0) / 2.0));
        end = end.min(
            t.model
                .time_of(f as f64 * (d.len() as f64 - 3.0) + (f as f64 - 1.0) / 2.0),
        );
    }
    let window = end - start;
    if window <= 0.0 {
        return Err(LocateError::NoOverlap { overlap_s: window });
    }
    if window < opts.min_window_s {
        return Err(LocateError::CaptureTooShort {
            seconds: window,
            needed: opts.min_window_s,
        });
    }
    let rate = timed
        .iter()
        .zip(&factors)
        .map(|(t, &f)| t.model.rate_hz / f as f64)
        .fold(f64::MAX, f64::min);
    let n = smooth_size((window * rate).floor() as usize);
    let mut planner = FftPlanner::<f32>::new();
    let fwd = planner.plan_fft_forward(n);
    let inv = planner.plan_fft_inverse(n);
    let grid_series: Vec<Vec<Complex32>> = timed
        .iter()
        .zip(&decimated)
        .zip(&factors)
        .map(|((t, d), &f)| signal::resample(d, &t.model, f, start, rate, n))
        .collect();
    drop(decimated);
    // Carrier-dominated signals are timed by their envelope and their phase modulation; others
    // coherently (frequency offset removed) and by their envelope.
    let mut fractions = Vec::new();
    let mut carriers = Vec::new();
    let mut spectra: Vec<Vec<Complex32>> = grid_series
        .iter()
        .map(|z| {
            let mut s = z.clone();
            fwd.process(&mut s);
            let (frac, f) = signal::carrier_line(&s, rate);
            fractions.push(frac);
            carriers.push(f);
            s
        })
        .collect();
    let mut sorted = fractions.clone();
    sorted.sort_by(f64::total_cmp);
    // A carrier with small-index modulation: a strong spectral line and a phase that stays
    // within a few tenths of a radian of it (FM keeps a strong line at low index, but its phase
    // wanders by radians and is timed coherently).
    let carrier = sorted[sorted.len() / 2] > 0.3 && {
        let window = ((0.5 * rate) as usize).max(3);
        let mut dev: Vec<f64> = grid_series
            .iter()
            .zip(&carriers)
            .map(|(z, &f)| {
                let mut s = z.clone();
                signal::mix(&mut s, rate, f);
                signal::phase_deviation_rms(&s, window)
            })
            .collect();
        dev.sort_by(f64::total_cmp);
        dev[dev.len() / 2] < 0.5
    };
    let half_band = (0.5 * band.width_hz).min(0.5 * rate);
    let features = if carrier {
        vec![Feature::Envelope, Feature::CarrierPhase]
    } else {
        vec![Feature::Coherent, Feature::Envelope]
    };
    let mut feature_spectra: Vec<Vec<Vec<Complex32>>> = Vec::new(); // [receiver][feature]
    for (k, z) in grid_series.into_iter().enumerate() {
        let mut per = Vec::new();
        for f in &features {
            let mut series = match f {
                Feature::Coherent => {
                    // Mixed down by the common band centre at decimation: GPS-timed receivers
                    // have GPS-locked local oscillators, so no per-receiver offset is removed
                    // (a per-receiver estimate off by a fraction of a bin skews the peak).
                    let mut s = z.clone();
                    signal::remove_mean(&mut s);
                    s
                }
                Feature::Envelope => signal::envelope(&z),
                Feature::CarrierPhase => {
                    let mut s = z.clone();
                    signal::mix(&mut s, rate, carriers[k]);
                    signal::carrier_phase(&s, ((0.5 * rate) as usize).max(3))
                }
            };
            fwd.process(&mut series);
            per.push(series);
        }
        spectra[k] = Vec::new();
        feature_spectra.push(per);
    }
    // Pair delays.
    let mut scratch = correlate::Scratch::default();
    let mut pairs: Vec<PairReport> = Vec::new();
    let mut obs: Vec<(solve::PairObs, usize)> = Vec::new();
    let sigma_prop = propagation_sigma(model);
    for a in 0..timed.len() {
        for b in a + 1..timed.len() {
            let baseline = model.distance(&stations[a], &stations[b]);
            let max_lag = baseline / SPEED_OF_LIGHT * 1.02 + 2.0 / rate;
            let mut fds = Vec::new();
            for (fi, f) in features.iter().enumerate() {
                let real = *f != Feature::Coherent;
                if let Some(e) = correlate::correlate(
                    &feature_spectra[a][fi],
                    &feature_spectra[b][fi],
                    rate,
                    half_band,
                    max_lag,
                    real,
                    !real,
                    inv.as_ref(),
                    &mut scratch,
                ) {
                    fds.push(FeatureDelay {
                        feature: *f,
                        weighting: e.weighting,
                        delay_s: e.delay_s,
                        rho: e.rho,
                        psr: e.psr,
                        sigma_s: e.sigma_s,
                    });
                }
            }
            let good: Vec<(f64, f64)> = fds
                .iter()
                .filter(|f| f.rho >= 0.05 && f.psr >= 4.0)
                .map(|f| (f.delay_s, f.sigma_s))
                .collect();
            let (ida, idb) = (captures[timed[a].index].id.clone(), captures[timed[b].index].id.clone());
            if good.is_empty() {
                let best = fds.iter().map(|f| f.rho).fold(0.0, f64::max);
                pairs.push(PairReport {
                    a: ida,
                    b: idb,
                    delay_s: f64::NAN,
                    sigma_s: f64::NAN,
                    features: fds,
                    residual_s: None,
                    used: false,
                    reason: Some(format!("no correlation peak (best ρ {best:.3})")),
                });
                continue;
            }
            let (d, s) = correlate::fuse(&good);
            let sigma =
                (s * s + timed[a].model.sigma_s().powi(2) + timed[b].model.sigma_s().powi(2) + sigma_prop * sigma_prop)
                    .sqrt();
            obs.push((
                solve::PairObs {
                    a,
                    b,
                    delay_s: d,
                    sigma_s: sigma,
                },
                pairs.len(),
            ));
            pairs.push(PairReport {
                a: ida,
                b: idb,
                delay_s: d,
                sigma_s: sigma,
                features: fds,
                residual_s: None,
                used: true,
                reason: None,
            });
        }
    }
    // Solve, dropping the worst pair while it is inconsistent and redundancy remains.
    let (solution, field, active_stations) = loop {
        let mut active: Vec<bool> = vec![false; timed.len()];
        for (o, _) in &obs {
            active[o.a] = true;
            active[o.b] = true;
        }
        let n_active = active.iter().filter(|x| **x).count();
        if n_active < 3 || obs.len() < 2 {
            for (k, t) in timed.iter().enumerate() {
                if !active[k] {
                    rejected.push(Rejected {
                        id: captures[t.index].id.clone(),
                        reason: "no consistent correlation with the other receivers".into(),
                    });
                }
            }
            return Err(LocateError::TooFewReceivers {
                usable: n_active,
                needed: 3,
                method: "tdoa",
                reasons: reasons(&rejected),
            });
        }
        let o: Vec<solve::PairObs> = obs.iter().map(|x| x.0).collect();
        let used_st: Vec<GeoPoint> = (0..timed.len()).filter(|&k| active[k]).map(|k| stations[k]).collect();
        let bbox = solve::search_box(&used_st, 0.05);
        let field = solve::grid(&stations, &o, model, bbox, opts.grid_side);
        let sol = solve::solve(&stations, &o, model, &field);
        let dof = (n_active - 1).saturating_sub(2);
        let worst = sol
            .residuals_s
            .iter()
            .zip(&o)
            .enumerate()
            .map(|(k, (r, p))| (k, (r / p.sigma_s).abs()))
            .max_by(|x, y| x.1.total_cmp(&y.1));
        match worst {
            Some((k, z)) if dof > 0 && z > opts.reject_sigma => {
                let (_, pi) = obs.remove(k);
                pairs[pi].used = false;
                pairs[pi].residual_s = Some(sol.residuals_s[k]);
                pairs[pi].reason = Some(format!(
                    "residual {:.3} µs = {z:.1}σ: inconsistent with the other pairs",
                    sol.residuals_s[k] * 1e6
                ));
            }
            _ => break (sol, field, active),
        }
    };
    for ((_, pi), r) in obs.iter().zip(&solution.residuals_s) {
        pairs[*pi].residual_s = Some(*r);
    }
    let mut used = Vec::new();
    for (k, t) in timed.iter().enumerate() {
        let id = captures[t.index].id.clone();
        if active_stations[k] {
            used.push(id);
        } else {
            rejected.push(Rejected {
                id,
                reason: "its pair delays are inconsistent with the other receivers".into(),
            });
        }
    }
    let n_used = used.len();
    let dof = (n_used - 1).saturating_sub(2);
    // All pairs of n stations carry n-1 independent delays: scale the covariance for the
    // double counting, and by the reduced χ² when it shows the σ were optimistic.
    let mut scale = n_used as f64 / 2.0;
    if dof > 0 {
        scale *= (solution.chi2 / dof as f64).max(1.0);
    }
    let cov = solution.covariance.map(|row| row.map(|v| v * scale));
    let ellipse = Ellipse::from_covariance(cov, opts.confidence);
    let sigma_ellipse = Ellipse::from_covariance(cov, 1.0 - (-0.5f64).exp());
    let median_sigma = {
        let mut s: Vec<f64> = obs.iter().map(|o| o.0.sigma_s).collect();
        s.sort_by(f64::total_cmp);
        s[s.len() / 2]
    };
    let poor_geometry = sigma_ellipse.semi_major > 20.0 * SPEED_OF_LIGHT * median_sigma;
    if poor_geometry {
        notes.push(format!(
            "poor geometry: 1σ semi-major {:.0} m is over 20× the range error of one pair",
            sigma_ellipse.semi_major
        ));
    }
    if let Some(alt) = solution.alternative {
        notes.push(format!(
            "ambiguous: another position fits almost as well at {:.5}, {:.5}",
            alt.latitude, alt.longitude
        ));
    }
    if carrier {
        notes.push("carrier-dominated signal: timed by its envelope and its carrier phase modulation, fused with their disagreement as error".into());
    }
    Ok(Localization {
        latitude: solution.position.latitude,
        longitude: solution.position.longitude,
        error_ellipse_m: ellipse,
        sigma_ellipse_m: sigma_ellipse,
        method: Method::Tdoa,
        path_model: model,
        path_model_reason: model_reason,
        stations_used: used,
        stations_rejected: rejected,
        clocks,
        pairs,
        features,
        band_hz: band.width_hz,
        correlation_rate_hz: rate,
        window_s: n as f64 / rate,
        chi2: solution.chi2,
        dof,
        poor_geometry,
        ambiguous: solution.alternative,
        notes,
        field: Some(field),
    })
}

/// Refuses stations on (nearly) one line: their spread across the best-fit line must be at
/// least 1% of the spread along it and 10 m.
fn check_collinear(stations: &[GeoPoint]) -> Result<(), LocateError> {
    let o = stations[0];
    let pts: Vec<(f64, f64)> = stations.iter().map(|s| o.east_north_to(s)).collect();
    let n = pts.len() as f64;
    let (me, mn) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let (mut a, mut b, mut c) = (0.0, 0.0, 0.0);
    for (e, nn) in &pts {
        a += (e - me).powi(2) / n;
        b += (e - me) * (nn - mn) / n;
        c += (nn - mn).powi(2) / n;
    }
    let tr = 0.5 * (a + c);
    let det = ((0.5 * (a - c)).powi(2) + b * b).sqrt();
    let (l1, l2) = (tr + det, (tr - det).max(0.0));
    let across = l2.sqrt();
    if across < 0.01 * l1.sqrt() || across < 10.0 {
        return Err(LocateError::CollinearStations { spread_m: across });
    }
    Ok(())
}
