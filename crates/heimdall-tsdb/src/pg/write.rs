//! Writing measurements (the UNNEST insert, binary COPY) and session records.

use chrono::{DateTime, Utc};
use diesel::pg::Pg;
use diesel::sql_types::{Array, BigInt, Double, Nullable, Text, Timestamptz};
use diesel_async::{AsyncConnection, RunQueryDsl};
use heimdall_core::{Error, Measurement, RecordOutcome, Result, SessionId, SessionReport};

use super::store::{BACKEND, INSERT_UNNEST, MAX_BIND_PARAMS, PgStore, ROWS_PER_INSERT};
use crate::error::FailureKind;
use crate::rows::{self, NewMeasurement, NewSession};

impl PgStore {
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
    pub(super) async fn record_by_copy(&self, rows: &[NewMeasurement]) -> Result<RecordOutcome> {
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
        let query = diesel::sql_query(
            "INSERT INTO sessions (id, request, started_at, finished_at, status, receivers_total, \
             receivers_recorded, errors, report, committed) \
             VALUES ($1::uuid, $2::jsonb, $3, $4, $5, $6, $7, $8::jsonb, $9::json, $10) \
             ON CONFLICT (id) DO UPDATE SET request = EXCLUDED.request, started_at = EXCLUDED.started_at, \
             finished_at = EXCLUDED.finished_at, status = EXCLUDED.status, \
             receivers_total = EXCLUDED.receivers_total, receivers_recorded = EXCLUDED.receivers_recorded, \
             errors = EXCLUDED.errors, report = EXCLUDED.report, committed = EXCLUDED.committed \
             WHERE NOT sessions.committed OR EXCLUDED.committed",
        )
        .into_boxed::<Pg>();
        s.bind::<Pg, Timestamptz, _>(query, |t| t)
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
}

/// One chunk of measurements as column arrays for the UNNEST insert.
#[derive(Debug, Default)]
pub(super) struct Columns {
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
    pub(super) fn from_rows(rows: &[NewMeasurement]) -> Result<Self> {
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

    pub(super) fn insert_query(
        self,
    ) -> diesel::query_builder::BoxedSqlQuery<'static, Pg, diesel::query_builder::SqlQuery> {
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
