//! Queue overhead on NATS JetStream, side by side with the in-process queue:
//!
//! - submit-to-start latency: a job is submitted while a worker waits on its delivery stream;
//!   the time from just before `submit` to the delivery in the worker's hands (p50/p99 of N);
//! - drain: M jobs queued at once, then taken by 4 concurrent workers and acknowledged; every
//!   session must be delivered exactly once (none lost, none run twice).
//!
//! ```sh
//! cargo run --release -p heimdall-queue --example queue_bench -- [NATS_URL] [N] [M] [--json]
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use heimdall_core::queue::{DynWorkQueue, Job, MemoryQueue, WorkQueue};
use heimdall_core::{AcquisitionRequest, SessionId};
use heimdall_queue::NatsQueueBuilder;
use tokio::sync::Mutex;

fn job() -> Job {
    Job::new(AcquisitionRequest::new(145.5e6, Duration::from_secs(5)))
}

fn pct(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn latency(q: Arc<DynWorkQueue>, n: usize) -> (f64, f64) {
    let mut stream = q.deliveries("bench").await.expect("deliveries");
    let mut ms = Vec::with_capacity(n);
    for _ in 0..n {
        let j = job();
        let q2 = q.clone();
        let t = Instant::now();
        let submit = tokio::spawn(async move { q2.submit(&j).await });
        let d = stream.next().await.expect("a delivery").expect("delivery ok");
        ms.push(t.elapsed().as_secs_f64() * 1e3);
        submit.await.expect("task").expect("submit");
        d.ack().await.expect("ack");
    }
    (pct(&mut ms, 0.5), pct(&mut ms, 0.99))
}

async fn drain(q: Arc<DynWorkQueue>, m: usize) -> (f64, usize, usize) {
    let mut want = HashSet::new();
    for _ in 0..m {
        let j = job();
        want.insert(j.session_id);
        q.submit(&j).await.expect("submit");
    }
    let seen: Arc<Mutex<Vec<SessionId>>> = Arc::new(Mutex::new(Vec::new()));
    let t = Instant::now();
    let mut tasks = Vec::new();
    for w in 0..4 {
        let (q, seen) = (q.clone(), seen.clone());
        tasks.push(tokio::spawn(async move {
            let mut s = q.deliveries(&format!("w{w}")).await.expect("deliveries");
            while let Ok(Some(Ok(d))) = tokio::time::timeout(Duration::from_secs(6), s.next()).await {
                seen.lock().await.push(d.job().session_id);
                d.ack().await.expect("ack");
                if seen.lock().await.len() >= m {
                    break;
                }
            }
        }));
    }
    let mut done = false;
    while !done {
        tokio::time::sleep(Duration::from_millis(20)).await;
        done = seen.lock().await.len() >= m || t.elapsed() > Duration::from_secs(120);
    }
    let secs = t.elapsed().as_secs_f64();
    for t in tasks {
        t.abort();
    }
    let seen = seen.lock().await.clone();
    let unique: HashSet<SessionId> = seen.iter().copied().collect();
    let lost = want.difference(&unique).count();
    let twice = seen.len() - unique.len();
    (secs, lost, twice)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let json = args.iter().any(|a| a == "--json");
    let pos: Vec<&String> = args.iter().filter(|a| !a.starts_with("--")).collect();
    let url = pos
        .first()
        .map(|s| s.to_string())
        .unwrap_or_else(|| "nats://127.0.0.1:4222".into());
    let n: usize = pos.get(1).and_then(|s| s.parse().ok()).unwrap_or(200);
    let m: usize = pos.get(2).and_then(|s| s.parse().ok()).unwrap_or(1000);
    let ns = format!("bench-{}", &SessionId::new().as_uuid().simple().to_string()[20..]);
    let nats: Arc<DynWorkQueue> = Arc::new(
        NatsQueueBuilder::new(&url)
            .namespace(&ns)
            .connect()
            .await
            .expect("NATS with JetStream at the URL"),
    );
    let memory: Arc<DynWorkQueue> = Arc::new(MemoryQueue::new());
    let (n50, n99) = latency(nats.clone(), n).await;
    let (m50, m99) = latency(memory.clone(), n).await;
    let (nsecs, nlost, ntwice) = drain(nats, m).await;
    let (msecs, mlost, mtwice) = drain(memory, m).await;
    if json {
        println!(
            "{}",
            serde_json::json!({
                "latency_ms": {"nats": {"p50": n50, "p99": n99}, "memory": {"p50": m50, "p99": m99}, "n": n},
                "drain": {"jobs": m,
                          "nats": {"seconds": nsecs, "jobs_per_s": m as f64 / nsecs, "lost": nlost, "twice": ntwice},
                          "memory": {"seconds": msecs, "jobs_per_s": m as f64 / msecs, "lost": mlost, "twice": mtwice}}
            })
        );
    } else {
        println!(
            "submit-to-start latency over {n} jobs: NATS p50 {n50:.2} ms, p99 {n99:.2} ms (in-process: p50 {m50:.3} ms, p99 {m99:.3} ms)"
        );
        println!(
            "drain of {m} queued jobs by 4 workers: NATS {nsecs:.2} s ({:.0} jobs/s), lost {nlost}, run twice {ntwice}; in-process {msecs:.3} s, lost {mlost}, twice {mtwice}",
            m as f64 / nsecs
        );
    }
}
