//! Property tests: OpenWebRX frame, message and ADPCM parsers never panic on arbitrary bytes,
//! and the ADPCM decoders agree with each other and with known vectors.

use heimdall_websdr::openwebrx::adpcm::{
    ImaAdpcmDecoder, ImaAdpcmEncoder, STEP_TABLE, SyncAdpcmDecoder, decode_fft_frame, encode_with_sync,
};
use heimdall_websdr::openwebrx::protocol::{
    ConfigState, ServerHello, decode_f32le, decode_s16le, parse_server_frame, parse_server_text, parse_version,
};
use proptest::prelude::*;

proptest! {
    #[test]
    fn adpcm_decoders_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..4096), split in 1usize..600) {
        let mut out = Vec::new();
        ImaAdpcmDecoder::new().decode_into(&bytes, &mut out);
        prop_assert_eq!(out.len(), bytes.len() * 2);
        let mut d = SyncAdpcmDecoder::new();
        let mut o2 = Vec::new();
        for c in bytes.chunks(split) {
            d.decode_into(c, &mut o2);
        }
        prop_assert!(o2.len() <= bytes.len() * 2);
        let mut f = Vec::new();
        decode_fft_frame(&bytes, &mut f);
        prop_assert_eq!(f.len(), (bytes.len() * 2).saturating_sub(10));
    }

    #[test]
    fn sync_blocks_with_hostile_state_never_panic(idx in any::<i16>(), pred in any::<i16>(), tail in proptest::collection::vec(any::<u8>(), 0..2100)) {
        let mut wire = b"SYNC".to_vec();
        wire.extend_from_slice(&idx.to_le_bytes());
        wire.extend_from_slice(&pred.to_le_bytes());
        wire.extend_from_slice(&tail);
        let mut out = Vec::new();
        SyncAdpcmDecoder::new().decode_into(&wire, &mut out);
        prop_assert!(out.len() >= tail.len().min(1001) * 2);
        prop_assert!(out.len() % 2 == 0);
    }

    #[test]
    fn sync_stream_equals_raw_decode(samples in proptest::collection::vec(any::<i16>(), 0..6000), split in 1usize..3000) {
        let wire = encode_with_sync(&samples);
        let mut enc = ImaAdpcmEncoder::new();
        let mut raw = Vec::new();
        enc.encode(&samples, &mut raw);
        let mut expect = Vec::new();
        ImaAdpcmDecoder::new().decode_into(&raw, &mut expect);
        let mut d = SyncAdpcmDecoder::new();
        let mut out = Vec::new();
        for c in wire.chunks(split) {
            d.decode_into(c, &mut out);
        }
        prop_assert_eq!(out, expect);
        prop_assert_eq!(d.skipped_bytes(), 0);
    }

    #[test]
    fn frames_and_messages_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512), text in ".{0,300}") {
        let _ = parse_server_frame(&bytes);
        let mut carry = None;
        let mut out = Vec::new();
        decode_s16le(&mut carry, &bytes, &mut out);
        prop_assert_eq!(out.len(), bytes.len() / 2);
        let mut f = Vec::new();
        decode_f32le(&bytes, &mut f);
        let _ = parse_server_text(&text);
        let _ = parse_server_text(&String::from_utf8_lossy(&bytes));
        for t in ["config", "smeter", "profiles", "backoff", "sdr_error", "receiver_details"] {
            let _ = parse_server_text(&format!(r#"{{"type":"{t}","value":{text}}}"#));
        }
        let _ = ServerHello::parse(&format!("CLIENT DE SERVER {text}")).map(|h| h.uses_sync_adpcm());
        let _ = parse_version(&text);
        let mut c = ConfigState::default();
        if let Ok(serde_json::Value::Object(m)) = serde_json::from_str::<serde_json::Value>(&text) {
            c.merge(m);
        }
        let _ = (c.center_freq(), c.samp_rate(), c.covers(1e6, -1.0, 1.0));
    }
}

#[test]
fn step_table_is_ima() {
    assert_eq!(STEP_TABLE.len(), 89);
    assert_eq!((STEP_TABLE[0], STEP_TABLE[44], STEP_TABLE[88]), (7, 494, 32767));
}

/// A known vector: a few bytes decoded by hand with the IMA algorithm from a sync state.
#[test]
fn sync_known_vector() {
    // SYNC, index 8 (step 16), predictor 1000; then 0x07 0x80.
    let wire = [b'S', b'Y', b'N', b'C', 8, 0, 0xE8, 0x03, 0x07, 0x80];
    let mut out = Vec::new();
    SyncAdpcmDecoder::new().decode_into(&wire, &mut out);
    // code 7 @ step 16: 2 + 16 + 8 + 4 = 30 -> 1030, index 16 (step 34)
    // code 0 @ step 34: 4 -> 1034, index 15 (step 31)
    // code 0 @ step 31: 3 -> 1037, index 14 (step 28)
    // code 8 @ step 28: -3 -> 1034, index 13
    assert_eq!(out, vec![1030, 1034, 1037, 1034]);
}
