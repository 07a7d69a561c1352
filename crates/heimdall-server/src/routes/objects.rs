//! A committed session's archived objects: list and download.

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use futures::StreamExt;
use heimdall_core::{Error, SessionId, StoredObject};

use crate::api::*;
use crate::error::{ApiError, parse_session};
use crate::state::AppState;

/// The manifest of a committed session (404 when there is none: running, cancelled, unknown).
pub(crate) async fn committed_manifest(
    app: &AppState,
    id: SessionId,
) -> Result<heimdall_storage::SessionManifest, ApiError> {
    match app.sink.read_session_manifest(id).await {
        Ok(m) => Ok(m),
        Err(Error::NotFound { .. }) => Err(ApiError::not_found(format!(
            "no committed archive for acquisition {id} (unknown, still running, cancelled or failed)"
        ))),
        Err(e) => Err(ApiError::from_core(e)),
    }
}

pub(crate) fn session_object(o: &StoredObject) -> SessionObject {
    SessionObject {
        name: o.key.rsplit('/').next().unwrap_or(&o.key).to_owned(),
        key: o.key.clone(),
        size: o.size,
        sha256: o.sha256.clone(),
        content_type: o.content_type.clone(),
    }
}

/// Every archived object of a committed acquisition (captures, metadata, SigMF, spectra), from
/// its manifest, with size and SHA-256.
#[utoipa::path(
    get,
    path = "/api/v1/acquisitions/{id}/objects",
    params(("id" = String, Path, description = "Session id")),
    responses(
        (status = 200, description = "The objects", body = [SessionObject]),
        (status = 404, description = "No committed archive for this id", body = ErrorDetail),
    )
)]
pub(crate) async fn list_session_objects(
    State(app): State<AppState>,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<SessionObject>>, ApiError> {
    let id = parse_session(&id)?;
    let manifest = committed_manifest(&app, id).await?;
    Ok(axum::Json(manifest.objects.iter().map(session_object).collect()))
}

/// Downloads one archived object, streamed from the store (a 1 GiB capture never sits in the
/// service's memory). `ETag` is the SHA-256 the manifest lists; only objects the manifest lists
/// are served.
#[utoipa::path(
    get,
    path = "/api/v1/acquisitions/{id}/objects/{name}",
    params(
        ("id" = String, Path, description = "Session id"),
        ("name" = String, Path, description = "File name, as listed by `/objects`"),
    ),
    responses(
        (status = 200, description = "The object's bytes", content_type = "application/octet-stream", body = Vec<u8>),
        (status = 404, description = "No such committed object", body = ErrorDetail),
    )
)]
pub(crate) async fn download_session_object(
    State(app): State<AppState>,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let id = parse_session(&id)?;
    let manifest = committed_manifest(&app, id).await?;
    let Some(obj) = manifest
        .objects
        .iter()
        .find(|o| o.key.rsplit('/').next() == Some(name.as_str()))
    else {
        return Err(ApiError::not_found(format!("acquisition {id} has no object {name:?}")));
    };
    // Size and SHA-256 are checked as the bytes go by: a damaged object ends the response with
    // an error (the connection is cut, never a clean end) instead of serving it as good.
    let bytes = app.sink.get_verified_stream(obj).await.map_err(ApiError::from_core)?;
    let body = axum::body::Body::from_stream(bytes.inspect(|r| {
        if let Err(e) = r {
            tracing::error!(error = %e.chain(), "object download aborted: it differs from its manifest");
        }
    }));
    let content_type = if obj.content_type.is_empty() {
        "application/octet-stream"
    } else {
        obj.content_type.as_str()
    };
    Ok((
        [
            (axum::http::header::CONTENT_TYPE, content_type.to_owned()),
            (axum::http::header::CONTENT_LENGTH, obj.size.to_string()),
            (axum::http::header::ETAG, format!("\"{}\"", obj.sha256)),
            (
                axum::http::header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        body,
    )
        .into_response())
}
