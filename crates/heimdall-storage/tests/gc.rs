//! Garbage collection on memory, local disk and the S3 test server: what crashed attempts leave
//! is found and removed; a committed session is never touched.
#![allow(clippy::print_stderr)] // tests report skips on stderr

mod common;

use std::time::Duration;

use heimdall_core::testkit::{test_capture_info, test_recorded, test_samples, test_summary};
use heimdall_core::{
    AcquisitionRequest, CaptureChunk, IqArchive, IqSink, SampleFormat, SessionAttempt, SessionId, SessionReport,
    SessionStatus,
};
use heimdall_storage::gc::GcKind;
use heimdall_storage::object_store::{MultipartUpload, ObjectStoreExt};
use heimdall_storage::{ArchiveFormat, ArchiveSink, GcOptions};

async fn write(sink: &ArchiveSink, attempt: &SessionAttempt, rx: &str, n: usize) -> heimdall_core::ReceiverReport {
    let info = test_capture_info(rx, SampleFormat::ComplexF32, n as u64);
    let mut w = sink.begin_capture(attempt, &info).await.unwrap();
    w.write(CaptureChunk::Samples(test_samples(SampleFormat::ComplexF32, n, 3)))
        .await
        .unwrap();
    let objects = w.finish(&test_summary(&info, n as u64), None).await.unwrap();
    test_recorded(&info, n as u64, objects)
}

fn report(session: SessionId, receivers: Vec<heimdall_core::ReceiverReport>) -> SessionReport {
    let mut r = SessionReport::queued(
        session,
        AcquisitionRequest::new(145.5e6, Duration::from_secs(1)),
        chrono::Utc::now(),
    );
    r.status = SessionStatus::Success;
    r.receivers = receivers;
    r
}

fn now_only() -> GcOptions {
    GcOptions {
        grace: Duration::ZERO,
        dry_run: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gc_removes_leftovers_and_never_a_committed_session() {
    for b in common::backends("gc", ArchiveFormat::Npy) {
        let sink = &b.sink;
        // A committed session, and an attempt of it that lost (crashed before its commit).
        let s1 = SessionId::new();
        let won = sink.begin_session(s1).await.unwrap();
        let rx = write(sink, &won, "rx-a", 1000).await;
        sink.commit_session(&won, &report(s1, vec![rx])).await.unwrap();
        let lost = SessionAttempt::new(s1);
        write(sink, &lost, "rx-a", 500).await;
        // A session that never committed.
        let s2 = SessionId::new();
        let crashed = sink.begin_session(s2).await.unwrap();
        write(sink, &crashed, "rx-b", 700).await;
        // What only a crash leaves: an incomplete multipart upload (S3), a staging file (disk).
        let upload_key = sink.session_dir(s2).join(crashed.attempt.as_str()).join("rx-c.npy");
        if b.name == "s3" {
            let mut up = sink.store().put_multipart(&upload_key).await.unwrap();
            up.put_part(vec![7u8; 5 * 1024 * 1024].into()).await.unwrap();
            std::mem::forget(up); // the process "died": nobody completes or aborts it
        }
        if let Some(dir) = &b.dir {
            let root = url::Url::parse(&sink.to_string()).unwrap().to_file_path().unwrap();
            let staging = root.join(format!("{upload_key}#1"));
            std::fs::create_dir_all(staging.parent().unwrap()).unwrap();
            std::fs::write(&staging, b"partial").unwrap();
            assert!(staging.starts_with(dir.path()));
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;

        // Within the grace period nothing is a leftover.
        let quiet = sink
            .collect_garbage(&GcOptions {
                grace: Duration::from_secs(3600),
                dry_run: true,
            })
            .await
            .unwrap();
        assert!(quiet.items.is_empty(), "{}: {:?}", b.name, quiet.items);

        let found = sink.collect_garbage(&now_only()).await.unwrap();
        assert!(found.dry_run);
        assert_eq!(found.committed_sessions, 1, "{}", b.name);
        let keys = |k: GcKind| -> Vec<String> {
            found
                .items
                .iter()
                .filter(|i| i.kind == k)
                .map(|i| i.key.clone())
                .collect()
        };
        assert!(!keys(GcKind::Superseded).is_empty(), "{}: {:?}", b.name, found.items);
        assert!(
            keys(GcKind::Superseded)
                .iter()
                .all(|k| k.contains(lost.attempt.as_str()))
        );
        assert!(!keys(GcKind::Uncommitted).is_empty());
        assert!(keys(GcKind::Uncommitted).iter().all(|k| k.contains(&s2.to_string())));
        assert!(
            found.items.iter().all(|i| !i.key.contains(won.attempt.as_str())),
            "{}: the committed attempt was listed: {:?}",
            b.name,
            found.items
        );
        match b.name {
            "s3" => assert_eq!(keys(GcKind::MultipartUpload), vec![upload_key.to_string()]),
            "local" => assert_eq!(keys(GcKind::StagingFile).len(), 1, "{:?}", found.items),
            _ => {}
        }
        // A dry run removed nothing.
        assert_eq!(sink.collect_garbage(&now_only()).await.unwrap().items, found.items);

        let removed = sink
            .collect_garbage(&GcOptions {
                grace: Duration::ZERO,
                dry_run: false,
            })
            .await
            .unwrap();
        assert_eq!(removed.items, found.items, "{}: removed what it listed", b.name);
        let after = sink.collect_garbage(&now_only()).await.unwrap();
        assert!(after.items.is_empty(), "{}: left {:?}", b.name, after.items);

        // The committed session is intact: listed, and every object verifies.
        assert_eq!(sink.list_sessions(None, None).await.unwrap(), vec![s1]);
        let back = sink.read_capture(s1, &"rx-a".parse().unwrap()).await.unwrap();
        assert_eq!(back.samples.len(), 1000);
        assert!(sink.list_objects(s2).await.unwrap().is_empty());
    }
}
