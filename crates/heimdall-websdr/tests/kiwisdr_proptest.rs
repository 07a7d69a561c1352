//! KiwiSDR parsers on arbitrary bytes: never panic, and round-trip what they encode.
#![cfg(feature = "kiwisdr")]

use chrono::{TimeDelta, Utc};
use heimdall_websdr::kiwisdr::protocol::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn snd_parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..2200)) {
        let _ = frame_tag(&data);
        if let Ok(f) = parse_snd(&data) {
            let mut out = Vec::new();
            let n = decode_iq_i16(f.payload, f.little_endian(), &mut out);
            prop_assert_eq!(n, f.payload.len() / 4);
            prop_assert!(out.iter().all(|c| c.re.abs() <= 1.0 && c.im.abs() <= 1.0));
            let _ = f.rssi_dbm();
            if let Some(g) = f.gps { let _ = gps_to_utc(&g, Utc::now()); }
        }
    }

    #[test]
    fn snd_with_valid_header_and_random_tail(flags in any::<u8>(), seq in any::<u32>(), tail in proptest::collection::vec(any::<u8>(), 0..64)) {
        let mut data = b"SND".to_vec();
        data.push(flags);
        data.extend_from_slice(&seq.to_le_bytes());
        data.extend_from_slice(&tail);
        if let Ok(f) = parse_snd(&data) {
            prop_assert_eq!(f.seq, seq);
        }
    }

    #[test]
    fn msg_parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..512)) {
        if let Ok(items) = parse_msg(&data) {
            for (k, v) in items {
                let _ = classify(k, v);
                if let Some(v) = v { let _ = percent_decode(v); }
            }
        }
    }

    #[test]
    fn msg_text_never_panics(s in "MSG [a-z_=%0-9A-F ,.]{0,200}") {
        for (k, v) in parse_msg(s.as_bytes()).unwrap() {
            let _ = classify(k, v);
        }
    }

    #[test]
    fn percent_roundtrip(s in ".{0,64}") {
        prop_assert_eq!(percent_decode(&percent_encode(&s)), s);
    }

    #[test]
    fn status_parser_never_panics(s in ".{0,400}") {
        let st = heimdall_websdr::discovery::KiwiStatus::parse(&s);
        for have_password in [false, true] {
            let h = st.to_health(have_password);
            // Available means: not offline, not full, and not locked out.
            if h.available {
                prop_assert!(!st.offline());
                prop_assert!(have_password || !st.auth_required());
            }
        }
        let _ = st.position();
    }

    #[test]
    fn snd_roundtrip(seq in any::<u32>(), raw in 0u16..=1304, samples in proptest::collection::vec(any::<(i16, i16)>(), 0..600), le in any::<bool>()) {
        let mut buf = Vec::new();
        let gps = GpsStamp { last_gps_solution: 4, gpssec: 1, gpsnsec: 2 };
        encode_iq_snd(0, seq, raw, gps, &samples, le, &mut buf);
        let f = parse_snd(&buf).unwrap();
        prop_assert_eq!((f.seq, f.smeter_raw, f.gps), (seq, raw, Some(gps)));
        let mut out = Vec::new();
        decode_iq_i16(f.payload, f.little_endian(), &mut out);
        for (c, (i, q)) in out.iter().zip(samples.iter()) {
            prop_assert_eq!(c.re, f32::from(*i) / 32768.0);
            prop_assert_eq!(c.im, f32::from(*q) / 32768.0);
        }
    }

    #[test]
    fn gps_roundtrip_near_now(offset_ms in -200_000_000i64..200_000_000, skew_s in -86_400i64..86_400) {
        let t = Utc::now() + TimeDelta::milliseconds(offset_ms);
        let s = utc_to_gps(t, 3);
        prop_assert_eq!(gps_to_utc(&s, t + TimeDelta::seconds(skew_s)), Some(t));
    }
}
