//! SigMF recordings (`.sigmf-meta` + dataset): the subset a replay needs, read from the
//! metadata's own fields.
//!
//! - `global`: `core:datatype` (`cf32_le`, `ci16_le`, `ci8`, `cu8`: complex only), `core:sample_rate`
//!   (required), `core:dataset` (a Non-Conforming Dataset next to the metadata, e.g. Heimdall's
//!   `.npy`), `core:geolocation`; Heimdall's own `heimdall:time_marks` when present.
//! - `captures`: every segment's `core:sample_start` and `core:datetime` (its time stamp),
//!   the first segment's `core:frequency` (the centre) and `core:header_bytes` (bytes before the
//!   samples), and `core:geolocation` (GeoJSON point, longitude first).
//!
//! Time stamps count as GPS-timed only when the recording says so (`heimdall:time_source` or a
//! mark's own source); a plain SigMF `core:datetime` is a host clock's.

use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use heimdall_core::{Error, GeoPosition, TimeMark, TimeSource};
use num_complex::Complex32;
use serde_json::{Map, Value, json};

use super::protocol::{Recording, fit_rate, offset_time};

/// How the samples of a dataset are stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataType {
    /// Complex float32, little-endian.
    Cf32Le,
    /// Complex int16, little-endian (scaled by 1/32768).
    Ci16Le,
    /// Complex int8 (scaled by 1/128).
    Ci8,
    /// Complex uint8, offset 127.5 (rtl-sdr; scaled by 1/127.5).
    Cu8,
}

impl DataType {
    fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "cf32_le" => DataType::Cf32Le,
            "ci16_le" => DataType::Ci16Le,
            "ci8" => DataType::Ci8,
            "cu8" => DataType::Cu8,
            _ => return None,
        })
    }
    /// Bytes per complex sample.
    pub fn bytes(self) -> usize {
        match self {
            DataType::Cf32Le => 8,
            DataType::Ci16Le => 4,
            DataType::Ci8 | DataType::Cu8 => 2,
        }
    }
    fn decode(self, c: &[u8]) -> Complex32 {
        match self {
            DataType::Cf32Le => Complex32::new(
                f32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                f32::from_le_bytes([c[4], c[5], c[6], c[7]]),
            ),
            DataType::Ci16Le => Complex32::new(
                f32::from(i16::from_le_bytes([c[0], c[1]])) / 32768.0,
                f32::from(i16::from_le_bytes([c[2], c[3]])) / 32768.0,
            ),
            DataType::Ci8 => Complex32::new(f32::from(c[0] as i8) / 128.0, f32::from(c[1] as i8) / 128.0),
            DataType::Cu8 => Complex32::new((f32::from(c[0]) - 127.5) / 127.5, (f32::from(c[1]) - 127.5) / 127.5),
        }
    }
}

fn malformed(origin: &str, reason: impl Into<String>) -> Error {
    Error::Malformed {
        backend: super::BACKEND,
        origin: origin.to_string(),
        reason: reason.into(),
    }
}

/// The dataset file of the metadata at `meta_path`: `core:dataset` (a plain file name in the same
/// folder) or the `.sigmf-data` of the same name.
pub fn dataset_path(meta_path: &Path, meta: &Value) -> Result<PathBuf, Error> {
    let origin = meta_path.display().to_string();
    match meta.pointer("/global/core:dataset") {
        None => Ok(meta_path.with_extension("sigmf-data")),
        Some(Value::String(name)) if !name.is_empty() && !name.contains(['/', '\\']) && name != ".." && name != "." => {
            Ok(meta_path.with_file_name(name))
        }
        Some(other) => Err(malformed(
            &origin,
            format!("core:dataset {other} is not a file name next to the metadata"),
        )),
    }
}

/// Parses `.sigmf-meta` text.
pub fn parse_meta(text: &str, origin: &str) -> Result<Value, Error> {
    let v: Value = serde_json::from_str(text).map_err(|e| malformed(origin, format!("metadata: {e}")))?;
    if !v.get("global").is_some_and(Value::is_object) {
        return Err(malformed(origin, "metadata has no global object"));
    }
    Ok(v)
}

fn geolocation(v: Option<&Value>) -> Option<GeoPosition> {
    let c = v?.get("coordinates")?.as_array()?;
    let (lon, lat) = (c.first()?.as_f64()?, c.get(1)?.as_f64()?);
    GeoPosition::new(lat, lon, c.get(2).and_then(Value::as_f64)).ok()
}

fn datetime(v: &Value) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(v.get("core:datetime")?.as_str()?)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

/// Decodes a SigMF recording from its parsed metadata and its dataset's bytes.
pub fn from_sigmf(meta: &Value, data: &[u8], origin: &str) -> Result<Recording, Error> {
    let global = &meta["global"];
    let dt_name = global["core:datatype"]
        .as_str()
        .ok_or_else(|| malformed(origin, "no core:datatype"))?;
    let datatype = DataType::parse(dt_name).ok_or_else(|| {
        malformed(
            origin,
            format!("core:datatype {dt_name:?}: a replay reads complex cf32_le, ci16_le, ci8 or cu8"),
        )
    })?;
    let header_rate_hz = global["core:sample_rate"]
        .as_f64()
        .filter(|r| r.is_finite() && *r > 0.0)
        .ok_or_else(|| malformed(origin, "core:sample_rate missing or not a positive number"))?;
    let captures = meta["captures"].as_array().map(Vec::as_slice).unwrap_or_default();
    let first = captures
        .first()
        .ok_or_else(|| malformed(origin, "no capture segment"))?;
    let center_frequency_hz = first["core:frequency"]
        .as_f64()
        .filter(|f| f.is_finite())
        .ok_or_else(|| malformed(origin, "the first capture segment has no core:frequency"))?;
    let header = first["core:header_bytes"].as_u64().unwrap_or(0);
    let body = usize::try_from(header)
        .ok()
        .and_then(|h| data.get(h..))
        .ok_or_else(|| malformed(origin, format!("core:header_bytes {header} is past the dataset's end")))?;
    if body.len() % datatype.bytes() != 0 {
        return Err(malformed(
            origin,
            format!("{} dataset bytes are not whole {dt_name} samples", body.len()),
        ));
    }
    let samples: Vec<Complex32> = body
        .chunks_exact(datatype.bytes())
        .map(|c| datatype.decode(c))
        .collect();

    let declared = match global.get("heimdall:time_source") {
        Some(v) => {
            serde_json::from_value(v.clone()).map_err(|e| malformed(origin, format!("heimdall:time_source: {e}")))?
        }
        None => TimeSource::Host,
    };
    let mut marks: Vec<TimeMark> = match global.get("heimdall:time_marks") {
        Some(v) => {
            serde_json::from_value(v.clone()).map_err(|e| malformed(origin, format!("heimdall:time_marks: {e}")))?
        }
        None => captures
            .iter()
            .filter_map(|c| {
                Some(TimeMark {
                    sample_index: c["core:sample_start"].as_u64()?,
                    time: datetime(c)?,
                    source: declared,
                })
            })
            .collect(),
    };
    marks.retain(|m| m.sample_index < samples.len().max(1) as u64);
    marks.sort_by_key(|m| m.sample_index);
    let anchor = *marks
        .first()
        .ok_or_else(|| malformed(origin, "no core:datetime: a replay needs the recording's time"))?;
    let timed: Vec<(u64, f64)> = marks
        .iter()
        .filter(|m| m.source != TimeSource::Host)
        .filter_map(|m| Some((m.sample_index, (m.time - anchor.time).num_nanoseconds()? as f64 * 1e-9)))
        .collect();
    let fit = fit_rate(&timed, header_rate_hz);
    let sample_rate_hz = fit.map_or(header_rate_hz, |f| f.rate_hz);
    let start = match marks.iter().find(|m| m.sample_index == 0) {
        Some(m) => *m,
        None => TimeMark {
            sample_index: 0,
            time: offset_time(anchor.time, -(anchor.sample_index as f64) / sample_rate_hz),
            source: anchor.source,
        },
    };
    marks.retain(|m| m.sample_index > 0);
    let position = geolocation(first.get("core:geolocation")).or_else(|| geolocation(global.get("core:geolocation")));
    let mut details = Map::new();
    details.insert("format".into(), json!("sigmf"));
    details.insert("datatype".into(), json!(dt_name));
    details.insert("header_rate_hz".into(), json!(header_rate_hz));
    details.insert("segments".into(), json!(captures.len()));
    if let Some(f) = fit {
        details.insert("agreeing_gps_stamps".into(), json!(f.agreeing));
    }
    Ok(Recording {
        format: "sigmf",
        samples,
        sample_rate_hz,
        header_rate_hz,
        center_frequency_hz,
        start,
        marks,
        position,
        details,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(datatype: &str, extra: Value) -> Value {
        let mut m = json!({
            "global": {"core:datatype": datatype, "core:sample_rate": 1000.0, "core:version": "1.0.0"},
            "captures": [{"core:sample_start": 0, "core:frequency": 7.0e6, "core:datetime": "2026-11-30T12:00:00.5Z",
                          "core:geolocation": {"type": "Point", "coordinates": [7.5, 45.0, 250.0]}}],
            "annotations": []
        });
        if let (Some(g), Value::Object(e)) = (m["global"].as_object_mut(), extra) {
            g.extend(e);
        }
        m
    }

    #[test]
    fn decodes_every_datatype() {
        let cases: [(&str, Vec<u8>, Complex32); 4] = [
            (
                "cf32_le",
                [0.5f32.to_le_bytes(), (-0.25f32).to_le_bytes()].concat(),
                Complex32::new(0.5, -0.25),
            ),
            (
                "ci16_le",
                [16384i16.to_le_bytes(), (-32768i16).to_le_bytes()].concat(),
                Complex32::new(0.5, -1.0),
            ),
            ("ci8", vec![64u8, 0x80], Complex32::new(0.5, -1.0)),
            ("cu8", vec![255u8, 0], Complex32::new(1.0, -1.0)),
        ];
        for (dt, bytes, want) in cases {
            let r = from_sigmf(&meta(dt, json!({})), &bytes, "t").unwrap();
            assert_eq!(r.samples, vec![want], "{dt}");
            assert_eq!(r.center_frequency_hz, 7.0e6);
            assert_eq!(r.start.source, TimeSource::Host);
            assert_eq!(r.position.unwrap().altitude_m, Some(250.0));
        }
    }

    #[test]
    fn bad_metadata_is_a_typed_error() {
        let ok = [0u8; 8];
        for (m, why) in [
            (meta("ri16_le", json!({})), "core:datatype"),
            (meta("cf32_le", json!({"core:sample_rate": -1.0})), "core:sample_rate"),
            (
                json!({"global": {"core:datatype": "cf32_le", "core:sample_rate": 1.0}, "captures": []}),
                "no capture",
            ),
        ] {
            let e = from_sigmf(&m, &ok, "t").unwrap_err().to_string();
            assert!(e.contains(why), "{e}");
        }
        let e = from_sigmf(&meta("cf32_le", json!({})), &[0u8; 7], "t")
            .unwrap_err()
            .to_string();
        assert!(e.contains("whole"), "{e}");
        let mut no_time = meta("cf32_le", json!({}));
        no_time["captures"][0].as_object_mut().unwrap().remove("core:datetime");
        assert!(from_sigmf(&no_time, &ok, "t").is_err());
        assert!(parse_meta("{", "t").is_err());
        let p = Path::new("/x/a.sigmf-meta");
        assert_eq!(
            dataset_path(p, &json!({"global": {}})).unwrap(),
            Path::new("/x/a.sigmf-data")
        );
        assert_eq!(
            dataset_path(p, &json!({"global": {"core:dataset": "a.npy"}})).unwrap(),
            Path::new("/x/a.npy")
        );
        assert!(dataset_path(p, &json!({"global": {"core:dataset": "../../etc/passwd"}})).is_err());
    }

    #[test]
    fn heimdall_marks_give_gps_time_and_the_rate() {
        let rate = 1000.2;
        let t0: DateTime<Utc> = "2026-11-30T12:00:00Z".parse().unwrap();
        let marks: Vec<Value> = (0..5)
            .map(|i| {
                let s = i * 200;
                let t = t0 + chrono::Duration::nanoseconds((s as f64 / rate * 1e9).round() as i64);
                json!({"sample_index": s, "time": t, "source": "gps"})
            })
            .collect();
        let m = meta(
            "ci8",
            json!({"heimdall:time_source": "gps", "heimdall:time_marks": marks}),
        );
        let r = from_sigmf(&m, &vec![0u8; 2000], "t").unwrap();
        assert!((r.sample_rate_hz - rate).abs() < 1e-6, "{}", r.sample_rate_hz);
        assert_eq!(r.start.time, t0);
        assert_eq!(r.start.source, TimeSource::Gps);
        assert_eq!(r.marks.len(), 4);
    }
}
