//! KiwiSDR server frames: tag, `SND` (IQ and mono) and `MSG` parsing, GPS time and
//! percent-encoding, on arbitrary bytes.
//!
//! Checks beyond "no panic": an IQ `SND` frame re-encoded with `encode_iq_snd` from what was
//! parsed gives back the frame's bytes (byte 11, unused, aside); the IQ decoder yields one sample
//! per 4 payload bytes, each within ±1; a valid GPS stamp converts to a time within half a week
//! (plus a second) of the reference clock; percent-encoding round-trips.
#![no_main]

use chrono::{DateTime, TimeDelta};
use heimdall_websdr::kiwisdr::protocol::{self, FrameTag};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let tag = protocol::frame_tag(data);
    match protocol::parse_snd(data) {
        Ok(frame) => {
            assert_eq!(tag, Ok(FrameTag::Snd));
            if frame.is_iq() {
                assert_eq!(frame.payload.len() % 4, 0);
                let mut samples = Vec::new();
                let n = protocol::decode_iq_i16(frame.payload, frame.little_endian(), &mut samples);
                assert_eq!(n, frame.iq_len());
                assert_eq!(samples.len(), n);
                assert!(samples.iter().all(|c| c.re.abs() <= 1.0 && c.im.abs() <= 1.0));
                let pairs: Vec<(i16, i16)> = frame
                    .payload
                    .chunks_exact(4)
                    .map(|c| {
                        let (i, q) = ([c[0], c[1]], [c[2], c[3]]);
                        if frame.little_endian() {
                            (i16::from_le_bytes(i), i16::from_le_bytes(q))
                        } else {
                            (i16::from_be_bytes(i), i16::from_be_bytes(q))
                        }
                    })
                    .collect();
                let gps = frame.gps.expect("IQ frames carry GPS fields");
                let mut out = Vec::new();
                protocol::encode_iq_snd(
                    frame.flags,
                    frame.seq,
                    frame.smeter_raw,
                    gps,
                    &pairs,
                    frame.little_endian(),
                    &mut out,
                );
                assert_eq!(out.len(), data.len());
                assert_eq!(out[..11], data[..11]);
                assert_eq!(out[12..], data[12..]);

                // The host clock, taken from the sequence number: any time from a week after the
                // GPS epoch (1980-01-06) to 2116.
                let now = DateTime::from_timestamp(315_964_800 + 604_800 + i64::from(frame.seq), 0).expect("in range");
                if let Some(t) = protocol::gps_to_utc(&gps, now) {
                    assert!(gps.is_valid());
                    let off = (t - now).abs();
                    assert!(
                        off <= TimeDelta::seconds(protocol::SECONDS_PER_WEEK / 2 + 1),
                        "{t} vs {now}"
                    );
                    let back = protocol::utc_to_gps(t, gps.last_gps_solution);
                    assert_eq!(back, gps);
                }
            }
            let _ = frame.rssi_dbm();
        }
        Err(_) => {}
    }
    if let Ok(items) = protocol::parse_msg(data) {
        for (name, value) in items {
            assert!(!name.contains(' '));
            let _ = protocol::classify(name, value);
            if let Some(v) = value {
                let decoded = protocol::percent_decode(v);
                assert_eq!(protocol::percent_decode(&protocol::percent_encode(&decoded)), decoded);
            }
        }
    }
    if let Ok(text) = std::str::from_utf8(data) {
        let encoded = protocol::percent_encode(text);
        assert!(
            encoded
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_.~%".contains(&b))
        );
        assert_eq!(protocol::percent_decode(&encoded), text);
    }
});
