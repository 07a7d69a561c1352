//! PostgreSQL backend: `AsyncPgConnection` through a lazily created bb8 pool.
//!
//! Batches are written with one `INSERT ... SELECT FROM UNNEST($1::text[], ...)` statement per
//! chunk: 25 array parameters whatever the row count, so PostgreSQL's 65 535 bind-parameter limit
//! never applies, and a whole session's rows travel in one round trip.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use chrono::{DateTime, Utc};
use diesel::result::ConnectionError;
use diesel::sql_types::{Array, BigInt, Bool, Double, Integer, Nullable, Text, Timestamptz};
use diesel::{ConnectionResult, OptionalExtension, pg::Pg};
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, PoolError};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures::FutureExt;
use heimdall_core::{
    Error, Measurement, MeasurementQuery, ReceiverId, ReceiverInfo, ReceiverRecord, RecordOutcome, Result, SessionId,
    SessionReport, SnrStats, TimeBucket, TimeWindow,
};
use tokio::sync::OnceCell;

use crate::config::{Options, Secret};
use crate::error::{Ctx, DatabaseFailure, FailureKind};
use crate::rows::{
    self, BucketRow, MeasurementRow, NewMeasurement, NewSession, Placeholders, ReceiverRow, SessionRow, SnrRow,
};
use crate::timescale::{self, TimescaleStatus};

/// Backend name in errors.
pub(crate) const BACKEND: &str = "postgres";

/// PostgreSQL's maximum number of bind parameters per statement.
pub(crate) const MAX_BIND_PARAMS: usize = 65_535;

/// Rows per UNNEST statement (bounds the message size; the statement always has 25 parameters).
pub(crate) const ROWS_PER_INSERT: usize = 10_000;

/// The PostgreSQL migrations, embedded in the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

type Manager = AsyncDieselConnectionManager<AsyncPgConnection>;
type Pool = bb8::Pool<Manager>;
type Pooled<'a> = bb8::PooledConnection<'a, Manager>;

const MEASUREMENT_SELECT: &str = "SELECT session_id::text AS session_id, receiver_id, \
     (EXTRACT(EPOCH FROM captured_at) * 1000000)::int8 AS captured_at_us, time_source, \
     frequency_hz, center_frequency_hz, sample_rate_hz, samples, duration_s, analysed_samples, \
     analysed_sample_rate_hz, snr_db, frequency_offset_hz, peak_frequency_hz, signal_power_dbfs, \
     noise_power_dbfs, noise_floor_dbfs_per_hz, total_power_dbfs, dc_power_dbfs, clipped_fraction, \
     signal_power_dbm, rssi, rssi_unit, object_keys::text AS object_keys, extra::text AS extra FROM measurements";

const RECEIVER_COLUMNS: &str = "id, name, kind, url, latitude, longitude, altitude_m, active, \
     options::text AS options, (EXTRACT(EPOCH FROM created_at) * 1000000)::int8 AS created_at_us, \
     (EXTRACT(EPOCH FROM updated_at) * 1000000)::int8 AS updated_at_us";

const INSERT_UNNEST: &str = "INSERT INTO measurements (session_id, receiver_id, captured_at, time_source, \
     frequency_hz, center_frequency_hz, sample_rate_hz, samples, duration_s, analysed_samples, \
     analysed_sample_rate_hz, snr_db, frequency_offset_hz, peak_frequency_hz, signal_power_dbfs, \
     noise_power_dbfs, noise_floor_dbfs_per_hz, total_power_dbfs, dc_power_dbfs, clipped_fraction, \
     signal_power_dbm, rssi, rssi_unit, object_keys, extra) \
     SELECT u.s::uuid, u.r, u.t, u.ts, u.f, u.cf, u.sr, u.n, u.d, u.an, u.asr, u.snr, u.fo, u.pf, u.sp, u.np, \
     u.nf, u.tp, u.dc, u.cl, u.dbm, u.rs, u.ru, u.ok::jsonb, u.ex::jsonb \
     FROM UNNEST($1::text[], $2::text[], $3::timestamptz[], $4::text[], $5::float8[], $6::float8[], \
     $7::float8[], $8::int8[], $9::float8[], $10::int8[], $11::float8[], $12::float8[], $13::float8[], \
     $14::float8[], $15::float8[], $16::float8[], $17::float8[], $18::float8[], $19::float8[], $20::float8[], \
     $21::float8[], $22::float8[], $23::text[], $24::text[], $25::text[]) \
     AS u(s, r, t, ts, f, cf, sr, n, d, an, asr, snr, fo, pf, sp, np, nf, tp, dc, cl, dbm, rs, ru, ok, ex) \
     ON CONFLICT DO NOTHING";

/// Remembers the last connection failure the pool saw, so that a pool timeout can say why.
#[derive(Debug, Clone)]
struct LastError {
    secret: Secret,
    slot: Arc<StdMutex<Option<DatabaseFailure>>>,
}

/// Advisory lock key held while migrating ("HEIMDALL" in ASCII).
const MIGRATION_LOCK: i64 = 0x4845_494D_4441_4C4C;

impl bb8::ErrorSink<PoolError> for LastError {
    fn sink(&self, error: PoolError) {
        let ctx = Ctx {
            backend: BACKEND,
            secret: Some(&self.secret),
        };
        let e = match &error {
            PoolError::ConnectionError(c) => ctx.connection("connect", c),
            PoolError::QueryError(q) => ctx.query("connection check", q),
        };
        tracing::warn!(error = %e, "PostgreSQL connection attempt failed");
        if let Error::Database { source, .. } = e
            && let Ok(f) = source.downcast::<DatabaseFailure>()
            && let Ok(mut slot) = self.slot.lock()
        {
            *slot = Some(*f);
        }
    }

    fn boxed_clone(&self) -> Box<dyn bb8::ErrorSink<PoolError>> {
        Box::new(self.clone())
    }
}

/// The PostgreSQL store.
pub(crate) struct PgStore {
    secret: Secret,
    opts: Options,
    pool: OnceCell<Pool>,
    last_error: Arc<StdMutex<Option<DatabaseFailure>>>,
    /// Whether `measurements` is a TimescaleDB hypertable (buckets use `time_bucket`).
    timescale_active: AtomicBool,
    /// Whether the hourly continuous aggregate exists (queries read it where it is valid).
    hourly_active: AtomicBool,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("url", &self.secret)
            .field("pool_size", &self.opts.pool_size)
            .field("connected", &self.pool.initialized())
            .finish()
    }
}

impl PgStore {
    pub(crate) fn new(secret: Secret, opts: Options) -> Self {
        PgStore {
            secret,
            opts,
            pool: OnceCell::new(),
            last_error: Arc::new(StdMutex::new(None)),
            timescale_active: AtomicBool::new(false),
            hourly_active: AtomicBool::new(false),
        }
    }

    fn ctx(&self) -> Ctx<'_> {
        Ctx {
            backend: BACKEND,
            secret: Some(&self.secret),
        }
    }

    async fn pool(&self) -> &Pool {
        self.pool
            .get_or_init(|| async {
                let timeout = self.opts.connect_timeout;
                let sync = self.opts.synchronous_commit;
                let mut cfg = ManagerConfig::<AsyncPgConnection>::default();
                cfg.custom_setup = Box::new(move |url: &str| {
                    let url = url.to_owned();
                    async move {
                        match tokio::time::timeout(timeout, connect(&url, sync)).await {
                            Ok(r) => r,
                            Err(_) => ConnectionResult::Err(ConnectionError::BadConnection(format!(
                                "connection timed out after {timeout:?}"
                            ))),
                        }
                    }
                    .boxed()
                });
                let manager = Manager::new_with_config(self.secret.expose(), cfg);
                bb8::Pool::builder()
                    .max_size(self.opts.pool_size)
                    .connection_timeout(timeout)
                    .error_sink(Box::new(LastError {
                        secret: self.secret.clone(),
                        slot: self.last_error.clone(),
                    }))
                    .build_unchecked(manager)
            })
            .await
    }

    fn pool_error(&self, operation: &'static str, e: bb8::RunError<PoolError>) -> Error {
        match e {
            bb8::RunError::User(PoolError::ConnectionError(c)) => self.ctx().connection(operation, &c),
            bb8::RunError::User(PoolError::QueryError(q)) => self.ctx().query(operation, &q),
            bb8::RunError::TimedOut => {
                let last = self.last_error.lock().ok().and_then(|mut s| s.take());
                let (kind, msg) = match last {
                    Some(f) => (
                        f.kind,
                        format!(
                            "no connection to {:?} within {:?}: {}",
                            self.secret, self.opts.connect_timeout, f.message
                        ),
                    ),
                    None => (
                        FailureKind::PoolTimeout,
                        format!(
                            "no free pooled connection to {:?} within {:?} (pool size {})",
                            self.secret, self.opts.connect_timeout, self.opts.pool_size
                        ),
                    ),
                };
                // A refused password or a missing database stays non-retryable; the rest is.
                let kind = if kind.is_retryable() || kind == FailureKind::Access {
                    kind
                } else {
                    FailureKind::Connection
                };
                self.ctx().error(operation, kind, &msg)
            }
        }
    }

    async fn conn(&self, operation: &'static str) -> Result<Pooled<'_>> {
        let pool = self.pool().await;
        if pool.state().connections == 0 {
            // Nothing pooled yet (first use, or the server was down): connect here so that a
            // refused connection or a bad password fails at once with the driver's reason,
            // instead of bb8 retrying silently until the connect timeout.
            let conn = pool.dedicated_connection().await.map_err(|e| match e {
                PoolError::ConnectionError(c) => self.ctx().connection(operation, &c),
                PoolError::QueryError(q) => self.ctx().query(operation, &q),
            })?;
            // A concurrent caller may have filled the pool meanwhile: then this one is dropped.
            let _ = pool.add(conn);
        }
        pool.get().await.map_err(|e| self.pool_error(operation, e))
    }

    /// A new connection outside the pool (same settings as pooled ones).
    async fn dedicated(&self, operation: &'static str) -> Result<AsyncPgConnection> {
        let pool = self.pool().await;
        pool.dedicated_connection().await.map_err(|e| match e {
            PoolError::ConnectionError(c) => self.ctx().connection(operation, &c),
            PoolError::QueryError(q) => self.ctx().query(operation, &q),
        })
    }

    pub(crate) async fn migrate(&self) -> Result<usize> {
        self.migrate_status().await.map(|(n, _)| n)
    }

    /// Runs the migrations, then the TimescaleDB setup, one process at a time; returns both results.
    pub(crate) async fn migrate_status(&self) -> Result<(usize, TimescaleStatus)> {
        // Many workers starting at once on a fresh database would race in the catalog
        // (`CREATE TABLE IF NOT EXISTS` is not safe under concurrency: "duplicate key value
        // violates unique constraint pg_type_typname_nsp_index"): one migrates at a time,
        // under a session advisory lock on a connection of its own (released when it closes,
        // also on error).
        let mut lock = self.dedicated("migrate").await?;
        diesel::sql_query(format!("SELECT pg_advisory_lock({MIGRATION_LOCK})"))
            .execute(&mut lock)
            .await
            .map_err(|e| self.ctx().query("migrate (lock)", &e))?;
        let out = self.migrate_locked().await;
        drop(lock);
        out
    }

    async fn migrate_locked(&self) -> Result<(usize, TimescaleStatus)> {
        let conn = self.dedicated("migrate").await?;
        // The migration harness is synchronous: run it on the blocking pool through
        // AsyncConnectionWrapper (works on current-thread runtimes too, unlike block_in_place).
        let res = tokio::task::spawn_blocking(move || {
            let mut w = diesel_async::async_connection_wrapper::AsyncConnectionWrapper::<AsyncPgConnection>::from(conn);
            w.run_pending_migrations(MIGRATIONS)
                .map(|v| v.len())
                .map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| {
            self.ctx()
                .error("migrate", FailureKind::Other, &format!("migration task failed: {e}"))
        })?;
        let applied = res.map_err(|m| {
            let kind = if m.contains("deadlock") || m.contains("could not serialize") {
                FailureKind::Contention
            } else {
                FailureKind::Other
            };
            self.ctx().error("migrate", kind, &m)
        })?;
        tracing::info!(applied, "PostgreSQL migrations up to date");
        // A connection of its own, never returned to the pool: a failed TimescaleDB step may
        // leave it broken (FATAL), and then the state is read again on a fresh one.
        let mut conn = self.dedicated("timescale setup").await?;
        let status = match timescale::setup(&mut conn, &self.opts.timescale).await {
            Ok(s) => s,
            Err(note) => {
                drop(conn);
                let mut fresh = self.dedicated("timescale setup").await?;
                let mut s = timescale::detect(&mut fresh)
                    .await
                    .map_err(|e| self.ctx().query("timescale setup", &e))?;
                s.notes.push(note);
                s
            }
        };
        self.timescale_active.store(status.hypertable, Ordering::Relaxed);
        self.hourly_active.store(self.reads_hourly(&status), Ordering::Relaxed);
        status.log();
        Ok((applied, status))
    }

    fn reads_hourly(&self, s: &TimescaleStatus) -> bool {
        s.hypertable && s.hourly_aggregate && self.opts.timescale.enabled && self.opts.timescale.hourly_aggregate
    }

    pub(crate) async fn timescale_status(&self) -> Result<TimescaleStatus> {
        let mut conn = self.conn("timescale status").await?;
        let s = timescale::detect(&mut conn)
            .await
            .map_err(|e| self.ctx().query("timescale status", &e))?;
        self.timescale_active.store(s.hypertable, Ordering::Relaxed);
        self.hourly_active.store(self.reads_hourly(&s), Ordering::Relaxed);
        Ok(s)
    }

    pub(crate) async fn health(&self) -> Result<()> {
        let mut conn = self.conn("health check").await?;
        diesel::sql_query("SELECT 1")
            .execute(&mut conn)
            .await
            .map(|_| ())
            .map_err(|e| self.ctx().query("health check", &e))
    }

    pub(crate) async fn record_measurements(&self, batch: &[Measurement]) -> Result<RecordOutcome> {
        if batch.is_empty() {
            return Ok(RecordOutcome::default());
        }
        let rows = batch.iter().map(NewMeasurement::encode).collect::<Result<Vec<_>>>()?;
        if rows.len() >= self.opts.copy_min_rows {
            return self.record_by_copy(&rows).await;
        }
        let chunks = rows
            .chunks(ROWS_PER_INSERT)
            .map(Columns::from_rows)
            .collect::<Result<Vec<_>>>()?;
        let mut conn = self.conn("insert measurements").await?;
        if chunks.len() == 1 {
            // One statement is atomic by itself: skip BEGIN/COMMIT (two round trips per batch).
            let inserted = match chunks.into_iter().next() {
                Some(cols) => cols
                    .insert_query()
                    .execute(&mut conn)
                    .await
                    .map_err(|e| self.ctx().query("insert measurements", &e))?,
                None => 0,
            } as u64;
            return Ok(RecordOutcome {
                inserted,
                duplicates: (rows.len() as u64).saturating_sub(inserted),
            });
        }
        let inserted = conn
            .transaction::<usize, diesel::result::Error, _>(async move |c| {
                let mut n = 0;
                for cols in chunks {
                    n += cols.insert_query().execute(c).await?;
                }
                Ok(n)
            })
            .await
            .map_err(|e| self.ctx().query("insert measurements", &e))? as u64;
        let total = rows.len() as u64;
        Ok(RecordOutcome {
            inserted,
            duplicates: total.saturating_sub(inserted),
        })
    }

    /// Writes a large batch through binary COPY on a new tokio-postgres connection.
    async fn record_by_copy(&self, rows: &[NewMeasurement]) -> Result<RecordOutcome> {
        const OP: &str = "copy measurements";
        let timeout = self.opts.connect_timeout;
        let (mut client, connection) = match tokio::time::timeout(
            timeout,
            tokio_postgres::connect(self.secret.expose(), tokio_postgres::NoTls),
        )
        .await
        {
            Ok(r) => r.map_err(|e| self.ctx().driver(OP, &e))?,
            Err(_) => {
                return Err(self.ctx().error(
                    OP,
                    FailureKind::Connection,
                    &format!("connection timed out after {timeout:?}"),
                ));
            }
        };
        let driver = tokio::spawn(connection);
        if !self.opts.synchronous_commit {
            client
                .batch_execute("SET synchronous_commit = off")
                .await
                .map_err(|e| self.ctx().driver(OP, &e))?;
        }
        let res = crate::copy::copy_rows(&mut client, rows).await;
        drop(client);
        let _ = driver.await;
        let inserted = res.map_err(|e| match e {
            crate::copy::CopyError::Pg(e) => self.ctx().driver(OP, &e),
            crate::copy::CopyError::Invalid(m) => Error::invalid("measurement", m),
        })?;
        Ok(RecordOutcome {
            inserted,
            duplicates: (rows.len() as u64).saturating_sub(inserted),
        })
    }

    pub(crate) async fn record_session(&self, report: &SessionReport) -> Result<()> {
        let s = NewSession::encode(report)?;
        let mut conn = self.conn("record session").await?;
        diesel::sql_query(
            "INSERT INTO sessions (id, request, started_at, finished_at, status, receivers_total, \
             receivers_recorded, errors, report, committed) \
             VALUES ($1::uuid, $2::jsonb, $3, $4, $5, $6, $7, $8::jsonb, $9::json, $10) \
             ON CONFLICT (id) DO UPDATE SET request = EXCLUDED.request, started_at = EXCLUDED.started_at, \
             finished_at = EXCLUDED.finished_at, status = EXCLUDED.status, \
             receivers_total = EXCLUDED.receivers_total, receivers_recorded = EXCLUDED.receivers_recorded, \
             errors = EXCLUDED.errors, report = EXCLUDED.report, committed = EXCLUDED.committed \
             WHERE NOT sessions.committed OR EXCLUDED.committed",
        )
        .bind::<Text, _>(s.id)
        .bind::<Text, _>(s.request)
        .bind::<Timestamptz, _>(s.started_at)
        .bind::<Timestamptz, _>(s.finished_at)
        .bind::<Text, _>(s.status)
        .bind::<Integer, _>(s.receivers_total)
        .bind::<Integer, _>(s.receivers_recorded)
        .bind::<Text, _>(s.errors)
        .bind::<Text, _>(s.report)
        .bind::<Bool, _>(s.committed)
        .execute(&mut conn)
        .await
        .map(|_| ())
        .map_err(|e| self.ctx().query("record session", &e))
    }

    pub(crate) async fn sessions_with_rows(&self) -> Result<Vec<(SessionId, u64)>> {
        let mut conn = self.conn("sessions with rows").await?;
        let rows: Vec<crate::rows::SessionRowCount> = diesel::sql_query(
            "SELECT session_id::text AS session_id, count(*)::bigint AS n FROM measurements \
             GROUP BY session_id ORDER BY session_id",
        )
        .load(&mut conn)
        .await
        .map_err(|e| self.ctx().query("sessions with rows", &e))?;
        rows.into_iter().map(|r| r.decode(BACKEND)).collect()
    }

    pub(crate) async fn delete_uncommitted(&self, session: SessionId) -> Result<u64> {
        let mut conn = self.conn("delete uncommitted session").await?;
        let id = session.to_string();
        let outcome = conn
            .transaction::<Option<usize>, diesel::result::Error, _>(async move |c| {
                let committed: Vec<crate::rows::CommittedRow> =
                    diesel::sql_query("SELECT committed FROM sessions WHERE id = $1::uuid FOR UPDATE")
                        .bind::<Text, _>(&id)
                        .load(c)
                        .await?;
                if committed.iter().any(|r| r.committed) {
                    return Ok(None);
                }
                let n = diesel::sql_query("DELETE FROM measurements WHERE session_id = $1::uuid")
                    .bind::<Text, _>(&id)
                    .execute(c)
                    .await?;
                diesel::sql_query("DELETE FROM sessions WHERE id = $1::uuid")
                    .bind::<Text, _>(&id)
                    .execute(c)
                    .await?;
                Ok(Some(n))
            })
            .await
            .map_err(|e| self.ctx().query("delete uncommitted session", &e))?;
        match outcome {
            Some(n) => Ok(n as u64),
            None => Err(heimdall_core::memory::committed_refusal(session)),
        }
    }

    pub(crate) async fn measurements(&self, q: &MeasurementQuery) -> Result<Vec<Measurement>> {
        let mut p = Placeholders::new(true);
        let mut query = diesel::sql_query(MEASUREMENT_SELECT)
            .into_boxed::<Pg>()
            .sql(" WHERE TRUE");
        query = crate::rows::filter_measurements(query, &mut p, q, "::uuid");
        query = filter_window(
            query,
            &mut p,
            TimeWindow {
                since: q.since,
                until: q.until,
            },
        );
        query = query.sql(crate::rows::measurement_order(q));
        let mut conn = self.conn("query measurements").await?;
        let rows = query
            .load::<MeasurementRow>(&mut conn)
            .await
            .map_err(|e| self.ctx().query("query measurements", &e))?;
        rows.into_iter().map(|r| r.decode(BACKEND)).collect()
    }

    /// The hours `measurements_hourly` answers for, read in the caller's transaction; `None`
    /// when the aggregate is off, missing or its catalog unreadable (then raw rows answer).
    async fn hourly_coverage(&self, c: &mut AsyncPgConnection) -> Option<timescale::Ranges> {
        if !AtomicBool::load(&self.hourly_active, Ordering::Relaxed) {
            return None;
        }
        // In a savepoint: a failed catalog read must not abort the caller's transaction.
        match c
            .transaction::<_, diesel::result::Error, _>(async |c| timescale::hourly_coverage(c).await)
            .await
        {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!(error = %e, "reading the coverage of measurements_hourly failed; using raw rows");
                None
            }
        }
    }

    /// SNR statistics per receiver. Count, mean, min and max come from `measurements_hourly`
    /// for the whole, valid hours of the window (see [`timescale::hourly_coverage`]) and from
    /// raw rows for the rest, combined in one query (an explicit `UNION ALL`, not a real-time
    /// aggregate, so that hours with pending invalidations are read raw too). The aggregate
    /// keeps exact sums (`sum(snr_db::numeric)`) and counts; on a hypertable the mean is that
    /// sum over the count on every path (aggregate or not), so the answer is the same to the
    /// last bit whichever part answers. Plain PostgreSQL keeps `avg(float8)`, about 4 times
    /// cheaper than numeric sums over raw rows; its last bits depend on the summation order
    /// (parallel plans), so it may differ from a hypertable's mean by a rounding error.
    /// The median cannot come from an aggregate: it is always `percentile_cont(0.5)` over the
    /// window's raw rows (the covering index `(receiver_id, snr_db)` on plain PostgreSQL, the
    /// compressed column on TimescaleDB).
    pub(crate) async fn snr_stats(&self, window: TimeWindow) -> Result<Vec<SnrStats>> {
        let (since, until) = window_us(window);
        let whole = timescale::ranges_sql("captured_at", &vec![(since, until)]);
        let exact = AtomicBool::load(&self.timescale_active, Ordering::Relaxed);
        let mut conn = self.conn("snr statistics").await?;
        let rows = conn
            .build_transaction()
            .repeatable_read()
            .read_only()
            .run::<Vec<SnrRow>, diesel::result::Error, _>(async |c| {
                // The median sorts every row of a receiver: give the sort memory instead of disk.
                diesel::sql_query("SET LOCAL work_mem = '64MB'").execute(c).await?;
                let sql = match self.hourly_coverage(c).await {
                    Some(valid) => {
                        let (agg, raw) = timescale::split_window(&valid, since, until);
                        format!(
                            "WITH parts AS (SELECT receiver_id, n_snr AS n, sum_snr_db AS s, min_snr_db AS lo, \
                             max_snr_db AS hi FROM measurements_hourly WHERE n_snr > 0 AND {} \
                             UNION ALL SELECT receiver_id, count(*), sum(snr_db::numeric), min(snr_db), max(snr_db) \
                             FROM measurements WHERE snr_db IS NOT NULL AND {} GROUP BY receiver_id), \
                             med AS (SELECT receiver_id, percentile_cont(0.5) WITHIN GROUP (ORDER BY snr_db) AS p50 \
                             FROM measurements WHERE snr_db IS NOT NULL AND {whole} GROUP BY receiver_id) \
                             SELECT a.receiver_id, a.n, a.mean_db, a.min_db, a.max_db, m.p50 AS p50_db FROM \
                             (SELECT receiver_id, sum(n)::int8 AS n, (sum(s) / sum(n))::float8 AS mean_db, \
                             min(lo) AS min_db, max(hi) AS max_db FROM parts GROUP BY receiver_id) a \
                             LEFT JOIN med m USING (receiver_id) ORDER BY a.receiver_id",
                            timescale::ranges_sql("bucket", &agg),
                            timescale::ranges_sql("captured_at", &raw),
                        )
                    }
                    None => format!(
                        "SELECT receiver_id, count(*)::int8 AS n, {} AS mean_db, \
                         min(snr_db) AS min_db, max(snr_db) AS max_db, \
                         percentile_cont(0.5) WITHIN GROUP (ORDER BY snr_db) AS p50_db \
                         FROM measurements WHERE snr_db IS NOT NULL AND {whole} \
                         GROUP BY receiver_id ORDER BY receiver_id",
                        mean(exact, "snr_db")
                    ),
                };
                diesel::sql_query(sql).load::<SnrRow>(c).await
            })
            .await
            .map_err(|e| self.ctx().query("snr statistics", &e))?;
        rows.into_iter().map(|r| r.decode(BACKEND)).collect()
    }

    /// Buckets of `width` per receiver. On TimescaleDB with the hourly aggregate and a width
    /// that is a whole number of hours, the whole, valid hours of the window come from
    /// `measurements_hourly` (rolled up with `time_bucket`) and the rest from raw rows, as in
    /// [`Self::snr_stats`]; counts, max and the exact-sum means equal the raw-row answers.
    pub(crate) async fn time_buckets(
        &self,
        width: std::time::Duration,
        window: TimeWindow,
        receiver: Option<&ReceiverId>,
    ) -> Result<Vec<TimeBucket>> {
        let w = rows::bucket_width_us(width)?;
        let timescale = AtomicBool::load(&self.timescale_active, Ordering::Relaxed);
        let bucket = |col: &str| {
            if timescale {
                timescale::bucket_expr_of(col, w)
            } else {
                format!("date_bin(INTERVAL '{w} microseconds', {col}, TIMESTAMPTZ '1970-01-01 00:00:00+00')")
            }
        };
        let (since, until) = window_us(window);
        let only = if receiver.is_some() {
            " AND receiver_id = $1"
        } else {
            ""
        };
        let hourly_width = w % timescale::HOUR_US == 0;
        let exact = timescale;
        let mut conn = self.conn("time buckets").await?;
        let rows = conn
            .build_transaction()
            .repeatable_read()
            .read_only()
            .run::<Vec<BucketRow>, diesel::result::Error, _>(async |c| {
                let valid = if hourly_width { self.hourly_coverage(c).await } else { None };
                let sql = match valid {
                    Some(valid) => {
                        let (agg, raw) = timescale::split_window(&valid, since, until);
                        format!(
                            "SELECT (EXTRACT(EPOCH FROM b) * 1000000)::int8 AS bucket_us, receiver_id, sum(n)::int8 AS n, \
                             (sum(s_snr) / NULLIF(sum(n_snr), 0))::float8 AS mean_snr_db, max(max_snr) AS max_snr_db, \
                             (sum(s_p) / NULLIF(sum(n_p), 0))::float8 AS mean_signal_power_dbfs FROM (\
                             SELECT {} AS b, receiver_id, n, n_snr, sum_snr_db AS s_snr, max_snr_db AS max_snr, \
                             n_signal_power AS n_p, sum_signal_power_dbfs AS s_p FROM measurements_hourly WHERE {}{only} \
                             UNION ALL SELECT {} AS b, receiver_id, count(*), count(snr_db), sum(snr_db::numeric), \
                             max(snr_db), count(signal_power_dbfs), sum(signal_power_dbfs::numeric) FROM measurements \
                             WHERE {}{only} GROUP BY 1, 2) t GROUP BY b, receiver_id ORDER BY b, receiver_id",
                            bucket("bucket"),
                            timescale::ranges_sql("bucket", &agg),
                            bucket("captured_at"),
                            timescale::ranges_sql("captured_at", &raw),
                        )
                    }
                    None => format!(
                        "SELECT (EXTRACT(EPOCH FROM b) * 1000000)::int8 AS bucket_us, receiver_id, count(*)::int8 AS n, \
                         {} AS mean_snr_db, max(snr_db) AS max_snr_db, {} AS mean_signal_power_dbfs \
                         FROM (SELECT {} AS b, receiver_id, snr_db, signal_power_dbfs FROM measurements WHERE {}{only}) t \
                         GROUP BY b, receiver_id ORDER BY b, receiver_id",
                        mean(exact, "snr_db"),
                        mean(exact, "signal_power_dbfs"),
                        bucket("captured_at"),
                        timescale::ranges_sql("captured_at", &vec![(since, until)]),
                    ),
                };
                let mut q = diesel::sql_query(sql).into_boxed::<Pg>();
                if let Some(r) = receiver {
                    q = q.bind::<Text, _>(r.as_str().to_owned());
                }
                q.load::<BucketRow>(c).await
            })
            .await
            .map_err(|e| self.ctx().query("time buckets", &e))?;
        rows.into_iter().map(|r| r.decode(BACKEND)).collect()
    }

    pub(crate) async fn session(&self, id: SessionId) -> Result<Option<SessionReport>> {
        let mut conn = self.conn("read session").await?;
        let row = diesel::sql_query("SELECT report::text AS report FROM sessions WHERE id = $1::uuid")
            .bind::<Text, _>(id.to_string())
            .get_result::<SessionRow>(&mut conn)
            .await
            .optional()
            .map_err(|e| self.ctx().query("read session", &e))?;
        row.map(|r| r.decode(BACKEND)).transpose()
    }

    pub(crate) async fn recent_sessions(&self, limit: u32) -> Result<Vec<SessionReport>> {
        let mut conn = self.conn("recent sessions").await?;
        let rows =
            diesel::sql_query("SELECT report::text AS report FROM sessions ORDER BY started_at DESC, id DESC LIMIT $1")
                .bind::<BigInt, _>(i64::from(limit))
                .load::<SessionRow>(&mut conn)
                .await
                .map_err(|e| self.ctx().query("recent sessions", &e))?;
        rows.into_iter().map(|r| r.decode(BACKEND)).collect()
    }

    pub(crate) async fn upsert_receiver(
        &self,
        info: &ReceiverInfo,
        options: &serde_json::Value,
    ) -> Result<ReceiverRecord> {
        rows::check_receiver(info)?;
        let now = rows::from_micros(BACKEND, rows::to_micros(Utc::now()))?;
        let options = serde_json::to_string(options)
            .map_err(|e| Error::invalid("options", format!("cannot encode as JSON: {e}")))?;
        let pos = info.position;
        let mut conn = self.conn("upsert receiver").await?;
        let row = diesel::sql_query(format!(
            "INSERT INTO receivers (id, name, kind, url, latitude, longitude, altitude_m, active, options, \
             created_at, updated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, TRUE, $8::jsonb, $9, $9) \
             ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, url = EXCLUDED.url, \
             latitude = EXCLUDED.latitude, longitude = EXCLUDED.longitude, altitude_m = EXCLUDED.altitude_m, \
             active = TRUE, options = EXCLUDED.options, updated_at = EXCLUDED.updated_at \
             RETURNING {RECEIVER_COLUMNS}"
        ))
        .bind::<Text, _>(info.id.as_str())
        .bind::<Text, _>(info.name.as_str())
        .bind::<Text, _>(info.kind.as_str())
        .bind::<Text, _>(info.url.as_str())
        .bind::<Nullable<Double>, _>(pos.map(|p| p.latitude))
        .bind::<Nullable<Double>, _>(pos.map(|p| p.longitude))
        .bind::<Nullable<Double>, _>(pos.and_then(|p| p.altitude_m))
        .bind::<Text, _>(options)
        .bind::<Timestamptz, _>(now)
        .get_result::<ReceiverRow>(&mut conn)
        .await
        .map_err(|e| self.ctx().query("upsert receiver", &e))?;
        row.decode(BACKEND)
    }

    pub(crate) async fn receiver(&self, id: &ReceiverId) -> Result<Option<ReceiverRecord>> {
        let mut conn = self.conn("read receiver").await?;
        let row = diesel::sql_query(format!("SELECT {RECEIVER_COLUMNS} FROM receivers WHERE id = $1"))
            .bind::<Text, _>(id.as_str())
            .get_result::<ReceiverRow>(&mut conn)
            .await
            .optional()
            .map_err(|e| self.ctx().query("read receiver", &e))?;
        row.map(|r| r.decode(BACKEND)).transpose()
    }

    pub(crate) async fn list_receivers(&self, active_only: bool) -> Result<Vec<ReceiverRecord>> {
        let mut conn = self.conn("list receivers").await?;
        let rows = diesel::sql_query(format!(
            "SELECT {RECEIVER_COLUMNS} FROM receivers WHERE active OR NOT $1 ORDER BY id"
        ))
        .bind::<Bool, _>(active_only)
        .load::<ReceiverRow>(&mut conn)
        .await
        .map_err(|e| self.ctx().query("list receivers", &e))?;
        rows.into_iter().map(|r| r.decode(BACKEND)).collect()
    }

    pub(crate) async fn deactivate_receiver(&self, id: &ReceiverId) -> Result<bool> {
        let mut conn = self.conn("deactivate receiver").await?;
        let n = diesel::sql_query("UPDATE receivers SET active = FALSE, updated_at = $1 WHERE id = $2")
            .bind::<Timestamptz, _>(Utc::now())
            .bind::<Text, _>(id.as_str())
            .execute(&mut conn)
            .await
            .map_err(|e| self.ctx().query("deactivate receiver", &e))?;
        Ok(n > 0)
    }
}

/// Connects like `AsyncPgConnection::establish`, but keeps the whole cause chain of a failure
/// ("error connecting to server: Connection refused") and its SQLSTATE in the message.
async fn connect(url: &str, synchronous_commit: bool) -> ConnectionResult<AsyncPgConnection> {
    match tokio_postgres::connect(url, tokio_postgres::NoTls).await {
        Ok((client, connection)) => {
            let mut conn = AsyncPgConnection::try_from_client_and_connection(client, connection).await?;
            if !synchronous_commit {
                use diesel_async::SimpleAsyncConnection;
                conn.batch_execute("SET synchronous_commit = off")
                    .await
                    .map_err(ConnectionError::CouldntSetupConfiguration)?;
            }
            Ok(conn)
        }
        Err(e) => {
            let mut msg = e.to_string();
            let mut src = std::error::Error::source(&e);
            while let Some(s) = src {
                let t = s.to_string();
                if !msg.contains(&t) {
                    msg.push_str(": ");
                    msg.push_str(&t);
                }
                src = s.source();
            }
            if let Some(code) = e.code() {
                msg.push_str(&format!(" (SQLSTATE {})", code.code()));
            }
            Err(ConnectionError::BadConnection(msg))
        }
    }
}

/// One chunk of measurements as column arrays for the UNNEST insert.
#[derive(Debug, Default)]
struct Columns {
    s: Vec<String>,
    r: Vec<String>,
    t: Vec<DateTime<Utc>>,
    ts: Vec<String>,
    f: Vec<f64>,
    cf: Vec<f64>,
    sr: Vec<f64>,
    n: Vec<i64>,
    d: Vec<f64>,
    an: Vec<i64>,
    asr: Vec<f64>,
    snr: Vec<Option<f64>>,
    fo: Vec<Option<f64>>,
    pf: Vec<Option<f64>>,
    sp: Vec<Option<f64>>,
    np: Vec<Option<f64>>,
    nf: Vec<Option<f64>>,
    tp: Vec<Option<f64>>,
    dc: Vec<Option<f64>>,
    cl: Vec<f64>,
    dbm: Vec<Option<f64>>,
    rs: Vec<Option<f64>>,
    ru: Vec<Option<String>>,
    ok: Vec<String>,
    ex: Vec<String>,
}

impl Columns {
    fn from_rows(rows: &[NewMeasurement]) -> Result<Self> {
        let k = rows.len();
        let mut c = Columns {
            s: Vec::with_capacity(k),
            r: Vec::with_capacity(k),
            t: Vec::with_capacity(k),
            ts: Vec::with_capacity(k),
            f: Vec::with_capacity(k),
            cf: Vec::with_capacity(k),
            sr: Vec::with_capacity(k),
            n: Vec::with_capacity(k),
            d: Vec::with_capacity(k),
            an: Vec::with_capacity(k),
            asr: Vec::with_capacity(k),
            snr: Vec::with_capacity(k),
            fo: Vec::with_capacity(k),
            pf: Vec::with_capacity(k),
            sp: Vec::with_capacity(k),
            np: Vec::with_capacity(k),
            nf: Vec::with_capacity(k),
            tp: Vec::with_capacity(k),
            dc: Vec::with_capacity(k),
            cl: Vec::with_capacity(k),
            dbm: Vec::with_capacity(k),
            rs: Vec::with_capacity(k),
            ru: Vec::with_capacity(k),
            ok: Vec::with_capacity(k),
            ex: Vec::with_capacity(k),
        };
        for m in rows {
            c.s.push(m.session_id.clone());
            c.r.push(m.receiver_id.clone());
            c.t.push(rows::from_micros(BACKEND, m.captured_at)?);
            c.ts.push(m.time_source.clone());
            c.f.push(m.frequency_hz);
            c.cf.push(m.center_frequency_hz);
            c.sr.push(m.sample_rate_hz);
            c.n.push(m.samples);
            c.d.push(m.duration_s);
            c.an.push(m.analysed_samples);
            c.asr.push(m.analysed_sample_rate_hz);
            c.snr.push(m.snr_db);
            c.fo.push(m.frequency_offset_hz);
            c.pf.push(m.peak_frequency_hz);
            c.sp.push(m.signal_power_dbfs);
            c.np.push(m.noise_power_dbfs);
            c.nf.push(m.noise_floor_dbfs_per_hz);
            c.tp.push(m.total_power_dbfs);
            c.dc.push(m.dc_power_dbfs);
            c.cl.push(m.clipped_fraction);
            c.dbm.push(m.signal_power_dbm);
            c.rs.push(m.rssi);
            c.ru.push(m.rssi_unit.clone());
            c.ok.push(m.object_keys.clone());
            c.ex.push(m.extra.clone());
        }
        Ok(c)
    }

    fn insert_query(self) -> diesel::query_builder::BoxedSqlQuery<'static, Pg, diesel::query_builder::SqlQuery> {
        type F = Array<Double>;
        type NF = Array<Nullable<Double>>;
        diesel::sql_query(INSERT_UNNEST)
            .into_boxed::<Pg>()
            .bind::<Array<Text>, _>(self.s)
            .bind::<Array<Text>, _>(self.r)
            .bind::<Array<Timestamptz>, _>(self.t)
            .bind::<Array<Text>, _>(self.ts)
            .bind::<F, _>(self.f)
            .bind::<F, _>(self.cf)
            .bind::<F, _>(self.sr)
            .bind::<Array<BigInt>, _>(self.n)
            .bind::<F, _>(self.d)
            .bind::<Array<BigInt>, _>(self.an)
            .bind::<F, _>(self.asr)
            .bind::<NF, _>(self.snr)
            .bind::<NF, _>(self.fo)
            .bind::<NF, _>(self.pf)
            .bind::<NF, _>(self.sp)
            .bind::<NF, _>(self.np)
            .bind::<NF, _>(self.nf)
            .bind::<NF, _>(self.tp)
            .bind::<NF, _>(self.dc)
            .bind::<F, _>(self.cl)
            .bind::<NF, _>(self.dbm)
            .bind::<NF, _>(self.rs)
            .bind::<Array<Nullable<Text>>, _>(self.ru)
            .bind::<Array<Text>, _>(self.ok)
            .bind::<Array<Text>, _>(self.ex)
    }
}

#[allow(dead_code)]
const _: () = assert!(crate::rows::MEASUREMENT_COLUMNS <= MAX_BIND_PARAMS);

/// The mean of `col` over raw rows: exact (numeric sum over the count, independent of the
/// summation order, as `measurements_hourly` stores it) or `avg(float8)`.
fn mean(exact: bool, col: &str) -> String {
    if exact {
        format!("(sum({col}::numeric) / NULLIF(count({col}), 0))::float8")
    } else {
        format!("avg({col})")
    }
}

/// The window as Unix microseconds, open ends as `i64::MIN` / `i64::MAX`.
fn window_us(w: TimeWindow) -> (i64, i64) {
    (
        w.since.map(rows::to_micros).unwrap_or(i64::MIN),
        w.until.map(rows::to_micros).unwrap_or(i64::MAX),
    )
}

/// Appends the `[since, until)` filter on `captured_at` of `window` to a query being built.
fn filter_window<'f>(
    mut query: diesel::query_builder::BoxedSqlQuery<'f, Pg, diesel::query_builder::SqlQuery>,
    p: &mut Placeholders,
    window: TimeWindow,
) -> diesel::query_builder::BoxedSqlQuery<'f, Pg, diesel::query_builder::SqlQuery> {
    if let Some(t) = window.since {
        query = query
            .sql(format!(" AND captured_at >= {}", p.next()))
            .bind::<Timestamptz, _>(t);
    }
    if let Some(t) = window.until {
        query = query
            .sql(format!(" AND captured_at < {}", p.next()))
            .bind::<Timestamptz, _>(t);
    }
    query
}
