//! The conformance suite of [`LocalizationStore`] backends.

use chrono::{TimeZone, Utc};

use crate::error::Error;
use crate::ids::SessionId;
use crate::localization::{LocalizationRecord, LocalizationStore, RejectedStation};

/// A localization result as `heimdall-locate` serialises it (the fields the row takes out, and
/// more that only the JSON keeps).
pub fn test_localization_result(latitude: f64, longitude: f64) -> serde_json::Value {
    serde_json::json!({
        "latitude": latitude,
        "longitude": longitude,
        "error_ellipse_m": {"semi_major": 812.25, "semi_minor": 140.125, "orientation_deg": 37.5, "confidence": 0.95},
        "sigma_ellipse_m": {"semi_major": 332.0, "semi_minor": 57.3, "orientation_deg": 37.5, "confidence": 0.3935},
        "method": "tdoa",
        "stations_used": ["torino", "aquila-di-giaveno", "milano-baggio"],
        "stations_rejected": [{"id": "genova", "reason": "host clock (NTP, milliseconds): not usable for TDoA"},
                              {"id": "zürich \"q\"", "reason": "all-zero or empty IQ; ünïcode"}],
        "pairs": [{"a": "torino", "b": "milano-baggio", "delay_s": -1.25e-5, "sigma_s": 3.1e-8}],
        "notes": ["a note"],
        "chi2": 1.0e-3,
        "dof": 1
    })
}

/// The [`LocalizationStore`] contract: one record per session, written once, read back exactly
/// (time to the microsecond, every column, the whole result), malformed records refused.
pub async fn localization_store_conformance(store: &dyn LocalizationStore) {
    let session = SessionId::new();
    assert_eq!(
        store.localization(session).await.expect("read a missing localization"),
        None,
        "an unknown session has no localization"
    );
    let at = Utc.with_ymd_and_hms(2026, 11, 30, 10, 11, 12).single().expect("date")
        + chrono::Duration::nanoseconds(345_678_901);
    let rec = LocalizationRecord::from_result(session, at, &test_localization_result(44.93125, 8.2071))
        .expect("a well-formed result");
    assert!(
        store.record_localization(&rec).await.expect("first write"),
        "first write stores"
    );
    let back = store
        .localization(session)
        .await
        .expect("read back")
        .expect("the localization just recorded");
    let mut want = rec.clone();
    want.located_at = at - chrono::Duration::nanoseconds(901);
    assert_eq!(
        back, want,
        "a localization must read back exactly (time to the microsecond)"
    );
    assert_eq!(
        back.stations_rejected[1],
        RejectedStation {
            id: "zürich \"q\"".into(),
            reason: "all-zero or empty IQ; ünïcode".into(),
        }
    );

    // Written once: a second record for the session changes nothing.
    let mut other = LocalizationRecord::from_result(session, Utc::now(), &test_localization_result(45.0, 9.0))
        .expect("another result");
    other.method = "rssi".into();
    assert!(
        !store.record_localization(&other).await.expect("second write"),
        "a second localization of a session must not be stored"
    );
    assert_eq!(
        store.localization(session).await.expect("read again").as_ref(),
        Some(&want),
        "the first localization must stay untouched"
    );

    // Another session is independent.
    let s2 = SessionId::new();
    let r2 = LocalizationRecord::from_result(s2, at, &test_localization_result(-33.5, -70.25)).expect("result");
    assert!(store.record_localization(&r2).await.expect("other session"));
    assert_eq!(
        store.localization(s2).await.expect("read").map(|r| r.latitude),
        Some(-33.5)
    );

    // Malformed records are refused before anything is stored.
    let s3 = SessionId::new();
    let mut broken = LocalizationRecord::from_result(s3, at, &test_localization_result(1.0, 2.0)).expect("result");
    broken.latitude = f64::NAN;
    match store.record_localization(&broken).await {
        Err(Error::InvalidInput { .. }) => {}
        other => panic!("a NaN latitude must be refused with InvalidInput, got {other:?}"),
    }
    assert_eq!(
        store.localization(s3).await.expect("read"),
        None,
        "nothing stored for a refused record"
    );
}
