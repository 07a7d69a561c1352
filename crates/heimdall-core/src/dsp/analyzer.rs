//! The streaming signal analyser: Welch PSD, noise floor, signal detection, SNR, sub-bin
//! frequency, DC and clipping, in one pass over the samples.

use std::sync::Arc;

use num_complex::{Complex32, Complex64};
use realfft::{RealFftPlanner, RealToComplex};
use rustfft::{Fft, FftPlanner};

use crate::capture::SampleBlock;
use crate::error::{Error, Result};
use crate::metrics::SignalMetrics;

use super::estimate::{Estimate, LONG_LAG, SpectrumInputs, estimate};
use super::welch::{
    DEFAULT_SEGMENT_LEN, Framer, Psd, density_scale, two_sided_psd, validate_rate, validate_segment_len,
    window_complex, window_real,
};
use super::window::{hann_periodic, overlap_correlation};

/// Segments kept for the cross-products (current + `LONG_LAG` past).
const RING: usize = LONG_LAG + 1;

/// Settings of an [`Analyzer`].
#[derive(Debug, Clone, PartialEq)]
pub struct AnalyzerConfig {
    /// Sample rate, Hz (the actual rate: e.g. 11999.03 for a KiwiSDR). Must be finite and > 0.
    pub sample_rate_hz: f64,
    /// Welch segment length (default 1024); 50 % overlap, periodic Hann window.
    pub segment_len: usize,
    /// Where the signal is expected in baseband, Hz (default 0). `frequency_offset_hz` is
    /// measured from here. The search itself always covers the full band.
    pub target_offset_hz: f64,
    /// dBFS to dBm offset when the receiver chain is calibrated (`dBm = dBFS + calibration_db`).
    pub calibration_db: Option<f64>,
    /// A sample is clipped when `|re|` or `|im|` (real input: `|x|`) reaches this (default 0.999).
    pub clip_level: f32,
    /// Probability that pure noise is reported as a signal (default 1e-3).
    pub false_alarm_probability: f64,
    /// Bins either side of 0 Hz treated as DC / LO leakage when a DC component is present
    /// (default 3; at most `segment_len / 8` is used).
    pub dc_guard_bins: usize,
}

impl Default for AnalyzerConfig {
    fn default() -> Self {
        AnalyzerConfig {
            sample_rate_hz: 0.0,
            segment_len: DEFAULT_SEGMENT_LEN,
            target_offset_hz: 0.0,
            calibration_db: None,
            clip_level: 0.999,
            false_alarm_probability: 1e-3,
            dc_guard_bins: 3,
        }
    }
}

impl AnalyzerConfig {
    /// The configuration the engine analyses a capture with: its actual sample rate, the
    /// target's offset from baseband 0 Hz, and the calibration when the source put
    /// `full_scale_dbm` (input power at 0 dBFS) in [`CaptureInfo::extra`](crate::CaptureInfo).
    /// Analysing an archived capture with it reproduces the archived metrics.
    pub fn for_capture(info: &crate::capture::CaptureInfo) -> Self {
        let cfg = AnalyzerConfig::new(info.sample_rate_hz).with_target_offset_hz(info.target_offset_hz());
        match info.extra.get("full_scale_dbm").and_then(|v| v.as_f64()) {
            Some(fs) if fs.is_finite() => cfg.with_calibration_db(fs),
            _ => cfg,
        }
    }

    /// Defaults for `sample_rate_hz`.
    pub fn new(sample_rate_hz: f64) -> Self {
        AnalyzerConfig {
            sample_rate_hz,
            ..Default::default()
        }
    }
    /// Sets the Welch segment length.
    pub fn with_segment_len(mut self, n: usize) -> Self {
        self.segment_len = n;
        self
    }
    /// Sets the expected offset of the signal in baseband, Hz.
    pub fn with_target_offset_hz(mut self, hz: f64) -> Self {
        self.target_offset_hz = hz;
        self
    }
    /// Sets the dBFS to dBm calibration offset.
    pub fn with_calibration_db(mut self, db: f64) -> Self {
        self.calibration_db = Some(db);
        self
    }
    /// Sets the clipping level.
    pub fn with_clip_level(mut self, level: f32) -> Self {
        self.clip_level = level;
        self
    }

    fn validate(&self) -> Result<()> {
        validate_rate(self.sample_rate_hz)?;
        validate_segment_len(self.segment_len)?;
        if !self.target_offset_hz.is_finite() {
            return Err(Error::invalid(
                "target_offset_hz",
                format!("{}: must be finite", self.target_offset_hz),
            ));
        }
        if let Some(c) = self.calibration_db
            && !c.is_finite()
        {
            return Err(Error::invalid("calibration_db", format!("{c}: must be finite")));
        }
        if !(self.clip_level.is_finite() && self.clip_level > 0.0) {
            return Err(Error::invalid(
                "clip_level",
                format!("{}: must be finite and > 0", self.clip_level),
            ));
        }
        let p = self.false_alarm_probability;
        if !(p > 0.0 && p < 0.5) {
            return Err(Error::invalid(
                "false_alarm_probability",
                format!("{p}: must be in (0, 0.5)"),
            ));
        }
        Ok(())
    }
}

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

/// Per-segment spectral accumulators.
struct Spectra {
    /// Bins per segment (n for IQ, n/2+1 for audio).
    bins: usize,
    /// Stride of a ring slot (n).
    stride: usize,
    ring: Box<[Complex32]>,
    frames: u64,
    power: Box<[f64]>,
    lag1: Box<[Complex64]>,
    lag_long: Box<[Complex64]>,
    power32: Box<[f32]>,
    lag1_32: Box<[Complex32]>,
    lag_long32: Box<[Complex32]>,
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
            stride: n,
            ring: vec![Complex32::default(); RING * n].into_boxed_slice(),
            frames: 0,
            power: vec![0.0; n].into_boxed_slice(),
            lag1: vec![Complex64::default(); n].into_boxed_slice(),
            lag_long: vec![Complex64::default(); n].into_boxed_slice(),
            power32: vec![0.0; n].into_boxed_slice(),
            lag1_32: vec![Complex32::default(); n].into_boxed_slice(),
            lag_long32: vec![Complex32::default(); n].into_boxed_slice(),
        }
    }

    fn clear(&mut self, bins: usize) {
        self.bins = bins;
        self.frames = 0;
        self.power.fill(0.0);
        self.lag1.fill(Complex64::default());
        self.lag_long.fill(Complex64::default());
        self.power32.fill(0.0);
        self.lag1_32.fill(Complex32::default());
        self.lag_long32.fill(Complex32::default());
    }

    fn slot(&self, frame: u64) -> usize {
        (frame % RING as u64) as usize * self.stride
    }

    /// Accumulates the spectrum just written into the current slot.
    fn commit(&mut self) {
        let m = self.frames;
        let b = self.bins;
        let (s_cur, s_prev, s_old) = (
            self.slot(m),
            self.slot(m.wrapping_sub(1)),
            self.slot(m.wrapping_sub(LONG_LAG as u64)),
        );
        let cur = &self.ring[s_cur..][..b];
        let power = &mut self.power32[..b];
        if m >= LONG_LAG as u64 {
            let prev = &self.ring[s_prev..][..b];
            let old = &self.ring[s_old..][..b];
            let (l1, ll) = (&mut self.lag1_32[..b], &mut self.lag_long32[..b]);
            for (((((c, p), o), pw), a1), al) in cur.iter().zip(prev).zip(old).zip(power).zip(l1).zip(ll) {
                *pw += c.re * c.re + c.im * c.im;
                a1.re += c.re * p.re + c.im * p.im;
                a1.im += c.im * p.re - c.re * p.im;
                al.re += c.re * o.re + c.im * o.im;
                al.im += c.im * o.re - c.re * o.im;
            }
        } else if m >= 1 {
            let prev = &self.ring[s_prev..][..b];
            for (((c, p), pw), a1) in cur.iter().zip(prev).zip(power).zip(&mut self.lag1_32[..b]) {
                *pw += c.re * c.re + c.im * c.im;
                a1.re += c.re * p.re + c.im * p.im;
                a1.im += c.im * p.re - c.re * p.im;
            }
        } else {
            for (c, pw) in cur.iter().zip(power) {
                *pw += c.re * c.re + c.im * c.im;
            }
        }
        self.frames += 1;
        if self.frames.is_multiple_of(FLUSH_EVERY) {
            self.flush();
        }
    }

    fn flush(&mut self) {
        for (a, p) in self.power.iter_mut().zip(self.power32.iter_mut()) {
            *a += f64::from(std::mem::take(p));
        }
        for (a, p) in self.lag1.iter_mut().zip(self.lag1_32.iter_mut()) {
            let p = std::mem::take(p);
            *a += Complex64::new(f64::from(p.re), f64::from(p.im));
        }
        for (a, p) in self.lag_long.iter_mut().zip(self.lag_long32.iter_mut()) {
            let p = std::mem::take(p);
            *a += Complex64::new(f64::from(p.re), f64::from(p.im));
        }
    }

    /// The `f64` totals including the segments not flushed yet (computed, not consumed).
    fn totals(&self) -> SpectraTotals {
        let b = self.bins;
        let widen = |c: &Complex32| Complex64::new(f64::from(c.re), f64::from(c.im));
        SpectraTotals {
            power: self.power[..b]
                .iter()
                .zip(&self.power32[..b])
                .map(|(a, p)| a + f64::from(*p))
                .collect(),
            lag1: self.lag1[..b]
                .iter()
                .zip(&self.lag1_32[..b])
                .map(|(a, p)| a + widen(p))
                .collect(),
            lag_long: self.lag_long[..b]
                .iter()
                .zip(&self.lag_long32[..b])
                .map(|(a, p)| a + widen(p))
                .collect(),
        }
    }
}

/// Per-sample statistics.
#[derive(Debug, Clone, Copy, Default)]
struct SampleStats {
    samples: u64,
    power: f64,
    sum: Complex64,
    clipped: u64,
}

impl SampleStats {
    fn add_block(&mut self, b: BlockSums, len: usize) {
        self.samples += len as u64;
        self.power += f64::from(b.power);
        self.sum += Complex64::new(f64::from(b.sum_re), f64::from(b.sum_im));
        self.clipped += u64::from(b.clipped);
    }
}

/// Per-sample statistics are summed in `f32` over blocks of this many samples aligned to the
/// sample index in the capture, then in `f64`: the result does not depend on chunking.
const STAT_BLOCK: usize = 4096;
const LANES: usize = 8;

#[derive(Debug, Clone, Copy, Default)]
struct BlockSums {
    power: f32,
    sum_re: f32,
    sum_im: f32,
    clipped: u32,
}

impl BlockSums {
    fn is_finite(&self) -> bool {
        self.power.is_finite() && self.sum_re.is_finite() && self.sum_im.is_finite()
    }
}

/// A sample type the analyser takes.
trait StatSample: Copy {
    /// Sums of one block, in a fixed lane order.
    fn block_sums(block: &[Self], clip: f32) -> BlockSums;
    /// Why the sample cannot be analysed, if it cannot.
    fn defect(self) -> Option<String>;
}

impl StatSample for Complex32 {
    #[inline]
    fn block_sums(block: &[Self], clip: f32) -> BlockSums {
        let f: &[f32] = bytemuck::cast_slice(block);
        let mut p = [0f32; 2 * LANES];
        let mut s = [0f32; 2 * LANES];
        let mut c = [0u32; LANES];
        let chunks = f.chunks_exact(2 * LANES);
        let rem = chunks.remainder();
        for ch in chunks {
            if let Ok(ch) = <&[f32; 2 * LANES]>::try_from(ch) {
                for l in 0..2 * LANES {
                    p[l] += ch[l] * ch[l];
                    s[l] += ch[l];
                }
                for j in 0..LANES {
                    c[j] += u32::from(ch[2 * j].abs().max(ch[2 * j + 1].abs()) >= clip);
                }
            }
        }
        for (j, pair) in rem.chunks_exact(2).enumerate() {
            let (re, im) = (pair[0], pair[1]);
            p[2 * j] += re * re;
            p[2 * j + 1] += im * im;
            s[2 * j] += re;
            s[2 * j + 1] += im;
            c[j] += u32::from(re.abs().max(im.abs()) >= clip);
        }
        BlockSums {
            power: p.iter().sum(),
            sum_re: s.iter().step_by(2).sum(),
            sum_im: s.iter().skip(1).step_by(2).sum(),
            clipped: c.iter().sum(),
        }
    }
    fn defect(self) -> Option<String> {
        if !(self.re.is_finite() && self.im.is_finite()) {
            Some(format!("is not finite ({self})"))
        } else if !(self.re * self.re + self.im * self.im).is_finite() {
            Some(format!("({self}) is too large: |x|^2 overflows f32"))
        } else {
            None
        }
    }
}

impl StatSample for f32 {
    #[inline]
    fn block_sums(block: &[Self], clip: f32) -> BlockSums {
        let mut p = [0f32; 2 * LANES];
        let mut s = [0f32; 2 * LANES];
        let mut c = [0u32; 2 * LANES];
        let chunks = block.chunks_exact(2 * LANES);
        let rem = chunks.remainder();
        for ch in chunks {
            if let Ok(ch) = <&[f32; 2 * LANES]>::try_from(ch) {
                for l in 0..2 * LANES {
                    p[l] += ch[l] * ch[l];
                    s[l] += ch[l];
                    c[l] += u32::from(ch[l].abs() >= clip);
                }
            }
        }
        for (l, &v) in rem.iter().enumerate() {
            p[l] += v * v;
            s[l] += v;
            c[l] += u32::from(v.abs() >= clip);
        }
        BlockSums {
            power: p.iter().sum(),
            sum_re: s.iter().sum(),
            sum_im: 0.0,
            clipped: c.iter().sum(),
        }
    }
    fn defect(self) -> Option<String> {
        if !self.is_finite() {
            Some(format!("is not finite ({self})"))
        } else if !(self * self).is_finite() {
            Some(format!("({self}) is too large: x^2 overflows f32"))
        } else {
            None
        }
    }
}

fn first_defect<T: StatSample>(x: &[T], first_index: u64) -> Error {
    for (k, v) in x.iter().enumerate() {
        if let Some(why) = v.defect() {
            return Error::invalid("samples", format!("sample {} {why}", first_index + k as u64));
        }
    }
    Error::invalid(
        "samples",
        format!(
            "samples {first_index}..{} are too large: their power overflows f32",
            first_index + x.len() as u64
        ),
    )
}

/// Block-aligned per-sample statistics with the unfinished block carried across pushes.
#[derive(Debug, Clone)]
struct StatAccumulator<T> {
    clip: f32,
    carry: Vec<T>,
    total: SampleStats,
}

impl<T: StatSample> StatAccumulator<T> {
    fn new(clip: f32) -> Self {
        StatAccumulator {
            clip,
            carry: Vec::with_capacity(STAT_BLOCK),
            total: SampleStats::default(),
        }
    }

    fn clear(&mut self) {
        self.carry.clear();
        self.total = SampleStats::default();
    }

    /// Adds `x`; on a non-finite or overflowing sample nothing is added and the error names
    /// it by its index in the capture (`first_index` is the index of `x[0]`).
    fn push(&mut self, x: &[T], first_index: u64) -> Result<()> {
        let clip = self.clip;
        let old = self.carry.len();
        let mut add = SampleStats::default();
        let mut rest = x;
        let mut carry_done = false;
        if old > 0 {
            let take = (STAT_BLOCK - old).min(x.len());
            let (prefix, r) = x.split_at(take);
            if !T::block_sums(prefix, clip).is_finite() {
                return Err(first_defect(prefix, first_index));
            }
            self.carry.extend_from_slice(prefix);
            if self.carry.len() < STAT_BLOCK {
                return Ok(());
            }
            let b = T::block_sums(&self.carry, clip);
            // Keep the old carry until the whole push is known to be valid.
            self.carry.truncate(old);
            if !b.is_finite() {
                return Err(first_defect(prefix, first_index));
            }
            add.add_block(b, STAT_BLOCK);
            carry_done = true;
            rest = r;
        }
        let at = (x.len() - rest.len()) as u64;
        let full = rest.len() / STAT_BLOCK * STAT_BLOCK;
        for (bi, block) in rest[..full].chunks_exact(STAT_BLOCK).enumerate() {
            let b = T::block_sums(block, clip);
            if !b.is_finite() {
                return Err(first_defect(block, first_index + at + (bi * STAT_BLOCK) as u64));
            }
            add.add_block(b, STAT_BLOCK);
        }
        let tail = &rest[full..];
        if !T::block_sums(tail, clip).is_finite() {
            return Err(first_defect(tail, first_index + at + full as u64));
        }
        if carry_done {
            self.carry.clear();
        }
        self.carry.extend_from_slice(tail);
        self.total.samples += add.samples;
        self.total.power += add.power;
        self.total.sum += add.sum;
        self.total.clipped += add.clipped;
        Ok(())
    }

    /// Totals including the unfinished block (computed, not consumed).
    fn totals(&self) -> SampleStats {
        let mut t = self.total;
        if !self.carry.is_empty() {
            t.add_block(T::block_sums(&self.carry, self.clip), self.carry.len());
        }
        t
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
    scratch: Box<[Complex32]>,
    real_buf: Box<[f32]>,
    framer_c: Framer<Complex32>,
    framer_r: Framer<f32>,
    mode: Option<Mode>,
    spectra: Spectra,
    stats_c: StatAccumulator<Complex32>,
    stats_r: StatAccumulator<f32>,
}

impl std::fmt::Debug for Analyzer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Analyzer")
            .field("cfg", &self.cfg)
            .field("mode", &self.mode)
            .field("segments", &self.spectra.frames)
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
        let scratch_len = fft.get_inplace_scratch_len().max(rfft.get_scratch_len());
        Ok(Analyzer {
            n,
            hop,
            window,
            rho,
            fft,
            rfft,
            scratch: vec![Complex32::default(); scratch_len].into_boxed_slice(),
            real_buf: vec![0.0; n].into_boxed_slice(),
            framer_c: Framer::new(n, hop),
            framer_r: Framer::new(n, hop),
            mode: None,
            spectra: Spectra::new(n),
            stats_c: StatAccumulator::new(cfg.clip_level),
            stats_r: StatAccumulator::new(cfg.clip_level),
            cfg,
        })
    }

    /// The configuration.
    pub fn config(&self) -> &AnalyzerConfig {
        &self.cfg
    }

    /// Samples pushed since construction or the last [`Analyzer::reset`].
    pub fn samples(&self) -> u64 {
        self.stats_c.total.samples
            + self.stats_c.carry.len() as u64
            + self.stats_r.total.samples
            + self.stats_r.carry.len() as u64
    }

    /// Welch segments completed so far.
    pub fn segments(&self) -> u64 {
        self.spectra.frames
    }

    fn check_mode(&self, mode: Mode) -> Result<()> {
        match self.mode {
            Some(m) if m != mode => Err(Error::invalid(
                "samples",
                format!("cannot mix {mode:?} samples into a {m:?} analysis; call reset() first"),
            )),
            _ => Ok(()),
        }
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
        self.check_mode(Mode::Complex)?;
        let first = self.samples();
        self.stats_c.push(x, first)?;
        self.set_mode(Mode::Complex)?;
        let Analyzer {
            window,
            fft,
            scratch,
            framer_c,
            spectra,
            ..
        } = self;
        framer_c.push(x, |head, tail| {
            let at = spectra.slot(spectra.frames);
            let buf = &mut spectra.ring[at..at + spectra.stride];
            window_complex(head, tail, window, buf);
            fft.process_with_scratch(buf, scratch);
            spectra.commit();
        });
        Ok(())
    }

    /// Adds real (audio) samples. Same rules as [`Analyzer::push_complex`].
    pub fn push_real(&mut self, x: &[f32]) -> Result<()> {
        self.check_mode(Mode::Real)?;
        let first = self.samples();
        self.stats_r.push(x, first)?;
        self.set_mode(Mode::Real)?;
        let Analyzer {
            window,
            rfft,
            scratch,
            real_buf,
            framer_r,
            spectra,
            ..
        } = self;
        let bins = spectra.bins;
        let mut failed = None;
        framer_r.push(x, |head, tail| {
            let at = spectra.slot(spectra.frames);
            window_real(head, tail, window, real_buf);
            let out = &mut spectra.ring[at..at + bins];
            match rfft.process_with_scratch(real_buf, out, scratch) {
                Ok(()) => spectra.commit(),
                Err(e) => failed = Some(e),
            }
        });
        match failed {
            // Only a length mismatch can fail, which the constructor rules out.
            Some(e) => Err(Error::invalid("samples", format!("real FFT failed: {e}"))),
            None => Ok(()),
        }
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
        let k = self.spectra.frames;
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
