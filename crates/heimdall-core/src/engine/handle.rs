//! The handle of a running session: events, cancellation, result.

use std::collections::BTreeMap;
use std::fmt;
use std::future::IntoFuture;
use std::sync::Mutex;

use futures::future::BoxFuture;
use futures::stream::{BoxStream, StreamExt};
use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::{ENGINE, EngineEvent};
use crate::dsp::Psd;
use crate::error::{Error, Result};
use crate::ids::{ReceiverId, SessionId};
use crate::report::SessionReport;

/// A session's report plus what does not belong in the manifest: each receiver's PSD.
#[derive(Debug, Clone, PartialEq)]
pub struct SessionOutcome {
    /// The report (also the manifest body).
    pub report: SessionReport,
    /// The Welch PSD of every receiver whose capture completed and was analysed.
    pub psds: BTreeMap<ReceiverId, Psd>,
}

/// A stream of [`EngineEvent`]s that ends after [`EngineEvent::SessionFinished`].
pub type EventStream = BoxStream<'static, EngineEvent>;

/// A running acquisition session.
///
/// Await it (`handle.await` or [`AcquisitionHandle::finish`]) for the report. Dropping it, or
/// dropping the future that awaits it, cancels the session (cleanup still runs in the
/// background).
pub struct AcquisitionHandle {
    session_id: SessionId,
    first: Mutex<Option<broadcast::Receiver<EngineEvent>>>,
    weak: broadcast::WeakSender<EngineEvent>,
    cancel: CancellationToken,
    join: Option<JoinHandle<Result<SessionOutcome>>>,
    done: bool,
}

impl fmt::Debug for AcquisitionHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AcquisitionHandle")
            .field("session_id", &self.session_id)
            .field("cancelled", &self.cancel.is_cancelled())
            .finish_non_exhaustive()
    }
}

impl AcquisitionHandle {
    pub(super) fn new(
        session_id: SessionId,
        first: broadcast::Receiver<EngineEvent>,
        weak: broadcast::WeakSender<EngineEvent>,
        cancel: CancellationToken,
        join: JoinHandle<Result<SessionOutcome>>,
    ) -> Self {
        AcquisitionHandle {
            session_id,
            first: Mutex::new(Some(first)),
            weak,
            cancel,
            join: Some(join),
            done: false,
        }
    }

    /// The session id.
    pub fn session_id(&self) -> SessionId {
        self.session_id
    }

    /// The session's events. The first call sees every event since the session started;
    /// later calls see events from the moment of the call. A subscriber that falls more than
    /// the engine's event capacity behind loses the oldest events (it never slows the engine).
    /// The stream ends after [`EngineEvent::SessionFinished`].
    pub fn events(&self) -> EventStream {
        let first = self.first.lock().unwrap_or_else(|p| p.into_inner()).take();
        let rx = match first {
            Some(rx) => rx,
            None => match self.weak.upgrade() {
                Some(tx) => tx.subscribe(),
                None => return futures::stream::empty().boxed(),
            },
        };
        futures::stream::unfold((rx, false), |(mut rx, done)| async move {
            if done {
                return None;
            }
            loop {
                match rx.recv().await {
                    Ok(ev) => {
                        let last = matches!(ev, EngineEvent::SessionFinished { .. });
                        return Some((ev, (rx, last)));
                    }
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "slow event subscriber: oldest events dropped");
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .boxed()
    }

    /// A token that cancels the session when cancelled.
    pub fn cancel_token(&self) -> CancellationToken {
        self.cancel.clone()
    }

    /// Cancels the session (see the module docs for what remains: nothing).
    pub fn cancel(&self) {
        self.cancel.cancel();
    }

    /// Waits for the report.
    pub async fn finish(self) -> Result<SessionReport> {
        self.finish_detailed().await.map(|o| o.report)
    }

    /// Waits for the report and the receivers' PSDs. Fails with [`Error::AlreadyExists`] when the
    /// session is already committed (by an earlier run, or by a concurrent attempt that committed
    /// first): nothing of this attempt is kept or recorded then.
    pub async fn finish_detailed(mut self) -> Result<SessionOutcome> {
        let Some(join) = self.join.take() else {
            return Err(Error::invalid("handle", "the session result was already taken"));
        };
        // If this future is dropped while waiting, `self` drops and cancels the session.
        let r = join.await.map_err(|e| Error::Generic {
            backend: ENGINE,
            source: format!("session task failed: {e}").into(),
        });
        // Completed: nothing left to cancel.
        self.done = true;
        r?
    }
}

impl Drop for AcquisitionHandle {
    fn drop(&mut self) {
        if !self.done {
            self.cancel.cancel();
        }
    }
}

impl IntoFuture for AcquisitionHandle {
    type Output = Result<SessionReport>;
    type IntoFuture = BoxFuture<'static, Result<SessionReport>>;

    fn into_future(self) -> Self::IntoFuture {
        Box::pin(self.finish())
    }
}
