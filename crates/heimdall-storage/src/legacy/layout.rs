//! Writing a Heimdall session in the old layout (for the old Python (FastAPI/Celery) service's clients).

use futures::StreamExt;
use object_store::path::Path;
use object_store::{Attribute, ObjectStore, ObjectStoreExt, PutMode};
use sha2::{Digest, Sha256};

use heimdall_core::{Error, Result, SessionReport, StoredObject};

use crate::context::Inner;
use crate::sink::ArchiveSink;

use super::metadata::legacy_metadata_for;
use super::names::{LEGACY_DATA_TYPE_IQ, LEGACY_DATA_TYPE_METADATA, legacy_metadata_name, legacy_npy_name};
use super::websdr_map::WebsdrMap;

/// Writes the old service's layout next to a committed session, for readers written against it
/// (a training pipeline loading `sessions/{session}/websdr_{n}.npy` and its `_metadata.json`):
/// for every recorded receiver with a `.npy`, a copy of it as `websdr_{n}.npy` (S3 user metadata
/// `websdr_id`, `task_id`, `data_type=iq_complex64`, `samples_count`) and
/// `websdr_{n}_metadata.json` ([`legacy_metadata_for`]; user metadata `websdr_id`, `task_id`,
/// `data_type=metadata`). `n` is the receiver's id in `map`, else its 1-based position in the
/// report. Objects are create-only: call it once, after the session's manifest was committed
/// (the committing attempt is the only one that gets there); a second call fails with
/// `AlreadyExists`. The committed objects and the manifest are never changed. The copy streams
/// (memory bounded by one part).
pub async fn write_legacy_layout(
    sink: &ArchiveSink,
    report: &SessionReport,
    map: &WebsdrMap,
) -> Result<Vec<StoredObject>> {
    let inner = sink.inner();
    let session = report.session_id;
    let mut written = Vec::new();
    for (i, r) in report.receivers.iter().enumerate() {
        let (Some(capture), true) = (&r.capture, r.status.is_stored()) else {
            continue;
        };
        let Some(npy) = r
            .objects
            .iter()
            .find(|o| o.key.ends_with(".npy") && !o.key.ends_with("_spectra.npy"))
        else {
            continue;
        };
        let n = map.websdr_id_of(&r.receiver.id).unwrap_or(i as i64 + 1);
        let meta_attrs = |data_type: &str| {
            let mut a = object_store::Attributes::new();
            if inner.supports_attributes {
                a.insert(Attribute::Metadata("websdr_id".into()), n.to_string().into());
                a.insert(Attribute::Metadata("task_id".into()), session.to_string().into());
                a.insert(Attribute::Metadata("data_type".into()), data_type.to_owned().into());
            }
            a
        };
        let mut attrs = meta_attrs(LEGACY_DATA_TYPE_IQ);
        if inner.supports_attributes {
            attrs.insert(
                Attribute::Metadata("samples_count".into()),
                capture.samples.to_string().into(),
            );
            attrs.insert(Attribute::ContentType, "application/octet-stream".into());
        }
        let to = inner.object_path(session, &legacy_npy_name(n))?;
        let from = Path::parse(&npy.key).map_err(|e| Error::invalid("object key", e.to_string()))?;
        written.push(copy_create(inner, &from, &to, attrs).await?);

        let doc = legacy_metadata_for(n, session, capture, r.metrics.as_ref());
        let body = serde_json::to_vec_pretty(&doc).map_err(|e| Error::invalid("legacy metadata", e.to_string()))?;
        let mut attrs = meta_attrs(LEGACY_DATA_TYPE_METADATA);
        if inner.supports_attributes {
            attrs.insert(Attribute::ContentType, "application/json".into());
        }
        let path = inner.object_path(session, &legacy_metadata_name(n))?;
        let opts = object_store::PutOptions {
            mode: PutMode::Create,
            attributes: attrs,
            ..Default::default()
        };
        let size = body.len() as u64;
        let sha256 = hex::encode(Sha256::digest(&body));
        inner
            .store
            .put_opts(&path, body.into(), opts)
            .await
            .map_err(|e| create_err(inner, &path, e))?;
        written.push(StoredObject {
            key: path.to_string(),
            size,
            sha256,
            content_type: "application/json".into(),
        });
    }
    Ok(written)
}

pub(super) fn create_err(inner: &Inner, path: &Path, e: object_store::Error) -> Error {
    match e {
        object_store::Error::AlreadyExists { .. } | object_store::Error::Precondition { .. } => Error::AlreadyExists {
            backend: inner.backend,
            key: path.to_string(),
        },
        e => inner.map_err("put", path, e),
    }
}

/// Streams `from` into a new object `to` (create-only) with `attributes`, hashing as it goes.
pub(super) async fn copy_create(
    inner: &Inner,
    from: &Path,
    to: &Path,
    attributes: object_store::Attributes,
) -> Result<StoredObject> {
    let got = inner.store.get(from).await.map_err(|e| inner.map_err("get", from, e))?;
    let size = got.meta.size;
    let mut body = got.into_stream();
    let mut hasher = Sha256::new();
    if size <= inner.part_size as u64 {
        let mut buf = Vec::with_capacity(size as usize);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| inner.map_err("read", from, e))?;
            hasher.update(&chunk);
            buf.extend_from_slice(&chunk);
        }
        let opts = object_store::PutOptions {
            mode: PutMode::Create,
            attributes,
            ..Default::default()
        };
        inner
            .store
            .put_opts(to, buf.into(), opts)
            .await
            .map_err(|e| create_err(inner, to, e))?;
    } else {
        // Multipart uploads have no create-only mode: refuse an existing target first.
        if inner.store.head(to).await.is_ok() {
            return Err(Error::AlreadyExists {
                backend: inner.backend,
                key: to.to_string(),
            });
        }
        let opts = object_store::PutMultipartOptions {
            attributes,
            ..Default::default()
        };
        let upload = inner
            .store
            .put_multipart_opts(to, opts)
            .await
            .map_err(|e| inner.map_err("multipart upload", to, e))?;
        let mut w = object_store::WriteMultipart::new_with_chunk_size(upload, inner.part_size);
        while let Some(chunk) = body.next().await {
            let chunk = match chunk {
                Ok(c) => c,
                Err(e) => {
                    let _ = w.abort().await;
                    return Err(inner.map_err("read", from, e));
                }
            };
            hasher.update(&chunk);
            if let Err(e) = w.wait_for_capacity(inner.max_concurrency).await {
                return Err(inner.map_err("multipart upload", to, e));
            }
            w.put(chunk);
        }
        w.finish().await.map_err(|e| inner.map_err("multipart upload", to, e))?;
    }
    Ok(StoredObject {
        key: to.to_string(),
        size,
        sha256: hex::encode(hasher.finalize()),
        content_type: "application/octet-stream".into(),
    })
}
