//! The [`IqSink`] trait: where captures are archived, and [`IqArchive`]: reading them back.

use std::fmt::{Debug, Display};
use std::sync::Arc;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use futures::StreamExt;
use futures::stream::BoxStream;

use crate::capture::{CaptureChunk, CaptureInfo, CaptureSummary, SampleBlock};
use crate::error::Result;
use crate::ids::{ReceiverId, SessionAttempt, SessionId};
use crate::metrics::SignalMetrics;
use crate::report::{SessionReport, StoredObject};

/// Archives captures of a session, then commits the session.
///
/// Protocol, per attempt at a session: [`IqSink::begin_session`] (fails with
/// [`crate::Error::AlreadyExists`] when the session is committed, before anything is
/// written), any number of [`IqSink::begin_capture`] (concurrently), each writer ended by
/// [`CaptureWriter::finish`] or [`CaptureWriter::abort`]; then exactly one of
/// [`IqSink::commit_session`] (writes the manifest, last) or [`IqSink::abort_session`].
///
/// **Invariant: a committed session never changes.** Every object an attempt writes is scoped
/// by its [`SessionAttempt`] (two attempts never write the same key), and the commit creates the
/// manifest only if none exists, atomically: of two attempts racing, exactly one commits, and
/// its manifest lists exactly what it wrote. A reader that sees a manifest sees a complete
/// session. Leftovers of attempts that never committed are removed by [`IqSink::abort_session`]
/// or, after a crash, by a garbage collector.
#[async_trait]
pub trait IqSink: Send + Sync + Debug + Display + 'static {
    /// Starts an attempt at `session`. Fails with [`crate::Error::AlreadyExists`] when the
    /// session is already committed; writes nothing.
    async fn begin_session(&self, session: SessionId) -> Result<SessionAttempt>;

    /// Starts storing one receiver's capture for `attempt`.
    async fn begin_capture(&self, attempt: &SessionAttempt, info: &CaptureInfo) -> Result<Box<dyn CaptureWriter>>;

    /// Writes the session manifest (the commit marker) describing `report`, and returns it.
    /// Every object listed must have been written by `attempt`. A session that is already
    /// committed (by any attempt) gives [`crate::Error::AlreadyExists`] and is left untouched.
    async fn commit_session(&self, attempt: &SessionAttempt, report: &SessionReport) -> Result<StoredObject>;

    /// Deletes every object `attempt` wrote. Never touches a committed attempt's objects.
    async fn abort_session(&self, attempt: &SessionAttempt) -> Result<()>;

    /// Checks that the store is reachable and writable with the configured credentials.
    async fn health(&self) -> Result<()>;
}

/// Receives one capture's chunks, in order.
///
/// The engine guarantees that the samples written add up to `info.expected_samples` before it
/// calls `finish`, so formats whose header holds the length can be streamed.
#[async_trait]
pub trait CaptureWriter: Send + Debug {
    /// Stores one chunk (samples are written; other chunks go to the metadata).
    async fn write(&mut self, chunk: CaptureChunk) -> Result<()>;

    /// Completes the capture: flushes samples, writes metadata, returns the objects written.
    async fn finish(
        self: Box<Self>,
        summary: &CaptureSummary,
        metrics: Option<&SignalMetrics>,
    ) -> Result<Vec<StoredObject>>;

    /// Discards the capture: aborts uploads and removes whatever was written.
    async fn abort(self: Box<Self>) -> Result<()>;
}

/// A shared, dynamically chosen sink.
pub type DynIqSink = dyn IqSink;

forward_through_pointers!(IqSink {
    async fn begin_session(&self, session: SessionId) -> Result<SessionAttempt>;
    async fn begin_capture(&self, attempt: &SessionAttempt, info: &CaptureInfo) -> Result<Box<dyn CaptureWriter>>;
    async fn commit_session(&self, attempt: &SessionAttempt, report: &SessionReport) -> Result<StoredObject>;
    async fn abort_session(&self, attempt: &SessionAttempt) -> Result<()>;
    async fn health(&self) -> Result<()>;
});

/// One archived capture read back whole (for analysis and tests; stream large captures with
/// [`IqArchive::stream_capture`]).
#[derive(Debug, Clone, PartialEq)]
pub struct ArchivedCapture {
    /// Its summary as archived.
    pub summary: CaptureSummary,
    /// Its metrics as archived.
    pub metrics: Option<SignalMetrics>,
    /// The samples (checksum verified).
    pub samples: SampleBlock,
}

/// One archived capture read back as a stream of sample blocks, for captures larger than
/// memory. Blocks arrive in order; size and checksum are verified as the bytes go by, and a
/// mismatch is the stream's last item (an error), so a consumer that reads to the end never
/// takes a damaged capture for a whole one.
pub struct ArchivedCaptureStream {
    /// Its summary as archived.
    pub summary: CaptureSummary,
    /// Its metrics as archived.
    pub metrics: Option<SignalMetrics>,
    /// The samples, in blocks.
    pub samples: BoxStream<'static, Result<SampleBlock>>,
}

impl Debug for ArchivedCaptureStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ArchivedCaptureStream")
            .field("summary", &self.summary)
            .field("metrics", &self.metrics)
            .finish_non_exhaustive()
    }
}

/// Reading back what an [`IqSink`] archived (optional capability).
#[async_trait]
pub trait IqArchive: Send + Sync + Debug + 'static {
    /// Committed sessions, newest first, optionally those started within `[since, until)`.
    async fn list_sessions(&self, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>)
    -> Result<Vec<SessionId>>;

    /// The manifest of a committed session.
    async fn read_manifest(&self, session: SessionId) -> Result<SessionReport>;

    /// One receiver's capture of a session, with checksums verified.
    async fn read_capture(&self, session: SessionId, receiver: &ReceiverId) -> Result<ArchivedCapture>;

    /// One receiver's capture of a session as a stream of blocks (see [`ArchivedCaptureStream`]).
    /// The default reads the capture whole with [`IqArchive::read_capture`]; backends that hold
    /// large captures stream them.
    async fn stream_capture(&self, session: SessionId, receiver: &ReceiverId) -> Result<ArchivedCaptureStream> {
        let c = self.read_capture(session, receiver).await?;
        Ok(ArchivedCaptureStream {
            summary: c.summary,
            metrics: c.metrics,
            samples: futures::stream::once(async move { Ok(c.samples) }).boxed(),
        })
    }

    /// Every key stored under a session (committed or not), sorted.
    async fn list_objects(&self, session: SessionId) -> Result<Vec<String>>;
}

/// Conveniences on every [`IqSink`]. Implementers never implement this.
#[async_trait]
pub trait IqSinkExt: IqSink {
    /// Stores a whole in-memory capture in one call: begin, write every chunk, finish.
    async fn store_capture(
        &self,
        attempt: &SessionAttempt,
        summary: &CaptureSummary,
        metrics: Option<&SignalMetrics>,
        chunks: Vec<CaptureChunk>,
    ) -> Result<Vec<StoredObject>> {
        let mut w = self.begin_capture(attempt, &summary.info).await?;
        for c in chunks {
            if let Err(e) = w.write(c).await {
                let _ = w.abort().await;
                return Err(e);
            }
        }
        w.finish(summary, metrics).await
    }
}

impl<T: IqSink + ?Sized> IqSinkExt for T {}
