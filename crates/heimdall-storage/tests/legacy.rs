//! The layout of the Python service Heimdall replaces (FastAPI + Celery, boto3, SQLAlchemy),
//! written next to committed sessions (read back by numpy, json and
//! boto3 the way the old readers did), and its bucket handling: created only on request
//! (`ensure_bucket`), on the S3 test server (SeaweedFS).

#![allow(clippy::print_stderr)] // the shared helpers report skips on stderr

mod common;

use std::process::Command;

use heimdall_core::testkit::{test_capture_info, test_metrics, test_recorded, test_summary};
use heimdall_core::{
    AcquisitionRequest, CaptureChunk, Complex32, Error, IqArchive, IqSink, IqSinkExt, SampleBlock, SessionId,
    SessionReport, SessionStatus,
};
use heimdall_storage::legacy::{WebsdrMap, write_legacy_layout};
use heimdall_storage::{ArchiveBuilder, ArchiveFormat, MIN_PART_SIZE};
use object_store::ObjectStore;
use object_store::signer::Signer;

/// Reads the old layout as the old Python (FastAPI/Celery) service's readers did: np.load of websdr_{n}.npy, json.load
/// of websdr_{n}_metadata.json, and on S3 the objects' user metadata (boto3 head_object).
const OLD_READER: &str = r#"
import io, json, os, sys, datetime
import numpy as np
where, session, expect = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
if where.startswith("s3://"):
    import boto3
    bucket, _, prefix = where[5:].partition("/")
    s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT"], region_name=os.environ.get("AWS_REGION", "us-east-1"))
    def get(name):
        o = s3.get_object(Bucket=bucket, Key=f"{prefix}/sessions/{session}/{name}")
        return o["Body"].read(), o["Metadata"]
else:
    def get(name):
        return open(os.path.join(where, "sessions", session, name), "rb").read(), None
for n, want in expect.items():
    body, md = get(f"websdr_{n}.npy")
    x = np.load(io.BytesIO(body))
    assert x.dtype == np.complex64 and x.shape == (want["samples"],), (x.dtype, x.shape)
    assert x[1] == np.complex64(want["x1"][0] + 1j * want["x1"][1]), x[1]
    if md is not None:
        assert md == {"websdr_id": n, "task_id": session, "data_type": "iq_complex64",
                      "samples_count": str(want["samples"])}, md
    body, md = get(f"websdr_{n}_metadata.json")
    meta = json.loads(body)
    assert meta["websdr_id"] == int(n) and meta["samples_count"] == want["samples"], meta
    assert meta["frequency_mhz"] == want["frequency_mhz"] and meta["sample_rate_khz"] == want["sample_rate_khz"], meta
    datetime.datetime.fromisoformat(meta["timestamp_utc"])
    assert set(meta["metrics"]) == {"snr_db", "psd_dbm", "frequency_offset_hz", "signal_power_dbm", "noise_power_dbm"}, meta
    assert meta["metrics"]["snr_db"] == want["snr_db"], meta
    if md is not None:
        assert md == {"websdr_id": n, "task_id": session, "data_type": "metadata"}, md
print("ok")
"#;

#[tokio::test(flavor = "multi_thread")]
async fn old_layout_next_to_a_committed_session() {
    let test = "old_layout_next_to_a_committed_session";
    let python = common::tool("HEIMDALL_PYTHON", "python", test);
    let backends = common::backends_with(test, |b| {
        b.with_format(ArchiveFormat::Npy).with_part_size(MIN_PART_SIZE)
    });
    for be in &backends {
        let sink = &be.sink;
        let session = SessionId::new();
        // rx-a is large enough for a multipart copy (5.6 MB > one 5 MiB part).
        let mut receivers = Vec::new();
        let mut expect = serde_json::Map::new();
        for (id, n, websdr) in [("rx-a", 700_000usize, "1"), ("rx-b", 1000, "5")] {
            let x: Vec<Complex32> = (0..n).map(|k| Complex32::new(k as f32, -(k as f32) * 0.5)).collect();
            let block = SampleBlock::Complex(x);
            let info = test_capture_info(id, block.format(), n as u64);
            let summary = test_summary(&info, n as u64);
            let metrics = test_metrics(n as u64, Some(12.5));
            let chunks: Vec<CaptureChunk> = match &block {
                SampleBlock::Complex(v) => v
                    .chunks(65536)
                    .map(|c| CaptureChunk::Samples(SampleBlock::Complex(c.to_vec())))
                    .collect(),
                SampleBlock::Real(_) => unreachable!(),
            };
            let objects = sink
                .store_capture(&common::attempt(session), &summary, Some(&metrics), chunks)
                .await
                .unwrap();
            let mut r = test_recorded(&info, n as u64, objects);
            r.metrics = Some(metrics);
            receivers.push(r);
            expect.insert(
                websdr.into(),
                serde_json::json!({
                    "samples": n, "x1": [1.0, -0.5], "snr_db": 12.5,
                    "frequency_mhz": info.target_frequency_hz / 1e6,
                    "sample_rate_khz": info.sample_rate_hz / 1e3,
                }),
            );
        }
        let now = chrono::Utc::now();
        let report = SessionReport {
            session_id: session,
            request: AcquisitionRequest::new(7.1e6, std::time::Duration::from_secs(1)),
            status: SessionStatus::Success,
            started_at: now,
            finished_at: now,
            receivers,
            errors: vec![],
            committed: false,
        };
        sink.commit_session(&common::attempt(session), &report).await.unwrap();
        let manifest_before = sink.read_session_manifest(session).await.unwrap();

        let mut map = WebsdrMap::new();
        map.insert(5, report.receivers[1].receiver.clone());
        let written = write_legacy_layout(sink, &report, &map).await.unwrap();
        assert_eq!(written.len(), 4, "{}: {written:?}", be.name);
        // The copies are the committed bytes.
        let a_npy = &report.receivers[0]
            .objects
            .iter()
            .find(|o| o.key.ends_with(".npy"))
            .unwrap();
        assert_eq!(written[0].sha256, a_npy.sha256, "{}", be.name);
        assert_eq!(written[0].size, a_npy.size, "{}", be.name);
        assert!(written[0].key.ends_with(&format!("{session}/websdr_1.npy")));
        // Once only; the session itself is unchanged.
        let again = write_legacy_layout(sink, &report, &map).await.unwrap_err();
        assert!(matches!(again, Error::AlreadyExists { .. }), "{}: {again:?}", be.name);
        assert_eq!(sink.read_session_manifest(session).await.unwrap(), manifest_before);
        assert_eq!(sink.list_sessions(None, None).await.unwrap(), vec![session]);

        let Some(py) = &python else { continue };
        let where_ = match be.name {
            "local" => {
                let dir = be.dir.as_ref().unwrap().path();
                let url = sink.to_string();
                let path = url::Url::parse(&url).unwrap().to_file_path().unwrap();
                assert!(path.starts_with(dir));
                path.display().to_string()
            }
            "s3" => format!(
                "s3://{}",
                sink.to_string()
                    .split(" at ")
                    .next()
                    .unwrap()
                    .trim_start_matches("s3://")
            ),
            _ => continue,
        };
        let out = Command::new(py)
            .args([
                "-c",
                OLD_READER,
                &where_,
                &session.to_string(),
                &serde_json::Value::Object(expect.clone()).to_string(),
            ])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: old reader failed: {}{}",
            be.name,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

#[tokio::test]
async fn ensure_bucket_creates_a_missing_bucket_once() {
    let Some(base) = common::s3_base("ensure_bucket_creates_a_missing_bucket_once") else {
        return;
    };
    assert!(base.starts_with("s3://"));
    let bucket = format!("heimdall-legacy-{}", &uuid::Uuid::new_v4().simple().to_string()[..12]);
    let url = format!("s3://{bucket}/prefix");
    let builder = ArchiveBuilder::from_url(&url);
    let sink = builder.clone().build().unwrap();
    let store = sink.store().clone();
    // Missing: listing fails.
    assert!(
        store.list_with_delimiter(None).await.is_err(),
        "{bucket} exists already"
    );
    assert!(builder.ensure_bucket().await.unwrap(), "created");
    assert!(!builder.ensure_bucket().await.unwrap(), "exists: not created twice");
    let listing = store.list_with_delimiter(None).await.unwrap();
    assert!(listing.objects.is_empty());
    // Non-S3 URLs have no bucket.
    assert!(!ArchiveBuilder::from_url("memory://").ensure_bucket().await.unwrap());

    // Clean up the (empty) bucket: a signed DELETE /{bucket}.
    let s3 = object_store::aws::AmazonS3Builder::from_env()
        .with_bucket_name(&bucket)
        .build()
        .unwrap();
    let signed = s3
        .signed_url(
            reqwest::Method::DELETE,
            &object_store::path::Path::default(),
            std::time::Duration::from_secs(60),
        )
        .await
        .unwrap();
    let r = reqwest::Client::new()
        .delete(signed.as_str().trim_end_matches('/'))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success(), "delete bucket: {}", r.status());
}
