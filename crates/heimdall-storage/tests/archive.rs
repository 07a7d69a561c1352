//! Large (multipart) captures, abort mid-upload, listing by time, idempotent commit and
//! S3-compatible behaviours, on memory, local disk and the S3 test server.
#![allow(clippy::print_stderr)] // tests report skips and error texts on stderr

mod common;

use std::time::Duration;

use chrono::{TimeZone, Utc};
use heimdall_core::testkit::{test_capture_info, test_recorded, test_summary};
use heimdall_core::{
    CaptureChunk, Complex32, Error, IqArchive, IqSink, ReceiverReport, ReceiverStatus, SampleBlock, SampleFormat,
    SessionId, SessionReport, SessionStatus,
};
use heimdall_storage::object_store::path::Path;
use heimdall_storage::object_store::{ObjectStoreExt, PutMode, PutOptions};
use heimdall_storage::{ArchiveFormat, ArchiveSink, MIN_PART_SIZE};

fn block(start: usize, n: usize) -> SampleBlock {
    SampleBlock::Complex(
        (start..start + n)
            .map(|k| Complex32::new(k as f32, (k % 1013) as f32))
            .collect(),
    )
}

fn report(session: SessionId, receivers: Vec<ReceiverReport>) -> SessionReport {
    SessionReport {
        errors: Vec::new(),
        session_id: session,
        request: heimdall_core::AcquisitionRequest::new(145.5e6, Duration::from_secs(1)),
        status: SessionStatus::from_receivers(receivers.iter().map(|r| &r.status)),
        started_at: Utc::now(),
        finished_at: Utc::now(),
        receivers,
        committed: false,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn multipart_capture_round_trip() {
    // 12 MiB of IQ with 5 MiB parts: three parts per file, in both formats.
    let n: usize = 12 * 1024 * 1024 / 8 + 77;
    for b in common::backends_with("multipart", |b| {
        b.with_format(ArchiveFormat::Both)
            .with_part_size(MIN_PART_SIZE)
            .with_max_concurrency(2)
    }) {
        let session = SessionId::new();
        let info = test_capture_info("big", SampleFormat::ComplexF32, n as u64);
        let mut w = b.sink.begin_capture(&common::attempt(session), &info).await.unwrap();
        let step = 100_000;
        let mut k = 0;
        while k < n {
            let m = step.min(n - k);
            w.write(CaptureChunk::Samples(block(k, m))).await.unwrap();
            k += m;
        }
        let objects = w.finish(&test_summary(&info, n as u64), None).await.unwrap();
        let npy = objects.iter().find(|o| o.key.ends_with(".npy")).unwrap().clone();
        let meta = objects.iter().find(|o| o.key.ends_with(".sigmf-meta")).unwrap().clone();
        assert_eq!(npy.size, 128 + 8 * n as u64, "{}", b.name);
        // One copy of the samples: the SigMF recording points at the .npy.
        assert!(
            !objects.iter().any(|o| o.key.ends_with(".sigmf-data")),
            "{}: {objects:?}",
            b.name
        );
        let doc: serde_json::Value = serde_json::from_slice(&b.sink.get_bytes(&meta.key).await.unwrap()).unwrap();
        assert_eq!(doc["global"]["core:dataset"], "big.npy", "{}", b.name);
        assert_eq!(
            doc["global"]["heimdall:dataset_sha256"],
            npy.sha256.as_str(),
            "{}",
            b.name
        );
        assert_eq!(doc["captures"][0]["core:header_bytes"], 128, "{}", b.name);
        let rx = test_recorded(&info, n as u64, objects);
        b.sink
            .commit_session(&common::attempt(session), &report(session, vec![rx]))
            .await
            .unwrap();
        let back = b.sink.read_capture(session, &info.receiver.id).await.unwrap();
        assert!(back.samples == block(0, n), "{}: samples differ", b.name);
        let (objects, bytes) = b.sink.verify_session(session).await.unwrap();
        assert_eq!(
            objects, 4,
            "{}: .npy, _metadata.json, .sigmf-meta, .sigmf-collection",
            b.name
        );
        assert!(bytes > npy.size && bytes < npy.size + 64 * 1024, "{}: {bytes}", b.name);
    }
}

/// Sessions written before the samples were stored once keep a `.sigmf-data` copy next to the
/// `.npy` and a `.sigmf-meta` with `core:sha512`: reading, streaming and verifying them still works.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_with_a_sigmf_data_copy_still_read() {
    use futures::StreamExt;
    let n: usize = 300_000;
    for b in common::backends("two-copies", ArchiveFormat::Both) {
        // The old layout: what a `.npy` writer and a SigMF writer put in the same attempt.
        let npy_sink = ArchiveSink::new(
            b.sink.store().clone(),
            b.sink.prefix().clone(),
            ArchiveFormat::Npy,
            "test",
        );
        let sigmf_sink = ArchiveSink::new(
            b.sink.store().clone(),
            b.sink.prefix().clone(),
            ArchiveFormat::Sigmf,
            "test",
        );
        let session = SessionId::new();
        let attempt = common::attempt(session);
        let info = test_capture_info("old", SampleFormat::ComplexF32, n as u64);
        let mut objects = Vec::new();
        for sink in [&npy_sink, &sigmf_sink] {
            let mut w = sink.begin_capture(&attempt, &info).await.unwrap();
            w.write(CaptureChunk::Samples(block(0, n))).await.unwrap();
            objects.extend(w.finish(&test_summary(&info, n as u64), None).await.unwrap());
        }
        let names: Vec<&str> = objects.iter().map(|o| o.key.rsplit('/').next().unwrap()).collect();
        for want in ["old.npy", "old_metadata.json", "old.sigmf-data", "old.sigmf-meta"] {
            assert!(names.contains(&want), "{}: {names:?}", b.name);
        }
        let meta = objects.iter().find(|o| o.key.ends_with(".sigmf-meta")).unwrap();
        let doc: serde_json::Value = serde_json::from_slice(&b.sink.get_bytes(&meta.key).await.unwrap()).unwrap();
        assert_eq!(doc["global"]["core:sha512"].as_str().unwrap().len(), 128);
        let rx = test_recorded(&info, n as u64, objects.clone());
        b.sink
            .commit_session(&attempt, &report(session, vec![rx]))
            .await
            .unwrap();

        // Read by today's (both-format) sink.
        let back = b.sink.read_capture(session, &info.receiver.id).await.unwrap();
        assert!(back.samples == block(0, n), "{}: samples differ", b.name);
        let s = b.sink.stream_capture(session, &info.receiver.id).await.unwrap();
        let got = common::complex_samples(s.samples.map(|r| r.unwrap()).collect::<Vec<_>>().await);
        assert!(
            SampleBlock::Complex(got) == block(0, n),
            "{}: streamed samples differ",
            b.name
        );
        let (count, bytes) = b.sink.verify_session(session).await.unwrap();
        assert!(count >= 4, "{}: {count} objects verified", b.name);
        assert!(
            bytes > 2 * 8 * n as u64,
            "{}: both copies verified ({bytes} bytes)",
            b.name
        );

        // A session with only the .sigmf-data (a SigMF-only archive) reads from it.
        let session = SessionId::new();
        let attempt = common::attempt(session);
        let mut w = sigmf_sink.begin_capture(&attempt, &info).await.unwrap();
        w.write(CaptureChunk::Samples(block(0, n))).await.unwrap();
        let objects = w.finish(&test_summary(&info, n as u64), None).await.unwrap();
        let rx = test_recorded(&info, n as u64, objects);
        b.sink
            .commit_session(&attempt, &report(session, vec![rx]))
            .await
            .unwrap();
        let back = b.sink.read_capture(session, &info.receiver.id).await.unwrap();
        assert!(
            back.samples == block(0, n),
            "{}: samples of the .sigmf-data differ",
            b.name
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abort_during_multipart_leaves_nothing() {
    for b in common::backends_with("abort-mp", |b| {
        b.with_format(ArchiveFormat::Both).with_part_size(MIN_PART_SIZE)
    }) {
        let session = SessionId::new();
        let n = 4 * 1024 * 1024;
        let info = test_capture_info("rx", SampleFormat::ComplexF32, n as u64);
        let mut w = b.sink.begin_capture(&common::attempt(session), &info).await.unwrap();
        for i in 0..11 {
            w.write(CaptureChunk::Samples(block(i * 131_072, 131_072)))
                .await
                .unwrap();
        }
        w.abort().await.unwrap();
        assert!(b.sink.list_objects(session).await.unwrap().is_empty(), "{}", b.name);
        // Too many samples: refused at write, and nothing is left.
        let info = test_capture_info("rx2", SampleFormat::ComplexF32, 10);
        let mut w = b.sink.begin_capture(&common::attempt(session), &info).await.unwrap();
        w.write(CaptureChunk::Samples(block(0, 6))).await.unwrap();
        let e = w.write(CaptureChunk::Samples(block(6, 6))).await.unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
        assert!(w.abort().await.is_ok());
        assert!(b.sink.list_objects(session).await.unwrap().is_empty(), "{}", b.name);
    }
}

fn session_at(secs: i64) -> SessionId {
    let t = Utc.timestamp_opt(secs, 0).single().unwrap();
    let ts = uuid::Timestamp::from_unix(uuid::NoContext, t.timestamp() as u64, 0);
    SessionId::from_uuid(uuid::Uuid::new_v7(ts)).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_are_listed_newest_first_within_a_window() {
    for b in common::backends("list", ArchiveFormat::Npy) {
        let base = 1_795_000_000i64; // 2026-11
        let ids: Vec<SessionId> = (0..4).map(|i| session_at(base + i * 3600)).collect();
        for id in &ids[..3] {
            b.sink
                .commit_session(&common::attempt(*id), &report(*id, vec![]))
                .await
                .unwrap();
        }
        // ids[3] has objects but no manifest: not listed.
        let info = test_capture_info("rx", SampleFormat::ComplexF32, 1);
        let mut w = b.sink.begin_capture(&common::attempt(ids[3]), &info).await.unwrap();
        w.write(CaptureChunk::Samples(block(0, 1))).await.unwrap();
        w.finish(&test_summary(&info, 1), None).await.unwrap();

        let all = b.sink.list_sessions(None, None).await.unwrap();
        assert_eq!(all, vec![ids[2], ids[1], ids[0]], "{}", b.name);
        let t = |i: i64| Utc.timestamp_opt(base + i * 3600, 0).single().unwrap();
        assert_eq!(
            b.sink.list_sessions(Some(t(1)), None).await.unwrap(),
            vec![ids[2], ids[1]]
        );
        assert_eq!(b.sink.list_sessions(None, Some(t(1))).await.unwrap(), vec![ids[0]]);
        assert_eq!(
            b.sink.list_sessions(Some(t(1)), Some(t(2))).await.unwrap(),
            vec![ids[1]]
        );
        assert!(b.sink.list_sessions(Some(t(5)), None).await.unwrap().is_empty());
        // A committed session cannot be aborted; an uncommitted one can.
        assert!(b.sink.abort_session(&common::attempt(ids[0])).await.is_err());
        b.sink.abort_session(&common::attempt(ids[3])).await.unwrap();
        assert!(matches!(
            b.sink.read_manifest(ids[3]).await,
            Err(Error::NotFound { .. })
        ));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tampered_objects_fail_verification() {
    for b in common::backends("tamper", ArchiveFormat::Npy) {
        let session = SessionId::new();
        let info = test_capture_info("rx", SampleFormat::ComplexF32, 100);
        let mut w = b.sink.begin_capture(&common::attempt(session), &info).await.unwrap();
        w.write(CaptureChunk::Samples(block(0, 100))).await.unwrap();
        let objects = w.finish(&test_summary(&info, 100), None).await.unwrap();
        let npy = objects.iter().find(|o| o.key.ends_with(".npy")).unwrap().clone();
        let rx = test_recorded(&info, 100, objects);
        b.sink
            .commit_session(&common::attempt(session), &report(session, vec![rx]))
            .await
            .unwrap();
        let mut bytes = b.sink.get_bytes(&npy.key).await.unwrap().to_vec();
        bytes[200] ^= 1;
        b.sink
            .store()
            .put(&Path::parse(&npy.key).unwrap(), bytes.into())
            .await
            .unwrap();
        let e = b.sink.read_capture(session, &info.receiver.id).await.unwrap_err();
        assert!(matches!(e, Error::Malformed { .. }), "{}: {e:?}", b.name);
        assert!(e.to_string().contains("checksum"), "{e}");
        // Streamed (as the service serves downloads): the bytes flow, and the last item is the
        // mismatch, never a clean end.
        let stream = b.sink.get_verified_stream(&npy).await.unwrap();
        let items: Vec<_> = futures::StreamExt::collect(stream).await;
        assert!(items.len() >= 2, "{}", b.name);
        assert!(items[..items.len() - 1].iter().all(|i| i.is_ok()));
        let last = items.last().unwrap().as_ref().unwrap_err();
        assert!(last.to_string().contains("checksum"), "{}: {last}", b.name);
    }
}

#[tokio::test]
async fn commit_refuses_reports_naming_missing_objects() {
    for b in common::backends("badreport", ArchiveFormat::Npy) {
        let session = SessionId::new();
        let info = test_capture_info("rx", SampleFormat::ComplexF32, 1);
        let rx = ReceiverReport {
            receiver: info.receiver.clone(),
            status: ReceiverStatus::Recorded,
            attempts: 1,
            capture: None,
            metrics: None,
            objects: vec![heimdall_core::StoredObject {
                key: format!("{}/rx.npy", b.sink.session_dir(session)),
                size: 10,
                sha256: "0".repeat(64),
                content_type: "application/x-npy".into(),
            }],
            error: None,
            retried_errors: vec![],
        };
        let e = b
            .sink
            .commit_session(&common::attempt(session), &report(session, vec![rx]))
            .await
            .unwrap_err();
        assert!(matches!(e, Error::InvalidInput { .. }), "{e:?}");
        assert!(b.sink.list_sessions(None, None).await.unwrap().is_empty());
    }
}

/// S3-compatible behaviours the sink relies on, checked on the real server.
#[tokio::test]
async fn s3_server_behaviours() {
    let Some(base) = common::s3_base("s3_server_behaviours") else {
        return;
    };
    let sink: ArchiveSink =
        heimdall_storage::ArchiveBuilder::from_url(format!("{base}/{}", common::fresh_prefix("beh")))
            .build()
            .unwrap();
    let store = sink.store().clone();
    // Create-only puts: the second one must be refused.
    let p = sink.prefix().clone().join("create-only");
    let create = || PutOptions {
        mode: PutMode::Create,
        ..Default::default()
    };
    store.put_opts(&p, "a".into(), create()).await.unwrap();
    match store.put_opts(&p, "b".into(), create()).await {
        Err(heimdall_storage::object_store::Error::AlreadyExists { .. })
        | Err(heimdall_storage::object_store::Error::Precondition { .. }) => {}
        other => panic!("If-None-Match not enforced by this server: {other:?}"),
    }
    assert_eq!(store.get(&p).await.unwrap().bytes().await.unwrap().as_ref(), b"a");
    // Bulk delete (DeleteObjects) of many keys.
    let session = SessionId::new();
    for i in 0..30 {
        let k = sink
            .session_dir(session)
            .join(common::attempt(session).attempt.as_str())
            .join(format!("obj-{i}").as_str());
        store.put(&k, vec![0u8; 10].into()).await.unwrap();
    }
    assert_eq!(sink.list_objects(session).await.unwrap().len(), 30);
    sink.abort_session(&common::attempt(session)).await.unwrap();
    assert!(sink.list_objects(session).await.unwrap().is_empty());
    store.delete(&p).await.unwrap();
}

/// Begins a capture of `session` on `sink` and streams 1 Mi samples (8 MiB: several parts of
/// `MIN_PART_SIZE`) into it, leaving the writer open.
async fn streaming_writer(sink: &ArchiveSink, session: SessionId) -> Box<dyn heimdall_core::CaptureWriter> {
    let info = test_capture_info("rx", SampleFormat::ComplexF32, 2_000_000);
    let mut w = sink.begin_capture(&common::attempt(session), &info).await.unwrap();
    for i in 0..8 {
        w.write(CaptureChunk::Samples(block(i * 131_072, 131_072)))
            .await
            .unwrap();
    }
    w
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_writer_aborts_its_multipart_upload() {
    let (dir, sink) = common::local_sink(|b| b.with_part_size(MIN_PART_SIZE));
    let session = SessionId::new();
    let w = streaming_writer(&sink, session).await;
    let sdir = common::attempt_dir(dir.path(), session);
    assert!(sdir.exists(), "multipart staging files exist while streaming");
    drop(w);
    let files = || -> Vec<_> {
        std::fs::read_dir(&sdir)
            .map(|d| d.filter_map(|e| e.ok()).map(|e| e.file_name()).collect())
            .unwrap_or_default()
    };
    for _ in 0..50 {
        if files().is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("staging files left after dropping the writer: {:?}", files());
}

/// Multipart uploads still open on the S3 test server under `prefix` (via boto3).
fn open_multipart_uploads(python: &std::path::Path, bucket: &str, prefix: &str) -> usize {
    let script = r#"
import os, sys, boto3
s3 = boto3.client("s3", endpoint_url=os.environ["AWS_ENDPOINT"], region_name=os.environ.get("AWS_REGION", "us-east-1"))
r = s3.list_multipart_uploads(Bucket=sys.argv[1], Prefix=sys.argv[2])
print(len(r.get("Uploads", [])))
"#;
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(bucket)
        .arg(prefix)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().parse().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_or_aborted_writer_leaves_no_open_s3_multipart_upload() {
    let Some(base) = common::s3_base("dropped_writer_s3") else {
        return;
    };
    let Some(python) = common::tool("HEIMDALL_PYTHON", "python", "dropped_writer_s3") else {
        return;
    };
    let bucket = base.trim_start_matches("s3://").split('/').next().unwrap().to_owned();
    let prefix = common::fresh_prefix("dropmp");
    let sink = heimdall_storage::ArchiveBuilder::from_url(format!("s3://{bucket}/{prefix}"))
        .with_part_size(MIN_PART_SIZE)
        .build()
        .unwrap();
    for how in ["drop", "abort"] {
        let session = SessionId::new();
        let w = streaming_writer(&sink, session).await;
        assert!(
            open_multipart_uploads(&python, &bucket, &prefix) > 0,
            "{how}: no multipart upload started"
        );
        if how == "drop" {
            drop(w);
        } else {
            w.abort().await.unwrap();
        }
        let mut left = usize::MAX;
        for _ in 0..40 {
            left = open_multipart_uploads(&python, &bucket, &prefix);
            if left == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        assert_eq!(left, 0, "{how}: multipart uploads left open");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn captures_stream_back_in_bounded_blocks_and_damage_is_the_last_item() {
    use futures::StreamExt;
    // 3 MiB of IQ (+ an odd tail), archived as .npy (both) or raw .sigmf-data only.
    let n: usize = 3 * 1024 * 1024 / 8 + 77;
    for format in [ArchiveFormat::Both, ArchiveFormat::Sigmf] {
        for b in common::backends("stream", format) {
            let session = SessionId::new();
            let info = test_capture_info("big", SampleFormat::ComplexF32, n as u64);
            let mut w = b.sink.begin_capture(&common::attempt(session), &info).await.unwrap();
            w.write(CaptureChunk::Samples(block(0, n))).await.unwrap();
            let objects = w.finish(&test_summary(&info, n as u64), None).await.unwrap();
            let rx = test_recorded(&info, n as u64, objects.clone());
            b.sink
                .commit_session(&common::attempt(session), &report(session, vec![rx]))
                .await
                .unwrap();

            let s = b.sink.stream_capture(session, &info.receiver.id).await.unwrap();
            assert_eq!(s.summary.samples, n as u64);
            let blocks: Vec<SampleBlock> = s.samples.map(|r| r.unwrap()).collect().await;
            assert!(blocks.len() >= 12, "{} {format}: {} blocks", b.name, blocks.len());
            // Bounded: no block much above 256 KiB, whatever the store's chunking.
            assert!(
                blocks.iter().all(|x| x.len() * 8 <= 2 * 256 * 1024),
                "{} {format}",
                b.name
            );
            let all = common::complex_samples(blocks);
            assert!(
                SampleBlock::Complex(all) == block(0, n),
                "{} {format}: samples differ",
                b.name
            );

            // Flip one byte of the samples object: every earlier block may come, the last item
            // is the checksum error, and nothing follows it.
            let key = objects
                .iter()
                .find(|o| o.key.ends_with(".npy") || o.key.ends_with(".sigmf-data"))
                .unwrap()
                .key
                .clone();
            let mut bytes = b.sink.get_bytes(&key).await.unwrap().to_vec();
            let mid = bytes.len() / 2;
            bytes[mid] ^= 1;
            let path = Path::parse(&key).unwrap();
            b.sink.store().put(&path, bytes.clone().into()).await.unwrap();
            let read_all = || async {
                let s = b.sink.stream_capture(session, &info.receiver.id).await.unwrap();
                s.samples.collect::<Vec<_>>().await
            };
            let items = read_all().await;
            let (last, before) = items.split_last().unwrap();
            assert!(before.iter().all(Result::is_ok));
            let e = last.as_ref().unwrap_err();
            assert!(e.to_string().contains("checksum mismatch"), "{} {format}: {e}", b.name);
            // Truncated: a size error, not a short capture taken for whole.
            b.sink.store().put(&path, bytes[..mid].to_vec().into()).await.unwrap();
            let items = read_all().await;
            let e = items.last().unwrap().as_ref().unwrap_err();
            assert!(
                e.to_string().contains("differs from the manifest"),
                "{} {format}: {e}",
                b.name
            );
        }
    }
}

/// Archive throughput of one session, side by side in one run (alternated, 3 rounds): 7 captures
/// of 2 M complex samples (16 MB each) to local disk, concurrently, as `--format both` stored them
/// before (a `.npy` and a `.sigmf-data` copy: SHA-256 of each plus SHA-512 of the copy; emulated
/// with a `.npy` and a SigMF writer fed the same blocks), as `both` stores them now (one `.npy`,
/// SHA-256 once) and as `npy`. Prints seconds and bytes stored per session.
/// Run: `CARGO_PROFILE_DEV_OPT_LEVEL=2 cargo test -p heimdall-storage --test archive -- --ignored --nocapture archive_throughput`
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "benchmark: run explicitly"]
async fn archive_throughput_one_copy_vs_two() {
    const RECEIVERS: usize = 7;
    const SAMPLES: usize = 2_000_000;
    const CHUNK: usize = 32_768;
    let chunks: Vec<SampleBlock> = (0..SAMPLES.div_ceil(CHUNK))
        .map(|i| block(i * CHUNK, CHUNK.min(SAMPLES - i * CHUNK)))
        .collect();
    let chunks = std::sync::Arc::new(chunks);
    let mut rows: Vec<(&str, f64, u64)> = Vec::new();
    for round in 0..3 {
        let mut order = ["old both (2 copies)", "new both (1 copy)", "npy"];
        order.rotate_left(round);
        for cfg in order {
            let dir = tempfile::tempdir().unwrap();
            let sink = |f| {
                heimdall_storage::ArchiveBuilder::from_url(dir.path().to_str().unwrap())
                    .with_format(f)
                    .build()
                    .unwrap()
            };
            let sinks: Vec<ArchiveSink> = match cfg {
                "old both (2 copies)" => vec![sink(ArchiveFormat::Npy), sink(ArchiveFormat::Sigmf)],
                "new both (1 copy)" => vec![sink(ArchiveFormat::Both)],
                _ => vec![sink(ArchiveFormat::Npy)],
            };
            let session = SessionId::new();
            let t = std::time::Instant::now();
            let tasks: Vec<_> = (0..RECEIVERS)
                .map(|r| {
                    let sinks = sinks.clone();
                    let chunks = chunks.clone();
                    tokio::spawn(async move {
                        let info = test_capture_info(&format!("rx{r}"), SampleFormat::ComplexF32, SAMPLES as u64);
                        let attempt = common::attempt(session);
                        let mut ws = Vec::new();
                        for s in &sinks {
                            ws.push(s.begin_capture(&attempt, &info).await.unwrap());
                        }
                        for c in chunks.iter() {
                            futures::future::try_join_all(
                                ws.iter_mut().map(|w| w.write(CaptureChunk::Samples(c.clone()))),
                            )
                            .await
                            .unwrap();
                        }
                        let summary = test_summary(&info, SAMPLES as u64);
                        let mut objects = Vec::new();
                        for w in ws {
                            objects.extend(w.finish(&summary, None).await.unwrap());
                        }
                        objects
                    })
                })
                .collect();
            let mut bytes = 0;
            for t in tasks {
                bytes += t.await.unwrap().iter().map(|o| o.size).sum::<u64>();
            }
            let secs = t.elapsed().as_secs_f64();
            eprintln!(
                "round {round}: {cfg:<20} {secs:6.3} s  {:7.1} MiB stored",
                bytes as f64 / 1048576.0
            );
            rows.push((cfg, secs, bytes));
        }
    }
    for cfg in ["old both (2 copies)", "new both (1 copy)", "npy"] {
        let mut t: Vec<f64> = rows.iter().filter(|r| r.0 == cfg).map(|r| r.1).collect();
        t.sort_by(f64::total_cmp);
        let bytes = rows.iter().find(|r| r.0 == cfg).unwrap().2;
        eprintln!(
            "{cfg:<20} median {:.3} s (min {:.3}, max {:.3}), {:.1} MiB per session, {:.0} MB/s of samples",
            t[1],
            t[0],
            t[2],
            bytes as f64 / 1048576.0,
            (RECEIVERS * SAMPLES * 8) as f64 / t[1] / 1e6
        );
    }
}
