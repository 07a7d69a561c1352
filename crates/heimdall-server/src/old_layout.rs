//! The layout of the Python service Heimdall replaces (FastAPI + Celery, boto3, SQLAlchemy),
//! for a committed session (`websdr_{n}.npy` +
//! `websdr_{n}_metadata.json`, `--legacy-layout`) and the old integer receiver ids it uses.
//!
//! The old integer `websdr_id` of a receiver is its registry option `websdr_id`, else its
//! position (1-based) among the active receivers ordered by id, as the old Python (FastAPI/Celery) service numbered its
//! active stations.

use heimdall_core::{ReceiverRecord, SessionReport};
use serde_json::Value;

use crate::error::ApiError;
use crate::state::AppState;

/// The active receivers with their old integer ids.
pub(crate) async fn websdr_table(app: &AppState) -> Result<Vec<(i64, ReceiverRecord)>, ApiError> {
    use heimdall_core::ReceiverRegistry;
    let records = app.db.list_receivers(true).await.map_err(ApiError::from_core)?;
    Ok(records
        .into_iter()
        .enumerate()
        .map(|(i, r)| {
            let n = r
                .options
                .get("websdr_id")
                .and_then(Value::as_i64)
                .unwrap_or(i as i64 + 1);
            (n, r)
        })
        .collect())
}

/// Writes the old layout of a finished session when this process committed it: only the run
/// whose create-only manifest put succeeded has a committed report (another attempt's run ends
/// in AlreadyExists). Failures are
/// logged, never fatal (the session itself is committed).
pub(crate) async fn write_old_layout(app: &AppState, report: &SessionReport) {
    let session = report.session_id;
    let manifest = match app.sink.read_session_manifest(session).await {
        Ok(m) if report.committed => m,
        Ok(_) => return tracing::warn!(%session, "this run did not commit the session: old layout not written"),
        Err(e) => return tracing::warn!(%session, "not committed, old layout not written: {}", e.chain()),
    };
    let mut map = heimdall_storage::legacy::WebsdrMap::new();
    for (n, r) in websdr_table(app).await.unwrap_or_default() {
        map.insert(n, r.info);
    }
    match heimdall_storage::legacy::write_legacy_layout(&app.sink, &manifest.session, &map).await {
        Ok(objs) => tracing::info!(%session, objects = objs.len(), "old layout written"),
        Err(e) => tracing::warn!(%session, "old layout not written: {}", e.chain()),
    }
}
