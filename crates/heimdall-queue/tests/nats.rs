//! The NATS JetStream queue against a real server: the one on 127.0.0.1:4222 (or
//! `HEIMDALL_TEST_NATS_URL`) for the queue contract, and a private `nats-server -js` this test
//! starts and kills for the broker-restart case. Each test uses its own namespace.
#![allow(clippy::print_stderr)]

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use heimdall_core::queue::{Delivery, DeliveryStream, Job, JobEvent, WorkQueue};
use heimdall_core::{AcquisitionRequest, SessionId};
use heimdall_queue::{NatsQueue, NatsQueueBuilder};

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn url() -> String {
    std::env::var("HEIMDALL_TEST_NATS_URL").unwrap_or_else(|_| "nats://127.0.0.1:4222".into())
}

fn namespace(test: &str) -> String {
    format!("t{}-{test}", &uuid_like()[..12])
}

fn uuid_like() -> String {
    SessionId::new().as_uuid().simple().to_string()[20..].to_owned()
}

/// A queue on the test server, or `None` (loudly skipped outside CI, a failure under CI).
async fn queue(test: &str, tune: impl FnOnce(NatsQueueBuilder) -> NatsQueueBuilder) -> Option<NatsQueue> {
    match tune(NatsQueueBuilder::new(url()).namespace(namespace(test)))
        .connect()
        .await
    {
        Ok(q) => Some(q),
        Err(e) => {
            assert!(!ci(), "CI=true but NATS at {} is not usable: {e}", url());
            eprintln!(
                "\n*** SKIPPED {test}: NATS at {} is not usable ({e}); set HEIMDALL_TEST_NATS_URL ***\n",
                url()
            );
            None
        }
    }
}

fn job() -> Job {
    Job::new(AcquisitionRequest::new(145.5e6, Duration::from_secs(1)))
}

async fn next(stream: &mut DeliveryStream, within: Duration) -> Option<Box<dyn Delivery>> {
    match tokio::time::timeout(within, stream.next()).await {
        Ok(Some(Ok(d))) => Some(d),
        Ok(Some(Err(e))) => panic!("delivery failed: {e}"),
        Ok(None) | Err(_) => None,
    }
}

#[tokio::test]
async fn submit_is_deduplicated_and_an_ack_is_final() {
    let Some(q) = queue("dedup", |b| b.ack_wait(Duration::from_secs(2))).await else {
        return;
    };
    let j = job();
    assert!(!q.submit(&j).await.unwrap().duplicate);
    assert!(
        q.submit(&j).await.unwrap().duplicate,
        "Nats-Msg-Id must drop the second submission"
    );
    assert_eq!(q.pending().await.unwrap(), 1);
    let mut s = q.deliveries("w").await.unwrap();
    let d = next(&mut s, Duration::from_secs(10)).await.expect("a delivery");
    assert_eq!(d.job(), &j);
    assert_eq!(d.delivery(), 1);
    d.ack().await.unwrap();
    // Acknowledged: gone for good, even after the ack wait.
    assert!(next(&mut s, Duration::from_secs(4)).await.is_none());
    assert_eq!(q.pending().await.unwrap(), 0);
}

#[tokio::test]
async fn nack_redelivers_after_its_delay_and_terminate_is_final() {
    let Some(q) = queue("nack", |b| b.ack_wait(Duration::from_secs(5)).max_deliver(3)).await else {
        return;
    };
    let j = job();
    q.submit(&j).await.unwrap();
    let mut s = q.deliveries("w").await.unwrap();
    let d = next(&mut s, Duration::from_secs(10)).await.unwrap();
    let t = std::time::Instant::now();
    d.nack(Duration::from_millis(1500)).await.unwrap();
    let d = next(&mut s, Duration::from_secs(10)).await.expect("redelivered");
    assert!(
        t.elapsed() >= Duration::from_millis(1400),
        "redelivered after {:?}",
        t.elapsed()
    );
    assert_eq!(
        (d.job().session_id, d.delivery(), d.max_deliveries()),
        (j.session_id, 2, 3)
    );
    d.terminate("poison for the test").await.unwrap();
    assert!(
        next(&mut s, Duration::from_secs(7)).await.is_none(),
        "a terminated job came back"
    );
}

#[tokio::test]
async fn heartbeats_hold_a_job_and_silence_loses_it_to_another_worker() {
    let Some(q) = queue("heartbeat", |b| b.ack_wait(Duration::from_secs(2))).await else {
        return;
    };
    let j = job();
    q.submit(&j).await.unwrap();
    let mut w1 = q.deliveries("w1").await.unwrap();
    let mut w2 = q.deliveries("w2").await.unwrap();
    let d = next(&mut w1, Duration::from_secs(10)).await.unwrap();
    assert!(
        d.heartbeat_interval() < Duration::from_secs(1),
        "{:?}",
        d.heartbeat_interval()
    );
    // 5 s of heartbeats (2.5 ack waits): nobody else gets the job.
    let other = tokio::spawn(async move {
        let got = next(&mut w2, Duration::from_secs(5)).await;
        (got.map(|d| d.job().session_id), w2)
    });
    for _ in 0..8 {
        d.progress().await.unwrap();
        tokio::time::sleep(Duration::from_millis(600)).await;
    }
    let (stolen, mut w2) = other.await.unwrap();
    assert_eq!(stolen, None, "a job with heartbeats was redelivered");
    // The worker goes silent (it died): after the ack wait another worker gets the job.
    drop(d);
    let d2 = next(&mut w2, Duration::from_secs(10))
        .await
        .expect("redelivered to the other worker");
    assert_eq!((d2.job().session_id, d2.delivery()), (j.session_id, 2));
    d2.ack().await.unwrap();
}

#[tokio::test]
async fn cancel_removes_a_queued_job_and_reaches_a_running_one() {
    let Some(q) = queue("cancel", |b| b).await else {
        return;
    };
    let (queued, running) = (job(), job());
    q.submit(&running).await.unwrap();
    let mut s = q.deliveries("w").await.unwrap();
    let d = next(&mut s, Duration::from_secs(10)).await.unwrap();
    assert_eq!(d.job().session_id, running.session_id);
    q.submit(&queued).await.unwrap();
    assert!(q.cancel(queued.session_id).await.unwrap().removed);
    let token = d.cancelled();
    assert!(!token.is_cancelled());
    q.cancel(running.session_id).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), token.cancelled())
        .await
        .expect("the running job's worker hears the cancellation");
    d.ack().await.unwrap();
    assert!(
        next(&mut s, Duration::from_secs(6)).await.is_none(),
        "the cancelled job was delivered"
    );
}

#[tokio::test]
async fn events_of_a_session_reach_every_subscriber_and_malformed_jobs_are_dropped() {
    let Some(q) = queue("events", |b| b).await else {
        return;
    };
    let j = job();
    let mut a = q.subscribe(j.session_id).await.unwrap();
    let mut b = q.subscribe(j.session_id).await.unwrap();
    // A message that is not a job (another program on the subject) is terminated, never
    // delivered; the real job behind it is.
    q.client()
        .publish(
            format!("{}.jobs.{}", q.namespace(), SessionId::new()),
            "not json".into(),
        )
        .await
        .unwrap();
    q.submit(&j).await.unwrap();
    for sub in [&mut a, &mut b] {
        let ev = tokio::time::timeout(Duration::from_secs(5), sub.next())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            ev,
            JobEvent::Queued {
                session_id: j.session_id
            }
        );
    }
    let mut s = q.deliveries("w").await.unwrap();
    let d = next(&mut s, Duration::from_secs(10)).await.unwrap();
    assert_eq!(d.job(), &j);
    d.ack().await.unwrap();
}

/// A private broker this test may kill: `nats-server -js -p PORT -sd DIR`.
struct Broker {
    child: Option<Child>,
    dir: tempfile::TempDir,
}

impl Broker {
    fn start(port: u16, dir: tempfile::TempDir) -> Option<Broker> {
        let child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", &port.to_string(), "-sd"])
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match child {
            Ok(c) => Some(Broker { child: Some(c), dir }),
            Err(e) => {
                assert!(!ci(), "CI=true but nats-server cannot be started: {e}");
                eprintln!("\n*** SKIPPED broker restart test: nats-server not found ({e}) ***\n");
                None
            }
        }
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

async fn connect_retrying(port: u16, ns: &str) -> NatsQueue {
    for _ in 0..50 {
        if let Ok(q) = NatsQueueBuilder::new(format!("nats://127.0.0.1:{port}"))
            .namespace(ns)
            .ack_wait(Duration::from_secs(2))
            .connect()
            .await
        {
            return q;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the private nats-server on {port} did not come up");
}

#[tokio::test]
async fn jobs_survive_a_broker_restart_and_clients_reconnect() {
    let port = free_port();
    let Some(mut broker) = Broker::start(port, tempfile::tempdir().unwrap()) else {
        return;
    };
    let ns = namespace("restart");
    let q = Arc::new(connect_retrying(port, &ns).await);
    let jobs: Vec<Job> = (0..3).map(|_| job()).collect();
    for j in &jobs {
        q.submit(j).await.unwrap();
    }
    // Killed without warning, restarted on the same store: the queue is still there, and the
    // client that was connected before reconnects by itself.
    broker.kill();
    let dir = std::mem::replace(&mut broker.dir, tempfile::tempdir().unwrap());
    let _broker2 = Broker::start(port, dir).unwrap();
    let mut s = q.deliveries("w").await.unwrap();
    let mut got = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while got.len() < jobs.len() && std::time::Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_secs(10), s.next()).await {
            Ok(Some(Ok(d))) => {
                got.push(d.job().session_id);
                d.ack().await.unwrap();
            }
            Ok(Some(Err(_))) => tokio::time::sleep(Duration::from_millis(300)).await,
            _ => {}
        }
    }
    got.sort();
    let mut want: Vec<SessionId> = jobs.iter().map(|j| j.session_id).collect();
    want.sort();
    assert_eq!(got, want, "jobs lost or duplicated across the restart");
}
