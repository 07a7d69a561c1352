//! Behaviour tests of the store on SQLite (memory, file) and a real PostgreSQL.
#![cfg(all(feature = "postgres", feature = "sqlite"))]
#![allow(clippy::print_stderr)]

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{measurement, on_all_backends, rid, t0};
use heimdall_core::{
    AcquisitionRequest, Error, GeoPosition, Measurement, MeasurementQuery, MetricQuery, MetricStore, ReceiverInfo,
    ReceiverKind, ReceiverRegistry, SessionId, SessionReport, SessionStatus, TimeWindow, store::bucket_start,
};
use heimdall_tsdb::Tsdb;

const RECEIVERS: [&str; 4] = ["kiwi-a", "Kiwi_B", "owrx-1", "rtl_9"];

/// 4 receivers x 30 sessions, a few rows without SNR, spread over ~3 hours.
fn dataset() -> (Vec<SessionId>, Vec<Measurement>) {
    let sessions: Vec<SessionId> = (0..30).map(|_| SessionId::new()).collect();
    let mut rows = Vec::new();
    for (i, s) in sessions.iter().enumerate() {
        for (j, r) in RECEIVERS.iter().enumerate() {
            let k = (i * 4 + j) as i64;
            let snr = if k % 11 == 3 {
                None
            } else {
                Some(((k * 37) % 29) as f64 * 0.75 - 3.0)
            };
            // Sessions 10 and 11 share a timestamp to exercise the ordering tie-breakers.
            let offset = if i == 11 { 10 * 377_000 } else { i as i64 * 377_000 };
            rows.push(measurement(*s, r, offset + j as i64 * 1000, snr));
        }
    }
    (sessions, rows)
}

fn reference_query(all: &[Measurement], q: &MeasurementQuery) -> Vec<Measurement> {
    let mut v: Vec<Measurement> = all.iter().filter(|m| q.matches(m)).cloned().collect();
    v.sort_by(|a, b| {
        b.captured_at
            .cmp(&a.captured_at)
            .then_with(|| a.receiver_id.cmp(&b.receiver_id))
            .then_with(|| a.session_id.cmp(&b.session_id))
    });
    v.truncate(q.effective_limit() as usize);
    v
}

fn assert_close(a: f64, b: f64, what: &str) {
    assert!((a - b).abs() <= 1e-9 * (1.0 + b.abs()), "{what}: {a} != {b}");
}

#[tokio::test(flavor = "multi_thread")]
async fn queries_answer_like_the_reference_on_every_backend() {
    let (sessions, rows) = dataset();
    let rows = Arc::new(rows);
    on_all_backends("queries", |db, name| {
        let rows = rows.clone();
        let sessions = sessions.clone();
        async move {
            let out = db.record_measurements(&rows).await.expect("insert");
            assert_eq!(out.inserted, rows.len() as u64, "{name}");
            assert_eq!(out.duplicates, 0, "{name}");

            let mid = t0() + chrono::Duration::seconds(3_000);
            let queries = [
                MeasurementQuery::default(),
                MeasurementQuery {
                    limit: Some(10_000),
                    ..Default::default()
                },
                MeasurementQuery {
                    receiver: Some(rid("Kiwi_B")),
                    limit: Some(7),
                    ..Default::default()
                },
                MeasurementQuery {
                    session: Some(sessions[11]),
                    ..Default::default()
                },
                MeasurementQuery {
                    frequency_min_hz: Some(7_002_000.0),
                    frequency_max_hz: Some(7_004_000.0),
                    limit: Some(1000),
                    ..Default::default()
                },
                MeasurementQuery {
                    since: Some(mid),
                    until: Some(mid + chrono::Duration::seconds(2_000)),
                    receiver: Some(rid("rtl_9")),
                    ..Default::default()
                },
                MeasurementQuery {
                    until: Some(rows[0].captured_at),
                    ..Default::default()
                },
            ];
            for q in &queries {
                let got = db.measurements(q).await.expect("query");
                let want = reference_query(&rows, q);
                assert_eq!(got.len(), want.len(), "{name}: {q:?}");
                assert_eq!(got, want, "{name}: {q:?}");
            }

            // SNR statistics against a straightforward computation.
            for window in [
                TimeWindow::default(),
                TimeWindow {
                    since: Some(mid),
                    until: None,
                },
            ] {
                let stats = db.snr_stats(window).await.expect("stats");
                let mut ids: Vec<_> = RECEIVERS.iter().map(|r| rid(r)).collect();
                ids.sort();
                assert_eq!(
                    stats.iter().map(|s| s.receiver_id.clone()).collect::<Vec<_>>(),
                    ids,
                    "{name}"
                );
                for s in &stats {
                    let mut v: Vec<f64> = rows
                        .iter()
                        .filter(|m| m.receiver_id == s.receiver_id && window.contains(m.captured_at))
                        .filter_map(|m| m.metrics.snr_db)
                        .collect();
                    v.sort_by(f64::total_cmp);
                    assert_eq!(s.count, v.len() as u64, "{name}");
                    assert_close(s.mean_db, v.iter().sum::<f64>() / v.len() as f64, "mean");
                    assert_close(s.min_db, v[0], "min");
                    assert_close(s.max_db, v[v.len() - 1], "max");
                    let n = v.len();
                    let p50 = if n % 2 == 1 {
                        v[n / 2]
                    } else {
                        (v[n / 2 - 1] + v[n / 2]) / 2.0
                    };
                    assert_close(s.p50_db.expect("p50 on every backend"), p50, "p50");
                }
            }

            // Time buckets: 15 minutes, all receivers and one receiver.
            let width = Duration::from_secs(900);
            for receiver in [None, Some(rid("owrx-1"))] {
                let got = db
                    .time_buckets(width, TimeWindow::default(), receiver.as_ref())
                    .await
                    .expect("buckets");
                let mut want: std::collections::BTreeMap<(chrono::DateTime<chrono::Utc>, String), Vec<&Measurement>> =
                    Default::default();
                for m in rows
                    .iter()
                    .filter(|m| receiver.as_ref().is_none_or(|r| *r == m.receiver_id))
                {
                    want.entry((bucket_start(m.captured_at, width), m.receiver_id.to_string()))
                        .or_default()
                        .push(m);
                }
                assert_eq!(got.len(), want.len(), "{name}");
                for (b, ((start, r), ms)) in got.iter().zip(want.iter()) {
                    assert_eq!(b.bucket_start, *start, "{name}");
                    assert_eq!(b.receiver_id.as_str(), r, "{name}");
                    assert_eq!(b.count, ms.len() as u64);
                    let snrs: Vec<f64> = ms.iter().filter_map(|m| m.metrics.snr_db).collect();
                    match b.mean_snr_db {
                        Some(x) => assert_close(x, snrs.iter().sum::<f64>() / snrs.len() as f64, "bucket mean"),
                        None => assert!(snrs.is_empty()),
                    }
                    assert_eq!(b.max_snr_db, snrs.iter().copied().reduce(f64::max), "{name}");
                }
            }
            // Bucket widths that do not divide a day are epoch-aligned too.
            let odd = Duration::from_secs(7 * 60 + 13);
            let got = db
                .time_buckets(odd, TimeWindow::default(), None)
                .await
                .expect("buckets");
            for b in &got {
                assert_eq!(b.bucket_start, bucket_start(b.bucket_start, odd), "{name}");
            }
            let total: u64 = got.iter().map(|b| b.count).sum();
            assert_eq!(total, rows.len() as u64, "{name}");
            assert!(
                db.time_buckets(Duration::ZERO, TimeWindow::default(), None)
                    .await
                    .is_err()
            );
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn same_batch_twice_inserts_once() {
    on_all_backends("idempotency", |db, name| async move {
        let s = SessionId::new();
        let batch: Vec<Measurement> = (0..50)
            .map(|i| measurement(s, &format!("rx-{i}"), i, Some(1.0)))
            .collect();
        let a = db.record_measurements(&batch).await.expect("first");
        assert_eq!((a.inserted, a.duplicates), (50, 0), "{name}");
        let b = db.record_measurements(&batch).await.expect("retry");
        assert_eq!((b.inserted, b.duplicates), (0, 50), "{name}");
        // A batch that repeats a row inside itself and overlaps the stored rows.
        let mut mixed = batch[..10].to_vec();
        mixed.push(measurement(s, "rx-new", 5, None));
        mixed.push(measurement(s, "rx-new", 5, None));
        let c = db.record_measurements(&mixed).await.expect("mixed");
        assert_eq!((c.inserted, c.duplicates), (1, 11), "{name}");
        let q = MeasurementQuery {
            session: Some(s),
            limit: Some(1000),
            ..Default::default()
        };
        assert_eq!(db.measurements(&q).await.expect("read").len(), 51, "{name}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn eight_concurrent_writers_lose_nothing() {
    on_all_backends("concurrency", |db, name| async move {
        let mut tasks = Vec::new();
        for w in 0..8 {
            let db = db.clone();
            tasks.push(tokio::spawn(async move {
                let mut inserted = 0;
                for b in 0..20 {
                    let s = SessionId::new();
                    let batch: Vec<Measurement> = (0..25)
                        .map(|i| measurement(s, &format!("w{w}-rx{i}"), (b * 25 + i) as i64, Some(i as f64)))
                        .collect();
                    inserted += db.record_measurements(&batch).await.expect("write").inserted;
                    // Every writer also retries its batch once.
                    assert_eq!(db.record_measurements(&batch).await.expect("retry").inserted, 0);
                }
                inserted
            }));
        }
        let mut total = 0;
        for t in tasks {
            total += t.await.expect("task");
        }
        assert_eq!(total, 8 * 20 * 25, "{name}");
        let q = MeasurementQuery {
            limit: Some(10_000),
            ..Default::default()
        };
        assert_eq!(db.measurements(&q).await.expect("read").len(), 8 * 20 * 25, "{name}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_larger_than_the_bind_parameter_limits() {
    on_all_backends("large batch", |db, name| async move {
        let s = SessionId::new();
        // 5000 rows x 25 columns = 125 000 values: above both 65 535 and 32 766.
        let batch: Vec<Measurement> = (0..5000)
            .map(|i| measurement(s, &format!("rx{i}"), i, Some(0.5)))
            .collect();
        let started = Instant::now();
        let out = db.record_measurements(&batch).await.expect("large batch");
        eprintln!("{name}: 5000 rows in {:?}", started.elapsed());
        assert_eq!(out.inserted, 5000, "{name}");
        let stats = db.snr_stats(TimeWindow::default()).await.expect("stats");
        assert_eq!(stats.iter().map(|s| s.count).sum::<u64>(), 5000, "{name}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn migrations_are_rerunnable() {
    on_all_backends("migrations", |db, name| async move {
        // Already migrated once by the harness.
        assert_eq!(db.migrate().await.expect("second run"), 0, "{name}");
        assert_eq!(db.migrate().await.expect("third run"), 0, "{name}");
        db.health().await.expect("health");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn constraint_violation_is_clear_and_not_retryable_and_the_batch_is_atomic() {
    on_all_backends("constraint", |db, name| async move {
        let s = SessionId::new();
        let mut batch: Vec<Measurement> = (0..10).map(|i| measurement(s, &format!("rx{i}"), i, None)).collect();
        let mut bad = measurement(s, "bad", 99, None);
        bad.metrics.clipped_fraction = 2.0;
        batch.push(bad);
        let e = db.record_measurements(&batch).await.expect_err("must fail");
        assert!(!e.is_retryable(), "{name}: {e}");
        assert!(matches!(e, Error::Database { .. }), "{name}: {e:?}");
        let msg = e.chain();
        assert!(msg.contains("constraint"), "{name}: {msg}");
        assert!(msg.contains("insert measurements"), "{name}: {msg}");
        let q = MeasurementQuery {
            session: Some(s),
            ..Default::default()
        };
        assert!(
            db.measurements(&q).await.expect("read").is_empty(),
            "{name}: batch not atomic"
        );
        // A count that does not fit the column is refused before the database.
        let mut huge = measurement(s, "huge", 1, None);
        huge.samples = u64::MAX;
        let e = db.record_measurements(&[huge]).await.expect_err("must fail");
        assert!(matches!(e, Error::InvalidInput { .. }), "{name}: {e:?}");
    })
    .await;
}

fn report(id: SessionId, started_offset_s: i64) -> SessionReport {
    let started = t0() + chrono::Duration::seconds(started_offset_s) + chrono::Duration::nanoseconds(123);
    SessionReport {
        errors: Vec::new(),
        session_id: id,
        request: AcquisitionRequest::new(7.1e6, Duration::from_secs(10)),
        status: SessionStatus::Failed,
        started_at: started,
        finished_at: started + chrono::Duration::seconds(11),
        receivers: Vec::new(),
        committed: false,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_round_trip_and_upsert() {
    on_all_backends("sessions", |db, name| async move {
        let ids: Vec<SessionId> = (0..5).map(|_| SessionId::new()).collect();
        for (i, id) in ids.iter().enumerate() {
            db.record_session(&report(*id, i as i64 * 60)).await.expect("record");
        }
        let mut r = report(ids[2], 120);
        r.status = SessionStatus::Cancelled;
        db.record_session(&r).await.expect("upsert");
        assert_eq!(db.session(ids[2]).await.expect("read"), Some(r), "{name}");
        assert_eq!(db.session(SessionId::new()).await.expect("read"), None, "{name}");
        let recent = db.recent_sessions(3).await.expect("recent");
        let got: Vec<SessionId> = recent.iter().map(|s| s.session_id).collect();
        assert_eq!(got, vec![ids[4], ids[3], ids[2]], "{name}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn receiver_registry_crud() {
    on_all_backends("registry", |db, name| async move {
        let a = ReceiverInfo::new(rid("kiwi-a"), "Kiwi A", ReceiverKind::KiwiSdr, "http://a:8073")
            .with_position(GeoPosition::new(45.0, 7.5, Some(300.0)).expect("pos"));
        let b = ReceiverInfo::new(rid("b-owrx"), "OWRX B", ReceiverKind::OpenWebRx, "http://b:8073");
        let ra = db
            .upsert_receiver(&a, &serde_json::json!({"gain": 30}))
            .await
            .expect("a");
        assert!(ra.active && ra.info == a, "{name}");
        db.upsert_receiver(&b, &serde_json::Value::Null).await.expect("b");
        assert_eq!(
            db.receiver(&rid("kiwi-a")).await.expect("get"),
            Some(ra.clone()),
            "{name}"
        );
        let mut a2 = a.clone();
        a2.name = "Kiwi A (moved)".into();
        a2.position = None;
        let ra2 = db.upsert_receiver(&a2, &serde_json::json!({})).await.expect("update");
        assert_eq!(ra2.info, a2, "{name}");
        assert_eq!(ra2.created_at, ra.created_at, "{name}: created_at kept");
        assert!(ra2.updated_at >= ra.updated_at, "{name}");
        let all = db.list_receivers(false).await.expect("list");
        assert_eq!(
            all.iter().map(|r| r.info.id.as_str()).collect::<Vec<_>>(),
            vec!["b-owrx", "kiwi-a"],
            "{name}"
        );
        assert!(
            db.deactivate_receiver(&rid("b-owrx")).await.expect("deactivate"),
            "{name}"
        );
        assert!(
            !db.deactivate_receiver(&rid("nope")).await.expect("deactivate"),
            "{name}"
        );
        let active = db.list_receivers(true).await.expect("list");
        assert_eq!(active.len(), 1, "{name}");
        assert_eq!(active[0].info.id.as_str(), "kiwi-a", "{name}");
        assert!(!db.receiver(&rid("b-owrx")).await.expect("get").expect("exists").active);
        // Upsert reactivates.
        assert!(
            db.upsert_receiver(&b, &serde_json::Value::Null)
                .await
                .expect("b")
                .active
        );
        assert_eq!(db.receiver(&rid("zzz")).await.expect("get"), None);
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn unreachable_postgres_is_a_quick_clear_retryable_error_without_the_password() {
    // Default connect timeout (10 s): a refused connection must not wait for it.
    let db = Tsdb::builder()
        .with_url("postgres://heimdall:TopSecret-42@127.0.0.1:1/metrics")
        .build()
        .expect("build does not connect");
    let shown = format!("{db} {db:?}");
    assert!(!shown.contains("TopSecret"), "{shown}");
    assert!(shown.contains("***"), "{shown}");
    let started = Instant::now();
    let e = db.health().await.expect_err("port 1 is closed");
    let elapsed = started.elapsed();
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
    assert!(e.is_retryable(), "{e}");
    let all = format!("{e} | {e:?} | {}", e.chain());
    assert!(!all.contains("TopSecret"), "{all}");
    assert!(all.to_lowercase().contains("refused"), "{all}");
    let e = db
        .record_measurements(&[measurement(SessionId::new(), "x", 0, None)])
        .await
        .expect_err("down");
    assert!(e.is_retryable(), "{e}");
    let e = db.migrate().await.expect_err("down");
    assert!(e.is_retryable(), "{e}");
    assert!(!format!("{e:?}").contains("TopSecret"));
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_password_or_database_is_not_retryable() {
    let Some(admin) = common::pg_admin_url("wrong database").await else {
        return;
    };
    let mut url = url::Url::parse(&admin).expect("url");
    url.set_path("/heimdall_does_not_exist_db");
    let _ = url.set_password(Some("Wr0ngPass"));
    let db = Tsdb::builder().with_url(url.to_string()).build().expect("build");
    let started = Instant::now();
    let e = db.health().await.expect_err("no such database");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
    assert!(e.chain().contains("does not exist"), "{}", e.chain());
    assert!(!e.is_retryable(), "{}", e.chain());
    assert!(!format!("{e:?} {}", e.chain()).contains("Wr0ngPass"));
}

#[tokio::test(flavor = "multi_thread")]
async fn builder_rejects_bad_configuration_without_connecting() {
    assert!(Tsdb::builder().build().is_err());
    assert!(Tsdb::from_url("mysql://u:p@h/db").is_err());
    assert!(Tsdb::builder().with_url(":memory:").with_pool_size(0).build().is_err());
    let db = Tsdb::from_url("/nonexistent-dir/x/y.db").expect("lazy");
    let e = db.health().await.expect_err("cannot open");
    assert!(matches!(e, Error::Database { .. }), "{e:?}");
}

#[tokio::test(flavor = "current_thread")]
async fn works_on_a_current_thread_runtime() {
    let db = Tsdb::in_memory();
    db.migrate().await.expect("migrate");
    let s = SessionId::new();
    assert_eq!(
        db.record_measurements(&[measurement(s, "a", 0, Some(3.0))])
            .await
            .expect("w")
            .inserted,
        1
    );
    if let Some(admin) = common::pg_admin_url("current thread").await {
        let pgdb = common::PgDatabase::create(&admin).await;
        let pg = Tsdb::from_url(&pgdb.url).expect("url");
        let r = pg.migrate().await;
        drop(pg);
        pgdb.drop_db().await;
        r.expect("migrate on current-thread runtime");
    }
}

/// Many workers starting at once on a fresh database: every migration succeeds (one at a time,
/// under an advisory lock), none sees a catalog race.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_migrations_on_a_fresh_database_all_succeed() {
    let Some(admin) = common::pg_admin_url("concurrent migrations").await else {
        return;
    };
    let pgdb = common::PgDatabase::create(&admin).await;
    let stores: Vec<Tsdb> = (0..6).map(|_| Tsdb::from_url(&pgdb.url).unwrap()).collect();
    let results = futures::future::join_all(stores.iter().map(|s| s.migrate())).await;
    for (i, r) in results.iter().enumerate() {
        assert!(r.is_ok(), "migration {i} failed: {}", r.as_ref().unwrap_err().chain());
    }
    // Exactly one applied the migrations; the others found them applied.
    assert_eq!(
        results.iter().filter(|r| *r.as_ref().unwrap() > 0).count(),
        1,
        "{results:?}"
    );
    drop(stores);
    pgdb.drop_db().await;
}
