//! The streaming signal analyser: Welch PSD, noise floor, signal detection, SNR, sub-bin
//! frequency, DC and clipping, in one pass over the samples.

use std::sync::Arc;

use num_complex::{Complex32, Complex64};
use realfft::{RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};

use crate::capture::SampleBlock;
use crate::error::{Error, Result};
use crate::metrics::SignalMetrics;

use super::config::AnalyzerConfig;
use super::estimate::{Estimate, LONG_LAG, SpectrumInputs, estimate};
use super::sums::{SampleSums, StatSample};
use super::welch::{Framer, Psd, density_scale, two_sided_psd, window_complex, window_real};
use super::window::{hann_periodic, overlap_correlation};

/// Past spectra kept for the cross-products.
const RING: usize = LONG_LAG;

/// The result of an analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct Analysis {
    /// The metrics.
    pub metrics: SignalMetrics,
    /// The Welch PSD (two-sided for IQ, one-sided for real audio).
    pub psd: Psd,
    /// Welch segments averaged.
    pub segments: u64,
    /// Whether the input was real audio (one-sided PSD).
    pub real_input: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Complex,
    Real,
}

/// Segments summed in `f32` before being added to the `f64` totals (by segment index, so the
/// result does not depend on chunking).
const FLUSH_EVERY: u64 = 32;

/// Bins per block of the accumulators and of the stored spectra: each block keeps its rows
/// side by side (`G` values of one row, then `G` of the next), so a segment's update streams
/// through three arrays instead of a dozen, and `G` `f32` fill one 512-bit register.
const G: usize = 16;
/// Accumulator rows: `|X|^2`, then re and im of the lag-1 and of the long-lag cross-products
/// `X_m conj(X_{m-L})`.
const ROWS: usize = 5;

/// A push longer than this many samples is validated and framed a piece of this size at a
/// time (see [`push_all`]).
const PIECE: usize = 1 << 16;

/// Blocks of `G` bins covering `bins`.
fn blocks(bins: usize) -> usize {
    bins.div_ceil(G)
}

/// Everything the spectra accumulate: a checkpoint is a copy of it.
#[derive(Clone)]
struct SpectraState {
    frames: u64,
    /// The last `RING` spectra, newest first, by blocks of `G` re parts then `G` im parts.
    ring: [Box<[f32]>; RING],
    /// By blocks of `ROWS` rows of `G`: the segments since the last flush, in `f32`.
    acc32: Box<[f32]>,
    /// Same layout: the flushed totals.
    acc64: Box<[f64]>,
}

impl SpectraState {
    fn new(n: usize) -> Self {
        let nb = blocks(n);
        SpectraState {
            frames: 0,
            ring: std::array::from_fn(|_| vec![0.0; 2 * G * nb].into_boxed_slice()),
            acc32: vec![0.0; ROWS * G * nb].into_boxed_slice(),
            acc64: vec![0.0; ROWS * G * nb].into_boxed_slice(),
        }
    }

    fn copy_from(&mut self, other: &SpectraState) {
        self.frames = other.frames;
        for (a, b) in self.ring.iter_mut().zip(&other.ring) {
            a.copy_from_slice(b);
        }
        self.acc32.copy_from_slice(&other.acc32);
        self.acc64.copy_from_slice(&other.acc64);
    }
}

/// Per-segment spectral accumulators, with a checkpoint to undo a rejected push.
struct Spectra {
    /// Bins per segment (n for IQ, n/2+1 for audio).
    bins: usize,
    live: SpectraState,
    saved: SpectraState,
}

/// Accumulated spectra in `f64`.
pub(crate) struct SpectraTotals {
    pub(crate) power: Vec<f64>,
    pub(crate) lag1: Vec<Complex64>,
    pub(crate) lag_long: Vec<Complex64>,
}

impl Spectra {
    fn new(n: usize) -> Self {
        Spectra {
            bins: n,
            live: SpectraState::new(n),
            saved: SpectraState::new(n),
        }
    }

    fn clear(&mut self, bins: usize) {
        self.bins = bins;
        self.live.frames = 0;
        self.live.acc32.fill(0.0);
        self.live.acc64.fill(0.0);
    }

    fn frames(&self) -> u64 {
        self.live.frames
    }

    fn checkpoint(&mut self) {
        self.saved.copy_from(&self.live);
    }

    fn rollback(&mut self) {
        self.live.copy_from(&self.saved);
    }

    /// Accumulates the spectrum `x` of the next segment (`x` holds whole blocks: the bins
    /// past `bins` only feed accumulator lanes that are never read): its power and its
    /// cross-products with the previous and the `LONG_LAG`-th previous spectrum, which it then
    /// replaces in the ring (in the same pass: no cold line is written). Every bin is computed
    /// with exactly the operations of the scalar definition (no fused multiply-add), so any
    /// SIMD width gives the same bits.
    #[inline(always)]
    fn commit(&mut self, x: &[Complex32]) {
        let nb = blocks(self.bins);
        let st = &mut self.live;
        let m = st.frames;
        let [prev, .., oldest] = &mut st.ring;
        let blocks = x
            .chunks_exact(G)
            .zip(oldest.chunks_exact_mut(2 * G))
            .zip(prev.chunks_exact(2 * G))
            .zip(st.acc32.chunks_exact_mut(ROWS * G))
            .take(nb);
        for (((x, c), p), a) in blocks {
            let (Ok(x), Ok(c), Ok(p), Ok(a)) = (
                <&[Complex32; G]>::try_from(x),
                <&mut [f32; 2 * G]>::try_from(c),
                <&[f32; 2 * G]>::try_from(p),
                <&mut [f32; ROWS * G]>::try_from(a),
            ) else {
                continue;
            };
            if m >= LONG_LAG as u64 {
                for l in 0..G {
                    let (re, im) = (x[l].re, x[l].im);
                    let (p_re, p_im) = (p[l], p[G + l]);
                    let (o_re, o_im) = (c[l], c[G + l]);
                    c[l] = re;
                    c[G + l] = im;
                    a[l] += re * re + im * im;
                    a[G + l] += re * p_re + im * p_im;
                    a[2 * G + l] += im * p_re - re * p_im;
                    a[3 * G + l] += re * o_re + im * o_im;
                    a[4 * G + l] += im * o_re - re * o_im;
                }
            } else if m >= 1 {
                for l in 0..G {
                    let (re, im) = (x[l].re, x[l].im);
                    let (p_re, p_im) = (p[l], p[G + l]);
                    c[l] = re;
                    c[G + l] = im;
                    a[l] += re * re + im * im;
                    a[G + l] += re * p_re + im * p_im;
                    a[2 * G + l] += im * p_re - re * p_im;
                }
            } else {
                for l in 0..G {
                    let (re, im) = (x[l].re, x[l].im);
                    c[l] = re;
                    c[G + l] = im;
                    a[l] += re * re + im * im;
                }
            }
        }
        // The spectrum just written (in the oldest slot) becomes the newest.
        st.ring.rotate_right(1);
        st.frames += 1;
        if st.frames.is_multiple_of(FLUSH_EVERY) {
            for (a, p) in st.acc64.iter_mut().zip(st.acc32.iter_mut()) {
                *a += f64::from(std::mem::take(p));
            }
        }
    }

    /// Whether the next two spectra can go through [`Spectra::commit2`]: both have their
    /// long-lag partner, and no flush falls between them.
    fn pairable(&self) -> bool {
        let m = self.live.frames;
        m >= LONG_LAG as u64 && !(m + 1).is_multiple_of(FLUSH_EVERY)
    }

    /// [`Spectra::commit`] of `x1` then `x2` in one pass over the accumulators (the same
    /// operations in the same order: the same bits), which loads and stores them once for two
    /// segments and takes `x1` as the previous spectrum of `x2` without reading it back.
    /// Only when [`Spectra::pairable`].
    #[inline(always)]
    fn commit2(&mut self, x1: &[Complex32], x2: &[Complex32]) {
        let nb = blocks(self.bins);
        let st = &mut self.live;
        let [prev, .., older, oldest] = &mut st.ring;
        let blocks = x1
            .chunks_exact(G)
            .zip(x2.chunks_exact(G))
            .zip(oldest.chunks_exact_mut(2 * G).zip(older.chunks_exact_mut(2 * G)))
            .zip(prev.chunks_exact(2 * G))
            .zip(st.acc32.chunks_exact_mut(ROWS * G))
            .take(nb);
        for ((((x1, x2), (c1, c2)), p), a) in blocks {
            let (Ok(x1), Ok(x2), Ok(c1), Ok(c2), Ok(p), Ok(a)) = (
                <&[Complex32; G]>::try_from(x1),
                <&[Complex32; G]>::try_from(x2),
                <&mut [f32; 2 * G]>::try_from(c1),
                <&mut [f32; 2 * G]>::try_from(c2),
                <&[f32; 2 * G]>::try_from(p),
                <&mut [f32; ROWS * G]>::try_from(a),
            ) else {
                continue;
            };
            for l in 0..G {
                let (r1, i1) = (x1[l].re, x1[l].im);
                let (r2, i2) = (x2[l].re, x2[l].im);
                let (p_re, p_im) = (p[l], p[G + l]);
                let (o1_re, o1_im) = (c1[l], c1[G + l]);
                let (o2_re, o2_im) = (c2[l], c2[G + l]);
                c1[l] = r1;
                c1[G + l] = i1;
                c2[l] = r2;
                c2[G + l] = i2;
                a[l] = a[l] + (r1 * r1 + i1 * i1) + (r2 * r2 + i2 * i2);
                a[G + l] = a[G + l] + (r1 * p_re + i1 * p_im) + (r2 * r1 + i2 * i1);
                a[2 * G + l] = a[2 * G + l] + (i1 * p_re - r1 * p_im) + (i2 * r1 - r2 * i1);
                a[3 * G + l] = a[3 * G + l] + (r1 * o1_re + i1 * o1_im) + (r2 * o2_re + i2 * o2_im);
                a[4 * G + l] = a[4 * G + l] + (i1 * o1_re - r1 * o1_im) + (i2 * o2_re - r2 * o2_im);
            }
        }
        // x1 went to the oldest slot, x2 to the one before: they become the two newest.
        st.ring.rotate_right(2);
        st.frames += 2;
        if st.frames.is_multiple_of(FLUSH_EVERY) {
            for (a, p) in st.acc64.iter_mut().zip(st.acc32.iter_mut()) {
                *a += f64::from(std::mem::take(p));
            }
        }
    }

    /// The `f64` totals including the segments not flushed yet (computed, not consumed).
    fn totals(&self) -> SpectraTotals {
        let total = |row: usize, k: usize| {
            let i = (k / G * ROWS + row) * G + k % G;
            self.live.acc64[i] + f64::from(self.live.acc32[i])
        };
        let b = self.bins;
        SpectraTotals {
            power: (0..b).map(|k| total(0, k)).collect(),
            lag1: (0..b).map(|k| Complex64::new(total(1, k), total(2, k))).collect(),
            lag_long: (0..b).map(|k| Complex64::new(total(3, k), total(4, k))).collect(),
        }
    }
}

/// How one mode turns a segment (`head ++ tail`) into its spectrum (the first bins of `out`).
trait Segmenter<T> {
    fn transform(&mut self, head: &[T], tail: &[T], out: &mut [Complex32]) -> Result<()>;
}

struct ComplexSegmenter<'a> {
    window: &'a [f32],
    fft: &'a dyn Fft<f32>,
    windowed: &'a mut [Complex32],
    scratch: &'a mut [Complex32],
}

impl Segmenter<Complex32> for ComplexSegmenter<'_> {
    #[inline(always)]
    fn transform(&mut self, head: &[Complex32], tail: &[Complex32], out: &mut [Complex32]) -> Result<()> {
        window_complex(head, tail, self.window, self.windowed);
        let n = self.windowed.len();
        self.fft
            .process_outofplace_with_scratch(self.windowed, &mut out[..n], self.scratch);
        Ok(())
    }
}

struct RealSegmenter<'a> {
    window: &'a [f32],
    rfft: &'a dyn RealToComplex<f32>,
    real_buf: &'a mut [f32],
    scratch: &'a mut [Complex32],
}

impl Segmenter<f32> for RealSegmenter<'_> {
    #[inline(always)]
    fn transform(&mut self, head: &[f32], tail: &[f32], out: &mut [Complex32]) -> Result<()> {
        window_real(head, tail, self.window, self.real_buf);
        let bins = self.real_buf.len() / 2 + 1;
        self.rfft
            .process_with_scratch(self.real_buf, &mut out[..bins], self.scratch)
            // Only a length mismatch can fail, which the constructor rules out.
            .map_err(|e| Error::invalid("samples", format!("real FFT failed: {e}")))
    }
}

/// Adds `x` to the statistics and the spectra, all or nothing: a rejected push leaves both as
/// they were.
///
/// The samples are validated (and their statistics summed) before any segment uses them, in
/// one streaming pass over at most `PIECE` samples (512 KiB of IQ), which the hardware
/// prefetchers follow at full memory bandwidth; the segments then window them from the
/// second-level cache. So each sample comes from memory once. A push longer than `PIECE`
/// goes a piece at a time, after a checkpoint of the spectra that a defect in a later piece
/// rolls back to.
#[inline(always)]
fn push_all<T: StatSample>(
    stats: &mut SampleSums<T>,
    framer: &mut Framer<T>,
    spectra: &mut Spectra,
    seg: &mut impl Segmenter<T>,
    work: &mut [Complex32],
    x: &[T],
) -> Result<()> {
    let in_pieces = x.len() > PIECE;
    stats.checkpoint();
    if in_pieces {
        spectra.checkpoint();
    }
    let mut ahead = Validated {
        upto: 0,
        piece: if in_pieces { PIECE } else { x.len() },
    };
    let (w1, w2) = work.split_at_mut(work.len() / 2);
    let hop = framer.hop();
    let mut s = 0;
    let result = loop {
        let Some((head, tail, end)) = framer.segment(x, s) else {
            break ahead.cover(stats, x, x.len());
        };
        if let Err(e) = ahead.cover(stats, x, end) {
            break Err(e);
        }
        if let Err(e) = seg.transform(head, tail, w1) {
            break Err(e);
        }
        let next = if spectra.pairable() {
            framer.segment(x, s + hop)
        } else {
            None
        };
        if let Some((head, tail, end)) = next {
            if let Err(e) = ahead.cover(stats, x, end) {
                break Err(e);
            }
            if let Err(e) = seg.transform(head, tail, w2) {
                break Err(e);
            }
            spectra.commit2(w1, w2);
            s += 2 * hop;
        } else {
            spectra.commit(w1);
            s += hop;
        }
    };
    match result {
        Ok(()) => {
            framer.consume(x, s);
            Ok(())
        }
        Err(e) => {
            stats.rollback();
            if in_pieces {
                spectra.rollback();
            }
            Err(e)
        }
    }
}

/// How far a push has been validated.
struct Validated {
    /// `x[..upto]` is validated and summed.
    upto: usize,
    /// Samples validated at a time.
    piece: usize,
}

impl Validated {
    /// Validates (and sums) `x` up to at least `end`, a piece at a time.
    #[inline(always)]
    fn cover<T: StatSample>(&mut self, stats: &mut SampleSums<T>, x: &[T], end: usize) -> Result<()> {
        if end > self.upto {
            let to = (self.upto + self.piece).max(end).min(x.len());
            stats.add(&x[self.upto..to])?;
            self.upto = to;
        }
        Ok(())
    }
}

/// Pushes with the widest SIMD instructions the machine has (chosen once, in `Analyzer::new`).
struct Push<'a, T, S> {
    stats: &'a mut SampleSums<T>,
    framer: &'a mut Framer<T>,
    spectra: &'a mut Spectra,
    seg: S,
    work: &'a mut [Complex32],
    x: &'a [T],
}

impl<T: StatSample, S: Segmenter<T>> pulp::WithSimd for Push<'_, T, S> {
    type Output = Result<()>;
    #[inline(always)]
    fn with_simd<V: pulp::Simd>(self, _simd: V) -> Result<()> {
        let Push {
            stats,
            framer,
            spectra,
            mut seg,
            work,
            x,
        } = self;
        push_all(stats, framer, spectra, &mut seg, work, x)
    }
}

/// Streaming signal analyser: plan once, push chunks of any size, finish.
///
/// Computes the Welch PSD (scipy-exact), a robust noise floor, the strongest signal and its
/// power, SNR over the full bandwidth, a sub-bin frequency estimate, DC / LO leakage and
/// clipping, without keeping the capture: memory is `O(segment_len)` whatever the capture
/// length, and nothing is allocated per segment. Feed either IQ ([`Analyzer::push_complex`])
/// or real audio ([`Analyzer::push_real`]), not both, between resets.
///
/// # Definitions
/// - noise floor: median of the Welch bins outside the signal and DC regions, divided by the
///   median/mean ratio of a Welch bin for the actual number of averaged segments; noise power
///   = floor x bandwidth (`fs` for IQ, `fs/2` for audio);
/// - detection: the strongest bin must exceed the floor by the quantile that pure noise exceeds
///   with probability `false_alarm_probability` over all searched bins;
/// - signal power: sum of `(psd - floor) * df` over the contiguous bins around the peak that
///   stand above the noise (at least the window main lobe);
/// - SNR: signal power / noise power;
/// - frequency: coarse from the peak bins, refined from the phase of `sum X_m[k] conj(X_{m-L}[k])`
///   over segments, lags `L = 1` then `L = 8`, at the peak bins;
/// - DC: the mean of the samples, reported as `dc_power_dbfs` when it stands out of the noise.
///   The `dc_guard_bins` around 0 Hz never count in the floor, and are left out of the signal
///   search when the DC shows above the floor (so a tone that close to 0 Hz is then taken for
///   LO leakage).
///
/// # Limits
/// The floor assumes the noise is roughly white across the band: with a receiver whose
/// passband filter rolls off well inside `+-fs/2`, `noise_power_dbfs` is the in-band floor
/// times the full bandwidth.
pub struct Analyzer {
    cfg: AnalyzerConfig,
    n: usize,
    hop: usize,
    window: Box<[f32]>,
    /// Overlap correlations at 1, 2, ... hops (while they overlap).
    rho: Vec<f64>,
    fft: Arc<dyn Fft<f32>>,
    rfft: Arc<dyn RealToComplex<f32>>,
    /// The instruction set the pushes run with, detected once.
    arch: pulp::Arch,
    /// The windowed segment (IQ).
    windowed: Box<[Complex32]>,
    /// The two spectra being computed.
    work: Box<[Complex32]>,
    scratch: Box<[Complex32]>,
    real_buf: Box<[f32]>,
    framer_c: Framer<Complex32>,
    framer_r: Framer<f32>,
    mode: Option<Mode>,
    spectra: Spectra,
    stats_c: SampleSums<Complex32>,
    stats_r: SampleSums<f32>,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("cfg", &self.cfg)
            .field("mode", &self.mode)
            .field("segments", &self.spectra.frames())
            .field("arch", &self.arch)
            .field("samples", &self.samples())
            .finish()
    }
}

impl Analyzer {
    /// Plans the FFTs and allocates every buffer the analysis needs.
    pub fn new(cfg: AnalyzerConfig) -> Result<Self> {
        cfg.validate()?;
        let n = cfg.segment_len;
        let hop = n - n / 2;
        let window = hann_periodic(n).into_boxed_slice();
        let rho = (1..)
            .map(|j| j * hop)
            .take_while(|&s| s < n)
            .map(|s| overlap_correlation(&window, s))
            .collect();
        let fft = FftPlanner::<f32>::new().plan_fft_forward(n);
        let rfft = RealFftPlanner::<f32>::new().plan_fft_forward(n);
        let scratch_len = fft.get_outofplace_scratch_len().max(rfft.get_scratch_len());
        Ok(Analyzer {
            n,
            hop,
            window,
            rho,
            fft,
            rfft,
            arch: pulp::Arch::new(),
            windowed: vec![Complex32::default(); n].into_boxed_slice(),
            // Two spectra of whole blocks of `G` bins for `Spectra::commit2`; the FFTs write
            // the first n (or n/2+1) bins of each.
            work: vec![Complex32::default(); 2 * blocks(n) * G].into_boxed_slice(),
            scratch: vec![Complex32::default(); scratch_len].into_boxed_slice(),
            real_buf: vec![0.0; n].into_boxed_slice(),
            framer_c: Framer::new(n, hop),
            framer_r: Framer::new(n, hop),
            mode: None,
            spectra: Spectra::new(n),
            stats_c: SampleSums::new(cfg.clip_level),
            stats_r: SampleSums::new(cfg.clip_level),
            cfg,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AnalyzerConfig {
        &self.cfg
    }

    /// Samples pushed since construction or the last [`Analyzer::reset`].
    pub fn samples(&self) -> u64 {
        self.stats_c.samples() + self.stats_r.samples()
    }

    /// Welch segments completed so far.
    pub fn segments(&self) -> u64 {
        self.spectra.frames()
    }

    fn set_mode(&mut self, mode: Mode) -> Result<()> {
        match self.mode {
            None => {
                self.mode = Some(mode);
                let bins = match mode {
                    Mode::Complex => self.n,
                    Mode::Real => self.n / 2 + 1,
                };
                self.spectra.clear(bins);
                Ok(())
            }
            Some(m) if m == mode => Ok(()),
            Some(m) => Err(Error::invalid(
                "samples",
                format!("cannot mix {mode:?} samples into a {m:?} analysis; call reset() first"),
            )),
        }
    }

    /// Adds complex IQ samples. A non-finite sample rejects the whole chunk (nothing of it is
    /// used) with an [`Error::InvalidInput`] naming the sample's index in the capture.
    pub fn push_complex(&mut self, x: &[Complex32]) -> Result<()> {
        let fresh = self.mode.is_none();
        self.set_mode(Mode::Complex)?;
        let Analyzer {
            window,
            fft,
            arch,
            windowed,
            work,
            scratch,
            framer_c,
            spectra,
            stats_c,
            ..
        } = self;
        let seg = ComplexSegmenter {
            window,
            fft: &**fft,
            windowed,
            scratch,
        };
        let pushed = arch.dispatch(Push {
            stats: stats_c,
            framer: framer_c,
            spectra,
            seg,
            work,
            x,
        });
        if pushed.is_err() && fresh {
            self.mode = None;
        }
        pushed
    }

    /// Adds real (audio) samples. Same rules as [`Analyzer::push_complex`].
    pub fn push_real(&mut self, x: &[f32]) -> Result<()> {
        let fresh = self.mode.is_none();
        self.set_mode(Mode::Real)?;
        let Analyzer {
            window,
            rfft,
            arch,
            work,
            scratch,
            real_buf,
            framer_r,
            spectra,
            stats_r,
            ..
        } = self;
        let seg = RealSegmenter {
            window,
            rfft: &**rfft,
            real_buf,
            scratch,
        };
        let pushed = arch.dispatch(Push {
            stats: stats_r,
            framer: framer_r,
            spectra,
            seg,
            work,
            x,
        });
        if pushed.is_err() && fresh {
            self.mode = None;
        }
        pushed
    }

    /// Adds a [`SampleBlock`] (IQ or audio).
    pub fn push(&mut self, block: &SampleBlock) -> Result<()> {
        match block {
            SampleBlock::Complex(v) => self.push_complex(v),
            SampleBlock::Real(v) => self.push_real(v),
        }
    }

    /// Computes the metrics and PSD of everything pushed so far. The state is kept (more
    /// samples may be pushed and `finish` called again); call [`Analyzer::reset`] to start a
    /// new capture.
    ///
    /// Errors: no samples pushed, fewer samples than one segment, or a PSD that overflowed.
    pub fn finish(&self) -> Result<Analysis> {
        let stats = match self.mode {
            Some(Mode::Real) => self.stats_r.totals(),
            _ => self.stats_c.totals(),
        };
        let samples = stats.samples;
        let Some(mode) = self.mode.filter(|_| samples > 0) else {
            return Err(Error::invalid("samples", "empty capture: no samples were pushed"));
        };
        let k = self.spectra.frames();
        if k == 0 {
            return Err(Error::invalid(
                "samples",
                format!(
                    "capture of {samples} samples is shorter than one Welch segment ({})",
                    self.n
                ),
            ));
        }
        let fs = self.cfg.sample_rate_hz;
        let real = mode == Mode::Real;
        let bins = self.spectra.bins;
        let scale = density_scale(fs, &self.window, k);
        // One-sided doubling (scipy): every bin but DC and (even n) Nyquist.
        let doubled = |i: usize| real && i != 0 && !(self.n.is_multiple_of(2) && i == self.n / 2);
        let bin_scale: Vec<f64> = (0..bins)
            .map(|i| if doubled(i) { 2.0 * scale } else { scale })
            .collect();
        let totals = self.spectra.totals();
        let natural: Vec<f64> = totals.power.iter().zip(&bin_scale).map(|(&p, &s)| p * s).collect();
        if natural.iter().any(|d| !d.is_finite()) {
            return Err(Error::invalid(
                "samples",
                "the PSD overflowed: samples are too large for f32 processing",
            ));
        }
        let mean = stats.sum / samples as f64;
        let total_power = stats.power / samples as f64;
        let sum_w: f64 = self.window.iter().map(|&w| f64::from(w)).sum();
        let sum_w2: f64 = self.window.iter().map(|&w| f64::from(w) * f64::from(w)).sum();
        let inputs = SpectrumInputs {
            density: &natural,
            bin_scale: &bin_scale,
            lag1: &totals.lag1,
            lag_long: &totals.lag_long,
            n: self.n,
            hop: self.hop,
            real,
            sample_rate_hz: fs,
            segments: k,
            rho: &self.rho,
            samples,
            dc_mean: mean,
            dc_bin_gain: sum_w * sum_w / (fs * sum_w2),
            false_alarm_probability: self.cfg.false_alarm_probability,
            dc_guard_bins: self.cfg.dc_guard_bins.min(self.n / 8),
        };
        let est: Estimate = estimate(&inputs);
        let db = |p: Option<f64>| p.filter(|&p| p > 0.0 && p.is_finite()).map(|p| 10.0 * p.log10());
        let signal_power_dbfs = db(est.signal_power);
        let metrics = SignalMetrics {
            samples,
            sample_rate_hz: fs,
            snr_db: match (est.signal_power, est.noise_power) {
                (Some(s), Some(n)) if n > 0.0 => db(Some(s / n)),
                _ => None,
            },
            frequency_offset_hz: est.frequency_hz.map(|f| f - self.cfg.target_offset_hz),
            peak_frequency_hz: est.frequency_hz,
            signal_power_dbfs,
            noise_power_dbfs: db(est.noise_power),
            noise_floor_dbfs_per_hz: db(est.floor),
            total_power_dbfs: db(Some(total_power)),
            dc_power_dbfs: db(est.dc_power),
            clipped_fraction: stats.clipped as f64 / samples as f64,
            signal_power_dbm: match (signal_power_dbfs, self.cfg.calibration_db) {
                (Some(s), Some(c)) => Some(s + c),
                _ => None,
            },
        };
        let psd = if real {
            let df = fs / self.n as f64;
            Psd {
                frequencies_hz: (0..bins).map(|i| i as f64 * df).collect(),
                density: natural,
            }
        } else {
            two_sided_psd(&natural, fs)
        };
        Ok(Analysis {
            metrics,
            psd,
            segments: k,
            real_input: real,
        })
    }

    /// Forgets every pushed sample, keeping plans and buffers (no allocation).
    pub fn reset(&mut self) {
        self.framer_c.clear();
        self.framer_r.clear();
        self.mode = None;
        self.spectra.clear(self.n);
        self.stats_c.clear();
        self.stats_r.clear();
    }
}

/// One-shot analysis of complex IQ (plans and allocates; use [`Analyzer`] for repeated use).
pub fn analyze_complex(cfg: AnalyzerConfig, x: &[Complex32]) -> Result<Analysis> {
    let mut a = Analyzer::new(cfg)?;
    a.push_complex(x)?;
    a.finish()
}

/// One-shot analysis of real audio.
pub fn analyze_real(cfg: AnalyzerConfig, x: &[f32]) -> Result<Analysis> {
    let mut a = Analyzer::new(cfg)?;
    a.push_real(x)?;
    a.finish()
}

#[cfg(test)]
mod tests;
