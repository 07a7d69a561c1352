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
    pub(crate) async fn check(
        location: String,
        f: impl std::future::Future<Output = heimdall_core::Result<()>>,
    ) -> BackendHealth {
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
    let (store, database) = tokio::join!(
        check(app.sink.to_string(), IqSink::health(&app.sink)),
        check(app.db.redacted_url(), MetricStore::health(&*app.db)),
    );
    let ok = store.ok && database.ok;
    let body = HealthBody {
        status: if ok { "ok" } else { "failing" }.to_owned(),
        store,
        database,
        running_acquisitions: app.running_jobs().len(),
    };
    let code = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, axum::Json(body)).into_response()
}
