//! rtl_tcp parsers on arbitrary bytes.
#![cfg(feature = "rtl_tcp")]

use heimdall_websdr::rtl_tcp::protocol::*;
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn header_parser_never_panics(data in proptest::collection::vec(any::<u8>(), 0..32)) {
        match parse_header(&data) {
            Ok(h) => { prop_assert_eq!(&data[..4], b"RTL0"); let _ = h.tuner_name(); }
            Err(HeaderError::Truncated(n)) => prop_assert!(n < 12),
            Err(HeaderError::BadMagic(_)) => prop_assert!(&data[..4] != b"RTL0"),
        }
    }

    #[test]
    fn header_roundtrip(tuner in any::<u32>(), gains in any::<u32>()) {
        let h = RtlHeader { tuner, gain_count: gains };
        prop_assert_eq!(parse_header(&h.encode()), Ok(h));
    }

    #[test]
    fn command_roundtrip(id in any::<u8>(), p in any::<u32>()) {
        prop_assert_eq!(parse_command(&encode_command(id, p)), Some((id, p)));
    }

    #[test]
    fn u8_decoder(data in proptest::collection::vec(any::<u8>(), 0..1000)) {
        let mut out = Vec::new();
        prop_assert_eq!(decode_u8_iq(&data, &mut out), data.len() / 2);
        for (c, p) in out.iter().zip(data.chunks_exact(2)) {
            prop_assert!((c.re - (f32::from(p[0]) - 127.5) / 127.5).abs() < 1e-6);
            prop_assert!((c.im - (f32::from(p[1]) - 127.5) / 127.5).abs() < 1e-6);
        }
    }
}
