//! Error answers: `422` with FastAPI-style items, or a status with `{"detail": "..."}`.

use axum::extract::rejection::QueryRejection;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use heimdall_core::{Error, ReceiverId, SessionId};
use serde_json::json;

use crate::api::{ErrorDetail, ValidationError, ValidationItem};

/// What a `503` says to wait when the failing part does not say.
pub const DEFAULT_RETRY_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

/// An error answer: `422` with FastAPI-style items, or a status with `{"detail": "..."}`.
#[derive(Debug)]
pub enum ApiError {
    Validation(Vec<ValidationItem>),
    Status(StatusCode, String),
    /// `429` or `503` with a `Retry-After` (whole seconds, at least 1): the client may come
    /// back after that time.
    Busy {
        status: StatusCode,
        detail: String,
        retry_after: std::time::Duration,
    },
}

impl ApiError {
    pub fn not_found(what: impl Into<String>) -> Self {
        ApiError::Status(StatusCode::NOT_FOUND, what.into())
    }

    /// Maps a library error to the status a client can act on.
    pub fn from_core(e: Error) -> Self {
        let status = match &e {
            Error::InvalidInput { field, reason } => {
                return ApiError::Validation(vec![ValidationItem::body(field, reason.clone(), "value_error")]);
            }
            Error::NotFound { .. } => StatusCode::NOT_FOUND,
            Error::AlreadyExists { .. } => StatusCode::CONFLICT,
            _ if e.is_retryable() || matches!(e, Error::Unavailable { .. } | Error::Timeout { .. }) => {
                tracing::warn!("request failed, retryable: {}", e.chain());
                return ApiError::Busy {
                    status: StatusCode::SERVICE_UNAVAILABLE,
                    retry_after: e.retry_after().unwrap_or(DEFAULT_RETRY_AFTER),
                    detail: e.chain(),
                };
            }
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
            ApiError::Busy {
                status,
                detail,
                retry_after,
            } => {
                // Whole seconds, rounded up: a client never comes back too early.
                let secs = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
                (
                    status,
                    [(axum::http::header::RETRY_AFTER, secs.max(1).to_string())],
                    axum::Json(ErrorDetail { detail }),
                )
                    .into_response()
            }
        }
    }
}

pub fn query_error(e: QueryRejection) -> ApiError {
    ApiError::Validation(vec![ValidationItem::new(
        vec![json!("query")],
        e.body_text(),
        "query_error",
    )])
}

/// A session id from the path; anything else cannot name a session (`404`).
pub fn parse_session(id: &str) -> Result<SessionId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("no acquisition {id:?} (not a session id)")))
}

/// A receiver id from the path; anything else cannot name a receiver (`404`).
pub fn parse_receiver(id: &str) -> Result<ReceiverId, ApiError> {
    id.parse()
        .map_err(|_| ApiError::not_found(format!("no receiver {id:?} (not a receiver id)")))
}
