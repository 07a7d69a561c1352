//! The analysts' queries: measurements, SNR statistics, time buckets, sessions.

use std::sync::atomic::{AtomicBool, Ordering};

use diesel::sql_types::{BigInt, Text, Timestamptz};
use diesel::{OptionalExtension, pg::Pg};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use heimdall_core::{
    Measurement, MeasurementQuery, ReceiverId, Result, SessionId, SessionReport, SnrStats, TimeBucket, TimeWindow,
};

use super::store::{BACKEND, MEASUREMENT_SELECT, PgStore};
use crate::rows::{self, BucketRow, MeasurementRow, Placeholders, SessionRow, SnrRow};
use crate::timescale::{self};

impl PgStore {
    pub(crate) async fn measurements(&self, q: &MeasurementQuery) -> Result<Vec<Measurement>> {
        let query = rows::measurements_query::<Pg, Timestamptz, _>(
            MEASUREMENT_SELECT,
            " WHERE TRUE",
            &mut Placeholders::new(true),
            q,
            "::uuid",
            |t| t,
        );
        let mut conn = self.conn("query measurements").await?;
        let rows = query
            .load::<MeasurementRow>(&mut conn)
            .await
            .map_err(|e| self.ctx().query("query measurements", &e))?;
        rows.into_iter().map(|r| r.decode(BACKEND)).collect()
    }

    /// The hours `measurements_hourly` answers for, read in the caller's transaction; `None`
    /// when the aggregate is off, missing or its catalog unreadable (then raw rows answer).
    pub(super) async fn hourly_coverage(&self, c: &mut AsyncPgConnection) -> Option<timescale::Ranges> {
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
}

/// The mean of `col` over raw rows: exact (numeric sum over the count, independent of the
/// summation order, as `measurements_hourly` stores it) or `avg(float8)`.
pub(super) fn mean(exact: bool, col: &str) -> String {
    if exact {
        format!("(sum({col}::numeric) / NULLIF(count({col}), 0))::float8")
    } else {
        format!("avg({col})")
    }
}

/// The window as Unix microseconds, open ends as `i64::MIN` / `i64::MAX`.
pub(super) fn window_us(w: TimeWindow) -> (i64, i64) {
    (
        w.since.map(rows::to_micros).unwrap_or(i64::MIN),
        w.until.map(rows::to_micros).unwrap_or(i64::MAX),
    )
}
