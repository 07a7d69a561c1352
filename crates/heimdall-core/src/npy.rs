//! The NumPy `.npy` format (v1.0 written; v1.0, v2.0 and v3.0 read): just the header, so that
//! writers can stream samples after it and readers can stream them after parsing it.
//!
//! ```
//! use heimdall_core::npy::{NpyHeader, Dtype};
//! let h = NpyHeader { dtype: Dtype::Complex64, len: 1000 };
//! let bytes = h.encode().unwrap();
//! assert_eq!(bytes.len() % 64, 0);
//! let (parsed, offset) = NpyHeader::parse(&bytes).unwrap();
//! assert_eq!(parsed, h);
//! assert_eq!(offset, bytes.len());
//! ```

use crate::capture::SampleFormat;
use crate::error::{Error, Result};

const MAGIC: &[u8; 6] = b"\x93NUMPY";
/// numpy aligns the data to this many bytes (since numpy 1.14).
pub const ALIGN: usize = 64;
/// numpy refuses larger headers without `allow_pickle`.
pub const MAX_HEADER_LEN: usize = 10_000;

/// Element types Heimdall reads and writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dtype {
    /// `<c8`: complex64 little-endian (SigMF `cf32_le`).
    Complex64,
    /// `<f4`: float32 little-endian (SigMF `rf32_le`).
    Float32,
}

impl Dtype {
    /// The numpy `descr` string.
    pub fn descr(&self) -> &'static str {
        match self {
            Dtype::Complex64 => "<c8",
            Dtype::Float32 => "<f4",
        }
    }
    /// Bytes per element.
    pub fn size(&self) -> usize {
        match self {
            Dtype::Complex64 => 8,
            Dtype::Float32 => 4,
        }
    }
    /// The matching sample format.
    pub fn sample_format(&self) -> SampleFormat {
        match self {
            Dtype::Complex64 => SampleFormat::ComplexF32,
            Dtype::Float32 => SampleFormat::RealF32,
        }
    }
    /// The dtype for a sample format.
    pub fn for_format(f: SampleFormat) -> Dtype {
        match f {
            SampleFormat::ComplexF32 => Dtype::Complex64,
            SampleFormat::RealF32 => Dtype::Float32,
        }
    }
}

/// A one-dimensional, C-order `.npy` header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NpyHeader {
    /// Element type.
    pub dtype: Dtype,
    /// Number of elements.
    pub len: u64,
}

fn malformed(reason: impl Into<String>) -> Error {
    Error::Malformed {
        backend: "npy",
        origin: "npy header".into(),
        reason: reason.into(),
    }
}

impl NpyHeader {
    /// Encodes a v1.0 header exactly as `numpy.save` does: sorted keys, a trailing comma,
    /// 64-byte alignment and room for the shape to grow.
    pub fn encode(&self) -> Result<Vec<u8>> {
        Self::encode_shape(self.dtype, &[self.len])
    }

    /// Encodes a v1.0 header of a C-order array of any shape (`[rows, cols]` for a matrix),
    /// byte for byte as `numpy.save` writes it.
    ///
    /// ```
    /// use heimdall_core::npy::{Dtype, NpyHeader};
    /// let h = NpyHeader::encode_shape(Dtype::Float32, &[3, 1024]).unwrap();
    /// assert_eq!(h.len() % 64, 0);
    /// assert!(std::str::from_utf8(&h[10..]).unwrap().starts_with("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 1024), }"));
    /// ```
    pub fn encode_shape(dtype: Dtype, shape: &[u64]) -> Result<Vec<u8>> {
        let dims = match shape {
            [] => String::new(),
            [n] => format!("{n},"),
            more => more.iter().map(u64::to_string).collect::<Vec<_>>().join(", "),
        };
        let dict = format!(
            "{{'descr': '{}', 'fortran_order': False, 'shape': ({dims}), }}",
            dtype.descr()
        );
        // numpy reserves 21 digits for the growth axis (the first, in C order); keep the same
        // spare room.
        let spare = shape.first().map_or(0, |n| 21usize.saturating_sub(n.to_string().len()));
        let unpadded = MAGIC.len() + 2 + 2 + dict.len() + spare + 1;
        let pad = (ALIGN - unpadded % ALIGN) % ALIGN;
        let header_len = dict.len() + spare + pad + 1;
        if header_len > u16::MAX as usize {
            return Err(malformed("header too long for format v1.0"));
        }
        let mut out = Vec::with_capacity(10 + header_len);
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&[1, 0]);
        out.extend_from_slice(&(header_len as u16).to_le_bytes());
        out.extend_from_slice(dict.as_bytes());
        out.resize(out.len() + spare + pad, b' ');
        out.push(b'\n');
        debug_assert_eq!(out.len() % ALIGN, 0);
        Ok(out)
    }

    /// Parses a header from the start of `buf`; returns it and the offset of the data.
    ///
    /// Accepts exactly one-dimensional, C-order `<c8` or `<f4` arrays (and `|`/`=` byte-order
    /// marks meaning native little-endian); everything else is a clear [`Error::Malformed`]
    /// naming what was found. Needs at most `10 + MAX_HEADER_LEN + 2` bytes.
    pub fn parse(buf: &[u8]) -> Result<(NpyHeader, usize)> {
        if buf.len() < 10 || &buf[..6] != MAGIC {
            return Err(malformed("not a .npy file (missing \\x93NUMPY magic)"));
        }
        let major = buf[6];
        let (hlen, start) = match major {
            1 => (u16::from_le_bytes([buf[8], buf[9]]) as usize, 10),
            2 | 3 => {
                if buf.len() < 12 {
                    return Err(malformed("truncated header length"));
                }
                (u32::from_le_bytes([buf[8], buf[9], buf[10], buf[11]]) as usize, 12)
            }
            v => return Err(malformed(format!("unsupported .npy format version {v}"))),
        };
        if hlen > MAX_HEADER_LEN {
            return Err(malformed(format!(
                "header of {hlen} bytes is larger than {MAX_HEADER_LEN}"
            )));
        }
        let end = start + hlen;
        if buf.len() < end {
            return Err(malformed(format!(
                "truncated: header needs {end} bytes, got {}",
                buf.len()
            )));
        }
        let text = std::str::from_utf8(&buf[start..end]).map_err(|_| malformed("header is not text"))?;
        let descr = dict_value(text, "descr").ok_or_else(|| malformed("header has no 'descr'"))?;
        let fortran = dict_value(text, "fortran_order").ok_or_else(|| malformed("header has no 'fortran_order'"))?;
        let shape = dict_value(text, "shape").ok_or_else(|| malformed("header has no 'shape'"))?;
        let descr = descr.trim().trim_matches(|c| c == '\'' || c == '"');
        let dtype = match descr {
            "<c8" | "=c8" => Dtype::Complex64,
            "<f4" | "=f4" => Dtype::Float32,
            other => {
                let what = match other {
                    ">c8" => "big-endian complex64".to_owned(),
                    "<c16" | ">c16" => "complex128".to_owned(),
                    "<i2" | ">i2" => "int16".to_owned(),
                    o => format!("dtype {o:?}"),
                };
                return Err(malformed(format!(
                    "{what} is not supported: expected complex64 ('<c8') or float32 ('<f4'); convert with x.astype('<c8')"
                )));
            }
        };
        if fortran.trim() != "False" {
            let dims = shape.trim().trim_matches(|c| c == '(' || c == ')');
            if dims.split(',').filter(|s| !s.trim().is_empty()).count() > 1 {
                return Err(malformed(
                    "Fortran-order arrays are not supported; save a 1-D C-order array",
                ));
            }
        }
        let dims: Vec<&str> = shape
            .trim()
            .trim_start_matches('(')
            .trim_end_matches(')')
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect();
        if dims.len() != 1 {
            return Err(malformed(format!("shape {} is not one-dimensional", shape.trim())));
        }
        let len: u64 = dims[0]
            .trim_end_matches('L')
            .parse()
            .map_err(|_| malformed(format!("bad shape {}", shape.trim())))?;
        let header = NpyHeader { dtype, len };
        header.data_len()?;
        Ok((header, end))
    }

    /// Bytes of data that follow the header; an error when they exceed what numpy can address
    /// (`i64::MAX` bytes: numpy says "array is too big"), so a shape cannot wrap around.
    pub fn data_len(&self) -> Result<u64> {
        self.len
            .checked_mul(self.dtype.size() as u64)
            .filter(|&n| i64::try_from(n).is_ok())
            .ok_or_else(|| {
                malformed(format!(
                    "array is too big: {} elements of {} bytes exceed {} bytes",
                    self.len,
                    self.dtype.size(),
                    i64::MAX
                ))
            })
    }
}

/// The raw text of `key`'s value in a Python dict literal (up to the next top-level comma).
fn dict_value<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let k1 = format!("'{key}'");
    let k2 = format!("\"{key}\"");
    let pos = text
        .find(&k1)
        .map(|p| p + k1.len())
        .or_else(|| text.find(&k2).map(|p| p + k2.len()))?;
    let rest = text[pos..].trim_start().strip_prefix(':')?;
    let mut depth = 0i32;
    for (i, c) in rest.char_indices() {
        match c {
            '(' | '[' => depth += 1,
            ')' | ']' => depth -= 1,
            ',' | '}' if depth == 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    None
}

/// Decodes the data part of a `.npy` file into samples.
pub fn decode_samples(header: &NpyHeader, data: &[u8]) -> Result<crate::capture::SampleBlock> {
    let need = header.data_len()?;
    let Some(data) = usize::try_from(need).ok().and_then(|n| data.get(..n)) else {
        return Err(malformed(format!(
            "truncated data: {} bytes for {} elements need {need}",
            data.len(),
            header.len
        )));
    };
    Ok(le_samples(header.dtype == Dtype::Complex64, data))
}

/// Little-endian `f32` samples: complex pairs (8 bytes each) or real values (4 bytes each); a
/// partial sample at the end is left out.
pub(crate) fn le_samples(complex: bool, data: &[u8]) -> crate::capture::SampleBlock {
    if complex {
        crate::capture::SampleBlock::Complex(
            data.chunks_exact(8)
                .map(|c| {
                    num_complex::Complex32::new(
                        f32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                        f32::from_le_bytes([c[4], c[5], c[6], c[7]]),
                    )
                })
                .collect(),
        )
    } else {
        crate::capture::SampleBlock::Real(
            data.chunks_exact(4)
                .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        )
    }
}

/// Reads a whole `.npy` file's bytes into samples.
pub fn decode(bytes: &[u8]) -> Result<crate::capture::SampleBlock> {
    let (h, off) = NpyHeader::parse(bytes)?;
    decode_samples(&h, &bytes[off..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encode_matches_numpy_layout() {
        let h = NpyHeader {
            dtype: Dtype::Complex64,
            len: 1000,
        }
        .encode()
        .unwrap();
        // numpy 2.x: HEADER_LEN 118, data at 128.
        assert_eq!(h.len(), 128);
        assert_eq!(u16::from_le_bytes([h[8], h[9]]), 118);
        let text = std::str::from_utf8(&h[10..]).unwrap();
        assert!(text.starts_with("{'descr': '<c8', 'fortran_order': False, 'shape': (1000,), }"));
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn encode_shape_matches_numpy_bytes() {
        // What numpy 2.x `np.save` writes for zeros of these shapes, '<f4' (header, magic excluded).
        for (shape, dims) in [
            (&[3u64, 1024][..], "(3, 1024)"),
            (&[0, 64][..], "(0, 64)"),
            (&[][..], "()"),
            (&[12345][..], "(12345,)"),
        ] {
            let h = NpyHeader::encode_shape(Dtype::Float32, shape).unwrap();
            assert_eq!(h.len(), 128, "{dims}");
            assert_eq!(&h[..8], b"\x93NUMPY\x01\x00");
            assert_eq!(usize::from(u16::from_le_bytes([h[8], h[9]])), 118);
            let dict = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': {dims}, }}");
            let mut expect = dict.into_bytes();
            expect.resize(117, b' ');
            expect.push(b'\n');
            assert_eq!(&h[10..], &expect[..], "{dims}");
        }
    }

    #[test]
    fn parse_rejects_garbage_without_panicking() {
        for bad in [
            &b""[..],
            b"\x93NUMPY",
            b"\x93NUMPY\x01\x00\xff\xff",
            b"PK\x03\x04xxxxxxxxxx",
            b"\x93NUMPY\x09\x00\x00\x00",
        ] {
            assert!(NpyHeader::parse(bad).is_err());
        }
        let mut h = NpyHeader {
            dtype: Dtype::Float32,
            len: 3,
        }
        .encode()
        .unwrap();
        h.truncate(20);
        assert!(NpyHeader::parse(&h).is_err());
    }

    #[test]
    fn shapes_whose_byte_length_overflows_are_too_big() {
        // 2305843009213696000 * 8 wraps to 16384 in u64: without checked arithmetic this header
        // followed by 16 384 bytes read as 2 048 samples. numpy refuses it ("array is too big").
        for (descr, len) in [
            ("<c8", 2_305_843_009_213_696_000u64),
            ("<f4", u64::MAX),
            ("<c8", 1 << 60),
        ] {
            let dict = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({len},), }}");
            let mut b = b"\x93NUMPY\x01\x00".to_vec();
            let mut text = dict.into_bytes();
            text.resize(118 - 1, b' ');
            text.push(b'\n');
            b.extend_from_slice(&u16::try_from(text.len()).unwrap().to_le_bytes());
            b.extend_from_slice(&text);
            b.extend(std::iter::repeat_n(0u8, 16_384));
            let err = NpyHeader::parse(&b).unwrap_err().to_string();
            assert!(err.contains("array is too big"), "{len}: {err}");
            assert!(decode(&b).is_err());
        }
        let h = NpyHeader {
            dtype: Dtype::Complex64,
            len: u64::MAX / 4,
        };
        assert!(h.data_len().is_err());
        assert!(decode_samples(&h, &[0; 64]).is_err());
        // The largest shape numpy can address is still accepted (and then found truncated).
        let h = NpyHeader {
            dtype: Dtype::Float32,
            len: (i64::MAX as u64) / 4,
        };
        assert_eq!(h.data_len().unwrap(), (i64::MAX as u64) / 4 * 4);
        assert!(
            decode_samples(&h, &[0; 64])
                .unwrap_err()
                .to_string()
                .contains("truncated")
        );
    }

    #[test]
    fn round_trip_lengths() {
        for len in [0u64, 1, 9, 10, 99_999, 1 << 40] {
            for dtype in [Dtype::Complex64, Dtype::Float32] {
                let h = NpyHeader { dtype, len };
                let b = h.encode().unwrap();
                assert_eq!(b.len() % 64, 0);
                assert_eq!(NpyHeader::parse(&b).unwrap(), (h, b.len()));
            }
        }
    }
}
