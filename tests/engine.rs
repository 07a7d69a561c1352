//! Conformance of the acquisition engine, on the simulated reference network with the
//! in-memory sink and store.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use futures::StreamExt;
use heimdall_core::Complex32;
use heimdall_core::dev::prelude::*;
use heimdall_core::engine::{Engine, EngineBuilder, EngineEvent, RetryConfig};
use heimdall_core::memory::{MemorySink, MemoryStore, SinkFault};
use heimdall_websdr::simulated::{Clock, Failure, Modulation, Pacing, SimulatedNetwork, Transmitter};

const F: f64 = 145.5e6;

fn transmitter() -> Transmitter {
    Transmitter::new(
        GeoPosition::new(45.10, 7.95, Some(400.0)).unwrap(),
        F + 1500.0,
        20.0,
        Modulation::fm_voice(2500.0),
    )
}

fn network() -> SimulatedNetwork {
    SimulatedNetwork::reference_network(transmitter(), 2026)
}

struct Rig {
    engine: Engine,
    sink: Arc<MemorySink>,
    store: Arc<MemoryStore>,
}

fn rig(sources: Vec<Arc<dyn ReceiverSource>>, tune: impl FnOnce(EngineBuilder) -> EngineBuilder) -> Rig {
    let sink = Arc::new(MemorySink::new());
    let store = Arc::new(MemoryStore::new());
    let b = Engine::builder()
        .sources(sources)
        .sink(sink.clone())
        .store(store.clone())
        .retry(RetryConfig::fast(2));
    Rig {
        engine: tune(b).build().unwrap(),
        sink,
        store,
    }
}

fn req(secs: f64) -> AcquisitionRequest {
    AcquisitionRequest::new(F, Duration::from_secs_f64(secs))
}

fn id(s: &str) -> ReceiverId {
    ReceiverId::new(s).unwrap()
}

fn receiver<'a>(r: &'a SessionReport, id: &str) -> &'a ReceiverReport {
    r.receivers.iter().find(|x| x.receiver.id.as_str() == id).unwrap()
}

/// Same session outcome (JSON round trips may change the last digit of floats). A manifest is
/// committed before the rows are written, so its receivers say `stored` where the final report
/// says `recorded`: the two count as the same here.
fn assert_same(a: &SessionReport, b: &SessionReport) {
    assert_eq!((a.session_id, a.status), (b.session_id, b.status));
    let archived = |s: ReceiverStatus| {
        if s == ReceiverStatus::Stored {
            ReceiverStatus::Recorded
        } else {
            s
        }
    };
    let brief = |r: &SessionReport| -> Vec<_> {
        r.receivers
            .iter()
            .map(|x| {
                (
                    x.receiver.id.clone(),
                    archived(x.status),
                    x.attempts,
                    x.objects.clone(),
                    x.error.clone(),
                )
            })
            .collect()
    };
    assert_eq!(brief(a), brief(b));
}

async fn rows(store: &MemoryStore, session: SessionId) -> Vec<Measurement> {
    store
        .measurements(&MeasurementQuery {
            session: Some(session),
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn seven_receivers_two_failing_gives_six_rows_six_captures_one_error() {
    let net = network()
        .with_failure("genova", Failure::BusyThenOk { times: 1 })
        .with_failure("torino", Failure::DropAfter { seconds: 0.4 });
    let rig = rig(net.sources(), |b| b);
    let report = rig.engine.acquire(req(1.0)).await.unwrap();

    assert_eq!(report.status, SessionStatus::Partial);
    assert_eq!(report.receivers.len(), 7);
    assert_eq!(report.recorded(), 6);
    let errors: Vec<_> = report.receivers.iter().filter_map(|r| r.error.as_ref()).collect();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0].kind, "connection_lost");

    let torino = receiver(&report, "torino");
    assert_eq!(torino.status, ReceiverStatus::FetchFailed);
    assert_eq!(torino.attempts, 3, "dropped connections are retried");
    assert_eq!(torino.retried_errors.len(), 2);
    assert!(torino.objects.is_empty() && torino.capture.is_none());

    let genova = receiver(&report, "genova");
    assert_eq!(genova.status, ReceiverStatus::Recorded);
    assert_eq!(genova.attempts, 2);
    assert_eq!(genova.retried_errors[0].kind, "unavailable");

    // 6 rows, 6 archived captures, a manifest.
    let rows = rows(&rig.store, report.session_id).await;
    assert_eq!(rows.len(), 6);
    assert!(rows.iter().all(|m| m.receiver_id.as_str() != "torino"));
    for r in report.receivers.iter().filter(|r| r.status == ReceiverStatus::Recorded) {
        let cap = r.capture.as_ref().unwrap();
        assert_eq!(cap.samples, cap.info.expected_samples.unwrap());
        assert!(!r.objects.is_empty());
        let m = r.metrics.unwrap();
        assert!(m.snr_db.is_some_and(|s| s > 10.0), "{}: {m:?}", r.receiver.id);
        let archived = rig.sink.read_capture(report.session_id, &r.receiver.id).await.unwrap();
        assert_eq!(archived.samples.len() as u64, cap.samples);
    }
    assert!(rig.sink.read_capture(report.session_id, &id("torino")).await.is_err());
    let manifest = rig.sink.read_manifest(report.session_id).await.unwrap();
    assert_same(&manifest, &report);
    assert_eq!(
        rig.store.session(report.session_id).await.unwrap().unwrap().status,
        SessionStatus::Partial
    );
    let keys = rig.sink.list_objects(report.session_id).await.unwrap();
    assert!(keys.iter().all(|k| !k.contains("torino")), "{keys:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn cancellation_mid_capture_leaves_no_objects_and_no_rows() {
    let net = network().with_pacing(Pacing::RealTime);
    let rig = rig(net.sources(), |b| b);
    let handle = rig.engine.start(req(30.0), None).unwrap();
    let session = handle.session_id();
    let mut events = handle.events();
    // Wait until every receiver is streaming.
    let mut streaming = std::collections::HashSet::new();
    while streaming.len() < 7 {
        match events.next().await.unwrap() {
            EngineEvent::Progress { receiver, .. } => {
                streaming.insert(receiver);
            }
            EngineEvent::SessionFinished { .. } => panic!("finished before cancel"),
            _ => {}
        }
    }
    let t = std::time::Instant::now();
    handle.cancel();
    let report = handle.await.unwrap();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(report.status, SessionStatus::Cancelled);
    assert!(report.receivers.iter().all(|r| r.status == ReceiverStatus::Cancelled));
    assert!(rig.sink.keys().is_empty(), "{:?}", rig.sink.keys());
    assert!(rows(&rig.store, session).await.is_empty());
    // The session record says what happened (and nothing else was recorded).
    let recorded = rig.store.session(session).await.unwrap().unwrap();
    assert_eq!(recorded.status, SessionStatus::Cancelled);
    assert!(recorded.receivers.iter().all(|r| r.objects.is_empty()));
    // The event stream ends with the cancelled report.
    let last = events.collect::<Vec<_>>().await.pop().unwrap();
    assert!(matches!(last, EngineEvent::SessionFinished { report } if report.status == SessionStatus::Cancelled));
}

#[tokio::test(flavor = "multi_thread")]
async fn dropping_the_handle_cancels_and_cleans_up() {
    let net = network().with_failure("torino", Failure::Stall);
    let rig = rig(net.sources(), |b| b.capture_timeout_margin(Duration::from_secs(600)));
    let handle = rig.engine.start(req(1.0), None).unwrap();
    let session = handle.session_id();
    let mut events = handle.events();
    // Wait until the six healthy receivers have stored their captures (torino stalls).
    let mut stored = 0;
    while stored < 6 {
        if let EngineEvent::Stored { .. } = events.next().await.unwrap() {
            stored += 1;
        }
    }
    assert!(!rig.sink.keys().is_empty());
    drop(handle);
    let last = events.collect::<Vec<_>>().await.pop().unwrap();
    let EngineEvent::SessionFinished { report } = last else {
        panic!("{last:?}")
    };
    assert_eq!(report.status, SessionStatus::Cancelled);
    assert!(rig.sink.keys().is_empty(), "{:?}", rig.sink.keys());
    assert!(rows(&rig.store, session).await.is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn storage_failure_for_one_receiver_leaves_no_row_for_it() {
    for fault in [SinkFault::Begin, SinkFault::Write, SinkFault::Finish] {
        let rig = rig(network().sources(), |b| b);
        rig.sink.inject_fault(id("coazze"), fault);
        let report = rig.engine.acquire(req(0.5)).await.unwrap();
        assert_eq!(report.status, SessionStatus::Partial, "{fault:?}");
        let coazze = receiver(&report, "coazze");
        assert_eq!(coazze.status, ReceiverStatus::StoreFailed, "{fault:?}");
        assert_eq!(coazze.error.as_ref().unwrap().kind, "storage");
        assert_eq!(coazze.attempts, 1, "storage failures are not refetched");
        assert!(coazze.objects.is_empty());
        let rows = rows(&rig.store, report.session_id).await;
        assert_eq!(rows.len(), 6);
        assert!(rows.iter().all(|m| m.receiver_id.as_str() != "coazze"));
        let keys = rig.sink.list_objects(report.session_id).await.unwrap();
        assert!(keys.iter().all(|k| !k.contains("coazze")), "{fault:?}: {keys:?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn only_retryable_errors_are_retried() {
    let net = network()
        .with_failure("torino", Failure::Refused)
        .with_failure("genova", Failure::Busy)
        .with_failure("coazze", Failure::Garbage);
    let rig = rig(net.sources(), |b| b.retry(RetryConfig::fast(3)));
    let report = rig.engine.acquire(req(0.5)).await.unwrap();
    let torino = receiver(&report, "torino");
    assert_eq!((torino.status, torino.attempts), (ReceiverStatus::FetchFailed, 1));
    assert_eq!(torino.error.as_ref().unwrap().kind, "refused");
    assert!(torino.retried_errors.is_empty());
    let coazze = receiver(&report, "coazze");
    assert_eq!(
        (coazze.attempts, coazze.error.as_ref().unwrap().kind.as_str()),
        (1, "malformed")
    );
    let genova = receiver(&report, "genova");
    assert_eq!(genova.attempts, 4, "1 + max_retries");
    assert_eq!(genova.retried_errors.len(), 3);
    assert_eq!(genova.error.as_ref().unwrap().kind, "unavailable");
    assert_eq!(report.recorded(), 4);
    assert_eq!(rows(&rig.store, report.session_id).await.len(), 4);
}

#[tokio::test(flavor = "multi_thread")]
async fn connect_and_capture_timeouts_are_reported_and_retried() {
    let net = network()
        .with_failure(
            "torino",
            Failure::SlowConnect {
                delay: Duration::from_secs(60),
            },
        )
        .with_failure("genova", Failure::Stall);
    let rig = rig(net.sources(), |b| {
        b.connect_timeout(Duration::from_millis(50))
            .capture_timeout_margin(Duration::from_millis(100))
            .retry(RetryConfig::fast(1))
    });
    let report = rig.engine.acquire(req(0.2)).await.unwrap();
    for who in ["torino", "genova"] {
        let r = receiver(&report, who);
        assert_eq!(r.status, ReceiverStatus::FetchFailed);
        assert_eq!(r.error.as_ref().unwrap().kind, "timeout", "{who}");
        assert_eq!(r.attempts, 2, "{who}: timeouts are retryable");
    }
    assert!(
        receiver(&report, "torino")
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("connect")
    );
    assert!(
        receiver(&report, "genova")
            .error
            .as_ref()
            .unwrap()
            .message
            .contains("capture")
    );
    assert_eq!(report.recorded(), 5);
}

/// Counts how many captures of the wrapped sources are open at once.
#[derive(Debug)]
struct Counting {
    inner: Arc<dyn ReceiverSource>,
    open: Arc<AtomicUsize>,
    max: Arc<AtomicUsize>,
    opened_at: Arc<std::sync::Mutex<Vec<chrono::DateTime<chrono::Utc>>>>,
}

impl std::fmt::Display for Counting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "counting {}", self.inner)
    }
}

struct Guard(Arc<AtomicUsize>);
impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[async_trait]
impl ReceiverSource for Counting {
    fn info(&self) -> &ReceiverInfo {
        self.inner.info()
    }
    async fn health(&self) -> Result<ReceiverHealth> {
        self.inner.health().await
    }
    async fn open(&self, req: &CaptureRequest, cancel: CancellationToken) -> Result<CaptureStream> {
        let n = self.open.fetch_add(1, Ordering::SeqCst) + 1;
        self.max.fetch_max(n, Ordering::SeqCst);
        self.opened_at.lock().unwrap().push(chrono::Utc::now());
        let guard = Guard(self.open.clone());
        match self.inner.open(req, cancel).await {
            Ok(s) => {
                let chunks = s
                    .chunks
                    .map(move |c| {
                        let _keep = &guard;
                        c
                    })
                    .boxed();
                Ok(CaptureStream { info: s.info, chunks })
            }
            Err(e) => Err(e),
        }
    }
}

type OpenedAt = Arc<std::sync::Mutex<Vec<chrono::DateTime<chrono::Utc>>>>;

fn counted(net: &SimulatedNetwork) -> (Vec<Arc<dyn ReceiverSource>>, Arc<AtomicUsize>, OpenedAt) {
    let open = Arc::new(AtomicUsize::new(0));
    let max = Arc::new(AtomicUsize::new(0));
    let opened_at = Arc::new(std::sync::Mutex::new(Vec::new()));
    let sources = net
        .sources()
        .into_iter()
        .map(|inner| {
            Arc::new(Counting {
                inner,
                open: open.clone(),
                max: max.clone(),
                opened_at: opened_at.clone(),
            }) as Arc<dyn ReceiverSource>
        })
        .collect();
    (sources, max, opened_at)
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrency_limit_is_respected() {
    let net = network().with_pacing(Pacing::RealTime);
    let (sources, max, _) = counted(&net);
    let rig = rig(sources, |b| b.concurrency(2));
    let report = rig.engine.acquire(req(0.15)).await.unwrap();
    assert_eq!(report.status, SessionStatus::Success);
    assert_eq!(max.load(Ordering::SeqCst), 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn events_are_ordered_serialisable_and_end_with_session_finished() {
    let net = network().with_failure("genova", Failure::BusyThenOk { times: 1 });
    let rig = rig(net.sources(), |b| b);
    let handle = rig.engine.start(req(1.0), None).unwrap();
    let events = handle.events();
    let report = handle.await.unwrap();
    let events: Vec<EngineEvent> = events.collect().await;
    assert!(matches!(&events[0], EngineEvent::SessionStarted { receivers, .. } if receivers.len() == 7));
    let Some(EngineEvent::SessionFinished { report: last }) = events.last() else {
        panic!("{:?}", events.last())
    };
    assert_eq!(**last, report);
    for r in rig.engine.receiver_ids() {
        let names: Vec<&str> = events
            .iter()
            .filter(|e| e.receiver() == Some(&r))
            .map(|e| e.name())
            .filter(|n| *n != "progress")
            .collect();
        let tail = &names[names.len() - 5..];
        assert_eq!(
            tail,
            [
                "receiver_connecting",
                "receiver_connected",
                "capture_finished",
                "stored",
                "recorded"
            ],
            "{r}: {names:?}"
        );
        assert!(
            events
                .iter()
                .any(|e| matches!(e, EngineEvent::Progress { receiver, samples, expected, .. } if *receiver == r && samples == expected))
        );
        if r.as_str() == "genova" {
            assert_eq!(&names[..3], ["receiver_connecting", "failed", "retrying"]);
        }
    }
    let json = serde_json::to_value(&events[1]).unwrap();
    assert!(json["type"].is_string(), "{json}");
    let retrying = events.iter().find(|e| e.name() == "retrying").unwrap();
    let json = serde_json::to_value(retrying).unwrap();
    assert!(json["after"].is_f64() && json["attempt"] == 2, "{json}");
}

#[tokio::test(flavor = "multi_thread")]
async fn scheduled_start_gives_aligned_start_times() {
    let net = network().with_pacing(Pacing::RealTime);
    let (sources, _, opened_at) = counted(&net);
    let rig = rig(sources, |b| b);
    let start = chrono::Utc::now() + chrono::Duration::milliseconds(400);
    let report = rig.engine.acquire(req(0.2).with_start_at(start)).await.unwrap();
    assert_eq!(report.status, SessionStatus::Success);
    assert!(
        opened_at.lock().unwrap().iter().all(|t| *t < start),
        "sources open ahead of the start"
    );
    for r in &report.receivers {
        let cap = r.capture.as_ref().unwrap();
        let skew = cap.start_skew_s.unwrap();
        match net.receivers.iter().find(|c| c.info.id == r.receiver.id).unwrap().clock {
            Clock::Gps => {
                assert_eq!(cap.time_source, TimeSource::Gps);
                assert_eq!(cap.start_time, start);
                assert_eq!(skew, 0.0);
            }
            Clock::Host { jitter } => {
                assert_eq!(cap.time_source, TimeSource::Host);
                assert!(skew.abs() < 6.0 * jitter.as_secs_f64(), "{skew}");
            }
            _ => unreachable!(),
        }
        let row = Measurement::from_report(report.session_id, r).unwrap();
        assert_eq!(row.extra["start_skew_s"].as_f64(), Some(skew));
    }
    // The receivers delivered in real time from the common start.
    assert!(report.finished_at >= start + chrono::Duration::milliseconds(200));
}

#[tokio::test(flavor = "multi_thread")]
async fn requests_and_builders_are_validated() {
    let rig = rig(network().sources(), |b| b);
    match rig
        .engine
        .start(req(1.0).with_receivers([id("torino"), id("atlantis")]), None)
    {
        Err(Error::InvalidInput { field, reason }) => {
            assert_eq!(field, "receivers");
            assert!(reason.contains("atlantis"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        rig.engine
            .acquire(AcquisitionRequest::new(f64::NAN, Duration::from_secs(1)))
            .await,
        Err(Error::InvalidInput { .. })
    ));
    // A subset, reported in the engine's order.
    let report = rig
        .engine
        .acquire(req(0.2).with_receivers([id("genova"), id("torino")]))
        .await
        .unwrap();
    let ids: Vec<&str> = report.receivers.iter().map(|r| r.receiver.id.as_str()).collect();
    assert_eq!(ids, ["torino", "genova"]);

    let sink: Arc<dyn IqSink> = Arc::new(MemorySink::new());
    let store: Arc<dyn MetricStore> = Arc::new(MemoryStore::new());
    let mut twice = network().sources();
    twice.push(twice[0].clone());
    for (why, builder) in [
        ("no sources", Engine::builder().sink(sink.clone()).store(store.clone())),
        (
            "no sink",
            Engine::builder().sources(network().sources()).store(store.clone()),
        ),
        (
            "a receiver twice",
            Engine::builder().sources(twice).sink(sink.clone()).store(store.clone()),
        ),
        (
            "no concurrency",
            Engine::builder()
                .sources(network().sources())
                .sink(sink)
                .store(store)
                .concurrency(0),
        ),
    ] {
        assert!(builder.build().is_err(), "{why}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn row_batch_is_retried_and_a_failed_batch_keeps_the_archive() {
    let rig = rig(network().sources(), |b| b);
    rig.store.fail_next_writes(1);
    let report = rig.engine.acquire(req(0.3)).await.unwrap();
    assert_eq!(
        report.status,
        SessionStatus::Success,
        "a transient batch failure is retried"
    );
    assert_eq!(rows(&rig.store, report.session_id).await.len(), 7);

    rig.store.reject_receiver(id("torino"));
    let report = rig.engine.acquire(req(0.3)).await.unwrap();
    assert!(report.committed, "the rows come after the commit");
    assert!(report.receivers.iter().all(|r| r.status == ReceiverStatus::Stored));
    assert!(
        report
            .receivers
            .iter()
            .all(|r| r.error.as_ref().unwrap().kind == "database")
    );
    assert_eq!(report.status, SessionStatus::Failed);
    assert!(rows(&rig.store, report.session_id).await.is_empty());
    // The manifest describes the archive as committed, before any row: every capture stored,
    // no database error in it.
    let manifest = rig.sink.read_manifest(report.session_id).await.unwrap();
    assert_eq!(manifest.status, SessionStatus::Success);
    assert!(
        manifest
            .receivers
            .iter()
            .all(|r| r.status == ReceiverStatus::Stored && r.error.is_none())
    );
    assert!(manifest.errors.is_empty(), "{:?}", manifest.errors);
    // The session-level failure is in the report and in the session record.
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert_eq!(report.errors[0].kind, "database");
    let recorded = rig.store.session(report.session_id).await.unwrap().unwrap();
    assert_eq!(recorded.errors, report.errors);
    assert!(recorded.committed);

    // Once the database takes the rows again, the committed session is finished from its
    // manifest, idempotently: the same 7 rows whatever the number of calls.
    rig.store.accept_all_receivers();
    for _ in 0..2 {
        let (done, _) = heimdall_core::engine::record_committed(&*rig.sink, &*rig.store, report.session_id)
            .await
            .unwrap();
        assert_eq!(done.status, SessionStatus::Success);
    }
    assert_eq!(rows(&rig.store, report.session_id).await.len(), 7);
    let recorded = rig.store.session(report.session_id).await.unwrap().unwrap();
    assert_eq!(recorded.status, SessionStatus::Success);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_committed_session_refuses_a_second_run_before_writing_anything() {
    let rig = rig(network().sources(), |b| b);
    let session = SessionId::new();
    let first = rig.engine.start(req(0.3), Some(session)).unwrap().await.unwrap();
    assert_eq!(first.status, SessionStatus::Success);
    let keys = rig.sink.keys();
    let objects: Vec<_> = keys.iter().map(|k| rig.sink.object(k).unwrap()).collect();
    let record = rig.store.session(session).await.unwrap().unwrap();
    let before_rows = rows(&rig.store, session).await;

    let handle = rig.engine.start(req(0.3), Some(session)).unwrap();
    let mut events = handle.events();
    match handle.await {
        Err(Error::AlreadyExists { .. }) => {}
        other => panic!("a second run of a committed session must be AlreadyExists, got {other:?}"),
    }
    // Not one receiver was opened, not one byte, row or record changed.
    while let Some(ev) = events.next().await {
        assert!(!matches!(ev, EngineEvent::ReceiverConnecting { .. }), "{ev:?}");
    }
    assert_eq!(rig.sink.keys(), keys);
    let after: Vec<_> = keys.iter().map(|k| rig.sink.object(k).unwrap()).collect();
    assert!(after == objects, "a committed object changed");
    assert_eq!(rig.store.session(session).await.unwrap().unwrap(), record);
    assert_eq!(rows(&rig.store, session).await, before_rows);
}

#[tokio::test(flavor = "multi_thread")]
async fn overlapping_attempts_of_one_session_commit_once() {
    // Two attempts of the same session at once (a redelivered job while the first worker still
    // runs): exactly one commits; the other is AlreadyExists and leaves nothing of its own.
    let rig = rig(network().sources(), |b| b);
    let session = SessionId::new();
    let a = rig.engine.start(req(0.5), Some(session)).unwrap();
    let b = rig.engine.start(req(0.5), Some(session)).unwrap();
    let (ra, rb) = tokio::join!(a.finish(), b.finish());
    let (won, lost) = match (ra, rb) {
        (Ok(w), Err(l)) | (Err(l), Ok(w)) => (w, l),
        other => panic!("exactly one attempt must commit: {other:?}"),
    };
    assert!(matches!(lost, Error::AlreadyExists { .. }), "{lost:?}");
    assert!(won.committed);
    assert_eq!(won.status, SessionStatus::Success);
    let manifest = rig.sink.read_manifest(session).await.unwrap();
    assert_same(&manifest, &won);
    // Every listed object is there with its checksum, and nothing else is under the session
    // but the manifest.
    let listed: Vec<String> = manifest
        .receivers
        .iter()
        .flat_map(|r| r.objects.iter().map(|o| o.key.clone()))
        .collect();
    let mut keys = rig.sink.list_objects(session).await.unwrap();
    keys.retain(|k| !k.ends_with("/manifest.json"));
    let mut sorted = listed.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "objects of the losing attempt were left behind");
    for r in &manifest.receivers {
        rig.sink.read_capture(session, &r.receiver.id).await.unwrap();
    }
    assert_eq!(rows(&rig.store, session).await.len(), 7);
    let record = rig.store.session(session).await.unwrap().unwrap();
    assert!(record.committed);
    assert_eq!(record.status, SessionStatus::Success);
}

#[tokio::test(flavor = "multi_thread")]
async fn failed_commit_removes_the_session_objects() {
    let rig = rig(network().sources(), |b| b);
    rig.sink.fail_commits(true);
    let report = rig.engine.acquire(req(0.3)).await.unwrap();
    assert_eq!(report.status, SessionStatus::Failed);
    assert!(
        report
            .receivers
            .iter()
            .all(|r| r.status == ReceiverStatus::StoreFailed && r.objects.is_empty())
    );
    assert!(rig.sink.keys().is_empty(), "{:?}", rig.sink.keys());
    assert!(
        rows(&rig.store, report.session_id).await.is_empty(),
        "rows must never outlive a failed commit"
    );
    assert_eq!(report.errors.len(), 1, "{:?}", report.errors);
    assert_eq!(report.errors[0].kind, "storage");
    let recorded = rig.store.session(report.session_id).await.unwrap().unwrap();
    assert_same(&recorded, &report);
    assert_eq!(
        recorded.errors, report.errors,
        "the session record carries the commit failure"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_stored_means_nothing_committed() {
    let mut net = network();
    for c in net.receivers.iter_mut() {
        c.failure = Failure::Refused;
    }
    let rig = rig(net.sources(), |b| b);
    let report = rig.engine.acquire(req(0.3)).await.unwrap();
    assert_eq!(report.status, SessionStatus::Failed);
    assert!(rig.sink.keys().is_empty());
    assert!(rig.sink.read_manifest(report.session_id).await.is_err());
    assert_eq!(
        rig.store.session(report.session_id).await.unwrap().unwrap().status,
        SessionStatus::Failed
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn psds_are_returned_per_receiver() {
    let rig = rig(network().with_sample_rate(12_000.0).sources(), |b| b);
    let out = rig.engine.acquire_detailed(req(1.0)).await.unwrap();
    assert_eq!(out.psds.len(), 7);
    for psd in out.psds.values() {
        assert!(!psd.is_empty());
        assert!((psd.bin_width_hz() * psd.len() as f64 - 12_000.0).abs() < 1.0);
    }
    // The analyser sees the transmitter where the simulation put it.
    for r in &out.report.receivers {
        let m = r.metrics.unwrap();
        let off = m.frequency_offset_hz.unwrap_or(f64::NAN);
        assert!(off.abs() < 5_000.0, "{}: {m:?}", r.receiver.id);
    }
}

/// Times (s from sample 0) where the envelope rises through half its peak.
fn rising_edges(x: &[Complex32], fs: f64) -> Vec<f64> {
    let env: Vec<f64> = x.iter().map(|s| f64::from(s.norm())).collect();
    let half = env.iter().cloned().fold(0.0, f64::max) / 2.0;
    (1..env.len())
        .filter(|&i| env[i - 1] < half && env[i] >= half)
        .map(|i| (i as f64 - 1.0 + (half - env[i - 1]) / (env[i] - env[i - 1])) / fs)
        .collect()
}

/// End to end: a scheduled, GPS-aligned acquisition at 2.4 MS/s of a bursting transmitter;
/// the archived captures' time differences of arrival locate the transmitter.
#[tokio::test(flavor = "multi_thread")]
async fn archived_captures_locate_the_transmitter_by_tdoa() {
    let fs = 2.4e6;
    let truth = GeoPosition::new(44.93, 8.21, Some(400.0)).unwrap();
    let tx = Transmitter::new(
        truth,
        F,
        75.0,
        Modulation::bursts(Duration::from_millis(1), Duration::from_millis(4)),
    );
    let net = SimulatedNetwork::reference_network(tx, 77)
        .with_sample_rate(fs)
        .with_clock(Clock::Gps);
    let rig = rig(net.sources(), |b| b);
    let start = chrono::Utc::now() + chrono::Duration::milliseconds(50);
    let report = rig.engine.acquire(req(0.012).with_start_at(start)).await.unwrap();
    assert_eq!(report.status, SessionStatus::Success);

    let period = 5e-3;
    let mut obs = vec![];
    for r in &report.receivers {
        assert_eq!(r.capture.as_ref().unwrap().start_skew_s, Some(0.0));
        let cap = rig.sink.read_capture(report.session_id, &r.receiver.id).await.unwrap();
        let SampleBlock::Complex(x) = cap.samples else {
            panic!("complex")
        };
        obs.push((r.receiver.position.unwrap(), rising_edges(&x, fs)[0]));
    }
    let wrap = |d: f64| (d + period / 2.0).rem_euclid(period) - period / 2.0;
    let cost = |lat: f64, lon: f64| -> f64 {
        let p = GeoPosition::new(lat, lon, Some(400.0)).unwrap();
        let tau: Vec<f64> = obs
            .iter()
            .map(|(rx, _)| p.slant_distance_m(rx) / 299_792_458.0)
            .collect();
        (1..obs.len())
            .map(|i| wrap((obs[i].1 - obs[0].1) - (tau[i] - tau[0])).powi(2))
            .sum()
    };
    // Coarse-to-fine grid search over the network's area.
    let (mut lat0, mut lon0, mut step) = (44.9, 8.1, 0.02);
    let (mut best, mut span) = ((lat0, lon0), 40);
    for _ in 0..5 {
        let mut best_cost = f64::INFINITY;
        for i in -span..=span {
            for j in -span..=span {
                let (la, lo) = (lat0 + i as f64 * step, lon0 + j as f64 * step);
                let c = cost(la, lo);
                if c < best_cost {
                    best_cost = c;
                    best = (la, lo);
                }
            }
        }
        (lat0, lon0) = best;
        step /= 10.0;
        span = 15;
    }
    let found = GeoPosition::new(best.0, best.1, Some(400.0)).unwrap();
    let err = found.distance_m(&truth);
    assert!(err < 30.0, "located {found:?}, {err:.1} m from the transmitter");
}
