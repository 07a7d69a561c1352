//! Storage benchmark of [`heimdall_storage::ArchiveSink`] against an S3-compatible server.
//!
//! ```text
//! eval "$(scripts/s3.sh env)"
//! cargo run --release -p heimdall-storage --example storage_bench -- small 20
//! cargo run --release -p heimdall-storage --example storage_bench -- large 5
//! /usr/bin/time -v target/release/examples/storage_bench stream 1024
//! target/release/examples/storage_bench readback 1024
//! ```
//!
//! Modes (the URL comes from `HEIMDALL_BENCH_URL`, else `HEIMDALL_TEST_S3_URL`, plus a fresh prefix):
//! - `small [rounds]`: 7 captures of 512 KiB stored concurrently (`.npy` + `_metadata.json` each);
//!   prints the median and best wall time of a round.
//! - `large [rounds]`: 7 captures of 32 MiB stored concurrently; prints aggregate MB/s.
//! - `stream [MiB]`: one capture of that size streamed in 1 MiB chunks; prints the resident
//!   memory before and the peak after (`VmRSS` / `VmHWM` from /proc/self/status).
//! - `readback [MiB]`: one committed capture of that size read back with
//!   `IqArchive::stream_capture` (checksum verified); prints MB/s and the peak resident memory
//!   above the baseline while reading (the peak is reset after writing, via /proc/self/clear_refs).
//!
//! Everything written is deleted at the end.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use heimdall_core::testkit::{test_capture_info, test_summary};
use heimdall_core::{
    CaptureChunk, Complex32, IqArchive, IqSink, ReceiverReport, ReceiverStatus, SampleBlock, SampleFormat,
    SessionAttempt, SessionId, SessionReport, SessionStatus, StoredObject,
};
use heimdall_storage::{ArchiveBuilder, ArchiveFormat, ArchiveSink};

fn proc_status(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn block(n: usize, seed: usize) -> SampleBlock {
    SampleBlock::Complex(
        (0..n)
            .map(|k| Complex32::new((k + seed) as f32, -((k ^ seed) as f32)))
            .collect(),
    )
}

/// The largest chunk the modes write (1 MiB of complex64).
const TEMPLATE_SAMPLES: usize = 1024 * 1024 / 8;

/// The data every capture is cut from, made once before the memory baseline is read (as the
/// boto3 peer makes its `.npy` bytes before its baseline).
fn template() -> Arc<[Complex32]> {
    match block(TEMPLATE_SAMPLES, 0) {
        SampleBlock::Complex(v) => v.into(),
        SampleBlock::Real(_) => Arc::from(Vec::new()),
    }
}

/// Stores one capture of `bytes` bytes (complex64), in chunks of `chunk_bytes` (at most 1 MiB).
async fn store(
    sink: &ArchiveSink,
    session: &SessionAttempt,
    rx: &str,
    template: &[Complex32],
    bytes: usize,
    chunk_bytes: usize,
) -> Vec<StoredObject> {
    let n = bytes / 8;
    let info = test_capture_info(rx, SampleFormat::ComplexF32, n as u64);
    let mut w = sink.begin_capture(session, &info).await.expect("begin");
    let per = (chunk_bytes / 8).clamp(1, template.len());
    let mut done = 0;
    while done < n {
        let m = per.min(n - done);
        // A source hands over a fresh buffer per chunk: a copy of the template.
        let chunk = SampleBlock::Complex(template.get(..m).unwrap_or(template).to_vec());
        w.write(CaptureChunk::Samples(chunk)).await.expect("write");
        done += m;
    }
    w.finish(&test_summary(&info, n as u64), None).await.expect("finish")
}

async fn round(
    sink: &ArchiveSink,
    template: &Arc<[Complex32]>,
    bytes: usize,
    chunk: usize,
) -> (Duration, SessionAttempt) {
    let session = SessionAttempt::new(SessionId::new());
    let t = Instant::now();
    let futs = (0..7).map(|i| {
        let sink = sink.clone();
        let rx = format!("websdr_{i}");
        let session = session.clone();
        let template = Arc::clone(template);
        tokio::spawn(async move {
            store(&sink, &session, &rx, &template, bytes, chunk).await;
        })
    });
    for f in futures::future::join_all(futs).await {
        f.expect("task");
    }
    (t.elapsed(), session)
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let mode = args.get(1).map(String::as_str).unwrap_or("small");
    let arg: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(0);
    let base = std::env::var("HEIMDALL_BENCH_URL")
        .or_else(|_| std::env::var("HEIMDALL_TEST_S3_URL"))
        .expect("set HEIMDALL_BENCH_URL or HEIMDALL_TEST_S3_URL (eval \"$(scripts/s3.sh env)\")");
    let format: ArchiveFormat = std::env::var("HEIMDALL_BENCH_FORMAT")
        .ok()
        .and_then(|f| f.parse().ok())
        .unwrap_or(ArchiveFormat::Npy);
    let url = format!("{}/bench-{}", base.trim_end_matches('/'), uuid::Uuid::new_v4().simple());
    // Extra builder options, e.g. HEIMDALL_BENCH_OPTS="part_size=16777216,max_concurrency=4".
    let opts: Vec<(String, String)> = std::env::var("HEIMDALL_BENCH_OPTS")
        .unwrap_or_default()
        .split(',')
        .filter_map(|kv| {
            kv.split_once('=')
                .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        })
        .collect();
    let sink = ArchiveBuilder::from_url(&url)
        .with_format(format)
        .with_options(opts)
        .build()
        .expect("sink");
    sink.health().await.expect("health");
    let template = template();
    let mut sessions = Vec::new();
    match mode {
        "small" | "large" => {
            let (bytes, rounds, chunk) = if mode == "small" {
                (512 * 1024, if arg == 0 { 20 } else { arg }, 64 * 1024)
            } else {
                (32 * 1024 * 1024, if arg == 0 { 5 } else { arg }, 1024 * 1024)
            };
            // The baseline of "memory above baseline": the process before any capture is stored.
            let base_rss = proc_status("VmRSS:");
            // Warm-up (connections, allocator).
            sessions.push(round(&sink, &template, bytes, chunk).await.1);
            let mut ms = Vec::new();
            for _ in 0..rounds {
                let (d, s) = round(&sink, &template, bytes, chunk).await;
                sessions.push(s);
                ms.push(d.as_secs_f64() * 1e3);
            }
            let best = ms.iter().copied().fold(f64::INFINITY, f64::min);
            let med = median(&mut ms);
            let total_mb = 7.0 * bytes as f64 / 1e6;
            println!(
                "heimdall {mode}: 7 x {} KiB ({format}): median {med:.1} ms, best {best:.1} ms, aggregate {:.0} MB/s (median), {rounds} rounds",
                bytes / 1024,
                total_mb / (med / 1e3)
            );
            // One machine-readable line for benches/storage_peer/run.sh.
            println!(
                "RESULT peer=heimdall mode={mode} median_ms={med:.3} mb_s={:.3} baseline_kib={base_rss} peak_kib={}",
                total_mb / (med / 1e3),
                proc_status("VmHWM:")
            );
        }
        "stream" => {
            let mib = if arg == 0 { 1024 } else { arg };
            let base_rss = proc_status("VmRSS:");
            let base_hwm = proc_status("VmHWM:");
            let session = SessionAttempt::new(SessionId::new());
            let t = Instant::now();
            store(&sink, &session, "websdr_big", &template, mib * 1024 * 1024, 1024 * 1024).await;
            let d = t.elapsed();
            sessions.push(session);
            let peak = proc_status("VmHWM:");
            println!(
                "heimdall stream: {mib} MiB ({format}) in {:.2} s = {:.0} MB/s; RSS before {:.1} MiB (peak so far {:.1} MiB), peak after {:.1} MiB, peak - baseline = {:.1} MiB",
                d.as_secs_f64(),
                (mib * 1024 * 1024) as f64 / 1e6 / d.as_secs_f64(),
                base_rss as f64 / 1024.0,
                base_hwm as f64 / 1024.0,
                peak as f64 / 1024.0,
                (peak.saturating_sub(base_rss)) as f64 / 1024.0
            );
        }
        "readback" => {
            let mib = if arg == 0 { 1024 } else { arg };
            let attempt = sink.begin_session(SessionId::new()).await.expect("begin session");
            let session = attempt.session;
            let bytes = mib * 1024 * 1024;
            let objects = store(&sink, &attempt, "websdr_big", &template, bytes, 1024 * 1024).await;
            let info = test_capture_info("websdr_big", SampleFormat::ComplexF32, (bytes / 8) as u64);
            let now = chrono::Utc::now();
            let report = SessionReport {
                errors: Vec::new(),
                session_id: session,
                request: heimdall_core::AcquisitionRequest::new(145.5e6, Duration::from_secs(1)),
                status: SessionStatus::Success,
                started_at: now,
                finished_at: now,
                receivers: vec![ReceiverReport {
                    receiver: info.receiver.clone(),
                    status: ReceiverStatus::Recorded,
                    attempts: 1,
                    capture: Some(test_summary(&info, (bytes / 8) as u64)),
                    metrics: None,
                    objects,
                    error: None,
                    retried_errors: vec![],
                }],
                committed: false,
            };
            sink.commit_session(&attempt, &report).await.expect("commit");
            // Reset the peak (Linux: writing 5 to clear_refs resets VmHWM to the current RSS).
            let _ = std::fs::write("/proc/self/clear_refs", "5");
            let base_rss = proc_status("VmRSS:");
            let t = Instant::now();
            let mut s = sink.stream_capture(session, &info.receiver.id).await.expect("stream");
            let (mut samples, mut blocks) = (0u64, 0u64);
            while let Some(b) = s.samples.next().await {
                samples += b.expect("block").len() as u64;
                blocks += 1;
            }
            let d = t.elapsed();
            assert_eq!(samples, (bytes / 8) as u64);
            let peak = proc_status("VmHWM:");
            println!(
                "heimdall readback: {mib} MiB ({format}) in {:.2} s = {:.0} MB/s, {blocks} blocks, checksum verified; RSS before {:.1} MiB, peak while reading {:.1} MiB, peak - baseline = {:.1} MiB",
                d.as_secs_f64(),
                bytes as f64 / 1e6 / d.as_secs_f64(),
                base_rss as f64 / 1024.0,
                peak as f64 / 1024.0,
                peak.saturating_sub(base_rss) as f64 / 1024.0
            );
            // A committed session is not aborted by the sink: delete its objects directly.
            for key in sink.list_objects(session).await.expect("list") {
                let path = heimdall_storage::object_store::path::Path::from(key.as_str());
                let _ = heimdall_storage::object_store::ObjectStoreExt::delete(sink.store().as_ref(), &path).await;
            }
        }
        other => {
            eprintln!("unknown mode {other:?}: use small, large, stream or readback");
            std::process::exit(2);
        }
    }
    for s in sessions {
        sink.abort_session(&s).await.expect("clean up");
    }
}
