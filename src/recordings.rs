//! Recordings as a receiver network: every recording a stations file lists becomes a
//! [`RecordingSource`] at its station's position, so recorded captures go through the engine
//! (archive, metrics, localization) like live ones. This is the importer:
//! `cargo run --release --example acquire -- --recordings stations.json --locate`.
//!
//! The stations file is the `stations.json` of a kiwirecorder TDoA set (see
//! [`read_stations`]): `stations` with `id`, `file` (a kiwirecorder `*_iq.wav`, a
//! `*.sigmf-meta` or a `*.sigmf-data`, relative to the stations file), `latitude`, `longitude`,
//! and optionally the `transmitter` (the truth, for evaluation).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use heimdall_core::{Error, GeoPosition, ReceiverId, ReceiverInfo, ReceiverKind, ReceiverSource};
use heimdall_websdr::recording::{Recording, RecordingBuilder, RecordingSource};
use serde::Deserialize;

/// A stations file: receiver positions by recording, and the truth when known.
#[derive(Debug, Clone, Deserialize)]
pub struct StationsFile {
    /// Receivers.
    pub stations: Vec<StationEntry>,
    /// The transmitter, when known (evaluation).
    #[serde(default)]
    pub transmitter: Option<Transmitter>,
}

/// One receiver of a stations file.
#[derive(Debug, Clone, Deserialize)]
pub struct StationEntry {
    /// Receiver id.
    pub id: String,
    /// Recording file name (relative to the stations file).
    #[serde(default)]
    pub file: Option<String>,
    /// Latitude (degrees).
    pub latitude: f64,
    /// Longitude (degrees).
    pub longitude: f64,
}

/// The known transmitter of a stations file.
#[derive(Debug, Clone, Deserialize)]
pub struct Transmitter {
    /// Name.
    #[serde(default)]
    pub name: Option<String>,
    /// Latitude (degrees).
    pub latitude: f64,
    /// Longitude (degrees).
    pub longitude: f64,
}

impl Transmitter {
    /// Its position.
    pub fn position(&self) -> Result<GeoPosition, Error> {
        GeoPosition::new(self.latitude, self.longitude, None)
    }
}

/// Reads a stations file.
pub fn read_stations(path: &Path) -> Result<StationsFile, Error> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::InvalidInput {
        field: "stations file",
        reason: format!("{}: {e}", path.display()),
    })?;
    serde_json::from_str(&text).map_err(|e| Error::Malformed {
        backend: "stations file",
        origin: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// The recording of `entry`, relative to the stations file's folder `dir`.
pub fn station_recording(dir: &Path, entry: &StationEntry) -> Option<PathBuf> {
    entry.file.as_ref().map(|f| dir.join(f))
}

/// The recordings of a stations file as receivers, with what a request for them needs.
#[derive(Debug, Clone)]
pub struct RecordingNetwork {
    /// One source per recording, in the file's order.
    pub sources: Vec<Arc<dyn ReceiverSource>>,
    /// A frequency every recording holds: the first recording's centre (Hz).
    pub frequency_hz: f64,
    /// The longest recording (a request this long takes every recording whole).
    pub duration: Duration,
    /// The transmitter, when the file gives it.
    pub transmitter: Option<GeoPosition>,
}

/// A recording receiver at `position`, named `id`, replaying `path`.
pub fn recording_source(path: &Path, id: &str, position: GeoPosition) -> Result<RecordingSource, Error> {
    let abs = path.canonicalize().map_err(|e| Error::InvalidInput {
        field: "recording",
        reason: format!("{}: {e}", path.display()),
    })?;
    let url = url::Url::from_file_path(&abs)
        .map_err(|()| Error::invalid("recording", format!("{} is not a local path", abs.display())))?;
    let info =
        ReceiverInfo::new(ReceiverId::slugify(id), id, ReceiverKind::Recording, url.as_str()).with_position(position);
    RecordingBuilder::new(info).build()
}

/// Reads a stations file and builds its recordings' receivers. Every recording is read once
/// here, to check that they share a frequency and to find the longest.
pub fn recording_network(stations_path: &Path) -> Result<RecordingNetwork, Error> {
    let stations = read_stations(stations_path)?;
    let dir = stations_path.parent().unwrap_or(Path::new("."));
    let mut sources: Vec<Arc<dyn ReceiverSource>> = Vec::new();
    let mut first: Option<f64> = None;
    let mut longest = 0.0f64;
    for s in &stations.stations {
        let Some(path) = station_recording(dir, s) else {
            continue;
        };
        let position = GeoPosition::new(s.latitude, s.longitude, None)?;
        let source = recording_source(&path, &s.id, position)?;
        let rec: Recording = source.read()?;
        let f = *first.get_or_insert(rec.center_frequency_hz);
        if (f - rec.center_frequency_hz).abs() > rec.sample_rate_hz / 2.0 {
            return Err(Error::invalid(
                "recordings",
                format!(
                    "{} is centred on {} Hz and does not hold {f} Hz of the first recording",
                    path.display(),
                    rec.center_frequency_hz
                ),
            ));
        }
        longest = longest.max(rec.samples.len() as f64 / rec.sample_rate_hz);
        sources.push(Arc::new(source));
    }
    let Some(frequency_hz) = first else {
        return Err(Error::invalid(
            "stations file",
            format!("{} lists no recording (`file`)", stations_path.display()),
        ));
    };
    Ok(RecordingNetwork {
        sources,
        frequency_hz,
        // Rounded up to the next millisecond so that the longest recording is taken whole.
        duration: Duration::from_millis((longest * 1000.0).ceil() as u64),
        transmitter: stations.transmitter.as_ref().map(Transmitter::position).transpose()?,
    })
}
