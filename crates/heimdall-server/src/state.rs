//! What the handlers share: the archive, the database, the receiver sources and the
//! acquisitions of this process.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use anyhow::Context;
use heimdall_core::queue::DynWorkQueue;
use heimdall_core::{
    GeoPosition, ReceiverId, ReceiverKind, ReceiverRecord, ReceiverRegistry, ReceiverSource, SessionId,
};
use heimdall_storage::ArchiveSink;
use heimdall_tsdb::Tsdb;
use heimdall_websdr::receivers_file::ReceiversFile;
use heimdall_websdr::registry::{BuildContext, Registry};
use heimdall_websdr::simulated::{
    Modulation, Pacing, SimulatedNetwork, SimulatedReceiver, SimulatedReceiverConfig, Transmitter,
};
use serde_json::{Value, json};

use crate::api::{SkippedReceiver, ValidationItem};
use crate::error::ApiError;
use crate::jobs::Job;
use crate::lock;
use crate::tokens::Tokens;

/// Finished sessions kept in memory (older ones are answered from the database).
const KEEP_FINISHED: usize = 256;
/// Bounds of the `Retry-After` of a refused acquisition.
const RETRY_AFTER_MIN: Duration = Duration::from_secs(1);
const RETRY_AFTER_MAX: Duration = Duration::from_secs(3600);

/// Everything the handlers share. Cheap to clone. A new shared part is a field of [`Inner`]
/// (set in [`AppState::new`] or by a `with_*` method before the router is built).
#[derive(Clone, Debug)]
pub struct AppState(Arc<Inner>);

/// What [`AppState`] points to.
#[derive(Debug)]
pub struct Inner {
    /// The archive.
    pub sink: ArchiveSink,
    /// The metrics database, also the receiver registry.
    pub db: Arc<Tsdb>,
    /// Sources built from the receivers file, by id (used instead of the registry's bare record).
    pub(crate) file_sources: Mutex<HashMap<ReceiverId, Arc<dyn ReceiverSource>>>,
    /// How simulated receivers deliver.
    pub pacing: Pacing,
    /// Seed of the simulated network.
    pub seed: u64,
    pub(crate) jobs: Mutex<Jobs>,
    /// Set on shutdown: new acquisitions are refused.
    pub(crate) draining: AtomicBool,
    /// Most acquisitions running at once (`--max-running`).
    pub(crate) max_running: AtomicUsize,
    /// Also write the old Python (FastAPI/Celery) service's `websdr_{n}` layout once a session is committed (`--legacy-layout`).
    pub(crate) legacy_layout: AtomicBool,
    /// The work queue (`--queue`): acquisitions are submitted to it and run by workers.
    pub(crate) queue: OnceLock<Arc<DynWorkQueue>>,
    /// Most queued acquisitions this process follows at once (`--max-queued`).
    pub(crate) max_queued: AtomicUsize,
    /// API tokens: when set, every route but health, readiness and OpenAPI needs one.
    pub(crate) tokens: OnceLock<Tokens>,
    /// The receiver backends: kinds, URLs, options and builders.
    pub registry: Registry,
    /// What the sources built from the registry share (one OpenWebRX host limiter).
    pub(crate) build_context: BuildContext,
}

#[derive(Debug, Default)]
pub(crate) struct Jobs {
    pub(crate) by_id: HashMap<SessionId, Arc<Job>>,
    /// Insertion order, to evict the oldest finished sessions.
    pub(crate) order: VecDeque<SessionId>,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(sink: ArchiveSink, db: Arc<Tsdb>, pacing: Pacing, seed: u64) -> Self {
        AppState(Arc::new(Inner {
            sink,
            db,
            file_sources: Mutex::new(HashMap::new()),
            pacing,
            seed,
            jobs: Mutex::new(Jobs::default()),
            draining: AtomicBool::new(false),
            max_running: AtomicUsize::new(16),
            legacy_layout: AtomicBool::new(false),
            queue: OnceLock::new(),
            max_queued: AtomicUsize::new(1000),
            tokens: OnceLock::new(),
            registry: Registry::with_defaults(),
            build_context: BuildContext::new(),
        }))
    }

    /// Requires one of `tokens` (`Authorization: Bearer`) on every route but `/health`,
    /// `/ready` and the OpenAPI document (see [`crate::auth`]). Set once, before the router
    /// is built; without it the routes are open (a host that embeds the router may
    /// authenticate in its own layer).
    pub fn set_tokens(&self, tokens: Tokens) -> anyhow::Result<()> {
        self.tokens
            .set(tokens)
            .map_err(|_| anyhow::anyhow!("API tokens are already set"))
    }

    /// The API tokens, when routes need one.
    pub fn tokens(&self) -> Option<&Tokens> {
        self.tokens.get()
    }

    /// Submits acquisitions to `queue` instead of running them here: workers
    /// (`heimdall_core::queue::Worker`) on any machine run them, this process follows each
    /// through its events and answers status from them and from the database. Set once, before
    /// the router is built; a second call is an error.
    pub fn set_queue(&self, queue: Arc<DynWorkQueue>) -> anyhow::Result<()> {
        self.queue
            .set(queue)
            .map_err(|q| anyhow::anyhow!("a work queue is already set ({q})"))
    }

    /// The work queue, when acquisitions go through one.
    pub fn queue(&self) -> Option<&Arc<DynWorkQueue>> {
        self.queue.get()
    }

    /// Sets the most queued acquisitions this process follows at once; more are refused with `429`.
    pub fn set_max_queued(&self, n: usize) {
        self.max_queued.store(n, Ordering::Relaxed);
    }

    /// Whether committed sessions also get the old service's `websdr_{n}.npy` +
    /// `websdr_{n}_metadata.json` (ids from the registry, see the legacy routes).
    pub fn set_legacy_layout(&self, on: bool) {
        self.legacy_layout.store(on, std::sync::atomic::Ordering::Relaxed);
    }

    /// Sets the most acquisitions running at once; more are refused with `429`.
    pub fn set_max_running(&self, n: usize) {
        self.max_running.store(n, Ordering::Relaxed);
    }

    /// Acquisitions this process remembers (running, and the last finished ones).
    pub fn jobs_in_memory(&self) -> usize {
        lock(&self.jobs).by_id.len()
    }

    /// Whether the shutdown began (new acquisitions are refused).
    pub fn is_draining(&self) -> bool {
        self.draining.load(Ordering::SeqCst)
    }

    /// Writes the receivers file's entries into the registry, then seeds the simulated
    /// reference network if the registry is still empty.
    pub async fn init_registry(&self, file: Option<&ReceiversFile>) -> anyhow::Result<()> {
        if let Some(file) = file {
            // All or nothing: when one entry's protocol cannot be built, every entry falls back
            // to being built from its registry record (without the file's passwords).
            let mut map = HashMap::new();
            match file.build_sources_with(&self.registry, &self.build_context) {
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
    pub fn source_for(&self, rec: &ReceiverRecord, frequency_hz: f64) -> Result<Arc<dyn ReceiverSource>, String> {
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
            _ => build_from_record_with(&self.registry, &self.build_context, rec),
        }
    }

    /// Sources for the active receivers (all, or the `wanted` ones), plus the receivers that
    /// could not be built and why.
    pub async fn sources(
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

    pub fn job(&self, id: SessionId) -> Option<Arc<Job>> {
        lock(&self.jobs).by_id.get(&id).cloned()
    }

    /// Admits a job if fewer than the limit of its kind (`--max-running` for jobs run here,
    /// `--max-queued` for queued ones) are unfinished: the count, `start` (which creates the
    /// job; it runs under the lock, so it must not block) and the insertion happen under one
    /// lock, so concurrent submissions cannot overshoot. An error of `start` admits nothing.
    pub(crate) fn admit<T>(
        &self,
        queued: bool,
        start: impl FnOnce() -> Result<(Arc<Job>, T), ApiError>,
    ) -> Result<T, ApiError> {
        let limit = if queued {
            self.max_queued.load(Ordering::Relaxed)
        } else {
            self.max_running.load(Ordering::Relaxed)
        };
        let mut jobs = lock(&self.jobs);
        let unfinished = jobs
            .by_id
            .values()
            .filter(|j| j.queued == queued && !j.is_done())
            .count();
        if unfinished >= limit {
            let what = if queued {
                "queued acquisitions are being followed"
            } else {
                "acquisitions are already running"
            };
            // Told to come back when the first of them should be over.
            let now = chrono::Utc::now();
            let first_end = jobs
                .by_id
                .values()
                .filter(|j| j.queued == queued && !j.is_done())
                .filter_map(|j| j.expected_end)
                .min();
            let retry_after = first_end
                .and_then(|t| (t - now).to_std().ok())
                .unwrap_or(Duration::ZERO)
                .clamp(RETRY_AFTER_MIN, RETRY_AFTER_MAX);
            return Err(ApiError::Busy {
                status: axum::http::StatusCode::TOO_MANY_REQUESTS,
                detail: format!("{limit} {what}; retry when one has finished"),
                retry_after,
            });
        }
        let (job, out) = start()?;
        Self::insert_locked(&mut jobs, job);
        Ok(out)
    }

    /// Forgets a job that never started.
    pub(crate) fn forget_job(&self, id: SessionId) {
        let mut jobs = lock(&self.jobs);
        jobs.by_id.remove(&id);
        jobs.order.retain(|j| *j != id);
    }

    pub fn insert_job(&self, job: Arc<Job>) {
        Self::insert_locked(&mut lock(&self.jobs), job);
    }

    fn insert_locked(jobs: &mut Jobs, job: Arc<Job>) {
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

    /// Unfinished acquisitions this process follows (run here or queued).
    pub fn running_jobs(&self) -> Vec<Arc<Job>> {
        lock(&self.jobs)
            .by_id
            .values()
            .filter(|j| !j.is_done())
            .cloned()
            .collect()
    }

    /// Unfinished acquisitions run by this process's engine (not the queued ones).
    fn local_running_jobs(&self) -> Vec<Arc<Job>> {
        let mut v = self.running_jobs();
        v.retain(|j| !j.queued);
        v
    }

    /// Stops accepting acquisitions, waits up to `grace` for the running ones, cancels the
    /// rest and waits for their cleanup. Queued acquisitions belong to the queue: they are not
    /// cancelled (workers go on with them; their status stays readable from the database).
    pub async fn drain(&self, grace: Duration) {
        self.draining.store(true, Ordering::SeqCst);
        let running = self.local_running_jobs();
        if running.is_empty() {
            return;
        }
        tracing::info!(running = running.len(), ?grace, "waiting for running acquisitions");
        let all_done = futures::future::join_all(running.iter().map(|j| j.wait_done()));
        if tokio::time::timeout(grace, all_done).await.is_ok() {
            return;
        }
        let left = self.local_running_jobs();
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
                let left = self.local_running_jobs();
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
pub fn transmitter(frequency_hz: f64) -> Transmitter {
    let position = GeoPosition {
        latitude: 45.07,
        longitude: 7.69,
        altitude_m: Some(300.0),
    };
    Transmitter::new(position, frequency_hz, 30.0, Modulation::fm_voice(2_500.0))
}

/// Builds a source from a registry record with the backends compiled in (see
/// [`build_from_record_with`]).
pub fn build_from_record(rec: &ReceiverRecord) -> Result<Arc<dyn ReceiverSource>, String> {
    build_from_record_with(&Registry::with_defaults(), &BuildContext::new(), rec)
}

/// Builds a source from a registry record through `registry`: its kind, URL and position, and
/// its `options` (the receivers file's option keys; other keys of the record are bookkeeping:
/// `source`, the old service's integer `websdr_id`, names that are not plain keys, and
/// non-scalar values are left out). An option the kind does not take is refused.
pub fn build_from_record_with(
    registry: &Registry,
    ctx: &BuildContext,
    rec: &ReceiverRecord,
) -> Result<Arc<dyn ReceiverSource>, String> {
    if rec.info.position.is_none() {
        return Err("no position (a receiver is located by its position)".to_owned());
    }
    let mut options = serde_json::Map::new();
    if let Value::Object(opts) = &rec.options {
        for (k, v) in opts {
            let bare = !k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
            // `websdr_id` is the old service's integer id (the legacy API's), not a protocol option.
            if !bare || k == "source" || k == "websdr_id" {
                continue;
            }
            if matches!(v, Value::String(_) | Value::Bool(_) | Value::Number(_)) {
                options.insert(k.clone(), v.clone());
            }
        }
    }
    registry
        .build(&rec.info, &Value::Object(options), ctx)
        .map_err(|e| format!("receiver {:?}: {}", rec.info.id.as_str(), e.chain()))
}
