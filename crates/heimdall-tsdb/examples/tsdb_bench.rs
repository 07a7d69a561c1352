//! Insert and query benchmark of heimdall-tsdb against psql's COPY and multi-row INSERTs.
//!
//! ```text
//! cargo run --release -p heimdall-tsdb --example tsdb_bench            # 200k rows, 1M for stats
//! cargo run --release -p heimdall-tsdb --example tsdb_bench -- 50000 200000   # smaller run
//! cargo run --release -p heimdall-tsdb --example tsdb_bench -- --json  # bulk ingest figures only
//! ```
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

#[tokio::main]
async fn main() -> heimdall_core::Result<()> {
    let mut args: Vec<String> = std::env::args().collect();
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
