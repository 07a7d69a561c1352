//! [`Worker`]: runs sessions from a [`WorkQueue`] with an [`Engine`], exactly once each.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use chrono::Utc;
use futures::StreamExt;
use serde::Serialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, warn};

use super::{Delivery, DynWorkQueue, JobEvent};
use crate::engine::{Engine, record_committed};
use crate::error::{Error, ErrorReport, Result};
use crate::report::{ReceiverStatus, SessionReport, SessionStatus};
use crate::sink::IqArchive;
use crate::store::MetricStore;

const WORKER: &str = "worker";

/// What the worker did with one delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
#[non_exhaustive]
pub enum JobOutcome {
    /// Ran to a final status and acknowledged.
    Done {
        /// The session's final status.
        status: SessionStatus,
    },
    /// The session was already committed (an earlier delivery got that far): its rows and
    /// record were finished from the manifest, then acknowledged.
    Recovered,
    /// Ended without a final answer; delivered again later.
    Requeued {
        /// Why.
        reason: String,
    },
    /// Given up for good (poison, or out of deliveries); the reason is in the session record.
    Terminated {
        /// Why.
        reason: String,
    },
    /// Released on shutdown: delivered again at once to another worker.
    Released,
}

/// Counters of a worker's run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize)]
pub struct WorkerStats {
    /// Deliveries handled.
    pub handled: u64,
    /// Sessions run to a final status.
    pub done: u64,
    /// Committed sessions finished from their manifest.
    pub recovered: u64,
    /// Deliveries handed back for a later attempt.
    pub requeued: u64,
    /// Jobs given up.
    pub terminated: u64,
    /// Jobs released on shutdown.
    pub released: u64,
}

#[derive(Debug, Default)]
struct Counters {
    handled: AtomicU64,
    done: AtomicU64,
    recovered: AtomicU64,
    requeued: AtomicU64,
    terminated: AtomicU64,
    released: AtomicU64,
}

impl Counters {
    fn count(&self, o: &JobOutcome) {
        self.handled.fetch_add(1, Ordering::Relaxed);
        let c = match o {
            JobOutcome::Done { .. } => &self.done,
            JobOutcome::Recovered => &self.recovered,
            JobOutcome::Requeued { .. } => &self.requeued,
            JobOutcome::Terminated { .. } => &self.terminated,
            JobOutcome::Released => &self.released,
        };
        c.fetch_add(1, Ordering::Relaxed);
    }

    fn snapshot(&self) -> WorkerStats {
        let g = |a: &AtomicU64| a.load(Ordering::Relaxed);
        WorkerStats {
            handled: g(&self.handled),
            done: g(&self.done),
            recovered: g(&self.recovered),
            requeued: g(&self.requeued),
            terminated: g(&self.terminated),
            released: g(&self.released),
        }
    }
}

/// Builds a [`Worker`].
#[derive(Clone)]
pub struct WorkerBuilder {
    engine: Option<Engine>,
    queue: Option<Arc<DynWorkQueue>>,
    archive: Option<Arc<dyn IqArchive>>,
    store: Option<Arc<dyn MetricStore>>,
    name: String,
    max_sessions: usize,
    drain_timeout: Duration,
    max_requeue_delay: Duration,
}

impl fmt::Debug for WorkerBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WorkerBuilder")
            .field("name", &self.name)
            .field("max_sessions", &self.max_sessions)
            .finish_non_exhaustive()
    }
}

impl Default for WorkerBuilder {
    fn default() -> Self {
        WorkerBuilder {
            engine: None,
            queue: None,
            archive: None,
            store: None,
            name: format!("worker-{}", std::process::id()),
            max_sessions: 1,
            drain_timeout: Duration::from_secs(30),
            max_requeue_delay: Duration::from_secs(60),
        }
    }
}

impl WorkerBuilder {
    /// The engine that runs the sessions (its sink must also be `archive`).
    pub fn engine(mut self, engine: Engine) -> Self {
        self.engine = Some(engine);
        self
    }
    /// The queue to take jobs from.
    pub fn queue(mut self, queue: Arc<DynWorkQueue>) -> Self {
        self.queue = Some(queue);
        self
    }
    /// The engine's sink read as an archive (to finish sessions already committed).
    pub fn archive(mut self, archive: Arc<dyn IqArchive>) -> Self {
        self.archive = Some(archive);
        self
    }
    /// The engine's metric store.
    pub fn store(mut self, store: Arc<dyn MetricStore>) -> Self {
        self.store = Some(store);
        self
    }
    /// The worker's name in events and logs (default `worker-{pid}`).
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = name.into();
        self
    }
    /// Sessions run at once (default 1).
    pub fn max_sessions(mut self, n: usize) -> Self {
        self.max_sessions = n;
        self
    }
    /// How long a shutdown waits for running sessions before releasing them (default 30 s).
    pub fn drain_timeout(mut self, d: Duration) -> Self {
        self.drain_timeout = d;
        self
    }
    /// Longest delay before a requeued job is delivered again (default 60 s; the delay
    /// doubles from 1 s with each delivery).
    pub fn max_requeue_delay(mut self, d: Duration) -> Self {
        self.max_requeue_delay = d;
        self
    }

    /// Builds the worker.
    pub fn build(self) -> Result<Worker> {
        let missing = |what: &str| Error::config(format!("the worker needs {what}"));
        if self.max_sessions == 0 {
            return Err(Error::invalid("max_sessions", "must be at least 1"));
        }
        Ok(Worker {
            inner: Arc::new(WorkerInner {
                engine: self.engine.ok_or_else(|| missing("an engine"))?,
                queue: self.queue.ok_or_else(|| missing("a queue"))?,
                archive: self.archive.ok_or_else(|| missing("an archive (the engine's sink)"))?,
                store: self
                    .store
                    .ok_or_else(|| missing("a metric store (the engine's store)"))?,
                name: self.name,
                max_sessions: self.max_sessions,
                drain_timeout: self.drain_timeout,
                max_requeue_delay: self.max_requeue_delay,
                counters: Counters::default(),
            }),
        })
    }
}

/// Takes jobs from a queue and runs each with the engine, so that every session is committed
/// at most once and its rows written exactly once, whatever the redeliveries:
///
/// - a job whose session is already committed (an earlier delivery died after the commit) is
///   finished from the manifest ([`record_committed`]) and acknowledged;
/// - a session that ends without a final answer (the commit failed on a store error, the rows
///   could not be written) is requeued with a growing delay, until the queue's last delivery,
///   when it is terminated with its reason recorded in the session record;
/// - a request the engine refuses (poison) is terminated at once;
/// - a cancelled session is acknowledged (its record says cancelled);
/// - while a session runs, heartbeats keep the job from being redelivered; on shutdown the
///   worker stops pulling, waits for its sessions up to the drain timeout, then releases the
///   rest for another worker.
#[derive(Clone)]
pub struct Worker {
    inner: Arc<WorkerInner>,
}

struct WorkerInner {
    engine: Engine,
    queue: Arc<DynWorkQueue>,
    archive: Arc<dyn IqArchive>,
    store: Arc<dyn MetricStore>,
    name: String,
    max_sessions: usize,
    drain_timeout: Duration,
    max_requeue_delay: Duration,
    counters: Counters,
}

impl fmt::Debug for Worker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Worker")
            .field("name", &self.inner.name)
            .field("queue", &self.inner.queue.to_string())
            .field("max_sessions", &self.inner.max_sessions)
            .finish_non_exhaustive()
    }
}

impl Worker {
    /// A builder.
    pub fn builder() -> WorkerBuilder {
        WorkerBuilder::default()
    }

    /// Counters so far.
    pub fn stats(&self) -> WorkerStats {
        self.inner.counters.snapshot()
    }

    /// Runs jobs until `shutdown` fires (then drains, see the type docs) or the queue ends.
    pub async fn run(&self, shutdown: CancellationToken) -> Result<WorkerStats> {
        let w = &self.inner;
        let permits = Arc::new(Semaphore::new(w.max_sessions));
        let release = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let mut deliveries = w.queue.deliveries(&w.name).await?;
        info!(worker = %w.name, queue = %w.queue, max_sessions = w.max_sessions, "worker started");
        loop {
            while tasks.try_join_next().is_some() {}
            let permit = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                p = permits.clone().acquire_owned() => match p {
                    Ok(p) => p,
                    Err(_) => break,
                },
            };
            let next = tokio::select! {
                biased;
                _ = shutdown.cancelled() => break,
                n = deliveries.next() => n,
            };
            match next {
                None => break,
                Some(Err(e)) => {
                    warn!(error = %e.chain(), "taking a job failed; retrying in 1 s");
                    drop(permit);
                    tokio::select! {
                        _ = shutdown.cancelled() => break,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
                Some(Ok(d)) => {
                    let me = self.clone();
                    let release = release.clone();
                    tasks.spawn(async move {
                        let _permit = permit;
                        me.handle_with(d, release).await
                    });
                }
            }
        }
        drop(deliveries);
        if !tasks.is_empty() {
            info!(running = tasks.len(), timeout = ?w.drain_timeout, "stopping: waiting for running sessions");
            let drained =
                tokio::time::timeout(w.drain_timeout, async { while tasks.join_next().await.is_some() {} }).await;
            if drained.is_err() {
                warn!(
                    running = tasks.len(),
                    "drain timeout: releasing running sessions to other workers"
                );
                release.cancel();
                while tasks.join_next().await.is_some() {}
            }
        }
        let stats = self.stats();
        info!(worker = %w.name, ?stats, "worker stopped");
        Ok(stats)
    }

    /// Handles one delivery to the end (ack, nack or terminate).
    pub async fn handle(&self, delivery: Box<dyn Delivery>) -> JobOutcome {
        self.handle_with(delivery, CancellationToken::new()).await
    }

    async fn handle_with(&self, delivery: Box<dyn Delivery>, release: CancellationToken) -> JobOutcome {
        let session = delivery.job().session_id;
        let span = tracing::info_span!("job", session = %session, delivery = delivery.delivery());
        let outcome = self.run_job(Arc::from(delivery), release).instrument(span).await;
        self.inner.counters.count(&outcome);
        outcome
    }

    async fn run_job(&self, d: Arc<dyn Delivery>, release: CancellationToken) -> JobOutcome {
        let w = &self.inner;
        let job = d.job().clone();
        let session = job.session_id;
        self.publish(&JobEvent::Started {
            session_id: session,
            worker: w.name.clone(),
            delivery: d.delivery(),
        })
        .await;

        if d.cancelled().is_cancelled() {
            let mut r = SessionReport::queued(session, job.request.clone(), Utc::now());
            r.status = SessionStatus::Cancelled;
            return self.finish(&d, r).await;
        }

        let handle = match w.engine.start(job.request.clone(), Some(session)) {
            Ok(h) => h,
            Err(e) => {
                return self
                    .terminate(&d, &job.request, &e, "the engine refused the request")
                    .await;
            }
        };
        let mut running = SessionReport::queued(session, job.request.clone(), Utc::now());
        running.status = SessionStatus::Running;
        if let Err(e) = w.store.record_session(&running).await {
            warn!(error = %e.chain(), "recording the running session failed");
        }

        // Heartbeats, cancellation and events while the engine runs.
        let stop = CancellationToken::new();
        let guard = stop.clone().drop_guard();
        let engine_cancel = handle.cancel_token();
        {
            let (d, stop, release) = (d.clone(), stop.clone(), release.clone());
            let cancelled = d.cancelled();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(d.heartbeat_interval());
                tick.tick().await;
                loop {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = cancelled.cancelled() => engine_cancel.cancel(),
                        _ = release.cancelled() => engine_cancel.cancel(),
                        _ = tick.tick() => {
                            if let Err(e) = d.progress().await {
                                warn!(error = %e.chain(), "heartbeat failed");
                            }
                        }
                    }
                    if engine_cancel.is_cancelled() {
                        // Keep beating until the engine has cleaned up.
                        loop {
                            tokio::select! {
                                _ = stop.cancelled() => return,
                                _ = tick.tick() => { let _ = d.progress().await; }
                            }
                        }
                    }
                }
            });
        }
        let mut events = handle.events();
        let queue = w.queue.clone();
        let forward = tokio::spawn(async move {
            while let Some(event) = events.next().await {
                if let Err(e) = queue.publish(session, &JobEvent::Engine { event }).await {
                    tracing::debug!(error = %e.chain(), "publishing an engine event failed");
                }
            }
        });
        let result = handle.finish().await;
        let _ = forward.await;
        drop(guard);

        if release.is_cancelled() && !d.cancelled().is_cancelled() {
            if let Err(e) = d.nack(Duration::ZERO).await {
                warn!(error = %e.chain(), "releasing the job failed; the queue redelivers it after its ack wait");
            }
            return JobOutcome::Released;
        }
        match result {
            Ok(report) => {
                if report.status == SessionStatus::Cancelled {
                    return self.finish(&d, report).await;
                }
                let rows_missing = report.receivers.iter().any(|r| r.status == ReceiverStatus::Stored);
                if report.committed && !rows_missing {
                    return self.finish(&d, report).await;
                }
                if report.committed {
                    return self
                        .requeue(
                            &d,
                            &job.request,
                            "the session is committed but its rows are not all written",
                        )
                        .await;
                }
                match report.errors.iter().find(|e| e.retryable) {
                    Some(e) => {
                        let reason = format!("the session could not be committed: {}", e.message);
                        self.requeue(&d, &job.request, &reason).await
                    }
                    None => self.finish(&d, report).await,
                }
            }
            Err(Error::AlreadyExists { .. }) => self.recover(&d, &job.request).await,
            Err(Error::Cancelled { .. }) => {
                let mut r = SessionReport::queued(session, job.request.clone(), Utc::now());
                r.status = SessionStatus::Cancelled;
                self.finish(&d, r).await
            }
            Err(e) if e.is_retryable() => {
                let reason = format!("the session could not start: {}", e.chain());
                self.requeue(&d, &job.request, &reason).await
            }
            Err(e) => self.terminate(&d, &job.request, &e, "the session failed").await,
        }
    }

    /// The session was committed by an earlier delivery: finish rows and record, then ack.
    async fn recover(&self, d: &Arc<dyn Delivery>, request: &crate::AcquisitionRequest) -> JobOutcome {
        let w = &self.inner;
        let session = d.job().session_id;
        match record_committed(w.archive.as_ref(), w.store.as_ref(), session).await {
            Ok((report, outcome)) => {
                info!(
                    inserted = outcome.inserted,
                    duplicates = outcome.duplicates,
                    "session already committed: rows and record finished from its manifest"
                );
                if let Err(e) = d.ack().await {
                    warn!(error = %e.chain(), "ack failed; a redelivery will find the session committed again");
                }
                self.publish(&JobEvent::Finished {
                    report: Box::new(report),
                })
                .await;
                JobOutcome::Recovered
            }
            Err(e) => {
                let reason = format!("finishing the committed session failed: {}", e.chain());
                self.requeue(d, request, &reason).await
            }
        }
    }

    async fn finish(&self, d: &Arc<dyn Delivery>, report: SessionReport) -> JobOutcome {
        let w = &self.inner;
        if report.status == SessionStatus::Cancelled
            && report.receivers.is_empty()
            && let Err(e) = w.store.record_session(&report).await
        {
            warn!(error = %e.chain(), "recording the cancelled session failed");
        }
        if let Err(e) = d.ack().await {
            warn!(error = %e.chain(), "ack failed; a redelivery will find the session committed");
        }
        info!(status = report.status.as_str(), "job done");
        let status = report.status;
        self.publish(&JobEvent::Finished {
            report: Box::new(report),
        })
        .await;
        JobOutcome::Done { status }
    }

    async fn requeue(&self, d: &Arc<dyn Delivery>, request: &crate::AcquisitionRequest, reason: &str) -> JobOutcome {
        let w = &self.inner;
        if d.delivery() >= d.max_deliveries() {
            let e = Error::Generic {
                backend: WORKER,
                source: format!("gave up after {} deliveries: {reason}", d.delivery()).into(),
            };
            return self.terminate(d, request, &e, "out of deliveries").await;
        }
        let exp = d.delivery().saturating_sub(1).min(16) as u32;
        let delay = Duration::from_secs(1u64 << exp).min(w.max_requeue_delay);
        warn!(reason, ?delay, "requeueing the job");
        if let Err(e) = d.nack(delay).await {
            warn!(error = %e.chain(), "nack failed; the queue redelivers after its ack wait");
        }
        self.publish(&JobEvent::Requeued {
            session_id: d.job().session_id,
            reason: reason.to_owned(),
            after_s: delay.as_secs_f64(),
        })
        .await;
        JobOutcome::Requeued {
            reason: reason.to_owned(),
        }
    }

    async fn terminate(
        &self,
        d: &Arc<dyn Delivery>,
        request: &crate::AcquisitionRequest,
        e: &Error,
        what: &str,
    ) -> JobOutcome {
        let w = &self.inner;
        let session = d.job().session_id;
        let reason = format!("{what}: {}", e.chain());
        error!(reason, "terminating the job");
        let er = ErrorReport::from(e);
        // The record says why (a committed session's record is never downgraded by this).
        let mut r = SessionReport::queued(session, request.clone(), Utc::now());
        r.status = SessionStatus::Failed;
        r.errors.push(er.clone());
        if let Err(e) = w.store.record_session(&r).await {
            warn!(error = %e.chain(), "recording the terminated session failed");
        }
        if let Err(e) = d.terminate(&reason).await {
            warn!(error = %e.chain(), "terminating the delivery failed");
        }
        self.publish(&JobEvent::Terminated {
            session_id: session,
            error: er,
        })
        .await;
        JobOutcome::Terminated { reason }
    }

    async fn publish(&self, event: &JobEvent) {
        let session = match event {
            JobEvent::Queued { session_id }
            | JobEvent::Started { session_id, .. }
            | JobEvent::Requeued { session_id, .. }
            | JobEvent::Terminated { session_id, .. } => *session_id,
            JobEvent::Finished { report } => report.session_id,
            JobEvent::Engine { .. } => return,
        };
        if let Err(e) = self.inner.queue.publish(session, event).await {
            tracing::debug!(error = %e.chain(), "publishing a job event failed");
        }
    }
}
