//! The acquisition engine: one request, N receivers at once, every capture measured,
//! archived and recorded, failures contained to the receiver that failed.
//!
//! An [`Engine`] is built from a set of [`ReceiverSource`]s, one [`IqSink`] and one
//! [`MetricStore`] ([`Engine::builder`]; nothing connects at build time). For one
//! [`AcquisitionRequest`] it:
//!
//! 1. opens every selected receiver concurrently (at most [`EngineBuilder::concurrency`] at a
//!    time), each with a connect timeout, then a total timeout of `duration + margin` (plus the
//!    wait until `start_at` when a common start is scheduled);
//! 2. streams each capture: every chunk goes through the metrics analyser ([`crate::dsp`]) and
//!    into a [`crate::CaptureWriter`] as it arrives, so no stage holds a whole capture; the
//!    engine enforces the sample-count contract (surplus samples are dropped, a stream ending
//!    short is [`Error::ConnectionLost`]);
//! 3. retries only [`Error::is_retryable`] fetch failures, with exponential backoff and jitter
//!    ([`RetryConfig`]), never waiting less than [`Error::retry_after`]; a retry starts a fresh
//!    writer after aborting the previous one, so nothing partial is stored;
//! 4. begins every run with [`IqSink::begin_session`], which refuses a committed session before
//!    anything is opened or written ([`Error::AlreadyExists`] from the handle), and scopes every
//!    object of the run by its attempt; once every receiver is done, **commits the manifest
//!    first** (create-only: of two attempts racing, exactly one commits), then writes one batch
//!    of measurement rows derived from the committed report (retried, the writes are
//!    idempotent), then the session record (never downgrading a committed one); so no row ever
//!    exists for a session that is not committed, and every re-run writes the same rows;
//! 5. reports progress as a stream of [`EngineEvent`]s and returns a [`SessionReport`].
//!
//! Decisions worth knowing:
//!
//! - **Nothing stored**: when no receiver stored a capture, the session is recorded in the
//!   store (its report says why every receiver failed) but no manifest is written: the sink's
//!   session is aborted, so the archive only ever holds sessions with data.
//! - **Cancellation** ([`AcquisitionHandle::cancel`], or dropping the handle or the `acquire`
//!   future) stops all receivers promptly, aborts in-flight writers, calls
//!   [`IqSink::abort_session`] (so no object remains, including captures already finished) and
//!   writes no measurement row; the session record (one bounded attempt) says it was cancelled,
//!   so that the session is known after the process is gone. The result is `Ok` with a report whose status is
//!   [`crate::SessionStatus::Cancelled`] (every receiver [`crate::ReceiverStatus::Cancelled`]). Cancellation
//!   is honoured until the engine starts writing rows; from then on the session completes.
//! - **Row batch failure**: the session is committed (the archive is complete), receivers keep
//!   [`crate::ReceiverStatus::Stored`] with the database error, and [`record_committed`] (what a
//!   queue worker runs when a redelivered job finds its session committed, or a database rebuild)
//!   writes the rows later from the manifest.
//! - **Commit failure**: this attempt's objects are removed, every stored receiver becomes
//!   [`crate::ReceiverStatus::StoreFailed`] with the commit error, no row is written, and the
//!   session record says so; the session can be run again. A commit that finds the session
//!   committed by another attempt returns [`Error::AlreadyExists`] and keeps nothing.
//! - **Scheduled start** (`start_at`): sources are opened ahead of time (they connect and
//!   handshake early and deliver from `start_at`); set the concurrency to at least the number of
//!   receivers, or the receivers beyond the limit open late. Each capture reports its
//!   `start_skew_s` and time source.
//!
//! Logging goes through `tracing`, in spans named `session` (field `session`) and `receiver`
//! (fields `receiver`, `session`).
//!
//! ```
//! # async fn demo(sources: Vec<std::sync::Arc<dyn heimdall_core::ReceiverSource>>) -> heimdall_core::Result<()> {
//! use std::{sync::Arc, time::Duration};
//! use futures::StreamExt;
//! use heimdall_core::{AcquisitionRequest, engine::Engine, memory::{MemorySink, MemoryStore}};
//!
//! let engine = Engine::builder()
//!     .sources(sources)
//!     .sink(Arc::new(MemorySink::new()))
//!     .store(Arc::new(MemoryStore::new()))
//!     .concurrency(8)
//!     .build()?;
//! let handle = engine.start(AcquisitionRequest::new(145.5e6, Duration::from_secs(10)), None)?;
//! let mut events = handle.events();
//! tokio::spawn(async move { while let Some(ev) = events.next().await { tracing::info!(?ev) } });
//! let report = handle.await?;
//! println!("{} of {} receivers recorded", report.recorded(), report.receivers.len());
//! # Ok(()) }
//! ```

mod events;
mod handle;
mod receiver;
mod recover;
mod retry;
mod session;
mod shared;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::ids::{ReceiverId, SessionId};
use crate::receiver::ReceiverInfo;
use crate::request::AcquisitionRequest;
use crate::sink::IqSink;
use crate::source::ReceiverSource;
use crate::store::MetricStore;

pub use events::EngineEvent;
pub use handle::{AcquisitionHandle, EventStream, SessionOutcome};
pub use recover::record_committed;
pub use retry::RetryConfig;

use crate::report::SessionReport;

/// Backend name used in errors the engine itself raises (timeouts, short streams).
pub const ENGINE: &str = "engine";

/// Builds an [`Engine`]. Cheap; no I/O; everything is checked by [`EngineBuilder::build`].
#[derive(Clone, Default)]
pub struct EngineBuilder {
    sources: Vec<Arc<dyn ReceiverSource>>,
    sink: Option<Arc<dyn IqSink>>,
    store: Option<Arc<dyn MetricStore>>,
    config: EngineConfig,
}

impl fmt::Debug for EngineBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EngineBuilder")
            .field(
                "sources",
                &self.sources.iter().map(|s| s.info().id.clone()).collect::<Vec<_>>(),
            )
            .field("sink", &self.sink.as_ref().map(|s| s.to_string()))
            .field("store", &self.store.as_ref().map(|s| s.to_string()))
            .field("config", &self.config)
            .finish()
    }
}

/// Tunables of an engine.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct EngineConfig {
    pub(crate) concurrency: usize,
    pub(crate) connect_timeout: Duration,
    pub(crate) capture_timeout_margin: Duration,
    pub(crate) retry: RetryConfig,
    pub(crate) progress_interval: Duration,
    pub(crate) event_capacity: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            concurrency: 16,
            connect_timeout: Duration::from_secs(10),
            capture_timeout_margin: Duration::from_secs(30),
            retry: RetryConfig::default(),
            progress_interval: Duration::from_millis(100),
            event_capacity: 1024,
        }
    }
}

impl EngineBuilder {
    /// An empty builder (same as [`Engine::builder`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds one receiver source.
    pub fn source(mut self, source: Arc<dyn ReceiverSource>) -> Self {
        self.sources.push(source);
        self
    }

    /// Adds receiver sources.
    pub fn sources(mut self, sources: impl IntoIterator<Item = Arc<dyn ReceiverSource>>) -> Self {
        self.sources.extend(sources);
        self
    }

    /// Where captures are archived (required).
    pub fn sink(mut self, sink: Arc<dyn IqSink>) -> Self {
        self.sink = Some(sink);
        self
    }

    /// Where measurement rows and session records go (required).
    pub fn store(mut self, store: Arc<dyn MetricStore>) -> Self {
        self.store = Some(store);
        self
    }

    /// At most `n` receivers are fetched at the same time (default 16; at least 1).
    pub fn concurrency(mut self, n: usize) -> Self {
        self.config.concurrency = n;
        self
    }

    /// Deadline for a source to connect and handshake (default 10 s).
    pub fn connect_timeout(mut self, d: Duration) -> Self {
        self.config.connect_timeout = d;
        self
    }

    /// Time allowed beyond the capture duration (and the wait until `start_at`) before a
    /// capture times out (default 30 s).
    pub fn capture_timeout_margin(mut self, d: Duration) -> Self {
        self.config.capture_timeout_margin = d;
        self
    }

    /// Retry policy for fetches and row batches (default [`RetryConfig::default`]).
    pub fn retry(mut self, retry: RetryConfig) -> Self {
        self.config.retry = retry;
        self
    }

    /// Minimum interval between two [`EngineEvent::Progress`] of one receiver (default 100 ms).
    pub fn progress_interval(mut self, d: Duration) -> Self {
        self.config.progress_interval = d;
        self
    }

    /// Events buffered per subscriber before the oldest are dropped for a slow subscriber
    /// (default 1024). Subscribers never slow the engine down.
    pub fn event_capacity(mut self, n: usize) -> Self {
        self.config.event_capacity = n;
        self
    }

    /// Checks the configuration and builds the engine (no I/O).
    pub fn build(self) -> Result<Engine> {
        let sink = self
            .sink
            .ok_or_else(|| Error::config("the engine needs a sink (EngineBuilder::sink)"))?;
        let store = self
            .store
            .ok_or_else(|| Error::config("the engine needs a metric store (EngineBuilder::store)"))?;
        if self.sources.is_empty() {
            return Err(Error::config("the engine needs at least one receiver source"));
        }
        let mut seen = HashSet::new();
        for s in &self.sources {
            if !seen.insert(s.info().id.clone()) {
                return Err(Error::config(format!(
                    "receiver id {} is used by two sources",
                    s.info().id
                )));
            }
        }
        let c = &self.config;
        if c.concurrency == 0 {
            return Err(Error::invalid("concurrency", "must be at least 1"));
        }
        if c.connect_timeout.is_zero() {
            return Err(Error::invalid("connect_timeout", "must be more than zero"));
        }
        if c.event_capacity == 0 {
            return Err(Error::invalid("event_capacity", "must be at least 1"));
        }
        c.retry.validate()?;
        Ok(Engine {
            inner: Arc::new(EngineInner {
                sources: self.sources,
                sink,
                store,
                config: self.config,
            }),
        })
    }
}

pub(crate) struct EngineInner {
    pub(crate) sources: Vec<Arc<dyn ReceiverSource>>,
    pub(crate) sink: Arc<dyn IqSink>,
    pub(crate) store: Arc<dyn MetricStore>,
    pub(crate) config: EngineConfig,
}

/// Runs acquisition sessions over a fixed set of receivers, one sink and one store.
/// Cheap to clone (shared); sessions may run concurrently.
#[derive(Clone)]
pub struct Engine {
    inner: Arc<EngineInner>,
}

impl fmt::Debug for Engine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Engine")
            .field("receivers", &self.receiver_ids())
            .field("sink", &self.inner.sink.to_string())
            .field("store", &self.inner.store.to_string())
            .field("config", &self.inner.config)
            .finish()
    }
}

impl Engine {
    /// A builder.
    pub fn builder() -> EngineBuilder {
        EngineBuilder::new()
    }

    /// The receivers this engine knows, in order.
    pub fn receivers(&self) -> Vec<ReceiverInfo> {
        self.inner.sources.iter().map(|s| s.info().clone()).collect()
    }

    /// The receiver ids, in order.
    pub fn receiver_ids(&self) -> Vec<ReceiverId> {
        self.inner.sources.iter().map(|s| s.info().id.clone()).collect()
    }

    /// Runs one acquisition to the end and returns its report.
    ///
    /// Errors only for an invalid request (including an unknown receiver id in
    /// `req.receivers`: [`Error::InvalidInput`]) or when called outside a Tokio runtime; every
    /// receiver, storage or database failure is in the report. Dropping the future cancels the
    /// session (see the module docs).
    pub async fn acquire(&self, req: AcquisitionRequest) -> Result<SessionReport> {
        self.start(req, None)?.finish().await
    }

    /// Like [`Engine::acquire`], also returning each receiver's PSD.
    pub async fn acquire_detailed(&self, req: AcquisitionRequest) -> Result<SessionOutcome> {
        self.start(req, None)?.finish_detailed().await
    }

    /// Starts an acquisition in the background and returns its handle (events, cancellation,
    /// result). `session_id` lets the caller choose the id (e.g. one it already returned to a
    /// client); a new time-ordered id is made otherwise.
    ///
    /// Must be called within a Tokio runtime. Dropping the handle cancels the session.
    pub fn start(&self, req: AcquisitionRequest, session_id: Option<SessionId>) -> Result<AcquisitionHandle> {
        req.validate()?;
        let sources = self.select(&req)?;
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| Error::config("Engine::start must be called from within a Tokio runtime"))?;
        let session_id = session_id.unwrap_or_else(SessionId::new);
        let (tx, rx) = broadcast::channel(self.inner.config.event_capacity);
        let cancel = CancellationToken::new();
        let weak = tx.downgrade();
        let task = session::Session::new(self.inner.clone(), session_id, req, sources, tx, cancel.clone());
        let join = runtime.spawn(task.run());
        Ok(AcquisitionHandle::new(session_id, rx, weak, cancel, join))
    }

    fn select(&self, req: &AcquisitionRequest) -> Result<Vec<Arc<dyn ReceiverSource>>> {
        let Some(ids) = &req.receivers else {
            return Ok(self.inner.sources.clone());
        };
        let known: HashSet<&ReceiverId> = self.inner.sources.iter().map(|s| &s.info().id).collect();
        if let Some(unknown) = ids.iter().find(|id| !known.contains(id)) {
            let mut names: Vec<&str> = known.iter().map(|i| i.as_str()).collect();
            names.sort_unstable();
            return Err(Error::invalid(
                "receivers",
                format!("unknown receiver id {unknown}; known: {}", names.join(", ")),
            ));
        }
        let wanted: HashSet<&ReceiverId> = ids.iter().collect();
        Ok(self
            .inner
            .sources
            .iter()
            .filter(|s| wanted.contains(&s.info().id))
            .cloned()
            .collect())
    }
}
