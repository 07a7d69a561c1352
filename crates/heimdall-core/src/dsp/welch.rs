//! Welch power spectral density, exactly as `scipy.signal.welch` computes it with
//! `window="hann"` (periodic), `noverlap = nperseg // 2`, `detrend=False`,
//! `return_onesided=False` (complex input), `scaling="density"`, `average="mean"`, returned in
//! frequency order (`fftshift`).

use std::sync::Arc;

use num_complex::Complex32;
use rustfft::{Fft, FftPlanner};

use crate::error::{Error, Result};

use super::window::hann_periodic;

/// Default Welch segment length (scipy's `nperseg` default is 256; Heimdall uses 1024).
pub const DEFAULT_SEGMENT_LEN: usize = 1024;

/// Smallest segment length accepted.
pub const MIN_SEGMENT_LEN: usize = 8;
/// Largest segment length accepted.
pub const MAX_SEGMENT_LEN: usize = 1 << 22;

/// A power spectral density in increasing frequency order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Psd {
    /// Bin centre frequencies, Hz, increasing (two-sided: `-fs/2 ..< fs/2`; one-sided for real
    /// input: `0 ..= fs/2`).
    pub frequencies_hz: Vec<f64>,
    /// Power spectral density, linear, full-scale units per Hz (dBFS/Hz once in dB).
    pub density: Vec<f64>,
}

impl Psd {
    /// The density in dB (`10 log10`); an empty bin gives `-inf`, never NaN.
    pub fn density_db(&self) -> Vec<f64> {
        self.density.iter().map(|&d| 10.0 * d.max(0.0).log10()).collect()
    }
    /// Spacing of the bins, Hz (0 when there are fewer than two bins).
    pub fn bin_width_hz(&self) -> f64 {
        match self.frequencies_hz.as_slice() {
            [a, b, ..] => b - a,
            _ => 0.0,
        }
    }
    /// Number of bins.
    pub fn len(&self) -> usize {
        self.density.len()
    }
    /// Whether the PSD has no bins.
    pub fn is_empty(&self) -> bool {
        self.density.is_empty()
    }
}

/// Splits a stream into overlapping segments of `n` samples every `hop` samples, carrying the
/// unfinished tail across pushes in a buffer allocated once.
#[derive(Debug, Clone)]
pub(crate) struct Framer<T> {
    n: usize,
    hop: usize,
    /// Samples from the start of the next segment on; always shorter than `n`.
    pending: Vec<T>,
}

impl<T: Copy> Framer<T> {
    pub(crate) fn new(n: usize, hop: usize) -> Self {
        Framer {
            n,
            hop: hop.max(1),
            pending: Vec::with_capacity(n),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.pending.clear();
    }

    pub(crate) fn hop(&self) -> usize {
        self.hop
    }

    /// The segment starting `s` samples into `pending ++ x`, if `x` completes it: `(head,
    /// tail, end)` where `head ++ tail` is the segment, `head` comes from earlier pushes (often
    /// empty) and `tail` is `x[end - tail.len()..end]`.
    #[inline(always)]
    pub(crate) fn segment<'a>(&'a self, x: &'a [T], s: usize) -> Option<(&'a [T], &'a [T], usize)> {
        let (n, p) = (self.n, self.pending.len());
        if s + n > p + x.len() {
            return None;
        }
        let end = s + n - p;
        Some(if s < p {
            (&self.pending[s..], &x[..end], end)
        } else {
            (&[], &x[end - n..end], end)
        })
    }

    /// Keeps what follows the segments taken from `pending ++ x`, the next one starting at `s`.
    pub(crate) fn consume(&mut self, x: &[T], s: usize) {
        let p = self.pending.len();
        if s < p {
            self.pending.drain(..s);
            self.pending.extend_from_slice(x);
        } else {
            self.pending.clear();
            self.pending.extend_from_slice(&x[s - p..]);
        }
    }

    /// Calls `seg(head, tail)` for every complete segment, where `head ++ tail` is the segment
    /// (`head` comes from earlier pushes and is often empty).
    pub(crate) fn push(&mut self, x: &[T], mut seg: impl FnMut(&[T], &[T])) {
        let mut s = 0;
        while let Some((head, tail, _)) = self.segment(x, s) {
            seg(head, tail);
            s += self.hop;
        }
        self.consume(x, s);
    }
}

/// `out = (head ++ tail) * w`.
#[inline(always)]
pub(crate) fn window_complex(head: &[Complex32], tail: &[Complex32], w: &[f32], out: &mut [Complex32]) {
    let (wa, wb) = w.split_at(head.len().min(w.len()));
    let (oa, ob) = out.split_at_mut(head.len().min(out.len()));
    for ((o, x), &w) in oa.iter_mut().zip(head).zip(wa) {
        *o = Complex32::new(x.re * w, x.im * w);
    }
    for ((o, x), &w) in ob.iter_mut().zip(tail).zip(wb) {
        *o = Complex32::new(x.re * w, x.im * w);
    }
}

/// `out = (head ++ tail) * w` for real samples.
#[inline(always)]
pub(crate) fn window_real(head: &[f32], tail: &[f32], w: &[f32], out: &mut [f32]) {
    let (wa, wb) = w.split_at(head.len().min(w.len()));
    let (oa, ob) = out.split_at_mut(head.len().min(out.len()));
    for ((o, x), &w) in oa.iter_mut().zip(head).zip(wa) {
        *o = x * w;
    }
    for ((o, x), &w) in ob.iter_mut().zip(tail).zip(wb) {
        *o = x * w;
    }
}

/// Signed FFT bin index of natural bin `k` (numpy `fftfreq` order).
#[inline]
pub(crate) fn signed_bin(k: usize, n: usize) -> i64 {
    if k <= (n - 1) / 2 {
        k as i64
    } else {
        k as i64 - n as i64
    }
}

pub(crate) fn validate_rate(sample_rate_hz: f64) -> Result<()> {
    if !(sample_rate_hz.is_finite() && sample_rate_hz > 0.0) {
        return Err(Error::invalid(
            "sample_rate_hz",
            format!("{sample_rate_hz} Hz: the sample rate must be finite and > 0"),
        ));
    }
    Ok(())
}

pub(crate) fn validate_segment_len(n: usize) -> Result<()> {
    if !(MIN_SEGMENT_LEN..=MAX_SEGMENT_LEN).contains(&n) {
        return Err(Error::invalid(
            "segment_len",
            format!("{n}: must be between {MIN_SEGMENT_LEN} and {MAX_SEGMENT_LEN}"),
        ));
    }
    Ok(())
}

/// Scale from accumulated `|X|^2` to a density for `segments` segments.
pub(crate) fn density_scale(sample_rate_hz: f64, window: &[f32], segments: u64) -> f64 {
    let s2: f64 = window.iter().map(|&w| f64::from(w) * f64::from(w)).sum();
    1.0 / (sample_rate_hz * s2 * segments as f64)
}

/// Builds the frequency-sorted two-sided [`Psd`] from natural-order densities.
pub(crate) fn two_sided_psd(natural: &[f64], sample_rate_hz: f64) -> Psd {
    let n = natural.len();
    let df = sample_rate_hz / n as f64;
    let half = n / 2;
    let mut frequencies_hz = Vec::with_capacity(n);
    let mut density = Vec::with_capacity(n);
    for i in 0..n {
        let k = (i + n - half) % n;
        frequencies_hz.push(signed_bin(k, n) as f64 * df);
        density.push(natural[k]);
    }
    Psd {
        frequencies_hz,
        density,
    }
}

/// Welch PSD of complex IQ: plan once, push any chunk sizes, finish.
///
/// Pushing a capture in chunks of any sizes gives exactly the result of one push; no allocation
/// happens per segment.
///
/// ```
/// use heimdall_core::Complex32;
/// use heimdall_core::dsp::Welch;
/// let x: Vec<Complex32> = (0..4096).map(|i| Complex32::from_polar(1.0, 0.3 * i as f32)).collect();
/// let mut w = Welch::new(1000.0, 256).unwrap();
/// w.push(&x[..1000]);
/// w.push(&x[1000..]);
/// let psd = w.finish().unwrap();
/// assert_eq!(psd.len(), 256);
/// ```
pub struct Welch {
    sample_rate_hz: f64,
    window: Box<[f32]>,
    fft: Arc<dyn Fft<f32>>,
    buf: Box<[Complex32]>,
    scratch: Box<[Complex32]>,
    framer: Framer<Complex32>,
    acc: Box<[f64]>,
    /// Segments since the last flush are summed here in `f32` (flushed every 32 segments by
    /// segment index, so chunking does not change the result).
    acc32: Box<[f32]>,
    segments: u64,
    samples: u64,
}

impl std::fmt::Debug for Welch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Welch")
            .field("sample_rate_hz", &self.sample_rate_hz)
            .field("segment_len", &self.window.len())
            .field("segments", &self.segments)
            .field("samples", &self.samples)
            .finish()
    }
}

impl Welch {
    /// Plans a Welch estimator: `segment_len` points, 50 % overlap, periodic Hann window.
    pub fn new(sample_rate_hz: f64, segment_len: usize) -> Result<Self> {
        validate_rate(sample_rate_hz)?;
        validate_segment_len(segment_len)?;
        let fft = FftPlanner::<f32>::new().plan_fft_forward(segment_len);
        let scratch = vec![Complex32::default(); fft.get_inplace_scratch_len()].into_boxed_slice();
        Ok(Welch {
            sample_rate_hz,
            window: hann_periodic(segment_len).into_boxed_slice(),
            fft,
            buf: vec![Complex32::default(); segment_len].into_boxed_slice(),
            scratch,
            framer: Framer::new(segment_len, segment_len - segment_len / 2),
            acc: vec![0.0; segment_len].into_boxed_slice(),
            acc32: vec![0.0; segment_len].into_boxed_slice(),
            segments: 0,
            samples: 0,
        })
    }

    /// Adds samples.
    pub fn push(&mut self, x: &[Complex32]) {
        self.samples += x.len() as u64;
        let Welch {
            window,
            fft,
            buf,
            scratch,
            framer,
            acc,
            acc32,
            segments,
            ..
        } = self;
        framer.push(x, |head, tail| {
            window_complex(head, tail, window, buf);
            fft.process_with_scratch(buf, scratch);
            for (a, x) in acc32.iter_mut().zip(buf.iter()) {
                *a += x.re * x.re + x.im * x.im;
            }
            *segments += 1;
            if segments.is_multiple_of(32) {
                for (a, p) in acc.iter_mut().zip(acc32.iter_mut()) {
                    *a += f64::from(std::mem::take(p));
                }
            }
        });
    }

    /// Complete segments averaged so far.
    pub fn segments(&self) -> u64 {
        self.segments
    }

    /// The PSD of everything pushed since construction or [`Welch::reset`]. Samples after the
    /// last complete segment are ignored, as scipy does. Errors if no segment is complete or
    /// the result is not finite (non-finite or absurdly large input).
    pub fn finish(&self) -> Result<Psd> {
        if self.segments == 0 {
            return Err(Error::invalid(
                "samples",
                format!(
                    "{} samples is shorter than one segment of {}",
                    self.samples,
                    self.window.len()
                ),
            ));
        }
        let scale = density_scale(self.sample_rate_hz, &self.window, self.segments);
        let natural: Vec<f64> = self
            .acc
            .iter()
            .zip(self.acc32.iter())
            .map(|(&a, &p)| (a + f64::from(p)) * scale)
            .collect();
        if natural.iter().any(|d| !d.is_finite()) {
            return Err(Error::invalid(
                "samples",
                "PSD is not finite: input has non-finite or huge values",
            ));
        }
        Ok(two_sided_psd(&natural, self.sample_rate_hz))
    }

    /// Forgets all pushed samples, keeping the plan.
    pub fn reset(&mut self) {
        self.framer.clear();
        self.acc.fill(0.0);
        self.acc32.fill(0.0);
        self.segments = 0;
        self.samples = 0;
    }
}

/// One-shot Welch PSD of complex IQ (plans, allocates; prefer [`Welch`] for repeated use).
pub fn welch(x: &[Complex32], sample_rate_hz: f64, segment_len: usize) -> Result<Psd> {
    let mut w = Welch::new(sample_rate_hz, segment_len)?;
    w.push(x);
    w.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn framer_matches_one_shot_for_any_split() {
        let x: Vec<u32> = (0..1000).collect();
        let collect = |chunks: &[usize]| {
            let mut f = Framer::new(64, 32);
            let mut segs = Vec::new();
            let mut off = 0;
            for &c in chunks {
                let end = (off + c).min(x.len());
                f.push(&x[off..end], |a, b| segs.push([a, b].concat()));
                off = end;
            }
            segs
        };
        let one = collect(&[1000]);
        assert_eq!(one.len(), (1000 - 64) / 32 + 1);
        assert_eq!(one[3], (96..160).collect::<Vec<_>>());
        for split in [
            &[1usize; 1000][..],
            &[63, 1, 64, 500, 372],
            &[7, 900, 93],
            &[0, 33, 0, 967],
        ] {
            assert_eq!(collect(split), one);
        }
    }

    #[test]
    fn tone_on_bin_centre_has_exact_power() {
        // A unit tone on bin 16 of 256: density peak = (sum w)^2 / (fs sum w^2) = 1 / (fs * 0.375) * 128 / 1.
        let fs = 256.0;
        let x: Vec<Complex32> = (0..4096)
            .map(|i| Complex32::from_polar(1.0, std::f32::consts::TAU * 16.0 * i as f32 / 256.0))
            .collect();
        let psd = welch(&x, fs, 256).unwrap();
        let total: f64 = psd.density.iter().sum::<f64>() * psd.bin_width_hz();
        assert!((total - 1.0).abs() < 1e-4, "{total}");
        let k = psd.frequencies_hz.iter().position(|&f| f == 16.0).unwrap();
        assert!((psd.density[k] - 128.0 * 128.0 / (256.0 * 96.0)).abs() < 1e-3);
        assert_eq!(psd.frequencies_hz[0], -128.0);
    }

    #[test]
    fn too_short_and_bad_rate() {
        assert!(welch(&[Complex32::default(); 100], 1.0, 256).is_err());
        assert!(Welch::new(0.0, 256).is_err());
        assert!(Welch::new(f64::NAN, 256).is_err());
        assert!(Welch::new(1.0, 2).is_err());
    }
}
