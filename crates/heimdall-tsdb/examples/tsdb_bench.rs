//! Insert and query benchmark of heimdall-tsdb against psql's COPY and multi-row INSERTs.
//!
//! ```text
//! cargo run --release -p heimdall-tsdb --example tsdb_bench            # 200k rows, 1M for stats
//! cargo run --release -p heimdall-tsdb --example tsdb_bench -- 50000 200000   # smaller run
//! cargo run --release -p heimdall-tsdb --example tsdb_bench -- --json  # bulk ingest figures only
//! cargo run --release -p heimdall-tsdb --example tsdb_bench -- query --rows 10000000 --json
//! ```
//!
//! `query`: loads N rows (default 10 M: 7 receivers over 60 days, binary COPY path) into plain
//! PostgreSQL and into a TimescaleDB hypertable (hourly aggregate refreshed, chunks older than
//! 7 days compressed), times SNR statistics and hourly buckets over the last 1 h, 24 h, 7 d and
//! 30 d (median of 5 runs), checks both backends answered the same, prints a table (and one
//! JSON object with `--json`).
//!
//! PostgreSQL: `HEIMDALL_TEST_DATABASE_URL` (default `postgres://postgres@127.0.0.1:5432/postgres`);
//! TimescaleDB (hypertable): `HEIMDALL_TEST_TIMESCALE_URL` when set (`scripts/timescaledb.sh env`).
//! A fresh database `heimdall_bench_<random>` is created and dropped on each. `psql` must be on
//! PATH.
//!
//! Bulk ingest: the whole data set in one `record_measurements` call (binary COPY into a staging
//! table, then `INSERT ... SELECT ... ON CONFLICT DO NOTHING`) side by side with psql's `\copy`
//! of the same rows (CSV) into the same table, best of 3 alternating runs each. `--json` prints
//! only these figures, one JSON object on stdout (rows/s per backend for Heimdall and psql).
#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use std::fmt::Write as _;
use std::process::Command;
use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use heimdall_core::{
    Measurement, MetricQuery, MetricStore, PowerUnit, ReceiverId, SessionId, SignalMetrics, TimeSource, TimeWindow,
};
use heimdall_tsdb::Tsdb;

const BATCH: usize = 1000;

/// Distinct receivers in the data set (`HEIMDALL_BENCH_RECEIVERS`, default 100): each 1000-row
/// batch holds 1000 / receivers sessions.
fn receivers() -> usize {
    std::env::var("HEIMDALL_BENCH_RECEIVERS")
        .ok()
        .and_then(|s| s.parse().ok())
        .filter(|n| (1..=BATCH).contains(n))
        .unwrap_or(100)
}

fn dataset(n: usize, seed: u64) -> Vec<Measurement> {
    let t0 = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("time");
    let nrx = receivers();
    let receivers: Vec<ReceiverId> = (0..nrx)
        .map(|i| ReceiverId::new(format!("rx-{i:04}")).expect("id"))
        .collect();
    let mut out = Vec::with_capacity(n);
    let mut x = seed | 1;
    let mut session = SessionId::new();
    for i in 0..n {
        if i % nrx == 0 {
            session = SessionId::new();
        }
        // xorshift: cheap, deterministic values.
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let u = (x % 10_000) as f64 / 10_000.0;
        let snr = if x.is_multiple_of(50) {
            None
        } else {
            Some(u * 40.0 - 5.0)
        };
        out.push(Measurement {
            session_id: session,
            receiver_id: receivers[i % nrx].clone(),
            captured_at: t0 + chrono::Duration::milliseconds((i / nrx) as i64 * 60_000 + (i % nrx) as i64),
            time_source: TimeSource::Gps,
            frequency_hz: 7_100_000.0 + (i % 7) as f64 * 1000.0,
            center_frequency_hz: 7_100_000.0,
            sample_rate_hz: 12_000.0,
            samples: 120_000,
            duration_s: 10.0,
            metrics: SignalMetrics {
                samples: 120_000,
                sample_rate_hz: 12_000.0,
                snr_db: snr,
                frequency_offset_hz: Some(u * 10.0),
                peak_frequency_hz: Some(500.0 + u),
                signal_power_dbfs: snr.map(|s| s - 70.0),
                noise_power_dbfs: Some(-70.0),
                noise_floor_dbfs_per_hz: Some(-110.8),
                total_power_dbfs: Some(-30.0 + u),
                dc_power_dbfs: None,
                clipped_fraction: 0.0,
                signal_power_dbm: None,
            },
            rssi: Some(-80.0 + u * 10.0),
            rssi_unit: Some(PowerUnit::Dbm),
            object_keys: vec![format!("sessions/{session}/rx-{:04}.npy", i % nrx)],
            extra: serde_json::json!({"attempts": 1, "receiver_kind": "kiwisdr"}),
        });
    }
    out
}

async fn insert_all(db: &Tsdb, rows: &[Measurement]) -> heimdall_core::Result<Duration> {
    let started = Instant::now();
    for batch in rows.chunks(BATCH) {
        let out = db.record_measurements(batch).await?;
        assert_eq!(out.inserted, batch.len() as u64);
    }
    Ok(started.elapsed())
}

fn rate(n: usize, d: Duration) -> f64 {
    n as f64 / d.as_secs_f64()
}

const COLS: &str = "session_id, receiver_id, captured_at, time_source, frequency_hz, center_frequency_hz, \
    sample_rate_hz, samples, duration_s, analysed_samples, analysed_sample_rate_hz, snr_db, frequency_offset_hz, \
    peak_frequency_hz, signal_power_dbfs, noise_power_dbfs, noise_floor_dbfs_per_hz, total_power_dbfs, \
    dc_power_dbfs, clipped_fraction, signal_power_dbm, rssi, rssi_unit, object_keys, extra";

/// The row's 25 values as SQL-ish text: `None` is NULL.
fn values(m: &Measurement) -> Vec<Option<String>> {
    let f = |v: Option<f64>| v.map(|x| x.to_string());
    let x = &m.metrics;
    vec![
        Some(m.session_id.to_string()),
        Some(m.receiver_id.to_string()),
        Some(m.captured_at.format("%Y-%m-%d %H:%M:%S%.6f+00").to_string()),
        Some(m.time_source.as_str().to_owned()),
        f(Some(m.frequency_hz)),
        f(Some(m.center_frequency_hz)),
        f(Some(m.sample_rate_hz)),
        Some(m.samples.to_string()),
        f(Some(m.duration_s)),
        Some(x.samples.to_string()),
        f(Some(x.sample_rate_hz)),
        f(x.snr_db),
        f(x.frequency_offset_hz),
        f(x.peak_frequency_hz),
        f(x.signal_power_dbfs),
        f(x.noise_power_dbfs),
        f(x.noise_floor_dbfs_per_hz),
        f(x.total_power_dbfs),
        f(x.dc_power_dbfs),
        f(Some(x.clipped_fraction)),
        f(x.signal_power_dbm),
        f(m.rssi),
        m.rssi_unit.map(|u| u.as_str().to_owned()),
        Some(serde_json::to_string(&m.object_keys).expect("json")),
        Some(m.extra.to_string()),
    ]
}

fn write_csv(rows: &[Measurement], path: &std::path::Path) -> std::io::Result<()> {
    let mut s = String::with_capacity(rows.len() * 400);
    for m in rows {
        let v = values(m);
        for (i, c) in v.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            if let Some(c) = c {
                s.push('"');
                s.push_str(&c.replace('"', "\"\""));
                s.push('"');
            }
        }
        s.push('\n');
    }
    std::fs::write(path, s)
}

fn write_inserts(rows: &[Measurement], path: &std::path::Path) -> std::io::Result<()> {
    let mut s = String::with_capacity(rows.len() * 450);
    for chunk in rows.chunks(1000) {
        let _ = write!(s, "INSERT INTO measurements ({COLS}) VALUES ");
        for (j, m) in chunk.iter().enumerate() {
            if j > 0 {
                s.push(',');
            }
            s.push('(');
            for (i, c) in values(m).iter().enumerate() {
                if i > 0 {
                    s.push(',');
                }
                match c {
                    Some(c) => {
                        s.push('\'');
                        s.push_str(&c.replace('\'', "''"));
                        s.push('\'');
                    }
                    None => s.push_str("NULL"),
                }
            }
            s.push(')');
        }
        s.push_str(" ON CONFLICT DO NOTHING;\n");
    }
    std::fs::write(path, s)
}

fn psql(url: &str, args: &[&str]) -> Duration {
    let started = Instant::now();
    let out = Command::new("psql")
        .arg(url)
        .args(["-q", "-v", "ON_ERROR_STOP=1"])
        .args(args)
        .output()
        .expect("psql on PATH");
    let d = started.elapsed();
    assert!(
        out.status.success(),
        "psql failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    d
}

async fn exec(url: &str, sql: &str) {
    let mut c = AsyncPgConnection::establish(url).await.expect("connect");
    diesel::sql_query(sql).execute(&mut c).await.expect(sql);
}

/// Bulk-ingest figures of one backend.
#[derive(Debug, serde::Serialize)]
struct Ingest {
    rows: usize,
    /// Heimdall, the whole data set in one call (binary COPY + staging insert).
    heimdall_rows_per_s: f64,
    /// psql `\copy` (CSV) of the same rows.
    psql_copy_rows_per_s: f64,
    /// heimdall / psql.
    ratio: f64,
    /// Heimdall in 1000-row batches (`INSERT ... UNNEST`), for comparison.
    heimdall_1000_row_batches_rows_per_s: f64,
    /// Re-recording the whole data set: every row reported as a duplicate.
    duplicates_on_rerun: u64,
    summary: String,
}

async fn ingest(url: &str, rows: &[Measurement], csv: &std::path::Path) -> heimdall_core::Result<Ingest> {
    let n = rows.len();
    let db = Tsdb::from_url(url)?;
    db.migrate().await?;
    let summary = db.timescale_status().await?.map(|s| s.summary()).unwrap_or_default();
    let copy_cmd = format!(
        "\\copy measurements ({COLS}) FROM '{}' WITH (FORMAT csv)",
        csv.display()
    );
    let (mut best_store, mut best_psql) = (Duration::MAX, Duration::MAX);
    let mut duplicates_on_rerun = 0;
    for _ in 0..3 {
        psql(url, &["-c", "TRUNCATE measurements"]);
        best_psql = best_psql.min(psql(url, &["-c", &copy_cmd]));
        psql(url, &["-c", "TRUNCATE measurements"]);
        let started = Instant::now();
        let out = db.record_measurements(rows).await?;
        best_store = best_store.min(started.elapsed());
        assert_eq!((out.inserted, out.duplicates), (n as u64, 0));
        let again = db.record_measurements(rows).await?;
        assert_eq!(again.inserted, 0);
        duplicates_on_rerun = again.duplicates;
    }
    psql(url, &["-c", "TRUNCATE measurements"]);
    let batches = insert_all(&db, rows).await?;
    Ok(Ingest {
        rows: n,
        heimdall_rows_per_s: rate(n, best_store),
        psql_copy_rows_per_s: rate(n, best_psql),
        ratio: rate(n, best_store) / rate(n, best_psql),
        heimdall_1000_row_batches_rows_per_s: rate(n, batches),
        duplicates_on_rerun,
        summary,
    })
}

/// A fresh database on the server of `admin`, handed to `f`, dropped afterwards.
async fn with_database<T>(
    admin: &str,
    f: impl AsyncFnOnce(&str) -> heimdall_core::Result<T>,
) -> heimdall_core::Result<T> {
    let name = format!("heimdall_bench_{}", uuid::Uuid::new_v4().simple());
    exec(admin, &format!("CREATE DATABASE {name}")).await;
    let mut u = url::Url::parse(admin).expect("url");
    u.set_path(&format!("/{name}"));
    let result = f(u.as_str()).await;
    if std::env::var("HEIMDALL_BENCH_KEEP").is_ok() {
        eprintln!("kept database {name}");
    } else {
        exec(admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    }
    result
}

async fn bulk_ingest_json(n: usize) -> heimdall_core::Result<()> {
    let rows = dataset(n, 42);
    let tmp = tempfile::tempdir().expect("tempdir");
    let csv = tmp.path().join("rows.csv");
    write_csv(&rows, &csv).expect("csv");
    let mut out = serde_json::Map::new();
    let admin = std::env::var("HEIMDALL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut servers = vec![("postgres", admin)];
    if let Ok(ts) = std::env::var("HEIMDALL_TEST_TIMESCALE_URL") {
        servers.push(("timescaledb", ts));
    } else {
        eprintln!("HEIMDALL_TEST_TIMESCALE_URL is not set: no TimescaleDB figures");
    }
    for (name, admin) in servers {
        let fig = with_database(&admin, async |url| ingest(url, &rows, &csv).await).await?;
        eprintln!(
            "{name:<12} {} rows: heimdall {:.0} rows/s, psql \\copy {:.0} rows/s ({:.0} %), 1000-row batches {:.0} rows/s [{}]",
            fig.rows,
            fig.heimdall_rows_per_s,
            fig.psql_copy_rows_per_s,
            100.0 * fig.ratio,
            fig.heimdall_1000_row_batches_rows_per_s,
            fig.summary
        );
        out.insert(name.to_owned(), serde_json::to_value(&fig).expect("json"));
    }
    println!("{}", serde_json::Value::Object(out));
    Ok(())
}

/// Receivers of the query benchmark's data set.
const QUERY_RECEIVERS: usize = 7;
/// Days the query benchmark's data set spans, ending now.
const QUERY_DAYS: i64 = 60;
/// Rows per `record_measurements` call while loading (binary COPY path).
const LOAD_BATCH: usize = 250_000;

/// Rows `[from, to)` of the query data set: one session every `60 days / (n / 7)` (about 3.6 s
/// at 10 M rows) with one row per receiver, captured a few ms apart; SNR with a per-receiver
/// level, a daily cycle and noise, 2 % without an SNR; sessions in time order (UUIDv7 ids).
fn query_rows(n: usize, from: usize, to: usize, end: chrono::DateTime<Utc>) -> Vec<Measurement> {
    let sessions = n.div_ceil(QUERY_RECEIVERS) as i64;
    let span_us = QUERY_DAYS * 86_400_000_000;
    let start = end - chrono::Duration::microseconds(span_us);
    let receivers: Vec<ReceiverId> = (0..QUERY_RECEIVERS)
        .map(|i| ReceiverId::new(format!("kiwi-{i}")).expect("id"))
        .collect();
    let template = dataset(1, 1).remove(0);
    let mut out = Vec::with_capacity(to - from);
    let mut session = SessionId::new();
    for i in from..to {
        let (k, r) = ((i / QUERY_RECEIVERS) as i64, i % QUERY_RECEIVERS);
        if r == 0 || i == from {
            session = SessionId::new();
        }
        let mut x = (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03;
        x ^= x >> 31;
        x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9);
        x ^= x >> 29;
        let u = (x % 1_000_000) as f64 / 1_000_000.0;
        let at = start + chrono::Duration::microseconds(k * span_us / sessions + r as i64 * 3_000);
        let hour = at.timestamp().rem_euclid(86_400) as f64 / 3600.0;
        let snr = (!x.is_multiple_of(50))
            .then(|| 4.0 + 3.0 * r as f64 + 6.0 * (hour / 24.0 * std::f64::consts::TAU).sin() + 8.0 * (u - 0.5));
        let mut m = template.clone();
        m.session_id = session;
        m.receiver_id = receivers[r].clone();
        m.captured_at = at;
        m.metrics.snr_db = snr;
        m.metrics.signal_power_dbfs = snr.map(|s| s - 75.0);
        m.object_keys = vec![format!("sessions/{session}/kiwi-{r}.npy")];
        out.push(m);
    }
    out
}

/// Median of 5 runs of `f`, in ms, and its last answer.
async fn median5<T>(mut f: impl AsyncFnMut() -> heimdall_core::Result<T>) -> heimdall_core::Result<(f64, T)> {
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..5 {
        let started = Instant::now();
        last = Some(f().await?);
        times.push(started.elapsed().as_secs_f64() * 1000.0);
    }
    times.sort_by(f64::total_cmp);
    Ok((times[2], last.expect("5 runs")))
}

/// Query figures of one backend.
#[derive(Debug, serde::Serialize)]
struct QueryFigures {
    rows: usize,
    summary: String,
    /// Loading all rows through `record_measurements` (binary COPY, batches of 250 000), s.
    load_s: f64,
    /// TimescaleDB: `refresh_continuous_aggregate` over the whole data set, s.
    refresh_s: Option<f64>,
    /// TimescaleDB: the compression job over chunks older than 7 days, s.
    compress_s: Option<f64>,
    /// `VACUUM ANALYZE measurements`, s.
    vacuum_analyze_s: f64,
    /// Database size after loading (and compressing), bytes.
    database_bytes: i64,
    /// Per window ("1h", "24h", "7d", "30d"): median of 5 runs, ms.
    snr_stats_ms: serde_json::Map<String, serde_json::Value>,
    hourly_buckets_ms: serde_json::Map<String, serde_json::Value>,
}

const WINDOWS: [(&str, i64); 4] = [("1h", 1), ("24h", 24), ("7d", 7 * 24), ("30d", 30 * 24)];

type Answers = Vec<(Vec<heimdall_core::SnrStats>, Vec<heimdall_core::TimeBucket>)>;

async fn query_backend(
    url: &str,
    n: usize,
    end: chrono::DateTime<Utc>,
) -> heimdall_core::Result<(QueryFigures, Answers)> {
    let db = Tsdb::from_url(url)?;
    db.migrate().await?;
    let status = db.timescale_status().await?;
    let summary = status.as_ref().map(|s| s.summary()).unwrap_or_default();
    let timescale = status.as_ref().is_some_and(|s| s.hourly_aggregate);
    let started = Instant::now();
    let mut from = 0;
    while from < n {
        let to = (from + LOAD_BATCH).min(n);
        let rows = query_rows(n, from, to, end);
        let out = db.record_measurements(&rows).await?;
        assert_eq!(out.inserted, rows.len() as u64);
        from = to;
    }
    let load_s = started.elapsed().as_secs_f64();
    eprintln!("  loaded {n} rows in {load_s:.1} s ({:.0} rows/s)", n as f64 / load_s);
    let (mut refresh_s, mut compress_s) = (None, None);
    if timescale {
        let started = Instant::now();
        psql(
            url,
            &[
                "-c",
                "CALL refresh_continuous_aggregate('measurements_hourly', NULL, date_trunc('hour', now()))",
            ],
        );
        refresh_s = Some(started.elapsed().as_secs_f64());
        let started = Instant::now();
        psql(
            url,
            &[
                "-c",
                "SELECT count(compress_chunk(c, if_not_compressed => TRUE)) FROM show_chunks('measurements', \
                 older_than => INTERVAL '7 days') c",
            ],
        );
        compress_s = Some(started.elapsed().as_secs_f64());
        eprintln!(
            "  refresh {:.1} s, compression {:.1} s",
            refresh_s.unwrap_or(0.0),
            compress_s.unwrap_or(0.0)
        );
    }
    let started = Instant::now();
    psql(url, &["-c", "VACUUM ANALYZE measurements"]);
    let vacuum_analyze_s = started.elapsed().as_secs_f64();
    let size = Command::new("psql")
        .arg(url)
        .args(["-tAc", "SELECT pg_database_size(current_database())"])
        .output()
        .expect("psql");
    let database_bytes = String::from_utf8_lossy(&size.stdout).trim().parse().unwrap_or(-1);
    let mut fig = QueryFigures {
        rows: n,
        summary,
        load_s,
        refresh_s,
        compress_s,
        vacuum_analyze_s,
        database_bytes,
        snr_stats_ms: serde_json::Map::new(),
        hourly_buckets_ms: serde_json::Map::new(),
    };
    let mut answers = Vec::new();
    for (name, hours) in WINDOWS {
        let window = TimeWindow {
            since: Some(end - chrono::Duration::hours(hours)),
            until: Some(end),
        };
        let (stats_ms, stats) = median5(async || db.snr_stats(window).await).await?;
        let (buckets_ms, buckets) =
            median5(async || db.time_buckets(Duration::from_secs(3600), window, None).await).await?;
        eprintln!(
            "  {name:>4}: snr_stats {stats_ms:>9.1} ms ({} receivers, {} rows), hourly buckets {buckets_ms:>9.1} ms ({} buckets)",
            stats.len(),
            stats.iter().map(|s| s.count).sum::<u64>(),
            buckets.len()
        );
        fig.snr_stats_ms.insert(name.to_owned(), stats_ms.into());
        fig.hourly_buckets_ms.insert(name.to_owned(), buckets_ms.into());
        answers.push((stats, buckets));
    }
    Ok((fig, answers))
}

/// Equal answers, means up to rounding (plain PostgreSQL's `avg(float8)` against the
/// hypertable's exact sums).
fn same(a: &Answers, b: &Answers) -> bool {
    let close = |x: f64, y: f64| (x - y).abs() <= 1e-9 * (1.0 + y.abs());
    let close_opt = |x: Option<f64>, y: Option<f64>| match (x, y) {
        (Some(x), Some(y)) => close(x, y),
        (x, y) => x == y,
    };
    a.len() == b.len()
        && a.iter().zip(b).all(|((sa, ba), (sb, bb))| {
            sa.len() == sb.len()
                && ba.len() == bb.len()
                && sa.iter().zip(sb).all(|(x, y)| {
                    (&x.receiver_id, x.count, x.min_db, x.max_db, x.p50_db)
                        == (&y.receiver_id, y.count, y.min_db, y.max_db, y.p50_db)
                        && close(x.mean_db, y.mean_db)
                })
                && ba.iter().zip(bb).all(|(x, y)| {
                    (x.bucket_start, &x.receiver_id, x.count, x.max_snr_db)
                        == (y.bucket_start, &y.receiver_id, y.count, y.max_snr_db)
                        && close_opt(x.mean_snr_db, y.mean_snr_db)
                        && close_opt(x.mean_signal_power_dbfs, y.mean_signal_power_dbfs)
                })
        })
}

/// `query [--rows N] [--json]`: N rows (default 10 M) into plain PostgreSQL and into a
/// TimescaleDB hypertable (aggregate refreshed, chunks compressed), then SNR statistics and
/// hourly buckets over the last 1 h, 24 h, 7 d and 30 d, median of 5 runs each.
async fn query_bench(n: usize, json: bool) -> heimdall_core::Result<()> {
    // The data set ends a little before now, in the middle of an hour.
    let end = Utc::now();
    let admin = std::env::var("HEIMDALL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let mut servers = vec![("postgres", admin)];
    match std::env::var("HEIMDALL_TEST_TIMESCALE_URL") {
        Ok(ts) => servers.push(("timescaledb", ts)),
        Err(_) => eprintln!("HEIMDALL_TEST_TIMESCALE_URL is not set: no TimescaleDB figures"),
    }
    let mut figures = Vec::new();
    let mut answers = Vec::new();
    for (name, admin) in servers {
        eprintln!("{name}: loading {n} rows ({QUERY_RECEIVERS} receivers over {QUERY_DAYS} days)");
        let (fig, a) = with_database(&admin, async |url| query_backend(url, n, end).await).await?;
        eprintln!("  [{}]", fig.summary);
        figures.push((name, fig));
        answers.push(a);
    }
    let equal = answers.windows(2).all(|w| same(&w[0], &w[1]));
    println!();
    println!("{n} rows, {QUERY_RECEIVERS} receivers, {QUERY_DAYS} days; median of 5 runs, ms");
    print!("{:<26}", "");
    for (name, _) in &figures {
        print!("{name:>14}");
    }
    println!();
    let row = |label: &str, v: Vec<Option<f64>>| {
        print!("{label:<26}");
        for x in v {
            match x {
                Some(x) => print!("{x:>14.1}"),
                None => print!("{:>14}", "-"),
            }
        }
        println!();
    };
    for (w, _) in WINDOWS {
        row(
            &format!("snr_stats {w}"),
            figures.iter().map(|(_, f)| f.snr_stats_ms[w].as_f64()).collect(),
        );
    }
    for (w, _) in WINDOWS {
        row(
            &format!("hourly buckets {w}"),
            figures.iter().map(|(_, f)| f.hourly_buckets_ms[w].as_f64()).collect(),
        );
    }
    row("load (s)", figures.iter().map(|(_, f)| Some(f.load_s)).collect());
    row(
        "refresh aggregate (s)",
        figures.iter().map(|(_, f)| f.refresh_s).collect(),
    );
    row("compress (s)", figures.iter().map(|(_, f)| f.compress_s).collect());
    row(
        "vacuum analyze (s)",
        figures.iter().map(|(_, f)| Some(f.vacuum_analyze_s)).collect(),
    );
    row(
        "database size (MB)",
        figures
            .iter()
            .map(|(_, f)| Some(f.database_bytes as f64 / 1e6))
            .collect(),
    );
    println!("answers equal across backends (means up to rounding): {equal}");
    if json {
        let mut out = serde_json::Map::new();
        for (name, fig) in figures {
            out.insert(name.to_owned(), serde_json::to_value(&fig).expect("json"));
        }
        out.insert("answers_equal".to_owned(), equal.into());
        println!("{}", serde_json::Value::Object(out));
    }
    assert!(equal, "the backends answered differently");
    Ok(())
}

#[tokio::main]
async fn main() -> heimdall_core::Result<()> {
    let mut args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("query") {
        let json = args.iter().any(|a| a == "--json");
        let n = args
            .iter()
            .position(|a| a == "--rows")
            .and_then(|i| args.get(i + 1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(10_000_000);
        return query_bench(n, json).await;
    }
    if let Some(i) = args.iter().position(|a| a == "--json") {
        args.remove(i);
        let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(200_000);
        return bulk_ingest_json(n).await;
    }
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(200_000);
    let n_stats: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(1_000_000);
    let rows = dataset(n, 42);
    println!("data set: {n} rows, {} receivers, batches of {BATCH} rows", receivers());
    let tmp = tempfile::tempdir().expect("tempdir");

    // SQLite file.
    let path = tmp.path().join("bench.db");
    let sq = Tsdb::from_url(&format!("sqlite://{}", path.display()))?;
    sq.migrate().await?;
    let d = insert_all(&sq, &rows).await?;
    println!(
        "sqlite file  store insert  {n} rows in {d:>9.3?}: {:>9.0} rows/s (batches of {BATCH})",
        rate(n, d)
    );
    let started = Instant::now();
    let stats = sq.snr_stats(TimeWindow::default()).await?;
    println!(
        "sqlite file  snr_stats over {n} rows ({} receivers): {:?}",
        stats.len(),
        started.elapsed()
    );

    if args.get(3).map(String::as_str) == Some("sqlite-only") {
        return Ok(());
    }

    // PostgreSQL.
    let admin = std::env::var("HEIMDALL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let name = format!("heimdall_bench_{}", uuid::Uuid::new_v4().simple());
    exec(&admin, &format!("CREATE DATABASE {name}")).await;
    let mut u = url::Url::parse(&admin).expect("url");
    u.set_path(&format!("/{name}"));
    let url = u.to_string();
    let result = run_pg(&url, &rows, n, n_stats, tmp.path()).await;
    if std::env::var("HEIMDALL_BENCH_KEEP").is_ok() {
        println!("kept database {name}");
    } else {
        exec(&admin, &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)")).await;
    }
    result
}

async fn run_pg(
    url: &str,
    rows: &[Measurement],
    n: usize,
    n_stats: usize,
    tmp: &std::path::Path,
) -> heimdall_core::Result<()> {
    let pg = Tsdb::from_url(url)?;
    pg.migrate().await?;
    if let Some(s) = pg.timescale_status().await? {
        println!("postgres     {}", s.summary());
    }
    let store = insert_all(&pg, rows).await?;
    println!(
        "postgres     store insert  {n} rows in {store:>9.3?}: {:>9.0} rows/s (batches of {BATCH}, UNNEST)",
        rate(n, store)
    );

    // The same rows from 4 concurrent writers (commits overlap: group commit).
    psql(url, &["-c", "TRUNCATE measurements"]);
    let pg = std::sync::Arc::new(pg);
    let started = Instant::now();
    let mut tasks = Vec::new();
    for part in rows.chunks(rows.len().div_ceil(4).max(1)) {
        let pg = pg.clone();
        let part = part.to_vec();
        tasks.push(tokio::spawn(async move { insert_all(&pg, &part).await }));
    }
    for t in tasks {
        t.await.expect("task")?;
    }
    let conc = started.elapsed();
    println!(
        "postgres     store insert  {n} rows in {conc:>9.3?}: {:>9.0} rows/s (4 concurrent writers)",
        rate(n, conc)
    );

    // Without waiting for the WAL flush at each commit (durability trade-off, opt-in per URL).
    psql(url, &["-c", "TRUNCATE measurements"]);
    let nosync = Tsdb::builder().with_url(url).with_synchronous_commit(false).build()?;
    let d = insert_all(&nosync, rows).await?;
    println!(
        "postgres     store insert  {n} rows in {d:>9.3?}: {:>9.0} rows/s (with_synchronous_commit(false))",
        rate(n, d)
    );
    let pg = Tsdb::from_url(url)?;

    let csv = tmp.join("rows.csv");
    write_csv(rows, &csv).expect("csv");
    let sql = tmp.join("rows.sql");
    write_inserts(rows, &sql).expect("sql");

    psql(url, &["-c", "TRUNCATE measurements"]);
    let copy_cmd = format!(
        "\\copy measurements ({COLS}) FROM '{}' WITH (FORMAT csv)",
        csv.display()
    );
    let copy = psql(url, &["-c", &copy_cmd]);
    println!(
        "postgres     psql \\copy    {n} rows in {copy:>9.3?}: {:>9.0} rows/s",
        rate(n, copy)
    );

    psql(url, &["-c", "TRUNCATE measurements"]);
    let ins = psql(url, &["-f", &sql.display().to_string()]);
    println!(
        "postgres     psql INSERT   {n} rows in {ins:>9.3?}: {:>9.0} rows/s (1000-row statements)",
        rate(n, ins)
    );
    println!(
        "postgres     store / COPY = {:.2}, store / INSERT = {:.2}",
        rate(n, store) / rate(n, copy),
        rate(n, store) / rate(n, ins)
    );

    // SNR statistics over n_stats rows.
    psql(url, &["-c", "TRUNCATE measurements"]);
    let big = dataset(n_stats, 7);
    let d = insert_all(&pg, &big).await?;
    println!(
        "postgres     store insert  {n_stats} rows in {d:>9.3?}: {:>9.0} rows/s",
        rate(n_stats, d)
    );
    psql(url, &["-c", "VACUUM ANALYZE measurements"]);
    let mut times = Vec::new();
    let mut receivers = 0;
    for _ in 0..5 {
        let started = Instant::now();
        receivers = pg.snr_stats(TimeWindow::default()).await?.len();
        times.push(started.elapsed());
    }
    times.sort();
    println!(
        "postgres     snr_stats over {n_stats} rows ({receivers} receivers): median {:?}, min {:?}, max {:?}",
        times[2], times[0], times[4]
    );
    let mid = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).single().expect("t") + chrono::Duration::hours(8);
    let started = Instant::now();
    let b = pg
        .time_buckets(
            Duration::from_secs(3600),
            TimeWindow {
                since: Some(mid),
                until: None,
            },
            None,
        )
        .await?;
    println!(
        "postgres     hourly buckets from hour 8 on ({} rows): {:?}",
        b.len(),
        started.elapsed()
    );
    Ok(())
}
