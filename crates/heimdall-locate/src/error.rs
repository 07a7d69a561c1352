//! Why a localization could not be made.

/// Every way [`crate::locate`] can refuse a set of captures.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum LocateError {
    /// Fewer usable receivers than the method needs; `reasons` says why each other one was dropped.
    #[error("{usable} usable receivers, {needed} needed ({method}); rejected: {reasons}")]
    TooFewReceivers {
        /// Receivers that survived the checks.
        usable: usize,
        /// Receivers the method needs.
        needed: usize,
        /// `"tdoa"` or `"rssi"`.
        method: &'static str,
        /// `id: reason` for every rejected receiver, `; `-separated.
        reasons: String,
    },
    /// The GPS-timed captures do not cover a common time window.
    #[error("captures do not overlap in time (common window {overlap_s:.3} s)")]
    NoOverlap {
        /// Length of the common window (negative when disjoint).
        overlap_s: f64,
    },
    /// No receiver has a usable timestamp (every time mark stale, missing or inconsistent).
    #[error("all timestamps stale or inconsistent: {reasons}")]
    AllTimestampsStale {
        /// `id: reason` per receiver.
        reasons: String,
    },
    /// The receivers lie on a line: a position off that line is not determined.
    #[error("stations are collinear (spread across the line {spread_m:.0} m): position ambiguous")]
    CollinearStations {
        /// Smallest spread of the stations across their best-fit line.
        spread_m: f64,
    },
    /// The common window is shorter than the minimum.
    #[error("capture too short: common window {seconds:.3} s, at least {needed:.3} s needed")]
    CaptureTooShort {
        /// Common window length.
        seconds: f64,
        /// Minimum window.
        needed: f64,
    },
    /// A map could not be encoded.
    #[error("map: {0}")]
    Map(String),
    /// A capture or option is malformed.
    #[error("invalid {field}: {reason}")]
    InvalidInput {
        /// The field concerned.
        field: &'static str,
        /// What is wrong, with the value.
        reason: String,
    },
}

impl From<LocateError> for heimdall_core::Error {
    fn from(e: LocateError) -> Self {
        match e {
            LocateError::InvalidInput { field, reason } => heimdall_core::Error::InvalidInput { field, reason },
            other => heimdall_core::Error::Generic {
                backend: "locate",
                source: Box::new(other),
            },
        }
    }
}
