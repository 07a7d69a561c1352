//! One acquisition started by this process: its events (replayed to late SSE clients), its
//! per-receiver progress and its result.

use std::sync::{Arc, Mutex};

use chrono::{DateTime, Utc};
use heimdall_core::engine::EngineEvent;
use heimdall_core::queue::JobEvent;
use heimdall_core::{ErrorReport, ReceiverId, SessionId, SessionReport};
use serde_json::json;
use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::api::{AcquisitionStatus, ErrorBody, ReceiverState};
use crate::lock;

/// Events buffered per SSE client before the oldest are dropped.
const SSE_BUFFER: usize = 1024;

/// An acquisition started by this process: run by its engine, or submitted to the work queue
/// and followed through the session's events ([`Job::queued`]).
#[derive(Debug)]
pub struct Job {
    pub(crate) session_id: SessionId,
    /// Submitted to the work queue (a worker runs it): shutting this process down does not
    /// cancel it, and cancelling it goes through the queue.
    pub(crate) queued: bool,
    pub(crate) created_at: DateTime<Utc>,
    /// When the session should be over (its start, duration and a margin), if known: what a
    /// refused client is told to wait (`Retry-After`).
    pub(crate) expected_end: Option<DateTime<Utc>>,
    pub(crate) receivers: Vec<ReceiverId>,
    pub(crate) cancel: CancellationToken,
    pub(crate) state: Mutex<JobState>,
    /// Live events for SSE clients; sent while holding `state`, so a client that takes the
    /// replay log and subscribes under the same lock misses nothing and sees nothing twice.
    pub(crate) live: broadcast::Sender<SseItem>,
    pub(crate) done: watch::Sender<bool>,
}

#[derive(Clone, Debug)]
pub(crate) struct SseItem {
    pub(crate) seq: u64,
    pub(crate) name: &'static str,
    pub(crate) data: Arc<str>,
    pub(crate) last: bool,
}

#[derive(Debug)]
pub(crate) struct JobState {
    /// Samples flow (or a capture finished): `PROGRESS` instead of `PENDING`.
    pub(crate) started: bool,
    pub(crate) receivers: Vec<(ReceiverId, RxProgress)>,
    /// Every event but `progress` (superseded by the next one), for late SSE clients.
    pub(crate) log: Vec<SseItem>,
    pub(crate) seq: u64,
    pub(crate) report: Option<Arc<SessionReport>>,
    /// The engine task failed (no report).
    pub(crate) failure: Option<String>,
    pub(crate) finished_at: Option<DateTime<Utc>>,
}

#[derive(Clone, Debug, Default)]
pub(crate) struct RxProgress {
    pub(crate) state: &'static str,
    pub(crate) samples: u64,
    pub(crate) expected: u64,
    pub(crate) attempts: u32,
    pub(crate) error: Option<ErrorReport>,
}

impl RxProgress {
    fn fraction(&self) -> f64 {
        match self.state {
            "captured" | "stored" | "recorded" | "failed" | "fetch_failed" | "store_failed" | "cancelled" => 1.0,
            _ if self.expected > 0 => (self.samples as f64 / self.expected as f64).min(1.0),
            _ => 0.0,
        }
    }
}

impl Job {
    /// An acquisition the engine of this process runs.
    pub fn new(session_id: SessionId, receivers: Vec<ReceiverId>, cancel: CancellationToken) -> Self {
        Self::with_mode(session_id, receivers, cancel, false)
    }

    /// An acquisition submitted to the work queue; `cancel` asks the queue to cancel it.
    pub fn queued(session_id: SessionId, receivers: Vec<ReceiverId>, cancel: CancellationToken) -> Self {
        Self::with_mode(session_id, receivers, cancel, true)
    }

    fn with_mode(session_id: SessionId, receivers: Vec<ReceiverId>, cancel: CancellationToken, queued: bool) -> Self {
        let per = receivers
            .iter()
            .map(|r| {
                (
                    r.clone(),
                    RxProgress {
                        state: "pending",
                        ..Default::default()
                    },
                )
            })
            .collect();
        Job {
            session_id,
            queued,
            created_at: Utc::now(),
            expected_end: None,
            receivers,
            cancel,
            state: Mutex::new(JobState {
                started: false,
                receivers: per,
                log: Vec::new(),
                seq: 0,
                report: None,
                failure: None,
                finished_at: None,
            }),
            live: broadcast::channel(SSE_BUFFER).0,
            done: watch::channel(false).0,
        }
    }

    /// Says when the session should be over (see [`Job::expected_end`]).
    pub fn expecting_end(mut self, at: DateTime<Utc>) -> Self {
        self.expected_end = Some(at);
        self
    }

    pub fn is_done(&self) -> bool {
        *self.done.borrow()
    }

    pub async fn wait_done(&self) {
        let mut rx = self.done.subscribe();
        // Only fails if the sender is gone, which cannot happen while `self` lives.
        let _ = rx.wait_for(|d| *d).await;
    }

    /// Folds one engine event into the progress and forwards it to SSE clients.
    pub fn apply(&self, ev: &EngineEvent) {
        let data: Arc<str> = serde_json::to_string(ev)
            .unwrap_or_else(|e| json!({"type": ev.name(), "error": e.to_string()}).to_string())
            .into();
        let mut st = lock(&self.state);
        let rx =
            |st: &mut JobState, id: &ReceiverId| -> Option<usize> { st.receivers.iter().position(|(r, _)| r == id) };
        match ev {
            EngineEvent::ReceiverConnecting { receiver, attempt } => {
                if let Some(i) = rx(&mut st, receiver) {
                    let p = &mut st.receivers[i].1;
                    p.state = "connecting";
                    p.attempts = *attempt;
                }
            }
            EngineEvent::ReceiverConnected { receiver, info } => {
                if let Some(i) = rx(&mut st, receiver) {
                    let p = &mut st.receivers[i].1;
                    p.state = "receiving";
                    p.samples = 0;
                    p.expected = info.expected_samples.unwrap_or(0);
                }
            }
            EngineEvent::Progress {
                receiver,
                samples,
                expected,
                ..
            } => {
                st.started = true;
                if let Some(i) = rx(&mut st, receiver) {
                    let p = &mut st.receivers[i].1;
                    p.state = "receiving";
                    p.samples = *samples;
                    p.expected = *expected;
                }
            }
            EngineEvent::CaptureFinished { receiver, summary } => {
                st.started = true;
                if let Some(i) = rx(&mut st, receiver) {
                    let p = &mut st.receivers[i].1;
                    p.state = "captured";
                    p.samples = summary.samples;
                }
            }
            EngineEvent::Stored { receiver, .. } => {
                if let Some(i) = rx(&mut st, receiver) {
                    st.receivers[i].1.state = "stored";
                }
            }
            EngineEvent::Recorded { receiver } => {
                if let Some(i) = rx(&mut st, receiver) {
                    st.receivers[i].1.state = "recorded";
                }
            }
            EngineEvent::Failed {
                receiver: Some(receiver),
                error,
                will_retry,
            } => {
                if let Some(i) = rx(&mut st, receiver) {
                    let p = &mut st.receivers[i].1;
                    p.error = Some(error.clone());
                    p.state = if *will_retry { "retrying" } else { "failed" };
                }
            }
            EngineEvent::Retrying { receiver, .. } => {
                if let Some(i) = rx(&mut st, receiver) {
                    let p = &mut st.receivers[i].1;
                    p.state = "retrying";
                    p.samples = 0;
                }
            }
            EngineEvent::SessionFinished { report } => {
                for r in &report.receivers {
                    if let Some(i) = rx(&mut st, &r.receiver.id) {
                        let p = &mut st.receivers[i].1;
                        p.state = r.status.as_str();
                        p.error = r.error.clone();
                        p.attempts = r.attempts;
                    }
                }
                st.report = Some(Arc::new((**report).clone()));
                st.finished_at = Some(report.finished_at);
            }
            _ => {}
        }
        let last = matches!(ev, EngineEvent::SessionFinished { .. });
        self.push(&mut st, ev.name(), data, last);
    }

    fn push(&self, st: &mut JobState, name: &'static str, data: Arc<str>, last: bool) {
        st.seq += 1;
        let item = SseItem {
            seq: st.seq,
            name,
            data,
            last,
        };
        if name != "progress" {
            st.log.push(item.clone());
        }
        // No subscriber is fine.
        let _ = self.live.send(item);
    }

    /// Folds one event of a queued session into the progress. Returns whether it was the last.
    /// An attempt's own `session_finished` is not the end (the worker may run the session
    /// again): the queue's `finished` is.
    pub fn apply_queued(&self, ev: &JobEvent) -> bool {
        match ev {
            JobEvent::Engine {
                event: EngineEvent::SessionFinished { .. },
            } => false,
            JobEvent::Engine { event } => {
                self.apply(event);
                false
            }
            JobEvent::Finished { report } => {
                self.apply(&EngineEvent::SessionFinished { report: report.clone() });
                true
            }
            JobEvent::Terminated { error, .. } => {
                self.fail(error.message.clone());
                true
            }
            other => {
                if let Some((name, data, _)) = queue_event_item(other) {
                    let mut st = lock(&self.state);
                    self.push(&mut st, name, data, false);
                }
                false
            }
        }
    }

    /// The engine task ended without a report.
    pub fn fail(&self, message: String) {
        let mut st = lock(&self.state);
        if st.report.is_some() {
            return;
        }
        let data: Arc<str> = json!({"type": "session_failed", "error": message}).to_string().into();
        st.failure = Some(message);
        st.finished_at = Some(Utc::now());
        self.push(&mut st, "session_failed", data, true);
    }

    /// The status as the API reports it.
    pub fn status(&self) -> AcquisitionStatus {
        let st = lock(&self.state);
        let receivers: Vec<ReceiverState> = st
            .receivers
            .iter()
            .map(|(id, p)| ReceiverState {
                id: id.to_string(),
                state: p.state.to_owned(),
                samples: p.samples,
                expected_samples: p.expected,
                attempts: p.attempts,
                error: p.error.as_ref().map(ErrorBody::from),
            })
            .collect();
        if let Some(report) = &st.report {
            let mut s = AcquisitionStatus::from_report(report, "engine");
            s.receivers = receivers;
            s.created_at = Some(self.created_at);
            return s;
        }
        let n = st.receivers.len().max(1) as f64;
        let progress = st.receivers.iter().map(|(_, p)| p.fraction()).sum::<f64>() / n * 100.0;
        let (status, progress) = match (&st.failure, st.started) {
            (Some(_), _) => ("FAILURE", 100.0),
            (None, false) => ("PENDING", progress),
            // Never 100 before the report: rows and the manifest are still being written.
            (None, true) => ("PROGRESS", progress.min(99.0)),
        };
        let errors = receivers
            .iter()
            .filter_map(|r| r.error.clone().map(|e| (r.id.clone(), e)))
            .collect();
        AcquisitionStatus {
            session_id: self.session_id.to_string(),
            task_id: self.session_id.to_string(),
            status: status.to_owned(),
            progress: (progress * 10.0).round() / 10.0,
            message: match &st.failure {
                Some(f) => format!("failed: {f}"),
                None if !st.started => format!("waiting for {} receivers", self.receivers.len()),
                None => format!(
                    "acquiring: {} of {} receivers done",
                    st.receivers.iter().filter(|(_, p)| p.fraction() >= 1.0).count(),
                    self.receivers.len()
                ),
            },
            measurements_collected: st.receivers.iter().filter(|(_, p)| p.state == "recorded").count(),
            receivers_total: self.receivers.len(),
            receivers,
            errors,
            error: st.failure.clone(),
            created_at: Some(self.created_at),
            finished_at: st.finished_at,
            source: "engine".to_owned(),
            result: None,
        }
    }
}

/// The SSE form of a queue event of a session: its event name, its JSON and whether it is the
/// last. An attempt's `session_finished` is left out (a requeued session runs again); the
/// queue's `finished` becomes `session_finished` with the final report, `terminated`
/// becomes `session_failed`.
pub(crate) fn queue_event_item(ev: &JobEvent) -> Option<(&'static str, Arc<str>, bool)> {
    Some(match ev {
        JobEvent::Engine {
            event: EngineEvent::SessionFinished { .. },
        } => return None,
        JobEvent::Engine { event } => (event.name(), to_json(event), false),
        JobEvent::Finished { report } => (
            "session_finished",
            to_json(&EngineEvent::SessionFinished { report: report.clone() }),
            true,
        ),
        JobEvent::Terminated { error, .. } => (
            "session_failed",
            json!({"type": "session_failed", "error": error.message, "detail": error})
                .to_string()
                .into(),
            true,
        ),
        JobEvent::Queued { .. } => ("job_queued", to_json(ev), false),
        JobEvent::Started { .. } => ("job_started", to_json(ev), false),
        JobEvent::Requeued { .. } => ("job_requeued", to_json(ev), false),
        _ => ("job_event", to_json(ev), false),
    })
}

/// `v` as JSON text, or a JSON error object (never fails).
fn to_json<T: serde::Serialize>(v: &T) -> Arc<str> {
    serde_json::to_string(v)
        .unwrap_or_else(|e| json!({"error": e.to_string()}).to_string())
        .into()
}
