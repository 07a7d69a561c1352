//! rtl_tcp: the 12-byte server header, the 5-byte commands and the u8 IQ stream, on arbitrary
//! bytes.
//!
//! Checks beyond "no panic": a parsed header re-encodes to the input's first 12 bytes and any
//! input of 12 bytes or more starting with `RTL0` parses; a command parses back to what
//! `encode_command` wrote; the IQ stream decoded in two reads (an odd byte carried, as a socket
//! splits anywhere) equals the stream decoded whole, one sample per two bytes, each within ±1.
#![no_main]

use heimdall_websdr::rtl_tcp::protocol::{self, HeaderError};
use libfuzzer_sys::fuzz_target;
use num_complex::Complex32;

fuzz_target!(|data: &[u8]| {
    match protocol::parse_header(data) {
        Ok(h) => {
            assert_eq!(h.encode()[..], data[..protocol::HEADER_LEN]);
            let _ = h.tuner_name();
        }
        Err(HeaderError::Truncated(n)) => assert!(n == data.len() && n < protocol::HEADER_LEN),
        Err(HeaderError::BadMagic(m)) => assert!(&m != protocol::MAGIC && data.len() >= protocol::HEADER_LEN),
    }

    match protocol::parse_command(data) {
        Some((id, param)) => assert_eq!(protocol::encode_command(id, param)[..], data[..protocol::COMMAND_LEN]),
        None => assert!(data.len() < protocol::COMMAND_LEN),
    }

    // The sample stream after the header, in two reads split where the first byte says.
    let stream = data.get(protocol::HEADER_LEN..).unwrap_or_default();
    let mut whole: Vec<Complex32> = Vec::new();
    let n = protocol::decode_u8_iq(stream, &mut whole);
    assert_eq!(n, stream.len() / 2);
    assert_eq!(whole.len(), n);
    assert!(whole.iter().all(|c| c.re.abs() <= 1.0 && c.im.abs() <= 1.0));
    let at = data.first().map_or(0, |&b| usize::from(b)) % (stream.len() + 1);
    let mut pieces = Vec::new();
    let (first, rest) = stream.split_at(at);
    let used = protocol::decode_u8_iq(first, &mut pieces) * 2;
    // The reader keeps an odd trailing byte for the next read.
    let mut next = first[used..].to_vec();
    next.extend_from_slice(rest);
    protocol::decode_u8_iq(&next, &mut pieces);
    assert_eq!(pieces, whole);

    let rate = f64::from(u32::from_le_bytes(
        data.get(..4).and_then(|b| b.try_into().ok()).unwrap_or_default(),
    ));
    if protocol::is_valid_sample_rate(rate) {
        assert!((225_001.0..=3_200_000.0).contains(&rate));
    }
});
