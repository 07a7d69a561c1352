//! SQLite backend: `SyncConnectionWrapper<SqliteConnection>` behind one async mutex.
//!
//! One connection serves every call: SQLite serialises writers anyway, and an in-memory
//! database exists only inside its connection. Each operation runs as one blocking task
//! ([`SyncConnectionWrapper::spawn_blocking`]) so that a whole batch costs one hop to the
//! blocking pool, not one per statement. File databases use WAL, `synchronous = NORMAL` and a
//! `busy_timeout`, so other processes can read while Heimdall writes.

use chrono::Utc;
use diesel::connection::SimpleConnection;
use diesel::prelude::*;
use diesel::sql_types::{BigInt, Double, Nullable, Text};
use diesel::sqlite::{Sqlite, SqliteConnection};
use diesel_async::AsyncConnection;
use diesel_async::sync_connection_wrapper::SyncConnectionWrapper;
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};
use heimdall_core::{
    LocalizationRecord, Measurement, MeasurementQuery, ReceiverId, ReceiverInfo, ReceiverRecord, RecordOutcome, Result,
    SessionId, SessionReport, SnrStats, TimeBucket, TimeWindow,
};
use tokio::sync::{Mutex, MutexGuard, OnceCell};

use crate::config::Options;
use crate::error::{Ctx, FailureKind};
use crate::rows::{
    self, BucketRow, LOCALIZATION_COLUMNS, LocalizationRow, MEASUREMENT_COLUMNS, MeasurementRow, NewLocalization,
    NewMeasurement, NewSession, Placeholders, ReceiverRow, SessionRow, SnrRow,
};
use crate::schema;

/// Backend name in errors.
pub(crate) const BACKEND: &str = "sqlite";

/// SQLite's default maximum number of host parameters per statement (since 3.32.0).
pub(crate) const MAX_BIND_PARAMS: usize = 32_766;

/// Rows per multi-row INSERT statement.
pub(crate) const ROWS_PER_INSERT: usize = 200;
const _: () = assert!(ROWS_PER_INSERT * MEASUREMENT_COLUMNS <= MAX_BIND_PARAMS);

fn insert_rows(c: &mut SqliteConnection, rows: &[NewMeasurement]) -> QueryResult<usize> {
    let mut n = 0;
    for row in rows {
        n += diesel::insert_into(schema::measurements::table)
            .values(row)
            .on_conflict_do_nothing()
            .execute(c)?;
    }
    Ok(n)
}

/// The SQLite migrations, embedded in the binary.
pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

type Conn = SyncConnectionWrapper<SqliteConnection>;

const MEASUREMENT_SELECT: &str = "SELECT session_id, receiver_id, captured_at AS captured_at_us, time_source, \
     frequency_hz, center_frequency_hz, sample_rate_hz, samples, duration_s, analysed_samples, \
     analysed_sample_rate_hz, snr_db, frequency_offset_hz, peak_frequency_hz, signal_power_dbfs, \
     noise_power_dbfs, noise_floor_dbfs_per_hz, total_power_dbfs, dc_power_dbfs, clipped_fraction, \
     signal_power_dbm, rssi, rssi_unit, object_keys, extra FROM measurements";

const RECEIVER_SELECT: &str = "SELECT id, name, kind, url, latitude, longitude, altitude_m, active, options, \
     created_at AS created_at_us, updated_at AS updated_at_us FROM receivers";

/// The SQLite store.
pub(crate) struct SqliteStore {
    /// File path, or `None` for in-memory.
    path: Option<String>,
    opts: Options,
    conn: OnceCell<Mutex<Conn>>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path.as_deref().unwrap_or(":memory:"))
            .field("connected", &self.conn.initialized())
            .finish()
    }
}

const CTX: Ctx<'static> = Ctx {
    backend: BACKEND,
    secret: None,
};

impl SqliteStore {
    pub(crate) fn new(path: Option<String>, opts: Options) -> Self {
        SqliteStore {
            path,
            opts,
            conn: OnceCell::new(),
        }
    }

    async fn conn(&self) -> Result<MutexGuard<'_, Conn>> {
        let m = self
            .conn
            .get_or_try_init(|| async {
                let target = self.path.clone().unwrap_or_else(|| ":memory:".to_owned());
                let mut conn = tokio::time::timeout(self.opts.connect_timeout, Conn::establish(&target))
                    .await
                    .map_err(|_| {
                        CTX.error(
                            "open",
                            FailureKind::Connection,
                            &format!("opening {target} timed out after {:?}", self.opts.connect_timeout),
                        )
                    })?
                    .map_err(|e| CTX.connection("open", &e))?;
                let mut pragmas = format!(
                    "PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; PRAGMA cache_size = -65536; \
                     PRAGMA temp_store = MEMORY;",
                    self.opts.busy_timeout.as_millis().min(i32::MAX as u128)
                );
                if self.path.is_some() {
                    pragmas.push_str(" PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
                }
                conn.spawn_blocking(move |c| c.batch_execute(&pragmas))
                    .await
                    .map_err(|e| CTX.query("configure connection", &e))?;
                tracing::debug!(target = %target, "opened SQLite database");
                Ok::<_, heimdall_core::Error>(Mutex::new(conn))
            })
            .await?;
        Ok(m.lock().await)
    }

    /// Runs `f` on the connection in one blocking task.
    async fn run<R: Send + 'static>(
        &self,
        operation: &'static str,
        f: impl FnOnce(&mut SqliteConnection) -> QueryResult<R> + Send + 'static,
    ) -> Result<R> {
        let mut conn = self.conn().await?;
        conn.spawn_blocking(f).await.map_err(|e| CTX.query(operation, &e))
    }

    pub(crate) async fn migrate(&self) -> Result<usize> {
        let res = self
            .run("migrate", |c| {
                Ok(c.run_pending_migrations(MIGRATIONS)
                    .map(|v| v.len())
                    .map_err(|e| e.to_string()))
            })
            .await?;
        let n = res.map_err(|m| {
            let kind = if m.contains("database is locked") {
                FailureKind::Contention
            } else {
                FailureKind::Other
            };
            CTX.error("migrate", kind, &m)
        })?;
        tracing::info!(applied = n, "SQLite migrations up to date");
        Ok(n)
    }

    pub(crate) async fn health(&self) -> Result<()> {
        self.run("health check", |c| c.batch_execute("SELECT 1")).await
    }

    pub(crate) async fn record_measurements(&self, batch: &[Measurement]) -> Result<RecordOutcome> {
        if batch.is_empty() {
            return Ok(RecordOutcome::default());
        }
        let rows = batch.iter().map(NewMeasurement::encode).collect::<Result<Vec<_>>>()?;
        let total = rows.len() as u64;
        let inserted = self
            .run("insert measurements", move |c| {
                c.immediate_transaction(|c| {
                    // Fixed-size chunks give diesel a static query id, so the multi-row
                    // statement is prepared once and cached; the tail goes row by row (also
                    // cached). Each statement binds at most ROWS_PER_INSERT * MEASUREMENT_COLUMNS
                    // parameters, far below SQLITE_MAX_BIND_PARAMS.
                    let mut n = 0usize;
                    let mut chunks = rows.chunks_exact(ROWS_PER_INSERT);
                    for chunk in &mut chunks {
                        n += match <&[NewMeasurement; ROWS_PER_INSERT]>::try_from(chunk) {
                            Ok(arr) => diesel::insert_into(schema::measurements::table)
                                .values(arr)
                                .on_conflict_do_nothing()
                                .execute(c)?,
                            Err(_) => insert_rows(c, chunk)?,
                        };
                    }
                    n += insert_rows(c, chunks.remainder())?;
                    Ok(n)
                })
            })
            .await? as u64;
        Ok(RecordOutcome {
            inserted,
            duplicates: total.saturating_sub(inserted),
        })
    }

    pub(crate) async fn record_session(&self, report: &SessionReport) -> Result<()> {
        let s = NewSession::encode(report)?;
        self.run("record session", move |c| {
            let query = diesel::sql_query(
                "INSERT INTO sessions (id, request, started_at, finished_at, status, receivers_total, \
                 receivers_recorded, errors, report, committed) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (id) DO UPDATE SET request = excluded.request, started_at = excluded.started_at, \
                 finished_at = excluded.finished_at, status = excluded.status, \
                 receivers_total = excluded.receivers_total, receivers_recorded = excluded.receivers_recorded, \
                 errors = excluded.errors, report = excluded.report, committed = excluded.committed \
                 WHERE NOT sessions.committed OR excluded.committed",
            )
            .into_boxed::<Sqlite>();
            s.bind::<Sqlite, BigInt, _>(query, rows::to_micros)
                .execute(c)
                .map(|_| ())
        })
        .await
    }

    pub(crate) async fn sessions_with_rows(&self) -> Result<Vec<(SessionId, u64)>> {
        let rows: Vec<crate::rows::SessionRowCount> = self
            .run("sessions with rows", |c| {
                diesel::sql_query(
                    "SELECT session_id, count(*) AS n FROM measurements GROUP BY session_id ORDER BY session_id",
                )
                .load(c)
            })
            .await?;
        rows.into_iter().map(|r| r.decode(BACKEND)).collect()
    }

    pub(crate) async fn delete_uncommitted(&self, session: SessionId) -> Result<u64> {
        let id = session.to_string();
        let outcome = self
            .run("delete uncommitted session", move |c| {
                c.immediate_transaction(|c| {
                    let committed: Vec<crate::rows::CommittedRow> =
                        diesel::sql_query("SELECT committed FROM sessions WHERE id = ?")
                            .bind::<Text, _>(&id)
                            .load(c)?;
                    if committed.iter().any(|r| r.committed) {
                        return Ok(None);
                    }
                    let n = diesel::sql_query("DELETE FROM measurements WHERE session_id = ?")
                        .bind::<Text, _>(&id)
                        .execute(c)?;
                    diesel::sql_query("DELETE FROM sessions WHERE id = ?")
                        .bind::<Text, _>(&id)
                        .execute(c)?;
                    Ok(Some(n))
                })
            })
            .await?;
        match outcome {
            Some(n) => Ok(n as u64),
            None => Err(heimdall_core::memory::committed_refusal(session)),
        }
    }

    pub(crate) async fn measurements(&self, q: &MeasurementQuery) -> Result<Vec<Measurement>> {
        let query = rows::measurements_query::<Sqlite, BigInt, _>(
            MEASUREMENT_SELECT,
            " WHERE 1 = 1",
            &mut Placeholders::new(false),
            q,
            "",
            rows::to_micros,
        );
        let rows = self
            .run("query measurements", move |c| query.load::<MeasurementRow>(c))
            .await?;
        rows.into_iter().map(|r| r.decode(BACKEND)).collect()
    }

    pub(crate) async fn snr_stats(&self, window: TimeWindow) -> Result<Vec<SnrStats>> {
        let mut p = Placeholders::new(false);
        let mut query = diesel::sql_query(
            "WITH s AS (SELECT receiver_id, snr_db, \
             ROW_NUMBER() OVER (PARTITION BY receiver_id ORDER BY snr_db) AS rn, \
             COUNT(*) OVER (PARTITION BY receiver_id) AS cnt \
             FROM measurements WHERE snr_db IS NOT NULL",
        )
        .into_boxed::<Sqlite>();
        query = filter_window(query, &mut p, window);
        // Continuous median, as PostgreSQL's percentile_cont(0.5): the middle row, or the mean of
        // the two middle rows.
        query = query.sql(
            ") SELECT receiver_id, COUNT(*) AS n, AVG(snr_db) AS mean_db, MIN(snr_db) AS min_db, \
             MAX(snr_db) AS max_db, \
             AVG(CASE WHEN rn IN ((cnt + 1) / 2, (cnt + 2) / 2) THEN snr_db END) AS p50_db \
             FROM s GROUP BY receiver_id ORDER BY receiver_id",
        );
        let rows = self.run("snr statistics", move |c| query.load::<SnrRow>(c)).await?;
        rows.into_iter().map(|r| r.decode(BACKEND)).collect()
    }

    pub(crate) async fn time_buckets(
        &self,
        width: std::time::Duration,
        window: TimeWindow,
        receiver: Option<&ReceiverId>,
    ) -> Result<Vec<TimeBucket>> {
        let w = rows::bucket_width_us(width)?;
        let mut p = Placeholders::new(false);
        // Floor division that also holds before 1970: t - ((t % w) + w) % w.
        let mut query = diesel::sql_query(format!(
            "SELECT captured_at - (((captured_at % {w}) + {w}) % {w}) AS bucket_us, receiver_id, \
             COUNT(*) AS n, AVG(snr_db) AS mean_snr_db, MAX(snr_db) AS max_snr_db, \
             AVG(signal_power_dbfs) AS mean_signal_power_dbfs FROM measurements WHERE 1 = 1"
        ))
        .into_boxed::<Sqlite>();
        query = filter_window(query, &mut p, window);
        if let Some(r) = receiver {
            query = query
                .sql(format!(" AND receiver_id = {}", p.next()))
                .bind::<Text, _>(r.as_str().to_owned());
        }
        query = query.sql(" GROUP BY bucket_us, receiver_id ORDER BY bucket_us, receiver_id");
        let rows = self.run("time buckets", move |c| query.load::<BucketRow>(c)).await?;
        rows.into_iter().map(|r| r.decode(BACKEND)).collect()
    }

    pub(crate) async fn session(&self, id: SessionId) -> Result<Option<SessionReport>> {
        let id = id.to_string();
        let row = self
            .run("read session", move |c| {
                diesel::sql_query("SELECT report FROM sessions WHERE id = ?")
                    .bind::<Text, _>(id)
                    .get_result::<SessionRow>(c)
                    .optional()
            })
            .await?;
        row.map(|r| r.decode(BACKEND)).transpose()
    }

    pub(crate) async fn record_localization(&self, record: &LocalizationRecord) -> Result<bool> {
        let r = NewLocalization::encode(record)?;
        let n = self
            .run("record localization", move |c| {
                let (id, at) = (r.session_id.clone(), rows::to_micros(r.located_at));
                let query = diesel::sql_query(
                    "INSERT INTO localizations (session_id, located_at, latitude, longitude, semi_major_m, \
                     semi_minor_m, orientation_deg, confidence, method, stations_used, stations_rejected, result) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (session_id) DO NOTHING",
                )
                .into_boxed::<Sqlite>()
                .bind::<Text, _>(id)
                .bind::<BigInt, _>(at);
                r.bind_values(query).execute(c)
            })
            .await?;
        Ok(n == 1)
    }

    pub(crate) async fn localization(&self, session: SessionId) -> Result<Option<LocalizationRecord>> {
        let id = session.to_string();
        let row = self
            .run("read localization", move |c| {
                diesel::sql_query(format!(
                    "SELECT {LOCALIZATION_COLUMNS} FROM (SELECT *, located_at AS located_at_us FROM localizations \
                     WHERE session_id = ?)"
                ))
                .bind::<Text, _>(id)
                .get_result::<LocalizationRow>(c)
                .optional()
            })
            .await?;
        row.map(|r| r.decode(BACKEND)).transpose()
    }

    pub(crate) async fn recent_sessions(&self, limit: u32) -> Result<Vec<SessionReport>> {
        let rows = self
            .run("recent sessions", move |c| {
                diesel::sql_query("SELECT report FROM sessions ORDER BY started_at DESC, id DESC LIMIT ?")
                    .bind::<BigInt, _>(i64::from(limit))
                    .load::<SessionRow>(c)
            })
            .await?;
        rows.into_iter().map(|r| r.decode(BACKEND)).collect()
    }

    pub(crate) async fn upsert_receiver(
        &self,
        info: &ReceiverInfo,
        options: &serde_json::Value,
    ) -> Result<ReceiverRecord> {
        let options = rows::receiver_options_json(info, options)?;
        let now = rows::to_micros(Utc::now());
        let id = info.id.as_str().to_owned();
        let name = info.name.clone();
        let kind = info.kind.as_str().to_owned();
        let url = info.url.clone();
        let pos = info.position;
        let row = self
            .run("upsert receiver", move |c| {
                c.immediate_transaction(|c| {
                    diesel::sql_query(
                        "INSERT INTO receivers (id, name, kind, url, latitude, longitude, altitude_m, active, \
                         options, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?, ?) \
                         ON CONFLICT (id) DO UPDATE SET name = excluded.name, kind = excluded.kind, \
                         url = excluded.url, latitude = excluded.latitude, longitude = excluded.longitude, \
                         altitude_m = excluded.altitude_m, active = 1, options = excluded.options, \
                         updated_at = excluded.updated_at",
                    )
                    .bind::<Text, _>(&id)
                    .bind::<Text, _>(name)
                    .bind::<Text, _>(kind)
                    .bind::<Text, _>(url)
                    .bind::<Nullable<Double>, _>(pos.map(|p| p.latitude))
                    .bind::<Nullable<Double>, _>(pos.map(|p| p.longitude))
                    .bind::<Nullable<Double>, _>(pos.and_then(|p| p.altitude_m))
                    .bind::<Text, _>(options)
                    .bind::<BigInt, _>(now)
                    .bind::<BigInt, _>(now)
                    .execute(c)?;
                    diesel::sql_query(format!("{RECEIVER_SELECT} WHERE id = ?"))
                        .bind::<Text, _>(&id)
                        .get_result::<ReceiverRow>(c)
                })
            })
            .await?;
        row.decode(BACKEND)
    }

    pub(crate) async fn receiver(&self, id: &ReceiverId) -> Result<Option<ReceiverRecord>> {
        let id = id.as_str().to_owned();
        let row = self
            .run("read receiver", move |c| {
                diesel::sql_query(format!("{RECEIVER_SELECT} WHERE id = ?"))
                    .bind::<Text, _>(id)
                    .get_result::<ReceiverRow>(c)
                    .optional()
            })
            .await?;
        row.map(|r| r.decode(BACKEND)).transpose()
    }

    pub(crate) async fn list_receivers(&self, active_only: bool) -> Result<Vec<ReceiverRecord>> {
        let sql = if active_only {
            format!("{RECEIVER_SELECT} WHERE active ORDER BY id")
        } else {
            format!("{RECEIVER_SELECT} ORDER BY id")
        };
        let rows = self
            .run("list receivers", move |c| diesel::sql_query(sql).load::<ReceiverRow>(c))
            .await?;
        rows.into_iter().map(|r| r.decode(BACKEND)).collect()
    }

    pub(crate) async fn deactivate_receiver(&self, id: &ReceiverId) -> Result<bool> {
        let id = id.as_str().to_owned();
        let now = rows::to_micros(Utc::now());
        let n = self
            .run("deactivate receiver", move |c| {
                diesel::sql_query("UPDATE receivers SET active = 0, updated_at = ? WHERE id = ?")
                    .bind::<BigInt, _>(now)
                    .bind::<Text, _>(id)
                    .execute(c)
            })
            .await?;
        Ok(n > 0)
    }
}

/// Appends the `[since, until)` filter on `captured_at` of `window` to a query being built.
fn filter_window<'f>(
    query: rows::BoxedQuery<'f, Sqlite>,
    p: &mut Placeholders,
    window: TimeWindow,
) -> rows::BoxedQuery<'f, Sqlite> {
    rows::filter_window::<_, BigInt, _>(query, p, window, rows::to_micros)
}
