//! The PostgreSQL store: its pool of connections, connecting, migrations, health.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex as StdMutex};

use diesel::ConnectionResult;
use diesel::result::ConnectionError;
use diesel_async::pooled_connection::{AsyncDieselConnectionManager, ManagerConfig, PoolError};
use diesel_async::{AsyncPgConnection, RunQueryDsl};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use futures::FutureExt;
use heimdall_core::{Error, Result};
use tokio::sync::OnceCell;

use crate::config::{Options, Secret};
use crate::error::{Ctx, DatabaseFailure, FailureKind};
use crate::timescale::{self, TimescaleStatus};

/// Backend name in errors.
pub(crate) const BACKEND: &str = "postgres";

/// PostgreSQL's maximum number of bind parameters per statement.
pub(crate) const MAX_BIND_PARAMS: usize = 65_535;

/// Rows per UNNEST statement (bounds the message size; the statement always has 25 parameters).
pub(crate) const ROWS_PER_INSERT: usize = 10_000;

/// The PostgreSQL migrations, embedded in the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

pub(super) type Manager = AsyncDieselConnectionManager<AsyncPgConnection>;
pub(super) type Pool = bb8::Pool<Manager>;
pub(super) type Pooled<'a> = bb8::PooledConnection<'a, Manager>;

pub(super) const MEASUREMENT_SELECT: &str = "SELECT session_id::text AS session_id, receiver_id, \
     (EXTRACT(EPOCH FROM captured_at) * 1000000)::int8 AS captured_at_us, time_source, \
     frequency_hz, center_frequency_hz, sample_rate_hz, samples, duration_s, analysed_samples, \
     analysed_sample_rate_hz, snr_db, frequency_offset_hz, peak_frequency_hz, signal_power_dbfs, \
     noise_power_dbfs, noise_floor_dbfs_per_hz, total_power_dbfs, dc_power_dbfs, clipped_fraction, \
     signal_power_dbm, rssi, rssi_unit, object_keys::text AS object_keys, extra::text AS extra FROM measurements";

pub(super) const RECEIVER_COLUMNS: &str = "id, name, kind, url, latitude, longitude, altitude_m, active, \
     options::text AS options, (EXTRACT(EPOCH FROM created_at) * 1000000)::int8 AS created_at_us, \
     (EXTRACT(EPOCH FROM updated_at) * 1000000)::int8 AS updated_at_us";

pub(super) const INSERT_UNNEST: &str = "INSERT INTO measurements (session_id, receiver_id, captured_at, time_source, \
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
pub(super) struct LastError {
    secret: Secret,
    slot: Arc<StdMutex<Option<DatabaseFailure>>>,
}

/// Advisory lock key held while migrating ("HEIMDALL" in ASCII).
pub(super) const MIGRATION_LOCK: i64 = 0x4845_494D_4441_4C4C;

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
    pub(super) secret: Secret,
    pub(super) opts: Options,
    pub(super) pool: OnceCell<Pool>,
    pub(super) last_error: Arc<StdMutex<Option<DatabaseFailure>>>,
    /// Whether `measurements` is a TimescaleDB hypertable (buckets use `time_bucket`).
    pub(super) timescale_active: AtomicBool,
    /// Whether the hourly continuous aggregate exists (queries read it where it is valid).
    pub(super) hourly_active: AtomicBool,
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

    pub(super) fn ctx(&self) -> Ctx<'_> {
        Ctx {
            backend: BACKEND,
            secret: Some(&self.secret),
        }
    }

    pub(super) async fn pool(&self) -> &Pool {
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

    pub(super) fn pool_error(&self, operation: &'static str, e: bb8::RunError<PoolError>) -> Error {
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

    pub(super) async fn conn(&self, operation: &'static str) -> Result<Pooled<'_>> {
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
    pub(super) async fn dedicated(&self, operation: &'static str) -> Result<AsyncPgConnection> {
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

    pub(super) async fn migrate_locked(&self) -> Result<(usize, TimescaleStatus)> {
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

    pub(super) fn reads_hourly(&self, s: &TimescaleStatus) -> bool {
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
}

/// Connects like `AsyncPgConnection::establish`, but keeps the whole cause chain of a failure
/// ("error connecting to server: Connection refused") and its SQLSTATE in the message.
pub(super) async fn connect(url: &str, synchronous_commit: bool) -> ConnectionResult<AsyncPgConnection> {
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
