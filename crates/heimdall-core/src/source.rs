//! The [`ReceiverSource`] trait: where captures come from.

use std::fmt::{Debug, Display};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio_util::sync::CancellationToken;

use crate::capture::CaptureStream;
use crate::error::Result;
use crate::receiver::{ReceiverHealth, ReceiverInfo};
use crate::request::CaptureRequest;

/// A receiver that can produce captures: a KiwiSDR, an OpenWebRX, an rtl_tcp dongle, an HTTP IQ
/// endpoint, a simulated receiver.
///
/// Implementations are cheap to clone behind an `Arc`, do no I/O at construction, and keep
/// their protocol configuration (passwords, gains) to themselves.
#[async_trait]
pub trait ReceiverSource: Send + Sync + Debug + Display + 'static {
    /// Who this receiver is.
    fn info(&self) -> &ReceiverInfo;

    /// A quick liveness and capacity check (no capture).
    async fn health(&self) -> Result<ReceiverHealth>;

    /// Connects and handshakes, then returns the capture header and a stream of its chunks.
    ///
    /// Contract:
    /// - the stream delivers exactly `info.expected_samples` samples and then ends, or ends with
    ///   an `Err` (a stream that ends early without error is treated as a lost connection);
    /// - a [`crate::CaptureChunk::Time`] for sample 0 comes before the first samples;
    /// - when `req.start_at` is set the source connects now and delivers samples from that
    ///   instant on;
    /// - when `cancel` fires the stream ends promptly with [`crate::Error::Cancelled`] and the
    ///   connection is closed. Dropping the stream also closes it.
    async fn open(&self, req: &CaptureRequest, cancel: CancellationToken) -> Result<CaptureStream>;

    /// Whether [`open`](Self::open) times itself: `Some(t)` when the source first waits on its own
    /// terms (per-host politeness spacing, a busy back-off), which can last longer than any
    /// connect timeout, and then bounds its connect and handshake by its own timeouts, `t` in
    /// all. The engine then does not cut `open` at its connect timeout (which would fire during
    /// the polite wait, or before the source's own handshake timeout could); it only keeps a
    /// safety bound of `t` plus its connect timeout plus [`SELF_TIMED_OPEN_SLACK`].
    /// `None` (the default): the engine's connect timeout bounds `open`.
    fn self_timed_open(&self) -> Option<Duration> {
        None
    }
}

/// Extra time the engine allows a [`ReceiverSource::self_timed_open`] source to wait on its own
/// terms before it connects: 10 minutes, sixty politeness intervals of 10 s.
pub const SELF_TIMED_OPEN_SLACK: Duration = Duration::from_secs(600);

/// A shared, dynamically chosen source.
pub type DynReceiverSource = dyn ReceiverSource;

forward_through_pointers!(ReceiverSource {
    async fn health(&self) -> Result<ReceiverHealth>;
    async fn open(&self, req: &CaptureRequest, cancel: CancellationToken) -> Result<CaptureStream>;
    fn info(&self) -> &ReceiverInfo;
    fn self_timed_open(&self) -> Option<Duration>;
});

/// Conveniences on every [`ReceiverSource`]. Implementers never implement this.
#[async_trait]
pub trait ReceiverSourceExt: ReceiverSource {
    /// [`ReceiverSource::open`] with a token that is never cancelled.
    async fn open_uncancellable(&self, req: &CaptureRequest) -> Result<CaptureStream> {
        self.open(req, CancellationToken::new()).await
    }

    /// The receiver id as a string.
    fn id_str(&self) -> &str {
        self.info().id.as_str()
    }
}

impl<T: ReceiverSource + ?Sized> ReceiverSourceExt for T {}
