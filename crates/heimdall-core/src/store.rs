//! The [`MetricStore`] trait (writing measurement rows), and the optional [`MetricQuery`]
//! and [`ReceiverRegistry`] capabilities that analysts and host services use.

use std::fmt::{Debug, Display};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::ids::{ReceiverId, SessionId};
use crate::receiver::ReceiverInfo;
use crate::report::{Measurement, SessionReport};

/// What a batch write did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct RecordOutcome {
    /// Rows inserted.
    pub inserted: u64,
    /// Rows skipped because a row for the same (session, receiver) already existed.
    pub duplicates: u64,
}

/// Persists measurement rows and session records.
///
/// Writes are idempotent: the key of a measurement is (session, receiver), and writing a row
/// whose key exists does nothing (it counts as a duplicate). A batch is written atomically.
#[async_trait]
pub trait MetricStore: Send + Sync + Debug + Display + 'static {
    /// Writes a batch of measurements in one transaction.
    async fn record_measurements(&self, batch: &[Measurement]) -> Result<RecordOutcome>;

    /// Writes (or replaces) the record of a session: request, times, status, counts, errors.
    async fn record_session(&self, report: &SessionReport) -> Result<()>;

    /// Checks that the database is reachable.
    async fn health(&self) -> Result<()>;
}

/// A shared, dynamically chosen store.
pub type DynMetricStore = dyn MetricStore;

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<T: MetricStore + ?Sized> MetricStore for Arc<T> {
    async fn record_measurements(&self, batch: &[Measurement]) -> Result<RecordOutcome> {
        (**self).record_measurements(batch).await
    }
    async fn record_session(&self, report: &SessionReport) -> Result<()> {
        (**self).record_session(report).await
    }
    async fn health(&self) -> Result<()> {
        (**self).health().await
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<T: MetricStore + ?Sized> MetricStore for Box<T> {
    async fn record_measurements(&self, batch: &[Measurement]) -> Result<RecordOutcome> {
        (**self).record_measurements(batch).await
    }
    async fn record_session(&self, report: &SessionReport) -> Result<()> {
        (**self).record_session(report).await
    }
    async fn health(&self) -> Result<()> {
        (**self).health().await
    }
}

/// Filter for [`MetricQuery::measurements`]. Results are newest first (by `captured_at`,
/// then receiver id, then session id).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct MeasurementQuery {
    /// Only this receiver.
    pub receiver: Option<ReceiverId>,
    /// Only this session.
    pub session: Option<SessionId>,
    /// Only target frequencies ≥ this, Hz.
    pub frequency_min_hz: Option<f64>,
    /// Only target frequencies ≤ this, Hz.
    pub frequency_max_hz: Option<f64>,
    /// Only captures at or after this time.
    pub since: Option<DateTime<Utc>>,
    /// Only captures before this time.
    pub until: Option<DateTime<Utc>>,
    /// At most this many rows (default 100, max 10 000).
    pub limit: Option<u32>,
}

impl MeasurementQuery {
    /// Default row limit.
    pub const DEFAULT_LIMIT: u32 = 100;
    /// Maximum row limit.
    pub const MAX_LIMIT: u32 = 10_000;

    /// The effective limit.
    pub fn effective_limit(&self) -> u32 {
        self.limit.unwrap_or(Self::DEFAULT_LIMIT).clamp(1, Self::MAX_LIMIT)
    }

    /// Whether `m` passes this filter (reference semantics for every backend).
    pub fn matches(&self, m: &Measurement) -> bool {
        self.receiver.as_ref().is_none_or(|r| *r == m.receiver_id)
            && self.session.is_none_or(|s| s == m.session_id)
            && self.frequency_min_hz.is_none_or(|f| m.frequency_hz >= f)
            && self.frequency_max_hz.is_none_or(|f| m.frequency_hz <= f)
            && self.since.is_none_or(|t| m.captured_at >= t)
            && self.until.is_none_or(|t| m.captured_at < t)
    }
}

/// A time window `[since, until)`; open ends are unbounded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct TimeWindow {
    /// Start (inclusive).
    pub since: Option<DateTime<Utc>>,
    /// End (exclusive).
    pub until: Option<DateTime<Utc>>,
}

impl TimeWindow {
    /// Whether `t` is inside.
    pub fn contains(&self, t: DateTime<Utc>) -> bool {
        self.since.is_none_or(|s| t >= s) && self.until.is_none_or(|u| t < u)
    }
}

/// SNR statistics of one receiver over a window (rows with a non-null SNR only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnrStats {
    /// Receiver.
    pub receiver_id: ReceiverId,
    /// Rows with an SNR.
    pub count: u64,
    /// Mean SNR, dB (arithmetic mean of dB values).
    pub mean_db: f64,
    /// Minimum SNR, dB.
    pub min_db: f64,
    /// Maximum SNR, dB.
    pub max_db: f64,
    /// Median SNR, dB, where the backend computes it (continuous percentile).
    pub p50_db: Option<f64>,
}

/// Aggregate of one receiver over one time bucket.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TimeBucket {
    /// Bucket start (aligned to the Unix epoch in multiples of the width).
    pub bucket_start: DateTime<Utc>,
    /// Receiver.
    pub receiver_id: ReceiverId,
    /// Rows in the bucket.
    pub count: u64,
    /// Mean SNR (dB) of rows with an SNR.
    pub mean_snr_db: Option<f64>,
    /// Max SNR (dB).
    pub max_snr_db: Option<f64>,
    /// Mean signal power (dBFS) of rows with one.
    pub mean_signal_power_dbfs: Option<f64>,
}

/// Queries analysts run (optional capability of a [`MetricStore`]).
#[async_trait]
pub trait MetricQuery: Send + Sync + Debug + 'static {
    /// Measurements matching `q`, newest first.
    async fn measurements(&self, q: &MeasurementQuery) -> Result<Vec<Measurement>>;

    /// SNR statistics per receiver within `window`, ordered by receiver id.
    async fn snr_stats(&self, window: TimeWindow) -> Result<Vec<SnrStats>>;

    /// Aggregates per `width` bucket and receiver within `window`, ordered by bucket then receiver.
    async fn time_buckets(
        &self,
        width: Duration,
        window: TimeWindow,
        receiver: Option<&ReceiverId>,
    ) -> Result<Vec<TimeBucket>>;

    /// A session's record, if known.
    async fn session(&self, id: SessionId) -> Result<Option<SessionReport>>;

    /// The most recent sessions, newest first.
    async fn recent_sessions(&self, limit: u32) -> Result<Vec<SessionReport>>;
}

/// A receiver as stored in a registry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReceiverRecord {
    /// Description.
    pub info: ReceiverInfo,
    /// Whether it takes part in acquisitions.
    pub active: bool,
    /// Protocol options (gain, passband, ...; never a password in clear unless the host wants it).
    #[serde(default)]
    pub options: serde_json::Value,
    /// When first stored.
    pub created_at: DateTime<Utc>,
    /// When last changed.
    pub updated_at: DateTime<Utc>,
}

/// A receiver registry kept in the database (optional capability).
#[async_trait]
pub trait ReceiverRegistry: Send + Sync + Debug + 'static {
    /// Creates or updates a receiver (by id); marks it active. Returns the stored record.
    async fn upsert_receiver(&self, info: &ReceiverInfo, options: &serde_json::Value) -> Result<ReceiverRecord>;

    /// One receiver, active or not.
    async fn receiver(&self, id: &ReceiverId) -> Result<Option<ReceiverRecord>>;

    /// Receivers ordered by id; only active ones if `active_only`.
    async fn list_receivers(&self, active_only: bool) -> Result<Vec<ReceiverRecord>>;

    /// Marks a receiver inactive (soft delete). Returns false if it does not exist.
    async fn deactivate_receiver(&self, id: &ReceiverId) -> Result<bool>;
}

/// Bucket start for `t` with buckets of `width` aligned to the Unix epoch.
pub fn bucket_start(t: DateTime<Utc>, width: Duration) -> DateTime<Utc> {
    let w = width.as_micros().max(1) as i64;
    let us = t.timestamp_micros();
    let b = us.div_euclid(w) * w;
    DateTime::from_timestamp_micros(b).unwrap_or(t)
}
