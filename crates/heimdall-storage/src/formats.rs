//! The documents written next to the samples: the legacy `_metadata.json`, SigMF metadata and
//! collection, and the session manifest.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use heimdall_core::{CaptureSummary, SessionId, SessionReport, SignalMetrics, StoredObject};

/// Which files a sink writes for each capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum ArchiveFormat {
    /// `{receiver}.npy` + `{receiver}_metadata.json` (the old Python (FastAPI/Celery) service's layout).
    Npy,
    /// `{receiver}.sigmf-data` + `{receiver}.sigmf-meta`, plus a session `.sigmf-collection`.
    Sigmf,
    /// `{receiver}.npy` + `{receiver}_metadata.json` + `{receiver}.sigmf-meta`, plus a session
    /// `.sigmf-collection`: the samples are stored once, in the `.npy`, and the SigMF recording
    /// describes it as a Non-Conforming Dataset (`core:dataset` names the `.npy`, the first
    /// capture segment's `core:header_bytes` skips its header). Sessions written before kept a
    /// second copy in `{receiver}.sigmf-data`; readers still accept them.
    #[default]
    Both,
}

impl ArchiveFormat {
    /// Whether `.npy` files are written.
    pub fn npy(&self) -> bool {
        matches!(self, ArchiveFormat::Npy | ArchiveFormat::Both)
    }
    /// Whether SigMF metadata (`.sigmf-meta`, `.sigmf-collection`) is written.
    pub fn sigmf(&self) -> bool {
        matches!(self, ArchiveFormat::Sigmf | ArchiveFormat::Both)
    }
    /// Whether a `.sigmf-data` copy of the samples is written (only without a `.npy`: with both,
    /// the SigMF recording points at the `.npy`).
    pub fn sigmf_data(&self) -> bool {
        matches!(self, ArchiveFormat::Sigmf)
    }
    /// Lower-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            ArchiveFormat::Npy => "npy",
            ArchiveFormat::Sigmf => "sigmf",
            ArchiveFormat::Both => "both",
        }
    }
}

impl std::str::FromStr for ArchiveFormat {
    type Err = heimdall_core::Error;
    fn from_str(s: &str) -> heimdall_core::Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "npy" | "numpy" => Ok(ArchiveFormat::Npy),
            "sigmf" => Ok(ArchiveFormat::Sigmf),
            "both" | "npy+sigmf" | "all" => Ok(ArchiveFormat::Both),
            _ => Err(heimdall_core::Error::config(format!(
                "archive format {s:?} is not one of npy, sigmf, both"
            ))),
        }
    }
}

impl std::fmt::Display for ArchiveFormat {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The SigMF specification version written (the one `sigmf` 1.14 ships).
pub const SIGMF_VERSION: &str = "1.2.6";
/// Name of the SigMF extension namespace holding Heimdall's own fields.
pub const SIGMF_EXTENSION: &str = "heimdall";
/// Version of the `heimdall` SigMF extension.
pub const SIGMF_EXTENSION_VERSION: &str = "1.0.0";
/// Version of the manifest and `_metadata.json` layout.
pub const FORMAT_VERSION: u32 = 1;
/// `format` field of a manifest.
pub const MANIFEST_FORMAT: &str = "heimdall-session-manifest";

/// The writer string stored in every document.
pub fn recorder() -> String {
    format!("heimdall {}", env!("CARGO_PKG_VERSION"))
}

/// RFC 3339 UTC with a `Z` suffix and nanoseconds (SigMF `core:datetime`).
pub fn rfc3339_z(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Nanos, true)
}

fn finite(x: f64) -> Value {
    if x.is_finite() { json!(x) } else { Value::Null }
}

fn description(summary: &CaptureSummary) -> String {
    let info = &summary.info;
    format!(
        "{} capture from {} ({}, {}) at {:.3} kHz, {:.3} s",
        match info.format {
            heimdall_core::SampleFormat::ComplexF32 => "IQ",
            _ => "audio",
        },
        info.receiver.name,
        info.receiver.id,
        info.receiver.kind,
        info.target_frequency_hz / 1e3,
        summary.duration_s()
    )
}

/// The old service's `websdr_{id}_metadata.json` fields plus Heimdall's.
pub fn legacy_metadata(
    session: SessionId,
    summary: &CaptureSummary,
    metrics: Option<&SignalMetrics>,
    data_key: &str,
    data: &StoredObject,
) -> Value {
    let info = &summary.info;
    json!({
        "websdr_id": info.receiver.id,
        "websdr_name": info.receiver.name,
        "websdr_url": info.receiver.url,
        "receiver_kind": info.receiver.kind,
        "frequency_mhz": finite(info.target_frequency_hz / 1e6),
        "center_frequency_mhz": finite(info.center_frequency_hz / 1e6),
        "sample_rate_khz": finite(info.sample_rate_hz / 1e3),
        "duration_seconds": finite(summary.duration_s()),
        "timestamp": rfc3339_z(&summary.start_time),
        "samples_count": summary.samples,
        "dtype": info.format.numpy_descr(),
        "data_file": data_key,
        "data_sha256": data.sha256,
        "data_size": data.size,
        "snr_db": metrics.and_then(|m| m.snr_db),
        "session_id": session,
        "format_version": FORMAT_VERSION,
        "recorder": recorder(),
        "position": info.receiver.position,
        "capture": summary,
        "metrics": metrics,
    })
}

/// The dataset a SigMF recording describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SigmfDataset<'a> {
    /// A conforming `{receiver}.sigmf-data` (raw samples), with its SHA-512 (`core:sha512`).
    Conforming {
        /// SHA-512 of the `.sigmf-data` file, lower-case hex.
        sha512: &'a str,
    },
    /// A Non-Conforming Dataset: the `.npy` next to the metadata (`core:dataset`), whose header
    /// the first capture segment skips (`core:header_bytes`). No `core:sha512` (optional in
    /// SigMF, and over the whole `.npy` it would be a second pass of a slow hash over every
    /// byte): the file's SHA-256, which the manifest also lists, is in `heimdall:dataset_sha256`.
    Npy {
        /// File name of the `.npy` (no directory).
        file: &'a str,
        /// Length of the `.npy` header in bytes.
        header_bytes: u64,
        /// SHA-256 of the whole `.npy` file, lower-case hex.
        sha256: &'a str,
    },
}

/// SigMF metadata for one capture (`.sigmf-meta`) describing `dataset`.
pub fn sigmf_meta(
    session: SessionId,
    summary: &CaptureSummary,
    metrics: Option<&SignalMetrics>,
    dataset: SigmfDataset<'_>,
) -> Value {
    let info = &summary.info;
    let mut global = Map::new();
    global.insert("core:datatype".into(), info.format.sigmf_datatype().into());
    global.insert("core:version".into(), SIGMF_VERSION.into());
    if info.sample_rate_hz.is_finite() && info.sample_rate_hz > 0.0 {
        global.insert("core:sample_rate".into(), json!(info.sample_rate_hz));
    }
    global.insert("core:num_channels".into(), json!(1));
    let mut header_bytes = None;
    match dataset {
        SigmfDataset::Conforming { sha512 } => {
            global.insert("core:sha512".into(), sha512.into());
        }
        SigmfDataset::Npy {
            file,
            header_bytes: h,
            sha256,
        } => {
            global.insert("core:dataset".into(), file.into());
            global.insert(format!("{SIGMF_EXTENSION}:dataset_sha256"), sha256.into());
            header_bytes = Some(h);
        }
    }
    global.insert("core:recorder".into(), recorder().into());
    global.insert("core:description".into(), description(summary).into());
    global.insert(
        "core:hw".into(),
        format!("{} {}", info.receiver.kind, info.receiver.url).into(),
    );
    global.insert(
        "core:extensions".into(),
        json!([{ "name": SIGMF_EXTENSION, "version": SIGMF_EXTENSION_VERSION, "optional": true }]),
    );
    let h = |k: &str| format!("{SIGMF_EXTENSION}:{k}");
    global.insert(h("session_id"), json!(session));
    global.insert(h("receiver_id"), json!(info.receiver.id));
    global.insert(h("receiver_name"), json!(info.receiver.name));
    global.insert(h("receiver_kind"), json!(info.receiver.kind));
    global.insert(h("receiver_url"), json!(info.receiver.url));
    global.insert(h("target_frequency"), finite(info.target_frequency_hz));
    global.insert(h("time_source"), json!(summary.time_source));
    global.insert(h("samples"), json!(summary.samples));
    if let Some(s) = summary.start_skew_s {
        global.insert(h("start_skew_s"), finite(s));
    }
    if !summary.time_marks.is_empty() {
        global.insert(h("time_marks"), json!(summary.time_marks));
    }
    if !summary.gaps.is_empty() {
        global.insert(h("gaps"), json!(summary.gaps));
        global.insert(
            h("lost_samples"),
            json!(summary.gaps.iter().map(|g| g.missing_samples).sum::<u64>()),
        );
    }
    if let Some(r) = &summary.rssi {
        global.insert(h("rssi"), json!(r));
    }
    if summary.spectra > 0 {
        global.insert(h("spectra"), json!(summary.spectra));
    }
    if let Some(m) = metrics {
        global.insert(h("metrics"), json!(m));
    }
    if !info.extra.is_empty() {
        global.insert(h("source_details"), Value::Object(info.extra.clone()));
    }

    // One capture segment at sample 0, then one after each gap (sample_start strictly increasing),
    // each with its estimated start time (lost samples included).
    let mut captures = Vec::new();
    let mut annotations = Vec::new();
    let mut segment = |sample_start: u64, lost_before: u64| {
        let mut c = Map::new();
        c.insert("core:sample_start".into(), json!(sample_start));
        // The .npy header precedes the first segment's samples only.
        if let (0, Some(h)) = (sample_start, header_bytes) {
            c.insert("core:header_bytes".into(), json!(h));
        }
        if info.center_frequency_hz.is_finite() {
            c.insert("core:frequency".into(), json!(info.center_frequency_hz));
        }
        let offset_s = if info.sample_rate_hz > 0.0 {
            sample_start.saturating_add(lost_before) as f64 / info.sample_rate_hz
        } else {
            0.0
        };
        let nanos = (offset_s * 1e9).round();
        let t = (nanos.is_finite() && nanos.abs() < 9.0e18)
            .then(|| chrono::Duration::nanoseconds(nanos as i64))
            .and_then(|d| summary.start_time.checked_add_signed(d))
            .unwrap_or(summary.start_time);
        c.insert("core:datetime".into(), rfc3339_z(&t).into());
        if let Some(p) = &info.receiver.position {
            let mut coords = vec![json!(p.longitude), json!(p.latitude)];
            if let Some(a) = p.altitude_m {
                coords.push(json!(a));
            }
            c.insert(
                "core:geolocation".into(),
                json!({ "type": "Point", "coordinates": coords }),
            );
        }
        captures.push(Value::Object(c));
    };
    // `start_time` is the time of delivered sample 0, so only gaps after it shift later segments.
    let mut gaps = summary.gaps.clone();
    gaps.sort_by_key(|g| g.sample_index);
    let lost_at = |idx: u64| -> u64 {
        gaps.iter()
            .filter(|g| g.sample_index > 0 && g.sample_index <= idx)
            .fold(0u64, |a, g| a.saturating_add(g.missing_samples))
    };
    segment(0, 0);
    let mut last_start = 0u64;
    for g in &gaps {
        if g.sample_index > last_start && g.sample_index < summary.samples {
            segment(g.sample_index, lost_at(g.sample_index));
            last_start = g.sample_index;
        }
        annotations.push(json!({
            "core:sample_start": g.sample_index,
            "core:sample_count": 0,
            "core:label": "gap",
            "core:comment": format!("{} samples lost before this sample", g.missing_samples),
            "core:generator": recorder(),
        }));
    }
    json!({ "global": global, "captures": captures, "annotations": annotations })
}

/// One recording of a SigMF collection.
#[derive(Debug, Clone)]
pub struct CollectionStream {
    /// Base name of the recording (`{receiver_id}`).
    pub name: String,
    /// SHA-512 of its `.sigmf-meta` file.
    pub meta_sha512: String,
}

/// A `.sigmf-collection` grouping the receivers of one session.
pub fn sigmf_collection(report: &SessionReport, streams: &[CollectionStream]) -> Value {
    json!({
        "collection": {
            "core:version": SIGMF_VERSION,
            "core:description": format!(
                "Heimdall session {} at {:.3} kHz: {} receivers",
                report.session_id,
                report.request.frequency_hz / 1e3,
                streams.len()
            ),
            "core:extensions": [{ "name": SIGMF_EXTENSION, "version": SIGMF_EXTENSION_VERSION, "optional": true }],
            "heimdall:session_id": report.session_id,
            "core:streams": streams.iter().map(|s| json!({ "name": s.name, "hash": s.meta_sha512 })).collect::<Vec<_>>(),
        }
    })
}

/// The session manifest (`manifest.json`): the commit marker of a session.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionManifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// Layout version, [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Who wrote it (`heimdall <version>`).
    pub writer: String,
    /// When the session was committed.
    pub committed_at: DateTime<Utc>,
    /// The attempt that committed the session: every object listed is under
    /// `sessions/{session}/{attempt}/`. Absent in sessions committed before attempts existed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attempt: Option<heimdall_core::AttemptId>,
    /// The session report: request, status, per-receiver outcome, captures and metrics.
    pub session: SessionReport,
    /// Every object of the session with size and SHA-256 (the manifest itself excluded).
    pub objects: Vec<StoredObject>,
}
