//! Query the metrics database: recent measurements, one session, SNR statistics per receiver,
//! time buckets, recent sessions. Prints tables, or JSON with `--json`.
//!
//! ```sh
//! cargo run --release --example query -- recent --limit 20
//! cargo run --release --example query -- snr-stats --hours 24
//! cargo run --release --example query -- buckets --width 3600
//! cargo run --release --example query -- --json session 0190f7a2-...
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::process::ExitCode;
use std::time::Duration;

use chrono::{DateTime, Utc};
use clap::{Parser, Subcommand};
use heimdall::core::{MeasurementQuery, MetricQuery, ReceiverId, SessionId, TimeWindow};

use common::{Table, opt, parse_time};

#[derive(Parser, Debug)]
#[command(about = "Query Heimdall's metrics database", version)]
struct Args {
    /// Metrics database: postgres://user@host/db, a SQLite file path, or sqlite::memory:.
    /// Default: ./heimdall-data/heimdall.db.
    #[arg(long, env = "DATABASE_URL", global = true)]
    database: Option<String>,
    /// Print one JSON document on stdout instead of a table.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Recent measurements, newest first.
    Recent {
        /// Only this receiver.
        #[arg(long)]
        receiver: Option<ReceiverId>,
        /// Only this session.
        #[arg(long)]
        session: Option<SessionId>,
        /// Only target frequencies at or above this, Hz.
        #[arg(long)]
        freq_min: Option<f64>,
        /// Only target frequencies at or below this, Hz.
        #[arg(long)]
        freq_max: Option<f64>,
        /// Only captures at or after this RFC 3339 time.
        #[arg(long, value_parser = parse_time)]
        since: Option<DateTime<Utc>>,
        /// Only captures before this RFC 3339 time.
        #[arg(long, value_parser = parse_time)]
        until: Option<DateTime<Utc>>,
        /// At most this many rows.
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// One session: its record and its measurements.
    Session {
        /// The session id (UUID).
        id: SessionId,
    },
    /// SNR statistics per receiver (count, mean, min, max, median).
    SnrStats {
        /// Only the last H hours (default: everything).
        #[arg(long)]
        hours: Option<f64>,
    },
    /// Aggregates per time bucket and receiver.
    Buckets {
        /// Bucket width in seconds (default one hour).
        #[arg(long, default_value_t = 3600)]
        width: u64,
        /// Only this receiver.
        #[arg(long)]
        receiver: Option<ReceiverId>,
        /// Only the last H hours (default: everything).
        #[arg(long)]
        hours: Option<f64>,
    },
    /// The most recent sessions.
    Sessions {
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

fn window(hours: Option<f64>) -> anyhow::Result<TimeWindow> {
    Ok(match hours {
        Some(h) => TimeWindow::last_hours("--hours", h, Utc::now())?,
        None => TimeWindow::default(),
    })
}

#[tokio::main]
async fn main() -> ExitCode {
    common::exit_code(run(Args::parse()).await)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let db = common::open_database(args.database.as_deref()).await?;
    match args.command {
        Command::Recent {
            receiver,
            session,
            freq_min,
            freq_max,
            since,
            until,
            limit,
        } => {
            let q = MeasurementQuery {
                receiver,
                session,
                frequency_min_hz: freq_min,
                frequency_max_hz: freq_max,
                since,
                until,
                limit: Some(limit),
            };
            print_measurements(&db.measurements(&q).await?, args.json)?;
        }
        Command::Session { id } => {
            let record = db.session(id).await?;
            let rows = db
                .measurements(&MeasurementQuery {
                    session: Some(id),
                    limit: Some(10_000),
                    ..Default::default()
                })
                .await?;
            if record.is_none() && rows.is_empty() {
                anyhow::bail!("session {id} is not in {}", db.redacted_url());
            }
            if args.json {
                println!("{}", serde_json::json!({ "session": record, "measurements": rows }));
            } else {
                if let Some(r) = &record {
                    println!(
                        "session {id}: {} at {:.6} MHz, {:.1} s, {} of {} receivers recorded, {} .. {}",
                        r.status.as_str(),
                        r.request.frequency_hz / 1e6,
                        r.request.duration.as_secs_f64(),
                        r.recorded(),
                        r.receivers.len(),
                        r.started_at.to_rfc3339(),
                        r.finished_at.to_rfc3339()
                    );
                    for rx in r.receivers.iter().filter(|x| x.error.is_some()) {
                        println!(
                            "  {}: {}",
                            rx.receiver.id,
                            rx.error.as_ref().map(|e| e.message.as_str()).unwrap_or("")
                        );
                    }
                }
                print_measurements(&rows, false)?;
            }
        }
        Command::SnrStats { hours } => {
            let stats = db.snr_stats(window(hours)?).await?;
            if args.json {
                println!("{}", serde_json::to_string(&stats)?);
            } else {
                let mut t = Table::new(&["receiver", "count", "mean dB", "min dB", "max dB", "median dB"]);
                for s in &stats {
                    t.row(vec![
                        s.receiver_id.to_string(),
                        s.count.to_string(),
                        format!("{:.2}", s.mean_db),
                        format!("{:.2}", s.min_db),
                        format!("{:.2}", s.max_db),
                        opt(s.p50_db, 2),
                    ]);
                }
                print!("{}", t.render());
            }
        }
        Command::Buckets { width, receiver, hours } => {
            if width == 0 {
                anyhow::bail!("--width must be at least 1 second");
            }
            let b = db
                .time_buckets(Duration::from_secs(width), window(hours)?, receiver.as_ref())
                .await?;
            if args.json {
                println!("{}", serde_json::to_string(&b)?);
            } else {
                let mut t = Table::new(&[
                    "bucket start",
                    "receiver",
                    "count",
                    "mean SNR dB",
                    "max SNR dB",
                    "mean power dBFS",
                ]);
                for x in &b {
                    t.row(vec![
                        x.bucket_start.to_rfc3339(),
                        x.receiver_id.to_string(),
                        x.count.to_string(),
                        opt(x.mean_snr_db, 2),
                        opt(x.max_snr_db, 2),
                        opt(x.mean_signal_power_dbfs, 2),
                    ]);
                }
                print!("{}", t.render());
            }
        }
        Command::Sessions { limit } => {
            let s = db.recent_sessions(limit).await?;
            if args.json {
                println!("{}", serde_json::to_string(&s)?);
            } else {
                let mut t = Table::new(&["session", "started", "status", "MHz", "s", "recorded", "receivers"]);
                for r in &s {
                    t.row(vec![
                        r.session_id.to_string(),
                        r.started_at.to_rfc3339(),
                        r.status.as_str().into(),
                        format!("{:.6}", r.request.frequency_hz / 1e6),
                        format!("{:.1}", r.request.duration.as_secs_f64()),
                        r.recorded().to_string(),
                        r.receivers.len().to_string(),
                    ]);
                }
                print!("{}", t.render());
            }
        }
    }
    Ok(())
}

fn print_measurements(rows: &[heimdall::core::Measurement], json: bool) -> anyhow::Result<()> {
    if json {
        println!("{}", serde_json::to_string(rows)?);
        return Ok(());
    }
    let mut t = Table::new(&[
        "captured at",
        "receiver",
        "session",
        "MHz",
        "SNR dB",
        "offset Hz",
        "signal dBFS",
        "RSSI",
        "samples",
        "time",
    ]);
    for m in rows {
        t.row(vec![
            m.captured_at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            m.receiver_id.to_string(),
            m.session_id.to_string(),
            format!("{:.6}", m.frequency_hz / 1e6),
            opt(m.metrics.snr_db, 2),
            opt(m.metrics.frequency_offset_hz, 2),
            opt(m.metrics.signal_power_dbfs, 1),
            match (m.rssi, m.rssi_unit) {
                (Some(v), Some(u)) => format!("{v:.1} {}", u.as_str()),
                _ => "-".into(),
            },
            m.samples.to_string(),
            m.time_source.to_string(),
        ]);
    }
    print!("{}", t.render());
    Ok(())
}
