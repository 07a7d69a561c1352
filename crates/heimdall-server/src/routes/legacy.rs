//! The old acquisition service's REST API, same paths, bodies and shapes, over the same engine:
//! `POST /api/v1/acquisition/acquire`, `GET /api/v1/acquisition/status/{task_id}`,
//! `GET /api/v1/acquisition/websdrs`, `GET /api/v1/acquisition/websdrs/health`,
//! `GET /api/v1/acquisition/config` and `GET /ready` (`/health` answers `healthy|unhealthy` for
//! both). Statuses follow what old clients saw from Celery: an unknown task is `PENDING`, a
//! finished run is `SUCCESS` even when some receivers failed (their errors as a list of strings,
//! `result.status` `PARTIAL_FAILURE` when nothing was recorded), a cancelled one `REVOKED`.
//!
//! The old integer `websdr_id` of a receiver is its registry option `websdr_id`, else its
//! position (1-based) among the active receivers ordered by id, as the old Python (FastAPI/Celery) service numbered its
//! active stations.

use std::collections::BTreeMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use heimdall_core::{ReceiverRecord, SessionId, SessionReport};
use heimdall_storage::legacy::legacy_metadata_for;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

use crate::api::{AcquisitionAccepted, AcquisitionStatus, ErrorDetail, ValidationError};
use crate::error::ApiError;
use crate::old_layout::websdr_table;
use crate::state::AppState;

/// Longest capture the old API accepted, seconds.
const MAX_DURATION_S: f64 = 300.0;

/// Body of `POST /api/v1/acquisition/acquire` (the old `AcquisitionRequest`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct LegacyAcquisitionRequest {
    /// Frequency in MHz (> 0).
    pub(crate) frequency_mhz: f64,
    /// Duration in seconds (> 0, ≤ 300).
    pub(crate) duration_seconds: f64,
    /// Acquisition start time (UTC); default now.
    #[serde(default)]
    pub(crate) start_time: Option<DateTime<Utc>>,
    /// WebSDR ids to use; default every active one.
    #[serde(default)]
    pub(crate) websdrs: Option<Vec<i64>>,
}

/// Answer of `POST /api/v1/acquisition/acquire` (the old `AcquisitionTaskResponse`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct LegacyTaskResponse {
    /// Task id (the session id).
    pub(crate) task_id: String,
    /// Always `PENDING`.
    pub(crate) status: String,
    /// Human-readable message.
    pub(crate) message: String,
    /// Requested frequency, MHz.
    pub(crate) frequency_mhz: f64,
    /// WebSDRs used.
    pub(crate) websdrs_count: usize,
}

/// Answer of `GET /api/v1/acquisition/status/{task_id}` (the old `AcquisitionStatusResponse`,
/// plus Celery's `current`/`total` while pending or in progress).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct LegacyStatusResponse {
    /// Task id.
    pub(crate) task_id: String,
    /// `PENDING`, `PROGRESS`, `SUCCESS`, `FAILURE` or `REVOKED`.
    pub(crate) status: String,
    /// Percent done, 0-100.
    pub(crate) progress: f64,
    /// Status message.
    pub(crate) message: String,
    /// Successful measurements.
    pub(crate) measurements_collected: usize,
    /// Error messages, if any.
    pub(crate) errors: Option<Vec<String>>,
    /// The task's result once `SUCCESS`.
    #[schema(value_type = Option<Object>)]
    pub(crate) result: Option<Value>,
    /// Receivers finished (while `PENDING`/`PROGRESS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) current: Option<usize>,
    /// Receivers in the task (while `PENDING`/`PROGRESS`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) total: Option<usize>,
}

/// One entry of `GET /api/v1/acquisition/websdrs` (the old `WebSDRConfig`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct LegacyWebsdr {
    /// The old integer id.
    pub(crate) id: i64,
    /// Name.
    pub(crate) name: String,
    /// Base URL.
    pub(crate) url: String,
    /// Location description.
    pub(crate) location_name: String,
    /// Latitude, degrees.
    pub(crate) latitude: Option<f64>,
    /// Longitude, degrees.
    pub(crate) longitude: Option<f64>,
    /// Whether it takes part in acquisitions.
    pub(crate) is_active: bool,
    /// Request timeout, seconds.
    pub(crate) timeout_seconds: u64,
    /// Retries on failure.
    pub(crate) retry_count: u32,
}

/// One value of `GET /api/v1/acquisition/websdrs/health`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct LegacyWebsdrHealth {
    /// The old integer id.
    pub(crate) websdr_id: i64,
    /// Name.
    pub(crate) name: String,
    /// `online` or `offline`.
    pub(crate) status: String,
    /// When checked (naive ISO 8601, UTC).
    pub(crate) last_check: String,
    /// Mean SNR of its measurements over the last 24 h, dB.
    pub(crate) avg_snr: Option<f64>,
    /// Why it is offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error_message: Option<String>,
}

/// `GET /api/v1/acquisition/config`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct LegacyConfig {
    /// `rf-acquisition`.
    pub(crate) service: String,
    /// Version.
    pub(crate) version: String,
    /// What it does.
    pub(crate) capabilities: Vec<String>,
    /// Active WebSDRs.
    pub(crate) websdrs_count: usize,
    /// Longest capture, seconds.
    pub(crate) max_duration_seconds: f64,
    /// Default sample rate, kHz.
    pub(crate) default_sample_rate_khz: f64,
}

/// One dependency of `GET /ready`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct LegacyDependency {
    /// `storage` or `database`.
    pub(crate) name: String,
    /// `up` or `down`.
    pub(crate) status: String,
    /// Why it is down.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
}

/// `GET /ready`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct LegacyReady {
    /// Whether requests can be served.
    pub(crate) ready: bool,
    /// `rf-acquisition`.
    pub(crate) service: String,
    /// Each dependency.
    pub(crate) dependencies: Vec<LegacyDependency>,
}

fn naive_now() -> String {
    Utc::now().naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string()
}

fn validation(field: &str, msg: impl Into<String>) -> ApiError {
    ApiError::Validation(vec![crate::api::ValidationItem::body(field, msg.into(), "value_error")])
}

/// Starts an acquisition (the old `POST /api/v1/acquisition/acquire`).
#[utoipa::path(
    post,
    path = "/api/v1/acquisition/acquire",
    tag = "legacy",
    request_body = LegacyAcquisitionRequest,
    responses(
        (status = 200, description = "Queued", body = LegacyTaskResponse),
        (status = 400, description = "No active WebSDR among those requested", body = ErrorDetail),
        (status = 422, description = "Invalid body", body = ValidationError),
    )
)]
pub(crate) async fn legacy_acquire(State(app): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let raw: Value = serde_json::from_slice(&body).map_err(|e| validation("body", format!("not JSON: {e}")))?;
    let req: LegacyAcquisitionRequest = serde_json::from_value(raw).map_err(|e| validation("body", e.to_string()))?;
    if !(req.frequency_mhz.is_finite() && req.frequency_mhz > 0.0) {
        return Err(validation("frequency_mhz", "Input should be greater than 0"));
    }
    if !(req.duration_seconds.is_finite() && req.duration_seconds > 0.0) {
        return Err(validation("duration_seconds", "Input should be greater than 0"));
    }
    if req.duration_seconds > MAX_DURATION_S {
        return Err(validation(
            "duration_seconds",
            "Input should be less than or equal to 300",
        ));
    }
    let table = websdr_table(&app).await?;
    let chosen: Vec<&(i64, ReceiverRecord)> = table
        .iter()
        .filter(|(n, _)| req.websdrs.as_ref().is_none_or(|w| w.contains(n)))
        .collect();
    if chosen.is_empty() {
        return Err(ApiError::Status(
            StatusCode::BAD_REQUEST,
            "No active WebSDRs available for acquisition".into(),
        ));
    }
    // The same submission as POST /api/v1/acquisitions, with the receivers named by id.
    let mut native = json!({
        "frequency_mhz": req.frequency_mhz,
        "duration_seconds": req.duration_seconds,
        "websdrs": chosen.iter().map(|(_, r)| r.info.id.to_string()).collect::<Vec<_>>(),
        "label": "old API: POST /api/v1/acquisition/acquire",
    });
    if let Some(t) = req.start_time.filter(|t| *t > Utc::now()) {
        native["start_time"] = json!(t);
    }
    let accepted: AcquisitionAccepted = crate::acquire::start_acquisition(&app, native.to_string().as_bytes()).await?;
    let answer = LegacyTaskResponse {
        task_id: accepted.task_id,
        status: "PENDING".into(),
        message: format!("Acquisition task queued for {} WebSDR receivers", accepted.receivers),
        frequency_mhz: req.frequency_mhz,
        websdrs_count: accepted.receivers,
    };
    Ok((StatusCode::OK, axum::Json(answer)).into_response())
}

/// Status of an acquisition (the old `GET /api/v1/acquisition/status/{task_id}`).
#[utoipa::path(
    get,
    path = "/api/v1/acquisition/status/{task_id}",
    tag = "legacy",
    params(("task_id" = String, Path, description = "Task id (session id)")),
    responses((status = 200, description = "Status; an unknown task is PENDING, as Celery said", body = LegacyStatusResponse))
)]
pub(crate) async fn legacy_status(
    State(app): State<AppState>,
    Path(task_id): Path<String>,
) -> Result<axum::Json<LegacyStatusResponse>, ApiError> {
    let pending = |total: Option<usize>| LegacyStatusResponse {
        task_id: task_id.clone(),
        status: "PENDING".into(),
        progress: 0.0,
        message: "Task state: PENDING".into(),
        measurements_collected: 0,
        errors: None,
        result: None,
        current: Some(0),
        total,
    };
    let Ok(id) = task_id.parse::<SessionId>() else {
        return Ok(axum::Json(pending(None)));
    };
    let table = websdr_table(&app).await.unwrap_or_default();
    let websdr_of = |rid: &str| table.iter().find(|(_, r)| r.info.id.as_str() == rid).map(|(n, _)| *n);
    // Until the job's task is done (the old layout, when enabled, is written after the report),
    // a finished run still says PROGRESS: SUCCESS means everything is in place.
    let mut finishing = false;
    let (status, report): (AcquisitionStatus, Option<SessionReport>) = if let Some(job) = app.job(id) {
        let report = crate::lock(&job.state).report.as_deref().cloned();
        finishing = !job.is_done();
        (job.status(), report)
    } else {
        match crate::acquire::stored_report(&app, id).await? {
            Some((report, source)) => (AcquisitionStatus::from_report(&report, source), Some(report)),
            None => return Ok(axum::Json(pending(None))),
        }
    };
    let total = status.receivers_total;
    let done = status
        .receivers
        .iter()
        .filter(|r| {
            matches!(
                r.state.as_str(),
                "captured" | "stored" | "recorded" | "failed" | "fetch_failed" | "store_failed" | "cancelled"
            )
        })
        .count();
    let errors: Vec<String> = status
        .receivers
        .iter()
        .filter_map(|r| {
            r.error.as_ref().map(|e| match websdr_of(&r.id) {
                Some(n) => format!("WebSDR {n}: {}", e.message),
                None => format!("WebSDR {}: {}", r.id, e.message),
            })
        })
        .chain(status.error.iter().cloned())
        .collect();
    let out = match (status.status.as_str(), &report) {
        ("PENDING", _) => pending(Some(total)),
        (_, Some(_)) if finishing => LegacyStatusResponse {
            task_id: task_id.clone(),
            status: "PROGRESS".into(),
            progress: 99.0,
            message: "Storing the results...".into(),
            measurements_collected: status.measurements_collected,
            errors: None,
            result: None,
            current: Some(total),
            total: Some(total),
        },
        ("PROGRESS", _) => LegacyStatusResponse {
            task_id: task_id.clone(),
            status: "PROGRESS".into(),
            progress: status.progress,
            message: status.message.clone(),
            measurements_collected: status.measurements_collected,
            errors: None,
            result: None,
            current: Some(done),
            total: Some(total),
        },
        ("CANCELLED", _) => LegacyStatusResponse {
            task_id: task_id.clone(),
            status: "REVOKED".into(),
            progress: 50.0,
            message: "Task state: REVOKED".into(),
            measurements_collected: 0,
            errors: None,
            result: None,
            current: None,
            total: None,
        },
        // The run finished (whatever each receiver did): Celery's state was SUCCESS.
        (_, Some(report)) => {
            let result = legacy_result(&task_id, report, &errors, &websdr_of);
            LegacyStatusResponse {
                task_id: task_id.clone(),
                status: "SUCCESS".into(),
                progress: 100.0,
                message: "Acquisition complete".into(),
                measurements_collected: report.recorded(),
                errors: Some(errors),
                result: Some(result),
                current: None,
                total: None,
            }
        }
        // The task itself failed.
        _ => LegacyStatusResponse {
            task_id: task_id.clone(),
            status: "FAILURE".into(),
            progress: 50.0,
            message: "Task state: FAILURE".into(),
            measurements_collected: 0,
            errors: Some(errors),
            result: None,
            current: None,
            total: None,
        },
    };
    Ok(axum::Json(out))
}

/// The old task result: measurements with the old field names.
fn legacy_result(
    task_id: &str,
    report: &SessionReport,
    errors: &[String],
    websdr_of: &dyn Fn(&str) -> Option<i64>,
) -> Value {
    let measurements: Vec<Value> = report
        .receivers
        .iter()
        .enumerate()
        .filter(|(_, r)| r.status.is_stored())
        .filter_map(|(i, r)| {
            let cap = r.capture.as_ref()?;
            let n = websdr_of(r.receiver.id.as_str()).unwrap_or(i as i64 + 1);
            let mut m = legacy_metadata_for(n, report.session_id, cap, r.metrics.as_ref());
            m["iq_data_path"] = r
                .objects
                .iter()
                .find(|o| o.key.ends_with(".npy") && !o.key.ends_with("_spectra.npy"))
                .or(r.objects.first())
                .map(|o| Value::from(o.key.clone()))
                .unwrap_or(Value::Null);
            Some(m)
        })
        .collect();
    let naive = |t: DateTime<Utc>| t.naive_utc().format("%Y-%m-%dT%H:%M:%S%.6f").to_string();
    json!({
        "task_id": task_id,
        "status": if measurements.is_empty() { "PARTIAL_FAILURE" } else { "SUCCESS" },
        "measurements_count": measurements.len(),
        "measurements": measurements,
        "errors": errors,
        "start_time": naive(report.started_at),
        "end_time": naive(report.finished_at),
        "frequency_mhz": report.request.frequency_hz / 1e6,
        "duration_seconds": report.request.duration.as_secs_f64(),
    })
}

/// The active WebSDRs (the old `GET /api/v1/acquisition/websdrs`).
#[utoipa::path(
    get,
    path = "/api/v1/acquisition/websdrs",
    tag = "legacy",
    responses((status = 200, description = "Active WebSDRs with their old integer ids", body = [LegacyWebsdr]))
)]
pub(crate) async fn legacy_websdrs(State(app): State<AppState>) -> Result<axum::Json<Vec<LegacyWebsdr>>, ApiError> {
    let table = websdr_table(&app).await?;
    Ok(axum::Json(
        table
            .into_iter()
            .map(|(n, r)| LegacyWebsdr {
                id: n,
                location_name: r.info.name.clone(),
                name: r.info.name,
                url: r.info.url,
                latitude: r.info.position.map(|p| p.latitude),
                longitude: r.info.position.map(|p| p.longitude),
                is_active: r.active,
                timeout_seconds: r.options.get("timeout_seconds").and_then(Value::as_u64).unwrap_or(30),
                retry_count: r.options.get("retry_count").and_then(Value::as_u64).unwrap_or(3) as u32,
            })
            .collect(),
    ))
}

/// Health of every active WebSDR, keyed by its old id (the old `GET /api/v1/acquisition/websdrs/health`).
#[utoipa::path(
    get,
    path = "/api/v1/acquisition/websdrs/health",
    tag = "legacy",
    responses((status = 200, description = "A map from websdr id to its health", body = BTreeMap<String, LegacyWebsdrHealth>))
)]
pub(crate) async fn legacy_websdrs_health(
    State(app): State<AppState>,
) -> Result<axum::Json<BTreeMap<String, LegacyWebsdrHealth>>, ApiError> {
    use heimdall_core::{MetricQuery, TimeWindow};
    let table = websdr_table(&app).await?;
    let checks = crate::routes::receivers::check_receivers(&app, table.iter().map(|(_, r)| r).collect()).await;
    let since = Utc::now() - chrono::Duration::hours(24);
    let stats = app
        .db
        .snr_stats(TimeWindow {
            since: Some(since),
            until: None,
        })
        .await
        .unwrap_or_default();
    let when = naive_now();
    let mut out = BTreeMap::new();
    for ((n, r), h) in table.iter().zip(checks) {
        let avg = stats
            .iter()
            .find(|s| s.receiver_id == r.info.id)
            .map(|s| (s.mean_db * 100.0).round() / 100.0);
        out.insert(
            n.to_string(),
            LegacyWebsdrHealth {
                websdr_id: *n,
                name: r.info.name.clone(),
                status: if h.available { "online" } else { "offline" }.into(),
                last_check: when.clone(),
                avg_snr: avg,
                error_message: (!h.available).then(|| {
                    if h.detail.is_empty() {
                        "Health check failed or timed out".to_owned()
                    } else {
                        h.detail.clone()
                    }
                }),
            },
        );
    }
    Ok(axum::Json(out))
}

/// The old `GET /api/v1/acquisition/config`.
#[utoipa::path(
    get,
    path = "/api/v1/acquisition/config",
    tag = "legacy",
    responses((status = 200, description = "Service configuration", body = LegacyConfig))
)]
pub(crate) async fn legacy_config(State(app): State<AppState>) -> Result<axum::Json<LegacyConfig>, ApiError> {
    let n = websdr_table(&app).await?.len();
    Ok(axum::Json(LegacyConfig {
        service: crate::routes::health::SERVICE_NAME.into(),
        version: env!("CARGO_PKG_VERSION").into(),
        capabilities: vec![
            "simultaneous-acquisition".into(),
            "iq-processing".into(),
            "signal-metrics".into(),
        ],
        websdrs_count: n,
        max_duration_seconds: MAX_DURATION_S,
        default_sample_rate_khz: 12.5,
    }))
}

/// Readiness: the archive and the database answer (the old `GET /ready`; `503` when not).
#[utoipa::path(
    get,
    path = "/ready",
    tag = "legacy",
    responses(
        (status = 200, description = "Ready", body = LegacyReady),
        (status = 503, description = "Not ready", body = LegacyReady),
    )
)]
pub(crate) async fn legacy_ready(State(app): State<AppState>) -> Response {
    let (store, database) = crate::routes::health::check_backends(&app).await;
    let dep = |name: &str, h: &crate::api::BackendHealth| LegacyDependency {
        name: name.into(),
        status: if h.ok { "up" } else { "down" }.into(),
        error: h.error.clone(),
    };
    let body = LegacyReady {
        ready: store.ok && database.ok,
        service: crate::routes::health::SERVICE_NAME.into(),
        dependencies: vec![dep("storage", &store), dep("database", &database)],
    };
    let code = if body.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}
