//! Signal metrics of a complex64 `.npy` capture, as one JSON line.
//!
//! ```sh
//! cargo run --release --example metrics -- CAPTURE.npy --sample-rate 12000 [--target-offset 1000] [--segment 1024]
//! ```
//!
//! Prints `{"file": ..., "snr_db": ..., "frequency_offset_hz": ..., "signal_power_dbfs": ...,
//! "noise_power_dbfs": ..., "noise_floor_dbfs_per_hz": ..., "peak_frequency_hz": ...,
//! "samples": ..., "sample_rate_hz": ..., ...}` (`null` when a value cannot be estimated, e.g.
//! no signal above the noise). The file is streamed, so captures larger than memory work.
//! Anything but a 1-D little-endian complex64 array is refused with a message on stderr and
//! exit code 1.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use heimdall::core::dsp::{AnalyzerConfig, DEFAULT_SEGMENT_LEN, analyze_npy, metrics_json};

#[derive(Parser, Debug)]
#[command(about = "Signal metrics (SNR, frequency offset, powers) of a complex64 .npy capture")]
struct Args {
    /// The capture: a 1-D complex64 ('<c8') .npy file.
    capture: PathBuf,
    /// Actual sample rate, Hz.
    #[arg(long, allow_negative_numbers = true)]
    sample_rate: f64,
    /// Expected offset of the signal in baseband, Hz (frequency_offset_hz is measured from it).
    #[arg(long, default_value_t = 0.0, allow_negative_numbers = true)]
    target_offset: f64,
    /// Welch segment length.
    #[arg(long, default_value_t = DEFAULT_SEGMENT_LEN)]
    segment: usize,
    /// dBFS to dBm calibration offset, when known.
    #[arg(long, allow_negative_numbers = true)]
    calibration_db: Option<f64>,
}

fn run(args: &Args) -> Result<serde_json::Value, String> {
    let name = args.capture.display().to_string();
    let file = std::fs::File::open(&args.capture).map_err(|e| format!("cannot open {name}: {e}"))?;
    let mut cfg = AnalyzerConfig::new(args.sample_rate)
        .with_segment_len(args.segment)
        .with_target_offset_hz(args.target_offset);
    cfg.calibration_db = args.calibration_db;
    let analysis = analyze_npy(std::io::BufReader::new(file), &name, cfg).map_err(|e| e.to_string())?;
    let mut json = metrics_json(&analysis);
    if let Some(map) = json.as_object_mut() {
        map.insert("file".into(), name.into());
    }
    Ok(json)
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
