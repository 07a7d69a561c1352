//! The main job: one acquisition over a receiver network, archived and recorded.
//!
//! With no options it runs the simulated 7-receiver reference network (a transmitter near
//! Asti, 145.5 MHz, 10 s), archives the captures under `./heimdall-data/` (`.npy` and SigMF),
//! records the metrics in `./heimdall-data/heimdall.db` (SQLite) and draws an overview PNG:
//!
//! ```sh
//! cargo run --release --example acquire
//! cargo run --release --example acquire -- --store s3://heimdall-raw-iq --database postgres://localhost/heimdall
//! cargo run --release --example acquire -- --receivers receivers.example.toml --frequency 145.5e6 --duration 10
//! cargo run --release --example acquire -- --locate --sample-rate 240e3 --modulation fm
//! cargo run --release --example acquire -- --recordings DIR/stations.json --locate
//! ```
//!
//! With `--recordings`, the recordings a stations file lists (kiwirecorder IQ WAVs with GNSS
//! time stamps, or SigMF) replay as the receivers: they are archived, measured and recorded
//! like live captures (the importer), and `--locate` locates them.
//!
//! With `--locate`, once the session is committed its captures are read back from the archive
//! and located (TDoA from the GPS-timed receivers, RSSI otherwise): the result is kept as
//! `sessions/{id}/localization.json` and a `localizations` row, and printed with the summary
//! (with `--json`, under `localization`).
//!
//! Exit code: 0 when every receiver recorded, 2 when some did, 1 when none did, when `--locate`
//! was asked and the session could not be located, or on error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::{DateTime, Utc};
use clap::{Parser, ValueEnum};
use futures::StreamExt;
use heimdall::core::engine::{Engine, EngineEvent, RetryConfig, SessionOutcome};
use heimdall::core::redact::Redacted;
use heimdall::core::{
    AcquisitionRequest, ErrorReport, GeoPosition, IqSink, ReceiverStatus, SessionId, SessionReport, SessionStatus,
};
use heimdall::storage::ArchiveFormat;
use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use common::{QueueArgs, SimArgs, Table, opt, parse_time};

/// The frequency of the simulated reference network's transmitter (Hz).
const DEFAULT_FREQUENCY_HZ: f64 = 145.5e6;
/// The default capture length (s).
const DEFAULT_DURATION_S: f64 = 10.0;

#[derive(Parser, Debug)]
#[command(
    about = "Acquire one capture from every receiver of a network, measure it, archive it and record its metrics",
    long_about = "Acquire one capture from every receiver of a network at once, measure each capture \
(SNR, frequency offset, power), archive the samples (.npy and/or SigMF, with a manifest written last) \
and record one metrics row per receiver.\n\nWith no options: the simulated 7-receiver reference network, \
145.5 MHz, 10 s, archive ./heimdall-data, database ./heimdall-data/heimdall.db. Nothing to install.\n\n\
Exit code: 0 = every receiver recorded, 2 = partial success, 1 = failure.",
    version
)]
struct Args {
    /// Receivers file (TOML, see receivers.example.toml). Default: the simulated reference network.
    #[arg(long, value_name = "FILE")]
    receivers: Option<std::path::PathBuf>,
    /// Recordings to replay instead of live receivers (the importer): a stations file, the
    /// stations.json of a kiwirecorder TDoA set (per station: id, file, latitude, longitude; the
    /// files are kiwirecorder IQ WAVs with GNSS time stamps or SigMF recordings). The frequency and
    /// the duration default to the recordings' centre and the longest recording.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["receivers", "queue"])]
    recordings: Option<std::path::PathBuf>,
    /// Centre (target) frequency in Hz, e.g. 145.5e6 (the default; with --recordings, theirs).
    #[arg(long, value_name = "HZ")]
    frequency: Option<f64>,
    /// Capture duration in seconds, at most 3600 (default 10; with --recordings, the longest recording).
    #[arg(long, value_name = "S")]
    duration: Option<f64>,
    /// Preferred sample rate in Hz (receivers with a fixed rate use theirs; sets every simulated receiver's rate).
    #[arg(long, value_name = "HZ")]
    sample_rate: Option<f64>,
    /// Common start time for every receiver (RFC 3339, e.g. 2026-11-28T12:00:00Z): connect early,
    /// capture the same window (time-aligned captures for TDoA).
    #[arg(long, value_name = "RFC3339", value_parser = parse_time)]
    start_at: Option<DateTime<Utc>>,
    #[command(flatten)]
    backends: common::BackendArgs,
    /// Archive format: npy (+ _metadata.json), sigmf, both, or legacy (npy plus the websdr_{n} layout of
    /// the Python service Heimdall replaces (FastAPI + Celery, boto3, SQLAlchemy)).
    #[arg(long, value_enum, default_value_t = FormatArg::Both)]
    format: FormatArg,
    /// Session id (a UUID); default: a new time-ordered UUID v7.
    #[arg(long, value_name = "UUID")]
    session_id: Option<SessionId>,
    /// How many receivers are fetched at once.
    #[arg(long, value_name = "N", default_value_t = 8)]
    concurrency: usize,
    /// Retries per receiver for retryable failures (busy, timeout, dropped connection).
    #[arg(long, value_name = "N", default_value_t = 2)]
    retries: u32,
    /// Connect timeout per receiver, seconds.
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    connect_timeout: f64,
    /// Print the session report as one JSON object on stdout, nothing else on stdout.
    #[arg(long)]
    json: bool,
    /// Do not draw the overview PNG.
    #[arg(long)]
    no_plot: bool,
    /// After the commit, locate the transmitter from the archived captures; keep the result
    /// with the session (localization.json) and in the database, and print it.
    #[arg(long, conflicts_with = "queue")]
    locate: bool,
    /// Create the S3 bucket of --store when it does not exist (as the old service did).
    #[arg(long)]
    create_bucket: bool,
    #[command(flatten)]
    sim: SimArgs,
    /// With --queue: submit the session to the work queue instead of running it here; workers
    /// (`--example worker`) run it. Waits for the result unless --detach.
    #[command(flatten)]
    queue: QueueArgs,
    /// With --queue: print the session id and return once it is queued.
    #[arg(long, requires = "queue")]
    detach: bool,
}

#[derive(Copy, Clone, Debug, ValueEnum)]
enum FormatArg {
    Npy,
    Sigmf,
    Both,
    /// npy, plus the old service's layout (websdr_{n}.npy + websdr_{n}_metadata.json with its
    /// field names and S3 user metadata) written once the session is committed.
    Legacy,
}

#[tokio::main]
async fn main() -> ExitCode {
    let args = Args::parse();
    init_tracing();
    match run(args).await {
        Ok(code) => code,
        Err(e) => {
            let msg = format!("{e:#}");
            eprintln!("error: {msg}");
            if msg.contains("169.254.169.254") {
                eprintln!(
                    "  -> no S3 credentials were found, so the cloud instance metadata was tried: set \
AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or --store-option aws_access_key_id=... etc.)"
                );
            } else if msg.contains("Connection refused") {
                eprintln!("  -> nothing listens at that endpoint: check the URL and that the server runs");
            }
            ExitCode::from(1)
        }
    }
}

fn init_tracing() {
    use tracing_subscriber::EnvFilter;
    // The database's warnings say what to change on the server (e.g. TimescaleDB not preloaded).
    let filter = EnvFilter::try_from_env("RUST_LOG").unwrap_or_else(|_| EnvFilter::new("error,heimdall_tsdb=warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

async fn run(args: Args) -> anyhow::Result<ExitCode> {
    let recordings = match &args.recordings {
        Some(path) => Some(
            heimdall::recordings::recording_network(path)
                .with_context(|| format!("cannot replay the recordings of {}", path.display()))?,
        ),
        None => None,
    };
    let frequency = args
        .frequency
        .or(recordings.as_ref().map(|r| r.frequency_hz))
        .unwrap_or(DEFAULT_FREQUENCY_HZ);
    let seconds = args
        .duration
        .or(recordings.as_ref().map(|r| r.duration.as_secs_f64()))
        .unwrap_or(DEFAULT_DURATION_S);
    anyhow::ensure!(
        seconds.is_finite() && seconds > 0.0,
        "--duration must be a positive number of seconds"
    );
    let duration = Duration::try_from_secs_f64(seconds).context("--duration is out of range")?;
    let mut req = AcquisitionRequest::new(frequency, duration);
    req.sample_rate_hz = args.sample_rate;
    req.start_at = args.start_at;
    req.validate().context("the request is not valid")?;

    if args.queue.queue.is_some() {
        return run_queued(&args, req).await;
    }
    let (sources, transmitter) = match recordings {
        Some(r) => (r.sources, r.transmitter),
        None => common::build_sources(args.receivers.as_deref(), frequency, args.sample_rate, &args.sim)?,
    };

    let format = match args.format {
        FormatArg::Npy | FormatArg::Legacy => ArchiveFormat::Npy,
        FormatArg::Sigmf => ArchiveFormat::Sigmf,
        FormatArg::Both => ArchiveFormat::Both,
    };
    if args.create_bucket {
        let (url, b) = common::store_builder(args.backends.store.as_deref(), &args.backends.store_options, format)?;
        if b.ensure_bucket()
            .await
            .with_context(|| format!("cannot create the bucket of {}", Redacted(&url)))?
        {
            eprintln!("created the bucket of {}", Redacted(&url));
        }
    }
    let sink = Arc::new(args.backends.open_store(format)?);
    let db = Arc::new(args.backends.open_database().await?);
    sink.health()
        .await
        .with_context(|| format!("the archive {sink} is not usable"))?;

    let retry = RetryConfig {
        max_retries: args.retries,
        ..RetryConfig::default()
    };
    let engine = Engine::builder()
        .sources(sources)
        .sink(sink.clone())
        .store(db.clone())
        .concurrency(args.concurrency)
        .connect_timeout(Duration::try_from_secs_f64(args.connect_timeout).context("--connect-timeout")?)
        .retry(retry)
        .build()?;

    let handle = engine.start(req, args.session_id)?;
    let session = handle.session_id();
    if !args.json {
        eprintln!(
            "session {session}: {} receivers, {:.6} MHz, {:.1} s -> archive {sink}, database {}",
            engine.receivers().len(),
            frequency / 1e6,
            seconds,
            db.redacted_url()
        );
    }
    let bars = tokio::spawn(draw_progress(
        handle.events(),
        engine.receiver_ids().iter().map(|r| r.to_string()).collect(),
    ));
    let cancel = handle.cancel_token();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupted: cancelling (nothing partial is kept)");
            cancel.cancel();
        }
    });
    let outcome = handle.finish_detailed().await?;
    let _ = bars.await;
    let report = &outcome.report;

    if matches!(args.format, FormatArg::Legacy) {
        // Only the run whose create-only manifest put succeeded has a committed report (another
        // attempt's run ends in AlreadyExists): it alone writes the old layout, from the manifest.
        match sink.read_session_manifest(report.session_id).await {
            Ok(m) if report.committed => {
                let map = heimdall::storage::legacy::WebsdrMap::new();
                match heimdall::storage::legacy::write_legacy_layout(&sink, &m.session, &map).await {
                    Ok(objs) => eprintln!(
                        "old layout: {} objects (websdr_N = the receiver's position)",
                        objs.len()
                    ),
                    Err(e) => eprintln!("warning: could not write the old layout: {}", e.chain()),
                }
            }
            Ok(_) => eprintln!("warning: this run did not commit the session: old layout not written"),
            Err(e) => eprintln!("warning: session not committed, old layout not written: {}", e.chain()),
        }
    }

    let plot = if args.no_plot || report.receivers.iter().all(|r| !r.status.is_stored()) {
        None
    } else {
        match save_plot(&sink, &outcome, transmitter, args.backends.store.as_deref()).await {
            Ok(p) => Some(p),
            Err(e) => {
                eprintln!("warning: could not draw the overview: {e:#}");
                None
            }
        }
    };

    let located = if args.locate {
        Some(locate_committed(&sink, db.as_ref(), report).await)
    } else {
        None
    };

    if args.json {
        let mut v = serde_json::to_value(report)?;
        if let (Some(obj), Some(p)) = (v.as_object_mut(), &plot) {
            obj.insert("overview_png".into(), p.clone().into());
        }
        match (&located, v.as_object_mut()) {
            (Some(Ok(l)), Some(obj)) => {
                obj.insert("localization".into(), l.document.result.clone());
                obj.insert("localization_json".into(), l.key.clone().into());
            }
            (Some(Err(e)), Some(obj)) => {
                obj.insert("localization_error".into(), e.to_string().into());
            }
            _ => {}
        }
        println!("{v}");
    } else {
        print_summary(report, plot.as_deref());
        match &located {
            Some(Ok(l)) => print_localization(l, transmitter),
            Some(Err(e)) => println!("localization failed: {e}"),
            None => {}
        }
    }
    if matches!(located, Some(Err(_))) {
        return Ok(ExitCode::from(1));
    }
    Ok(exit_code(report.status))
}

/// `--locate`: locates the committed session from its archived captures and keeps the result.
async fn locate_committed(
    sink: &heimdall::storage::ArchiveSink,
    db: &heimdall::tsdb::Tsdb,
    report: &SessionReport,
) -> anyhow::Result<heimdall::session_locate::SessionLocalization> {
    anyhow::ensure!(
        report.committed,
        "session {} was not committed by this run: nothing to locate",
        report.session_id
    );
    Ok(heimdall::session_locate::locate_session(
        sink,
        Some(db as &dyn heimdall::core::LocalizationStore),
        report.session_id,
        &heimdall::locate::LocateOptions::default(),
    )
    .await?)
}

/// The localization under the summary (and the error to the known transmitter: simulated, or a stations file's truth).
fn print_localization(l: &heimdall::session_locate::SessionLocalization, truth: Option<GeoPosition>) {
    let v = &l.document.result;
    let f = |x: &serde_json::Value| x.as_f64().unwrap_or(f64::NAN);
    let e = &v["error_ellipse_m"];
    println!(
        "located ({}): {:.5} N {:.5} E, {:.0}% ellipse {:.0} m x {:.0} m at {:.0}°",
        v["method"].as_str().unwrap_or("-"),
        f(&v["latitude"]),
        f(&v["longitude"]),
        f(&e["confidence"]) * 100.0,
        f(&e["semi_major"]),
        f(&e["semi_minor"]),
        f(&e["orientation_deg"])
    );
    let list = |k: &str| -> Vec<String> {
        v[k].as_array()
            .into_iter()
            .flatten()
            .map(|x| match x.as_str() {
                Some(s) => s.to_owned(),
                None => format!(
                    "{} ({})",
                    x["id"].as_str().unwrap_or("-"),
                    x["reason"].as_str().unwrap_or("-")
                ),
            })
            .collect()
    };
    println!("  used: {}", list("stations_used").join(", "));
    for r in list("stations_rejected") {
        println!("  rejected: {r}");
    }
    if let Some(t) = truth
        && let Ok(p) = GeoPosition::new(f(&v["latitude"]), f(&v["longitude"]), t.altitude_m)
    {
        println!("  known transmitter {:.0} m away", p.distance_m(&t));
    }
    println!("  kept as {}", l.key);
}

/// `--queue`: submits the session to the work queue, then (unless `--detach`) follows its
/// events until a worker finishes it, and reports it like an in-process run.
async fn run_queued(args: &Args, req: AcquisitionRequest) -> anyhow::Result<ExitCode> {
    use heimdall::core::queue::{Job, JobEvent, WorkQueue};
    let queue = common::open_queue(&args.queue).await?;
    let job = Job::with_session(args.session_id.unwrap_or_else(SessionId::new), req);
    let session = job.session_id;
    // Subscribed before submitting: no event of the session can be missed.
    let mut events = queue.subscribe(session).await?;
    if args.backends.database.is_some() {
        let db = args.backends.open_database().await?;
        use heimdall::core::MetricStore;
        db.record_session(&SessionReport::queued(session, job.request.clone(), job.submitted_at))
            .await
            .context("cannot record the queued session")?;
    }
    let submitted = queue.submit(&job).await?;
    if args.detach {
        println!("{session}");
        if submitted.duplicate {
            eprintln!("session {session} was already queued: not queued twice");
        }
        return Ok(ExitCode::SUCCESS);
    }
    if !args.json {
        eprintln!(
            "session {session}: queued on {queue}{}; waiting for a worker (Ctrl-C cancels it)",
            if submitted.duplicate { " (already queued)" } else { "" }
        );
    }
    let cancel_queue = queue.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            eprintln!("\ninterrupted: cancelling session {session}");
            let _ = cancel_queue.cancel(session).await;
        }
    });
    let (tx, rx) = futures::channel::mpsc::unbounded();
    let bars = (!args.json).then(|| tokio::spawn(draw_progress(rx.boxed(), Vec::new())));
    let mut report = None;
    while let Some(ev) = events.next().await {
        match ev {
            JobEvent::Engine { event } => {
                let _ = tx.unbounded_send(event);
            }
            JobEvent::Started { worker, delivery, .. } if !args.json => {
                eprintln!("session {session}: started by {worker} (delivery {delivery})");
            }
            JobEvent::Requeued { reason, after_s, .. } if !args.json => {
                eprintln!("session {session}: requeued ({reason}); next try in {after_s:.0} s");
            }
            JobEvent::Finished { report: r } => {
                report = Some(*r);
                break;
            }
            JobEvent::Terminated { error, .. } => {
                drop(tx);
                anyhow::bail!("session {session} was given up by the workers: {}", error.message);
            }
            _ => {}
        }
    }
    drop(tx);
    if let Some(b) = bars {
        let _ = b.await;
    }
    let report = report.context("the queue closed before the session finished")?;
    if args.json {
        println!("{}", serde_json::to_value(&report)?);
    } else {
        print_summary(&report, None);
    }
    Ok(exit_code(report.status))
}

fn exit_code(status: SessionStatus) -> ExitCode {
    match status {
        SessionStatus::Success => ExitCode::SUCCESS,
        SessionStatus::Partial => ExitCode::from(2),
        _ => ExitCode::from(1),
    }
}

/// One progress bar per receiver on stderr (hidden when stderr is not a terminal).
async fn draw_progress(mut events: futures::stream::BoxStream<'static, EngineEvent>, receivers: Vec<String>) {
    let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{prefix:>22} [{bar:30}] {percent:>3}% {msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ");
    let mut bars: BTreeMap<String, ProgressBar> = BTreeMap::new();
    for r in receivers {
        let b = multi.add(ProgressBar::new(100).with_style(style.clone()).with_prefix(r.clone()));
        b.set_message("connecting");
        bars.insert(r, b);
    }
    while let Some(ev) = events.next().await {
        // A queued session's receivers are known when a worker starts it.
        if let EngineEvent::SessionStarted { receivers, .. } = &ev {
            for r in receivers {
                bars.entry(r.to_string()).or_insert_with(|| {
                    let b = multi.add(
                        ProgressBar::new(100)
                            .with_style(style.clone())
                            .with_prefix(r.to_string()),
                    );
                    b.set_message("connecting");
                    b
                });
            }
        }
        let bar = ev.receiver().and_then(|r| bars.get(r.as_str()));
        match (&ev, bar) {
            (EngineEvent::ReceiverConnecting { attempt, .. }, Some(b)) if *attempt > 1 => {
                b.set_message(format!("connecting (attempt {attempt})"))
            }
            (EngineEvent::ReceiverConnected { info, .. }, Some(b)) => {
                b.set_length(info.expected_samples.unwrap_or(100).max(1));
                b.set_position(0);
                b.set_message(format!("{:.2} kS/s", info.sample_rate_hz / 1e3));
            }
            (EngineEvent::Progress { samples, expected, .. }, Some(b)) => {
                b.set_length((*expected).max(1));
                b.set_position(*samples);
            }
            (EngineEvent::CaptureFinished { .. }, Some(b)) => {
                if let Some(l) = b.length() {
                    b.set_position(l);
                }
                b.set_message("captured");
            }
            (EngineEvent::Stored { .. }, Some(b)) => b.set_message("stored"),
            (EngineEvent::Recorded { .. }, Some(b)) => b.finish_with_message("recorded"),
            (EngineEvent::Retrying { attempt, after, .. }, Some(b)) => {
                b.set_message(format!("retrying (attempt {attempt}) in {:.1} s", after.as_secs_f64()))
            }
            (
                EngineEvent::Failed {
                    error,
                    will_retry: false,
                    ..
                },
                Some(b),
            ) => b.abandon_with_message(format!("failed: {}", error.kind)),
            _ => {}
        }
    }
    for b in bars.values() {
        if !b.is_finished() {
            b.abandon();
        }
    }
}

/// What to do about an error, in plain words.
fn hint(status: ReceiverStatus, e: &ErrorReport) -> &'static str {
    if status == ReceiverStatus::StoreFailed {
        return "the archive failed: check --store, its endpoint and credentials, and free space; the capture was discarded";
    }
    if status == ReceiverStatus::Stored {
        return "the capture is archived but its row is missing: check --database, then run `reindex`";
    }
    match e.kind.as_str() {
        "unavailable" => "the receiver is busy or unreachable: try again later or pick another receiver",
        "refused" => {
            "the receiver refused us (password, IP limit or kicked): check the receivers file; do not retry blindly"
        }
        "timeout" => "no answer in time: check the network path, or raise --connect-timeout",
        "connection_lost" => "the connection dropped mid-capture: try again",
        "malformed" => "the receiver sent data Heimdall cannot decode: check its software version",
        "storage" => "the archive failed: check --store, credentials and free space",
        "database" => "the database failed: check --database; `reindex` can rebuild rows from the archive",
        "cancelled" => "the session was cancelled",
        _ => "",
    }
}

fn print_summary(report: &SessionReport, plot: Option<&str>) {
    let mut t = Table::new(&[
        "receiver",
        "status",
        "SNR dB",
        "offset Hz",
        "RSSI",
        "samples",
        "time",
        "object key",
        "error",
    ]);
    for r in &report.receivers {
        let rssi = r
            .capture
            .as_ref()
            .and_then(|c| c.rssi)
            .map(|s| format!("{:.1} {}", s.mean, s.unit.as_str()))
            .unwrap_or_else(|| "-".into());
        let key = r
            .objects
            .iter()
            .find(|o| o.key.ends_with(".npy") || o.key.ends_with(".sigmf-data"))
            .or(r.objects.first())
            .map(|o| o.key.clone())
            .unwrap_or_else(|| "-".into());
        t.row(vec![
            r.receiver.id.to_string(),
            r.status.as_str().into(),
            opt(r.metrics.and_then(|m| m.snr_db), 1),
            opt(r.metrics.and_then(|m| m.frequency_offset_hz), 2),
            rssi,
            r.capture
                .as_ref()
                .map(|c| c.samples.to_string())
                .unwrap_or_else(|| "-".into()),
            r.capture
                .as_ref()
                .map(|c| c.time_source.to_string())
                .unwrap_or_else(|| "-".into()),
            key,
            r.error.as_ref().map(|e| e.kind.clone()).unwrap_or_default(),
        ]);
    }
    println!("{}", t.render());
    for r in report.receivers.iter().filter(|r| r.status != ReceiverStatus::Recorded) {
        if let Some(e) = &r.error {
            let h = hint(r.status, e);
            println!(
                "{} ({}): {}{}{}",
                r.receiver.id,
                r.receiver.url,
                e.message,
                if h.is_empty() { "" } else { "\n  -> " },
                h
            );
        }
    }
    for e in &report.errors {
        println!("session-level failure ({}): {}", e.kind, e.message);
    }
    println!(
        "session {}: {} ({} of {} receivers recorded) in {:.2} s",
        report.session_id,
        report.status.as_str(),
        report.recorded(),
        report.receivers.len(),
        (report.finished_at - report.started_at).num_milliseconds() as f64 / 1e3
    );
    if let Some(p) = plot {
        println!("overview: {p}");
    }
}

/// Draws the overview PNG and stores it next to the captures; returns where it is.
async fn save_plot(
    sink: &heimdall::storage::ArchiveSink,
    outcome: &SessionOutcome,
    transmitter: Option<GeoPosition>,
    store_url: Option<&str>,
) -> anyhow::Result<String> {
    let report = &outcome.report;
    let receivers: Vec<common::plot::PlotReceiver<'_>> = report
        .receivers
        .iter()
        .map(|r| {
            let psd = outcome.psds.get(&r.receiver.id).map(|p| {
                let offset = r.capture.as_ref().map(|c| c.info.target_offset_hz()).unwrap_or(0.0);
                p.frequencies_hz
                    .iter()
                    .zip(p.density.iter())
                    .map(|(f, d)| (f - offset, 10.0 * d.max(1e-30).log10()))
                    .collect()
            });
            common::plot::PlotReceiver {
                info: &r.receiver,
                snr_db: r.metrics.and_then(|m| m.snr_db),
                psd,
            }
        })
        .collect();
    let title = format!(
        "Heimdall session {} - {:.4} MHz, {:.1} s - {}",
        report.session_id,
        report.request.frequency_hz / 1e6,
        report.request.duration.as_secs_f64(),
        report.status.as_str()
    );
    let tmp = std::env::temp_dir().join(format!("heimdall-overview-{}.png", report.session_id));
    common::plot::render_session_png(&tmp, &title, &receivers, transmitter)?;
    let bytes = tokio::fs::read(&tmp).await?;
    let _ = tokio::fs::remove_file(&tmp).await;
    // Written once, after the commit, next to the manifest (not listed in it): create-only, so
    // that nothing in a committed session's folder is ever replaced.
    let key = sink.session_dir(report.session_id).join("overview.png");

    sink.store()
        .put_opts(&key, bytes.into(), object_store::PutMode::Create.into())
        .await
        .with_context(|| format!("cannot store {key}"))?;
    let base = store_url.map(str::to_owned).unwrap_or(common::default_store_url()?);
    Ok(match common::local_dir_of(&base) {
        Some(dir) => dir.join(key.as_ref()).display().to_string(),
        None => format!("{}/{}", base.trim_end_matches('/'), key),
    })
}
