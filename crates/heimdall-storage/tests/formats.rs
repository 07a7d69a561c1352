//! File formats: .npy byte-identical to numpy.save, numpy loads what the sink wrote, and
//! sigmf_validate accepts the SigMF recordings (checksum included), whether they describe a
//! `.sigmf-data` or, with both formats, the `.npy` itself (one copy of the samples).
#![allow(clippy::print_stderr)] // tests report skips and error texts on stderr

mod common;

use std::process::Command;

use heimdall_core::testkit::{test_capture_info, test_metrics, test_summary};
use heimdall_core::{
    CaptureChunk, Complex32, Gap, IqSink, IqSinkExt, SampleBlock, SampleFormat, SessionId, StoredObject,
};
use heimdall_storage::{ArchiveBuilder, ArchiveFormat, ArchiveSink};

fn ramp(n: usize) -> SampleBlock {
    // `0.0 - k` (not `-k`) so that sample 0 is +0.0 like numpy's `k - k*1j`.
    SampleBlock::Complex((0..n).map(|k| Complex32::new(k as f32, 0.0 - k as f32)).collect())
}

fn chunks(block: &SampleBlock, per: usize) -> Vec<CaptureChunk> {
    match block {
        SampleBlock::Complex(v) => v
            .chunks(per.max(1))
            .map(|c| CaptureChunk::Samples(SampleBlock::Complex(c.to_vec())))
            .collect(),
        SampleBlock::Real(v) => v
            .chunks(per.max(1))
            .map(|c| CaptureChunk::Samples(SampleBlock::Real(c.to_vec())))
            .collect(),
    }
}

async fn store(sink: &ArchiveSink, session: SessionId, id: &str, block: &SampleBlock) -> Vec<StoredObject> {
    let info = test_capture_info(id, block.format(), block.len() as u64);
    let summary = test_summary(&info, block.len() as u64);
    let metrics = test_metrics(block.len() as u64, Some(12.0));
    sink.store_capture(&common::attempt(session), &summary, Some(&metrics), chunks(block, 4096))
        .await
        .expect("store_capture")
}

#[tokio::test]
async fn npy_is_byte_identical_to_numpy_save() {
    let sink = ArchiveBuilder::from_url("memory://")
        .with_format(ArchiveFormat::Npy)
        .build()
        .unwrap();
    let session = SessionId::new();
    for (file, n) in [("c8_len0.npy", 0usize), ("c8_len5.npy", 5), ("c8_len70000.npy", 70_000)] {
        let id = format!("rx-{n}");
        let objs = store(&sink, session, &id, &ramp(n)).await;
        let npy = objs.iter().find(|o| o.key.ends_with(".npy")).expect("npy object");
        let ours = sink.get_bytes(&npy.key).await.unwrap();
        let theirs = std::fs::read(common::testdata(&format!("npy/{file}"))).unwrap();
        assert_eq!(ours.len(), theirs.len(), "{file}: size");
        assert!(
            ours.as_ref() == theirs.as_slice(),
            "{file}: bytes differ from numpy.save"
        );
        assert_eq!(npy.size, theirs.len() as u64);
        let meta = objs
            .iter()
            .find(|o| o.key.ends_with("_metadata.json"))
            .expect("metadata");
        let doc: serde_json::Value = serde_json::from_slice(&sink.get_bytes(&meta.key).await.unwrap()).unwrap();
        assert_eq!(doc["websdr_id"], id.as_str());
        assert_eq!(doc["frequency_mhz"], 145.5);
        assert_eq!(doc["sample_rate_khz"], 12.0);
        assert_eq!(doc["samples_count"], n as u64);
        assert_eq!(doc["data_sha256"], npy.sha256.as_str());
        assert!(doc["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}

/// Writes IQ and audio captures in both formats to a local directory and returns it.
async fn write_local(format: ArchiveFormat) -> (tempfile::TempDir, ArchiveSink, SessionId) {
    let (dir, sink) = common::local_sink(|b| b.with_format(format));
    let session = SessionId::new();
    store(&sink, session, "iq", &ramp(10_000)).await;
    let audio = SampleBlock::Real((0..3001).map(|k| k as f32 * 0.25).collect());
    store(&sink, session, "audio", &audio).await;
    // A capture with gaps at the start, in the middle and at the end.
    let n = 9000u64;
    let info = test_capture_info("gappy", SampleFormat::ComplexF32, n);
    let mut summary = test_summary(&info, n);
    summary.gaps = vec![
        Gap {
            sample_index: 0,
            missing_samples: 10,
        },
        Gap {
            sample_index: 4000,
            missing_samples: 100,
        },
        Gap {
            sample_index: 4000,
            missing_samples: 1,
        },
        Gap {
            sample_index: n,
            missing_samples: 5,
        },
    ];
    sink.store_capture(
        &common::attempt(session),
        &summary,
        None,
        chunks(&ramp(n as usize), 1000),
    )
    .await
    .unwrap();
    (dir, sink, session)
}

#[tokio::test]
async fn numpy_loads_what_the_sink_wrote() {
    let Some(python) = common::tool("HEIMDALL_PYTHON", "python", "numpy_loads_what_the_sink_wrote") else {
        return;
    };
    let (dir, sink, session) = write_local(ArchiveFormat::Both).await;
    let sdir = common::attempt_dir(dir.path(), session);
    let script = r#"
import sys, json, numpy as np
d = sys.argv[1]
iq = np.load(d + "/iq.npy")
k = np.arange(10000, dtype=np.float32)
assert iq.dtype == np.dtype("<c8") and iq.shape == (10000,), (iq.dtype, iq.shape)
assert np.array_equal(iq, (k - 1j * k).astype(np.complex64))
import os
assert not os.path.exists(d + "/iq.sigmf-data"), "both formats store the samples once, in the .npy"
au = np.load(d + "/audio.npy")
assert au.dtype == np.dtype("<f4") and au.shape == (3001,)
assert np.array_equal(au, np.arange(3001, dtype=np.float32) * np.float32(0.25))
meta = json.load(open(d + "/iq_metadata.json"))
assert meta["websdr_id"] == "iq" and meta["frequency_mhz"] == 145.5, meta
print("numpy ok", iq.shape, au.shape)
"#;
    common::run_python(&python, "numpy check", script, &sdir);
    drop(sink);
}

/// Headers whose shape times the element size overflows: numpy (the oracle) refuses every one
/// ("array is too big"), and so does our parser, instead of reading a wrapped-around length.
#[test]
fn numpy_and_heimdall_refuse_the_same_oversized_shapes() {
    let Some(python) = common::tool(
        "HEIMDALL_PYTHON",
        "python",
        "numpy_and_heimdall_refuse_the_same_oversized_shapes",
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let shapes = [
        ("<c8", 2_305_843_009_213_696_000u64),
        ("<c8", 1_152_921_504_606_846_976),
        ("<f4", 4_611_686_018_427_387_904),
        ("<f4", 18_446_744_073_709_551_615),
    ];
    for (k, (descr, len)) in shapes.iter().enumerate() {
        let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({len},), }}");
        let mut text = dict.into_bytes();
        text.resize(117, b' ');
        text.push(b'\n');
        let mut b = b"\x93NUMPY\x01\x00".to_vec();
        b.extend_from_slice(&(text.len() as u16).to_le_bytes());
        b.extend_from_slice(&text);
        b.extend(std::iter::repeat_n(0u8, 16_384));
        std::fs::write(dir.path().join(format!("{k}.npy")), &b).unwrap();
        let e = heimdall_core::npy::decode(&b).expect_err("an oversized shape must be refused");
        assert!(e.to_string().contains("array is too big"), "{len}: {e}");
    }
    let script = format!(
        r#"
import sys, numpy as np
for k in range({}):
    try:
        a = np.load(sys.argv[1] + "/%d.npy" % k)
    except (ValueError, OverflowError, MemoryError) as e:
        print(k, "refused:", e)
        continue
    raise SystemExit("numpy loaded %d.npy as shape %s" % (k, a.shape))
"#,
        shapes.len()
    );
    common::run_python(&python, "numpy oversized shapes", &script, dir.path());
}

#[tokio::test]
async fn sigmf_validate_accepts_the_recordings() {
    check_sigmf_recordings(ArchiveFormat::Sigmf).await;
}

/// With both formats the recording is a Non-Conforming Dataset over the `.npy`: sigmf_validate
/// accepts it and sigmf-python reads exactly numpy's samples.
#[tokio::test]
async fn sigmf_recordings_point_at_the_npy_with_both_formats() {
    check_sigmf_recordings(ArchiveFormat::Both).await;
}

async fn check_sigmf_recordings(format: ArchiveFormat) {
    let test = format!("sigmf_validate_accepts_the_recordings ({format})");
    let Some(validate) = common::tool("HEIMDALL_SIGMF_VALIDATE", "sigmf_validate", &test) else {
        return;
    };
    let (dir, sink, session) = write_local(format).await;
    let sdir = common::attempt_dir(dir.path(), session);
    let metas: Vec<_> = ["iq", "audio", "gappy"]
        .iter()
        .map(|r| sdir.join(format!("{r}.sigmf-meta")))
        .collect();
    let out = Command::new(&validate).arg("-v").args(&metas).output().unwrap();
    assert!(
        out.status.success(),
        "sigmf_validate rejected the files: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("Warning"), "sigmf_validate warned: {stderr}");

    // The metadata content.
    let meta: serde_json::Value = serde_json::from_slice(&std::fs::read(&metas[0]).unwrap()).unwrap();
    let g = &meta["global"];
    assert_eq!(g["core:datatype"], "cf32_le");
    assert_eq!(g["core:sample_rate"], 12000.0);
    if format == ArchiveFormat::Both {
        // One copy: the recording describes the .npy, whose 128-byte header the first segment skips.
        assert!(!sdir.join("iq.sigmf-data").exists(), "a second copy was written");
        assert_eq!(g["core:dataset"], "iq.npy");
        assert_eq!(meta["captures"][0]["core:header_bytes"], 128);
        assert!(g.get("core:sha512").is_none(), "no SHA-512 pass over the .npy");
        use sha2::Digest;
        let npy = std::fs::read(sdir.join("iq.npy")).unwrap();
        assert_eq!(g["heimdall:dataset_sha256"], hex::encode(sha2::Sha256::digest(&npy)));
    } else {
        assert_eq!(g["core:sha512"].as_str().unwrap().len(), 128);
        assert!(g.get("core:dataset").is_none() && meta["captures"][0].get("core:header_bytes").is_none());
    }
    assert_eq!(g["core:extensions"][0]["name"], "heimdall");
    assert_eq!(g["heimdall:metrics"]["snr_db"], 12.0);
    let c0 = &meta["captures"][0];
    assert_eq!(c0["core:sample_start"], 0);
    assert_eq!(c0["core:frequency"], 145.5e6);
    assert_eq!(c0["core:datetime"], "2026-11-28T12:00:00.123456000Z");
    assert_eq!(c0["core:geolocation"]["type"], "Point");
    assert_eq!(c0["core:geolocation"]["coordinates"][0], 7.5, "longitude first");
    assert_eq!(c0["core:geolocation"]["coordinates"][1], 45.0);
    let audio: serde_json::Value = serde_json::from_slice(&std::fs::read(&metas[1]).unwrap()).unwrap();
    assert_eq!(audio["global"]["core:datatype"], "rf32_le");
    let gappy: serde_json::Value = serde_json::from_slice(&std::fs::read(&metas[2]).unwrap()).unwrap();
    let caps = gappy["captures"].as_array().unwrap();
    assert_eq!(
        caps.len(),
        2,
        "one segment at 0 and one after the gap at 4000: {caps:?}"
    );
    assert_eq!(caps[1]["core:sample_start"], 4000);
    assert!(
        caps[1].get("core:header_bytes").is_none(),
        "only the first segment follows the header"
    );
    // 4000 + 100 + 1 samples after sample 0 at 12 kHz (the gap before sample 0 does not count).
    assert_eq!(caps[1]["core:datetime"], "2026-11-28T12:00:00.465206000Z");
    assert_eq!(gappy["annotations"].as_array().unwrap().len(), 4);

    // sigmf-python reads the samples back: the ramp, and (with a .npy) exactly numpy's samples.
    if let Some(python) = common::tool("HEIMDALL_PYTHON", "python", "sigmf read-back") {
        let script = r#"
import os, sys, warnings, numpy as np, sigmf
warnings.simplefilter("error")  # no "compliant dataset exists" or partial-sample warning
d = sys.argv[1]
f = sigmf.fromfile(d + "/iq.sigmf-meta")
x = f.read_samples()
k = np.arange(10000, dtype=np.float32)
assert np.array_equal(x.astype(np.complex64), (k - 1j * k).astype(np.complex64)), x[:4]
n = 0
for rx, dtype in [("iq", np.complex64), ("audio", np.float32), ("gappy", np.complex64)]:
    r = sigmf.fromfile(d + f"/{rx}.sigmf-meta")
    got = r.read_samples()
    if os.path.exists(d + f"/{rx}.npy"):
        want = np.load(d + f"/{rx}.npy")
        assert r.data_file.name == f"{rx}.npy", r.data_file
        assert r.sample_count == len(want), (rx, r.sample_count, len(want))
        assert got.dtype == want.dtype == dtype and np.array_equal(got, want), (rx, got[:4], want[:4])
        n += 1
print("sigmf ok", len(x), "equal to np.load:", n)
"#;
        common::run_python(&python, "sigmf read-back", script, &sdir);
    }

    if format == ArchiveFormat::Sigmf {
        // The validator really checks the checksum we wrote: corrupt one byte and it fails.
        let data = sdir.join("iq.sigmf-data");
        let mut bytes = std::fs::read(&data).unwrap();
        bytes[100] ^= 0xff;
        std::fs::write(&data, bytes).unwrap();
        let out = Command::new(&validate).arg(&metas[0]).output().unwrap();
        assert!(!out.status.success(), "sigmf_validate accepted a corrupted data file");
    } else {
        // Without core:sha512 the digest of the .npy is the SHA-256 that `_metadata.json` and the
        // manifest list (checked on every read of the archive).
        let legacy: serde_json::Value =
            serde_json::from_slice(&std::fs::read(sdir.join("iq_metadata.json")).unwrap()).unwrap();
        assert_eq!(legacy["data_sha256"], g["heimdall:dataset_sha256"]);
    }
    drop(sink);
}

#[tokio::test]
async fn collection_lists_the_sigmf_recordings() {
    for format in [ArchiveFormat::Sigmf, ArchiveFormat::Both] {
        check_collection(format).await;
    }
}

async fn check_collection(format: ArchiveFormat) {
    let (dir, sink) = common::local_sink(|b| b.with_format(format));
    let session = SessionId::new();
    let objs = store(&sink, session, "rx1", &ramp(100)).await;
    let info = test_capture_info("rx1", SampleFormat::ComplexF32, 100);
    let report = heimdall_core::SessionReport {
        errors: Vec::new(),
        session_id: session,
        request: heimdall_core::AcquisitionRequest::new(145.5e6, std::time::Duration::from_secs(1)),
        status: heimdall_core::SessionStatus::Success,
        started_at: chrono::Utc::now(),
        finished_at: chrono::Utc::now(),
        receivers: vec![heimdall_core::ReceiverReport {
            receiver: info.receiver.clone(),
            status: heimdall_core::ReceiverStatus::Recorded,
            attempts: 1,
            capture: Some(test_summary(&info, 100)),
            metrics: None,
            objects: objs,
            error: None,
            retried_errors: vec![],
        }],
        committed: false,
    };
    sink.commit_session(&common::attempt(report.session_id), &report)
        .await
        .unwrap();
    let path = common::attempt_dir(dir.path(), session).join(format!("{session}.sigmf-collection"));
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    let streams = doc["collection"]["core:streams"].as_array().unwrap();
    assert_eq!(streams.len(), 1);
    assert_eq!(streams[0]["name"], "rx1");
    use sha2::Digest;
    let meta = std::fs::read(path.with_file_name("rx1.sigmf-meta")).unwrap();
    assert_eq!(streams[0]["hash"], hex::encode(sha2::Sha512::digest(&meta)));
    let manifest = sink.read_session_manifest(session).await.unwrap();
    assert!(manifest.objects.iter().any(|o| o.key.ends_with(".sigmf-collection")));
    // sigmf-python loads the collection (checking every stream's hash) and reads the recording
    // through it.
    if let Some(python) = common::tool("HEIMDALL_PYTHON", "python", "sigmf collection read-back") {
        let script = r#"
import sys, warnings, numpy as np, sigmf
warnings.simplefilter("error")
# (Not the schema-collection.json sigmf ships: it only knows the [name, hash] tuples that the
# spec deprecates, while sigmf-python itself reads the recommended {name, hash} objects.)
c = sigmf.fromfile(sys.argv[1])
assert type(c).__name__ == "SigMFCollection", type(c)
c.verify_stream_hashes()
assert c.get_stream_names() == ["rx1"], c.get_stream_names()
x = c.get_SigMFFile(stream_name="rx1").read_samples()
k = np.arange(100, dtype=np.float32)
assert np.array_equal(x, (k - 1j * k).astype(np.complex64)), x[:4]
print("collection ok", len(x))
"#;
        common::run_python(&python, "sigmf collection", script, &path);
    }
}
