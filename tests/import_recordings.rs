//! Recordings through the engine (the importer): a stations file's recordings replay as
//! receivers, are archived and measured, and the archived session is located.
//!
//! The synthetic kiwirecorder WAV of `testdata/recording` (written by a Python script from the
//! format description) always runs. The real KiwiSDR recordings come from
//! `HEIMDALL_KIWI_WAV_DIR` (scripts/test.sh sets it; never copied into the repository): under
//! CI=true they must be there.

#![allow(clippy::print_stderr)]

mod common;

use std::path::Path;
use std::sync::Arc;

use heimdall::core::engine::Engine;
use heimdall::core::{AcquisitionRequest, GeoPosition, SessionReport, SessionStatus, TimeSource};
use heimdall::kiwi_locate::captures_from_stations;
use heimdall::locate::geo::geodesic_distance;
use heimdall::locate::{GeoPoint, Localization, LocateOptions, Method, locate};
use heimdall::recordings::{RecordingNetwork, recording_network};
use heimdall::session_locate::locate_session;
use heimdall::storage::{ArchiveFormat, ArchiveSink};
use heimdall::tsdb::Tsdb;
use serde_json::Value;

async fn import(net: &RecordingNetwork, sink: &Arc<ArchiveSink>, db: &Arc<Tsdb>) -> SessionReport {
    let engine = Engine::builder()
        .sources(net.sources.clone())
        .sink(sink.clone())
        .store(db.clone())
        .build()
        .unwrap();
    let report = engine
        .acquire(AcquisitionRequest::new(net.frequency_hz, net.duration))
        .await
        .unwrap();
    assert_eq!(report.status, SessionStatus::Success, "{report:?}");
    assert!(report.committed);
    report
}

#[tokio::test(flavor = "multi_thread")]
async fn a_synthetic_kiwi_wav_is_archived_with_its_fitted_rate_and_gps_marks() {
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata/recording");
    let truth: Value = serde_json::from_str(&std::fs::read_to_string(fixtures.join("expected.json")).unwrap()).unwrap();
    let truth = &truth["kiwi_wav"];
    let tmp = tempfile::tempdir().unwrap();
    let stations = tmp.path().join("stations.json");
    let file = fixtures.join(truth["file"].as_str().unwrap());
    std::fs::write(
        &stations,
        serde_json::json!({"stations": [{"id": "synth", "file": file, "latitude": 45.0, "longitude": 7.6}]})
            .to_string(),
    )
    .unwrap();
    let net = recording_network(&stations).unwrap();
    assert_eq!(net.frequency_hz, 7.0e6);
    let (sink, db) = common::archive_and_db(tmp.path(), ArchiveFormat::Both).await;
    let report = import(&net, &sink, &db).await;
    let manifest = sink.read_session_manifest(report.session_id).await.unwrap();
    let receiver = &manifest.session.receivers[0];
    let capture = receiver.capture.as_ref().expect("capture");
    assert_eq!(capture.samples, truth["samples"].as_u64().unwrap());
    assert_eq!(capture.time_source, TimeSource::Gps);
    assert!((capture.info.sample_rate_hz - truth["sample_rate_hz"].as_f64().unwrap()).abs() < 1e-3);
    let start: chrono::DateTime<chrono::Utc> = truth["start_utc"].as_str().unwrap().parse().unwrap();
    assert!((capture.start_time - start).num_nanoseconds().unwrap().abs() < 100);
    // Every fresh GNSS stamp is archived with the capture (the wild one included).
    assert_eq!(capture.time_marks.len(), 1 + 38);
    // The metrics row: the tone at +1 kHz.
    let m = receiver.metrics.as_ref().expect("metrics");
    let offset = m.frequency_offset_hz.expect("an offset");
    assert!((offset - 1000.0).abs() < 5.0, "{m:?}");

    // The archived SigMF (a Non-Conforming Dataset over the .npy) replays in turn: the same
    // samples, rate, start and GPS marks.
    let meta_key = &receiver
        .objects
        .iter()
        .find(|o| o.key.ends_with(".sigmf-meta"))
        .expect("a SigMF recording")
        .key;
    let replay = heimdall::recordings::recording_source(
        &tmp.path().join("archive").join(meta_key),
        "again",
        GeoPosition::new(45.0, 7.6, None).unwrap(),
    )
    .unwrap();
    let again = replay.read().unwrap();
    let position = GeoPosition::new(45.0, 7.6, None).unwrap();
    let samples = heimdall::recordings::recording_source(&file, "synth", position)
        .unwrap()
        .read()
        .unwrap()
        .samples;
    assert_eq!(again.samples, samples);
    // Refitted from the archived marks (whole nanoseconds): the same rate to 1e-5 Hz.
    assert!((again.sample_rate_hz - capture.info.sample_rate_hz).abs() < 1e-5);
    assert_eq!(again.start, capture.time_marks[0]);
    assert_eq!(again.marks, capture.time_marks[1..]);
}

#[tokio::test(flavor = "multi_thread")]
async fn real_recordings_imported_then_located_match_the_direct_localization() {
    let Some(dir) = common::real_recordings_dir() else {
        return;
    };
    let stations = dir.join("stations.json");
    let net = recording_network(&stations).unwrap();
    assert_eq!(net.sources.len(), 3);
    let truth = net.transmitter.expect("stations.json has the truth");
    let truth = GeoPoint::new(truth.latitude, truth.longitude);
    let tmp = tempfile::tempdir().unwrap();
    let (sink, db) = common::archive_and_db(tmp.path(), ArchiveFormat::Both).await;
    let report = import(&net, &sink, &db).await;
    let located = locate_session(&sink, Some(db.as_ref()), report.session_id, &LocateOptions::default())
        .await
        .unwrap();
    let fix: Localization = serde_json::from_value(located.document.result.clone()).unwrap();
    let err = geodesic_distance(&truth, &fix.position());
    eprintln!(
        "imported session {}: error {err:.0} m, 95% ellipse {:.0} x {:.0} m",
        report.session_id, fix.error_ellipse_m.semi_major, fix.error_ellipse_m.semi_minor
    );
    assert_eq!(fix.method, Method::Tdoa);
    assert!(err <= 1_000.0, "error {err:.0} m");
    assert!(fix.ellipse_contains(&truth), "truth outside the 95% ellipse");
    // The same answer as locating the files directly: the replay loses nothing.
    let (_, direct) = captures_from_stations(&stations).unwrap();
    let direct = locate(&direct, &LocateOptions::default()).unwrap();
    let apart = geodesic_distance(&direct.position(), &fix.position());
    eprintln!("direct fix {apart:.1} m from the imported one");
    assert!(apart < 10.0, "imported and direct fixes {apart:.1} m apart");
}
