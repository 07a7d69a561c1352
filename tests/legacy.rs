//! Import of the old acquisition service's archives: an archive written by numpy and boto3
//! exactly as the old Python (FastAPI/Celery) service wrote it (tests/legacy_old_archive.py: known-truth tones plus
//! broken captures), imported from local disk into SQLite and from SeaweedFS (S3) into
//! PostgreSQL, then read through the `measurements_v1` view by independent clients (Python's
//! sqlite3, psql).
#![allow(clippy::print_stderr)]

use std::path::{Path, PathBuf};
use std::process::Command;

use heimdall::core::{IqArchive, MeasurementQuery, MetricQuery, SampleBlock, SessionId, SessionStatus};
use heimdall::storage::legacy::{LegacyImporter, WebsdrMap};
use heimdall::storage::{ArchiveBuilder, ArchiveSink};
use heimdall::tsdb::Tsdb;
use serde_json::Value;

fn ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
}

fn skip(test: &str, why: &str) {
    assert!(!ci(), "{test}: {why} (required under CI=true)");
    eprintln!("\n*** SKIPPED {test}: {why} ***\n");
}

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// numpy's Python: HEIMDALL_PYTHON or ./.venv/bin/python.
fn python(test: &str) -> Option<PathBuf> {
    let p = std::env::var_os("HEIMDALL_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv/bin/python"));
    if p.exists() {
        Some(p)
    } else {
        skip(test, &format!("{} not found; run scripts/s3.sh pyenv", p.display()));
        None
    }
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: cannot run: {e}"));
    assert!(
        out.status.success(),
        "{what} failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// Writes the old archive; returns the generator's JSON (task ids and truth).
fn write_old_archive(python: &Path, args: &[&str]) -> Value {
    let out = run(
        Command::new(python)
            .arg(repo().join("tests/legacy_old_archive.py"))
            .args(args),
        "legacy_old_archive.py",
    );
    serde_json::from_str(&out).expect("generator JSON")
}

fn mapping() -> WebsdrMap {
    // websdr 4 stays unmapped on purpose: it becomes the placeholder receiver websdr-4.
    WebsdrMap::parse(
        "1 = torino\n2 = genova  # old station 2\n3 = aquila-di-giaveno\n",
        |_| None,
    )
    .unwrap()
}

fn receiver_of(n: i64) -> &'static str {
    match n {
        1 => "torino",
        2 => "genova",
        3 => "aquila-di-giaveno",
        4 => "websdr-4",
        _ => unreachable!(),
    }
}

/// Imports, checks rows and problems, re-imports (idempotent), adopts; returns the rows.
async fn import_and_check(name: &str, sink: &ArchiveSink, db: &Tsdb, generated: &Value) {
    let good: SessionId = generated["good"].as_str().unwrap().parse().unwrap();
    let mixed: SessionId = generated["mixed"].as_str().unwrap().parse().unwrap();
    let importer = LegacyImporter::new(sink.clone(), mapping());

    let s = importer.import(db, false).await.expect("import");
    assert_eq!(s.sessions_found, 4, "{name}: {s:?}");
    assert_eq!(s.sessions_imported, 2, "{name}: {s:?}");
    assert_eq!((s.captures, s.inserted, s.duplicates), (5, 5, 0), "{name}: {s:?}");
    assert_eq!(s.unmapped, vec![4], "{name}");
    // Every broken capture and session reported, one by one.
    let reasons: Vec<String> = s.problems.iter().map(|p| p.to_string()).collect();
    assert_eq!(s.problems.len(), 6, "{name}: {reasons:#?}");
    let has = |task: &Value, n: Option<i64>, text: &str| {
        let task = task.as_str().unwrap();
        assert!(
            s.problems
                .iter()
                .any(|p| p.task_id == task && p.websdr_id == n && p.reason.contains(text)),
            "{name}: no problem {task} {n:?} {text:?} in {reasons:#?}"
        );
    };
    has(&generated["mixed"], Some(2), "no websdr_2_metadata.json");
    has(&generated["mixed"], Some(3), "websdr_3.npy are missing");
    has(&generated["mixed"], Some(4), "truncated");
    has(&generated["mixed"], Some(5), "not JSON");
    has(&generated["dead"], None, "no readable capture");
    has(&Value::from("not-a-task"), None, "not a task id");

    // Rows: recomputed SNR within 0.5 dB of the truth, old values kept verbatim.
    let mut rows = db
        .measurements(&MeasurementQuery {
            session: Some(good),
            ..Default::default()
        })
        .await
        .unwrap();
    rows.extend(
        db.measurements(&MeasurementQuery {
            session: Some(mixed),
            ..Default::default()
        })
        .await
        .unwrap(),
    );
    assert_eq!(rows.len(), 5, "{name}");
    for t in generated["truth"].as_array().unwrap() {
        let n = t["websdr_id"].as_i64().unwrap();
        let task = t["task_id"].as_str().unwrap();
        let row = rows
            .iter()
            .find(|r| r.session_id.to_string() == task && r.receiver_id.as_str() == receiver_of(n))
            .unwrap_or_else(|| panic!("{name}: no row for {task} websdr {n}"));
        let truth = t["snr_db"].as_f64().unwrap();
        let snr = row.metrics.snr_db.expect("an SNR");
        assert!(
            (snr - truth).abs() <= 0.5,
            "{name}: websdr {n}: SNR {snr:.2} dB, truth {truth} dB"
        );
        let offset = row.metrics.peak_frequency_hz.expect("a peak");
        assert!(
            (offset - t["tone_hz"].as_f64().unwrap()).abs() < 1.0,
            "{name}: peak {offset}"
        );
        assert_eq!(row.samples, 25_000);
        assert_eq!(row.sample_rate_hz, 12_500.0);
        assert_eq!(row.frequency_hz, 145.5e6);
        let legacy = &row.extra["legacy"];
        assert_eq!(legacy["websdr_id"], n, "{name}");
        assert_eq!(legacy["task_id"], task, "{name}");
        assert_eq!(legacy["timestamp_utc"], t["timestamp_utc"], "{name}");
        let was = &t["old"];
        assert_eq!(legacy["metrics"]["snr_db"], was["snr_db"], "{name}: old SNR kept");
        assert_eq!(legacy["metrics"]["noise_power_dbm"], was["noise_power_dbm"], "{name}");
        // Python wrote -Infinity for this one; JSON has no such number: kept as null.
        if was["psd_dbm"].is_null() {
            assert!(legacy["metrics"]["psd_dbm"].is_null());
        } else {
            assert_eq!(legacy["metrics"]["psd_dbm"], was["psd_dbm"], "{name}");
        }
        let key = format!("sessions/{task}/websdr_{n}.npy");
        assert!(legacy["s3_path"].as_str().unwrap().ends_with(&key), "{name}: {legacy}");
        assert!(row.object_keys.iter().any(|k| k.ends_with(&key)), "{name}");
    }
    let rec = db.session(mixed).await.unwrap().expect("session record");
    assert_eq!(rec.status, SessionStatus::Partial, "{name}");
    assert_eq!(rec.errors.len(), 4, "{name}: {:?}", rec.errors);
    assert_eq!(db.session(good).await.unwrap().unwrap().status, SessionStatus::Success);

    // Idempotent.
    let again = importer.import(db, false).await.unwrap();
    assert_eq!((again.inserted, again.duplicates), (0, 5), "{name}");

    // Adoption: a manifest per session, the old objects untouched, readable as ordinary sessions.
    let key = format!("{}/sessions/{good}/websdr_1.npy", sink.prefix());
    let key = key.trim_start_matches('/').to_owned();
    let before = sink.get_bytes(&key).await.unwrap();
    assert!(
        sink.list_sessions(None, None).await.unwrap().is_empty(),
        "{name}: no manifest yet"
    );
    let adopted = importer.import(db, true).await.unwrap();
    assert_eq!(adopted.sessions_adopted, 2, "{name}");
    let mut listed = sink.list_sessions(None, None).await.unwrap();
    listed.sort();
    let mut want = vec![good, mixed];
    want.sort();
    assert_eq!(listed, want, "{name}");
    assert_eq!(
        sink.get_bytes(&key).await.unwrap(),
        before,
        "{name}: old object changed"
    );
    let back = sink.read_capture(good, &"torino".parse().unwrap()).await.unwrap();
    let SampleBlock::Complex(x) = &back.samples else {
        panic!("complex samples")
    };
    assert_eq!(x.len(), 25_000);
    assert_eq!(
        back.metrics,
        rows.iter()
            .find(|r| r.receiver_id.as_str() == "torino" && r.session_id == good)
            .map(|r| r.metrics)
    );
    // Adopted sessions are ordinary now: the old-session listing no longer shows them, and
    // their rows rebuilt from the manifest are the imported ones (old values included).
    assert_eq!(importer.list_sessions().await.unwrap().len(), 2, "{name}");
    let report = sink.read_manifest(mixed).await.unwrap();
    let rebuilt = report.measurements();
    assert_eq!(rebuilt.len(), 1);
    assert_eq!(rebuilt[0].extra["legacy"]["websdr_id"], 1);
}

/// A row recorded by Heimdall itself, from a receiver whose registry entry carries the old
/// integer id (option `websdr_id`): the view shows that id, the .npy key and the dBm S-meter.
async fn add_native_row(db: &Tsdb) -> SessionId {
    use heimdall::core::{MetricStore, ReceiverInfo, ReceiverKind, ReceiverRegistry};
    let info = ReceiverInfo::new(
        "kiwi-new".parse().unwrap(),
        "Kiwi",
        ReceiverKind::KiwiSdr,
        "http://kiwi:8073",
    );
    db.upsert_receiver(&info, &serde_json::json!({"websdr_id": 42}))
        .await
        .unwrap();
    let session = SessionId::new();
    let m = heimdall_core::testkit::test_measurement(session, "kiwi-new", chrono::Utc::now(), Some(11.0));
    db.record_measurements(&[m]).await.unwrap();
    session
}

fn check_native_row(name: &str, rows: &[Value], session: SessionId) {
    let r = rows
        .iter()
        .find(|r| r["task_id"] == session.to_string())
        .unwrap_or_else(|| panic!("{name}: no native row in {rows:#?}"));
    assert_eq!(r["websdr_id"], 42, "{name}: {r}");
    assert_eq!(r["power_dbm"].as_f64(), Some(-95.5), "{name}: {r}");
    assert_eq!(r["s3_path"], format!("sessions/{session}/kiwi-new.npy"), "{name}: {r}");
    assert_eq!(r["sample_rate_khz"].as_f64(), Some(12.0), "{name}: {r}");
}

/// Checks the rows of `measurements_v1` (as JSON objects) against the truth.
fn check_view(name: &str, rows: &[Value], generated: &Value, s3_path_prefix: &str) {
    assert_eq!(rows.len(), 6, "{name}: {rows:#?}");
    for t in generated["truth"].as_array().unwrap() {
        let task = t["task_id"].as_str().unwrap();
        let n = t["websdr_id"].as_i64().unwrap();
        let r = rows
            .iter()
            .find(|r| r["task_id"] == task && r["websdr_id"] == n)
            .unwrap_or_else(|| panic!("{name}: no view row for {task} websdr {n}: {rows:#?}"));
        assert_eq!(r["frequency_mhz"].as_f64(), Some(145.5), "{name}: {r}");
        assert_eq!(r["sample_rate_khz"].as_f64(), Some(12.5), "{name}: {r}");
        assert_eq!(r["samples_count"].as_i64(), Some(25_000), "{name}: {r}");
        let snr = r["snr_db"].as_f64().unwrap();
        assert!((snr - t["snr_db"].as_f64().unwrap()).abs() <= 0.5, "{name}: {r}");
        let ts = heimdall::storage::legacy::parse_legacy_time(r["timestamp_utc"].as_str().unwrap()).unwrap();
        let want = heimdall::storage::legacy::parse_legacy_time(t["timestamp_utc"].as_str().unwrap()).unwrap();
        assert!((ts - want).num_milliseconds().abs() <= 1, "{name}: {r}");
        assert_eq!(
            r["s3_path"].as_str().unwrap(),
            format!("{s3_path_prefix}sessions/{task}/websdr_{n}.npy"),
            "{name}"
        );
    }
}

const VIEW_SQL: &str = "SELECT task_id, websdr_id, frequency_mhz, sample_rate_khz, samples_count, \
                        timestamp_utc, snr_db, frequency_offset_hz, power_dbm, s3_path FROM measurements_v1";

#[tokio::test(flavor = "multi_thread")]
async fn old_archive_on_local_disk_into_sqlite() {
    let test = "old_archive_on_local_disk_into_sqlite";
    let Some(py) = python(test) else { return };
    let dir = tempfile::tempdir().unwrap();
    let archive = dir.path().join("heimdall-raw-iq");
    std::fs::create_dir_all(&archive).unwrap();
    let generated = write_old_archive(&py, &["dir", archive.to_str().unwrap()]);
    let sink = ArchiveBuilder::from_url(archive.to_str().unwrap()).build().unwrap();
    let db_path = dir.path().join("metrics.db");
    let db = Tsdb::from_url(&format!("sqlite://{}", db_path.display())).unwrap();
    db.migrate().await.unwrap();
    import_and_check("local+sqlite", &sink, &db, &generated).await;
    let native = add_native_row(&db).await;
    drop(db);

    // measurements_v1 through Python's sqlite3 module, not our driver.
    let script = format!(
        "import json, sqlite3, sys\nc = sqlite3.connect(sys.argv[1]); c.row_factory = sqlite3.Row\n\
         print(json.dumps([dict(r) for r in c.execute({VIEW_SQL:?})]))"
    );
    let out = run(
        Command::new(&py).arg("-c").arg(script).arg(&db_path),
        "sqlite3 read of measurements_v1",
    );
    let rows: Vec<Value> = serde_json::from_str(&out).unwrap();
    let root = url::Url::from_directory_path(std::fs::canonicalize(&archive).unwrap()).unwrap();
    check_view("local+sqlite", &rows, &generated, root.as_str());
    check_native_row("local+sqlite", &rows, native);
}

#[tokio::test(flavor = "multi_thread")]
async fn old_archive_on_s3_into_postgres() {
    let test = "old_archive_on_s3_into_postgres";
    let Some(py) = python(test) else { return };
    let Some(base) = std::env::var("HEIMDALL_TEST_S3_URL").ok().filter(|u| !u.is_empty()) else {
        return skip(test, "HEIMDALL_TEST_S3_URL is not set; eval \"$(scripts/s3.sh env)\"");
    };
    let admin = std::env::var("HEIMDALL_TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".to_owned());
    let reachable = Command::new("psql")
        .args([admin.as_str(), "-Atqc", "SELECT 1"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !reachable {
        return skip(test, "PostgreSQL (psql HEIMDALL_TEST_DATABASE_URL) is unreachable");
    }
    let bucket = base.trim_start_matches("s3://").trim_end_matches('/').to_owned();
    let prefix = format!("test-legacy-{}", uuid::Uuid::new_v4().simple());
    let generated = write_old_archive(&py, &["s3", &bucket, &prefix]);
    let sink = ArchiveBuilder::from_url(format!("s3://{bucket}/{prefix}"))
        .build()
        .unwrap();

    let name = format!("heimdall_test_{}", uuid::Uuid::new_v4().simple());
    run(
        Command::new("psql").args([admin.as_str(), "-qc", &format!("CREATE DATABASE {name}")]),
        "create database",
    );
    let mut url = url::Url::parse(&admin).unwrap();
    url.set_path(&format!("/{name}"));
    let result = {
        let db = Tsdb::from_url(url.as_str()).unwrap();
        db.migrate().await.unwrap();
        let r = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(async {
            import_and_check("s3+postgres", &sink, &db, &generated).await;
            let native = add_native_row(&db).await;
            // The old objects' S3 user metadata is read and kept.
            let good: SessionId = generated["good"].as_str().unwrap().parse().unwrap();
            let rows = db
                .measurements(&MeasurementQuery {
                    session: Some(good),
                    ..Default::default()
                })
                .await
                .unwrap();
            let md = &rows[0].extra["legacy"]["s3_metadata"];
            assert_eq!(md["task_id"], generated["good"], "{md}");
            assert_eq!(md["data_type"], "iq_complex64", "{md}");
            assert_eq!(md["samples_count"], "25000", "{md}");
            // measurements_v1 through psql.
            let out = run(
                Command::new("psql").args([
                    url.as_str(),
                    "-Atqc",
                    &format!("SELECT coalesce(json_agg(t), '[]') FROM ({VIEW_SQL}) t"),
                ]),
                "psql read of measurements_v1",
            );
            let rows: Vec<Value> = serde_json::from_str(out.trim()).unwrap();
            check_view("s3+postgres", &rows, &generated, &format!("s3://{bucket}/{prefix}/"));
            check_native_row("s3+postgres", &rows, native);
        }))
        .await;
        drop(db);
        r
    };
    let _ = Command::new("psql")
        .args([
            admin.as_str(),
            "-qc",
            &format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"),
        ])
        .output();
    if let Err(p) = result {
        std::panic::resume_unwind(p);
    }
}
