//! `localization.json` on memory, local disk and the S3 test server: written once after the
//! commit (create-only), read back verified, refused a second time, kept by the garbage
//! collector, and damage reported as a typed error.
#![allow(clippy::print_stderr)] // tests report skips on stderr

mod common;

use std::time::Duration;

use heimdall_core::testkit::{test_capture_info, test_localization_result, test_recorded, test_samples, test_summary};
use heimdall_core::{
    AcquisitionRequest, CaptureChunk, Error, IqArchive, IqSink, SampleFormat, SessionId, SessionReport, SessionStatus,
};
use heimdall_storage::localization::{LOCALIZATION_FORMAT, LOCALIZATION_FORMAT_VERSION, canonical_json};
use heimdall_storage::object_store::{ObjectStoreExt, PutPayload};
use heimdall_storage::{ArchiveFormat, ArchiveSink, GcOptions, LOCALIZATION};

async fn committed(sink: &ArchiveSink) -> SessionId {
    let session = SessionId::new();
    let attempt = sink.begin_session(session).await.unwrap();
    let info = test_capture_info("rx-a", SampleFormat::ComplexF32, 500);
    let mut w = sink.begin_capture(&attempt, &info).await.unwrap();
    w.write(CaptureChunk::Samples(test_samples(SampleFormat::ComplexF32, 500, 1)))
        .await
        .unwrap();
    let objects = w.finish(&test_summary(&info, 500), None).await.unwrap();
    let mut r = SessionReport::queued(
        session,
        AcquisitionRequest::new(145.5e6, Duration::from_secs(1)),
        chrono::Utc::now(),
    );
    r.status = SessionStatus::Success;
    r.receivers = vec![test_recorded(&info, 500, objects)];
    sink.commit_session(&attempt, &r).await.unwrap();
    session
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn localization_is_written_once_after_the_commit_and_read_back_verified() {
    for b in common::backends("localization", ArchiveFormat::Npy) {
        let sink = &b.sink;
        let name = b.name;
        let result = test_localization_result(44.93125, 8.2071);

        // Not before the commit.
        let pending = SessionId::new();
        let attempt = sink.begin_session(pending).await.unwrap();
        match sink.write_localization(pending, &result).await {
            Err(Error::NotFound { key, .. }) => assert!(key.ends_with("manifest.json"), "{name}: {key}"),
            other => panic!("{name}: an uncommitted session must refuse a localization, got {other:?}"),
        }
        sink.abort_session(&attempt).await.unwrap();
        assert!(matches!(
            sink.write_localization(pending, &serde_json::json!([1, 2])).await,
            Err(Error::InvalidInput { .. })
        ));

        let session = committed(sink).await;
        assert_eq!(sink.read_localization(session).await.unwrap(), None, "{name}");
        let manifest_before = sink.read_session_manifest(session).await.unwrap();
        let (doc, stored) = sink.write_localization(session, &result).await.unwrap();
        assert!(
            stored.key.ends_with(&format!("sessions/{session}/{LOCALIZATION}")),
            "{name}: {}",
            stored.key
        );
        assert_eq!(doc.format, LOCALIZATION_FORMAT);
        assert_eq!(doc.format_version, LOCALIZATION_FORMAT_VERSION);
        assert!(doc.writer.starts_with("heimdall "));
        assert_eq!(doc.result_sha256.len(), 64);

        // Read back whole and verified; the object is what was stored.
        let back = sink.read_localization(session).await.unwrap().expect("written");
        assert_eq!(back, doc, "{name}");
        assert_eq!(back.result, result);
        let raw = sink.get_bytes(&stored.key).await.unwrap();
        assert_eq!(raw.len() as u64, stored.size);

        // A second localization is refused and the first stays.
        let other = test_localization_result(45.0, 9.0);
        match sink.write_localization(session, &other).await {
            Err(Error::AlreadyExists { key, .. }) => assert_eq!(key, stored.key, "{name}"),
            other => panic!("{name}: a second localization must be AlreadyExists, got {other:?}"),
        }
        assert_eq!(sink.read_localization(session).await.unwrap().unwrap(), doc, "{name}");
        // The manifest never changes.
        assert_eq!(
            sink.read_session_manifest(session).await.unwrap(),
            manifest_before,
            "{name}"
        );
        assert!(sink.list_objects(session).await.unwrap().contains(&stored.key));

        // The garbage collector keeps it (grace zero, for real).
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let gc = sink
            .collect_garbage(&GcOptions {
                grace: Duration::ZERO,
                dry_run: false,
            })
            .await
            .unwrap();
        assert!(
            gc.items.iter().all(|i| !i.key.ends_with(LOCALIZATION)),
            "{name}: {:?}",
            gc.items
        );
        assert_eq!(
            sink.read_localization(session).await.unwrap().unwrap(),
            doc,
            "{name}: kept by gc"
        );

        // Damage at rest is a typed error naming the key: a changed result, a foreign session,
        // a truncated document.
        let path = heimdall_storage::object_store::path::Path::parse(&stored.key).unwrap();
        let damage = |bytes: Vec<u8>| {
            let store = sink.store().clone();
            let path = path.clone();
            async move { store.put(&path, PutPayload::from(bytes)).await.unwrap() }
        };
        let mut v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        v["result"]["latitude"] = serde_json::json!(44.93126);
        damage(serde_json::to_vec(&v).unwrap()).await;
        match sink.read_localization(session).await {
            Err(Error::Malformed { origin, reason, .. }) => {
                assert_eq!(origin, stored.key);
                assert!(reason.contains("checksum mismatch"), "{name}: {reason}");
            }
            other => panic!("{name}: a changed result must be Malformed, got {other:?}"),
        }
        let mut v: serde_json::Value = serde_json::from_slice(&raw).unwrap();
        v["session_id"] = serde_json::json!(SessionId::new());
        damage(serde_json::to_vec(&v).unwrap()).await;
        assert!(
            matches!(sink.read_localization(session).await, Err(Error::Malformed { reason, .. }) if reason.contains("for session"))
        );
        damage(raw[..raw.len() / 2].to_vec()).await;
        assert!(
            matches!(sink.read_localization(session).await, Err(Error::Malformed { reason, .. }) if reason.contains("not a localization document"))
        );
        // A checksum anyone can recompute: SHA-256 of the canonical result.
        use sha2::Digest;
        assert_eq!(
            doc.result_sha256,
            hex::encode(sha2::Sha256::digest(canonical_json(&result)))
        );
        eprintln!("localization on {name}: ok ({} bytes)", stored.size);
    }
}
