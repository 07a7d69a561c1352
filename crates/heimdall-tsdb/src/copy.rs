//! Bulk ingest through PostgreSQL's binary `COPY ... FROM STDIN`.
//!
//! A large batch (reindex, bulk import) is streamed in binary COPY format straight into
//! `measurements`; if a row is already stored, into a temporary staging table instead, then moved
//! with one `INSERT ... SELECT ... ON CONFLICT DO NOTHING`, so the idempotency key still decides
//! and the duplicate count stays exact, all in one transaction.
//!
//! diesel-async has no COPY support (diesel's `copy_from` is for the synchronous `PgConnection`),
//! so this path talks to the server with tokio-postgres, the driver under diesel-async, on a
//! connection of its own. Values are encoded straight from the encoded rows: uuid as 16 bytes,
//! timestamptz as microseconds since 2000-01-01, jsonb as version byte 1 followed by the text.

use std::error::Error as StdError;

use bytes::{BufMut, BytesMut};
use tokio_postgres::binary_copy::BinaryCopyInWriter;
use tokio_postgres::types::{IsNull, ToSql, Type, to_sql_checked};

use crate::rows::NewMeasurement;

/// The columns written, in the order of [`TYPES`].
pub(crate) const COLUMNS: &str = "session_id, receiver_id, captured_at, time_source, frequency_hz, \
     center_frequency_hz, sample_rate_hz, samples, duration_s, analysed_samples, analysed_sample_rate_hz, \
     snr_db, frequency_offset_hz, peak_frequency_hz, signal_power_dbfs, noise_power_dbfs, \
     noise_floor_dbfs_per_hz, total_power_dbfs, dc_power_dbfs, clipped_fraction, signal_power_dbm, rssi, \
     rssi_unit, object_keys, extra";

const TYPES: [Type; 25] = [
    Type::UUID,
    Type::TEXT,
    Type::TIMESTAMPTZ,
    Type::TEXT,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::INT8,
    Type::FLOAT8,
    Type::INT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::FLOAT8,
    Type::TEXT,
    Type::JSONB,
    Type::JSONB,
];

/// The staging table: the written columns of `measurements` without constraints or indexes,
/// dropped at commit. `temp_buffers` keeps a large batch in memory (settable only before the
/// session's first use of a temporary table, which is why the connection is a fresh one).
const STAGE: &str = "SET temp_buffers = '256MB'; \
     CREATE TEMP TABLE heimdall_stage (session_id uuid, receiver_id text COLLATE \"C\", \
     captured_at timestamptz, time_source text, frequency_hz float8, center_frequency_hz float8, \
     sample_rate_hz float8, samples int8, duration_s float8, analysed_samples int8, \
     analysed_sample_rate_hz float8, snr_db float8, frequency_offset_hz float8, peak_frequency_hz float8, \
     signal_power_dbfs float8, noise_power_dbfs float8, noise_floor_dbfs_per_hz float8, \
     total_power_dbfs float8, dc_power_dbfs float8, clipped_fraction float8, signal_power_dbm float8, \
     rssi float8, rssi_unit text, object_keys jsonb, extra jsonb) ON COMMIT DROP";

/// Why a COPY batch failed.
#[derive(Debug)]
pub(crate) enum CopyError {
    /// The server or the connection failed.
    Pg(tokio_postgres::Error),
    /// A value could not be encoded.
    Invalid(String),
}

impl From<tokio_postgres::Error> for CopyError {
    fn from(e: tokio_postgres::Error) -> Self {
        CopyError::Pg(e)
    }
}

/// A uuid in binary form.
#[derive(Debug)]
struct Uuid16([u8; 16]);

impl ToSql for Uuid16 {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.put_slice(&self.0);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::UUID
    }
    to_sql_checked!();
}

/// Microseconds between the Unix epoch and PostgreSQL's (2000-01-01 00:00:00 UTC).
const PG_EPOCH_US: i64 = 946_684_800_000_000;

/// A timestamptz from Unix microseconds.
#[derive(Debug)]
struct Micros(i64);

impl ToSql for Micros {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        let v = self
            .0
            .checked_sub(PG_EPOCH_US)
            .ok_or("timestamp out of PostgreSQL's range")?;
        out.put_i64(v);
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::TIMESTAMPTZ
    }
    to_sql_checked!();
}

/// A jsonb value from JSON text (already validated by serde when it was encoded).
#[derive(Debug)]
struct Jsonb<'a>(&'a str);

impl ToSql for Jsonb<'_> {
    fn to_sql(&self, _: &Type, out: &mut BytesMut) -> Result<IsNull, Box<dyn StdError + Sync + Send>> {
        out.put_u8(1);
        out.put_slice(self.0.as_bytes());
        Ok(IsNull::No)
    }
    fn accepts(ty: &Type) -> bool {
        *ty == Type::JSONB
    }
    to_sql_checked!();
}

/// Writes `rows` in one transaction on `client`; returns how many were inserted (the rest were
/// duplicates). First straight into `measurements` (new rows, the common case of a bulk import,
/// cost no more than psql's COPY); when a row is already stored, that COPY fails with
/// unique_violation and the batch goes through the staging table, which counts the duplicates.
pub(crate) async fn copy_rows(client: &mut tokio_postgres::Client, rows: &[NewMeasurement]) -> Result<u64, CopyError> {
    let tx = client.transaction().await?;
    tx.batch_execute("SAVEPOINT heimdall_copy").await?;
    match write(&tx, "measurements", rows).await {
        Ok(n) => {
            tx.commit().await?;
            return Ok(n);
        }
        Err(CopyError::Pg(e)) if e.code() == Some(&tokio_postgres::error::SqlState::UNIQUE_VIOLATION) => {
            tx.batch_execute("ROLLBACK TO SAVEPOINT heimdall_copy").await?;
        }
        Err(e) => return Err(e),
    }
    tx.batch_execute(STAGE).await?;
    write(&tx, "heimdall_stage", rows).await?;
    let inserted = tx
        .execute(
            &format!(
                "INSERT INTO measurements ({COLUMNS}) SELECT {COLUMNS} FROM heimdall_stage ON CONFLICT DO NOTHING"
            ),
            &[],
        )
        .await?;
    tx.commit().await?;
    Ok(inserted)
}

/// Streams `rows` into `table` with binary COPY; returns the rows copied.
async fn write(tx: &tokio_postgres::Transaction<'_>, table: &str, rows: &[NewMeasurement]) -> Result<u64, CopyError> {
    let sink = tx
        .copy_in(&format!("COPY {table} ({COLUMNS}) FROM STDIN (FORMAT binary)"))
        .await?;
    let writer = BinaryCopyInWriter::new(sink, &TYPES);
    let mut writer = std::pin::pin!(writer);
    for m in rows {
        let session = uuid::Uuid::parse_str(&m.session_id)
            .map_err(|e| CopyError::Invalid(format!("session_id {:?}: {e}", m.session_id)))?;
        let s = Uuid16(*session.as_bytes());
        let t = Micros(m.captured_at);
        let (ok, ex) = (Jsonb(&m.object_keys), Jsonb(&m.extra));
        let values: [&(dyn ToSql + Sync); 25] = [
            &s,
            &m.receiver_id,
            &t,
            &m.time_source,
            &m.frequency_hz,
            &m.center_frequency_hz,
            &m.sample_rate_hz,
            &m.samples,
            &m.duration_s,
            &m.analysed_samples,
            &m.analysed_sample_rate_hz,
            &m.snr_db,
            &m.frequency_offset_hz,
            &m.peak_frequency_hz,
            &m.signal_power_dbfs,
            &m.noise_power_dbfs,
            &m.noise_floor_dbfs_per_hz,
            &m.total_power_dbfs,
            &m.dc_power_dbfs,
            &m.clipped_fraction,
            &m.signal_power_dbm,
            &m.rssi,
            &m.rssi_unit,
            &ok,
            &ex,
        ];
        writer.as_mut().write(&values).await?;
    }
    Ok(writer.finish().await?)
}
