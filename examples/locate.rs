//! Locate a transmitter from kiwirecorder IQ WAV recordings with GNSS timestamps.
//!
//! ```sh
//! cargo run --release --example locate -- --stations DIR/stations.json [--json]
//! cargo run --release --example locate -- --kiwi-wav A_iq.wav B_iq.wav C_iq.wav --stations DIR/stations.json --json
//! cargo run --release --example locate -- --stations DIR/stations.json --png map.png
//! ```
//!
//! The stations file gives each receiver's `id`, `latitude`, `longitude` and (optionally) its
//! recording `file`; recordings named with `--kiwi-wav` are matched to stations by the station
//! name in the file name (`YYYYMMDDTHHMMSSZ_FREQ_STATION_iq.wav`). A `transmitter` entry, when
//! present, is the truth: the error to it is printed.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use heimdall::kiwi_locate::{captures_from_stations, kiwi_wav_capture, read_stations};
use heimdall::locate::map::{MapInput, render_png};
use heimdall::locate::{
    GeoPoint, Localization, LocateOptions, ReceiverCapture, SPEED_OF_LIGHT, geo::geodesic_distance, locate,
};
use heimdall::websdr::kiwi_wav::parse_file_name;

#[derive(Parser, Debug)]
#[command(about = "Locate a transmitter from GPS-timed KiwiSDR IQ recordings", version)]
struct Args {
    /// kiwirecorder IQ WAV files (default: every `file` of the stations file).
    #[arg(long = "kiwi-wav", num_args = 1..)]
    kiwi_wav: Vec<PathBuf>,
    /// Stations JSON (receiver positions, optionally the transmitter's true position).
    #[arg(long)]
    stations: PathBuf,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Also write a PNG map (likelihood field, 95% ellipse, stations used and rejected, truth).
    #[arg(long, value_name = "FILE")]
    png: Option<PathBuf>,
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    let (stations, captures) = if args.kiwi_wav.is_empty() {
        captures_from_stations(&args.stations)?
    } else {
        let stations = read_stations(&args.stations)?;
        let mut captures = Vec::new();
        for path in &args.kiwi_wav {
            let name = parse_file_name(&path.display().to_string())?;
            let s = stations
                .stations
                .iter()
                .find(|s| s.id.eq_ignore_ascii_case(&name.station))
                .ok_or_else(|| {
                    format!(
                        "station {} of {} is not in {}",
                        name.station,
                        path.display(),
                        args.stations.display()
                    )
                })?;
            captures.push(kiwi_wav_capture(
                path,
                Some(&s.id),
                GeoPoint::new(s.latitude, s.longitude),
            )?);
        }
        (stations, captures)
    };
    let started = Instant::now();
    let fix = locate(&captures, &LocateOptions::default())?;
    let elapsed = started.elapsed();
    let truth = stations
        .transmitter
        .as_ref()
        .map(|t| GeoPoint::new(t.latitude, t.longitude));
    let error_m = truth.map(|t| geodesic_distance(&t, &fix.position()));
    if let Some(path) = &args.png {
        let stations: Vec<(String, GeoPoint)> = captures.iter().map(|c| (c.id.clone(), c.position)).collect();
        let input = MapInput {
            stations: &stations,
            truth,
            size: (800, 800),
        };
        std::fs::write(path, render_png(&fix, &input)?).map_err(|e| format!("{}: {e}", path.display()))?;
    }
    if args.json {
        let mut v = serde_json::to_value(&fix)?;
        if let (Some(t), Some(e)) = (truth, error_m) {
            v["truth"] = serde_json::json!({"latitude": t.latitude, "longitude": t.longitude, "error_m": e, "inside_ellipse": fix.ellipse_contains(&t), "pairs": pair_errors(&fix, &captures, &t)});
        }
        v["elapsed_s"] = serde_json::json!(elapsed.as_secs_f64());
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    let e = &fix.error_ellipse_m;
    println!(
        "position     {:.5} N {:.5} E  ({:?}, {:?})",
        fix.latitude, fix.longitude, fix.method, fix.path_model
    );
    println!(
        "ellipse {:.0}%  {:.0} m x {:.0} m, major axis {:.0}° from north",
        e.confidence * 100.0,
        e.semi_major,
        e.semi_minor,
        e.orientation_deg
    );
    println!("used         {}", fix.stations_used.join(", "));
    for r in &fix.stations_rejected {
        println!("rejected     {}: {}", r.id, r.reason);
    }
    for p in &fix.pairs {
        println!(
            "pair {}-{}  {:.2} µs ± {:.2}  residual {}",
            p.a,
            p.b,
            p.delay_s * 1e6,
            p.sigma_s * 1e6,
            p.residual_s
                .map(|r| format!("{:.2} µs", r * 1e6))
                .unwrap_or_else(|| "-".into())
        );
    }
    for n in &fix.notes {
        println!("note         {n}");
    }
    if let (Some(t), Some(err)) = (truth, error_m) {
        for p in pair_errors(&fix, &captures, &t) {
            println!(
                "pair {}-{}  true {:.2} µs, measured - true {:.2} µs",
                p.a,
                p.b,
                p.true_delay_s * 1e6,
                p.error_s * 1e6
            );
        }
        println!(
            "truth        {:.5} N {:.5} E: error {:.0} m, inside ellipse: {}",
            t.latitude,
            t.longitude,
            err,
            fix.ellipse_contains(&t)
        );
    }
    println!("located in   {:.3} s", elapsed.as_secs_f64());
    Ok(())
}

/// A pair's delay against the true geometry.
#[derive(serde::Serialize)]
struct PairError {
    a: String,
    b: String,
    true_delay_s: f64,
    error_s: f64,
}

/// Every measured pair's delay minus the delay the truth predicts under the fix's path model.
fn pair_errors(fix: &Localization, captures: &[ReceiverCapture], truth: &GeoPoint) -> Vec<PairError> {
    let at = |id: &str| captures.iter().find(|c| c.id == id).map(|c| c.position);
    fix.pairs
        .iter()
        .filter(|p| p.delay_s.is_finite())
        .filter_map(|p| {
            let (a, b) = (at(&p.a)?, at(&p.b)?);
            let m = fix.path_model;
            let true_delay_s = (m.distance(truth, &a) - m.distance(truth, &b)) / SPEED_OF_LIGHT;
            Some(PairError {
                a: p.a.clone(),
                b: p.b.clone(),
                true_delay_s,
                error_s: p.delay_s - true_delay_s,
            })
        })
        .collect()
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("locate: {e}");
            ExitCode::FAILURE
        }
    }
}
