//! The recording backend against fixtures written by `testdata/recording/make_recordings.py`
//! from the format descriptions alone (kiwirecorder's WAV layout by hand, SigMF by
//! sigmf-python), with their truth in `expected.json`.
#![cfg(feature = "recording")]

mod common;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Utc};
use common::{assert_cancel_ends_stream, assert_malformed, assert_refused, info, request};
use futures::StreamExt;
use heimdall_core::{
    CaptureChunk, CaptureStream, ReceiverKind, ReceiverSource, ReceiverSourceExt, SampleBlock, TimeMark, TimeSource,
};
use heimdall_websdr::recording::RecordingBuilder;
use heimdall_websdr::registry::{BuildContext, Registry};
use num_complex::Complex32;
use serde_json::{Value, json};

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/recording")
}

fn expected() -> Value {
    serde_json::from_str(&std::fs::read_to_string(dir().join("expected.json")).unwrap()).unwrap()
}

fn url(path: &Path) -> String {
    url::Url::from_file_path(path.canonicalize().unwrap())
        .unwrap()
        .to_string()
}

/// A recording receiver through the registry, as a receivers file would build it.
fn source(path: &Path) -> Arc<dyn ReceiverSource> {
    Registry::with_defaults()
        .build(
            &info("rec", "Recording", ReceiverKind::Recording, &url(path)),
            &json!({}),
            &BuildContext::new(),
        )
        .unwrap()
}

async fn read_all(s: CaptureStream) -> (Vec<TimeMark>, Vec<Complex32>) {
    let (mut marks, mut samples) = (Vec::new(), Vec::new());
    let mut chunks = s.chunks;
    while let Some(c) = chunks.next().await {
        match c.unwrap() {
            CaptureChunk::Time(m) => marks.push(m),
            CaptureChunk::Samples(SampleBlock::Complex(v)) => samples.extend(v),
            other => panic!("unexpected chunk {other:?}"),
        }
    }
    (marks, samples)
}

fn utc(v: &Value) -> DateTime<Utc> {
    v.as_str().unwrap().parse().unwrap()
}

fn tone_hz(samples: &[Complex32], rate: f64) -> f64 {
    let mean: Complex32 = samples.windows(2).map(|w| w[1] * w[0].conj()).sum();
    f64::from(mean.arg()) * rate / std::f64::consts::TAU
}

#[tokio::test]
async fn kiwi_wav_replays_with_fitted_rate_and_gps_marks() {
    let truth = &expected()["kiwi_wav"];
    let src = source(&dir().join(truth["file"].as_str().unwrap()));
    // Longer than the recording: the rest of it is delivered, and says so.
    let cap = src.open_uncancellable(&request(7_001_000.0, None, 5.0)).await.unwrap();
    let rate = truth["sample_rate_hz"].as_f64().unwrap();
    assert!(
        (cap.info.sample_rate_hz - rate).abs() < 1e-3,
        "{}",
        cap.info.sample_rate_hz
    );
    assert_eq!(cap.info.center_frequency_hz, 7.0e6);
    assert_eq!(cap.info.expected_samples, truth["samples"].as_u64());
    let details = &cap.info.extra["recording"];
    assert_eq!(details["truncated"], json!(true));
    assert_eq!(details["agreeing_gps_stamps"], truth["agreeing_gps_stamps"]);
    let (marks, samples) = read_all(cap).await;
    assert_eq!(samples.len() as u64, truth["samples"].as_u64().unwrap());
    let iq = &truth["first_sample_i_q"];
    assert_eq!(
        samples[0],
        Complex32::new(
            iq[0].as_f64().unwrap() as f32 / 32768.0,
            iq[1].as_f64().unwrap() as f32 / 32768.0
        )
    );
    assert!((tone_hz(&samples, rate) - 1000.0).abs() < 0.5);
    // Sample 0's time from the fit, GPS; then every fresh stamp (not block 0's zero, not the
    // stale block 1), the wild one included for the localization to judge.
    assert_eq!(marks[0].sample_index, 0);
    assert_eq!(marks[0].source, TimeSource::Gps);
    let err_ns = (marks[0].time - utc(&truth["start_utc"])).num_nanoseconds().unwrap();
    assert!(err_ns.abs() < 100, "sample 0 is {err_ns} ns off");
    assert_eq!(marks.len(), 1 + 38);
    assert!(marks.iter().all(|m| m.source == TimeSource::Gps));
    assert!(marks.windows(2).all(|w| w[0].sample_index < w[1].sample_index));
}

#[tokio::test]
async fn start_at_seeks_and_requests_outside_are_refused() {
    let truth = &expected()["kiwi_wav"];
    let src = source(&dir().join(truth["file"].as_str().unwrap()));
    let rate = truth["sample_rate_hz"].as_f64().unwrap();
    let t = utc(&truth["start_utc"]) + chrono::Duration::milliseconds(500);
    let mut req = request(7_000_000.0, None, 0.25);
    req.start_at = Some(t);
    let cap = src.open_uncancellable(&req).await.unwrap();
    let first = cap.info.extra["recording"]["first_sample"].as_u64().unwrap();
    assert!((first as f64 - 0.5 * rate).abs() <= 1.0, "{first}");
    assert_eq!(cap.info.expected_samples, Some((0.25 * rate).round() as u64));
    let (marks, _) = read_all(cap).await;
    assert!(
        (marks[0].time - t).num_microseconds().unwrap().abs() <= 84,
        "{}",
        marks[0].time
    );
    assert!(marks[1..].iter().all(|m| m.sample_index > 0));

    req.start_at = Some(t + chrono::Duration::seconds(60));
    let e = src.open_uncancellable(&req).await.unwrap_err();
    assert_refused(&e, "recording");
    assert!(e.to_string().contains("outside the recording"), "{e}");
    let e = src
        .open_uncancellable(&request(7_010_000.0, None, 1.0))
        .await
        .unwrap_err();
    assert_refused(&e, "recording");
    assert!(e.to_string().contains("outside the recording's band"), "{e}");
}

#[tokio::test]
async fn sigmf_from_sigmf_python_replays() {
    let truth = &expected()["sigmf"];
    let src = source(&dir().join("synth.sigmf-data"));
    let cap = src.open_uncancellable(&request(145.497e6, None, 1.0)).await.unwrap();
    assert_eq!(cap.info.sample_rate_hz, 48_000.0);
    assert_eq!(cap.info.center_frequency_hz, 145.5e6);
    let pos = &cap.info.extra["recording"]["position"];
    assert_eq!(pos["latitude"], truth["position"][0]);
    assert_eq!(pos["longitude"], truth["position"][1]);
    let (marks, samples) = read_all(cap).await;
    assert_eq!(samples.len() as u64, truth["samples"].as_u64().unwrap());
    assert!((tone_hz(&samples, 48_000.0) + 3000.0).abs() < 0.5);
    // A plain SigMF time stamp is a host clock's.
    assert_eq!(marks.len(), 1);
    assert_eq!(marks[0].source, TimeSource::Host);
    assert_eq!(marks[0].time, utc(&truth["start_utc"]));
}

#[tokio::test]
async fn conformance_and_cancellation() {
    let truth = &expected()["kiwi_wav"];
    let path = dir().join(truth["file"].as_str().unwrap());
    heimdall_core::testkit::source_conformance(source(&path), &request(7.0e6, None, 0.5)).await;
    let small = RecordingBuilder::new(info("rec", "R", ReceiverKind::Recording, &url(&path)))
        .with_chunk_samples(256)
        .build()
        .unwrap();
    assert_cancel_ends_stream(&small, &request(7.0e6, None, 1.0), 3).await;
    assert!(small.health().await.unwrap().available);
}

#[tokio::test]
async fn missing_damaged_and_oversized_files_are_typed_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let truth = &expected()["kiwi_wav"];
    let good = std::fs::read(dir().join(truth["file"].as_str().unwrap())).unwrap();
    let name = truth["file"].as_str().unwrap();
    let path = tmp.path().join(name);
    std::fs::write(&path, &good[..good.len() - 3]).unwrap();
    let src = source(&path);
    assert_malformed(
        &src.open_uncancellable(&request(7.0e6, None, 1.0)).await.unwrap_err(),
        "kiwi_wav",
    );
    std::fs::write(&path, &good).unwrap();
    let capped = RecordingBuilder::new(info("rec", "R", ReceiverKind::Recording, &url(&path)))
        .with_max_bytes(1000)
        .build()
        .unwrap();
    let e = capped.open_uncancellable(&request(7.0e6, None, 1.0)).await.unwrap_err();
    assert_refused(&e, "recording");
    assert!(e.to_string().contains("more than the 1000 bytes"), "{e}");
    std::fs::remove_file(&path).unwrap();
    assert_refused(&src.health().await.unwrap_err(), "recording");
    assert_refused(
        &src.open_uncancellable(&request(7.0e6, None, 1.0)).await.unwrap_err(),
        "recording",
    );
    // A SigMF whose metadata names a dataset outside its folder is refused before any read.
    let meta = tmp.path().join("x.sigmf-meta");
    std::fs::write(
        &meta,
        r#"{"global":{"core:datatype":"cf32_le","core:sample_rate":1000,"core:dataset":"../../etc/passwd"},"captures":[]}"#,
    )
    .unwrap();
    assert_malformed(
        &source(&meta)
            .open_uncancellable(&request(0.0, None, 1.0))
            .await
            .unwrap_err(),
        "recording",
    );
}
