use serde_json::{Value, json};

use super::metadata::{LegacyMetadata, python_json_to_json};
use super::names::classify;
use super::websdr_map::WebsdrMap;

#[test]
fn names_are_classified() {
    assert_eq!(classify("websdr_3.npy"), Some((3, true)));
    assert_eq!(classify("websdr_12_metadata.json"), Some((12, false)));
    for bad in [
        "websdr_.npy",
        "websdr_x.npy",
        "torino.npy",
        "websdr_3.json",
        "websdr_-1.npy",
        "manifest.json",
    ] {
        assert_eq!(classify(bad), None, "{bad}");
    }
}

#[test]
fn python_json_tokens_become_null() {
    let b = br#"{"a": NaN, "b": -Infinity, "c": "NaN Infinity \"x", "d": [Infinity, 1.5]}"#;
    let v: Value = serde_json::from_slice(&python_json_to_json(b)).unwrap();
    assert_eq!(
        v,
        json!({"a": null, "b": null, "c": "NaN Infinity \"x", "d": [null, 1.5]})
    );
}

#[test]
fn old_metadata_parses() {
    let m = LegacyMetadata::parse(
        br#"{"websdr_id": 2, "frequency_mhz": 145.5, "sample_rate_khz": 12.5, "samples_count": 125000,
            "timestamp_utc": "2025-10-22T10:00:01.250000", "metrics": {"snr_db": 0.2, "psd_dbm": -Infinity}}"#,
    )
    .unwrap();
    assert_eq!(m.websdr_id, 2);
    assert_eq!(m.timestamp.to_rfc3339(), "2025-10-22T10:00:01.250+00:00");
    assert_eq!(m.metrics["psd_dbm"], Value::Null);
    for bad in [
        &br#"{"websdr_id": "x", "frequency_mhz": 1, "sample_rate_khz": 1, "samples_count": 1, "timestamp_utc": "2025-10-22T10:00:00"}"#[..],
        br#"{"websdr_id": 1, "sample_rate_khz": 1, "samples_count": 1, "timestamp_utc": "2025-10-22T10:00:00"}"#,
        br#"{"websdr_id": 1, "frequency_mhz": 1, "sample_rate_khz": 1, "samples_count": 1, "timestamp_utc": "yesterday"}"#,
        br#"[1, 2]"#,
        br#"{"websdr_id": 1"#,
    ] {
        assert!(LegacyMetadata::parse(bad).is_err(), "{}", String::from_utf8_lossy(bad));
    }
}

#[test]
fn mapping_file() {
    let m = WebsdrMap::parse("# old ids\n1 = torino\n2 \"genova\"\n\n7=websdr-7 # kept\n", |_| None).unwrap();
    assert_eq!(m.get(1).unwrap().id.as_str(), "torino");
    assert_eq!(m.get(2).unwrap().id.as_str(), "genova");
    assert_eq!(m.websdr_id_of(&"websdr-7".parse().unwrap()), Some(7));
    let (r, mapped) = m.receiver(9);
    assert!(!mapped);
    assert_eq!(r.id.as_str(), "websdr-9");
    for bad in ["x = torino", "1 = ../up", "1 = a\n1 = b", "1"] {
        let e = WebsdrMap::parse(bad, |_| None).unwrap_err();
        assert!(e.to_string().contains("line"), "{bad}: {e}");
    }
}
