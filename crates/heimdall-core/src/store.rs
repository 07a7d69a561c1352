//! The [`MetricStore`] trait (writing measurement rows), and the optional [`MetricQuery`]
//! and [`ReceiverRegistry`] capabilities that analysts and host services use.

use std::fmt::{Debug, Display};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
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
    /// The record of a committed session ([`SessionReport::committed`]) is never replaced by a
    /// report that is not committed: a failed or late attempt cannot downgrade it.
    async fn record_session(&self, report: &SessionReport) -> Result<()>;

    /// Checks that the database is reachable.
    async fn health(&self) -> Result<()>;
}

/// A shared, dynamically chosen store.
pub type DynMetricStore = dyn MetricStore;

forward_through_pointers!(MetricStore {
    async fn record_measurements(&self, batch: &[Measurement]) -> Result<RecordOutcome>;
    async fn record_session(&self, report: &SessionReport) -> Result<()>;
    async fn health(&self) -> Result<()>;
});

/// What a garbage collector needs from a metric store (optional capability): finding rows
/// whose session never committed, and removing them.
#[async_trait]
pub trait MetricMaintenance: Send + Sync + Debug + 'static {
    /// Every session that has measurement rows, with its row count, ordered by session id.
    async fn sessions_with_rows(&self) -> Result<Vec<(SessionId, u64)>>;

    /// Deletes the rows and the record of a session that is not committed, returning the
    /// number of rows deleted. A session whose record says committed is refused
    /// ([`crate::Error::InvalidInput`]) and left untouched.
    async fn delete_uncommitted(&self, session: SessionId) -> Result<u64>;
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

/// Longest look-back [`TimeWindow::last_hours`] accepts: 100 years.
pub const MAX_WINDOW_HOURS: f64 = 24.0 * 366.0 * 100.0;

impl TimeWindow {
    /// The last `hours` hours before `now` (open-ended after). `hours` must be a positive
    /// number of at most [`MAX_WINDOW_HOURS`]; anything else (`NaN`, `-1`, `3e9`) is an
    /// [`Error::InvalidInput`] on `field` that names the limit, never an overflow.
    ///
    /// ```
    /// use heimdall_core::store::TimeWindow;
    /// let now = chrono::Utc::now();
    /// let w = TimeWindow::last_hours("hours", 1.5, now).unwrap();
    /// assert_eq!(now - w.since.unwrap(), chrono::TimeDelta::minutes(90));
    /// assert!(TimeWindow::last_hours("hours", 3e9, now).is_err());
    /// ```
    pub fn last_hours(field: &'static str, hours: f64, now: DateTime<Utc>) -> Result<TimeWindow> {
        if !(hours > 0.0 && hours <= MAX_WINDOW_HOURS) {
            return Err(Error::invalid(
                field,
                format!("{hours} must be a positive number of hours, at most {MAX_WINDOW_HOURS}"),
            ));
        }
        // Bounded above, so the product fits an i64 of milliseconds and the subtraction holds.
        let back = chrono::TimeDelta::try_milliseconds((hours * 3_600_000.0).round() as i64);
        let since = back
            .and_then(|b| now.checked_sub_signed(b))
            .ok_or_else(|| Error::invalid(field, format!("{hours} hours before now is not a representable time")))?;
        Ok(TimeWindow {
            since: Some(since),
            until: None,
        })
    }

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
    // A width past i64 microseconds (about 292 000 years) is one bucket from the earliest time.
    let w = i64::try_from(width.as_micros()).unwrap_or(i64::MAX).max(1);
    let us = t.timestamp_micros();
    us.checked_div_euclid(w)
        .and_then(|q| q.checked_mul(w))
        .and_then(DateTime::from_timestamp_micros)
        .unwrap_or(DateTime::<Utc>::MIN_UTC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_start_never_overflows() {
        let t: DateTime<Utc> = "2026-03-04T05:06:07Z".parse().unwrap();
        assert_eq!(
            bucket_start(t, Duration::from_secs(3600)),
            "2026-03-04T05:00:00Z".parse::<DateTime<Utc>>().unwrap()
        );
        for w in [
            Duration::ZERO,
            Duration::from_nanos(1),
            Duration::MAX,
            Duration::from_secs(u64::MAX / 1_000_000),
        ] {
            for t in [
                t,
                DateTime::<Utc>::MIN_UTC,
                DateTime::<Utc>::MAX_UTC,
                DateTime::UNIX_EPOCH,
            ] {
                let b = bucket_start(t, w);
                assert!(b <= t, "{w:?} {t}: {b}");
            }
        }
    }

    #[test]
    fn last_hours_is_bounded_and_never_overflows() {
        let now: DateTime<Utc> = "2026-01-01T00:00:00Z".parse().unwrap();
        let w = TimeWindow::last_hours("hours", 24.0, now).unwrap();
        assert_eq!(w.since, Some("2025-12-31T00:00:00Z".parse().unwrap()));
        assert_eq!(w.until, None);
        TimeWindow::last_hours("hours", MAX_WINDOW_HOURS, now).unwrap();
        for h in [
            3e9,
            1e308,
            f64::INFINITY,
            f64::NAN,
            0.0,
            -1.0,
            MAX_WINDOW_HOURS * 1.0001,
        ] {
            match TimeWindow::last_hours("--hours", h, now) {
                Err(Error::InvalidInput { field, reason }) => {
                    assert_eq!(field, "--hours");
                    assert!(reason.contains("at most 878400"), "{reason}");
                }
                other => panic!("{h}: {other:?}"),
            }
        }
        // Near the start of representable time the subtraction is refused, not a panic.
        assert!(TimeWindow::last_hours("hours", 1.0, DateTime::<Utc>::MIN_UTC).is_err());
    }
}
