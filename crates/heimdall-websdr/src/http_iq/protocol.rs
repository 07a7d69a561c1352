//! The HTTP IQ contract: `GET {base}/iq?tune=<Hz>&rate=<Hz>` answering interleaved int16
//! little-endian IQ, decoded across arbitrary body-chunk boundaries.

use num_complex::Complex32;

/// HTTP IQ URLs: the base URL over `http` or `https`.
pub const URL_RULE: crate::registry::UrlRule = crate::registry::UrlRule {
    schemes: &["http", "https"],
    bare_host: None,
    aliases: &[],
};

/// The request URL for `tune_hz` and `rate_hz` under `base` (a trailing `/` is ignored).
pub fn iq_url(base: &str, tune_hz: u64, rate_hz: u64) -> String {
    format!("{}/iq?tune={tune_hz}&rate={rate_hz}", base.trim_end_matches('/'))
}

const SCALE: f32 = 1.0 / 32768.0;

/// Decodes interleaved int16 LE IQ from a byte stream whose chunks may split a sample.
#[derive(Debug, Default, Clone)]
pub struct I16LeIqDecoder {
    carry: [u8; 4],
    carry_len: usize,
}

impl I16LeIqDecoder {
    /// A decoder with no pending bytes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes of an incomplete sample held back from the last chunk (0..=3).
    pub fn pending_bytes(&self) -> usize {
        self.carry_len
    }

    /// Decodes `bytes`, appending at most `max` samples to `out` (int16 / 32768). Bytes beyond
    /// `max` samples are dropped. Returns the samples appended.
    pub fn push(&mut self, mut bytes: &[u8], out: &mut Vec<Complex32>, max: usize) -> usize {
        let mut n = 0;
        if max == 0 {
            return 0;
        }
        if self.carry_len > 0 {
            let need = 4 - self.carry_len;
            let take = need.min(bytes.len());
            self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&bytes[..take]);
            self.carry_len += take;
            bytes = &bytes[take..];
            if self.carry_len < 4 {
                return 0;
            }
            out.push(sample(&self.carry));
            self.carry_len = 0;
            n = 1;
        }
        let whole = (bytes.len() / 4).min(max - n);
        // Whole samples only, so the conversion cannot fail.
        let _ = heimdall_core::dsp::convert_into(heimdall_core::dsp::IqFormat::I16Le, &bytes[..whole * 4], out);
        n += whole;
        if n < max {
            let rest = &bytes[whole * 4..];
            self.carry[..rest.len()].copy_from_slice(rest);
            self.carry_len = rest.len();
        }
        n
    }
}

#[inline]
fn sample(p: &[u8]) -> Complex32 {
    Complex32::new(
        f32::from(i16::from_le_bytes([p[0], p[1]])) * SCALE,
        f32::from(i16::from_le_bytes([p[2], p[3]])) * SCALE,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_are_reassembled() {
        let mut bytes = Vec::new();
        for k in 0..10i16 {
            bytes.extend_from_slice(&(k * 1000).to_le_bytes());
            bytes.extend_from_slice(&(-k).to_le_bytes());
        }
        for split in 1..7 {
            let mut d = I16LeIqDecoder::new();
            let mut out = Vec::new();
            for c in bytes.chunks(split) {
                d.push(c, &mut out, usize::MAX);
            }
            assert_eq!(out.len(), 10);
            assert_eq!(out[3], Complex32::new(3000.0 / 32768.0, -3.0 / 32768.0));
            assert_eq!(d.pending_bytes(), 0);
        }
        let mut d = I16LeIqDecoder::new();
        let mut out = Vec::new();
        assert_eq!(d.push(&bytes, &mut out, 4), 4);
        assert_eq!(iq_url("http://h/x/", 7, 8), "http://h/x/iq?tune=7&rate=8");
    }
}
