//! Session reports, stored objects and measurement rows.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::capture::{CaptureSummary, PowerUnit, TimeSource};
use crate::error::ErrorReport;
use crate::ids::{ReceiverId, SessionId};
use crate::metrics::SignalMetrics;
use crate::receiver::ReceiverInfo;
use crate::request::AcquisitionRequest;

/// One object written by a sink.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredObject {
    /// Full key (path) in the store.
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// Lower-case hex SHA-256 of the content.
    pub sha256: String,
    /// MIME type.
    pub content_type: String,
}

/// The outcome of one receiver in a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ReceiverStatus {
    /// Captured, stored and recorded.
    Recorded,
    /// Captured and stored, but the measurement row could not be written.
    Stored,
    /// Fetch failed: nothing stored, no row.
    FetchFailed,
    /// Storage failed: nothing kept, no row.
    StoreFailed,
    /// The session was cancelled before this receiver finished.
    Cancelled,
}

impl ReceiverStatus {
    /// Snake-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            ReceiverStatus::Recorded => "recorded",
            ReceiverStatus::Stored => "stored",
            ReceiverStatus::FetchFailed => "fetch_failed",
            ReceiverStatus::StoreFailed => "store_failed",
            ReceiverStatus::Cancelled => "cancelled",
        }
    }

    /// Whether the capture is archived.
    pub fn is_stored(&self) -> bool {
        matches!(self, ReceiverStatus::Recorded | ReceiverStatus::Stored)
    }
}

/// Overall status of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SessionStatus {
    /// Every receiver recorded.
    Success,
    /// Some receivers recorded, some failed.
    Partial,
    /// No receiver recorded.
    Failed,
    /// Cancelled by the caller: nothing committed.
    Cancelled,
    /// Submitted to a work queue, not started yet.
    Queued,
    /// Started by a worker, not finished yet.
    Running,
}

impl SessionStatus {
    /// Snake-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            SessionStatus::Success => "success",
            SessionStatus::Partial => "partial",
            SessionStatus::Failed => "failed",
            SessionStatus::Cancelled => "cancelled",
            SessionStatus::Queued => "queued",
            SessionStatus::Running => "running",
        }
    }

    /// Parses [`SessionStatus::as_str`].
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "success" => SessionStatus::Success,
            "partial" => SessionStatus::Partial,
            "failed" => SessionStatus::Failed,
            "cancelled" => SessionStatus::Cancelled,
            "queued" => SessionStatus::Queued,
            "running" => SessionStatus::Running,
            _ => return None,
        })
    }

    /// Whether the session has ended (it will not change status by itself any more).
    pub fn is_final(&self) -> bool {
        !matches!(self, SessionStatus::Queued | SessionStatus::Running)
    }

    /// The status as the old Python (FastAPI/Celery) service's clients know it (Celery task states):
    /// `PENDING`, `PROGRESS`, `SUCCESS`, `PARTIAL_FAILURE`, `FAILURE`, `CANCELLED`.
    pub fn as_task_state(&self) -> &'static str {
        match self {
            SessionStatus::Queued => "PENDING",
            SessionStatus::Running => "PROGRESS",
            SessionStatus::Success => "SUCCESS",
            SessionStatus::Partial => "PARTIAL_FAILURE",
            SessionStatus::Failed => "FAILURE",
            SessionStatus::Cancelled => "CANCELLED",
        }
    }

    /// Derives the status from per-receiver outcomes.
    pub fn from_receivers<'a>(statuses: impl IntoIterator<Item = &'a ReceiverStatus>) -> Self {
        let (mut ok, mut bad, mut cancelled) = (0, 0, 0);
        for s in statuses {
            match s {
                ReceiverStatus::Recorded => ok += 1,
                ReceiverStatus::Cancelled => cancelled += 1,
                _ => bad += 1,
            }
        }
        if cancelled > 0 {
            SessionStatus::Cancelled
        } else if ok > 0 && bad == 0 {
            SessionStatus::Success
        } else if ok > 0 {
            SessionStatus::Partial
        } else {
            SessionStatus::Failed
        }
    }
}

/// What happened to one receiver.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiverReport {
    /// The receiver.
    pub receiver: ReceiverInfo,
    /// Outcome.
    pub status: ReceiverStatus,
    /// Fetch attempts made (1 = no retry).
    pub attempts: u32,
    /// The capture, when one completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub capture: Option<CaptureSummary>,
    /// Metrics, when a capture completed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<SignalMetrics>,
    /// Objects archived for this receiver.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub objects: Vec<StoredObject>,
    /// The error that ended this receiver, if it did not record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorReport>,
    /// Errors of earlier attempts that were retried.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub retried_errors: Vec<ErrorReport>,
}

impl ReceiverReport {
    /// The report of a receiver that has not (yet) produced anything: status
    /// [`ReceiverStatus::Cancelled`], no attempt, no capture, no error.
    pub fn not_started(receiver: ReceiverInfo) -> Self {
        ReceiverReport {
            receiver,
            status: ReceiverStatus::Cancelled,
            attempts: 0,
            capture: None,
            metrics: None,
            objects: Vec::new(),
            error: None,
            retried_errors: Vec::new(),
        }
    }
}

/// The report of one acquisition session; also the body of the session manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SessionReport {
    /// Session id.
    pub session_id: SessionId,
    /// The request as given.
    pub request: AcquisitionRequest,
    /// Overall status.
    pub status: SessionStatus,
    /// When the engine started the session.
    pub started_at: DateTime<Utc>,
    /// When it finished.
    pub finished_at: DateTime<Utc>,
    /// One entry per selected receiver, in the engine's receiver order.
    pub receivers: Vec<ReceiverReport>,
    /// Session-level failures that belong to no single receiver (the measurement batch, the
    /// session record, the manifest commit), in the order they happened.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<ErrorReport>,
    /// Whether the session's manifest is committed in the archive. A store never lets a report
    /// that is not committed replace the record of a committed session (a committed session is
    /// never downgraded). Always `false` inside the manifest itself (it is written before the
    /// commit); readers of a manifest set it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub committed: bool,
}

impl SessionReport {
    /// Receivers whose status is [`ReceiverStatus::Recorded`].
    pub fn recorded(&self) -> usize {
        self.receivers
            .iter()
            .filter(|r| r.status == ReceiverStatus::Recorded)
            .count()
    }

    /// Receivers that did not record.
    pub fn failed(&self) -> usize {
        self.receivers.len() - self.recorded()
    }

    /// Marks as [`ReceiverStatus::Recorded`] the stored receivers that `rows` (rows now in the
    /// database, inserted or already present) cover, drops the recording error they carried,
    /// and derives the session status again. What `reindex` does after writing a manifest's
    /// rows, so that the session record agrees with them. Returns how many changed.
    pub fn mark_recorded(&mut self, rows: &[Measurement]) -> usize {
        let mut changed = 0;
        for r in self.receivers.iter_mut().filter(|r| r.status == ReceiverStatus::Stored) {
            if rows
                .iter()
                .any(|m| m.session_id == self.session_id && m.receiver_id == r.receiver.id)
            {
                r.status = ReceiverStatus::Recorded;
                r.error = None;
                changed += 1;
            }
        }
        if changed > 0 {
            self.status = SessionStatus::from_receivers(self.receivers.iter().map(|r| &r.status));
        }
        changed
    }

    /// A report for a session that is queued and not started: status [`SessionStatus::Queued`],
    /// no receiver outcome yet.
    pub fn queued(session_id: SessionId, request: AcquisitionRequest, at: DateTime<Utc>) -> Self {
        SessionReport {
            session_id,
            request,
            status: SessionStatus::Queued,
            started_at: at,
            finished_at: at,
            receivers: Vec::new(),
            errors: Vec::new(),
            committed: false,
        }
    }

    /// The measurement rows of this session: one per receiver with a stored capture and metrics.
    pub fn measurements(&self) -> Vec<Measurement> {
        self.receivers
            .iter()
            .filter(|r| r.status.is_stored())
            .filter_map(|r| Measurement::from_report(self.session_id, r))
            .collect()
    }
}

/// One row of metrics: one receiver, one capture.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Session.
    pub session_id: SessionId,
    /// Receiver.
    pub receiver_id: ReceiverId,
    /// Time of the capture's first sample.
    pub captured_at: DateTime<Utc>,
    /// Source of `captured_at`.
    pub time_source: TimeSource,
    /// Target frequency, Hz.
    pub frequency_hz: f64,
    /// Centre frequency of the capture, Hz.
    pub center_frequency_hz: f64,
    /// Actual sample rate, Hz.
    pub sample_rate_hz: f64,
    /// Samples captured.
    pub samples: u64,
    /// Duration captured, seconds.
    pub duration_s: f64,
    /// DSP metrics.
    pub metrics: SignalMetrics,
    /// Receiver-reported level (mean), in `rssi_unit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rssi: Option<f64>,
    /// Unit of `rssi`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rssi_unit: Option<PowerUnit>,
    /// Keys of the archived objects.
    #[serde(default)]
    pub object_keys: Vec<String>,
    /// Extra metadata (gaps, skew, receiver details).
    #[serde(default)]
    pub extra: serde_json::Value,
}

impl Measurement {
    /// The row for one receiver report, if it has a capture and metrics.
    pub fn from_report(session_id: SessionId, r: &ReceiverReport) -> Option<Measurement> {
        let cap = r.capture.as_ref()?;
        let metrics = r.metrics?;
        let mut extra = serde_json::Map::new();
        if let Some(skew) = cap.start_skew_s {
            extra.insert("start_skew_s".into(), skew.into());
        }
        if !cap.gaps.is_empty() {
            extra.insert(
                "lost_samples".into(),
                cap.gaps.iter().map(|g| g.missing_samples).sum::<u64>().into(),
            );
            extra.insert("gaps".into(), cap.gaps.len().into());
        }
        // Values kept from an archive imported from the old service (see heimdall-storage's
        // `legacy` module), so a row rebuilt from a manifest carries them too.
        if let Some(v) = cap.info.extra.get("legacy") {
            extra.insert("legacy".into(), v.clone());
        }
        extra.insert("receiver_kind".into(), r.receiver.kind.as_str().into());
        extra.insert("attempts".into(), r.attempts.into());
        Some(Measurement {
            session_id,
            receiver_id: r.receiver.id.clone(),
            captured_at: cap.start_time,
            time_source: cap.time_source,
            frequency_hz: cap.info.target_frequency_hz,
            center_frequency_hz: cap.info.center_frequency_hz,
            sample_rate_hz: cap.info.sample_rate_hz,
            samples: cap.samples,
            duration_s: cap.duration_s(),
            metrics,
            rssi: cap.rssi.map(|s| s.mean),
            rssi_unit: cap.rssi.map(|s| s.unit),
            object_keys: r.objects.iter().map(|o| o.key.clone()).collect(),
            extra: serde_json::Value::Object(extra),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_status_rules() {
        use ReceiverStatus::*;
        assert_eq!(
            SessionStatus::from_receivers(&[Recorded, Recorded]),
            SessionStatus::Success
        );
        assert_eq!(
            SessionStatus::from_receivers(&[Recorded, FetchFailed]),
            SessionStatus::Partial
        );
        assert_eq!(
            SessionStatus::from_receivers(&[StoreFailed, FetchFailed]),
            SessionStatus::Failed
        );
        assert_eq!(
            SessionStatus::from_receivers(&[Recorded, Stored]),
            SessionStatus::Partial
        );
        assert_eq!(
            SessionStatus::from_receivers(&[Recorded, Cancelled]),
            SessionStatus::Cancelled
        );
        assert_eq!(SessionStatus::from_receivers(&[]), SessionStatus::Failed);
    }

    #[test]
    fn mark_recorded_brings_a_manifest_of_stored_captures_up_to_date() {
        use crate::capture::SampleFormat;
        use crate::testkit::{test_capture_info, test_metrics, test_recorded};
        let session = SessionId::new();
        let mut receivers = Vec::new();
        for id in ["a", "b", "c"] {
            let mut r = test_recorded(&test_capture_info(id, SampleFormat::ComplexF32, 10), 10, vec![]);
            r.metrics = Some(test_metrics(10, Some(12.0)));
            r.status = ReceiverStatus::Stored;
            r.error = Some(ErrorReport::from(&crate::Error::invalid("x", "database down")));
            receivers.push(r);
        }
        receivers[2].status = ReceiverStatus::FetchFailed;
        let mut report = SessionReport {
            session_id: session,
            request: AcquisitionRequest::new(145.5e6, std::time::Duration::from_secs(1)),
            status: SessionStatus::Failed,
            started_at: Utc::now(),
            finished_at: Utc::now(),
            receivers,
            errors: vec![],
            committed: true,
        };
        assert_eq!((report.recorded(), report.failed()), (0, 3));
        let rows = report.measurements();
        assert_eq!(rows.len(), 2);
        // Rows of another session change nothing.
        let mut other = rows.clone();
        other.iter_mut().for_each(|m| m.session_id = SessionId::new());
        assert_eq!(report.mark_recorded(&other), 0);
        assert_eq!(report.status, SessionStatus::Failed);
        assert_eq!(report.mark_recorded(&rows), 2);
        assert_eq!((report.recorded(), report.failed()), (2, 1));
        assert_eq!(report.status, SessionStatus::Partial);
        assert!(report.receivers[..2].iter().all(|r| r.error.is_none()));
        assert!(report.receivers[2].error.is_some(), "a fetch failure stays");
        assert_eq!(report.mark_recorded(&rows), 0, "idempotent");
    }
}
