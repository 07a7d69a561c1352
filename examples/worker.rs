//! A worker: runs acquisition sessions from a work queue (NATS JetStream) until SIGTERM.
//!
//! ```sh
//! cargo run --release --example worker -- --queue nats://127.0.0.1:4222 \
//!     --store s3://heimdall-raw-iq --database postgres://heimdall@db/heimdall [--receivers FILE] \
//!     [--max-sessions N] [--realtime]
//! cargo run --release --example acquire -- --queue nats://127.0.0.1:4222 --duration 5   # submit one
//! ```
//!
//! Run as many as you like, on as many machines, against one NATS, one S3-compatible store and
//! one PostgreSQL/TimescaleDB: each session is committed once whatever dies when (see the
//! README's "Scaling out"). On SIGTERM or Ctrl-C it stops pulling jobs, waits for the sessions
//! it runs (up to --drain-timeout) and hands the rest back to the queue.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use heimdall::core::IqSink;
use heimdall::core::engine::{Engine, RetryConfig};
use heimdall::core::queue::Worker;
use heimdall::storage::ArchiveFormat;
use tokio_util::sync::CancellationToken;

use common::{QueueArgs, SimArgs};

#[derive(Parser, Debug)]
#[command(about = "Run acquisition sessions from a work queue until SIGTERM", version)]
struct Args {
    #[command(flatten)]
    queue: QueueArgs,
    #[command(flatten)]
    backends: common::BackendArgs,
    /// Receivers file (TOML). Default: the simulated reference network.
    #[arg(long, value_name = "FILE")]
    receivers: Option<std::path::PathBuf>,
    /// Archive format: npy, sigmf or both.
    #[arg(long, default_value = "both")]
    format: ArchiveFormat,
    /// Sessions run at once by this worker.
    #[arg(long, value_name = "N", default_value_t = 1)]
    max_sessions: usize,
    /// Name in events and logs (default worker-{pid}).
    #[arg(long)]
    name: Option<String>,
    /// Simulation only: frequency of the simulated transmitter, Hz.
    #[arg(long, value_name = "HZ", default_value_t = 145.5e6)]
    frequency: f64,
    /// Simulation only: sample rate of the simulated receivers, Hz.
    #[arg(long, value_name = "HZ")]
    sample_rate: Option<f64>,
    #[command(flatten)]
    sim: SimArgs,
    /// Retries per receiver for retryable failures.
    #[arg(long, value_name = "N", default_value_t = 2)]
    retries: u32,
    /// Seconds a shutdown waits for running sessions before handing them back.
    #[arg(long, value_name = "S", default_value_t = 30.0)]
    drain_timeout: f64,
}

#[tokio::main]
async fn main() -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_env("RUST_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
    common::exit_code(run(Args::parse()).await)
}

async fn run(args: Args) -> anyhow::Result<()> {
    let (sources, _) = common::build_sources(args.receivers.as_deref(), args.frequency, args.sample_rate, &args.sim)?;
    let sink = Arc::new(args.backends.open_store(args.format)?);
    sink.health()
        .await
        .with_context(|| format!("the archive {sink} is not usable"))?;
    let db = Arc::new(args.backends.open_database().await?);
    let queue = Arc::new(common::open_queue(&args.queue).await?);
    let engine = Engine::builder()
        .sources(sources)
        .sink(sink.clone())
        .store(db.clone())
        .retry(RetryConfig {
            max_retries: args.retries,
            ..RetryConfig::default()
        })
        .build()?;
    let mut builder = Worker::builder()
        .engine(engine)
        .queue(queue.clone())
        .archive(sink.clone())
        .store(db.clone())
        .max_sessions(args.max_sessions)
        .drain_timeout(Duration::try_from_secs_f64(args.drain_timeout).context("--drain-timeout")?);
    if let Some(n) = &args.name {
        builder = builder.name(n.clone());
    }
    let worker = builder.build()?;
    eprintln!(
        "worker: queue {queue}, archive {sink}, database {}, {} session(s) at once",
        db.redacted_url(),
        args.max_sessions
    );
    let shutdown = CancellationToken::new();
    {
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("cannot watch SIGTERM: {e}");
                    return;
                }
            };
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
            eprintln!("worker: stopping (no new sessions; finishing or handing back the running ones)");
            shutdown.cancel();
        });
    }
    let stats = worker.run(shutdown).await?;
    eprintln!("worker: stopped: {}", serde_json::to_string(&stats)?);
    Ok(())
}
