//! Rebuild the metrics database from the session manifests in an archive (after a database
//! loss, or to fill a new database). Idempotent: rows are keyed by (session, receiver), so
//! running it twice inserts nothing the second time.
//!
//! ```sh
//! cargo run --release --example reindex -- --store s3://heimdall-raw-iq --database postgres://localhost/heimdall
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Parser;
use heimdall::core::{IqArchive, MetricStore};
use heimdall::storage::ArchiveFormat;

use common::{parse_key_value, parse_time};

#[derive(Parser, Debug)]
#[command(
    about = "Rebuild Heimdall's metrics database from the session manifests of an archive",
    version
)]
struct Args {
    /// Archive to read: s3://bucket/prefix, file:///abs/path, memory://, or a directory.
    /// Default: ./heimdall-data. S3 settings come from AWS_* variables or --store-option.
    #[arg(long)]
    store: Option<String>,
    /// Extra object-store option key=value (e.g. aws_endpoint=http://127.0.0.1:8333); repeatable.
    #[arg(long = "store-option", value_parser = parse_key_value)]
    store_options: Vec<(String, String)>,
    /// Metrics database: postgres://user@host/db or a SQLite path. Default: ./heimdall-data/heimdall.db.
    #[arg(long, env = "DATABASE_URL")]
    database: Option<String>,
    /// Only sessions started at or after this RFC 3339 time.
    #[arg(long, value_parser = parse_time)]
    since: Option<DateTime<Utc>>,
    /// Only sessions started before this RFC 3339 time.
    #[arg(long, value_parser = parse_time)]
    until: Option<DateTime<Utc>>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> anyhow::Result<()> {
    let archive = common::open_store(args.store.as_deref(), &args.store_options, ArchiveFormat::Both)?;
    let db = common::open_database(args.database.as_deref()).await?;
    let sessions = archive.list_sessions(args.since, args.until).await?;
    let (mut inserted, mut duplicates, mut failed) = (0u64, 0u64, Vec::new());
    for s in &sessions {
        let report = match archive.read_manifest(*s).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("warning: session {s}: {e}");
                failed.push(s.to_string());
                continue;
            }
        };
        db.record_session(&report).await?;
        let out = db.record_measurements(&report.measurements()).await?;
        inserted += out.inserted;
        duplicates += out.duplicates;
    }
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "sessions": sessions.len(), "inserted": inserted, "duplicates": duplicates, "unreadable": failed
            })
        );
    } else {
        println!(
            "{} sessions read from {archive}: {inserted} rows inserted, {duplicates} already present{}",
            sessions.len(),
            if failed.is_empty() {
                String::new()
            } else {
                format!(", {} unreadable manifests", failed.len())
            }
        );
    }
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} manifests could not be read", failed.len())
    }
}
