//! Starting acquisitions, in this process (its engine) or through the work queue (`--queue`:
//! a worker anywhere runs the session, this process follows it), and reading a finished
//! session back. Shared by the native routes and the old API's.
//!
//! With a queue, a submission is: subscribe to the session's events, record the session as
//! `queued` in the database (status `PENDING` for any API process from then on), submit the job
//! with its session id (the queue suppresses a second submission of the same id). A follower
//! task folds the session's events into its [`Job`] (progress, SSE) until the queue says it
//! finished or was terminated; it also polls the database as a safety net, since events are
//! not persisted (a lost event must not leave a session `PROGRESS` forever here). Cancelling
//! asks the queue: a queued job is removed (and recorded cancelled here), a running one is
//! cancelled by the worker that holds it, which publishes the end.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::http::StatusCode;
use chrono::Utc;
use futures::StreamExt;
use futures::stream::BoxStream;
use heimdall_core::engine::{Engine, EngineEvent};
use heimdall_core::queue::{DynWorkQueue, JobEvent};
use heimdall_core::{
    AcquisitionRequest, Error, IqArchive, MetricQuery, MetricStore, ReceiverId, SessionId, SessionReport, SessionStatus,
};
use tokio_util::sync::CancellationToken;

use crate::api::AcquisitionAccepted;
use crate::error::ApiError;
use crate::jobs::Job;
use crate::lock;
use crate::old_layout::write_old_layout;
use crate::state::AppState;
use crate::validation::parse_acquisition;

/// How often a follower of a queued session also reads its record from the database.
const FOLLOW_POLL: Duration = Duration::from_secs(2);

/// Validates a submission body and starts the acquisition: on this process's engine, or on the
/// work queue when one is set.
pub(crate) async fn start_acquisition(app: &AppState, body: &[u8]) -> Result<AcquisitionAccepted, ApiError> {
    if app.is_draining() {
        return Err(ApiError::Status(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service is shutting down".into(),
        ));
    }
    let body = parse_acquisition(body)?;
    let req = body.to_request()?;
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
    let session_id = SessionId::new();
    match app.queue() {
        Some(queue) => {
            // The workers build their own sources; these only validated the request. The
            // request names the receivers, so a worker runs exactly these.
            let mut req = req;
            req.receivers = Some(receiver_ids.clone());
            enqueue(app, queue.clone(), req, session_id, receiver_ids.clone()).await?
        }
        None => run_here(app, sources, req, session_id, receiver_ids.clone())?,
    }
    let id = session_id.to_string();
    Ok(AcquisitionAccepted {
        session_id: id.clone(),
        task_id: id.clone(),
        status: "PENDING".into(),
        receivers: receiver_ids.len(),
        receiver_ids: receiver_ids.iter().map(|r| r.to_string()).collect(),
        skipped,
        status_url: format!("/api/v1/acquisitions/{id}"),
        events_url: format!("/api/v1/acquisitions/{id}/events"),
    })
}

/// Runs the session on this process's engine.
fn run_here(
    app: &AppState,
    sources: Vec<Arc<dyn heimdall_core::ReceiverSource>>,
    req: AcquisitionRequest,
    session_id: SessionId,
    receiver_ids: Vec<ReceiverId>,
) -> Result<(), ApiError> {
    let engine = Engine::builder()
        .concurrency(sources.len())
        .sources(sources)
        .sink(Arc::new(app.sink.clone()))
        .store(app.db.clone())
        .build()
        .map_err(ApiError::from_core)?;
    let end = expected_end(&req);
    let (job, handle) = app.admit(false, || {
        let handle = engine.start(req, Some(session_id)).map_err(ApiError::from_core)?;
        let job = Arc::new(Job::new(session_id, receiver_ids.clone(), handle.cancel_token()).expecting_end(end));
        Ok((job.clone(), (job, handle)))
    })?;
    if app.is_draining() {
        // The shutdown began meanwhile and may not have seen this job.
        job.cancel.cancel();
    }
    let mut events = handle.events();
    let app2 = app.clone();
    tokio::spawn(async move {
        while let Some(ev) = events.next().await {
            job.apply(&ev);
        }
        match handle.finish().await {
            Ok(report) => {
                if app2.legacy_layout.load(Ordering::Relaxed) {
                    write_old_layout(&app2, &report).await;
                }
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
    Ok(())
}

/// Submits the session to the work queue and follows it.
async fn enqueue(
    app: &AppState,
    queue: Arc<DynWorkQueue>,
    req: AcquisitionRequest,
    session_id: SessionId,
    receiver_ids: Vec<ReceiverId>,
) -> Result<(), ApiError> {
    // Subscribed before submitting: no event of the session is missed.
    let events = queue.subscribe(session_id).await.map_err(queue_down)?;
    let end = expected_end(&req);
    let job = app.admit(true, || {
        let job = Arc::new(Job::queued(session_id, receiver_ids.clone(), CancellationToken::new()).expecting_end(end));
        Ok((job.clone(), job))
    })?;
    let queued = heimdall_core::queue::Job::with_session(session_id, req);
    let record = SessionReport::queued(session_id, queued.request.clone(), queued.submitted_at);
    if let Err(e) = app.db.record_session(&record).await {
        app.forget_job(session_id);
        return Err(ApiError::from_core(e));
    }
    if let Err(e) = queue.submit(&queued).await {
        // Recorded as queued but never queued: say so in the record, or it stays PENDING.
        let mut failed = record;
        failed.status = SessionStatus::Failed;
        failed.errors.push(heimdall_core::ErrorReport::from(&e));
        if let Err(e2) = app.db.record_session(&failed).await {
            tracing::warn!(session = %session_id, "recording the failed submission failed: {}", e2.chain());
        }
        job.fail(format!("the work queue refused the job: {}", e.chain()));
        job.done.send_replace(true);
        return Err(queue_down(e));
    }
    tracing::info!(session = %session_id, receivers = receiver_ids.len(), %queue, "acquisition queued");
    tokio::spawn(follow(app.clone(), queue, job, queued.request, events));
    Ok(())
}

/// When a session should be over: its start (now, or the scheduled start), its duration, and
/// a margin for connecting and committing. Only an estimate for `Retry-After`: a queued session
/// may wait for a worker.
fn expected_end(req: &AcquisitionRequest) -> chrono::DateTime<chrono::Utc> {
    const MARGIN: chrono::TimeDelta = chrono::TimeDelta::seconds(15);
    let now = chrono::Utc::now();
    let start = req.start_at.map_or(now, |t| t.max(now));
    let duration = chrono::TimeDelta::from_std(req.duration).unwrap_or(chrono::TimeDelta::MAX);
    start
        .checked_add_signed(duration)
        .and_then(|t| t.checked_add_signed(MARGIN))
        .unwrap_or(chrono::DateTime::<chrono::Utc>::MAX_UTC)
}

fn queue_down(e: Error) -> ApiError {
    tracing::error!("work queue: {}", e.chain());
    ApiError::Busy {
        status: StatusCode::SERVICE_UNAVAILABLE,
        retry_after: e.retry_after().unwrap_or(crate::error::DEFAULT_RETRY_AFTER),
        detail: format!("the work queue is unavailable: {}", e.chain()),
    }
}

/// Whether a session record read while following a queued session is its end. A record an
/// attempt wrote before being requeued says `failed` without being committed, so only a
/// committed record, a cancelled one, or a record without receiver outcomes (written when
/// the job was given up) ends the session.
fn record_is_final(r: &SessionReport) -> bool {
    r.status.is_final() && (r.committed || r.status == SessionStatus::Cancelled || r.receivers.is_empty())
}

/// Follows a queued session to its end: events into the job, the database as a safety net,
/// cancellation to the queue.
async fn follow(
    app: AppState,
    queue: Arc<DynWorkQueue>,
    job: Arc<Job>,
    request: AcquisitionRequest,
    mut events: BoxStream<'static, JobEvent>,
) {
    let id = job.session_id;
    let mut poll = tokio::time::interval(FOLLOW_POLL);
    poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    poll.tick().await;
    let mut cancel_asked = false;
    let mut events_open = true;
    let finished: Option<SessionReport> = loop {
        tokio::select! {
            ev = events.next(), if events_open => match ev {
                Some(JobEvent::Finished { report }) => break Some(*report),
                Some(ev) => {
                    if job.apply_queued(&ev) {
                        break None;
                    }
                }
                None => {
                    tracing::warn!(session = %id, "the session's event subscription ended; following it in the database");
                    events_open = false;
                }
            },
            _ = poll.tick() => match app.db.session(id).await {
                Ok(Some(r)) if record_is_final(&r) => break Some(r),
                Ok(_) => {}
                Err(e) => tracing::debug!(session = %id, "reading the session record: {}", e.chain()),
            },
            _ = job.cancel.cancelled(), if !cancel_asked => {
                cancel_asked = true;
                match queue.cancel(id).await {
                    Ok(outcome) if outcome.removed => {
                        // No worker will run it: this process records the end.
                        let mut r = SessionReport::queued(id, request.clone(), Utc::now());
                        r.status = SessionStatus::Cancelled;
                        if let Err(e) = app.db.record_session(&r).await {
                            tracing::warn!(session = %id, "recording the cancellation failed: {}", e.chain());
                        }
                        break Some(r);
                    }
                    // A worker holds it: it cancels the engine and publishes the end.
                    Ok(_) => tracing::info!(session = %id, "cancellation sent to the worker running it"),
                    Err(e) => {
                        tracing::warn!(session = %id, "the queue did not take the cancellation: {}", e.chain());
                        job.fail(format!("cancelling through the work queue failed: {}", e.chain()));
                        break None;
                    }
                }
            }
        }
    };
    if let Some(report) = finished {
        if report.committed && app.legacy_layout.load(Ordering::Relaxed) {
            write_old_layout(&app, &report).await;
        }
        tracing::info!(session = %id, status = report.status.as_str(), "queued acquisition finished");
        job.apply(&EngineEvent::SessionFinished {
            report: Box::new(report),
        });
    }
    job.done.send_replace(true);
}

/// A session's report from the database, then the archive manifest (`None`: unknown).
pub(crate) async fn stored_report(
    app: &AppState,
    id: SessionId,
) -> Result<Option<(SessionReport, &'static str)>, ApiError> {
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

/// Cancels a queued or running session this process does not follow (submitted by another
/// API process): through the queue. Returns the record when the job was removed before any
/// worker took it (recorded cancelled here), `None` when the cancellation went to the worker.
pub(crate) async fn cancel_through_queue(
    app: &AppState,
    queue: &DynWorkQueue,
    report: &SessionReport,
) -> Result<Option<SessionReport>, ApiError> {
    let outcome = queue.cancel(report.session_id).await.map_err(queue_down)?;
    if !outcome.removed {
        return Ok(None);
    }
    let mut r = SessionReport::queued(report.session_id, report.request.clone(), Utc::now());
    r.status = SessionStatus::Cancelled;
    app.db.record_session(&r).await.map_err(ApiError::from_core)?;
    Ok(Some(r))
}
