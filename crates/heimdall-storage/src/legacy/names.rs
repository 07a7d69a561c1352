//! The old Python (FastAPI/Celery) service's object names and S3 metadata values.

/// The old service's bucket.
pub const LEGACY_BUCKET: &str = "heimdall-raw-iq";
/// `data_type` user metadata of the old `.npy` objects.
pub const LEGACY_DATA_TYPE_IQ: &str = "iq_complex64";
/// `data_type` user metadata of the old `_metadata.json` objects.
pub const LEGACY_DATA_TYPE_METADATA: &str = "metadata";
/// Key of the old values in a measurement's `extra` and a capture's `extra`.
pub const LEGACY_EXTRA_KEY: &str = "legacy";

/// `websdr_{n}.npy`.
pub fn legacy_npy_name(websdr_id: i64) -> String {
    format!("websdr_{websdr_id}.npy")
}

/// `websdr_{n}_metadata.json`.
pub fn legacy_metadata_name(websdr_id: i64) -> String {
    format!("websdr_{websdr_id}_metadata.json")
}

/// Which old file a name is, and its websdr number.
pub(super) fn classify(file: &str) -> Option<(i64, bool)> {
    let rest = file.strip_prefix("websdr_")?;
    let (num, is_npy) = if let Some(n) = rest.strip_suffix("_metadata.json") {
        (n, false)
    } else {
        (rest.strip_suffix(".npy")?, true)
    };
    if num.is_empty() || !num.bytes().all(|b| b.is_ascii_digit()) || num.len() > 12 {
        return None;
    }
    Some((num.parse().ok()?, is_npy))
}
