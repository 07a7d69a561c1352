//! One attempt at a session: begin it in the sink (a committed session fails fast), run every
//! receiver, commit the manifest, then record the rows and the session.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use tokio::sync::{Semaphore, broadcast};
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{Instrument, error, info, warn};

use super::events::EngineEvent;
use super::handle::SessionOutcome;
use super::receiver::{self, ReceiverOutcome};
use super::retry::RetryConfig;
use super::shared::Shared;
use super::{ENGINE, EngineInner};
use crate::error::{Error, ErrorReport, Result};
use crate::ids::{ReceiverId, SessionId};
use crate::report::{ReceiverReport, ReceiverStatus, SessionReport, SessionStatus};
use crate::request::{AcquisitionRequest, CaptureRequest};
use crate::source::ReceiverSource;

pub(super) struct Session {
    engine: Arc<EngineInner>,
    session_id: SessionId,
    request: AcquisitionRequest,
    sources: Vec<Arc<dyn ReceiverSource>>,
    events: broadcast::Sender<EngineEvent>,
    cancel: CancellationToken,
}

impl Session {
    pub(super) fn new(
        engine: Arc<EngineInner>,
        session_id: SessionId,
        request: AcquisitionRequest,
        sources: Vec<Arc<dyn ReceiverSource>>,
        events: broadcast::Sender<EngineEvent>,
        cancel: CancellationToken,
    ) -> Self {
        Session {
            engine,
            session_id,
            request,
            sources,
            events,
            cancel,
        }
    }

    pub(super) async fn run(self) -> Result<SessionOutcome> {
        let span = tracing::info_span!("session", session = %self.session_id);
        self.run_inner().instrument(span).await
    }

    async fn run_inner(self) -> Result<SessionOutcome> {
        let engine = self.engine.clone();
        let cfg = &engine.config;
        // Begin the attempt first: a committed session fails here, before any receiver is
        // opened and before anything is written or recorded.
        let sink = engine.sink.clone();
        let session_id = self.session_id;
        let attempt = tokio::select! {
            biased;
            _ = self.cancel.cancelled() => {
                return Err(Error::Cancelled { what: format!("session {session_id}") });
            }
            a = retrying(&cfg.retry, "begin session", || sink.begin_session(session_id)) => a?,
        };
        let shared = Arc::new(Shared {
            engine: engine.clone(),
            session_id,
            attempt,
            capture_request: CaptureRequest::from_request(session_id, &self.request),
            events: self.events,
            cancel: self.cancel,
        });
        let ids: Vec<ReceiverId> = self.sources.iter().map(|s| s.info().id.clone()).collect();
        info!(
            receivers = ids.len(),
            attempt = %shared.attempt.attempt,
            frequency_hz = self.request.frequency_hz,
            duration_s = self.request.duration.as_secs_f64(),
            "session started"
        );
        shared.emit(EngineEvent::SessionStarted {
            session_id: shared.session_id,
            receivers: ids.clone(),
        });
        if self.request.start_at.is_some() && cfg.concurrency < self.sources.len() {
            warn!(
                concurrency = cfg.concurrency,
                receivers = self.sources.len(),
                "scheduled start with fewer slots than receivers: some receivers will open late"
            );
        }
        let started_at = Utc::now();

        // Fetch, measure and store every receiver concurrently.
        let permits = Arc::new(Semaphore::new(cfg.concurrency));
        let mut set = JoinSet::new();
        let mut index = HashMap::new();
        for (i, src) in self.sources.iter().enumerate() {
            let h = set.spawn(receiver::run(shared.clone(), src.clone(), permits.clone()));
            index.insert(h.id(), i);
        }
        let mut outcomes: Vec<Option<ReceiverOutcome>> = (0..self.sources.len()).map(|_| None).collect();
        while let Some(joined) = set.join_next_with_id().await {
            match joined {
                Ok((tid, out)) => {
                    if let Some(slot) = index.get(&tid).and_then(|i| outcomes.get_mut(*i)) {
                        *slot = Some(out);
                    }
                }
                Err(e) => {
                    error!(error = %e, "receiver task failed");
                    if let Some(i) = index.get(&e.id()).copied()
                        && let Some(src) = self.sources.get(i)
                    {
                        let err = Error::Generic {
                            backend: ENGINE,
                            source: format!("receiver task failed: {e}").into(),
                        };
                        let mut report = ReceiverReport::not_started(src.info().clone());
                        report.status = ReceiverStatus::FetchFailed;
                        report.attempts = 1;
                        report.error = Some(ErrorReport::from(&err));
                        outcomes[i] = Some(ReceiverOutcome { report, psd: None });
                    }
                }
            }
        }

        let mut psds = BTreeMap::new();
        let mut receivers = Vec::with_capacity(outcomes.len());
        for (o, src) in outcomes.into_iter().zip(&self.sources) {
            let o = o.unwrap_or_else(|| ReceiverOutcome {
                report: ReceiverReport::not_started(src.info().clone()),
                psd: None,
            });
            if let Some(p) = o.psd {
                psds.insert(o.report.receiver.id.clone(), p);
            }
            receivers.push(o.report);
        }
        let mut report = SessionReport {
            errors: Vec::new(),
            session_id: shared.session_id,
            request: self.request,
            status: SessionStatus::Failed,
            started_at,
            finished_at: Utc::now(),
            receivers,
            committed: false,
        };

        if shared.cancel.is_cancelled() {
            cancel_session(&shared, &mut report).await;
            psds.clear();
            return Ok(finish(&shared, report, psds));
        }

        if !report.receivers.iter().any(|r| r.status.is_stored()) {
            info!("no capture stored: nothing to commit");
            abort_attempt(&shared, "empty").await;
            report.status = SessionStatus::from_receivers(report.receivers.iter().map(|r| &r.status));
            report.finished_at = Utc::now();
            record_session(&shared, &mut report).await;
            return Ok(finish(&shared, report, psds));
        }

        // Commit first: the manifest describes what is archived (stored receivers count as
        // successes there). Rows are written only for a committed session, from the committed
        // report, so no row ever outlives a failed commit and a re-run writes the same rows.
        report.status = archived_status(&report);
        report.finished_at = Utc::now();
        let sink = engine.sink.clone();
        let commit = {
            let (attempt, report) = (&shared.attempt, &report);
            retrying(&cfg.retry, "commit session", || sink.commit_session(attempt, report)).await
        };
        match commit {
            Ok(manifest) => {
                report.committed = true;
                info!(key = %manifest.key, "session committed");
            }
            Err(e @ Error::AlreadyExists { .. }) => {
                // Another attempt committed this session while this one ran: its manifest and
                // objects stand; this attempt's objects go, and nothing of it is recorded.
                warn!(error = %e.chain(), "another attempt committed this session first; discarding this attempt");
                abort_attempt(&shared, "superseded").await;
                return Err(e);
            }
            Err(e) => {
                error!(error = %e.chain(), "committing the session failed; this attempt's objects are removed");
                let er = ErrorReport::from(&e);
                abort_attempt(&shared, "uncommitted").await;
                for r in report.receivers.iter_mut().filter(|r| r.status.is_stored()) {
                    r.status = ReceiverStatus::StoreFailed;
                    r.objects.clear();
                    r.error = Some(er.clone());
                }
                report.status = SessionStatus::from_receivers(report.receivers.iter().map(|r| &r.status));
                report.errors.push(er.clone());
                shared.emit(EngineEvent::Failed {
                    receiver: None,
                    error: er,
                    will_retry: false,
                });
                record_session(&shared, &mut report).await;
                return Ok(finish(&shared, report, psds));
            }
        }

        record_rows(&shared, &mut report).await;
        report.finished_at = Utc::now();
        record_session(&shared, &mut report).await;
        Ok(finish(&shared, report, psds))
    }
}

/// The status of a session as archived: stored receivers count as successes (their rows are
/// written after the commit).
fn archived_status(report: &SessionReport) -> SessionStatus {
    let archived = report.receivers.iter().map(|r| {
        if r.status.is_stored() {
            &ReceiverStatus::Recorded
        } else {
            &r.status
        }
    });
    SessionStatus::from_receivers(archived)
}

/// Writes the rows of a committed session (retried: the writes are idempotent) and marks the
/// receivers recorded, or keeps them `Stored` with the error.
async fn record_rows(shared: &Shared, report: &mut SessionReport) {
    let rows = report.measurements();
    if !rows.is_empty() {
        let store = shared.engine.store.clone();
        let rows_ref = &rows;
        match retrying(&shared.engine.config.retry, "record measurements", || {
            store.record_measurements(rows_ref)
        })
        .await
        {
            Ok(outcome) => {
                info!(
                    inserted = outcome.inserted,
                    duplicates = outcome.duplicates,
                    "measurements recorded"
                );
                let recorded: HashSet<&ReceiverId> = rows.iter().map(|m| &m.receiver_id).collect();
                for r in report
                    .receivers
                    .iter_mut()
                    .filter(|r| recorded.contains(&r.receiver.id))
                {
                    r.status = ReceiverStatus::Recorded;
                    shared.emit(EngineEvent::Recorded {
                        receiver: r.receiver.id.clone(),
                    });
                }
            }
            Err(e) => {
                error!(error = %e.chain(), "recording measurements failed; the committed archive keeps the captures");
                let er = ErrorReport::from(&e);
                let recorded: HashSet<&ReceiverId> = rows.iter().map(|m| &m.receiver_id).collect();
                for r in report
                    .receivers
                    .iter_mut()
                    .filter(|r| recorded.contains(&r.receiver.id))
                {
                    r.error = Some(er.clone());
                }
                report.errors.push(er.clone());
                shared.emit(EngineEvent::Failed {
                    receiver: None,
                    error: er,
                    will_retry: false,
                });
            }
        }
    }
    report.status = SessionStatus::from_receivers(report.receivers.iter().map(|r| &r.status));
}

/// Removes this attempt's objects (never a committed session's).
async fn abort_attempt(shared: &Shared, why: &'static str) {
    if let Err(e) = shared.engine.sink.abort_session(&shared.attempt).await {
        warn!(error = %e.chain(), why, "removing this attempt's objects failed; a garbage collection will");
    }
}

fn finish(shared: &Shared, report: SessionReport, psds: BTreeMap<ReceiverId, crate::dsp::Psd>) -> SessionOutcome {
    info!(
        status = report.status.as_str(),
        recorded = report.recorded(),
        failed = report.failed(),
        "session finished"
    );
    shared.emit(EngineEvent::SessionFinished {
        report: Box::new(report.clone()),
    });
    SessionOutcome { report, psds }
}

async fn cancel_session(shared: &Shared, report: &mut SessionReport) {
    info!("session cancelled: removing its objects");
    abort_attempt(shared, "cancelled").await;
    for r in report.receivers.iter_mut() {
        if matches!(r.status, ReceiverStatus::Stored | ReceiverStatus::Recorded) {
            r.status = ReceiverStatus::Cancelled;
        }
        r.objects.clear();
    }
    report.status = SessionStatus::Cancelled;
    report.finished_at = Utc::now();
    // The session record says it was cancelled (no measurement rows exist for it), so that a
    // reader knows the session after this process is gone. One bounded attempt: cancellation
    // stays prompt even when the database is down.
    let store = shared.engine.store.clone();
    let outcome = tokio::time::timeout(CANCELLED_RECORD_TIMEOUT, store.record_session(report)).await;
    let err = match outcome {
        Ok(Ok(())) => return,
        Ok(Err(e)) => e,
        Err(_) => Error::Timeout {
            backend: ENGINE,
            target: shared.session_id.to_string(),
            operation: "record cancelled session",
            after: CANCELLED_RECORD_TIMEOUT,
        },
    };
    warn!(error = %err.chain(), "recording the cancelled session failed");
    report.errors.push(ErrorReport::from(&err));
}

/// Bound of the one attempt to record a cancelled session.
const CANCELLED_RECORD_TIMEOUT: Duration = Duration::from_secs(3);

/// Writes the session record; a failure is added to the report's session-level errors (so the
/// manifest committed next carries it) and reported as an event.
async fn record_session(shared: &Shared, report: &mut SessionReport) {
    let store = shared.engine.store.clone();
    let result = {
        let report: &SessionReport = report;
        retrying(&shared.engine.config.retry, "record session", || {
            store.record_session(report)
        })
        .await
    };
    if let Err(e) = result {
        error!(error = %e.chain(), "recording the session failed");
        let er = ErrorReport::from(&e);
        report.errors.push(er.clone());
        shared.emit(EngineEvent::Failed {
            receiver: None,
            error: er,
            will_retry: false,
        });
    }
}

/// Runs `op` until it succeeds, fails with a non-retryable error, or the retries run out.
async fn retrying<T, F, Fut>(retry: &RetryConfig, what: &'static str, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut attempt = 1;
    loop {
        match op().await {
            Ok(v) => return Ok(v),
            Err(e) if retry.should_retry(&e, attempt) => {
                let after = retry.backoff(attempt, Some(&e));
                warn!(error = %e.chain(), attempt, ?after, "{what} failed; retrying");
                tokio::time::sleep(after).await;
                attempt += 1;
            }
            Err(e) => return Err(e),
        }
    }
}
