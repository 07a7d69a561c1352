//! Reading `.npy` captures into an [`Analyzer`] and reporting metrics as JSON.

use std::io::Read;

use num_complex::Complex32;

use crate::error::{Error, Result};
use crate::npy::{Dtype, MAX_HEADER_LEN, NpyHeader};

use super::analyzer::{Analysis, Analyzer};
use super::config::AnalyzerConfig;
use super::convert::{IqFormat, convert_into};

const CHUNK_BYTES: usize = 1 << 20;

fn malformed(origin: &str, reason: impl Into<String>) -> Error {
    Error::Malformed {
        backend: "npy",
        origin: origin.to_owned(),
        reason: reason.into(),
    }
}

fn read_error(origin: &str, e: std::io::Error) -> Error {
    Error::Storage {
        backend: "local",
        operation: "read",
        key: origin.to_owned(),
        retryable: false,
        source: Box::new(e),
    }
}

/// Reads up to `buf.len()` bytes (fewer only at end of input).
fn read_full(r: &mut impl Read, buf: &mut [u8], origin: &str) -> Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match r.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(k) => filled += k,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(read_error(origin, e)),
        }
    }
    Ok(filled)
}

/// Streams a complex64 `.npy` capture from `reader` through an [`Analyzer`], 1 MiB at a time
/// (the capture never has to fit in memory). `origin` names the source in errors.
///
/// Anything but a one-dimensional C-order little-endian complex64 array (complex128, int16,
/// float32, big-endian, Fortran-order 2-D...) is rejected with [`Error::Malformed`] naming
/// what was found; a file shorter than its header says is rejected too.
pub fn analyze_npy<R: Read>(mut reader: R, origin: &str, cfg: AnalyzerConfig) -> Result<Analysis> {
    let mut analyzer = Analyzer::new(cfg)?;
    let mut head = vec![0u8; 12 + MAX_HEADER_LEN];
    let got = read_full(&mut reader, &mut head, origin)?;
    head.truncate(got);
    let (header, offset) = NpyHeader::parse(&head).map_err(|e| match e {
        Error::Malformed { reason, .. } => malformed(origin, reason),
        other => other,
    })?;
    if header.dtype != Dtype::Complex64 {
        return Err(malformed(
            origin,
            format!(
                "dtype {} ({:?}) is not supported by the metrics: expected complex64 IQ ('<c8')",
                header.dtype.descr(),
                header.dtype
            ),
        ));
    }
    let need = header.data_len()?;
    let mut carry: Vec<u8> = head.get(offset..).unwrap_or_default().to_vec();
    let mut consumed: u64 = 0;
    let mut iq: Vec<Complex32> = Vec::with_capacity(CHUNK_BYTES / 8);
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        // Use whole samples of `carry`, up to the declared length.
        let left = need - consumed;
        let usable = (carry.len() as u64).min(left) as usize / 8 * 8;
        if usable > 0 {
            iq.clear();
            convert_into(IqFormat::F32Le, &carry[..usable], &mut iq)?;
            analyzer.push_complex(&iq)?;
            consumed += usable as u64;
            carry.drain(..usable);
        }
        if consumed == need {
            break;
        }
        let k = read_full(&mut reader, &mut buf, origin)?;
        if k == 0 {
            return Err(malformed(
                origin,
                format!(
                    "truncated: header declares {} samples ({need} bytes), file holds {} bytes of data",
                    header.len,
                    consumed + carry.len() as u64
                ),
            ));
        }
        carry.extend_from_slice(&buf[..k]);
    }
    analyzer.finish()
}

/// The one-line JSON report of an analysis: every [`SignalMetrics`](crate::SignalMetrics)
/// field (`snr_db`, `frequency_offset_hz`, `signal_power_dbfs`, `noise_power_dbfs`,
/// `noise_floor_dbfs_per_hz`, `peak_frequency_hz`, `samples`, `sample_rate_hz`, ...; `null`
/// when not estimable) plus `segments`, `segment_len`, `bin_width_hz` and `real_input`.
pub fn metrics_json(analysis: &Analysis) -> serde_json::Value {
    let mut v = serde_json::to_value(analysis.metrics).unwrap_or_else(|_| serde_json::json!({}));
    if let Some(map) = v.as_object_mut() {
        map.insert("segments".into(), analysis.segments.into());
        let bins = analysis.psd.len();
        let segment_len = if analysis.real_input {
            bins.saturating_sub(1) * 2
        } else {
            bins
        };
        map.insert("segment_len".into(), segment_len.into());
        map.insert("bin_width_hz".into(), analysis.psd.bin_width_hz().into());
        map.insert("real_input".into(), analysis.real_input.into());
    }
    v
}
