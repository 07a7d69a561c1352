//! Conversions from receiver sample formats into [`Complex32`] IQ and `f32` audio.
//!
//! Every conversion comes in two shapes: `*_into` appends to a caller-owned `Vec` (reuse it to
//! avoid allocation), `*_to_slice` writes into a caller slice and returns how many samples it
//! wrote. Interleaved input must hold whole I/Q pairs: an odd number of values is an
//! [`Error::InvalidInput`], never a silently dropped value.
//!
//! | format | bytes per IQ sample | scale | source |
//! |---|---|---|---|
//! | [`IqFormat::I16Le`] | 4 | `1/32768` | KiwiSDR (after byte swap), HTTP IQ, SigMF `ci16_le` |
//! | [`IqFormat::I16Be`] | 4 | `1/32768` | KiwiSDR IQ frames (network order) |
//! | [`IqFormat::U8`] | 2 | `(v - 127.5) / 127.5` | rtl_tcp |
//! | [`IqFormat::F32Le`] | 8 | `1` | SigMF `cf32_le`, `.npy` complex64 |
//!
//! ```
//! use heimdall_core::dsp::{IqFormat, convert_into};
//! let mut iq = Vec::new();
//! convert_into(IqFormat::U8, &[255, 0, 127, 128], &mut iq).unwrap();
//! assert_eq!(iq.len(), 2);
//! assert_eq!(iq[0].re, 1.0);
//! assert_eq!(iq[0].im, -1.0);
//! assert!(convert_into(IqFormat::U8, &[1, 2, 3], &mut iq).is_err());
//! ```

use num_complex::Complex32;

use crate::error::{Error, Result};

/// Interleaved IQ sample formats delivered by receivers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IqFormat {
    /// Signed 16-bit little-endian I, Q; scaled by `1/32768`.
    I16Le,
    /// Signed 16-bit big-endian I, Q; scaled by `1/32768`.
    I16Be,
    /// Unsigned 8-bit I, Q with offset 127.5 (rtl_tcp); `(v - 127.5) / 127.5`.
    U8,
    /// 32-bit float little-endian I, Q; unscaled.
    F32Le,
}

impl IqFormat {
    /// Bytes per interleaved value (one of I or Q).
    pub fn bytes_per_value(self) -> usize {
        match self {
            IqFormat::I16Le | IqFormat::I16Be => 2,
            IqFormat::U8 => 1,
            IqFormat::F32Le => 4,
        }
    }
    /// Bytes per complex sample.
    pub fn bytes_per_sample(self) -> usize {
        2 * self.bytes_per_value()
    }
    /// Complex samples held by `bytes`, or an error if they are not whole I/Q pairs.
    pub fn samples_in(self, bytes: &[u8]) -> Result<usize> {
        let per = self.bytes_per_sample();
        if !bytes.len().is_multiple_of(per) {
            return Err(Error::invalid(
                "samples",
                format!(
                    "{} bytes of {self:?} is not a whole number of I/Q pairs ({per} bytes each): odd-length interleaved input",
                    bytes.len()
                ),
            ));
        }
        Ok(bytes.len() / per)
    }
}

const I16_SCALE: f32 = 1.0 / 32768.0;
const U8_SCALE: f32 = 1.0 / 127.5;

#[inline]
fn convert_exact(format: IqFormat, bytes: &[u8], out: &mut [Complex32]) {
    match format {
        IqFormat::I16Le => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = Complex32::new(
                    f32::from(i16::from_le_bytes([c[0], c[1]])) * I16_SCALE,
                    f32::from(i16::from_le_bytes([c[2], c[3]])) * I16_SCALE,
                );
            }
        }
        IqFormat::I16Be => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(4)) {
                *o = Complex32::new(
                    f32::from(i16::from_be_bytes([c[0], c[1]])) * I16_SCALE,
                    f32::from(i16::from_be_bytes([c[2], c[3]])) * I16_SCALE,
                );
            }
        }
        IqFormat::U8 => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(2)) {
                *o = Complex32::new(
                    (f32::from(c[0]) - 127.5) * U8_SCALE,
                    (f32::from(c[1]) - 127.5) * U8_SCALE,
                );
            }
        }
        IqFormat::F32Le => {
            for (o, c) in out.iter_mut().zip(bytes.chunks_exact(8)) {
                *o = Complex32::new(
                    f32::from_le_bytes([c[0], c[1], c[2], c[3]]),
                    f32::from_le_bytes([c[4], c[5], c[6], c[7]]),
                );
            }
        }
    }
}

/// Converts interleaved `bytes` of `format` and appends the samples to `out`.
/// Returns the number of samples appended.
pub fn convert_into(format: IqFormat, bytes: &[u8], out: &mut Vec<Complex32>) -> Result<usize> {
    let n = format.samples_in(bytes)?;
    let start = out.len();
    out.resize(start + n, Complex32::default());
    convert_exact(format, bytes, &mut out[start..]);
    Ok(n)
}

/// Converts interleaved `bytes` of `format` into the front of `out`; returns the number of
/// samples written. `out` must have room for all of them.
pub fn convert_to_slice(format: IqFormat, bytes: &[u8], out: &mut [Complex32]) -> Result<usize> {
    let n = format.samples_in(bytes)?;
    let Some(dst) = out.get_mut(..n) else {
        return Err(Error::invalid(
            "out",
            format!("output slice holds {} samples, input has {n}", out.len()),
        ));
    };
    convert_exact(format, bytes, dst);
    Ok(n)
}

/// Interleaved int16 little-endian bytes into `out` (appended). See [`convert_into`].
pub fn i16_le_into(bytes: &[u8], out: &mut Vec<Complex32>) -> Result<usize> {
    convert_into(IqFormat::I16Le, bytes, out)
}

/// Interleaved int16 big-endian bytes into `out` (appended). See [`convert_into`].
pub fn i16_be_into(bytes: &[u8], out: &mut Vec<Complex32>) -> Result<usize> {
    convert_into(IqFormat::I16Be, bytes, out)
}

/// Interleaved unsigned 8-bit (offset 127.5, rtl_tcp) bytes into `out` (appended).
pub fn u8_into(bytes: &[u8], out: &mut Vec<Complex32>) -> Result<usize> {
    convert_into(IqFormat::U8, bytes, out)
}

/// Interleaved int16 little-endian bytes into `out`; returns samples written.
pub fn i16_le_to_slice(bytes: &[u8], out: &mut [Complex32]) -> Result<usize> {
    convert_to_slice(IqFormat::I16Le, bytes, out)
}

/// Interleaved int16 big-endian bytes into `out`; returns samples written.
pub fn i16_be_to_slice(bytes: &[u8], out: &mut [Complex32]) -> Result<usize> {
    convert_to_slice(IqFormat::I16Be, bytes, out)
}

/// Interleaved unsigned 8-bit bytes into `out`; returns samples written.
pub fn u8_to_slice(bytes: &[u8], out: &mut [Complex32]) -> Result<usize> {
    convert_to_slice(IqFormat::U8, bytes, out)
}

fn odd_values(n: usize) -> Error {
    Error::invalid(
        "samples",
        format!("{n} interleaved values is odd: I/Q input must hold whole pairs"),
    )
}

/// Interleaved `f32` values (I, Q, I, Q, ...) appended to `out` as complex samples.
pub fn f32_interleaved_into(values: &[f32], out: &mut Vec<Complex32>) -> Result<usize> {
    if !values.len().is_multiple_of(2) {
        return Err(odd_values(values.len()));
    }
    out.extend(values.chunks_exact(2).map(|c| Complex32::new(c[0], c[1])));
    Ok(values.len() / 2)
}

/// Interleaved `f32` values into `out`; returns samples written.
pub fn f32_interleaved_to_slice(values: &[f32], out: &mut [Complex32]) -> Result<usize> {
    if !values.len().is_multiple_of(2) {
        return Err(odd_values(values.len()));
    }
    let n = values.len() / 2;
    let Some(dst) = out.get_mut(..n) else {
        return Err(Error::invalid(
            "out",
            format!("output slice holds {} samples, input has {n}", out.len()),
        ));
    };
    for (o, c) in dst.iter_mut().zip(values.chunks_exact(2)) {
        *o = Complex32::new(c[0], c[1]);
    }
    Ok(n)
}

fn mono_len(bytes: &[u8]) -> Result<usize> {
    if !bytes.len().is_multiple_of(2) {
        return Err(Error::invalid(
            "samples",
            format!(
                "{} bytes of int16 audio is odd: input must hold whole samples",
                bytes.len()
            ),
        ));
    }
    Ok(bytes.len() / 2)
}

/// Mono int16 little-endian audio bytes appended to `out` as `f32` scaled by `1/32768`.
pub fn i16_le_mono_into(bytes: &[u8], out: &mut Vec<f32>) -> Result<usize> {
    let n = mono_len(bytes)?;
    out.extend(
        bytes
            .chunks_exact(2)
            .map(|c| f32::from(i16::from_le_bytes([c[0], c[1]])) * I16_SCALE),
    );
    Ok(n)
}

/// Mono int16 little-endian audio bytes into `out`; returns samples written.
pub fn i16_le_mono_to_slice(bytes: &[u8], out: &mut [f32]) -> Result<usize> {
    let n = mono_len(bytes)?;
    let Some(dst) = out.get_mut(..n) else {
        return Err(Error::invalid(
            "out",
            format!("output slice holds {} samples, input has {n}", out.len()),
        ));
    };
    for (o, c) in dst.iter_mut().zip(bytes.chunks_exact(2)) {
        *o = f32::from(i16::from_le_bytes([c[0], c[1]])) * I16_SCALE;
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int16_both_endians_and_extremes() {
        let le = [0x00, 0x80, 0xff, 0x7f, 0x01, 0x00, 0x00, 0x00];
        let mut v = Vec::new();
        assert_eq!(i16_le_into(&le, &mut v).unwrap(), 2);
        assert_eq!(v[0], Complex32::new(-1.0, 32767.0 / 32768.0));
        assert_eq!(v[1], Complex32::new(1.0 / 32768.0, 0.0));
        let be: Vec<u8> = le.chunks(2).flat_map(|c| [c[1], c[0]]).collect();
        let mut w = [Complex32::default(); 3];
        assert_eq!(i16_be_to_slice(&be, &mut w).unwrap(), 2);
        assert_eq!(&w[..2], &v[..]);
        assert!(i16_le_into(&le[..6], &mut v).is_err());
        assert!(i16_be_to_slice(&be, &mut w[..1]).is_err());
    }

    #[test]
    fn u8_offset_and_f32() {
        let mut v = vec![Complex32::new(9.0, 9.0)];
        u8_into(&[0, 255, 127, 128], &mut v).unwrap();
        assert_eq!(v.len(), 3, "appends");
        assert_eq!(v[1], Complex32::new(-1.0, 1.0));
        assert_eq!(v[2], Complex32::new(-0.5 / 127.5, 0.5 / 127.5));
        let mut s = [Complex32::default(); 2];
        assert_eq!(f32_interleaved_to_slice(&[1.0, 2.0, 3.0, 4.0], &mut s).unwrap(), 2);
        assert_eq!(s[1], Complex32::new(3.0, 4.0));
        assert!(f32_interleaved_into(&[1.0], &mut v).is_err());
        let bytes: Vec<u8> = [1.5f32, -2.0].iter().flat_map(|x| x.to_le_bytes()).collect();
        let mut c = Vec::new();
        convert_into(IqFormat::F32Le, &bytes, &mut c).unwrap();
        assert_eq!(c, vec![Complex32::new(1.5, -2.0)]);
    }

    #[test]
    fn mono_audio() {
        let mut a = Vec::new();
        i16_le_mono_into(&[0x00, 0x40, 0x00, 0xc0], &mut a).unwrap();
        assert_eq!(a, vec![0.5, -0.5]);
        assert!(i16_le_mono_into(&[1], &mut a).is_err());
        let mut s = [0f32; 1];
        assert!(i16_le_mono_to_slice(&[0, 0, 0, 0], &mut s).is_err());
    }
}
