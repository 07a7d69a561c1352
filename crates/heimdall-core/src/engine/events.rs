//! Typed progress events of a session.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::capture::{CaptureInfo, CaptureSummary};
use crate::error::ErrorReport;
use crate::ids::{ReceiverId, SessionId};
use crate::report::{SessionReport, StoredObject};

/// Something that happened in a session, in order per receiver.
///
/// Serialises as an internally tagged object (`{"type": "progress", "receiver": ..., ...}`) so a
/// host service can push events to a browser as they are (SSE, websocket).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum EngineEvent {
    /// The session started with these receivers.
    SessionStarted {
        /// Session id.
        session_id: SessionId,
        /// Selected receivers, in order.
        receivers: Vec<ReceiverId>,
    },
    /// A connection attempt begins (1 = first attempt).
    ReceiverConnecting {
        /// Receiver.
        receiver: ReceiverId,
        /// Attempt number.
        attempt: u32,
    },
    /// The source connected and reported its capture header.
    ReceiverConnected {
        /// Receiver.
        receiver: ReceiverId,
        /// The capture header.
        info: Box<CaptureInfo>,
    },
    /// Samples received so far (throttled).
    Progress {
        /// Receiver.
        receiver: ReceiverId,
        /// Samples received.
        samples: u64,
        /// Samples expected.
        expected: u64,
        /// Sample bytes received.
        bytes: u64,
    },
    /// The capture is complete and measured.
    CaptureFinished {
        /// Receiver.
        receiver: ReceiverId,
        /// What was captured.
        summary: Box<CaptureSummary>,
    },
    /// The capture is archived.
    Stored {
        /// Receiver.
        receiver: ReceiverId,
        /// Objects written.
        objects: Vec<StoredObject>,
    },
    /// The receiver's measurement row is written.
    Recorded {
        /// Receiver.
        receiver: ReceiverId,
    },
    /// Something failed; `receiver` is `None` for session-level failures (row batch, session
    /// record, manifest commit).
    Failed {
        /// Receiver, if the failure is one receiver's.
        receiver: Option<ReceiverId>,
        /// The error.
        error: ErrorReport,
        /// Whether the engine will retry.
        will_retry: bool,
    },
    /// A new attempt will start after `after`.
    Retrying {
        /// Receiver.
        receiver: ReceiverId,
        /// Number of the coming attempt.
        attempt: u32,
        /// Wait before it, seconds in JSON.
        #[serde(with = "crate::request::duration_secs")]
        after: Duration,
    },
    /// The session is over (always the last event).
    SessionFinished {
        /// The final report.
        report: Box<SessionReport>,
    },
}

impl EngineEvent {
    /// The receiver this event is about, if any.
    pub fn receiver(&self) -> Option<&ReceiverId> {
        match self {
            EngineEvent::ReceiverConnecting { receiver, .. }
            | EngineEvent::ReceiverConnected { receiver, .. }
            | EngineEvent::Progress { receiver, .. }
            | EngineEvent::CaptureFinished { receiver, .. }
            | EngineEvent::Stored { receiver, .. }
            | EngineEvent::Recorded { receiver }
            | EngineEvent::Retrying { receiver, .. } => Some(receiver),
            EngineEvent::Failed { receiver, .. } => receiver.as_ref(),
            EngineEvent::SessionStarted { .. } | EngineEvent::SessionFinished { .. } => None,
        }
    }

    /// The snake_case event name (the JSON `type`).
    pub fn name(&self) -> &'static str {
        match self {
            EngineEvent::SessionStarted { .. } => "session_started",
            EngineEvent::ReceiverConnecting { .. } => "receiver_connecting",
            EngineEvent::ReceiverConnected { .. } => "receiver_connected",
            EngineEvent::Progress { .. } => "progress",
            EngineEvent::CaptureFinished { .. } => "capture_finished",
            EngineEvent::Stored { .. } => "stored",
            EngineEvent::Recorded { .. } => "recorded",
            EngineEvent::Failed { .. } => "failed",
            EngineEvent::Retrying { .. } => "retrying",
            EngineEvent::SessionFinished { .. } => "session_finished",
        }
    }
}
