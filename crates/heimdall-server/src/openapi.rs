//! The OpenAPI 3.1 document of the API.

use utoipa::OpenApi;

use crate::api::*;
use crate::routes::acquisitions::*;
use crate::routes::health::*;
use crate::routes::legacy::*;
use crate::routes::measurements::*;
use crate::routes::objects::*;
use crate::routes::receivers::*;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Heimdall acquisition service",
        description = "The old acquisition REST API over the embedded Heimdall engine."
    ),
    paths(
        submit_acquisition,
        acquisition_status,
        acquisition_events,
        cancel_acquisition,
        list_session_objects,
        download_session_object,
        list_receivers,
        create_receiver,
        get_receiver,
        update_receiver,
        delete_receiver,
        receivers_health,
        receiver_snr_stats,
        list_measurements,
        health,
        openapi_json,
        legacy_acquire,
        legacy_status,
        legacy_websdrs,
        legacy_websdrs_health,
        legacy_config,
        legacy_ready,
    ),
    components(schemas(
        AcquisitionRequestBody,
        AcquisitionAccepted,
        AcquisitionStatus,
        ReceiverState,
        ErrorBody,
        SkippedReceiver,
        SessionObject,
        ReceiverBody,
        ReceiverInput,
        ReceiverHealthBody,
        SnrStatsBody,
        HealthBody,
        BackendHealth,
        ValidationError,
        ValidationItem,
        LocPart,
        ErrorDetail,
        LegacyAcquisitionRequest,
        LegacyTaskResponse,
        LegacyStatusResponse,
        LegacyWebsdr,
        LegacyWebsdrHealth,
        LegacyConfig,
        LegacyReady,
        LegacyDependency,
    )),
    tags((name = "legacy", description = "The old acquisition service's API, same paths, bodies and shapes"))
)]
#[derive(Debug)]
pub struct ApiDoc;
/// This document.
#[utoipa::path(
    get,
    path = "/api/v1/openapi.json",
    responses((status = 200, description = "OpenAPI 3.1 document", body = Object))
)]
pub async fn openapi_json() -> axum::Json<utoipa::openapi::OpenApi> {
    axum::Json(ApiDoc::openapi())
}
