//! TimescaleDB setup, run by [`crate::Tsdb::migrate`] after the plain migrations when the server
//! offers the extension (TimescaleDB 2.13 or newer, tested on 2.28 by `scripts/timescaledb.sh`).
//! It only adds to the plain schema:
//!
//! 1. `CREATE EXTENSION IF NOT EXISTS timescaledb`, only when the server preloads the library
//!    (otherwise the server answers FATAL "must be preloaded" and drops the connection);
//! 2. turn `measurements` into a hypertable on `captured_at` (`by_range`, chunk interval from
//!    [`TimescaleOptions`], default 1 day). A hypertable's unique keys must contain the
//!    partitioning column, so the idempotency key becomes `(session_id, receiver_id, captured_at)`
//!    and the primary key `(id, captured_at)`. A retried batch carries the same capture times,
//!    so retries stay idempotent; only a *different* capture time for the same
//!    (session, receiver) would be stored twice on TimescaleDB;
//! 3. with the Community (TSL) license only: columnstore compression policy, optional
//!    retention policy and the hourly per-receiver continuous aggregate `measurements_hourly`.
//!    The Apache-2 build rejects these ("functionality not supported under the current
//!    \"apache\" license"), so they are skipped with a warning.
//!
//! Without TimescaleDB the plain schema stays as is: BRIN on `captured_at`, B-trees on
//! `(receiver_id, captured_at DESC)` and `(frequency_hz, captured_at DESC)`, `date_bin` buckets.

use std::time::Duration;

use diesel::OptionalExtension;
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use serde::{Deserialize, Serialize};

use crate::config::TimescaleOptions;

/// What the server offers and what [`crate::Tsdb::migrate`] set up, for a CLI or health page.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[non_exhaustive]
pub struct TimescaleStatus {
    /// Version the server could install (`pg_available_extensions`), if any.
    pub available_version: Option<String>,
    /// Version installed in this database (`pg_extension`), if any.
    pub installed_version: Option<String>,
    /// The server loads TimescaleDB at start (`shared_preload_libraries`), which the extension
    /// requires before it can be created or used.
    pub preloaded: bool,
    /// `timescaledb.license`: `"timescale"` (Community, all features) or `"apache"`.
    pub license: Option<String>,
    /// `measurements` is a hypertable.
    pub hypertable: bool,
    /// A compression (columnstore) policy is configured.
    pub compression_policy: bool,
    /// A retention policy is configured.
    pub retention_policy: bool,
    /// The `measurements_hourly` continuous aggregate exists.
    pub hourly_aggregate: bool,
    /// Human-readable notes (why a feature is off).
    pub notes: Vec<String>,
}

impl TimescaleStatus {
    /// One line for logs and CLIs.
    pub fn summary(&self) -> String {
        if !self.hypertable {
            let why = if self.available_version.is_none() {
                "extension not available on this server"
            } else if !self.preloaded {
                "extension available but not in shared_preload_libraries"
            } else if self.installed_version.is_none() {
                "extension available but not installed"
            } else {
                "measurements is not a hypertable"
            };
            return format!("plain PostgreSQL (BRIN + B-tree indexes, date_bin buckets): TimescaleDB {why}");
        }
        format!(
            "TimescaleDB {} ({} license): hypertable yes, compression {}, retention {}, hourly aggregate {}",
            self.installed_version.as_deref().unwrap_or("?"),
            self.license.as_deref().unwrap_or("unknown"),
            yes_no(self.compression_policy),
            yes_no(self.retention_policy),
            yes_no(self.hourly_aggregate)
        )
    }

    pub(crate) fn log(&self) {
        for n in &self.notes {
            tracing::warn!("{n}");
        }
        tracing::info!("{}", self.summary());
    }

    /// Whether the Apache-licensed build is running (no policies, no continuous aggregates).
    pub fn is_apache_only(&self) -> bool {
        self.license.as_deref() == Some("apache")
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

#[derive(QueryableByName)]
struct Value {
    #[diesel(sql_type = Nullable<Text>)]
    v: Option<String>,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

async fn text(conn: &mut AsyncPgConnection, sql: &str) -> diesel::QueryResult<Option<String>> {
    Ok(diesel::sql_query(sql)
        .get_result::<Value>(conn)
        .await
        .optional()?
        .and_then(|r| r.v))
}

async fn count(conn: &mut AsyncPgConnection, sql: &str) -> diesel::QueryResult<bool> {
    Ok(diesel::sql_query(sql).get_result::<Count>(conn).await?.n > 0)
}

/// Reads the current state without changing anything.
pub(crate) async fn detect(conn: &mut AsyncPgConnection) -> diesel::QueryResult<TimescaleStatus> {
    let mut s = TimescaleStatus {
        available_version: text(
            conn,
            "SELECT default_version AS v FROM pg_available_extensions WHERE name = 'timescaledb'",
        )
        .await?,
        installed_version: text(
            conn,
            "SELECT extversion AS v FROM pg_extension WHERE extname = 'timescaledb'",
        )
        .await?,
        ..TimescaleStatus::default()
    };
    if s.available_version.is_none() && s.installed_version.is_none() {
        return Ok(s);
    }
    s.preloaded = preloaded(conn).await?;
    // Without the preloaded library, touching the extension's objects is FATAL.
    if s.installed_version.is_none() || !s.preloaded {
        return Ok(s);
    }
    s.license = text(conn, "SELECT current_setting('timescaledb.license', true) AS v").await?;
    s.hypertable = count(
        conn,
        "SELECT count(*) AS n FROM timescaledb_information.hypertables WHERE hypertable_name = 'measurements'",
    )
    .await?;
    s.compression_policy = count(
        conn,
        "SELECT count(*) AS n FROM timescaledb_information.jobs WHERE hypertable_name = 'measurements' \
         AND proc_name IN ('policy_compression', 'policy_columnstore')",
    )
    .await?;
    s.retention_policy = count(
        conn,
        "SELECT count(*) AS n FROM timescaledb_information.jobs WHERE hypertable_name = 'measurements' \
         AND proc_name = 'policy_retention'",
    )
    .await?;
    s.hourly_aggregate = count(
        conn,
        "SELECT count(*) AS n FROM timescaledb_information.continuous_aggregates \
         WHERE view_name = 'measurements_hourly'",
    )
    .await?;
    if s.is_apache_only() {
        s.notes.push(
            "TimescaleDB runs under the Apache license: compression, retention policies and continuous \
             aggregates are unavailable (Community license needed); using the hypertable only"
                .to_owned(),
        );
    }
    Ok(s)
}

/// `INTERVAL 'N seconds'` literal from a duration (whole seconds, at least 1).
fn interval(d: Duration) -> String {
    format!("INTERVAL '{} seconds'", d.as_secs().max(1))
}

/// The bucket expression on a hypertable: epoch-aligned `time_bucket` (its default origin is
/// 2000-01-03, which would shift buckets wider than a day).
pub(crate) fn bucket_expr(width_us: i64) -> String {
    format!("time_bucket(INTERVAL '{width_us} microseconds', captured_at, TIMESTAMPTZ '1970-01-01 00:00:00+00')")
}

/// Whether the server preloads the TimescaleDB library. `shared_preload_libraries` is visible
/// to superusers and `pg_read_all_settings` members only; for other roles the loader's own
/// setting `timescaledb.max_background_workers`, defined only when the library is loaded,
/// answers.
async fn preloaded(conn: &mut AsyncPgConnection) -> diesel::QueryResult<bool> {
    let libs = text(
        conn,
        "SELECT setting AS v FROM pg_settings WHERE name = 'shared_preload_libraries'",
    )
    .await?;
    Ok(match libs {
        Some(l) => l.split(',').any(|x| x.trim().trim_matches('"') == "timescaledb"),
        None => text(
            conn,
            "SELECT current_setting('timescaledb.max_background_workers', true) AS v",
        )
        .await?
        .is_some(),
    })
}

/// The oldest TimescaleDB this module drives: `by_range` (the generalized `create_hypertable`
/// API) arrived in 2.13.0.
pub(crate) const MIN_VERSION: (u32, u32) = (2, 13);

/// Whether a TimescaleDB version string (`2.28.3`, `2.13.0-dev`) is at least [`MIN_VERSION`].
pub(crate) fn supported(version: &str) -> bool {
    let mut parts = version.split(['.', '-']).map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) >= MIN_VERSION,
        _ => false,
    }
}

/// Sets TimescaleDB up when the server offers it and `opts.enabled`; returns the final state.
///
/// Every way TimescaleDB can be unusable (not preloaded, too old, no permission to create the
/// extension, a failed step) ends on plain PostgreSQL with one note in the returned status that
/// says what to change. `Err(note)` means the connection may be unusable (a step failed and the
/// state could not be read back): the caller reads the state again on a fresh connection and
/// reports that note.
pub(crate) async fn setup(conn: &mut AsyncPgConnection, opts: &TimescaleOptions) -> Result<TimescaleStatus, String> {
    let mut s = detect(conn)
        .await
        .map_err(|e| format!("reading the TimescaleDB state failed ({e}); using plain PostgreSQL"))?;
    let Some(available) = s.available_version.clone() else {
        return Ok(s);
    };
    if !opts.enabled {
        return Ok(s);
    }
    if !s.preloaded {
        s.notes.push(format!(
            "TimescaleDB {available} is installed on this server but not preloaded: add \
             shared_preload_libraries = 'timescaledb' to postgresql.conf and restart PostgreSQL; \
             using plain PostgreSQL until then"
        ));
        return Ok(s);
    }
    let version = s.installed_version.clone().unwrap_or(available);
    if !supported(&version) {
        s.notes.push(format!(
            "TimescaleDB {version} is older than {}.{}, the oldest version this store drives: install a newer \
             TimescaleDB and run ALTER EXTENSION timescaledb UPDATE; using plain PostgreSQL until then",
            MIN_VERSION.0, MIN_VERSION.1
        ));
        return Ok(s);
    }
    if s.installed_version.is_none() {
        if let Err(e) = diesel::sql_query("CREATE EXTENSION IF NOT EXISTS timescaledb")
            .execute(conn)
            .await
        {
            return Err(format!(
                "CREATE EXTENSION timescaledb failed ({e}): let a superuser run CREATE EXTENSION timescaledb \
                 in this database (or GRANT CREATE ON DATABASE to this role); using plain PostgreSQL until then"
            ));
        }
        s = detect(conn)
            .await
            .map_err(|e| format!("reading the TimescaleDB state failed ({e}); using plain PostgreSQL"))?;
    }
    if !s.hypertable {
        let chunk = interval(opts.chunk_interval);
        let converted = conn
            .transaction::<(), diesel::result::Error, _>(async |c| {
                for sql in [
                    "ALTER TABLE measurements DROP CONSTRAINT IF EXISTS measurements_session_receiver_key, \
                 DROP CONSTRAINT IF EXISTS measurements_pkey",
                    "ALTER TABLE measurements ADD CONSTRAINT measurements_pkey PRIMARY KEY (id, captured_at), \
                 ADD CONSTRAINT measurements_session_receiver_key UNIQUE (session_id, receiver_id, captured_at)",
                    "DROP INDEX IF EXISTS measurements_captured_at_brin",
                ] {
                    diesel::sql_query(sql).execute(c).await?;
                }
                diesel::sql_query(format!(
                    "SELECT create_hypertable('measurements', by_range('captured_at', {chunk}), \
                 if_not_exists => TRUE, migrate_data => TRUE)"
                ))
                .execute(c)
                .await?;
                Ok(())
            })
            .await;
        if let Err(e) = converted {
            return Err(format!(
                "turning measurements into a hypertable failed ({e}); using plain PostgreSQL"
            ));
        }
        s.hypertable = true;
    }
    if s.is_apache_only() {
        return Ok(s);
    }
    // Policies and continuous aggregates: each statement on its own (CREATE MATERIALIZED VIEW
    // ... WITH (timescaledb.continuous) refuses to run inside a transaction block).
    let mut steps: Vec<String> = Vec::new();
    if let Some(after) = opts.compress_after {
        steps.push(
            "ALTER TABLE measurements SET (timescaledb.compress, timescaledb.compress_segmentby = 'receiver_id', \
             timescaledb.compress_orderby = 'captured_at DESC')"
                .to_owned(),
        );
        steps.push(format!(
            "SELECT add_compression_policy('measurements', compress_after => {}, if_not_exists => TRUE)",
            interval(after)
        ));
    }
    match opts.retain_for {
        Some(keep) => steps.push(format!(
            "SELECT add_retention_policy('measurements', drop_after => {}, if_not_exists => TRUE)",
            interval(keep)
        )),
        None => steps.push("SELECT remove_retention_policy('measurements', if_exists => TRUE)".to_owned()),
    }
    if opts.hourly_aggregate {
        steps.push(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS measurements_hourly WITH (timescaledb.continuous) AS \
             SELECT time_bucket(INTERVAL '1 hour', captured_at) AS bucket, receiver_id, count(*) AS n, \
             avg(snr_db) AS mean_snr_db, min(snr_db) AS min_snr_db, max(snr_db) AS max_snr_db, \
             avg(signal_power_dbfs) AS mean_signal_power_dbfs \
             FROM measurements GROUP BY bucket, receiver_id WITH NO DATA"
                .to_owned(),
        );
        steps.push(
            "SELECT add_continuous_aggregate_policy('measurements_hourly', start_offset => INTERVAL '3 days', \
             end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour', if_not_exists => TRUE)"
                .to_owned(),
        );
    }
    let mut notes = Vec::new();
    for sql in steps {
        if let Err(e) = diesel::sql_query(&sql).execute(conn).await {
            notes.push(format!("TimescaleDB step failed ({e}): {sql}"));
        }
    }
    match detect(conn).await {
        Ok(mut s) => {
            s.notes.extend(notes);
            Ok(s)
        }
        Err(e) => {
            notes.push(format!("reading the TimescaleDB state failed ({e})"));
            Err(notes.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::supported;

    #[test]
    fn version_gate() {
        for v in ["2.13.0", "2.13.0-dev", "2.28.3", "2.30.0-dev", "3.0.0", "10.1"] {
            assert!(supported(v), "{v}");
        }
        for v in ["2.12.2", "2.0.0", "1.7.5", "2", "", "x.y", "2.1x"] {
            assert!(!supported(v), "{v}");
        }
    }
}
