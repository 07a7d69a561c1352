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
pub(crate) fn bucket_expr_of(col: &str, width_us: i64) -> String {
    format!("time_bucket(INTERVAL '{width_us} microseconds', {col}, TIMESTAMPTZ '1970-01-01 00:00:00+00')")
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
        // An aggregate from before the exact sums (no `sum_snr_db` column) cannot answer the
        // queries: replace it (its refresh policy goes with it and is added again below).
        let outdated = s.hourly_aggregate
            && !count(
                conn,
                "SELECT count(*) AS n FROM information_schema.columns WHERE table_schema = current_schema() \
                 AND table_name = 'measurements_hourly' AND column_name = 'sum_snr_db'",
            )
            .await
            .unwrap_or(true);
        if outdated {
            tracing::info!("replacing measurements_hourly by the definition with exact sums");
            steps.push("DROP MATERIALIZED VIEW IF EXISTS measurements_hourly".to_owned());
        }
        steps.push(
            "CREATE MATERIALIZED VIEW IF NOT EXISTS measurements_hourly WITH (timescaledb.continuous) AS \
             SELECT time_bucket(INTERVAL '1 hour', captured_at) AS bucket, receiver_id, count(*) AS n, \
             avg(snr_db) AS mean_snr_db, min(snr_db) AS min_snr_db, max(snr_db) AS max_snr_db, \
             avg(signal_power_dbfs) AS mean_signal_power_dbfs, \
             count(snr_db) AS n_snr, sum(snr_db::numeric) AS sum_snr_db, \
             count(signal_power_dbfs) AS n_signal_power, sum(signal_power_dbfs::numeric) AS sum_signal_power_dbfs \
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

/// One hour in microseconds: the width of `measurements_hourly`'s buckets.
pub(crate) const HOUR_US: i64 = 3_600_000_000;

/// Unix-microsecond ranges `[start, end)`, sorted and disjoint; `i64::MIN` and `i64::MAX` stand
/// for open ends.
pub(crate) type Ranges = Vec<(i64, i64)>;

/// More pending invalidations than this (after merging): read raw rows only.
const MAX_RANGES: usize = 64;

fn floor_hour(us: i64) -> i64 {
    match us {
        i64::MIN | i64::MAX => us,
        _ => us.div_euclid(HOUR_US).checked_mul(HOUR_US).unwrap_or(i64::MIN),
    }
}

fn ceil_hour(us: i64) -> i64 {
    match us {
        i64::MIN | i64::MAX => us,
        _ => {
            let f = floor_hour(us);
            if f == us { f } else { f.saturating_add(HOUR_US) }
        }
    }
}

/// TimescaleDB's internal time of a `timestamptz` (Unix µs, unlike PostgreSQL's 2000 epoch)
/// with its far ends (the `timestamptz` minimum, 4714 BC, the watermark of a never-refreshed
/// aggregate; ±infinity in the invalidation logs) as open ends.
fn from_internal(v: i64) -> i64 {
    // About 1200 BC and 33 700 AD.
    const PAST: i64 = -100_000_000_000_000_000;
    const FUTURE: i64 = 1_000_000_000_000_000_000;
    if v <= PAST {
        i64::MIN
    } else if v >= FUTURE {
        i64::MAX
    } else {
        v
    }
}

/// Sorts and merges overlapping or touching ranges; drops empty ones.
fn normalize(mut r: Ranges) -> Ranges {
    r.retain(|(a, b)| a < b);
    r.sort_unstable();
    let mut out: Ranges = Vec::with_capacity(r.len());
    for (a, b) in r {
        match out.last_mut() {
            Some(last) if a <= last.1 => last.1 = last.1.max(b),
            _ => out.push((a, b)),
        }
    }
    out
}

/// `a` minus `b` (both normalized).
fn subtract(a: &Ranges, b: &Ranges) -> Ranges {
    let mut out = Vec::new();
    for &(mut lo, hi) in a {
        for &(blo, bhi) in b {
            if bhi <= lo || blo >= hi {
                continue;
            }
            if blo > lo {
                out.push((lo, blo));
            }
            lo = lo.max(bhi);
            if lo >= hi {
                break;
            }
        }
        if lo < hi {
            out.push((lo, hi));
        }
    }
    out
}

/// `a` within `[lo, hi)`.
fn clip(a: &Ranges, lo: i64, hi: i64) -> Ranges {
    a.iter()
        .map(|&(x, y)| (x.max(lo), y.min(hi)))
        .filter(|(x, y)| x < y)
        .collect()
}

/// Which part of the window `[since, until)` (Unix µs, open ends as `i64::MIN` / `i64::MAX`)
/// `measurements_hourly` answers and which part raw rows answer, given the aggregate's valid
/// hours: `(aggregate, raw)`. The aggregate part is whole hours inside the window that are
/// valid; the raw part is the rest of the window (the partial hours at its ends, hours not
/// materialized yet, hours with pending invalidations).
pub(crate) fn split_window(valid: &Ranges, since: i64, until: i64) -> (Ranges, Ranges) {
    if since >= until {
        return (Vec::new(), Vec::new());
    }
    let agg = clip(valid, ceil_hour(since), floor_hour(until));
    let raw = subtract(&vec![(since, until)], &agg);
    (agg, raw)
}

/// A `timestamptz` literal of a Unix-µs instant (not an open end).
fn literal(us: i64) -> String {
    let t = chrono::DateTime::<chrono::Utc>::from_timestamp_micros(us).unwrap_or_default();
    format!("TIMESTAMPTZ '{}'", t.format("%Y-%m-%d %H:%M:%S%.6f+00"))
}

/// An SQL condition: `col` within one of `ranges` (literals, so that the planner excludes
/// chunks); `FALSE` when there are none.
pub(crate) fn ranges_sql(col: &str, ranges: &Ranges) -> String {
    if ranges.is_empty() {
        return "FALSE".to_owned();
    }
    let parts: Vec<String> = ranges
        .iter()
        .map(|&(a, b)| match (a, b) {
            (i64::MIN, i64::MAX) => "TRUE".to_owned(),
            (i64::MIN, b) => format!("{col} < {}", literal(b)),
            (a, i64::MAX) => format!("{col} >= {}", literal(a)),
            (a, b) => format!("({col} >= {} AND {col} < {})", literal(a), literal(b)),
        })
        .collect();
    format!("({})", parts.join(" OR "))
}

#[derive(QueryableByName)]
struct CaggRow {
    #[diesel(sql_type = BigInt)]
    watermark: i64,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    raw_id: i32,
    #[diesel(sql_type = diesel::sql_types::Integer)]
    mat_id: i32,
}

#[derive(QueryableByName)]
struct Invalidation {
    #[diesel(sql_type = BigInt)]
    lo: i64,
    #[diesel(sql_type = BigInt)]
    hi: i64,
}

/// The whole hours where `measurements_hourly` holds valid materialized rows, or `None` when
/// it cannot be used (no such aggregate, catalog not readable, too fragmented).
///
/// Valid = below the aggregate's watermark (`_timescaledb_functions.cagg_watermark`, the end
/// of what refreshes have materialized), minus every range still listed in TimescaleDB's
/// invalidation logs: rows written, changed or deleted below the invalidation threshold since
/// the last refresh (late writes, imports, retries into compressed chunks), and ranges never
/// refreshed. Each logged range is widened to whole hours. Reads TimescaleDB's catalog
/// (`_timescaledb_catalog.continuous_agg`, `continuous_aggs_hypertable_invalidation_log`,
/// `continuous_aggs_materialization_invalidation_log`), stable since 2.x; when it cannot be
/// read, the queries fall back to raw rows (same answers, slower). Run it in the query's
/// snapshot (REPEATABLE READ) so that the logs and the materialized rows agree.
pub(crate) async fn hourly_coverage(conn: &mut AsyncPgConnection) -> diesel::QueryResult<Option<Ranges>> {
    let Some(c) = diesel::sql_query(
        "SELECT _timescaledb_functions.cagg_watermark(mat_hypertable_id)::int8 AS watermark, \
         raw_hypertable_id AS raw_id, mat_hypertable_id AS mat_id FROM _timescaledb_catalog.continuous_agg \
         WHERE user_view_schema = current_schema() AND user_view_name = 'measurements_hourly'",
    )
    .get_result::<CaggRow>(conn)
    .await
    .optional()?
    else {
        return Ok(None);
    };
    let logged = diesel::sql_query(
        "SELECT lowest_modified_value AS lo, greatest_modified_value AS hi \
         FROM _timescaledb_catalog.continuous_aggs_hypertable_invalidation_log WHERE hypertable_id = $1 \
         UNION ALL SELECT lowest_modified_value, greatest_modified_value \
         FROM _timescaledb_catalog.continuous_aggs_materialization_invalidation_log WHERE materialization_id = $2",
    )
    .bind::<diesel::sql_types::Integer, _>(c.raw_id)
    .bind::<diesel::sql_types::Integer, _>(c.mat_id)
    .load::<Invalidation>(conn)
    .await?;
    let watermark = floor_hour(from_internal(c.watermark));
    let invalid = normalize(
        logged
            .iter()
            // Inclusive bounds, widened to the hours they touch.
            .map(|i| {
                (
                    floor_hour(from_internal(i.lo)),
                    ceil_hour(from_internal(i.hi).saturating_add(1)),
                )
            })
            .collect(),
    );
    let valid = subtract(&vec![(i64::MIN, watermark)], &invalid);
    if valid.len() > MAX_RANGES {
        return Ok(None);
    }
    Ok(Some(valid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_gate() {
        for v in ["2.13.0", "2.13.0-dev", "2.28.3", "2.30.0-dev", "3.0.0", "10.1"] {
            assert!(supported(v), "{v}");
        }
        for v in ["2.12.2", "2.0.0", "1.7.5", "2", "", "x.y", "2.1x"] {
            assert!(!supported(v), "{v}");
        }
    }

    const H: i64 = HOUR_US;

    #[test]
    fn window_split_into_aggregate_hours_and_raw_rest() {
        let valid = vec![(i64::MIN, 10 * H)];
        // Partial hours at both ends are raw.
        let (agg, raw) = split_window(&valid, 2 * H + 5, 7 * H + 9);
        assert_eq!(agg, vec![(3 * H, 7 * H)]);
        assert_eq!(raw, vec![(2 * H + 5, 3 * H), (7 * H, 7 * H + 9)]);
        // Beyond the watermark is raw; open ends stay open.
        let (agg, raw) = split_window(&valid, i64::MIN, i64::MAX);
        assert_eq!(agg, vec![(i64::MIN, 10 * H)]);
        assert_eq!(raw, vec![(10 * H, i64::MAX)]);
        // A window inside one hour is all raw.
        let (agg, raw) = split_window(&valid, 4 * H + 1, 4 * H + 2);
        assert!(agg.is_empty());
        assert_eq!(raw, vec![(4 * H + 1, 4 * H + 2)]);
        // Invalidated hours in the middle are raw.
        let valid = subtract(
            &vec![(i64::MIN, 10 * H)],
            &normalize(vec![(4 * H, 6 * H), (5 * H, 5 * H + 1)]),
        );
        assert_eq!(valid, vec![(i64::MIN, 4 * H), (6 * H, 10 * H)]);
        let (agg, raw) = split_window(&valid, 0, 20 * H);
        assert_eq!(agg, vec![(0, 4 * H), (6 * H, 10 * H)]);
        assert_eq!(raw, vec![(4 * H, 6 * H), (10 * H, 20 * H)]);
        assert_eq!(split_window(&valid, 5, 5), (vec![], vec![]));
    }

    #[test]
    fn hours_round_and_internal_time_converts() {
        assert_eq!((floor_hour(-1), ceil_hour(-1)), (-H, 0));
        assert_eq!((floor_hour(H), ceil_hour(H)), (H, H));
        assert_eq!(ceil_hour(i64::MAX), i64::MAX);
        assert_eq!(floor_hour(i64::MIN + 1), i64::MIN);
        assert_eq!(ceil_hour(i64::MAX - 1), i64::MAX);
        assert_eq!(from_internal(1_795_996_800_000_000), 1_795_996_800_000_000);
        assert_eq!(from_internal(i64::MIN), i64::MIN);
        assert_eq!(from_internal(-210_866_803_200_000_000), i64::MIN);
        assert_eq!(from_internal(i64::MAX), i64::MAX);
        assert_eq!(
            ranges_sql("t", &vec![(i64::MIN, 0), (H, i64::MAX)]),
            "(t < TIMESTAMPTZ '1970-01-01 00:00:00.000000+00' OR t >= TIMESTAMPTZ '1970-01-01 01:00:00.000000+00')"
        );
        assert_eq!(ranges_sql("t", &vec![]), "FALSE");
    }
}
