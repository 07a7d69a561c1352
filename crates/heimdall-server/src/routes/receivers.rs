//! The receiver registry: list, create, read, update, deactivate, health, SNR statistics.

use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use heimdall_core::redact::{MASK, is_secret_key};
use heimdall_core::{MetricQuery, ReceiverHealth, ReceiverRecord, ReceiverRegistry, TimeWindow};
use serde_json::{Value, json};

use crate::api::*;
use crate::error::{ApiError, parse_receiver, query_error};
use crate::lock;
use crate::state::AppState;
use crate::validation::parse_receiver_input;

/// Deadline of each receiver health check.
const HEALTH_CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The registry's receivers.
#[utoipa::path(
    get,
    path = "/api/v1/receivers",
    params(ListReceiversParams),
    responses(
        (status = 200, description = "Receivers", body = Vec<ReceiverBody>),
        (status = 422, description = "Invalid query", body = ValidationError),
    )
)]
pub(crate) async fn list_receivers(
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
pub(crate) async fn create_receiver(State(app): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
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
pub(crate) async fn get_receiver(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<ReceiverBody>, ApiError> {
    let id = parse_receiver(&id)?;
    Ok(axum::Json(ReceiverBody::from(&stored_receiver(&app, &id).await?)))
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
pub(crate) async fn update_receiver(
    State(app): State<AppState>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<axum::Json<ReceiverBody>, ApiError> {
    let id = parse_receiver(&id)?;
    let stored = stored_receiver(&app, &id).await?;
    let (info, mut options, active) = parse_receiver_input(&body, Some(&id))?;
    keep_masked_secrets(&mut options, &stored.options);
    let mut rec = app
        .db
        .upsert_receiver(&info, &options)
        .await
        .map_err(ApiError::from_core)?;
    // The registry now describes it: forget a source built from the receivers file.
    lock(&app.file_sources).remove(&id);
    if active == Some(false) {
        app.db.deactivate_receiver(&id).await.map_err(ApiError::from_core)?;
        rec = stored_receiver(&app, &id).await?;
    }
    Ok(axum::Json(ReceiverBody::from(&rec)))
}

/// The registry's record of `id`, or 404.
async fn stored_receiver(app: &AppState, id: &heimdall_core::ReceiverId) -> Result<ReceiverRecord, ApiError> {
    app.db
        .receiver(id)
        .await
        .map_err(ApiError::from_core)?
        .ok_or_else(|| ApiError::not_found(format!("no receiver {id}")))
}

/// A GET answer shows secrets as `***` ([`heimdall_core::redact::redact_json`]): when one comes
/// back in a PUT, the stored value stays (so the answer can be edited and sent back).
fn keep_masked_secrets(options: &mut Value, stored: &Value) {
    if let (Value::Object(new), Value::Object(old)) = (options, stored) {
        for (k, v) in new.iter_mut() {
            if v.as_str() == Some(MASK)
                && is_secret_key(k)
                && let Some(old) = old.get(k)
            {
                *v = old.clone();
            }
        }
    }
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
pub(crate) async fn delete_receiver(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<ReceiverBody>, ApiError> {
    let id = parse_receiver(&id)?;
    if !app.db.deactivate_receiver(&id).await.map_err(ApiError::from_core)? {
        return Err(ApiError::not_found(format!("no receiver {id}")));
    }
    Ok(axum::Json(ReceiverBody::from(&stored_receiver(&app, &id).await?)))
}

/// Health of every active receiver: the protocol's health check, all at once, 3 s each.
#[utoipa::path(
    get,
    path = "/api/v1/receivers/health",
    responses((status = 200, description = "One entry per active receiver", body = Vec<ReceiverHealthBody>))
)]
pub(crate) async fn receivers_health(
    State(app): State<AppState>,
) -> Result<axum::Json<Vec<ReceiverHealthBody>>, ApiError> {
    let records = app.db.list_receivers(true).await.map_err(ApiError::from_core)?;
    Ok(axum::Json(check_receivers(&app, records.iter().collect()).await))
}

/// The health check of each of `records`, concurrently (shared with the old API's
/// `GET /api/v1/acquisition/websdrs/health`).
pub(crate) async fn check_receivers(app: &AppState, records: Vec<&ReceiverRecord>) -> Vec<ReceiverHealthBody> {
    let checks = records.into_iter().map(|rec| {
        let source = app.source_for(rec, 145.5e6);
        let id = rec.info.id.to_string();
        async move {
            let t0 = Instant::now();
            let down = |detail: String| ReceiverHealth {
                available: false,
                detail,
                ..ReceiverHealth::up()
            };
            let h = match source {
                Err(reason) => down(format!("no source: {reason}")),
                Ok(source) => match tokio::time::timeout(HEALTH_CHECK_TIMEOUT, source.health()).await {
                    Ok(Ok(h)) => h,
                    Ok(Err(e)) => down(e.chain()),
                    Err(_) => down(format!("no answer within {HEALTH_CHECK_TIMEOUT:?}")),
                },
            };
            ReceiverHealthBody {
                id,
                available: h.available,
                users: h.users,
                users_max: h.users_max,
                gps_locked: h.gps_locked,
                version: h.version,
                detail: h.detail,
                latency_ms: t0.elapsed().as_millis() as u64,
            }
        }
    });
    futures::future::join_all(checks).await
}

/// SNR statistics of one receiver's measurements.
#[utoipa::path(
    get,
    path = "/api/v1/receivers/{id}/snr-stats",
    params(("id" = String, Path, description = "Receiver id"), SnrParams),
    responses(
        (status = 200, description = "Statistics (count 0 when there is no measurement)", body = SnrStatsBody),
        (status = 404, description = "Unknown receiver", body = ErrorDetail),
        (status = 422, description = "Invalid query", body = ValidationError),
    )
)]
pub(crate) async fn receiver_snr_stats(
    State(app): State<AppState>,
    Path(id): Path<String>,
    q: Result<Query<SnrParams>, QueryRejection>,
) -> Result<axum::Json<SnrStatsBody>, ApiError> {
    let Query(q) = q.map_err(query_error)?;
    let id = parse_receiver(&id)?;
    stored_receiver(&app, &id).await?;
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
    let s = stats.into_iter().find(|s| s.receiver_id == id);
    Ok(axum::Json(SnrStatsBody {
        receiver_id: id.to_string(),
        count: s.as_ref().map_or(0, |s| s.count),
        mean_db: s.as_ref().map(|s| s.mean_db),
        min_db: s.as_ref().map(|s| s.min_db),
        max_db: s.as_ref().map(|s| s.max_db),
        p50_db: s.as_ref().and_then(|s| s.p50_db),
        since,
    }))
}
