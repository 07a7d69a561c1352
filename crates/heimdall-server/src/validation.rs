//! Request validation: every problem of a body is reported at once, naming its field.

use std::time::Duration;

use chrono::Utc;
use heimdall_core::{AcquisitionRequest, Error, GeoPosition, ReceiverId, ReceiverInfo, ReceiverKind};
use serde_json::{Value, json};

use crate::api::{AcquisitionRequestBody, ReceiverInput, ValidationItem};
use crate::backends::parse_time;
use crate::error::ApiError;

/// Longest acquisition the API accepts (the old Python (FastAPI/Celery) service's limit).
pub const MAX_DURATION_SECONDS: f64 = 300.0;
/// Highest frequency accepted, MHz (300 GHz).
pub const MAX_FREQUENCY_MHZ: f64 = 300_000.0;
/// How far ahead a scheduled start may be.
pub const MAX_START_AHEAD_HOURS: i64 = 24;

/// Parses and validates a submission, collecting every problem (FastAPI style).
pub fn parse_acquisition(body: &[u8]) -> Result<AcquisitionRequestBody, ApiError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::Validation(vec![ValidationItem::new(
            vec![json!("body")],
            format!("invalid JSON: {e}"),
            "json_invalid",
        )])
    })?;
    let Value::Object(obj) = value else {
        return Err(ApiError::Validation(vec![ValidationItem::new(
            vec![json!("body")],
            "the body must be a JSON object",
            "model_type",
        )]));
    };
    let mut errors = Vec::new();
    let mut number = |name: &str, required: bool, check: &dyn Fn(f64) -> Option<String>| -> Option<f64> {
        match obj.get(name) {
            None | Some(Value::Null) if required => {
                errors.push(ValidationItem::body(name, "field required", "missing"));
                None
            }
            None | Some(Value::Null) => None,
            Some(Value::Number(n)) => match n.as_f64() {
                Some(v) => match check(v) {
                    None => Some(v),
                    Some(msg) => {
                        errors.push(ValidationItem::body(name, msg, "value_error"));
                        None
                    }
                },
                None => {
                    errors.push(ValidationItem::body(
                        name,
                        "not representable as a number",
                        "float_type",
                    ));
                    None
                }
            },
            Some(other) => {
                errors.push(ValidationItem::body(
                    name,
                    format!("must be a number, not {}", json_type(other)),
                    "float_type",
                ));
                None
            }
        }
    };
    let frequency_mhz = number("frequency_mhz", true, &|v| {
        (!(v.is_finite() && v > 0.0 && v <= MAX_FREQUENCY_MHZ))
            .then(|| format!("{v} MHz must be greater than 0 and at most {MAX_FREQUENCY_MHZ}"))
    });
    let duration_seconds = number("duration_seconds", true, &|v| {
        (!(v.is_finite() && v > 0.0 && v <= MAX_DURATION_SECONDS))
            .then(|| format!("{v} s must be greater than 0 and at most {MAX_DURATION_SECONDS}"))
    });
    let sample_rate_hz = number("sample_rate_hz", false, &|v| {
        (!(v.is_finite() && v > 0.0 && v <= heimdall_core::request::MAX_SAMPLE_RATE_HZ))
            .then(|| format!("{v} Hz must be greater than 0 and at most 1e9"))
    });
    let start_time = match obj.get("start_time") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => match parse_time(s) {
            Ok(t) if t > Utc::now() + chrono::Duration::hours(MAX_START_AHEAD_HOURS) => {
                errors.push(ValidationItem::body(
                    "start_time",
                    format!("{s} is more than {MAX_START_AHEAD_HOURS} h ahead"),
                    "value_error",
                ));
                None
            }
            Ok(t) => Some(t),
            Err(msg) => {
                errors.push(ValidationItem::body("start_time", msg, "datetime_parsing"));
                None
            }
        },
        Some(other) => {
            errors.push(ValidationItem::body(
                "start_time",
                format!("must be an RFC 3339 string, not {}", json_type(other)),
                "datetime_type",
            ));
            None
        }
    };
    let label = match obj.get("label") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.len() <= 1024 => Some(s.clone()),
        Some(Value::String(_)) => {
            errors.push(ValidationItem::body(
                "label",
                "longer than 1024 bytes",
                "string_too_long",
            ));
            None
        }
        Some(other) => {
            errors.push(ValidationItem::body(
                "label",
                format!("must be a string, not {}", json_type(other)),
                "string_type",
            ));
            None
        }
    };
    let subset_field = ["websdrs", "receivers", "websdr_ids"]
        .into_iter()
        .find(|k| obj.get(*k).is_some_and(|v| !v.is_null()));
    let websdrs = subset_field.and_then(|field| {
        let Some(Value::Array(items)) = obj.get(field) else {
            errors.push(ValidationItem::body(
                field,
                "must be a list of receiver ids",
                "list_type",
            ));
            return None;
        };
        if items.is_empty() {
            errors.push(ValidationItem::body(
                field,
                "the list is empty; omit it to use every receiver",
                "too_short",
            ));
            return None;
        }
        let mut ids = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let loc = vec![json!("body"), json!(field), json!(i)];
            let text = match item {
                Value::String(s) => s.clone(),
                Value::Number(n) if n.is_u64() => n.to_string(),
                other => {
                    errors.push(ValidationItem::new(
                        loc,
                        format!("must be a receiver id (string), not {}", json_type(other)),
                        "string_type",
                    ));
                    continue;
                }
            };
            match ReceiverId::new(text) {
                Ok(id) if ids.iter().any(|x: &String| x == id.as_str()) => {
                    errors.push(ValidationItem::new(loc, format!("{id} is listed twice"), "value_error"));
                }
                Ok(id) => ids.push(id.to_string()),
                Err(e) => errors.push(ValidationItem::new(loc, e.to_string(), "value_error")),
            }
        }
        Some(ids)
    });
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    match (frequency_mhz, duration_seconds) {
        (Some(frequency_mhz), Some(duration_seconds)) => Ok(AcquisitionRequestBody {
            frequency_mhz,
            duration_seconds,
            start_time,
            websdrs,
            sample_rate_hz,
            label,
        }),
        // Unreachable: a missing required field pushed an error above.
        _ => Err(ApiError::Validation(vec![ValidationItem::new(
            vec![json!("body")],
            "frequency_mhz and duration_seconds are required",
            "missing",
        )])),
    }
}

pub fn json_type(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

impl AcquisitionRequestBody {
    pub fn to_request(&self) -> Result<AcquisitionRequest, ApiError> {
        let duration = Duration::try_from_secs_f64(self.duration_seconds).map_err(|e| {
            ApiError::Validation(vec![ValidationItem::body(
                "duration_seconds",
                e.to_string(),
                "value_error",
            )])
        })?;
        let mut req = AcquisitionRequest::new(self.frequency_mhz * 1e6, duration);
        req.sample_rate_hz = self.sample_rate_hz;
        req.start_at = self.start_time;
        req.label = self.label.clone();
        if let Some(ids) = &self.websdrs {
            let ids: Result<Vec<ReceiverId>, _> = ids.iter().map(|s| ReceiverId::new(s.clone())).collect();
            req.receivers = Some(ids.map_err(ApiError::from_core)?);
        }
        req.validate().map_err(ApiError::from_core)?;
        Ok(req)
    }
}

/// Parses a receiver body: JSON errors and invalid values are `422` naming the field.
pub fn parse_receiver_input(
    body: &[u8],
    path_id: Option<&ReceiverId>,
) -> Result<(ReceiverInfo, Value, Option<bool>), ApiError> {
    let invalid = |e: serde_json::Error| {
        let msg = e.to_string();
        let field = msg.split('`').nth(1).map(str::to_owned);
        let mut loc = vec![json!("body")];
        if let Some(f) = field {
            loc.push(json!(f));
        }
        ApiError::Validation(vec![ValidationItem::new(loc, msg, "json_invalid")])
    };
    let mut value: Value = serde_json::from_slice(body).map_err(invalid)?;
    // A GET answer may be sent back as is: its read-only fields are ignored.
    if let Value::Object(m) = &mut value {
        m.remove("created_at");
        m.remove("updated_at");
    }
    let input: ReceiverInput = serde_json::from_value(value).map_err(invalid)?;
    let mut errors = Vec::new();
    let id = match (path_id, &input.id) {
        (Some(p), Some(b)) if p.as_str() != b => {
            errors.push(ValidationItem::body(
                "id",
                format!("{b:?} differs from the path's {p}"),
                "value_error",
            ));
            None
        }
        (Some(p), _) => Some(p.clone()),
        (None, Some(b)) => match ReceiverId::new(b.clone()) {
            Ok(id) => Some(id),
            Err(e) => {
                errors.push(ValidationItem::body("id", e.to_string(), "value_error"));
                None
            }
        },
        (None, None) => Some(ReceiverId::slugify(&input.name)),
    };
    if input.name.trim().is_empty() {
        errors.push(ValidationItem::body("name", "must not be empty", "value_error"));
    }
    let kind = match input.kind.parse::<ReceiverKind>() {
        Ok(k) => Some(k),
        Err(e) => {
            errors.push(ValidationItem::body("kind", e.to_string(), "enum"));
            None
        }
    };
    if input.url.contains('@') {
        errors.push(ValidationItem::body(
            "url",
            "must not contain credentials; put passwords in the receivers file",
            "value_error",
        ));
    }
    let position = match (input.latitude, input.longitude) {
        (Some(lat), Some(lon)) => match GeoPosition::new(lat, lon, input.altitude_m) {
            Ok(p) => Some(p),
            Err(Error::InvalidInput { field, reason }) => {
                errors.push(ValidationItem::body(field, reason, "value_error"));
                None
            }
            Err(e) => {
                errors.push(ValidationItem::body("latitude", e.to_string(), "value_error"));
                None
            }
        },
        (None, None) => None,
        (None, Some(_)) => {
            errors.push(ValidationItem::body("latitude", "required with longitude", "missing"));
            None
        }
        (Some(_), None) => {
            errors.push(ValidationItem::body("longitude", "required with latitude", "missing"));
            None
        }
    };
    let options = match input.options {
        None | Some(Value::Null) => json!({}),
        Some(v @ Value::Object(_)) => v,
        Some(_) => {
            errors.push(ValidationItem::body("options", "must be an object", "dict_type"));
            Value::Null
        }
    };
    // A recording's URL is a path on the server's disk: the API does not let a client make the
    // server read its files. Recordings replay from a receivers file or `examples/import`.
    if kind == Some(ReceiverKind::Recording) {
        errors.push(ValidationItem::body(
            "kind",
            "recordings are replayed from a receivers file or the import example, not registered over the API",
            "enum",
        ));
    }
    if kind == Some(ReceiverKind::Simulated) && position.is_none() && errors.is_empty() {
        errors.push(ValidationItem::body(
            "latitude",
            "a simulated receiver needs a position",
            "missing",
        ));
    }
    match (id, kind) {
        (Some(id), Some(kind)) if errors.is_empty() => {
            let mut info = ReceiverInfo::new(id, input.name.trim(), kind, input.url);
            info.position = position;
            Ok((info, options, input.active))
        }
        _ => Err(ApiError::Validation(errors)),
    }
}
