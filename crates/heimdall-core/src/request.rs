//! Acquisition requests (what the caller asks for) and the per-receiver capture request
//! the engine hands to each source.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{ReceiverId, SessionId};

/// Highest centre frequency accepted, in Hz (300 GHz: the top of the radio spectrum).
pub const MAX_FREQUENCY_HZ: f64 = 300e9;
/// Longest capture accepted.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Highest sample rate accepted, in Hz.
pub const MAX_SAMPLE_RATE_HZ: f64 = 1e9;

/// A passband relative to the tuned frequency, in Hz (`low_hz < high_hz`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Passband {
    /// Lower edge relative to the centre, Hz (negative below).
    pub low_hz: f64,
    /// Upper edge relative to the centre, Hz.
    pub high_hz: f64,
}

impl Passband {
    /// A symmetric passband of total width `width_hz`.
    pub fn symmetric(width_hz: f64) -> Self {
        Passband {
            low_hz: -width_hz / 2.0,
            high_hz: width_hz / 2.0,
        }
    }

    /// Width in Hz.
    pub fn width_hz(&self) -> f64 {
        self.high_hz - self.low_hz
    }

    fn validate(&self) -> Result<()> {
        if !self.low_hz.is_finite() || !self.high_hz.is_finite() || self.low_hz >= self.high_hz {
            return Err(Error::invalid(
                "passband",
                format!(
                    "low {} Hz must be finite and below high {} Hz",
                    self.low_hz, self.high_hz
                ),
            ));
        }
        Ok(())
    }
}

/// What a caller asks for: one frequency, one duration, some receivers.
///
/// ```
/// use std::time::Duration;
/// use heimdall_core::AcquisitionRequest;
/// let req = AcquisitionRequest::new(145.5e6, Duration::from_secs(10)).with_sample_rate(12_000.0);
/// req.validate().unwrap();
/// assert!(AcquisitionRequest::new(f64::NAN, Duration::from_secs(1)).validate().is_err());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AcquisitionRequest {
    /// Centre (target) frequency in Hz.
    pub frequency_hz: f64,
    /// Capture length.
    #[serde(with = "duration_secs")]
    pub duration: Duration,
    /// Preferred sample rate in Hz; receivers with fixed rates use their own.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate_hz: Option<f64>,
    /// Preferred passband relative to the centre.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passband: Option<Passband>,
    /// Subset of receivers to use; `None` means all the engine knows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub receivers: Option<Vec<ReceiverId>>,
    /// Common start time for all receivers (time-aligned captures); `None` means as soon as possible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at: Option<DateTime<Utc>>,
    /// Free-form label stored with the session.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

impl AcquisitionRequest {
    /// A request for `frequency_hz` lasting `duration`, everything else default.
    pub fn new(frequency_hz: f64, duration: Duration) -> Self {
        AcquisitionRequest {
            frequency_hz,
            duration,
            sample_rate_hz: None,
            passband: None,
            receivers: None,
            start_at: None,
            label: None,
        }
    }

    /// Sets the preferred sample rate.
    pub fn with_sample_rate(mut self, hz: f64) -> Self {
        self.sample_rate_hz = Some(hz);
        self
    }

    /// Sets the passband.
    pub fn with_passband(mut self, p: Passband) -> Self {
        self.passband = Some(p);
        self
    }

    /// Restricts the request to these receivers.
    pub fn with_receivers(mut self, ids: impl IntoIterator<Item = ReceiverId>) -> Self {
        self.receivers = Some(ids.into_iter().collect());
        self
    }

    /// Schedules a common start time.
    pub fn with_start_at(mut self, t: DateTime<Utc>) -> Self {
        self.start_at = Some(t);
        self
    }

    /// Rejects absurd values with an error naming the field.
    pub fn validate(&self) -> Result<()> {
        let f = self.frequency_hz;
        if !f.is_finite() || f <= 0.0 || f > MAX_FREQUENCY_HZ {
            return Err(Error::invalid(
                "frequency_hz",
                format!("{f} Hz is not a frequency between 0 (exclusive) and {MAX_FREQUENCY_HZ:e} Hz"),
            ));
        }
        if self.duration.is_zero() || self.duration > MAX_DURATION {
            return Err(Error::invalid(
                "duration",
                format!("{:?} must be more than zero and at most one hour", self.duration),
            ));
        }
        if let Some(sr) = self.sample_rate_hz
            && (!sr.is_finite() || sr <= 0.0 || sr > MAX_SAMPLE_RATE_HZ)
        {
            return Err(Error::invalid(
                "sample_rate_hz",
                format!("{sr} Hz must be positive, finite and at most {MAX_SAMPLE_RATE_HZ:e} Hz"),
            ));
        }
        if let Some(p) = &self.passband {
            p.validate()?;
        }
        if let Some(r) = &self.receivers {
            if r.is_empty() {
                return Err(Error::invalid(
                    "receivers",
                    "the receiver list is empty; omit it to use all receivers",
                ));
            }
            let mut seen = std::collections::HashSet::new();
            for id in r {
                if !seen.insert(id) {
                    return Err(Error::invalid("receivers", format!("{id} is listed twice")));
                }
            }
        }
        if let Some(l) = &self.label
            && l.len() > 1024
        {
            return Err(Error::invalid("label", "longer than 1024 bytes"));
        }
        Ok(())
    }
}

/// What the engine asks one source for: the request, narrowed to that receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureRequest {
    /// The session this capture belongs to.
    pub session_id: SessionId,
    /// Target frequency, Hz.
    pub frequency_hz: f64,
    /// Capture length.
    #[serde(with = "duration_secs")]
    pub duration: Duration,
    /// Preferred sample rate, Hz.
    pub sample_rate_hz: Option<f64>,
    /// Preferred passband.
    pub passband: Option<Passband>,
    /// When the first delivered sample should be taken; the source connects and
    /// handshakes before, and discards what arrives earlier.
    pub start_at: Option<DateTime<Utc>>,
}

impl CaptureRequest {
    /// Narrows `req` for one receiver of session `session_id`.
    pub fn from_request(session_id: SessionId, req: &AcquisitionRequest) -> Self {
        CaptureRequest {
            session_id,
            frequency_hz: req.frequency_hz,
            duration: req.duration,
            sample_rate_hz: req.sample_rate_hz,
            passband: req.passband,
            start_at: req.start_at,
        }
    }

    /// Samples to deliver at `sample_rate_hz` for this request's duration (rounded to nearest).
    pub fn samples_at(&self, sample_rate_hz: f64) -> u64 {
        (self.duration.as_secs_f64() * sample_rate_hz).round().max(0.0) as u64
    }
}

/// Serialise a [`Duration`] as fractional seconds.
pub mod duration_secs {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    /// Serialise as f64 seconds.
    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(d.as_secs_f64())
    }

    /// Deserialise from f64 seconds (rejects negative or non-finite values).
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let v = f64::deserialize(d)?;
        Duration::try_from_secs_f64(v).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok() -> AcquisitionRequest {
        AcquisitionRequest::new(145.5e6, Duration::from_secs(10))
    }

    #[test]
    fn validation_names_the_field() {
        let cases: Vec<(AcquisitionRequest, &str)> = vec![
            (
                AcquisitionRequest {
                    frequency_hz: f64::NAN,
                    ..ok()
                },
                "frequency_hz",
            ),
            (
                AcquisitionRequest {
                    frequency_hz: -1.0,
                    ..ok()
                },
                "frequency_hz",
            ),
            (
                AcquisitionRequest {
                    frequency_hz: 0.0,
                    ..ok()
                },
                "frequency_hz",
            ),
            (
                AcquisitionRequest {
                    frequency_hz: 1e15,
                    ..ok()
                },
                "frequency_hz",
            ),
            (
                AcquisitionRequest {
                    duration: Duration::ZERO,
                    ..ok()
                },
                "duration",
            ),
            (
                AcquisitionRequest {
                    duration: Duration::from_secs(3601),
                    ..ok()
                },
                "duration",
            ),
            (ok().with_sample_rate(0.0), "sample_rate_hz"),
            (ok().with_sample_rate(f64::INFINITY), "sample_rate_hz"),
            (ok().with_receivers(vec![]), "receivers"),
            (
                ok().with_receivers(vec![ReceiverId::new("a").unwrap(), ReceiverId::new("a").unwrap()]),
                "receivers",
            ),
            (
                ok().with_passband(Passband {
                    low_hz: 10.0,
                    high_hz: -10.0,
                }),
                "passband",
            ),
        ];
        for (req, field) in cases {
            match req.validate() {
                Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{field}: {other:?}"),
            }
        }
        ok().validate().unwrap();
    }

    #[test]
    fn serde_round_trip() {
        let r = ok()
            .with_sample_rate(12_000.0)
            .with_passband(Passband::symmetric(10_000.0));
        let j = serde_json::to_string(&r).unwrap();
        assert!(j.contains("\"duration\":10.0"), "{j}");
        assert_eq!(serde_json::from_str::<AcquisitionRequest>(&j).unwrap(), r);
        assert!(serde_json::from_str::<AcquisitionRequest>(r#"{"frequency_hz":1.0,"duration":-1}"#).is_err());
    }
}
