//! The conformance suite of [`IqSink`] and [`IqArchive`] backends.

use futures::StreamExt;

use crate::capture::{CaptureChunk, SampleBlock, SampleFormat, TimeSource};
use crate::error::Error;
use crate::ids::{ReceiverId, SessionId};
use crate::sink::{IqArchive, IqSink};

use super::fixtures::{
    assert_samples_eq, test_capture_info, test_chunks, test_report, test_samples, test_summary, write_capture,
};

/// The [`IqSink`] + [`IqArchive`] contract: round trip, commit marker, idempotent commit,
/// abort leaves nothing, sample-count guard, real-valued captures, concurrent writers, and the
/// exactly-once rules: a committed session refuses a new attempt before anything is written,
/// two overlapping attempts commit at most once, and the loser's objects never touch the
/// winner's.
pub async fn sink_conformance(sink: &dyn IqSink, archive: &dyn IqArchive) {
    sink.health().await.expect("health of a working sink");

    // Round trip of three concurrent captures (two IQ, one audio) in one session.
    let session = SessionId::new();
    let attempt = sink.begin_session(session).await.expect("begin_session");
    assert_eq!(attempt.session, session);
    let (a, b, c) = tokio::join!(
        write_capture(sink, &attempt, "rx-a", SampleFormat::ComplexF32, 5000),
        write_capture(sink, &attempt, "rx-b", SampleFormat::ComplexF32, 1),
        write_capture(sink, &attempt, "rx-c", SampleFormat::RealF32, 4097),
    );
    let before = archive.list_sessions(None, None).await.expect("list_sessions");
    assert!(!before.contains(&session), "an uncommitted session must not be listed");
    let report = test_report(session, vec![a.0.clone(), b.0.clone(), c.0.clone()]);
    let manifest = sink.commit_session(&attempt, &report).await.expect("commit_session");
    assert!(manifest.key.contains(&session.to_string()));
    let listed = archive.list_sessions(None, None).await.expect("list_sessions");
    assert!(listed.contains(&session), "a committed session must be listed");
    let read = archive.read_manifest(session).await.expect("read_manifest");
    assert_eq!(read.session_id, session);
    assert!(read.committed, "a manifest read back is a committed report");
    assert_eq!(read.receivers.len(), 3);
    for (got, want) in read.receivers.iter().zip(&report.receivers) {
        assert_eq!(got.receiver.id, want.receiver.id);
        assert_eq!(
            got.objects, want.objects,
            "manifest must list every object with size and checksum"
        );
        assert_eq!(got.metrics, want.metrics);
    }
    for (id, (_, samples)) in [("rx-a", &a), ("rx-b", &b), ("rx-c", &c)] {
        let cap = archive
            .read_capture(session, &ReceiverId::new(id).expect("id"))
            .await
            .expect("read_capture");
        assert_samples_eq(&cap.samples, samples);
        assert_eq!(cap.summary.samples, samples.len() as u64);
        assert_eq!(cap.summary.time_source, TimeSource::Gps);
        // Streamed, the same samples in order, and the same summary and metrics.
        let streamed = archive
            .stream_capture(session, &ReceiverId::new(id).expect("id"))
            .await
            .expect("stream_capture");
        assert_eq!(streamed.summary, cap.summary);
        assert_eq!(streamed.metrics, cap.metrics);
        let blocks: Vec<SampleBlock> = streamed
            .samples
            .map(|b| b.expect("stream_capture block"))
            .collect()
            .await;
        assert!(
            blocks.iter().all(|b| b.format() == samples.format()),
            "stream_capture changed the sample format"
        );
        let joined: Vec<u8> = blocks.iter().flat_map(|b| b.as_le_bytes().into_owned()).collect();
        assert!(
            joined == *samples.as_le_bytes(),
            "streamed samples differ from the written ones"
        );
    }
    let objects = archive.list_objects(session).await.expect("list_objects");
    for r in &report.receivers {
        for o in &r.objects {
            assert!(objects.contains(&o.key), "{} missing from list_objects", o.key);
        }
    }
    assert!(objects.contains(&manifest.key), "manifest missing from list_objects");
    match archive
        .read_capture(session, &ReceiverId::new("rx-unknown").expect("id"))
        .await
    {
        Err(Error::NotFound { .. }) => {}
        other => panic!("read_capture of an unknown receiver must be NotFound, got {other:?}"),
    }

    // Committing again is a clear AlreadyExists, not an overwrite.
    match sink.commit_session(&attempt, &report).await {
        Err(Error::AlreadyExists { .. }) => {}
        other => panic!("second commit must be AlreadyExists, got {other:?}"),
    }
    // A new attempt at a committed session fails before writing anything, and the committed
    // attempt's objects cannot be aborted.
    let objects_before = archive.list_objects(session).await.expect("list_objects");
    match sink.begin_session(session).await {
        Err(Error::AlreadyExists { .. }) => {}
        other => panic!("begin_session of a committed session must be AlreadyExists, got {other:?}"),
    }
    assert!(
        sink.abort_session(&attempt).await.is_err(),
        "abort_session of the committed attempt must be refused"
    );
    assert_eq!(
        archive.list_objects(session).await.expect("list_objects"),
        objects_before,
        "a refused attempt changed a committed session"
    );
    assert_eq!(
        archive
            .read_manifest(session)
            .await
            .expect("manifest still there")
            .receivers
            .len(),
        3
    );

    // Two overlapping attempts of one session: both write the same receiver, the first to
    // commit wins, the second's commit is AlreadyExists, and what the manifest lists is the
    // winner's bytes, intact after the loser aborts.
    let s5 = SessionId::new();
    let first = sink.begin_session(s5).await.expect("begin_session (first)");
    let second = sink
        .begin_session(s5)
        .await
        .expect("begin_session (second, overlapping)");
    assert_ne!(first.attempt, second.attempt, "two attempts share a token");
    let (w1, w2) = tokio::join!(
        write_capture(sink, &first, "rx-a", SampleFormat::ComplexF32, 3000),
        write_capture(sink, &second, "rx-a", SampleFormat::ComplexF32, 2000),
    );
    for (o1, o2) in w1.0.objects.iter().zip(&w2.0.objects) {
        assert_ne!(o1.key, o2.key, "two attempts wrote the same key");
    }
    sink.commit_session(&first, &test_report(s5, vec![w1.0.clone()]))
        .await
        .expect("commit of the first attempt");
    match sink.commit_session(&second, &test_report(s5, vec![w2.0.clone()])).await {
        Err(Error::AlreadyExists { .. }) => {}
        other => panic!("the second attempt's commit must be AlreadyExists, got {other:?}"),
    }
    sink.abort_session(&second).await.expect("abort of the losing attempt");
    let won = archive
        .read_capture(s5, &ReceiverId::new("rx-a").expect("id"))
        .await
        .expect("read_capture of the winner");
    assert_samples_eq(&won.samples, &w1.1);
    let left = archive.list_objects(s5).await.expect("list_objects");
    assert!(
        !left.iter().any(|k| k.contains(second.attempt.as_str())),
        "the losing attempt left objects: {left:?}"
    );

    // An aborted writer leaves nothing; abort_session removes finished captures too.
    let s2 = SessionId::new();
    let a2 = sink.begin_session(s2).await.expect("begin_session");
    let info = test_capture_info("rx-abort", SampleFormat::ComplexF32, 3000);
    let mut w = sink.begin_capture(&a2, &info).await.expect("begin_capture");
    for ch in test_chunks(&test_samples(SampleFormat::ComplexF32, 3000, 7))
        .into_iter()
        .take(3)
    {
        w.write(ch).await.expect("write");
    }
    w.abort().await.expect("abort");
    assert!(
        archive.list_objects(s2).await.expect("list").is_empty(),
        "aborted writer left objects behind"
    );
    let _ = write_capture(sink, &a2, "rx-kept", SampleFormat::ComplexF32, 100).await;
    assert!(!archive.list_objects(s2).await.expect("list").is_empty());
    sink.abort_session(&a2).await.expect("abort_session");
    assert!(
        archive.list_objects(s2).await.expect("list").is_empty(),
        "abort_session left objects behind"
    );
    assert!(!archive.list_sessions(None, None).await.expect("list").contains(&s2));

    // A writer whose sample count does not match the header refuses to finish and leaves nothing.
    let s3 = SessionId::new();
    let a3 = sink.begin_session(s3).await.expect("begin_session");
    let info = test_capture_info("rx-short", SampleFormat::ComplexF32, 1000);
    let mut w = sink.begin_capture(&a3, &info).await.expect("begin_capture");
    w.write(CaptureChunk::Samples(test_samples(SampleFormat::ComplexF32, 999, 1)))
        .await
        .expect("write");
    let summary = test_summary(&info, 999);
    assert!(
        w.finish(&summary, None).await.is_err(),
        "finish with 999 of 1000 samples must fail"
    );
    sink.abort_session(&a3).await.expect("abort_session");
    assert!(archive.list_objects(s3).await.expect("list").is_empty());

    // A block of the wrong format is refused.
    let s4 = SessionId::new();
    let a4 = sink.begin_session(s4).await.expect("begin_session");
    let info = test_capture_info("rx-fmt", SampleFormat::ComplexF32, 10);
    let mut w = sink.begin_capture(&a4, &info).await.expect("begin_capture");
    assert!(
        w.write(CaptureChunk::Samples(test_samples(SampleFormat::RealF32, 10, 1)))
            .await
            .is_err(),
        "a real block in a complex capture must be refused"
    );
    let _ = w.abort().await;
    sink.abort_session(&a4).await.expect("abort_session");
}
