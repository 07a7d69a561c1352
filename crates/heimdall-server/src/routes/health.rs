//! Health of the archive and the database.

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use heimdall_core::{IqSink, MetricStore};

use crate::api::*;
use crate::state::AppState;

/// Deadline of the archive and database health checks.
const BACKEND_HEALTH_TIMEOUT: Duration = Duration::from_secs(5);

/// Health of the archive and the database (`503` when one fails, with the cause).
#[utoipa::path(
    get,
    path = "/health",
    responses(
        (status = 200, description = "Healthy", body = HealthBody),
        (status = 503, description = "Failing", body = HealthBody),
    )
)]
pub(crate) async fn health(State(app): State<AppState>) -> Response {
    let ((store, database), queue) = tokio::join!(check_backends(&app), check_queue(&app));
    let ok = store.ok && database.ok && queue.as_ref().is_none_or(|q| q.ok);
    let body = HealthBody {
        status: if ok { "healthy" } else { "unhealthy" }.to_owned(),
        service: SERVICE_NAME.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        timestamp: chrono::Utc::now()
            .naive_utc()
            .format("%Y-%m-%dT%H:%M:%S%.6f")
            .to_string(),
        store,
        database,
        queue,
        running_acquisitions: app.running_jobs().len(),
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}

/// The old service's name, in `/health` and `/ready`.
pub(crate) const SERVICE_NAME: &str = "rf-acquisition";

/// The work queue's health check within the deadline, when there is a queue.
async fn check_queue(app: &AppState) -> Option<BackendHealth> {
    let queue = app.queue()?;
    Some(check(queue.to_string(), queue.health()).await)
}

/// One health check within [`BACKEND_HEALTH_TIMEOUT`].
async fn check(location: String, f: impl std::future::Future<Output = heimdall_core::Result<()>>) -> BackendHealth {
    let error = match tokio::time::timeout(BACKEND_HEALTH_TIMEOUT, f).await {
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(e.chain()),
        Err(_) => Some(format!("no answer within {BACKEND_HEALTH_TIMEOUT:?}")),
    };
    BackendHealth {
        ok: error.is_none(),
        location,
        error,
    }
}

/// The archive's and the database's health checks, concurrently, each within a deadline.
pub(crate) async fn check_backends(app: &AppState) -> (BackendHealth, BackendHealth) {
    tokio::join!(
        check(app.sink.to_string(), IqSink::health(&app.sink)),
        check(app.db.redacted_url(), MetricStore::health(&*app.db)),
    )
}
