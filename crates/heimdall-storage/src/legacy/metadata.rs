//! The old Python (FastAPI/Celery) service's `websdr_{n}_metadata.json`: reading it and writing it.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::{Map, Value, json};

use heimdall_core::{CaptureSummary, SessionId};

/// The fields of an old `websdr_{n}_metadata.json`.
#[derive(Debug, Clone, PartialEq)]
pub struct LegacyMetadata {
    /// The old integer receiver id.
    pub websdr_id: i64,
    /// Target frequency, MHz.
    pub frequency_mhz: f64,
    /// Sample rate, kHz.
    pub sample_rate_khz: f64,
    /// Samples in the `.npy`.
    pub samples_count: u64,
    /// `timestamp_utc` (naive ISO 8601 read as UTC; an offset or `Z` is honoured).
    pub timestamp: DateTime<Utc>,
    /// `timestamp_utc` as written.
    pub timestamp_raw: String,
    /// The old `metrics` object as written (`NaN`/`Infinity` turned into `null`).
    pub metrics: Value,
}

impl LegacyMetadata {
    /// Parses the JSON the old service wrote (Python's `json.dumps`, which may contain the
    /// non-JSON tokens `NaN`, `Infinity` and `-Infinity`; they are read as `null`).
    pub fn parse(bytes: &[u8]) -> std::result::Result<LegacyMetadata, String> {
        let cleaned = python_json_to_json(bytes);
        let v: Value = serde_json::from_slice(&cleaned).map_err(|e| format!("not JSON: {e}"))?;
        let o = v.as_object().ok_or("not a JSON object")?;
        let num = |k: &str| -> std::result::Result<f64, String> {
            o.get(k)
                .and_then(Value::as_f64)
                .filter(|x| x.is_finite())
                .ok_or_else(|| format!("field {k:?} is missing or not a number"))
        };
        let websdr_id = o
            .get("websdr_id")
            .and_then(|v| v.as_i64().or_else(|| v.as_str().and_then(|s| s.parse().ok())))
            .ok_or("field \"websdr_id\" is missing or not an integer")?;
        let frequency_mhz = num("frequency_mhz")?;
        let sample_rate_khz = num("sample_rate_khz")?;
        if frequency_mhz <= 0.0 || sample_rate_khz <= 0.0 {
            return Err(format!(
                "frequency_mhz {frequency_mhz} and sample_rate_khz {sample_rate_khz} must be > 0"
            ));
        }
        let samples_count = o
            .get("samples_count")
            .and_then(Value::as_u64)
            .ok_or("field \"samples_count\" is missing or not a count")?;
        let raw = o
            .get("timestamp_utc")
            .and_then(Value::as_str)
            .ok_or("field \"timestamp_utc\" is missing or not a string")?;
        let timestamp =
            parse_legacy_time(raw).ok_or_else(|| format!("timestamp_utc {raw:?} is not an ISO 8601 time"))?;
        Ok(LegacyMetadata {
            websdr_id,
            frequency_mhz,
            sample_rate_khz,
            samples_count,
            timestamp,
            timestamp_raw: raw.to_owned(),
            metrics: o.get("metrics").cloned().unwrap_or(Value::Null),
        })
    }

    /// The document in the old layout: the old fields first, with `extra` fields after them.
    pub fn to_json(&self, extra: Map<String, Value>) -> Value {
        let mut o = Map::new();
        o.insert("websdr_id".into(), self.websdr_id.into());
        o.insert("frequency_mhz".into(), json!(self.frequency_mhz));
        o.insert("sample_rate_khz".into(), json!(self.sample_rate_khz));
        o.insert("samples_count".into(), self.samples_count.into());
        o.insert("timestamp_utc".into(), self.timestamp_raw.clone().into());
        o.insert("metrics".into(), self.metrics.clone());
        for (k, v) in extra {
            o.entry(k).or_insert(v);
        }
        Value::Object(o)
    }
}

/// The `websdr_{n}_metadata.json` the old service's readers expect, for a Heimdall capture:
/// `websdr_id` (int), `frequency_mhz`, `sample_rate_khz`, `samples_count`, `timestamp_utc`
/// (naive ISO 8601 in UTC, as Python's `isoformat()`), `metrics` with the old names from
/// Heimdall's metrics (`psd_dbm` is the noise floor density, per Hz; the powers are dBm when the
/// receiver chain is calibrated, else dBFS, as `metrics_unit` says; `null` when not measurable),
/// then `task_id`, `receiver_id` and the object key of the samples.
pub fn legacy_metadata_for(
    websdr_id: i64,
    session: SessionId,
    summary: &CaptureSummary,
    metrics: Option<&heimdall_core::SignalMetrics>,
) -> Value {
    let info = &summary.info;
    // dBm = dBFS + calibration, known when the capture carried its full-scale power.
    let cal = info
        .extra
        .get("full_scale_dbm")
        .and_then(Value::as_f64)
        .filter(|c| c.is_finite());
    let shift = |x: Option<f64>| -> Value {
        match x.filter(|v| v.is_finite()) {
            Some(v) => json!(v + cal.unwrap_or(0.0)),
            None => Value::Null,
        }
    };
    let m = metrics.map(|m| {
        json!({
            "snr_db": m.snr_db.filter(|v| v.is_finite()),
            "psd_dbm": shift(m.noise_floor_dbfs_per_hz),
            "frequency_offset_hz": m.frequency_offset_hz.filter(|v| v.is_finite()),
            "signal_power_dbm": shift(m.signal_power_dbfs),
            "noise_power_dbm": shift(m.noise_power_dbfs),
        })
    });
    let finite = |x: f64| if x.is_finite() { json!(x) } else { Value::Null };
    json!({
        "websdr_id": websdr_id,
        "frequency_mhz": finite(info.target_frequency_hz / 1e6),
        "sample_rate_khz": finite(info.sample_rate_hz / 1e3),
        "samples_count": summary.samples,
        "timestamp_utc": summary.start_time.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string(),
        "metrics": m.unwrap_or(Value::Null),
        "metrics_unit": if cal.is_some() { "dbm" } else { "dbfs" },
        "task_id": session.to_string(),
        "receiver_id": info.receiver.id,
    })
}

/// The old service's `datetime.utcnow().isoformat()` (naive, UTC), or RFC 3339.
pub fn parse_legacy_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Some(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, f) {
            return Some(t.and_utc());
        }
    }
    None
}

/// Replaces Python's `NaN`, `Infinity`, `-Infinity` outside strings with `null`.
pub(super) fn python_json_to_json(b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(b.len());
    let (mut i, mut in_str, mut esc) = (0, false, false);
    while i < b.len() {
        let c = b[i];
        if in_str {
            out.push(c);
            if esc {
                esc = false;
            } else if c == b'\\' {
                esc = true;
            } else if c == b'"' {
                in_str = false;
            }
            i += 1;
            continue;
        }
        let rest = &b[i..];
        let token = [&b"-Infinity"[..], b"Infinity", b"NaN"]
            .into_iter()
            .find(|t| rest.starts_with(t));
        if let Some(t) = token {
            out.extend_from_slice(b"null");
            i += t.len();
            continue;
        }
        if c == b'"' {
            in_str = true;
        }
        out.push(c);
        i += 1;
    }
    out
}
