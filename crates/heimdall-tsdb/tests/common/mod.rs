//! Shared test harness: one fresh database per test on every backend.
#![allow(dead_code, unreachable_pub, clippy::print_stderr)]

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use diesel_async::{AsyncConnection, AsyncPgConnection, RunQueryDsl};
use futures::FutureExt;
use heimdall_core::{Measurement, PowerUnit, ReceiverId, SessionId, SignalMetrics, TimeSource};
use heimdall_tsdb::Tsdb;

pub const DEFAULT_PG: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn is_ci() -> bool {
    std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false)
}

/// The admin URL of the test PostgreSQL, or `None` (with a loud SKIPPED line) when it is not
/// reachable outside CI. Under `CI=true` an unreachable server fails the test.
pub async fn pg_admin_url(test: &str) -> Option<String> {
    let url = std::env::var("HEIMDALL_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_PG.to_owned());
    match tokio::time::timeout(Duration::from_secs(5), AsyncPgConnection::establish(&url)).await {
        Ok(Ok(_)) => Some(url),
        other => {
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                _ => "timeout".to_owned(),
            };
            assert!(
                !is_ci(),
                "CI=true but PostgreSQL at {} is unreachable: {why}",
                heimdall_core::redact::redact_url(&url)
            );
            eprintln!(
                "SKIPPED {test} on PostgreSQL: {} unreachable ({why}); set HEIMDALL_TEST_DATABASE_URL",
                heimdall_core::redact::redact_url(&url)
            );
            None
        }
    }
}

/// A database created for one test and dropped after it.
pub struct PgDatabase {
    admin: String,
    pub name: String,
    pub url: String,
}

impl PgDatabase {
    pub async fn create(admin: &str) -> PgDatabase {
        let name = format!("heimdall_test_{}", uuid::Uuid::new_v4().simple());
        let mut c = AsyncPgConnection::establish(admin).await.expect("admin connection");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut c)
            .await
            .expect("create test database");
        let mut url = url::Url::parse(admin).expect("admin URL");
        url.set_path(&format!("/{name}"));
        PgDatabase {
            admin: admin.to_owned(),
            name,
            url: url.to_string(),
        }
    }

    pub async fn drop_db(self) {
        if let Ok(mut c) = AsyncPgConnection::establish(&self.admin).await {
            let r = diesel::sql_query(format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name))
                .execute(&mut c)
                .await;
            if let Err(e) = r {
                eprintln!("could not drop {}: {e}", self.name);
            }
        }
    }
}

/// Runs `f` on SQLite in memory, SQLite in a temporary file and a fresh PostgreSQL database,
/// each migrated. Panics propagate after cleanup.
pub async fn on_all_backends<F, Fut>(test: &str, f: F)
where
    F: Fn(Arc<Tsdb>, &'static str) -> Fut,
    Fut: Future<Output = ()>,
{
    let mem = Arc::new(Tsdb::from_url("sqlite::memory:").expect("memory url"));
    mem.migrate().await.expect("migrate memory");
    f(mem, "sqlite-memory").await;

    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("metrics.db");
    let file = Arc::new(Tsdb::from_url(&format!("sqlite://{}", path.display())).expect("file url"));
    file.migrate().await.expect("migrate file");
    f(file, "sqlite-file").await;

    if let Some(admin) = pg_admin_url(test).await {
        let db = PgDatabase::create(&admin).await;
        let pg = Arc::new(
            Tsdb::builder()
                .with_url(db.url.clone())
                .with_pool_size(10)
                .build()
                .expect("pg url"),
        );
        let r = AssertUnwindSafe(async {
            pg.migrate().await.expect("migrate postgres");
            f(pg.clone(), "postgres").await;
        })
        .catch_unwind()
        .await;
        drop(pg);
        db.drop_db().await;
        if let Err(p) = r {
            std::panic::resume_unwind(p);
        }
    }
}

pub fn t0() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).single().expect("valid time")
}

pub fn rid(s: &str) -> ReceiverId {
    ReceiverId::new(s).expect("valid id")
}

/// A measurement with every field set (micro-aligned time so that all backends round-trip it).
pub fn measurement(session: SessionId, receiver: &str, offset_ms: i64, snr: Option<f64>) -> Measurement {
    let f = 7_000_000.0 + (offset_ms % 7) as f64 * 1000.0;
    Measurement {
        session_id: session,
        receiver_id: rid(receiver),
        captured_at: t0() + chrono::Duration::milliseconds(offset_ms) + chrono::Duration::microseconds(17),
        time_source: if offset_ms % 2 == 0 {
            TimeSource::Gps
        } else {
            TimeSource::Host
        },
        frequency_hz: f,
        center_frequency_hz: f - 500.0,
        sample_rate_hz: 12_000.0,
        samples: 120_000,
        duration_s: 10.0,
        metrics: SignalMetrics {
            samples: 120_000,
            sample_rate_hz: 12_000.0,
            snr_db: snr,
            frequency_offset_hz: Some(0.125),
            peak_frequency_hz: Some(500.5),
            signal_power_dbfs: snr.map(|s| s - 60.0),
            noise_power_dbfs: Some(-60.0),
            noise_floor_dbfs_per_hz: Some(-100.79),
            total_power_dbfs: Some(-20.3),
            dc_power_dbfs: None,
            clipped_fraction: 0.001,
            signal_power_dbm: None,
        },
        rssi: Some(-73.5),
        rssi_unit: Some(PowerUnit::Dbm),
        object_keys: vec![format!("sessions/{session}/{receiver}.npy")],
        extra: serde_json::json!({"attempts": 1, "receiver_kind": "simulated", "start_skew_s": 0.25}),
    }
}

/// The admin URL of a TimescaleDB test server named by the environment variable `var`
/// (`HEIMDALL_TEST_TIMESCALE_URL`, `..._APACHE_URL`, `..._NOPRELOAD_URL`, all exported by
/// `scripts/timescaledb.sh env`), or `None` with a loud SKIPPED line naming the variable.
/// Under `CI=true` a missing or unreachable server fails the test.
pub async fn timescale_admin_url(test: &str, var: &str) -> Option<String> {
    let Ok(url) = std::env::var(var) else {
        assert!(
            !is_ci(),
            "CI=true but {var} is not set: scripts/test.sh starts the servers with scripts/timescaledb.sh"
        );
        eprintln!(
            "SKIPPED {test}: {var} is not set (run `scripts/timescaledb.sh start` and \
             `eval \"$(scripts/timescaledb.sh env)\"`, or point {var} at a TimescaleDB server)"
        );
        return None;
    };
    match tokio::time::timeout(Duration::from_secs(5), AsyncPgConnection::establish(&url)).await {
        Ok(Ok(_)) => Some(url),
        other => {
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                _ => "timeout".to_owned(),
            };
            let url = heimdall_core::redact::redact_url(&url);
            assert!(!is_ci(), "CI=true but {var}={url} is unreachable: {why}");
            eprintln!("SKIPPED {test}: {var}={url} is unreachable ({why})");
            None
        }
    }
}

#[derive(diesel::QueryableByName)]
struct Scalar {
    #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
    v: Option<String>,
}

/// Runs `sql` on a new connection to `url`.
pub async fn exec(url: &str, sql: &str) {
    let mut c = AsyncPgConnection::establish(url).await.expect("connect");
    diesel::sql_query(sql)
        .execute(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The first column of the first row of `sql` (aliased `v`, cast to text) on `url`.
pub async fn scalar(url: &str, sql: &str) -> Option<String> {
    let mut c = AsyncPgConnection::establish(url).await.expect("connect");
    diesel::sql_query(sql)
        .get_result::<Scalar>(&mut c)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .v
}

/// [`scalar`] parsed as an integer.
pub async fn scalar_i64(url: &str, sql: &str) -> i64 {
    scalar(url, sql)
        .await
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{sql}: no integer"))
}
