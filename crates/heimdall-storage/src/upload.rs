//! One object being streamed into the store with bounded memory, hashed as it goes.

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{Attribute, Attributes, PutMode, PutMultipartOptions, PutOptions, PutPayload, WriteMultipart};
use sha2::{Digest, Sha256, Sha512};

use heimdall_core::{Result, StoredObject};

use crate::context::Inner;

/// What is being buffered or uploaded.
#[derive(Debug)]
enum State {
    /// Less than one part so far: kept in memory, sent with a single put at the end.
    Buffering { parts: Vec<Bytes>, len: usize },
    /// A multipart upload with parts in flight.
    Multipart(WriteMultipart),
    /// Completed or aborted.
    Closed,
}

/// A streaming upload of one object: buffers up to one part, then switches to a multipart
/// upload with at most `max_concurrency` parts in flight (back-pressure on the writer).
#[derive(Debug)]
pub(crate) struct ObjectUpload {
    inner: Arc<Inner>,
    path: Path,
    content_type: &'static str,
    sha256: Sha256,
    sha512: Option<Sha512>,
    size: u64,
    state: State,
}

/// A completed upload.
#[derive(Debug, Clone)]
pub(crate) struct Uploaded {
    pub(crate) object: StoredObject,
    pub(crate) sha512: Option<String>,
}

pub(crate) fn attributes(inner: &Inner, content_type: &'static str) -> Attributes {
    let mut a = Attributes::new();
    if inner.supports_attributes {
        a.insert(Attribute::ContentType, content_type.into());
    }
    a
}

impl ObjectUpload {
    pub(crate) fn new(inner: Arc<Inner>, path: Path, content_type: &'static str, with_sha512: bool) -> Self {
        ObjectUpload {
            inner,
            path,
            content_type,
            sha256: Sha256::new(),
            sha512: with_sha512.then(Sha512::new),
            size: 0,
            state: State::Buffering {
                parts: Vec::new(),
                len: 0,
            },
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, operation: &'static str, e: object_store::Error) -> heimdall_core::Error {
        self.inner.map_err(operation, &self.path, e)
    }

    /// Appends bytes; may wait for upload capacity.
    pub(crate) async fn push(&mut self, mut bytes: Bytes) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.sha256.update(&bytes);
        if let Some(h) = self.sha512.as_mut() {
            h.update(&bytes);
        }
        self.size += bytes.len() as u64;
        let part_size = self.inner.part_size;
        if let State::Buffering { parts, len } = &mut self.state {
            *len += bytes.len();
            parts.push(bytes);
            if *len < part_size {
                return Ok(());
            }
            // Switch to multipart: start the upload and hand over what was buffered.
            let buffered = std::mem::take(parts);
            let opts = PutMultipartOptions {
                attributes: attributes(&self.inner, self.content_type),
                ..Default::default()
            };
            let upload = match self.inner.store.put_multipart_opts(&self.path, opts).await {
                Ok(u) => u,
                Err(e) => {
                    self.state = State::Closed;
                    return Err(self.err("start multipart upload", e));
                }
            };
            self.state = State::Multipart(WriteMultipart::new_with_chunk_size(upload, part_size));
            bytes = Bytes::new();
            for b in buffered {
                self.put_bounded(b).await?;
            }
        }
        self.put_bounded(bytes).await
    }

    /// Feeds bytes to the multipart writer at most one part at a time, waiting for capacity
    /// before each, so no more than `max_concurrency` parts are ever in flight.
    async fn put_bounded(&mut self, mut bytes: Bytes) -> Result<()> {
        let part_size = self.inner.part_size;
        let max = self.inner.max_concurrency;
        while !bytes.is_empty() {
            let piece = bytes.split_to(bytes.len().min(part_size));
            let State::Multipart(w) = &mut self.state else {
                return Ok(());
            };
            if let Err(e) = w.wait_for_capacity(max).await {
                return Err(self.fail("upload part", e).await);
            }
            if let State::Multipart(w) = &mut self.state {
                w.put(piece);
            }
        }
        Ok(())
    }

    /// Aborts the multipart upload after a part failed and returns the mapped error.
    async fn fail(&mut self, operation: &'static str, e: object_store::Error) -> heimdall_core::Error {
        let err = self.err(operation, e);
        if let State::Multipart(w) = std::mem::replace(&mut self.state, State::Closed)
            && let Err(abort_err) = w.abort().await
        {
            tracing::warn!(key = %self.path, error = %abort_err, "could not abort multipart upload");
        }
        err
    }

    /// Completes the object and returns its description.
    pub(crate) async fn finish(mut self) -> Result<Uploaded> {
        let state = std::mem::replace(&mut self.state, State::Closed);
        match state {
            State::Buffering { parts, .. } => {
                let payload: PutPayload = parts.into_iter().collect();
                let opts = PutOptions {
                    mode: PutMode::Overwrite,
                    attributes: attributes(&self.inner, self.content_type),
                    ..Default::default()
                };
                self.inner
                    .store
                    .put_opts(&self.path, payload, opts)
                    .await
                    .map_err(|e| self.err("put", e))?;
            }
            State::Multipart(w) => {
                // `WriteMultipart::finish` aborts the upload itself when a part or the completion fails.
                w.finish().await.map_err(|e| self.err("complete multipart upload", e))?;
            }
            State::Closed => {
                return Err(heimdall_core::Error::Storage {
                    backend: self.inner.backend,
                    operation: "complete upload",
                    key: self.path.to_string(),
                    retryable: false,
                    source: "the upload failed earlier and was aborted".into(),
                });
            }
        }
        Ok(self.describe())
    }

    /// The object as it will be once completed: key, size and checksums of everything pushed.
    pub(crate) fn describe(&self) -> Uploaded {
        Uploaded {
            object: StoredObject {
                key: self.path.to_string(),
                size: self.size,
                sha256: hex::encode(self.sha256.clone().finalize()),
                content_type: self.content_type.to_owned(),
            },
            sha512: self.sha512.as_ref().map(|h| hex::encode(h.clone().finalize())),
        }
    }

    /// Discards the upload: aborts a multipart upload; a buffered one never reached the store.
    pub(crate) async fn abort(mut self) -> Result<()> {
        if let State::Multipart(w) = std::mem::replace(&mut self.state, State::Closed) {
            w.abort().await.map_err(|e| self.err("abort multipart upload", e))?;
        }
        Ok(())
    }
}

/// Puts a small object in one request and describes it.
pub(crate) async fn put_small(
    inner: &Inner,
    path: &Path,
    content_type: &'static str,
    body: Vec<u8>,
    mode: PutMode,
) -> Result<StoredObject> {
    let sha256 = hex::encode(Sha256::digest(&body));
    let size = body.len() as u64;
    let opts = PutOptions {
        mode,
        attributes: attributes(inner, content_type),
        ..Default::default()
    };
    inner
        .store
        .put_opts(path, PutPayload::from(body), opts)
        .await
        .map_err(|e| inner.map_err("put", path, e))?;
    Ok(StoredObject {
        key: path.to_string(),
        size,
        sha256,
        content_type: content_type.to_owned(),
    })
}
