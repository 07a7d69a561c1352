//! Garbage collection of an archive and its database: lists (and with --delete removes) what no
//! committed session references. Never touches a committed session.
//!
//! ```sh
//! cargo run --release --example gc                                  # dry run on the embedded defaults
//! cargo run --release --example gc -- --store s3://heimdall-raw-iq --database postgres://... --grace 3600 --delete
//! ```
//!
//! Leftovers: objects of sessions that were never committed and of attempts that lost to (or
//! crashed before) the committed one, incomplete S3 multipart uploads, local-disk staging files
//! (all older than --grace), and measurement rows whose session has no manifest.
//! Exit code 0; with --check, 3 when anything was found (for scripts).
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use chrono::Utc;
use clap::Parser;
use heimdall::core::{Error, IqArchive, MetricMaintenance};
use heimdall::storage::{ArchiveFormat, GcOptions};
use serde::Serialize;

use common::Table;

#[derive(Parser, Debug)]
#[command(
    about = "Find (and with --delete remove) what no committed session references",
    version
)]
struct Args {
    #[command(flatten)]
    backends: common::BackendArgs,
    /// Only what is older than this many seconds is a leftover (longer than your longest session).
    #[arg(long, value_name = "S", default_value_t = 86_400.0)]
    grace: f64,
    /// Remove what is found (default: only list it).
    #[arg(long)]
    delete: bool,
    /// Exit 3 when anything was found.
    #[arg(long)]
    check: bool,
    /// Print one JSON object on stdout.
    #[arg(long)]
    json: bool,
    /// Instead: check every committed session (fsck): read back every object its manifest lists
    /// (size and SHA-256) and count its rows against the manifest. Exit 4 on any problem.
    #[arg(long)]
    verify: bool,
}

#[derive(Serialize, Default)]
struct Verified {
    sessions: u64,
    objects: u64,
    bytes: u64,
    rows: u64,
    expected_rows: u64,
    problems: Vec<String>,
}

#[derive(Serialize)]
struct OrphanRows {
    session_id: String,
    rows: u64,
}

#[derive(Serialize)]
struct Output {
    archive: heimdall::storage::GcReport,
    orphan_rows: Vec<OrphanRows>,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    if args.verify {
        return match verify(&args).await {
            Ok(v) => {
                println!("{}", serde_json::to_string(&v).unwrap_or_default());
                if v.problems.is_empty() {
                    ExitCode::SUCCESS
                } else {
                    ExitCode::from(4)
                }
            }
            Err(e) => {
                eprintln!("error: {e:#}");
                ExitCode::from(1)
            }
        };
    }
    match run(args).await {
        Ok(found) if found => ExitCode::from(3),
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(1)
        }
    }
}

async fn verify(args: &Args) -> anyhow::Result<Verified> {
    use heimdall::core::{MeasurementQuery, MetricQuery};
    let sink = args.backends.open_store(ArchiveFormat::Both)?;
    let db = args.backends.open_database().await?;
    let mut v = Verified::default();
    let committed = sink.list_sessions(None, None).await?;
    for session in committed {
        v.sessions += 1;
        match sink.verify_session(session).await {
            Ok((objects, bytes)) => {
                v.objects += objects;
                v.bytes += bytes;
            }
            Err(e) => v.problems.push(format!("session {session}: {}", e.chain())),
        }
        let expected = sink.read_manifest(session).await?.measurements().len() as u64;
        let rows = db
            .measurements(&MeasurementQuery {
                session: Some(session),
                limit: Some(MeasurementQuery::MAX_LIMIT),
                ..Default::default()
            })
            .await?
            .len() as u64;
        if rows != expected {
            v.problems.push(format!(
                "session {session}: {rows} rows, its manifest has {expected} captures"
            ));
        }
        v.rows += rows;
        v.expected_rows += expected;
    }
    for (session, rows) in db.sessions_with_rows().await? {
        if matches!(sink.read_manifest(session).await, Err(Error::NotFound { .. })) {
            v.problems
                .push(format!("session {session}: {rows} rows without a committed manifest"));
        }
    }
    Ok(v)
}

async fn run(args: Args) -> anyhow::Result<bool> {
    let grace = Duration::try_from_secs_f64(args.grace).context("--grace must be a number of seconds")?;
    let sink = args.backends.open_store(ArchiveFormat::Both)?;
    let db = args.backends.open_database().await?;
    let opts = GcOptions {
        grace,
        dry_run: !args.delete,
    };
    let archive = sink.collect_garbage(&opts).await?;

    // Rows whose session has no manifest (written by an older version before its commit, or
    // by hand). A session still running has no rows: rows follow the commit.
    let cutoff = Utc::now() - chrono::Duration::from_std(grace).unwrap_or(chrono::TimeDelta::MAX);
    let mut orphan_rows = Vec::new();
    for (session, rows) in db.sessions_with_rows().await? {
        if session.timestamp().is_some_and(|t| t >= cutoff) {
            continue;
        }
        match sink.read_manifest(session).await {
            Ok(_) => continue,
            Err(Error::NotFound { .. }) => {}
            Err(e) => return Err(e).with_context(|| format!("cannot tell whether session {session} is committed")),
        }
        if args.delete {
            db.delete_uncommitted(session).await?;
        }
        orphan_rows.push(OrphanRows {
            session_id: session.to_string(),
            rows,
        });
    }
    let found = !archive.items.is_empty() || !orphan_rows.is_empty();
    if args.json {
        println!("{}", serde_json::to_string(&Output { archive, orphan_rows })?);
        return Ok(found && args.check);
    }
    let verb = if args.delete {
        "removed"
    } else {
        "would remove (dry run; --delete removes)"
    };
    let mut t = Table::new(&["kind", "key", "bytes", "last written"]);
    for i in &archive.items {
        t.row(vec![
            i.kind.as_str().into(),
            i.key.clone(),
            i.bytes.to_string(),
            i.modified.to_rfc3339(),
        ]);
    }
    for o in &orphan_rows {
        t.row(vec![
            "orphan_rows".into(),
            format!("session {}", o.session_id),
            format!("{} rows", o.rows),
            "-".into(),
        ]);
    }
    if found {
        println!("{}", t.render());
    }
    for w in &archive.warnings {
        eprintln!("warning: {w}");
    }
    println!(
        "{} committed sessions kept untouched; {verb}: {} objects/uploads/files ({} bytes), {} sessions' orphan rows",
        archive.committed_sessions,
        archive.items.len(),
        archive.items.iter().map(|i| i.bytes).sum::<u64>(),
        orphan_rows.len()
    );
    Ok(found && args.check)
}
