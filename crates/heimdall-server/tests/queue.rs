//! The service with a work queue (`--queue`): acquisitions are submitted, a worker runs them,
//! the service reports status from the session's events and the database, and any API process
//! sharing the queue and the database follows and cancels them. On the in-process queue, and on
//! NATS JetStream (127.0.0.1:4222 or `HEIMDALL_TEST_NATS_URL`; required under `CI=true`).
#![allow(clippy::print_stderr)]

use std::sync::Arc;
use std::time::Duration;

use heimdall_core::engine::Engine;
use heimdall_core::queue::{DynWorkQueue, MemoryQueue, Worker};
use heimdall_core::{MeasurementQuery, MetricQuery, ReceiverSource, SessionId, SessionStatus};
use heimdall_server::backends::{open_database, open_store};
use heimdall_server::state::transmitter;
use heimdall_server::{AppState, serve};
use heimdall_storage::{ArchiveFormat, ArchiveSink};
use heimdall_tsdb::Tsdb;
use heimdall_websdr::simulated::{Pacing, SimulatedNetwork, SimulatedReceiver};
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

/// Upper bound for anything a test waits for (a safety net, never a way to wait).
const LIMIT: Duration = Duration::from_secs(120);
const FREQ_HZ: f64 = 145.5e6;

/// One archive and one database shared by API processes and workers, like a deployment.
struct Backends {
    _dir: tempfile::TempDir,
    sink: ArchiveSink,
    db: Arc<Tsdb>,
}

async fn backends() -> Backends {
    let dir = tempfile::tempdir().unwrap();
    let store = format!("file://{}", dir.path().join("archive").display());
    let sink = open_store(Some(&store), &[], ArchiveFormat::Npy).unwrap();
    let db = open_database(Some(&dir.path().join("heimdall.db").display().to_string()))
        .await
        .unwrap();
    Backends {
        _dir: dir,
        sink,
        db: Arc::new(db),
    }
}

/// An API process on 127.0.0.1:0 submitting to `queue`; returns its base URL and state.
async fn api(b: &Backends, queue: Arc<DynWorkQueue>) -> (String, AppState) {
    let app = AppState::new(b.sink.clone(), b.db.clone(), Pacing::AsFastAsPossible, 7);
    app.set_queue(queue).unwrap();
    app.init_registry(None).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(
        listener,
        app.clone(),
        futures::future::pending::<()>(),
        Duration::ZERO,
    ));
    (base, app)
}

/// A worker running the simulated reference network from `queue` until `stop`.
fn worker(b: &Backends, queue: Arc<DynWorkQueue>, pacing: Pacing, stop: CancellationToken) {
    let sources: Vec<Arc<dyn ReceiverSource>> = SimulatedNetwork::reference_receivers()
        .into_iter()
        .map(|mut c| {
            c.pacing = pacing;
            Arc::new(SimulatedReceiver::new(c, Arc::new(transmitter(FREQ_HZ)), 7)) as Arc<dyn ReceiverSource>
        })
        .collect();
    let engine = Engine::builder()
        .concurrency(sources.len())
        .sources(sources)
        .sink(Arc::new(b.sink.clone()))
        .store(b.db.clone())
        .build()
        .unwrap();
    let w = Worker::builder()
        .engine(engine)
        .queue(queue)
        .archive(Arc::new(b.sink.clone()))
        .store(b.db.clone())
        .name("test-worker")
        .build()
        .unwrap();
    tokio::spawn(async move { w.run(stop).await });
}

async fn rows_of(b: &Backends, id: SessionId) -> Vec<heimdall_core::Measurement> {
    let q = MeasurementQuery {
        session: Some(id),
        ..Default::default()
    };
    b.db.measurements(&q).await.unwrap()
}

async fn submit(base: &str, duration_s: f64) -> SessionId {
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/acquisitions"))
        .json(&json!({"frequency_mhz": FREQ_HZ / 1e6, "duration_seconds": duration_s}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "PENDING");
    v["session_id"].as_str().unwrap().parse().unwrap()
}

async fn status(base: &str, id: SessionId) -> Value {
    let r = reqwest::get(format!("{base}/api/v1/acquisitions/{id}")).await.unwrap();
    assert_eq!(r.status(), 200);
    r.json().await.unwrap()
}

/// The SSE stream of a session, to its end: (event name, data) in order.
async fn events(base: &str, id: SessionId) -> Vec<(String, Value)> {
    let r = reqwest::get(format!("{base}/api/v1/acquisitions/{id}/events"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let text = tokio::time::timeout(LIMIT, r.text())
        .await
        .expect("the event stream did not end")
        .unwrap();
    let mut out = Vec::new();
    for block in text.split("\n\n") {
        let mut name = None;
        let mut data = None;
        for line in block.lines() {
            if let Some(v) = line.strip_prefix("event:") {
                name = Some(v.trim().to_owned());
            } else if let Some(v) = line.strip_prefix("data:") {
                data = Some(serde_json::from_str::<Value>(v.trim()).unwrap());
            }
        }
        if let (Some(n), Some(d)) = (name, data) {
            out.push((n, d));
        }
    }
    out
}

/// Waits until the status of `id` at `base` is final; returns it.
async fn final_status(base: &str, id: SessionId) -> Value {
    tokio::time::timeout(LIMIT, async {
        loop {
            let s = status(base, id).await;
            if !matches!(s["status"].as_str(), Some("PENDING" | "PROGRESS")) {
                return s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("the session did not finish")
}

/// Submit, see PENDING (no worker yet, recorded `queued` in the database), let a worker run it,
/// follow its events from the submitting process and from another one, read SUCCESS and the
/// rows; cancel a queued job and see no worker run it.
async fn queued_acquisitions(queue: Arc<DynWorkQueue>) {
    let b = backends().await;
    let (base, app) = api(&b, queue.clone()).await;
    let (other, _) = api(&b, queue.clone()).await;

    // Queued, no worker: PENDING here and in the other API process (from the database).
    let id = submit(&base, 2.0).await;
    assert_eq!(status(&base, id).await["status"], "PENDING");
    let there = status(&other, id).await;
    assert_eq!(there["status"], "PENDING", "{there}");
    assert_eq!(there["source"], "database");
    assert_eq!(b.db.session(id).await.unwrap().unwrap().status, SessionStatus::Queued);

    // The other process follows it through the queue's events while a worker runs it.
    let follow_here = tokio::spawn({
        let base = base.clone();
        async move { events(&base, id).await }
    });
    let follow_there = tokio::spawn({
        let other = other.clone();
        async move { events(&other, id).await }
    });
    // Let both subscribe before anything happens.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let stop = CancellationToken::new();
    worker(&b, queue.clone(), Pacing::RealTime, stop.clone());

    for (who, evs) in [
        ("submitter", follow_here.await.unwrap()),
        ("other", follow_there.await.unwrap()),
    ] {
        let names: Vec<&str> = evs.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.last(), Some(&"session_finished"), "{who}: {names:?}");
        assert_eq!(
            names.iter().filter(|n| **n == "session_finished").count(),
            1,
            "{who}: {names:?}"
        );
        assert!(names.contains(&"job_started"), "{who}: {names:?}");
        assert!(names.contains(&"capture_finished"), "{who}: {names:?}");
        let (_, last) = evs.last().unwrap();
        assert_eq!(last["report"]["status"], "success", "{who}: {last}");
        assert_eq!(last["report"]["committed"], true, "{who}");
    }
    let done = final_status(&base, id).await;
    assert_eq!(done["status"], "SUCCESS", "{done}");
    assert_eq!(done["measurements_collected"], 7, "{done}");
    assert_eq!(final_status(&other, id).await["status"], "SUCCESS");
    let rows = rows_of(&b, id).await;
    assert_eq!(rows.len(), 7);

    // A queued job cancelled before any worker is free: removed, recorded CANCELLED, never run.
    stop.cancel();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let id2 = submit(&base, 1.0).await;
    let r = reqwest::Client::new()
        .delete(format!("{base}/api/v1/acquisitions/{id2}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.unwrap();
    assert_eq!(v["status"], "CANCELLED", "{v}");
    assert_eq!(status(&other, id2).await["status"], "CANCELLED");
    // Submitted through one process, cancelled through the other (it does not follow it).
    let id3 = submit(&base, 1.0).await;
    let r = reqwest::Client::new()
        .delete(format!("{other}/api/v1/acquisitions/{id3}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(final_status(&base, id3).await["status"], "CANCELLED");

    let stop = CancellationToken::new();
    worker(&b, queue.clone(), Pacing::AsFastAsPossible, stop.clone());
    tokio::time::sleep(Duration::from_millis(500)).await;
    stop.cancel();
    for s in [id2, id3] {
        let rec = b.db.session(s).await.unwrap().unwrap();
        assert_eq!(rec.status, SessionStatus::Cancelled, "{s}");
        assert!(rows_of(&b, s).await.is_empty());
    }
    let health: Value = reqwest::get(format!("{base}/health"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["queue"]["ok"], true, "{health}");
    drop(app);
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_acquisitions_on_the_in_process_queue() {
    queued_acquisitions(Arc::new(MemoryQueue::new())).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn queued_acquisitions_on_nats() {
    let url = std::env::var("HEIMDALL_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into());
    let ns = format!("srv{}", &SessionId::new().as_uuid().simple().to_string()[20..]);
    match heimdall_queue::NatsQueueBuilder::new(&url)
        .namespace(ns)
        .connect()
        .await
    {
        Ok(q) => queued_acquisitions(Arc::new(q)).await,
        Err(e) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(!ci, "CI=true but NATS at {url} is not usable: {e}");
            eprintln!("\n*** SKIPPED: NATS at {url} is not usable ({e}); set HEIMDALL_TEST_NATS_URL ***\n");
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_dead_queue_is_503_and_nothing_stays_pending() {
    // A NATS queue whose server is gone: submissions are refused, /health names the queue.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tempfile::tempdir().unwrap();
    let mut nats = match std::process::Command::new("nats-server")
        .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
        .arg(dir.path())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
    {
        Ok(c) => c,
        Err(e) => {
            let ci = std::env::var("CI").is_ok_and(|v| v == "true" || v == "1");
            assert!(!ci, "CI=true but nats-server cannot be started: {e}");
            eprintln!("\n*** SKIPPED: nats-server not available ({e}) ***\n");
            return;
        }
    };
    let url = format!("nats://127.0.0.1:{port}");
    let queue = tokio::time::timeout(LIMIT, async {
        loop {
            match heimdall_queue::NatsQueueBuilder::new(&url)
                .namespace("dead")
                .connect()
                .await
            {
                Ok(q) => return q,
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    })
    .await
    .expect("the private nats-server did not start");
    let b = backends().await;
    let (base, _app) = api(&b, Arc::new(queue)).await;
    nats.kill().unwrap();
    nats.wait().unwrap();
    let r = reqwest::Client::new()
        .post(format!("{base}/api/v1/acquisitions"))
        .json(&json!({"frequency_mhz": 145.5, "duration_seconds": 1}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers().get("retry-after").map(|v| v.to_str().unwrap()), Some("5"));
    let v: Value = r.json().await.unwrap();
    assert!(v["detail"].as_str().unwrap().contains("work queue"), "{v}");
    // No session was left recorded as queued.
    let sessions = b.db.recent_sessions(100).await.unwrap();
    assert!(
        sessions.iter().all(|s| s.status.is_final()),
        "{:?}",
        sessions.iter().map(|s| s.status).collect::<Vec<_>>()
    );
    let r = reqwest::get(format!("{base}/health")).await.unwrap();
    assert_eq!(r.status(), 503);
    let health: Value = r.json().await.unwrap();
    assert_eq!(health["queue"]["ok"], false, "{health}");
}
