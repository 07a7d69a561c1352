//! Acquisitions: submit, status, events (SSE), cancel.

use std::convert::Infallible;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use heimdall_core::SessionReport;
use heimdall_core::engine::EngineEvent;
use tokio::sync::broadcast;

use crate::acquire::{cancel_through_queue, start_acquisition, stored_report};
use crate::api::*;
use crate::error::{ApiError, parse_session};
use crate::jobs::queue_event_item;
use crate::lock;
use crate::state::AppState;

/// Starts an acquisition.
#[utoipa::path(
    post,
    path = "/api/v1/acquisitions",
    request_body = AcquisitionRequestBody,
    responses(
        (status = 202, description = "Started", body = AcquisitionAccepted),
        (status = 422, description = "Invalid body", body = ValidationError),
        (status = 429, description = "Too many acquisitions running", body = ErrorDetail,
            headers(("Retry-After" = u64, description = "Seconds until the first running acquisition should be over"))),
        (status = 503, description = "Shutting down, or the registry or the work queue is unreachable", body = ErrorDetail,
            headers(("Retry-After" = u64, description = "Seconds to wait before retrying (absent while shutting down)"))),
    )
)]
pub(crate) async fn submit_acquisition(State(app): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let accepted = start_acquisition(&app, &body).await?;
    Ok((StatusCode::ACCEPTED, axum::Json(accepted)).into_response())
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
        let Some(queue) = app.queue().filter(|_| !report.status.is_final()) else {
            return finished_events(report);
        };
        // Queued or running on a worker, submitted through another API process: the
        // session's events from the queue, from now on.
        let events = queue.subscribe(id).await.map_err(ApiError::from_core)?;
        // It may have ended between the read and the subscription.
        if let Some((r, _)) = stored_report(&app, id).await?
            && r.status.is_final()
        {
            return finished_events(r);
        }
        // Ends right after the last event (not when a next one would arrive).
        let items = futures::stream::unfold((events, false, 0u64), |(mut events, ended, seq)| async move {
            if ended {
                return None;
            }
            loop {
                let ev = events.next().await?;
                if let Some((name, data, last)) = queue_event_item(&ev) {
                    let item = Event::default().event(name).id((seq + 1).to_string()).data(&*data);
                    return Some((Ok::<_, Infallible>(item), (events, last, seq + 1)));
                }
            }
        });
        return Ok(sse(items));
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

/// One `session_finished` event with the session's final report.
fn finished_events(report: SessionReport) -> Result<Response, ApiError> {
    let data = serde_json::to_string(&EngineEvent::SessionFinished {
        report: Box::new(report),
    })
    .map_err(|e| ApiError::Status(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
    let ev = Event::default().event("session_finished").id("1").data(data);
    Ok(sse(futures::stream::iter([Ok::<_, Infallible>(ev)])))
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
            Some((r, _)) if !r.status.is_final() && app.queue().is_some() => {
                let queue = app
                    .queue()
                    .map(|q| q.as_ref())
                    .ok_or_else(|| ApiError::not_found("no work queue"))?;
                // Submitted through another API process: cancelled through the queue.
                match cancel_through_queue(&app, queue, &r).await? {
                    Some(cancelled) => {
                        Ok(axum::Json(AcquisitionStatus::from_report(&cancelled, "queue")).into_response())
                    }
                    None => {
                        let mut status = AcquisitionStatus::from_report(&r, "database");
                        status.message = "cancellation sent to the worker running it".into();
                        Ok((StatusCode::ACCEPTED, axum::Json(status)).into_response())
                    }
                }
            }
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
