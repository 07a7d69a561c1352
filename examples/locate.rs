//! Locate a transmitter: from an archived session, or from kiwirecorder IQ WAV recordings with
//! GNSS timestamps.
//!
//! ```sh
//! cargo run --release --example locate -- --session ID [--store URL] [--database URL] [--json]
//! cargo run --release --example locate -- --stations DIR/stations.json [--json]
//! cargo run --release --example locate -- --kiwi-wav A_iq.wav B_iq.wav C_iq.wav --stations DIR/stations.json --json
//! cargo run --release --example locate -- --stations DIR/stations.json --png map.png
//! ```
//!
//! `--session` reads the session's captures back from the archive (default `./heimdall-data`,
//! as `acquire` writes it), locates, keeps the result as `sessions/{ID}/localization.json`
//! (written once) and as a row of the `localizations` table (default database
//! `./heimdall-data/heimdall.db`), and prints it. A session located before is not recomputed:
//! its `localization.json` is printed, and the program says so. Exit code 1 with a plain
//! message when the session is not in the archive or cannot be located (e.g. too few
//! GPS-timed receivers).
//!
//! The stations file gives each receiver's `id`, `latitude`, `longitude` and (optionally) its
//! recording `file`; recordings named with `--kiwi-wav` are matched to stations by the station
//! name in the file name (`YYYYMMDDTHHMMSSZ_FREQ_STATION_iq.wav`). A `transmitter` entry, when
//! present, is the truth: the error to it is printed.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::Parser;
use heimdall::core::SessionId;
use heimdall::kiwi_locate::{captures_from_stations, kiwi_wav_capture};
use heimdall::locate::map::{MapInput, render_png};
use heimdall::locate::{
    GeoPoint, Localization, LocateOptions, ReceiverCapture, SPEED_OF_LIGHT, geo::geodesic_distance, locate,
};
use heimdall::recordings::read_stations;
use heimdall::session_locate::locate_session;
use heimdall::storage::ArchiveFormat;
use heimdall::websdr::kiwi_wav::parse_file_name;
use serde_json::Value;

use common::KeyValueParser;

#[derive(Parser, Debug)]
#[command(
    about = "Locate a transmitter from an archived session or from GPS-timed KiwiSDR IQ recordings",
    version
)]
struct Args {
    /// An archived session to locate (its id); the result is kept with it and in the database.
    #[arg(long, value_name = "ID", conflicts_with_all = ["kiwi_wav", "stations"], required_unless_present = "stations")]
    session: Option<SessionId>,
    /// With --session: the archive (s3://bucket/prefix, file:///abs/path, or a directory). Default: ./heimdall-data.
    #[arg(long, value_name = "URL", requires = "session")]
    store: Option<String>,
    /// With --session: object-store option key=value (e.g. aws_endpoint=http://127.0.0.1:8333). Repeatable.
    #[arg(long = "store-option", value_name = "KEY=VALUE", value_parser = KeyValueParser, requires = "session")]
    store_options: Vec<(String, String)>,
    /// With --session: metrics database (postgres://... or a SQLite path). Default: ./heimdall-data/heimdall.db.
    #[arg(long, value_name = "URL", env = "DATABASE_URL", requires = "session")]
    database: Option<String>,
    /// kiwirecorder IQ WAV files (default: every `file` of the stations file).
    #[arg(long = "kiwi-wav", num_args = 1..)]
    kiwi_wav: Vec<PathBuf>,
    /// Stations JSON (receiver positions, optionally the transmitter's true position).
    #[arg(long)]
    stations: Option<PathBuf>,
    /// Print one JSON object instead of text.
    #[arg(long)]
    json: bool,
    /// Also write a PNG map (likelihood field, 95% ellipse, stations used and rejected, truth).
    #[arg(long, value_name = "FILE")]
    png: Option<PathBuf>,
}

/// `--session`: locates an archived session (or prints its stored localization).
async fn run_session(args: &Args, session: SessionId) -> Result<(), Box<dyn std::error::Error>> {
    let archive = common::open_store(args.store.as_deref(), &args.store_options, ArchiveFormat::Both)?;
    let db = common::open_database(args.database.as_deref()).await?;
    let started = Instant::now();
    let kept = locate_session(&archive, Some(&db), session, &LocateOptions::default()).await?;
    let doc = &kept.document;
    if args.json {
        let mut v = doc.result.clone();
        v["session_id"] = serde_json::json!(session);
        v["localization_json"] = serde_json::json!(kept.key);
        v["already_located"] = serde_json::json!(kept.existing);
        v["located_at"] = serde_json::json!(doc.written_at);
        v["elapsed_s"] = serde_json::json!(started.elapsed().as_secs_f64());
        println!("{}", serde_json::to_string_pretty(&v)?);
        return Ok(());
    }
    if kept.existing {
        println!(
            "session {session} was already located on {} ({}): printing that result",
            doc.written_at.to_rfc3339(),
            doc.writer
        );
    } else {
        println!("session {session} located: kept as {}", kept.key);
    }
    print_text(&doc.result);
    match kept.recorded {
        Some(true) => println!("database     localizations row written ({})", db.redacted_url()),
        Some(false) => println!("database     localizations row already present ({})", db.redacted_url()),
        None => {}
    }
    println!("took         {:.3} s", started.elapsed().as_secs_f64());
    Ok(())
}

/// The human-readable form of a localization result (the JSON `--json` prints).
fn print_text(v: &Value) {
    let num = |v: &Value, k: &str| v.get(k).and_then(Value::as_f64).unwrap_or(f64::NAN);
    let text = |v: &Value, k: &str| v.get(k).and_then(Value::as_str).unwrap_or("-").to_owned();
    println!(
        "position     {:.5} N {:.5} E  ({}, {})",
        num(v, "latitude"),
        num(v, "longitude"),
        text(v, "method"),
        text(v, "path_model")
    );
    let e = &v["error_ellipse_m"];
    println!(
        "ellipse {:.0}%  {:.0} m x {:.0} m, major axis {:.0}° from north",
        num(e, "confidence") * 100.0,
        num(e, "semi_major"),
        num(e, "semi_minor"),
        num(e, "orientation_deg")
    );
    let used: Vec<&str> = v["stations_used"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_str).collect())
        .unwrap_or_default();
    println!("used         {}", used.join(", "));
    for r in v["stations_rejected"].as_array().into_iter().flatten() {
        println!("rejected     {}: {}", text(r, "id"), text(r, "reason"));
    }
    for p in v["pairs"].as_array().into_iter().flatten() {
        let us = |k: &str| {
            p.get(k)
                .and_then(Value::as_f64)
                .map(|x| format!("{:.2} µs", x * 1e6))
                .unwrap_or_else(|| "-".into())
        };
        println!(
            "pair {}-{}  {} ± {}  residual {}",
            text(p, "a"),
            text(p, "b"),
            us("delay_s"),
            us("sigma_s"),
            us("residual_s")
        );
    }
    for n in v["notes"].as_array().into_iter().flatten() {
        println!("note         {}", n.as_str().unwrap_or_default());
    }
}

fn run(args: Args) -> Result<(), Box<dyn std::error::Error>> {
    if let Some(session) = args.session {
        let rt = tokio::runtime::Runtime::new()?;
        return rt.block_on(run_session(&args, session));
    }
    let stations_path = args.stations.clone().ok_or("--stations or --session is required")?;
    let (stations, captures) = if args.kiwi_wav.is_empty() {
        captures_from_stations(&stations_path)?
    } else {
        let stations = read_stations(&stations_path)?;
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
                        stations_path.display()
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
    print_text(&serde_json::to_value(&fix)?);
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
