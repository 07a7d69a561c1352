//! Rebuild the metrics database from the session manifests in an archive (after a database
//! loss, or to fill a new database). Idempotent: rows are keyed by (session, receiver), so
//! running it twice inserts nothing the second time.
//!
//! ```sh
//! cargo run --release --example reindex -- --store s3://heimdall-raw-iq --database postgres://localhost/heimdall
//! ```
//!
//! With `--legacy` it also imports the old acquisition service's sessions
//! (`sessions/{task_id}/websdr_{n}.npy` + `_metadata.json`, no manifest): metrics recomputed,
//! old values kept under `extra.legacy`, integer websdr ids mapped to receivers (registry option
//! `websdr_id`, `--websdr-map FILE`, or the order of `--receivers FILE`), broken captures
//! reported and skipped; `--adopt` also gives each a manifest (the old objects stay untouched).
//!
//! ```sh
//! cargo run --release --example reindex -- --store s3://heimdall-raw-iq --legacy --websdr-map websdrs.map --adopt
//! ```
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::process::ExitCode;

use chrono::{DateTime, Utc};
use clap::Parser;
use heimdall::core::{IqArchive, MetricStore, ReceiverInfo, ReceiverRegistry};
use heimdall::storage::ArchiveFormat;
use heimdall::storage::legacy::{LegacyImportSummary, LegacyImporter, WebsdrMap};

use common::parse_time;

#[derive(Parser, Debug)]
#[command(
    about = "Rebuild Heimdall's metrics database from the session manifests of an archive",
    version
)]
struct Args {
    #[command(flatten)]
    backends: common::BackendArgs,
    /// Only sessions started at or after this RFC 3339 time.
    #[arg(long, value_parser = parse_time)]
    since: Option<DateTime<Utc>>,
    /// Only sessions started before this RFC 3339 time.
    #[arg(long, value_parser = parse_time)]
    until: Option<DateTime<Utc>>,
    /// Print a JSON summary on stdout.
    #[arg(long)]
    json: bool,
    /// Also import the old Python (FastAPI/Celery) service's sessions (websdr_{n}.npy + websdr_{n}_metadata.json).
    #[arg(long)]
    legacy: bool,
    /// With --legacy: old websdr ids to receivers, one `N = receiver-id` per line.
    #[arg(long, requires = "legacy")]
    websdr_map: Option<std::path::PathBuf>,
    /// With --legacy: a receivers file whose receivers, in order, were the old websdr 1, 2, ...
    #[arg(long, requires = "legacy")]
    receivers: Option<std::path::PathBuf>,
    /// With --legacy: write a manifest for each imported session, making it an ordinary
    /// committed session (the old objects are never modified).
    #[arg(long, requires = "legacy")]
    adopt: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    common::exit_code(run(Args::parse()).await)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let archive = args.backends.open_store(ArchiveFormat::Both)?;
    let db = args.backends.open_database().await?;
    let sessions = archive.list_sessions(args.since, args.until).await?;
    let (mut inserted, mut duplicates, mut repaired, mut failed) = (0u64, 0u64, 0u64, Vec::new());
    for s in &sessions {
        let mut report = match archive.read_manifest(*s).await {
            Ok(r) => r,
            Err(e) => {
                eprintln!("warning: session {s}: {e}");
                failed.push(s.to_string());
                continue;
            }
        };
        // Rows first, then the session record with the receivers they cover marked recorded:
        // a manifest committed while the database was down says `stored` (session failed)
        // next to captures whose rows now exist.
        let rows = report.measurements();
        let out = db.record_measurements(&rows).await?;
        inserted += out.inserted;
        duplicates += out.duplicates;
        let marked = report.mark_recorded(&rows);
        if marked > 0 {
            repaired += 1;
        }
        db.record_session(&report).await?;
    }
    let legacy = if args.legacy {
        let map = websdr_map(&args, &db).await?;
        let importer = LegacyImporter::new(archive.clone(), map);
        let summary = importer.import(&db, args.adopt).await?;
        for p in &summary.problems {
            eprintln!("warning: skipped {p}");
        }
        Some(summary)
    } else {
        None
    };
    if args.json {
        println!(
            "{}",
            serde_json::json!({
                "sessions": sessions.len(), "inserted": inserted, "duplicates": duplicates,
                "sessions_marked_recorded": repaired, "unreadable": failed, "legacy": legacy,
            })
        );
    } else {
        println!(
            "{} sessions read from {archive}: {inserted} rows inserted, {duplicates} already present, \
             {repaired} session records brought up to date{}",
            sessions.len(),
            if failed.is_empty() {
                String::new()
            } else {
                format!(", {} unreadable manifests", failed.len())
            }
        );
        if let Some(l) = &legacy {
            print_legacy(l);
        }
    }
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!("{} manifests could not be read", failed.len())
    }
}

fn print_legacy(l: &LegacyImportSummary) {
    println!(
        "old service: {} sessions found, {} imported ({} captures, {} rows inserted, {} already present), {} adopted, {} skipped",
        l.sessions_found,
        l.sessions_imported,
        l.captures,
        l.inserted,
        l.duplicates,
        l.sessions_adopted,
        l.problems.len()
    );
    if !l.unmapped.is_empty() {
        println!(
            "websdr ids with no receiver, imported as websdr-N: {:?} (map them with --websdr-map or a registry option websdr_id)",
            l.unmapped
        );
    }
}

/// The websdr id mapping: registry receivers with an integer `websdr_id` option, then the
/// order of `--receivers`, then `--websdr-map` (later sources win).
async fn websdr_map(args: &Args, db: &heimdall::tsdb::Tsdb) -> anyhow::Result<WebsdrMap> {
    let registry = db.list_receivers(false).await?;
    let mut map = WebsdrMap::new();
    for r in &registry {
        if let Some(n) = r.options.get("websdr_id").and_then(|v| v.as_i64()) {
            map.insert(n, r.info.clone());
        }
    }
    let mut known: Vec<ReceiverInfo> = registry.iter().map(|r| r.info.clone()).collect();
    if let Some(path) = &args.receivers {
        let file = heimdall::websdr::receivers_file::ReceiversFile::load(path)
            .map_err(|e| anyhow::anyhow!("cannot read the receivers file {}: {e}", path.display()))?;
        let infos: Vec<ReceiverInfo> = file.enabled().map(|e| e.info.clone()).collect();
        for (n, info) in (1..).zip(infos.iter()) {
            map.insert(n, info.clone());
        }
        known.extend(infos);
    }
    if let Some(path) = &args.websdr_map {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read the websdr map {}: {e}", path.display()))?;
        let file_map = WebsdrMap::parse(&text, |id| known.iter().find(|k| &k.id == id).cloned())
            .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        map.extend(file_map);
    }
    Ok(map)
}
