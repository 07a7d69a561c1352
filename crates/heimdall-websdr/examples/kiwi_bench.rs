//! Throughput of the KiwiSDR IQ and rtl_tcp sources against the in-process servers.
//!
//! ```text
//! cargo run --release -p heimdall-websdr --example kiwi_bench -- [streams] [seconds_per_stream]
//! ```
//!
//! 1. KiwiSDR: `streams` (default 20) concurrent [`KiwiSdrSource`] captures of
//!    `seconds_per_stream` (default 120) seconds of signal each, from one in-process Kiwi sending
//!    as fast as the sockets take it. Reports x real time (signal seconds / wall seconds) in
//!    total and per stream, and per CPU core (signal seconds / process CPU seconds; the server's
//!    framing cost is included, so this is conservative).
//! 2. SND decode alone (parse + int16 → Complex32) on one core.
//! 3. rtl_tcp at 2.4 MS/s paced for 10 s, then unpaced, with the process's peak RSS.
#![allow(clippy::print_stdout)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use heimdall_core::{CaptureChunk, CaptureRequest, ReceiverId, ReceiverInfo, ReceiverKind, ReceiverSource, SessionId};
use heimdall_websdr::kiwisdr::KiwiSdrBuilder;
use heimdall_websdr::kiwisdr::mock::{MockKiwi, MockKiwiConfig};
use heimdall_websdr::kiwisdr::protocol;
use heimdall_websdr::rtl_tcp::RtlTcpBuilder;
use heimdall_websdr::rtl_tcp::mock::{MockRtlTcp, MockRtlTcpConfig};
use tokio_util::sync::CancellationToken;

/// Process CPU time (user + system) from /proc/self/stat, seconds.
fn cpu_seconds() -> f64 {
    let Ok(s) = std::fs::read_to_string("/proc/self/stat") else {
        return f64::NAN;
    };
    let after = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(f64::NAN);
    // Fields 14 and 15 (utime, stime) are at 11 and 12 after the ')'.
    (ticks(11) + ticks(12)) / 100.0
}

fn peak_rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmHWM:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn rss_mib() -> f64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse::<f64>().ok()))
        })
        .map_or(f64::NAN, |kib| kib / 1024.0)
}

fn req(freq: f64, secs: f64, rate: Option<f64>) -> CaptureRequest {
    CaptureRequest {
        session_id: SessionId::new(),
        frequency_hz: freq,
        duration: Duration::from_secs_f64(secs),
        sample_rate_hz: rate,
        passband: None,
        start_at: None,
    }
}

async fn drain(src: Arc<dyn ReceiverSource>, r: CaptureRequest) -> u64 {
    let s = src.open(&r, CancellationToken::new()).await.expect("open");
    let mut chunks = s.chunks;
    let mut n = 0u64;
    while let Some(c) = chunks.next().await {
        if let CaptureChunk::Samples(b) = c.expect("chunk") {
            n += b.len() as u64;
        }
    }
    n
}

#[tokio::main(flavor = "multi_thread")]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let streams: usize = args.get(1).and_then(|v| v.parse().ok()).unwrap_or(20);
    let secs: f64 = args.get(2).and_then(|v| v.parse().ok()).unwrap_or(120.0);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    println!("cores available: {cores}");

    // 1. KiwiSDR, N concurrent streams.
    let mock = MockKiwi::start(MockKiwiConfig {
        frame_interval: None,
        ..Default::default()
    })
    .await
    .expect("mock");
    let mut sources = Vec::new();
    for i in 0..streams {
        let info = ReceiverInfo::new(
            ReceiverId::new(format!("kiwi-{i}")).expect("id"),
            "bench",
            ReceiverKind::KiwiSdr,
            mock.url(),
        );
        let s: Arc<dyn ReceiverSource> = Arc::new(KiwiSdrBuilder::new(info).build().expect("build"));
        sources.push(s);
    }
    let cpu0 = cpu_seconds();
    let t0 = Instant::now();
    let tasks: Vec<_> = sources
        .iter()
        .map(|s| tokio::spawn(drain(s.clone(), req(7.1e6, secs, None))))
        .collect();
    let mut total = 0u64;
    for t in tasks {
        total += t.await.expect("task");
    }
    let wall = t0.elapsed().as_secs_f64();
    let cpu = cpu_seconds() - cpu0;
    let signal_s = total as f64 / 12001.135;
    println!(
        "kiwisdr: {streams} streams x {secs} s: {total} samples in {wall:.2} s wall, {cpu:.2} s CPU (client + in-process server)"
    );
    println!(
        "kiwisdr: {:.0}x real time in total, {:.1}x per stream, {:.0}x real time per CPU core-second ({:.1}x per stream per core)",
        signal_s / wall,
        signal_s / wall / streams as f64,
        signal_s / cpu,
        signal_s / cpu / streams as f64
    );

    // 2. SND decode alone.
    let mut frame = Vec::new();
    let samples: Vec<(i16, i16)> = (0..512).map(|k| (k as i16, -(k as i16))).collect();
    let gps = protocol::GpsStamp {
        last_gps_solution: 3,
        gpssec: 1000,
        gpsnsec: 5,
    };
    protocol::encode_iq_snd(0, 7, 500, gps, &samples, false, &mut frame);
    let frames = 400_000u32;
    let mut out = Vec::with_capacity(512);
    let t = Instant::now();
    let mut acc = 0f32;
    for _ in 0..frames {
        let f = protocol::parse_snd(std::hint::black_box(&frame)).expect("frame");
        out.clear();
        protocol::decode_iq_i16(f.payload, f.little_endian(), &mut out);
        acc += out[511].re;
    }
    let dt = t.elapsed().as_secs_f64();
    let sps = f64::from(frames) * 512.0 / dt;
    println!(
        "snd decode: {:.1} M samples/s on one core = {:.0}x real time at 12 kHz ({acc})",
        sps / 1e6,
        sps / 12001.135
    );

    // 3. rtl_tcp at 2.4 MS/s.
    for (label, rate, secs) in [("paced 2.4 MS/s", Some(2.4e6), 10.0), ("unpaced", None, 20.0)] {
        let mock = MockRtlTcp::start(MockRtlTcpConfig {
            rate,
            write_size: 64 * 1024,
            ..Default::default()
        })
        .await
        .expect("mock");
        let info = ReceiverInfo::new(
            ReceiverId::new("rtl").expect("id"),
            "bench",
            ReceiverKind::RtlTcp,
            mock.url(),
        );
        let src: Arc<dyn ReceiverSource> = Arc::new(
            RtlTcpBuilder::new(info)
                .with_settle(Duration::ZERO)
                .build()
                .expect("build"),
        );
        let rss0 = rss_mib();
        let cpu0 = cpu_seconds();
        let t = Instant::now();
        let n = drain(src, req(100e6, secs, Some(2.4e6))).await;
        let wall = t.elapsed().as_secs_f64();
        let cpu = cpu_seconds() - cpu0;
        println!(
            "rtl_tcp {label}: {n} samples in {wall:.2} s = {:.2} MS/s ({cpu:.2} s CPU); RSS {rss0:.1} -> {:.1} MiB, peak {:.1} MiB",
            n as f64 / wall / 1e6,
            rss_mib(),
            peak_rss_mib()
        );
    }
}
