//! Acquisition requests (what the caller asks for) and the per-receiver capture request
//! the engine hands to each source.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::ids::{ReceiverId, SessionId};

/// Lowest centre frequency accepted, in Hz: 1 kHz, below the VLF band where the lowest-tuning
/// receivers (KiwiSDR, from 0 Hz in practice a few kHz) stop being useful.
pub const MIN_FREQUENCY_HZ: f64 = 1e3;
/// Highest centre frequency accepted, in Hz: 6 GHz, the top of what any receiver a backend
/// drives can tune (KiwiSDR 32 MHz, rtl_tcp dongles 2.2 GHz, OpenWebRX on a HackRF 6 GHz).
pub const MAX_FREQUENCY_HZ: f64 = 6e9;
/// Shortest capture accepted.
pub const MIN_DURATION: Duration = Duration::from_millis(1);
/// Longest capture accepted.
pub const MAX_DURATION: Duration = Duration::from_secs(3600);
/// Lowest sample rate accepted, in Hz.
pub const MIN_SAMPLE_RATE_HZ: f64 = 1e3;
/// Highest sample rate accepted, in Hz: 20 MS/s, the fastest receiver a backend drives
/// (a HackRF behind OpenWebRX or an HTTP IQ endpoint; rtl_tcp dongles stop at 3.2 MS/s).
pub const MAX_SAMPLE_RATE_HZ: f64 = 20e6;
/// Most samples one capture may ask for (duration times sample rate): 2^30, 8 GiB of complex64.
pub const MAX_SAMPLES_PER_CAPTURE: f64 = 1_073_741_824.0;
/// How far ahead (or behind) of now a scheduled common start may be.
pub const MAX_START_OFFSET: Duration = Duration::from_secs(24 * 3600);

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

    /// Rejects values no receiver can serve, with an error naming the field and the limit
    /// (see [`MIN_FREQUENCY_HZ`], [`MAX_FREQUENCY_HZ`], [`MIN_DURATION`], [`MAX_DURATION`],
    /// [`MIN_SAMPLE_RATE_HZ`], [`MAX_SAMPLE_RATE_HZ`], [`MAX_SAMPLES_PER_CAPTURE`],
    /// [`MAX_START_OFFSET`]).
    pub fn validate(&self) -> Result<()> {
        self.validate_at(Utc::now())
    }

    /// [`validate`](Self::validate) with `now` as the current time (for `start_at`).
    pub fn validate_at(&self, now: DateTime<Utc>) -> Result<()> {
        let f = self.frequency_hz;
        if !(MIN_FREQUENCY_HZ..=MAX_FREQUENCY_HZ).contains(&f) {
            return Err(Error::invalid(
                "frequency_hz",
                format!(
                    "{f} Hz is outside what receivers can tune: {MIN_FREQUENCY_HZ:e} Hz to {MAX_FREQUENCY_HZ:e} Hz"
                ),
            ));
        }
        if self.duration < MIN_DURATION || self.duration > MAX_DURATION {
            return Err(Error::invalid(
                "duration",
                format!(
                    "{:?} must be at least {MIN_DURATION:?} and at most {} s",
                    self.duration,
                    MAX_DURATION.as_secs()
                ),
            ));
        }
        if let Some(sr) = self.sample_rate_hz {
            if !(MIN_SAMPLE_RATE_HZ..=MAX_SAMPLE_RATE_HZ).contains(&sr) {
                return Err(Error::invalid(
                    "sample_rate_hz",
                    format!(
                        "{sr} Hz is outside what receivers deliver: {MIN_SAMPLE_RATE_HZ:e} Hz to {MAX_SAMPLE_RATE_HZ:e} Hz"
                    ),
                ));
            }
            let samples = sr * self.duration.as_secs_f64();
            if samples > MAX_SAMPLES_PER_CAPTURE {
                return Err(Error::invalid(
                    "sample_rate_hz",
                    format!(
                        "{sr} Hz for {} s is {samples:e} samples per receiver, more than the limit of {MAX_SAMPLES_PER_CAPTURE:e}",
                        self.duration.as_secs_f64()
                    ),
                ));
            }
        }
        if let Some(t) = self.start_at {
            let off = chrono::TimeDelta::from_std(MAX_START_OFFSET).unwrap_or(chrono::TimeDelta::MAX);
            let ahead = now.checked_add_signed(off).unwrap_or(DateTime::<Utc>::MAX_UTC);
            let behind = now.checked_sub_signed(off).unwrap_or(DateTime::<Utc>::MIN_UTC);
            if t > ahead || t < behind {
                return Err(Error::invalid(
                    "start_at",
                    format!(
                        "{} is more than {} h from now ({}); a common start must be within that",
                        t.to_rfc3339(),
                        MAX_START_OFFSET.as_secs() / 3600,
                        now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                    ),
                ));
            }
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
    fn physical_limits_are_refused_with_the_limit_in_the_message() {
        let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let far: DateTime<Utc> = "9999-12-31T23:59:59Z".parse().unwrap();
        let cases: Vec<(AcquisitionRequest, &str, &str)> = vec![
            (
                AcquisitionRequest {
                    frequency_hz: 5e-324,
                    ..ok()
                },
                "frequency_hz",
                "1e3 Hz to 6e9 Hz",
            ),
            (
                AcquisitionRequest {
                    frequency_hz: 999.0,
                    ..ok()
                },
                "frequency_hz",
                "1e3 Hz",
            ),
            (
                AcquisitionRequest {
                    frequency_hz: 6.000001e9,
                    ..ok()
                },
                "frequency_hz",
                "6e9 Hz",
            ),
            (
                AcquisitionRequest {
                    duration: Duration::from_nanos(1),
                    ..ok()
                },
                "duration",
                "at least 1ms",
            ),
            (ok().with_sample_rate(5e-324), "sample_rate_hz", "1e3 Hz to 2e7 Hz"),
            (ok().with_sample_rate(1e9), "sample_rate_hz", "2e7 Hz"),
            (
                AcquisitionRequest {
                    duration: MAX_DURATION,
                    ..ok()
                }
                .with_sample_rate(2e6),
                "sample_rate_hz",
                "limit of 1.073741824e9",
            ),
            (ok().with_start_at(far), "start_at", "more than 24 h from now"),
            (ok().with_start_at(DateTime::<Utc>::MIN_UTC), "start_at", "24 h"),
            (
                ok().with_start_at(now + chrono::TimeDelta::hours(25)),
                "start_at",
                "24 h",
            ),
        ];
        for (req, field, limit) in cases {
            match req.validate_at(now) {
                Err(Error::InvalidInput { field: f, reason }) => {
                    assert_eq!(f, field, "{reason}");
                    assert!(reason.contains(limit), "{field}: {reason:?} lacks {limit:?}");
                }
                other => panic!("{field}: {other:?}"),
            }
        }
        for ok_req in [
            AcquisitionRequest {
                frequency_hz: MIN_FREQUENCY_HZ,
                ..ok()
            },
            AcquisitionRequest {
                frequency_hz: MAX_FREQUENCY_HZ,
                duration: MIN_DURATION,
                ..ok()
            },
            ok().with_sample_rate(MAX_SAMPLE_RATE_HZ),
            ok().with_start_at(now + chrono::TimeDelta::hours(23)),
            ok().with_start_at(now - chrono::TimeDelta::seconds(5)),
        ] {
            ok_req.validate_at(now).unwrap();
        }
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
