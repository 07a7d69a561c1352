//! Where a session's transmitter was located: the [`LocalizationRecord`] kept in the metrics
//! database, and the [`LocalizationStore`] capability that keeps it.
//!
//! The record is built from the localization's JSON result (the object `heimdall-locate`'s
//! `Localization` serialises to, the same one `locate --json` prints): the columns an analyst
//! filters on (position, error ellipse, method, stations) are taken out of it, and the whole
//! result is kept next to them. Core does not depend on the localization crate: the JSON shape
//! is the contract ([`LocalizationRecord::from_result`]).

use std::fmt::Debug;
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};
use crate::ids::SessionId;

/// A receiver the localization left out, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RejectedStation {
    /// Receiver id.
    pub id: String,
    /// Plain-words reason.
    pub reason: String,
}

/// One session's localization as a database row.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalizationRecord {
    /// The session located.
    pub session_id: SessionId,
    /// When the localization was made (stored to the microsecond).
    pub located_at: DateTime<Utc>,
    /// Latitude of the fix, degrees.
    pub latitude: f64,
    /// Longitude of the fix, degrees.
    pub longitude: f64,
    /// Error ellipse semi-major axis, metres.
    pub semi_major_m: f64,
    /// Error ellipse semi-minor axis, metres.
    pub semi_minor_m: f64,
    /// Direction of the major axis, degrees clockwise from north.
    pub orientation_deg: f64,
    /// Probability that the transmitter is inside the ellipse (e.g. 0.95).
    pub confidence: f64,
    /// How the fix was made (`tdoa`, `rssi`).
    pub method: String,
    /// Receivers that contributed.
    pub stations_used: Vec<String>,
    /// Receivers left out, with the reason.
    pub stations_rejected: Vec<RejectedStation>,
    /// The whole result, as the localization serialised it.
    pub result: Value,
}

fn bad(reason: String) -> Error {
    Error::invalid("localization", reason)
}

fn number(v: &Value, path: &[&str]) -> Result<f64> {
    let mut cur = v;
    for k in path {
        cur = cur
            .get(k)
            .ok_or_else(|| bad(format!("the result has no {}", path.join("."))))?;
    }
    cur.as_f64()
        .ok_or_else(|| bad(format!("{} is {cur}, not a number", path.join("."))))
}

impl LocalizationRecord {
    /// The record of `session` from a localization result (the JSON object with `latitude`,
    /// `longitude`, `error_ellipse_m {semi_major, semi_minor, orientation_deg, confidence}`,
    /// `method`, `stations_used` and `stations_rejected [{id, reason}]`), checked with
    /// [`LocalizationRecord::validate`]. A missing or mistyped field is an
    /// [`Error::InvalidInput`] naming it.
    pub fn from_result(session_id: SessionId, located_at: DateTime<Utc>, result: &Value) -> Result<Self> {
        if !result.is_object() {
            return Err(bad("the result is not a JSON object".into()));
        }
        let method = result
            .get("method")
            .and_then(Value::as_str)
            .ok_or_else(|| bad("the result has no method string".into()))?
            .to_owned();
        let stations_used: Vec<String> =
            serde_json::from_value(result.get("stations_used").cloned().unwrap_or_default())
                .map_err(|e| bad(format!("stations_used: {e}")))?;
        let stations_rejected: Vec<RejectedStation> =
            serde_json::from_value(result.get("stations_rejected").cloned().unwrap_or_default())
                .map_err(|e| bad(format!("stations_rejected: {e}")))?;
        let e = "error_ellipse_m";
        let rec = LocalizationRecord {
            session_id,
            located_at,
            latitude: number(result, &["latitude"])?,
            longitude: number(result, &["longitude"])?,
            semi_major_m: number(result, &[e, "semi_major"])?,
            semi_minor_m: number(result, &[e, "semi_minor"])?,
            orientation_deg: number(result, &[e, "orientation_deg"])?,
            confidence: number(result, &[e, "confidence"])?,
            method,
            stations_used,
            stations_rejected,
            result: result.clone(),
        };
        rec.validate()?;
        Ok(rec)
    }

    /// Checks ranges: a latitude within ±90° and a longitude within ±180°, finite non-negative
    /// axes (major ≥ minor), a finite orientation, a confidence in (0, 1), a method, and a JSON
    /// object as the result.
    pub fn validate(&self) -> Result<()> {
        if !(self.latitude.is_finite() && self.latitude.abs() <= 90.0) {
            return Err(bad(format!("latitude {} is not within ±90°", self.latitude)));
        }
        if !(self.longitude.is_finite() && self.longitude.abs() <= 180.0) {
            return Err(bad(format!("longitude {} is not within ±180°", self.longitude)));
        }
        let (a, b) = (self.semi_major_m, self.semi_minor_m);
        if !(a.is_finite() && b.is_finite() && b >= 0.0 && a >= b) {
            return Err(bad(format!(
                "ellipse axes {a} m x {b} m are not finite with major >= minor >= 0"
            )));
        }
        if !self.orientation_deg.is_finite() {
            return Err(bad(format!("orientation {} is not finite", self.orientation_deg)));
        }
        if !(self.confidence > 0.0 && self.confidence < 1.0) {
            return Err(bad(format!("confidence {} is not within (0, 1)", self.confidence)));
        }
        if self.method.is_empty() {
            return Err(bad("empty method".into()));
        }
        if !self.result.is_object() {
            return Err(bad("the result is not a JSON object".into()));
        }
        Ok(())
    }
}

/// Keeps one localization per session (optional capability of a metrics database).
///
/// Like measurement rows, a localization is written once: recording a session that already has
/// one leaves the stored record untouched and returns `false` (a retry after a lost answer is
/// harmless, and a committed result never changes).
#[async_trait]
pub trait LocalizationStore: Send + Sync + Debug + 'static {
    /// Stores `record` (validated first) unless its session already has one; `true` when stored.
    async fn record_localization(&self, record: &LocalizationRecord) -> Result<bool>;

    /// The localization of `session`, if recorded.
    async fn localization(&self, session: SessionId) -> Result<Option<LocalizationRecord>>;
}

forward_through_pointers!(LocalizationStore {
    async fn record_localization(&self, record: &LocalizationRecord) -> Result<bool>;
    async fn localization(&self, session: SessionId) -> Result<Option<LocalizationRecord>>;
});

#[cfg(test)]
mod tests {
    use super::*;

    fn result() -> Value {
        serde_json::json!({
            "latitude": 44.93, "longitude": 8.21,
            "error_ellipse_m": {"semi_major": 120.0, "semi_minor": 40.5, "orientation_deg": 33.0, "confidence": 0.95},
            "method": "tdoa",
            "stations_used": ["a", "b", "c"],
            "stations_rejected": [{"id": "d", "reason": "host clock"}],
            "notes": []
        })
    }

    #[test]
    fn record_from_result_takes_the_columns_out() {
        let s = SessionId::new();
        let r = LocalizationRecord::from_result(s, Utc::now(), &result()).unwrap();
        assert_eq!((r.latitude, r.longitude, r.semi_minor_m), (44.93, 8.21, 40.5));
        assert_eq!(r.stations_rejected[0].reason, "host clock");
        assert_eq!(r.method, "tdoa");
    }

    #[test]
    fn malformed_results_are_refused_with_the_field() {
        let s = SessionId::new();
        for (path, v, needle) in [
            ("latitude", Value::Null, "latitude"),
            ("latitude", serde_json::json!(91.0), "latitude"),
            ("method", serde_json::json!(3), "method"),
            (
                "stations_rejected",
                serde_json::json!([{"id": "x"}]),
                "stations_rejected",
            ),
        ] {
            let mut r = result();
            r[path] = v;
            match LocalizationRecord::from_result(s, Utc::now(), &r) {
                Err(Error::InvalidInput { reason, .. }) => assert!(reason.contains(needle), "{reason}"),
                other => panic!("{path}: {other:?}"),
            }
        }
        let mut r = result();
        r["error_ellipse_m"]["semi_minor"] = serde_json::json!(500.0);
        assert!(LocalizationRecord::from_result(s, Utc::now(), &r).is_err());
        assert!(LocalizationRecord::from_result(s, Utc::now(), &serde_json::json!([1])).is_err());
    }
}
