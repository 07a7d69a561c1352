//! The [`CaptureWriter`] of [`crate::ArchiveSink`]: streams one capture into one object (the
//! `.npy`, or the `.sigmf-data` when only SigMF is written), each byte hashed once per digest the
//! layout needs (SHA-256 for the manifest; SHA-512 only for a `.sigmf-data`'s `core:sha512`).

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use object_store::path::Path;
use object_store::{ObjectStoreExt, PutMode};

use heimdall_core::npy::{Dtype, NpyHeader};
use heimdall_core::{
    CaptureChunk, CaptureInfo, CaptureSummary, CaptureWriter, Error, Result, SessionAttempt, SignalMetrics,
    StoredObject,
};

use crate::context::Inner;
use crate::formats;
use crate::spectra::SpectraBuffer;
use crate::upload::{ObjectUpload, Uploaded, put_small};

/// Writes one capture: the `.npy` or the `.sigmf-data` streamed as chunks arrive, the metadata
/// files at `finish`.
pub(crate) struct ArchiveWriter {
    inner: Arc<Inner>,
    attempt: SessionAttempt,
    info: CaptureInfo,
    expected: Option<u64>,
    samples: u64,
    npy: Option<ObjectUpload>,
    /// Length of the `.npy` header (the SigMF `core:header_bytes` of a recording pointing at it).
    npy_header_len: u64,
    sigmf: Option<ObjectUpload>,
    spectra: SpectraBuffer,
    failed: bool,
}

impl std::fmt::Debug for ArchiveWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchiveWriter")
            .field("attempt", &self.attempt)
            .field("receiver", &self.info.receiver.id)
            .field("samples", &self.samples)
            .field("expected", &self.expected)
            .field("failed", &self.failed)
            .finish_non_exhaustive()
    }
}

/// Pretty JSON of a document, or the error naming its key.
trait ToJson {
    fn to_json(&self, backend: &'static str, path: &Path) -> Result<Vec<u8>>;
}

impl<T: serde::Serialize> ToJson for T {
    fn to_json(&self, backend: &'static str, path: &Path) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(|e| Error::Storage {
            backend,
            operation: "serialise",
            key: path.to_string(),
            retryable: false,
            source: Box::new(e),
        })
    }
}

async fn push(upload: Option<&mut ObjectUpload>, bytes: Bytes) -> Result<()> {
    match upload {
        Some(u) => u.push(bytes).await,
        None => Ok(()),
    }
}

async fn finish(upload: Option<ObjectUpload>) -> Result<Option<Uploaded>> {
    match upload {
        Some(u) => u.finish().await.map(Some),
        None => Ok(None),
    }
}

impl ArchiveWriter {
    pub(crate) async fn begin(inner: Arc<Inner>, attempt: SessionAttempt, info: &CaptureInfo) -> Result<Self> {
        if !info.sample_rate_hz.is_finite() || info.sample_rate_hz <= 0.0 {
            return Err(Error::invalid(
                "sample_rate_hz",
                format!("{} is not a positive sample rate", info.sample_rate_hz),
            ));
        }
        if inner.format.npy() && info.expected_samples.is_none() {
            return Err(Error::invalid(
                "expected_samples",
                format!(
                    "capture of {} has no expected sample count; the .npy header needs it before streaming",
                    info.receiver.id
                ),
            ));
        }
        let rx = info.receiver.id.as_str();
        let mut npy = None;
        let mut npy_header_len = 0;
        let mut sigmf = None;
        if inner.format.npy() {
            let path = inner.attempt_path(&attempt, &format!("{rx}.npy"))?;
            let header = NpyHeader {
                dtype: Dtype::for_format(info.format),
                len: info.expected_samples.unwrap_or(0),
            }
            .encode()?;
            npy_header_len = header.len() as u64;
            let len = (info.expected_samples.unwrap_or(0))
                .saturating_mul(info.format.bytes_per_sample() as u64)
                .saturating_add(header.len() as u64);
            let mut up = ObjectUpload::new(inner.clone(), path, "application/x-npy", false, Some(len));
            up.push(Bytes::from(header)).await?;
            npy = Some(up);
        }
        if inner.format.sigmf_data() {
            let path = inner.attempt_path(&attempt, &format!("{rx}.sigmf-data"))?;
            let len = info
                .expected_samples
                .map(|n| n.saturating_mul(info.format.bytes_per_sample() as u64));
            sigmf = Some(ObjectUpload::new(
                inner.clone(),
                path,
                "application/octet-stream",
                true,
                len,
            ));
        }
        tracing::debug!(session = %attempt, receiver = rx, format = %inner.format, "capture started");
        let inner_spectra_limit = inner.max_spectra_bytes;
        Ok(ArchiveWriter {
            inner,
            attempt,
            info: info.clone(),
            expected: info.expected_samples,
            samples: 0,
            npy,
            npy_header_len,
            sigmf,
            spectra: SpectraBuffer::new(inner_spectra_limit),
            failed: false,
        })
    }

    fn receiver(&self) -> &str {
        self.info.receiver.id.as_str()
    }

    /// Aborts the uploads in progress and deletes objects already completed.
    async fn cleanup(&mut self, completed: Vec<Path>) -> Result<()> {
        let mut first_err = None;
        for up in [self.npy.take(), self.sigmf.take()].into_iter().flatten() {
            if let Err(e) = up.abort().await {
                tracing::warn!(error = %e, "could not abort upload");
                first_err.get_or_insert(e);
            }
        }
        for p in completed {
            match self.inner.store.delete(&p).await {
                Ok(()) | Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => {
                    let e = self.inner.map_err("delete", &p, e);
                    tracing::warn!(error = %e, "could not delete object of an aborted capture");
                    first_err.get_or_insert(e);
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    async fn fail_with(&mut self, err: Error, completed: Vec<Path>) -> Error {
        self.failed = true;
        if let Err(e) = self.cleanup(completed).await {
            tracing::warn!(receiver = self.receiver(), error = %e, "cleanup after a failed capture was incomplete");
        }
        err
    }

    async fn finish_inner(
        &mut self,
        summary: &CaptureSummary,
        metrics: Option<&SignalMetrics>,
        completed: &mut Vec<Path>,
    ) -> Result<Vec<StoredObject>> {
        if self.failed {
            return Err(Error::invalid(
                "capture writer",
                format!("capture of {} failed earlier and cannot be finished", self.receiver()),
            ));
        }
        if summary.info.receiver.id != self.info.receiver.id {
            return Err(Error::invalid(
                "capture summary",
                format!(
                    "summary is for receiver {}, the writer for {}",
                    summary.info.receiver.id,
                    self.receiver()
                ),
            ));
        }
        if let Some(expected) = self.expected
            && expected != self.samples
        {
            return Err(Error::invalid(
                "samples",
                format!(
                    "capture of {} delivered {} samples but {expected} were announced (a .npy header would be wrong), so the capture was discarded",
                    self.receiver(),
                    self.samples
                ),
            ));
        }
        if summary.samples != self.samples {
            return Err(Error::invalid(
                "samples",
                format!(
                    "summary of {} says {} samples but {} were written; the capture was discarded",
                    self.receiver(),
                    summary.samples,
                    self.samples
                ),
            ));
        }
        // Every byte is pushed, so sizes and checksums are known: the metadata files are put
        // while the data uploads complete (the manifest, not the order, marks completeness).
        let npy_desc = self.npy.as_ref().map(ObjectUpload::describe);
        let sigmf_desc = self.sigmf.as_ref().map(ObjectUpload::describe);
        let rx = self.info.receiver.id.as_str().to_owned();
        let backend = self.inner.backend;
        let json = |path: &Path, doc: &dyn ToJson| doc.to_json(backend, path);
        // (path, content type, body) of every small object put at finish.
        let mut small_puts: Vec<(Path, &'static str, Vec<u8>)> = Vec::new();
        if let Some(n) = &npy_desc {
            let path = self.inner.attempt_path(&self.attempt, &format!("{rx}_metadata.json"))?;
            let doc = formats::legacy_metadata(self.attempt.session, summary, metrics, &n.object.key, &n.object);
            small_puts.push((path.clone(), "application/json", json(&path, &doc)?));
        }
        if self.inner.format.sigmf() {
            let path = self.inner.attempt_path(&self.attempt, &format!("{rx}.sigmf-meta"))?;
            // A `.sigmf-data` when there is one, else the `.npy` as a Non-Conforming Dataset.
            let sha512 = sigmf_desc.as_ref().and_then(|s| s.sha512.clone());
            let npy_file = format!("{rx}.npy");
            let dataset = match (&sha512, &npy_desc) {
                (Some(sha512), _) => formats::SigmfDataset::Conforming { sha512 },
                (None, Some(n)) => formats::SigmfDataset::Npy {
                    file: &npy_file,
                    header_bytes: self.npy_header_len,
                    sha256: &n.object.sha256,
                },
                (None, None) => {
                    return Err(Error::invalid(
                        "archive format",
                        format!("SigMF metadata of {rx} has no dataset to describe"),
                    ));
                }
            };
            let doc = formats::sigmf_meta(self.attempt.session, summary, metrics, dataset);
            small_puts.push((path.clone(), "application/json", json(&path, &doc)?));
        }
        if !self.spectra.is_empty() {
            let data_path = self.inner.attempt_path(&self.attempt, &format!("{rx}_spectra.npy"))?;
            let index_path = self.inner.attempt_path(&self.attempt, &format!("{rx}_spectra.json"))?;
            let (npy, index) = self.spectra.encode(self.attempt.session, &rx, data_path.as_ref())?;
            small_puts.push((data_path, "application/x-npy", npy));
            small_puts.push((index_path.clone(), "application/json", json(&index_path, &index)?));
        }
        let inner = self.inner.clone();
        let puts = small_puts.into_iter().map(|(path, content_type, body)| {
            let inner = inner.clone();
            async move {
                let r = put_small(&inner, &path, content_type, body, PutMode::Overwrite).await;
                (path, r)
            }
        });
        let npy_path = self.npy.as_ref().map(|u| u.path().clone());
        let sigmf_path = self.sigmf.as_ref().map(|u| u.path().clone());
        let (npy, sigmf, metas) = futures::future::join3(
            finish(self.npy.take()),
            finish(self.sigmf.take()),
            futures::future::join_all(puts),
        )
        .await;
        // Remember everything that may have landed before looking at errors, so that cleanup
        // removes it (a failed put may still have landed).
        completed.extend(npy_path.filter(|_| matches!(npy, Ok(Some(_)))));
        completed.extend(sigmf_path.filter(|_| matches!(sigmf, Ok(Some(_)))));
        completed.extend(metas.iter().map(|(p, _)| p.clone()));
        let mut out = Vec::new();
        out.extend(npy?.map(|u| u.object));
        out.extend(sigmf?.map(|u| u.object));
        for (_, r) in metas {
            out.push(r?);
        }
        tracing::debug!(session = %self.attempt.session, receiver = %rx, samples = self.samples, "capture stored");
        Ok(out)
    }
}

/// A writer dropped without `finish` or `abort` (a cancelled task) still aborts its multipart
/// uploads in the background, so no orphaned parts stay on the server.
impl Drop for ArchiveWriter {
    fn drop(&mut self) {
        let uploads: Vec<ObjectUpload> = [self.npy.take(), self.sigmf.take()].into_iter().flatten().collect();
        if uploads.is_empty() {
            return;
        }
        if let Ok(handle) = tokio::runtime::Handle::try_current() {
            handle.spawn(async move {
                for up in uploads {
                    if let Err(e) = up.abort().await {
                        tracing::warn!(error = %e, "could not abort the upload of a dropped capture writer");
                    }
                }
            });
        }
    }
}

#[async_trait]
impl CaptureWriter for ArchiveWriter {
    async fn write(&mut self, chunk: CaptureChunk) -> Result<()> {
        if self.failed {
            return Err(Error::invalid(
                "capture writer",
                format!("capture of {} failed earlier; abort it", self.receiver()),
            ));
        }
        let block = match chunk {
            CaptureChunk::Samples(block) => block,
            CaptureChunk::Spectrum(frame) => {
                self.spectra.push(&frame);
                return Ok(());
            }
            // Time marks, RSSI and gaps reach the metadata through the summary.
            _ => return Ok(()),
        };
        if block.format() != self.info.format {
            return Err(Error::invalid(
                "samples",
                format!(
                    "capture of {} is {:?} but a block of {:?} arrived",
                    self.receiver(),
                    self.info.format,
                    block.format()
                ),
            ));
        }
        let n = block.len() as u64;
        if let Some(expected) = self.expected
            && self.samples + n > expected
        {
            let err = Error::invalid(
                "samples",
                format!(
                    "capture of {} exceeds its announced {expected} samples (got {}), so the capture was discarded",
                    self.receiver(),
                    self.samples + n
                ),
            );
            return Err(self.fail_with(err, Vec::new()).await);
        }
        let bytes = block.into_le_bytes();
        let (a, b) =
            futures::future::join(push(self.npy.as_mut(), bytes.clone()), push(self.sigmf.as_mut(), bytes)).await;
        if let Err(e) = a.and(b) {
            return Err(self.fail_with(e, Vec::new()).await);
        }
        self.samples += n;
        Ok(())
    }

    async fn finish(
        mut self: Box<Self>,
        summary: &CaptureSummary,
        metrics: Option<&SignalMetrics>,
    ) -> Result<Vec<StoredObject>> {
        let mut completed = Vec::new();
        match self.finish_inner(summary, metrics, &mut completed).await {
            Ok(objs) => Ok(objs),
            Err(e) => Err(self.fail_with(e, completed).await),
        }
    }

    async fn abort(mut self: Box<Self>) -> Result<()> {
        self.failed = true;
        self.cleanup(Vec::new()).await
    }
}
