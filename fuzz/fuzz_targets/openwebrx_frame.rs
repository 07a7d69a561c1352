//! OpenWebRX server frames: binary frame types, int16 and float32 payloads, text messages (the
//! handshake line and JSON), the merged config, on arbitrary bytes.
//!
//! Checks beyond "no panic": int16 audio decoded in two pieces (the odd byte carried across the
//! split) equals the audio decoded whole, with one sample per two bytes; float32 FFT payloads
//! give one bin per four bytes; a text frame that parses as JSON with a string `type` is never
//! reported as malformed JSON; S-meter dBFS is finite.
#![no_main]

use heimdall_websdr::openwebrx::protocol::{self, ProtocolError, ServerFrame, ServerText};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match protocol::parse_server_frame(data) {
        Ok(ServerFrame::Audio(p) | ServerFrame::HdAudio(p)) => {
            let mut whole = Vec::new();
            let mut carry = None;
            protocol::decode_s16le(&mut carry, p, &mut whole);
            assert_eq!(whole.len(), p.len() / 2);
            assert_eq!(carry.is_some(), p.len() % 2 == 1);
            // The same bytes split where the first byte says (WebSocket frames split anywhere).
            let at = usize::from(data[0]) % (p.len() + 1);
            let mut pieces = Vec::new();
            let mut carry2 = None;
            protocol::decode_s16le(&mut carry2, &p[..at], &mut pieces);
            protocol::decode_s16le(&mut carry2, &p[at..], &mut pieces);
            assert_eq!(pieces, whole);
            assert_eq!(carry2, carry);
            assert!(whole.iter().all(|s| (-1.0..1.0).contains(s)));
        }
        Ok(ServerFrame::Fft(p) | ServerFrame::SecondaryFft(p)) => {
            let mut bins = Vec::new();
            protocol::decode_f32le(p, &mut bins);
            assert_eq!(bins.len(), p.len() / 4);
        }
        Err(ProtocolError::EmptyFrame) => assert!(data.is_empty()),
        Err(_) => assert!(!data.is_empty()),
    }

    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let parsed = protocol::parse_server_text(text);
    let typed = serde_json::from_str::<serde_json::Value>(text)
        .ok()
        .is_some_and(|v| v.get("type").is_some_and(serde_json::Value::is_string));
    match parsed {
        Ok(ServerText::Hello(h)) => {
            let _ = h.uses_sync_adpcm();
        }
        Ok(ServerText::Config(map)) => {
            let mut state = protocol::ConfigState::default();
            state.merge(map);
            assert!(state.center_freq().is_none_or(f64::is_finite));
            assert!(state.samp_rate().is_none_or(f64::is_finite));
            let _ = state.profile();
            let _ = state.covers(1e6, -5e3, 5e3);
        }
        Ok(ServerText::Smeter(v)) => {
            assert!(protocol::smeter_to_dbfs(v).is_none_or(f64::is_finite));
        }
        Ok(_) => {}
        Err(ProtocolError::BadJson(_)) => assert!(!typed, "typed JSON reported as bad JSON: {text:?}"),
        Err(_) => assert!(typed),
    }
    let _ = protocol::parse_version(text);
});
