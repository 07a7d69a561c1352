//! Signal metrics of a capture, as one JSON line per capture: a complex64 `.npy` file, or
//! captures archived by Heimdall in any store (recomputed from the samples, next to the metrics
//! archived with them).
//!
//! ```sh
//! cargo run --release --example metrics -- CAPTURE.npy --sample-rate 12000 [--target-offset 1000] [--segment 1024]
//! cargo run --release --example metrics -- --session UUID [--receiver ID] [--store s3://bucket/prefix]
//! ```
//!
//! Prints `{"file": ..., "snr_db": ..., "frequency_offset_hz": ..., "signal_power_dbfs": ...,
//! "noise_power_dbfs": ..., "noise_floor_dbfs_per_hz": ..., "peak_frequency_hz": ...,
//! "samples": ..., "sample_rate_hz": ..., ...}` (`null` when a value cannot be estimated, e.g.
//! no signal above the noise). For an archived capture the line has `session`, `receiver`,
//! `archived` (the metrics stored with the capture) and `matches_archived` (whether the
//! recomputation gives the same values). Files and archived captures are streamed (archived
//! ones with their checksum verified), so captures larger than memory work. Anything but a
//! 1-D little-endian complex64 file is refused with a message on stderr and exit code 1.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Parser;
use futures::StreamExt;
use heimdall::core::dsp::{Analyzer, AnalyzerConfig, DEFAULT_SEGMENT_LEN, analyze_npy, metrics_json};
use heimdall::core::{IqArchive, ReceiverId, SessionId};
use heimdall::storage::ArchiveFormat;

use common::KeyValueParser;

#[derive(Parser, Debug)]
#[command(
    about = "Signal metrics (SNR, frequency offset, powers) of a complex64 .npy file or of archived captures",
    version
)]
struct Args {
    /// A 1-D complex64 ('<c8') .npy file (or use --session for archived captures).
    #[arg(required_unless_present = "session", conflicts_with = "session")]
    capture: Option<PathBuf>,
    /// Actual sample rate of the file, Hz.
    #[arg(long, allow_negative_numbers = true, required_unless_present = "session")]
    sample_rate: Option<f64>,
    /// Expected offset of the signal in baseband, Hz (frequency_offset_hz is measured from it).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    target_offset: f64,
    /// Welch segment length (files only; archived captures use the engine's settings).
    #[arg(long, default_value_t = DEFAULT_SEGMENT_LEN)]
    segment: usize,
    /// dBFS to dBm calibration offset, when known (files only).
    #[arg(long, allow_negative_numbers = true)]
    calibration_db: Option<f64>,
    /// Recompute the metrics of this archived session's captures.
    #[arg(long)]
    session: Option<SessionId>,
    /// Only this receiver of the session (repeatable; default: every archived capture).
    #[arg(long = "receiver", requires = "session")]
    receivers: Vec<ReceiverId>,
    /// Archive: s3://bucket/prefix, file:///abs/path or a directory. Default: ./heimdall-data.
    /// S3 settings come from AWS_* variables or --store-option.
    #[arg(long, requires = "session")]
    store: Option<String>,
    /// Extra object-store option key=value; repeatable.
    #[arg(long = "store-option", value_parser = KeyValueParser, requires = "session")]
    store_options: Vec<(String, String)>,
}

fn file_metrics(args: &Args, path: &PathBuf, sample_rate: f64) -> anyhow::Result<serde_json::Value> {
    let name = path.display().to_string();
    let file = std::fs::File::open(path).with_context(|| format!("cannot open {name}"))?;
    let mut cfg = AnalyzerConfig::new(sample_rate)
        .with_segment_len(args.segment)
        .with_target_offset_hz(args.target_offset);
    cfg.calibration_db = args.calibration_db;
    let analysis = analyze_npy(std::io::BufReader::new(file), &name, cfg)?;
    let mut json = metrics_json(&analysis);
    if let Some(map) = json.as_object_mut() {
        map.insert("file".into(), name.into());
    }
    Ok(json)
}

/// Recomputes the metrics of archived captures from their streamed samples; one JSON value each.
async fn archived_metrics(args: &Args, session: SessionId) -> anyhow::Result<Vec<serde_json::Value>> {
    let archive = common::open_store(args.store.as_deref(), &args.store_options, ArchiveFormat::Both)?;
    let report = archive
        .read_manifest(session)
        .await
        .with_context(|| format!("session {session} in {archive}"))?;
    let receivers: Vec<ReceiverId> = if args.receivers.is_empty() {
        report
            .receivers
            .iter()
            .filter(|r| r.capture.is_some() && !r.objects.is_empty())
            .map(|r| r.receiver.id.clone())
            .collect()
    } else {
        args.receivers.clone()
    };
    if receivers.is_empty() {
        bail!("session {session} has no archived capture");
    }
    let mut out = Vec::new();
    for rx in receivers {
        let mut capture = archive
            .stream_capture(session, &rx)
            .await
            .with_context(|| format!("capture of {rx} in session {session}"))?;
        let mut analyzer = Analyzer::new(AnalyzerConfig::for_capture(&capture.summary.info))?;
        while let Some(block) = capture.samples.next().await {
            let block = block.with_context(|| format!("reading the capture of {rx}"))?;
            analyzer.push(&block)?;
        }
        let analysis = analyzer.finish()?;
        let mut json = metrics_json(&analysis);
        let archived = capture.metrics.map(serde_json::to_value).transpose()?;
        let matches = capture.metrics.map(|m| m == analysis.metrics);
        if let Some(map) = json.as_object_mut() {
            map.insert("session".into(), session.to_string().into());
            map.insert("receiver".into(), rx.to_string().into());
            map.insert("archived".into(), archived.unwrap_or(serde_json::Value::Null));
            map.insert("matches_archived".into(), matches.into());
        }
        out.push(json);
    }
    Ok(out)
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    let result = match (&args.capture, args.sample_rate, args.session) {
        (Some(path), Some(fs), None) => file_metrics(&args, path, fs).map(|j| vec![j]),
        (None, _, Some(session)) => archived_metrics(&args, session).await,
        _ => Err(anyhow::anyhow!("give a .npy file with --sample-rate, or --session")),
    };
    match result {
        Ok(lines) => {
            for json in lines {
                println!("{json}");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
