//! # heimdall-tsdb
//!
//! Heimdall's metrics persistence on [diesel] + [diesel_async]: a [`MetricStore`] (batched,
//! idempotent writes), [`MetricQuery`] (history, SNR statistics, time buckets, sessions), a
//! [`ReceiverRegistry`] and a [`LocalizationStore`] (one localization per session: position,
//! error ellipse, method, stations used and rejected, the whole result as JSON; written once)
//! over two backends that answer the same:
//!
//! | backend | feature | URL | notes |
//! |---|---|---|---|
//! | PostgreSQL | `postgres` | `postgres://user:pass@host/db` | bb8 pool, `UNNEST` batch inserts, TimescaleDB hypertable when the server offers it |
//! | SQLite file | `sqlite` | `sqlite://path.db`, `sqlite:path.db` or `path.db` | WAL, `synchronous=NORMAL`, `busy_timeout` |
//! | SQLite in memory | `sqlite` | `sqlite::memory:` or `:memory:` | one private connection |
//!
//! Building a [`Tsdb`] never connects; the first call does. Migrations are embedded and run
//! explicitly with [`Tsdb::migrate`] (re-runnable).
//!
//! Writes are idempotent on (session, receiver): a retried batch inserts nothing twice and
//! reports the skipped rows as [`RecordOutcome::duplicates`]. Each batch is one transaction,
//! chunked below the backend's bind-parameter limit (PostgreSQL 65 535, SQLite 32 766).
//!
//! Failures are [`heimdall_core::Error::Database`] with `retryable` set where the failure was
//! seen (connection loss, pool timeout, serialization failure, deadlock and SQLite busy are
//! retryable; constraint, syntax and data errors are not), and the source is a
//! [`DatabaseFailure`]. The connection string's password never appears in an error, a `Debug`
//! or `Display` output, or a log line ([`heimdall_core::redact::redact_url`]).
//!
//! Times are stored with microsecond precision (PostgreSQL's); nanoseconds are truncated.
//!
//! ## Schema and access paths
//!
//! Migrations live in `migrations/postgres` and `migrations/sqlite` (embedded as
//! [`POSTGRES_MIGRATIONS`] and [`SQLITE_MIGRATIONS`]). PostgreSQL stores `uuid`, `timestamptz`
//! and `jsonb`; SQLite stores text ids, Unix microseconds and JSON text. Both have the
//! idempotency key `UNIQUE (session_id, receiver_id)`, an index on `(receiver_id, captured_at
//! DESC)` for receiver histories and one on `(frequency_hz, captured_at DESC)`. PostgreSQL adds
//! a BRIN index on `captured_at` and a covering partial index `(receiver_id, snr_db) INCLUDE
//! (captured_at)` that answers the SNR statistics (median included) by an index-only scan.
//! The `localizations` table (migration `2026-11-30-100001_localizations`) is keyed by session
//! id: `located_at`, `latitude`, `longitude`, the error ellipse (`semi_major_m`, `semi_minor_m`,
//! `orientation_deg`, `confidence`), `method`, `stations_used` and `stations_rejected`
//! (`[{id, reason}]`) as JSON, and `result`, the whole localization as it serialised (`json` on
//! PostgreSQL so that it reads back byte-exact, text on SQLite). A second localization of a
//! session inserts nothing (`ON CONFLICT DO NOTHING`, [`LocalizationStore::record_localization`]
//! returns `false`).
//! Buckets use `date_bin` on PostgreSQL, `time_bucket` on a TimescaleDB hypertable, integer
//! arithmetic on SQLite; all are aligned to the Unix epoch like
//! [`heimdall_core::store::bucket_start`].
//!
//! ## TimescaleDB
//!
//! When the server lists `timescaledb` in `pg_available_extensions`, [`Tsdb::migrate`] creates
//! the extension, turns `measurements` into a hypertable (1-day chunks) and, on the Community
//! license only, adds compression, optional retention and the hourly continuous aggregate
//! `measurements_hourly` ([`TimescaleOptions`]). On a hypertable the idempotency key becomes
//! `(session_id, receiver_id, captured_at)`, because unique keys must contain the partitioning
//! column; retries carry the same capture time and stay idempotent. [`Tsdb::timescale_status`]
//! reports what is in place (for a CLI: [`TimescaleStatus::summary`]).
//!
//! SNR statistics and buckets whose width is a whole number of hours read `measurements_hourly`
//! for the whole hours of the window it holds valid (materialized, no pending invalidation: late
//! writes, dropped chunks) and raw rows for the rest, in one `UNION ALL` query in one snapshot.
//! The aggregate keeps exact (numeric) sums and counts, so count, mean, min and max equal the
//! raw-row answers to the last bit; the median cannot come from an aggregate and is always
//! computed over the window's raw rows.
//!
//! ## Benchmark
//!
//! `cargo run --release -p heimdall-tsdb --example tsdb_bench` inserts 200 000 rows through the
//! store on a SQLite file and on PostgreSQL next to psql's `\copy` and 1000-row `INSERT`
//! statements of the same rows, then times the SNR statistics over 1 million rows.
//!
//! ```
//! use heimdall_core::{MeasurementQuery, MetricQuery, MetricStore};
//! use heimdall_tsdb::Tsdb;
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> heimdall_core::Result<()> {
//! let db = Tsdb::builder().with_url("sqlite::memory:").build()?;
//! db.migrate().await?;
//! db.health().await?;
//! let rows = db.measurements(&MeasurementQuery::default()).await?;
//! assert!(rows.is_empty());
//! assert_eq!(db.record_measurements(&[]).await?.inserted, 0);
//! # Ok(())
//! # }
//! ```
#![warn(missing_docs)]

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use heimdall_core::{
    LocalizationRecord, LocalizationStore, Measurement, MeasurementQuery, MetricQuery, MetricStore, ReceiverId,
    ReceiverInfo, ReceiverRecord, ReceiverRegistry, RecordOutcome, Result, SessionId, SessionReport, SnrStats,
    TimeBucket, TimeWindow,
};

mod config;
#[cfg(feature = "postgres")]
mod copy;
mod error;
#[cfg(feature = "postgres")]
mod pg;
mod rows;
#[cfg(feature = "sqlite")]
mod schema;
#[cfg(feature = "sqlite")]
mod sqlite;
#[cfg(feature = "postgres")]
mod timescale;

pub use config::{DEFAULT_COPY_MIN_ROWS, TimescaleOptions, TsdbBuilder};
pub use error::{DatabaseFailure, FailureKind};
#[cfg(feature = "postgres")]
pub use pg::MIGRATIONS as POSTGRES_MIGRATIONS;
#[cfg(feature = "sqlite")]
pub use sqlite::MIGRATIONS as SQLITE_MIGRATIONS;
#[cfg(feature = "postgres")]
pub use timescale::TimescaleStatus;

use config::{Options, Target};

/// Maximum bind parameters per statement on PostgreSQL.
#[cfg(feature = "postgres")]
pub const POSTGRES_MAX_BIND_PARAMS: usize = pg::MAX_BIND_PARAMS;
/// Maximum bind parameters per statement on SQLite (default since 3.32.0).
#[cfg(feature = "sqlite")]
pub const SQLITE_MAX_BIND_PARAMS: usize = sqlite::MAX_BIND_PARAMS;

enum Backend {
    #[cfg(feature = "postgres")]
    Postgres(pg::PgStore),
    #[cfg(feature = "sqlite")]
    Sqlite(sqlite::SqliteStore),
}

/// The metrics database: PostgreSQL (optionally TimescaleDB) or SQLite, chosen by URL.
///
/// Cheap to share behind an `Arc`; all methods take `&self`.
pub struct Tsdb {
    target: Target,
    backend: Backend,
}

impl fmt::Debug for Tsdb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Tsdb");
        d.field("url", &self.target.redacted());
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(p) => d.field("backend", p),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(s) => d.field("backend", s),
        };
        d.finish()
    }
}

impl fmt::Display for Tsdb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "tsdb {}", self.target.redacted())
    }
}

macro_rules! dispatch {
    ($self:ident, $b:ident => $e:expr) => {
        match &$self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres($b) => $e,
            #[cfg(feature = "sqlite")]
            Backend::Sqlite($b) => $e,
        }
    };
}

impl Tsdb {
    /// A builder (set the URL with [`TsdbBuilder::with_url`]).
    pub fn builder() -> TsdbBuilder {
        TsdbBuilder::new()
    }

    /// A store for `url` with default options. Does not connect.
    pub fn from_url(url: &str) -> Result<Self> {
        TsdbBuilder::from_url(url).build()
    }

    /// A private in-memory SQLite store (for tests and examples). Does not connect.
    #[cfg(feature = "sqlite")]
    pub fn in_memory() -> Self {
        Tsdb {
            target: Target::SqliteMemory,
            backend: Backend::Sqlite(sqlite::SqliteStore::new(
                None,
                Options {
                    pool_size: 1,
                    connect_timeout: Duration::from_secs(10),
                    busy_timeout: Duration::from_secs(5),
                    synchronous_commit: true,
                    copy_min_rows: config::DEFAULT_COPY_MIN_ROWS,
                    timescale: TimescaleOptions::default(),
                },
            )),
        }
    }

    pub(crate) fn from_target(target: Target, opts: Options) -> Result<Self> {
        let backend = match &target {
            #[cfg(feature = "postgres")]
            Target::Postgres(secret) => Backend::Postgres(pg::PgStore::new(secret.clone(), opts)),
            #[cfg(feature = "sqlite")]
            Target::SqliteFile(path) => Backend::Sqlite(sqlite::SqliteStore::new(Some(path.clone()), opts)),
            #[cfg(feature = "sqlite")]
            Target::SqliteMemory => Backend::Sqlite(sqlite::SqliteStore::new(None, opts)),
        };
        Ok(Tsdb { target, backend })
    }

    /// The backend's short name: `"postgres"` or `"sqlite"`.
    pub fn backend_name(&self) -> &'static str {
        match &self.backend {
            #[cfg(feature = "postgres")]
            Backend::Postgres(_) => pg::BACKEND,
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => sqlite::BACKEND,
        }
    }

    /// The URL with any password replaced by `***`.
    pub fn redacted_url(&self) -> String {
        self.target.redacted()
    }

    /// Applies pending embedded migrations (re-runnable; returns how many were applied), then,
    /// on PostgreSQL servers that offer TimescaleDB, sets up the hypertable and policies (see
    /// [`TimescaleOptions`]). Works on current-thread and multi-thread runtimes.
    pub async fn migrate(&self) -> Result<usize> {
        dispatch!(self, b => b.migrate().await)
    }

    /// Like [`Tsdb::migrate`], returning what the TimescaleDB setup found and did, with the
    /// warnings it logged in [`TimescaleStatus::notes`] (`None` on SQLite).
    #[cfg(feature = "postgres")]
    pub async fn migrate_status(&self) -> Result<Option<TimescaleStatus>> {
        match &self.backend {
            Backend::Postgres(p) => p.migrate_status().await.map(|(_, s)| Some(s)),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(s) => s.migrate().await.map(|_| None),
        }
    }

    /// What TimescaleDB offers and what is set up (`None` on SQLite).
    #[cfg(feature = "postgres")]
    pub async fn timescale_status(&self) -> Result<Option<TimescaleStatus>> {
        match &self.backend {
            Backend::Postgres(p) => p.timescale_status().await.map(Some),
            #[cfg(feature = "sqlite")]
            Backend::Sqlite(_) => Ok(None),
        }
    }
}

#[async_trait]
impl heimdall_core::MetricMaintenance for Tsdb {
    async fn sessions_with_rows(&self) -> Result<Vec<(SessionId, u64)>> {
        dispatch!(self, b => b.sessions_with_rows().await)
    }

    async fn delete_uncommitted(&self, session: SessionId) -> Result<u64> {
        dispatch!(self, b => b.delete_uncommitted(session).await)
    }
}

#[async_trait]
impl MetricStore for Tsdb {
    async fn record_measurements(&self, batch: &[Measurement]) -> Result<RecordOutcome> {
        let out = dispatch!(self, b => b.record_measurements(batch).await)?;
        tracing::debug!(
            inserted = out.inserted,
            duplicates = out.duplicates,
            backend = self.backend_name(),
            "recorded measurements"
        );
        Ok(out)
    }

    async fn record_session(&self, report: &SessionReport) -> Result<()> {
        dispatch!(self, b => b.record_session(report).await)
    }

    async fn health(&self) -> Result<()> {
        dispatch!(self, b => b.health().await)
    }
}

#[async_trait]
impl MetricQuery for Tsdb {
    async fn measurements(&self, q: &MeasurementQuery) -> Result<Vec<Measurement>> {
        dispatch!(self, b => b.measurements(q).await)
    }

    async fn snr_stats(&self, window: TimeWindow) -> Result<Vec<SnrStats>> {
        dispatch!(self, b => b.snr_stats(window).await)
    }

    async fn time_buckets(
        &self,
        width: Duration,
        window: TimeWindow,
        receiver: Option<&ReceiverId>,
    ) -> Result<Vec<TimeBucket>> {
        dispatch!(self, b => b.time_buckets(width, window, receiver).await)
    }

    async fn session(&self, id: SessionId) -> Result<Option<SessionReport>> {
        dispatch!(self, b => b.session(id).await)
    }

    async fn recent_sessions(&self, limit: u32) -> Result<Vec<SessionReport>> {
        dispatch!(self, b => b.recent_sessions(limit).await)
    }
}

#[async_trait]
impl ReceiverRegistry for Tsdb {
    async fn upsert_receiver(&self, info: &ReceiverInfo, options: &serde_json::Value) -> Result<ReceiverRecord> {
        dispatch!(self, b => b.upsert_receiver(info, options).await)
    }

    async fn receiver(&self, id: &ReceiverId) -> Result<Option<ReceiverRecord>> {
        dispatch!(self, b => b.receiver(id).await)
    }

    async fn list_receivers(&self, active_only: bool) -> Result<Vec<ReceiverRecord>> {
        dispatch!(self, b => b.list_receivers(active_only).await)
    }

    async fn deactivate_receiver(&self, id: &ReceiverId) -> Result<bool> {
        dispatch!(self, b => b.deactivate_receiver(id).await)
    }
}

#[async_trait]
impl LocalizationStore for Tsdb {
    async fn record_localization(&self, record: &LocalizationRecord) -> Result<bool> {
        dispatch!(self, b => b.record_localization(record).await)
    }

    async fn localization(&self, session: SessionId) -> Result<Option<LocalizationRecord>> {
        dispatch!(self, b => b.localization(session).await)
    }
}
