//! The TimescaleDB path on real servers started by `scripts/timescaledb.sh` (Community and Apache
//! license, and one with TimescaleDB installed but not preloaded), each feature checked against
//! plain PostgreSQL holding the same rows; and every way TimescaleDB can be unusable ends on plain
//! PostgreSQL with one warning.
#![cfg(all(feature = "postgres", feature = "sqlite"))]
#![allow(clippy::print_stderr)]

mod common;

use std::time::Duration;

use chrono::{DateTime, DurationRound, Utc};
use common::{PgDatabase, exec, measurement, pg_admin_url, scalar, scalar_i64, timescale_admin_url};
use diesel::QueryableByName;
use diesel::sql_types::{BigInt, Nullable, Text};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use heimdall_core::{Measurement, MeasurementQuery, MetricQuery, MetricStore, SessionId, TimeWindow};
use heimdall_tsdb::{TimescaleOptions, Tsdb};

const TS: &str = "HEIMDALL_TEST_TIMESCALE_URL";
const APACHE: &str = "HEIMDALL_TEST_TIMESCALE_APACHE_URL";
const NOPRELOAD: &str = "HEIMDALL_TEST_TIMESCALE_NOPRELOAD_URL";
const RECEIVERS: [&str; 4] = ["kiwi-a", "Kiwi_B", "owrx-1", "rtl_9"];
const DAYS: i64 = 40;

/// Two sessions an hour over the last 40 days, 4 receivers each, some rows without an SNR.
fn dataset(now: DateTime<Utc>) -> Vec<Measurement> {
    let base = now.duration_trunc(chrono::Duration::hours(1)).expect("trunc") - chrono::Duration::days(DAYS);
    let mut rows = Vec::new();
    for h in 0..DAYS * 24 {
        for half in 0..2 {
            let s = SessionId::new();
            for (j, r) in RECEIVERS.iter().enumerate() {
                let k = h * 8 + half * 4 + j as i64;
                let snr = (k % 13 != 5).then(|| ((k * 37) % 41) as f64 * 0.5 - 4.0);
                let mut m = measurement(s, r, k, snr);
                m.captured_at = base + chrono::Duration::seconds(h * 3600 + half * 1800 + j as i64 * 7);
                rows.push(m);
            }
        }
    }
    rows
}

async fn store(url: &str, opts: TimescaleOptions) -> Tsdb {
    let db = Tsdb::builder()
        .with_url(url)
        .with_timescale(opts)
        .build()
        .expect("build");
    db.migrate().await.expect("migrate");
    db
}

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() <= 1e-9 * (1.0 + b.abs())
}

fn close_opt(a: Option<f64>, b: Option<f64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => close(a, b),
        (None, None) => true,
        _ => false,
    }
}

/// The query answers of `a` (TimescaleDB) equal those of `b` (plain PostgreSQL).
async fn same_answers(a: &Tsdb, b: &Tsdb, what: &str) {
    let (x, y) = (
        a.snr_stats(TimeWindow::default()).await.expect("stats"),
        b.snr_stats(TimeWindow::default()).await.expect("stats"),
    );
    assert_eq!(x.len(), y.len(), "{what}: snr_stats receivers");
    for (x, y) in x.iter().zip(&y) {
        assert_eq!((&x.receiver_id, x.count), (&y.receiver_id, y.count), "{what}");
        assert!(
            close(x.mean_db, y.mean_db) && x.min_db == y.min_db && x.max_db == y.max_db,
            "{what}: {x:?} != {y:?}"
        );
        assert!(close_opt(x.p50_db, y.p50_db), "{what}: {x:?} != {y:?}");
    }
    let now = Utc::now();
    let windows = [
        TimeWindow::default(),
        TimeWindow {
            since: Some(now - chrono::Duration::days(9)),
            until: Some(now - chrono::Duration::hours(30)),
        },
    ];
    for width in [900, 3600, 86_400, 7 * 86_400] {
        for window in windows {
            let (x, y) = (
                a.time_buckets(Duration::from_secs(width), window, None)
                    .await
                    .expect("buckets"),
                b.time_buckets(Duration::from_secs(width), window, None)
                    .await
                    .expect("buckets"),
            );
            assert!(!y.is_empty(), "{what}: no buckets");
            assert_eq!(x.len(), y.len(), "{what}: buckets of {width} s");
            for (x, y) in x.iter().zip(&y) {
                assert_eq!(
                    (x.bucket_start, &x.receiver_id, x.count),
                    (y.bucket_start, &y.receiver_id, y.count),
                    "{what}: time_bucket vs date_bin, {width} s"
                );
                assert!(
                    close_opt(x.mean_snr_db, y.mean_snr_db)
                        && x.max_snr_db == y.max_snr_db
                        && close_opt(x.mean_signal_power_dbfs, y.mean_signal_power_dbfs),
                    "{what}: {x:?} != {y:?}"
                );
            }
        }
    }
    let q = MeasurementQuery {
        receiver: Some(common::rid("Kiwi_B")),
        limit: Some(5000),
        ..Default::default()
    };
    let (x, y) = (
        a.measurements(&q).await.expect("rows"),
        b.measurements(&q).await.expect("rows"),
    );
    assert_eq!(x.len(), y.len(), "{what}: measurements");
    assert!(x == y, "{what}: measurements differ");
}

#[derive(QueryableByName, Debug)]
struct HourlyRow {
    #[diesel(sql_type = BigInt)]
    bucket_us: i64,
    #[diesel(sql_type = Text)]
    receiver_id: String,
    #[diesel(sql_type = BigInt)]
    n: i64,
    #[diesel(sql_type = Nullable<diesel::sql_types::Double>)]
    mean_snr_db: Option<f64>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Double>)]
    max_snr_db: Option<f64>,
    #[diesel(sql_type = Nullable<diesel::sql_types::Double>)]
    mean_signal_power_dbfs: Option<f64>,
}

async fn job(url: &str, procs: &str) -> i64 {
    scalar_i64(
        url,
        &format!(
            "SELECT job_id::text AS v FROM timescaledb_information.jobs \
             WHERE hypertable_name = 'measurements' AND proc_name IN ({procs})"
        ),
    )
    .await
}

/// A fresh database on the server of `var` and one on the plain PostgreSQL, or `None` (skipped).
async fn databases(test: &str, var: &str) -> Option<(PgDatabase, PgDatabase)> {
    let ts = timescale_admin_url(test, var).await?;
    let plain = pg_admin_url(test).await?;
    Some((PgDatabase::create(&ts).await, PgDatabase::create(&plain).await))
}

#[tokio::test(flavor = "multi_thread")]
async fn community_features_answer_like_plain_postgres() {
    let Some((tsdb, plaindb)) = databases("community_features", TS).await else {
        return;
    };
    let url = tsdb.url.clone();
    let mut opts = TimescaleOptions::default();
    opts.chunk_interval = Duration::from_secs(86_400);
    let ts = store(&url, opts.clone()).await;
    let plain = store(&plaindb.url, TimescaleOptions::default().with_enabled(false)).await;

    let s = ts.timescale_status().await.expect("status").expect("postgres");
    assert!(
        s.preloaded && s.hypertable && s.compression_policy && s.hourly_aggregate,
        "{s:?}"
    );
    assert!(!s.retention_policy && s.notes.is_empty(), "{s:?}");
    assert_eq!(s.license.as_deref(), Some("timescale"));
    let p = plain.timescale_status().await.expect("status").expect("postgres");
    assert!(!p.hypertable, "{p:?}");

    // Hypertable with 1-day chunks: one chunk per day touched.
    let now = Utc::now();
    let rows = dataset(now);
    for db in [&ts, &plain] {
        let out = db.record_measurements(&rows).await.expect("insert");
        assert_eq!((out.inserted, out.duplicates), (rows.len() as u64, 0));
    }
    assert_eq!(
        scalar(
            &url,
            "SELECT time_interval::text AS v FROM timescaledb_information.dimensions \
             WHERE hypertable_name = 'measurements'"
        )
        .await
        .as_deref(),
        Some("1 day")
    );
    let days = scalar_i64(
        &url,
        "SELECT count(DISTINCT date_bin('1 day', captured_at, TIMESTAMPTZ 'epoch'))::text AS v FROM measurements",
    )
    .await;
    let chunks = "SELECT count(*)::text AS v FROM show_chunks('measurements')";
    assert_eq!(scalar_i64(&url, chunks).await, days);
    same_answers(&ts, &plain, "hypertable").await;

    // Compression policy, run now: every chunk older than 7 days is compressed.
    let compression = job(&url, "'policy_compression', 'policy_columnstore'").await;
    exec(&url, &format!("CALL run_job({compression})")).await;
    let compressed = scalar_i64(
        &url,
        "SELECT count(*)::text AS v FROM timescaledb_information.chunks \
         WHERE hypertable_name = 'measurements' AND is_compressed",
    )
    .await;
    assert!(compressed >= DAYS - 8, "{compressed} compressed chunks");
    let left = scalar_i64(
        &url,
        "SELECT count(*)::text AS v FROM timescaledb_information.chunks WHERE hypertable_name = 'measurements' \
         AND range_end < now() - INTERVAL '7 days' AND NOT is_compressed",
    )
    .await;
    assert_eq!(left, 0, "old chunks left uncompressed");
    same_answers(&ts, &plain, "compressed chunks").await;

    // Writes into compressed chunks stay idempotent.
    let again = ts.record_measurements(&rows).await.expect("re-insert");
    assert_eq!((again.inserted, again.duplicates), (0, rows.len() as u64));
    let s = SessionId::new();
    let late: Vec<Measurement> = RECEIVERS
        .iter()
        .enumerate()
        .map(|(j, r)| {
            let mut m = measurement(s, r, j as i64, Some(12.5 + j as f64));
            m.captured_at = rows[j].captured_at + chrono::Duration::days(3) + chrono::Duration::seconds(900);
            m
        })
        .collect();
    for db in [&ts, &plain] {
        let out = db.record_measurements(&late).await.expect("late insert");
        assert_eq!((out.inserted, out.duplicates), (4, 0));
        let out = db.record_measurements(&late).await.expect("late insert again");
        assert_eq!((out.inserted, out.duplicates), (0, 4));
    }
    same_answers(&ts, &plain, "after writes into compressed chunks").await;

    // The hourly continuous aggregate, refreshed, answers like raw rows (date_bin on plain).
    exec(
        &url,
        "CALL refresh_continuous_aggregate('measurements_hourly', NULL, NULL)",
    )
    .await;
    let mut c = AsyncPgConnection::establish(&url).await.expect("connect");
    let hourly = diesel::sql_query(
        "SELECT (EXTRACT(EPOCH FROM bucket) * 1000000)::int8 AS bucket_us, receiver_id, n, mean_snr_db, \
         max_snr_db, mean_signal_power_dbfs FROM measurements_hourly ORDER BY bucket, receiver_id",
    )
    .load::<HourlyRow>(&mut c)
    .await
    .expect("read aggregate");
    let raw = plain
        .time_buckets(Duration::from_secs(3600), TimeWindow::default(), None)
        .await
        .expect("buckets");
    assert_eq!(hourly.len(), raw.len());
    for (h, r) in hourly.iter().zip(&raw) {
        assert_eq!(
            (h.bucket_us, h.receiver_id.as_str(), h.n as u64),
            (r.bucket_start.timestamp_micros(), r.receiver_id.as_str(), r.count)
        );
        assert!(
            close_opt(h.mean_snr_db, r.mean_snr_db)
                && h.max_snr_db == r.max_snr_db
                && close_opt(h.mean_signal_power_dbfs, r.mean_signal_power_dbfs),
            "{h:?} != {r:?}"
        );
    }

    // Migrations re-run on the existing hypertable keep it and its rows.
    let total = scalar_i64(&url, "SELECT count(*)::text AS v FROM measurements").await;
    let ts = store(&url, opts.clone()).await;
    let s = ts.timescale_status().await.expect("status").expect("postgres");
    assert!(
        s.hypertable && s.compression_policy && s.hourly_aggregate && s.notes.is_empty(),
        "{s:?}"
    );
    assert_eq!(
        scalar_i64(&url, "SELECT count(*)::text AS v FROM measurements").await,
        total
    );
    same_answers(&ts, &plain, "migrated again").await;

    // Again with a 20-day retention policy (its job may start at once: run it to be sure).
    let recent = "SELECT count(*)::text AS v FROM measurements WHERE captured_at >= now() - INTERVAL '19 days'";
    let kept = scalar_i64(&url, recent).await;
    let ts = store(&url, opts.with_retention(Some(Duration::from_secs(20 * 86_400)))).await;
    let s = ts.timescale_status().await.expect("status").expect("postgres");
    assert!(
        s.hypertable && s.compression_policy && s.retention_policy && s.hourly_aggregate,
        "{s:?}"
    );
    let retention = job(&url, "'policy_retention'").await;
    exec(&url, &format!("CALL run_job({retention})")).await;
    let old = "SELECT count(*)::text AS v FROM measurements WHERE captured_at < now() - INTERVAL '21 days'";
    assert_eq!(scalar_i64(&url, old).await, 0, "old chunks dropped");
    assert_eq!(scalar_i64(&url, recent).await, kept, "recent chunks kept");
    assert!(scalar_i64(&url, chunks).await < days);

    drop((ts, plain, c));
    tsdb.drop_db().await;
    plaindb.drop_db().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn apache_license_keeps_the_hypertable_and_skips_the_rest_with_one_warning() {
    let Some((tsdb, plaindb)) = databases("apache_license", APACHE).await else {
        return;
    };
    let ts = store(&tsdb.url, TimescaleOptions::default()).await;
    let plain = store(&plaindb.url, TimescaleOptions::default().with_enabled(false)).await;
    let s = ts.timescale_status().await.expect("status").expect("postgres");
    assert_eq!(s.license.as_deref(), Some("apache"));
    assert!(
        s.hypertable && !s.compression_policy && !s.retention_policy && !s.hourly_aggregate,
        "{s:?}"
    );
    assert_eq!(s.notes.len(), 1, "{:?}", s.notes);
    assert!(s.notes[0].contains("Apache license"), "{:?}", s.notes);

    let rows = dataset(Utc::now());
    for db in [&ts, &plain] {
        let out = db.record_measurements(&rows).await.expect("insert");
        assert_eq!((out.inserted, out.duplicates), (rows.len() as u64, 0));
        let out = db.record_measurements(&rows[..100]).await.expect("re-insert");
        assert_eq!((out.inserted, out.duplicates), (0, 100));
    }
    same_answers(&ts, &plain, "apache hypertable").await;
    // Re-running the migrations keeps it that way.
    let ts = store(&tsdb.url, TimescaleOptions::default()).await;
    same_answers(&ts, &plain, "apache hypertable, migrated again").await;
    drop((ts, plain));
    tsdb.drop_db().await;
    plaindb.drop_db().await;
}

/// The store works on plain PostgreSQL: insert, idempotent re-insert, read back.
async fn works_plain(db: &Tsdb) {
    let s = db.timescale_status().await.expect("status").expect("postgres");
    assert!(!s.hypertable, "{s:?}");
    let rows: Vec<Measurement> = (0..8)
        .map(|i| measurement(SessionId::new(), "kiwi-a", i * 1000, Some(i as f64)))
        .collect();
    let out = db.record_measurements(&rows).await.expect("insert");
    assert_eq!((out.inserted, out.duplicates), (8, 0));
    let out = db.record_measurements(&rows).await.expect("insert again");
    assert_eq!((out.inserted, out.duplicates), (0, 8));
    let back = db.measurements(&MeasurementQuery::default()).await.expect("read");
    assert_eq!(back.len(), 8);
    let b = db
        .time_buckets(Duration::from_secs(3600), TimeWindow::default(), None)
        .await
        .expect("buckets");
    assert_eq!(b.iter().map(|b| b.count).sum::<u64>(), 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn installed_but_not_preloaded_falls_back_with_one_warning() {
    let Some(admin) = timescale_admin_url("not_preloaded", NOPRELOAD).await else {
        return;
    };
    let db = PgDatabase::create(&admin).await;
    // The server really answers CREATE EXTENSION with FATAL "must be preloaded".
    let mut c = AsyncPgConnection::establish(&db.url).await.expect("connect");
    let e = diesel::sql_query("CREATE EXTENSION timescaledb")
        .execute(&mut c)
        .await
        .expect_err("must fail without preload");
    assert!(e.to_string().contains("must be preloaded"), "{e}");
    drop(c);

    let store = Tsdb::from_url(&db.url).expect("build");
    store.migrate().await.expect("migrate never fails on this");
    let s = store.timescale_status().await.expect("status").expect("postgres");
    assert!(
        s.available_version.is_some() && s.installed_version.is_none() && !s.preloaded,
        "{s:?}"
    );
    works_plain(&store).await;
    works_plain_notes(&db.url, "shared_preload_libraries = 'timescaledb'").await;
    drop(store);
    db.drop_db().await;
}

/// A store on `url` reports exactly one note after migrating, naming `what_to_change`.
async fn works_plain_notes(url: &str, what_to_change: &str) {
    let notes = heimdall_tsdb::Tsdb::from_url(url)
        .expect("build")
        .migrate_status()
        .await
        .expect("migrate")
        .expect("postgres")
        .notes;
    assert_eq!(notes.len(), 1, "{notes:?}");
    assert!(notes[0].contains(what_to_change), "{notes:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn no_permission_to_create_the_extension_falls_back_with_one_warning() {
    let Some(admin) = timescale_admin_url("no_permission", TS).await else {
        return;
    };
    let db = PgDatabase::create(&admin).await;
    let role = format!("heimdall_noext_{}", uuid::Uuid::new_v4().simple());
    exec(&admin, &format!("CREATE ROLE {role} LOGIN")).await;
    exec(&db.url, &format!("GRANT CREATE ON SCHEMA public TO {role}")).await;
    let mut url = url::Url::parse(&db.url).expect("url");
    url.set_username(&role).expect("user");
    let url = url.to_string();

    let store = Tsdb::from_url(&url).expect("build");
    store.migrate().await.expect("migrate never fails on this");
    let s = store.timescale_status().await.expect("status").expect("postgres");
    assert!(s.preloaded && s.installed_version.is_none() && !s.hypertable, "{s:?}");
    works_plain(&store).await;
    works_plain_notes(&url, "GRANT CREATE ON DATABASE").await;
    drop(store);
    db.drop_db().await;
    exec(&admin, &format!("DROP ROLE {role}")).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn not_installed_is_plain_postgres_without_a_warning() {
    let Some(admin) = pg_admin_url("not_installed").await else {
        return;
    };
    let db = PgDatabase::create(&admin).await;
    let status = Tsdb::from_url(&db.url)
        .expect("build")
        .migrate_status()
        .await
        .expect("migrate")
        .expect("postgres");
    if status.available_version.is_none() {
        assert!(status.notes.is_empty() && !status.hypertable, "{status:?}");
    } else {
        eprintln!("the plain PostgreSQL offers TimescaleDB: {}", status.summary());
    }
    let store = Tsdb::from_url(&db.url).expect("build");
    store.migrate().await.expect("migrate");
    works_plain(&store).await;
    drop(store);
    db.drop_db().await;
}

/// Binary COPY (large batches) and `INSERT ... UNNEST` (small ones) store the same rows and
/// count the same duplicates, on plain PostgreSQL and on a hypertable with compressed chunks.
#[tokio::test(flavor = "multi_thread")]
async fn copy_and_unnest_paths_agree() {
    let mut admins = Vec::new();
    if let Some(a) = pg_admin_url("copy_and_unnest").await {
        admins.push(a);
    }
    if let Some(a) = timescale_admin_url("copy_and_unnest", TS).await {
        admins.push(a);
    }
    let rows = dataset(Utc::now());
    let (first, second) = rows.split_at(rows.len() / 2);
    // The second batch overlaps the first by 100 rows and repeats 10 of its own rows.
    let mut batch: Vec<Measurement> = first[first.len() - 100..].to_vec();
    batch.extend_from_slice(second);
    batch.extend_from_slice(&second[..10]);
    for admin in admins {
        let mut answers = Vec::new();
        for copy_min_rows in [1, usize::MAX] {
            let db = PgDatabase::create(&admin).await;
            let store = Tsdb::builder()
                .with_url(db.url.clone())
                .with_copy_min_rows(copy_min_rows)
                .build()
                .expect("build");
            store.migrate().await.expect("migrate");
            let a = store.record_measurements(first).await.expect("first");
            assert_eq!((a.inserted, a.duplicates), (first.len() as u64, 0));
            if copy_min_rows == 1 && store.timescale_status().await.expect("status").expect("pg").hypertable {
                let compression = job(&db.url, "'policy_compression', 'policy_columnstore'").await;
                exec(&db.url, &format!("CALL run_job({compression})")).await;
            }
            let b = store.record_measurements(&batch).await.expect("second");
            assert_eq!(
                (b.inserted, b.duplicates),
                (second.len() as u64, 110),
                "copy_min_rows {copy_min_rows}"
            );
            let q = MeasurementQuery {
                limit: Some(100_000),
                ..Default::default()
            };
            answers.push(store.measurements(&q).await.expect("read"));
            drop(store);
            db.drop_db().await;
        }
        assert_eq!(answers[0].len(), rows.len());
        assert!(answers[0] == answers[1], "COPY and UNNEST stored different rows");
    }
}

/// The windows the aggregate test asks about: open, the usual look-backs, ones that start and
/// end inside hours, one inside a single hour and one in the future.
fn windows(now: DateTime<Utc>) -> Vec<TimeWindow> {
    let ago = |m: i64| Some(now - chrono::Duration::minutes(m));
    let mut w = vec![TimeWindow::default()];
    for minutes in [60, 24 * 60, 7 * 24 * 60, 30 * 24 * 60] {
        w.push(TimeWindow {
            since: ago(minutes),
            until: None,
        });
    }
    w.extend([
        TimeWindow {
            since: ago(9 * 24 * 60 - 17),
            until: ago(30 * 60 + 5),
        },
        TimeWindow {
            since: ago(12 * 24 * 60 + 31),
            until: ago(12 * 24 * 60 + 2),
        },
        TimeWindow {
            since: None,
            until: ago(20 * 24 * 60 + 29),
        },
        TimeWindow {
            since: Some(now + chrono::Duration::days(1)),
            until: None,
        },
    ]);
    w
}

/// Every answer of `agg` (reading `measurements_hourly`) equals that of `raw` (raw rows only),
/// to the last bit: counts, min, max, exact-sum means and medians.
async fn same_exact_answers(agg: &Tsdb, raw: &Tsdb, now: DateTime<Utc>, what: &str) {
    let rx = common::rid("Kiwi_B");
    for window in windows(now) {
        let (x, y) = (
            agg.snr_stats(window).await.expect("stats"),
            raw.snr_stats(window).await.expect("stats"),
        );
        assert_eq!(x, y, "{what}: snr_stats over {window:?}");
        for width in [900, 3600, 3 * 3600, 86_400, 7 * 86_400] {
            let receivers = if width == 3600 {
                vec![None, Some(&rx)]
            } else {
                vec![None]
            };
            for receiver in receivers {
                let (x, y) = (
                    agg.time_buckets(Duration::from_secs(width), window, receiver)
                        .await
                        .expect("buckets"),
                    raw.time_buckets(Duration::from_secs(width), window, receiver)
                        .await
                        .expect("buckets"),
                );
                assert_eq!(x, y, "{what}: {width} s buckets over {window:?}, {receiver:?}");
            }
        }
    }
}

/// SNR statistics and whole-hour buckets read the continuous aggregate where it is valid and
/// raw rows elsewhere, and answer exactly like raw rows: before any refresh, after one, on
/// compressed chunks, after late writes into materialized hours (pending invalidations); and
/// like plain PostgreSQL up to the rounding of its `avg(float8)`.
#[tokio::test(flavor = "multi_thread")]
async fn hourly_aggregate_answers_exactly_like_raw_rows() {
    let Some((tsdb, plaindb)) = databases("hourly_aggregate", TS).await else {
        return;
    };
    let url = tsdb.url.clone();
    let agg = store(&url, TimescaleOptions::default()).await;
    let raw = store(&url, TimescaleOptions::default().with_hourly_aggregate(false)).await;
    let plain = store(&plaindb.url, TimescaleOptions::default().with_enabled(false)).await;
    let s = agg.timescale_status().await.expect("status").expect("postgres");
    assert!(s.hypertable && s.hourly_aggregate, "{s:?}");

    let now = Utc::now();
    let rows = dataset(now);
    for db in [&agg, &plain] {
        db.record_measurements(&rows).await.expect("insert");
    }
    same_exact_answers(&agg, &raw, now, "not refreshed").await;

    exec(
        &url,
        "CALL refresh_continuous_aggregate('measurements_hourly', NULL, date_trunc('hour', now()))",
    )
    .await;
    same_exact_answers(&agg, &raw, now, "refreshed").await;
    same_answers(&agg, &plain, "refreshed, against plain PostgreSQL").await;

    let compression = job(&url, "'policy_compression', 'policy_columnstore'").await;
    exec(&url, &format!("CALL run_job({compression})")).await;
    same_exact_answers(&agg, &raw, now, "compressed").await;

    // Late rows into materialized, compressed hours: those hours are read raw until refreshed.
    let s = SessionId::new();
    let late: Vec<Measurement> = RECEIVERS
        .iter()
        .enumerate()
        .map(|(j, r)| {
            let mut m = measurement(s, r, j as i64, Some(40.0 + j as f64));
            m.captured_at = now - chrono::Duration::days(12) - chrono::Duration::minutes(13 + 50 * j as i64);
            m
        })
        .collect();
    for db in [&agg, &plain] {
        db.record_measurements(&late).await.expect("late rows");
    }
    same_exact_answers(&agg, &raw, now, "late rows, not refreshed").await;
    same_answers(&agg, &plain, "late rows, against plain PostgreSQL").await;
    exec(
        &url,
        "CALL refresh_continuous_aggregate('measurements_hourly', NULL, date_trunc('hour', now()))",
    )
    .await;
    same_exact_answers(&agg, &raw, now, "late rows, refreshed").await;

    // The aggregate really answers the hours it covers: a count changed behind its back in
    // the materialized rows of one old hour shows up (and nowhere on the raw path).
    let mat = scalar(
        &url,
        "SELECT format('%I.%I', h.schema_name, h.table_name) AS v FROM _timescaledb_catalog.continuous_agg c \
         JOIN _timescaledb_catalog.hypertable h ON h.id = c.mat_hypertable_id \
         WHERE c.user_view_name = 'measurements_hourly'",
    )
    .await
    .expect("materialized hypertable");
    let hour = (now - chrono::Duration::days(20))
        .duration_trunc(chrono::Duration::hours(1))
        .expect("trunc");
    exec(
        &url,
        &format!(
            "UPDATE {mat} SET n_snr = n_snr + 1000, n = n + 1000 WHERE bucket = TIMESTAMPTZ '{}' \
             AND receiver_id = 'Kiwi_B'",
            hour.format("%Y-%m-%d %H:%M:%S+00")
        ),
    )
    .await;
    let day = TimeWindow {
        since: Some(hour - chrono::Duration::hours(5)),
        until: Some(hour + chrono::Duration::hours(5)),
    };
    let count = |v: &[heimdall_core::SnrStats]| v.iter().find(|s| s.receiver_id.as_str() == "Kiwi_B").map(|s| s.count);
    let (x, y) = (
        agg.snr_stats(day).await.expect("stats"),
        raw.snr_stats(day).await.expect("stats"),
    );
    assert_eq!(count(&x), count(&y).map(|n| n + 1000), "aggregate not read");
    let b = agg
        .time_buckets(Duration::from_secs(3600), day, None)
        .await
        .expect("buckets");
    assert!(b.iter().any(|b| b.bucket_start == hour && b.count >= 1000), "{b:?}");
    // Partial hours at the window's ends come from raw rows: a window starting inside the
    // changed hour does not see it.
    let inside = TimeWindow {
        since: Some(hour + chrono::Duration::minutes(1)),
        until: day.until,
    };
    assert_eq!(
        agg.snr_stats(inside).await.expect("stats"),
        raw.snr_stats(inside).await.expect("stats")
    );

    drop((agg, raw, plain));
    tsdb.drop_db().await;
    plaindb.drop_db().await;
}
