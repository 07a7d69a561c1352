use heimdall_core::{GeoPosition, ReceiverId, ReceiverInfo, ReceiverKind};
use serde_json::json;

use super::*;

fn info(kind: ReceiverKind, url: &str) -> ReceiverInfo {
    ReceiverInfo::new(ReceiverId::new("r1").unwrap(), "R1", kind, url)
        .with_position(GeoPosition::new(45.0, 7.5, None).unwrap())
}

#[test]
fn an_unregistered_kind_is_refused_as_not_compiled_in() {
    let reg = Registry::new();
    let err = reg
        .build(
            &info(ReceiverKind::KiwiSdr, "http://k:8073"),
            &json!({}),
            &BuildContext::new(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("kiwisdr is not compiled in"), "{err}");
    assert!(reg.parse_url(ReceiverKind::KiwiSdr, "http://k").is_err());
    assert_eq!(reg.kinds().count(), 0);
}

#[test]
fn every_kiwisdr_scheme_is_accepted_and_tls_is_refused() {
    let reg = Registry::with_defaults();
    for u in ["http://k:8074", "ws://k", "kiwisdr://k", "kiwi://k", "tcp://k:1", "k:1"] {
        assert!(reg.parse_url(ReceiverKind::KiwiSdr, u).is_ok(), "{u}");
    }
    let why = reg.parse_url(ReceiverKind::KiwiSdr, "https://k").unwrap_err();
    assert!(why.contains("not usable for kind kiwisdr"), "{why}");
    assert!(reg.parse_url(ReceiverKind::KiwiSdr, "http://u:pw@k").is_err());
    assert!(reg.parse_url(ReceiverKind::RtlTcp, "rtl_tcp://h:1234").is_ok());
    assert!(reg.parse_url(ReceiverKind::RtlTcp, "h:1234").is_ok());
    assert!(reg.parse_url(ReceiverKind::RtlTcp, "http://h").is_err());
    assert!(reg.parse_url(ReceiverKind::Simulated, "sim://x").is_ok());
}

#[test]
fn a_refused_scheme_is_refused_by_build_too() {
    let reg = Registry::with_defaults();
    let err = reg
        .build(
            &info(ReceiverKind::HttpIq, "ftp://h/"),
            &json!({}),
            &BuildContext::new(),
        )
        .unwrap_err();
    assert!(err.to_string().contains("not usable for kind http_iq"), "{err}");
}

/// Found by the `receivers_file` fuzz target: `url = "http://h:8073/?password=..."` was
/// accepted and the password shown in the receiver list, errors and `Debug` output.
#[test]
fn secret_query_parameters_are_refused_without_echoing_them() {
    let reg = Registry::with_defaults();
    for u in [
        "http://h:8073/?password=Pl4nt",
        "h:8073/?x=1&token=Pl4nt",
        "https://h/?X-Amz-Signature=Pl4nt",
        // Found by the url_options fuzz target: a parameter without `=` is all key.
        "http://h/? postgres://secret:Pl4nt@",
    ] {
        for kind in [ReceiverKind::KiwiSdr, ReceiverKind::OpenWebRx, ReceiverKind::HttpIq] {
            if let Err(why) = reg.parse_url(kind, u) {
                assert!(!why.contains("Pl4nt"), "{why}");
                continue;
            }
            panic!("{u} accepted for {kind}");
        }
    }
    assert!(
        reg.parse_url(ReceiverKind::KiwiSdr, "http://h:8073/?freq=7100&mode=iq")
            .is_ok()
    );
}

#[test]
fn an_unknown_option_field_is_refused() {
    let reg = Registry::with_defaults();
    for (kind, url) in [
        (ReceiverKind::KiwiSdr, "http://k:8073"),
        (ReceiverKind::OpenWebRx, "http://o/"),
        (ReceiverKind::RtlTcp, "tcp://h:1234"),
        (ReceiverKind::HttpIq, "http://h/"),
        (ReceiverKind::Simulated, "sim://x"),
    ] {
        let why = reg.check_options(kind, &json!({"colour": "red"})).unwrap_err();
        assert!(why.contains("unknown field `colour`"), "{kind}: {why}");
        let err = reg
            .build(&info(kind, url), &json!({"colour": "red"}), &BuildContext::new())
            .unwrap_err();
        assert!(err.to_string().contains("unknown field `colour`"), "{kind}: {err}");
    }
    // Another kind's option is unknown too.
    assert!(
        reg.check_options(ReceiverKind::KiwiSdr, &json!({"mode": "usb"}))
            .is_err()
    );
    // A wrong type is refused, a password never shown.
    let why = reg
        .check_options(ReceiverKind::KiwiSdr, &json!({"gain_db": "loud"}))
        .unwrap_err();
    assert!(why.contains("invalid type"), "{why}");
}

#[test]
fn a_record_becomes_a_source_without_text() {
    let reg = Registry::with_defaults();
    let ctx = BuildContext::new();
    let owrx = reg
        .build(
            &info(ReceiverKind::OpenWebRx, "wss://o.example/ws/"),
            &json!({"mode": "nfm", "passband_low_hz": -4000.0, "passband_high_hz": 4000.0}),
            &ctx,
        )
        .unwrap();
    assert_eq!(owrx.info().id.as_str(), "r1");
    let rtl = reg
        .build(
            &info(ReceiverKind::RtlTcp, "rtl_tcp://h:1234"),
            &json!({"sample_rate_hz": 1.024e6, "gain_db": 20.0, "ppm": -3}),
            &ctx,
        )
        .unwrap();
    assert_eq!(rtl.info().kind, ReceiverKind::RtlTcp);
    // `null` options: none given.
    assert!(
        reg.build(&info(ReceiverKind::KiwiSdr, "kiwi://k"), &json!(null), &ctx)
            .is_ok()
    );
    // The same checks as the receivers file.
    let err = reg
        .build(
            &info(ReceiverKind::OpenWebRx, "http://o/"),
            &json!({"passband_low_hz": 10.0}),
            &ctx,
        )
        .unwrap_err();
    assert!(err.to_string().contains("passband_high_hz: missing"), "{err}");
    let err = reg
        .build(
            &info(ReceiverKind::OpenWebRx, "http://o/"),
            &json!({"mode": "N FM"}),
            &ctx,
        )
        .unwrap_err();
    assert!(err.to_string().contains("mode:"), "{err}");
    // Simulated receivers need the transmitter in the context.
    let err = reg
        .build(&info(ReceiverKind::Simulated, "sim://x"), &json!({}), &ctx)
        .unwrap_err();
    assert!(err.to_string().contains("[simulation]"), "{err}");
    ctx.insert(std::sync::Arc::new(SimulationSpec {
        seed: 1,
        position: GeoPosition::new(45.1, 7.6, None).unwrap(),
        frequency_hz: 145e6,
        eirp_dbm: 30.0,
        modulation: "carrier".into(),
        line: 1,
    }));
    assert!(
        reg.build(
            &info(ReceiverKind::Simulated, "sim://x"),
            &json!({"sample_rate_hz": 48000.0}),
            &ctx
        )
        .is_ok()
    );
}

#[test]
fn status_bases() {
    let reg = Registry::with_defaults();
    let kiwi = reg.parse_url(ReceiverKind::KiwiSdr, "kiwi://k:8073").unwrap();
    assert_eq!(http_base(&kiwi), "http://k:8073/");
    let owrx = reg
        .parse_url(ReceiverKind::OpenWebRx, "wss://o.example/sdr/ws/")
        .unwrap();
    assert_eq!(http_base(&owrx), "https://o.example/sdr/");
}
