//! In-memory reference backends: [`MemorySink`] (an [`IqSink`] + [`IqArchive`]) and
//! [`MemoryStore`] (a [`MetricStore`] + [`MetricQuery`] + [`ReceiverRegistry`] +
//! [`LocalizationStore`]).
//!
//! They define the reference semantics that the conformance kit checks every backend
//! against, serve unit tests and small embedded uses, and can inject faults for tests.
//!
//! ```
//! # tokio_test_block_on(async {
//! use heimdall_core::memory::MemoryStore;
//! use heimdall_core::{MetricStore, MetricQuery, MeasurementQuery};
//! let store = MemoryStore::new();
//! assert_eq!(store.record_measurements(&[]).await.unwrap().inserted, 0);
//! assert!(store.measurements(&MeasurementQuery::default()).await.unwrap().is_empty());
//! # });
//! # fn tokio_test_block_on<F: std::future::Future>(f: F) -> F::Output {
//! #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
//! # }
//! ```

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};

use crate::capture::{CaptureChunk, CaptureInfo, CaptureSummary, SampleFormat};
use crate::error::{Error, Result};
use crate::ids::{ReceiverId, SessionAttempt, SessionId};
use crate::localization::{LocalizationRecord, LocalizationStore};
use crate::metrics::SignalMetrics;
use crate::receiver::ReceiverInfo;
use crate::report::{Measurement, SessionReport, StoredObject};
use crate::sink::{ArchivedCapture, CaptureWriter, IqArchive, IqSink};
use crate::store::{
    MeasurementQuery, MetricMaintenance, MetricQuery, MetricStore, ReceiverRecord, ReceiverRegistry, RecordOutcome,
    SnrStats, TimeBucket, TimeWindow, bucket_start,
};

const SINK: &str = "memory";

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// Where [`MemorySink`] should fail, for tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SinkFault {
    /// `begin_capture` fails.
    Begin,
    /// Every `write` of samples fails.
    Write,
    /// `finish` fails.
    Finish,
}

#[derive(Debug, Default)]
struct SinkState {
    objects: BTreeMap<String, Bytes>,
    faults: HashMap<ReceiverId, SinkFault>,
    fail_commit: bool,
}

/// An [`IqSink`] keeping every object in memory.
///
/// Layout (mirrors the object-store sink): `sessions/{session}/{attempt}/{receiver}.cf32` or
/// `.rf32` (raw little-endian samples), `sessions/{session}/{attempt}/{receiver}.json` (summary
/// and metrics), `sessions/{session}/manifest.json` (the commit marker, created only if absent).
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    state: Arc<Mutex<SinkState>>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes operations for `receiver` fail at `fault` (for tests).
    pub fn inject_fault(&self, receiver: ReceiverId, fault: SinkFault) {
        lock(&self.state).faults.insert(receiver, fault);
    }

    /// Makes `commit_session` fail (for tests).
    pub fn fail_commits(&self, fail: bool) {
        lock(&self.state).fail_commit = fail;
    }

    /// Every key currently stored.
    pub fn keys(&self) -> Vec<String> {
        lock(&self.state).objects.keys().cloned().collect()
    }

    /// One object's bytes.
    pub fn object(&self, key: &str) -> Option<Bytes> {
        lock(&self.state).objects.get(key).cloned()
    }

    fn fault(&self, r: &ReceiverId) -> Option<SinkFault> {
        lock(&self.state).faults.get(r).copied()
    }

    fn injected(what: &str, key: &str) -> Error {
        Error::Storage {
            backend: SINK,
            operation: "put",
            key: key.to_owned(),
            retryable: false,
            source: format!("injected fault at {what}").into(),
        }
    }
}

fn attempt_prefix(a: &SessionAttempt) -> String {
    format!("sessions/{}/{}/", a.session, a.attempt)
}

fn manifest_key(s: SessionId) -> String {
    format!("sessions/{s}/manifest.json")
}

fn sample_ext(f: SampleFormat) -> &'static str {
    match f {
        SampleFormat::ComplexF32 => "cf32",
        SampleFormat::RealF32 => "rf32",
    }
}

fn stored(key: String, data: &[u8], content_type: &str) -> StoredObject {
    StoredObject {
        key,
        size: data.len() as u64,
        sha256: hex::encode(Sha256::digest(data)),
        content_type: content_type.into(),
    }
}

impl fmt::Display for MemorySink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("memory://")
    }
}

#[async_trait]
impl IqSink for MemorySink {
    async fn begin_session(&self, session: SessionId) -> Result<SessionAttempt> {
        if lock(&self.state).objects.contains_key(&manifest_key(session)) {
            return Err(Error::AlreadyExists {
                backend: SINK,
                key: manifest_key(session),
            });
        }
        Ok(SessionAttempt::new(session))
    }

    async fn begin_capture(&self, attempt: &SessionAttempt, info: &CaptureInfo) -> Result<Box<dyn CaptureWriter>> {
        let key = format!(
            "{}{}.{}",
            attempt_prefix(attempt),
            info.receiver.id,
            sample_ext(info.format)
        );
        if self.fault(&info.receiver.id) == Some(SinkFault::Begin) {
            return Err(Self::injected("begin", &key));
        }
        if lock(&self.state).objects.contains_key(&manifest_key(attempt.session)) {
            return Err(Error::AlreadyExists {
                backend: SINK,
                key: manifest_key(attempt.session),
            });
        }
        Ok(Box::new(MemoryWriter {
            sink: self.clone(),
            attempt: attempt.clone(),
            receiver: info.receiver.id.clone(),
            format: info.format,
            expected: info.expected_samples,
            key,
            buf: BytesMut::new(),
            samples: 0,
        }))
    }

    async fn commit_session(&self, attempt: &SessionAttempt, report: &SessionReport) -> Result<StoredObject> {
        let key = manifest_key(attempt.session);
        if report.session_id != attempt.session {
            return Err(Error::invalid(
                "session report",
                format!("report of session {} committed as {attempt}", report.session_id),
            ));
        }
        let prefix = attempt_prefix(attempt);
        let mut st = lock(&self.state);
        if st.fail_commit {
            return Err(Self::injected("commit", &key));
        }
        if st.objects.contains_key(&key) {
            return Err(Error::AlreadyExists { backend: SINK, key });
        }
        for o in report.receivers.iter().flat_map(|r| &r.objects) {
            if !o.key.starts_with(&prefix) || !st.objects.contains_key(&o.key) {
                return Err(Error::invalid(
                    "session report",
                    format!("object {} was not written by attempt {attempt}", o.key),
                ));
            }
        }
        let body = serde_json::to_vec_pretty(report).map_err(|e| Error::Generic {
            backend: SINK,
            source: e.into(),
        })?;
        let obj = stored(key.clone(), &body, "application/json");
        st.objects.insert(key, Bytes::from(body));
        Ok(obj)
    }

    async fn abort_session(&self, attempt: &SessionAttempt) -> Result<()> {
        let prefix = attempt_prefix(attempt);
        let mut st = lock(&self.state);
        let committed_here = st
            .objects
            .get(&manifest_key(attempt.session))
            .and_then(|m| serde_json::from_slice::<SessionReport>(m).ok())
            .is_some_and(|r| {
                r.receivers
                    .iter()
                    .flat_map(|r| &r.objects)
                    .any(|o| o.key.starts_with(&prefix))
            });
        if committed_here {
            return Err(Error::invalid(
                "session",
                format!("attempt {attempt} is committed; refusing to delete it"),
            ));
        }
        st.objects.retain(|k, _| !k.starts_with(&prefix));
        Ok(())
    }

    async fn health(&self) -> Result<()> {
        Ok(())
    }
}

/// The writer of [`MemorySink`].
#[derive(Debug)]
struct MemoryWriter {
    sink: MemorySink,
    attempt: SessionAttempt,
    receiver: ReceiverId,
    format: SampleFormat,
    expected: Option<u64>,
    key: String,
    buf: BytesMut,
    samples: u64,
}

#[async_trait]
impl CaptureWriter for MemoryWriter {
    async fn write(&mut self, chunk: CaptureChunk) -> Result<()> {
        if let CaptureChunk::Samples(block) = chunk {
            if self.sink.fault(&self.receiver) == Some(SinkFault::Write) {
                return Err(MemorySink::injected("write", &self.key));
            }
            if block.format() != self.format {
                return Err(Error::invalid(
                    "samples",
                    format!("{:?} block written to a {:?} capture", block.format(), self.format),
                ));
            }
            self.samples += block.len() as u64;
            self.buf.extend_from_slice(&block.as_le_bytes());
        }
        Ok(())
    }

    async fn finish(
        self: Box<Self>,
        summary: &CaptureSummary,
        metrics: Option<&SignalMetrics>,
    ) -> Result<Vec<StoredObject>> {
        if self.sink.fault(&self.receiver) == Some(SinkFault::Finish) {
            return Err(MemorySink::injected("finish", &self.key));
        }
        if let Some(exp) = self.expected
            && exp != self.samples
        {
            return Err(Error::invalid(
                "samples",
                format!(
                    "capture of {} has {} samples, {exp} expected",
                    self.receiver, self.samples
                ),
            ));
        }
        let meta_key = format!("{}{}.json", attempt_prefix(&self.attempt), self.receiver);
        let meta = serde_json::json!({ "summary": summary, "metrics": metrics });
        let meta = serde_json::to_vec_pretty(&meta).map_err(|e| Error::Generic {
            backend: SINK,
            source: e.into(),
        })?;
        let data = self.buf.freeze();
        let objs = vec![
            stored(self.key.clone(), &data, "application/octet-stream"),
            stored(meta_key.clone(), &meta, "application/json"),
        ];
        let mut st = lock(&self.sink.state);
        st.objects.insert(self.key, data);
        st.objects.insert(meta_key, Bytes::from(meta));
        Ok(objs)
    }

    async fn abort(self: Box<Self>) -> Result<()> {
        Ok(())
    }
}

#[async_trait]
impl IqArchive for MemorySink {
    async fn list_sessions(
        &self,
        since: Option<DateTime<Utc>>,
        until: Option<DateTime<Utc>>,
    ) -> Result<Vec<SessionId>> {
        let st = lock(&self.state);
        let mut out: Vec<SessionId> = st
            .objects
            .keys()
            .filter_map(|k| {
                k.strip_prefix("sessions/")?
                    .strip_suffix("/manifest.json")?
                    .parse()
                    .ok()
            })
            .filter(|s: &SessionId| {
                let t = s.timestamp();
                since.is_none_or(|a| t.is_some_and(|t| t >= a)) && until.is_none_or(|b| t.is_some_and(|t| t < b))
            })
            .collect();
        out.sort_by(|a, b| b.cmp(a));
        Ok(out)
    }

    async fn read_manifest(&self, session: SessionId) -> Result<SessionReport> {
        let key = manifest_key(session);
        let body = self.object(&key).ok_or(Error::NotFound {
            backend: SINK,
            key: key.clone(),
        })?;
        let mut report: SessionReport = serde_json::from_slice(&body).map_err(|e| Error::Malformed {
            backend: SINK,
            origin: key,
            reason: e.to_string(),
        })?;
        report.committed = true;
        Ok(report)
    }

    async fn read_capture(&self, session: SessionId, receiver: &ReceiverId) -> Result<ArchivedCapture> {
        let manifest = self.read_manifest(session).await?;
        let rep = manifest
            .receivers
            .iter()
            .find(|r| &r.receiver.id == receiver)
            .ok_or_else(|| Error::NotFound {
                backend: SINK,
                key: format!("sessions/{session}/{receiver}"),
            })?;
        let summary = rep.capture.clone().ok_or_else(|| Error::NotFound {
            backend: SINK,
            key: format!("sessions/{session}/{receiver} (no capture: {})", rep.status.as_str()),
        })?;
        let file = format!("/{receiver}.{}", sample_ext(summary.info.format));
        let obj = rep
            .objects
            .iter()
            .find(|o| o.key.ends_with(&file))
            .ok_or_else(|| Error::NotFound {
                backend: SINK,
                key: format!("sessions/{session}/*{file}"),
            })?;
        let key = obj.key.clone();
        let data = self.object(&key).ok_or(Error::NotFound {
            backend: SINK,
            key: key.clone(),
        })?;
        if obj.sha256 != hex::encode(Sha256::digest(&data)) || obj.size != data.len() as u64 {
            return Err(Error::Malformed {
                backend: SINK,
                origin: key,
                reason: "size or sha256 differs from the manifest".into(),
            });
        }
        let samples = crate::npy::le_samples(summary.info.format == SampleFormat::ComplexF32, &data);
        Ok(ArchivedCapture {
            summary,
            metrics: rep.metrics,
            samples,
        })
    }

    async fn list_objects(&self, session: SessionId) -> Result<Vec<String>> {
        let prefix = format!("sessions/{session}/");
        Ok(lock(&self.state)
            .objects
            .keys()
            .filter(|k| k.starts_with(&prefix))
            .cloned()
            .collect())
    }
}

#[derive(Debug, Default)]
struct StoreState {
    measurements: BTreeMap<(SessionId, ReceiverId), Measurement>,
    sessions: HashMap<SessionId, SessionReport>,
    receivers: BTreeMap<ReceiverId, ReceiverRecord>,
    localizations: BTreeMap<SessionId, LocalizationRecord>,
    fail_writes: u32,
    fail_receivers: HashSet<ReceiverId>,
}

/// A [`MetricStore`] keeping rows in memory, with the reference query semantics.
#[derive(Debug, Clone, Default)]
pub struct MemoryStore {
    state: Arc<Mutex<StoreState>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the next `n` batch writes fail with a retryable error (for tests).
    pub fn fail_next_writes(&self, n: u32) {
        lock(&self.state).fail_writes = n;
    }

    /// Makes any batch containing a row of `receiver` fail with a non-retryable error (for tests).
    pub fn reject_receiver(&self, receiver: ReceiverId) {
        lock(&self.state).fail_receivers.insert(receiver);
    }

    /// Undoes every [`MemoryStore::reject_receiver`] (for tests).
    pub fn accept_all_receivers(&self) {
        lock(&self.state).fail_receivers.clear();
    }

    /// Number of measurement rows.
    pub fn len(&self) -> usize {
        lock(&self.state).measurements.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Display for MemoryStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("memory")
    }
}

#[async_trait]
impl MetricStore for MemoryStore {
    async fn record_measurements(&self, batch: &[Measurement]) -> Result<RecordOutcome> {
        let mut st = lock(&self.state);
        if st.fail_writes > 0 {
            st.fail_writes -= 1;
            return Err(Error::Database {
                backend: SINK,
                operation: "insert measurements",
                retryable: true,
                source: "injected transient failure".into(),
            });
        }
        if let Some(m) = batch.iter().find(|m| st.fail_receivers.contains(&m.receiver_id)) {
            return Err(Error::Database {
                backend: SINK,
                operation: "insert measurements",
                retryable: false,
                source: format!("injected constraint violation for receiver {}", m.receiver_id).into(),
            });
        }
        let mut out = RecordOutcome::default();
        for m in batch {
            let key = (m.session_id, m.receiver_id.clone());
            if let std::collections::btree_map::Entry::Vacant(e) = st.measurements.entry(key) {
                e.insert(m.clone());
                out.inserted += 1;
            } else {
                out.duplicates += 1;
            }
        }
        Ok(out)
    }

    async fn record_session(&self, report: &SessionReport) -> Result<()> {
        let mut st = lock(&self.state);
        // A committed session's record is only ever replaced by a committed report.
        let keep = st
            .sessions
            .get(&report.session_id)
            .is_some_and(|old| old.committed && !report.committed);
        if !keep {
            st.sessions.insert(report.session_id, report.clone());
        }
        Ok(())
    }

    async fn health(&self) -> Result<()> {
        Ok(())
    }
}

#[async_trait]
impl LocalizationStore for MemoryStore {
    async fn record_localization(&self, record: &LocalizationRecord) -> Result<bool> {
        record.validate()?;
        let mut st = lock(&self.state);
        if st.localizations.contains_key(&record.session_id) {
            return Ok(false);
        }
        // Stored as a database would: time to the microsecond.
        let mut r = record.clone();
        r.located_at = DateTime::from_timestamp_micros(r.located_at.timestamp_micros()).unwrap_or(r.located_at);
        st.localizations.insert(record.session_id, r);
        Ok(true)
    }

    async fn localization(&self, session: SessionId) -> Result<Option<LocalizationRecord>> {
        Ok(lock(&self.state).localizations.get(&session).cloned())
    }
}

#[async_trait]
impl MetricMaintenance for MemoryStore {
    async fn sessions_with_rows(&self) -> Result<Vec<(SessionId, u64)>> {
        let st = lock(&self.state);
        let mut counts: BTreeMap<SessionId, u64> = BTreeMap::new();
        for (s, _) in st.measurements.keys() {
            *counts.entry(*s).or_default() += 1;
        }
        Ok(counts.into_iter().collect())
    }

    async fn delete_uncommitted(&self, session: SessionId) -> Result<u64> {
        let mut st = lock(&self.state);
        if st.sessions.get(&session).is_some_and(|r| r.committed) {
            return Err(committed_refusal(session));
        }
        let before = st.measurements.len();
        st.measurements.retain(|(s, _), _| *s != session);
        st.sessions.remove(&session);
        Ok((before - st.measurements.len()) as u64)
    }
}

/// The error of [`MetricMaintenance::delete_uncommitted`] on a committed session.
pub fn committed_refusal(session: SessionId) -> Error {
    Error::invalid(
        "session",
        format!("session {session} is committed; its rows and record are never deleted"),
    )
}

/// Median by linear interpolation (PostgreSQL `percentile_cont(0.5)`).
pub fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_by(|a, b| a.total_cmp(b));
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

#[async_trait]
impl MetricQuery for MemoryStore {
    async fn measurements(&self, q: &MeasurementQuery) -> Result<Vec<Measurement>> {
        let st = lock(&self.state);
        let mut v: Vec<Measurement> = st.measurements.values().filter(|m| q.matches(m)).cloned().collect();
        v.sort_by(|a, b| {
            b.captured_at
                .cmp(&a.captured_at)
                .then_with(|| a.receiver_id.cmp(&b.receiver_id))
        });
        v.truncate(q.effective_limit() as usize);
        Ok(v)
    }

    async fn snr_stats(&self, window: TimeWindow) -> Result<Vec<SnrStats>> {
        let st = lock(&self.state);
        let mut per: BTreeMap<ReceiverId, Vec<f64>> = BTreeMap::new();
        for m in st.measurements.values().filter(|m| window.contains(m.captured_at)) {
            if let Some(s) = m.metrics.snr_db {
                per.entry(m.receiver_id.clone()).or_default().push(s);
            }
        }
        Ok(per
            .into_iter()
            .map(|(receiver_id, mut v)| SnrStats {
                receiver_id,
                count: v.len() as u64,
                mean_db: v.iter().sum::<f64>() / v.len() as f64,
                min_db: v.iter().copied().fold(f64::INFINITY, f64::min),
                max_db: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                p50_db: median(&mut v),
            })
            .collect())
    }

    async fn time_buckets(
        &self,
        width: Duration,
        window: TimeWindow,
        receiver: Option<&ReceiverId>,
    ) -> Result<Vec<TimeBucket>> {
        if width.is_zero() {
            return Err(Error::invalid("bucket width", "must be more than zero"));
        }
        let st = lock(&self.state);
        #[derive(Default)]
        struct Acc {
            n: u64,
            snr: Vec<f64>,
            pow: Vec<f64>,
        }
        let mut per: BTreeMap<(DateTime<Utc>, ReceiverId), Acc> = BTreeMap::new();
        for m in st.measurements.values() {
            if !window.contains(m.captured_at) || receiver.is_some_and(|r| *r != m.receiver_id) {
                continue;
            }
            let a = per
                .entry((bucket_start(m.captured_at, width), m.receiver_id.clone()))
                .or_default();
            a.n += 1;
            a.snr.extend(m.metrics.snr_db);
            a.pow.extend(m.metrics.signal_power_dbfs);
        }
        let mean = |v: &[f64]| {
            if v.is_empty() {
                None
            } else {
                Some(v.iter().sum::<f64>() / v.len() as f64)
            }
        };
        Ok(per
            .into_iter()
            .map(|((bucket_start, receiver_id), a)| TimeBucket {
                bucket_start,
                receiver_id,
                count: a.n,
                mean_snr_db: mean(&a.snr),
                max_snr_db: a.snr.iter().copied().reduce(f64::max),
                mean_signal_power_dbfs: mean(&a.pow),
            })
            .collect())
    }

    async fn session(&self, id: SessionId) -> Result<Option<SessionReport>> {
        Ok(lock(&self.state).sessions.get(&id).cloned())
    }

    async fn recent_sessions(&self, limit: u32) -> Result<Vec<SessionReport>> {
        let st = lock(&self.state);
        let mut v: Vec<SessionReport> = st.sessions.values().cloned().collect();
        v.sort_by(|a, b| b.started_at.cmp(&a.started_at).then(b.session_id.cmp(&a.session_id)));
        v.truncate(limit as usize);
        Ok(v)
    }
}

#[async_trait]
impl ReceiverRegistry for MemoryStore {
    async fn upsert_receiver(&self, info: &ReceiverInfo, options: &serde_json::Value) -> Result<ReceiverRecord> {
        if let Some(p) = &info.position {
            p.validate()?;
        }
        let now = Utc::now();
        let mut st = lock(&self.state);
        let created_at = st.receivers.get(&info.id).map(|r| r.created_at).unwrap_or(now);
        let rec = ReceiverRecord {
            info: info.clone(),
            active: true,
            options: options.clone(),
            created_at,
            updated_at: now,
        };
        st.receivers.insert(info.id.clone(), rec.clone());
        Ok(rec)
    }

    async fn receiver(&self, id: &ReceiverId) -> Result<Option<ReceiverRecord>> {
        Ok(lock(&self.state).receivers.get(id).cloned())
    }

    async fn list_receivers(&self, active_only: bool) -> Result<Vec<ReceiverRecord>> {
        Ok(lock(&self.state)
            .receivers
            .values()
            .filter(|r| !active_only || r.active)
            .cloned()
            .collect())
    }

    async fn deactivate_receiver(&self, id: &ReceiverId) -> Result<bool> {
        let mut st = lock(&self.state);
        match st.receivers.get_mut(id) {
            Some(r) => {
                r.active = false;
                r.updated_at = Utc::now();
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
