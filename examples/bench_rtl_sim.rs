//! Throughput and memory benchmark: one simulated rtl_tcp-like receiver, 2.4 MS/s complex,
//! through the engine (metrics analyser) into a local-disk archive (`.npy`).
//!
//! ```text
//! cargo build --release --example bench_rtl_sim
//! /usr/bin/time -v target/release/examples/bench_rtl_sim [seconds=60] [dir] [--sim-only]
//! ```
//!
//! Targets: peak resident memory ≤ 256 MB (`Maximum resident set size` of `/usr/bin/time -v`)
//! and ≥ 100 MS/s. `--sim-only` measures the simulator alone (no analysis, no storage);
//! `--null-sink` runs the engine (simulator + analyser) into a sink that discards the samples,
//! to separate the engine's cost from the archive's (hashing, file writes).
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use heimdall_core::engine::Engine;
use heimdall_core::memory::MemoryStore;
use heimdall_core::{
    AcquisitionRequest, CaptureChunk, CaptureInfo, CaptureRequest, CaptureSummary, CaptureWriter, GeoPosition, IqSink,
    ReceiverSource, ReceiverSourceExt, SessionAttempt, SessionId, SessionReport, SignalMetrics, StoredObject,
};
use heimdall_storage::{ArchiveBuilder, ArchiveFormat};
use heimdall_websdr::simulated::{Clock, Modulation, SimulatedReceiver, SimulatedReceiverConfig, Transmitter};

const RATE: f64 = 2.4e6;
const FREQ: f64 = 433.92e6;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let sim_only = args.iter().any(|a| a == "--sim-only");
    let null_sink = args.iter().any(|a| a == "--null-sink");
    let mut pos = args.iter().filter(|a| !a.starts_with("--"));
    let seconds: f64 = pos.next().map(|s| s.parse()).transpose()?.unwrap_or(60.0);
    let dir = match pos.next() {
        Some(d) => tempfile::Builder::new().prefix("heimdall-bench-").tempdir_in(d)?,
        None => tempfile::Builder::new().prefix("heimdall-bench-").tempdir()?,
    };

    let tx = Transmitter::new(
        GeoPosition::new(45.06, 7.68, Some(300.0))?,
        FREQ + 125_000.0,
        10.0,
        Modulation::bursts(Duration::from_millis(20), Duration::from_millis(80)),
    );
    let mut cfg = SimulatedReceiverConfig::new("rtl-sim", GeoPosition::new(45.044, 7.672, Some(250.0))?);
    cfg.sample_rate_hz = RATE;
    cfg.noise_figure_db = 8.0;
    cfg.lo_ppm = 12.0;
    cfg.clock = Clock::Host {
        jitter: Duration::from_millis(2),
    };
    let rx: Arc<dyn ReceiverSource> = Arc::new(SimulatedReceiver::new(cfg, Arc::new(tx), 1));
    let req = AcquisitionRequest::new(FREQ, Duration::from_secs_f64(seconds));

    if sim_only {
        let t = Instant::now();
        let mut s = rx
            .open_uncancellable(&CaptureRequest::from_request(SessionId::new(), &req))
            .await?;
        let mut n = 0u64;
        while let Some(c) = s.chunks.next().await {
            if let heimdall_core::CaptureChunk::Samples(b) = c? {
                n += b.len() as u64;
            }
        }
        let el = t.elapsed().as_secs_f64();
        println!(
            "simulator only: {n} samples in {el:.3} s = {:.1} MS/s",
            n as f64 / el / 1e6
        );
        return Ok(());
    }

    let sink: Arc<dyn IqSink> = if null_sink {
        Arc::new(NullSink)
    } else {
        Arc::new(
            ArchiveBuilder::from_url(dir.path().to_str().unwrap_or("."))
                .with_format(ArchiveFormat::Npy)
                .build()?,
        )
    };
    let engine = Engine::builder()
        .source(rx)
        .sink(sink)
        .store(Arc::new(MemoryStore::new()))
        .build()?;
    let t = Instant::now();
    let out = engine.acquire_detailed(req).await?;
    let el = t.elapsed().as_secs_f64();
    let r = &out.report.receivers[0];
    let samples = r.capture.as_ref().map_or(0, |c| c.samples);
    let bytes: u64 = r.objects.iter().map(|o| o.size).sum();
    println!("status: {} ({})", out.report.status.as_str(), r.status.as_str());
    if let Some(e) = &r.error {
        println!("error: {e}");
    }
    println!(
        "{samples} samples ({:.2} GB to the sink) in {el:.3} s = {:.1} MS/s",
        bytes as f64 / 1e9,
        samples as f64 / el / 1e6
    );
    if let Some(m) = r.metrics {
        println!(
            "metrics: snr {:?} dB, offset {:?} Hz, signal {:?} dBFS",
            m.snr_db, m.frequency_offset_hz, m.signal_power_dbfs
        );
    }
    Ok(())
}

/// Discards everything (measures the engine without the archive).
#[derive(Debug)]
struct NullSink;

impl std::fmt::Display for NullSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("null sink")
    }
}

#[derive(Debug)]
struct NullWriter(u64);

#[heimdall_core::async_trait]
impl CaptureWriter for NullWriter {
    async fn write(&mut self, chunk: CaptureChunk) -> heimdall_core::Result<()> {
        if let CaptureChunk::Samples(b) = chunk {
            self.0 += b.len() as u64 * 8;
        }
        Ok(())
    }
    async fn finish(
        self: Box<Self>,
        _summary: &CaptureSummary,
        _metrics: Option<&SignalMetrics>,
    ) -> heimdall_core::Result<Vec<StoredObject>> {
        Ok(vec![StoredObject {
            key: "null".into(),
            size: self.0,
            sha256: String::new(),
            content_type: "application/octet-stream".into(),
        }])
    }
    async fn abort(self: Box<Self>) -> heimdall_core::Result<()> {
        Ok(())
    }
}

#[heimdall_core::async_trait]
impl IqSink for NullSink {
    async fn begin_session(&self, session: SessionId) -> heimdall_core::Result<SessionAttempt> {
        Ok(SessionAttempt::new(session))
    }
    async fn begin_capture(
        &self,
        _attempt: &SessionAttempt,
        _info: &CaptureInfo,
    ) -> heimdall_core::Result<Box<dyn CaptureWriter>> {
        Ok(Box::new(NullWriter(0)))
    }
    async fn commit_session(
        &self,
        _attempt: &SessionAttempt,
        _report: &SessionReport,
    ) -> heimdall_core::Result<StoredObject> {
        Ok(StoredObject {
            key: "manifest".into(),
            size: 0,
            sha256: String::new(),
            content_type: "application/json".into(),
        })
    }
    async fn abort_session(&self, _attempt: &SessionAttempt) -> heimdall_core::Result<()> {
        Ok(())
    }
    async fn health(&self) -> heimdall_core::Result<()> {
        Ok(())
    }
}
