//! Receiver-reported spectra (OpenWebRX FFT lines) archived next to the samples:
//! `{receiver}_spectra.npy`, a `'<f4'` matrix of shape `(frames, bins)` (one row per frame,
//! lowest frequency first) that `numpy.load` opens as a waterfall, and
//! `{receiver}_spectra.json`, which says what the rows are: unit, and per frame the sample index
//! it belongs to, its centre frequency and span.
//!
//! Frames are kept in memory until the capture finishes (an `.npy` header needs the row count
//! first), within the sink's `max_spectra_bytes` (64 MiB by default: 4096 frames of OpenWebRX's
//! default 4096 bins, 7.6 minutes at its default 9 frames per second). A longer capture keeps
//! the whole time span at a coarser step: when the buffer is full, every other stored frame is
//! dropped and from then on only every `frame_stride`-th frame is kept (1, 2, 4, ...), so the
//! waterfall covers the capture evenly. Frames whose bin count or unit differs from the first
//! one's are counted, not stored.

use serde::{Deserialize, Serialize};

use heimdall_core::npy::{Dtype, NpyHeader};
use heimdall_core::{Error, PowerUnit, Result, SessionId, SpectrumFrame};

/// Default of [`crate::ArchiveBuilder::with_max_spectra_bytes`]: 64 MiB.
pub const DEFAULT_MAX_SPECTRA_BYTES: u64 = 64 << 20;

/// `format` of the spectra JSON document.
pub const SPECTRA_FORMAT: &str = "heimdall-spectra";
const SPECTRA_VERSION: u32 = 1;

/// The `{receiver}_spectra.json` document.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpectraIndex {
    /// Always [`SPECTRA_FORMAT`].
    pub format: String,
    /// Document version (1).
    pub version: u32,
    /// Session of the capture.
    pub session_id: SessionId,
    /// Receiver id.
    pub receiver_id: String,
    /// Key of the `.npy` matrix.
    pub data_key: String,
    /// Unit of every bin.
    pub unit: PowerUnit,
    /// Bins per frame (columns of the matrix).
    pub bins: usize,
    /// Frames stored (rows of the matrix).
    pub frames: usize,
    /// Per frame: the capture sample index it belongs to.
    pub sample_index: Vec<u64>,
    /// Per frame: centre frequency, Hz.
    pub center_frequency_hz: Vec<f64>,
    /// Per frame: total span, Hz.
    pub span_hz: Vec<f64>,
    /// Frames the receiver reported (all of them, stored or not).
    pub frames_received: u64,
    /// Every `frame_stride`-th consistent frame is stored (1: all; doubles each time the size
    /// limit is reached).
    pub frame_stride: u64,
    /// Frames not stored because their bin count or unit differed from the first frame's.
    pub dropped_inconsistent: u64,
}

/// Collects the spectrum frames of one capture, within a byte limit. Appending a frame copies
/// its bins into one contiguous buffer (amortised, no per-frame allocation kept).
#[derive(Debug)]
pub(crate) struct SpectraBuffer {
    limit_bytes: u64,
    unit: Option<PowerUnit>,
    bins: usize,
    data: Vec<f32>,
    sample_index: Vec<u64>,
    center: Vec<f64>,
    span: Vec<f64>,
    received: u64,
    /// Consistent frames seen (the position used for thinning).
    consistent: u64,
    stride: u64,
    inconsistent: u64,
}

impl SpectraBuffer {
    pub(crate) fn new(limit_bytes: u64) -> Self {
        SpectraBuffer {
            limit_bytes,
            unit: None,
            bins: 0,
            data: Vec::new(),
            sample_index: Vec::new(),
            center: Vec::new(),
            span: Vec::new(),
            received: 0,
            consistent: 0,
            stride: 1,
            inconsistent: 0,
        }
    }

    pub(crate) fn push(&mut self, frame: &SpectrumFrame) {
        if self.limit_bytes == 0 {
            return;
        }
        self.received += 1;
        if frame.bins.is_empty()
            || (self.unit.is_some() && (self.bins != frame.bins.len() || self.unit != Some(frame.unit)))
        {
            self.inconsistent += 1;
            return;
        }
        let position = self.consistent;
        self.consistent += 1;
        if frame.bins.len() as u64 * 4 > self.limit_bytes {
            // Not even one frame fits: nothing can be kept.
            self.inconsistent += 1;
            return;
        }
        if !position.is_multiple_of(self.stride) {
            return;
        }
        // Thin only for a frame that is to be kept, and drop it if thinning skips it.
        while (self.data.len() + frame.bins.len()) as u64 * 4 > self.limit_bytes {
            self.thin();
            if !position.is_multiple_of(self.stride) {
                return;
            }
        }
        self.unit = Some(frame.unit);
        self.bins = frame.bins.len();
        self.data.extend_from_slice(&frame.bins);
        self.sample_index.push(frame.sample_index);
        self.center.push(frame.center_frequency_hz);
        self.span.push(frame.span_hz);
    }

    /// Keeps every other stored frame (positions that are multiples of twice the stride) and
    /// doubles the stride. Stored frames sit at positions 0, stride, 2·stride..., so the kept
    /// ones are those at even indices.
    fn thin(&mut self) {
        let bins = self.bins;
        let n = self.sample_index.len();
        for (dst, src) in (0..n).step_by(2).enumerate() {
            self.data.copy_within(src * bins..(src + 1) * bins, dst * bins);
            self.sample_index[dst] = self.sample_index[src];
            self.center[dst] = self.center[src];
            self.span[dst] = self.span[src];
        }
        let kept = n.div_ceil(2);
        self.data.truncate(kept * bins);
        self.sample_index.truncate(kept);
        self.center.truncate(kept);
        self.span.truncate(kept);
        self.stride *= 2;
        if self.stride == 2 {
            tracing::info!(
                limit_bytes = self.limit_bytes,
                "spectra reached the archive's max_spectra_bytes: keeping every other frame from now on"
            );
        }
    }

    /// Whether there is anything to write (the receiver reported spectra).
    pub(crate) fn is_empty(&self) -> bool {
        self.received == 0
    }

    /// The `.npy` bytes and the index document.
    pub(crate) fn encode(&self, session: SessionId, receiver: &str, data_key: &str) -> Result<(Vec<u8>, SpectraIndex)> {
        let frames = self.sample_index.len();
        let mut npy = NpyHeader::encode_shape(Dtype::Float32, &[frames as u64, self.bins as u64])?;
        npy.reserve(self.data.len() * 4);
        for v in &self.data {
            npy.extend_from_slice(&v.to_le_bytes());
        }
        let index = SpectraIndex {
            format: SPECTRA_FORMAT.to_owned(),
            version: SPECTRA_VERSION,
            session_id: session,
            receiver_id: receiver.to_owned(),
            data_key: data_key.to_owned(),
            unit: self.unit.unwrap_or(PowerUnit::Dbfs),
            bins: self.bins,
            frames,
            sample_index: self.sample_index.clone(),
            center_frequency_hz: self.center.clone(),
            span_hz: self.span.clone(),
            frames_received: self.received,
            frame_stride: self.stride,
            dropped_inconsistent: self.inconsistent,
        };
        Ok((npy, index))
    }
}

/// Rebuilds the frames from the matrix and its index, checking that they agree.
pub(crate) fn decode(npy: &[u8], index: &SpectraIndex) -> std::result::Result<Vec<SpectrumFrame>, String> {
    if index.format != SPECTRA_FORMAT || index.version > SPECTRA_VERSION {
        return Err(format!(
            "spectra index format {:?} version {} is not supported",
            index.format, index.version
        ));
    }
    let n = index.frames;
    if index.sample_index.len() != n || index.center_frequency_hz.len() != n || index.span_hz.len() != n {
        return Err(format!(
            "spectra index lists {n} frames but its per-frame arrays differ in length"
        ));
    }
    let expected_header = NpyHeader::encode_shape(Dtype::Float32, &[n as u64, index.bins as u64])
        .map_err(|e| format!("spectra index: {e}"))?;
    let data = npy
        .strip_prefix(expected_header.as_slice())
        .ok_or_else(|| format!("spectra matrix is not a '<f4' array of shape ({n}, {})", index.bins))?;
    if data.len() != n * index.bins * 4 {
        return Err(format!(
            "spectra matrix holds {} bytes of data, ({n}, {}) float32 needs {}",
            data.len(),
            index.bins,
            n * index.bins * 4
        ));
    }
    let values: Vec<f32> = data
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]]))
        .collect();
    Ok((0..n)
        .map(|i| SpectrumFrame {
            sample_index: index.sample_index[i],
            center_frequency_hz: index.center_frequency_hz[i],
            span_hz: index.span_hz[i],
            bins: values[i * index.bins..(i + 1) * index.bins].to_vec(),
            unit: index.unit,
        })
        .collect())
}

/// Maps a decode failure to the error a reader sees.
pub(crate) fn malformed(backend: &'static str, key: &str, reason: String) -> Error {
    Error::Malformed {
        backend,
        origin: key.to_owned(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(i: u64, bins: usize) -> SpectrumFrame {
        SpectrumFrame {
            sample_index: i * 100,
            center_frequency_hz: 145e6,
            span_hz: 2.4e6,
            bins: (0..bins).map(|b| -100.0 + b as f32 + i as f32 * 0.5).collect(),
            unit: PowerUnit::Dbfs,
        }
    }

    #[test]
    fn round_trip_and_counts() {
        let mut b = SpectraBuffer::new(1 << 20);
        assert!(b.is_empty());
        for i in 0..5 {
            b.push(&frame(i, 64));
        }
        b.push(&frame(9, 32));
        b.push(&frame(10, 0));
        let s = SessionId::new();
        let (npy, idx) = b.encode(s, "rx", "k/rx_spectra.npy").unwrap();
        assert_eq!((idx.frames, idx.bins, idx.frame_stride), (5, 64, 1));
        assert_eq!((idx.frames_received, idx.dropped_inconsistent), (7, 2));
        let back = decode(&npy, &idx).unwrap();
        assert_eq!(back, (0..5).map(|i| frame(i, 64)).collect::<Vec<_>>());
        let mut bad = idx.clone();
        bad.bins = 63;
        assert!(decode(&npy, &bad).is_err());
        assert!(decode(&npy[..npy.len() - 1], &idx).is_err());
        bad = idx.clone();
        bad.span_hz.pop();
        assert!(decode(&npy, &bad).is_err());
    }

    #[test]
    fn a_full_buffer_thins_evenly_over_the_whole_capture() {
        // Room for 4 frames; 37 arrive.
        let mut b = SpectraBuffer::new(4 * 16 * 4);
        for i in 0..37 {
            b.push(&frame(i, 16));
        }
        let (npy, idx) = b.encode(SessionId::new(), "rx", "k").unwrap();
        // 37 frames need a stride of 16 to fit 4 rows: frames 0, 16, 32 (and none at 48).
        assert_eq!((idx.frame_stride, idx.frames, idx.frames_received), (16, 3, 37));
        let back = decode(&npy, &idx).unwrap();
        assert_eq!(back, [0, 16, 32].map(|i| frame(i, 16)).to_vec());
        // Exactly at the limit, nothing is thinned; a frame that would be skipped anyway does
        // not thin a full buffer (8 frames: 0, 2, 4, 6 at stride 2, not 0, 4 at stride 4).
        let mut b = SpectraBuffer::new(4 * 16 * 4);
        for i in 0..4 {
            b.push(&frame(i, 16));
        }
        assert_eq!((b.stride, b.sample_index.len()), (1, 4));
        for i in 4..8 {
            b.push(&frame(i, 16));
        }
        assert_eq!(b.stride, 2);
        assert_eq!(b.sample_index, [0, 2, 4, 6].map(|i| frame(i, 16).sample_index).to_vec());
    }

    #[test]
    fn zero_limit_disables() {
        let mut b = SpectraBuffer::new(0);
        b.push(&frame(0, 8));
        assert!(b.is_empty());
    }
}
