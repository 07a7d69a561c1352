//! rtl_tcp wire format (osmocom `rtl_tcp.c`): the 12-byte header, 5-byte big-endian commands and
//! unsigned 8-bit interleaved IQ. The parsers never panic.

use num_complex::Complex32;

/// rtl_tcp URLs: `tcp` or `rtl_tcp` (read as `rtltcp`: `_` is not allowed in a URL scheme); a
/// bare `host[:port]` is read as `tcp://`.
pub const URL_RULE: crate::registry::UrlRule = crate::registry::UrlRule {
    schemes: &["rtl_tcp", "rtltcp", "tcp"],
    bare_host: Some("tcp"),
    aliases: &[("rtl_tcp", "rtltcp")],
};

/// Header length.
pub const HEADER_LEN: usize = 12;
/// Header magic.
pub const MAGIC: &[u8; 4] = b"RTL0";
/// Command length: u8 id + u32 big-endian parameter.
pub const COMMAND_LEN: usize = 5;

/// Set centre frequency (Hz).
pub const CMD_SET_FREQ: u8 = 0x01;
/// Set sample rate (Hz).
pub const CMD_SET_SAMPLE_RATE: u8 = 0x02;
/// Set gain mode (0 auto, 1 manual).
pub const CMD_SET_GAIN_MODE: u8 = 0x03;
/// Set tuner gain (tenths of a dB).
pub const CMD_SET_GAIN: u8 = 0x04;
/// Set frequency correction (ppm, signed in the u32).
pub const CMD_SET_FREQ_CORRECTION: u8 = 0x05;
/// Set IF stage gain.
pub const CMD_SET_IF_GAIN: u8 = 0x06;
/// Set test mode.
pub const CMD_SET_TEST_MODE: u8 = 0x07;
/// Set RTL2832 digital AGC (0/1).
pub const CMD_SET_AGC_MODE: u8 = 0x08;
/// Set direct sampling.
pub const CMD_SET_DIRECT_SAMPLING: u8 = 0x09;
/// Set offset tuning.
pub const CMD_SET_OFFSET_TUNING: u8 = 0x0a;
/// Set RTL crystal frequency.
pub const CMD_SET_RTL_XTAL: u8 = 0x0b;
/// Set tuner crystal frequency.
pub const CMD_SET_TUNER_XTAL: u8 = 0x0c;
/// Set tuner gain by index.
pub const CMD_SET_GAIN_BY_INDEX: u8 = 0x0d;
/// Set bias tee.
pub const CMD_SET_BIAS_TEE: u8 = 0x0e;

/// Why the header is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HeaderError {
    /// Fewer than 12 bytes.
    #[error("rtl_tcp header truncated: {0} of 12 bytes")]
    Truncated(usize),
    /// The first four bytes are not `RTL0`.
    #[error("not an rtl_tcp server: header magic is {0:02x?}, expected \"RTL0\"")]
    BadMagic([u8; 4]),
}

/// The server's greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RtlHeader {
    /// Tuner type (big-endian u32 on the wire).
    pub tuner: u32,
    /// Number of tuner gain steps.
    pub gain_count: u32,
}

impl RtlHeader {
    /// The tuner's name.
    pub fn tuner_name(&self) -> &'static str {
        tuner_name(self.tuner)
    }
    /// The 12 header bytes.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut b = [0u8; HEADER_LEN];
        b[..4].copy_from_slice(MAGIC);
        b[4..8].copy_from_slice(&self.tuner.to_be_bytes());
        b[8..].copy_from_slice(&self.gain_count.to_be_bytes());
        b
    }
}

/// Tuner type names (`enum rtlsdr_tuner`).
pub fn tuner_name(t: u32) -> &'static str {
    match t {
        1 => "E4000",
        2 => "FC0012",
        3 => "FC0013",
        4 => "FC2580",
        5 => "R820T",
        6 => "R828D",
        _ => "unknown",
    }
}

/// Parses the 12-byte header.
pub fn parse_header(b: &[u8]) -> Result<RtlHeader, HeaderError> {
    let Some(h) = b.get(..HEADER_LEN) else {
        return Err(HeaderError::Truncated(b.len()));
    };
    if &h[..4] != MAGIC {
        return Err(HeaderError::BadMagic([h[0], h[1], h[2], h[3]]));
    }
    Ok(RtlHeader {
        tuner: u32::from_be_bytes([h[4], h[5], h[6], h[7]]),
        gain_count: u32::from_be_bytes([h[8], h[9], h[10], h[11]]),
    })
}

/// A 5-byte command: id, then the parameter big-endian.
pub fn encode_command(id: u8, param: u32) -> [u8; COMMAND_LEN] {
    let p = param.to_be_bytes();
    [id, p[0], p[1], p[2], p[3]]
}

/// Parses a 5-byte command (`None` if shorter).
pub fn parse_command(b: &[u8]) -> Option<(u8, u32)> {
    let c = b.get(..COMMAND_LEN)?;
    Some((c[0], u32::from_be_bytes([c[1], c[2], c[3], c[4]])))
}

/// Appends the IQ pairs of `bytes` (unsigned 8-bit, I then Q) to `out`, converted with
/// `(x − 127.5) / 127.5`. A trailing odd byte is ignored. Returns the pairs added.
pub fn decode_u8_iq(bytes: &[u8], out: &mut Vec<Complex32>) -> usize {
    let whole = &bytes[..bytes.len() / 2 * 2];
    // Whole pairs only, so the conversion cannot fail.
    heimdall_core::dsp::convert_into(heimdall_core::dsp::IqFormat::U8, whole, out).unwrap_or(0)
}

/// Whether an RTL2832U can run at `hz` (225 001–300 000 or 900 001–3 200 000 S/s).
pub fn is_valid_sample_rate(hz: f64) -> bool {
    (225_001.0..=300_000.0).contains(&hz) || (900_001.0..=3_200_000.0).contains(&hz)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_roundtrip_and_errors() {
        let h = RtlHeader {
            tuner: 5,
            gain_count: 29,
        };
        let b = h.encode();
        assert_eq!(&b, b"RTL0\0\0\0\x05\0\0\0\x1d");
        assert_eq!(parse_header(&b), Ok(h));
        assert_eq!(h.tuner_name(), "R820T");
        assert_eq!(parse_header(&b[..7]), Err(HeaderError::Truncated(7)));
        assert!(matches!(parse_header(b"HTTP/1.1 200"), Err(HeaderError::BadMagic(_))));
    }

    #[test]
    fn commands_are_big_endian() {
        assert_eq!(encode_command(CMD_SET_FREQ, 100_000_000), [1, 0x05, 0xf5, 0xe1, 0x00]);
        assert_eq!(
            encode_command(CMD_SET_FREQ_CORRECTION, (-3i32) as u32),
            [5, 0xff, 0xff, 0xff, 0xfd]
        );
        assert_eq!(parse_command(&[4, 0, 0, 1, 0xf0]), Some((4, 496)));
        assert_eq!(parse_command(&[4, 0]), None);
    }

    #[test]
    fn u8_conversion() {
        let mut v = Vec::new();
        assert_eq!(decode_u8_iq(&[0, 255, 127, 128, 9], &mut v), 2);
        assert_eq!(v[0], Complex32::new(-1.0, 1.0));
        assert!((v[1].re + 0.5 / 127.5).abs() < 1e-6 && (v[1].im - 0.5 / 127.5).abs() < 1e-6);
    }
}
