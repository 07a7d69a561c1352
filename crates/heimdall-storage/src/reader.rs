//! Streaming read-back of one archived capture (`.npy` or `.sigmf-data`): bounded memory,
//! size and SHA-256 checked as the bytes go by.

use std::sync::Arc;

use bytes::{Bytes, BytesMut};
use futures::StreamExt;
use futures::stream::BoxStream;
use sha2::{Digest, Sha256};

use heimdall_core::npy::{Dtype, NpyHeader, decode_samples};
use heimdall_core::{Error, Result, SampleBlock, SampleFormat, StoredObject};

use crate::context::Inner;

/// Bytes gathered before a block is emitted (about 32 k complex samples).
pub(crate) const BLOCK_BYTES: usize = 256 * 1024;

/// What the object holds.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Layout {
    /// A `.npy` file: its header first.
    Npy,
    /// Raw little-endian samples (`.sigmf-data`).
    Raw,
}

struct State {
    inner: Arc<Inner>,
    body: BoxStream<'static, object_store::Result<Bytes>>,
    format: SampleFormat,
    /// Bytes not yet emitted (header until parsed, then a partial block).
    pending: BytesMut,
    header_done: bool,
    body_done: bool,
    hasher: Sha256,
    seen: u64,
    samples: u64,
    expected: StoredObject,
    expected_samples: u64,
    finished: bool,
}

impl State {
    fn bad(&self, reason: String) -> Error {
        Error::Malformed {
            backend: self.inner.backend,
            origin: self.expected.key.clone(),
            reason,
        }
    }

    /// Parses the `.npy` header once enough bytes are pending (else waits for more).
    fn take_header(&mut self) -> Result<()> {
        if self.pending.len() < 10 {
            return Ok(());
        }
        let header_end = match self.pending[6] {
            1 => 10 + usize::from(u16::from_le_bytes([self.pending[8], self.pending[9]])),
            _ => {
                if self.pending.len() < 12 {
                    return Ok(());
                }
                let n = u32::from_le_bytes([self.pending[8], self.pending[9], self.pending[10], self.pending[11]]);
                12usize.saturating_add(usize::try_from(n).unwrap_or(usize::MAX))
            }
        };
        if self.pending.len() < header_end.min(12 + heimdall_core::npy::MAX_HEADER_LEN) {
            return Ok(());
        }
        let (header, offset) = NpyHeader::parse(&self.pending)?;
        if header.dtype.sample_format() != self.format || header.len != self.expected_samples {
            return Err(self.bad(format!(
                "header says {} {:?} samples, the manifest {} {:?}",
                header.len,
                header.dtype.sample_format(),
                self.expected_samples,
                self.format
            )));
        }
        let _ = self.pending.split_to(offset);
        self.header_done = true;
        Ok(())
    }

    /// Decodes up to [`BLOCK_BYTES`] of whole samples from `pending`.
    fn take_block(&mut self) -> Result<Option<SampleBlock>> {
        let size = self.format.bytes_per_sample();
        let whole = self.pending.len().min(BLOCK_BYTES) / size * size;
        if whole == 0 {
            return Ok(None);
        }
        let bytes = self.pending.split_to(whole);
        let block = decode(self.format, &bytes)?;
        self.samples += block.len() as u64;
        Ok(Some(block))
    }

    /// The checks once the body has ended: size, checksum, a complete header, whole samples,
    /// and the sample count (counting what is still pending).
    fn verify_end(&mut self) -> Result<()> {
        let digest = hex::encode(std::mem::take(&mut self.hasher).finalize());
        check_object(&self.expected, self.seen, &digest).map_err(|r| self.bad(r))?;
        if !self.header_done {
            return Err(self.bad("ends inside the .npy header".to_owned()));
        }
        let size = self.format.bytes_per_sample();
        if !self.pending.len().is_multiple_of(size) {
            return Err(self.bad(format!(
                "ends with {} bytes of a partial {size}-byte sample",
                self.pending.len() % size
            )));
        }
        let total = self.samples + (self.pending.len() / size) as u64;
        if total != self.expected_samples {
            return Err(self.bad(format!(
                "holds {total} samples, the manifest says {}",
                self.expected_samples
            )));
        }
        Ok(())
    }

    /// The next block, `None` at a clean end; an error ends the stream.
    async fn next(&mut self) -> Option<Result<SampleBlock>> {
        if self.finished {
            return None;
        }
        let r = self.step().await;
        if !matches!(r, Some(Ok(_))) {
            self.finished = true;
        }
        r
    }

    async fn step(&mut self) -> Option<Result<SampleBlock>> {
        loop {
            // Once the body has ended (and checked out), what is pending drains in blocks.
            if self.header_done && (self.pending.len() >= BLOCK_BYTES || self.body_done) {
                return self.take_block().transpose();
            }
            match self.body.next().await {
                Some(Ok(chunk)) => {
                    self.seen += chunk.len() as u64;
                    if self.seen > self.expected.size {
                        return Some(Err(
                            self.bad(format!("is longer than the manifest's {} bytes", self.expected.size))
                        ));
                    }
                    self.hasher.update(&chunk);
                    self.pending.extend_from_slice(&chunk);
                    if !self.header_done
                        && let Err(e) = self.take_header()
                    {
                        return Some(Err(e));
                    }
                }
                Some(Err(e)) => {
                    let path = object_store::path::Path::from(self.expected.key.as_str());
                    return Some(Err(self.inner.map_err("read", &path, e)));
                }
                None => {
                    self.body_done = true;
                    if let Err(e) = self.verify_end() {
                        return Some(Err(e));
                    }
                    if self.pending.is_empty() {
                        return None;
                    }
                }
            }
        }
    }
}

/// Compares an object's size and SHA-256 (lower-case hex) with what the manifest lists.
pub(crate) fn check_object(expected: &StoredObject, size: u64, sha256: &str) -> std::result::Result<(), String> {
    if size != expected.size {
        return Err(format!("size {size} differs from the manifest's {}", expected.size));
    }
    if sha256 != expected.sha256 {
        return Err(format!(
            "checksum mismatch: SHA-256 {sha256}, manifest says {}",
            expected.sha256
        ));
    }
    Ok(())
}

/// Decodes little-endian samples; callers pass whole samples only.
pub(crate) fn decode(format: SampleFormat, bytes: &[u8]) -> Result<SampleBlock> {
    let dtype = Dtype::for_format(format);
    let header = NpyHeader {
        dtype,
        len: (bytes.len() / dtype.size()) as u64,
    };
    decode_samples(&header, bytes)
}

/// The samples of an object's body as blocks of about [`BLOCK_BYTES`], verified against
/// `expected` (size, SHA-256) and `expected_samples`.
pub(crate) fn sample_stream(
    inner: Arc<Inner>,
    body: BoxStream<'static, object_store::Result<Bytes>>,
    layout: Layout,
    format: SampleFormat,
    expected: StoredObject,
    expected_samples: u64,
) -> BoxStream<'static, Result<SampleBlock>> {
    let state = State {
        inner,
        body,
        format,
        pending: BytesMut::new(),
        header_done: matches!(layout, Layout::Raw),
        body_done: false,
        hasher: Sha256::new(),
        seen: 0,
        samples: 0,
        expected,
        expected_samples,
        finished: false,
    };
    futures::stream::unfold(state, |mut st| async move {
        let item = st.next().await?;
        Some((item, st))
    })
    .boxed()
}
