//! Streaming an old `.npy` object through the analyzer.

use bytes::Bytes;
use futures::StreamExt;
use object_store::path::Path;
use object_store::{Attribute, ObjectMeta, ObjectStoreExt};
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};

use heimdall_core::dsp::{Analyzer, AnalyzerConfig};
use heimdall_core::npy::{Dtype, MAX_HEADER_LEN, NpyHeader};
use heimdall_core::{Complex32, Result};

use crate::context::Inner;

pub(super) async fn get_all(inner: &Inner, path: &Path) -> Result<Bytes> {
    let r = inner.store.get(path).await.map_err(|e| inner.map_err("get", path, e))?;
    r.bytes().await.map_err(|e| inner.map_err("read", path, e))
}

/// What streaming one old `.npy` gave.
pub(super) struct NpyRead {
    pub(super) samples: u64,
    pub(super) sha256: String,
    pub(super) metrics: heimdall_core::SignalMetrics,
    pub(super) user_metadata: Map<String, Value>,
}

/// Bytes decoded per analyser push (32 k samples).
pub(super) const DECODE_SAMPLES: usize = 32 * 1024;

/// Streams a `.npy` through the DSP with bounded memory: header checked against the object's
/// size first (a truncated file is reported before any sample is read), samples hashed and
/// analysed as they arrive. Errors are plain reasons.
pub(super) async fn stream_npy(inner: &Inner, obj: &ObjectMeta, rate: f64) -> std::result::Result<NpyRead, String> {
    let mut analyzer = Analyzer::new(AnalyzerConfig::new(rate)).map_err(|e| e.to_string())?;
    let got = inner
        .store
        .get(&obj.location)
        .await
        .map_err(|e| inner.map_err("get", &obj.location, e).to_string())?;
    let mut user_metadata = Map::new();
    for (k, v) in got.attributes.iter() {
        if let Attribute::Metadata(name) = k {
            user_metadata.insert(name.to_string(), Value::String(v.to_string()));
        }
    }
    let mut body = got.into_stream();
    let mut hasher = Sha256::new();
    let mut pending: Vec<u8> = Vec::new();
    let mut header: Option<NpyHeader> = None;
    let mut seen = 0u64;
    let mut samples = 0u64;
    let mut block: Vec<Complex32> = Vec::with_capacity(DECODE_SAMPLES);
    let location = obj.location.clone();
    loop {
        let chunk = match body.next().await {
            Some(Ok(c)) => Some(c),
            Some(Err(e)) => return Err(inner.map_err("read", &location, e).to_string()),
            None => None,
        };
        let done = chunk.is_none();
        if let Some(c) = &chunk {
            hasher.update(c);
            seen += c.len() as u64;
            pending.extend_from_slice(c);
        }
        if header.is_none() {
            let enough = pending.len() >= 12 + MAX_HEADER_LEN || done || header_complete(&pending);
            if !enough {
                continue;
            }
            let (h, offset) = NpyHeader::parse(&pending).map_err(|e| format!("not a readable .npy: {e}"))?;
            if h.dtype != Dtype::Complex64 {
                return Err(format!("holds {} samples, not complex64 (<c8) IQ", h.dtype.descr()));
            }
            let expected = offset as u64 + h.len * 8;
            if obj.size != expected {
                return Err(format!(
                    "{}: {} bytes, the header announces {} complex64 samples ({} bytes)",
                    if obj.size < expected { "truncated" } else { "too long" },
                    obj.size,
                    h.len,
                    expected
                ));
            }
            pending.drain(..offset);
            header = Some(h);
        }
        let whole = pending.len() / 8 * 8;
        let mut at = 0;
        while at < whole {
            let take = (whole - at).min(DECODE_SAMPLES * 8);
            block.clear();
            block.extend(pending[at..at + take].chunks_exact(8).map(|s| {
                Complex32::new(
                    f32::from_le_bytes([s[0], s[1], s[2], s[3]]),
                    f32::from_le_bytes([s[4], s[5], s[6], s[7]]),
                )
            }));
            analyzer.push_complex(&block).map_err(|e| e.to_string())?;
            samples += block.len() as u64;
            at += take;
        }
        pending.drain(..whole);
        if done {
            break;
        }
    }
    let h = header.ok_or("empty object")?;
    if seen != obj.size || samples != h.len || !pending.is_empty() {
        return Err(format!(
            "read {seen} bytes ({samples} samples), the listing says {} bytes and the header {} samples",
            obj.size, h.len
        ));
    }
    let analysis = analyzer.finish().map_err(|e| format!("cannot analyse: {e}"))?;
    Ok(NpyRead {
        samples,
        sha256: hex::encode(hasher.finalize()),
        metrics: analysis.metrics,
        user_metadata,
    })
}

/// Whether `buf` holds a whole `.npy` header (magic, version, length and the header itself).
pub(super) fn header_complete(buf: &[u8]) -> bool {
    if buf.len() < 10 {
        return false;
    }
    let end = match buf[6] {
        1 => 10 + usize::from(u16::from_le_bytes([buf[8], buf[9]])),
        _ if buf.len() >= 12 => 12 + u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize,
        _ => return false,
    };
    buf.len() >= end
}
