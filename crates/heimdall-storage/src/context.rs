//! What a sink and its writers, readers and uploads share: the store, the key layout and the
//! settings (below `sink`, `writer`, `reader`, `upload` and `builder`, which all use it).
//!
//! Key layout under the prefix:
//!
//! ```text
//! sessions/{session}/manifest.json             the commit marker (created only if absent)
//! sessions/{session}/localization.json         the localization, after the commit (created only if absent)
//! sessions/{session}/{attempt}/{file}          every object an attempt writes
//! ```

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use object_store::ObjectStore;
use object_store::path::Path;

use heimdall_core::{Error, Result, SessionAttempt, SessionId};

use crate::error::map_store_error;
use crate::formats::ArchiveFormat;

/// Smallest part size S3-compatible stores accept (except for the last part).
pub const MIN_PART_SIZE: usize = 5 * 1024 * 1024;
/// Default part size of multipart uploads: the 5 MiB minimum. Each capture being written holds
/// one part while filling it, so smaller parts mean less memory; an object whose announced size
/// would need more than 10 000 parts gets larger ones (see `ObjectUpload`).
pub const DEFAULT_PART_SIZE: usize = MIN_PART_SIZE;
/// Default number of parts in flight per object.
pub const DEFAULT_MAX_CONCURRENCY: usize = 3;
/// Default number of parts in flight in the whole sink, over all objects being written.
pub const DEFAULT_MAX_PARTS_IN_FLIGHT: usize = 3;
/// Name of the session manifest object.
pub const MANIFEST: &str = "manifest.json";
/// Folder under the prefix that holds the sessions.
pub const SESSIONS_DIR: &str = "sessions";

/// What a crash can leave behind besides objects, and how to find it (for the garbage
/// collector).
#[derive(Clone)]
pub(crate) enum Cleanup {
    /// Nothing (memory).
    Nothing,
    /// Local disk rooted at this directory: `object_store`'s multipart staging files
    /// (`{name}#{n}`) of uploads that never completed.
    Local(PathBuf),
    /// S3: incomplete multipart uploads.
    S3(Arc<crate::s3_uploads::S3Uploads>),
}

impl fmt::Debug for Cleanup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cleanup::Nothing => f.write_str("Nothing"),
            Cleanup::Local(p) => f.debug_tuple("Local").field(p).finish(),
            Cleanup::S3(_) => f.write_str("S3"),
        }
    }
}

/// Shared state of a sink and its writers.
pub(crate) struct Inner {
    pub(crate) store: Arc<dyn ObjectStore>,
    pub(crate) prefix: Path,
    pub(crate) backend: &'static str,
    pub(crate) location: String,
    pub(crate) format: ArchiveFormat,
    pub(crate) part_size: usize,
    pub(crate) max_concurrency: usize,
    /// Parts in flight over all objects (`max_parts_in_flight` permits).
    pub(crate) parts_in_flight: Arc<tokio::sync::Semaphore>,
    pub(crate) max_parts_in_flight: usize,
    /// Part buffers reused between parts while uploads run.
    pub(crate) part_pool: Arc<crate::part_buffer::PartPool>,
    pub(crate) supports_attributes: bool,
    pub(crate) collection: bool,
    /// Byte limit of the spectra kept per capture (0: not archived).
    pub(crate) max_spectra_bytes: u64,
    /// What a crash can leave besides objects.
    pub(crate) cleanup: Cleanup,
}

impl fmt::Debug for Inner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ArchiveSink")
            .field("location", &self.location)
            .field("backend", &self.backend)
            .field("format", &self.format)
            .field("part_size", &self.part_size)
            .field("max_concurrency", &self.max_concurrency)
            .field("max_parts_in_flight", &self.max_parts_in_flight)
            .finish_non_exhaustive()
    }
}

impl Inner {
    pub(crate) fn map_err(&self, operation: &'static str, path: &Path, e: object_store::Error) -> Error {
        map_store_error(self.backend, &self.location, operation, path.as_ref(), e)
    }

    /// `{prefix}/sessions/{session}`.
    pub(crate) fn session_dir(&self, session: SessionId) -> Path {
        self.prefix
            .clone()
            .join(SESSIONS_DIR)
            .join(session.to_string().as_str())
    }

    /// `{prefix}/sessions/{session}/{attempt}`: everything one attempt writes.
    pub(crate) fn attempt_dir(&self, attempt: &SessionAttempt) -> Path {
        self.session_dir(attempt.session).join(attempt.attempt.as_str())
    }

    /// `{prefix}/sessions/{session}/{attempt}/{file}`, checked to stay inside the attempt folder.
    pub(crate) fn attempt_path(&self, attempt: &SessionAttempt, file: &str) -> Result<Path> {
        child(self.attempt_dir(attempt), file)
    }

    /// `{prefix}/sessions/{session}/{file}`, checked to stay inside the session folder.
    pub(crate) fn object_path(&self, session: SessionId, file: &str) -> Result<Path> {
        child(self.session_dir(session), file)
    }
}

/// `{dir}/{file}`, where `file` is one plain name that cannot escape `dir`.
fn child(dir: Path, file: &str) -> Result<Path> {
    let ok_name = !file.is_empty()
        && file != "."
        && file != ".."
        && file
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let path = dir.clone().join(file);
    if !ok_name || !path.prefix_matches(&dir) || path.parts_count() != dir.parts_count() + 1 {
        return Err(Error::invalid(
            "object key",
            format!("{file:?} would escape the folder {dir}"),
        ));
    }
    Ok(path)
}
