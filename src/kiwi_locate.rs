//! Locating from kiwirecorder IQ WAV recordings: turns a recording into a
//! [`heimdall_locate::ReceiverCapture`] and reads a stations file.

use std::path::Path;

use heimdall_core::Error;
use heimdall_locate::{ClockSource, GeoPoint, ReceiverCapture, TimeMark};
use heimdall_websdr::kiwi_wav;

use crate::recordings::{StationsFile, read_stations, station_recording};

/// Reads a recording as a GPS-timed capture at `position`. The GPS week comes from the file
/// name; the id is the station named in the file name unless `id` is given.
pub fn kiwi_wav_capture(path: &Path, id: Option<&str>, position: GeoPoint) -> Result<ReceiverCapture, Error> {
    let origin = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| Error::InvalidInput {
        field: "kiwi wav",
        reason: format!("{origin}: {e}"),
    })?;
    let name = kiwi_wav::parse_file_name(&origin)?;
    let wav = kiwi_wav::parse(&bytes, &origin)?;
    let marks = wav
        .blocks
        .iter()
        .map(|b| TimeMark {
            sample: b.first_sample,
            seconds: if b.gpssec == 0 && b.gpsnsec == 0 {
                0
            } else {
                wav.gps_seconds(b, name.unix_s)
            },
            nanos: b.gpsnsec as f64,
            fix_age_s: Some(b.last_gps_solution as u32),
        })
        .collect();
    Ok(ReceiverCapture {
        id: id.map(str::to_string).unwrap_or(name.station),
        position,
        clock: ClockSource::Gps,
        sample_rate_hz: wav.header_rate_hz as f64,
        centre_frequency_hz: name.frequency_hz as f64,
        samples: wav.samples,
        marks,
    })
}

/// Reads every recording a stations file lists (paths relative to the file's folder).
pub fn captures_from_stations(path: &Path) -> Result<(StationsFile, Vec<ReceiverCapture>), Error> {
    let stations = read_stations(path)?;
    let dir = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for s in &stations.stations {
        let Some(path) = station_recording(dir, s) else {
            continue;
        };
        out.push(kiwi_wav_capture(
            &path,
            Some(&s.id),
            GeoPoint::new(s.latitude, s.longitude),
        )?);
    }
    Ok((stations, out))
}
