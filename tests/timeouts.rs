//! Timeouts that compose: a receiver's own waits and timeouts are not cut by the engine's
//! connect timeout. OpenWebRX waits for its per-host politeness slot before connecting (longer
//! than the engine's connect timeout here), and KiwiSDR's handshake timeout is longer than it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use heimdall_core::dev::prelude::*;
use heimdall_core::engine::{Engine, RetryConfig};
use heimdall_core::memory::{MemorySink, MemoryStore};
use heimdall_websdr::kiwisdr::KiwiSdrBuilder;
use heimdall_websdr::kiwisdr::mock::{KiwiBehavior, MockKiwi, MockKiwiConfig};
use heimdall_websdr::openwebrx::OpenWebRxBuilder;
use heimdall_websdr::openwebrx::mock::{MockConfig, MockOpenWebRx};

/// Connects for real on the first open, then drops the stream and reports a retryable failure,
/// so that the engine's retry opens again at once, into the source's own wait.
#[derive(Debug)]
struct FailFirst<S> {
    inner: S,
    opens: AtomicU32,
}

impl<S: std::fmt::Display> std::fmt::Display for FailFirst<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "fail-first {}", self.inner)
    }
}

#[async_trait]
impl<S: ReceiverSource> ReceiverSource for FailFirst<S> {
    fn info(&self) -> &ReceiverInfo {
        self.inner.info()
    }
    async fn health(&self) -> Result<ReceiverHealth> {
        self.inner.health().await
    }
    async fn open(&self, req: &CaptureRequest, cancel: CancellationToken) -> Result<CaptureStream> {
        let s = self.inner.open(req, cancel).await?;
        if self.opens.fetch_add(1, Ordering::SeqCst) == 0 {
            drop(s);
            return Err(Error::Unavailable {
                backend: "test",
                target: self.inner.info().id.to_string(),
                reason: "first attempt fails on purpose".into(),
                retry_after: None,
                source: None,
            });
        }
        Ok(s)
    }
    fn self_timed_open(&self) -> Option<Duration> {
        self.inner.self_timed_open()
    }
}

fn info(id: &str, kind: ReceiverKind, url: String) -> ReceiverInfo {
    ReceiverInfo::new(ReceiverId::new(id).unwrap(), id, kind, url)
}

fn engine(source: Arc<dyn ReceiverSource>, connect_timeout: Duration, retries: u32) -> Engine {
    Engine::builder()
        .source(source)
        .sink(Arc::new(MemorySink::new()))
        .store(Arc::new(MemoryStore::new()))
        .connect_timeout(connect_timeout)
        .retry(RetryConfig::fast(retries))
        .build()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openwebrx_retry_into_the_politeness_wait_is_not_a_connect_timeout() {
    let mock = MockOpenWebRx::start(MockConfig::default()).await.unwrap();
    let polite = Duration::from_millis(1500);
    let source = OpenWebRxBuilder::new(info("owrx", ReceiverKind::OpenWebRx, mock.url()))
        .with_politeness_interval(polite)
        .build()
        .unwrap();
    let source = Arc::new(FailFirst {
        inner: source,
        opens: AtomicU32::new(0),
    });
    // The engine's connect timeout (300 ms) is far shorter than the polite wait (1.5 s).
    let engine = engine(source.clone(), Duration::from_millis(300), 2);
    let t = Instant::now();
    let report = engine
        .acquire(AcquisitionRequest::new(145.1e6, Duration::from_millis(200)))
        .await
        .unwrap();
    let r = &report.receivers[0];
    assert_eq!(report.status, SessionStatus::Success, "{r:#?}");
    assert_eq!(r.attempts, 2, "{r:#?}");
    assert_eq!(source.opens.load(Ordering::SeqCst), 2);
    assert!(
        t.elapsed() >= polite,
        "the retry waited its polite slot: {:?}",
        t.elapsed()
    );
    let conns = mock.connections();
    assert_eq!(conns.len(), 2);
    let gap = conns[1].at - conns[0].at;
    assert!(gap >= polite - Duration::from_millis(50), "connections {gap:?} apart");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiwisdr_handshake_timeout_fires_not_the_engine_connect_timeout() {
    let mock = MockKiwi::start(MockKiwiConfig {
        behavior: KiwiBehavior::PasswordTimeout(Duration::from_secs(20)),
        ..MockKiwiConfig::default()
    })
    .await
    .unwrap();
    let handshake = Duration::from_millis(900);
    let source = KiwiSdrBuilder::new(info("kiwi", ReceiverKind::KiwiSdr, mock.url()))
        .with_handshake_timeout(handshake)
        .build()
        .unwrap();
    // Engine connect timeout 200 ms < KiwiSDR handshake timeout 900 ms: the Kiwi's fires.
    let engine = engine(Arc::new(source), Duration::from_millis(200), 0);
    let t = Instant::now();
    let report = engine
        .acquire(AcquisitionRequest::new(7.1e6, Duration::from_millis(200)))
        .await
        .unwrap();
    let r = &report.receivers[0];
    let e = r.error.as_ref().unwrap();
    assert_eq!(e.kind, "timeout", "{e:?}");
    assert!(
        e.message.contains("handshake"),
        "the KiwiSDR's own timeout: {}",
        e.message
    );
    assert!(t.elapsed() >= handshake, "{:?}", t.elapsed());
    assert!(t.elapsed() < Duration::from_secs(10), "{:?}", t.elapsed());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kiwisdr_slow_handshake_within_its_timeout_succeeds_past_the_engine_connect_timeout() {
    // The mock answers after a delay longer than the engine's connect timeout but well within
    // the Kiwi's handshake timeout: the capture succeeds.
    let mock = MockKiwi::start(MockKiwiConfig {
        frame_interval: Some(Duration::from_millis(40)),
        ..MockKiwiConfig::default()
    })
    .await
    .unwrap();
    let source = KiwiSdrBuilder::new(info("kiwi", ReceiverKind::KiwiSdr, mock.url()))
        .with_handshake_timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    let slow = Arc::new(Slow {
        inner: source,
        delay: Duration::from_millis(400),
    });
    let engine = engine(slow, Duration::from_millis(200), 0);
    let report = engine
        .acquire(AcquisitionRequest::new(7.1e6, Duration::from_millis(200)))
        .await
        .unwrap();
    assert_eq!(report.status, SessionStatus::Success, "{:#?}", report.receivers[0]);
}

/// Delays `open` (as a slow handshake would) inside the source's self-timed open.
#[derive(Debug)]
struct Slow<S> {
    inner: S,
    delay: Duration,
}

impl<S: std::fmt::Display> std::fmt::Display for Slow<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "slow {}", self.inner)
    }
}

#[async_trait]
impl<S: ReceiverSource> ReceiverSource for Slow<S> {
    fn info(&self) -> &ReceiverInfo {
        self.inner.info()
    }
    async fn health(&self) -> Result<ReceiverHealth> {
        self.inner.health().await
    }
    async fn open(&self, req: &CaptureRequest, cancel: CancellationToken) -> Result<CaptureStream> {
        tokio::time::sleep(self.delay).await;
        self.inner.open(req, cancel).await
    }
    fn self_timed_open(&self) -> Option<Duration> {
        self.inner.self_timed_open()
    }
}
