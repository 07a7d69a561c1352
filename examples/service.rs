//! The old acquisition REST API as a small axum service embedding Heimdall.
//!
//! One file to copy: it shows how to put the [`Engine`] behind an HTTP API, follow a session
//! through its [`EngineEvent`]s (as Server-Sent Events), keep the receiver registry in the
//! metrics database, and shut down without leaving anything half-written.
//!
//! ```sh
//! # simulated reference network, local disk archive and SQLite under ./heimdall-data
//! cargo run --example service -- --listen 127.0.0.1:8080
//! curl -s -X POST localhost:8080/api/v1/acquisitions \
//!      -H 'content-type: application/json' -d '{"frequency_mhz": 145.5, "duration_seconds": 10}'
//! curl -sN localhost:8080/api/v1/acquisitions/<session_id>/events
//! curl -s localhost:8080/api/v1/acquisitions/<session_id>
//! # S3 + PostgreSQL
//! cargo run --example service -- --store s3://bucket/prefix --store-option endpoint=http://127.0.0.1:8333 \
//!     --database postgres://heimdall@localhost/heimdall
//! ```
//!
//! | endpoint | what |
//! |---|---|
//! | `POST /api/v1/acquisitions` | start an acquisition: `{"frequency_mhz", "duration_seconds" (≤ 300), "start_time"?, "websdrs"?, "sample_rate_hz"?, "label"?}` → `202` |
//! | `GET /api/v1/acquisitions/{id}` | status (`PENDING`, `PROGRESS`, `SUCCESS`, `PARTIAL_FAILURE`, `FAILURE`, `CANCELLED`), progress, errors, result |
//! | `GET /api/v1/acquisitions/{id}/events` | the engine's events as Server-Sent Events, ending after `session_finished` |
//! | `DELETE /api/v1/acquisitions/{id}` | cancel (no object and no measurement stays; the session record says cancelled) |
//! | `GET /api/v1/acquisitions/{id}/objects` | the committed session's archived objects (name, key, size, SHA-256), from its manifest |
//! | `GET /api/v1/acquisitions/{id}/objects/{name}` | download one of them, streamed from the store, `ETag` = its SHA-256 |
//! | `GET/POST /api/v1/receivers`, `GET/PUT/DELETE /api/v1/receivers/{id}` | the receiver registry (DELETE deactivates) |
//! | `GET /api/v1/receivers/health` | every active receiver's health check, concurrently, 3 s each |
//! | `GET /api/v1/receivers/{id}/snr-stats` | SNR statistics of one receiver |
//! | `GET /api/v1/measurements` | recent measurements (`receiver`, `session`, `freq_min_mhz`, `freq_max_mhz`, `since`, `until`, `limit`) |
//! | `GET /health` | archive and database health (`503` with the cause when one fails) |
//! | `GET /api/v1/openapi.json` | the OpenAPI 3.1 document of all of the above |
//!
//! The receiver subset of a request is `websdrs`, the old service's field name (aliases:
//! `receivers`, `websdr_ids`); its items are receiver ids (strings; integers are accepted and
//! read as the id of the same digits). Validation errors are `422` with a FastAPI-style body:
//! `{"detail": [{"loc": ["body", "frequency_mhz"], "msg": "...", "type": "..."}]}`; other
//! errors are `{"detail": "..."}` with the matching status.
//!
//! Receivers come from the registry in the database. On startup, `--receivers FILE` entries are
//! written into it; if it is still empty, the simulated reference network's seven receivers are.
//! Simulated receivers hear one transmitter near Torino on the requested frequency (FM voice,
//! 30 dBm EIRP), delivered as fast as possible or, with `--realtime`, like live receivers.
//!
//! While the process lives, the status comes from the engine's events and report; after a
//! restart it comes from the session record in the database, then from the archive's manifest
//! (a cancelled session has a session record saying so, and no rows or objects).
//!
//! On SIGTERM or Ctrl-C the service stops accepting connections, lets running acquisitions
//! finish for `--shutdown-grace` seconds, cancels the rest (the engine aborts their archive
//! sessions and writes no row) and exits once they are cleaned up. At most `--max-running`
//! acquisitions run at once (more are `429`).
//!
//! Receiver kinds without a builder yet, and registry records without a position, cannot be
//! turned into sources: an acquisition naming them is `422`, one over all receivers skips them
//! (listed in the `202` answer's `skipped`).
//!
//! Tests: `cargo test --example service` (in-process service on 127.0.0.1:0, simulated network,
//! local-disk archive and SQLite in a temporary directory); `scripts/service_e2e.sh` runs the
//! binary against SeaweedFS and PostgreSQL.
#![allow(clippy::print_stdout, clippy::print_stderr)]

mod common;

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use chrono::{DateTime, Utc};
use clap::Parser;
use futures::{Stream, StreamExt};
use heimdall::core::engine::{Engine, EngineEvent};
use heimdall::core::{
    AcquisitionRequest, Error, ErrorReport, GeoPosition, IqArchive, IqSink, MeasurementQuery, MetricQuery, MetricStore,
    ReceiverId, ReceiverInfo, ReceiverKind, ReceiverRecord, ReceiverRegistry, ReceiverSource, SessionId, SessionReport,
    SessionStatus, StoredObject, TimeWindow,
};
use heimdall::storage::{ArchiveFormat, ArchiveSink};
use heimdall::tsdb::Tsdb;
use heimdall::websdr::receivers_file::ReceiversFile;
use heimdall::websdr::simulated::{
    Modulation, Pacing, SimulatedNetwork, SimulatedReceiver, SimulatedReceiverConfig, Transmitter,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;
use utoipa::{OpenApi, ToSchema};

/// Longest acquisition the API accepts (the old service's limit).
const MAX_DURATION_SECONDS: f64 = 300.0;
/// Highest frequency accepted, MHz (300 GHz).
const MAX_FREQUENCY_MHZ: f64 = 300_000.0;
/// How far ahead a scheduled start may be.
const MAX_START_AHEAD_HOURS: i64 = 24;
/// Deadline of each receiver health check.
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// Deadline of the archive and database health checks.
const BACKEND_HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
/// Finished sessions kept in memory (older ones are answered from the database).
const KEEP_FINISHED: usize = 256;
/// Events buffered per SSE client before the oldest are dropped.
const SSE_BUFFER: usize = 1024;

// ---------------------------------------------------------------------------------------------
// Command line
// ---------------------------------------------------------------------------------------------

#[derive(Parser, Debug)]
#[command(
    about = "Heimdall acquisition service: the old REST API over the embedded engine",
    version
)]
struct Args {
    /// Archive: s3://bucket/prefix, file:///abs/path, memory://, or a directory.
    /// Default: ./heimdall-data.
    #[arg(long, env = "HEIMDALL_STORE")]
    store: Option<String>,
    /// Archive option key=value (e.g. endpoint=http://127.0.0.1:8333, allow_http=true); repeatable.
    #[arg(long = "store-option", value_parser = common::parse_key_value)]
    store_options: Vec<(String, String)>,
    /// Archive format: npy, sigmf or both.
    #[arg(long, default_value = "both")]
    format: ArchiveFormat,
    /// Metrics database: postgres://user@host/db, a SQLite file path, or sqlite::memory:.
    /// Default: ./heimdall-data/heimdall.db.
    #[arg(long, env = "DATABASE_URL")]
    database: Option<String>,
    /// Receivers file (TOML `[[receiver]]` list) written into the registry on startup.
    #[arg(long, env = "HEIMDALL_RECEIVERS")]
    receivers: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "HEIMDALL_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Simulated receivers deliver in real time (a 10 s capture takes 10 s).
    #[arg(long)]
    realtime: bool,
    /// Seed of the simulated network.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// On SIGTERM, seconds running acquisitions get to finish before they are cancelled.
    #[arg(long, default_value_t = 10.0)]
    shutdown_grace: f64,
    /// Most acquisitions running at once; more are refused with 429.
    #[arg(long, default_value_t = 16)]
    max_running: usize,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
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
    let grace = Duration::try_from_secs_f64(args.shutdown_grace)
        .map_err(|e| anyhow::anyhow!("--shutdown-grace {}: {e}", args.shutdown_grace))?;
    let sink = common::open_store(args.store.as_deref(), &args.store_options, args.format)?;
    let db = common::open_database(args.database.as_deref()).await?;
    let file = match &args.receivers {
        Some(p) => Some(ReceiversFile::load(p).with_context(|| format!("cannot load {}", p.display()))?),
        None => None,
    };
    let pacing = if args.realtime {
        Pacing::RealTime
    } else {
        Pacing::AsFastAsPossible
    };
    let app = AppState::new(sink, Arc::new(db), pacing, args.seed);
    app.max_running.store(args.max_running.max(1), Ordering::Relaxed);
    app.init_registry(file.as_ref()).await?;
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr} (OpenAPI: http://{addr}/api/v1/openapi.json)");
    serve(listener, app, shutdown_signal(), grace).await
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!("cannot listen for Ctrl-C: {e}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!("cannot listen for SIGTERM: {e}");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// Serves `app` on `listener` until `signal` resolves, then shuts down gracefully: no new
/// connection or acquisition is accepted, running acquisitions get `grace` to finish, the rest
/// are cancelled (and cleaned up by the engine), and open connections (event streams end with
/// their sessions) get a last 30 s.
async fn serve(
    listener: tokio::net::TcpListener,
    app: AppState,
    signal: impl std::future::Future<Output = ()> + Send + 'static,
    grace: Duration,
) -> anyhow::Result<()> {
    let stop = CancellationToken::new();
    let server = axum::serve(listener, router(app.clone())).with_graceful_shutdown(stop.clone().cancelled_owned());
    let mut server = tokio::spawn(async move { server.await });
    tokio::select! {
        r = &mut server => return r.context("server task failed")?.context("server failed"),
        _ = signal => {}
    }
    tracing::info!("shutting down: no new connections; draining running acquisitions");
    stop.cancel();
    app.drain(grace).await;
    match tokio::time::timeout(Duration::from_secs(30), &mut server).await {
        Ok(r) => r.context("server task failed")?.context("server failed")?,
        Err(_) => {
            tracing::warn!("connections still open 30 s after the drain; closing them");
            server.abort();
        }
    }
    tracing::info!("stopped");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// State
// ---------------------------------------------------------------------------------------------

/// Everything the handlers share. Cheap to clone.
#[derive(Clone)]
struct AppState(Arc<Inner>);

struct Inner {
    sink: ArchiveSink,
    db: Arc<Tsdb>,
    /// Sources built from the receivers file, by id (used instead of the registry's bare record).
    file_sources: Mutex<HashMap<ReceiverId, Arc<dyn ReceiverSource>>>,
    pacing: Pacing,
    seed: u64,
    jobs: Mutex<Jobs>,
    /// Set on shutdown: new acquisitions are refused.
    draining: AtomicBool,
    /// Most acquisitions running at once (`--max-running`).
    max_running: AtomicUsize,
}

#[derive(Default)]
struct Jobs {
    by_id: HashMap<SessionId, Arc<Job>>,
    /// Insertion order, to evict the oldest finished sessions.
    order: VecDeque<SessionId>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    fn new(sink: ArchiveSink, db: Arc<Tsdb>, pacing: Pacing, seed: u64) -> Self {
        AppState(Arc::new(Inner {
            sink,
            db,
            file_sources: Mutex::new(HashMap::new()),
            pacing,
            seed,
            jobs: Mutex::new(Jobs::default()),
            draining: AtomicBool::new(false),
            max_running: AtomicUsize::new(16),
        }))
    }

    /// Writes the receivers file's entries into the registry, then seeds the simulated
    /// reference network if the registry is still empty.
    async fn init_registry(&self, file: Option<&ReceiversFile>) -> anyhow::Result<()> {
        if let Some(file) = file {
            // All or nothing: when one entry's protocol cannot be built, every entry falls back
            // to being built from its registry record (without the file's passwords).
            let mut map = HashMap::new();
            match file.build_sources() {
                Ok(sources) => {
                    for s in sources {
                        map.insert(s.info().id.clone(), s);
                    }
                }
                Err(e) => tracing::warn!(
                    "cannot build the receivers file's sources ({}); building them from the registry",
                    e.chain()
                ),
            }
            for e in file.receivers() {
                // Protocol options (passwords) stay in the file; the registry only says where from.
                self.db
                    .upsert_receiver(&e.info, &json!({"source": "receivers-file"}))
                    .await
                    .with_context(|| format!("cannot register receiver {}", e.info.id))?;
                if !e.enabled {
                    self.db.deactivate_receiver(&e.info.id).await?;
                }
            }
            *lock(&self.file_sources) = map;
        }
        if self.db.list_receivers(false).await?.is_empty() {
            for c in SimulatedNetwork::reference_receivers() {
                self.db
                    .upsert_receiver(&c.info, &json!({"source": "simulated-reference"}))
                    .await?;
            }
            tracing::info!("registry was empty: seeded the simulated reference network");
        }
        Ok(())
    }

    /// A source for one registry record, hearing (if simulated) a transmitter on `frequency_hz`.
    fn source_for(&self, rec: &ReceiverRecord, frequency_hz: f64) -> Result<Arc<dyn ReceiverSource>, String> {
        if let Some(s) = lock(&self.file_sources).get(&rec.info.id) {
            return Ok(s.clone());
        }
        match rec.info.kind {
            ReceiverKind::Simulated => {
                let position = rec
                    .info
                    .position
                    .ok_or_else(|| "a simulated receiver needs a position".to_owned())?;
                let mut config = SimulatedNetwork::reference_receivers()
                    .into_iter()
                    .find(|c| c.info.id == rec.info.id)
                    .unwrap_or_else(|| SimulatedReceiverConfig::new(&rec.info.name, position));
                config.info = rec.info.clone();
                config.pacing = self.pacing;
                Ok(Arc::new(SimulatedReceiver::new(
                    config,
                    Arc::new(transmitter(frequency_hz)),
                    self.seed,
                )))
            }
            _ => build_from_record(rec),
        }
    }

    /// Sources for the active receivers (all, or the `wanted` ones), plus the receivers that
    /// could not be built and why.
    async fn sources(
        &self,
        wanted: Option<&[ReceiverId]>,
        frequency_hz: f64,
    ) -> Result<(Vec<Arc<dyn ReceiverSource>>, Vec<SkippedReceiver>), ApiError> {
        let records = self.db.list_receivers(true).await.map_err(ApiError::from_core)?;
        if let Some(wanted) = wanted {
            let items: Vec<ValidationItem> = wanted
                .iter()
                .enumerate()
                .filter(|(_, id)| !records.iter().any(|r| &r.info.id == *id))
                .map(|(i, id)| {
                    ValidationItem::new(
                        vec![json!("body"), json!("websdrs"), json!(i)],
                        format!("unknown or inactive receiver {id:?}"),
                        "value_error.unknown_receiver",
                    )
                })
                .collect();
            if !items.is_empty() {
                return Err(ApiError::Validation(items));
            }
        }
        let mut sources = Vec::new();
        let mut skipped = Vec::new();
        for rec in &records {
            if wanted.is_some_and(|w| !w.contains(&rec.info.id)) {
                continue;
            }
            match self.source_for(rec, frequency_hz) {
                Ok(s) => sources.push(s),
                Err(reason) if wanted.is_some() => {
                    // Asked for by name: say so rather than run without it.
                    let i = wanted
                        .and_then(|w| w.iter().position(|x| *x == rec.info.id))
                        .unwrap_or(0);
                    return Err(ApiError::Validation(vec![ValidationItem::new(
                        vec![json!("body"), json!("websdrs"), json!(i)],
                        format!("receiver {} cannot be used: {reason}", rec.info.id),
                        "value_error.unusable_receiver",
                    )]));
                }
                Err(reason) => {
                    tracing::warn!(receiver = %rec.info.id, "receiver skipped: {reason}");
                    skipped.push(SkippedReceiver {
                        id: rec.info.id.to_string(),
                        reason,
                    });
                }
            }
        }
        Ok((sources, skipped))
    }

    fn job(&self, id: SessionId) -> Option<Arc<Job>> {
        lock(&self.jobs).by_id.get(&id).cloned()
    }

    fn insert_job(&self, job: Arc<Job>) {
        let mut jobs = lock(&self.jobs);
        jobs.order.push_back(job.session_id);
        jobs.by_id.insert(job.session_id, job);
        // Forget the oldest finished sessions beyond the limit (the database remembers them).
        let finished = jobs.by_id.values().filter(|j| j.is_done()).count();
        let mut excess = finished.saturating_sub(KEEP_FINISHED);
        let mut i = 0;
        while excess > 0 && i < jobs.order.len() {
            let id = jobs.order[i];
            if jobs.by_id.get(&id).is_some_and(|j| j.is_done()) {
                jobs.by_id.remove(&id);
                jobs.order.remove(i);
                excess -= 1;
            } else {
                i += 1;
            }
        }
    }

    fn running_jobs(&self) -> Vec<Arc<Job>> {
        lock(&self.jobs)
            .by_id
            .values()
            .filter(|j| !j.is_done())
            .cloned()
            .collect()
    }

    /// Stops accepting acquisitions, waits up to `grace` for the running ones, cancels the
    /// rest and waits for their cleanup.
    async fn drain(&self, grace: Duration) {
        self.draining.store(true, Ordering::SeqCst);
        let running = self.running_jobs();
        if running.is_empty() {
            return;
        }
        tracing::info!(running = running.len(), ?grace, "waiting for running acquisitions");
        let all_done = futures::future::join_all(running.iter().map(|j| j.wait_done()));
        if tokio::time::timeout(grace, all_done).await.is_ok() {
            return;
        }
        let left = self.running_jobs();
        tracing::warn!(
            cancelled = left.len(),
            "grace period over: cancelling running acquisitions"
        );
        for j in &left {
            j.cancel.cancel();
        }
        let all_done = async {
            // Again until none is left: a submission racing with the shutdown cancels itself.
            loop {
                let left = self.running_jobs();
                if left.is_empty() {
                    break;
                }
                left.iter().for_each(|j| j.cancel.cancel());
                futures::future::join_all(left.iter().map(|j| j.wait_done())).await;
            }
        };
        if tokio::time::timeout(Duration::from_secs(30), all_done).await.is_err() {
            tracing::error!("some cancelled acquisitions did not finish their cleanup within 30 s");
        }
    }
}

/// The simulated emitter every simulated receiver hears: near Torino, on the requested frequency.
fn transmitter(frequency_hz: f64) -> Transmitter {
    let position = GeoPosition {
        latitude: 45.07,
        longitude: 7.69,
        altitude_m: Some(300.0),
    };
    Transmitter::new(position, frequency_hz, 30.0, Modulation::fm_voice(2_500.0))
}

/// Builds a non-simulated source from a registry record through the receivers-file parser
/// (the one place that knows every protocol's options). Scalar `options` become entry keys.
fn build_from_record(rec: &ReceiverRecord) -> Result<Arc<dyn ReceiverSource>, String> {
    let info = &rec.info;
    let position = info
        .position
        .ok_or_else(|| "no position (the receivers file format requires one)".to_owned())?;
    let quote = |s: &str| serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into());
    let mut toml = format!(
        "[[receiver]]\nid = {}\nname = {}\nkind = {}\nurl = {}\nlatitude = {:?}\nlongitude = {:?}\n",
        quote(info.id.as_str()),
        quote(&info.name),
        quote(info.kind.as_str()),
        quote(&info.url),
        position.latitude,
        position.longitude,
    );
    if let Some(a) = position.altitude_m {
        toml.push_str(&format!("altitude_m = {a:?}\n"));
    }
    if let Value::Object(opts) = &rec.options {
        for (k, v) in opts {
            let bare = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            if !bare || k == "source" {
                continue;
            }
            let v = match v {
                Value::String(s) => quote(s),
                Value::Bool(b) => b.to_string(),
                Value::Number(n) => n.to_string(),
                _ => continue,
            };
            toml.push_str(&format!("{k} = {v}\n"));
        }
    }
    let file = ReceiversFile::parse(&toml).map_err(|e| e.chain())?;
    let mut sources = file.build_sources().map_err(|e| e.chain())?;
    sources.pop().ok_or_else(|| "no source built".to_owned())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

// ---------------------------------------------------------------------------------------------
// One acquisition: its events, progress and result
// ---------------------------------------------------------------------------------------------

/// An acquisition started by this process.
struct Job {
    session_id: SessionId,
    created_at: DateTime<Utc>,
    receivers: Vec<ReceiverId>,
    cancel: CancellationToken,
    state: Mutex<JobState>,
    /// Live events for SSE clients; sent while holding `state`, so a client that takes the
    /// replay log and subscribes under the same lock misses nothing and sees nothing twice.
    live: broadcast::Sender<SseItem>,
    done: watch::Sender<bool>,
}

#[derive(Clone)]
struct SseItem {
    seq: u64,
    name: &'static str,
    data: Arc<str>,
    last: bool,
}

struct JobState {
    /// Samples flow (or a capture finished): `PROGRESS` instead of `PENDING`.
    started: bool,
    receivers: Vec<(ReceiverId, RxProgress)>,
    /// Every event but `progress` (superseded by the next one), for late SSE clients.
    log: Vec<SseItem>,
    seq: u64,
    report: Option<Arc<SessionReport>>,
    /// The engine task failed (no report).
    failure: Option<String>,
    finished_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Default)]
struct RxProgress {
    state: &'static str,
    samples: u64,
    expected: u64,
    attempts: u32,
    error: Option<ErrorReport>,
}

impl RxProgress {
    fn fraction(&self) -> f64 {
        match self.state {
            "captured" | "stored" | "recorded" | "failed" | "fetch_failed" | "store_failed" | "cancelled" => 1.0,
            _ if self.expected > 0 => (self.samples as f64 / self.expected as f64).min(1.0),
            _ => 0.0,
        }
    }
}

impl Job {
    fn new(session_id: SessionId, receivers: Vec<ReceiverId>, cancel: CancellationToken) -> Self {
        let per = receivers
            .iter()
            .map(|r| {
                (
                    r.clone(),
                    RxProgress {
                        state: "pending",
                        ..Default::default()
                    },
                )
            })
            .collect();
        Job {
            session_id,
            created_at: Utc::now(),
            receivers,
            cancel,
            state: Mutex::new(JobState {
                started: false,
                receivers: per,
                log: Vec::new(),
                seq: 0,
                report: None,
                failure: None,
                finished_at: None,
            }),
            live: broadcast::channel(SSE_BUFFER).0,
            done: watch::channel(false).0,
        }
    }

    fn is_done(&self) -> bool {
        *self.done.borrow()
    }

    async fn wait_done(&self) {
        let mut rx = self.done.subscribe();
        // Only fails if the sender is gone, which cannot happen while `self` lives.
        let _ = rx.wait_for(|d| *d).await;
    }

    /// Folds one engine event into the progress and forwards it to SSE clients.
    fn apply(&self, ev: &EngineEvent) {
        let data: Arc<str> = serde_json::to_string(ev)
            .unwrap_or_else(|e| json!({"type": ev.name(), "error": e.to_string()}).to_string())
            .into();
        let mut st = lock(&self.state);
        let rx =
            |st: &mut JobState, id: &ReceiverId| -> Option<usize> { st.receivers.iter().position(|(r, _)| r == id) };
        match ev {
            EngineEvent::ReceiverConnecting { receiver, attempt } => {
                if let Some(i) = rx(&mut st, receiver) {
                    let p = &mut st.receivers[i].1;
                    p.state = "connecting";
                    p.attempts = *attempt;
                }
            }
            EngineEvent::ReceiverConnected { receiver, info } => {
                if let Some(i) = rx(&mut st, receiver) {
                    let p = &mut st.receivers[i].1;
                    p.state = "receiving";
                    p.samples = 0;
                    p.expected = info.expected_samples.unwrap_or(0);
                }
            }
            EngineEvent::Progress {
                receiver,
                samples,
                expected,
                ..
            } => {
                st.started = true;
                if let Some(i) = rx(&mut st, receiver) {
                    let p = &mut st.receivers[i].1;
                    p.state = "receiving";
                    p.samples = *samples;
                    p.expected = *expected;
                }
            }
            EngineEvent::CaptureFinished { receiver, summary } => {
                st.started = true;
                if let Some(i) = rx(&mut st, receiver) {
                    let p = &mut st.receivers[i].1;
                    p.state = "captured";
                    p.samples = summary.samples;
                }
            }
            EngineEvent::Stored { receiver, .. } => {
                if let Some(i) = rx(&mut st, receiver) {
                    st.receivers[i].1.state = "stored";
                }
            }
            EngineEvent::Recorded { receiver } => {
                if let Some(i) = rx(&mut st, receiver) {
                    st.receivers[i].1.state = "recorded";
                }
            }
            EngineEvent::Failed {
                receiver: Some(receiver),
                error,
                will_retry,
            } => {
                if let Some(i) = rx(&mut st, receiver) {
                    let p = &mut st.receivers[i].1;
                    p.error = Some(error.clone());
                    p.state = if *will_retry { "retrying" } else { "failed" };
                }
            }
            EngineEvent::Retrying { receiver, .. } => {
                if let Some(i) = rx(&mut st, receiver) {
                    let p = &mut st.receivers[i].1;
                    p.state = "retrying";
                    p.samples = 0;
                }
            }
            EngineEvent::SessionFinished { report } => {
                for r in &report.receivers {
                    if let Some(i) = rx(&mut st, &r.receiver.id) {
                        let p = &mut st.receivers[i].1;
                        p.state = r.status.as_str();
                        p.error = r.error.clone();
                        p.attempts = r.attempts;
                    }
                }
                st.report = Some(Arc::new((**report).clone()));
                st.finished_at = Some(report.finished_at);
            }
            _ => {}
        }
        let last = matches!(ev, EngineEvent::SessionFinished { .. });
        self.push(&mut st, ev.name(), data, last);
    }

    fn push(&self, st: &mut JobState, name: &'static str, data: Arc<str>, last: bool) {
        st.seq += 1;
        let item = SseItem {
            seq: st.seq,
            name,
            data,
            last,
        };
        if name != "progress" {
            st.log.push(item.clone());
        }
        // No subscriber is fine.
        let _ = self.live.send(item);
    }

    /// The engine task ended without a report.
    fn fail(&self, message: String) {
        let mut st = lock(&self.state);
        if st.report.is_some() {
            return;
        }
        let data: Arc<str> = json!({"type": "session_failed", "error": message}).to_string().into();
        st.failure = Some(message);
        st.finished_at = Some(Utc::now());
        self.push(&mut st, "session_failed", data, true);
    }

    fn status(&self) -> AcquisitionStatus {
        let st = lock(&self.state);
        let receivers: Vec<ReceiverState> = st
            .receivers
            .iter()
            .map(|(id, p)| ReceiverState {
                id: id.to_string(),
                state: p.state.to_owned(),
                samples: p.samples,
                expected_samples: p.expected,
                attempts: p.attempts,
                error: p.error.as_ref().map(ErrorBody::from),
            })
            .collect();
        if let Some(report) = &st.report {
            let mut s = AcquisitionStatus::from_report(report, "engine");
            s.receivers = receivers;
            s.created_at = Some(self.created_at);
            return s;
        }
        let n = st.receivers.len().max(1) as f64;
        let progress = st.receivers.iter().map(|(_, p)| p.fraction()).sum::<f64>() / n * 100.0;
        let (status, progress) = match (&st.failure, st.started) {
            (Some(_), _) => ("FAILURE", 100.0),
            (None, false) => ("PENDING", progress),
            // Never 100 before the report: rows and the manifest are still being written.
            (None, true) => ("PROGRESS", progress.min(99.0)),
        };
        let errors = receivers
            .iter()
            .filter_map(|r| r.error.clone().map(|e| (r.id.clone(), e)))
            .collect();
        AcquisitionStatus {
            session_id: self.session_id.to_string(),
            task_id: self.session_id.to_string(),
            status: status.to_owned(),
            progress: (progress * 10.0).round() / 10.0,
            message: match &st.failure {
                Some(f) => format!("failed: {f}"),
                None if !st.started => format!("waiting for {} receivers", self.receivers.len()),
                None => format!(
                    "acquiring: {} of {} receivers done",
                    st.receivers.iter().filter(|(_, p)| p.fraction() >= 1.0).count(),
                    self.receivers.len()
                ),
            },
            measurements_collected: st.receivers.iter().filter(|(_, p)| p.state == "recorded").count(),
            receivers_total: self.receivers.len(),
            receivers,
            errors,
            error: st.failure.clone(),
            created_at: Some(self.created_at),
            finished_at: st.finished_at,
            source: "engine".to_owned(),
            result: None,
        }
    }
}

fn status_name(s: SessionStatus) -> &'static str {
    match s {
        SessionStatus::Success => "SUCCESS",
        SessionStatus::Partial => "PARTIAL_FAILURE",
        SessionStatus::Cancelled => "CANCELLED",
        _ => "FAILURE",
    }
}

// ---------------------------------------------------------------------------------------------
// API types (the OpenAPI schemas)
// ---------------------------------------------------------------------------------------------

/// The body of `POST /api/v1/acquisitions` (the old service's request).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
struct AcquisitionRequestBody {
    /// Frequency to capture, MHz (> 0, ≤ 300 000).
    #[schema(example = 145.5, exclusive_minimum = 0.0, maximum = 300000.0)]
    frequency_mhz: f64,
    /// Capture length, seconds (> 0, ≤ 300).
    #[schema(example = 10.0, exclusive_minimum = 0.0, maximum = 300.0)]
    duration_seconds: f64,
    /// Common start time of every receiver (RFC 3339); omitted: as soon as possible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    start_time: Option<DateTime<Utc>>,
    /// Receiver subset (ids), the old service's field name; aliases `receivers`, `websdr_ids`.
    /// Integers are read as the id of the same digits. Omitted: every active receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    websdrs: Option<Vec<String>>,
    /// Preferred sample rate, Hz (receivers with fixed rates use theirs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(exclusive_minimum = 0.0, maximum = 1e9)]
    sample_rate_hz: Option<f64>,
    /// Free-form label stored with the session (≤ 1024 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    label: Option<String>,
}

/// `202` answer to a submission.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
struct AcquisitionAccepted {
    /// Session id (a UUID).
    session_id: String,
    /// Same as `session_id` (the old service's Celery task id).
    task_id: String,
    /// Always `PENDING`.
    status: String,
    /// Number of receivers the session uses.
    receivers: usize,
    /// Their ids.
    receiver_ids: Vec<String>,
    /// Active receivers left out because no source could be built for them.
    skipped: Vec<SkippedReceiver>,
    /// Where to poll the status.
    status_url: String,
    /// Where to follow the events.
    events_url: String,
}

/// A receiver left out of a session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
struct SkippedReceiver {
    /// Receiver id.
    id: String,
    /// Why.
    reason: String,
}

/// An error as recorded by the engine.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
struct ErrorBody {
    /// Error kind (`unavailable`, `timeout`, `refused`...).
    kind: String,
    /// Message with its causes.
    message: String,
    /// Whether retrying could help.
    retryable: bool,
}

impl From<&ErrorReport> for ErrorBody {
    fn from(e: &ErrorReport) -> Self {
        ErrorBody {
            kind: e.kind.clone(),
            message: e.message.clone(),
            retryable: e.retryable,
        }
    }
}

/// One receiver's state in a session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
struct ReceiverState {
    /// Receiver id.
    id: String,
    /// `pending`, `connecting`, `receiving`, `retrying`, `captured`, `stored`, `failed`, or the
    /// final status (`recorded`, `stored`, `fetch_failed`, `store_failed`, `cancelled`).
    state: String,
    /// Samples received.
    samples: u64,
    /// Samples expected (0 until known).
    expected_samples: u64,
    /// Connection attempts so far.
    attempts: u32,
    /// The last error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<ErrorBody>,
}

/// Status of an acquisition.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
struct AcquisitionStatus {
    /// Session id.
    session_id: String,
    /// Same as `session_id`.
    task_id: String,
    /// `PENDING`, `PROGRESS`, `SUCCESS`, `PARTIAL_FAILURE`, `FAILURE` or `CANCELLED`.
    status: String,
    /// Percent done (0-100).
    progress: f64,
    /// A human-readable summary.
    message: String,
    /// Measurement rows collected so far.
    measurements_collected: usize,
    /// Receivers in the session.
    receivers_total: usize,
    /// Per-receiver state.
    receivers: Vec<ReceiverState>,
    /// Per-receiver errors, by receiver id.
    errors: std::collections::BTreeMap<String, ErrorBody>,
    /// Session-level failure (the engine task itself failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
    /// When the service accepted it (unknown after a restart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    created_at: Option<DateTime<Utc>>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    finished_at: Option<DateTime<Utc>>,
    /// Where this status comes from: `engine` (this process), `database` or `archive`.
    source: String,
    /// The session report once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    result: Option<Value>,
}

impl AcquisitionStatus {
    fn from_report(report: &SessionReport, source: &str) -> Self {
        let receivers: Vec<ReceiverState> = report
            .receivers
            .iter()
            .map(|r| ReceiverState {
                id: r.receiver.id.to_string(),
                state: r.status.as_str().to_owned(),
                samples: r.capture.as_ref().map_or(0, |c| c.samples),
                expected_samples: r.capture.as_ref().and_then(|c| c.info.expected_samples).unwrap_or(0),
                attempts: r.attempts,
                error: r.error.as_ref().map(ErrorBody::from),
            })
            .collect();
        let errors = receivers
            .iter()
            .filter_map(|r| r.error.clone().map(|e| (r.id.clone(), e)))
            .collect();
        AcquisitionStatus {
            session_id: report.session_id.to_string(),
            task_id: report.session_id.to_string(),
            status: status_name(report.status).to_owned(),
            progress: 100.0,
            message: format!(
                "{}: {} of {} receivers recorded",
                report.status.as_str(),
                report.recorded(),
                report.receivers.len()
            ),
            measurements_collected: report.measurements().len(),
            receivers_total: report.receivers.len(),
            receivers,
            errors,
            error: None,
            created_at: None,
            finished_at: Some(report.finished_at),
            source: source.to_owned(),
            result: serde_json::to_value(report).ok(),
        }
    }
}

/// A receiver of the registry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
struct ReceiverBody {
    /// Slug id (ASCII letters, digits, `-`, `_`).
    id: String,
    /// Display name.
    name: String,
    /// `kiwisdr`, `openwebrx`, `rtl_tcp`, `http_iq` or `simulated`.
    kind: String,
    /// Endpoint URL (no password).
    url: String,
    /// WGS84 latitude, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latitude: Option<f64>,
    /// WGS84 longitude, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    longitude: Option<f64>,
    /// Altitude, metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    altitude_m: Option<f64>,
    /// Whether acquisitions use it.
    active: bool,
    /// Protocol options (the receivers file's keys: `mode`, `gain_db`, `sample_rate_hz`...).
    #[schema(value_type = Object)]
    options: Value,
    /// When it was registered.
    created_at: DateTime<Utc>,
    /// When it last changed.
    updated_at: DateTime<Utc>,
}

impl From<&ReceiverRecord> for ReceiverBody {
    fn from(r: &ReceiverRecord) -> Self {
        ReceiverBody {
            id: r.info.id.to_string(),
            name: r.info.name.clone(),
            kind: r.info.kind.as_str().to_owned(),
            url: r.info.url.clone(),
            latitude: r.info.position.map(|p| p.latitude),
            longitude: r.info.position.map(|p| p.longitude),
            altitude_m: r.info.position.and_then(|p| p.altitude_m),
            active: r.active,
            options: r.options.clone(),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Body of `POST /api/v1/receivers` and `PUT /api/v1/receivers/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ReceiverInput {
    /// Slug id; POST derives it from `name` when omitted; PUT takes it from the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    /// Display name.
    name: String,
    /// `kiwisdr`, `openwebrx`, `rtl_tcp`, `http_iq` or `simulated`.
    kind: String,
    /// Endpoint URL (no password).
    url: String,
    /// WGS84 latitude, degrees (required with `longitude`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    latitude: Option<f64>,
    /// WGS84 longitude, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    longitude: Option<f64>,
    /// Altitude, metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    altitude_m: Option<f64>,
    /// Protocol options (an object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    options: Option<Value>,
    /// PUT only: `false` deactivates, `true` (or omitted) keeps it active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    active: Option<bool>,
}

/// One receiver's health check.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
struct ReceiverHealthBody {
    /// Receiver id.
    id: String,
    /// Whether it can take a capture now.
    available: bool,
    /// Connected users, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    users: Option<u32>,
    /// Maximum users, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    users_max: Option<u32>,
    /// GPS lock, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gps_locked: Option<bool>,
    /// Software version, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    version: Option<String>,
    /// Detail or the error.
    detail: String,
    /// Check duration, milliseconds.
    latency_ms: u64,
}

/// SNR statistics of one receiver.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
struct SnrStatsBody {
    /// Receiver id.
    receiver_id: String,
    /// Measurements counted.
    count: u64,
    /// Mean SNR, dB.
    mean_db: Option<f64>,
    /// Minimum, dB.
    min_db: Option<f64>,
    /// Maximum, dB.
    max_db: Option<f64>,
    /// Median, dB (when the database computes it).
    p50_db: Option<f64>,
    /// Window start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    since: Option<DateTime<Utc>>,
}

/// One backend's health.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
struct BackendHealth {
    /// Healthy?
    ok: bool,
    /// Where it is (credentials redacted).
    location: String,
    /// The cause, when failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    error: Option<String>,
}

/// `GET /health`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
struct HealthBody {
    /// `ok` or `failing`.
    status: String,
    /// The archive.
    store: BackendHealth,
    /// The metrics database.
    database: BackendHealth,
    /// Acquisitions running in this process.
    running_acquisitions: usize,
}

/// A FastAPI-style validation error.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
struct ValidationError {
    /// One item per problem.
    detail: Vec<ValidationItem>,
}

/// One validation problem.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
struct ValidationItem {
    /// Where: `["body", "frequency_mhz"]`, `["body", "websdrs", 2]`, `["query", "limit"]`.
    #[schema(value_type = Vec<Object>)]
    loc: Vec<Value>,
    /// What is wrong.
    msg: String,
    /// Machine-readable kind.
    #[serde(rename = "type")]
    kind: String,
}

impl ValidationItem {
    fn new(loc: Vec<Value>, msg: impl Into<String>, kind: &str) -> Self {
        ValidationItem {
            loc,
            msg: msg.into(),
            kind: kind.to_owned(),
        }
    }

    fn body(field: &str, msg: impl Into<String>, kind: &str) -> Self {
        Self::new(vec![json!("body"), json!(field)], msg, kind)
    }
}

/// Any other error.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
struct ErrorDetail {
    /// What went wrong.
    detail: String,
}

/// Query of `GET /api/v1/measurements`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct MeasurementsParams {
    /// Only this receiver (alias `websdr`).
    #[serde(default, alias = "websdr")]
    receiver: Option<String>,
    /// Only this session (alias `session_id`).
    #[serde(default, alias = "session_id")]
    session: Option<String>,
    /// Only target frequencies ≥ this, MHz.
    #[serde(default)]
    freq_min_mhz: Option<f64>,
    /// Only target frequencies ≤ this, MHz.
    #[serde(default)]
    freq_max_mhz: Option<f64>,
    /// Only captures at or after this RFC 3339 time.
    #[serde(default)]
    since: Option<String>,
    /// Only captures before this RFC 3339 time.
    #[serde(default)]
    until: Option<String>,
    /// At most this many rows (default 100, at most 10 000).
    #[serde(default)]
    limit: Option<u32>,
}

/// Query of `GET /api/v1/receivers`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct ListReceiversParams {
    /// Also list deactivated receivers.
    #[serde(default)]
    include_inactive: bool,
}

/// Query of `GET /api/v1/receivers/{id}/snr-stats`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
struct SnrParams {
    /// Only the last this many hours (default: all time).
    #[serde(default)]
    hours: Option<f64>,
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// An error answer: `422` with FastAPI-style items, or a status with `{"detail": "..."}`.
#[derive(Debug)]
enum ApiError {
    Validation(Vec<ValidationItem>),
    Status(StatusCode, String),
}

impl ApiError {
    fn not_found(what: impl Into<String>) -> Self {
        ApiError::Status(StatusCode::NOT_FOUND, what.into())
    }

    /// Maps a library error to the status a client can act on.
    fn from_core(e: Error) -> Self {
        let status = match &e {
            Error::InvalidInput { field, reason } => {
                return ApiError::Validation(vec![ValidationItem::body(field, reason.clone(), "value_error")]);
            }
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::AlreadyExists { .. } => StatusCode::CONFLICT,
            _ if e.is_retryable() => StatusCode::SERVICE_UNAVAILABLE,
            Error::Unavailable { .. } | Error::Timeout { .. } => StatusCode::SERVICE_UNAVAILABLE,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status.is_server_error() {
            tracing::error!("request failed: {}", e.chain());
        }
        ApiError::Status(status, e.chain())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Validation(items) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                axum::Json(ValidationError { detail: items }),
            )
                .into_response(),
            ApiError::Status(status, detail) => (status, axum::Json(ErrorDetail { detail })).into_response(),
        }
    }
}

fn query_error(e: QueryRejection) -> ApiError {
    ApiError::Validation(vec![ValidationItem::new(
        vec![json!("query")],
        e.body_text(),
        "query_error",
    )])
}

/// A session id from the path; anything else cannot name a session (`404`).
fn parse_session(id: &str) -> Result<SessionId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("no acquisition {id:?} (not a session id)")))
}

/// A receiver id from the path; anything else cannot name a receiver (`404`).
fn parse_receiver(id: &str) -> Result<ReceiverId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("no receiver {id:?} (not a receiver id)")))
}

// ---------------------------------------------------------------------------------------------
// Request validation
// ---------------------------------------------------------------------------------------------

/// Parses and validates a submission, collecting every problem (FastAPI style).
fn parse_acquisition(body: &[u8]) -> Result<AcquisitionRequestBody, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::Validation(vec![ValidationItem::new(
            vec![json!("body")],
            format!("invalid JSON: {e}"),
            "json_invalid",
        )])
    })?;
    let Value::Object(obj) = value else {
        return Err(ApiError::Validation(vec![ValidationItem::new(
            vec![json!("body")],
            "the body must be a JSON object",
            "model_type",
        )]));
    };
    let mut errors = Vec::new();
    let mut number = |name: &str, required: bool, check: &dyn Fn(f64) -> Option<String>| -> Option<f64> {
        match obj.get(name) {
            None | Some(Value::Null) if required => {
                errors.push(ValidationItem::body(name, "field required", "missing"));
                None
            }
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_f64() {
                Some(v) => match check(v) {
                    None => Some(v),
                    Some(msg) => {
                        errors.push(ValidationItem::body(name, msg, "value_error"));
                        None
                    }
                },
                None => {
                    errors.push(ValidationItem::body(
                        name,
                        "not representable as a number",
                        "float_type",
                    ));
                    None
                }
            },
            Some(other) => {
                errors.push(ValidationItem::body(
                    name,
                    format!("must be a number, not {}", json_type(other)),
                    "float_type",
                ));
                None
            }
        }
    };
    let frequency_mhz = number("frequency_mhz", true, &|v| {
        (!(v.is_finite() && v > 0.0 && v <= MAX_FREQUENCY_MHZ))
            .then(|| format!("{v} MHz must be greater than 0 and at most {MAX_FREQUENCY_MHZ}"))
    });
    let duration_seconds = number("duration_seconds", true, &|v| {
        (!(v.is_finite() && v > 0.0 && v <= MAX_DURATION_SECONDS))
            .then(|| format!("{v} s must be greater than 0 and at most {MAX_DURATION_SECONDS}"))
    });
    let sample_rate_hz = number("sample_rate_hz", false, &|v| {
        (!(v.is_finite() && v > 0.0 && v <= heimdall::core::request::MAX_SAMPLE_RATE_HZ))
            .then(|| format!("{v} Hz must be greater than 0 and at most 1e9"))
    });
    let start_time = match obj.get("start_time") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match common::parse_time(s) {
            Ok(t) if t > Utc::now() + chrono::Duration::hours(MAX_START_AHEAD_HOURS) => {
                errors.push(ValidationItem::body(
                    "start_time",
                    format!("{s} is more than {MAX_START_AHEAD_HOURS} h ahead"),
                    "value_error",
                ));
                None
            }
            Ok(t) => Some(t),
            Err(msg) => {
                errors.push(ValidationItem::body("start_time", msg, "datetime_parsing"));
                None
            }
        },
        Some(other) => {
            errors.push(ValidationItem::body(
                "start_time",
                format!("must be an RFC 3339 string, not {}", json_type(other)),
                "datetime_type",
            ));
            None
        }
    };
    let label = match obj.get("label") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= 1024 => Some(s.clone()),
        Some(Value::String(_)) => {
            errors.push(ValidationItem::body(
                "label",
                "longer than 1024 bytes",
                "string_too_long",
            ));
            None
        }
        Some(other) => {
            errors.push(ValidationItem::body(
                "label",
                format!("must be a string, not {}", json_type(other)),
                "string_type",
            ));
            None
        }
    };
    let subset_field = ["websdrs", "receivers", "websdr_ids"]
        .into_iter()
        .find(|k| obj.get(*k).is_some_and(|v| !v.is_null()));
    let websdrs = subset_field.and_then(|field| {
        let Some(Value::Array(items)) = obj.get(field) else {
            errors.push(ValidationItem::body(
                field,
                "must be a list of receiver ids",
                "list_type",
            ));
            return None;
        };
        if items.is_empty() {
            errors.push(ValidationItem::body(
                field,
                "the list is empty; omit it to use every receiver",
                "too_short",
            ));
            return None;
        }
        let mut ids = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let loc = vec![json!("body"), json!(field), json!(i)];
            let text = match item {
                Value::String(s) => s.clone(),
                Value::Number(n) if n.is_u64() => n.to_string(),
                other => {
                    errors.push(ValidationItem::new(
                        loc,
                        format!("must be a receiver id (string), not {}", json_type(other)),
                        "string_type",
                    ));
                    continue;
                }
            };
            match ReceiverId::new(text) {
                Ok(id) if ids.iter().any(|x: &String| x == id.as_str()) => {
                    errors.push(ValidationItem::new(loc, format!("{id} is listed twice"), "value_error"));
                }
                Ok(id) => ids.push(id.to_string()),
                Err(e) => errors.push(ValidationItem::new(loc, e.to_string(), "value_error")),
            }
        }
        Some(ids)
    });
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    match (frequency_mhz, duration_seconds) {
        (Some(frequency_mhz), Some(duration_seconds)) => Ok(AcquisitionRequestBody {
            frequency_mhz,
            duration_seconds,
            start_time,
            websdrs,
            sample_rate_hz,
            label,
        }),
        // Unreachable: a missing required field pushed an error above.
        _ => Err(ApiError::Validation(vec![ValidationItem::new(
            vec![json!("body")],
            "frequency_mhz and duration_seconds are required",
            "missing",
        )])),
    }
}

fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl AcquisitionRequestBody {
    fn to_request(&self) -> Result<AcquisitionRequest, ApiError> {
        let duration = Duration::try_from_secs_f64(self.duration_seconds).map_err(|e| {
            ApiError::Validation(vec![ValidationItem::body(
                "duration_seconds",
                e.to_string(),
                "value_error",
            )])
        })?;
        let mut req = AcquisitionRequest::new(self.frequency_mhz * 1e6, duration);
        req.sample_rate_hz = self.sample_rate_hz;
        req.start_at = self.start_time;
        req.label = self.label.clone();
        if let Some(ids) = &self.websdrs {
            let ids: Result<Vec<ReceiverId>, _> = ids.iter().map(|s| ReceiverId::new(s.clone())).collect();
            req.receivers = Some(ids.map_err(ApiError::from_core)?);
        }
        req.validate().map_err(ApiError::from_core)?;
        Ok(req)
    }
}

/// Parses a receiver body: JSON errors and invalid values are `422` naming the field.
fn parse_receiver_input(
    body: &[u8],
    path_id: Option<&ReceiverId>,
) -> Result<(ReceiverInfo, Value, Option<bool>), ApiError> {
    let invalid = |e: serde_json::Error| {
        let msg = e.to_string();
        let field = msg.split('`').nth(1).map(str::to_owned);
        let mut loc = vec![json!("body")];
        if let Some(f) = field {
            loc.push(json!(f));
        }
        ApiError::Validation(vec![ValidationItem::new(loc, msg, "json_invalid")])
    };
    let mut value: Value = serde_json::from_slice(body).map_err(invalid)?;
    // A GET answer may be sent back as is: its read-only fields are ignored.
    if let Value::Object(m) = &mut value {
        m.remove("created_at");
        m.remove("updated_at");
    }
    let input: ReceiverInput = serde_json::from_value(value).map_err(invalid)?;
    let mut errors = Vec::new();
    let id = match (path_id, &input.id) {
        (Some(p), Some(b)) if p.as_str() != b => {
            errors.push(ValidationItem::body(
                "id",
                format!("{b:?} differs from the path's {p}"),
                "value_error",
            ));
            None
        }
        (Some(p), _) => Some(p.clone()),
        (None, Some(b)) => match ReceiverId::new(b.clone()) {
            Ok(id) => Some(id),
            Err(e) => {
                errors.push(ValidationItem::body("id", e.to_string(), "value_error"));
                None
            }
        },
        (None, None) => Some(ReceiverId::slugify(&input.name)),
    };
    if input.name.trim().is_empty() {
        errors.push(ValidationItem::body("name", "must not be empty", "value_error"));
    }
    let kind = match input.kind.parse::<ReceiverKind>() {
        Ok(k) => Some(k),
        Err(e) => {
            errors.push(ValidationItem::body("kind", e.to_string(), "enum"));
            None
        }
    };
    if input.url.contains('@') {
        errors.push(ValidationItem::body(
            "url",
            "must not contain credentials; put passwords in the receivers file",
            "value_error",
        ));
    }
    let position = match (input.latitude, input.longitude) {
        (Some(lat), Some(lon)) => match GeoPosition::new(lat, lon, input.altitude_m) {
            Ok(p) => Some(p),
            Err(Error::InvalidInput { field, reason }) => {
                errors.push(ValidationItem::body(field, reason, "value_error"));
                None
            }
            Err(e) => {
                errors.push(ValidationItem::body("latitude", e.to_string(), "value_error"));
                None
            }
        },
        (None, None) => None,
        (None, Some(_)) => {
            errors.push(ValidationItem::body("latitude", "required with longitude", "missing"));
            None
        }
        (Some(_), None) => {
            errors.push(ValidationItem::body("longitude", "required with latitude", "missing"));
            None
        }
    };
    let options = match input.options {
        None | Some(Value::Null) => json!({}),
        Some(v @ Value::Object(_)) => v,
        Some(_) => {
            errors.push(ValidationItem::body("options", "must be an object", "dict_type"));
            Value::Null
        }
    };
    if kind == Some(ReceiverKind::Simulated) && position.is_none() && errors.is_empty() {
        errors.push(ValidationItem::body(
            "latitude",
            "a simulated receiver needs a position",
            "missing",
        ));
    }
    match (id, kind) {
        (Some(id), Some(kind)) if errors.is_empty() => {
            let mut info = ReceiverInfo::new(id, input.name.trim(), kind, input.url);
            info.position = position;
            Ok((info, options, input.active))
        }
        _ => Err(ApiError::Validation(errors)),
    }
}

// ---------------------------------------------------------------------------------------------
// Handlers
// ---------------------------------------------------------------------------------------------

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Heimdall acquisition service",
        description = "The old acquisition REST API over the embedded Heimdall engine."
    ),
    paths(
        submit_acquisition,
        acquisition_status,
        acquisition_events,
        cancel_acquisition,
        list_session_objects,
        download_session_object,
        list_receivers,
        create_receiver,
        get_receiver,
        update_receiver,
        delete_receiver,
        receivers_health,
        receiver_snr_stats,
        list_measurements,
        health,
        openapi_json,
    ),
    components(schemas(
        AcquisitionRequestBody,
        AcquisitionAccepted,
        AcquisitionStatus,
        ReceiverState,
        ErrorBody,
        SkippedReceiver,
        SessionObject,
        ReceiverBody,
        ReceiverInput,
        ReceiverHealthBody,
        SnrStatsBody,
        HealthBody,
        BackendHealth,
        ValidationError,
        ValidationItem,
        ErrorDetail,
    ))
)]
struct ApiDoc;

/// The service's routes.
fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/api/v1/openapi.json", get(openapi_json))
        .route("/api/v1/acquisitions", axum::routing::post(submit_acquisition))
        .route(
            "/api/v1/acquisitions/{id}",
            get(acquisition_status).delete(cancel_acquisition),
        )
        .route("/api/v1/acquisitions/{id}/events", get(acquisition_events))
        .route("/api/v1/acquisitions/{id}/objects", get(list_session_objects))
        .route("/api/v1/acquisitions/{id}/objects/{name}", get(download_session_object))
        .route("/api/v1/receivers", get(list_receivers).post(create_receiver))
        .route("/api/v1/receivers/health", get(receivers_health))
        .route(
            "/api/v1/receivers/{id}",
            get(get_receiver).put(update_receiver).delete(delete_receiver),
        )
        .route("/api/v1/receivers/{id}/snr-stats", get(receiver_snr_stats))
        .route("/api/v1/measurements", get(list_measurements))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::Status(StatusCode::METHOD_NOT_ALLOWED, "method not allowed".into())
        })
        .with_state(state)
}

/// One archived object of a committed session, as its manifest lists it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
struct SessionObject {
    /// File name within the session (`torino.npy`, `torino.sigmf-meta`, `torino_spectra.npy`...).
    name: String,
    /// Full key in the store.
    key: String,
    /// Size in bytes.
    size: u64,
    /// Lower-case hex SHA-256 (also the download's `ETag`).
    sha256: String,
    /// MIME type.
    content_type: String,
}

/// The manifest of a committed session (404 when there is none: running, cancelled, unknown).
async fn committed_manifest(app: &AppState, id: SessionId) -> Result<heimdall::storage::SessionManifest, ApiError> {
    match app.sink.read_session_manifest(id).await {
        Ok(m) => Ok(m),
        Err(Error::NotFound { .. }) => Err(ApiError::not_found(format!(
            "no committed archive for acquisition {id} (unknown, still running, cancelled or failed)"
        ))),
        Err(e) => Err(ApiError::from_core(e)),
    }
}

fn session_object(o: &StoredObject) -> SessionObject {
    SessionObject {
        name: o.key.rsplit('/').next().unwrap_or(&o.key).to_owned(),
        key: o.key.clone(),
        size: o.size,
        sha256: o.sha256.clone(),
        content_type: o.content_type.clone(),
    }
}

/// Every archived object of a committed acquisition (captures, metadata, SigMF, spectra), from
/// its manifest, with size and SHA-256.
#[utoipa::path(
    get,
    path = "/api/v1/acquisitions/{id}/objects",
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "The objects", body = [SessionObject]),
        (status = 404, description = "No committed archive for this id", body = ErrorDetail),
    )
)]
async fn list_session_objects(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<SessionObject>>, ApiError> {
    let id = parse_session(&id)?;
    let manifest = committed_manifest(&app, id).await?;
    Ok(axum::Json(manifest.objects.iter().map(session_object).collect()))
}

/// Downloads one archived object, streamed from the store (a 1 GiB capture never sits in the
/// service's memory). `ETag` is the SHA-256 the manifest lists; only objects the manifest lists
/// are served.
#[utoipa::path(
    get,
    path = "/api/v1/acquisitions/{id}/objects/{name}",
    params(
        ("id" = String, Path, description = "Session id"),
        ("name" = String, Path, description = "File name, as listed by `/objects`"),
    ),
    responses(
        (status = 200, description = "The object's bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "No such committed object", body = ErrorDetail),
    )
)]
async fn download_session_object(
    State(app): State<AppState>,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = parse_session(&id)?;
    let manifest = committed_manifest(&app, id).await?;
    let Some(obj) = manifest
        .objects
        .iter()
        .find(|o| o.key.rsplit('/').next() == Some(name.as_str()))
    else {
        return Err(ApiError::not_found(format!("acquisition {id} has no object {name:?}")));
    };
    let bytes = app.sink.get_stream(&obj.key).await.map_err(ApiError::from_core)?;
    let body = axum::body::Body::from_stream(bytes);
    let content_type = if obj.content_type.is_empty() {
        "application/octet-stream"
    } else {
        obj.content_type.as_str()
    };
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, content_type.to_owned()),
            (axum::http::header::CONTENT_LENGTH, obj.size.to_string()),
            (axum::http::header::ETAG, format!("\"{}\"", obj.sha256)),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}

/// Starts an acquisition.
#[utoipa::path(
    post,
    path = "/api/v1/acquisitions",
    request_body = AcquisitionRequestBody,
    responses(
        (status = 202, description = "Started", body = AcquisitionAccepted),
        (status = 422, description = "Invalid body", body = ValidationError),
        (status = 429, description = "Too many acquisitions running", body = ErrorDetail),
        (status = 503, description = "Shutting down, or the registry is unreachable", body = ErrorDetail),
    )
)]
async fn submit_acquisition(State(app): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    if app.draining.load(Ordering::SeqCst) {
        return Err(ApiError::Status(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service is shutting down".into(),
        ));
    }
    let body = parse_acquisition(&body)?;
    let req = body.to_request()?;
    let max = app.max_running.load(Ordering::Relaxed);
    if app.running_jobs().len() >= max {
        return Err(ApiError::Status(
            StatusCode::TOO_MANY_REQUESTS,
            format!("{max} acquisitions are already running; retry when one has finished"),
        ));
    }
    let (sources, skipped) = app.sources(req.receivers.as_deref(), req.frequency_hz).await?;
    if sources.is_empty() {
        let detail = if skipped.is_empty() {
            "no active receiver: register one with POST /api/v1/receivers".to_owned()
        } else {
            format!("no usable receiver ({} skipped)", skipped.len())
        };
        return Err(ApiError::Status(StatusCode::SERVICE_UNAVAILABLE, detail));
    }
    let receiver_ids: Vec<ReceiverId> = sources.iter().map(|s| s.info().id.clone()).collect();
    let engine = Engine::builder()
        .concurrency(sources.len())
        .sources(sources)
        .sink(Arc::new(app.sink.clone()))
        .store(app.db.clone())
        .build()
        .map_err(ApiError::from_core)?;
    let session_id = SessionId::new();
    let handle = engine.start(req, Some(session_id)).map_err(ApiError::from_core)?;
    let job = Arc::new(Job::new(session_id, receiver_ids.clone(), handle.cancel_token()));
    let mut events = handle.events();
    app.insert_job(job.clone());
    if app.draining.load(Ordering::SeqCst) {
        // The shutdown began meanwhile and may not have seen this job.
        job.cancel.cancel();
    }
    tokio::spawn(async move {
        while let Some(ev) = events.next().await {
            job.apply(&ev);
        }
        match handle.finish().await {
            Ok(report) => {
                if lock(&job.state).report.is_none() {
                    // The last event was lost (cannot happen unless the stream lagged): use the result.
                    job.apply(&EngineEvent::SessionFinished {
                        report: Box::new(report.clone()),
                    });
                }
                tracing::info!(session = %report.session_id, status = report.status.as_str(), "acquisition finished")
            }
            Err(e) => {
                tracing::error!(session = %session_id, "acquisition failed: {}", e.chain());
                job.fail(e.chain());
            }
        }
        job.done.send_replace(true);
    });
    tracing::info!(session = %session_id, receivers = receiver_ids.len(), "acquisition accepted");
    let id = session_id.to_string();
    let accepted = AcquisitionAccepted {
        session_id: id.clone(),
        task_id: id.clone(),
        status: "PENDING".into(),
        receivers: receiver_ids.len(),
        receiver_ids: receiver_ids.iter().map(|r| r.to_string()).collect(),
        skipped,
        status_url: format!("/api/v1/acquisitions/{id}"),
        events_url: format!("/api/v1/acquisitions/{id}/events"),
    };
    Ok((StatusCode::ACCEPTED, axum::Json(accepted)).into_response())
}

/// A finished session's report from the database, then the archive manifest.
async fn stored_report(app: &AppState, id: SessionId) -> Result<Option<(SessionReport, &'static str)>, ApiError> {
    match app.db.session(id).await {
        Ok(Some(r)) => return Ok(Some((r, "database"))),
        Ok(None) => {}
        Err(e) => tracing::warn!(session = %id, "database unavailable, trying the archive: {}", e.chain()),
    }
    match app.sink.read_manifest(id).await {
        Ok(r) => Ok(Some((r, "archive"))),
        Err(Error::NotFound { .. }) => Ok(None),
        Err(e) => Err(ApiError::from_core(e)),
    }
}

/// Status of an acquisition.
#[utoipa::path(
    get,
    path = "/api/v1/acquisitions/{id}",
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "Status", body = AcquisitionStatus),
        (status = 404, description = "Unknown session", body = ErrorDetail),
    )
)]
async fn acquisition_status(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<AcquisitionStatus>, ApiError> {
    let id = parse_session(&id)?;
    if let Some(job) = app.job(id) {
        return Ok(axum::Json(job.status()));
    }
    match stored_report(&app, id).await? {
        Some((report, source)) => Ok(axum::Json(AcquisitionStatus::from_report(&report, source))),
        None => Err(ApiError::not_found(format!("no acquisition {id}"))),
    }
}

/// The engine's events as Server-Sent Events (`event:` is the event type, `data:` its JSON,
/// `id:` its sequence number). A late client first gets every event so far except superseded
/// `progress` events; the stream ends after `session_finished` (or `session_failed`). For a
/// session finished before this process started, one `session_finished` event is sent.
#[utoipa::path(
    get,
    path = "/api/v1/acquisitions/{id}/events",
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "text/event-stream of engine events", content_type = "text/event-stream", body = String),
        (status = 404, description = "Unknown session", body = ErrorDetail),
    )
)]
async fn acquisition_events(State(app): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = parse_session(&id)?;
    let Some(job) = app.job(id) else {
        let Some((report, _)) = stored_report(&app, id).await? else {
            return Err(ApiError::not_found(format!("no acquisition {id}")));
        };
        let data = serde_json::to_string(&EngineEvent::SessionFinished {
            report: Box::new(report),
        })
        .map_err(|e| ApiError::Status(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        let ev = Event::default().event("session_finished").id("1").data(data);
        let stream = futures::stream::iter([Ok::<_, Infallible>(ev)]);
        return Ok(Sse::new(stream).into_response());
    };
    let (replay, rx) = {
        let st = lock(&job.state);
        (st.log.clone(), job.live.subscribe())
    };
    let ended = replay.iter().any(|i| i.last);
    let last_seq = replay.last().map_or(0, |i| i.seq);
    let replayed = futures::stream::iter(replay);
    let live = futures::stream::unfold((rx, ended), move |(mut rx, ended)| async move {
        if ended {
            return None;
        }
        loop {
            match rx.recv().await {
                Ok(item) if item.seq <= last_seq => continue,
                Ok(item) => {
                    let last = item.last;
                    return Some((item, (rx, last)));
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(skipped = n, "slow SSE client: events dropped");
                }
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    let stream = replayed.chain(live).map(|item| {
        Ok::<_, Infallible>(
            Event::default()
                .event(item.name)
                .id(item.seq.to_string())
                .data(&*item.data),
        )
    });
    Ok(sse(stream))
}

fn sse(stream: impl Stream<Item = Result<Event, Infallible>> + Send + 'static) -> Response {
    Sse::new(stream).keep_alive(KeepAlive::default()).into_response()
}

/// Cancels a running acquisition and waits (up to 30 s) for the engine to clean up: no
/// object of the session remains in the archive and no row in the database.
#[utoipa::path(
    delete,
    path = "/api/v1/acquisitions/{id}",
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "Cancelled (or it had finished meanwhile: see `status`)", body = AcquisitionStatus),
        (status = 202, description = "Cancellation requested; cleanup still running", body = AcquisitionStatus),
        (status = 404, description = "Unknown session", body = ErrorDetail),
        (status = 409, description = "Already finished", body = ErrorDetail),
    )
)]
async fn cancel_acquisition(State(app): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = parse_session(&id)?;
    let Some(job) = app.job(id) else {
        return match stored_report(&app, id).await? {
            Some((r, _)) => Err(ApiError::Status(
                StatusCode::CONFLICT,
                format!("acquisition {id} already finished: {}", status_name(r.status)),
            )),
            None => Err(ApiError::not_found(format!("no acquisition {id}"))),
        };
    };
    if job.is_done() {
        return Err(ApiError::Status(
            StatusCode::CONFLICT,
            format!("acquisition {id} already finished: {}", job.status().status),
        ));
    }
    job.cancel.cancel();
    let code = match tokio::time::timeout(Duration::from_secs(30), job.wait_done()).await {
        Ok(()) => StatusCode::OK,
        Err(_) => StatusCode::ACCEPTED,
    };
    Ok((code, axum::Json(job.status())).into_response())
}

/// The registry's receivers.
#[utoipa::path(
    get,
    path = "/api/v1/receivers",
    params(ListReceiversParams),
    responses((status = 200, description = "Receivers", body = Vec<ReceiverBody>))
)]
async fn list_receivers(
    State(app): State<AppState>,
    q: Result<Query<ListReceiversParams>, QueryRejection>,
) -> Result<axum::Json<Vec<ReceiverBody>>, ApiError> {
    let Query(q) = q.map_err(query_error)?;
    let list = app
        .db
        .list_receivers(!q.include_inactive)
        .await
        .map_err(ApiError::from_core)?;
    Ok(axum::Json(list.iter().map(ReceiverBody::from).collect()))
}

/// Registers a receiver.
#[utoipa::path(
    post,
    path = "/api/v1/receivers",
    request_body = ReceiverInput,
    responses(
        (status = 201, description = "Registered", body = ReceiverBody),
        (status = 409, description = "An active receiver has this id", body = ErrorDetail),
        (status = 422, description = "Invalid body", body = ValidationError),
    )
)]
async fn create_receiver(State(app): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let (info, options, _) = parse_receiver_input(&body, None)?;
    if let Some(existing) = app.db.receiver(&info.id).await.map_err(ApiError::from_core)?
        && existing.active
    {
        return Err(ApiError::Status(
            StatusCode::CONFLICT,
            format!("receiver {} already exists; use PUT to change it", info.id),
        ));
    }
    let rec = app
        .db
        .upsert_receiver(&info, &options)
        .await
        .map_err(ApiError::from_core)?;
    lock(&app.file_sources).remove(&info.id);
    Ok((StatusCode::CREATED, axum::Json(ReceiverBody::from(&rec))).into_response())
}

/// One receiver.
#[utoipa::path(
    get,
    path = "/api/v1/receivers/{id}",
    params(("id" = String, Path, description = "Receiver id")),
    responses(
        (status = 200, description = "The receiver", body = ReceiverBody),
        (status = 404, description = "Unknown receiver", body = ErrorDetail),
    )
)]
async fn get_receiver(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<ReceiverBody>, ApiError> {
    let id = parse_receiver(&id)?;
    match app.db.receiver(&id).await.map_err(ApiError::from_core)? {
        Some(r) => Ok(axum::Json(ReceiverBody::from(&r))),
        None => Err(ApiError::not_found(format!("no receiver {id}"))),
    }
}

/// Replaces a receiver's description (`active: false` deactivates it, `true` reactivates).
#[utoipa::path(
    put,
    path = "/api/v1/receivers/{id}",
    params(("id" = String, Path, description = "Receiver id")),
    request_body = ReceiverInput,
    responses(
        (status = 200, description = "Updated", body = ReceiverBody),
        (status = 404, description = "Unknown receiver", body = ErrorDetail),
        (status = 422, description = "Invalid body", body = ValidationError),
    )
)]
async fn update_receiver(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<axum::Json<ReceiverBody>, ApiError> {
    let id = parse_receiver(&id)?;
    if app.db.receiver(&id).await.map_err(ApiError::from_core)?.is_none() {
        return Err(ApiError::not_found(format!("no receiver {id}")));
    }
    let (info, options, active) = parse_receiver_input(&body, Some(&id))?;
    let mut rec = app
        .db
        .upsert_receiver(&info, &options)
        .await
        .map_err(ApiError::from_core)?;
    // The registry now describes it: forget a source built from the receivers file.
    lock(&app.file_sources).remove(&id);
    if active == Some(false) {
        app.db.deactivate_receiver(&id).await.map_err(ApiError::from_core)?;
        rec = app
            .db
            .receiver(&id)
            .await
            .map_err(ApiError::from_core)?
            .ok_or_else(|| ApiError::not_found(format!("no receiver {id}")))?;
    }
    Ok(axum::Json(ReceiverBody::from(&rec)))
}

/// Deactivates a receiver (soft delete: its history stays; PUT with `active: true` brings it back).
#[utoipa::path(
    delete,
    path = "/api/v1/receivers/{id}",
    params(("id" = String, Path, description = "Receiver id")),
    responses(
        (status = 200, description = "Deactivated", body = ReceiverBody),
        (status = 404, description = "Unknown receiver", body = ErrorDetail),
    )
)]
async fn delete_receiver(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<ReceiverBody>, ApiError> {
    let id = parse_receiver(&id)?;
    if !app.db.deactivate_receiver(&id).await.map_err(ApiError::from_core)? {
        return Err(ApiError::not_found(format!("no receiver {id}")));
    }
    match app.db.receiver(&id).await.map_err(ApiError::from_core)? {
        Some(r) => Ok(axum::Json(ReceiverBody::from(&r))),
        None => Err(ApiError::not_found(format!("no receiver {id}"))),
    }
}

/// Health of every active receiver: the protocol's health check, all at once, 3 s each.
#[utoipa::path(
    get,
    path = "/api/v1/receivers/health",
    responses((status = 200, description = "One entry per active receiver", body = Vec<ReceiverHealthBody>))
)]
async fn receivers_health(State(app): State<AppState>) -> Result<axum::Json<Vec<ReceiverHealthBody>>, ApiError> {
    let records = app.db.list_receivers(true).await.map_err(ApiError::from_core)?;
    let checks = records.iter().map(|rec| {
        let source = app.source_for(rec, 145.5e6);
        let id = rec.info.id.to_string();
        async move {
            let t0 = Instant::now();
            let down = |detail: String, t0: Instant| ReceiverHealthBody {
                id: id.clone(),
                available: false,
                users: None,
                users_max: None,
                gps_locked: None,
                version: None,
                detail,
                latency_ms: t0.elapsed().as_millis() as u64,
            };
            let source = match source {
                Ok(s) => s,
                Err(reason) => return down(format!("no source: {reason}"), t0),
            };
            match tokio::time::timeout(HEALTH_CHECK_TIMEOUT, source.health()).await {
                Ok(Ok(h)) => ReceiverHealthBody {
                    id: id.clone(),
                    available: h.available,
                    users: h.users,
                    users_max: h.users_max,
                    gps_locked: h.gps_locked,
                    version: h.version,
                    detail: h.detail,
                    latency_ms: t0.elapsed().as_millis() as u64,
                },
                Ok(Err(e)) => down(e.chain(), t0),
                Err(_) => down(format!("no answer within {HEALTH_CHECK_TIMEOUT:?}"), t0),
            }
        }
    });
    Ok(axum::Json(futures::future::join_all(checks).await))
}

/// SNR statistics of one receiver's measurements.
#[utoipa::path(
    get,
    path = "/api/v1/receivers/{id}/snr-stats",
    params(("id" = String, Path, description = "Receiver id"), SnrParams),
    responses(
        (status = 200, description = "Statistics (count 0 when there is no measurement)", body = SnrStatsBody),
        (status = 404, description = "Unknown receiver", body = ErrorDetail),
    )
)]
async fn receiver_snr_stats(
    State(app): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<SnrParams>, QueryRejection>,
) -> Result<axum::Json<SnrStatsBody>, ApiError> {
    let Query(q) = q.map_err(query_error)?;
    let id = parse_receiver(&id)?;
    if app.db.receiver(&id).await.map_err(ApiError::from_core)?.is_none() {
        return Err(ApiError::not_found(format!("no receiver {id}")));
    }
    let since = match q.hours {
        None => None,
        Some(h) if h.is_finite() && h > 0.0 && h <= 24.0 * 366.0 * 100.0 => {
            Some(Utc::now() - chrono::Duration::milliseconds((h * 3_600_000.0) as i64))
        }
        Some(h) => {
            return Err(ApiError::Validation(vec![ValidationItem::new(
                vec![json!("query"), json!("hours")],
                format!("{h} must be a positive number of hours"),
                "value_error",
            )]));
        }
    };
    let window = TimeWindow { since, until: None };
    let stats = app.db.snr_stats(window).await.map_err(ApiError::from_core)?;
    let body = match stats.into_iter().find(|s| s.receiver_id == id) {
        Some(s) => SnrStatsBody {
            receiver_id: id.to_string(),
            count: s.count,
            mean_db: Some(s.mean_db),
            min_db: Some(s.min_db),
            max_db: Some(s.max_db),
            p50_db: s.p50_db,
            since,
        },
        None => SnrStatsBody {
            receiver_id: id.to_string(),
            count: 0,
            mean_db: None,
            min_db: None,
            max_db: None,
            p50_db: None,
            since,
        },
    };
    Ok(axum::Json(body))
}

/// Recent measurements, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/measurements",
    params(MeasurementsParams),
    responses(
        (status = 200, description = "Measurement rows", body = Vec<Object>),
        (status = 422, description = "Invalid filter", body = ValidationError),
    )
)]
async fn list_measurements(
    State(app): State<AppState>,
    q: Result<Query<MeasurementsParams>, QueryRejection>,
) -> Result<axum::Json<Vec<heimdall::core::Measurement>>, ApiError> {
    let Query(p) = q.map_err(query_error)?;
    let mut errors = Vec::new();
    let qloc = |f: &str| vec![json!("query"), json!(f)];
    let mut query = MeasurementQuery {
        limit: p.limit,
        ..Default::default()
    };
    if let Some(r) = &p.receiver {
        match r.parse::<ReceiverId>() {
            Ok(id) => query.receiver = Some(id),
            Err(e) => errors.push(ValidationItem::new(qloc("receiver"), e.to_string(), "value_error")),
        }
    }
    if let Some(s) = &p.session {
        match s.parse::<SessionId>() {
            Ok(id) => query.session = Some(id),
            Err(e) => errors.push(ValidationItem::new(qloc("session"), e.to_string(), "value_error")),
        }
    }
    for (name, v, slot) in [
        ("freq_min_mhz", p.freq_min_mhz, &mut query.frequency_min_hz),
        ("freq_max_mhz", p.freq_max_mhz, &mut query.frequency_max_hz),
    ] {
        match v {
            Some(f) if f.is_finite() && f >= 0.0 => *slot = Some(f * 1e6),
            Some(f) => errors.push(ValidationItem::new(
                qloc(name),
                format!("{f} is not a frequency"),
                "value_error",
            )),
            None => {}
        }
    }
    for (name, v, slot) in [
        ("since", &p.since, &mut query.since),
        ("until", &p.until, &mut query.until),
    ] {
        if let Some(s) = v {
            match common::parse_time(s) {
                Ok(t) => *slot = Some(t),
                Err(e) => errors.push(ValidationItem::new(qloc(name), e, "datetime_parsing")),
            }
        }
    }
    if let Some(l) = p.limit
        && !(1..=MeasurementQuery::MAX_LIMIT).contains(&l)
    {
        errors.push(ValidationItem::new(
            qloc("limit"),
            format!("{l} is not within 1..={}", MeasurementQuery::MAX_LIMIT),
            "value_error",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let rows = app.db.measurements(&query).await.map_err(ApiError::from_core)?;
    Ok(axum::Json(rows))
}

/// Health of the archive and the database (`503` when one fails, with the cause).
#[utoipa::path(
    get,
    path = "/health",
    responses(
        (status = 200, description = "Healthy", body = HealthBody),
        (status = 503, description = "Failing", body = HealthBody),
    )
)]
async fn health(State(app): State<AppState>) -> Response {
    async fn check(
        location: String,
        f: impl std::future::Future<Output = heimdall::core::Result<()>>,
    ) -> BackendHealth {
        let error = match tokio::time::timeout(BACKEND_HEALTH_TIMEOUT, f).await {
            Ok(Ok(())) => None,
            Ok(Err(e)) => Some(e.chain()),
            Err(_) => Some(format!("no answer within {BACKEND_HEALTH_TIMEOUT:?}")),
        };
        BackendHealth {
            ok: error.is_none(),
            location,
            error,
        }
    }
    let (store, database) = tokio::join!(
        check(app.sink.to_string(), IqSink::health(&app.sink)),
        check(app.db.redacted_url(), MetricStore::health(&*app.db)),
    );
    let ok = store.ok && database.ok;
    let body = HealthBody {
        status: if ok { "ok" } else { "failing" }.to_owned(),
        store,
        database,
        running_acquisitions: app.running_jobs().len(),
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object))
)]
async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}

#[cfg(test)]
mod tests {
    use super::*;

    use sha2::Digest;
    use tokio::net::TcpListener;
    use tokio::sync::oneshot;
    use tokio::task::JoinHandle;

    /// Upper bound for anything a test waits for (a safety net, never a way to wait).
    const LIMIT: Duration = Duration::from_secs(120);

    struct TestService {
        base: String,
        client: reqwest::Client,
        app: AppState,
        dir: tempfile::TempDir,
        stop: Option<oneshot::Sender<()>>,
        task: JoinHandle<anyhow::Result<()>>,
    }

    async fn open_backends(dir: &std::path::Path) -> (ArchiveSink, Tsdb) {
        let store = format!("file://{}", dir.join("archive").display());
        let sink = common::open_store(Some(&store), &[], ArchiveFormat::Both).unwrap();
        let db_path = dir.join("heimdall.db").display().to_string();
        let db = common::open_database(Some(&db_path)).await.unwrap();
        (sink, db)
    }

    async fn start_in(dir: tempfile::TempDir, pacing: Pacing) -> TestService {
        let (sink, db) = open_backends(dir.path()).await;
        let app = AppState::new(sink, Arc::new(db), pacing, 7);
        app.init_registry(None).await.unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let signal = async move {
            let _ = rx.await;
        };
        let task = tokio::spawn(serve(listener, app.clone(), signal, Duration::ZERO));
        TestService {
            base: format!("http://{addr}"),
            client: reqwest::Client::new(),
            app,
            dir,
            stop: Some(tx),
            task,
        }
    }

    async fn start(pacing: Pacing) -> TestService {
        start_in(tempfile::tempdir().unwrap(), pacing).await
    }

    impl TestService {
        fn url(&self, path: &str) -> String {
            format!("{}{path}", self.base)
        }

        async fn get(&self, path: &str) -> (StatusCode, Value) {
            let r = self.client.get(self.url(path)).send().await.unwrap();
            decode(r).await
        }

        async fn send(&self, method: reqwest::Method, path: &str, body: Option<&str>) -> (StatusCode, Value) {
            let mut req = self.client.request(method, self.url(path));
            if let Some(b) = body {
                req = req.header("content-type", "application/json").body(b.to_owned());
            }
            decode(req.send().await.unwrap()).await
        }

        async fn submit(&self, body: Value) -> String {
            let (code, v) = self
                .send(reqwest::Method::POST, "/api/v1/acquisitions", Some(&body.to_string()))
                .await;
            assert_eq!(code, StatusCode::ACCEPTED, "{v}");
            assert_eq!(v["status"], "PENDING", "{v}");
            assert_eq!(v["task_id"], v["session_id"]);
            v["session_id"].as_str().unwrap().to_owned()
        }

        async fn events(&self, id: &str) -> SseReader {
            let r = self
                .client
                .get(self.url(&format!("/api/v1/acquisitions/{id}/events")))
                .send()
                .await
                .unwrap();
            assert_eq!(r.status().as_u16(), 200);
            let ct = r.headers()["content-type"].to_str().unwrap().to_owned();
            assert!(ct.starts_with("text/event-stream"), "{ct}");
            SseReader {
                stream: r.bytes_stream().boxed(),
                buf: String::new(),
            }
        }

        /// Everything the archive holds for a session (files on disk).
        fn files_of(&self, id: &str) -> Vec<PathBuf> {
            fn walk(p: &std::path::Path, out: &mut Vec<PathBuf>) {
                if let Ok(rd) = std::fs::read_dir(p) {
                    for e in rd.flatten() {
                        let path = e.path();
                        if path.is_dir() {
                            walk(&path, out);
                        } else {
                            out.push(path);
                        }
                    }
                }
            }
            let mut all = Vec::new();
            walk(&self.dir.path().join("archive"), &mut all);
            all.into_iter().filter(|p| p.to_string_lossy().contains(id)).collect()
        }

        async fn stop(mut self) -> tempfile::TempDir {
            if let Some(tx) = self.stop.take() {
                let _ = tx.send(());
            }
            tokio::time::timeout(LIMIT, &mut self.task)
                .await
                .expect("the service did not stop")
                .unwrap()
                .unwrap();
            self.dir
        }
    }

    async fn decode(r: reqwest::Response) -> (StatusCode, Value) {
        let code = StatusCode::from_u16(r.status().as_u16()).unwrap();
        let ct = r
            .headers()
            .get("content-type")
            .map(|h| h.to_str().unwrap_or("").to_owned())
            .unwrap_or_default();
        let text = r.text().await.unwrap();
        assert!(ct.starts_with("application/json"), "{code}: {ct}: {text}");
        (
            code,
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}")),
        )
    }

    /// A minimal Server-Sent Events parser over the response body.
    struct SseReader {
        stream: futures::stream::BoxStream<'static, reqwest::Result<Bytes>>,
        buf: String,
    }

    impl SseReader {
        /// The next event `(name, data)`, or `None` when the stream ends.
        async fn next(&mut self) -> Option<(String, Value)> {
            loop {
                if let Some(end) = self.buf.find("\n\n") {
                    let block: String = self.buf.drain(..end + 2).collect();
                    let (mut name, mut data) = (String::from("message"), String::new());
                    for line in block.lines() {
                        if let Some(v) = line.strip_prefix("event:") {
                            name = v.trim().to_owned();
                        } else if let Some(v) = line.strip_prefix("data:") {
                            data.push_str(v.strip_prefix(' ').unwrap_or(v));
                        }
                    }
                    if data.is_empty() {
                        continue; // keep-alive comment
                    }
                    return Some((name, serde_json::from_str(&data).unwrap()));
                }
                let chunk = tokio::time::timeout(LIMIT, self.stream.next())
                    .await
                    .expect("no event for too long")?;
                self.buf.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap());
            }
        }

        /// Reads to the end of the stream; checks it ends right after `session_finished`.
        async fn read_to_end(&mut self) -> Vec<(String, Value)> {
            let mut out = Vec::new();
            while let Some(ev) = self.next().await {
                out.push(ev);
            }
            let last = out.last().expect("no event at all");
            assert_eq!(last.0, "session_finished", "{out:?}");
            assert_eq!(last.1["type"], "session_finished");
            out
        }
    }

    fn names(evs: &[(String, Value)]) -> Vec<&str> {
        evs.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn submit_follow_events_read_status_and_measurements() {
        let svc = start(Pacing::AsFastAsPossible).await;
        let id = svc
            .submit(
                json!({"frequency_mhz": 145.5, "duration_seconds": 2, "websdrs": ["torino", "genova", "montanaro"]}),
            )
            .await;
        let evs = svc.events(&id).await.read_to_end().await;
        let n = names(&evs);
        assert_eq!(n.first(), Some(&"session_started"), "{n:?}");
        assert_eq!(n.iter().filter(|e| **e == "stored").count(), 3, "{n:?}");
        assert_eq!(n.iter().filter(|e| **e == "recorded").count(), 3, "{n:?}");
        let report = &evs.last().unwrap().1["report"];
        assert_eq!(report["status"], "success");
        assert_eq!(report["session_id"], id.as_str());

        let (code, st) = svc.get(&format!("/api/v1/acquisitions/{id}")).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(st["status"], "SUCCESS", "{st}");
        assert_eq!(st["progress"], 100.0);
        assert_eq!(st["measurements_collected"], 3);
        assert_eq!(st["receivers_total"], 3);
        assert_eq!(st["source"], "engine");
        assert_eq!(st["result"]["status"], "success");
        assert!(st["errors"].as_object().unwrap().is_empty(), "{st}");

        // A late subscriber gets the story so far and the end at once.
        let replay = svc.events(&id).await.read_to_end().await;
        assert_eq!(names(&replay).first(), Some(&"session_started"));

        let (code, rows) = svc.get(&format!("/api/v1/measurements?session={id}")).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(rows.as_array().unwrap().len(), 3, "{rows}");
        let (_, rows) = svc
            .get(&format!(
                "/api/v1/measurements?session={id}&receiver=torino&freq_min_mhz=145&freq_max_mhz=146"
            ))
            .await;
        let rows = rows.as_array().unwrap();
        assert_eq!(rows.len(), 1);
        assert_eq!(rows[0]["receiver_id"], "torino");
        let (_, rows) = svc.get("/api/v1/measurements?freq_min_mhz=146").await;
        assert!(rows.as_array().unwrap().is_empty());
        let (code, _) = svc.get("/api/v1/measurements?limit=0").await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
        let (code, _) = svc.get("/api/v1/measurements?session=nope").await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);

        let (code, snr) = svc.get("/api/v1/receivers/torino/snr-stats?hours=1").await;
        assert_eq!(code, StatusCode::OK, "{snr}");
        assert_eq!(snr["count"], 1, "{snr}");
        assert!(snr["mean_db"].as_f64().unwrap().is_finite());
        let (_, snr) = svc.get("/api/v1/receivers/coazze/snr-stats").await;
        assert_eq!(snr["count"], 0, "{snr}");

        let objects = svc.app.sink.list_objects(id.parse().unwrap()).await.unwrap();
        assert!(objects.iter().any(|k| k.ends_with("manifest.json")), "{objects:?}");

        // The archive over HTTP: the manifest's objects, each downloadable with its checksum.
        let (code, listed) = svc.get(&format!("/api/v1/acquisitions/{id}/objects")).await;
        assert_eq!(code, StatusCode::OK, "{listed}");
        let listed: Vec<SessionObject> = serde_json::from_value(listed).unwrap();
        let npy = listed
            .iter()
            .find(|o| o.name == "torino.npy")
            .expect("torino.npy listed");
        assert!(listed.iter().any(|o| o.name == "torino.sigmf-meta"), "{listed:?}");
        let r = svc
            .client
            .get(svc.url(&format!("/api/v1/acquisitions/{id}/objects/torino.npy")))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status().as_u16(), 200);
        assert_eq!(r.headers()["etag"].to_str().unwrap(), format!("\"{}\"", npy.sha256));
        let body = r.bytes().await.unwrap();
        assert_eq!(body.len() as u64, npy.size);
        assert_eq!(hex::encode(sha2::Sha256::digest(&body)), npy.sha256);
        let on_disk = svc
            .files_of(&id)
            .into_iter()
            .find(|p| p.ends_with("torino.npy"))
            .unwrap();
        assert_eq!(body.as_ref(), std::fs::read(on_disk).unwrap().as_slice());
        for missing in [
            format!("/api/v1/acquisitions/{id}/objects/coazze.npy"),
            format!("/api/v1/acquisitions/{id}/objects/..%2Fmanifest.json"),
            format!("/api/v1/acquisitions/{}/objects", SessionId::new()),
        ] {
            let (code, body) = svc.get(&missing).await;
            assert_eq!(code, StatusCode::NOT_FOUND, "{missing}: {body}");
        }
        let (code, _) = svc
            .send(reqwest::Method::DELETE, &format!("/api/v1/acquisitions/{id}"), None)
            .await;
        assert_eq!(code, StatusCode::CONFLICT);

        // After a restart the status comes from the database.
        let dir = svc.stop().await;
        let svc = start_in(dir, Pacing::AsFastAsPossible).await;
        let (code, st) = svc.get(&format!("/api/v1/acquisitions/{id}")).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(st["status"], "SUCCESS", "{st}");
        assert_eq!(st["source"], "database");
        assert_eq!(st["measurements_collected"], 3);
        let evs = svc.events(&id).await.read_to_end().await;
        assert_eq!(evs.len(), 1);
        assert_eq!(evs[0].1["report"]["session_id"], id.as_str());

        // With a new, empty database the archive's manifest still answers.
        let dir = svc.stop().await;
        for f in ["heimdall.db", "heimdall.db-wal", "heimdall.db-shm"] {
            let _ = std::fs::remove_file(dir.path().join(f));
        }
        let svc = start_in(dir, Pacing::AsFastAsPossible).await;
        let (code, st) = svc.get(&format!("/api/v1/acquisitions/{id}")).await;
        assert_eq!(code, StatusCode::OK, "{st}");
        assert_eq!(st["status"], "SUCCESS", "{st}");
        assert_eq!(st["source"], "archive");
        assert_eq!(st["measurements_collected"], 3);
        svc.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn cancelling_a_running_acquisition_leaves_nothing() {
        let svc = start(Pacing::RealTime).await;
        let id = svc
            .submit(json!({"frequency_mhz": 145.5, "duration_seconds": 120, "websdrs": ["torino", "coazze"]}))
            .await;
        let mut events = svc.events(&id).await;
        // Wait until samples flow (the session is really running).
        loop {
            let (name, _) = events.next().await.expect("stream ended before any progress");
            if name == "progress" {
                break;
            }
        }
        let (_, st) = svc.get(&format!("/api/v1/acquisitions/{id}")).await;
        assert_eq!(st["status"], "PROGRESS", "{st}");
        assert!(st["progress"].as_f64().unwrap() < 50.0, "{st}");

        let (code, st) = svc
            .send(reqwest::Method::DELETE, &format!("/api/v1/acquisitions/{id}"), None)
            .await;
        assert_eq!(code, StatusCode::OK, "{st}");
        assert_eq!(st["status"], "CANCELLED", "{st}");
        let rest = events.read_to_end().await;
        assert_eq!(rest.last().unwrap().1["report"]["status"], "cancelled");

        let (_, st) = svc.get(&format!("/api/v1/acquisitions/{id}")).await;
        assert_eq!(st["status"], "CANCELLED");
        let (code, _) = svc
            .send(reqwest::Method::DELETE, &format!("/api/v1/acquisitions/{id}"), None)
            .await;
        assert_eq!(code, StatusCode::CONFLICT);

        let session: SessionId = id.parse().unwrap();
        assert!(svc.files_of(&id).is_empty(), "{:?}", svc.files_of(&id));
        assert!(svc.app.sink.list_objects(session).await.unwrap_or_default().is_empty());
        let recorded = svc.app.db.session(session).await.unwrap().unwrap();
        assert_eq!(recorded.status, SessionStatus::Cancelled);
        let (_, rows) = svc.get(&format!("/api/v1/measurements?session={id}")).await;
        assert!(rows.as_array().unwrap().is_empty());
        svc.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn shutdown_cancels_running_acquisitions_and_commits_nothing() {
        let svc = start(Pacing::RealTime).await;
        let id = svc
            .submit(json!({"frequency_mhz": 7.1, "duration_seconds": 300, "websdrs": ["genova"]}))
            .await;
        let mut events = svc.events(&id).await;
        loop {
            let (name, _) = events.next().await.expect("stream ended before any progress");
            if name == "progress" {
                break;
            }
        }
        let app = svc.app.clone();
        let dir = svc.stop().await;
        let session: SessionId = id.parse().unwrap();
        let job = app.job(session).unwrap();
        assert!(job.is_done());
        assert_eq!(job.status().status, "CANCELLED");
        let (sink, db) = open_backends(dir.path()).await;
        assert!(sink.list_objects(session).await.unwrap_or_default().is_empty());
        assert_eq!(
            db.session(session).await.unwrap().unwrap().status,
            SessionStatus::Cancelled
        );
        // A restarted service still knows it was cancelled.
        let svc = start_in(dir, Pacing::AsFastAsPossible).await;
        let (code, st) = svc.get(&format!("/api/v1/acquisitions/{id}")).await;
        assert_eq!(code, StatusCode::OK, "{st}");
        assert_eq!(st["status"], "CANCELLED", "{st}");
        assert_eq!(st["source"], "database", "{st}");
        svc.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn bad_bodies_are_422_naming_the_field() {
        let svc = start(Pacing::AsFastAsPossible).await;
        let cases: Vec<(&str, &str)> = vec![
            (r#"{"frequency_mhz": "NaN", "duration_seconds": 10}"#, "frequency_mhz"),
            (r#"{"frequency_mhz": -145.5, "duration_seconds": 10}"#, "frequency_mhz"),
            (r#"{"frequency_mhz": 0, "duration_seconds": 10}"#, "frequency_mhz"),
            (r#"{"frequency_mhz": 1e9, "duration_seconds": 10}"#, "frequency_mhz"),
            (
                r#"{"frequency_mhz": 145.5, "duration_seconds": 301}"#,
                "duration_seconds",
            ),
            (
                r#"{"frequency_mhz": 145.5, "duration_seconds": -1}"#,
                "duration_seconds",
            ),
            (r#"{"frequency_mhz": 145.5, "duration_seconds": 0}"#, "duration_seconds"),
            (
                r#"{"frequency_mhz": 145.5, "duration_seconds": "10"}"#,
                "duration_seconds",
            ),
            (r#"{"duration_seconds": 10}"#, "frequency_mhz"),
            (r#"{"frequency_mhz": 145.5}"#, "duration_seconds"),
            (r#"{"frequency_mhz": true, "duration_seconds": 10}"#, "frequency_mhz"),
            (r#"{"frequency_mhz": [145.5], "duration_seconds": 10}"#, "frequency_mhz"),
            (
                r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "start_time": "yesterday"}"#,
                "start_time",
            ),
            (
                r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "start_time": 5}"#,
                "start_time",
            ),
            (
                r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "start_time": "2999-01-01T00:00:00Z"}"#,
                "start_time",
            ),
            (
                r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "websdrs": []}"#,
                "websdrs",
            ),
            (
                r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "websdrs": "torino"}"#,
                "websdrs",
            ),
            (
                r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "websdrs": ["bad id!"]}"#,
                "websdrs",
            ),
            (
                r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "websdrs": ["torino", "torino"]}"#,
                "websdrs",
            ),
            (
                r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "websdrs": ["nowhere"]}"#,
                "websdrs",
            ),
            (
                r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "receivers": [1.5]}"#,
                "receivers",
            ),
            (
                r#"{"frequency_mhz": 145.5, "duration_seconds": 10, "sample_rate_hz": 0}"#,
                "sample_rate_hz",
            ),
        ];
        for (body, field) in cases {
            let (code, v) = svc
                .send(reqwest::Method::POST, "/api/v1/acquisitions", Some(body))
                .await;
            assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
            let detail = v["detail"].as_array().unwrap_or_else(|| panic!("{body}: {v}"));
            assert!(
                detail
                    .iter()
                    .any(|d| d["loc"][0] == "body" && d["loc"][1] == field && d["msg"].is_string()),
                "{body}: {v}"
            );
        }
        // Malformed JSON (NaN is not JSON), numbers out of range, not an object, no body.
        for body in [
            r#"{"frequency_mhz": NaN, "duration_seconds": 10}"#,
            r#"{"frequency_mhz": 1e999, "duration_seconds": 10}"#,
            r#"{"frequency_mhz": 145.5,"#,
            "[145.5, 10]",
            "",
        ] {
            let (code, v) = svc
                .send(reqwest::Method::POST, "/api/v1/acquisitions", Some(body))
                .await;
            assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
            assert_eq!(v["detail"][0]["loc"][0], "body", "{body}: {v}");
        }
        // Every error is reported at once.
        let (_, v) = svc
            .send(
                reqwest::Method::POST,
                "/api/v1/acquisitions",
                Some(r#"{"frequency_mhz": -1, "duration_seconds": 1000}"#),
            )
            .await;
        assert_eq!(v["detail"].as_array().unwrap().len(), 2, "{v}");
        // Nothing was started.
        assert!(svc.app.running_jobs().is_empty());
        // The running limit.
        svc.app.max_running.store(0, Ordering::Relaxed);
        let (code, v) = svc
            .send(
                reqwest::Method::POST,
                "/api/v1/acquisitions",
                Some(r#"{"frequency_mhz": 145.5, "duration_seconds": 1}"#),
            )
            .await;
        assert_eq!(code, StatusCode::TOO_MANY_REQUESTS, "{v}");
        assert!(lock(&svc.app.jobs).by_id.is_empty());
        svc.stop().await;
    }

    /// A tiny deterministic generator (xorshift64*), enough to vary bodies.
    struct Rng(u64);

    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }

        fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
            &xs[(self.next() % xs.len() as u64) as usize]
        }

        fn value(&mut self, depth: u32) -> Value {
            match self.next() % if depth > 1 { 7 } else { 9 } {
                0 => Value::Null,
                1 => json!(self.next().is_multiple_of(2)),
                2 => json!(f64::from_bits(self.next())),
                3 => json!(*self.pick(&[0.0, -1.0, 1e-300, 145.5, 300.0, 300.0001, 3e5, 1e308, -0.0])),
                4 => json!(self.next() as i64),
                5 => json!(*self.pick(&["", "NaN", "inf", "torino", "2026-01-01T00:00:00Z", "\u{0}", "é"])),
                6 => json!(*self.pick(&[1u64, 300, 301, u64::MAX])),
                7 => Value::Array((0..self.next() % 4).map(|_| self.value(depth + 1)).collect()),
                _ => {
                    let mut m = serde_json::Map::new();
                    for _ in 0..self.next() % 3 {
                        m.insert(
                            self.pick(&["a", "websdrs", "frequency_mhz"]).to_string(),
                            self.value(depth + 1),
                        );
                    }
                    Value::Object(m)
                }
            }
        }
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn random_bodies_and_paths_never_break_the_server() {
        let svc = start(Pacing::AsFastAsPossible).await;
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let fields = [
            "frequency_mhz",
            "duration_seconds",
            "start_time",
            "websdrs",
            "receivers",
            "websdr_ids",
            "sample_rate_hz",
            "label",
        ];
        let mut accepted = Vec::new();
        for _ in 0..200 {
            let mut body = serde_json::Map::new();
            body.insert("frequency_mhz".into(), json!(145.5));
            body.insert("duration_seconds".into(), json!(0.5));
            body.insert("websdrs".into(), json!(["torino"]));
            for _ in 0..1 + rng.next() % 3 {
                let f = *rng.pick(&fields);
                if rng.next().is_multiple_of(5) {
                    body.remove(f);
                } else {
                    body.insert(f.into(), rng.value(0));
                }
            }
            let text = Value::Object(body).to_string();
            let (code, v) = svc
                .send(reqwest::Method::POST, "/api/v1/acquisitions", Some(&text))
                .await;
            match code {
                StatusCode::ACCEPTED => accepted.push(v["session_id"].as_str().unwrap().to_owned()),
                StatusCode::UNPROCESSABLE_ENTITY => {
                    assert!(!v["detail"].as_array().unwrap().is_empty(), "{text}: {v}")
                }
                StatusCode::TOO_MANY_REQUESTS => {}
                other => panic!("{text}: {other}: {v}"),
            }
            let rbody = json!({
                "name": rng.value(1), "kind": rng.pick(&["simulated", "kiwisdr", "x"]), "url": rng.value(1),
                "latitude": rng.value(1), "longitude": rng.value(1),
            })
            .to_string();
            let (code, v) = svc.send(reqwest::Method::POST, "/api/v1/receivers", Some(&rbody)).await;
            assert!(
                [
                    StatusCode::CREATED,
                    StatusCode::CONFLICT,
                    StatusCode::UNPROCESSABLE_ENTITY
                ]
                .contains(&code),
                "{rbody}: {code}: {v}"
            );
        }
        for path in [
            "/api/v1/acquisitions/%00",
            "/api/v1/acquisitions/..%2F..%2Fetc",
            "/api/v1/receivers/%E2%80%AE",
            "/api/v1/receivers/a/snr-stats?hours=-1",
            "/api/v1/receivers/torino/snr-stats?hours=1e308",
            "/api/v1/receivers/torino/snr-stats?hours=x",
            "/api/v1/measurements?limit=-1",
            "/api/v1/measurements?since=yesterday",
            "/api/v1/measurements?freq_min_mhz=NaN",
        ] {
            let (code, v) = svc.get(path).await;
            assert!(
                [StatusCode::NOT_FOUND, StatusCode::UNPROCESSABLE_ENTITY, StatusCode::OK].contains(&code),
                "{path}: {code}: {v}"
            );
        }
        // Every accepted session ends.
        for id in accepted {
            svc.events(&id).await.read_to_end().await;
        }
        svc.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn unknown_ids_are_404() {
        let svc = start(Pacing::AsFastAsPossible).await;
        let unknown = uuid::Uuid::new_v4().to_string();
        for path in [
            format!("/api/v1/acquisitions/{unknown}"),
            format!("/api/v1/acquisitions/{unknown}/events"),
            "/api/v1/acquisitions/not-a-uuid".to_owned(),
            "/api/v1/acquisitions/00000000-0000-0000-0000-000000000000".to_owned(),
            "/api/v1/receivers/nowhere".to_owned(),
            "/api/v1/receivers/bad%20id".to_owned(),
            "/api/v1/receivers/nowhere/snr-stats".to_owned(),
            "/api/v1/nothing-here".to_owned(),
        ] {
            let (code, v) = svc.get(&path).await;
            assert_eq!(code, StatusCode::NOT_FOUND, "{path}: {v}");
            assert!(v["detail"].is_string(), "{path}: {v}");
        }
        for path in [
            format!("/api/v1/acquisitions/{unknown}"),
            "/api/v1/receivers/nowhere".to_owned(),
        ] {
            let (code, _) = svc.send(reqwest::Method::DELETE, &path, None).await;
            assert_eq!(code, StatusCode::NOT_FOUND, "{path}");
        }
        let body = r#"{"name": "X", "kind": "simulated", "url": "sim://x", "latitude": 45, "longitude": 7}"#;
        let (code, _) = svc
            .send(reqwest::Method::PUT, "/api/v1/receivers/nowhere", Some(body))
            .await;
        assert_eq!(code, StatusCode::NOT_FOUND);
        let (code, v) = svc.send(reqwest::Method::PATCH, "/api/v1/receivers", None).await;
        assert_eq!(code, StatusCode::METHOD_NOT_ALLOWED, "{v}");
        svc.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn receivers_crud_and_health() {
        let svc = start(Pacing::AsFastAsPossible).await;
        let (code, list) = svc.get("/api/v1/receivers").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(list.as_array().unwrap().len(), 7, "{list}");

        let asti = r#"{"name": "Asti", "kind": "simulated", "url": "sim://asti", "latitude": 44.9, "longitude": 8.2, "altitude_m": 120}"#;
        let (code, r) = svc.send(reqwest::Method::POST, "/api/v1/receivers", Some(asti)).await;
        assert_eq!(code, StatusCode::CREATED, "{r}");
        assert_eq!(r["id"], "asti");
        assert_eq!(r["active"], true);
        let (code, _) = svc.send(reqwest::Method::POST, "/api/v1/receivers", Some(asti)).await;
        assert_eq!(code, StatusCode::CONFLICT);
        let (code, r) = svc.get("/api/v1/receivers/asti").await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(r["latitude"], 44.9);

        for (body, field) in [
            (
                r#"{"name": "B", "kind": "radio", "url": "sim://b", "latitude": 1, "longitude": 2}"#,
                "kind",
            ),
            (
                r#"{"name": "B", "kind": "simulated", "url": "sim://b", "latitude": 95, "longitude": 2}"#,
                "latitude",
            ),
            (
                r#"{"name": "B", "kind": "simulated", "url": "sim://b", "latitude": 1}"#,
                "longitude",
            ),
            (r#"{"name": "B", "kind": "simulated", "url": "sim://b"}"#, "latitude"),
            (
                r#"{"name": "B", "kind": "kiwisdr", "url": "http://u:p@h:8073/"}"#,
                "url",
            ),
            (
                r#"{"id": "no way", "name": "B", "kind": "kiwisdr", "url": "http://h:8073/"}"#,
                "id",
            ),
            (r#"{"name": "B", "kind": "kiwisdr"}"#, "url"),
            (
                r#"{"name": "B", "kind": "kiwisdr", "url": "http://h/", "colour": "red"}"#,
                "colour",
            ),
            (r#"{"name": 5, "kind": "kiwisdr", "url": "http://h/"}"#, "body"),
        ] {
            let (code, v) = svc.send(reqwest::Method::POST, "/api/v1/receivers", Some(body)).await;
            assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {v}");
            let loc = &v["detail"][0]["loc"];
            assert!(loc[1] == field || (field == "body" && loc[0] == "body"), "{body}: {v}");
        }

        // The new receiver takes part in acquisitions.
        let id = svc
            .submit(json!({"frequency_mhz": 433.92, "duration_seconds": 1, "websdrs": ["asti"]}))
            .await;
        let evs = svc.events(&id).await.read_to_end().await;
        assert_eq!(evs.last().unwrap().1["report"]["status"], "success");

        let renamed =
            r#"{"name": "Asti Nord", "kind": "simulated", "url": "sim://asti", "latitude": 44.95, "longitude": 8.2}"#;
        let (code, r) = svc
            .send(reqwest::Method::PUT, "/api/v1/receivers/asti", Some(renamed))
            .await;
        assert_eq!(code, StatusCode::OK, "{r}");
        assert_eq!(r["name"], "Asti Nord");
        assert_eq!(r["latitude"], 44.95);
        // A GET answer can be PUT back after an edit.
        let (_, mut got) = svc.get("/api/v1/receivers/asti").await;
        got["name"] = json!("Asti Sud");
        let (code, r) = svc
            .send(reqwest::Method::PUT, "/api/v1/receivers/asti", Some(&got.to_string()))
            .await;
        assert_eq!(code, StatusCode::OK, "{r}");
        assert_eq!(r["name"], "Asti Sud");
        let (code, _) = svc
            .send(
                reqwest::Method::PUT,
                "/api/v1/receivers/asti",
                Some(&renamed.replace("44.95", "-91")),
            )
            .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);

        let (code, r) = svc.send(reqwest::Method::DELETE, "/api/v1/receivers/asti", None).await;
        assert_eq!(code, StatusCode::OK);
        assert_eq!(r["active"], false);
        let (_, list) = svc.get("/api/v1/receivers").await;
        assert!(list.as_array().unwrap().iter().all(|r| r["id"] != "asti"));
        let (_, list) = svc.get("/api/v1/receivers?include_inactive=true").await;
        assert!(
            list.as_array()
                .unwrap()
                .iter()
                .any(|r| r["id"] == "asti" && r["active"] == false)
        );
        let (code, _) = svc.get("/api/v1/receivers?include_inactive=maybe").await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY);
        // Deactivated: no longer usable.
        let (code, v) = svc
            .send(
                reqwest::Method::POST,
                "/api/v1/acquisitions",
                Some(r#"{"frequency_mhz": 145.5, "duration_seconds": 1, "websdrs": ["asti"]}"#),
            )
            .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_eq!(v["detail"][0]["loc"], json!(["body", "websdrs", 0]));
        // PUT with active=true brings it back; POST over an inactive one too.
        let (code, r) = svc.send(reqwest::Method::POST, "/api/v1/receivers", Some(asti)).await;
        assert_eq!(code, StatusCode::CREATED, "{r}");
        assert_eq!(r["active"], true);

        // A receiver no source can be built for (no position): refused by name, skipped otherwise.
        let nopos = r#"{"name": "NoPos", "kind": "kiwisdr", "url": "http://127.0.0.1:1/"}"#;
        let (code, r) = svc.send(reqwest::Method::POST, "/api/v1/receivers", Some(nopos)).await;
        assert_eq!(code, StatusCode::CREATED, "{r}");
        let (code, v) = svc
            .send(
                reqwest::Method::POST,
                "/api/v1/acquisitions",
                Some(r#"{"frequency_mhz": 7.1, "duration_seconds": 1, "websdrs": ["torino", "nopos"]}"#),
            )
            .await;
        assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
        assert_eq!(v["detail"][0]["loc"], json!(["body", "websdrs", 1]), "{v}");
        let (code, v) = svc
            .send(
                reqwest::Method::POST,
                "/api/v1/acquisitions",
                Some(r#"{"frequency_mhz": 7.1, "duration_seconds": 1}"#),
            )
            .await;
        assert_eq!(code, StatusCode::ACCEPTED, "{v}");
        assert_eq!(v["receivers"], 8, "{v}");
        assert_eq!(v["skipped"][0]["id"], "nopos", "{v}");
        let id = v["session_id"].as_str().unwrap().to_owned();
        let evs = svc.events(&id).await.read_to_end().await;
        assert_eq!(evs.last().unwrap().1["report"]["status"], "success");

        let (code, health) = svc.get("/api/v1/receivers/health").await;
        assert_eq!(code, StatusCode::OK);
        let health = health.as_array().unwrap();
        assert_eq!(health.len(), 9);
        for h in health {
            assert_eq!(h["available"], h["id"] != "nopos", "{h}");
        }
        svc.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn health_and_openapi() {
        let svc = start(Pacing::AsFastAsPossible).await;
        let (code, h) = svc.get("/health").await;
        assert_eq!(code, StatusCode::OK, "{h}");
        assert_eq!(h["status"], "ok");
        assert_eq!(h["store"]["ok"], true);
        assert_eq!(h["database"]["ok"], true);

        let (code, doc) = svc.get("/api/v1/openapi.json").await;
        assert_eq!(code, StatusCode::OK);
        assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
        let paths = doc["paths"].as_object().unwrap();
        for (path, methods) in [
            ("/api/v1/acquisitions", &["post"][..]),
            ("/api/v1/acquisitions/{id}", &["get", "delete"][..]),
            ("/api/v1/acquisitions/{id}/events", &["get"][..]),
            ("/api/v1/receivers", &["get", "post"][..]),
            ("/api/v1/receivers/{id}", &["get", "put", "delete"][..]),
            ("/api/v1/receivers/health", &["get"][..]),
            ("/api/v1/receivers/{id}/snr-stats", &["get"][..]),
            ("/api/v1/measurements", &["get"][..]),
            ("/health", &["get"][..]),
            ("/api/v1/openapi.json", &["get"][..]),
        ] {
            let p = paths.get(path).unwrap_or_else(|| panic!("{path} missing"));
            for m in methods {
                assert!(p.get(*m).is_some(), "{m} {path}");
            }
        }
        let schema = &doc["components"]["schemas"]["AcquisitionRequestBody"];
        let required = schema["required"].as_array().unwrap();
        assert!(required.contains(&json!("frequency_mhz")) && required.contains(&json!("duration_seconds")));
        assert!(schema["properties"]["websdrs"].is_object());
        assert_eq!(schema["properties"]["duration_seconds"]["maximum"], 300.0, "{schema}");
        svc.stop().await;
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn health_names_the_failing_backend() {
        let dir = tempfile::tempdir().unwrap();
        let (sink, _) = open_backends(dir.path()).await;
        // A database file whose directory does not exist cannot be opened.
        let db = Tsdb::from_url(&dir.path().join("missing/sub/h.db").display().to_string()).unwrap();
        let app = AppState::new(sink, Arc::new(db), Pacing::AsFastAsPossible, 1);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(serve(listener, app, async move { drop(rx.await) }, Duration::ZERO));
        let r = reqwest::get(format!("http://{addr}/health")).await.unwrap();
        let (code, h) = decode(r).await;
        assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{h}");
        assert_eq!(h["status"], "failing");
        assert_eq!(h["store"]["ok"], true);
        assert_eq!(h["database"]["ok"], false);
        assert!(h["database"]["error"].as_str().unwrap().len() > 5, "{h}");
        tx.send(()).unwrap();
        task.await.unwrap().unwrap();
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn receivers_file_entries_go_into_the_registry() {
        let dir = tempfile::tempdir().unwrap();
        let (sink, db) = open_backends(dir.path()).await;
        let file = ReceiversFile::parse(
            "[[receiver]]\nid = \"owrx\"\nkind = \"openwebrx\"\nurl = \"http://127.0.0.1:1/\"\n\
             latitude = 45.0\nlongitude = 7.0\n\n\
             [[receiver]]\nid = \"off\"\nkind = \"openwebrx\"\nurl = \"http://127.0.0.1:1/\"\n\
             latitude = 45.0\nlongitude = 7.0\nenabled = false\n",
        )
        .unwrap();
        let app = AppState::new(sink, Arc::new(db), Pacing::AsFastAsPossible, 1);
        app.init_registry(Some(&file)).await.unwrap();
        // Not empty, so the simulated network is not seeded.
        let all = app.db.list_receivers(false).await.unwrap();
        let ids: Vec<&str> = all.iter().map(|r| r.info.id.as_str()).collect();
        assert_eq!(ids.len(), 2, "{ids:?}");
        let active = app.db.list_receivers(true).await.unwrap();
        assert_eq!(active.len(), 1);
        assert_eq!(active[0].info.id.as_str(), "owrx");
        assert!(app.source_for(&active[0], 145e6).is_ok());
    }

    #[test]
    fn registry_records_become_sources_through_the_receivers_file() {
        let now = Utc::now();
        let rec = ReceiverRecord {
            info: ReceiverInfo::new(
                ReceiverId::new("owrx-1").unwrap(),
                "Some \"quoted\" name",
                ReceiverKind::OpenWebRx,
                "http://example.org:8073/",
            )
            .with_position(GeoPosition::new(45.0, 7.5, Some(250.0)).unwrap()),
            active: true,
            options: json!({"mode": "nfm", "source": "api", "bad key": 1, "nested": {"a": 1}}),
            created_at: now,
            updated_at: now,
        };
        let s = build_from_record(&rec).unwrap();
        assert_eq!(s.info().id.as_str(), "owrx-1");
        let mut no_pos = rec.clone();
        no_pos.info.position = None;
        assert!(build_from_record(&no_pos).is_err());
    }
}
