//! The routes, one module per resource. A new resource is a module here plus its lines in
//! [`router`] and in [`crate::openapi::ApiDoc`].

pub(crate) mod acquisitions;
pub(crate) mod health;
pub(crate) mod legacy;
pub(crate) mod measurements;
pub(crate) mod objects;
pub(crate) mod receivers;

use axum::Router;
use axum::http::StatusCode;
use axum::routing::get;

use crate::error::ApiError;
use crate::openapi::openapi_json;
use crate::state::AppState;
use acquisitions::{acquisition_events, acquisition_status, cancel_acquisition, submit_acquisition};
use health::health;
use legacy::{legacy_acquire, legacy_config, legacy_ready, legacy_status, legacy_websdrs, legacy_websdrs_health};
use measurements::list_measurements;
use objects::{download_session_object, list_session_objects};
use receivers::{
    create_receiver, delete_receiver, get_receiver, list_receivers, receiver_snr_stats, receivers_health,
    update_receiver,
};

/// The service's routes, ready to be served or nested in a host's own axum [`Router`]
/// (`Router::new().nest("/heimdall", heimdall_server::router(state))`).
pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health))
        .route("/api/v1/openapi.json", get(openapi_json))
        .route("/api/v1/acquisitions", axum::routing::post(submit_acquisition))
        .route(
            "/api/v1/acquisitions/{id}",
            get(acquisition_status).delete(cancel_acquisition),
        )
        .route("/api/v1/acquisitions/{id}/events", get(acquisition_events))
        .route("/api/v1/acquisitions/{id}/objects", get(list_session_objects))
        .route("/api/v1/acquisitions/{id}/objects/{name}", get(download_session_object))
        .route("/api/v1/receivers", get(list_receivers).post(create_receiver))
        .route("/api/v1/receivers/health", get(receivers_health))
        .route(
            "/api/v1/receivers/{id}",
            get(get_receiver).put(update_receiver).delete(delete_receiver),
        )
        .route("/api/v1/receivers/{id}/snr-stats", get(receiver_snr_stats))
        .route("/api/v1/measurements", get(list_measurements))
        // The old service's API (see `legacy`).
        .route("/ready", get(legacy_ready))
        .route("/api/v1/acquisition/acquire", axum::routing::post(legacy_acquire))
        .route("/api/v1/acquisition/status/{task_id}", get(legacy_status))
        .route("/api/v1/acquisition/websdrs", get(legacy_websdrs))
        .route("/api/v1/acquisition/websdrs/health", get(legacy_websdrs_health))
        .route("/api/v1/acquisition/config", get(legacy_config))
        .fallback(|| async { ApiError::not_found("no such endpoint") })
        .method_not_allowed_fallback(|| async {
            ApiError::Status(StatusCode::METHOD_NOT_ALLOWED, "method not allowed".into())
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::auth::guard))
        .with_state(state)
}
