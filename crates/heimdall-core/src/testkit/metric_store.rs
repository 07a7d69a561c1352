//! The conformance suite of [`MetricStore`] backends.

use std::time::Duration;

use chrono::{TimeZone, Utc};

use crate::ids::{ReceiverId, SessionId};
use crate::report::{Measurement, SessionReport, SessionStatus};
use crate::request::AcquisitionRequest;
use crate::store::{MeasurementQuery, MetricQuery, MetricStore, ReceiverRegistry, TimeWindow, bucket_start};

use super::fixtures::{test_measurement, test_receiver};

/// The [`MetricStore`] + [`MetricQuery`] + [`ReceiverRegistry`] contract.
pub async fn metric_store_conformance(
    store: &dyn MetricStore,
    query: &dyn MetricQuery,
    registry: &dyn ReceiverRegistry,
) {
    store.health().await.expect("health of a working store");
    assert_eq!(store.record_measurements(&[]).await.expect("empty batch").inserted, 0);

    // 4 sessions x 3 receivers, one hour apart; receiver "m-c" has no SNR in session 0.
    let base = Utc.with_ymd_and_hms(2026, 11, 28, 8, 0, 0).single().expect("date");
    let receivers = ["m-a", "m-b", "m-c"];
    let mut rows = Vec::new();
    let mut sessions = Vec::new();
    for s in 0..4 {
        let session = SessionId::new();
        sessions.push(session);
        for (i, r) in receivers.iter().enumerate() {
            let snr = if s == 0 && *r == "m-c" {
                None
            } else {
                Some(3.0 * s as f64 + i as f64 + 0.25)
            };
            let mut m = test_measurement(session, r, base + chrono::Duration::minutes(60 * s + 7 * i as i64), snr);
            m.frequency_hz = 144e6 + 1e6 * s as f64;
            rows.push(m);
        }
    }
    let out = store.record_measurements(&rows).await.expect("record batch");
    assert_eq!(out.inserted, 12, "first write inserts every row");
    let out = store.record_measurements(&rows).await.expect("record batch again");
    assert_eq!(
        (out.inserted, out.duplicates),
        (0, 12),
        "a retried batch must insert nothing"
    );

    let all = query
        .measurements(&MeasurementQuery {
            limit: Some(1000),
            ..Default::default()
        })
        .await
        .expect("query");
    assert_eq!(all.len(), 12);
    for w in all.windows(2) {
        assert!(
            w[0].captured_at >= w[1].captured_at,
            "measurements must be newest first"
        );
    }
    // Values round trip exactly.
    for want in &rows {
        let got = all
            .iter()
            .find(|m| m.session_id == want.session_id && m.receiver_id == want.receiver_id)
            .expect("row present");
        assert_eq!(
            got.captured_at, want.captured_at,
            "captured_at must round trip to the microsecond"
        );
        assert_eq!(got.metrics, want.metrics, "metrics must round trip");
        assert_eq!(got.time_source, want.time_source);
        assert_eq!(got.samples, want.samples);
        assert_eq!(got.sample_rate_hz, want.sample_rate_hz);
        assert_eq!(got.frequency_hz, want.frequency_hz);
        assert_eq!(got.rssi, want.rssi);
        assert_eq!(got.rssi_unit, want.rssi_unit);
        assert_eq!(got.object_keys, want.object_keys);
        assert_eq!(got.extra, want.extra);
    }
    let rid = ReceiverId::new("m-b").expect("id");
    let by_rx = query
        .measurements(&MeasurementQuery {
            receiver: Some(rid.clone()),
            ..Default::default()
        })
        .await
        .expect("query by receiver");
    assert_eq!(by_rx.len(), 4);
    assert!(by_rx.iter().all(|m| m.receiver_id == rid));
    let by_session = query
        .measurements(&MeasurementQuery {
            session: Some(sessions[2]),
            ..Default::default()
        })
        .await
        .expect("query");
    assert_eq!(by_session.len(), 3);
    let by_freq = query
        .measurements(&MeasurementQuery {
            frequency_min_hz: Some(145e6),
            frequency_max_hz: Some(146e6),
            ..Default::default()
        })
        .await
        .expect("query by frequency");
    assert_eq!(by_freq.len(), 6);
    let window = TimeWindow {
        since: Some(base + chrono::Duration::minutes(60)),
        until: Some(base + chrono::Duration::minutes(180)),
    };
    let by_time = query
        .measurements(&MeasurementQuery {
            since: window.since,
            until: window.until,
            ..Default::default()
        })
        .await
        .expect("query by time");
    assert_eq!(by_time.len(), 6);
    let limited = query
        .measurements(&MeasurementQuery {
            limit: Some(5),
            ..Default::default()
        })
        .await
        .expect("query");
    assert_eq!(limited.len(), 5);
    assert_eq!(limited[0].captured_at, all[0].captured_at);

    // SNR statistics agree with the reference computation.
    let stats = query.snr_stats(TimeWindow::default()).await.expect("snr_stats");
    assert_eq!(stats.len(), 3);
    for st in &stats {
        let mut v: Vec<f64> = rows
            .iter()
            .filter(|m| m.receiver_id == st.receiver_id)
            .filter_map(|m| m.metrics.snr_db)
            .collect();
        assert_eq!(st.count, v.len() as u64, "count of {}", st.receiver_id);
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        assert!((st.mean_db - mean).abs() < 1e-9, "mean of {}", st.receiver_id);
        assert!((st.min_db - v.iter().copied().fold(f64::INFINITY, f64::min)).abs() < 1e-9);
        assert!((st.max_db - v.iter().copied().fold(f64::NEG_INFINITY, f64::max)).abs() < 1e-9);
        if let Some(p50) = st.p50_db {
            let med = crate::memory::median(&mut v).expect("non-empty");
            assert!((p50 - med).abs() < 1e-9, "p50 of {}: {p50} vs {med}", st.receiver_id);
        }
    }
    let windowed = query.snr_stats(window).await.expect("snr_stats window");
    assert!(
        windowed.iter().all(|s| s.count == 2),
        "window must restrict the rows: {windowed:?}"
    );

    // Hourly buckets.
    let hour = Duration::from_secs(3600);
    let buckets = query
        .time_buckets(hour, TimeWindow::default(), None)
        .await
        .expect("time_buckets");
    assert_eq!(buckets.len(), 12, "4 hours x 3 receivers");
    for b in &buckets {
        assert_eq!(
            b.bucket_start,
            bucket_start(b.bucket_start, hour),
            "buckets must be aligned"
        );
        assert_eq!(b.count, 1);
    }
    for w in buckets.windows(2) {
        assert!(
            (w[0].bucket_start, &w[0].receiver_id) < (w[1].bucket_start, &w[1].receiver_id),
            "bucket order"
        );
    }
    let one = query
        .time_buckets(Duration::from_secs(4 * 3600), TimeWindow::default(), Some(&rid))
        .await
        .expect("buckets");
    assert_eq!(one.len(), 1);
    assert_eq!(one[0].count, 4);
    let want_mean = rows
        .iter()
        .filter(|m| m.receiver_id == rid)
        .filter_map(|m| m.metrics.snr_db)
        .sum::<f64>()
        / 4.0;
    assert!((one[0].mean_snr_db.expect("mean") - want_mean).abs() < 1e-9);

    // Sessions.
    let rep = SessionReport {
        errors: Vec::new(),
        session_id: sessions[0],
        request: AcquisitionRequest::new(145.5e6, Duration::from_secs(10)),
        status: SessionStatus::Partial,
        started_at: base,
        finished_at: base + chrono::Duration::seconds(11),
        receivers: vec![],
        committed: false,
    };
    store.record_session(&rep).await.expect("record_session");
    store.record_session(&rep).await.expect("record_session is an upsert");
    assert_eq!(query.session(sessions[0]).await.expect("session"), Some(rep.clone()));
    assert_eq!(query.session(SessionId::new()).await.expect("session"), None);
    let recent = query.recent_sessions(10).await.expect("recent_sessions");
    assert!(recent.iter().any(|r| r.session_id == sessions[0]));

    // A committed session's record is never downgraded by a report that is not committed (a
    // failed or late attempt), but a committed report may replace it.
    let committed = SessionReport {
        session_id: sessions[1],
        status: SessionStatus::Success,
        committed: true,
        ..rep.clone()
    };
    store
        .record_session(&committed)
        .await
        .expect("record committed session");
    let failed_attempt = SessionReport {
        status: SessionStatus::Failed,
        committed: false,
        finished_at: base + chrono::Duration::seconds(99),
        ..committed.clone()
    };
    store
        .record_session(&failed_attempt)
        .await
        .expect("record of a late failed attempt");
    assert_eq!(
        query.session(sessions[1]).await.expect("session"),
        Some(committed.clone()),
        "a committed session's record was downgraded"
    );
    let repaired = SessionReport {
        status: SessionStatus::Partial,
        ..committed.clone()
    };
    store.record_session(&repaired).await.expect("record committed again");
    assert_eq!(query.session(sessions[1]).await.expect("session"), Some(repaired));

    // Concurrent writers lose nothing.
    let base2 = base + chrono::Duration::days(1);
    let mut handles = Vec::new();
    for w in 0..8 {
        let batch: Vec<Measurement> = (0..25)
            .map(|k| {
                test_measurement(
                    SessionId::new(),
                    &format!("w{w}"),
                    base2 + chrono::Duration::seconds(k),
                    Some(k as f64),
                )
            })
            .collect();
        handles.push(batch);
    }
    let results = futures::future::join_all(handles.iter().map(|b| store.record_measurements(b))).await;
    for r in results {
        assert_eq!(r.expect("concurrent batch").inserted, 25);
    }
    let day2 = query
        .measurements(&MeasurementQuery {
            since: Some(base2),
            limit: Some(10_000),
            ..Default::default()
        })
        .await
        .expect("query");
    assert_eq!(day2.len(), 200, "8 concurrent writers x 25 rows");

    // Receiver registry.
    let info = test_receiver("reg-1");
    let rec = registry
        .upsert_receiver(&info, &serde_json::json!({"gain": 30}))
        .await
        .expect("upsert");
    assert!(rec.active);
    let mut info2 = info.clone();
    info2.name = "Renamed".into();
    let rec2 = registry
        .upsert_receiver(&info2, &serde_json::json!({}))
        .await
        .expect("upsert again");
    assert_eq!(rec2.info.name, "Renamed");
    assert_eq!(rec2.created_at, rec.created_at, "update keeps created_at");
    let got = registry.receiver(&info.id).await.expect("get").expect("present");
    assert_eq!(got.info, info2);
    assert!(
        registry
            .list_receivers(true)
            .await
            .expect("list")
            .iter()
            .any(|r| r.info.id == info.id)
    );
    assert!(registry.deactivate_receiver(&info.id).await.expect("deactivate"));
    assert!(
        !registry
            .list_receivers(true)
            .await
            .expect("list")
            .iter()
            .any(|r| r.info.id == info.id)
    );
    assert!(
        registry
            .list_receivers(false)
            .await
            .expect("list")
            .iter()
            .any(|r| r.info.id == info.id && !r.active)
    );
    assert!(
        !registry
            .deactivate_receiver(&ReceiverId::new("reg-none").expect("id"))
            .await
            .expect("deactivate")
    );
    assert!(
        registry
            .upsert_receiver(&info, &serde_json::Value::Null)
            .await
            .expect("reactivate")
            .active
    );
}
