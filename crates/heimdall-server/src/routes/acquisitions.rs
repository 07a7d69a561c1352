//! Acquisitions: submit, status, events (SSE), cancel.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use heimdall_core::engine::{Engine, EngineEvent};
use heimdall_core::{Error, IqArchive, MetricQuery, ReceiverId, SessionId, SessionReport};
use tokio::sync::broadcast;

use crate::api::*;
use crate::error::{ApiError, parse_session};
use crate::jobs::Job;
use crate::lock;
use crate::state::AppState;
use crate::validation::parse_acquisition;

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
pub(crate) async fn submit_acquisition(State(app): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let accepted = start_acquisition(&app, &body).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(accepted)).into_response())
}

/// Validates a submission body and starts the acquisition (shared with the old API's
/// `POST /api/v1/acquisition/acquire`).
pub(crate) async fn start_acquisition(app: &AppState, body: &[u8]) -> Result<AcquisitionAccepted, ApiError> {
    if app.draining.load(Ordering::SeqCst) {
        return Err(ApiError::Status(
            StatusCode::SERVICE_UNAVAILABLE,
            "the service is shutting down".into(),
        ));
    }
    let body = parse_acquisition(body)?;
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
    let app2 = app.clone();
    tokio::spawn(async move {
        while let Some(ev) = events.next().await {
            job.apply(&ev);
        }
        match handle.finish().await {
            Ok(report) => {
                if app2.legacy_layout.load(Ordering::Relaxed) {
                    crate::routes::legacy::write_old_layout(&app2, &report).await;
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
    Ok(accepted)
}

/// A finished session's report from the database, then the archive manifest.
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
pub(crate) async fn acquisition_status(
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
pub(crate) async fn acquisition_events(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
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

pub(crate) fn sse(stream: impl Stream<Item = Result<Event, Infallible>> + Send + 'static) -> Response {
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
pub(crate) async fn cancel_acquisition(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
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
