//! Captures as they arrive: a header ([`CaptureInfo`]) and a stream of [`CaptureChunk`]s.
//!
//! A capture is never required to be in memory as a whole: sources yield chunks, the engine
//! pushes each one through the metrics analyser and into the sink, then drops it.

use std::fmt;

use chrono::{DateTime, Utc};
use futures::stream::BoxStream;
use num_complex::Complex32;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::receiver::ReceiverInfo;

/// What kind of samples a capture carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum SampleFormat {
    /// Complex baseband IQ, 32-bit float per component (numpy `<c8`, SigMF `cf32_le`).
    ComplexF32,
    /// Real (demodulated audio) samples, 32-bit float (numpy `<f4`, SigMF `rf32_le`).
    RealF32,
}

impl SampleFormat {
    /// Bytes per sample.
    pub fn bytes_per_sample(&self) -> usize {
        match self {
            SampleFormat::ComplexF32 => 8,
            SampleFormat::RealF32 => 4,
        }
    }
    /// numpy `descr`.
    pub fn numpy_descr(&self) -> &'static str {
        match self {
            SampleFormat::ComplexF32 => "<c8",
            SampleFormat::RealF32 => "<f4",
        }
    }
    /// SigMF `core:datatype`.
    pub fn sigmf_datatype(&self) -> &'static str {
        match self {
            SampleFormat::ComplexF32 => "cf32_le",
            SampleFormat::RealF32 => "rf32_le",
        }
    }
}

/// Where a capture's time stamps come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum TimeSource {
    /// GPS-disciplined time reported by the receiver with the samples (KiwiSDR with GPS fix).
    Gps,
    /// The receiving host's clock at arrival (network latency included).
    Host,
    /// Simulated time (exact by construction).
    Simulated,
}

impl TimeSource {
    /// Snake-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            TimeSource::Gps => "gps",
            TimeSource::Host => "host",
            TimeSource::Simulated => "simulated",
        }
    }
}

impl fmt::Display for TimeSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Unit of a power reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum PowerUnit {
    /// Absolute, calibrated: dB relative to 1 mW (KiwiSDR S-meter).
    Dbm,
    /// Relative to the receiver's full scale (OpenWebRX S-meter, uncalibrated captures).
    Dbfs,
}

impl PowerUnit {
    /// Snake-case name.
    pub fn as_str(&self) -> &'static str {
        match self {
            PowerUnit::Dbm => "dbm",
            PowerUnit::Dbfs => "dbfs",
        }
    }
}

/// A block of samples.
#[derive(Debug, Clone, PartialEq)]
pub enum SampleBlock {
    /// Complex IQ.
    Complex(Vec<Complex32>),
    /// Real audio.
    Real(Vec<f32>),
}

impl SampleBlock {
    /// Samples in the block.
    pub fn len(&self) -> usize {
        match self {
            SampleBlock::Complex(v) => v.len(),
            SampleBlock::Real(v) => v.len(),
        }
    }
    /// Whether the block is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// The index of the first sample that is not a finite number (NaN or infinite, in either
    /// component), if any. A receiver never measures such a value: it is a decoding fault.
    pub fn first_non_finite(&self) -> Option<usize> {
        match self {
            SampleBlock::Complex(v) => v.iter().position(|c| !(c.re.is_finite() && c.im.is_finite())),
            SampleBlock::Real(v) => v.iter().position(|x| !x.is_finite()),
        }
    }
    /// The block's format.
    pub fn format(&self) -> SampleFormat {
        match self {
            SampleBlock::Complex(_) => SampleFormat::ComplexF32,
            SampleBlock::Real(_) => SampleFormat::RealF32,
        }
    }
    /// The samples as little-endian bytes (zero-copy on little-endian hosts).
    pub fn as_le_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        #[cfg(target_endian = "little")]
        {
            std::borrow::Cow::Borrowed(match self {
                SampleBlock::Complex(v) => bytemuck::cast_slice(v.as_slice()),
                SampleBlock::Real(v) => bytemuck::cast_slice(v.as_slice()),
            })
        }
        #[cfg(not(target_endian = "little"))]
        {
            let mut out = Vec::with_capacity(self.len() * self.format().bytes_per_sample());
            match self {
                SampleBlock::Complex(v) => v.iter().for_each(|c| {
                    out.extend_from_slice(&c.re.to_le_bytes());
                    out.extend_from_slice(&c.im.to_le_bytes());
                }),
                SampleBlock::Real(v) => v.iter().for_each(|x| out.extend_from_slice(&x.to_le_bytes())),
            }
            std::borrow::Cow::Owned(out)
        }
    }
    /// Converts into `bytes::Bytes` of little-endian samples without copying on little-endian hosts.
    pub fn into_le_bytes(self) -> bytes::Bytes {
        #[cfg(target_endian = "little")]
        {
            match self {
                SampleBlock::Complex(v) => bytes::Bytes::from_owner(LeOwner(v)),
                SampleBlock::Real(v) => bytes::Bytes::from_owner(LeOwner(v)),
            }
        }
        #[cfg(not(target_endian = "little"))]
        {
            bytes::Bytes::from(self.as_le_bytes().into_owned())
        }
    }
}

#[cfg(target_endian = "little")]
struct LeOwner<T>(Vec<T>);

#[cfg(target_endian = "little")]
impl<T: bytemuck::Pod> AsRef<[u8]> for LeOwner<T> {
    fn as_ref(&self) -> &[u8] {
        bytemuck::cast_slice(self.0.as_slice())
    }
}

/// The time of one sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct TimeMark {
    /// Index of the sample in the delivered capture (0 = first delivered sample).
    pub sample_index: u64,
    /// Its time, UTC.
    pub time: DateTime<Utc>,
    /// Where the time comes from.
    pub source: TimeSource,
}

/// A level reading reported by the receiver itself (S-meter).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RssiReading {
    /// Sample index the reading belongs to.
    pub sample_index: u64,
    /// The value, in `unit`.
    pub value: f64,
    /// dBm (calibrated) or dBFS.
    pub unit: PowerUnit,
}

/// A span of lost samples (dropped packets): `missing_samples` were lost just before the
/// delivered sample `sample_index`. Stored samples are not padded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    /// Index (in delivered samples) of the first sample after the gap.
    pub sample_index: u64,
    /// How many samples were lost.
    pub missing_samples: u64,
}

/// A power spectrum reported by the receiver (OpenWebRX FFT frames, KiwiSDR waterfall).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SpectrumFrame {
    /// Sample index the frame belongs to (approximate for servers that do not say).
    pub sample_index: u64,
    /// Centre frequency of the spectrum, Hz.
    pub center_frequency_hz: f64,
    /// Total span, Hz.
    pub span_hz: f64,
    /// Bin levels, lowest frequency first.
    pub bins: Vec<f32>,
    /// Unit of `bins`.
    pub unit: PowerUnit,
}

/// One item of a capture stream.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum CaptureChunk {
    /// Samples, in the capture's [`SampleFormat`].
    Samples(SampleBlock),
    /// The time of a sample (sources send one for sample 0 before the first samples).
    Time(TimeMark),
    /// A receiver-reported level.
    Rssi(RssiReading),
    /// A receiver-reported spectrum.
    Spectrum(SpectrumFrame),
    /// Lost samples.
    Gap(Gap),
}

/// The header of a capture, known once the source has connected and handshaked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureInfo {
    /// The receiver.
    pub receiver: ReceiverInfo,
    /// Sample format of every [`CaptureChunk::Samples`].
    pub format: SampleFormat,
    /// The actual sample rate, Hz (for KiwiSDR e.g. 11999.03, never the nominal 12000).
    pub sample_rate_hz: f64,
    /// Frequency of baseband 0 Hz (IQ), or the dial frequency (audio), Hz.
    pub center_frequency_hz: f64,
    /// The frequency the request asked for, Hz (may differ from the centre).
    pub target_frequency_hz: f64,
    /// Samples the source intends to deliver, if known.
    pub expected_samples: Option<u64>,
    /// Free-form protocol details worth archiving (server version, gain, mode, passband...).
    #[serde(default)]
    pub extra: serde_json::Map<String, serde_json::Value>,
}

impl CaptureInfo {
    /// Expected offset of the target in the baseband, Hz (`target - centre`).
    pub fn target_offset_hz(&self) -> f64 {
        self.target_frequency_hz - self.center_frequency_hz
    }
}

/// An open capture: its header and its chunks.
pub struct CaptureStream {
    /// The header.
    pub info: CaptureInfo,
    /// The chunks; the stream ends after the last one. An `Err` item ends the capture.
    pub chunks: BoxStream<'static, Result<CaptureChunk>>,
}

impl fmt::Debug for CaptureStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureStream")
            .field("info", &self.info)
            .finish_non_exhaustive()
    }
}

/// Summary of receiver-reported levels over a capture.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct RssiSummary {
    /// Unit of every value.
    pub unit: PowerUnit,
    /// Number of readings.
    pub count: u64,
    /// Mean in the power domain, expressed in `unit`.
    pub mean: f64,
    /// Minimum.
    pub min: f64,
    /// Maximum.
    pub max: f64,
}

/// Accumulates [`RssiReading`]s into an [`RssiSummary`] (mean taken in linear power).
#[derive(Debug, Clone, Default)]
pub struct RssiAccumulator {
    unit: Option<PowerUnit>,
    count: u64,
    lin_sum: f64,
    min: f64,
    max: f64,
}

impl RssiAccumulator {
    /// Adds a reading; readings in another unit than the first, and non-finite ones, are ignored.
    pub fn push(&mut self, r: &RssiReading) {
        if !r.value.is_finite() {
            return;
        }
        match self.unit {
            None => {
                self.unit = Some(r.unit);
                self.min = r.value;
                self.max = r.value;
            }
            Some(u) if u != r.unit => return,
            Some(_) => {
                self.min = self.min.min(r.value);
                self.max = self.max.max(r.value);
            }
        }
        self.count += 1;
        self.lin_sum += 10f64.powf(r.value / 10.0);
    }

    /// The summary, if any reading was accepted.
    pub fn summary(&self) -> Option<RssiSummary> {
        let unit = self.unit?;
        Some(RssiSummary {
            unit,
            count: self.count,
            mean: 10.0 * (self.lin_sum / self.count as f64).log10(),
            min: self.min,
            max: self.max,
        })
    }
}

/// What is known about a capture once it has ended: stored with the samples and in the database.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CaptureSummary {
    /// The header the source reported.
    pub info: CaptureInfo,
    /// Samples delivered (and stored).
    pub samples: u64,
    /// Time of sample 0.
    pub start_time: DateTime<Utc>,
    /// Where `start_time` comes from.
    pub time_source: TimeSource,
    /// `start_time - requested start`, seconds, when a start time was requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_skew_s: Option<f64>,
    /// All time marks received (GPS time stamps along the capture).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub time_marks: Vec<TimeMark>,
    /// Lost sample spans.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub gaps: Vec<Gap>,
    /// Receiver-reported level.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rssi: Option<RssiSummary>,
    /// Number of spectrum frames received.
    #[serde(default)]
    pub spectra: u64,
}

impl CaptureSummary {
    /// Duration of the delivered samples, seconds.
    pub fn duration_s(&self) -> f64 {
        if self.info.sample_rate_hz > 0.0 {
            self.samples as f64 / self.info.sample_rate_hz
        } else {
            0.0
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn le_bytes_are_interleaved_iq() {
        let b = SampleBlock::Complex(vec![Complex32::new(1.0, -2.0)]);
        let mut expect = 1.0f32.to_le_bytes().to_vec();
        expect.extend_from_slice(&(-2.0f32).to_le_bytes());
        assert_eq!(&*b.as_le_bytes(), expect.as_slice());
        assert_eq!(b.into_le_bytes().as_ref(), expect.as_slice());
    }

    #[test]
    fn rssi_mean_is_power_domain() {
        let mut a = RssiAccumulator::default();
        for v in [-100.0, -90.0] {
            a.push(&RssiReading {
                sample_index: 0,
                value: v,
                unit: PowerUnit::Dbm,
            });
        }
        a.push(&RssiReading {
            sample_index: 0,
            value: -3.0,
            unit: PowerUnit::Dbfs,
        });
        a.push(&RssiReading {
            sample_index: 0,
            value: f64::NAN,
            unit: PowerUnit::Dbm,
        });
        let s = a.summary().unwrap();
        assert_eq!(s.count, 2);
        assert!((s.mean - (-92.596)).abs() < 0.01, "{}", s.mean);
        assert_eq!((s.min, s.max), (-100.0, -90.0));
        assert!(RssiAccumulator::default().summary().is_none());
    }
}
