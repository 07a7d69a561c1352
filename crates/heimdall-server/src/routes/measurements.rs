//! Measurement rows.

use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use heimdall_core::{MeasurementQuery, MetricQuery, ReceiverId, SessionId};
use serde_json::json;

use crate::api::*;
use crate::error::{ApiError, query_error};
use crate::state::AppState;

/// Recent measurements, newest first.
#[utoipa::path(
    get,
    path = "/api/v1/measurements",
    params(MeasurementsParams),
    responses(
        (status = 200, description = "Measurement rows", body = Vec<Object>),
        (status = 422, description = "Invalid filter", body = ValidationError),
    )
)]
pub(crate) async fn list_measurements(
    State(app): State<AppState>,
    q: Result<Query<MeasurementsParams>, QueryRejection>,
) -> Result<axum::Json<Vec<heimdall_core::Measurement>>, ApiError> {
    let Query(p) = q.map_err(query_error)?;
    let mut errors = Vec::new();
    let qloc = |f: &str| vec![json!("query"), json!(f)];
    let mut query = MeasurementQuery {
        limit: p.limit,
        ..Default::default()
    };
    if let Some(r) = &p.receiver {
        match r.parse::<ReceiverId>() {
            Ok(id) => query.receiver = Some(id),
            Err(e) => errors.push(ValidationItem::new(qloc("receiver"), e.to_string(), "value_error")),
        }
    }
    if let Some(s) = &p.session {
        match s.parse::<SessionId>() {
            Ok(id) => query.session = Some(id),
            Err(e) => errors.push(ValidationItem::new(qloc("session"), e.to_string(), "value_error")),
        }
    }
    for (name, v, slot) in [
        ("freq_min_mhz", p.freq_min_mhz, &mut query.frequency_min_hz),
        ("freq_max_mhz", p.freq_max_mhz, &mut query.frequency_max_hz),
    ] {
        match v {
            Some(f) if f.is_finite() && f >= 0.0 => *slot = Some(f * 1e6),
            Some(f) => errors.push(ValidationItem::new(
                qloc(name),
                format!("{f} is not a frequency"),
                "value_error",
            )),
            None => {}
        }
    }
    for (name, v, slot) in [
        ("since", &p.since, &mut query.since),
        ("until", &p.until, &mut query.until),
    ] {
        if let Some(s) = v {
            match crate::backends::parse_time(s) {
                Ok(t) => *slot = Some(t),
                Err(e) => errors.push(ValidationItem::new(qloc(name), e, "datetime_parsing")),
            }
        }
    }
    if let Some(l) = p.limit
        && !(1..=MeasurementQuery::MAX_LIMIT).contains(&l)
    {
        errors.push(ValidationItem::new(
            qloc("limit"),
            format!("{l} is not within 1..={}", MeasurementQuery::MAX_LIMIT),
            "value_error",
        ));
    }
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let rows = app.db.measurements(&query).await.map_err(ApiError::from_core)?;
    Ok(axum::Json(rows))
}
