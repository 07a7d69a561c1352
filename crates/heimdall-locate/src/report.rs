//! The input and the result of a localization: captures, options, and the report of what was
//! used, rejected and measured.

use num_complex::Complex32;
use serde::{Deserialize, Serialize};

use crate::correlate::Weighting;
use crate::geo::{GeoPoint, PathModel};
use crate::signal::Feature;
use crate::solve::{Ellipse, Field};
use crate::timing::{ClockSource, TimeMark};

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
    /// Weighting used (maximum likelihood from the per-frequency SNRs).
    pub weighting: Weighting,
    /// Delay (s).
    pub delay_s: f64,
    /// Plain normalised correlation at the delay.
    pub rho: f64,
    /// Detection: the peak over the rms the correlation would have with no common signal.
    pub psr: f64,
    /// The highest competing peak within the possible lags over the main one (0-1).
    #[serde(default)]
    pub ambiguity: f64,
    /// Random 1σ (s).
    pub sigma_s: f64,
}

impl FeatureDelay {
    /// Whether the delay is fit to use: correlated (ρ ≥ 0.05), detected above what noise alone
    /// gives ([`crate::correlate::MIN_PSR`]) or plainly common signal
    /// ([`crate::correlate::STRONG_RHO`]), and not ambiguous ([`crate::correlate::MAX_AMBIGUITY`]).
    pub fn usable(&self) -> bool {
        self.rho >= 0.05
            && (self.psr >= crate::correlate::MIN_PSR || self.rho >= crate::correlate::STRONG_RHO)
            && self.ambiguity < crate::correlate::MAX_AMBIGUITY
    }
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
