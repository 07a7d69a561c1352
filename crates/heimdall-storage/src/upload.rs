//! One object being streamed into the store with bounded memory, hashed as it goes.

use std::sync::Arc;

use bytes::Bytes;
use object_store::path::Path;
use object_store::{Attribute, Attributes, MultipartUpload, PutMode, PutMultipartOptions, PutOptions, PutPayload};
use sha2::{Digest, Sha256, Sha512};
use tokio::task::JoinSet;

use heimdall_core::{Error, Result, StoredObject};

use crate::context::Inner;
use crate::part_buffer::{PartBuffer, PoolUser};

/// Most parts of one multipart upload (S3, SeaweedFS, MinIO, R2 all have this limit).
pub(crate) const MAX_PARTS: u64 = 10_000;

/// What is being buffered or uploaded.
#[derive(Debug)]
enum State {
    /// Less than one part so far: kept in memory (taken at the first byte), sent with a single
    /// put at the end.
    Buffering(Option<PartBuffer>),
    /// A multipart upload with parts in flight.
    Multipart(Multipart),
    /// Completed or aborted.
    Closed,
}

/// A multipart upload in progress: the part being filled and the parts in flight.
#[derive(Debug)]
struct Multipart {
    upload: Box<dyn MultipartUpload>,
    /// The part being filled (taken at its first byte).
    part: Option<PartBuffer>,
    /// Part uploads in flight, each holding one of the sink's `parts_in_flight` permits.
    tasks: JoinSet<object_store::Result<()>>,
}

/// A part upload task that failed to run to completion (a panic, or the runtime shutting down).
fn joined(r: std::result::Result<object_store::Result<()>, tokio::task::JoinError>) -> object_store::Result<()> {
    r.map_err(|e| object_store::Error::Generic {
        store: "heimdall",
        source: Box::new(e),
    })?
}

impl Multipart {
    /// Sends `part` once this object has fewer than `max_concurrency` parts in flight and the
    /// sink has a free `parts_in_flight` permit; returns the error of an earlier part.
    async fn send(&mut self, part: PutPayload, inner: &Inner) -> object_store::Result<()> {
        while self.tasks.len() >= inner.max_concurrency {
            match self.tasks.join_next().await {
                Some(r) => joined(r)?,
                None => break,
            }
        }
        let permit = inner
            .parts_in_flight
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| object_store::Error::Generic {
                store: "heimdall",
                source: Box::new(e),
            })?;
        let upload = self.upload.put_part(part);
        self.tasks.spawn(async move {
            let r = upload.await;
            drop(permit);
            r
        });
        Ok(())
    }

    /// Sends the last part, waits for every part and completes the upload; aborts it on error.
    async fn finish(mut self, inner: &Inner) -> object_store::Result<()> {
        let result = async {
            if let Some(last) = self.part.take().filter(|p| !p.is_empty()) {
                self.send(last.freeze().into(), inner).await?;
            }
            while let Some(r) = self.tasks.join_next().await {
                joined(r)?;
            }
            self.upload.complete().await.map(|_| ())
        }
        .await;
        if result.is_err() {
            self.tasks.shutdown().await;
            if let Err(e) = self.upload.abort().await {
                tracing::warn!(error = %e, "could not abort a failed multipart upload");
            }
        }
        result
    }

    /// Cancels the parts in flight and aborts the upload.
    async fn abort(mut self) -> object_store::Result<()> {
        self.tasks.shutdown().await;
        self.upload.abort().await
    }
}

/// The part size of an object: the sink's, or larger when `expected_len` bytes would not fit in
/// [`MAX_PARTS`] parts of it (rounded up to a MiB; every part but the last has this size, as
/// some stores require).
pub(crate) fn part_size_for(part_size: usize, expected_len: Option<u64>) -> usize {
    const MIB: u64 = 1 << 20;
    let needed = expected_len.map_or(0, |len| len.div_ceil(MAX_PARTS).div_ceil(MIB).saturating_mul(MIB));
    usize::try_from(needed).unwrap_or(usize::MAX).max(part_size)
}

/// A streaming upload of one object: buffers up to one part, then switches to a multipart
/// upload with at most `max_concurrency` parts of this object, and `max_parts_in_flight` parts
/// of the whole sink, in flight (back-pressure on the writer).
#[derive(Debug)]
pub(crate) struct ObjectUpload {
    inner: Arc<Inner>,
    path: Path,
    content_type: &'static str,
    part_size: usize,
    sha256: Sha256,
    sha512: Option<Sha512>,
    size: u64,
    state: State,
    /// Part buffers come from the sink's pool.
    pool: PoolUser,
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
    /// An upload of `expected_len` bytes when known (it sets the part size, see [`part_size_for`]).
    pub(crate) fn new(
        inner: Arc<Inner>,
        path: Path,
        content_type: &'static str,
        with_sha512: bool,
        expected_len: Option<u64>,
    ) -> Self {
        let pool = inner.part_pool.user();
        ObjectUpload {
            part_size: part_size_for(inner.part_size, expected_len),
            inner,
            path,
            content_type,
            sha256: Sha256::new(),
            sha512: with_sha512.then(Sha512::new),
            size: 0,
            state: State::Buffering(None),
            pool,
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    fn err(&self, operation: &'static str, e: object_store::Error) -> heimdall_core::Error {
        self.inner.map_err(operation, &self.path, e)
    }

    /// Appends bytes (copied into the part being filled); may wait for upload capacity.
    pub(crate) async fn push(&mut self, bytes: Bytes) -> Result<()> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.sha256.update(&bytes);
        if let Some(h) = self.sha512.as_mut() {
            h.update(&bytes);
        }
        self.size += bytes.len() as u64;
        let mut rest: &[u8] = &bytes;
        if let State::Buffering(buf) = &mut self.state {
            let part_size = self.part_size;
            let pool = &self.pool;
            let buf = buf.get_or_insert_with(|| pool.buffer(part_size));
            let taken = buf.extend(rest);
            rest = rest.get(taken..).unwrap_or_default();
            if buf.room() > 0 {
                return Ok(());
            }
            // One part is full: switch to multipart, the buffer becomes the first part.
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
            let State::Buffering(first) = std::mem::replace(
                &mut self.state,
                State::Multipart(Multipart {
                    upload,
                    part: None,
                    tasks: JoinSet::new(),
                }),
            ) else {
                return Ok(());
            };
            if let (Some(first), State::Multipart(m)) = (first, &mut self.state)
                && let Err(e) = m.send(first.freeze().into(), &self.inner).await
            {
                return Err(self.fail("upload part", e).await);
            }
        }
        self.put_bounded(rest).await
    }

    /// Copies bytes into the part being filled; each full part is sent once there is capacity
    /// (see [`Multipart::send`]), so the writer waits while too many parts are in flight.
    async fn put_bounded(&mut self, mut bytes: &[u8]) -> Result<()> {
        while !bytes.is_empty() {
            let State::Multipart(m) = &mut self.state else {
                return Ok(());
            };
            let part_size = self.part_size;
            let pool = &self.pool;
            let part = m.part.get_or_insert_with(|| pool.buffer(part_size));
            let taken = part.extend(bytes);
            bytes = bytes.get(taken..).unwrap_or_default();
            if part.room() > 0 {
                return Ok(());
            }
            let Some(full) = m.part.take() else {
                return Ok(());
            };
            if let Err(e) = m.send(full.freeze().into(), &self.inner).await {
                return Err(self.fail("upload part", e).await);
            }
        }
        Ok(())
    }

    /// Aborts the multipart upload after a part failed and returns the mapped error.
    async fn fail(&mut self, operation: &'static str, e: object_store::Error) -> heimdall_core::Error {
        let err = self.err(operation, e);
        if let State::Multipart(m) = std::mem::replace(&mut self.state, State::Closed)
            && let Err(abort_err) = m.abort().await
        {
            tracing::warn!(key = %self.path, error = %abort_err, "could not abort multipart upload");
        }
        err
    }

    /// Completes the object and returns its description.
    pub(crate) async fn finish(mut self) -> Result<Uploaded> {
        let state = std::mem::replace(&mut self.state, State::Closed);
        match state {
            State::Buffering(buf) => {
                let payload = PutPayload::from(buf.map(PartBuffer::freeze).unwrap_or_default());
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
            State::Multipart(m) => {
                // `Multipart::finish` aborts the upload itself when a part or the completion fails.
                m.finish(&self.inner)
                    .await
                    .map_err(|e| self.err("complete multipart upload", e))?;
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
        if let State::Multipart(m) = std::mem::replace(&mut self.state, State::Closed) {
            m.abort().await.map_err(|e| self.err("abort multipart upload", e))?;
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

/// [`put_small`] with a create-only put: an existing object (`Precondition` on S3,
/// `AlreadyExists` on disk and in memory) is [`Error::AlreadyExists`] naming the key, and is
/// left untouched.
pub(crate) async fn put_create_only(
    inner: &Inner,
    path: &Path,
    content_type: &'static str,
    body: Vec<u8>,
) -> Result<StoredObject> {
    match put_small(inner, path, content_type, body, PutMode::Create).await {
        Err(Error::Storage {
            operation: "put",
            source,
            ..
        }) if source.downcast_ref::<object_store::Error>().is_some_and(|e| {
            matches!(
                e,
                object_store::Error::Precondition { .. } | object_store::Error::AlreadyExists { .. }
            )
        }) =>
        {
            Err(Error::AlreadyExists {
                backend: inner.backend,
                key: path.to_string(),
            })
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use futures::stream::BoxStream;
    use object_store::memory::InMemory;
    use object_store::{
        CopyOptions, GetOptions, GetResult, ListResult, ObjectMeta, ObjectStore, ObjectStoreExt, PutResult, UploadPart,
    };

    use super::*;
    use crate::context::{Cleanup, DEFAULT_MAX_CONCURRENCY, MIN_PART_SIZE};
    use crate::formats::ArchiveFormat;

    /// In-memory store whose part uploads take 20 ms each, counting the most in flight at once.
    #[derive(Debug, Default)]
    struct SlowParts {
        store: InMemory,
        now: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
    }

    impl std::fmt::Display for SlowParts {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("SlowParts")
        }
    }

    #[derive(Debug)]
    struct SlowUpload {
        upload: Box<dyn MultipartUpload>,
        now: Arc<AtomicUsize>,
        most: Arc<AtomicUsize>,
    }

    #[async_trait::async_trait]
    impl MultipartUpload for SlowUpload {
        fn put_part(&mut self, data: PutPayload) -> UploadPart {
            let (now, most) = (self.now.clone(), self.most.clone());
            let part = self.upload.put_part(data);
            Box::pin(async move {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(n, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(20)).await;
                let r = part.await;
                now.fetch_sub(1, Ordering::SeqCst);
                r
            })
        }
        async fn complete(&mut self) -> object_store::Result<PutResult> {
            self.upload.complete().await
        }
        async fn abort(&mut self) -> object_store::Result<()> {
            self.upload.abort().await
        }
    }

    #[async_trait::async_trait]
    impl ObjectStore for SlowParts {
        async fn put_opts(&self, l: &Path, p: PutPayload, o: PutOptions) -> object_store::Result<PutResult> {
            self.store.put_opts(l, p, o).await
        }
        async fn put_multipart_opts(
            &self,
            l: &Path,
            o: PutMultipartOptions,
        ) -> object_store::Result<Box<dyn MultipartUpload>> {
            Ok(Box::new(SlowUpload {
                upload: self.store.put_multipart_opts(l, o).await?,
                now: self.now.clone(),
                most: self.most.clone(),
            }))
        }
        async fn get_opts(&self, l: &Path, o: GetOptions) -> object_store::Result<GetResult> {
            self.store.get_opts(l, o).await
        }
        fn delete_stream(
            &self,
            locations: BoxStream<'static, object_store::Result<Path>>,
        ) -> BoxStream<'static, object_store::Result<Path>> {
            self.store.delete_stream(locations)
        }
        fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, object_store::Result<ObjectMeta>> {
            self.store.list(prefix)
        }
        async fn list_with_delimiter(&self, prefix: Option<&Path>) -> object_store::Result<ListResult> {
            self.store.list_with_delimiter(prefix).await
        }
        async fn copy_opts(&self, from: &Path, to: &Path, o: CopyOptions) -> object_store::Result<()> {
            self.store.copy_opts(from, to, o).await
        }
    }

    fn inner(store: Arc<SlowParts>, max_parts_in_flight: usize) -> Arc<Inner> {
        Arc::new(Inner {
            store,
            prefix: Path::default(),
            backend: "memory",
            location: "memory://".into(),
            format: ArchiveFormat::Npy,
            part_size: MIN_PART_SIZE,
            max_concurrency: DEFAULT_MAX_CONCURRENCY,
            parts_in_flight: Arc::new(tokio::sync::Semaphore::new(max_parts_in_flight)),
            max_parts_in_flight,
            part_pool: crate::part_buffer::PartPool::new(max_parts_in_flight + 1),
            supports_attributes: false,
            collection: false,
            max_spectra_bytes: 0,
            cleanup: Cleanup::Nothing,
        })
    }

    /// Seven objects of four parts each written at once: the sink-wide limit holds over all of
    /// them (the per-object limit alone would allow 7 × 3), and every object is complete.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn parts_in_flight_are_limited_over_the_whole_sink() {
        for limit in [2, 5] {
            let store = Arc::new(SlowParts::default());
            let inner = inner(store.clone(), limit);
            let len = 4 * MIN_PART_SIZE - 1000;
            let tasks = (0..7).map(|i| {
                let inner = inner.clone();
                tokio::spawn(async move {
                    let mut up = ObjectUpload::new(inner, Path::from(format!("obj-{i}")), "x", false, None);
                    let chunk = Bytes::from(vec![i as u8; 1 << 20]);
                    let mut left = len;
                    while left > 0 {
                        let n = left.min(chunk.len());
                        up.push(chunk.slice(..n)).await.unwrap();
                        left -= n;
                    }
                    up.finish().await.unwrap()
                })
            });
            for (i, t) in futures::future::join_all(tasks).await.into_iter().enumerate() {
                let done = t.unwrap();
                assert_eq!(done.object.size, len as u64);
                let got = store.get(&Path::from(format!("obj-{i}"))).await.unwrap();
                let got = got.bytes().await.unwrap();
                assert_eq!(hex::encode(Sha256::digest(&got)), done.object.sha256);
            }
            let most = store.most.load(Ordering::SeqCst);
            assert!(most <= limit, "{most} parts in flight with a limit of {limit}");
            assert!(most >= 2, "parts of different objects never overlapped: {most}");
            assert_eq!(
                inner.parts_in_flight.available_permits(),
                limit,
                "every permit returned"
            );
            assert_eq!(inner.part_pool.free(), 0, "an idle sink keeps no part buffer");
        }
    }

    #[test]
    fn parts_grow_only_when_the_announced_size_needs_more_than_max_parts() {
        const MIB: usize = 1 << 20;
        assert_eq!(part_size_for(5 * MIB, None), 5 * MIB);
        assert_eq!(part_size_for(5 * MIB, Some(0)), 5 * MIB);
        assert_eq!(part_size_for(5 * MIB, Some(50 * 1024 * MIB as u64)), 6 * MIB);
        // One hour at 2.4 MS/s of complex64: 69.1 GB in 7 MiB parts, fewer than 10 000.
        let hour = 2_400_000u64 * 8 * 3600 + 128;
        let p = part_size_for(5 * MIB, Some(hour));
        assert_eq!(p, 7 * MIB);
        assert!(hour.div_ceil(p as u64) <= MAX_PARTS);
        assert_eq!(
            part_size_for(16 * MIB, Some(hour)),
            16 * MIB,
            "a larger configured size stays"
        );
        assert!(part_size_for(5 * MIB, Some(u64::MAX)) >= 5 * MIB, "no overflow");
    }
}
