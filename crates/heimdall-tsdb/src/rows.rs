//! Row types shared by both backends and their conversion to and from the core types.
//!
//! Reads use `sql_query` with backend-specific SQL that casts every column to a common
//! representation (ids and JSON as text, times as Unix microseconds), so one set of
//! `QueryableByName` structs serves PostgreSQL and SQLite alike.

use chrono::{DateTime, Utc};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Bool, Double, Nullable, Text};
use heimdall_core::{
    Error, GeoPosition, LocalizationRecord, Measurement, ReceiverId, ReceiverInfo, ReceiverRecord, Result, SessionId,
    SessionReport, SignalMetrics, SnrStats, TimeBucket,
};
use serde::de::DeserializeOwned;

/// Truncates a time to whole microseconds (the precision both backends store).
pub(crate) fn to_micros(t: DateTime<Utc>) -> i64 {
    t.timestamp_micros()
}

pub(crate) fn from_micros(backend: &'static str, us: i64) -> Result<DateTime<Utc>> {
    DateTime::from_timestamp_micros(us).ok_or_else(|| Error::Malformed {
        backend,
        origin: "database".into(),
        reason: format!("timestamp {us} µs is out of range"),
    })
}

fn malformed(backend: &'static str, what: &str, e: impl std::fmt::Display) -> Error {
    Error::Malformed {
        backend,
        origin: "database".into(),
        reason: format!("{what}: {e}"),
    }
}

fn parse_json<T: DeserializeOwned>(backend: &'static str, what: &str, s: &str) -> Result<T> {
    serde_json::from_str(s).map_err(|e| malformed(backend, what, e))
}

/// Parses a snake_case enum name through its serde representation.
fn parse_enum<T: DeserializeOwned>(backend: &'static str, what: &str, s: &str) -> Result<T> {
    serde_json::from_value(serde_json::Value::String(s.to_owned())).map_err(|e| malformed(backend, what, e))
}

fn to_i64(field: &'static str, v: u64) -> Result<i64> {
    i64::try_from(v).map_err(|_| Error::invalid(field, format!("{v} exceeds the database's signed 64-bit range")))
}

fn to_json(field: &'static str, v: &impl serde::Serialize) -> Result<String> {
    serde_json::to_string(v).map_err(|e| Error::invalid(field, format!("cannot encode as JSON: {e}")))
}

/// A measurement encoded for writing (column order of the insert statements).
#[derive(Debug, Clone)]
#[cfg_attr(feature = "sqlite", derive(diesel::Insertable))]
#[cfg_attr(feature = "sqlite", diesel(table_name = crate::schema::measurements))]
#[cfg_attr(feature = "sqlite", diesel(treat_none_as_default_value = false))]
pub(crate) struct NewMeasurement {
    pub(crate) session_id: String,
    pub(crate) receiver_id: String,
    pub(crate) captured_at: i64,
    pub(crate) time_source: String,
    pub(crate) frequency_hz: f64,
    pub(crate) center_frequency_hz: f64,
    pub(crate) sample_rate_hz: f64,
    pub(crate) samples: i64,
    pub(crate) duration_s: f64,
    pub(crate) analysed_samples: i64,
    pub(crate) analysed_sample_rate_hz: f64,
    pub(crate) snr_db: Option<f64>,
    pub(crate) frequency_offset_hz: Option<f64>,
    pub(crate) peak_frequency_hz: Option<f64>,
    pub(crate) signal_power_dbfs: Option<f64>,
    pub(crate) noise_power_dbfs: Option<f64>,
    pub(crate) noise_floor_dbfs_per_hz: Option<f64>,
    pub(crate) total_power_dbfs: Option<f64>,
    pub(crate) dc_power_dbfs: Option<f64>,
    pub(crate) clipped_fraction: f64,
    pub(crate) signal_power_dbm: Option<f64>,
    pub(crate) rssi: Option<f64>,
    pub(crate) rssi_unit: Option<String>,
    pub(crate) object_keys: String,
    pub(crate) extra: String,
}

/// Number of columns written per measurement (bind parameters per row in a VALUES list).
pub(crate) const MEASUREMENT_COLUMNS: usize = 25;

impl NewMeasurement {
    pub(crate) fn encode(m: &Measurement) -> Result<Self> {
        let x = &m.metrics;
        Ok(NewMeasurement {
            session_id: m.session_id.to_string(),
            receiver_id: m.receiver_id.as_str().to_owned(),
            captured_at: to_micros(m.captured_at),
            time_source: m.time_source.as_str().to_owned(),
            frequency_hz: m.frequency_hz,
            center_frequency_hz: m.center_frequency_hz,
            sample_rate_hz: m.sample_rate_hz,
            samples: to_i64("samples", m.samples)?,
            duration_s: m.duration_s,
            analysed_samples: to_i64("metrics.samples", x.samples)?,
            analysed_sample_rate_hz: x.sample_rate_hz,
            snr_db: x.snr_db,
            frequency_offset_hz: x.frequency_offset_hz,
            peak_frequency_hz: x.peak_frequency_hz,
            signal_power_dbfs: x.signal_power_dbfs,
            noise_power_dbfs: x.noise_power_dbfs,
            noise_floor_dbfs_per_hz: x.noise_floor_dbfs_per_hz,
            total_power_dbfs: x.total_power_dbfs,
            dc_power_dbfs: x.dc_power_dbfs,
            clipped_fraction: x.clipped_fraction,
            signal_power_dbm: x.signal_power_dbm,
            rssi: m.rssi,
            rssi_unit: m.rssi_unit.map(|u| u.as_str().to_owned()),
            object_keys: to_json("object_keys", &m.object_keys)?,
            extra: to_json("extra", &m.extra)?,
        })
    }
}

/// A measurement as read back.
#[derive(Debug, QueryableByName)]
pub(crate) struct MeasurementRow {
    #[diesel(sql_type = Text)]
    session_id: String,
    #[diesel(sql_type = Text)]
    receiver_id: String,
    #[diesel(sql_type = BigInt)]
    captured_at_us: i64,
    #[diesel(sql_type = Text)]
    time_source: String,
    #[diesel(sql_type = Double)]
    frequency_hz: f64,
    #[diesel(sql_type = Double)]
    center_frequency_hz: f64,
    #[diesel(sql_type = Double)]
    sample_rate_hz: f64,
    #[diesel(sql_type = BigInt)]
    samples: i64,
    #[diesel(sql_type = Double)]
    duration_s: f64,
    #[diesel(sql_type = BigInt)]
    analysed_samples: i64,
    #[diesel(sql_type = Double)]
    analysed_sample_rate_hz: f64,
    #[diesel(sql_type = Nullable<Double>)]
    snr_db: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    frequency_offset_hz: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    peak_frequency_hz: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    signal_power_dbfs: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    noise_power_dbfs: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    noise_floor_dbfs_per_hz: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    total_power_dbfs: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    dc_power_dbfs: Option<f64>,
    #[diesel(sql_type = Double)]
    clipped_fraction: f64,
    #[diesel(sql_type = Nullable<Double>)]
    signal_power_dbm: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    rssi: Option<f64>,
    #[diesel(sql_type = Nullable<Text>)]
    rssi_unit: Option<String>,
    #[diesel(sql_type = Text)]
    object_keys: String,
    #[diesel(sql_type = Text)]
    extra: String,
}

impl MeasurementRow {
    pub(crate) fn decode(self, backend: &'static str) -> Result<Measurement> {
        let neg = |field: &str, v: i64| malformed(backend, field, format!("negative count {v}"));
        Ok(Measurement {
            session_id: self
                .session_id
                .parse::<SessionId>()
                .map_err(|e| malformed(backend, "session_id", e))?,
            receiver_id: ReceiverId::new(self.receiver_id).map_err(|e| malformed(backend, "receiver_id", e))?,
            captured_at: from_micros(backend, self.captured_at_us)?,
            time_source: parse_enum(backend, "time_source", &self.time_source)?,
            frequency_hz: self.frequency_hz,
            center_frequency_hz: self.center_frequency_hz,
            sample_rate_hz: self.sample_rate_hz,
            samples: u64::try_from(self.samples).map_err(|_| neg("samples", self.samples))?,
            duration_s: self.duration_s,
            metrics: SignalMetrics {
                samples: u64::try_from(self.analysed_samples)
                    .map_err(|_| neg("analysed_samples", self.analysed_samples))?,
                sample_rate_hz: self.analysed_sample_rate_hz,
                snr_db: self.snr_db,
                frequency_offset_hz: self.frequency_offset_hz,
                peak_frequency_hz: self.peak_frequency_hz,
                signal_power_dbfs: self.signal_power_dbfs,
                noise_power_dbfs: self.noise_power_dbfs,
                noise_floor_dbfs_per_hz: self.noise_floor_dbfs_per_hz,
                total_power_dbfs: self.total_power_dbfs,
                dc_power_dbfs: self.dc_power_dbfs,
                clipped_fraction: self.clipped_fraction,
                signal_power_dbm: self.signal_power_dbm,
            },
            rssi: self.rssi,
            rssi_unit: self
                .rssi_unit
                .as_deref()
                .map(|u| parse_enum(backend, "rssi_unit", u))
                .transpose()?,
            object_keys: parse_json(backend, "object_keys", &self.object_keys)?,
            extra: parse_json(backend, "extra", &self.extra)?,
        })
    }
}

/// A session encoded for writing.
#[derive(Debug, Clone)]
pub(crate) struct NewSession {
    pub(crate) id: String,
    pub(crate) request: String,
    pub(crate) started_at: DateTime<Utc>,
    pub(crate) finished_at: DateTime<Utc>,
    pub(crate) status: String,
    pub(crate) receivers_total: i32,
    pub(crate) receivers_recorded: i32,
    pub(crate) errors: String,
    pub(crate) report: String,
    pub(crate) committed: bool,
}

impl NewSession {
    /// Binds the ten columns, in table order, to the placeholders of `query` (an upsert);
    /// `time` turns a time into the backend's timestamp value (SQL type `TS`).
    pub(crate) fn bind<'f, DB, TS, T>(
        self,
        query: BoxedQuery<'f, DB>,
        time: impl Fn(DateTime<Utc>) -> T,
    ) -> BoxedQuery<'f, DB>
    where
        DB: diesel::backend::Backend
            + diesel::sql_types::HasSqlType<Text>
            + diesel::sql_types::HasSqlType<diesel::sql_types::Integer>
            + diesel::sql_types::HasSqlType<Bool>
            + diesel::sql_types::HasSqlType<TS>,
        String: diesel::serialize::ToSql<Text, DB>,
        i32: diesel::serialize::ToSql<diesel::sql_types::Integer, DB>,
        bool: diesel::serialize::ToSql<Bool, DB>,
        T: diesel::serialize::ToSql<TS, DB> + Send + 'f,
        TS: Send + 'f,
    {
        query
            .bind::<Text, _>(self.id)
            .bind::<Text, _>(self.request)
            .bind::<TS, _>(time(self.started_at))
            .bind::<TS, _>(time(self.finished_at))
            .bind::<Text, _>(self.status)
            .bind::<diesel::sql_types::Integer, _>(self.receivers_total)
            .bind::<diesel::sql_types::Integer, _>(self.receivers_recorded)
            .bind::<Text, _>(self.errors)
            .bind::<Text, _>(self.report)
            .bind::<Bool, _>(self.committed)
    }

    pub(crate) fn encode(r: &SessionReport) -> Result<Self> {
        let errors: Vec<serde_json::Value> = r
            .receivers
            .iter()
            .filter_map(|rr| {
                rr.error.as_ref().map(|e| {
                    serde_json::json!({
                        "receiver_id": rr.receiver.id.as_str(),
                        "status": rr.status.as_str(),
                        "error": e,
                    })
                })
            })
            // Session-level failures (row batch, session record, commit) belong to no receiver.
            .chain(
                r.errors
                    .iter()
                    .map(|e| serde_json::json!({ "receiver_id": null, "error": e })),
            )
            .collect();
        let count = |n: usize| i32::try_from(n).map_err(|_| Error::invalid("receivers", format!("{n} is too many")));
        Ok(NewSession {
            id: r.session_id.to_string(),
            request: to_json("request", &r.request)?,
            started_at: r.started_at,
            finished_at: r.finished_at,
            status: r.status.as_str().to_owned(),
            receivers_total: count(r.receivers.len())?,
            receivers_recorded: count(r.recorded())?,
            errors: to_json("errors", &errors)?,
            report: to_json("report", r)?,
            committed: r.committed,
        })
    }
}

/// A session with its row count (for the garbage collector).
#[derive(Debug, QueryableByName)]
pub(crate) struct SessionRowCount {
    #[diesel(sql_type = Text)]
    pub(crate) session_id: String,
    #[diesel(sql_type = BigInt)]
    pub(crate) n: i64,
}

impl SessionRowCount {
    pub(crate) fn decode(self, backend: &'static str) -> Result<(SessionId, u64)> {
        let id = self.session_id.parse().map_err(|e: Error| Error::Database {
            backend,
            operation: "sessions with rows",
            retryable: false,
            source: Box::new(e),
        })?;
        Ok((id, u64::try_from(self.n).unwrap_or(0)))
    }
}

/// Whether a session record says committed.
#[derive(Debug, QueryableByName)]
pub(crate) struct CommittedRow {
    #[diesel(sql_type = Bool)]
    pub(crate) committed: bool,
}

/// A session as read back: the stored report.
#[derive(Debug, QueryableByName)]
pub(crate) struct SessionRow {
    #[diesel(sql_type = Text)]
    report: String,
}

impl SessionRow {
    pub(crate) fn decode(self, backend: &'static str) -> Result<SessionReport> {
        parse_json(backend, "session report", &self.report)
    }
}

/// A receiver as read back.
#[derive(Debug, QueryableByName)]
pub(crate) struct ReceiverRow {
    #[diesel(sql_type = Text)]
    id: String,
    #[diesel(sql_type = Text)]
    name: String,
    #[diesel(sql_type = Text)]
    kind: String,
    #[diesel(sql_type = Text)]
    url: String,
    #[diesel(sql_type = Nullable<Double>)]
    latitude: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    longitude: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    altitude_m: Option<f64>,
    #[diesel(sql_type = Bool)]
    active: bool,
    #[diesel(sql_type = Text)]
    options: String,
    #[diesel(sql_type = BigInt)]
    created_at_us: i64,
    #[diesel(sql_type = BigInt)]
    updated_at_us: i64,
}

impl ReceiverRow {
    pub(crate) fn decode(self, backend: &'static str) -> Result<ReceiverRecord> {
        let position = match (self.latitude, self.longitude) {
            (Some(latitude), Some(longitude)) => Some(GeoPosition {
                latitude,
                longitude,
                altitude_m: self.altitude_m,
            }),
            _ => None,
        };
        Ok(ReceiverRecord {
            info: ReceiverInfo {
                id: ReceiverId::new(self.id).map_err(|e| malformed(backend, "receiver id", e))?,
                name: self.name,
                kind: parse_enum(backend, "receiver kind", &self.kind)?,
                url: self.url,
                position,
            },
            active: self.active,
            options: parse_json(backend, "receiver options", &self.options)?,
            created_at: from_micros(backend, self.created_at_us)?,
            updated_at: from_micros(backend, self.updated_at_us)?,
        })
    }
}

/// Checks a receiver about to be written and encodes its options as JSON text.
pub(crate) fn receiver_options_json(info: &ReceiverInfo, options: &serde_json::Value) -> Result<String> {
    check_receiver(info)?;
    serde_json::to_string(options).map_err(|e| Error::invalid("options", format!("cannot encode as JSON: {e}")))
}

/// Validates a receiver before it is stored.
pub(crate) fn check_receiver(info: &ReceiverInfo) -> Result<()> {
    if let Some(p) = &info.position {
        p.validate()?;
    }
    Ok(())
}

/// Per-receiver SNR statistics row.
#[derive(Debug, QueryableByName)]
pub(crate) struct SnrRow {
    #[diesel(sql_type = Text)]
    receiver_id: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Double)]
    mean_db: f64,
    #[diesel(sql_type = Double)]
    min_db: f64,
    #[diesel(sql_type = Double)]
    max_db: f64,
    #[diesel(sql_type = Nullable<Double>)]
    p50_db: Option<f64>,
}

impl SnrRow {
    pub(crate) fn decode(self, backend: &'static str) -> Result<SnrStats> {
        Ok(SnrStats {
            receiver_id: ReceiverId::new(self.receiver_id).map_err(|e| malformed(backend, "receiver_id", e))?,
            count: u64::try_from(self.n).unwrap_or(0),
            mean_db: self.mean_db,
            min_db: self.min_db,
            max_db: self.max_db,
            p50_db: self.p50_db,
        })
    }
}

/// One time bucket of one receiver.
#[derive(Debug, QueryableByName)]
pub(crate) struct BucketRow {
    #[diesel(sql_type = BigInt)]
    bucket_us: i64,
    #[diesel(sql_type = Text)]
    receiver_id: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Nullable<Double>)]
    mean_snr_db: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    max_snr_db: Option<f64>,
    #[diesel(sql_type = Nullable<Double>)]
    mean_signal_power_dbfs: Option<f64>,
}

impl BucketRow {
    pub(crate) fn decode(self, backend: &'static str) -> Result<TimeBucket> {
        Ok(TimeBucket {
            bucket_start: from_micros(backend, self.bucket_us)?,
            receiver_id: ReceiverId::new(self.receiver_id).map_err(|e| malformed(backend, "receiver_id", e))?,
            count: u64::try_from(self.n).unwrap_or(0),
            mean_snr_db: self.mean_snr_db,
            max_snr_db: self.max_snr_db,
            mean_signal_power_dbfs: self.mean_signal_power_dbfs,
        })
    }
}

/// Bucket width in whole microseconds, validated.
pub(crate) fn bucket_width_us(width: std::time::Duration) -> Result<i64> {
    let us = i64::try_from(width.as_micros()).map_err(|_| Error::invalid("bucket width", "is too large"))?;
    if us <= 0 {
        return Err(Error::invalid(
            "bucket width",
            format!("{width:?} is shorter than 1 µs"),
        ));
    }
    Ok(us)
}

/// Tracks positional placeholders (`$n` on PostgreSQL, `?` on SQLite) while building SQL.
#[derive(Debug)]
pub(crate) struct Placeholders {
    numbered: bool,
    next: usize,
}

impl Placeholders {
    pub(crate) fn new(numbered: bool) -> Self {
        Placeholders { numbered, next: 1 }
    }

    /// The next placeholder.
    pub(crate) fn next(&mut self) -> String {
        let n = self.next;
        self.next += 1;
        if self.numbered { format!("${n}") } else { "?".to_owned() }
    }
}

/// A boxed raw-SQL query of either backend.
pub(crate) type BoxedQuery<'f, DB> = diesel::query_builder::BoxedSqlQuery<'f, DB, diesel::query_builder::SqlQuery>;

/// Appends the receiver, session and frequency filters of `q` (after a `WHERE` clause); the
/// time window is the backend's (timestamps bind differently). `session_cast` is appended to
/// the session placeholder (`::uuid` on PostgreSQL).
pub(crate) fn filter_measurements<'f, DB>(
    mut query: BoxedQuery<'f, DB>,
    p: &mut Placeholders,
    q: &heimdall_core::MeasurementQuery,
    session_cast: &str,
) -> BoxedQuery<'f, DB>
where
    DB: diesel::backend::Backend + diesel::sql_types::HasSqlType<Text> + diesel::sql_types::HasSqlType<Double>,
    String: diesel::serialize::ToSql<Text, DB>,
    f64: diesel::serialize::ToSql<Double, DB>,
{
    if let Some(r) = &q.receiver {
        query = query
            .sql(format!(" AND receiver_id = {}", p.next()))
            .bind::<Text, _>(r.as_str().to_owned());
    }
    if let Some(s) = q.session {
        query = query
            .sql(format!(" AND session_id = {}{session_cast}", p.next()))
            .bind::<Text, _>(s.to_string());
    }
    if let Some(f) = q.frequency_min_hz {
        query = query
            .sql(format!(" AND frequency_hz >= {}", p.next()))
            .bind::<Double, _>(f);
    }
    if let Some(f) = q.frequency_max_hz {
        query = query
            .sql(format!(" AND frequency_hz <= {}", p.next()))
            .bind::<Double, _>(f);
    }
    query
}

/// Appends the time-window filter (`captured_at` from `since`, inclusive, to `until`,
/// exclusive); `time` turns a bound into the backend's timestamp value (SQL type `TS`).
pub(crate) fn filter_window<'f, DB, TS, T>(
    mut query: BoxedQuery<'f, DB>,
    p: &mut Placeholders,
    window: heimdall_core::TimeWindow,
    time: impl Fn(DateTime<Utc>) -> T,
) -> BoxedQuery<'f, DB>
where
    DB: diesel::backend::Backend + diesel::sql_types::HasSqlType<TS>,
    T: diesel::serialize::ToSql<TS, DB> + Send + 'f,
    TS: Send + 'f,
{
    if let Some(t) = window.since {
        query = query
            .sql(format!(" AND captured_at >= {}", p.next()))
            .bind::<TS, _>(time(t));
    }
    if let Some(t) = window.until {
        query = query
            .sql(format!(" AND captured_at < {}", p.next()))
            .bind::<TS, _>(time(t));
    }
    query
}

/// The whole measurement query of `q`: `select` (the measurement columns), `where_all` (a
/// `WHERE` every row passes), the filters of `q` and its window, newest first. `session_cast`
/// and `time` as in [`filter_measurements`] and [`filter_window`].
pub(crate) fn measurements_query<'f, DB, TS, T>(
    select: &str,
    where_all: &str,
    p: &mut Placeholders,
    q: &heimdall_core::MeasurementQuery,
    session_cast: &str,
    time: impl Fn(DateTime<Utc>) -> T,
) -> BoxedQuery<'f, DB>
where
    DB: diesel::backend::Backend
        + diesel::sql_types::HasSqlType<Text>
        + diesel::sql_types::HasSqlType<Double>
        + diesel::sql_types::HasSqlType<TS>,
    String: diesel::serialize::ToSql<Text, DB>,
    f64: diesel::serialize::ToSql<Double, DB>,
    T: diesel::serialize::ToSql<TS, DB> + Send + 'f,
    TS: Send + 'f,
{
    let query = diesel::sql_query(select).into_boxed::<DB>().sql(where_all);
    let query = filter_measurements(query, p, q, session_cast);
    let window = heimdall_core::TimeWindow {
        since: q.since,
        until: q.until,
    };
    filter_window(query, p, window, time).sql(measurement_order(q))
}

/// The ordering and limit of a measurement query (newest first, then receiver, then session).
pub(crate) fn measurement_order(q: &heimdall_core::MeasurementQuery) -> String {
    format!(
        " ORDER BY captured_at DESC, receiver_id ASC, session_id ASC LIMIT {}",
        q.effective_limit()
    )
}

/// The columns of a `localizations` row as every backend selects them (`located_at_us` in Unix
/// microseconds, JSON as text).
pub(crate) const LOCALIZATION_COLUMNS: &str = "session_id, located_at_us, latitude, longitude, semi_major_m, \
     semi_minor_m, orientation_deg, confidence, method, stations_used, stations_rejected, result";

/// A localization as written: JSON columns encoded.
#[derive(Debug)]
pub(crate) struct NewLocalization {
    pub(crate) session_id: String,
    pub(crate) located_at: DateTime<Utc>,
    pub(crate) latitude: f64,
    pub(crate) longitude: f64,
    pub(crate) semi_major_m: f64,
    pub(crate) semi_minor_m: f64,
    pub(crate) orientation_deg: f64,
    pub(crate) confidence: f64,
    pub(crate) method: String,
    pub(crate) stations_used: String,
    pub(crate) stations_rejected: String,
    pub(crate) result: String,
}

impl NewLocalization {
    /// Validates and encodes `r` (time truncated to the microsecond).
    pub(crate) fn encode(r: &LocalizationRecord) -> Result<Self> {
        r.validate()?;
        Ok(NewLocalization {
            session_id: r.session_id.to_string(),
            located_at: DateTime::from_timestamp_micros(to_micros(r.located_at)).unwrap_or(r.located_at),
            latitude: r.latitude,
            longitude: r.longitude,
            semi_major_m: r.semi_major_m,
            semi_minor_m: r.semi_minor_m,
            orientation_deg: r.orientation_deg,
            confidence: r.confidence,
            method: r.method.clone(),
            stations_used: to_json("stations_used", &r.stations_used)?,
            stations_rejected: to_json("stations_rejected", &r.stations_rejected)?,
            result: to_json("result", &r.result)?,
        })
    }
}

impl NewLocalization {
    /// Binds every column after `session_id` and `located_at` (whose types differ by backend),
    /// in table order: latitude .. result.
    pub(crate) fn bind_values<'f, DB>(self, query: BoxedQuery<'f, DB>) -> BoxedQuery<'f, DB>
    where
        DB: diesel::backend::Backend + diesel::sql_types::HasSqlType<Text> + diesel::sql_types::HasSqlType<Double>,
        String: diesel::serialize::ToSql<Text, DB>,
        f64: diesel::serialize::ToSql<Double, DB>,
    {
        query
            .bind::<Double, _>(self.latitude)
            .bind::<Double, _>(self.longitude)
            .bind::<Double, _>(self.semi_major_m)
            .bind::<Double, _>(self.semi_minor_m)
            .bind::<Double, _>(self.orientation_deg)
            .bind::<Double, _>(self.confidence)
            .bind::<Text, _>(self.method)
            .bind::<Text, _>(self.stations_used)
            .bind::<Text, _>(self.stations_rejected)
            .bind::<Text, _>(self.result)
    }
}

/// A localization as read back.
#[derive(Debug, QueryableByName)]
pub(crate) struct LocalizationRow {
    #[diesel(sql_type = Text)]
    session_id: String,
    #[diesel(sql_type = BigInt)]
    located_at_us: i64,
    #[diesel(sql_type = Double)]
    latitude: f64,
    #[diesel(sql_type = Double)]
    longitude: f64,
    #[diesel(sql_type = Double)]
    semi_major_m: f64,
    #[diesel(sql_type = Double)]
    semi_minor_m: f64,
    #[diesel(sql_type = Double)]
    orientation_deg: f64,
    #[diesel(sql_type = Double)]
    confidence: f64,
    #[diesel(sql_type = Text)]
    method: String,
    #[diesel(sql_type = Text)]
    stations_used: String,
    #[diesel(sql_type = Text)]
    stations_rejected: String,
    #[diesel(sql_type = Text)]
    result: String,
}

impl LocalizationRow {
    pub(crate) fn decode(self, backend: &'static str) -> Result<LocalizationRecord> {
        Ok(LocalizationRecord {
            session_id: self
                .session_id
                .parse()
                .map_err(|e: Error| malformed(backend, "localization session id", e))?,
            located_at: from_micros(backend, self.located_at_us)?,
            latitude: self.latitude,
            longitude: self.longitude,
            semi_major_m: self.semi_major_m,
            semi_minor_m: self.semi_minor_m,
            orientation_deg: self.orientation_deg,
            confidence: self.confidence,
            method: self.method,
            stations_used: parse_json(backend, "localization stations_used", &self.stations_used)?,
            stations_rejected: parse_json(backend, "localization stations_rejected", &self.stations_rejected)?,
            result: parse_json(backend, "localization result", &self.result)?,
        })
    }
}
