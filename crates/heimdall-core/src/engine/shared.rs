//! What every receiver task of one session attempt shares (below both `session` and
//! `receiver`, which use it).

use std::sync::Arc;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::EngineInner;
use super::events::EngineEvent;
use crate::ids::{SessionAttempt, SessionId};
use crate::request::CaptureRequest;

/// State shared by the receiver tasks of one attempt at a session.
pub(super) struct Shared {
    pub(super) engine: Arc<EngineInner>,
    pub(super) session_id: SessionId,
    /// The sink's attempt: scopes every object written.
    pub(super) attempt: SessionAttempt,
    pub(super) capture_request: CaptureRequest,
    pub(super) events: broadcast::Sender<EngineEvent>,
    pub(super) cancel: CancellationToken,
}

impl Shared {
    /// Publishes an event; never blocks (slow subscribers lose old events).
    pub(super) fn emit(&self, ev: EngineEvent) {
        let _ = self.events.send(ev);
    }
}
