//! Receiver-reported spectra archived next to the samples: round trip on memory, local disk and
//! the S3 test server, the size limit, and numpy reading the matrix.
#![allow(clippy::print_stderr)] // tests report skips on stderr

mod common;

use std::time::Duration;

use chrono::Utc;
use heimdall_core::testkit::{test_capture_info, test_summary};
use heimdall_core::{
    CaptureChunk, IqArchive, IqSink, PowerUnit, ReceiverReport, ReceiverStatus, SampleBlock, SampleFormat, SessionId,
    SessionReport, SessionStatus, SpectrumFrame, StoredObject,
};
use heimdall_storage::{ArchiveFormat, ArchiveSink};

fn frame(i: u64, bins: usize) -> SpectrumFrame {
    SpectrumFrame {
        sample_index: i * 300,
        center_frequency_hz: 145e6 + (i / 4) as f64 * 1e5,
        span_hz: 2.4e6,
        bins: (0..bins).map(|b| -120.0 + (b as f32) * 0.25 - i as f32).collect(),
        unit: PowerUnit::Dbfs,
    }
}

/// Stores one 3000-sample audio capture with `frames` spectrum frames interleaved (plus one
/// with a different bin count), commits the session, returns the objects.
async fn store(sink: &ArchiveSink, session: SessionId, frames: u64) -> Vec<StoredObject> {
    let info = test_capture_info("owrx", SampleFormat::RealF32, 3000);
    let mut w = sink.begin_capture(&common::attempt(session), &info).await.unwrap();
    for i in 0..frames {
        let start = (i as usize * 3000 / frames as usize).min(3000);
        let end = ((i as usize + 1) * 3000 / frames as usize).min(3000);
        w.write(CaptureChunk::Samples(SampleBlock::Real(
            (start..end).map(|k| k as f32 / 4096.0).collect(),
        )))
        .await
        .unwrap();
        w.write(CaptureChunk::Spectrum(frame(i, 256))).await.unwrap();
        if i == 2 {
            w.write(CaptureChunk::Spectrum(frame(i, 128))).await.unwrap();
        }
    }
    let mut summary = test_summary(&info, 3000);
    summary.spectra = frames + 1;
    let objects = w.finish(&summary, None).await.unwrap();
    let report = SessionReport {
        errors: Vec::new(),
        session_id: session,
        request: heimdall_core::AcquisitionRequest::new(145.5e6, Duration::from_secs(1)),
        status: SessionStatus::Success,
        started_at: Utc::now(),
        finished_at: Utc::now(),
        receivers: vec![ReceiverReport {
            receiver: info.receiver.clone(),
            status: ReceiverStatus::Recorded,
            attempts: 1,
            capture: Some(summary),
            metrics: None,
            objects: objects.clone(),
            error: None,
            retried_errors: vec![],
        }],
        committed: false,
    };
    sink.commit_session(&common::attempt(report.session_id), &report)
        .await
        .unwrap();
    objects
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spectra_round_trip_on_every_backend() {
    for b in common::backends("spectra", ArchiveFormat::Both) {
        let session = SessionId::new();
        let objects = store(&b.sink, session, 10).await;
        let names: Vec<&str> = objects.iter().map(|o| o.key.rsplit('/').next().unwrap()).collect();
        for want in ["owrx.npy", "owrx.sigmf-meta", "owrx_spectra.npy", "owrx_spectra.json"] {
            assert!(names.contains(&want), "{}: {names:?}", b.name);
        }
        let rx = "owrx".parse().unwrap();
        let (index, frames) = b.sink.read_spectra(session, &rx).await.unwrap().unwrap();
        assert_eq!(frames, (0..10).map(|i| frame(i, 256)).collect::<Vec<_>>(), "{}", b.name);
        assert_eq!((index.frames, index.bins, index.unit), (10, 256, PowerUnit::Dbfs));
        assert_eq!(
            (index.dropped_inconsistent, index.frame_stride, index.frames_received),
            (1, 1, 11)
        );
        // The samples are still what they were (the spectra file is not mistaken for them).
        let back = b.sink.read_capture(session, &rx).await.unwrap();
        assert_eq!(back.samples.len(), 3000, "{}", b.name);
        // A tampered matrix is caught by the manifest checksum.
        let key = objects
            .iter()
            .find(|o| o.key.ends_with("_spectra.npy"))
            .unwrap()
            .key
            .clone();
        let path = heimdall_storage::object_store::path::Path::parse(&key).unwrap();
        let mut bytes = b.sink.get_bytes(&key).await.unwrap().to_vec();
        let last = bytes.len() - 1;
        bytes[last] ^= 0x40;
        heimdall_storage::object_store::ObjectStoreExt::put(b.sink.store().as_ref(), &path, bytes.into())
            .await
            .unwrap();
        let e = b.sink.read_spectra(session, &rx).await.unwrap_err();
        assert!(e.to_string().contains("checksum mismatch"), "{}: {e}", b.name);
    }
}

#[tokio::test]
async fn spectra_limit_and_opt_out() {
    // Room for 4 frames of 256 float32 bins: 10 frames thin to every 4th, over the whole capture.
    let sink = heimdall_storage::ArchiveBuilder::from_url("memory://")
        .with_max_spectra_bytes(4 * 256 * 4)
        .build()
        .unwrap();
    let session = SessionId::new();
    store(&sink, session, 10).await;
    let (index, frames) = sink
        .read_spectra(session, &"owrx".parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frames, [0, 4, 8].map(|i| frame(i, 256)).to_vec());
    assert_eq!(
        (index.frame_stride, index.frames_received, index.dropped_inconsistent),
        (4, 11, 1)
    );

    let sink = heimdall_storage::ArchiveBuilder::from_url("memory://")
        .with_option("max_spectra_bytes", "0")
        .build()
        .unwrap();
    let session = SessionId::new();
    let objects = store(&sink, session, 10).await;
    assert!(objects.iter().all(|o| !o.key.contains("_spectra")), "{objects:?}");
    assert!(
        sink.read_spectra(session, &"owrx".parse().unwrap())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn numpy_loads_the_spectra_matrix() {
    let Some(python) = common::tool("HEIMDALL_PYTHON", "python", "numpy_loads_the_spectra_matrix") else {
        return;
    };
    let (dir, sink) = common::local_sink(|b| b);
    let session = SessionId::new();
    store(&sink, session, 10).await;
    let sdir = common::attempt_dir(dir.path(), session);
    let script = r#"
import sys, json, numpy as np
d = sys.argv[1]
m = np.load(d + "/owrx_spectra.npy")
idx = json.load(open(d + "/owrx_spectra.json"))
assert m.dtype == np.dtype("<f4") and m.shape == (10, 256), (m.dtype, m.shape)
i = np.arange(10, dtype=np.float32)[:, None]
b = np.arange(256, dtype=np.float32)[None, :]
assert np.array_equal(m, (np.float32(-120.0) + b * np.float32(0.25) - i).astype(np.float32))
assert idx["frames"] == 10 and idx["bins"] == 256 and idx["unit"] == "dbfs", idx
assert idx["sample_index"] == [300 * k for k in range(10)], idx["sample_index"]
assert idx["data_key"].endswith("owrx_spectra.npy") and idx["dropped_inconsistent"] == 1
print("numpy spectra ok", m.shape)
"#;
    common::run_python(&python, "numpy spectra check", script, &sdir);
}
