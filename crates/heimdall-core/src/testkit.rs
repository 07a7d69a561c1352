//! Conformance test-kit (feature `testkit`): every backend crate runs these against itself,
//! and the in-memory reference backends run them on every `cargo test`.
//!
//! Each function panics with a message naming the broken rule, like `assert!` does; call
//! them from `#[tokio::test(flavor = "multi_thread")]` tests.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use futures::StreamExt;
use num_complex::Complex32;
use tokio_util::sync::CancellationToken;

use crate::capture::{
    CaptureChunk, CaptureInfo, CaptureSummary, Gap, PowerUnit, RssiReading, SampleBlock, SampleFormat, TimeMark,
    TimeSource,
};
use crate::error::Error;
use crate::ids::{ReceiverId, SessionAttempt, SessionId};
use crate::metrics::SignalMetrics;
use crate::receiver::{GeoPosition, ReceiverInfo, ReceiverKind};
use crate::report::{Measurement, ReceiverReport, ReceiverStatus, SessionReport, SessionStatus};
use crate::request::{AcquisitionRequest, CaptureRequest};
use crate::sink::{IqArchive, IqSink};
use crate::source::ReceiverSource;
use crate::store::{MeasurementQuery, MetricQuery, MetricStore, ReceiverRegistry, TimeWindow, bucket_start};

/// A receiver description for tests.
pub fn test_receiver(id: &str) -> ReceiverInfo {
    ReceiverInfo::new(
        ReceiverId::new(id).expect("valid test id"),
        format!("Test receiver {id}"),
        ReceiverKind::Simulated,
        format!("sim://{id}"),
    )
    .with_position(GeoPosition {
        latitude: 45.0,
        longitude: 7.5,
        altitude_m: Some(250.0),
    })
}

/// A capture header for tests.
pub fn test_capture_info(id: &str, format: SampleFormat, samples: u64) -> CaptureInfo {
    CaptureInfo {
        receiver: test_receiver(id),
        format,
        sample_rate_hz: 12_000.0,
        center_frequency_hz: 145_500_000.0,
        target_frequency_hz: 145_500_000.0,
        expected_samples: Some(samples),
        extra: Default::default(),
    }
}

/// Deterministic test samples (a ramp plus a tone), `n` of them.
pub fn test_samples(format: SampleFormat, n: usize, seed: u32) -> SampleBlock {
    let s = seed as f32 * 0.001;
    match format {
        SampleFormat::ComplexF32 => SampleBlock::Complex(
            (0..n)
                .map(|i| Complex32::from_polar(0.5, i as f32 * 0.1 + s) + Complex32::new(i as f32 * 1e-6, -s))
                .collect(),
        ),
        SampleFormat::RealF32 => SampleBlock::Real((0..n).map(|i| (i as f32 * 0.05 + s).sin() * 0.5).collect()),
    }
}

fn split(block: &SampleBlock, parts: usize) -> Vec<SampleBlock> {
    let n = block.len();
    let step = n.div_ceil(parts.max(1)).max(1);
    match block {
        SampleBlock::Complex(v) => v.chunks(step).map(|c| SampleBlock::Complex(c.to_vec())).collect(),
        SampleBlock::Real(v) => v.chunks(step).map(|c| SampleBlock::Real(c.to_vec())).collect(),
    }
}

/// Test metrics.
pub fn test_metrics(samples: u64, snr: Option<f64>) -> SignalMetrics {
    SignalMetrics {
        samples,
        sample_rate_hz: 12_000.0,
        snr_db: snr,
        frequency_offset_hz: snr.map(|_| 12.5),
        peak_frequency_hz: snr.map(|_| 12.5),
        signal_power_dbfs: snr.map(|s| s - 40.0),
        noise_power_dbfs: Some(-40.0),
        noise_floor_dbfs_per_hz: Some(-80.79),
        total_power_dbfs: Some(-20.0),
        dc_power_dbfs: None,
        clipped_fraction: 0.0,
        signal_power_dbm: None,
    }
}

fn start_time() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 28, 12, 0, 0)
        .single()
        .expect("valid date")
        + chrono::Duration::microseconds(123_456)
}

/// The chunks of a test capture: a time mark, samples in several blocks, RSSI and a gap.
pub fn test_chunks(samples: &SampleBlock) -> Vec<CaptureChunk> {
    let mut v = vec![CaptureChunk::Time(TimeMark {
        sample_index: 0,
        time: start_time(),
        source: TimeSource::Gps,
    })];
    let blocks = split(samples, 3);
    let mut idx = 0u64;
    for (i, b) in blocks.into_iter().enumerate() {
        if i == 1 {
            v.push(CaptureChunk::Gap(Gap {
                sample_index: idx,
                missing_samples: 512,
            }));
        }
        v.push(CaptureChunk::Rssi(RssiReading {
            sample_index: idx,
            value: -93.5,
            unit: PowerUnit::Dbm,
        }));
        idx += b.len() as u64;
        v.push(CaptureChunk::Samples(b));
    }
    v
}

/// The summary matching [`test_chunks`].
pub fn test_summary(info: &CaptureInfo, samples: u64) -> CaptureSummary {
    CaptureSummary {
        info: info.clone(),
        samples,
        start_time: start_time(),
        time_source: TimeSource::Gps,
        start_skew_s: None,
        time_marks: vec![TimeMark {
            sample_index: 0,
            time: start_time(),
            source: TimeSource::Gps,
        }],
        gaps: vec![Gap {
            sample_index: samples / 3,
            missing_samples: 512,
        }],
        rssi: Some(crate::capture::RssiSummary {
            unit: PowerUnit::Dbm,
            count: 3,
            mean: -93.5,
            min: -93.5,
            max: -93.5,
        }),
        spectra: 0,
    }
}

async fn write_capture(
    sink: &dyn IqSink,
    attempt: &SessionAttempt,
    id: &str,
    format: SampleFormat,
    n: usize,
) -> (ReceiverReport, SampleBlock) {
    let info = test_capture_info(id, format, n as u64);
    let samples = test_samples(format, n, n as u32);
    let session = attempt.session;
    let mut w = sink.begin_capture(attempt, &info).await.expect("begin_capture");
    for c in test_chunks(&samples) {
        w.write(c).await.expect("write chunk");
    }
    let summary = test_summary(&info, n as u64);
    let metrics = test_metrics(n as u64, Some(10.0));
    let objects = w.finish(&summary, Some(&metrics)).await.expect("finish");
    assert!(!objects.is_empty(), "finish must return the objects written");
    for o in &objects {
        assert!(
            o.key.contains(&session.to_string()) && o.key.contains(attempt.attempt.as_str()),
            "object key {} must be under the session and scoped by the attempt",
            o.key
        );
        assert_eq!(o.sha256.len(), 64, "sha256 of {} must be 64 hex chars", o.key);
        assert!(
            o.sha256
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
        assert!(o.size > 0, "object {} is empty", o.key);
    }
    let report = ReceiverReport {
        receiver: info.receiver.clone(),
        status: ReceiverStatus::Recorded,
        attempts: 1,
        capture: Some(summary),
        metrics: Some(metrics),
        objects,
        error: None,
        retried_errors: vec![],
    };
    (report, samples)
}

fn test_report(session: SessionId, receivers: Vec<ReceiverReport>) -> SessionReport {
    let status = SessionStatus::from_receivers(receivers.iter().map(|r| &r.status));
    SessionReport {
        errors: Vec::new(),
        session_id: session,
        request: AcquisitionRequest::new(145.5e6, Duration::from_secs(1)),
        status,
        started_at: start_time(),
        finished_at: start_time() + chrono::Duration::seconds(2),
        receivers,
        committed: false,
    }
}

fn assert_samples_eq(a: &SampleBlock, b: &SampleBlock) {
    assert_eq!(a.len(), b.len(), "sample count differs after read-back");
    assert!(a == b, "samples differ after read-back");
}

/// The report of a receiver whose capture of `samples` samples (summary from
/// [`test_summary`]) was stored as `objects` and recorded, for committing test sessions.
pub fn test_recorded(info: &CaptureInfo, samples: u64, objects: Vec<crate::report::StoredObject>) -> ReceiverReport {
    ReceiverReport {
        receiver: info.receiver.clone(),
        status: ReceiverStatus::Recorded,
        attempts: 1,
        capture: Some(test_summary(info, samples)),
        metrics: None,
        objects,
        error: None,
        retried_errors: vec![],
    }
}

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

/// The [`MetricStore`] + [`MetricQuery`] + [`ReceiverRegistry`] contract.
pub async fn metric_store_conformance(
    store: &dyn MetricStore,
    query: &dyn MetricQuery,
    registry: &dyn ReceiverRegistry,
) {
    store.health().await.expect("health of a working store");
    assert_eq!(store.record_measurements(&[]).await.expect("empty batch").inserted, 0);

    // 4 sessions x 3 receivers, one hour apart; receiver "m-c" has no SNR in session 0.
    let base = Utc.with_ymd_and_hms(2026, 11, 28, 8, 0, 0).single().expect("date");
    let receivers = ["m-a", "m-b", "m-c"];
    let mut rows = Vec::new();
    let mut sessions = Vec::new();
    for s in 0..4 {
        let session = SessionId::new();
        sessions.push(session);
        for (i, r) in receivers.iter().enumerate() {
            let snr = if s == 0 && *r == "m-c" {
                None
            } else {
                Some(3.0 * s as f64 + i as f64 + 0.25)
            };
            let mut m = test_measurement(session, r, base + chrono::Duration::minutes(60 * s + 7 * i as i64), snr);
            m.frequency_hz = 144e6 + 1e6 * s as f64;
            rows.push(m);
        }
    }
    let out = store.record_measurements(&rows).await.expect("record batch");
    assert_eq!(out.inserted, 12, "first write inserts every row");
    let out = store.record_measurements(&rows).await.expect("record batch again");
    assert_eq!(
        (out.inserted, out.duplicates),
        (0, 12),
        "a retried batch must insert nothing"
    );

    let all = query
        .measurements(&MeasurementQuery {
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .expect("query");
    assert_eq!(all.len(), 12);
    for w in all.windows(2) {
        assert!(
            w[0].captured_at >= w[1].captured_at,
            "measurements must be newest first"
        );
    }
    // Values round trip exactly.
    for want in &rows {
        let got = all
            .iter()
            .find(|m| m.session_id == want.session_id && m.receiver_id == want.receiver_id)
            .expect("row present");
        assert_eq!(
            got.captured_at, want.captured_at,
            "captured_at must round trip to the microsecond"
        );
        assert_eq!(got.metrics, want.metrics, "metrics must round trip");
        assert_eq!(got.time_source, want.time_source);
        assert_eq!(got.samples, want.samples);
        assert_eq!(got.sample_rate_hz, want.sample_rate_hz);
        assert_eq!(got.frequency_hz, want.frequency_hz);
        assert_eq!(got.rssi, want.rssi);
        assert_eq!(got.rssi_unit, want.rssi_unit);
        assert_eq!(got.object_keys, want.object_keys);
        assert_eq!(got.extra, want.extra);
    }
    let rid = ReceiverId::new("m-b").expect("id");
    let by_rx = query
        .measurements(&MeasurementQuery {
            receiver: Some(rid.clone()),
            ..Default::default()
        })
        .await
        .expect("query by receiver");
    assert_eq!(by_rx.len(), 4);
    assert!(by_rx.iter().all(|m| m.receiver_id == rid));
    let by_session = query
        .measurements(&MeasurementQuery {
            session: Some(sessions[2]),
            ..Default::default()
        })
        .await
        .expect("query");
    assert_eq!(by_session.len(), 3);
    let by_freq = query
        .measurements(&MeasurementQuery {
            frequency_min_hz: Some(145e6),
            frequency_max_hz: Some(146e6),
            ..Default::default()
        })
        .await
        .expect("query by frequency");
    assert_eq!(by_freq.len(), 6);
    let window = TimeWindow {
        since: Some(base + chrono::Duration::minutes(60)),
        until: Some(base + chrono::Duration::minutes(180)),
    };
    let by_time = query
        .measurements(&MeasurementQuery {
            since: window.since,
            until: window.until,
            ..Default::default()
        })
        .await
        .expect("query by time");
    assert_eq!(by_time.len(), 6);
    let limited = query
        .measurements(&MeasurementQuery {
            limit: Some(5),
            ..Default::default()
        })
        .await
        .expect("query");
    assert_eq!(limited.len(), 5);
    assert_eq!(limited[0].captured_at, all[0].captured_at);

    // SNR statistics agree with the reference computation.
    let stats = query.snr_stats(TimeWindow::default()).await.expect("snr_stats");
    assert_eq!(stats.len(), 3);
    for st in &stats {
        let mut v: Vec<f64> = rows
            .iter()
            .filter(|m| m.receiver_id == st.receiver_id)
            .filter_map(|m| m.metrics.snr_db)
            .collect();
        assert_eq!(st.count, v.len() as u64, "count of {}", st.receiver_id);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!((st.mean_db - mean).abs() < 1e-9, "mean of {}", st.receiver_id);
        assert!((st.min_db - v.iter().copied().fold(f64::INFINITY, f64::min)).abs() < 1e-9);
        assert!((st.max_db - v.iter().copied().fold(f64::NEG_INFINITY, f64::max)).abs() < 1e-9);
        if let Some(p50) = st.p50_db {
            let med = crate::memory::median(&mut v).expect("non-empty");
            assert!((p50 - med).abs() < 1e-9, "p50 of {}: {p50} vs {med}", st.receiver_id);
        }
    }
    let windowed = query.snr_stats(window).await.expect("snr_stats window");
    assert!(
        windowed.iter().all(|s| s.count == 2),
        "window must restrict the rows: {windowed:?}"
    );

    // Hourly buckets.
    let hour = Duration::from_secs(3600);
    let buckets = query
        .time_buckets(hour, TimeWindow::default(), None)
        .await
        .expect("time_buckets");
    assert_eq!(buckets.len(), 12, "4 hours x 3 receivers");
    for b in &buckets {
        assert_eq!(
            b.bucket_start,
            bucket_start(b.bucket_start, hour),
            "buckets must be aligned"
        );
        assert_eq!(b.count, 1);
    }
    for w in buckets.windows(2) {
        assert!(
            (w[0].bucket_start, &w[0].receiver_id) < (w[1].bucket_start, &w[1].receiver_id),
            "bucket order"
        );
    }
    let one = query
        .time_buckets(Duration::from_secs(4 * 3600), TimeWindow::default(), Some(&rid))
        .await
        .expect("buckets");
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].count, 4);
    let want_mean = rows
        .iter()
        .filter(|m| m.receiver_id == rid)
        .filter_map(|m| m.metrics.snr_db)
        .sum::<f64>()
        / 4.0;
    assert!((one[0].mean_snr_db.expect("mean") - want_mean).abs() < 1e-9);

    // Sessions.
    let rep = SessionReport {
        errors: Vec::new(),
        session_id: sessions[0],
        request: AcquisitionRequest::new(145.5e6, Duration::from_secs(10)),
        status: SessionStatus::Partial,
        started_at: base,
        finished_at: base + chrono::Duration::seconds(11),
        receivers: vec![],
        committed: false,
    };
    store.record_session(&rep).await.expect("record_session");
    store.record_session(&rep).await.expect("record_session is an upsert");
    assert_eq!(query.session(sessions[0]).await.expect("session"), Some(rep.clone()));
    assert_eq!(query.session(SessionId::new()).await.expect("session"), None);
    let recent = query.recent_sessions(10).await.expect("recent_sessions");
    assert!(recent.iter().any(|r| r.session_id == sessions[0]));

    // A committed session's record is never downgraded by a report that is not committed (a
    // failed or late attempt), but a committed report may replace it.
    let committed = SessionReport {
        session_id: sessions[1],
        status: SessionStatus::Success,
        committed: true,
        ..rep.clone()
    };
    store
        .record_session(&committed)
        .await
        .expect("record committed session");
    let failed_attempt = SessionReport {
        status: SessionStatus::Failed,
        committed: false,
        finished_at: base + chrono::Duration::seconds(99),
        ..committed.clone()
    };
    store
        .record_session(&failed_attempt)
        .await
        .expect("record of a late failed attempt");
    assert_eq!(
        query.session(sessions[1]).await.expect("session"),
        Some(committed.clone()),
        "a committed session's record was downgraded"
    );
    let repaired = SessionReport {
        status: SessionStatus::Partial,
        ..committed.clone()
    };
    store.record_session(&repaired).await.expect("record committed again");
    assert_eq!(query.session(sessions[1]).await.expect("session"), Some(repaired));

    // Concurrent writers lose nothing.
    let base2 = base + chrono::Duration::days(1);
    let mut handles = Vec::new();
    for w in 0..8 {
        let batch: Vec<Measurement> = (0..25)
            .map(|k| {
                test_measurement(
                    SessionId::new(),
                    &format!("w{w}"),
                    base2 + chrono::Duration::seconds(k),
                    Some(k as f64),
                )
            })
            .collect();
        handles.push(batch);
    }
    let results = futures::future::join_all(handles.iter().map(|b| store.record_measurements(b))).await;
    for r in results {
        assert_eq!(r.expect("concurrent batch").inserted, 25);
    }
    let day2 = query
        .measurements(&MeasurementQuery {
            since: Some(base2),
            limit: Some(10_000),
            ..Default::default()
        })
        .await
        .expect("query");
    assert_eq!(day2.len(), 200, "8 concurrent writers x 25 rows");

    // Receiver registry.
    let info = test_receiver("reg-1");
    let rec = registry
        .upsert_receiver(&info, &serde_json::json!({"gain": 30}))
        .await
        .expect("upsert");
    assert!(rec.active);
    let mut info2 = info.clone();
    info2.name = "Renamed".into();
    let rec2 = registry
        .upsert_receiver(&info2, &serde_json::json!({}))
        .await
        .expect("upsert again");
    assert_eq!(rec2.info.name, "Renamed");
    assert_eq!(rec2.created_at, rec.created_at, "update keeps created_at");
    let got = registry.receiver(&info.id).await.expect("get").expect("present");
    assert_eq!(got.info, info2);
    assert!(
        registry
            .list_receivers(true)
            .await
            .expect("list")
            .iter()
            .any(|r| r.info.id == info.id)
    );
    assert!(registry.deactivate_receiver(&info.id).await.expect("deactivate"));
    assert!(
        !registry
            .list_receivers(true)
            .await
            .expect("list")
            .iter()
            .any(|r| r.info.id == info.id)
    );
    assert!(
        registry
            .list_receivers(false)
            .await
            .expect("list")
            .iter()
            .any(|r| r.info.id == info.id && !r.active)
    );
    assert!(
        !registry
            .deactivate_receiver(&ReceiverId::new("reg-none").expect("id"))
            .await
            .expect("deactivate")
    );
    assert!(
        registry
            .upsert_receiver(&info, &serde_json::Value::Null)
            .await
            .expect("reactivate")
            .active
    );
}

/// A measurement for tests.
pub fn test_measurement(session: SessionId, receiver: &str, at: DateTime<Utc>, snr: Option<f64>) -> Measurement {
    Measurement {
        session_id: session,
        receiver_id: ReceiverId::new(receiver).expect("valid id"),
        captured_at: at,
        time_source: TimeSource::Gps,
        frequency_hz: 145.5e6,
        center_frequency_hz: 145.5e6 - 1000.0,
        sample_rate_hz: 12_000.0,
        samples: 120_000,
        duration_s: 10.0,
        metrics: test_metrics(120_000, snr),
        rssi: Some(-95.5),
        rssi_unit: Some(PowerUnit::Dbm),
        object_keys: vec![format!("sessions/{session}/{receiver}.npy")],
        extra: serde_json::json!({"attempts": 1}),
    }
}

/// The [`ReceiverSource`] contract for one request: header sanity, a time mark before the
/// first samples, exactly `expected_samples` samples of the announced format, and prompt
/// cancellation. `req` should be short (a second or less).
pub async fn source_conformance(source: Arc<dyn ReceiverSource>, req: &CaptureRequest) {
    let stream = source.open(req, CancellationToken::new()).await.expect("open");
    let info = stream.info.clone();
    assert_eq!(
        &info.receiver,
        source.info(),
        "capture header must name the source's receiver"
    );
    assert!(
        info.sample_rate_hz.is_finite() && info.sample_rate_hz > 0.0,
        "bad sample rate {}",
        info.sample_rate_hz
    );
    let expected = info.expected_samples.expect("sources must announce expected_samples");
    let mut chunks = stream.chunks;
    let mut samples = 0u64;
    let mut saw_time = false;
    while let Some(c) = chunks.next().await {
        match c.expect("chunk") {
            CaptureChunk::Samples(b) => {
                assert!(saw_time, "a Time chunk for sample 0 must precede the first samples");
                assert_eq!(b.format(), info.format, "block format must match the header");
                match &b {
                    SampleBlock::Complex(v) => assert!(v.iter().all(|x| x.re.is_finite() && x.im.is_finite())),
                    SampleBlock::Real(v) => assert!(v.iter().all(|x| x.is_finite())),
                }
                samples += b.len() as u64;
            }
            CaptureChunk::Time(t) => {
                if !saw_time {
                    assert_eq!(t.sample_index, 0, "the first Time chunk must be for sample 0");
                }
                saw_time = true;
            }
            _ => {}
        }
    }
    assert_eq!(samples, expected, "source must deliver exactly expected_samples");

    // Cancellation: the stream ends promptly with Cancelled (or simply ends).
    let token = CancellationToken::new();
    let mut long = req.clone();
    long.duration = Duration::from_secs(3600);
    if let Ok(stream) = source.open(&long, token.clone()).await {
        let mut chunks = stream.chunks;
        let _ = tokio::time::timeout(Duration::from_secs(5), chunks.next()).await;
        token.cancel();
        let end = tokio::time::timeout(Duration::from_secs(5), async {
            while let Some(c) = chunks.next().await {
                if let Err(e) = c {
                    return Some(e);
                }
            }
            None
        })
        .await
        .expect("stream must end within 5 s of cancellation");
        if let Some(e) = end {
            assert!(
                matches!(e, Error::Cancelled { .. }),
                "cancelled stream must end with Cancelled, got {e:?}"
            );
        }
    }
    source.health().await.expect("health of a working source");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::{MemorySink, MemoryStore};

    #[tokio::test(flavor = "multi_thread")]
    async fn memory_sink_conforms() {
        let sink = MemorySink::new();
        sink_conformance(&sink, &sink).await;
        // Through Arc<dyn> and Box<dyn> as well.
        let arc: Arc<dyn IqSink> = Arc::new(sink.clone());
        sink_conformance(&arc, &sink).await;
        let boxed: Box<dyn IqSink> = Box::new(sink.clone());
        sink_conformance(&boxed, &sink).await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn memory_store_conforms() {
        let store = MemoryStore::new();
        metric_store_conformance(&store, &store, &store).await;
        let q = MemoryStore::new();
        let arc: Arc<dyn MetricStore> = Arc::new(q.clone());
        metric_store_conformance(&arc, &q, &q).await;
    }
}
