//! Engine unit tests with scripted sources (the simulated network is exercised by the root
//! package's `tests/engine.rs`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use chrono::Utc;
use futures::StreamExt;
use num_complex::Complex32;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::capture::{CaptureChunk, CaptureInfo, CaptureStream, SampleBlock, SampleFormat, TimeMark, TimeSource};
use crate::memory::{MemorySink, MemoryStore};
use crate::receiver::{ReceiverHealth, ReceiverKind};
use crate::report::ReceiverStatus;
use crate::request::CaptureRequest;

/// Replays a fixed script of chunks; `expected` is what it announces.
#[derive(Debug)]
struct Scripted {
    info: ReceiverInfo,
    expected: Option<u64>,
    script: Vec<CaptureChunk>,
    end_with: Option<fn() -> Error>,
    opens: AtomicU32,
    rate: f64,
}

impl fmt::Display for Scripted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "scripted {}", self.info.id)
    }
}

#[async_trait]
impl ReceiverSource for Scripted {
    fn info(&self) -> &ReceiverInfo {
        &self.info
    }
    async fn health(&self) -> Result<ReceiverHealth> {
        Ok(ReceiverHealth::up())
    }
    async fn open(&self, _req: &CaptureRequest, _cancel: CancellationToken) -> Result<CaptureStream> {
        self.opens.fetch_add(1, Ordering::Relaxed);
        let info = CaptureInfo {
            receiver: self.info.clone(),
            format: SampleFormat::ComplexF32,
            sample_rate_hz: self.rate,
            center_frequency_hz: 1e6,
            target_frequency_hz: 1e6,
            expected_samples: self.expected,
            extra: Default::default(),
        };
        let mut items: Vec<Result<CaptureChunk>> = self.script.iter().cloned().map(Ok).collect();
        if let Some(e) = self.end_with {
            items.push(Err(e()));
        }
        Ok(CaptureStream {
            info,
            chunks: futures::stream::iter(items).boxed(),
        })
    }
}

fn tone(n: usize) -> CaptureChunk {
    CaptureChunk::Samples(SampleBlock::Complex(
        (0..n)
            .map(|k| Complex32::from_polar(0.5, 0.3 * k as f32) + Complex32::new(1e-3 * ((k * 7919) % 13) as f32, 0.0))
            .collect(),
    ))
}

fn scripted(
    id: &str,
    expected: Option<u64>,
    script: Vec<CaptureChunk>,
    end_with: Option<fn() -> Error>,
) -> Arc<Scripted> {
    Arc::new(Scripted {
        info: ReceiverInfo::new(ReceiverId::new(id).unwrap(), id, ReceiverKind::Simulated, "test://"),
        expected,
        script,
        end_with,
        opens: AtomicU32::new(0),
        rate: 1000.0,
    })
}

fn engine(sources: Vec<Arc<Scripted>>) -> (Engine, Arc<MemorySink>, Arc<MemoryStore>) {
    let sink = Arc::new(MemorySink::new());
    let store = Arc::new(MemoryStore::new());
    let e = Engine::builder()
        .sources(sources.into_iter().map(|s| s as Arc<dyn ReceiverSource>))
        .sink(sink.clone())
        .store(store.clone())
        .retry(RetryConfig::fast(1))
        .build()
        .unwrap();
    (e, sink, store)
}

fn req() -> AcquisitionRequest {
    AcquisitionRequest::new(1e6, Duration::from_secs(4))
}

#[tokio::test]
async fn surplus_is_truncated_short_streams_are_lost_connections() {
    let t0 = Utc::now();
    let mark = |i: u64| {
        CaptureChunk::Time(TimeMark {
            sample_index: i,
            time: t0 + chrono::Duration::seconds(i as i64 / 1000),
            source: TimeSource::Gps,
        })
    };
    let surplus = scripted("surplus", None, vec![mark(1000), tone(3000), tone(3000)], None);
    let short = scripted("short", Some(4000), vec![tone(3000)], None);
    let (engine, _sink, _store) = engine(vec![surplus.clone(), short.clone()]);
    let report = engine.acquire(req()).await.unwrap();

    let s = &report.receivers[0];
    assert_eq!(s.status, ReceiverStatus::Recorded, "{s:?}");
    let cap = s.capture.as_ref().unwrap();
    assert_eq!(cap.samples, 4000, "4 s at 1 kHz, surplus dropped");
    // Start time extrapolated back from the mark at sample 1000.
    assert_eq!((cap.start_time, cap.time_source), (t0, TimeSource::Gps));
    assert!(s.metrics.unwrap().snr_db.is_some());

    let l = &report.receivers[1];
    assert_eq!(l.status, ReceiverStatus::FetchFailed);
    assert_eq!(l.error.as_ref().unwrap().kind, "connection_lost");
    assert!(l.error.as_ref().unwrap().message.contains("3000 of 4000"));
    assert_eq!((l.attempts, short.opens.load(Ordering::Relaxed)), (2, 2));
    assert_eq!(report.status, crate::SessionStatus::Partial);
}

#[tokio::test]
async fn wrong_sample_format_is_malformed_and_not_retried() {
    let bad = scripted(
        "bad",
        Some(10),
        vec![CaptureChunk::Samples(SampleBlock::Real(vec![0.0; 10]))],
        None,
    );
    let (engine, sink, _) = engine(vec![bad.clone()]);
    let report = engine.acquire(req()).await.unwrap();
    let r = &report.receivers[0];
    assert_eq!(r.error.as_ref().unwrap().kind, "malformed");
    assert_eq!(r.attempts, 1);
    assert!(sink.keys().is_empty());
}

#[tokio::test]
async fn non_finite_samples_fail_the_capture_and_nothing_is_archived() {
    let mut nan = vec![Complex32::new(0.1, 0.1); 10];
    nan[7] = Complex32::new(0.1, f32::NAN);
    let mut inf = vec![Complex32::new(0.1, 0.1); 10];
    inf[0] = Complex32::new(f32::NEG_INFINITY, 0.0);
    let a = scripted(
        "nan",
        Some(20),
        vec![tone(10), CaptureChunk::Samples(SampleBlock::Complex(nan))],
        None,
    );
    let b = scripted(
        "inf",
        Some(10),
        vec![CaptureChunk::Samples(SampleBlock::Complex(inf))],
        None,
    );
    let good = scripted("good", Some(4000), vec![tone(4000)], None);
    let (engine, sink, store) = engine(vec![a.clone(), b.clone(), good]);
    let report = engine.acquire(req()).await.unwrap();
    for (r, at) in report.receivers.iter().take(2).zip(["sample 17 ", "sample 0 "]) {
        assert_eq!(r.status, ReceiverStatus::FetchFailed, "{r:?}");
        let e = r.error.as_ref().unwrap();
        assert_eq!(e.kind, "malformed");
        assert!(
            e.message.contains(at) && e.message.contains("not a finite number"),
            "{}",
            e.message
        );
        assert_eq!(r.attempts, 1, "a decoding fault is not retried");
        assert!(r.metrics.is_none());
    }
    assert_eq!(report.receivers[2].status, ReceiverStatus::Recorded);
    assert_eq!(report.status, crate::SessionStatus::Partial);
    assert!(
        sink.keys().iter().all(|k| !k.contains("nan") && !k.contains("inf")),
        "{:?}",
        sink.keys()
    );
    let rows = crate::store::MetricQuery::measurements(&*store, &Default::default())
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "only the good receiver's row: {rows:?}");
}

#[tokio::test]
async fn source_errors_keep_their_kind() {
    fn refused() -> Error {
        Error::Refused {
            backend: "test",
            target: "x".into(),
            reason: "kicked".into(),
            source: None,
        }
    }
    let s = scripted("kicked", Some(4000), vec![tone(100)], Some(refused));
    let (engine, _, _) = engine(vec![s.clone()]);
    let report = engine.acquire(req()).await.unwrap();
    assert_eq!(report.receivers[0].error.as_ref().unwrap().kind, "refused");
    assert_eq!(s.opens.load(Ordering::Relaxed), 1);
}

#[test]
fn start_outside_a_runtime_is_an_error_not_a_panic() {
    let s = scripted("a", Some(10), vec![], None);
    let (engine, _, _) = engine(vec![s]);
    assert!(matches!(engine.start(req(), None), Err(Error::Config { .. })));
}

#[tokio::test]
async fn late_subscribers_do_not_hang_and_events_serialise() {
    let s = scripted("a", Some(4000), vec![tone(4000)], None);
    let (engine, _, _) = engine(vec![s]);
    let id = SessionId::new();
    let h = engine.start(req(), Some(id)).unwrap();
    assert_eq!(h.session_id(), id);
    let first = h.events();
    let second = h.events();
    let evs: Vec<EngineEvent> = second.collect().await;
    assert_eq!(evs.last().map(|e| e.name()), Some("session_finished"));
    // Subscribing after the end gives a stream that ends, never one that hangs.
    let late = tokio::time::timeout(Duration::from_secs(5), h.events().collect::<Vec<_>>()).await;
    assert!(late.is_ok());
    let report = h.finish().await.unwrap();
    assert_eq!(report.session_id, id);
    let evs: Vec<EngineEvent> = first.collect().await;
    assert_eq!(evs.last().map(|e| e.name()), Some("session_finished"));
    for e in &evs {
        let v = serde_json::to_value(e).unwrap();
        assert_eq!(v["type"], e.name());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn high_rate_captures_are_analysed_off_the_storage_path() {
    let mut fast = Arc::into_inner(scripted("fast", Some(300_000), vec![tone(100_000); 4], None)).unwrap();
    fast.rate = 2.4e6;
    let (engine, sink, _) = engine(vec![Arc::new(fast)]);
    let out = engine.acquire_detailed(req()).await.unwrap();
    let r = &out.report.receivers[0];
    assert_eq!(r.status, ReceiverStatus::Recorded, "{r:?}");
    assert_eq!(r.metrics.unwrap().samples, 300_000);
    assert!(r.metrics.unwrap().snr_db.is_some());
    assert_eq!(out.psds.len(), 1);
    assert!(!sink.keys().is_empty());
}

/// Random chunkings of a known capture, with interleaved metadata and surplus: the archive
/// always holds exactly the first `expected` samples, in order.
#[tokio::test]
async fn random_chunkings_store_exactly_the_expected_samples() {
    use crate::capture::{Gap, PowerUnit, RssiReading};
    use crate::sink::IqArchive;
    use rand::rngs::SmallRng;
    use rand::{Rng, SeedableRng};

    let mut rng = SmallRng::seed_from_u64(7);
    for round in 0..40 {
        let expected: u64 = rng.random_range(1..5000);
        let total = expected + rng.random_range(0..300);
        let all: Vec<Complex32> = (0..total).map(|k| Complex32::new(k as f32, -(k as f32))).collect();
        let mut script = vec![CaptureChunk::Time(TimeMark {
            sample_index: 0,
            time: Utc::now(),
            source: TimeSource::Gps,
        })];
        let (mut at, mut gaps) = (0usize, 0usize);
        while at < all.len() {
            let n = rng.random_range(0..700).min(all.len() - at);
            script.push(CaptureChunk::Samples(SampleBlock::Complex(all[at..at + n].to_vec())));
            at += n;
            match rng.random_range(0..4) {
                0 => script.push(CaptureChunk::Rssi(RssiReading {
                    sample_index: at as u64,
                    value: -90.0,
                    unit: PowerUnit::Dbm,
                })),
                1 if (at as u64) < expected => {
                    gaps += 1;
                    script.push(CaptureChunk::Gap(Gap {
                        sample_index: at as u64,
                        missing_samples: 3,
                    }))
                }
                _ => {}
            }
        }
        let s = scripted("r", Some(expected), script, None);
        let (engine, sink, _) = engine(vec![s]);
        let report = engine.acquire(req()).await.unwrap();
        let r = &report.receivers[0];
        assert!(r.status.is_stored(), "round {round}: {r:?}");
        let cap = r.capture.as_ref().unwrap();
        assert_eq!(cap.samples, expected, "round {round}");
        assert!(cap.gaps.len() <= gaps, "round {round}");
        let back = sink.read_capture(report.session_id, &r.receiver.id).await.unwrap();
        assert_eq!(
            back.samples,
            SampleBlock::Complex(all[..expected as usize].to_vec()),
            "round {round}"
        );
    }
}
