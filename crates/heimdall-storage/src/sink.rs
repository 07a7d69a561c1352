//! [`ArchiveSink`]: the [`IqSink`] and [`IqArchive`] over an object store.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt, PutMode};
use sha2::{Digest, Sha256, Sha512};

use heimdall_core::{
    ArchivedCapture, ArchivedCaptureStream, CaptureInfo, CaptureWriter, Error, IqArchive, IqSink, ReceiverId, Result,
    SampleBlock, SampleFormat, SessionAttempt, SessionId, SessionReport, SpectrumFrame, StoredObject,
};

use crate::context::{
    Cleanup, DEFAULT_MAX_CONCURRENCY, DEFAULT_MAX_PARTS_IN_FLIGHT, DEFAULT_PART_SIZE, Inner, MANIFEST, SESSIONS_DIR,
};
use crate::formats::{self, ArchiveFormat, CollectionStream, FORMAT_VERSION, MANIFEST_FORMAT, SessionManifest};
use crate::reader::Layout;
use crate::s3_uploads::PendingUpload;
use crate::spectra::SpectraIndex;
use crate::upload::{put_create_only, put_small};
use crate::writer::ArchiveWriter;
use object_store::multipart::MultipartStore;

/// An [`IqSink`] and [`IqArchive`] over any `object_store` store (S3-compatible, local disk,
/// memory).
///
/// Layout under the prefix, per session (`{attempt}` is the [`SessionAttempt`] token of the
/// attempt that wrote the objects; the manifest names the objects of the one that committed):
///
/// ```text
/// sessions/{session_id}/{attempt}/{receiver_id}.npy              numpy '<c8' (IQ) or '<f4' (audio), v1.0 header
/// sessions/{session_id}/{attempt}/{receiver_id}_metadata.json    the old Python (FastAPI/Celery) service's fields + Heimdall's
/// sessions/{session_id}/{attempt}/{receiver_id}.sigmf-data       raw cf32_le / rf32_le samples (SigMF only, no .npy)
/// sessions/{session_id}/{attempt}/{receiver_id}.sigmf-meta       SigMF 1.2.6 metadata: of the .sigmf-data (core:sha512),
///                                                                or of the .npy (core:dataset, core:header_bytes)
/// sessions/{session_id}/{attempt}/{session_id}.sigmf-collection  SigMF collection of the session (if SigMF)
/// sessions/{session_id}/manifest.json                            commit marker, created only if absent
/// sessions/{session_id}/localization.json                        the localization, written once after the commit
/// ```
///
/// A committed session never changes: [`IqSink::begin_session`] refuses it before anything is
/// written, attempts never share a key, the manifest is created with a create-only put
/// (`If-None-Match: *` on S3, no-clobber on disk), and [`IqSink::abort_session`] only removes
/// the objects of an attempt that did not commit.
///
/// Build one with [`crate::ArchiveBuilder`] or [`ArchiveSink::new`].
#[derive(Clone)]
pub struct ArchiveSink {
    inner: Arc<Inner>,
}

impl fmt::Debug for ArchiveSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.inner, f)
    }
}

impl fmt::Display for ArchiveSink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.inner.location)
    }
}

impl ArchiveSink {
    pub(crate) fn from_inner(inner: Inner) -> Self {
        ArchiveSink { inner: Arc::new(inner) }
    }

    /// The shared state (for the other modules of this crate).
    pub(crate) fn inner(&self) -> &Arc<Inner> {
        &self.inner
    }

    /// A sink over an existing store under `prefix`, writing `format`, with default part size
    /// and concurrency. No attributes (content types) are sent, so any store works.
    /// `backend` names the store in errors (`"s3"`, `"local"`, `"memory"`...).
    pub fn new(store: Arc<dyn ObjectStore>, prefix: Path, format: ArchiveFormat, backend: &'static str) -> Self {
        let location = format!("{store} under {prefix:?}");
        ArchiveSink::from_inner(Inner {
            store,
            prefix,
            backend,
            location,
            format,
            part_size: DEFAULT_PART_SIZE,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            parts_in_flight: Arc::new(tokio::sync::Semaphore::new(DEFAULT_MAX_PARTS_IN_FLIGHT)),
            max_parts_in_flight: DEFAULT_MAX_PARTS_IN_FLIGHT,
            part_pool: crate::part_buffer::PartPool::new(DEFAULT_MAX_PARTS_IN_FLIGHT + 1),
            supports_attributes: false,
            collection: true,
            max_spectra_bytes: crate::spectra::DEFAULT_MAX_SPECTRA_BYTES,
            cleanup: Cleanup::Nothing,
        })
    }

    /// The underlying store.
    pub fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner.store
    }

    /// The prefix every key starts with.
    pub fn prefix(&self) -> &Path {
        &self.inner.prefix
    }

    /// The files written per capture.
    pub fn format(&self) -> ArchiveFormat {
        self.inner.format
    }

    /// The key of the folder of `session`.
    pub fn session_dir(&self, session: SessionId) -> Path {
        self.inner.session_dir(session)
    }

    /// Reads a whole object (for small objects and tests).
    pub async fn get_bytes(&self, key: &str) -> Result<Bytes> {
        let path = Path::parse(key).map_err(|e| Error::invalid("object key", e.to_string()))?;
        self.get(&path).await
    }

    /// Streams an object of a committed session as the store delivers it, checking its size
    /// and SHA-256 against `expected` (an entry of the manifest) as the bytes go by: a mismatch
    /// (or a body longer than announced) is the stream's last item, an error, so a consumer
    /// (an HTTP download, a copy) never takes a damaged object for a whole one.
    pub async fn get_verified_stream(
        &self,
        expected: &StoredObject,
    ) -> Result<futures::stream::BoxStream<'static, Result<Bytes>>> {
        let inner = self.inner.clone();
        let path = Path::parse(&expected.key).map_err(|e| Error::invalid("object key", e.to_string()))?;
        let body = inner
            .store
            .get(&path)
            .await
            .map_err(|e| inner.map_err("get", &path, e))?
            .into_stream();
        struct State {
            body: futures::stream::BoxStream<'static, object_store::Result<Bytes>>,
            hasher: Option<Sha256>,
            size: u64,
        }
        let expected = expected.clone();
        let state = State {
            body: body.boxed(),
            hasher: Some(Sha256::new()),
            size: 0,
        };
        Ok(futures::stream::unfold(state, move |mut st| {
            let (inner, path, expected) = (inner.clone(), path.clone(), expected.clone());
            async move {
                let hasher = st.hasher.as_mut()?;
                let bad = |reason: String| Error::Malformed {
                    backend: inner.backend,
                    origin: expected.key.clone(),
                    reason,
                };
                match st.body.next().await {
                    Some(Ok(chunk)) => {
                        st.size += chunk.len() as u64;
                        if st.size > expected.size {
                            st.hasher = None;
                            return Some((
                                Err(bad(format!("longer than the manifest's {} bytes", expected.size))),
                                st,
                            ));
                        }
                        hasher.update(&chunk);
                        Some((Ok(chunk), st))
                    }
                    Some(Err(e)) => {
                        st.hasher = None;
                        Some((Err(inner.map_err("read", &path, e)), st))
                    }
                    None => {
                        let digest = hex::encode(st.hasher.take()?.finalize());
                        match crate::reader::check_object(&expected, st.size, &digest) {
                            Ok(()) => None,
                            Err(reason) => Some((Err(bad(reason)), st)),
                        }
                    }
                }
            }
        })
        .boxed())
    }

    /// Reads every object the manifest of `session` lists and checks its size and SHA-256
    /// (streamed: memory stays bounded); returns the objects and bytes verified.
    pub async fn verify_session(&self, session: SessionId) -> Result<(u64, u64)> {
        let m = self.read_session_manifest(session).await?;
        let (mut objects, mut bytes) = (0u64, 0u64);
        for o in &m.objects {
            let mut s = self.get_verified_stream(o).await?;
            while let Some(chunk) = s.next().await {
                bytes += chunk?.len() as u64;
            }
            objects += 1;
        }
        Ok((objects, bytes))
    }

    async fn get(&self, path: &Path) -> Result<Bytes> {
        let inner = &self.inner;
        let r = inner.store.get(path).await.map_err(|e| inner.map_err("get", path, e))?;
        r.bytes().await.map_err(|e| inner.map_err("read", path, e))
    }

    /// The manifest of a committed session with its object list.
    pub async fn read_session_manifest(&self, session: SessionId) -> Result<SessionManifest> {
        let path = self.inner.object_path(session, MANIFEST)?;
        let bytes = self.get(&path).await?;
        let m: SessionManifest = serde_json::from_slice(&bytes).map_err(|e| Error::Malformed {
            backend: self.inner.backend,
            origin: path.to_string(),
            reason: format!("not a session manifest: {e}"),
        })?;
        if m.format != MANIFEST_FORMAT || m.format_version > FORMAT_VERSION {
            return Err(Error::Malformed {
                backend: self.inner.backend,
                origin: path.to_string(),
                reason: format!(
                    "manifest format {:?} version {} is not supported (expected {MANIFEST_FORMAT:?} <= {FORMAT_VERSION})",
                    m.format, m.format_version
                ),
            });
        }
        if m.session.session_id != session {
            return Err(Error::Malformed {
                backend: self.inner.backend,
                origin: path.to_string(),
                reason: format!("manifest is for session {}", m.session.session_id),
            });
        }
        let mut m = m;
        m.session.committed = true;
        Ok(m)
    }

    async fn list_session(&self, session: SessionId) -> Result<Vec<object_store::ObjectMeta>> {
        self.list_under(&self.inner.session_dir(session)).await
    }

    /// Every object under `dir`, sorted by key.
    pub(crate) async fn list_under(&self, dir: &Path) -> Result<Vec<object_store::ObjectMeta>> {
        let inner = &self.inner;
        let mut out: Vec<object_store::ObjectMeta> = inner
            .store
            .list(Some(dir))
            .try_collect()
            .await
            .map_err(|e| inner.map_err("list", dir, e))?;
        out.sort_by(|a, b| a.location.cmp(&b.location));
        Ok(out)
    }

    /// Aborts the incomplete multipart uploads under `dir` (all of them, or with `older` =
    /// `(cutoff, dry_run)` those initiated before `cutoff`, listing only when `dry_run`), and
    /// returns them. Nothing to do unless the store is S3.
    pub(crate) async fn abort_uploads_under(
        &self,
        dir: &Path,
        older: Option<(DateTime<Utc>, bool)>,
    ) -> Result<Vec<PendingUpload>> {
        let inner = &self.inner;
        let Cleanup::S3(s3) = &inner.cleanup else {
            return Ok(Vec::new());
        };
        let mut prefix = dir.to_string();
        prefix.push('/');
        let uploads = s3.list(&prefix).await?;
        let mut out = Vec::new();
        for u in uploads {
            if let Some((cutoff, _)) = older
                && u.initiated >= cutoff
            {
                continue;
            }
            if !older.is_some_and(|(_, dry)| dry) {
                let path = Path::parse(&u.key).map_err(|e| Error::invalid("object key", e.to_string()))?;
                match s3.store.abort_multipart(&path, &u.upload_id).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(inner.map_err("abort multipart upload", &path, e)),
                }
            }
            out.push(u);
        }
        Ok(out)
    }

    /// The attempt whose objects the manifest of `session` lists, if the session is committed
    /// (`None` for a session committed before attempts existed: its objects are not scoped).
    pub(crate) async fn committed_attempt(&self, session: SessionId) -> Result<Option<heimdall_core::AttemptId>> {
        let m = match self.read_session_manifest(session).await {
            Ok(m) => m,
            Err(Error::NotFound { .. }) => return Ok(None),
            Err(e) => return Err(e),
        };
        Ok(m.attempt)
    }

    pub(crate) async fn exists(&self, path: &Path) -> Result<bool> {
        match self.inner.store.head(path).await {
            Ok(_) => Ok(true),
            Err(object_store::Error::NotFound { .. }) => Ok(false),
            Err(e) => Err(self.inner.map_err("head", path, e)),
        }
    }

    pub(crate) async fn delete_all(&self, paths: Vec<Path>) -> Result<()> {
        if paths.is_empty() {
            return Ok(());
        }
        let inner = &self.inner;
        let stream = futures::stream::iter(paths.into_iter().map(Ok)).boxed();
        let mut results = inner.store.delete_stream(stream);
        while let Some(r) = results.next().await {
            match r {
                Ok(_) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(inner.map_err("delete", &inner.prefix, e)),
            }
        }
        Ok(())
    }
}

/// SHA-256 of `b`, lower-case hex (as manifests and `localization.json` list it).
pub(crate) fn sha256_hex(b: &[u8]) -> String {
    hex::encode(Sha256::digest(b))
}

#[async_trait]
impl IqSink for ArchiveSink {
    async fn begin_session(&self, session: SessionId) -> Result<SessionAttempt> {
        let manifest_path = self.inner.object_path(session, MANIFEST)?;
        if self.exists(&manifest_path).await? {
            return Err(Error::AlreadyExists {
                backend: self.inner.backend,
                key: manifest_path.to_string(),
            });
        }
        Ok(SessionAttempt::new(session))
    }

    async fn begin_capture(&self, attempt: &SessionAttempt, info: &CaptureInfo) -> Result<Box<dyn CaptureWriter>> {
        let w = ArchiveWriter::begin(self.inner.clone(), attempt.clone(), info).await?;
        Ok(Box::new(w))
    }

    async fn commit_session(&self, attempt: &SessionAttempt, report: &SessionReport) -> Result<StoredObject> {
        let inner = &self.inner;
        let session = attempt.session;
        if report.session_id != session {
            return Err(Error::invalid(
                "session report",
                format!("report of session {} committed as {attempt}", report.session_id),
            ));
        }
        let manifest_path = inner.object_path(session, MANIFEST)?;
        // Fail early (and cheaply) when another attempt committed; the create-only put below
        // settles a race between two attempts committing at the same moment.
        if self.exists(&manifest_path).await? {
            return Err(Error::AlreadyExists {
                backend: inner.backend,
                key: manifest_path.to_string(),
            });
        }
        let dir = inner.attempt_dir(attempt);
        let listed: BTreeMap<String, u64> = self
            .list_under(&dir)
            .await?
            .into_iter()
            .map(|m| (m.location.to_string(), m.size))
            .collect();
        let mut objects = Vec::new();
        for r in &report.receivers {
            for o in &r.objects {
                let p = Path::parse(&o.key).map_err(|e| Error::invalid("object key", e.to_string()))?;
                if !p.prefix_matches(&dir) {
                    return Err(Error::invalid(
                        "session report",
                        format!(
                            "object {} of receiver {} was not written by attempt {attempt}",
                            o.key, r.receiver.id
                        ),
                    ));
                }
                match listed.get(&o.key) {
                    Some(size) if *size == o.size => objects.push(o.clone()),
                    Some(size) => {
                        return Err(Error::invalid(
                            "session report",
                            format!(
                                "object {} has {size} bytes in the store, the report says {}",
                                o.key, o.size
                            ),
                        ));
                    }
                    None => {
                        return Err(Error::invalid(
                            "session report",
                            format!("object {} of receiver {} is not in the store", o.key, r.receiver.id),
                        ));
                    }
                }
            }
        }
        for key in listed.keys() {
            if !objects.iter().any(|o| &o.key == key) {
                tracing::warn!(key, session = %session, "object of this attempt is not in the report");
            }
        }

        // SigMF collection of the receivers with SigMF metadata.
        if inner.format.sigmf() && inner.collection {
            let mut streams = Vec::new();
            for r in &report.receivers {
                if let Some(meta) = r.objects.iter().find(|o| o.key.ends_with(".sigmf-meta")) {
                    let p = Path::parse(&meta.key).map_err(|e| Error::invalid("object key", e.to_string()))?;
                    let bytes = self.get(&p).await?;
                    streams.push(CollectionStream {
                        name: r.receiver.id.to_string(),
                        meta_sha512: hex::encode(Sha512::digest(&bytes)),
                    });
                }
            }
            if !streams.is_empty() {
                let doc = formats::sigmf_collection(report, &streams);
                let path = inner.attempt_path(attempt, &format!("{session}.sigmf-collection"))?;
                let body = serde_json::to_vec_pretty(&doc).map_err(|e| json_err(inner, &path, e))?;
                objects.push(put_small(inner, &path, "application/json", body, PutMode::Overwrite).await?);
            }
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));

        let mut committed = report.clone();
        committed.committed = false;
        let manifest = SessionManifest {
            format: MANIFEST_FORMAT.into(),
            format_version: FORMAT_VERSION,
            writer: formats::recorder(),
            committed_at: Utc::now(),
            attempt: Some(attempt.attempt.clone()),
            session: committed,
            objects,
        };
        let body = serde_json::to_vec_pretty(&manifest).map_err(|e| json_err(inner, &manifest_path, e))?;
        put_create_only(inner, &manifest_path, "application/json", body).await
    }

    async fn abort_session(&self, attempt: &SessionAttempt) -> Result<()> {
        if self.committed_attempt(attempt.session).await?.as_ref() == Some(&attempt.attempt) {
            return Err(Error::invalid(
                "session",
                format!("attempt {attempt} is committed; refusing to delete it"),
            ));
        }
        let dir = self.inner.attempt_dir(attempt);
        let paths = self.list_under(&dir).await?.into_iter().map(|m| m.location).collect();
        self.delete_all(paths).await?;
        // Multipart uploads this attempt left open (a failed write that could not abort).
        self.abort_uploads_under(&dir, None).await.map(|_| ())
    }

    async fn health(&self) -> Result<()> {
        let inner = &self.inner;
        let probe = inner
            .prefix
            .clone()
            .join("_heimdall")
            .join(format!("health-{}.probe", uuid::Uuid::new_v4()).as_str());
        // Listing first: it fails on a missing bucket, where some servers (SeaweedFS) would
        // silently create the bucket on the probe put.
        inner
            .store
            .list_with_delimiter(Some(&inner.prefix))
            .await
            .map_err(|e| inner.map_err("health check list", &inner.prefix, e))?;
        let body = Bytes::from_static(b"heimdall health probe\n");
        inner
            .store
            .put(&probe, body.into())
            .await
            .map_err(|e| inner.map_err("health check put", &probe, e))?;
        inner
            .store
            .delete(&probe)
            .await
            .map_err(|e| inner.map_err("health check delete", &probe, e))?;
        Ok(())
    }
}

impl ArchiveSink {
    /// An object of a committed session, its size and SHA-256 checked against the manifest.
    async fn get_verified(&self, manifest: &SessionManifest, obj: &StoredObject) -> Result<Bytes> {
        let inner = &self.inner;
        // The manifest's own list is authoritative when it has the object.
        let expected = manifest.objects.iter().find(|o| o.key == obj.key).unwrap_or(obj);
        let path = Path::parse(&obj.key).map_err(|e| Error::invalid("object key", e.to_string()))?;
        let bytes = self.get(&path).await?;
        crate::reader::check_object(expected, bytes.len() as u64, &sha256_hex(&bytes)).map_err(|reason| {
            Error::Malformed {
                backend: inner.backend,
                origin: obj.key.clone(),
                reason,
            }
        })?;
        Ok(bytes)
    }

    /// The spectra one receiver reported during a committed session (OpenWebRX FFT lines), with
    /// their index (unit, frames dropped); `Ok(None)` when the capture has none. Checksums are
    /// verified against the manifest.
    pub async fn read_spectra(
        &self,
        session: SessionId,
        receiver: &ReceiverId,
    ) -> Result<Option<(SpectraIndex, Vec<SpectrumFrame>)>> {
        let inner = &self.inner;
        let manifest = self.read_session_manifest(session).await?;
        let Some(r) = manifest.session.receivers.iter().find(|r| &r.receiver.id == receiver) else {
            return Err(Error::NotFound {
                backend: inner.backend,
                key: format!("receiver {receiver} in session {session}"),
            });
        };
        let (Some(data), Some(index)) = (
            object_named(r, &format!("{receiver}_spectra.npy")),
            object_named(r, &format!("{receiver}_spectra.json")),
        ) else {
            return Ok(None);
        };
        let (data_bytes, index_bytes) =
            futures::future::try_join(self.get_verified(&manifest, data), self.get_verified(&manifest, index)).await?;
        let idx: SpectraIndex = serde_json::from_slice(&index_bytes)
            .map_err(|e| crate::spectra::malformed(inner.backend, &index.key, format!("not a spectra index: {e}")))?;
        let frames = crate::spectra::decode(&data_bytes, &idx)
            .map_err(|reason| crate::spectra::malformed(inner.backend, &data.key, reason))?;
        Ok(Some((idx, frames)))
    }
}

fn json_err(inner: &Inner, path: &Path, e: serde_json::Error) -> Error {
    Error::Storage {
        backend: inner.backend,
        operation: "serialise",
        key: path.to_string(),
        retryable: false,
        source: Box::new(e),
    }
}

#[async_trait]
impl IqArchive for ArchiveSink {
    async fn list_sessions(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<SessionId>> {
        let inner = &self.inner;
        let dir = inner.prefix.clone().join(SESSIONS_DIR);
        let listing = inner
            .store
            .list_with_delimiter(Some(&dir))
            .await
            .map_err(|e| inner.map_err("list", &dir, e))?;
        let windowed = since.is_some() || until.is_some();
        let mut candidates: Vec<SessionId> = listing
            .common_prefixes
            .iter()
            .filter_map(|p| p.filename().and_then(|f| f.parse::<SessionId>().ok()))
            .filter(|s| {
                if !windowed {
                    return true;
                }
                match s.timestamp() {
                    Some(t) => since.is_none_or(|a| t >= a) && until.is_none_or(|b| t < b),
                    None => false,
                }
            })
            .collect();
        candidates.sort_unstable_by(|a, b| b.cmp(a));
        // Only committed sessions: those with a manifest.
        let checks = futures::stream::iter(candidates.into_iter().map(|s| async move {
            let p = self.inner.object_path(s, MANIFEST)?;
            Ok::<_, Error>((s, self.exists(&p).await?))
        }))
        .buffered(16);
        let found: Vec<(SessionId, bool)> = checks.try_collect().await?;
        Ok(found.into_iter().filter(|(_, c)| *c).map(|(s, _)| s).collect())
    }

    async fn read_manifest(&self, session: SessionId) -> Result<SessionReport> {
        Ok(self.read_session_manifest(session).await?.session)
    }

    async fn read_capture(&self, session: SessionId, receiver: &ReceiverId) -> Result<ArchivedCapture> {
        let manifest = self.read_session_manifest(session).await?;
        let found = locate_capture(&self.inner, &manifest, session, receiver)?;
        let bytes = self.get_verified(&manifest, found.object).await?;
        let bad = |reason: String| Error::Malformed {
            backend: self.inner.backend,
            origin: found.object.key.clone(),
            reason,
        };
        let summary = found
            .report
            .capture
            .clone()
            .ok_or_else(|| bad("no capture summary".into()))?;
        let samples = match found.layout {
            Layout::Npy => heimdall_core::npy::decode(&bytes)?,
            Layout::Raw => decode_raw(summary.info.format, &bytes).map_err(bad)?,
        };
        if samples.format() != summary.info.format || samples.len() as u64 != summary.samples {
            return Err(bad(format!(
                "holds {} {:?} samples, the manifest says {} {:?}",
                samples.len(),
                samples.format(),
                summary.samples,
                summary.info.format
            )));
        }
        Ok(ArchivedCapture {
            summary,
            metrics: found.report.metrics,
            samples,
        })
    }

    /// Streams the `.npy` (or `.sigmf-data`) in blocks of about 256 KiB, so that memory stays
    /// bounded whatever the capture's size; size, SHA-256 and sample count are checked as the
    /// bytes go by and a mismatch is the last item.
    async fn stream_capture(&self, session: SessionId, receiver: &ReceiverId) -> Result<ArchivedCaptureStream> {
        let inner = &self.inner;
        let manifest = self.read_session_manifest(session).await?;
        let found = locate_capture(inner, &manifest, session, receiver)?;
        let summary = found.report.capture.clone().ok_or_else(|| Error::Malformed {
            backend: inner.backend,
            origin: found.object.key.clone(),
            reason: "no capture summary".into(),
        })?;
        let path = Path::parse(&found.object.key).map_err(|e| Error::invalid("object key", e.to_string()))?;
        let body = inner
            .store
            .get(&path)
            .await
            .map_err(|e| inner.map_err("get", &path, e))?
            .into_stream();
        let samples = crate::reader::sample_stream(
            inner.clone(),
            body,
            found.layout,
            summary.info.format,
            found.object.clone(),
            summary.samples,
        );
        Ok(ArchivedCaptureStream {
            metrics: found.report.metrics,
            summary,
            samples,
        })
    }

    async fn list_objects(&self, session: SessionId) -> Result<Vec<String>> {
        Ok(self
            .list_session(session)
            .await?
            .into_iter()
            .map(|m| m.location.to_string())
            .collect())
    }
}

/// The object of a receiver whose file name (the key's last part) is `file`.
fn object_named<'m>(report: &'m heimdall_core::ReceiverReport, file: &str) -> Option<&'m StoredObject> {
    report.objects.iter().find(|o| o.key.rsplit('/').next() == Some(file))
}

/// The one `.npy` of samples (not spectra) a receiver lists under another name than
/// `{receiver}.npy`: the `websdr_{n}.npy` of a session adopted from the old service.
fn adopted_npy(report: &heimdall_core::ReceiverReport) -> Option<&StoredObject> {
    let mut npys = report
        .objects
        .iter()
        .filter(|o| o.key.ends_with(".npy") && !o.key.ends_with("_spectra.npy"));
    match (npys.next(), npys.next()) {
        (Some(o), None) => Some(o),
        _ => None,
    }
}

/// Where one receiver's samples are in a committed session.
struct FoundCapture<'m> {
    report: &'m heimdall_core::ReceiverReport,
    /// The samples object as the manifest lists it (size and checksum authoritative).
    object: &'m StoredObject,
    layout: Layout,
}

/// The samples object of `receiver` in `manifest`: `{receiver}.npy`, else `{receiver}.sigmf-data`.
fn locate_capture<'m>(
    inner: &Inner,
    manifest: &'m SessionManifest,
    session: SessionId,
    receiver: &ReceiverId,
) -> Result<FoundCapture<'m>> {
    let not_found = || Error::NotFound {
        backend: inner.backend,
        key: format!("capture of {receiver} in session {session}"),
    };
    let report = manifest
        .session
        .receivers
        .iter()
        .find(|r| &r.receiver.id == receiver)
        .filter(|r| r.capture.is_some())
        .ok_or_else(not_found)?;
    let (object, layout) = match (
        object_named(report, &format!("{receiver}.npy")),
        object_named(report, &format!("{receiver}.sigmf-data")),
    ) {
        (Some(o), _) => (o, Layout::Npy),
        (None, Some(o)) => (o, Layout::Raw),
        (None, None) => match adopted_npy(report) {
            // A session adopted from the old service keeps its `websdr_{n}.npy` names.
            Some(o) => (o, Layout::Npy),
            None => return Err(not_found()),
        },
    };
    // The manifest's own list is authoritative when it has the object.
    let object = manifest.objects.iter().find(|o| o.key == object.key).unwrap_or(object);
    Ok(FoundCapture { report, object, layout })
}

/// Decodes raw little-endian samples (a `.sigmf-data` file).
fn decode_raw(format: SampleFormat, bytes: &[u8]) -> std::result::Result<SampleBlock, String> {
    let size = format.bytes_per_sample();
    if !bytes.len().is_multiple_of(size) {
        return Err(format!(
            "{} bytes is not a whole number of {size}-byte samples",
            bytes.len()
        ));
    }
    crate::reader::decode(format, bytes).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ArchiveBuilder;

    #[test]
    fn object_paths_never_escape_the_session() {
        let sink = ArchiveBuilder::from_url("memory:///root").build().unwrap();
        let s = SessionId::new();
        let ok = sink.inner.object_path(s, "rx-1.npy").unwrap();
        assert_eq!(ok.as_ref(), format!("root/sessions/{s}/rx-1.npy"));
        for bad in ["", ".", "..", "../x", "a/b", "x/../../y", "a\\b", "%2e%2e", "é"] {
            assert!(sink.inner.object_path(s, bad).is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn raw_decoding_rejects_partial_samples() {
        assert!(decode_raw(SampleFormat::ComplexF32, &[0u8; 12]).is_err());
        assert_eq!(decode_raw(SampleFormat::RealF32, &[0u8; 8]).unwrap().len(), 2);
    }
}
