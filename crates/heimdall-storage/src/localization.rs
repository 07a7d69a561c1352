//! `localization.json`: where a committed session's transmitter was located, kept with the
//! session in the archive.
//!
//! ```text
//! sessions/{session}/manifest.json        the commit marker (never rewritten)
//! sessions/{session}/localization.json    the localization, written after the commit, once
//! ```
//!
//! A committed session never changes, so the localization is not added to its manifest: it is
//! one self-describing object next to it, [`LocalizationDocument`]:
//!
//! ```json
//! {
//!   "format": "heimdall-localization",
//!   "format_version": 1,
//!   "session_id": "0193...",
//!   "writer": "heimdall 0.1.0",
//!   "written_at": "2026-11-30T10:11:12.345678901Z",
//!   "result_sha256": "5be1...",
//!   "result": { "latitude": 44.93, "longitude": 8.21, "error_ellipse_m": { ... }, ... }
//! }
//! ```
//!
//! - **All or nothing**: the document is written with one create-only put (`If-None-Match: *`
//!   on S3, no-clobber link on disk), so a reader sees the whole document or none, and a second
//!   localization of the session is refused with [`Error::AlreadyExists`], never overwriting the
//!   first. It is written only once the session's manifest exists ([`Error::NotFound`] before).
//! - **Verified**: `result_sha256` is the SHA-256 (lower-case hex) of the canonical form of
//!   `result`: compact JSON with every object's keys sorted (byte order), numbers as `serde_json`
//!   writes them. [`ArchiveSink::read_localization`] recomputes it over the parsed `result` and
//!   checks the format, its version and the session id: any damage is an [`Error::Malformed`]
//!   naming the key.
//! - **Kept**: the garbage collector never removes a file at a committed session's top level
//!   (see [`crate::gc`]).
//! - `result` is the localization's JSON as `heimdall-locate` serialises it (`latitude`,
//!   `longitude`, `error_ellipse_m`, `method`, `stations_used`, `stations_rejected`, pairs,
//!   clocks, notes...); this crate does not interpret it.

use chrono::{DateTime, Utc};
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use heimdall_core::{Error, Result, SessionId, StoredObject};

use crate::context::MANIFEST;
use crate::formats::recorder;
use crate::sink::{ArchiveSink, sha256_hex};
use crate::upload::put_create_only;

/// Name of the localization object in a session's folder.
pub const LOCALIZATION: &str = "localization.json";
/// `format` of a [`LocalizationDocument`].
pub const LOCALIZATION_FORMAT: &str = "heimdall-localization";
/// Version of the [`LocalizationDocument`] layout.
pub const LOCALIZATION_FORMAT_VERSION: u32 = 1;
/// Largest `localization.json` read back (a result is a few kB; more is not ours).
pub const MAX_LOCALIZATION_BYTES: u64 = 16 * 1024 * 1024;

/// The content of `localization.json` (see the [module docs](self)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LocalizationDocument {
    /// Always [`LOCALIZATION_FORMAT`].
    pub format: String,
    /// [`LOCALIZATION_FORMAT_VERSION`].
    pub format_version: u32,
    /// The session located.
    pub session_id: SessionId,
    /// Who wrote it (`heimdall <version>`).
    pub writer: String,
    /// When it was written.
    pub written_at: DateTime<Utc>,
    /// SHA-256 of the canonical form of `result` ([`canonical_json`]), lower-case hex.
    pub result_sha256: String,
    /// The localization result.
    pub result: Value,
}

/// The canonical form of a JSON value: compact, every object's keys sorted by their bytes.
pub fn canonical_json(v: &Value) -> Vec<u8> {
    fn write(v: &Value, out: &mut Vec<u8>) {
        match v {
            Value::Object(m) => {
                let mut keys: Vec<&String> = m.keys().collect();
                keys.sort_unstable();
                out.push(b'{');
                for (i, k) in keys.into_iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    // Serialising a string or a Value into a Vec cannot fail.
                    let _ = serde_json::to_writer(&mut *out, k);
                    out.push(b':');
                    write(&m[k], out);
                }
                out.push(b'}');
            }
            Value::Array(a) => {
                out.push(b'[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write(x, out);
                }
                out.push(b']');
            }
            scalar => {
                let _ = serde_json::to_writer(&mut *out, scalar);
            }
        }
    }
    let mut out = Vec::new();
    write(v, &mut out);
    out
}

impl LocalizationDocument {
    /// A document for `session` holding `result`, written now.
    pub fn new(session_id: SessionId, result: Value) -> Self {
        LocalizationDocument {
            format: LOCALIZATION_FORMAT.into(),
            format_version: LOCALIZATION_FORMAT_VERSION,
            session_id,
            writer: recorder(),
            written_at: Utc::now(),
            result_sha256: sha256_hex(&canonical_json(&result)),
            result,
        }
    }

    /// Checks the format, version, session and checksum; the reason when one is off.
    pub fn verify(&self, session: SessionId) -> std::result::Result<(), String> {
        if self.format != LOCALIZATION_FORMAT
            || self.format_version == 0
            || self.format_version > LOCALIZATION_FORMAT_VERSION
        {
            return Err(format!(
                "format {:?} version {} is not supported (expected {LOCALIZATION_FORMAT:?} <= {LOCALIZATION_FORMAT_VERSION})",
                self.format, self.format_version
            ));
        }
        if self.session_id != session {
            return Err(format!("localization is for session {}", self.session_id));
        }
        let sha = sha256_hex(&canonical_json(&self.result));
        if sha != self.result_sha256 {
            return Err(format!(
                "checksum mismatch: result SHA-256 {sha}, document says {}",
                self.result_sha256
            ));
        }
        Ok(())
    }
}

impl ArchiveSink {
    /// Writes `sessions/{session}/localization.json` holding `result` with one create-only put,
    /// once the session is committed. [`Error::NotFound`] when the session has no manifest,
    /// [`Error::AlreadyExists`] when it already has a localization (which is left untouched),
    /// [`Error::InvalidInput`] when `result` is not a JSON object. See the [module docs](self).
    pub async fn write_localization(
        &self,
        session: SessionId,
        result: &Value,
    ) -> Result<(LocalizationDocument, StoredObject)> {
        if !result.is_object() {
            return Err(Error::invalid("localization", "the result is not a JSON object"));
        }
        let inner = self.inner();
        let manifest = inner.object_path(session, MANIFEST)?;
        if !self.exists(&manifest).await? {
            return Err(Error::NotFound {
                backend: inner.backend,
                key: manifest.to_string(),
            });
        }
        let path = inner.object_path(session, LOCALIZATION)?;
        let doc = LocalizationDocument::new(session, result.clone());
        let body = serde_json::to_vec_pretty(&doc).map_err(|e| Error::Storage {
            backend: inner.backend,
            operation: "serialise",
            key: path.to_string(),
            retryable: false,
            source: Box::new(e),
        })?;
        let stored = put_create_only(inner, &path, "application/json", body).await?;
        Ok((doc, stored))
    }

    /// The localization of `session` (`None` when it has none), verified: format, version,
    /// session id and `result_sha256`; a damaged or foreign document is an [`Error::Malformed`].
    pub async fn read_localization(&self, session: SessionId) -> Result<Option<LocalizationDocument>> {
        let inner = self.inner();
        let path = inner.object_path(session, LOCALIZATION)?;
        let bad = |reason: String| Error::Malformed {
            backend: inner.backend,
            origin: path.to_string(),
            reason,
        };
        let got = match inner.store.get(&path).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(inner.map_err("get", &path, e)),
        };
        if got.meta.size > MAX_LOCALIZATION_BYTES {
            return Err(bad(format!(
                "{} bytes, more than the {MAX_LOCALIZATION_BYTES} a localization may have",
                got.meta.size
            )));
        }
        let bytes = got.bytes().await.map_err(|e| inner.map_err("read", &path, e))?;
        let doc: LocalizationDocument =
            serde_json::from_slice(&bytes).map_err(|e| bad(format!("not a localization document: {e}")))?;
        doc.verify(session).map_err(bad)?;
        Ok(Some(doc))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_form_sorts_keys_at_every_level_and_survives_a_round_trip() {
        let v = serde_json::json!({"b": [1, {"z": 1.5e-7, "a": "é\""}], "a": null, "c": -0.0});
        let c = canonical_json(&v);
        assert_eq!(
            String::from_utf8(c.clone()).unwrap(),
            r#"{"a":null,"b":[1,{"a":"é\"","z":1.5e-7}],"c":-0.0}"#
        );
        let pretty = serde_json::to_string_pretty(&v).unwrap();
        let back: Value = serde_json::from_str(&pretty).unwrap();
        assert_eq!(canonical_json(&back), c);
    }

    #[test]
    fn verify_names_what_is_off() {
        let s = SessionId::new();
        let doc = LocalizationDocument::new(s, serde_json::json!({"latitude": 1.0}));
        doc.verify(s).unwrap();
        assert!(doc.verify(SessionId::new()).unwrap_err().contains("for session"));
        let mut d = doc.clone();
        d.result["latitude"] = serde_json::json!(1.0000001);
        assert!(d.verify(s).unwrap_err().contains("checksum mismatch"));
        let mut d = doc.clone();
        d.format_version = 2;
        assert!(d.verify(s).unwrap_err().contains("not supported"));
    }
}
