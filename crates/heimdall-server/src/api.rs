//! The request and response bodies of the API (also its OpenAPI schemas).

use chrono::{DateTime, Utc};
use heimdall_core::redact::{redact_json, redact_url};
use heimdall_core::{ErrorReport, ReceiverRecord, SessionReport, SessionStatus};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use utoipa::ToSchema;

/// The body of `POST /api/v1/acquisitions` (the old Python (FastAPI/Celery) service's request).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AcquisitionRequestBody {
    /// Frequency to capture, MHz (> 0, ≤ 300 000).
    #[schema(example = 145.5, exclusive_minimum = 0.0, maximum = 300000.0)]
    pub frequency_mhz: f64,
    /// Capture length, seconds (> 0, ≤ 300).
    #[schema(example = 10.0, exclusive_minimum = 0.0, maximum = 300.0)]
    pub duration_seconds: f64,
    /// Common start time of every receiver (RFC 3339); omitted: as soon as possible.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<DateTime<Utc>>,
    /// Receiver subset (ids), the old service's field name; aliases `receivers`, `websdr_ids`.
    /// Integers are read as the id of the same digits. Omitted: every active receiver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub websdrs: Option<Vec<String>>,
    /// Preferred sample rate, Hz (receivers with fixed rates use theirs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(exclusive_minimum = 0.0, maximum = 1e9)]
    pub sample_rate_hz: Option<f64>,
    /// Free-form label stored with the session (≤ 1024 bytes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label: Option<String>,
}

/// `202` answer to a submission.
#[derive(Debug, Serialize, Deserialize, ToSchema)]
pub struct AcquisitionAccepted {
    /// Session id (a UUID).
    pub session_id: String,
    /// Same as `session_id` (the old service's Celery task id).
    pub task_id: String,
    /// Always `PENDING`.
    pub status: String,
    /// Number of receivers the session uses.
    pub receivers: usize,
    /// Their ids.
    pub receiver_ids: Vec<String>,
    /// Active receivers left out because no source could be built for them.
    pub skipped: Vec<SkippedReceiver>,
    /// Where to poll the status.
    pub status_url: String,
    /// Where to follow the events.
    pub events_url: String,
}

/// A receiver left out of a session.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SkippedReceiver {
    /// Receiver id.
    pub id: String,
    /// Why.
    pub reason: String,
}

/// An error as recorded by the engine.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Error kind (`unavailable`, `timeout`, `refused`...).
    pub kind: String,
    /// Message with its causes.
    pub message: String,
    /// Whether retrying could help.
    pub retryable: bool,
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
pub struct ReceiverState {
    /// Receiver id.
    pub id: String,
    /// `pending`, `connecting`, `receiving`, `retrying`, `captured`, `stored`, `failed`, or the
    /// final status (`recorded`, `stored`, `fetch_failed`, `store_failed`, `cancelled`).
    pub state: String,
    /// Samples received.
    pub samples: u64,
    /// Samples expected (0 until known).
    pub expected_samples: u64,
    /// Connection attempts so far.
    pub attempts: u32,
    /// The last error, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
}

/// Status of an acquisition.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AcquisitionStatus {
    /// Session id.
    pub session_id: String,
    /// Same as `session_id`.
    pub task_id: String,
    /// `PENDING`, `PROGRESS`, `SUCCESS`, `PARTIAL_FAILURE`, `FAILURE` or `CANCELLED`.
    pub status: String,
    /// Percent done (0-100).
    pub progress: f64,
    /// A human-readable summary.
    pub message: String,
    /// Measurement rows collected so far.
    pub measurements_collected: usize,
    /// Receivers in the session.
    pub receivers_total: usize,
    /// Per-receiver state.
    pub receivers: Vec<ReceiverState>,
    /// Per-receiver errors, by receiver id.
    pub errors: std::collections::BTreeMap<String, ErrorBody>,
    /// Session-level failure (the engine task itself failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// When the service accepted it (unknown after a restart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<DateTime<Utc>>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<DateTime<Utc>>,
    /// Where this status comes from: `engine` (this process), `database` or `archive`.
    pub source: String,
    /// The session report once finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub result: Option<Value>,
}

impl AcquisitionStatus {
    pub fn from_report(report: &SessionReport, source: &str) -> Self {
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
            progress: if report.status.is_final() { 100.0 } else { 0.0 },
            message: match report.status {
                SessionStatus::Queued => "queued: waiting for a worker".to_owned(),
                SessionStatus::Running => "running on a worker".to_owned(),
                _ => format!(
                    "{}: {} of {} receivers recorded",
                    report.status.as_str(),
                    report.recorded(),
                    report.receivers.len()
                ),
            },
            measurements_collected: report.measurements().len(),
            receivers_total: report.receivers.len(),
            receivers,
            errors,
            error: None,
            created_at: None,
            finished_at: report.status.is_final().then_some(report.finished_at),
            source: source.to_owned(),
            result: serde_json::to_value(report).ok(),
        }
    }
}

/// A receiver of the registry.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiverBody {
    /// Slug id (ASCII letters, digits, `-`, `_`).
    pub id: String,
    /// Display name.
    pub name: String,
    /// `kiwisdr`, `openwebrx`, `rtl_tcp`, `http_iq` or `simulated`.
    pub kind: String,
    /// Endpoint URL (no password).
    pub url: String,
    /// WGS84 latitude, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    /// WGS84 longitude, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    /// Altitude, metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub altitude_m: Option<f64>,
    /// Whether acquisitions use it.
    pub active: bool,
    /// Protocol options (the receivers file's keys: `mode`, `gain_db`, `sample_rate_hz`...).
    /// Secrets (`password`, `time_limit_password`, any key naming a secret) are shown as `***`;
    /// sending `***` back in a PUT keeps the stored value.
    #[schema(value_type = Object)]
    pub options: Value,
    /// When it was registered.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

impl From<&ReceiverRecord> for ReceiverBody {
    fn from(r: &ReceiverRecord) -> Self {
        ReceiverBody {
            id: r.info.id.to_string(),
            name: r.info.name.clone(),
            kind: r.info.kind.as_str().to_owned(),
            url: redact_url(&r.info.url),
            latitude: r.info.position.map(|p| p.latitude),
            longitude: r.info.position.map(|p| p.longitude),
            altitude_m: r.info.position.and_then(|p| p.altitude_m),
            active: r.active,
            options: redact_json(&r.options),
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

/// Body of `POST /api/v1/receivers` and `PUT /api/v1/receivers/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiverInput {
    /// Slug id; POST derives it from `name` when omitted; PUT takes it from the path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Display name.
    pub name: String,
    /// `kiwisdr`, `openwebrx`, `rtl_tcp`, `http_iq` or `simulated`.
    pub kind: String,
    /// Endpoint URL (no password).
    pub url: String,
    /// WGS84 latitude, degrees (required with `longitude`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latitude: Option<f64>,
    /// WGS84 longitude, degrees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub longitude: Option<f64>,
    /// Altitude, metres.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub altitude_m: Option<f64>,
    /// Protocol options (an object).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub options: Option<Value>,
    /// PUT only: `false` deactivates, `true` (or omitted) keeps it active.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub active: Option<bool>,
}

/// One receiver's health check.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReceiverHealthBody {
    /// Receiver id.
    pub id: String,
    /// Whether it can take a capture now.
    pub available: bool,
    /// Connected users, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users: Option<u32>,
    /// Maximum users, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub users_max: Option<u32>,
    /// GPS lock, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gps_locked: Option<bool>,
    /// Software version, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Detail or the error.
    pub detail: String,
    /// Check duration, milliseconds.
    pub latency_ms: u64,
}

/// SNR statistics of one receiver.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SnrStatsBody {
    /// Receiver id.
    pub receiver_id: String,
    /// Measurements counted.
    pub count: u64,
    /// Mean SNR, dB.
    pub mean_db: Option<f64>,
    /// Minimum, dB.
    pub min_db: Option<f64>,
    /// Maximum, dB.
    pub max_db: Option<f64>,
    /// Median, dB (when the database computes it).
    pub p50_db: Option<f64>,
    /// Window start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
}

/// One backend's health.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BackendHealth {
    /// Healthy?
    pub ok: bool,
    /// Where it is (credentials redacted).
    pub location: String,
    /// The cause, when failing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// `GET /health`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct HealthBody {
    /// `healthy` or `unhealthy` (the old service's words).
    pub status: String,
    /// `rf-acquisition` (the old service's name).
    pub service: String,
    /// Version.
    pub version: String,
    /// When checked (ISO 8601, UTC, no offset: the old service's format).
    pub timestamp: String,
    /// The archive.
    pub store: BackendHealth,
    /// The metrics database.
    pub database: BackendHealth,
    /// The work queue, when acquisitions go through one (`--queue`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub queue: Option<BackendHealth>,
    /// Acquisitions running in this process (with a queue: queued ones it follows).
    pub running_acquisitions: usize,
}

/// A FastAPI-style validation error.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ValidationError {
    /// One item per problem.
    pub detail: Vec<ValidationItem>,
}

/// One validation problem.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ValidationItem {
    /// Where: `["body", "frequency_mhz"]`, `["body", "websdrs", 2]`, `["query", "limit"]`.
    #[schema(value_type = Vec<LocPart>)]
    pub loc: Vec<Value>,
    /// What is wrong.
    pub msg: String,
    /// Machine-readable kind.
    #[serde(rename = "type")]
    pub kind: String,
}

/// One step of a [`ValidationItem`]'s location: a name (`"body"`, a field) or an index.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(untagged)]
pub enum LocPart {
    Name(String),
    Index(u64),
}

impl ValidationItem {
    pub fn new(loc: Vec<Value>, msg: impl Into<String>, kind: &str) -> Self {
        ValidationItem {
            loc,
            msg: msg.into(),
            kind: kind.to_owned(),
        }
    }

    pub fn body(field: &str, msg: impl Into<String>, kind: &str) -> Self {
        Self::new(vec![json!("body"), json!(field)], msg, kind)
    }
}

/// Any other error.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// What went wrong.
    pub detail: String,
}

/// Query of `GET /api/v1/measurements`.
#[derive(Debug, Clone, Default, Deserialize, ToSchema, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MeasurementsParams {
    /// Only this receiver (alias `websdr`).
    #[serde(default, alias = "websdr")]
    pub receiver: Option<String>,
    /// Only this session (alias `session_id`).
    #[serde(default, alias = "session_id")]
    pub session: Option<String>,
    /// Only target frequencies ≥ this, MHz.
    #[serde(default)]
    pub freq_min_mhz: Option<f64>,
    /// Only target frequencies ≤ this, MHz.
    #[serde(default)]
    pub freq_max_mhz: Option<f64>,
    /// Only captures at or after this RFC 3339 time.
    #[serde(default)]
    pub since: Option<String>,
    /// Only captures before this RFC 3339 time.
    #[serde(default)]
    pub until: Option<String>,
    /// At most this many rows (default 100, at most 10 000).
    #[serde(default)]
    pub limit: Option<u32>,
}

/// Query of `GET /api/v1/receivers`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListReceiversParams {
    /// Also list deactivated receivers.
    #[serde(default)]
    pub include_inactive: bool,
}

/// Query of `GET /api/v1/receivers/{id}/snr-stats`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SnrParams {
    /// Only the last this many hours (default: all time).
    #[serde(default)]
    pub hours: Option<f64>,
}
/// One archived object of a committed session, as its manifest lists it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SessionObject {
    /// File name within the session (`torino.npy`, `torino.sigmf-meta`, `torino_spectra.npy`...).
    pub name: String,
    /// Full key in the store.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 (also the download's `ETag`).
    pub sha256: String,
    /// MIME type.
    pub content_type: String,
}

pub fn status_name(s: SessionStatus) -> &'static str {
    s.as_task_state()
}
